/* bindguard: the command beside the shim.
 *   bindguard run [--mode M] [--config F] [--log DEST] [--profile P] -- CMD ARGS...
 *   bindguard check-config [--program NAME] [FILE]
 *   bindguard profile [KERNEL-RELEASE]
 *   bindguard scan [--json] [--prom FILE] [--svg FILE]      (scan.c, scanout.c, svg.c)
 *   bindguard report [--json] [--top N] [FILE...|-]          (report.c)
 *   bindguard agent ARGS    execs bindguard-agent (agent/agent.c: libbpf)
 *   bindguard --version | --help
 * Shares the config parser with the shim, so check-config prints exactly the
 * message the shim would print for the same file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../shim/probefile.h"
#include "cmd.h"
#include "config.h"

#include "version.h"

int is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bindguard run [--mode off|audit|enforce] [--config FILE] [--log DEST]\n"
		"                     [--profile auto|legacy-2.6|classic|release] -- CMD "
		"[ARGS...]\n"
		"       bindguard scan [--json] [--prom FILE] [--svg FILE] [--all]\n"
		"       bindguard report [--json] [--top N] [FILE...|-]\n"
		"       bindguard check-config [--program NAME] [FILE]\n"
		"       bindguard profile [KERNEL-RELEASE]\n"
		"       bindguard probe [--json] [--write [--file PATH]]\n"
		"       bindguard agent --cgroup PATH | --unit NAME [--mode M] [--config F] [--log "
		"DEST]\n"
		"       bindguard --version\n"
		"       bindguard COMMAND --help\n"
		"\n"
		"run           start CMD with libbindguard.so preloaded (LD_PRELOAD entries "
		"already\n"
		"              set are kept); DEST is stderr, syslog or an absolute path\n"
		"scan          this network namespace's ephemeral ports, without preloading:\n"
		"              half-closed connections, ports that look pinned, listeners in "
		"the\n"
		"              range, headroom; as a table, JSON, Prometheus textfile or SVG grid\n"
		"report        summarise event logs (JSON lines, plain or gzip, or stdin)\n"
		"check-config  validate FILE (default: $BINDGUARD_CONFIG, then\n"
		"              /etc/bindguard/bindguard.json) and print the effective "
		"configuration;\n"
		"              --program NAME evaluates the rules' program selectors for NAME\n"
		"profile       the bind-bucket profile of this kernel (or of KERNEL-RELEASE), and\n"
		"              what it means for a pinned port\n"
		"probe         as root, tell the profile by experiment in a private network\n"
		"              namespace; --write stores it where the shim reads it at start\n"
		"              (" BG_DEFAULT_PROBE_FILE ")\n"
		"agent         as root, eBPF: judge every bind of the programs in a cgroup v2\n"
		"              (Go, static binaries too); runs bindguard-agent (its --help)\n"
		"\n"
		"exit codes: 0 ok; 1 invalid configuration; 2 usage error; 3 library (or agent)\n"
		"            not found; 4 kernel query failed (scan); 5 a file could not be read\n"
		"            or written (scan, report, probe, agent); 6 no profile decided "
		"(probe);\n"
		"            7 not root (agent); 8 a kernel feature missing (agent); 127 CMD "
		"could\n"
		"            not be started (run); otherwise run\n"
		"            exits with CMD's own status\n");
}

/* Where `make install` put the command and the library (Makefile: BINDIR,
 * LIBDIR). A package's library is not always at ../lib/bindguard from the
 * command: Debian's is in /usr/lib/<multiarch>/bindguard. */
#ifndef BG_BINDIR
#define BG_BINDIR "/usr/local/bin"
#endif
#ifndef BG_LIBDIR
#define BG_LIBDIR "/usr/local/lib/bindguard"
#endif

/* A file of bindguard's that lives in LIBDIR (the library, the agent; its
 * installed path is in_libdir): $ENV_NAME; for the command at its installed
 * place, in_libdir first; else beside an in-tree command, or
 * ../lib/bindguard of a copied (DESTDIR, relocated) one, then in_libdir. A
 * command elsewhere takes its own build's file before an installed one, so
 * an in-tree test never runs a library or agent installed on the machine. */
