/* policy.h: bindguard's vocabulary, in one place with the rules that use
 * it. A bind has a mode (what the config asks of it), may have a hazard
 * (what it does to connect()'s ports), gets a decision, and may carry the
 * remedy. The rules of the config pick the mode, the blocked hazards and
 * the remedy for each bind; the decision follows. Pure; no I/O.
 */
#ifndef BG_POLICY_H
#define BG_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

enum bg_mode { BG_MODE_OFF, BG_MODE_AUDIT, BG_MODE_ENFORCE };
/* pin: the bind makes connect() skip the port; pin_halfclosed: the same
 * while a half-closed connection holds the port, so it may never end. */
enum bg_hazard { BG_HAZARD_NONE, BG_HAZARD_PIN, BG_HAZARD_PIN_HALFCLOSED };
enum bg_decision { BG_DECISION_ALLOW, BG_DECISION_LOG, BG_DECISION_BLOCK, BG_DECISION_REMEDY };
/* The remedy (IP_BIND_ADDRESS_NO_PORT for bind(addr, 0)) on this bind:
 * applied (no port taken at bind), withdrawn (the program asked for its
 * port before connect(), so the port was bound after all). */
enum bg_remedy { BG_REMEDY_NONE, BG_REMEDY_APPLIED, BG_REMEDY_WITHDRAWN };

/* The names the config and the events use. */
extern const char *const bg_mode_names[3];
extern const char *const bg_hazard_names[3];
const char *bg_mode_name(enum bg_mode m);
const char *bg_hazard_name(enum bg_hazard h);
const char *bg_decision_name(enum bg_decision d);
const char *bg_remedy_name(enum bg_remedy r);

struct bg_config;
/* The first rule whose selectors all match a bind of addr:port sets its
 * mode and blocked hazards (bit 1 << hazard); else the config's own. */
void bg_policy_rules(const struct bg_config *c, uint16_t port, const struct in6_addr *addr,
		     enum bg_mode *mode, unsigned *block_hazards);
/* Is the remedy on for bind(addr, 0)? The first rule without a port
 * selector that matches decides; never in mode off. */
bool bg_policy_remedy(const struct bg_config *c, const struct in6_addr *addr);

/* hazard + mode + blocked hazards -> decision. can_block is false when the
 * call already happened (bind(addr, 0), listen autobind): then the worst
 * is a log line. */
enum bg_decision bg_policy_decide(enum bg_mode mode, unsigned block_hazards, enum bg_hazard hazard,
				  bool can_block);

#endif
