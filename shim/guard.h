/* guard.h: the shim's process-wide state and the question every bind asks:
 * what would this do to the port's bucket, and what do we do about it?
 * interpose.c calls in; this file calls the model, the kernel queries,
 * policy and events.
 */
#ifndef BG_GUARD_H
#define BG_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "event.h"
#include "fdtable.h"

#include "version.h"

/* Owner kinds (bg_sk.kind). */
enum { BG_KIND_OWN = 0, BG_KIND_OTHER = 1 };

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

/* The socket object for fd: tracked, or learned now from the kernel if fd is
 * an IPv4/IPv6 TCP socket we have not seen. NULL for anything else. The
 * caller holds a reference and drops it with bg_sock_put(): another thread's
 * close() of fd cannot free the object under it. */
struct bg_sock *bg_sock_for(int fd);
/* A TCP socket was created (socket, accept): track it under fd. */
void bg_track(int fd, struct bg_sock *s);
/* fd names something we do not follow: forget any stale entry. */
void bg_untrack(int fd);
/* Sentinel stored for inet sockets that are not TCP, so they are not relearned. */
extern struct bg_sock bg_not_tcp;

/* getsockopt() of an int option, -1 on failure. */
int bg_getint(int fd, int level, int opt);
/* An AF_INET or AF_INET6 address as the model keeps it (IPv4 v4-mapped). */
struct sockaddr_storage;
void bg_addr_of(const struct sockaddr_storage *ss, struct in6_addr *a, uint16_t *port);

/* Free socket objects whose last fd closed, if the lock is free now. */
void bg_reap(void);
bool bg_lock(void); /* false: this thread holds it already (signal handler) */
void bg_unlock(void);

/* bind() and listen() of a tracked TCP socket: ask, decide, call the real
 * function (unless blocked), commit the kernel's answer, report. Return and
 * errno are the call's own, except for a blocked call. */
int bg_guard_bind(struct bg_sock *s, int fd, const struct sockaddr *addr, socklen_t len);
int bg_guard_listen(struct bg_sock *s, int fd, int backlog);
/* The program asked for the port of a socket the remedy left port-less:
 * clear IP_BIND_ADDRESS_NO_PORT and bind the port now, as the program's own
 * bind(addr, 0) would have. Keeps errno. */
void bg_remedy_withdraw(struct bg_sock *s, int fd);
/* Is any socket of this process waiting with a remedy (no port yet)? */
bool bg_remedy_any(void);
void bg_after_connect(struct bg_sock *s, int fd, const struct sockaddr *addr, socklen_t len, int r,
		      int err);
void bg_after_accept(struct bg_sock *listener, int fd);
void bg_after_setsockopt(struct bg_sock *s, int fd, int level, int opt, const void *val,
			 socklen_t len);
void bg_before_fork(void);
void bg_after_fork(bool child);

#endif
