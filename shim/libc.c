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
#ifndef BG_TSAN /* not wrapped there (wrapped.h) */
static int sys_sigaltstack(const stack_t *ss, stack_t *old)
{
	return (int)syscall(SYS_sigaltstack, ss, old);
}
#endif
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

/* close() before resolution: sys.h's, which tells ThreadSanitizer. */
static int sys_close(int fd)
{
	return bg_sys_close(fd);
}
/* fcntl64() takes fcntl()'s arguments to the same system call */
#define sys_fcntl64 sys_fcntl

/* Under ThreadSanitizer (the test build in build/tsan/ only), the
 * executable's interceptors follow fds from open() to close(), but the shim
 * closes its own fds (a config file, /proc reads, the log) past them, through
 * the real close(): say so, or TSan takes the next thread to get that number
 * for a race with us. */
#ifdef BG_TSAN
static int (*libc_close)(int);
static int tsan_close(int fd)
{
	__sanitizer_syscall_pre_close(fd);
	return __atomic_load_n(&libc_close, __ATOMIC_RELAXED)(fd);
}
#endif

/* Until resolution, every call goes to its stand-in, sys_NAME. */
#define STANDIN(ret, name, params) .name = sys_##name,
#define NO_STANDIN(name)
struct bg_libc bg_real = {BG_WRAPPED(STANDIN, NO_STANDIN)};

static atomic_int resolved; /* 0 none, 1 running, 2 done */

/* Our own exported wrappers, so that resolution to ourselves is detected.
 * Declared from the list: a prototype there that disagrees with libc's
 * header does not compile. */
#define DECLARE(ret, name, params) extern ret name params;
#define NO_DECLARATION(name)
BG_WRAPPED(DECLARE, NO_DECLARATION)

/* slot = libc's name, unless dlsym finds nothing or finds self (our own
 * wrapper: a second copy of the shim, or a libc without the symbol). */
static void resolve(void **slot, const char *name, void *self)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p && p != self)
		__atomic_store_n(slot, p, __ATOMIC_RELAXED);
}

#define RESOLVE(ret, name, params) resolve((void **)&bg_real.name, #name, (void *)name);
#define NO_RESOLUTION(name)

void bg_libc_resolve(void)
{
	if (atomic_load_explicit(&resolved, memory_order_acquire) == 2)
		return;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&resolved, &expect, 1))
		return; /* done, or running in this or another thread: stand-ins serve */
	BG_WRAPPED(RESOLVE, NO_RESOLUTION)
#ifdef BG_TSAN
	if (bg_real.close != sys_close) {
		__atomic_store_n(&libc_close, bg_real.close, __ATOMIC_RELAXED);
		__atomic_store_n(&bg_real.close, tsan_close, __ATOMIC_RELEASE);
	}
#endif
	atomic_store_explicit(&resolved, 2, memory_order_release);
}
