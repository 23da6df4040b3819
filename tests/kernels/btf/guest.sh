#!/bin/bash
# btf/guest.sh: the guest's /run-tests.sh for the BTF kernel image (run.sh
# puts it in the initramfs with the agent, bpftool, jq, the actor, the static
# C and Go binders under /bg). Runs `bindguard-agent` on a child cgroup
# against the seed scenario of tools/scenario.sh and prints what it sees,
# one line per measurement; it never judges (run.sh does):
#   RESULT kernel=K case=btf vmlinux_btf=BYTES|none
#   RESULT kernel=K case=agent_MODE up=yes|no rc=.. attach_ms=..
#   RESULT kernel=K case=features set_retval=true|false|none
#   RESULT kernel=K case=MODE_B b=bound|error ERRNO probe=ok|ERRNO
#   RESULT kernel=K case=MODE_event decision=.. hazard=.. source=IP:PORT level=.. count=N
#   RESULT kernel=K case=MODE_stop rc=.. progs_running=N progs_after=N cgroup_running=N cgroup_after=N
# (B: static C binder, Go `gob listen`, each bound to 127.0.0.2:40000 from
# inside the cgroup while A holds 127.0.0.1:40000 in CLOSE_WAIT; probe: a
# connect() to 127.0.0.1:5003 afterwards), plus LOG lines (the agent's
# stderr), EVENT lines (its bind events, verbatim) and INFO lines.
set -u
BG=/bg
ACTOR=$BG/bin/bindguard-actor
AGENT=$BG/bin/bindguard-agent
WORK=$(mktemp -d)
export ACTOR WORK
KREL=$(uname -r)
res() { echo "RESULT kernel=$KREL $*"; }
info() { echo "INFO $*"; }
# shellcheck source=SCRIPTDIR/../../../tools/scenario.sh
source "$BG/scenario.sh"

info "guest uptime at start: $(cut -d' ' -f1 /proc/uptime) s"
if [ -r /sys/kernel/btf/vmlinux ]; then
	res "case=btf vmlinux_btf=$(wc -c </sys/kernel/btf/vmlinux)"
else
	res "case=btf vmlinux_btf=none"
fi
dmesg | grep -iE 'btf|bpf' | sed 's/^/INFO dmesg: /'

mount -t cgroup2 none /sys/fs/cgroup || info "mount cgroup2 failed"
CG=/sys/fs/cgroup/bg
mkdir -p "$CG"
ns_setup # ip link set lo up; ip_local_port_range "40000 40000"
info "ip_local_port_range $(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range)"
info "lo: flags $(cat /sys/class/net/lo/flags) operstate $(cat /sys/class/net/lo/operstate)"
seed_owner || info "seed_owner failed"
# A's socket: 127.0.0.1:40000 (9C40) in CLOSE_WAIT (08)
info "A: $(awk '$2 == "0100007F:9C40" { print "local " $2 " state " $4 }' /proc/net/tcp)"
info "probe before any B: $(probe)"

uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
progs() { bpftool prog show 2>/dev/null | grep -c '^[0-9]*:'; }
# cgroups with programs attached: bpftool's tree prints a cgroup's path only
# when the kernel counts programs on it (BPF_PROG_QUERY). The rows under it
# stay empty on 5.15 with a newer bpftool, whose query asks for attach flags
# that kernel does not know (EINVAL), so the path is what is counted
cgprogs() { bpftool cgroup tree /sys/fs/cgroup 2>/dev/null | awk '$1 ~ /^\// { n++ } END { print n + 0 }'; }

# agent_run MODE: start the agent on $CG, wait up to 120 s for "attached to"
agent_run() {
	: >"$WORK/agent.err"
	local t0 t1
	t0=$(uptime_ms)
	"$AGENT" --cgroup "$CG" --mode "$1" --log "$WORK/ev.jsonl" 2>"$WORK/agent.err" &
	echo $! >"$WORK/agent.pid"
	for _ in $(seq 1 1200); do
		grep -q 'attached to' "$WORK/agent.err" && break
		kill -0 "$(cat "$WORK/agent.pid")" 2>/dev/null || break
		sleep 0.1
	done
	t1=$(uptime_ms)
	sed 's/^/LOG agent: /' "$WORK/agent.err"
	if grep -q 'attached to' "$WORK/agent.err"; then
		res "case=agent_$1 up=yes rc=running attach_ms=$((t1 - t0))"
		return 0
	fi
	wait "$(cat "$WORK/agent.pid")"
	res "case=agent_$1 up=no rc=$? attach_ms=$((t1 - t0))"
	return 1
}

