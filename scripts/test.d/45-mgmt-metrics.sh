#!/usr/bin/env bash
# Management metrics and dashboard (issue 11): `varouter run` on tests/mgmt/metrics-profile.yaml
# (three VRs of three tenants with mem-generator traffic, a management section with a carrier
# admin and a tenant admin), then with real clients:
#   * promtool check metrics on the /metrics exposition of both principals; the tenant's
#     holds its VR only (no other tenant's VR, no port/worker/control series); no token: 401;
#   * a real Prometheus server scraping /metrics with each bearer token every second, and
#     PromQL queries through its HTTP API (rates > 0, the tenant's job sees one VR);
#   * the dashboard in headless Chromium, driven through chromedriver (WebDriver over HTTP,
#     tests/mgmt/dashboard_check.py) for the carrier admin and for the tenant, with
#     screenshots in target/test-artefacts/mgmt/.
# Ports 18120-18129 on 127.0.0.1. Installs the Debian packages it needs; fails (never skips)
# when a tool is missing; stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
API_PORT=18120 PROM_PORT=18121 DRIVER_PORT=18122
N=45-mgmt-metrics
fail() { echo "$N: FAIL - $*" >&2; exit 1; }

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "$N: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
for t in promtool prometheus chromium chromedriver curl; do
  command -v $t >/dev/null || fail "$t missing"
done

if [ -z "${VAROUTER:-}" ]; then
  cargo build -q --release
  VAROUTER=$ROOT/target/release/varouter
fi
ART=$ROOT/target/test-artefacts/mgmt
mkdir -p "$ART"
W=$(mktemp -d -t mgmt-metrics.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do
    # Each tool runs in its own process group (setsid): the group goes, children included
    # (chromedriver's Chromium).
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    for f in varouter.err prometheus.log chromedriver.log; do
      [ -s "$W/$f" ] && { echo "--- $f (tail)"; tail -20 "$W/$f"; }
    done
  fi
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
start() { # name, command... : runs in its own session/process group, logs to $W/name.log
  local name=$1; shift
  setsid "$@" >"$W/$name.log" 2>&1 &
  PIDS+=($!)
}
wait_http() { # url, what, [curl args...]
  local url=$1 what=$2; shift 2
  for _ in $(seq 100); do
    curl -s -o /dev/null "$@" "$url" && return 0
    sleep 0.2
  done
  fail "$what did not answer on $url"
}

# --- the appliance ------------------------------------------------------------------------
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
BRAVO_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
hash_token() { printf '%s\n' "$1" | "$VAROUTER" hash-token; }
ADMIN_HASH=$(hash_token "$ADMIN_TOKEN") || fail "varouter hash-token failed"
BRAVO_HASH=$(hash_token "$BRAVO_TOKEN") || fail "varouter hash-token failed"
case "$ADMIN_HASH" in '$argon2id$'*) ;; *) fail "hash-token printed '$ADMIN_HASH'" ;; esac
sed -e "s|@LISTEN@|127.0.0.1:$API_PORT|" -e "s|@ADMIN_HASH@|$ADMIN_HASH|" \
    -e "s|@BRAVO_HASH@|$BRAVO_HASH|" tests/mgmt/metrics-profile.yaml > "$W/profile.yaml"
printf '%s' "$ADMIN_TOKEN" > "$W/admin.token"
printf '%s' "$BRAVO_TOKEN" > "$W/bravo.token"
# --duration bounds the run should the trap never come.
setsid "$VAROUTER" run "$W/profile.yaml" --duration 600 --stats-interval 0 \
  >"$W/varouter.out" 2>"$W/varouter.err" &
PIDS+=($!)
API=http://127.0.0.1:$API_PORT
wait_http "$API/api/v1/stats" "the management API" -H "Authorization: Bearer $ADMIN_TOKEN"

