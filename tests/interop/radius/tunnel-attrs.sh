#!/bin/bash
# RFC 2868 tunnel attributes from a real server: FreeRADIUS 3.2 (freeradius.sh with the users
# of tunnel-users) answers our sans-IO client (controlplane/src/radius/client.rs, driven by
# the radius_tunnel_probe example) with Tunnel-Type, -Medium-Type, -Server-Endpoint,
# -Password, -Assignment-Id, -Preference, -Client/Server-Auth-Id, untagged and tagged.
# Checked three ways: our parse against the values configured in tunnel-users; our
# decrypted Tunnel-Passwords against radclient's decryption of the same users' answers;
# our tunnels against tshark's decode of the very packets the probe received.
#
#   vt-rad  198.18.14.1  FreeRADIUS (auth 1812)
#      | veth vt-r0 — vt-n0
#   vt-nas  198.18.14.2  radius_tunnel_probe, radclient; tcpdump on vt-n0
#
# Prints ok/FAIL lines; exits non-zero on any failure. Needs root. Installs freeradius,
# freeradius-utils, tshark, tcpdump if missing. KEEP=1 keeps the work directory.
# PROBE=path uses a built probe instead of
# `cargo build -p controlplane --example radius_tunnel_probe`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tshark-objections.sh"
ROOT=$(cd "$HERE/../../.." && pwd)
P=${VT_PREFIX:-vt-}
NS_R=${P}rad NS_N=${P}nas IF_R=${P}r0 IF_N=${P}n0
IP_R=198.18.14.1 IP_N=198.18.14.2
SECRET=vt-tunnel-secret
USERS=tunnel-b,tunnel-two,tunnel-pptp,tunnel-mixed
D=$(mktemp -d -t vt-radius-tunnel.XXXXXX)
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
  (cd "$ROOT" && cargo build -q -p controlplane --example radius_tunnel_probe) || { echo "FAIL - build radius_tunnel_probe"; exit 2; }
  PROBE=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/examples/radius_tunnel_probe
fi
[ -x "$PROBE" ] || { echo "no probe at $PROBE"; exit 2; }

