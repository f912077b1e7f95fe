#!/usr/bin/python3
"""ESP interop: varouter's ESP against scapy's (scapy.layers.ipsec.SecurityAssociation)
and tshark's ESP decryption. Driven by scripts/test.d/38-esp-interop.sh:

    esp_interop.py make  DIR    scapy writes DIR/in-access0.pcap (plain packets from the
                                customers' CEs) and DIR/in-core0.pcap (ESP from the remote
                                gateway, sealed by scapy, with hostile packets among them)
    (varouter run DIR/profile.yaml; its summary saved as DIR/summary.txt)
    esp_interop.py check DIR    judges DIR/out-core0.pcap and DIR/out-access0.pcap with scapy,
                                tshark and the drop counters of the summary

The SAs (SPIs, ciphers, keys, addresses, marking) are read from DIR/profile.yaml, a copy of
tests/interop/esp/profile.yaml. Each check prints `ok` or `FAIL`; `check` exits 1 on any
FAIL. Needs Debian's python3 with python3-scapy, python3-cryptography, python3-yaml, and
tshark.

What is independent of varouter here: scapy builds and seals/opens every packet (its own
AES-GCM/ChaCha20-Poly1305 ESP on python3-cryptography), tshark decrypts and checks the ICVs
with its own ESP dissector (libgcrypt). The padding is checked once more by decrypting with
python3-cryptography directly, because scapy's decrypt does not look at the pad bytes.
"""
import os
import struct
import subprocess
import sys
import tempfile

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from scapy.all import (
    ICMP, IP, UDP, Dot1Q, Ether, ICMPv6EchoRequest, IPv6, Padding, Raw, raw, rdpcap, wrpcap,
)
from scapy.layers.ipsec import ESP, SecurityAssociation, _ESPPlain

ACCESS_MAC = "02:00:00:00:00:01"  # varouter's access0
CORE_MAC = "02:00:00:00:00:02"    # varouter's core0
P_MAC = "02:00:00:00:ff:02"       # the provider router on core0
# customer VR: (VLAN, CE MAC, outbound SA, inbound SA)
CUSTOMERS = {
    "A": (10, "02:00:00:00:0a:02", "a-out", "a-in"),
    "B": (20, "02:00:00:00:0b:02", "b-out", "b-in"),
    "C": (30, "02:00:00:00:0c:02", "c-out", "c-in"),
}
SCAPY_ALGO = {"aes-gcm-128": "AES-GCM", "aes-gcm-256": "AES-GCM", "chacha20-poly1305": "CHACHA20-POLY1305"}
# tshark 4.0's names in its esp_sa table (Wireshark 4.0 has no ChaCha20-Poly1305 for ESP).
TSHARK_ALGO = {"aes-gcm-128": "AES-GCM with 16 octet ICV [RFC4106]",
               "aes-gcm-256": "AES-GCM with 16 octet ICV [RFC4106]"}
UNKNOWN_SPI = 0x0D0D0D0D
MIN_FRAME = 60  # Ethernet minimum without FCS: short frames arrive padded, as from a NIC

FAILS = []


def report(ok, what, detail=""):
    print(("  ok    " if ok else "  FAIL  ") + what + ("" if ok or not detail else f": {detail}"))
    if not ok:
        FAILS.append(what)
    return ok


# --- the SAs, from the profile -----------------------------------------------------------

def load_sas(profile):
    with open(profile) as f:
        p = yaml.safe_load(f)
    sas = {}
    for vr in p["virtual_routers"]:
        esp = vr.get("esp")
        if not esp:
            continue
        marking = esp.get("marking") or {}
        for s in esp["sas"]:
            dscp = s.get("dscp")
            if dscp is None and s["direction"] == "out":
                dscp = marking.get(s["class"]) if s.get("class") else marking.get("dscp")
            udp = s.get("udp")
            sas[s["name"]] = {
                "vr": vr["name"],
                "spi": int(s["spi"]),
                "cipher": s["cipher"],
                "key": bytes.fromhex(s["key"]),
                "local": s["local"],
                "remote": s["remote"],
                "udp": None if udp is None else (udp.get("local_port", 4500), udp.get("remote_port", 4500)),
                "esn": bool(s.get("esn", False)),
                "dscp": dscp,
            }
    return sas


def outer_ip(src, dst):
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


