#!/usr/bin/env bash
# e2e.sh: end-to-end tests with real processes under LD_PRELOAD, each in its
# own network namespace (unshare -n) whose ephemeral range is port 40000 only.
# Usage: tests/e2e/e2e.sh BUILD_DIR [NAME-FILTER]
# Prints "ok NAME" / "FAIL NAME" per test, then "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$here/${1:-build}" && pwd)
FILTER=${2:-}
SKIP=${SKIP:-}
export BUILD
source "$here/tests/lib.sh"
suite_env

# ---- helpers available inside every test -----------------------------------
helpers() {
	source "$here/tools/scenario.sh"
	binds() { jq -c 'select(.event.action=="bind" or .event.action=="listen")' "$WORK/ev.jsonl" 2>/dev/null; }
	field() { binds | head -1 | jq -r "$1"; }
	# after B closed, the pin outlives it only on pre-6.18 kernels
	after_close() { [ "$PROFILE" = release ] && echo ok || echo EADDRNOTAVAIL; }
	ns_setup
}
export -f helpers
export here

# ---- the tests ----------------------------------------------------------------------

t_seed_without_shim_is_the_kernels_own_pin() {
	seed_owner || return 1
	start b -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "bind" "$(head -1 "$WORK/b.out")" "bind ok 127.0.0.2 40000"
	expect "probe while B open" "$(probe)" "EADDRNOTAVAIL"
	stop b
	expect "probe after B closed ($PROFILE)" "$(probe)" "$(after_close)"
	stop a
	expect "probe after A closed" "$(probe)" "ok"
}

t_seed_two_processes_audit_logs_pin_halfclosed() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=audit) -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "bind (kernel's result)" "$(head -1 "$WORK/b.out")" "bind ok 127.0.0.2 40000"
	expect "probe while B open" "$(probe)" "EADDRNOTAVAIL"
	stop b
	expect "probe after B closed ($PROFILE)" "$(probe)" "$(after_close)"
	expect "bind events" "$(binds | wc -l)" 1
	expect "hazard" "$(field .bindguard.hazard)" pin_halfclosed
	expect "decision" "$(field .bindguard.decision)" log
	expect "outcome" "$(field .event.outcome)" success
	expect "kind" "$(field .event.kind)" alert
	expect "source" "$(field '.source.ip + ":" + (.source.port|tostring)')" "127.0.0.2:40000"
	expect "bucket before" "$(field '.bindguard.bucket.before|[.fastreuse,.fastreuseport]|@csv')" "-1,-1"
	expect "owners" "$(field '.bindguard.owners|length')" 1
	expect "owner state" "$(field '.bindguard.owners[0].state')" CLOSE_WAIT
	expect "owner local" "$(field '.bindguard.owners[0].local')" 127.0.0.1:40000
	expect "owner remote" "$(field '.bindguard.owners[0].remote')" 127.0.0.1:9000
	expect "owner connect_bound" "$(field '.bindguard.owners[0].connect_bound')" inferred
	# A's socket, by its inode: the shim names no other process (no /proc walk
	# inside bind()); `bindguard report` names A from that inode
	local ino
	ino=$(ss -Htane state close-wait '( sport = :40000 )' | grep -o 'ino:[0-9]*' | cut -d: -f2)
	expect "owner pid (another process's: not named)" "$(field '.bindguard.owners[0].pid')" null
	expect "owner inode" "$(field '.bindguard.owners[0].inode')" "$ino"
	expect "A holds it" "$(readlink "/proc/$(cat "$WORK/a.pid")/fd/"* | grep -c "^socket:\[$ino\]$")" 1
	expect "report names A" "$("$TOOL" report --json "$WORK/ev.jsonl" | jq -c '.halfclosed_owners | map([.pid, .resolved_at_report])')" \
		"[[$(cat "$WORK/a.pid"),true]]"
	expect "error" "$(field '.error')" null
	expect "profile" "$(field .bindguard.profile)" "$PROFILE"
	schema_ok
}

