/* guard.c: the shim's state, and the path of one bind: learn the bucket's
 * owners (own sockets from the model, others from the kernel), ask the model,
 * decide, call, commit the kernel's real answer, report.
 * Never: hold the model lock across a real socket call or an event write,
 * or change errno or a return value in audit mode.
 */
#define _GNU_SOURCE
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"
#include "libc.h"
#include "policy.h"
#include "selfcheck.h"

/* Connected sockets (ESTABLISHED, SYN_SENT, SYN_RECV, TIME_WAIT) a view
 * keeps of one port; beyond them it only counts. Listening, bound-only and
 * half-closed sockets are always kept, however many. */
#define VIEW_EXTRAS 256

/* A bucket owner that is not a live socket of this process: a socket seen
 * through sock_diag (another process's, or one of ours after its last fd
 * closed while the kernel still holds it), with inferred flags. */
struct bg_other {
	struct bg_sk sk;
	struct in6_addr daddr;
	uint16_t dport;
	uint64_t cookie;
};

struct bg_sock bg_not_tcp = {.refs = 1 << 30};

static struct {
	atomic_int init;       /* 0 none, 1 running, 2 ready */
	atomic_int init_tid;   /* the thread running the set-up */
	atomic_int config;     /* bg_config_once(): 0 none, 1 running, 2 done */
	atomic_int config_tid; /* the thread reading it */
	atomic_int owner;      /* the process the model belongs to (its pid) */
	struct {
		bool known; /* the start namespace could be read */
		dev_t dev;  /* /proc/thread-self/ns/net at set-up */
		ino_t ino;
		atomic_bool moved; /* a thread has changed its network namespace */
	} netns;
	bool active;
	struct bg_config cfg;
	struct bg_profile profile;
	char kernel[65];
	struct bg_table *table;
	pthread_mutex_t lock;
	atomic_int lock_owner;
	atomic_ulong changes; /* our sockets' changes to the model, counted */
	char progname[64];
	_Atomic uid_t euid;
	struct {
		atomic_uint_fast64_t binds, hazards, blocked, divergences, sockets, remedies;
		atomic_long waiting; /* sockets with remedy_pending set */
	} n;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread pid_t tls_tid;

static pid_t self_tid(void)
{
	if (!tls_tid)
		tls_tid = gettid();
	return tls_tid;
}

/* Set-up runs once, in the first thread that makes a socket call. Another
 * thread that calls in meanwhile waits for it (its socket would otherwise
 * never be followed); the set-up thread itself, re-entered from a signal
 * handler or by its own socket calls, passes through. The wait is bounded
 * (2 s) so that no lock the set-up needs can deadlock it. */
static void await_init(atomic_int *state, atomic_int *tid)
{
	for (int i = 0; i < 20000; i++) {
		int st = atomic_load_explicit(state, memory_order_acquire);
		if (st != 1 || atomic_load_explicit(tid, memory_order_relaxed) == self_tid())
			return;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

/* Do processes a and b share their memory? kcmp(KCMP_VM): 0 yes, 1 to 3
 * no, -1 unknown (kcmp refused or missing, a pid not visible here). */
static int shares_memory(pid_t a, pid_t b)
{
	long r = syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);
	return r < 0 ? -1 : r == 0;
}

/* Children that may run in this process's memory: vfork() children until
 * their parent resumes (interpose.c's vfork counts them), and, for good
 * once made, clone(CLONE_VM) children. While none can be, the model is this
 * process's without a system call; getpid() costs a microsecond. */
__attribute__((visibility("hidden"))) atomic_int bg_vforks;
static atomic_bool vm_children;

void bg_clone_vm(void)
{
	atomic_store_explicit(&vm_children, true, memory_order_relaxed);
}

bool bg_owner(void)
{
	if (!atomic_load_explicit(&bg_vforks, memory_order_relaxed) &&
	    !atomic_load_explicit(&vm_children, memory_order_relaxed))
		return true;
	pid_t owner = atomic_load_explicit(&g.owner, memory_order_relaxed);
	pid_t self = getpid();
	if (owner == self)
		return true;
	int saved = errno;
	/* A child that runs in the owner's memory (vfork(), clone(CLONE_VM),
	 * posix_spawn()) until it execs or exits: the model, the fd table and
	 * the lock are the parent's. It passes through and writes nothing. */
	bool shared = owner == 0 || shares_memory(self, owner) != 0; /* unknown: yes */
	errno = saved;
	if (shared)
		return false;
	/* A child of a raw clone() (no fork() wrapper ran): its copy of the
	 * model is its own from now on. */
	atomic_store_explicit(&g.owner, self, memory_order_relaxed);
	return true;
}

/* Stack a judged bind or listen may need (the kernel query, the event:
 * cJSON prints numbers with snprintf, which wants several KiB), and the
 * set-up (the config, the start event). */
#define STACK_NEED (16 * 1024)

/* Set once the program installs an alternate signal stack (sigaltstack()
 * through libc): before that no handler can run on one. */
static atomic_bool altstacks;

void bg_altstack_set(void)
{
	atomic_store_explicit(&altstacks, true, memory_order_relaxed);
}

bool bg_small_stack(void)
{
	if (!atomic_load_explicit(&altstacks, memory_order_relaxed))
		return false;
	int saved = errno;
	stack_t ss;
	bool small = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK) &&
		     (uintptr_t)__builtin_frame_address(0) - (uintptr_t)ss.ss_sp < STACK_NEED;
	errno = saved;
	return small;
}

/* ---- network namespaces ------------------------------------------------------------ */

/* A network namespace is a thread's: unshare(CLONE_NEWNET) and setns()
 * move the calling thread only. The model mirrors the namespace the shim
 * was set up in; a thread elsewhere binds ports the model knows nothing of. */
#define NETNS_PATH "/proc/thread-self/ns/net"

static __thread struct {
	bool known; /* else: the start namespace */
	dev_t dev;
	ino_t ino;
} tls_netns;

bool bg_away(void)
{
	if (!atomic_load_explicit(&g.netns.moved, memory_order_relaxed))
		return false; /* no thread ever moved: no system call */
	int saved = errno;
	struct stat st;
	bool home = g.netns.known && stat(NETNS_PATH, &st) == 0 && st.st_dev == g.netns.dev &&
		    st.st_ino == g.netns.ino;
	errno = saved;
	return !home;
}

bool bg_passing_away(void)
{
	return atomic_load_explicit(&g.init, memory_order_acquire) == 2 && g.active &&
	       atomic_load_explicit(&g.netns.moved, memory_order_relaxed) && bg_owner() &&
	       bg_away();
}

void bg_netns_changed(void)
{
	if (atomic_load_explicit(&g.init, memory_order_acquire) != 2 || !g.active || !bg_owner())
		return;
	int saved = errno;
	struct stat st;
	bool readable = stat(NETNS_PATH, &st) == 0;
	ino_t from = tls_netns.known ? tls_netns.ino : g.netns.ino;
	dev_t from_dev = tls_netns.known ? tls_netns.dev : g.netns.dev;
	if (readable && st.st_ino == from && st.st_dev == from_dev) {
		errno = saved;
		return; /* setns() to the namespace it was in */
	}
	atomic_store_explicit(&g.netns.moved, true, memory_order_relaxed);
	tls_netns.known = readable;
	tls_netns.dev = readable ? st.st_dev : 0;
	tls_netns.ino = readable ? st.st_ino : 0;
	bool home =
		readable && g.netns.known && st.st_dev == g.netns.dev && st.st_ino == g.netns.ino;
	bg_event_netns_change(home, (uint64_t)g.netns.ino, (uint64_t)from, (uint64_t)tls_netns.ino);
	errno = saved;
}

bool bg_active(void)
{
	if (atomic_load_explicit(&g.init, memory_order_acquire) != 2) {
		int saved = errno; /* setting up (config, log, kernel) must not show */
		bg_init();
		await_init(&g.init, &g.init_tid);
		errno = saved;
	}
	return atomic_load_explicit(&g.init, memory_order_acquire) == 2 && g.active && bg_owner() &&
	       !bg_away();
}

static void *table_alloc(unsigned long n)
{
	return malloc(n);
}

static void at_exit(void)
{
	if (atomic_load(&g.init) != 2 || !g.active || !bg_owner())
		return; /* exit() in a vfork() child: the counters are the parent's */
	struct bg_counters c = {.binds = g.n.binds,
				.hazards = g.n.hazards,
				.blocked = g.n.blocked,
				.divergences = g.n.divergences,
				.sockets = g.n.sockets,
				.remedies = g.n.remedies};
	bg_self_check(&c); /* BINDGUARD_SELF_CHECK=1 only */
	bg_event_stop(&c);
}

struct bg_table *bg_model_table(void)
{
	return g.table;
}

/* Is this whole program switched off by its first applicable rule (one with
 * no port or address selector)? Then the shim stays silent, as under
 * /etc/ld.so.preload for the programs a config leaves out. */
static bool program_off(const struct bg_config *c)
{
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct bg_rule *r = &c->rules[i];
		if (!r->program_match)
			continue;
		if (r->nports || r->naddrs)
			return false;
		return r->mode == BG_MODE_OFF;
	}
	return false;
}

