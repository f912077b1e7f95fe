#!/bin/bash
# The lwIP PPPoE client (target/lwip/lwip_lac --pppoe) against an independent access
# concentrator: rp-pppoe's pppoe-server. It proves the harness before our own AC exists.
# pppoe-server starts pppd per session with "pty 'pppoe -n -I IF -e SESSION:MAC ...'"; the
# kernel here has no /dev/ppp, so -q points at a shim running ppp_stub.py, which runs that
# pty command itself and plays the server side of PPP (PAP or CHAP-MD5, IPCP, IPV6CP, echo,
# ICMP replies at its LOCAL address).
#
#   namespace vp-c                                        namespace vp-s
#   lwip on vp-tap0, vp-tap1 — bridge vp-br0 — vp-c0 ==veth== vp-s0  pppoe-server -I vp-s0
#                                                              vp-s0 ⇄ vlan_relay.py (VLAN 100)
#                                                              ⇄ vp-s1 ==veth== vp-s2  pppoe-server -I vp-s2
# The kernel here has no 8021q (no VLAN interfaces): for the tagged cases vlan_relay.py is
# the access switch between the trunk vp-s0 and rp-pppoe's untagged vp-s2.
#
# Cases: PAP, CHAP (up, the address and DNS pppoe-server/the stub gave, pings, the AC-Name
# and session id from discovery, PADT when lwIP closes); two subscribers at once on one
# segment (distinct sessions and addresses); a wrong password (authfail); the AC side ending
# the session (LCP Terminate, PADT reaches lwIP, lwIP goes down); VLAN 100 through the relay
# (up, pings, every frame on the trunk tagged 100) and a subscriber on VLAN 200 that gets no
# offer; tshark decodes PPPoED, PPPoES, PPP with nothing malformed. Then discovery_probe.py
# runs every case against rp-pppoe (that it works is checked, rp-pppoe's answers only shown).
# Needs root, pppoe (rp-pppoe), tcpdump, tshark, ethtool, python3. Exit 0 all ok, 1 a
# failure, 2 something missing. KEEP=1 keeps the work directory (kept on failure anyway).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LWIP_DIR=$ROOT/tests/interop/lwip
VL_PREFIX=${VP_PREFIX:-vp-}
. "$LWIP_DIR/topo.bash"           # P, NS_C, NS_S, topo_up, topo_down, topo_add_tap
LAC=${LWIP_LAC:-$ROOT/target/lwip/lwip_lac}
[ "$(id -u)" = 0 ] || { echo "FAIL - needs root"; exit 2; }
for t in pppoe-server pppoe tcpdump tshark ethtool python3; do
  command -v $t >/dev/null || { echo "FAIL - missing $t (apt-get install pppoe tcpdump tshark ethtool)"; exit 2; }
done
[ -x "$LAC" ] || { echo "FAIL - no lwIP harness at $LAC (run $LWIP_DIR/build.sh)"; exit 2; }
W=$(mktemp -d -t vp-rp-pppoe.XXXXXX)
fail=0 PIDS=() MADE=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  [ $MADE = 1 ] && topo_down
  if [ "${KEEP:-0}" = 1 ] || [ $fail -ne 0 ]; then echo "logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'fail=1; exit 130' INT TERM

topo_up "${P}s0" || { echo "FAIL - topology"; exit 2; }
MADE=1
topo_add_tap "${P}tap1" || { echo "FAIL - second TAP"; exit 2; }
ip -n "$NS_S" link add "${P}s1" type veth peer name "${P}s2" || { echo "FAIL - veth ${P}s1/${P}s2"; exit 2; }
for l in "${P}s1" "${P}s2"; do
  ip -n "$NS_S" link set "$l" up
  for o in rx tx tso gso gro; do ip netns exec "$NS_S" ethtool -K "$l" $o off >/dev/null 2>&1; done
done
for ns in "$NS_C" "$NS_S"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
printf '#!/bin/sh\nexec /usr/bin/python3 %s/ppp_stub.py "$@"\n' "$LWIP_DIR" > "$W/pppd"
chmod +x "$W/pppd"
: > "$W/pppoe-server-options"     # pppd options file: the stub reads none

