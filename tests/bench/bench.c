/* bench.c: bindguard's benchmarks (issue 6, rebuilt for issue 12's per-call budget).
 *
 * One binary, two roles. Run plain, it is the orchestrator: for each level of
 * background load (0, 10,000 and 50,000 other ESTABLISHED sockets, held by
 * helper processes) it moves into a fresh network namespace, and re-execs
 * itself as a child per measurement, interleaved: without the shim (A), with
 * it (B: LD_PRELOAD, BINDGUARD_MODE=audit, BINDGUARD_LOG=<temp file>), and for
 * the bind-before-connect loop also with the remedy on (BINDGUARD_REMEDY=on);
 * A B [B'] A B [B'] ..., several repetitions, the median of the per-repetition
 * ratios. The child is the same binary in the same namespace; only its
 * environment differs.
 *
 * Every measurement is bounded by time, not by a count of operations: a
 * child runs its workload for a budget (about a second) or a maximum count,
 * whichever comes first, and the throughput is what finished. A shim that
 * takes seconds per call makes a row slow to report, not the bench endless
 * (one operation is the least a child does, and a child that outlives its
 * budget by a minute is killed and reported as such).
 *
 * Run as `bench child WORKLOAD N budget MS`, it measures WORKLOAD and prints
 * "ns <per-op> ops <measured> total <incl. warm-up>"; `bench child WORKLOAD N
 * once` runs exactly N operations (tests/bench/profile.sh counts their
 * instructions); `bench child WORKLOAD N mark MS` runs the operations one at
 * a time between two marker syscalls, for strace: what the shim does inside
 * one call is what lies between the markers.
 *
 * Benchmarks report; they never fail on a target: the exit status is 0
 * unless the benchmark itself could not run (not root, no shim library).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Ports and addresses. Listeners and the out-of-range bind sit below the
 * default ephemeral range (32768-60999) that every fresh namespace has;
 * IN_PORT is the in-range port profile.sh binds inside its tiny range. */
#define LISTEN_PORT	  5000
#define OWNER_LISTEN_BASE 5100 /* the 16 owners' peers: 5100..5115 */
#define BG_PORT_BASE	  7000
#define BG_PORTS	  5
#define OUT_PORT	  20000
#define IN_PORT		  61005
#define CLIENT_ADDR	  "127.0.0.2" /* the bind-before-connect client's source */
#define OWNERS		  16
#define HOG_FDS		  20000
#define SUBBATCHES	  5
#define MAX_REPS	  31
#define MAX_VARIANTS	  2
#define CLOSE_BATCH	  1000
#define MAX_WINDOWS	  4096
#define MARK_BEGIN	  "/bindguard-bench-mark/begin"
#define MARK_END	  "/bindguard-bench-mark/end"

/* ---- small helpers ---------------------------------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Quantile q (0..1) of v[0..n), linear between order statistics. */
static double quantile(const double *v, int n, double q)
{
	if (n <= 0)
		return 0;
	double *s = malloc(sizeof(double) * (size_t)n);
	if (!s)
		die("out of memory");
	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	double pos = q * (n - 1);
	int i = (int)pos;
	double f = pos - i;
	double r = i + 1 < n ? s[i] * (1 - f) + s[i + 1] * f : s[i];
	free(s);
	return r;
}

static double median(const double *v, int n)
{
	return quantile(v, n, 0.5);
}

/* Raise RLIMIT_NOFILE to want, or as far as allowed (without CAP_SYS_RESOURCE the
 * hard limit caps it); returns the soft limit now in force. */
static rlim_t raise_nofile(rlim_t want)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		return 0;
	if (r.rlim_cur >= want)
		return r.rlim_cur;
	struct rlimit w = {want, r.rlim_max > want ? r.rlim_max : want};
	if (setrlimit(RLIMIT_NOFILE, &w) == 0)
		return want;
	r.rlim_cur = r.rlim_max < want ? r.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &r);
	getrlimit(RLIMIT_NOFILE, &r);
	return r.rlim_cur;
}

static void need_nofile(rlim_t want)
{
	rlim_t got = raise_nofile(want);
	if (got < want)
		die("RLIMIT_NOFILE: need %lu, got %lu", (unsigned long)want, (unsigned long)got);
}

static struct sockaddr_in addr4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		die("bad address %s", ip);
	return a;
}

static struct sockaddr_in loopback(uint16_t port)
{
	return addr4("127.0.0.1", port);
}

static int listener(uint16_t port, int backlog)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int on = 1;
	struct sockaddr_in a = loopback(port);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, backlog) != 0)
		die("listener on %u: %s", port, strerror(errno));
	return l;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* ---- the child: one workload ------------------------------------------------------- */

typedef double (*workload_fn)(long n); /* returns the clock time of n operations, ns */

/* Mark mode (under strace): a failed access() of a path nobody has, just
 * before and just after each operation; the parser counts what lies between. */
static bool marking;

static void mark(const char *path)
{
	if (marking)
		(void)access(path, F_OK);
}

/* The in-range port of the bind workloads: the orchestrator picks one that
 * nobody holds (or the owners' port), profile.sh relies on IN_PORT. */
static uint16_t bench_port(void)
{
	const char *p = getenv("BENCH_PORT");
	return p && *p ? (uint16_t)atoi(p) : IN_PORT;
}

/* One operation each, never inlined: profile.sh reads their inclusive
 * instruction counts from callgrind (tests/bench/profile.sh). */
#define OP __attribute__((noinline))
OP int op_close(int fd);
OP int op_socket_close(void);
OP int op_connect_cycle(int l, const struct sockaddr_in *a);
OP int op_bbc_cycle(int l, const struct sockaddr_in *src, const struct sockaddr_in *dst);
OP int op_bind(int s, const struct sockaddr_in *a);
OP int op_bind_cycle(const struct sockaddr_in *a);

OP int op_close(int fd)
{
	return close(fd);
}

OP int op_socket_close(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	return close(s);
}

OP int op_connect_cycle(int l, const struct sockaddr_in *a)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof(*a)) != 0)
		return -1;
	int s = accept(l, NULL, NULL);
	if (s < 0)
		return -1;
	close(s); /* the server hangs up first: its TIME_WAIT keeps no client port */
	return close(c);
}

/* A client that picks its source address before connecting (a proxy's
 * proxy_bind, a multi-homed client): bind(addr, 0) takes a port at once. */
OP int op_bbc_cycle(int l, const struct sockaddr_in *src, const struct sockaddr_in *dst)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0)
		return -1;
	if (bind(c, (const struct sockaddr *)src, sizeof(*src)) != 0 ||
	    connect(c, (const struct sockaddr *)dst, sizeof(*dst)) != 0)
		return -1;
	int s = accept(l, NULL, NULL);
	if (s < 0)
		return -1;
	close(s);
	return close(c);
}

OP int op_bind(int s, const struct sockaddr_in *a)
{
	return bind(s, (const struct sockaddr *)a, sizeof(*a));
}

OP int op_bind_cycle(const struct sockaddr_in *a)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	int r = bind(s, (const struct sockaddr *)a, sizeof(*a));
	int err = errno;
	close(s);
	errno = err;
	return r;
}

/* close() of pipe ends and dup'd files, the fds every program closes; only
 * the close() calls are on the clock. */
static double w_close(long n)
{
	static int fds[CLOSE_BATCH];
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		die("open /dev/null: %s", strerror(errno));
	double t = 0;
	for (long done = 0; done < n;) {
		int want = n - done < CLOSE_BATCH ? (int)(n - done) : CLOSE_BATCH, k = 0;
		while (k + 2 <= want / 2 + 1 && k + 2 <= want) {
			int p[2];
			if (pipe2(p, O_CLOEXEC) != 0)
				die("pipe2: %s", strerror(errno));
			fds[k++] = p[0];
			fds[k++] = p[1];
		}
		while (k < want) {
			int d = dup(devnull);
			if (d < 0)
				die("dup: %s", strerror(errno));
			fds[k++] = d;
		}
		double t0 = now_ns();
		for (int i = 0; i < want; i++) {
			mark(MARK_BEGIN);
			op_close(fds[i]);
			mark(MARK_END);
		}
		t += now_ns() - t0;
		done += want;
	}
	close(devnull);
	return t;
}

static double w_socket(long n)
{
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (op_socket_close() != 0)
			die("socket + close: %s", strerror(errno));
	return now_ns() - t0;
}

static int main_listener = -1;

static int the_listener(void)
{
	if (main_listener < 0)
		main_listener = listener(LISTEN_PORT, 1024);
	return main_listener;
}

static double w_connect(long n)
{
	int l = the_listener();
	struct sockaddr_in a = loopback(LISTEN_PORT);
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		mark(MARK_BEGIN);
		int r = op_connect_cycle(l, &a);
		mark(MARK_END);
		if (r != 0)
			die("connect + accept + close: %s", strerror(errno));
	}
	return now_ns() - t0;
}

