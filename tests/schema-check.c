/* schema-check: validate JSON documents against the subset of JSON Schema
 * (draft 2020-12) that conf/bindguard.schema.json and
 * conf/bindguard-event.schema.json use. Nothing more: a schema using any other
 * keyword is refused up front rather than half-checked.
 *
 *   schema-check SCHEMA.json FILE.jsonl         every non-empty line is a document
 *   schema-check SCHEMA.json --json FILE.json   the whole file is one document
 *   (FILE may be "-" for standard input)
 *
 * Prints "LINE: PATH: message" per failure (PATH like $.bindguard.owners[0].pid;
 * LINE is 1 with --json) and exits 1 if there was any; otherwise prints
 * "ok N lines" and exits 0. Exit 2: usage, unreadable input or a bad schema.
 *
 * Keywords: type (a name or an array of names), required, properties,
 * additionalProperties (boolean or schema), patternProperties, enum, const,
 * items, oneOf, anyOf, allOf, if/then/else, minimum, maximum, minLength,
 * maxLength, minItems, maxItems, pattern, $ref ("#" or "#/$defs/NAME"), boolean schemas;
 * annotations: $schema, $id, $comment, $defs, title, description.
 * Regular expressions (pattern, patternProperties) are POSIX EREs, which
 * agree with ECMA-262 for the anchored character-class patterns used here.
 *
 * Build: make build/schema-check
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *root_schema;
static const char *line_label = "1";
static unsigned long failures;

/* ---- small helpers ---------------------------------------------------------- */

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("schema-check: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static char *read_all(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f)
		die("%s: cannot open", path);
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			die("out of memory");
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	if (ferror(f))
		die("%s: read error", path);
	if (f != stdin)
		fclose(f);
	buf[len] = 0;
	return buf;
}

static const char *kind_of(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d > -9e15 && d < 9e15 && (double)(long long)d == d)
			return "integer";
		return "number";
	}
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "invalid";
}

static bool type_is(const cJSON *v, const char *name)
{
	const char *k = kind_of(v);
	if (strcmp(name, "number") == 0)
		return cJSON_IsNumber(v);
	return strcmp(k, name) == 0;
}

static size_t utf8_length(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Compiled regular expressions, keyed by the pattern text's address (the
 * schema lives as long as the program). */
struct rx {
	const char *pattern;
	regex_t re;
	struct rx *next;
};
static struct rx *rx_cache;

static const regex_t *rx_get(const char *pattern)
{
	for (struct rx *r = rx_cache; r; r = r->next)
		if (r->pattern == pattern)
			return &r->re;
	struct rx *r = calloc(1, sizeof(*r));
	if (!r)
		die("out of memory");
	int err = regcomp(&r->re, pattern, REG_EXTENDED | REG_NOSUB);
	if (err) {
		char msg[128];
		regerror(err, &r->re, msg, sizeof(msg));
		die("schema: bad pattern \"%s\": %s", pattern, msg);
	}
	r->pattern = pattern;
	r->next = rx_cache;
	rx_cache = r;
	return &r->re;
}

static bool rx_match(const char *pattern, const char *s)
{
	return regexec(rx_get(pattern), s, 0, NULL, 0) == 0;
}

static const cJSON *resolve(const char *ref)
{
	if (strcmp(ref, "#") == 0)
		return root_schema;
	if (strncmp(ref, "#/$defs/", 8) != 0)
		return NULL;
	const cJSON *defs = cJSON_GetObjectItemCaseSensitive(root_schema, "$defs");
	return defs ? cJSON_GetObjectItemCaseSensitive(defs, ref + 8) : NULL;
}

/* ---- the schema itself ---------------------------------------------------------- */

static const char *const known_keywords[] = {
	"$schema",
	"$id",
	"$comment",
	"$defs",
	"title",
	"description",
	"type",
	"required",
	"properties",
	"additionalProperties",
	"patternProperties",
	"enum",
	"const",
	"items",
	"oneOf",
	"anyOf",
	"allOf",
	"if",
	"then",
	"else",
	"minimum",
	"maximum",
	"minLength",
	"maxLength",
	"minItems",
	"maxItems",
	"pattern",
	"$ref",
};
static const char *const type_names[] = {"null",   "boolean", "integer", "number",
					 "string", "array",   "object"};

