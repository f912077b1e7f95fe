#!/usr/bin/env bash
# Management API end to end (issue 11) with real clients, on tests/mgmt-ctl/profile.yaml:
# three VPN customers A, B, C on mem ports with generator flows in both directions.
#  (a) curl as the carrier and as a tenant: delegate B to carrier-b, the tenant changes a
#      route of B, cannot see A or C (404, absent from lists), revoke, the tenant now gets
#      404 for B; then `varouter ctl` does the same in table and --json mode, and its exit
#      codes (2 refused, 3 unreachable) are checked.
#  (b) ZERO LOSS: while the generator runs, VLAN 30 is moved A -> B -> A ... and routes of C
#      are added and deleted many times through the API; the run summary must show every
#      packet of every flow delivered (sent == delivered), except the flow whose own route
#      was being deleted (which must show loss: the judge can see it).
#  (c) config save, restart from the saved file, `config show` identical before and after.
#  (d) TLS: the API with a self-signed certificate; curl --cacert and ctl --ca reach it,
#      ctl without --ca is refused (exit 3).
# Installs curl, jq and openssl when missing; fails (never skips) without them.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=47-mgmt-api
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "$T: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
for c in curl jq openssl; do command -v $c >/dev/null || { echo "$T: FAIL - $c missing" >&2; exit 1; }; done

[ -n "${VAROUTER:-}" ] || cargo build -q --release
VAROUTER=${VAROUTER:-$PWD/target/release/varouter}
PORT1=18130 PORT2=18131 PORT3=18133
API=http://127.0.0.1:$PORT1
W=$(mktemp -d -t mgmt-api.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi; }
trap cleanup EXIT
fail() { echo "$T: FAIL - $*" >&2; [ -f "$W/run.err" ] && tail -20 "$W/run.err" >&2; exit 1; }
ok() { echo "  ok: $*"; }
need2xx() { case $CODE in 2??) ;; *) fail "$1: HTTP $CODE $(cat "$W/body")" ;; esac; }

# Tokens for this run and their argon2id hashes (varouter's own hashing).
tok() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
ADMIN=$(tok) TENANT=$(tok) RO=$(tok)
ADMIN_HASH=$(printf '%s\n' "$ADMIN" | "$VAROUTER" ctl hash-token)
TENANT_HASH=$(printf '%s\n' "$TENANT" | "$VAROUTER" ctl hash-token)
RO_HASH=$(printf '%s\n' "$RO" | "$VAROUTER" ctl hash-token)
sed -e "s|@LISTEN@|127.0.0.1:$PORT1|; s|@RATE@|${RATE:-20000}|" \
    -e "s|@ADMIN_HASH@|$ADMIN_HASH|; s|@TENANT_HASH@|$TENANT_HASH|; s|@RO_HASH@|$RO_HASH|" \
    tests/mgmt-ctl/profile.yaml > "$W/profile.yaml"
"$VAROUTER" check "$W/profile.yaml" >/dev/null || fail "profile does not check"

wait_api() { # PORT
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1/openapi.json" 2>/dev/null && return 0
    [ -n "$PID" ] && ! kill -0 "$PID" 2>/dev/null && fail "varouter exited before the API came up"
    sleep 0.1
  done
  fail "API on port $1 did not come up"
}

"$VAROUTER" run "$W/profile.yaml" --duration 300 --stats-interval 0 > "$W/run.out" 2> "$W/run.err" &
PID=$!
wait_api $PORT1

# --- (a) curl: carrier and tenant -------------------------------------------------------
# call METHOD PATH TOKEN [BODY] -> prints the body, sets CODE
call() {
  local m=$1 p=$2 t=$3 b=${4:-}
  local args=(-sS -o "$W/body" -w '%{http_code}' -X "$m" -H "authorization: Bearer $t")
  [ -n "$b" ] && args+=(-H 'content-type: application/json' --data "$b")
  CODE=$(curl "${args[@]}" "$API$p")
  cat "$W/body"
}
expect() { # CODE_WANTED (or 2xx) WHAT
  case "$1:$CODE" in 2xx:2??) ;; *) [ "$CODE" = "$1" ] || fail "$2: HTTP $CODE, expected $1: $(cat "$W/body")";; esac
  ok "$2 -> $1"
}
echo "$T: (a) curl as carrier and tenant"
curl -fsS "$API/openapi.json" | jq -S . > "$W/openapi.served.json" || fail "GET /openapi.json"
jq -S . docs/openapi.json | cmp -s - "$W/openapi.served.json" ||
  fail "the served OpenAPI document differs from docs/openapi.json (UPDATE_OPENAPI=1 cargo test --test openapi)"
