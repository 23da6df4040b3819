#!/usr/bin/env bash
# run.sh: real Debian services do their normal work under the shim (issue 4,
# item 9). Each test starts one service itself (no systemd, foreground, its own
# process group) in its own network namespace on loopback, with a 64-port
# ephemeral range, runs the same client workload twice, without the shim and
# with it (audit mode, level debug: every bind/listen is logged), and checks:
# the work is done (contents by sha256, statuses), both runs give the same
# transcript and exit status, and the service's log has a start event, no
# hazard, no divergence, no dropped event, and matches the event schema.
# Usage: tests/hardening/services/run.sh BUILD [NAME-FILTER]
# Needs: nginx, redis-server, redis-tools, vsftpd, curl, socat, python3, go, java,
# node (see packages).
set -uo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
source "$here/tests/lib.sh"
BUILD=$(cd "$here/${1:-build}" && pwd)
FILTER=${2:-${FILTER:-}}
export BUILD FILTER SHIM="$BUILD/libbindguard.so" ACTOR="$BUILD/bindguard-actor"
export EVENT_SCHEMA="$here/conf/bindguard-event.schema.json" SCHEMA_CHECK="$BUILD/schema-check"
[ -x "$SCHEMA_CHECK" ] || make -s -C "$here" BUILD="$BUILD" "$SCHEMA_CHECK" >/dev/null ||
	SCHEMA_CHECK="$here/build/schema-check"
for p in nginx redis-server redis-cli redis-benchmark vsftpd curl socat python3 jq go javac java node memcached haproxy ssh ssh-keygen; do
	command -v "$p" >/dev/null || {
		echo "# missing $p (tests/hardening/services/packages)"
		fail packages
		tally
		exit 1
	}
done

helpers() {
	range 40000 40063
	# level debug: every bind and listen is an event, not only hazards
	printf '{"mode": "audit", "level": "debug"}\n' >"$WORK/bg.json"
	chmod 600 "$WORK/bg.json"
	# shim NAME: the environment that preloads the shim, logging to $WORK/NAME.jsonl
	shim() {
		preload BINDGUARD_MODE="${MODE:-audit}" BINDGUARD_CONFIG="$WORK/bg.json" BINDGUARD_LOG="$WORK/$1.jsonl"
	}
	# spawn NAME [VAR=VAL...] -- CMD...: a service in its own process group
	# (setsid execs it: $! is the service), output in $WORK/NAME.out
	spawn() {
		local n=$1 envs=()
		shift
		while [ "$1" != -- ]; do envs+=("$1"); shift; done
		shift
		env "${envs[@]}" setsid "$@" >"$WORK/$n.out" 2>&1 &
		echo $! >"$WORK/$n.pid"
		echo $! >>"$WORK/pids"
	}
	# finish NAME [SIGNAL]: signal the service, wait, its exit status in $WORK/NAME.rc;
	# then the rest of its process group (children it left behind)
	finish() {
		local pid
		pid=$(cat "$WORK/$1.pid")
		kill -"${2:-TERM}" "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		echo $? >"$WORK/$1.rc"
		kill -KILL -- -"$pid" 2>/dev/null
		return 0
	}
	stop_all() {
		local p
		for p in $(cat "$WORK/pids" 2>/dev/null); do kill -KILL -- -"$p" 2>/dev/null; done
		wait 2>/dev/null
	}
	# the runner's timeout stops the test's shell: take the services along
	trap 'stop_all; exit 124' TERM
	# wait_listen PORT [COUNT]: until COUNT TCP listeners on PORT (5 s at most)
	wait_listen() {
		local i
		for i in $(seq 1 250); do
			[ "$(ss -Hltn "sport = :$1" | wc -l)" -ge "${2:-1}" ] && return 0
			sleep 0.02
		done
		echo "#   timeout waiting for a listener on port $1"
		return 1
	}
	sha() { sha256sum "$@" | awk '{print $1}'; }
	# check_log NAME [MIN-STOPS]: the checks every shimmed service's log passes
	check_log() {
		local f="$WORK/$1.jsonl" out
		if ! [ -s "$f" ]; then
			echo "#   $1: no event log"
			failed=1
			return
		fi
		expect "$1: start events >= 1" "$([ "$(events_of "$f" start | wc -l)" -ge 1 ] && echo yes)" yes
		expect "$1: hazards" "$(hazards_in "$f")" 0
		expect "$1: config errors" "$(events_of "$f" config_error | wc -l)" 0
		expect "$1: model_divergence events" "$(events_of "$f" model_divergence | wc -l)" 0
		expect "$1: stop events >= ${2:-0}" "$([ "$(events_of "$f" stop | wc -l)" -ge "${2:-0}" ] && echo yes)" yes
		expect "$1: dropped/divergences/hazards in stop counters" \
			"$(jq -s '[.[] | select(.event.action=="stop") | .bindguard.counters |
				.events_dropped + .divergences + .hazards] | add // 0' "$f")" 0
		out=$("$SCHEMA_CHECK" "$EVENT_SCHEMA" "$f" 2>&1) || {
			printf '#   %s: events do not match the schema:\n%s\n' "$1" "$(sed 's/^/#     /' <<<"$out" | head -5)"
			failed=1
		}
	}
	# figures NAME: a summary of the log: events by action
	figures() {
		jq -r '.event.action' "$WORK/$1.jsonl" | sort | uniq -c | awk '{printf "%s%s=%s", n++ ? " " : "", $2, $1}'
	}
	# the bind/listen events of a log, one line each: action ip port
	binds_of() {
		jq -r 'select(.event.action=="bind" or .event.action=="listen") |
			"\(.event.action) \(.source.ip) \(.source.port)"' "$WORK/$1.jsonl"
	}
	# twice NAME CMD...: CMD without the shim, then with it (log $WORK/NAME.jsonl);
	# output (stdout and stderr) in $WORK/plain.txt and shim.txt, exit status in .rc
	twice() {
		local n=$1 run env
		shift
		for run in plain shim; do
			env=()
			[ $run = shim ] && read -ra env <<<"$(shim "$n")"
			env "${env[@]}" "$@" >"$WORK/$run.txt" 2>&1
			echo $? >"$WORK/$run.rc"
		done
	}
	# the binds and listens of a log on ports outside the ephemeral range
	fixed_binds_of() { binds_of "$1" | awk '$3 < 40000 || $3 > 40063'; }
	# same_run WHAT: the two runs ($WORK/plain.* and $WORK/shim.*) gave the same
	same_run() {
		expect "$1: transcript with the shim = without" "$(cat "$WORK/shim.txt")" "$(cat "$WORK/plain.txt")"
		expect "$1: exit status with the shim = without" "$(cat "$WORK/shim.rc")" "$(cat "$WORK/plain.rc")"
	}
}
export -f helpers
export here

