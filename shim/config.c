/* config.c: parse and validate bindguard.json (cJSON), apply environment
 * overrides. Every message names the input, the place, and what was expected.
 * Never: exit, abort, or leave a half-applied config behind.
 */
#define _GNU_SOURCE
#include "config.h"
#include "trust.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BG_DEFAULT_CONFIG "/etc/bindguard/bindguard.json"

static int lookup(const char *const *names, unsigned n, const char *s)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

const char *bg_errno_name(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "EUNKNOWN";
}

int bg_errno_parse(const char *name)
{
	/* second names of one number: strerrorname_np() gives the first only */
	static const struct {
		const char *name;
		int err;
	} alias[] = {{"EWOULDBLOCK", EWOULDBLOCK}, {"ENOTSUP", ENOTSUP}, {"EDEADLOCK", EDEADLOCK}};
	for (unsigned i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcmp(alias[i].name, name) == 0)
			return alias[i].err;
	for (int e = 1; e < 200; e++) {
		const char *n = strerrorname_np(e);
		if (n && strcmp(n, name) == 0)
			return e;
	}
	return -1;
}

void bg_config_defaults(struct bg_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = BG_MODE_AUDIT;
	c->level = BG_LEVEL_INFO;
	strcpy(c->log, "stderr");
	c->profile_auto = true;
	c->profile = BG_PROFILE_CLASSIC;
	c->block_hazards = 1u << BG_HAZARD_PIN_HALFCLOSED;
	c->block_errno = EADDRINUSE;
	strcpy(c->source, "built-in defaults");
}

static char config_cgroup[4096]; /* bg_config_set_cgroup; "" = unknown */

void bg_config_set_cgroup(const char *path)
{
	snprintf(config_cgroup, sizeof(config_cgroup), "%s", path ? path : "");
}

/* ---- validation helpers ------------------------------------------------------ */

struct parse {
	struct bg_config *c;
	const char *file;
	const char *progname;
	bool failed;
};

__attribute__((format(printf, 3, 4))) static void fail(struct parse *p, const char *field,
						       const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	char what[512], msg[sizeof(p->c->error)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s: %s: %s", p->file, field, what);
	/* keys and values quoted can hold control characters (cJSON takes them
	 * raw or escaped): the message stays one line on stderr, in the journal
	 * and on a terminal */
	bg_one_line(p->c->error, sizeof(p->c->error), msg);
}

static const char *json_kind(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "something else";
}

static int enum_field(struct parse *p, const char *field, const cJSON *v, const char *const *names,
		      unsigned n)
{
	if (!cJSON_IsString(v)) {
		fail(p, field, "expected a string, got %s", json_kind(v));
		return -1;
	}
	int i = lookup(names, n, v->valuestring);
	if (i < 0) {
		char choices[128] = "";
		for (unsigned k = 0; k < n; k++) {
			strcat(choices, k ? (k + 1 == n ? " or " : ", ") : "");
			strcat(choices, names[k]);
		}
		fail(p, field, "expected %s, got \"%s\"", choices, v->valuestring);
	}
	return i;
}

static int hazard_list(struct parse *p, const char *field, const cJSON *v)
{
	if (!cJSON_IsArray(v)) {
		fail(p, field, "expected an array of hazards (\"pin\", \"pin_halfclosed\"), got %s",
		     json_kind(v));
		return -1;
	}
	unsigned mask = 0, i = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, v) {
		char f[96];
		snprintf(f, sizeof(f), "%s[%u]", field, i++);
		int h = enum_field(p, f, e, bg_hazard_names + 1, 2);
		if (h < 0)
			return -1;
		mask |= 1u << (h + 1);
	}
	return (int)mask;
}

static int port_number(const char *s, char **end)
{
	if (!isdigit((unsigned char)*s)) {
		*end = (char *)s;
		return -1;
	}
	errno = 0;
	long v = strtol(s, end, 10);
	if (*end == s || errno || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

static int port_span(struct parse *p, const char *field, const cJSON *v, struct bg_port_span *out)
{
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d < 1 || d > 65535 || d != (int)d) {
			fail(p, field, "expected a port 1-65535, got %g", d);
			return -1;
		}
		out->low = out->high = (uint16_t)d;
		return 0;
	}
	if (!cJSON_IsString(v)) {
		fail(p, field, "expected a port or \"LOW-HIGH\", got %s", json_kind(v));
		return -1;
	}
	char *end;
	int lo = port_number(v->valuestring, &end), hi = lo;
	if (lo > 0 && *end == '-')
		hi = port_number(end + 1, &end);
	if (lo < 0 || hi < 0 || *end || hi < lo) {
		fail(p, field, "expected a port or \"LOW-HIGH\" within 1-65535, got \"%s\"",
		     v->valuestring);
		return -1;
	}
	out->low = (uint16_t)lo;
	out->high = (uint16_t)hi;
	return 0;
}