static bool in_names(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return true;
	return false;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void check_schema(const cJSON *s, const char *where);

static void check_schema_map(const cJSON *m, const char *where, const char *kw)
{
	if (!cJSON_IsObject(m))
		die("schema %s: %s must be an object", where, kw);
	const cJSON *e;
	cJSON_ArrayForEach (e, m) {
		char w[1024];
		snprintf(w, sizeof(w), "%s/%s/%s", where, kw, e->string);
		if (strcmp(kw, "patternProperties") == 0)
			rx_get(e->string);
		check_schema(e, w);
	}
}

static void check_schema_list(const cJSON *l, const char *where, const char *kw)
{
	if (!cJSON_IsArray(l) || cJSON_GetArraySize(l) == 0)
		die("schema %s: %s must be a non-empty array", where, kw);
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, l) {
		char w[1024];
		snprintf(w, sizeof(w), "%s/%s/%d", where, kw, i++);
		check_schema(e, w);
	}
}

/* Refuse what this checker would not enforce, so that a schema never passes
 * for more than it is. */
static void check_schema(const cJSON *s, const char *where)
{
	if (cJSON_IsBool(s))
		return;
	if (!cJSON_IsObject(s))
		die("schema %s: expected an object or a boolean", where);
	const cJSON *k;
	cJSON_ArrayForEach (k, s) {
		const char *n = k->string;
		char w[1024];
		snprintf(w, sizeof(w), "%s/%s", where, n);
		if (!in_names(known_keywords, COUNT(known_keywords), n))
			die("schema %s: keyword not supported by schema-check", w);
		if (strcmp(n, "type") == 0) {
			if (cJSON_IsString(k)) {
				if (!in_names(type_names, COUNT(type_names), k->valuestring))
					die("schema %s: unknown type \"%s\"", w, k->valuestring);
			} else if (cJSON_IsArray(k)) {
				const cJSON *t;
				cJSON_ArrayForEach (t, k) {
					if (!cJSON_IsString(t) ||
					    !in_names(type_names, COUNT(type_names),
						      t->valuestring))
						die("schema %s: bad type list", w);
				}
			} else {
				die("schema %s: expected a type name or a list of them", w);
			}
		} else if (strcmp(n, "required") == 0) {
			const cJSON *t;
			if (!cJSON_IsArray(k))
				die("schema %s: expected an array of names", w);
			cJSON_ArrayForEach (t, k) {
				if (!cJSON_IsString(t))
					die("schema %s: expected an array of names", w);
			}
		} else if (strcmp(n, "properties") == 0 || strcmp(n, "patternProperties") == 0 ||
			   strcmp(n, "$defs") == 0) {
			check_schema_map(k, where, n);
		} else if (strcmp(n, "additionalProperties") == 0 || strcmp(n, "items") == 0 ||
			   strcmp(n, "if") == 0 || strcmp(n, "then") == 0 ||
			   strcmp(n, "else") == 0) {
			check_schema(k, w);
		} else if (strcmp(n, "oneOf") == 0 || strcmp(n, "anyOf") == 0 ||
			   strcmp(n, "allOf") == 0) {
			check_schema_list(k, where, n);
		} else if (strcmp(n, "enum") == 0) {
			if (!cJSON_IsArray(k) || cJSON_GetArraySize(k) == 0)
				die("schema %s: expected a non-empty array", w);
		} else if (strcmp(n, "minimum") == 0 || strcmp(n, "maximum") == 0) {
			if (!cJSON_IsNumber(k))
				die("schema %s: expected a number", w);
		} else if (strcmp(n, "minLength") == 0 || strcmp(n, "maxLength") == 0 ||
			   strcmp(n, "minItems") == 0 || strcmp(n, "maxItems") == 0) {
			if (strcmp(kind_of(k), "integer") != 0 || k->valuedouble < 0)
				die("schema %s: expected a non-negative integer", w);
		} else if (strcmp(n, "pattern") == 0) {
			if (!cJSON_IsString(k))
				die("schema %s: expected a string", w);
			rx_get(k->valuestring);
		} else if (strcmp(n, "$ref") == 0) {
			if (!cJSON_IsString(k) || !resolve(k->valuestring))
				die("schema %s: unresolvable reference (only \"#\" and "
				    "\"#/$defs/NAME\")",
				    w);
		}
	}
}

