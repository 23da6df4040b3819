/* report.c: `bindguard report`: a summary of the shim's JSON-lines events,
 * read from files (plain or gzip, told apart by the gzip magic bytes) or
 * stdin: time span, events by action, hazard x decision, top processes,
 * top ports, and the half-closed owners most often involved.
 * The shim names only its own process's sockets (a /proc walk inside the
 * application's bind() cost seconds on a busy host): other processes'
 * owners come with pid null and their inode, and the report names them
 * after reading, with one walk of /proc/[pid]/fd for all of them (procfd.c):
 * the process holding each socket now, said to be named at report time.
 * Never: stop at a bad line; malformed lines are counted, skipped and named.
 * Never: end an input early in silence; that is an error (exit 5).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cmd.h"
#include "procfd.h"

static void report_usage(FILE *f)
{
	fprintf(f, "usage: bindguard report [--json] [--top N] [FILE...|-]\n"
		   "\n"
		   "Summarise bindguard events (JSON lines, as BINDGUARD_LOG writes them) from\n"
		   "FILEs, plain or gzip-compressed, or from standard input (no FILE, or -):\n"
		   "time span, events by action, binds by hazard and decision, top processes,\n"
		   "top ports, and the half-closed owners most often involved. Owners the\n"
		   "events leave unnamed (another process's socket: its inode only) are named\n"
		   "at report time, by the process holding that socket now (run as root to\n"
		   "see every process). Lines that are not bindguard events (NUL bytes,\n"
		   "longer than 16 MiB, not JSON) are counted and skipped. An input that\n"
		   "cannot be read to its end is an error.\n"
		   "\n"
		   "  --json    the summary as one JSON object\n"
		   "  --top N   rows in each top list (default 10)\n"
		   "\n"
		   "exit codes: 0 ok; 2 usage error; 5 an input could not be read\n");
}

/* ---- a small string -> counters table ------------------------------------------ */

struct tally {
	char *key;
	unsigned long count, hazards, pids;
};

struct table {
	struct tally *slots;
	size_t size, used;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The entry for key, created at zero; *fresh says whether it was new. */
static struct tally *table_get(struct table *t, const char *key, bool *fresh)
{
	if (t->used * 2 >= t->size) {
		size_t size = t->size ? t->size * 2 : 64;
		struct tally *slots = calloc(size, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < t->size; i++) {
			if (!t->slots[i].key)
				continue;
			size_t j = hash_str(t->slots[i].key) & (size - 1);
			while (slots[j].key)
				j = (j + 1) & (size - 1);
			slots[j] = t->slots[i];
		}
		free(t->slots);
		t->slots = slots;
		t->size = size;
	}
	size_t j = hash_str(key) & (t->size - 1);
	while (t->slots[j].key) {
		if (strcmp(t->slots[j].key, key) == 0) {
			if (fresh)
				*fresh = false;
			return &t->slots[j];
		}
		j = (j + 1) & (t->size - 1);
	}
	t->slots[j].key = strdup(key);
	if (!t->slots[j].key)
		return NULL;
	t->used++;
	if (fresh)
		*fresh = true;
	return &t->slots[j];
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->size; i++)
		free(t->slots[i].key);
	free(t->slots);
}

static int by_count(const void *a, const void *b)
{
	const struct tally *x = *(const struct tally *const *)a,
			   *y = *(const struct tally *const *)b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* The entries, most counted first (ties by key); caller frees. */
static const struct tally **table_sorted(const struct table *t)
{
	const struct tally **v = calloc(t->used + 1, sizeof(*v));
	if (!v)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < t->size; i++)
		if (t->slots[i].key)
			v[n++] = &t->slots[i];
	qsort(v, n, sizeof(*v), by_count);
	return v;
}

/* ---- the summary ------------------------------------------------------------------ */

#define MAX_BAD_SHOWN 10