def scapy_sa(sa, spi=None, key=None, peer=True):
    """scapy's SA for `sa`: sealing as the peer does (remote -> local) or opening ours."""
    src, dst = (sa["remote"], sa["local"]) if peer else (sa["local"], sa["remote"])
    nat_t = None
    if sa["udp"]:
        lp, rp = sa["udp"]
        nat_t = UDP(sport=rp, dport=lp) if peer else UDP(sport=lp, dport=rp)
    # scapy splits crypt_key itself into key and salt (its salt_size is 4 for both AEADs),
    # so it takes the same key || salt our profile holds.
    return SecurityAssociation(
        ESP, spi=spi or sa["spi"], crypt_algo=SCAPY_ALGO[sa["cipher"]],
        crypt_key=key or sa["key"], tunnel_header=outer_ip(src, dst), nat_t_header=nat_t,
        esn_en=sa["esn"])


def seal(sa, inner, seq, esn_hi=0, **kw):
    """The outer IP packet scapy makes of `inner` with sequence number (esn_hi, seq)."""
    e = scapy_sa(sa, **kw).encrypt(inner, seq_num=seq, esn=esn_hi)
    if UDP in e:
        # scapy 2.5 freezes the NAT-T UDP length at 8 (it builds the outer header before
        # adding ESP); give it the real length, and IPv6 a real checksum (RFC 8200 §8.1).
        del e[UDP].len
        if e.version == 6:
            del e[UDP].chksum
    return e.__class__(raw(e))


def frame(src, dst, l3, vlan=None):
    f = Ether(src=src, dst=dst)
    if vlan is not None:
        f = f / Dot1Q(vlan=vlan)
    f = f / l3
    short = MIN_FRAME - len(f)
    return f / Padding(b"\x00" * short) if short > 0 else f


def payload(tag, total, hdr):
    """Bytes that start with `tag`, making the IP packet `total` bytes long."""
    n = max(0, total - hdr)
    body = (tag.encode() + bytes(range(256)) * 8)[:n]
    return Raw(body) if body else None


def ip4(src, dst, total, tag, tos=0):
    p = IP(src=src, dst=dst, ttl=64, tos=tos, id=0x1234) / UDP(sport=40000, dport=5001)
    pl = payload(tag, total, 28)
    return IP(raw(p / pl if pl else p))


def icmp4(src, dst, tos=0, ident=1):
    return IP(raw(IP(src=src, dst=dst, ttl=64, tos=tos, id=0x4321) / ICMP(id=ident, seq=1)))


def ip6(src, dst, total, tag, tc=0):
    p = IPv6(src=src, dst=dst, hlim=64, tc=tc) / UDP(sport=40000, dport=5001)
    pl = payload(tag, total, 48)
    return IPv6(raw(p / pl if pl else p))


def icmp6(src, dst, tc=0):
    return IPv6(raw(IPv6(src=src, dst=dst, hlim=64, tc=tc) / ICMPv6EchoRequest(id=1, seq=1)))


def forwarded(inner, dscp=None):
    """`inner` as a router forwards it: TTL/hop limit - 1, DSCP set when marking (ECN kept)."""
    p = inner.copy()
    if p.version == 4:
        p.ttl -= 1
        if dscp is not None:
            p.tos = (dscp << 2) | (p.tos & 3)
        del p.chksum
        return raw(IP(raw(p)))
    p.hlim -= 1
    if dscp is not None:
        p.tc = (dscp << 2) | (p.tc & 3)
    return raw(p)


def tos_of(p):
    return p.tos if p.version == 4 else p.tc


# --- the cases ---------------------------------------------------------------------------

def outbound_cases():
    """Plain packets from the CEs, interleaved across the customers: (VR, inner packet)."""
    tos_b = [0x00, 10 << 2, (34 << 2) | 1, (46 << 2) | 2, (0 << 2) | 3, 18 << 2, 26 << 2, 0]
    cases = []
    for i in range(8):
        for vr in "ABC":
            # A and C are re-marked (the inner DSCP is overwritten, ECN kept); B is not.
            tos = tos_b[i] if vr == "B" else [0, 1, 2, 3, (8 << 2), 0, 1, 2][i]
            tag = f"out-{vr}-{i}-"
            src4, dst4, src6, dst6 = "10.1.0.5", f"10.2.0.{7 + i}", "fd00:1::5", f"fd00:2::{7 + i:x}"
            inner = [
                icmp4(src4, dst4, tos),             # 0-payload ICMP echo (28 B)
                ip4(src4, dst4, 64, tag, tos),
                ip4(src4, dst4, 512, tag, tos),
                ip4(src4, dst4, 1400, tag, tos),
                icmp6(src6, dst6, tos),             # 0-payload ICMPv6 echo (48 B)
                ip6(src6, dst6, 64, tag, tos),
                ip6(src6, dst6, 512, tag, tos),
                ip6(src6, dst6, 1400, tag, tos),
            ][i]
            cases.append((vr, inner))
    return cases


