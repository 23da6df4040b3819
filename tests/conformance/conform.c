/* conform: the kernel is the oracle. Random sequences of socket operations
 * run at the same time on the real kernel (a fresh network namespace per
 * sequence, an ephemeral range of 1-4 ports) and through bindguard's model
 * (shim/bucket.c). After every step the two must agree on the result of
 * bind, listen and connect, and on which ports of the range connect() can
 * still use, observed with a probe connect that closes with RST.
 *
 *   conform [--seed S] [--sequences N] [--steps M] [--verbose]
 *   conform --replay "range 2; socket 0 v4; bind 0 127.0.0.2 40000; ..."
 *   conform --replay-file FILE      one sequence per line, # comments
 *
 * A divergence is shrunk to a minimal sequence and printed as a line for
 * tests/conformance/regressions.txt. Ports the kernel chose are fed back
 * into the model, never guessed. Must run as root (unshare).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/net.h"
#include "bucket.h"
#include "kernel.h"

#define MAXSLOTS   12
#define MAXOPS	   256
#define LO_PORT	   40000
#define PEER4_PORT 6001
#define PEER6_PORT 6002
#define PROBE_PORT 5999
#define OUT_PORT   41000 /* a port outside the range, for binds */

/* ---- operations ------------------------------------------------------------ */

enum opk {
	OP_SOCKET,
	OP_OPT,
	OP_BIND,
	OP_LISTEN,
	OP_CONNECT,
	OP_SHUTDOWN,
	OP_CLOSE,
	OP_RST,
	OP_PEERCLOSE
};

struct op {
	enum opk k;
	int s;	 /* slot */
	int arg; /* socket: 0 v4, 1 v6, 2 v6only; opt: 0 reuseaddr 1 reuseport 2 noport; connect: -1
		    peer, else target slot */
	int on;	 /* opt value */
	char addr[48]; /* bind address */
	int port;      /* bind port */
};

static const char *const fam_names[] = {"v4", "v6", "v6only"};
static const char *const opt_names[] = {"reuseaddr", "reuseport", "noport"};

static void op_text(const struct op *o, char *buf, size_t len)
{
	switch (o->k) {
	case OP_SOCKET:
		snprintf(buf, len, "socket %d %s", o->s, fam_names[o->arg]);
		break;
	case OP_OPT:
		snprintf(buf, len, "opt %d %s %d", o->s, opt_names[o->arg], o->on);
		break;
	case OP_BIND:
		snprintf(buf, len, "bind %d %s %d", o->s, o->addr, o->port);
		break;
	case OP_LISTEN:
		snprintf(buf, len, "listen %d", o->s);
		break;
	case OP_CONNECT:
		if (o->arg < 0)
			snprintf(buf, len, "connect %d peer", o->s);
		else
			snprintf(buf, len, "connect %d slot %d", o->s, o->arg);
		break;
	case OP_SHUTDOWN:
		snprintf(buf, len, "shutdown %d", o->s);
		break;
	case OP_CLOSE:
		snprintf(buf, len, "close %d", o->s);
		break;
	case OP_RST:
		snprintf(buf, len, "rst %d", o->s);
		break;
	case OP_PEERCLOSE:
		snprintf(buf, len, "peerclose %d", o->s);
		break;
	}
}

static int index_of(const char *const *names, int n, const char *w)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], w) == 0)
			return i;
	return -1;
}

static int op_parse(const char *text, struct op *o)
{
	char w[5][48] = {{0}};
	int n = sscanf(text, " %47s %47s %47s %47s %47s", w[0], w[1], w[2], w[3], w[4]);
	memset(o, 0, sizeof(*o));
	if (n < 2)
		return -1;
	o->s = atoi(w[1]);
	if (o->s < 0 || o->s >= MAXSLOTS)
		return -1;
	if (!strcmp(w[0], "socket") && n == 3) {
		o->k = OP_SOCKET;
		o->arg = index_of(fam_names, 3, w[2]);
		return o->arg < 0 ? -1 : 0;
	}
	if (!strcmp(w[0], "opt") && n == 4) {
		o->k = OP_OPT;
		o->arg = index_of(opt_names, 3, w[2]);
		o->on = atoi(w[3]);
		return o->arg < 0 ? -1 : 0;
	}
	if (!strcmp(w[0], "bind") && n == 4) {
		o->k = OP_BIND;
		snprintf(o->addr, sizeof(o->addr), "%s", w[2]);
		o->port = atoi(w[3]);
		return 0;
	}
	if (!strcmp(w[0], "connect") && n >= 3) {
		o->k = OP_CONNECT;
		o->arg = !strcmp(w[2], "peer") ? -1 : (n == 4 ? atoi(w[3]) : -2);
		return o->arg == -2 ? -1 : 0;
	}
	static const struct {
		const char *w;
		enum opk k;
	} simple[] = {{"listen", OP_LISTEN},
		      {"shutdown", OP_SHUTDOWN},
		      {"close", OP_CLOSE},
		      {"rst", OP_RST},
		      {"peerclose", OP_PEERCLOSE}};
	for (unsigned i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (!strcmp(w[0], simple[i].w) && n == 2) {
			o->k = simple[i].k;
			return 0;
		}
	}
	return -1;
}

/* ---- one sequence's world ---------------------------------------------------------- */

