#!/usr/bin/env bash
# The in-process RADIUS server (issue 15, controlplane/src/radius/server.rs) against real
# clients: radclient, radtest (freeradius-utils), radtool.py; tshark decodes every packet.
# Runs in its own network namespace vp-rs on UDP 18230; installs freeradius-utils, tshark,
# tcpdump itself and fails (never skips) when they are missing. See
# tests/interop/radius/server-interop.sh for the checks.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash tests/interop/radius/server-interop.sh