struct summary {
	unsigned long lines, events, malformed, blank;
	char *bad[MAX_BAD_SHOWN]; /* "FILE:LINE: why" of the first malformed lines */
	unsigned nbad;
	unsigned inputs, gzip_inputs, input_errors;
	char first[40], last[40];
	/* owners: "PID\tNAME\tE" named by the event, "PID\tNAME\tR" at report
	 * time ("-" for no pid); unnamed: inode -> its half-closed events */
	struct table actions, hazard_decision, procs, proc_pids, ports, owners, unnamed;
	bool looked_up; /* the walk ran (some owner was unnamed) */
	int lookup_err; /* its -errno: /proc could not be read */
	struct procfd_stats lookup;
	double lookup_seconds;
};

static void note_bad(struct summary *s, const char *file, unsigned long line, const char *why)
{
	s->malformed++;
	if (s->nbad < MAX_BAD_SHOWN &&
	    asprintf(&s->bad[s->nbad], "%s:%lu: %s", file, line, why) >= 0)
		s->nbad++;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

static bool valid_timestamp(const char *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
	return end && (*end == '.' || *end == 'Z');
}

static bool halfclosed_state(const char *st)
{
	static const char *const names[] = {"CLOSE_WAIT", "FIN_WAIT1", "FIN_WAIT2", "LAST_ACK",
					    "CLOSING"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(st, names[i]) == 0)
			return true;
	return false;
}

static void count(struct table *t, const char *key, bool hazard)
{
	struct tally *e = table_get(t, key, NULL);
	if (!e)
		return;
	e->count++;
	e->hazards += hazard;
}

/* An unnamed owner's inode, 0 when it has none (an orphan, TIME_WAIT, or
 * the shim's model: no inode known). */
static uint64_t owner_inode(const cJSON *ow)
{
	const cJSON *ino = cJSON_GetObjectItemCaseSensitive(ow, "inode");
	if (!cJSON_IsNumber(ino) || ino->valuedouble < 1 || ino->valuedouble > 9007199254740992.0)
		return 0;
	return (uint64_t)ino->valuedouble;
}

static void take_event(struct summary *s, const cJSON *o, const char *file, unsigned long line)
{
	const char *ts = str_at(o, "@timestamp", NULL);
	const char *action = str_at(o, "event", "action");
	if (!ts || !valid_timestamp(ts)) {
		note_bad(s, file, line, "no valid @timestamp");
		return;
	}
	if (!action) {
		note_bad(s, file, line, "no event.action");
		return;
	}
	s->events++;
	if (!s->first[0] || strcmp(ts, s->first) < 0)
		snprintf(s->first, sizeof(s->first), "%s", ts);
	if (strcmp(ts, s->last) > 0)
		snprintf(s->last, sizeof(s->last), "%s", ts);
	count(&s->actions, action, false);

	const cJSON *bg = cJSON_GetObjectItemCaseSensitive(o, "bindguard");
	const char *hazard = str_at(bg, "hazard", NULL);
	const char *decision = str_at(bg, "decision", NULL);
	bool is_guarded = strcmp(action, "bind") == 0 || strcmp(action, "listen") == 0;
	bool is_hazard = hazard && strcmp(hazard, "none") != 0;
	if (is_guarded) {
		char key[96];
		snprintf(key, sizeof(key), "%s\t%s", hazard ? hazard : "none",
			 decision ? decision : "?");
		count(&s->hazard_decision, key, is_hazard);
	}

	const char *name = str_at(o, "process", "name");
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, "process"), "pid");
	if (name) {
		count(&s->procs, name, is_hazard);
		char key[160];
		snprintf(key, sizeof(key), "%s\t%.0f", name,
			 cJSON_IsNumber(pid) ? pid->valuedouble : 0);
		bool fresh = false;
		if (table_get(&s->proc_pids, key, &fresh) && fresh) {
			struct tally *e = table_get(&s->procs, name, NULL);
			if (e)
				e->pids++;
		}
	}

	const cJSON *port = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, "source"), "port");
	if (is_guarded && cJSON_IsNumber(port)) {
		char key[16];
		snprintf(key, sizeof(key), "%d", port->valueint);
		count(&s->ports, key, is_hazard);
	}

	/* the half-closed owners of the port, once per event each */
	const cJSON *owners = cJSON_GetObjectItemCaseSensitive(bg, "owners");
	const cJSON *ow;
	cJSON_ArrayForEach (ow, owners) {
		const char *st = str_at(ow, "state", NULL);
		if (!st || !halfclosed_state(st))
			continue;
		const cJSON *opid = cJSON_GetObjectItemCaseSensitive(ow, "pid");
		const char *oname = str_at(ow, "name", NULL);
		uint64_t ino = owner_inode(ow);
		char key[160];
		if (cJSON_IsNumber(opid)) {
			snprintf(key, sizeof(key), "%.0f\t%s\tE", opid->valuedouble,
				 oname ? oname : "?");
		} else if (ino) {
			/* named after reading, once for the whole log */
			snprintf(key, sizeof(key), "%llu", (unsigned long long)ino);
			count(&s->unnamed, key, is_hazard);
			continue;
		} else {
			snprintf(key, sizeof(key), "-\t(no process)\tE");
		}
		count(&s->owners, key, is_hazard);
	}
}

