/* config.h: bindguard's configuration: the JSON file, environment overrides,
 * and the validation messages both the shim and `bindguard check-config` print.
 * Never: take a service down. A bad config yields defaults plus a message.
 */
#ifndef BG_CONFIG_H
#define BG_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"

#include "policy.h"

enum bg_level { BG_LEVEL_INFO, BG_LEVEL_DEBUG };

#define BG_MAX_RULES	 64
#define BG_MAX_SELECTORS 16

struct bg_port_span {
	uint16_t low, high;
};

struct bg_cidr {
	struct in6_addr addr; /* IPv4 v4-mapped */
	uint8_t prefix;	      /* over the 128-bit form */
};

/* A rule applies to a bind when every selector it has matches; the first
 * rule that applies sets the mode and the blocked hazards for that bind. */
struct bg_rule {
	bool program_match; /* decided once: the process name is constant (and
			     * false when a cgroups selector does not match) */
	bool has_programs;  /* a programs or except_programs selector */
	bool has_cgroups;   /* a cgroups selector */
	bool cgroup_match;  /* it matched bg_config_set_cgroup's path */
	struct bg_port_span ports[BG_MAX_SELECTORS];
	unsigned nports;
	struct bg_cidr addrs[BG_MAX_SELECTORS];
	unsigned naddrs;
	int mode;	   /* enum bg_mode, or -1: keep the global mode */
	int block_hazards; /* bitmask of 1 << bg_hazard, or -1: keep */
	int remedy;	   /* 0 or 1, or -1: keep the global setting */
};

struct bg_config {
	enum bg_mode mode;
	enum bg_level level;
	char log[512]; /* "stderr", "syslog" or an absolute path */
	bool profile_auto;
	enum bg_profile_id profile;
	unsigned block_hazards; /* bitmask of 1 << bg_hazard */
	int block_errno;
	bool remedy; /* IP_BIND_ADDRESS_NO_PORT for bind(addr, 0) */
	struct bg_rule rules[BG_MAX_RULES];
	unsigned nrules;
	char source[512]; /* the file read, or "built-in defaults" */
	char error[768];  /* the first problem found, empty if none */
};

/* The built-in defaults: audit, stderr, auto profile, block pin_halfclosed
 * with EADDRINUSE (in enforce mode). */
void bg_config_defaults(struct bg_config *c);

/* Parse JSON text into c (starting from defaults). `file` names the input in
 * messages. On error: returns -1, c holds the defaults, c->error the message
 * ("FILE:LINE: ..." for syntax, "FILE: FIELD: expected ..." for values). */
int bg_config_parse(struct bg_config *c, const char *text, const char *file, const char *progname);

/* The cgroup v2 path (as in the "0::" line of /proc/PID/cgroup, e.g.
 * "/system.slice/legacyd.service") that rules' "cgroups" selectors match: an
 * entry matches that path or an ancestor of it. NULL (the default, and the
 * shim's): a rule with a cgroups selector never applies. The agent sets the
 * cgroup it attaches to, before bg_config_load. */
void bg_config_set_cgroup(const char *path);

/* Load the file at path (NULL: the default path, absent = defaults). The
 * file must be a regular file, not a symlink, and not writable by others. */
int bg_config_load(struct bg_config *c, const char *path, const char *progname);

/* Apply BINDGUARD_MODE / _LOG / _PROFILE / _REMEDY (secure_getenv). On a bad value
 * c->error gets the message (if empty). Then, if c->error is set (by the file
 * or here), c holds the built-in defaults (audit, no rules, no remedy) but for
 * a valid BINDGUARD_MODE=off and a valid BINDGUARD_LOG: every broken
 * configuration ends in this one state. */
void bg_config_env(struct bg_config *c);

/* What a broken configuration (c->error set) runs as, for the message:
 * "running in audit mode with defaults", or that BINDGUARD_MODE=off holds. */
const char *bg_config_fallback(const struct bg_config *c);

/* The effective configuration as JSON text (malloc'd; caller frees). */
char *bg_config_json(const struct bg_config *c);

/* errno <-> "EADDRINUSE" */
const char *bg_errno_name(int err);
int bg_errno_parse(const char *name);

#endif
