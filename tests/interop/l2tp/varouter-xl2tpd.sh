#!/bin/bash
# Interop of the appliance itself (data plane on the workers, L2TP on the control core) with
# xl2tpd, in two network namespaces joined by a veth pair. Needs root, xl2tpd, tcpdump,
# tshark. Every process is bounded by `timeout`.
#   varouter-xl2tpd.sh [af_packet|dpdk]
# runs varouter's port on the veth through AF_PACKET (default; configs/lns.yaml,
# configs/lac.yaml as they are) or through a DPDK net_af_packet vdev (the same profiles
# turned into DPDK ones by scripts/dpdk-profile; needs a `--features dpdk` build, by default
# target/dpdk/release/varouter). VAROUTER overrides the binary.
#   1. xl2tpd as LAC -> varouter LNS (configs/lns.yaml): tunnel with challenge auth, a
#      session bound in the VR; PPP frames of the session reach the control core through
#      the workers' session lookup (lns.yaml has no ppp section: counted ppp_not_terminated;
#      PPP termination is tested against lwIP in tests/interop/bng/).
#   2. varouter LAC (configs/lac.yaml, autodial) -> xl2tpd as LNS: tunnel and session up.
#   3. the LNS at its tunnel limit refuses a second xl2tpd LAC (StopCCN with an Assigned
#      Tunnel ID), which redials and connects once the first LAC has left.
# tshark must decode every L2TP message in both captures without malformed packets.
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BACKEND=${1:-af_packet}
case "$BACKEND" in
  af_packet) BIN=${VAROUTER:-$ROOT/target/release/varouter} ;;
  dpdk) BIN=${VAROUTER:-$ROOT/target/dpdk/release/varouter} ;;
  *) echo "usage: $0 [af_packet|dpdk]" >&2; exit 2 ;;
esac
PROBE=$ROOT/tests/interop/l2tp/lcp_probe.py
W=$(mktemp -d -t varouter_l2tp.XXXXXX)
V=vx-vr; X=vx-xl
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
stat() { awk -v k="$1" '$1==k {print $2}' "$2" | tail -1; }
cleanup() {
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  ip netns del $V 2>/dev/null; ip netns del $X 2>/dev/null
  # DPDK's runtime directory (--file-prefix $V) of the dpdk runs.
  rm -rf "/var/run/dpdk/$V"
}
# On exit: the processes and namespaces go; the work directory (configurations, logs,
# captures) stays only when something failed.
finish() {
  local rc=$?
  cleanup
  if [ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]; then rm -rf "$W"; else echo "kept $W for inspection"; fi
}
trap finish EXIT
for t in xl2tpd tcpdump tshark python3; do command -v $t >/dev/null || { echo "missing $t"; exit 2; }; done
[ -x "$BIN" ] || { echo "no varouter binary at $BIN (cargo build --release; for dpdk: scripts/lab up --backend dpdk builds it)"; exit 2; }
echo "varouter ($BIN) with its port on $BACKEND"

setup() {  # $1 = interface name varouter's profile expects
  cleanup
  ip netns add $V && ip netns add $X || exit 2
  # Both ends are created in their namespaces: no name is ever taken in the root namespace.
  ip -n $V link add "$1" type veth peer name vx-xl0 netns $X || exit 2
  ip -n $V link set lo up; ip -n $X link set lo up
  ip netns exec $V sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n $V link set "$1" up
  ip -n $X addr add 10.214.0.1/24 dev vx-xl0; ip -n $X link set vx-xl0 up
  # Frames exactly as on the wire on both ends: no checksum offload, no GRO/GSO.
  for o in rx tx tso gso gro; do
    ip netns exec $X ethtool -K vx-xl0 $o off >/dev/null 2>&1
    ip netns exec $V ethtool -K "$1" $o off >/dev/null 2>&1
  done
  printf '#!/bin/sh\nexec /usr/bin/python3 %s "$@"\n' "$PROBE" > $W/fake_pppd; chmod +x $W/fake_pppd
  echo "* * interopsecret" > $W/secrets; chmod 600 $W/secrets
}