# server NAME IFACE STUB_AUTH STUB_RUNTIME: pppoe-server (AC-Name rp-ac, LOCAL 100.64.2.1,
# remote pool from 100.64.2.10) with the stub as pppd; users alice/secret and bob/secret2.
server() {
  local d=$W/$1
  mkdir -p "$d"
  ip netns exec "$NS_S" env PPP_STUB_LOG="$d/stub.log" PPP_STUB_AUTH="$3" PPP_STUB_RUNTIME="$4" \
    PPP_STUB_USERS="alice:secret bob:secret2" \
    timeout 90 pppoe-server -F -I "$2" -C rp-ac -L 100.64.2.1 -R 100.64.2.10 -N 8 \
    -q "$W/pppd" -O "$W/pppoe-server-options" > "$d/server.log" 2>&1 &
  SERVER=$!; PIDS+=($SERVER)
  sleep 0.5
}
server_stop() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; sleep 0.3; }
capture() { # NAME IFACE
  ip netns exec "$NS_S" timeout 90 tcpdump -i "$2" --immediate-mode -U -n -s 0 -w "$W/$1/$2.pcap" \
    > "$W/$1/tcpdump.log" 2>&1 &
  CAP=$!; PIDS+=($CAP)
  for _ in $(seq 1 50); do grep -q "listening on" "$W/$1/tcpdump.log" && return 0; sleep 0.1; done
  echo "FAIL - tcpdump on $2 did not start"; fail=1
}
capture_stop() { sleep 0.3; kill -INT "$CAP" 2>/dev/null; wait "$CAP" 2>/dev/null; }
# lwip CASE NAME TAP USER PASS AUTH [extra args...]: one subscriber, foreground
lwip() {
  local c=$1 n=$2 tap=$3 u=$4 pw=$5 au=$6; shift 6
  ip netns exec "$NS_C" timeout 60 "$LAC" --pppoe --tap "$tap" --user "$u" --password "$pw" --auth "$au" \
    --ping 100.64.2.1 --count 3 --interval 300 --ping-timeout 1000 --up-timeout 12 "$@" \
    > "$W/$c/$n.out" 2> "$W/$c/$n.err"
  echo $? > "$W/$c/$n.rc"
  grep -v '^phase ' "$W/$c/$n.out" | sed "s/^/    $n: /"
}
BAD='_ws.malformed || _ws.expert.severity >= error'
tshark_ok() { # CASE PCAP: nothing malformed, and PPPoE discovery, session and PPP decoded
  local f=$W/$1/$2.pcap
  tshark -n -r "$f" -Y "$BAD" > "$W/$1/$2.bad" 2>/dev/null
  local nd ns np
  nd=$(tshark -n -r "$f" -Y pppoed 2>/dev/null | wc -l)
  ns=$(tshark -n -r "$f" -Y pppoes 2>/dev/null | wc -l)
  np=$(tshark -n -r "$f" -Y 'ppp.protocol' 2>/dev/null | wc -l)
  check "$1: tshark decodes $nd PPPoED, $ns PPPoES ($np PPP) frames on $2, none malformed" \
    "[ $nd -ge 4 ] && [ $ns -ge 10 ] && [ $np -eq $ns ] && [ ! -s $W/$1/$2.bad ]"
}
sid() { sed -n 's/^pppoe session id=\([0-9]*\) .*/\1/p' "$1" | head -1; }

# --- PAP and CHAP, untagged --------------------------------------------------------------
for a in pap chap; do
  echo "# $a"
  mkdir -p "$W/$a"; capture "$a" "${P}s0"; server "$a" "${P}s0" "$a" 30
  lwip "$a" alice "${P}tap0" alice secret "$a"
  server_stop; capture_stop
  o=$W/$a/alice.out
  check "$a: discovery: PADO from AC rp-ac, PADS gave a session id" \
    "grep -q '^pppoe pado ac=rp-ac ' $o && grep -Eq '^pppoe session id=[1-9][0-9]* ac=rp-ac mac=' $o"
  check "$a: ppp up with the address from pppoe-server's pool and the stub's DNS" \
    "grep -Eq '^ppp up local=100\.64\.2\.10 peer=100\.64\.2\.1 dns=192\.0\.2\.53,192\.0\.2\.53 ' $o"
  check "$a: 3/3 pings answered, exit 0" "grep -q '^done up=1 pings_ok=3 pings=3 down=none vlan_drops=0' $o && [ \$(cat $W/$a/alice.rc) -eq 0 ]"
  check "$a: the stub authenticated alice" "grep -q '${a^^} user=alice ok=True' $W/$a/stub.log"
  s=$(sid "$o")
  check "$a: clean close: ppp closed, PADT for session $s sent and on the wire" \
    "grep -qx 'ppp closed' $o && grep -qx 'pppoe padt sent session=$s' $o &&
     [ \$(tshark -n -r $W/$a/${P}s0.pcap -Y 'pppoe.code == 0xa7 && pppoe.session_id == $s' 2>/dev/null | wc -l) -ge 1 ]"
  tshark_ok "$a" "${P}s0"
