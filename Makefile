# bindguard: `make` builds, `make demo` shows, `make test` proves.
CC ?= gcc
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -fvisibility=hidden $(WARN)
SAN ?=

SHIM_SRC := shim/libc.c shim/fdtable.c shim/bucket.c shim/kernel.c shim/config.c shim/trust.c \
            shim/policy.c shim/event.c shim/sink.c shim/merge.c shim/portview.c shim/judge.c \
            shim/remedy.c shim/bind.c shim/track.c shim/process.c shim/interpose.c shim/selfcheck.c
SHIM_HDR := $(wildcard shim/*.h)
FMT_SRC := $(wildcard shim/*.[ch] tools/*.[ch] tests/*.c tests/unit/*.[ch] tests/e2e/*.c \
             tests/conformance/*.c tests/tools/*.c tests/bench/*.c \
             tests/hardening/*/*.[ch])
LIB := $(BUILD)/libbindguard.so
TOOL := $(BUILD)/bindguard
ACTOR := $(BUILD)/bindguard-actor
UNIT_TESTS := $(BUILD)/test_bucket $(BUILD)/test_config $(BUILD)/test_merge
TEST_TOOLS := $(BUILD)/fidelity $(BUILD)/schema-check $(BUILD)/churn

.PHONY: all deps demo test test-unit install asan clean fmt check-fmt conformance test-kernels

all: $(LIB) $(TOOL) $(ACTOR)

$(BUILD):
	@mkdir -p $(BUILD)

$(LIB): $(SHIM_SRC) $(SHIM_HDR) shim/libbindguard.map | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -fPIC -shared -o $@ $(SHIM_SRC) \
	  -Wl,--version-script=shim/libbindguard.map -Wl,-z,now -Wl,-z,relro -ldl -lcjson -lpthread

$(TOOL): tools/bindguard.c tools/scan.c tools/scanout.c tools/svg.c tools/report.c tools/cmd.h tools/scan.h \
         shim/config.c shim/trust.c shim/bucket.c shim/libc.c shim/kernel.c shim/config.h shim/trust.h \
         shim/bucket.h shim/kernel.h tools/procfd.c tools/procfd.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -o $@ tools/bindguard.c tools/scan.c tools/scanout.c tools/svg.c shim/policy.c \
	  tools/report.c tools/procfd.c shim/config.c shim/trust.c shim/bucket.c shim/libc.c shim/kernel.c -lcjson -lz -ldl

$(ACTOR): tools/bindguard-actor.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -o $@ $<

$(BUILD)/test_bucket: tests/unit/test_bucket.c shim/bucket.c shim/bucket.h tests/unit/runner.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -Itests/unit -o $@ tests/unit/test_bucket.c shim/bucket.c

$(BUILD)/test_merge: tests/unit/test_merge.c shim/merge.c shim/bucket.c shim/fdtable.c $(SHIM_HDR) tests/unit/runner.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -Itests/unit -o $@ tests/unit/test_merge.c shim/merge.c \
	  shim/bucket.c shim/fdtable.c

$(BUILD)/test_config: tests/unit/test_config.c shim/config.c shim/trust.c shim/bucket.c shim/config.h shim/trust.h \
                      tests/unit/runner.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -Itests/unit -o $@ tests/unit/test_config.c shim/config.c shim/policy.c shim/trust.c \
	  shim/bucket.c -lcjson

$(BUILD)/fidelity: tests/e2e/fidelity.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/churn: tests/e2e/churn.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/schema-check: tests/schema-check.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lcjson

CONFORM := $(BUILD)/conform
$(CONFORM): tests/conformance/conform.c shim/bucket.c shim/kernel.c shim/libc.c shim/bucket.h shim/kernel.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -o $@ tests/conformance/conform.c shim/bucket.c \
	  shim/kernel.c shim/libc.c -ldl

# The model against the kernel: `make conformance SEED=... N=...` (host
# kernel), `make test-kernels` (Debian's 6.1 and 6.12 under qemu).
N ?= 2000
conformance: $(CONFORM)
	@$(CONFORM) --replay-file tests/conformance/regressions.txt | tail -1
	@$(CONFORM) $(if $(SEED),--seed $(SEED)) --sequences $(N) --steps 30

test-kernels: all $(CONFORM)
	@tests/kernels/run.sh $(BUILD)

# Debian packages the build, the demo and the tests need (run as root).
deps:
	@tools/deps.sh

demo: deps all
	@tools/demo.sh $(BUILD)

test-unit: $(UNIT_TESTS) $(TEST_TOOLS) $(CONFORM)