/* ---- validation ------------------------------------------------------------------ */

/* A path being built while descending: "$", "$.event", "$.owners[2]". */
struct path {
	char buf[1024];
	size_t len;
};

static size_t path_push_key(struct path *p, const char *key)
{
	size_t old = p->len;
	int n = snprintf(p->buf + old, sizeof(p->buf) - old, ".%s", key);
	if (n > 0)
		p->len = old + (size_t)n < sizeof(p->buf) ? old + (size_t)n : sizeof(p->buf) - 1;
	return old;
}

static size_t path_push_index(struct path *p, int i)
{
	size_t old = p->len;
	int n = snprintf(p->buf + old, sizeof(p->buf) - old, "[%d]", i);
	if (n > 0)
		p->len = old + (size_t)n < sizeof(p->buf) ? old + (size_t)n : sizeof(p->buf) - 1;
	return old;
}

static void path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->buf[old] = 0;
}

/* report: print failures (else stop at the first and print nothing). */
struct vctx {
	struct path path;
	bool report;
	unsigned depth;
};

__attribute__((format(printf, 2, 3))) static void failure(struct vctx *c, const char *fmt, ...)
{
	if (!c->report)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("%s: %s: %s\n", line_label, c->path.buf, msg);
	failures++;
}

static unsigned validate(struct vctx *c, const cJSON *s, const cJSON *v);

/* Validate silently: does v satisfy s? */
static bool satisfies(struct vctx *c, const cJSON *s, const cJSON *v)
{
	bool was = c->report;
	c->report = false;
	unsigned bad = validate(c, s, v);
	c->report = was;
	return bad == 0;
}

static void describe_value(const cJSON *v, char *buf, size_t len)
{
	char *t = cJSON_PrintUnformatted(v);
	if (!t) {
		snprintf(buf, len, "(unprintable)");
		return;
	}
	if (strlen(t) > 60)
		snprintf(buf, len, "%.57s...", t);
	else
		snprintf(buf, len, "%s", t);
	free(t);
}

static void alternatives(const cJSON *list, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, list) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "$ref");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "description");
		if (cJSON_IsString(r) && !d)
			d = cJSON_GetObjectItemCaseSensitive(resolve(r->valuestring),
							     "description");
		if (!cJSON_IsString(d) || n + 4 >= len)
			continue;
		int w = snprintf(buf + n, len - n, "%s%s", n ? " | " : "", d->valuestring);
		if (w < 0)
			break;
		n = n + (size_t)w < len ? n + (size_t)w : len - 1;
	}
}

static unsigned validate_object(struct vctx *c, const cJSON *s, const cJSON *v)
{
	unsigned bad = 0;
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
	const cJSON *pprops = cJSON_GetObjectItemCaseSensitive(s, "patternProperties");
	const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
	const cJSON *k;
	cJSON_ArrayForEach (k, req) {
		if (!cJSON_GetObjectItemCaseSensitive(v, k->valuestring)) {
			size_t old = path_push_key(&c->path, k->valuestring);
			failure(c, "required property is missing");
			path_pop(&c->path, old);
			if (!c->report)
				return 1;
			bad++;
		}
	}
	const cJSON *m;
	cJSON_ArrayForEach (m, v) {
		size_t old = path_push_key(&c->path, m->string);
		bool matched = false;
		const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
		if (ps) {
			matched = true;
			bad += validate(c, ps, m);
		}
		const cJSON *pp;
		cJSON_ArrayForEach (pp, pprops) {
			if (rx_match(pp->string, m->string)) {
				matched = true;
				bad += validate(c, pp, m);
			}
		}
		if (!matched && addl) {
			if (cJSON_IsFalse(addl)) {
				failure(c, "property not allowed here");
				bad++;
			} else if (!cJSON_IsTrue(addl)) {
				bad += validate(c, addl, m);
			}
		}
		path_pop(&c->path, old);
		if (bad && !c->report)
			return bad;
	}
	return bad;
}

