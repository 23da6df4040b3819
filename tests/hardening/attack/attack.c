/* attack-run: hostile syscall patterns against the shim (issue 11).
 *
 *   attack-run vfork close|closerange|socket|clone
 *       Listens on 127.0.0.1:7000 and binds 127.0.0.1:7001, then a child
 *       that shares the parent's memory (vfork(), or clone(CLONE_VM|
 *       CLONE_VFORK)) closes both fds (close, or close_range from 3), or
 *       makes a socket on fd 50 and binds 127.0.0.1:7002 (socket), and execs
 *       /bin/true. cold: as socket, but the child's are the first socket
 *       calls of the process (the parent makes its two sockets after). Then the parent binds 7000
 * (EADDRINUSE: still listening), 7001 (EADDRINUSE) and 7002 (ok: the child's socket is gone).
 *   attack-run netns
 *       Listens on 0.0.0.0:7000, unshare(CLONE_NEWNET), binds 0.0.0.0:7000
 *       there (ok: another namespace) and listens, setns() back, binds
 *       0.0.0.0:7000 again (EADDRINUSE).
 *   attack-run emfile ADDR PORT
 *       Fills every fd but one under RLIMIT_NOFILE 64, makes the first
 *       socket of the process on that last fd (the shim sets itself up with
 *       no fd free), frees the fds and binds ADDR:PORT from a new socket.
 *   attack-run altstack cold|warm SIZE ADDR PORT
 *       A signal handler on a sigaltstack of SIZE bytes makes a socket,
 *       binds ADDR:PORT and closes it. cold: the first socket call of the
 *       process is the handler's.
 *   attack-run badargs
 *       bind/connect/setsockopt/accept/getsockname with bad pointers, bad
 *       lengths and bad fds: one line a call, the result, for comparison
 *       with the same run without the shim.
 *   attack-run fds
 *       dup2 of /dev/null and of another socket over tracked sockets,
 *       close_range of one, then rebinding their ports.
 *   attack-run cloexec [stage2]
 *       A SOCK_CLOEXEC listener on 7000 and an inheritable one on 7001, then
 *       exec of itself: the new image binds 7000 (ok) and 7001 (EADDRINUSE);
 *       a listener on 7002 made close-on-exec by close_range (ok).
 * Prints one line a step, "STEP ok" or "STEP error ERRNO"; exit 0 unless a
 * step outside the attacked calls failed. A crash is the exit status.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/net.h"

static int bind_to(int s, const char *ip, int port)
{
	struct sockaddr_in a = v4(ip, port);
	return bind(s, (struct sockaddr *)&a, sizeof(a));
}

/* a new socket bound to ip:port (and listening if asked), or -1 */
static int tcp(const char *ip, int port, int listening)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind_to(s, ip, port) != 0 || (listening && listen(s, 8) != 0)) {
		fprintf(stderr, "attack-run: %s:%d: %s\n", ip, port, strerror(errno));
		exit(1);
	}
	return s;
}

/* "bind PORT": a new socket binding ip:port, kept open, as a result line */
static int try_bind(const char *ip, int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	char what[64];
	snprintf(what, sizeof(what), "bind %d", port);
	int r = bind_to(s, ip, port);
	result(what, r);
	return s;
}

/* ---- vfork ------------------------------------------------------------------------ */

static const char *vmode;
static int vfd[2];

static int child_body(void *arg)
{
	(void)arg;
	if (strcmp(vmode, "closerange") == 0) {
		close_range(3, ~0U, 0);
	} else if (strcmp(vmode, "socket") == 0 || strcmp(vmode, "cold") == 0) {
		/* on fd 50, where no later socket of the parent lands */
		int s = socket(AF_INET, SOCK_STREAM, 0);
		dup2(s, 50);
		close(s);
		bind_to(50, "127.0.0.1", 7002);
	} else { /* close, clone */
		close(vfd[0]);
		close(vfd[1]);
	}
	char *argv[] = {"true", NULL};
	execv("/bin/true", argv);
	_exit(127);
}

