/* kernel.c: the shim's questions to the real kernel. Every fd opened here is
 * O_CLOEXEC and closed before returning; sockets are raw system calls (sys.h)
 * the wrappers never see them.
 */
#define _GNU_SOURCE
#include "kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bucket.h"
#include "sys.h"

const char *bg_view_name(enum bg_view v)
{
	switch (v) {
	case BG_VIEW_SOCK_DIAG:
		return "sock_diag";
	case BG_VIEW_PROC:
		return "proc";
	default:
		return "none";
	}
}

unsigned bg_kernel_version(char *release, unsigned len)
{
	struct utsname u;
	if (uname(&u) != 0)
		return 0;
	if (release && len) {
		strncpy(release, u.release, len - 1);
		release[len - 1] = 0;
	}
	return bg_kver_parse(u.release);
}

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off + 1 < len) {
		ssize_t n = read(fd, buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	bg_sys_close(fd);
	buf[off] = 0;
	return (ssize_t)off;
}

/* The range and the reserved ports, refreshed once a second: a bind outside
 * the range must not pay a syscall, and sysctl changes are rare. */
static struct {
	atomic_long stamp;	/* CLOCK_MONOTONIC_COARSE second of the last read, +1 */
	_Atomic uint32_t range; /* low << 16 | high */
	_Atomic uint64_t reserved[65536 / 64];
} ports;

void bg_parse_port_list(const char *s, uint64_t map[65536 / 64])
{
	memset(map, 0, 65536 / 8);
	while (*s) {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;
		if (end == s)
			break;
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		for (unsigned long p = a; p <= b && p < 65536; p++)
			map[p / 64] |= 1ULL << (p % 64);
		s = end;
		while (*s == ',' || *s == ' ' || *s == '\n')
			s++;
	}
}

static void parse_reserved(const char *s, uint64_t *map)
{
	bg_parse_port_list(s, map);
	for (unsigned i = 0; i < 65536 / 64; i++)
		atomic_store_explicit(&ports.reserved[i], map[i], memory_order_relaxed);
}

#define SYSCTL_BUF 4096

/* Runs on the application's stack in any thread, which may be small: the
 * 4 KiB text and the 8 KiB bitmap come from the heap. Without them the old
 * values stay, and the next call tries again. */
static void refresh_ports(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	long now = (long)ts.tv_sec + 1;
	long last = atomic_load_explicit(&ports.stamp, memory_order_acquire);
	if (last == now)
		return;
	char *buf = malloc(SYSCTL_BUF);
	uint64_t *map = malloc(65536 / 8);
	if (!buf || !map) {
		free(buf);
		free(map);
		return;
	}
	/* Unreadable (after a chroot(), or /proc not mounted): the range read
	 * last stays; the kernel's default only if none was ever read. */
	unsigned lo = 32768, hi = 60999;
	bool got = read_file("/proc/sys/net/ipv4/ip_local_port_range", buf, SYSCTL_BUF) > 0 &&
		   sscanf(buf, "%u %u", &lo, &hi) == 2 && lo <= 65535 && hi <= 65535 && lo <= hi;
	if (!got) {
		lo = 32768;
		hi = 60999;
	}
	if (got || last == 0)
		atomic_store_explicit(&ports.range, (uint32_t)(lo << 16 | hi),
				      memory_order_relaxed);
	if (read_file("/proc/sys/net/ipv4/ip_local_reserved_ports", buf, SYSCTL_BUF) >= 0)
		parse_reserved(buf, map);
	atomic_store_explicit(&ports.stamp, now, memory_order_release);
	free(buf);
	free(map);
}

struct bg_port_range bg_kernel_port_range(void)
{
	refresh_ports();
	uint32_t r = atomic_load_explicit(&ports.range, memory_order_relaxed);
	return (struct bg_port_range){(uint16_t)(r >> 16), (uint16_t)r};
}

bool bg_kernel_port_ephemeral(uint16_t port)
{
	struct bg_port_range r = bg_kernel_port_range();
	if (port < r.low || port > r.high)
		return false;
	uint64_t w = atomic_load_explicit(&ports.reserved[port / 64], memory_order_relaxed);
	return !(w & (1ULL << (port % 64)));
}

/* ---- sock_diag -------------------------------------------------------------- */

/* Set once sock_diag answered that this kernel does not have it: only then
 * does the view switch to /proc for good. Any other failure (EMFILE, ENOMEM,
 * ENOBUFS, a seccomp EPERM...) may pass: the next query tries again. */
static atomic_int diag_absent;

static bool kernel_lacks_diag(int err)
{
	return err == EPROTONOSUPPORT || err == EAFNOSUPPORT || err == ENOENT || err == EOPNOTSUPP;
}

enum bg_view bg_kernel_view(void)
{
	return atomic_load(&diag_absent) ? BG_VIEW_PROC : BG_VIEW_SOCK_DIAG;
}

/* One request for both families: the compat interface (TCPDIAG_GETSOCK,
 * struct inet_diag_req) takes idiag_family AF_UNSPEC, which
 * inet_diag_dump_icsk() reads as "any family", so the kernel walks its
 * listening and established tables once where SOCK_DIAG_BY_FAMILY needs a
 * dump per family. The walk, not the answer, is what a dump costs: every
 * bucket of the established hash, however few sockets match.
 * Bytecode "sport >= low && sport <= high": S_EQ exists only since 4.16, the
 * pair works on every kernel with inet_diag. A failed test jumps past the
 * end (len + 4), which the kernel reads as "reject". */
struct diag_request {
	struct nlmsghdr nlh;
	struct inet_diag_req req;
	struct nlattr bc_attr;
	struct inet_diag_bc_op bc[4];
};

/* every state a bucket owner can be in; NEW_SYN_RECV requests own no port.
 * Bit 13 (TCP_BOUND_INACTIVE, 6.6+) adds sockets that are bound and nothing
 * else, reported in state CLOSE; older kernels ignore it and such sockets of
 * other processes stay invisible. */
#define DIAG_STATES	    ((0xfffu & ~(1u << BG_TCP_NEW_SYN_RECV)) | DIAG_BOUND_INACTIVE)
#define DIAG_BOUND_INACTIVE (1u << 13)

static void diag_request_init(struct diag_request *r, uint16_t low, uint16_t high, uint32_t states)
{
	memset(r, 0, sizeof(*r));
	r->nlh.nlmsg_len = sizeof(*r);
	r->nlh.nlmsg_type = TCPDIAG_GETSOCK;
	r->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	r->nlh.nlmsg_seq = 1;
	r->req.idiag_family = AF_UNSPEC;
	r->req.idiag_states = states;
	r->bc_attr.nla_len = sizeof(r->bc_attr) + sizeof(r->bc);
	r->bc_attr.nla_type = INET_DIAG_REQ_BYTECODE;
	r->bc[0] = (struct inet_diag_bc_op){INET_DIAG_BC_S_GE, 8, 16 + 4};
	r->bc[1] = (struct inet_diag_bc_op){0, 0, low};
	r->bc[2] = (struct inet_diag_bc_op){INET_DIAG_BC_S_LE, 8, 8 + 4};
	r->bc[3] = (struct inet_diag_bc_op){0, 0, high};
}

static void ksock_from_msg(struct bg_ksock *k, const struct inet_diag_msg *m, unsigned attrlen)
{
	memset(k, 0, sizeof(*k));
	k->family = m->idiag_family;
	k->state = m->idiag_state;
	k->sport = ntohs(m->id.idiag_sport);
	k->dport = ntohs(m->id.idiag_dport);
	if (m->idiag_family == AF_INET) {
		bg_addr_from_v4(&k->saddr, m->id.idiag_src[0]);
		bg_addr_from_v4(&k->daddr, m->id.idiag_dst[0]);
	} else {
		memcpy(&k->saddr, m->id.idiag_src, 16);
		memcpy(&k->daddr, m->id.idiag_dst, 16);
	}
	k->ifindex = m->id.idiag_if;
	k->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
	k->uid = m->idiag_uid;
	k->timewait = m->idiag_timer == 3; /* inet_diag's mark for timewait sockets */
	k->inode = m->idiag_inode;
	const struct nlattr *a = (const struct nlattr *)((const char *)m + NLMSG_ALIGN(sizeof(*m)));
	while (attrlen >= sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= attrlen) {
		if (a->nla_type == INET_DIAG_SKV6ONLY && a->nla_len > sizeof(*a))
			k->v6only = *((const uint8_t *)a + NLA_HDRLEN) != 0;
		unsigned step = NLA_ALIGN(a->nla_len);
		if (step >= attrlen)
			break;
		attrlen -= step;
		a = (const struct nlattr *)((const char *)a + step);
	}
}

#define DIAG_BUF 32768

/* One dump of the sockets whose local port lies in [low, high], fn once
 * each: the count, or -errno. A non-zero return of fn stops the walk (the
 * rest of the answer is left unread; the socket is closed after). buf:
 * DIAG_BUF bytes (from the heap: this runs on the application's stack, which
 * may be small); a 32 KiB buffer lets the kernel fill each skb. */
static int diag_walk(int nl, long *buf, uint16_t low, uint16_t high, uint32_t states,
		     bg_ksock_fn fn, void *arg)
{
	struct diag_request req;
	diag_request_init(&req, low, high, states);
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(nl, &req, sizeof(req), MSG_NOSIGNAL, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	int n = 0;
	for (;;) {
		ssize_t len = recv(nl, buf, DIAG_BUF, 0);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (len == 0)
			return -EIO;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return n;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? e->error : -EIO;
			}
			if (h->nlmsg_type != TCPDIAG_GETSOCK)
				continue;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			struct bg_ksock k;
			unsigned attrlen = h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*m)));
			ksock_from_msg(&k, m, attrlen);
			if (k.sport < low || k.sport > high) /* the filter did its job; check */
				continue;
			n++;
			if (fn(&k, arg) != 0)
				return n;
		}
	}
}

