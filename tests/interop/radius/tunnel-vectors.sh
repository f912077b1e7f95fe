#!/bin/bash
# Makes the Tunnel-Password / tunnel attribute test vectors of
# controlplane/src/radius/wire/tunnel.rs with independent implementations: radclient sends
# `User-Name = USER, User-Password = "secret"` to FreeRADIUS 3.2 (freeradius.sh, users of
# tunnel-users, secret vt-vector-secret) on the loopback of a namespace of ours, tcpdump
# captures, and this prints per user the Request Authenticator and the Access-Accept as hex
# (what the unit tests hold), with radclient's decoding (the decrypted Tunnel-Passwords).
# Every run gives new vectors (radclient's Request Authenticator is random).
#
#   tests/interop/radius/tunnel-vectors.sh [USER..]   (default: tunnel-b tunnel-two)
#
# Needs root; uses the namespace vt-vec (refuses to run if it exists).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NS=${VT_PREFIX:-vt-}vec
SECRET=vt-vector-secret
[ $# -gt 0 ] || set -- tunnel-b tunnel-two
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 2; }
if ip netns list | awk '{print $1}' | grep -qx "$NS"; then echo "namespace $NS exists already"; exit 2; fi
D=$(mktemp -d -t vt-vectors.XXXXXX)
TCPDUMP_PID=
cleanup() {
  [ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null
  bash "$HERE/freeradius.sh" stop "$D/fr"
  ip netns del "$NS" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS" && ip -n "$NS" link set lo up || exit 2
RADIUS_EXTRA_USERS="$HERE/tunnel-users" bash "$HERE/freeradius.sh" start "$NS" "$D/fr" 127.0.0.1 127.0.0.1 "$SECRET" >&2 || exit 1
ip netns exec "$NS" timeout 60 tcpdump -i lo --immediate-mode -U -n -w "$D/v.pcap" udp port 1812 > "$D/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
for _ in $(seq 1 50); do grep -q "listening on" "$D/tcpdump.log" && break; sleep 0.1; done
for u in "$@"; do
  printf 'User-Name = "%s", User-Password = "secret", Message-Authenticator = 0x00\n' "$u" |
    ip netns exec "$NS" timeout 10 radclient -r 1 -t 3 -x 127.0.0.1:1812 auth "$SECRET" 2>&1 | sed -n 's/^\s*\(Tunnel-.*\)/# radclient: \1/p'
done
sleep 0.3; kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null; TCPDUMP_PID=
echo "# freeradius $(freeradius -v 2>/dev/null | sed -n '1s/.*Version \([^,]*\),.*/\1/p'), secret $SECRET"
tshark -n -r "$D/v.pcap" -Y radius -T fields -e radius.code -e radius.id -e radius.authenticator -e udp.payload 2>/dev/null |
  awk '$1 == 1 { ra[$2] = $3 } $1 != 1 { print "request_authenticator=" ra[$2]; print "answer=" $4 }'