# ---- nginx ------------------------------------------------------------------------
# Static files over 127.0.0.1 and [::1], a SO_REUSEPORT listener (one socket a
# worker), and proxy_pass to a second server block (the workers connect out),
# once through proxy_bind 127.0.0.2 (bind(127.0.0.2:0) with
# IP_BIND_ADDRESS_NO_PORT before each connect: the port comes with connect(),
# so the shim logs no bind event for it; the upstream sees 127.0.0.2).
nginx_conf() {
	cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log notice;
events { worker_connections 64; }
http {
	log_format t '\$server_port \$remote_addr \$status \$body_bytes_sent \$request_uri';
	access_log $WORK/nginx-access.log t;
	client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
	uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
	server {
		listen 127.0.0.1:8080;
		listen [::1]:8080;
		listen 127.0.0.1:8083 reuseport;
		root $WORK/www;
		location /up/ { proxy_pass http://127.0.0.1:8081/; }
		location /bound/ { proxy_bind 127.0.0.2; proxy_pass http://127.0.0.1:8081/; }
	}
	server { listen 127.0.0.1:8081; root $WORK/back; }
}
EOF
}
nginx_work() {
	local i u
	for i in 1 2 3 4; do echo "v4 $(curl -sf http://127.0.0.1:8080/blob | sha)"; done
	for i in 1 2; do echo "v6 $(curl -sf 'http://[::1]:8080/blob' | sha)"; done
	for i in 1 2; do echo "reuseport $(curl -sf http://127.0.0.1:8083/blob | sha)"; done
	for u in up bound; do
		for i in 1 2 3 4; do echo "$u $(curl -sf "http://127.0.0.1:8080/$u/back.bin" | sha)"; done
	done
	echo "missing $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/nothing)"
}
t_nginx_static_and_proxy() {
	mkdir -p "$WORK/www" "$WORK/back" "$WORK/tmp"
	chmod 755 "$WORK" # the workers run as nobody
	head -c 1048576 /dev/urandom >"$WORK/www/blob"
	head -c 262144 /dev/urandom >"$WORK/back/back.bin"
	nginx_conf
	local run env
	for run in plain shim; do
		env=()
		[ $run = shim ] && read -ra env <<<"$(shim nginx)"
		: >"$WORK/nginx-access.log"
		spawn $run "${env[@]}" -- nginx -c "$WORK/nginx.conf" -p "$WORK"
		wait_listen 8080 2 && wait_listen 8081 && wait_listen 8083 2 || return 1
		nginx_work >"$WORK/$run.txt"
		finish $run QUIT # graceful: workers exit through exit(), so their stop events too
		# after the workers are gone: a worker logs a request after it answered it
		cp "$WORK/nginx-access.log" "$WORK/$run-access.log"
	done
	local b k
	b=$(sha "$WORK/www/blob")
	k=$(sha "$WORK/back/back.bin")
	expect "transcript" "$(cat "$WORK/plain.txt")" "$(printf 'v4 %s\n' $b $b $b $b; printf 'v6 %s\n' $b $b
		printf 'reuseport %s\n' $b $b; printf 'up %s\n' $k $k $k $k; printf 'bound %s\n' $k $k $k $k
		echo "missing 404")"
	same_run nginx
	expect "exit status" "$(cat "$WORK/shim.rc")" 0
	check_log nginx 3 # master and two workers
	local f=$WORK/nginx.jsonl
	# one bind and one listen a listening socket; two 8083 sockets (reuseport, one a worker)
	expect "listener binds" "$(binds_of nginx | grep -v ' 0$' | sort | uniq -c | awk '{$1=$1; print}')" \
		"$(printf '%s\n' '1 bind 127.0.0.1 8080' '1 bind 127.0.0.1 8081' '2 bind 127.0.0.1 8083' \
			'1 bind ::1 8080' '1 listen 127.0.0.1 8080' '1 listen 127.0.0.1 8081' \
			'2 listen 127.0.0.1 8083' '1 listen ::1 8080')"
	# proxy_bind: the upstream saw 127.0.0.2; bind(127.0.0.2:0) with IP_BIND_ADDRESS_NO_PORT
	# takes no port, and the shim logs it as nothing (binds only: the listeners above)
	expect "upstream requests from 127.0.0.2" "$(grep -c '^8081 127.0.0.2 200 262144 /back.bin$' "$WORK/shim-access.log")" 4
	expect "bind events by workers" "$(jq -r 'select(.event.action=="bind") | .process.pid' "$f" |
		grep -vc "^$(cat "$WORK/shim.pid")$")" 0
	local reqs bytes
	reqs=$(wc -l <"$WORK/shim-access.log")
	bytes=$(awk '{s += $4} END {print s}' "$WORK/shim-access.log")
	expect "access log, shim = plain" "$(sort "$WORK/shim-access.log")" "$(sort "$WORK/plain-access.log")"
	echo "# nginx: $reqs requests (17 from curl, 8 proxied upstream), $bytes body bytes;" \
		"events: $(figures nginx)"
}