static unsigned validate(struct vctx *c, const cJSON *s, const cJSON *v)
{
	if (cJSON_IsTrue(s))
		return 0;
	if (cJSON_IsFalse(s)) {
		failure(c, "no value allowed here");
		return 1;
	}
	if (++c->depth > 200)
		die("schema recursion deeper than 200 (a $ref loop?)");
	unsigned bad = 0;
	char got[80];
#define STOP_IF_SILENT()               \
	do {                           \
		if (bad && !c->report) \
			goto out;      \
	} while (0)

	const cJSON *k;
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "$ref"))) {
		bad += validate(c, resolve(k->valuestring), v);
		STOP_IF_SILENT();
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "type"))) {
		bool ok = false;
		char want[128] = "";
		if (cJSON_IsString(k)) {
			ok = type_is(v, k->valuestring);
			snprintf(want, sizeof(want), "%s", k->valuestring);
		} else {
			const cJSON *t;
			cJSON_ArrayForEach (t, k) {
				ok = ok || type_is(v, t->valuestring);
				size_t n = strlen(want);
				snprintf(want + n, sizeof(want) - n, "%s%s", n ? " or " : "",
					 t->valuestring);
			}
		}
		if (!ok) {
			failure(c, "expected %s, got %s", want, kind_of(v));
			bad++;
			goto out; /* the other keywords would only repeat it */
		}
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "const")) && !cJSON_Compare(k, v, true)) {
		char want[80];
		describe_value(k, want, sizeof(want));
		describe_value(v, got, sizeof(got));
		failure(c, "expected %s, got %s", want, got);
		bad++;
		STOP_IF_SILENT();
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
		bool ok = false;
		const cJSON *e;
		cJSON_ArrayForEach (e, k)
			ok = ok || cJSON_Compare(e, v, true);
		if (!ok) {
			char *want = cJSON_PrintUnformatted(k);
			describe_value(v, got, sizeof(got));
			failure(c, "expected one of %s, got %s", want ? want : "the enum", got);
			free(want);
			bad++;
			STOP_IF_SILENT();
		}
	}
	if (cJSON_IsNumber(v)) {
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "minimum")) &&
		    v->valuedouble < k->valuedouble) {
			failure(c, "%g is less than the minimum %g", v->valuedouble,
				k->valuedouble);
			bad++;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "maximum")) &&
		    v->valuedouble > k->valuedouble) {
			failure(c, "%g is greater than the maximum %g", v->valuedouble,
				k->valuedouble);
			bad++;
		}
		STOP_IF_SILENT();
	}
	if (cJSON_IsString(v)) {
		size_t len = utf8_length(v->valuestring);
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "minLength")) &&
		    len < (size_t)k->valuedouble) {
			failure(c, "string shorter than %g characters", k->valuedouble);
			bad++;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxLength")) &&
		    len > (size_t)k->valuedouble) {
			failure(c, "string longer than %g characters", k->valuedouble);
			bad++;
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "pattern")) &&
		    !rx_match(k->valuestring, v->valuestring)) {
			describe_value(v, got, sizeof(got));
			failure(c, "%s does not match %s", got, k->valuestring);
			bad++;
		}
		STOP_IF_SILENT();
	}
	if (cJSON_IsArray(v)) {
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "minItems")) &&
		    (double)cJSON_GetArraySize(v) < k->valuedouble) {
			failure(c, "fewer than %g items", k->valuedouble);
			bad++;
			STOP_IF_SILENT();
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) &&
		    (double)cJSON_GetArraySize(v) > k->valuedouble) {
			failure(c, "more than %g items", k->valuedouble);
			bad++;
			STOP_IF_SILENT();
		}
		if ((k = cJSON_GetObjectItemCaseSensitive(s, "items"))) {
			int i = 0;
			const cJSON *e;
			cJSON_ArrayForEach (e, v) {
				size_t old = path_push_index(&c->path, i++);
				bad += validate(c, k, e);
				path_pop(&c->path, old);
				STOP_IF_SILENT();
			}
		}
	}
	if (cJSON_IsObject(v)) {
		bad += validate_object(c, s, v);
		STOP_IF_SILENT();
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "allOf"))) {
		const cJSON *e;
		cJSON_ArrayForEach (e, k) {
			bad += validate(c, e, v);
			STOP_IF_SILENT();
		}
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "anyOf"))) {
		bool ok = false;
		const cJSON *e;
		cJSON_ArrayForEach (e, k)
			ok = ok || satisfies(c, e, v);
		if (!ok) {
			char alt[400];
			alternatives(k, alt, sizeof(alt));
			describe_value(v, got, sizeof(got));
			failure(c, "%s matches none of anyOf%s%s%s", got, alt[0] ? " (" : "", alt,
				alt[0] ? ")" : "");
			bad++;
			STOP_IF_SILENT();
		}
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
		int n = 0, total = 0;
		const cJSON *e;
		cJSON_ArrayForEach (e, k) {
			total++;
			n += satisfies(c, e, v);
		}
		if (n != 1) {
			char alt[400];
			alternatives(k, alt, sizeof(alt));
			failure(c,
				"matches %d of oneOf's %d alternatives, expected exactly 1%s%s%s",
				n, total, alt[0] ? " (" : "", alt, alt[0] ? ")" : "");
			bad++;
			STOP_IF_SILENT();
		}
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(s, "if"))) {
		const cJSON *branch =
			cJSON_GetObjectItemCaseSensitive(s, satisfies(c, k, v) ? "then" : "else");
		if (branch)
			bad += validate(c, branch, v);
	}
