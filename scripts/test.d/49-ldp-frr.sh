#!/usr/bin/env bash
# LDP (RFC 5036) against FRR's ldpd (issue 15, "transport labels hop by hop"): two network
# namespaces joined by a veth, FRR's zebra + ldpd on one side, our ldp_peer example on the
# other. Run twice so that each side is once the active one (transport address comparison):
# the session must reach OPERATIONAL on both sides, we must learn FRR's label for its
# loopback, FRR must learn ours (vtysh `show mpls ldp binding` / `neighbor`), and tshark must
# decode the captured LDP with no malformed packet. Installs frr/tshark/tcpdump when missing
# and fails (never skips) without them. Only vj-ldp-* namespaces and vj-ldp* links are used.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
T=49-ldp-frr
say() { echo "$T: $*"; }
fail() { echo "$T: FAIL - $*" >&2; exit 1; }

need=()
[ -x /usr/lib/frr/ldpd ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null || need+=(frr)
command -v tshark >/dev/null || need+=(tshark)
command -v tcpdump >/dev/null || need+=(tcpdump)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } ||
    fail "could not install ${need[*]}"
fi
[ -x /usr/lib/frr/ldpd ] && [ -x /usr/lib/frr/zebra ] && command -v vtysh >/dev/null || fail "FRR (zebra, ldpd, vtysh) missing"
command -v tshark >/dev/null && command -v tcpdump >/dev/null || fail "tshark/tcpdump missing"

NA=vj-ldp-a NF=vj-ldp-f LA=vj-ldpa LF=vj-ldpf
for ns in $NA $NF; do ip netns list | grep -qw "$ns" && fail "namespace $ns already exists (another run?)"; done
for l in $LA $LF; do ip link show "$l" >/dev/null 2>&1 && fail "link $l already exists"; done

cargo build -q -p controlplane --example ldp_peer
BIN=$ROOT/target/debug/examples/ldp_peer
[ -x "$BIN" ] || fail "ldp_peer was not built"

