#!/usr/bin/env bash
# The VPN peering channel (issue 15, docs/protocols/vpn-peering.md) authenticated by a real
# RADIUS server: FreeRADIUS 3 (tests/interop/radius/freeradius.sh) checks the CHAP-Password
# of every VR ("<vpn-id>/<router-id>", Cleartext-Password = the VPN secret). Three engines
# (controlplane/examples/vpnpeer_radius.rs) on real UDP sockets: R1 and R2 must come up and
# exchange their routes, R3 (wrong VPN secret) must be refused by both and install nothing.
# tcpdump captures everything; tshark must decode the L2TP and RADIUS packets without a
# malformed one and see the Access-Accepts and Access-Rejects.
#
# Everything runs in its own network namespace (vo-vpnch, loopback only); ports 18220-18227.
# Installs freeradius, freeradius-utils, tshark, tcpdump if missing; fails (never skips).
set -euo pipefail
cd "$(dirname "$0")/../.."
NS=vo-vpnch
RADIUS_SECRET=vo-vpnch-radius-secret
VPN_SECRET=vo-vpn-100-secret
D=$(mktemp -d -t vo-vpnch.XXXXXX)
fail=0
check() { if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi; }

[ "$(id -u)" = 0 ] || { echo "53-vpnpeer-radius: FAIL - needs root" >&2; exit 1; }
if ip netns list | awk '{print $1}' | grep -qx "$NS"; then
  echo "53-vpnpeer-radius: FAIL - namespace $NS exists already" >&2; exit 1
fi
missing=()
for t in freeradius:freeradius radclient:freeradius-utils tshark:tshark tcpdump:tcpdump; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "53-vpnpeer-radius: installing ${missing[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  systemctl stop freeradius >/dev/null 2>&1 || true
  systemctl disable freeradius >/dev/null 2>&1 || true
fi
for t in freeradius tshark tcpdump; do
  command -v "$t" >/dev/null || { echo "53-vpnpeer-radius: FAIL - $t still missing" >&2; exit 1; }
done

cargo build -q -p controlplane --example vpnpeer_radius
PROBE=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/examples/vpnpeer_radius
[ -x "$PROBE" ] || { echo "53-vpnpeer-radius: FAIL - no $PROBE" >&2; exit 1; }

TCPDUMP_PID=
cleanup() {
  [ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null || true
  bash tests/interop/radius/freeradius.sh stop "$D/fr" || true
  ip netns del "$NS" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ] || [ $fail -ne 0 ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up

# One user per VR of VPN 100, all with the VPN secret; R3's engine uses another secret.
cat > "$D/users" <<EOF
"100/10.255.0.1"	Cleartext-Password := "$VPN_SECRET"
"100/10.255.0.2"	Cleartext-Password := "$VPN_SECRET"
"100/10.255.0.3"	Cleartext-Password := "$VPN_SECRET"
EOF
RADIUS_AUTH_PORT=18222 RADIUS_ACCT_PORT=18223 RADIUS_EXTRA_USERS=$D/users RADIUS_TIMEOUT=300 \
  bash tests/interop/radius/freeradius.sh start "$NS" "$D/fr" 127.0.0.1 127.0.0.0/8 "$RADIUS_SECRET"

ip netns exec "$NS" tcpdump -q -n -i lo -w "$D/cap.pcap" udp portrange 18220-18227 2>"$D/tcpdump.log" &
TCPDUMP_PID=$!
for _ in $(seq 1 50); do grep -q "listening on" "$D/tcpdump.log" && break; sleep 0.1; done

set +e
ip netns exec "$NS" "$PROBE" 127.0.0.1:18222 "$RADIUS_SECRET" "$VPN_SECRET" 12 > "$D/probe.log" 2>&1
rc=$?
set -e
grep -E "^(ok|FAIL)" "$D/probe.log"
check "engines: every check passed (exit $rc)" "[ $rc -eq 0 ]"
sleep 0.5
kill "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null || true; TCPDUMP_PID=

DEC=(-d udp.port==18220,l2tp -d udp.port==18221,l2tp -d udp.port==18224,l2tp -d udp.port==18222,radius)
# Frames matching a display filter; a filter tshark refuses is a failure, not a zero.
count() {
  local out
  out=$(tshark -r "$D/cap.pcap" "${DEC[@]}" -Y "$1" 2>"$D/tshark.err") ||
    { echo "FAIL - tshark refused filter '$1': $(head -2 "$D/tshark.err")" >&2; fail=1; echo -1; return; }
  [ -z "$out" ] && echo 0 || echo "$out" | wc -l
}
total=$(count "l2tp || radius")
check "tshark: decoded $total L2TP/RADIUS frames" "[ $total -gt 20 ]"
malformed=$(count "_ws.malformed || _ws.expert.severity >= error")
check "tshark: no malformed L2TP or RADIUS packet" "[ $malformed -eq 0 ]"
accepts=$(count "radius.code == 2")
rejects=$(count "radius.code == 3")
chap=$(count 'radius.code == 1 && radius.CHAP_Password && radius.CHAP_Challenge && radius.User_Name contains "100/10.255.0."')
check "tshark: Access-Requests with User-Name <vpn>/<router>, CHAP-Password, CHAP-Challenge ($chap)" "[ $chap -ge 4 ]"
check "tshark: Access-Accepts ($accepts) for R1<->R2 and R3's checks of its peers" "[ $accepts -ge 2 ]"
check "tshark: two Access-Rejects for R3 ($rejects)" "[ $rejects -eq 2 ]"
stopccn=$(count "l2tp.avp.message_type == 4 && l2tp.result_code == 4")
check "tshark: StopCCN with result 4 (not authorized) sent to R3 ($stopccn)" "[ $stopccn -ge 2 ]"
ours=$(count "l2tp.avp.message_type == 32473")
check "tshark: peering messages of our type decoded as L2TP ($ours)" "[ $ours -ge 6 ]"
[ $fail -eq 0 ] || { cat "$D/probe.log" | tail -30; grep -iE "reject|error" "$D/fr/radiusd.log" | tail -10; }
exit $fail