t_seed_two_processes_enforce_blocks_and_port_stays_shared() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=enforce) -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "bind" "$(head -1 "$WORK/b.out")" "bind error EADDRINUSE"
	expect "probe gets the shared port" "$("$ACTOR" probe 127.0.0.1 5003)" "probe ok 127.0.0.1 40000"
	stop b
	expect "decision" "$(field .bindguard.decision)" block
	expect "hazard" "$(field .bindguard.hazard)" pin_halfclosed
	expect "outcome" "$(field .event.outcome)" failure
	expect "error.code" "$(field .error.code)" EADDRINUSE
	expect_match "message names the owner" "$(field .message)" "CLOSE_WAIT 127.0.0.1:40000->127.0.0.1:9000"
	schema_ok
}

t_audit_returns_what_the_kernel_returns_in_the_seed() {
	seed_owner || return 1
	local plain shim
	start b -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	plain="$(head -1 "$WORK/b.out") $(probe)"
	stop b
	start c $(preload BINDGUARD_MODE=audit) -- bind 127.0.0.3 40000
	wait_line "$WORK/c.out" "^bind" || return 1
	shim="$(head -1 "$WORK/c.out" | sed 's/127.0.0.3/127.0.0.2/') $(probe)"
	stop c
	expect "without vs with the shim" "$shim" "$plain"
}

t_seed_in_one_process_audit_and_enforce() {
	start server -- server 127.0.0.1 9000
	start probesrv -- server 127.0.0.1 5003
	wait_line "$WORK/server.out" ready && wait_line "$WORK/probesrv.out" ready || return 1
	local plain audit
	plain=$("$ACTOR" inprocess 127.0.0.1 9000 127.0.0.2 127.0.0.1 5003 | tr '\n' '|')
	sleep 0.2
	audit=$(env $(preload BINDGUARD_MODE=audit) "$ACTOR" inprocess 127.0.0.1 9000 127.0.0.2 127.0.0.1 5003 | tr '\n' '|')
	expect "audit output equals plain output" "$audit" "$plain"
	expect "hazard" "$(field .bindguard.hazard)" pin_halfclosed
	expect "own owner is known connect-bound" "$(field '.bindguard.owners[0].connect_bound')" yes
	expect "owner pid is the process itself" "$(field '.bindguard.owners[0].pid')" "$(field .process.pid)"
	schema_ok
	rm -f "$WORK/ev.jsonl"
	sleep 0.2
	local enforce
	enforce=$(env $(preload BINDGUARD_MODE=enforce) "$ACTOR" inprocess 127.0.0.1 9000 127.0.0.2 127.0.0.1 5003 | tr '\n' '|')
	expect "enforce" "$enforce" "closewait 127.0.0.1 40000|bind error EADDRINUSE|probe ok 127.0.0.1 40000|probe ok 127.0.0.1 40000|"
	expect "decision" "$(field .bindguard.decision)" block
}

t_v6only_loopback_binder_is_caught() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=audit) -- bind ::1 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "bind" "$(head -1 "$WORK/b.out")" "bind ok ::1 40000"
	expect "probe while B open" "$(probe)" "EADDRNOTAVAIL"
	stop b
	expect "hazard" "$(field .bindguard.hazard)" pin_halfclosed
	expect "source.ip" "$(field .source.ip)" "::1"
	rm -f "$WORK/ev.jsonl"
	start c $(preload BINDGUARD_MODE=enforce) -- bind :: 40000 v6only
	wait_line "$WORK/c.out" "^bind" || return 1
	expect "[::] v6only under enforce" "$(head -1 "$WORK/c.out")" "bind error EADDRINUSE"
	expect "probe" "$(probe)" "ok"
	stop c
	expect "hazard" "$(field .bindguard.hazard)" pin_halfclosed
	schema_ok
}

