#!/usr/bin/env bash
# run.sh: every suite `make test` runs, with one total at the end.
# Usage: tests/run.sh BUILD ASAN_BUILD
#   unit tests and the exports check (gcc, clang and ASan+UBSan builds; the
#   exports TSan's too), then the end-to-end suite with the gcc build and
#   again with the ASan+UBSan shim preloaded.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source tests/lib.sh
BUILD=${1:-build}
ASAN=${2:-build/asan}
total_pass=0
total_fail=0
failed_suites=()

# suite NAME CMD...: run, show its output, add its last line to the totals
suite() {
	local name=$1; shift
	echo "== $name"
	local out last p f
	out=$("$@" 2>&1)
	echo "$out" | grep -v '^ok ' | grep -v '^[0-9]* passed, [0-9]* failed$'
	echo "$out" | grep -c '^ok ' | sed 's/^/   ok: /'
	last=$(echo "$out" | tail -1)
	if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		p=${BASH_REMATCH[1]}
		f=${BASH_REMATCH[2]}
	else
		echo "   (no summary line: counted as one failure)"
		p=0
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[ "$f" -eq 0 ] || failed_suites+=("$name")
}

fmt_check() {
	if make -s check-fmt >/dev/null 2>&1; then pass clang-format
	else make -s check-fmt 2>&1 | head -20 | sed 's/^/# /'; fail clang-format; fi
	tally
}
suite "style: clang-format" fmt_check
suite "style: doc links" tests/doclinks.sh
suite "style: the shim's includes follow the layout's arrows" tests/layers.sh
# every tests/unit/test_NAME.c, in each build (make test-build made them)
for b in "$BUILD:gcc" "build/clang:clang" "$ASAN:asan+ubsan"; do
	for t in tests/unit/test_*.c; do
		t=$(basename "$t" .c)
		suite "unit: ${t#test_} (${b#*:})" "${b%%:*}/$t"
	done
done
suite "install" tests/install.sh
suite "packages: make deb, make rpm, the .deb installed with dpkg" tests/packages/run.sh "$BUILD"
# the exported symbols against shim/wrapped.h, in each build of the shim
for b in "$BUILD:gcc" "build/clang:clang" "$ASAN:asan+ubsan" "build/tsan:tsan"; do
	suite "exports: libbindguard.so = shim/wrapped.h (${b#*:})" tests/exports.sh "${b%%:*}"
done
suite "e2e: shim (gcc)" tests/e2e/e2e.sh "$BUILD"
asan_rt=$(gcc -print-file-name=libasan.so)
# under ASan, freed memory sits in quarantine: the churn test measures
# nothing there; `bindguard run` puts the shim before the ASan runtime
suite "e2e: shim (asan+ubsan)" env PRELOAD_PREFIX="$asan_rt:" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	SKIP="bindguard_run_preloads_and_keeps_ld_preload socket_churn_does_not_grow_memory" tests/e2e/e2e.sh "$ASAN"

suite "remedy: IP_BIND_ADDRESS_NO_PORT for bind-before-connect (gcc)" tests/remedy/run.sh "$BUILD"
suite "remedy (asan+ubsan)" env PRELOAD_PREFIX="$asan_rt:" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	tests/remedy/run.sh "$ASAN"
suite "service: the scan's systemd units, the event log's rotation" tests/service/run.sh "$BUILD"
suite "tools: bindguard command (gcc)" tests/tools/tools.sh "$BUILD"
suite "prometheus: the alert rules under promtool, node_exporter and Prometheus" tests/prometheus/run.sh "$BUILD"
suite "agent: bindguard agent (eBPF) with Go and static binaries in a cgroup" tests/agent/run.sh "$BUILD"

# hardening (issue 4): one suite a folder, tests/hardening/TOPIC/run.sh BUILD
for h in tests/hardening/*/run.sh; do
	[ -x "$h" ] || continue
	t=${h#tests/hardening/}
	suite "hardening: ${t%/run.sh}" "$h" "$BUILD"
done

# conform_host: the differential harness on this machine's kernel
conform_host() {
	local out
	out=$("$BUILD/conform" --sequences "${N:-2000}" --steps 30 --seed "${SEED:-1795308130}" 2>&1)
	local rc=$?
	echo "$out" | grep -vE '^ +sequence:' | sed 's/^/# /'
	if [ $rc -eq 0 ] && grep -q 'divergences=0' <<<"$out"; then
		pass "conformance on $(uname -r)"
	else
		fail "conformance on $(uname -r)"
	fi
	tally
}
suite "conformance: regressions (host kernel)" "$BUILD/conform" --replay-file tests/conformance/regressions.txt
suite "conformance: random sequences (host kernel)" conform_host
suite "kernels: RHEL 8 4.18, 5.4, 5.10, 5.14, 5.15, Debian 6.1 and 6.12 under qemu (seed scenario, probe, conformance)" env SEED="${SEED:-1795308366}" tests/kernels/run.sh "$BUILD"

echo
[ ${#failed_suites[@]} -eq 0 ] || echo "failed suites: ${failed_suites[*]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
