# hardening/lifecycle: the programs tests/hardening/lifecycle/run.sh drives.
LIFECYCLE_BINS := $(BUILD)/lifecycle-roles $(BUILD)/lifecycle-fork

$(BUILD)/lifecycle-roles: tests/hardening/lifecycle/lifecycle.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/lifecycle-fork: tests/hardening/lifecycle/forkstress.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -pthread -o $@ $<

HARDENING_BINS += $(LIFECYCLE_BINS)
