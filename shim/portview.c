/* portview.c: what the kernel holds on a port (see portview.h): the
 * snapshot of the range that clears most binds, the exact query that
 * convicts.
 */
#define _GNU_SOURCE
#include "portview.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentview.h"
#include "merge.h"
#include "sys.h"

/* ---- the exact query: every socket on one port ------------------------------- */

void bg_portview_free(struct bg_portview *v)
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
	struct bg_portview *v = arg;
	if (!k) { /* the source failed half-way: start again */
		v->n = v->extras = 0;
		v->omitted = 0;
		return 0;
	}
	if (v->err)
		return 0;
	bool extra = bg_state_extra(k->state);
	if (extra && v->extras >= BG_VIEW_EXTRAS) {
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

void bg_portview_query(struct bg_portview *v, uint16_t port, uint32_t exclude_inode,
		       unsigned long changes)
{
	memset(v, 0, sizeof(*v));
	v->changes = changes;
	int why = 0;
	int r = bg_kernel_port_each(port, view_add, v, &v->source, &why);
	if (r < 0 || v->err) {
		v->err = v->err ? v->err : why ? why : -r;
		v->source = BG_VIEW_NONE;
		bg_portview_free(v);
		return;
	}
	v->err = why; /* sock_diag's failure, where /proc answered instead */
	if (exclude_inode) {
		for (int i = 0; i < v->n; i++) {
			if (v->k[i].inode == exclude_inode) {
				v->extras -= bg_state_extra(v->k[i].state);
				v->k[i] = v->k[--v->n];
				break;
			}
		}
	}
	v->queried = true;
}

/* ---- the snapshot: the range at a glance ---------------------------------------- */

#define WORDS (65536 / 64)

/* One published snapshot. Readers take no lock: gen is odd while the
 * snapshot is being rewritten, and a reader that sees gen change under it
 * asks the kernel instead (a seqlock); words are atomics so that the race
 * is defined and cheap (relaxed loads). */
struct snapshot {
	atomic_uint gen;
	_Atomic uint64_t taken_ms;	    /* CLOCK_MONOTONIC_COARSE; 0: never */
	_Atomic uint32_t range;		    /* low << 16 | high; 0 when the dump failed */
	_Atomic uint64_t connected[WORDS];  /* a socket connect() may have placed */
	_Atomic uint64_t halfclosed[WORDS]; /* ... one of them half-closed */
};

/* The taking thread's scratch, filled by the dump's callback. */
struct scratch {
	uint64_t connected[WORDS], halfclosed[WORDS], listen[WORDS];
};

static struct snapshot *snaps; /* two: one published, one for the next */
static struct scratch *scratch;
static atomic_int published = -1; /* index into snaps, -1: none yet */
static atomic_bool taking;	  /* one thread takes a snapshot at a time */

static void set_bit(uint64_t *map, uint16_t port)
{
	map[port / 64] |= 1ull << (port % 64);
}

static int scratch_add(const struct bg_ksock *k, void *arg)
{
	struct scratch *s = arg;
	if (k->state == BG_TCP_LISTEN)
		set_bit(s->listen, k->sport);
	else if (k->state != BG_TCP_CLOSE) {
		set_bit(s->connected, k->sport);
		if (bg_tcp_state_halfclosed(k->state))
			set_bit(s->halfclosed, k->sport);
	}
	return 0;
}

/* One dump of the range into the snapshot readers do not use, then publish
 * it. A failed dump publishes an empty range: binds ask the kernel until
 * the next attempt, one TTL later. */
static void take(struct bg_port_range r)
{
	if (!snaps) {
		struct snapshot *s = calloc(2, sizeof(*s));
		scratch = s ? malloc(sizeof(*scratch)) : NULL;
		if (!scratch) {
			free(s);
			return;
		}
		snaps = s;
	}
	memset(scratch, 0, sizeof(*scratch));
	int n = bg_kernel_dump_live(r.low, r.high, scratch_add, scratch);
	int idx = atomic_load(&published) == 0 ? 1 : 0;
	struct snapshot *s = &snaps[idx];
	atomic_fetch_add_explicit(&s->gen, 1, memory_order_acq_rel); /* odd: being written */
	for (int w = 0; w < WORDS; w++) {
		uint64_t c = n < 0 ? 0 : scratch->connected[w] & ~scratch->listen[w];
		atomic_store_explicit(&s->connected[w], c, memory_order_relaxed);
		atomic_store_explicit(&s->halfclosed[w], c & scratch->halfclosed[w],
				      memory_order_relaxed);
	}
	atomic_store_explicit(&s->range, n < 0 ? 0 : (uint32_t)r.low << 16 | r.high,
			      memory_order_relaxed);
	atomic_store_explicit(&s->taken_ms, bg_coarse_ms(), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->gen, 1, memory_order_release); /* even: done */
	atomic_store_explicit(&published, idx, memory_order_release);
}

/* What the published snapshot says of port; BG_SNAP_UNKNOWN if it is too
 * old, does not hold the port, or changed while we read it. */
static enum bg_snapshot_says read_port(uint16_t port, uint64_t now)
{
	int idx = atomic_load_explicit(&published, memory_order_acquire);
	if (idx < 0)
		return BG_SNAP_UNKNOWN;
	struct snapshot *s = &snaps[idx];
	unsigned gen = atomic_load_explicit(&s->gen, memory_order_acquire);
	if (gen & 1)
		return BG_SNAP_UNKNOWN;
	uint64_t taken = atomic_load_explicit(&s->taken_ms, memory_order_relaxed);
	uint32_t range = atomic_load_explicit(&s->range, memory_order_relaxed);
	uint64_t bit = 1ull << (port % 64);
	bool c = atomic_load_explicit(&s->connected[port / 64], memory_order_relaxed) & bit;
	bool h = atomic_load_explicit(&s->halfclosed[port / 64], memory_order_relaxed) & bit;
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->gen, memory_order_relaxed) != gen ||
	    now - taken >= BG_SNAPSHOT_TTL_MS || port < range >> 16 || port > (range & 0xffff))
		return BG_SNAP_UNKNOWN;
	return h ? BG_SNAP_HALFCLOSED : c ? BG_SNAP_CONNECTED : BG_SNAP_CLEAR;
}

