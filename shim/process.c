/* process.c: the shim's state for this process (see process.h): set-up,
 * config, owner, network namespace, stacks, the lock, the counters.
 */
#define _GNU_SOURCE
#include "process.h"
#include "probefile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "kernel.h"
#include "libc.h"
#include "portview.h"
#include "selfcheck.h"
#include "sink.h"
#include "version.h"

struct bg_process bg_proc = {.lock = PTHREAD_MUTEX_INITIALIZER};
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
	pid_t owner = atomic_load_explicit(&bg_proc.owner, memory_order_relaxed);
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
	atomic_store_explicit(&bg_proc.owner, self, memory_order_relaxed);
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
	if (!atomic_load_explicit(&bg_proc.netns.moved, memory_order_relaxed))
		return false; /* no thread ever moved: no system call */
	int saved = errno;
	struct stat st;
	bool home = bg_proc.netns.known && stat(NETNS_PATH, &st) == 0 &&
		    st.st_dev == bg_proc.netns.dev && st.st_ino == bg_proc.netns.ino;
	errno = saved;
	return !home;
}

bool bg_passing_away(void)
{
	return atomic_load_explicit(&bg_proc.init, memory_order_acquire) == 2 && bg_proc.active &&
	       atomic_load_explicit(&bg_proc.netns.moved, memory_order_relaxed) && bg_owner() &&
	       bg_away();
}

void bg_netns_changed(void)
{
	if (atomic_load_explicit(&bg_proc.init, memory_order_acquire) != 2 || !bg_proc.active ||
	    !bg_owner())
		return;
	int saved = errno;
	struct stat st;
	bool readable = stat(NETNS_PATH, &st) == 0;
	ino_t from = tls_netns.known ? tls_netns.ino : bg_proc.netns.ino;
	dev_t from_dev = tls_netns.known ? tls_netns.dev : bg_proc.netns.dev;
	if (readable && st.st_ino == from && st.st_dev == from_dev) {
		errno = saved;
		return; /* setns() to the namespace it was in */
	}
	atomic_store_explicit(&bg_proc.netns.moved, true, memory_order_relaxed);
	tls_netns.known = readable;
	tls_netns.dev = readable ? st.st_dev : 0;
	tls_netns.ino = readable ? st.st_ino : 0;
	bool home = readable && bg_proc.netns.known && st.st_dev == bg_proc.netns.dev &&
		    st.st_ino == bg_proc.netns.ino;
	bg_event_netns_change(home, (uint64_t)bg_proc.netns.ino, (uint64_t)from,
			      (uint64_t)tls_netns.ino);
	errno = saved;
}

bool bg_active(void)
{
	if (atomic_load_explicit(&bg_proc.init, memory_order_acquire) != 2) {
		int saved = errno; /* setting up (config, log, kernel) must not show */
		bg_init();
		await_init(&bg_proc.init, &bg_proc.init_tid);
		errno = saved;
	}
	return atomic_load_explicit(&bg_proc.init, memory_order_acquire) == 2 && bg_proc.active &&
	       bg_owner() && !bg_away();
}
static void *table_alloc(unsigned long n)
{
	return malloc(n);
}

