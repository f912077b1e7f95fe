#!/bin/bash
# End-to-end BNG test (issue 10): varouter's LNS terminating PPP subscribers (configs/bng.yaml)
# against independent peers — lwIP's PPPoL2TP LAC as the subscriber (target/lwip/lwip_lac),
# FreeRADIUS 3 as the AAA server, radclient as the RFC 5176 Dynamic Authorization client,
# a Linux host behind the VR, tshark as the judge of every packet.
#
#   namespace vl-c                   namespace vl-s                          namespace vl-h
#   lwip_lac 10.214.0.1 on vl-tap0   varouter (af_packet ports):             host 10.215.1.2/24
#     bridge vl-br0 — vl-c0 ==veth== lns0 [wan 10.214.0.2]  [lan 10.215.1.1] lan0 ==veth== vl-h0
#                                    FreeRADIUS 127.0.0.1:1812/1813
#                                    DAE 127.0.0.1:3799 (radclient from 127.0.0.1)
#
# One varouter run and one FreeRADIUS for every case; lwIP runs once per subscriber session
# (each a new tunnel). Cases (one or more ok/FAIL lines each):
#   1 alice PAP: Framed-IP-Address 100.64.0.10 from RADIUS, pings to the host behind the VR
#   2 bob CHAP: an address from the pool (Framed-Pool), pings; 7 then runs on this session
#   3 carol MS-CHAPv2: 100.64.0.12, pings (lwIP checks the authenticator response);
#     6 then runs on this session
#   4 wrong password: ppp down reason=authfail; ppp_auth_rejects >= 1
#   5 accounting (alice held >= 12 s, Acct-Interim-Interval 10): Start, Interim-Update,
#     Stop with non-zero octets
#   6 Disconnect-Request for carol → Disconnect-ACK, lwIP down, the host's pings to her
#     address unanswered (route gone), Stop cause Admin-Reset
#   7 CoA-Request Session-Timeout 4 for bob → CoA-ACK, the session ends ~4 s later,
#     Stop cause Session-Timeout, subscriber_session_timeouts >= 1
#   8 tshark: L2TP/PPP (on lns0's peer, vl-c0) and RADIUS (on lo, with the secret) decode,
#     nothing malformed, no expert warning
#
# Needs root, tcpdump, tshark, ethtool, freeradius + radclient, ping; the binaries
# target/release/varouter and target/lwip/lwip_lac (scripts/test.d/36-bng-interop.sh builds
# them and installs the packages). Exit status 0 when every line is ok, 1 otherwise, 2 when
# something it needs is missing. KEEP=1 keeps the work directory (kept anyway on failure).
# VL_PREFIX changes the "vl-" prefix of every namespace and interface made here.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LWIP_DIR=$ROOT/tests/interop/lwip
RAD_DIR=$ROOT/tests/interop/radius
. "$LWIP_DIR/topo.bash"          # P, NS_C (lwIP), NS_S (varouter), topo_up, topo_down
NS_H=${P}h
BIN=${VAROUTER:-$ROOT/target/release/varouter}
LAC=${LWIP_LAC:-$ROOT/target/lwip/lwip_lac}
PROFILE=${PROFILE:-$ROOT/configs/bng.yaml}
# BACKEND=dpdk runs the same router on DPDK net_af_packet vdevs over the same interfaces
# (the profile turned into a DPDK one by scripts/dpdk-profile; VAROUTER must be a
# `--features dpdk` build).
BACKEND=${BACKEND:-af_packet}
LNS_IF=lns0 LAN_IF=lan0 HOST_IF=${P}h0
LNS_IP=10.214.0.2 LAC_ADDR=10.214.0.1/24 TUNNEL_SECRET=interopsecret
HOST_IP=10.215.1.2 LAN_GW=10.215.1.1
RADIUS_SECRET=testing123
PINGS=${PINGS:-5}
DURATION=${DURATION:-240}        # bound on varouter; SIGTERM ends it once the cases are done

fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
die() { echo "FAIL - $*"; fail=1; exit 2; }

[ "$(id -u)" = 0 ] || { echo "FAIL - needs root"; exit 2; }
for t in tcpdump tshark ethtool freeradius radclient ping ss; do
  command -v $t >/dev/null || { echo "FAIL - missing $t (scripts/test.d/36-bng-interop.sh installs it)"; exit 2; }