/* A netlink socket and a receive buffer around one diag_walk(). */
static int diag_range(uint16_t low, uint16_t high, uint32_t states, int rcvbuf, bg_ksock_fn fn,
		      void *arg)
{
	long *buf = malloc(DIAG_BUF);
	if (!buf)
		return -ENOMEM;
	int nl = bg_sys_socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0) {
		int err = -errno;
		free(buf);
		return err;
	}
	if (rcvbuf)
		bg_sys_setsockopt(nl, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	int n = diag_walk(nl, buf, low, high, states, fn, arg);
	bg_sys_close(nl);
	free(buf);
	return n;
}

/* fn's return is ignored on a port: every socket on it counts. */
struct each {
	bg_ksock_fn fn;
	void *arg;
};

static int each_one(const struct bg_ksock *k, void *arg)
{
	struct each *e = arg;
	e->fn(k, e->arg);
	return 0;
}

static int diag_port(uint16_t port, bg_ksock_fn fn, void *arg)
{
	struct each e = {fn, arg};
	return diag_range(port, port, DIAG_STATES, 0, each_one, &e);
}

enum bg_view bg_kernel_view_probe(int *why)
{
	*why = 0;
	if (atomic_load(&diag_absent))
		return BG_VIEW_PROC;
	struct diag_request req;
	diag_request_init(&req, 0, 0, DIAG_STATES);
	/* no state asked for: inet_diag walks no table (it skips the listening
	 * hash without TCPF_LISTEN and stops before the established one without
	 * any other state), yet answers only where TCP's handler is there */
	req.req.idiag_states = 0;
	int nl = bg_sys_socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0) {
		*why = errno;
		return kernel_lacks_diag(*why) ? BG_VIEW_PROC : BG_VIEW_NONE;
	}
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	long buf[64]; /* NLMSG_DONE or an error: a few dozen bytes */
	ssize_t len = -1;
	if (sendto(nl, &req, sizeof(req), MSG_NOSIGNAL, (struct sockaddr *)&kernel,
		   sizeof(kernel)) == (ssize_t)sizeof(req))
		do
			len = recv(nl, buf, sizeof(buf), 0);
		while (len < 0 && errno == EINTR);
	*why = len < 0 ? errno : 0;
	bg_sys_close(nl);
	const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
	if (len >= 0 && NLMSG_OK(h, (size_t)len) && h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);
		*why = e->error ? -e->error : EIO;
	} else if (len >= 0 && !(NLMSG_OK(h, (size_t)len) && h->nlmsg_type == NLMSG_DONE)) {
		*why = EIO;
	}
	if (!*why)
		return BG_VIEW_SOCK_DIAG;
	if (kernel_lacks_diag(*why)) {
		atomic_store(&diag_absent, 1);
		return BG_VIEW_PROC;
	}
	return BG_VIEW_NONE;
}