t_dual_stack_wildcard_conflicts_and_stays_silent() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=enforce) -- bind :: 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "kernel refuses [::]:40000 (overlaps A)" "$(head -1 "$WORK/b.out")" "bind error EADDRINUSE"
	stop b
	expect "no hazard event for a bind the kernel refuses" "$(binds | wc -l)" 0
	start c $(preload BINDGUARD_MODE=enforce) -- bind 127.0.0.1 40000 reuseaddr
	wait_line "$WORK/c.out" "^bind" || return 1
	expect "same address, owner without SO_REUSEADDR" "$(head -1 "$WORK/c.out")" "bind error EADDRINUSE"
	stop c
	expect "still no hazard event" "$(binds | wc -l)" 0
}

t_bind_port_zero_landing_on_connect_port_is_logged() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=enforce) -- bind 127.0.0.2 0
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "kernel picked the connect-created port" "$(head -1 "$WORK/b.out")" "bind ok 127.0.0.2 40000"
	expect "probe while B open" "$(probe)" "EADDRNOTAVAIL"
	stop b
	expect "port_auto" "$(field .bindguard.port_auto)" true
	expect "hazard" "$(field .bindguard.hazard)" pin_halfclosed
	expect "decision (after the fact: log, even in enforce)" "$(field .bindguard.decision)" log
	schema_ok
}

t_bind_outside_range_is_silent_and_costs_no_query() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=audit) -- bind 127.0.0.2 5555
	wait_line "$WORK/b.out" "^bind" || return 1
	stop b
	expect "bind events at info level" "$(binds | wc -l)" 0
	printf '{"level":"debug"}' > "$WORK/debug.json"
	start c $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/debug.json" -- bind 127.0.0.2 5556
	wait_line "$WORK/c.out" "^bind" || return 1
	stop c
	expect "debug event" "$(binds | wc -l)" 1
	expect "hazard" "$(field .bindguard.hazard)" none
	expect "ephemeral" "$(field .bindguard.ephemeral)" false
	expect "no sock_diag query outside the range" "$(field .bindguard.view)" none
	schema_ok
}

t_second_reuseaddr_binder_without_connect_bucket_is_silent() {
	start b1 $(preload BINDGUARD_MODE=enforce) -- bind 127.0.0.3 40000 reuseaddr
	wait_line "$WORK/b1.out" "^bind" || return 1
	start b2 $(preload BINDGUARD_MODE=enforce) -- bind 127.0.0.4 40000 reuseaddr
	wait_line "$WORK/b2.out" "^bind" || return 1
	expect "first binder" "$(head -1 "$WORK/b1.out")" "bind ok 127.0.0.3 40000"
	expect "second binder" "$(head -1 "$WORK/b2.out")" "bind ok 127.0.0.4 40000"
	stop_all
	expect "hazard events" "$(binds | wc -l)" 0
}

t_reuseaddr_listen_binder_on_connect_port_is_caught() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=audit) -- bind 127.0.0.2 40000 reuseaddr listen
	wait_line "$WORK/b.out" "^listen" || return 1
	expect "bind" "$(head -1 "$WORK/b.out")" "bind ok 127.0.0.2 40000"
	expect "probe while B listens" "$(probe)" "EADDRNOTAVAIL"
	stop b
	expect "hazard at bind" "$(field .bindguard.hazard)" pin_halfclosed
	expect "bucket after (SO_REUSEADDR keeps fastreuse -1, fastreuseport 0 pins)" \
		"$(field '.bindguard.bucket.after|[.fastreuse,.fastreuseport]|@csv')" "-1,0"
	schema_ok
}

t_audit_keeps_return_values_and_errno_of_failing_calls() {
	local plain shim
	plain=$(netns -- "$BUILD/fidelity")
	shim=$(netns -- env $(preload BINDGUARD_LOG=/dev/null) "$BUILD/fidelity")
	expect "lines" "$(wc -l <<<"$plain")" "$(wc -l <<<"$shim")"
	local d
	d=$(diff <(echo "$plain") <(echo "$shim"))
	expect "differences" "$d" ""
	expect_match "matrix ran to the end" "$plain" "close-pipe +ok errno-kept=1"
}

