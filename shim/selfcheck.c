/* selfcheck.c: does the model agree with the kernel about every socket this
 * process holds? Run at exit under BINDGUARD_SELF_CHECK=1, by the tests.
 * Per fd that names a tracked TCP socket: the port it holds in a bucket,
 * its local address, connected, listening (and LISTEN state), v6-only,
 * against getsockname/getpeername/TCP_INFO/SO_ACCEPTCONN/IPV6_V6ONLY (and,
 * for a socket that is neither, sock_diag: a CLOSE socket's getsockname
 * keeps the port of a failed connect()). Then the model's own links: the socket sits in its port's
 * bucket, its reference count is the number of fds naming it, every own
 * owner of every bucket is named by an fd.
 * Everything under the model lock; the events after it.
 */
#define _GNU_SOURCE
#include "selfcheck.h"

#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdtable.h"
#include "kernel.h"
#include "libc.h"
#include "merge.h"

#define MAX_EVENTS 64 /* mismatch events written; all are counted */

struct finding {
	int fd;
	char what[64];
	struct bg_sock_view model, kernel;
};

struct tracked {
	const struct bg_sock *s;
	int fd;
};

static struct {
	struct bg_self_check_result r;
	struct finding *f;
	size_t nf, capf;
	bool diag_bound_only; /* sock_diag lists bound-only sockets (6.6+) */
} sc;

/* Is the socket with this inode in a bucket of port (sock_diag)? */
static bool diag_holds(uint16_t port, uint32_t inode)
{
	static struct bg_ksock k[256];
	enum bg_view v;
	int n = bg_kernel_port_sockets(port, k, 256, &v);
	for (int i = 0; i < n; i++)
		if (k[i].inode == inode)
			return true;
	return false;
}

/* The kernel's view of fd; *inode is 0 unless it is a socket. */
static void kernel_view(int fd, struct bg_sock_view *k, uint32_t *inode)
{
	memset(k, 0, sizeof(*k));
	struct stat st;
	*inode = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? (uint32_t)st.st_ino : 0;
	int domain = *inode ? bg_getint(fd, SOL_SOCKET, SO_DOMAIN) : -1;
	k->tcp = (domain == AF_INET || domain == AF_INET6) &&
		 bg_getint(fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM &&
		 bg_getint(fd, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP;
	k->bound_known = true;
	if (!k->tcp)
		return;
	k->family = (uint8_t)domain;
	k->v6only = domain == AF_INET6 && bg_getint(fd, IPPROTO_IPV6, IPV6_V6ONLY) > 0;
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0)
		k->state = ti.tcpi_state;
	k->listening = bg_getint(fd, SOL_SOCKET, SO_ACCEPTCONN) > 0;
	struct sockaddr_storage ss;
	l = sizeof(ss);
	/* getpeername() says ENOTCONN in SYN_SENT too, where the model says connected */
	k->connected =
		getpeername(fd, (struct sockaddr *)&ss, &l) == 0 || k->state == BG_TCP_SYN_SENT;
	l = sizeof(ss);
	if (bg_real.getsockname(fd, (struct sockaddr *)&ss, &l) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		bg_addr_of(&ss, &k->addr, &k->port);
	if (!k->port || k->listening || k->connected)
		return;
	/* bound only, or a leftover of a failed connect() that holds nothing */
	if (sc.diag_bound_only)
		k->port = diag_holds(k->port, *inode) ? k->port : 0;
	else
		k->bound_known = false;
}

static void model_view(const struct bg_sock *s, struct bg_sock_view *m)
{
	memset(m, 0, sizeof(*m));
	m->tcp = true;
	m->bound_known = true;
	m->family = s->sk.family;
	m->state = s->sk.state;
	m->port = s->sk.tb ? s->sk.num : 0;
	m->addr = s->sk.rcv_saddr;
	m->connected = s->connected;
	m->listening = s->listening;
	m->v6only = s->sk.family == AF_INET6 && s->sk.ipv6only;
}

static void add(int fd, const char *what, const struct bg_sock_view *m,
		const struct bg_sock_view *k)
{
	sc.r.mismatches++;
	if (sc.nf == sc.capf) {
		size_t cap = sc.capf ? sc.capf * 2 : 16;
		struct finding *f = realloc(sc.f, cap * sizeof(*f));
		if (!f)
			return;
		sc.f = f;
		sc.capf = cap;
	}
	struct finding *f = &sc.f[sc.nf++];
	f->fd = fd;
	snprintf(f->what, sizeof(f->what), "%s", what);
	f->model = *m;
	f->kernel = *k;
}

static void field(char *what, size_t len, bool differ, const char *name)
{
	if (!differ)
		return;
	size_t n = strlen(what);
	snprintf(what + n, len - n, "%s%s", n ? "," : "", name);
}

static bool on_owner_list(const struct bg_table *t, const struct bg_sk *sk)
{
	const struct bg_tb *tb = bg_tb_find(t, sk->num);
	if (tb != sk->tb || !sk->tb2)
		return false;
	for (const struct bg_sk *o = tb->owners; o; o = o->bind_next)
		if (o == sk)
			return true;
	return false;
}

/* One fd naming tracked socket s: the kernel's view against the model's. */
static void check_fd(const struct bg_table *t, int fd, const struct bg_sock *s, uint32_t *inode)
{
	struct bg_sock_view m, k;
	model_view(s, &m);
	kernel_view(fd, &k, inode);
	char what[64] = "";
	field(what, sizeof(what), !k.tcp, "tcp");
	if (k.tcp) {
		if (!k.bound_known)
			sc.r.unverified++;
		field(what, sizeof(what), k.bound_known && m.port != k.port, "port");
		field(what, sizeof(what),
		      m.port && m.port == k.port && memcmp(&m.addr, &k.addr, sizeof(m.addr)),
		      "address");
		field(what, sizeof(what), m.connected != k.connected, "connected");
		field(what, sizeof(what), m.listening != k.listening, "listening");
		field(what, sizeof(what), m.v6only != k.v6only, "v6only");
		field(what, sizeof(what),
		      (m.state == BG_TCP_LISTEN) != (k.state == BG_TCP_LISTEN) ||
			      (m.state == BG_TCP_LISTEN) != m.listening,
		      "state");
	}
	field(what, sizeof(what),
	      (s->sk.tb && !on_owner_list(t, &s->sk)) || (!s->sk.tb && s->sk.num), "bucket");
	if (what[0])
		add(fd, what, &m, &k);
}

static int by_sock(const void *a, const void *b)
{
	const struct tracked *x = a, *y = b;
	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return x->fd - y->fd;
}

static int by_inode(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t distinct(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), by_inode);
	uint64_t d = 0;
	for (size_t i = 0; i < n; i++)
		d += i == 0 || v[i] != v[i - 1];
	return d;
}

static const struct tracked *find_sock(const struct tracked *t, size_t n, const struct bg_sock *s)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t[mid].s < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && t[lo].s == s ? &t[lo] : NULL;
}

