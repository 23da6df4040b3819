# hardening/attack: the program tests/hardening/attack/run.sh drives.
# $(BUILD)/attack-run  hostile syscall patterns, one subcommand each
ATTACK_BINS := $(BUILD)/attack-run

$(BUILD)/attack-run: tests/hardening/attack/attack.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

HARDENING_BINS += $(ATTACK_BINS)
