#!/usr/bin/env bash
# run.sh [BUILD_DIR]: the model against kernels the 6.18 host cannot show:
# Debian's 6.1 and 6.12 cloud kernels (fetch.sh) and the prebuilt images of
# RHEL 8's 4.18, Ubuntu's 5.4 and 5.15, Debian 11's 5.10 and RHEL 9's 5.14
# (images.sh; a missing image is one "# skipped" line). Builds one busybox
# initramfs per kernel carrying the shim, the actor, the bindguard tool,
# tools/scenario.sh, tests/lib.sh, the conformance harness, bash, jq and
# guest.sh, and, where make built it, the agent with bpftool and the static
# Go and C binders of tests/agent; boots the kernels under QEMU/TCG two at a
# time (boot.sh) and judges each guest's RESULT lines: the seed scenario,
# bindguard probe, the agent (with BTF, on 6.1 and 6.12: the Go and C
# binders logged in audit and refused in enforce inside a child cgroup,
# untouched outside it, nothing attached after SIGTERM; without BTF, exit 8
# naming CONFIG_DEBUG_INFO_BTF), the regressions and random sequences.
# Prints "ok NAME" / "FAIL NAME" lines, a conformance summary per kernel and,
# last, "N passed, N failed". No agent in the build: one "# skipped" line.
#
# BUILD_DIR (default build) is relative to the repository unless absolute;
# run `make` first. Environment: BINDGUARD_KERNEL_CACHE (default
# /var/cache/bindguard-kernels), BINDGUARD_KERNEL_IMAGES (the images' folder,
# see images.sh), BINDGUARD_KERNELS ("5.4 6.1": only those series or
# releases), BINDGUARD_KERNEL_JOBS (guests at a time, default the number of
# CPUs), BINDGUARD_BOOT_TIMEOUT (seconds per boot, default 900),
# BINDGUARD_KERNEL_LOGS (folder for the consoles; default a temporary
# folder, kept when something failed), N (sequences per kernel, default
# 1500), STEPS (30), SEED. Needs root the first time (apt-get for
# busybox-static and qemu-system-x86, the cache folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$root/tests/lib.sh"