ok "GET /openapi.json (no token) is docs/openapi.json"
call GET /api/v1/vrs "$ADMIN" >/dev/null; jq -e 'map(.name) | sort == ["A","B","C"]' "$W/body" >/dev/null ||
  fail "carrier does not list A, B, C: $(cat "$W/body")"
expect 200 "carrier lists A, B, C"
call GET /api/v1/vrs nonsense >/dev/null; expect 401 "unknown token"
call GET /api/v1/vrs "$TENANT" >/dev/null; jq -e 'length == 0' "$W/body" >/dev/null || fail "tenant sees VRs before delegation"
expect 200 "tenant lists nothing before delegation"
call GET /api/v1/vrs/B "$TENANT" >/dev/null; expect 404 "tenant reads B before delegation"
call PUT /api/v1/vrs/B/tenant "$ADMIN" '{"tenant":"carrier-b"}' >/dev/null; expect 2xx "carrier delegates B to carrier-b"
call GET /api/v1/vrs "$TENANT" >/dev/null; jq -e 'map(.name) == ["B"]' "$W/body" >/dev/null || fail "tenant list is not [B]: $(cat "$W/body")"
expect 200 "tenant lists only B"
call POST /api/v1/vrs/B/routes "$TENANT" '{"prefix":"10.9.0.0/16","via":"10.255.0.2"}' >/dev/null
expect 2xx "tenant adds a route to B"
call GET /api/v1/vrs/B/routes "$TENANT" >/dev/null; jq -e 'any(.prefix == "10.9.0.0/16")' "$W/body" >/dev/null ||
  fail "the tenant's route is not listed"
call DELETE /api/v1/vrs/B/routes/10.9.0.0%2F16 "$TENANT" >/dev/null; expect 2xx "tenant deletes it again"
for vr in A C nosuchvr; do
  call GET /api/v1/vrs/$vr "$TENANT" >/dev/null; expect 404 "tenant reads $vr"
  call GET /api/v1/vrs/$vr/routes "$TENANT" >/dev/null; expect 404 "tenant lists routes of $vr"
  call POST /api/v1/vrs/$vr/routes "$TENANT" '{"prefix":"10.9.0.0/16","via":"10.255.0.2"}' >/dev/null
  expect 404 "tenant adds a route to $vr"
done
call POST /api/v1/transaction "$TENANT" \
  '{"changes":[{"op":"add_route","vr":"B","route":{"prefix":"10.9.0.0/16","via":"10.255.0.2"}},
               {"op":"add_route","vr":"A","route":{"prefix":"10.9.0.0/16","via":"10.255.0.2"}}]}' >/dev/null
expect 404 "tenant transaction touching A"
call GET /api/v1/vrs/B/routes "$ADMIN" >/dev/null; jq -e 'all(.prefix != "10.9.0.0/16")' "$W/body" >/dev/null ||
  fail "a refused transaction left its first change applied"
ok "the refused transaction changed nothing"
call POST /api/v1/vrs "$TENANT" '{"id":9,"name":"Z","vpn_id":"00a0c9:00000009","tenant":"carrier-b"}' >/dev/null
expect 403 "tenant creates a VR"
call GET /api/v1/stats "$TENANT" >/dev/null; jq -e '(.vrs | map(.name)) == ["B"] and (.ports | length) == 0' "$W/body" >/dev/null ||
  fail "tenant stats show more than B: $(head -c 400 "$W/body")"
