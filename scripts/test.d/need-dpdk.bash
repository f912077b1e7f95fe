# Sourced by the suites that build `--features dpdk` (30-lab, 35-l2tp-interop, 40-dpdk).
# `need_dpdk SUITE` installs DPDK 22.11 and pkg-config when they are missing (root needed
# then) and makes the calling suite fail when it cannot: nothing is skipped.
# The release build with `--features dpdk` is scripts/build-release-dpdk's
# (target/dpdk/release/varouter, shared by the lab and the interop runs).

need_dpdk() {
  local suite=$1 p missing=()
  for p in libdpdk-dev dpdk pkg-config; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  echo "installing ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || { echo "$suite: need root to apt-get install ${missing[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { echo "$suite: apt-get update failed" >&2; exit 1; }
  apt-get install -y -qq "${missing[@]}" >/dev/null || { echo "$suite: cannot install ${missing[*]}" >&2; exit 1; }
  pkg-config --exists libdpdk || { echo "$suite: pkg-config does not find libdpdk after installing it" >&2; exit 1; }
}
