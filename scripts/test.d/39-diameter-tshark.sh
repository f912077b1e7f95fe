#!/usr/bin/env bash
# Diameter codec against an independent decoder (issue 16: "tshark decodes every Diameter
# message we send with no malformed packets"): controlplane/examples/diameter_messages
# emits a CER and an RFC 4004 AMR with diameter::wire, text2pcap puts them in TCP segments
# to port 3868, and tshark must decode both with no malformed packet and no expert info,
# with the AVP values we put in. Installs tshark when missing; fails (never skips) without.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v tshark >/dev/null || ! command -v text2pcap >/dev/null; then
  echo "39-diameter-tshark: installing tshark"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null; }
fi
command -v tshark >/dev/null && command -v text2pcap >/dev/null ||
  { echo "39-diameter-tshark: FAIL - tshark/text2pcap missing" >&2; exit 1; }

W=$(mktemp -d -t diameter-tshark.XXXXXX)
trap 'rm -rf "$W"' EXIT
cargo run -q -p controlplane --example diameter_messages > "$W/d.txt"
text2pcap -q -T 40000,3868 "$W/d.txt" "$W/d.pcap"
tshark -r "$W/d.pcap" -V -Y diameter 2>/dev/null > "$W/decode.txt"
fail=0
n=$(grep -c '^Diameter Protocol' "$W/decode.txt" || true)
[ "$n" -eq 2 ] || { echo "39-diameter-tshark: FAIL - tshark found $n Diameter messages, expected 2" >&2; fail=1; }
# `_ws.expert` alone matches nothing in tshark 4.0: the severity field marks expert info.
bad=$(tshark -r "$W/d.pcap" -Y '_ws.malformed || _ws.expert.severity' 2>/dev/null | wc -l)
[ "$bad" -eq 0 ] || { echo "39-diameter-tshark: FAIL - $bad packet(s) with malformed/expert info" >&2; fail=1; }
while IFS= read -r want; do
  grep -qF -- "$want" "$W/decode.txt" || { echo "39-diameter-tshark: FAIL - missing: $want" >&2; fail=1; }
done <<'EXPECT'
Command Code: Capabilities-Exchange (257)
Hop-by-Hop Identifier: 0x11223344
End-to-End Identifier: 0x55667788
AVP: Origin-Host(264) l=26 f=-M- val=fa.visited.example
AVP: Origin-Realm(296) l=23 f=-M- val=visited.example
AVP: Host-IP-Address(257) l=14 f=-M- val=192.0.2.1
AVP: Host-IP-Address(257) l=26 f=-M- val=2001:db8::1
AVP: Vendor-Id(266) l=12 f=-M- val=0
AVP: Product-Name(269) l=16 f=--- val=varouter
AVP: Origin-State-Id(278) l=12 f=-M- val=7
AVP: Auth-Application-Id(258) l=12 f=-M- val=Mobile IPv4 Application (2)
Command Code: AA-Mobile-Node (260)
ApplicationId: Mobile IPv4 Application (2)
AVP: Session-Id(263) l=36 f=-M- val=fa.visited.example;1234;5678
AVP: User-Name(1) l=26 f=-M- val=alice@home.example
AVP: Destination-Realm(283) l=20 f=-M- val=home.example
AVP: MIP-Reg-Request(320) l=32 f=-M- val=01020078c6336407cb007101c00002010000000100000002
AVP: MIP-MN-AAA-Auth(322) l=56 f=-M-
AVP: MIP-MN-AAA-SPI(341) l=12 f=-M- val=256
AVP: MIP-Auth-Input-Data-Length(338) l=12 f=-M- val=24
AVP: MIP-Authenticator-Length(339) l=12 f=-M- val=16
AVP: MIP-Authenticator-Offset(340) l=12 f=-M- val=32
AVP: MIP-Mobile-Node-Address(333) l=14 f=-M- val=198.51.100.7
AVP: MIP-Home-Agent-Address(334) l=14 f=-M- val=203.0.113.1
AVP: MIP-Feature-Vector(337) l=12 f=-M- val=Unknown (48)
AVP: Auth-Session-State(277) l=12 f=-M- val=NO_STATE_MAINTAINED (1)
EXPECT
[ "$fail" -eq 0 ] || { sed -n '/^Diameter Protocol/,/^$/p' "$W/decode.txt" | grep -E 'AVP:|Command|Malformed' >&2; exit 1; }
echo "39-diameter-tshark: tshark decoded the CER and the AMR: 2 messages, 26 fields as sent, no malformed/expert info"
