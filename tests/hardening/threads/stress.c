/* stress: many threads doing socket/bind/listen/connect/accept/close/dup2/
 * dup3/fcntl(F_DUPFD)/close_range on fd numbers that move between them, for
 * the shim's self-check (BINDGUARD_SELF_CHECK=1) to compare the model with
 * the kernel at exit.
 *
 *   stress [--threads N] [--seconds S] [--seed N] [--ss]
 *
 * Every fd is owned by one thread at a time, as in a correct program: fds
 * move between threads through a shared pool (an atomic exchange hands one
 * over), and a thread that takes another's fd closes it, dup2()s its own
 * socket onto that number, or keeps it. The kernel hands the lowest free
 * number to whoever asks next, so the same numbers pass through every
 * thread, while other threads bind, listen and connect. What the program
 * avoids is what no shim can follow and no correct program does: two
 * threads using one fd number at once (one closes it while the other binds
 * it), and resets the model cannot see (a listener closed with connections
 * in its queue; shutdown()). Connections go to the program's own listeners,
 * whose queues are drained.
 *
 * Prints "# threads=N ops=N duration=S s" and counts; exits 0 unless the
 * program itself could not run (a setup call failed, an accept() waited
 * for a connection that never came). The verdict is the shim's `stop` event.
 * --ss: before exit, count this process's sockets in `ss -tanp` (they are
 * listening or connected: iproute2 before 6.7 shows no bound-only socket).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
int close_range(unsigned first, unsigned last, int flags);

#define MAX_THREADS 64
#define MAX_OWN	    14	 /* fds a thread holds at most */
#define POOL	    32	 /* fds in transit between threads */
#define PRIV_BASE   2000 /* each thread's own block of 16 fd numbers */
#define PRIV_N	    16
#define OUT_BASE    30000 /* ports outside the ephemeral range */

static int nthreads = 16;
static double seconds = 10;
static unsigned seed = 1;
static uint16_t lo, hi; /* ip_local_port_range */
static bool have_v6;
static struct timespec deadline;

static _Atomic int pool[POOL];
static atomic_bool stop_accept;
static int srv4 = -1, srv6 = -1; /* listeners the accept thread drains */
static struct sockaddr_in srv4_addr;
static struct sockaddr_in6 srv6_addr;

static struct {
	atomic_ulong ops, sockets, binds_ok, binds_failed, listens_ok, connects_ok, connects_failed,
		cycles, accepted, closes, dups, handoffs, taken, close_ranges, accept_waits;
} st;

struct worker {
	pthread_t tid;
	int id;
	unsigned rnd;
	int own[MAX_OWN];
	int n;
};

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "stress: %s: %s\n", what, strerror(errno));
	exit(2);
}

static unsigned rnd(struct worker *w, unsigned n)
{
	w->rnd = w->rnd * 1103515245u + 12345u;
	return (w->rnd >> 8) % n;
}

static bool past(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void op(void)
{
	atomic_fetch_add_explicit(&st.ops, 1, memory_order_relaxed);
}

/* ---- the fds a thread owns ---------------------------------------------------------- */

static bool owns(const struct worker *w, int fd)
{
	for (int i = 0; i < w->n; i++)
		if (w->own[i] == fd)
			return true;
	return false;
}

/* w owns fd now; if full, fd is closed instead. */
static void keep(struct worker *w, int fd)
{
	if (fd < 0 || owns(w, fd))
		return;
	if (w->n < MAX_OWN) {
		w->own[w->n++] = fd;
		return;
	}
	op();
	close(fd);
	atomic_fetch_add_explicit(&st.closes, 1, memory_order_relaxed);
}

static void forget(struct worker *w, int fd)
{
	for (int i = 0; i < w->n; i++)
		if (w->own[i] == fd) {
			w->own[i] = w->own[--w->n];
			return;
		}
}

static int pick(struct worker *w)
{
	return w->n ? w->own[rnd(w, (unsigned)w->n)] : -1;
}

static int sockopt(int fd, int level, int opt)
{
	int v = 0;
	socklen_t l = sizeof(v);
	return getsockopt(fd, level, opt, &v, &l) == 0 ? v : -1;
}

/* ---- operations ------------------------------------------------------------------------ */

static void do_socket(struct worker *w)
{
	if (w->n >= MAX_OWN)
		return;
	int family = have_v6 && rnd(w, 3) == 0 ? AF_INET6 : AF_INET;
	int fd = socket(family, SOCK_STREAM | (rnd(w, 2) ? SOCK_CLOEXEC : 0), 0);
	op();
	if (fd < 0)
		return;
	atomic_fetch_add_explicit(&st.sockets, 1, memory_order_relaxed);
	int one = 1;
	if (rnd(w, 3) == 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		op();
	}
	if (rnd(w, 8) == 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		op();
	}
	if (family == AF_INET6 && rnd(w, 4) == 0) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		op();
	}
	keep(w, fd);
}

