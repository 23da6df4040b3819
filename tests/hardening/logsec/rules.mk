# tests/hardening/logsec: the log under stress, rotation, faults, security
$(eval $(call program,logsec-actor,tests/hardening/logsec/logsec-actor.c,-lpthread))
HARDENING_BINS += $(BUILD)/logsec-actor