struct slot {
	bool used;
	int fd;		 /* -1 once the application closed it */
	int fam;	 /* 0 v4, 1 v6, 2 v6only */
	struct bg_sk sk; /* the model's socket */
	struct bg_sk tw; /* its TIME_WAIT successor, once there is one */
	bool tw_live;
	uint64_t cookie;
	bool connected, listening, active, no_port, bound_noport, gone;
	bool recycled; /* its timewait was taken over by another connect() */
	/* Some kernels before 6.1 (4.18, 5.10.89, 5.14.2; not 5.4.286 and
	 * 5.15.85, whose stable trees got the reset, nor 6.1+) leave the source address a
	 * failed port search chose on the socket: a dual-stack socket whose
	 * connect() to a v4-mapped address failed so keeps ::ffff:127.0.0.1,
	 * and its connect() to an IPv6 address then fails in the route lookup
	 * with EAFNOSUPPORT. A bind that reaches the port check sets or clears
	 * the address again. */
	bool kept_mapped_src;
	struct in6_addr daddr;
	uint16_t dport;
	int peer_fd; /* server side of a connection to a peer server */
};

struct world {
	int nports;
	struct bg_table *t;
	struct slot slot[MAXSLOTS];
	int peer4, peer6, probe_srv;
	struct op ops[MAXOPS];
	int nops;
	int steps_checked;
	bool unmodelled; /* the sequence reached a state the model does not cover */
	char divergence[512];
	bool verbose;
};

static void diverge(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diverge(struct world *w, const char *fmt, ...)
{
	if (w->divergence[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->divergence, sizeof(w->divergence), fmt, ap);
	va_end(ap);
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

static void set_range(int lo, int hi)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%d %d", lo, hi);
	if (write_file("/proc/sys/net/ipv4/ip_local_port_range", buf) != 0) {
		perror("conform: ip_local_port_range");
		exit(3);
	}
}

static void lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
		perror("conform: lo up");
		exit(3);
	}
	close(s);
}

/* make_addr: the harness's addresses are literals, IPv4 or IPv6 */
static socklen_t make_addr(struct sockaddr_storage *ss, const char *ip, int port)
{
	socklen_t l;
	sockaddr_of(ip, port, ss, &l);
	return l;
}

static void addr_port(const struct sockaddr_storage *ss, struct in6_addr *a, uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		bg_addr_from_v4(a, in->sin_addr.s_addr);
		*port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		*a = in6->sin6_addr;
		*port = ntohs(in6->sin6_port);
	}
}

static void local_of(int fd, struct in6_addr *a, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	getsockname(fd, (struct sockaddr *)&ss, &l);
	addr_port(&ss, a, port);
}

static int listener(int fam, const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr(&ss, ip, port);
	int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, l) != 0 || listen(fd, 256) != 0) {
		fprintf(stderr, "conform: listener %s:%d: %s\n", ip, port, strerror(errno));
		exit(3);
	}
	return fd;
}

static void rst_close(int fd)
{
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) != 0)
		return -1;
	return ti.tcpi_state;
}

static int g_nports = 1;

/* Loopback delivers in softirq context, not always before the syscall
 * returns: wait until no socket on the range is between two states
 * (FIN_WAIT1, LAST_ACK, CLOSING, SYN_SENT, SYN_RECV), at most ~50 ms, so that
 * the model sees the kernel's transitions in the kernel's order. */
static void settle(void)
{
	static struct bg_ksock k[512];
	for (int round = 0; round < 250; round++) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
		bool moving = false;
		for (int p = LO_PORT; p <= LO_PORT + g_nports && !moving; p++) {
			enum bg_view v;
			uint16_t port = (uint16_t)(p == LO_PORT + g_nports ? OUT_PORT : p);
			int n = bg_kernel_port_sockets(port, k, 512, &v);
			for (int i = 0; i < n && !moving; i++) {
				int st = k[i].state;
				moving = st == BG_TCP_FIN_WAIT1 || st == BG_TCP_LAST_ACK ||
					 st == BG_TCP_CLOSING || st == BG_TCP_SYN_SENT ||
					 st == BG_TCP_SYN_RECV;
			}
		}
		if (!moving)
			return;
	}
}

static void *xalloc(unsigned long n)
{
	return malloc(n);
}

/* ---- the model's side ----------------------------------------------------------------- */

