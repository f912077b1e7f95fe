# Topology helpers for the lwIP LAC tests (sourced). Needs root, iproute2.
#
#   namespace $NS_C: bridge ${P}br0 joining the TAP ${P}tap0 (lwIP's interface) and the veth
#                    end ${P}c0; the kernel has no address there, lwIP owns its own.
#   namespace $NS_S: the veth end named by the caller (the server's interface: varouter's
#                    af_packet port, or a kernel address for xl2tpd).
# Every name starts with the prefix P (default vl-); namespaces are checked to be free before
# they are made, and both veth ends are created inside their namespaces.
P=${VL_PREFIX:-vl-}
NS_C=${P}c
NS_S=${P}s

topo_down() {
  ip netns del "$NS_C" 2>/dev/null
  ip netns del "$NS_S" 2>/dev/null
  return 0
}

# topo_up SERVER_IF: creates both namespaces, the bridge, the TAP and the veth pair.
topo_up() {
  local sif=$1
  for ns in "$NS_C" "$NS_S"; do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      echo "namespace $ns exists already (another run? remove it with: ip netns del $ns)" >&2
      return 1
    fi
  done
  ip netns add "$NS_C" && ip netns add "$NS_S" || return 1
  ip -n "$NS_C" link set lo up; ip -n "$NS_S" link set lo up
  ip -n "$NS_C" link add "${P}c0" type veth peer name "$sif" netns "$NS_S" || return 1
  ip -n "$NS_C" link add "${P}br0" type bridge || return 1
  ip -n "$NS_C" tuntap add dev "${P}tap0" mode tap || return 1
  ip netns exec "$NS_C" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$NS_C" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip -n "$NS_C" link set "${P}c0" master "${P}br0"
  ip -n "$NS_C" link set "${P}tap0" master "${P}br0"
  for l in "${P}br0" "${P}c0" "${P}tap0"; do ip -n "$NS_C" link set "$l" up; done
  ip -n "$NS_S" link set "$sif" up
  # Frames exactly as on the wire: no checksum offload, no GRO/GSO on the veth.
  for o in rx tx tso gso gro; do
    ip netns exec "$NS_C" ethtool -K "${P}c0" $o off >/dev/null 2>&1
    ip netns exec "$NS_S" ethtool -K "$sif" $o off >/dev/null 2>&1
  done
  return 0
}

# topo_add_tap NAME: one more TAP in $NS_C's bridge (one per PPPoE subscriber: each lwIP
# process owns one TAP and its own MAC on the shared segment).
topo_add_tap() {
  ip -n "$NS_C" tuntap add dev "$1" mode tap || return 1
  ip -n "$NS_C" link set "$1" master "${P}br0" && ip -n "$NS_C" link set "$1" up
}

# topo_add_probe IF: a veth pair in $NS_C, IF for a probe (scapy, raw sockets) and IF's peer
# ${IF}b in the bridge, so the probe's made-up MACs are learnt like a subscriber's.
topo_add_probe() {
  ip -n "$NS_C" link add "$1" type veth peer name "${1}b" || return 1
  ip -n "$NS_C" link set "${1}b" master "${P}br0" || return 1
  local l
  for l in "$1" "${1}b"; do
    ip -n "$NS_C" link set "$l" up
    for o in rx tx tso gso gro; do ip netns exec "$NS_C" ethtool -K "$l" $o off >/dev/null 2>&1; done
  done
}
