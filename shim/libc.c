/* libc.c: resolve the real socket (and set*id, chroot) functions behind the wrappers.
 * Never call a wrapper from here, and never allocate before dlsym does.
 */
#define _GNU_SOURCE
#include "libc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Raw-syscall stand-ins, used if dlsym finds nothing or finds ourselves
 * (a second copy of the shim, or a libc without the symbol). */
static int sys_socket(int d, int t, int p)
{
	return (int)syscall(SYS_socket, d, t, p);
}
static int sys_bind(int fd, const struct sockaddr *a, socklen_t l)
{
	return (int)syscall(SYS_bind, fd, a, l);
}
static int sys_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	return (int)syscall(SYS_connect, fd, a, l);
}
static int sys_listen(int fd, int b)
{
	return (int)syscall(SYS_listen, fd, b);
}
static int sys_accept(int fd, struct sockaddr *a, socklen_t *l)
{
	return (int)syscall(SYS_accept, fd, a, l);
}
static int sys_accept4(int fd, struct sockaddr *a, socklen_t *l, int f)
{
	return (int)syscall(SYS_accept4, fd, a, l, f);
}
static int sys_shutdown(int fd, int how)
{
	return (int)syscall(SYS_shutdown, fd, how);
}
static int sys_setsockopt(int fd, int lv, int o, const void *v, socklen_t l)
{
	return (int)syscall(SYS_setsockopt, fd, lv, o, v, l);
}
static int sys_getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
	return (int)syscall(SYS_getsockname, fd, a, l);
}
static int sys_dup(int fd)
{
	return (int)syscall(SYS_dup, fd);
}
static int sys_dup2(int a, int b)
{
	return a == b ? (int)syscall(SYS_fcntl, a, F_GETFD) < 0 ? -1 : b
		      : (int)syscall(SYS_dup3, a, b, 0);
}
static int sys_dup3(int a, int b, int f)
{
	return (int)syscall(SYS_dup3, a, b, f);
}
static int sys_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}
static int sys_close_range(unsigned a, unsigned b, int f)
{
	return (int)syscall(SYS_close_range, a, b, f);
}
static void sys_closefrom(int fd)
{
	syscall(SYS_close_range, (unsigned)fd, ~0U, 0);
}
static pid_t sys_fork(void)
{
	return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}
static int sys_unshare(int flags)
{
	return (int)syscall(SYS_unshare, flags);
}
static int sys_setns(int fd, int nstype)
{
	return (int)syscall(SYS_setns, fd, nstype);
}
static int sys_sigaltstack(const stack_t *ss, stack_t *old)
{
	return (int)syscall(SYS_sigaltstack, ss, old);
}
/* clone() with a function and a stack has no one-line raw form: until libc's
 * is known (another thread is resolving), ask dlsym for it here. */
static int sys_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	extern int clone(int (*)(void *), void *, int, void *, ...);
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	int (*f)(int (*)(void *), void *, int, void *, ...) =
		(int (*)(int (*)(void *), void *, int, void *, ...))dlsym(RTLD_NEXT, "clone");
	if (!f || f == clone) {
		errno = ENOSYS;
		return -1;
	}
	return f(fn, stack, flags, arg, ptid, tls, ctid);
}

/* No raw-syscall stand-in for the set*id calls: the syscall changes one
 * thread's credentials, libc's function every thread's. Until bg_real has
 * libc's function (another thread is resolving), ask dlsym for it here. */
