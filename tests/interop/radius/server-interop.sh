#!/bin/bash
# Our RADIUS server (controlplane/src/radius/server.rs, driven by the radius_server example)
# against real clients: radclient and radtest (FreeRADIUS 3.2 freeradius-utils) and radtool.py
# (MS-CHAPv2, retransmissions, a foreign source address); tcpdump + tshark judge every packet.
#
#   namespace vp-rs (its own loopback only): radius_server on 127.0.0.1:18230, clients on
#   127.0.0.1 (known, secret below) and 127.0.0.2 (unknown); tcpdump on the namespace's lo.
#
# Checks: PAP/CHAP (Request Authenticator and CHAP-Challenge as the challenge)/MS-CHAPv2
# accepted with the users file's reply attributes; wrong password, unknown user and
# MS-CHAPv1 rejected with a Reply-Message; wrong secret, no Message-Authenticator and an
# unknown client get no answer; Status-Server answered; a retransmission gets the identical
# cached answer; VR authentication as user "<vpn-id>/<router-id>" with the VPN's secret; the
# server's counters account for every datagram; tshark decodes all of them, none malformed,
# no expert info, every answer's Response Authenticator valid; pcapcheck.py checks every
# Message-Authenticator.
#
# Prints ok/FAIL lines; exits non-zero on any failure. Needs root. Installs freeradius-utils,
# tshark, tcpdump if missing (fails if that fails). KEEP=1 keeps the work directory.
# SERVER=path uses a built binary instead of `cargo build -p controlplane --example radius_server`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tshark-objections.sh"
ROOT=$(cd "$HERE/../../.." && pwd)
NS=${VP_NETNS:-vp-rs}
PORT=${VP_PORT:-18230}
SECRET=vp-radius-secret
VPN_SECRET="secret of VPN 100"
D=$(mktemp -d -t vp-radsrv.XXXXXX)
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }

[ "$(id -u)" = 0 ] || { echo "FAIL - needs root (network namespace)"; exit 2; }
if ip netns list | awk '{print $1}' | grep -qx "$NS"; then echo "FAIL - namespace $NS exists already"; exit 2; fi

missing=()
command -v radclient >/dev/null || missing+=(freeradius-utils)
command -v tshark >/dev/null || missing+=(tshark)
command -v tcpdump >/dev/null || missing+=(tcpdump)
[ -x /usr/bin/python3 ] || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    { echo "FAIL - apt-get install ${missing[*]}"; exit 2; }
fi
for c in radclient radtest tshark tcpdump; do
  command -v $c >/dev/null || { echo "FAIL - $c missing after install"; exit 2; }
done
# radtool.py needs python3-cryptography for MS-CHAPv2's DES.
if ! /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-cryptography >/dev/null ||
    { echo "FAIL - apt-get install python3-cryptography"; exit 2; }
fi

if [ -z "${SERVER:-}" ]; then
  (cd "$ROOT" && cargo build -q -p controlplane --example radius_server) || { echo "FAIL - build radius_server"; exit 2; }
  SERVER=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/examples/radius_server
fi
[ -x "$SERVER" ] || { echo "FAIL - no server binary at $SERVER"; exit 2; }

