/* fuzz_config.c: libFuzzer harness for bindguard's config parser (shim/config.c).
 *
 * The input is the text of a config file (NUL-terminated here). For each one:
 * - bg_config_parse must return 0 with no message, or -1 with a one-line
 *   message naming the file and the built-in defaults in force;
 * - the verdict must not depend on the program name;
 * - bg_config_json (the effective config, as `bindguard check-config` and the
 *   start event show it) must be JSON whose fields round-trip: mode, level,
 *   log, the rules' ports and addresses, their mode and block lists;
 * - bg_policy_rules, asked about a set of ports and addresses, must agree with
 *   a decision made from that JSON alone (first matching rule wins).
 * ASan, UBSan and LeakSanitizer watch everything; a broken property aborts.
 *
 * Build: see tests/hardening/fuzz/rules.mk (clang -fsanitize=fuzzer,address,undefined).
 */
#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME "fuzz.json"
#define PROG	  "legacyd" /* the program the shipped example's rules name */

static const uint8_t *cur_input;
static size_t cur_size;

/* Report a broken property with the input that broke it, then abort so that
 * libFuzzer saves the input as a crash artifact. */
__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_config: property broken: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  input (%zu bytes): %.*s\n", cur_size,
		(int)(cur_size > 400 ? 400 : cur_size), (const char *)cur_input);
	abort();
}

#define CHECK(cond, ...)                  \
	do {                              \
		if (!(cond))              \
			die(__VA_ARGS__); \
	} while (0)

/* ---- the decision, recomputed from the effective-config JSON ------------------ */

struct jrule {
	bool applies;
	unsigned nports, naddrs;
	struct bg_port_span ports[BG_MAX_SELECTORS];
	struct bg_cidr addrs[BG_MAX_SELECTORS];
	int mode;  /* -1: absent */
	int block; /* -1: absent */
};

static int mode_of(const char *s)
{
	static const char *const names[] = {"off", "audit", "enforce"};
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* ["pin", "pin_halfclosed"] -> bitmask of 1 << bg_hazard */
static int block_of(const cJSON *a)
{
	CHECK(cJSON_IsArray(a), "block is not an array");
	int m = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, a) {
		CHECK(cJSON_IsString(e), "block entry is not a string");
		if (strcmp(e->valuestring, "pin") == 0)
			m |= 1 << BG_HAZARD_PIN;
		else if (strcmp(e->valuestring, "pin_halfclosed") == 0)
			m |= 1 << BG_HAZARD_PIN_HALFCLOSED;
		else
			die("unknown hazard \"%s\" in block", e->valuestring);
	}
	return m;
}

/* "LOW-HIGH" as bg_config_json writes it */
static struct bg_port_span span_of(const char *s)
{
	unsigned lo, hi;
	int n = -1;
	CHECK(sscanf(s, "%u-%u%n", &lo, &hi, &n) == 2 && n == (int)strlen(s), "port span \"%s\"",
	      s);
	CHECK(lo >= 1 && hi <= 65535 && lo <= hi, "port span \"%s\" out of range", s);
	return (struct bg_port_span){(uint16_t)lo, (uint16_t)hi};
}

/* "ADDR" or "ADDR/PREFIX"; IPv4 shown plainly, stored v4-mapped */
static struct bg_cidr cidr_of(const char *s)
{
	char buf[80];
	CHECK(strlen(s) < sizeof(buf), "address \"%s\" too long", s);
	strcpy(buf, s);
	unsigned prefix = 999;
	char *slash = strchr(buf, '/');
	if (slash) {
		int n = -1;
		CHECK(sscanf(slash + 1, "%u%n", &prefix, &n) == 1 && n == (int)strlen(slash + 1),
		      "address \"%s\": bad prefix", s);
		*slash = 0;
	}
	struct bg_cidr c;
	struct in_addr a4;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		bg_addr_from_v4(&c.addr, a4.s_addr);
		CHECK(!slash || prefix <= 32, "address \"%s\": IPv4 prefix > 32", s);
		c.prefix = (uint8_t)(slash ? 96 + prefix : 128);
	} else {
		CHECK(inet_pton(AF_INET6, buf, &c.addr) == 1, "address \"%s\" does not parse", s);
		CHECK(!slash || prefix <= 128, "address \"%s\": IPv6 prefix > 128", s);
		c.prefix = (uint8_t)(slash ? prefix : 128);
	}
	return c;
}

static bool jcidr_match(const struct bg_cidr *c, const struct in6_addr *a)
{
	for (unsigned bit = 0; bit < c->prefix; bit++) {
		unsigned byte = bit / 8, shift = 7 - bit % 8;
		if (((c->addr.s6_addr[byte] ^ a->s6_addr[byte]) >> shift) & 1)
			return false;
	}
	return true;
}

static const cJSON *member(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	CHECK(v, "effective config lacks \"%s\"", key);
	return v;
}

