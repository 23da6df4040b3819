#!/usr/bin/env bash
# agent/run.sh: `bindguard agent` (issue 15) on the host kernel, against the
# kernel itself: the seed scenario's B played by programs the shim cannot
# see (a Go program, a static C binary) inside a fresh cgroup v2 directory.
# The probe connect() is the oracle: without the agent (or in audit) B's
# bind pins the port and the probe fails with EADDRNOTAVAIL; in enforce the
# agent refuses B's bind and the probe succeeds. Each case in its own
# network namespace (range 40000-40000) and cgroup under the cgroup v2 mount.
# Usage: tests/agent/run.sh BUILD [NAME-FILTER]   (root; skipped without BTF)
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/tests/lib.sh"
if [ ! -r /sys/kernel/btf/vmlinux ]; then
	echo "# skipped: no /sys/kernel/btf/vmlinux (the agent needs kernel BTF)"
	tally
	exit 0
fi
suite_build "${1:-build}" bindguard bindguard-actor bindguard-agent schema-check threads-smallstack
FILTER=${2:-}
suite_env
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CGROOT" ] || die "no cgroup v2 mount"
SUITE_ID=$$
export CGROOT SUITE_ID

# B's programs, built once a run: the Go one offline, standard library only
BIN=$(mktemp -d /tmp/bindguard-agent-bin.XXXXXX)
trap 'rm -rf "$BIN"; rmdir "$CGROOT"/bindguard-agent."$SUITE_ID".* 2>/dev/null' EXIT
(cd "$here/tests/agent/gob" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$BUILD/agent/go-cache" \
	go build -o "$BIN/gob" .) || die "go build of tests/agent/gob failed"
for p in binder uring_bind; do
	gcc -static -O2 -Wall -Wextra -Werror -o "$BIN/$p" "$here/tests/agent/$p.c" ||
		die "gcc -static of tests/agent/$p.c failed"
done
gcc -O2 -Wall -Wextra -Werror -I"$here/shim" -o "$BIN/pagetool" "$here/tests/agent/pagetool.c" ||
	die "gcc of tests/agent/pagetool.c failed"
export BIN

helpers() {
	source "$here/tools/scenario.sh"
	ns_setup
	echo '{}' >"$WORK/bg.json"
	CG=$(mktemp -d "$CGROOT/bindguard-agent.$SUITE_ID.XXXXXX")
	eval "scenario_$(declare -f stop_all)"
	# stop_all: the scenario's processes and the agent, then the cgroup
	stop_all() {
		scenario_stop_all
		local _
		for _ in $(seq 1 100); do
			rmdir "$CG" 2>/dev/null && return 0
			sleep 0.02
		done
		echo "#   cgroup $CG not removed: $(cat "$CG/cgroup.procs" 2>/dev/null | tr '\n' ' ')"
	}
	# agent MODE: the agent on $CG, events in $WORK/ev.jsonl, until it has
	# written its start event
	agent() {
		local before
		before=$(events_of "$WORK/ev.jsonl" start | wc -l)
		"$TOOL" agent --cgroup "$CG" --mode "$1" --config "$WORK/bg.json" --log "$WORK/ev.jsonl" \
			2>>"$WORK/agent.err" &
		echo $! >"$WORK/agent.pid"
		_bg_pids+=($!)
		local _
		for _ in $(seq 1 250); do
			[ "$(events_of "$WORK/ev.jsonl" start | wc -l)" -gt "$before" ] && return 0
			kill -0 "$(cat "$WORK/agent.pid")" 2>/dev/null || break
			sleep 0.02
		done
		echo "#   the agent did not start:"
		sed 's/^/#     /' "$WORK/agent.err"
		return 1
	}
	# agent_stop: SIGTERM; it detaches and exits 0
	agent_stop() {
		local pid rc
		pid=$(cat "$WORK/agent.pid")
		kill -TERM "$pid"
		wait "$pid"
		rc=$?
		expect "agent exit status after SIGTERM" "$rc" 0
	}
	# in_cgroup NAME CMD...: CMD inside $CG in the background, output in
	# $WORK/NAME.out; prints nothing, waits for CMD's first line
	in_cgroup() {
		local name=$1
		shift
		(
			echo "$BASHPID" >"$CG/cgroup.procs"
			exec "$@"
		) >"$WORK/$name.out" 2>&1 &
		_bg_pids+=($!)
		wait_line "$WORK/$name.out" '^(bound|connected|error|unsupported) ' >/dev/null
	}
	# outside NAME CMD...: the same, in this shell's cgroup
	outside() {
		local name=$1
		shift
		"$@" >"$WORK/$name.out" 2>&1 &
		_bg_pids+=($!)
		wait_line "$WORK/$name.out" '^(bound|connected|error|unsupported) ' >/dev/null
	}
	# said NAME: B's verdict: "bound", "connected" or "error ERRNO"
	said() { awk 'NR == 1 { print $1 == "error" ? $1 " " $2 : $1 }' "$WORK/$1.out"; }
	pid_of() { awk 'NR == 1 { print $1 == "error" ? $3 : $2 }' "$WORK/$1.out"; }
	# refused: what a refused bind returns on this kernel: EADDRINUSE with
	# bpf_set_retval (5.18+), else EPERM (the start event says which)
	refused() {
		jq -r 'select(.event.action == "start") | if .bindguard.features.set_retval
			then "error EADDRINUSE" else "error EPERM" end' "$WORK/ev.jsonl" | tail -1
	}
	agent_binds() { jq -c 'select(.event.action == "bind" and .bindguard.source == "agent")' "$WORK/ev.jsonl"; }
	# one_event NAME DECISION: exactly one agent bind event, for B's pid, on
	# 127.0.0.2:40000, half-closed hazard, with DECISION
	one_event() {
		local ev
		expect "agent bind events" "$(agent_binds | wc -l)" 1
		ev=$(agent_binds | head -1)
		expect "event pid" "$(jq -r .process.pid <<<"$ev")" "$(pid_of "$1")"
		expect "event source" "$(jq -r '.source.ip + ":" + (.source.port | tostring)' <<<"$ev")" 127.0.0.2:40000
		expect "event hazard" "$(jq -r .bindguard.hazard <<<"$ev")" pin_halfclosed
		expect "event decision" "$(jq -r .bindguard.decision <<<"$ev")" "$2"
		expect "event half-closed count" "$(jq -r .bindguard.bucket.halfclosed <<<"$ev")" 1
		schema_ok
	}
	# the port page of this test's namespace, and waiting for it
	PAGE=/run/bindguard/agent/netns-$(stat -L -c %i /proc/self/ns/net).ports
	wait_page() {
		local _
		for _ in $(seq 1 250); do
			[ -f "$PAGE" ] && return 0
			sleep 0.02
		done
		echo "#   no page at $PAGE"
		return 1
	}
	marked() { "$BIN/pagetool" dump "$PAGE" | awk '$1 == "port" { print $2 " " $3 }' | tr '\n' ' '; }
	# shim_binds NAME N: N binds of 127.0.0.1:40000 under the shim (audit,
	# every bind logged) under strace; prints the events' views, one a line
	echo '{"level": "debug"}' >"$WORK/debug.json"
	shim_binds() {
		BINDGUARD_CONFIG="$WORK/debug.json" BINDGUARD_MODE=audit BINDGUARD_LOG="$WORK/$1.jsonl" \
			strace -f -e trace=socket -o "$WORK/$1.strace" \
			env LD_PRELOAD="$SHIM" "$ACTOR" bindloop 127.0.0.1 40000 "$2" "${3:-10}" >"$WORK/$1.out"
		jq -r 'select(.event.action == "bind") | .bindguard.view' "$WORK/$1.jsonl" | tr '\n' ' '
	}
	# netlink NAME: sock_diag sockets the process opened (one a dump or query)
	netlink() { grep -c 'AF_NETLINK.*SOCK_DIAG' "$WORK/$1.strace"; }
}

# ---- the kernel as oracle: without the agent, B pins the port ----
t_without_agent_go_bind_pins_the_port() {
	seed_owner || return 1
	in_cgroup b "$BIN/gob" listen 127.0.0.2 40000
	expect "Go B" "$(said b)" bound
	expect "probe" "$(probe)" EADDRNOTAVAIL
}

# ---- (a) Go: net.ListenConfig and net.Dialer{LocalAddr} ----
t_go_listen_audit_logs_one_event() {
	agent audit || return 1
	seed_owner || return 1
	in_cgroup b "$BIN/gob" listen 127.0.0.2 40000
	expect "Go B in audit" "$(said b)" bound
	expect "probe (audit changes nothing)" "$(probe)" EADDRNOTAVAIL
	one_event b log
	expect "event process name" "$(agent_binds | jq -r .process.name)" gob
}

t_go_listen_enforce_refuses_and_probe_works() {
	agent enforce || return 1
	seed_owner || return 1
	in_cgroup b "$BIN/gob" listen 127.0.0.2 40000
	expect "Go B in enforce" "$(said b)" "$(refused)"
	expect "probe" "$(probe)" ok
	one_event b block
}

t_go_dialer_localaddr_enforce_refuses() {
	agent enforce || return 1
	seed_owner || return 1
	in_cgroup b "$BIN/gob" dial 127.0.0.2 40000 127.0.0.1:9000
	expect "Go Dialer{LocalAddr} in enforce" "$(said b)" "$(refused)"
	expect "probe" "$(probe)" ok
	one_event b block
}

# cgroup/bind6: an IPv6 socket shares the port's bucket (kernel-rules.md
# section 2), and [::1]:40000 binds next to 127.0.0.1:40000 and pins it
t_go_listen_ipv6_loopback_enforce_refuses() {
	agent enforce || return 1
	seed_owner || return 1
	in_cgroup b "$BIN/gob" listen ::1 40000
	expect "Go B on [::1] in enforce" "$(said b)" "$(refused)"
	expect "probe" "$(probe)" ok
	expect "event address" "$(agent_binds | jq -r .source.ip)" ::1
	expect "agent bind events" "$(agent_binds | wc -l)" 1
	schema_ok
}

t_without_agent_go_ipv6_bind_pins_the_port() {
	seed_owner || return 1
	in_cgroup b "$BIN/gob" listen ::1 40000
	expect "Go B on [::1]" "$(said b)" bound
	expect "probe" "$(probe)" EADDRNOTAVAIL
}

# --unit NAME: the unit's cgroup from systemctl show -p ControlGroup (a
# stand-in systemctl that answers for one unit: no systemd runs here)
t_unit_resolves_to_its_cgroup() {
	mkdir -p "$WORK/bin"
	printf '#!/bin/sh\n[ "$*" = "show -p ControlGroup --value legacyd.service" ] && echo "%s"\n' \
		"${CG#"$CGROOT"}" >"$WORK/bin/systemctl"
	chmod +x "$WORK/bin/systemctl"
	PATH="$WORK/bin:$PATH" "$TOOL" agent --unit legacyd.service --mode enforce --config "$WORK/bg.json" \
		--log "$WORK/ev.jsonl" 2>>"$WORK/agent.err" &
	echo $! >"$WORK/agent.pid"
	_bg_pids+=($!)
	wait_line "$WORK/agent.err" "attached to $CG " >/dev/null || return 1
	seed_owner || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B in the unit's cgroup" "$(said b)" "$(refused)"
	local out rc
	out=$(PATH="$WORK/bin:$PATH" "$TOOL" agent --unit other.service --config "$WORK/bg.json" 2>&1)
	rc=$?
	expect "unknown unit: exit status" "$rc" 2
	expect_match "unknown unit: message" "$out" 'other.service: systemd knows no cgroup'
}

# ---- (b) a static C binary, plain and SO_REUSEADDR ----
t_static_binary_audit_logs_one_event() {
	agent audit || return 1
	seed_owner || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B in audit" "$(said b)" bound
	expect "probe" "$(probe)" EADDRNOTAVAIL
	one_event b log
}

t_static_binary_enforce_refuses_plain_and_reuseaddr() {
	agent enforce || return 1
	seed_owner || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B in enforce" "$(said b)" "$(refused)"
	in_cgroup b2 "$BIN/binder" 127.0.0.2 40000 reuseaddr
	expect "static B with SO_REUSEADDR in enforce" "$(said b2)" "$(refused)"
	expect "probe" "$(probe)" ok
	expect "agent bind events" "$(agent_binds | wc -l)" 2
	schema_ok
}

# a port outside the range and bind(addr, 0) take no connect()-placed port
t_enforce_allows_port_zero_and_ports_outside_the_range() {
	agent enforce || return 1
	seed_owner || return 1
	in_cgroup o "$BIN/binder" 127.0.0.2 9000
	expect "bind(127.0.0.2:9000)" "$(said o)" bound
	expect "agent bind events" "$(agent_binds | wc -l)" 0
	in_cgroup z "$BIN/binder" 127.0.0.2 0
	expect "bind(127.0.0.2:0)" "$(said z)" bound
}

# bind(addr, 0) whose kernel-chosen port holds A's CLOSE_WAIT socket (the
# range is that one port): pinned by the kernel (the probe fails: the
# oracle), seen by post_bind4 and logged with port_auto, in enforce too;
# the same with Go's Dialer{LocalAddr: 127.0.0.2:0} (bind, then connect).
t_port_zero_landing_on_a_connect_placed_port_is_logged() {
	agent enforce || return 1
	seed_owner || return 1
	in_cgroup z "$BIN/binder" 127.0.0.2 0
	expect "bind(127.0.0.2:0) in enforce" "$(said z)" bound
	expect "probe (the kernel pinned the port)" "$(probe)" EADDRNOTAVAIL
	local ev
	expect "agent bind events" "$(agent_binds | wc -l)" 1
	ev=$(agent_binds | head -1)
	expect "event" "$(jq -r '[.process.pid, .source.port, .bindguard.port_auto, .bindguard.hazard, .bindguard.decision] | join(" ")' <<<"$ev")" \
		"$(pid_of z) 40000 true pin_halfclosed log"
	schema_ok
}

t_without_agent_go_dialer_port_zero_pins() {
	seed_owner || return 1
	in_cgroup d "$BIN/gob" dial 127.0.0.2 0 127.0.0.1:9000
	expect "Go dial from 127.0.0.2:0" "$(said d)" connected
	expect "probe" "$(probe)" EADDRNOTAVAIL
}

t_go_dialer_port_zero_is_logged() {
	agent audit || return 1
	seed_owner || return 1
	in_cgroup d "$BIN/gob" dial 127.0.0.2 0 127.0.0.1:9000
	expect "Go dial from 127.0.0.2:0" "$(said d)" connected
	expect "event" "$(agent_binds | jq -r '[.source.port, .bindguard.port_auto, .bindguard.hazard] | join(" ")')" "40000 true pin_halfclosed"
	schema_ok
}

# ---- what "connect() placed the port" means (bindguard.bpf.c, bg_state) ----
# a socket that bound its port itself, then connected, and was hung up on:
# half-closed, but its port is user-locked, so no hazard to report
t_a_port_bound_before_connect_is_not_connect_placed() {
	agent enforce || return 1
	start server -- server 127.0.0.1 9000
	wait_line "$WORK/server.out" ready >/dev/null || return 1
	start a -- bind 127.0.0.1 40000 connect=127.0.0.1:9000
	wait_line "$WORK/a.out" "^connect ok" >/dev/null || return 1
	wait_state close-wait 1 || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B next to a bound-then-connected owner" "$(said b)" bound
	expect "agent bind events" "$(agent_binds | wc -l)" 0
}

# IP_BIND_ADDRESS_NO_PORT + bind(addr, 0): the port is chosen at connect()
t_ip_bind_address_no_port_then_connect_is_connect_placed() {
	agent enforce || return 1
	start server -- server 127.0.0.1 9000
	start probesrv -- server 127.0.0.1 5003
	wait_line "$WORK/server.out" ready >/dev/null || return 1
	wait_line "$WORK/probesrv.out" ready >/dev/null || return 1
	start a -- bind 127.0.0.1 0 noport connect=127.0.0.1:9000
	wait_line "$WORK/a.out" "^connect ok 127.0.0.1 40000" >/dev/null || return 1
	wait_state close-wait 1 || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B next to a no-port owner" "$(said b)" "$(refused)"
	expect "probe" "$(probe)" ok
	one_event b block
}

# an accepted child on the listener's port: never connect()-placed
t_an_accepted_child_is_not_connect_placed() {
	agent enforce || return 1
	start server -- server 127.0.0.1 40000
	wait_line "$WORK/server.out" ready >/dev/null || return 1
	start c -- bind 127.0.0.3 5555 connect=127.0.0.1:40000
	wait_line "$WORK/c.out" "^connect ok" >/dev/null || return 1
	wait_state close-wait 1 || return 1
	wait_state fin-wait-2 1 || return 1 # the child, half-closed on 40000
	expect "the child's port" "$(ss -Htan state fin-wait-2 | awk '{print $3}')" 127.0.0.1:40000
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B next to a listener and its child" "$(said b)" bound
	expect "agent bind events" "$(agent_binds | wc -l)" 0
}

# ---- io_uring: IORING_OP_BIND (6.11+) reaches the same hook ----
t_io_uring_bind_pins_without_the_agent_and_is_refused_with_it() {
	seed_owner || return 1
	in_cgroup u0 "$BIN/uring_bind" 127.0.0.2 40000
	if [ "$(said u0)" = unsupported ]; then
		echo "# skipped: this kernel ($(uname -r)) has no IORING_OP_BIND (6.11+)"
		return 0
	fi
	expect "io_uring B without the agent" "$(said u0)" bound
	expect "probe (pinned)" "$(probe)" EADDRNOTAVAIL
	kill "$(pid_of u0)"
	wait "$(pid_of u0)" 2>/dev/null
	# the binder gone, this kernel (release profile) frees the port again;
	# an older one keeps the pin, and the rest would prove nothing
	[ "$PROFILE" = release ] || return 0
	expect "probe after the binder left" "$(probe)" ok
	agent enforce || return 1
	in_cgroup u "$BIN/uring_bind" 127.0.0.2 40000
	expect "io_uring B in enforce" "$(said u)" "$(refused)"
	expect "probe" "$(probe)" ok
	one_event u block
}

# ---- (c) outside the cgroup: untouched ----
t_enforce_leaves_programs_outside_the_cgroup_alone() {
	agent enforce || return 1
	seed_owner || return 1
	outside b "$BIN/binder" 127.0.0.2 40000
	expect "static B outside the cgroup" "$(said b)" bound
	expect "probe (the kernel pinned the port)" "$(probe)" EADDRNOTAVAIL
	expect "agent bind events" "$(agent_binds | wc -l)" 0
}

# ---- (d) sockets older than the agent: seeded from iter/tcp ----
t_closewait_before_the_agent_is_seeded() {
	seed_owner || return 1
	agent enforce || return 1
	expect_match "seeded sockets" "$(events_of "$WORK/ev.jsonl" start | jq -r .bindguard.counters.seeded)" '^[1-9]'
	in_cgroup b "$BIN/gob" listen 127.0.0.2 40000
	expect "Go B in enforce" "$(said b)" "$(refused)"
	expect "probe" "$(probe)" ok
	one_event b block
}

# ---- (e) stop detaches; a restart seeds again ----
t_agent_restart_reseeds_and_stop_detaches() {
	agent audit || return 1
	seed_owner || return 1
	expect_match "programs attached" "$(bpftool cgroup show "$CG" 2>&1)" 'bind4.*bind6|bind6.*bind4'
	agent_stop
	expect "programs left on the cgroup after SIGTERM" "$(bpftool cgroup show "$CG" 2>&1 | grep -c bind)" 0
	expect "stop events" "$(events_of "$WORK/ev.jsonl" stop | wc -l)" 1
	agent enforce || return 1
	expect_match "seeded at the restart" "$(events_of "$WORK/ev.jsonl" start | tail -1 | jq -r .bindguard.counters.seeded)" '^[1-9]'
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B after the restart" "$(said b)" "$(refused)"
	expect "probe" "$(probe)" ok
	one_event b block
}

# ---- rules: a cgroups selector sets the mode of the whole attachment ----
t_a_rule_for_this_cgroup_sets_enforce() {
	printf '{"rules": [{"ports": [40000], "mode": "off"}, {"cgroups": ["%s"], "mode": "enforce"}]}\n' \
		"${CG#"$CGROOT"}" >"$WORK/bg.json"
	agent audit || return 1
	expect "the rule that decided" "$(events_of "$WORK/ev.jsonl" start | jq -r '.bindguard.rule, .bindguard.mode' | tr '\n' ' ')" "1 enforce "
	expect "the rule as the config shows it" "$(events_of "$WORK/ev.jsonl" start | jq -c '[.bindguard.config.rules[].applies_to_this_cgroup]')" "[null,true]"
	seed_owner || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B under the rule" "$(said b)" "$(refused)"
	one_event b block
}

t_a_rule_for_another_cgroup_does_not_apply() {
	printf '{"rules": [{"cgroups": ["%s-other"], "mode": "enforce"}]}\n' "${CG#"$CGROOT"}" >"$WORK/bg.json"
	agent audit || return 1
	expect "no rule decided" "$(events_of "$WORK/ev.jsonl" start | jq -r '.bindguard.rule, .bindguard.mode' | tr '\n' ' ')" "null audit "
	seed_owner || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B, the rule elsewhere" "$(said b)" bound
	one_event b log
}

# ---- full maps: counted, logged, and the agent goes on ----
# BINDGUARD_AGENT_PORTS_MAX (a test knob) makes the ports map one entry:
# the host's own sockets fill it at start
t_a_full_ports_map_is_counted_and_logged() {
	BINDGUARD_AGENT_PORTS_MAX=1 agent audit || return 1
	seed_owner || return 1
	local _
	for _ in $(seq 1 100); do
		[ -n "$(events_of "$WORK/ev.jsonl" map_full)" ] && break
		sleep 0.05
	done
	expect "map_full events" "$(events_of "$WORK/ev.jsonl" map_full | head -1 | jq -r .log.level)" warning
	expect_match "ports_full" "$(events_of "$WORK/ev.jsonl" map_full | tail -1 | jq -r .bindguard.counters.ports_full)" '^[1-9]'
	kill -0 "$(cat "$WORK/agent.pid")" || echo "#   the agent died"
	agent_stop
	expect_match "stop counters" "$(events_of "$WORK/ev.jsonl" stop | jq -r .bindguard.counters.ports_full)" '^[1-9]'
	schema_ok
}

# ---- (f) refusals to start, with the reason ----
t_not_root_is_a_clear_refusal() {
	local out rc
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$TOOL" agent --cgroup "$CG" --config "$WORK/bg.json" 2>&1)
	rc=$?
	expect "exit status as nobody" "$rc" 7
	expect_match "message" "$out" 'needs root'
}

# No honest way to take BTF away from this kernel: BINDGUARD_AGENT_BTF
# points the agent's check (and nothing else) at a file that is not there.
t_missing_btf_names_the_feature() {
	local out rc
	out=$(BINDGUARD_AGENT_BTF="$WORK/no-vmlinux" "$TOOL" agent --cgroup "$CG" --config "$WORK/bg.json" 2>&1)
	rc=$?
	expect "exit status" "$rc" 8
	expect_match "message" "$out" 'lacks kernel BTF .*no-vmlinux.*CONFIG_DEBUG_INFO_BTF'
}

# a broken config: said on stderr and as a config_error event; the agent
# runs in audit with defaults, as the shim does (never enforce)
t_a_broken_config_runs_audit_and_says_so() {
	echo '{"mode": "enforce", "rules": [{"cgroups": "x"}]}' >"$WORK/bg.json"
	agent enforce || return 1
	expect_match "stderr" "$(cat "$WORK/agent.err")" 'rules\[0\]\.cgroups: expected an array of cgroup paths.*running in audit mode with defaults'
	expect "config_error events" "$(events_of "$WORK/ev.jsonl" config_error | jq -r .log.level)" error
	expect "mode" "$(events_of "$WORK/ev.jsonl" start | jq -r .bindguard.mode)" audit
	seed_owner || return 1
	in_cgroup b "$BIN/binder" 127.0.0.2 40000
	expect "static B" "$(said b)" bound
	one_event b log
}

t_a_cgroup_v1_or_plain_directory_is_a_usage_error() {
	local out rc
	out=$("$TOOL" agent --cgroup "$WORK" --config "$WORK/bg.json" 2>&1)
	rc=$?
	expect "exit status" "$rc" 2
	expect_match "message" "$out" 'is not a cgroup v2 directory'
}

t_help_has_usage_and_exit_codes() {
	"$TOOL" agent --help >"$WORK/h" 2>&1
	expect "agent --help: exit code" "$?" 0
	expect_match "agent --help: usage" "$(head -1 "$WORK/h")" "^usage: bindguard agent"
	expect_match "agent --help: exit codes" "$(cat "$WORK/h")" "exit codes: .*7 not root"
	"$TOOL" agent --bogus x >/dev/null 2>&1
	expect "unknown option" "$?" 2
	"$TOOL" agent --mode audit >/dev/null 2>&1
	expect "neither --cgroup nor --unit" "$?" 2
	expect_match "bindguard --help names the agent" "$("$TOOL" --help)" "bindguard agent --cgroup PATH"
}

# ---- (g) the port page the shim maps (shim/agentpage.h) ----
# The page marks what the kernel holds: the CLOSE_WAIT socket A's connect()
# placed on 40000, not the listeners nor the accepted child; and it follows
# the socket away when A closes it (ss: nothing left on 40000).
t_page_marks_what_the_kernel_holds() {
	agent audit || return 1
	wait_page || return 1
	expect "page before the scenario" "$(marked)" ""
	seed_owner || return 1
	expect "kernel: A in CLOSE-WAIT on 40000" "$(ss -Htan state close-wait sport = :40000 | wc -l)" 1
	local _
	for _ in $(seq 1 50); do [ -n "$(marked)" ] && break; sleep 0.02; done
	expect "page with A in CLOSE_WAIT" "$(marked)" "40000 ch "
	stop a
	for _ in $(seq 1 50); do [ -z "$(marked)" ] && break; sleep 0.02; done
	expect "kernel: nothing connected on 40000" "$(ss -Htan sport = :40000 | grep -vc LISTEN)" 0
	expect "page after A closed" "$(marked)" ""
	expect_match "header" "$("$BIN/pagetool" dump "$PAGE" | head -1)" "^magic bgports version 1 size 16448 netns $(stat -L -c %i /proc/self/ns/net) agent_pid $(cat "$WORK/agent.pid") live 1 "
	expect "mode and owner" "$(stat -c '%a %u %s' "$PAGE")" "644 0 16448"
}

# A free port: the shim believes the page and asks the kernel nothing; a
# half-closed one: the page sends it to the exact query, which convicts.
t_shim_reads_the_page_instead_of_dumping() {
	agent audit || return 1
	wait_page || return 1
	expect "views with the agent" "$(shim_binds a 3)" "agent agent agent "
	local with
	with=$(netlink a)
	agent_stop
	expect "page gone after the agent stopped" "$([ -e "$PAGE" ] && echo there || echo gone)" gone
	expect "views without it" "$(shim_binds b 3)" "snapshot snapshot snapshot "
	expect "sock_diag sockets: one more without the agent (the snapshot's dump)" "$(netlink b)" $((with + 1))
}

t_shim_with_the_agent_refuses_the_seed_scenario() {
	agent audit || return 1
	wait_page || return 1
	seed_owner || return 1
	start b BINDGUARD_MODE=enforce BINDGUARD_LOG="$WORK/b.jsonl" LD_PRELOAD="$SHIM" -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind " >/dev/null
	expect "shim B" "$(head -1 "$WORK/b.out" | cut -d' ' -f1-3)" "bind error EADDRINUSE"
	expect "hazard" "$(jq -r 'select(.event.action == "bind") | .bindguard.hazard' "$WORK/b.jsonl")" pin_halfclosed
	expect "probe" "$(probe)" ok
}

# Pages the shim must not believe, each planted where the agent would put
# this namespace's (no agent running): the bind asks the kernel as without
# one, and never hangs. The control: a well-made page is believed.
t_pages_the_shim_must_not_believe() {
	local ns v
	ns=$(stat -L -c %i /proc/self/ns/net)
	mkdir -p /run/bindguard/agent
	[ -e "$PAGE" ] && { echo "#   $PAGE exists"; return 1; }
	"$BIN/pagetool" write "$PAGE" "$ns" beat=50 >"$WORK/beat.out" &
	_bg_pids+=($!)
	wait_line "$WORK/beat.out" beating >/dev/null
	expect "control: a well-made, beating page" "$(shim_binds ok 1)" "agent "
	stop_all
	"$BIN/pagetool" write "$WORK/good" "$ns"
	for v in live=0 version=2 size=16000 size=20000 age=5000; do
		"$BIN/pagetool" write "$PAGE" "$ns" "$v"
		expect "page with $v" "$(shim_binds "p-$v" 1)" "snapshot "
	done
	"$BIN/pagetool" write "$PAGE" $((ns + 1))
	expect "another namespace's page" "$(shim_binds p-ns 1)" "snapshot "
	"$BIN/pagetool" write "$PAGE" "$ns"
	chmod 0666 "$PAGE"
	expect "a page others may write" "$(shim_binds p-ow 1)" "snapshot "
	chmod 0644 "$PAGE"
	chown 65534 "$PAGE"
	expect "a page nobody owns" "$(shim_binds p-nobody 1)" "snapshot "
	rm -f "$PAGE"
	cp "$WORK/good" "$WORK/good2"
	ln -s "$WORK/good2" "$PAGE"
	expect "a link to a page" "$(shim_binds p-link 1)" "snapshot "
	rm -f "$PAGE"
	mkfifo "$PAGE"
	expect "a FIFO (no hang)" "$(timeout 10 bash -c "$(declare -f shim_binds); shim_binds p-fifo 1")" "snapshot "
	rm -f "$PAGE"
}

# An agent killed (SIGKILL: no chance to say so) leaves a page whose
# heartbeat stands still: a process that believed it stops within
# BG_AGENT_STALE_MS (2 s) and asks the kernel again.
t_a_killed_agents_page_is_dropped() {
	agent audit || return 1
	wait_page || return 1
	BINDGUARD_CONFIG="$WORK/debug.json" BINDGUARD_MODE=audit BINDGUARD_LOG="$WORK/l.jsonl" \
		LD_PRELOAD="$SHIM" "$ACTOR" bindloop 127.0.0.1 40000 45 100 >"$WORK/l.out" &
	local loop=$!
	sleep 0.5
	kill -KILL "$(cat "$WORK/agent.pid")"
	wait "$loop"
	local views
	views=$(jq -r 'select(.event.action == "bind") | .bindguard.view' "$WORK/l.jsonl" | uniq -c | awk '{print $2}' | tr '\n' ' ')
	expect "views: the page, then the snapshot for good" "$views" "agent snapshot "
	expect "binds" "$(grep -c ' ok$' "$WORK/l.out")" 45
	local f pid
	pid=$(cat "$WORK/agent.pid")
	for f in /run/bindguard/agent/netns-*.ports; do # its pages, of every namespace
		[ "$("$BIN/pagetool" dump "$f" 2>/dev/null | awk 'NR == 1 {print $10}')" = "$pid" ] && rm -f "$f"
	done
}

# Two agents: one publishes (the lock), the other says why not; when the
# first stops the second takes over within a scan.
t_a_second_agent_takes_over_the_pages() {
	agent audit || return 1
	wait_page || return 1
	local first
	first=$(cat "$WORK/agent.pid")
	cp "$WORK/agent.pid" "$WORK/first.pid"
	agent audit || return 1
	expect_match "second agent" "$(cat "$WORK/agent.err")" 'no port pages for the shim: another agent publishes'
	expect "page's agent" "$("$BIN/pagetool" dump "$PAGE" | awk '{print $10}' | head -1)" "$first"
	kill -TERM "$first"
	wait "$first"
	local _ second
	second=$(cat "$WORK/agent.pid")
	for _ in $(seq 1 150); do
		[ "$("$BIN/pagetool" dump "$PAGE" 2>/dev/null | awk '{print $10}' | head -1)" = "$second" ] && break
		sleep 0.02
	done
	expect "page's agent after the first stopped" "$("$BIN/pagetool" dump "$PAGE" | awk '{print $10}' | head -1)" "$second"
	expect "views" "$(shim_binds a 1)" "agent "
}

# The page is looked for in the first in-range bind, on the application's
# stack: threads with PTHREAD_STACK_MIN to 48 KiB stacks, the shim set up in
# the first of them (cold) or before (warm), bind 127.0.0.N:40000 beside a
# connected client (the page marks 40000: the exact query convicts).
t_small_stacks_with_the_page() {
	agent audit || return 1
	wait_page || return 1
	local how out rc
	for how in warm cold; do
		out=$(BINDGUARD_MODE=audit BINDGUARD_LOG="$WORK/s-$how.jsonl" LD_PRELOAD="$SHIM" \
			"$BUILD/threads-smallstack" $how 2>&1)
		rc=$?
		expect "$how: exit status" "$rc" 0
		expect "$how: threads done" "$(grep -c ' ok$' <<<"$out")" 5
		expect "$how: hazards" "$(jq -r 'select(.event.action == "bind") | .bindguard.hazard' "$WORK/s-$how.jsonl" | grep -c pin)" 5
	done
}

# A CLOSE_WAIT socket in a namespace that is not the agent's, older than
# the agent: the agent (in the host's namespace) enters this one, seeds it,
# and refuses the Go B; the page appears here too.
t_another_namespaces_older_sockets_are_seeded() {
	seed_owner || return 1
	local before
	before=$(events_of "$WORK/ev.jsonl" start | wc -l)
	nsenter --net=/proc/"$SUITE_ID"/ns/net "$TOOL" agent --cgroup "$CG" --mode enforce --config "$WORK/bg.json" \
		--log "$WORK/ev.jsonl" 2>>"$WORK/agent.err" &
	echo $! >"$WORK/agent.pid"
	_bg_pids+=($!)
	wait_page || return 1
	expect "agent's namespace" "$(readlink /proc/"$(cat "$WORK/agent.pid")"/ns/net)" "$(readlink /proc/"$SUITE_ID"/ns/net)"
	expect "page here" "$(marked)" "40000 ch "
	in_cgroup b "$BIN/gob" listen 127.0.0.2 40000
	expect "Go B in enforce" "$(said b)" "$(refused)"
	expect "probe" "$(probe)" ok
}

# A namespace that came and went (here within a second, before any scan
# found it): its entries leave the ports map once it has been gone for
# BINDGUARD_AGENT_FORGET_MS (a minute by default; 1 s here).
t_a_gone_namespace_is_forgotten() {
	BINDGUARD_AGENT_FORGET_MS=1000 agent audit || return 1
	local inner map _
	inner=$(unshare -n bash -c 'ip link set lo up
		"$ACTOR" server 127.0.0.1 9000 >/dev/null & sleep 0.3
		"$ACTOR" probe 127.0.0.1 9000 >/dev/null
		stat -L -c %i /proc/self/ns/net; kill %1; wait')
	map=$(bpftool -j map show | jq -r '.[] | select(.name == "ports") | .id' | tail -1)
	expect_match "inner namespace's entry in the ports map" \
		"$(bpftool -j map dump id "$map" | jq -r --argjson n "$inner" '[.[] | select(.formatted.key.netns == $n)] | length')" '^[1-9]'
	for _ in $(seq 1 300); do
		[ "$(bpftool -j map dump id "$map" | jq -r --argjson n "$inner" '[.[] | select(.formatted.key.netns == $n)] | length')" = 0 ] && break
		sleep 0.02
	done
	expect "inner namespace's entries after it was forgotten" \
		"$(bpftool -j map dump id "$map" | jq -r --argjson n "$inner" '[.[] | select(.formatted.key.netns == $n)] | length')" 0
	agent_stop
	expect_match "stop counters: forgotten" "$(events_of "$WORK/ev.jsonl" stop | jq -r .bindguard.counters.forgotten)" '^[1-9]'
}

export -f helpers
run_tests agent 60
