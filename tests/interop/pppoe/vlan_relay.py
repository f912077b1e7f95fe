#!/usr/bin/python3
"""vlan_relay: an 802.1Q access switch in userspace, for a kernel without the 8021q module
(no VLAN interfaces here, no bridge VLAN filtering), so that a server that cannot listen on
a VLAN (rp-pppoe's pppoe-server) can serve tagged subscribers.

    vlan_relay.py TRUNK_IF ACCESS_IF VLAN [--seconds S]

Frames that arrive on TRUNK_IF tagged with VLAN go out of ACCESS_IF untagged; untagged
frames from ACCESS_IF go out of TRUNK_IF tagged with VLAN. Anything else (untagged frames
on the trunk, other VLANs, tagged frames on the access side) is dropped and counted. The
kernel takes the tag off received frames (skb metadata) even without 8021q: it is read
from PACKET_AUXDATA. Prints "relay trunk->access=N access->trunk=N dropped=N" at the end
(SIGTERM/SIGINT or --seconds)."""
import argparse, select, signal, socket, struct, sys, time

SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

ap = argparse.ArgumentParser()
ap.add_argument("trunk"); ap.add_argument("access"); ap.add_argument("vlan", type=int)
ap.add_argument("--seconds", type=float, default=3600)
a = ap.parse_args()

def open_if(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((name, ETH_P_ALL))
    return s

trunk, access = open_if(a.trunk), open_if(a.access)
n = {"t2a": 0, "a2t": 0, "drop": 0}
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
signal.signal(signal.SIGINT, lambda *_: stop.append(1))

def recv(s):
    """One received frame as (bytes, vlan id or None, outgoing?)."""
    data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(32))
    vid = None
    for lvl, typ, d in anc:
        if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(d) >= 20:
            status, _, _, _, _, tci = struct.unpack("=IIIHHH", d[:18])
            if status & TP_STATUS_VLAN_VALID:
                vid = tci & 0x0FFF
    if vid is None and len(data) >= 18 and data[12:14] == b"\x81\x00":
        vid = struct.unpack("!H", data[14:16])[0] & 0x0FFF
        data = data[:12] + data[16:]
    return data, vid, addr[2] == PACKET_OUTGOING

end = time.time() + a.seconds
while not stop and time.time() < end:
    try:
        r, _, _ = select.select([trunk, access], [], [], 0.2)
    except InterruptedError:
        continue
    for s in r:
        data, vid, out = recv(s)
        if out or len(data) < 14:
            continue  # our own transmissions
        if s is trunk:
            if vid == a.vlan:
                access.send(data); n["t2a"] += 1
            else:
                n["drop"] += 1
        else:
            if vid is None:
                trunk.send(data[:12] + struct.pack("!HH", 0x8100, a.vlan) + data[12:]); n["a2t"] += 1
            else:
                n["drop"] += 1
print("relay trunk->access=%d access->trunk=%d dropped=%d" % (n["t2a"], n["a2t"], n["drop"]), flush=True)