/* The model's own links, given every (socket, fd) pair sorted by socket. */
static void check_links(const struct bg_table *t, const struct tracked *tr, size_t n)
{
	struct bg_sock_view none;
	memset(&none, 0, sizeof(none));
	/* each socket's reference count is the number of fds naming it */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && tr[j].s == tr[i].s)
			j++;
		sc.r.sockets++;
		sc.r.listening += tr[i].s->listening;
		sc.r.connected += tr[i].s->connected;
		int refs = atomic_load(&((struct bg_sock *)tr[i].s)->refs);
		if (refs != (int)(j - i)) {
			struct bg_sock_view m;
			model_view(tr[i].s, &m);
			add(tr[i].fd, "refs", &m, &none);
		}
		i = j;
	}
	/* every own owner of a bucket is a socket some fd names */
	for (unsigned port = 1; port < 65536; port++) {
		const struct bg_tb *tb = bg_tb_find(t, (uint16_t)port);
		for (const struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next) {
			if (o->kind != BG_KIND_OWN)
				continue;
			const struct bg_sock *s =
				(const struct bg_sock *)((const char *)o -
							 offsetof(struct bg_sock, sk));
			if (find_sock(tr, n, s))
				continue;
			struct bg_sock_view m;
			memset(&m, 0, sizeof(m));
			m.tcp = m.bound_known = true;
			m.family = o->family;
			m.state = o->state;
			m.port = (uint16_t)port;
			m.addr = o->rcv_saddr;
			add(-1, "owner", &m, &none); /* in a bucket, on no fd */
		}
	}
}

bool bg_self_check_on(void)
{
	const char *on = secure_getenv("BINDGUARD_SELF_CHECK");
	return on && strcmp(on, "1") == 0;
}

void bg_self_check(const struct bg_table *t)
{
	memset(&sc, 0, sizeof(sc));
	sc.diag_bound_only = bg_kernel_view() == BG_VIEW_SOCK_DIAG &&
			     bg_kernel_version(NULL, 0) >= BG_KVER(6, 6, 0);
	int limit = bg_fd_limit();
	struct tracked *tr = calloc((size_t)limit + 1, sizeof(*tr));
	uint32_t *untracked = calloc((size_t)limit + 1, sizeof(*untracked));
	size_t n = 0, nu = 0;
	for (int fd = 0; tr && untracked && fd < limit; fd++) {
		const struct bg_sock *s = bg_fd_get(fd);
		struct bg_sock_view k;
		uint32_t inode;
		if (s && s != &bg_not_tcp && s->tcp) {
			check_fd(t, fd, s, &inode);
			sc.r.fds++;
			tr[n].s = s;
			tr[n++].fd = fd;
			continue;
		}
		kernel_view(fd, &k, &inode);
		if (k.tcp && !s)
			untracked[nu++] = inode;
		else if (k.tcp) { /* the model took it for another kind of socket */
			struct bg_sock_view m;
			memset(&m, 0, sizeof(m));
			add(fd, "tcp", &m, &k);
		}
	}
	if (tr && untracked) {
		qsort(tr, n, sizeof(*tr), by_sock);
		check_links(t, tr, n);
		sc.r.untracked = distinct(untracked, nu);
	}
	free(tr);
	free(untracked);
}

void bg_self_check_report(struct bg_counters *c)
{
	for (size_t i = 0; i < sc.nf && i < MAX_EVENTS; i++)
		bg_event_self_check_mismatch(sc.f[i].fd, sc.f[i].what, &sc.f[i].model,
					     &sc.f[i].kernel);
	free(sc.f);
	c->self_check = &sc.r;
}
