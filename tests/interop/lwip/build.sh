#!/bin/bash
# Builds the lwIP PPPoL2TP LAC test harness: target/lwip/lwip_lac.
# lwIP itself (BSD licence) is not in this repository: its source is taken from the crates.io
# crate `lwip` 0.3.15, which bundles the whole lwIP 2.2 tree (src/ and contrib/ports/unix).
# The tarball is cached in target/lwip/ and checked against a pinned sha256 before use.
#   build.sh            build (incremental: does nothing when the binary is newer than its inputs)
#   LWIP_OUT=dir        cache/output directory (default <repo>/target/lwip)
#   LWIP_CRATE=file     use this local copy of lwip-0.3.15.crate instead of downloading it
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${LWIP_OUT:-$ROOT/target/lwip}
VER=0.3.15
SHA=fb7051f756d2ad2ee15f003ce2178646908a9d50bc966bd37dcd1eea8ce2bb13
URL=https://static.crates.io/crates/lwip/lwip-$VER.crate
CRATE=$OUT/lwip-$VER.crate
SRC=$OUT/lwip-$VER
BIN=$OUT/lwip_lac
mkdir -p "$OUT"

if [ ! -f "$CRATE" ] || ! echo "$SHA  $CRATE" | sha256sum -c --quiet - 2>/dev/null; then
  rm -f "$CRATE" "$CRATE.part"
  if [ -n "${LWIP_CRATE:-}" ]; then
    cp "$LWIP_CRATE" "$CRATE.part"
  else
    command -v curl >/dev/null || { echo "build.sh: needs curl" >&2; exit 2; }
    curl -sSfL --retry 3 -o "$CRATE.part" "$URL"
  fi
  echo "$SHA  $CRATE.part" | sha256sum -c --quiet - || { echo "build.sh: sha256 mismatch for $URL" >&2; rm -f "$CRATE.part"; exit 2; }
  mv "$CRATE.part" "$CRATE"
  rm -rf "$SRC"
fi
if [ ! -f "$SRC/.unpacked" ]; then
  rm -rf "$SRC"
  tar -xzf "$CRATE" -C "$OUT"
  touch "$SRC/.unpacked"
fi

L=$SRC
SOURCES=(
  "$L"/src/core/{def,dns,inet_chksum,init,ip,mem,memp,netif,pbuf,raw,stats,sys,timeouts,udp}.c
  "$L"/src/core/ipv4/{etharp,icmp,ip4,ip4_addr,ip4_frag}.c
  "$L"/src/core/ipv6/{ethip6,icmp6,inet6,ip6,ip6_addr,ip6_frag,mld6,nd6}.c
  "$L"/src/netif/ethernet.c
  "$L"/src/netif/ppp/*.c
  "$L"/src/netif/ppp/polarssl/*.c
  "$L"/contrib/ports/unix/port/sys_arch.c
  "$HERE/lwip_lac.c"
)
if [ -x "$BIN" ] && [ -z "$(find "$HERE/lwip_lac.c" "$HERE/lwipopts.h" "$HERE/build.sh" -newer "$BIN")" ]; then
  echo "$BIN is up to date"; exit 0
fi
command -v gcc >/dev/null || { echo "build.sh: needs gcc" >&2; exit 2; }
# One compiler invocation (a few seconds); lwIP's own warnings are not ours to fix.
gcc -O1 -g -std=gnu99 -w \
  -I"$HERE" -I"$L/src/include" -I"$L/contrib/ports/unix/port/include" \
  -o "$BIN.tmp" "${SOURCES[@]}"
mv "$BIN.tmp" "$BIN"
echo "built $BIN"
