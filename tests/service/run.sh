#!/usr/bin/env bash
# service/run.sh: what an operator installs beside the shim, with the real
# tools: the scan's systemd units (systemd-analyze verify) and the event log's
# logrotate file (logrotate -f while processes under the shim write events:
# no line lost, none torn). Each case in its own network namespace.
# Usage: tests/service/run.sh BUILD [NAME-FILTER]
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$here/${1:-build}" && pwd)
FILTER=${2:-}
export here BUILD
source "$here/tests/lib.sh"
suite_env

helpers() {
	ip link set lo up
	# units DIR: the shipped units in DIR, ExecStart at this build's command,
	# and the man pages they name findable (Documentation= is checked)
	units() {
		mkdir -p "$1/man/man1" "$1/man/man5" "$1/man/man7"
		cp "$here"/conf/systemd/bindguard-scan.service "$here"/conf/systemd/bindguard-scan.timer "$1/"
		sed -i "s#/usr/local/bin/bindguard#$TOOL#" "$1/bindguard-scan.service"
		cp "$here/man/bindguard.1" "$1/man/man1/"
		cp "$here/man/bindguard.conf.5" "$1/man/man5/"
		cp "$here/man/libbindguard.7" "$1/man/man7/"
	}
	# verify FILE...: systemd-analyze verify with nothing to say (an unknown
	# key is only a warning and exit 0 to it: any output is a failure here)
	verify() {
		local out rc
		out=$(MANPATH="$WORK/u/man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$@" 2>&1)
		rc=$?
		[ -n "$out" ] && sed 's/^/#   /' <<<"$out"
		[ $rc -eq 0 ] && [ -z "$out" ]
	}
	# writer THREADS LOG [COMMAND...]: binds of explicit ports, each one
	# debug event to LOG, from THREADS threads of one python3 process under
	# the shim, started by COMMAND (setpriv ...), until $WORK/stop exists
	writer() {
		local threads=$1 log=$2
		shift 2
		"$@" env $(preload BINDGUARD_CONFIG="$WORK/bg.json" BINDGUARD_LOG="$log") \
			python3 -c '
import os, socket, sys, threading, time
stop = sys.argv[2]
def run(base):
    i = 0
    while i % 100 or not os.path.exists(stop):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", base + i % 500))
        s.close()
        i += 1
        if i % 20 == 0:
            time.sleep(0.01)
ts = [threading.Thread(target=run, args=(20000 + 500 * k,)) for k in range(int(sys.argv[1]))]
[t.start() for t in ts]
[t.join() for t in ts]
' "$threads" "$WORK/stop"
	}
}

t_scan_units_verify() {
	units "$WORK/u"
	verify "$WORK/u/bindguard-scan.service" "$WORK/u/bindguard-scan.timer" || return 1
	# the check can fail: a misspelt key is reported
	sed 's/^Nice=10/Nicee=10/' "$WORK/u/bindguard-scan.service" >"$WORK/u/bad.service"
	if verify "$WORK/u/bad.service" >/dev/null; then
		echo "# verify passed a unit with an unknown key"
		return 1
	fi
	# the timer starts the service, which writes where the directory says
	grep -qx 'OnUnitActiveSec=1min' "$WORK/u/bindguard-scan.timer" &&
		grep -qx 'WantedBy=timers.target' "$WORK/u/bindguard-scan.timer" &&
		grep -q '^ExecStart=.* scan --prom ${BINDGUARD_TEXTFILE_DIR}/bindguard.prom$' "$WORK/u/bindguard-scan.service"
}

