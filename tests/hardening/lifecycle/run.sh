#!/usr/bin/env bash
# hardening/lifecycle: the shim across a process's lifecycle (issue 4, items
# 2 and 4): fork in a threaded process, exec with inherited sockets, daemons
# that close every fd, dup2 onto the shim's log fd, close_range/closefrom,
# sockets received over SCM_RIGHTS or made before the shim was set up, and
# the fidelity matrix. Each test runs in its own network namespace
# (tests/lib.sh); where a hazard is needed, the seed scenario's range (the
# single ephemeral port 40000) and 127.0.0.2:40000 as the pinning bind.
# Usage: tests/hardening/lifecycle/run.sh BUILD [NAME-FILTER]
set -uo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
source "$here/tests/lib.sh"
export FILTER=${2:-${FILTER:-}}
suite_build "${1:-}" lifecycle-roles lifecycle-fork fidelity libbindguard.so bindguard-actor bindguard
suite_env # PRELOAD_PREFIX: a library to preload first (the ASan runtime, for an ASan shim)
export ROLES="$BUILD/lifecycle-roles" FORK="$BUILD/lifecycle-fork"
export NFORKS=${NFORKS:-500}
# under ASan (PRELOAD_PREFIX=libasan), a fork child's first malloc (the shim's
# event) can hang on libasan's allocator lock, which fork does not reset
[ -n "${PRELOAD_PREFIX:-}" ] &&
	SKIP="${SKIP:-} fork_under_threads_and_signals_never_deadlocks fork_under_threads_with_syslog_never_deadlocks"

helpers() {
	source "$here/tools/scenario.sh"
	# the shim in audit mode, events in $WORK/ev.jsonl; `shimenv debug`: every bind is an event
	shimenv() {
		if [ "${1:-}" != debug ]; then
			preload BINDGUARD_MODE=audit
			return
		fi
		echo '{"level": "debug"}' >"$WORK/debug.json"
		preload BINDGUARD_MODE=audit BINDGUARD_CONFIG="$WORK/debug.json"
	}
	# bind events (jq filter on them, one result a line)
	binds() { jq -r "select(.event.action==\"bind\") | $1" "$WORK/ev.jsonl" 2>/dev/null; }
	# the last bind event for PORT, through jq filter F
	lastbind() { jq -c "select(.event.action==\"bind\" and .source.port==$1)" "$WORK/ev.jsonl" | tail -1 | jq -r "$2"; }
	# value after KEY in FILE's line starting with PREFIX ("closewait fd 4 inode ..." -> fd: 4)
	word() { grep "^$2" "$1" | head -1 | awk -v k="$3" '{for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit }}'; }
	servers() {
		start server -- server 127.0.0.1 9000
		wait_line "$WORK/server.out" ready
	}
	# the daemon pattern: close every fd from 3, then a hazardous bind
	daemon_case() {
		seed_owner || return 1
		env $(shimenv) "$ROLES" daemon "$1" 127.0.0.2 40000 "$WORK/ev.jsonl" >"$WORK/d.out" 2>&1
		local logfd
		logfd=$(word "$WORK/d.out" logfd logfd)
		expect_match "the shim had a log fd" "$logfd" '^[0-9]+$'
		expect "it was closed ($1)" "$(word "$WORK/d.out" "logfd closed" closed)" yes
		expect "bind" "$(word "$WORK/d.out" bind bind)" ok
		expect "the event reached the log" "$(binds .bindguard.hazard)" pin_halfclosed
		expect_match "the log is open again" "$(word "$WORK/d.out" "logfd after" after)" '^[0-9]+$'
		expect "nothing dropped" "$(jq -r 'select(.event.action=="stop") | .bindguard.counters.events_dropped' "$WORK/ev.jsonl")" 0
		schema_ok
	}
	# close_range/closefrom of the upper sockets: the model forgets exactly those
	forget_case() {
		env $(shimenv debug) "$ROLES" closerange "$1" >"$WORK/c.out" 2>&1
		expect "$1" "$(grep -c "^$1 ok" "$WORK/c.out")" 1
		expect "rebind 7100 (was listening)" "$(word "$WORK/c.out" "bind 7100" 7100)" ok
		expect "rebind 7101 (was bound)" "$(word "$WORK/c.out" "bind 7101" 7101)" ok
		expect "7102 stays open" "$(word "$WORK/c.out" "bind 7102" 7102)" EADDRINUSE
		local p
		for p in 7100 7101; do
			expect "$p: no conflict predicted" "$(lastbind $p .bindguard.bucket.conflict_predicted)" false
			expect "$p: no owners left" "$(lastbind $p '.bindguard.owners|length')" 0
		done
		expect "7102: conflict predicted" "$(lastbind 7102 .bindguard.bucket.conflict_predicted)" true
		expect "7102: its one owner" "$(lastbind 7102 '.bindguard.owners|length')" 1
		expect "divergences" "$(events_of "$WORK/ev.jsonl" divergence | wc -l)" 0
		schema_ok
	}
	ns_setup
}
export -f helpers

