#!/usr/bin/env bash
# The dynamic VPN lab of issue 15 end to end (scripts/lab-dynamic, docs/lab.md "The dynamic
# lab"): PE1, P, PE2, PE3 as `varouter run` on af_packet ports in namespaces wa-*, with no
# static VPN route and no static label — discovery, L2TP + RADIUS peering and LDP build
# everything; pings between every site of VPN A (3) and B (2), A never reaches B, the maps,
# channels and LDP are shown, refusals (wrong CHAP secret, wrong discovery key) counted,
# PE2 killed (held, released after the hold time, maps updated), restarted after and within
# the hold time (nothing withdrawn), tshark decodes L2TP, RADIUS and LDP with nothing
# malformed. Prints the convergence time. Needs root; installs what it needs; fails, never
# skips.
set -uo pipefail
cd "$(dirname "$0")/../.."
N=56-dynamic-lab
[ "$(id -u)" -eq 0 ] || { echo "$N: needs root (network namespaces); run scripts/test as root" >&2; exit 1; }
need=()
for p in ethtool tshark tcpdump iputils-ping curl python3; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } ||
    { echo "$N: FAIL - could not install ${need[*]}" >&2; exit 1; }
fi
for ns in wa-p wa-pe1 wa-pe2 wa-pe3 wa-a1 wa-b1 wa-a2 wa-b2 wa-a3; do
  ip netns list | grep -qw "$ns" && { echo "$N: FAIL - namespace $ns exists (another run? scripts/lab-dynamic down)" >&2; exit 1; }
done
cargo build -q --bin varouter || { echo "$N: FAIL - cargo build" >&2; exit 1; }
export VAROUTER=$PWD/target/debug/varouter LAB_PREFIX=wa LAB_DIR=${LAB_DIR:-/tmp/varouter-lab-dynamic}
trap 'timeout 60 scripts/lab-dynamic down >/dev/null 2>&1' EXIT
start=$SECONDS
rc=0
timeout 120 scripts/lab-dynamic up && timeout 400 scripts/lab-dynamic test || rc=1
if [ $rc -ne 0 ]; then
  for r in p pe1 pe2 pe3; do echo "--- $LAB_DIR/$r.log"; tail -n 30 "$LAB_DIR/$r.log" 2>/dev/null; done
fi
timeout 60 scripts/lab-dynamic down || rc=1
trap - EXIT
[ $rc -eq 0 ] || { echo "$N: FAIL (see above)" >&2; exit 1; }
echo "$N: passed ($((SECONDS - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg))"