t_broken_config_never_takes_the_service_down() {
	printf '{\n  "mode": "enforce",\n  "rules": [ oops ]\n}\n' > "$WORK/bad.json"
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=enforce) BINDGUARD_CONFIG="$WORK/bad.json" -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	stop b
	expect "bind runs in audit mode" "$(head -1 "$WORK/b.out")" "bind ok 127.0.0.2 40000"
	expect "one line on stderr" "$(wc -l < "$WORK/b.err")" 1
	expect_match "it names file, line and column" "$(cat "$WORK/b.err")" "^bindguard: $WORK/bad.json:3:[0-9]+: invalid JSON.*running in audit mode with defaults$"
	expect "config_error event" "$(jq -r 'select(.event.action=="config_error")|.event.outcome' "$WORK/ev.jsonl")" failure
	expect "start event says audit" "$(jq -r 'select(.event.action=="start")|.bindguard.config.mode' "$WORK/ev.jsonl")" audit
	expect "the hazard is still logged" "$(field .bindguard.decision)" log
	schema_ok
	printf '{"mode":"enforce","rules":[{"ports":["40000-x"]}]}' > "$WORK/bad2.json"
	start c $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/bad2.json" -- bind 127.0.0.3 40000
	wait_line "$WORK/c.out" "^bind" || return 1
	stop c
	expect_match "value errors name the field" "$(cat "$WORK/c.err")" "bad2.json: rules\[0\]\.ports\[0\]: expected a port or \"LOW-HIGH\""
}

# A bad environment value on top of a valid file: the shim says "audit mode
# with defaults", so the file's enforce rule must not block either.
t_bad_env_value_drops_the_files_rules_too() {
	printf '{"mode":"audit","rules":[{"ports":["40000"],"mode":"enforce"}]}' > "$WORK/rules.json"
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=ENFORCE) BINDGUARD_CONFIG="$WORK/rules.json" -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	stop b
	expect "bind goes through" "$(head -1 "$WORK/b.out")" "bind ok 127.0.0.2 40000"
	expect "the message on stderr" "$(cat "$WORK/b.err")" \
		'bindguard: environment: BINDGUARD_MODE: expected off, audit or enforce, got "ENFORCE"; running in audit mode with defaults'
	expect "hazard and decision" "$(field '[.bindguard.hazard,.bindguard.decision]|@csv')" '"pin_halfclosed","log"'
	expect "start event: defaults" "$(jq -c 'select(.event.action=="start")|.bindguard.config|[.mode,.rules,.source]' "$WORK/ev.jsonl")" \
		'["audit",[],"built-in defaults"]'
	schema_ok
}

t_rules_pick_mode_by_port_and_address() {
	cat > "$WORK/rules.json" <<-'JSON'
	{"mode": "audit",
	 "rules": [{"ports": ["40000-40000"], "addresses": ["127.0.0.2/32"], "mode": "enforce"}]}
	JSON
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=audit) BINDGUARD_MODE= BINDGUARD_CONFIG="$WORK/rules.json" -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "rule enforces 127.0.0.2:40000" "$(head -1 "$WORK/b.out")" "bind error EADDRINUSE"
	stop b
	start c $(preload BINDGUARD_MODE=audit) BINDGUARD_MODE= BINDGUARD_CONFIG="$WORK/rules.json" -- bind 127.0.0.3 40000
	wait_line "$WORK/c.out" "^bind" || return 1
	expect "other address: global audit" "$(head -1 "$WORK/c.out")" "bind ok 127.0.0.3 40000"
	stop c
	expect "decisions" "$(binds | jq -r .bindguard.decision | tr '\n' ' ')" "block log "
}

t_bindguard_run_preloads_and_keeps_ld_preload() {
	seed_owner || return 1
	"$TOOL" run --mode enforce --log "$WORK/ev.jsonl" -- "$ACTOR" bind 127.0.0.2 40000 > "$WORK/r.out" &
	local pid=$!
	wait_line "$WORK/r.out" "^bind" || return 1
	kill -TERM $pid
	wait $pid
	expect "run --mode enforce" "$(head -1 "$WORK/r.out")" "bind error EADDRINUSE"
	local keep=/lib/x86_64-linux-gnu/libc.so.6
	expect "existing LD_PRELOAD kept" "$(LD_PRELOAD=$keep "$TOOL" run -- sh -c 'echo $LD_PRELOAD')" "$SHIM:$keep"
	"$TOOL" run --mode 2>/dev/null
	expect "usage error exit code" "$?" 2
	"$TOOL" run -- /nonexistent/program 2>/dev/null
	expect "missing command exit code" "$?" 127
}