out:
	c->depth--;
	return bad;
#undef STOP_IF_SILENT
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(void)
{
	fputs("usage: schema-check SCHEMA.json FILE.jsonl\n"
	      "       schema-check SCHEMA.json --json FILE.json\n",
	      stderr);
	exit(2);
}

static void check_document(const char *text, const char *label)
{
	line_label = label;
	struct vctx c = {.report = true};
	strcpy(c.path.buf, "$");
	c.path.len = 1;
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
	if (!doc) {
		size_t off = end ? (size_t)(end - text) : 0;
		failure(&c, "invalid JSON near byte %zu", off + 1);
		return;
	}
	validate(&c, root_schema, doc);
	cJSON_Delete(doc);
}

int main(int argc, char **argv)
{
	const char *files[2] = {NULL, NULL};
	int nfiles = 0;
	bool one_doc = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			one_doc = true;
		else if (nfiles < 2 && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			files[nfiles++] = argv[i];
		else
			usage();
	}
	if (nfiles != 2)
		usage();

	char *schema_text = read_all(files[0]);
	const char *end = NULL;
	cJSON *schema = cJSON_ParseWithOpts(schema_text, &end, 1);
	if (!schema)
		die("%s: invalid JSON near byte %zu", files[0],
		    end ? (size_t)(end - schema_text) + 1 : (size_t)0);
	root_schema = schema;
	check_schema(schema, "#");

	char *text = read_all(files[1]);
	unsigned long docs = 0;
	if (one_doc) {
		check_document(text, "1");
		docs = 1;
	} else {
		unsigned long lineno = 0;
		for (char *line = text; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			lineno++;
			if (line[strspn(line, " \t\r")]) {
				char label[24];
				snprintf(label, sizeof(label), "%lu", lineno);
				check_document(line, label);
				docs++;
			}
			line = nl ? nl + 1 : NULL;
		}
	}
	free(text);
	cJSON_Delete(schema);
	free(schema_text);
	if (failures)
		return 1;
	printf("ok %lu lines\n", docs);
	return 0;
}
