#!/bin/bash
# Interop: varouter's L2TP engine (UDP driver, examples/l2tp_udp.rs) against xl2tpd, in two
# network namespaces joined by a veth pair. Needs root, xl2tpd, tcpdump and tshark
# (apt-get install -y xl2tpd tcpdump tshark). Every process is bounded by `timeout`.
#   1. xl2tpd as LAC  ->  our LNS   (tunnel authentication with a shared secret)
#   2. our LAC        ->  xl2tpd as LNS
# Checks: tunnel and session come up on our side, teardown is clean, and tshark decodes every
# L2TP message in the capture with no malformed/expert warnings.
# xl2tpd cannot run pppd here (no /dev/ppp), so it drops the call right after it is up (CDN):
# that exercises teardown from the peer's side.
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${L2TP_UDP_BIN:-$ROOT/target/debug/examples/l2tp_udp}
W=$(mktemp -d -t l2tp_interop.XXXXXX)
A=vr_l2tp_a; B=vr_l2tp_b; IPA=10.213.0.1; IPB=10.213.0.2
SECRET=interopsecret
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
cleanup() {
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
}
# On exit: the processes and namespaces go; the work directory (configurations, logs,
# captures) stays only when something failed.
finish() {
  local rc=$?
  cleanup
  if [ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]; then rm -rf "$W"; else echo "kept $W for inspection"; fi
}
trap finish EXIT
for t in xl2tpd tcpdump tshark; do command -v $t >/dev/null || { echo "missing $t"; exit 2; }; done
[ -x "$BIN" ] || { echo "build first: cargo build -p controlplane --example l2tp_udp"; exit 2; }
ip netns add $A && ip netns add $B || exit 2
ip link add vl2tp_a type veth peer name vl2tp_b
ip link set vl2tp_a netns $A; ip link set vl2tp_b netns $B
ip -n $A addr add $IPA/24 dev vl2tp_a; ip -n $B addr add $IPB/24 dev vl2tp_b
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set vl2tp_a up; ip -n $B link set vl2tp_b up
sleep 1
echo "* * $SECRET" > $W/secrets; chmod 600 $W/secrets
ip netns exec $B timeout 60 tcpdump -i vl2tp_b -U -w $W/l2tp.pcap udp port 1701 >/dev/null 2>&1 & echo $! > $W/tcpdump.pid
sleep 1

# --- 1. xl2tpd LAC -> our LNS -------------------------------------------------------------
printf '[global]\nlisten-addr = %s\nauth file = %s/secrets\n[lac t1]\nlns = %s\nchallenge = yes\nlength bit = yes\nname = xl2tpd-lac\nautodial = no\n' $IPA $W $IPB > $W/lac.conf
ip netns exec $B timeout 20 "$BIN" lns $IPB:1701 --secret $SECRET --seconds 12 --hello 3 > $W/our_lns.log 2>&1 &
ip netns exec $A timeout 20 xl2tpd -D -c $W/lac.conf -p $W/xl2tpd_lac.xpid -C $W/lac.ctl > $W/xl2tpd_lac.log 2>&1 & echo $! > $W/xl2tpd_lac.pid
sleep 2; echo "c t1" > $W/lac.ctl; sleep 6; echo "d t1" > $W/lac.ctl; sleep 5
kill "$(cat $W/xl2tpd_lac.pid)" 2>/dev/null; wait 2>/dev/null
check "our LNS: tunnel up with xl2tpd LAC (challenge both ways)" "grep -q 'TunnelUp' $W/our_lns.log"
check "our LNS: session up (ICRQ/ICRP/ICCN)" "grep -q 'SessionUp' $W/our_lns.log"
check "our LNS: session torn down by xl2tpd (CDN)" "grep -q 'SessionDown' $W/our_lns.log"
check "our LNS: tunnel torn down by xl2tpd (StopCCN)" "grep -q 'TunnelDown' $W/our_lns.log"
check "our LNS: no authentication failure" "grep -q 'tunnel_auth_failures: 0' $W/our_lns.log"

# --- 2. our LAC -> xl2tpd LNS -------------------------------------------------------------
printf '[global]\nlisten-addr = %s\nauth file = %s/secrets\n[lns default]\nip range = 100.64.1.10-100.64.1.50\nlocal ip = 100.64.1.1\nchallenge = yes\nlength bit = yes\nname = xl2tpd-lns\n' $IPB $W > $W/lns.conf
ip netns exec $B timeout 25 xl2tpd -D -c $W/lns.conf -p $W/xl2tpd_lns.xpid -C $W/lns.ctl > $W/xl2tpd_lns.log 2>&1 & echo $! > $W/xl2tpd_lns.pid
sleep 2
ip netns exec $A timeout 20 "$BIN" lac $IPA:1701 $IPB:1701 --secret $SECRET --seconds 10 --hello 2 --close-after 7 > $W/our_lac.log 2>&1
kill "$(cat $W/xl2tpd_lns.pid)" 2>/dev/null; sleep 1
kill "$(cat $W/tcpdump.pid)" 2>/dev/null; sleep 1
check "our LAC: tunnel up with xl2tpd LNS" "grep -q 'TunnelUp' $W/our_lac.log"
check "our LAC: session up" "grep -q 'SessionUp' $W/our_lac.log"
check "our LAC: no authentication failure" "grep -q 'tunnel_auth_failures: 0' $W/our_lac.log"
check "HELLO sent by us" "! grep -q 'tx_hello: 0,' $W/our_lac.log"

# --- tshark: every message decodes, nothing malformed ---------------------------------------
tshark -r $W/l2tp.pcap -Y l2tp 2>/dev/null > $W/summary.txt
n=$(wc -l < $W/summary.txt)
bad=$(tshark -r $W/l2tp.pcap -Y '_ws.malformed || _ws.expert.severity >= "warning"' 2>/dev/null | wc -l)
check "tshark decoded $n L2TP messages" "[ $n -gt 10 ]"
check "tshark: no malformed or warning frames" "[ $bad -eq 0 ]"
for t in SCCRQ SCCRP SCCCN StopCCN Hello ICRQ ICRP ICCN CDN; do
  check "capture contains $t" "grep -qi '$t' $W/summary.txt"
done
cat $W/summary.txt; [ $fail -eq 0 ] || { echo "logs in $W"; for f in $W/*.log; do echo "== $f"; tail -20 $f; done; }
echo "$( [ $fail -eq 0 ] && echo PASS || echo FAIL ): l2tp interop with xl2tpd"
exit $fail
