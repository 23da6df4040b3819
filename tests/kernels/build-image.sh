#!/usr/bin/env bash
# build-image.sh [--config-only] [--fix-modes] SRC_TREE OUT_DIR [LABEL]
#
# Builds a small x86_64 bzImage of the Linux source tree SRC_TREE for
# bindguard's legacy-kernel tests (booted by boot.sh under qemu/TCG with a
# busybox initramfs, no modules) and writes OUT_DIR/LABEL/:
#   bzImage  the kernel
#   config   its final .config
#   SOURCE   the tree (git remote and commit, or its path), the Makefile
#            version, `make kernelrelease`, the fragments and the exact
#            commands, gcc and ld versions, build wall time
# LABEL defaults to the kernel release (`make kernelrelease`).
#
# Recipe, all out of tree (O=), SRC_TREE is only read:
#   make ARCH=x86_64 tinyconfig
#   scripts/kconfig/merge_config.sh -m  image.config [image-V.x.config]
#       [image-V.P.config] [LOCALVERSION fragment]   (V.P: the Makefile's
#       VERSION.PATCHLEVEL; the per-version files are used where they exist
#       beside this script)
#   make ARCH=x86_64 olddefconfig
#   check: every `CONFIG_X=y` of the fragments is =y (`#@ if-present X`:
#       only where the tree's Kconfig defines X); stop naming the others
#   make ARCH=x86_64 -j$JOBS WERROR=0 HOSTCFLAGS=-Wno-error
#       [DISABLE_WERROR=1] bzImage
# WERROR=0 and HOSTCFLAGS=-Wno-error only turn -Werror off (objtool's
# libsubcmd before 5.18 fails gcc 12's -Werror=use-after-free);
# DISABLE_WERROR=1 is added when the tree's Makefile knows it (RHEL 8
# adds -Werror otherwise). Every make also gets LOCALVERSION= so that the
# release is the Makefile version plus CONFIG_LOCALVERSION (and any
# localversion* file of the tree), never a "+" for a git checkout.
#
# Options:
#   --config-only  stop after olddefconfig and the check; write only
#                  OUT_DIR/LABEL/config (seconds, no compiler run beyond
#                  the config tools)
#   --fix-modes    when the tree's scripts lost their execute bits (some
#                  source snapshots do), chmod +x them in SRC_TREE itself.
#                  Without it such a tree is copied to BUILD_DIR/src and
#                  fixed there; SRC_TREE is never changed
#
# Environment:
#   JOBS=N          make -jN for bzImage (default: nproc)
#   BUILD_DIR=DIR   work folder: objects in DIR/obj, the copy of the tree in
#                   DIR/src when one is needed, config.log, merge.log and
#                   build.log (default
#                   ${TMPDIR:-/tmp}/bindguard-kbuild-LABEL, or -VERSION when
#                   no LABEL is given); kept afterwards: a rerun
#                   rebuilds incrementally (SOURCE says so)
#   LOCALVERSION=S  set CONFIG_LOCALVERSION="S", the uname -r suffix, e.g.
#                   -147.5.1.el8_1 to match a distribution's release string
#
# Needs: make, gcc, ld, flex, bison, bc, perl (and libelf headers where
# objtool is built: Debian's libelf-dev).
set -euo pipefail

ME=build-image.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	echo "usage: $ME [--config-only] [--fix-modes] SRC_TREE OUT_DIR [LABEL]" >&2
	exit 2
}
die() {
	echo "$ME: $*" >&2
	exit 1
}
note() { echo "$ME: $*" >&2; }

config_only=false fix_modes=false
while [ $# -gt 0 ]; do
	case $1 in
	--config-only) config_only=true ;;
	--fix-modes) fix_modes=true ;;
	--) shift; break ;;
	-*) echo "$ME: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 2 ] || [ $# -eq 3 ] || usage