/* Can set-up run in this call? Not in a vfork() child of a process not set
 * up yet (it runs in its parent's memory: not ours to set up); not in a
 * handler on a small sigaltstack; not at the fd limit, where it would
 * settle for audit mode with defaults and no log, for good: calls pass
 * through until two fds are free. Costs a few system calls: set-up only. */
static bool setup_now(void)
{
	int saved = errno;
	bool ok = shares_memory(getpid(), getppid()) != 1 && !bg_small_stack();
	int probe[2];
	if (ok && pipe2(probe, O_CLOEXEC) != 0) {
		ok = errno != EMFILE && errno != ENFILE;
	} else if (ok) {
		bg_sys_close(probe[0]);
		bg_sys_close(probe[1]);
	}
	errno = saved;
	return ok;
}

/* The config (file, then environment) and the log: what needs the files the
 * operator set up, read while the program can still reach them. Runs once,
 * from bg_init() or before the program first gives up root or changes root
 * (a config readable by root only, a log path outside the new root). */
void bg_config_once(bool create_log)
{
	if (atomic_load_explicit(&g.config, memory_order_acquire) == 2)
		return;
	int saved = errno;
	if (!setup_now()) {
		errno = saved;
		return;
	}
	int expect = 0;
	if (!atomic_compare_exchange_strong(&g.config, &expect, 1)) {
		await_init(&g.config, &g.config_tid); /* done, or another thread reads it */
		errno = saved;
		return;
	}
	atomic_store_explicit(&g.config_tid, self_tid(), memory_order_relaxed);
	bg_libc_resolve();
	snprintf(g.progname, sizeof(g.progname), "%s", program_invocation_short_name);

	const char *path = secure_getenv("BINDGUARD_CONFIG");
	bg_config_load(&g.cfg, path && *path ? path : NULL, g.progname);
	bg_config_env(&g.cfg);
	if (g.cfg.error[0] && g.cfg.mode == BG_MODE_ENFORCE)
		g.cfg.mode = BG_MODE_AUDIT; /* a broken config never enforces */
	if (g.cfg.error[0]) {
		char line[1024];
		int n = snprintf(line, sizeof(line), "bindguard: %s; %s\n", g.cfg.error,
				 bg_config_fallback(&g.cfg));
		if (n >= (int)sizeof(line)) { /* cut short: still one line */
			n = (int)sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		bg_sink_say(line, (size_t)n); /* the event below may still get out */
	}
	g.active = g.cfg.mode != BG_MODE_OFF && !program_off(&g.cfg);
	if (g.active) {
		bg_sink_init(g.cfg.log, create_log);
		bg_kernel_port_range(); /* /proc/sys, before a chroot() hides it */
	}
	atomic_store_explicit(&g.config, 2, memory_order_release);
	errno = saved;
}

void bg_ids_changed(void)
{
	atomic_store(&g.euid, geteuid());
}

void bg_init(void)
{
	if (atomic_load_explicit(&g.init, memory_order_acquire) != 0 || !setup_now())
		return; /* ready, being set up (by us, re-entered, or another thread), or not now */
	int expect = 0;
	if (!atomic_compare_exchange_strong(&g.init, &expect, 1))
		return;
	atomic_store_explicit(&g.init_tid, self_tid(), memory_order_relaxed);
	bg_config_once(true);
	if (atomic_load_explicit(&g.config, memory_order_acquire) != 2) {
		/* re-entered (a signal handler) while this thread reads the config,
		 * or the config could not be read now: pass through, set up later */
		atomic_store_explicit(&g.init, 0, memory_order_release);
		return;
	}
	atomic_store_explicit(&g.owner, getpid(), memory_order_relaxed);
	struct stat ns;
	g.netns.known = stat(NETNS_PATH, &ns) == 0;
	g.netns.dev = g.netns.known ? ns.st_dev : 0;
	g.netns.ino = g.netns.known ? ns.st_ino : 0;
	g.euid = geteuid();

	unsigned kver = bg_kernel_version(g.kernel, sizeof(g.kernel));
	g.profile = g.cfg.profile_auto ? bg_profile_for_kernel(kver)
				       : bg_profile_named(g.cfg.profile, kver);

	if (g.active) {
		void *m = mmap(NULL, sizeof(struct bg_table), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			g.active = false;
		} else {
			g.table = m;
			g.table->alloc = table_alloc;
			g.table->free = free;
			bg_table_init(g.table, g.profile);
		}
	}
	if (g.active) {
		bg_event_process(getpid(), g.progname);
		if (g.cfg.error[0])
			bg_event_config_error(g.cfg.error);
		char *cfg = bg_config_json(&g.cfg);
		int why;
		bg_event_start(BG_VERSION, bg_profile_name(g.profile.id), g.kernel,
			       bg_view_name(bg_kernel_view_probe(&why)), cfg);
		free(cfg);
		atexit(at_exit);
	}
	atomic_store_explicit(&g.init, 2, memory_order_release);
}

/* ---- lock and the release list ------------------------------------------------- */

/* s no longer waits with a remedy (it got a port, or is gone): true if it did */
static bool remedy_done(struct bg_sock *s)
{
	if (!atomic_load_explicit(&s->remedy_pending, memory_order_relaxed) ||
	    !atomic_exchange_explicit(&s->remedy_pending, false, memory_order_relaxed))
		return false;
	atomic_fetch_sub(&g.n.waiting, 1);
	return true;
}

bool bg_remedy_any(void)
{
	return atomic_load_explicit(&g.n.waiting, memory_order_relaxed) != 0;
}

static void release_one(struct bg_sock *s, void *arg);

bool bg_lock(void)
{
	pid_t self = self_tid();
	if (atomic_load_explicit(&g.lock_owner, memory_order_relaxed) == self)
		return false;
	pthread_mutex_lock(&g.lock);
	atomic_store_explicit(&g.lock_owner, self, memory_order_relaxed);
	bg_release_drain(release_one, NULL);
	return true;
}

void bg_unlock(void)
{
	atomic_store_explicit(&g.lock_owner, 0, memory_order_relaxed);
	pthread_mutex_unlock(&g.lock);
}

static struct bg_other *other_new(void)
{
	struct bg_other *o = calloc(1, sizeof(*o));
	if (o)
		o->sk.kind = BG_KIND_OTHER;
	return o;
}

static void other_drop(struct bg_other *o)
{
	bg_put_port(g.table, &o->sk);
	free(o);
}

/* The last fd of s is gone: it leaves the model's bucket. If the kernel
 * keeps the socket a while (FIN_WAIT, TIME_WAIT), the next query of its
 * port sees it as any other socket there. */
static void release_one(struct bg_sock *s, void *arg)
{
	(void)arg;
	if (s == &bg_not_tcp)
		return;
	remedy_done(s);
	bg_put_port(g.table, &s->sk);
	free(s);
}

void bg_reap(void)
{
	/* socket objects whose last fd closed wait for the model lock; a
	 * process that only opens and closes sockets still frees them here */
	if (!bg_release_pending() || pthread_mutex_trylock(&g.lock) != 0)
		return;
	atomic_store_explicit(&g.lock_owner, self_tid(), memory_order_relaxed);
	bg_release_drain(release_one, NULL);
	bg_unlock();
}

/* ---- tracking ---------------------------------------------------------------------- */

/* Under the lock: s changed in the model (bound, connected, listening). A
 * kernel view taken before that cannot tell sync_port() it is gone. */
static void changed(struct bg_sock *s)
{
	s->changed = atomic_fetch_add(&g.changes, 1) + 1;
}

void bg_track(int fd, struct bg_sock *s)
{
	struct bg_sock *old;
	if (bg_fd_set(fd, s, &old) != 0) {
		free(s);
		return;
	}
	atomic_fetch_add(&g.n.sockets, 1);
	if (old)
		bg_sock_put(old);
}

void bg_untrack(int fd)
{
	struct bg_sock *old = bg_fd_take(fd);
	if (old)
		bg_sock_put(old);
}

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

static bool local_of(int fd, struct in6_addr *a, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	if (bg_real.getsockname(fd, (struct sockaddr *)&ss, &l) != 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return false;
	bg_addr_of(&ss, a, port);
	return true;
}

/* A socket we did not see created (inherited across exec, made before we
 * were ready, received over SCM_RIGHTS): read what binding needs from it. */
static struct bg_sock *learn(int fd)
{
	int domain = bg_getint(fd, SOL_SOCKET, SO_DOMAIN);
	if (domain != AF_INET && domain != AF_INET6)
		return NULL;
	int type = bg_getint(fd, SOL_SOCKET, SO_TYPE);
	int proto = bg_getint(fd, SOL_SOCKET, SO_PROTOCOL);
	if (type != SOCK_STREAM || proto != IPPROTO_TCP) {
		struct bg_sock *old;
		if (bg_fd_set(fd, &bg_not_tcp, &old) == 0 && old)
			bg_sock_put(old);
		return NULL;
	}
	struct bg_sock *s = bg_sock_new(type, domain);
	if (!s)
		return NULL;
	s->tcp = true;
	s->sk.uid = g.euid;
	s->sk.reuse = bg_getint(fd, SOL_SOCKET, SO_REUSEADDR) > 0;
	s->sk.reuseport = bg_getint(fd, SOL_SOCKET, SO_REUSEPORT) > 0;
	if (domain == AF_INET6)
		s->sk.ipv6only = bg_getint(fd, IPPROTO_IPV6, IPV6_V6ONLY) > 0;
	int dev = bg_getint(fd, SOL_SOCKET, SO_BINDTOIFINDEX);
	s->sk.bound_dev_if = dev > 0 ? dev : 0;
	s->bind_address_no_port = bg_getint(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT) > 0;
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0)
		s->sk.state = ti.tcpi_state;
	uint16_t port = 0;
	struct in6_addr local;
	bool have_local = local_of(fd, &local, &port);
	if (have_local && !port)
		s->sk.rcv_saddr = local; /* bound with IP_BIND_ADDRESS_NO_PORT, or not at all */
	if (have_local && port) {
		s->sk.rcv_saddr = local;
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		s->connected = getpeername(fd, (struct sockaddr *)&peer, &pl) == 0;
		if (s->connected)
			bg_addr_of(&peer, &s->daddr, &s->dport);
		s->listening = s->sk.state == BG_TCP_LISTEN;
		if (bg_lock()) {
			/* a connected socket on an ephemeral port most likely got it
			 * from connect(); anything else was bound */
			if (s->connected && bg_kernel_port_ephemeral(port))
				bg_hash_connect(g.table, &s->sk, port);
			else
				bg_bind_commit(g.table, &s->sk, port);
			changed(s);
			bg_unlock();
		}
	}
	bg_track(fd, s);
	return s;
}

struct bg_sock *bg_sock_for(int fd)
{
	struct bg_sock *s = bg_sock_acquire(fd);
	if (!s) {
		learn(fd); /* tracks it under fd, or marks fd as not TCP */
		s = bg_sock_acquire(fd);
	}
	if (s == &bg_not_tcp) {
		bg_sock_put(s);
		return NULL;
	}
	return s;
}

/* ---- the kernel's view merged into the model ------------------------------------- */

static bool same_addr(const struct in6_addr *a, const struct in6_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static bool kconnected(const struct bg_ksock *k)
{
	return k->state != BG_TCP_LISTEN && k->state != BG_TCP_CLOSE;
}

/* The socket object around an owner of kind BG_KIND_OWN. */
static const struct bg_sock *own_sock(const struct bg_sk *o)
{
	return (const struct bg_sock *)((const char *)o - offsetof(struct bg_sock, sk));
}

/* A listen() of a bound socket in progress: bg_guard_listen() sets the
 * state LISTEN before the call, `listening` after it. The kernel's socket
 * may be either; the model's state stays LISTEN for the prediction. */
static bool listen_in_flight(const struct bg_sk *o)
{
	return o->kind == BG_KIND_OWN && o->state == BG_TCP_LISTEN && !own_sock(o)->listening;
}

/* Is model owner o the kernel socket k? */
static bool owner_is(const struct bg_sk *o, const struct bg_ksock *k)
{
	if (!same_addr(&o->rcv_saddr, &k->saddr))
		return false;
	if (o->kind == BG_KIND_OWN) {
		const struct bg_sock *s = own_sock(o);
		if (kconnected(k))
			return s->connected && s->dport == k->dport &&
			       same_addr(&s->daddr, &k->daddr);
		return !s->connected &&
		       (listen_in_flight(o) || s->listening == (k->state == BG_TCP_LISTEN));
	}
	const struct bg_other *x = (const struct bg_other *)o;
	if (x->cookie && k->cookie)
		return x->cookie == k->cookie;
	return x->dport == k->dport && same_addr(&x->daddr, &k->daddr);
}

/* The kernel's sockets on one port, as one bind sees them: on the heap,
 * made by query() and freed by view_free(), so that no thread carries it in
 * its TLS or on its stack. */
struct view {
	struct bg_ksock *k;
	const struct bg_sk **match; /* model owner of each, after sync */
	int n, cap;
	int extras;	       /* connected sockets kept (at most VIEW_EXTRAS) */
	unsigned omitted;      /* connected sockets counted, not kept */
	int err;	       /* why the kernel could not be asked (errno), or 0 */
	unsigned long changes; /* g.changes before the kernel was asked */
	enum bg_view source;
	bool queried; /* the kernel answered: sync with it */
};

/* A connected socket: one of many a port may hold, never what pins it. */
static bool state_extra(uint8_t st)
{
	return st == BG_TCP_ESTABLISHED || st == BG_TCP_SYN_SENT || st == BG_TCP_SYN_RECV ||
	       st == BG_TCP_TIME_WAIT;
}

static void view_free(struct view *v)
{
	free(v->k);
	free(v->match);
	v->k = NULL;
	v->match = NULL;
	v->n = v->cap = 0;
}

/* bg_kernel_port_each()'s callback: keep k in v, or count it. */
static int view_add(const struct bg_ksock *k, void *arg)
{
	struct view *v = arg;
	if (!k) { /* the source failed half-way: start again */
		v->n = v->extras = 0;
		v->omitted = 0;
		return 0;
	}
	if (v->err)
		return 0;
	bool extra = state_extra(k->state);
	if (extra && v->extras >= VIEW_EXTRAS) {
		v->omitted++;
		return 0;
	}
	if (v->n == v->cap) {
		int cap = v->cap ? 2 * v->cap : 16;
		struct bg_ksock *nk = realloc(v->k, (size_t)cap * sizeof(*nk));
		if (nk)
			v->k = nk;
		const struct bg_sk **nm = nk ? realloc(v->match, (size_t)cap * sizeof(*nm)) : NULL;
		if (nm)
			v->match = nm;
		if (!nk || !nm) {
			v->err = ENOMEM; /* a view that lost an owner is no view */
			return 0;
		}
		v->cap = cap;
	}
	v->k[v->n] = *k;
	v->match[v->n] = NULL;
	v->n++;
	v->extras += extra;
	return 0;
}

/* Bring the model's bucket for `port` in line with the kernel's sockets on
 * it. Owners the kernel no longer has leave; sockets the model did not know
 * join, connect-bound ones first so that a bucket they created starts, as in
 * the kernel, at (-1, -1). Whether another process's socket was placed by
 * connect() is inferred: connected, on an ephemeral port, no listener.
 * When the view counted connected sockets it did not keep, a connected
 * owner it does not list may be one of those: it stays. */
static void sync_port(uint16_t port, struct view *v, bool ephemeral)
{
	struct bg_tb *tb = bg_tb_find(g.table, port);
	bool listener = false;
	for (int i = 0; i < v->n; i++)
		listener |= v->k[i].state == BG_TCP_LISTEN;

	/* match what the model knows; collect what the kernel no longer has.
	 * Our own sockets first: one another thread's sync saw in the kernel
	 * before its connect() or bind() reached the model is in the bucket
	 * twice, and the copy as another process's socket is the one to drop */
	size_t nowners = 0;
	for (struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next)
		nowners++;
	struct bg_sk **gone = nowners ? malloc(nowners * sizeof(*gone)) : NULL;
	size_t ngone = 0;
	for (int pass = 0; pass < 2; pass++)
		for (struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next) {
			if ((o->kind == BG_KIND_OWN) != (pass == 0))
				continue;
			bool found = false;
			for (int i = 0; i < v->n && !found; i++) {
				if (v->match[i] || !owner_is(o, &v->k[i]))
					continue;
				v->match[i] = o;
				if (!listen_in_flight(o))
					o->state = v->k[i].state;
				found = true;
			}
			/* before 6.6 sock_diag cannot list a socket that is only bound:
			 * an open one of ours stays an owner; so does one another
			 * thread changed after this view was taken */
			if (!found && o->kind == BG_KIND_OWN &&
			    ((o->state == BG_TCP_CLOSE && !own_sock(o)->connected) ||
			     own_sock(o)->changed > v->changes))
				continue;
			if (!found && v->omitted && state_extra(o->state))
				continue;
			if (!found && gone && ngone < nowners)
				gone[ngone++] = o;
		}
	for (size_t i = 0; i < ngone; i++) {
		if (gone[i]->kind == BG_KIND_OTHER)
			other_drop((struct bg_other *)gone[i]);
		else
			bg_put_port(g.table, gone[i]);
	}
	free(gone);
	/* join the newcomers: connect-bound first */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < v->n; i++) {
			const struct bg_ksock *k = &v->k[i];
			if (v->match[i])
				continue;
			bool cb = ephemeral && kconnected(k) && !listener;
			if (cb != (pass == 0))
				continue;
			struct bg_other *o = other_new();
			if (!o)
				continue;
			o->sk.family = k->family;
			o->sk.state = k->state;
			o->sk.ipv6only = k->v6only;
			o->sk.bound_dev_if = (int)k->ifindex;
			o->sk.uid = k->uid;
			o->sk.rcv_saddr = k->saddr;
			o->daddr = k->daddr;
			o->dport = k->dport;
			o->cookie = k->cookie;
			int err = cb ? bg_hash_connect(g.table, &o->sk, port)
				     : bg_bind_commit(g.table, &o->sk, port);
			if (err) {
				free(o);
				continue;
			}
			v->match[i] = &o->sk;
		}
	}
}