/* Lines longer than this are counted malformed and skipped without being
 * held in memory (an event is a few KiB). */
#define MAX_LINE (16u << 20)

/* Reads lines by length, not as C strings: a NUL byte is data like any
 * other (crash padding), never the end of a line. */
struct reader {
	gzFile gz;
	char *chunk;
	size_t pos, end;
	char *buf; /* the current line, NUL-terminated after len bytes */
	size_t cap, len;
	bool too_long; /* the line went past MAX_LINE: not held */
	bool out_of_memory;
	int err; /* errno of a failed read */
};

enum { LINE_END, LINE_OK, LINE_ERROR };

static bool line_append(struct reader *r, const char *p, size_t n)
{
	if (r->too_long || r->len + n > MAX_LINE) {
		r->too_long = true;
		return true;
	}
	if (r->len + n + 1 > r->cap) {
		size_t ncap = r->cap ? r->cap : 65536;
		while (ncap < r->len + n + 1)
			ncap *= 2;
		if (ncap > MAX_LINE + 1)
			ncap = MAX_LINE + 1;
		char *b = realloc(r->buf, ncap);
		if (!b) {
			r->out_of_memory = true;
			return false;
		}
		r->buf = b;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = 0;
	return true;
}

/* The next line (its '\n' dropped), LINE_END at the end of the input, or
 * LINE_ERROR when the input or memory fails before it. */
static int next_line(struct reader *r)
{
	r->len = 0;
	r->too_long = false;
	if (r->buf)
		r->buf[0] = 0;
	bool any = false;
	for (;;) {
		if (r->pos == r->end) {
			int n = gzread(r->gz, r->chunk, 1 << 16);
			if (n < 0) {
				r->err = errno;
				return LINE_ERROR;
			}
			if (n == 0)
				return any ? LINE_OK : LINE_END;
			r->pos = 0;
			r->end = (size_t)n;
		}
		any = true;
		const char *p = r->chunk + r->pos;
		size_t avail = r->end - r->pos;
		const char *nl = memchr(p, '\n', avail);
		size_t take = nl ? (size_t)(nl - p) : avail;
		if (!line_append(r, p, take))
			return LINE_ERROR;
		r->pos += take + (nl != NULL);
		if (nl)
			return LINE_OK;
	}
}

static void take_line(struct summary *s, const char *name, unsigned long line, const char *text,
		      size_t len)
{
	while (len && text[len - 1] == '\r')
		len--;
	size_t sp = 0;
	while (sp < len && (text[sp] == ' ' || text[sp] == '\t'))
		sp++;
	if (sp == len) {
		s->blank++;
		return;
	}
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!o || !cJSON_IsObject(o)) {
		note_bad(s, name, line, o ? "not a JSON object" : "not JSON");
	} else {
		const char *stop = text + len;
		while (end && end < stop && (*end == ' ' || *end == '\t'))
			end++;
		if (end && end < stop)
			note_bad(s, name, line, "text after the JSON object");
		else
			take_event(s, o, name, line);
	}
	cJSON_Delete(o);
}

