#!/usr/bin/env bash
# initramfs.sh OUT.cpio.gz [--as GUEST_PATH] FILE...: a busybox initramfs for
# the legacy-kernel tests. A FILE after "--as GUEST_PATH" goes in at
# GUEST_PATH; any other FILE (a system program such as /bin/bash) at its host
# path. Every library ldd lists for a FILE, and the dynamic loader, go in at
# their host paths; a FILE named *.ko goes in as /modules/NAME.ko (pass the
# kernel's inet_diag.ko and tcp_diag.ko). /init runs /run-tests.sh: pass the
# test script as "--as /run-tests.sh FILE".
#
# /init mounts proc, sys, devtmpfs and a tmpfs on /tmp, insmods inet_diag.ko
# then tcp_diag.ko, brings lo up, runs /run-tests.sh when present, with its
# output on the serial console, and powers off. Prints lines "init: ...".
# A file that would land under one of those mount points would be hidden in
# the guest: it is refused. Needs busybox-static (installed with apt-get when
# absent; with the dynamic busybox package installed, the static binary is
# taken from its .deb into BINDGUARD_KERNEL_CACHE, /var/cache/bindguard-kernels
# by default).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

usage="usage: initramfs.sh OUT.cpio.gz [--as GUEST_PATH] FILE..."
[ $# -ge 1 ] || die "$usage"
OUT=$1
shift
# the mount points of /init below: whatever is put there is hidden
MOUNTED=(/proc /sys /dev /tmp)

# hidden PATH: true when PATH lies under one of the mount points
hidden() {
	local m
	for m in "${MOUNTED[@]}"; do
		case $1 in "$m" | "$m"/*) return 0 ;; esac
	done
	return 1
}

# the files and their guest paths, checked before anything is built
srcs=()
dests=()
while [ $# -gt 0 ]; do
	dest=""
	if [ "$1" = --as ]; then
		[ $# -ge 3 ] || die "$usage"
		dest=$2
		shift 2
		case $dest in /*) ;; *) die "--as $dest: the guest path must be absolute" ;; esac
	fi
	f=$1
	shift
	[ -f "$f" ] || die "no such file: $f"
	abs=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
	case $abs in *.ko) [ -n "$dest" ] || dest=/modules/$(basename "$abs") ;; esac
	[ -n "$dest" ] || dest=$abs
	! hidden "$dest" || die "$f: guest path $dest is under a mount point of the guest's /init (${MOUNTED[*]}) and would be hidden: pass --as GUEST_PATH"
	srcs+=("$abs")
	dests+=("$dest")
done

# busybox_static: path of a statically linked busybox. busybox-static conflicts
# with the dynamic busybox package: when that one is installed, take the
# static binary out of a downloaded .deb rather than replace it.
busybox_static() {
	local b
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then
			echo "$b"
			return 0
		fi
	done
	if have_pkg busybox; then
		# in the kernel cache, not at a fixed name under /tmp, which another
		# user could create first and two checkouts would share
		local d=${BINDGUARD_KERNEL_CACHE:-/var/cache/bindguard-kernels}/busybox-static
		if [ ! -x "$d/bin/busybox" ]; then
			note "the dynamic busybox package is installed: extracting busybox-static from its .deb into $d"
			mkdir -p "$d/deb"
			(cd "$d/deb" && apt-get -q download busybox-static >&2) || die "apt-get download busybox-static failed"
			dpkg-deb -x "$d"/deb/busybox-static_*.deb "$d" || die "dpkg-deb -x busybox-static failed"
		fi
		echo "$d/bin/busybox"
		return 0
	fi
	need_cmd busybox busybox-static
	command -v busybox
}

BUSYBOX=$(busybox_static)
command -v gzip >/dev/null 2>&1 || die "gzip is missing"

stage=$(mktemp -d "${TMPDIR:-/tmp}/bindguard-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,modules,root}

# put SRC DEST: copy SRC (dereferenced) to DEST inside the stage
put() {
	mkdir -p "$stage$(dirname "$2")"
	cp -L "$1" "$stage$2" || die "cannot copy $1"
}

# libs FILE: the absolute paths ldd lists for FILE (none for a script)
libs() {
	local out
	out=$(ldd "$1" 2>/dev/null) || return 0
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
}

declare -A seen=()
for i in "${!srcs[@]}"; do
	abs=${srcs[$i]}
	put "$abs" "${dests[$i]}"
	for l in $(libs "$abs"); do
		[ -n "${seen[$l]:-}" ] && continue
		! hidden "$l" || die "$abs needs $l, which would be hidden in the guest by a mount of its /init"
		seen[$l]=1
		put "$l" "$l"
	done
done

put "$BUSYBOX" /bin/busybox
# applet links, except where a given file (bash, ...) already is
"$BUSYBOX" --list-full | while read -r applet; do
	[ -e "$stage/$applet" ] || [ -L "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
[ -e "$stage/bin/sh" ] || ln -s /bin/busybox "$stage/bin/sh"
# the kernel opens /dev/console for /init before devtmpfs is mounted
[ "$(id -u)" != 0 ] || mknod -m 600 "$stage/dev/console" c 5 1
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"

cat >"$stage/init" <<'EOF'
#!/bin/sh
# init: mount, load the sock_diag modules for TCP, bring lo up, run the tests,
# power off. Output goes to the serial console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
con=/dev/console
[ -c /dev/ttyS0 ] && con=/dev/ttyS0
exec </dev/null >"$con" 2>&1
echo "init: kernel $(uname -r)"
for m in inet_diag tcp_diag; do
	if [ ! -f /modules/$m.ko ]; then
		echo "init: no /modules/$m.ko: sock_diag for TCP must be built into this kernel"
	elif ! insmod /modules/$m.ko; then
		echo "init: insmod $m.ko failed"
	fi
done
ip link set lo up || echo "init: ip link set lo up failed"
if [ -x /run-tests.sh ]; then
	/run-tests.sh
	echo "init: /run-tests.sh exited $?"
fi
echo "init: done"
sync
poweroff -f
echo o >/proc/sysrq-trigger
EOF
chmod 0755 "$stage/init"

# A cpio in newc format, built by busybox (no cpio package needed).
mkdir -p "$(dirname "$OUT")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -1 >"$OUT.tmp" ||
	die "building the cpio archive failed"
mv "$OUT.tmp" "$OUT"
note "$OUT: $(du -h "$OUT" | cut -f1), ${#srcs[@]} files and ${#seen[@]} libraries"
