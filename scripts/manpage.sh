#!/usr/bin/env bash
# A manual page from a program's --help, so that the two cannot drift:
#   scripts/manpage.sh NAME SECTION SUMMARY VERSION PROGRAM [ARGS...] > NAME.SECTION
# The help text becomes the page's DESCRIPTION, verbatim (roff no-fill),
# with roff's special characters made literal.
set -euo pipefail
name=$1 section=$2 summary=$3 version=$4
shift 4
upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
printf '.TH %s %s "" "tunekv %s" "tunekv"\n' "$upper" "$section" "$version"
printf '.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n.nf\n' "$name" "$summary"
"$@" --help | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
printf '.fi\n.SH SEE ALSO\ntunekvd(8), tunekv.conf(5), tunekv(1), tunekv\\-bench(1)\n'
