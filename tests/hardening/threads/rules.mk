# ---- hardening: threads and signals (issue 4, items 1, 3 and the TSan half of 8) ----
# $(BUILD)/threads-stress    16 threads on fd numbers that move between them (self-check verdict)
# $(BUILD)/threads-cases    single-threaded sequences the self-check must pass, or must catch
# $(BUILD)/threads-sigstorm  bind/listen/close loops under a timer-signal storm whose
#                            handlers close() sockets and pipes
# $(BUILD)/threads-nolock    closes 100,000 non-socket fds while threads-counter.so counts
#                            malloc/calloc/realloc/free/pthread_mutex_lock/trylock
# $(BUILD)/threads-smallstack threads with 16-48 KiB stacks bind, connect and close under the shim
# build/tsan/                the shim and the stress under ThreadSanitizer (always clang)
THREADS_DIR := tests/hardening/threads
TSAN_BUILD := build/tsan
TSAN_FLAGS := -std=gnu11 -fvisibility=hidden $(WARN) -g -O1 -fno-omit-frame-pointer -fsanitize=thread

$(BUILD)/threads-stress: $(THREADS_DIR)/stress.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(BUILD)/threads-cases: $(THREADS_DIR)/cases.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/threads-sigstorm: $(THREADS_DIR)/sigstorm.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread -lrt

$(BUILD)/threads-nolock: $(THREADS_DIR)/nolock.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -ldl

$(BUILD)/threads-closerace: $(THREADS_DIR)/closerace.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(BUILD)/threads-smallstack: $(THREADS_DIR)/smallstack.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(BUILD)/threads-counter.so: $(THREADS_DIR)/counter.c | $(BUILD)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# The TSan executable links the runtime statically and exports it; the
# preloaded shim's __tsan_* references resolve to it. The executable's
# interceptors (close, bind, ...) call the next definition: the shim's.
$(TSAN_BUILD)/libbindguard.so: $(SHIM_SRC) $(SHIM_HDR) shim/libbindguard.map
	@mkdir -p $(TSAN_BUILD)
	clang $(TSAN_FLAGS) -fPIC -shared -o $@ $(SHIM_SRC) \
	  -Wl,--version-script=shim/libbindguard.map -Wl,-z,now -ldl -lcjson -lpthread

$(TSAN_BUILD)/threads-stress: $(THREADS_DIR)/stress.c
	@mkdir -p $(TSAN_BUILD)
	clang $(TSAN_FLAGS) -o $@ $< -lpthread

HARDENING_BINS += $(BUILD)/threads-closerace $(BUILD)/threads-stress $(BUILD)/threads-cases $(BUILD)/threads-sigstorm $(BUILD)/threads-nolock $(BUILD)/threads-smallstack \
	$(BUILD)/threads-counter.so $(TSAN_BUILD)/libbindguard.so $(TSAN_BUILD)/threads-stress