/* Has the last snapshot (taken or failed) had its time? */
static bool due(uint64_t now)
{
	int idx = atomic_load_explicit(&published, memory_order_acquire);
	return idx < 0 || now - atomic_load_explicit(&snaps[idx].taken_ms, memory_order_relaxed) >=
				  BG_SNAPSHOT_TTL_MS;
}

enum bg_snapshot_says bg_snapshot_port(uint16_t port, bool *from_agent)
{
	static const enum bg_snapshot_says of_agent[] = {
		[BG_AGENT_NONE] = BG_SNAP_UNKNOWN,
		[BG_AGENT_CLEAR] = BG_SNAP_CLEAR,
		[BG_AGENT_CONNECTED] = BG_SNAP_CONNECTED,
		[BG_AGENT_HALFCLOSED] = BG_SNAP_HALFCLOSED,
	};
	enum bg_agent_says a = bg_agentview_port(port);
	*from_agent = a != BG_AGENT_NONE;
	if (*from_agent)
		return of_agent[a];
	uint64_t now = bg_coarse_ms();
	enum bg_snapshot_says says = read_port(port, now);
	if (says != BG_SNAP_UNKNOWN || !due(now))
		return says;
	bool idle = false;
	if (!atomic_compare_exchange_strong(&taking, &idle, true))
		return BG_SNAP_UNKNOWN; /* another thread is taking it */
	struct bg_port_range r = bg_kernel_port_range();
	if (due(bg_coarse_ms()))
		take(r);
	atomic_store(&taking, false);
	return read_port(port, bg_coarse_ms());
}

void bg_snapshot_forget(bool child)
{
	bg_agentview_forget(child);
	if (child) /* a thread that was taking one does not exist here */
		atomic_store(&taking, false);
	atomic_store(&published, -1);
}