# --- /metrics with promtool ---------------------------------------------------------------
code=$(curl -s -o "$W/noauth.txt" -w '%{http_code}' "$API/metrics")
[ "$code" = 401 ] || fail "/metrics without a token answered $code"
code=$(curl -s -o "$W/badauth.txt" -w '%{http_code}' -H "Authorization: Bearer x$BRAVO_TOKEN" "$API/metrics")
[ "$code" = 401 ] || fail "/metrics with a wrong token answered $code"
# A change through the API: one publication, measured by the control core.
code=$(curl -s -o "$W/route.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d '{"prefix": "10.77.0.0/16", "via": "10.255.0.2"}' \
  "$API/api/v1/vrs/vr-alpha/routes")
[ "$code" = 200 ] || [ "$code" = 201 ] || { cat "$W/route.json"; fail "adding a route answered $code"; }
sleep 1.5   # a second of traffic behind the counters
curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" "$API/metrics" > "$ART/metrics-carrier.txt" ||
  fail "/metrics (carrier) failed"
curl -sf -H "Authorization: Bearer $BRAVO_TOKEN" "$API/metrics" > "$ART/metrics-tenant.txt" ||
  fail "/metrics (tenant) failed"
curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Accept: application/openmetrics-text; version=1.0.0' \
  "$API/metrics" > "$ART/metrics-carrier.openmetrics.txt" || fail "/metrics (OpenMetrics) failed"
for who in carrier tenant; do
  promtool check metrics < "$ART/metrics-$who.txt" || fail "promtool check metrics ($who)"
  echo "  promtool check metrics ($who): ok ($(grep -vc '^#' "$ART/metrics-$who.txt") samples)"
done
tail -1 "$ART/metrics-carrier.openmetrics.txt" | grep -qx '# EOF' || fail "OpenMetrics answer without # EOF"
$PY - "$ART/metrics-carrier.txt" "$ART/metrics-tenant.txt" <<'EOF'
import re, sys
def parse(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$', line.strip())
        assert m, f"bad sample line {line!r}"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out
def fail(msg):
    print(f"45-mgmt-metrics: FAIL - {msg}", file=sys.stderr); sys.exit(1)
carrier, tenant = parse(sys.argv[1]), parse(sys.argv[2])
rx = {l: v for (n, l), v in carrier.items() if n == "varouter_vr_rx_packets_total"}
vrs = sorted(re.search(r'vr="([^"]+)"', l).group(1) for l in rx)
if vrs != ["vr-alpha", "vr-bravo", "vr-charlie"]: fail(f"carrier sees VRs {vrs}")
if min(rx.values()) <= 0: fail(f"a VR without packets: {rx}")
drops = [v for (n, l), v in carrier.items() if n == "varouter_worker_drops_total" and 'reason="no_route"' in l]
if not drops or drops[0] <= 0: fail("no varouter_worker_drops_total{reason=no_route}")
if carrier.get(("varouter_control_loop_busy_seconds_count", ""), 0) <= 0: fail("empty loop histogram")
if carrier.get(("varouter_publish_total", ""), 0) < 1: fail("the route change was not counted as a publication")
if carrier.get(("varouter_publish_seconds_total", ""), 0) <= 0: fail("publication time not measured")
ports = {l for (n, l), _ in carrier.items() if n == "varouter_port_rx_packets_total"}
if len(ports) != 2: fail(f"ports: {ports}")
text = open(sys.argv[2]).read()
for hidden in ["vr-alpha", "vr-charlie", "carrier-a", "carrier-c", "varouter_port_",
               "varouter_worker_", "varouter_control_loop", "varouter_publish"]:
    if hidden in text: fail(f"the tenant's exposition mentions {hidden}")
trx = {l: v for (n, l), v in tenant.items() if n == "varouter_vr_rx_packets_total"}
if list(trx) != ['{vr="vr-bravo",tenant="carrier-b"}'] or min(trx.values()) <= 0:
    fail(f"tenant's VR series: {trx}")
print(f"  exposition: carrier {len(carrier)} samples, VRs {vrs}, no_route drops {drops[0]:.0f}; "
      f"tenant {len(tenant)} samples, VR vr-bravo only")
EOF

# --- a real Prometheus scraping both principals --------------------------------------------
cat > "$W/prometheus.yml" <<EOF
global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }
scrape_configs:
  - job_name: carrier
    authorization: { type: Bearer, credentials_file: $W/admin.token }
    static_configs: [ { targets: ["127.0.0.1:$API_PORT"] } ]
  - job_name: tenant
    authorization: { type: Bearer, credentials_file: $W/bravo.token }
    static_configs: [ { targets: ["127.0.0.1:$API_PORT"] } ]
EOF
promtool check config "$W/prometheus.yml" >/dev/null || fail "promtool check config"
mkdir -p "$W/tsdb"
start prometheus prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn
PROM=http://127.0.0.1:$PROM_PORT
wait_http "$PROM/-/ready" "Prometheus"
# rate() over a 5 s window needs a few scrapes: poll until the answer has what we expect.
$PY - "$PROM" <<'EOF'
import json, sys, time, urllib.parse, urllib.request
prom = sys.argv[1]
def q(expr):
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]
def until(what, expr, ok, timeout=40):
    end = time.time() + timeout
    res = None
    while time.time() < end:
        res = q(expr)
        if ok(res):
            return res
        time.sleep(1)
    print(f"45-mgmt-metrics: FAIL - {what}: {expr} -> {res}", file=sys.stderr)
    sys.exit(1)
