# ---- hardening: threads and signals (issue 4, items 1, 3 and the TSan half of 8) ----
# $(BUILD)/threads-stress    16 threads on fd numbers that move between them (self-check verdict)
# $(BUILD)/threads-cases    single-threaded sequences the self-check must pass, or must catch
# $(BUILD)/threads-sigstorm  bind/listen/close loops under a timer-signal storm whose
#                            handlers close() sockets and pipes
# $(BUILD)/threads-nolock    closes 100,000 non-socket fds while threads-counter.so counts
#                            malloc/calloc/realloc/free/pthread_mutex_lock/trylock
# $(BUILD)/threads-smallstack threads with 16-48 KiB stacks bind, connect and close under the shim
# build/tsan/                the shim and the stress under ThreadSanitizer (`make tsan-build`)
THREADS_DIR := tests/hardening/threads
$(eval $(call program,threads-stress,$(THREADS_DIR)/stress.c,-lpthread))
$(eval $(call program,threads-cases,$(THREADS_DIR)/cases.c))
$(eval $(call program,threads-sigstorm,$(THREADS_DIR)/sigstorm.c,-lpthread -lrt))
$(eval $(call program,threads-nolock,$(THREADS_DIR)/nolock.c,-ldl))
$(eval $(call program,threads-closerace,$(THREADS_DIR)/closerace.c,-lpthread))
$(eval $(call program,threads-smallstack,$(THREADS_DIR)/smallstack.c,-lpthread))

# preloaded beside the shim: position-independent, a library
$(BUILD)/obj/$(THREADS_DIR)/counter.o: PIC := -fPIC
$(BUILD)/threads-counter.so: $(BUILD)/obj/$(THREADS_DIR)/counter.o
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $^ -ldl

HARDENING_BINS += $(addprefix $(BUILD)/threads-,closerace stress cases sigstorm nolock smallstack counter.so) \
	tsan-build