t_check_config_accepts_example_and_names_errors() {
	local out
	out=$("$TOOL" check-config "$here/conf/bindguard.json")
	expect "example config exit code" "$?" 0
	expect "effective mode" "$(jq -r .mode <<<"$out")" audit
	printf '{"mode":"enforced"}' > "$WORK/m.json"
	out=$("$TOOL" check-config "$WORK/m.json" 2>&1 >/dev/null)
	expect "bad config exit code" "$?" 1
	expect "message" "$out" "bindguard: $WORK/m.json: mode: expected off, audit or enforce, got \"enforced\"; running in audit mode with defaults"
	"$TOOL" check-config "$WORK/missing.json" > /dev/null 2>&1
	expect "missing file exit code" "$?" 1
}

t_model_agrees_with_kernel_on_every_bind() {
	printf '{"level":"debug"}' > "$WORK/debug.json"
	seed_owner || return 1
	local args
	for args in "127.0.0.2 40000" "127.0.0.1 40000" "0.0.0.0 40000 reuseaddr" ":: 40000" "::1 40000" \
		"127.0.0.2 0" "127.0.0.5 40000 reuseaddr reuseport"; do
		start b $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/debug.json" -- bind $args
		wait_line "$WORK/b.out" "^bind" || return 1
		stop b
	done
	expect "binds seen" "$(binds | wc -l)" 7
	expect "model_divergence events" "$(jq -c 'select(.event.action=="model_divergence")' "$WORK/ev.jsonl" | wc -l)" 0
	expect "predicted conflicts" "$(binds | jq -r '.bindguard.bucket.conflict_predicted' | tr '\n' ' ')" \
		"false true true true false false false "
	schema_ok
}

# Every address length the kernel's bind accepts is judged: a sockaddr_in6 of
# 24 bytes (SIN6_LEN_RFC2133, no sin6_scope_id) up to a larger buffer, and an
# IPv4 socket's AF_UNSPEC (taken as AF_INET for 0.0.0.0); lengths the kernel
# refuses (23, 15) reach it unchanged.
t_short_sockaddr_in6_is_judged() {
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=enforce) -- bind ::ffff:127.0.0.2 40000 len=24
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "enforce, len 24" "$(head -1 "$WORK/b.out")" "bind error EADDRINUSE"
	expect "probe gets the shared port" "$("$ACTOR" probe 127.0.0.1 5003)" "probe ok 127.0.0.1 40000"
	stop b
	expect "hazard" "$(field .bindguard.hazard)" pin_halfclosed
	expect "decision" "$(field .bindguard.decision)" block
	expect "source" "$(field '.source.ip + ":" + (.source.port|tostring)')" "127.0.0.2:40000"
	rm -f "$WORK/ev.jsonl"
	local len
	for len in 27 28 32 128; do
		start c $(preload BINDGUARD_MODE=enforce) -- bind ::ffff:127.0.0.2 40000 len=$len
		wait_line "$WORK/c.out" "^bind" || return 1
		expect "enforce, len $len" "$(head -1 "$WORK/c.out")" "bind error EADDRINUSE"
		stop c
	done
	expect "decisions" "$(binds | jq -r .bindguard.decision | tr '\n' ' ')" "block block block block "
	rm -f "$WORK/ev.jsonl"
	start d $(preload BINDGUARD_MODE=audit) -- bind ::ffff:127.0.0.3 40000 len=24
	wait_line "$WORK/d.out" "^bind" || return 1
	expect "audit, len 24: the kernel's result" "$(head -1 "$WORK/d.out")" "bind ok ::ffff:127.0.0.3 40000"
	expect "probe while D holds the pin" "$(probe)" "EADDRNOTAVAIL"
	stop d
	expect "audit hazard" "$(field '[.bindguard.hazard,.bindguard.decision]|@csv')" '"pin_halfclosed","log"'
	rm -f "$WORK/ev.jsonl"
	start e $(preload BINDGUARD_MODE=enforce) -- bind ::ffff:127.0.0.2 40000 len=23
	wait_line "$WORK/e.out" "^bind" || return 1
	expect "len 23: the kernel refuses" "$(head -1 "$WORK/e.out")" "bind error EINVAL"
	stop e
	start f $(preload BINDGUARD_MODE=enforce) -- bind 127.0.0.2 40000 len=15
	wait_line "$WORK/f.out" "^bind" || return 1
	expect "len 15: the kernel refuses" "$(head -1 "$WORK/f.out")" "bind error EINVAL"
	stop f
	expect "no events for binds the kernel refuses by length" "$(binds | wc -l)" 0
	schema_ok
}