# ---- redis ------------------------------------------------------------------------
redis_work() {
	local v
	v=$(head -c 49152 /dev/urandom | base64 -w0)
	echo "set $(redis-cli -p 6390 SET big "$v")"
	echo "get $(redis-cli -p 6390 GET big | sha)"
	echo "get6 $(redis-cli -h ::1 -p 6390 GET big | sha)"
	echo "want $(printf '%s\n' "$v" | sha)"
	echo "incr $(for i in $(seq 1 200); do echo INCR n; done | redis-cli -p 6390 | tail -1)"
	# the benchmark's own client is shimmed too in the shim run; -c 2: each of
	# its ~21 tests opens new connections, and 64 ports in TIME_WAIT run out
	# (with or without the shim) at the default -c 50
	env ${BENCH_ENV:-} redis-benchmark -p 6390 -n 2000 -c 2 --csv 2>"$WORK/bench.err" >"$WORK/bench.csv"
	echo "benchmark rc=$? tests=$(tail -n +2 "$WORK/bench.csv" | cut -d, -f1 | tr -d '"' | paste -sd' ')"
	echo "benchmark errors=$(grep -ci error "$WORK/bench.err")"
	echo "dbsize $(redis-cli -p 6390 DBSIZE)"
}
t_redis_set_get_benchmark() {
	local run env
	for run in plain shim; do
		env=()
		BENCH_ENV=
		[ $run = shim ] && read -ra env <<<"$(shim redis)" && BENCH_ENV=$(shim redis-benchmark)
		# the plain run leaves ~46 of the 64 ports in TIME_WAIT; connect()
		# reuses one (tcp_tw_reuse, loopback) only once it is a second old.
		# Without the wait a fast machine starts the shim run with 18 free
		# ports, and the benchmark dies of EADDRNOTAVAIL after 7 tests.
		[ $run = shim ] && sleep 1.2
		spawn $run "${env[@]}" -- redis-server --port 6390 --bind "127.0.0.1 -::1" --save "" \
			--appendonly no --daemonize no --dir "$WORK" --logfile "$WORK/$run-redis.log"
		wait_listen 6390 2 || return 1
		BENCH_ENV=$BENCH_ENV redis_work >"$WORK/$run.txt"
		finish $run TERM
	done
	local t=$WORK/plain.txt
	expect "set" "$(grep '^set ' "$t")" "set OK"
	expect "get = value" "$(grep '^get ' "$t" | cut -d' ' -f2)" "$(grep '^want ' "$t" | cut -d' ' -f2)"
	expect "get over ::1 = value" "$(grep '^get6 ' "$t" | cut -d' ' -f2)" "$(grep '^want ' "$t" | cut -d' ' -f2)"
	expect "incr" "$(grep '^incr ' "$t")" "incr 200"
	expect_match "benchmark" "$(grep '^benchmark rc' "$t")" '^benchmark rc=0 tests=PING_INLINE .* MSET \(10 keys\)$'
	expect "benchmark errors" "$(grep '^benchmark errors' "$t")" "benchmark errors=0"
	# the random value differs between the runs: compare everything else
	sed -i '/^get\|^want/d' "$WORK/plain.txt" "$WORK/shim.txt"
	same_run redis
	expect "exit status" "$(cat "$WORK/shim.rc")" 0
	check_log redis 1
	check_log redis-benchmark 1
	expect "redis listeners" "$(binds_of redis | sort | paste -sd,)" \
		"bind 127.0.0.1 6390,bind ::1 6390,listen 127.0.0.1 6390,listen ::1 6390"
	local ntests
	ntests=$(($(wc -l <"$WORK/bench.csv") - 1))
	echo "# redis: 203 redis-cli commands + benchmark $ntests tests x 2000 requests (2 clients);" \
		"redis-server events: $(figures redis); benchmark: $(figures redis-benchmark)," \
		"$(jq -s '[.[] | select(.event.action=="stop")][0].bindguard.counters.sockets' "$WORK/redis-benchmark.jsonl") sockets"
}

# The control: the same redis-server, configured onto the ephemeral port P
# that a CLOSE_WAIT connection holds on 127.0.0.1, bound on 127.0.0.2 (the
# kernel allows it), is a real hazard (connect() loses P). Audit logs it and changes nothing;
# enforce refuses the bind and redis exits, as a bind error makes it do.
t_redis_on_a_halfclosed_port_is_a_hazard() {
	spawn server -- "$ACTOR" server 127.0.0.1 9000
	wait_file "$WORK/server.out" || return 1
	spawn a -- "$ACTOR" closewait 127.0.0.1 9000
	wait_state CLOSE-WAIT 1 || return 1
	local run env p
	p=$(ss -Htn state close-wait | awk '{split($3, a, ":"); print a[2]}')
	for run in plain audit enforce; do
		env=()
		[ $run != plain ] && read -ra env <<<"$(MODE=$run shim redis-$run)"
		spawn $run "${env[@]}" -- redis-server --port "$p" --bind 127.0.0.2 --save "" \
			--appendonly no --daemonize no --dir "$WORK" --logfile "$WORK/$run-redis.log"
		if [ $run = enforce ]; then
			wait "$(cat "$WORK/$run.pid")"
			echo $? >"$WORK/$run.rc"
			continue
		fi
		wait_listen "$p" || return 1
		echo "$(redis-cli -h 127.0.0.2 -p "$p" SET k v) $(redis-cli -h 127.0.0.2 -p "$p" GET k)" >"$WORK/$run.txt"
		finish $run TERM
	done
	expect "plain: works" "$(cat "$WORK/plain.txt")" "OK v"
	expect "audit: works the same" "$(cat "$WORK/audit.txt")" "OK v"
	expect "audit: exit status" "$(cat "$WORK/audit.rc")" "$(cat "$WORK/plain.rc")"
	expect "audit: hazards" "$(hazards_in "$WORK/redis-audit.jsonl")" 1
	expect "audit: the hazard" "$(jq -r 'select((.bindguard.hazard // "none") != "none") | [.event.action,
		.source.ip, .source.port, .bindguard.hazard, .bindguard.decision, .bindguard.owners[0].state] |
		join(" ")' "$WORK/redis-audit.jsonl")" "bind 127.0.0.2 $p pin_halfclosed log CLOSE_WAIT"
	expect "enforce: redis exits 1" "$(cat "$WORK/enforce.rc")" 1
	expect_match "enforce: redis says" "$(cat "$WORK/enforce-redis.log")" \
		"Could not create server TCP listening socket 127.0.0.2:$p: bind: Address already in use"
	expect "enforce: the block" "$(jq -r 'select((.bindguard.hazard // "none") != "none") | [.event.action,
		.bindguard.decision, .event.outcome] | join(" ")' "$WORK/redis-enforce.jsonl")" "bind block failure"
	local r out
	for r in audit enforce; do
		out=$("$SCHEMA_CHECK" "$EVENT_SCHEMA" "$WORK/redis-$r.jsonl" 2>&1) || {
			echo "#   redis-$r: schema: $out"
			failed=1
		}
	done
	echo "# redis on half-closed port $p: audit 1 hazard (pin_halfclosed), redis unchanged;" \
		"enforce: bind refused, redis exit $(cat "$WORK/enforce.rc") (plain: runs)"
}

