#!/usr/bin/env bash
# images.sh [IMAGES_DIR]: the prebuilt kernel images the legacy-kernel stage
# boots next to Debian's (RHEL 8's 4.18, Ubuntu's 5.4 and 5.15, Debian 11's
# 5.10, RHEL 9's 5.14: see tests/kernels/README.md and build-image.sh).
#
# The folder holds one subfolder per image with its bzImage and a SOURCE file
# whose line "kernel release (uname -r): R" gives the release the guest will
# report (the folder's name otherwise). Where the folder is: IMAGES_DIR, else
# $BINDGUARD_KERNEL_IMAGES, else ../shared/kernels beside the checkout, else
# ../shared/kernels beside the checkout this one was cloned from (a clean
# clone under /tmp of a checkout that has the folder beside it).
#
# Prints, for each image, the line fetch.sh prints for a Debian kernel:
#   kernel SERIES RELEASE image VMLINUZ FOLDER
# and for each image it cannot use, or that tests/kernels/images.txt names
# and the folder lacks (all of them when there is no folder):
#   skip LABEL REASON
# Never fails for a missing or broken image: the stage then tests what it has.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

candidates=()
if [ $# -ge 1 ]; then
	candidates+=("$1")
elif [ -n "${BINDGUARD_KERNEL_IMAGES:-}" ]; then
	candidates+=("$BINDGUARD_KERNEL_IMAGES")
else
	candidates+=("$root/../shared/kernels")
	origin=$(git -C "$root" config --get remote.origin.url 2>/dev/null || true)
	origin=${origin#file://}
	case $origin in /*) [ -d "$origin" ] && candidates+=("$origin/../shared/kernels") ;; esac
fi

dir=""
for c in "${candidates[@]}"; do
	if [ -d "$c" ]; then
		dir=$(cd "$c" && pwd)
		break
	fi
done

# image LABEL: the kernel line of the image in $dir/LABEL, or a skip line
image() {
	local d=$dir/$1 rel series
	if [ ! -r "$d/bzImage" ]; then
		echo "skip $1 no readable bzImage in $d"
		return
	fi
	rel=""
	[ -r "$d/SOURCE" ] && rel=$(sed -n 's/^kernel release (uname -r): *\([^ ]*\).*/\1/p' "$d/SOURCE" | head -1)
	rel=${rel:-$1}
	series=$(sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p' <<<"$rel")
	if [ -z "$series" ]; then
		echo "skip $1 release \"$rel\" does not start with a version number"
		return
	fi
	echo "kernel $series $rel image $d/bzImage $d"
}

# the images the repository names (images.txt), then any other folder there
declare -A named=()
while read -r label rel distro repo commit; do
	case $label in '#'* | '') continue ;; esac
	named[$label]=1
	if [ -z "$dir" ]; then
		echo "skip $label ($distro, $rel from $repo) no folder of kernel images (looked in: ${candidates[*]}); build it with build-image.sh and set BINDGUARD_KERNEL_IMAGES"
	elif [ ! -d "$dir/$label" ]; then
		echo "skip $label ($distro, $rel from $repo) not in $dir; build it with build-image.sh"
	else
		image "$label"
	fi
done <"$here/images.txt"
[ -n "$dir" ] || exit 0
for d in "$dir"/*/; do
	[ -d "$d" ] || continue
	label=$(basename "$d")
	[ -n "${named[$label]:-}" ] || image "$label"
done
