/* policy.h: hazard + mode + configuration -> decision. Pure; no I/O. */
#ifndef BG_POLICY_H
#define BG_POLICY_H

#include <stdbool.h>

#include "config.h"
#include "event.h"

/* can_block is false when the call already happened (bind(addr, 0), listen
 * autobind): then the worst is a log line. */
enum bg_decision bg_policy_decide(enum bg_mode mode, unsigned block_hazards, enum bg_hazard hazard,
				  bool can_block);

#endif