/* Ask the kernel about port. v->queried: it answered (v->source says how);
 * else v->err says why not, and the bind is judged on our own sockets. */
static void query(uint16_t port, struct view *v, uint32_t exclude_inode)
{
	memset(v, 0, sizeof(*v));
	v->changes = atomic_load(&g.changes);
	int why = 0;
	int r = bg_kernel_port_each(port, view_add, v, &v->source, &why);
	if (r < 0 || v->err) {
		v->err = v->err ? v->err : why ? why : -r;
		v->source = BG_VIEW_NONE;
		view_free(v);
		return;
	}
	v->err = why; /* sock_diag's failure, where /proc answered instead */
	if (exclude_inode) {
		for (int i = 0; i < v->n; i++) {
			if (v->k[i].inode == exclude_inode) {
				v->extras -= state_extra(v->k[i].state);
				v->k[i] = v->k[--v->n];
				break;
			}
		}
	}
	v->queried = true;
}

static enum bg_hazard classify(const struct bg_bind_prediction *p, uint16_t port)
{
	if (!p->pins)
		return BG_HAZARD_NONE;
	const struct bg_tb *tb = bg_tb_find(g.table, port);
	for (const struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next)
		if (o->connect_bind && bg_tcp_state_halfclosed(o->state))
			return BG_HAZARD_PIN_HALFCLOSED;
	return BG_HAZARD_PIN;
}

