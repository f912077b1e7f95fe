#!/usr/bin/env bash
# Short fuzzing pass over every cargo-fuzz target of the project (wire/fuzz,
# controlplane/fuzz, vr/fuzz, ...). Long campaigns are run by hand:
#   cd wire/fuzz && cargo +nightly fuzz run ipv4
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-8}
if [ -n "${SKIP_FUZZ:-}" ]; then echo "fuzzing skipped because SKIP_FUZZ is set"; exit 0; fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked -q
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  TC=(+nightly)
else
  # cargo-fuzz needs nightly-only flags (-Zsanitizer); the stable compiler accepts them
  # with RUSTC_BOOTSTRAP when no nightly toolchain is installed.
  TC=()
  export RUSTC_BOOTSTRAP=1
fi
found=0
for dir in */fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  targets=$(cd "$dir" && cargo "${TC[@]}" fuzz list)
  for t in $targets; do
    found=1
    printf '  %-40s' "$dir $t"
    if ! (cd "$dir" && cargo "${TC[@]}" fuzz run "$t" -- -max_total_time="$SECS" >"/tmp/fuzz-$t.log" 2>&1); then
      echo "FAILED"
      tail -40 "/tmp/fuzz-$t.log"
      exit 1
    fi
    grep -oE "Done [0-9]+ runs" "/tmp/fuzz-$t.log" | tail -1 || echo "ok"
  done
done
[ "$found" -eq 1 ] || { echo "no fuzz targets found" >&2; exit 1; }