static double w_bbc(long n)
{
	int l = the_listener();
	struct sockaddr_in src = addr4(CLIENT_ADDR, 0), dst = loopback(LISTEN_PORT);
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		mark(MARK_BEGIN);
		int r = op_bbc_cycle(l, &src, &dst);
		mark(MARK_END);
		if (r != 0)
			die("bind-before-connect: %s", strerror(errno));
	}
	return now_ns() - t0;
}

/* socket(); timed bind(); close(): only the bind is on the clock. */
static double bind_loop(long n, const char *ip, uint16_t port)
{
	struct sockaddr_in a = addr4(ip, port);
	double t = 0;
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket: %s", strerror(errno));
		double t0 = now_ns();
		mark(MARK_BEGIN);
		int r = op_bind(s, &a);
		mark(MARK_END);
		t += now_ns() - t0;
		if (r != 0)
			die("bind %s:%u: %s", ip, port, strerror(errno));
		close(s);
	}
	return t;
}

static double w_bind_out(long n)
{
	return bind_loop(n, "127.0.0.1", OUT_PORT);
}

static double w_bind_in(long n)
{
	return bind_loop(n, "127.0.0.1", bench_port());
}

/* Into the port of the 16 owners (127.0.0.1:P, connect()-made): from
 * another address, which the kernel lets share the port without
 * SO_REUSEADDR; the bind turns their bucket into a bind()'s (a pin). */
static double w_owner_bind(long n)
{
	return bind_loop(n, CLIENT_ADDR, bench_port());
}

/* socket + bind(in-range port nobody holds) + close, all on the clock. */
static double w_bind_cycle(long n)
{
	struct sockaddr_in a = loopback(bench_port());
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		mark(MARK_BEGIN);
		int r = op_bind_cycle(&a);
		mark(MARK_END);
		if (r != 0)
			die("in-range bind %u: %s", bench_port(), strerror(errno));
	}
	return now_ns() - t0;
}

/* getsockname() of a bound TCP socket the shim tracks: the remedy's hook
 * on a socket it did not touch. */
static double w_getsockname(long n)
{
	static int s = -1;
	if (s < 0)
		s = listener(OUT_PORT, 16);
	struct sockaddr_in a;
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		socklen_t l = sizeof(a);
		mark(MARK_BEGIN);
		int r = getsockname(s, (struct sockaddr *)&a, &l);
		mark(MARK_END);
		if (r != 0)
			die("getsockname: %s", strerror(errno));
	}
	return now_ns() - t0;
}

static const struct {
	const char *name;
	workload_fn fn;
} workloads[] = {
	{"close", w_close},
	{"socket", w_socket},
	{"connect", w_connect},
	{"bbc", w_bbc},
	{"bind_out", w_bind_out},
	{"bind_in", w_bind_in},
	{"bind_cycle", w_bind_cycle},
	{"owner_bind", w_owner_bind},
	{"getsockname", w_getsockname},
};

/* Chunks of doubling size, each no longer than the time left allows at the
 * rate seen so far, until max_ops or wall_ns of wall time: returns the
 * operations done, *timed the clock time the workload measured for them. */
static long run_slice(workload_fn fn, long max_ops, double wall_ns, double *timed)
{
	double start = now_ns();
	long done = 0, chunk = 1;
	*timed = 0;
	while (done < max_ops) {
		if (chunk > max_ops - done)
			chunk = max_ops - done;
		*timed += fn(chunk);
		done += chunk;
		double el = now_ns() - start;
		if (el >= wall_ns)
			break;
		double fit = (wall_ns - el) / (el / (double)done);
		chunk = (double)(2 * chunk) < fit ? 2 * chunk : (long)fit;
		if (chunk < 1)
			chunk = 1;
	}
	return done;
}

/* A warm-up (resolve, fault in, first-use init), then SUBBATCHES slices in
 * the rest of the budget; the median per-operation time of the slices. One
 * operation that eats the whole budget is the measurement itself. */
static void run_budget(workload_fn fn, long nmax, double budget_ns)
{
	double start = now_ns(), timed;
	long warm = run_slice(fn, nmax / 20 > 0 ? nmax / 20 : 1, budget_ns / 10, &timed);
	if (now_ns() - start >= budget_ns) {
		printf("ns %.3f ops %ld total %ld cold\n", timed / (double)warm, warm, warm);
		return;
	}
	double v[SUBBATCHES];
	double slice_ns = (budget_ns - (now_ns() - start)) / SUBBATCHES;
	long per = nmax / SUBBATCHES > 0 ? nmax / SUBBATCHES : 1, ops = 0;
	int k = 0;
	while (k < SUBBATCHES) {
		long n = run_slice(fn, per, slice_ns, &timed);
		v[k++] = timed / (double)n;
		ops += n;
		if (now_ns() - start > 1.5 * budget_ns)
			break; /* slow operations: what finished is the figure */
	}
	printf("ns %.3f ops %ld total %ld\n", median(v, k), ops, ops + warm);
}

/* Threads that each made a socket call, alive while the resident size is read. */
static pthread_barrier_t made, measured;

static void *thread_body(void *unused)
{
	op_socket_close();
	pthread_barrier_wait(&made);
	pthread_barrier_wait(&measured);
	return NULL;
}

static long rss_threads(long n)
{
	pthread_t *t = calloc((size_t)n + 1, sizeof(*t));
	if (!t || pthread_barrier_init(&made, NULL, (unsigned)n + 1) != 0 ||
	    pthread_barrier_init(&measured, NULL, (unsigned)n + 1) != 0)
		die("threads: out of memory");
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, thread_body, NULL) != 0)
			die("pthread_create %ld failed", i);
	pthread_barrier_wait(&made);
	long kb = rss_kb();
	pthread_barrier_wait(&measured);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
	return kb;
}

static int child(int argc, char **argv)
{
	if (argc < 4)
		die("usage: bench child WORKLOAD N [once | budget MS | mark MS]");
	long n = atol(argv[3]);
	if (strcmp(argv[2], "rss") == 0) {
		/* N unconnected TCP sockets, then the resident size; the first
		 * call starts the shim, so N = 0 holds its fixed cost */
		need_nofile((rlim_t)n + 64);
		op_socket_close();
		for (long i = 0; i < n; i++)
			if (socket(AF_INET, SOCK_STREAM, 0) < 0)
				die("socket %ld: %s", i, strerror(errno));
		printf("rss %ld\n", rss_kb());
		return 0;
	}
	if (strcmp(argv[2], "rss_threads") == 0) {
		op_socket_close(); /* the main thread's first call: the shim's start-up */
		printf("rss %ld\n", rss_threads(n));
		return 0;
	}
	if (strcmp(argv[2], "rss_cycles") == 0 || strcmp(argv[2], "rss_connect") == 0) {
		/* RSS growth over N socket()+close() or connect+accept+close cycles */
		bool conn = strcmp(argv[2], "rss_connect") == 0;
		(conn ? w_connect : w_socket)(1000);
		long before = rss_kb();
		(conn ? w_connect : w_socket)(n);
		printf("rss %ld\n", rss_kb() - before);
		return 0;
	}
	workload_fn fn = NULL;
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (strcmp(argv[2], workloads[i].name) == 0)
			fn = workloads[i].fn;
	if (!fn)
		die("unknown workload %s", argv[2]);
	need_nofile(CLOSE_BATCH + 64);
	if (n < 1)
		n = 1;
	const char *mode = argc >= 5 ? argv[4] : "once";
	double budget_ns = argc >= 6 ? atof(argv[5]) * 1e6 : 1e9;
	if (strcmp(mode, "once") == 0) {
		/* exactly n operations, no warm-up: for instruction counts (profile.sh) */
		printf("ns %.3f\n", fn(n) / (double)n);
	} else if (strcmp(mode, "budget") == 0) {
		run_budget(fn, n, budget_ns);
	} else if (strcmp(mode, "mark") == 0) {
		marking = true;
		double timed;
		printf("ops %ld\n", run_slice(fn, n, budget_ns, &timed));
	} else {
		die("unknown mode %s", mode);
	}
	return 0;
}

/* ---- the orchestrator ---------------------------------------------------------------- */

static struct {
	char self[4096];
	char lib[4096];
	char tool[4096];
	char agent[4096];     /* bindguard-agent, for the rows that run with it */
	char agent_why[4400]; /* why those rows were skipped, once known */
	char tmp[256];
	char log[300];
	char cfg[300];
	char trace[300];
	int reps;
	double budget_ms; /* per child */
	double grace_s;	  /* a child still running this long after its budget is killed */
	bool quick;
	bool have_strace;
	FILE *md; /* RESULTS table, or NULL */
} o;

enum variant { V_NONE, V_SHIM, V_REMEDY };

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	if (o.md) {
		va_start(ap, fmt);
		vfprintf(o.md, fmt, ap);
		va_end(ap);
		fflush(o.md);
	}
}

