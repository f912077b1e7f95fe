#!/bin/bash
# Our RADIUS client and DAE server (controlplane/src/radius, driven by the radius_probe
# example) against real peers: FreeRADIUS 3.2 (freeradius.sh) as the server, radclient as the
# RFC 5176 Dynamic Authorization client, tcpdump + tshark as the judge of every packet.
#
#   vr2-rad  198.18.2.1  FreeRADIUS (auth 1812, acct 1813), radclient → 198.18.2.2:3799
#      | veth vr2-r0 — vr2-n0
#   vr2-nas  198.18.2.2  radius_probe (client, then DAE listener on 3799); tcpdump on vr2-n0
#
# Prints ok/FAIL lines; exits non-zero on any failure. Needs root. Installs freeradius,
# freeradius-utils, tshark, tcpdump if missing. KEEP=1 keeps the work directory.
# PROBE=path uses a built probe instead of `cargo build -p controlplane --example radius_probe`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tshark-objections.sh"
ROOT=$(cd "$HERE/../../.." && pwd)
P=${VR2_PREFIX:-vr2-}
NS_R=${P}rad NS_N=${P}nas IF_R=${P}r0 IF_N=${P}n0
IP_R=198.18.2.1 IP_N=198.18.2.2
SECRET=vr2-radius-secret
SESSION=vr2-0001
D=$(mktemp -d -t vr2-radius.XXXXXX)
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }

[ "$(id -u)" = 0 ] || { echo "needs root"; exit 2; }
for ns in "$NS_R" "$NS_N"; do
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then echo "namespace $ns exists already"; exit 2; fi
done
for i in "$IF_R" "$IF_N"; do
  if ip link show "$i" >/dev/null 2>&1; then echo "interface $i exists already"; exit 2; fi
done

missing=()
command -v freeradius >/dev/null || missing+=(freeradius)
command -v radclient >/dev/null || missing+=(freeradius-utils)
command -v tshark >/dev/null || missing+=(tshark)
command -v tcpdump >/dev/null || missing+=(tcpdump)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || { echo "FAIL - apt-get install ${missing[*]}"; exit 2; }
  systemctl stop freeradius >/dev/null 2>&1; systemctl disable freeradius >/dev/null 2>&1
fi

if [ -z "${PROBE:-}" ]; then
  (cd "$ROOT" && cargo build -q -p controlplane --example radius_probe) || { echo "FAIL - build radius_probe"; exit 2; }
  PROBE=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/examples/radius_probe
fi
[ -x "$PROBE" ] || { echo "no probe at $PROBE"; exit 2; }

