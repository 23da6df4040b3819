#!/usr/bin/env bash
# layers: the shim's includes point only down the arrows of the README's
# layout. Each room has a rank; a file may include its own header, headers
# of rooms at its rank or below (a higher number), and the leaves (the
# vocabulary, events, config), which every room may use. A leaf includes
# only leaves and the bottom ranks. Fails naming the include that points up.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
declare -A rank=(
	[interpose]=0
	[bind]=1 [track]=1
	[process]=2
	[judge]=3 [remedy]=3 [selfcheck]=3
	[portview]=4 [merge]=4
	[fdtable]=5 [bucket]=5 [kernel]=5 [agentview]=5
	[agentpage]=6
	[libc]=6 [sys]=6 [sanitizer]=6 [wrapped]=6
	[policy]=L [event]=L [sink]=L [config]=L [trust]=L [version]=L [probefile]=L
)
pass=0 fail=0
for f in "$here"/shim/*.[ch]; do
	room=$(basename "$f"); room=${room%.*}
	mine=${rank[$room]:-}
	if [ -z "$mine" ]; then
		echo "FAIL shim/$(basename "$f"): no rank (add its room to tests/layers.sh)"; fail=$((fail + 1)); continue
	fi
	while read -r inc; do
		to=${inc%.h}
		theirs=${rank[$to]:-}
		ok=1
		if [ -z "$theirs" ]; then ok=0
		elif [ "$to" = "$room" ] || [ "$theirs" = L ]; then ok=1
		elif [ "$mine" = L ]; then [ "$theirs" -ge 5 ] || ok=0
		else [ "$theirs" -ge "$mine" ] || ok=0
		fi
		if [ $ok = 1 ]; then pass=$((pass + 1)); else
			echo "FAIL shim/$(basename "$f") (rank $mine) includes $inc (rank ${theirs:-none}): an arrow pointing up"
			fail=$((fail + 1))
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
