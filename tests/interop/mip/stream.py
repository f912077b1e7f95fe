#!/usr/bin/env python3
"""A sequence-numbered UDP stream for the mobile lab (issue 17): the correspondent node sends,
the mobile node receives and counts what was lost, duplicated and reordered across its
handoffs.

  stream.py send --dst 10.200.0.2 --port 18320 --rate 200 --duration 20 [--bind SRC]
  stream.py recv --bind 10.200.0.2 --port 18320 --idle 3 --out recv.json

Each datagram carries a 4-byte magic, the sequence number (8 bytes) and the sender's time
(double). The sender stops on SIGTERM/SIGINT or after --duration and prints how many it sent
(JSON) — also into --out. The receiver ends --idle seconds after the last datagram once
--done-file exists (written by whoever stops the sender), or at --max seconds, and prints:
received, distinct, duplicates, reordered, lost (holes below the highest sequence number
seen, plus what was sent after it when --sent-file names the sender's count), the gaps
(longest stretches without a datagram, with their times) and the first/last arrival.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import time

MAGIC = b"VYMS"
FMT = "!4sQd"
SIZE = struct.calcsize(FMT)


def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.bind:
        s.bind((a.bind, 0))  # the source address (a host with several)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    period = 1.0 / a.rate
    t0 = time.monotonic()
    seq = 0
    errors = 0
    while not stop and time.monotonic() - t0 < a.duration:
        try:
            s.sendto(struct.pack(FMT, MAGIC, seq, time.time()) + b"\0" * a.pad, (a.dst, a.port))
        except OSError:
            errors += 1
        seq += 1
        nxt = t0 + seq * period
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
    out = {"sent": seq, "send_errors": errors, "seconds": round(time.monotonic() - t0, 3)}
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            json.dump(out, f)
        os.rename(a.out + ".tmp", a.out)
    print(json.dumps(out))


def recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, a.port))
    s.settimeout(0.2)
    if a.ready:
        open(a.ready, "w").close()
    seen = {}
    order = []  # (arrival, seq)
    bad = 0
    start = time.time()
    last = None
    while True:
        now = time.time()
        if now - start > a.max:
            break
        if a.done_file and os.path.exists(a.done_file) and (last is None or now - last > a.idle):
            break
        try:
            b, _ = s.recvfrom(2048)
        except socket.timeout:
            continue
        t = time.time()
        if len(b) < SIZE or b[:4] != MAGIC:
            bad += 1
            continue
        _, seq, _sent_at = struct.unpack(FMT, b[:SIZE])
        seen[seq] = seen.get(seq, 0) + 1
        order.append((t, seq))
        last = t
    sent = None
    if a.sent_file and os.path.exists(a.sent_file):
        sent = json.load(open(a.sent_file))["sent"]
    distinct = len(seen)
    dups = sum(c - 1 for c in seen.values())
    reordered = 0
    hi = -1
    for _, q in order:
        if q < hi:
            reordered += 1
        hi = max(hi, q)
    top = (sent - 1) if sent is not None else hi
    lost_seqs = [q for q in range(0, top + 1) if q not in seen]
    # Holes as runs of consecutive lost sequence numbers.
    runs = []
    for q in lost_seqs:
        if runs and runs[-1][1] == q - 1:
            runs[-1][1] = q
        else:
            runs.append([q, q])
    gaps = sorted(((order[i + 1][0] - order[i][0], order[i][0]) for i in range(len(order) - 1)),
                  reverse=True)[:5]
    out = {
        "sent": sent, "received": len(order), "distinct": distinct, "duplicates": dups,
        "reordered": reordered, "lost": len(lost_seqs),
        "lost_runs": [{"from": r[0], "to": r[1], "n": r[1] - r[0] + 1} for r in runs[:20]],
        "not_stream": bad,
        "longest_gaps_ms": [{"ms": round(g * 1000, 1), "at": round(t, 3)} for g, t in gaps],
        "first": order[0][0] if order else None, "last": order[-1][0] if order else None,
    }
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f)
    print(json.dumps(out))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("send")
    sp.add_argument("--dst", required=True)
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--rate", type=float, default=200.0)
    sp.add_argument("--duration", type=float, default=60.0)
    sp.add_argument("--pad", type=int, default=0)
    sp.add_argument("--bind", help="source address")
    sp.add_argument("--out")
    rp = sub.add_parser("recv")
    rp.add_argument("--bind", required=True)
    rp.add_argument("--port", type=int, required=True)
    rp.add_argument("--idle", type=float, default=2.0)
    rp.add_argument("--max", type=float, default=120.0)
    rp.add_argument("--done-file")
    rp.add_argument("--sent-file")
    rp.add_argument("--ready")
    rp.add_argument("--out")
    a = p.parse_args()
    return send(a) if a.cmd == "send" else recv(a)


if __name__ == "__main__":
    sys.exit(main() or 0)
