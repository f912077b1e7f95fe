#!/bin/bash
# The lwIP LAC harness against xl2tpd as LNS: checks the harness itself against an
# independent L2TP implementation. xl2tpd would start pppd for each call, which cannot run
# here (no /dev/ppp): ppp_stub.py is bind-mounted over /usr/sbin/pppd in a private mount
# namespace and plays the server side of PPP (PAP or CHAP-MD5, IPCP with DNS, IPV6CP, echo).
# Same topology as lwip-lns.sh (topo.bash); xl2tpd has a kernel address on the veth in vl-s.
#   lwip-xl2tpd.sh        cases: PAP, CHAP-MD5, a wrong password, the LNS ending PPP
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
. "$HERE/topo.bash"
LAC=${LWIP_LAC:-$ROOT/target/lwip/lwip_lac}
for t in xl2tpd tcpdump tshark ethtool python3; do command -v $t >/dev/null || { echo "missing $t"; exit 2; }; done
[ -x "$LAC" ] || { echo "no lwIP harness at $LAC (run $HERE/build.sh)"; exit 2; }
W=$(mktemp -d -t vl-lwip-xl.XXXXXX)
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
killpids() { for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done; }
cleanup() { killpids; sleep 0.3; topo_down; [ "${KEEP:-0}" = 1 ] && echo "logs kept in $W" || rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

topo_up "${P}s0" || exit 2
ip -n "$NS_S" addr add 10.214.1.1/24 dev "${P}s0"
printf '#!/bin/sh\nexec /usr/bin/python3 %s/ppp_stub.py "$@"\n' "$HERE" > "$W/fake_pppd"; chmod +x "$W/fake_pppd"
echo "* * tunsecret" > "$W/secrets"; chmod 600 "$W/secrets"
printf '[global]\nlisten-addr = 10.214.1.1\nauth file = %s/secrets\n[lns default]\nip range = 100.64.1.10-100.64.1.50\nlocal ip = 100.64.1.1\nchallenge = yes\nlength bit = yes\nname = xl2tpd-lns\n' "$W" > "$W/lns.conf"

# run_case NAME STUB_AUTH STUB_RUNTIME LWIP_ARGS...
run_case() {
  local name=$1 sauth=$2 srun=$3; shift 3
  local d=$W/$name; mkdir -p "$d"
  echo "# $name"
  ip netns exec "$NS_C" timeout 60 tcpdump -i "${P}c0" -U -w "$d/c.pcap" udp port 1701 >/dev/null 2>&1 & echo $! > "$W/tcpdump.pid"
  ip netns exec "$NS_S" unshare -m sh -c "mount --bind $W/fake_pppd /usr/sbin/pppd && PPP_STUB_LOG=$d/stub.log PPP_STUB_AUTH=$sauth PPP_STUB_RUNTIME=$srun exec timeout 50 xl2tpd -D -c $W/lns.conf -p $d/xl.xpid -C $d/lns.ctl" > "$d/xl2tpd.log" 2>&1 & echo $! > "$W/xl2tpd.pid"
  sleep 1.5
  ip netns exec "$NS_C" timeout 50 "$LAC" --tap "${P}tap0" --addr 10.214.1.2/24 --lns 10.214.1.1 --secret tunsecret \
    --ping 100.64.1.1 --count 3 --interval 300 --up-timeout 15 "$@" > "$d/lwip.out" 2> "$d/lwip.err"
  echo $? > "$d/rc"
  sed 's/^/    lwip: /' "$d/lwip.out" | grep -v ' phase '
  sleep 0.5; killpids; sleep 0.3
  D=$d
}
show() { echo "--- stub"; cat "$D/stub.log"; echo "--- xl2tpd"; grep -v '^xl2tpd.*"' "$D/xl2tpd.log" | tail -8; echo "--- lwIP"; tail -15 "$D/lwip.err"; }

for a in pap chap; do
  run_case "$a" "$a" 20 --user alice --password secret --auth "$a"
  check "$a: xl2tpd established the call" "grep -q 'Call established' $D/xl2tpd.log"
  check "$a: ppp up with the address xl2tpd assigned, DNS and an IPv6 link-local" "grep -Eq '^ppp up local=100\.64\.1\.10 peer=100\.64\.1\.1 dns=192\.0\.2\.53,192\.0\.2\.53 ip6=fe80::' $D/lwip.out"
  check "$a: 3/3 pings answered through the session, exit 0" "grep -q '^done up=1 pings_ok=3 ' $D/lwip.out && [ \$(cat $D/rc) -eq 0 ]"
  check "$a: the stub saw the authentication" "grep -q '${a^^} user=alice ok=True' $D/stub.log"
  check "$a: clean close (LCP terminate, then StopCCN)" "grep -qx 'ppp closed' $D/lwip.out && grep -q 'Connection closed' $D/xl2tpd.log"
  bad=$(tshark -r "$D/c.pcap" -Y "_ws.malformed || _ws.expert.severity >= error" 2>/dev/null | wc -l)
  check "$a: tshark decodes every frame" "[ $bad -eq 0 ]"
  [ $fail -eq 0 ] || show
done

run_case badpass pap 20 --user alice --password wrong --auth pap
check "wrong password: ppp down reason=authfail, exit 2" "grep -q '^ppp down reason=authfail' $D/lwip.out && [ \$(cat $D/rc) -eq 2 ]"
[ $fail -eq 0 ] || show

# The LNS side ends PPP (the stub's runtime runs out: LCP Terminate-Request) while lwIP holds.
run_case lnsdown chap 4 --user alice --password secret --auth chap --count 1 --hold 15
check "LNS ends PPP: ppp up, then ppp down with a reason" "grep -q '^ppp up' $D/lwip.out && grep -q '^ppp down reason=' $D/lwip.out"
[ $fail -eq 0 ] || show

[ $fail -eq 0 ] && echo "PASS: lwIP PPPoL2TP LAC against xl2tpd (LNS) with a userspace PPP server"
exit $fail
