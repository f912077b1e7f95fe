#!/usr/bin/env bash
# PPPoE access (issue 14): lwIP's PPPoE client (tests/interop/lwip, --pppoe) against rp-pppoe's
# pppoe-server as an independent AC (PAP, CHAP, several subscribers, VLAN 100, the AC ending
# sessions, the hostile discovery probe shown working), then part 1 of the access end to end
# (ISP A's varouter LNS + FreeRADIUS and ISP B's xl2tpd, dialled by lwIP's L2TP LAC from the
# appliance's namespace). Builds what it needs, installs the Debian packages it needs, fails
# (never skips) when something is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for t in pppoe-server:pppoe xl2tpd:xl2tpd freeradius:freeradius radclient:freeradius-utils tshark:tshark \
         tcpdump:tcpdump ethtool:ethtool ping:iputils-ping ss:iproute2 gcc:gcc curl:curl; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
/usr/bin/python3 -c 'import scapy' 2>/dev/null || missing+=(python3-scapy)
if [ ${#missing[@]} -gt 0 ]; then
  echo "37-access-interop: installing ${missing[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  systemctl stop freeradius xl2tpd >/dev/null 2>&1 || true
  systemctl disable freeradius xl2tpd >/dev/null 2>&1 || true
fi
for t in pppoe-server pppoe xl2tpd freeradius radclient tshark tcpdump ethtool ping ss gcc; do
  command -v "$t" >/dev/null || { echo "37-access-interop: FAIL - $t still missing" >&2; exit 1; }
done
bash tests/interop/lwip/build.sh
LWIP_LAC=$PWD/target/lwip/lwip_lac bash tests/interop/pppoe/lwip-rp-pppoe.sh
cargo build -q --release
# Part 1 of the access end to end: everything but the access appliance.
PREFLIGHT_ONLY=1 VAROUTER=$PWD/target/release/varouter LWIP_LAC=$PWD/target/lwip/lwip_lac \
  bash tests/interop/access/access-e2e.sh
# The whole access end to end, once the appliance's PPPoE AC and LAC relay are in (issue 14):
# VAROUTER=$PWD/target/release/varouter LWIP_LAC=$PWD/target/lwip/lwip_lac bash tests/interop/access/access-e2e.sh
