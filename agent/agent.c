/* agent.c: bindguard-agent, the root companion of the shim (issue 15). Loads
 * bindguard.bpf.c with libbpf, counts the connect()-placed and half-closed
 * sockets of every port (seeded from iter/tcp), attaches cgroup/bind4 and
 * bind6 to one cgroup v2 directory, and writes an event for each hazardous
 * bind there, in the shim's event schema with bindguard.source "agent".
 *   bindguard-agent --cgroup PATH | --unit NAME.service [--mode audit|enforce]
 *                   [--config FILE] [--log DEST]
 * Runs in the foreground; SIGTERM and SIGINT detach everything and exit 0.
 * Never: link into the shim or the command (they must not need libbpf), or
 * leave a program attached after it exits (links, not pinned attachments).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "version.h"

#include "agentpage.h"
#include "bindguard.bpf.h"
#include "bindguard.skel.h"
#include "pages.h"

/* Exit codes: as tools/cmd.h where they mean the same; 7 and 8 are the
 * agent's own. */
enum {
	AG_OK = 0,
	AG_USAGE = 2,
	AG_IO = 5,	  /* the log could not be opened */
	AG_PRIVILEGE = 7, /* not root */
	AG_FEATURE = 8,	  /* the kernel lacks a feature the agent needs */
};

static const char *btf_path = "/sys/kernel/btf/vmlinux";
static volatile sig_atomic_t stopping;
static struct bg_config cfg;
static int log_fd = -1;
static bool log_syslog;
static char cg_path[PATH_MAX];
static unsigned long long events_written;

static void usage(FILE *f)
{
	fprintf(f, "usage: bindguard agent --cgroup PATH | --unit NAME.service\n"
		   "                       [--mode audit|enforce] [--config FILE] [--log DEST]\n"
		   "\n"
		   "As root, load bindguard's eBPF programs: count, in every network namespace,\n"
		   "the sockets whose port connect() chose and the half-closed ones among them\n"
		   "(seeded from the sockets that exist at start), and judge every bind() of an\n"
		   "explicit port in the ephemeral range by any program in the cgroup v2 PATH\n"
		   "(or the unit's cgroup): audit logs a hazardous bind, enforce refuses it with\n"
		   "enforce.errno (EADDRINUSE; EPERM on kernels before 5.18); a bind(addr, 0)\n"
		   "the kernel puts on such a port is logged (it cannot be undone). Mode, log and\n"
		   "enforce.block come from the configuration as for the shim ($BINDGUARD_CONFIG,\n"
		   "then /etc/bindguard/bindguard.json; $BINDGUARD_MODE, $BINDGUARD_LOG); the\n"
		   "options override them. Events go to DEST (stderr, syslog or an absolute\n"
		   "path) with bindguard.source \"agent\". Runs until SIGTERM or SIGINT, which\n"
		   "detach the programs. Publishes a port page per network namespace in\n"
		   "/run/bindguard/agent for the shim (one agent at a time; it removes them\n"
		   "when it stops).\n"
		   "\n"
		   "Needs: root; kernel BTF (/sys/kernel/btf/vmlinux); Linux 5.11+ (socket\n"
		   "storage in tracing programs; tp_btf, iter/tcp, cgroup/bind4 and bind6);\n"
		   "cgroup v2. Measured: Debian 6.1, 6.12 and 6.18 run it; 5.10 lacks the\n"
		   "socket storage.\n"
		   "\n"
		   "exit codes: 0 stopped by a signal (or mode off); 2 usage error (also a PATH\n"
		   "            that is not a cgroup v2 directory); 3 bindguard-agent not found\n"
		   "            (bindguard agent); 5 the log could not be opened; 7 not root;\n"
		   "            8 the kernel lacks a feature the agent needs (named)\n");
}

/* ---- events ------------------------------------------------------------------ */

static void emit(cJSON *ev)
{
	char *s = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!s)
		return;
	if (log_syslog) {
		syslog(LOG_WARNING, "%s", s);
	} else {
		size_t n = strlen(s);
		s[n] = '\n';
		/* one write per line: lines of concurrent writers never interleave */
		if (write(log_fd, s, n + 1) == (ssize_t)(n + 1))
			events_written++;
	}
	free(s);
}