t_unspec_family_on_ipv4_is_judged() {
	printf '{"level":"debug"}' > "$WORK/debug.json"
	seed_owner || return 1
	start b $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/debug.json" -- bind 0.0.0.0 40000 unspec
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "kernel: 0.0.0.0:40000 overlaps A" "$(head -1 "$WORK/b.out")" "bind error EADDRINUSE"
	stop b
	start c $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/debug.json" -- bind 0.0.0.0 40001 unspec
	wait_line "$WORK/c.out" "^bind" || return 1
	expect "kernel: 0.0.0.0:40001" "$(head -1 "$WORK/c.out")" "bind ok 0.0.0.0 40001"
	stop c
	expect "events" "$(binds | jq -r '[.source.ip, .source.port, .bindguard.bucket.conflict_predicted, .event.outcome]|@csv' | tr '\n' ' ')" \
		'"0.0.0.0",40000,true,"failure" "0.0.0.0",40001,false,"success" '
	expect "model_divergence events" "$(jq -c 'select(.event.action=="model_divergence")' "$WORK/ev.jsonl" | wc -l)" 0
	schema_ok
}

# An IPv6 socket bound to a specific, non-mapped address is v6-only in the
# kernel (__inet6_bind), whichever way it got its port: bind(addr, 0), or
# IP_BIND_ADDRESS_NO_PORT (the program's or the remedy's) and then connect().
# An IPv4 bind of 0.0.0.0 on that port then succeeds; the model must agree.
t_v6_specific_address_is_v6only_on_every_path() {
	local v6only_cases='
import socket, struct
def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()
def v4_wildcard(p):
    b = socket.socket(socket.AF_INET)
    try:
        b.bind(("0.0.0.0", p)); r = "ok"
    except OSError as e:
        r = str(e.errno)
    b.close()
    return r
srv = socket.socket(socket.AF_INET6); srv.bind(("::1", 9006)); srv.listen(8)
a = socket.socket(socket.AF_INET6); a.bind(("::1", 0)); p = a.getsockname()[1]
print("port0", p, v4_wildcard(p)); a.close()
c = socket.socket(socket.AF_INET6); c.setsockopt(socket.IPPROTO_IP, 24, 1); c.bind(("::1", 0))
c.connect(("::1", 9006)); p = c.getsockname()[1]
print("noport", p, v4_wildcard(p)); rst(c)
d = socket.socket(socket.AF_INET6); d.bind(("::1", 0)); d.connect(("::1", 9006))
p = d.getsockname()[1]
print("bind0-connect", p, v4_wildcard(p)); rst(d)
'
	printf '{"level":"debug"}' > "$WORK/debug.json"
	printf '{"level":"debug","remedy":true}' > "$WORK/remedy.json"
	local plain
	plain=$(python3 -c "$v6only_cases" | tr '\n' ' ')
	expect "the kernel" "$plain" "port0 40000 ok noport 40000 ok bind0-connect 40000 ok "
	expect "under the shim" "$(env $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/debug.json" python3 -c "$v6only_cases" | tr '\n' ' ')" "$plain"
	expect "with the remedy" "$(env $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/remedy.json" python3 -c "$v6only_cases" | tr '\n' ' ')" "$plain"
	expect "remedy applied" "$(binds | jq -r 'select(.bindguard.remedy=="applied")|.source.ip' | sort -u)" "::1"
	expect "model_divergence events" "$(jq -c 'select(.event.action=="model_divergence")' "$WORK/ev.jsonl" | wc -l)" 0
	expect "IPv4 0.0.0.0 binds: no conflict predicted" \
		"$(binds | jq -r 'select(.source.ip=="0.0.0.0")|.bindguard.bucket.conflict_predicted' | sort | uniq -c | tr -s ' ')" " 6 false"
	schema_ok
}
# A bind(addr, 0) the kernel refuses is a debug event like any other bind:
# the address, port 0, no bucket, the result and errno.
t_failed_port_zero_bind_is_a_debug_event() {
	printf '{"level":"debug"}' > "$WORK/debug.json"
	printf '{"level":"debug","remedy":true}' > "$WORK/remedy.json"
	local prog='
import socket
a = socket.socket(socket.AF_INET6)
try:
    a.bind(("2001:db8::1", 0)); print("ok")
except OSError as e:
    print(e.errno)
b = socket.socket(socket.AF_INET); b.bind(("127.0.0.1", 0))
try:
    b.bind(("127.0.0.1", 0)); print("ok")
except OSError as e:
    print(e.errno)
'
	expect "the kernel" "$(python3 -c "$prog" | tr '\n' ' ')" "99 22 "
	expect "under the shim" "$(env $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/debug.json" python3 -c "$prog" | tr '\n' ' ')" "99 22 "
	local failed_binds='select(.event.outcome=="failure")|[.source.ip,.source.port,.bindguard.port_auto,.bindguard.bucket,.error.code,.log.level]|@csv'
	expect "events" "$(binds | jq -r "$failed_binds" | tr '\n' ' ')" \
		'"2001:db8::1",0,true,,"EADDRNOTAVAIL","debug" "127.0.0.1",0,true,,"EINVAL","debug" '
	rm -f "$WORK/ev.jsonl"
	expect "with the remedy" "$(env $(preload BINDGUARD_MODE=audit) BINDGUARD_CONFIG="$WORK/remedy.json" python3 -c "$prog" | tr '\n' ' ')" "99 22 "
	expect "events with the remedy" "$(binds | jq -r "$failed_binds" | tr '\n' ' ')" \
		'"2001:db8::1",0,true,,"EADDRNOTAVAIL","debug" "127.0.0.1",0,true,,"EINVAL","debug" '
	schema_ok
}

