# bindguard: `make` builds, `make demo` shows, `make test` proves.
# Every .c compiles once per build folder into $(BUILD)/obj/ (its path kept),
# with the headers it includes recorded beside it (-MMD: obj/X.d).
CC ?= gcc
# Where `make install` puts things (and, through BG_BINDIR/BG_LIBDIR, where
# the installed command looks for the library). The packages set them:
# packaging/debian/rules (LIBDIR=/usr/lib/<multiarch>, UNITDIR=/lib/systemd/
# system, Debian 12's debhelper looks there) and packaging/rpm/bindguard.spec
# (%{_libdir}, %{_unitdir}). SYSCONFDIR is where the config is installed;
# the shim reads /etc/bindguard/bindguard.json whatever it is.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/bindguard
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=
BUILD ?= build
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -fvisibility=hidden $(WARN)
BG_CPPFLAGS := -Ishim
SAN ?=
# $(SAN) instruments the shim, the command, the actor and the unit and
# conformance tests. The suites' helper programs below stay plain: they run
# beside the shim, as a user's programs do. The TSan and fuzz builds
# instrument all they build (UNSANITIZED= ).
UNSANITIZED := tests/schema-check.c tests/e2e/% tests/tools/% tests/bench/% tests/hardening/%
san = $(if $(filter $(UNSANITIZED),$(1)),,$(SAN))
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# The common library: what the shim and the command share and tests drive
# without the shim (the port model, the config, the kernel's answers). It
# uses no shim internals (its own fds are raw system calls: shim/sys.h).
# Compiled once, position-independent, for both: with -fvisibility=hidden
# that costs the command nothing, and a build compiles each file once.
COMMON_SRC := shim/bucket.c shim/config.c shim/policy.c shim/trust.c shim/kernel.c shim/probefile.c
COMMON := $(BUILD)/libbgcommon.a
SHIM_SRC := $(filter-out $(COMMON_SRC),$(wildcard shim/*.c))
TOOL_SRC := tools/bindguard.c tools/scan.c tools/scanout.c tools/svg.c tools/report.c tools/procfd.c tools/probe.c
LIB := $(BUILD)/libbindguard.so
TOOL := $(BUILD)/bindguard
ACTOR := $(BUILD)/bindguard-actor
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/%,$(wildcard tests/unit/test_*.c))
TEST_TOOLS := $(BUILD)/fidelity $(BUILD)/schema-check $(BUILD)/churn
CONFORM := $(BUILD)/conform
MANYCONN := $(BUILD)/bindguard-manyconn
BENCH := $(BUILD)/bench/bench
FMT_SRC := $(wildcard shim/*.[ch] tools/*.[ch] tests/*.c tests/unit/*.[ch] tests/e2e/*.c \
             tests/conformance/*.c tests/tools/*.c tests/bench/*.c tests/hardening/*/*.[ch])
.DELETE_ON_ERROR:

.PHONY: all deps demo test test-unit test-build install deb rpm FORCE asan asan-build tsan tsan-build clean \
        fmt check-fmt check-man conformance test-kernels test-tools bench bench-profile \
        bench-build test-hardening

all: $(LIB) $(TOOL) $(ACTOR)
$(BUILD):
	@mkdir -p $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BG_CPPFLAGS) $(DEFS) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(call san,$<) $(PIC) -MMD -MP -c -o $@ $<
$(BUILD)/obj/shim/%.o: PIC := -fPIC
# The command knows where it is installed: $(BUILD)/install-dirs changes
# (and the command recompiles) only when BINDIR or LIBDIR do.
$(BUILD)/obj/tools/bindguard.o: DEFS := -DBG_BINDIR='"$(BINDIR)"' -DBG_LIBDIR='"$(LIBDIR)/bindguard"'
$(BUILD)/obj/tools/bindguard.o: $(BUILD)/install-dirs
$(BUILD)/install-dirs: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(BINDIR)' '$(LIBDIR)/bindguard' | cmp -s - $@ || printf '%s\n' '$(BINDIR)' '$(LIBDIR)/bindguard' >$@
FORCE:

