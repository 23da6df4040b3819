/* interpose.c: the exported wrappers, the only symbols libbindguard.so
 * exports. Each one is thin: call the real function, translate the call into
 * a tracking or model step, and keep the caller's return value and errno.
 * close() of an fd that is not a tracked socket: one table load, then libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <unistd.h>

#include "fdtable.h"
#include "bind.h"
#include "process.h"
#include "track.h"
#include "libc.h"
#include "sanitizer.h"

#define EXPORT __attribute__((visibility("default")))

static bool tcp_socket(int domain, int type, int protocol)
{
	return (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

/* A socket made in another network namespace than the shim's (or accepted
 * there): never followed, nor learned later from the kernel. */
static void foreign(int fd, bool inet)
{
	int saved = errno;
	struct bg_sock *old = NULL;
	if (!inet)
		bg_untrack(fd);
	else if (bg_fd_set(fd, &bg_not_tcp, &old) == 0 && old)
		bg_sock_put(old);
	errno = saved;
}

/* fd's socket did something the model did not follow: forget it, to be
 * learned again from the kernel at its next use. Keeps r and errno. */
static int forget(int fd, int r)
{
	int saved = errno;
	struct bg_sock *s = bg_sock_acquire(fd);
	if (s) {
		if (s != &bg_not_tcp)
			bg_untrack(fd);
		bg_sock_put(s);
	}
	errno = saved;
	return r;
}

/* A call that passed through unjudged: if this thread is away from the
 * shim's network namespace and fd is a socket made at home, the model no
 * longer knows what it holds. */
static int passed(int fd, int r)
{
	return bg_passing_away() ? forget(fd, r) : r;
}

EXPORT int socket(int domain, int type, int protocol)
{
	bg_libc_resolve();
	int fd = bg_real.socket(domain, type, protocol);
	if (fd < 0)
		return fd;
	if (!bg_active()) {
		if (bg_passing_away())
			foreign(fd, domain == AF_INET || domain == AF_INET6);
		return fd;
	}
	int saved = errno;
	if (tcp_socket(domain, type, protocol)) {
		bg_reap();
		struct bg_sock *s = bg_sock_new(SOCK_STREAM, domain);
		if (s) {
			s->tcp = true;
			bg_track(fd, s);
		}
	} else if (domain == AF_INET || domain == AF_INET6) {
		struct bg_sock *old;
		if (bg_fd_set(fd, &bg_not_tcp, &old) == 0 && old)
			bg_sock_put(old);
	} else {
		bg_untrack(fd);
	}
	errno = saved;
	return fd;
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	bg_libc_resolve();
	if (!bg_active())
		return passed(fd, bg_real.bind(fd, addr, len));
	int saved = errno;
	struct bg_sock *s = bg_sock_for(fd);
	errno = saved;
	if (!s)
		return bg_real.bind(fd, addr, len);
	if (bg_small_stack()) { /* a signal handler on a small sigaltstack */
		bg_sock_put(s);
		return forget(fd, bg_real.bind(fd, addr, len));
	}
	int r = bg_guard_bind(s, fd, addr, len);
	bg_sock_put(s); /* keeps errno */
	return r;
}

EXPORT int listen(int fd, int backlog)
{
	bg_libc_resolve();
	if (!bg_active())
		return passed(fd, bg_real.listen(fd, backlog));
	int saved = errno;
	struct bg_sock *s = bg_sock_for(fd);
	errno = saved;
	if (!s)
		return bg_real.listen(fd, backlog);
	if (bg_small_stack()) {
		bg_sock_put(s);
		return forget(fd, bg_real.listen(fd, backlog));
	}
	int r = bg_guard_listen(s, fd, backlog);
	bg_sock_put(s);
	return r;
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	bg_libc_resolve();
	int r = bg_real.connect(fd, addr, len);
	if (!bg_active())
		return passed(fd, r);
	int err = errno;
	struct bg_sock *s = bg_sock_for(fd);
	if (s) {
		bg_after_connect(s, fd, addr, len, r, err);
		bg_sock_put(s);
	}
	errno = err;
	return r;
}

static int after_accept(int listen_fd, int fd)
{
	if (fd < 0)
		return fd;
	if (!bg_active()) {
		if (bg_passing_away())
			foreign(fd, true);
		return fd;
	}
	int saved = errno;
	struct bg_sock *l = bg_sock_acquire(listen_fd);
	bg_after_accept(l == &bg_not_tcp ? NULL : l, fd);
	if (l)
		bg_sock_put(l);
	errno = saved;
	return fd;
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	bg_libc_resolve();
	return after_accept(fd, bg_real.accept(fd, addr, len));
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	bg_libc_resolve();
	return after_accept(fd, bg_real.accept4(fd, addr, len, flags));
}

