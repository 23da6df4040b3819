#!/usr/bin/env bash
# packages/run.sh: `make deb` and `make rpm` with the real tools: lintian has
# no error to report, each package (bindguard, bindguard-agent) holds exactly
# the files listed below (the rpms' map 1:1 to the debs'), only the agent's
# depends on libbpf, and the .debs, installed with dpkg, work where they land
# (the command, its man page, the units, the seed scenario under the
# installed library; the installed agent attached to a cgroup) and leave the
# machine as they found it: dpkg -r keeps a changed config, removing the agent
# leaves bindguard working, dpkg -P takes every file of the packages away.
# Usage: tests/packages/run.sh BUILD [NAME-FILTER]
#   BUILD: the build whose bindguard-actor plays the seed scenario; the
#   packages are built from the tree itself (build/pkg, build/*.deb|rpm).
# Safety: the dpkg tests run only when dpkg knows no bindguard or
# bindguard-agent package and /etc/bindguard does not exist (else they would
# take over or delete what is there: skipped, with the reason); a trap purges
# what they installed. The agent is built against the kernel's BTF: without
# /sys/kernel/btf/vmlinux `make deb` stops, and the suite is skipped.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$here/${1:-build}" && pwd)
FILTER=${2:-}
SKIP=${SKIP:-}
export here BUILD
source "$here/tests/lib.sh"
if [ ! -r /sys/kernel/btf/vmlinux ]; then
	echo "# skipped: no /sys/kernel/btf/vmlinux (make deb and make rpm build bindguard-agent against it)"
	tally
	exit 0
fi
suite_env

VERSION=$(sed -n 's/^#define BG_VERSION "\(.*\)"$/\1/p' "$here/shim/version.h")
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
DEB=$here/build/bindguard_${VERSION}_$(dpkg --print-architecture).deb
RPM=$here/build/bindguard-$VERSION-1.$(rpm --eval %{_arch}).rpm
ADEB=$here/build/bindguard-agent_${VERSION}_$(dpkg --print-architecture).deb
ARPM=$here/build/bindguard-agent-$VERSION-1.$(rpm --eval %{_arch}).rpm
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
export VERSION MA DEB RPM ADEB ARPM CGROOT

# What the .deb holds: every file (no directories), by path.
deb_expected() {
	local f
	{
		printf '%s\n' /etc/bindguard/bindguard.json /etc/logrotate.d/bindguard \
			/lib/systemd/system/bindguard-scan.service /lib/systemd/system/bindguard-scan.timer \
			/usr/bin/bindguard "/usr/lib/$MA/bindguard/libbindguard.so" \
			/usr/share/bindguard/bindguard-event.schema.json /usr/share/bindguard/bindguard.json.example \
			/usr/share/bindguard/bindguard.schema.json /usr/share/bindguard/systemd/bindguard.conf \
			/usr/share/doc/bindguard/README.md /usr/share/doc/bindguard/changelog.gz \
			/usr/share/doc/bindguard/copyright /usr/share/man/man1/bindguard.1.gz \
			/usr/share/man/man5/bindguard.conf.5.gz /usr/share/man/man7/libbindguard.7.gz
		for f in "$here"/docs/*.md; do echo "/usr/share/doc/bindguard/docs/${f##*/}"; done
		for f in "$here"/conf/prometheus/*.rules.yml; do
			[ -e "$f" ] && echo "/usr/share/bindguard/prometheus/${f##*/}"
		done
	} | sort
}
# What bindguard-agent's .deb holds: the agent, its man page, Debian's two
agent_expected() {
	printf '%s\n' "/usr/lib/$MA/bindguard/bindguard-agent" /usr/share/doc/bindguard-agent/changelog.gz \
		/usr/share/doc/bindguard-agent/copyright /usr/share/man/man8/bindguard-agent.8.gz | sort
}
# deb_files [DEB]: the files dpkg -c lists, by path
deb_files() { dpkg-deb -c "${1:-$DEB}" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort; }
# The rpm's files are the deb's, moved: Debian's multiarch library folder is
# RHEL's %{_libdir} (/usr/lib64), /lib/systemd/system is %{_unitdir}; the
# deb alone has the copyright and changelog Debian requires, the rpm alone
# rpm's /usr/lib/.build-id links. Man pages: gzip or not (RHEL's rpm
# compresses them, Debian's rpm cannot: its brp-compress needs bash).
deb_as_rpm() {
	sed -e "s#^/usr/lib/$MA/bindguard/#/usr/lib64/bindguard/#" \
		-e 's#^/lib/systemd/system/#/usr/lib/systemd/system/#' \
		-e 's#^\(/usr/share/man/.*\)\.gz$#\1#' \
		-e '\#^/usr/share/doc/bindguard\(-agent\)\?/\(copyright\|changelog\.gz\)$#d' | sort
}
rpm_files() {
	rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "${1:-$RPM}" | awk '$1 !~ /^d/ { print $2 }' |
		grep -v '^/usr/lib/\.build-id/' | sed 's#^\(/usr/share/man/.*\)\.gz$#\1#' | sort
}
export -f deb_expected agent_expected deb_files deb_as_rpm rpm_files

