#!/usr/bin/env bash
# VR discovery over real UDP (issue 15): three processes of controlplane/examples/discovery_router
# on 127.0.0.1:18210-18212, started one after the other, must converge to the same
# configuration maps: VPN 100 on all three, VPN 200 on routers 1 and 3 (router 2 holds its key
# but has no VR: it answers nothing), VPN 300 on router 3 with a wrong key on router 1 (neither
# sees the other; router 1 counts the unknown key id). Fails (never skips) without python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=51-discovery-udp
command -v python3 >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null; }
}
command -v python3 >/dev/null || { echo "$N: FAIL - python3 missing" >&2; exit 1; }
cargo build -q -p controlplane --example discovery_router
BIN=target/debug/examples/discovery_router
DIR=$(mktemp -d /tmp/$N.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
for port in 18210 18211 18212; do
  if ss -Hlun "sport = :$port" | grep -q .; then echo "$N: FAIL - UDP port $port is taken" >&2; exit 1; fi
done
ROUTERS='{"10.255.0.1":"127.0.0.1:18210","10.255.0.2":"127.0.0.1:18211","10.255.0.3":"127.0.0.1:18212"}'
A='"secret":"secret of VPN 100, shared"'
B='"secret":"secret of VPN 200, shared"'
C='"secret":"secret of VPN 300, shared"'
W='"secret":"not the secret of VPN 300"'
cat >"$DIR/r1.json" <<JSON
{"router_id":"10.255.0.1","listen":"127.0.0.1:18210","routers":$ROUTERS,"run_seconds":4,"rto_initial_ms":200,
 "vpns":[{"id":100,$A,"vr_address":"10.0.0.1"},{"id":200,$B,"vr_address":"2001:db8::1"},{"id":300,$W,"vr_address":"10.3.0.1"}]}
JSON
cat >"$DIR/r2.json" <<JSON
{"router_id":"10.255.0.2","listen":"127.0.0.1:18211","routers":$ROUTERS,"run_seconds":3.5,"rto_initial_ms":200,
 "vpns":[{"id":100,$A,"vr_address":"10.0.0.2"},{"id":200,$B}]}
JSON
cat >"$DIR/r3.json" <<JSON
{"router_id":"10.255.0.3","listen":"127.0.0.1:18212","routers":$ROUTERS,"run_seconds":3,"rto_initial_ms":200,
 "vpns":[{"id":100,$A,"vr_address":"10.0.0.3"},{"id":200,$B,"vr_address":"2001:db8::3"},{"id":300,$C,"vr_address":"10.3.0.3"}]}
JSON
for i in 1 2 3; do
  "$BIN" "$DIR/r$i.json" >"$DIR/r$i.out" 2>"$DIR/r$i.err" &
  PIDS+=($!)
  sleep 0.3
done
for p in "${PIDS[@]}"; do wait "$p" || { echo "$N: FAIL - a router exited with an error" >&2; cat "$DIR"/*.err >&2; exit 1; }; done
PIDS=()
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
out = {i: json.load(open(f"{d}/r{i}.out")) for i in (1, 2, 3)}
want = {
  1: {"100": {"10.255.0.2": "10.0.0.2", "10.255.0.3": "10.0.0.3"},
      "200": {"10.255.0.3": "2001:db8::3"}, "300": {}},
  2: {"100": {"10.255.0.1": "10.0.0.1", "10.255.0.3": "10.0.0.3"}},
  3: {"100": {"10.255.0.1": "10.0.0.1", "10.255.0.2": "10.0.0.2"},
      "200": {"10.255.0.1": "2001:db8::1"}, "300": {}},
}
bad = 0
for i in (1, 2, 3):
    if out[i]["maps"] != want[i]:
        print(f"router {i}: maps {out[i]['maps']}, want {want[i]}", file=sys.stderr); bad += 1
    print(f"router {i}: {out[i]['maps']}\n  {out[i]['counters']}\n  {out[i]['driver']}")
for i in (1, 3):
    if "rx_unknown_key: 0," in out[i]["counters"]:
        print(f"router {i}: the wrong-key VPN 300 traffic was not counted rx_unknown_key", file=sys.stderr); bad += 1
for i in (1, 2, 3):
    if "rx_bad_auth: 0," not in out[i]["counters"] or "rx_wrong_source: 0," not in out[i]["driver"]:
        print(f"router {i}: unexpected authentication or source failures", file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
PY
echo "$N: OK - three routers over UDP converged; the wrong-key VR stayed invisible"
