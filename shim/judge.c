/* judge.c: the one judging path (see judge.h). Called under the model lock
 * for the judgement, outside it for looking and reporting.
 */
#define _GNU_SOURCE
#include "judge.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"
#include "merge.h"
#include "policy.h"
#include "sys.h"

void bg_judge_event(struct bg_bind_event *e, const char *action, int fd, const struct bg_sk *c,
		    uint16_t port)
{
	memset(e, 0, sizeof(*e)); /* owners: by fill_owners(), freed by bg_judge_report() */
	e->action = action;
	e->fd = fd;
	e->family = c->family;
	e->addr = c->rcv_saddr;
	e->port = port;
	e->view = "none";
}

/* ---- looking: the snapshot, or the exact query -------------------------------- */

/* When a kernel-chosen port last got the exact query (CLOCK_MONOTONIC_COARSE ms). */
static _Atomic uint64_t auto_queried_ms;

/* May a kernel-chosen port have its exact query now? Once per interval. */
static bool auto_query_allowed(void)
{
	uint64_t now = bg_coarse_ms(),
		 last = atomic_load_explicit(&auto_queried_ms, memory_order_relaxed);
	if (last && now - last < BG_SNAPSHOT_TTL_MS)
		return false;
	return atomic_compare_exchange_strong(&auto_queried_ms, &last, now ? now : 1);
}

void bg_judge_look(struct bg_bind_event *e, struct bg_portview *v, uint16_t port, bool needs_kernel,
		   unsigned long changes)
{
	memset(v, 0, sizeof(*v));
	if (!e->ephemeral)
		return; /* not asked: view "none", and no error */
	bool agent = false;
	v->snap = needs_kernel ? BG_SNAP_UNKNOWN : bg_snapshot_port(port, &agent);
	bool ask = v->snap != BG_SNAP_CLEAR;
	if (ask && e->port_auto && v->snap != BG_SNAP_UNKNOWN)
		ask = auto_query_allowed(); /* else the snapshot's word is the verdict */
	if (!ask) {
		v->changes = changes;
		e->view = agent ? "agent" : "snapshot";
		return;
	}
	bg_portview_query(v, port, 0, changes);
	e->view = bg_view_name(v->source);
	e->view_error = v->err ? bg_errno_name(v->err) : NULL;
	e->blind = !v->queried;
}

/* ---- judging, under the lock ---------------------------------------------------- */

static enum bg_hazard classify(const struct bg_table *t, const struct bg_bind_prediction *p,
			       uint16_t port)
{
	if (!p->pins)
		return BG_HAZARD_NONE;
	const struct bg_tb *tb = bg_tb_find(t, port);
	for (const struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next)
		if (o->connect_bind && bg_tcp_state_halfclosed(o->state))
			return BG_HAZARD_PIN_HALFCLOSED;
	return BG_HAZARD_PIN;
}

/* A port the kernel chose that the snapshot saw connect() sockets on, and
 * that was not queried: the model cannot see them, the snapshot's word
 * names the hazard. The bucket they made is connect()-made unless a bind
 * already pinned it; the kernel let this socket join it, so it pins it
 * now (under legacy-2.6 only a binder without SO_REUSEADDR does). */
static enum bg_hazard snapshot_hazard(const struct bg_table *t, const struct bg_sk *cand,
				      enum bg_snapshot_says says)
{
	if (says != BG_SNAP_CONNECTED && says != BG_SNAP_HALFCLOSED)
		return BG_HAZARD_NONE;
	if (t->profile.id == BG_PROFILE_LEGACY26 && cand->reuse)
		return BG_HAZARD_NONE;
	return says == BG_SNAP_HALFCLOSED ? BG_HAZARD_PIN_HALFCLOSED : BG_HAZARD_PIN;
}

static enum bg_connect_bound cb_of(const struct bg_sk *o)
{
	if (!o || !o->connect_bind)
		return BG_CB_NO;
	if (o->kind == BG_KIND_OTHER)
		return BG_CB_INFERRED;
	return BG_CB_YES;
}

static void owner_own(struct bg_owner_info *w, const char *progname)
{
	w->pid = getpid();
	snprintf(w->comm, sizeof(w->comm), "%s", progname);
}

/* Owners for the event: the kernel's list where we asked it, else the
 * model's. The event lists BG_EVENT_OWNERS of them: those that can pin a
 * port or make a pin last (listening, bound, half-closed) before connected
 * ones; owners_total counts every socket on the port. Other processes'
 * owners carry their inode and uid: which process holds one is a /proc
 * walk, never paid inside the application's call (`bindguard report`
 * names them). */
