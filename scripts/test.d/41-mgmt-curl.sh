#!/usr/bin/env bash
# Management API with a real client (issue 11): `varouter run` with a `management:` section,
# driven with curl as an operator would — tokens from `varouter hash-token`, listing VRs,
# a tenant's 404 for another tenant's VR, adding a route, a refused transaction with the
# pointer into the profile, saving the configuration and checking the saved file, the
# OpenAPI document, and a clean stop on SIGTERM. Installs curl when it is missing; fails
# (never skips) without it. API on 127.0.0.1:18117.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v curl >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
}
command -v curl >/dev/null || { echo "41-mgmt-curl: FAIL - curl missing" >&2; exit 1; }

if [ -z "${VAROUTER:-}" ]; then
  cargo build -q --release
  VAROUTER=$PWD/target/release/varouter
fi
W=$(mktemp -d -t mgmt-curl.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "41-mgmt-curl: FAIL - $*" >&2; cat "$W/stderr.txt" >&2 || true; exit 1; }

ADMIN=admin-$RANDOM$RANDOM
TENANT=tenant-$RANDOM$RANDOM
cat > "$W/profile.yaml" <<YAML
router_id: 192.0.2.1
ports:
  - { name: p0, backend: mem, mac: "02:00:00:00:00:01" }
  - { name: p1, backend: mem, mac: "02:00:00:00:00:02" }
virtual_routers:
  - { id: 1, name: a1, vpn_id: "00a0c9:00000001", tenant: t1,
      interfaces: [ { port: p0, addresses: [10.1.0.1/24] } ] }
  - { id: 2, name: b1, vpn_id: "00a0c9:00000002", tenant: t2,
      interfaces: [ { port: p1, addresses: [10.2.0.1/24] } ] }
management:
  listen: 127.0.0.1:18117
  audit_log: audit.jsonl
  principals:
    - { name: admin, role: carrier-admin, token_hash: "$(printf %s "$ADMIN" | "$VAROUTER" hash-token)" }
    - { name: t1, role: tenant-admin, tenant: t1, token_hash: "$(printf %s "$TENANT" | "$VAROUTER" hash-token)" }
YAML
"$VAROUTER" check "$W/profile.yaml" >/dev/null || fail "the test profile does not check"
"$VAROUTER" run "$W/profile.yaml" --stats-interval 0 > "$W/summary.txt" 2> "$W/stderr.txt" &
PID=$!
for _ in $(seq 100); do
  curl -s -o /dev/null http://127.0.0.1:18117/openapi.json && break
  sleep 0.1
done
API=http://127.0.0.1:18117/api/v1
# call TOKEN METHOD PATH [BODY] → prints "STATUS BODY"
call() {
  local tok=$1 m=$2 p=$3 body=${4:-}
  if [ -n "$body" ]; then
    curl -s -w '\n%{http_code}' -X "$m" -H "Authorization: Bearer $tok" \
      -H 'Content-Type: application/json' --data "$body" "$API$p"
  else
    curl -s -w '\n%{http_code}' -X "$m" -H "Authorization: Bearer $tok" "$API$p"
  fi
}
expect() { # expect STATUS PATTERN OUTPUT
  local code; code=$(tail -n1 <<<"$3")
  [ "$code" = "$1" ] || fail "expected $1, got: $3"
  grep -q -- "$2" <<<"$3" || fail "expected /$2/ in: $3"
}
expect 200 '"name":"b1"' "$(call "$ADMIN" GET /vrs)"
expect 401 '"code":"unauthorized"' "$(call wrong GET /vrs)"
out=$(call "$TENANT" GET /vrs)
expect 200 '"name":"a1"' "$out"
grep -q b1 <<<"$out" && fail "a tenant sees another tenant's VR: $out"
expect 404 '"code":"not_found"' "$(call "$TENANT" GET /vrs/b1)"
expect 403 '"code":"forbidden"' "$(call "$TENANT" DELETE /vrs/a1)"
expect 201 '"applied"' "$(call "$TENANT" POST /vrs/a1/routes '{"prefix":"10.9.0.0/16","via":"10.1.0.254"}')"
expect 200 '10.9.0.0/16' "$(call "$TENANT" GET /vrs/a1/routes)"
expect 204 '' "$(call "$TENANT" DELETE /vrs/a1/routes/10.9.0.0%2F16)"
expect 422 '"profile_pointer":"/virtual_routers/0/routes/0/via"' \
  "$(call "$ADMIN" POST /transaction '{"changes":[{"op":"add_route","vr":"a1","route":{"prefix":"10.8.0.0/16","via":"10.7.7.7"}}]}')"
expect 200 '"uptime_s"' "$(call "$TENANT" GET /stats)"
expect 200 '"path"' "$(call "$ADMIN" POST /config/save '{"path":"saved.yaml"}')"
"$VAROUTER" check "$W/saved.yaml" >/dev/null || fail "the saved profile does not check"
curl -s http://127.0.0.1:18117/openapi.json | grep -q '"/api/v1/transaction"' || fail "openapi.json"
grep -q '"status":422' "$W/audit.jsonl" || fail "the audit log lacks the refused transaction"
kill -TERM "$PID"
wait "$PID" || fail "varouter did not stop cleanly"
PID=
echo "41-mgmt-curl: ok"
