/* cmd.h: what the parts of the bindguard command share: the exit codes and
 * the entry points of the subcommands that live in their own files.
 * Never: state shared between subcommands; each runs once and exits.
 */
#ifndef BG_CMD_H
#define BG_CMD_H

/* Exit codes, documented in --help, docs/usage.md and bindguard(1). */
enum {
	EXIT_OK = 0,
	EXIT_BAD_CONFIG = 1, /* check-config, run: the configuration is invalid */
	EXIT_USAGE = 2,
	EXIT_NO_LIBRARY = 3, /* run: libbindguard.so not found */
	EXIT_KERNEL = 4,     /* scan: the sock_diag query failed */
	EXIT_IO = 5,	     /* scan, report, probe: a file could not be read or written */
	EXIT_PROBE = 6,	     /* probe: the experiments gave no profile (not root?) */
	EXIT_PRIVILEGE = 7,  /* agent: not root (agent/agent.c returns it) */
	EXIT_FEATURE = 8,    /* agent: the kernel lacks a feature (agent/agent.c) */
	EXIT_EXEC = 127,     /* run: CMD could not be started */
};

int cmd_scan(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_probe(int argc, char **argv);

/* "--help" or "-h" */
int is_help(const char *arg);

#endif