#define SETID_STANDIN(name, params, args)                                \
	static int sys_##name params                                     \
	{                                                                \
		extern int name params;                                  \
		int(*f) params = (int(*) params)dlsym(RTLD_NEXT, #name); \
		if (!f || f == name) {                                   \
			errno = ENOSYS;                                  \
			return -1;                                       \
		}                                                        \
		return f args;                                           \
	}
SETID_STANDIN(setuid, (uid_t a), (a))
SETID_STANDIN(seteuid, (uid_t a), (a))
SETID_STANDIN(setreuid, (uid_t a, uid_t b), (a, b))
SETID_STANDIN(setresuid, (uid_t a, uid_t b, uid_t c), (a, b, c))
SETID_STANDIN(setgid, (gid_t a), (a))
SETID_STANDIN(setegid, (gid_t a), (a))
SETID_STANDIN(setregid, (gid_t a, gid_t b), (a, b))
SETID_STANDIN(setresgid, (gid_t a, gid_t b, gid_t c), (a, b, c))
static int sys_chroot(const char *path)
{
	return (int)syscall(SYS_chroot, path);
}

/* Under ThreadSanitizer (the test build in build/tsan/ only), the
 * executable's interceptors follow fds from open() to close(), but the shim
 * closes its own fds (a config file, /proc reads, the log) past them, here
 * and through the real close(): say so, or TSan takes the next thread to
 * get that number for a race with us. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#include <sanitizer/linux_syscall_hooks.h>
#define BG_TSAN_CLOSE(fd) __sanitizer_syscall_pre_close(fd)
static int (*libc_close)(int);
static int tsan_close(int fd)
{
	BG_TSAN_CLOSE(fd);
	return __atomic_load_n(&libc_close, __ATOMIC_RELAXED)(fd);
}
#endif
#endif

int bg_sys_close(int fd)
{
#ifdef BG_TSAN_CLOSE
	BG_TSAN_CLOSE(fd);
#endif
	return (int)syscall(SYS_close, fd);
}

struct bg_libc bg_real = {
	.socket = sys_socket,
	.bind = sys_bind,
	.connect = sys_connect,
	.listen = sys_listen,
	.accept = sys_accept,
	.accept4 = sys_accept4,
	.shutdown = sys_shutdown,
	.close = bg_sys_close,
	.setsockopt = sys_setsockopt,
	.getsockname = sys_getsockname,
	.dup = sys_dup,
	.dup2 = sys_dup2,
	.dup3 = sys_dup3,
	.fcntl = sys_fcntl,
	.fcntl64 = sys_fcntl,
	.close_range = sys_close_range,
	.closefrom = sys_closefrom,
	.fork = sys_fork,
	.setuid = sys_setuid,
	.seteuid = sys_seteuid,
	.setreuid = sys_setreuid,
	.setresuid = sys_setresuid,
	.setgid = sys_setgid,
	.setegid = sys_setegid,
	.setregid = sys_setregid,
	.setresgid = sys_setresgid,
	.chroot = sys_chroot,
	.unshare = sys_unshare,
	.setns = sys_setns,
	.sigaltstack = sys_sigaltstack,
	.clone = sys_clone,
};

static atomic_int resolved; /* 0 none, 1 running, 2 done */

#define RESOLVE(name)                                                                  \
	do {                                                                           \
		void *p = dlsym(RTLD_NEXT, #name);                                     \
		if (p && p != self_##name)                                             \
			__atomic_store_n((void **)&bg_real.name, p, __ATOMIC_RELAXED); \
	} while (0)

/* Our own exported wrappers, so that resolution to ourselves is detected. */
extern int socket(int, int, int);
extern int bind(int, const struct sockaddr *, socklen_t);
extern int connect(int, const struct sockaddr *, socklen_t);
extern int listen(int, int);
extern int accept(int, struct sockaddr *, socklen_t *);
extern int accept4(int, struct sockaddr *, socklen_t *, int);
extern int shutdown(int, int);
extern int close(int);
extern int setsockopt(int, int, int, const void *, socklen_t);
extern int getsockname(int, struct sockaddr *, socklen_t *);
extern int dup(int);
extern int dup2(int, int);
extern int dup3(int, int, int);
extern int fcntl(int, int, ...);
extern int fcntl64(int, int, ...);
extern int close_range(unsigned, unsigned, int);
extern void closefrom(int);
extern pid_t fork(void);
extern int chroot(const char *);
extern int unshare(int);
extern int setns(int, int);
extern int sigaltstack(const stack_t *, stack_t *);
extern int clone(int (*)(void *), void *, int, void *, ...);

void bg_libc_resolve(void)
{
	if (atomic_load_explicit(&resolved, memory_order_acquire) == 2)
		return;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&resolved, &expect, 1))
		return; /* done, or running in this or another thread: stand-ins serve */
	void *self_socket = (void *)socket, *self_bind = (void *)bind,
	     *self_connect = (void *)connect, *self_listen = (void *)listen,
	     *self_accept = (void *)accept, *self_accept4 = (void *)accept4,
	     *self_shutdown = (void *)shutdown, *self_close = (void *)close,
	     *self_setsockopt = (void *)setsockopt, *self_getsockname = (void *)getsockname,
	     *self_dup = (void *)dup, *self_dup2 = (void *)dup2, *self_dup3 = (void *)dup3,
	     *self_fcntl = (void *)fcntl, *self_fcntl64 = (void *)fcntl64,
	     *self_close_range = (void *)close_range, *self_closefrom = (void *)closefrom,
	     *self_fork = (void *)fork, *self_setuid = (void *)setuid,
	     *self_seteuid = (void *)seteuid, *self_setreuid = (void *)setreuid,
	     *self_setresuid = (void *)setresuid, *self_setgid = (void *)setgid,
	     *self_setegid = (void *)setegid, *self_setregid = (void *)setregid,
	     *self_setresgid = (void *)setresgid, *self_chroot = (void *)chroot,
	     *self_unshare = (void *)unshare, *self_setns = (void *)setns,
	     *self_sigaltstack = (void *)sigaltstack, *self_clone = (void *)clone;
	RESOLVE(socket);
	RESOLVE(bind);
	RESOLVE(connect);
	RESOLVE(listen);
	RESOLVE(accept);
	RESOLVE(accept4);
	RESOLVE(shutdown);
	RESOLVE(close);
#ifdef BG_TSAN_CLOSE
	if (bg_real.close != bg_sys_close) {
		__atomic_store_n(&libc_close, bg_real.close, __ATOMIC_RELAXED);
		__atomic_store_n(&bg_real.close, tsan_close, __ATOMIC_RELEASE);
	}
#endif
	RESOLVE(setsockopt);
	RESOLVE(getsockname);
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(fcntl);
	RESOLVE(fcntl64);
	RESOLVE(close_range);
	RESOLVE(closefrom);
	RESOLVE(fork);
	RESOLVE(setuid);
	RESOLVE(seteuid);
	RESOLVE(setreuid);
	RESOLVE(setresuid);
	RESOLVE(setgid);
	RESOLVE(setegid);
	RESOLVE(setregid);
	RESOLVE(setresgid);
	RESOLVE(chroot);
	RESOLVE(unshare);
	RESOLVE(setns);
	RESOLVE(sigaltstack);
	RESOLVE(clone);
	atomic_store_explicit(&resolved, 2, memory_order_release);
}
