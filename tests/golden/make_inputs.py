#!/usr/bin/python3
"""Crafts the input captures of the golden tests with scapy (an independent packet
builder: these bytes were not produced by varouter's own code).

Run with Debian's python3 (python3-scapy):  /usr/bin/python3 tests/golden/make_inputs.py
The outputs (`*/in*.pcap`) are committed; rerun only when changing the cases.
"""
import os
from scapy.all import Ether, Dot1Q, IP, IPv6, UDP, ICMP, Raw, wrpcap
from scapy.contrib.mpls import MPLS

HERE = os.path.dirname(os.path.abspath(__file__))
ACCESS_MAC = "02:00:00:00:00:01"
TRUNK_MAC = "02:00:00:00:00:02"
TRUNK1_MAC = "02:00:00:00:00:03"
CE_A = "02:00:00:00:0a:02"
CE_B = "02:00:00:00:0b:02"
P_MAC = "02:00:00:00:ff:02"
PAYLOAD = Raw(b"golden-payload-0123456789")


def save(case, name, pkts):
    wrpcap(os.path.join(HERE, case, name), pkts)


# PE ingress: customer traffic on VLAN 10 (A) and 20 (B) of the access port, same addresses.
ingress = [
    # 1. A, IPv4 to site 2: push [16001, 1001] onto the trunk.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IP(src="10.1.0.5", dst="10.2.0.7", ttl=64) / UDP(sport=1000, dport=2000) / PAYLOAD,
    # 2. B, same addresses: push [16001, 1002].
    Ether(src=CE_B, dst=ACCESS_MAC) / Dot1Q(vlan=20) / IP(src="10.1.0.5", dst="10.2.0.7", ttl=64) / UDP(sport=1000, dport=2000) / PAYLOAD,
    # 3. A, IPv6 to site 2.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IPv6(src="fd00:1::5", dst="fd00:2::7", hlim=64) / UDP(sport=1000, dport=2000) / PAYLOAD,
    # 4. A, IPv4 with options (IHL 6) to site 2: options must be carried intact.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IP(src="10.1.0.5", dst="10.2.0.8", ttl=30, options=b"\x01\x01\x01\x00") / UDP(sport=1000, dport=2000) / PAYLOAD,
    # 5. B, site 1 to site 1 hairpin through the VR (routed back to CE-B).
    Ether(src=CE_B, dst=ACCESS_MAC) / Dot1Q(vlan=20) / IP(src="10.1.0.5", dst="10.1.0.9", ttl=64) / ICMP() / PAYLOAD,
    # 6. A, no route (192.168.0.0/16 is not in A's table): drop no_route.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IP(src="10.1.0.5", dst="192.168.1.1") / UDP() / PAYLOAD,
    # 7. A, TTL 1: punted (ttl_expired) for ICMP time exceeded.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IP(src="10.1.0.5", dst="10.2.0.7", ttl=1) / UDP() / PAYLOAD,
    # 8. A, bad IPv4 header checksum: drop ipv4_bad_checksum.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IP(src="10.1.0.5", dst="10.2.0.7", chksum=0x1234) / UDP() / PAYLOAD,
    # 9. Labelled frame on the customer port: drop labelled_on_customer_port.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / MPLS(label=2001, s=1, ttl=64) / IP(src="10.1.0.5", dst="10.2.0.7") / UDP() / PAYLOAD,
    # 10. VLAN 30 is bound to no VR: drop no_interface.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=30) / IP(src="10.1.0.5", dst="10.2.0.7") / UDP() / PAYLOAD,
    # 11. Truncated IPv4 header (IHL claims 15 words): drop ipv4_malformed.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10, type=0x0800) / Raw(bytes.fromhex("4f000020000000004011000a0a010005")),
    # 12. Ping to the VR's own address: punted (local).
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IP(src="10.255.0.2", dst="10.255.0.1") / ICMP() / PAYLOAD,
    # 13. Unicast to another MAC: drop l2_not_for_us.
    Ether(src=CE_A, dst="02:00:00:00:99:99") / Dot1Q(vlan=10) / IP(src="10.1.0.5", dst="10.2.0.7") / UDP() / PAYLOAD,
    # 14. A, blackholed prefix 10.66.0.0/16: drop blackhole.
    Ether(src=CE_A, dst=ACCESS_MAC) / Dot1Q(vlan=10) / IP(src="10.1.0.5", dst="10.66.0.1") / UDP() / PAYLOAD,
]
save("vpn_ingress", "in.pcap", ingress)

