#!/usr/bin/python3
"""Crafts in.pcap for the L2TP data-path golden test with scapy (independent of varouter).
Run with Debian's python3 (python3-scapy). Port 0 = access (VR 1 untagged), port 1 = to LAC.
"""
import os
from scapy.all import Ether, IP, IPv6, UDP, Raw, wrpcap
from scapy.layers.l2tp import L2TP
from scapy.layers.ppp import HDLC, PPP

HERE = os.path.dirname(os.path.abspath(__file__))
R = "02:00:00:00:00:01"     # router port MAC (both ports share it in this test)
LAC = "02:00:00:00:1a:c0"
P = b"l2tp-data-path-golden"

def l2tp(tunnel, session, inner, ctrl=False):
    hdr = 0xC802 if ctrl else 0x0002
    raw = hdr.to_bytes(2, "big")
    if ctrl:
        body = b"\x00\x00\x00\x00"  # Ns, Nr: a ZLB acknowledgement
        raw += (8 + len(body)).to_bytes(2, "big")
    raw += tunnel.to_bytes(2, "big") + session.to_bytes(2, "big")
    return Raw(raw + (body if ctrl else bytes(inner)))

def outer(payload):
    return Ether(src=LAC, dst=R) / IP(src="198.51.100.2", dst="192.0.2.1", ttl=64) / UDP(sport=1701, dport=1701) / payload

pkts = [
    # 1. Subscriber IPv4 in session (7, 9): decapsulated, routed by VR 1 towards 10.1.0.0/16.
    outer(l2tp(7, 9, HDLC() / PPP(proto=0x0021) / IP(src="10.8.0.5", dst="10.1.0.5", ttl=64) / UDP(sport=5, dport=6) / P)),
    # 2. Reply from the site: routed into the session (peer ids 70, 90).
    Ether(src="02:00:00:00:0c:e0", dst=R) / IP(src="10.1.0.5", dst="10.8.0.5", ttl=64) / UDP(sport=6, dport=5) / P,
    # 3. Control message (T bit): punted to the VR's L2TP engine.
    outer(l2tp(7, 0, b"", ctrl=True)),
    # 4. Session 99 is not up: l2tp_no_session.
    outer(l2tp(7, 99, HDLC() / PPP(proto=0x0021) / IP(src="10.8.0.5", dst="10.1.0.5") / UDP(sport=5, dport=6) / P)),
    # 5. LCP inside the session: punted as ppp_control.
    outer(l2tp(7, 9, HDLC() / PPP(proto=0xC021) / Raw(b"\x01\x01\x00\x04"))),
    # 6. Length field larger than the datagram: l2tp_malformed.
    outer(Raw(b"\x40\x02\x01\x00\x00\x07\x00\x09\xff\x03\x00\x21")),
    # 7. Session (7, 10) belongs to VR 2: arriving in VR 1 it is dropped (l2tp_wrong_vr).
    outer(l2tp(7, 10, HDLC() / PPP(proto=0x0021) / IP(src="10.8.0.6", dst="10.1.0.5") / UDP(sport=5, dport=6) / P)),
    # 8. Subscriber IPv6 in session (7, 9), PPP with address/control compressed.
    outer(l2tp(7, 9, Raw(b"\x00\x57") / IPv6(src="fd00:8::5", dst="fd00:1::5", hlim=64) / UDP(sport=5, dport=6) / P)),
]
wrpcap(os.path.join(HERE, "in.pcap"), pkts)
print("wrote", len(pkts))
