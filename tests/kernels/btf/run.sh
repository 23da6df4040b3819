#!/usr/bin/env bash
# btf/run.sh [KERNEL]: boot a kernel with BTF (default: the 5.15.85 image
# build.sh writes, /var/cache/bindguard-kernels/5.15.85-btf/bzImage) under
# QEMU with the agent, bpftool, jq, the actor and the static C and Go binders,
# run btf/guest.sh there and judge its RESULT lines: on a kernel before 5.18
# (no bpf_set_retval) enforce refuses B with EPERM, the probe connects, audit
# lets B through and logs it, nothing stays attached after SIGTERM.
# Prints the guest's RESULT/LOG/EVENT/INFO lines, "ok"/"FAIL" per check and
# "N passed, N failed". Not part of `make test`: the image is not a shared one.
# Environment: BINDGUARD_BOOT_TIMEOUT (900 s), BINDGUARD_KERNEL_LOGS (keep the
# console there). Needs root (the initramfs' /dev/console), qemu, busybox-static.
set -uo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=SCRIPTDIR/../../lib.sh
. "$here/tests/lib.sh"

KERNEL=${1:-/var/cache/bindguard-kernels/5.15.85-btf/bzImage}
[ -r "$KERNEL" ] || die "no kernel image $KERNEL (a kernel with BTF: see tests/kernels/README.md, section on btf/)"
BUILD=$here/build
make -s -C "$here" >/dev/null || die "make failed"
make -s -C "$here" agent >/dev/null || die "make agent failed"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bindguard-btf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gcc -static -O2 -o "$tmp/binder" "$here/tests/agent/binder.c" || die "gcc -static binder.c failed"
(cd "$here/tests/agent/gob" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off go build -o "$tmp/gob" .) ||
	die "go build of tests/agent/gob failed"

INITRD=$tmp/initrd.cpio.gz
"$here/tests/kernels/initramfs.sh" "$INITRD" /bin/bash /usr/sbin/bpftool /usr/bin/jq \
	--as /bg/bin/bindguard-agent "$BUILD/bindguard-agent" \
	--as /bg/bin/bindguard "$BUILD/bindguard" \
	--as /bg/bin/bindguard-actor "$BUILD/bindguard-actor" \
	--as /bg/bin/binder "$tmp/binder" \
	--as /bg/bin/gob "$tmp/gob" \
	--as /bg/scenario.sh "$here/tools/scenario.sh" \
	--as /run-tests.sh "$here/tests/kernels/btf/guest.sh" || die "initramfs.sh failed"

# every library ldd names for the agent is in the initramfs
listing=$(gzip -dc "$INITRD" | busybox cpio -t 2>/dev/null | sed 's|^\./||')
lost=""
for l in $(ldd "$BUILD/bindguard-agent" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
	grep -qx "${l#/}" <<<"$listing" || lost+=" $l"
done
if [ -z "$lost" ]; then pass "initramfs carries the agent's libraries"; else fail "initramfs lacks$lost"; fi

log=$tmp/console.log
note "booting $KERNEL"
"$here/tests/kernels/boot.sh" "$KERNEL" "$INITRD" "${BINDGUARD_BOOT_TIMEOUT:-900}" >"$log" 2>&1
rc=$?
[ -z "${BINDGUARD_KERNEL_LOGS:-}" ] || { mkdir -p "$BINDGUARD_KERNEL_LOGS" && cp "$log" "$BINDGUARD_KERNEL_LOGS/btf-$(basename "$(dirname "$KERNEL")").log"; }
grep -E '^(RESULT|LOG|EVENT|INFO|init: )|wall time' "$log"
[ "$rc" = 0 ] || { tail -30 "$log" | sed 's/^/#   /'; fail "boot: boot.sh exited $rc"; }

# field CASE NAME: NAME= of the RESULT line of CASE
field() { grep -E "^RESULT .* case=$1( |$)" "$log" | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
check() { # check WHAT GOT WANT
	if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: got '$2', want '$3'"; fi
}
krel=$(grep -m1 -o 'RESULT kernel=[^ ]*' "$log" | cut -d= -f2)
# bpf_set_retval came in 5.18: before it a refused bind returns EPERM
before518=false
case $krel in [1-4].* | 5.[0-9].* | 5.1[0-7].*) before518=true ;; esac
want_errno=error_EADDRINUSE want_retval=true
if $before518; then want_errno=error_EPERM want_retval=false; fi

btf=$(field btf vmlinux_btf)
if [ -n "$btf" ] && [ "$btf" != none ]; then pass "kernel BTF: $btf bytes"; else fail "kernel BTF: ${btf:-no line}"; fi
check "agent starts in enforce" "$(field agent_enforce up)" yes
check "features.set_retval ($krel)" "$(field features set_retval)" "$want_retval"
check "static C B in enforce" "$(field enforce_static b)" "$want_errno"
check "probe after the static B" "$(field enforce_static probe)" ok
check "Go B in enforce" "$(field enforce_go b)" "$want_errno"
check "probe after the Go B" "$(field enforce_go probe)" ok
check "enforce event decision" "$(field enforce_event decision)" block
check "enforce event hazard" "$(field enforce_event hazard)" pin_halfclosed
check "enforce bind events" "$(field enforce_event count)" 2
running=$(field enforce_stop progs_running)
if [ "${running:-0}" -gt 0 ]; then pass "programs loaded while enforce runs: $running"; else fail "programs loaded while enforce runs: '${running}'"; fi
check "agent exit after SIGTERM (enforce)" "$(field enforce_stop rc)" 0
check "programs left after SIGTERM (enforce)" "$(field enforce_stop progs_after)" 0
check "cgroups with programs while enforce runs" "$(field enforce_stop cgroup_running)" 1
check "cgroup attachments left (enforce)" "$(field enforce_stop cgroup_after)" 0
check "agent starts in audit" "$(field agent_audit up)" yes
check "static C B in audit" "$(field audit_static b)" bound
check "probe while the audited B holds the port" "$(field audit_static probe)" EADDRNOTAVAIL
check "audit event decision" "$(field audit_event decision)" log
check "audit event source" "$(field audit_event source)" 127.0.0.2:40000
check "agent exit after SIGTERM (audit)" "$(field audit_stop rc)" 0
check "programs left after SIGTERM (audit)" "$(field audit_stop progs_after)" 0
check "cgroups with programs while audit runs" "$(field audit_stop cgroup_running)" 1
check "cgroup attachments left (audit)" "$(field audit_stop cgroup_after)" 0
tally