static bool same_addr(const struct in6_addr *a, const struct in6_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Which socket we know (open, orphaned, TIME_WAIT, accepted child) already
 * uses this 4-tuple? __inet_check_established() refuses a duplicate, except
 * that it may recycle a timewait socket (see tw_recyclable). Returns the
 * slot, with *is_tw telling whether the holder is the slot's timewait. */
static int tuple_holder(const struct world *w, const struct in6_addr *src, uint16_t sport,
			const struct in6_addr *dst, uint16_t dport, bool *is_tw)
{
	for (int i = 0; i < MAXSLOTS; i++) {
		const struct slot *s = &w->slot[i];
		if (!s->used || s->gone || !s->connected || s->dport != dport ||
		    !same_addr(&s->daddr, dst))
			continue;
		/* a socket whose connection ended (CLOSE) is out of the
		 * established hash, even if bound again since */
		if (s->sk.tb && s->sk.state != BG_TCP_CLOSE && s->sk.num == sport &&
		    same_addr(&s->sk.rcv_saddr, src)) {
			*is_tw = false;
			return i;
		}
		if (s->tw_live && s->tw.num == sport && same_addr(&s->tw.rcv_saddr, src)) {
			*is_tw = true;
			return i;
		}
	}
	return -1;
}

static bool tuple_taken(const struct world *w, const struct in6_addr *src, uint16_t sport,
			const struct in6_addr *dst, uint16_t dport)
{
	bool is_tw;
	return tuple_holder(w, src, sport, dst, dport, &is_tw) >= 0;
}

/* Would __inet_hash_connect() find a port for src -> dst? It scans
 * `remaining = high - low` ports rounded down to even (when more than one),
 * so the last port of an odd-sized range is never tried. */
static bool connect_port_available(const struct world *w, const struct in6_addr *src,
				   const struct in6_addr *dst, uint16_t dport)
{
	int remaining = w->nports > 1 ? w->nports & ~1 : w->nports;
	for (int p = LO_PORT; p < LO_PORT + remaining; p++) {
		const struct bg_tb *tb = bg_tb_find(w->t, (uint16_t)p);
		if (tb && bg_tb_pinned(w->t, tb))
			continue;
		if (tb && tuple_taken(w, src, (uint16_t)p, dst, dport))
			continue;
		return true;
	}
	return false;
}

static void kept_state(struct slot *s, int st)
{
	if (st > 0 && st != BG_TCP_CLOSE)
		s->active = true;
	s->sk.state = (uint8_t)st;
}

/* The kernel moved sk to TIME_WAIT: inet_twsk_hashdance() links the tw into
 * the buckets, then the full socket leaves them (unless its port is locked,
 * in which case it leaves when destroyed). */
static void hashdance(struct world *w, struct slot *s, bool full_socket_leaves)
{
	s->tw = s->sk;
	s->tw.tb = NULL;
	s->tw.tb2 = NULL;
	s->tw.bind_next = NULL;
	s->tw.state = BG_TCP_TIME_WAIT; /* or FIN_WAIT2 for an orphan: same kind of owner */
	if (s->sk.tb && bg_inherit_port(w->t, &s->tw, &s->sk) == 0)
		s->tw_live = true;
	if (full_socket_leaves)
		bg_put_port(w->t, &s->sk);
}

/* Bring owners in line with the kernel after a step: states from TCP_INFO
 * for open sockets, from sock_diag (by cookie) for closed ones. */
static void reconcile(struct world *w)
{
	static struct bg_ksock k[512];
	int n = 0;
	/* the range, and the one port outside it that sequences bind */
	for (int p = LO_PORT; p <= LO_PORT + w->nports && n < 512; p++) {
		enum bg_view v;
		uint16_t port = (uint16_t)(p == LO_PORT + w->nports ? OUT_PORT : p);
		int got = bg_kernel_port_sockets(port, k + n, 512 - n, &v);
		if (got > 0)
			n += got;
	}
	for (int i = 0; i < MAXSLOTS; i++) {
		struct slot *s = &w->slot[i];
		if (!s->used || s->gone)
			continue;
		const struct bg_ksock *tw = NULL, *full = NULL;
		for (int j = 0; j < n; j++) {
			if (k[j].cookie != s->cookie)
				continue;
			if (k[j].timewait)
				tw = &k[j];
			else
				full = &k[j];
		}
		if (s->fd >= 0) {
			int st = tcp_state(s->fd);
			if (tw && !s->tw_live && !s->recycled)
				hashdance(w, s, !s->sk.bindport_lock);
			else if (st == BG_TCP_CLOSE && s->sk.state != BG_TCP_CLOSE &&
				 !s->sk.bindport_lock && s->sk.tb)
				bg_put_port(w->t, &s->sk); /* tcp_set_state(TCP_CLOSE) */
			kept_state(s, st);
		} else {
			if (tw && !s->tw_live && !s->recycled)
				hashdance(w, s, true);
			else if (!full && s->sk.tb)
				bg_put_port(w->t, &s->sk);
			else if (full)
				kept_state(s, full->state);
		}
		if (s->tw_live && !tw) {
			bg_put_port(w->t, &s->tw);
			s->tw_live = false;
		}
		if (s->fd < 0 && !s->sk.tb && !s->tw_live)
			s->gone = true;
	}
}

/* connect() from an unbound socket to 127.0.0.1:PROBE_PORT with the range
 * narrowed to one port: EADDRNOTAVAIL means connect() may not use it. */
static void probe_ports(struct world *w, const char *step)
{
	for (int p = LO_PORT; p < LO_PORT + w->nports; p++) {
		const struct bg_tb *tb = bg_tb_find(w->t, (uint16_t)p);
		bool model_pinned = tb && bg_tb_pinned(w->t, tb);
		set_range(p, p);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_storage ss;
		socklen_t l = make_addr(&ss, "127.0.0.1", PROBE_PORT);
		int r = connect(fd, (struct sockaddr *)&ss, l);
		int err = errno;
		struct in6_addr src;
		uint16_t sport = 0;
		if (r == 0)
			local_of(fd, &src, &sport);
		rst_close(fd);
		int c = accept4(w->probe_srv, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0)
			rst_close(c);
		set_range(LO_PORT, LO_PORT + w->nports - 1);
		bool kernel_pinned = r != 0;
		if (r != 0 && err != EADDRNOTAVAIL) {
			diverge(w, "%s: probe of port %d failed with %s", step, p,
				strerrorname_np(err));
			return;
		}
		if (kernel_pinned != model_pinned) {
			diverge(w, "%s: port %d: kernel says %s, model says %s (bucket %d,%d)",
				step, p, kernel_pinned ? "pinned" : "usable",
				model_pinned ? "pinned" : "usable", tb ? tb->st.fastreuse : 99,
				tb ? tb->st.fastreuseport : 99);
			return;
		}
		if (r == 0) {
			if (sport != p) {
				diverge(w, "%s: probe of port %d got port %d", step, p, sport);
				return;
			}
			/* the probe joined and left: mirror it, for the release reset */
			struct bg_sk pk = {.family = AF_INET, .state = BG_TCP_ESTABLISHED};
			pk.rcv_saddr = src;
			if (bg_hash_connect(w->t, &pk, (uint16_t)p) == 0)
				bg_put_port(w->t, &pk);
		}
	}
}

/* ---- executing an operation on both sides -------------------------------------------------- */

static int first_free(const struct world *w)
{
	for (int i = 0; i < MAXSLOTS; i++)
		if (!w->slot[i].used)
			return i;
	return -1;
}

/* Compare a call's outcome with the model's expectation (0 or an errno). */
static void expect_result(struct world *w, const char *step, int r, int err, int want)
{
	int got = r == 0 ? 0 : err;
	if (got != want)
		diverge(w, "%s: kernel returned %s, model predicted %s", step,
			got ? strerrorname_np(got) : "success",
			want ? strerrorname_np(want) : "success");
}

static void do_bind(struct world *w, struct slot *s, const struct op *o, const char *step)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr(&ss, o->addr, o->port);
	struct in6_addr a;
	uint16_t port;
	addr_port(&ss, &a, &port);
	if (ss.ss_family == AF_INET6 && s->fam == 0)
		return; /* the generator never mixes these; a replay might */
	int r = bind(s->fd, (struct sockaddr *)&ss, l);
	int err = errno;

	struct bg_sk cand = s->sk;
	cand.tb = NULL;
	cand.tb2 = NULL;
	cand.bind_next = NULL;
	cand.rcv_saddr = a;
	bool mapped = ss.ss_family == AF_INET6 && bg_addr_is_mapped(&a);
	if (ss.ss_family == AF_INET6 && !bg_addr_is_any(&a, AF_INET6) && !mapped)
		cand.ipv6only = true;
	int want = 0;
	bool predicted = true;
	if (s->sk.state != BG_TCP_CLOSE || s->sk.num) /* inet_bind(): already bound or active */
		want = EINVAL;
	else if (mapped && s->sk.ipv6only)
		want = EINVAL;
	else if (o->port == 0)
		predicted = false; /* inet_csk_find_open_port(): the kernel's choice */
	else {
		struct bg_bind_prediction p;
		bg_predict_get_port(w->t, &cand, port, &p);
		want = p.conflict ? EADDRINUSE : 0;
	}
	if (predicted)
		expect_result(w, step, r, err, want);
	if (r == 0 || err == EADDRINUSE)
		s->kept_mapped_src = false;
	if (r != 0) {
		/* __inet_bind() sets the address before get_port() and, when that
		 * fails, zeroes it: an earlier NO_PORT address is lost too */
		if (err == EADDRINUSE && s->bound_noport) {
			memset(&s->sk.rcv_saddr, 0, sizeof(s->sk.rcv_saddr));
			if (s->sk.family == AF_INET)
				bg_addr_from_v4(&s->sk.rcv_saddr, 0);
			s->bound_noport = false;
		}
		return;
	}
	s->sk.rcv_saddr = a;
	s->sk.ipv6only = cand.ipv6only;
	if (o->port == 0 && s->no_port) {
		s->sk.num = 0; /* IP_BIND_ADDRESS_NO_PORT: address only, no bucket */
		s->bound_noport = true;
		return;
	}
	uint16_t got;
	struct in6_addr la;
	local_of(s->fd, &la, &got);
	s->sk.bindport_lock = o->port != 0;
	bg_bind_commit(w->t, &s->sk, got);
}

