#!/usr/bin/env bash
# Smoke run of `varouter bench aaa` through scripts/bench-aaa (issue 16): the appliance's
# home AAA thread over loopback TCP with its VPN database on SQLite and on a throw-away
# PostgreSQL server (127.0.0.1:18199), a short run with few users and clients. The numbers
# are not judged here; the suite fails if either database saw no successful AMR -> AMA
# transaction, if any answer was not 2001, or if the AAAH did not read the database for
# each AMR (lookups per AMR must be 1 with --path lookup), or if it did not record the sessions
# in the database's vpn_session table (through the session writer: batches, none dropped)
# without error.
# Installs postgresql when missing (scripts/bench-aaa does); fails (never skips) without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=49-aaa-bench
[ "$(id -u)" -eq 0 ] || { echo "$N: FAIL - needs root (apt-get, runuser -u postgres)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$N: FAIL - python3 missing" >&2; exit 1; }
for p in 18190 18199; do
  if ss -Htln "sport = :$p" | grep -q .; then echo "$N: FAIL - port $p is in use" >&2; exit 1; fi
done
cargo build -q --bin varouter
V=${CARGO_TARGET_DIR:-$PWD/target}/debug/varouter
OUT=$(mktemp -t vd-aaa-bench.XXXXXX)
trap 'rm -f "$OUT"' EXIT
VAROUTER="$V" scripts/bench-aaa --users 200 --clients 2 --window 2 --seconds 1 --warmup 0.3 \
  --baseline-lookups 50 --json >"$OUT"
python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rs = {r["backend"]: r for r in d["results"]}
assert set(rs) == {"sqlite", "postgres"}, f"backends measured: {sorted(rs)}"
for b, r in rs.items():
    codes = r["answers_by_result_code"]
    assert r["success"] > 0, f"{b}: no successful transaction: {r}"
    assert set(codes) == {"2001"}, f"{b}: answers other than 2001: {codes}, failures {r['failures']}"
    assert not r["failures"], f"{b}: failures {r['failures']}"
    e = r["aaah"]["engine"]
    assert e["lookups"] == e["rx_amr"] and e["tx_har"] == e["rx_amr"], f"{b}: path not taken: {e}"
    assert r["aaah"]["lookup_errors"] == 0, f"{b}: lookup errors"
    assert r["aaah"]["sessions_recorded"] > 0 and r["aaah"]["session_record_errors"] == 0 \
        and r["aaah"]["session_records_dropped"] == 0 and r["aaah"]["session_batches"] > 0, \
        f"{b}: sessions not recorded in vpn_session: {r['aaah']}"
    print(f"49-aaa-bench: {b}: {r['success']} transactions, {r['transactions_per_second']:.0f}/s (debug build), "
          f"p99 {r['latency_us']['p99']} us")
PY
echo "$N: ok"
