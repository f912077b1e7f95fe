#!/bin/bash
# Reads the accounting records FreeRADIUS wrote to DIR/detail (freeradius.sh's detail_vl):
# one line per Accounting-Request, in order:
#   <Acct-Status-Type> user=<User-Name> session=<Acct-Session-Id> in=<octets> out=<octets>
#   in_pkts=<n> out_pkts=<n> time=<Acct-Session-Time> cause=<Acct-Terminate-Cause> ip=<Framed-IP-Address>
# Octet counts include the Gigawords (value * 2^32). Missing attributes print as "-".
#   detail.sh DIR
f=${1:?usage: detail.sh DIR}/detail
[ -f "$f" ] || { echo "no detail file at $f" >&2; exit 2; }
awk '
function flush() {
  if (!have) return
  printf "%s user=%s session=%s in=%s out=%s in_pkts=%s out_pkts=%s time=%s cause=%s ip=%s\n",
    v("Acct-Status-Type"), v("User-Name"), v("Acct-Session-Id"), oct("Input"), oct("Output"),
    v("Acct-Input-Packets"), v("Acct-Output-Packets"), v("Acct-Session-Time"),
    v("Acct-Terminate-Cause"), v("Framed-IP-Address")
  delete a; have = 0
}
function v(k) { return (k in a) ? a[k] : "-" }
function oct(d,  o, g) {
  o = "Acct-" d "-Octets"; g = "Acct-" d "-Gigawords"
  if (!(o in a)) return "-"
  return sprintf("%.0f", a[o] + ((g in a) ? a[g] * 4294967296 : 0))
}
/^[^ \t]/ { flush(); next }               # a record starts with its time stamp line
/^[ \t]+[A-Za-z0-9-]+ = / {
  line = $0; sub(/^[ \t]+/, "", line)
  k = line; sub(/ = .*/, "", k); val = line; sub(/^[^=]* = /, "", val); gsub(/"/, "", val)
  a[k] = val; have = 1
}
END { flush() }' "$f"
