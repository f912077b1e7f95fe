#!/usr/bin/env bash
# Interop of the L2TP engine (UDP driver) with xl2tpd in network namespaces, both roles.
# Then the appliance itself (configs/lns.yaml, configs/lac.yaml) against xl2tpd.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v xl2tpd >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xl2tpd >/dev/null
fi
# xl2tpd's package starts a system daemon on 1701 in the root namespace; ours run in their
# own namespaces, so it does not interfere, but stop it to keep the machine quiet.
systemctl stop xl2tpd >/dev/null 2>&1 || true
cargo build -q -p controlplane --example l2tp_udp
bash tests/interop/l2tp/xl2tpd.sh
# The appliance itself: L2TP on the control core, the data plane on AF_PACKET ports.
cargo build -q --release
bash tests/interop/l2tp/varouter-xl2tpd.sh