static int find_installed(const char *env_name, const char *file, const char *in_libdir, char *out,
			  size_t len)
{
	const char *env = secure_getenv(env_name);
	if (env && *env && access(env, R_OK) == 0) {
		snprintf(out, len, "%s", env);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	char bindir[PATH_MAX];
	int installed = realpath(BG_BINDIR, bindir) && strcmp(bindir, self) == 0;
	/* in_libdir (NULL here), or folders relative to the command's */
	const char *candidates[] = {NULL, "", "../lib/bindguard/", "../lib/", NULL};
	unsigned n_cand = sizeof(candidates) / sizeof(candidates[0]);
	for (unsigned i = installed ? 0 : 1; i < n_cand; i++) {
		char path[2 * PATH_MAX];
		if (!candidates[i])
			snprintf(path, sizeof(path), "%s", in_libdir);
		else
			snprintf(path, sizeof(path), "%s/%s%s", self, candidates[i], file);
		char real[PATH_MAX];
		if (realpath(path, real) && access(real, R_OK) == 0) {
			snprintf(out, len, "%s", real);
			return 0;
		}
	}
	return -1;
}

/* The library: $BINDGUARD_LIBRARY, then as find_installed says. */
static int find_library(char *out, size_t len)
{
	return find_installed("BINDGUARD_LIBRARY", "libbindguard.so", BG_LIBDIR "/libbindguard.so",
			      out, len);
}

/* bindguard agent ARGS: exec bindguard-agent, found as the library is (it
 * links libbpf; this command does not). */
static int cmd_agent(int argc, char **argv)
{
	char agent[PATH_MAX];
	if (find_installed("BINDGUARD_AGENT", "bindguard-agent", BG_LIBDIR "/bindguard-agent",
			   agent, sizeof(agent)) != 0) {
		fprintf(stderr,
			"bindguard agent: bindguard-agent not found beside this program, in "
			"../lib/bindguard or in " BG_LIBDIR
			" (set BINDGUARD_AGENT; `make agent` builds it)\n");
		return EXIT_NO_LIBRARY;
	}
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args)
		return EXIT_EXEC;
	args[0] = agent;
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	execv(agent, args);
	fprintf(stderr, "bindguard agent: cannot run %s: %s\n", agent, strerror(errno));
	free(args);
	return EXIT_EXEC;
}

static void run_usage(FILE *f)
{
	fprintf(f, "usage: bindguard run [--mode off|audit|enforce] [--config FILE] [--log DEST]\n"
		   "                     [--profile auto|legacy-2.6|classic|release] -- CMD "
		   "[ARGS...]\n"
		   "\n"
		   "Start CMD with libbindguard.so preloaded (LD_PRELOAD entries already set are\n"
		   "kept). The options set BINDGUARD_MODE, _CONFIG, _LOG and _PROFILE; DEST is\n"
		   "stderr, syslog or an absolute path. The configuration is checked first, and a\n"
		   "problem is reported here (the shim then runs in audit mode with defaults).\n"
		   "The library is found through $BINDGUARD_LIBRARY, in " BG_LIBDIR " when this\n"
		   "program is the installed " BG_BINDIR "/bindguard, else beside this program,\n"
		   "in ../lib/bindguard, or in " BG_LIBDIR ".\n"
		   "\n"
		   "exit codes: 2 usage error; 3 library not found; 127 CMD could not be\n"
		   "            started; otherwise CMD's own status (run execs it)\n");
}