# ---- the machine: may the dpkg tests run, and what they must leave as found
DPKG_TESTS="deb_installed_runs_where_it_lands deb_seed_scenario_under_the_installed_library
	deb_config_survives_upgrade_and_remove_and_purge_leaves_nothing
	deb_agent_attaches_to_a_cgroup_and_goes_leaving_bindguard_working"
known=""
for p in bindguard bindguard-agent; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) && [ "$st" != "unknown ok not-installed" ] &&
		known="$known $p ($st)"
done
if [ -n "$known" ]; then
	echo "# skipped (dpkg already has a bindguard package:$known): $(echo $DPKG_TESTS)"
	SKIP="$SKIP $DPKG_TESTS"
elif [ -e /etc/bindguard ]; then
	echo "# skipped (/etc/bindguard exists and no package owns it: dpkg -P would delete it): $(echo $DPKG_TESTS)"
	SKIP="$SKIP $DPKG_TESTS"
else
	# purge what a test installed, even one that timed out
	trap 'dpkg-query -W bindguard bindguard-agent >/dev/null 2>&1 && dpkg -P bindguard-agent bindguard >/dev/null 2>&1
		[ -e /etc/bindguard ] && rm -rf /etc/bindguard' EXIT
fi
export SKIP
# the folders the package and its scripts touch, as they are now: each dpkg
# test ends with the same picture
snapshot() {
	find /etc/bindguard /etc/logrotate.d /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
		/var/lib/systemd/deb-systemd-helper-masked /usr/share/bindguard /usr/share/doc/bindguard \
		/usr/share/doc/bindguard-agent \
		/usr/lib/"$MA"/bindguard -printf '%p %y %l\n' 2>/dev/null | sort
}
export -f snapshot
BEFORE=$(snapshot)
export BEFORE

# ---- the packages, built once ------------------------------------------------------
t0=$(now)
if ! out=$(make -C "$here" -s deb rpm 2>&1); then
	echo "$out" | tail -30
	fail "make deb rpm"
	tally
	exit 1
fi
echo "# make deb rpm: $(elapsed "$t0") s"

