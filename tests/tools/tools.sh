#!/usr/bin/env bash
# tools.sh: the bindguard command on real data: scan, scan --prom, scan --svg,
# report, run, check-config, --help/--version, the man pages. Each case runs in
# its own network namespace (unshare -n; needs root) with a small known range.
# Usage: tests/tools/tools.sh BUILD_DIR [NAME-FILTER]
#   PRELOAD_PREFIX="LIB:" goes in front of the shim in LD_PRELOAD (the ASan
#   runtime, for an ASan build); SKIP="NAME..." skips cases (run_end_to_end
#   under ASan: `bindguard run` puts the shim first).
# Prints "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
# Needs: jq, python3, iproute2, util-linux, rsvg-convert (librsvg2-bin), gzip,
# groff (groff-base), man-db.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$here/${1:-build}" && pwd)
FILTER=${2:-}
SKIP=${SKIP:-}
export here BUILD
source "$here/tests/lib.sh"
suite_env
export MANYCONN="$BUILD/bindguard-manyconn"
if [ ! -x "$MANYCONN" ]; then
	${CC:-cc} -O2 -o "$MANYCONN" "$here/tests/tools/manyconn.c" 2>/dev/null ||
		echo "# cannot build $MANYCONN"
fi

# ---- helpers available inside every case ---------------------------------------
helpers() {
	source "$here/tools/scenario.sh"
	pid_of() { cat "$WORK/$1.pid"; }
	port_of() { awk '/^closewait/ {print $3}' "$WORK/$1.out"; }
	# pyconn NAME HOST:PORT...: one python3 process holding a connection to each,
	# output "PID PORT..." in $WORK/NAME.out
	pyconn() {
		local name=$1; shift
		python3 -c '
import os, signal, socket, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
held = []
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    held.append(socket.create_connection((host.strip("[]"), int(port))))
print(os.getpid(), *[s.getsockname()[1] for s in held], flush=True)
signal.sigwait([signal.SIGTERM])
' "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
		echo $! > "$WORK/$name.pid"
		_bg_pids+=($!)
		wait_line "$WORK/$name.out" '^[0-9]+'
	}
	scanjson() { "$TOOL" scan --json > "$WORK/scan.json" 2> "$WORK/scan.err"; }
	q() { jq -c "$@" "$WORK/scan.json"; }
	qr() { jq -r "$@" "$WORK/scan.json"; }
}
export -f helpers

# ---- scan --------------------------------------------------------------------------

# Listeners in and out of the range (one protected by a reserved port, one on
# IPv6), CLOSE_WAIT leaks in three processes (two actors, one python3 holding
# two), and a pinned port: B bound on A1's port. All clients connect from
# 127.0.0.1, so that no two of them can look like different binders.
t_scan_reports_the_known_mix() {
	range 40000 40015 40012
	start server -- server 127.0.0.1 9000
	start l10 -- bind 127.0.0.1 40010 listen
	start l11 -- bind ::1 40011 v6only listen
	start l12 -- bind 127.0.0.1 40012 listen
	start l5 -- bind 127.0.0.1 5000 listen
	wait_line "$WORK/server.out" ready && wait_line "$WORK/l10.out" "^listen ok" &&
		wait_line "$WORK/l11.out" "^listen ok" && wait_line "$WORK/l12.out" "^listen ok" &&
		wait_line "$WORK/l5.out" "^listen ok" || return 1
	start a1 -- closewait 127.0.0.1 9000
	start a2 -- closewait 127.0.0.1 9000
	wait_line "$WORK/a1.out" ^closewait && wait_line "$WORK/a2.out" ^closewait || return 1
	pyconn py 127.0.0.1:9000 127.0.0.1:9000 || return 1
	wait_state close-wait 4 || return 1
	local p1 p2 pypid pyports
	p1=$(port_of a1)
	p2=$(port_of a2)
	read -r pypid pyports <<<"$(cat "$WORK/py.out")"
	start b -- bind 127.0.0.2 "$p1"
	wait_line "$WORK/b.out" "^bind ok" || return 1
	scanjson || { cat "$WORK/scan.err"; return 1; }

	expect "range" "$(q '.range|[.low,.high,.size,.reserved_in_range]')" "[40000,40015,16,1]"
	expect "half-closed total" "$(qr .halfclosed.total)" 4
	expect "half-closed processes" "$(q '[.halfclosed.processes[]|[.pid,.count]]|sort')" \
		"$(jq -c -n --argjson a "$(pid_of a1)" --argjson b "$(pid_of a2)" --argjson p "$pypid" \
			'[[$a,1],[$b,1],[$p,2]]|sort')"
	expect "first process has the most" "$(qr '.halfclosed.processes[0].pid')" "$pypid"
	expect "python3's ports" "$(q '.halfclosed.processes[0].ports|sort')" \
		"$(tr ' ' '\n' <<<"$pyports" | jq -s -c sort)"
	expect "python3's name" "$(qr '.halfclosed.processes[0].name')" "$(cat /proc/"$pypid"/comm)"
	expect "a2's ports" "$(qr --argjson b "$(pid_of a2)" '.halfclosed.processes[]|select(.pid==$b)|.ports|@csv')" "$p2"
	expect "a2's name" "$(qr --argjson b "$(pid_of a2)" '.halfclosed.processes[]|select(.pid==$b)|.name')" bindguard-actor
	expect "pinned ports" "$(q '[.pinned[].port]')" "[$p1]"
	expect "pinned: connect-placed owner" "$(q '[.pinned[0].connect_placed[]|select(.local=="127.0.0.1:'"$p1"'")|[.pid,.state]]')" \
		"[[$(pid_of a1),\"CLOSE_WAIT\"]]"
	expect "pinned: binder" "$(q '[.pinned[0].bound[]|[.pid,.state,.local]]')" \
		"[[$(pid_of b),\"CLOSE\",\"127.0.0.2:$p1\"]]"
	expect_match "pinned: reasoning" "$(qr '.pinned[0].reason')" "connect\(\) picked the port.*bind\(\)"
	expect "listeners in range" "$(q '[.listeners_in_range[]|[.port,.local,.reserved,.protect_with]]')" \
		'[[40010,"127.0.0.1:40010",false,"net.ipv4.ip_local_reserved_ports = 40010"],[40011,"[::1]:40011",false,"net.ipv4.ip_local_reserved_ports = 40011"],[40012,"127.0.0.1:40012",true,null]]'
	expect "listener owner" "$(qr '.listeners_in_range[0].pid')" "$(pid_of l10)"
	expect "protect all" "$(qr .protect_all_with)" "sysctl -w net.ipv4.ip_local_reserved_ports=40012,40010,40011"
	# the half-closed ports other than the pinned one, counted once each
	local half
	half=$(printf '%s\n' "$p2" $pyports | grep -vx "$p1" | sort -u | wc -l)
	expect "port classes" "$(q '.ports|[.pinned,.reserved,.bound,.halfclosed,.in_use,.free]')" \
		"[1,1,2,$half,0,$((16 - 1 - 1 - 2 - half))]"
	expect "headroom" "$(q '.headroom|[.ports,.range,.reserved,.pinned,.bound]')" "[12,16,1,1,2]"
	expect "sockets by state" "$(q '.sockets.by_state')" '{"CLOSE":1,"CLOSE_WAIT":4,"LISTEN":3}'
	# and the table says the same
	local table
	table=$("$TOOL" scan)
	expect_match "table: pinned" "$table" "Ports that look pinned: 1"
	expect_match "table: half-closed" "$table" "Half-closed connections on ephemeral ports: 4, in 3 processes"
	expect_match "table: headroom" "$table" "Headroom: 12 ports left to connect\(\) = 16 in range - 1 reserved - 1 pinned - 2 bound"
	expect_match "table: listener line" "$table" "40010 +127.0.0.1:40010 +$(pid_of l10)/bindguard-actor +net.ipv4.ip_local_reserved_ports = 40010"
}

