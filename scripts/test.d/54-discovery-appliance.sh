#!/usr/bin/env bash
# VR discovery inside the appliance (issue 15), three `varouter run` processes on loopback:
# discovery on 127.0.0.1:18240-18242, management APIs on 18243-18245 (mem ports, no
# namespace needed: discovery runs on the host socket of the control core). VPN A has a VR on
# every router but router 3 holds a wrong secret; VPN B has a VR on every router.
#   1. the maps (read with `varouter ctl --json vr map`) converge: A on routers 1 and 2 only,
#      B everywhere; routers 1 and 2 count router 3's messages rx_unknown_key;
#   2. router 2's profile loses VR b2 and gets SIGHUP: b2 is withdrawn from b1's and b3's maps,
#      A's maps stay;
#   3. router 3 is killed (SIGKILL) and started again: its sequence numbers go on above the
#      old ones (wall clock), so the others accept its additions and it learns B again;
#   4. the stats line has a discovery line and the summary lists the maps (SIGINT).
# Fails (never skips) without python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=54-discovery-appliance
command -v python3 >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null; }
}
command -v python3 >/dev/null || { echo "$N: FAIL - python3 missing" >&2; exit 1; }
cargo build -q --bin varouter
BIN=$(pwd)/target/debug/varouter
DIR=$(mktemp -d /tmp/$N.XXXXXX)
declare -A PID=()
cleanup() {
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
for port in 18240 18241 18242; do
  if ss -Hlun "sport = :$port" | grep -q .; then echo "$N: FAIL - UDP port $port is taken" >&2; exit 1; fi
done
for port in 18243 18244 18245; do
  if ss -Hltn "sport = :$port" | grep -q .; then echo "$N: FAIL - TCP port $port is taken" >&2; exit 1; fi
done

TOKEN=disc-suite-admin
HASH=$(printf %s "$TOKEN" | "$BIN" ctl hash-token)
profile() { # n [without-b]
  local n=$1 secret_a="secret of VPN A, thirty-two bytes"
  [ "$n" = 3 ] && secret_a="not the secret of VPN A, really!!"
  cat <<YAML
router_id: 192.0.2.$n
ports:
  - { name: p0, backend: mem, mac: "02:00:00:00:0$n:01" }
virtual_routers:
  - id: 1
    name: a$n
    vpn_id: "00a0c9:00000001"
    tenant: ta
    interfaces:
      - { port: p0, vlan: 10, addresses: [10.1.0.$n/24] }
YAML
  if [ "${2:-}" != without-b ]; then
    cat <<YAML
  - id: 2
    name: b$n
    vpn_id: "00a0c9:00000002"
    tenant: tb
    interfaces:
      - { port: p0, vlan: 20, addresses: [10.2.0.$n/24] }
YAML
  fi
  cat <<YAML
discovery:
  listen: 127.0.0.1:$((18239 + n))
  routers: [192.0.2.1, 192.0.2.2, 192.0.2.3]
  reach:
    - { router: 192.0.2.1, address: "127.0.0.1:18240" }
    - { router: 192.0.2.2, address: "127.0.0.1:18241" }
    - { router: 192.0.2.3, address: "127.0.0.1:18242" }
  vpns:
    - { vpn_id: "00a0c9:00000001", secret: "$secret_a" }
    - { vpn_id: "00a0c9:00000002", secret: "secret of VPN B, thirty-two bytes" }
  rto_initial_ms: 100
  rto_max_ms: 400
  max_attempts: 10
  refresh_s: 0
management:
  listen: 127.0.0.1:$((18242 + n))
  principals:
    - { name: admin, role: carrier-admin, token_hash: "$HASH" }
YAML
}
start() { # n
  "$BIN" run "$DIR/r$1.yaml" --stats-interval 1 >>"$DIR/r$1.out" 2>>"$DIR/r$1.err" &
  PID[$1]=$!
  for _ in $(seq 100); do
    ss -Hltn "sport = :$((18242 + $1))" | grep -q . && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || { echo "$N: FAIL - router $1 stopped at start" >&2; cat "$DIR/r$1.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "$N: FAIL - the API of router $1 did not come up" >&2; exit 1
}
ctl() { # n args...
  local n=$1; shift
  "$BIN" ctl --api "http://127.0.0.1:$((18242 + n))" --token "$TOKEN" "$@"
}
# expect n vr 'router=address,...' (empty: no peer): waits up to 15 s for the map.
expect() {
  local n=$1 vr=$2 want=$3 got=""
  for _ in $(seq 150); do
    got=$(ctl "$n" --json vr map "$vr" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(",".join(p["router"] + "=" + p["address"] for p in sorted(m["peers"], key=lambda p: p["router"])))')
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  echo "$N: FAIL - router $n: map of $vr is '$got', want '$want'" >&2
  exit 1
}
counter() { # n name
  ctl "$1" --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['discovery']['counters']['$2'])"
}

for n in 1 2 3; do profile "$n" >"$DIR/r$n.yaml"; "$BIN" check "$DIR/r$n.yaml" >/dev/null; done
for n in 1 2 3; do start "$n"; done

# 1. Convergence; the wrong key is refused and counted.
expect 1 a1 "192.0.2.2=10.1.0.2"
expect 2 a2 "192.0.2.1=10.1.0.1"
expect 3 a3 ""
expect 1 b1 "192.0.2.2=10.2.0.2,192.0.2.3=10.2.0.3"
expect 2 b2 "192.0.2.1=10.2.0.1,192.0.2.3=10.2.0.3"
expect 3 b3 "192.0.2.1=10.2.0.1,192.0.2.2=10.2.0.2"
for n in 1 2; do
  k=$(counter "$n" rx_unknown_key)
  [ "$k" -gt 0 ] || { echo "$N: FAIL - router $n did not count router 3's wrong-key messages" >&2; exit 1; }
done
ctl 1 vr map b1 | tee "$DIR/map.txt"
grep -q "announced" "$DIR/map.txt" && grep -q "192.0.2.3" "$DIR/map.txt" ||
  { echo "$N: FAIL - ctl vr map shows no table" >&2; exit 1; }

# 2. A reload removes b2: withdrawn from the other maps; VPN A untouched.
profile 2 without-b >"$DIR/r2.yaml"
kill -HUP "${PID[2]}"
expect 1 b1 "192.0.2.3=10.2.0.3"
expect 3 b3 "192.0.2.1=10.2.0.1"
expect 1 a1 "192.0.2.2=10.1.0.2"
grep -q "discovery: VR 2 of VPN 2 withdrawn" "$DIR/r2.err" ||
  { echo "$N: FAIL - the reload did not report the withdrawal" >&2; cat "$DIR/r2.err" >&2; exit 1; }

# 3. Router 3 dies and comes back: it is accepted again (no replay) and relearns B.
kill -9 "${PID[3]}"; wait "${PID[3]}" 2>/dev/null || true; unset 'PID[3]'
start 3
expect 3 b3 "192.0.2.1=10.2.0.1"
expect 1 b1 "192.0.2.3=10.2.0.3"
r=$(counter 1 rx_replay)
[ "$r" = 0 ] || { echo "$N: FAIL - router 1 counted $r replays after router 3 restarted" >&2; exit 1; }

# 4. Stats line and summary.
sleep 1.2
grep -q "discovery: 2 VR(s) announced" "$DIR/r1.out" ||
  { echo "$N: FAIL - no discovery stats line" >&2; tail -5 "$DIR/r1.out" >&2; exit 1; }
kill -INT "${PID[1]}"; wait "${PID[1]}" || true; unset 'PID[1]'
grep -q "discovery configuration maps" "$DIR/r1.out" && grep -q "discovery_rx_unknown_key" "$DIR/r1.out" ||
  { echo "$N: FAIL - the summary lists no maps or counters" >&2; tail -30 "$DIR/r1.out" >&2; exit 1; }
echo "$N: OK - three appliances found their VPNs' VRs, refused the wrong key, followed a reload and a restart"