static void do_listen(struct world *w, struct slot *s, const char *step)
{
	int want = 0;
	bool predicted = true;
	struct bg_bind_prediction p;
	uint8_t old = s->sk.state;
	if (s->listening) {
		want = 0; /* a new backlog only */
	} else if (s->connected || s->sk.state != BG_TCP_CLOSE) {
		want = EINVAL; /* inet_listen(): only an SS_UNCONNECTED socket listens */
	} else if (!s->sk.tb) {
		predicted = false; /* autobind: the kernel picks the port */
	} else {
		s->sk.state = BG_TCP_LISTEN; /* inet_csk_listen_start() sets it first */
		bg_predict_get_port(w->t, &s->sk, s->sk.num, &p);
		s->sk.state = old;
		want = p.conflict ? EADDRINUSE : 0;
	}
	int r = listen(s->fd, 64);
	int err = errno;
	if (predicted)
		expect_result(w, step, r, err, want);
	if (r != 0 || s->listening)
		return;
	s->listening = true;
	s->active = true;
	s->sk.state = BG_TCP_LISTEN;
	fcntl(s->fd, F_SETFL, O_NONBLOCK);
	if (!s->sk.tb) {
		struct in6_addr la;
		uint16_t port;
		local_of(s->fd, &la, &port);
		s->sk.rcv_saddr = la;
		bg_bind_commit(w->t, &s->sk, port);
	} else {
		bg_bind_commit(w->t, &s->sk, s->sk.num);
	}
	s->sk.reuseport_grouped = s->sk.reuseport;
}

/* Where connect() goes: the peer server of the socket's family, or a
 * listening slot. Returns false if no compatible target. A dual-stack socket
 * bound to a v4-mapped address can only reach IPv4 (else EAFNOSUPPORT). */
static bool target_of(const struct world *w, const struct slot *s, int target, char *ip, int *port)
{
	bool mapped_client = s->fam == 1 && s->sk.num + s->bound_noport > 0 &&
			     bg_addr_is_mapped(&s->sk.rcv_saddr);
	bool v4_client = s->fam == 0 || mapped_client;
	if (target < 0) {
		strcpy(ip, s->fam == 0 ? "127.0.0.1" : v4_client ? "::ffff:127.0.0.1" : "::1");
		*port = v4_client ? PEER4_PORT : PEER6_PORT;
		return true;
	}
	const struct slot *t = &w->slot[target];
	if (!t->used || t->fd < 0 || !t->listening || !t->sk.tb)
		return false;
	const struct in6_addr *a = &t->sk.rcv_saddr;
	bool t6 = t->sk.family == AF_INET6;
	bool t_mapped = t6 && bg_addr_is_mapped(a);
	bool t_any6 = t6 && bg_addr_is_any(a, AF_INET6);
	bool t_any4 = (!t6 || t_mapped) && bg_addr_is_any(a, AF_INET);
	bool t_accepts_v4 = !t6 || t_mapped || (t_any6 && !t->sk.ipv6only);
	bool t_accepts_v6 = t6 && !t_mapped;
	char dotted[16];
	if (t_any4 || t_any6)
		strcpy(dotted, "127.0.0.1");
	else
		inet_ntop(AF_INET, &a->s6_addr[12], dotted, sizeof(dotted));
	*port = t->sk.num;
	if (v4_client) {
		if (!t_accepts_v4)
			return false;
		snprintf(ip, 48, "%s%s", s->fam == 0 ? "" : "::ffff:", dotted);
		return true;
	}
	if (t_accepts_v6) {
		if (t_any6)
			strcpy(ip, "::1");
		else
			inet_ntop(AF_INET6, a, ip, 48);
		return true;
	}
	if (s->sk.ipv6only || !t_accepts_v4) /* V6ONLY, or bound to a specific v6 address */
		return false;
	snprintf(ip, 48, "::ffff:%s", dotted);
	return true;
}

