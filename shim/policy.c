/* policy.c: the vocabulary and the rules (see policy.h). */
#include "policy.h"

#include <string.h>

#include "config.h"

const char *const bg_mode_names[3] = {"off", "audit", "enforce"};
const char *const bg_hazard_names[3] = {"none", "pin", "pin_halfclosed"};

const char *bg_mode_name(enum bg_mode m)
{
	return bg_mode_names[m];
}

const char *bg_hazard_name(enum bg_hazard h)
{
	return bg_hazard_names[h];
}

const char *bg_decision_name(enum bg_decision d)
{
	static const char *const names[] = {"allow", "log", "block", "remedy"};
	return names[d];
}

const char *bg_remedy_name(enum bg_remedy r)
{
	static const char *const names[] = {"none", "applied", "withdrawn"};
	return names[r];
}

enum bg_decision bg_policy_decide(enum bg_mode mode, unsigned block_hazards, enum bg_hazard hazard,
				  bool can_block)
{
	if (mode == BG_MODE_OFF || hazard == BG_HAZARD_NONE)
		return BG_DECISION_ALLOW;
	if (mode == BG_MODE_ENFORCE && can_block && (block_hazards & (1u << hazard)))
		return BG_DECISION_BLOCK;
	return BG_DECISION_LOG;
}

static bool cidr_match(const struct bg_cidr *c, const struct in6_addr *a)
{
	unsigned bits = c->prefix;
	for (unsigned i = 0; i < 16 && bits; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		uint8_t mask = (uint8_t)(0xff << (8 - take));
		if ((c->addr.s6_addr[i] ^ a->s6_addr[i]) & mask)
			return false;
		bits -= take;
	}
	return true;
}

static bool rule_applies(const struct bg_rule *r, uint16_t port, const struct in6_addr *addr)
{
	if (!r->program_match)
		return false;
	bool ok = r->nports == 0;
	for (unsigned i = 0; i < r->nports && !ok; i++)
		ok = port >= r->ports[i].low && port <= r->ports[i].high;
	if (!ok)
		return false;
	ok = r->naddrs == 0;
	for (unsigned i = 0; i < r->naddrs && !ok; i++)
		ok = cidr_match(&r->addrs[i], addr);
	return ok;
}

void bg_policy_rules(const struct bg_config *c, uint16_t port, const struct in6_addr *addr,
		     enum bg_mode *mode, unsigned *block_hazards)
{
	*mode = c->mode;
	*block_hazards = c->block_hazards;
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct bg_rule *r = &c->rules[i];
		if (!rule_applies(r, port, addr))
			continue;
		if (r->mode >= 0)
			*mode = (enum bg_mode)r->mode;
		if (r->block_hazards >= 0)
			*block_hazards = (unsigned)r->block_hazards;
		return;
	}
}

bool bg_policy_remedy(const struct bg_config *c, const struct in6_addr *addr)
{
	enum bg_mode mode = c->mode;
	bool remedy = c->remedy;
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct bg_rule *r = &c->rules[i];
		if (r->nports || !rule_applies(r, 0, addr))
			continue;
		if (r->mode >= 0)
			mode = (enum bg_mode)r->mode;
		if (r->remedy >= 0)
			remedy = r->remedy;
		break;
	}
	return remedy && mode != BG_MODE_OFF;
}
