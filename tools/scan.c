/* scan.c: build the host's view of its ephemeral range: one sock_diag dump
 * of every TCP socket on a port of the range, a counting sort by port, one
 * judgement per port, and one walk of /proc/[pid]/fd to name the processes
 * behind the sockets worth naming. Never: one /proc walk per socket; never a
 * bind() or connect() of its own.
 */
#define _GNU_SOURCE
#include "scan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bucket.h"
#include "procfd.h"

const char *port_class_name(enum port_class c)
{
	static const char *const names[PC_COUNT] = {"free",  "in_use", "halfclosed",
						    "bound", "pinned", "reserved"};
	return c < PC_COUNT ? names[c] : "?";
}

void scan_addr(char *out, size_t len, const struct in6_addr *a, uint16_t port)
{
	char ip[INET6_ADDRSTRLEN];
	if (bg_addr_is_mapped(a)) {
		inet_ntop(AF_INET, &a->s6_addr[12], ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, port);
	} else {
		inet_ntop(AF_INET6, a, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, port);
	}
}

static ssize_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* ip_local_reserved_ports: "8080,40000-40009" */
static void read_reserved(struct scan *s)
{
	memset(s->reserved, 0, sizeof(s->reserved));
	if (slurp("/proc/sys/net/ipv4/ip_local_reserved_ports", s->reserved_text,
		  sizeof(s->reserved_text)) < 0)
		s->reserved_text[0] = 0;
	s->reserved_text[strcspn(s->reserved_text, "\n")] = 0;
	bg_parse_port_list(s->reserved_text, s->reserved);
	s->reserved_in_range = 0;
	for (unsigned q = s->low; q <= s->high; q++)
		s->reserved_in_range += scan_reserved(s, q);
}

static int collect_one(const struct bg_ksock *k, void *arg)
{
	struct scan *s = arg;
	if (s->nsocks == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct scan_sock *n = realloc(s->socks, cap * sizeof(*n));
		if (!n)
			return -1;
		s->socks = n;
		s->cap = cap;
	}
	struct scan_sock *x = &s->socks[s->nsocks++];
	x->k = *k;
	x->proc = -1;
	x->role = ROLE_OTHER;
	x->pin = PIN_NONE;
	x->want_owner = false;
	return 0;
}

/* Counting sort by port: the range is at most 65536 ports, the sort O(n). */
static int sort_by_port(struct scan *s)
{
	s->port_first = calloc(s->size + 1, sizeof(uint32_t));
	struct scan_sock *sorted = malloc((s->nsocks ? s->nsocks : 1) * sizeof(*sorted));
	if (!s->port_first || !sorted) {
		free(sorted);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->nsocks; i++)
		s->port_first[s->socks[i].k.sport - s->low + 1]++;
	for (unsigned p = 0; p < s->size; p++)
		s->port_first[p + 1] += s->port_first[p];
	uint32_t *next = malloc(s->size * sizeof(uint32_t));
	if (!next) {
		free(sorted);
		return -ENOMEM;
	}
	memcpy(next, s->port_first, s->size * sizeof(uint32_t));
	for (size_t i = 0; i < s->nsocks; i++)
		sorted[next[s->socks[i].k.sport - s->low]++] = s->socks[i];
	free(next);
	free(s->socks);
	s->socks = sorted;
	s->cap = s->nsocks;
	return 0;
}

static bool connected_state(int st)
{
	return st != BG_TCP_LISTEN && st != BG_TCP_CLOSE;
}

/* Would a listener on l's address accept a connection to c's local address?
 * Then c, on the listener's port, is one of its accept()ed children. */
static bool listener_covers(const struct bg_ksock *l, const struct bg_ksock *c)
{
	if (memcmp(&l->saddr, &c->saddr, sizeof(l->saddr)) == 0)
		return true;
	if (l->family == AF_INET)
		return bg_addr_is_any(&l->saddr, AF_INET) && bg_addr_is_mapped(&c->saddr);
	if (!bg_addr_is_any(&l->saddr, AF_INET6))
		return false;
	return !bg_addr_is_mapped(&c->saddr) || !l->v6only;
}