# IPv6 only: a CLOSE_WAIT leak and its pin, from [::1].
t_scan_sees_ipv6() {
	range 40000 40003
	start server -- server ::1 9000
	wait_line "$WORK/server.out" ready || return 1
	start a -- closewait ::1 9000
	wait_line "$WORK/a.out" ^closewait || return 1
	local p
	p=$(port_of a)
	start b -- bind ::1 "$p" reuseaddr listen
	wait_line "$WORK/b.out" "^bind" || return 1
	scanjson || return 1
	expect "half-closed" "$(q '[.halfclosed.processes[]|.connections[]|[.local,.remote,.pid]]')" \
		"[[\"[::1]:$p\",\"[::1]:9000\",$(pid_of a)]]"
	# b's bind: SO_REUSEADDR on a (-1,-1) bucket conflicts with the connected
	# owner on the same address unless the owner has it too; say what happened
	if grep -q "^listen ok" "$WORK/b.out"; then
		expect "pinned by the listener" "$(q '[.pinned[]|.port, (.bound[]|.state)]')" "[$p,\"LISTEN\"]"
	else
		expect "no pin without a bind" "$(q '.pinned|length')" 0
	fi
}

# Two connected sockets on one port from two addresses, one connection each:
# one of them was bound (bind role with connect=), which cannot be told apart.
t_scan_flags_a_bound_connection_on_another_address() {
	range 40000 40003
	start server -- server 127.0.0.1 9000
	start dst -- bind 127.0.0.1 5003 listen
	wait_line "$WORK/server.out" ready && wait_line "$WORK/dst.out" "^listen ok" || return 1
	start a -- closewait 127.0.0.1 9000
	wait_line "$WORK/a.out" ^closewait || return 1
	local p
	p=$(port_of a)
	start b -- bind 127.0.0.2 "$p" connect=127.0.0.1:5003
	wait_line "$WORK/b.out" "^connect ok" || return 1
	scanjson || return 1
	expect "pinned port" "$(q '[.pinned[].port]')" "[$p]"
	expect "both sockets named" "$(q '[.pinned[0].connect_placed[], .pinned[0].bound[]]|map(.local)|sort')" \
		"[\"127.0.0.1:$p\",\"127.0.0.2:$p\"]"
	expect_match "reasoning" "$(qr '.pinned[0].reason')" "cannot be told"
}

# 50,000 sockets: 25,000 loopback connections from four helper processes (the
# hard RLIMIT_NOFILE may be below 50,000), a quarter of a thousand of each
# left in CLOSE_WAIT, so that the /proc walk runs over every fd.
# the scan's time is printed, never asserted: make bench measures it
t_scan_counts_50000_sockets() {
	range 10000 65000
	local k
	for k in 0 1 2 3; do
		"$MANYCONN" 6250 $((30000 + k)) 250 > "$WORK/mc$k.out" 2>&1 &
		_bg_pids+=($!)
	done
	for k in 0 1 2 3; do wait_line "$WORK/mc$k.out" "^ready" || return 1; done
	local t0 t1 ms
	t0=$(date +%s%N)
	scanjson || return 1
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	echo "# scan of $(qr .sockets.total) sockets: ${ms} ms wall, $(qr '.seconds*1000|floor') ms inside"
	expect "sockets" "$(qr .sockets.total)" 50004
	expect "half-closed" "$(qr .halfclosed.total)" 1000
	expect "half-closed processes" "$(q '[.halfclosed.processes[].count]')" "[250,250,250,250]"
}

