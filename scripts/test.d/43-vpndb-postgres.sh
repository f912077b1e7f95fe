#!/usr/bin/env bash
# The VPN database on a real PostgreSQL server (issue 16: "the same test suite passes on
# both; concurrent updates from two appliance processes on PostgreSQL stay consistent").
#   1. Starts a throw-away cluster (Debian postgresql; initdb + pg_ctl as the postgres user,
#      data and unix socket in a temp dir, 127.0.0.1:18150, trust auth on localhost only).
#   2. Runs the vpndb suite's PostgreSQL half (`cargo test -p vpndb --test suite -- --ignored
#      pg_`, VPNDB_PG_URL set): the same suite as SQLite, two connections adding to one
#      profile, four connections migrating a new database at once. Fails if none ran.
#   3. Two `varouter vpndb add-destination` processes, K adds each on one profile at the
#      same time: every add lands (destination count and version exact, one audit record
#      each); the migrations re-run as no-ops when the CLI opens the database again.
#   4. The same two processes on one SQLite file.
# Installs postgresql when missing; fails (never skips) without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=43-vpndb-postgres
PORT=18150
K=${VPNDB_ADDS:-40}

[ "$(id -u)" -eq 0 ] || { echo "$N: FAIL - needs root (apt-get, runuser -u postgres)" >&2; exit 1; }
initdb_bin() { ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1; }
if [ -z "$(initdb_bin)" ] || ! command -v psql >/dev/null; then
  echo "$N: installing postgresql"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
fi
INITDB=$(initdb_bin)
[ -n "$INITDB" ] || { echo "$N: FAIL - initdb missing after installing postgresql" >&2; exit 1; }
PGBIN=$(dirname "$INITDB")
command -v python3 >/dev/null || { echo "$N: FAIL - python3 missing" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "$N: FAIL - no postgres user" >&2; exit 1; }
if ss -Htln "sport = :$PORT" | grep -q .; then echo "$N: FAIL - port $PORT is in use" >&2; exit 1; fi