done

# --- two subscribers at once on one segment ----------------------------------------------
echo "# two"
mkdir -p "$W/two"; capture two "${P}s0"; server two "${P}s0" chap 30
lwip two alice "${P}tap0" alice secret chap --hold 3 &
L1=$!
lwip two bob "${P}tap1" bob secret2 chap --hold 3
wait $L1
server_stop; capture_stop
s1=$(sid "$W/two/alice.out"); s2=$(sid "$W/two/bob.out")
a1=$(sed -n 's/^ppp up local=\([0-9.]*\) .*/\1/p' "$W/two/alice.out"); a2=$(sed -n 's/^ppp up local=\([0-9.]*\) .*/\1/p' "$W/two/bob.out")
check "two: both up with distinct sessions ($s1, $s2) and addresses ($a1, $a2), 3/3 pings each" \
  "[ -n '$s1' ] && [ -n '$s2' ] && [ '$s1' != '$s2' ] && [ -n '$a1' ] && [ -n '$a2' ] && [ '$a1' != '$a2' ] &&
   grep -q '^done up=1 pings_ok=3 ' $W/two/alice.out && grep -q '^done up=1 pings_ok=3 ' $W/two/bob.out"
check "two: each client saw only its own discovery (one PADO, one PADS each)" \
  "[ \$(grep -c '^pppoe pado ' $W/two/alice.out) -eq 1 ] && [ \$(grep -c '^pppoe session ' $W/two/bob.out) -eq 1 ]"
tshark_ok two "${P}s0"

# --- a wrong password ---------------------------------------------------------------------
echo "# badpass"
mkdir -p "$W/badpass"; server badpass "${P}s0" pap 30
lwip badpass alice "${P}tap0" alice wrong pap
server_stop
check "wrong password: ppp down reason=authfail, never up, exit 2" \
  "grep -q '^ppp down reason=authfail' $W/badpass/alice.out && ! grep -q '^ppp up' $W/badpass/alice.out && [ \$(cat $W/badpass/alice.rc) -eq 2 ]"

# --- the AC side ends the session (the stub's runtime runs out) --------------------------
echo "# acdown"
mkdir -p "$W/acdown"; capture acdown "${P}s0"; server acdown "${P}s0" chap 5
lwip acdown alice "${P}tap0" alice secret chap --count 1 --hold 30
server_stop; capture_stop
s=$(sid "$W/acdown/alice.out")
check "AC ends the session: ppp up, then PADT for session $s received, then ppp down" \
  "grep -q '^ppp up' $W/acdown/alice.out && grep -q '^pppoe padt received session=$s ' $W/acdown/alice.out &&
   grep -q '^ppp down reason=' $W/acdown/alice.out"
tshark_ok acdown "${P}s0"

# --- VLAN 100 through the relay; VLAN 200 gets nothing ------------------------------------
echo "# vlan"
mkdir -p "$W/vlan"; capture vlan "${P}s0"
ip netns exec "$NS_S" timeout 90 python3 "$HERE/vlan_relay.py" "${P}s0" "${P}s1" 100 > "$W/vlan/relay.out" 2>&1 &
RELAY=$!; PIDS+=($RELAY)
server vlan "${P}s2" chap 30
# At once: the VLAN 100 client's broadcast PADI reaches the VLAN 200 client on the bridge.
lwip vlan other "${P}tap1" bob secret2 chap --vlan 200 --up-timeout 6 &
L1=$!
sleep 0.3
lwip vlan alice "${P}tap0" alice secret chap --vlan 100
wait $L1
server_stop; kill "$RELAY"; wait "$RELAY" 2>/dev/null; capture_stop
cat "$W/vlan/relay.out" | sed 's/^/    /'
check "vlan 100: discovery, ppp up, 3/3 pings through the relay" \
  "grep -q '^pppoe session id=' $W/vlan/alice.out && grep -q '^ppp up local=100.64.2.10 ' $W/vlan/alice.out &&
   grep -q '^done up=1 pings_ok=3 ' $W/vlan/alice.out"
