/* fuzz_event.c: libFuzzer harness for bindguard's event encoder (shim/event.c)
 * through the real sink (shim/sink.c) writing to a file.
 *
 * The input picks an event and fills it (the byte layout is below and in
 * mkseeds.py): bind/listen events with arbitrary addresses, ports, bucket
 * states, up to BG_EVENT_OWNERS owners with arbitrary TCP states and comm
 * bytes; config_error with an arbitrary message; model_divergence; start with
 * arbitrary strings and config JSON text; stop with arbitrary counters; and
 * an arbitrary process name.
 * After each call the file must hold exactly one line that:
 * - ends with '\n' and has no other byte below 0x20 (no raw newline, no NUL);
 * - is valid UTF-8 (RFC 8259: JSON exchanged between systems is UTF-8);
 * - parses as one JSON object (cJSON), whose fields round-trip: event.action,
 *   outcome, the port, the address (parsed back), fd, mode/decision/hazard,
 *   bucket states, each owner's pid/name/state/endpoints/uid/inode,
 *   owners_omitted, error.code, the config_error message, the start event's
 *   strings and config;
 * and the sink must count it written, not dropped.
 * Strings that are not valid UTF-8 on the way in are only required to come
 * out as valid UTF-8; valid ones must come out unchanged (unless the encoder
 * bounds them: process.name and owner names at 63 bytes).
 */
#define _GNU_SOURCE
#include "event.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- input reader: fixed-size fields; strings are a length byte and bytes ---- */

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint16_t u16(struct rd *r)
{
	uint16_t v = u8(r);
	return (uint16_t)(v | u8(r) << 8);
}

static uint32_t u32(struct rd *r)
{
	uint32_t v = u16(r);
	return v | (uint32_t)u16(r) << 16;
}

static uint64_t u64(struct rd *r)
{
	uint64_t v = u32(r);
	return v | (uint64_t)u32(r) << 32;
}

static void bytes(struct rd *r, void *dst, size_t len)
{
	size_t k = len < r->n ? len : r->n;
	memcpy(dst, r->p, k);
	memset((char *)dst + k, 0, len - k);
	r->p += k;
	r->n -= k;
}

/* A length byte (taken modulo max + 1), then that many bytes; NUL-terminated. */
static void str(struct rd *r, char *dst, size_t max)
{
	size_t len = u8(r) % (max + 1);
	bytes(r, dst, len);
	dst[len] = 0;
}

/* The rest of the input as a string. */
static char *rest(struct rd *r)
{
	char *s = malloc(r->n + 1);
	if (!s)
		abort();
	memcpy(s, r->p, r->n);
	s[r->n] = 0;
	r->p += r->n;
	r->n = 0;
	return s;
}

/* ---- failure ---------------------------------------------------------------- */

static const char *cur_line; /* the line under test, for the report */

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_event: property broken: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  line: %.600s\n", cur_line ? cur_line : "(none)");
	abort();
}

#define CHECK(cond, ...)                  \
	do {                              \
		if (!(cond))              \
			die(__VA_ARGS__); \
	} while (0)

/* ---- checks ---------------------------------------------------------------- */

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return false;
		i += k + 1;
	}
	return true;
}

static bool valid_str(const char *s)
{
	return utf8_valid((const unsigned char *)s, strlen(s));
}

static const cJSON *get(const cJSON *o, const char *path)
{
	char key[64];
	const cJSON *v = o;
	while (*path) {
		size_t k = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)k, path);
		CHECK(cJSON_IsObject(v), "\"%s\": parent of %s is not an object", path, key);
		v = cJSON_GetObjectItemCaseSensitive(v, key);
		CHECK(v, "no field %s", key);
		path += k + (path[k] == '.');
	}
	return v;
}

static const char *gstr(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);
	CHECK(cJSON_IsString(v), "%s is not a string", path);
	return v->valuestring;
}