def inbound_cases(sas):
    """ESP from the remote gateway on core0: [(frame, expected delivery or None)] in order.
    An expected delivery is (VR, inner packet)."""
    A, B, C = sas["a-in"], sas["b-in"], sas["c-in"]
    r4, r6 = ("10.2.0.7", "10.1.0.5"), ("fd00:2::7", "fd00:1::5")
    out = []

    def add(sa, inner, seq, hi=0, deliver=True, mangle=None, **kw):
        o = seal(sa, inner, seq, hi, **kw)
        if mangle:
            o = mangle(o)
        out.append((frame(P_MAC, CORE_MAC, o), (sa["vr"], inner) if deliver else None))
        return out[-1][0]

    # A: ESP (protocol 50), AES-GCM-128, no ESN.
    add(A, icmp4(*r4, ident=0xa1), 1)
    a2 = add(A, ip4(*r4, 64, "in-A-2-"), 2)
    add(A, ip4(*r4, 512, "in-A-3-", tos=(12 << 2) | 1), 3)
    add(A, ip4(*r4, 1400, "in-A-4-"), 4)
    add(A, ip6(*r6, 64, "in-A-5-"), 5)
    add(A, icmp6(*r6), 6)
    out.append((a2.copy(), None))                                   # replayed: esp_replay

    def flip_icv(o):
        b = bytearray(raw(o))
        b[-1] ^= 0x01
        return o.__class__(bytes(b))
    add(A, ip4(*r4, 100, "in-A-7-bad-"), 7, deliver=False, mangle=flip_icv)  # esp_bad_icv
    add(A, ip4(*r4, 100, "in-A-7-"), 7)         # the genuine 7: a bad ICV does not burn it
    add(A, ip4(*r4, 100, "in-A-10-"), 10)
    add(A, ip4(*r4, 100, "in-A-9-"), 9)         # late, inside the window: delivered
    add(A, ip4(*r4, 100, "in-A-unknown-spi-"), 11, deliver=False, spi=UNKNOWN_SPI)  # esp_unknown_spi
    # Truncated: an ESP header and 8 bytes, less than IV + trailer + ICV (esp_truncated).
    trunc = IP(src=A["remote"], dst=A["local"], proto=50) / Raw(struct.pack("!II", A["spi"], 12) + b"\x00" * 8)
    out.append((frame(P_MAC, CORE_MAC, IP(raw(trunc))), None))
    # Isolation: 10.1.0.5 exists in A and in B; A's SA delivers into A only.
    add(A, ip4(*r4, 80, "iso-A-"), 12)
    # A dummy packet (RFC 4303 §2.6): next header 59, zero bytes of payload; it authenticates
    # but is discarded (esp_inner_unsupported).
    s = scapy_sa(A)
    dummy = s.crypt_algo.pad(_ESPPlain(spi=A["spi"], seq=13, iv=os.urandom(8), data=b"", nh=59))
    dummy = s.crypt_algo.encrypt(s, dummy, s.crypt_key, s.crypt_icv_size)
    out.append((frame(P_MAC, CORE_MAC, IP(raw(IP(src=A["remote"], dst=A["local"], proto=50) / dummy))), None))

    # B: UDP 4500, ChaCha20-Poly1305, ESN, window 4096.
    add(B, icmp4(*r4, ident=0xb1), 1)
    add(B, ip4(*r4, 512, "in-B-2-", tos=(46 << 2)), 2)
    add(B, ip6(*r6, 1400, "in-B-3-"), 3)
    # RFC 4304 Appendix A: while the top is below the window size, a sequence number above
    # the window's bottom (mod 2^32) belongs to the previous 2^32 (none here: refused), so
    # the far end of the space is reached in two steps, as a live sender would.
    add(B, ip4(*r4, 64, "in-B-80000000-"), 0x80000000)            # far ahead: slides
    add(B, ip4(*r4, 64, "in-B-fffffffe-"), 0xFFFFFFFE)
    b_wrap = add(B, ip4(*r4, 64, "in-B-1.1-"), 1, hi=1)         # wraps: ESN high bits 1
    add(B, ip4(*r4, 64, "in-B-1.2-"), 2, hi=1)
    add(B, ip4(*r4, 64, "in-B-0.ffffffff-"), 0xFFFFFFFF, hi=0)  # late across the wrap
    out.append((b_wrap.copy(), None))                               # replayed: esp_replay
    # Isolation: B's SA, the same inner destination as A's: VLAN 20 only.
    add(B, ip4(*r4, 80, "iso-B-"), 3, hi=1)
    # NAT keepalive (RFC 3948 §2.3): one 0xff byte on UDP 4500 (esp_nat_keepalive).
    ka = IP(src=B["remote"], dst=B["local"]) / UDP(sport=4500, dport=4500, chksum=0) / Raw(b"\xff")
    out.append((frame(P_MAC, CORE_MAC, IP(raw(ka))), None))
    # Truncated inside UDP 4500: a non-zero SPI and too little after it (esp_truncated).
    tu = IP(src=B["remote"], dst=B["local"]) / UDP(sport=4500, dport=4500, chksum=0) / Raw(
        struct.pack("!II", B["spi"], 4) + b"\x00" * 4)
    out.append((frame(P_MAC, CORE_MAC, IP(raw(tu))), None))

    # C: IPv6 outer, UDP 4500 with a checksum, AES-GCM-256.
    add(C, ip4(*r4, 64, "in-C-1-"), 1)
    add(C, ip6(*r6, 512, "in-C-2-", tc=(10 << 2)), 2)
    add(C, icmp6(*r6), 3)
    return out


