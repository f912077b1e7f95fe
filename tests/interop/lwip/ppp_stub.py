#!/usr/bin/python3
"""ppp_stub: the server (LNS or PPPoE AC) side of PPP in userspace, standing in for pppd
under xl2tpd or rp-pppoe's pppoe-server (the kernel here has no /dev/ppp). xl2tpd execs
"pppd <pty> passive nodetach LOCAL:REMOTE ... file F" for each call; pppoe-server execs
"pppd pty 'pppoe -n -I IF -e SESSION:MAC -S ...' ... LOCAL:REMOTE ..." for each session, and
then, as pppd would, the stub runs that command on a new pty of its own (raw mode) and talks
to it through the master. Either way it speaks async-HDLC PPP (RFC 1662) on the pty:
LCP (MRU, ACCM, magic, auth), PAP or CHAP-MD5 (RFC 1994) against one user/password,
IPCP (RFC 1332) assigning REMOTE and offering a DNS server (RFC 1877), IPV6CP (RFC 5072)
with interface identifiers, LCP echo, ICMP echo replies to pings at LOCAL, Terminate.
Bounded runtime. Environment:
  PPP_STUB_AUTH=pap|chap|none   PPP_STUB_USER, PPP_STUB_PASS   PPP_STUB_DNS (default 192.0.2.53)
  PPP_STUB_USERS="user:password ..."  (several accepted users; replaces USER/PASS)
  PPP_STUB_RUNTIME seconds (default 20)   PPP_STUB_LOG file (events, one per line)"""
import os, random, select, socket, struct, sys, time, tty, hashlib

AUTH = os.environ.get("PPP_STUB_AUTH", "pap")
USER = os.environ.get("PPP_STUB_USER", "alice").encode()
PASS = os.environ.get("PPP_STUB_PASS", "secret").encode()
USERS = {USER: PASS}
if os.environ.get("PPP_STUB_USERS"):
    USERS = dict(tuple(x.encode() for x in e.split(":", 1)) for e in os.environ["PPP_STUB_USERS"].split())
DNS = os.environ.get("PPP_STUB_DNS", "192.0.2.53")
RUNTIME = float(os.environ.get("PPP_STUB_RUNTIME", "20"))
LOGF = open(os.environ.get("PPP_STUB_LOG", "/dev/null"), "a", buffering=1)
def log(*a): LOGF.write("%.3f %s\n" % (time.time(), " ".join(str(x) for x in a)))

args = sys.argv[1:]
pair = next((a for a in args if ":" in a and a[:1].isdigit()), None)
if not pair:
    log("no LOCAL:REMOTE argument", args); sys.exit(1)
LOCAL, REMOTE = pair.split(":")
if "pty" in args[:-1]:
    # pppd's "pty CMD": CMD runs with a new pty's slave as stdin/stdout; we keep the master.
    import pty as ptymod
    cmd = args[args.index("pty") + 1]
    fd, slave = ptymod.openpty()
    tty.setraw(slave)
    child = os.fork()
    if child == 0:
        os.setsid(); os.close(fd)
        os.dup2(slave, 0); os.dup2(slave, 1)
        os.execv("/bin/sh", ["sh", "-c", cmd])
    os.close(slave)