/* the envelope: @timestamp, event, log, process (of pid, or of the agent) */
static cJSON *envelope(const char *action, const char *kind, const char *level, long pid, long tid,
		       const char *name)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[64], date[32];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof(when), "%s.%06ldZ", date, ts.tv_nsec / 1000);
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "@timestamp", when);
	cJSON *e = cJSON_AddObjectToObject(ev, "event");
	cJSON_AddStringToObject(e, "action", action);
	cJSON_AddStringToObject(e, "kind", kind);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "log"), "level", level);
	cJSON *p = cJSON_AddObjectToObject(ev, "process");
	cJSON_AddNumberToObject(p, "pid", (double)pid);
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "thread"), "id", (double)tid);
	return ev;
}

static cJSON *self_event(const char *action, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static cJSON *self_event(const char *action, const char *level, const char *fmt, ...)
{
	cJSON *ev =
		envelope(action, "event", level, getpid(), syscall(SYS_gettid), "bindguard-agent");
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(ev, "message", msg);
	cJSON *bg = cJSON_AddObjectToObject(ev, "bindguard");
	cJSON_AddStringToObject(bg, "source", "agent");
	cJSON_AddStringToObject(bg, "mode", bg_mode_name(cfg.mode));
	return ev;
}

static void format_addr(char *out, size_t len, const struct bg_agent_event *e)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (e->family == AF_INET)
		inet_ntop(AF_INET, e->addr, out, (socklen_t)len);
	else if (memcmp(e->addr, mapped, 12) == 0)
		inet_ntop(AF_INET, e->addr + 12, out, (socklen_t)len);
	else
		inet_ntop(AF_INET6, e->addr, out, (socklen_t)len);
}

static int on_change(void *ctx, void *data, size_t len)
{
	const struct bg_port_change *c = data;
	if (len >= sizeof(*c))
		ag_pages_change(c->netns, c->port);
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct bg_agent_event *e = data;
	if (len < sizeof(*e))
		return 0;
	char comm[sizeof(e->comm) + 1] = {0}, ip[INET6_ADDRSTRLEN];
	memcpy(comm, e->comm, sizeof(e->comm));
	format_addr(ip, sizeof(ip), e);
	enum bg_hazard hz = (enum bg_hazard)e->hazard;
	cJSON *ev =
		envelope("bind", "alert", e->blocked ? "error" : "warning", e->pid, e->tid, comm);
	if (e->blocked)
		cJSON_AddStringToObject(cJSON_GetObjectItem(ev, "event"), "outcome", "failure");
	char msg[512], ep[INET6_ADDRSTRLEN + 16];
	snprintf(ep, sizeof(ep), e->family == AF_INET6 && !strchr(ip, '.') ? "[%s]:%u" : "%s:%u",
		 ip, e->port);
	int n = snprintf(msg, sizeof(msg),
			 "bind %s%s by %s (pid %u) pins an ephemeral port that connect() placed "
			 "%d socket(s) on",
			 ep, e->port_auto ? " (port 0: the kernel chose it)" : "", comm, e->pid,
			 e->connect_placed);
	if (hz == BG_HAZARD_PIN_HALFCLOSED)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ", %d of them half-closed",
			      e->halfclosed);
	snprintf(msg + n, sizeof(msg) - (size_t)n, "%s%s",
		 e->blocked	? ": refused with "
		 : e->port_auto ? ": logged (the pin is made when the kernel chooses)"
				: ": allowed (audit)",
		 e->blocked ? bg_errno_name(e->err) : "");
	cJSON_AddStringToObject(ev, "message", msg);
	cJSON *src = cJSON_AddObjectToObject(ev, "source");
	cJSON_AddStringToObject(src, "ip", ip);
	cJSON_AddNumberToObject(src, "port", e->port);
	cJSON *bg = cJSON_AddObjectToObject(ev, "bindguard");
	cJSON_AddStringToObject(bg, "source", "agent");
	cJSON_AddStringToObject(bg, "mode", bg_mode_name(cfg.mode));
	cJSON_AddStringToObject(bg, "decision", e->blocked ? "block" : "log");
	cJSON_AddStringToObject(bg, "hazard", bg_hazard_name(hz));
	cJSON_AddBoolToObject(bg, "ephemeral", 1);
	cJSON_AddBoolToObject(bg, "port_auto", e->port_auto);
	cJSON_AddNumberToObject(bg, "netns", e->netns);
	cJSON *cg = cJSON_AddObjectToObject(bg, "cgroup");
	cJSON_AddNumberToObject(cg, "id", (double)e->cgroup_id);
	cJSON_AddStringToObject(cg, "attached", cg_path);
	cJSON *b = cJSON_AddObjectToObject(bg, "bucket");
	cJSON_AddNumberToObject(b, "connect_placed", e->connect_placed);
	cJSON_AddNumberToObject(b, "halfclosed", e->halfclosed);
	if (e->blocked) {
		cJSON *err = cJSON_AddObjectToObject(ev, "error");
		cJSON_AddStringToObject(err, "code", bg_errno_name(e->err));
		cJSON_AddStringToObject(err, "message", strerror(e->err));
	}
	emit(ev);
	return 0;
}

