#!/usr/bin/env bash
# LDP inside the appliance (issue 15, seed 001 Fig. 13): `varouter run` as a transit router P
# (af_packet ports) between two LDP peers, with no static label:
#   PE-E (our ldp_peer example, LSR 10.255.0.1) -- P (varouter, 10.255.0.2) -- PE-F (FRR 8.4
#   zebra + ldpd, LSR 10.255.0.3)
# 1. sessions OPERATIONAL on all three; FRR learns P's label E_E for 10.255.0.1/32 (vtysh
#    `show mpls ldp binding`), PE-E learns P's label E_F for 10.255.0.3/32;
# 2. P's label matrix (`varouter ctl --json ldp`: the installed cross connects and what the
#    control loop's label matrix holds): E_E swaps to PE-E's label for its loopback via
#    10.99.1.1, E_F pops and forwards to 10.99.2.3 (FRR advertises Implicit NULL);
# 3. `varouter ctl ldp` prints the tables; a tenant gets 403;
# 4. FRR's ldpd is killed: P's session with it ends (Shutdown notification) and E_F leaves
#    the label matrix, E_E stays; the stats line carries an LDP line.
# Namespaces vx-ldp-{e,p,f}, links vx-l*, management API on 127.0.0.1:18280 inside vx-ldp-p.
# Installs frr when missing and fails (never skips) without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
T=55-ldp-appliance
say() { echo "$T: $*"; }
fail() { echo "$T: FAIL - $*" >&2; exit 1; }

need=()
[ -x /usr/lib/frr/ldpd ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null || need+=(frr)
command -v python3 >/dev/null || need+=(python3)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } ||
    fail "could not install ${need[*]}"