[ -d "$1" ] || die "SRC_TREE $1 is not a folder"
SRC=$(cd "$1" && pwd -P)
OUT_ARG=$2
LABEL=${3:-}
if [ -n "$LABEL" ]; then
	case $LABEL in
	*/* | .* | *[[:space:]]*) die "LABEL '$LABEL' must be a plain folder name (no /, no leading dot, no blanks)" ;;
	esac
fi
JOBS=${JOBS:-$(nproc)}
case $JOBS in '' | *[!0-9]* | 0) die "JOBS='$JOBS' is not a positive number" ;; esac
LV=${LOCALVERSION:-}
case $LV in *[\"\\[:space:]]*) die "LOCALVERSION='$LV' must not hold quotes, backslashes or blanks" ;; esac
# the tree's own tools read these; ours must not inherit a caller's
unset LOCALVERSION KCONFIG_CONFIG KCONFIG_ALLCONFIG CONFIG_

# --- the tree
for f in Makefile arch/x86/Kconfig scripts/kconfig/merge_config.sh; do
	[ -f "$SRC/$f" ] || die "$SRC is not a Linux source tree with x86 support: $f is missing"
done
mkvar() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$SRC/Makefile" | head -1; }
VER=$(mkvar VERSION) PL=$(mkvar PATCHLEVEL) SL=$(mkvar SUBLEVEL) EV=$(mkvar EXTRAVERSION)
case "$VER.$PL" in
[0-9]*.[0-9]*) ;;
*) die "$SRC/Makefile has no VERSION/PATCHLEVEL lines" ;;
esac
KV="$VER.$PL${SL:+.$SL}$EV"
dirty=""
[ ! -e "$SRC/.config" ] || dirty+=" .config"
[ ! -d "$SRC/include/config" ] || dirty+=" include/config"
[ ! -d "$SRC/arch/x86/include/generated" ] || dirty+=" arch/x86/include/generated"
[ -z "$dirty" ] || die "$SRC is not a clean tree (it has$dirty); kbuild refuses an out-of-tree build from it. Run 'make mrproper' there yourself, or give a fresh copy"

# --- fragments: image.config, then image-V.x.config, image-V.P.config
FRAGS=("$HERE/image.config")
[ -f "${FRAGS[0]}" ] || die "${FRAGS[0]} is missing"
for f in "$HERE/image-$VER.x.config" "$HERE/image-$VER.$PL.config"; do
	[ ! -f "$f" ] || FRAGS+=("$f")
done

B=$(realpath -m -- "${BUILD_DIR:-${TMPDIR:-/tmp}/bindguard-kbuild-${LABEL:-$KV}}")
case "$B/" in "$SRC"/*) die "BUILD_DIR $B is inside SRC_TREE $SRC" ;; esac
mkdir -p "$B" || die "cannot create BUILD_DIR $B"
OBJ=$B/obj
mkdir -p "$OBJ" "$OUT_ARG" || die "cannot create $OBJ or OUT_DIR $OUT_ARG"
OUT=$(cd "$OUT_ARG" && pwd -P)
note "$SRC: Linux $KV; fragments:$(printf ' %s' "${FRAGS[@]##*/}"); work folder $B"

# --- execute bits: kbuild runs scripts/* and tools/* directly
lost_modes=false
for f in scripts/setlocalversion scripts/link-vmlinux.sh scripts/config scripts/kconfig/merge_config.sh; do
	if [ -f "$SRC/$f" ] && [ ! -x "$SRC/$f" ]; then lost_modes=true; fi
done
MK_SRC=$SRC    # the tree make runs in
src_note=""
if $lost_modes; then
	list=$B/chmod.list
	# regular files starting with #! that are not executable
	(cd "$SRC" && find . -path ./.git -prune -o -type f ! -perm -u+x -print0 |
		xargs -0 -r awk 'FNR == 1 { if (/^#!/) print FILENAME; nextfile }') >"$list"
	n=$(wc -l <"$list")
	if $fix_modes; then
		note "the tree's scripts lost their execute bits: chmod +x on $n files IN $SRC (--fix-modes; list in $list)"
		(cd "$SRC" && tr '\n' '\0' <"$list" | xargs -0 -r chmod +x)
		src_note=" (--fix-modes: chmod +x on $n #! files that lacked it)"
	else
		note "the tree's scripts lost their execute bits: copying it to $B/src and restoring $n of them there (SRC_TREE is left alone; --fix-modes would chmod in place)"
		rm -rf "$B/src"
		cp -a "$SRC" "$B/src"
		(cd "$B/src" && tr '\n' '\0' <"$list" | xargs -0 -r chmod +x)
		MK_SRC=$B/src
		src_note=" (built from a copy, $B/src, with chmod +x on $n #! files that lacked it)"
	fi
