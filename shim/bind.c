/* bind.c: where a socket gets its port: bind() with a port or with 0,
 * listen() (on a bound socket, or its autobind), and the remedy's
 * IP_BIND_ADDRESS_NO_PORT and its withdrawal. Each path reads the socket
 * under the lock, looks at the port (the snapshot, or the exact query),
 * judges it with the one judge, calls the kernel (unless blocked), commits
 * the kernel's answer to the model and reports.
 * Never: hold the model lock across a real socket call or an event write,
 * or change errno or a return value in audit mode.
 */
#define _GNU_SOURCE
#include "bind.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "judge.h"
#include "kernel.h"
#include "libc.h"
#include "merge.h"
#include "process.h"
#include "remedy.h"
#include "track.h"

/* SIN6_LEN_RFC2133: a sockaddr_in6 without sin6_scope_id (24 bytes), the
 * shortest one inet6_bind_sk() and tcp_v6_connect() accept */
#define BG_SIN6_LEN_RFC2133 offsetof(struct sockaddr_in6, sin6_scope_id)

/* What a bind() of (addr, len) asks the kernel for, read as the kernel reads
 * it; false where the kernel refuses the call before it looks for a port (the
 * shim then passes it through untouched). inet_bind_sk(): len at least
 * sizeof(struct sockaddr_in), AF_INET, or AF_UNSPEC for 0.0.0.0 (taken as
 * AF_INET). inet6_bind_sk(): len at least 24, AF_INET6, no multicast on a
 * stream socket; sin6_scope_id only when len holds it. Reads no byte past
 * len: a short address is copied into a zeroed one first. */
static bool parse_bind_addr(const struct bg_sock *s, const struct sockaddr *addr, socklen_t len,
			    struct in6_addr *a, uint16_t *port, uint32_t *scope)
{
	*scope = 0;
	if (!addr || len > sizeof(struct sockaddr_storage)) /* move_addr_to_kernel() */
		return false;
	if (s->sk.family == AF_INET) {
		struct sockaddr_in in;
		if (len < sizeof(in))
			return false;
		memcpy(&in, addr, sizeof(in));
		if (in.sin_family != AF_INET &&
		    (in.sin_family != AF_UNSPEC || in.sin_addr.s_addr != htonl(INADDR_ANY)))
			return false;
		bg_addr_from_v4(a, in.sin_addr.s_addr);
		*port = ntohs(in.sin_port);
		return true;
	}
	if (s->sk.family == AF_INET6) {
		struct sockaddr_in6 in6;
		if (len < BG_SIN6_LEN_RFC2133)
			return false;
		memset(&in6, 0, sizeof(in6));
		memcpy(&in6, addr, len < sizeof(in6) ? len : sizeof(in6));
		if (in6.sin6_family != AF_INET6 || in6.sin6_addr.s6_addr[0] == 0xff)
			return false;
		*a = in6.sin6_addr;
		*port = ntohs(in6.sin6_port);
		*scope = in6.sin6_scope_id;
		return true;
	}
	return false;
}