profile() {  # $1 = configs/NAME.yaml (or an absolute path): the profile as it is, or its DPDK form on the same veth
  local src=$1; case $src in /*) ;; *) src=$ROOT/$1 ;; esac
  if [ "$BACKEND" = af_packet ]; then echo "$src"; return; fi
  "$ROOT/scripts/dpdk-profile" "$src" $V $V > "$W/dpdk-$(basename "$1")" || exit 2
  "$BIN" check "$W/dpdk-$(basename "$1")" >/dev/null || exit 2
  echo "$W/dpdk-$(basename "$1")"
}

# --- 1. xl2tpd LAC -> varouter LNS ------------------------------------------------------------
setup lns0
LNS=$(profile configs/lns.yaml) || exit 2
ip netns exec $X timeout 40 tcpdump -i vx-xl0 -U -w $W/lns.pcap udp port 1701 >/dev/null 2>&1 & echo $! > $W/tcpdump.pid
ip netns exec $V timeout 40 "$BIN" run "$LNS" --duration 14 --stats-interval 0 > $W/lns.out 2>&1 & echo $! > $W/varouter.pid
sleep 2
printf '[global]\nlisten-addr = 10.214.0.1\nauth file = %s/secrets\n[lac t1]\nlns = 10.214.0.2\nchallenge = yes\nlength bit = yes\nname = xl2tpd-lac\nautodial = no\n' $W > $W/lac.conf
ip netns exec $X unshare -m sh -c "mount --bind $W/fake_pppd /usr/sbin/pppd && LCP_PROBE_LOG=$W/probe.log LCP_PROBE_RUNTIME=6 exec timeout 30 xl2tpd -D -c $W/lac.conf -p $W/xl.xpid -C $W/lac.ctl" > $W/xl2tpd_lac.log 2>&1 & echo $! > $W/xl2tpd.pid
sleep 2; echo "c t1" > $W/lac.ctl; sleep 8; echo "d t1" > $W/lac.ctl 2>/dev/null
wait "$(cat $W/varouter.pid)" 2>/dev/null
kill "$(cat $W/xl2tpd.pid)" "$(cat $W/tcpdump.pid)" 2>/dev/null; sleep 1
check "varouter LNS ran" "grep -q 'varouter summary' $W/lns.out"
check "tunnel established on varouter" "[ \"\$(stat l2tp_tunnels_established $W/lns.out)\" -ge 1 ]"
check "session established on varouter" "[ \"\$(stat l2tp_sessions_established $W/lns.out)\" -ge 1 ]"
# lns.yaml terminates no PPP: the session's PPP frames reach the control core (punted
# ppp_control) and are counted as not terminated.
check "session data classified by the workers into the VR" "[ \"\$(stat ppp_control $W/lns.out)\" -ge 1 ] && [ \"\$(stat ppp_not_terminated $W/lns.out)\" -ge 1 ]"
check "no L2TP data for unknown sessions" "! grep -q 'l2tp_no_session' $W/lns.out"
check "xl2tpd saw the call come up" "grep -qiE 'call established|Connection established' $W/xl2tpd_lac.log"
n=$(tshark -r $W/lns.pcap -Y "_ws.malformed || _ws.expert.severity >= warning" 2>/dev/null | wc -l)
check "tshark decodes every message (LNS case)" "[ $n -eq 0 ] && [ \$(tshark -r $W/lns.pcap 2>/dev/null | wc -l) -gt 5 ]"
[ $fail -eq 0 ] || { echo "--- varouter"; cat $W/lns.out; echo "--- xl2tpd"; tail -30 $W/xl2tpd_lac.log; }

# --- 2. varouter LAC -> xl2tpd LNS ------------------------------------------------------------
setup lac0
LAC=$(profile configs/lac.yaml) || exit 2
ip netns exec $X timeout 40 tcpdump -i vx-xl0 -U -w $W/lac.pcap udp port 1701 >/dev/null 2>&1 & echo $! > $W/tcpdump.pid
printf '[global]\nlisten-addr = 10.214.0.1\nauth file = %s/secrets\n[lns default]\nip range = 100.64.9.10-100.64.9.50\nlocal ip = 100.64.9.1\nchallenge = yes\nlength bit = yes\nname = xl2tpd-lns\n' $W > $W/lns.conf
ip netns exec $X unshare -m sh -c "mount --bind $W/fake_pppd /usr/sbin/pppd && LCP_PROBE_LOG=$W/probe2.log LCP_PROBE_RUNTIME=6 exec timeout 30 xl2tpd -D -c $W/lns.conf -p $W/xl2.xpid -C $W/lns.ctl" > $W/xl2tpd_lns.log 2>&1 & echo $! > $W/xl2tpd.pid
sleep 2
ip netns exec $V timeout 40 "$BIN" run "$LAC" --duration 10 --stats-interval 0 > $W/lac.out 2>&1
kill "$(cat $W/xl2tpd.pid)" "$(cat $W/tcpdump.pid)" 2>/dev/null; sleep 1
check "tunnel established from varouter LAC" "[ \"\$(stat l2tp_tunnels_established $W/lac.out)\" -ge 1 ]"
check "autodialed session established" "[ \"\$(stat l2tp_sessions_established $W/lac.out)\" -ge 1 ]"
check "xl2tpd LNS accepted the call" "grep -qiE 'call established|Connection established' $W/xl2tpd_lns.log"
n=$(tshark -r $W/lac.pcap -Y "_ws.malformed || _ws.expert.severity >= warning" 2>/dev/null | wc -l)
check "tshark decodes every message (LAC case)" "[ $n -eq 0 ] && [ \$(tshark -r $W/lac.pcap 2>/dev/null | wc -l) -gt 5 ]"
[ $fail -eq 0 ] || { echo "--- varouter"; cat $W/lac.out; echo "--- xl2tpd"; tail -30 $W/xl2tpd_lns.log; }

# --- 3. refused by a limit, then admitted once the limit allows -------------------------------
# The LNS takes one tunnel (max_tunnels: 1). LAC A holds it; LAC B (redial on) is refused with
# a StopCCN, which must carry an Assigned Tunnel ID (RFC 2661 §6.4) or xl2tpd ignores it and
# waits forever; B closes, redials, is refused again while A is up, and connects once A leaves.
setup lns0
ip -n $X addr add 10.214.0.3/24 dev vx-xl0
sed -e 's/max_tunnels: 64/max_tunnels: 1/' -e 's/peers: \[10.214.0.1\]/peers: [10.214.0.1, 10.214.0.3]/' \
  "$ROOT/configs/lns.yaml" > $W/lns-limit.yaml
grep -q 'max_tunnels: 1,' $W/lns-limit.yaml && grep -q '10.214.0.3' $W/lns-limit.yaml || { echo "lns.yaml changed: cannot derive the limit profile"; exit 2; }
LIM=$(profile $W/lns-limit.yaml) || exit 2
ip netns exec $V timeout 50 "$BIN" run "$LIM" --duration 24 --stats-interval 0 > $W/limit.out 2>&1 & echo $! > $W/varouter.pid
sleep 2
lac() {  # $1 = name, $2 = listen address, $3 = extra [lac] lines
  printf '[global]\nlisten-addr = %s\nauth file = %s/secrets\n[lac %s]\nlns = 10.214.0.2\nchallenge = yes\nlength bit = yes\nname = xl2tpd-%s\nautodial = no\n%b' \
    "$2" $W "$1" "$1" "$3" > $W/$1.conf
  ip netns exec $X unshare -m sh -c "mount --bind $W/fake_pppd /usr/sbin/pppd && LCP_PROBE_LOG=$W/probe-$1.log LCP_PROBE_RUNTIME=30 exec timeout 40 xl2tpd -D -c $W/$1.conf -p $W/$1.xpid -C $W/$1.ctl" > $W/xl2tpd_$1.log 2>&1 & echo $! > $W/xl2tpd_$1.pid
}
lac a 10.214.0.1 ''
lac b 10.214.0.3 'redial = yes\nredial timeout = 2\nmax redials = 30\n'
sleep 2; echo "c a" > $W/a.ctl; sleep 3
echo "c b" > $W/b.ctl; sleep 6
refused_while_a=$(grep -c 'Connection closed to .*tunnel limit reached' $W/xl2tpd_b.log)
echo "d a" > $W/a.ctl
wait "$(cat $W/varouter.pid)" 2>/dev/null
kill "$(cat $W/xl2tpd_a.pid)" "$(cat $W/xl2tpd_b.pid)" 2>/dev/null; sleep 1
check "varouter refused LAC B by its tunnel limit" "[ \"\$(stat l2tp_refused_limits $W/limit.out)\" -ge 1 ]"
check "xl2tpd B accepted the refusal (Assigned Tunnel ID present)" "[ $refused_while_a -ge 1 ] && ! grep -q 'without specifying tunnel ID' $W/xl2tpd_b.log"
check "xl2tpd B connected once A had left" "grep -qiE 'Connection established' $W/xl2tpd_b.log"
check "both tunnels were established on varouter" "[ \"\$(stat l2tp_tunnels_established $W/limit.out)\" -ge 2 ]"
[ $fail -eq 0 ] || { echo "--- varouter"; cat $W/limit.out; echo "--- xl2tpd B"; tail -30 $W/xl2tpd_b.log; }

tshark -r $W/lns.pcap 2>/dev/null | grep -v ZLB | head -12
[ $fail -eq 0 ] && echo "PASS: varouter L2TP ($BACKEND data plane) interop with xl2tpd"
exit $fail