ok "tenant stats show only B"
call POST /api/v1/vrs/B/routes "$RO" '{"prefix":"10.9.0.0/16","via":"10.255.0.2"}' >/dev/null
expect 403 "read-only writes"
call POST /api/v1/vrs/B/routes "$ADMIN" '{"prefix":"10.9.0.0/16","via":"10.9.9.9"}' >/dev/null
expect 422 "next hop not on-link"
jq -e '.error.code == "invalid_change" and (.error.message | length > 0)' "$W/body" >/dev/null ||
  fail "no error body: $(cat "$W/body")"
call POST /api/v1/vrs/B/routes "$ADMIN" '{"prefix":"10.9.0.0/16","via":"10.255.0.2","colour":"red"}' >/dev/null
expect 400 "unknown field"
call DELETE /api/v1/vrs/B/tenant "$ADMIN" >/dev/null; expect 2xx "carrier revokes B"
call GET /api/v1/vrs/B "$TENANT" >/dev/null; expect 404 "tenant reads B after revocation"
call GET /api/v1/vrs "$ADMIN" >/dev/null; jq -e '.[] | select(.name == "B") | .tenant == "carrier-a"' "$W/body" >/dev/null ||
  fail "B did not go back to the owner"
ok "B is back with carrier-a"

# --- (a) varouter ctl: the same in table and --json mode -------------------------------
echo "$T: (a) varouter ctl"
export VAROUTER_API=$API
ctl() { "$VAROUTER" ctl "$@"; }
ctlrc() { set +e; "$VAROUTER" ctl "$@" > "$W/ctl.out" 2> "$W/ctl.err"; RC=$?; set -e; }
VAROUTER_TOKEN=$ADMIN ctl vr list > "$W/t"
head -1 "$W/t" | grep -qE '^name +id +vpn_id +tenant' || fail "ctl vr list heading: $(head -1 "$W/t")"
[ "$(grep -cE '^(A|B|C) ' "$W/t")" = 3 ] || fail "ctl vr list rows: $(cat "$W/t")"
ok "ctl vr list (table)"
VAROUTER_TOKEN=$ADMIN ctl vr delegate B carrier-b >/dev/null
VAROUTER_TOKEN=$TENANT ctl --json vr list | jq -e 'map(.name) == ["B"]' >/dev/null || fail "ctl --json vr list as tenant"
ok "ctl --json vr list as the tenant shows only B"
VAROUTER_TOKEN=$TENANT ctl route add B 10.9.0.0/16 --via 10.255.0.2 >/dev/null
VAROUTER_TOKEN=$TENANT ctl route list B | grep -qE '^10\.9\.0\.0/16 +10\.255\.0\.2' || fail "ctl route list B"
VAROUTER_TOKEN=$TENANT ctl --json route list B | jq -e 'any(.prefix == "10.9.0.0/16")' >/dev/null || fail "ctl --json route list"
VAROUTER_TOKEN=$TENANT ctl route del B 10.9.0.0/16 >/dev/null
ok "ctl route add/list/del as the tenant"
VAROUTER_TOKEN=$TENANT ctlrc vr show A
[ "$RC" = 2 ] && grep -q "404 not_found" "$W/ctl.err" || fail "ctl vr show A as tenant: rc $RC $(cat "$W/ctl.err")"
ok "ctl vr show A as the tenant: exit 2, 404 not_found"
VAROUTER_TOKEN=$ADMIN ctlrc route add B 10.9.0.0/16 --via 10.9.9.9
[ "$RC" = 2 ] && grep -q "422 invalid_change" "$W/ctl.err" || fail "ctl invalid route: rc $RC $(cat "$W/ctl.err")"
ok "ctl refused change: exit 2 with the API's code: $(cat "$W/ctl.err")"
VAROUTER_TOKEN=$ADMIN ctlrc --json route add B 10.9.0.0/16 --via 10.9.9.9
[ "$RC" = 2 ] && jq -e '.error.code == "invalid_change" and .error.pointer == "/route/via"' "$W/ctl.out" >/dev/null ||
  fail "ctl --json error object: rc $RC $(cat "$W/ctl.out")"