static void sock_words(char *out, size_t len, const struct scan_sock *x)
{
	char local[64], remote[64];
	scan_addr(local, sizeof(local), &x->k.saddr, x->k.sport);
	if (connected_state(x->k.state)) {
		scan_addr(remote, sizeof(remote), &x->k.daddr, x->k.dport);
		snprintf(out, len, "%s %s->%s", bg_tcp_state_name(x->k.state), local, remote);
	} else {
		snprintf(out, len, "%s %s", bg_tcp_state_name(x->k.state), local);
	}
}

static void add_pin(struct scan *s, uint16_t port, char *reason)
{
	struct scan_pin *n = realloc(s->pins, (s->npins + 1) * sizeof(*n));
	if (!n) {
		free(reason);
		return;
	}
	s->pins = n;
	s->pins[s->npins++] = (struct scan_pin){port, reason};
}

/* How long the pin lasts, by the kernel's profile. */
static const char *pin_lasts(const struct scan *s)
{
	if (strcmp(s->profile, "release") == 0)
		return "connect() skips the port while a socket that connect() did not place holds "
		       "it";
	return "connect() skips the port until every socket on it is gone, the bound one "
	       "included (profile classic: the pin outlives the binder)";
}

/* No connect()-placed candidate shares its local address with another. */
static bool groups_all_lone(const struct scan_sock *first, const struct scan_sock *end)
{
	for (const struct scan_sock *x = first; x < end; x++)
		for (const struct scan_sock *y = x + 1; y < end; y++)
			if (x->role == ROLE_CONNECT && y->role == ROLE_CONNECT &&
			    memcmp(&x->k.saddr, &y->k.saddr, sizeof(x->k.saddr)) == 0)
				return false;
	return true;
}

/* One port: who is on it, and does it look pinned?
 *
 * connect() places a socket in a bucket it creates with state (-1,-1), or
 * shares such a bucket; a bind() of the same port moves the bucket to a
 * state >= 0, and connect() skips it from then on. sock_diag does not say
 * how a socket got its port, so it is inferred: a connected socket on an
 * unreserved ephemeral port that no listener there accepted was placed by
 * connect(). Evidence of a bind() on the same port: a listener, a bound-only
 * socket (CLOSE, visible on 6.6+), or a connected socket from another local
 * address that shows no sign of connect(): connect() shares one port between
 * many connections of one address, while an explicit bind() makes one. */