static int cidr(struct parse *p, const char *field, const cJSON *v, struct bg_cidr *out)
{
	if (!cJSON_IsString(v)) {
		fail(p, field, "expected an address or CIDR, got %s", json_kind(v));
		return -1;
	}
	char buf[64];
	if (strlen(v->valuestring) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", v->valuestring);
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		*slash = 0;
		char *end;
		prefix = strtol(slash + 1, &end, 10);
		if (!isdigit((unsigned char)slash[1]) || *end || prefix > 128)
			prefix = 999;
	}
	struct in_addr a4;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		bg_addr_from_v4(&out->addr, a4.s_addr);
		if (prefix > 32)
			goto bad;
		out->prefix = (uint8_t)(prefix < 0 ? 128 : 96 + prefix);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &out->addr) == 1) {
		if (prefix > 128)
			goto bad;
		out->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
		return 0;
	}
bad:
	fail(p, field, "expected an IPv4 or IPv6 address, optionally /PREFIX, got \"%s\"",
	     v->valuestring);
	return -1;
}

/* Keys starting with '$' or '_' are free for "$schema" and comments. */
static bool annotation(const char *key)
{
	return key[0] == '$' || key[0] == '_';
}

/* A known key met a second time in one object: cJSON keeps both and the
 * last would win in silence. keys[n] are the object's known keys; *seen
 * holds one bit for each met so far. Annotations may repeat. */
static bool repeated(struct parse *p, const char *field, const char *const *keys, unsigned n,
		     unsigned *seen, const char *key)
{
	int i = lookup(keys, n, key);
	if (i < 0)
		return false;
	if (*seen & (1u << i)) {
		fail(p, field, "duplicate key; each key may appear once in an object");
		return true;
	}
	*seen |= 1u << i;
	return false;
}

static bool in_list(const cJSON *list, const char *name)
{
	const cJSON *e;
	cJSON_ArrayForEach (e, list) {
		if (cJSON_IsString(e) && strcmp(e->valuestring, name) == 0)
			return true;
	}
	return false;
}

static bool string_list(struct parse *p, const char *field, const cJSON *v)
{
	if (!cJSON_IsArray(v)) {
		fail(p, field, "expected an array of program names, got %s", json_kind(v));
		return false;
	}
	unsigned i = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, v) {
		if (!cJSON_IsString(e) || !e->valuestring[0]) {
			char f[96];
			snprintf(f, sizeof(f), "%s[%u]", field, i);
			fail(p, f, "expected a program name (a non-empty string), got %s",
			     json_kind(e));
			return false;
		}
		i++;
	}
	return true;
}

/* "cgroups": absolute cgroup v2 paths; does one name config_cgroup or an
 * ancestor of it? */
static bool cgroup_list(struct parse *p, const char *field, const cJSON *v, bool *match)
{
	if (!cJSON_IsArray(v)) {
		fail(p, field, "expected an array of cgroup paths, got %s", json_kind(v));
		return false;
	}
	*match = false;
	unsigned i = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, v) {
		if (!cJSON_IsString(e) || e->valuestring[0] != '/') {
			char f[112];
			snprintf(f, sizeof(f), "%s[%u]", field, i);
			fail(p, f,
			     "expected a cgroup path from the cgroup v2 root (\"/system.slice/"
			     "NAME.service\"), got %s",
			     cJSON_IsString(e) ? "a relative path" : json_kind(e));
			return false;
		}
		size_t n = strlen(e->valuestring);
		while (n > 1 && e->valuestring[n - 1] == '/')
			n--;
		if (config_cgroup[0] && strncmp(config_cgroup, e->valuestring, n) == 0 &&
		    (n == 1 || config_cgroup[n] == 0 || config_cgroup[n] == '/'))
			*match = true;
		i++;
	}
	return true;
}

