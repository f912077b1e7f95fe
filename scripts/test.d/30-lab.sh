#!/usr/bin/env bash
# The three-router MPLS VPN lab end to end (scripts/lab, docs/lab.md): real Linux hosts in
# network namespaces, varouter on af_packet ports, then the same lab with every router on
# DPDK net_af_packet vdevs (a release build with `--features dpdk`, kept at
# target/dpdk/release/varouter; suite 35 runs that binary too). Both runs include VPN C,
# whose traffic crosses the labelled core in an ESP tunnel that tshark decrypts. Needs root;
# fails (never skips) without it or without DPDK.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/need-dpdk.bash
[ "$(id -u)" -eq 0 ] || { echo "30-lab: needs root (network namespaces); run scripts/test as root" >&2; exit 1; }
for p in ethtool tshark tcpdump iputils-tracepath iputils-ping; do
  dpkg -s "$p" >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null || exit 1; }
done
need_dpdk 30-lab
LAB_DIR=${LAB_DIR:-/tmp/varouter-lab}
# The lab builds its own binary per backend (target/release, target/dpdk/release): a
# VAROUTER from the environment would run both labs on one build.
unset VAROUTER

lab() { # backend: up, test, down; the router logs when something failed
  local backend=$1 rc=0 start=$SECONDS
  echo "--- the lab on $backend"
  timeout 2400 scripts/lab up --backend "$backend" && timeout 600 scripts/lab test || rc=1
  if [ $rc -ne 0 ]; then
    for r in pe1 p pe2; do echo "--- $LAB_DIR/$r.log ($backend)"; tail -n 40 "$LAB_DIR/$r.log" 2>/dev/null; done
  fi
  timeout 120 scripts/lab down || rc=1
  [ $rc -eq 0 ] || { echo "30-lab: the lab on $backend failed (see above)" >&2; return 1; }
  echo "--- the lab on $backend passed ($((SECONDS - start)) s)"
}

rc=0
lab af_packet || rc=1
lab dpdk || rc=1
[ $rc -eq 0 ] || exit 1
echo "30-lab: passed (af_packet and dpdk)"