static void judge_port(struct scan *s, unsigned idx)
{
	uint16_t port = (uint16_t)(s->low + idx);
	struct scan_sock *first = s->socks + s->port_first[idx];
	struct scan_sock *end = s->socks + s->port_first[idx + 1];
	bool reserved = scan_reserved(s, port);
	unsigned nlisten = 0, nbound = 0, nconnect = 0, nhalf = 0;

	for (struct scan_sock *x = first; x < end; x++) {
		if (x->k.state < 16)
			s->by_state[x->k.state]++;
		if (x->k.state == BG_TCP_LISTEN) {
			x->role = ROLE_LISTEN;
			nlisten++;
			s->listeners++;
			x->want_owner = true;
			if (!reserved)
				s->listeners_unprotected++;
		} else if (x->k.state == BG_TCP_CLOSE) {
			x->role = ROLE_BOUND;
			nbound++;
		}
	}
	for (struct scan_sock *x = first; x < end; x++) {
		if (!connected_state(x->k.state))
			continue;
		x->role = reserved ? ROLE_OTHER : ROLE_CONNECT;
		for (struct scan_sock *l = first; l < end && x->role == ROLE_CONNECT; l++)
			if (l->role == ROLE_LISTEN && listener_covers(&l->k, &x->k))
				x->role = ROLE_CHILD;
		if (x->role != ROLE_CONNECT)
			continue;
		nconnect++;
		if (bg_tcp_state_halfclosed(x->k.state)) {
			nhalf++;
			x->want_owner = true;
		}
	}
	s->halfclosed += nhalf;

	enum port_class cls = PC_FREE;
	if (first < end)
		cls = PC_IN_USE;
	if (nhalf)
		cls = PC_HALFCLOSED;
	if (nlisten || nbound)
		cls = PC_BOUND;

	bool pinned = false;
	if (!reserved && nconnect && (nlisten || nbound)) {
		pinned = true;
		for (struct scan_sock *x = first; x < end; x++) {
			if (x->role == ROLE_CONNECT)
				x->pin = PIN_CONNECT_PLACED;
			else if (x->role == ROLE_LISTEN || x->role == ROLE_BOUND)
				x->pin = PIN_PINNER;
		}
	} else if (!reserved && nconnect > 1) {
		/* group the connect()-placed candidates by local address */
		unsigned groups = 0, lone = 0;
		for (struct scan_sock *x = first; x < end; x++) {
			if (x->role != ROLE_CONNECT)
				continue;
			bool seen = false;
			unsigned same = 0;
			for (struct scan_sock *y = first; y < end; y++) {
				if (y->role != ROLE_CONNECT ||
				    memcmp(&y->k.saddr, &x->k.saddr, sizeof(x->k.saddr)) != 0)
					continue;
				if (y < x)
					seen = true;
				same++;
			}
			if (seen)
				continue;
			groups++;
			if (same == 1) {
				lone++;
				x->pin = PIN_PINNER;
			}
		}
		if (groups > 1 && lone > 0) {
			pinned = true;
			/* every address lone: one of them came first; which is unknowable */
			bool any_placed = lone < groups;
			for (struct scan_sock *x = first; x < end; x++) {
				if (x->role != ROLE_CONNECT)
					continue;
				if (x->pin == PIN_NONE)
					x->pin = PIN_CONNECT_PLACED;
				else if (!any_placed) {
					x->pin = PIN_CONNECT_PLACED;
					any_placed = true;
				}
			}
		} else {
			for (struct scan_sock *x = first; x < end; x++)
				x->pin = PIN_NONE;
		}
	}
	if (reserved)
		cls = PC_RESERVED;
	else if (pinned)
		cls = PC_PINNED;
	s->cls[idx] = (uint8_t)cls;
	s->count[cls]++;
	if (!pinned)
		return;

	/* the reasoning, in words */
	char *text = NULL;
	size_t tlen = 0;
	FILE *t = open_memstream(&text, &tlen);
	if (!t)
		return;
	const char *sep = "";
	fprintf(t,
		"connected on an unreserved ephemeral port and accepted by no listener there, so "
		"connect() picked the port: ");
	for (struct scan_sock *x = first; x < end; x++) {
		if (x->pin != PIN_CONNECT_PLACED)
			continue;
		char w[160];
		sock_words(w, sizeof(w), x);
		fprintf(t, "%s%s", sep, w);
		sep = ", ";
		x->want_owner = true;
	}
	fprintf(t, "; bound to the same port by bind(): ");
	sep = "";
	for (struct scan_sock *x = first; x < end; x++) {
		if (x->pin != PIN_PINNER)
			continue;
		char w[160];
		sock_words(w, sizeof(w), x);
		const char *why = x->role == ROLE_LISTEN  ? " (listening)"
				  : x->role == ROLE_BOUND ? " (bound, not listening)"
							  : " (its address has one connection on "
							    "this port: no sign of connect())";
		fprintf(t, "%s%s%s", sep, w, why);
		sep = ", ";
		x->want_owner = true;
	}
	if (nlisten == 0 && nbound == 0 && groups_all_lone(first, end))
		fprintf(t, "; every address here has one connection on the port, so which socket "
			   "connect() placed first cannot be told");
	fprintf(t, "; a bind() into a bucket that connect() created pins it: %s", pin_lasts(s));
	fclose(t);
	add_pin(s, port, text);
}

/* ---- inode -> process: one walk of /proc/[pid]/fd (procfd.c) ------------------ */