static uint16_t some_port(struct worker *w)
{
	switch (rnd(w, 4)) {
	case 0:
		return 0;
	case 1:
		return (uint16_t)(OUT_BASE + rnd(w, 64));
	default:
		return (uint16_t)(lo + rnd(w, (unsigned)(hi - lo + 1)));
	}
}

static void do_bind(struct worker *w)
{
	int fd = pick(w);
	if (fd < 0)
		return;
	int family = sockopt(fd, SOL_SOCKET, SO_DOMAIN);
	uint16_t port = some_port(w);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		static const char *const addrs[] = {"::1", "::", "::ffff:127.0.0.1"};
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, addrs[rnd(w, 3)], &a->sin6_addr);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		static const char *const addrs[] = {"127.0.0.1", "127.0.0.2", "0.0.0.0"};
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, addrs[rnd(w, 3)], &a->sin_addr);
		len = sizeof(*a);
	}
	op();
	if (bind(fd, (struct sockaddr *)&ss, len) == 0)
		atomic_fetch_add_explicit(&st.binds_ok, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&st.binds_failed, 1, memory_order_relaxed);
}

/* Where a connection to listener fd goes: its address, a wildcard made loopback. */
static bool target_of(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	if (getsockname(fd, (struct sockaddr *)ss, len) != 0)
		return false;
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return a->sin_port != 0;
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
		a->sin6_addr = in6addr_loopback;
	return a->sin6_port != 0;
}

/* listen(), then connect a new socket to it and accept that connection: the
 * queue is empty again before anyone else can close the listener. */
static void do_listen_cycle(struct worker *w)
{
	int l = pick(w);
	if (l < 0 || sockopt(l, SOL_SOCKET, SO_REUSEPORT) > 0)
		return; /* a reuseport group could hand our connection to another thread */
	op();
	if (listen(l, 64) != 0)
		return;
	atomic_fetch_add_explicit(&st.listens_ok, 1, memory_order_relaxed);
	struct sockaddr_storage ss;
	socklen_t len;
	if (w->n >= MAX_OWN - 1 || !target_of(l, &ss, &len))
		return;
	int c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	op();
	if (c < 0)
		return;
	op();
	if (connect(c, (struct sockaddr *)&ss, len) != 0) {
		atomic_fetch_add_explicit(&st.connects_failed, 1, memory_order_relaxed);
		op();
		close(c);
		return;
	}
	atomic_fetch_add_explicit(&st.connects_ok, 1, memory_order_relaxed);
	keep(w, c);
	/* another thread holding the same listener may take our connection; then
	 * it has left one of its own (each connect comes before its accept) */
	struct pollfd p = {.fd = l, .events = POLLIN};
	if (poll(&p, 1, 5000) != 1) {
		atomic_fetch_add_explicit(&st.accept_waits, 1, memory_order_relaxed);
		return;
	}
	op();
	fcntl(l, F_SETFL, O_NONBLOCK); /* if taken meanwhile: EAGAIN, not a wait */
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (a >= 0) {
		atomic_fetch_add_explicit(&st.cycles, 1, memory_order_relaxed);
		keep(w, a);
	} else if (errno == EAGAIN) { /* taken meanwhile by a thread that left its own */
		p.revents = 0;
		if (poll(&p, 1, 5000) == 1 &&
		    (a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
			keep(w, a);
		else
			atomic_fetch_add_explicit(&st.accept_waits, 1, memory_order_relaxed);
	}
}

/* connect() an owned socket (bound or not) to one of the servers. */
static void do_connect(struct worker *w)
{
	int fd = pick(w);
	if (fd < 0 || sockopt(fd, SOL_SOCKET, SO_ACCEPTCONN) > 0)
		return;
	int family = sockopt(fd, SOL_SOCKET, SO_DOMAIN);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET6 && (rnd(w, 2) || sockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY) > 0)) {
		memcpy(&ss, &srv6_addr, sizeof(srv6_addr));
		len = sizeof(srv6_addr);
	} else if (family == AF_INET6) { /* v4-mapped, to the IPv4 server */
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = srv4_addr.sin_port;
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &a->sin6_addr);
		len = sizeof(*a);
	} else {
		memcpy(&ss, &srv4_addr, sizeof(srv4_addr));
		len = sizeof(srv4_addr);
	}
	op();
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		atomic_fetch_add_explicit(&st.connects_ok, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&st.connects_failed, 1, memory_order_relaxed);
}

