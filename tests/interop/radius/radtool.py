#!/usr/bin/python3
"""radtool: one RADIUS Access-Request with PAP, CHAP or MS-CHAPv2 (RFC 2865, RFC 2548,
RFC 2759), signed with a Message-Authenticator (RFC 3579) unless --no-ma, then checks the
answer: Response Authenticator, the reply's Message-Authenticator and, for MS-CHAPv2, the
server's authenticator response in MS-CHAP2-Success (proof that it knew the password).

  radtool.py SERVER[:PORT] SECRET USER PASSWORD pap|chap|mschapv2 [--no-ma] [--timeout S]
             [--bind ADDR] [--repeat N] [--mppe]

PORT defaults to 1812. --bind sends from ADDR (e.g. a source the server does not know).
--repeat N sends the same datagram N times from the same socket (a retransmission, RFC 5080
§2.2.1), one answer awaited each time, and requires all answers to be byte-identical (the
server's duplicate cache); `repeats=identical|DIFFERENT|missing` is added to the line.
--mppe (MS-CHAPv2): the Accept must carry MS-MPPE-Send-Key and MS-MPPE-Recv-Key (RFC 2548
§2.4.2) that decrypt to the 128-bit start keys RFC 3079 §3.4 derives from the password and
our NT-Response (server send key = Magic3, receive = Magic2); `mppe=ok|bad|missing` is added.

Prints one line: `code=accept|reject|timeout resp_auth=ok|bad ma=ok|bad|missing
[mschap2_success=ok|bad|missing] attrs=TYPE:VALUE,...` and exits 0 on a verified Accept,
1 otherwise. MD4 is implemented here (OpenSSL 3's hashlib lacks it); DES comes from
python3-cryptography (single DES = TripleDES with one 8-byte key)."""
import hashlib, hmac, os, socket, struct, sys


def md4(data):
    def f(x, y, z): return (x & y) | (~x & z)
    def g(x, y, z): return (x & y) | (x & z) | (y & z)
    def h(x, y, z): return x ^ y ^ z
    def rol(v, s): v &= 0xFFFFFFFF; return ((v << s) | (v >> (32 - s))) & 0xFFFFFFFF
    msg = data + b"\x80" + b"\0" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for i in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[i:i + 64]); aa, bb, cc, dd = a, b, c, d
        for k in range(16):
            s = (3, 7, 11, 19)[k % 4]
            if k % 4 == 0: a = rol(a + f(b, c, d) + x[k], s)
            elif k % 4 == 1: d = rol(d + f(a, b, c) + x[k], s)
            elif k % 4 == 2: c = rol(c + f(d, a, b) + x[k], s)
            else: b = rol(b + f(c, d, a) + x[k], s)
        for k in range(16):
            j = (k % 4) * 4 + k // 4; s = (3, 5, 9, 13)[k % 4]
            if k % 4 == 0: a = rol(a + g(b, c, d) + x[j] + 0x5A827999, s)
            elif k % 4 == 1: d = rol(d + g(a, b, c) + x[j] + 0x5A827999, s)
            elif k % 4 == 2: c = rol(c + g(d, a, b) + x[j] + 0x5A827999, s)
            else: b = rol(b + g(c, d, a) + x[j] + 0x5A827999, s)
        for k in range(16):
            j = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[k]; s = (3, 9, 11, 15)[k % 4]
            if k % 4 == 0: a = rol(a + h(b, c, d) + x[j] + 0x6ED9EBA1, s)
            elif k % 4 == 1: d = rol(d + h(a, b, c) + x[j] + 0x6ED9EBA1, s)
            elif k % 4 == 2: c = rol(c + h(d, a, b) + x[j] + 0x6ED9EBA1, s)
            else: b = rol(b + h(c, d, a) + x[j] + 0x6ED9EBA1, s)
        a, b, c, d = [(v + w) & 0xFFFFFFFF for v, w in ((a, aa), (b, bb), (c, cc), (d, dd))]
    return struct.pack("<4I", a, b, c, d)


