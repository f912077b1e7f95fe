#!/bin/bash
# A FreeRADIUS 3 test server for the appliance's RADIUS client, from Debian's config copied
# into a directory of ours (the system's config and service are left alone).
#
#   freeradius.sh start NETNS DIR LISTEN_IP CLIENT SECRET
#       NETNS     network namespace to run in ("-" = the current one)
#       DIR       work directory: DIR/raddb (config), DIR/radiusd.log (-X output),
#                 DIR/detail (accounting), DIR/freeradius.pid
#       LISTEN_IP address to listen on (auth 1812, acct 1813; RADIUS_AUTH_PORT and
#                 RADIUS_ACCT_PORT change them)
#       CLIENT    the appliance's address or network (a.b.c.d or a.b.c.d/len)
#       SECRET    shared secret
#   freeradius.sh stop DIR
#
# What it configures:
#  - one client, CLIENT, with require_message_authenticator = yes (requests without a
#    Message-Authenticator get no answer); no other client;
#  - every Access-Accept and Access-Reject carries a Message-Authenticator (FreeRADIUS 3.2.1
#    does not add one by itself);
#  - users (mods-config/files/authorize), all with Cleartext-Password "secret" by default
#    (RADIUS_PASSWORD changes it), Service-Type Framed-User, Framed-Protocol PPP:
#      alice  PAP in the tests; Framed-IP-Address 100.64.0.10; Session-Timeout 20,
#             Acct-Interim-Interval 10
#      bob    CHAP in the tests; no address: Framed-Pool "subscribers" (the appliance's pool)
#      carol  MS-CHAPv2 in the tests; Framed-IP-Address 100.64.0.12 (and MPPE keys, MS-CHAP2-Success)
#    Any method works for any user; the method is the client's choice.
#    RADIUS_EXTRA_USERS=FILE appends FILE's entries after these (e.g. a DEFAULT entry that
#    accepts any name, for load tests).
#  - accounting: every Accounting-Request is written to DIR/detail (detail.sh reads it).
# Runs `freeradius -X` in the background (bounded by `timeout`, RADIUS_TIMEOUT s, default
# 1800) and waits for "Ready to process requests". RADIUS_DEBUG=0 runs `freeradius -f`
# instead: its thread pool, no per-packet debug log (for rate measurements).
set -u
usage() { echo "usage: $0 start NETNS DIR LISTEN_IP CLIENT SECRET | stop DIR" >&2; exit 2; }
[ $# -ge 1 ] || usage

install_freeradius() {
  command -v freeradius >/dev/null && command -v radclient >/dev/null && return 0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq freeradius freeradius-utils >/dev/null || return 1
  # The package may start the system daemon: ours runs on its own, keep the machine quiet.
  systemctl stop freeradius >/dev/null 2>&1 || service freeradius stop >/dev/null 2>&1 || true
  systemctl disable freeradius >/dev/null 2>&1 || true
}

start() {
  [ $# -eq 5 ] || usage
  local ns=$1 dir=$2 listen=$3 client=$4 secret=$5 pw=${RADIUS_PASSWORD:-secret}
  install_freeradius || { echo "freeradius.sh: cannot install freeradius" >&2; return 1; }
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  local r=$dir/raddb
  rm -rf "$r" && cp -a /etc/freeradius/3.0 "$r" || return 1
  : > "$dir/detail"
  # Run as root with every path under DIR: nothing shared with the system daemon or other runs.
  sed -i -e 's/^\(\s*\)\(user\|group\) = freerad/\1#\2 = freerad/' \
         -e "s|^logdir = .*|logdir = $dir/log|" \
         -e "s|^run_dir = .*|run_dir = $dir/run|" "$r/radiusd.conf"
  mkdir -p "$dir/log/radacct" "$dir/run"
  # Only our site: the shipped ones use EAP (whose certificates are not made on install here).
  rm -f "$r"/sites-enabled/* "$r/mods-enabled/eap"
  cat > "$r/clients.conf" <<EOF
client appliance {
	ipaddr = $client
	secret = $secret
	require_message_authenticator = yes
	shortname = appliance
	nas_type = other
}
EOF
  cat > "$r/mods-enabled/detail_vl" <<EOF
detail detail_vl {
	filename = $dir/detail
	escape_filenames = no
	permissions = 0600
	header = "%t"
}
EOF
  cat > "$r/sites-enabled/varouter" <<EOF
server varouter {
listen {
	type = auth
	ipaddr = $listen
	port = ${RADIUS_AUTH_PORT:-1812}
}
listen {
	type = acct
	ipaddr = $listen
	port = ${RADIUS_ACCT_PORT:-1813}
}
authorize {
	preprocess
	chap
	mschap
	files
	pap
}
authenticate {
	Auth-Type PAP {
		pap
	}
	Auth-Type CHAP {
		chap
	}
	Auth-Type MS-CHAP {
		mschap
	}
}
preacct {
	preprocess
	acct_unique
}
accounting {
	detail_vl
	ok
}
post-auth {
	# Sign every answer (the appliance requires a Message-Authenticator in replies).
	update reply {
		Message-Authenticator := 0x00
	}
	Post-Auth-Type REJECT {
		attr_filter.access_reject
		update reply {
			Message-Authenticator := 0x00
		}
	}
}
}
EOF
  local users=$r/mods-config/files/authorize
  { cat <<EOF
alice	Cleartext-Password := "$pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Framed-IP-Address = 100.64.0.10,
	Session-Timeout = 20,
	Acct-Interim-Interval = 10

bob	Cleartext-Password := "$pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Framed-Pool = "subscribers"

carol	Cleartext-Password := "$pw"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Framed-IP-Address = 100.64.0.12

EOF
    [ -n "${RADIUS_EXTRA_USERS:-}" ] && { cat "$RADIUS_EXTRA_USERS"; echo; }
    cat "$users"; } > "$users.new" && mv "$users.new" "$users"
  local nsx=()
  [ "$ns" != - ] && nsx=(ip netns exec "$ns")
  # A configuration check first: its errors are clearer than a daemon that never gets ready.
  if ! "${nsx[@]}" freeradius -XC -d "$r" > "$dir/check.log" 2>&1; then
    echo "freeradius.sh: configuration check failed:" >&2; grep -iE "error|fail" "$dir/check.log" | tail -5 >&2; return 1
  fi
  local mode=(-X)
  [ "${RADIUS_DEBUG:-1}" = 0 ] && mode=(-f -l stdout)
  "${nsx[@]}" timeout "${RADIUS_TIMEOUT:-1800}" freeradius "${mode[@]}" -d "$r" > "$dir/radiusd.log" 2>&1 &
  echo $! > "$dir/freeradius.pid"
  for _ in $(seq 1 100); do
    grep -q "Ready to process requests" "$dir/radiusd.log" && { echo "freeradius ready on $listen (pid $(cat "$dir/freeradius.pid"), log $dir/radiusd.log)"; return 0; }
    kill -0 "$(cat "$dir/freeradius.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "freeradius.sh: not ready; log tail:" >&2; tail -15 "$dir/radiusd.log" >&2
  stop "$dir"; return 1
}

stop() {
  [ $# -eq 1 ] || usage
  local p=$1/freeradius.pid
  [ -f "$p" ] || return 0
  # The pid is timeout(1)'s: it passes SIGTERM on to freeradius.
  kill "$(cat "$p")" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$(cat "$p")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$p"
}

cmd=$1; shift
case $cmd in
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) usage ;;
esac