static int read_input(struct summary *s, const char *path)
{
	bool stdin_input = strcmp(path, "-") == 0;
	const char *name = stdin_input ? "(stdin)" : path;
	int fd = stdin_input ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bindguard report: cannot open %s: %s\n", name, strerror(errno));
		return -1;
	}
	/* the gzip magic, 1f 8b; a seekable file is peeked, a pipe is left to
	 * zlib's own check of the same two bytes */
	unsigned char magic[2] = {0, 0};
	bool gzip = false, peeked = false;
	if (lseek(fd, 0, SEEK_CUR) == 0 && pread(fd, magic, 2, 0) == 2) {
		gzip = magic[0] == 0x1f && magic[1] == 0x8b;
		peeked = true;
	}
	struct reader r = {.gz = gzdopen(fd, "rb"), .chunk = malloc(1 << 16)};
	if (!r.gz || !r.chunk) {
		if (r.gz)
			gzclose(r.gz);
		else
			close(fd);
		free(r.chunk);
		fprintf(stderr, "bindguard report: cannot read %s: out of memory\n", name);
		return -1;
	}
	gzbuffer(r.gz, 1 << 17);
	s->inputs++;
	unsigned long line = 0;
	int got;
	while ((got = next_line(&r)) == LINE_OK) {
		line++;
		s->lines++;
		if (r.too_long) {
			note_bad(s, name, line, "longer than 16 MiB");
			continue;
		}
		/* crash padding: the NULs and what they cut short are one malformed
		 * line; an event written after them still counts */
		const char *nul = memrchr(r.buf, 0, r.len);
		if (nul) {
			note_bad(s, name, line, "NUL bytes (crash padding?)");
			size_t after = r.len - (size_t)(nul + 1 - r.buf);
			if (after)
				take_line(s, name, line, nul + 1, after);
			continue;
		}
		take_line(s, name, line, r.buf, r.len);
	}
	if (!peeked)
		gzip = !gzdirect(r.gz);
	s->gzip_inputs += gzip;
	int errnum = 0;
	const char *msg = gzerror(r.gz, &errnum);
	bool failed = true;
	if (r.out_of_memory)
		fprintf(stderr, "bindguard report: %s:%lu: out of memory; reading stopped\n", name,
			line + 1);
	else if (errnum == Z_ERRNO)
		fprintf(stderr, "bindguard report: %s: %s\n", name, strerror(r.err ? r.err : EIO));
	else if (errnum == Z_BUF_ERROR)
		fprintf(stderr, "bindguard report: %s: truncated gzip stream\n", name);
	else if (errnum != Z_OK || got == LINE_ERROR)
		fprintf(stderr, "bindguard report: %s: %s\n", name, msg);
	else
		failed = false;
	s->input_errors += failed;
	gzclose(r.gz);
	free(r.buf);
	free(r.chunk);
	return failed ? -1 : 0;
}

/* The unnamed owners' inodes -> the processes holding them now: one walk
 * of /proc/[pid]/fd, only when some owner is unnamed. An inode no process
 * holds is "(no process)"; when the walk could not read every process's fds
 * (not root) or /proc, "(unknown)": it may be held by one it could not see. */
static void name_unnamed(struct summary *s)
{
	size_t n = s->unnamed.used;
	if (!n)
		return;
	struct procfd_owner *v = calloc(n, sizeof(*v));
	const struct tally **t = calloc(n, sizeof(*t));
	if (!v || !t) {
		free(v);
		free(t);
		s->looked_up = true;
		s->lookup_err = -ENOMEM;
		return;
	}
	n = 0;
	for (size_t i = 0; i < s->unnamed.size; i++)
		if (s->unnamed.slots[i].key) {
			t[n] = &s->unnamed.slots[i];
			v[n++].inode = strtoull(s->unnamed.slots[i].key, NULL, 10);
		}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s->lookup_err = procfd_name_owners(v, n, &s->lookup);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->lookup_seconds =
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	s->looked_up = true;
	bool complete = s->lookup_err == 0 && s->lookup.unreadable == 0;
	for (size_t j = 0; j < n; j++) {
		char key[160];
		if (v[j].pid)
			snprintf(key, sizeof(key), "%d\t%s\tR", v[j].pid,
				 v[j].comm[0] ? v[j].comm : "?");
		else
			snprintf(key, sizeof(key), "-\t%s\tR",
				 complete ? "(no process)" : "(unknown)");
		struct tally *e = table_get(&s->owners, key, NULL);
		if (e) {
			e->count += t[j]->count;
			e->hazards += t[j]->hazards;
		}
	}
	free(v);
	free(t);
}

