#!/usr/bin/python3
"""Reads `tshark -V` of RADIUS packets on stdin and prints, for every Access-Accept, the
tunnels its RFC 2868 attributes describe, in the line format of radius_tunnel_probe (minus
the password, which Wireshark 4.0 leaves encrypted): attributes grouped by Tag (absent = 0),
one line per tag, sorted by tag. Usage: tunnelcheck.py USER [USER..] — the Accepts are
named after the users in the order they were asked for."""
import re
import sys

AVP = re.compile(r"^\s*AVP: t=([A-Za-z-]+)\((\d+)\) l=(\d+)(?: Tag=0x([0-9a-f]{2}))? val=(.*)$")
CODE = re.compile(r"^\s*Code: (.*) \((\d+)\)$")
FIELDS = {64: "type", 65: "medium", 66: "client", 67: "server", 81: "private_group",
          82: "assignment", 90: "client_auth", 91: "server_auth", 83: "preference"}
INTS = {64, 65, 83}
ORDER = ["type", "medium", "client", "server", "private_group", "assignment", "client_auth",
         "server_auth", "preference"]


def s(v):
    b = v.encode("latin-1", "replace")
    if all(0x20 <= c < 0x7f and c not in (0x22, 0x5c) for c in b):
        return '"%s"' % v
    return "0x" + b.hex()


def main():
    users = sys.argv[1:]
    packets, cur = [], None
    for line in sys.stdin:
        m = CODE.match(line)
        if m:
            cur = {"code": int(m.group(2)), "avps": []}
            packets.append(cur)
            continue
        m = AVP.match(line)
        if m and cur is not None:
            cur["avps"].append((int(m.group(2)), int(m.group(4) or "0", 16), m.group(5)))
    accepts = [p for p in packets if p["code"] == 2]
    if len(accepts) != len(users):
        print("tunnelcheck: %d Access-Accepts for %d users" % (len(accepts), len(users)))
        return 1
    for user, p in zip(users, accepts):
        tunnels = {}
        for kind, tag, val in p["avps"]:
            if kind not in FIELDS:
                continue
            if kind in INTS:
                m = re.search(r"\((\d+)\)$", val)  # enumerations: "L2TP(3)"
                val = m.group(1) if m else val
            else:
                val = s(val)
            tunnels.setdefault(tag, {})[FIELDS[kind]] = val
        for tag in sorted(tunnels):
            t = tunnels[tag]
            print("user=%s tunnel tag=%d %s" % (user, tag,
                  " ".join("%s=%s" % (k, t.get(k, "-")) for k in ORDER)))
    return 0


sys.exit(main())