static const char *string_member(const cJSON *o, const char *key)
{
	const cJSON *v = member(o, key);
	CHECK(cJSON_IsString(v), "\"%s\" is not a string", key);
	return v->valuestring;
}

/* ---- the properties ------------------------------------------------------------ */

static void check_error_message(const struct bg_config *c)
{
	CHECK(strnlen(c->error, sizeof(c->error)) < sizeof(c->error), "error not terminated");
	CHECK(c->error[0], "parse failed with no message");
	CHECK(strncmp(c->error, FILE_NAME, strlen(FILE_NAME)) == 0,
	      "message does not start with the file name: %s", c->error);
	for (const char *s = c->error; *s; s++)
		CHECK((unsigned char)*s >= 0x20 && *s != 0x7f,
		      "message has control byte 0x%02x (one line, no terminal escapes): %s",
		      (unsigned char)*s, c->error);
}

/* The effective config against the struct, field by field, and the decisions
 * for a set of probes against the JSON's own reading. */
static void check_json(const struct bg_config *c)
{
	char *text = bg_config_json(c);
	CHECK(text, "bg_config_json returned NULL");
	cJSON *o = cJSON_Parse(text);
	CHECK(o, "bg_config_json output does not parse: %.300s", text);
	CHECK(strcmp(string_member(o, "source"), c->source) == 0, "source differs");
	int gmode = mode_of(string_member(o, "mode"));
	CHECK(gmode == (int)c->mode, "mode differs");
	CHECK(strcmp(string_member(o, "level"), c->level == BG_LEVEL_DEBUG ? "debug" : "info") == 0,
	      "level differs");
	CHECK(strcmp(string_member(o, "log"), c->log) == 0, "log differs");
	const cJSON *enf = member(o, "enforce");
	int gblock = block_of(member(enf, "block"));
	CHECK(gblock == (int)c->block_hazards, "enforce.block differs: %d vs %u", gblock,
	      c->block_hazards);
	CHECK(bg_errno_parse(string_member(enf, "errno")) == c->block_errno,
	      "enforce.errno differs");

	const cJSON *rules = member(o, "rules");
	CHECK(cJSON_IsArray(rules), "rules is not an array");
	unsigned n = (unsigned)cJSON_GetArraySize(rules);
	CHECK(n == c->nrules, "%u rules in JSON, %u in the struct", n, c->nrules);
	static struct jrule jr[BG_MAX_RULES];
	unsigned i = 0;
	const cJSON *r;
	cJSON_ArrayForEach (r, rules) {
		struct jrule *j = &jr[i];
		const struct bg_rule *s = &c->rules[i];
		memset(j, 0, sizeof(*j));
		const cJSON *ap = member(r, "applies_to_this_program");
		CHECK(cJSON_IsBool(ap), "applies_to_this_program is not a boolean");
		j->applies = cJSON_IsTrue(ap);
		CHECK(j->applies == s->program_match, "rules[%u]: program match differs", i);
		const cJSON *e;
		cJSON_ArrayForEach (e, member(r, "ports")) {
			CHECK(j->nports < BG_MAX_SELECTORS && cJSON_IsString(e),
			      "rules[%u].ports: bad entry", i);
			j->ports[j->nports] = span_of(e->valuestring);
			CHECK(j->ports[j->nports].low == s->ports[j->nports].low &&
				      j->ports[j->nports].high == s->ports[j->nports].high,
			      "rules[%u].ports[%u] differs", i, j->nports);
			j->nports++;
		}
		CHECK(j->nports == s->nports, "rules[%u]: port count differs", i);
		cJSON_ArrayForEach (e, member(r, "addresses")) {
			CHECK(j->naddrs < BG_MAX_SELECTORS && cJSON_IsString(e),
			      "rules[%u].addresses: bad entry", i);
			j->addrs[j->naddrs] = cidr_of(e->valuestring);
			const struct bg_cidr *sc = &s->addrs[j->naddrs];
			CHECK(j->addrs[j->naddrs].prefix == sc->prefix &&
				      memcmp(&j->addrs[j->naddrs].addr, &sc->addr, 16) == 0,
			      "rules[%u].addresses[%u] (%s) differs", i, j->naddrs, e->valuestring);
			j->naddrs++;
		}
		CHECK(j->naddrs == s->naddrs, "rules[%u]: address count differs", i);
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "mode");
		j->mode = m ? mode_of(cJSON_IsString(m) ? m->valuestring : "") : -1;
		CHECK(!m || j->mode >= 0, "rules[%u].mode is not a mode", i);
		CHECK(j->mode == s->mode, "rules[%u].mode differs", i);
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "block");
		j->block = b ? block_of(b) : -1;
		CHECK(j->block == s->block_hazards, "rules[%u].block differs", i);
		i++;
	}

	/* probes: fixed ones, and each rule's edges and first address */
	struct in6_addr addrs[4 + BG_MAX_RULES * 2];
	unsigned na = 0;
	struct in_addr a4;
	inet_pton(AF_INET, "127.0.0.1", &a4);
	bg_addr_from_v4(&addrs[na++], a4.s_addr);
	inet_pton(AF_INET, "10.20.30.40", &a4);
	bg_addr_from_v4(&addrs[na++], a4.s_addr);
	inet_pton(AF_INET6, "::1", &addrs[na++]);
	inet_pton(AF_INET6, "fd00:20::1", &addrs[na++]);
	uint16_t ports[8 + BG_MAX_RULES * 3];
	unsigned np = 0;
	ports[np++] = 1;
	ports[np++] = 80;
	ports[np++] = 8443;
	ports[np++] = 40000;
	ports[np++] = 65535;
	for (unsigned k = 0; k < n; k++) {
		if (jr[k].nports) {
			ports[np++] = jr[k].ports[0].low;
			ports[np++] = (uint16_t)(jr[k].ports[0].low - 1);
			ports[np++] = (uint16_t)(jr[k].ports[0].high + 1);
		}
		if (jr[k].naddrs) {
			addrs[na] = jr[k].addrs[0].addr;
			addrs[na + 1] = addrs[na];
			addrs[na + 1].s6_addr[15] ^= 1;
			na += 2;
		}
	}
	for (unsigned pi = 0; pi < np; pi++) {
		for (unsigned ai = 0; ai < na; ai++) {
			int want_mode = gmode, want_block = gblock;
			for (unsigned k = 0; k < n; k++) {
				const struct jrule *j = &jr[k];
				bool ok = j->applies;
				bool port_ok = j->nports == 0;
				for (unsigned q = 0; q < j->nports; q++)
					port_ok = port_ok || (ports[pi] >= j->ports[q].low &&
							      ports[pi] <= j->ports[q].high);
				bool addr_ok = j->naddrs == 0;
				for (unsigned q = 0; q < j->naddrs; q++)
					addr_ok = addr_ok || jcidr_match(&j->addrs[q], &addrs[ai]);
				if (ok && port_ok && addr_ok) {
					if (j->mode >= 0)
						want_mode = j->mode;
					if (j->block >= 0)
						want_block = j->block;
					break;
				}
			}
			enum bg_mode got_mode;
			unsigned got_block;
			bg_policy_rules(c, ports[pi], &addrs[ai], &got_mode, &got_block);
			CHECK((int)got_mode == want_mode && (int)got_block == want_block,
			      "decide(port %u, probe %u): mode %d block %u, JSON says %d %d",
			      ports[pi], ai, got_mode, got_block, want_mode, want_block);
		}
	}
	cJSON_Delete(o);
	free(text);
}