helpers() {
	ip link set lo up
	# install DEB [DPKG-OPTION...]: dpkg -i, never asking (no terminal, and
	# a changed config is kept: --force-confold)
	install_deb() {
		local deb=$1 out
		shift
		out=$(dpkg -i --force-confdef --force-confold "$@" "$deb" </dev/null 2>&1) ||
			{ sed 's/^/#   /' <<<"$out"; return 1; }
	}
	# purged: the packages are gone, and the machine is as the suite found it
	purged() {
		dpkg -P bindguard-agent bindguard >/dev/null 2>&1 || { echo "#   dpkg -P failed"; return 1; }
		local f left=""
		for f in $(deb_expected) $(agent_expected); do [ -e "$f" ] && left="$left $f"; done
		[ -z "$left" ] || { echo "#   left behind:$left"; return 1; }
		[ ! -e /etc/bindguard ] || { echo "#   /etc/bindguard left behind"; return 1; }
		local now
		now=$(snapshot)
		[ "$now" = "$BEFORE" ] || { echo "#   changed:"; diff <(echo "$BEFORE") <(echo "$now") | sed 's/^/#     /'; return 1; }
	}
}
export -f helpers

# ---- the packages as built -----------------------------------------------------------
# lintian (pedantic) on what dpkg-buildpackage made: no E: line; every other
# line is shown. The check can fail: the same package without its copyright
# file is an error.
t_deb_lintian_reports_no_error() {
	local changes out
	changes=$(ls "$here"/build/pkg/deb/bindguard_"$VERSION"_*.changes) || return 1
	out=$(lintian --pedantic --info "$changes" 2>&1 | grep -v '^N:\|running with root privileges')
	echo "# lintian --pedantic: ${out:-(nothing to say)}" | sed '2,$s/^/# /'
	grep -q '^E:' <<<"$out" && return 1
	dpkg-deb -R "$DEB" "$WORK/bad"
	rm "$WORK/bad/usr/share/doc/bindguard/copyright"
	dpkg-deb -b --root-owner-group "$WORK/bad" "$WORK/bad.deb" >/dev/null || return 1
	lintian "$WORK/bad.deb" 2>&1 | grep -q '^E: bindguard: no-copyright-file' ||
		{ echo "# lintian passed a package without copyright"; return 1; }
}

# Each .deb's files; the library and the command never pull libbpf in, the
# agent does, and needs this very version of bindguard.
t_deb_holds_exactly_the_listed_files() {
	local d
	d=$(diff <(deb_expected) <(deb_files))
	[ -z "$d" ] || { echo "# expected (<) vs dpkg -c (>):"; sed 's/^/#   /' <<<"$d"; failed=1; }
	d=$(diff <(agent_expected) <(deb_files "$ADEB"))
	[ -z "$d" ] || { echo "# bindguard-agent: expected (<) vs dpkg -c (>):"; sed 's/^/#   /' <<<"$d"; failed=1; }
	expect "version" "$(dpkg-deb -f "$DEB" Version)" "$VERSION"
	expect "conffiles" "$(dpkg-deb -I "$DEB" conffiles | tr '\n' ' ')" "/etc/bindguard/bindguard.json /etc/logrotate.d/bindguard "
	expect_match "depends (shlibs)" "$(dpkg-deb -f "$DEB" Depends)" "libc6 .*libcjson1 .*zlib1g"
	expect "bindguard depends on libbpf" "$(dpkg-deb -f "$DEB" Depends | grep -o 'libbpf[^,]*')" ""
	expect_match "bindguard-agent depends (shlibs)" "$(dpkg-deb -f "$ADEB" Depends)" "^libbpf1 .*libc6 .*libcjson1 "
	expect "bindguard-agent depends on bindguard" "$(dpkg-deb -f "$ADEB" Depends | grep -o 'bindguard (.*')" \
		"bindguard (= $VERSION)"
	expect "bindguard-agent version" "$(dpkg-deb -f "$ADEB" Version)" "$VERSION"
	expect "bindguard-agent conffiles" "$(dpkg-deb -I "$ADEB" conffiles 2>/dev/null)" ""
}