# ---- 1. fork in a multi-threaded process -----------------------------------------------

t_fork_under_threads_and_signals_never_deadlocks() {
	range 40000 40999
	# 4 threads bind/close (an event each, level debug), one accepts, one
	# signals; the main thread forks $NFORKS children that bind, connect, exit
	env $(shimenv debug) "$FORK" "$NFORKS" 4 >"$WORK/f.out" 2>&1
	local last
	last=$(tail -1 "$WORK/f.out")
	expect_match "every child exited 0" "$last" "^forks $NFORKS ok $NFORKS signals [0-9]+$"
	grep -E '^child [0-9]+ [0-9]+$' "$WORK/f.out" | awk '{print $2, $3}' | sort -n >"$WORK/children"
	expect "children" "$(wc -l <"$WORK/children")" "$NFORKS"
	# each child's own bind event, under the child's own pid and thread id
	binds "select(.source.port >= 22000 and .source.port < 22000 + $NFORKS) | \"\(.source.port - 22000) \(.process.pid) \(.process.thread.id)\"" |
		sort -n >"$WORK/childev"
	expect "child bind events name the child" "$(awk '{print $1, $2}' "$WORK/childev" | diff - "$WORK/children" | head -3)" ""
	expect "thread id is the child's pid" "$(awk '$2 != $3' "$WORK/childev" | head -3)" ""
	local stops
	stops=$(jq -r 'select(.event.action=="stop") | .process.pid' "$WORK/ev.jsonl" | sort -u | wc -l)
	expect "a stop event from every child and the parent" "$stops" $((NFORKS + 1))
	expect "outcome of child binds" "$(binds "select(.source.port >= 22000) | .event.outcome" | sort -u)" success
	echo "#   $NFORKS forks, $(awk '{print $NF}' <<<"$last") SIGUSR1 handled, $(wc -l <"$WORK/ev.jsonl") events"
	schema_ok
}

# ---- 2. exec: inherited sockets ---------------------------------------------------------

t_exec_inherited_closewait_is_an_owner_by_its_inode() {
	servers || return 1
	env $(shimenv) "$ROLES" closewait-exec 9000 -- "$ROLES" bind-after 127.0.0.2 40000 new >"$WORK/x.out" 2>&1
	local pid inode
	pid=$(word "$WORK/x.out" closewait pid)
	inode=$(word "$WORK/x.out" closewait inode)
	expect "the connection took the port" "$(word "$WORK/x.out" closewait port)" 40000
	expect "same process after exec" "$(word "$WORK/x.out" inherited pid)" "$pid"
	expect "inherited in CLOSE_WAIT" "$(word "$WORK/x.out" inherited state)" 8
	expect "same socket" "$(word "$WORK/x.out" inherited inode)" "$inode"
	expect "bind" "$(word "$WORK/x.out" bind bind)" ok
	expect "a start event from each image" "$(events_of "$WORK/ev.jsonl" start | jq -r .process.pid | tr '\n' ' ')" "$pid $pid "
	expect "hazard" "$(binds .bindguard.hazard)" pin_halfclosed
	expect "event from the new image" "$(binds .process.pid)" "$pid"
	# never used in the new image, the socket is not known as ours: the event
	# names it by inode only (no /proc walk inside bind()), and once the
	# process has exited no process holds it, which the report says
	expect "the inherited socket is the owner, by its inode" \
		"$(binds ".bindguard.owners[] | select(.inode == $inode) | [.pid, .state, .local] | @csv")" \
		",\"CLOSE_WAIT\",\"127.0.0.1:40000\""
	expect "report: held by no process now" \
		"$("$TOOL" report --json "$WORK/ev.jsonl" | jq -c '.halfclosed_owners | map([.pid, .name, .resolved_at_report])')" \
		'[[null,"(no process)",true]]'
	schema_ok
}