static enum bg_connect_bound cb_of(const struct bg_sk *o)
{
	if (!o || !o->connect_bind)
		return BG_CB_NO;
	if (o->kind == BG_KIND_OTHER)
		return BG_CB_INFERRED;
	return BG_CB_YES;
}

/* Owners for the event: the kernel's list where we asked it, else the
 * model's. The event lists BG_EVENT_OWNERS of them: those that can pin a
 * port or make a pin last (listening, bound, half-closed) before connected
 * ones; owners_total counts every socket on the port. */
static void fill_owners(struct bg_bind_event *e, const struct view *v, uint16_t port)
{
	e->nowners = e->owners_total = 0;
	/* 2 KiB: from the heap, not the application's stack; report() frees it.
	 * Without it the owners are only counted (all of them omitted). */
	if (!e->owners)
		e->owners = calloc(BG_EVENT_OWNERS, sizeof(*e->owners));
	unsigned room = e->owners ? BG_EVENT_OWNERS : 0;
	if (v->queried) {
		e->owners_total = (unsigned)v->n + v->omitted;
		for (int j = 0; j < 2 * v->n && e->nowners < room; j++) {
			int i = j % v->n;
			if (state_extra(v->k[i].state) != (j >= v->n))
				continue;
			const struct bg_ksock *k = &v->k[i];
			struct bg_owner_info *w = &e->owners[e->nowners++];
			memset(w, 0, sizeof(*w));
			w->pid = v->match[i] && v->match[i]->kind == BG_KIND_OWN ? getpid() : 0;
			if (w->pid)
				snprintf(w->comm, sizeof(w->comm), "%s", g.progname);
			w->family = k->family;
			w->state = k->state;
			w->laddr = k->saddr;
			w->raddr = k->daddr;
			w->lport = k->sport;
			w->rport = k->dport;
			w->connect_bound = cb_of(v->match[i]);
			w->uid = k->uid;
			w->inode = k->inode;
		}
		return;
	}
	const struct bg_tb *tb = bg_tb_find(g.table, port);
	for (const struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next) {
		e->owners_total++;
		if (e->nowners == room)
			continue;
		struct bg_owner_info *w = &e->owners[e->nowners++];
		memset(w, 0, sizeof(*w));
		w->family = o->family;
		w->state = o->state;
		w->laddr = o->rcv_saddr;
		w->lport = port;
		w->connect_bound = cb_of(o);
		w->uid = o->uid;
		if (o->kind == BG_KIND_OWN) {
			const struct bg_sock *s = own_sock(o);
			w->pid = getpid();
			snprintf(w->comm, sizeof(w->comm), "%s", g.progname);
			w->raddr = s->daddr;
			w->rport = s->dport;
		}
	}
}