# the installed files name the installed paths (make install's sed)
t_deb_files_name_the_installed_paths() {
	dpkg-deb -x "$DEB" "$WORK/x"
	grep -qx "Environment=LD_PRELOAD=/usr/lib/$MA/bindguard/libbindguard.so" "$WORK/x/usr/share/bindguard/systemd/bindguard.conf" &&
		grep -q '^ExecStart=/usr/bin/bindguard scan ' "$WORK/x/lib/systemd/system/bindguard-scan.service" &&
		[ "$(jq -r '."$schema"' "$WORK/x/etc/bindguard/bindguard.json")" = /usr/share/bindguard/bindguard.schema.json ] &&
		zgrep -q "^LD_PRELOAD=/usr/lib/$MA/bindguard/libbindguard.so" "$WORK/x/usr/share/man/man7/libbindguard.7.gz" ||
		{ echo "# the drop-in, the service, the config or libbindguard(7) names another path"; return 1; }
	dpkg-deb -x "$ADEB" "$WORK/x"
	zgrep -qF "/usr/lib/$MA/bindguard/bindguard\-agent" "$WORK/x/usr/share/man/man8/bindguard-agent.8.gz" ||
		{ echo "# bindguard-agent(8) names another path"; return 1; }
	local left
	left=$(grep -rl /usr/local "$WORK/x" | grep -v /usr/share/doc/)
	[ -z "$left" ] || { echo "# still naming /usr/local: $left"; return 1; }
}

# Two builds of one tree make the same .debs, byte for byte (the changelog's
# date is the last commit's: SOURCE_DATE_EPOCH; the agent's BPF object from
# the same kernel's BTF), and the same rpm files.
t_deb_and_rpm_rebuild_the_same() {
	local sum asum rpmlist
	sum=$(sha256sum <"$DEB")
	asum=$(sha256sum <"$ADEB")
	rpmlist=$(rpm_files; rpm_files "$ARPM")
	make -C "$here" -s deb rpm >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; return 1; }
	expect "deb sha256 of a second build" "$(sha256sum <"$DEB")" "$sum"
	expect "bindguard-agent deb sha256 of a second build" "$(sha256sum <"$ADEB")" "$asum"
	expect "rpm files of a second build" "$(rpm_files; rpm_files "$ARPM")" "$rpmlist"
}

# ---- installed with dpkg --------------------------------------------------------------
t_deb_installed_runs_where_it_lands() {
	install_deb "$DEB" || return 1
	expect "bindguard --version" "$(bindguard --version)" "bindguard $VERSION"
	expect "command" "$(command -v bindguard)" /usr/bin/bindguard
	expect "man -w bindguard" "$(man -w bindguard)" /usr/share/man/man1/bindguard.1.gz
	expect "man -w 7 libbindguard" "$(man -w 7 libbindguard)" /usr/share/man/man7/libbindguard.7.gz
	# the units as installed, with the installed man pages (Documentation=)
	# found by man's own search path: nothing to say
	local out
	out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify /lib/systemd/system/bindguard-scan.service \
		/lib/systemd/system/bindguard-scan.timer 2>&1) || failed=1
	[ -z "$out" ] || { echo "# systemd-analyze verify:"; sed 's/^/#   /' <<<"$out"; failed=1; }
	# enabled by the postinst, without systemd running (no start)
	expect "timer enabled" "$(readlink /etc/systemd/system/timers.target.wants/bindguard-scan.timer)" \
		/lib/systemd/system/bindguard-scan.timer
	expect "bindguard run preloads" "$(env -u BINDGUARD_LIBRARY bindguard run -- sh -c 'echo $LD_PRELOAD')" \
		"/usr/lib/$MA/bindguard/libbindguard.so"
	bindguard check-config /etc/bindguard/bindguard.json >/dev/null || { echo "# check-config failed"; failed=1; }
	[ -f "$(jq -r '."$schema"' /etc/bindguard/bindguard.json)" ] || { echo "# the config's \$schema is no file"; failed=1; }
	logrotate -d /etc/logrotate.d/bindguard >/dev/null 2>&1 || { echo "# logrotate -d failed"; failed=1; }
	# the agent is bindguard-agent's: without it, `bindguard agent` says so
	bindguard agent --help >/dev/null 2>&1
	expect "bindguard agent without bindguard-agent: exit" "$?" 3
	purged
}

