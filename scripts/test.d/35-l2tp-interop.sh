#!/usr/bin/env bash
# Interop of the L2TP engine (UDP driver) with xl2tpd in network namespaces, both roles.
# Then the appliance itself (configs/lns.yaml, configs/lac.yaml) against xl2tpd: its port on
# AF_PACKET, then on a DPDK net_af_packet vdev (scripts/build-release-dpdk's build, at
# target/dpdk/release/varouter). Fails (never skips) when xl2tpd or DPDK is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/need-dpdk.bash
if ! command -v xl2tpd >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xl2tpd >/dev/null
fi
need_dpdk 35-l2tp-interop
# xl2tpd's package starts a system daemon on 1701 in the root namespace; ours run in their
# own namespaces, so it does not interfere, but stop it to keep the machine quiet.
systemctl stop xl2tpd >/dev/null 2>&1 || true
cargo build -q -p controlplane --example l2tp_udp
bash tests/interop/l2tp/xl2tpd.sh
# The appliance itself: L2TP on the control core, the data plane on AF_PACKET ports…
cargo build -q --release
VAROUTER=$PWD/target/release/varouter bash tests/interop/l2tp/varouter-xl2tpd.sh af_packet
# …and on DPDK net_af_packet vdevs over the same veth.
scripts/build-release-dpdk >/dev/null
VAROUTER=$PWD/target/dpdk/release/varouter bash tests/interop/l2tp/varouter-xl2tpd.sh dpdk
