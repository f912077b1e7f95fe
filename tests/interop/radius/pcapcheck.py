#!/usr/bin/python3
"""Checks every RADIUS packet of a capture with the shared secret: the Request Authenticator
of Accounting-/CoA-/Disconnect-Requests, the Response Authenticator of every answer (against
its request), and every Message-Authenticator (RFC 3579 §3.2, RFC 5176 §3.4). Wireshark 4.0
checks only Response Authenticators; this covers the rest.

    tshark -r CAP -Y radius -T fields -E separator=, -e frame.number -e udp.srcport \
        -e udp.dstport -e udp.payload | pcapcheck.py SECRET

One line per packet: `frame=N code=C id=I auth=ok|BAD|random ma=ok|BAD|none`, then
`summary packets=N bad=B unsigned=U`. Exit 1 if any authenticator is bad."""
import hashlib, hmac, sys

secret = sys.argv[1].encode()
REQ_MD5 = {4, 40, 43}            # Accounting-, Disconnect-, CoA-Request
RESP = {2, 3, 11, 5, 41, 42, 44, 45}
requests = {}                    # (client port, id) -> request authenticator
bad = unsigned = n = 0
for line in sys.stdin:
    frame, sport, dport, payload = line.strip().split(",")
    p = bytes.fromhex(payload.replace(":", ""))
    code, ident, length = p[0], p[1], int.from_bytes(p[2:4], "big")
    p = p[:length]
    auth, attrs = p[4:20], p[20:]
    # Message-Authenticator offset
    ma_at, i = None, 0
    while i + 2 <= len(attrs):
        if attrs[i] == 80:
            ma_at = 20 + i + 2
        i += max(attrs[i + 1], 2)
    if code in (1, 12):          # Access-Request, Status-Server (RFC 5997)
        hauth, a = auth, "random"
        requests[(int(sport), ident)] = auth
    elif code in REQ_MD5:
        hauth = bytes(16)
        a = "ok" if hashlib.md5(p[:4] + hauth + attrs + secret).digest() == auth else "BAD"
        requests[(int(sport), ident)] = auth
    elif code in RESP:
        hauth = requests.get((int(dport), ident))
        if hauth is None:
            a = "no-request"
        else:
            a = "ok" if hashlib.md5(p[:4] + hauth + attrs + secret).digest() == auth else "BAD"
    else:
        hauth, a = None, "unknown-code"
    if ma_at is None:
        m = "none"
        unsigned += 1
    elif hauth is None:
        m = "BAD"
    else:
        z = p[:4] + hauth + p[20:ma_at] + bytes(16) + p[ma_at + 16:]
        m = "ok" if hmac.new(secret, z, "md5").digest() == p[ma_at:ma_at + 16] else "BAD"
    n += 1
    if a not in ("ok", "random") or m == "BAD":
        bad += 1
    print(f"frame={frame} code={code} id={ident} auth={a} ma={m}")
print(f"summary packets={n} bad={bad} unsigned={unsigned}")
sys.exit(1 if bad else 0)
