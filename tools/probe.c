/* probe.c: `bindguard probe [--json] [--write [--file PATH]]`: tell the
 * kernel's bind-bucket era by experiment, not by its version string.
 *
 * Each experiment runs in a child process in a network namespace of its own
 * (unshare(CLONE_NEWNET), root), loopback up, ip_local_port_range one port
 * wide (PROBE_PORT), so that connect() has exactly one port to choose and a
 * pin shows as EADDRNOTAVAIL. Every answer bounds the kernel versions whose
 * upstream rules give it (docs/kernel-rules.md); the profile follows from
 * the pin experiments, the era from all of them. With --write the result
 * goes to the probe file the shim reads at start (shim/probefile.h).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "../shim/bucket.h"
#include "../shim/config.h"
#include "../shim/probefile.h"
#include "../shim/version.h"
#include "cmd.h"
#include "scan.h"

#define PROBE_PORT 40000 /* the whole ephemeral range */
#define SRV_PORT   5001	 /* the owner's peer */
#define PROBE_DST  5003	 /* where the probe connect() goes */
#define SIDE_PORT  5010	 /* outside the range: the bucket-scope experiments */
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

enum answer { NO, YES, UNCLEAR };

/* One experiment: what it asks, and the versions each answer allows. */
struct experiment {
	const char *key;
	const char *question;
	enum answer (*run)(char *detail, size_t len);
	unsigned yes_from, yes_to; /* versions [from, to) that answer yes; 0 = open */
	unsigned no_from, no_to;   /* ... that answer no; both 0: no bound */
	bool no_is_outside_yes;	   /* no: any version outside [yes_from, yes_to) */
};

/* ---- the namespace and sockets --------------------------------------------------- */

