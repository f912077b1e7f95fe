#!/usr/bin/env bash
# af_packet ports and partial checksums (issue 17): a sender whose veth has transmit
# checksum offload ON (the kernel default) leaves its UDP/TCP checksums partial, and the
# frames reach our af_packet port flagged TP_STATUS_CSUMNOTREADY. The port completes them,
# so a receiver behind the router gets them (before the fix it dropped every one: bad
# checksum). Namespaces and interfaces are all `xa-*`, ports 18340-18342:
#
#   xa-snd [xa-s0 10.71.1.2/24 fd71:1::2/64] == [xa-s1 port s] xa-rtr: one `varouter run`,
#   VR 1 on af_packet ports s and r == [xa-r0 10.71.2.2/24 fd71:2::2/64] xa-rcv
#
# Checked: 40 UDP datagrams over IPv4 and 40 over IPv6 from xa-snd all arrive in xa-rcv
# with the payload intact (the receiver's kernel verifies the checksum); a TCP connection
# over IPv4 carries 100 kB both ways (both ends offload: the router completes in both
# directions); the receiver's kernel counted no UDP checksum error; the run summary shows
# `rx_csum_completed` on both ports, and so do the management API's /api/v1/stats (the
# ports' `device` statistics) and /metrics (`varouter_port_device_total`). Needs root, ip,
# ethtool, python3, curl: fails without them.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=58-afpacket-csum
[ "$(id -u)" = 0 ] || { echo "$N: FAIL - needs root (network namespaces)" >&2; exit 1; }
for t in ip ethtool python3 curl; do
  command -v "$t" >/dev/null || { echo "$N: FAIL - $t missing" >&2; exit 1; }
done
# AFPACKET_CSUM_BIN runs another build (e.g. one from before the fix, to see it fail).
if [ -n "${AFPACKET_CSUM_BIN:-}" ]; then BIN=$AFPACKET_CSUM_BIN; else
  cargo build -q --bin varouter
  BIN=$(pwd)/target/debug/varouter
fi
DIR=$(mktemp -d /tmp/$N.XXXXXX)
NS=(xa-snd xa-rtr xa-rcv)
RPID=
cleanup() {
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null || true
  for n in "${NS[@]}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  sleep 0.3
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$DIR"
}
fail() { echo "$N: FAIL - $*" >&2; [ -f "$DIR/run.log" ] && tail -40 "$DIR/run.log" >&2; exit 1; }
for n in "${NS[@]}"; do
  ip netns list | grep -qw "^$n" && { echo "$N: FAIL - namespace $n exists (another run?)" >&2; exit 1; }
done
for l in xa-s0 xa-s1 xa-r0 xa-r1; do
  ip link show "$l" >/dev/null 2>&1 && { echo "$N: FAIL - interface $l exists" >&2; exit 1; }
done
trap cleanup EXIT

S_MAC=02:71:00:00:00:01 R_MAC=02:71:00:00:00:02   # the router's ports
SND_MAC=02:71:00:00:01:02 RCV_MAC=02:71:00:00:02:02
for n in "${NS[@]}"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add xa-s0 netns xa-snd address $SND_MAC type veth peer name xa-s1 netns xa-rtr address $S_MAC
ip link add xa-r0 netns xa-rcv address $RCV_MAC type veth peer name xa-r1 netns xa-rtr address $R_MAC
for l in xa-s1 xa-r1; do
  ip -n xa-rtr link set $l up
  # The router's side receives what the kernel hands over; no offload on its transmissions.
  ip netns exec xa-rtr ethtool -K $l tx off gso off tso off gro off >/dev/null 2>&1 || true