static double gnum(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);
	CHECK(cJSON_IsNumber(v), "%s is not a number", path);
	return v->valuedouble;
}

static bool gbool(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);
	CHECK(cJSON_IsBool(v), "%s is not a boolean", path);
	return cJSON_IsTrue(v);
}

static void want_str(const cJSON *o, const char *path, const char *want)
{
	const char *got = gstr(o, path);
	CHECK(strcmp(got, want) == 0, "%s is \"%s\", expected \"%s\"", path, got, want);
}

/* A string passed in: unchanged if it was valid UTF-8 (and under max bytes). */
static void want_in(const cJSON *o, const char *path, const char *in, size_t max)
{
	if (valid_str(in) && strlen(in) < max)
		want_str(o, path, in);
	else
		gstr(o, path);
}

/* "ADDR:PORT", "[V6]:PORT": the address and port parse back to what went in */
static void want_endpoint(const char *s, uint8_t family, const struct in6_addr *a, uint16_t port)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	bool v6 = family == AF_INET6 && memcmp(a->s6_addr, mapped, 12) != 0;
	char buf[80];
	CHECK(strlen(s) < sizeof(buf), "endpoint \"%s\" too long", s);
	strcpy(buf, s);
	char *colon = strrchr(buf, ':');
	CHECK(colon, "endpoint \"%s\" has no port", s);
	*colon = 0;
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	CHECK(!*end && p == port, "endpoint \"%s\": port %u expected", s, port);
	uint8_t got[16];
	if (v6) {
		size_t n = strlen(buf);
		CHECK(buf[0] == '[' && buf[n - 1] == ']', "endpoint \"%s\": no brackets", s);
		buf[n - 1] = 0;
		CHECK(inet_pton(AF_INET6, buf + 1, got) == 1 && memcmp(got, a->s6_addr, 16) == 0,
		      "endpoint \"%s\": address differs", s);
	} else {
		CHECK(inet_pton(AF_INET, buf, got) == 1 && memcmp(got, &a->s6_addr[12], 4) == 0,
		      "endpoint \"%s\": address differs", s);
	}
}

static void want_ip(const char *s, uint8_t family, const struct in6_addr *a)
{
	char ep[80];
	snprintf(ep, sizeof(ep), "%s%s%s:1", family == AF_INET6 && !bg_addr_is_mapped(a) ? "[" : "",
		 s, family == AF_INET6 && !bg_addr_is_mapped(a) ? "]" : "");
	want_endpoint(ep, family, a, 1);
}

/* Input and output JSON agree. Numbers: cJSON prints 15 significant digits
 * when they read back within its own tolerance (compare_double: DBL_EPSILON
 * relative), and a non-finite one as null. */
static bool same_json(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsNumber(a)) {
		double x = a->valuedouble, y = b->valuedouble;
		if (!isfinite(x))
			return cJSON_IsNull(b);
		return cJSON_IsNumber(b) && fabs(x - y) <= fmax(fabs(x), fabs(y)) * DBL_EPSILON;
	}
	if ((a->type & 0xff) != (b->type & 0xff))
		return false;
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
		const cJSON *x = a->child, *y = b->child;
		for (; x && y; x = x->next, y = y->next)
			if ((cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) ||
			    !same_json(x, y))
				return false;
		return !x && !y;
	}
	return true;
}

static int depth(const cJSON *v)
{
	int d = 0;
	for (const cJSON *c = v->child; c; c = c->next) {
		int k = depth(c);
		d = k > d ? k : d;
	}
	return d + 1;
}

/* ---- the sink's file -------------------------------------------------------- */

static char dir[256], path[300];
static int rfd = -1;

static void cleanup(void)
{
	if (path[0])
		unlink(path);
	if (dir[0])
		rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bg_fuzz_event.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_event: mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	atexit(cleanup);
	bg_sink_init(path, true);
	rfd = open(path, O_RDWR | O_CLOEXEC);
	if (rfd < 0) {
		perror("fuzz_event: the sink did not create its file");
		exit(1);
	}
	return 0;
}