static void at_exit(void)
{
	if (atomic_load(&bg_proc.init) != 2 || !bg_proc.active || !bg_owner())
		return; /* exit() in a vfork() child: the counters are the parent's */
	struct bg_counters c = {.binds = bg_proc.n.binds,
				.hazards = bg_proc.n.hazards,
				.blocked = bg_proc.n.blocked,
				.divergences = bg_proc.n.divergences,
				.sockets = bg_proc.n.sockets,
				.remedies = bg_proc.n.remedies};
	if (bg_self_check_on() && bg_lock()) { /* not from a handler that holds it */
		bg_self_check(bg_proc.table);
		bg_unlock();
		bg_self_check_report(&c);
	}
	bg_event_stop(&c);
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
	if (atomic_load_explicit(&bg_proc.config, memory_order_acquire) == 2)
		return;
	int saved = errno;
	if (!setup_now()) {
		errno = saved;
		return;
	}
	int expect = 0;
	if (!atomic_compare_exchange_strong(&bg_proc.config, &expect, 1)) {
		await_init(&bg_proc.config,
			   &bg_proc.config_tid); /* done, or another thread reads it */
		errno = saved;
		return;
	}
	atomic_store_explicit(&bg_proc.config_tid, self_tid(), memory_order_relaxed);
	bg_libc_resolve();
	snprintf(bg_proc.progname, sizeof(bg_proc.progname), "%s", program_invocation_short_name);

	const char *path = secure_getenv("BINDGUARD_CONFIG");
	bg_config_load(&bg_proc.cfg, path && *path ? path : NULL, bg_proc.progname);
	bg_config_env(&bg_proc.cfg);
	if (bg_proc.cfg.error[0] && bg_proc.cfg.mode == BG_MODE_ENFORCE)
		bg_proc.cfg.mode = BG_MODE_AUDIT; /* a broken config never enforces */
	if (bg_proc.cfg.error[0]) {
		char line[1024];
		int n = snprintf(line, sizeof(line), "bindguard: %s; %s\n", bg_proc.cfg.error,
				 bg_config_fallback(&bg_proc.cfg));
		if (n >= (int)sizeof(line)) { /* cut short: still one line */
			n = (int)sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		bg_sink_say(line, (size_t)n); /* the event below may still get out */
	}
	bg_proc.active = bg_proc.cfg.mode != BG_MODE_OFF && !program_off(&bg_proc.cfg);
	if (bg_proc.active) {
		bg_sink_init(bg_proc.cfg.log, create_log);
		bg_kernel_port_range(); /* /proc/sys, before a chroot() hides it */
	}
	atomic_store_explicit(&bg_proc.config, 2, memory_order_release);
	errno = saved;
}

void bg_ids_changed(void)
{
	atomic_store(&bg_proc.euid, geteuid());
}

void bg_init(void)
{
	if (atomic_load_explicit(&bg_proc.init, memory_order_acquire) != 0 || !setup_now())
		return; /* ready, being set up (by us, re-entered, or another thread), or not now */
	int expect = 0;
	if (!atomic_compare_exchange_strong(&bg_proc.init, &expect, 1))
		return;
	atomic_store_explicit(&bg_proc.init_tid, self_tid(), memory_order_relaxed);
	bg_config_once(true);
	if (atomic_load_explicit(&bg_proc.config, memory_order_acquire) != 2) {
		/* re-entered (a signal handler) while this thread reads the config,
		 * or the config could not be read now: pass through, set up later */
		atomic_store_explicit(&bg_proc.init, 0, memory_order_release);
		return;
	}
	atomic_store_explicit(&bg_proc.owner, getpid(), memory_order_relaxed);
	struct stat ns;
	bg_proc.netns.known = stat(NETNS_PATH, &ns) == 0;
	bg_proc.netns.dev = bg_proc.netns.known ? ns.st_dev : 0;
	bg_proc.netns.ino = bg_proc.netns.known ? ns.st_ino : 0;
	bg_proc.euid = geteuid();

	unsigned kver = bg_kernel_version(bg_proc.kernel, sizeof(bg_proc.kernel));
	/* the config, then a probe of this kernel, then the version table; an
	 * inactive shim reads no file */
	struct bg_profile_choice choice;
	{
		const char *path = secure_getenv("BINDGUARD_PROBE_FILE");
		if (!path || !*path)
			path = BG_DEFAULT_PROBE_FILE;
		struct bg_probe_file pf;
		char why[200];
		int rc = bg_proc.active ? bg_probe_file_read(path, &pf, why, sizeof(why)) : 1;
		bg_profile_choose(bg_proc.cfg.profile_auto, bg_proc.cfg.profile, bg_proc.kernel,
				  kver, path, rc, &pf, why, &choice);
	}
	bg_proc.profile = choice.profile;

	if (bg_proc.active) {
		void *m = mmap(NULL, sizeof(struct bg_table), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			bg_proc.active = false;
		} else {
			bg_proc.table = m;
			bg_proc.table->alloc = table_alloc;
			bg_proc.table->free = free;
			bg_table_init(bg_proc.table, bg_proc.profile);
		}
	}
	if (bg_proc.active) {
		bg_event_process(getpid(), bg_proc.progname);
		if (bg_proc.cfg.error[0])
			bg_event_config_error(bg_proc.cfg.error);
		char *cfg = bg_config_json(&bg_proc.cfg);
		int why;
		struct bg_start_info si = {
			.version = BG_VERSION,
			.profile = bg_profile_name(bg_proc.profile.id),
			.kernel = bg_proc.kernel,
			.view = bg_view_name(bg_kernel_view_probe(&why)),
			.config_json = cfg,
			.profile_source = bg_profile_source_name(choice.source),
			.profile_by_uname = bg_profile_name(choice.by_uname),
			.profile_disagree = choice.disagree,
			.profile_note = choice.note,
		};
		bg_event_start(&si);
		free(cfg);
		atexit(at_exit);
	}
	atomic_store_explicit(&bg_proc.init, 2, memory_order_release);
}
/* ---- lock and the release list ------------------------------------------------- */

/* s no longer waits with a remedy (it got a port, or is gone): true if it did */
bool bg_remedy_done(struct bg_sock *s)
{
	if (!atomic_load_explicit(&s->remedy_pending, memory_order_relaxed) ||
	    !atomic_exchange_explicit(&s->remedy_pending, false, memory_order_relaxed))
		return false;
	atomic_fetch_sub(&bg_proc.n.waiting, 1);
	return true;
}

bool bg_remedy_any(void)
{
	return atomic_load_explicit(&bg_proc.n.waiting, memory_order_relaxed) != 0;
}

static void release_one(struct bg_sock *s, void *arg);

bool bg_lock(void)
{
	pid_t self = self_tid();
	if (atomic_load_explicit(&bg_proc.lock_owner, memory_order_relaxed) == self)
		return false;
	pthread_mutex_lock(&bg_proc.lock);
	atomic_store_explicit(&bg_proc.lock_owner, self, memory_order_relaxed);
	bg_release_drain(release_one, NULL);
	return true;
}

void bg_unlock(void)
{
	atomic_store_explicit(&bg_proc.lock_owner, 0, memory_order_relaxed);
	pthread_mutex_unlock(&bg_proc.lock);
}

/* The last fd of s is gone: it leaves the model's bucket. If the kernel
 * keeps the socket a while (FIN_WAIT, TIME_WAIT), the next query of its
 * port sees it as any other socket there. */
static void release_one(struct bg_sock *s, void *arg)
{
	(void)arg;
	if (s == &bg_not_tcp)
		return;
	bg_remedy_done(s);
	bg_put_port(bg_proc.table, &s->sk);
	free(s);
}

void bg_reap(void)
{
	/* socket objects whose last fd closed wait for the model lock; a
	 * process that only opens and closes sockets still frees them here */
	if (!bg_release_pending() || pthread_mutex_trylock(&bg_proc.lock) != 0)
		return;
	atomic_store_explicit(&bg_proc.lock_owner, self_tid(), memory_order_relaxed);
	bg_release_drain(release_one, NULL);
	bg_unlock();
}

static bool fork_locked;

void bg_before_fork(void)
{
	fork_locked = atomic_load(&bg_proc.init) == 2 && bg_owner() && bg_lock();
}

void bg_after_fork(bool child)
{
	if (child) {
		tls_tid = 0;
		/* forked while another thread was setting up: that thread does
		 * not exist here, so the set-up never ends; stay out of the way */
		if (atomic_load(&bg_proc.init) == 1) {
			bg_proc.active = false;
			atomic_store_explicit(&bg_proc.init, 2, memory_order_release);
		}
		if (fork_locked)
			atomic_store(&bg_proc.lock_owner, self_tid());
		if (atomic_load(&bg_proc.init) == 2)
			atomic_store_explicit(&bg_proc.owner, getpid(), memory_order_relaxed);
		bg_snapshot_forget(true);
		bg_event_process(getpid(), bg_proc.progname);
	}
	if (fork_locked)
		bg_unlock();
}

void bg_changed(struct bg_sock *s)
{
	s->changed = atomic_fetch_add(&bg_proc.changes, 1) + 1;
}
