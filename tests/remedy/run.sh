#!/usr/bin/env bash
# remedy/run.sh: the remedy (IP_BIND_ADDRESS_NO_PORT for bind(addr, 0) before
# connect) with real clients, each case in its own network namespace whose
# ephemeral range is port 40000 only (tools/scenario.sh).
#   A client binds 127.0.0.2 with port 0 and connects to 127.0.0.1:9000. The
#   kernel gives it the only ephemeral port at bind() time, as a bound port,
#   and a probe's connect() from 127.0.0.1 then finds no port (EADDRNOTAVAIL).
#   With the remedy, connect() chooses the port and the probe shares it.
# Usage: tests/remedy/run.sh BUILD [NAME-FILTER]
# Prints "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$here/${1:-build}" && pwd)
FILTER=${2:-}
export here BUILD
source "$here/tests/lib.sh"
suite_env

helpers() {
	source "$here/tools/scenario.sh"
	ns_setup
	# shim MODE REMEDY: the environment of a client under the shim
	# (with the self-check at exit: the model must agree with the kernel)
	shim() { preload BINDGUARD_MODE="$1" BINDGUARD_REMEDY="$2" BINDGUARD_SELF_CHECK=1; }
	servers() {
		start server -- server 127.0.0.1 9000
		start probesrv -- server 127.0.0.1 5003
		wait_line "$WORK/server.out" ready && wait_line "$WORK/probesrv.out" ready
	}
	binds() { jq -c 'select(.event.action=="bind" or .event.action=="listen")' "$WORK/ev.jsonl" 2>/dev/null; }
	# nth N FILTER: FILTER applied to the Nth bind/listen event
	nth() { binds | sed -n "${1}p" | jq -r "$2"; }
	# the inode of A's half-closed socket (the shim names other processes' owners by it)
	a_inode() { ss -Htane state close-wait sport = :40000 | grep -o 'ino:[0-9]*' | cut -d: -f2 | head -1; }
	# debug_config: remedy on, every bind logged
	debug_config() {
		echo '{"remedy": true, "level": "debug"}' >"$WORK/cfg.json"
		chmod 644 "$WORK/cfg.json"
	}
	# the pin a bound port leaves after its binder closed: only pre-6.18
	after_close() { [ "$PROFILE" = release ] && echo ok || echo EADDRNOTAVAIL; }
	# python_client ENV...: python3 binds 127.0.0.2:0 (source_address), connects, holds
	python_client() {
		env "$@" python3 -c '
import signal, socket
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
s = socket.create_connection(("127.0.0.1", 9000), source_address=("127.0.0.2", 0))
print("connect ok", *s.getsockname(), flush=True)
signal.sigwait([signal.SIGTERM])' >"$WORK/py.out" 2>"$WORK/py.err" &
		echo $! >"$WORK/py.pid"
		_bg_pids+=($!)
		wait_line "$WORK/py.out" "^connect"
	}
	# socat_client ENV...: socat connects from 127.0.0.2 (bind=) and holds: it
	# only reads its stdin (a FIFO kept open on fd 7), so the server's FIN
	# does not end it
	socat_client() {
		mkfifo "$WORK/in"
		env "$@" socat -u - "TCP:127.0.0.1:9000,bind=127.0.0.2" <"$WORK/in" 2>"$WORK/socat.err" &
		echo $! >"$WORK/socat.pid"
		_bg_pids+=($!)
		exec 7>"$WORK/in"
		local i
		for i in $(seq 1 250); do
			ss -Htn src 127.0.0.2 | grep -q . && return 0
			sleep 0.02
		done
		echo "#   socat did not connect"; cat "$WORK/socat.err"
		return 1
	}
}
export -f helpers

# ---- the clients, without and with the remedy -------------------------------------

t_c_client_without_remedy_pins_the_port() {
	servers || return 1
	start c -- bind 127.0.0.2 0 noname connect=127.0.0.1:9000
	wait_line "$WORK/c.out" "^connect" || return 1
	expect "client's port" "$(tail -1 "$WORK/c.out")" "connect ok 127.0.0.2 40000"
	expect "probe while the client lives" "$(probe)" EADDRNOTAVAIL
	stop c
	expect "probe after it closed" "$(probe)" ok
}