static bool link_local(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

/* The socket as the kernel's bind leaves it for address a (and scope, the
 * sin6_scope_id given, or 0), and as its get_port sees it: __inet6_bind()
 * makes a socket bound to a specific, non-mapped address v6-only, and binds
 * it to the scope's device for a link-local address. Every path that gives
 * a socket its address takes it from here: bind with a port or with 0,
 * IP_BIND_ADDRESS_NO_PORT (the program's or the remedy's), listen()'s
 * autobind, the remedy's withdrawal. */
static struct bg_sk candidate(const struct bg_sock *s, const struct in6_addr *a, uint32_t scope)
{
	struct bg_sk c = s->sk;
	c.tb = NULL;
	c.tb2 = NULL;
	c.bind_next = NULL;
	c.rcv_saddr = *a;
	if (c.family == AF_INET6 && !bg_addr_is_any(a, AF_INET6) && !bg_addr_is_mapped(a))
		c.ipv6only = true;
	if (c.family == AF_INET6 && scope && link_local(a))
		c.bound_dev_if = (int)scope;
	return c;
}

/* Under the lock, after the kernel's bind took the address: the socket
 * becomes what candidate() said it would. */
static void take_address(struct bg_sock *s, const struct bg_sk *c)
{
	s->sk.rcv_saddr = c->rcv_saddr;
	s->sk.ipv6only = c->ipv6only;
	s->sk.bound_dev_if = c->bound_dev_if;
}

/* The judging context for this process. */
static struct bg_judge_ctx ctx(void)
{
	return (struct bg_judge_ctx){bg_proc.table, &bg_proc.cfg, bg_proc.progname, NULL};
}

/* A bind event of this process for socket c on port, with its mode. */
static void event_for(struct bg_bind_event *e, const char *action, int fd, const struct bg_sk *c,
		      uint16_t port, unsigned *block)
{
	bg_judge_event(e, action, fd, c, port);
	e->profile = bg_profile_name(bg_proc.profile.id);
	bg_policy_rules(&bg_proc.cfg, port, &c->rcv_saddr, &e->mode, block);
}

/* Does the model alone say the port needs the kernel's exact view? */
static bool model_needs_kernel(uint16_t port)
{
	if (!bg_lock())
		return true;
	bool need = bg_merge_needs_kernel(bg_proc.table, port);
	bg_unlock();
	return need;
}

static void count(const struct bg_bind_event *e)
{
	atomic_fetch_add(&bg_proc.n.binds, 1);
	if (e->hazard != BG_HAZARD_NONE)
		atomic_fetch_add(&bg_proc.n.hazards, 1);
}

/* The kernel's answer made the model's: the socket owns the port. */
static void commit_port(struct bg_sock *s, struct bg_sk *cand, uint16_t port)
{
	struct bg_tb *before = s->sk.tb;
	if (cand != &s->sk) { /* bind; listen passes the socket itself */
		take_address(s, cand);
		s->sk.state = cand->state;
	}
	s->sk.bindport_lock = true;
	if (!before || before->port == port)
		bg_bind_commit(bg_proc.table, &s->sk, port);
	bg_changed(s);
}

/* A port outside the ephemeral range that the model holds no bucket for,
 * with no debug event asked for: connect() never picks such a port, so no
 * bucket there can be connect()'s, and the prediction is known (a new
 * bucket, no conflict, no pin). Call, and commit; a bind of a listener on
 * its well-known port costs one lock more than the plain call. */
static int ungoverned_get_port(struct bg_sock *s, struct bg_sk *cand, uint16_t port,
			       int (*call)(int, const void *, long), int fd, const void *arg,
			       long argl)
{
	int r = call(fd, arg, argl);
	int err = errno;
	atomic_fetch_add(&bg_proc.n.binds, 1);
	if (r == 0 && bg_lock()) {
		commit_port(s, cand, port);
		bg_unlock();
	}
	errno = err;
	return r;
}

/* Shared by bind with an explicit port and listen on a bound socket. cand
 * is what the model is asked about under the lock: a copy for bind, the
 * socket itself for listen; seen is a copy read under the lock, for the
 * event and the rules outside it. model_empty: the model held no bucket
 * for port when the caller looked (under the lock). */
static int guarded_get_port(struct bg_sock *s, int fd, const char *action, struct bg_sk *cand,
			    const struct bg_sk *seen, uint16_t port, bool model_empty,
			    int (*call)(int, const void *, long), const void *arg, long argl)
{
	bool ephemeral = bg_kernel_port_ephemeral(port);
	if (!ephemeral && model_empty && bg_proc.cfg.level != BG_LEVEL_DEBUG)
		return ungoverned_get_port(s, cand, port, call, fd, arg, argl);
	struct bg_bind_event e;
	unsigned block;
	event_for(&e, action, fd, seen, port, &block);
	e.ephemeral = ephemeral;
	struct bg_portview v;
	bg_judge_look(&e, &v, port, e.ephemeral && model_needs_kernel(port),
		      atomic_load(&bg_proc.changes));

	struct bg_bind_prediction p;
	if (!bg_lock()) {
		bg_portview_free(&v);
		return call(fd, arg, argl); /* re-entered from a signal handler */
	}
	struct bg_judge_ctx j = ctx();
	bg_judge(&j, cand, port, &v, true, block, &e, &p);
	bg_unlock();
	bool saw_others = v.queried;
	bg_portview_free(&v);
	count(&e);
	if (e.decision == BG_DECISION_BLOCK) {
		atomic_fetch_add(&bg_proc.n.blocked, 1);
		e.result = -1;
		e.err = bg_proc.cfg.block_errno;
		bg_judge_report(&bg_proc.cfg, &e);
		errno = bg_proc.cfg.block_errno;
		return -1;
	}

	int r = call(fd, arg, argl);
	int err = errno;
	if (r == 0 && bg_lock()) {
		commit_port(s, cand, port);
		bg_unlock();
	}
	if (bg_judge_divergence(&bg_proc.cfg, action, seen, port, p.conflict, saw_others, r, err))
		atomic_fetch_add(&bg_proc.n.divergences, 1);
	e.result = r;
	e.err = err;
	if (r != 0 && e.hazard != BG_HAZARD_NONE)
		e.hazard = BG_HAZARD_NONE; /* the kernel refused: nothing was pinned */
	bg_judge_report(&bg_proc.cfg, &e);
	errno = err;
	return r;
}

static int call_bind(int fd, const void *addr, long len)
{
	return bg_real.bind(fd, addr, (socklen_t)len);
}

static int call_listen(int fd, const void *unused, long backlog)
{
	(void)unused;
	return bg_real.listen(fd, (int)backlog);
}

/* The inode of fd's socket, to leave it out of the kernel's answer. */
static uint32_t inode_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (uint32_t)st.st_ino : 0;
}

