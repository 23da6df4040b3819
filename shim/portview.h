/* portview.h: what the kernel holds on a port, at a bounded cost per bind.
 *
 * A snapshot to clear, an exact query to convict. One dump of the ephemeral
 * range's sockets (at most one walk of the kernel's tables every
 * BG_SNAPSHOT_TTL_MS, whoever asks) marks the ports where a socket sits that
 * connect() may have placed: connected, and no listener on the port. A bind
 * to any other port cannot pin a connect()-made bucket that existed when the
 * snapshot was taken, and is judged on the model alone. A marked port (or
 * one the model itself shows a connect()-made or foreign owner on) gets the
 * exact per-port query, whose sockets the judge merges into the model.
 *
 * What a snapshot can miss: a socket another process's connect() placed on
 * a port after the snapshot was taken, for at most BG_SNAPSHOT_TTL_MS (plus
 * the time of one dump). A half-closed owner that existed before the
 * snapshot is always seen: its port is marked.
 */
#ifndef BG_PORTVIEW_H
#define BG_PORTVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"
#include "kernel.h"

/* How long one snapshot serves. */
#define BG_SNAPSHOT_TTL_MS 1000

/* Connected sockets (ESTABLISHED, SYN_SENT, SYN_RECV, TIME_WAIT) a view
 * keeps of one port; beyond them it only counts. Listening, bound-only and
 * half-closed sockets are always kept, however many. */
#define BG_VIEW_EXTRAS 256

/* What the snapshot says of one port. */
enum bg_snapshot_says {
	BG_SNAP_UNKNOWN,    /* no snapshot younger than the TTL holds the port: ask */
	BG_SNAP_CLEAR,	    /* no socket on it that connect() may have placed */
	BG_SNAP_CONNECTED,  /* a connected socket and no listener: maybe connect()'s */
	BG_SNAP_HALFCLOSED, /* ... and one of them half-closed */
};
/* The kernel's sockets on one port, as one bind sees them: on the heap,
 * made by bg_portview_query() and freed by bg_portview_free(), so that no
 * thread carries it in its TLS or on its stack. */
struct bg_portview {
	struct bg_ksock *k;
	const struct bg_sk **match; /* model owner of each, after the merge */
	int n, cap;
	int extras;	       /* connected sockets kept (at most BG_VIEW_EXTRAS) */
	unsigned omitted;      /* connected sockets counted, not kept */
	int err;	       /* why the kernel could not be asked (errno), or 0 */
	unsigned long changes; /* the process's change count before the kernel was asked */
	enum bg_view source;
	bool queried;		    /* the kernel answered for this port: merge it */
	enum bg_snapshot_says snap; /* the snapshot's word, where it was asked */
};

/* Ask the kernel about port (one dump). v->queried: it answered (v->source
 * says how); else v->err says why not, and the bind is judged on the
 * process's own sockets. A socket with exclude_inode (the binder itself,
 * after a kernel-chosen port) is left out. */
void bg_portview_query(struct bg_portview *v, uint16_t port, uint32_t exclude_inode,
		       unsigned long changes);
void bg_portview_free(struct bg_portview *v);

/* What the agent's page says of port (agentview.h), when bindguard-agent
 * publishes one for this namespace: *from_agent set, no dump. Else takes a
 * new snapshot (one dump) when the last one is BG_SNAPSHOT_TTL_MS old,
 * unless another thread is taking one. No lock; 56 KiB allocated once (two
 * published snapshots and the taker's scratch). */
enum bg_snapshot_says bg_snapshot_port(uint16_t port, bool *from_agent);
/* The namespace changed under the snapshot, or the process forked (child:
 * no thread is taking one here): take a new one (and look for the agent's
 * page) next time. */
void bg_snapshot_forget(bool child);

#endif