static int do_vfork(const char *mode)
{
	vmode = mode;
	bool cold = strcmp(mode, "cold") == 0;
	if (!cold) {
		vfd[0] = tcp("127.0.0.1", 7000, 1);
		vfd[1] = tcp("127.0.0.1", 7001, 0);
	}
	pid_t pid;
	if (strcmp(mode, "clone") == 0) {
		size_t sz = 256 * 1024;
		char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (stack == MAP_FAILED)
			return 1;
		pid = clone(child_body, stack + sz, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	} else {
		pid = vfork();
		if (pid == 0)
			child_body(NULL);
	}
	if (pid < 0) {
		perror("vfork");
		return 1;
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed");
	if (cold) {
		vfd[0] = tcp("127.0.0.1", 7000, 1);
		vfd[1] = tcp("127.0.0.1", 7001, 0);
	}
	int a = try_bind("127.0.0.1", 7000), b = try_bind("127.0.0.1", 7001),
	    c = try_bind("127.0.0.1", 7002);
	close(a);
	close(b);
	close(c);
	return 0;
}

/* ---- network namespaces -------------------------------------------------------------- */

static int do_netns(void)
{
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0) {
		perror("open /proc/self/ns/net");
		return 1;
	}
	int l = tcp("0.0.0.0", 7000, 1);
	if (unshare(CLONE_NEWNET) != 0) {
		perror("unshare");
		return 1;
	}
	int away = try_bind("0.0.0.0", 7000);
	result("listen away", listen(away, 8));
	if (setns(home, CLONE_NEWNET) != 0) {
		perror("setns");
		return 1;
	}
	int back = try_bind("0.0.0.0", 7000);
	close(back);
	close(away);
	close(l);
	return 0;
}

/* ---- the fd limit at set-up -------------------------------------------------------------- */

static int do_emfile(const char *ip, int port)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("setrlimit");
		return 1;
	}
	int fill[64], nfill = 0, last;
	while (nfill < 64 && (last = open("/dev/null", O_RDONLY)) >= 0)
		fill[nfill++] = last;
	if (nfill == 0 || nfill == 64) {
		fprintf(stderr, "attack-run: could not reach EMFILE\n");
		return 1;
	}
	close(fill[--nfill]);
	int first = socket(AF_INET, SOCK_STREAM, 0); /* the shim sets up here */
	result("first socket", first);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(first);
	int s = try_bind(ip, port);
	close(s);
	return 0;
}

/* ---- a small signal stack ------------------------------------------------------------- */

static const char *sig_ip;
static int sig_port;
static volatile sig_atomic_t sig_r = 1, sig_err;

static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sig_port)};
	inet_pton(AF_INET, sig_ip, &a.sin_addr);
	sig_r = s < 0 ? -1 : bind(s, (struct sockaddr *)&a, sizeof(a));
	sig_err = errno;
	if (s >= 0)
		close(s);
	errno = saved;
}

static int do_altstack(const char *how, size_t size, const char *ip, int port)
{
	sig_ip = ip;
	sig_port = port;
	int warm = -1;
	if (strcmp(how, "warm") == 0)
		warm = socket(AF_INET, SOCK_STREAM, 0);
	/* the stack alone in its mapping, a guard page below it */
	long page = sysconf(_SC_PAGESIZE);
	size_t span = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	char *m = mmap(NULL, span + (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || mprotect(m, (size_t)page, PROT_NONE) != 0)
		return 1;
	stack_t ss = {.ss_sp = m + (size_t)page + span - size, .ss_size = size};
	if (sigaltstack(&ss, NULL) != 0) {
		perror("sigaltstack");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_ONSTACK};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	errno = sig_err;
	result("handler bind", sig_r);
	if (warm >= 0)
		close(warm);
	return 0;
}

/* ---- bad arguments ------------------------------------------------------------------- */

static int do_badargs(void)
{
	struct sockaddr_in ok = v4("127.0.0.1", 7000);
	int s = socket(AF_INET, SOCK_STREAM, 0); /* the shim sets up (and maps) first */
	long page = sysconf(_SC_PAGESIZE);
	/* unmapped: reserved PROT_NONE, so that no later mmap() reuses it */
	void *gone = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* ATTACK_UNMAPPED_BIND=1: the known limit (the shim reads a bind's
	 * address before the kernel does, and crashes where it says EFAULT) */
	bool unmapped_bind = getenv("ATTACK_UNMAPPED_BIND") != NULL;
	if (unmapped_bind)
		result("bind unmapped", bind(s, gone, sizeof(ok)));
	result("bind in the first page", bind(s, (struct sockaddr *)16, sizeof(ok)));
	/* an address whose first bytes are readable and the rest not */
	char *two = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(two + page, (size_t)page, PROT_NONE);
	struct sockaddr_in *edge = (struct sockaddr_in *)(two + page - 4);
	memcpy(edge, &ok, 4);
	if (unmapped_bind)
		result("bind across a page edge", bind(s, (struct sockaddr *)edge, sizeof(ok)));
	result("bind NULL", bind(s, NULL, sizeof(ok)));
	result("bind addrlen 0", bind(s, (struct sockaddr *)&ok, 0));
	result("bind addrlen 1M", bind(s, (struct sockaddr *)&ok, 1 << 20));
	result("bind addrlen -1", bind(s, (struct sockaddr *)&ok, (socklen_t)-1));
	result("bind fd -1", bind(-1, (struct sockaddr *)&ok, sizeof(ok)));
	result("bind fd 1000000", bind(1000000, (struct sockaddr *)&ok, sizeof(ok)));
	int n = open("/dev/null", O_RDONLY);
	result("bind non-socket", bind(n, (struct sockaddr *)&ok, sizeof(ok)));
	close(n);
	result("bind closed fd", bind(n, (struct sockaddr *)&ok, sizeof(ok)));
	result("connect unmapped", connect(s, gone, sizeof(ok)));
	result("connect across a page edge", connect(s, (struct sockaddr *)edge, sizeof(ok)));
	result("setsockopt unmapped", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, gone, sizeof(int)));
	result("setsockopt NULL", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, NULL, sizeof(int)));
	result("setsockopt short", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, "", 1));
	socklen_t len = sizeof(ok);
	/* ATTACK_ASAN: the ASan runtime is preloaded, and its interceptors of
	 * getsockname and accept read *len before the call: not the shim's */
	bool asan = getenv("ATTACK_ASAN") != NULL;
	result("getsockname unmapped", getsockname(s, gone, &len));
	if (!asan)
		result("getsockname len unmapped", getsockname(s, (struct sockaddr *)&ok, gone));
	result("listen fd -1", listen(-1, 1));
	result("bind ok", bind(s, (struct sockaddr *)&ok, sizeof(ok)));
	result("listen", listen(s, 8));
	int cl = socket(AF_INET, SOCK_STREAM, 0);
	result("connect", connect(cl, (struct sockaddr *)&ok, sizeof(ok)));
	fcntl(s, F_SETFL, O_NONBLOCK);
	if (!asan)
		result("accept unmapped len",
		       accept4(s, (struct sockaddr *)&ok, gone, SOCK_NONBLOCK));
	result("dup2 fd -1", dup2(-1, 50));
	result("dup2 to -1", dup2(s, -1));
	result("dup2 to 1000000", dup2(s, 1000000));
	result("close_range inverted", close_range(10, 5, 0));
	result("close -1", close(-1));
	result("socket bad domain", socket(12345, SOCK_STREAM, 0));
	close(cl);
	close(s);
	return 0;
}