/* ---- /proc/net/tcp{,6} ------------------------------------------------------------ */

static void hex_addr(struct in6_addr *a, const char *hex, int family)
{
	uint32_t w[4] = {0};
	int words = family == AF_INET ? 1 : 4;
	for (int i = 0; i < words; i++) {
		char part[9];
		memcpy(part, hex + 8 * i, 8);
		part[8] = 0;
		w[i] = (uint32_t)strtoul(part, NULL, 16); /* the kernel prints host order */
	}
	if (family == AF_INET)
		bg_addr_from_v4(a, w[0]);
	else
		memcpy(a, w, 16);
}

/* fn once per socket on the port in one of /proc/net/tcp{,6}: the count,
 * or -errno when the file cannot be read (a missing tcp6 is no error: IPv6
 * may be off). */
static int proc_file(const char *path, int family, uint16_t port, bg_ksock_fn fn, void *arg)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return family == AF_INET6 && errno == ENOENT ? 0 : -errno;
	int n = 0;
	char line[512];
	if (!fgets(line, sizeof(line), f)) { /* header */
		int err = ferror(f) ? -(errno ? errno : EIO) : 0;
		fclose(f);
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		char la[33], ra[33];
		unsigned lp, rp, st, uid;
		unsigned long inode;
		if (sscanf(line,
			   " %*d: %32[0-9A-Fa-f]:%x %32[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %u "
			   "%*d %lu",
			   la, &lp, ra, &rp, &st, &uid, &inode) != 7)
			continue;
		if (lp != port)
			continue;
		struct bg_ksock k;
		memset(&k, 0, sizeof(k));
		k.family = (uint8_t)family;
		k.state = (uint8_t)st;
		k.sport = (uint16_t)lp;
		k.dport = (uint16_t)rp;
		hex_addr(&k.saddr, la, family);
		hex_addr(&k.daddr, ra, family);
		k.uid = uid;
		k.inode = (uint32_t)inode;
		n++;
		fn(&k, arg);
	}
	int err = ferror(f) ? -(errno ? errno : EIO) : 0;
	fclose(f);
	return err ? err : n;
}