# ---- socat --------------------------------------------------------------------------
# A relay (fork: one child a connection, each connects to the backend) in front
# of an echo backend (fork + exec cat); four clients at once, 2 MiB each way.
t_socat_relay() {
	local i run env1 env2 clients
	for i in 1 2 3 4; do head -c 2097152 /dev/urandom >"$WORK/in$i"; done
	for run in plain shim; do
		env1=() env2=()
		[ $run = shim ] && read -ra env1 <<<"$(shim socat-relay)" && read -ra env2 <<<"$(shim socat-backend)"
		spawn $run-backend "${env2[@]}" -- socat -t 10 TCP-LISTEN:9001,bind=127.0.0.1,reuseaddr,fork EXEC:cat
		spawn $run "${env1[@]}" -- socat -t 10 TCP-LISTEN:9000,bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:9001
		wait_listen 9001 && wait_listen 9000 || return 1
		clients=()
		for i in 1 2 3 4; do
			socat -t 10 - TCP:127.0.0.1:9000 <"$WORK/in$i" >"$WORK/out$i" &
			clients+=($!)
		done
		wait "${clients[@]}"
		for i in 1 2 3 4; do echo "conn$i $(sha "$WORK/out$i") $(stat -c %s "$WORK/out$i")"; done >"$WORK/$run.txt"
		finish $run TERM
		finish $run-backend TERM
	done
	for i in 1 2 3 4; do
		expect "conn$i echoed intact" "$(grep "^conn$i " "$WORK/plain.txt")" "conn$i $(sha "$WORK/in$i") 2097152"
	done
	same_run socat
	check_log socat-relay
	check_log socat-backend
	expect "relay listener" "$(binds_of socat-relay | paste -sd,)" "bind 127.0.0.1 9000,listen 127.0.0.1 9000"
	expect "backend listener" "$(binds_of socat-backend | paste -sd,)" "bind 127.0.0.1 9001,listen 127.0.0.1 9001"
	echo "# socat: 4 connections x 2 MiB each way through the relay (16 MiB relayed);" \
		"relay events: $(figures socat-relay); backend (socat + cat): $(figures socat-backend)"
}

# ---- vsftpd ----------------------------------------------------------------------------
# Anonymous FTP on 127.0.0.1:2121 (standalone, background=NO). Each session is
# a process made by a raw clone() syscall (vsftpd's isolate option:
# CLONE_NEWIPC), chroot()ed into the FTP root; it binds the PASV listeners and,
# in active mode, 127.0.0.1:20 (connect_from_port_20) before it connects to
# the client. The PASV range is outside the ephemeral range, as it should be
# (t_known_vsftpd_pasv_port_after_time_wait shows what the shim makes of a
# PASV port inside it). seccomp_sandbox=NO: with it, vsftpd fails its
# transfers in this container with or without the shim.
vsftpd_conf() {
	cat >"$WORK/$1-vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=2121
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$WORK/ftp
write_enable=YES
anon_upload_enable=YES
anon_umask=022
port_enable=YES
connect_from_port_20=YES
pasv_enable=YES
pasv_min_port=30000
pasv_max_port=30063
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
xferlog_enable=YES
vsftpd_log_file=$WORK/$1-vsftpd.log
EOF
}
vsftpd_work() {
	local u=ftp://127.0.0.1:2121 i
	for i in 1 2; do echo "pasv-get $(curl -sS $u/pub/blob | sha)"; done
	for i in 1 2; do echo "port-get $(env ${CLIENT_ENV:-} curl -sS --ftp-port 127.0.0.1 $u/pub/blob | sha)"; done
	curl -sS -T "$WORK/up1" "$u/in/$1-pasv.bin"
	echo "pasv-put rc=$? $(sha <"$WORK/ftp/in/$1-pasv.bin")"
	env ${CLIENT_ENV:-} curl -sS --ftp-port 127.0.0.1 -T "$WORK/up2" "$u/in/$1-port.bin"
	echo "port-put rc=$? $(sha <"$WORK/ftp/in/$1-port.bin")"
}
t_vsftpd_active_passive_upload() {
	mkdir -p "$WORK/ftp/pub" "$WORK/ftp/in" /var/run/vsftpd/empty
	chmod 755 "$WORK" "$WORK/ftp"
	chown ftp "$WORK/ftp/in"
	head -c 3145728 /dev/urandom >"$WORK/ftp/pub/blob"
	head -c 2097152 /dev/urandom >"$WORK/up1"
	head -c 1048576 /dev/urandom >"$WORK/up2"
	local run env
	for run in plain shim; do
		env=()
		CLIENT_ENV=
		[ $run = shim ] && read -ra env <<<"$(shim vsftpd)" && CLIENT_ENV=$(shim ftp-client)
		vsftpd_conf $run
		spawn $run "${env[@]}" -- vsftpd "$WORK/$run-vsftpd.conf"
		wait_listen 2121 || return 1
		CLIENT_ENV=$CLIENT_ENV vsftpd_work $run >"$WORK/$run.txt" 2>"$WORK/$run-client.err"
		finish $run TERM
	done
	local b
	b=$(sha "$WORK/ftp/pub/blob")
	expect "transcript" "$(cat "$WORK/plain.txt")" "$(printf 'pasv-get %s\n' $b $b; printf 'port-get %s\n' $b $b
		echo "pasv-put rc=0 $(sha "$WORK/up1")"; echo "port-put rc=0 $(sha "$WORK/up2")")"
	expect "client errors" "$(cat "$WORK/plain-client.err" "$WORK/shim-client.err")" ""
	same_run vsftpd
	local r
	for r in plain shim; do
		expect "$r: vsftpd log" "$(grep -o 'OK [A-Z]*' "$WORK/$r-vsftpd.log" | sort | uniq -c | awk '{$1=$1; print}' | paste -sd,)" \
			"4 OK DOWNLOAD,6 OK LOGIN,2 OK UPLOAD"
	done
	check_log vsftpd
	check_log ftp-client
	local f=$WORK/vsftpd.jsonl master
	master=$(cat "$WORK/shim.pid")
	expect "master's listener" "$(jq -r --argjson m "$master" 'select(.process.thread.id == $m and .event.action != "start" and
		.event.action != "stop") | "\(.event.action) \(.source.ip):\(.source.port)"' "$f" | paste -sd,)" \
		"bind 127.0.0.1:2121,listen 127.0.0.1:2121"
	# from the chroot()ed sessions: three PASV listeners, three binds of port 20
	expect "PASV binds+listens in 30000-30063" "$(jq -r 'select(.source.port >= 30000 and .source.port <= 30063) |
		.event.action' "$f" | sort | uniq -c | awk '{$1=$1; print}' | paste -sd,)" "3 bind,3 listen"
	expect "binds of 127.0.0.1:20" "$(binds_of vsftpd | grep -c '^bind 127.0.0.1 20$')" 3
	expect "events from sessions" "$(jq -r --argjson m "$master" 'select(.process.thread.id != $m) | .event.action' "$f" |
		grep -c .)" 9
	# each event names the process that made it (a raw clone() bypasses fork())
	expect "events whose pid is not their thread's" "$(jq -c 'select(.process.pid != .process.thread.id)' "$f" | wc -l)" 0
	expect "active client: bind+listen (curl's PORT sockets, 3 transfers)" "$(jq -r 'select(.event.action == "bind" or
		.event.action == "listen") | .event.action' "$WORK/ftp-client.jsonl" | sort | uniq -c | awk '{$1=$1; print}' | paste -sd,)" \
		"3 bind,3 listen"
	echo "# vsftpd: 6 sessions, 4 downloads x 3 MiB (2 PASV, 2 PORT), 2 uploads (2 + 1 MiB);" \
		"vsftpd events: $(figures vsftpd); curl (active): $(figures ftp-client)"
}