/* Who holds the other owners' inodes: only for events someone will read. */
static void resolve_pids(struct bg_bind_event *e)
{
	for (unsigned i = 0; i < e->nowners; i++) {
		struct bg_owner_info *w = &e->owners[i];
		if (!w->pid)
			w->pid = bg_kernel_inode_owner(w->inode, w->comm, sizeof(w->comm));
	}
}

/* The event, if its level is logged; the last use of e (its owners are freed). */
static void report(struct bg_bind_event *e)
{
	enum bg_severity sev = e->remedy != BG_REMEDY_NONE ? BG_SEV_INFO : BG_SEV_DEBUG;
	if (e->hazard != BG_HAZARD_NONE)
		sev = e->decision == BG_DECISION_BLOCK ? BG_SEV_ERROR : BG_SEV_WARNING;
	else if (e->blind)
		sev = BG_SEV_WARNING; /* judged without other processes' sockets: say so */
	if (sev != BG_SEV_DEBUG || g.cfg.level == BG_LEVEL_DEBUG) {
		if (e->hazard != BG_HAZARD_NONE) {
			struct bg_port_range r = bg_kernel_port_range();
			e->range_low = r.low;
			e->range_high = r.high;
		}
		resolve_pids(e);
		bg_event_bind(e, sev);
	}
	free(e->owners);
	e->owners = NULL;
}

