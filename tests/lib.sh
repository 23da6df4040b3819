# lib.sh: what every shell suite shares (sourced, not run): the environment
# that puts a program under the shim, network namespaces, the checks inside a
# test, the pass/fail count with its summary line, and the runner.
#
# A suite defines test functions named t_NAME and a function `helpers` with
# its own helpers (it may be empty), then calls `run_tests PREFIX TIMEOUT`:
# each t_ function runs in a fresh network namespace (unshare -n, so root)
# with a scratch folder $WORK, and the suite prints "ok NAME" / "FAIL NAME"
# per test and "N passed, N failed" last. FILTER (a substring) and SKIP (a
# list of names) select tests; EXTRA_FUNCS names more functions the tests call.
# A suite that is not a list of t_ functions (install.sh, fuzz, kernels)
# counts with pass/fail and ends with tally. The host scripts of
# tests/kernels take die, note, need_cmd, now and elapsed from here; the
# guest's script (tests/kernels/guest.sh) sources it for preload.

# ---- before the tests ---------------------------------------------------------
# suite_build [BUILD_DIR] [PROGRAM...]: BUILD, absolute, from BUILD_DIR (default
# build; relative to the repository $here unless absolute), with each PROGRAM
# (a file name in it) made when missing; a failed make ends the suite
suite_build() {
	local p
	case ${1:-build} in
	/*) BUILD=$1 ;;
	*) BUILD=$here/${1:-build} ;;
	esac
	shift
	for p in "$@"; do
		[ -e "$BUILD/$p" ] || make -s -C "$here" BUILD="$BUILD" "$BUILD/$p" >/dev/null || exit 1
	done
	BUILD=$(cd "$BUILD" && pwd)
	export BUILD here
}
# suite_env: the paths the shim's suites use, from $here (the repository) and
# $BUILD: ACTOR SHIM TOOL SCHEMA_CHECK EVENT_SCHEMA, and PROFILE (the kernel
# profile bindguard detects here, where the command is built)
suite_env() {
	export ACTOR="$BUILD/bindguard-actor" SHIM="$BUILD/libbindguard.so" TOOL="$BUILD/bindguard"
	export SCHEMA_CHECK="$here/build/schema-check" EVENT_SCHEMA="$here/conf/bindguard-event.schema.json"
	[ -x "$SCHEMA_CHECK" ] || SCHEMA_CHECK="$BUILD/schema-check"
	[ -x "$TOOL" ] || return 0
	PROFILE=$("$TOOL" profile | head -1 | awk '{print $NF}')
	export PROFILE
}

# ---- the shim -------------------------------------------------------------------
# preload [VAR=VAL...]: the words that put a program under the shim, for
# `env $(preload ...) PROGRAM` or `start NAME $(preload ...) -- ROLE`:
# LD_PRELOAD=$PRELOAD_PREFIX$SHIM (PRELOAD_PREFIX="LIB:", a library to load
# first: the ASan runtime for an ASan shim; SHIM=LIB preload: another build of
# the shim), BINDGUARD_LOG=$WORK/ev.jsonl unless a BINDGUARD_LOG word is
# given, then the words given. The words are split on spaces: no spaces in them.
preload() {
	local w log="BINDGUARD_LOG=$WORK/ev.jsonl"
	for w in "$@"; do
		[[ $w == BINDGUARD_LOG=* ]] && log=""
	done
	echo "LD_PRELOAD=${PRELOAD_PREFIX:-}$SHIM${log:+ $log}${*:+ $*}"
}

# ---- network namespaces -----------------------------------------------------------
# range LOW HIGH [RESERVED]: loopback up, the namespace's ephemeral range
range() {
	ip link set lo up
	echo "$1 $2" >/proc/sys/net/ipv4/ip_local_port_range
	echo "${3:-}" >/proc/sys/net/ipv4/ip_local_reserved_ports
}
# netns [LOW HIGH] -- CMD...: CMD in a network namespace of its own, loopback
# up, with the ephemeral range LOW-HIGH (without them, the kernel's default):
# a run that must not meet the test's own sockets, TIME_WAITs or range
# shellcheck disable=SC2016 # the child's script, expanded there
netns() {
	if [ "$1" = -- ]; then
		shift
		unshare -n bash -c 'ip link set lo up; exec "$@"' netns "$@"
	else
		local low=$1 high=$2
		shift 3
		unshare -n bash -c 'range "$1" "$2"; shift 2; exec "$@"' netns "$low" "$high" "$@"
	fi
}

# ---- inside a test ----------------------------------------------------------
# schema_ok [FILE]: every event in FILE ($WORK/ev.jsonl) matches the event schema
schema_ok() {
	local out
	out=$("$SCHEMA_CHECK" "$EVENT_SCHEMA" "${1:-$WORK/ev.jsonl}" 2>&1) || {
		printf '#   events do not match conf/bindguard-event.schema.json:\n%s\n' "$(sed 's/^/#     /' <<<"$out" | head -5)"
		failed=1
	}
}
# expect WHAT ACTUAL EXPECTED
expect() {
	if [ "$2" != "$3" ]; then
		printf '#   %s: expected "%s", got "%s"\n' "$1" "$3" "$2"
		failed=1
	fi
}
# expect_match WHAT ACTUAL REGEX
expect_match() {
	if ! [[ "$2" =~ $3 ]]; then
		printf '#   %s: expected to match /%s/, got "%s"\n' "$1" "$3" "$2"
		failed=1
	fi
}
# wait_state STATE N: until ss counts N sockets in STATE (5 s at most)
wait_state() {
	local i
	for i in $(seq 1 250); do
		[ "$(ss -Htan state "$1" | wc -l)" -ge "$2" ] && return 0
		sleep 0.02
	done
	echo "#   timeout waiting for $2 sockets in $1"
	return 1
}
# wait_file FILE [SECONDS]: until FILE exists and is not empty (5 s default)
wait_file() {
	local i
	for i in $(seq 1 $((${2:-5} * 50))); do
		[ -s "$1" ] && return 0
		sleep 0.02
	done
	echo "#   timeout waiting for $1"
	return 1
}
# events_of FILE ACTION: the events with that event.action, one per line
events_of() { jq -c --arg a "$2" 'select(.event.action==$a)' "$1" 2>/dev/null; }
# hazards_in FILE: how many events in FILE report a hazard
hazards_in() { jq -c 'select(.bindguard.hazard != null and .bindguard.hazard != "none")' "$1" 2>/dev/null | wc -l; }
export -f preload range netns expect expect_match wait_state wait_file events_of hazards_in schema_ok

# ---- the count ------------------------------------------------------------------
# pass NAME / fail NAME: a test's verdict, "ok NAME" / "FAIL NAME"; tally: the
# suite's last line, "N passed, N failed" (tests/run.sh and CI read it), true
# when none failed
passes=0 fails=0
pass() {
	passes=$((passes + 1))
	echo "ok $*"
}
fail() {
	fails=$((fails + 1))
	echo "FAIL $*"
}
tally() {
	echo "$passes passed, $fails failed"
	[ "$fails" -eq 0 ]
}

# ---- the runner ---------------------------------------------------------------
# run_tests PREFIX TIMEOUT: run every t_ function defined so far
run_tests() {
	local prefix=$1 limit=$2 t name work out rc
	for t in $(declare -F | awk '{print $3}' | grep '^t_'); do
		name=${t#t_}
		[ -n "${FILTER:-}" ] && [[ "$name" != *"$FILTER"* ]] && continue
		[ -n "${SKIP:-}" ] && [[ " $SKIP " == *" $name "* ]] && continue
		work=$(mktemp -d "/tmp/bindguard-$prefix.XXXXXX")
		# shellcheck disable=SC2016
		out=$(WORK=$work timeout "$limit" unshare -n bash -c "
			failed=0
			helpers
			$(declare -f "$t" ${EXTRA_FUNCS:-})
			$t
			rc=\$?
			declare -F stop_all >/dev/null && stop_all
			[ \$rc -eq 0 ] && [ \$failed -eq 0 ]
		" 2>&1)
		rc=$?
		if [ $rc -eq 0 ]; then
			[ -n "$out" ] && grep '^# ' <<<"$out"
			pass "$name"
		else
			[ -n "$out" ] && echo "$out"
			[ $rc -eq 124 ] && echo "#   timed out after $limit s"
			fail "$name"
		fi
		rm -rf "$work"
	done
	tally
}

# ---- scripts that fetch and install what they need (tests/kernels) -------------------
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
