/* libc.h: the real libc functions behind bindguard's wrappers.
 * Resolved lazily with dlsym(RTLD_NEXT) on first use, never in a constructor;
 * a raw syscall stands in while resolution runs or if it finds only us.
 * Everything in the shim that touches an fd goes through bg_real.
 */
#ifndef BG_LIBC_H
#define BG_LIBC_H

#include <signal.h>
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
	/* giving up root or changing root: the config and log are read first */
	int (*setuid)(uid_t);
	int (*seteuid)(uid_t);
	int (*setreuid)(uid_t, uid_t);
	int (*setresuid)(uid_t, uid_t, uid_t);
	int (*setgid)(gid_t);
	int (*setegid)(gid_t);
	int (*setregid)(gid_t, gid_t);
	int (*setresgid)(gid_t, gid_t, gid_t);
	int (*chroot)(const char *);
	int (*unshare)(int);
	int (*sigaltstack)(const stack_t *, stack_t *);
	int (*clone)(int (*)(void *), void *, int, void *, ...);
	int (*setns)(int, int);
};

extern struct bg_libc bg_real;

/* Fill bg_real once; cheap after the first call. */
void bg_libc_resolve(void);

/* close() before resolution, and from paths that must not resolve. */
int bg_sys_close(int fd);

#endif