/* ---- dup2 and close_range over tracked sockets ------------------------------------------ */

static int do_fds(void)
{
	int a = tcp("127.0.0.1", 7000, 1), b = tcp("127.0.0.1", 7001, 0),
	    c = tcp("127.0.0.1", 7002, 1), d = tcp("127.0.0.1", 7003, 0);
	int null = open("/dev/null", O_RDONLY);
	result("dup2 /dev/null over 7001", dup2(null, b));
	result("dup2 7000 over 7002", dup2(a, c));
	result("dup3 cloexec 7000 over null", dup3(a, null, O_CLOEXEC));
	result("close_range 7003", close_range((unsigned)d, (unsigned)d, 0));
	int r1 = try_bind("127.0.0.1", 7001), r2 = try_bind("127.0.0.1", 7002),
	    r3 = try_bind("127.0.0.1", 7003), r0 = try_bind("127.0.0.1", 7000);
	close(a);
	result("close 7000 via its dup", close(c));
	int r0b = try_bind("127.0.0.1", 7000); /* still open through null's fd */
	close(null);
	int r0c = try_bind("127.0.0.1", 7000);
	close(r0);
	close(r0b);
	close(r1);
	close(r2);
	close(r3);
	close(b);
	close(r0c);
	return 0;
}

static int do_cloexec(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[2], "stage2") == 0) {
		int a = try_bind("127.0.0.1", 7000), b = try_bind("127.0.0.1", 7001),
		    c = try_bind("127.0.0.1", 7002);
		close(a);
		close(b);
		close(c);
		return 0;
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind_to(l, "127.0.0.1", 7000) != 0 || listen(l, 8) != 0)
		return 1;
	int r = tcp("127.0.0.1", 7002, 1); /* made close-on-exec by close_range */
	close_range((unsigned)r, (unsigned)r, CLOSE_RANGE_CLOEXEC);
	int keep = tcp("127.0.0.1", 7001, 1);
	(void)keep;
	fflush(stdout);
	char *args[] = {argv[0], "cloexec", "stage2", NULL};
	execv("/proc/self/exe", args);
	perror("exec");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	if (strcmp(argv[1], "vfork") == 0 && argc == 3)
		return do_vfork(argv[2]);
	if (strcmp(argv[1], "netns") == 0)
		return do_netns();
	if (strcmp(argv[1], "emfile") == 0 && argc == 4)
		return do_emfile(argv[2], atoi(argv[3]));
	if (strcmp(argv[1], "altstack") == 0 && argc == 6)
		return do_altstack(argv[2], (size_t)atol(argv[3]), argv[4], atoi(argv[5]));
	if (strcmp(argv[1], "badargs") == 0)
		return do_badargs();
	if (strcmp(argv[1], "fds") == 0)
		return do_fds();
	if (strcmp(argv[1], "cloexec") == 0)
		return do_cloexec(argc, argv);
usage:
	fprintf(stderr, "usage: attack-run vfork|netns|emfile|altstack|badargs|fds|cloexec ...\n");
	return 2;
}
