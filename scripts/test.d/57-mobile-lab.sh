#!/usr/bin/env bash
# The mobile lab (issue 17, docs/mobile-vpn.md "The mobile lab"): `scripts/mobile-lab up`,
# `test`, `down` — a scapy mobile node in namespace vy-mn registering through the foreign
# agents of `varouter run` appliances (AAAF + FA, AAAH + HA over loopback Diameter), the
# tunnels published, a wrong key refused, handoffs, deregistration. The lab is always taken
# down, also when a step fails; its logs are printed on failure.
# Namespaces and interfaces vy-*, TCP/UDP ports 18290-18299, 18320-18339 and 18350 (the PCN's API).
# Installs python3-scapy and tshark when missing and fails (never skips) without them.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=57-mobile-lab
say() { echo "$T: $*"; }
fail() { echo "$T: FAIL - $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, af_packet)"
need=()
/usr/bin/python3 -c 'import scapy' 2>/dev/null || need+=(python3-scapy)
command -v tshark >/dev/null || need+=(tshark)
command -v ethtool >/dev/null || need+=(ethtool)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } ||
    fail "could not install ${need[*]}"
fi
/usr/bin/python3 -c 'import scapy' 2>/dev/null || fail "python3-scapy missing"
command -v tshark >/dev/null || fail "tshark missing"

STATE=$(mktemp -d /tmp/$T.XXXXXX)
export MOBILE_LAB_STATE=$STATE
cleanup() {
  rc=$?
  scripts/mobile-lab down || true
  if [ $rc != 0 ]; then
    for f in "$STATE"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  fi
  if [ "${KEEP:-}" = 1 ] || [ $rc != 0 ]; then echo "$T: artefacts in $STATE" >&2; else rm -rf "$STATE"; fi
}
trap cleanup EXIT

t0=$SECONDS
# Bounded: up 60 s, test 480 s (about 100 s here when nothing stalls; this machine has stalled
# single steps of the script by up to two minutes, under twenty compilers and once, in a CI
# run on a quiet machine, twice in one run — both after a handoff; cause not found: 300 s cut
# that run in its last step). The build is done before, by scripts/test's cargo steps.
cargo build -q --bin varouter
timeout 60 scripts/mobile-lab up || fail "scripts/mobile-lab up"
MOBILE_LAB_CAPTURE=1 timeout 480 scripts/mobile-lab test || fail "scripts/mobile-lab test (bounded at 480 s)"
say "PASS in $((SECONDS - t0)) s"
