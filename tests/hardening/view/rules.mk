# hardening/view: the programs tests/hardening/view/run.sh drives.
# $(BUILD)/view-conns   N connections sharing one ephemeral port
# $(BUILD)/view-emfile  a bind at the fd limit, then one with fds free
# $(BUILD)/view-nonetlink  a program run where AF_NETLINK sockets are refused
VIEW_BINS := $(BUILD)/view-conns $(BUILD)/view-emfile $(BUILD)/view-nonetlink

$(BUILD)/view-conns: tests/hardening/view/conns.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/view-emfile: tests/hardening/view/emfile.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/view-nonetlink: tests/hardening/view/nonetlink.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

HARDENING_BINS += $(VIEW_BINS)
