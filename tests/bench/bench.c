/* bench.c: bindguard's benchmarks (issue 6).
 *
 * One binary, two roles. Run plain, it is the orchestrator: it moves into a
 * fresh network namespace per workload, starts background sockets in a helper
 * process where a workload needs them, and re-execs itself as a child per
 * measurement, interleaved: without the shim (A), with the shim (B: LD_PRELOAD,
 * BINDGUARD_MODE=audit, BINDGUARD_LOG=<temp file>) and, for a few workloads,
 * under `strace -f -e trace=network` (S); A B [S] A B [S] ... The child is the
 * same binary in the same namespace; only its environment (or strace) differs.
 * Run as `bench child WORKLOAD N`, it measures WORKLOAD over N operations and
 * prints "ns <per-op>" (median of its sub-batches) on stdout.
 *
 * Benchmarks report; they never fail: the exit status is 0 unless the
 * benchmark itself could not run (not root, no shim library).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Ports: listeners and out-of-range binds below the default range; the
 * in-range bind port inside the tiny range set for it. */
#define LISTEN_PORT   5000
#define BG_PORT_BASE  7000
#define BG_PORTS      5
#define OUT_PORT      20000
#define TINY_RANGE    "61000 61009"
#define IN_PORT	      61005
#define SUBBATCHES    5
#define MAX_REPS      31
#define CLOSE_BATCH   1000
#define PROC_TCP_REPS 21

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
	double s[MAX_REPS * 4];
	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	double pos = q * (n - 1);
	int i = (int)pos;
	double f = pos - i;
	return i + 1 < n ? s[i] * (1 - f) + s[i + 1] * f : s[i];
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

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
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

/* ---- the child: one workload, N operations ----------------------------------------- */

typedef double (*workload_fn)(long n); /* returns elapsed ns for n operations */

/* One operation each, never inlined: profile.sh reads their inclusive
 * instruction counts from callgrind (tests/bench/profile.sh). */
#define OP __attribute__((noinline))
OP int op_close(int fd);
OP int op_socket_close(void);
OP int op_connect_cycle(int l, const struct sockaddr_in *a);
OP int op_bind(int s, const struct sockaddr_in *a);

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

OP int op_bind(int s, const struct sockaddr_in *a)
{
	return bind(s, (const struct sockaddr *)a, sizeof(*a));
}

static double w_close(long n)
{
	static int fds[CLOSE_BATCH];
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		die("open /dev/null: %s", strerror(errno));
	double t = 0;
	for (long done = 0; done < n; done += CLOSE_BATCH) {
		int k = 0;
		/* half pipe ends, half dup'd files: the fds every program closes */
		while (k < CLOSE_BATCH / 2) {
			int p[2];
			if (pipe2(p, O_CLOEXEC) != 0)
				die("pipe2: %s", strerror(errno));
			fds[k++] = p[0];
			fds[k++] = p[1];
		}
		while (k < CLOSE_BATCH) {
			int d = dup(devnull);
			if (d < 0)
				die("dup: %s", strerror(errno));
			fds[k++] = d;
		}
		double t0 = now_ns();
		for (int i = 0; i < CLOSE_BATCH; i++)
			op_close(fds[i]);
		t += now_ns() - t0;
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

static int conn_listener = -1;

static double w_connect(long n)
{
	if (conn_listener < 0)
		conn_listener = listener(LISTEN_PORT, 1024);
	struct sockaddr_in a = loopback(LISTEN_PORT);
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (op_connect_cycle(conn_listener, &a) != 0)
			die("connect + accept + close: %s", strerror(errno));
	return now_ns() - t0;
}

/* socket(); timed bind(); close(): only the bind is on the clock. */
static double bind_loop(long n, uint16_t port)
{
	struct sockaddr_in a = loopback(port);
	double t = 0;
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket: %s", strerror(errno));
		double t0 = now_ns();
		int r = op_bind(s, &a);
		t += now_ns() - t0;
		if (r != 0)
			die("bind %u: %s", port, strerror(errno));
		close(s);
	}
	return t;
}

static double w_bind_out(long n)
{
	return bind_loop(n, OUT_PORT);
}

static double w_bind_in(long n)
{
	return bind_loop(n, IN_PORT);
}

/* getsockname() of a bound TCP socket the shim tracks: the remedy's hook
 * on a socket it did not touch (one table load, one flag load). */
static double w_getsockname(long n)
{
	int s = listener(OUT_PORT, 16);
	struct sockaddr_in a;
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		socklen_t l = sizeof(a);
		if (getsockname(s, (struct sockaddr *)&a, &l) != 0)
			die("getsockname: %s", strerror(errno));
	}
	double t = now_ns() - t0;
	close(s);
	return t;
}