t_c_client_with_remedy_shares_the_port() {
	servers || return 1
	start c $(shim audit on) -- bind 127.0.0.2 0 noname connect=127.0.0.1:9000
	wait_line "$WORK/c.out" "^connect" || return 1
	expect "client" "$(tr '\n' ' ' <"$WORK/c.out")" "bind ok 127.0.0.2 - connect ok 127.0.0.2 40000 "
	expect "probe while the client lives" "$(probe)" ok
	expect "events" "$(binds | wc -l)" 1
	expect "remedy event" "$(nth 1 '[.bindguard.decision,.bindguard.hazard,.bindguard.remedy,.source.ip,.source.port,.event.outcome]|@csv')" '"remedy","none","applied","127.0.0.2",0,"success"'
	schema_ok
}

t_python_source_address_with_and_without_remedy() {
	servers || return 1
	python_client $(shim audit off) || return 1
	expect "python3's port" "$(cat "$WORK/py.out")" "connect ok 127.0.0.2 40000"
	expect "probe, no remedy" "$(probe)" EADDRNOTAVAIL
	stop py
	rm -f "$WORK/ev.jsonl"
	python_client $(shim audit on) || return 1
	expect "python3's port, remedy" "$(cat "$WORK/py.out")" "connect ok 127.0.0.2 40000"
	expect "probe, remedy" "$(probe)" ok
	expect "decision" "$(nth 1 .bindguard.decision)" remedy
	schema_ok
}

t_socat_bind_option_with_and_without_remedy() {
	servers || return 1
	socat_client $(shim audit off) || return 1
	expect "probe, no remedy" "$(probe)" EADDRNOTAVAIL
	exec 7>&-
	stop socat
	rm -f "$WORK/in" "$WORK/ev.jsonl"
	socat_client $(shim audit on) || return 1
	expect "socat's port, remedy" "$(ss -Htn src 127.0.0.2 | awk '{print $4}')" "127.0.0.2:40000"
	expect "probe, remedy" "$(probe)" ok
	expect "decision" "$(nth 1 .bindguard.decision)" remedy
	exec 7>&-
}

# The seed's half-closed owner: A in CLOSE_WAIT on the port. Without the
# remedy the client's bind lands on A's port and pins it, and on kernels
# before 6.18 the pin outlives the client. With it, nothing is pinned.
t_halfclosed_owner_without_and_with_remedy() {
	seed_owner || return 1
	start c $(shim audit off) -- bind 127.0.0.2 0 noname connect=127.0.0.1:9000
	wait_line "$WORK/c.out" "^connect" || return 1
	expect "client's port" "$(tail -1 "$WORK/c.out")" "connect ok 127.0.0.2 40000"
	expect "hazard" "$(nth 1 .bindguard.hazard)" pin_halfclosed
	expect_match "advice: the remedy" "$(nth 1 '.bindguard.advice|join(" | ")')" 'BINDGUARD_REMEDY=on'
	expect_match "advice: close the half-closed connection" "$(nth 1 '.bindguard.advice|join(" | ")')" "close the half-closed connection 127.0.0.1:40000->127.0.0.1:9000 \(CLOSE_WAIT\), socket inode [1-9][0-9]*"
	expect "probe while the client lives" "$(probe)" EADDRNOTAVAIL
	stop c
	expect "probe after the client closed ($PROFILE)" "$(probe)" "$(after_close)"
	stop a
	start a2 -- closewait 127.0.0.1 9000
	wait_line "$WORK/a2.out" "^closewait 127.0.0.1 40000" || return 1
	rm -f "$WORK/ev.jsonl"
	start d $(shim audit on) -- bind 127.0.0.2 0 noname connect=127.0.0.1:9000
	wait_line "$WORK/d.out" "^connect" || return 1
	expect "client's port, remedy" "$(tail -1 "$WORK/d.out")" "connect ok 127.0.0.2 40000"
	expect "probe while the client lives, remedy" "$(probe)" ok
	stop d
	expect "probe after the client closed, remedy" "$(probe)" ok
	schema_ok
}

