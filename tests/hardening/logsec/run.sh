#!/usr/bin/env bash
# run.sh: the log under stress and the shim's security (issue 4, items 5-6).
# Real processes under LD_PRELOAD (or /etc/ld.so.preload for a setuid
# program), each test in its own network namespace; tests that mount do it
# in a private mount namespace of their own (unshare -m). Needs root.
# Usage: tests/hardening/logsec/run.sh BUILD [NAME-FILTER]
# Prints "ok NAME" / "FAIL NAME" per test, "# ..." figures, then
# "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
source "$here/tests/lib.sh"
BUILD_ARG=${1:-build}
FILTER=${2:-}
SKIP=${SKIP:-}
make -s -C "$here" BUILD="$BUILD_ARG" "$BUILD_ARG/logsec-actor" "$BUILD_ARG/bindguard-actor" \
	"$BUILD_ARG/libbindguard.so" >/dev/null || echo "# cannot build the test programs"
BUILD=$(cd "$here/$BUILD_ARG" && pwd)
export here BUILD FILTER SKIP
suite_env
export LACTOR="$BUILD/logsec-actor"
export CHECK="$here/tests/hardening/logsec/logcheck.py"
export NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# ---- helpers available inside every test -------------------------------------------
helpers() {
	source "$here/tools/scenario.sh"
	range 40000 40009
	chmod 755 "$WORK" # the tests that run as nobody read and write in here
	printf '{"level":"debug"}\n' >"$WORK/debug.json"
	declare -gA FD SENT
	# shimenv LOG: the shim, at debug level (every bind is an event), logging to LOG
	shimenv() { preload BINDGUARD_CONFIG="$WORK/debug.json" BINDGUARD_LOG="$1"; }
	# serve NAME [PREFIX...]: a long-running logsec-actor serve, fed by cmd NAME
	serve() {
		local name=$1 fd
		shift
		mkfifo -m 644 "$WORK/$name.in"
		( # without the other services' input ends, or they never see EOF
			for fd in "${FD[@]}"; do eval "exec $fd>&-"; done
			exec "$@" "$LACTOR" serve <"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err"
		) &
		echo $! >"$WORK/$name.pid"
		exec {fd}>"$WORK/$name.in"
		FD[$name]=$fd
		SENT[$name]=0
	}
	# cmd NAME LINE...: send the commands, wait for every answer (5 s at most)
	cmd() {
		local name=$1 line i
		shift
		for line in "$@"; do
			echo "$line" >&"${FD[$name]}"
			SENT[$name]=$((SENT[$name] + 1))
		done
		for i in $(seq 1 500); do
			[ "$(grep -c '^\.$' "$WORK/$name.out")" -ge "${SENT[$name]}" ] && return 0
			sleep 0.01
		done
		echo "#   timeout: $name answered $(grep -c '^\.$' "$WORK/$name.out") of ${SENT[$name]}"
		failed=1
		return 1
	}
	# finish NAME: end its input, wait; its exit status in RC
	finish() {
		eval "exec ${FD[$1]}>&-"
		wait "$(cat "$WORK/$1.pid")"
		RC=$?
	}
	# answers NAME: what the service printed (stdout without the "." ends, stderr)
	answers() { grep -v '^\.$' "$WORK/$1.out"; cat "$WORK/$1.err"; }
	# plain [PREFIX...] -- LINE...: the same commands to a run without the shim
	plain() {
		local pre=()
		while [ "$1" != "--" ]; do
			pre+=("$1")
			shift
		done
		shift
		printf '%s\n' "$@" | "${pre[@]}" "$LACTOR" serve 2>&1 | grep -v '^\.$'
		echo "exit ${PIPESTATUS[1]}"
	}
	# seq_of FILE: its events as "action[:port]" words
	seq_of() { jq -r '.event.action + (if .source then ":" + (.source.port|tostring) else "" end)' "$1" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
	# summary FILE KEY: a value from logcheck.py's "file" line; pidline FILE
	summary() { python3 "$CHECK" "$1" | awk -v k="$2" '$1=="file"{for(i=2;i<=NF;i++){split($i,a,"=");if(a[1]==k)print a[2]}}'; }
	pidline() { python3 "$CHECK" "$1" | awk '$1=="pid"{$2="";print substr($0,6)}'; }
	# whole FILE: every line one JSON event, no NUL, the last line ended
	whole() {
		local s
		s=$(python3 "$CHECK" "$1" | head -1)
		expect_match "$1 is whole lines" "$s" "lines=[0-9]+ bad=0 nul=0 unterminated=0 "
		python3 "$CHECK" "$1" | grep '^bad ' | head -3 | sed 's/^/#   /'
	}
}
export -f helpers

# ---- 1. many writers at once ------------------------------------------------------------

# 4 processes x 8 threads, each thread 20 binds it keeps and CHURN binds it
# closes, all on one port a thread, at debug level: every bind is an event,
# most with 16+ owners (lines of ~2.8 KB). O_APPEND writes of a whole line
# must neither tear nor interleave, across threads (the sink's lock) and
# across processes (the kernel's).
t_threads_and_processes_lose_and_tear_nothing() {
	local P=4 T=8 C=300 p pids=() n total=0 lines maxlen bytes switches
	for p in $(seq 0 $((P - 1))); do
		env $(shimenv "$WORK/ev.jsonl") "$LACTOR" stress $T $C $((20000 + p * 100)) "$WORK/gate" >"$WORK/p$p.out" &
		pids+=($!)
	done
	sleep 0.2 # let them all reach the gate (a start line, not a check)
	touch "$WORK/gate"
	for p in $(seq 0 $((P - 1))); do
		wait "${pids[$p]}"
		expect "process $p exit" "$?" 0
	done
	python3 "$CHECK" "$WORK/ev.jsonl" >"$WORK/check"
	expect_match "the log is whole lines" "$(head -1 "$WORK/check")" "bad=0 nul=0 unterminated=0 "
	grep '^bad ' "$WORK/check" | head -3 | sed 's/^/#   /'
	for p in $(seq 0 $((P - 1))); do
		n=$(awk '{print $2}' "$WORK/p$p.out")
		expect "process $p binds" "$(cat "$WORK/p$p.out")" "binds $((T * (20 + C))) ok $((T * (20 + C)))"
		expect "process $p in the log" \
			"$(awk -v p="${pids[$p]}" '$1=="pid" && $2==p{$1=$2="";print substr($0,3)}' "$WORK/check")" \
			"start=1 stop=1 bind=$n other=0 tids=$T written=$((n + 1)) dropped=0 binds=$n"
		total=$((total + n))
	done
	read -r bytes lines maxlen switches < <(head -1 "$WORK/check" | sed -E 's/.*bytes=([0-9]+) lines=([0-9]+).*maxlen=([0-9]+) switches=([0-9]+).*/\1 \2 \3 \4/')
	expect "lines" "$lines" $((total + 2 * P))
	expect "processes" "$(grep -c '^pid ' "$WORK/check")" $P
	[ "$maxlen" -gt 2048 ] || expect "largest line > 2048 bytes" "$maxlen" ">2048"
	echo "# stress: $P processes x $T threads, $total bind events + $((2 * P)) start/stop = $lines lines, $((bytes / 1024)) KiB, largest line $maxlen bytes, $switches writer switches between neighbouring lines, 0 torn"
}

# ---- 2. rotation ------------------------------------------------------------------------

# logrotate "create" without and with the new file: mv, then the next event
# opens a new file at the path; mv and an admin-made file: the next event
# goes into that file (same inode, its mode kept).
t_rotated_by_rename_then_into_a_created_file() {
	cd "$WORK" || return 1
	serve s env $(shimenv "$WORK/ev.jsonl")
	cmd s "bind 127.0.0.1 20001" "bind 127.0.0.1 20002" || return 1
	mv ev.jsonl ev.1
	cmd s "bind 127.0.0.1 20003" || return 1
	expect "new file made by the shim" "$(stat -c '%a %F' ev.jsonl)" "640 regular file"
	mv ev.jsonl ev.2
	install -m 604 /dev/null ev.jsonl
	local ino
	ino=$(stat -c %i ev.jsonl)
	cmd s "bind 127.0.0.1 20004" || return 1
	finish s
	expect "exit" "$RC" 0
	expect "first file" "$(seq_of ev.1)" "start bind:20001 bind:20002"
	expect "after mv" "$(seq_of ev.2)" "bind:20003"
	expect "admin's file" "$(seq_of ev.jsonl)" "bind:20004 stop"
	expect "admin's file kept" "$(stat -c '%i %a' ev.jsonl)" "$ino 604"
	expect "stop counters" "$(jq -c 'select(.event.action=="stop")|.bindguard.counters|[.events_written,.events_dropped]' ev.jsonl)" "[5,0]"
	whole ev.1
	whole ev.2
	whole ev.jsonl
}

# copytruncate: cp, then truncate in place; the next line must land at
# offset 0 (O_APPEND), not after a hole of NULs where the old end was.
t_rotated_by_copytruncate_without_a_hole() {
	cd "$WORK" || return 1
	serve s env $(shimenv "$WORK/ev.jsonl")
	cmd s "bind 127.0.0.1 20001" "bind 127.0.0.1 20002" || return 1
	local ino size
	ino=$(stat -c %i ev.jsonl)
	size=$(stat -c %s ev.jsonl)
	cp ev.jsonl ev.1
	truncate -s 0 ev.jsonl
	cmd s "bind 127.0.0.1 20003" || return 1
	expect "first byte" "$(head -c 1 ev.jsonl)" "{"
	expect "size is the one line" "$(stat -c %s ev.jsonl)" "$(head -1 ev.jsonl | wc -c)"
	cmd s "bind 127.0.0.1 20004" || return 1
	finish s
	expect "exit" "$RC" 0
	expect "copy" "$(seq_of ev.1)" "start bind:20001 bind:20002"
	expect "truncated file" "$(seq_of ev.jsonl)" "bind:20003 bind:20004 stop"
	expect "same file (not reopened)" "$(stat -c %i ev.jsonl)" "$ino"
	expect "NUL bytes" "$(tr -cd '\0' <ev.jsonl | wc -c)" 0
	whole ev.jsonl
	echo "# copytruncate: $size bytes copied and truncated; next line at offset 0, 0 NUL bytes"
}

# rm: the next event creates the file again.
t_removed_log_is_created_again() {
	cd "$WORK" || return 1
	serve s env $(shimenv "$WORK/ev.jsonl")
	cmd s "bind 127.0.0.1 20001" || return 1
	rm ev.jsonl
	cmd s "bind 127.0.0.1 20002" || return 1
	[ -f ev.jsonl ] || expect "file after rm and one event" missing present
	finish s
	expect "exit" "$RC" 0
	expect "new file" "$(seq_of ev.jsonl)" "bind:20002 stop"
	expect "stop counters" "$(jq -c 'select(.event.action=="stop")|.bindguard.counters|[.events_written,.events_dropped]' ev.jsonl)" "[3,0]"
}

# ---- 3. faults ----------------------------------------------------------------------------

# Commands every fault test gives the service, before and after the fault is
# repaired: binds that succeed, fail (EACCES as nobody, EADDRINUSE), an auto
# port, a refused connect. Every bind is one event at debug level.
BEFORE=("bind 127.0.0.1 80" "bind 127.0.0.1 20001" "bind 127.0.0.1 20001" "connect 127.0.0.1 20001" "bind 127.0.0.2 0")
AFTER=("bind 127.0.0.1 20002" "close")
export BEFORE_S="${BEFORE[*]@Q}" AFTER_S="${AFTER[*]@Q}"
fault_cmds() {
	eval "BEFORE=($BEFORE_S); AFTER=($AFTER_S)"
	NBEFORE=$(printf '%s\n' "${BEFORE[@]}" | grep -c '^bind')
}

# fault_check LOG WHAT PLAIN: the service's answers equal PLAIN; LOG holds
# the events after the repair and a stop event that counts the lost ones
# [TOLD]: then stdout and exit equal PLAIN, and stderr is the line TOLD
fault_check() {
	local log=$1 what=$2 plain=$3 rc=$4
	if [ $# -ge 5 ]; then
		expect "$what: service output (with the shim vs without)" "$(grep -v '^\.$' "$WORK/s.out"; echo "exit $rc")" "$plain"
		expect "$what: stderr" "$(cat "$WORK/s.err")" "$5"
	else
		expect "$what: service answers (with the shim vs without)" "$(answers s; echo "exit $rc")" "$plain"
	fi
	whole "$log"
	expect "$what: events after the repair" "$(seq_of "$log")" "bind:20002 stop"
	expect "$what: stop counters [binds, written, dropped]" \
		"$(jq -c 'select(.event.action=="stop")|.bindguard.counters|[.binds,.events_written,.events_dropped]' "$log")" \
		"[$((NBEFORE + 1)),1,$((NBEFORE + 1))]"
	echo "# $what: $((NBEFORE + 1)) events lost (start + $NBEFORE binds), stop event: events_dropped=$(jq 'select(.event.action=="stop")|.bindguard.counters.events_dropped' "$log")"
}

# A log the service's user may not write (nobody, a root-owned 0755
# directory), then made writable.
t_unwritable_log_leaves_the_service_alone() {
	fault_cmds
	local plain_out
	plain_out=$(plain $NOBODY -- "${BEFORE[@]}" "${AFTER[@]}")
	mkdir -m 755 "$WORK/logs"
	serve s $NOBODY env $(shimenv "$WORK/logs/ev.jsonl")
	cmd s "${BEFORE[@]}" || return 1
	expect "nothing written while unwritable" "$(ls -A "$WORK/logs")" ""
	chown nobody "$WORK/logs"
	cmd s "${AFTER[@]}" || return 1
	finish s
	# not silent: one line on stderr, once, while it cannot be opened
	fault_check "$WORK/logs/ev.jsonl" "unwritable" "$plain_out" "$RC" \
		"bindguard: log $WORK/logs/ev.jsonl: cannot open: Permission denied; events dropped until it can be"
	expect "owner of the late log" "$(stat -c '%U %a' "$WORK/logs/ev.jsonl")" "nobody 640"
}

# The log's directory does not exist yet, then is made.
t_missing_log_directory_leaves_the_service_alone() {
	fault_cmds
	local plain_out
	plain_out=$(plain -- "${BEFORE[@]}" "${AFTER[@]}")
	serve s env $(shimenv "$WORK/no/such/dir/ev.jsonl")
	cmd s "${BEFORE[@]}" || return 1
	expect "nothing created" "$(ls -A "$WORK" | grep -c '^no$')" 0
	mkdir -p "$WORK/no/such/dir"
	cmd s "${AFTER[@]}" || return 1
	finish s
	fault_check "$WORK/no/such/dir/ev.jsonl" "missing directory" "$plain_out" "$RC" \
		"bindguard: log $WORK/no/such/dir/ev.jsonl: cannot open: No such file or directory; events dropped until it can be"
}

# A full disk: a 16 KiB tmpfs in a private mount namespace, filled up after
# the first event; N events; space freed; one more. An event is written
# whole or not at all (a piece of a line would glue the next event to it),
# and the stop event's events_dropped is the number not written.
full_disk_body() {
	fault_cmds
	local N=12 i more=() plain_out landed dropped
	for i in $(seq 1 $N); do more+=("bind 127.0.0.1 $((20100 + i))"); done
	plain_out=$(plain -- "bind 127.0.0.1 20001" "${more[@]}" "bind 127.0.0.1 20002")
	mkdir "$WORK/full"
	mount -t tmpfs -o size=16k,mode=755 tmpfs "$WORK/full" || return 1
	serve s env $(shimenv "$WORK/full/ev.jsonl")
	cmd s "bind 127.0.0.1 20001" || return 1
	cat /dev/zero >"$WORK/full/fill" 2>/dev/null
	expect "tmpfs full" "$(df --output=avail "$WORK/full" | tail -1 | tr -d ' ')" 0
	cmd s "${more[@]}" || return 1
	rm "$WORK/full/fill"
	cmd s "bind 127.0.0.1 20002" || return 1
	finish s
	expect "service answers (with the shim vs without)" "$(answers s; echo "exit $RC")" "$plain_out"
	whole "$WORK/full/ev.jsonl"
	landed=$(python3 "$CHECK" "$WORK/full/ev.jsonl" | awk '$1=="port" && $2>20100 && $2<=20100+'$N'{n+=$3} END{print n+0}')
	dropped=$(jq 'select(.event.action=="stop")|.bindguard.counters.events_dropped' "$WORK/full/ev.jsonl")
	expect "events_dropped = events not in the file" "$dropped" $((N - landed))
	[ "$landed" -lt $N ] || expect "the full disk refused some events" "$landed" "<$N"
	expect "first and last event" "$(seq_of "$WORK/full/ev.jsonl" | awk '{print $1, $2, $(NF-1), $NF}')" "start bind:20001 bind:20002 stop"
	expect "events_written = lines before stop" \
		"$(jq 'select(.event.action=="stop")|.bindguard.counters.events_written' "$WORK/full/ev.jsonl")" \
		$(($(wc -l <"$WORK/full/ev.jsonl") - 1))
	echo "# full disk (16 KiB tmpfs): $N events while full, $landed written whole (room left in the log's last page), $dropped dropped and counted, 0 partial lines"
	umount "$WORK/full"
}
t_full_disk_drops_whole_events_and_counts_them() {
	unshare -m --propagation private bash -c "failed=0; helpers; $(declare -f full_disk_body fault_cmds); full_disk_body; [ \$failed -eq 0 ]"
}

# ---- 4. security ----------------------------------------------------------------------------

# A setuid program (AT_SECURE: ruid nobody, euid daemon) with BINDGUARD_LOG,
# BINDGUARD_CONFIG and BINDGUARD_MODE set must ignore them. glibc ignores
# LD_PRELOAD paths for setuid programs, so the shim comes from
# /etc/ld.so.preload, written into an overlay of /etc in a private mount
# namespace (the host's /etc is untouched). The control is the same program
# without the setuid bit, same environment: there the config (enforce) and
# the log path are honoured.
setuid_body() {
	range 40000 40000
	seed_owner || return 1
	mkdir -m 1777 "$WORK/logs"
	mkdir "$WORK/up" "$WORK/wk"
	printf '{"mode":"enforce","level":"debug","log":"%s"}\n' "$WORK/logs/cfg-log.jsonl" >"$WORK/enforce.json"
	cp "$LACTOR" "$WORK/suid"
	cp "$LACTOR" "$WORK/nosuid"
	chown daemon "$WORK/suid"
	chmod 4755 "$WORK/suid"
	chmod 755 "$WORK/nosuid"
	mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/up,workdir=$WORK/wk" /etc || return 1
	rm -rf /etc/bindguard # only the built-in defaults, whatever the host has
	echo "$SHIM" >/etc/ld.so.preload
	local b
	for b in suid nosuid; do
		echo "bind 127.0.0.2 40000" | BINDGUARD_CONFIG="$WORK/enforce.json" BINDGUARD_LOG="$WORK/logs/env-$b.jsonl" \
			BINDGUARD_MODE=enforce $NOBODY "$WORK/$b" serve >"$WORK/$b.out" 2>"$WORK/$b.err"
		echo "exit $?" >>"$WORK/$b.out"
	done
	rm /etc/ld.so.preload
	umount /etc
	# control: environment honoured
	expect "control: blocked (config's enforce)" "$(grep -v '^\.$' "$WORK/nosuid.out" | tr '\n' ' ')" "bind 127.0.0.2 40000 EADDRINUSE exit 0 "
	expect "control: env log" "$(seq_of "$WORK/logs/env-nosuid.jsonl")" "start bind:40000 stop"
	# setuid: environment ignored, shim active with its defaults (stderr)
	expect "setuid: allowed (audit default)" "$(grep -v '^\.$' "$WORK/suid.out" | tr '\n' ' ')" "bind 127.0.0.2 40000 ok exit 0 "
	expect "setuid: files in the log folder" "$(ls -A "$WORK/logs" | tr '\n' ' ')" "env-nosuid.jsonl "
	local err=$WORK/suid.err
	expect "setuid: events on stderr" "$(seq_of "$err")" "start bind:40000 stop"
	expect "setuid: config used" "$(jq -c 'select(.event.action=="start")|.bindguard.config|[.source,.mode,.log]' "$err")" '["built-in defaults","audit","stderr"]'
	expect "setuid: bind event" "$(jq -c 'select(.event.action=="bind")|[.bindguard.hazard,.bindguard.decision]' "$err")" '["pin_halfclosed","log"]'
	expect "setuid: config path never named" "$(grep -c enforce.json "$err")" 0
}
t_setuid_program_ignores_environment_paths() {
	unshare -m --propagation private bash -c "failed=0; helpers; $(declare -f setuid_body); setuid_body; rc=\$?; stop_all; [ \$rc -eq 0 ] && [ \$failed -eq 0 ]"
}

# A symlink at the log path (to an existing file, and dangling): nothing
# written through it, the target untouched, the service unaffected but for
# one line on stderr naming the log and what it is; once the
# symlink is replaced by nothing, the next event creates a real file, and
# the stop event counts what the symlink cost.
t_symlink_at_log_path_is_refused() {
	fault_cmds
	cd "$WORK" || return 1
	local plain_out link
	plain_out=$(plain -- "${BEFORE[@]}" "${AFTER[@]}")
	echo "precious data" >target
	cp target target.orig
	for link in target notthere; do
		rm -f s.in ev.jsonl
		ln -s $link ev.jsonl
		serve s env $(shimenv "$WORK/ev.jsonl")
		cmd s "${BEFORE[@]}" || return 1
		cmp -s target target.orig || expect "symlink to $link: target" "$(cat target)" "precious data"
		[ -e notthere ] && expect "symlink to $link: dangling target created" yes no
		expect "symlink to $link: still a symlink" "$(stat -c %F ev.jsonl)" "symbolic link"
		rm ev.jsonl
		cmd s "${AFTER[@]}" || return 1
		finish s
		fault_check "$WORK/ev.jsonl" "symlink to $link" "$plain_out" "$RC" \
			"bindguard: log $WORK/ev.jsonl: a symbolic link, not a regular file; refused, events dropped"
	done
	expect "target after all" "$(cat target)" "precious data"
	[ -e notthere ] && expect "dangling target created" yes no
	return 0
}

# The config trust rule: a config is refused unless every user who can
# write it is trusted: its owner must be root or the process's effective
# user, and it must not be writable by others (o+w). Group write is the
# admin's explicit grant and stays allowed. A refused config: one message
# naming the path on stderr and in a config_error event, the built-in
# defaults (here: level info, so no bind event).
config_case() { # NAME OWNER MODE RUN-AS(root|nobody)
	local name=$1 cfg=$WORK/cfgs/$1.json
	printf '{"level":"debug"}\n' >"$cfg"
	chown "$2" "$cfg"
	chmod "$3" "$cfg"
	local pre=()
	[ "$4" = nobody ] && pre=($NOBODY)
	echo "bind 127.0.0.1 20001" | "${pre[@]}" env $(preload BINDGUARD_CONFIG="$cfg" \
		BINDGUARD_LOG="$WORK/logs/$name.jsonl") "$LACTOR" serve >"$WORK/$name.out" 2>"$WORK/$name.err"
	expect "$name: exit" "$?" 0
	expect "$name: bind" "$(head -1 "$WORK/$name.out")" "bind 127.0.0.1 20001 ok"
}
config_refused() { # NAME WHY
	local cfg=$WORK/cfgs/$1.json log=$WORK/logs/$1.jsonl
	expect "$1: stderr" "$(cat "$WORK/$1.err")" "bindguard: $cfg: $2; running in audit mode with defaults"
	expect "$1: config_error event" "$(jq -r 'select(.event.action=="config_error")|.error.message' "$log")" "$cfg: $2"
	expect "$1: events (defaults: no debug binds)" "$(seq_of "$log")" "config_error start stop"
}
config_taken() { # NAME
	expect "$1: stderr" "$(cat "$WORK/$1.err")" ""
	expect "$1: events (debug level applied)" "$(seq_of "$WORK/logs/$1.jsonl")" "start bind:20001 stop"
	expect "$1: source" "$(jq -r 'select(.event.action=="start")|.bindguard.config.source' "$WORK/logs/$1.jsonl")" "$WORK/cfgs/$1.json"
}
t_config_writable_by_others_is_refused() {
	mkdir -m 755 "$WORK/cfgs"
	mkdir -m 1777 "$WORK/logs"
	config_case world_writable root 666 root
	config_refused world_writable "writable by other users (chmod o-w); refused"
	config_case other_owner nobody 644 root
	config_refused other_owner "owned by uid 65534, not by root or by this process's user (uid 0); refused"
	config_case other_owner_as_nobody daemon 644 nobody
	config_refused other_owner_as_nobody "owned by uid 1, not by root or by this process's user (uid 65534); refused"
	config_case own_file nobody 600 nobody
	config_taken own_file
	config_case roots_file root 644 nobody
	config_taken roots_file
	config_case group_writable root 664 root
	config_taken group_writable
}

# No descriptor of the shim survives exec: the log (O_CLOEXEC, on a high
# fd) is open before, gone after. The sock_diag netlink socket lives only
# during a query: a thread binds in the ephemeral range in a loop (a query
# each time) while the main thread execs; a netlink socket without
# SOCK_CLOEXEC is caught in 9 of 10 tries, so five tries. The application's
# own socket, opened without O_CLOEXEC, stays: the listing works.
t_no_shim_descriptor_survives_exec() {
	local i before after logfd nl=0
	for i in 1 2 3 4 5; do
		serve s$i env $(preload BINDGUARD_LOG="$WORK/ev$i.jsonl")
		cmd s$i "bind 127.0.0.1 40001" "fds" "churn 40002" || return 1
		before=$(sed -n '/^fds$/,/^\.$/p' "$WORK/s$i.out" | grep '^fd ' | sort)
		logfd=$(grep " $WORK/ev$i.jsonl\$" <<<"$before" | awk '{print $2}')
		[ -n "$logfd" ] || expect "log open before exec (else this proves nothing)" "no" "yes"
		expect "no netlink socket held between calls" "$(grep -c netlink <<<"$before")" 0
		cmd s$i "exec $LACTOR fds" || return 1
		after=$(awk 'f && /^fd /; /^\.$/{n++; if (n==3) f=1}' "$WORK/s$i.out" | sort)
		expect "descriptors after exec = before, less the log" "$after" "$(grep -v "^fd $logfd " <<<"$before")"
		expect "the log after exec" "$(grep -c "$WORK/ev$i.jsonl" <<<"$after")" 0
		nl=$((nl + $(grep -c netlink <<<"$after")))
		wait "$(cat "$WORK/s$i.pid")"
	done
	expect "netlink sockets after exec (5 tries)" "$nl" 0
	expect "queries ran (start event's view)" "$(jq -r .bindguard.view "$WORK/ev1.jsonl")" sock_diag
	echo "# exec: 5 tries during a bind loop; before: $(wc -l <<<"$before") descriptors (log on fd $logfd), after: $(wc -l <<<"$after"), netlink after: $nl"
}

# ---- 5. what the log path may be (issue 11, items 1 and 8) ------------------------------

# The shim never blocks on its log: a FIFO without a reader at the path
# (open() for writing would wait for one forever) is refused like anything
# that is not a regular file: one line on stderr naming the path and what it
# is, the events dropped and counted. The service runs under `timeout`: a
# hang ends it, and the test fails instead of the suite hanging.
told_dropped() { echo "bindguard: log $1: $2; refused, events dropped"; }
t_fifo_at_log_path_never_blocks_the_service() {
	fault_cmds
	cd "$WORK" || return 1
	local plain_out
	plain_out=$(plain -- "${BEFORE[@]}" "${AFTER[@]}")
	mkfifo ev.jsonl
	serve s timeout 10 env $(shimenv "$WORK/ev.jsonl")
	cmd s "${BEFORE[@]}" || return 1
	expect "still a FIFO" "$(stat -c %F ev.jsonl)" "fifo"
	rm ev.jsonl
	cmd s "${AFTER[@]}" || return 1
	finish s
	fault_check "$WORK/ev.jsonl" "FIFO at start" "$plain_out" "$RC" \
		"$(told_dropped "$WORK/ev.jsonl" "a FIFO, not a regular file")"
}

# Every thread's first socket() at once, the log a FIFO: the one that sets
# the shim up must not block in open(), nor the others behind it.
t_fifo_at_log_path_never_blocks_threads() {
	mkfifo "$WORK/ev.jsonl"
	touch "$WORK/gate"
	timeout 10 env $(shimenv "$WORK/ev.jsonl") "$LACTOR" stress 8 5 20000 "$WORK/gate" >"$WORK/out" 2>"$WORK/err"
	expect "exit (124: hung)" "$?" 0
	expect "binds" "$(cat "$WORK/out")" "binds 200 ok 200"
	expect "stderr" "$(cat "$WORK/err")" "$(told_dropped "$WORK/ev.jsonl" "a FIFO, not a regular file")"
}

# A rotation puts a FIFO at the path (mv, mkfifo) while the service runs:
# the next event does not block on it; the log goes on in the file already
# open (the renamed one), as when the new path cannot be opened, and once a
# regular file can be made at the path again the events go there.
t_fifo_put_at_log_path_by_rotation_never_blocks() {
	cd "$WORK" || return 1
	local cmds=("bind 127.0.0.1 20001" "bind 127.0.0.1 20002" "bind 127.0.0.1 20003" "bind 127.0.0.1 20004")
	local plain_out
	plain_out=$(plain -- "${cmds[@]}")
	serve s timeout 10 env $(shimenv "$WORK/ev.jsonl")
	cmd s "${cmds[0]}" || return 1
	mv ev.jsonl ev.1
	mkfifo ev.jsonl
	cmd s "${cmds[1]}" "${cmds[2]}" || return 1
	rm ev.jsonl
	cmd s "${cmds[3]}" || return 1
	finish s
	expect "service output (with the shim vs without)" "$(grep -v '^\.$' s.out; echo "exit $RC")" "$plain_out"
	expect "stderr" "$(cat s.err)" \
		"bindguard: log $WORK/ev.jsonl: a FIFO, not a regular file; refused, the log goes on in the file already open"
	expect "renamed file" "$(seq_of ev.1)" "start bind:20001 bind:20002 bind:20003"
	expect "new file" "$(seq_of ev.jsonl)" "bind:20004 stop"
	expect "stop counters [binds, written, dropped]" \
		"$(jq -c 'select(.event.action=="stop")|.bindguard.counters|[.binds,.events_written,.events_dropped]' ev.jsonl)" "[4,5,0]"
	whole ev.1
	whole ev.jsonl
}

# once NAME LOG [PREFIX...]: one bind under the shim (PREFIX: e.g. $NOBODY),
# logging to LOG; its stdout and exit status in NAME.out, stderr in NAME.err
once() {
	local name=$1 log=$2
	shift 2
	echo "bind 127.0.0.1 20001" | timeout 10 "$@" env $(shimenv "$log") "$LACTOR" serve >"$WORK/$name.out" 2>"$WORK/$name.err"
	echo "exit $?" >>"$WORK/$name.out"
}
# once_refused NAME LOG WHY: the service as without the shim, one line
once_refused() {
	expect "$1: output (with the shim vs without)" "$(cat "$WORK/$1.out")" "$(printf 'bind 127.0.0.1 20001 ok\n.\nexit 0')"
	expect "$1: stderr" "$(cat "$WORK/$1.err")" "$(told_dropped "$2" "$3")"
}
# once_taken NAME LOG OWNER: no line, the events in LOG, a file of OWNER
once_taken() {
	expect "$1: output" "$(cat "$WORK/$1.out")" "$(printf 'bind 127.0.0.1 20001 ok\n.\nexit 0')"
	expect "$1: stderr" "$(cat "$WORK/$1.err")" ""
	expect "$1: events" "$(seq_of "$2")" "start bind:20001 stop"
	expect "$1: file" "$(stat -c '%U %a %F' "$2")" "$3 640 regular file"
}

# A write that fails raises a signal whose default kills: SIGPIPE on a pipe
# nobody reads (a daemon's stderr after its logger died), SIGXFSZ on a file
# past RLIMIT_FSIZE (sshd's pre-auth child sets it to 0, with stderr a file).
# The shim's writes never raise them: the events are dropped and counted,
# and the service runs as without the shim.
t_log_writes_never_raise_sigpipe_or_sigxfsz() {
	local cmds="bind 127.0.0.1 20001
bind 127.0.0.1 20002"
	local run rc
	for run in plain shim; do
		local envs=()
		[ $run = shim ] && read -ra envs <<<"$(shimenv stderr)"
		# stderr: a pipe whose reader is gone before the first event
		{ (sleep 0.5; echo "$cmds") | env "${envs[@]}" "$LACTOR" serve 2>&1 >"$WORK/pipe-$run.out" | true; } 2>/dev/null
		echo "exit ${PIPESTATUS[1]}" >>"$WORK/pipe-$run.out"
	done
	expect "stderr a closed pipe: output and exit (with the shim vs without)" \
		"$(cat "$WORK/pipe-shim.out")" "$(cat "$WORK/pipe-plain.out")"
	for run in plain shim; do
		local envs=()
		[ $run = shim ] && read -ra envs <<<"$(shimenv "$WORK/fsize.jsonl")"
		# RLIMIT_FSIZE 0: no file may grow, the log nor stderr (a file)
		echo "$cmds" | bash -c 'ulimit -f 0; exec "$@"' - env "${envs[@]}" "$LACTOR" serve 2>"$WORK/fsize-$run.err" | cat >"$WORK/fsize-$run.out"
		echo "exit ${PIPESTATUS[1]}" >>"$WORK/fsize-$run.out"
	done
	expect "RLIMIT_FSIZE 0: output and exit (with the shim vs without)" \
		"$(cat "$WORK/fsize-shim.out")" "$(cat "$WORK/fsize-plain.out")"
	expect "RLIMIT_FSIZE 0: the log stayed empty" "$(stat -c %s "$WORK/fsize.jsonl")" 0
}

# Other things that are not regular files: a character device, a directory,
# a socket. /dev/null itself is the usual way to say "no log": the events are
# discarded without a word (and the device is never opened).
t_log_path_not_a_regular_file_is_refused() {
	mkdir "$WORK/adir"
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$WORK/sock"
	once zero /dev/zero
	once_refused zero /dev/zero "a character device, not a regular file"
	once null /dev/null
	expect "null: output" "$(cat "$WORK/null.out")" "$(printf 'bind 127.0.0.1 20001 ok\n.\nexit 0')"
	expect "null: stderr" "$(cat "$WORK/null.err")" ""
	once dir "$WORK/adir"
	once_refused dir "$WORK/adir" "a directory, not a regular file"
	expect "nothing made in the directory" "$(ls -A "$WORK/adir")" ""
	once sock "$WORK/sock"
	once_refused sock "$WORK/sock" "a socket, not a regular file"
}

# O_NOFOLLOW guards the last component only: a user who can make
# /tmp/link -> /some/dir would have a root service create its log there.
# A symlink in any component of the path is refused: made by another user
# in a sticky directory, or by root; nothing is created where it points.
t_log_path_through_a_symlinked_directory_is_refused() {
	mkdir -m 1777 "$WORK/pub"
	mkdir -m 755 "$WORK/victim" "$WORK/victim/sub"
	$NOBODY ln -s "$WORK/victim" "$WORK/pub/link"
	ln -s "$WORK/victim" "$WORK/rootlink"
	once user "$WORK/pub/link/bg.log"
	once_refused user "$WORK/pub/link/bg.log" "$WORK/pub/link is a symbolic link"
	once higher "$WORK/rootlink/sub/bg.log"
	once_refused higher "$WORK/rootlink/sub/bg.log" "$WORK/rootlink is a symbolic link"
	expect "nothing created where the links point" "$(find "$WORK/victim" -type f)" ""
}

# A directory of the path that users other than root and the process's own
# can write lets them put anything at the path: refused unless sticky (o+w
# anywhere in the path, not sticky; owned by another user). In a sticky
# directory, a file already there must be root's or the process's own.
# Group write is the admin's grant, as for a config.
t_log_directory_writable_by_others_is_refused() {
	mkdir -m 777 "$WORK/open"
	chmod 777 "$WORK/open"
	mkdir -p "$WORK/deep/sub"
	chmod 757 "$WORK/deep"
	mkdir "$WORK/alien"
	chown nobody "$WORK/alien"
	mkdir -m 1777 "$WORK/pub"
	chmod 1777 "$WORK/pub"
	install -o daemon -g nogroup -m 664 /dev/null "$WORK/pub/daemon.log" # nobody may write it
	once open "$WORK/open/bg.log"
	once_refused open "$WORK/open/bg.log" "directory $WORK/open is writable by other users and not sticky (chmod o-w or +t)"
	expect "nothing created in the open directory" "$(ls -A "$WORK/open")" ""
	once deep "$WORK/deep/sub/bg.log"
	once_refused deep "$WORK/deep/sub/bg.log" "directory $WORK/deep is writable by other users and not sticky (chmod o-w or +t)"
	expect "nothing created under the open directory" "$(find "$WORK/deep" -type f)" ""
	once alien "$WORK/alien/bg.log"
	once_refused alien "$WORK/alien/bg.log" "directory $WORK/alien is owned by uid 65534, not by root or by this process's user (uid 0)"
	expect "nothing created in the other user's directory" "$(ls -A "$WORK/alien")" ""
	once planted "$WORK/pub/daemon.log" $NOBODY
	once_refused planted "$WORK/pub/daemon.log" "owned by uid 1, not by root or by this process's user (uid 65534)"
	expect "the other user's file untouched" "$(stat -c %s "$WORK/pub/daemon.log")" 0
}

# What stays accepted: a directory of root's (group-writable too), a sticky
# directory like /tmp (the file the service makes there is its own), the
# service's own directory.
t_log_under_root_or_sticky_directory_is_accepted() {
	mkdir -m 755 "$WORK/logs" "$WORK/mine"
	mkdir -m 775 "$WORK/grp"
	chgrp daemon "$WORK/grp"
	chown nobody "$WORK/mine"
	mkdir -m 1777 "$WORK/pub"
	chmod 1777 "$WORK/pub"
	once root "$WORK/logs/bg.log"
	once_taken root "$WORK/logs/bg.log" root
	once grp "$WORK/grp/bg.log"
	once_taken grp "$WORK/grp/bg.log" root
	once sticky "$WORK/pub/bg.log" $NOBODY
	once_taken sticky "$WORK/pub/bg.log" nobody
	once mine "$WORK/mine/bg.log" $NOBODY
	once_taken mine "$WORK/mine/bg.log" nobody
	once dots "$WORK/logs/../logs//dots.log"
	once_taken dots "$WORK/logs/dots.log" root
}

EXTRA_FUNCS="fault_cmds fault_check full_disk_body setuid_body config_case config_refused config_taken told_dropped once once_refused once_taken"
run_tests logsec 30
