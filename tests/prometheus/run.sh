#!/usr/bin/env bash
# prometheus/run.sh: the shipped alert rules (conf/prometheus/bindguard.rules.yml)
# with the real Prometheus: promtool checks them and runs their unit tests
# (tests/prometheus/rules.test.yml), each with a broken copy it must reject;
# the names in the rules are the ones a real scan writes; and end to end,
# node_exporter serves a real scan's textfile to a real Prometheus whose
# BindguardPinnedPorts fires on a pin planted in the namespace. Each case in
# its own network namespace.
# Usage: tests/prometheus/run.sh BUILD [NAME-FILTER]
# Needs: promtool and prometheus (prometheus), prometheus-node-exporter, curl, jq.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$here/${1:-build}" && pwd)
FILTER=${2:-}
export here BUILD
source "$here/tests/lib.sh"
suite_env
for c in promtool prometheus prometheus-node-exporter curl jq; do
	command -v "$c" >/dev/null || { echo "# $c is missing (.ci/run installs it)"; fail "needs $c"; }
done
[ "$fails" -eq 0 ] || { tally; exit 1; }
export RULES=$here/conf/prometheus/bindguard.rules.yml

helpers() {
	source "$here/tools/scenario.sh"
	# tree DIR [SED-SCRIPT]: DIR/conf/prometheus/bindguard.rules.yml (the
	# shipped rules, through SED-SCRIPT if given) beside
	# DIR/tests/prometheus/rules.test.yml, which names it by a relative path
	tree() {
		mkdir -p "$1/conf/prometheus" "$1/tests/prometheus"
		sed -e "${2:-}" "$RULES" >"$1/conf/prometheus/bindguard.rules.yml"
		cp "$here/tests/prometheus/rules.test.yml" "$1/tests/prometheus/"
	}
	# unit DIR: promtool test rules on DIR's copy
	unit() { (cd "$1/tests/prometheus" && promtool test rules rules.test.yml); }
	# api PATH: GET Prometheus's HTTP API on this namespace's 127.0.0.1:9090,
	# from a port below the tiny ephemeral range: a poll's TIME_WAITs would
	# use the range up and its connect() fail (EADDRNOTAVAIL)
	api() { curl -sS --max-time 2 --local-port 30000-39999 "http://127.0.0.1:9090/api/v1/$1"; }
}

t_promtool_check_rules() {
	local out
	out=$(promtool check rules "$RULES" 2>&1) || { sed 's/^/# /' <<<"$out"; return 1; }
	expect "rules found" "$(grep -o 'SUCCESS: [0-9]* rules found' <<<"$out")" "SUCCESS: 10 rules found"
	# the check can fail: a comparison without its right-hand side
	tree "$WORK/broken" 's/expr: bindguard_pinned_ports > 0$/expr: bindguard_pinned_ports >/'
	grep -qx '        expr: bindguard_pinned_ports >' "$WORK/broken/conf/prometheus/bindguard.rules.yml" || return 1
	if out=$(promtool check rules "$WORK/broken/conf/prometheus/bindguard.rules.yml" 2>&1); then
		echo "# promtool check passed a rule with a broken expression"
		return 1
	fi
	echo "# broken copy: $(grep -m1 -o 'parse error.*' <<<"$out")"
}

t_promtool_unit_tests() {
	tree "$WORK/ok"
	local out
	out=$(unit "$WORK/ok" 2>&1) || { sed 's/^/# /' <<<"$out" | head -40; return 1; }
	# the tests can fail: the warning's threshold moved from 20% to 25%
	tree "$WORK/moved" 's/expr: bindguard:headroom:ratio < 0.20$/expr: bindguard:headroom:ratio < 0.25/'
	grep -q 'ratio < 0.25$' "$WORK/moved/conf/prometheus/bindguard.rules.yml" || return 1
	if unit "$WORK/moved" >/dev/null 2>&1; then
		echo "# the unit tests passed rules whose warning threshold is 25%"
		return 1
	fi
}