/* In a forked child: the variant's environment, nothing inherited. */
static void child_env(enum variant v)
{
	static const char *const vars[] = {"LD_PRELOAD",       "BINDGUARD_MODE",
					   "BINDGUARD_LOG",    "BINDGUARD_PROFILE",
					   "BINDGUARD_REMEDY", "BINDGUARD_SELF_CHECK"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("BINDGUARD_CONFIG", o.cfg, 1);
	if (v == V_NONE)
		return;
	setenv("LD_PRELOAD", o.lib, 1);
	setenv("BINDGUARD_MODE", "audit", 1);
	setenv("BINDGUARD_LOG", o.log, 1);
	if (v == V_REMEDY)
		setenv("BINDGUARD_REMEDY", "on", 1);
}

struct spawned {
	char text[512]; /* the first 511 bytes of its stdout */
	bool ok;	/* exited 0 */
	bool killed;	/* ran past its deadline */
	double secs;	/* wall time */
};

/* Run argv in its own process group with v's environment; kill the group
 * after timeout_s. */
static struct spawned spawn(char *const argv[], enum variant v, double timeout_s)
{
	struct spawned s = {.ok = false};
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe2: %s", strerror(errno));
	double t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		dup2(p[1], STDOUT_FILENO);
		child_env(v);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	close(p[1]);
	size_t len = 0;
	double deadline = t0 + timeout_s * 1e9;
	for (;;) {
		double left = deadline - now_ns();
		if (left <= 0) {
			kill(-pid, SIGKILL);
			s.killed = true;
			break;
		}
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int r = poll(&pf, 1, left > 1e9 ? 1000 : (int)(left / 1e6) + 1);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		char tmp[512];
		ssize_t n = read(p[0], tmp, sizeof(tmp));
		if (n <= 0)
			break;
		size_t take =
			(size_t)n < sizeof(s.text) - 1 - len ? (size_t)n : sizeof(s.text) - 1 - len;
		memcpy(s.text + len, tmp, take);
		len += take;
	}
	close(p[0]);
	s.text[len] = 0;
	int st;
	waitpid(pid, &st, 0);
	s.secs = (now_ns() - t0) / 1e9;
	s.ok = !s.killed && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	return s;
}

/* Events in the log: all but the shim's start and stop lines, and those
 * naming a hazard. */
static void count_log(long *events, long *hazards)
{
	*events = *hazards = 0;
	FILE *f = fopen(o.log, "re");
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		if (strstr(line, "\"action\":\"start\"") || strstr(line, "\"action\":\"stop\""))
			continue;
		(*events)++;
		if (strstr(line, "\"hazard\":\"pin"))
			(*hazards)++;
	}
	free(line);
	fclose(f);
}

struct run {
	bool ok, killed, cold;
	double ns;	      /* per operation */
	long ops, total;      /* measured, and with the warm-up */
	long events, hazards; /* lines the shim wrote */
	double secs;
};

static struct run run_child(enum variant v, const char *workload, long nmax)
{
	char nbuf[32], bbuf[32];
	snprintf(nbuf, sizeof(nbuf), "%ld", nmax);
	snprintf(bbuf, sizeof(bbuf), "%.0f", o.budget_ms);
	char *argv[] = {o.self, "child", (char *)workload, nbuf, "budget", bbuf, NULL};
	unlink(o.log);
	struct spawned s = spawn(argv, v, o.budget_ms / 1e3 * 1.5 + o.grace_s);
	struct run r = {.killed = s.killed, .secs = s.secs};
	r.ok = s.ok && sscanf(s.text, "ns %lf ops %ld total %ld", &r.ns, &r.ops, &r.total) == 3 &&
	       r.ns > 0;
	r.cold = r.ok && strstr(s.text, "cold") != NULL;
	if (v != V_NONE)
		count_log(&r.events, &r.hazards);
	if (!r.ok)
		fprintf(stderr, "bench: child %s (%s) %s after %.1f s\n", workload,
			v == V_NONE ? "no shim" : "shim", s.killed ? "killed" : "failed", s.secs);
	return r;
}

static double run_rss(enum variant v, const char *what, long n)
{
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	char *argv[] = {o.self, "child", (char *)what, nbuf, NULL};
	unlink(o.log);
	struct spawned s = spawn(argv, v, 120);
	double kb;
	if (!s.ok || sscanf(s.text, "rss %lf", &kb) != 1)
		return -1;
	return kb;
}

/* ---- one measured cell: A and B, paired, reps times ----------------------------------- */

struct cell {
	bool ok, killed, cold;
	int n;		     /* pairs */
	double ns_a, ns_b;   /* median per-operation times */
	double thr, lo, hi;  /* throughput ratio B/A: median, min, max of the pairs */
	double time_ratio;   /* median of per-pair B/A times */
	double events, haz;  /* per operation, from the shim's log */
	double kill_after_s; /* when killed: the wall time it had had */
};

/* A, then each of vs, reps times; one cell per variant. */
static void measure(const char *workload, long nmax, int reps, int nv, const enum variant *vs,
		    struct cell *cells)
{
	double a[MAX_VARIANTS][MAX_REPS], b[MAX_VARIANTS][MAX_REPS];
	double thr[MAX_VARIANTS][MAX_REPS], tr[MAX_VARIANTS][MAX_REPS];
	long ev[MAX_VARIANTS] = {0}, hz[MAX_VARIANTS] = {0}, ops[MAX_VARIANTS] = {0};
	int k[MAX_VARIANTS] = {0};
	memset(cells, 0, sizeof(*cells) * (size_t)nv);
	for (int r = 0; r < reps; r++) {
		struct run ra = run_child(V_NONE, workload, nmax);
		for (int v = 0; v < nv; v++) {
			struct run rb = run_child(vs[v], workload, nmax);
			if (rb.killed) {
				cells[v].killed = true;
				cells[v].kill_after_s = rb.secs;
			}
			if (!ra.ok || !rb.ok)
				continue;
			cells[v].cold |= rb.cold;
			a[v][k[v]] = ra.ns;
			b[v][k[v]] = rb.ns;
			thr[v][k[v]] = ra.ns / rb.ns;
			tr[v][k[v]] = rb.ns / ra.ns;
			k[v]++;
			ev[v] += rb.events;
			hz[v] += rb.hazards;
			ops[v] += rb.total;
		}
		/* a shim that had to be killed would be killed again: one is enough */
		bool all_killed = true;
		for (int v = 0; v < nv; v++)
			all_killed &= cells[v].killed;
		if (all_killed)
			break;
	}
	for (int v = 0; v < nv; v++) {
		struct cell *c = &cells[v];
		if (!(c->n = k[v]))
			continue;
		c->ok = true;
		c->ns_a = median(a[v], k[v]);
		c->ns_b = median(b[v], k[v]);
		c->thr = median(thr[v], k[v]);
		c->lo = quantile(thr[v], k[v], 0);
		c->hi = quantile(thr[v], k[v], 1);
		c->time_ratio = median(tr[v], k[v]);
		c->events = ops[v] ? (double)ev[v] / (double)ops[v] : 0;
		c->haz = ops[v] ? (double)hz[v] / (double)ops[v] : 0;
	}
}

static void fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 0)
		snprintf(buf, len, "failed");
	else if (ns >= 1e9)
		snprintf(buf, len, "%.2f s", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else if (ns >= 1e4)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns >= 1e3)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else
		snprintf(buf, len, "%.0f ns", ns);
}

static const char *verdict(bool met)
{
	return met ? "met" : "missed";
}

/* ---- the rows and their targets ------------------------------------------------------ */

enum goal { THROUGHPUT_MIN, TIME_MAX };

static const struct row {
	const char *label;
	const char *workload;
	enum variant v;
	enum goal goal;
	double target;
	bool agent; /* measured with bindguard agent running, for A and B alike */
} rows[] = {
	{"bind-before-connect loop: socket, bind(127.0.0.2:0), connect, accept, close (audit)",
	 "bbc", V_SHIM, THROUGHPUT_MIN, 0.90, false},
	{"the same, remedy on (BINDGUARD_REMEDY=on)", "bbc", V_REMEDY, THROUGHPUT_MIN, 0.90, false},
	{"in-range bind + close, free port: socket, bind(127.0.0.1:P), close", "bind_cycle", V_SHIM,
	 THROUGHPUT_MIN, 0.50, false},
	{"the same with bindguard agent running (A and B): the shim reads its port page",
	 "bind_cycle", V_SHIM, THROUGHPUT_MIN, 0.90, true},
	{"close() of a non-socket fd", "close", V_SHIM, TIME_MAX, 1.02, false},
	{"connect + accept + close (loopback)", "connect", V_SHIM, TIME_MAX, 1.05, false},
	{"bind() outside the ephemeral range (the bind alone)", "bind_out", V_SHIM, TIME_MAX, 1.10,
	 false},
	{"getsockname() of a tracked socket", "getsockname", V_SHIM, TIME_MAX, 1.05, false},
};
#define NROWS  (int)(sizeof(rows) / sizeof(rows[0]))
#define LEVELS 3
static const long level_conns[LEVELS] = {0, 5000, 25000}; /* 2 sockets a connection */

