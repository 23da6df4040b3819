#!/usr/bin/env bash
# deps.sh: install the Debian packages bindguard's build, demo and tests need.
# Quiet when everything is there already; needs root (apt-get) otherwise.
# Usage: tools/deps.sh [test]   (test: also what tests/hardening/*/packages list)
set -euo pipefail
need=(gcc clang clang-format make libcjson-dev jq iproute2 util-linux libclang-rt-14-dev python3 socat
	qemu-system-x86 busybox-static librsvg2-bin zlib1g-dev groff-base man-db gzip fonts-dejavu-core
	libbpf-dev bpftool)
# the packages, the units, the alert rules and rotation (issue 14): make test only
test_need=(debhelper lintian rpm systemd logrotate prometheus prometheus-node-exporter)
if [ "${1:-}" = test ]; then
	need+=("${test_need[@]}")
	root=$(cd "$(dirname "$0")/.." && pwd)
	for f in "$root"/tests/hardening/*/packages; do
		[ -f "$f" ] && need+=($(grep -v '^#' "$f"))
	done
fi
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "bindguard: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "bindguard: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