# The seed scenario (tools/scenario.sh): A in CLOSE_WAIT on the only
# ephemeral port, B binds that port on another address. Under the installed
# library in enforce (bindguard run: the installed command finds it) the bind
# is refused; under LD_PRELOAD of the installed path in audit it goes
# through and is logged.
t_deb_seed_scenario_under_the_installed_library() {
	install_deb "$DEB" || return 1
	source "$here/tools/scenario.sh"
	ns_setup
	SHIM=/usr/lib/$MA/bindguard/libbindguard.so
	seed_owner || return 1
	# start's moves, with the installed command in front of the actor (run
	# execs it: the pid is the actor's)
	/usr/bin/bindguard run --mode enforce --log "$WORK/enforce.jsonl" -- "$ACTOR" bind 127.0.0.2 40000 \
		>"$WORK/b.out" 2>"$WORK/b.err" &
	echo $! >"$WORK/b.pid"
	_bg_pids+=($!)
	wait_line "$WORK/b.out" "^bind" || return 1
	expect "enforce: bind" "$(head -1 "$WORK/b.out")" "bind error EADDRINUSE"
	stop b
	expect "enforce: decision, hazard" "$(events_of "$WORK/enforce.jsonl" bind | jq -r '.bindguard.decision + " " + .bindguard.hazard')" \
		"block pin_halfclosed"
	start c $(preload BINDGUARD_MODE=audit) -- bind 127.0.0.2 40000
	wait_line "$WORK/c.out" "^bind" || return 1
	expect "audit: bind" "$(head -1 "$WORK/c.out")" "bind ok 127.0.0.2 40000"
	stop c
	expect "audit: decision, hazard" "$(events_of "$WORK/ev.jsonl" bind | jq -r '.bindguard.decision + " " + .bindguard.hazard')" \
		"log pin_halfclosed"
	stop_all
	purged
}

# Install twice (same version over itself), change the config, upgrade to
# a version whose packaged config changed too (the case where dpkg asks: here
# it must not), remove, install again, purge: the changed config survives
# every step but the purge, and the purge leaves nothing.
t_deb_config_survives_upgrade_and_remove_and_purge_leaves_nothing() {
	install_deb "$DEB" && install_deb "$DEB" || return 1
	jq '.mode = "enforce"' /etc/bindguard/bindguard.json >"$WORK/mine.json" &&
		cat "$WORK/mine.json" >/etc/bindguard/bindguard.json || return 1
	# the next version: its packaged config differs from the installed one
	dpkg-deb -R "$DEB" "$WORK/next"
	sed -i "s/^Version: .*/Version: $VERSION+next/" "$WORK/next/DEBIAN/control"
	jq '.level = "debug"' "$WORK/next/etc/bindguard/bindguard.json" >"$WORK/next.json" &&
		cat "$WORK/next.json" >"$WORK/next/etc/bindguard/bindguard.json"
	dpkg-deb -b --root-owner-group "$WORK/next" "$WORK/next.deb" >/dev/null || return 1
	timeout 60 bash -c "$(declare -f install_deb); install_deb '$WORK/next.deb'" || { echo "# upgrade failed or hung"; return 1; }
	expect "after the upgrade: mine" "$(cmp -s "$WORK/mine.json" /etc/bindguard/bindguard.json && echo kept)" kept
	expect "the new one beside it" "$(jq -r .level /etc/bindguard/bindguard.json.dpkg-dist 2>&1)" debug
	install_deb "$DEB" || return 1 # back to this version (a downgrade)
	dpkg -r bindguard >/dev/null 2>&1 || { echo "# dpkg -r failed"; return 1; }
	expect "after dpkg -r: mine" "$(cmp -s "$WORK/mine.json" /etc/bindguard/bindguard.json && echo kept)" kept
	expect "after dpkg -r: state" "$(dpkg-query -W -f='${Status}' bindguard)" "deinstall ok config-files"
	expect "after dpkg -r: command" "$(ls /usr/bin/bindguard "/usr/lib/$MA/bindguard" 2>&1 | grep -c 'No such file')" 2
	install_deb "$DEB" || return 1
	expect "after reinstall: mine" "$(cmp -s "$WORK/mine.json" /etc/bindguard/bindguard.json && echo kept)" kept
	purged
}

