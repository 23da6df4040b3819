# lib.sh: what every shell suite shares (sourced, not run).
#
# A suite defines test functions named t_NAME and a function `helpers` with
# its own helpers (it may be empty), then calls `run_tests PREFIX TIMEOUT`:
# each t_ function runs in a fresh network namespace (unshare -n, so root)
# with a scratch folder $WORK, and the suite prints "ok NAME" / "FAIL NAME"
# per test and "N passed, N failed" last. FILTER (a substring) and SKIP (a
# list of names) select tests; EXTRA_FUNCS names more functions the tests call.

# ---- before the tests ---------------------------------------------------------
# suite_env: the paths the shim's suites use, from $here (the repository) and
# $BUILD: ACTOR SHIM TOOL SCHEMA_CHECK EVENT_SCHEMA, and PROFILE (the kernel
# profile bindguard detects here)
suite_env() {
	export ACTOR="$BUILD/bindguard-actor" SHIM="$BUILD/libbindguard.so" TOOL="$BUILD/bindguard"
	export SCHEMA_CHECK="$here/build/schema-check" EVENT_SCHEMA="$here/conf/bindguard-event.schema.json"
	[ -x "$SCHEMA_CHECK" ] || SCHEMA_CHECK="$BUILD/schema-check"
	PROFILE=$("$TOOL" profile | head -1 | awk '{print $NF}')
	export PROFILE
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
# range LOW HIGH [RESERVED]: loopback up, the namespace's ephemeral range
range() {
	ip link set lo up
	echo "$1 $2" >/proc/sys/net/ipv4/ip_local_port_range
	echo "${3:-}" >/proc/sys/net/ipv4/ip_local_reserved_ports
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
export -f expect expect_match range wait_state wait_file events_of hazards_in schema_ok

# ---- the runner ---------------------------------------------------------------
# run_tests PREFIX TIMEOUT: run every t_ function defined so far
run_tests() {
	local prefix=$1 limit=$2 pass=0 fail=0 t name work out rc
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
			pass=$((pass + 1))
			[ -n "$out" ] && grep '^# ' <<<"$out"
			echo "ok $name"
		else
			fail=$((fail + 1))
			[ -n "$out" ] && echo "$out"
			[ $rc -eq 124 ] && echo "#   timed out after $limit s"
			echo "FAIL $name"
		fi
		rm -rf "$work"
	done
	echo "$pass passed, $fail failed"
	[ $fail -eq 0 ]
}
