/* wrapped.h: the libc calls libbindguard.so wraps, written once.
 *
 * BG_WRAPPED(CALL, ASM) expands CALL(ret, name, (params)) for each call whose
 * real function the shim resolves (libc.h: struct bg_libc, libc.c: its
 * resolution), and ASM(name) for a wrapper with no real function behind it.
 * The Makefile preprocesses this list, with the build's own compiler and
 * flags, into $(BUILD)/wrapped.list and the version script
 * $(BUILD)/libbindguard.map: libbindguard.so exports exactly these names.
 * interpose.c writes the wrappers themselves; tests/exports.sh checks the
 * built library's dynamic symbols against the list, both ways.
 *
 * Macros only: the list is made by the preprocessor alone.
 */
#ifndef BG_WRAPPED_H
#define BG_WRAPPED_H

#include "sanitizer.h"

/* sigaltstack(): not in the ThreadSanitizer build, whose runtime calls it
 * while it starts, through its own interceptor into our instrumented entry
 * (a crash). There bg_small_stack() always looks (interpose.c). */
#ifdef BG_TSAN
#define BG_WRAPPED_SIGALTSTACK(CALL)
#else
#define BG_WRAPPED_SIGALTSTACK(CALL) CALL(int, sigaltstack, (const stack_t *, stack_t *))
#endif

/* vfork(): interpose.c's assembly, x86_64 only; it makes the system call
 * itself, so there is nothing to resolve. */
#if defined(__x86_64__)
#define BG_WRAPPED_VFORK(ASM) ASM(vfork)
#else
#define BG_WRAPPED_VFORK(ASM)
#endif

#define BG_WRAPPED(CALL, ASM)                                                    \
	/* sockets */                                                            \
	CALL(int, socket, (int, int, int))                                       \
	CALL(int, bind, (int, const struct sockaddr *, socklen_t))               \
	CALL(int, connect, (int, const struct sockaddr *, socklen_t))            \
	CALL(int, listen, (int, int))                                            \
	CALL(int, accept, (int, struct sockaddr *, socklen_t *))                 \
	CALL(int, accept4, (int, struct sockaddr *, socklen_t *, int))           \
	CALL(int, shutdown, (int, int))                                          \
	CALL(int, setsockopt, (int, int, int, const void *, socklen_t))          \
	CALL(int, getsockname, (int, struct sockaddr *, socklen_t *))            \
	/* the fd lifecycle */                                                   \
	CALL(int, close, (int))                                                  \
	CALL(int, dup, (int))                                                    \
	CALL(int, dup2, (int, int))                                              \
	CALL(int, dup3, (int, int, int))                                         \
	CALL(int, fcntl, (int, int, ...))                                        \
	CALL(int, fcntl64, (int, int, ...))                                      \
	CALL(int, close_range, (unsigned, unsigned, int))                        \
	CALL(void, closefrom, (int))                                             \
	CALL(pid_t, fork, (void))                                                \
	/* giving up root or changing root: the config and log are read first */ \
	CALL(int, setuid, (uid_t))                                               \
	CALL(int, seteuid, (uid_t))                                              \
	CALL(int, setreuid, (uid_t, uid_t))                                      \
	CALL(int, setresuid, (uid_t, uid_t, uid_t))                              \
	CALL(int, setgid, (gid_t))                                               \
	CALL(int, setegid, (gid_t))                                              \
	CALL(int, setregid, (gid_t, gid_t))                                      \
	CALL(int, setresgid, (gid_t, gid_t, gid_t))                              \
	CALL(int, chroot, (const char *))                                        \
	/* children in our memory, alternate signal stacks */                    \
	BG_WRAPPED_VFORK(ASM)                                                    \
	CALL(int, clone, (int (*)(void *), void *, int, void *, ...))            \
	BG_WRAPPED_SIGALTSTACK(CALL)                                             \
	/* network namespaces */                                                 \
	CALL(int, unshare, (int))                                                \
	CALL(int, setns, (int, int))

#endif
