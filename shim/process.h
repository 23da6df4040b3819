/* process.h: the shim's state for this process: set-up, the config it runs
 * under, which process the model belongs to (fork, vfork, clone), the
 * network namespace, small signal stacks, the model lock and the release
 * list, the counters for the stop event. The call paths above (bind.c,
 * track.c, interpose.c) read and change it; nothing below knows it exists.
 */
#ifndef BG_PROCESS_H
#define BG_PROCESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bucket.h"
#include "config.h"
#include "fdtable.h"

struct bg_process {
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
	struct bg_table *table; /* the model: every port's bucket as we know it */
	pthread_mutex_t lock;	/* guards table and every bg_sock's model fields */
	atomic_int lock_owner;
	atomic_ulong changes; /* our sockets' changes to the model, counted */
	char progname[64];
	_Atomic uid_t euid;
	struct {
		atomic_uint_fast64_t binds, hazards, blocked, divergences, sockets, remedies;
		atomic_long waiting; /* sockets with remedy_pending set */
	} n;
};
extern struct bg_process bg_proc __attribute__((visibility("hidden")));

/* True once the shim is configured and not in mode off. Cheap. */
bool bg_active(void);
/* Is this process the one the model belongs to? False in a child that runs
 * in its parent's memory (vfork(), clone(CLONE_VM)) until it execs: it
 * must pass through and change nothing. One relaxed load while no such
 * child can be running (bg_vforks, bg_clone_vm()); else one getpid(). */
bool bg_owner(void);
/* Is the calling thread in another network namespace than the one the
 * shim was set up in? One relaxed load until a thread has moved. */
bool bg_away(void);
/* Set up, active, ours, and this thread away: its socket calls pass
 * through unjudged, and the sockets it makes are never followed. */
bool bg_passing_away(void);
/* unshare()/setns() succeeded: if this thread's network namespace
 * changed, say so (one netns_change event). Keeps errno. */
void bg_netns_changed(void);
/* Running on a sigaltstack with less room left than a judged bind needs?
 * (A signal handler: then bind and listen pass through.) One relaxed load
 * until the program installs an alternate stack; then one system call. */
bool bg_small_stack(void);
/* vfork() children that may be running (interpose.c's vfork counts them). */
extern atomic_int bg_vforks __attribute__((visibility("hidden")));
/* The program made a clone(CLONE_VM) child: bg_owner() asks getpid() from now on. */
void bg_clone_vm(void);
/* The program installed an alternate signal stack: bg_small_stack() looks. */
void bg_altstack_set(void);
/* Configure on first use (lazily, never from a constructor). */
void bg_init(void);
/* Read the config and open the log now, once (bg_init's first step, with
 * create_log): the program is about to give up root or change root, after
 * which it may be unable to. Before set*id() or chroot(), create_log is
 * false: an existing log is opened, a missing one is not made (a launcher
 * such as runuser would leave a root-owned file its child cannot write).
 * Keeps errno. */
void bg_config_once(bool create_log);
/* The process's user changed (setuid...): its next sockets are the new user's. */
void bg_ids_changed(void);

/* The model lock. false: this thread holds it already (a signal handler
 * re-entered a call that holds it): the caller passes through. Taking it
 * frees the socket objects whose last fd closed. */
bool bg_lock(void);
void bg_unlock(void);
/* Free socket objects whose last fd closed, if the lock is free now. */
void bg_reap(void);
/* Under the lock: s changed in the model (bound, connected, listening). A
 * kernel view taken before that cannot tell the merge that it is gone. */
void bg_changed(struct bg_sock *s);

/* s no longer waits with a remedy (it got a port, or is gone): true if it did. */
bool bg_remedy_done(struct bg_sock *s);
/* Is any socket of this process waiting with a remedy (no port yet)? */
bool bg_remedy_any(void);

void bg_before_fork(void);
void bg_after_fork(bool child);

#endif