t_exec_inherited_closewait_learned_on_first_use() {
	servers || return 1
	env $(shimenv) "$ROLES" closewait-exec 9000 -- "$ROLES" bind-after 127.0.0.2 40000 touch >"$WORK/x.out" 2>&1
	local pid inode
	pid=$(word "$WORK/x.out" closewait pid)
	inode=$(word "$WORK/x.out" closewait inode)
	expect "setsockopt on the inherited fd" "$(word "$WORK/x.out" setsockopt setsockopt)" ok
	expect "bind" "$(word "$WORK/x.out" bind bind)" ok
	expect "hazard" "$(binds .bindguard.hazard)" pin_halfclosed
	# learned from the fd: our own socket, placed by connect(), not inferred
	expect "owner learned as our connect()-placed socket" \
		"$(binds ".bindguard.owners[] | select(.inode == $inode) | [.pid, .connect_bound] | @csv")" \
		"$pid,\"yes\""
	schema_ok
}

# ---- 3. daemons that close every fd ------------------------------------------------------

t_daemon_close_loop_reopens_the_log() { daemon_case loop; }
t_daemon_close_range_reopens_the_log() { daemon_case close_range; }
t_daemon_closefrom_reopens_the_log() { daemon_case closefrom; }

# ---- 4. dup2 onto the shim's log fd ---------------------------------------------------------

t_dup2_onto_the_log_fd_keeps_both_files_apart() {
	seed_owner || return 1
	env $(shimenv) "$ROLES" dup2log 127.0.0.2 40000 "$WORK/ev.jsonl" "$WORK/app.txt" >"$WORK/d.out" 2>&1
	local logfd after
	logfd=$(word "$WORK/d.out" logfd logfd)
	after=$(word "$WORK/d.out" "logfd after" after)
	expect_match "found the log fd" "$logfd" '^[0-9]+$'
	expect "dup2" "$(word "$WORK/d.out" dup2 dup2)" ok
	expect "bind" "$(word "$WORK/d.out" bind bind)" ok
	expect "the application's file holds its data only" "$(tr '\n' '|' <"$WORK/app.txt")" "app line 1|app line 2|app line 3|"
	expect "the log got the event" "$(binds .bindguard.hazard)" pin_halfclosed
	expect "the log holds JSON only" "$(grep -vc '^{' "$WORK/ev.jsonl")" 0
	expect_match "the log moved to another fd" "$after" '^[0-9]+$'
	[ "$after" != "$logfd" ] || { echo "#   log fd still $logfd"; failed=1; }
	schema_ok
}

# ---- 5. close_range, closefrom: the model forgets -----------------------------------------

t_close_range_forgets_closed_sockets() { forget_case close_range; }
t_closefrom_forgets_closed_sockets() { forget_case closefrom; }

t_close_range_cloexec_keeps_them_until_exec() {
	env $(shimenv debug) "$ROLES" closerange cloexec >"$WORK/c.out" 2>&1
	local s0
	s0=$(awk '/^fds [0-9]/{print $2}' "$WORK/c.out")
	expect "cloexec" "$(grep -c '^cloexec ok' "$WORK/c.out")" 1
	# before exec: still open, still in the model
	expect "7100 still taken" "$(grep '^bind 7100' "$WORK/c.out" | head -1)" "bind 7100 EADDRINUSE"
	expect "predicted" "$(binds 'select(.source.port==7100) | .bindguard.bucket.conflict_predicted' | sed -n 2p)" true
	# after exec: the sockets and the shim's log fd are gone, the fd below the range stays
	expect "fds after exec" "$(grep '^fds after exec' "$WORK/c.out")" "fds after exec 0 1 2 $s0 (s0 $s0)"
	expect "7100 free" "$(grep '^bind 7100' "$WORK/c.out" | sed -n 2p)" "bind 7100 ok"
	expect "7101 free" "$(grep '^bind 7101' "$WORK/c.out")" "bind 7101 ok"
	expect "new image: no conflict predicted" "$(lastbind 7100 .bindguard.bucket.conflict_predicted)" false
	expect "divergences" "$(events_of "$WORK/ev.jsonl" divergence | wc -l)" 0
	schema_ok
}

# ---- 6. SCM_RIGHTS --------------------------------------------------------------------------