W=$(mktemp -d -t vd-vpndb.XXXXXX)
chown postgres: "$W"
chmod 0755 "$W"
PG_STARTED=
cleanup() {
  if [ -n "$PG_STARTED" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${KEEP:-}" ]; then echo "$N: kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

pg() { runuser -u postgres -- "$@"; }
pg mkdir -p "$W/sock"
pg "$INITDB" -D "$W/data" --auth=trust --username=postgres --encoding=UTF8 >"$W/initdb.log" 2>&1 ||
  { cat "$W/initdb.log" >&2; echo "$N: FAIL - initdb" >&2; exit 1; }
pg "$PGBIN/pg_ctl" -D "$W/data" -l "$W/server.log" -w -t 30 \
  -o "-p $PORT -k $W/sock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
  { cat "$W/server.log" >&2; echo "$N: FAIL - pg_ctl start" >&2; exit 1; }
PG_STARTED=1
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE vpndb_t" >/dev/null
export VPNDB_PG_URL="postgres://postgres@127.0.0.1:$PORT/vpndb_t"
echo "$N: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"

# --- 2. the suite's PostgreSQL half ------------------------------------------------------
LOG="$W/cargo-test.log"
if ! cargo test -q -p vpndb --test suite -- --ignored pg_ >"$LOG" 2>&1; then
  cat "$LOG" >&2; echo "$N: FAIL - vpndb PostgreSQL tests" >&2; exit 1
fi
ran=$(grep -Eo "test result: ok\. [0-9]+ passed" "$LOG" | awk '{s+=$4} END {print s+0}')
if [ "$ran" -lt 3 ]; then
  cat "$LOG" >&2; echo "$N: FAIL - expected the 3 pg_ tests to run, $ran ran" >&2; exit 1
fi
echo "$N: vpndb suite on PostgreSQL: $ran tests passed"

# --- 3. two CLI processes on one profile -------------------------------------------------
cargo build -q --bin varouter
V=${CARGO_TARGET_DIR:-$PWD/target}/debug/varouter
"${PSQL[@]}" -d postgres -c "CREATE DATABASE vpndb_cli" >/dev/null
DB="postgres://postgres@127.0.0.1:$PORT/vpndb_cli"
"$V" vpndb --db "$DB" import configs/vpndb/users.yaml >/dev/null
count() { # -> "destinations version" of profile 3
  "$V" vpndb --db "$DB" export --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [p for p in d["profiles"] if p["profile_number"] == 3][0]
print(len(p["destinations"]))'
}
d0=$(count)
adder() { # worker third-octet
  for i in $(seq 1 "$K"); do
    "$V" vpndb --db "$DB" --actor "proc$1" add-destination 3 "10.10.$1.$i/32" >/dev/null || return 1
  done
}
adder 201 & A=$!
adder 202 & B=$!
fail=0
wait $A || fail=1
wait $B || fail=1
[ $fail -eq 0 ] || { echo "$N: FAIL - an add-destination process failed" >&2; exit 1; }
d1=$(count)
ver=$("${PSQL[@]}" -d vpndb_cli -At -c "SELECT version FROM vpn_profile WHERE profile_number = 3")
audits=$("${PSQL[@]}" -d vpndb_cli -At -c "SELECT COUNT(*) FROM vpn_audit WHERE action = 'add_destination' AND target = 'profile 3'")
ids=$("${PSQL[@]}" -d vpndb_cli -At -c "SELECT COUNT(DISTINCT id) = COUNT(*) AND MAX(id) = COUNT(*) FROM vpn_audit")
want=$((d0 + 2 * K))
if [ "$d1" -ne "$want" ] || [ "$ver" -ne $((1 + 2 * K)) ] || [ "$audits" -ne $((2 * K)) ] || [ "$ids" != t ]; then
  echo "$N: FAIL - after 2x$K concurrent adds: destinations $d1 (want $want), version $ver (want $((1 + 2 * K))), audit $audits (want $((2 * K))), audit ids dense+unique: $ids" >&2
  exit 1
fi
echo "$N: 2 processes x $K adds: destinations $d0 -> $d1, version $ver, $audits audit records"

# The migrations re-run as no-ops (a third open), and the bookkeeping holds both.
"$V" vpndb --db "$DB" list >/dev/null
mig=$("${PSQL[@]}" -d vpndb_cli -At -c "SELECT string_agg(version || '_' || name, ',' ORDER BY version) FROM schema_migrations")
[ "$mig" = "1_init,2_audit_target,3_portal" ] || { echo "$N: FAIL - schema_migrations: $mig" >&2; exit 1; }
echo "$N: schema_migrations: $mig"

# --- 4. the same two processes on one SQLite file (WAL, BEGIN IMMEDIATE, busy timeout) ----
DB="sqlite:$W/vpndb.sqlite"
"$V" vpndb --db "$DB" import configs/vpndb/users.yaml >/dev/null
d0=$(count)
adder 201 & A=$!
adder 202 & B=$!
fail=0
wait $A || fail=1
wait $B || fail=1
[ $fail -eq 0 ] || { echo "$N: FAIL - an add-destination process failed on SQLite" >&2; exit 1; }
d1=$(count)
ver=$("$V" vpndb --db "$DB" list --nai bob@isp.example | awk '$1 == 3 {print $5}')
if [ "$d1" -ne $((d0 + 2 * K)) ] || [ "$ver" != $((1 + 2 * K)) ]; then
  echo "$N: FAIL - SQLite after 2x$K concurrent adds: destinations $d1 (want $((d0 + 2 * K))), version $ver (want $((1 + 2 * K)))" >&2
  exit 1
fi
echo "$N: SQLite, 2 processes x $K adds: destinations $d0 -> $d1, version $ver"
echo "$N: ok"