EXPECTED_DROPS = {
    "esp_replay": 2,
    "esp_bad_icv": 1,
    "esp_unknown_spi": 1,
    "esp_truncated": 2,
    "esp_nat_keepalive": 1,
    "esp_inner_unsupported": 1,
}


def make(d):
    sas = load_sas(os.path.join(d, "profile.yaml"))
    ce = []
    for vr, inner in outbound_cases():
        vlan, mac, _, _ = CUSTOMERS[vr]
        ce.append(frame(mac, ACCESS_MAC, inner, vlan))
    wrpcap(os.path.join(d, "in-access0.pcap"), ce)
    core = [f for f, _ in inbound_cases(sas)]
    wrpcap(os.path.join(d, "in-core0.pcap"), core)
    print(f"  scapy wrote {len(ce)} plain packets (in-access0.pcap), {len(core)} ESP and hostile packets (in-core0.pcap)")


# --- judging -----------------------------------------------------------------------------

def aead_open(sa, esp_bytes, seq_hi):
    """Opens an ESP packet with python3-cryptography directly: the plaintext with its trailer."""
    spi, seq = struct.unpack("!II", esp_bytes[:8])
    iv, body = esp_bytes[8:16], esp_bytes[16:]
    key, salt = sa["key"][:-4], sa["key"][-4:]
    aad = struct.pack("!III", spi, seq_hi, seq) if sa["esn"] else struct.pack("!II", spi, seq)
    aead = ChaCha20Poly1305(key) if sa["cipher"] == "chacha20-poly1305" else AESGCM(key)
    return aead.decrypt(salt + iv, body, aad)


