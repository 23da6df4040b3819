#!/usr/bin/env bash
# install.sh: `make install` into a scratch DESTDIR puts every piece where
# docs/usage.md says, and the installed command finds the installed library.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/tests/lib.sh"
dest=$(mktemp -d /tmp/bindguard-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
check() {
	if [ -e "$dest/$1" ]; then pass "installed $1"
	else fail "installed $1"; fi
}
make -C "$here" -s install PREFIX=/usr/local DESTDIR="$dest" >/dev/null
for f in usr/local/lib/bindguard/libbindguard.so usr/local/bin/bindguard \
	usr/local/share/bindguard/bindguard.schema.json usr/local/share/bindguard/bindguard-event.schema.json \
	usr/local/share/bindguard/bindguard.json.example usr/local/share/bindguard/systemd/bindguard.conf \
	usr/local/share/doc/bindguard/README.md etc/bindguard/bindguard.json; do
	check "$f"
done
# the pages the README links to, in the same place relative to it
for f in "$here"/docs/*.md; do
	check "usr/local/share/doc/bindguard/docs/${f##*/}"
done
out=$(BINDGUARD_LIBRARY= "$dest/usr/local/bin/bindguard" run -- sh -c 'echo $LD_PRELOAD')
if [ "$out" = "$dest/usr/local/lib/bindguard/libbindguard.so" ]; then
	pass "installed command finds installed library"
else
	echo "# got LD_PRELOAD=$out"; fail "installed command finds installed library"
fi
tally
