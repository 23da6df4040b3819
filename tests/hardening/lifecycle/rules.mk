# hardening/lifecycle: the programs tests/hardening/lifecycle/run.sh drives.
$(eval $(call program,lifecycle-roles,tests/hardening/lifecycle/lifecycle.c))
$(eval $(call program,lifecycle-fork,tests/hardening/lifecycle/forkstress.c,-lpthread))
HARDENING_BINS += $(BUILD)/lifecycle-roles $(BUILD)/lifecycle-fork