def check_encrypt(d, sas):
    print("1. encrypt direction: varouter seals, scapy opens (out-core0.pcap)")
    cases = outbound_cases()
    got = rdpcap(os.path.join(d, "out-core0.pcap"))
    report(len(got) == len(cases), f"{len(cases)} plain packets in, {len(got)} ESP packets out on core0",
           f"expected {len(cases)}")
    seqs = {"A": 0, "B": 0, "C": 0}
    ivs = set()
    v4_ids = {}
    bad = {}

    def fail(kind, i, msg):
        bad.setdefault(kind, []).append(f"#{i + 1} {msg}")

    for i, ((vr, inner), f) in enumerate(zip(cases, got)):
        sa = sas[CUSTOMERS[vr][2]]
        seqs[vr] += 1
        if f.src != CORE_MAC or f.dst != P_MAC or Dot1Q in f:
            fail("L2", i, f"{f.src} > {f.dst}")
        o = f[IPv6] if ":" in sa["remote"] else f[IP]
        if o.version == 4:
            if (o.src, o.dst) != (sa["local"], sa["remote"]):
                fail("outer addresses", i, f"{o.src} > {o.dst}")
            if o.chksum != IP(raw(_nochk(o))).chksum:
                fail("outer IPv4 checksum", i, hex(o.chksum))
            proto, ttl = o.proto, o.ttl
            # RFC 6864 §4.1: a non-atomic datagram (DF clear) needs an ID of its own.
            ids = v4_ids.setdefault(sa["spi"], set())
            if not o.flags.DF and o.id in ids:
                fail("outer IPv4 atomic (DF) or unique IDs (RFC 6864)", i, f"DF clear, ID {o.id} again")
            ids.add(o.id)
            if o.frag or o.flags.MF:
                fail("outer IPv4 not a fragment", i, f"offset {o.frag}")
        else:
            if (o.src, o.dst) != (sa["local"], sa["remote"]):
                fail("outer addresses", i, f"{o.src} > {o.dst}")
            proto, ttl = o.nh, o.hlim
        if ttl != 64:
            fail("outer TTL 64", i, str(ttl))
        want_tos = ((sa["dscp"] << 2) | (tos_of(inner) & 3)) if sa["dscp"] is not None else tos_of(inner)
        if tos_of(o) != want_tos:
            fail("outer DSCP/ECN", i, f"tos {tos_of(o):#04x}, expected {want_tos:#04x}")
        if sa["udp"]:
            u = o[UDP]
            if proto != 17 or (u.sport, u.dport) != sa["udp"]:
                fail("UDP 4500", i, f"proto {proto}")
            elif u.len != len(raw(u)):
                fail("UDP length", i, f"{u.len} for {len(raw(u))} bytes")
            elif o.version == 4 and u.chksum != 0:
                fail("UDP checksum 0 (IPv4, RFC 3948)", i, hex(u.chksum))
            elif o.version == 6:
                c = IPv6(raw(o))
                del c[UDP].chksum
                want = IPv6(raw(c))[UDP].chksum
                if u.chksum != want or u.chksum == 0:
                    fail("UDP checksum (IPv6)", i, f"{u.chksum:#06x}, expected {want:#06x}")
            esp_bytes = bytes(u.payload)
        else:
            if proto != 50:
                fail("protocol 50", i, str(proto))
            esp_bytes = bytes(o.payload)
        spi, seq = struct.unpack("!II", esp_bytes[:8])
        if spi != sa["spi"]:
            fail("SPI", i, hex(spi))
        if seq != seqs[vr]:
            fail("sequence numbers 1, 2, 3... per SA", i, f"{vr} got {seq}, expected {seqs[vr]}")
        iv = (sa["spi"], esp_bytes[8:16])
        if iv in ivs:
            fail("IV unique per SA", i, esp_bytes[8:16].hex())
        ivs.add(iv)
        # scapy opens it and must get the inner packet as forwarded (TTL - 1, marking).
        want = forwarded(inner, sa["dscp"])
        try:
            dec = scapy_sa(sa, peer=False).decrypt(o.__class__(raw(o)))
            if raw(dec) != want:
                fail("scapy: inner packet exact", i, f"{dec.summary()} ({len(raw(dec))} B, expected {len(want)} B)")
        except Exception as e:  # IPSecIntegrityError, or any error on a bad packet: a FAIL
            fail("scapy: ICV verifies", i, f"{type(e).__name__}: {e}")
            continue
        # The trailer, seen through python3-cryptography: pad bytes 1, 2, 3..., 4-byte aligned.
        try:
            plain = aead_open(sa, esp_bytes, 0)
            padlen, nh = plain[-2], plain[-1]
            pad = plain[-2 - padlen:-2]
            if pad != bytes(range(1, padlen + 1)) or (8 + len(plain)) % 4:
                fail("padding 1, 2, 3 (RFC 4303 §2.4)", i, f"pad {pad.hex()}")
            if nh != (4 if inner.version == 4 else 41):
                fail("next header", i, str(nh))
            if plain[:-2 - padlen] != want:
                fail("cryptography: inner packet exact", i, "")
        except InvalidTag:
            fail("cryptography: ICV verifies", i, "")
    n = min(len(got), len(cases))
    kinds = ["L2", "outer addresses", "outer IPv4 checksum", "outer IPv4 atomic (DF) or unique IDs (RFC 6864)",
             "outer IPv4 not a fragment", "outer TTL 64", "outer DSCP/ECN",
             "UDP 4500", "UDP length", "UDP checksum 0 (IPv4, RFC 3948)", "UDP checksum (IPv6)",
             "protocol 50", "SPI", "sequence numbers 1, 2, 3... per SA", "IV unique per SA",
             "scapy: ICV verifies", "scapy: inner packet exact", "padding 1, 2, 3 (RFC 4303 §2.4)",
             "next header", "cryptography: ICV verifies", "cryptography: inner packet exact"]
    for k in kinds:
        report(k not in bad, f"{k} ({n} packets)", "; ".join(bad.get(k, [])[:4]))
    for k in bad:
        if k not in kinds:
            report(False, k, "; ".join(bad[k][:4]))
    print(f"     per SA: A {seqs['A']} (DSCP {sas['a-out']['dscp']}), B {seqs['B']} (inner DSCP copied, UDP 4500), "
          f"C {seqs['C']} (IPv6 outer, UDP 4500, DSCP {sas['c-out']['dscp']})")
    return got