assert md4(b"abc").hex() == "a448017aaf21d8525fc10ae87aa6729d"  # RFC 1320 test vector


def des_encrypt(key7, block):
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        sys.exit("radtool: needs python3-cryptography for MS-CHAPv2 (apt-get install python3-cryptography)")
    bits = int.from_bytes(key7, "big")
    key = bytes((((bits >> (49 - 7 * i)) & 0x7F) << 1) for i in range(8))  # 7 -> 8 bytes, parity bit 0
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        TripleDES = algorithms.TripleDES
    e = Cipher(TripleDES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def mppe_keys(password, nt):
    """RFC 3079 §3.3-3.4: the authenticator's (send, receive) 128-bit start keys."""
    hh = md4(md4(password.encode("utf-16-le")))
    master = hashlib.sha1(hh + nt + b"This is the MPPE Master Key").digest()[:16]
    m2 = b"On the client side, this is the send key; on the server side, it is the receive key."
    m3 = b"On the client side, this is the receive key; on the server side, it is the send key."
    key = lambda m: hashlib.sha1(master + b"\0" * 40 + m + b"\xf2" * 40).digest()[:16]
    return key(m3), key(m2)


def mppe_decrypt(secret, ra, v):
    """RFC 2548 §2.4.2: Salt(2) + encrypted(Key-Length + Key + padding)."""
    salt, c = v[:2], v[2:]
    if not salt[0] & 0x80 or not c or len(c) % 16:
        return None
    out, prev = b"", ra + salt
    for i in range(0, len(c), 16):
        b = hashlib.md5(secret + prev).digest()
        out += bytes(x ^ y for x, y in zip(c[i:i + 16], b)); prev = c[i:i + 16]
    return out[1:1 + out[0]] if out[0] <= len(out) - 1 else None


def mschapv2(user, password, auth_challenge):
    """RFC 2759: (peer challenge, NT-Response, expected authenticator response)."""
    peer = os.urandom(16)
    challenge = hashlib.sha1(peer + auth_challenge + user).digest()[:8]
    pwhash = md4(password.encode("utf-16-le"))
    z = pwhash + b"\0" * 5
    nt = b"".join(des_encrypt(z[i:i + 7], challenge) for i in (0, 7, 14))
    m1 = b"Magic server to client signing constant"
    m2 = b"Pad to make it do more than one iteration"
    d = hashlib.sha1(md4(pwhash) + nt + m1).digest()
    ar = hashlib.sha1(d + challenge + m2).digest()
    return peer, nt, "S=" + ar.hex().upper()


def attr(t, v): return bytes([t, len(v) + 2]) + v
def vsa_ms(t, v): return attr(26, struct.pack("!I", 311) + bytes([t, len(v) + 2]) + v)


def main():
    a = sys.argv[1:]
    if len(a) < 5: sys.exit(__doc__)
    server, secret, user, password, method = a[0], a[1].encode(), a[2].encode(), a[3], a[4]
    with_ma = "--no-ma" not in a
    tmo = float(a[a.index("--timeout") + 1]) if "--timeout" in a else 3.0
    bind = a[a.index("--bind") + 1] if "--bind" in a else None
    repeat = int(a[a.index("--repeat") + 1]) if "--repeat" in a else 1
    port = 1812
    if server.count(":") == 1:
        server, port = server.split(":")[0], int(server.split(":")[1])
    ra = os.urandom(16); ident = os.urandom(1)[0]
    attrs = attr(1, user) + attr(4, socket.inet_aton("127.0.0.1")) + attr(61, struct.pack("!I", 5))
    expect_ar = None
    want_mppe = "--mppe" in a
    if method == "pap":
        pw = password.encode()
        if not pw or len(pw) % 16: pw += b"\0" * (16 - len(pw) % 16)
        out, last = b"", ra
        for i in range(0, len(pw), 16):
            last = bytes(x ^ y for x, y in zip(pw[i:i + 16], hashlib.md5(secret + last).digest())); out += last
        attrs += attr(2, out)
    elif method == "chap":
        cid, chal = os.urandom(1)[0], os.urandom(16)
        attrs += attr(3, bytes([cid]) + hashlib.md5(bytes([cid]) + password.encode() + chal).digest()) + attr(60, chal)
    elif method == "mschapv2":
        chal = os.urandom(16); cid = os.urandom(1)[0]
        peer, nt, expect_ar = mschapv2(user, password, chal)
        expect_keys = mppe_keys(password, nt)
        attrs += vsa_ms(11, chal) + vsa_ms(25, bytes([cid, 0]) + peer + b"\0" * 8 + nt)
    else:
        sys.exit("method must be pap, chap or mschapv2")
    if with_ma:
        attrs = attr(80, b"\0" * 16) + attrs
    pkt = struct.pack("!BBH", 1, ident, 20 + len(attrs)) + ra + attrs
    if with_ma:
        pkt = pkt[:22] + hmac.new(secret, pkt, hashlib.md5).digest() + pkt[38:]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(tmo)
    if bind:
        s.bind((bind, 0))
    answers = []
    for _ in range(repeat):
        s.sendto(pkt, (server, port))
        try:
            answers.append(s.recv(4096))
        except socket.timeout:
            break
    if not answers:
        print("code=timeout"); return 1
    r = answers[0]
    code, rid, ln = struct.unpack("!BBH", r[:4])
    resp_ok = hashlib.md5(r[:4] + ra + r[20:ln] + secret).digest() == r[4:20]
    i, ma, shown, success, keys = 20, None, [], None, {}
    while i + 2 <= ln:
        t, l = r[i], r[i + 1]
        v = r[i + 2:i + l]
        if t == 80: ma = i
        elif t == 26 and v[:4] == struct.pack("!I", 311) and v[4] == 26: success = v[7:]  # MS-CHAP2-Success: ident, "S=..."
        elif t == 26 and v[:4] == struct.pack("!I", 311) and v[4] in (16, 17): keys[v[4]] = v[6:]  # MS-MPPE-Send/Recv-Key
        if t in (8, 27, 85): shown.append("%d:%s" % (t, socket.inet_ntoa(v) if t == 8 else int.from_bytes(v, "big")))
        elif t == 88: shown.append("88:%s" % v.decode())
        i += l
    ma_s = "missing"
    if ma is not None:
        z = r[:4] + ra + r[20:ma + 2] + b"\0" * 16 + r[ma + 18:ln]
        ma_s = "ok" if hmac.new(secret, z, hashlib.md5).digest() == r[ma + 2:ma + 18] else "bad"
    line = "code=%s resp_auth=%s ma=%s" % ({2: "accept", 3: "reject"}.get(code, str(code)), "ok" if resp_ok else "bad", ma_s)
    ms_ok = True
    if method == "mschapv2" and code == 2:
        ms_ok = success is not None and success[:42].decode(errors="replace") == expect_ar
        line += " mschap2_success=%s" % ("missing" if success is None else "ok" if ms_ok else "bad")
        if want_mppe:
            if 16 not in keys or 17 not in keys:
                ms_ok, m = False, "missing"
            else:
                got = (mppe_decrypt(secret, ra, keys[16]), mppe_decrypt(secret, ra, keys[17]))
                ok = got == expect_keys and keys[16][:2] != keys[17][:2]
                ms_ok, m = ms_ok and ok, "ok" if ok else "bad"
            line += " mppe=%s" % m
    rep_ok = True
    if repeat > 1:
        rep_ok = len(answers) == repeat and all(x == r for x in answers)
        line += " repeats=%s" % ("missing" if len(answers) < repeat else "identical" if rep_ok else "DIFFERENT")
    print(line + " attrs=" + ",".join(shown))
    return 0 if code == 2 and resp_ok and ma_s == "ok" and ms_ok and rep_ok else 1


sys.exit(main())