TCPDUMP_PID= SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ] || [ $fail -ne 0 ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

ip netns add "$NS" || { echo "FAIL - ip netns add $NS"; exit 2; }
ip -n "$NS" link set lo up
X() { ip netns exec "$NS" "$@"; }

cat > "$D/users" <<'EOF'
# radius_server users file: NAME PASSWORD [Attribute=value ...]
alice   secret      Session-Timeout=3600 Class=gold
bob     hunter2
carol   clientPass  Framed-IP-Address=100.64.0.12
EOF

# Started directly (not through X, a function: it would run in a subshell whose pid $! is),
# so that the signals below reach tcpdump and the server themselves.
ip netns exec "$NS" tcpdump -i lo -U --immediate-mode -w "$D/radius.pcap" "udp port $PORT" 2> "$D/tcpdump.err" &
TCPDUMP_PID=$!
for _ in $(seq 50); do grep -q listening "$D/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
ip netns exec "$NS" "$SERVER" --listen 127.0.0.1:$PORT --users "$D/users" --client "lo,127.0.0.1/32,$SECRET" \
  --vpn "100=$VPN_SECRET" --seconds 300 > "$D/server.out" 2> "$D/server.err" &
SERVER_PID=$!
for _ in $(seq 50); do grep -q '^listening' "$D/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^listening' "$D/server.out" || { echo "FAIL - radius_server did not start"; cat "$D/server.err"; exit 1; }

S=127.0.0.1:$PORT
rc() { X radclient -x -r 1 -t 1 "$S" "$@" 2>&1; }
echo "radclient $(radclient -v 2>/dev/null | head -1 | awk '{print $3}'), $(tshark -v 2>/dev/null | head -1)"

o=$(echo 'User-Name = "alice", User-Password = "secret", Message-Authenticator = 0x00' | rc auth "$SECRET")
check "radclient PAP alice: Access-Accept with Session-Timeout 3600 and Class gold" \
  "grep -q 'Received Access-Accept' <<< \"\$o\" && grep -q 'Session-Timeout = 3600' <<< \"\$o\" && grep -q 'Class = 0x676f6c64' <<< \"\$o\""
o=$(echo 'User-Name = "bob", CHAP-Password = "hunter2", Message-Authenticator = 0x00' | rc auth "$SECRET")
check "radclient CHAP bob (Request Authenticator as the challenge): Access-Accept" "grep -q 'Received Access-Accept' <<< \"\$o\""
o=$(echo 'User-Name = "bob", CHAP-Password = "hunter2", CHAP-Challenge = 0x0123456789abcdeffedcba9876543210, Message-Authenticator = 0x00' | rc auth "$SECRET")
check "radclient CHAP bob with CHAP-Challenge: Access-Accept" "grep -q 'Received Access-Accept' <<< \"\$o\""
o=$(echo 'User-Name = "alice", User-Password = "wrong", Message-Authenticator = 0x00' | rc auth "$SECRET")
check "radclient PAP alice, wrong password: Access-Reject with Reply-Message" \
  "grep -q 'Received Access-Reject' <<< \"\$o\" && grep -q 'Reply-Message = \"Authentication failed\"' <<< \"\$o\""
o=$(echo 'User-Name = "alice", User-Password = "secret", Message-Authenticator = 0x00' | rc auth wrong-secret)
check "radclient with a wrong shared secret: no answer" "grep -q 'No reply from server' <<< \"\$o\" && ! grep -q Received <<< \"\$o\""
o=$(echo 'User-Name = "alice", User-Password = "secret"' | rc auth "$SECRET")
check "radclient without Message-Authenticator (required by default): no answer" "grep -q 'No reply from server' <<< \"\$o\""
o=$(echo 'Message-Authenticator = 0x00' | rc status "$SECRET")
check "radclient Status-Server: Access-Accept" "grep -q 'Received Access-Accept' <<< \"\$o\""
o=$(X radtest -t pap alice secret "$S" 0 "$SECRET" 2>&1)
check "radtest -t pap alice: Access-Accept" "grep -q 'Received Access-Accept' <<< \"\$o\""
o=$(X radtest -t chap bob hunter2 "$S" 0 "$SECRET" 2>&1)
check "radtest -t chap bob: Access-Accept" "grep -q 'Received Access-Accept' <<< \"\$o\""
o=$(X radtest -t mschap bob hunter2 "$S" 0 "$SECRET" 2>&1)
check "radtest -t mschap (MS-CHAPv1, not supported): Access-Reject" "grep -q 'Received Access-Reject' <<< \"\$o\""
RT=(/usr/bin/python3 "$HERE/radtool.py")
o=$(X "${RT[@]}" "$S" "$SECRET" carol clientPass mschapv2 --mppe 2>&1)
echo "    radtool: $o"
check "radtool MS-CHAPv2 carol: Accept, signed, MS-CHAP2-Success = RFC 2759 authenticator response, MPPE keys = RFC 3079's, Framed-IP-Address" \
  "grep -q '^code=accept resp_auth=ok ma=ok mschap2_success=ok mppe=ok attrs=8:100.64.0.12' <<< \"\$o\""
o=$(X "${RT[@]}" "$S" "$SECRET" alice secret pap --repeat 3 2>&1)
echo "    radtool: $o"
check "radtool PAP alice sent 3 times (retransmissions): 3 byte-identical answers" \
  "grep -q '^code=accept resp_auth=ok ma=ok repeats=identical' <<< \"\$o\""
o=$(X "${RT[@]}" "$S" "$SECRET" alice secret pap --bind 127.0.0.2 --timeout 1 2>&1)
check "radtool from 127.0.0.2 (not a client): no answer" "grep -q '^code=timeout' <<< \"\$o\""
o=$(X radtest -t pap 100/10.255.0.2 "$VPN_SECRET" "$S" 0 "$SECRET" 2>&1)
check "VR authentication: radtest PAP 100/10.255.0.2 with VPN 100's secret: Access-Accept" "grep -q 'Received Access-Accept' <<< \"\$o\""
o=$(X radtest -t pap 100/10.255.0.2 "secret of VPN 200" "$S" 0 "$SECRET" 2>&1)
check "VR authentication: another VPN's secret: Access-Reject" "grep -q 'Received Access-Reject' <<< \"\$o\""
o=$(X "${RT[@]}" "$S" "$SECRET" 100/10.255.0.3 "$VPN_SECRET" chap 2>&1)
check "VR authentication: radtool CHAP 100/10.255.0.3: Accept, signed" "grep -q '^code=accept resp_auth=ok ma=ok' <<< \"\$o\""
o=$(echo 'User-Name = "mallory", User-Password = "secret", Message-Authenticator = 0x00' | rc auth "$SECRET")
check "radclient PAP unknown user: Access-Reject" "grep -q 'Received Access-Reject' <<< \"\$o\""

kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; src=$?; SERVER_PID=
check "radius_server exits cleanly on SIGTERM" "[ $src -eq 0 ]"
sleep 1; kill -TERM "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; TCPDUMP_PID=
c=$(grep '^counters:' "$D/server.out")
echo "    server: $c"
sed 's/^/    server: /' "$D/server.err"
want="rx_datagrams: 19, access_requests: 13, status_server: 1, accepts: 9, accepts_pap: 4, accepts_chap: 4, accepts_mschapv2: 1, rejects: 4, duplicates_resent: 2, cache_evictions: 0, events_dropped: 0, drop_unknown_client: 1, drop_malformed: 0, drop_unexpected_code: 0, drop_missing_message_authenticator: 1, drop_bad_message_authenticator: 1, drop_transmit_queue_full: 0, drop_encode_error: 0, drop_unsigned_proxy_state: 0, reject_missing_user_name: 0, reject_no_credentials: 0, reject_conflicting_credentials: 0, reject_unsupported_method: 1, reject_malformed_credentials: 0, reject_unknown_user: 1, reject_wrong_password: 2, reject_reply_too_long: 0"
check "server counters: 19 datagrams = 13 decided (9 accepts: 4 PAP, 4 CHAP, 1 MS-CHAPv2; 4 rejects: 2 wrong password, 1 MS-CHAPv1, 1 unknown user) + 2 duplicates resent + 1 Status-Server + 3 dropped (unknown client, bad and missing Message-Authenticator)" \
  "grep -qF \"\$want\" <<< \"\$c\""
check "server: one event per decision (13)" "[ \$(grep -c '^event ' \"\$D/server.out\") -eq 13 ]"

TS=(tshark -n -r "$D/radius.pcap" -d "udp.port==$PORT,radius" -o "radius.shared_secret:$SECRET" -o radius.validate_authenticator:TRUE)
"${TS[@]}" -Y radius -T fields -E separator=, -e frame.number -e udp.srcport -e udp.dstport \
  -e radius.code -e radius.id -e radius.authenticator.valid -e radius.authenticator.invalid \
  -e _ws.malformed -e _ws.expert.severity > "$D/tshark.fields" 2> "$D/tshark.err"
"${TS[@]}" -Y radius > "$D/tshark.summary" 2>>"$D/tshark.err"
"${TS[@]}" -q -z expert > "$D/tshark.expert" 2>>"$D/tshark.err"
"${TS[@]}" -Y radius -V > "$D/tshark.verbose" 2>>"$D/tshark.err"
sed 's/^/    tshark: /' "$D/tshark.summary"
n_udp=$(tshark -n -r "$D/radius.pcap" 2>/dev/null | wc -l)
n_rad=$(wc -l < "$D/tshark.fields")
check "tshark: all $n_udp datagrams decode as RADIUS (expect 19 requests + 16 answers = 35)" "[ $n_rad -eq 35 ] && [ $n_udp -eq $n_rad ]"
check "tshark: no malformed packet, no expert info (but two chance heuristics of Wireshark's, tests/interop/radius/expertcheck.py)" \
  "! grep -q 'Malformed' \"\$D/tshark.summary\" \"\$D/tshark.verbose\" && [ \$(awk -F, '\$8 != \"\"' \"\$D/tshark.fields\" | wc -l) -eq 0 ] && /usr/bin/python3 \"\$HERE/expertcheck.py\" < \"\$D/tshark.verbose\" > \"\$D/expertcheck.out\" && ! grep -qiE '^ *(Error|Warning|Note|Chat) ' \"\$D/tshark.expert\""
# What tshark objected to: always the excused items, everything when the check failed.
if [ $fail -ne 0 ]; then tshark_objections "$D" 8 9
else sed 's/^/    expertcheck: /' "$D/expertcheck.out" 2>/dev/null | grep -v 'expert_items=0 '; fi
n_ans=$(awk -F, '$4 == 2 || $4 == 3' "$D/tshark.fields" | wc -l)
n_valid=$(awk -F, '($4 == 2 || $4 == 3) && $6 == "1" && $7 == "0"' "$D/tshark.fields" | wc -l)
n_inval=$(awk -F, '$7 == "1"' "$D/tshark.fields" | wc -l)
# Wireshark 4.0 does not validate the answer to a Status-Server (neither valid nor invalid);
# pcapcheck.py below checks that one too.
check "tshark: every answer's Response Authenticator valid ($n_valid of $n_ans, $n_inval invalid; expect 15 of 16, the 16th answers Status-Server)" \
  "[ $n_ans -eq 16 ] && [ $n_valid -eq 15 ] && [ $n_inval -eq 0 ]"
check "tshark: PAP User-Password decrypts with the secret to the password" "grep -q 'User-Password(2) l=18 val=Decrypted: secret\$' \"\$D/tshark.verbose\""
tshark -n -r "$D/radius.pcap" -d "udp.port==$PORT,radius" -Y radius -T fields -E separator=, -e frame.number \
  -e udp.srcport -e udp.dstport -e udp.payload 2>/dev/null | /usr/bin/python3 "$HERE/pcapcheck.py" "$SECRET" > "$D/pcapcheck.out"
sed 's/^/    pcapcheck: /' "$D/pcapcheck.out"
# The one bad Message-Authenticator is radclient's request with the wrong secret; the one
# unsigned packet is the request sent without one. Every answer is signed.
check "pcapcheck: every answer's Response Authenticator and Message-Authenticator valid; 1 bad (wrong-secret request), 1 unsigned (request without)" \
  "grep -q '^summary packets=35 bad=1 unsigned=1\$' \"\$D/pcapcheck.out\" && [ \$(grep -E 'code=(2|3) ' \"\$D/pcapcheck.out\" | grep -c 'auth=ok ma=ok') -eq 16 ] && [ \$(grep -c 'code=1 .*ma=BAD' \"\$D/pcapcheck.out\") -eq 1 ]"
check "every answer has the Message-Authenticator as its first attribute" \
  "[ \$(tshark -n -r \"\$D/radius.pcap\" -d udp.port==$PORT,radius -Y 'radius.code == 2 || radius.code == 3' -T fields -e udp.payload 2>/dev/null | tr -d : | grep -cE '^0[23].{38}5012') -eq 16 ]"

[ $fail -eq 0 ] && echo "PASS: varouter RADIUS server against radclient / radtest / radtool / tshark"
exit $fail