t_sockets_received_over_scm_rights_are_learned() {
	servers || return 1
	env $(shimenv debug) "$ROLES" scm-recv "$WORK/u.sock" 127.0.0.2 40000 7100 >"$WORK/r.out" 2>&1 &
	local rpid=$!
	wait_line "$WORK/r.out" ready || return 1
	"$ROLES" scm-send "$WORK/u.sock" 9000 7100 >"$WORK/s.out" 2>&1 # without the shim
	wait "$rpid"
	local inode pid
	inode=$(word "$WORK/s.out" send inode)
	pid=$(word "$WORK/r.out" received pid)
	expect "received in CLOSE_WAIT" "$(word "$WORK/r.out" received state)" 8
	expect "same socket" "$(word "$WORK/r.out" received inode)" "$inode"
	expect "first use: setsockopt" "$(word "$WORK/r.out" setsockopt setsockopt)" ok
	expect "first use: listen again" "$(word "$WORK/r.out" listen listen)" ok
	expect "bind 127.0.0.2:40000" "$(grep '^bind 127.0.0.2' "$WORK/r.out")" "bind 127.0.0.2 40000 ok"
	expect "hazard" "$(lastbind 40000 .bindguard.hazard)" pin_halfclosed
	expect "the received socket: ours, placed by connect()" \
		"$(lastbind 40000 ".bindguard.owners[] | select(.inode == $inode) | [.pid, .connect_bound, .state] | @csv")" \
		"$pid,\"yes\",\"CLOSE_WAIT\""
	# the received listener, on a port only the model knows about
	expect "bind 127.0.0.1:7100" "$(grep '^bind 127.0.0.1' "$WORK/r.out")" "bind 127.0.0.1 7100 EADDRINUSE"
	expect "conflict predicted" "$(lastbind 7100 .bindguard.bucket.conflict_predicted)" true
	expect "the received listener is the owner" "$(lastbind 7100 '.bindguard.owners[0] | [.pid, .state] | @csv')" "$pid,\"LISTEN\""
	expect "divergences" "$(events_of "$WORK/ev.jsonl" divergence | wc -l)" 0
	schema_ok
}

# ---- 7. sockets made before the shim was set up ---------------------------------------------

t_socket_from_a_parent_without_the_shim_learned_on_bind() {
	servers || return 1
	# the parent runs without the shim; the exec'd image has it
	env LC_PRELOAD="${PRELOAD_PREFIX:-}$SHIM" BINDGUARD_LOG="$WORK/ev.jsonl" BINDGUARD_MODE=audit \
		"$ROLES" closewait-exec 9000 spare -- "$ROLES" bind-after 127.0.0.2 40000 spare >"$WORK/x.out" 2>&1
	local spare
	spare=$(word "$WORK/x.out" spare fd)
	expect "bind of the inherited socket" "$(word "$WORK/x.out" bind bind)" ok
	expect "bind fd" "$(word "$WORK/x.out" bind fd)" "$spare"
	expect "one start event (the parent had no shim)" "$(events_of "$WORK/ev.jsonl" start | wc -l)" 1
	expect "hazard" "$(binds .bindguard.hazard)" pin_halfclosed
	expect "the event names the inherited fd" "$(binds .bindguard.fd)" "$spare"
	schema_ok
}

t_socket_from_a_raw_syscall_learned_on_bind() {
	seed_owner || return 1
	env $(shimenv) "$ROLES" bind-after 127.0.0.2 40000 raw >"$WORK/x.out" 2>&1
	expect "bind" "$(word "$WORK/x.out" bind bind)" ok
	expect "hazard" "$(binds .bindguard.hazard)" pin_halfclosed
	expect "fd" "$(binds .bindguard.fd)" "$(word "$WORK/x.out" bind fd)"
	# the seed's CLOSE_WAIT, another process's socket: by inode in the event,
	# named by `bindguard report` while A holds it
	local ino
	ino=$(ss -Htane state close-wait '( sport = :40000 )' | grep -o 'ino:[0-9]*' | cut -d: -f2)
	expect "owner: the seed's CLOSE_WAIT" "$(binds '.bindguard.owners[0] | [.pid, .inode] | @csv')" ",$ino"
	expect "report names A" "$("$TOOL" report --json "$WORK/ev.jsonl" | jq -c '.halfclosed_owners | map([.pid, .resolved_at_report])')" \
		"[[$(cat "$WORK/a.pid"),true]]"
	schema_ok
}

# ---- syslog: the application's own identity, and fork ------------------------------------

