/* fdtable.h: fd -> socket object, for the wrappers.
 * Lookups and removal are lock-free and allocation-free (close() runs in
 * signal handlers); objects whose last fd is gone wait on a release list
 * until the next model operation takes them under the model lock.
 */
#ifndef BG_FDTABLE_H
#define BG_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"

/* One socket of this process (one open file description), however many fds name it. */
struct bg_sock {
	atomic_int refs;	      /* fds that name it */
	struct bg_sock *release_next; /* on the release list */
	int type;		      /* SOCK_STREAM, ... (flags stripped) */
	bool tcp;		      /* the model follows only TCP sockets */
	bool bind_address_no_port;    /* IP_BIND_ADDRESS_NO_PORT, set by the program */
	atomic_bool remedy_pending;   /* we set it; no port yet (see bg_remedy_withdraw) */
	bool connected;		      /* connect() succeeded or is in progress */
	bool listening;
	struct in6_addr daddr; /* peer, v4-mapped, once connected */
	uint16_t dport;
	unsigned long changed; /* process.c's change count when this process last changed it */
	struct bg_sk sk;       /* the model's view of it */
};

/* The object an fd names, or NULL. No lock, no allocation. The object may
 * be freed at any time by another thread's close(): only for a yes/no. */
struct bg_sock *bg_fd_get(int fd);
/* The object an fd names, with a reference the caller drops with
 * bg_sock_put(); NULL if none. Safe against a concurrent close() of fd. */
struct bg_sock *bg_sock_acquire(int fd);
/* Make fd name s (taking a reference); returns the object it named before
 * (with that reference, for the caller to drop), or NULL. -1 if fd is out of
 * the table's reach (then s is not installed). */
int bg_fd_set(int fd, struct bg_sock *s, struct bg_sock **old);
/* fd no longer names anything; returns what it named (reference included). */
struct bg_sock *bg_fd_take(int fd);
/* Highest fd the table may hold an entry for, plus one. */
int bg_fd_limit(void);

/* Stored for inet sockets that are not TCP, so they are not relearned. */
extern struct bg_sock bg_not_tcp;

struct bg_sock *bg_sock_new(int type, int family);
void bg_sock_get(struct bg_sock *s);
/* Drop a reference; the last one queues s for release. Async-signal-safe. */
void bg_sock_put(struct bg_sock *s);
/* Anything on the release list? One relaxed load. */
bool bg_release_pending(void);
/* Detach the release list (under the model lock) and hand each to fn. */
void bg_release_drain(void (*fn)(struct bg_sock *s, void *arg), void *arg);

#endif