static void target_text(const struct row *r, char *buf, size_t len)
{
	if (r->goal == THROUGHPUT_MIN)
		snprintf(buf, len, "throughput >= %.2f", r->target);
	else
		snprintf(buf, len, "time <= %.2f (throughput >= %.3f)", r->target, 1 / r->target);
}

static bool cell_met(const struct row *r, const struct cell *c)
{
	if (!c->ok)
		return false;
	return r->goal == THROUGHPUT_MIN ? c->thr >= r->target : c->time_ratio <= r->target;
}

/* ---- network namespaces and helper processes ----------------------------------------- */

static void set_range(const char *range)
{
	if (write_file("/proc/sys/net/ipv4/ip_local_port_range", range) != 0)
		die("ip_local_port_range: %s", strerror(errno));
}

static void get_range(uint16_t *low, uint16_t *high)
{
	char buf[64] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	unsigned a = 32768, b = 60999;
	if (f && fgets(buf, sizeof(buf), f))
		sscanf(buf, "%u %u", &a, &b);
	if (f)
		fclose(f);
	*low = (uint16_t)a;
	*high = (uint16_t)b;
}

static void fresh_netns(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		die("unshare(CLONE_NEWNET): %s (run as root)", strerror(errno));
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		die("SIOCGIFFLAGS lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		die("SIOCSIFFLAGS lo: %s", strerror(errno));
	close(s);
}

#define MAX_HELPERS 16

/* Processes that prepare something, report a number, and live until
 * helpers_stop() kills them (or the orchestrator dies: PR_SET_PDEATHSIG). */
struct helpers {
	pid_t pid[MAX_HELPERS];
	int n;
};

static long helper_add(struct helpers *h, long (*prep)(long), long arg)
{
	if (h->n == MAX_HELPERS)
		die("too many helper processes");
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) != 0)
		die("pipe2: %s", strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(ready[0]);
		long v = prep(arg);
		if (write(ready[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	long v;
	ssize_t n = read(ready[0], &v, sizeof(v));
	close(ready[0]);
	if (n != (ssize_t)sizeof(v)) {
		waitpid(pid, NULL, 0);
		die("helper process failed");
	}
	h->pid[h->n++] = pid;
	return v;
}

static void helpers_stop(struct helpers *h)
{
	for (int i = 0; i < h->n; i++) {
		kill(h->pid[i], SIGKILL);
		waitpid(h->pid[i], NULL, 0);
	}
	h->n = 0;
}

/* arg = index << 32 | connections: that many loopback connections to
 * listeners of its own, both ends held. */
static long background_prep(long arg)
{
	long mine = arg & 0xffffffff, index = arg >> 32;
	int base = BG_PORT_BASE + BG_PORTS * (int)index;
	need_nofile((rlim_t)(2 * mine + 64));
	int l[BG_PORTS];
	for (int i = 0; i < BG_PORTS; i++)
		l[i] = listener((uint16_t)(base + i), 4096);
	for (long i = 0; i < mine; i++) {
		struct sockaddr_in a = loopback((uint16_t)(base + i % BG_PORTS));
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
			die("background connect %ld: %s", i, strerror(errno));
		if (accept4(l[i % BG_PORTS], NULL, NULL, SOCK_CLOEXEC) < 0)
			die("background accept %ld: %s", i, strerror(errno));
	}
	return mine;
}

/* `conns` loopback connections (2 * conns ESTABLISHED sockets) in the
 * current namespace, with its ephemeral range: as many processes as
 * RLIMIT_NOFILE requires. */
static void background(struct helpers *h, long conns)
{
	if (conns <= 0)
		return;
	rlim_t lim = raise_nofile((rlim_t)(2 * conns + 256));
	long per = ((long)lim - 256) / 2;
	if (per < 1000)
		die("RLIMIT_NOFILE %lu too low for background sockets", (unsigned long)lim);
	for (long done = 0, i = 0; done < conns; done += per, i++) {
		long mine = conns - done < per ? conns - done : per;
		helper_add(h, background_prep, i << 32 | mine);
	}
}

/* Open file descriptors until `want` are open (or the limit stops it): a
 * process that makes every walk of /proc/<pid>/fd costly. Returns the count. */
static long hog_prep(long want)
{
	raise_nofile((rlim_t)want);
	long open_now = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			open_now++;
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0)
		die("open /dev/null: %s", strerror(errno));
	open_now++;
	while (open_now < want && dup(devnull) >= 0)
		open_now++;
	return open_now;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 ? ti.tcpi_state : -1;
}

/* 16 sockets on the one-port range's port, each connect()ed to a listener
 * of its own (so the port's bucket is connect()-made), the first of them
 * half-closed: its peer hung up and it was never closed here (CLOSE_WAIT).
 * Returns the port they share. */
static long owners_prep(long port)
{
	int l[OWNERS], c[OWNERS], s[OWNERS];
	for (int i = 0; i < OWNERS; i++)
		l[i] = listener((uint16_t)(OWNER_LISTEN_BASE + i), 4);
	for (int i = 0; i < OWNERS; i++) {
		struct sockaddr_in a = loopback((uint16_t)(OWNER_LISTEN_BASE + i)), me;
		socklen_t len = sizeof(me);
		c[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (c[i] < 0 || connect(c[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(c[i], (struct sockaddr *)&me, &len) != 0)
			die("owner %d: connect: %s", i, strerror(errno));
		if (ntohs(me.sin_port) != port)
			die("owner %d got port %u, not %ld", i, ntohs(me.sin_port), port);
		if ((s[i] = accept(l[i], NULL, NULL)) < 0)
			die("owner %d: accept: %s", i, strerror(errno));
	}
	close(s[0]);
	for (int i = 0; i < 1000 && tcp_state(c[0]) != TCP_CLOSE_WAIT; i++)
		usleep(1000);
	if (tcp_state(c[0]) != TCP_CLOSE_WAIT)
		die("owner 0 is not in CLOSE_WAIT (state %d)", tcp_state(c[0]));
	return port;
}

/* A port in [low, high] that nobody holds: a wildcard bind without
 * SO_REUSEADDR conflicts with any owner of the port, so its success says so. */
static uint16_t free_port(uint16_t low, uint16_t high, uint16_t avoid)
{
	for (unsigned p = high; p >= low; p--) {
		if (p == avoid)
			continue;
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int r = s < 0 ? -1 : bind(s, (struct sockaddr *)&a, sizeof(a));
		if (s >= 0)
			close(s);
		if (r == 0)
			return (uint16_t)p;
	}
	die("no free port in %u-%u", low, high);
	return 0;
}

/* ---- sock_diag vs /proc/net/tcp, measured in this process ------------------------------ */

struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 req;
	struct nlattr bc_attr;
	struct inet_diag_bc_op bc[4];
};

/* The shim's query (shim/kernel.c): low <= sport <= high, every owner state
 * (TCP_NEW_SYN_RECV aside), plus TCP_BOUND_INACTIVE (6.6+) if asked. */
static int diag_dump(int nl, uint8_t family, uint16_t low, uint16_t high, bool bound_inactive)
{
	struct diag_req r;
	memset(&r, 0, sizeof(r));
	r.nlh.nlmsg_len = sizeof(r);
	r.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	r.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	r.nlh.nlmsg_seq = 1;
	r.req.sdiag_family = family;
	r.req.sdiag_protocol = IPPROTO_TCP;
	r.req.idiag_states = (0xfff & ~(1u << 12)) | (bound_inactive ? 1u << 13 : 0);
	r.bc_attr.nla_len = sizeof(r.bc_attr) + sizeof(r.bc);
	r.bc_attr.nla_type = INET_DIAG_REQ_BYTECODE;
	r.bc[0] = (struct inet_diag_bc_op){INET_DIAG_BC_S_GE, 8, 16 + 4};
	r.bc[1] = (struct inet_diag_bc_op){0, 0, low};
	r.bc[2] = (struct inet_diag_bc_op){INET_DIAG_BC_S_LE, 8, 8 + 4};
	r.bc[3] = (struct inet_diag_bc_op){0, 0, high};
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	if (sendto(nl, &r, sizeof(r), 0, (struct sockaddr *)&k, sizeof(k)) < 0)
		return -1;
	static long buf[32768 / sizeof(long)];
	int n = 0;
	for (;;) {
		ssize_t len = recv(nl, buf, sizeof(buf), 0);
		if (len <= 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return n;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -1;
			n++;
		}
	}
}

static int diag_both(uint16_t low, uint16_t high, bool bound_inactive)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	int a = diag_dump(nl, AF_INET, low, high, bound_inactive);
	int b = diag_dump(nl, AF_INET6, low, high, bound_inactive);
	close(nl);
	return a < 0 || b < 0 ? -1 : a + b;
}

/* The shim's fallback (shim/kernel.c proc_file): every line through sscanf. */
static int proc_file(const char *path, unsigned port)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[512];
	int n = 0;
	if (fgets(line, sizeof(line), f)) {
		while (fgets(line, sizeof(line), f)) {
			char la[33], ra[33];
			unsigned lp, rp, st, uid;
			unsigned long inode;
			if (sscanf(line,
				   " %*d: %32[0-9A-Fa-f]:%x %32[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x "
				   "%*x %u %*d %lu",
				   la, &lp, ra, &rp, &st, &uid, &inode) == 7 &&
			    lp == port)
				n++;
		}
	}
	fclose(f);
	return n;
}

#define NQUERIES 4
static const char *const query_label[NQUERIES] = {
	"sock_diag of one port, v4+v6, as the shim asks (incl. bound-only sockets)",
	"the same without bound-only sockets",
	"parsing /proc/net/tcp{,6} for one port",
	"sock_diag of the whole ephemeral range, v4+v6 (a snapshot)",
};

/* The four queries, interleaved, reps times; medians into t[]. */
static void time_queries(uint16_t port, uint16_t low, uint16_t high, int reps, double t[NQUERIES])
{
	double v[NQUERIES][64];
	if (reps > 64)
		reps = 64;
	for (int i = -1; i < reps; i++) { /* the first round warms up */
		for (int q = 0; q < NQUERIES; q++) {
			double t0 = now_ns();
			int r = q == 0	 ? diag_both(port, port, true)
				: q == 1 ? diag_both(port, port, false)
				: q == 2 ? proc_file("/proc/net/tcp", port) +
						   proc_file("/proc/net/tcp6", port)
					 : diag_both(low, high, true);
			if (i >= 0)
				v[q][i] = r < 0 ? -1 : now_ns() - t0;
		}
	}
	for (int q = 0; q < NQUERIES; q++)
		t[q] = median(v[q], reps);
}

/* ---- inside one call, counted with strace ----------------------------------------- */

/* Per operation (one mark window each): the syscalls of every thread, and
 * of the operation's own thread the sock_diag requests (sendto/sendmsg on a
 * NETLINK_SOCK_DIAG socket) and the opens under /proc: those of a walk of
 * processes (/proc itself, /proc/<pid>/...) and the others (/proc/sys,
 * /proc/self, /proc/net). */
struct calls {
	bool ok;
	long windows;
	double sys;			       /* syscalls per operation, mean */
	double dump_first, dump_med, dump_max; /* sock_diag requests */
	double v4_med, v6_med;		       /* of them, for AF_INET and AF_INET6 */
	double walk_max, walk_mean;	       /* /proc opens of a process walk */
	double procrd_max;		       /* other /proc opens */
	long walk_outside; /* walk opens outside the windows or by other threads */
	long dump_outside; /* sock_diag requests outside the windows or by other threads */
};

static bool syscall_is(const char *call, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(call, *names) == 0)
			return true;
	return false;
}

/* The first quoted string of an strace line: the path of open/openat. */
static bool quoted(const char *args, char *buf, size_t len)
{
	const char *q = strchr(args, '"');
	if (!q)
		return false;
	const char *e = strchr(q + 1, '"');
	if (!e)
		return false;
	size_t n = (size_t)(e - q - 1) < len - 1 ? (size_t)(e - q - 1) : len - 1;
	memcpy(buf, q + 1, n);
	buf[n] = 0;
	return true;
}

/* The family a sock_diag request asks for: strace decodes it
 * (sdiag_family=AF_INET6) or, not knowing the socket's protocol, prints the
 * bytes after the netlink header, sdiag_family then sdiag_protocol. */
static int request_family(const char *args)
{
	if (strstr(args, "sdiag_family=AF_INET6"))
		return AF_INET6;
	if (strstr(args, "sdiag_family=AF_INET"))
		return AF_INET;
	const char *b = strstr(args, "}, \"");
	if (!b)
		return -1;
	b += 4;
	if (strncmp(b, "\\x0a", 4) == 0 || strncmp(b, "\\n", 2) == 0)
		return AF_INET6;
	if (strncmp(b, "\\x02", 4) == 0 || strncmp(b, "\\2", 2) == 0)
		return AF_INET;
	return -1;
}

static bool proc_walk_path(const char *p)
{
	if (strcmp(p, "/proc") == 0 || strcmp(p, "/proc/") == 0)
		return true;
	if (strncmp(p, "/proc/", 6) != 0 || !isdigit((unsigned char)p[6]))
		return false;
	return true;
}

static void parse_trace(const char *file, struct calls *c)
{
	static bool diagfd[65536];
	static double dumps[MAX_WINDOWS], walks[MAX_WINDOWS], procrd[MAX_WINDOWS];
	static double v4[MAX_WINDOWS], v6[MAX_WINDOWS];
	static const char *const sends[] = {"sendto", "sendmsg", "send", "write", "writev", NULL};
	static const char *const opens[] = {"open", "openat", "openat2", NULL};
	memset(diagfd, 0, sizeof(diagfd));
	memset(c, 0, sizeof(*c));
	FILE *f = fopen(file, "re");
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	long in = -1, sys = 0, total_sys = 0; /* in: the operation's thread while in a window */
	while (getline(&line, &cap, f) > 0) {
		char *p = line;
		long pid = strtol(p, &p, 10);
		while (*p == ' ')
			p++;
		if (!*p || strncmp(p, "<...", 4) == 0 || strncmp(p, "---", 3) == 0 ||
		    strncmp(p, "+++", 3) == 0)
			continue; /* a resumed call (counted where it began), a signal, an exit */
		char call[32];
		size_t n = strcspn(p, "(");
		if (p[n] != '(' || n >= sizeof(call))
			continue;
		memcpy(call, p, n);
		call[n] = 0;
		const char *args = p + n + 1;
		if (strstr(args, MARK_BEGIN)) {
			in = pid;
			sys = 0;
			if (c->windows < MAX_WINDOWS)
				dumps[c->windows] = walks[c->windows] = procrd[c->windows] =
					v4[c->windows] = v6[c->windows] = 0;
			continue;
		}
		if (strstr(args, MARK_END)) {
			if (in == pid) {
				total_sys += sys;
				c->windows++;
			}
			in = -1;
			continue;
		}
		long w = c->windows < MAX_WINDOWS ? c->windows : MAX_WINDOWS - 1;
		bool mine = in >= 0 && pid == in;
		if (in >= 0)
			sys++;
		int fd = atoi(args);
		const char *ret = strstr(args, ") = ");
		if (strcmp(call, "socket") == 0 && strstr(args, "NETLINK_SOCK_DIAG") && ret) {
			int r = atoi(ret + 4);
			if (r >= 0 && r < 65536)
				diagfd[r] = true;
		} else if (strcmp(call, "close") == 0 && fd >= 0 && fd < 65536) {
			diagfd[fd] = false;
		} else if (syscall_is(call, sends) && fd >= 0 && fd < 65536 && diagfd[fd]) {
			c->dump_outside += !mine;
			if (mine) {
				dumps[w]++;
				int fam = request_family(args);
				v4[w] += fam == AF_INET;
				v6[w] += fam == AF_INET6;
			}
		} else if (syscall_is(call, opens)) {
			char path[256];
			if (quoted(args, path, sizeof(path)) && strncmp(path, "/proc", 5) == 0) {
				if (!mine)
					c->walk_outside += proc_walk_path(path);
				else if (proc_walk_path(path))
					walks[w]++;
				else
					procrd[w]++;
			}
		}
	}
	free(line);
	fclose(f);
	long nw = c->windows < MAX_WINDOWS ? c->windows : MAX_WINDOWS;
	if (!nw)
		return;
	c->ok = true;
	c->sys = (double)total_sys / (double)c->windows;
	c->dump_first = dumps[0];
	c->dump_med = median(dumps, (int)nw);
	c->dump_max = quantile(dumps, (int)nw, 1);
	c->v4_med = median(v4, (int)nw);
	c->v6_med = median(v6, (int)nw);
	c->walk_max = quantile(walks, (int)nw, 1);
	double s = 0;
	for (long i = 0; i < nw; i++)
		s += walks[i];
	c->walk_mean = s / (double)nw;
	c->procrd_max = quantile(procrd, (int)nw, 1);
}

/* The workload under `strace -f`, up to n operations or budget_ms, each
 * between markers; the shim's environment reaches the traced program only
 * (strace -E), not strace. */
static struct calls trace_calls(enum variant v, const char *workload, long n, double budget_ms)
{
	struct calls c = {.ok = false};
	if (!o.have_strace)
		return c;
	char nbuf[32], bbuf[32], pre[4200], log[340];
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	snprintf(bbuf, sizeof(bbuf), "%.0f", budget_ms);
	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", o.lib);
	snprintf(log, sizeof(log), "BINDGUARD_LOG=%s", o.log);
	char *argv[32];
	int k = 0;
	argv[k++] = "strace";
	argv[k++] = "-f";
	argv[k++] = "-qq";
	argv[k++] = "-o";
	argv[k++] = o.trace;
	if (v != V_NONE) {
		argv[k++] = "-E";
		argv[k++] = pre;
		argv[k++] = "-E";
		argv[k++] = "BINDGUARD_MODE=audit";
		argv[k++] = "-E";
		argv[k++] = log;
		if (v == V_REMEDY) {
			argv[k++] = "-E";
			argv[k++] = "BINDGUARD_REMEDY=on";
		}
	}
	argv[k++] = o.self;
	argv[k++] = "child";
	argv[k++] = (char *)workload;
	argv[k++] = nbuf;
	argv[k++] = "mark";
	argv[k++] = bbuf;
	argv[k] = NULL;
	unlink(o.log);
	unlink(o.trace);
	struct spawned s = spawn(argv, V_NONE, budget_ms / 1e3 * 2 + o.grace_s * 2);
	if (s.ok)
		parse_trace(o.trace, &c);
	else
		fprintf(stderr, "bench: strace of %s %s after %.1f s\n", workload,
			s.killed ? "killed" : "failed", s.secs);
	unlink(o.trace);
	return c;
}

/* ---- row 4: a bind into a port with 16 owners, 20,000 fds open ---------------------- */

struct owners_row {
	bool ok;
	uint16_t port;
	long fds;	  /* held by the fd hog */
	bool walk_order;  /* the hog's pid comes before the owners': a walk passes it */
	struct cell cell; /* the bind alone, A and B */
	struct calls ca, cb;
};

static void owners_row(struct owners_row *w, uint16_t port, int reps)
{
	memset(w, 0, sizeof(*w));
	w->port = port;
	char range[32], pbuf[16];
	snprintf(range, sizeof(range), "%u %u", port, port);
	set_range(range); /* connect() can only pick P */
	struct helpers h = {.n = 0};
	w->fds = helper_add(&h, hog_prep, HOG_FDS); /* first: the lower pid, walked first */
	helper_add(&h, owners_prep, port);
	w->walk_order = h.pid[0] < h.pid[1];
	snprintf(pbuf, sizeof(pbuf), "%u", port);
	setenv("BENCH_PORT", pbuf, 1);
	enum variant v = V_SHIM;
	measure("owner_bind", 1000000, reps, 1, &v, &w->cell);
	long n = o.quick ? 3 : 5;
	double b = o.quick ? 2000 : 4000;
	w->ca = trace_calls(V_NONE, "owner_bind", n, b);
	w->cb = trace_calls(V_SHIM, "owner_bind", n, b);
	w->ok = w->cell.ok;
	helpers_stop(&h);
}

/* ---- main ----------------------------------------------------------------------------- */

static bool tool_ok(const char *path, const char *arg1, const char *arg2)
{
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		execlp(path, path, arg1, arg2, (char *)NULL);
		_exit(127);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Wall time of one command, stdout and stderr discarded. */
static double time_command(char *const argv[])
{
	double t0 = now_ns();
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return now_ns() - t0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench [--quick] [--reps N] [--budget MS] [--lib PATH] [--tool PATH] "
		"[--agent PATH] "
		"[--results FILE]\n       bench child WORKLOAD N [once | budget MS | mark MS]\n");
	exit(2);
}

/* The whole table's state. */
static struct cell cells[LEVELS][NROWS];
static struct owners_row owners[LEVELS];
static double queries[LEVELS][NQUERIES];
static struct calls calls_a[NROWS], calls_b[NROWS];
static double t_ss = -1, t_scan = -1;
static bool have_scan;

static void cell_text(const struct cell *c, char *buf, size_t len)
{
	if (c->ok)
		snprintf(buf, len, "%.3f", c->thr);
	else if (c->killed)
		snprintf(buf, len, "killed after %.0f s", c->kill_after_s);
	else
		snprintf(buf, len, "failed");
}

/* Sockets in this namespace (the first line of /proc/net/sockstat): the
 * background as the kernel counts it. */
static long netns_sockets(void)
{
	long n = -1;
	FILE *f = fopen("/proc/net/sockstat", "re");
	if (f && fscanf(f, "sockets: used %ld", &n) != 1)
		n = -1;
	if (f)
		fclose(f);
	return n;
}

/* ---- bindguard agent, for the rows that run with it ----------------------------------- */

static struct {
	pid_t pid;
	char cg[PATH_MAX];
} ag;

/* Start the agent on an empty cgroup of its own and wait until it has
 * published this namespace's page; false (o.agent_why says why) if not. */
static bool agent_start(void)
{
	if (access(o.agent, X_OK) != 0) {
		snprintf(o.agent_why, sizeof(o.agent_why), "no %s (make agent)", o.agent);
		return false;
	}
	char mnt[PATH_MAX] = "", line[PATH_MAX + 128], dev[64], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %4095s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "cgroup2") == 0) {
			snprintf(mnt, sizeof(mnt), "%s", dir);
			break;
		}
	if (f)
		fclose(f);
	snprintf(ag.cg, sizeof(ag.cg), "%s/bindguard-bench.%d", mnt, getpid());
	if (!mnt[0] || (mkdir(ag.cg, 0755) != 0 && errno != EEXIST)) {
		snprintf(o.agent_why, sizeof(o.agent_why), "no cgroup v2 directory (%s)",
			 mnt[0] ? strerror(errno) : "no cgroup2 mount");
		return false;
	}
	struct stat st;
	char page[96], errf[320], logf[320];
	if (stat("/proc/self/ns/net", &st) != 0)
		die("/proc/self/ns/net: %s", strerror(errno));
	snprintf(page, sizeof(page), "/run/bindguard/agent/netns-%lu.ports",
		 (unsigned long)st.st_ino);
	snprintf(errf, sizeof(errf), "%s/agent.err", o.tmp);
	snprintf(logf, sizeof(logf), "%s/agent.jsonl", o.tmp);
	ag.pid = fork();
	if (ag.pid < 0)
		die("fork: %s", strerror(errno));
	if (ag.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int fd = open(errf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(o.agent, o.agent, "--cgroup", ag.cg, "--mode", "audit", "--config", o.cfg,
		      "--log", logf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) { /* 20 s: seeding 50,000 sockets included */
		if (access(page, R_OK) == 0)
			return true;
		if (waitpid(ag.pid, NULL, WNOHANG) == ag.pid) {
			snprintf(o.agent_why, sizeof(o.agent_why), "the agent exited (see %s)",
				 errf);
			ag.pid = 0;
			rmdir(ag.cg);
			return false;
		}
		usleep(20000);
	}
	snprintf(o.agent_why, sizeof(o.agent_why), "no page at %s after 20 s", page);
	kill(ag.pid, SIGTERM);
	waitpid(ag.pid, NULL, 0);
	ag.pid = 0;
	rmdir(ag.cg);
	return false;
}

static void agent_stop(void)
{
	if (ag.pid <= 0)
		return;
	kill(ag.pid, SIGTERM);
	waitpid(ag.pid, NULL, 0);
	ag.pid = 0;
	rmdir(ag.cg);
}

/* One level: the rows in a fresh namespace with 2 * conns other sockets. */
static void run_level(int li)
{
	long conns = level_conns[li];
	fresh_netns();
	struct helpers bg = {.n = 0};
	double t0 = now_ns();
	background(&bg, conns);
	uint16_t low, high;
	get_range(&low, &high);
	uint16_t p3 = free_port(low, high, 0), p4 = free_port(low, high, p3);
	char pbuf[16];
	snprintf(pbuf, sizeof(pbuf), "%u", p3);
	setenv("BENCH_PORT", pbuf, 1);
	out("\n### %ld other sockets (%ld loopback connections in %d helper processes, made in "
	    "%.1f s; ephemeral range %u-%u, free in-range port %u; %ld sockets in the namespace, "
	    "by /proc/net/sockstat)\n\n",
	    2 * conns, conns, bg.n, (now_ns() - t0) / 1e9, low, high, p3, netns_sockets());
	out("| workload | no shim | shim | throughput shim/no shim (min-max) | events/op | target "
	    "| |\n|---|---|---|---|---|---|---|\n");
	/* one measurement per workload, its rows' variants sharing the A runs */
	for (int r = 0; r < NROWS; r++) {
		bool first = true;
		for (int q = 0; q < r; q++)
			first &= strcmp(rows[q].workload, rows[r].workload) != 0 ||
				 rows[q].agent != rows[r].agent;
		if (!first)
			continue;
		enum variant vs[MAX_VARIANTS];
		int idx[MAX_VARIANTS], nv = 0;
		for (int q = r; q < NROWS && nv < MAX_VARIANTS; q++)
			if (strcmp(rows[q].workload, rows[r].workload) == 0 &&
			    rows[q].agent == rows[r].agent) {
				idx[nv] = q;
				vs[nv++] = rows[q].v;
			}
		struct cell res[MAX_VARIANTS];
		if (rows[r].agent && !agent_start()) {
			for (int v = 0; v < nv; v++)
				out("| %s | | | skipped: %s | | | |\n", rows[idx[v]].label,
				    o.agent_why);
			continue;
		}
		measure(rows[r].workload, 100000000, o.reps, nv, vs, res);
		if (rows[r].agent)
			agent_stop();
		for (int v = 0; v < nv; v++) {
			const struct row *rw = &rows[idx[v]];
			struct cell *c = &cells[li][idx[v]];
			*c = res[v];
			char ta[32], tb[32], tt[64], ct[48];
			fmt_ns(ta, sizeof(ta), c->ok ? c->ns_a : -1);
			fmt_ns(tb, sizeof(tb), c->ok ? c->ns_b : -1);
			target_text(rw, tt, sizeof(tt));
			cell_text(c, ct, sizeof(ct));
			if (c->ok)
				out("| %s | %s | %s | %s (%.3f-%.3f)%s | %.2f | %s | %s |\n",
				    rw->label, ta, tb, ct, c->lo, c->hi,
				    c->cold ? " (one cold op)" : "", c->events, tt,
				    verdict(cell_met(rw, c)));
			else
				out("| %s | %s | %s | %s | | %s | missed |\n", rw->label, ta, tb,
				    ct, tt);
		}
	}
	time_queries(p3, low, high, o.quick ? 3 : 7, queries[li]);
	if (li == 0 && o.have_strace) {
		/* what each operation asks the kernel, at 0 other sockets */
		for (int r = 0; r < NROWS; r++) {
			long n = strcmp(rows[r].workload, "close") == 0 ||
						 strcmp(rows[r].workload, "getsockname") == 0
					 ? 200
					 : 50;
			double b = o.quick ? 1000 : 3000;
			if (rows[r].agent)
				continue; /* not counted: the agent would have to run */
			if (r == 0 || strcmp(rows[r].workload, rows[r - 1].workload) != 0)
				calls_a[r] = trace_calls(V_NONE, rows[r].workload, n, b);
			else
				calls_a[r] = calls_a[r - 1];
			calls_b[r] = trace_calls(rows[r].v, rows[r].workload, n, b);
		}
	}
	if (li == LEVELS - 1) {
		char *ss[] = {"ss", "-tanp", NULL};
		double v[3];
		int k = 0;
		for (int j = 0; j < (o.quick ? 1 : 3); j++)
			if ((v[k] = time_command(ss)) > 0)
				k++;
		t_ss = k ? median(v, k) : -1;
		if (have_scan) {
			char *scan[] = {o.tool, "scan", NULL};
			for (int j = k = 0; j < (o.quick ? 1 : 3); j++)
				if ((v[k] = time_command(scan)) > 0)
					k++;
			t_scan = k ? median(v, k) : -1;
		}
	}
	/* last: it narrows the range to one port */
	owners_row(&owners[li], p4, o.reps < 3 ? o.reps : 3);
	helpers_stop(&bg);
}

static void print_summary(void)
{
	out("\n## Targets: throughput with the shim / without (median of paired repetitions)\n\n"
	    "| workload | target | 0 other sockets | 10,000 | 50,000 |\n|---|---|---|---|---|\n");
	for (int r = 0; r < NROWS; r++) {
		char tt[64];
		target_text(&rows[r], tt, sizeof(tt));
		out("| %s | %s |", rows[r].label, tt);
		for (int l = 0; l < LEVELS; l++) {
			char ct[48];
			cell_text(&cells[l][r], ct, sizeof(ct));
			if (cells[l][r].ok && rows[r].goal == TIME_MAX)
				out(" %s (time %.3f) %s |", ct, cells[l][r].time_ratio,
				    verdict(cell_met(&rows[r], &cells[l][r])));
			else
				out(" %s %s |", ct, verdict(cell_met(&rows[r], &cells[l][r])));
		}
		out("\n");
	}
}

static void print_owners(void)
{
	out("\n## A bind into a port with %d owners (connect()-made, one in CLOSE_WAIT, held by "
	    "another process) while %d fds are open on the host\n\n",
	    OWNERS, HOG_FDS);
	out("The shimmed process (audit, BINDGUARD_LOG to a file) binds %s:P, P the owners' "
	    "port (127.0.0.1:P); a different address shares the port without SO_REUSEADDR. "
	    "Inside the call, counted with strace between two marker syscalls: sock_diag "
	    "requests, a dump being one request (sendto/sendmsg on a NETLINK_SOCK_DIAG socket, "
	    "one family each; the first bind, the median and the largest; the target is on the "
	    "median) and opens under /proc (of a walk of processes: /proc, "
	    "/proc/<pid>/...; other: /proc/sys, /proc/self, /proc/net).\n\n",
	    CLIENT_ADDR);
	out("| other sockets | bind, no shim | bind, shim | throughput shim/no shim | hazard "
	    "events per bind | sock_diag requests per bind: first, median, max | /proc opens "
	    "per bind: walk (max), other (max) | <= 1 dump added | no /proc walk |\n"
	    "|---|---|---|---|---|---|---|---|---|\n");
	for (int l = 0; l < LEVELS; l++) {
		const struct owners_row *w = &owners[l];
		const struct cell *c = &w->cell;
		char ta[32], tb[32], ct[48], dumps[64] = "not counted", procs[64] = "not counted";
		fmt_ns(ta, sizeof(ta), c->ok ? c->ns_a : -1);
		fmt_ns(tb, sizeof(tb), c->ok ? c->ns_b : -1);
		cell_text(c, ct, sizeof(ct));
		const char *vd = "-", *vp = "-";
		if (w->cb.ok) {
			double base = w->ca.ok ? w->ca.dump_med : 0;
			snprintf(dumps, sizeof(dumps),
				 "%.0f, %.0f (v4 %.0f, v6 %.0f), %.0f (%ld binds)",
				 w->cb.dump_first, w->cb.dump_med, w->cb.v4_med, w->cb.v6_med,
				 w->cb.dump_max, w->cb.windows);
			snprintf(procs, sizeof(procs), "%.0f, %.0f", w->cb.walk_max,
				 w->cb.procrd_max);
			vd = verdict(w->cb.dump_med - base <= 1);
			vp = verdict(w->cb.walk_max == 0);
		}
		out("| %ld | %s | %s%s | %s | %.2f | %s | %s | %s | %s |\n", 2 * level_conns[l], ta,
		    tb, c->cold ? " (one cold op)" : "", ct, c->haz, dumps, procs, vd, vp);
	}
	for (int l = 0; l < LEVELS; l++) {
		const struct owners_row *w = &owners[l];
		if (w->fds < HOG_FDS)
			out("\n(at %ld other sockets the fd-holding process got %ld fds, not %d)\n",
			    2 * level_conns[l], w->fds, HOG_FDS);
		if (!w->walk_order)
			out("\n(at %ld other sockets the owners' pid came before the fd-holding "
			    "process's: a walk that stops at the owner does not pass it)\n",
			    2 * level_conns[l]);
		if (w->cb.ok && w->cb.dump_outside)
			out("\n(at %ld other sockets: %ld sock_diag requests outside the bind "
			    "calls or "
			    "by other threads, in %ld binds)\n",
			    2 * level_conns[l], w->cb.dump_outside, w->cb.windows);
		if (w->cb.ok && w->cb.walk_outside)
			out("\n(at %ld other sockets: %ld opens of a /proc walk outside the bind "
			    "calls "
			    "or by other threads, in %ld binds)\n",
			    2 * level_conns[l], w->cb.walk_outside, w->cb.windows);
	}
}

static void print_queries(void)
{
	out("\n## The in-range query alone (median, from the orchestrator, no shim)\n\n"
	    "| query | 0 other sockets | 10,000 | 50,000 |\n|---|---|---|---|\n");
	for (int q = 0; q < NQUERIES; q++) {
		out("| %s |", query_label[q]);
		for (int l = 0; l < LEVELS; l++) {
			char t[32];
			fmt_ns(t, sizeof(t), queries[l][q]);
			out(" %s |", t);
		}
		out("\n");
	}
	out("| /proc/net/tcp / sock_diag, one port |");
	for (int l = 0; l < LEVELS; l++)
		out(" %.1fx |", queries[l][0] > 0 ? queries[l][2] / queries[l][0] : 0);
	out("\n");
}

static void print_calls(void)
{
	out("\n## Syscalls inside one operation (strace -f, between marker syscalls, 0 other "
	    "sockets)\n\n");
	if (!o.have_strace) {
		out("skipped: strace not installed (apt-get install strace)\n");
		return;
	}
	out("| workload | no shim | shim | shim: sock_diag requests (median, max) | shim: "
	    "/proc opens (walk max, other max) |\n|---|---|---|---|---|\n");
	for (int r = 0; r <= NROWS; r++) {
		const struct calls *a = r < NROWS ? &calls_a[r] : &owners[0].ca;
		const struct calls *b = r < NROWS ? &calls_b[r] : &owners[0].cb;
		char label[160];
		if (r < NROWS)
			snprintf(label, sizeof(label), "%s", rows[r].label);
		else
			snprintf(label, sizeof(label),
				 "bind into the port of %d owners, %d fds open", OWNERS, HOG_FDS);
		char sa[32] = "failed", sb[32] = "failed", sd[48] = "", sp[48] = "";
		if (a->ok)
			snprintf(sa, sizeof(sa), "%.2f", a->sys);
		if (b->ok) {
			snprintf(sb, sizeof(sb), "%.2f", b->sys);
			snprintf(sd, sizeof(sd), "%.2f, %.0f", b->dump_med, b->dump_max);
			snprintf(sp, sizeof(sp), "%.0f, %.0f", b->walk_max, b->procrd_max);
		}
		out("| %s | %s | %s | %s | %s |\n", label, sa, sb, sd, sp);
	}
}

/* Resident size per tracked socket and per thread. */
static void print_memory(void)
{
	int mreps = o.reps > 3 ? 3 : o.reps;
	out("\n## Memory (resident size, median of %d runs each)\n\n", mreps);
	out("| process | no shim | shim | shim - no shim | per socket or thread, fixed cost "
	    "removed |\n|---|---|---|---|---|\n");
	fresh_netns();
	long socks[] = {0, 10000, 100000};
	rlim_t fdlim = raise_nofile(100000 + 64);
	if (fdlim < 100000 + 64)
		socks[2] = ((long)fdlim - 64) / 1000 * 1000;
	const struct {
		const char *what;
		long n;
		const char *unit;
	} m[] = {{"rss", socks[0], "sockets"},
		 {"rss", socks[1], "sockets"},
		 {"rss", socks[2], "sockets"},
		 {"rss_threads", 0, "threads"},
		 {"rss_threads", 1000, "threads"}};
	double fixed = 0;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		double a[MAX_REPS], b[MAX_REPS];
		int k = 0;
		for (int r = 0; r < mreps; r++) {
			double va = run_rss(V_NONE, m[i].what, m[i].n);
			double vb = run_rss(V_SHIM, m[i].what, m[i].n);
			if (va > 0 && vb > 0) {
				a[k] = va;
				b[k] = vb;
				k++;
			}
		}
		if (!k) {
			out("| %ld %s | failed | | | |\n", m[i].n, m[i].unit);
			continue;
		}
		double ma = median(a, k), mb = median(b, k);
		if (m[i].n == 0) {
			fixed = mb - ma;
			out("| 0 %s | %.0f kB | %.0f kB | %.0f kB (fixed cost) | |\n", m[i].unit,
			    ma, mb, fixed);
			continue;
		}
		out("| %ld %s | %.0f kB | %.0f kB | %.0f kB | %.1f B per %s |\n", m[i].n, m[i].unit,
		    ma, mb, mb - ma, (mb - ma - fixed) * 1024 / (double)m[i].n,
		    strcmp(m[i].unit, "threads") == 0 ? "thread" : "socket");
	}
	if (fdlim < 100000 + 64)
		out("\n(100000 sockets need RLIMIT_NOFILE >= 100064; the hard limit here is %lu "
		    "and raising it needs CAP_SYS_RESOURCE, so that row holds %ld)\n",
		    (unsigned long)fdlim, socks[2]);
	long cyc = o.quick ? 20000 : 100000, con = o.quick ? 5000 : 20000;
	double ga = run_rss(V_NONE, "rss_cycles", cyc), gb = run_rss(V_SHIM, "rss_cycles", cyc);
	double ca = run_rss(V_NONE, "rss_connect", con), cb = run_rss(V_SHIM, "rss_connect", con);
	out("\nGrowth of a running process: %ld socket() + close(): %.0f kB without, %.0f kB with "
	    "the shim; %ld connect + accept + close: %.0f kB without, %.0f kB with.\n",
	    cyc, ga, gb, con, ca, cb);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "child") == 0)
		return child(argc, argv);

	const char *results = NULL;
	snprintf(o.lib, sizeof(o.lib), "build/libbindguard.so");
	snprintf(o.tool, sizeof(o.tool), "build/bindguard");
	o.reps = 0;
	o.budget_ms = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			o.quick = true;
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			o.reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc)
			o.budget_ms = atof(argv[++i]);
		else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
			snprintf(o.lib, sizeof(o.lib), "%s", argv[++i]);
		else if (strcmp(argv[i], "--tool") == 0 && i + 1 < argc)
			snprintf(o.tool, sizeof(o.tool), "%s", argv[++i]);
		else if (strcmp(argv[i], "--agent") == 0 && i + 1 < argc)
			snprintf(o.agent, sizeof(o.agent), "%s", argv[++i]);
		else if (strcmp(argv[i], "--results") == 0 && i + 1 < argc)
			results = argv[++i];
		else
			usage();
	}
	if (!o.reps)
		o.reps = o.quick ? 3 : 5;
	if (o.budget_ms <= 0)
		o.budget_ms = o.quick ? 250 : 1000;
	o.grace_s = o.quick ? 30 : 60;
	if (o.reps < 1 || o.reps > MAX_REPS)
		die("--reps must be 1..%d", MAX_REPS);
	if (geteuid() != 0)
		die("needs root: it creates network namespaces (unshare -n)");
	char *lib = realpath(o.lib, NULL);
	if (!lib)
		die("%s: %s (run make first)", o.lib, strerror(errno));
	snprintf(o.lib, sizeof(o.lib), "%s", lib);
	free(lib);
	if (!o.agent[0]) { /* beside the library */
		snprintf(o.agent, sizeof(o.agent), "%s", o.lib);
		char *slash = strrchr(o.agent, '/');
		snprintf(slash + 1, sizeof(o.agent) - (size_t)(slash + 1 - o.agent),
			 "bindguard-agent");
	}
	char *tool = realpath(o.tool, NULL);
	if (tool) {
		snprintf(o.tool, sizeof(o.tool), "%s", tool);
		free(tool);
	}
	ssize_t sl = readlink("/proc/self/exe", o.self, sizeof(o.self) - 1);
	if (sl <= 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	o.self[sl] = 0;
	snprintf(o.tmp, sizeof(o.tmp), "/tmp/bindguard-bench.XXXXXX");
	if (!mkdtemp(o.tmp))
		die("mkdtemp: %s", strerror(errno));
	snprintf(o.log, sizeof(o.log), "%s/events.jsonl", o.tmp);
	snprintf(o.cfg, sizeof(o.cfg), "%s/bindguard.json", o.tmp);
	snprintf(o.trace, sizeof(o.trace), "%s/strace.out", o.tmp);
	int cf = open(o.cfg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (cf < 0 || write(cf, "{\"mode\": \"audit\"}\n", 18) != 18)
		die("%s: %s", o.cfg, strerror(errno));
	close(cf);
	o.have_strace = tool_ok("strace", "-V", NULL);
	have_scan = tool_ok(o.tool, "scan", "--help");
	if (results) {
		o.md = fopen(results, "we");
		if (!o.md)
			die("%s: %s", results, strerror(errno));
	}
	raise_nofile(4096);
	setvbuf(stdout, NULL, _IOLBF, 0);

	double t_start = now_ns();
	out("# bindguard benchmarks\n\n%s: %d paired repetitions, each child runs its workload for "
	    "%.0f ms (or until done); A = without the shim, B = with it (LD_PRELOAD, audit mode, "
	    "events to a file). Ratio = throughput with the shim / without, the median of the "
	    "per-repetition ratios (min-max beside it); times are per operation, medians. "
	    "events/op: lines the shim wrote per operation.\n",
	    o.lib, o.reps, o.budget_ms);
	for (int l = 0; l < LEVELS; l++)
		run_level(l);
	print_summary();
	print_owners();
	print_calls();
	print_queries();
	print_memory();

	out("\n## bindguard scan\n\n");
	char sst[32];
	fmt_ns(sst, sizeof(sst), t_ss);
	out("With %ld sockets: `ss -tanp` %s", 2 * level_conns[LEVELS - 1], sst);
	if (!have_scan) {
		out(", `bindguard scan` skipped (%s did not run)\n", o.tool);
	} else {
		char sc[32];
		fmt_ns(sc, sizeof(sc), t_scan);
		out(", `bindguard scan` %s\n", sc);
	}
	out("\ntotal time %.0f s\n", (now_ns() - t_start) / 1e9);
	if (o.md)
		fclose(o.md);
	unlink(o.log);
	unlink(o.cfg);
	unlink(o.trace);
	rmdir(o.tmp);
	return 0;
}