# What vsftpd does, reduced: a listener, then a child made by a raw clone() syscall
# (no fork() wrapper runs) chroot()s (the log's path is gone), then binds and
# listens, and exits through exit(). All its events must reach the log the
# shim opened before, under the child's own pid.
t_raw_clone_then_chroot_still_logs() {
	mkdir -p "$WORK/jail"
	local env
	read -ra env <<<"$(shim clone)"
	env "${env[@]}" python3 -c 'import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
master = socket.socket()  # the master listens first (and the shim starts)
master.bind(("127.0.0.1", 2121))
master.listen()
pid = libc.syscall(56, 17, 0, 0, 0, 0)  # clone(SIGCHLD) on x86_64, as vsftpd does
if pid == 0:
    os.chroot(sys.argv[1])
    os.chdir("/")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    print("child", os.getpid(), flush=True)
    sys.exit(0)
_, st = os.waitpid(pid, 0)
print("parent", os.getpid(), os.waitstatus_to_exitcode(st))' "$WORK/jail" >"$WORK/out" 2>&1
	local parent child
	parent=$(awk '$1 == "parent" {print $2}' "$WORK/out")
	child=$(awk '$1 == "child" {print $2}' "$WORK/out")
	expect "child exit" "$(awk '$1 == "parent" {print $3}' "$WORK/out")" 0
	expect "child's events" "$(jq -r --argjson c "${child:-0}" 'select(.process.thread.id == $c) | .event.action' \
		"$WORK/clone.jsonl" | paste -sd,)" "bind,listen,stop"
	expect "parent's events" "$(jq -r --argjson p "${parent:-0}" 'select(.process.thread.id == $p) | .event.action' \
		"$WORK/clone.jsonl" | paste -sd,)" "start,bind,listen,stop"
	expect "events whose pid is not their thread's" "$(jq -c 'select(.process.pid != .process.thread.id)' \
		"$WORK/clone.jsonl" | wc -l)" 0
	check_log clone 2
}

# KNOWN ISSUE, not run by default (KNOWN=1 runs it; it fails today).
# vsftpd with its PASV range inside the ephemeral range (here one port,
# 40010). A PASV download leaves the server's side of the data connection in
# TIME_WAIT on 40010, its listener gone. sock_diag shows a connected socket on
# an ephemeral port with no listener, so the shim infers that connect()
# placed it (bucket -1,-1, no SO_REUSEADDR). It was accepted: the kernel's
# bucket is the listener's bind bucket (connect() already skips 40010), and it
# inherited the listener's SO_REUSEADDR. So the next session's PASV bind of
# 127.0.0.2:40010 is reported as a "pin" (a false hazard; enforce with "pin"
# in enforce.block would refuse it), and one of 127.0.0.1:40010 as a
# model_divergence (predicted EADDRINUSE, kernel: success).
t_known_vsftpd_pasv_port_after_time_wait() {
	mkdir -p "$WORK/ftp/pub" /var/run/vsftpd/empty
	chmod 755 "$WORK" "$WORK/ftp"
	head -c 262144 /dev/urandom >"$WORK/ftp/pub/blob"
	cat >"$WORK/vsftpd.conf" <<EOF
listen=YES
listen_port=2121
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$WORK/ftp
pasv_min_port=40010
pasv_max_port=40010
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
EOF
	local env a
	read -ra env <<<"$(shim vsftpd)"
	spawn vsftpd "${env[@]}" -- vsftpd "$WORK/vsftpd.conf"
	wait_listen 2121 || return 1
	for a in 127.0.0.1 127.0.0.2 127.0.0.1; do
		expect "download via $a" "$(curl -sS "ftp://$a:2121/pub/blob" | sha)" "$(sha "$WORK/ftp/pub/blob")"
	done
	finish vsftpd TERM
	expect "PASV binds" "$(binds_of vsftpd | grep -c '^bind .* 40010$')" 3
	expect "hazards" "$(jq -r 'select((.bindguard.hazard // "none") != "none") | .message' "$WORK/vsftpd.jsonl")" ""
	expect "model divergences" "$(events_of "$WORK/vsftpd.jsonl" model_divergence | jq -r .message)" ""
}

# ---- python3 -m http.server ------------------------------------------------------------
# Bound to [::] (its DualStackServer turns IPV6_V6ONLY off): clients over 127.0.0.1 and ::1.
t_python_http_server() {
	mkdir -p "$WORK/www"
	head -c 3145728 /dev/urandom >"$WORK/www/blob"
	local run env i b
	for run in plain shim; do
		env=()
		[ $run = shim ] && read -ra env <<<"$(shim python)"
		# = python3 -m http.server 8000 --bind :: --directory DIR, plus SIGTERM -> exit(0) so that
		# it ends through exit() (a background job ignores SIGINT, and so does python then)
		spawn $run "${env[@]}" -- python3 -c 'import runpy, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.argv = ["http.server", "8000", "--bind", "::", "--directory", sys.argv[1]]
runpy.run_module("http.server", run_name="__main__", alter_sys=True)' "$WORK/www"
		wait_listen 8000 || return 1
		{
			for i in 1 2 3; do echo "v4 $(curl -sf http://127.0.0.1:8000/blob | sha)"; done
			for i in 1 2 3; do echo "v6 $(curl -sf 'http://[::1]:8000/blob' | sha)"; done
			echo "listing $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/)"
			echo "missing $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/nothing)"
		} >"$WORK/$run.txt"
		finish $run TERM
	done
	b=$(sha "$WORK/www/blob")
	expect "transcript" "$(cat "$WORK/plain.txt")" "$(printf 'v4 %s\n' $b $b $b; printf 'v6 %s\n' $b $b $b
		echo "listing 200"; echo "missing 404")"
	same_run python
	expect "exit status" "$(cat "$WORK/shim.rc")" 0
	check_log python 1
	expect "dual-stack listener" "$(binds_of python | paste -sd,)" "bind :: 8000,listen :: 8000"
	echo "# python http.server: 8 requests, 6 x 3 MiB; events: $(figures python)"
}

