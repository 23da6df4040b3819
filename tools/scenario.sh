# scenario.sh: the seed scenario's moves, for tools/demo.sh and tests/e2e.
# Source it inside a private network namespace (unshare -n). Needs $ACTOR
# (bindguard-actor) and $SHIM (libbindguard.so); $WORK is a scratch folder.
#
# A: a client whose server hung up, left in CLOSE_WAIT on the only ephemeral
#    port; B: a process binding that port on another local address; a probe:
#    a new connect() to another destination, which needs that port too.

PORT=${PORT:-40000}
_bg_pids=()

ns_setup() {
	ip link set lo up
	echo "$PORT $PORT" > /proc/sys/net/ipv4/ip_local_port_range
}

# wait_line FILE REGEX: until FILE has a line matching REGEX (5 s at most)
wait_line() {
	local i
	for i in $(seq 1 250); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	echo "timeout waiting for /$2/ in $1:" >&2
	cat "$1" >&2 2>/dev/null
	return 1
}

# start NAME [ENV=VAL...] -- ROLE ARGS...: run an actor role in the background,
# output in $WORK/NAME.out, pid in $WORK/NAME.pid
start() {
	local name=$1; shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	# emptied here, not in the child: a name used again must not show the
	# last run's lines to wait_line before the new process has written any
	: >"$WORK/$name.out"
	env "${envs[@]}" "$ACTOR" "$@" >> "$WORK/$name.out" 2> "$WORK/$name.err" &
	echo $! > "$WORK/$name.pid"
	_bg_pids+=($!)
}

stop() {
	local pid
	pid=$(cat "$WORK/$1.pid")
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

stop_all() {
	local p
	for p in "${_bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${_bg_pids[@]}"; do wait "$p" 2>/dev/null; done
	_bg_pids=()
}

# A in CLOSE_WAIT on 127.0.0.1:$PORT, and a probe destination on :5003.
seed_owner() {
	start server -- server 127.0.0.1 9000
	start probesrv -- server 127.0.0.1 5003
	wait_line "$WORK/server.out" "ready" && wait_line "$WORK/probesrv.out" "ready" || return 1
	start a -- closewait 127.0.0.1 9000
	wait_line "$WORK/a.out" "^closewait" || return 1
}

# probe: prints "ok" or the errno name
probe() {
	"$ACTOR" probe 127.0.0.1 5003 | awk '{print $2 == "ok" ? "ok" : $3}'
}