static void parse_rule(struct parse *p, unsigned idx, const cJSON *r)
{
	char base[32], field[96];
	snprintf(base, sizeof(base), "rules[%u]", idx);
	if (!cJSON_IsObject(r)) {
		fail(p, base, "expected an object, got %s", json_kind(r));
		return;
	}
	struct bg_rule *rule = &p->c->rules[idx];
	memset(rule, 0, sizeof(*rule));
	rule->program_match = true;
	rule->mode = -1;
	rule->block_hazards = -1;
	rule->remedy = -1;
	static const char *const keys[] = {"programs", "except_programs", "ports",  "addresses",
					   "mode",     "block",		  "remedy", "cgroups"};
	unsigned seen = 0;
	const cJSON *v;
	cJSON_ArrayForEach (v, r) {
		snprintf(field, sizeof(field), "%s.%s", base, v->string);
		if (repeated(p, field, keys, 8, &seen, v->string))
			return;
		if (strcmp(v->string, "cgroups") == 0) {
			rule->has_cgroups = true;
			if (cgroup_list(p, field, v, &rule->cgroup_match))
				rule->program_match = rule->program_match && rule->cgroup_match;
		} else if (strcmp(v->string, "programs") == 0) {
			rule->has_programs = true;
			if (string_list(p, field, v))
				rule->program_match =
					rule->program_match && in_list(v, p->progname);
		} else if (strcmp(v->string, "except_programs") == 0) {
			rule->has_programs = true;
			if (string_list(p, field, v))
				rule->program_match =
					rule->program_match && !in_list(v, p->progname);
		} else if (strcmp(v->string, "ports") == 0) {
			const cJSON *list = v;
			if (!cJSON_IsArray(v)) {
				fail(p, field,
				     "expected an array of ports or \"LOW-HIGH\" ranges, got %s",
				     json_kind(v));
				return;
			}
			const cJSON *e;
			cJSON_ArrayForEach (e, list) {
				char f[112];
				snprintf(f, sizeof(f), "%s[%u]", field, rule->nports);
				if (rule->nports == BG_MAX_SELECTORS) {
					fail(p, f, "expected at most %d entries", BG_MAX_SELECTORS);
					return;
				}
				if (port_span(p, f, e, &rule->ports[rule->nports]) == 0)
					rule->nports++;
			}
		} else if (strcmp(v->string, "addresses") == 0) {
			if (!cJSON_IsArray(v)) {
				fail(p, field, "expected an array of addresses or CIDRs, got %s",
				     json_kind(v));
				return;
			}
			const cJSON *e;
			cJSON_ArrayForEach (e, v) {
				char f[112];
				snprintf(f, sizeof(f), "%s[%u]", field, rule->naddrs);
				if (rule->naddrs == BG_MAX_SELECTORS) {
					fail(p, f, "expected at most %d entries", BG_MAX_SELECTORS);
					return;
				}
				if (cidr(p, f, e, &rule->addrs[rule->naddrs]) == 0)
					rule->naddrs++;
			}
		} else if (strcmp(v->string, "mode") == 0) {
			rule->mode = enum_field(p, field, v, bg_mode_names, 3);
		} else if (strcmp(v->string, "block") == 0) {
			rule->block_hazards = hazard_list(p, field, v);
		} else if (strcmp(v->string, "remedy") == 0) {
			if (cJSON_IsBool(v))
				rule->remedy = cJSON_IsTrue(v);
			else
				fail(p, field, "expected true or false, got %s", json_kind(v));
		} else if (!annotation(v->string)) {
			fail(p, field,
			     "unknown key; expected programs, except_programs, cgroups, ports, "
			     "addresses, mode, block or remedy");
		}
	}
}

static void parse_enforce(struct parse *p, const cJSON *e)
{
	if (!cJSON_IsObject(e)) {
		fail(p, "enforce", "expected an object with \"block\" and \"errno\", got %s",
		     json_kind(e));
		return;
	}
	static const char *const keys[] = {"block", "errno"};
	unsigned seen = 0;
	const cJSON *v;
	cJSON_ArrayForEach (v, e) {
		char field[96];
		snprintf(field, sizeof(field), "enforce.%s", v->string);
		if (repeated(p, field, keys, 2, &seen, v->string))
			return;
		if (strcmp(v->string, "block") == 0) {
			int m = hazard_list(p, field, v);
			if (m >= 0)
				p->c->block_hazards = (unsigned)m;
		} else if (strcmp(v->string, "errno") == 0) {
			int err = cJSON_IsString(v) ? bg_errno_parse(v->valuestring) : -1;
			if (err < 0)
				fail(p, field,
				     "expected an errno name such as \"EADDRINUSE\" or \"EACCES\", "
				     "got %s%s%s",
				     cJSON_IsString(v) ? "\"" : json_kind(v),
				     cJSON_IsString(v) ? v->valuestring : "",
				     cJSON_IsString(v) ? "\"" : "");
			else
				p->c->block_errno = err;
		} else if (!annotation(v->string)) {
			fail(p, field, "unknown key; expected block or errno");
		}
	}
}