/* ---- setup ------------------------------------------------------------------- */

/* libbpf's warnings (they begin "libbpf: ") go to stderr as they are; the
 * verifier's "unknown func" lines are also kept, to name the feature. */
static char unknown_func[64];

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	char *text = NULL; /* the verifier's log comes whole, one call */
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	const char *u = strstr(text, "unknown func ");
	if (u && !unknown_func[0])
		sscanf(u + 13, "%63[A-Za-z0-9_]", unknown_func);
	fputs(text, stderr);
	free(text);
	return 0;
}

/* The kernel release a helper the programs call first appeared in, for the
 * message when the verifier does not know it. */
static const char *helper_since(const char *name)
{
	if (strcmp(name, "bpf_sk_storage_get") == 0)
		return "bpf_sk_storage_get in tracing programs (Linux 5.11+)";
	if (strcmp(name, "bpf_skc_to_tcp_sock") == 0)
		return "bpf_skc_to_tcp_sock (Linux 5.9+)";
	if (strcmp(name, "bpf_ringbuf_reserve") == 0 || strcmp(name, "bpf_ringbuf_submit") == 0)
		return "the BPF ring buffer (Linux 5.8+)";
	return NULL;
}

/* The cgroup v2 mount point (the unified hierarchy of a hybrid layout too). */
static int cgroup2_mount(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f)
		return -1;
	char dev[256], dir[PATH_MAX], type[64];
	int found = -1;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2") == 0) {
			snprintf(out, len, "%s", dir);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

/* A unit's cgroup: systemctl's ControlGroup under the cgroup v2 mount. */
static int unit_cgroup(const char *unit, char *out, size_t len)
{
	char mnt[PATH_MAX], rel[PATH_MAX] = "", cmd[512];
	if (strpbrk(unit, "'\"\\$`;|&<> ") || cgroup2_mount(mnt, sizeof(mnt)) != 0) {
		fprintf(stderr, "bindguard agent: %s\n",
			strpbrk(unit, "'\"\\$`;|&<> ") ? "a unit name has no quotes or spaces"
						       : "no cgroup v2 mount in /proc/self/mounts");
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "systemctl show -p ControlGroup --value '%s' 2>/dev/null", unit);
	FILE *p = popen(cmd, "re");
	if (p) {
		if (!fgets(rel, sizeof(rel), p))
			rel[0] = 0;
		pclose(p);
	}
	rel[strcspn(rel, "\n")] = 0;
	if (rel[0] != '/') {
		fprintf(stderr,
			"bindguard agent: %s: systemd knows no cgroup for the unit (is it "
			"running?)\n",
			unit);
		return -1;
	}
	if (snprintf(out, len, "%s%s", mnt, rel) >= (int)len) {
		fprintf(stderr, "bindguard agent: %s: the cgroup path is too long\n", unit);
		return -1;
	}
	return 0;
}

/* What this kernel offers, named the way the message to the operator names
 * it. Returns the first missing feature, or NULL. */