EXPORT int shutdown(int fd, int how)
{
	bg_libc_resolve();
	return bg_real.shutdown(fd, how);
}

EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	bg_libc_resolve();
	int r = bg_real.setsockopt(fd, level, opt, val, len);
	if (r != 0)
		return r;
	if (!bg_active())
		return passed(fd, r);
	bool watched =
		(level == SOL_SOCKET && (opt == SO_REUSEADDR || opt == SO_REUSEPORT ||
					 opt == SO_BINDTODEVICE || opt == SO_BINDTOIFINDEX)) ||
		(level == IPPROTO_IPV6 && opt == IPV6_V6ONLY) ||
		(level == IPPROTO_IP && opt == IP_BIND_ADDRESS_NO_PORT);
	if (!watched)
		return r;
	int saved = errno;
	struct bg_sock *s = bg_sock_for(fd);
	if (s) {
		bg_after_setsockopt(s, fd, level, opt, val, len);
		bg_sock_put(s);
	}
	errno = saved;
	return r;
}

/* A socket the remedy left without a port: the program asks for its port
 * before connect(), so it gets one now (bind.c: bg_remedy_withdraw). While
 * no socket of the process waits so, one relaxed load. */
EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	bg_libc_resolve();
	if (bg_remedy_any() && bg_owner()) {
		struct bg_sock *s = bg_sock_acquire(fd);
		if (s) {
			if (s != &bg_not_tcp &&
			    atomic_load_explicit(&s->remedy_pending, memory_order_relaxed))
				bg_remedy_withdraw(s, fd);
			bg_sock_put(s);
		}
	}
	return bg_real.getsockname(fd, addr, len);
}

/* ---- the fd lifecycle ------------------------------------------------------------- */

EXPORT int close(int fd)
{
	if (!bg_fd_get(fd)) /* the path every program takes: no lock, no allocation */
		return bg_real.close(fd);
	if (!bg_owner()) /* a vfork() child: the table is its parent's */
		return bg_real.close(fd);
	struct bg_sock *s = bg_fd_take(fd);
	int r = bg_real.close(fd);
	if (s) {
		int saved = errno;
		bg_sock_put(s);
		errno = saved;
	}
	return r;
}

/* newfd now names what oldfd names (or nothing we track). own: the caller
 * asked bg_owner() before the call (not after: another thread's socket may
 * take the number meanwhile, and the table would lose it). */
static int dup_to(bool own, int oldfd, int newfd)
{
	if (newfd < 0 || newfd == oldfd || !own)
		return newfd;
	int saved = errno;
	struct bg_sock *s = bg_sock_acquire(oldfd);
	if (s) {
		struct bg_sock *old;
		if (bg_fd_set(newfd, s, &old) == 0) {
			if (old)
				bg_sock_put(old);
		} else {
			bg_untrack(newfd);
		}
		bg_sock_put(s);
	} else {
		bg_untrack(newfd);
	}
	errno = saved;
	return newfd;
}

EXPORT int dup(int fd)
{
	bg_libc_resolve();
	bool own = bg_owner();
	return dup_to(own, fd, bg_real.dup(fd));
}