def _nochk(o):
    c = o.copy()
    del c.chksum
    return c


def tshark_fields(pcap, uat_lines, fields, extra=()):
    with tempfile.TemporaryDirectory(prefix="esp-tshark-") as cfg:
        with open(os.path.join(cfg, "esp_sa"), "w") as f:
            f.write("# This file is automatically generated, DO NOT MODIFY.\n")
            for line in uat_lines:
                f.write(line + "\n")
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=cfg, HOME=cfg, XDG_CONFIG_HOME=cfg)
        cmd = ["tshark", "-n", "-r", pcap,
               "-o", "esp.enable_encryption_decode:TRUE",
               "-o", "esp.enable_authentication_check:TRUE",
               "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
               *extra, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
        for fl in fields:
            cmd += ["-e", fl]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"tshark failed ({r.returncode}): {r.stderr.strip()[:300]}")
    return [line.split("|") for line in r.stdout.splitlines()]


def uat_line(sa, peer=False, key=None):
    src, dst = (sa["remote"], sa["local"]) if peer else (sa["local"], sa["remote"])
    fam = "IPv6" if ":" in src else "IPv4"
    return (f'"{fam}","{src}","{dst}","{sa["spi"]:#010x}","{TSHARK_ALGO[sa["cipher"]]}",'
            f'"0x{(key or sa["key"]).hex()}","NULL",""')