TCPDUMP_PID= PROBE_PID=
cleanup() {
  [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null
  [ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null
  bash "$HERE/freeradius.sh" stop "$D/fr"
  ip netns del "$NS_R" 2>/dev/null; ip netns del "$NS_N" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ] || [ $fail -ne 0 ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_R" && ip netns add "$NS_N" || exit 2
ip -n "$NS_R" link add "$IF_R" type veth peer name "$IF_N" netns "$NS_N" || exit 2
ip -n "$NS_R" addr add $IP_R/30 dev "$IF_R" && ip -n "$NS_N" addr add $IP_N/30 dev "$IF_N" || exit 2
for ns in "$NS_R" "$NS_N"; do ip -n "$ns" link set lo up; done
ip -n "$NS_R" link set "$IF_R" up && ip -n "$NS_N" link set "$IF_N" up || exit 2

ip netns exec "$NS_N" timeout 300 tcpdump -i "$IF_N" --immediate-mode -U -n -w "$D/radius.pcap" udp > "$D/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
for _ in $(seq 1 50); do grep -q "listening on" "$D/tcpdump.log" && break; sleep 0.1; done

bash "$HERE/freeradius.sh" start "$NS_R" "$D/fr" $IP_R $IP_N "$SECRET" || { fail=1; exit 1; }

# 5 DAE requests: 4 answered (one goes without Message-Authenticator and must get no answer).
ip netns exec "$NS_N" timeout 120 "$PROBE" --server $IP_R --secret "$SECRET" --nas-ip $IP_N \
  --session $SESSION --dae $IP_N:3799 --dae-client $IP_R --dae-requests 4 --dae-wait 60 \
  > "$D/probe.out" 2> "$D/probe.err" &
PROBE_PID=$!
for _ in $(seq 1 600); do
  grep -q '^test=dae-listen ' "$D/probe.out" && break
  kill -0 $PROBE_PID 2>/dev/null || break
  sleep 0.1
done
sed 's/^/    probe: /' "$D/probe.out"
o=$(cat "$D/probe.out")
check "PAP alice: Access-Accept, Framed-IP-Address 100.64.0.10, Session-Timeout 20, Acct-Interim-Interval 10" \
  "grep -q '^test=pap result=ok .*framed_ip=100.64.0.10 .*session_timeout=20 interim=10 ' <<< \"\$o\""
check "CHAP bob: Access-Accept, Framed-Pool subscribers, no address" \
  "grep -q '^test=chap result=ok .*framed_ip=- framed_pool=subscribers ' <<< \"\$o\""
check "MS-CHAPv2 carol: Access-Accept, 100.64.0.12, MS-CHAP2-Success = our authenticator response" \
  "grep -q '^test=mschapv2 result=ok .*framed_ip=100.64.0.12 .*authenticator_response=valid' <<< \"\$o\""
check "MS-CHAPv2 wrong password: Access-Reject with MS-CHAP-Error" \
  "grep -q '^test=mschapv2-wrong-password result=ok .*code=reject .*ms_chap_error=[0-9a-f][0-9a-f]:E=691' <<< \"\$o\""
check "PAP wrong password: Access-Reject" "grep -q '^test=pap-wrong-password result=ok .*code=reject' <<< \"\$o\""
for a in start interim stop; do
  check "accounting $a: Accounting-Response" "grep -q '^test=acct-$a result=ok .*code=acct-response' <<< \"\$o\""
done
check "client: no retransmission, timeout or dropped reply" \
  "grep -q '^test=client-counters result=ok .*retransmits=0 ' <<< \"\$o\""

rc() { # radclient from the policy server's side to the probe's DAE port
  local type=$1; shift
  printf '%s\n' "$*" | ip netns exec "$NS_R" timeout 10 radclient -r 1 -t 2 -x $IP_N:3799 "$type" "$SECRET" 2>&1
}
MA='Message-Authenticator = 0x00'
o=$(rc disconnect "User-Name = \"alice\", Acct-Session-Id = \"$SESSION\", $MA"); echo "$o" > "$D/dae1.out"
check "radclient Disconnect-Request (known session): valid Disconnect-ACK" \
  "grep -q 'Received Disconnect-ACK' <<< \"\$o\" && ! grep -qi 'invalid\|expected\|No reply' <<< \"\$o\""
o=$(rc coa "User-Name = \"alice\", Acct-Session-Id = \"$SESSION\", Session-Timeout = 3600, $MA"); echo "$o" > "$D/dae2.out"
check "radclient CoA-Request Session-Timeout 3600 (known session): valid CoA-ACK" \
  "grep -q 'Received CoA-ACK' <<< \"\$o\" && ! grep -qi 'invalid\|expected\|No reply' <<< \"\$o\""
o=$(rc disconnect "User-Name = \"alice\", Acct-Session-Id = \"$SESSION\""); echo "$o" > "$D/dae3.out"
check "radclient Disconnect-Request without Message-Authenticator: no answer" \
  "! grep -q 'Received' <<< \"\$o\""
o=$(rc disconnect "User-Name = \"mallory\", Acct-Session-Id = \"vr2-9999\", $MA"); echo "$o" > "$D/dae4.out"
check "radclient Disconnect-Request (unknown session): valid Disconnect-NAK, Error-Cause Session-Context-Not-Found" \
  "grep -q 'Received Disconnect-NAK' <<< \"\$o\" && grep -q 'Error-Cause = Session-Context-Not-Found' <<< \"\$o\" && ! grep -qi 'invalid\|No reply' <<< \"\$o\""
o=$(rc coa "Acct-Session-Id = \"vr2-9999\", Session-Timeout = 60, $MA"); echo "$o" > "$D/dae5.out"
check "radclient CoA-Request (unknown session): valid CoA-NAK, Error-Cause Session-Context-Not-Found" \
  "grep -q 'Received CoA-NAK' <<< \"\$o\" && grep -q 'Error-Cause = Session-Context-Not-Found' <<< \"\$o\" && ! grep -qi 'invalid\|No reply' <<< \"\$o\""

wait $PROBE_PID; prc=$?; PROBE_PID=
sed -n '/^test=dae /,$p' "$D/probe.out" | sed 's/^/    probe: /'
[ -s "$D/probe.err" ] && sed 's/^/    probe stderr: /' "$D/probe.err"
o=$(cat "$D/probe.out")
check "probe DAE: ACK known session (disconnect, CoA with Session-Timeout 3600), NAK 503 unknown" \
  "grep -q '^test=dae result=ok kind=disconnect .*session=$SESSION .*answer=ack' <<< \"\$o\" &&
   grep -q '^test=dae result=ok kind=coa .*session=$SESSION .*session_timeout=3600 .*answer=ack' <<< \"\$o\" &&
   [ \$(grep -c '^test=dae result=ok .*session=vr2-9999 .*answer=nak error_cause=503' <<< \"\$o\") -eq 2 ]"
check "probe DAE counters: 4 answered, the unsigned request dropped as missing Message-Authenticator" \
  "grep -q '^test=dae-counters result=ok answered=4 .*drop_missing_message_authenticator=1 ' <<< \"\$o\""
check "probe exit status 0 (every result as expected)" "[ $prc -eq 0 ]"

sleep 0.3
o=$(bash "$HERE/detail.sh" "$D/fr"); sed 's/^/    detail: /' <<< "$o"
check "detail file: Start, Interim-Update, Stop in order" \
  "[ \"\$(awk '{print \$1}' <<< \"\$o\" | tr '\n' ' ')\" = 'Start Interim-Update Stop ' ]"
check "detail Start: alice $SESSION 100.64.0.10" "grep -q '^Start user=alice session=$SESSION .*ip=100.64.0.10' <<< \"\$o\""
check "detail Interim-Update: in=1000 out=2000 pkts 10/20 time=10" \
  "grep -q '^Interim-Update user=alice session=$SESSION in=1000 out=2000 in_pkts=10 out_pkts=20 time=10 ' <<< \"\$o\""
check "detail Stop: in=5000 out=4294967303 (Gigawords) pkts 50/3000000 time=20 cause Session-Timeout" \
  "grep -q '^Stop user=alice session=$SESSION in=5000 out=4294967303 in_pkts=50 out_pkts=3000000 time=20 cause=Session-Timeout ip=100.64.0.10' <<< \"\$o\""

sleep 0.5; kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; TCPDUMP_PID=
TS=(tshark -n -r "$D/radius.pcap" -o "radius.shared_secret:$SECRET" -o radius.validate_authenticator:TRUE)
"${TS[@]}" -Y radius -T fields -E separator=, -e frame.number -e udp.srcport -e udp.dstport \
  -e radius.code -e radius.id -e radius.authenticator.valid -e radius.authenticator.invalid \
  -e _ws.malformed -e _ws.expert.severity > "$D/tshark.fields" 2> "$D/tshark.err"
"${TS[@]}" -Y radius > "$D/tshark.summary" 2>>"$D/tshark.err"
"${TS[@]}" -q -z expert > "$D/tshark.expert" 2>>"$D/tshark.err"
"${TS[@]}" -Y radius -V > "$D/tshark.verbose" 2>>"$D/tshark.err"
sed 's/^/    tshark: /' "$D/tshark.summary"
n_udp=$(tshark -n -r "$D/radius.pcap" -Y 'udp.port == 1812 || udp.port == 1813 || udp.port == 3799' 2>/dev/null | wc -l)
n_rad=$(wc -l < "$D/tshark.fields")
# 5 Access-Request/answer pairs, 3 Accounting pairs, 5 DAE requests and 4 answers.
check "tshark: all $n_udp RADIUS datagrams decode as RADIUS (expect 10 + 6 + 9 = 25)" "[ $n_rad -eq 25 ] && [ $n_udp -eq $n_rad ]"
check "tshark: no malformed packet, no expert info (but two chance heuristics of Wireshark's, tests/interop/radius/expertcheck.py)" \
  "! grep -q 'Malformed' \"\$D/tshark.summary\" \"\$D/tshark.verbose\" && [ \$(awk -F, '\$8 != \"\"' \"\$D/tshark.fields\" | wc -l) -eq 0 ] && /usr/bin/python3 \"\$HERE/expertcheck.py\" < \"\$D/tshark.verbose\" > \"\$D/expertcheck.out\" && ! grep -qiE '^ *(Error|Warning|Note|Chat) ' \"\$D/tshark.expert\""
# What tshark objected to: always the excused items, everything when the check failed.
if [ $fail -ne 0 ]; then tshark_objections "$D" 8 9
else sed 's/^/    expertcheck: /' "$D/expertcheck.out" 2>/dev/null | grep -v 'expert_items=0 '; fi
# Wireshark (with the secret and validate_authenticator) checks each answer against its request.
n_ans=$(awk -F, '$4 ~ /^(2|3|5|11|41|42|44|45)$/' "$D/tshark.fields" | wc -l)
n_valid=$(awk -F, '$6 == "1" && $7 == "0"' "$D/tshark.fields" | wc -l)
n_inval=$(awk -F, '$7 == "1"' "$D/tshark.fields" | wc -l)
check "tshark: every answer's Response Authenticator valid ($n_valid of $n_ans valid, $n_inval invalid; expect 12)" \
  "[ $n_ans -eq 12 ] && [ $n_valid -eq $n_ans ] && [ $n_inval -eq 0 ]"
check "tshark: PAP User-Password decrypts with the secret to the password" "grep -q 'User-Password(2) l=18 val=Decrypted: secret\$' \"\$D/tshark.verbose\""
"${TS[@]}" -Y radius -T fields -E separator=, -e frame.number -e udp.srcport -e udp.dstport -e udp.payload |
  /usr/bin/python3 "$HERE/pcapcheck.py" "$SECRET" > "$D/pcapcheck.out"; pc=$?
sed 's/^/    pcapcheck: /' "$D/pcapcheck.out"
# Unsigned by design: FreeRADIUS's 3 Accounting-Responses and our one unsigned DAE request.
check "pcapcheck: every Request/Response Authenticator and Message-Authenticator valid, only the expected 4 unsigned" \
  "[ $pc -eq 0 ] && grep -q '^summary packets=25 bad=0 unsigned=4\$' \"\$D/pcapcheck.out\" && [ \$(grep -c 'code=5 .*ma=none' \"\$D/pcapcheck.out\") -eq 3 ]"

[ $fail -eq 0 ] || { echo "--- radiusd.log (tail)"; tail -30 "$D/fr/radiusd.log"; echo "--- tshark expert"; cat "$D/tshark.expert"; }
[ $fail -eq 0 ] && echo "PASS: varouter RADIUS client + DAE server against FreeRADIUS 3.2 / radclient / tshark"
exit $fail