EXPORT int dup2(int oldfd, int newfd)
{
	bg_libc_resolve();
	bool own = bg_owner();
	return dup_to(own, oldfd, bg_real.dup2(oldfd, newfd));
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	bg_libc_resolve();
	bool own = bg_owner();
	return dup_to(own, oldfd, bg_real.dup3(oldfd, newfd, flags));
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	bool dup = cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC;
	bool own = dup && bg_owner();
	int r = real(fd, cmd, arg);
	return dup ? dup_to(own, fd, r) : r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	bg_libc_resolve();
	return fcntl_common(bg_real.fcntl, fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	bg_libc_resolve();
	return fcntl_common(bg_real.fcntl64, fd, cmd, arg);
}

static void forget_range(unsigned first, unsigned last)
{
	unsigned limit = (unsigned)bg_fd_limit();
	if (last >= limit)
		last = limit ? limit - 1 : 0;
	for (unsigned fd = first; fd <= last && fd < limit; fd++)
		bg_untrack((int)fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	bg_libc_resolve();
	bool own = bg_owner(); /* a vfork() child's fds are not the parent's */
	int r = bg_real.close_range(first, last, flags);
	if (r == 0 && own && !(flags & CLOSE_RANGE_CLOEXEC)) {
		int saved = errno;
		forget_range(first, last);
		errno = saved;
	}
	return r;
}

EXPORT void closefrom(int lowfd)
{
	bg_libc_resolve();
	bool own = bg_owner();
	bg_real.closefrom(lowfd);
	if (lowfd >= 0 && own) {
		int saved = errno;
		forget_range((unsigned)lowfd, ~0u);
		errno = saved;
	}
}

EXPORT pid_t fork(void)
{
	bg_libc_resolve();
	bg_before_fork();
	pid_t pid = bg_real.fork();
	int saved = errno;
	bg_after_fork(pid == 0);
	errno = saved;
	return pid;
}

/* ---- giving up root, changing root ---------------------------------------------- */
/* sshd, postgres, memcached -u, vsftpd's sessions: after these calls a
 * config only root may read, or a log path outside the new root, is out of
 * reach. The shim reads its config and opens its log, where the file
 * exists, just before the first of them (if no socket call came first), so
 * that the config in force is the operator's; afterwards it notes the user
 * its sockets now belong to. */
#define SETID_WRAPPER(name, params, args)  \
	EXPORT int name params             \
	{                                  \
		bg_libc_resolve();         \
		bg_config_once(false);     \
		int r = bg_real.name args; \
		if (r == 0)                \
			bg_ids_changed();  \
		return r;                  \
	}
SETID_WRAPPER(setuid, (uid_t a), (a))
SETID_WRAPPER(seteuid, (uid_t a), (a))
SETID_WRAPPER(setreuid, (uid_t a, uid_t b), (a, b))
SETID_WRAPPER(setresuid, (uid_t a, uid_t b, uid_t c), (a, b, c))
SETID_WRAPPER(setgid, (gid_t a), (a))
SETID_WRAPPER(setegid, (gid_t a), (a))
SETID_WRAPPER(setregid, (gid_t a, gid_t b), (a, b))
SETID_WRAPPER(setresgid, (gid_t a, gid_t b, gid_t c), (a, b, c))

EXPORT int chroot(const char *path)
{
	bg_libc_resolve();
	bg_config_once(false);
	return bg_real.chroot(path);
}

/* ---- children in our memory, alternate signal stacks ------------------------------- */

/* vfork(): the child runs in our memory, on our stack, until it execs or
 * exits, and only then does the parent return. bg_vforks counts children
 * that may be running so, for bg_owner(). Not a C function: the child's
 * return would overwrite a C wrapper's frame, which the parent returns
 * through later. As glibc does: the return address is kept in a register
 * (the child's calls cannot touch it) and put back for each of the two
 * returns. x86_64 only; elsewhere libc's vfork runs and clone(CLONE_VM)
 * children are the only ones bg_owner() watches for. */
#if defined(__x86_64__)
int bg_vfork_failed(long r);
__attribute__((used, visibility("hidden"))) int bg_vfork_failed(long r)
{
	errno = (int)-r;
	return -1;
}
__asm__(".text\n"
	".globl vfork\n"
	".type vfork,@function\n"
	"vfork:\n"
	"	popq %rdi\n"		     /* our return address */
	"	lock incl bg_vforks(%rip)\n" /* a child in our memory, from now */
	"	movl $58, %eax\n"	     /* SYS_vfork */
	"	syscall\n"
	"	pushq %rdi\n"
	"	testq %rax, %rax\n"
	"	jz 1f\n"		     /* the child: 0, the count stays */
	"	lock decl bg_vforks(%rip)\n" /* the parent: the child execed or exited */
	"	cmpq $-4095, %rax\n"
	"	jae 2f\n"
	"1:	ret\n"
	"2:	movq %rax, %rdi\n"
	"	jmp bg_vfork_failed\n"
	".size vfork, .-vfork\n");
#endif

EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	bg_libc_resolve();
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if ((flags & CLONE_VM) && !(flags & CLONE_THREAD))
		bg_clone_vm(); /* a child in our memory, maybe for good */
	return bg_real.clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* Not in the ThreadSanitizer build (build/tsan, tests only): its runtime
 * calls sigaltstack() while it starts, through its own interceptor to the
 * next definition, ours, whose instrumented entry then crashes it (wrapped.h
 * leaves it out of the list there). There bg_small_stack() always looks. */
#ifdef BG_TSAN
__attribute__((constructor)) static void altstacks_always(void)
{
	bg_altstack_set();
}
#else
EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
	bg_libc_resolve();
	int r = bg_real.sigaltstack(ss, old);
	if (r == 0 && ss && !(ss->ss_flags & SS_DISABLE))
		bg_altstack_set();
	return r;
}
#endif

/* ---- network namespaces ----------------------------------------------------------- */

EXPORT int unshare(int flags)
{
	bg_libc_resolve();
	int r = bg_real.unshare(flags);
	if (r == 0 && (flags & CLONE_NEWNET))
		bg_netns_changed();
	return r;
}

EXPORT int setns(int fd, int nstype)
{
	bg_libc_resolve();
	int r = bg_real.setns(fd, nstype);
	if (r == 0 && (nstype == 0 || (nstype & CLONE_NEWNET)))
		bg_netns_changed();
	return r;
}