static int cmd_run(int argc, char **argv)
{
	static const char *const opts[][2] = {{"--mode", "BINDGUARD_MODE"},
					      {"--config", "BINDGUARD_CONFIG"},
					      {"--log", "BINDGUARD_LOG"},
					      {"--profile", "BINDGUARD_PROFILE"}};
	int i = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (is_help(argv[i])) {
			run_usage(stdout);
			return EXIT_OK;
		}
		bool known = false;
		for (unsigned k = 0; k < 4; k++) {
			size_t l = strlen(opts[k][0]);
			if (strncmp(argv[i], opts[k][0], l) != 0)
				continue;
			const char *val = NULL;
			if (argv[i][l] == '=')
				val = argv[i] + l + 1;
			else if (argv[i][l] == 0 && i + 1 < argc)
				val = argv[++i];
			if (!val) {
				fprintf(stderr, "bindguard run: %s needs a value\n", opts[k][0]);
				return EXIT_USAGE;
			}
			setenv(opts[k][1], val, 1);
			known = true;
			break;
		}
		if (!known) {
			if (argv[i][0] == '-') {
				fprintf(stderr, "bindguard run: unknown option %s\n", argv[i]);
				return EXIT_USAGE;
			}
			break; /* the command starts here */
		}
	}
	if (i >= argc) {
		fprintf(stderr, "bindguard run: no command given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	/* Check the configuration the shim will read, and say so now, at the
	 * terminal, rather than only in the service's log. */
	struct bg_config c;
	const char *cfg = secure_getenv("BINDGUARD_CONFIG");
	bg_config_load(&c, cfg && *cfg ? cfg : NULL, "");
	bg_config_env(&c);
	if (c.error[0])
		fprintf(stderr, "bindguard run: %s; %s\n", c.error, bg_config_fallback(&c));

	char lib[PATH_MAX];
	if (find_library(lib, sizeof(lib)) != 0) {
		fprintf(stderr,
			"bindguard run: libbindguard.so not found beside %s, in ../lib/bindguard "
			"or "
			"in %s (set BINDGUARD_LIBRARY)\n",
			"this program", BG_LIBDIR);
		return EXIT_NO_LIBRARY;
	}
	const char *old = secure_getenv("LD_PRELOAD");
	if (old && *old) {
		char *both;
		if (asprintf(&both, "%s:%s", lib, old) < 0)
			return EXIT_EXEC;
		setenv("LD_PRELOAD", both, 1);
		free(both);
	} else {
		setenv("LD_PRELOAD", lib, 1);
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "bindguard run: cannot run %s: %s\n", argv[i], strerror(errno));
	return EXIT_EXEC;
}

static void check_config_usage(FILE *f)
{
	fprintf(f, "usage: bindguard check-config [--program NAME] [FILE]\n"
		   "\n"
		   "Validate a configuration the way the shim reads it, and print the effective\n"
		   "configuration as JSON. FILE defaults to $BINDGUARD_CONFIG, then\n"
		   "/etc/bindguard/bindguard.json; without FILE, the BINDGUARD_MODE, _LOG and\n"
		   "_PROFILE variables apply too. --program NAME: evaluate the rules' programs /\n"
		   "except_programs selectors for a process named NAME (applies_to_this_program).\n"
		   "An invalid configuration prints the shim's one-line message on stderr and\n"
		   "the configuration the shim then runs with (the built-in defaults).\n"
		   "\n"
		   "exit codes: 0 valid; 1 invalid configuration; 2 usage error\n");
}

static int cmd_check_config(int argc, char **argv)
{
	const char *program = "", *file = NULL;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			check_config_usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--program") == 0 && i + 1 < argc) {
			program = argv[++i];
		} else if (strncmp(argv[i], "--program=", 10) == 0) {
			program = argv[i] + 10;
		} else if (argv[i][0] == '-' || file) {
			fprintf(stderr, "bindguard check-config: %s\n",
				file ? "one file at most" : "unknown or incomplete option");
			check_config_usage(stderr);
			return EXIT_USAGE;
		} else {
			file = argv[i];
		}
	}
	const char *path = file ? file : secure_getenv("BINDGUARD_CONFIG");
	struct bg_config c;
	bg_config_load(&c, path && *path ? path : NULL, program);
	if (!file)
		bg_config_env(&c);
	/* a broken configuration: the shim's own line, then what it runs with */
	if (c.error[0])
		fprintf(stderr, "bindguard: %s; %s\n", c.error, bg_config_fallback(&c));
	char *json = bg_config_json(&c);
	printf("%s\n", json);
	free(json);
	return c.error[0] ? EXIT_BAD_CONFIG : EXIT_OK;
}

