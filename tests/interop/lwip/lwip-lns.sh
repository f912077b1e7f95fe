#!/bin/bash
# varouter's LNS against an independent PPP client: lwIP's PPPoL2TP LAC (target/lwip/lwip_lac,
# built by build.sh). Topology (topo.bash): namespace vl-c holds a bridge joining lwIP's TAP
# and a veth whose other end is varouter's af_packet port in namespace vl-s.
#
#   lwip-lns.sh [CASE...]        CASE = user:password:auth[:expect]
#     auth    pap | chap | mschapv2 | a comma list | any     (what lwIP will agree to)
#     expect  up (default) | authfail | down=REASON
#             down=REASON: up, then the LNS ends the session within HOLD seconds and lwIP
#             reports `ppp down reason=REASON` (connect, peerdead, protocol, ...)
#   default cases: alice:secret:pap bob:secret:chap carol:secret:mschapv2
#
# Each case runs varouter afresh (`run PROFILE --duration D --stats-interval 0`) and lwIP once.
# Always checked: the tunnel and the session were established on varouter, lwIP's PPP started
# (phase establish), PPP frames of the session reached varouter's control core
# (punted ppp_control), lwIP's StopCCN, tshark finds nothing malformed.
# With EXPECT_PPP=1 also: `ppp up` with an IPv4 address and every ping answered (expect=up),
# `ppp down reason=authfail` (expect=authfail), the expected down reason (expect=down=...).
#
# Environment (defaults from the profile where it says so):
#   VAROUTER   binary (target/release/varouter)      PROFILE  profile (configs/lns.yaml)
#   LNS_IF     the profile's port interface (its first `interface:`)
#   LNS_IP     LNS address (the profile's l2tp `local:`)
#   LAC_ADDR   lwIP's address/len (first of the profile's l2tp `peers:`, /24)
#   SECRET     tunnel secret (the profile's l2tp `secret:`; "" for none)
#   PING       ping target through PPP (LNS_IP)   PINGS (3)   HOLD seconds (0; 20 for down=)
#   UP_TIMEOUT seconds to wait for PPP (5, or 15 with EXPECT_PPP=1)
#   SETUP      a bash file sourced once the namespaces exist (e.g. to start FreeRADIUS in
#              $NS_S with tests/interop/radius/freeradius.sh); TEARDOWN likewise at exit.
#   KEEP=1     keep the work directory ($W) with every log and capture.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
. "$HERE/topo.bash"
BIN=${VAROUTER:-$ROOT/target/release/varouter}
LAC=${LWIP_LAC:-$ROOT/target/lwip/lwip_lac}
PROFILE=${PROFILE:-$ROOT/configs/lns.yaml}
prof() { sed -n "s/^[^#]*\b$1: *\[\?\([^] ,}]*\).*/\1/p" "$PROFILE" | head -1; }
LNS_IF=${LNS_IF:-$(prof interface)}
LNS_IP=${LNS_IP:-$(prof local)}
LAC_ADDR=${LAC_ADDR:-$(prof peers)/24}
SECRET=${SECRET-$(prof secret)}
PING=${PING:-$LNS_IP}
PINGS=${PINGS:-3}
EXPECT_PPP=${EXPECT_PPP:-0}
if [ "$EXPECT_PPP" = 1 ]; then UP_TIMEOUT=${UP_TIMEOUT:-15}; else UP_TIMEOUT=${UP_TIMEOUT:-5}; fi
[ $# -gt 0 ] && CASES=("$@") || CASES=(alice:secret:pap bob:secret:chap carol:secret:mschapv2)

for t in tcpdump tshark ethtool; do command -v $t >/dev/null || { echo "missing $t"; exit 2; }; done
[ -x "$BIN" ] || { echo "no varouter binary at $BIN (cargo build --release)"; exit 2; }
[ -x "$LAC" ] || { echo "no lwIP harness at $LAC (run $HERE/build.sh)"; exit 2; }
[ -n "$LNS_IF" ] && [ -n "$LNS_IP" ] || { echo "cannot read interface/local from $PROFILE"; exit 2; }

W=$(mktemp -d -t vl-lwip-lns.XXXXXX)
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
stat() { awk -v k="$1" '$1==k {print $2}' "$2" | tail -1; }
killpids() { for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done; }
cleanup() {
  killpids
  [ -n "${TEARDOWN:-}" ] && . "$TEARDOWN"
  sleep 0.3
  topo_down
  [ "${KEEP:-0}" = 1 ] && echo "logs kept in $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topo_up "$LNS_IF" || exit 2
ip netns exec "$NS_S" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
[ -n "${SETUP:-}" ] && . "$SETUP"
echo "varouter $BIN, profile $PROFILE: LNS $LNS_IP on $LNS_IF; lwIP $LAC_ADDR on ${P}tap0"

n=0
for c in "${CASES[@]}"; do
  n=$((n + 1))
  IFS=: read -r user pass auth expect <<< "$c"
  expect=${expect:-up}
  hold=${HOLD:-0}; case $expect in down=*) hold=${HOLD:-20} ;; esac
  d=$W/case$n; mkdir -p "$d"
  echo "# case $n: user=$user auth=$auth expect=$expect"
  dur=$((UP_TIMEOUT + PINGS * 3 + hold + 12))
  ip netns exec "$NS_C" timeout $((dur + 10)) tcpdump -i "${P}c0" -U -w "$d/c.pcap" udp port 1701 >/dev/null 2>&1 & echo $! > "$W/tcpdump.pid"
  ip netns exec "$NS_S" timeout $((dur + 20)) "$BIN" run "$PROFILE" --duration $dur --stats-interval 0 > "$d/varouter.out" 2>&1 & echo $! > "$W/varouter.pid"
  sleep 2
  args=(--tap "${P}tap0" --addr "$LAC_ADDR" --lns "$LNS_IP" --user "$user" --password "$pass"
        --auth "$auth" --ping "$PING" --count "$PINGS" --up-timeout "$UP_TIMEOUT" --hold "$hold")
  [ -n "$SECRET" ] && args+=(--secret "$SECRET")
  ip netns exec "$NS_C" timeout $((dur + 5)) "$LAC" "${args[@]}" > "$d/lwip.out" 2> "$d/lwip.err"
  echo $? > "$d/lwip.rc"
  sed 's/^/    lwip: /' "$d/lwip.out" | grep -v ' phase '
  # --duration bounds varouter; once lwIP is done, SIGTERM ends it early (it still prints
  # its summary; timeout(1) passes the signal on).
  sleep 1; kill -TERM "$(cat "$W/varouter.pid")" 2>/dev/null
  wait "$(cat "$W/varouter.pid")" 2>/dev/null; rm -f "$W/varouter.pid"
  sleep 0.5; killpids
  V=$d/varouter.out
  check "case $n: varouter ran to its summary" "grep -q 'varouter summary' $V"
  check "case $n: tunnel established on varouter" "[ \"\$(stat l2tp_tunnels_established $V)\" -ge 1 ] 2>/dev/null"
  check "case $n: session established on varouter" "[ \"\$(stat l2tp_sessions_established $V)\" -ge 1 ] 2>/dev/null"
  check "case $n: lwIP's PPP started over the session (phase establish)" "grep -qx 'phase establish' $d/lwip.out"
  check "case $n: PPP frames of the session reached varouter's control core" "[ \"\$(stat ppp_control $V)\" -ge 1 ] 2>/dev/null"
  # lwIP closes with StopCCN; varouter keeps a closed tunnel ~31 s to re-acknowledge a
  # retransmitted StopCCN (so l2tp_tunnels_now may still count it), its sessions go at once.
  stops=$(tshark -r "$d/c.pcap" -Y "ip.src == ${LAC_ADDR%/*} && l2tp.avp.message_type == 4" 2>/dev/null | wc -l)
  check "case $n: lwIP closed the tunnel (StopCCN) and varouter dropped the session" "[ $stops -ge 1 ] && { [ -z \"\$(stat l2tp_sessions_now $V)\" ] || [ \"\$(stat l2tp_sessions_now $V)\" -eq 0 ]; }"
  check "case $n: no L2TP data for unknown sessions" "! grep -q l2tp_no_session $V"
  bad=$(tshark -r "$d/c.pcap" -Y "_ws.malformed || _ws.expert.severity >= error" 2>/dev/null | wc -l)
  check "case $n: tshark decodes every L2TP/PPP frame" "[ $bad -eq 0 ] && [ \$(tshark -r $d/c.pcap 2>/dev/null | wc -l) -gt 5 ]"
  if [ "$EXPECT_PPP" = 1 ]; then
    case $expect in
      up)
        check "case $n: ppp up with an IPv4 address" "grep -Eq '^ppp up local=[0-9]' $d/lwip.out"
        check "case $n: $PINGS/$PINGS pings to $PING answered" "grep -q '^done up=1 pings_ok=$PINGS ' $d/lwip.out && [ \$(cat $d/lwip.rc) -eq 0 ]"
        check "case $n: clean close (LCP terminate answered)" "grep -qx 'ppp closed' $d/lwip.out" ;;
      authfail)
        check "case $n: authentication refused" "grep -q '^ppp down reason=authfail' $d/lwip.out && ! grep -q '^ppp up' $d/lwip.out" ;;
      down=*)
        check "case $n: ppp up, then taken down by the LNS (${expect#down=})" "grep -q '^ppp up' $d/lwip.out && grep -q '^ppp down reason=${expect#down=} ' $d/lwip.out" ;;
      *) echo "FAIL - case $n: unknown expectation $expect"; fail=1 ;;
    esac
  fi
  if [ $fail -ne 0 ]; then
    echo "--- varouter ($V)"; cat "$V"; echo "--- lwIP stderr (tail)"; tail -25 "$d/lwip.err"
    tshark -r "$d/c.pcap" 2>/dev/null | tail -25
  fi
done
[ $fail -eq 0 ] && echo "PASS: lwIP PPPoL2TP LAC against varouter's LNS (EXPECT_PPP=$EXPECT_PPP)"
exit $fail
