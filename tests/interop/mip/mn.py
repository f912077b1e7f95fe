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

With --solicit it does not wait for the FA's periodic advertisement: it sends an Agent
Solicitation (RFC 5944 §2.2: ICMP type 10, code 0, to 224.0.0.11 with TTL 1) and takes only
an advertisement sent to its own MAC, the FA's answer.

The bytes are those of the project's Rust builder (`controlplane::mip::mn`); the reference
vector of docs/protocols/mobile-ip.md is built the same way (checked with --selftest).
"""
import time as _t
T_START = _t.time()
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


VENDOR_ID = 32473  # the project's vendor id (controlplane::diameter::mip4::VENDOR_ID)


def nvse(vtype, data):
    """A Normal Vendor/Organization Specific Extension (RFC 3115): 134, length, reserved,
    vendor id, vendor type, value."""
    v = struct.pack("!HIH", 0, VENDOR_ID, vtype) + data
    return bytes([134, len(v)]) + v


def request(home, ha, coa, ident, lifetime, nai, challenge, spi, key, mn_ha=None, flags=0,
            prev_fa=None, service_update=False):
    a = socket.inet_aton
    rrq = struct.pack("!BBH4s4s4sQ", 1, flags, lifetime, a(home), a(ha), a(coa), ident)
    body = rrq + bytes([131, len(nai)]) + nai
    if prev_fa is not None:
        # Previous FA Notification (our NVSE type 1): the previous FA and the lifetime of
        # its forwarding tunnel; the new FA sends the BU to it (smooth handoff).
        fa, life = prev_fa
        body += nvse(1, a(fa) + struct.pack("!H", life))
    if service_update:
        # The Service-Update request (our NVSE type 3, empty, Fig. 30): the VPN changed on the
        # web page; the FA sets the AMR's Service-Update flag and the AAAH re-reads the database.
        body += nvse(3, b"")
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
    p.add_argument("--mn-ha", help="MN-HA association SPI:KEYHEX: add the MN-HA authentication "
                   "extension (RFC 5944 §3.5.2; the HA needs it when the FA registers directly)")
    p.add_argument("--prev-fa", help="previous FA: send the Previous FA Notification")
    p.add_argument("--prev-lifetime", type=int, default=5,
                   help="forwarding lifetime asked of the previous FA, seconds")
    p.add_argument("--service-update", action="store_true",
                   help="send the Service-Update request (after a change on the web page)")
    p.add_argument("--leave", help="interface to set down as the Request goes (the MN leaves "
                   "the old FA's link; not waited for)")
    p.add_argument("--solicit", action="store_true",
                   help="send an Agent Solicitation and take the FA's unicast answer")
    p.add_argument("--selftest", action="store_true")
    a = p.parse_args()
    if a.selftest:
        selftest()
        return 0
    from scapy.all import Ether, IP, UDP, Raw, conf
    conf.verb = 0
    t_imported = time.time()
    # Frames are read from a packet socket of our own bound to the interface (scapy's sniff()
    # missed the FA's advertisements on one link while another link of the namespace carried
    # the lab's stream), parsed and built with scapy.
    # Opened with protocol 0 (no packet hook yet) and the protocol given at bind: a socket
    # opened with a protocol is hooked to every interface, and binding it to one then waits
    # for an RCU grace period (synchronize_net) to unhook it, which took up to 35 s here
    # with twenty compilers runnable on two CPUs.
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    rx.bind((a.iface, 0x0800))
    # Our MAC from the bound socket, not an ioctl (SIOCGIFHWADDR waited tens of seconds for
    # the kernel's locks while other namespaces came and went on this machine).
    my_mac = ":".join("%02x" % x for x in rx.getsockname()[4][:6])
    t_bound = time.time()

    import fcntl

    def wait_for(quick, pred, timeout):
        """The first frame with `quick(bytes)` (a cheap test: frames of the lab's stream pass
        at hundreds per second) and `pred(parsed)`, and its kernel arrival time."""
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                return None, None
            rx.settimeout(left)
            try:
                b, addr = rx.recvfrom(65535)
            except socket.timeout:
                return None, None
            if addr[2] == socket.PACKET_OUTGOING or not quick(b):
                continue
            sec, usec = struct.unpack("@ll", fcntl.ioctl(rx, 0x8906, bytes(16)))  # SIOCGSTAMP
            x = Ether(b)
            if pred(x):
                return x, sec + usec / 1e6

    def l4(b):  # (IP protocol, first byte of the IP payload, its first 2 bytes), no IP options
        return (b[23], b[34], b[34:36]) if len(b) >= 36 and b[14] == 0x45 else (None, None, None)

    if a.solicit:
        # ICMP Router Solicitation: type 10, code 0, checksum of 0x0a00, 4 reserved bytes.
        sol = bytes(Ether(src=my_mac, dst="01:00:5e:00:00:0b") /
                    IP(src=a.home, dst="224.0.0.11", ttl=1, proto=1) /
                    Raw(bytes.fromhex("0a00f5ff00000000")))
        t_solicit = time.time()
        rx.send(sol)
        mine = bytes.fromhex(my_mac.replace(":", ""))
        quick = lambda b: l4(b)[:2] == (1, 9) and b[:6] == mine
    else:
        t_solicit = None
        quick = lambda b: l4(b)[:2] == (1, 9)
    adv, t_adv = wait_for(quick, lambda x: IP in x and x[IP].proto == 1 and bytes(x[IP].payload)[:1] == b"\x09",
                          a.timeout)
    if adv is None:
        print(json.dumps({"error": "no Agent Advertisement"}))
        return 2
    fa_mac = adv[Ether].src
    coas, challenge, seq = parse_advert(bytes(adv[IP].payload))
    if not coas or not challenge:
        print(json.dumps({"error": "advertisement without a care-of address or challenge"}))
        return 2
    coa = coas[0]
    prev = (a.prev_fa, a.prev_lifetime) if a.prev_fa else None
    req = request(a.home, a.ha, coa, ntp_now(), a.lifetime, a.nai.encode(), challenge, a.spi,
                  bytes.fromhex(a.key), prev_fa=prev, service_update=a.service_update,
                  mn_ha=(int(a.mn_ha.split(":")[0]), bytes.fromhex(a.mn_ha.split(":")[1])) if a.mn_ha else None)
    frame = bytes(Ether(src=my_mac, dst=fa_mac) / IP(src=a.home, dst=coa, ttl=255) /
                  UDP(sport=434, dport=434) / Raw(req))
    if a.leave:
        # Not waited for: setting a veth down that carries traffic can wait seconds for the
        # kernel's RTNL lock on a busy machine, and the Request must not wait with it.
        import subprocess
        subprocess.Popen(["ip", "link", "set", a.leave, "down"])
    t_sent = time.time()
    rx.send(frame)
    got, t_reply = wait_for(lambda b: l4(b)[0] == 17 and l4(b)[2] == b"\x01\xb2", lambda x: UDP in x and x[UDP].sport == 434 and x[IP].dst == a.home,
                            a.timeout)
    if got is None:
        print(json.dumps({"error": "no Registration Reply", "care_of": coa, "advert_seq": seq}))
        return 2
    r = parse_reply(bytes(got[UDP].payload))
    r.update({"care_of": coa, "fa_mac": fa_mac, "advert_seq": seq, "reply_to_mac": got[Ether].dst,
              "t_sent": t_sent, "t_reply": t_reply,
              "advert_age_ms": round((t_sent - t_adv) * 1000, 1),
              "startup_ms": round((t_imported - T_START) * 1000, 1),
              "bind_ms": round((t_bound - t_imported) * 1000, 1),
              "advert_wait_ms": round((t_adv - t_bound) * 1000, 1),
              "mn_mac": my_mac, "advert_to_mac": adv[Ether].dst, "advert_to_ip": adv[IP].dst,
              "solicit_to_advert_ms": round((t_adv - t_solicit) * 1000, 2) if t_solicit else None,
              "reply_ms": round((t_reply - t_sent) * 1000, 2)})
    print(json.dumps(r))
    return 0 if r and r["code"] == a.expect else 1


if __name__ == "__main__":
    sys.exit(main())