def check_tshark(d, sas):
    print("2. tshark decrypts our ESP (esp_sa table; AES-GCM SAs, Wireshark 4.0 has no ESP ChaCha20)")
    pcap = os.path.join(d, "out-core0.pcap")
    cases = outbound_cases()
    gcm = [n for n in ("a-out", "c-out") if sas[n]["cipher"] in TSHARK_ALGO]
    fields = ["frame.number", "frame.protocols", "esp.spi", "esp.sequence", "esp.icv_good", "esp.icv_bad",
              "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.dsfield.dscp", "ipv6.tclass.dscp",
              "ip.ttl", "ipv6.hlim", "_ws.malformed", "_ws.expert.severity"]
    try:
        rows = tshark_fields(pcap, [uat_line(sas[n]) for n in gcm], fields)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        report(False, "tshark runs", str(e))
        return
    report(len(rows) == len(cases), f"tshark reads {len(rows)} frames", f"expected {len(cases)}")
    decrypted = 0
    bad = {}
    for i, ((vr, inner), row) in enumerate(zip(cases, rows)):
        r = dict(zip(fields, row))
        sa = sas[CUSTOMERS[vr][2]]
        protos = r["frame.protocols"].split(":")
        if r["esp.spi"] != f"{sa['spi']:#010x}" and int(r["esp.spi"] or "0", 0) != sa["spi"]:
            bad.setdefault("ESP SPI", []).append(f"#{i + 1} {r['esp.spi']}")
        if sa["udp"] and "udpencap" not in protos:
            bad.setdefault("UDP encapsulation decoded", []).append(f"#{i + 1} {r['frame.protocols']}")
        if vr == "B" or sa["cipher"] not in TSHARK_ALGO:
            continue
        decrypted += 1
        if r["esp.icv_good"] not in ("1", "True") or r["esp.icv_bad"] in ("1", "True"):
            bad.setdefault("ICV good", []).append(f"#{i + 1} good={r['esp.icv_good']!r} bad={r['esp.icv_bad']!r}")
        inner_proto = {1: "icmp", 17: "udp"}.get(inner.proto) if inner.version == 4 else \
            ("icmpv6" if ICMPv6EchoRequest in inner else "udp")
        fam = "ip" if inner.version == 4 else "ipv6"
        tail = protos[protos.index("esp") + 1:] if "esp" in protos else []
        if tail[:2] != [fam, inner_proto]:
            bad.setdefault("inner packet decoded", []).append(f"#{i + 1} {r['frame.protocols']}")
            continue
        fwd = IP(forwarded(inner, sa["dscp"])) if inner.version == 4 else IPv6(forwarded(inner, sa["dscp"]))
        # The last address of the inner family is the inner header's.
        srcs = r[f"{fam}.src"].split(",")
        dsts = r[f"{fam}.dst"].split(",")
        if (srcs[-1], dsts[-1]) != (fwd.src, fwd.dst):
            bad.setdefault("inner addresses", []).append(f"#{i + 1} {srcs[-1]} > {dsts[-1]}")
        dscp = r["ip.dsfield.dscp" if fam == "ip" else "ipv6.tclass.dscp"].split(",")[-1]
        if dscp == "" or int(dscp, 0) != tos_of(fwd) >> 2:
            bad.setdefault("inner DSCP", []).append(f"#{i + 1} {dscp}, expected {tos_of(fwd) >> 2}")
        ttl = r["ip.ttl" if fam == "ip" else "ipv6.hlim"].split(",")[-1]
        if ttl != "63":
            bad.setdefault("inner TTL 63", []).append(f"#{i + 1} {ttl}")
    for k in ["ESP SPI", "UDP encapsulation decoded", "ICV good", "inner packet decoded", "inner addresses",
              "inner DSCP", "inner TTL 63"]:
        report(k not in bad, f"tshark: {k}", "; ".join(bad.get(k, [])[:4]))
    report(decrypted > 0, f"tshark decrypted {decrypted} packets of {', '.join(gcm)} and showed their inner packets")
    # Nothing malformed, no warnings or errors anywhere (IP/UDP checksums checked).
    problems = [r[0] for r in rows if r[fields.index("_ws.malformed")] or any(
        s and int(s, 0) >= 0x00600000 for s in r[fields.index("_ws.expert.severity")].split(","))]
    report(not problems, "tshark: no malformed packet, no expert warning or error", f"frames {problems[:8]}")
    # The judge can say no: with a wrong key every ICV is bad and nothing is decoded inside.
    wrong = [uat_line(sas[n], key=bytes([sas[n]["key"][0] ^ 1]) + sas[n]["key"][1:]) for n in gcm]
    rows = tshark_fields(pcap, wrong, ["esp.icv_good", "esp.icv_bad", "frame.protocols"])
    good = sum(1 for r in rows if r[0] in ("1", "True"))
    flagged = sum(1 for r in rows if r[1] in ("1", "True"))
    report(good == 0 and flagged == decrypted, f"tshark with wrong keys: {flagged} ICVs bad, {good} good",
           f"expected {decrypted} bad")
    # And tshark agrees with scapy's sealing of the inbound capture (AES-GCM SAs).
    gin = [n for n in ("a-in", "c-in") if sas[n]["cipher"] in TSHARK_ALGO]
    rows = tshark_fields(os.path.join(d, "in-core0.pcap"), [uat_line(sas[n], peer=True) for n in gin],
                         ["esp.spi", "esp.icv_good", "esp.icv_bad"])
    spis = {f"{sas[n]['spi']:#010x}" for n in gin}
    ins = [r for r in rows if r[0] in spis and (r[1] or r[2])]
    nbad = sum(1 for r in ins if r[2] in ("1", "True"))
    report(len(ins) > 0 and nbad == 1,
           f"tshark on scapy's inbound capture: {len(ins) - nbad} ICVs good, {nbad} bad (the flipped one)")


