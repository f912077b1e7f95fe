#!/usr/bin/env bash
# Short fuzzing pass over every cargo-fuzz target of the project (wire/fuzz,
# controlplane/fuzz, vr/fuzz, ...). Long campaigns are run by hand:
#   cd wire/fuzz && cargo +nightly fuzz run ipv4
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-6}
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
triple=$(rustc -vV | sed -n 's/^host: //p')
for dir in */fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  targets=$(cd "$dir" && cargo "${TC[@]}" fuzz list)
  # One build of all of a crate's targets (one cargo invocation links them in parallel),
  # then each binary runs directly: `cargo fuzz run` per target re-checked and re-linked
  # each one, ~40 % of this suite's time.
  if ! (cd "$dir" && cargo "${TC[@]}" fuzz build >"/tmp/fuzz-build-${dir%%/*}.log" 2>&1); then
    echo "$dir: fuzz build FAILED"
    tail -40 "/tmp/fuzz-build-${dir%%/*}.log"
    exit 1
  fi
  for t in $targets; do
    found=1
    printf '  %-40s' "$dir $t"
    bin="$dir/target/$triple/release/$t"
    [ -x "$bin" ] || { echo "missing $bin after cargo fuzz build" >&2; exit 1; }
    # What `cargo fuzz run` passes: the target's corpus and artifact directories.
    mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t"
    if ! "$bin" -artifact_prefix="$dir/artifacts/$t/" -max_total_time="$SECS" \
        "$dir/corpus/$t" >"/tmp/fuzz-$t.log" 2>&1; then
      echo "FAILED"
      tail -40 "/tmp/fuzz-$t.log"
      exit 1
    fi
    grep -oE "Done [0-9]+ runs" "/tmp/fuzz-$t.log" | tail -1 || echo "ok"
  done
done
[ "$found" -eq 1 ] || { echo "no fuzz targets found" >&2; exit 1; }