static const struct {
	const char *name;
	workload_fn fn;
} workloads[] = {
	{"close", w_close},	  {"socket", w_socket},	  {"connect", w_connect},
	{"bind_out", w_bind_out}, {"bind_in", w_bind_in}, {"getsockname", w_getsockname},
};

static int child(int argc, char **argv)
{
	if (argc < 4)
		die("usage: bench child WORKLOAD N [once] | bench child rss N");
	long n = atol(argv[3]);
	if (strcmp(argv[2], "rss") == 0) {
		/* N unconnected TCP sockets, then the resident size */
		need_nofile((rlim_t)n + 64);
		for (long i = 0; i < n; i++)
			if (socket(AF_INET, SOCK_STREAM, 0) < 0)
				die("socket %ld: %s", i, strerror(errno));
		printf("rss %ld\n", rss_kb());
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
	if (argc >= 5 && strcmp(argv[4], "once") == 0) {
		/* exactly n operations, no warm-up: for instruction counts (profile.sh) */
		printf("ns %.3f\n", fn(n) / (double)n);
		return 0;
	}
	long per = n / SUBBATCHES > 0 ? n / SUBBATCHES : 1;
	fn(per / 4 > 0 ? per / 4 : 1); /* warm up: resolve, fault in, first-use init */
	double v[SUBBATCHES];
	for (int i = 0; i < SUBBATCHES; i++)
		v[i] = fn(per) / (double)per;
	printf("ns %.3f\n", median(v, SUBBATCHES));
	return 0;
}

/* ---- the orchestrator ---------------------------------------------------------------- */

static struct {
	char self[4096];
	char lib[4096];
	char tool[4096];
	char tmp[256];
	char log[300];
	char cfg[300];
	int reps;
	bool quick;
	bool have_strace;
	FILE *md; /* RESULTS table, or NULL */
} o;

enum variant { V_NONE, V_SHIM, V_STRACE };
static const char *variant_name[] = {"none", "shim", "strace"};

/* Run argv with the variant's environment; returns its stdout's first "key value". */
static double run_child_argv(enum variant v, char **argv, const char *key)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe2: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		unsetenv("LD_PRELOAD");
		unsetenv("BINDGUARD_MODE");
		unsetenv("BINDGUARD_LOG");
		unsetenv("BINDGUARD_PROFILE");
		setenv("BINDGUARD_CONFIG", o.cfg, 1);
		if (v == V_SHIM) {
			setenv("LD_PRELOAD", o.lib, 1);
			setenv("BINDGUARD_MODE", "audit", 1);
			setenv("BINDGUARD_LOG", o.log, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	char buf[512];
	size_t len = 0;
	ssize_t r;
	while ((r = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(p[0]);
	buf[len] = 0;
	int st;
	waitpid(pid, &st, 0);
	double val = -1;
	char k[32];
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || sscanf(buf, "%31s %lf", k, &val) != 2 ||
	    strcmp(k, key) != 0) {
		fprintf(stderr, "bench: child %s %s (%s) failed\n", argv[0], argv[1] ? argv[1] : "",
			variant_name[v]);
		return -1;
	}
	return val;
}

static double run_child(enum variant v, const char *workload, long n)
{
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	if (v == V_STRACE) {
		char *argv[] = {"strace", "-f",	       "-qq",  "-e",	"trace=network",
				"-o",	  "/dev/null", o.self, "child", (char *)workload,
				nbuf,	  NULL};
		return run_child_argv(v, argv, "ns");
	}
	char *argv[] = {o.self, "child", (char *)workload, nbuf, NULL};
	return run_child_argv(
		v, argv,
		strcmp(workload, "rss") == 0 || strncmp(workload, "rss_", 4) == 0 ? "rss" : "ns");
}

/* ---- network namespaces and background sockets --------------------------------------- */

static void fresh_netns(const char *range)
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
	if (range && write_file("/proc/sys/net/ipv4/ip_local_port_range", range) != 0)
		die("ip_local_port_range: %s", strerror(errno));
}

#define MAX_HELPERS 16

struct helper {
	pid_t pid[MAX_HELPERS];
	int n;
	int hold; /* the helpers live while this pipe end is open */
};

/* Processes holding `conns` loopback connections (2 * conns sockets) in the
 * current namespace, made with its default (wide) ephemeral range. As many
 * processes as RLIMIT_NOFILE requires (each holds both ends of its share). */
static struct helper background(long conns)
{
	struct helper h = {.n = 0, .hold = -1};
	if (conns <= 0)
		return h;
	rlim_t lim = raise_nofile((rlim_t)(2 * conns + 256));
	long per = ((long)lim - 256) / 2;
	if (per < 1000)
		die("RLIMIT_NOFILE %lu too low for background sockets", (unsigned long)lim);
	int ready[2], hold[2];
	if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(hold, O_CLOEXEC) != 0)
		die("pipe2: %s", strerror(errno));
	for (long done = 0; done < conns && h.n < MAX_HELPERS; done += per) {
		long mine = conns - done < per ? conns - done : per;
		int base = BG_PORT_BASE + BG_PORTS * h.n;
		pid_t pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(ready[0]);
			close(hold[1]);
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
			char c = 1;
			if (write(ready[1], &c, 1) != 1)
				_exit(1);
			while (read(hold[0], &c, 1) > 0)
				;
			_exit(0);
		}
		h.pid[h.n++] = pid;
		char c;
		if (read(ready[0], &c, 1) != 1)
			die("background helper %d (%ld connections) failed", h.n, mine);
	}
	close(ready[1]);
	close(ready[0]);
	close(hold[0]);
	h.hold = hold[1];
	return h;
}

