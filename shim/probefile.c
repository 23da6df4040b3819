/* probefile.c: the probe file, and the choice of profile (probefile.h). */
#include "probefile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust.h"

const char *bg_kver_str(unsigned kver, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u", kver >> 16, (kver >> 8) & 0xff, kver & 0xff);
	return buf;
}

static int bad(char *why, size_t len, const char *what)
{
	snprintf(why, len, "%s", what);
	return -1;
}

/* "from"/"to" of the era: a version string, or null for "to" */
static int era_bound(const cJSON *era, const char *key, unsigned *out, bool may_be_null, char *why,
		     size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(era, key);
	if (may_be_null && cJSON_IsNull(v)) {
		*out = 0;
		return 0;
	}
	if (!cJSON_IsString(v) || !(*out = bg_kver_parse(v->valuestring))) {
		snprintf(why, len, "\"era.%s\" is not a version such as \"6.1.0\"%s", key,
			 may_be_null ? " or null" : "");
		return -1;
	}
	return 0;
}

int bg_probe_file_parse(const char *text, struct bg_probe_file *pf, char *why, size_t len)
{
	memset(pf, 0, sizeof(*pf));
	cJSON *root = cJSON_Parse(text);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return bad(why, len, "not a JSON object");
	}
	int r = -1;
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
	const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(root, "kernel");
	const cJSON *profile = cJSON_GetObjectItemCaseSensitive(root, "profile");
	const cJSON *era = cJSON_GetObjectItemCaseSensitive(root, "era");
	if (!cJSON_IsNumber(schema) || schema->valuedouble != BG_PROBE_SCHEMA)
		snprintf(why, len, "\"schema\" is not %d (written by another bindguard version?)",
			 BG_PROBE_SCHEMA);
	else if (!cJSON_IsString(kernel) || !*kernel->valuestring ||
		 strlen(kernel->valuestring) >= sizeof(pf->kernel))
		bad(why, len, "\"kernel\" is not a kernel release string");
	else if (!cJSON_IsString(profile) ||
		 bg_profile_parse(profile->valuestring, &pf->profile) != 0)
		bad(why, len, "\"profile\" is not legacy-2.6, classic or release");
	else if (!cJSON_IsNull(era) && !cJSON_IsObject(era))
		bad(why, len, "\"era\" is neither an object nor null");
	else if (cJSON_IsObject(era) &&
		 (era_bound(era, "from", &pf->era.from, false, why, len) != 0 ||
		  era_bound(era, "to", &pf->era.to, true, why, len) != 0))
		; /* why says which */
	else if (cJSON_IsObject(era) && pf->era.to && pf->era.to <= pf->era.from)
		bad(why, len, "\"era.to\" is not above \"era.from\"");
	else {
		snprintf(pf->kernel, sizeof(pf->kernel), "%s", kernel->valuestring);
		pf->era_known = cJSON_IsObject(era);
		r = 0;
	}
	cJSON_Delete(root);
	return r;
}

int bg_probe_file_read(const char *path, struct bg_probe_file *pf, char *why, size_t len)
{
	memset(pf, 0, sizeof(*pf));
	char *text;
	size_t n;
	int r = bg_read_trusted(path, BG_PROBE_FILE_MAX, &text, &n, why, len);
	if (r != 0)
		return r;
	if (memchr(text, 0, n))
		r = bad(why, len, "holds a NUL byte");
	else
		r = bg_probe_file_parse(text, pf, why, len);
	free(text);
	return r;
}

const char *bg_profile_source_name(enum bg_profile_source s)
{
	return s == BG_SOURCE_CONFIG ? "config" : s == BG_SOURCE_PROBE ? "probe" : "uname";
}

static bool in_era(const struct bg_probe_era *e, unsigned kver)
{
	return kver >= e->from && (!e->to || kver < e->to);
}

void bg_profile_choose(bool cfg_auto, enum bg_profile_id cfg_profile, const char *release,
		       unsigned kver, const char *path, int probe_rc,
		       const struct bg_probe_file *pf, const char *probe_why,
		       struct bg_profile_choice *out)
{
	memset(out, 0, sizeof(*out));
	out->by_uname = bg_profile_for_kernel(kver).id;
	bool usable = probe_rc == 0 && strcmp(pf->kernel, release) == 0;
	if (probe_rc < 0)
		snprintf(out->note, sizeof(out->note), "probe file %s: %s; ignored", path,
			 probe_why);
	else if (probe_rc == 0 && !usable)
		snprintf(out->note, sizeof(out->note),
			 "probe file %s was taken on kernel %s, this is %s; ignored (run bindguard "
			 "probe --write again)",
			 path, pf->kernel, release);
	if (usable) {
		char a[16], b[16];
		bool era_off = pf->era_known && !in_era(&pf->era, kver);
		out->disagree = pf->profile != out->by_uname || era_off;
		if (pf->profile != out->by_uname)
			snprintf(out->note, sizeof(out->note),
				 "the probe saw profile %s; the version table says %s for %s",
				 bg_profile_name(pf->profile), bg_profile_name(out->by_uname),
				 release);
		else if (era_off)
			snprintf(out->note, sizeof(out->note),
				 "the probe saw the rules of kernels %s to %s, not those of %s",
				 bg_kver_str(pf->era.from, a, sizeof(a)),
				 pf->era.to ? bg_kver_str(pf->era.to, b, sizeof(b)) : "now",
				 release);
	}
	if (!cfg_auto) {
		out->source = BG_SOURCE_CONFIG;
		out->profile = bg_profile_named(cfg_profile, kver);
	} else if (usable) {
		out->source = BG_SOURCE_PROBE;
		/* the era's details follow the kernel's behaviour, not its number */
		unsigned k = pf->era_known && !in_era(&pf->era, kver) ? pf->era.from : kver;
		out->profile = bg_profile_named(pf->profile, k);
	} else {
		out->source = BG_SOURCE_UNAME;
		out->profile = bg_profile_for_kernel(kver);
	}
}
