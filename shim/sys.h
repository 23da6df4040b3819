/* sys.h: raw system calls, for the fds the shim and the command make for
 * themselves (the sock_diag socket, files they read). syscall() enters the
 * kernel without passing through any interposed symbol: not the shim's
 * wrappers, nor another preloaded library's. No resolution, no state, no
 * shim internals: the common library (config, trust, bucket, kernel) uses
 * these, and the command links that library without the shim.
 */
#ifndef BG_SYS_H
#define BG_SYS_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sanitizer.h"

#ifdef BG_TSAN
#include <sanitizer/linux_syscall_hooks.h>
#endif

static inline int bg_sys_socket(int domain, int type, int protocol)
{
	return (int)syscall(SYS_socket, domain, type, protocol);
}

static inline int bg_sys_setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	return (int)syscall(SYS_setsockopt, fd, level, opt, val, len);
}

/* Under ThreadSanitizer the executable's interceptors follow fds from open()
 * to close(), but this close passes them: say so, or TSan takes the next
 * thread to get that number for a race with us. */
static inline int bg_sys_close(int fd)
{
#ifdef BG_TSAN
	__sanitizer_syscall_pre_close(fd);
#endif
	return (int)syscall(SYS_close, fd);
}

/* CLOCK_MONOTONIC_COARSE in ms (the vDSO: no system call), for the
 * shim's once-a-while decisions (snapshot age, page checks, query pacing). */
static inline uint64_t bg_coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