# The self-check compares v6-only too (the kernel's IPV6_V6ONLY per fd): none
# differ for sockets bound to ::1 by bind(addr, 0) and with
# IP_BIND_ADDRESS_NO_PORT; one set behind the shim's back (a raw setsockopt
# system call) does.
t_self_check_compares_v6only() {
	local prog='
import socket, ctypes, sys
a = socket.socket(socket.AF_INET6); a.bind(("::1", 0))
c = socket.socket(socket.AF_INET6); c.setsockopt(socket.IPPROTO_IP, 24, 1); c.bind(("::1", 0))
if len(sys.argv) > 1:
    d = socket.socket(socket.AF_INET6)
    one = ctypes.c_int(1)
    libc = ctypes.CDLL(None, use_errno=True)
    print(libc.syscall(54, d.fileno(), socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, ctypes.byref(one), 4))
print("done")
sys.stdout.flush()
ctypes.CDLL(None).exit(0)  # exit() with the sockets open: the self-check runs at exit
'
	local check='.bindguard.self_check|[.sockets,.mismatches]|@csv'
	env $(preload BINDGUARD_MODE=audit) BINDGUARD_SELF_CHECK=1 python3 -c "$prog" > "$WORK/p.out"
	expect "ran" "$(tail -1 "$WORK/p.out")" done
	expect "bound to ::1: sockets, mismatches" "$(events_of "$WORK/ev.jsonl" stop | jq -r "$check")" "2,0"
	rm -f "$WORK/ev.jsonl"
	env $(preload BINDGUARD_MODE=audit) BINDGUARD_SELF_CHECK=1 python3 -c "$prog" raw > "$WORK/p.out"
	expect "raw setsockopt" "$(head -1 "$WORK/p.out")" 0
	expect "with a raw IPV6_V6ONLY" "$(events_of "$WORK/ev.jsonl" stop | jq -r "$check")" "3,1"
	expect "the mismatch" "$(events_of "$WORK/ev.jsonl" self_check_mismatch | jq -r '[.bindguard.fields,.bindguard.model.v6only,.bindguard.kernel.v6only]|@csv')" '"v6only",false,true'
	schema_ok
}

