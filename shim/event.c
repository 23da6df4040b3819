/* event.c: encode bindguard's events as JSON lines (cJSON) and pass them to
 * the sink. Never called from signal handlers or with the model lock held.
 */
#define _GNU_SOURCE
#include "event.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
	pid_t pid;
	char name[64];
} proc;

const char *bg_decision_name(enum bg_decision d)
{
	static const char *const names[] = {"allow", "log", "block"};
	return names[d];
}

void bg_event_process(pid_t pid, const char *name)
{
	proc.pid = pid;
	snprintf(proc.name, sizeof(proc.name), "%s", name);
}

void bg_format_addr(char *buf, unsigned len, uint8_t family, const struct in6_addr *a)
{
	if (family == AF_INET || bg_addr_is_mapped(a))
		inet_ntop(AF_INET, &a->s6_addr[12], buf, len);
	else
		inet_ntop(AF_INET6, a, buf, len);
}

void bg_format_endpoint(char *buf, unsigned len, uint8_t family, const struct in6_addr *a,
			uint16_t port)
{
	char ip[INET6_ADDRSTRLEN];
	bg_format_addr(ip, sizeof(ip), family, a);
	if (family == AF_INET6 && !bg_addr_is_mapped(a))
		snprintf(buf, len, "[%s]:%u", ip, port);
	else
		snprintf(buf, len, "%s:%u", ip, port);
}

static cJSON *envelope(const char *action, const char *kind, const char *outcome,
		       enum bg_severity sev)
{
	static const char *const levels[] = {"debug", "info", "warning", "error"};
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%06ldZ", ts.tv_nsec / 1000);

	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "@timestamp", stamp);
	cJSON *ev = cJSON_AddObjectToObject(o, "event");
	cJSON_AddStringToObject(ev, "action", action);
	cJSON_AddStringToObject(ev, "kind", kind);
	if (outcome)
		cJSON_AddStringToObject(ev, "outcome", outcome);
	cJSON *log = cJSON_AddObjectToObject(o, "log");
	cJSON_AddStringToObject(log, "level", levels[sev]);
	cJSON *p = cJSON_AddObjectToObject(o, "process");
	cJSON_AddNumberToObject(p, "pid", proc.pid);
	cJSON_AddStringToObject(p, "name", proc.name);
	cJSON *th = cJSON_AddObjectToObject(p, "thread");
	cJSON_AddNumberToObject(th, "id", gettid());
	return o;
}

/* Length of the UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t k;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong form */
		hi = c == 0xed ? 0x9f : 0xbf; /* no surrogate */
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		lo = c == 0xf0 ? 0x90 : 0x80; /* no overlong form */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

/* JSON text must be UTF-8 (RFC 8259) and strict readers drop a line that is
 * not; names and messages can hold any bytes (a comm, a config value) or be
 * cut inside a character (process.name at 63 bytes). Each byte that does not
 * start a valid sequence becomes U+FFFD; cJSON writes such bytes only inside
 * strings, so the line stays JSON. */
static void emit(cJSON *o, enum bg_severity sev)
{
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return;
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), bad = 0, k, m = 0;
	for (size_t i = 0; i < n; i += k ? k : 1)
		bad += (k = utf8_len(u + i, n - i)) == 0;
	char *line = malloc(n + 2 * bad + 2);
	if (!line) {
		free(s);
		return;
	}
	for (size_t i = 0; i < n; i += k ? k : 1) {
		k = utf8_len(u + i, n - i);
		memcpy(line + m, k ? s + i : "\xef\xbf\xbd", k ? k : 3);
		m += k ? k : 3;
	}
	free(s);
	line[m] = '\n';
	line[m + 1] = 0;
	bg_sink_write(sev, line, m + 1);
	free(line);
}

static cJSON *state_json(const struct bg_tb_state *st)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "fastreuse", st->fastreuse);
	cJSON_AddNumberToObject(o, "fastreuseport", st->fastreuseport);
	return o;
}

static const char *connect_bound_name(enum bg_connect_bound cb)
{
	static const char *const names[] = {"no", "yes", "inferred"};
	return names[cb];
}

static void add_error(cJSON *o, int err)
{
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", bg_errno_name(err));
	cJSON_AddStringToObject(e, "message", strerror(err));
}