static const char *missing_feature(bool *has_set_retval)
{
	static char why[512];
	if (access(btf_path, R_OK) != 0) {
		snprintf(why, sizeof(why),
			 "kernel BTF (%s: %s): tp_btf/inet_sock_set_state and iter/tcp need a "
			 "kernel built with CONFIG_DEBUG_INFO_BTF",
			 btf_path, strerror(errno));
		return why;
	}
	struct btf *btf = btf__parse(btf_path, NULL);
	if (!btf) {
		snprintf(why, sizeof(why), "kernel BTF (%s cannot be parsed)", btf_path);
		return why;
	}
	const char *need[][2] = {
		{"btf_trace_inet_sock_set_state", "the inet_sock_set_state tracepoint (4.16+)"},
		{"bpf_iter__tcp", "iter/tcp, the TCP socket iterator (5.9+)"},
		{"bpf_sock_addr_kern", "cgroup/bind4 and bind6 programs (4.17+)"},
	};
	const char *miss = NULL;
	for (unsigned i = 0; i < sizeof(need) / sizeof(need[0]) && !miss; i++)
		if (btf__find_by_name(btf, need[i][0]) < 0)
			miss = need[i][1];
	btf__free(btf);
	if (miss) {
		snprintf(why, sizeof(why), "%s", miss);
		return why;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) != 1)
		return "cgroup/bind4 and bind6 programs (BPF_PROG_TYPE_CGROUP_SOCK_ADDR)";
	*has_set_retval = libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
						  BPF_FUNC_set_retval, NULL) == 1;
	return NULL;
}

/* The rule that sets the mode and enforce.block for the whole attachment:
 * the first one without program, port or address selectors (the agent judges
 * every program, port and address of the cgroup alike) whose cgroups
 * selector, if any, names the attached cgroup or an ancestor. -1: none. */
static int attachment_rule(const struct bg_config *c)
{
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct bg_rule *r = &c->rules[i];
		if (r->has_programs || r->nports || r->naddrs)
			continue;
		if (!r->has_cgroups || r->cgroup_match)
			return (int)i;
	}
	return -1;
}

static void on_signal(int sig)
{
	stopping = 1;
}