static int proc_index(struct scan *s, int pid, const char *name)
{
	for (size_t i = s->nprocs; i-- > 0;)
		if (s->procs[i].pid == pid)
			return (int)i;
	if (s->nprocs == s->proccap) {
		size_t cap = s->proccap ? s->proccap * 2 : 16;
		struct scan_proc *n = realloc(s->procs, cap * sizeof(*n));
		if (!n)
			return -1;
		s->procs = n;
		s->proccap = cap;
	}
	struct scan_proc *p = &s->procs[s->nprocs];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return (int)s->nprocs++;
}

/* Only the sockets worth naming go into the walk. */
static void name_owners(struct scan *s)
{
	size_t want = 0;
	for (size_t i = 0; i < s->nsocks; i++)
		want += s->socks[i].want_owner && s->socks[i].k.inode;
	struct procfd_owner *v = want ? calloc(want, sizeof(*v)) : NULL;
	uint32_t *sock = want ? calloc(want, sizeof(*sock)) : NULL;
	if (v && sock) {
		size_t n = 0;
		for (size_t i = 0; i < s->nsocks; i++)
			if (s->socks[i].want_owner && s->socks[i].k.inode) {
				v[n].inode = s->socks[i].k.inode;
				sock[n++] = (uint32_t)i;
			}
		struct procfd_stats st;
		procfd_name_owners(v, n, &st);
		s->fds_walked = st.fds;
		for (size_t j = 0; j < n; j++)
			if (v[j].pid)
				s->socks[sock[j]].proc = proc_index(s, v[j].pid, v[j].comm);
	}
	free(v);
	free(sock);
	for (size_t i = 0; i < s->nsocks; i++) {
		struct scan_sock *x = &s->socks[i];
		if (x->role != ROLE_CONNECT || !bg_tcp_state_halfclosed(x->k.state))
			continue;
		if (x->proc >= 0)
			s->procs[x->proc].halfclosed++;
		else
			s->halfclosed_orphans++;
	}
}

int scan_collect(struct scan *s)
{
	memset(s, 0, sizeof(*s));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_REALTIME, &s->when);

	unsigned kver = bg_kernel_version(s->kernel, sizeof(s->kernel));
	s->profile = bg_profile_name(bg_profile_for_kernel(kver).id);
	s->bound_visible = kver >= BG_KVER(6, 6, 0);
	struct bg_port_range r = bg_kernel_port_range();
	s->low = r.low;
	s->high = r.high;
	s->size = (unsigned)r.high - r.low + 1;
	read_reserved(s);

	int n = bg_kernel_dump_sockets(s->low, s->high, collect_one, s);
	if (n < 0)
		return n;
	if (sort_by_port(s) != 0)
		return -ENOMEM;
	s->cls = calloc(s->size, 1);
	if (!s->cls)
		return -ENOMEM;
	for (unsigned i = 0; i < s->size; i++)
		judge_port(s, i);
	name_owners(s);
	s->headroom = s->size - s->reserved_in_range - s->count[PC_PINNED] - s->count[PC_BOUND];

	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return 0;
}

void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->npins; i++)
		free(s->pins[i].reason);
	free(s->pins);
	free(s->socks);
	free(s->port_first);
	free(s->cls);
	free(s->procs);
}

int write_atomic(const char *path, int (*fill)(FILE *f, const void *arg), const void *arg)
{
	char *dir = strdup(path);
	if (!dir) {
		errno = ENOMEM;
		return -1;
	}
	char *slash = strrchr(dir, '/');
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (slash)
		slash[1] = 0;
	else
		dir[0] = 0;
	/* a dot name without the .prom suffix: the textfile collector skips it */
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.%s.XXXXXX", dir, name);
	free(dir);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	int rc = fill(f, arg);
	if (fflush(f) != 0 || fsync(fd) != 0)
		rc = -1;
	int e = errno;
	if (fchmod(fd, 0644) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (fclose(f) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -1;
		e = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		errno = e;
	}
	return rc;
}
