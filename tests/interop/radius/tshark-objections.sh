# Sourced by the RADIUS interop scripts (server-interop, client-interop, tunnel-attrs).
# tshark_objections DIR MALFORMED_COL SEVERITY_COL: what tshark objected to in DIR's decode
# (tshark.fields, .verbose, .expert, .err, expertcheck.out), printed for the CI log, which
# keeps only the output. Excused items of expertcheck.py are listed as well.
tshark_objections() {
  local d=$1 m=$2 s=$3
  sed 's/^/    expertcheck: /' "$d/expertcheck.out" 2>/dev/null | grep -v 'expert_items=0 '
  awk -F, -v m="$m" -v s="$s" '$m != "" || $s != ""' "$d/tshark.fields" |
    sed 's/^/    tshark field with expert info or malformed: /'
  grep -n 'Malformed\|Expert Info' "$d/tshark.verbose" | head -20 | sed 's/^/    tshark verbose: /'
  [ -s "$d/tshark.expert" ] && sed 's/^/    tshark -z expert: /' "$d/tshark.expert"
  grep -v '^Running as user' "$d/tshark.err" 2>/dev/null | sed 's/^/    tshark stderr: /'
  return 0
}
