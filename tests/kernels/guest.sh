# guest.sh: the body of the guest's /run-tests.sh (run.sh prepends
# "#!/bin/bash", GUEST_ROOT and the ACTOR, SHIM, TOOL, SCENARIO, TESTLIB,
# CONFORM and REGRESSIONS paths, all under GUEST_ROOT). First reports the tree:
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
for f in "$ACTOR" "$SHIM" "$TOOL" "$SCENARIO" "$TESTLIB" "$CONFORM" "$REGRESSIONS"; do
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

# The differential harness against this kernel: the regressions, then random
# sequences. Each line is prefixed for run.sh.
if [ -n "${CONFORM:-}" ] && [ -x "$CONFORM" ]; then
	"$CONFORM" --replay-file "$REGRESSIONS" 2>&1 | sed 's/^/CONFREG /'
	"$CONFORM" --seed "$CONFORM_SEED" --sequences "$CONFORM_SEQUENCES" --steps "$CONFORM_STEPS" 2>&1 |
		sed 's/^/CONF /'
fi
echo "INFO guest uptime at test end: $(cut -d' ' -f1 /proc/uptime) s"
echo "GUEST done"