# the service's command line, run as the unit would (its environment
# expanded), writes the textfile node_exporter reads; a missing directory
# fails the run and names the path
t_scan_unit_command_writes_the_textfile() {
	units "$WORK/u"
	mkdir -p "$WORK/textfile"
	local cmd
	cmd=$(sed -n 's/^ExecStart=//p' "$WORK/u/bindguard-scan.service")
	BINDGUARD_TEXTFILE_DIR="$WORK/textfile" eval "$cmd" >/dev/null || return 1
	grep -qx 'bindguard_scan_success 1' "$WORK/textfile/bindguard.prom" || return 1
	[ "$(stat -c %a "$WORK/textfile/bindguard.prom")" = 644 ] || return 1
	local err
	err=$(BINDGUARD_TEXTFILE_DIR="$WORK/missing" eval "$cmd" 2>&1 >/dev/null) && return 1
	echo "# missing directory: $err"
	grep -q "$WORK/missing/bindguard.prom" <<<"$err"
}

# node_exporter's textfile directory belongs to its user, not root: a
# symlink that user plants at the textfile's path makes the root scan write
# nowhere but its own new file (the temporary file is made O_EXCL)
t_scan_textfile_follows_no_symlink_the_directory_owner_planted() {
	units "$WORK/u"
	chmod 755 "$WORK"
	mkdir -m 0755 "$WORK/textfile"
	chown nobody "$WORK/textfile"
	echo keep >"$WORK/target"
	chmod 600 "$WORK/target"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		ln -s "$WORK/target" "$WORK/textfile/bindguard.prom" || return 1
	local cmd
	cmd=$(sed -n 's/^ExecStart=//p' "$WORK/u/bindguard-scan.service")
	BINDGUARD_TEXTFILE_DIR="$WORK/textfile" eval "$cmd" >/dev/null || return 1
	expect "the symlink's target" "$(cat "$WORK/target")" keep || return 1
	[ -f "$WORK/textfile/bindguard.prom" ] && [ ! -L "$WORK/textfile/bindguard.prom" ] ||
		{ echo "# bindguard.prom is not a regular file of its own"; return 1; }
	grep -qx 'bindguard_scan_success 1' "$WORK/textfile/bindguard.prom"
}