static int setup_netns(char *detail, size_t len)
{
	if (unshare(CLONE_NEWNET) != 0) {
		snprintf(detail, len, "unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
		return -1;
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) != 0)) {
		snprintf(detail, len, "bringing lo up: %s", strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	close(s);
	int fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_WRONLY | O_CLOEXEC);
	char range[32];
	int n = snprintf(range, sizeof(range), "%d %d\n", PROBE_PORT, PROBE_PORT);
	if (fd < 0 || write(fd, range, (size_t)n) != n) {
		snprintf(detail, len, "setting ip_local_port_range: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* addr "127.0.0.1" (AF_INET) or "::ffff:..." (AF_INET6) */
static socklen_t sa(struct sockaddr_storage *ss, const char *addr, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &a->sin_addr);
	return sizeof(*a);
}

static int tcp(const char *addr)
{
	return socket(strchr(addr, ':') ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* bind a new socket to addr:port (SO_REUSEADDR when reuse): 0 or errno; *fd kept */
static int bind_new(int *fd, const char *addr, int port, bool reuse)
{
	struct sockaddr_storage ss;
	socklen_t l = sa(&ss, addr, port);
	int one = 1;
	*fd = tcp(addr);
	if (*fd < 0)
		return errno;
	if (reuse)
		setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return bind(*fd, (struct sockaddr *)&ss, l) == 0 ? 0 : errno;
}

static int listener(const char *addr, int port)
{
	int fd;
	if (bind_new(&fd, addr, port, true) != 0 || listen(fd, 16) != 0)
		return -1;
	return fd;
}

/* connect a new socket to 127.0.0.1:port: 0 or errno; *fd kept */
static int connect_new(int *fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = sa(&ss, "127.0.0.1", port);
	*fd = tcp("127.0.0.1");
	if (*fd < 0)
		return errno;
	return connect(*fd, (struct sockaddr *)&ss, l) == 0 ? 0 : errno;
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0)
		return -1;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A connect()-made owner of PROBE_PORT, half-closed (CLOSE_WAIT) as in the
 * seed scenario; its peer and the probe's destination listen. 0 or -1. */
static int seed_owner(char *detail, size_t len)
{
	int srv = listener("127.0.0.1", SRV_PORT), dst = listener("127.0.0.1", PROBE_DST), a;
	if (srv < 0 || dst < 0) {
		snprintf(detail, len, "listening on 127.0.0.1: %s", strerror(errno));
		return -1;
	}
	int err = connect_new(&a, SRV_PORT);
	if (err) {
		snprintf(detail, len, "the owner's connect(): %s", strerror(err));
		return -1;
	}
	if (local_port(a) != PROBE_PORT) {
		snprintf(detail, len, "the owner's connect() got port %d, not %d", local_port(a),
			 PROBE_PORT);
		return -1;
	}
	int c = accept(srv, NULL, NULL);
	if (c >= 0)
		close(c); /* the owner is now in CLOSE_WAIT */
	return 0;
}

/* the probe: can connect() still get a port? 0 or errno */
static int probe(void)
{
	int fd, err = connect_new(&fd, PROBE_DST);
	if (fd >= 0)
		close(fd);
	return err;
}

/* ---- the experiments --------------------------------------------------------------- */

/* A binder next to the owner: does connect() lose the port, and does it get
 * it back when the binder closes? */
static enum answer pin_experiment(bool reuse, bool after_close, char *detail, size_t len)
{
	if (seed_owner(detail, len) != 0)
		return UNCLEAR;
	int b, err = bind_new(&b, "127.0.0.2", PROBE_PORT, reuse);
	if (err) {
		snprintf(detail, len, "bind(127.0.0.2:%d) next to the owner: %s", PROBE_PORT,
			 bg_errno_name(err));
		return UNCLEAR;
	}
	int open_err = probe();
	if (!after_close) {
		snprintf(detail, len, "probe connect() while the binder is open: %s",
			 open_err ? bg_errno_name(open_err) : "got the port");
		return open_err == EADDRNOTAVAIL ? YES : open_err ? UNCLEAR : NO;
	}
	if (open_err != EADDRNOTAVAIL) {
		snprintf(detail, len, "no pin even while the binder is open (probe: %s)",
			 open_err ? bg_errno_name(open_err) : "got the port");
		return UNCLEAR;
	}
	close(b);
	int closed_err = probe();
	snprintf(detail, len, "probe connect() after the binder closed: %s",
		 closed_err ? bg_errno_name(closed_err) : "got the port");
	return closed_err == EADDRNOTAVAIL ? YES : closed_err ? UNCLEAR : NO;
}

static enum answer pin_outlives_binder(char *detail, size_t len)
{
	return pin_experiment(false, true, detail, len);
}

static enum answer reuseaddr_binder_pins(char *detail, size_t len)
{
	return pin_experiment(true, false, detail, len);
}

static enum answer autobind_on_connect_port(char *detail, size_t len)
{
	if (seed_owner(detail, len) != 0)
		return UNCLEAR;
	int b, err = bind_new(&b, "127.0.0.2", 0, false);
	if (err == EADDRINUSE) {
		snprintf(detail, len, "bind(127.0.0.2, 0): EADDRINUSE");
		return NO;
	}
	if (err) {
		snprintf(detail, len, "bind(127.0.0.2, 0): %s", bg_errno_name(err));
		return UNCLEAR;
	}
	int p = local_port(b);
	snprintf(detail, len, "bind(127.0.0.2, 0) got port %d", p);
	return p == PROBE_PORT ? YES : UNCLEAR;
}

/* second bind's errno after first; YES when the second is refused if
 * refused_is_yes, else when it succeeds */
static enum answer two_binds(const char *first, bool first_clears_reuse, const char *second,
			     bool reuse, bool refused_is_yes, char *detail, size_t len)
{
	int a, b;
	int err = bind_new(&a, first, SIDE_PORT, reuse);
	if (err) {
		snprintf(detail, len, "bind(%s:%d): %s", first, SIDE_PORT, bg_errno_name(err));
		return UNCLEAR;
	}
	if (first_clears_reuse) {
		int zero = 0;
		setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof(zero));
	}
	err = bind_new(&b, second, SIDE_PORT, reuse);
	snprintf(detail, len, "bind(%s:%d) after bind(%s:%d)%s: %s", second, SIDE_PORT, first,
		 SIDE_PORT, first_clears_reuse ? " and clearing its SO_REUSEADDR" : "",
		 err ? bg_errno_name(err) : "ok");
	if (err && err != EADDRINUSE)
		return UNCLEAR;
	return (err == EADDRINUSE) == refused_is_yes ? YES : NO;
}

static enum answer mapped_wildcard_per_family(char *detail, size_t len)
{
	return two_binds("::ffff:0.0.0.0", false, "::ffff:127.0.0.2", false, false, detail, len);
}

static enum answer v4_and_mapped_share(char *detail, size_t len)
{
	return two_binds("127.0.0.1", false, "::ffff:127.0.0.1", false, true, detail, len);
}

static enum answer first_owner_sets_state(char *detail, size_t len)
{
	return two_binds("127.0.0.1", true, "127.0.0.1", true, false, detail, len);
}

static enum answer ip_local_port_range_option(char *detail, size_t len)
{
	int fd = tcp("127.0.0.1");
	uint32_t range = (uint32_t)PROBE_PORT | ((uint32_t)PROBE_PORT << 16);
	int r = fd < 0 ? -1
		       : setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof(range));
	int err = r ? errno : 0;
	snprintf(detail, len, "setsockopt(IP_LOCAL_PORT_RANGE): %s",
		 err ? bg_errno_name(err) : "ok");
	return !err ? YES : err == ENOPROTOOPT ? NO : UNCLEAR;
}

static const struct experiment experiments[] = {
	{.key = "pin_outlives_binder",
	 .question = "a pin outlives the binder",
	 .run = pin_outlives_binder,
	 .yes_to = BG_KVER(6, 17, 8),
	 .no_from = BG_KVER(6, 17, 8)},
	{.key = "reuseaddr_binder_pins",
	 .question = "an SO_REUSEADDR binder pins",
	 .run = reuseaddr_binder_pins,
	 .yes_from = BG_KVER(3, 9, 0),
	 .no_to = BG_KVER(3, 9, 0)},
	{.key = "autobind_on_connect_port",
	 .question = "bind(addr, 0) lands on a connect()-made port",
	 .run = autobind_on_connect_port,
	 .yes_from = BG_KVER(4, 6, 0),
	 .no_to = BG_KVER(4, 6, 0)},
	{.key = "mapped_wildcard_per_family",
	 .question = "::ffff:127.0.0.2:P binds next to ::ffff:0.0.0.0:P",
	 .run = mapped_wildcard_per_family,
	 .yes_from = BG_KVER(6, 1, 0),
	 .yes_to = BG_KVER(6, 8, 0),
	 .no_is_outside_yes = true},
	{.key = "v4_and_mapped_share",
	 .question = "127.0.0.1:P and ::ffff:127.0.0.1:P conflict (one bucket)",
	 .run = v4_and_mapped_share},
	{.key = "first_owner_sets_state",
	 .question = "the first owner's SO_REUSEADDR sets the bucket's state",
	 .run = first_owner_sets_state,
	 .yes_to = BG_KVER(6, 8, 0),
	 .no_from = BG_KVER(6, 8, 0)},
	/* a socket option, not a bucket rule, and backported (Debian's 6.1.192
	 * has it): reported, no bound on the era */
	{.key = "ip_local_port_range_option",
	 .question = "IP_LOCAL_PORT_RANGE exists (6.3+, some backports)",
	 .run = ip_local_port_range_option},
};
#define NEXP (sizeof(experiments) / sizeof(experiments[0]))

/* Run one experiment in a child in its own namespace. */
static enum answer run_one(const struct experiment *e, char *detail, size_t len)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(detail, len, "pipe: %s", strerror(errno));
		return UNCLEAR;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(detail, len, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return UNCLEAR;
	}
	if (pid == 0) {
		close(pfd[0]);
		char d[240] = "";
		enum answer a = setup_netns(d, sizeof(d)) == 0 ? e->run(d, sizeof(d)) : UNCLEAR;
		char out[256];
		int n = snprintf(out, sizeof(out), "%d %s", (int)a, d);
		if (write(pfd[1], out, (size_t)(n < (int)sizeof(out) ? n : (int)sizeof(out) - 1)) <
		    0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	char buf[256];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(buf) - 1 && ((n = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) > 0 ||
					 (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	buf[got] = 0;
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int a = UNCLEAR;
	char *sp = strchr(buf, ' ');
	if (!got || !sp || sscanf(buf, "%d", &a) != 1 || a < NO || a > UNCLEAR) {
		snprintf(detail, len, "the experiment's process gave no answer");
		return UNCLEAR;
	}
	snprintf(detail, len, "%s", sp + 1);
	return (enum answer)a;
}

/* ---- the verdict ---------------------------------------------------------------------- */

struct verdict {
	enum answer answers[NEXP];
	char details[NEXP][256];
	bool decided; /* the pin experiments answered */
	enum bg_profile_id profile;
	bool era_known;
	struct bg_probe_era era;
};

/* narrow [from, to) by [lo, hi) (0 = open) */
static void narrow(struct bg_probe_era *e, unsigned lo, unsigned hi)
{
	if (lo > e->from)
		e->from = lo;
	if (hi && (!e->to || hi < e->to))
		e->to = hi;
}

/* take [lo, hi) out of [from, to) where what is left is one interval */
static void exclude(struct bg_probe_era *e, unsigned lo, unsigned hi)
{
	if (e->from >= lo && e->from < hi)
		e->from = hi; /* the interval starts inside: it starts after */
	else if (e->from < lo && e->to && e->to > lo && e->to <= hi)
		e->to = lo; /* it ends inside: it ends before */
	else if (e->from >= lo && e->to && e->to <= hi)
		e->to = e->from; /* wholly inside: empty */
}

static void decide(struct verdict *v)
{
	struct bg_probe_era e = {0, 0};
	for (size_t i = 0; i < NEXP; i++) {
		const struct experiment *x = &experiments[i];
		if (v->answers[i] == YES)
			narrow(&e, x->yes_from, x->yes_to);
		else if (v->answers[i] == NO)
			narrow(&e, x->no_from, x->no_to);
	}
	for (size_t i = 0; i < NEXP; i++)
		if (v->answers[i] == NO && experiments[i].no_is_outside_yes)
			exclude(&e, experiments[i].yes_from, experiments[i].yes_to);
	v->era_known = !e.to || e.to > e.from;
	v->era = e;
	enum answer outlives = v->answers[0], reuse_pins = v->answers[1];
	v->decided = outlives != UNCLEAR;
	if (outlives == NO)
		v->profile = BG_PROFILE_RELEASE;
	else if (reuse_pins == NO)
		v->profile = BG_PROFILE_LEGACY26;
	else
		v->profile = BG_PROFILE_CLASSIC;
}

static const char *answer_name(enum answer a)
{
	return a == YES ? "yes" : a == NO ? "no" : "unclear";
}

static cJSON *verdict_json(const struct verdict *v, const char *release)
{
	char a[16], b[16], when[32];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "schema", BG_PROBE_SCHEMA);
	cJSON_AddStringToObject(o, "kernel", release);
	cJSON_AddStringToObject(o, "profile", bg_profile_name(v->profile));
	if (v->era_known) {
		cJSON *e = cJSON_AddObjectToObject(o, "era");
		cJSON_AddStringToObject(e, "from", bg_kver_str(v->era.from, a, sizeof(a)));
		if (v->era.to)
			cJSON_AddStringToObject(e, "to", bg_kver_str(v->era.to, b, sizeof(b)));
		else
			cJSON_AddNullToObject(e, "to");
	} else {
		cJSON_AddNullToObject(o, "era");
	}
	unsigned kver = bg_kver_parse(release);
	cJSON_AddStringToObject(o, "by_uname", bg_profile_name(bg_profile_for_kernel(kver).id));
	cJSON *x = cJSON_AddObjectToObject(o, "experiments");
	for (size_t i = 0; i < NEXP; i++) {
		cJSON *r = cJSON_AddObjectToObject(x, experiments[i].key);
		cJSON_AddStringToObject(r, "answer", answer_name(v->answers[i]));
		cJSON_AddStringToObject(r, "saw", v->details[i]);
	}
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	cJSON_AddStringToObject(o, "taken", when);
	cJSON_AddStringToObject(o, "bindguard", BG_VERSION);
	return o;
}

static int fill_text(FILE *f, const void *text)
{
	return fputs(text, f) < 0 ? -1 : 0;
}

/* write text to path atomically (scan.h), its folder made when missing */
static int write_probe_file(const char *path, const char *text)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -1;
	}
	return write_atomic(path, fill_text, text);
}

static void probe_usage(FILE *f)
{
	fprintf(f,
		"usage: bindguard probe [--json] [--write [--file PATH]]\n"
		"Tell this kernel's bind-bucket profile by experiment (root: each experiment runs\n"
		"in a private network namespace with a one-port ephemeral range). Prints what\n"
		"each experiment saw and the profile that follows. --write stores the result in\n"
		"%s (or PATH), which the shim reads at start and prefers\n"
		"to the version table for uname -r. --json prints that file's content.\n"
		"\n"
		"exit codes: 0 ok; 2 usage error; 5 the file could not be written; 6 no profile\n"
		"            decided (not root, or the pin experiment gave no answer)\n",
		BG_DEFAULT_PROBE_FILE);
}

int cmd_probe(int argc, char **argv)
{
	bool json = false, write = false;
	const char *path = BG_DEFAULT_PROBE_FILE;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			probe_usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--write") == 0) {
			write = true;
		} else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc &&
			   argv[i + 1][0] == '/') {
			path = argv[++i];
		} else {
			fprintf(stderr, "bindguard probe: bad argument \"%s\"%s\n", argv[i],
				strcmp(argv[i], "--file") == 0 ? " (--file takes an absolute path)"
							       : "");
			probe_usage(stderr);
			return EXIT_USAGE;
		}
	}
	struct utsname u;
	if (uname(&u) != 0) {
		fprintf(stderr, "bindguard probe: uname: %s\n", strerror(errno));
		return EXIT_PROBE;
	}
	struct verdict v;
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < NEXP; i++)
		v.answers[i] = run_one(&experiments[i], v.details[i], sizeof(v.details[i]));
	decide(&v);
	if (!v.decided && strncmp(v.details[0], "unshare(", 8) == 0)
		fprintf(stderr,
			"bindguard probe: cannot make a network namespace (%s): run it as root\n",
			v.details[0]);
	unsigned kver = bg_kver_parse(u.release);
	enum bg_profile_id table = bg_profile_for_kernel(kver).id;
	cJSON *o = verdict_json(&v, u.release);
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text) {
		fprintf(stderr, "bindguard probe: out of memory\n");
		return EXIT_PROBE;
	}
	char a[16], b[16];
	if (json) {
		printf("%s\n", text);
	} else {
		printf("bindguard probe: kernel %s, each experiment in a private network "
		       "namespace, "
		       "ephemeral range %d-%d\n",
		       u.release, PROBE_PORT, PROBE_PORT);
		for (size_t i = 0; i < NEXP; i++)
			printf("  %-58s %-7s %s\n", experiments[i].question,
			       answer_name(v.answers[i]), v.details[i]);
		if (!v.decided)
			printf("profile: undecided (the pin experiment gave no answer); the "
			       "version "
			       "table says %s\n",
			       bg_profile_name(table));
		else
			printf("profile: %s%s; the version table says %s for %s: %s\n",
			       bg_profile_name(v.profile),
			       v.era_known
				       ? ""
				       : " (the answers fit no single upstream era: backports?)",
			       bg_profile_name(table), u.release,
			       table != v.profile ? "they DISAGREE, the probe wins"
			       : v.era_known &&
					       (kver < v.era.from || (v.era.to && kver >= v.era.to))
				       ? "same profile, but the rules of another era"
				       : "agree");
		if (v.decided && v.era_known)
			printf("era: kernels %s to %s behave so\n",
			       bg_kver_str(v.era.from, a, sizeof(a)),
			       v.era.to ? bg_kver_str(v.era.to, b, sizeof(b)) : "today's");
	}
	int rc = v.decided ? EXIT_OK : EXIT_PROBE;
	if (write && v.decided) {
		if (write_probe_file(path, text) != 0) {
			fprintf(stderr, "bindguard probe: cannot write %s: %s\n", path,
				strerror(errno));
			rc = EXIT_IO;
		} else {
			/* read back through the shim's own reader: what it will see */
			struct bg_probe_file pf;
			char why[200];
			if (bg_probe_file_read(path, &pf, why, sizeof(why)) != 0) {
				fprintf(stderr,
					"bindguard probe: wrote %s, but the shim would refuse it: "
					"%s\n",
					path, why);
				rc = EXIT_IO;
			} else if (!json) {
				printf("wrote %s: the shim uses profile %s on this kernel from now "
				       "on\n",
				       path, bg_profile_name(pf.profile));
			}
		}
	} else if (write) {
		fprintf(stderr, "bindguard probe: nothing written to %s: no profile decided\n",
			path);
	}
	free(text);
	return rc;
}
