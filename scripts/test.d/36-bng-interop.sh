#!/usr/bin/env bash
# End to end BNG (issue 10): varouter's LNS (configs/bng.yaml) terminating PPP subscribers
# of lwIP's PPPoL2TP LAC, authenticated and accounted by FreeRADIUS, disconnected and
# changed by radclient (RFC 5176), with a host behind the VR; tshark checks every packet.
# Builds what it needs; installs the Debian packages it needs; fails (never skips) when
# something is missing. Run with the ports on AF_PACKET, then on DPDK net_af_packet vdevs;
# then the RADIUS client and DAE server alone against FreeRADIUS, radclient and tshark.
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for t in freeradius:freeradius radclient:freeradius-utils tshark:tshark tcpdump:tcpdump \
         ethtool:ethtool ping:iputils-ping ss:iproute2 gcc:gcc curl:curl; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "36-bng-interop: installing ${missing[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  # The freeradius package may start the system daemon: ours runs in its own namespace.
  systemctl stop freeradius >/dev/null 2>&1 || true
  systemctl disable freeradius >/dev/null 2>&1 || true
fi
for t in freeradius radclient tshark tcpdump ethtool ping ss gcc; do
  command -v "$t" >/dev/null || { echo "36-bng-interop: FAIL - $t still missing" >&2; exit 1; }
done
cargo build -q --release
bash tests/interop/lwip/build.sh
VAROUTER=$PWD/target/release/varouter LWIP_LAC=$PWD/target/lwip/lwip_lac \
  bash tests/interop/bng/bng-e2e.sh
# The same router with its ports on DPDK net_af_packet vdevs (mbufs, the DPDK backend).
. scripts/test.d/need-dpdk.bash
need_dpdk 36-bng-interop
scripts/build-release-dpdk >/dev/null
BACKEND=dpdk VAROUTER=$PWD/target/dpdk/release/varouter LWIP_LAC=$PWD/target/lwip/lwip_lac \
  bash tests/interop/bng/bng-e2e.sh
# The RADIUS client and DAE server on their own against FreeRADIUS, radclient and tshark
# (MS-CHAPv2 authenticator response, Gigawords, every authenticator checked).
bash tests/interop/radius/client-interop.sh
