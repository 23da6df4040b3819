# ---- hardening: fuzzing (issue 4, item 7) ----
# libFuzzer harnesses, always built with clang (libFuzzer is clang's) into
# build/fuzz/, apart from $(BUILD): the config parser (fuzz_config) and the
# event encoder with the real file sink (fuzz_event), under ASan, UBSan and
# LeakSanitizer. tests/hardening/fuzz/run.sh runs each for FUZZ_SECONDS on a
# copy of its seed corpus and replays tests/hardening/fuzz/regressions/.
# Longer local runs: `make fuzz FUZZ_SECONDS=600`.
FUZZ_DIR := tests/hardening/fuzz
FUZZ_BUILD := build/fuzz
FUZZ_CC := clang
FUZZ_FLAGS := -std=gnu11 $(WARN) -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ishim
FUZZ_CONFIG_SRC := $(FUZZ_DIR)/fuzz_config.c shim/config.c shim/policy.c shim/trust.c shim/bucket.c
FUZZ_EVENT_SRC := $(FUZZ_DIR)/fuzz_event.c shim/event.c shim/sink.c shim/libc.c shim/config.c shim/policy.c shim/trust.c \
	shim/bucket.c

$(FUZZ_BUILD)/fuzz_config: $(FUZZ_CONFIG_SRC) $(SHIM_HDR)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_CONFIG_SRC) -lcjson

$(FUZZ_BUILD)/fuzz_event: $(FUZZ_EVENT_SRC) $(SHIM_HDR)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_EVENT_SRC) -lcjson -ldl -lpthread -lm

HARDENING_BINS += $(FUZZ_BUILD)/fuzz_config $(FUZZ_BUILD)/fuzz_event

FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: $(FUZZ_BUILD)/fuzz_config $(FUZZ_BUILD)/fuzz_event
	@FUZZ_SECONDS=$(FUZZ_SECONDS) $(FUZZ_DIR)/run.sh $(BUILD)
# ---- end of fuzzing ----