# b_in_cgroup NAME CMD...: CMD inside $CG; prints its verdict
b_in_cgroup() {
	local name=$1
	shift
	(
		echo "$BASHPID" >"$CG/cgroup.procs"
		exec "$@"
	) >"$WORK/$name.out" 2>&1 &
	echo $! >"$WORK/$name.pid"
	wait_line "$WORK/$name.out" '^(bound|error) ' >/dev/null
	awk 'NR == 1 { print $1 == "error" ? $1 " " $2 : $1 }' "$WORK/$name.out"
}
b_stop() {
	kill -TERM "$(cat "$WORK/$1.pid")" 2>/dev/null
	wait "$(cat "$WORK/$1.pid")" 2>/dev/null
}

# agent_stop MODE: SIGTERM, then what stays attached
agent_stop() {
	local running cgrunning pid rc
	running=$(progs)
	cgrunning=$(cgprogs)
	info "$1: programs while running: $(bpftool prog show 2>&1 | awk '/^[0-9]+:/ { printf "%s %s; ", $2, $4 }')"
	info "$1: bpftool cgroup tree while running: $(bpftool cgroup tree /sys/fs/cgroup 2>&1 | tr -s ' \n' ' ')"
	info "$1: bpftool cgroup show $CG while running: $(bpftool cgroup show "$CG" 2>&1 | tr -s ' \n' ' ') (exit $?)"
	pid=$(cat "$WORK/agent.pid")
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	res "case=$1_stop rc=$rc progs_running=$running progs_after=$(progs) cgroup_running=$cgrunning cgroup_after=$(cgprogs)"
	info "$1: bpftool prog show after SIGTERM: $(bpftool prog show 2>&1 | tr -s ' \n' ' ')"
	info "$1: bpftool cgroup tree after SIGTERM: $(bpftool cgroup tree /sys/fs/cgroup 2>&1 | tr -s ' \n' ' ')"
}

# events MODE: the agent's bind events so far, verbatim, and the fields of the
# first one
events() {
	jq -c 'select(.event.action == "bind")' "$WORK/ev.jsonl" 2>/dev/null | sed "s/^/EVENT $1: /"
	local f
	f=$(jq -r 'select(.event.action == "bind") |
		"decision=\(.bindguard.decision // "none") hazard=\(.bindguard.hazard // "none") source=\(.source.ip // "none"):\(.source.port // "none") level=\(.log.level // "none")"' \
		"$WORK/ev.jsonl" 2>/dev/null | head -1)
	res "case=$1_event ${f:-decision=none} count=$(jq -c 'select(.event.action == "bind")' "$WORK/ev.jsonl" 2>/dev/null | wc -l)"
}

# ---- enforce: static C B, then Go B
if agent_run enforce; then
	res "case=features set_retval=$(jq -r 'select(.event.action == "start") | .bindguard.features.set_retval' "$WORK/ev.jsonl" | tail -1)"
	jq -c 'select(.event.action == "start")' "$WORK/ev.jsonl" | sed 's/^/EVENT start: /'
	b=$(b_in_cgroup bc "$BG/bin/binder" 127.0.0.2 40000)
	res "case=enforce_static b=${b// /_} probe=$(probe)"
	b_stop bc
	b=$(b_in_cgroup bg "$BG/bin/gob" listen 127.0.0.2 40000)
	res "case=enforce_go b=${b// /_} probe=$(probe)"
	info "go B said: $(head -1 "$WORK/bg.out")"
	b_stop bg
	events enforce
	agent_stop enforce
else
	res "case=features set_retval=none"
fi

# ---- audit: the same static B is let through and logged; the probe then
# meets the hazard (the control: what enforce prevented)
rm -f "$WORK/ev.jsonl"
if agent_run audit; then
	b=$(b_in_cgroup ba "$BG/bin/binder" 127.0.0.2 40000)
	res "case=audit_static b=${b// /_} probe=$(probe)"
	b_stop ba
	events audit
	agent_stop audit
fi
stop_all
info "guest uptime at end: $(cut -d' ' -f1 /proc/uptime) s"
