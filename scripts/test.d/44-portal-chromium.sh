#!/usr/bin/env bash
# The users' web page of seed 003 Fig. 30 (issue 16) in headless Chromium: `varouter run` on
# tests/portal/portal-profile.yaml with `management.portal` on a SQLite VPN database made
# with the CLI (configs/vpndb/users.yaml, logins set with `varouter vpndb set-password`, one
# tunnel of alice's written into vpn_session as the AAAH writes it), then:
#   * curl: the page's redirects, 404s and headers without a browser;
#   * tests/portal/portal_check.py drives Chromium through chromedriver (WebDriver over HTTP):
#     user A logs in, adds a destination, sees it on the page, and `varouter vpndb export` /
#     `list` show it stored with the service-update mark; a bad mask is refused with its
#     message; user B sees none of A's VPN, also when typing A's profile numbers;
#   * the audit (`varouter vpndb audit`) has A's changes as web:alice@isp.example, and the
#     carrier's /metrics has the page's counters.
# Screenshots go to /tmp/varouter-artefacts/portal/ (printed at the end). Ports 18183-18184
# on 127.0.0.1. Installs the Debian packages it needs; fails (never skips) when a tool is
# missing; stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
API_PORT=18183 DRIVER_PORT=18184
N=44-portal-chromium
ART=${PORTAL_ARTEFACTS:-/tmp/varouter-artefacts/portal}
fail() { echo "$N: FAIL - $*" >&2; exit 1; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v curl >/dev/null || missing+=(curl)
[ -x $PY ] || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "$N: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
for t in chromium chromedriver curl $PY; do
  command -v $t >/dev/null || fail "$t missing"
done
for p in $API_PORT $DRIVER_PORT; do
  if ss -Htln "sport = :$p" | grep -q .; then fail "port $p is in use"; fi
done

if [ -z "${VAROUTER:-}" ]; then
  cargo build -q --bin varouter
  VAROUTER=${CARGO_TARGET_DIR:-$ROOT/target}/debug/varouter
fi
rm -rf "$ART"
mkdir -p "$ART"
W=$(mktemp -d -t portal-chromium.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do
    # Each tool runs in its own process group (setsid): the group goes, Chromium included.
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    for f in varouter.err chromedriver.log; do
      [ -s "$W/$f" ] && { echo "--- $f (tail)"; tail -20 "$W/$f"; }
    done
  fi
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
start() { # name, command... : own session/process group, logs to $W/name.log
  local name=$1; shift
  setsid "$@" >"$W/$name.log" 2>&1 &
  PIDS+=($!)
}
wait_http() { # url, what
  for _ in $(seq 150); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.2
  done
  fail "$2 did not answer on $1"
}

# --- the VPN database ----------------------------------------------------------------------
DB="sqlite:$W/vpndb.sqlite"
V() { "$VAROUTER" vpndb --db "$DB" --actor operator "$@"; }
V import configs/vpndb/users.yaml >/dev/null
export PORTAL_PW_A=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export PORTAL_PW_B=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$PORTAL_PW_A" | V set-password alice@isp.example >/dev/null
printf '%s\n' "$PORTAL_PW_B" | V set-password bob@isp.example >/dev/null
printf 'short\n' | V set-password carol@roam.example 2>/dev/null && fail "set-password took a 5-byte password"
# alice is registered through FA 192.0.2.77 with profile 2 (dynamic GW): the row the AAAH
# writes into vpn_session (migration 003) when it provisions the path.
$PY - "$W/vpndb.sqlite" <<'EOF'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
now = int(time.time())
c.execute("INSERT INTO vpn_session VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
          ("aaah.isp.example;1;7", "alice@isp.example", 2, "192.0.2.77", "192.0.2.1",
           "192.0.2.77", "203.0.113.9", "dynamic", 12288, 12289, now - 60, now + 3600))
c.commit()
EOF
V sessions alice@isp.example > "$W/sessions.txt"
grep -q '192.0.2.77' "$W/sessions.txt" || { cat "$W/sessions.txt"; fail "vpndb sessions does not list alice's tunnel"; }

# --- the appliance -------------------------------------------------------------------------
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
ADMIN_HASH=$(printf '%s\n' "$ADMIN_TOKEN" | "$VAROUTER" hash-token) || fail "hash-token failed"
sed -e "s|@LISTEN@|127.0.0.1:$API_PORT|" -e "s|@DB@|$DB|" -e "s|@ADMIN_HASH@|$ADMIN_HASH|" \
  tests/portal/portal-profile.yaml > "$W/profile.yaml"
setsid "$VAROUTER" run "$W/profile.yaml" --duration 600 --stats-interval 0 \
  >"$W/varouter.out" 2>"$W/varouter.err" &
PIDS+=($!)
API=http://127.0.0.1:$API_PORT
wait_http "$API/portal/login" "the web page"

# --- without a browser ---------------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$API/portal/")
[ "$code" = "303 $API/portal/login" ] || fail "/portal/ without a session answered $code"
curl -s -D "$W/login.h" -o "$W/login.html" "$API/portal/login"
grep -qi '^content-security-policy: default-src .none.' "$W/login.h" || fail "no CSP on the login page"
grep -qi '^set-cookie: portal_login=.*HttpOnly; SameSite=Strict' "$W/login.h" || fail "login cookie attributes"
grep -q '<script' "$W/login.html" && fail "the login page has a script"
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'nai=alice@isp.example&password=x&csrf=y' "$API/portal/login")
[ "$code" = 403 ] || fail "a login without the form's cookie answered $code"
echo "  curl: redirects, headers and the login CSRF check ok"

# --- Chromium ------------------------------------------------------------------------------
start chromedriver chromedriver --port="$DRIVER_PORT" --allowed-ips=127.0.0.1
wait_http "http://127.0.0.1:$DRIVER_PORT/status" "chromedriver"
$PY tests/portal/portal_check.py --driver "http://127.0.0.1:$DRIVER_PORT" --url "$API" \
  --varouter "$VAROUTER" --db "$DB" --shots "$ART" --profile-dir "$W/chrome" ||
  fail "the page in Chromium"

# --- the audit and the counters ------------------------------------------------------------
V audit --limit 1000 > "$W/audit.txt"
grep -q ' web:alice@isp.example add_destination profile 1 added=10.30.0.0/16' "$W/audit.txt" ||
  { cat "$W/audit.txt"; fail "the audit lacks alice's add"; }
grep -q ' web:alice@isp.example replace_destination profile 1 replaced=10.30.0.0/16 by=10.31.0.0/16' "$W/audit.txt" ||
  { cat "$W/audit.txt"; fail "the audit lacks alice's replacement"; }
grep -q ' web:bob' "$W/audit.txt" && fail "the audit has a change by bob"
curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" "$API/metrics" > "$ART/metrics.txt" || fail "/metrics"
$PY - "$ART/metrics.txt" <<'EOF'
import re, sys
v = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(varouter_portal_[a-z_]+(?:\{[^}]*\})?) (\S+)$', line.strip())
    if m:
        v[m.group(1)] = float(m.group(2))
want = {'varouter_portal_logins_total{result="ok"}': 2, 'varouter_portal_logins_total{result="failed"}': 1,
        'varouter_portal_changes_total{result="stored"}': 2, 'varouter_portal_changes_total{result="refused"}': 1,
        'varouter_portal_logouts_total': 1}
for k, n in want.items():
    if v.get(k) != n:
        print(f"44-portal-chromium: FAIL - {k} = {v.get(k)}, want {n}", file=sys.stderr); sys.exit(1)
if v.get('varouter_portal_not_found_total', 0) < 5:
    print(f"44-portal-chromium: FAIL - not_found {v.get('varouter_portal_not_found_total')}", file=sys.stderr); sys.exit(1)
print("  /metrics: " + ", ".join(f"{k} {int(x)}" for k, x in sorted(v.items())))
EOF
kill -0 "${PIDS[0]}" 2>/dev/null || fail "varouter exited during the test"
echo "$N: ok (screenshots in $ART)"