static void helper_stop(struct helper *h)
{
	if (!h->n)
		return;
	close(h->hold);
	for (int i = 0; i < h->n; i++)
		waitpid(h->pid[i], NULL, 0);
	h->n = 0;
}

/* ---- reporting ----------------------------------------------------------------------- */

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
	}
}

static void fmt_ns(char *buf, size_t len, double ns)
{
	if (ns >= 1e6)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else if (ns >= 1e4)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns >= 1e3)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else
		snprintf(buf, len, "%.1f ns", ns);
}

struct result {
	double med_a, med_b, med_s;
	double ratio, rmin, rmax, q1, q3; /* B/A */
	double sratio;			  /* S/A, medians */
	double ovh_b, ovh_s;		  /* medians of per-repetition B - A, S - A */
	bool ok, strace;
};

/* A B [S] interleaved, reps times; prints one table row. */
static struct result measure(const char *label, const char *workload, long n, bool with_strace,
			     const char *target)
{
	struct result res = {0};
	double a[MAX_REPS], b[MAX_REPS], s[MAX_REPS], ratio[MAX_REPS], db[MAX_REPS], ds[MAX_REPS];
	int k = 0;
	with_strace = with_strace && o.have_strace;
	for (int r = 0; r < o.reps; r++) {
		double va = run_child(V_NONE, workload, n);
		double vb = run_child(V_SHIM, workload, n);
		/* strace costs two orders of magnitude more per call: a tenth of
		 * the operations gives a per-op figure as good, in bounded time */
		double vs =
			with_strace ? run_child(V_STRACE, workload, n / 10 > 0 ? n / 10 : 1) : 0;
		if (va <= 0 || vb <= 0 || (with_strace && vs <= 0))
			continue;
		a[k] = va;
		b[k] = vb;
		s[k] = vs;
		ratio[k] = vb / va;
		db[k] = vb - va;
		ds[k] = vs - va;
		k++;
	}
	if (k == 0) {
		out("| %s | failed | | | | %s |\n", label, target);
		return res;
	}
	res.ok = true;
	res.strace = with_strace;
	res.med_a = median(a, k);
	res.med_b = median(b, k);
	res.med_s = with_strace ? median(s, k) : 0;
	res.ratio = median(ratio, k);
	res.q1 = quantile(ratio, k, 0.25);
	res.q3 = quantile(ratio, k, 0.75);
	res.rmin = quantile(ratio, k, 0);
	res.rmax = quantile(ratio, k, 1);
	res.sratio = with_strace ? res.med_s / res.med_a : 0;
	res.ovh_b = median(db, k);
	res.ovh_s = with_strace ? median(ds, k) : 0;
	char ta[32], tb[32];
	fmt_ns(ta, sizeof(ta), res.med_a);
	fmt_ns(tb, sizeof(tb), res.med_b);
	out("| %s | %s | %s | %.3f | %.3f-%.3f (IQR %.3f-%.3f) | %s |\n", label, ta, tb, res.ratio,
	    res.rmin, res.rmax, res.q1, res.q3, target);
	return res;
}

