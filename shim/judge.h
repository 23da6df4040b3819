/* judge.h: the one judging path. For a port the program asked for (before
 * the call, which may be blocked) and for one the kernel chose (after the
 * call, which can only be reported): merge what the kernel showed of the
 * port into the model, ask the model what the bind does to the bucket,
 * name the hazard, decide, and write the event. Knows nothing of the
 * process state above it: what it needs comes in as arguments.
 */
#ifndef BG_JUDGE_H
#define BG_JUDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"
#include "config.h"
#include "event.h"
#include "portview.h"

/* Who is judging: the model and how much to say. */
struct bg_judge_ctx {
	struct bg_table *table;
	const struct bg_config *cfg;
	const char *progname;
	const char *profile; /* its name, for the event */
};

/* A bind event for (action, fd) of socket c on port, before judging. */
void bg_judge_event(struct bg_bind_event *e, const char *action, int fd, const struct bg_sk *c,
		    uint16_t port);

/* How other processes will be seen for a bind to port: the snapshot's word
 * (no system call while it is fresh), or the exact query where the
 * snapshot, or the model (needs_kernel: a connect()-made or foreign owner
 * in its bucket), shows a socket connect() may have placed. A port the
 * kernel chose is queried at most once per snapshot interval: the call is
 * made, the answer can only be reported, and the snapshot's word says
 * whether it pinned. Fills v (free it with bg_portview_free) and e->view. */
void bg_judge_look(struct bg_bind_event *e, struct bg_portview *v, uint16_t port, bool needs_kernel,
		   unsigned long changes);

/* Under the model lock: the judgement of socket cand binding port. Merges
 * v into the model, predicts, names the hazard and the decision (can_block:
 * before the call), and lists the owners if the event will be written. */
void bg_judge(const struct bg_judge_ctx *j, const struct bg_sk *cand, uint16_t port,
	      struct bg_portview *v, bool can_block, unsigned block, struct bg_bind_event *e,
	      struct bg_bind_prediction *p);

/* Write the event if its level is logged (events a busy client repeats are
 * counted past BG_REPEATS_PER_SEC a second, and the next one written says
 * how many it stands for); the last use of e (its owners are freed). */
#define BG_REPEATS_PER_SEC 10
void bg_judge_report(const struct bg_config *cfg, struct bg_bind_event *e);

/* A prediction the kernel contradicts: counted (true), and an event at debug level. */
bool bg_judge_divergence(const struct bg_config *cfg, const char *action, const struct bg_sk *sk,
			 uint16_t port, bool predicted, bool saw_others, int r, int err);

#endif