/* The kernel chose the port (bind(addr, 0), listen() autobind): only after
 * the call do we know which, so the hazard can only be reported. The same
 * judge as for an explicit port, with can_block false. */
static void after_auto_port(struct bg_sock *s, int fd, const char *action, enum bg_remedy remedy)
{
	struct in6_addr local;
	uint16_t port = 0;
	if (!bg_local_of(fd, &local, &port) || !port)
		return;
	struct bg_sk cand; /* the socket as it is under the lock, below */
	memset(&cand, 0, sizeof(cand));
	cand.family = s->sk.family;
	cand.rcv_saddr = local;
	struct bg_bind_event e;
	unsigned block;
	event_for(&e, action, fd, &cand, port, &block);
	e.port_auto = true;
	e.remedy = remedy;
	e.ephemeral = bg_kernel_port_ephemeral(port);
	struct bg_portview v;
	bool needs = e.ephemeral && model_needs_kernel(port);
	/* the exact query leaves the binder out: look for it only then */
	bg_judge_look(&e, &v, port, needs, atomic_load(&bg_proc.changes));
	if (v.queried && v.n) {
		uint32_t self = inode_of(fd);
		for (int i = 0; self && i < v.n; i++)
			if (v.k[i].inode == self) {
				v.extras -= bg_state_extra(v.k[i].state);
				v.k[i] = v.k[--v.n];
				break;
			}
	}
	if (!bg_lock()) {
		bg_portview_free(&v);
		return;
	}
	cand = candidate(s, &local, 0);
	struct bg_judge_ctx j = ctx();
	struct bg_bind_prediction p;
	bg_judge(&j, &cand, port, &v, false, block, &e, &p);
	take_address(s, &cand);
	bg_bind_commit(bg_proc.table, &s->sk, port);
	bg_changed(s);
	bg_unlock();
	bg_portview_free(&v);
	count(&e);
	bg_judge_report(&bg_proc.cfg, &e);
}

/* A bind that took no port: the kernel refused it (bind(addr, 0) that
 * failed, a socket already bound), or the shim did (a second bind while the
 * remedy waits). A debug event like every other bind, with no bucket. */
static void bind_refused(int fd, const struct bg_sk *c, uint16_t port, int r, int err)
{
	atomic_fetch_add(&bg_proc.n.binds, 1);
	if (bg_proc.cfg.level != BG_LEVEL_DEBUG)
		return;
	struct bg_bind_event e;
	unsigned block;
	event_for(&e, "bind", fd, c, port, &block);
	e.port_auto = port == 0;
	e.ephemeral = port && bg_kernel_port_ephemeral(port);
	e.unmodelled = true;
	e.result = r;
	e.err = err;
	bg_judge_report(&bg_proc.cfg, &e);
}

/* bind(addr, 0) of a socket with no port, where the config asks for the
 * remedy: the kernel takes the address now and leaves the port to connect()
 * (which shares it) or listen(). Returns false when the remedy does not
 * apply (the caller binds as usual); else the bind's result is in *r. */
static bool remedy_bind(bool eligible, const struct bg_sk *cand, struct bg_sock *s, int fd,
			const struct sockaddr *addr, socklen_t len, const struct in6_addr *a,
			int *r)
{
	if (!eligible || !bg_policy_remedy(&bg_proc.cfg, a) || !bg_remedy_apply(fd, addr, len, r))
		return false;
	int err = errno;
	if (*r != 0) {
		bind_refused(fd, cand, 0, *r, err);
		errno = err;
		return true;
	}
	if (bg_lock()) {
		take_address(s, cand);
		bg_unlock();
	}
	atomic_fetch_add(&bg_proc.n.waiting, 1);
	atomic_store_explicit(&s->remedy_pending, true, memory_order_release);
	atomic_fetch_add(&bg_proc.n.remedies, 1);
	struct bg_bind_event e;
	unsigned block;
	event_for(&e, "bind", fd, cand, 0, &block);
	e.port_auto = true;
	e.remedy = BG_REMEDY_APPLIED;
	e.decision = BG_DECISION_REMEDY;
	bg_judge_report(&bg_proc.cfg, &e);
	errno = err;
	return true;
}

void bg_remedy_withdraw(struct bg_sock *s, int fd)
{
	if (!bg_remedy_done(s))
		return;
	int saved = errno;
	if (bg_remedy_unbind(fd))
		after_auto_port(s, fd, "bind", BG_REMEDY_WITHDRAWN);
	errno = saved;
}

