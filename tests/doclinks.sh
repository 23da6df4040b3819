#!/usr/bin/env bash
# doclinks.sh: every relative link in README.md and docs/*.md names a file
# or folder of the tree, and every #anchor a heading of the page it points
# into (GitHub's rule: lower case, spaces to '-', other punctuation dropped).
# Also: every docs/NAME.md that the tree's code, man pages, configs and
# tests cite exists. Prints ok/FAIL per link, then `N passed, N failed`.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# anchors FILE: the anchor of each heading outside code fences, one a line
anchors() {
	awk '/^```/ { fence = !fence; next }
	     !fence && /^#+ / {
		h = $0; sub(/^#+ +/, "", h); h = tolower(h)
		gsub(/[^a-z0-9 _-]/, "", h); gsub(/ /, "-", h); print h }' "$1"
}

# links FILE: each inline link target outside code fences and code spans
links() {
	awk '/^```/ { fence = !fence; next }
	     !fence {
		line = $0; gsub(/`[^`]*`/, "", line)
		while (match(line, /\]\([^) ]+\)/)) {
			print substr(line, RSTART + 2, RLENGTH - 3)
			line = substr(line, RSTART + RLENGTH) } }' "$1"
}

for f in README.md docs/*.md; do
	dir=$(dirname "$f")
	while read -r target; do
		case $target in http://* | https://* | mailto:*) continue ;; esac
		path=${target%%#*}
		anchor=
		[ "$path" != "$target" ] && anchor=${target#*#}
		dest=$f
		[ -n "$path" ] && dest=$dir/$path
		if [ ! -e "$dest" ]; then
			bad "$f: $target: no such file"
			continue
		fi
		if [ -n "$anchor" ] && ! anchors "$dest" | grep -qxF "$anchor"; then
			bad "$f: $target: no heading with that anchor in $dest"
			continue
		fi
		ok "$f: $target"
	done < <(links "$f")
done

# docs/ pages the rest of the tree cites by name
while read -r cited; do
	if [ -e "$cited" ]; then ok "cited: $cited"; else bad "cited: $cited: no such file"; fi
done < <(git grep -h -o -E '(^|[^/.a-z_-])docs/[a-z0-9-]+\.md' -- . ':!docs' ':!README.md' 2>/dev/null |
	sed 's/^[^d]*//' | sort -u)

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
