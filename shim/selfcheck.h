/* selfcheck.h: at exit, compare the model with the kernel, socket by socket.
 * A test facility: BINDGUARD_SELF_CHECK=1 (secure_getenv) turns it on, and
 * the `stop` event carries the result (bindguard.self_check), with one
 * `self_check_mismatch` event per disagreement.
 */
#ifndef BG_SELFCHECK_H
#define BG_SELFCHECK_H

#include "bucket.h"
#include "event.h"

/* If BINDGUARD_SELF_CHECK is "1": walk the fd table under the model lock,
 * compare every tracked TCP socket with the kernel's (port held, local
 * address, connected, listening) and the model's own links (bucket, owner
 * list, reference count), report each mismatch, and point c->self_check at
 * the totals. Otherwise leave c alone. Not async-signal-safe (it allocates). */
void bg_self_check(struct bg_counters *c);

/* The model (guard.c). */
struct bg_table *bg_model_table(void);

#endif