# ---- scan --prom ---------------------------------------------------------------------

t_scan_prom_parses_and_is_written_atomically() {
	range 40000 40007
	start server -- server 127.0.0.1 9000
	wait_line "$WORK/server.out" ready || return 1
	start a -- closewait 127.0.0.1 9000
	wait_line "$WORK/a.out" ^closewait || return 1
	mkdir -p "$WORK/textfile"
	local f=$WORK/textfile/bindguard.prom
	"$TOOL" scan --prom "$f" > /dev/null
	expect "exit code" "$?" 0
	# the exposition format: HELP and TYPE before a metric's first sample,
	# samples "name{labels} value", nothing else
	local bad
	bad=$(awk '
		/^# HELP bindguard_[a-z_]+ .+$/ { help[$3] = 1; next }
		/^# TYPE bindguard_[a-z_]+ (gauge|counter)$/ { type[$3] = 1; next }
		/^bindguard_[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [-+0-9.eE]+$/ {
			name = $1; sub(/\{.*/, "", name)
			if (!help[name] || !type[name]) print "no HELP/TYPE before: " $0
			next
		}
		{ print "bad line: " $0 }' "$f")
	expect "format" "$bad" ""
	expect "success" "$(awk '$1 == "bindguard_scan_success" {print $2}' "$f")" 1
	expect "half-closed" "$(awk '$1 == "bindguard_halfclosed_sockets" {print $2}' "$f")" 1
	expect "per process" "$(grep '^bindguard_process_halfclosed_sockets' "$f")" \
		"bindguard_process_halfclosed_sockets{pid=\"$(pid_of a)\",name=\"bindguard-actor\"} 1"
	expect "range" "$(awk '/^bindguard_ephemeral_range_(low|high)_port / {printf "%s ", $2}' "$f")" "40000 40007 "
	expect "headroom" "$(awk '$1 == "bindguard_headroom_ports" {print $2}' "$f")" 8
	expect "classes sum to the range" "$(awk '/^bindguard_ephemeral_ports\{/ {s += $2} END {print s}' "$f")" 8
	if command -v promtool > /dev/null; then
		expect "promtool" "$(promtool check metrics < "$f" 2>&1)" ""
	fi
	# atomic: the file is replaced (a reader holding the old one keeps a whole
	# file, now unlinked), no temporary file is left behind, and a reader
	# polling meanwhile never sees a partial file
	exec 3< "$f"
	"$TOOL" scan --prom "$f" > /dev/null
	expect "old file replaced, not rewritten" "$(stat -L -c %h /proc/self/fd/3)" 0
	expect "old file whole" "$(tail -1 <&3 | cut -d' ' -f1)" 'bindguard_listeners_in_range{reserved="false"}'
	exec 3<&-
	(for i in $(seq 1 40); do "$TOOL" scan --prom "$f" > /dev/null; done) &
	local writer=$! partial=0
	while kill -0 $writer 2>/dev/null; do
		tail -1 "$f" | grep -q '^bindguard_listeners_in_range{reserved="false"} ' || partial=$((partial + 1))
	done
	wait $writer
	expect "partial reads" "$partial" 0
	expect "files in the directory" "$(ls -A "$WORK/textfile")" bindguard.prom
	"$TOOL" scan --prom "$WORK/no/such/dir/x.prom" > /dev/null 2>&1
	expect "unwritable: exit code" "$?" 5
}

# ---- scan --svg ------------------------------------------------------------------------

# The colour of the centre of each port's cell in the PNG rsvg-convert makes of
# the SVG: "PORT #rrggbb" lines. The geometry comes from the grid's data-*
# attributes; the PNG is decoded here (zlib + the five row filters).
cell_colours() {
	python3 - "$1" "$2" <<'EOF'
import re, struct, sys, zlib
svg, png = open(sys.argv[1]).read(), open(sys.argv[2], "rb").read()
g = dict(re.findall(r'data-(\w+)="(\d+)"', re.search(r'<g id="grid"[^>]*>', svg).group(0)))
x0, y0, cell, cols, low = (int(g[k]) for k in ("x0", "y0", "cell", "cols", "low"))
assert png[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(png):
    n, kind = struct.unpack(">I4s", png[pos:pos + 8])
    body = png[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
ports = int(re.search(r"ephemeral ports \d+-\d+ \((\d+)\)", svg).group(1))
for i in range(ports):
    x, y = x0 + (i % cols) * cell + cell // 2 - 1, y0 + (i // cols) * cell + cell // 2 - 1
    px = rows[y][x * bpp:x * bpp + 3]
    print(low + i, "#%02x%02x%02x" % tuple(px))
EOF
}

t_scan_svg_colours_each_port() {
	range 40000 40015 40015
	start server -- server 127.0.0.1 9000
	start dst -- bind 127.0.0.1 5003 listen
	start l -- bind 127.0.0.1 40010 listen
	wait_line "$WORK/server.out" ready && wait_line "$WORK/dst.out" "^listen ok" &&
		wait_line "$WORK/l.out" "^listen ok" || return 1
	start a1 -- closewait 127.0.0.1 9000
	start a2 -- closewait 127.0.0.1 9000
	wait_line "$WORK/a1.out" ^closewait && wait_line "$WORK/a2.out" ^closewait || return 1
	pyconn est 127.0.0.1:5003 || return 1 # ESTABLISHED: the listener never accepts
	local p1 p2 pe
	p1=$(port_of a1)
	p2=$(port_of a2)
	pe=$(awk '{print $2}' "$WORK/est.out")
	start b -- bind 127.0.0.2 "$p2"
	wait_line "$WORK/b.out" "^bind ok" || return 1
	"$TOOL" scan --svg "$WORK/grid.svg" --json > "$WORK/scan.json" || return 1
	rsvg-convert -f png -o "$WORK/grid.png" "$WORK/grid.svg" || return 1
	[ -n "${KEEP_PNG:-}" ] && cp "$WORK/grid.png" "$WORK/grid.svg" "$KEEP_PNG/"
	cell_colours "$WORK/grid.svg" "$WORK/grid.png" > "$WORK/cells" || return 1
	local free=#e6e6e6 inuse=#4a90d9 half=#f5a623 bound=#8e44ad pinned=#d0021b reserved=#404040
	colour() { awk -v p="$1" '$1 == p {print $2}' "$WORK/cells"; }
	expect "cells" "$(wc -l < "$WORK/cells")" 16
	expect "reserved 40015" "$(colour 40015)" $reserved
	expect "listener 40010" "$(colour 40010)" $bound
	expect "pinned $p2" "$(colour "$p2")" $pinned
	[ "$p1" != "$p2" ] && expect "half-closed $p1" "$(colour "$p1")" $half
	[ "$pe" != "$p1" ] && [ "$pe" != "$p2" ] && expect "in use $pe" "$(colour "$pe")" $inuse
	local p n=0
	for p in $(seq 40000 40014); do
		case " 40010 $p1 $p2 $pe " in *" $p "*) continue ;; esac
		expect "free $p" "$(colour "$p")" $free
		n=$((n + 1))
	done
	expect "legend: pinned" "$(grep -c '>pinned: 1<' "$WORK/grid.svg")" 1
	expect "legend: free" "$(grep -c ">free: $n<" "$WORK/grid.svg")" 1
	# a large range draws too
	range 10000 60999
	"$TOOL" scan --svg "$WORK/big.svg" --json > "$WORK/big.json" || return 1
	rsvg-convert -f png -o "$WORK/big.png" "$WORK/big.svg" || return 1
	cell_colours "$WORK/big.svg" "$WORK/big.png" > "$WORK/bigcells" || return 1
	expect "large grid: cells" "$(wc -l < "$WORK/bigcells")" 51000
	expect "large grid: free cells" "$(awk '$2 == "#e6e6e6"' "$WORK/bigcells" | wc -l)" "$(jq .ports.free "$WORK/big.json")"
	expect "large grid: listener" "$(awk '$1 == 40010 {print $2}' "$WORK/bigcells")" $bound
}

# ---- report ---------------------------------------------------------------------------

# A log the shim wrote: a pin_halfclosed allowed in audit mode, another blocked
# in enforce mode, a hazard-free bind at debug level, starts and stops.
make_shim_log() {
	range 40000 40001
	start server -- server 127.0.0.1 9000
	wait_line "$WORK/server.out" ready || return 1
	start a1 -- closewait 127.0.0.1 9000
	wait_line "$WORK/a1.out" ^closewait || return 1
	start a2 -- closewait 127.0.0.1 9000
	wait_line "$WORK/a2.out" ^closewait || return 1
	printf '{"level":"debug"}' > "$WORK/debug.json"
	start b $(preload BINDGUARD_MODE=audit) -- bind 127.0.0.2 "$(port_of a1)"
	wait_line "$WORK/b.out" "^bind" || return 1
	start c $(preload BINDGUARD_MODE=enforce) -- bind 127.0.0.2 "$(port_of a2)"
	wait_line "$WORK/c.out" "^bind" || return 1
	start d $(preload BINDGUARD_CONFIG="$WORK/debug.json") -- bind 127.0.0.1 5000
	wait_line "$WORK/d.out" "^bind" || return 1
	stop b
	stop c
	stop d
	expect "c was blocked" "$(head -1 "$WORK/c.out")" "bind error EADDRINUSE"
}

t_report_summarises_a_shim_log_plain_gzip_and_stdin() {
	make_shim_log || return 1
	local log=$WORK/ev.jsonl mixed=$WORK/mixed.jsonl
	{
		head -2 "$log"
		echo 'this is not json'
		echo '{"event":{"action":"bind"}}'
		echo ''
		tail -n +3 "$log"
		echo '[1,2,3]'
		printf '{"@timestamp":"2026-01-01T00:00:00.000000Z","event":{"action":"bind"'
		echo
	} > "$mixed"
	gzip -c "$mixed" > "$mixed.gz"
	local events
	events=$(wc -l < "$log")
	"$TOOL" report --json "$mixed" > "$WORK/r.json"
	expect "exit code" "$?" 0
	r() { jq -c "$@" "$WORK/r.json"; }
	expect "events" "$(r .events)" "$events"
	expect "malformed" "$(r .malformed)" 4
	expect "malformed named" "$(r '.malformed_examples|map(sub(".*:(?<l>[0-9]+): .*"; "\(.l)"))')" '["3","4","'$((events + 4))'","'$((events + 5))'"]'
	expect "by action" "$(r .actions)" "$(jq -s -c 'map(.event.action)|group_by(.)|map({(.[0]): length})|add' "$log")"
	expect "pin_halfclosed" "$(r '.hazard_decision.pin_halfclosed')" '{"allow":0,"log":1,"block":1}'
	expect "hazard-free bind" "$(r '.hazard_decision.none.allow')" 1
	expect "span" "$(r '.span|[.first,.last]')" "$(jq -s -c 'map(."@timestamp")|sort|[first,last]' "$log")"
	expect "top process" "$(r '.top_processes[0]|[.name,.hazards,.pids]')" '["bindguard-actor",2,3]'
	expect "top ports" "$(r '[.top_ports[]|select(.hazards>0)|.port]|sort')" \
		"$(printf '%s\n' "$(port_of a1)" "$(port_of a2)" | jq -s -c sort)"
	# the shim leaves other processes' owners unnamed (pid null, their inode):
	# the report names them, from one walk of /proc/[pid]/fd, and says so
	expect "events leave other processes' owners unnamed" \
		"$(jq -c 'select(.bindguard.hazard == "pin_halfclosed") | .bindguard.owners[0] | [.pid, .inode > 0]' "$log" | sort -u)" '[null,true]'
	expect "half-closed owners" "$(r '[.halfclosed_owners[]|.pid]|sort')" \
		"$(printf '%s\n' "$(pid_of a1)" "$(pid_of a2)" | jq -s -c sort)"
	expect "owners named at report time" "$(r '[.halfclosed_owners[]|[.name,.resolved_at_report]]|unique')" '[["bindguard-actor",true]]'
	expect "the walk" "$(r '.owner_lookup|[.inodes,.named,.unreadable_processes]')" '[2,2,0]'
	# gzip, by file and on stdin, gives the same summary
	"$TOOL" report --json "$mixed.gz" > "$WORK/rz.json"
	# (the walk of /proc, not the log, sets how long it took and how far it went)
	local same='del(.gzip_inputs, .malformed_examples, .owner_lookup.seconds, .owner_lookup.processes, .owner_lookup.socket_fds)'
	expect "gzip file" "$(jq -c "$same" "$WORK/rz.json")" "$(jq -c "$same" "$WORK/r.json")"
	expect "gzip detected" "$(jq .gzip_inputs "$WORK/rz.json")" 1
	expect "gzip on stdin" "$("$TOOL" report --json - < "$mixed.gz" | jq -c '[.events,.malformed,.gzip_inputs]')" "[$events,4,1]"
	expect "plain on stdin" "$("$TOOL" report --json < "$mixed" | jq -c '[.events,.malformed,.gzip_inputs]')" "[$events,4,0]"
	expect "two files add up" "$("$TOOL" report --json "$mixed" "$mixed.gz" | jq -c '[.inputs,.events,.malformed]')" "[2,$((2 * events)),8]"
	# the table
	local text
	text=$("$TOOL" report "$mixed.gz")
	expect_match "text: malformed" "$text" "4 malformed lines skipped"
	expect_match "text: hazard row" "$text" "pin_halfclosed +0 +1 +1"
	expect_match "text: owners" "$text" "$(pid_of a1) +bindguard-actor +1 +\\*"
	expect_match "text: the note" "$text" "\\* named by this report: the process holding the socket now"
	# an owner no process holds any more stays unnamed; a1's socket, closed,
	# is an orphan in LAST_ACK
	stop a1
	expect "after a1 closed" "$("$TOOL" report --json "$mixed" | jq -c '[.halfclosed_owners[]|[.pid,.name,.resolved_at_report]]|sort')" \
		"$(jq -n -c --argjson p "$(pid_of a2)" '[[null,"(no process)",true],[$p,"bindguard-actor",true]]|sort')"
	# without root, other users' fds are unreadable: unknown, not "no process"
	expect "not root" "$(setpriv --reuid=65534 --regid=65534 --clear-groups "$TOOL" report --json <"$mixed" |
		jq -c '[(.halfclosed_owners[]|[.pid,.name]), (.owner_lookup.unreadable_processes > 0)]')" '[[null,"(unknown)"],true]'
	# a truncated gzip stream is said, and what was read still counts
	head -c $(($(stat -c %s "$mixed.gz") - 12)) "$mixed.gz" > "$WORK/cut.gz"
	"$TOOL" report --json "$WORK/cut.gz" > "$WORK/rc.json" 2> "$WORK/rc.err"
	expect "truncated: exit code" "$?" 5
	expect "truncated: said" "$(jq .input_errors "$WORK/rc.json")" 1
	expect_match "truncated: message" "$(cat "$WORK/rc.err")" "truncated|unexpected end"
	"$TOOL" report "$WORK/missing.jsonl" > /dev/null 2>&1
	expect "missing file: exit code" "$?" 5
	"$TOOL" report --top x "$log" > /dev/null 2>&1
	expect "bad --top: exit code" "$?" 2
}

# Damaged logs: every line is counted, an unreadable one is malformed and
# reading goes on; an input that cannot be read to its end is an error.
t_report_counts_every_line_of_a_damaged_log() {
	local ev='{"@timestamp":"2026-01-01T00:00:00.000000Z","event":{"action":"bind"}}'
	rj() { "$TOOL" report --json "$@" 2>"$WORK/r.err" | jq -c '[.lines,.events,.malformed]'; }
	# crash padding inside a line, then a valid event on the next line
	printf '%s\0\0\0\n%s\n' "$ev" "$ev" > "$WORK/pad.jsonl"
	expect "NUL-padded line, then an event" "$(rj "$WORK/pad.jsonl")" "[2,1,1]"
	expect_match "NUL-padded line named" "$("$TOOL" report "$WORK/pad.jsonl")" "pad.jsonl:1: .*NUL"
	expect "no owner to name: no walk of /proc" "$("$TOOL" report --json "$WORK/pad.jsonl" | jq -c .owner_lookup)" null
	# an event appended after the padding, on the padded line
	printf '{"@timest\0\0\0%s\n%s\n' "$ev" "$ev" > "$WORK/glued.jsonl"
	expect "event after the padding" "$(rj "$WORK/glued.jsonl")" "[2,2,1]"
	# lines of NULs only, one of them at the end without a newline
	printf '%s\n\0\0\0\0\n%s\n\0\0' "$ev" "$ev" > "$WORK/nuls.jsonl"
	expect "lines of NULs" "$(rj "$WORK/nuls.jsonl")" "[4,2,2]"
	expect "exit code" "$("$TOOL" report "$WORK/nuls.jsonl" >/dev/null 2>&1; echo $?)" 0
	# a line of 100 MB, more than the 16 MiB cap, with 100 MB of address space:
	# counted malformed, never allocated, and reading goes on
	{ head -c 100000000 /dev/zero | tr '\0' x; printf '\n%s\n' "$ev"; } > "$WORK/long.jsonl"
	expect "100 MB line under ulimit -v" "$(ulimit -v 100000; rj "$WORK/long.jsonl")" "[2,1,1]"
	expect_match "long line named" "$("$TOOL" report "$WORK/long.jsonl")" "long.jsonl:1: longer than 16 MiB"
	gzip -c "$WORK/long.jsonl" > "$WORK/long.jsonl.gz"
	expect "the same, gzip" "$(ulimit -v 100000; rj "$WORK/long.jsonl.gz")" "[2,1,1]"
	# a line within the cap that memory cannot hold (12 MB of address space):
	# reading cannot go on, so it is an error naming the file and line
	{ head -c 15000000 /dev/zero | tr '\0' x; printf '\n%s\n' "$ev"; } > "$WORK/oom.jsonl"
	(ulimit -v 12000; "$TOOL" report "$WORK/oom.jsonl" > /dev/null 2> "$WORK/oom.err")
	expect "out of memory: exit code" "$?" 5
	expect "out of memory: said" "$(cat "$WORK/oom.err")" "bindguard report: $WORK/oom.jsonl:1: out of memory; reading stopped"
	# an input that fails mid-read (a directory: EISDIR): exit 5, the path named
	mkdir "$WORK/adir"
	"$TOOL" report "$WORK/pad.jsonl" "$WORK/adir" > /dev/null 2> "$WORK/d.err"
	expect "read error: exit code" "$?" 5
	expect_match "read error: the path" "$(cat "$WORK/d.err")" "^bindguard report: $WORK/adir: .*Is a directory"
	expect "read error: the other input still counts" "$("$TOOL" report --json "$WORK/pad.jsonl" "$WORK/adir" 2>/dev/null | jq -c '[.events,.input_errors]')" "[1,1]"
}

# ---- run -------------------------------------------------------------------------------

t_run_end_to_end() {
	range 40000 40000
	seed_owner || return 1
	local out
	out=$("$TOOL" run --mode enforce --log "$WORK/ev.jsonl" -- "$ACTOR" bind 127.0.0.2 40000 &
		pid=$!; sleep 0.5; kill -TERM $pid; wait $pid)
	expect "blocked" "$(head -1 <<<"$out")" "bind error EADDRINUSE"
	expect "event" "$(jq -r 'select(.event.action=="bind")|[.bindguard.decision,.bindguard.hazard]|@csv' "$WORK/ev.jsonl")" '"block","pin_halfclosed"'
	expect "probe still connects" "$(probe)" ok
	expect "report over it" "$("$TOOL" report --json "$WORK/ev.jsonl" | jq -c '[.malformed,.hazard_decision.pin_halfclosed.block]')" "[0,1]"
	expect "scan sees no pin" "$("$TOOL" scan --json | jq -c '[(.pinned|length), .halfclosed.total]')" "[0,1]"
	printf '{"mode":"enforced"}' > "$WORK/bad.json"
	out=$("$TOOL" run --config "$WORK/bad.json" -- true 2>&1)
	expect "bad config: still runs" "$?" 0
	expect_match "bad config: said" "$out" "mode: expected off, audit or enforce"
	"$TOOL" run -- /nonexistent/program 2>/dev/null
	expect "exec failure" "$?" 127
	"$TOOL" run --mode 2>/dev/null
	expect "usage" "$?" 2
	BINDGUARD_LIBRARY=/nonexistent "$TOOL" run -- true > /dev/null 2>&1
	expect "library from beside the tool" "$?" 0
}

# ---- check-config ------------------------------------------------------------------------

t_check_config_good_and_bad_files() {
	local out
	out=$("$TOOL" check-config "$here/conf/bindguard.json")
	expect "example: exit code" "$?" 0
	expect "example: effective mode" "$(jq -r .mode <<<"$out")" audit
	expect "example: source" "$(jq -r .source <<<"$out")" "$here/conf/bindguard.json"
	cat > "$WORK/scoped.json" <<-'EOF'
	{"mode": "audit", "rules": [{"except_programs": ["legacyd"], "mode": "off"},
	                            {"programs": ["legacyd"], "mode": "enforce"}]}
	EOF
	out=$("$TOOL" check-config --program legacyd "$WORK/scoped.json")
	expect "scoped: for legacyd" "$(jq -c '[.rules[]|.applies_to_this_program]' <<<"$out")" "[false,true]"
	out=$("$TOOL" check-config --program bash "$WORK/scoped.json")
	expect "scoped: for bash" "$(jq -c '[.rules[]|.applies_to_this_program]' <<<"$out")" "[true,false]"
	# bad files: the same line the shim prints, exit 1, and what it runs with
	local bad
	for bad in '{"mode":"enforced"}' '{"rules":[{"ports":["40000-x"]}]}' '{"mode": "audit",' '{"colour":1}'; do
		printf '%s' "$bad" > "$WORK/bad.json"
		out=$("$TOOL" check-config "$WORK/bad.json" 2>&1 >"$WORK/eff.json")
		expect "bad $bad: exit code" "$?" 1
		local shim
		shim=$(env $(preload BINDGUARD_CONFIG="$WORK/bad.json" BINDGUARD_LOG=/dev/null) "$ACTOR" probe 127.0.0.1 1 2>&1 >/dev/null | grep '^bindguard:')
		expect_match "bad $bad: says defaults" "$out" "; running in audit mode with defaults$"
		expect "bad $bad: the shim's message" "$out" "$shim"
		expect "bad $bad: runs with defaults" "$(jq -c '[.source,.mode,.rules]' "$WORK/eff.json")" '["built-in defaults","audit",[]]'
	done
	# a bad environment value over a good file: the same, for both
	printf '{"mode":"audit","rules":[{"ports":["40000"],"mode":"enforce"}]}' > "$WORK/rules.json"
	out=$(BINDGUARD_CONFIG="$WORK/rules.json" BINDGUARD_MODE=ENFORCE "$TOOL" check-config 2>&1 >"$WORK/eff.json")
	expect "bad env: exit code" "$?" 1
	shim=$(env $(preload BINDGUARD_CONFIG="$WORK/rules.json" BINDGUARD_MODE=ENFORCE BINDGUARD_LOG=/dev/null) "$ACTOR" probe 127.0.0.1 1 2>&1 >/dev/null | grep '^bindguard:')
	expect "bad env: the message" "$out" 'bindguard: environment: BINDGUARD_MODE: expected off, audit or enforce, got "ENFORCE"; running in audit mode with defaults'
	expect "bad env: the shim's message" "$shim" "$out"
	expect "bad env: runs with defaults" "$(jq -c '[.mode,.rules,.log]' "$WORK/eff.json")" '["audit",[],"stderr"]'
	"$TOOL" check-config "$WORK/missing.json" > /dev/null 2>&1
	expect "missing file: exit code" "$?" 1
	"$TOOL" check-config a b > /dev/null 2>&1
	expect "two files: exit code" "$?" 2
}

# ---- the command's surface ---------------------------------------------------------------

t_help_version_and_exit_codes() {
	local c
	for c in run scan report check-config profile probe; do
		"$TOOL" $c --help > "$WORK/h" 2>&1
		expect "$c --help: exit code" "$?" 0
		expect_match "$c --help: usage" "$(head -1 "$WORK/h")" "^usage: bindguard $c"
		expect_match "$c --help: exit codes" "$(cat "$WORK/h")" "exit codes"
	done
	expect_match "--version" "$("$TOOL" --version)" "^bindguard [0-9]+\.[0-9]+"
	"$TOOL" --help | grep -q "4 kernel query failed"
	expect "--help names exit 4" "$?" 0
	"$TOOL" nonsense > /dev/null 2>&1
	expect "unknown command" "$?" 2
	"$TOOL" scan --bogus > /dev/null 2>&1
	expect "scan: unknown option" "$?" 2
	"$TOOL" > /dev/null 2>&1
	expect "no command" "$?" 2
}

t_man_pages_render_without_warnings() {
	local m out
	for m in bindguard.1 bindguard.conf.5 libbindguard.7; do
		out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$here/man/$m" 2>&1)
		expect "groff -ww $m" "$out" ""
		out=$(MANWIDTH=80 man -l "$here/man/$m" 2>&1 > /dev/null)
		expect "man -l $m" "$out" ""
	done
	expect_match "bindguard(1) names every command" "$(MANWIDTH=80 man -l "$here/man/bindguard.1" 2>/dev/null)" "scan.*report.*check-config"
	make -s -C "$here" install DESTDIR="$WORK/root" PREFIX=/usr > /dev/null 2>&1
	for m in man1/bindguard.1 man5/bindguard.conf.5 man7/libbindguard.7; do
		[ -f "$WORK/root/usr/share/man/$m" ] || expect "installed $m" missing present
	done
}

# ---- probe ----------------------------------------------------------------------------

# The probe on this kernel gives the version table's profile and an era that
# holds the release. The shim prefers a probe file taken on this kernel to
# `uname -r` and its start event says which decided and whether they
# disagree; a stale, untrusted, linked or broken file is ignored with the
# reason, and an explicit profile in the config still wins.
t_probe_agrees_with_the_table_and_its_file_wins() {
	local rel want other v from to
	rel=$(uname -r)
	want=$("$TOOL" profile | sed -n '1s/.*: profile \([^ ]*\).*/\1/p')
	"$TOOL" probe --json > "$WORK/p.json" 2> "$WORK/p.err"
	expect "probe exit" "$?" 0
	expect "probe: the table's profile" "$(jq -r .profile "$WORK/p.json")" "$want"
	expect "probe: this kernel" "$(jq -r .kernel "$WORK/p.json")" "$rel"
	expect "probe: no experiment unclear" "$(jq -r '[.experiments[] | select(.answer == "unclear")] | length' "$WORK/p.json")" 0
	v=${rel%%[!0-9.]*}
	from=$(jq -r '.era.from' "$WORK/p.json")
	to=$(jq -r '.era.to // empty' "$WORK/p.json")
	expect "probe: era starts at or below $v" "$(printf '%s\n%s\n' "$from" "$v" | sort -V | head -1)" "$from"
	[ -z "$to" ] || expect "probe: era ends above $v" "$(printf '%s\n%s\n' "$to" "$v" | sort -V | tail -1)" "$to"
	[ "$to" != "$v" ] || expect "probe: era ends above $v" "$to" "above $v"
	"$TOOL" probe --write --file "$WORK/probe.json" > "$WORK/w.out"
	expect "probe --write exit" "$?" 0
	expect_match "probe --write says" "$(cat "$WORK/w.out")" "wrote $WORK/probe.json: the shim uses profile $want"
	expect "probe --write: the --json content" "$(jq -c 'del(.taken)' "$WORK/probe.json")" "$(jq -c 'del(.taken)' "$WORK/p.json")"
	"$TOOL" probe --file relative.json > /dev/null 2>&1
	expect "probe --file relative: usage" "$?" 2

	# start_with FILE [ENV...]: the start event's profile and what chose it
	start_with() {
		local f=$1
		shift
		rm -f "$WORK/s.jsonl"
		env BINDGUARD_PROBE_FILE="$f" $(preload BINDGUARD_LOG="$WORK/s.jsonl" "$@") "$ACTOR" probe 127.0.0.1 9 > /dev/null 2>&1
		jq -c 'select(.event.action == "start") | .bindguard | [.profile, .profile_choice.source, .profile_choice.by_uname, .profile_choice.disagree, (.profile_choice.note // "")]' "$WORK/s.jsonl"
	}
	other=$([ "$want" = release ] && echo classic || echo release)
	jq --arg p "$other" '.profile = $p' "$WORK/probe.json" > "$WORK/other.json"
	expect "a disagreeing probe file wins" "$(start_with "$WORK/other.json")" \
		"[\"$other\",\"probe\",\"$want\",true,\"the probe saw profile $other; the version table says $want for $rel\"]"
	expect "an agreeing probe file" "$(start_with "$WORK/probe.json")" "[\"$want\",\"probe\",\"$want\",false,\"\"]"
	expect "no probe file: the table" "$(start_with "$WORK/none.json")" "[\"$want\",\"uname\",\"$want\",false,\"\"]"
	expect "the config's explicit profile beats the file" "$(start_with "$WORK/other.json" BINDGUARD_PROFILE="$want")" \
		"[\"$want\",\"config\",\"$want\",true,\"the probe saw profile $other; the version table says $want for $rel\"]"
	jq '.kernel = "0.0.1-elsewhere"' "$WORK/other.json" > "$WORK/stale.json"
	expect_match "a file from another kernel: ignored" "$(start_with "$WORK/stale.json")" \
		"^\\[\"$want\",\"uname\",\"$want\",false,\"probe file .*stale.json was taken on kernel 0.0.1-elsewhere, this is .*; ignored"
	cp "$WORK/other.json" "$WORK/open.json"
	chmod o+w "$WORK/open.json"
	expect_match "a world-writable file: ignored" "$(start_with "$WORK/open.json")" "^\\[\"$want\",\"uname\".*writable by other users.*ignored"
	ln -s "$WORK/other.json" "$WORK/link.json"
	expect_match "a symlink: ignored" "$(start_with "$WORK/link.json")" "^\\[\"$want\",\"uname\".*symlinks are refused.*ignored"
	printf '{"schema": 1, "kernel": "%s", "profile": "newest"}' "$rel" > "$WORK/bad.json"
	expect_match "a bad profile name: ignored" "$(start_with "$WORK/bad.json")" "^\\[\"$want\",\"uname\".*profile.*is not legacy-2.6, classic or release.*ignored"
	mkfifo "$WORK/fifo.json"
	expect_match "a FIFO: ignored, no hang" "$(timeout 10 bash -c "$(declare -f start_with preload); WORK=$WORK ACTOR=$ACTOR SHIM=$SHIM start_with $WORK/fifo.json")" "^\\[\"$want\",\"uname\".*not a regular file.*ignored"
	expect_match "bindguard profile names the file that decides" "$(BINDGUARD_PROBE_FILE="$WORK/other.json" "$TOOL" profile | tail -2)" \
		"the shim uses profile $other, chosen by the probe file $WORK/other.json.*the probe saw profile $other"
	expect_match "bindguard profile without a file" "$(BINDGUARD_PROBE_FILE="$WORK/none.json" "$TOOL" profile | tail -1)" \
		"^no probe file .*none.json: the shim goes by the version table"
	head -c 70000 /dev/zero | tr '\0' ' ' > "$WORK/big.json"
	expect_match "a file over 64 KiB: ignored" "$(start_with "$WORK/big.json")" "^\\[\"$want\",\"uname\".*larger than.*ignored"
}

# ---- runner ------------------------------------------------------------------------------
EXTRA_FUNCS="make_shim_log cell_colours" run_tests tools 120