# The scenario with programs bindguard did not write: socat servers, python3
# clients. A's socket is python's; B is python binding A's port.
t_seed_with_python_and_socat() {
	socat TCP-LISTEN:9000,bind=127.0.0.1,reuseaddr,fork EXEC:/bin/true &
	socat TCP-LISTEN:5003,bind=127.0.0.1,reuseaddr,fork EXEC:/bin/true &
	sleep 0.3
	python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 9000)); s.recv(1)
print("A", s.getsockname()[1], flush=True); time.sleep(60)' > "$WORK/a.out" &
	wait_line "$WORK/a.out" "^A 40000" || return 1
	local b='
import socket
b = socket.socket()
try:
    b.bind(("127.0.0.2", 40000)); print("bind ok")
except OSError as e:
    print("bind", e.errno)
try:
    c = socket.create_connection(("127.0.0.1", 5003)); print("probe ok", c.getsockname()[1])
except OSError as e:
    print("probe", e.errno)'
	expect "audit" "$(env $(preload BINDGUARD_MODE=audit) python3 -c "$b" | tr '\n' ' ')" "bind ok probe 99 "
	expect "audit hazard" "$(field '[.bindguard.hazard,.bindguard.decision,.bindguard.owners[0].state,.bindguard.owners[0].connect_bound]|@csv')" '"pin_halfclosed","log","CLOSE_WAIT","inferred"'
	rm -f "$WORK/ev.jsonl"
	expect "enforce" "$(env $(preload BINDGUARD_MODE=enforce) python3 -c "$b" | tr '\n' ' ')" "bind 98 probe ok 40000 "
	expect "enforce decision" "$(field .bindguard.decision)" block
	schema_ok
	kill %1 %2 %3 2>/dev/null
}

# 40,000 connections and 80,000 bare sockets (ports outside the range, which
# wrap in a namespace whose range is one port: connections use the loopback
# server's side) must not grow the resident size: closed socket objects are
# freed, nothing is kept per finished connection.
t_socket_churn_does_not_grow_memory() {
	echo "1024 65000" > /proc/sys/net/ipv4/ip_local_port_range
	echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse
	local plain shim
	plain=$("$BUILD/churn" 40000 | awk '{print $2}')
	shim=$(env $(preload BINDGUARD_MODE=audit) "$BUILD/churn" 40000 | awk '{print $2}')
	echo "#   resident growth over 20,000 rounds: ${plain} KiB without, ${shim} KiB with the shim"
	expect_match "growth with the shim stays under 512 KiB" "$shim" '^-?[0-9]+$'
	[ "${shim:-99999}" -lt 512 ] || { echo "#   grew by $shim KiB"; failed=1; }
}

t_non_socket_programs_run_unchanged() {
	local out
	out=$(env $(preload) sh -c 'exec 3>"$1"; echo hello >&3; exec 3>&-; cat "$1"; ls / >/dev/null && echo listed' sh "$WORK/f")
	expect "output" "$(tr '\n' ' ' <<<"$out")" "hello listed "
	expect "no events for non-socket work" "$(jq -c 'select(.event.action!="start" and .event.action!="stop")' "$WORK/ev.jsonl" | wc -l)" 0
}

# ---- runner ------------------------------------------------------------------------------
run_tests e2e 60
