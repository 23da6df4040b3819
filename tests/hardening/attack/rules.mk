# hardening/attack: the program tests/hardening/attack/run.sh drives.
# $(BUILD)/attack-run  hostile syscall patterns, one subcommand each
$(eval $(call program,attack-run,tests/hardening/attack/attack.c))
HARDENING_BINS += $(BUILD)/attack-run
