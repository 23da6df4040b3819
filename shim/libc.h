/* libc.h: the real libc functions behind bindguard's wrappers.
 * Resolved lazily with dlsym(RTLD_NEXT) on first use, never in a constructor;
 * a raw syscall stands in while resolution runs or if it finds only us.
 * Everything in the shim that touches an fd goes through bg_real.
 */
#ifndef BG_LIBC_H
#define BG_LIBC_H

#include <sys/socket.h>
#include <sys/types.h>

struct bg_libc {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*close_range)(unsigned, unsigned, int);
	void (*closefrom)(int);
	pid_t (*fork)(void);
	int (*unshare)(int);
	int (*setns)(int, int);
};

extern struct bg_libc bg_real;

/* Fill bg_real once; cheap after the first call. */
void bg_libc_resolve(void);

/* close() before resolution, and from paths that must not resolve. */
int bg_sys_close(int fd);

#endif