static void parse_log(struct parse *p, const char *field, const char *s)
{
	if (strcmp(s, "stderr") && strcmp(s, "syslog") && s[0] != '/') {
		fail(p, field, "expected \"stderr\", \"syslog\" or an absolute path, got \"%s\"",
		     s);
		return;
	}
	if (strlen(s) >= sizeof(p->c->log)) {
		fail(p, field, "path longer than %zu bytes", sizeof(p->c->log) - 1);
		return;
	}
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			fail(p, field, "a control character (0x%02x) in the path \"%s\"",
			     (unsigned)(unsigned char)*c, s);
			return;
		}
	strcpy(p->c->log, s);
}

static void parse_profile(struct parse *p, const char *field, const char *s)
{
	enum bg_profile_id id;
	if (strcmp(s, "auto") == 0) {
		p->c->profile_auto = true;
	} else if (bg_profile_parse(s, &id) == 0) {
		p->c->profile_auto = false;
		p->c->profile = id;
	} else {
		fail(p, field, "expected auto, legacy-2.6, classic or release, got \"%s\"", s);
	}
}

static void parse_top(struct parse *p, const cJSON *root)
{
	static const char *const levels[] = {"info", "debug"};
	if (!cJSON_IsObject(root)) {
		fail(p, "(top level)", "expected an object, got %s", json_kind(root));
		return;
	}
	static const char *const keys[] = {"mode",    "level",	"log",	"profile",
					   "enforce", "remedy", "rules"};
	unsigned seen = 0;
	const cJSON *v;
	cJSON_ArrayForEach (v, root) {
		const char *k = v->string;
		if (repeated(p, k, keys, 7, &seen, k))
			return;
		if (strcmp(k, "mode") == 0) {
			int m = enum_field(p, k, v, bg_mode_names, 3);
			if (m >= 0)
				p->c->mode = (enum bg_mode)m;
		} else if (strcmp(k, "level") == 0) {
			int l = enum_field(p, k, v, levels, 2);
			if (l >= 0)
				p->c->level = (enum bg_level)l;
		} else if (strcmp(k, "log") == 0) {
			if (!cJSON_IsString(v))
				fail(p, k,
				     "expected a string (\"stderr\", \"syslog\" or a path), got %s",
				     json_kind(v));
			else
				parse_log(p, k, v->valuestring);
		} else if (strcmp(k, "profile") == 0) {
			if (!cJSON_IsString(v))
				fail(p, k, "expected a string, got %s", json_kind(v));
			else
				parse_profile(p, k, v->valuestring);
		} else if (strcmp(k, "enforce") == 0) {
			parse_enforce(p, v);
		} else if (strcmp(k, "remedy") == 0) {
			if (cJSON_IsBool(v))
				p->c->remedy = cJSON_IsTrue(v);
			else
				fail(p, k, "expected true or false, got %s", json_kind(v));
		} else if (strcmp(k, "rules") == 0) {
			if (!cJSON_IsArray(v)) {
				fail(p, k, "expected an array of rule objects, got %s",
				     json_kind(v));
				continue;
			}
			unsigned n = (unsigned)cJSON_GetArraySize(v);
			if (n > BG_MAX_RULES) {
				fail(p, k, "expected at most %d rules, got %u", BG_MAX_RULES, n);
				continue;
			}
			for (unsigned i = 0; i < n; i++)
				parse_rule(p, i, cJSON_GetArrayItem(v, (int)i));
			p->c->nrules = n;
		} else if (!annotation(k)) {
			fail(p, k,
			     "unknown key; expected mode, level, log, profile, enforce, remedy or "
			     "rules");
		}
	}
}

#define BG_STR_(x) #x
#define BG_STR(x)  BG_STR_(x)

