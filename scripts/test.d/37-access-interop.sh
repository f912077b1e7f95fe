#!/usr/bin/env bash
# PPPoE access (issue 14): lwIP's PPPoE client (tests/interop/lwip, --pppoe) against rp-pppoe's
# pppoe-server as an independent AC (PAP, CHAP, several subscribers, VLAN 100, the AC ending
# sessions, the hostile discovery probe shown working), then the access end to end
# (tests/interop/access/access-e2e.sh: the appliance relaying lwIP PPPoE subscribers by
# realm to our LNS + FreeRADIUS and to xl2tpd, tunnel switching, hostile discovery, tshark),
# then RADIUS tunnel attributes (RFC 2868) against FreeRADIUS. Builds what it needs, installs the Debian packages it needs, fails
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
# The access end to end: varouter as PPPoE AC + LAC relaying by realm, tunnel switching,
# ISP A's varouter LNS + FreeRADIUS, ISP B's xl2tpd, the hostile discovery probe, tshark.
VAROUTER=$PWD/target/release/varouter LWIP_LAC=$PWD/target/lwip/lwip_lac \
  bash tests/interop/access/access-e2e.sh
# RFC 2868 tunnel attributes from FreeRADIUS, read by our RADIUS client (the LAC's choice of
# tunnel), checked against radclient's decryption and tshark's decode.
bash tests/interop/radius/tunnel-attrs.sh