/* The source address the kernel uses for dst on loopback. */
static void source_for(const struct slot *s, const struct in6_addr *dst, struct in6_addr *src)
{
	if (!bg_addr_is_any(&s->sk.rcv_saddr, s->sk.family) &&
	    !(s->sk.family == AF_INET6 && bg_addr_is_mapped(&s->sk.rcv_saddr) &&
	      bg_addr_is_any(&s->sk.rcv_saddr, AF_INET))) {
		*src = s->sk.rcv_saddr;
		return;
	}
	if (bg_addr_is_mapped(dst))
		bg_addr_from_v4(src, htonl(0x7f000001));
	else
		*src = in6addr_loopback;
}

static bool dst_is_v4(const struct in6_addr *a)
{
	return bg_addr_is_mapped(a);
}

static void do_connect(struct world *w, struct slot *s, const struct op *o, const char *step)
{
	char ip[48];
	int port;
	if (!target_of(w, s, o->arg, ip, &port))
		return;
	struct sockaddr_storage ss;
	socklen_t l = make_addr(&ss, ip, port);
	if (ss.ss_family == AF_INET6 && s->fam == 0)
		return;
	struct in6_addr dst, src;
	uint16_t dport;
	addr_port(&ss, &dst, &dport);
	if (ss.ss_family == AF_INET)
		bg_addr_from_v4(&dst, ((struct sockaddr_in *)&ss)->sin_addr.s_addr);
	source_for(s, &dst, &src);

	int want, recycle = -1;
	if (s->listening || s->connected || s->sk.state != BG_TCP_CLOSE)
		want = EISCONN; /* inet_stream_connect(): SS_CONNECTED, or not CLOSE */
	else if (s->kept_mapped_src && !dst_is_v4(&dst))
		want = EAFNOSUPPORT;
	else if (!s->sk.num)
		want = connect_port_available(w, &src, &dst, dport) ? 0 : EADDRNOTAVAIL;
	else {
		/* A socket with a port already calls check_established() with
		 * twp == NULL: tcp_twsk_unique() then recycles a timewait socket
		 * of the same 4-tuple whenever it saw timestamps (loopback
		 * always does), whatever tcp_tw_reuse says; the timewait leaves
		 * its bucket (inet_twsk_bind_unhash). */
		bool is_tw;
		int h = tuple_holder(w, &src, s->sk.num, &dst, dport, &is_tw);
		want = h >= 0 && !is_tw ? EADDRNOTAVAIL : 0;
		if (h >= 0 && is_tw)
			recycle = h;
	}
	int r = connect(s->fd, (struct sockaddr *)&ss, l);
	int err = errno;
	if (want >= 0)
		expect_result(w, step, r, err, want);
	if (r != 0) {
		/* whether the failed search left its source address on the
		 * socket is read back, as chosen ports are: kernels differ by
		 * backport, not by version (5.10.89 keeps it, 5.4.286 not) */
		if (err == EADDRNOTAVAIL && !s->sk.num && s->fam == 1 && dst_is_v4(&dst) &&
		    bg_addr_is_any(&s->sk.rcv_saddr, AF_INET6)) {
			struct in6_addr la;
			uint16_t lport;
			local_of(s->fd, &la, &lport);
			s->kept_mapped_src = bg_addr_is_mapped(&la);
		}
		/* A failed connect() of a socket bound to a wildcard moved it to
		 * its source address's TB2 and back (inet_bhash2_reset_saddr);
		 * where it lands on 6.18 the model does not know yet (seen once
		 * in 6,000 sequences): stop comparing this sequence, and say so */
		if (err == EADDRNOTAVAIL && s->sk.tb && !s->connected && !s->listening &&
		    !same_addr(&src, &s->sk.rcv_saddr))
			w->unmodelled = true;
		return;
	}
	struct in6_addr la;
	uint16_t lport;
	local_of(s->fd, &la, &lport);
	/* tcp_v{4,6}_connect() moves a wildcard-bound socket to its source
	 * address's TB2 first; check_established() recycles the timewait after */
	if (s->sk.tb && !same_addr(&la, &s->sk.rcv_saddr))
		bg_update_saddr(w->t, &s->sk, &la);
	if (recycle >= 0) {
		struct slot *old = &w->slot[recycle];
		bg_put_port(w->t, &old->tw);
		old->tw_live = false;
		old->recycled = true;
	}
	s->connected = true;
	s->active = true;
	s->daddr = dst;
	s->dport = dport;
	s->sk.state = BG_TCP_ESTABLISHED;
	if (!s->sk.tb) {
		if (lport < LO_PORT || lport >= LO_PORT + w->nports)
			diverge(w, "%s: kernel picked port %u outside the range", step, lport);
		const struct bg_tb *tb = bg_tb_find(w->t, lport);
		if (tb && bg_tb_pinned(w->t, tb))
			diverge(w, "%s: kernel picked port %u, which the model has pinned", step,
				lport);
		s->sk.rcv_saddr = la;
		bg_hash_connect(w->t, &s->sk, lport);
	}
	if (o->arg < 0) {
		s->peer_fd =
			accept4(dst_is_v4(&dst) ? w->peer4 : w->peer6, NULL, NULL, SOCK_CLOEXEC);
		return;
	}
	/* With SO_REUSEPORT the connection may land on any listener of the
	 * port: take it from whichever has it (listeners are non-blocking). */
	int c = -1, from = o->arg;
	for (int i = 0; i < MAXSLOTS && c < 0; i++) {
		const struct slot *ls = &w->slot[i];
		if (ls->used && ls->fd >= 0 && ls->listening && ls->sk.num == port) {
			c = accept4(ls->fd, NULL, NULL, SOCK_CLOEXEC);
			from = i;
		}
	}
	if (c < 0)
		return;
	o = NULL;
	/* the child of a listening slot owns the listener's port */
	int ci = first_free(w);
	if (ci < 0) {
		rst_close(c);
		return;
	}
	const struct slot *t = &w->slot[from];
	struct slot *ch = &w->slot[ci];
	memset(ch, 0, sizeof(*ch));
	ch->used = true;
	ch->fd = c;
	ch->fam = t->fam;
	ch->peer_fd = -1;
	ch->connected = ch->active = true;
	ch->sk = t->sk;
	ch->sk.tb = NULL;
	ch->sk.tb2 = NULL;
	ch->sk.bind_next = NULL;
	ch->sk.state = BG_TCP_ESTABLISHED;
	ch->sk.reuseport_grouped = false;
	ch->sk.connect_bind = false;
	ch->sk.bindport_lock = false;
	uint16_t cport;
	local_of(c, &ch->sk.rcv_saddr, &cport);
	ch->daddr = src;
	ch->dport = lport;
	socklen_t cl = sizeof(ch->cookie);
	getsockopt(c, SOL_SOCKET, SO_COOKIE, &ch->cookie, &cl);
	bg_inherit_port(w->t, &ch->sk, &t->sk);
	/* the child's 4-tuple, seen from the child, for tuple_taken() */
}