test: deps
	@tools/deps.sh test
	@$(MAKE) --no-print-directory all test-unit $(BUILD)/bindguard-manyconn $(HARDENING_BINS)
	@$(MAKE) --no-print-directory BUILD=build/clang CC=clang all test-unit >/dev/null
	@$(MAKE) --no-print-directory BUILD=build/asan asan-build >/dev/null
	@tests/run.sh $(BUILD) build/asan

asan-build:
	@$(MAKE) --no-print-directory BUILD=$(BUILD) SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" CFLAGS="-O1 -g" all test-unit

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan asan-build
	@tests/run.sh build/asan build/asan

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/bindguard $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/share/bindguard $(DESTDIR)$(PREFIX)/share/doc/bindguard $(DESTDIR)/etc/bindguard
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/bindguard/libbindguard.so
	install -m 0755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/bindguard
	install -m 0644 conf/bindguard.schema.json conf/bindguard-event.schema.json $(DESTDIR)$(PREFIX)/share/bindguard/
	install -m 0644 conf/bindguard.json $(DESTDIR)$(PREFIX)/share/bindguard/bindguard.json.example
	install -d $(DESTDIR)$(PREFIX)/share/bindguard/systemd
	install -m 0644 conf/systemd/bindguard.conf $(DESTDIR)$(PREFIX)/share/bindguard/systemd/bindguard.conf
	test -e $(DESTDIR)/etc/bindguard/bindguard.json || install -m 0644 conf/bindguard.json $(DESTDIR)/etc/bindguard/bindguard.json
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/bindguard/README.md
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/doc/bindguard/docs docs/*.md
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0644 man/bindguard.1 $(DESTDIR)$(PREFIX)/share/man/man1/bindguard.1
	install -m 0644 man/bindguard.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/bindguard.conf.5
	install -m 0644 man/libbindguard.7 $(DESTDIR)$(PREFIX)/share/man/man7/libbindguard.7

fmt:
	clang-format -i $(FMT_SRC)

check-fmt:
	clang-format --dry-run --Werror $(FMT_SRC)

clean:
	rm -rf build

# ---- bindguard command (issue 5) ----
# The command's parts (tools/scan.c, scanout.c, svg.c, report.c) are in the
# $(TOOL) rule above. Here: the 50,000-socket helper, the command's suite
# (`make test-tools`, as root: each case in its own `unshare -n` namespace),
# and a warning check of the man pages.
MANYCONN := $(BUILD)/bindguard-manyconn
MAN_PAGES := man/bindguard.1 man/bindguard.conf.5 man/libbindguard.7

$(MANYCONN): tests/tools/manyconn.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

.PHONY: test-tools check-man
test-tools: all $(MANYCONN)
	@tests/tools/tools.sh $(BUILD)

check-man:
	@for m in $(MAN_PAGES); do \
	  out=$$(LC_ALL=C.UTF-8 MANWIDTH=80 groff -man -Tutf8 -ww -z $$m 2>&1); \
	  [ -z "$$out" ] || { echo "$$m: $$out"; exit 1; }; done

# ---- benchmarks (issue 6) ----
# `make bench`: tests/bench/bench.c, issue 12's per-call budget: each row at
# 0, 10,000 and 50,000 other sockets, without and with the shim, interleaved,
# each level in a network namespace of its own (root). Every measurement is
# bounded by time (BENCH_ARGS=--budget MS per child, 1000 by default), so a
# slow shim makes a slow row, not an endless run. Prints the table and writes
# it to $(BUILD)/bench/results.md. BENCH_ARGS=--quick for a short run.
# `make bench-profile`: callgrind instruction counts (tests/bench/profile.sh).
# Benchmarks report; they never fail on a target.
BENCH := $(BUILD)/bench/bench
BENCH_ARGS ?=
.PHONY: bench bench-profile bench-build

$(BENCH): tests/bench/bench.c
	@mkdir -p $(BUILD)/bench
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -pthread -o $@ $<

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
# ---- end of benchmarks (issue 6) ----

# ---- hardening (issue 4) ----
# One folder a topic under tests/hardening/: run.sh BUILD is its suite (make
# test runs every one); rules.mk, if any, builds what it needs and adds the
# files to HARDENING_BINS; `packages` lists the Debian packages it needs.
HARDENING_BINS :=
-include $(wildcard tests/hardening/*/rules.mk)
.PHONY: test-hardening
test-hardening: all test-unit $(HARDENING_BINS)
	@tools/deps.sh test
	@rc=0; for h in tests/hardening/*/run.sh; do echo "== $$h"; $$h $(BUILD) || rc=1; done; exit $$rc
