#!/usr/bin/env bash
# The mobile VPN's AAA (issue 16, seed 003) against python-diameter (PyPI) as the mobility
# agents, with tshark decoding every Diameter message on lo.
#   python-diameter HA (tests/interop/aaa/mip_peer.py ha) on 127.0.0.1:18161 answers HARs;
#   our AAAH (controlplane/examples/aaa_server --role home) on 18160 connects to it,
#   imports tests/interop/aaa/profiles.json into a vpndb SQLite file and reads every user
#   from it; our AAAF (--role foreign) on 18162 connects to
#   the AAAH; the python-diameter FA (mip_peer.py fa) connects to the AAAF and sends:
#   an initial registration (AMR → AAAF → AAAH → HAR → HAA → AMA), an intra-domain move
#   answered by the AAAF's cache, an unknown user (4001), a bad MN-AAA authenticator
#   (4001) and a user of an unreachable realm (3002).
# Checks: the Result-Codes and VPN AVPs the FA got and the HAR the HA got (two VPNs:
# FA→HA and HA→enterprise GW, with the FA–HA key), our counters, and tshark: every
# Diameter message decoded (as many as the counters say), our vendor AVPs decoded with
# tests/interop/aaa/wireshark-custom.xml, no malformed packet, no Diameter warning.
# Installs tshark and python3-venv when missing, python-diameter in a venv in a temp dir;
# fails (never skips) without them. Kills what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=48-aaa-interop
need=()
command -v tshark >/dev/null || need+=(tshark)
command -v setpriv >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "$N: installing ${need[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
for t in tshark python3 setpriv; do
  command -v $t >/dev/null || { echo "$N: FAIL - $t missing" >&2; exit 1; }
done
for p in 18160 18161 18162; do
  if ss -Htln "sport = :$p" | grep -q .; then echo "$N: FAIL - port $p is in use" >&2; exit 1; fi
done