fi

# --- make, recording each command
CMDS=()
run() {
	local q
	q=$(printf '%q ' "$@")
	CMDS+=("${q% }")
	echo "+ $*" >&2
	"$@"
}
# config_step TARGET: make TARGET, its output in config.log
config_step() {
	note "make $1"
	if ! run "${MK[@]}" "$1" >>"$B/config.log" 2>&1; then
		tail -30 "$B/config.log" >&2
		die "make $1 failed for $KV (log: $B/config.log)"
	fi
}
MK=(make --no-print-directory -C "$MK_SRC" O="$OBJ" ARCH=x86_64 LOCALVERSION=)
: >"$B/config.log"
fresh="from tinyconfig to bzImage"
[ ! -e "$OBJ/vmlinux" ] || fresh="incremental: $OBJ held an earlier build"
start=$(date +%s)

config_step tinyconfig
merge=("${FRAGS[@]}")
if [ -n "$LV" ]; then
	printf 'CONFIG_LOCALVERSION="%s"\n' "$LV" >"$B/localversion.config"
	merge+=("$B/localversion.config")
fi
# merge_config.sh writes its temporary files into the current folder; its
# execute bit may be missing, so it goes through sh (its #! line)
MERGE=(sh "$MK_SRC/scripts/kconfig/merge_config.sh" -m -O "$OBJ" "$OBJ/.config" "${merge[@]}")
q=$(printf '%q ' "${MERGE[@]}")
CMDS+=("(cd $(printf '%q' "$OBJ") && ${q% })")
echo "+ (cd $OBJ && ${MERGE[*]})" >&2
if ! (cd "$OBJ" && "${MERGE[@]}") >"$B/merge.log" 2>&1; then
	cat "$B/merge.log" >&2
	die "merge_config.sh failed (log above, also in $B/merge.log)"
fi
note "merge_config.sh: $(grep -c '^Value of' "$B/merge.log" || true) tinyconfig values changed by the fragments (details in $B/merge.log)"
config_step olddefconfig

# --- check the result against the fragments
want=() maybe=() off=()
for f in "${FRAGS[@]}"; do
	while read -r sym; do want+=("$sym"); done < <(sed -n 's/^CONFIG_\([A-Za-z0-9_]*\)=y$/\1/p' "$f")
	while read -r sym; do off+=("$sym"); done < <(sed -n 's/^# CONFIG_\([A-Za-z0-9_]*\) is not set$/\1/p' "$f")
	while read -r -a syms; do maybe+=("${syms[@]}"); done < <(sed -n 's/^#@ if-present[[:space:]]*//p' "$f")
done
defined=""    # symbols the tree's Kconfig files define, read when needed
is_defined() {
	if [ -z "$defined" ]; then
		defined=$(cd "$MK_SRC" && grep -rhoE --include='Kconfig*' '^[[:space:]]*(menu)?config[[:space:]]+[A-Za-z0-9_]+' . |
			awk '{ print $2 }' | sort -u)
	fi
	grep -qx "$1" <<<"$defined"
}
is_maybe() {
	local m
	for m in "${maybe[@]}"; do [ "$m" != "$1" ] || return 0; done
	return 1
}
missing=() absent=()
for sym in "${want[@]}"; do
	grep -qx "CONFIG_$sym=y" "$OBJ/.config" && continue
	if is_defined "$sym"; then
		now=$(grep -E "^(# )?CONFIG_${sym}[= ]" "$OBJ/.config" || true)
		missing+=("$sym (${now:-not in .config: dependencies not met})")
	elif is_maybe "$sym"; then
		absent+=("$sym")
	else
		missing+=("$sym (this kernel's Kconfig has no such option)")
	fi