static void do_close(struct worker *w)
{
	int fd = pick(w);
	if (fd < 0)
		return;
	forget(w, fd);
	op();
	close(fd);
	atomic_fetch_add_explicit(&st.closes, 1, memory_order_relaxed);
}

/* dup2 one owned fd onto another (the target's socket loses that fd). */
static void do_dup2(struct worker *w)
{
	int a = pick(w), b = pick(w);
	if (a < 0 || b < 0 || a == b)
		return;
	op();
	dup2(a, b);
	atomic_fetch_add_explicit(&st.dups, 1, memory_order_relaxed);
}

/* a new fd for an owned socket: dup, dup3 to a private number, F_DUPFD */
static void do_dup(struct worker *w)
{
	int fd = pick(w);
	if (fd < 0 || w->n >= MAX_OWN)
		return;
	int r;
	op();
	switch (rnd(w, 3)) {
	case 0:
		r = dup(fd);
		break;
	case 1:
		r = PRIV_BASE + w->id * PRIV_N + (int)rnd(w, PRIV_N);
		r = r == fd ? -1 : dup3(fd, r, O_CLOEXEC);
		break;
	default:
		r = fcntl(fd, rnd(w, 2) ? F_DUPFD : F_DUPFD_CLOEXEC, (int)rnd(w, 200));
		break;
	}
	if (r >= 0) {
		atomic_fetch_add_explicit(&st.dups, 1, memory_order_relaxed);
		keep(w, r);
	}
}

/* Close every fd of this thread's private block at once. */
static void do_close_range(struct worker *w)
{
	unsigned first = (unsigned)(PRIV_BASE + w->id * PRIV_N);
	op();
	if (close_range(first, first + PRIV_N - 1, 0) != 0)
		return;
	atomic_fetch_add_explicit(&st.close_ranges, 1, memory_order_relaxed);
	for (int fd = (int)first; fd < (int)first + PRIV_N; fd++)
		forget(w, fd);
}

/* Hand an owned fd to the pool; whatever was in that slot is ours now. */
static void do_handoff(struct worker *w)
{
	int fd = pick(w);
	if (fd < 0 || (fd >= PRIV_BASE && fd < PRIV_BASE + MAX_THREADS * PRIV_N))
		return; /* a private number stays with its thread */
	forget(w, fd);
	int prev = atomic_exchange(&pool[rnd(w, POOL)], fd);
	atomic_fetch_add_explicit(&st.handoffs, 1, memory_order_relaxed);
	keep(w, prev);
}

/* Take another thread's fd from the pool: close it, dup2 onto it, or keep it. */
static void do_take(struct worker *w)
{
	int fd = atomic_exchange(&pool[rnd(w, POOL)], -1);
	if (fd < 0)
		return;
	atomic_fetch_add_explicit(&st.taken, 1, memory_order_relaxed);
	int mine = pick(w);
	switch (rnd(w, 3)) {
	case 0:
		op();
		close(fd);
		atomic_fetch_add_explicit(&st.closes, 1, memory_order_relaxed);
		return;
	case 1:
		if (mine >= 0) {
			op();
			dup2(mine, fd); /* its number, our socket */
			atomic_fetch_add_explicit(&st.dups, 1, memory_order_relaxed);
		}
		break;
	default:
		break;
	}
	keep(w, fd);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	while (!past(&deadline)) {
		switch (rnd(w, 20)) {
		case 0:
		case 1:
		case 2:
			do_socket(w);
			break;
		case 3:
		case 4:
		case 5:
			do_bind(w);
			break;
		case 6:
		case 7:
			do_listen_cycle(w);
			break;
		case 8:
		case 9:
			do_connect(w);
			break;
		case 10:
		case 11:
			do_close(w);
			break;
		case 12:
			do_dup2(w);
			break;
		case 13:
			do_dup(w);
			break;
		case 14:
			do_close_range(w);
			break;
		case 15:
		case 16:
			do_handoff(w);
			break;
		default:
			do_take(w);
			break;
		}
	}
	return NULL;
}

/* ---- the servers ---------------------------------------------------------------------------- */