/* The one line the last event wrote; the file is emptied for the next one. */
static char *take_line(size_t *len, struct bg_sink_stats before)
{
	struct stat st;
	CHECK(fstat(rfd, &st) == 0, "fstat: %s", strerror(errno));
	struct bg_sink_stats after = bg_sink_stats();
	CHECK(after.written == before.written + 1 && after.dropped == before.dropped,
	      "sink counted %llu written, %llu dropped (expected one written)",
	      (unsigned long long)(after.written - before.written),
	      (unsigned long long)(after.dropped - before.dropped));
	char *line = malloc((size_t)st.st_size + 1);
	CHECK(line, "out of memory");
	ssize_t n = pread(rfd, line, (size_t)st.st_size, 0);
	CHECK(n == st.st_size, "pread");
	line[n] = 0;
	CHECK(ftruncate(rfd, 0) == 0, "ftruncate: %s", strerror(errno));
	*len = (size_t)n;
	cur_line = line;
	return line;
}

/* One line, '\n' only at its end, no control bytes, UTF-8, one JSON object;
 * the envelope's fields. Returns the parsed object. */
static cJSON *check_line(char *line, size_t len, const char *action, const char *pname)
{
	CHECK(len >= 2 && line[len - 1] == '\n', "no line, or no '\\n' at its end (%zu bytes)",
	      len);
	for (size_t i = 0; i + 1 < len; i++)
		CHECK((unsigned char)line[i] >= 0x20, "byte 0x%02x at offset %zu of %zu",
		      (unsigned char)line[i], i, len);
	CHECK(utf8_valid((const unsigned char *)line, len), "line is not valid UTF-8");
	line[len - 1] = 0;
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithOpts(line, &end, 1);
	CHECK(o, "line does not parse as JSON near offset %td", end ? end - line : -1);
	CHECK(cJSON_IsObject(o), "line is not a JSON object");
	line[len - 1] = '\n';

	const char *ts = gstr(o, "@timestamp");
	int frac = -1;
	unsigned y, mo, d, h, mi, s;
	CHECK(sscanf(ts, "%4u-%2u-%2uT%2u:%2u:%2u.%*6uZ%n", &y, &mo, &d, &h, &mi, &s, &frac) == 6 &&
		      frac == 27 && strlen(ts) == 27,
	      "@timestamp \"%s\"", ts);
	want_str(o, "event.action", action);
	const char *lvl = gstr(o, "log.level");
	CHECK(!strcmp(lvl, "debug") || !strcmp(lvl, "info") || !strcmp(lvl, "warning") ||
		      !strcmp(lvl, "error"),
	      "log.level \"%s\"", lvl);
	CHECK(gnum(o, "process.pid") == getpid(), "process.pid");
	want_in(o, "process.name", pname, 64);
	gnum(o, "process.thread.id");
	return o;
}

/* ---- the events ---------------------------------------------------------------- */

static void family_addr(struct rd *r, uint8_t *family, struct in6_addr *a)
{
	uint8_t f = u8(r);
	*family = f & 1 ? AF_INET6 : AF_INET;
	bytes(r, a, sizeof(*a));
	if (f & 2) { /* as the shim stores IPv4: v4-mapped */
		memset(a->s6_addr, 0, 10);
		a->s6_addr[10] = a->s6_addr[11] = 0xff;
	}
}

static const char *pick(struct rd *r, const char *const *names, unsigned n)
{
	return names[u8(r) % n];
}

static const char *const actions[] = {"bind", "listen"};
static const char *const profiles[] = {"legacy-2.6", "classic", "release"};
static const char *const views[] = {"sock_diag", "proc", "none"};
static const char *const view_errors[] = {"EMFILE", "ENOMEM", "EPERM"};