done
host() { # ns dev mac4 addr4 gw4 addr6 gw6 router-mac
  local ns=$1 dev=$2
  ip -n "$ns" link set "$dev" up
  # The point of the test: the senders keep transmit checksum offload ON. Segmentation
  # offload goes off: a 64 kB TCP super-frame does not fit a ring slot (rx_oversize,
  # another limit of the backend).
  ip netns exec "$ns" ethtool -K "$dev" tx on tso off gso off >/dev/null
  ip netns exec "$ns" ethtool -k "$dev" | grep -q '^tx-checksumming: on' || fail "tx offload not on for $dev"
  ip -n "$ns" addr add "$4" dev "$dev"
  ip -n "$ns" -6 addr add "$6" dev "$dev" nodad
  ip -n "$ns" route add default via "$5"
  ip -n "$ns" -6 route add default via "$7"
  ip -n "$ns" neigh replace "$5" lladdr "$8" dev "$dev" nud permanent
  ip -n "$ns" -6 neigh replace "$7" lladdr "$8" dev "$dev" nud permanent
}
host xa-snd xa-s0 - 10.71.1.2/24 10.71.1.1 fd71:1::2/64 fd71:1::1 $S_MAC
host xa-rcv xa-r0 - 10.71.2.2/24 10.71.2.1 fd71:2::2/64 fd71:2::1 $R_MAC

TOKEN=xa-csum-token-$$-$RANDOM
HASH=$(printf %s "$TOKEN" | "$BIN" ctl hash-token)
cat >"$DIR/p.yaml" <<YAML
router_id: 10.71.0.1
ports:
  - { name: s, backend: af_packet, interface: xa-s1, mac: "$S_MAC" }
  - { name: r, backend: af_packet, interface: xa-r1, mac: "$R_MAC" }
virtual_routers:
  - id: 1
    name: v
    vpn_id: "00a0c9:00000071"
    tenant: t
    interfaces:
      - { port: s, addresses: [10.71.1.1/24, "fd71:1::1/64"] }
      - { port: r, addresses: [10.71.2.1/24, "fd71:2::1/64"] }
neighbors:
  - { port: s, ip: 10.71.1.2, mac: "$SND_MAC" }
  - { port: s, ip: "fd71:1::2", mac: "$SND_MAC" }
  - { port: r, ip: 10.71.2.2, mac: "$RCV_MAC" }
  - { port: r, ip: "fd71:2::2", mac: "$RCV_MAC" }
management:
  listen: 127.0.0.1:18342
  principals:
    - { name: admin, role: carrier-admin, token_hash: "$HASH" }
YAML
"$BIN" check "$DIR/p.yaml" || fail "profile refused"
ip netns exec xa-rtr "$BIN" run "$DIR/p.yaml" --stats-interval 0 >"$DIR/run.log" 2>&1 &
RPID=$!
sleep 2
kill -0 "$RPID" 2>/dev/null || fail "varouter run exited"

# Receiver: UDP on both families and a TCP echo of 100 kB; prints what it got.
cat >"$DIR/rcv.py" <<'PY'
import socket, sys, threading, time
got = {4: set(), 6: set()}
def udp(fam, addr, key):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((addr, 18340)); s.settimeout(0.5)
    end = time.time() + 12
    while time.time() < end and len(got[key]) < 40:
        try: d, _ = s.recvfrom(2048)
        except socket.timeout: continue
        if d[4:] == bytes((i * 7) & 0xff for i in range(1000)):
            got[key].add(int.from_bytes(d[:4], "big"))
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.71.2.2", 18341)); s.listen(1); s.settimeout(12)
    try: c, _ = s.accept()
    except socket.timeout: print("tcp 0", flush=True); return
    c.settimeout(20); n = 0
    while n < 100000:
        d = c.recv(65536)
        if not d: break
        c.sendall(d); n += len(d)
    c.close(); print("tcp", n, flush=True)
ts = [threading.Thread(target=udp, args=(socket.AF_INET, "10.71.2.2", 4)),
      threading.Thread(target=udp, args=(socket.AF_INET6, "fd71:2::2", 6)),
      threading.Thread(target=tcp)]