W=$(mktemp -d -t vd-aaa.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "$N: kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

python3 -m venv "$W/venv" || { echo "$N: FAIL - python3 -m venv" >&2; exit 1; }
"$W/venv/bin/pip" install -q python-diameter==0.9.0 ||
  { echo "$N: FAIL - pip install python-diameter" >&2; exit 1; }
PY="$W/venv/bin/python"
"$PY" -c 'import diameter.node' || { echo "$N: FAIL - python-diameter does not import" >&2; exit 1; }

cargo build -q -p controlplane --example aaa_server
AAA=${CARGO_TARGET_DIR:-$PWD/target}/debug/examples/aaa_server

wait_for() { # file pattern seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "$N: FAIL - no '$2' in $1 after $3 s" >&2
  cat "$1" >&2 || true
  return 1
}

timeout 90 tshark -i lo -f "tcp portrange 18160-18169" -w "$W/cap.pcapng" > "$W/tshark.log" 2>&1 &
PIDS+=($!)
TS=${PIDS[-1]}
wait_for "$W/tshark.log" "Capturing on" 15

timeout 60 "$PY" tests/interop/aaa/mip_peer.py ha 18161 30 "$W/ha.json" > "$W/ha.log" 2>&1 &
PIDS+=($!)
HAP=${PIDS[-1]}
wait_for "$W/ha.log" "ha ready" 20
timeout 60 "$AAA" --role home --listen 127.0.0.1:18160 --host aaah.home.example \
  --realm home.example --connect 127.0.0.1:18161 --ha-host ha.home.example \
  --profiles tests/interop/aaa/profiles.json --db "$W/vpn.sqlite" --seconds 25 > "$W/aaah.out" 2>&1 &
PIDS+=($!)
AHP=${PIDS[-1]}
timeout 60 "$AAA" --role foreign --listen 127.0.0.1:18162 --host aaaf.visited.example \
  --realm visited.example --connect 127.0.0.1:18160 --seconds 25 > "$W/aaaf.out" 2>&1 &
PIDS+=($!)
AFP=${PIDS[-1]}
wait_for "$W/aaah.out" ready 10
wait_for "$W/aaaf.out" ready 10
sleep 2
timeout 90 "$PY" tests/interop/aaa/mip_peer.py fa 18162 "$W/fa.json" > "$W/fa.log" 2>&1 ||
  { cat "$W/fa.log" >&2; echo "$N: FAIL - python-diameter FA failed" >&2; exit 1; }
wait "$AHP" || { cat "$W/aaah.out" >&2; echo "$N: FAIL - AAAH failed" >&2; exit 1; }
wait "$AFP" || { cat "$W/aaaf.out" >&2; echo "$N: FAIL - AAAF failed" >&2; exit 1; }
wait "$HAP" 2>/dev/null || true
sleep 1
kill -INT "$TS"
wait "$TS" 2>/dev/null || true

sed "s/^/  aaah: /" "$W/aaah.out"
sed "s/^/  aaaf: /" "$W/aaaf.out"
# tshark decodes our vendor AVPs with tests/interop/aaa/wireshark-custom.xml as the Custom.xml
# of a copy of its diameter dictionary; Wireshark reads WIRESHARK_DATA_DIR only when not
# root, so the decoding tshark runs as nobody.
mkdir -p "$W/ws/home"
for f in /usr/share/wireshark/*; do [ "$(basename "$f")" = diameter ] || ln -s "$f" "$W/ws/"; done
cp -r /usr/share/wireshark/diameter "$W/ws/"
cp tests/interop/aaa/wireshark-custom.xml "$W/ws/diameter/Custom.xml"
chmod -R a+rX "$W"
TSH=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$W/ws/home" WIRESHARK_DATA_DIR="$W/ws" tshark)
DEC=(-d tcp.port==18160,diameter -d tcp.port==18161,diameter -d tcp.port==18162,diameter)
"${TSH[@]}" -r "$W/cap.pcapng" "${DEC[@]}" -Y diameter -T fields -E separator=' ' \
  -e tcp.srcport -e tcp.dstport -e diameter.cmd.code -e diameter.flags.request \
  -e diameter.Result-Code 2>/dev/null > "$W/pdus.txt"
"${TSH[@]}" -r "$W/cap.pcapng" "${DEC[@]}" -Y '_ws.malformed' 2>/dev/null > "$W/malformed.txt"
"${TSH[@]}" -r "$W/cap.pcapng" "${DEC[@]}" -q -z expert,warn 2>/dev/null | grep -i diameter > "$W/expert.txt" || true
"${TSH[@]}" -r "$W/cap.pcapng" "${DEC[@]}" -V -Y 'diameter.cmd.code == 262' 2>/dev/null > "$W/har.txt"
W="$W" python3 - <<'PY'
import json, os, re, sys
W = os.environ["W"]
fail = []
def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        fail.append(what)

fa = {r["name"]: r for r in json.load(open(f"{W}/fa.json"))}
ha = json.load(open(f"{W}/ha.json"))
def ip(h):  # an Address AVP payload, hex: family 1 + 4 bytes
    b = bytes.fromhex(h)
    return ".".join(str(x) for x in b[2:6])
def fa_vpns(r):
    return [p for c in r["vendor"].get("1001", []) for p in c["1003"]]

init = fa.get("initial", {})
check(init.get("result_code") == 2001, f"initial registration: AMA 2001 ({init.get('result_code')}, {init.get('error')})")
check(init.get("has_reg_reply") and init.get("has_fa_to_ha_msa"), "initial AMA carries MIP-Reg-Reply and MIP-FA-to-HA-MSA")
v = fa_vpns(init) if init.get("vendor") else []
check(len(v) == 1 and ip(v[0]["1011"][0]) == "192.0.2.1" and ip(v[0]["1012"][0]) == "198.51.100.10",
      "initial AMA: one VPN FA 192.0.2.1 → HA 198.51.100.10 (Fig. 13 S113)")
check(len(v) == 1 and len(v[0].get("1016", [""])[0]) == 32 and len(v[0].get("1018", [""])[0]) == 40,
      "initial AMA: generated ESP keys (16-byte enc, 20-byte auth) for the own SA (S108)")
check(len(ha) == 1, f"the HA got exactly one HAR ({len(ha)})")
if ha:
    h = ha[0]
    hv = [p for c in h["vendor"].get("1001", []) for p in c["1003"]]
    gws = [(ip(p["1011"][0]), ip(p["1012"][0])) for p in hv]
    check(gws == [("192.0.2.1", "198.51.100.10"), ("198.51.100.10", "198.51.100.200")],
          f"HAR: VPNs FA→HA and HA→enterprise GW ({gws})")
    check(h["has_ha_to_fa_msa"] and h["feature_vector"] == 64 and h["user_name"] == "alice@home.example",
          "HAR: User-Name, MIP-Feature-Vector, MIP-HA-to-FA-MSA")
mv = fa.get("intra_domain_move", {})
check(mv.get("result_code") == 2001, "intra-domain move: AMA 2001 from the AAAF")
mvv = fa_vpns(mv) if mv.get("vendor") else []
check(len(mvv) == 1 and ip(mvv[0]["1011"][0]) == "192.0.2.2", "move: the VPN now starts at the new FA 192.0.2.2")
check(mv.get("vendor", {}).get("1020") and ip(mv["vendor"]["1020"][0]) == "192.0.2.1", "move: AMA names the old FA")
check(fa.get("unknown_user", {}).get("result_code") == 4001, "unknown user: 4001")
check(fa.get("bad_auth", {}).get("result_code") == 4001, "bad MN-AAA authenticator: 4001")
check(fa.get("unreachable_realm", {}).get("result_code") == 3002, "unreachable home realm: 3002")

def counters(f):
    out = {}
    for line in open(f):
        for k, v in re.findall(r"(\w+): (\d+)", line):
            out.setdefault(line.split()[0] + "." + k, int(v))
    return out
ah, af = counters(f"{W}/aaah.out"), counters(f"{W}/aaaf.out")
check(af.get("engine.cache_hits") == 1, f"AAAF answered one move from its cache ({af.get('engine.cache_hits')})")
check(ah.get("engine.rx_amr") == 3 and ah.get("engine.tx_har") == 1, "AAAH: 3 AMRs (the move did not go home), 1 HAR")

pdus = [l.split() for l in open(f"{W}/pdus.txt") if l.strip()]
# each frame may hold several messages: tshark prints comma-separated values
msgs = []
for p in pdus:
    src, dst, cmds, reqs = p[0], p[1], p[2].split(","), p[3].split(",")
    for c, r in zip(cmds, reqs):
        msgs.append((int(src), int(dst), int(c), r in ("1", "True")))
def count(sport=None, dport=None, cmd=None, req=None):
    return sum(1 for s, d, c, r in msgs if (sport is None or s == sport) and (dport is None or d == dport)
               and (cmd is None or c == cmd) and (req is None or r == req))
# FA → AAAF: 5 AMRs, 5 AMAs back; AAAF → AAAH: 3 AMRs; AAAH → HA: 1 HAR, 1 HAA.
check(count(dport=18162, cmd=260, req=True) == 5 and count(sport=18162, cmd=260, req=False) == 5,
      "tshark: 5 AMR to the AAAF, 5 AMA from it")
check(count(dport=18160, cmd=260, req=True) == 3 and count(sport=18160, cmd=260, req=False) == 3,
      "tshark: 3 AMR forwarded to the AAAH, 3 AMA back")
check(count(dport=18161, cmd=262, req=True) == 1 and count(sport=18161, cmd=262, req=False) == 1,
      "tshark: 1 HAR to the HA, 1 HAA back")
sent = ah.get("driver.answers_out", 0) + ah.get("driver.requests_out", 0) + af.get("driver.answers_out", 0) + af.get("driver.requests_out", 0)
ours = count(sport=18160, cmd=260) + count(dport=18161, cmd=262, req=True) + count(sport=18162, cmd=260) + count(dport=18160, cmd=260, req=True)
check(sent == ours, f"tshark decoded every application message we sent ({ours} of {sent})")
bad = open(f"{W}/malformed.txt").read().strip()
check(bad == "", "tshark: no malformed packet" + ("" if not bad else "\n" + bad))
exp = open(f"{W}/expert.txt").read().strip()
check(exp == "", "tshark: no Diameter warning (unknown AVP or vendor, bad length)" + ("" if not exp else "\n" + exp))
har = open(f"{W}/har.txt").read()
check("VPN-Profile-Count: 2" in har and "VPN-Destination-GW Address: 198.51.100.200" in har and "VPN-GW-Type(1013) l=16 f=VM- vnd=VaRouterMobileVpn val=STATIC" in har,
      "tshark decodes the HAR's VPN-Info-Cache (2 profiles, HA→GW 198.51.100.200, STATIC)")
sys.exit(1 if fail else 0)
PY
echo "$N: ok"
