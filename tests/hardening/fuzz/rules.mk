# ---- hardening: fuzzing (issue 4, item 7) ----
# libFuzzer harnesses, always built with clang (libFuzzer is clang's) into
# build/fuzz/, apart from $(BUILD) (`make fuzz-build`): the config parser
# (fuzz_config) and the event encoder with the real file sink (fuzz_event),
# under ASan, UBSan and LeakSanitizer. tests/hardening/fuzz/run.sh runs each
# for FUZZ_SECONDS on a copy of its seed corpus and replays
# tests/hardening/fuzz/regressions/. Longer local runs: `make fuzz FUZZ_SECONDS=600`.
FUZZ_DIR := tests/hardening/fuzz
FUZZ_BUILD := build/fuzz
$(eval $(call program,fuzz_config,$(FUZZ_DIR)/fuzz_config.c $(COMMON),-lcjson))
$(eval $(call program,fuzz_event,$(FUZZ_DIR)/fuzz_event.c shim/event.c shim/sink.c shim/libc.c $(COMMON),\
	-lcjson -ldl -lpthread -lm))

.PHONY: fuzz fuzz-build
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang UNSANITIZED= CFLAGS="-g -O1 -fno-omit-frame-pointer" \
	  SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all" \
	  $(FUZZ_BUILD)/fuzz_config $(FUZZ_BUILD)/fuzz_event
HARDENING_BINS += fuzz-build

FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) $(FUZZ_DIR)/run.sh $(BUILD)
# ---- end of fuzzing ----