# bindguard-agent installed beside bindguard: `bindguard agent` runs the
# installed agent, which attaches to a fresh cgroup v2 directory, publishes
# this namespace's port page, and on SIGTERM takes the page away and exits 0.
# bindguard cannot go while the agent needs it; the agent can, and leaves
# bindguard working (and `bindguard agent` saying it is not there).
t_deb_agent_attaches_to_a_cgroup_and_goes_leaving_bindguard_working() {
	install_deb "$DEB" && install_deb "$ADEB" || return 1
	local out rc
	out=$(bindguard agent --help)
	rc=$?
	expect "bindguard agent --help: exit" "$rc" 0
	expect "bindguard agent --help" "$(head -1 <<<"$out")" "usage: bindguard agent --cgroup PATH | --unit NAME.service"
	expect "man -w bindguard-agent" "$(man -w bindguard-agent)" /usr/share/man/man8/bindguard-agent.8.gz
	dpkg -r bindguard >"$WORK/r.out" 2>&1 && { echo "#   dpkg -r bindguard went through under bindguard-agent"; failed=1; }
	[ -n "$CGROOT" ] || { echo "#   no cgroup v2 mount"; return 1; }
	local cg page pid had_run
	cg=$(mktemp -d "$CGROOT/bindguard-packages.XXXXXX")
	had_run=$([ -e /run/bindguard ] && echo yes)
	page=/run/bindguard/agent/netns-$(stat -L -c %i /proc/self/ns/net).ports
	env -u BINDGUARD_AGENT bindguard agent --cgroup "$cg" --mode audit --log "$WORK/ev.jsonl" \
		>"$WORK/agent.out" 2>"$WORK/agent.err" &
	pid=$!
	local _
	for _ in $(seq 1 250); do
		grep -q "attached to $cg" "$WORK/agent.err" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	if grep -q "attached to $cg" "$WORK/agent.err"; then
		expect "the agent running" "$(readlink "/proc/$pid/exe")" "/usr/lib/$MA/bindguard/bindguard-agent"
		# the pages are one agent's (.lock): another one running on the
		# machine (tests/agent) keeps them, and this one publishes none
		if grep -q "another agent publishes the pages" "$WORK/agent.err"; then
			echo "# another agent publishes the port pages: their checks skipped"
			page=
		else
			expect "this namespace's page" "$([ -f "$page" ] && echo published)" published
		fi
		expect "start events" "$(events_of "$WORK/ev.jsonl" start | jq -r .bindguard.source)" agent
		kill -TERM "$pid"
	else
		echo "#   the installed agent did not attach:"
		sed 's/^/#     /' "$WORK/agent.err"
		failed=1
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid"
	rc=$?
	expect "the agent's exit status after SIGTERM" "$rc" 0
	[ -z "$page" ] || expect "the page after SIGTERM" "$([ -e "$page" ] && echo left)" ""
	rmdir "$cg" || failed=1
	# the agent made /run/bindguard/agent: empty now, it goes
	[ -n "$had_run" ] || rmdir /run/bindguard/agent /run/bindguard ||
		{ echo "#   left in /run/bindguard: $(find /run/bindguard | tr '\n' ' ')"; failed=1; }
	dpkg -r bindguard-agent >"$WORK/r.out" 2>&1 || { sed 's/^/#   /' "$WORK/r.out"; return 1; }
	expect "after dpkg -r bindguard-agent: the agent" "$([ -e "/usr/lib/$MA/bindguard/bindguard-agent" ] && echo left)" ""
	expect "after dpkg -r bindguard-agent: bindguard --version" "$(bindguard --version)" "bindguard $VERSION"
	expect "after dpkg -r bindguard-agent: bindguard run preloads" "$(env -u BINDGUARD_LIBRARY bindguard run -- sh -c 'echo $LD_PRELOAD')" \
		"/usr/lib/$MA/bindguard/libbindguard.so"
	bindguard agent --help >/dev/null 2>&1
	expect "after dpkg -r bindguard-agent: bindguard agent exit" "$?" 3
	purged
}

