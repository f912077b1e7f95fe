#!/usr/bin/env bash
# IP-in-IP (RFC 2003) encapsulation against tshark as an independent decoder (issue 17): the
# frames the pipeline sends into IP-in-IP tunnels (dataplane/examples/ipip_pcap.rs: IPv4 with
# DF and a TOS, IPv4 without DF, IPv6 inside as protocol 41, a DSCP-marking tunnel) are
# written to a pcap and every field tshark shows of the outer and inner headers is checked,
# with checksums verified, no malformed packet and no expert warning; a frame whose outer
# total length is cut is the negative control. Installs tshark when missing. No network,
# no ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=59-ipip-tshark
if ! command -v tshark >/dev/null; then
  echo "$N: installing tshark"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq tshark >/dev/null
fi
command -v tshark >/dev/null || { echo "$N: FAIL - tshark missing" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$N: FAIL - python3 missing" >&2; exit 1; }
W=$(mktemp -d /tmp/ipip-tshark.XXXXXX)
trap 'rm -rf "$W"' EXIT

cargo run -q -p dataplane --example ipip_pcap -- "$W/ipip.pcap"
# Negative control: frame 1 with the outer total length 10 bytes longer than the frame.
python3 - "$W/ipip.pcap" "$W/ipip-bad.pcap" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
hdr, rec = d[:24], d[24:]
ts, us, incl, orig = struct.unpack("<IIII", rec[:16])
f = bytearray(rec[16:16 + incl])
tot = struct.unpack("!H", f[16:18])[0] + 10
f[16:18] = struct.pack("!H", tot)
f[24:26] = b"\0\0"
s = sum(struct.unpack("!10H", bytes(f[14:34])))
while s >> 16: s = (s & 0xffff) + (s >> 16)
f[24:26] = struct.pack("!H", (~s) & 0xffff)
open(sys.argv[2], "wb").write(hdr + struct.pack("<IIII", ts, us, len(f), len(f)) + bytes(f))
PY

fail=0
check() { if [ "$1" = "$2" ]; then echo "  ok    $3"; else echo "  FAIL  $3: got '$1', want '$2'"; fail=1; fi; }
T=(tshark -o ip.check_checksum:TRUE)
# Booleans print as 1/0 (tshark 4.0) or True/False (later): 1/0 here.
f() { "${T[@]}" -r "$W/ipip.pcap" -Y "frame.number == $1" -T fields -E occurrence=a -E separator=, -e "$2" 2>/dev/null | sed 's/True/1/g; s/False/0/g'; }

# Frame 1: IPv4 in IPv4, DF and TOS 0x2a copied, TTL 64 outside, 8 inside (9 - 1).
check "$(f 1 ip.proto)" "4,17" "frame 1: outer protocol 4 (IP-in-IP), inner UDP"
check "$(f 1 ip.src)" "192.0.2.1,10.1.0.5" "frame 1: outer and inner sources"
check "$(f 1 ip.dst)" "198.51.100.9,10.2.0.7" "frame 1: outer and inner destinations"
check "$(f 1 ip.ttl)" "64,8" "frame 1: outer TTL 64, inner TTL decremented"
check "$(f 1 ip.dsfield)" "0x2a,0x2a" "frame 1: DSCP and ECN copied inner -> outer"
check "$(f 1 ip.flags.df)" "1,1" "frame 1: DF copied"
check "$(f 1 ip.checksum.status)" "1,1" "frame 1: both IPv4 checksums good"
check "$(f 1 ip.len)" "80,60" "frame 1: outer length = inner + 20"
# Frame 2: no DF inside, none outside.
check "$(f 2 ip.flags.df)" "0,0" "frame 2: no DF copied"
check "$(f 2 ip.checksum.status)" "1,1" "frame 2: both IPv4 checksums good"
# Frame 3: IPv6 in IPv4 (protocol 41), traffic class copied to the TOS.
check "$(f 3 ip.proto)" "41" "frame 3: outer protocol 41"
check "$(f 3 ipv6.src),$(f 3 ipv6.dst)" "fd00:1::5,fd00:2::7" "frame 3: inner IPv6 addresses"
check "$(f 3 ipv6.hlim)" "4" "frame 3: hop limit decremented"
check "$(f 3 ip.dsfield)" "0xb9" "frame 3: traffic class copied to the outer TOS"
check "$(f 3 ip.flags.df)" "0" "frame 3: no DF over IPv6 inside"
# Frame 4: the tunnel marks EF (46) on the inner packet, ECN kept, copied outside.
check "$(f 4 ip.dsfield.dscp)" "46,46" "frame 4: DSCP EF marked inside and copied"
check "$(f 4 ip.dsfield.ecn)" "1,1" "frame 4: ECN kept"
check "$(f 4 ip.checksum.status)" "1,1" "frame 4: both IPv4 checksums good after marking"
"${T[@]}" -r "$W/ipip.pcap" -Y "_ws.malformed || _ws.expert.severity >= warning" > "$W/bad.txt" 2>"$W/bad.err" ||
  { echo "$N: FAIL - tshark filter"; cat "$W/bad.err"; exit 1; }
mal=$(wc -l < "$W/bad.txt")
neg=$("${T[@]}" -r "$W/ipip-bad.pcap" -Y "_ws.malformed || _ws.expert.severity >= warning" 2>/dev/null | wc -l)
check "$neg" "1" "the filter flags a cut outer packet (negative control)"
check "$mal" "0" "no malformed packet, no expert warning"
[ "$fail" -eq 0 ] || { echo "$N: FAIL"; "${T[@]}" -r "$W/ipip.pcap" -V > /tmp/ipip-tshark-decode.txt 2>&1; echo "decode in /tmp/ipip-tshark-decode.txt"; exit 1; }
echo "$N: PASS"
