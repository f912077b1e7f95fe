#!/usr/bin/env bash
# The three-router MPLS VPN lab end to end (scripts/lab, docs/lab.md): real Linux hosts in
# network namespaces, varouter on AF_PACKET ports. Needs root; fails (never skips) without.
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "30-lab: needs root (network namespaces); run scripts/test as root" >&2; exit 1; }
for p in ethtool tshark tcpdump iputils-tracepath iputils-ping; do
  dpkg -s "$p" >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null || exit 1; }
done
rc=0
timeout 2400 scripts/lab up && timeout 600 scripts/lab test || rc=1
if [ $rc -ne 0 ]; then
  for r in pe1 p pe2; do echo "--- ${LAB_DIR:-/tmp/varouter-lab}/$r.log"; tail -n 30 "${LAB_DIR:-/tmp/varouter-lab}/$r.log" 2>/dev/null; done
fi
timeout 120 scripts/lab down || rc=1
[ $rc -eq 0 ] || { echo "30-lab: the lab failed (see above)" >&2; exit 1; }
echo "30-lab: passed"