# Each change of a threshold, a duration, a comparison or a metric name in
# the rules fails the unit tests: none of them goes unseen.
t_unit_tests_catch_each_mutation() {
	local m caught=0 missed=()
	local mutations=(
		's/ratio < 0.20$/ratio < 0.21/'
		's/ratio < 0.20$/ratio <= 0.20/'
		's/ratio < 0.05$/ratio < 0.06/'
		's/ratio < 0.05$/ratio <= 0.05/'
		'/ratio < 0.20$/{n;s/for: 15m/for: 14m/}'
		'/ratio < 0.05$/{n;s/for: 5m/for: 6m/}'
		's/high_port - bindguard_ephemeral_range_low_port + 1$/high_port - bindguard_ephemeral_range_low_port/'
		's/expr: bindguard_headroom_ports \//expr: bindguard_ephemeral_ports \//'
		's/sockets >= 10 and/sockets >= 11 and/'
		's/sockets >= 10 and/sockets > 10 and/'
		's/\[30m\]) > 0$/[20m]) > 0/'
		's/\[30m\]) > 0$/[30m]) >= 0/'
		'/\[30m\]) > 0$/{n;s/for: 30m/for: 25m/}'
		's/bindguard_halfclosed_sockets >= 10/bindguard_process_halfclosed_sockets >= 10/'
		's/pinned_ports > 0$/pinned_ports > 1/'
		'/pinned_ports > 0$/{n;s/for: 5m/for: 4m/}'
		's/expr: bindguard_pinned_ports/expr: bindguard_pinned/'
		's/bindguard_scan_success == 0$/bindguard_scan_success < 1 and bindguard_scan_success > 0/'
		'/scan_success == 0$/{n;s/for: 5m/for: 6m/}'
		's/scan_age:seconds > 300$/scan_age:seconds > 600/'
		's/scan_age:seconds > 300$/scan_age:seconds >= 300/'
		's/time() - bindguard_scan_timestamp_seconds$/time() - bindguard_scan_duration_seconds/'
		's/present_over_time(bindguard_scan_timestamp_seconds\[1h\])/present_over_time(bindguard_scan_timestamp_seconds[5m])/'
		's/or absent(bindguard_scan_timestamp_seconds)$/or absent(bindguard_scan_success_total)/'
		's/cause: stale$/cause: old/'
		's/severity: critical$/severity: page/'
	)
	for m in "${mutations[@]}"; do
		rm -rf "$WORK/m"
		tree "$WORK/m" "$m"
		if cmp -s "$RULES" "$WORK/m/conf/prometheus/bindguard.rules.yml"; then
			missed+=("(no change) $m")
		elif unit "$WORK/m" >/dev/null 2>&1; then
			missed+=("$m")
		else
			caught=$((caught + 1))
		fi
	done
	echo "# $caught of ${#mutations[@]} mutations of the rules fail the unit tests"
	for m in "${missed[@]}"; do echo "#   not caught: $m"; done
	[ ${#missed[@]} -eq 0 ]
}

# Every bindguard_* name in the rules, annotations too, is one a real scan
# writes (a typo only makes an alert silent: promtool cannot know). The scan
# sees a client in CLOSE_WAIT, so that the per-process series is written.
t_rules_name_only_metrics_the_scan_writes() {
	range 40000 40007
	start server -- server 127.0.0.1 9000
	wait_line "$WORK/server.out" ready || return 1
	start a -- closewait 127.0.0.1 9000
	wait_line "$WORK/a.out" ^closewait || return 1
	mkdir "$WORK/textfile"
	local f=$WORK/textfile/bindguard.prom
	"$TOOL" scan --prom "$f" >/dev/null || return 1
	# unknown RULES: the names in RULES that the scan did not write
	unknown() {
		local n
		for n in $(grep -v '^ *#' "$1" | grep -oE 'bindguard_[a-z_]+' | sort -u); do
			grep -q "^${n}[{ ]" "$f" || echo "$n"
		done
	}
	expect "names in the rules" "$(grep -v '^ *#' "$RULES" | grep -oE 'bindguard_[a-z_]+' | sort -u | wc -l)" 8
	expect "names the scan does not write" "$(unknown "$RULES")" ""
	# the check can fail: one name misspelt
	sed 's/expr: bindguard_pinned_ports > 0$/expr: bindguard_pinned_port > 0/' "$RULES" >"$WORK/typo.yml"
	expect "misspelt name found" "$(unknown "$WORK/typo.yml")" bindguard_pinned_port
}

# node_exporter (textfile collector only) and Prometheus (1 s scrape and
# evaluation, the shipped rules with every `for:` at 1s) on this namespace's
# loopback. A client left in CLOSE_WAIT on the range's port P by a server
# that hung up, and a bind() of 127.0.0.2:P by another process: one pinned
# port, one half-closed connection. One `bindguard scan --prom`, then the
# series and the firing BindguardPinnedPorts through the HTTP API.
t_node_exporter_and_prometheus_fire_pinned_ports() {
	trap stop_all EXIT
	trap 'exit 1' TERM INT
	range 40000 40007
	start server -- server 127.0.0.1 9000
	wait_line "$WORK/server.out" ready || return 1
	start a -- closewait 127.0.0.1 9000
	wait_line "$WORK/a.out" ^closewait || return 1
	local p
	p=$(awk '/^closewait/ {print $3}' "$WORK/a.out")
	start b -- bind 127.0.0.2 "$p"
	wait_line "$WORK/b.out" "^bind ok" || return 1
	mkdir "$WORK/textfile" "$WORK/data"
	"$TOOL" scan --prom "$WORK/textfile/bindguard.prom" >/dev/null || return 1
	expect "pinned in the file" "$(awk '$1 == "bindguard_pinned_ports" {print $2}' "$WORK/textfile/bindguard.prom")" 1
	expect "half-closed in the file" "$(awk '$1 == "bindguard_halfclosed_sockets" {print $2}' "$WORK/textfile/bindguard.prom")" 1

	# the shipped rules, only the `for:` durations shortened
	sed -E 's/^( +for: ).*/\11s/' "$RULES" >"$WORK/rules.yml"
	expect "lines the copy changes" "$(diff "$RULES" "$WORK/rules.yml" | grep -c '^>')" \
		"$(grep -c '^ *for: ' "$RULES")"
	expect "changed lines not for:" "$(diff "$RULES" "$WORK/rules.yml" | grep '^[<>]' | grep -cv '^[<>] *for: ')" 0
	cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $WORK/rules.yml
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:9100"]
EOF
	promtool check config "$WORK/prometheus.yml" >/dev/null || return 1
	prometheus-node-exporter --web.listen-address=127.0.0.1:9100 --collector.disable-defaults \
		--collector.textfile --collector.textfile.directory="$WORK/textfile" >"$WORK/node.log" 2>&1 &
	_bg_pids+=($!)
	prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
		--web.listen-address=127.0.0.1:9090 >"$WORK/prom.log" 2>&1 &
	_bg_pids+=($!)

	local alert="" start_ns
	start_ns=$(date +%s%N)
	for _ in $(seq 1 200); do
		alert=$(api alerts 2>/dev/null | jq -c '.data.alerts[] | select(.labels.alertname == "BindguardPinnedPorts" and .state == "firing")' 2>/dev/null)
		[ -n "$alert" ] && break
		sleep 0.1
	done
	if [ -z "$alert" ]; then
		echo "# BindguardPinnedPorts not firing after 20 s; alerts: $(api alerts)"
		tail -5 "$WORK/node.log" "$WORK/prom.log" | sed 's/^/# /'
		return 1
	fi
	echo "# firing after $((($(date +%s%N) - start_ns) / 1000000)) ms: $alert"
	expect "firing alert" "$(jq -c '[.labels.alertname, .labels.severity, .labels.instance, .labels.job, .value]' <<<"$alert")" \
		'["BindguardPinnedPorts","warning","127.0.0.1:9100","node","1e+00"]'
	expect_match "summary" "$(jq -r .annotations.summary <<<"$alert")" '^127\.0\.0\.1:9100: 1 ephemeral port\(s\) pinned by bind\(\)$'
	expect "alerts firing" "$(api alerts | jq -c '[.data.alerts[] | select(.state == "firing") | .labels.alertname]')" \
		'["BindguardPinnedPorts"]'
	# the series and the recording rules, from the file's numbers
	q() { api "query?query=$1" | jq -r '.data.result[0].value[1]'; }
	local f=$WORK/textfile/bindguard.prom headroom
	headroom=$(awk '$1 == "bindguard_headroom_ports" {print $2}' "$f")
	expect "bindguard_pinned_ports" "$(q bindguard_pinned_ports)" 1
	expect "bindguard_halfclosed_sockets" "$(q bindguard_halfclosed_sockets)" 1
	expect "bindguard_scan_success" "$(q bindguard_scan_success)" 1
	expect "bindguard:ephemeral_range_ports" "$(q bindguard:ephemeral_range_ports)" 8
	expect "bindguard:headroom:ratio" "$(q bindguard:headroom:ratio)" "$(awk -v h="$headroom" 'BEGIN {print h / 8}')"
	expect_match "bindguard:scan_age:seconds" "$(q bindguard:scan_age:seconds)" '^[0-9](\.[0-9]+)?$|^[1-5][0-9](\.[0-9]+)?$'
}

export -f helpers
run_tests prometheus 60
