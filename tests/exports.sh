#!/usr/bin/env bash
# exports.sh: libbindguard.so exports exactly the calls shim/wrapped.h lists.
# Usage: tests/exports.sh BUILD
# The list as this build's compiler saw it is $BUILD/wrapped.list (the
# Makefile makes it, and the version script from it). Checked both ways:
#   every listed call is a defined dynamic symbol of $BUILD/libbindguard.so,
#   the library exports nothing else,
#   no shim object defines a default-visibility symbol the list lacks (a
#   wrapper the version script would hide: written, but never called).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
BUILD=${1:-build}
lib=$BUILD/libbindguard.so
list=$BUILD/wrapped.list
pass=0 fail=0
result() { # NAME WHAT-DIFFERS...
	local name=$1; shift
	if [ $# -eq 0 ]; then pass=$((pass + 1)); echo "ok $name"
	else fail=$((fail + 1)); printf '#   %s\n' "$@"; echo "FAIL $name"; fi
}
for f in "$lib" "$list"; do
	[ -s "$f" ] || { echo "# $f missing (make BUILD=$BUILD)"; echo "FAIL build"; echo "0 passed, 1 failed"; exit 1; }
done

listed=$(sort -u "$list")
exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 {print $3}' | sort -u)
# default-visibility definitions in the shim's objects, the archive's too
visible=$(for o in "$BUILD"/obj/shim/*.o; do readelf -sW "$o"; done |
	awk '($5 == "GLOBAL" || $5 == "WEAK") && $6 == "DEFAULT" && $7 != "UND" {print $8}' | sort -u)

# only_in A B: the names in A, not in B
only_in() { comm -23 <(grep . <<<"$1") <(grep . <<<"$2"); }
missing=() extra=() hidden=()
while read -r s; do missing+=("$s: in shim/wrapped.h, not exported by $lib"); done < <(only_in "$listed" "$exported")
while read -r s; do extra+=("$s: exported by $lib, not in shim/wrapped.h"); done < <(only_in "$exported" "$listed")
while read -r s; do hidden+=("$s: defined with default visibility in $BUILD/obj/shim, not in shim/wrapped.h"); done < <(only_in "$visible" "$listed")

echo "# $(wc -l <<<"$listed") calls listed, $(wc -l <<<"$exported") exported by $lib"
result "every listed call is exported" "${missing[@]}"
result "nothing exported beyond the list" "${extra[@]}"
result "every default-visibility definition is listed" "${hidden[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