# program NAME, SOURCES (.c, or a library's .a), LDLIBS: $(BUILD)/NAME
define program
$(BUILD)/$(1): $(call obj,$(2))
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$(call san,$(firstword $(2))) $$(LDFLAGS) -o $$@ $$^ $(3)
endef

$(COMMON): $(call obj,$(COMMON_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

# The version script: exactly the calls shim/wrapped.h lists, as this
# compiler and these flags see the list (the TSan build wraps one fewer).
$(BUILD)/wrapped.list: shim/wrapped.h
	@mkdir -p $(@D)
	printf '#include "wrapped.h"\n#define CALL(ret, name, params) name\n#define ASM(name) name\nBG_WRAPPED(CALL, ASM)\n' >$@.c
	$(CC) $(BG_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) $(SAN) -E -P -MMD -MP -MF $@.d -MT $@ -o $@.i $@.c
	tr -s ' \t' '\n\n' <$@.i | grep . >$@
$(BUILD)/libbindguard.map: $(BUILD)/wrapped.list
	{ echo '/* made from shim/wrapped.h: exactly the wrapped calls */ {'; echo '  global:'; \
	  sed 's/.*/    &;/' $<; echo '  local: *;'; echo '};'; } >$@

$(LIB): $(call obj,$(SHIM_SRC)) $(COMMON) $(BUILD)/libbindguard.map
	$(CC) $(CFLAGS) $(SAN) $(LDFLAGS) -shared -o $@ $(filter-out %.map,$^) \
	  -Wl,--version-script=$(BUILD)/libbindguard.map -Wl,-z,now -Wl,-z,relro -ldl -lcjson -lpthread

$(eval $(call program,bindguard,$(TOOL_SRC) $(COMMON),-lcjson -lz))
$(eval $(call program,bindguard-actor,tests/bindguard-actor.c))
# a unit test of a shim room links that room too
UNIT_ROOMS_test_merge := shim/merge.c shim/fdtable.c
$(foreach t,$(UNIT_TESTS),$(eval $(call program,$(notdir $(t)),tests/unit/$(notdir $(t)).c \
  $(UNIT_ROOMS_$(notdir $(t))) $(COMMON),-lcjson)))
$(eval $(call program,conform,tests/conformance/conform.c $(COMMON)))
$(eval $(call program,fidelity,tests/e2e/fidelity.c))
$(eval $(call program,churn,tests/e2e/churn.c))
$(eval $(call program,schema-check,tests/schema-check.c,-lcjson))
$(eval $(call program,bindguard-manyconn,tests/tools/manyconn.c))
$(eval $(call program,bench/bench,tests/bench/bench.c))

# ---- builds of the tests --------------------------------------------------------
# test-build: what the suites need from a build besides `all`;
# test-unit runs the unit tests (tests/run.sh runs them itself, for each build)
test-build: $(UNIT_TESTS) $(TEST_TOOLS) $(CONFORM)

test-unit: test-build
	@rc=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || rc=1; done; exit $$rc

test: deps
	@tools/deps.sh test
	@$(MAKE) --no-print-directory all test-build $(MANYCONN) $(HARDENING_BINS)
	@$(MAKE) --no-print-directory BUILD=build/clang CC=clang all test-build >/dev/null
	@$(MAKE) --no-print-directory BUILD=build/asan asan-build >/dev/null
	@tests/run.sh $(BUILD) build/asan

asan-build:
	@$(MAKE) --no-print-directory BUILD=$(BUILD) SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	  CFLAGS="-O1 -g" all test-build

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan asan-build
	@tests/run.sh build/asan build/asan

# The shim and the threads suite's stress program under ThreadSanitizer
# (always clang). The stress executable links the runtime statically and
# exports it; the preloaded shim's __tsan_* references resolve to it, and
# the executable's interceptors (close, bind, ...) call the next definition:
# the shim's. `make tsan` runs the suite's TSan stress on it.
TSAN_BUILD := build/tsan
tsan-build:
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) CC=clang SAN=-fsanitize=thread UNSANITIZED= \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer" $(TSAN_BUILD)/libbindguard.so $(TSAN_BUILD)/threads-stress

tsan: tsan-build
	@tests/hardening/threads/run.sh $(BUILD) stress_under_thread_sanitizer

# The model against the kernel: `make conformance SEED=... N=...` (host
# kernel), `make test-kernels` (seven kernels, 4.18 to 6.12, under qemu).
N ?= 2000
conformance: $(CONFORM)
	@$(CONFORM) --replay-file tests/conformance/regressions.txt | tail -1
	@$(CONFORM) $(if $(SEED),--seed $(SEED)) --sequences $(N) --steps 30

test-kernels: all $(CONFORM)
	@tests/kernels/run.sh $(BUILD)

# The command's suite (as root: each case in its own `unshare -n` namespace)
# and a warning check of the man pages.
MAN_PAGES := man/bindguard.1 man/bindguard.conf.5 man/libbindguard.7
# bindguard-agent(8) is installed with the agent, where it is built
AGENT_MAN := man/bindguard-agent.8
test-tools: all $(MANYCONN)
	@tests/tools/tools.sh $(BUILD)

check-man:
	@for m in $(MAN_PAGES) $(AGENT_MAN); do \
	  out=$$(LC_ALL=C.UTF-8 MANWIDTH=80 groff -man -Tutf8 -ww -z $$m 2>&1); \
	  [ -z "$$out" ] || { echo "$$m: $$out"; exit 1; }; done

# ---- the rest ---------------------------------------------------------------------
# Debian packages the build, the demo and the tests need (run as root).
deps:
	@tools/deps.sh

demo: deps all
	@tools/demo.sh $(BUILD)

# The installed files that name a path name the installed one ($(SUBST)).
SUBST = sed -e 's|/usr/local/bin/bindguard|$(BINDIR)/bindguard|g' \
  -e 's|/usr/local/lib/bindguard|$(LIBDIR)/bindguard|g' \
  -e 's|/usr/local/share/bindguard|$(DATADIR)/bindguard|g' \
  -e 's|/usr/local/share/doc/bindguard|$(DOCDIR)|g'
D = $(DESTDIR)
install: all
	install -d "$(D)$(LIBDIR)/bindguard" "$(D)$(BINDIR)" "$(D)$(DATADIR)/bindguard/systemd" \
	  "$(D)$(DOCDIR)/docs" "$(D)$(SYSCONFDIR)/bindguard" \
	  "$(D)$(SYSCONFDIR)/logrotate.d" "$(D)$(UNITDIR)" \
	  "$(D)$(MANDIR)/man1" "$(D)$(MANDIR)/man5" "$(D)$(MANDIR)/man7"
	install -m 0755 $(LIB) "$(D)$(LIBDIR)/bindguard/libbindguard.so"
	install -m 0755 $(TOOL) "$(D)$(BINDIR)/bindguard"
	install -m 0644 conf/bindguard.schema.json conf/bindguard-event.schema.json "$(D)$(DATADIR)/bindguard/"
	$(SUBST) conf/bindguard.json >"$(D)$(DATADIR)/bindguard/bindguard.json.example"
	$(SUBST) conf/systemd/bindguard.conf >"$(D)$(DATADIR)/bindguard/systemd/bindguard.conf"
	chmod 0644 "$(D)$(DATADIR)/bindguard/bindguard.json.example" "$(D)$(DATADIR)/bindguard/systemd/bindguard.conf"
	for f in conf/prometheus/*.rules.yml; do [ ! -e "$$f" ] || \
	  install -D -m 0644 -t "$(D)$(DATADIR)/bindguard/prometheus" "$$f" || exit 1; done
	test -e "$(D)$(SYSCONFDIR)/bindguard/bindguard.json" || \
	  install -m 0644 "$(D)$(DATADIR)/bindguard/bindguard.json.example" "$(D)$(SYSCONFDIR)/bindguard/bindguard.json"
	install -m 0644 conf/logrotate/bindguard "$(D)$(SYSCONFDIR)/logrotate.d/bindguard"
	$(SUBST) conf/systemd/bindguard-scan.service >"$(D)$(UNITDIR)/bindguard-scan.service"
	chmod 0644 "$(D)$(UNITDIR)/bindguard-scan.service"
	install -m 0644 conf/systemd/bindguard-scan.timer "$(D)$(UNITDIR)/bindguard-scan.timer"
	install -m 0644 README.md "$(D)$(DOCDIR)/README.md"
	install -m 0644 docs/*.md "$(D)$(DOCDIR)/docs/"
	for m in $(MAN_PAGES); do $(SUBST) $$m >"$(D)$(MANDIR)/man$${m##*.}/$${m#man/}" && \
	  chmod 0644 "$(D)$(MANDIR)/man$${m##*.}/$${m#man/}" || exit 1; done
	$(if $(AGENT_CAN),install -D -m 0755 $(AGENT) "$(D)$(LIBDIR)/bindguard/bindguard-agent",@echo \
	  "install: no bindguard-agent (not built here: $(AGENT_MISSING)); the rest is installed")
	$(if $(AGENT_CAN),install -d "$(D)$(MANDIR)/man8" && $(SUBST) $(AGENT_MAN) >"$(D)$(MANDIR)/man8/bindguard-agent.8" && \
	  chmod 0644 "$(D)$(MANDIR)/man8/bindguard-agent.8")

# ---- packages (issue 14) ---------------------------------------------------------
# `make deb`, `make rpm`: the tree's files (git's list, tracked and untracked
# but not ignored; without git, all but build/) copied to
# build/pkg/{deb,rpm}/bindguard-VERSION and built there with the package's
# paths (packaging/debian/rules, packaging/rpm/bindguard.spec); the packages,
# bindguard and bindguard-agent, land in build/. The agent needs kernel
# BTF on the building host (the agent's block below): without it the build
# stops. The version is shim/version.h's, the one version.
VERSION := $(shell sed -n 's/^\#define BG_VERSION "\(.*\)"$$/\1/p' shim/version.h)
PKG := build/pkg
DEB_ARCH = $(shell dpkg --print-architecture)
RPM_ARCH = $(shell rpm --eval %{_arch})
# copy_tree DIR: a fresh DIR/bindguard-VERSION with the tree's files
define copy_tree
	@test -n "$(VERSION)" || { echo "no BG_VERSION in shim/version.h" >&2; exit 1; }
	rm -rf "$(1)" && mkdir -p "$(1)/bindguard-$(VERSION)"
	if git rev-parse --show-toplevel >/dev/null 2>&1; then \
	  git ls-files -z --cached --others --exclude-standard | \
	    xargs -0 -r sh -c 'for f do [ ! -e "$$f" ] || printf "%s\0" "$$f"; done' sh | \
	    tar -c --null -T - | tar -x -C "$(1)/bindguard-$(VERSION)"; \
	else tar -c --exclude=./build . | tar -x -C "$(1)/bindguard-$(VERSION)"; fi
	test -f "$(1)/bindguard-$(VERSION)/Makefile" && test -f "$(1)/bindguard-$(VERSION)/shim/version.h"
endef

deb:
	$(call copy_tree,$(PKG)/deb)
	cp -r packaging/debian "$(PKG)/deb/bindguard-$(VERSION)/debian"
	{ echo "bindguard ($(VERSION)) unstable; urgency=medium"; echo; \
	  echo "  * bindguard $(VERSION) (shim/version.h)."; echo; \
	  echo " -- bindguard maintainers <dev@bindguard.invalid>  $$(git log -1 --format=%cD 2>/dev/null || date -R -r shim/version.h)"; \
	} >"$(PKG)/deb/bindguard-$(VERSION)/debian/changelog"
	cd "$(PKG)/deb/bindguard-$(VERSION)" && dpkg-buildpackage -us -uc -b
	cp "$(PKG)/deb/bindguard_$(VERSION)_$(DEB_ARCH).deb" "$(PKG)/deb/bindguard-agent_$(VERSION)_$(DEB_ARCH).deb" build/
	@echo "build/bindguard_$(VERSION)_$(DEB_ARCH).deb build/bindguard-agent_$(VERSION)_$(DEB_ARCH).deb"

# rpmbuild in a _topdir of its own, reached through a link without spaces
# (rpm's %setup does not quote it); --nodeps: the build dependencies are
# RHEL's names (Debian has the same under its own)
rpm:
	$(call copy_tree,$(PKG)/rpm)
	mkdir -p "$(PKG)/rpm/SOURCES" "$(PKG)/rpm/SPECS"
	tar -C "$(PKG)/rpm" -czf "$(PKG)/rpm/SOURCES/bindguard-$(VERSION).tar.gz" "bindguard-$(VERSION)"
	sed 's/@VERSION@/$(VERSION)/' packaging/rpm/bindguard.spec >"$(PKG)/rpm/SPECS/bindguard.spec"
	link=$$(mktemp -d /tmp/bindguard-rpm.XXXXXX) && ln -s "$$PWD/$(PKG)/rpm" "$$link/top" && \
	  rpmbuild -bb --nodeps --define "_topdir $$link/top" "$(PKG)/rpm/SPECS/bindguard.spec"; \
	  rc=$$?; rm -rf "$$link"; exit $$rc
	cp "$(PKG)/rpm/RPMS/$(RPM_ARCH)/bindguard-$(VERSION)-1.$(RPM_ARCH).rpm" \
	  "$(PKG)/rpm/RPMS/$(RPM_ARCH)/bindguard-agent-$(VERSION)-1.$(RPM_ARCH).rpm" build/
	@echo "build/bindguard-$(VERSION)-1.$(RPM_ARCH).rpm build/bindguard-agent-$(VERSION)-1.$(RPM_ARCH).rpm"

fmt:
	clang-format -i $(FMT_SRC)

check-fmt:
	clang-format --dry-run --Werror $(FMT_SRC)

clean:
	rm -rf build

# ---- benchmarks (issue 6) ----
# `make bench`: tests/bench/bench.c, each workload without and with the shim,
# interleaved, in network namespaces of its own (root); prints the table and
# writes it to $(BUILD)/bench/results.md. BENCH_ARGS=--quick for a short run.
# `make bench-profile`: callgrind instruction counts (tests/bench/profile.sh).
# Benchmarks report; they never fail on a target.
BENCH_ARGS ?=

bench-build: $(LIB) $(BENCH)
	@$(MAKE) --no-print-directory $(TOOL) >/dev/null 2>&1 || \
	  echo "bench: $(TOOL) did not build; bindguard scan will be skipped"

bench: deps
	@command -v strace >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null; } || \
	  echo "bench: strace unavailable; its comparison will be skipped"
	@$(MAKE) --no-print-directory bench-build
	@unshare -n $(BENCH) --lib $(LIB) --tool $(TOOL) --results $(BUILD)/bench/results.md $(BENCH_ARGS)

bench-profile: deps
	@command -v valgrind >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null; } || \
	  echo "bench-profile: valgrind unavailable"
	@$(MAKE) --no-print-directory bench-build
	@tests/bench/profile.sh $(BUILD)

# ---- hardening (issue 4) ----
# One folder a topic under tests/hardening/: run.sh BUILD is its suite (make
# test runs every one); rules.mk, if any, declares its programs (`program`
# above) and adds them, or the target building them, to HARDENING_BINS;
# `packages` lists the Debian packages it needs.
HARDENING_BINS :=
-include $(wildcard tests/hardening/*/rules.mk)
test-hardening: all test-build $(HARDENING_BINS)
	@tools/deps.sh test
	@rc=0; for h in tests/hardening/*/run.sh; do echo "== $$h"; $$h $(BUILD) || rc=1; done; exit $$rc

# the headers each object and the list were made from (-MMD)
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null) $(wildcard $(BUILD)/wrapped.list.d)

# ---- the agent (issue 15) ----
# build/bindguard-agent: agent/agent.c with libbpf, and agent/bindguard.bpf.c
# compiled for BPF against a vmlinux.h dumped from this kernel's BTF into
# $(BUILD)/agent (never committed); the skeleton embeds the object. Built by
# `make` only where the kernel has BTF and libbpf-dev and bpftool are there
# (elsewhere `make` and `make install` go on without it, and say so); the
# shim and the command never link libbpf. `make agent` builds it alone, or
# fails saying what is missing: the packages ask for it (bindguard-agent).
AGENT := $(BUILD)/bindguard-agent
AGENT_GEN := $(BUILD)/agent
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_CLANG ?= clang
BPF_ARCH ?= $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(shell uname -m)))
FMT_SRC += $(wildcard agent/*.[ch] tests/agent/*.c)
.PHONY: agent
agent: $(AGENT)
# bpftool is in /usr/sbin, which a user's PATH may lack (a package built
# as a user)
BPFTOOL ?= $(firstword $(shell command -v bpftool) $(wildcard /usr/sbin/bpftool /sbin/bpftool))
AGENT_CAN := $(and $(wildcard $(VMLINUX_BTF)),$(wildcard /usr/include/bpf/libbpf.h),$(BPFTOOL))
AGENT_MISSING = $(strip $(if $(wildcard $(VMLINUX_BTF)),,no kernel BTF at $(VMLINUX_BTF)) \
  $(if $(wildcard /usr/include/bpf/libbpf.h),,no libbpf-dev) $(if $(BPFTOOL),,no bpftool))
all: $(if $(AGENT_CAN),$(AGENT))
# make bench's agent row runs it
bench-build: $(if $(AGENT_CAN),$(AGENT))
$(AGENT_GEN)/vmlinux.h:
	@test -r $(VMLINUX_BTF) || { echo "bindguard-agent: no kernel BTF at $(VMLINUX_BTF): its BPF" \
	  "programs are built against the kernel's types (a kernel with CONFIG_DEBUG_INFO_BTF=y," \
	  "or VMLINUX_BTF=FILE)" >&2; exit 1; }
	@test -n "$(BPFTOOL)" || { echo "bindguard-agent: no bpftool (the bpftool package)" >&2; exit 1; }
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c >$@
$(AGENT_GEN)/bindguard.bpf.o: agent/bindguard.bpf.c agent/bindguard.bpf.h $(AGENT_GEN)/vmlinux.h
	$(BPF_CLANG) -target bpf -O2 -g -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
	  -I$(AGENT_GEN) -Iagent -c -o $@ $<
$(AGENT_GEN)/bindguard.skel.h: $(AGENT_GEN)/bindguard.bpf.o
	$(BPFTOOL) gen skeleton $< name bindguard_bpf >$@
$(BUILD)/obj/agent/agent.o: $(AGENT_GEN)/bindguard.skel.h
$(BUILD)/obj/agent/agent.o: BG_CPPFLAGS += -I$(AGENT_GEN) -Iagent
$(BUILD)/obj/agent/pages.o: BG_CPPFLAGS += -Iagent
$(eval $(call program,bindguard-agent,agent/agent.c agent/pages.c $(COMMON),-lbpf -lcjson))