# a private mount namespace whose /dev holds null, zero, urandom and our log socket
t_syslog_events_leave_the_applications_openlog_alone() {
	seed_owner || return 1
	mkdir -p "$WORK/dev"
	touch "$WORK/dev/null" "$WORK/dev/zero" "$WORK/dev/urandom"
	unshare -m bash -c '
		for n in null zero urandom; do mount --bind /dev/$n "$WORK/dev/$n"; done
		mount --rbind "$WORK/dev" /dev
		"$ROLES" syslog-recv /dev/log >"$WORK/sys.out" 2>&1 &
		r=$!
		for i in $(seq 1 250); do [ -S /dev/log ] && break; sleep 0.02; done
		env $(preload BINDGUARD_LOG=syslog BINDGUARD_MODE=audit) "$ROLES" syslog-app 127.0.0.2 40000 >"$WORK/app.out" 2>&1
		for i in $(seq 1 250); do grep -q "app 3" "$WORK/sys.out" && break; sleep 0.02; done
		kill $r
	'
	local pid
	pid=$(word "$WORK/app.out" bind pid)
	expect "bind" "$(word "$WORK/app.out" bind bind)" ok
	# <134> = local0.info, <142> = local1.info; glibc puts a timestamp before the tag
	expect_match "app 1" "$(grep 'app 1$' "$WORK/sys.out")" "^<134>.* lcapp\\[$pid\\]: app 1\$"
	expect_match "app 2: still its ident and facility" "$(grep 'app 2$' "$WORK/sys.out")" "^<134>.* lcapp\\[$pid\\]: app 2\$"
	expect_match "app 3: its new openlog" "$(grep 'app 3$' "$WORK/sys.out")" "^<142>.* lcapp2\\[$pid\\]: app 3\$"
	# <30> = daemon.info (start), <28> = daemon.warning (the hazard)
	local stamp='([A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} )?'
	expect "start event: daemon.info, ours" "$(grep -cE "^<30>${stamp}bindguard\\[$pid\\]: \\{.*\"action\":\"start\"" "$WORK/sys.out")" 1
	expect "bind event: daemon.warning, ours" "$(grep -cE "^<28>${stamp}bindguard\\[$pid\\]: \\{.*\"hazard\":\"pin_halfclosed\"" "$WORK/sys.out")" 1
	expect "events are whole JSON" "$(grep -E "^<[0-9]+>${stamp}bindguard" "$WORK/sys.out" | sed 's/^[^{]*//' | jq -c .event.action | tr '\n' ' ')" '"start" "bind" "stop" '
}

t_fork_under_threads_with_syslog_never_deadlocks() {
	range 40000 40999
	# no syslog daemon here: lines are dropped, never waited for
	env $(shimenv debug) BINDGUARD_LOG=syslog "$FORK" 200 4 >"$WORK/f.out" 2>&1
	expect_match "every child exited 0" "$(tail -1 "$WORK/f.out")" "^forks 200 ok 200 signals [0-9]+$"
}

# ---- 8. fidelity ------------------------------------------------------------------------------

t_fidelity_matrix_identical_with_and_without_the_shim() {
	local plain shim
	plain=$(netns -- "$BUILD/fidelity")
	echo '{"level": "debug"}' >"$WORK/debug.json"
	shim=$(netns -- env $(preload BINDGUARD_LOG="$WORK/fid.jsonl" BINDGUARD_CONFIG="$WORK/debug.json") "$BUILD/fidelity")
	expect "differences" "$(diff <(echo "$plain") <(echo "$shim"))" ""
	# every address length the kernel's bind takes is judged (ports 40011-40028:
	# sockaddr_in6 of 24, 27, 28, 32, 128 bytes, a 20-byte sockaddr_in,
	# AF_UNSPEC on IPv4); the ones it refuses by length or family reach it untouched
	expect "judged binds (port:outcome)" \
		"$(jq -r 'select(.event.action=="bind" and .source.port>=40011 and .source.port<=40028)|"\(.source.port):\(.event.outcome)"' "$WORK/fid.jsonl" | tr '\n' ' ')" \
		"40011:success 40011:failure 40012:success 40013:success 40014:success 40015:success 40018:success 40018:failure 40020:failure 40023:failure 40025:success 40026:success 40026:failure "
	expect_match "ran to the end" "$plain" "close-pipe +ok errno-kept=1"
	expect "no case failed to run" "$(grep -c 'did not run' <<<"$plain")" 0
	echo "#   fidelity: $(wc -l <<<"$plain") cases ($(grep -c '^first-' <<<"$plain") as the first call of a fresh image)"
}

run_tests lifecycle 30
