#!/usr/bin/env bash
# hardening/attack: the shim under hostile syscall patterns (issue 11,
# "attack it yourself"). Each test runs in its own network namespace
# (tests/lib.sh); where a hazard is needed, the seed scenario (A's connection
# in CLOSE_WAIT on the single ephemeral port 40000, 127.0.0.2:40000 as the
# pinning bind). The kernel is the oracle: where a case says "as without the
# shim", attack-run runs twice and the two outputs must be the same.
#   vfork_*      a vfork()/clone(CLONE_VM) child closes the parent's sockets
#                or makes one of its own: the parent's model is untouched
#   netns_*      unshare(CLONE_NEWNET), setns() back: one netns_change event
#                each, socket calls away from home pass unjudged
#   emfile_*     the shim's set-up at RLIMIT_NOFILE: deferred, not given up
#   altstack_*   a bind into a hazard from a signal handler on an 8 or
#                12 KiB sigaltstack
#   bad_*, fds_*, cloexec_*: bad pointers, lengths and fds; dup2/dup3/
#                close_range over tracked sockets; SOCK_CLOEXEC across exec
# Usage: tests/hardening/attack/run.sh BUILD [NAME-FILTER]
#   KNOWN=1 also runs the tests marked KNOWN (a failure not fixed yet).
set -uo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
source "$here/tests/lib.sh"
export FILTER=${2:-${FILTER:-}}
suite_build "${1:-}" attack-run libbindguard.so bindguard-actor
[ -x "$here/build/schema-check" ] || make -s -C "$here" build/schema-check >/dev/null || exit 1
suite_env # PRELOAD_PREFIX: a library to preload first (the ASan runtime, for an ASan shim)
export RUN="$BUILD/attack-run"
# under ASan its interceptors read some pointers themselves: attack-run leaves those out
[ -n "${PRELOAD_PREFIX:-}" ] && export ATTACK_ASAN=1

helpers() {
	source "$here/tools/scenario.sh"
	ns_setup
	# the shim (MODE, default audit) with the self-check, debug events in $WORK/ev.jsonl
	shim() {
		echo '{"level": "debug"}' >"$WORK/debug.json"
		preload BINDGUARD_MODE="${1:-audit}" BINDGUARD_CONFIG="$WORK/debug.json" BINDGUARD_SELF_CHECK=1
	}
	# stop FIELD: bindguard.FIELD of the last stop event
	stopped() { events_of "$WORK/ev.jsonl" stop | tail -1 | jq -r ".bindguard.$1"; }
	# the model agreed with the kernel all along, and at exit
	model_clean() {
		expect "$1: divergences" "$(stopped counters.divergences)" 0
		expect "$1: self-check mismatches" "$(stopped self_check.mismatches)" 0
		events_of "$WORK/ev.jsonl" model_divergence | jq -r '"#   " + .message'
		events_of "$WORK/ev.jsonl" self_check_mismatch | jq -r '"#   " + .message'
	}
	# fresh CMD...: CMD in a namespace of its own, set up as this one
	fresh() { netns "$PORT" "$PORT" -- "$@"; }
	# same CASE ARGS...: attack-run's output under the shim is the kernel's
	# (each run in a namespace of its own: the first leaves TIME_WAITs)
	same() {
		local what=$1 with without
		shift
		with=$(fresh env $(shim) "$RUN" "$@" 2>&1; echo "exit $?")
		without=$(fresh "$RUN" "$@" 2>&1; echo "exit $?")
		if [ "$with" != "$without" ]; then
			echo "#   $what: under the shim | without:"
			diff <(echo "$with") <(echo "$without") | sed 's/^/#     /'
			failed=1
		fi
	}
}
export -f helpers

# ---- 1. children that share the parent's memory ----------------------------------------

# The child runs in the parent's memory: a close() there must not take the
# parent's sockets out of the parent's fd table and model.
t_vfork_child_closing_fds_leaves_the_parents_model() {
	local m
	for m in close closerange clone; do
		rm -f "$WORK/ev.jsonl"
		out=$(env $(shim) "$RUN" vfork $m 2>&1)
		expect "$m: child" "$(grep ^child <<<"$out")" "child ok"
		expect "$m: 7000 still listening" "$(grep '^bind 7000' <<<"$out")" "bind 7000 error EADDRINUSE"
		expect "$m: 7001 still bound" "$(grep '^bind 7001' <<<"$out")" "bind 7001 error EADDRINUSE"
		model_clean "$m"
		expect "$m: the parent's sockets at exit" "$(stopped self_check.sockets)" 2
		expect "$m: untracked at exit" "$(stopped self_check.untracked)" 0
	done
	schema_ok
}

# A socket the child makes and binds is the child's: the parent's model must
# not hold it (nor its port) after the child has gone. cold: the child's
# socket call is the first of the process; the set-up is the parent's.
t_vfork_child_socket_stays_out_of_the_parents_model() {
	local m
	for m in socket cold; do
		rm -f "$WORK/ev.jsonl"
		out=$(env $(shim) "$RUN" vfork $m 2>&1)
		expect "$m: 7002 free after the child" "$(grep '^bind 7002' <<<"$out")" "bind 7002 ok"
		expect "$m: 7000 listening" "$(grep '^bind 7000' <<<"$out")" "bind 7000 error EADDRINUSE"
		model_clean $m
		expect "$m: the parent's sockets at exit" "$(stopped self_check.sockets)" 2
		expect "$m: the parent's binds judged" "$(events_of "$WORK/ev.jsonl" bind | jq -r .source.port | tr '\n' ' ')" "7000 7001 7000 7001 7002 "
		expect "$m: one start event" "$(events_of "$WORK/ev.jsonl" start | jq -r .process.pid)" "$(events_of "$WORK/ev.jsonl" stop | jq -r .process.pid)"
	done
	schema_ok
}

