#!/usr/bin/env python3
"""A Mobile IPv4 mobile node in scapy (issue 17), for the mobile lab and its test suite.

It listens on its interface for an ICMP Agent Advertisement (RFC 5944 §2.1: type 9 with the
Mobility Agent Advertisement extension and the FA's challenge, RFC 3012 §2), takes the FA's
care-of address, MAC and challenge from it, and sends a Registration Request straight to
that MAC (no ARP: its home address is not of the FA's link): NAI (RFC 2794: type 131, length,
the NAI — no subtype byte), the MN-FA Challenge echoed (132), and the MN-AAA authentication
extension (RFC 3012 §3.1 and §8: type 36, subtype 1, SPI, MD5(challenge[0] || key ||
MD5(covered bytes) || challenge[-237:])). The Identification is the NTP time (RFC 5944
§5.7.1). It prints the Registration Reply as one JSON line and exits 0 when its code is the
one expected (--expect), 1 otherwise, 2 without an advertisement or a reply.

The bytes are those of the project's Rust builder (`controlplane::mip::mn`); the reference
vector of docs/protocols/mobile-ip.md is built the same way (checked with --selftest).
"""
import argparse
import hashlib
import hmac
import json
import socket
import struct
import sys
import time

NTP_UNIX = 2208988800


def ntp_now():
    t = time.time()
    secs = int(t) + NTP_UNIX
    frac = int((t - int(t)) * (1 << 32))
    return (secs << 32) | frac


def request(home, ha, coa, ident, lifetime, nai, challenge, spi, key, mn_ha=None, flags=0):
    a = socket.inet_aton
    rrq = struct.pack("!BBH4s4s4sQ", 1, flags, lifetime, a(home), a(ha), a(coa), ident)
    body = rrq + bytes([131, len(nai)]) + nai
    if mn_ha is not None:
        ha_spi, ha_key = mn_ha
        pre = body + struct.pack("!BBI", 32, 20, ha_spi)
        body = pre + hmac.new(ha_key, pre, hashlib.md5).digest()
    covered = body + bytes([132, len(challenge)]) + challenge + struct.pack("!BBHI", 36, 1, 20, spi)
    auth = hashlib.md5(challenge[:1] + key + hashlib.md5(covered).digest() + challenge[-237:]).digest()
    return covered + auth


def selftest():
    """Our builder against the reference vector's code of docs/protocols/mobile-ip.md."""
    a = socket.inet_aton
    rrq = struct.pack("!BBH4s4s4sQ", 1, 0x02, 1800, a("192.0.2.50"), a("192.0.2.1"),
                      a("203.0.113.7"), 0xE7A1B2C300000001)
    nai = b"mn@test.local"
    pre = rrq + bytes([131, len(nai)]) + nai + struct.pack("!BBI", 32, 20, 256)
    body = pre + hmac.new(b"k" * 16, pre, hashlib.md5).digest()
    ch = bytes(range(0xA0, 0xB0))
    covered = body + bytes([132, len(ch)]) + ch + struct.pack("!BBHI", 36, 1, 20, 257)
    auth = hashlib.md5(ch[:1] + b"mn-aaa key" + hashlib.md5(covered).digest() + ch[-237:]).digest()
    ours = request("192.0.2.50", "192.0.2.1", "203.0.113.7", 0xE7A1B2C300000001, 1800, nai, ch,
                   257, b"mn-aaa key", mn_ha=(256, b"k" * 16), flags=0x02)
    assert ours == covered + auth, "request bytes differ from the reference"
    print("selftest ok")


def parse_advert(icmp):
    """(care-of addresses, challenge, sequence) of an Agent Advertisement's ICMP bytes."""
    if len(icmp) < 8 or icmp[0] != 9:
        return None
    num, size = icmp[4], icmp[5]
    off = 8 + num * size * 4
    coas, challenge, seq = [], None, None
    while off + 2 <= len(icmp):
        t, ln = icmp[off], icmp[off + 1]
        v = icmp[off + 2:off + 2 + ln]
        if t == 16 and ln >= 6:
            seq = struct.unpack("!H", v[0:2])[0]
            coas = [socket.inet_ntoa(v[6 + 4 * i:10 + 4 * i]) for i in range((ln - 6) // 4)]
        elif t == 24:
            challenge = bytes(v)
        off += 2 + ln
    return coas, challenge, seq


def parse_reply(b):
    if len(b) < 20 or b[0] != 3:
        return None
    code, lifetime = b[1], struct.unpack("!H", b[2:4])[0]
    home, ha = socket.inet_ntoa(b[4:8]), socket.inet_ntoa(b[8:12])
    ident = struct.unpack("!Q", b[12:20])[0]
    off, challenge = 20, None
    while off + 2 <= len(b):
        t, ln = b[off], b[off + 1]
        if t == 132:
            challenge = bytes(b[off + 2:off + 2 + ln])
        off += 2 + ln
    return {"code": code, "lifetime": lifetime, "home_address": home, "home_agent": ha,
            "identification": ident, "challenge": challenge.hex() if challenge else None}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iface")
    p.add_argument("--home")
    p.add_argument("--ha")
    p.add_argument("--nai")
    p.add_argument("--key", help="MN-AAA key, hexadecimal")
    p.add_argument("--spi", type=int, default=256)
    p.add_argument("--lifetime", type=int, default=300)
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--selftest", action="store_true")
    a = p.parse_args()
    if a.selftest:
        selftest()
        return 0
    from scapy.all import AsyncSniffer, Ether, IP, UDP, Raw, conf, get_if_hwaddr, sendp, sniff
    conf.verb = 0
    my_mac = get_if_hwaddr(a.iface)
    adv = sniff(iface=a.iface, count=1, timeout=a.timeout,
                lfilter=lambda x: IP in x and x[IP].proto == 1 and bytes(x[IP].payload)[:1] == b"\x09")
    if not adv:
        print(json.dumps({"error": "no Agent Advertisement"}))
        return 2
    fa_mac = adv[0][Ether].src
    coas, challenge, seq = parse_advert(bytes(adv[0][IP].payload))
    if not coas or not challenge:
        print(json.dumps({"error": "advertisement without a care-of address or challenge"}))
        return 2
    coa = coas[0]
    req = request(a.home, a.ha, coa, ntp_now(), a.lifetime, a.nai.encode(), challenge, a.spi,
                  bytes.fromhex(a.key))
    sn = AsyncSniffer(iface=a.iface, count=1,
                      lfilter=lambda x: UDP in x and x[UDP].sport == 434 and x[IP].dst == a.home)
    sn.start()
    time.sleep(0.2)
    sendp(Ether(src=my_mac, dst=fa_mac) / IP(src=a.home, dst=coa, ttl=255) /
          UDP(sport=434, dport=434) / Raw(req), iface=a.iface)
    sn.join(timeout=a.timeout)
    if sn.running:
        sn.stop()
    got = sn.results
    if not got:
        print(json.dumps({"error": "no Registration Reply", "care_of": coa, "advert_seq": seq}))
        return 2
    r = parse_reply(bytes(got[0][UDP].payload))
    r.update({"care_of": coa, "fa_mac": fa_mac, "advert_seq": seq, "reply_to_mac": got[0][Ether].dst})
    print(json.dumps(r))
    return 0 if r and r["code"] == a.expect else 1


if __name__ == "__main__":
    sys.exit(main())