# P router: label switching between two trunks.
lsr = [
    # 1. 16001 -> swap to 16002 out trunk1, VPN label below untouched, TTL 64 -> 63.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=16001, s=0, ttl=64) / MPLS(label=1001, s=1, ttl=64) / IP(src="10.1.0.5", dst="10.2.0.7", ttl=63) / UDP(sport=1000, dport=2000) / PAYLOAD,
    # 2. 16003 -> pop-forward (PHP) out trunk1: the VPN label becomes the top, TTL min rule.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=16003, s=0, ttl=20) / MPLS(label=1002, s=1, ttl=64) / IP(src="10.1.0.5", dst="10.2.0.7", ttl=63) / UDP(sport=1000, dport=2000) / PAYLOAD,
    # 3. Unknown label: drop label_unknown.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=77777, s=1, ttl=64) / IP(src="10.1.0.5", dst="10.2.0.7") / UDP() / PAYLOAD,
    # 4. Label TTL 1: drop mpls_ttl_expired.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=16001, s=0, ttl=1) / MPLS(label=1001, s=1, ttl=64) / IP(src="10.1.0.5", dst="10.2.0.7") / UDP() / PAYLOAD,
    # 5. Stack without bottom-of-stack (runs to the end of the frame): drop mpls_malformed.
    Ether(src=P_MAC, dst=TRUNK_MAC, type=0x8847) / Raw(bytes.fromhex("03e81040" "03e81040" "03e81040")),
    # 6. Plain IPv4 on a trunk: drop unlabelled_on_trunk.
    Ether(src=P_MAC, dst=TRUNK_MAC) / IP(src="192.0.2.2", dst="192.0.2.1") / UDP() / PAYLOAD,
]
save("label_switch", "in.pcap", lsr)

# PE egress: labelled traffic from the core popped into A and B.
egress = [
    # 1. 2001 -> A -> CE-A on VLAN 10 (label TTL 60 < IP TTL 63: uniform model gives 59).
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=2001, s=1, ttl=60) / IP(src="10.2.0.7", dst="10.1.0.5", ttl=63) / UDP(sport=2000, dport=1000) / PAYLOAD,
    # 2. 2002 -> B -> CE-B on VLAN 20, same addresses.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=2002, s=1, ttl=60) / IP(src="10.2.0.7", dst="10.1.0.5", ttl=63) / UDP(sport=2000, dport=1000) / PAYLOAD,
    # 3. 2001 -> A, IPv6.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=2001, s=1, ttl=60) / IPv6(src="fd00:2::7", dst="fd00:1::5", hlim=63) / UDP(sport=2000, dport=1000) / PAYLOAD,
    # 4. Pop-to-VR label not at the bottom: drop mpls_pop_not_bottom.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=2001, s=0, ttl=60) / MPLS(label=2002, s=1, ttl=60) / IP(src="10.2.0.7", dst="10.1.0.5") / UDP() / PAYLOAD,
    # 5. 2002 -> B, but B has no route to 172.16.0.1: drop no_route (no leak into A).
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=2002, s=1, ttl=60) / IP(src="10.2.0.7", dst="172.16.0.1") / UDP() / PAYLOAD,
    # 6. 2001 -> A, destination only A knows (10.77.0.0/16 exists in A only).
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=2001, s=1, ttl=60) / IP(src="10.2.0.7", dst="10.77.0.1", ttl=63) / UDP(sport=2000, dport=1000) / PAYLOAD,
    # 7. Same destination via B's label: B has no such route: drop no_route.
    Ether(src=P_MAC, dst=TRUNK_MAC) / MPLS(label=2002, s=1, ttl=60) / IP(src="10.2.0.7", dst="10.77.0.1", ttl=63) / UDP(sport=2000, dport=1000) / PAYLOAD,
]
save("vpn_egress", "in.pcap", egress)
print("wrote inputs")
