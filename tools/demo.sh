#!/usr/bin/env bash
# demo.sh: the port-pinning scenario, three times, each in a fresh private
# network namespace whose ephemeral range is one port (40000): without
# bindguard, under bindguard in audit mode, under bindguard in enforce mode.
set -uo pipefail
BUILD=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
export ACTOR="$here/$BUILD/bindguard-actor" SHIM="$here/$BUILD/libbindguard.so"
TOOL="$here/$BUILD/bindguard"
if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root: it creates network namespaces (unshare -n) and sets their port range." >&2
	exit 1
fi
export WORK=$(mktemp -d /tmp/bindguard-demo.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '  %s\n' "$*"; }

profile=$("$TOOL" profile | head -1 | awk '{print $NF}')
bold "bindguard demo on kernel $(uname -r)"
"$TOOL" profile | sed 's/^/  /'
cat <<TXT

  The scenario: process A connected from 127.0.0.1:40000 (the only ephemeral
  port) to a server that then hung up; A never closes, so its socket sits in
  CLOSE_WAIT. Process B binds 127.0.0.2:40000, which the kernel allows. A probe
  then connects to another destination and needs port 40000 too: connect()
  may share a port between connections to different destinations, unless an
  explicit bind() has pinned it.
TXT

# act MODE: one run in its own namespace; MODE is none, audit or enforce.
act() {
	unshare -n bash -c '
		set -u
		source "'"$here"'/tools/scenario.sh"
		ns_setup
		seed_owner || exit 1
		mode='"$1"'
		envs=()
		if [ "$mode" != none ]; then
			envs=(LD_PRELOAD="$SHIM" BINDGUARD_MODE="$mode" BINDGUARD_LOG="$WORK/events-$mode.jsonl")
		fi
		start b "${envs[@]}" -- bind 127.0.0.2 40000
		wait_line "$WORK/b.out" "^bind" || exit 1
		echo "bind: $(head -1 "$WORK/b.out" | cut -d" " -f2-)"
		echo "probe while B is open: $(probe)"
		stop b
		echo "probe after B closed: $(probe)"
		stop a
		echo "probe after A closed: $(probe)"
		stop_all
	'
}

bold "1. Without bindguard"
act none | sed 's/^/  /'
if [ "$profile" = release ]; then
	say "This kernel has the 6.18 fix: the pin ends when B closes. On RHEL 8/9, Ubuntu"
	say "22.04/24.04 or Debian 12 (profile classic) the probe keeps failing after B closes,"
	say "until A's CLOSE_WAIT socket is gone: with a leaked fd, never."
else
	say "The pin outlived B: connect() cannot use port 40000 until A's CLOSE_WAIT socket"
	say "is gone. A service that leaks such sockets loses its ports one by one."
fi

bold "2. With bindguard, audit mode (B runs under LD_PRELOAD=libbindguard.so)"
act audit | sed 's/^/  /'
say "B's bind succeeded exactly as before (audit never changes a result), and"
say "bindguard logged why it is dangerous:"
jq -c 'select(.event.action=="bind")' "$WORK/events-audit.jsonl" | head -1 | jq . | sed 's/^/    /'

bold "3. With bindguard, enforce mode"
act enforce | sed 's/^/  /'
say "bindguard refused B's bind with EADDRINUSE without calling the kernel, so the"
say "port stayed shareable and the probe connected. The event:"
jq -r 'select(.event.action=="bind") | .message' "$WORK/events-enforce.jsonl" | sed 's/^/    /'
echo
