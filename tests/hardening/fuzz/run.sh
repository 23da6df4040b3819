#!/usr/bin/env bash
# run.sh: the fuzzing suite (issue 4, item 7).
# Usage: tests/hardening/fuzz/run.sh BUILD   (BUILD is unused: the harnesses
#   are clang builds in build/fuzz/, made here if needed)
# For each harness (fuzz_config, fuzz_event): FUZZ_SECONDS (default 60) of
# libFuzzer on a copy of its seed corpus in a temporary directory (the repo is
# not modified), then a replay of every file in regressions/NAME/. A crash,
# leak, sanitizer report or broken property fails; its input is kept in
# build/fuzz/artifacts/ (copy it to regressions/NAME/ when the fix lands).
# FUZZ_KEEP=1 keeps the grown corpora (the path is printed).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
source "$root/tests/lib.sh"
SECONDS_EACH=${FUZZ_SECONDS:-60}

tmp=$(mktemp -d /tmp/bg_fuzz.XXXXXX)
[ "${FUZZ_KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tmp" build/fuzz/artifacts

if ! make -s --no-print-directory fuzz-build >"$tmp/build.log" 2>&1; then
	sed 's/^/# /' "$tmp/build.log" | tail -20
	fail "build (clang -fsanitize=fuzzer,address,undefined)"
	tally
	exit 1
fi

for name in config event; do
	bin=build/fuzz/fuzz_$name
	corpus=$tmp/corpus-$name
	cp -r "$here/corpus/$name" "$corpus"
	before=$(find "$corpus" -type f | wc -l)
	dict=()
	[ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
	log=$tmp/fuzz_$name.log
	# one process, one thread (libFuzzer's default; -jobs/-workers would only
	# re-run this same single job in a child with its output in fuzz-0.log)
	(cd "$tmp" && TMPDIR="$tmp/tmp" "$root/$bin" -max_total_time="$SECONDS_EACH" \
		-rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
		-artifact_prefix="$tmp/crash-$name-" "${dict[@]}" "$corpus") >"$log" 2>&1
	rc=$?
	after=$(find "$corpus" -type f | wc -l)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
	last=$(grep -aE '^#[0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) .*/cov: \1 ft: \2/p' <<<"$last")
	echo "# fuzz_$name: ${runs:-?} runs (${eps:-?}/s), corpus $before -> $after files, ${cov:-cov: ?}, peak rss ${rss:-?} MB, $SECONDS_EACH s"
	if [ $rc -eq 0 ] && grep -aq 'Done [0-9]* runs' "$log"; then
		pass "fuzz_$name"
	else
		grep -aE 'property broken|ERROR: |SUMMARY: |runtime error|line:|input \(' "$log" | head -12 |
			LC_ALL=C tr -c '[:print:]\n' '?' | sed 's/^/# /'
		for a in "$tmp"/crash-"$name"-*; do
			[ -e "$a" ] || continue
			cp "$a" build/fuzz/artifacts/
			echo "# input kept: build/fuzz/artifacts/$(basename "$a")"
		done
		fail "fuzz_$name (exit $rc)"
	fi

	# replay every regression input, one process each (a crash in one does
	# not hide the others)
	n=0
	failed=()
	for f in "$here"/regressions/$name/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		TMPDIR="$tmp/tmp" "$bin" -runs=1 "$f" >"$tmp/replay.log" 2>&1 || {
			failed+=("$(basename "$f")")
			grep -aE 'property broken|ERROR: |SUMMARY: |runtime error' "$tmp/replay.log" | head -4 |
				LC_ALL=C tr -c '[:print:]\n' '?' | sed 's/^/# /'
		}
	done
	if [ ${#failed[@]} -eq 0 ]; then
		pass "regressions_$name ($n inputs)"
	else
		fail "regressions_$name: ${failed[*]}"
	fi
done
[ "${FUZZ_KEEP:-0}" = 1 ] && echo "# corpora kept in $tmp"
tally