/* A prediction the kernel contradicts. A conflict predicted and not met is
 * one whatever the model saw. An EADDRINUSE not predicted is one only where
 * the model saw every owner of the port: its own sockets always, other
 * processes' only if the kernel was asked (saw_others). A port outside the
 * ephemeral range, or a query that failed (view none), leaves other
 * processes' sockets unseen: one of them may hold the port, as a second
 * server started on a busy port shows, and that contradicts nothing. */
static void divergence(const char *action, const struct bg_sk *sk, uint16_t port, bool predicted,
		       bool saw_others, int r, int err)
{
	bool kernel_conflict = r < 0 && err == EADDRINUSE;
	if ((r == 0 && predicted) || (kernel_conflict && !predicted && saw_others)) {
		atomic_fetch_add(&g.n.divergences, 1);
		if (g.cfg.level == BG_LEVEL_DEBUG)
			bg_event_divergence(action, sk->family, &sk->rcv_saddr, port, predicted, r,
					    err);
	}
}

/* ---- bind and listen ------------------------------------------------------------------ */

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

static void event_init(struct bg_bind_event *e, const char *action, int fd, const struct bg_sk *c,
		       uint16_t port)
{
	memset(e, 0, sizeof(*e)); /* owners: by fill_owners(), freed by report() */
	e->action = action;
	e->fd = fd;
	e->family = c->family;
	e->addr = c->rcv_saddr;
	e->port = port;
	e->profile = bg_profile_name(g.profile.id);
	e->view = "none";
}

/* How other processes were seen: the source, and why the kernel could not
 * be asked (or why /proc answered instead of sock_diag). */
static void view_to_event(struct bg_bind_event *e, const struct view *v)
{
	if (!e->ephemeral)
		return; /* not asked: "none", and no error */
	e->view = bg_view_name(v->source);
	e->view_error = v->err ? bg_errno_name(v->err) : NULL;
	e->blind = !v->queried;
}

static void prediction_to_event(struct bg_bind_event *e, const struct bg_bind_prediction *p)
{
	e->tb_exists = p->tb_exists;
	e->before = p->before;
	e->after = p->after;
	e->conflict_predicted = p->conflict;
}

/* Shared by bind with an explicit port and listen on a bound socket. cand
 * is what the model is asked about under the lock: a copy for bind, the
 * socket itself for listen; seen is a copy read under the lock, for the
 * event and the rules outside it. */
