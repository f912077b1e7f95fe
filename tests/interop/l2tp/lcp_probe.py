#!/usr/bin/python3
"""Stand-in for pppd under xl2tpd (the kernel here has no /dev/ppp, so pppd cannot run and
xl2tpd would drop the call at once). xl2tpd execs "pppd <pty> ..."; this program keeps the
call up for a bounded time and sends an async-HDLC framed LCP Configure-Request (RFC 1661,
RFC 1662) every half second, so the session carries data messages the peer must classify.
Frames it receives are counted in the log given by LCP_PROBE_LOG."""
import os, sys, time, select, tty

RUNTIME = float(os.environ.get("LCP_PROBE_RUNTIME", "8"))
LOG = open(os.environ.get("LCP_PROBE_LOG", "/dev/null"), "a", buffering=1)

def fcs16(data):
    fcs = 0xFFFF
    for c in data:
        fcs ^= c
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF

def hdlc(frame):
    f = frame + fcs16(frame).to_bytes(2, "little")
    out = bytearray(b"\x7e")
    for c in f:
        if c in (0x7E, 0x7D) or c < 0x20:
            out += bytes([0x7D, c ^ 0x20])
        else:
            out.append(c)
    out.append(0x7E)
    return bytes(out)

fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
LOG.write("start %s\n" % " ".join(sys.argv[1:]))
ident, sent, got, end = 1, 0, 0, time.time() + RUNTIME
while time.time() < end:
    # LCP Configure-Request with a Magic-Number option.
    lcp = bytes([1, ident & 0xFF, 0, 10, 5, 6]) + (0x12345678 + ident).to_bytes(4, "big")
    os.write(fd, hdlc(b"\xff\x03\xc0\x21" + lcp))
    sent += 1
    ident += 1
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            got += len(os.read(fd, 4096))
        except OSError:
            break
LOG.write("sent %d lcp frames, received %d bytes\n" % (sent, got))