static void fuzz_bind(struct rd *r, const char *pname)
{
	static struct bg_bind_event e; /* static, cleared each time */
	static struct bg_owner_info owner_buf[BG_EVENT_OWNERS];
	memset(&e, 0, sizeof(e));
	memset(owner_buf, 0, sizeof(owner_buf));
	e.owners = owner_buf;
	e.action = pick(r, actions, 2);
	e.fd = (int)u32(r);
	family_addr(r, &e.family, &e.addr);
	e.port = u16(r);
	uint8_t fl = u8(r);
	e.port_auto = fl & 1;
	e.ephemeral = fl & 2;
	e.tb_exists = fl & 4;
	e.conflict_predicted = fl & 8;
	e.unmodelled = fl & 16;
	e.mode = (enum bg_mode)(u8(r) % 3);
	e.decision = (enum bg_decision)(u8(r) % 4);
	e.hazard = (enum bg_hazard)(u8(r) % 3);
	e.remedy = (enum bg_remedy)(u8(r) % 3);
	e.range_low = u16(r);
	e.range_high = u16(r);
	e.profile = pick(r, profiles, 3);
	e.view = pick(r, views, 3);
	if (fl & 16) {
		e.view_error = pick(r, view_errors, 3);
		e.blind = fl & 32;
	}
	e.before.fastreuse = (int8_t)u8(r);
	e.before.fastreuseport = (int8_t)u8(r);
	e.after.fastreuse = (int8_t)u8(r);
	e.after.fastreuseport = (int8_t)u8(r);
	e.result = (int)u32(r);
	e.err = (int)u32(r);
	e.nowners = u8(r) % (BG_EVENT_OWNERS + 1);
	e.owners_total = e.nowners + (u8(r) & 1 ? u32(r) % 100000 : 0);
	for (unsigned i = 0; i < e.nowners; i++) {
		struct bg_owner_info *w = &e.owners[i];
		w->pid = (pid_t)u32(r);
		str(r, w->comm, sizeof(w->comm) - 1);
		family_addr(r, &w->family, &w->laddr);
		bytes(r, &w->raddr, sizeof(w->raddr));
		if (bg_addr_is_mapped(&w->laddr)) {
			memset(w->raddr.s6_addr, 0, 10);
			w->raddr.s6_addr[10] = w->raddr.s6_addr[11] = 0xff;
		}
		w->state = u8(r);
		w->lport = u16(r);
		w->rport = u16(r);
		w->connect_bound = (enum bg_connect_bound)(u8(r) % 3);
		w->uid = u32(r);
		w->inode = u32(r);
	}
	enum bg_severity sev = (enum bg_severity)(u8(r) % 4);

	struct bg_sink_stats before = bg_sink_stats();
	bg_event_bind(&e, sev);
	size_t len;
	char *line = take_line(&len, before);
	cJSON *o = check_line(line, len, e.action, pname);

	want_str(o, "event.kind", e.hazard != BG_HAZARD_NONE ? "alert" : "event");
	want_str(o, "event.outcome", e.result == 0 ? "success" : "failure");
	const char *msg = gstr(o, "message");
	CHECK(strncmp(msg, e.action, strlen(e.action)) == 0 && msg[strlen(e.action)] == ' ',
	      "message \"%s\" does not start with the action", msg);
	want_ip(gstr(o, "source.ip"), e.family, &e.addr);
	CHECK(gnum(o, "source.port") == e.port, "source.port");
	want_str(o, "bindguard.mode", bg_mode_name(e.mode));
	want_str(o, "bindguard.decision", bg_decision_name(e.decision));
	want_str(o, "bindguard.hazard", bg_hazard_name(e.hazard));
	want_str(o, "bindguard.profile", e.profile);
	want_str(o, "bindguard.view", e.view);
	if (e.view_error)
		want_str(o, "bindguard.view_error", e.view_error);
	else
		CHECK(!cJSON_GetObjectItemCaseSensitive(get(o, "bindguard"), "view_error"),
		      "bindguard.view_error present without an error");
	CHECK(gnum(o, "bindguard.fd") == e.fd, "bindguard.fd");
	CHECK(gbool(o, "bindguard.port_auto") == e.port_auto, "port_auto");
	CHECK(gbool(o, "bindguard.ephemeral") == e.ephemeral, "ephemeral");
	static const char *const remedies[] = {NULL, "applied", "withdrawn"};
	const cJSON *rj = cJSON_GetObjectItemCaseSensitive(get(o, "bindguard"), "remedy");
	if (e.remedy == BG_REMEDY_NONE)
		CHECK(!rj, "bindguard.remedy present without a remedy");
	else
		want_str(o, "bindguard.remedy", remedies[e.remedy]);
	if (e.remedy == BG_REMEDY_APPLIED || e.unmodelled) {
		/* no port taken: no bucket, no owners, no advice */
		CHECK(cJSON_IsNull(get(o, "bindguard.bucket")),
		      "bucket not null with no port taken");
		CHECK(cJSON_GetArraySize(get(o, "bindguard.owners")) == 0,
		      "owners with no port taken");
		cJSON_Delete(o);
		free(line);
		return;
	}
	const cJSON *adv = cJSON_GetObjectItemCaseSensitive(get(o, "bindguard"), "advice");
	CHECK(!adv == (e.hazard == BG_HAZARD_NONE), "advice present: %d, hazard %d", adv != NULL,
	      e.hazard);
	const cJSON *a1;
	cJSON_ArrayForEach (a1, adv)
		CHECK(cJSON_IsString(a1) && a1->valuestring[0], "an empty advice entry");
	CHECK(!adv || cJSON_GetArraySize(adv) >= 1, "empty advice");
	const cJSON *bk = get(o, "bindguard.bucket");
	if (e.tb_exists) {
		CHECK(gnum(bk, "before.fastreuse") == e.before.fastreuse &&
			      gnum(bk, "before.fastreuseport") == e.before.fastreuseport,
		      "bucket.before");
	} else {
		CHECK(cJSON_IsNull(get(bk, "before")), "bucket.before is not null");
	}
	CHECK(gnum(bk, "after.fastreuse") == e.after.fastreuse &&
		      gnum(bk, "after.fastreuseport") == e.after.fastreuseport,
	      "bucket.after");
	CHECK(gbool(bk, "conflict_predicted") == e.conflict_predicted, "conflict_predicted");

	const cJSON *owners = get(o, "bindguard.owners");
	CHECK(cJSON_IsArray(owners) && cJSON_GetArraySize(owners) == (int)e.nowners,
	      "owners: %d entries, %u expected", cJSON_GetArraySize(owners), e.nowners);
	unsigned i = 0;
	const cJSON *j;
	cJSON_ArrayForEach (j, owners) {
		const struct bg_owner_info *w = &e.owners[i++];
		if (w->pid > 0)
			CHECK(gnum(j, "pid") == w->pid, "owners[%u].pid", i - 1);
		else
			CHECK(cJSON_IsNull(get(j, "pid")), "owners[%u].pid not null", i - 1);
		if (w->comm[0])
			want_in(j, "name", w->comm, sizeof(w->comm));
		else
			CHECK(!cJSON_GetObjectItemCaseSensitive(j, "name"), "owners[%u].name",
			      i - 1);
		want_str(j, "state", bg_tcp_state_name(w->state));
		want_endpoint(gstr(j, "local"), w->family, &w->laddr, w->lport);
		want_endpoint(gstr(j, "remote"), w->family, &w->raddr, w->rport);
		static const char *const cb[] = {"no", "yes", "inferred"};
		want_str(j, "connect_bound", cb[w->connect_bound]);
		CHECK(gnum(j, "uid") == w->uid && gnum(j, "inode") == w->inode, "owners[%u] ids",
		      i - 1);
	}
	const cJSON *om = cJSON_GetObjectItemCaseSensitive(get(o, "bindguard"), "owners_omitted");
	if (e.owners_total > e.nowners)
		CHECK(cJSON_IsNumber(om) && om->valuedouble == e.owners_total - e.nowners,
		      "owners_omitted");
	else
		CHECK(!om, "owners_omitted present with nothing omitted");
	if (e.result < 0)
		want_str(o, "error.code", bg_errno_name(e.err));
	else
		CHECK(!cJSON_GetObjectItemCaseSensitive(o, "error"), "error on success");
	cJSON_Delete(o);
	free(line);
}

