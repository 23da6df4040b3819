#!/usr/bin/env bash
# profile.sh: instructions per operation on bindguard's hot paths, counted with
# callgrind (user-space instructions: stable on a noisy machine, unlike time).
#
# usage: tests/bench/profile.sh [BUILD-DIR]     (make bench-profile)
#
# Each workload of build/bench/bench runs under `valgrind --tool=callgrind`
# twice, N1 and N2 operations, without and with the shim (LD_PRELOAD, audit
# mode). The figure is the inclusive cost of the benchmark's one-operation
# function (op_close, op_socket_close, op_connect_cycle, op_bind,
# op_bind_cycle, op_bbc_cycle), as
# (Ir(N2) - Ir(N1)) / (N2 - N1): the first call's one-time costs (symbol
# resolution, shim start-up) cancel out. Kernel work is not counted: these are
# the instructions the shim adds in the process. The shim's own top functions
# for each workload follow the table. Runs in a network namespace of its own
# (unshare -n), with a tiny ephemeral range for the in-range bind.
set -euo pipefail

build=${1:-build}
bench=$build/bench/bench
lib=$(realpath "$build/libbindguard.so")
[ -x "$bench" ] || { echo "profile.sh: $bench missing (make bench-profile builds it)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "profile.sh: valgrind not installed; skipped"; exit 0; }
command -v callgrind_annotate >/dev/null || { echo "profile.sh: callgrind_annotate missing; skipped"; exit 0; }

if [ "${BG_PROFILE_IN_NETNS:-}" != 1 ]; then
	export BG_PROFILE_IN_NETNS=1
	exec unshare -n "$0" "$@"
fi
ip link set lo up 2>/dev/null || true
echo "61000 61009" >/proc/sys/net/ipv4/ip_local_port_range

tmp=$(mktemp -d /tmp/bindguard-profile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo '{"mode": "audit"}' >"$tmp/bindguard.json"
chmod 0600 "$tmp/bindguard.json"

# inclusive Ir of function $2 in callgrind output $1
incl() {
	callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
		awk -v fn=":$2 " 'index($0, fn) && index($0, "[") { gsub(",", "", $1); print $1; exit }'
}

# run VARIANT WORKLOAD N -> callgrind file path
run() {
	local variant=$1 w=$2 n=$3 out="$tmp/cg.$1.$2.$3"
	local -a env=(env -u LD_PRELOAD BINDGUARD_CONFIG="$tmp/bindguard.json")
	[ "$variant" = shim ] && env+=(LD_PRELOAD="$lib" BINDGUARD_MODE=audit BINDGUARD_LOG="$tmp/events.jsonl")
	"${env[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$bench" child "$w" "$n" once >/dev/null 2>"$tmp/valgrind.err" ||
		{ echo "profile.sh: $w ($variant) failed:" >&2; tail -5 "$tmp/valgrind.err" >&2; return 1; }
	echo "$out"
}

# per_op VARIANT WORKLOAD FUNCTION N1 N2
per_op() {
	local f1 f2 a b
	f1=$(run "$1" "$2" "$4") && f2=$(run "$1" "$2" "$5") || { echo "failed"; return; }
	a=$(incl "$f1" "$3")
	b=$(incl "$f2" "$3")
	[ -n "$a" ] && [ -n "$b" ] || { echo "n/a"; return; }
	echo $(((b - a) / ($5 - $4)))
}

printf '| operation | instructions, no shim | with shim | added by the shim |\n|---|---|---|---|\n'
rows=(
	"close() of a non-socket fd|close|op_close|1000|3000"
	"socket() + close()|socket|op_socket_close|500|1500"
	"connect + accept + close (loopback)|connect|op_connect_cycle|200|600"
	"bind() outside the range|bind_out|op_bind|500|1500"
	"bind() inside the range, 0 other sockets|bind_in|op_bind|50|150"
	"in-range bind + close, free port|bind_cycle|op_bind_cycle|20|60"
	"bind-before-connect: socket, bind(127.0.0.2:0), connect, accept, close|bbc|op_bbc_cycle|20|60"
)
for row in "${rows[@]}"; do
	IFS='|' read -r label w fn n1 n2 <<<"$row"
	a=$(per_op none "$w" "$fn" "$n1" "$n2")
	b=$(per_op shim "$w" "$fn" "$n1" "$n2")
	if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then
		printf '| %s | %s | %s | %s |\n' "$label" "$a" "$b" $((b - a))
	else
		printf '| %s | %s | %s | |\n' "$label" "$a" "$b"
	fi
done

echo
echo "The shim's top functions per workload (self instructions in libbindguard.so and"
echo "the libc code it calls, from the longer run; see callgrind_annotate for more):"
for row in "${rows[@]}"; do
	IFS='|' read -r label w fn n1 n2 <<<"$row"
	f="$tmp/cg.shim.$w.$n2"
	[ -f "$f" ] || continue
	echo
	echo "$label ($n2 operations):"
	callgrind_annotate --threshold=100 "$f" 2>/dev/null |
		grep -E 'libbindguard|libc\.so' | head -8 | sed 's/^/    /' || true
done