static double ts_seconds(const char *ts)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	double frac = *end == '.' ? strtod(end, NULL) : 0;
	return (double)timegm(&tm) + frac;
}

/* ---- writing it ------------------------------------------------------------------- */

static void split2(const char *key, char *a, size_t alen, const char **b)
{
	const char *tab = strchr(key, '\t');
	size_t n = tab ? (size_t)(tab - key) : strlen(key);
	snprintf(a, alen, "%.*s", (int)n, key);
	*b = tab ? tab + 1 : "";
}

/* "PID\tNAME\tE|R": the pid ("-": none), the name, and whether the report
 * named it (R) rather than the event (E) */
static bool split_owner(const char *key, char *pid, size_t plen, char *name, size_t nlen)
{
	const char *b;
	split2(key, pid, plen, &b);
	const char *flag = strrchr(b, '\t');
	size_t n = flag ? (size_t)(flag - b) : strlen(b);
	snprintf(name, nlen, "%.*s", (int)n, b);
	return flag && flag[1] == 'R';
}

static const char *const hazards[] = {"none", "pin", "pin_halfclosed"};
static const char *const decisions[] = {"allow", "log", "block"};

static unsigned long hd_count(struct summary *s, const char *h, const char *d)
{
	char key[96];
	snprintf(key, sizeof(key), "%s\t%s", h, d);
	for (size_t i = 0; i < s->hazard_decision.size; i++)
		if (s->hazard_decision.slots[i].key &&
		    strcmp(s->hazard_decision.slots[i].key, key) == 0)
			return s->hazard_decision.slots[i].count;
	return 0;
}

/* The note under the owners table: how the unnamed ones were named. */
static void print_lookup(const struct summary *s)
{
	printf("  * named by this report: the process holding the socket now (its inode, one "
	       "walk of\n"
	       "    /proc/[pid]/fd: %zu socket%s, %u named), not necessarily the one holding it "
	       "when\n"
	       "    the event was written; the events name other processes' sockets by inode "
	       "only\n",
	       s->unnamed.used, s->unnamed.used == 1 ? "" : "s", s->lookup.found);
	if (s->lookup_err)
		printf("  (unknown): /proc could not be read: %s\n", strerror(-s->lookup_err));
	else if (s->lookup.unreadable)
		printf("  (unknown): the fds of %u process%s could not be read; run as root to see "
		       "them\n",
		       s->lookup.unreadable, s->lookup.unreadable == 1 ? "" : "es");
}