# ---- 2. network namespaces ------------------------------------------------------------------

# Away from its start namespace, the process's ports are another namespace's:
# the model must not judge them (here it would predict EADDRINUSE from the
# listener at home), and back home it judges again.
t_netns_change_passes_through_unjudged() {
	same "netns" netns
	rm -f "$WORK/ev.jsonl"
	env $(shim enforce) "$RUN" netns >"$WORK/out" 2>&1
	sed 's/^/# /' "$WORK/out"
	expect "bind away" "$(sed -n 1p "$WORK/out")" "bind 7000 ok"
	expect "bind back home" "$(sed -n 3p "$WORK/out")" "bind 7000 error EADDRINUSE"
	expect "netns_change events" "$(events_of "$WORK/ev.jsonl" netns_change | wc -l)" 2
	expect "first: away" "$(events_of "$WORK/ev.jsonl" netns_change | head -1 | jq -r '.bindguard.netns.home')" false
	expect "second: home" "$(events_of "$WORK/ev.jsonl" netns_change | tail -1 | jq -r '.bindguard.netns.home')" true
	expect "judged binds (home only)" "$(events_of "$WORK/ev.jsonl" bind | wc -l)" 2
	model_clean netns
	schema_ok
}

# ---- 3. the fd limit at set-up --------------------------------------------------------------

# Set-up at EMFILE cannot read the config (enforce) nor open the log: it
# must not settle for audit mode with defaults for good. Once fds are free,
# the hazardous bind is judged and, in enforce mode, refused.
t_emfile_at_setup_is_deferred_then_enforced() {
	seed_owner || return 1
	echo '{"mode": "enforce"}' >"$WORK/enforce.json"
	out=$(env $(preload BINDGUARD_CONFIG="$WORK/enforce.json") "$RUN" emfile 127.0.0.2 40000 2>&1)
	sed 's/^/# /' <<<"$out"
	expect "first socket" "$(grep '^first socket' <<<"$out")" "first socket ok"
	expect "bind into the hazard" "$(grep '^bind 40000' <<<"$out")" "bind 40000 error EADDRINUSE"
	expect "no config error" "$(events_of "$WORK/ev.jsonl" config_error | wc -l)" 0
	local b
	b=$(events_of "$WORK/ev.jsonl" bind | tail -1)
	expect "hazard" "$(jq -r .bindguard.hazard <<<"$b")" pin_halfclosed
	expect "decision" "$(jq -r .bindguard.decision <<<"$b")" block
	schema_ok
}

# ---- 4. a small signal stack -----------------------------------------------------------------

# A handler on a sigaltstack binds into the hazard: the shim must not
# overflow the stack (its event, its set-up when cold). 8 KiB is enough
# for the handler without the shim (checked first); 12 KiB too.
t_altstack_bind_in_a_handler_does_not_crash() {
	seed_owner || return 1
	local how size out
	for size in 8192 12288; do
		if ! "$RUN" altstack warm $size 127.0.0.2 40000 >/dev/null 2>&1; then
			echo "# $size bytes: too small for the handler even without the shim here"
			continue
		fi
		for how in warm cold; do
			out=$(env $(preload) "$RUN" altstack $how $size 127.0.0.2 40000 2>&1; echo "exit $?")
			expect "$how $size" "$(tr '\n' ' ' <<<"$out")" "handler bind ok exit 0 "
		done
	done
}

# ---- 5. bad arguments, fd games -----------------------------------------------------------

t_bad_pointers_lengths_and_fds_answer_as_the_kernel() {
	same "bad arguments" badargs
	rm -f "$WORK/ev.jsonl"
	env $(shim) "$RUN" badargs >/dev/null 2>&1
	model_clean badargs
}

# KNOWN LIMIT, not run by default (KNOWN=1 runs it; it fails today): a
# bind() whose address lies in unmapped memory (past the first page) gets
# EFAULT from the kernel and crashes the shim, which reads the address
# first. Telling them apart costs a system call on every bind.
t_known_bind_with_an_unmapped_address() {
	ATTACK_UNMAPPED_BIND=1 same "unmapped bind address" badargs
}

t_fds_dup2_dup3_close_range_over_tracked_sockets() {
	same "fd games" fds
	rm -f "$WORK/ev.jsonl"
	env $(shim) "$RUN" fds >/dev/null 2>&1
	model_clean fds
}

# SOCK_CLOEXEC and close_range(CLOSE_RANGE_CLOEXEC) sockets close at exec;
# the inheritable one is the new image's. (Its port is not ephemeral: the
# shim does not ask the kernel about it, so the model alone predicts success
# there, by design, and counts one divergence.)
t_cloexec_sockets_across_exec() {
	same "cloexec" cloexec
	rm -f "$WORK/ev.jsonl"
	env $(shim) "$RUN" cloexec >/dev/null 2>&1
	expect "self-check mismatches" "$(stopped self_check.mismatches)" 0
	expect "untracked (the inherited socket)" "$(stopped self_check.untracked)" 1
}

known=known_bind_with_an_unmapped_address
if [ -z "${KNOWN:-}" ]; then
	SKIP="${SKIP:-} $known"
	echo "# not run: $known (a known shim limit; KNOWN=1 runs it)"
fi
export SKIP
run_tests attack 120