n_all=$(tshark -n -r "$W/vlan/${P}s0.pcap" -Y 'pppoed || pppoes' 2>/dev/null | wc -l)
n_100=$(tshark -n -r "$W/vlan/${P}s0.pcap" -Y '(pppoed || pppoes) && vlan.id == 100' 2>/dev/null | wc -l)
n_200=$(tshark -n -r "$W/vlan/${P}s0.pcap" -Y '(pppoed || pppoes) && vlan.id == 200' 2>/dev/null | wc -l)
check "vlan: on the trunk every PPPoE frame is tagged ($n_100 on VLAN 100, $n_200 PADIs on VLAN 200, of $n_all)" \
  "[ $n_100 -ge 14 ] && [ $n_200 -ge 1 ] && [ $((n_100 + n_200)) -eq $n_all ]"
check "vlan 200: no offer (the relay serves VLAN 100 only), never up" \
  "! grep -q '^pppoe pado' $W/vlan/other.out && grep -q '^done up=0 ' $W/vlan/other.out"
check "vlan: the VLAN 200 client dropped the VLAN 100 PADI it saw on the bridge (vlan_drops > 0)" \
  "grep -Eq '^done up=0 .* vlan_drops=[1-9]' $W/vlan/other.out"
tshark_ok vlan "${P}s0"

# --- the hostile discovery probe against rp-pppoe -------------------------------------------
# rp-pppoe's behaviour is not ours to judge: these lines check that the probe works (every
# case runs to its result line; the well-formed baselines are answered) and show the rest.
echo "# probe (rp-pppoe's answers shown, not judged)"
mkdir -p "$W/probe"; capture probe "${P}s0"; server probe "${P}s0" chap 30
topo_add_probe "${P}p0" || { echo "FAIL - probe veth"; fail=1; }
AC_MAC=$(ip -n "$NS_S" -br link show "${P}s0" | awk '{print $3}')
probe() { # CASE ARGS...
  ip netns exec "$NS_C" timeout 60 python3 "$HERE/discovery_probe.py" "${P}p0" "$AC_MAC" --case "$@" \
    > "$W/probe/$1.out" 2>&1
  echo $? > "$W/probe/$1.rc"
  sed "s/^/    /" "$W/probe/$1.out"
}
for c in "padi-flood --count 500" "padr-forged" "bad-tags" "unknown-session" "oversize" "padt-foreign"; do
  probe $c
  n=${c%% *}
  check "probe $n: ran to its result line" "[ \$(cat $W/probe/$n.rc) -eq 0 ] && grep -q '^result case=$n ' $W/probe/$n.out"
done
check "probe padi-flood: 500 PADIs sent, rp-pppoe offered to some of them" \
  "grep -Eq '^result case=padi-flood sent=500 pps=[0-9]+ pado=[1-9]' $W/probe/padi-flood.out"
check "probe padr-forged: the valid baseline PADR got a session" \
  "grep -Eq '^result case=padr-forged .* valid_session=[1-9]' $W/probe/padr-forged.out"
check "probe bad-tags: the control PADI got a PADO" "grep -q '^probe bad-tags variant=control reply=PADO' $W/probe/bad-tags.out"
check "probe oversize / padt-foreign: the probe set up its own sessions" \
  "grep -q '^probe session id=' $W/probe/oversize.out && grep -q '^probe session id=' $W/probe/padt-foreign.out"
server_stop; capture_stop
echo "    tshark flags $(tshark -n -r "$W/probe/${P}s0.pcap" -Y "$BAD" 2>/dev/null | wc -l) frames on ${P}s0 as malformed (the probe's, on purpose)"

[ $fail -eq 0 ] && echo "PASS: lwIP PPPoE client against rp-pppoe's pppoe-server (PAP, CHAP, two subscribers, VLAN 100)"
exit $fail