static void print_text(struct summary *s, unsigned top)
{
	printf("bindguard report: %u input%s (%u gzip), %lu lines, %lu events, %lu malformed "
	       "line%s "
	       "skipped\n",
	       s->inputs, s->inputs == 1 ? "" : "s", s->gzip_inputs, s->lines, s->events,
	       s->malformed, s->malformed == 1 ? "" : "s");
	for (unsigned i = 0; i < s->nbad; i++)
		printf("  skipped %s\n", s->bad[i]);
	if (s->malformed > s->nbad)
		printf("  ... and %lu more\n", s->malformed - s->nbad);
	if (s->input_errors)
		printf("  %u input%s ended early (see the messages above)\n", s->input_errors,
		       s->input_errors == 1 ? "" : "s");
	if (!s->events) {
		printf("no events\n");
		return;
	}
	printf("time span: %s to %s (%.3f s)\n", s->first, s->last,
	       ts_seconds(s->last) - ts_seconds(s->first));

	printf("\nevents by action:\n");
	const struct tally **v = table_sorted(&s->actions);
	for (size_t i = 0; v && v[i]; i++)
		printf("  %-18s %8lu\n", v[i]->key, v[i]->count);
	free(v);

	printf("\nbinds and listens by hazard and decision:\n");
	printf("  %-18s %8s %8s %8s\n", "HAZARD", "allow", "log", "block");
	for (unsigned h = 0; h < 3; h++)
		printf("  %-18s %8lu %8lu %8lu\n", hazards[h], hd_count(s, hazards[h], "allow"),
		       hd_count(s, hazards[h], "log"), hd_count(s, hazards[h], "block"));

	printf("\ntop processes:\n  %-18s %8s %8s %8s\n", "PROCESS", "EVENTS", "HAZARDS", "PIDS");
	v = table_sorted(&s->procs);
	for (size_t i = 0; v && v[i] && i < top; i++)
		printf("  %-18s %8lu %8lu %8lu\n", v[i]->key, v[i]->count, v[i]->hazards,
		       v[i]->pids);
	free(v);

	printf("\ntop ports (binds and listens):\n  %-18s %8s %8s\n", "PORT", "EVENTS", "HAZARDS");
	v = table_sorted(&s->ports);
	for (size_t i = 0; v && v[i] && i < top; i++)
		printf("  %-18s %8lu %8lu\n", v[i]->key, v[i]->count, v[i]->hazards);
	free(v);

	printf("\nhalf-closed owners most often involved:\n  %-8s %-18s %8s\n", "PID", "PROCESS",
	       "EVENTS");
	v = table_sorted(&s->owners);
	if (v && !v[0])
		printf("  (none)\n");
	for (size_t i = 0; v && v[i] && i < top; i++) {
		char pid[32], name[128];
		bool now = split_owner(v[i]->key, pid, sizeof(pid), name, sizeof(name));
		printf("  %-8s %-18s %8lu%s\n", pid, name, v[i]->count, now ? "  *" : "");
	}
	free(v);
	if (s->looked_up)
		print_lookup(s);
}

static cJSON *top_json(const struct table *t, unsigned top, const char *keyname, bool numeric)
{
	cJSON *a = cJSON_CreateArray();
	const struct tally **v = table_sorted(t);
	for (size_t i = 0; v && v[i] && i < top; i++) {
		cJSON *o = cJSON_CreateObject();
		if (numeric)
			cJSON_AddNumberToObject(o, keyname, atof(v[i]->key));
		else
			cJSON_AddStringToObject(o, keyname, v[i]->key);
		cJSON_AddNumberToObject(o, "events", (double)v[i]->count);
		cJSON_AddNumberToObject(o, "hazards", (double)v[i]->hazards);
		cJSON_AddItemToArray(a, o);
	}
	free(v);
	return a;
}