def parse_summary(path):
    drops, vrs, section = {}, {}, None
    with open(path) as f:
        for line in f:
            if not line.startswith(" "):
                section = line.strip().rstrip(":")
                continue
            w = line.split()
            if section == "drops" and len(w) == 2:
                drops[w[0]] = int(w[1])
            elif section == "virtual routers" and len(w) >= 13:
                vrs[w[0]] = {w[k]: int(w[k + 1]) for k in range(3, len(w) - 1, 2) if w[k + 1].isdigit()}
    return drops, vrs


def check_decrypt(d, sas):
    print("3. decrypt direction: scapy seals, varouter opens and delivers (out-access0.pcap)")
    cases = inbound_cases(sas)
    want = [e for _, e in cases if e is not None]
    got = rdpcap(os.path.join(d, "out-access0.pcap"))
    report(len(got) == len(want), f"{len(cases)} packets in on core0 ({len(cases) - len(want)} hostile), "
           f"{len(got)} delivered on access0", f"expected {len(want)}")
    bad = []
    for i, ((vr, inner), f) in enumerate(zip(want, got)):
        vlan, mac, _, _ = CUSTOMERS[vr]
        exp = forwarded(inner)
        if f.src != ACCESS_MAC or f.dst != mac or Dot1Q not in f or f[Dot1Q].vlan != vlan:
            bad.append(f"#{i + 1} {vr}: {f.src} > {f.dst} vlan {f[Dot1Q].vlan if Dot1Q in f else None}")
            continue
        l3 = bytes(f[Dot1Q].payload)
        body, pad = l3[:len(exp)], l3[len(exp):]
        if body != exp or f[Dot1Q].type != (0x0800 if inner.version == 4 else 0x86DD):
            bad.append(f"#{i + 1} {vr}: inner differs ({len(l3)} B, expected {len(exp)} B)")
        elif pad.strip(b"\x00") or (pad and 18 + len(exp) >= MIN_FRAME):
            bad.append(f"#{i + 1} {vr}: {len(pad)} bytes after the packet")
    report(not bad, "every inner packet delivered exactly (TTL - 1), in order, on its VLAN to its CE",
           "; ".join(bad[:5]))
    hostile = [("replay", "in-A-2-"), ("replay", "in-B-1.1-"), ("flipped ICV", "in-A-7-bad-"),
               ("unknown SPI", "in-A-unknown-spi-")]
    for what, tag in hostile:
        n = sum(1 for f in got if tag.encode() in raw(f))
        allowed = 1 if what == "replay" else 0  # the original is delivered once
        report(n == allowed, f"{what} ({tag.rstrip('-')}) not delivered", f"{n} copies delivered")
    drops, vrs = parse_summary(os.path.join(d, "summary.txt"))
    esp_drops = {k: v for k, v in drops.items() if k.startswith("esp_")}
    report(esp_drops == EXPECTED_DROPS, "drop counters " + ", ".join(f"{k} {v}" for k, v in sorted(esp_drops.items())),
           f"expected {EXPECTED_DROPS}")
    others = {k: v for k, v in drops.items() if not k.startswith("esp_")}
    report(not others, "no other drops", str(others))
    mis = {k: v.get("misdelivered", 0) for k, v in vrs.items()}
    report(vrs and not any(mis.values()), "misdelivered 0 in every VR", str(mis))

    print("4. isolation: an SA delivers into its own VR only")
    for vr, tag in (("B", "iso-B-"), ("A", "iso-A-")):
        vlan = CUSTOMERS[vr][0]
        where = [f[Dot1Q].vlan for f in got if Dot1Q in f and tag.encode() in raw(f)]
        report(where == [vlan], f"{vr}'s SA, inner destination 10.1.0.5 (in A and B): VLAN {vlan} only",
               f"seen on VLANs {where}")


def check(d):
    sas = load_sas(os.path.join(d, "profile.yaml"))
    check_encrypt(d, sas)
    check_tshark(d, sas)
    check_decrypt(d, sas)
    if FAILS:
        print(f"esp-interop: {len(FAILS)} FAIL")
        sys.exit(1)
    print("esp-interop: all ok")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    {"make": make, "check": check}[sys.argv[1]](sys.argv[2])