# ---- the rpm ------------------------------------------------------------------------
t_rpm_files_map_to_the_deb() {
	local d
	d=$(diff <(deb_expected | deb_as_rpm) <(rpm_files))
	[ -z "$d" ] || { echo "# deb, mapped (<) vs rpm -qlp (>):"; sed 's/^/#   /' <<<"$d"; failed=1; }
	d=$(diff <(agent_expected | deb_as_rpm) <(rpm_files "$ARPM"))
	[ -z "$d" ] || { echo "# bindguard-agent: deb, mapped (<) vs rpm -qlp (>):"; sed 's/^/#   /' <<<"$d"; failed=1; }
	# and the rpm's files name its paths
	mkdir "$WORK/x" && rpm2archive - <"$RPM" | tar -xz -C "$WORK/x" || return 1
	grep -qx 'Environment=LD_PRELOAD=/usr/lib64/bindguard/libbindguard.so' "$WORK/x/usr/share/bindguard/systemd/bindguard.conf" &&
		grep -q '^ExecStart=/usr/bin/bindguard scan ' "$WORK/x/usr/lib/systemd/system/bindguard-scan.service" &&
		strings "$WORK/x/usr/bin/bindguard" | grep -x /usr/lib64/bindguard/libbindguard.so >/dev/null
}

t_rpm_scriptlets_config_files_and_version() {
	expect "version" "$(rpm -qp --qf '%{VERSION}' "$RPM")" "$VERSION"
	local s
	s=$(rpm -qp --scripts "$RPM")
	expect_match "post: preset the timer" "$(sed -n '/^postinstall/,/^preuninstall/p' <<<"$s")" \
		"systemctl (--no-reload preset|.*install-system-units) bindguard-scan.timer"
	expect_match "preun: disable and stop the timer" "$(sed -n '/^preuninstall/,/^postuninstall/p' <<<"$s")" \
		"systemctl --no-reload disable --now bindguard-scan.timer|stop-system-units bindguard-scan.timer"
	expect_match "postun: restart the timer on upgrade" "$(sed -n '/^postuninstall/,$p' <<<"$s")" \
		"try-restart bindguard-scan.timer|mark-restart-system-units bindguard-scan.timer"
	expect "config files" "$(rpm -qp --configfiles "$RPM" | tr '\n' ' ')" "/etc/bindguard/bindguard.json /etc/logrotate.d/bindguard "
	# the agent's subpackage: this version of bindguard, and libbpf (rpm's
	# automatic requires); bindguard's own requires name no libbpf
	expect "bindguard-agent version" "$(rpm -qp --qf '%{NAME} %{VERSION}' "$ARPM")" "bindguard-agent $VERSION"
	expect "bindguard-agent requires bindguard" "$(rpm -qp --requires "$ARPM" | grep '^bindguard ')" "bindguard = $VERSION-1"
	expect_match "bindguard-agent requires libbpf" "$(rpm -qp --requires "$ARPM" | tr '\n' ' ')" "libbpf\.so\.1\(\)"
	expect "bindguard requires libbpf" "$(rpm -qp --requires "$RPM" | grep libbpf)" ""
}

run_tests packages 180