static int open_log(void)
{
	if (strcmp(cfg.log, "stderr") == 0) {
		log_fd = STDERR_FILENO;
	} else if (strcmp(cfg.log, "syslog") == 0) {
		log_syslog = true;
		openlog("bindguard-agent", LOG_PID, LOG_DAEMON);
	} else {
		log_fd = open(cfg.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (log_fd < 0) {
			fprintf(stderr, "bindguard agent: cannot open the log %s: %s\n", cfg.log,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void read_stats(int fd, __u64 *out)
{
	for (__u32 i = 0; i < BG_STAT_MAX; i++) {
		__u64 v = 0;
		bpf_map_lookup_elem(fd, &i, &v);
		out[i] = v;
	}
}

static void add_counters(cJSON *bg, const __u64 *s)
{
	cJSON *c = cJSON_AddObjectToObject(bg, "counters");
	cJSON_AddNumberToObject(c, "ports_full", (double)s[BG_STAT_PORTS_FULL]);
	cJSON_AddNumberToObject(c, "storage_full", (double)s[BG_STAT_STORAGE_FULL]);
	cJSON_AddNumberToObject(c, "events_lost", (double)s[BG_STAT_EVENTS_LOST]);
	cJSON_AddNumberToObject(c, "binds_judged", (double)s[BG_STAT_BINDS_SEEN]);
	cJSON_AddNumberToObject(c, "seeded", (double)s[BG_STAT_SEEDED]);
	cJSON_AddNumberToObject(c, "events_written", (double)events_written);
	cJSON_AddNumberToObject(c, "forgotten", (double)ag_pages_forgotten());
}

/* Run the iterator once: every socket of the current network namespace
 * that predates the tracepoint (iter/tcp walks the namespace of the process
 * that creates the iterator). */
static int seed(void *arg)
{
	struct bindguard_bpf *skel = arg;
	struct bpf_link *link = bpf_program__attach_iter(skel->progs.bg_seed, NULL);
	if (!link)
		return -errno;
	int fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		int err = -errno;
		bpf_link__destroy(link);
		return err;
	}
	char buf[256];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	int err = n < 0 ? -errno : 0;
	close(fd);
	bpf_link__destroy(link);
	return err;
}

int main(int argc, char **argv)
{
	const char *cgroup = NULL, *unit = NULL, *config = NULL;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return AG_OK;
		}
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "bindguard agent: %s: unknown option or missing value\n",
				a);
			usage(stderr);
			return AG_USAGE;
		}
		if (strcmp(a, "--cgroup") == 0)
			cgroup = v;
		else if (strcmp(a, "--unit") == 0)
			unit = v;
		else if (strcmp(a, "--mode") == 0)
			setenv("BINDGUARD_MODE", v, 1);
		else if (strcmp(a, "--log") == 0)
			setenv("BINDGUARD_LOG", v, 1);
		else if (strcmp(a, "--config") == 0)
			config = v;
		else {
			fprintf(stderr, "bindguard agent: %s: unknown option\n", a);
			usage(stderr);
			return AG_USAGE;
		}
	}
	if (!cgroup == !unit) {
		fprintf(stderr, "bindguard agent: give one of --cgroup PATH or --unit NAME\n");
		usage(stderr);
		return AG_USAGE;
	}
	const char *env_btf = secure_getenv("BINDGUARD_AGENT_BTF");
	if (env_btf && *env_btf)
		btf_path = env_btf; /* tests: a kernel without BTF */

	if (geteuid() != 0) {
		fprintf(stderr, "bindguard agent: needs root (CAP_BPF, CAP_PERFMON and "
				"CAP_NET_ADMIN: it loads eBPF programs and attaches them to a "
				"cgroup)\n");
		return AG_PRIVILEGE;
	}
	bool has_set_retval = false;
	const char *miss = missing_feature(&has_set_retval);
	if (miss) {
		struct utsname un;
		uname(&un);
		fprintf(stderr, "bindguard agent: this kernel (%s) lacks %s\n", un.release, miss);
		return AG_FEATURE;
	}
	if (unit && unit_cgroup(unit, cg_path, sizeof(cg_path)) != 0)
		return AG_USAGE;
	if (cgroup && !realpath(cgroup, cg_path)) {
		fprintf(stderr, "bindguard agent: %s: %s\n", cgroup, strerror(errno));
		return AG_USAGE;
	}
	struct statfs sfs;
	if (statfs(cg_path, &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		fprintf(stderr,
			"bindguard agent: %s is not a cgroup v2 directory (cgroup/bind4 attaches "
			"to cgroup v2 only; the unified hierarchy is where cgroup2 is mounted)\n",
			cg_path);
		return AG_USAGE;
	}
	/* rules select by the cgroup's path from the cgroup v2 root */
	char mnt[PATH_MAX];
	size_t ml = cgroup2_mount(mnt, sizeof(mnt)) == 0 ? strlen(mnt) : 0;
	if (ml && strncmp(cg_path, mnt, ml) == 0 && (cg_path[ml] == '/' || !cg_path[ml]))
		bg_config_set_cgroup(cg_path[ml] ? cg_path + ml : "/");
	if (!config)
		config = secure_getenv("BINDGUARD_CONFIG");
	bg_config_load(&cfg, config && *config ? config : NULL, "bindguard-agent");
	bg_config_env(&cfg);
	if (cfg.error[0])
		fprintf(stderr, "bindguard agent: %s; %s\n", cfg.error, bg_config_fallback(&cfg));
	int rule = attachment_rule(&cfg);
	if (rule >= 0 && cfg.rules[rule].mode >= 0)
		cfg.mode = (enum bg_mode)cfg.rules[rule].mode;
	if (rule >= 0 && cfg.rules[rule].block_hazards >= 0)
		cfg.block_hazards = (unsigned)cfg.rules[rule].block_hazards;
	if (cfg.mode == BG_MODE_OFF) {
		fprintf(stderr, "bindguard agent: mode off: nothing to load\n");
		return AG_OK;
	}
	int cg_fd = open(cg_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat cg_st;
	if (cg_fd < 0 || fstat(cg_fd, &cg_st) != 0) {
		fprintf(stderr, "bindguard agent: %s: %s\n", cg_path, strerror(errno));
		return AG_USAGE;
	}
	if (open_log() != 0)
		return AG_IO;
	if (cfg.error[0]) {
		cJSON *ce = self_event("config_error", "error", "%s; %s", cfg.error,
				       bg_config_fallback(&cfg));
		cJSON_AddStringToObject(cJSON_AddObjectToObject(ce, "error"), "message", cfg.error);
		emit(ce);
	}

	libbpf_set_print(libbpf_log);
	struct bindguard_bpf *skel = bindguard_bpf__open();
	if (!skel) {
		fprintf(stderr, "bindguard agent: cannot open the eBPF object: %s\n",
			strerror(errno));
		return AG_FEATURE;
	}
	/* tests: a ports map small enough to fill */
	const char *env_max = secure_getenv("BINDGUARD_AGENT_PORTS_MAX");
	if (env_max && atoi(env_max) > 0)
		bpf_map__set_max_entries(skel->maps.ports, (__u32)atoi(env_max));
	skel->rodata->bg_mode = cfg.mode;
	skel->rodata->bg_block = cfg.block_hazards;
	skel->rodata->bg_errno = cfg.block_errno;
	skel->rodata->bg_has_set_retval = has_set_retval;
	int err = bindguard_bpf__load(skel);
	if (err) {
		const char *since = unknown_func[0] ? helper_since(unknown_func) : NULL;
		if (since)
			fprintf(stderr, "bindguard agent: this kernel lacks %s\n", since);
		else if (unknown_func[0])
			fprintf(stderr, "bindguard agent: this kernel lacks the eBPF helper %s\n",
				unknown_func);
		else
			fprintf(stderr, "bindguard agent: the kernel refused the programs: %s\n",
				strerror(-err));
		bindguard_bpf__destroy(skel);
		return AG_FEATURE;
	}
	/* the tracepoint first, then the seed: a socket changing state in
	 * between is seen by both, and counted once (sk_rec.known) */
	skel->links.bg_state = bpf_program__attach(skel->progs.bg_state);
	if (!skel->links.bg_state) {
		fprintf(stderr, "bindguard agent: attaching tp_btf/inet_sock_set_state: %s\n",
			strerror(errno));
		bindguard_bpf__destroy(skel);
		return AG_FEATURE;
	}
	err = seed(skel); /* the agent's own namespace; the others come with the pages */
	if (err) {
		fprintf(stderr, "bindguard agent: iter/tcp (5.9+): %s\n", strerror(-err));
		bindguard_bpf__destroy(skel);
		return AG_FEATURE;
	}
	skel->links.bg_bind4 = bpf_program__attach_cgroup(skel->progs.bg_bind4, cg_fd);
	skel->links.bg_bind6 = skel->links.bg_bind4
				       ? bpf_program__attach_cgroup(skel->progs.bg_bind6, cg_fd)
				       : NULL;
	skel->links.bg_post_bind4 =
		skel->links.bg_bind6 ? bpf_program__attach_cgroup(skel->progs.bg_post_bind4, cg_fd)
				     : NULL;
	skel->links.bg_post_bind6 =
		skel->links.bg_post_bind4
			? bpf_program__attach_cgroup(skel->progs.bg_post_bind6, cg_fd)
			: NULL;
	if (!skel->links.bg_post_bind6) {
		fprintf(stderr,
			"bindguard agent: attaching cgroup/bind4, bind6, post_bind4 and post_bind6 "
			"to %s: %s\n",
			cg_path, strerror(errno));
		bindguard_bpf__destroy(skel);
		return AG_FEATURE;
	}
	struct ring_buffer *rb =
		ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (rb && ring_buffer__add(rb, bpf_map__fd(skel->maps.changes), on_change, NULL) != 0) {
		ring_buffer__free(rb);
		rb = NULL;
	}
	if (!rb) {
		fprintf(stderr, "bindguard agent: ring buffer: %s\n", strerror(errno));
		bindguard_bpf__destroy(skel);
		return AG_FEATURE;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* every other namespace seeded, and the pages published */
	/* tests: namespaces forgotten sooner */
	const char *env_forget = secure_getenv("BINDGUARD_AGENT_FORGET_MS");
	ag_pages_init(bpf_map__fd(skel->maps.ports), seed, skel,
		      env_forget && atoi(env_forget) > 0 ? (uint64_t)atoi(env_forget) : 0);
	char pages_why[256];
	int npages = ag_pages_scan(pages_why, sizeof(pages_why));
	if (npages < 0)
		fprintf(stderr, "bindguard agent: no port pages for the shim: %s\n", pages_why);

	int stats_fd = bpf_map__fd(skel->maps.stats);
	__u64 st[BG_STAT_MAX], last_full = 0, last_lost;
	read_stats(stats_fd, st);
	last_lost = st[BG_STAT_CHANGES_LOST];
	struct utsname u;
	uname(&u);
	cJSON *ev = self_event(
		"start", "info",
		"bindguard agent %s attached to %s in %s mode; %llu connect()-placed "
		"socket(s) seeded; refusals return %s",
		BG_VERSION, cg_path, bg_mode_name(cfg.mode), (unsigned long long)st[BG_STAT_SEEDED],
		has_set_retval ? bg_errno_name(cfg.block_errno) : "EPERM");
	cJSON *bg = cJSON_GetObjectItem(ev, "bindguard");
	cJSON_AddStringToObject(bg, "version", BG_VERSION);
	cJSON_AddStringToObject(bg, "kernel", u.release);
	cJSON *cg = cJSON_AddObjectToObject(bg, "cgroup");
	cJSON_AddNumberToObject(cg, "id", (double)cg_st.st_ino);
	cJSON_AddStringToObject(cg, "attached", cg_path);
	if (rule >= 0)
		cJSON_AddNumberToObject(bg, "rule", rule);
	cJSON *pg = cJSON_AddObjectToObject(bg, "pages");
	cJSON_AddStringToObject(pg, "dir", BG_AGENT_PAGE_DIR);
	cJSON_AddNumberToObject(pg, "published", npages < 0 ? 0 : npages);
	if (npages < 0)
		cJSON_AddStringToObject(pg, "why_not", pages_why);
	cJSON *feat = cJSON_AddObjectToObject(bg, "features");
	cJSON_AddBoolToObject(feat, "set_retval", has_set_retval);
	add_counters(bg, st);
	char *cj = bg_config_json(&cfg);
	if (cj) {
		cJSON_AddItemToObject(bg, "config", cJSON_Parse(cj));
		free(cj);
	}
	emit(ev);
	fprintf(stderr,
		"bindguard agent: attached to %s (%s); %llu socket(s) seeded; %d port page(s) in "
		"%s\n",
		cg_path, bg_mode_name(cfg.mode), (unsigned long long)st[BG_STAT_SEEDED],
		npages < 0 ? 0 : npages, BG_AGENT_PAGE_DIR);

	uint64_t last_beat = mono_ms(), last_scan = last_beat;
	while (!stopping) {
		err = ring_buffer__poll(rb, BG_AGENT_HEARTBEAT_MS / 2);
		uint64_t now = mono_ms();
		if (now - last_beat >= BG_AGENT_HEARTBEAT_MS) {
			ag_pages_beat();
			last_beat = now;
		}
		if (now - last_scan >= AG_SCAN_MS) {
			ag_pages_scan(pages_why, sizeof(pages_why));
			last_scan = now;
		}
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "bindguard agent: ring buffer: %s\n", strerror(-err));
			break;
		}
		read_stats(stats_fd, st);
		if (st[BG_STAT_CHANGES_LOST] != last_lost) {
			/* a change not seen: every page from the map again */
			last_lost = st[BG_STAT_CHANGES_LOST];
			ag_pages_refill();
		}
		__u64 full = st[BG_STAT_PORTS_FULL] + st[BG_STAT_STORAGE_FULL];
		if (full != last_full) {
			last_full = full;
			ev = self_event("map_full", "warning",
					"the agent's maps are full: %llu socket(s) not counted "
					"(ports map %llu, per-socket storage %llu); hazards on "
					"those ports are not seen",
					(unsigned long long)full,
					(unsigned long long)st[BG_STAT_PORTS_FULL],
					(unsigned long long)st[BG_STAT_STORAGE_FULL]);
			add_counters(cJSON_GetObjectItem(ev, "bindguard"), st);
			emit(ev);
		}
	}
	ag_pages_close(); /* readers stop believing the pages before the hooks go */
	ring_buffer__consume(rb);
	read_stats(stats_fd, st);
	ring_buffer__free(rb);
	bindguard_bpf__destroy(skel); /* the links go: every program detached */
	close(cg_fd);
	ev = self_event("stop", "info", "bindguard agent detached from %s", cg_path);
	add_counters(cJSON_GetObjectItem(ev, "bindguard"), st);
	emit(ev);
	return AG_OK;
}