done
for sym in "${off[@]}"; do
	if grep -qx "CONFIG_$sym=y" "$OBJ/.config"; then
		note "note: $sym is =y although the fragment turns it off (another option selects it)"
	fi
done
[ ${#absent[@]} -eq 0 ] || note "note: this kernel has no$(printf ' %s' "${absent[@]}") (marked if-present: skipped)"
if [ ${#missing[@]} -gt 0 ]; then
	echo "$ME: $KV: these options the tests need are not =y after olddefconfig (see $OBJ/.config):" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 1
fi
note "all ${#want[@]} required options are =y"

release=$("${MK[@]}" -s kernelrelease 2>/dev/null | tail -1)
q=$(printf '%q ' "${MK[@]}")
CMDS+=("${q}-s kernelrelease")
[ -n "$release" ] || die "make kernelrelease printed nothing (see $OBJ)"
LABEL=${LABEL:-$release}
case $LABEL in */* | .*) die "kernel release '$LABEL' cannot be a folder name: give a LABEL" ;; esac
D=$OUT/$LABEL
mkdir -p "$D"

if $config_only; then
	cp "$OBJ/.config" "$D/config"
	note "--config-only: wrote $D/config (release $release, $(($(date +%s) - start)) s)"
	exit 0
fi

# --- build
mkvars=(WERROR=0 HOSTCFLAGS=-Wno-error)
if grep -q DISABLE_WERROR "$MK_SRC/Makefile"; then mkvars+=(DISABLE_WERROR=1); fi
note "building bzImage with make -j$JOBS (log: $B/build.log)"
if ! run "${MK[@]}" -j"$JOBS" "${mkvars[@]}" bzImage >"$B/build.log" 2>&1; then
	tail -40 "$B/build.log" >&2
	die "make bzImage failed for $KV; full log in $B/build.log"
fi
secs=$(($(date +%s) - start))
img=$OBJ/arch/x86/boot/bzImage
[ -f "$img" ] || die "make succeeded but $img is missing"

# --- results
cp "$img" "$D/bzImage"
cp "$OBJ/.config" "$D/config"
git_info() {
	local top remotes
	top=$(git -C "$SRC" rev-parse --show-toplevel 2>/dev/null) || return 1
	[ "$(cd "$top" && pwd -P)" = "$SRC" ] || return 1
	remotes=$(git -C "$SRC" remote -v 2>/dev/null | awk '$3 == "(fetch)" { printf "%s%s %s", sep, $1, $2; sep = ", " }')
	echo "git remote: ${remotes:-none}"
	echo "git commit: $(git -C "$SRC" rev-parse HEAD) ($(git -C "$SRC" describe --always --tags 2>/dev/null || echo no tags))"
	echo "git changes: $(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null | wc -l) modified tracked files"
}
{
	echo "source tree: $SRC$src_note"
	git_info || echo "git: not a git checkout (plain source tree)"
	echo "Makefile version: $KV (VERSION=$VER PATCHLEVEL=$PL SUBLEVEL=$SL EXTRAVERSION=$EV)"
	echo "kernel release (make kernelrelease): $release"
	echo "built by: tests/kernels/$ME, JOBS=$JOBS${LV:+ LOCALVERSION=$LV}"
	for f in "${FRAGS[@]}"; do
		echo "fragment: ${f##*/} sha256 $(sha256sum <"$f" | cut -d' ' -f1)"
	done
	[ -z "$LV" ] || echo "fragment: CONFIG_LOCALVERSION=\"$LV\" (from LOCALVERSION)"
	echo "commands:"
	printf '  %s\n' "${CMDS[@]}"
	echo "gcc: $(gcc --version | head -1)"
	echo "ld: $(ld --version | head -1)"
	echo "build wall time: $secs s (make -j$JOBS on $(nproc) cores, $fresh)"
	echo "bzImage: $(stat -c %s "$D/bzImage") bytes"
} >"$D/SOURCE"
note "wrote $D/{bzImage,config,SOURCE}: release $release, $(stat -c %s "$D/bzImage") bytes, $secs s"