static void fill_owners(struct bg_bind_event *e, const struct bg_judge_ctx *j,
			const struct bg_portview *v, uint16_t port)
{
	e->nowners = e->owners_total = 0;
	/* 2 KiB: from the heap, not the application's stack; freed by
	 * bg_judge_report(). Without it the owners are only counted. */
	if (!e->owners)
		e->owners = calloc(BG_EVENT_OWNERS, sizeof(*e->owners));
	unsigned room = e->owners ? BG_EVENT_OWNERS : 0;
	if (v->queried) {
		e->owners_total = (unsigned)v->n + v->omitted;
		for (int x = 0; x < 2 * v->n && e->nowners < room; x++) {
			int i = x % v->n;
			if (bg_state_extra(v->k[i].state) != (x >= v->n))
				continue;
			const struct bg_ksock *k = &v->k[i];
			struct bg_owner_info *w = &e->owners[e->nowners++];
			memset(w, 0, sizeof(*w));
			if (v->match[i] && v->match[i]->kind == BG_KIND_OWN)
				owner_own(w, j->progname);
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
	const struct bg_tb *tb = bg_tb_find(j->table, port);
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
			const struct bg_sock *s = bg_own_sock(o);
			owner_own(w, j->progname);
			w->raddr = s->daddr;
			w->rport = s->dport;
		}
	}
}

static enum bg_severity severity(const struct bg_bind_event *e)
{
	if (e->hazard != BG_HAZARD_NONE)
		return e->decision == BG_DECISION_BLOCK ? BG_SEV_ERROR : BG_SEV_WARNING;
	if (e->blind)
		return BG_SEV_WARNING; /* judged without other processes' sockets: say so */
	return e->remedy != BG_REMEDY_NONE ? BG_SEV_INFO : BG_SEV_DEBUG;
}

static bool logged(const struct bg_config *cfg, const struct bg_bind_event *e)
{
	return severity(e) != BG_SEV_DEBUG || cfg->level == BG_LEVEL_DEBUG;
}

void bg_judge(const struct bg_judge_ctx *j, const struct bg_sk *cand, uint16_t port,
	      struct bg_portview *v, bool can_block, unsigned block, struct bg_bind_event *e,
	      struct bg_bind_prediction *p)
{
	if (v->queried) {
		struct bg_kernel_port kp = {v->k, v->n, v->omitted, v->changes};
		bg_merge_port(j->table, port, &kp, true, v->match);
	}
	bg_predict_get_port(j->table, cand, port, p);
	e->hazard = BG_HAZARD_NONE;
	if (e->mode != BG_MODE_OFF) {
		e->hazard = classify(j->table, p, port);
		if (e->hazard == BG_HAZARD_NONE && !v->queried)
			e->hazard = snapshot_hazard(j->table, cand, v->snap);
	}
	e->decision = bg_policy_decide(e->mode, block, e->hazard, can_block);
	e->tb_exists = p->tb_exists;
	e->before = p->before;
	e->after = p->after;
	e->conflict_predicted = p->conflict;
	if (logged(j->cfg, e) || e->decision == BG_DECISION_BLOCK)
		fill_owners(e, j, v, port);
}

/* ---- reporting -------------------------------------------------------------------- */

/* Events a busy client repeats: a remedy applied, a port the kernel chose.
 * The second of the window, how many were written in it, and how many were
 * held back since the last one written. */
static struct {
	_Atomic uint64_t second;
	atomic_uint written;
	atomic_ulong held;
} repeats;

static bool repetitive(const struct bg_bind_event *e)
{
	return e->port_auto && e->decision != BG_DECISION_BLOCK;
}

/* May this repetitive event be written? If so, e->repeats says how many it
 * stands for besides itself. */
static bool repeat_allowed(struct bg_bind_event *e)
{
	uint64_t sec = bg_coarse_ms() / 1000;
	uint64_t was = atomic_load_explicit(&repeats.second, memory_order_relaxed);
	if (was != sec && atomic_compare_exchange_strong(&repeats.second, &was, sec))
		atomic_store(&repeats.written, 0);
	if (atomic_fetch_add(&repeats.written, 1) >= BG_REPEATS_PER_SEC) {
		atomic_fetch_add(&repeats.held, 1);
		return false;
	}
	e->repeats = atomic_exchange(&repeats.held, 0);
	return true;
}

void bg_judge_report(const struct bg_config *cfg, struct bg_bind_event *e)
{
	if (logged(cfg, e) && (!repetitive(e) || repeat_allowed(e))) {
		if (e->hazard != BG_HAZARD_NONE) {
			struct bg_port_range r = bg_kernel_port_range();
			e->range_low = r.low;
			e->range_high = r.high;
		}
		bg_event_bind(e, severity(e));
	}
	free(e->owners);
	e->owners = NULL;
}

bool bg_judge_divergence(const struct bg_config *cfg, const char *action, const struct bg_sk *sk,
			 uint16_t port, bool predicted, bool saw_others, int r, int err)
{
	/* A conflict predicted and not met is one whatever the model saw. An
	 * EADDRINUSE not predicted is one only where the model saw every owner
	 * of the port: its own sockets always, other processes' only if the
	 * kernel was asked (saw_others). A port outside the ephemeral range, a
	 * port the snapshot cleared, or a query that failed (view none), leaves
	 * other processes' sockets unseen: one of them may hold the port, as a
	 * second server started on a busy port shows, and that contradicts
	 * nothing. */
	bool kernel_conflict = r < 0 && err == EADDRINUSE;
	if (!((r == 0 && predicted) || (kernel_conflict && !predicted && saw_others)))
		return false;
	if (cfg->level == BG_LEVEL_DEBUG)
		bg_event_divergence(action, sk->family, &sk->rcv_saddr, port, predicted, r, err);
	return true;
}
