# lib.sh: helpers shared by the legacy-kernel scripts (sourced, not run).
# Installs Debian packages only when the command they provide is missing.

# die MSG...: say what failed and stop
die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

note() {
	echo "${0##*/}: $*" >&2
}

# have_pkg PKG: true when dpkg has PKG installed
have_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# need_cmd CMD PKG: install PKG (no recommends) when CMD is not on PATH
need_cmd() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "$1 is missing: install Debian package $2 (apt-get install --no-install-recommends $2) or run as root"
	note "$1 is missing: installing Debian package $2"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1 || true
		apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
			die "apt-get install $2 failed"
	fi
	command -v "$1" >/dev/null 2>&1 || die "installed $2 but $1 is still not on PATH"
}

# now: seconds since the epoch with nanoseconds
now() {
	date +%s.%N
}

# elapsed START: seconds since START, one decimal
elapsed() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}