# ---- memcached ---------------------------------------------------------------------------
# memcached -u nobody gives up root before it binds (setgroups, setgid,
# setuid) and serves as nobody; the shim's config here is root's only (600 in
# a 700 folder), as an operator would leave it.
memcached_work() {
	python3 -c 'import hashlib, os, socket
v = os.urandom(24576).hex().encode()
def ask(cmd, until):
    s = socket.create_connection(("127.0.0.1", 11311))
    s.sendall(cmd)
    got = b""
    while not got.endswith(until):
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got
print("set", ask(b"set big 0 0 %d\r\n%s\r\n" % (len(v), v), b"\r\n").decode().strip())
got = ask(b"get big\r\n", b"END\r\n")
print("get intact", got.split(b"\r\n")[1] == v)
print("set n", ask(b"set n 0 0 1\r\n0\r\n", b"\r\n").decode().strip())
for i in range(20):
    r = ask(b"incr n 1\r\n", b"\r\n")
print("incr", r.decode().strip())
print("v6 refused", socket.socket(socket.AF_INET6).connect_ex(("::1", 11311)) != 0)'
}
t_memcached_as_nobody() {
	local run env
	for run in plain shim; do
		env=()
		[ $run = shim ] && read -ra env <<<"$(shim memcached)"
		# the log as a package leaves it: root's, which the shim opens
		# before memcached gives up root
		[ $run = shim ] && install -m 640 /dev/null "$WORK/memcached.jsonl"
		spawn $run "${env[@]}" -- memcached -u nobody -l 127.0.0.1 -p 11311 -U 0 -m 16 -c 64
		wait_listen 11311 || return 1
		memcached_work >"$WORK/$run.txt" 2>&1
		finish $run TERM
	done
	expect "transcript" "$(cat "$WORK/plain.txt")" "$(printf '%s\n' "set STORED" "get intact True" "set n STORED" "incr 20" "v6 refused True")"
	same_run memcached
	check_log memcached 1
	expect "listener" "$(binds_of memcached | paste -sd,)" "bind 127.0.0.1 11311,listen 127.0.0.1 11311"
	expect "runs as nobody" "$(jq -r 'select(.event.action == "listen") | .process.pid' "$WORK/memcached.jsonl" |
		xargs -r -I{} echo ok)" ok
	echo "# memcached -u nobody: 24 connections, a 48 KiB value; events: $(figures memcached)"
}

# ---- haproxy -------------------------------------------------------------------------------
# TCP mode: a frontend on 127.0.0.1:9400 and [::1]:9400, a backend (socat
# echo) reached from source 127.0.0.2 (haproxy binds the source before its
# connect) and one reached plainly; four clients at once, 1 MiB each way.
t_haproxy_tcp_proxy() {
	cat >"$WORK/haproxy.cfg" <<EOF
global
	maxconn 64
defaults
	mode tcp
	timeout connect 5s
	timeout client 10s
	timeout server 10s
frontend f
	bind 127.0.0.1:9400
	bind [::1]:9400
	default_backend plainly
frontend g
	bind 127.0.0.1:9402
	default_backend from2
backend plainly
	server echo 127.0.0.1:9401
backend from2
	source 127.0.0.2
	server echo 127.0.0.1:9401
EOF
	local i run env clients
	for i in 1 2 3 4; do head -c 1048576 /dev/urandom >"$WORK/in$i"; done
	# the backend notes each peer's address (socat sets SOCAT_PEERADDR for the child)
	spawn backend -- socat -t 10 TCP-LISTEN:9401,bind=127.0.0.1,reuseaddr,fork \
		SYSTEM:"echo \$SOCAT_PEERADDR >>$WORK/peers; exec cat"
	wait_listen 9401 || return 1
	for run in plain shim; do
		env=()
		[ $run = shim ] && read -ra env <<<"$(shim haproxy)"
		spawn $run "${env[@]}" -- haproxy -db -f "$WORK/haproxy.cfg"
		wait_listen 9400 2 && wait_listen 9402 || return 1
		clients=()
		: >"$WORK/peers"
		socat -t 10 - TCP:127.0.0.1:9400 <"$WORK/in1" >"$WORK/out1" & clients+=($!)
		socat -t 10 - 'TCP:[::1]:9400' <"$WORK/in2" >"$WORK/out2" & clients+=($!)
		socat -t 10 - TCP:127.0.0.1:9402 <"$WORK/in3" >"$WORK/out3" & clients+=($!)
		socat -t 10 - TCP:127.0.0.1:9402 <"$WORK/in4" >"$WORK/out4" & clients+=($!)
		wait "${clients[@]}"
		for i in 1 2 3 4; do echo "conn$i $(sha "$WORK/out$i") $(stat -c %s "$WORK/out$i")"; done >"$WORK/$run.txt"
		echo "backend's peers: $(sort "$WORK/peers" | uniq -c | awk '{$1=$1; print}' | paste -sd,)" >>"$WORK/$run.txt"
		finish $run USR1 # soft stop: haproxy exits through exit()
	done
	for i in 1 2 3 4; do
		expect "conn$i echoed intact" "$(grep "^conn$i " "$WORK/plain.txt")" "conn$i $(sha "$WORK/in$i") 1048576"
	done
	same_run haproxy
	check_log haproxy
	expect "backend's peers" "$(grep '^backend' "$WORK/plain.txt")" "backend's peers: 2 127.0.0.1,2 127.0.0.2"
	# source 127.0.0.2: bind(127.0.0.2:0) with IP_BIND_ADDRESS_NO_PORT, no port taken, no event
	expect "listeners" "$(fixed_binds_of haproxy | sort | paste -sd,)" \
		"bind 127.0.0.1 9400,bind 127.0.0.1 9402,bind ::1 9400,listen 127.0.0.1 9400,listen 127.0.0.1 9402,listen ::1 9400"
	echo "# haproxy: 4 connections x 1 MiB each way (2 from source 127.0.0.2); events: $(figures haproxy)"
}

