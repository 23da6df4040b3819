/* selfcheck.h: at exit, compare the model with the kernel, socket by socket.
 * A test facility: BINDGUARD_SELF_CHECK=1 (secure_getenv) turns it on, and
 * the `stop` event carries the result (bindguard.self_check), with one
 * `self_check_mismatch` event per disagreement. Called by process.c at
 * exit; it reads the model it is given and calls nothing above it.
 */
#ifndef BG_SELFCHECK_H
#define BG_SELFCHECK_H

#include "bucket.h"
#include "event.h"

/* Is BINDGUARD_SELF_CHECK "1" (secure_getenv)? */
bool bg_self_check_on(void);
/* Under the model lock: walk the fd table, compare every tracked TCP socket
 * with the kernel's (port held, local address, connected, listening) and
 * the model's own links in t (bucket, owner list, reference count), and
 * keep each mismatch. Not async-signal-safe (it allocates). */
void bg_self_check(const struct bg_table *t);
/* After the lock: one self_check_mismatch event per disagreement kept, and
 * c->self_check pointed at the totals. */
void bg_self_check_report(struct bg_counters *c);

#endif