static struct bg_config cfg, cfg2, defaults;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	cur_input = data;
	cur_size = size;

	int r = bg_config_parse(&cfg, text, FILE_NAME, PROG);
	CHECK(r == 0 || r == -1, "bg_config_parse returned %d", r);
	CHECK(cfg.mode <= BG_MODE_ENFORCE && cfg.level <= BG_LEVEL_DEBUG, "enum out of range");
	CHECK((cfg.block_hazards &
	       ~(unsigned)(1u << BG_HAZARD_PIN | 1u << BG_HAZARD_PIN_HALFCLOSED)) == 0,
	      "block_hazards 0x%x", cfg.block_hazards);
	CHECK(cfg.block_errno > 0 && cfg.nrules <= BG_MAX_RULES, "errno or rule count");
	CHECK(strnlen(cfg.log, sizeof(cfg.log)) < sizeof(cfg.log), "log not terminated");
	if (r == 0) {
		CHECK(cfg.error[0] == 0, "success with a message: %s", cfg.error);
		CHECK(strcmp(cfg.source, FILE_NAME) == 0, "source is \"%s\"", cfg.source);
		CHECK(strcmp(cfg.log, "stderr") == 0 || strcmp(cfg.log, "syslog") == 0 ||
			      cfg.log[0] == '/',
		      "log \"%s\" accepted", cfg.log);
	} else {
		check_error_message(&cfg);
		/* the defaults, all of them, with only the message added */
		bg_config_defaults(&defaults);
		strcpy(defaults.error, cfg.error);
		CHECK(memcmp(&defaults, &cfg, sizeof(cfg)) == 0,
		      "failed parse left something besides the defaults");
	}

	/* the same text for another program (and for none): same verdict */
	int r2 = bg_config_parse(&cfg2, text, FILE_NAME, NULL);
	CHECK(r2 == r && strcmp(cfg2.error, cfg.error) == 0,
	      "verdict depends on the program name: %d \"%s\" vs %d \"%s\"", r, cfg.error, r2,
	      cfg2.error);

	check_json(&cfg);
	if (r == 0)
		check_json(&cfg2);
	free(text);
	return 0;
}
