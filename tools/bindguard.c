/* bindguard: the command beside the shim.
 *   bindguard run [--mode M] [--config F] [--log DEST] [--profile P] -- CMD ARGS...
 *   bindguard check-config [FILE]
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

#include "config.h"

#include "version.h"

/* Exit codes, documented in --help and the README. */
enum { EXIT_OK = 0, EXIT_BAD_CONFIG = 1, EXIT_USAGE = 2, EXIT_NO_LIBRARY = 3, EXIT_EXEC = 127 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bindguard run [--mode off|audit|enforce] [--config FILE] [--log DEST]\n"
		"                     [--profile auto|legacy-2.6|classic|release] -- CMD "
		"[ARGS...]\n"
		"       bindguard check-config [FILE]\n"
		"       bindguard profile [KERNEL-RELEASE]\n"
		"       bindguard --version\n"
		"\n"
		"run           start CMD with libbindguard.so preloaded (LD_PRELOAD entries "
		"already\n"
		"              set are kept); DEST is stderr, syslog or an absolute path\n"
		"check-config  validate FILE (default: $BINDGUARD_CONFIG, then\n"
		"              /etc/bindguard/bindguard.json) and print the effective "
		"configuration\n"
		"profile       the bind-bucket profile of this kernel (or of KERNEL-RELEASE), and\n"
		"              what it means for a pinned port\n"
		"\n"
		"exit codes: 0 ok; 1 invalid configuration; 2 usage error; 3 library not found;\n"
		"            127 CMD could not be started (run); otherwise CMD's own status\n");
}

/* libbindguard.so beside an in-tree tool, or in ../lib/bindguard for an installed one. */
static int find_library(char *out, size_t len)
{
	const char *env = secure_getenv("BINDGUARD_LIBRARY");
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
	const char *candidates[] = {"%s/libbindguard.so", "%s/../lib/bindguard/libbindguard.so",
				    "%s/../lib/libbindguard.so"};
	for (unsigned i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), candidates[i], self);
		char real[PATH_MAX];
		if (realpath(path, real) && access(real, R_OK) == 0) {
			snprintf(out, len, "%s", real);
			return 0;
		}
	}
	return -1;
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
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
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
	const char *cfg = getenv("BINDGUARD_CONFIG");
	bg_config_load(&c, cfg && *cfg ? cfg : NULL, "");
	bg_config_env(&c);
	if (c.error[0])
		fprintf(stderr,
			"bindguard run: %s; the shim will run in audit mode with defaults\n",
			c.error);

	char lib[PATH_MAX];
	if (find_library(lib, sizeof(lib)) != 0) {
		fprintf(stderr,
			"bindguard run: libbindguard.so not found beside %s or in ../lib/bindguard "
			"(set BINDGUARD_LIBRARY)\n",
			"this program");
		return EXIT_NO_LIBRARY;
	}
	const char *old = getenv("LD_PRELOAD");
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

static int cmd_check_config(int argc, char **argv)
{
	if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "bindguard check-config: one file at most\n");
		return EXIT_USAGE;
	}
	const char *path = argc == 1 ? argv[0] : getenv("BINDGUARD_CONFIG");
	struct bg_config c;
	bg_config_load(&c, path && *path ? path : NULL, "");
	if (argc == 0)
		bg_config_env(&c);
	if (c.error[0]) {
		fprintf(stderr, "bindguard: %s\n", c.error);
		return EXIT_BAD_CONFIG;
	}
	char *json = bg_config_json(&c);
	printf("%s\n", json);
	free(json);
	return EXIT_OK;
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
	fprintf(stderr, "bindguard: unknown command %s\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