for t in ts: t.start()
for t in ts: t.join()
print("udp4", len(got[4])); print("udp6", len(got[6]))
PY
cat >"$DIR/snd.py" <<'PY'
import socket, time
payload = bytes((i * 7) & 0xff for i in range(1000))
for fam, dst in ((socket.AF_INET, "10.71.2.2"), (socket.AF_INET6, "fd71:2::2")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for i in range(40):
        s.sendto(i.to_bytes(4, "big") + payload, (dst, 18340)); time.sleep(0.005)
data = bytes(range(256)) * 391; back = b""
try:
    c = socket.create_connection(("10.71.2.2", 18341), timeout=8); c.settimeout(8)
    c.sendall(data[:100000])
    while len(back) < 100000:
        d = c.recv(65536)
        if not d: break
        back += d
except OSError as e:
    print("tcp_error", e, flush=True)
print("tcp_echo_ok", back == data[:100000], flush=True)
PY
ip netns exec xa-rcv python3 "$DIR/rcv.py" >"$DIR/rcv.out" 2>&1 &
RCV=$!
sleep 0.5
timeout 30 ip netns exec xa-snd python3 "$DIR/snd.py" >"$DIR/snd.out" 2>&1 || fail "sender: $(cat "$DIR/snd.out")"
wait $RCV || fail "receiver: $(cat "$DIR/rcv.out")"
cat "$DIR/snd.out" "$DIR/rcv.out"
echo "receiver's kernel: $(ip netns exec xa-rcv cat /proc/net/snmp | awk '/^Udp:/ { if (h) print "UDP InCsumErrors " $8; h = 1 }')"
grep -qx "udp4 40" "$DIR/rcv.out" || fail "IPv4 UDP datagrams lost: $(cat "$DIR/rcv.out")"
grep -qx "udp6 40" "$DIR/rcv.out" || fail "IPv6 UDP datagrams lost: $(cat "$DIR/rcv.out")"
grep -qx "tcp 100000" "$DIR/rcv.out" || fail "TCP did not carry 100 kB"
grep -qx "tcp_echo_ok True" "$DIR/snd.out" || fail "TCP echo differs"
csumerr=$(ip netns exec xa-rcv cat /proc/net/snmp | awk '/^Udp:/ { if (h) print $8; h = 1 }')
[ "$csumerr" = 0 ] || fail "the receiver counted $csumerr UDP checksum errors"
# The same counters live through the management API, in the port's `device` statistics
# and in /metrics (the router's API listens inside its namespace).
api() { ip netns exec xa-rtr curl -sS -m 10 -H "authorization: Bearer $TOKEN" "http://127.0.0.1:18342$1"; }
api /api/v1/stats >"$DIR/stats.json" || fail "GET /api/v1/stats"
python3 - "$DIR/stats.json" <<'PY' || fail "/api/v1/stats shows no rx_csum_completed on ports s and r"
import json, sys
ports = {p["name"]: p for p in json.load(open(sys.argv[1]))["ports"]}
got = {n: ports[n].get("device", {}).get("rx_csum_completed", 0) for n in ("s", "r")}
print("API: rx_csum_completed", got, "kernel_drops", {n: ports[n]["device"].get("kernel_drops") for n in got})
sys.exit(0 if all(v > 0 for v in got.values()) else 1)
PY
api /metrics | grep -E '^varouter_port_device_total\{port="[sr]",stat="rx_csum_completed"\} [1-9]' >"$DIR/metrics.txt" || true
[ "$(wc -l <"$DIR/metrics.txt")" = 2 ] || fail "/metrics lacks varouter_port_device_total rx_csum_completed for ports s and r"
cat "$DIR/metrics.txt"
kill -INT "$RPID"
wait "$RPID" || true
RPID=
for p in s r; do
  awk -v p="$p" '$0 ~ "^port " p " device statistics" { on = 1; next } on && /^port / { on = 0 } on && $1 == "rx_csum_completed" { print $2 }' "$DIR/run.log" | grep -q '^[1-9]' ||
    fail "port $p did not count rx_csum_completed"
done
grep -A6 "device statistics" "$DIR/run.log"
echo "$N: ok"
