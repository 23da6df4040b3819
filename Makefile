# bindguard: `make` builds, `make demo` shows, `make test` proves.
CC ?= gcc
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -fvisibility=hidden $(WARN)
SAN ?=

SHIM_SRC := shim/libc.c shim/fdtable.c shim/bucket.c shim/kernel.c shim/config.c \
            shim/policy.c shim/event.c shim/sink.c shim/guard.c shim/interpose.c
SHIM_HDR := $(wildcard shim/*.h)
FMT_SRC := $(wildcard shim/*.[ch] tools/*.c tests/*.c tests/unit/*.[ch] tests/e2e/*.c)
LIB := $(BUILD)/libbindguard.so
TOOL := $(BUILD)/bindguard
ACTOR := $(BUILD)/bindguard-actor
UNIT_TESTS := $(BUILD)/test_bucket $(BUILD)/test_config
TEST_TOOLS := $(BUILD)/fidelity $(BUILD)/schema-check

.PHONY: all deps demo test test-unit test-e2e install asan clean fmt check-fmt

all: $(LIB) $(TOOL) $(ACTOR)

$(BUILD):
	@mkdir -p $(BUILD)

$(LIB): $(SHIM_SRC) $(SHIM_HDR) shim/libbindguard.map | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -fPIC -shared -o $@ $(SHIM_SRC) \
	  -Wl,--version-script=shim/libbindguard.map -Wl,-z,now -Wl,-z,relro -ldl -lcjson -lpthread

$(TOOL): tools/bindguard.c shim/config.c shim/bucket.c shim/config.h shim/bucket.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -o $@ tools/bindguard.c shim/config.c shim/bucket.c -lcjson

$(ACTOR): tools/bindguard-actor.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -o $@ $<

$(BUILD)/test_bucket: tests/unit/test_bucket.c shim/bucket.c shim/bucket.h tests/unit/runner.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -Itests/unit -o $@ tests/unit/test_bucket.c shim/bucket.c

$(BUILD)/test_config: tests/unit/test_config.c shim/config.c shim/bucket.c shim/config.h tests/unit/runner.h | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -Ishim -Itests/unit -o $@ tests/unit/test_config.c shim/config.c shim/bucket.c -lcjson

$(BUILD)/fidelity: tests/e2e/fidelity.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/schema-check: tests/schema-check.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lcjson

# Debian packages the build, the demo and the tests need (run as root).
deps:
	@tools/deps.sh

demo: deps all
	@tools/demo.sh $(BUILD)

test-unit: $(UNIT_TESTS) $(TEST_TOOLS)

test: deps
	@$(MAKE) --no-print-directory all test-unit
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

fmt:
	clang-format -i $(FMT_SRC)

check-fmt:
	clang-format --dry-run --Werror $(FMT_SRC)

clean:
	rm -rf build
