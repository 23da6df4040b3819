# tests/hardening/logsec: the log under stress, rotation, faults, security
LOGSEC_ACTOR := $(BUILD)/logsec-actor
$(LOGSEC_ACTOR): tests/hardening/logsec/logsec-actor.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread
HARDENING_BINS += $(LOGSEC_ACTOR)