static cJSON *summary_json(struct summary *s, unsigned top)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "inputs", s->inputs);
	cJSON_AddNumberToObject(o, "gzip_inputs", s->gzip_inputs);
	cJSON_AddNumberToObject(o, "input_errors", s->input_errors);
	cJSON_AddNumberToObject(o, "lines", (double)s->lines);
	cJSON_AddNumberToObject(o, "events", (double)s->events);
	cJSON_AddNumberToObject(o, "malformed", (double)s->malformed);
	cJSON *bad = cJSON_AddArrayToObject(o, "malformed_examples");
	for (unsigned i = 0; i < s->nbad; i++)
		cJSON_AddItemToArray(bad, cJSON_CreateString(s->bad[i]));
	if (s->events) {
		cJSON *span = cJSON_AddObjectToObject(o, "span");
		cJSON_AddStringToObject(span, "first", s->first);
		cJSON_AddStringToObject(span, "last", s->last);
		cJSON_AddNumberToObject(span, "seconds",
					ts_seconds(s->last) - ts_seconds(s->first));
	} else {
		cJSON_AddNullToObject(o, "span");
	}
	cJSON *act = cJSON_AddObjectToObject(o, "actions");
	const struct tally **v = table_sorted(&s->actions);
	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddNumberToObject(act, v[i]->key, (double)v[i]->count);
	free(v);
	cJSON *hd = cJSON_AddObjectToObject(o, "hazard_decision");
	for (unsigned h = 0; h < 3; h++) {
		cJSON *row = cJSON_AddObjectToObject(hd, hazards[h]);
		for (unsigned d = 0; d < 3; d++)
			cJSON_AddNumberToObject(row, decisions[d],
						(double)hd_count(s, hazards[h], decisions[d]));
	}
	cJSON *procs = cJSON_AddArrayToObject(o, "top_processes");
	v = table_sorted(&s->procs);
	for (size_t i = 0; v && v[i] && i < top; i++) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", v[i]->key);
		cJSON_AddNumberToObject(p, "events", (double)v[i]->count);
		cJSON_AddNumberToObject(p, "hazards", (double)v[i]->hazards);
		cJSON_AddNumberToObject(p, "pids", (double)v[i]->pids);
		cJSON_AddItemToArray(procs, p);
	}
	free(v);
	cJSON_AddItemToObject(o, "top_ports", top_json(&s->ports, top, "port", true));
	cJSON *owners = cJSON_AddArrayToObject(o, "halfclosed_owners");
	v = table_sorted(&s->owners);
	for (size_t i = 0; v && v[i] && i < top; i++) {
		char pid[32], name[128];
		bool now = split_owner(v[i]->key, pid, sizeof(pid), name, sizeof(name));
		cJSON *p = cJSON_CreateObject();
		if (pid[0] == '-')
			cJSON_AddNullToObject(p, "pid");
		else
			cJSON_AddNumberToObject(p, "pid", atof(pid));
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddNumberToObject(p, "events", (double)v[i]->count);
		cJSON_AddBoolToObject(p, "resolved_at_report", now);
		cJSON_AddItemToArray(owners, p);
	}
	free(v);
	if (s->looked_up) {
		cJSON *l = cJSON_AddObjectToObject(o, "owner_lookup");
		cJSON_AddNumberToObject(l, "inodes", (double)s->unnamed.used);
		cJSON_AddNumberToObject(l, "named", s->lookup.found);
		cJSON_AddNumberToObject(l, "processes", s->lookup.processes);
		cJSON_AddNumberToObject(l, "unreadable_processes", s->lookup.unreadable);
		cJSON_AddNumberToObject(l, "socket_fds", s->lookup.fds);
		cJSON_AddNumberToObject(l, "seconds", s->lookup_seconds);
		if (s->lookup_err)
			cJSON_AddStringToObject(l, "error", strerror(-s->lookup_err));
	} else {
		cJSON_AddNullToObject(o, "owner_lookup");
	}
	return o;
}

int cmd_report(int argc, char **argv)
{
	bool json = false;
	unsigned top = 10;
	const char **files = calloc((size_t)argc + 1, sizeof(*files));
	int nfiles = 0;
	if (!files)
		return EXIT_IO;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			report_usage(stdout);
			free(files);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 1000000) {
				fprintf(stderr, "bindguard report: --top needs a number, got %s\n",
					argv[i]);
				free(files);
				return EXIT_USAGE;
			}
			top = (unsigned)n;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "bindguard report: unknown or incomplete option %s\n",
				argv[i]);
			report_usage(stderr);
			free(files);
			return EXIT_USAGE;
		} else {
			files[nfiles++] = argv[i];
		}
	}
	if (!nfiles)
		files[nfiles++] = "-";
	struct summary s;
	memset(&s, 0, sizeof(s));
	int rc = EXIT_OK;
	for (int i = 0; i < nfiles; i++)
		if (read_input(&s, files[i]) != 0)
			rc = EXIT_IO;
	name_unnamed(&s);
	if (json) {
		cJSON *o = summary_json(&s, top);
		char *text = cJSON_PrintUnformatted(o);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else {
		print_text(&s, top);
	}
	for (unsigned i = 0; i < s.nbad; i++)
		free(s.bad[i]);
	table_free(&s.actions);
	table_free(&s.hazard_decision);
	table_free(&s.procs);
	table_free(&s.proc_pids);
	table_free(&s.ports);
	table_free(&s.owners);
	table_free(&s.unnamed);
	free(files);
	return rc;
}
