/* policy.c: the one place that turns a hazard into allow, log or block. */
#include "policy.h"

enum bg_decision bg_policy_decide(enum bg_mode mode, unsigned block_hazards, enum bg_hazard hazard,
				  bool can_block)
{
	if (mode == BG_MODE_OFF || hazard == BG_HAZARD_NONE)
		return BG_DECISION_ALLOW;
	if (mode == BG_MODE_ENFORCE && can_block && (block_hazards & (1u << hazard)))
		return BG_DECISION_BLOCK;
	return BG_DECISION_LOG;
}