# ---- sshd ----------------------------------------------------------------------------------
# OpenSSH's server in the foreground (-D), key login as root: each
# connection re-executes sshd (which loads the shim afresh), its pre-auth
# child chroot()s into /run/sshd and becomes the sshd user; the session runs
# a command, and ssh -W has sshd connect to a local echo service (socat) and
# relay 1 MiB through it. StrictModes no: $WORK lies under /tmp (o+w, sticky).
t_sshd_exec_and_forward() {
	mkdir -p /run/sshd
	chmod 755 /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$WORK/userkey" || return 1
	cp "$WORK/userkey.pub" "$WORK/authorized_keys"
	cat >"$WORK/sshd_config" <<EOF
ListenAddress 127.0.0.1:2222
HostKey $WORK/hostkey
PidFile none
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
EOF
	head -c 1048576 /dev/urandom >"$WORK/in"
	spawn echo -- socat -t 10 TCP-LISTEN:9500,bind=127.0.0.1,reuseaddr,fork EXEC:cat
	wait_listen 9500 || return 1
	local run env ssh=(ssh -q -F none -i "$WORK/userkey" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
		-o BatchMode=yes -p 2222 root@127.0.0.1)
	for run in plain shim; do
		env=()
		[ $run = shim ] && read -ra env <<<"$(shim sshd)"
		spawn $run "${env[@]}" -- /usr/sbin/sshd -D -e -f "$WORK/sshd_config"
		wait_listen 2222 || return 1
		{
			echo "exec $("${ssh[@]}" 'echo hello; id -un' | paste -sd' ') rc=$?"
			echo "forward $("${ssh[@]}" -W 127.0.0.1:9500 <"$WORK/in" | sha) rc=$?"
			echo "exit $("${ssh[@]}" 'exit 3'; echo $?)"
		} >"$WORK/$run.txt" 2>&1
		finish $run TERM
	done
	expect "transcript" "$(cat "$WORK/plain.txt")" "$(printf '%s\n' "exec hello root rc=0" \
		"forward $(sha "$WORK/in") rc=0" "exit 3")"
	same_run sshd
	check_log sshd
	expect "listener" "$(fixed_binds_of sshd | paste -sd,)" "bind 127.0.0.1 2222,listen 127.0.0.1 2222"
	expect "processes that logged a start" "$(events_of "$WORK/sshd.jsonl" start | wc -l | awk '{print ($1 >= 2) ? "2 or more" : $1}')" \
		"2 or more"
	echo "# sshd: 3 logins (a command, 1 MiB through ssh -W, an exit status); events: $(figures sshd)"
}

# ---- runtimes ---------------------------------------------------------------------------
# Go with cgo (tests/hardening/services/cgo-echo.go): the program is linked
# against libc and loads the shim, but Go's net package binds, listens,
# connects and accepts through raw syscalls, so the shim sees only the
# listener libc makes for it through cgo (127.0.0.1:9101), not Go's own (a
# blind spot docs/limits.md names). That cgo listener's last bind, on Go's port
# 9100, fails in the kernel: the shim never saw the socket there and did not
# ask (outside the ephemeral range), so it is no model divergence. A Go
# program ends through exit_group(), not exit(): no stop event.
t_go_cgo_echo() {
	GOENV=off GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GOTOOLCHAIN=local GO111MODULE=off CGO_ENABLED=1 \
		go build -o "$WORK/cgo-echo" "$here/tests/hardening/services/cgo-echo.go" || return 1
	expect "dynamically linked" "$(ldd "$WORK/cgo-echo" | grep -c 'libc\.so')" 1
	twice go "$WORK/cgo-echo"
	local i
	expect "transcript" "$(cat "$WORK/plain.txt")" "$(for i in 0 1; do
		echo "go 127.0.0.1 echo PLAIN$i"; echo "go 127.0.0.2 echo LOCAL-ADDR$i"
		echo "cgo 127.0.0.1 echo PLAIN$i"; echo "cgo 127.0.0.2 echo LOCAL-ADDR$i"; done
		echo "cgo listener on Go's port 9100 refused: true")"
	same_run go
	check_log go
	expect "events" "$(jq -r 'select(.event.action == "bind" or .event.action == "listen") |
		"\(.event.action) \(.source.ip) \(.source.port) \(.event.outcome)"' "$WORK/go.jsonl" | paste -sd,)" \
		"bind 127.0.0.1 9101 success,listen 127.0.0.1 9101 success,bind 127.0.0.1 9100 failure"
	echo "# go (cgo): 8 connections (4 to Go's listener, 4 to the libc one, 4 from 127.0.0.2); events: $(figures go)"
}

# Java (tests/hardening/services/Echo.java): java.net sockets are IPv6
# sockets in the JVM (an IPv4 address v4-mapped), NIO channels, client
# sockets bound to 127.0.0.2:0 before connect, a second listener on a port
# the JVM holds already (BindException).
t_java_echo() {
	mkdir -p "$WORK/classes"
	javac -d "$WORK/classes" "$here/tests/hardening/services/Echo.java" || return 1
	twice java java -cp "$WORK/classes" Echo
	local i
	expect "transcript" "$(cat "$WORK/plain.txt")" "$(for i in 0 1; do
		echo "v4 127.0.0.1 echo PLAIN$i"; echo "v4 127.0.0.2 echo LOCAL$i"
		echo "v6 0:0:0:0:0:0:0:1 echo PLAIN$i"; echo "nio echo NIO$i"; done
		echo "second listener on 9200: Address already in use")"
	same_run java
	expect "exit status" "$(cat "$WORK/shim.rc")" 0
	check_log java 1
	expect "listeners" "$(fixed_binds_of java | paste -sd,)" \
		"bind 127.0.0.1 9200,listen 127.0.0.1 9200,bind ::1 9201,listen ::1 9201,bind 127.0.0.1 9202,listen 127.0.0.1 9202,bind 127.0.0.1 9200"
	expect "client binds of 127.0.0.2" "$(binds_of java | grep -c '^bind 127.0.0.2 ')" 2
	expect "the refused listener" "$(jq -r 'select(.event.outcome == "failure") |
		"\(.event.action) \(.source.port) \(.error.code)"' "$WORK/java.jsonl")" "bind 9200 EADDRINUSE"
	echo "# java: 8 connections over java.net and NIO; events: $(figures java)"
}