/* Line and column (from 1) of text[off]. */
static void place(const char *text, size_t off, unsigned *line, unsigned *col)
{
	*line = *col = 1;
	for (size_t i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

enum lex_find { LEX_NOTHING, LEX_DEEP, LEX_FRACTION };

/* What cJSON does not say, found in text[0..*stop): arrays and objects
 * nested deeper than it parses, or a number that is not written whole.
 * On a find, *stop is where it starts. */
static enum lex_find lex(const char *text, size_t *stop)
{
	unsigned depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < *stop && text[i]; i++) {
		char ch = text[i];
		if (in_string) {
			if (ch == '\\' && text[i + 1])
				i++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > CJSON_NESTING_LIMIT) {
				*stop = i;
				return LEX_DEEP;
			}
		} else if (ch == ']' || ch == '}') {
			depth -= depth > 0;
		} else if (ch == '-' || (ch >= '0' && ch <= '9')) {
			size_t len = strspn(text + i, "0123456789+-.eE");
			if (strcspn(text + i, ".eE") < len) {
				*stop = i;
				return LEX_FRACTION;
			}
			i += len - 1;
		}
	}
	return LEX_NOTHING;
}

int bg_config_parse(struct bg_config *c, const char *text, const char *file, const char *progname)
{
	bg_config_defaults(c);
	snprintf(c->source, sizeof(c->source), "%s", file);
	struct parse p = {c, file, progname ? progname : "", false};
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
	if (!root) {
		size_t stop = end ? (size_t)(end - text) + 1 : strlen(text); /* with *end */
		enum lex_find f = lex(text, &stop);
		if (f != LEX_DEEP)
			stop = end ? (size_t)(end - text) : strlen(text);
		unsigned line, col;
		place(text, stop, &line, &col);
		bg_config_defaults(c);
		snprintf(c->error, sizeof(c->error), "%s:%u:%u: %s", file, line, col,
			 f == LEX_DEEP
				 ? "nested too deeply (more than " BG_STR(
					   CJSON_NESTING_LIMIT) " levels of arrays and objects)"
				 : "invalid JSON near here; expected a JSON object");
		return -1;
	}
	size_t at = strlen(text);
	if (lex(text, &at) == LEX_FRACTION) {
		/* the only numbers in a config are ports; a double would read
		 * 40000.00000000000000001 as 40000 */
		unsigned line, col;
		place(text, at, &line, &col);
		size_t len = strspn(text + at, "0123456789+-.eE");
		cJSON_Delete(root);
		bg_config_defaults(c);
		snprintf(c->error, sizeof(c->error), "%s:%u:%u: expected a whole number, got %.*s",
			 file, line, col, (int)(len > 40 ? 40 : len), text + at);
		return -1;
	}
	parse_top(&p, root);
	cJSON_Delete(root);
	if (p.failed) {
		char keep[sizeof(c->error)];
		strcpy(keep, c->error);
		bg_config_defaults(c);
		strcpy(c->error, keep);
		return -1;
	}
	return 0;
}

int bg_config_load(struct bg_config *c, const char *path, const char *progname)
{
	bool explicit = path != NULL;
	if (!path)
		path = BG_DEFAULT_CONFIG;
	/* trusted only if everyone who can write it is (trust.h) */
	char *text, why[200];
	size_t len;
	int r = bg_read_trusted(path, 1 << 20, &text, &len, why, sizeof(why));
	if (r != 0) {
		bg_config_defaults(c);
		if (r == 1 && !explicit)
			return 0;
		snprintf(c->error, sizeof(c->error), "%s: %s", path,
			 r == 1 ? "cannot open: No such file or directory" : why);
		return -1;
	}
	const char *nul = memchr(text, 0, len);
	if (nul) {
		/* a parser of strings would stop there and ignore the rest */
		unsigned line, col;
		place(text, (size_t)(nul - text), &line, &col);
		bg_config_defaults(c);
		snprintf(c->error, sizeof(c->error), "%s:%u:%u: NUL byte; a config is JSON text",
			 path, line, col);
		free(text);
		return -1;
	}
	r = bg_config_parse(c, text, path, progname);
	free(text);
	return r;
}