ok "ctl --json prints the API's error object (pointer /route/via)"
VAROUTER_TOKEN=$ADMIN ctl vr revoke B >/dev/null
VAROUTER_TOKEN=$TENANT ctlrc route list B
[ "$RC" = 2 ] || fail "tenant route list B after ctl revoke: rc $RC"
ok "after ctl vr revoke the tenant gets 404"
VAROUTER_TOKEN=$ADMIN ctl vr delegate A carrier-b >/dev/null
VAROUTER_TOKEN=$ADMIN ctl vr delegate B carrier-b >/dev/null
VAROUTER_TOKEN=$TENANT ctl iface move A B access0.30 >/dev/null || fail "tenant moves a VLAN between its VRs"
VAROUTER_TOKEN=$TENANT ctlrc iface move B C access0.30
[ "$RC" = 2 ] && grep -q "404 not_found" "$W/ctl.err" || fail "tenant moves into C: rc $RC $(cat "$W/ctl.err")"
VAROUTER_TOKEN=$TENANT ctl iface move B A access0.30 >/dev/null || fail "tenant moves the VLAN back"
VAROUTER_TOKEN=$ADMIN ctl iface list A | grep -qE '^access0 +30 ' || fail "access0.30 is not back in A"
VAROUTER_TOKEN=$ADMIN ctl vr revoke A >/dev/null
VAROUTER_TOKEN=$ADMIN ctl vr revoke B >/dev/null
ok "a tenant moves a VLAN between its two VRs, not into another's (404)"
VAROUTER_TOKEN=$ADMIN ctlrc --api http://127.0.0.1:18139 vr list
[ "$RC" = 3 ] || fail "unreachable API: rc $RC"
ok "unreachable API: exit 3"
cat > "$W/txn.json" <<'JSON'
{"changes": [
  {"op": "add_route", "vr": "A", "route": {"prefix": "10.91.0.0/16", "via": "10.255.0.2"}},
  {"op": "add_route", "vr": "C", "route": {"prefix": "10.91.0.0/16", "via": "10.9.9.9"}}
]}
JSON
VAROUTER_TOKEN=$ADMIN ctlrc txn "$W/txn.json"
[ "$RC" = 2 ] && grep -q "422 invalid_change.*(at /changes/1/route/via)" "$W/ctl.err" ||
  fail "ctl txn with a bad second change: rc $RC $(cat "$W/ctl.err")"
VAROUTER_TOKEN=$ADMIN ctl route list A | grep -q '^10\.91\.' && fail "the refused transaction's first change was applied"
ok "ctl txn: refused whole, pointer to the bad change ($(cat "$W/ctl.err"))"
sed -i 's/10\.9\.9\.9/10.255.0.2/' "$W/txn.json"
VAROUTER_TOKEN=$ADMIN ctl txn "$W/txn.json" --dry-run > "$W/t"
VAROUTER_TOKEN=$ADMIN ctl route list A | grep -q '^10\.91\.' && fail "a dry run applied its changes"
VAROUTER_TOKEN=$ADMIN ctl --json txn "$W/txn.json" | jq -e '.version > 0 and (.applied | length) >= 2' >/dev/null ||
  fail "ctl txn"
VAROUTER_TOKEN=$ADMIN ctl route list C | grep -q '^10\.91\.0\.0/16' || fail "ctl txn did not apply"
printf '[{"op":"delete_route","vr":"A","prefix":"10.91.0.0/16"},{"op":"delete_route","vr":"C","prefix":"10.91.0.0/16"}]' > "$W/undo.json"
VAROUTER_TOKEN=$ADMIN ctl txn "$W/undo.json" >/dev/null
ok "ctl txn --dry-run changes nothing; ctl txn applies both changes; an array of changes is a transaction"
VAROUTER_TOKEN=$ADMIN ctl stats | grep -qE '^virtual routers:' || fail "ctl stats"
VAROUTER_TOKEN=$ADMIN ctl iface list A | grep -qE '^access0 +30 +10\.255\.3\.1/30' || fail "ctl iface list A"
ok "ctl stats, ctl iface list"

