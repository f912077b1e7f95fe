#!/bin/bash
# End-to-end PPPoE access with LAC relay by realm (issue 14): varouter as the access
# concentrator (configs/access.yaml) relaying PPPoE subscribers, by the realm of their user
# name, into L2TP tunnels from one VR per ISP to that ISP's LNS; independent peers all round.
#
#   ns va-c (subscribers)            ns va-lac (varouter, af_packet)     ns va-lnsa: ISP A
#   lwIP PPPoE alice, bob, carol     port access va-acc0, VLAN 100       varouter LNS (lns-a.yaml)
#   on va-tap0..2 + the probe's        → VR access (PPPoE AC)             va-la0 10.231.0.2/30
#   va-p0, bridge va-br0 — va-c0 ==  port up-a va-upa0 10.231.0.1 ====  FreeRADIUS 127.0.0.1
#   erin, frank, gina on VLAN 200      → VR isp-a (LAC)                  va-la1 10.215.1.1/24 ==
#                                    VLAN 200 → VR access-radius,
#                                      FreeRADIUS 127.0.0.2 (lo)
#                                    port up-b va-upb0 10.232.0.1 ==        ns va-h: host 10.215.1.2
#                                      → VR isp-b (LAC)               ns va-lnsb: ISP B
#                                                                        xl2tpd LNS va-lb0 10.232.0.2/30
#                                                                        + ppp_stub.py as pppd
#
# ISP A: alice@isp-a.example (CHAP) gets 100.64.0.10 from FreeRADIUS (pool 100.64.0.0/24 in the
# LNS's VR); ISP B: bob@isp-b.example (PAP) gets an address from xl2tpd's 100.64.0.20-50, peer
# 100.64.0.1 — the same range as ISP A, so the two overlap and only the VRs keep them apart.
#
# Part 1 (runs today, no LAC needed): the topology, FreeRADIUS, ISP A's LNS (varouter), ISP
# B's LNS (xl2tpd + ppp_stub), and a preflight that dials both LNSes from va-lac with lwIP's
# L2TP LAC (same addresses and MACs as the appliance's ports) with the very users the
# subscribers will use: it proves the far side before the access appliance is in the path.
# Part 2 (the access appliance; LEAD: finish with the LAC): varouter run configs/access.yaml
# in va-lac, then the cases
#   A1 bob PAP → VR isp-b → xl2tpd: discovery (AC-Name varouter-access), an address from
#      xl2tpd's range, pings to 100.64.0.1 (the stub)
#   A2 alice CHAP → VR isp-a → LNS A: 100.64.0.10 (RADIUS), pings to the host behind ISP A,
#      the host pings her back
#   A3 overlap: alice pings bob's address: unanswered, seen on ISP A's link, never on ISP B's
#   A4 carol@nowhere.example: refused (ppp down reason=authfail), a counter in the summary
#   A5 the LNS ends a session → PADT to the subscriber: ISP A by Disconnect-Request (radclient
#      to LNS A's DAE), ISP B by killing bob's pppd (xl2tpd sends CDN)
#   A6 a client's PADT (the probe, from the subscriber's own MAC, no LCP Terminate) → CDN from
#      the LAC toward the LNS
#   A7 xl2tpd ends the tunnel (StopCCN) → PADT to the subscriber of that tunnel
#   A8 the hostile discovery probe: PADI flood (sessions bounded, per-MAC PADO limit, at most
#      max_sessions_per_mac sessions per MAC), forged PADRs get no session, bad tags, unknown
#      sessions, oversize frames, a foreign PADT does not end the victim's session
#   A9 tshark: PPPoE/PPP (VLAN 100) on va-c0, L2TP/PPP on va-la0 and va-lb0, nothing malformed
#   A10 tunnel switching: lwIP's L2TP LAC (a wholesale partner, untagged on the access port)
#      → VR wholesale's LNS → switched by realm into VR isp-a's tunnel → LNS A: up, pings
# RADIUS-chosen tunnels (RFC 2868): VR access-radius on VLAN 200 has no realms; the access
# carrier's FreeRADIUS (127.0.0.2 on va-lac's loopback, users in $W/users-acc) chooses:
#   A11 erin@wholesale.example (CHAP) → Accept, one untagged L2TP tunnel to 10.232.0.2,
#      password secret-b, assignment isp-b → VR isp-b → xl2tpd: its address, pings 100.64.0.1
#   A12 frank@wholesale.example → Access-Reject "no service": authfail, the Reply-Message in
#      the CHAP Failure, no call anywhere, access_radius_rejects
#   A13 gina@wholesale.example → Accept, two tagged tunnels: preference 1 with a wrong
#      Tunnel-Password (skipped, access_radius_tunnel_secret_mismatch), preference 2 to LNS A
#      (10.231.0.2, secret-a, isp-a): 100.64.0.11 from LNS A's FreeRADIUS, pings both ways
#   A14 tshark on va-lac's lo: the 3 Access-Requests and their answers decode (nothing
#      malformed), every Response Authenticator and Message-Authenticator valid
#      (pcapcheck.py), the tunnels of the 2 Accepts as configured (tunnelcheck.py)
#   A15 dave@isp-c.example (CHAP) → realm isp-c.example → VR isp-c, which terminates him
#      here (no LNS): 100.64.0.30 from its users, 3/3 pings to its address 10.234.0.1
#
# PREFLIGHT_ONLY=1 stops after part 1 (says so, exit 0 if it passed). Otherwise part 2 runs
# and fails loudly (never skips) if the appliance or its profile is not ready.
# Needs root, tcpdump, tshark, ethtool, freeradius + radclient, xl2tpd, ping, python3;
# target/release/varouter (VAROUTER; LNS_VAROUTER for ISP A's LNS, default the same) and
# target/lwip/lwip_lac. Exit 0 all ok, 1 a failure, 2 something missing. KEEP=1 keeps the
# work directory (kept on failure anyway). VA_PREFIX changes the "va-" prefix (of the
# namespaces, the interfaces, and the profiles' interface names: they run from copies in $W).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LWIP_DIR=$ROOT/tests/interop/lwip
PPPOE_DIR=$ROOT/tests/interop/pppoe
RAD_DIR=$ROOT/tests/interop/radius
VL_PREFIX=${VA_PREFIX:-va-}
. "$LWIP_DIR/topo.bash"        # P, NS_C, topo_up/topo_down (makes NS_C and NS_S), topo_add_tap/probe
NS_S=${P}lac                   # the access appliance's namespace (topo_up makes it)
NS_A=${P}lnsa NS_B=${P}lnsb NS_H=${P}h
BIN=${VAROUTER:-$ROOT/target/release/varouter}
LNS_BIN=${LNS_VAROUTER:-$BIN}
LAC=${LWIP_LAC:-$ROOT/target/lwip/lwip_lac}
PROFILE=${PROFILE:-$ROOT/configs/access.yaml}
LNS_A_PROFILE=$HERE/lns-a.yaml
DURATION=${DURATION:-300}
RADIUS_SECRET=testing123
ACC_IF=${P}acc0 UPA_IF=${P}upa0 UPB_IF=${P}upb0      # the appliance's ports (profile)
LA_IF=${P}la0 LAN_IF=${P}la1 LB_IF=${P}lb0 HOST_IF=${P}h0
UPA_MAC=02:00:00:23:10:01 UPB_MAC=02:00:00:23:20:01 ACC_MAC=02:00:00:23:00:01
HOST_IP=10.215.1.2 VLAN=100 VLAN_R=200
ALICE=alice@isp-a.example BOB=bob@isp-b.example CAROL=carol@nowhere.example PASS=secret
ALICE_MAC=02:50:00:00:00:0a BOB_MAC=02:50:00:00:00:0b CAROL_MAC=02:50:00:00:00:0c
# VR access-radius's subscribers and its RADIUS server (the access carrier's, in $NS_S).
ERIN=erin@wholesale.example FRANK=frank@wholesale.example GINA=gina@wholesale.example
ERIN_MAC=02:50:00:00:00:0e FRANK_MAC=02:50:00:00:00:0f GINA_MAC=02:50:00:00:00:10
ACC_RADIUS_IP=127.0.0.2 ACC_RADIUS_SECRET=access-radius-secret   # as in configs/access.yaml
# LEAD: the appliance's counter names for these (its summary, "name value" lines).
C_REALM_UNKNOWN=${C_REALM_UNKNOWN:-access_realm_unknown}
C_SESSIONS_NOW=${C_SESSIONS_NOW:-pppoe_sessions_now}
C_PADI_RATE=${C_PADI_RATE:-pppoe_rate_limited}
C_BAD_COOKIE=${C_BAD_COOKIE:-pppoe_cookie_invalid}

fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
die() { echo "FAIL - $*"; fail=1; exit 2; }

[ "$(id -u)" = 0 ] || { echo "FAIL - needs root"; exit 2; }
for t in tcpdump tshark ethtool freeradius radclient xl2tpd ping ss python3; do
  command -v $t >/dev/null || { echo "FAIL - missing $t (scripts/test.d/37-access-interop.sh installs it)"; exit 2; }
done
[ -x "$LNS_BIN" ] || { echo "FAIL - no varouter binary at $LNS_BIN (cargo build --release)"; exit 2; }
[ -x "$LAC" ] || { echo "FAIL - no lwIP harness at $LAC (run $LWIP_DIR/build.sh)"; exit 2; }
for ns in "$NS_A" "$NS_B" "$NS_H"; do
  ip netns list | awk '{print $1}' | grep -qx "$ns" && { echo "FAIL - namespace $ns exists already (ip netns del $ns)"; exit 2; }
done

T0=$(date +%s.%N)
W=$(mktemp -d -t "${P}access-e2e.XXXXXX")
PIDS=() CAPS=() MADE=() MADE_TOPO=0 LAC_PID= LNSA_PID= XL_PID=
cleanup() {
  for p in "${PIDS[@]}" $LAC_PID $LNSA_PID $XL_PID; do kill "$p" 2>/dev/null; done
  for p in "${CAPS[@]}"; do kill "$p" 2>/dev/null; done
  bash "$RAD_DIR/freeradius.sh" stop "$W/radius"
  bash "$RAD_DIR/freeradius.sh" stop "$W/radius-acc"
  sleep 0.3
  for ns in "${MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
  [ $MADE_TOPO = 1 ] && topo_down
  if [ "${KEEP:-0}" = 1 ] || [ $fail -ne 0 ]; then echo "logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'fail=1; exit 130' INT TERM

# The profiles name the interfaces with the default prefix: run copies with ours.
prefixed() { sed "s/\(interface: *\)va-/\1${P}/" "$1" > "$2"; }
prefixed "$LNS_A_PROFILE" "$W/lns-a.yaml"; LNS_A_PROFILE=$W/lns-a.yaml

# --- topology ---------------------------------------------------------------------------
topo_up "$ACC_IF" || die "topology (namespaces $NS_C, $NS_S)"
MADE_TOPO=1
for ns in "$NS_A" "$NS_B" "$NS_H"; do
  ip netns add "$ns" || die "namespace $ns"
  MADE+=("$ns")
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
done
ip netns exec "$NS_S" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS_S" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
veth() { # NS1 IF1 NS2 IF2: a veth pair across two namespaces, up, no offloads
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" || die "veth $2/$4"
  ip -n "$1" link set "$2" up; ip -n "$3" link set "$4" up
  for o in rx tx tso gso gro; do
    ip netns exec "$1" ethtool -K "$2" $o off >/dev/null 2>&1
    ip netns exec "$3" ethtool -K "$4" $o off >/dev/null 2>&1
  done
}
veth "$NS_S" "$UPA_IF" "$NS_A" "$LA_IF"
veth "$NS_S" "$UPB_IF" "$NS_B" "$LB_IF"
veth "$NS_H" "$HOST_IF" "$NS_A" "$LAN_IF"
ip -n "$NS_H" addr add "$HOST_IP/24" dev "$HOST_IF"
ip -n "$NS_H" route add default via 10.215.1.1 || die "host default route"
ip -n "$NS_B" addr add 10.232.0.2/30 dev "$LB_IF"
for t in 1 2; do topo_add_tap "${P}tap$t" || die "TAP ${P}tap$t"; done
topo_add_probe "${P}p0" || die "probe veth ${P}p0"

# --- captures ---------------------------------------------------------------------------
capture() { # NS IF NAME FILTER...: tcpdump into $W/NAME.pcap; its pid in CAP_NAME
  local ns=$1 ifc=$2 f=$3; shift 3
  ip netns exec "$ns" timeout $((DURATION + 120)) tcpdump -i "$ifc" --immediate-mode -U -n -s 0 \
    -w "$W/$f.pcap" "$@" > "$W/$f.tcpdump.log" 2>&1 &
  CAPS+=($!); eval "CAP_${f//-/_}=$!"
  for _ in $(seq 1 50); do grep -q "listening on" "$W/$f.tcpdump.log" && return 0; sleep 0.1; done
  die "tcpdump on $ns/$ifc did not start"
}
stop_capture() { local v="CAP_${1//-/_}"; sleep 0.3; kill -INT "${!v}" 2>/dev/null; wait "${!v}" 2>/dev/null; }
capture "$NS_A" "$LA_IF" upa udp port 1701
capture "$NS_B" "$LB_IF" upb udp port 1701
capture "$NS_A" lo radius udp port 1812 or udp port 1813 or udp port 3799

# --- FreeRADIUS and ISP A's LNS ---------------------------------------------------------
cat > "$W/users-extra" <<EOF
$ALICE	Cleartext-Password := "$PASS"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Framed-IP-Address = 100.64.0.10

$GINA	Cleartext-Password := "$PASS"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Framed-IP-Address = 100.64.0.11
EOF
RADIUS_EXTRA_USERS=$W/users-extra RADIUS_TIMEOUT=$((DURATION + 120)) bash "$RAD_DIR/freeradius.sh" start "$NS_A" \
  "$W/radius" 127.0.0.1 127.0.0.1 "$RADIUS_SECRET" > "$W/freeradius.start" 2>&1 ||
  { cat "$W/freeradius.start"; die "FreeRADIUS did not start"; }
ip netns exec "$NS_A" env RUST_LOG=${RUST_LOG:-info} timeout $((DURATION + 60)) \
  "$LNS_BIN" run "$LNS_A_PROFILE" --duration "$DURATION" --stats-interval 0 > "$W/lnsa.out" 2> "$W/lnsa.err" &
LNSA_PID=$!
for _ in $(seq 1 100); do
  ip netns exec "$NS_A" ss -Hlun 'sport = :3799' | grep -q 3799 && break
  kill -0 $LNSA_PID 2>/dev/null || break
  sleep 0.1
done
ip netns exec "$NS_A" ss -Hlun 'sport = :3799' | grep -q 3799 || { tail "$W/lnsa.err"; die "ISP A's LNS (varouter) did not start"; }

# --- ISP B's LNS: xl2tpd, ppp_stub as pppd (private mount namespace) ---------------------
printf '#!/bin/sh\nexec /usr/bin/python3 %s/ppp_stub.py "$@"\n' "$LWIP_DIR" > "$W/fake_pppd"; chmod +x "$W/fake_pppd"
echo "* * secret-b" > "$W/xl2tpd.secrets"; chmod 600 "$W/xl2tpd.secrets"
printf '[global]\nlisten-addr = 10.232.0.2\nauth file = %s\n[lns default]\nip range = 100.64.0.20-100.64.0.50\nlocal ip = 100.64.0.1\nchallenge = yes\nlength bit = yes\nname = xl2tpd-lns-b\n' \
  "$W/xl2tpd.secrets" > "$W/xl2tpd.conf"
ip netns exec "$NS_B" unshare -m sh -c "mount --bind $W/fake_pppd /usr/sbin/pppd && \
  PPP_STUB_LOG=$W/stub.log PPP_STUB_AUTH=pap PPP_STUB_USERS='$BOB:$PASS $ERIN:$PASS' PPP_STUB_RUNTIME=$DURATION \
  exec timeout $((DURATION + 60)) xl2tpd -D -c $W/xl2tpd.conf -p $W/xl2tpd.pid -C $W/xl2tpd.ctl" > "$W/xl2tpd.log" 2>&1 &
XL_PID=$!
sleep 1
kill -0 $XL_PID 2>/dev/null || { cat "$W/xl2tpd.log"; die "xl2tpd did not start"; }
echo "ISP A: varouter LNS $LNS_BIN + FreeRADIUS in $NS_A; ISP B: xl2tpd + ppp_stub in $NS_B; work dir $W"

show() { grep -v '^phase ' "$W/$1.out" | sed "s/^/    $1: /"; }
wait_for() { # FILE REGEX SECONDS
  local i
  for i in $(seq 1 $(($3 * 10))); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
local_addr() { sed -n 's/^ppp up local=\([0-9.]*\) .*/\1/p' "$W/$1.out" | head -1; }
sid() { sed -n 's/^pppoe session id=\([0-9]*\) .*/\1/p' "$W/$1.out" | head -1; }

# --- part 1: preflight, lwIP's L2TP LAC from va-lac with the appliance's addresses -------
# preflight NAME PORT_IF MAC ADDR LNS SECRET USER AUTH PING [HOLD ACTION]: ACTION (a
# function) runs once lwIP's pings are done, while it holds HOLD s
preflight() {
  local n=$1 pif=$2 mac=$3 addr=$4 lns=$5 sec=$6 user=$7 auth=$8 ping=$9 hold=${10:-0} action=${11:-}
  ip -n "$NS_S" link add "${P}pf0" type bridge && ip -n "$NS_S" tuntap add dev "${P}pft0" mode tap &&
    ip -n "$NS_S" link set "$pif" master "${P}pf0" && ip -n "$NS_S" link set "${P}pft0" master "${P}pf0" &&
    ip -n "$NS_S" link set "${P}pf0" up && ip -n "$NS_S" link set "${P}pft0" up || die "preflight bridge"
  echo "# preflight $n: lwIP L2TP LAC $addr ($mac) → $lns as $user/$auth"
  ip netns exec "$NS_S" timeout 60 "$LAC" --tap "${P}pft0" --addr "$addr" --mac "$mac" --lns "$lns" --secret "$sec" \
    --user "$user" --password "$PASS" --auth "$auth" --ping "$ping" --count 3 --interval 200 --up-timeout 15 \
    --hold "$hold" > "$W/$n.out" 2> "$W/$n.err" &
  local pid=$!
  if [ -n "$action" ]; then
    wait_for "$W/$n.out" '^ping (ok|timeout) seq=3 |^done |^ppp down' 25 && $action
  fi
  wait $pid
  echo $? > "$W/$n.rc"
  show "$n"
  ip -n "$NS_S" link set "$pif" nomaster
  ip -n "$NS_S" link del "${P}pf0"; ip -n "$NS_S" link del "${P}pft0"
}
preflight pf-a "$UPA_IF" "$UPA_MAC" 10.231.0.1/30 10.231.0.2 secret-a "$ALICE" chap "$HOST_IP"
check "P1 ISP A's LNS: $ALICE (CHAP, FreeRADIUS) up with 100.64.0.10, 3/3 pings to the host $HOST_IP" \
  "grep -q '^ppp up local=100.64.0.10 peer=100.64.0.1 ' $W/pf-a.out && grep -q '^done up=1 pings_ok=3 pings=3 down=none' $W/pf-a.out"
# xl2tpd ends a tunnel (StopCCN) when told "d TUNNEL_ID" on its control pipe (it sends
# none when it is stopped by a signal): its id for the tunnel from 10.232.0.1, from its log.
xl2tpd_stop_tunnel() {
  local tid
  tid=$(sed -n 's/.*Connection established to 10\.232\.0\.1, [0-9]*\.  Local: \([0-9]*\),.*/\1/p' "$W/xl2tpd.log" | tail -1)
  echo "    xl2tpd: disconnecting tunnel ${tid:-?}"
  [ -n "$tid" ] && echo "d $tid" > "$W/xl2tpd.ctl"
}
preflight pf-b "$UPB_IF" "$UPB_MAC" 10.232.0.1/30 10.232.0.2 secret-b "$BOB" pap 100.64.0.1 15 xl2tpd_stop_tunnel
check "P2 ISP B's LNS: $BOB (PAP, ppp_stub) up in 100.64.0.20-50, 3/3 pings to 100.64.0.1" \
  "grep -Eq '^ppp up local=100\.64\.0\.(2[0-9]|[34][0-9]|50) peer=100\.64\.0\.1 ' $W/pf-b.out &&
   [ \$(grep -c '^ping ok ' $W/pf-b.out) -eq 3 ] && grep -q 'PAP user=$BOB ok=True' $W/stub.log"
sleep 0.5
# (lwIP's LAC answers the StopCCN with a ZLB but keeps its PPP until LCP echo fails.)
check "P3 xl2tpd's tunnel disconnect (A7's trigger): StopCCN from 10.232.0.2 on $LB_IF" \
  "[ \$(tshark -n -r $W/upb.pcap -Y 'l2tp.avp.message_type == 4 && ip.src == 10.232.0.2' 2>/dev/null | wc -l) -ge 1 ] &&
   grep -q 'closed to 10.232.0.1.*(Goodbye!)' $W/xl2tpd.log"

if [ "${PREFLIGHT_ONLY:-0}" = 1 ]; then
  el=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
  if [ $fail -eq 0 ]; then echo "PASS: access end to end, part 1 only (PREFLIGHT_ONLY=1: the LAC cases were NOT run) (${el}s)"
  else echo "FAILED: access end to end, part 1 (${el}s)"; fi
  exit $fail
fi

# --- part 2: the access appliance (LEAD) ---------------------------------------------------
[ -x "$BIN" ] || die "no varouter binary at $BIN"
prefixed "$PROFILE" "$W/access.yaml"; PROFILE=$W/access.yaml
"$BIN" check "$PROFILE" > "$W/check.out" 2>&1 || { cat "$W/check.out"; die "the access profile $PROFILE does not check: the LAC cases cannot run"; }
stop_capture upa; stop_capture upb          # the preflight's captures are kept apart
mv "$W/upa.pcap" "$W/preflight-upa.pcap"; mv "$W/upb.pcap" "$W/preflight-upb.pcap"
capture "$NS_A" "$LA_IF" upa udp port 1701
capture "$NS_B" "$LB_IF" upb udp port 1701
capture "$NS_C" "${P}c0" access
# The access carrier's FreeRADIUS for VR access-radius: the tunnels by user (RFC 2868).
cat > "$W/users-acc" <<EOF
$ERIN	Cleartext-Password := "$PASS"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Tunnel-Type := L2TP,
	Tunnel-Medium-Type := IP,
	Tunnel-Server-Endpoint := "10.232.0.2",
	Tunnel-Password := "secret-b",
	Tunnel-Assignment-Id := "isp-b"

$FRANK	Auth-Type := Reject
	Reply-Message = "no service"

$GINA	Cleartext-Password := "$PASS"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Tunnel-Type:1 = L2TP,
	Tunnel-Medium-Type:1 = IP,
	Tunnel-Server-Endpoint:1 = "10.232.0.2",
	Tunnel-Password:1 = "not-secret-b",
	Tunnel-Assignment-Id:1 = "isp-b",
	Tunnel-Preference:1 = 1,
	Tunnel-Type:2 = L2TP,
	Tunnel-Medium-Type:2 = IP,
	Tunnel-Server-Endpoint:2 = "10.231.0.2",
	Tunnel-Password:2 = "secret-a",
	Tunnel-Assignment-Id:2 = "isp-a",
	Tunnel-Preference:2 = 2
EOF
capture "$NS_S" lo radius-acc udp port 1812 and host $ACC_RADIUS_IP
RADIUS_EXTRA_USERS=$W/users-acc RADIUS_TIMEOUT=$((DURATION + 120)) bash "$RAD_DIR/freeradius.sh" start "$NS_S" \
  "$W/radius-acc" $ACC_RADIUS_IP 127.0.0.1 "$ACC_RADIUS_SECRET" > "$W/freeradius-acc.start" 2>&1 ||
  { cat "$W/freeradius-acc.start"; die "the access carrier's FreeRADIUS did not start"; }
V=$W/lac.out
ip netns exec "$NS_S" env RUST_LOG=${RUST_LOG:-info} timeout $((DURATION + 20)) \
  "$BIN" run "$PROFILE" --duration "$DURATION" --stats-interval 0 > "$V" 2> "$W/lac.err" &
LAC_PID=$!
sleep 2
kill -0 $LAC_PID 2>/dev/null || { tail -20 "$W/lac.err"; die "the access appliance exited at start"; }
echo "access appliance $BIN, profile $PROFILE in $NS_S"

# sub NAME TAP MAC USER AUTH HOLD PING [extra...]: one PPPoE subscriber in the background,
# on VLAN $VLAN (or SUB_VLAN)
sub() {
  local n=$1 tap=$2 mac=$3 user=$4 auth=$5 hold=$6 ping=$7 vlan=${SUB_VLAN:-$VLAN}; shift 7
  echo "# $n: $user/$auth on $tap VLAN $vlan hold=${hold}s"
  ip netns exec "$NS_C" timeout $((hold + 60)) "$LAC" --pppoe --tap "$tap" --mac "$mac" --vlan $vlan \
    --user "$user" --password "$PASS" --auth "$auth" --ping "$ping" --count 3 --interval 200 \
    --ping-timeout 1000 --up-timeout 15 --hold "$hold" "$@" > "$W/$n.out" 2> "$W/$n.err" &
  eval "PID_$n=$!"
}
sub_wait() { local v="PID_$1"; wait "${!v}"; echo $? > "$W/$1.rc"; show "$1"; }
probe() { # NAME CASE ARGS...: the hostile probe on VLAN 100 against the appliance
  local n=$1; shift
  ip netns exec "$NS_C" timeout 120 python3 "$PPPOE_DIR/discovery_probe.py" "${P}p0" "$ACC_MAC" --vlan $VLAN --case "$@" \
    > "$W/probe-$n.out" 2>&1
  echo $? > "$W/probe-$n.rc"
  sed "s/^/    probe $n: /" "$W/probe-$n.out"
}
res() { sed -n "s/^result case=[^ ]* .*\\b$2=\\([0-9]*\\).*/\\1/p" "$W/probe-$1.out"; }
l2tp_msgs() { # PCAP FILTER: count
  tshark -n -r "$W/$1.pcap" -Y "$2" 2>/dev/null | wc -l
}

# A1: bob, PAP, through VR isp-b to xl2tpd
sub bob "${P}tap1" "$BOB_MAC" "$BOB" pap 90 100.64.0.1
wait_for "$W/bob.out" '^ping (ok|timeout) seq=3 |^done |^ppp down' 25
BOB_IP=$(local_addr bob); BOB_SID=$(sid bob)
check "A1 bob: PADS from AC varouter-access (session $BOB_SID)" "grep -Eq '^pppoe session id=[1-9][0-9]* ac=varouter-access mac=$ACC_MAC' $W/bob.out"
check "A1 bob: ppp up with xl2tpd's address ($BOB_IP in 100.64.0.20-50), peer 100.64.0.1" \
  "[[ '$BOB_IP' =~ ^100\.64\.0\.(2[0-9]|[34][0-9]|50)$ ]] && grep -q '^ppp up local=$BOB_IP peer=100.64.0.1 ' $W/bob.out"
check "A1 bob: 3/3 pings to 100.64.0.1 (ppp_stub behind xl2tpd)" "[ \$(grep -c '^ping ok ' $W/bob.out) -eq 3 ]"
check "A1 xl2tpd: the call came from the LAC (10.232.0.1) and the stub authenticated $BOB" \
  "[ \$(grep -c 'Call established with 10.232.0.1' $W/xl2tpd.log) -ge 2 ] && [ \$(grep -c 'PAP user=$BOB ok=True' $W/stub.log) -ge 2 ]"

# A2 + A3: alice, CHAP, through VR isp-a to LNS A; then pings to bob's (overlapping) address
sub alice "${P}tap0" "$ALICE_MAC" "$ALICE" chap 90 "$HOST_IP" --xping "${BOB_IP:-100.64.0.20}" --xcount 3
wait_for "$W/alice.out" '^xping (ok|timeout) seq=3 |^done |^ppp down' 35
ALICE_SID=$(sid alice)
check "A2 alice: PADS from AC varouter-access (session $ALICE_SID, not bob's $BOB_SID)" \
  "grep -Eq '^pppoe session id=[1-9][0-9]* ac=varouter-access ' $W/alice.out && [ '$ALICE_SID' != '$BOB_SID' ]"
check "A2 alice: ppp up local=100.64.0.10 (FreeRADIUS at ISP A) peer=100.64.0.1" "grep -q '^ppp up local=100.64.0.10 peer=100.64.0.1 ' $W/alice.out"
check "A2 alice: 3/3 pings to the host $HOST_IP behind ISP A" "[ \$(grep -c '^ping ok ' $W/alice.out) -eq 3 ]"
check "A2 FreeRADIUS authenticated $ALICE's proxied CHAP response" "grep -q 'CHAP user \\\"$ALICE\\\" authenticated successfully' $W/radius/radiusd.log"
o=$(ip netns exec "$NS_H" timeout 10 ping -n -c 3 -i 0.2 -W 1 100.64.0.10 2>&1); echo "$o" > "$W/host-ping-alice"
check "A2 the host pings alice (100.64.0.10) back through LNS A, the LAC and PPPoE" "grep -q ' 0% packet loss' <<< \"\$o\""
check "A3 alice's 3 pings to bob's address $BOB_IP go unanswered" \
  "! grep -q '^xping ok' $W/alice.out && [ \$(grep -c '^xping timeout ' $W/alice.out) -eq 3 ]"
n_a=$(l2tp_msgs upa "icmp.type == 8 && ip.src == 100.64.0.10 && ip.dst == ${BOB_IP:-0.0.0.0}")
stop_capture upb; cp "$W/upb.pcap" "$W/upb-a3.pcap"; capture "$NS_B" "$LB_IF" upb2 udp port 1701
n_b=$(l2tp_msgs upb-a3 "icmp && ip.src == 100.64.0.10")
check "A3 they land at ISP A ($n_a echo requests on $LA_IF), none reach ISP B ($n_b on $LB_IF)" "[ $n_a -ge 1 ] && [ $n_b -eq 0 ]"

# A4: carol, no known realm
sub carol "${P}tap2" "$CAROL_MAC" "$CAROL" pap 0 100.64.0.1
sub_wait carol
check "A4 $CAROL: ppp down reason=authfail, never up" \
  "grep -q '^ppp down reason=authfail' $W/carol.out && ! grep -q '^ppp up' $W/carol.out && [ \$(cat $W/carol.rc) -eq 2 ]"
check "A4 no call to any LNS for her (no RADIUS request, no stub login)" \
  "! grep -q 'carol' $W/radius/radiusd.log && ! grep -q 'user=carol' $W/stub.log"

# A5: the LNS ends a session → PADT to the subscriber
MA='Message-Authenticator = 0x00'
o=$(printf '%s\n' "User-Name = \"$ALICE\", Framed-IP-Address = 100.64.0.10, $MA" |
    ip netns exec "$NS_A" timeout 15 radclient -r 1 -t 3 -x 127.0.0.1:3799 disconnect "$RADIUS_SECRET" 2>&1)
echo "$o" > "$W/disconnect.out"
check "A5 Disconnect-Request for alice at LNS A: Disconnect-ACK" "grep -q 'Received Disconnect-ACK' <<< \"\$o\""
wait_for "$W/alice.out" "^pppoe padt received session=$ALICE_SID " 10
check "A5 LNS A's CDN became a PADT to alice (session $ALICE_SID)" "grep -q '^pppoe padt received session=$ALICE_SID mac=$ACC_MAC' $W/alice.out"
wait_for "$W/alice.out" '^ppp down' 30
check "A5 alice sees her link go" "grep -q '^ppp down' $W/alice.out"
sub_wait alice
STUB_PID=$(awk -v u="$BOB" '/ start pid=/ {p=$3} /PAP user=/ && $0 ~ u {q=p} END {sub("pid=","",q); print q}' "$W/stub.log")
# bob's pppd at xl2tpd (a ppp_stub we started through xl2tpd): xl2tpd sends CDN when it ends
[ -n "$STUB_PID" ] && grep -q ppp_stub "/proc/$STUB_PID/cmdline" 2>/dev/null && kill -TERM "$STUB_PID"
wait_for "$W/bob.out" "^pppoe padt received session=$BOB_SID " 10
check "A5 xl2tpd's CDN (bob's pppd $STUB_PID gone) became a PADT to bob (session $BOB_SID)" \
  "[ -n '$STUB_PID' ] && grep -q '^pppoe padt received session=$BOB_SID mac=$ACC_MAC' $W/bob.out"
sub_wait bob

# A6: a client's PADT (no LCP Terminate) → CDN toward the LNS
sub bob2 "${P}tap1" "$BOB_MAC" "$BOB" pap 40 100.64.0.1
wait_for "$W/bob2.out" '^ping (ok|timeout) seq=3 |^done |^ppp down' 25
BOB2_SID=$(sid bob2)
probe padt padt --session "${BOB2_SID:-0}" --victim "$BOB_MAC" --wait 2
sleep 1; stop_capture upb2
n_cdn=$(l2tp_msgs upb2 "l2tp.avp.message_type == 14 && ip.src == 10.232.0.1")
check "A6 a PADT from bob's MAC (session $BOB2_SID) made the LAC send CDN to xl2tpd ($n_cdn)" "[ $n_cdn -ge 1 ]"
check "A6 after the PADT the AC sent bob nothing more in that session" "[ \"\$(res padt session_frames_after)\" = 0 ]"
sub_wait bob2

# A7: xl2tpd ends the tunnel (StopCCN) → PADT to the subscriber of that tunnel
capture "$NS_B" "$LB_IF" upb3 udp port 1701
sub bob3 "${P}tap1" "$BOB_MAC" "$BOB" pap 40 100.64.0.1
wait_for "$W/bob3.out" '^ping (ok|timeout) seq=3 |^done |^ppp down' 25
BOB3_SID=$(sid bob3)
xl2tpd_stop_tunnel
wait_for "$W/bob3.out" "^pppoe padt received session=$BOB3_SID " 10
stop_capture upb3
check "A7 xl2tpd ended the tunnel: StopCCN on $LB_IF, then a PADT to bob (session $BOB3_SID)" \
  "[ \$(l2tp_msgs upb3 'l2tp.avp.message_type == 4 && ip.src == 10.232.0.2') -ge 1 ] &&
   grep -q '^pppoe padt received session=$BOB3_SID ' $W/bob3.out"
sub_wait bob3

# A15: a realm terminated on this appliance: VR isp-c has a `ppp` section and no LNS; the
# access side hands dave's PPP (proxy LCP + CHAP) to VR isp-c's subscriber manager, his
# address becomes a route in VR isp-c into his PPPoE session.
sub dave "${P}tap2" 02:50:00:00:00:0d dave@isp-c.example chap 0 10.234.0.1
sub_wait dave
check "A15 dave: terminated in VR isp-c: up with 100.64.0.30, 3/3 pings to 10.234.0.1 (VR isp-c's address)" \
  "grep -q '^ppp up local=100.64.0.30 peer=100.64.0.1 ' $W/dave.out && [ \$(grep -c '^ping ok ' $W/dave.out) -eq 3 ]"

# A10: tunnel switching. A wholesale partner's LAC (lwIP's L2TP LAC, untagged on the access
# port: VR wholesale, whose LNS is 10.233.0.1) tunnels alice; VR wholesale runs LCP and CHAP
# (lwIP sends no proxy AVPs), routes her by realm into VR isp-a's tunnel to LNS A with proxy
# LCP and authentication, and the workers relay L2TP to L2TP.
topo_add_tap "${P}tap3" || die "TAP ${P}tap3"
echo "# alice-sw: lwIP L2TP LAC 10.233.0.2 → VR wholesale 10.233.0.1 as $ALICE/chap"
ip netns exec "$NS_C" timeout 60 "$LAC" --tap "${P}tap3" --addr 10.233.0.2/24 --mac 02:50:00:00:00:0d \
  --lns 10.233.0.1 --secret secret-w --user "$ALICE" --password "$PASS" --auth chap --ping "$HOST_IP" \
  --count 3 --interval 200 --ping-timeout 1000 --up-timeout 15 > "$W/alice-sw.out" 2> "$W/alice-sw.err"
echo $? > "$W/alice-sw.rc"; show alice-sw
check "A10 tunnel switching: lwIP's LAC → VR wholesale → switched into VR isp-a → LNS A: up with 100.64.0.10, 3/3 pings to $HOST_IP" \
  "grep -q '^ppp up local=100.64.0.10 peer=100.64.0.1 ' $W/alice-sw.out && grep -q '^done up=1 pings_ok=3 pings=3 down=none' $W/alice-sw.out"

# A11-A13: RADIUS-chosen tunnels, VR access-radius on VLAN 200, the three at once.
# xl2tpd ignores proxy authentication: its stub asks PAP again through the relay, so erin
# offers CHAP (which the AC asks first, and RADIUS checks) and PAP (for the stub).
capture "$NS_B" "$LB_IF" upb4 udp port 1701
for t in 4 5 6; do topo_add_tap "${P}tap$t" || die "TAP ${P}tap$t"; done
SUB_VLAN=$VLAN_R sub erin "${P}tap4" "$ERIN_MAC" "$ERIN" chap,pap 0 100.64.0.1
SUB_VLAN=$VLAN_R sub frank "${P}tap5" "$FRANK_MAC" "$FRANK" chap 0 100.64.0.1
SUB_VLAN=$VLAN_R sub gina "${P}tap6" "$GINA_MAC" "$GINA" chap 20 "$HOST_IP"
wait_for "$W/gina.out" '^ping (ok|timeout) seq=3 |^done |^ppp down' 30
ip netns exec "$NS_H" timeout 10 ping -n -c 3 -i 0.2 -W 1 100.64.0.11 > "$W/host-ping-gina" 2>&1
sub_wait erin; sub_wait frank; sub_wait gina
stop_capture upb4
ERIN_IP=$(local_addr erin)
check "A11 erin: PADS from AC varouter-access-radius on VLAN $VLAN_R" \
  "grep -Eq '^pppoe session id=[1-9][0-9]* ac=varouter-access-radius mac=$ACC_MAC' $W/erin.out"
check "A11 erin: the access carrier's FreeRADIUS authenticated her CHAP response" \
  "grep -q 'CHAP user \\\"$ERIN\\\" authenticated successfully' $W/radius-acc/radiusd.log"
check "A11 erin: RADIUS's tunnel (10.232.0.2, isp-b) → xl2tpd's address ($ERIN_IP in 100.64.0.20-50), peer 100.64.0.1" \
  "[[ '$ERIN_IP' =~ ^100\.64\.0\.(2[0-9]|[34][0-9]|50)$ ]] && grep -q '^ppp up local=$ERIN_IP peer=100.64.0.1 ' $W/erin.out"
check "A11 erin: 3/3 pings to 100.64.0.1; a call from VR isp-b (ICRQ from 10.232.0.1), the stub authenticated her" \
  "grep -q '^done up=1 pings_ok=3 pings=3 ' $W/erin.out && grep -q 'PAP user=$ERIN ok=True' $W/stub.log &&
   [ \$(l2tp_msgs upb4 'l2tp.avp.message_type == 10 && ip.src == 10.232.0.1') -ge 1 ]"
check "A12 frank: Access-Reject → ppp down reason=authfail, never up" \
  "grep -q '^ppp down reason=authfail' $W/frank.out && ! grep -q '^ppp up' $W/frank.out && [ \$(cat $W/frank.rc) -eq 2 ]"
check "A12 no call for frank (xl2tpd's stub and LNS A's FreeRADIUS never heard of him)" \
  "! grep -q 'frank' $W/stub.log && ! grep -q 'frank' $W/radius/radiusd.log"
check "A13 gina: the preference-2 tunnel (LNS A, isp-a): ppp up local=100.64.0.11 (LNS A's FreeRADIUS) peer=100.64.0.1" \
  "grep -q '^ppp up local=100.64.0.11 peer=100.64.0.1 ' $W/gina.out"
check "A13 gina: 3/3 pings to the host $HOST_IP, and the host pings her back" \
  "[ \$(grep -c '^ping ok ' $W/gina.out) -eq 3 ] && grep -q ' 0% packet loss' $W/host-ping-gina"
check "A13 gina: both FreeRADIUS servers authenticated her (the access carrier's, then LNS A's from the proxied CHAP)" \
  "grep -q 'CHAP user \\\"$GINA\\\" authenticated successfully' $W/radius-acc/radiusd.log &&
   grep -q 'CHAP user \\\"$GINA\\\" authenticated successfully' $W/radius/radiusd.log"
check "A13 gina: the preference-1 tunnel (wrong password) was never called (nothing of her at xl2tpd)" \
  "! grep -q 'gina' $W/stub.log"

# A9 (access link part): the captured PPPoE before the probe's deliberate garbage
stop_capture access
# A8: the hostile probe
probe flood padi-flood --count 2000
probe samemac padi-flood --count 200 --same-mac --complete --wait 3
probe forged padr-forged
probe badtags bad-tags
probe unknown unknown-session
probe oversize oversize
probe foreign padt-foreign
check "A8 PADI flood (2000 MACs at $(res flood pps) pps): the AC kept offering ($(res flood pado) PADOs); sessions: see the summary" \
  "[ \"\$(res flood pado)\" -ge 1 ] 2>/dev/null"
check "A8 one MAC, 200 PADIs at once: at most a second's worth of PADOs ($(res samemac pado) <= 20), at most 4 sessions ($(res samemac pads))" \
  "[ -n \"\$(res samemac pado)\" ] && [ \$(res samemac pado) -le 20 ] && [ \$(res samemac pads) -le 4 ]"
check "A8 forged, absent, flipped, other-MAC cookies: no session; the valid PADR: one" \
  "[ \"\$(res forged forged_sessions)\" = 0 ] && [ \"\$(res forged valid_session)\" -gt 0 ]"
check "A8 bad tags: malformed PADIs get nothing, the AC still answers afterwards" \
  "for v in tag-len-beyond-payload truncated-tag-header length-beyond-frame bad-vertype; do
     grep -q \"^probe bad-tags variant=\$v reply=none\" $W/probe-badtags.out || exit 1; done;
   grep -q '^probe bad-tags variant=control-after reply=PADO' $W/probe-badtags.out"
check "A8 unknown sessions: nothing answered in them" "[ \"\$(res unknown replies)\" = 0 ]"
check "A8 oversize session frame: dropped, the session lives on (no PADT)" "[ \"\$(res oversize padt)\" = 0 ]"
check "A8 foreign PADT: the victim's session not ended (no PADT to it, the AC still talks to it)" \
  "[ \"\$(res foreign victim_padt)\" = 0 ] && [ \"\$(res foreign ac_frames)\" -gt 0 ]"

# --- the appliance's summary ---------------------------------------------------------------
sleep 1
kill -TERM $LAC_PID; wait $LAC_PID; vrc=$?; LAC_PID=
# The summary lists non-zero counters only: absent = 0.
stat() { local v; v=$(awk -v k="$1" '$1==k {print $2}' "$V" | tail -1); echo "${v:-0}"; }
check "the appliance ran to its summary (exit $vrc)" "[ $vrc -eq 0 ] && grep -q '=== varouter summary ===' $V"
check "A4 $C_REALM_UNKNOWN >= 1 ($(stat $C_REALM_UNKNOWN))" "[ \"\$(stat $C_REALM_UNKNOWN)\" -ge 1 ] 2>/dev/null"
check "A15 access_terminated_here >= 1 ($(stat access_terminated_here)), VR isp-c accepted him (ppp_auth_accepts >= 1)" \
  "[ \"\$(stat access_terminated_here)\" -ge 1 ] && [ \"\$(stat ppp_auth_accepts)\" -ge 1 ]"
check "A10 the switched call and the relayed ones came up: access_calls_up >= 5 ($(stat access_calls_up))" "[ \"\$(stat access_calls_up)\" -ge 5 ]"
check "A8 $C_PADI_RATE >= 100 ($(stat $C_PADI_RATE)), $C_BAD_COOKIE >= 4 ($(stat $C_BAD_COOKIE))" \
  "[ \"\$(stat $C_PADI_RATE)\" -ge 100 ] 2>/dev/null && [ \"\$(stat $C_BAD_COOKIE)\" -ge 4 ] 2>/dev/null"
check "A8 sessions bounded: $C_SESSIONS_NOW at the end is 0 ($(stat $C_SESSIONS_NOW))" "[ \"\$(stat $C_SESSIONS_NOW)\" = 0 ]"
check "A11-A13 access_radius_requests = 3 ($(stat access_radius_requests)), accepts = 2 ($(stat access_radius_accepts)), tunnel calls = 2 ($(stat access_radius_tunnel_calls)), no timeout ($(stat access_radius_timeouts)) or error ($(stat access_radius_errors))" \
  "[ \$(stat access_radius_requests) -eq 3 ] && [ \$(stat access_radius_accepts) -eq 2 ] && [ \$(stat access_radius_tunnel_calls) -eq 2 ] &&
   [ \$(stat access_radius_timeouts) -eq 0 ] && [ \$(stat access_radius_errors) -eq 0 ]"
check "A12 access_radius_rejects >= 1 ($(stat access_radius_rejects))" "[ \$(stat access_radius_rejects) -ge 1 ]"
check "A13 access_radius_tunnel_secret_mismatch >= 1 ($(stat access_radius_tunnel_secret_mismatch)); the next tunnel came up, no fallback ($(stat access_radius_tunnel_fallbacks))" \
  "[ \$(stat access_radius_tunnel_secret_mismatch) -ge 1 ] && [ \$(stat access_radius_tunnel_fallbacks) -eq 0 ]"

# --- A9: tshark ------------------------------------------------------------------------------
for c in "${CAPS[@]}"; do kill -INT "$c" 2>/dev/null; done; for c in "${CAPS[@]}"; do wait "$c" 2>/dev/null; done; CAPS=()
BAD='_ws.malformed || _ws.expert.severity >= error'
nd=$(l2tp_msgs access "pppoed && vlan.id == $VLAN"); ns=$(l2tp_msgs access "pppoes && vlan.id == $VLAN")
nu=$(l2tp_msgs access "(pppoed || pppoes) && !vlan"); nbad=$(l2tp_msgs access "$BAD")
check "A9 tshark on ${P}c0: $nd PPPoED, $ns PPPoES on VLAN $VLAN, none untagged ($nu), none malformed ($nbad)" \
  "[ $nd -ge 8 ] && [ $ns -ge 40 ] && [ $nu -eq 0 ] && [ $nbad -eq 0 ]"
nd=$(l2tp_msgs access "pppoed && vlan.id == $VLAN_R"); ns=$(l2tp_msgs access "pppoes && vlan.id == $VLAN_R")
check "A9 tshark on ${P}c0: $nd PPPoED, $ns PPPoES on VLAN $VLAN_R (erin, frank, gina)" "[ $nd -ge 12 ] && [ $ns -ge 30 ]"
nf=$(l2tp_msgs access "vlan.id == $VLAN_R && chap.code == 4 && chap.message == \"no service\"")
check "A12 frank's CHAP Failure on VLAN $VLAN_R carries RADIUS's Reply-Message \"no service\" ($nf)" "[ $nf -ge 1 ]"
for f in upa upb-a3 upb2 upb3 upb4; do
  [ -f "$W/$f.pcap" ] || continue
  n=$(l2tp_msgs $f l2tp); np=$(l2tp_msgs $f 'l2tp && ppp'); nbad=$(l2tp_msgs $f "$BAD")
  check "A9 tshark on $f: $n L2TP ($np with PPP), none malformed ($nbad)" "[ $n -ge 1 ] && [ $nbad -eq 0 ]"
done

# A14: VR access-radius's RADIUS exchange, as tshark decodes it.
RTS=(tshark -n -r "$W/radius-acc.pcap" -o "radius.shared_secret:$ACC_RADIUS_SECRET" -o radius.validate_authenticator:TRUE)
"${RTS[@]}" -Y radius -V > "$W/radius-acc.verbose" 2>&1
"${RTS[@]}" -Y radius -T fields -E separator=, -e radius.code -e radius.authenticator.valid \
  -e radius.authenticator.invalid -e _ws.malformed -e _ws.expert.severity > "$W/radius-acc.fields" 2>&1
n_req=$(awk -F, '$1 == 1' "$W/radius-acc.fields" | wc -l); n_acc=$(awk -F, '$1 == 2' "$W/radius-acc.fields" | wc -l)
n_rej=$(awk -F, '$1 == 3' "$W/radius-acc.fields" | wc -l)
n_valid=$(awk -F, '$1 != 1 && $2 == "1" && $3 == "0"' "$W/radius-acc.fields" | wc -l)
n_exp=$(awk -F, '$4 != ""' "$W/radius-acc.fields" | wc -l)
# Expert items: none but two chance heuristics of Wireshark's (tests/interop/radius/expertcheck.py).
/usr/bin/python3 "$RAD_DIR/expertcheck.py" < "$W/radius-acc.verbose" > "$W/radius-acc.expert" || n_exp=$((n_exp + 1))
grep -v 'expert_items=0 ' "$W/radius-acc.expert" | sed 's/^/    expertcheck: /'
check "A14 tshark on $NS_S lo: $n_req Access-Requests, $n_acc Accepts, $n_rej Reject, Response Authenticators valid ($n_valid of 3), nothing malformed, no expert info ($n_exp)" \
  "[ $n_req -eq 3 ] && [ $n_acc -eq 2 ] && [ $n_rej -eq 1 ] && [ $n_valid -eq 3 ] && [ $n_exp -eq 0 ] && ! grep -q Malformed $W/radius-acc.verbose"
"${RTS[@]}" -Y radius -T fields -E separator=, -e frame.number -e udp.srcport -e udp.dstport -e udp.payload |
  /usr/bin/python3 "$RAD_DIR/pcapcheck.py" "$ACC_RADIUS_SECRET" > "$W/radius-acc.pcapcheck"; pc=$?
sed 's/^/    pcapcheck: /' "$W/radius-acc.pcapcheck"
check "A14 pcapcheck: every Message-Authenticator (requests and answers) and Response Authenticator valid" \
  "[ $pc -eq 0 ] && grep -q '^summary packets=6 bad=0 unsigned=0\$' $W/radius-acc.pcapcheck"
nreq=$("${RTS[@]}" -Y "radius.code == 1 && radius.CHAP_Password && radius.CHAP_Challenge && radius.NAS_Port_Type == 15 && radius.NAS_Port_Id == \"port 0 vlan $VLAN_R\"" 2>/dev/null | wc -l)
nerin=$("${RTS[@]}" -Y "radius.code == 1 && radius.User_Name == \"$ERIN\" && radius.Calling_Station_Id == \"$ERIN_MAC\"" 2>/dev/null | wc -l)
check "A14 the 3 requests: CHAP-Password + CHAP-Challenge, NAS-Port-Type Ethernet, NAS-Port-Id 'port 0 vlan $VLAN_R' ($nreq); erin's with her MAC ($nerin)" \
  "[ $nreq -eq 3 ] && [ $nerin -eq 1 ]"
# tunnelcheck.py names the Accepts in capture order: the users of their requests, matched by
# (client port, id), in that order (erin and gina were asked for at the same time).
acc_users=$("${RTS[@]}" -Y radius -T fields -E separator=, -e radius.code -e udp.srcport -e udp.dstport \
  -e radius.id -e radius.User_Name 2>/dev/null | awk -F, '$1 == 1 {u[$2 "," $4] = $5} $1 == 2 {print u[$3 "," $4]}')
/usr/bin/python3 "$RAD_DIR/tunnelcheck.py" $acc_users < "$W/radius-acc.verbose" > "$W/radius-acc.tunnels"; tc=$?
sed 's/^/    tshark: /' "$W/radius-acc.tunnels"
check "A14 tshark: erin's Accept holds the untagged tunnel (10.232.0.2, isp-b), gina's the tagged ones (pref 1 10.232.0.2 isp-b, pref 2 10.231.0.2 isp-a)" \
  "[ $tc -eq 0 ] &&
   grep -qxF 'user=$ERIN tunnel tag=0 type=3 medium=1 client=- server=\"10.232.0.2\" private_group=- assignment=\"isp-b\" client_auth=- server_auth=- preference=-' $W/radius-acc.tunnels &&
   grep -qxF 'user=$GINA tunnel tag=1 type=3 medium=1 client=- server=\"10.232.0.2\" private_group=- assignment=\"isp-b\" client_auth=- server_auth=- preference=1' $W/radius-acc.tunnels &&
   grep -qxF 'user=$GINA tunnel tag=2 type=3 medium=1 client=- server=\"10.231.0.2\" private_group=- assignment=\"isp-a\" client_auth=- server_auth=- preference=2' $W/radius-acc.tunnels"

el=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
if [ $fail -ne 0 ]; then
  echo "--- appliance stderr (tail)"; tail -30 "$W/lac.err"; echo "--- appliance summary"; cat "$V"
  echo "FAILED: access end to end (${el}s)"
else
  echo "PASS: access end to end — lwIP PPPoE, varouter AC + LAC by realm, varouter LNS + FreeRADIUS, xl2tpd, tshark (${el}s)"
fi
exit $fail