TCPDUMP_PID=
cleanup() {
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

ip netns exec "$NS_N" timeout 300 tcpdump -i "$IF_N" --immediate-mode -U -n -w "$D/radius.pcap" udp port 1812 > "$D/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
for _ in $(seq 1 50); do grep -q "listening on" "$D/tcpdump.log" && break; sleep 0.1; done

RADIUS_EXTRA_USERS="$HERE/tunnel-users" bash "$HERE/freeradius.sh" start "$NS_R" "$D/fr" $IP_R $IP_N "$SECRET" || { fail=1; exit 1; }

ip netns exec "$NS_N" timeout 120 "$PROBE" --server $IP_R --secret "$SECRET" --nas-ip $IP_N \
  --users "$USERS" > "$D/probe.out" 2> "$D/probe.err"; prc=$?
sed 's/^/    probe: /' "$D/probe.out"
[ -s "$D/probe.err" ] && sed 's/^/    probe stderr: /' "$D/probe.err"
check "probe exit status 0" "[ $prc -eq 0 ]"
o=$(cat "$D/probe.out")
has() { grep -qxF -- "$1" <<< "$o"; }
# What tunnel-users configures, as the probe prints it.
check "tunnel-b: Accept, one untagged tunnel, usable for L2TP" "has 'user=tunnel-b result=accept tunnels=1 l2tp=0'"
check "tunnel-b: L2TP, IPv4, server 10.232.0.2, assignment isp-b" \
  "has 'user=tunnel-b tunnel tag=0 type=3 medium=1 client=- server=\"10.232.0.2\" private_group=- assignment=\"isp-b\" client_auth=- server_auth=- preference=-'"
check "tunnel-b: Tunnel-Password decrypts to secret-b" "has 'user=tunnel-b password tag=0 value=\"secret-b\"'"
check "tunnel-two: Accept, two tunnels, tag 2 (preference 10) before tag 1 (preference 20)" \
  "has 'user=tunnel-two result=accept tunnels=2 l2tp=2,1'"
check "tunnel-two tag 1: L2TP, IPv4, 10.232.0.2, isp-b-main, preference 20" \
  "has 'user=tunnel-two tunnel tag=1 type=3 medium=1 client=- server=\"10.232.0.2\" private_group=- assignment=\"isp-b-main\" client_auth=- server_auth=- preference=20'"
check "tunnel-two tag 2: L2TP, IPv4, lns2.isp-b.example, isp-b-backup, auth ids lac-1/lns-2, preference 10" \
  "has 'user=tunnel-two tunnel tag=2 type=3 medium=1 client=- server=\"lns2.isp-b.example\" private_group=- assignment=\"isp-b-backup\" client_auth=\"lac-1\" server_auth=\"lns-2\" preference=10'"
check "tunnel-two: passwords pw-one (1 block) and the 46-byte one (3 blocks)" \
  "has 'user=tunnel-two password tag=1 value=\"pw-one\"' && has 'user=tunnel-two password tag=2 value=\"a tunnel password longer than thirty-one bytes\"'"
check "tunnel-pptp: Accept with only a PPTP tunnel: RFC 2868 §3.1, the LAC must reject" \
  "has 'user=tunnel-pptp result=accept tunnels=1 l2tp=reject'"
check "tunnel-mixed: tagged and untagged mixed: reported as a reject, with the reason" \
  "has 'user=tunnel-mixed result=reject tunnels=0 l2tp=-' && grep -q '^user=tunnel-mixed tunnel_error=\".*both untagged and tagged (1)' <<< \"\$o\""
check "client counters: 3 accepts, 1 accept_tunnel_invalid, no retransmission, nothing dropped" \
  "has 'counters accepts=3 rejects=0 accept_tunnel_invalid=1 retransmits=0 dropped=0'"

# radclient, an independent implementation, decrypts the same users' Tunnel-Passwords.
: > "$D/radclient.pw"
for u in tunnel-b tunnel-two; do
  printf 'User-Name = "%s", User-Password = "secret", Message-Authenticator = 0x00\n' "$u" |
    ip netns exec "$NS_N" timeout 10 radclient -r 1 -t 3 -x $IP_R:1812 auth "$SECRET" > "$D/radclient-$u.out" 2>&1
  sed -n 's/^\s*Tunnel-Password:\([0-9]*\) = \(.*\)$/user='"$u"' password tag=\1 value=\2/p' "$D/radclient-$u.out" >> "$D/radclient.pw"
done
sed 's/^/    radclient: /' "$D/radclient.pw"
grep '^user=tunnel-[a-z]* password ' "$D/probe.out" | sort > "$D/probe.pw"
check "radclient decrypts the same 3 Tunnel-Passwords as our client" \
  "[ \$(wc -l < \"\$D/probe.pw\") -eq 3 ] && diff <(sort \"\$D/radclient.pw\") \"\$D/probe.pw\" > \"\$D/pw.diff\""

sleep 0.5; kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; TCPDUMP_PID=
TS=(tshark -n -r "$D/radius.pcap" -o "radius.shared_secret:$SECRET" -o radius.validate_authenticator:TRUE)
"${TS[@]}" -Y radius -V > "$D/tshark.verbose" 2> "$D/tshark.err"
"${TS[@]}" -Y radius -T fields -E separator=, -e radius.code -e radius.authenticator.valid \
  -e radius.authenticator.invalid -e _ws.malformed -e _ws.expert.severity > "$D/tshark.fields" 2>>"$D/tshark.err"
# The capture holds the probe's four Accepts, then radclient's two (named rc-*).
"${TS[@]}" -Y radius -V 2>/dev/null |
  /usr/bin/python3 "$HERE/tunnelcheck.py" $(tr , ' ' <<< "$USERS") rc-tunnel-b rc-tunnel-two > "$D/tshark.tunnels"; tc=$?
sed 's/^/    tshark: /' "$D/tshark.tunnels"
grep '^user=tunnel-[a-z]* tunnel tag=' "$D/probe.out" | sort > "$D/probe.tunnels"
# tunnel-mixed's Accept, which our client refused, decodes in tshark as tag 1 + tag 0.
grep -E '^user=tunnel-(b|two|pptp) tunnel ' "$D/tshark.tunnels" | sort > "$D/tshark.ours"
check "tshark decodes the probe's 3 usable Accepts to the same tunnels (type, medium, endpoints, ids, preference, tags)" \
  "[ $tc -eq 0 ] && [ \$(wc -l < \"\$D/probe.tunnels\") -eq 4 ] && diff \"\$D/tshark.ours\" \"\$D/probe.tunnels\" > \"\$D/tunnels.diff\""
check "tshark: tunnel-mixed's Accept carries Tunnel-Type tag 1 and an untagged Tunnel-Server-Endpoint" \
  "grep -qxF 'user=tunnel-mixed tunnel tag=0 type=- medium=- client=- server=\"10.232.0.2\" private_group=- assignment=- client_auth=- server_auth=- preference=-' \"\$D/tshark.tunnels\" &&
   grep -qxF 'user=tunnel-mixed tunnel tag=1 type=3 medium=- client=- server=- private_group=- assignment=- client_auth=- server_auth=- preference=-' \"\$D/tshark.tunnels\""
n_acc=$(awk -F, '$1 == 2' "$D/tshark.fields" | wc -l)
n_valid=$(awk -F, '$1 == 2 && $2 == "1" && $3 == "0"' "$D/tshark.fields" | wc -l)
check "tshark: 6 Access-Accepts (4 probe, 2 radclient), every Response Authenticator valid ($n_valid of $n_acc)" \
  "[ $n_acc -eq 6 ] && [ $n_valid -eq 6 ]"
check "tshark: no malformed packet, no expert info (but two chance heuristics of Wireshark's, tests/interop/radius/expertcheck.py)" \
  "! grep -q 'Malformed' \"\$D/tshark.verbose\" && [ \$(awk -F, '\$4 != \"\"' \"\$D/tshark.fields\" | wc -l) -eq 0 ] && /usr/bin/python3 \"\$HERE/expertcheck.py\" < \"\$D/tshark.verbose\" > \"\$D/expertcheck.out\""
# What tshark objected to: always the excused items, everything when the check failed.
if [ $fail -ne 0 ]; then tshark_objections "$D" 4 5
else sed 's/^/    expertcheck: /' "$D/expertcheck.out" 2>/dev/null | grep -v 'expert_items=0 '; fi

[ $fail -eq 0 ] || { echo "--- radiusd.log (tail)"; tail -30 "$D/fr/radiusd.log"; cat "$D"/*.diff 2>/dev/null; }
[ $fail -eq 0 ] && echo "PASS: varouter RADIUS tunnel attributes (RFC 2868) against FreeRADIUS 3.2 / radclient / tshark"
exit $fail