int bg_kernel_port_each(uint16_t port, bg_ksock_fn fn, void *arg, enum bg_view *view, int *why)
{
	*why = 0;
	if (!atomic_load_explicit(&diag_absent, memory_order_relaxed)) {
		int n = diag_port(port, fn, arg);
		if (n >= 0) {
			*view = BG_VIEW_SOCK_DIAG;
			return n;
		}
		*why = -n;
		if (kernel_lacks_diag(-n))
			atomic_store(&diag_absent, 1);
		fn(NULL, arg); /* forget what the failed dump passed on */
	}
	int n = proc_file("/proc/net/tcp", AF_INET, port, fn, arg);
	int n6 = n < 0 ? 0 : proc_file("/proc/net/tcp6", AF_INET6, port, fn, arg);
	if (n < 0 || n6 < 0) {
		if (!*why)
			*why = n < 0 ? -n : -n6;
		fn(NULL, arg);
		*view = BG_VIEW_NONE;
		return n < 0 ? n : n6;
	}
	*view = BG_VIEW_PROC;
	return n + n6;
}

struct fixed {
	struct bg_ksock *out;
	int n, max;
};

static int fixed_add(const struct bg_ksock *k, void *arg)
{
	struct fixed *f = arg;
	if (!k)
		f->n = 0;
	else if (f->n < f->max)
		f->out[f->n++] = *k;
	return 0;
}

int bg_kernel_port_sockets(uint16_t port, struct bg_ksock *out, int max, enum bg_view *view)
{
	struct fixed f = {out, 0, max};
	int why, r = bg_kernel_port_each(port, fixed_add, &f, view, &why);
	return r < 0 ? r : f.n;
}

/* ---- whole-range dump: the shim's snapshot, `bindguard scan` -------------------- */

int bg_kernel_dump_sockets(uint16_t low, uint16_t high, bg_ksock_fn fn, void *arg)
{
	return diag_range(low, high, DIAG_STATES, 1 << 20, fn, arg);
}

int bg_kernel_dump_live(uint16_t low, uint16_t high, bg_ksock_fn fn, void *arg)
{
	/* bound-only sockets made their buckets by bind(): never connect()'s.
	 * Leaving them out spares the kernel its walk of the bind hash. */
	return diag_range(low, high, DIAG_STATES & ~DIAG_BOUND_INACTIVE, 1 << 20, fn, arg);
}

/* ---- small questions about one socket ---------------------------------------- */

int bg_getint(int fd, int level, int opt)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, level, opt, &v, &l) != 0)
		return -1;
	return v;
}

void bg_addr_of(const struct sockaddr_storage *ss, struct in6_addr *a, uint16_t *port)
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