static const char *profile_meaning(enum bg_profile_id id)
{
	switch (id) {
	case BG_PROFILE_LEGACY26:
		return "Kernels before 3.9: a plain bind() or a listen() on a port that connect() "
		       "shares\n"
		       "pins it until every socket on the port is closed; an SO_REUSEADDR bind "
		       "that\n"
		       "never listens does not pin.";
	case BG_PROFILE_CLASSIC:
		return "Kernels 3.9 to 6.17.7 (RHEL 8/9, Ubuntu 22.04/24.04, Debian 12): any "
		       "successful\n"
		       "bind() of a port that connect() shares pins it, and the pin outlives the "
		       "binder:\n"
		       "connect() skips the port until every socket on it is gone. A connection "
		       "left in\n"
		       "CLOSE_WAIT by its application keeps the port lost for good.";
	case BG_PROFILE_RELEASE:
		return "Kernels 6.17.8 and 6.18 on: the pin lasts while the binder (or another "
		       "socket\n"
		       "that was not placed by connect()) holds the port; when only connect() "
		       "sockets\n"
		       "remain, connect() may use the port again.";
	}
	return "";
}

static int cmd_profile(int argc, char **argv)
{
	if (argc > 0 && is_help(argv[0])) {
		printf("usage: bindguard profile [KERNEL-RELEASE]\n"
		       "\n"
		       "The bind-bucket profile of the running kernel (or of KERNEL-RELEASE, such "
		       "as\n"
		       "6.1.0-28-cloud-amd64) and how long a pinned port stays lost to connect().\n"
		       "\n"
		       "exit codes: 0 ok; 2 the release has no version number\n");
		return EXIT_OK;
	}
	struct utsname u;
	const char *release = argc > 0 ? argv[0] : (uname(&u) == 0 ? u.release : "");
	unsigned kver = bg_kver_parse(release);
	if (!kver) {
		fprintf(stderr, "bindguard profile: cannot read a version from \"%s\"\n", release);
		return EXIT_USAGE;
	}
	struct bg_profile p = bg_profile_for_kernel(kver);
	printf("kernel %s: profile %s\n%s\n", release, bg_profile_name(p.id),
	       profile_meaning(p.id));
	if (argc > 0)
		return EXIT_OK;
	/* the running kernel: what the shim will use, probe file included */
	const char *path = secure_getenv("BINDGUARD_PROBE_FILE");
	if (!path || !*path)
		path = BG_DEFAULT_PROBE_FILE;
	struct bg_probe_file pf;
	struct bg_profile_choice c;
	char why[200];
	int rc = bg_probe_file_read(path, &pf, why, sizeof(why));
	bg_profile_choose(true, p.id, release, kver, path, rc, &pf, why, &c);
	if (rc == 1)
		printf("no probe file %s: the shim goes by the version table (bindguard probe "
		       "--write tells the profile by experiment)\n",
		       path);
	else
		printf("the shim uses profile %s, chosen by %s%s%s\n",
		       bg_profile_name(c.profile.id),
		       c.source == BG_SOURCE_PROBE ? "the probe file " : "the version table",
		       c.source == BG_SOURCE_PROBE ? path : "", c.note[0] ? "" : " (they agree)");
	if (c.note[0])
		printf("  %s\n", c.note);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("bindguard %s\n", BG_VERSION);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(argv[1], "profile") == 0)
		return cmd_profile(argc - 2, argv + 2);
	if (strcmp(argv[1], "check-config") == 0)
		return cmd_check_config(argc - 2, argv + 2);
	if (strcmp(argv[1], "scan") == 0)
		return cmd_scan(argc - 2, argv + 2);
	if (strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 2, argv + 2);
	if (strcmp(argv[1], "probe") == 0)
		return cmd_probe(argc - 2, argv + 2);
	if (strcmp(argv[1], "agent") == 0)
		return cmd_agent(argc - 2, argv + 2);
	fprintf(stderr, "bindguard: unknown command %s\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
