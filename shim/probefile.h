/* probefile.h: what `bindguard probe --write` saw this kernel do, and how the
 * shim picks its profile from the config, that file and `uname -r`.
 *
 * A version string can lie about behaviour (distributions backport fixes),
 * so an experiment on the running kernel beats the version table: the order
 * is an explicit profile in the config, then a probe file taken on this very
 * kernel release, then the table. The file (JSON, documented in
 * docs/usage.md) is read once at start; a missing, stale, untrusted or
 * broken file falls back to the table and says why, never more.
 */
#ifndef BG_PROBEFILE_H
#define BG_PROBEFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "bucket.h"

#define BG_DEFAULT_PROBE_FILE "/var/lib/bindguard/probe.json"
#define BG_PROBE_SCHEMA	      1
#define BG_PROBE_FILE_MAX     (64 * 1024)

/* Kernel versions whose rules match what the probe saw: [from, to), BG_KVER;
 * to == 0: no upper bound. */
struct bg_probe_era {
	unsigned from, to;
};

struct bg_probe_file {
	char kernel[65]; /* uname -r of the kernel it was taken on */
	enum bg_profile_id profile;
	bool era_known; /* false: the answers fit no single upstream era (backports) */
	struct bg_probe_era era;
};

/* Parse a probe file's text: 0, or -1 with why[len] naming the field. */
int bg_probe_file_parse(const char *text, struct bg_probe_file *pf, char *why, size_t len);

/* Read and parse path (O_NOFOLLOW, O_NONBLOCK, a regular file that passes
 * bg_trusted(), at most BG_PROBE_FILE_MAX bytes): 0 read; 1 no such file;
 * -1 refused or broken, why[len] says what. */
int bg_probe_file_read(const char *path, struct bg_probe_file *pf, char *why, size_t len);

enum bg_profile_source { BG_SOURCE_CONFIG, BG_SOURCE_PROBE, BG_SOURCE_UNAME };
const char *bg_profile_source_name(enum bg_profile_source s);

struct bg_profile_choice {
	struct bg_profile profile; /* what the model mirrors */
	enum bg_profile_source source;
	enum bg_profile_id by_uname; /* what the version table says of the release */
	bool disagree;		     /* a probe of this kernel and the table differ */
	char note[320];		     /* why a probe file was not used, or how it differs */
};

/* Pick the profile. release/kver: uname's; cfg_auto/cfg_profile: the
 * config's; probe_rc/pf/probe_why: bg_probe_file_read()'s answer for path. */
void bg_profile_choose(bool cfg_auto, enum bg_profile_id cfg_profile, const char *release,
		       unsigned kver, const char *path, int probe_rc,
		       const struct bg_probe_file *pf, const char *probe_why,
		       struct bg_profile_choice *out);

/* "4.6.0" for BG_KVER(4, 6, 0), into buf[len]. */
const char *bg_kver_str(unsigned kver, char *buf, size_t len);

#endif