# ---- programs the remedy must not break ------------------------------------------------

# getsockname() between bind and connect: the program wants its port now. The
# shim withdraws the remedy and binds the port as the program asked, so the
# program sees what it would see without the shim.
t_getsockname_after_bind_gets_a_real_port() {
	seed_owner || return 1
	start c $(shim audit on) -- bind 127.0.0.2 0 connect=127.0.0.1:9000
	wait_line "$WORK/c.out" "^connect" || return 1
	expect "client" "$(tr '\n' ' ' <"$WORK/c.out")" "bind ok 127.0.0.2 40000 connect ok 127.0.0.2 40000 "
	expect "events" "$(binds | jq -r '[.bindguard.decision,.bindguard.remedy,.bindguard.hazard,.source.port]|@csv' | tr '\n' ' ')" \
		'"remedy","applied","none",0 "log","withdrawn","pin_halfclosed",40000 '
	expect_match "advice" "$(nth 2 '.bindguard.advice|join(" | ")')" 'withdrawn.*set IP_BIND_ADDRESS_NO_PORT in the program'
	expect "probe: as without the shim" "$(probe)" EADDRNOTAVAIL
	schema_ok
}

# A second bind() fails with EINVAL, as it does without the remedy (the
# first one gave the socket its port).
t_second_bind_fails_as_without_the_remedy() {
	local py='
import socket
s = socket.socket()
s.bind(("127.0.0.2", 0))
for a in (("127.0.0.2", 0), ("127.0.0.3", 41000)):
    try:
        s.bind(a); print("ok", end=" ")
    except OSError as e:
        print(e.errno, end=" ")
print()'
	expect "without the shim" "$(python3 -c "$py")" "22 22 "
	expect "with the remedy" "$(env $(shim audit on) python3 -c "$py")" "22 22 "
	expect "remedy applied" "$(nth 1 .bindguard.decision)" remedy
}

t_bind_then_listen_still_gets_a_port() {
	debug_config
	range 40000 40003 # a client of the listener needs a port too
	start l $(preload BINDGUARD_CONFIG="$WORK/cfg.json") -- bind 127.0.0.2 0 noname listen
	wait_line "$WORK/l.out" "^listen" || return 1
	local port
	port=$(awk '/^listen ok/ {print $4}' "$WORK/l.out")
	expect_match "listener's port (from listen())" "$port" '^4000[0-3]$'
	expect "a client reaches it" "$("$ACTOR" probe 127.0.0.2 "$port" | awk '{print $2}')" ok
	expect "events" "$(binds | jq -r '[.event.action,.bindguard.decision,.source.port]|@csv' | tr '\n' ' ')" "\"bind\",\"remedy\",0 \"listen\",\"allow\",$port "
	schema_ok
}

t_ipv6_client_with_and_without_remedy() {
	start server6 -- server ::1 9000
	start probesrv -- server 127.0.0.1 5003
	wait_line "$WORK/server6.out" ready && wait_line "$WORK/probesrv.out" ready || return 1
	start c $(shim audit off) -- bind ::1 0 noname connect=::1:9000
	wait_line "$WORK/c.out" "^connect" || return 1
	expect "client's port" "$(tail -1 "$WORK/c.out")" "connect ok ::1 40000"
	expect "probe, no remedy" "$(probe)" EADDRNOTAVAIL
	stop c
	start d $(shim audit on) -- bind ::1 0 noname connect=::1:9000
	wait_line "$WORK/d.out" "^connect" || return 1
	expect "client's port, remedy" "$(tail -1 "$WORK/d.out")" "connect ok ::1 40000"
	expect "probe, remedy" "$(probe)" ok
}

