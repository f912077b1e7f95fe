#!/usr/bin/env bash
# ESP interop (issue 13, "Independent implementations"): varouter's ESP against scapy's
# (scapy.layers.ipsec.SecurityAssociation: AES-GCM-128/256, ChaCha20-Poly1305, UDP 4500,
# ESN) and tshark's ESP decryption, through the pcap port backend
# (tests/interop/esp/profile.yaml). scapy writes plain packets from the CEs and sealed ESP
# (with replayed, forged, truncated, unknown-SPI and NAT-keepalive packets) from the remote
# gateway; varouter runs until its captures are read; scapy and tshark then open what it
# sealed and compare what it delivered, and the drop counters of its summary are checked.
# Installs the Debian packages it needs; fails (never skips) when one is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3   # Debian's python: python3-scapy lives there
missing=()
command -v tshark >/dev/null || missing+=(tshark)
$PY -c 'import scapy' 2>/dev/null || missing+=(python3-scapy)
$PY -c 'import cryptography' 2>/dev/null || missing+=(python3-cryptography)
$PY -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if [ ${#missing[@]} -gt 0 ]; then
  echo "38-esp-interop: installing ${missing[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
command -v tshark >/dev/null || { echo "38-esp-interop: FAIL - tshark missing" >&2; exit 1; }
$PY -c 'import scapy.layers.ipsec, cryptography.hazmat.primitives.ciphers.aead, yaml' ||
  { echo "38-esp-interop: FAIL - scapy/cryptography/yaml missing from $PY" >&2; exit 1; }

cargo build -q --release
VAROUTER=${VAROUTER:-$PWD/target/release/varouter}
W=$(mktemp -d -t esp-interop.XXXXXX)
trap 'rm -rf "$W"' EXIT
cp tests/interop/esp/profile.yaml "$W/"
$PY tests/interop/esp/esp_interop.py make "$W"
# The pcap backend stops once every rx capture is read; the timeout only guards a hang.
if ! timeout 60 "$VAROUTER" run "$W/profile.yaml" --stats-interval 0 > "$W/summary.txt" 2> "$W/stderr.txt"; then
  cat "$W/summary.txt" "$W/stderr.txt"
  echo "38-esp-interop: FAIL - varouter run failed" >&2
  exit 1
fi
awk '/^[^ ]/ {on = ($0 == "drops:")} on {print "  varouter: " $0}' "$W/summary.txt"
$PY tests/interop/esp/esp_interop.py check "$W"