fi
[ -x /usr/lib/frr/ldpd ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null || fail "FRR (zebra, ldpd, vtysh) missing"
command -v python3 >/dev/null || fail "python3 missing"
command -v tcpdump >/dev/null && command -v curl >/dev/null || fail "tcpdump/curl missing"

NE=vx-ldp-e NP=vx-ldp-p NF=vx-ldp-f
for ns in $NE $NP $NF; do ip netns list | grep -qw "$ns" && fail "namespace $ns already exists (another run?)"; done
for l in vx-le vx-lpe vx-lpf vx-lf; do ip link show "$l" >/dev/null 2>&1 && fail "link $l already exists"; done

cargo build -q --bin varouter
cargo build -q -p controlplane --example ldp_peer
BIN=$ROOT/target/debug/varouter
PEER=$ROOT/target/debug/examples/ldp_peer
[ -x "$BIN" ] && [ -x "$PEER" ] || fail "varouter / ldp_peer not built"

W=$(mktemp -d -t ldp-app.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$W"/frr/frr/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.3
  for ns in $NE $NP $NF; do ip netns del $ns 2>/dev/null || true; done
  if [ "${KEEP:-}" = 1 ]; then echo "$T: artefacts kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

for ns in $NE $NP $NF; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add vx-le netns $NE type veth peer name vx-lpe netns $NP
ip link add vx-lf netns $NF type veth peer name vx-lpf netns $NP
ip -n $NE addr add 10.99.1.1/24 dev vx-le
ip -n $NP addr add 10.99.1.2/24 dev vx-lpe
ip -n $NP addr add 10.99.2.2/24 dev vx-lpf
ip -n $NF addr add 10.99.2.3/24 dev vx-lf
ip -n $NE addr add 10.255.0.1/32 dev lo
ip -n $NP addr add 10.255.0.2/32 dev lo
ip -n $NF addr add 10.255.0.3/32 dev lo
for x in "$NE vx-le" "$NP vx-lpe" "$NP vx-lpf" "$NF vx-lf"; do set -- $x; ip -n "$1" link set "$2" up; done
# P's LSR Id (its transport address) is reached over the links (an IGP would say so).
ip -n $NE route add 10.255.0.2/32 via 10.99.1.2
ip -n $NF route add 10.255.0.2/32 via 10.99.2.2
# LDP's sockets are host sockets: P's kernel owns the trunk addresses too, so the ports use
# the veths' own MACs (the kernel's and the appliance's ARP answers agree).
mac() { ip -n $NP -o link show "$1" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
MAC_E=$(mac vx-lpe) MAC_F=$(mac vx-lpf)
[ -n "$MAC_E" ] && [ -n "$MAC_F" ] || fail "could not read the veth MACs"

TOKEN=ldp-suite-admin TTOKEN=ldp-suite-tenant
HASH=$(printf %s "$TOKEN" | "$BIN" ctl hash-token)
THASH=$(printf %s "$TTOKEN" | "$BIN" ctl hash-token)
cat > "$W/p.yaml" <<YAML
router_id: 10.255.0.2
ports:
  - { name: to-e, backend: af_packet, interface: vx-lpe, mac: "$MAC_E", trunk: true, addresses: [10.99.1.2/24] }
  - { name: to-f, backend: af_packet, interface: vx-lpf, mac: "$MAC_F", trunk: true, addresses: [10.99.2.2/24] }
labels: { min: 16, max: 19999 }
label_matrix:
  - { label: 16001, action: pop-next }
ldp:
  ports: [to-e, to-f]
  labels: { min: 20000, max: 20999 }
  hello_interval_s: 2
  hold_time_s: 6
  keepalive_s: 15
management:
  listen: 127.0.0.1:18280
  principals:
    - { name: admin, role: carrier-admin, token_hash: "$HASH" }
    - { name: t, role: tenant-admin, tenant: ta, token_hash: "$THASH" }
YAML
"$BIN" check "$W/p.yaml" >/dev/null || fail "P's profile does not check"

# PE-F: FRR.
mkdir -p "$W/frr"; chmod 777 "$W" "$W/frr"; touch "$W/frr.log"; chmod 666 "$W/frr.log"
sed "s|@DIR@|$W|g" tests/interop/ldp/zebra.conf.in > "$W/zebra.conf"
sed "s|@DIR@|$W|g" tests/interop/ldp/ldpd-pe.conf.in > "$W/ldpd.conf"
ip netns exec $NF unshare -m sh -c "mount --bind $W/frr /run && mkdir -p /run/frr && chown frr:frr /run/frr &&
    /usr/lib/frr/zebra -d -f $W/zebra.conf -i /run/frr/zebra.pid && sleep 1 &&
    /usr/lib/frr/ldpd -d -f $W/ldpd.conf -i /run/frr/ldpd.pid" || fail "FRR zebra/ldpd did not start (see $W/frr.log)"
VTY="vtysh --vty_socket $W/frr/frr"
# PE-E: our speaker.
ip netns exec $NE "$PEER" --router-id 10.255.0.1 --interface 10.99.1.1 --labels 30000-30999 \
    --hello-interval 2 --hold 6 --keepalive 15 --duration 170 > "$W/e.jsonl" 2> "$W/e.log" &
PIDS+=($!)
# P: the appliance.
ip netns exec $NP "$BIN" run "$W/p.yaml" --stats-interval 1 > "$W/p.out" 2> "$W/p.err" &
P_PID=$!
PIDS+=($P_PID)
ctl() { ip netns exec $NP "$BIN" ctl --api http://127.0.0.1:18280 --token "${CTL_TOKEN:-$TOKEN}" "$@"; }

# e_label PREFIX: the label PE-E learnt from P for PREFIX (last event wins).
e_label() {
  python3 - "$W/e.jsonl" "$1" <<'PY'
import json, sys
out = ""
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") in ("binding_learnt", "binding_lost") and e["prefix"] == sys.argv[2] and e["peer"] == "10.255.0.2":
        out = str(e["label"]) if e["event"] == "binding_learnt" else ""
print(out)
PY
}
# ldp_get EXPR: evaluates a Python expression over P's LDP document `d`.
ldp_get() {
  ctl --json ldp 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
def local(f): return next((b['local_label'] for b in d['bindings'] if b['fec'] == f), None)
def remote(f, p): return next((r['label'] for b in d['bindings'] if b['fec'] == f for r in b['remote'] if r['peer'] == p), None)
def xc(l): return next((x for x in d['cross_connects'] if x['in_label'] == l), None)
def lm(l): return next((x['op'] for x in d['label_matrix'] if x['label'] == l), None)
def sess(p): return next((s['state'] for s in d['sessions'] if s['peer'] == p), None)
print($1)" 2>/dev/null || true
}

T0=$(date +%s.%N)
ok=0
for _ in $(seq 1 80); do
  sleep 0.5
  kill -0 $P_PID 2>/dev/null || { cat "$W/p.err" >&2; fail "varouter run exited"; }
  if [ "$(ldp_get "sess('10.255.0.1') == 'OPERATIONAL' and sess('10.255.0.3') == 'OPERATIONAL' and xc(local('10.255.0.1/32')) is not None and xc(local('10.255.0.3/32')) is not None")" = True ] &&
     [ -n "$(e_label 10.255.0.3/32)" ] &&
     $VTY -c 'show mpls ldp binding' 2>/dev/null | grep -Eq '^ipv4 +10\.255\.0\.1/32 +10\.255\.0\.2 +[^ ]+ +20[0-9]{3}( |$)'; then
    ok=1; break
  fi
done
CONVERGED=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$T0" "$(date +%s.%N)")
$VTY -c 'show mpls ldp neighbor' > "$W/frr-neighbor.txt" 2>&1 || true
$VTY -c 'show mpls ldp binding' > "$W/frr-binding.txt" 2>&1 || true
ctl ldp > "$W/ctl-ldp.txt" 2>&1 || true
ctl --json ldp > "$W/ldp.json" 2>&1 || true
if [ $ok != 1 ]; then
  echo "--- P" >&2; cat "$W/ctl-ldp.txt" "$W/p.err" >&2; tail -5 "$W/p.out" >&2
  echo "--- PE-E" >&2; tail -20 "$W/e.jsonl" >&2
  echo "--- FRR" >&2; cat "$W/frr-neighbor.txt" "$W/frr-binding.txt" >&2; tail -20 "$W/frr.log" >&2
  fail "sessions, bindings or cross connects not there within 40 s"
fi
grep -q OPERATIONAL "$W/frr-neighbor.txt" || fail "FRR's neighbour is not OPERATIONAL"
E_E=$(ldp_get "local('10.255.0.1/32')")   # P's label toward PE-E
E_F=$(ldp_get "local('10.255.0.3/32')")   # P's label toward PE-F
F_E=$(ldp_get "remote('10.255.0.1/32', '10.255.0.1')")  # PE-E's own label
F_F=$(ldp_get "remote('10.255.0.3/32', '10.255.0.3')")  # FRR's own label (Implicit NULL)
say "converged (both sessions, both cross connects, both peers' bindings) $CONVERGED s after P started"
say "P advertises $E_E for PE-E's 10.255.0.1/32 (PE-E's label $F_E) and $E_F for PE-F's 10.255.0.3/32 (FRR's label $F_F)"
# 1. The peers learnt P's labels.
grep -Eq "^ipv4 +10\.255\.0\.1/32 +10\.255\.0\.2 +[^ ]+ +$E_E( |$)" "$W/frr-binding.txt" ||
  { cat "$W/frr-binding.txt" >&2; fail "FRR did not learn P's label $E_E for 10.255.0.1/32"; }
[ "$(e_label 10.255.0.3/32)" = "$E_F" ] || fail "PE-E learnt $(e_label 10.255.0.3/32) for 10.255.0.3/32, not P's $E_F"
frr_own=$(grep -E '^ipv4 +10\.255\.0\.3/32 ' "$W/frr-binding.txt" | head -1 | awk '{print $4}')
[ "$frr_own" = imp-null ] || fail "FRR's own label for 10.255.0.3/32 is $frr_own, expected imp-null"
[ "$F_F" = 3 ] || fail "P learnt $F_F from FRR for 10.255.0.3/32, expected 3 (Implicit NULL)"
# 2. P's label matrix: swap E -> F toward PE-E, pop-forward toward FRR; its own FEC pops.
[ "$(ldp_get "xc($E_E)['action'], xc($E_E)['out_label'], xc($E_E)['via'], xc($E_E)['port']")" = "swap $F_E 10.99.1.1 to-e" ] ||
  { cat "$W/ctl-ldp.txt" >&2; fail "P does not swap $E_E -> $F_E via 10.99.1.1"; }
[ "$(ldp_get "xc($E_F)['action'], xc($E_F)['via'], xc($E_F)['port']")" = "pop-forward 10.99.2.3 to-f" ] ||
  { cat "$W/ctl-ldp.txt" >&2; fail "P does not pop-forward $E_F to 10.99.2.3"; }
ldp_get "lm($E_E)" | grep -q "Swap.*$F_E" || { cat "$W/ldp.json" >&2; fail "the label matrix does not hold swap $E_E -> $F_E"; }
ldp_get "lm($E_F)" | grep -q "PopAndForward" || { cat "$W/ldp.json" >&2; fail "the label matrix does not hold pop-forward at $E_F"; }
OWN=$(ldp_get "local('10.255.0.2/32')")
ldp_get "lm($OWN)" | grep -qx "Pop" || { cat "$W/ldp.json" >&2; fail "P's own label $OWN is not pop-next"; }
[ "$(ldp_get "lm(16001)")" = None ] || fail "the static label 16001 is inside LDP's view (it should not be)"
# 2b. The data plane follows: a packet labelled E_E sent by PE-F leaves P toward PE-E with
# PE-E's label; one labelled E_F sent by PE-E reaches PE-F unlabelled (PHP). The first ones
# may be dropped: a label-matrix next hop is resolved by the neighbour service's periodic
# retry (every 3 s), not on a miss, so the packets go on for 7.5 s.
send() { # NS IFACE DST_MAC LABEL SRC DST
  ip netns exec "$1" python3 - "$2" "$3" "$4" "$5" "$6" <<'PY'
import socket, struct, sys, time
ifc, dmac, label, src, dst = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifc, 0))
smac = s.getsockname()[4][:6]
payload = b"varouter-ldp-55"
udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
csum = sum(struct.unpack("!10H", ip)); csum = (csum & 0xffff) + (csum >> 16); csum = ~((csum & 0xffff) + (csum >> 16)) & 0xffff
ip = ip[:10] + struct.pack("!H", csum) + ip[12:]
mpls = struct.pack("!I", (label << 12) | (1 << 8) | 64)
for _ in range(10):
    s.send(dmac + smac + b"\x88\x47" + mpls + ip + udp)
    time.sleep(0.2)
PY
}
[ -n "${DEBUG_PAUSE:-}" ] && { echo "paused: $W"; sleep "$DEBUG_PAUSE"; }
ip netns exec $NE timeout 12 tcpdump -nn -c 1 -i vx-le "mpls $F_E and udp port 9" > "$W/swap.txt" 2>/dev/null &
CAP1=$!
ip netns exec $NF timeout 12 tcpdump -nn -c 1 -i vx-lf "udp port 9 and dst host 10.255.0.3" > "$W/php.txt" 2>/dev/null &
CAP2=$!
sleep 1
send $NF vx-lf "$MAC_F" "$E_E" 10.99.2.3 10.255.0.1 &
send $NE vx-le "$MAC_E" "$E_F" 10.99.1.1 10.255.0.3
wait $CAP1 || true; wait $CAP2 || true
dp_fail() { kill -INT $P_PID; wait $P_PID 2>/dev/null || true; sed -n '/=== varouter summary/,$p' "$W/p.out" >&2; fail "$@"; }
grep -q "MPLS (label $F_E" "$W/swap.txt" || { cat "$W/swap.txt" >&2; dp_fail "a packet labelled $E_E did not leave P toward PE-E with label $F_E"; }
grep -q "10.255.0.3.9" "$W/php.txt" && ! grep -q MPLS "$W/php.txt" || { cat "$W/php.txt" >&2; dp_fail "a packet labelled $E_F did not reach PE-F unlabelled"; }
say "data plane: $E_E -> $F_E toward PE-E and $E_F -> (popped) toward PE-F seen on the wire"
# 3. The table view, and a tenant is refused.
grep -q "cross connects" "$W/ctl-ldp.txt" && grep -q "10.255.0.1/32" "$W/ctl-ldp.txt" || { cat "$W/ctl-ldp.txt" >&2; fail "ctl ldp printed no tables"; }
CTL_TOKEN=$TTOKEN ctl ldp > "$W/tenant.txt" 2>&1 && fail "a tenant read LDP"
grep -q 403 "$W/tenant.txt" || grep -qi forbidden "$W/tenant.txt" || { cat "$W/tenant.txt" >&2; fail "the tenant was not refused with 403"; }
# 3b. The statistics snapshot and the metrics carry LDP.
[ "$(ctl --json stats | python3 -c 'import json,sys; l=json.load(sys.stdin)["ldp"]; print(l["sessions_up"], l["cross_connects"], l["counters"]["labels_set"] >= 3)')" = "2 3 True" ] ||
  { ctl --json stats >&2; fail "/api/v1/stats has no (or a wrong) ldp part"; }
ip netns exec $NP curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18280/metrics > "$W/metrics.txt" || fail "GET /metrics failed"
grep -q '^varouter_ldp_sessions_up 2$' "$W/metrics.txt" && grep -q '^varouter_ldp_cross_connects 3$' "$W/metrics.txt" &&
  grep -q 'varouter_ldp_events_total{event="mappings_received"}' "$W/metrics.txt" ||
  { grep ldp "$W/metrics.txt" >&2; fail "/metrics has no LDP series"; }
# 4. FRR's ldpd goes away: its cross connect must leave the matrix, PE-E's stays.
kill "$(cat "$W/frr/frr/ldpd.pid")"
T1=$(date +%s.%N)
gone=0
for _ in $(seq 1 30); do
  sleep 0.5
  if [ "$(ldp_get "sess('10.255.0.3') is None and xc($E_F) is None and lm($E_F) is None and xc($E_E) is not None")" = True ]; then gone=1; break; fi
done
[ $gone = 1 ] || { ctl ldp >&2; fail "after FRR's ldpd stopped, its cross connect stayed (or PE-E's went)"; }
say "FRR's cross connect left the label matrix $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$T1" "$(date +%s.%N)") s after ldpd was killed"
grep -q "ldp: .*session(s) up" "$W/p.out" || fail "no LDP stats line"
kill -INT $P_PID; wait $P_PID 2>/dev/null || true
grep -q "ldp_sessions_down" "$W/p.out" || { tail -30 "$W/p.out" >&2; fail "the summary has no LDP counters"; }
say "FRR learnt $E_E for 10.255.0.1/32, PE-E learnt $E_F for 10.255.0.3/32; P swapped $E_E -> $F_E via 10.99.1.1 and popped $E_F toward FRR; FRR stopped -> $E_F left the label matrix"
say "PASS"