void bg_config_env(struct bg_config *c)
{
	struct parse p = {c, "environment", "", c->error[0] != 0};
	const char *v;
	bool env_off = false, env_log = false;
	if ((v = secure_getenv("BINDGUARD_MODE")) && *v) {
		int m = lookup(bg_mode_names, 3, v);
		if (m < 0)
			fail(&p, "BINDGUARD_MODE", "expected off, audit or enforce, got \"%s\"", v);
		else
			c->mode = (enum bg_mode)m;
		env_off = m == BG_MODE_OFF;
	}
	if ((v = secure_getenv("BINDGUARD_LOG")) && *v) {
		parse_log(&p, "BINDGUARD_LOG", v);
		env_log = strcmp(c->log, v) == 0; /* taken: a valid value */
	}
	if ((v = secure_getenv("BINDGUARD_PROFILE")) && *v)
		parse_profile(&p, "BINDGUARD_PROFILE", v);
	if ((v = secure_getenv("BINDGUARD_REMEDY")) && *v) {
		static const char *const yes[] = {"on", "1", "true", "yes"};
		static const char *const no[] = {"off", "0", "false", "no"};
		if (lookup(yes, 4, v) >= 0)
			c->remedy = true;
		else if (lookup(no, 4, v) >= 0)
			c->remedy = false;
		else
			fail(&p, "BINDGUARD_REMEDY", "expected on or off, got \"%s\"", v);
	}
	if (!c->error[0])
		return;
	/* Something is broken (the file or a variable): the built-in defaults,
	 * whatever the good parts said, so that no rule, enforce or remedy of a
	 * half-understood configuration applies. Two explicit choices of the
	 * operator stay: BINDGUARD_MODE=off, and where BINDGUARD_LOG sends the
	 * events (the config_error event among them). */
	char error[sizeof(c->error)], log[sizeof(c->log)];
	strcpy(error, c->error);
	strcpy(log, c->log);
	bg_config_defaults(c);
	strcpy(c->error, error);
	if (env_log)
		strcpy(c->log, log);
	if (env_off)
		c->mode = BG_MODE_OFF;
}

const char *bg_config_fallback(const struct bg_config *c)
{
	return c->mode == BG_MODE_OFF ? "BINDGUARD_MODE=off, so the shim stays off"
				      : "running in audit mode with defaults";
}

static cJSON *hazard_array(unsigned mask)
{
	cJSON *a = cJSON_CreateArray();
	for (int h = BG_HAZARD_PIN; h <= BG_HAZARD_PIN_HALFCLOSED; h++)
		if (mask & (1u << h))
			cJSON_AddItemToArray(a, cJSON_CreateString(bg_hazard_names[h]));
	return a;
}

static cJSON *cidr_json(const struct bg_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (bg_addr_is_mapped(&c->addr) && c->prefix >= 96) {
		inet_ntop(AF_INET, &c->addr.s6_addr[12], buf, sizeof(buf));
		if (c->prefix != 128)
			sprintf(buf + strlen(buf), "/%u", c->prefix - 96);
	} else {
		inet_ntop(AF_INET6, &c->addr, buf, sizeof(buf));
		if (c->prefix != 128)
			sprintf(buf + strlen(buf), "/%u", c->prefix);
	}
	return cJSON_CreateString(buf);
}

char *bg_config_json(const struct bg_config *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "source", c->source);
	cJSON_AddStringToObject(o, "mode", bg_mode_names[c->mode]);
	cJSON_AddStringToObject(o, "level", c->level == BG_LEVEL_DEBUG ? "debug" : "info");
	cJSON_AddStringToObject(o, "log", c->log);
	cJSON_AddStringToObject(o, "profile",
				c->profile_auto ? "auto" : bg_profile_name(c->profile));
	cJSON *e = cJSON_AddObjectToObject(o, "enforce");
	cJSON_AddItemToObject(e, "block", hazard_array(c->block_hazards));
	cJSON_AddStringToObject(e, "errno", bg_errno_name(c->block_errno));
	cJSON_AddBoolToObject(o, "remedy", c->remedy);
	cJSON *rules = cJSON_AddArrayToObject(o, "rules");
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct bg_rule *r = &c->rules[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "applies_to_this_program", r->program_match);
		if (r->has_cgroups)
			cJSON_AddBoolToObject(j, "applies_to_this_cgroup", r->cgroup_match);
		cJSON *ports = cJSON_AddArrayToObject(j, "ports");
		for (unsigned k = 0; k < r->nports; k++) {
			char buf[16];
			snprintf(buf, sizeof(buf), "%u-%u", r->ports[k].low, r->ports[k].high);
			cJSON_AddItemToArray(ports, cJSON_CreateString(buf));
		}
		cJSON *addrs = cJSON_AddArrayToObject(j, "addresses");
		for (unsigned k = 0; k < r->naddrs; k++)
			cJSON_AddItemToArray(addrs, cidr_json(&r->addrs[k]));
		if (r->mode >= 0)
			cJSON_AddStringToObject(j, "mode", bg_mode_names[r->mode]);
		if (r->block_hazards >= 0)
			cJSON_AddItemToObject(j, "block", hazard_array((unsigned)r->block_hazards));
		if (r->remedy >= 0)
			cJSON_AddBoolToObject(j, "remedy", r->remedy);
		cJSON_AddItemToArray(rules, j);
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}