# Three processes (one of them with four threads) write debug events while
# the shipped logrotate file, pointed at $WORK/log, rotates it 12 times. Two
# write as root to $WORK/log/events.jsonl, the third as nobody to a folder
# of its own, as a service with LogsDirectory=bindguard/SERVICE does.
# Every process's lines, over the current file, the renamed one and the
# compressed ones, are exactly what its stop event says it wrote, each a
# whole JSON object.
t_logrotate_loses_no_line() {
	chmod 755 "$WORK"
	mkdir -m 0755 "$WORK/log" "$WORK/log/svc"
	chown nobody "$WORK/log/svc"
	echo '{"mode": "audit", "level": "debug"}' >"$WORK/bg.json"
	chmod 644 "$WORK/bg.json"
	sed -e "s#/var/log/bindguard#$WORK/log#g" -e 's/rotate 14/rotate 100000/' \
		"$here/conf/logrotate/bindguard" >"$WORK/logrotate.conf"
	grep -q nocreate "$WORK/logrotate.conf" && grep -q delaycompress "$WORK/logrotate.conf" || return 1
	local pids=() p i
	writer 1 "$WORK/log/events.jsonl" &
	pids+=($!)
	writer 4 "$WORK/log/events.jsonl" &
	pids+=($!)
	writer 1 "$WORK/log/svc/events.jsonl" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups env PATH=/usr/bin:/bin &
	pids+=($!)
	# on every way out, the writers stop
	trap 'touch "$WORK/stop"; wait' RETURN
	wait_file "$WORK/log/events.jsonl" && wait_file "$WORK/log/svc/events.jsonl" || return 1
	for i in $(seq 1 12); do
		sleep 0.2
		logrotate -f -s "$WORK/state" "$WORK/logrotate.conf" || { echo "# logrotate failed"; return 1; }
	done
	touch "$WORK/stop"
	for p in "${pids[@]}"; do wait "$p" || { echo "# a writer failed"; return 1; }; done
	# rotations while they wrote: files holding lines of both root writers,
	# and files of nobody's
	local f mid=0 svc
	for f in "$WORK"/log/events.*; do
		[ "$( (zcat -f "$f" | jq -r .process.pid | sort -u | wc -l) 2>/dev/null)" -eq 2 ] && mid=$((mid + 1))
	done
	svc=$(ls "$WORK/log/svc" | wc -l)
	echo "# 12 rotations, $mid files with lines of both root writers, $svc of nobody's: $(ls -l "$WORK/log/svc" | sed -n 2p)"
	[ "$mid" -ge 8 ] && [ "$svc" -ge 8 ] || { echo "# too few rotations while writing to prove anything"; return 1; }
	{
		for f in "$WORK"/log/events.* "$WORK"/log/svc/*; do
			case $f in *.gz) zcat "$f" ;; *) cat "$f" ;; esac
		done
	} >"$WORK/all.jsonl"
	python3 - "$WORK/all.jsonl" <<'PY'
import json, sys
lines, bad, per_pid, stops, binds = 0, 0, {}, {}, {}
with open(sys.argv[1], "rb") as f:
    for raw in f:
        lines += 1
        try:
            e = json.loads(raw)
        except ValueError:
            bad += 1
            print("# torn line: %r" % raw[:120])
            continue
        pid = e["process"]["pid"]
        per_pid[pid] = per_pid.get(pid, 0) + 1
        if e["event"]["action"] == "bind":
            binds[pid] = binds.get(pid, 0) + 1
        if e["event"]["action"] == "stop":
            stops[pid] = e["bindguard"]["counters"]
ok = bad == 0 and len(stops) == 3
for pid, c in sorted(stops.items()):
    want = c["events_written"] + 1  # the stop event counts the lines before it
    print("# pid %d: %d lines, stop says %d written + itself, %d dropped, %d binds"
          % (pid, per_pid[pid], c["events_written"], c["events_dropped"], c["binds"]))
    ok = ok and per_pid[pid] == want and c["events_dropped"] == 0 and binds[pid] == c["binds"] > 0
print("# %d lines, %d torn, %d processes stopped" % (lines, bad, len(stops)))
sys.exit(0 if ok else 1)
PY
}

# A service's own log folder is the service user's to change: a symlink it
# plants where rotation will read (the renamed log, to a root-only file) is
# never followed. Nothing of the secret reaches a file the user can read,
# and the secret is unchanged.
t_logrotate_follows_no_symlink_a_service_planted() {
	chmod 755 "$WORK"
	mkdir -m 0755 "$WORK/log" "$WORK/log/svc"
	chown nobody "$WORK/log/svc"
	echo "secret-$RANDOM$RANDOM" >"$WORK/secret"
	chmod 600 "$WORK/secret"
	local want
	want=$(sha256sum <"$WORK/secret")
	sed -e "s#/var/log/bindguard#$WORK/log#g" "$here/conf/logrotate/bindguard" >"$WORK/logrotate.conf"
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c "$1"; }
	as_nobody "echo '{}' > $WORK/log/svc/events.jsonl" || return 1
	logrotate -f -s "$WORK/state" "$WORK/logrotate.conf" || return 1
	[ -f "$WORK/log/svc/events.jsonl.1" ] || { echo "# the first rotation left no events.jsonl.1"; return 1; }
	as_nobody "rm $WORK/log/svc/events.jsonl.1 && ln -s $WORK/secret $WORK/log/svc/events.jsonl.1 &&
		echo '{}' > $WORK/log/svc/events.jsonl" || return 1
	local out
	out=$(logrotate -f -s "$WORK/state" "$WORK/logrotate.conf" 2>&1)
	echo "# logrotate: $(head -c 300 <<<"$out")"
	expect "the secret" "$(sha256sum <"$WORK/secret")" "$want" || return 1
	local f leaked=0
	for f in "$WORK"/log/svc/*; do
		[ -L "$f" ] && continue
		zcat -f "$f" | grep -q "$(cat "$WORK/secret")" && { echo "# $f holds the secret"; leaked=1; }
	done
	ls -l "$WORK/log/svc" | sed 's/^/#   /'
	[ $leaked -eq 0 ]
}

export -f helpers
run_tests service 120
