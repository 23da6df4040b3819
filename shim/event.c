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

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" by arithmetic (days to civil date, H. Hinnant's
 * algorithm). Not gmtime_r: it takes glibc's tzset lock, which a child of
 * fork() finds held forever if another thread of the parent had it. */
static void utc_stamp(char *buf, size_t len, const struct timespec *ts)
{
	long long days = ts->tv_sec / 86400, rem = ts->tv_sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long y = (long long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	snprintf(buf, len, "%04lld-%02u-%02uT%02u:%02u:%02u.%06ldZ", y, m, d,
		 (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
		 ts->tv_nsec / 1000);
}

static cJSON *envelope(const char *action, const char *kind, const char *outcome,
		       enum bg_severity sev)
{
	static const char *const levels[] = {"debug", "info", "warning", "error"};
	struct timespec ts;
	char stamp[96];
	clock_gettime(CLOCK_REALTIME, &ts);
	utc_stamp(stamp, sizeof(stamp), &ts);

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
	/* getpid(), not proc.pid: a child made by a raw clone() syscall (vsftpd's
	 * sessions) passes no fork() wrapper, and would log its parent's pid */
	cJSON_AddNumberToObject(p, "pid", getpid());
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

static const struct bg_owner_info *halfclosed_owner(const struct bg_bind_event *e)
{
	for (unsigned i = 0; i < e->nowners; i++)
		if (e->owners[i].connect_bound != BG_CB_NO &&
		    bg_tcp_state_halfclosed(e->owners[i].state))
			return &e->owners[i];
	return NULL;
}

/* What the operator can do about a hazard, most direct first: for a port the
 * kernel chose, the remedy; for an explicit one, keep connect() away from it
 * (reserve it, or move it out of the range); and the half-closed connection
 * that makes the pin last, with its owner. */
static void add_advice(cJSON *b, const struct bg_bind_event *e)
{
	char buf[400];
	cJSON *a = cJSON_AddArrayToObject(b, "advice");
	if (e->port_auto && e->remedy == BG_REMEDY_WITHDRAWN) {
		cJSON_AddItemToArray(
			a, cJSON_CreateString(
				   "the remedy was withdrawn because the program asks for its port "
				   "before connect(): set IP_BIND_ADDRESS_NO_PORT in the program "
				   "and read the port after connect()"));
	} else if (e->port_auto) {
		cJSON_AddItemToArray(
			a, cJSON_CreateString(
				   "turn on the remedy for this program (\"remedy\": true in the "
				   "config, or BINDGUARD_REMEDY=on): with IP_BIND_ADDRESS_NO_PORT, "
				   "connect() chooses the port and keeps it shareable"));
	} else {
		snprintf(buf, sizeof(buf),
			 "reserve port %u so that connect() never picks it: add it to "
			 "net.ipv4.ip_local_reserved_ports (sysctl -w "
			 "net.ipv4.ip_local_reserved_ports=LIST,%u, keeping the current LIST)",
			 e->port, e->port);
		cJSON_AddItemToArray(a, cJSON_CreateString(buf));
		snprintf(buf, sizeof(buf),
			 "or move the service's port out of the ephemeral range %u-%u "
			 "(net.ipv4.ip_local_port_range)",
			 e->range_low, e->range_high);
		cJSON_AddItemToArray(a, cJSON_CreateString(buf));
	}
	const struct bg_owner_info *half = halfclosed_owner(e);
	if (!half)
		return;
	char l[64], r[64];
	bg_format_endpoint(l, sizeof(l), half->family, &half->laddr, half->lport);
	bg_format_endpoint(r, sizeof(r), half->family, &half->raddr, half->rport);
	int n = snprintf(buf, sizeof(buf), "close the half-closed connection %s->%s (%s)", l, r,
			 bg_tcp_state_name(half->state));
	if (half->pid > 0)
		snprintf(buf + n, sizeof(buf) - (size_t)n,
			 " of pid %d (%s): the program never close()s it; fixing or restarting "
			 "it frees the port",
			 half->pid, half->comm);
	else
		snprintf(buf + n, sizeof(buf) - (size_t)n,
			 ", socket inode %u: the program holding it never close()s it; fixing or "
			 "restarting it frees the port (`bindguard report` on this log, or `ss "
			 "-tanpe` on the port, names the program)",
			 half->inode);
	cJSON_AddItemToArray(a, cJSON_CreateString(buf));
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
	const struct bg_owner_info *half = halfclosed_owner(e);
	const char *verb = e->decision == BG_DECISION_BLOCK ? "blocked" : "allowed";
	if (e->remedy == BG_REMEDY_APPLIED) {
		n += snprintf(buf + n, len - (size_t)n,
			      "remedy: IP_BIND_ADDRESS_NO_PORT set; connect() will choose the "
			      "port and keep it shareable");
		if (e->result < 0 && n > 0 && (size_t)n < len)
			snprintf(buf + n, len - (size_t)n, "; %s", bg_errno_name(e->err));
		return;
	}
	if (e->remedy == BG_REMEDY_WITHDRAWN)
		n += snprintf(buf + n, len - (size_t)n,
			      "remedy withdrawn (the program asked for its port before "
			      "connect()): ");
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
	if (e->blind && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n,
			      "; other processes' sockets unseen (%s): judged on this "
			      "process's own",
			      e->view_error ? e->view_error : "no view");
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
	if (e->remedy != BG_REMEDY_NONE)
		cJSON_AddStringToObject(b, "remedy", bg_remedy_name(e->remedy));
	cJSON_AddStringToObject(b, "profile", e->profile);
	cJSON_AddNumberToObject(b, "fd", e->fd);
	cJSON_AddBoolToObject(b, "port_auto", e->port_auto);
	cJSON_AddBoolToObject(b, "ephemeral", e->ephemeral);
	cJSON_AddStringToObject(b, "view", e->view);
	if (e->view_error)
		cJSON_AddStringToObject(b, "view_error", e->view_error);
	if (e->repeats)
		cJSON_AddNumberToObject(b, "repeats", (double)e->repeats);
	if (e->remedy == BG_REMEDY_APPLIED || e->unmodelled) {
		/* no port taken: no bucket, no owners */
		cJSON_AddNullToObject(b, "bucket");
		cJSON_AddArrayToObject(b, "owners");
		if (e->result < 0)
			add_error(o, e->err);
		emit(o, sev);
		return;
	}
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
	if (e->hazard != BG_HAZARD_NONE)
		add_advice(b, e);
	if (e->result < 0)
		add_error(o, e->err);
	emit(o, sev);
}

void bg_event_start(const struct bg_start_info *s)
{
	cJSON *o = envelope("start", "event", NULL, BG_SEV_INFO);
	char msg[640];
	const char *note = s->profile_note ? s->profile_note : "";
	const char *fmt = "bindguard %s watching binds; kernel %s, profile %s (chosen by %s%s%s), "
			  "others seen via %s";
	snprintf(msg, sizeof(msg), fmt, s->version, s->kernel, s->profile, s->profile_source,
		 *note ? ": " : "", note, s->view);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON *b = cJSON_AddObjectToObject(o, "bindguard");
	cJSON_AddStringToObject(b, "version", s->version);
	cJSON_AddStringToObject(b, "profile", s->profile);
	cJSON *ps = cJSON_AddObjectToObject(b, "profile_choice");
	cJSON_AddStringToObject(ps, "source", s->profile_source);
	cJSON_AddStringToObject(ps, "by_uname", s->profile_by_uname);
	cJSON_AddBoolToObject(ps, "disagree", s->profile_disagree);
	if (*note)
		cJSON_AddStringToObject(ps, "note", note);
	cJSON_AddStringToObject(b, "kernel", s->kernel);
	cJSON_AddStringToObject(b, "view", s->view);
	cJSON *cfg = cJSON_Parse(s->config_json ? s->config_json : "{}");
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
	cJSON_AddNumberToObject(k, "remedies", (double)c->remedies);
	cJSON_AddNumberToObject(k, "events_written", (double)s.written);
	cJSON_AddNumberToObject(k, "events_dropped", (double)s.dropped);
	if (c->self_check) {
		const struct bg_self_check_result *r = c->self_check;
		cJSON *sc = cJSON_AddObjectToObject(b, "self_check");
		cJSON_AddNumberToObject(sc, "fds", (double)r->fds);
		cJSON_AddNumberToObject(sc, "sockets", (double)r->sockets);
		cJSON_AddNumberToObject(sc, "mismatches", (double)r->mismatches);
		cJSON_AddNumberToObject(sc, "unverified", (double)r->unverified);
		cJSON_AddNumberToObject(sc, "untracked", (double)r->untracked);
		cJSON_AddNumberToObject(sc, "listening", (double)r->listening);
		cJSON_AddNumberToObject(sc, "connected", (double)r->connected);
	}
	emit(o, BG_SEV_INFO);
}

void bg_event_netns_change(bool home, uint64_t start, uint64_t from, uint64_t to)
{
	cJSON *o = envelope("netns_change", "event", NULL, BG_SEV_INFO);
	char msg[200];
	if (home)
		snprintf(
			msg, sizeof(msg),
			"back in the start network namespace net:[%llu]: socket calls judged again",
			(unsigned long long)to);
	else
		snprintf(msg, sizeof(msg),
			 "network namespace net:[%llu] -> net:[%llu], not the start one: this "
			 "thread's socket calls pass through unjudged",
			 (unsigned long long)from, (unsigned long long)to);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON *b = cJSON_AddObjectToObject(o, "bindguard");
	cJSON *n = cJSON_AddObjectToObject(b, "netns");
	cJSON_AddBoolToObject(n, "home", home);
	cJSON_AddNumberToObject(n, "start", (double)start);
	cJSON_AddNumberToObject(n, "from", (double)from);
	cJSON_AddNumberToObject(n, "to", (double)to);
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

static cJSON *sock_view_json(const struct bg_sock_view *v, char *text, size_t len)
{
	cJSON *o = cJSON_CreateObject();
	char ep[80] = "";
	if (v->tcp)
		bg_format_endpoint(ep, sizeof(ep), v->family, &v->addr, v->port);
	cJSON_AddBoolToObject(o, "tcp", v->tcp);
	if (v->bound_known)
		cJSON_AddNumberToObject(o, "port", v->port);
	else
		cJSON_AddNullToObject(o, "port");
	cJSON_AddStringToObject(o, "local", ep);
	cJSON_AddBoolToObject(o, "connected", v->connected);
	cJSON_AddBoolToObject(o, "listening", v->listening);
	cJSON_AddBoolToObject(o, "v6only", v->v6only);
	cJSON_AddStringToObject(o, "state", bg_tcp_state_name(v->state));
	if (!v->tcp)
		snprintf(text, len, "not a TCP socket");
	else
		snprintf(text, len, "%s %s%s%s%s", ep, bg_tcp_state_name(v->state),
			 v->connected ? " connected" : "", v->listening ? " listening" : "",
			 v->v6only ? " v6only" : "");
	return o;
}

void bg_event_self_check_mismatch(int fd, const char *what, const struct bg_sock_view *model,
				  const struct bg_sock_view *kernel)
{
	cJSON *o = envelope("self_check_mismatch", "event", "failure", BG_SEV_WARNING);
	char m[160], k[160], msg[400];
	cJSON *b = cJSON_CreateObject();
	cJSON_AddNumberToObject(b, "fd", fd);
	cJSON_AddStringToObject(b, "fields", what);
	cJSON_AddItemToObject(b, "model", sock_view_json(model, m, sizeof(m)));
	cJSON_AddItemToObject(b, "kernel", sock_view_json(kernel, k, sizeof(k)));
	snprintf(msg, sizeof(msg), "self-check fd %d: %s differ: model %s; kernel %s", fd, what, m,
		 k);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddItemToObject(o, "bindguard", b);
	emit(o, BG_SEV_WARNING);
}