static void do_op(struct world *w, const struct op *o, const char *step)
{
	struct slot *s = &w->slot[o->s];
	if (o->k == OP_SOCKET) {
		if (s->used)
			return;
		static const int fams[] = {AF_INET, AF_INET6, AF_INET6};
		memset(s, 0, sizeof(*s));
		s->fd = socket(fams[o->arg], SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s->fd < 0)
			return;
		s->used = true;
		s->fam = o->arg;
		s->peer_fd = -1;
		s->sk.family = (uint8_t)fams[o->arg];
		s->sk.state = BG_TCP_CLOSE;
		if (o->arg == 2) {
			int one = 1;
			setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			s->sk.ipv6only = true;
		}
		socklen_t l = sizeof(s->cookie);
		getsockopt(s->fd, SOL_SOCKET, SO_COOKIE, &s->cookie, &l);
		return;
	}
	if (!s->used || s->fd < 0)
		return;
	switch (o->k) {
	case OP_OPT: {
		static const int lv[] = {SOL_SOCKET, SOL_SOCKET, IPPROTO_IP};
		static const int on[] = {SO_REUSEADDR, SO_REUSEPORT, IP_BIND_ADDRESS_NO_PORT};
		int v = o->on;
		if (setsockopt(s->fd, lv[o->arg], on[o->arg], &v, sizeof(v)) != 0)
			return;
		if (o->arg == 0)
			s->sk.reuse = v;
		else if (o->arg == 1)
			s->sk.reuseport = v;
		else
			s->no_port = v;
		return;
	}
	case OP_BIND:
		do_bind(w, s, o, step);
		return;
	case OP_LISTEN:
		do_listen(w, s, step);
		return;
	case OP_CONNECT:
		do_connect(w, s, o, step);
		return;
	case OP_SHUTDOWN:
		shutdown(s->fd, SHUT_WR);
		settle();
		return;
	case OP_CLOSE:
	case OP_RST:
		if (o->k == OP_RST)
			rst_close(s->fd);
		else
			close(s->fd);
		s->fd = -1;
		if (s->peer_fd >= 0 && o->k == OP_RST) {
			close(s->peer_fd);
			s->peer_fd = -1;
		}
		settle();
		/* never connected: destroyed now, and its port with it */
		if (!s->connected && s->sk.tb)
			bg_put_port(w->t, &s->sk);
		return;
	case OP_PEERCLOSE:
		if (s->peer_fd >= 0) {
			int before = tcp_state(s->fd);
			close(s->peer_fd);
			s->peer_fd = -1;
			/* the FIN reaches our side in softirq context: wait until
			 * our socket has moved (CLOSE_WAIT, TIME_WAIT, ...) */
			for (int i = 0; i < 200 && tcp_state(s->fd) == before; i++) {
				struct timespec ts = {0, 100000};
				nanosleep(&ts, NULL);
			}
			settle();
		}
		return;
	default:
		return;
	}
}