/* The sentence an operator reads first, in the style of
 * "bind 127.0.0.2:40000: pin would persist: owner CLOSE_WAIT a->b (pid 4100)". */
static void bind_message(char *buf, size_t len, const struct bg_bind_event *e, const char *where)
{
	int n = snprintf(buf, len, "%s %s: ", e->action, where);
	const struct bg_owner_info *half = NULL;
	for (unsigned i = 0; i < e->nowners && !half; i++)
		if (e->owners[i].connect_bound != BG_CB_NO &&
		    bg_tcp_state_halfclosed(e->owners[i].state))
			half = &e->owners[i];
	const char *verb = e->decision == BG_DECISION_BLOCK ? "blocked" : "allowed";
	if (e->hazard == BG_HAZARD_NONE)
		n += snprintf(buf + n, len - (size_t)n, "no hazard");
	else if (!half)
		n += snprintf(buf + n, len - (size_t)n,
			      "%s: pins a port that connect() shares; connect() will skip it %s",
			      verb,
			      strcmp(e->profile, "release") == 0 ? "while this socket lives"
								 : "until every owner is gone");
	else {
		char l[64], r[64];
		bg_format_endpoint(l, sizeof(l), half->family, &half->laddr, half->lport);
		bg_format_endpoint(r, sizeof(r), half->family, &half->raddr, half->rport);
		n += snprintf(buf + n, len - (size_t)n, "%s: pin would %s: owner %s %s->%s", verb,
			      strcmp(e->profile, "release") == 0 ? "last while this socket lives"
								 : "persist",
			      bg_tcp_state_name(half->state), l, r);
		if (half->pid > 0)
			n += snprintf(buf + n, len - (size_t)n, " (pid %d %s)", half->pid,
				      half->comm);
	}
	if (e->result < 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; %s", bg_errno_name(e->err));
}

void bg_event_bind(const struct bg_bind_event *e, enum bg_severity sev)
{
	const char *kind = e->hazard != BG_HAZARD_NONE ? "alert" : "event";
	cJSON *o = envelope(e->action, kind, e->result == 0 ? "success" : "failure", sev);
	char where[80], ip[INET6_ADDRSTRLEN], msg[400];
	bg_format_endpoint(where, sizeof(where), e->family, &e->addr, e->port);
	bind_message(msg, sizeof(msg), e, where);
	cJSON_AddStringToObject(o, "message", msg);
	bg_format_addr(ip, sizeof(ip), e->family, &e->addr);
	cJSON *src = cJSON_AddObjectToObject(o, "source");
	cJSON_AddStringToObject(src, "ip", ip);
	cJSON_AddNumberToObject(src, "port", e->port);
	cJSON *b = cJSON_AddObjectToObject(o, "bindguard");
	cJSON_AddStringToObject(b, "mode", bg_mode_name(e->mode));
	cJSON_AddStringToObject(b, "decision", bg_decision_name(e->decision));
	cJSON_AddStringToObject(b, "hazard", bg_hazard_name(e->hazard));
	cJSON_AddStringToObject(b, "profile", e->profile);
	cJSON_AddNumberToObject(b, "fd", e->fd);
	cJSON_AddBoolToObject(b, "port_auto", e->port_auto);
	cJSON_AddBoolToObject(b, "ephemeral", e->ephemeral);
	cJSON_AddStringToObject(b, "view", e->view);
	cJSON *bucket = cJSON_AddObjectToObject(b, "bucket");
	if (e->tb_exists)
		cJSON_AddItemToObject(bucket, "before", state_json(&e->before));
	else
		cJSON_AddNullToObject(bucket, "before");
	cJSON_AddItemToObject(bucket, "after", state_json(&e->after));
	cJSON_AddBoolToObject(bucket, "conflict_predicted", e->conflict_predicted);
	cJSON *owners = cJSON_AddArrayToObject(b, "owners");
	for (unsigned i = 0; i < e->nowners; i++) {
		const struct bg_owner_info *w = &e->owners[i];
		cJSON *j = cJSON_CreateObject();
		char l[64], r[64];
		bg_format_endpoint(l, sizeof(l), w->family, &w->laddr, w->lport);
		bg_format_endpoint(r, sizeof(r), w->family, &w->raddr, w->rport);
		if (w->pid > 0)
			cJSON_AddNumberToObject(j, "pid", w->pid);
		else
			cJSON_AddNullToObject(j, "pid");
		if (w->comm[0])
			cJSON_AddStringToObject(j, "name", w->comm);
		cJSON_AddStringToObject(j, "state", bg_tcp_state_name(w->state));
		cJSON_AddStringToObject(j, "local", l);
		cJSON_AddStringToObject(j, "remote", r);
		cJSON_AddStringToObject(j, "connect_bound", connect_bound_name(w->connect_bound));
		cJSON_AddNumberToObject(j, "uid", w->uid);
		cJSON_AddNumberToObject(j, "inode", w->inode);
		cJSON_AddItemToArray(owners, j);
	}
	if (e->owners_total > e->nowners)
		cJSON_AddNumberToObject(b, "owners_omitted", e->owners_total - e->nowners);
	if (e->result < 0)
		add_error(o, e->err);
	emit(o, sev);
}

void bg_event_start(const char *version, const char *profile, const char *kernel, const char *view,
		    const char *config_json)
{
	cJSON *o = envelope("start", "event", NULL, BG_SEV_INFO);
	char msg[256];
	snprintf(msg, sizeof(msg),
		 "bindguard %s watching binds; kernel %s, profile %s, others seen via %s", version,
		 kernel, profile, view);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON *b = cJSON_AddObjectToObject(o, "bindguard");
	cJSON_AddStringToObject(b, "version", version);
	cJSON_AddStringToObject(b, "profile", profile);
	cJSON_AddStringToObject(b, "kernel", kernel);
	cJSON_AddStringToObject(b, "view", view);
	cJSON *cfg = cJSON_Parse(config_json ? config_json : "{}");
	if (cfg)
		cJSON_AddItemToObject(b, "config", cfg);
	emit(o, BG_SEV_INFO);
}

void bg_event_stop(const struct bg_counters *c)
{
	cJSON *o = envelope("stop", "event", NULL, BG_SEV_INFO);
	struct bg_sink_stats s = bg_sink_stats();
	cJSON *b = cJSON_AddObjectToObject(o, "bindguard");
	cJSON *k = cJSON_AddObjectToObject(b, "counters");
	cJSON_AddNumberToObject(k, "binds", (double)c->binds);
	cJSON_AddNumberToObject(k, "hazards", (double)c->hazards);
	cJSON_AddNumberToObject(k, "blocked", (double)c->blocked);
	cJSON_AddNumberToObject(k, "divergences", (double)c->divergences);
	cJSON_AddNumberToObject(k, "sockets", (double)c->sockets);
	cJSON_AddNumberToObject(k, "events_written", (double)s.written);
	cJSON_AddNumberToObject(k, "events_dropped", (double)s.dropped);
	emit(o, BG_SEV_INFO);
}

void bg_event_config_error(const char *message)
{
	cJSON *o = envelope("config_error", "event", "failure", BG_SEV_ERROR);
	char msg[900];
	snprintf(msg, sizeof(msg), "%s; running in audit mode with defaults", message);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "message", message);
	emit(o, BG_SEV_ERROR);
}

void bg_event_divergence(const char *action, uint8_t family, const struct in6_addr *addr,
			 uint16_t port, bool predicted_conflict, int result, int err)
{
	cJSON *o = envelope("model_divergence", "event", result == 0 ? "success" : "failure",
			    BG_SEV_DEBUG);
	char where[80], msg[200];
	bg_format_endpoint(where, sizeof(where), family, addr, port);
	snprintf(msg, sizeof(msg), "%s %s: model predicted %s, kernel returned %s", action, where,
		 predicted_conflict ? "EADDRINUSE" : "success",
		 result == 0 ? "success" : bg_errno_name(err));
	cJSON_AddStringToObject(o, "message", msg);
	cJSON *b = cJSON_AddObjectToObject(o, "bindguard");
	cJSON_AddStringToObject(b, "predicted", predicted_conflict ? "EADDRINUSE" : "success");
	cJSON_AddStringToObject(b, "kernel", result == 0 ? "success" : bg_errno_name(err));
	if (result < 0)
		add_error(o, err);
	emit(o, BG_SEV_DEBUG);
}