W=$(mktemp -d -t ldp-frr.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$W"/run*/frr/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.3
  ip netns del $NA 2>/dev/null || true
  ip netns del $NF 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "$T: artefacts kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

ip netns add $NA
ip netns add $NF
ip link add $LA netns $NA type veth peer name $LF netns $NF
ip -n $NA addr add 10.99.0.1/24 dev $LA
ip -n $NA addr add 10.99.0.3/24 dev $LA
ip -n $NF addr add 10.99.0.2/24 dev $LF
ip -n $NA addr add 10.255.0.1/32 dev lo
ip -n $NF addr add 10.255.0.2/32 dev lo
for ns in $NA $NF; do ip -n $ns link set lo up; done
ip -n $NA link set $LA up
ip -n $NF link set $LF up
# The loopbacks are reached over the link (an IGP would say so).
ip -n $NA route add 10.255.0.2/32 via 10.99.0.2
ip -n $NF route add 10.255.0.1/32 via 10.99.0.1

# jq_ours FILE local PREFIX | learnt PREFIX | session PEER: our label for PREFIX, the label
# learnt from 10.255.0.2 for PREFIX, or the state of the session with PEER, from ldp_peer's
# JSON lines.
jq_ours() {
  python3 - "$@" <<'PY'
import json, sys
f, what, key = sys.argv[1:4]
out = ""
for line in open(f):
    e = json.loads(line)
    if what == "local" and e["event"] == "started":
        out = next((str(b["label"]) for b in e["local"] if b["prefix"] == key), "")
    elif what == "learnt" and e["event"] in ("binding_learnt", "binding_lost") and e["prefix"] == key \
            and e["peer"] == "10.255.0.2":
        out = str(e["label"]) if e["event"] == "binding_learnt" else ""
    elif what == "session" and e["event"] in ("session_up", "session_down") and e["peer"] == key:
        out = "OPERATIONAL" if e["event"] == "session_up" else ""
print(out)
PY
}

# run ROLE OUR_TRANSPORT: FRR with transport 10.99.0.2 against our speaker.
run() {
  local role=$1 ours=$2 d=$W/run-$1
  mkdir -p "$d/frr"; chmod 777 "$d" "$d/frr"; touch "$d/frr.log"; chmod 666 "$d/frr.log"
  sed "s|@DIR@|$d|g" tests/interop/ldp/zebra.conf.in > "$d/zebra.conf"
  sed "s|@DIR@|$d|g; s|@FRR_TRANSPORT@|10.99.0.2|g" tests/interop/ldp/ldpd.conf.in > "$d/ldpd.conf"
  ip netns exec $NA tcpdump -q -U -i $LA -w "$d/ldp.pcap" 'port 646' >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.5
  ip netns exec $NF unshare -m sh -c "mount --bind $d/frr /run && mkdir -p /run/frr && chown frr:frr /run/frr &&
      /usr/lib/frr/zebra -d -f $d/zebra.conf -i /run/frr/zebra.pid && sleep 1 &&
      /usr/lib/frr/ldpd -d -f $d/ldpd.conf -i /run/frr/ldpd.pid" ||
    fail "[$role] FRR zebra/ldpd did not start (see $d/frr.log)"
  sleep 0.5
  [ -f "$d/frr/frr/ldpd.pid" ] && kill -0 "$(cat "$d/frr/frr/ldpd.pid")" 2>/dev/null ||
    { cat "$d/frr.log" >&2; fail "[$role] ldpd is not running"; }
  ip netns exec $NA "$BIN" --router-id 10.255.0.1 --interface 10.99.0.1 --transport "$ours" \
      --fec 192.0.2.0/24 --labels 30000-30999 --hello-interval 2 --hold 6 --keepalive 15 \
      --duration 60 > "$d/ours.jsonl" 2> "$d/ours.log" &
  local ours_pid=$! stopped
  PIDS+=($ours_pid)
  local vty="vtysh --vty_socket $d/frr/frr"
  local ok=0
  for _ in $(seq 1 60); do
    sleep 0.5
    if [ "$(jq_ours "$d/ours.jsonl" session 10.255.0.2)" = OPERATIONAL ] &&
       [ -n "$(jq_ours "$d/ours.jsonl" learnt 10.255.0.2/32)" ] &&
       $vty -c 'show mpls ldp binding' 2>/dev/null | grep -q '^ipv4 *10.255.0.1/32 *10.255.0.1 *[0-9-]* *30'; then
      ok=1; break
    fi
  done
  $vty -c 'show mpls ldp neighbor' > "$d/frr-neighbor.txt" 2>&1 || true
  $vty -c 'show mpls ldp binding' > "$d/frr-binding.txt" 2>&1 || true
  $vty -c 'show mpls ldp discovery' > "$d/frr-discovery.txt" 2>&1 || true
  if [ $ok != 1 ]; then
    echo "--- ours" >&2; cat "$d/ours.jsonl" "$d/ours.log" >&2
    echo "--- FRR" >&2; cat "$d/frr-neighbor.txt" "$d/frr-binding.txt" "$d/frr-discovery.txt" >&2; tail -30 "$d/frr.log" >&2
    fail "[$role] session or bindings not established within 30 s"
  fi
  grep -q 'OPERATIONAL' "$d/frr-neighbor.txt" || { cat "$d/frr-neighbor.txt" >&2; fail "[$role] FRR's neighbor is not OPERATIONAL"; }
  # Our labels as we advertised them, and FRR's view of them.
  local lo_label fec_label frr_label
  lo_label=$(jq_ours "$d/ours.jsonl" local 10.255.0.1/32)
  fec_label=$(jq_ours "$d/ours.jsonl" local 192.0.2.0/24)
  [ -n "$lo_label" ] && [ -n "$fec_label" ] || fail "[$role] our started line has no local labels"
  grep -Eq "^ipv4 +10\.255\.0\.1/32 +10\.255\.0\.1 +[^ ]+ +$lo_label( |$)" "$d/frr-binding.txt" ||
    { cat "$d/frr-binding.txt" >&2; fail "[$role] FRR did not learn our label $lo_label for 10.255.0.1/32"; }
  grep -Eq "^ipv4 +192\.0\.2\.0/24 +10\.255\.0\.1 +[^ ]+ +$fec_label( |$)" "$d/frr-binding.txt" ||
    { cat "$d/frr-binding.txt" >&2; fail "[$role] FRR did not learn our label $fec_label for 192.0.2.0/24"; }
  # FRR's label for its loopback as FRR shows it, and as we learnt it.
  frr_label=$(grep -E '^ipv4 +10\.255\.0\.2/32 ' "$d/frr-binding.txt" | head -1 | awk '{print $4}')
  [ "$frr_label" = imp-null ] && frr_label=3
  [ "$(jq_ours "$d/ours.jsonl" learnt 10.255.0.2/32)" = "$frr_label" ] ||
    { grep binding "$d/ours.jsonl" >&2; fail "[$role] we did not learn FRR's label $frr_label for 10.255.0.2/32"; }
  sleep 2
  if [ "$role" = frr-active ]; then
    # Stop FRR's ldpd (it sends a Shutdown notification): our side must take the session
    # down and lose FRR's bindings.
    kill "$(cat "$d/frr/frr/ldpd.pid")"
    local down=0
    for _ in $(seq 1 20); do
      sleep 0.5
      if [ -z "$(jq_ours "$d/ours.jsonl" session 10.255.0.2)" ] &&
         [ -z "$(jq_ours "$d/ours.jsonl" learnt 10.255.0.2/32)" ]; then down=1; break; fi
    done
    [ $down = 1 ] || { cat "$d/ours.jsonl" >&2; fail "[$role] FRR's ldpd stopped but our session/bindings stayed"; }
    stopped="after ldpd stopped our session went down ($(python3 -c 'import json,sys; print(next((json.loads(l)["reason"] for l in open(sys.argv[1]) if "session_down" in l), ""))' "$d/ours.jsonl")) and FRR's bindings were lost"
  else
    # Stop our side (SIGTERM: Shutdown notification): FRR must drop the session and the
    # bindings it learnt from us.
    kill -TERM "$ours_pid"; wait "$ours_pid" 2>/dev/null || true
    grep -q '"event":"summary"' "$d/ours.jsonl" || fail "[$role] ldp_peer did not print its summary on SIGTERM"
    local gone=0
    for _ in $(seq 1 20); do
      sleep 0.5
      if ! $vty -c 'show mpls ldp neighbor' 2>/dev/null | grep -q OPERATIONAL &&
         ! $vty -c 'show mpls ldp binding' 2>/dev/null | grep -Eq "^ipv4 +10\.255\.0\.1/32 +10\.255\.0\.1 +[^ ]+ +$lo_label( |$)"; then
        gone=1; break
      fi
    done
    [ $gone = 1 ] || { $vty -c 'show mpls ldp neighbor' -c 'show mpls ldp binding' >&2; fail "[$role] FRR kept our session or bindings after our Shutdown"; }
    stopped="after our SIGTERM FRR dropped the session and our bindings"
  fi
  kill "$ours_pid" 2>/dev/null || true; wait "$ours_pid" 2>/dev/null || true
  for f in "$d"/frr/frr/*.pid; do kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 1
  kill "${PIDS[0]}" 2>/dev/null || true
  wait "${PIDS[0]}" 2>/dev/null || true
  PIDS=()
  # tshark: every LDP PDU decodes, none malformed, no expert error.
  local n bad types
  n=$(tshark -r "$d/ldp.pcap" -Y ldp 2>/dev/null | wc -l)
  bad=$(tshark -r "$d/ldp.pcap" -Y '_ws.malformed || _ws.expert.severity >= error' 2>/dev/null | wc -l)
  types=$(tshark -r "$d/ldp.pcap" -Y ldp -T fields -e ldp.msg.type 2>/dev/null | tr ',' '\n' | sort -u | tr '\n' ' ')
  [ "$n" -ge 10 ] || fail "[$role] tshark found only $n LDP packets"
  [ "$bad" -eq 0 ] || { tshark -r "$d/ldp.pcap" -Y '_ws.malformed || _ws.expert.severity >= error' >&2; fail "[$role] $bad malformed LDP packet(s)"; }
  for t in 0x0100 0x0200 0x0201 0x0300 0x0400; do
    case " $types" in *" $t "*) ;; *) fail "[$role] no LDP message of type $t captured (saw: $types)";; esac
  done
  say "[$role] OPERATIONAL both sides; $stopped; FRR learnt 10.255.0.1/32 -> $lo_label and 192.0.2.0/24 -> $fec_label; we learnt 10.255.0.2/32 -> $frr_label; tshark: $n LDP packets (types $types), none malformed"
}

run frr-active 10.99.0.1
run ours-active 10.99.0.3
say "PASS"