/* ---- sock_diag vs /proc/net/tcp, measured in this process ------------------------------ */

struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 req;
	struct nlattr bc_attr;
	struct inet_diag_bc_op bc[4];
};

/* The shim's query (shim/kernel.c): sport >= P && sport <= P, all owner states. */
static int diag_dump(int nl, uint8_t family, uint16_t port, bool bound_inactive)
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
	r.bc[1] = (struct inet_diag_bc_op){0, 0, port};
	r.bc[2] = (struct inet_diag_bc_op){INET_DIAG_BC_S_LE, 8, 8 + 4};
	r.bc[3] = (struct inet_diag_bc_op){0, 0, port};
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	if (sendto(nl, &r, sizeof(r), 0, (struct sockaddr *)&k, sizeof(k)) < 0)
		return -1;
	long buf[8192 / sizeof(long)];
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

static int diag_query_states(uint16_t port, bool bound_inactive)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	int a = diag_dump(nl, AF_INET, port, bound_inactive);
	int b = diag_dump(nl, AF_INET6, port, bound_inactive);
	close(nl);
	return a < 0 || b < 0 ? -1 : a + b;
}

/* The shim's query: every owner state, plus TCP_BOUND_INACTIVE (6.6+). */
static int diag_query(uint16_t port)
{
	return diag_query_states(port, true);
}

