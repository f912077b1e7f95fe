#!/usr/bin/env bash
# Short fuzzing pass over every cargo-fuzz target of the project (wire/fuzz,
# controlplane/fuzz, vr/fuzz, ...). Long campaigns are run by hand:
#   cd wire/fuzz && cargo +nightly fuzz run ipv4
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-4}
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
# One target directory for every fuzz crate: they share most of their dependencies (wire,
# libfuzzer-sys and its C++ runtime, arbitrary), which were built once per crate before.
TD=$(pwd)/target/fuzz
# Build and fuzzer logs: shown on failure, removed on exit.
LOGS=$(mktemp -d /tmp/varouter-fuzz-logs.XXXXXX)
trap 'rm -rf "$LOGS"' EXIT
JOBS=$(nproc)
bins=()
for dir in */fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  targets=$(cd "$dir" && cargo "${TC[@]}" fuzz list)
  # One build of all of a crate's targets (one cargo invocation links them in parallel),
  # then each binary runs directly: `cargo fuzz run` per target re-checked and re-linked
  # each one, ~40 % of this suite's time.
  if ! (cd "$dir" && cargo "${TC[@]}" fuzz build --target-dir "$TD" >"$LOGS/build-${dir%%/*}.log" 2>&1); then
    echo "$dir: fuzz build FAILED"
    tail -40 "$LOGS/build-${dir%%/*}.log"
    exit 1
  fi
  grep -h "Finished" "$LOGS/build-${dir%%/*}.log" | sed "s#^ *#  $dir build: #"
  for t in $targets; do
    found=1
    bin="$TD/$triple/release/$t"
    [ -x "$bin" ] || { echo "missing $bin after cargo fuzz build" >&2; exit 1; }
    # What `cargo fuzz run` passes: the target's corpus and artifact directories.
    mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t"
    bins+=("$dir $t")
  done
done
[ "$found" -eq 1 ] || { echo "no fuzz targets found" >&2; exit 1; }
# The targets run $JOBS at a time (each fuzzer is one process on one core), each for $SECS s.
fuzz_one() { # dir target
  local dir=$1 t=$2
  "$TD/$triple/release/$t" -artifact_prefix="$dir/artifacts/$t/" -max_total_time="$SECS" \
    "$dir/corpus/$t" >"$LOGS/$t.log" 2>&1
}
failed=()
running=()
report() { # "dir target" pid
  local dt=$1 pid=$2 t=${1#* }
  if wait "$pid"; then
    printf '  %-40s%s\n' "$dt" "$(grep -oE "Done [0-9]+ runs" "$LOGS/$t.log" | tail -1 || echo ok)"
  else
    printf '  %-40sFAILED\n' "$dt"
    tail -40 "$LOGS/$t.log"
    failed+=("$dt")
  fi
}
declare -A pid_of
for dt in "${bins[@]}"; do
  if ((${#running[@]} >= JOBS)); then
    report "${running[0]}" "${pid_of[${running[0]}]}"
    running=("${running[@]:1}")
  fi
  fuzz_one $dt &
  pid_of[$dt]=$!
  running+=("$dt")
done
for dt in "${running[@]}"; do report "$dt" "${pid_of[$dt]}"; done
((${#failed[@]} == 0)) || { echo "fuzz targets failed: ${failed[*]}" >&2; exit 1; }