done
[ -x "$BIN" ] || { echo "FAIL - no varouter binary at $BIN (cargo build --release)"; exit 2; }
[ -x "$LAC" ] || { echo "FAIL - no lwIP harness at $LAC (run $LWIP_DIR/build.sh)"; exit 2; }
[ -f "$PROFILE" ] || { echo "FAIL - no profile $PROFILE"; exit 2; }
if ip netns list | awk '{print $1}' | grep -qx "$NS_H"; then
  echo "FAIL - namespace $NS_H exists already (another run? ip netns del $NS_H)"; exit 2
fi

T0=$(date +%s.%N)
W=$(mktemp -d -t vl-bng-e2e.XXXXXX)
VAROUTER_PID= TCPDUMP_PIDS=() LWIP_PID= MADE_H=0 MADE_TOPO=0
cleanup() {
  [ -n "$LWIP_PID" ] && kill "$LWIP_PID" 2>/dev/null
  [ -n "$VAROUTER_PID" ] && kill "$VAROUTER_PID" 2>/dev/null
  for p in "${TCPDUMP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  bash "$RAD_DIR/freeradius.sh" stop "$W/radius"
  sleep 0.3
  [ $MADE_H = 1 ] && ip netns del "$NS_H" 2>/dev/null
  [ $MADE_TOPO = 1 ] && topo_down
  [ "$BACKEND" = dpdk ] && rm -rf "/var/run/dpdk/$NS_S"
  if [ "${KEEP:-0}" = 1 ] || [ $fail -ne 0 ]; then echo "logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'fail=1; exit 130' INT TERM

# --- topology --------------------------------------------------------------------------
topo_up "$LNS_IF" || die "topology (namespaces $NS_C, $NS_S)"
MADE_TOPO=1
ip netns exec "$NS_S" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns add "$NS_H" || die "namespace $NS_H"
MADE_H=1
ip -n "$NS_H" link set lo up
ip -n "$NS_H" link add "$HOST_IF" type veth peer name "$LAN_IF" netns "$NS_S" || die "veth $HOST_IF/$LAN_IF"
ip netns exec "$NS_H" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS_H" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS_H" addr add "$HOST_IP/24" dev "$HOST_IF"
ip -n "$NS_H" link set "$HOST_IF" up
ip -n "$NS_S" link set "$LAN_IF" up
ip -n "$NS_H" route add default via "$LAN_GW" || die "host default route"
for o in rx tx tso gso gro; do
  ip netns exec "$NS_H" ethtool -K "$HOST_IF" $o off >/dev/null 2>&1
  ip netns exec "$NS_S" ethtool -K "$LAN_IF" $o off >/dev/null 2>&1
done

if [ "$BACKEND" = dpdk ]; then
  "$ROOT/scripts/dpdk-profile" "$PROFILE" "$NS_S" "$NS_S" > "$W/bng-dpdk.yaml" || die "dpdk-profile"
  PROFILE=$W/bng-dpdk.yaml
  "$BIN" check "$PROFILE" >/dev/null || die "the DPDK profile does not check (is $BIN a --features dpdk build?)"
elif [ "$BACKEND" != af_packet ]; then
  die "BACKEND must be af_packet or dpdk"
fi

# --- captures, FreeRADIUS, varouter ------------------------------------------------------
capture() { # NS IF FILE FILTER...
  local ns=$1 ifc=$2 f=$3; shift 3
  ip netns exec "$ns" timeout $((DURATION + 60)) tcpdump -i "$ifc" --immediate-mode -U -n -s 0 \
    -w "$W/$f.pcap" "$@" > "$W/$f.tcpdump.log" 2>&1 &
  TCPDUMP_PIDS+=($!)
  for _ in $(seq 1 50); do grep -q "listening on" "$W/$f.tcpdump.log" && return 0; sleep 0.1; done
  die "tcpdump on $ns/$ifc did not start"
}
capture "$NS_C" "${P}c0" l2tp udp port 1701
capture "$NS_S" lo radius udp port 1812 or udp port 1813 or udp port 3799
capture "$NS_H" "$HOST_IF" host not arp

RADIUS_TIMEOUT=$((DURATION + 60)) bash "$RAD_DIR/freeradius.sh" start "$NS_S" "$W/radius" \
  127.0.0.1 127.0.0.1 "$RADIUS_SECRET" > "$W/freeradius.start" 2>&1 || { cat "$W/freeradius.start"; die "FreeRADIUS did not start"; }

V=$W/varouter.out
ip netns exec "$NS_S" env RUST_LOG=${RUST_LOG:-info} timeout $((DURATION + 20)) \
  "$BIN" run "$PROFILE" --duration "$DURATION" --stats-interval 0 > "$V" 2> "$W/varouter.err" &
VAROUTER_PID=$!
for _ in $(seq 1 100); do
  ip netns exec "$NS_S" ss -Hlun 'sport = :3799' | grep -q 3799 && break
  kill -0 $VAROUTER_PID 2>/dev/null || break
  sleep 0.1
done
ip netns exec "$NS_S" ss -Hlun 'sport = :3799' | grep -q 3799 || { cat "$W/varouter.err"; die "varouter did not start (no DAE socket on 127.0.0.1:3799)"; }
echo "varouter $BIN ($BACKEND ports), profile $PROFILE in $NS_S; lwIP $LAC_ADDR in $NS_C; host $HOST_IP in $NS_H; work dir $W"

# --- helpers ---------------------------------------------------------------------------
# lwip NAME USER PASSWORD AUTH HOLD [bg]: one lwIP run; stdout in $W/NAME.out.
lwip() {
  local name=$1 user=$2 pass=$3 auth=$4 hold=$5 mode=${6:-fg}
  local args=(--tap "${P}tap0" --addr "$LAC_ADDR" --lns "$LNS_IP" --secret "$TUNNEL_SECRET"
              --user "$user" --password "$pass" --auth "$auth" --up-timeout 15
              --ping "$HOST_IP" --count "$PINGS" --interval 200 --ping-timeout 1000 --hold "$hold")
  echo "# $name: $user/$auth hold=${hold}s"
  if [ "$mode" = bg ]; then
    ip netns exec "$NS_C" timeout $((hold + 45)) "$LAC" "${args[@]}" > "$W/$name.out" 2> "$W/$name.err" &
    LWIP_PID=$!
  else
    ip netns exec "$NS_C" timeout $((hold + 45)) "$LAC" "${args[@]}" > "$W/$name.out" 2> "$W/$name.err"
    echo $? > "$W/$name.rc"
    show "$name"
  fi
}
show() { grep -v '^phase ' "$W/$1.out" | sed 's/^/    lwip: /'; }
lwip_wait_bg() { # NAME: wait for the background lwIP to end
  wait "$LWIP_PID"; echo $? > "$W/$1.rc"; LWIP_PID=
  show "$1"
}
wait_for() { # FILE REGEX SECONDS
  local i
  for i in $(seq 1 $(($3 * 10))); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
now() { date +%s.%N; }
local_addr() { sed -n 's/^ppp up local=\([0-9.]*\) .*/\1/p' "$W/$1.out" | head -1; }
pings_ok() { grep -q "^done up=1 pings_ok=$PINGS pings=$PINGS " "$W/$1.out"; }
detail() { bash "$RAD_DIR/detail.sh" "$W/radius"; }
# The session's Acct-Session-Id, from its accounting Start.
acct_id() { detail | awk -v u="$1" -v ip="$2" '$1=="Start" && $2=="user="u && $NF=="ip="ip {sub("session=","",$3); print $3}' | tail -1; }
dae() { # TYPE ATTRS...: radclient from 127.0.0.1 to varouter's DAE port
  local type=$1; shift
  printf '%s\n' "$*" | ip netns exec "$NS_S" timeout 15 radclient -r 1 -t 3 -x 127.0.0.1:3799 "$type" "$RADIUS_SECRET" 2>&1
}
host_ping() { ip netns exec "$NS_H" timeout 10 ping -n -c "$2" -i 0.2 -W 1 "$1" 2>&1; }
stat() { awk -v k="$1" '$1==k {print $2}' "$V" | tail -1; }
MA='Message-Authenticator = 0x00'

# --- 1 + 5: alice, PAP, held past the interim interval ---------------------------------
lwip alice alice secret pap 13
check "1 alice PAP: ppp up local=100.64.0.10 (Framed-IP-Address from RADIUS)" "grep -q '^ppp up local=100.64.0.10 ' $W/alice.out"
check "1 alice PAP: $PINGS/$PINGS pings to $HOST_IP (behind the VR) answered" "pings_ok alice"
check "1 alice PAP: lwIP closed cleanly (exit 0, ppp closed)" "[ \$(cat $W/alice.rc) -eq 0 ] && grep -qx 'ppp closed' $W/alice.out"

# --- 2: bob, CHAP, address from the pool; the session stays for 7 ------------------------
lwip bob bob secret chap 30 bg
wait_for "$W/bob.out" "^done |^ppp down|^ppp timeout|^ping (ok|timeout) seq=$PINGS " 25
BOB_IP=$(local_addr bob)
check "2 bob CHAP: ppp up with a pool address ($BOB_IP in 100.64.0.100-199)" \
  "[[ '$BOB_IP' =~ ^100\.64\.0\.([0-9]+)$ ]] && [ \${BASH_REMATCH[1]} -ge 100 ] && [ \${BASH_REMATCH[1]} -le 199 ]"
check "2 bob CHAP: $PINGS/$PINGS pings to $HOST_IP answered" "grep -c '^ping ok ' $W/bob.out | grep -qx $PINGS"
o=$(host_ping "$BOB_IP" 2); echo "$o" > "$W/bob.hostping"
check "2 bob CHAP: the host pings the subscriber $BOB_IP (route into the session)" "grep -q ' 0% packet loss' <<< \"\$o\""

# --- 7: CoA Session-Timeout for bob ----------------------------------------------------
o=$(dae coa "User-Name = \"bob\", Framed-IP-Address = $BOB_IP, Session-Timeout = 4, $MA"); echo "$o" > "$W/coa.out"
t_coa=$(now)
check "7 CoA-Request (User-Name bob, Framed-IP-Address, Session-Timeout 4): CoA-ACK" \
  "grep -q 'Received CoA-ACK' <<< \"\$o\" && ! grep -qi 'invalid\|No reply' <<< \"\$o\""
# varouter ends it at the timeout with an LCP Terminate-Request; lwIP, like any RFC 1661
# peer, reports down only when its own Stopping timer (3 s) runs out after the Terminate-Ack.
wait_for "$W/bob.out" '^ppp down' 12; t_down=$(now)
el=$(awk -v a="$t_coa" -v b="$t_down" 'BEGIN {printf "%.1f", b - a}')
check "7 lwIP reports bob's session down ${el}s after the CoA (expect 4 s + lwIP's 3 s Stopping)" \
  "grep -q '^ppp down' $W/bob.out && awk -v e=$el 'BEGIN {exit !(e >= 3.5 && e <= 8.5)}'"
lwip_wait_bg bob

# --- 3: carol, MS-CHAPv2; the session stays for 6 ----------------------------------------
lwip carol carol secret mschapv2 30 bg
wait_for "$W/carol.out" "^done |^ppp down|^ppp timeout|^ping (ok|timeout) seq=$PINGS " 25
check "3 carol MS-CHAPv2: ppp up local=100.64.0.12 (lwIP accepted the authenticator response)" "grep -q '^ppp up local=100.64.0.12 ' $W/carol.out"
check "3 carol MS-CHAPv2: $PINGS/$PINGS pings to $HOST_IP answered" "grep -c '^ping ok ' $W/carol.out | grep -qx $PINGS"
o=$(host_ping 100.64.0.12 2); echo "$o" > "$W/carol.hostping1"
check "3 carol: the host pings the subscriber 100.64.0.12 before the disconnect" "grep -q ' 0% packet loss' <<< \"\$o\""

# --- 6: Disconnect-Request for carol -----------------------------------------------------
sleep 0.5
CAROL_ID=$(acct_id carol 100.64.0.12)
o=$(dae disconnect "User-Name = \"carol\", Acct-Session-Id = \"$CAROL_ID\", Framed-IP-Address = 100.64.0.12, $MA"); echo "$o" > "$W/disconnect.out"
check "6 Disconnect-Request (carol, Acct-Session-Id $CAROL_ID, 100.64.0.12): Disconnect-ACK" \
  "[ -n '$CAROL_ID' ] && grep -q 'Received Disconnect-ACK' <<< \"\$o\" && ! grep -qi 'invalid\|No reply' <<< \"\$o\""
wait_for "$W/carol.out" '^ppp down' 10
check "6 lwIP reports carol's session down" "grep -q '^ppp down' $W/carol.out"
o=$(host_ping 100.64.0.12 3); echo "$o" > "$W/carol.hostping2"
check "6 the host's pings to 100.64.0.12 go unanswered (the route is gone)" "grep -q ' 100% packet loss' <<< \"\$o\""
lwip_wait_bg carol

# --- 4: wrong password -----------------------------------------------------------------
lwip wrong alice wrong pap 0
check "4 alice with a wrong password: ppp down reason=authfail, never up" \
  "grep -q '^ppp down reason=authfail ' $W/wrong.out && ! grep -q '^ppp up' $W/wrong.out && [ \$(cat $W/wrong.rc) -eq 2 ]"

# --- stop varouter: its summary --------------------------------------------------------
sleep 1
kill -TERM $VAROUTER_PID; wait $VAROUTER_PID; vrc=$?; VAROUTER_PID=
sed -n '/^control core/,/^misdelivered/p' "$V" | sed 's/^/    varouter: /'
check "varouter ran to its summary (exit $vrc)" "[ $vrc -eq 0 ] && grep -q '=== varouter summary ===' $V"
ge() { local v; v=$(stat "$1"); [ "${v:-0}" -ge "$2" ]; }
check "4 varouter ppp_auth_rejects >= 1 ($(stat ppp_auth_rejects))" "ge ppp_auth_rejects 1"
check "varouter ppp_auth_accepts >= 3, ppp_sessions_up >= 3 ($(stat ppp_auth_accepts), $(stat ppp_sessions_up))" \
  "ge ppp_auth_accepts 3 && ge ppp_sessions_up 3"
check "6 varouter dae_disconnects >= 1 ($(stat dae_disconnects))" "ge dae_disconnects 1"
check "7 varouter dae_coa >= 1, subscriber_session_timeouts >= 1 ($(stat dae_coa), $(stat subscriber_session_timeouts))" \
  "ge dae_coa 1 && ge subscriber_session_timeouts 1"

# --- 5 (+6, 7): accounting ---------------------------------------------------------------
sleep 0.5
detail > "$W/detail.txt"; sed 's/^/    detail: /' "$W/detail.txt"
rec() { awk -v s="$1" -v u="user=$2" '$1==s && $2==u' "$W/detail.txt"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" | head -1; }
a_stop=$(rec Stop alice | head -1)
check "5 alice: Start, Interim-Update, Stop in order for one Acct-Session-Id" \
  "[ \"\$(awk '\$2==\"user=alice\" {print \$1, \$3}' $W/detail.txt | head -3 | awk '{print \$1}' | tr '\n' ' ')\" = 'Start Interim-Update Stop ' ] &&
   [ \$(awk '\$2==\"user=alice\" {print \$3}' $W/detail.txt | head -3 | sort -u | wc -l) -eq 1 ]"
a_in=$(field in <<< "$a_stop"); a_out=$(field out <<< "$a_stop")
# Each echo is 60 bytes of IP (20 + 8 + 32), one way and back.
check "5 alice Stop: non-zero octets (in=$a_in out=$a_out; >= $PINGS x 60 each way), ip 100.64.0.10, cause User-Request" \
  "[ \"\${a_in:-0}\" != - ] && [ \"\${a_out:-0}\" != - ] && [ \"\${a_in:-0}\" -ge $((PINGS * 60)) ] && [ \"\${a_out:-0}\" -ge $((PINGS * 60)) ] &&
   grep -q ' cause=User-Request ip=100.64.0.10$' <<< \"\$a_stop\""
a_int=$(rec Interim-Update alice | head -1)
check "5 alice Interim-Update: time=10, in/out octets > 0" \
  "grep -q ' time=10 ' <<< \"\$a_int\" && [ \"\$(field in <<< \"\$a_int\")\" -gt 0 ] 2>/dev/null && [ \"\$(field out <<< \"\$a_int\")\" -gt 0 ] 2>/dev/null"
check "6 carol Stop: cause Admin-Reset" "rec Stop carol | grep -q ' cause=Admin-Reset '"
check "7 bob Stop: cause Session-Timeout" "rec Stop bob | grep -q ' cause=Session-Timeout '"
check "5 Accounting-On first (the VR's NAS started), Accounting-Off last (varouter stopped, after the Stops)" \
  "[ \"\$(head -1 $W/detail.txt | awk '{print \$1}')\" = Accounting-On ] && [ \"\$(tail -1 $W/detail.txt | awk '{print \$1}')\" = Accounting-Off ]"

# --- 8: tshark -------------------------------------------------------------------------
sleep 0.5
for p in "${TCPDUMP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
for p in "${TCPDUMP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
TCPDUMP_PIDS=()
ts() { tshark -n -r "$@" 2>>"$W/tshark.err"; }
TR=(-o "radius.shared_secret:$RADIUS_SECRET" -o radius.validate_authenticator:TRUE)
BAD='_ws.malformed || _ws.expert.severity >= warning'
ts "$W/l2tp.pcap" > "$W/l2tp.txt"
ts "$W/l2tp.pcap" -Y "$BAD" > "$W/l2tp.bad"
ts "$W/l2tp.pcap" -q -z expert > "$W/l2tp.expert"
n_ppp=$(ts "$W/l2tp.pcap" -Y 'ppp' | wc -l)
n_l2tp=$(wc -l < "$W/l2tp.txt")
check "8 tshark: $n_l2tp L2TP datagrams on ${P}c0 ($n_ppp with PPP), none malformed, no expert warning or error" \
  "[ $n_ppp -gt 20 ] && [ ! -s $W/l2tp.bad ] && ! grep -qE '^ *(Error|Warning) ' $W/l2tp.expert"
ts "$W/radius.pcap" "${TR[@]}" -Y radius > "$W/radius.txt"
ts "$W/radius.pcap" "${TR[@]}" -Y "$BAD" > "$W/radius.bad"
ts "$W/radius.pcap" "${TR[@]}" -q -z expert > "$W/radius.expert"
n_udp=$(ts "$W/radius.pcap" | wc -l); n_rad=$(wc -l < "$W/radius.txt")
check "8 tshark: $n_rad RADIUS packets on lo (of $n_udp datagrams), none malformed, no expert warning or error" \
  "[ $n_rad -gt 10 ] && [ $n_rad -eq $n_udp ] && [ ! -s $W/radius.bad ] && ! grep -qE '^ *(Error|Warning) ' $W/radius.expert"
grep -E 'Disconnect|CoA' "$W/radius.txt" | sed 's/^/    tshark: /'
t_ack=$(ts "$W/radius.pcap" -Y 'radius.code == 44' -T fields -e frame.time_epoch | head -1)
t_stop=$(ts "$W/radius.pcap" -Y 'radius.code == 4 && radius.Acct_Status_Type == 2 && radius.User_Name == "bob"' -T fields -e frame.time_epoch | head -1)
el=$(awk -v a="${t_ack:-0}" -v b="${t_stop:-0}" 'BEGIN {printf "%.2f", b - a}')
check "7 (tshark) varouter's accounting Stop for bob ${el}s after its CoA-ACK (Session-Timeout 4)" \
  "[ -n '$t_ack' ] && [ -n '$t_stop' ] && awk -v e=$el 'BEGIN {exit !(e >= 3.9 && e <= 5)}'"

el=$(awk -v a="$T0" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}')
if [ $fail -ne 0 ]; then
  echo "--- varouter stderr (tail)"; tail -30 "$W/varouter.err"
  echo "--- varouter summary"; cat "$V"
  echo "--- tshark L2TP problems"; head -20 "$W/l2tp.bad"; cat "$W/l2tp.expert"
  echo "--- tshark RADIUS problems"; head -20 "$W/radius.bad"; cat "$W/radius.expert"
  echo "FAILED: BNG end to end (${el}s)"
else
  echo "PASS: BNG end to end ($BACKEND ports) — lwIP LAC, varouter LNS/BNG, FreeRADIUS, radclient DAE, tshark (${el}s)"
fi
exit $fail