# node (tests/hardening/services/node-http.js): libuv's sockets, HTTP over
# 127.0.0.1 and [::1] on one port, keep-alive, a localAddress, and a second
# server on a port taken (EADDRINUSE, which node reports as an 'error').
t_node_http_server_and_client() {
	twice node node "$here/tests/hardening/services/node-http.js"
	expect "transcript" "$(cat "$WORK/plain.txt")" "v4 200 e1f2a139c5165b63 127.0.0.1
v6 200 f3aae3b9e41786ae ::1
keepalive 200 a22c9e4f2a457220 127.0.0.1
local 200 2a59c4153fbd3b3d 127.0.0.2
v4 200 e1f2a139c5165b63 127.0.0.1
v6 200 e045e0fa78669f5f ::1
keepalive 200 dd777847a4dcb25e 127.0.0.1
local 200 34245f7a8621f9e3 127.0.0.2
v4 200 e1f2a139c5165b63 127.0.0.1
v6 200 96eba25ae0ebb93d ::1
keepalive 200 582f974320b2ab22 127.0.0.1
local 200 44c83f9fb8ca7d09 127.0.0.2
second server: EADDRINUSE"
	same_run node
	expect "exit status" "$(cat "$WORK/shim.rc")" 0
	check_log node 1
	expect "listeners" "$(fixed_binds_of node | paste -sd,)" \
		"bind 127.0.0.1 9300,listen 127.0.0.1 9300,bind ::1 9300,listen ::1 9300,bind 127.0.0.1 9300"
	expect "client binds of 127.0.0.2" "$(binds_of node | grep -c "^bind 127.0.0.2 ")" 3
	echo "# node: 12 HTTP requests (3 connections from 127.0.0.2); events: $(figures node)"
}

# ---- privileges and chroot before the first socket call ------------------------------
# sshd, postgres, memcached -u, vsftpd's sessions: a program that gives up
# root (setgid/setuid family) or chroot()s before its first socket call can
# no longer read a config only root may read, nor reach the log's path. The
# shim reads its config and opens its log (where the file exists, as a
# package or logrotate's "create" leaves it: a launcher such as runuser must
# not leave behind a root-owned file its child cannot write) at the first of
# those calls, so the config in force is the operator's: here one readable by root only
# (600, in a 700 folder) that enforces on the port P a CLOSE_WAIT connection
# holds. Each child drops (setuid nobody, or chroot into an empty folder),
# then binds 127.0.0.2:P: refused in enforce. Without the shim: bound. The
# range lies above the default one (32768-60999), and the chroot()ed child
# binds more than a second after its chroot, when the shim reads the range
# again and cannot: it must keep the range it read, not fall back to the default.
t_config_read_before_privilege_drop() {
	range 61000 61063
	spawn server -- "$ACTOR" server 127.0.0.1 9000
	wait_file "$WORK/server.out" || return 1
	spawn a -- "$ACTOR" closewait 127.0.0.1 9000
	wait_state CLOSE-WAIT 1 || return 1
	local p how run env
	p=$(ss -Htn state close-wait | awk '{split($3, a, ":"); print a[2]}')
	printf '{"mode": "audit", "level": "debug", "rules": [{"ports": [%s], "mode": "enforce"}]}\n' \
		"$p" >"$WORK/root.json"
	chmod 600 "$WORK/root.json"
	chmod 700 "$WORK"
	mkdir -p "$WORK/jail"
	for how in setuid setresuid chroot; do
		install -m 640 /dev/null "$WORK/$how.jsonl" # the operator's log, root's
		for run in plain shim; do
			env=()
			[ $run = shim ] && read -ra env <<<"$(preload BINDGUARD_CONFIG="$WORK/root.json" BINDGUARD_LOG="$WORK/$how.jsonl")"
			env "${env[@]}" python3 -c 'import errno, os, socket, sys, time
how, port, jail = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if how == "chroot":
    os.chroot(jail)
    os.chdir("/")
    time.sleep(1.2)  # the shim reads the port range again (once a second)
elif how == "setresuid":
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
else:
    os.setgid(65534)
    os.setuid(65534)
s = socket.socket()
try:
    s.bind(("127.0.0.2", port))
    print("bound")
except OSError as e:
    print(errno.errorcode[e.errno])' "$how" "$p" "$WORK/jail" >"$WORK/$how-$run.txt" 2>&1
		done
		expect "$how: without the shim" "$(cat "$WORK/$how-plain.txt")" "bound"
		expect "$how: with the shim (enforce, from the root-only config)" "$(cat "$WORK/$how-shim.txt")" "EADDRINUSE"
		if ! [ -s "$WORK/$how.jsonl" ]; then
			echo "#   $how: no event log"
			failed=1
			continue
		fi
		expect "$how: config errors" "$(events_of "$WORK/$how.jsonl" config_error | jq -r .message)" ""
		expect "$how: the block" "$(jq -r 'select(.event.action == "bind") | [.source.port, .bindguard.mode,
			.bindguard.hazard, .bindguard.decision] | join(" ")' "$WORK/$how.jsonl")" "$p enforce pin_halfclosed block"
		schema_ok "$WORK/$how.jsonl"
	done
}

# A port another process listens on, outside the ephemeral range: the shim
# does not ask the kernel who holds it (no syscall for such a port), so it
# cannot predict the kernel's EADDRINUSE, and that is no divergence of its
# model: no model_divergence event, none in the stop counters.
t_port_held_by_another_process_is_no_divergence() {
	spawn holder -- python3 -c 'import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 8500))
s.listen()
print("up", flush=True)
time.sleep(30)'
	wait_listen 8500 || return 1
	local run env
	for run in plain shim; do
		env=()
		[ $run = shim ] && read -ra env <<<"$(shim taker)"
		env "${env[@]}" python3 -c 'import errno, socket
for addr in ("127.0.0.1", "0.0.0.0"):
    s = socket.socket()
    try:
        s.bind((addr, 8500))
        print(addr, "bound")
    except OSError as e:
        print(addr, errno.errorcode[e.errno])
    s.close()' >"$WORK/$run.txt" 2>&1
		echo $? >"$WORK/$run.rc"
	done
	expect "without the shim" "$(cat "$WORK/plain.txt")" "$(printf '127.0.0.1 EADDRINUSE\n0.0.0.0 EADDRINUSE')"
	same_run taker
	check_log taker 1
	expect "bind events" "$(jq -r 'select(.event.action == "bind") | [.source.ip, .source.port, .event.outcome,
		.error.code] | join(" ")' "$WORK/taker.jsonl")" \
		"$(printf '127.0.0.1 8500 failure EADDRINUSE\n0.0.0.0 8500 failure EADDRINUSE')"
}

known=known_vsftpd_pasv_port_after_time_wait
if [ -z "${KNOWN:-}" ]; then
	SKIP="${SKIP:-} $known"
	echo "# not run: $known (a known shim issue; KNOWN=1 runs it)"
fi
export SKIP
EXTRA_FUNCS="nginx_conf nginx_work redis_work vsftpd_conf vsftpd_work memcached_work" run_tests services 60
