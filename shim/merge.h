/* merge.h: the kernel's sockets on one port merged into the model's bucket
 * for that port. Pure: the kernel's answer comes in as plain data (struct
 * bg_ksock, as kernel.c or a unit test makes it), the model is the table
 * given; no system call, no global state. Callers hold the model lock.
 */
#ifndef BG_MERGE_H
#define BG_MERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"
#include "fdtable.h"
#include "kernel.h"

/* Owner kinds (bg_sk.kind): a socket object of this process (struct
 * bg_sock, fdtable.h), or one only the kernel showed us (struct bg_other). */
enum { BG_KIND_OWN = 0, BG_KIND_OTHER = 1 };

/* A bucket owner that is not a live socket of this process: a socket seen
 * through sock_diag (another process's, or one of ours after its last fd
 * closed while the kernel still holds it), with inferred flags. */
struct bg_other {
	struct bg_sk sk;
	struct in6_addr daddr;
	uint16_t dport;
	uint64_t cookie;
};

/* The socket object around an owner of kind BG_KIND_OWN. */
static inline const struct bg_sock *bg_own_sock(const struct bg_sk *o)
{
	return (const struct bg_sock *)((const char *)o - __builtin_offsetof(struct bg_sock, sk));
}

/* A connected socket (ESTABLISHED, SYN_SENT, SYN_RECV, TIME_WAIT): one of
 * many a port may hold, never what pins it. */
bool bg_state_extra(uint8_t state);
/* Any state but LISTEN and CLOSE. */
bool bg_kconnected(const struct bg_ksock *k);

/* What the kernel said about one port, for bg_merge_port(). */
struct bg_kernel_port {
	const struct bg_ksock *k; /* every socket on the port it listed */
	int n;
	unsigned omitted;      /* connected sockets it counted but did not list */
	unsigned long changes; /* the process's change count before it was asked */
};

/* Bring the model's bucket for `port` in line with the kernel's sockets on
 * it. Owners the kernel no longer has leave (other processes' are freed);
 * sockets the model did not know join as struct bg_other, connect-bound ones
 * first so that a bucket they created starts, as in the kernel, at (-1, -1).
 * Whether another process's socket was placed by connect() is inferred:
 * connected, on an ephemeral port, no listener. match[i] (n entries) is set
 * to the model owner of kp->k[i], or NULL where it could not join (no memory).
 * Own owners the kernel does not list stay if they are only bound (before
 * 6.6 sock_diag cannot list those) or changed after the view was taken;
 * a connected owner stays when the view omitted connected sockets. */
void bg_merge_port(struct bg_table *t, uint16_t port, const struct bg_kernel_port *kp,
		   bool ephemeral, const struct bg_sk **match);

/* Does the model's bucket for port hold a socket that connect() placed, or
 * one of another process's (whose state only the kernel knows)? Then only
 * an exact view of the port can judge a bind there. */
bool bg_merge_needs_kernel(const struct bg_table *t, uint16_t port);

#endif