static void fuzz_config_error(struct rd *r, const char *pname)
{
	char *message = rest(r);
	struct bg_sink_stats before = bg_sink_stats();
	bg_event_config_error(message);
	size_t len;
	char *line = take_line(&len, before);
	cJSON *o = check_line(line, len, "config_error", pname);
	want_str(o, "event.outcome", "failure");
	want_in(o, "error.message", message, SIZE_MAX);
	if (valid_str(message) && strlen(message) < 800) {
		char full[900];
		snprintf(full, sizeof(full), "%s; running in audit mode with defaults", message);
		want_str(o, "message", full);
	} else {
		gstr(o, "message");
	}
	cJSON_Delete(o);
	free(line);
	free(message);
}

static void fuzz_divergence(struct rd *r, const char *pname)
{
	const char *action = pick(r, actions, 2);
	uint8_t family;
	struct in6_addr a;
	family_addr(r, &family, &a);
	uint16_t port = u16(r);
	bool predicted = u8(r) & 1;
	int result = (int)u32(r), err = (int)u32(r);
	struct bg_sink_stats before = bg_sink_stats();
	bg_event_divergence(action, family, &a, port, predicted, result, err);
	size_t len;
	char *line = take_line(&len, before);
	cJSON *o = check_line(line, len, "model_divergence", pname);
	want_str(o, "event.outcome", result == 0 ? "success" : "failure");
	want_str(o, "bindguard.predicted", predicted ? "EADDRINUSE" : "success");
	want_str(o, "bindguard.kernel", result == 0 ? "success" : bg_errno_name(err));
	const char *msg = gstr(o, "message");
	CHECK(strncmp(msg, action, strlen(action)) == 0, "message \"%s\"", msg);
	if (result < 0)
		want_str(o, "error.code", bg_errno_name(err));
	cJSON_Delete(o);
	free(line);
}