/* The same without the bound-only walk (kernels before 6.6 ignore the bit). */
static int diag_query_connected(uint16_t port)
{
	return diag_query_states(port, false);
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

static int proc_query(uint16_t port)
{
	return proc_file("/proc/net/tcp", port) + proc_file("/proc/net/tcp6", port);
}

/* The three queries, interleaved (diag, diag without BOUND_INACTIVE, proc) reps
 * times; medians into out[0..2]. */
static void time_queries(uint16_t port, int reps, double out3[3])
{
	int (*fn[3])(uint16_t) = {diag_query, diag_query_connected, proc_query};
	double v[3][64];
	if (reps > 64)
		reps = 64;
	for (int f = 0; f < 3; f++)
		fn[f](port); /* warm */
	for (int i = 0; i < reps; i++) {
		for (int f = 0; f < 3; f++) {
			double t0 = now_ns();
			v[f][i] = fn[f](port) < 0 ? -1 : now_ns() - t0;
		}
	}
	for (int f = 0; f < 3; f++)
		out3[f] = median(v[f], reps);
}

/* ---- syscalls per operation, counted with strace ----------------------------------- */

static long count_syscalls(enum variant v, const char *workload, long n, const char *filter,
			   const char *grep)
{
	char file[320], nbuf[32];
	snprintf(file, sizeof(file), "%s/strace.out", o.tmp);
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		unsetenv("LD_PRELOAD");
		setenv("BINDGUARD_CONFIG", o.cfg, 1);
		if (v == V_SHIM) {
			setenv("LD_PRELOAD", o.lib, 1);
			setenv("BINDGUARD_MODE", "audit", 1);
			setenv("BINDGUARD_LOG", o.log, 1);
		}
		char *argv[] = {"strace", "-f", "-qq",	"-e",	 (char *)filter,
				"-o",	  file, o.self, "child", (char *)workload,
				nbuf,	  NULL};
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	FILE *f = fopen(file, "re");
	if (!f)
		return -1;
	char line[4096];
	long count = 0;
	while (fgets(line, sizeof(line), f))
		if (!strstr(line, "resumed>") && (!grep || strstr(line, grep)))
			count++;
	fclose(f);
	unlink(file);
	return count;
}

/* Syscalls per operation: (count(2N) - count(N)) / (N * 1.25 warm-up-and-batches
 * factor is the same for both, so the difference of two runs cancels start-up). */
static double syscalls_per_op(enum variant v, const char *workload, long n, const char *filter,
			      const char *grep)
{
	long c1 = count_syscalls(v, workload, n, filter, grep);
	long c2 = count_syscalls(v, workload, 2 * n, filter, grep);
	if (c1 < 0 || c2 < 0)
		return -1;
	/* the child runs n/SUBBATCHES/4 warm-up ops plus SUBBATCHES*(n/SUBBATCHES) ops */
	long ops1 = n / SUBBATCHES / 4 + (n / SUBBATCHES) * SUBBATCHES;
	long ops2 = 2 * n / SUBBATCHES / 4 + (2 * n / SUBBATCHES) * SUBBATCHES;
	return (double)(c2 - c1) / (double)(ops2 - ops1);
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

static const char *verdict(bool met)
{
	return met ? "met" : "MISSED";
}

static void usage(void)
{
	fprintf(stderr, "usage: bench [--quick] [--reps N] [--lib PATH] [--tool PATH] "
			"[--results FILE]\n       bench child WORKLOAD N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "child") == 0)
		return child(argc, argv);

	const char *results = NULL;
	snprintf(o.lib, sizeof(o.lib), "build/libbindguard.so");
	snprintf(o.tool, sizeof(o.tool), "build/bindguard");
	o.reps = 7;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			o.quick = true;
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			o.reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--lib") == 0 && i + 1 < argc)
			snprintf(o.lib, sizeof(o.lib), "%s", argv[++i]);
		else if (strcmp(argv[i], "--tool") == 0 && i + 1 < argc)
			snprintf(o.tool, sizeof(o.tool), "%s", argv[++i]);
		else if (strcmp(argv[i], "--results") == 0 && i + 1 < argc)
			results = argv[++i];
		else
			usage();
	}
	if (o.quick && o.reps == 7)
		o.reps = 3;
	if (o.reps < 1 || o.reps > MAX_REPS)
		die("--reps must be 1..%d", MAX_REPS);
	if (geteuid() != 0)
		die("needs root: it creates network namespaces (unshare -n)");
	char *lib = realpath(o.lib, NULL);
	if (!lib)
		die("%s: %s (run make first)", o.lib, strerror(errno));
	snprintf(o.lib, sizeof(o.lib), "%s", lib);
	free(lib);
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
	int cf = open(o.cfg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (cf < 0 || write(cf, "{\"mode\": \"audit\"}\n", 18) != 18)
		die("%s: %s", o.cfg, strerror(errno));
	close(cf);
	o.have_strace = tool_ok("strace", "-V", NULL);
	if (results) {
		o.md = fopen(results, "we");
		if (!o.md)
			die("%s: %s", results, strerror(errno));
	}
	raise_nofile(4096);
	setvbuf(stdout, NULL, _IOLBF, 0);

	long scale = o.quick ? 4 : 1;
	double t_start = now_ns();
	out("bindguard benchmarks: %d repetitions, A = without shim, B = with shim "
	    "(LD_PRELOAD, audit); per-op medians; ratio = median of per-repetition B/A\n\n",
	    o.reps);
	out("| workload | no shim | shim | ratio | ratio min-max (IQR) | target |\n");
	out("|---|---|---|---|---|---|\n");

	/* the paths every program takes, in a namespace of their own each */
	fresh_netns(NULL);
	struct result r_close =
		measure("close() of a non-socket fd", "close", 200000 / scale, true, "<= 1.02");
	fresh_netns(NULL);
	struct result r_sock = measure("socket() + close()", "socket", 40000 / scale, true, "-");
	fresh_netns(NULL);
	measure("getsockname() of a tracked socket", "getsockname", 200000 / scale, false, "-");
	fresh_netns(NULL);
	struct result r_conn = measure("connect + accept + close (loopback)", "connect",
				       4000 / scale, true, "<= 1.05");
	fresh_netns(TINY_RANGE);
	struct result r_bout = measure("bind() outside the ephemeral range", "bind_out",
				       20000 / scale, true, "<= 1.10");

	/* bind inside the range, with background sockets from a helper */
	static const long bg_conns[] = {0, 5000, 25000};
	static const long bind_n[] = {4000, 400, 60};
	struct result r_bin[3];
	bool have_scan = tool_ok(o.tool, "scan", "--help");
	double t_proc = -1, t_diag = -1, t_ss = -1, t_scan = -1;
	double q_diag[3], q_conn[3], q_proc[3];
	long bg_count = 0;
	for (int i = 0; i < 3; i++) {
		fresh_netns(NULL); /* the helper connects with the wide default range */
		struct helper h = background(bg_conns[i]);
		if (write_file("/proc/sys/net/ipv4/ip_local_port_range", TINY_RANGE) != 0)
			die("ip_local_port_range: %s", strerror(errno));
		char label[96];
		snprintf(label, sizeof(label), "bind() inside the range, %ld other sockets",
			 2 * bg_conns[i]);
		r_bin[i] = measure(label, "bind_in", bind_n[i] / (scale > 1 ? 2 : 1), false,
				   i == 0 ? "-" : "sock_diag >= 10x cheaper than /proc");
		/* the query alone, from this process (no shim) */
		double q[3];
		time_queries(IN_PORT, PROC_TCP_REPS, q);
		q_diag[i] = q[0];
		q_conn[i] = q[1];
		q_proc[i] = q[2];
		if (bg_conns[i] == 5000) {
			t_proc = q_proc[i];
			t_diag = q_diag[i];
		}
		if (bg_conns[i] == 25000) {
			bg_count = 2 * bg_conns[i];
			char *ss[] = {"ss", "-tanp", NULL};
			double v[3];
			int k = 0;
			for (int j = 0; j < 3; j++)
				if ((v[k] = time_command(ss)) > 0)
					k++;
			t_ss = k ? median(v, k) : -1;
			if (have_scan) {
				char *scan[] = {o.tool, "scan", NULL};
				for (int j = k = 0; j < 3; j++)
					if ((v[k] = time_command(scan)) > 0)
						k++;
				t_scan = k ? median(v, k) : -1;
			}
		}
		helper_stop(&h);
	}

	/* strace as the audit tool, on the same workloads */
	out("\n`strace -f -e trace=network` doing the same audit (same children, same N):\n\n");
	if (!o.have_strace) {
		out("skipped: strace not installed (apt-get install strace)\n");
	} else {
		out("| workload | no shim | shim overhead/op | strace overhead/op | strace / shim "
		    "overhead |\n|---|---|---|---|---|\n");
		const struct {
			const char *label;
			struct result *r;
		} rows[] = {{"close() of a non-socket fd", &r_close},
			    {"socket() + close()", &r_sock},
			    {"connect + accept + close", &r_conn},
			    {"bind() outside the range", &r_bout}};
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const struct result *r = rows[i].r;
			if (!r->ok || !r->strace)
				continue;
			double os = r->ovh_b, ot = r->ovh_s;
			char ta[32], tb[32], tc[32], fac[64];
			fmt_ns(ta, sizeof(ta), r->med_a);
			fmt_ns(tb, sizeof(tb), os);
			fmt_ns(tc, sizeof(tc), ot);
			if (os > 0)
				snprintf(fac, sizeof(fac), "%.0fx", ot / os);
			else
				snprintf(fac, sizeof(fac), "shim overhead below noise");
			out("| %s | %s | %s | %s | %s |\n", rows[i].label, ta, tb, tc, fac);
		}
	}

	/* sock_diag vs /proc/net/tcp */
	out("\nThe in-range query alone (median, from the orchestrator, no shim), and what the "
	    "shim adds to one in-range bind:\n\n"
	    "| other sockets | sock_diag v4+v6 as the shim asks (states + BOUND_INACTIVE) | "
	    "sock_diag without BOUND_INACTIVE | /proc/net/tcp{,6} parsed | /proc / sock_diag | "
	    "shim's added cost per bind |\n|---|---|---|---|---|---|\n");
	for (int i = 0; i < 3; i++) {
		char a[32], b[32], c[32], d[32];
		fmt_ns(a, sizeof(a), q_diag[i]);
		fmt_ns(b, sizeof(b), q_conn[i]);
		fmt_ns(c, sizeof(c), q_proc[i]);
		fmt_ns(d, sizeof(d), r_bin[i].ok ? r_bin[i].ovh_b : -1);
		out("| %ld | %s | %s | %s | %.1fx | %s |\n", 2 * bg_conns[i], a, b, c,
		    q_diag[i] > 0 ? q_proc[i] / q_diag[i] : 0, r_bin[i].ok ? d : "failed");
	}
	if (o.have_strace) {
		/* what an in-range bind asks the kernel, per bind */
		double dumps = syscalls_per_op(V_SHIM, "bind_in", 40, "trace=sendto", "NETLINK");
		double procs =
			syscalls_per_op(V_SHIM, "bind_in", 40, "trace=openat", "/proc/net/tcp");
		out("\nPer in-range bind with the shim (counted with strace): %.2f sock_diag "
		    "requests (one per family), %.2f opens of /proc/net/tcp*\n",
		    dumps, procs);
	}

	/* syscalls per operation */
	if (o.have_strace) {
		out("\nSyscalls per operation (strace -f, difference of two run lengths):\n\n"
		    "| workload | no shim | shim |\n|---|---|---|\n");
		const struct {
			const char *label, *w;
			long n;
		} sc[] = {{"close() of a non-socket fd", "close", 2000},
			  {"socket() + close()", "socket", 200},
			  {"connect + accept + close", "connect", 100},
			  {"bind() outside the range (incl. socket+close)", "bind_out", 200},
			  {"bind() inside the range, 0 sockets (incl. socket+close)", "bind_in",
			   200}};
		fresh_netns(TINY_RANGE);
		for (size_t i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
			double a = syscalls_per_op(V_NONE, sc[i].w, sc[i].n, "trace=all", NULL);
			double b = syscalls_per_op(V_SHIM, sc[i].w, sc[i].n, "trace=all", NULL);
			out("| %s | %.2f | %.2f |\n", sc[i].label, a, b);
		}
	}

	/* bindguard scan next to ss */
	out("\nScan of %ld sockets:\n\n", bg_count);
	char sst[32] = "failed";
	if (t_ss > 0)
		fmt_ns(sst, sizeof(sst), t_ss);
	out("- `ss -tanp`: %s\n", sst);
	if (!have_scan) {
		out("- `bindguard scan`: skipped: bindguard scan not implemented yet\n");
	} else {
		char sc[32] = "failed";
		if (t_scan > 0)
			fmt_ns(sc, sizeof(sc), t_scan);
		out("- `bindguard scan`: %s%s\n", sc,
		    t_scan > 0 && t_ss > 0 ? "" : " (exited non-zero)");
		if (t_scan > 0 && t_ss > 0)
			out("- scan / ss: %.2f\n", t_scan / t_ss);
	}

	/* memory */
	out("\nMemory: resident size of a process holding N unconnected TCP sockets "
	    "(median of %d runs each)\n\n",
	    o.reps > 3 ? 3 : o.reps);
	out("| N | no shim | shim | (shim - no shim) / N | marginal, fixed cost removed | "
	    "target |\n|---|---|---|---|---|---|\n");
	fresh_netns(NULL);
	long mem_n[] = {0, 10000, 100000};
	rlim_t fdlim = raise_nofile(100000 + 64);
	if (fdlim < 100000 + 64) {
		mem_n[2] = ((long)fdlim - 64) / 1000 * 1000;
		out("(100000 sockets need RLIMIT_NOFILE >= 100064; the hard limit here is %lu and "
		    "raising it needs CAP_SYS_RESOURCE, so the last row holds %ld)\n\n",
		    (unsigned long)fdlim, mem_n[2]);
	}
	double d0 = 0, per_sock[3] = {0};
	int mreps = o.reps > 3 ? 3 : o.reps;
	for (int i = 0; i < 3; i++) {
		double a[MAX_REPS], b[MAX_REPS];
		int k = 0;
		for (int r = 0; r < mreps; r++) {
			double va = run_child(V_NONE, "rss", mem_n[i]);
			double vb = run_child(V_SHIM, "rss", mem_n[i]);
			if (va > 0 && vb > 0) {
				a[k] = va;
				b[k] = vb;
				k++;
			}
		}
		if (!k) {
			out("| %ld | failed | | | | |\n", mem_n[i]);
			continue;
		}
		double ma = median(a, k), mb = median(b, k);
		if (mem_n[i] == 0) {
			d0 = mb - ma;
			out("| 0 | %.0f kB | %.0f kB | fixed cost %.0f kB | | |\n", ma, mb, d0);
			continue;
		}
		per_sock[i] = (mb - ma) * 1024 / (double)mem_n[i];
		double marginal = (mb - ma - d0) * 1024 / (double)mem_n[i];
		out("| %ld | %.0f kB | %.0f kB | %.1f B | %.1f B | <= 64 B: %s |\n", mem_n[i], ma,
		    mb, per_sock[i], marginal, verdict(per_sock[i] <= 64));
	}
	/* growth over cycles: what a long-running process accumulates */
	{
		double ga = run_child(V_NONE, "rss_cycles", 100000);
		double gb = run_child(V_SHIM, "rss_cycles", 100000);
		double ca = run_child(V_NONE, "rss_connect", 20000);
		double cb = run_child(V_SHIM, "rss_connect", 20000);
		out("\nRSS growth of a running process (finding, no target):\n\n"
		    "| cycles | no shim | shim | shim bytes per cycle |\n|---|---|---|---|\n"
		    "| 100000 socket() + close() | %.0f kB | %.0f kB | %.1f B |\n"
		    "| 20000 connect + accept + close | %.0f kB | %.0f kB | %.1f B |\n",
		    ga, gb, (gb - ga) * 1024 / 100000, ca, cb, (cb - ca) * 1024 / 20000);
	}

	/* targets */
	out("\nTargets:\n\n");
	if (r_close.ok)
		out("- close() of a non-socket fd <= 1.02: %.3f, %s\n", r_close.ratio,
		    verdict(r_close.ratio <= 1.02));
	if (r_conn.ok)
		out("- connect + accept + close <= 1.05: %.3f, %s\n", r_conn.ratio,
		    verdict(r_conn.ratio <= 1.05));
	if (r_bout.ok)
		out("- bind() outside the range <= 1.10: %.3f, %s\n", r_bout.ratio,
		    verdict(r_bout.ratio <= 1.10));
	if (t_proc > 0 && t_diag > 0)
		out("- in-range query: sock_diag %.1fx cheaper than /proc/net/tcp at 10000 "
		    "sockets (>= 10x): %s\n",
		    t_proc / t_diag, verdict(t_proc / t_diag >= 10));
	if (r_bin[1].ok && t_proc > 0)
		out("- in-range bind with the shim at 10000 sockets: %.1f us added per bind, vs "
		    "%.1f us to parse /proc/net/tcp\n",
		    r_bin[1].ovh_b / 1e3, t_proc / 1e3);
	const struct result *sr[] = {&r_close, &r_sock, &r_conn, &r_bout};
	const char *slabel[] = {"close()", "socket() + close()", "connect + accept + close",
				"bind() outside the range"};
	for (int i = 0; i < 4; i++) {
		const struct result *r = sr[i];
		if (!r->ok || !r->strace)
			continue;
		double os = r->ovh_b, ot = r->ovh_s;
		if (os > 0)
			out("- >= 20x less overhead than strace, %s: %.0fx, %s\n", slabel[i],
			    ot / os, verdict(ot / os >= 20));
		else
			out("- >= 20x less overhead than strace, %s: shim overhead below noise "
			    "(strace adds %.1f us/op), met\n",
			    slabel[i], ot / 1e3);
	}
	if (per_sock[2] > 0)
		out("- <= 64 bytes per tracked socket: %.1f B at %ld sockets, %s\n", per_sock[2],
		    mem_n[2], verdict(per_sock[2] <= 64));
	out("\ntotal time %.0f s\n", (now_ns() - t_start) / 1e9);
	if (o.md)
		fclose(o.md);
	unlink(o.log);
	unlink(o.cfg);
	rmdir(o.tmp);
	return 0;
}