/* ---- generating operations
 * ------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static int random_slot(const struct world *w, bool open_only)
{
	int idx[MAXSLOTS], n = 0;
	for (int i = 0; i < MAXSLOTS; i++)
		if (w->slot[i].used && (!open_only || w->slot[i].fd >= 0))
			idx[n++] = i;
	return n ? idx[rnd((uint32_t)n)] : -1;
}

static void gen_op(const struct world *w, struct op *o)
{
	memset(o, 0, sizeof(*o));
	int s = random_slot(w, true);
	int free_slot = first_free(w);
	uint32_t r = rnd(100);
	if (s < 0 || (r < 14 && free_slot >= 0)) {
		if (free_slot < 0) {
			o->k = OP_CLOSE;
			o->s = random_slot(w, true) < 0 ? 0 : random_slot(w, true);
			return;
		}
		o->k = OP_SOCKET;
		o->s = free_slot;
		o->arg = (int)rnd(3);
		return;
	}
	o->s = s;
	const struct slot *sl = &w->slot[s];
	if (r < 26) {
		o->k = OP_OPT;
		o->arg = (int)rnd(3);
		o->on = rnd(4) != 0;
	} else if (r < 46) {
		o->k = OP_BIND;
		static const char *const v4[] = {"127.0.0.1", "127.0.0.2", "0.0.0.0"};
		static const char *const v6[] = {"::1", "::", "::ffff:127.0.0.1",
						 "::ffff:127.0.0.2", "::ffff:0.0.0.0"};
		if (sl->fam == 0)
			strcpy(o->addr, v4[rnd(3)]);
		else
			strcpy(o->addr, v6[rnd(5)]);
		uint32_t pr = rnd(10);
		o->port = pr < 2 ? 0 : pr < 3 ? OUT_PORT : LO_PORT + (int)rnd((uint32_t)w->nports);
	} else if (r < 54) {
		o->k = OP_LISTEN;
	} else if (r < 74) {
		o->k = OP_CONNECT;
		o->arg = -1;
		if (rnd(3) == 0) {
			int t = random_slot(w, true);
			if (t >= 0 && w->slot[t].listening)
				o->arg = t;
		}
	} else if (r < 80) {
		o->k = OP_SHUTDOWN;
	} else if (r < 88) {
		o->k = OP_PEERCLOSE;
	} else if (r < 96) {
		o->k = OP_CLOSE;
	} else {
		o->k = OP_RST;
	}
}

/* ---- one sequence, in a child process with its own network namespace
 * ------------------------------ */

struct outcome {
	int steps;
	bool unmodelled;
	char divergence[512];
};

static void run_in_namespace(struct world *w, const struct op *ops, int nops, bool generate,
			     int max_steps, struct outcome *out)
{
	if (unshare(CLONE_NEWNET) != 0) {
		perror("conform: unshare(CLONE_NEWNET)");
		exit(3);
	}
	lo_up();
	write_file("/proc/sys/net/ipv4/tcp_tw_reuse", "0");
	set_range(LO_PORT, LO_PORT + w->nports - 1);
	g_nports = w->nports;
	w->peer4 = listener(AF_INET, "127.0.0.1", PEER4_PORT);
	w->peer6 = listener(AF_INET6, "::1", PEER6_PORT);
	w->probe_srv = listener(AF_INET, "127.0.0.1", PROBE_PORT);
	fcntl(w->probe_srv, F_SETFL, O_NONBLOCK); /* probes are accepted only to be reset */
	w->t = calloc(1, sizeof(*w->t));
	w->t->alloc = xalloc;
	w->t->free = free;
	struct utsname u;
	uname(&u);
	bg_table_init(w->t, bg_profile_for_kernel(bg_kver_parse(u.release)));
	int total = generate ? max_steps : nops;
	for (int i = 0; i < total && !w->divergence[0] && !w->unmodelled; i++) {
		struct op o;
		if (generate)
			gen_op(w, &o);
		else
			o = ops[i];
		w->ops[w->nops++] = o;
		char step[96];
		op_text(&o, step, sizeof(step));
		if (w->verbose)
			fprintf(stderr, "  step %d: %s\n", i, step);
		do_op(w, &o, step);
		reconcile(w);
		if (!w->divergence[0])
			probe_ports(w, step);
		w->steps_checked++;
	}
	out->steps = w->steps_checked;
	out->unmodelled = w->unmodelled;
	snprintf(out->divergence, sizeof(out->divergence), "%s", w->divergence);
}

/* Run a sequence in a forked child; the child reports through a pipe. */
static int run_sequence(int nports, const struct op *ops, int nops, uint64_t seed, int steps,
			bool verbose, struct outcome *out, char *text, size_t textlen)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		static struct world w;
		memset(&w, 0, sizeof(w));
		w.nports = nports;
		w.verbose = verbose;
		rng_state = seed ? seed : 1;
		struct outcome o = {0};
		run_in_namespace(&w, ops, nops, ops == NULL, steps, &o);
		char buf[MAXOPS * 48];
		int n = snprintf(buf, sizeof(buf), "range %d", nports);
		for (int i = 0; i < w.nops && n < (int)sizeof(buf) - 64; i++) {
			char t[96];
			op_text(&w.ops[i], t, sizeof(t));
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "; %s", t);
		}
		if (write(p[1], &o, sizeof(o)) != (ssize_t)sizeof(o) ||
		    write(p[1], buf, strlen(buf) + 1) < 0)
			_exit(3);
		_exit(0);
	}
	close(p[1]);
	memset(out, 0, sizeof(*out));
	ssize_t got = read(p[0], out, sizeof(*out));
	size_t off = 0;
	ssize_t n;
	while (off + 1 < textlen && (n = read(p[0], text + off, textlen - 1 - off)) > 0)
		off += (size_t)n;
	text[off] = 0;
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	if (got != (ssize_t)sizeof(*out) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(out->divergence, sizeof(out->divergence),
			 "harness child failed (status %d)", status);
		return -1;
	}
	return 0;
}

