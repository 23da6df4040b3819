# hardening/view: the programs tests/hardening/view/run.sh drives.
# $(BUILD)/view-conns   N connections sharing one ephemeral port
# $(BUILD)/view-emfile  a bind at the fd limit, then one with fds free
# $(BUILD)/view-nonetlink  a program run where AF_NETLINK sockets are refused
$(eval $(call program,view-conns,tests/hardening/view/conns.c))
$(eval $(call program,view-emfile,tests/hardening/view/emfile.c))
$(eval $(call program,view-nonetlink,tests/hardening/view/nonetlink.c))
HARDENING_BINS += $(BUILD)/view-conns $(BUILD)/view-emfile $(BUILD)/view-nonetlink