else:
    fd = os.open(args[0], os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
log("start pid=%d" % os.getpid(), " ".join(args))

LCP, PAP, CHAP, IPCP, IPV6CP, IP = 0xC021, 0xC023, 0xC223, 0x8021, 0x8057, 0x0021

def fcs16(data):
    fcs = 0xFFFF
    for c in data:
        fcs ^= c
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs

def send(proto, payload):
    body = b"\xff\x03" + struct.pack("!H", proto) + payload
    body += struct.pack("<H", fcs16(body) ^ 0xFFFF)
    out = bytearray(b"\x7e")
    for c in body:
        out += bytes([0x7D, c ^ 0x20]) if c in (0x7E, 0x7D) or c < 0x20 else bytes([c])
    os.write(fd, bytes(out + b"\x7e"))

buf = bytearray()
def frames(data):
    buf.extend(data)
    while True:
        i = buf.find(b"\x7e")
        if i < 0: return
        raw = bytes(buf[:i]); del buf[:i + 1]
        if not raw: continue
        un, esc = bytearray(), False
        for c in raw:
            if esc: un.append(c ^ 0x20); esc = False
            elif c == 0x7D: esc = True
            else: un.append(c)
        if len(un) < 4 or fcs16(un) != 0xF0B8:
            log("bad frame", un.hex()); continue
        un = bytes(un[:-2])
        if un[:2] == b"\xff\x03": un = un[2:]
        if un[0] & 1: yield un[0], un[1:]
        else: yield struct.unpack("!H", un[:2])[0], un[2:]

def opts(d):
    i, r = 0, []
    while i + 2 <= len(d) and d[i + 1] >= 2:
        r.append((d[i], d[i + 2:i + d[i + 1]])); i += d[i + 1]
    return r
def enc(o): return b"".join(bytes([t, len(v) + 2]) + v for t, v in o)
def cp(proto, code, ident, data=b""): send(proto, struct.pack("!BBH", code, ident, 4 + len(data)) + data)

magic = random.getrandbits(32) | 1
ifid = os.urandom(8)
st = {"lcp_rx": False, "lcp_tx": False, "auth": AUTH == "none", "ipcp_rx": False, "ipcp_tx": False,
      "v6_rx": False, "v6_tx": False, "done": False, "chal": b"", "up": False}
idc = [0]
def nid(): idc[0] = (idc[0] + 1) & 0xFF; return idc[0]
last = {}
def req(proto):
    if proto == LCP:
        o = [(1, struct.pack("!H", 1400)), (5, struct.pack("!I", magic))]
        if AUTH == "pap": o.insert(1, (3, struct.pack("!H", PAP)))
        if AUTH == "chap": o.insert(1, (3, struct.pack("!HB", CHAP, 5)))
    elif proto == IPCP: o = [(3, socket.inet_aton(LOCAL))]
    else: o = [(1, ifid)]
    cp(proto, 1, nid(), enc(o)); last[proto] = time.time()

def progress():
    if not (st["lcp_rx"] and st["lcp_tx"]): return
    if AUTH == "chap" and not st["chal"]:
        st["chal"] = os.urandom(16); st["chal_id"] = nid()
        cp(CHAP, 1, st["chal_id"], bytes([16]) + st["chal"] + b"ppp_stub"); log("CHAP challenge")
    if st["auth"]:
        for p in (IPCP, IPV6CP):
            if p not in last: req(p)

def handle(proto, pl):
    if proto in (LCP, IPCP, IPV6CP, PAP, CHAP) and len(pl) >= 4:
        code, idn, ln = struct.unpack("!BBH", pl[:4]); d = pl[4:ln]
    if proto == LCP:
        if code == 1:
            rej = [(t, v) for t, v in opts(d) if t not in (1, 2, 5)]
            if rej: cp(LCP, 4, idn, enc(rej)); log("LCP ConfRej", rej)
            else: cp(LCP, 2, idn, d); st["lcp_tx"] = True; log("LCP ConfAck sent")
        elif code == 2: st["lcp_rx"] = True; log("LCP ConfAck received")
        elif code in (3, 4): log("LCP ConfNak/Rej received", opts(d)); req(LCP)
        elif code == 5: cp(LCP, 6, idn); log("LCP TermReq received"); st["done"] = True
        elif code == 6: st["done"] = True
        elif code == 9: cp(LCP, 10, idn, struct.pack("!I", magic) + d[4:]); log("LCP echo reply")
        elif code == 8: log("LCP Protocol-Reject", d[:2].hex())
        progress()
    elif proto == PAP and code == 1 and AUTH == "pap":
        ul = d[0]; u = d[1:1 + ul]; p = d[2 + ul:2 + ul + d[1 + ul]]
        ok = USERS.get(u) == p
        cp(PAP, 2 if ok else 3, idn, b"\x02ok" if ok else b"\x06denied"); log("PAP user=%s ok=%s" % (u.decode(errors="replace"), ok))
        st["auth"] = ok
        if not ok: cp(LCP, 5, nid(), b"auth")
        progress()
    elif proto == CHAP and code == 2 and AUTH == "chap":
        vs = d[0]; r = d[1:1 + vs]; name = d[1 + vs:]
        ok = name in USERS and r == hashlib.md5(bytes([idn]) + USERS[name] + st["chal"]).digest()
        cp(CHAP, 3 if ok else 4, idn, b"welcome" if ok else b"denied"); log("CHAP user=%s ok=%s" % (name.decode(errors="replace"), ok))
        st["auth"] = ok
        if not ok: cp(LCP, 5, nid(), b"auth")
        progress()
    elif proto == IPCP:
        if code == 1:
            o = opts(d); nak, rej = [], []
            want = {3: REMOTE, 129: DNS, 131: DNS}
            for t, v in o:
                if t in want:
                    if socket.inet_ntoa(v) != want[t]: nak.append((t, socket.inet_aton(want[t])))
                else: rej.append((t, v))
            if rej: cp(IPCP, 4, idn, enc(rej)); log("IPCP ConfRej", rej)
            elif nak: cp(IPCP, 3, idn, enc(nak)); log("IPCP ConfNak", [(t, socket.inet_ntoa(v)) for t, v in nak])
            else: cp(IPCP, 2, idn, d); st["ipcp_tx"] = True; log("IPCP ConfAck sent")
        elif code == 2: st["ipcp_rx"] = True
        elif code in (3, 4): req(IPCP)
        elif code == 5: cp(IPCP, 6, idn)
    elif proto == IPV6CP:
        if code == 1:
            o = opts(d); rej = [(t, v) for t, v in o if t != 1]
            if rej: cp(IPV6CP, 4, idn, enc(rej))
            else: cp(IPV6CP, 2, idn, d); st["v6_tx"] = True; log("IPV6CP ConfAck sent")
        elif code == 2: st["v6_rx"] = True
        elif code in (3, 4): req(IPV6CP)
        elif code == 5: cp(IPV6CP, 6, idn)
    elif proto == IP:
        if len(pl) >= 28 and pl[9] == 1 and pl[20] == 8 and socket.inet_ntoa(pl[16:20]) == LOCAL:
            hl = (pl[0] & 15) * 4
            icmp = bytearray(pl[hl:]); icmp[0] = 0; icmp[2:4] = b"\0\0"
            s = sum(struct.unpack("!%dH" % (len(icmp) // 2), bytes(icmp) + b"\0" * (len(icmp) % 2)))
            while s >> 16: s = (s & 0xFFFF) + (s >> 16)
            icmp[2:4] = struct.pack("!H", ~s & 0xFFFF)
            ip = bytearray(pl[:hl]); ip[12:16], ip[16:20] = pl[16:20], pl[12:16]; ip[8] = 64; ip[10:12] = b"\0\0"
            s = sum(struct.unpack("!%dH" % (hl // 2), bytes(ip)))
            while s >> 16: s = (s & 0xFFFF) + (s >> 16)
            ip[10:12] = struct.pack("!H", ~s & 0xFFFF)
            send(IP, bytes(ip) + bytes(icmp)); log("ICMP echo reply seq", struct.unpack("!H", pl[hl + 6:hl + 8])[0])
    elif proto not in (PAP, CHAP):
        log("Protocol-Reject 0x%04x" % proto); cp(LCP, 8, nid(), struct.pack("!H", proto) + pl[:64])

start = time.time(); req(LCP)
while not st["done"] and time.time() - start < RUNTIME:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try: data = os.read(fd, 4096)
        except OSError: log("pty closed"); break
        if not data: break
        for proto, pl in frames(data): handle(proto, pl)
    now = time.time()
    for p, ok in ((LCP, st["lcp_rx"]), (IPCP, st["ipcp_rx"]), (IPV6CP, st["v6_rx"])):
        if p in last and not ok and now - last[p] > 1: req(p)
    if st["ipcp_rx"] and st["ipcp_tx"] and not st["up"]:
        st["up"] = True; log("IPCP UP local=%s remote=%s" % (LOCAL, REMOTE))
    if st["v6_rx"] and st["v6_tx"] and not st.get("up6"):
        st["up6"] = True; log("IPV6CP UP")
if not st["done"]: cp(LCP, 5, nid(), b"runtime"); log("LCP TermReq sent (runtime)")
# Linger so the last frames (a Terminate-Ack) leave before the pty closes: with pppoe-server
# the pppoe child dies with the pty and the peer would wait for an answer that never came.
time.sleep(0.3)
log("exit")