# --- (b) zero loss under moves and route churn ------------------------------------------
MOVES=${MOVES:-40} CHURN=${CHURN:-200}
echo "$T: (b) $MOVES moves of access0.30 A<->B and $CHURN route adds/deletes in C under traffic"
(
  for i in $(seq 1 "$MOVES"); do
    VAROUTER_TOKEN=$ADMIN "$VAROUTER" ctl iface move A B access0.30 >/dev/null
    VAROUTER_TOKEN=$ADMIN "$VAROUTER" ctl iface move B A access0.30 >/dev/null
  done
) > "$W/moves.log" 2>&1 &
MOVER=$!
for i in $(seq 1 "$CHURN"); do
  call POST /api/v1/vrs/C/routes "$ADMIN" '{"prefix":"10.77.0.0/24","via":"192.0.2.2","push":[16001,1077]}' >/dev/null
  need2xx "add route C 10.77.0.0/24"
  n=$((i % 250))
  call POST /api/v1/transaction "$ADMIN" "{\"changes\":[
      {\"op\":\"add_route\",\"vr\":\"C\",\"route\":{\"prefix\":\"10.78.$n.0/24\",\"via\":\"10.255.0.2\"}},
      {\"op\":\"add_route\",\"vr\":\"A\",\"route\":{\"prefix\":\"10.78.$n.0/24\",\"via\":\"10.255.0.2\"}}]}" >/dev/null
  need2xx "transaction"
  call DELETE /api/v1/vrs/C/routes/10.77.0.0%2F24 "$ADMIN" >/dev/null
  need2xx "delete route C 10.77.0.0/24"
  call POST /api/v1/transaction "$ADMIN" "{\"changes\":[
      {\"op\":\"delete_route\",\"vr\":\"C\",\"prefix\":\"10.78.$n.0/24\"},
      {\"op\":\"delete_route\",\"vr\":\"A\",\"prefix\":\"10.78.$n.0/24\"}]}" >/dev/null
  need2xx "transaction"
done
wait "$MOVER" || fail "a move failed: $(tail -3 "$W/moves.log")"
ok "$((MOVES * 2)) moves and $((CHURN * 4)) route changes applied"
sleep 0.5

# --- (c) save, then stop (the summary is the zero-loss judge) --------------------------
echo "$T: (c) config save and restart"
call GET /api/v1/config "$ADMIN" > "$W/config-before.yaml"; expect 200 "config show"
VAROUTER_TOKEN=$ADMIN ctl config save "$W/saved.yaml" >/dev/null
[ -s "$W/saved.yaml" ] || fail "config save wrote nothing"
ok "config save -> saved.yaml"
VAROUTER_TOKEN=$ADMIN ctl audit --limit 5 | head -1 | grep -q principal || fail "ctl audit"
[ -s "$W/audit.jsonl" ] && jq -s -e 'any(.[]; .principal == "carrier-b" and .status == 201)' "$W/audit.jsonl" >/dev/null ||
  fail "the audit log has no record of the tenant's changes"
ok "audit log records the tenant's requests"
kill -INT "$PID"
wait "$PID" || fail "varouter run exited $? (3 = misdelivered packets)"
PID=""

echo "$T: (b) per-flow results"
awk '/^flows:/ {on=1; next} /^[^ ]/ {on=0} on' "$W/run.out" | tee "$W/flows"
[ "$(wc -l < "$W/flows")" = 8 ] || fail "expected 8 flows in the summary"
bad=0
while read -r name _ _ _ sent _ delivered _ mis; do
  if [ "$name" = C-churn ]; then
    if [ "$delivered" -ge "$sent" ] || [ "$delivered" -eq 0 ]; then
      echo "  FAIL $name: delivered $delivered of $sent; its route came and went, so some but not all must arrive" >&2; bad=1
    else ok "$name lost $((sent - delivered)) of $sent while its own route was absent (expected)"; fi
  elif [ "$sent" -eq 0 ] || [ "$delivered" != "$sent" ] || [ "$mis" != 0 ]; then
    echo "  FAIL $name: sent $sent delivered $delivered misdelivered $mis" >&2; bad=1
  else ok "$name: $sent sent, $delivered delivered, 0 lost"; fi
done < "$W/flows"
[ "$bad" = 0 ] || fail "packets were lost"

# Restart from the saved profile (on another port: the first may linger in TIME_WAIT).
sed -i "s|127.0.0.1:$PORT1|127.0.0.1:$PORT2|" "$W/saved.yaml"
sed "s|127.0.0.1:$PORT1|127.0.0.1:$PORT2|" "$W/config-before.yaml" > "$W/config-before.p2.yaml"
API=http://127.0.0.1:$PORT2
"$VAROUTER" run "$W/saved.yaml" --duration 60 --stats-interval 0 > "$W/run2.out" 2> "$W/run2.err" &
PID=$!
wait_api $PORT2
call GET /api/v1/config "$ADMIN" > "$W/config-after.yaml"; expect 200 "config show after restart"
if ! diff -u "$W/config-before.p2.yaml" "$W/config-after.yaml"; then
  fail "the restarted configuration differs from the saved one"
fi
ok "config show identical before save and after restart ($(wc -l < "$W/config-after.yaml") lines)"
# A one-second smoke run of the benchmark (scripts/bench-api is the real one).
"$VAROUTER" bench api --api "$API" --token "$ADMIN" --vr C --via 10.255.0.2 --seconds 1 --json > "$W/bench.json" ||
  fail "bench api: $(cat "$W/bench.json")"
jq -e '.changes > 0 and .errors == 0' "$W/bench.json" >/dev/null || fail "bench api: $(cat "$W/bench.json")"
ok "bench api smoke: $(jq -r '"\(.changes) changes, p50 \(.latency_us.p50 | floor) µs"' "$W/bench.json")"
kill -INT "$PID"; wait "$PID" || fail "second run exited $?"
PID=""

# --- (d) TLS with a self-signed certificate ---------------------------------------------
echo "$T: (d) TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=varouter-api-test -addext "subjectAltName=IP:127.0.0.1" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
  -keyout "$W/api.key" -out "$W/api.pem" 2>/dev/null || fail "openssl could not make a certificate"
sed -e "s|127.0.0.1:$PORT1\"|127.0.0.1:$PORT3\"\n  tls: { cert: api.pem, key: api.key }|" "$W/profile.yaml" > "$W/tls.yaml"
grep -q "tls: { cert: api.pem" "$W/tls.yaml" || fail "could not add tls to the profile"
"$VAROUTER" run "$W/tls.yaml" --duration 60 --stats-interval 0 > "$W/run3.out" 2> "$W/run3.err" &
PID=$!
for _ in $(seq 1 100); do
  curl -fsS --cacert "$W/api.pem" -o /dev/null "https://127.0.0.1:$PORT3/openapi.json" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$W/run3.err" >&2; fail "TLS run exited"; }
  sleep 0.1
done
curl -fsS --cacert "$W/api.pem" -H "authorization: Bearer $ADMIN" "https://127.0.0.1:$PORT3/api/v1/vrs" |
  jq -e 'length == 3' >/dev/null || fail "curl over TLS"
ok "curl --cacert over TLS"
VAROUTER_TOKEN=$ADMIN ctl --api "https://127.0.0.1:$PORT3" --ca "$W/api.pem" vr list | grep -q '^C ' ||
  fail "ctl --ca over TLS"
ok "ctl --ca over TLS"
VAROUTER_TOKEN=$ADMIN ctlrc --api "https://127.0.0.1:$PORT3" vr list
[ "$RC" = 3 ] || fail "ctl without --ca: rc $RC (expected 3: certificate not trusted)"
ok "ctl without --ca refuses the self-signed certificate (exit 3)"
set +e; curl -sS -o /dev/null "http://127.0.0.1:$PORT3/openapi.json" 2>/dev/null; rc=$?; set -e
[ "$rc" != 0 ] || fail "plain HTTP answered on the TLS port"
ok "no plain HTTP on the TLS port"
kill -INT "$PID"; wait "$PID" || fail "TLS run exited $?"
PID=""
echo "$T: ok"