until("both scrapes up", 'up', lambda r: len(r) == 2 and all(x["value"][1] == "1" for x in r))
# A full 5 s window of scrapes, then the rates must be the generator's (profile: alpha
# 2000 + 200 unrouted, bravo 3000 + 1000, charlie 1000 pps), within a loose band.
until("5 s of scrapes", 'count_over_time(varouter_uptime_seconds{job="carrier"}[5s]) >= 5',
      lambda r: len(r) == 1)
r = until("carrier rates", 'rate(varouter_vr_rx_packets_total{job="carrier"}[5s]) > 0',
          lambda r: len(r) == 3)
rates = {x["metric"]["vr"]: float(x["value"][1]) for x in r}
for vr, want in {"vr-alpha": 2200, "vr-bravo": 4000, "vr-charlie": 1000}.items():
    if not 0.5 * want <= rates.get(vr, 0) <= 1.5 * want:
        print(f"45-mgmt-metrics: FAIL - {vr} rate {rates.get(vr)} pps, generator sends {want}",
              file=sys.stderr); sys.exit(1)
t = until("tenant series", 'varouter_vr_rx_packets_total{job="tenant"} > 0', lambda r: len(r) >= 1)
tvrs = sorted({x["metric"]["vr"] for x in t})
if tvrs != ["vr-bravo"]:
    print(f"45-mgmt-metrics: FAIL - the tenant's job scraped VRs {tvrs}", file=sys.stderr); sys.exit(1)
leak = q('count({job="tenant", __name__=~"varouter_(port|worker|control|publish).*"})')
if leak:
    print(f"45-mgmt-metrics: FAIL - tenant job has appliance series {leak}", file=sys.stderr); sys.exit(1)
p99 = until("loop latency", 'histogram_quantile(0.99, rate(varouter_control_loop_busy_seconds_bucket{job="carrier"}[5s]))',
            lambda r: len(r) == 1 and r[0]["value"][1] not in ("NaN",))
drops = until("drop rate", 'sum(rate(varouter_worker_drops_total{job="carrier",reason="no_route"}[5s])) > 0',
              lambda r: len(r) == 1)
print("  prometheus: rx pps " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(rates.items()))
      + f"; tenant job sees {tvrs}; loop busy p99 {float(p99[0]['value'][1]) * 1e6:.0f} us;"
      + f" no_route drops {float(drops[0]['value'][1]):.0f}/s")
EOF

# --- the dashboard in headless Chromium ------------------------------------------------------
start chromedriver chromedriver --port="$DRIVER_PORT" --allowed-ips=127.0.0.1
wait_http "http://127.0.0.1:$DRIVER_PORT/status" "chromedriver"
code=$(curl -s -o "$W/dashboard.html" -w '%{http_code}' "$API/dashboard")
[ "$code" = 200 ] || fail "/dashboard answered $code"
$PY tests/mgmt/dashboard_check.py --driver "http://127.0.0.1:$DRIVER_PORT" --url "$API/dashboard" \
  --token "$ADMIN_TOKEN" --sees vr-alpha,vr-bravo,vr-charlie --appliance yes \
  --shots "$ART" --name carrier --profile-dir "$W/chrome-carrier" || fail "dashboard (carrier)"
$PY tests/mgmt/dashboard_check.py --driver "http://127.0.0.1:$DRIVER_PORT" --url "$API/dashboard" \
  --token "$BRAVO_TOKEN" --sees vr-bravo --not-sees vr-alpha,vr-charlie,carrier-a,carrier-c \
  --appliance no --shots "$ART" --name tenant --profile-dir "$W/chrome-tenant" || fail "dashboard (tenant)"

kill -0 "${PIDS[0]}" 2>/dev/null || fail "varouter exited during the test"
echo "$N: ok (artefacts in $ART)"
