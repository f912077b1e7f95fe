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
    for s in a.sa:
        spi, key = s.split(":")
        key = bytes.fromhex(key)
        sas[int(spi, 0)] = (cipher(key[:-4]), key)
    for spi, (alg, km) in sorted(sas.items()):
        print(f'uat:esp_sa:"IPv4","*","*","0x{spi:08x}","{alg}","0x{km.hex()}","NULL",""')


if __name__ == "__main__":
    main()