static int parse_sequence(const char *text, int *nports, struct op *ops)
{
	char buf[MAXOPS * 48];
	snprintf(buf, sizeof(buf), "%s", text);
	int n = 0;
	*nports = 1;
	char *save = NULL;
	for (char *part = strtok_r(buf, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
		while (*part == ' ')
			part++;
		if (!*part)
			continue;
		if (!strncmp(part, "range ", 6)) {
			*nports = atoi(part + 6);
			if (*nports < 1 || *nports > 16)
				return -1;
			continue;
		}
		if (n == MAXOPS || op_parse(part, &ops[n]) != 0) {
			fprintf(stderr, "conform: cannot parse \"%s\"\n", part);
			return -1;
		}
		n++;
	}
	return n;
}

/* Drop operations one at a time while the sequence still diverges. */
static void shrink(int nports, struct op *ops, int *nops)
{
	struct outcome out;
	char text[MAXOPS * 48];
	bool progress = true;
	while (progress) {
		progress = false;
		for (int i = *nops - 1; i >= 0; i--) {
			struct op trial[MAXOPS];
			int n = 0;
			for (int j = 0; j < *nops; j++)
				if (j != i)
					trial[n++] = ops[j];
			run_sequence(nports, trial, n, 0, 0, false, &out, text, sizeof(text));
			if (out.divergence[0] && strncmp(out.divergence, "harness", 7) != 0) {
				memcpy(ops, trial, sizeof(struct op) * (size_t)n);
				*nops = n;
				progress = true;
			}
		}
	}
}

static void print_sequence(int nports, const struct op *ops, int nops)
{
	printf("range %d", nports);
	for (int i = 0; i < nops; i++) {
		char t[96];
		op_text(&ops[i], t, sizeof(t));
		printf("; %s", t);
	}
	printf("\n");
}

static int report_divergence(const char *text, const char *why, bool do_shrink)
{
	int nports;
	static struct op ops[MAXOPS];
	int n = parse_sequence(text, &nports, ops);
	printf("DIVERGENCE: %s\n  sequence: %s\n", why, text);
	if (do_shrink && n > 0) {
		shrink(nports, ops, &n);
		struct outcome out;
		char t2[MAXOPS * 48];
		run_sequence(nports, ops, n, 0, 0, false, &out, t2, sizeof(t2));
		printf("  minimal (%d ops): %s\n  add to tests/conformance/regressions.txt:\n", n,
		       out.divergence);
		print_sequence(nports, ops, n);
	}
	return 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int replay_file(const char *path, bool verbose)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "conform: %s: %s\n", path, strerror(errno));
		return 2;
	}
	char line[MAXOPS * 48];
	int pass = 0, fail = 0, lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		int nports;
		static struct op ops[MAXOPS];
		int n = parse_sequence(line, &nports, ops);
		if (n < 0) {
			printf("FAIL %s:%d: unparsable\n", path, lineno);
			fail++;
			continue;
		}
		struct outcome out;
		char text[MAXOPS * 48];
		run_sequence(nports, ops, n, 0, 0, verbose, &out, text, sizeof(text));
		if (out.divergence[0]) {
			printf("#   %s\nFAIL regression %s:%d\n", out.divergence, path, lineno);
			fail++;
		} else {
			printf("ok regression %s:%d\n", path, lineno);
			pass++;
		}
	}
	fclose(f);
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = (uint64_t)time(NULL);
	int sequences = 100, steps = 30;
	bool verbose = false;
	const char *replay = NULL, *replay_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--sequences") && i + 1 < argc)
			sequences = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
			steps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--replay") && i + 1 < argc)
			replay = argv[++i];
		else if (!strcmp(argv[i], "--replay-file") && i + 1 < argc)
			replay_path = argv[++i];
		else {
			fprintf(stderr, "usage: conform [--seed S] [--sequences N] [--steps M] "
					"[--verbose]\n"
					"       conform --replay SEQUENCE | --replay-file FILE\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (steps > MAXOPS)
		steps = MAXOPS;
	struct utsname u;
	uname(&u);
	const char *profile = bg_profile_name(bg_profile_for_kernel(bg_kver_parse(u.release)).id);
	if (replay_path)
		return replay_file(replay_path, verbose);
	if (replay) {
		int nports;
		static struct op ops[MAXOPS];
		int n = parse_sequence(replay, &nports, ops);
		if (n < 0)
			return 2;
		struct outcome out;
		char text[MAXOPS * 48];
		run_sequence(nports, ops, n, 0, 0, verbose, &out, text, sizeof(text));
		if (out.divergence[0])
			return report_divergence(text, out.divergence, false);
		printf("conform: replay ok, %d steps\n", out.steps);
		return 0;
	}
	printf("conform: kernel=%s profile=%s seed=%llu sequences=%d steps=%d\n", u.release,
	       profile, (unsigned long long)seed, sequences, steps);
	double t0 = now();
	long total_steps = 0;
	int divergences = 0, unmodelled = 0;
	for (int i = 0; i < sequences; i++) {
		uint64_t s =
			seed * 6364136223846793005ULL + (uint64_t)i * 1442695040888963407ULL + 1;
		rng_state = s;
		int nports = 1 + (int)rnd(4);
		struct outcome out;
		char text[MAXOPS * 48];
		run_sequence(nports, NULL, 0, s, steps, verbose, &out, text, sizeof(text));
		total_steps += out.steps;
		unmodelled += out.unmodelled;
		if (out.divergence[0]) {
			divergences++;
			printf("sequence %d (seed %llu):\n", i, (unsigned long long)seed);
			report_divergence(text, out.divergence, true);
			if (divergences >= 3)
				break;
		}
	}
	printf("conformance: kernel=%s profile=%s sequences=%d steps=%ld divergences=%d seed=%llu "
	       "time=%.1fs unmodelled=%d\n",
	       u.release, profile, sequences, total_steps, divergences, (unsigned long long)seed,
	       now() - t0, unmodelled);
	return divergences ? 1 : 0;
}
