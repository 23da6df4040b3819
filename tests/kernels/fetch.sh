#!/usr/bin/env bash
# fetch.sh [CACHE_DIR]: Debian's cloud kernels 6.1 and 6.12 for the legacy-kernel
# tests, cached in CACHE_DIR (default /var/cache/bindguard-kernels): the .deb
# in CACHE_DIR/debs/, and the kernel image and the sock_diag modules for TCP
# (inet_diag.ko, tcp_diag.ko, decompressed) in CACHE_DIR/<release>/.
#
# Package names carry an ABI number that changes with every security update,
# so they are never written here: they are resolved through the meta packages
# (linux-image-cloud-amd64 for 6.1, linux-image-6.12-cloud-amd64 or the
# bookworm-backports linux-image-cloud-amd64 for 6.12). The system's apt
# sources are asked first; when they do not offer a series, a private apt
# configuration under CACHE_DIR/apt (bookworm-security, bookworm-backports)
# is used, leaving the system's sources alone. A file already cached is never
# downloaded again; with no mirror reachable, the newest cached kernel of a
# series is used.
#
# Prints one line per kernel on stdout:
#   kernel SERIES RELEASE DEBIAN_VERSION VMLINUZ MODULE_DIR
# Environment: BINDGUARD_KERNEL_APT=private skips the system's sources;
# BINDGUARD_DEBIAN_MIRROR, BINDGUARD_DEBIAN_SECURITY_MIRROR pick the mirrors
# of the private configuration.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

CACHE=${1:-/var/cache/bindguard-kernels}
MIRROR=${BINDGUARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${BINDGUARD_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# SERIES ; regex the resolved package must match ; meta packages (META or
# META@TARGET_RELEASE), tried in order
SERIES=(
	'6.1;^linux-image-6\.1\.0-[0-9]+-cloud-amd64$;linux-image-cloud-amd64'
	'6.12;^linux-image-6\.12\.[0-9]+\+(deb12|bpo)-cloud-amd64$;linux-image-6.12-cloud-amd64 linux-image-cloud-amd64@bookworm-backports'
)

for c in apt-get apt-cache dpkg-deb tar xz; do
	command -v "$c" >/dev/null 2>&1 || die "$c is missing (fetch.sh needs apt, dpkg, tar and xz-utils)"
done
mkdir -p "$CACHE/debs" || die "cannot create cache folder $CACHE"

APT_OPTS=()
apt_where=system
system_updated=no
private_ready=no
tried=""

# private_apt: point APT_OPTS at a private configuration (sources and lists
# under $CACHE/apt), updated once per run
private_apt() {
	local d=$CACHE/apt
	APT_OPTS=(-o "Dir::Etc::sourcelist=$d/sources.list" -o "Dir::Etc::sourceparts=$d/sources.list.d"
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
	apt_where="private ($d/sources.list)"
	[ "$private_ready" = no ] || return 0
	[ -r "$KEYRING" ] || die "no $KEYRING: install Debian package debian-archive-keyring"
	mkdir -p "$d/lists/partial" "$d/sources.list.d"
	cat >"$d/sources.list" <<EOF
deb [signed-by=$KEYRING] $SECMIRROR bookworm-security main
deb [signed-by=$KEYRING] $MIRROR bookworm-backports main
EOF
	note "updating the private apt lists ($SECMIRROR bookworm-security, $MIRROR bookworm-backports)"
	local out
	if out=$(apt-get "${APT_OPTS[@]}" update 2>&1) && ! grep -q '^\(W\|E\): Failed' <<<"$out"; then
		private_ready=yes
		return 0
	fi
	tried+="  apt-get update with $d/sources.list answered:"$'\n'"$(sed 's/^/    /' <<<"$out" | tail -8)"$'\n'
	private_ready=failed
	# lists that did arrive may still do
	return 0
}

# resolve_with REGEX METAS: set PKG and PKGVER from the first meta package
# whose candidate depends on a package matching REGEX
resolve_with() {
	local re=$1 metas=$2 meta rel dep out
	local -a t
	for meta in $metas; do
		rel=
		case $meta in *@*) rel=${meta#*@} meta=${meta%@*} ;; esac
		t=()
		[ -z "$rel" ] || t=(-t "$rel")
		if ! out=$(apt-cache "${APT_OPTS[@]}" "${t[@]}" depends "$meta" 2>&1); then
			tried+="  $apt_where apt-cache${t[*]:+ ${t[*]}} depends $meta: $(head -2 <<<"$out" | tr '\n' ' ')"$'\n'
			continue
		fi
		dep=$(sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[^ ]*\).*/\1/p' <<<"$out" | grep -E "$re" | head -1 || true)
		if [ -z "$dep" ]; then
			tried+="  $apt_where apt-cache${t[*]:+ ${t[*]}} depends $meta: no dependency matching /$re/ ($(grep -o 'Depends: linux-image-[^ ]*' <<<"$out" | head -2 | tr '\n' ' '))"$'\n'
			continue
		fi
		PKGVER=$(apt-cache "${APT_OPTS[@]}" "${t[@]}" policy "$dep" | sed -n 's/^ *Candidate: //p')
		if [ -z "$PKGVER" ] || [ "$PKGVER" = "(none)" ]; then
			tried+="  $apt_where: $meta depends on $dep, which has no candidate version"$'\n'
			continue
		fi
		PKG=$dep
		META="$meta${rel:+ from $rel}"
		return 0
	done
	return 1
}

# cached_kernel REGEX: the newest complete cached kernel whose package matches
cached_kernel() {
	local d best=""
	for d in "$CACHE"/*/.complete; do
		[ -e "$d" ] || continue
		read -r p _ <"$d"
		grep -qE "$1" <<<"$p" || continue
		best=$(printf '%s\n%s\n' "$best" "$(dirname "$d")" | sed '/^$/d' | sort -V | tail -1)
	done
	[ -n "$best" ] && echo "$best"
}

# fetch_pkg PKG VERSION: the .deb in $CACHE/debs, downloaded unless cached
fetch_pkg() {
	local pkg=$1 ver=$2 deb="$CACHE/debs/${1}_${2//:/%3a}_amd64.deb" part
	if [ -s "$deb" ]; then
		echo "$deb"
		return 0
	fi
	part=$(mktemp -d "$CACHE/debs/.partial.XXXXXX")
	note "downloading $pkg $ver ($apt_where apt sources)"
	if ! (cd "$part" && apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root -q download "$pkg=$ver" >&2); then
		rm -rf "$part"
		die "apt-get download $pkg=$ver failed ($apt_where apt sources)"
	fi
	mv "$part"/*.deb "$deb" || die "apt-get download $pkg=$ver left no .deb"
	rm -rf "$part"
	echo "$deb"
}

# extract DEB RELEASE PKG VERSION: vmlinuz and the diag modules into $CACHE/RELEASE
extract() {
	local deb=$1 rel=$2 tmp out m f
	out="$CACHE/$rel"
	tmp=$(mktemp -d "$CACHE/.extract.XXXXXX")
	# dpkg-deb -x of the whole package writes ~400 MB of modules: take the
	# three files this needs from the same data archive instead.
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/" --wildcards \
		'./boot/vmlinuz-*' '*/kernel/net/ipv4/inet_diag.ko*' '*/kernel/net/ipv4/tcp_diag.ko*' ||
		die "extracting $deb failed"
	mkdir -p "$tmp/out"
	f=$(find "$tmp/boot" -name "vmlinuz-$rel" 2>/dev/null | head -1)
	[ -n "$f" ] || die "$deb has no /boot/vmlinuz-$rel"
	mv "$f" "$tmp/out/vmlinuz-$rel"
	for m in inet_diag tcp_diag; do
		f=$(find "$tmp" -path "$tmp/out" -prune -o -name "$m.ko*" -print | head -1)
		[ -n "$f" ] || die "$deb has no $m.ko: sock_diag for TCP would fail in the guest"
		case $f in
		*.ko.xz) xz -dc "$f" >"$tmp/out/$m.ko" || die "xz -d $f failed" ;;
		*.ko.zst) zstd -qdc "$f" >"$tmp/out/$m.ko" || die "zstd -d $f failed (install zstd)" ;;
		*.ko) mv "$f" "$tmp/out/$m.ko" ;;
		*) die "$deb: unknown module compression: $f" ;;
		esac
	done
	echo "$3 $4" >"$tmp/out/.complete"
	rm -rf "$out"
	mv "$tmp/out" "$out"
	rm -rf "$tmp"
}

