#!/usr/bin/env bash
# Mobile IPv4 wire format against tshark as an independent decoder (issue 17): the messages
# our code builds (controlplane/examples/mip_messages.rs: the mobile node's Registration
# Request with NAI, Previous FA Notification (NVSE), MN-HA, MN-FA Challenge and MN-AAA; the
# request as the FA relays it with FA-HA; the HA engine's Reply; the FA's Agent
# Advertisement) are written to a pcap (UDP 434 / ICMP) and every field tshark shows is
# checked, with no malformed packet and no expert warning. The Binding Update/Acknowledge of
# the route optimisation draft are not checked: tshark has no dissector for them.
# Installs tshark when missing. No network, no ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=52-mip-tshark
if ! command -v tshark >/dev/null; then
  echo "$N: installing tshark"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq tshark >/dev/null
fi
command -v tshark >/dev/null || { echo "$N: FAIL - tshark missing" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$N: FAIL - python3 missing" >&2; exit 1; }
W=$(mktemp -d /tmp/mip-tshark.XXXXXX)
trap 'rm -rf "$W"' EXIT

cargo run -q -p controlplane --example mip_messages > "$W/messages.txt"
python3 - "$W/messages.txt" "$W/mip.pcap" <<'PY'
import struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def ip(src, dst, proto, payload):
    a = lambda x: bytes(int(p) for p in x.split("."))
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, a(src), a(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload
def udp(payload):
    return struct.pack("!HHHH", 434, 434, 8 + len(payload), 0) + payload
frames = []
for line in open(sys.argv[1]):
    label, hx = line.split()
    b = bytes.fromhex(hx)
    if label == "advertisement":
        pkt = ip("192.0.2.1", "224.0.0.1", 1, b)
    elif label in ("request",):
        pkt = ip("10.200.0.5", "192.0.2.1", 17, udp(b))
    elif label in ("relayed",):
        pkt = ip("192.0.2.1", "198.51.100.10", 17, udp(b))
    elif label == "reply":
        pkt = ip("198.51.100.10", "192.0.2.1", 17, udp(b))
    else:
        continue  # binding messages: no tshark dissector
    frames.append(b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + pkt)
def write(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(fr), len(fr)))
            f.write(fr)
write(sys.argv[2], frames)
# Negative control: the request cut inside its last extension (UDP and IP lengths kept
# consistent), which a decoder must flag.
req = [l.split()[1] for l in open(sys.argv[1]) if l.startswith("request ")][0]
cut = bytes.fromhex(req)[:-10]
write(sys.argv[2].replace(".pcap", "-bad.pcap"),
      [b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip("10.200.0.5", "192.0.2.1", 17, udp(cut))])
PY

fail=0
check() { if [ "$1" = "$2" ]; then echo "  ok    $3"; else echo "  FAIL  $3: got '$1', want '$2'"; fail=1; fi; }
f() { tshark -r "$W/mip.pcap" -Y "frame.number == $1" -T fields -E occurrence=a -E separator=, -e "$2" 2>/dev/null; }

# Frame 1: the advertisement; 2: the request; 3: relayed; 4: the reply.
check "$(f 1 icmp.type)" "9" "advertisement: ICMP router advertisement"
check "$(f 1 icmp.mip.coa)" "192.0.2.1" "advertisement: care-of address"
check "$(f 1 icmp.mip.f),$(f 1 icmp.mip.r)" "1,1" "advertisement: F and R flags"
check "$(f 1 icmp.mip.life)" "3600" "advertisement: registration lifetime"
check "$(f 1 icmp.mip.challenge | tr -d ':' | wc -c)" "33" "advertisement: 16-byte challenge"
check "$(f 1 icmp.checksum.status)" "1" "advertisement: ICMP checksum good"
check "$(f 2 mip.type)" "1" "request: Registration Request"
check "$(f 2 mip.life),$(f 2 mip.homeaddr),$(f 2 mip.haaddr),$(f 2 mip.coa)" \
  "600,10.200.0.5,198.51.100.10,192.0.2.1" "request: lifetime and addresses"
check "$(f 2 mip.t)" "1" "request: T flag"
check "$(f 2 mip.nai)" "alice@home.example" "request: NAI (RFC 2794)"
check "$(f 2 mip.ext.type)" "131,134,32,132,36" "request: extension order NAI, NVSE, MN-HA, challenge, MN-AAA"
check "$(f 2 mip.ext.nvse.vendor_id)" "32473" "request: Previous FA Notification in our NVSE"
check "$(f 2 mip.auth.spi)" "0x00001000,0x00001001" "request: MN-HA and MN-AAA SPIs"
check "$(f 2 mip.ext.auth.subtype)" "1" "request: generalized authentication subtype MN-AAA"
check "$(f 3 mip.ext.type)" "131,134,32,132,36,34" "relayed: FA-HA appended last"
check "$(f 3 mip.auth.spi)" "0x00001000,0x00001001,0x00002000" "relayed: FA-HA SPI"
check "$(f 4 mip.type),$(f 4 mip.code),$(f 4 mip.life)" "3,0,600" "reply: accepted, lifetime 600"
check "$(f 4 mip.auth.spi)" "0x00001000" "reply: MN-HA"
check "$(f 4 mip.ident)" "$(f 2 mip.ident)" "reply: Identification of the request"
tshark -r "$W/mip.pcap" -Y "_ws.malformed || _ws.expert.severity >= warning" > "$W/bad.txt" 2>"$W/bad.err" ||
  { echo "$N: FAIL - tshark filter"; cat "$W/bad.err"; exit 1; }
mal=$(wc -l < "$W/bad.txt")
neg=$(tshark -r "$W/mip-bad.pcap" -Y "_ws.malformed || _ws.expert.severity >= warning" 2>/dev/null | wc -l)
check "$neg" "1" "the filter flags a truncated request (negative control)"
check "$mal" "0" "no malformed packet, no expert warning"
[ "$fail" -eq 0 ] || { echo "$N: FAIL"; tshark -r "$W/mip.pcap" -V > /tmp/mip-tshark-decode.txt 2>&1; echo "decode in /tmp/mip-tshark-decode.txt"; exit 1; }
echo "$N: PASS"