static void fuzz_start(struct rd *r, const char *pname)
{
	char version[64], profile[64], kernel[128], view[64];
	str(r, version, sizeof(version) - 1);
	str(r, profile, sizeof(profile) - 1);
	str(r, kernel, sizeof(kernel) - 1);
	str(r, view, sizeof(view) - 1);
	char source[16], by_uname[32], note[320];
	str(r, source, sizeof(source) - 1);
	str(r, by_uname, sizeof(by_uname) - 1);
	str(r, note, sizeof(note) - 1);
	bool disagree = u8(r) & 1;
	bool null_config = u8(r) == 0xff;
	char *config = rest(r);
	cJSON *want_cfg = cJSON_Parse(null_config ? "{}" : config);
	if (want_cfg && depth(want_cfg) > 900) { /* the shim's own config is 4 deep */
		cJSON_Delete(want_cfg);
		free(config);
		return;
	}
	struct bg_sink_stats before = bg_sink_stats();
	struct bg_start_info si = {version, profile,  kernel,	view, null_config ? NULL : config,
				   source,  by_uname, disagree, note};
	bg_event_start(&si);
	size_t len;
	char *line = take_line(&len, before);
	cJSON *o = check_line(line, len, "start", pname);
	CHECK(!cJSON_GetObjectItemCaseSensitive(get(o, "event"), "outcome"), "start has outcome");
	want_in(o, "bindguard.version", version, SIZE_MAX);
	want_in(o, "bindguard.profile", profile, SIZE_MAX);
	want_in(o, "bindguard.kernel", kernel, SIZE_MAX);
	want_in(o, "bindguard.view", view, SIZE_MAX);
	want_in(o, "bindguard.profile_choice.source", source, SIZE_MAX);
	want_in(o, "bindguard.profile_choice.by_uname", by_uname, SIZE_MAX);
	gstr(o, "message");
	const cJSON *got = cJSON_GetObjectItemCaseSensitive(get(o, "bindguard"), "config");
	CHECK(!want_cfg == !got, "bindguard.config %s, expected %s", got ? "present" : "absent",
	      want_cfg ? "present" : "absent");
	if (want_cfg && utf8_valid((const unsigned char *)config, strlen(config)))
		CHECK(same_json(want_cfg, got), "bindguard.config differs from the input");
	cJSON_Delete(want_cfg);
	cJSON_Delete(o);
	free(line);
	free(config);
}