for s in "${SERIES[@]}"; do
	IFS=';' read -r series re metas <<<"$s"
	PKG="" PKGVER="" META="" tried=""
	found=no
	if [ "${BINDGUARD_KERNEL_APT:-}" != private ]; then
		APT_OPTS=() apt_where=system
		if resolve_with "$re" "$metas"; then
			found=yes
		elif [ "$system_updated" = no ] && [ "$(id -u)" = 0 ]; then
			system_updated=yes
			note "linux $series not resolved from the system's apt lists: running apt-get update"
			apt-get update -qq >/dev/null 2>&1 || tried+="  apt-get update (system) failed"$'\n'
			resolve_with "$re" "$metas" && found=yes
		fi
	fi
	if [ "$found" = no ]; then
		private_apt
		resolve_with "$re" "$metas" && found=yes
	fi
	if [ "$found" = no ]; then
		if dir=$(cached_kernel "$re"); then
			read -r PKG PKGVER <"$dir/.complete"
			note "linux $series: no apt source resolves it now; using cached $PKG $PKGVER. Tried:"
			printf '%s' "$tried" >&2
		else
			printf '%s' "$tried" >&2
			die "cannot resolve the Debian cloud kernel package for linux $series (metas: $metas); see above"
		fi
	fi
	rel=${PKG#linux-image-}
	dir="$CACHE/$rel"
	if [ -e "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$PKG $PKGVER" ]; then
		note "linux $series: $PKG $PKGVER${META:+ (via $META)}: cached in $dir"
	else
		deb=$(fetch_pkg "$PKG" "$PKGVER")
		extract "$deb" "$rel" "$PKG" "$PKGVER"
		note "linux $series: $PKG $PKGVER${META:+ (via $META)}: extracted into $dir"
	fi
	echo "kernel $series $rel $PKGVER $dir/vmlinuz-$rel $dir"
done