static int guarded_get_port(struct bg_sock *s, int fd, const char *action, struct bg_sk *cand,
			    const struct bg_sk *seen, uint16_t port,
			    int (*call)(int, const void *, long), const void *arg, long argl)
{
	struct bg_bind_event e;
	event_init(&e, action, fd, seen, port);
	struct view v = {0};
	e.ephemeral = bg_kernel_port_ephemeral(port);
	if (e.ephemeral)
		query(port, &v, 0);
	view_to_event(&e, &v);
	enum bg_mode mode;
	unsigned block;
	bg_config_decide(&g.cfg, port, &seen->rcv_saddr, &mode, &block);
	e.mode = mode;

	struct bg_bind_prediction p;
	bool locked = bg_lock();
	if (!locked) {
		view_free(&v);
		return call(fd, arg, argl); /* re-entered from a signal handler */
	}
	if (v.queried)
		sync_port(port, &v, true);
	bg_predict_get_port(g.table, cand, port, &p);
	e.hazard = mode == BG_MODE_OFF ? BG_HAZARD_NONE : classify(&p, port);
	e.decision = bg_policy_decide(mode, block, e.hazard, true);
	prediction_to_event(&e, &p);
	fill_owners(&e, &v, port);
	bg_unlock();
	view_free(&v);

	atomic_fetch_add(&g.n.binds, 1);
	if (e.hazard != BG_HAZARD_NONE)
		atomic_fetch_add(&g.n.hazards, 1);
	if (e.decision == BG_DECISION_BLOCK) {
		atomic_fetch_add(&g.n.blocked, 1);
		e.result = -1;
		e.err = g.cfg.block_errno;
		report(&e);
		errno = g.cfg.block_errno;
		return -1;
	}

	int r = call(fd, arg, argl);
	int err = errno;
	if (bg_lock()) {
		if (r == 0) {
			struct bg_tb *before = s->sk.tb;
			if (cand != &s->sk) { /* bind; listen passes the socket itself */
				take_address(s, cand);
				s->sk.state = cand->state;
			}
			s->sk.bindport_lock = true;
			if (!before || before->port == port)
				bg_bind_commit(g.table, &s->sk, port);
			changed(s);
		}
		bg_unlock();
	}
	divergence(action, seen, port, p.conflict, v.queried, r, err);
	e.result = r;
	e.err = err;
	if (r != 0 && e.hazard != BG_HAZARD_NONE)
		e.hazard = BG_HAZARD_NONE; /* the kernel refused: nothing was pinned */
	report(&e);
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

/* The kernel chose the port (bind(addr, 0), listen() autobind): only after
 * the call do we know which, so the hazard can only be reported. */
static void after_auto_port(struct bg_sock *s, int fd, const char *action, enum bg_remedy remedy)
{
	struct in6_addr local;
	uint16_t port = 0;
	if (!local_of(fd, &local, &port) || !port)
		return;
	struct bg_sk cand; /* the socket as it is under the lock, below */
	memset(&cand, 0, sizeof(cand));
	cand.family = s->sk.family;
	cand.rcv_saddr = local;
	struct bg_bind_event e;
	event_init(&e, action, fd, &cand, port);
	e.port_auto = true;
	e.remedy = remedy;
	struct view v = {0};
	e.ephemeral = bg_kernel_port_ephemeral(port);
	if (e.ephemeral) {
		struct stat st;
		query(port, &v, fstat(fd, &st) == 0 ? (uint32_t)st.st_ino : 0);
	}
	view_to_event(&e, &v);
	enum bg_mode mode;
	unsigned block;
	bg_config_decide(&g.cfg, port, &local, &mode, &block);
	e.mode = mode;
	if (!bg_lock()) {
		view_free(&v);
		return;
	}
	cand = candidate(s, &local, 0);
	if (v.queried)
		sync_port(port, &v, true);
	struct bg_bind_prediction p;
	bg_predict_get_port(g.table, &cand, port, &p);
	e.hazard = mode == BG_MODE_OFF ? BG_HAZARD_NONE : classify(&p, port);
	e.decision = bg_policy_decide(mode, block, e.hazard, false);
	prediction_to_event(&e, &p);
	fill_owners(&e, &v, port);
	take_address(s, &cand);
	bg_bind_commit(g.table, &s->sk, port);
	changed(s);
	bg_unlock();
	view_free(&v);
	atomic_fetch_add(&g.n.binds, 1);
	if (e.hazard != BG_HAZARD_NONE)
		atomic_fetch_add(&g.n.hazards, 1);
	report(&e);
}

/* A bind that took no port: the kernel refused it (bind(addr, 0) that
 * failed, a socket already bound), or the shim did (a second bind while the
 * remedy waits). A debug event like every other bind, with no bucket. */
static void bind_refused(int fd, const struct bg_sk *c, uint16_t port, int r, int err)
{
	atomic_fetch_add(&g.n.binds, 1);
	if (g.cfg.level != BG_LEVEL_DEBUG)
		return;
	struct bg_bind_event e;
	event_init(&e, "bind", fd, c, port);
	e.port_auto = port == 0;
	e.ephemeral = port && bg_kernel_port_ephemeral(port);
	e.unmodelled = true;
	unsigned block;
	bg_config_decide(&g.cfg, port, &c->rcv_saddr, &e.mode, &block);
	e.result = r;
	e.err = err;
	report(&e);
}

/* ---- the remedy: IP_BIND_ADDRESS_NO_PORT for bind(addr, 0) ------------------------ */

static int set_no_port(int fd, int on)
{
	return bg_real.setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
}

/* bind(addr, 0) of a socket with no port, where the config asks for the
 * remedy: the kernel takes the address now and leaves the port to connect()
 * (which shares it) or listen(). Returns false when the remedy does not
 * apply (the caller binds as usual); else the bind's result is in *r. */
static bool remedy_bind(bool eligible, const struct bg_sk *cand, struct bg_sock *s, int fd,
			const struct sockaddr *addr, socklen_t len, const struct in6_addr *a,
			int *r)
{
	if (!eligible || !bg_config_remedy(&g.cfg, a) || set_no_port(fd, 1) != 0)
		return false;
	*r = bg_real.bind(fd, addr, len);
	int err = errno;
	if (*r != 0) {
		set_no_port(fd, 0); /* as the program left it */
		bind_refused(fd, cand, 0, *r, err);
		errno = err;
		return true;
	}
	if (bg_lock()) {
		take_address(s, cand);
		bg_unlock();
	}
	atomic_fetch_add(&g.n.waiting, 1);
	atomic_store_explicit(&s->remedy_pending, true, memory_order_release);
	atomic_fetch_add(&g.n.remedies, 1);
	struct bg_bind_event e;
	event_init(&e, "bind", fd, cand, 0);
	e.port_auto = true;
	e.remedy = BG_REMEDY_APPLIED;
	e.decision = BG_DECISION_REMEDY;
	unsigned block;
	bg_config_decide(&g.cfg, 0, a, &e.mode, &block);
	report(&e);
	errno = err;
	return true;
}

void bg_remedy_withdraw(struct bg_sock *s, int fd)
{
	if (!remedy_done(s))
		return;
	int saved = errno;
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	/* the address as bound (with an IPv6 scope), port 0: bind it again,
	 * now without the option, and the kernel picks the port */
	if (bg_real.getsockname(fd, (struct sockaddr *)&ss, &l) == 0 && set_no_port(fd, 0) == 0 &&
	    bg_real.bind(fd, (struct sockaddr *)&ss, l) == 0)
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
	return guarded_get_port(s, fd, "bind", &cand, &cand, port, call_bind, addr, len);
}

int bg_guard_listen(struct bg_sock *s, int fd, int backlog)
{
	/* under the lock: other threads' sync_port() read and write the
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
		changed(s);
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
			remedy_done(s);
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
	int r = guarded_get_port(s, fd, "listen", &s->sk, &seen, port, call_listen, NULL, backlog);
	if (bg_lock()) {
		if (r != 0)
			s->sk.state = old;
		else {
			s->listening = true;
			s->sk.reuseport_grouped = s->sk.reuseport;
		}
		changed(s);
		bg_unlock();
	}
	return r;
}

/* ---- connect, accept, options, fork ------------------------------------------------------ */

void bg_after_connect(struct bg_sock *s, int fd, const struct sockaddr *addr, socklen_t len, int r,
		      int err)
{
	/* a refused call's address may be unreadable (EFAULT): not looked at */
	if (!addr || len < sizeof(sa_family_t) || (r != 0 && err != EINPROGRESS))
		return;
	if (addr->sa_family == AF_UNSPEC) {
		if (r != 0 || !bg_lock())
			return;
		/* tcp_disconnect(): a port connect() gave is given back */
		s->connected = false;
		s->sk.state = BG_TCP_CLOSE;
		if (s->sk.connect_bind) {
			bg_put_port(g.table, &s->sk);
			s->sk.connect_bind = false;
		}
		bg_unlock();
		return;
	}
	if (r != 0 && err != EINPROGRESS)
		return;
	/* connect() chose the port (a failed one leaves the remedy pending) */
	remedy_done(s);
	struct sockaddr_storage peer;
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, addr, len < sizeof(peer) ? len : sizeof(peer));
	struct in6_addr local;
	uint16_t port = 0;
	bool have_local = local_of(fd, &local, &port) && port;
	if (!bg_lock())
		return;
	if (!s->connected && (s->sk.tb || have_local)) {
		s->connected = true;
		bg_addr_of(&peer, &s->daddr, &s->dport);
		s->sk.state = r == 0 ? BG_TCP_ESTABLISHED : BG_TCP_SYN_SENT;
		if (!s->sk.tb) {
			s->sk.rcv_saddr = local;
			bg_hash_connect(g.table, &s->sk, port);
		} else if (have_local && !same_addr(&local, &s->sk.rcv_saddr)) {
			/* tcp_v{4,6}_connect(): a socket bound to a wildcard
			 * takes its source address (and that address's TB2) */
			bg_update_saddr(g.table, &s->sk, &local);
		}
		changed(s);
	}
	bg_unlock();
}

void bg_after_accept(struct bg_sock *listener, int fd)
{
	/* Children own the listener's port. Only a port that connect() could
	 * share makes them matter, and only then do we pay for tracking them. */
	struct bg_sk l; /* the listener as it is now (under the lock) */
	bool bound = false;
	if (listener && bg_lock()) {
		l = listener->sk;
		bound = l.tb != NULL;
		bg_unlock();
	}
	if (!bound || !bg_kernel_port_ephemeral(l.num)) {
		bg_untrack(fd);
		return;
	}
	struct bg_sock *c = bg_sock_new(SOCK_STREAM, l.family);
	if (!c) {
		bg_untrack(fd);
		return;
	}
	c->tcp = true;
	c->connected = true;
	c->sk.state = BG_TCP_ESTABLISHED;
	c->sk.uid = l.uid;
	c->sk.reuse = l.reuse;
	c->sk.reuseport = l.reuseport;
	c->sk.ipv6only = l.ipv6only;
	c->sk.bound_dev_if = l.bound_dev_if;
	uint16_t port;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	if (!local_of(fd, &c->sk.rcv_saddr, &port))
		c->sk.rcv_saddr = l.rcv_saddr;
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
		bg_addr_of(&peer, &c->daddr, &c->dport);
	if (bg_lock()) {
		if (listener->sk.tb)
			bg_inherit_port(g.table, &c->sk, &listener->sk);
		changed(c);
		bg_unlock();
	}
	bg_track(fd, c);
}

void bg_after_setsockopt(struct bg_sock *s, int fd, int level, int opt, const void *val,
			 socklen_t len)
{
	(void)fd;
	int on = val && len >= sizeof(int) ? *(const int *)val != 0 : 0;
	if (!bg_lock())
		return;
	if (level == SOL_SOCKET && opt == SO_REUSEADDR)
		s->sk.reuse = on;
	else if (level == SOL_SOCKET && opt == SO_REUSEPORT) {
		s->sk.reuseport = on;
		/* uids are compared only between SO_REUSEPORT sockets: read it
		 * here rather than on every socket() */
		if (on)
			s->sk.uid = geteuid();
	} else if (level == SOL_SOCKET && opt == SO_BINDTODEVICE)
		s->sk.bound_dev_if = bg_getint(fd, SOL_SOCKET, SO_BINDTOIFINDEX) > 0
					     ? bg_getint(fd, SOL_SOCKET, SO_BINDTOIFINDEX)
					     : 0;
	else if (level == SOL_SOCKET && opt == SO_BINDTOIFINDEX)
		s->sk.bound_dev_if = val && len >= sizeof(int) ? *(const int *)val : 0;
	else if (level == IPPROTO_IPV6 && opt == IPV6_V6ONLY)
		s->sk.ipv6only = on;
	else if (level == IPPROTO_IP && opt == IP_BIND_ADDRESS_NO_PORT)
		s->bind_address_no_port = on;
	bg_unlock();
}

static bool fork_locked;

void bg_before_fork(void)
{
	fork_locked = atomic_load(&g.init) == 2 && bg_owner() && bg_lock();
}

void bg_after_fork(bool child)
{
	if (child) {
		tls_tid = 0;
		/* forked while another thread was setting up: that thread does
		 * not exist here, so the set-up never ends; stay out of the way */
		if (atomic_load(&g.init) == 1) {
			g.active = false;
			atomic_store_explicit(&g.init, 2, memory_order_release);
		}
		if (fork_locked)
			atomic_store(&g.lock_owner, self_tid());
		if (atomic_load(&g.init) == 2)
			atomic_store_explicit(&g.owner, getpid(), memory_order_relaxed);
		bg_event_process(getpid(), g.progname);
	}
	if (fork_locked)
		bg_unlock();
}
