#!/usr/bin/env python3
"""The ESP keys of the mobile lab's per-session SAs, read off the Diameter the lab captured,
as tshark's ESP SA table wants them — so tshark can decrypt the lab's ESP with keys it did
not get from varouter itself.

  esp_keys.py --pcap diameter.pcapng --port 18290 --port 18291 ... [--sa SPI:KEYHEX ...]

The AAAH generates fresh SPIs and keys per session for a profile with its own SA (seed 003,
S108) and sends them in the HAR / AMA (vendor 32473 VPN-Profile: VPN-Up-SPI 1014,
VPN-Down-SPI 1015, VPN-Up-Enc-Key 1016, VPN-Down-Enc-Key 1017). The TCP payloads of the
given ports are reassembled per stream (tshark gives the segments), split into Diameter
messages and walked for those AVPs. A 16- or 32-byte key is AES-GCM (RFC 4106); both ends
take the 4-byte salt as SHA-256("varouter mip esp salt" || key)[0..4] (docs/mobile-vpn.md),
so the SA's keying material is key || salt. `--sa SPI:KEYHEX` adds provisioned SAs (the
SLA's default SA, key || salt already).

`--bu-pcap links.pcapng` adds the SAs of the handoffs' forwarding tunnels: the new FA gives
each handoff fresh SPIs and keys and sends them to the old FA in its Binding Update (UDP 434,
type 18 of the route optimisation draft), in the VPN profile CVSE (RFC 3115, vendor 32473,
type 2: ... up SPI at 32, down SPI at 36, then length-prefixed keys up-enc, down-enc, ...).

Prints one tshark option per SA on its own line:
  uat:esp_sa:"IPv4","*","*","0x00003100","AES-GCM with 16 octet ICV [RFC4106]","0x…","NULL",""
and exits non-zero when the capture holds no per-session key at all.
"""
import argparse
import hashlib
import subprocess
import sys
from collections import defaultdict

VENDOR = 32473
PROFILE, UP_SPI, DOWN_SPI, UP_KEY, DOWN_KEY = 1003, 1014, 1015, 1016, 1017
GROUPED = {1001, PROFILE}  # VPN-Info-Cache, VPN-Profile: AVPs inside AVPs
SALT_LABEL = b"varouter mip esp salt"


def avps(data):
    """(code, vendor, value) of each AVP in `data`; stops at a cut AVP."""
    i = 0
    while i + 8 <= len(data):
        code = int.from_bytes(data[i : i + 4], "big")
        flags = data[i + 4]
        length = int.from_bytes(data[i + 5 : i + 8], "big")
        hdr = 12 if flags & 0x80 else 8
        if length < hdr or i + length > len(data):
            return
        vendor = int.from_bytes(data[i + 8 : i + 12], "big") if hdr == 12 else 0
        yield code, vendor, data[i + hdr : i + length]
        i += (length + 3) & ~3


def profiles(avp_bytes):
    """Every VPN-Profile's vendor AVPs as a dict, however deep it is nested."""
    for code, vendor, value in avps(avp_bytes):
        if vendor != VENDOR:
            continue
        if code == PROFILE:
            yield {c: v for c, ven, v in avps(value) if ven == VENDOR}
        elif code in GROUPED:
            yield from profiles(value)


def messages(stream):
    """Diameter messages of one direction of a TCP stream."""
    i = 0
    while i + 20 <= len(stream):
        length = int.from_bytes(stream[i + 1 : i + 4], "big")
        if stream[i] != 1 or length < 20 or i + length > len(stream):
            return
        yield stream[i + 20 : i + length]
        i += length


def bu_profiles(pcap):
    """The VPN profile CVSEs of the Binding Updates in `pcap`, as (up SPI, down SPI, keys)."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-Y", "udp.port == 434 && udp.payload[0:1] == 12",
         "-T", "fields", "-e", "udp.payload"],
        check=True, capture_output=True, text=True).stdout
    for line in out.split():
        b = bytes.fromhex(line.replace(":", ""))
        i = 20  # type, flags, lifetime, home address, care-of address, identification
        while i + 2 <= len(b):
            t = b[i]
            if t in (36, 38):  # long form: type, reserved, length (2)
                n = int.from_bytes(b[i + 2 : i + 4], "big")
                body, i = b[i + 4 : i + 4 + n], i + 4 + n
            else:
                n = b[i + 1]
                body, i = b[i + 2 : i + 2 + n], i + 2 + n
            if t != 38 or len(body) < 6 + 40:
                continue
            if int.from_bytes(body[0:4], "big") != VENDOR or int.from_bytes(body[4:6], "big") != 2:
                continue
            d = body[6:]
            keys, at = [], 40
            for _ in range(4):
                if at >= len(d):
                    break
                k = d[at]
                keys.append(d[at + 1 : at + 1 + k])
                at += 1 + k
            if len(keys) >= 2:
                yield int.from_bytes(d[32:36], "big"), int.from_bytes(d[36:40], "big"), keys


def cipher(key):
    """tshark's name of the SA's algorithm; it tells AES-128 from AES-256 by the key."""
    if len(key) in (16, 32):
        return "AES-GCM with 16 octet ICV [RFC4106]"
    raise ValueError(f"a {len(key)}-byte key is not AES-GCM-128/256")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pcap", required=True)
    p.add_argument("--port", type=int, action="append", default=[])
    p.add_argument("--sa", action="append", default=[], help="SPI:KEYHEX (key || salt)")
    p.add_argument("--bu-pcap", help="a capture of the FAs' Binding Updates (forwarding SAs)")
    a = p.parse_args()
    flt = " or ".join(f"tcp.port == {x}" for x in a.port) or "tcp"
    out = subprocess.run(
        ["tshark", "-r", a.pcap, "-Y", f"({flt}) && tcp.len > 0", "-T", "fields",
         "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.payload"],
        check=True, capture_output=True, text=True).stdout
    segs = defaultdict(dict)  # (stream, srcport) -> seq -> payload (retransmissions once)
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) == 4 and f[3]:
            segs[(f[0], f[1])][int(f[2])] = bytes.fromhex(f[3].replace(":", ""))
    sas = {}
    for d in segs.values():
        stream = b"".join(d[s] for s in sorted(d))
        for body in messages(stream):
            for prof in profiles(body):
                for spi_c, key_c in ((UP_SPI, UP_KEY), (DOWN_SPI, DOWN_KEY)):
                    if spi_c in prof and key_c in prof:
                        spi = int.from_bytes(prof[spi_c], "big")
                        key = prof[key_c]
                        salt = hashlib.sha256(SALT_LABEL + key).digest()[:4]
                        sas[spi] = (cipher(key), key + salt)
    if not sas:
        sys.exit("esp_keys: no per-session ESP key in the Diameter capture")
    if a.bu_pcap:
        for up, down, keys in bu_profiles(a.bu_pcap):
            for spi, key in ((up, keys[0]), (down, keys[1])):
                if len(key) in (16, 32):
                    salt = hashlib.sha256(SALT_LABEL + key).digest()[:4]
                    sas[spi] = (cipher(key), key + salt)
    for s in a.sa:
        spi, key = s.split(":")
        key = bytes.fromhex(key)
        sas[int(spi, 0)] = (cipher(key[:-4]), key)
    for spi, (alg, km) in sorted(sas.items()):
        print(f'uat:esp_sa:"IPv4","*","*","0x{spi:08x}","{alg}","0x{km.hex()}","NULL",""')


if __name__ == "__main__":
    main()