int bg_guard_bind(struct bg_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct in6_addr a;
	uint16_t port;
	uint32_t scope;
	/* an address in the first page (a NULL struct's field) faults in the
	 * kernel: EFAULT from it, not a crash here. Elsewhere in unmapped
	 * memory it would crash the shim where the kernel says EFAULT: telling
	 * them apart costs a system call (process_vm_readv, 5 us here) on every
	 * bind, for programs that pass garbage; see docs/limits.md. */
	if ((uintptr_t)addr < 4096 || !parse_bind_addr(s, addr, len, &a, &port, &scope))
		return bg_real.bind(fd, addr, len); /* the kernel will refuse it */
	/* read the socket under the lock: another thread may bind, connect or
	 * listen it through another fd, and syncs change its bucket */
	if (!bg_lock())
		return bg_real.bind(fd, addr, len); /* re-entered from a signal handler */
	bool bound = s->sk.tb != NULL, no_port = s->bind_address_no_port;
	/* no bucket: outside the range, nothing to judge (guarded_get_port) */
	bool empty = bg_tb_find(bg_proc.table, port) == NULL;
	bool remedy_eligible = !no_port && !s->connected && !s->listening;
	struct bg_sk cand = candidate(s, &a, scope);
	/* EINVAL before get_port: a v4-mapped address on a v6-only socket, a
	 * link-local one with no device */
	bool refused = s->sk.family == AF_INET6 && ((s->sk.ipv6only && bg_addr_is_mapped(&a)) ||
						    (link_local(&a) && !cand.bound_dev_if));
	bg_unlock();
	if (refused)
		return bg_real.bind(fd, addr, len);
	if (bound) {
		int r = bg_real.bind(fd, addr, len); /* the kernel will refuse it */
		int err = errno;
		bind_refused(fd, &cand, port, r, err);
		errno = err;
		return r;
	}
	if (atomic_load_explicit(&s->remedy_pending, memory_order_relaxed)) {
		/* without the remedy this socket would have its port: the
		 * kernel would refuse a second bind */
		bind_refused(fd, &cand, port, -1, EINVAL);
		errno = EINVAL;
		return -1;
	}
	if (port == 0) {
		int r;
		if (remedy_bind(remedy_eligible, &cand, s, fd, addr, len, &a, &r))
			return r;
		r = bg_real.bind(fd, addr, len);
		int err = errno;
		if (r == 0 && bg_lock()) {
			take_address(s, &cand); /* with IP_BIND_ADDRESS_NO_PORT: all it takes */
			bg_unlock();
		}
		if (r == 0 && !no_port)
			after_auto_port(s, fd, "bind", BG_REMEDY_NONE);
		else if (r != 0)
			bind_refused(fd, &cand, 0, r, err);
		errno = err;
		return r;
	}
	return guarded_get_port(s, fd, "bind", &cand, &cand, port, empty, call_bind, addr, len);
}

int bg_guard_listen(struct bg_sock *s, int fd, int backlog)
{
	/* under the lock: other threads' merges (bg_merge_port) read and write the
	 * states and buckets of owners, and may listen this socket too */
	if (!bg_lock())
		return bg_real.listen(fd, backlog); /* re-entered from a signal handler */
	bool connected = s->connected, bound = s->sk.tb != NULL, listening = s->listening;
	uint8_t old = s->sk.state;
	uint16_t port = s->sk.num;
	struct bg_sk seen = s->sk;
	/* listen() runs get_port again on the socket itself, already an owner,
	 * with its state already LISTEN (inet_csk_listen_start) */
	if (!connected && bound && !listening) {
		s->sk.state = BG_TCP_LISTEN;
		bg_changed(s);
	}
	bg_unlock();
	if (connected)
		return bg_real.listen(fd, backlog);
	if (!bound) {
		int r = bg_real.listen(fd, backlog);
		int err = errno;
		if (r == 0 && bg_lock()) {
			s->listening = true;
			s->sk.state = BG_TCP_LISTEN;
			bg_unlock();
			bg_remedy_done(s);
			after_auto_port(s, fd, "listen", BG_REMEDY_NONE);
			if (bg_lock()) {
				s->sk.reuseport_grouped = s->sk.reuseport;
				bg_unlock();
			}
		}
		errno = err;
		return r;
	}
	if (listening)
		return bg_real.listen(fd, backlog); /* changing the backlog only */
	seen.state = BG_TCP_LISTEN;
	int r = guarded_get_port(s, fd, "listen", &s->sk, &seen, port, false, call_listen, NULL,
				 backlog);
	if (bg_lock()) {
		if (r != 0)
			s->sk.state = old;
		else {
			s->listening = true;
			s->sk.reuseport_grouped = s->sk.reuseport;
		}
		bg_changed(s);
		bg_unlock();
	}
	return r;
}
