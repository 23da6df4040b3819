#!/usr/bin/env bash
# boot.sh VMLINUZ INITRAMFS [TIMEOUT] [CPU]: boot a kernel under QEMU with TCG
# and print its serial console, \r stripped. Exits with QEMU's status, or 124
# when the guest has not powered off after TIMEOUT seconds (default 120). CPU
# is QEMU's -cpu model (default QEMU's own, qemu64): `max` gives the guest
# RDRAND, which a 4.18 kernel needs to seed its random pool under TCG (without
# it getrandom() blocks for ever; 5.4+ seed from timer jitter).
#
# TCG, never KVM: /dev/kvm on these machines is not hardware KVM (kvm_pvm).
# -M pc, not microvm, which hangs at random under TCG. -no-reboot with
# panic=-1 turns a guest panic into QEMU's exit; -nic none skips the iPXE ROM.
# The wall time goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

[ $# -ge 2 ] || die "usage: boot.sh VMLINUZ INITRAMFS [TIMEOUT] [CPU]"
KERNEL=$1
INITRD=$2
TIMEOUT=${3:-120}
cpu=()
[ -z "${4:-}" ] || cpu=(-cpu "$4")
[ -r "$KERNEL" ] || die "no kernel image $KERNEL"
[ -r "$INITRD" ] || die "no initramfs $INITRD"
need_cmd qemu-system-x86_64 qemu-system-x86

start=$(now)
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -M pc -accel tcg "${cpu[@]}" -m 512M -smp 1 \
	-nographic -no-reboot -nic none \
	-kernel "$KERNEL" -initrd "$INITRD" \
	-append "console=ttyS0 loglevel=3 panic=-1 rdinit=/init" </dev/null 2>&1 | tr -d '\r'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	note "timeout: $(basename "$KERNEL") did not power off within ${TIMEOUT}s"
	rc=124
elif [ "$rc" != 0 ]; then
	note "qemu-system-x86_64 exited $rc"
fi
note "wall time $(elapsed "$start") s ($(basename "$KERNEL"))"
exit "$rc"