# An explicit port has no remedy: the event says what the operator can do.
t_explicit_port_hazard_carries_advice() {
	seed_owner || return 1
	start b $(shim enforce on) -- bind 127.0.0.2 40000
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "blocked" "$(head -1 "$WORK/b.out")" "bind error EADDRINUSE"
	local advice
	advice=$(nth 1 '.bindguard.advice|join("\n")')
	expect_match "reserve the port" "$advice" 'net.ipv4.ip_local_reserved_ports.*40000'
	expect_match "move the port" "$advice" 'out of the ephemeral range 40000-40000'
	expect_match "close the connection" "$advice" "127.0.0.1:40000->127.0.0.1:9000 \(CLOSE_WAIT\), socket inode $(a_inode): .*bindguard report"
	expect "no remedy offered for an explicit port" "$(grep -c 'BINDGUARD_REMEDY' <<<"$advice")" 0
	schema_ok
}

# A rule turns the remedy off for one address; the remedy is never applied
# where the mode is off; an app that set the option itself is left alone.
t_rules_choose_where_the_remedy_applies() {
	servers || return 1
	cat >"$WORK/cfg.json" <<'JSON'
{"remedy": true, "level": "debug", "rules": [{"addresses": ["127.0.0.3"], "remedy": false}, {"addresses": ["127.0.0.4"], "mode": "off"}]}
JSON
	chmod 644 "$WORK/cfg.json"
	local envs
	envs=$(preload BINDGUARD_CONFIG="$WORK/cfg.json")
	start c2 $envs -- bind 127.0.0.2 0 noname connect=127.0.0.1:9000
	wait_line "$WORK/c2.out" "^connect" || return 1
	stop c2
	start c3 $envs -- bind 127.0.0.3 0 noname connect=127.0.0.1:9000
	wait_line "$WORK/c3.out" "^connect" || return 1
	stop c3
	start c4 $envs -- bind 127.0.0.4 0 noname connect=127.0.0.1:9000
	wait_line "$WORK/c4.out" "^connect" || return 1
	stop c4
	start c5 $envs -- bind 127.0.0.2 0 noname noport connect=127.0.0.1:9000
	wait_line "$WORK/c5.out" "^connect" || return 1
	stop c5
	# 127.0.0.4 is in mode off: logged (level debug) but never remedied;
	# c5 set IP_BIND_ADDRESS_NO_PORT itself: no port, no event
	expect "decisions" "$(binds | jq -r '[.source.ip,.bindguard.decision]|@csv' | tr '\n' ' ')" '"127.0.0.2","remedy" "127.0.0.3","allow" "127.0.0.4","allow" '
	expect "config echoes the remedy" "$(events_of "$WORK/ev.jsonl" start | head -1 | jq -c '[.bindguard.config.remedy,.bindguard.config.rules[0].remedy]')" '[true,false]'
}

# The model agrees with the kernel (BINDGUARD_SELF_CHECK at exit) about a
# remedied socket left port-less, one that listened, one that connected and
# one whose program read its port. libc's exit() skips python3's own
# clean-up, so the sockets are still open when the check runs.
t_self_check_agrees_on_remedied_sockets() {
	range 40000 40003
	start server -- server 127.0.0.1 9000
	wait_line "$WORK/server.out" ready || return 1
	env $(shim audit on) python3 -c '
import ctypes, socket
s = socket.socket(); s.bind(("127.0.0.2", 0))
l = socket.socket(); l.bind(("127.0.0.2", 0)); l.listen()
c = socket.socket(); c.bind(("127.0.0.3", 0)); c.connect(("127.0.0.1", 9000))
g = socket.socket(); g.bind(("127.0.0.4", 0)); g.getsockname()
ctypes.CDLL(None).exit(0)'
	expect "self-check" "$(events_of "$WORK/ev.jsonl" stop | jq -c '.bindguard.self_check|[.sockets,.mismatches,.listening,.connected]')" "[4,0,1,1]"
	expect "remedies" "$(events_of "$WORK/ev.jsonl" stop | jq -c '.bindguard.counters.remedies')" 4
	schema_ok
}

run_tests remedy 60