BUILD=${1:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$root/$BUILD ;; esac
CACHE=${BINDGUARD_KERNEL_CACHE:-/var/cache/bindguard-kernels}
TIMEOUT=${BINDGUARD_BOOT_TIMEOUT:-900}
# the differential harness in each guest (tests/conformance/conform.c)
SEED=${SEED:-$(date +%s)}
SEQUENCES=${N:-1500}
STEPS=${STEPS:-30}

for f in "$B/libbindguard.so" "$B/bindguard-actor" "$B/bindguard" "$B/conform" "$root/tools/scenario.sh" "$root/tests/lib.sh" /bin/bash; do
	[ -f "$f" ] || die "missing $f (run make first, or pass the build folder)"
done
need_cmd qemu-system-x86_64 qemu-system-x86

work=$(mktemp -d "${TMPDIR:-/tmp}/bindguard-kernels.XXXXXX")
logs=${BINDGUARD_KERNEL_LOGS:-$work/logs}
mkdir -p "$logs"
trap 'rm -rf "$work"' EXIT

kernels=$("$here/fetch.sh" "$CACHE") || die "fetch.sh could not provide the kernels (see above)"

# The guest sees the tree at one fixed path, whatever the host path of the
# checkout and of BUILD_DIR: the host path may lie under a mount point of the
# guest's /init (a checkout under /tmp), or anywhere else. Every path the guest
# uses is under $GUEST_ROOT (the build as $GUEST_ROOT/build).
GUEST_ROOT=/bindguard
# host file, guest path
tree=(
	"$B/libbindguard.so" "$GUEST_ROOT/build/libbindguard.so"
	"$B/bindguard-actor" "$GUEST_ROOT/build/bindguard-actor"
	"$B/bindguard" "$GUEST_ROOT/build/bindguard"
	"$B/conform" "$GUEST_ROOT/build/conform"
	"$root/tools/scenario.sh" "$GUEST_ROOT/tools/scenario.sh"
	"$root/tests/lib.sh" "$GUEST_ROOT/tests/lib.sh"
	"$root/tests/conformance/regressions.txt" "$GUEST_ROOT/tests/conformance/regressions.txt"
)
# The agent (issue 15) in the same boots: build/bindguard-agent, bpftool,
# and B of the seed scenario as programs the shim cannot see, a static Go
# binder and a static C binder (tests/agent), built into $work. Without the
# agent (make builds it only where it can) one "# skipped" line.
agent_skip=""
# bpftool as the Makefile finds it: /usr/sbin may be off a user's PATH
BPFTOOL=$(command -v bpftool || true)
for f in /usr/sbin/bpftool /sbin/bpftool; do
	[ -n "$BPFTOOL" ] || [ ! -x "$f" ] || BPFTOOL=$f
done
if [ ! -x "$B/bindguard-agent" ]; then
	agent_skip="no $B/bindguard-agent (make builds it only where the kernel has BTF and libbpf-dev and bpftool are installed)"
elif [ -z "$BPFTOOL" ] || [ "$(head -c 4 "$BPFTOOL" | tail -c 3)" != ELF ]; then
	agent_skip="bpftool ${BPFTOOL:-not found}: not an ELF program the guest can run"
else
	need_cmd go golang-go
	mkdir -p "$work/agent"
	if (cd "$root/tests/agent/gob" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$B/agent/go-cache" \
		go build -o "$work/agent/gob" .) >"$work/agent/build.err" 2>&1 &&
		gcc -static -O2 -Wall -Wextra -Werror -o "$work/agent/binder" "$root/tests/agent/binder.c" \
			>>"$work/agent/build.err" 2>&1; then
		tree+=(
			"$B/bindguard-agent" "$GUEST_ROOT/build/bindguard-agent"
			"$work/agent/gob" "$GUEST_ROOT/build/tests/agent/gob"
			"$work/agent/binder" "$GUEST_ROOT/build/tests/agent/binder"
			"$BPFTOOL" /usr/sbin/bpftool
		)
	else
		sed 's/^/#   /' "$work/agent/build.err"
		agent_skip="the static binders of tests/agent did not build (above)"
		fail "agent/static-binders-built"
	fi
fi
{
	echo "#!/bin/bash"
	printf 'GUEST_ROOT=%q\n' "$GUEST_ROOT"
	printf 'ACTOR=%q SHIM=%q TOOL=%q SCENARIO=%q TESTLIB=%q\n' "$GUEST_ROOT/build/bindguard-actor" \
		"$GUEST_ROOT/build/libbindguard.so" "$GUEST_ROOT/build/bindguard" "$GUEST_ROOT/tools/scenario.sh" \
		"$GUEST_ROOT/tests/lib.sh"
	printf 'CONFORM=%q REGRESSIONS=%q CONFORM_SEED=%q CONFORM_SEQUENCES=%q CONFORM_STEPS=%q\n' \
		"$GUEST_ROOT/build/conform" "$GUEST_ROOT/tests/conformance/regressions.txt" "$SEED" "$SEQUENCES" "$STEPS"
	if [ -z "$agent_skip" ]; then
		printf 'AGENT=%q GOB=%q BINDER=%q BPFTOOL=/usr/sbin/bpftool\n' "$GUEST_ROOT/build/bindguard-agent" \
			"$GUEST_ROOT/build/tests/agent/gob" "$GUEST_ROOT/build/tests/agent/binder"
	fi
	cat "$here/guest.sh"
} >"$work/run-tests.sh"
chmod 0755 "$work/run-tests.sh"
files=(/bin/bash --as /run-tests.sh "$work/run-tests.sh")
for ((i = 0; i < ${#tree[@]}; i += 2)); do
	files+=(--as "${tree[i + 1]}" "${tree[i]}")
done
if command -v jq >/dev/null 2>&1; then
	files+=("$(command -v jq)")
else
	echo "# jq not found: the guest reads the events with grep and sed"
fi

check() { # check NAME WANT GOT
	if [ "$2" = "$3" ]; then
		pass "$1=$2"
	else
		fail "$1=$2 (got ${3:-nothing})"
	fi
}

# era_holds RELEASE FROM TO: yes when FROM <= RELEASE's version < TO (TO
# empty: no upper bound), else what is wrong
era_holds() {
	local v=${1%%[!0-9.]*}
	[ -n "$2" ] || { echo "no era"; return; }
	[ "$(printf '%s\n%s\n' "$2" "$v" | sort -V | head -1)" = "$2" ] || { echo "no: $v < $2"; return; }
	if [ -n "$3" ] && [ "$(printf '%s\n%s\n' "$3" "$v" | sort -V | head -1)" != "$v" ] || [ "$3" = "$v" ]; then
		echo "no: $v >= $3"
		return
	fi
	echo yes
}

# value LOG CASE FIELD: FIELD of the RESULT line of CASE in LOG
value() {
	grep -E "^RESULT .* case=$2( |$)" "$1" | head -1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# initramfs.sh refuses a file that a mount of the guest's /init would hide
# (a checkout under /tmp put at its host path); no boot needed
refused=$("$here/initramfs.sh" "$work/refused.cpio.gz" --as /tmp/bindguard/run-tests.sh "$work/run-tests.sh" 2>&1 >/dev/null) &&
	refused=""
check "initramfs/refuses-a-guest-path-under-tmp" yes \
	"$(grep -q 'would be hidden' <<<"$refused" && [ ! -e "$work/refused.cpio.gz" ] && echo yes || echo "no: ${refused:-accepted}")"

[ -z "$agent_skip" ] || echo "# skipped the agent in the guests: $agent_skip"

# The kernels: Debian's (fetch.sh), then the prebuilt images (images.sh), in
# version order. An image the stage cannot use is one "# skipped" line.
images=$("$here/images.sh") || images=""
while read -r what label reason; do
	if [ "$what" = skip ]; then echo "# skipped image $label: $reason"; fi
done <<<"$images"
kernels=$(printf '%s\n%s\n' "$kernels" "$(grep '^kernel ' <<<"$images" || true)" | sed '/^$/d' | sort -V -k3,3)
# BINDGUARD_KERNELS="5.4 6.1": only the kernels of those series (or releases)
if [ -n "${BINDGUARD_KERNELS:-}" ]; then
	kernels=$(while read -r w series rel rest; do
		for want in $BINDGUARD_KERNELS; do
			if [ "$want" = "$series" ] || [ "$want" = "$rel" ]; then
				echo "$w $series $rel $rest"
				break
			fi
		done
	done <<<"$kernels")
	[ -n "$kernels" ] || die "BINDGUARD_KERNELS=$BINDGUARD_KERNELS matches no kernel"
fi

# Every initramfs first (all from the same build), then the boots, JOBS at a
# time (each guest is one TCG vCPU: one host core), then the judging, in
# version order.
JOBS=${BINDGUARD_KERNEL_JOBS:-$(nproc 2>/dev/null || echo 1)}
boot_one() { # boot_one REL VMLINUZ INITRD CPU: the console in $logs
	local rel=$1 start rc=0
	start=$(now)
	"$here/boot.sh" "$2" "$3" "$TIMEOUT" "$4" >"$logs/console-$rel.log" 2>"$logs/console-$rel.log.err" || rc=$?
	echo "$rc $(elapsed "$start")" >"$logs/console-$rel.status"
}
while read -r _ series rel ver vmlinuz dir; do
	mods=()
	[ "$ver" = image ] || mods=("$dir/inet_diag.ko" "$dir/tcp_diag.ko")
	"$here/initramfs.sh" "$work/initramfs-$rel.cpio.gz" "${files[@]}" "${mods[@]}" 2>"$work/initramfs.err" ||
		{ cat "$work/initramfs.err" >&2; die "initramfs.sh failed for $rel"; }
done <<<"$kernels"
running=0
while read -r _ series rel ver vmlinuz dir; do
	cpu=""
	[ "$ver" != image ] || cpu=max # RDRAND for 4.18's random pool (boot.sh); every image alike
	if [ "$running" -ge "$JOBS" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	boot_one "$rel" "$vmlinuz" "$work/initramfs-$rel.cpio.gz" "$cpu" &
	running=$((running + 1))
done <<<"$(sort -V -r -k3,3 <<<"$kernels")" # the newest, slowest guests first: less idle at the end
wait

while read -r _ series rel ver vmlinuz dir; do
	log="$logs/console-$rel.log"
	read -r rc t <"$logs/console-$rel.status" || { rc=none t=0; }
	if [ "$ver" = image ]; then
		echo "# linux $series: $rel (image $dir): boot wall time $t s, qemu exit $rc"
	else
		echo "# linux $series: $rel (Debian $ver): boot wall time $t s, qemu exit $rc"
	fi
	grep -E '^(RESULT|EVENT|INFO|LOG|PROBE|init: (insmod|no|ip))' "$log" | sed 's/^/#   /' || true
	k=$series
	# the profile the model's version table gives this release
	want_profile=$("$B/bindguard" profile "$rel" | sed -n '1s/.*: profile \([^ ]*\).*/\1/p')
	# the pin outlives the binder, except under the release profile (6.17.8+)
	after_b=EADDRNOTAVAIL
	[ "$want_profile" != release ] || after_b=ok
	check "$k/boot-completed" yes "$([ "$rc" = 0 ] && grep -q '^GUEST done' "$log" && echo yes || echo no)"
	if [ "$rc" != 0 ] || ! grep -q '^GUEST done' "$log"; then
		sed 's/^/#   /' "$log.err"
		tail -n 15 "$log" | sed 's/^/#   console: /'
	fi
	check "$k/guest-kernel" "$rel" "$(value "$log" noshim kernel)"
	# the guest runs from the fixed path, wherever the checkout is, and finds
	# every file it uses there
	check "$k/guest-tree/root" "$GUEST_ROOT" "$(value "$log" tree root)"
	check "$k/guest-tree/missing" none "$(value "$log" tree missing)"
	check "$k/guest-tree/outside" none "$(value "$log" tree outside)"
	for c in noshim audit; do
		check "$k/$c/bind" ok "$(value "$log" $c bind)"
		check "$k/$c/probe_before_bind" ok "$(value "$log" $c probe_before_bind)"
		check "$k/$c/probe_while_open" EADDRNOTAVAIL "$(value "$log" $c probe_while_open)"
		check "$k/$c/probe_after_b_closed" "$after_b" "$(value "$log" $c probe_after_b_closed)"
		check "$k/$c/probe_after_a_closed" ok "$(value "$log" $c probe_after_a_closed)"
	done
	check "$k/audit/hazard" pin_halfclosed "$(value "$log" audit hazard)"
	check "$k/audit/decision" log "$(value "$log" audit decision)"
	check "$k/audit/profile" "$want_profile" "$(value "$log" audit profile)"
	check "$k/audit/view" sock_diag "$(value "$log" audit view)"
	check "$k/enforce/bind" EADDRINUSE "$(value "$log" enforce bind)"
	check "$k/enforce/probe_while_open" ok "$(value "$log" enforce probe_while_open)"
	check "$k/enforce/probe_after_b_closed" ok "$(value "$log" enforce probe_after_b_closed)"
	check "$k/enforce/probe_after_a_closed" ok "$(value "$log" enforce probe_after_a_closed)"
	check "$k/enforce/decision" block "$(value "$log" enforce decision)"
	check "$k/enforce/profile" "$want_profile" "$(value "$log" enforce profile)"
	# a client's bind(127.0.0.2, 0) before connect lands on A's port and pins
	# it past its own close; with the remedy connect() shares the port
	check "$k/autobind/bind" ok "$(value "$log" autobind bind)"
	check "$k/autobind/probe_while_open" EADDRNOTAVAIL "$(value "$log" autobind probe_while_open)"
	check "$k/autobind/probe_after_b_closed" "$after_b" "$(value "$log" autobind probe_after_b_closed)"
	check "$k/autobind/probe_after_a_closed" ok "$(value "$log" autobind probe_after_a_closed)"
	check "$k/autobind/hazard" pin_halfclosed "$(value "$log" autobind hazard)"
	check "$k/remedy/bind" ok "$(value "$log" remedy bind)"
	check "$k/remedy/probe_while_open" ok "$(value "$log" remedy probe_while_open)"
	check "$k/remedy/probe_after_b_closed" ok "$(value "$log" remedy probe_after_b_closed)"
	check "$k/remedy/probe_after_a_closed" ok "$(value "$log" remedy probe_after_a_closed)"
	check "$k/remedy/decision" remedy "$(value "$log" remedy decision)"
	# bindguard probe: by experiment, the profile the version table gives,
	# and an era that holds this release; the shim takes it from the file
	check "$k/probe/exit" 0 "$(value "$log" probe rc)"
	check "$k/probe/profile" "$want_profile" "$(value "$log" probe profile)"
	from=$(value "$log" probe era_from)
	to=$(value "$log" probe era_to)
	check "$k/probe/era-holds-the-release" yes "$(era_holds "$rel" "$from" "$to")"
	check "$k/probe/shim-source" probe "$(value "$log" probe shim_source)"
	check "$k/probe/shim-disagree" false "$(value "$log" probe shim_disagree)"
	# bindguard agent: on a kernel with BTF (Debian's) it attaches bind4 and
	# bind6 to the child cgroup; B there is logged (audit) or refused
	# (enforce) and the probe tells whether the port was pinned; B outside is
	# untouched and pins; SIGTERM leaves nothing attached. Without BTF (the
	# images: image.config turns it off) it exits 8 naming
	# CONFIG_DEBUG_INFO_BTF
	btf=yes
	[ "$ver" != image ] || grep -q '^CONFIG_DEBUG_INFO_BTF=y' "$dir/config" 2>/dev/null || btf=no
	[ -n "$agent_skip" ] || check "$k/agent/kernel-btf" "$btf" "$(value "$log" agent-start-audit btf)"
	if [ -n "$agent_skip" ]; then
		: # said once, above
	elif [ "$btf" = no ]; then
		check "$k/agent/no-btf/exit" 8 "$(value "$log" agent-start-audit rc)"
		check "$k/agent/no-btf/names-CONFIG_DEBUG_INFO_BTF" yes "$(value "$log" agent-start-audit names_btf)"
		check "$k/agent/no-btf/programs-loaded" 0 "$(value "$log" agent-start-audit progs)"
		check "$k/agent/no-btf/attached" none "$(value "$log" agent-start-audit attached)"
	else
		refused=EPERM # bpf_set_retval (5.18+) makes it EADDRINUSE
		[ "$(era_holds "$rel" 5.18 "")" != yes ] || refused=EADDRINUSE
		for mode in audit enforce; do
			check "$k/agent/$mode/started" running "$(value "$log" "agent-start-$mode" rc)"
			# bpftool names the attach types bind4 or cgroup_inet4_bind
			hooks=$(value "$log" "agent-start-$mode" attached)
			check "$k/agent/$mode/bind4-and-bind6-attached-while-running" yes \
				"$(grep -qE '(^|,)(cgroup_inet4_bind|bind4)(,|$)' <<<"$hooks" &&
					grep -qE '(^|,)(cgroup_inet6_bind|bind6)(,|$)' <<<"$hooks" && echo yes || echo "no: ${hooks:-nothing}")"
		done
		# A of the first enforce case predates the agent: iter/tcp found it
		seeded=$(value "$log" agent-start-enforce seeded)
		check "$k/agent/enforce/seeded-from-iter-tcp" yes "$([ "${seeded:-0}" -ge 1 ] && echo yes || echo "no: ${seeded:-nothing}")"
		for c in audit-go-listen audit-c enforce-go-listen enforce-go-dial enforce-go-listen6 enforce-c; do
			if [ "${c%%-*}" = audit ]; then
				want_b=bound want_probe=EADDRNOTAVAIL want_ev="decision=log code="
			else
				want_b=$refused want_probe=ok want_ev="decision=block code=$refused"
			fi
			addr=127.0.0.2:40000
			[ "$c" != enforce-go-listen6 ] || addr=::1:40000
			check "$k/agent/$c/b" "$want_b" "$(value "$log" "agent-$c" b)"
			check "$k/agent/$c/probe" "$want_probe" "$(value "$log" "agent-$c" probe)"
			check "$k/agent/$c/event" \
				"events=1 pid=same addr=$addr source=agent hazard=pin_halfclosed $want_ev" \
				"$(grep -E "^RESULT .* case=agent-$c " "$log" | head -1 | sed -n 's/.* \(events=.*\)$/\1/p')"
		done
		check "$k/agent/enforce-c-outside/b" bound "$(value "$log" agent-enforce-c-outside b)"
		check "$k/agent/enforce-c-outside/probe" EADDRNOTAVAIL "$(value "$log" agent-enforce-c-outside probe)"
		check "$k/agent/enforce-c-outside/events" 0 "$(value "$log" agent-enforce-c-outside events)"
		for mode in audit enforce; do
			check "$k/agent/$mode/sigterm-exit" 0 "$(value "$log" "agent-stop-$mode" rc)"
			check "$k/agent/$mode/stop-events" 1 "$(value "$log" "agent-stop-$mode" stops)"
			check "$k/agent/$mode/attached-after-sigterm" none "$(value "$log" "agent-stop-$mode" attached)"
			check "$k/agent/$mode/programs-after-sigterm" 0 "$(value "$log" "agent-stop-$mode" progs)"
		done
	fi
	# the differential harness
	grep -E '^CONF(REG)? ' "$log" | grep -vE '^CONFREG ok |^CONF +(minimal|sequence:)' | sed 's/^/#   /' || true
	check "$k/conformance/regressions" "0 failed" "$(grep -E '^CONFREG [0-9]+ passed, [0-9]+ failed' "$log" | sed 's/.*passed, //')"
	# (no summary when the guest failed early: a FAIL below, not the end of run.sh)
	summary=$(grep -E '^CONF conformance:' "$log" | sed 's/^CONF //' || true)
	[ -n "$summary" ] && echo "$summary"
	check "$k/conformance/divergences" 0 "$(sed -n 's/.* divergences=\([0-9]*\).*/\1/p' <<<"$summary")"
	check "$k/conformance/sequences" "$SEQUENCES" "$(sed -n 's/.* sequences=\([0-9]*\).*/\1/p' <<<"$summary")"
done <<<"$kernels"

if [ "$fails" != 0 ] && [ -z "${BINDGUARD_KERNEL_LOGS:-}" ]; then
	mkdir -p "$work.logs" && cp -r "$logs"/. "$work.logs"/ && echo "# consoles kept in $work.logs"
fi
tally
