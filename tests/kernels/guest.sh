# guest.sh: the body of the guest's /run-tests.sh (run.sh prepends
# "#!/bin/bash", GUEST_ROOT and the ACTOR, SHIM, TOOL, SCENARIO, TESTLIB,
# CONFORM and REGRESSIONS paths, all under GUEST_ROOT, and, when the agent
# is tested, AGENT, GOB and BINDER there too and BPFTOOL). First reports the tree:
#   RESULT kernel=K case=tree root=R missing=none|F,.. outside=none|F,..
# (R: the folder holding tools/scenario.sh; missing: files not there; outside:
# paths not under GUEST_ROOT). Then runs the seed
# scenario of docs/kernel-rules.md section 8 without the shim, under the
# shim in audit mode and in enforce mode, then with a bind-before-connect
# client without and with the remedy, one case after the other on the
# guest's own network stack, and prints one line per case:
#   RESULT kernel=K case=C bind=.. probe_before_bind=.. probe_while_open=..
#          probe_after_b_closed=.. probe_after_a_closed=.. [hazard=.. decision=..
#          profile=.. view=..]
# Never changes a result: it only reports; run.sh judges.
set -u
export ACTOR SHIM
KREL=$(uname -r)
tree_missing="" tree_outside=""
for f in "$ACTOR" "$SHIM" "$TOOL" "$SCENARIO" "$TESTLIB" "$CONFORM" "$REGRESSIONS" ${AGENT:+"$AGENT" "$GOB" "$BINDER"}; do
	[ -f "$f" ] || tree_missing+="${tree_missing:+,}$f"
	case $f in "$GUEST_ROOT"/*) ;; *) tree_outside+="${tree_outside:+,}$f" ;; esac
done
tree_root=$(cd "$(dirname "$SCENARIO")/.." 2>/dev/null && pwd -P)
echo "RESULT kernel=$KREL case=tree root=${tree_root:-none} missing=${tree_missing:-none} outside=${tree_outside:-none}"
# shellcheck source=../../tools/scenario.sh
source "$SCENARIO"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$TESTLIB" # preload
ns_setup
echo "INFO guest uptime at test start: $(cut -d' ' -f1 /proc/uptime) s"
echo "INFO ip_local_port_range $(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range)"
"$TOOL" profile 2>&1 | head -1 | sed 's/^/INFO bindguard profile: /'

# fields LOG: "hazard=.. decision=.. profile=.. view=.." of the first bind
# event in LOG ("none" where absent). One jq run: jq starts slowly under TCG.
fields() {
	local k v line out=""
	if command -v jq >/dev/null 2>&1; then
		out=$(jq -r 'select(.event.action == "bind") | .bindguard |
			"hazard=\(.hazard // "none") decision=\(.decision // "none") profile=\(.profile // "none") view=\(.view // "none")"' \
			"$1" 2>/dev/null | head -1)
	else
		line=$(grep -E '"action": *"bind"' "$1" 2>/dev/null | head -1)
		for k in hazard decision profile view; do
			v=$(grep -o "\"$k\": *\"[^\"]*\"" <<<"$line" | head -1 | sed 's/.*: *"//; s/"$//')
			out+="${out:+ }$k=${v:-none}"
		done
	fi
	echo "${out:-hazard=none decision=none profile=none view=none}"
}

# message LOG: the message of the first bind event in LOG
message() {
	grep -E '"action": *"bind"' "$1" 2>/dev/null | head -1 | grep -o '"message": *"[^"]*"' | head -1 |
		sed 's/^"message": *"//; s/"$//'
}

# run_case CASE: B binds A's port without the shim (noshim), under the shim in
# audit or enforce mode; or B is a client that binds 127.0.0.2 with port 0
# before it connects, under the shim in audit mode without the remedy
# (autobind) or with it (remedy). bind= is B's bind, or its connect for those.
run_case() {
	local mode=$1 bind p0 p1 p2 p3 line
	local -a envs=() args=(bind 127.0.0.2 "$PORT")
	WORK=$(mktemp -d "/tmp/bindguard-$mode.XXXXXX")
	export WORK
	if ! seed_owner; then
		echo "RESULT kernel=$KREL case=$mode error=seed_owner"
		stop_all
		return
	fi
	p0=$(probe)
	case $mode in
	audit | enforce) read -ra envs <<<"$(preload BINDGUARD_MODE="$mode")" ;;
	autobind | remedy)
		read -ra envs <<<"$(preload BINDGUARD_MODE=audit BINDGUARD_REMEDY="$([ "$mode" = remedy ] && echo on || echo off)")"
		args=(bind 127.0.0.2 0 noname connect=127.0.0.1:9000)
		;;
	esac
	start b "${envs[@]}" -- "${args[@]}"
	if ! wait_line "$WORK/b.out" "^(bind error|connect|bind ok 127.0.0.2 $PORT)"; then
		echo "RESULT kernel=$KREL case=$mode error=bind_no_report"
		sed 's/^/LOG b.err: /' "$WORK/b.err"
		stop_all
		return
	fi
	bind=$(grep -E "^(bind error|connect|bind ok 127.0.0.2 $PORT)" "$WORK/b.out" | head -1 | awk '{ print $2 == "ok" ? "ok" : $3 }')
	p1=$(probe)
	stop b
	p2=$(probe)
	stop a
	p3=$(probe)
	stop_all
	line="RESULT kernel=$KREL case=$mode bind=$bind probe_before_bind=$p0 probe_while_open=$p1"
	line+=" probe_after_b_closed=$p2 probe_after_a_closed=$p3"
	if [ "$mode" != noshim ]; then
		line+=" $(fields "$WORK/ev.jsonl")"
	fi
	echo "$line"
	if [ "$mode" != noshim ]; then
		echo "EVENT case=$mode $(message "$WORK/ev.jsonl")"
	fi
	[ -s "$WORK/b.err" ] && sed "s/^/LOG case=$mode b.err: /" "$WORK/b.err"
	rm -rf "$WORK"
}

for c in noshim audit enforce autobind remedy; do
	run_case "$c"
done

# bindguard probe: the profile by experiment, written where a shim is told to
# read it; then a process under the shim reports what chose its profile.
#   RESULT kernel=K case=probe rc=.. profile=.. era_from=.. era_to=..|open
#          shim_source=.. shim_disagree=..
pf=/tmp/probe.json
"$TOOL" probe --write --file "$pf" 2>&1 | sed 's/^/PROBE /'
prc=${PIPESTATUS[0]}
pfield() { # the first "KEY": "VALUE" of the probe file
	sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$pf" 2>/dev/null | head -1
}
BINDGUARD_PROBE_FILE=$pf BINDGUARD_LOG=/tmp/probe-start.jsonl LD_PRELOAD=$SHIM "$ACTOR" probe 127.0.0.1 9 >/dev/null 2>&1
shim_source=$(grep -o '"profile_choice":{"source":"[a-z]*"' /tmp/probe-start.jsonl 2>/dev/null | head -1 | sed 's/.*"source":"//; s/"$//')
shim_disagree=$(grep -o '"disagree":[a-z]*' /tmp/probe-start.jsonl 2>/dev/null | head -1 | cut -d: -f2)
echo "RESULT kernel=$KREL case=probe rc=$prc profile=$(pfield profile) era_from=$(pfield from) era_to=$(pfield to) shim_source=${shim_source:-none} shim_disagree=${shim_disagree:-none}"

# ---- bindguard agent (issue 15), when run.sh put it in (AGENT set) ----
# The agent on a child cgroup v2 directory, B of the seed scenario played by
# programs the shim cannot see: the static Go binder (net.ListenConfig on
# 127.0.0.2 and [::1], net.Dialer{LocalAddr}) and the static C binder,
# inside the cgroup, then the C binder outside it. bpftool shows what is
# attached while the agent runs and after SIGTERM. The first enforce case's A
# predates the agent (seeded from iter/tcp). Without kernel BTF the agent
# must refuse to start: only the agent-start-audit line is printed.
#   RESULT kernel=K case=agent-start-MODE rc=running|timeout|N seconds=S
#          btf=yes|no names_btf=yes|no attached=none|TYPE,.. progs=N seeded=N
#   RESULT kernel=K case=agent-MODE-NAME b=bound|connected|ERRNO probe=..
#          events=N pid=same|other|none addr=IP:PORT source=.. hazard=..
#          decision=.. code=..
#   RESULT kernel=K case=agent-stop-MODE rc=.. stops=N attached=none|TYPE,..
#          progs=N
# (events: the agent's bind events this case; the other fields are the first
# one's; attached: the attach types of the bg_* programs on the cgroup;
# progs: bg_* programs loaded; seeded: bindguard.counters.seeded of the
# start event)
agent_cases() {
	local AW CG
	AW=$(mktemp -d /tmp/bindguard-agent.XXXXXX)
	echo '{}' >"$AW/bg.json"
	grep -q ' cgroup2 ' /proc/mounts || mount -t cgroup2 cgroup2 /sys/fs/cgroup ||
		echo "INFO agent: mount -t cgroup2 failed"
	CG=$(mktemp -d /sys/fs/cgroup/bindguard.XXXXXX) || CG=/sys/fs/cgroup
	# jfield LINE KEY: REPLY, the first "KEY": string (unquoted) or number in
	# LINE (bash alone: every fork costs under TCG)
	jfield() {
		local re="\"$2\": *(\"([^\"]*)\"|([0-9]+))"
		REPLY=""
		if [[ $1 =~ $re ]]; then REPLY=${BASH_REMATCH[2]}${BASH_REMATCH[3]}; fi
	}
	# attached: the attach types of bindguard's programs on $CG (bpftool's
	# rows: ID, attach type, [flags,] name), "none" when there are none
	attached() {
		local t
		t=$("$BPFTOOL" cgroup show "$CG" 2>/dev/null | awk '$NF ~ /^bg_/ { print $2 }' | sort | tr '\n' ',')
		t=${t%,}
		echo "${t:-none}"
	}
	progs() { "$BPFTOOL" prog show 2>/dev/null | grep -c ' name bg_'; }
	# events ACTION [N]: the agent's ACTION events, the count or the Nth one
	events() {
		if [ -z "${2:-}" ]; then
			grep -cE "\"action\": *\"$1\"" "$AW/ev-$MODE.jsonl" 2>/dev/null
		else
			grep -E "\"action\": *\"$1\"" "$AW/ev-$MODE.jsonl" 2>/dev/null | sed -n "$2p"
		fi
	}
	# agent_start MODE: the agent on $CG; true when it has attached
	agent_start() {
		local rc=running t0 i
		MODE=$1
		t0=$EPOCHREALTIME
		"$TOOL" agent --cgroup "$CG" --mode "$MODE" --config "$AW/bg.json" --log "$AW/ev-$MODE.jsonl" \
			2>"$AW/agent-$MODE.err" &
		AGENT_PID=$!
		for i in $(seq 1 1500); do
			grep -q 'attached to' "$AW/agent-$MODE.err" && break
			if ! kill -0 "$AGENT_PID" 2>/dev/null; then
				wait "$AGENT_PID"
				rc=$?
				break
			fi
			[ "$i" != 1500 ] || rc=timeout
			sleep 0.02
		done
		echo "RESULT kernel=$KREL case=agent-start-$MODE rc=$rc seconds=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" \
			"btf=$([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)" \
			"names_btf=$(grep -q CONFIG_DEBUG_INFO_BTF "$AW/agent-$MODE.err" && echo yes || echo no)" \
			"attached=$(attached) progs=$(progs)" \
			"seeded=$(jfield "$(events start 1)" seeded && echo "$REPLY")"
		sed "s/^/LOG agent-$MODE: /" "$AW/agent-$MODE.err"
		[ "$rc" = running ] || { [ "$rc" != timeout ] || agent_stop; }
		[ "$rc" = running ]
	}
	# agent_stop: SIGTERM, then what stays attached a second later
	agent_stop() {
		local rc
		kill -TERM "$AGENT_PID"
		wait "$AGENT_PID"
		rc=$?
		sleep 1
		echo "RESULT kernel=$KREL case=agent-stop-$MODE rc=$rc" \
			"stops=$(events stop)" \
			"attached=$(attached) progs=$(progs)"
	}
	# agent_case NAME inside|outside PROGRAM ARGS...: the seed scenario with
	# PROGRAM as B, in the cgroup or in this shell's
	agent_case() {
		local name=$1 where=$2 n0 b pid p ev epid n f line t
		shift 2
		n0=$(events bind)
		if [ -n "${SEEDED:-}" ]; then
			WORK=$SEEDED SEEDED=""
		elif ! { WORK=$(mktemp -d "/tmp/bindguard-agent-$name.XXXXXX") && seed_owner; }; then
			echo "RESULT kernel=$KREL case=agent-$MODE-$name error=seed_owner"
			stop_all
			return
		fi
		if [ "$where" = inside ]; then
			(
				echo "$BASHPID" >"$CG/cgroup.procs"
				exec "$@"
			) >"$WORK/b.out" 2>&1 &
		else
			"$@" >"$WORK/b.out" 2>&1 &
		fi
		_bg_pids+=($!)
		if ! wait_line "$WORK/b.out" '^(bound|connected|error) '; then
			echo "RESULT kernel=$KREL case=agent-$MODE-$name error=b_no_report"
			stop_all
			return
		fi
		b=$(awk 'NR == 1 { print $1 == "error" ? $2 : $1 }' "$WORK/b.out")
		pid=$(awk 'NR == 1 { print $1 == "error" ? $3 : $2 }' "$WORK/b.out")
		p=$(probe)
		# the agent reads its ring buffer at once: the event within 1 s (none
		# from outside), then a moment for a second one that should not come
		t=${EPOCHREALTIME/./}
		while [ "$(events bind)" -le "$n0" ] && [ $((${EPOCHREALTIME/./} - t)) -lt 1000000 ]; do
			sleep 0.02
		done
		sleep 0.3
		stop_all
		n=$(($(events bind) - n0))
		ev=$(events bind $((n0 + 1)))
		jfield "$ev" pid
		if [ -z "$REPLY" ]; then
			epid=none
		elif [ "$REPLY" = "$pid" ]; then
			epid=same
		else
			epid=other
		fi
		jfield "$ev" ip
		line="RESULT kernel=$KREL case=agent-$MODE-$name b=$b probe=$p events=$n pid=$epid addr=$REPLY"
		jfield "$ev" port
		line+=":$REPLY"
		for f in source hazard decision code; do
			jfield "$ev" $f
			line+=" $f=$REPLY"
		done
		echo "$line"
		jfield "$ev" message
		[ -z "$ev" ] || echo "EVENT case=agent-$MODE-$name $REPLY"
		rm -rf "$WORK"
	}
	if agent_start audit; then
		agent_case go-listen inside "$GOB" listen 127.0.0.2 "$PORT"
		agent_case c inside "$BINDER" 127.0.0.2 "$PORT"
		agent_stop
	fi
	# the first enforce case's A is older than the agent: seeded (iter/tcp)
	SEEDED=""
	if [ -r /sys/kernel/btf/vmlinux ]; then
		WORK=$(mktemp -d /tmp/bindguard-agent-go-listen.XXXXXX)
		if seed_owner; then SEEDED=$WORK; fi
		if agent_start enforce; then
			agent_case go-listen inside "$GOB" listen 127.0.0.2 "$PORT"
			agent_case go-dial inside "$GOB" dial 127.0.0.2 "$PORT" 127.0.0.1:9000
			agent_case go-listen6 inside "$GOB" listen ::1 "$PORT"
			agent_case c inside "$BINDER" 127.0.0.2 "$PORT"
			agent_case c-outside outside "$BINDER" 127.0.0.2 "$PORT"
			agent_stop
		else
			stop_all
		fi
	fi
	[ "$CG" = /sys/fs/cgroup ] || rmdir "$CG" 2>/dev/null
	rm -rf "$AW"
}
if [ -n "${AGENT:-}" ]; then
	t=$EPOCHREALTIME
	agent_cases
	echo "INFO agent cases took $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
fi

# The differential harness against this kernel: the regressions, then random
# sequences. Each line is prefixed for run.sh.
if [ -n "${CONFORM:-}" ] && [ -x "$CONFORM" ]; then
	"$CONFORM" --replay-file "$REGRESSIONS" 2>&1 | sed 's/^/CONFREG /'
	"$CONFORM" --seed "$CONFORM_SEED" --sequences "$CONFORM_SEQUENCES" --steps "$CONFORM_STEPS" 2>&1 |
		sed 's/^/CONF /'
fi
echo "INFO guest uptime at test end: $(cut -d' ' -f1 /proc/uptime) s"
echo "GUEST done"
