#!/usr/bin/env bash
# The DPDK backend: installs DPDK 22.11 when missing, then builds, lints and tests with
# `--features dpdk` (the golden pcap cases through net_pcap vdevs, start/stop/restart,
# SIGINT). Runs with --no-huge --no-pci: no hugepages, NICs or special privileges needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/need-dpdk.bash
need_dpdk 40-dpdk.sh
pkg-config --modversion libdpdk
echo "cargo build --features dpdk"
cargo build -q --features dpdk
echo "cargo clippy --features dpdk --all-targets -- -D warnings"
cargo clippy -q --workspace --features dpdk --all-targets -- -D warnings
echo "cargo test --features dpdk (DPDK tests and the binary's unit tests)"
cargo test -q --features dpdk --test golden_dpdk --test dpdk_profile
cargo test -q --features dpdk --lib
cargo test -q -p dataplane --features dpdk
# The benchmark command works end to end on DPDK (numbers are not judged here).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/null.yaml" <<Y
router_id: 192.0.2.1
dpdk: { eal_args: [--no-huge, --no-pci, --no-shconf, -m, "256", --file-prefix, vr40dpdk$$] , vdevs: [net_null0] }
ports: [{ name: p0, backend: dpdk, device: net_null0, mac: "02:00:00:00:00:01" }]
Y
out=$(cargo run -q --features dpdk -- bench pipeline --profile "$tmp/null.yaml" --seconds 1 --json)
echo "$out"
echo "$out" | grep -q '"mode":"dpdk"' || { echo "40-dpdk.sh: bench pipeline on DPDK failed" >&2; exit 1; }
rmdir "/var/run/dpdk/vr40dpdk$$" 2>/dev/null || true
