#!/bin/bash
# Checks the FreeRADIUS test server (freeradius.sh) as the appliance will meet it: in a
# namespace of its own (vl-r), on 127.0.0.1, with radclient and radtool.py as the client.
# Prints ok/FAIL lines; exits non-zero on any failure. Needs root.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NS=${VL_PREFIX:-vl-}r
SECRET=vl-radius-secret
D=$(mktemp -d -t vl-radius.XXXXXX)
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }
cleanup() { bash "$HERE/freeradius.sh" stop "$D"; ip netns del "$NS" 2>/dev/null; [ "${KEEP:-0}" = 1 ] && echo "kept $D" || rm -rf "$D"; }
if ip netns list | awk '{print $1}' | grep -qx "$NS"; then echo "namespace $NS exists already"; exit 2; fi
trap cleanup EXIT
trap 'exit 130' INT TERM
/usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-cryptography >/dev/null
ip netns add "$NS" && ip -n "$NS" link set lo up || exit 2
bash "$HERE/freeradius.sh" start "$NS" "$D" 127.0.0.1 127.0.0.1 "$SECRET" || exit 1

rc() { ip netns exec "$NS" timeout 10 radclient -r 1 -t 2 -x 127.0.0.1 "$@" 2>&1; }
rt() { ip netns exec "$NS" timeout 10 /usr/bin/python3 "$HERE/radtool.py" 127.0.0.1 "$SECRET" "$@"; }

o=$(echo 'User-Name = "alice", User-Password = "secret", Message-Authenticator = 0x00' | rc auth "$SECRET")
check "radclient PAP alice: Access-Accept, Framed-IP-Address 100.64.0.10, Session-Timeout, Acct-Interim-Interval" \
  "grep -q 'Received Access-Accept' <<< \"\$o\" && grep -q 'Framed-IP-Address = 100.64.0.10' <<< \"\$o\" && grep -q 'Session-Timeout = 20' <<< \"\$o\" && grep -q 'Acct-Interim-Interval = 10' <<< \"\$o\""
o=$(echo 'User-Name = "bob", CHAP-Password = "secret", Message-Authenticator = 0x00' | rc auth "$SECRET")
check "radclient CHAP bob: Access-Accept with Framed-Pool, no address" \
  "grep -q 'Received Access-Accept' <<< \"\$o\" && grep -q 'Framed-Pool = \"subscribers\"' <<< \"\$o\" && ! grep -q Framed-IP-Address <<< \"\$o\""
o=$(echo 'User-Name = "alice", User-Password = "secret"' | rc auth "$SECRET")
check "request without Message-Authenticator: no answer" "! grep -q Received <<< \"\$o\""
o=$(echo 'Message-Authenticator = 0x00' | rc status "$SECRET")
check "radclient Status-Server: answered" "grep -q 'Received Access-Accept' <<< \"\$o\""

o=$(rt alice secret pap); echo "    radtool pap alice: $o"
check "PAP alice: accept, reply signed (Message-Authenticator valid)" "grep -q '^code=accept resp_auth=ok ma=ok .*8:100.64.0.10' <<< \"\$o\""
o=$(rt bob secret chap); echo "    radtool chap bob: $o"
check "CHAP bob: accept, reply signed, Framed-Pool" "grep -q '^code=accept resp_auth=ok ma=ok .*88:subscribers' <<< \"\$o\""
o=$(rt carol secret mschapv2); echo "    radtool mschapv2 carol: $o"
check "MS-CHAPv2 carol: accept, reply signed, MS-CHAP2-Success proves the password, 100.64.0.12" \
  "grep -q '^code=accept resp_auth=ok ma=ok mschap2_success=ok .*8:100.64.0.12' <<< \"\$o\""
o=$(rt carol wrong mschapv2); echo "    radtool mschapv2 carol (wrong password): $o"
check "MS-CHAPv2 wrong password: Access-Reject, signed" "grep -q '^code=reject resp_auth=ok ma=ok' <<< \"\$o\""
o=$(rt alice wrong pap); echo "    radtool pap alice (wrong password): $o"
check "PAP wrong password: Access-Reject, signed" "grep -q '^code=reject resp_auth=ok ma=ok' <<< \"\$o\""
o=$(rt alice secret pap --no-ma --timeout 2)
check "radtool without Message-Authenticator: no answer" "[ \"\$o\" = code=timeout ]"

acct() { printf 'User-Name = "alice", Acct-Session-Id = "vl-0001", NAS-IP-Address = 127.0.0.1, Framed-IP-Address = 100.64.0.10, Acct-Status-Type = %s%s\n' "$1" "${2:-}" | rc acct "$SECRET"; }
o=$(acct Start; acct Interim-Update ', Acct-Input-Octets = 1000, Acct-Output-Octets = 2000, Acct-Session-Time = 10';
    acct Stop ', Acct-Input-Octets = 5000, Acct-Output-Octets = 7, Acct-Output-Gigawords = 1, Acct-Session-Time = 20, Acct-Terminate-Cause = Session-Timeout')
check "accounting Start/Interim-Update/Stop answered" "[ \$(grep -c 'Received Accounting-Response' <<< \"\$o\") -eq 3 ]"
sleep 0.3
o=$(bash "$HERE/detail.sh" "$D"); sed 's/^/    detail: /' <<< "$o"
check "detail file: Start, Interim-Update, Stop in order with octets (gigawords added)" \
  "[ \"\$(awk '{print \$1}' <<< \"\$o\" | tr '\n' ' ')\" = 'Start Interim-Update Stop ' ] && grep -q '^Interim-Update user=alice session=vl-0001 in=1000 out=2000 ' <<< \"\$o\" && grep -q '^Stop .* in=5000 out=4294967303 .*cause=Session-Timeout' <<< \"\$o\""

[ $fail -eq 0 ] || { echo "--- radiusd.log (tail)"; tail -40 "$D/radiusd.log"; }
[ $fail -eq 0 ] && echo "PASS: FreeRADIUS test server (PAP, CHAP, MS-CHAPv2, signed replies, accounting)"
exit $fail