static void fuzz_stop(struct rd *r, const char *pname)
{
	struct bg_counters c = {0};
	struct bg_self_check_result sc = {0};
	c.binds = u64(r);
	c.hazards = u64(r);
	c.blocked = u32(r);
	c.divergences = u32(r);
	c.sockets = u32(r);
	c.remedies = u32(r);
	if (u8(r) & 1) { /* the self-check's totals, as with BINDGUARD_SELF_CHECK=1 */
		sc.fds = u32(r);
		sc.sockets = u32(r);
		sc.mismatches = u32(r);
		sc.unverified = u32(r);
		sc.untracked = u32(r);
		sc.listening = u32(r);
		sc.connected = u32(r);
		c.self_check = &sc;
	}
	struct bg_sink_stats before = bg_sink_stats();
	bg_event_stop(&c);
	size_t len;
	char *line = take_line(&len, before);
	cJSON *o = check_line(line, len, "stop", pname);
	const cJSON *k = get(o, "bindguard.counters");
	const struct {
		const char *name;
		uint64_t v;
	} want[] = {{"binds", c.binds},
		    {"hazards", c.hazards},
		    {"blocked", c.blocked},
		    {"divergences", c.divergences},
		    {"sockets", c.sockets},
		    {"remedies", c.remedies},
		    {"events_written", before.written}, /* as counted before this one */
		    {"events_dropped", before.dropped}};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		double got = gnum(k, want[i].name), x = (double)want[i].v;
		CHECK(fabs(got - x) <= x * DBL_EPSILON, "counters.%s: %.17g, expected %llu",
		      want[i].name, got, (unsigned long long)want[i].v);
	}
	const cJSON *scj = cJSON_GetObjectItemCaseSensitive(get(o, "bindguard"), "self_check");
	CHECK(!scj == !c.self_check, "self_check present: %d, expected %d", scj != NULL,
	      c.self_check != NULL);
	if (scj && c.self_check) {
		CHECK(gnum(scj, "fds") == (double)sc.fds, "self_check.fds");
		CHECK(gnum(scj, "mismatches") == (double)sc.mismatches, "self_check.mismatches");
		CHECK(gnum(scj, "connected") == (double)sc.connected, "self_check.connected");
	}
	cJSON_Delete(o);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = {data, size};
	cur_line = NULL;
	uint8_t kind = u8(&r);
	char pname[96];
	str(&r, pname, sizeof(pname) - 1);
	bg_event_process(getpid(), pname);
	switch (kind % 5) {
	case 0:
		fuzz_bind(&r, pname);
		break;
	case 1:
		fuzz_config_error(&r, pname);
		break;
	case 2:
		fuzz_divergence(&r, pname);
		break;
	case 3:
		fuzz_start(&r, pname);
		break;
	case 4:
		fuzz_stop(&r, pname);
		break;
	}
	return 0;
}