static int server(int family, uint16_t port, void *addr, socklen_t len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *a = addr;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *a = addr;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
	}
	if (bind(fd, addr, len) != 0 || listen(fd, 4096) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Accept and close at once: the client side then sits in CLOSE_WAIT. */
static unsigned long drain(int fd)
{
	unsigned long n = 0;
	int a;
	while (fd >= 0 && (a = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(a);
		n++;
	}
	return n;
}

static void *acceptor(void *arg)
{
	(void)arg;
	struct pollfd p[2] = {{.fd = srv4, .events = POLLIN}, {.fd = srv6, .events = POLLIN}};
	while (!atomic_load(&stop_accept)) {
		if (poll(p, have_v6 ? 2 : 1, 50) > 0)
			atomic_fetch_add(&st.accepted, drain(srv4) + drain(srv6));
	}
	atomic_fetch_add(&st.accepted, drain(srv4) + drain(srv6)); /* the queues end empty */
	return NULL;
}

static void read_range(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned a, b;
	if (!f || fscanf(f, "%u %u", &a, &b) != 2)
		die("ip_local_port_range");
	fclose(f);
	lo = (uint16_t)a;
	hi = (uint16_t)b;
}

/* This process's sockets in `ss -tanp`. */
static int ss_count(void)
{
	FILE *p = popen("ss -Htanp 2>/dev/null", "r");
	if (!p)
		return -1;
	char line[4096], pat[32];
	snprintf(pat, sizeof(pat), "pid=%d,", getpid());
	int n = 0;
	while (fgets(line, sizeof(line), p))
		n += strstr(line, pat) != NULL;
	return pclose(p) == 0 ? n : -1;
}

int main(int argc, char **argv)
{
	/* the shim is loaded already; children (ss, and under TSan its
	 * symbolizer, which cannot load a TSan-built shim) start without it */
	unsetenv("LD_PRELOAD");
	bool want_ss = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--ss"))
			want_ss = true;
		else {
			fprintf(stderr,
				"usage: stress [--threads N] [--seconds S] [--seed N] [--ss]\n");
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS)
		nthreads = 16;
	read_range();
	struct rlimit rl; /* room for the private blocks of fd numbers */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < PRIV_BASE + MAX_THREADS * PRIV_N) {
		rl.rlim_cur = PRIV_BASE + MAX_THREADS * PRIV_N;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			die("setrlimit(RLIMIT_NOFILE)");
	}
	for (int i = 0; i < POOL; i++)
		atomic_init(&pool[i], -1);
	/* the IPv4 server inside the range (its children are tracked), the
	 * IPv6 one outside it (its children are not) */
	srv4 = server(AF_INET, hi, &srv4_addr, sizeof(srv4_addr));
	if (srv4 < 0)
		die("IPv4 server");
	srv6 = server(AF_INET6, OUT_BASE + 100, &srv6_addr, sizeof(srv6_addr));
	have_v6 = srv6 >= 0;
	pthread_t acc;
	if (pthread_create(&acc, NULL, acceptor, NULL) != 0)
		die("pthread_create");

	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	deadline = t0;
	deadline.tv_sec += (time_t)seconds;
	deadline.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	for (int i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].rnd = seed * 7919u + (unsigned)i * 104729u + 1;
		if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(w[i].tid, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_store(&stop_accept, true);
	pthread_join(acc, NULL);

	double dur = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	unsigned long held = 0;
	for (int i = 0; i < nthreads; i++)
		held += (unsigned long)w[i].n;
	for (int i = 0; i < POOL; i++)
		held += atomic_load(&pool[i]) >= 0;
	printf("# threads=%d ops=%lu duration=%.1f s (%.0f ops/s)\n", nthreads,
	       (unsigned long)st.ops, dur, (double)st.ops / dur);
	printf("# sockets=%lu binds=%lu/%lu listens=%lu connects=%lu/%lu accept_cycles=%lu "
	       "served=%lu closes=%lu dups=%lu close_ranges=%lu handoffs=%lu taken=%lu "
	       "fds_held_at_end=%lu ipv6=%s\n",
	       (unsigned long)st.sockets, (unsigned long)st.binds_ok,
	       (unsigned long)(st.binds_ok + st.binds_failed), (unsigned long)st.listens_ok,
	       (unsigned long)st.connects_ok, (unsigned long)(st.connects_ok + st.connects_failed),
	       (unsigned long)st.cycles, (unsigned long)st.accepted, (unsigned long)st.closes,
	       (unsigned long)st.dups, (unsigned long)st.close_ranges, (unsigned long)st.handoffs,
	       (unsigned long)st.taken, held, have_v6 ? "yes" : "no");
	if (want_ss)
		printf("ss_sockets=%d\n", ss_count());
	fflush(stdout);
	if (st.accept_waits) {
		fprintf(stderr, "stress: %lu accept() waits ran out: the run is not valid\n",
			(unsigned long)st.accept_waits);
		return 2;
	}
	return 0; /* the shim's self-check runs now, at exit */
}
