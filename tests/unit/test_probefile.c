/* test_probefile.c: the probe file's parser and the choice of profile
 * (shim/probefile.c) with plain data: which of the config, a probe of this
 * kernel and the version table decides, and what the start event is told.
 */
#include <string.h>

#include "probefile.h"
#include "runner.h"

#define REL_5_14 "5.14.0-427.el9.x86_64"

static struct bg_probe_file parsed(const char *text)
{
	struct bg_probe_file pf;
	char why[200] = "";
	TEST_CONTEXT("%s", text);
	ASSERT_EQ(bg_probe_file_parse(text, &pf, why, sizeof(why)), 0);
	return pf;
}

static const char *refused(const char *text)
{
	static char why[200];
	struct bg_probe_file pf;
	why[0] = 0;
	TEST_CONTEXT("%s", text);
	ASSERT_EQ(bg_probe_file_parse(text, &pf, why, sizeof(why)), -1);
	return why;
}

TEST(test_a_probe_file_parses_with_and_without_an_upper_bound)
{
	struct bg_probe_file pf =
		parsed("{\"schema\": 1, \"kernel\": \"" REL_5_14 "\", \"profile\": "
		       "\"classic\", \"era\": {\"from\": \"4.6.0\", \"to\": \"6.3.0\"}, "
		       "\"experiments\": {}}");
	ASSERT_STR_EQ(pf.kernel, REL_5_14);
	ASSERT_EQ(pf.profile, BG_PROFILE_CLASSIC);
	ASSERT_TRUE(pf.era_known);
	ASSERT_EQ(pf.era.from, BG_KVER(4, 6, 0));
	ASSERT_EQ(pf.era.to, BG_KVER(6, 3, 0));
	pf = parsed("{\"schema\": 1, \"kernel\": \"6.18.2\", \"profile\": \"release\", \"era\": "
		    "{\"from\": \"6.17.8\", \"to\": null}}");
	ASSERT_EQ(pf.era.to, 0);
	pf = parsed(
		"{\"schema\": 1, \"kernel\": \"6.18.2\", \"profile\": \"release\", \"era\": null}");
	ASSERT_FALSE(pf.era_known);
}

TEST(test_a_bad_probe_file_names_the_field)
{
	ASSERT_TRUE(strstr(refused("[1]"), "not a JSON object") != NULL);
	ASSERT_TRUE(strstr(refused("{\"schema\": 2, \"kernel\": \"x\", \"profile\": \"classic\"}"),
			   "\"schema\"") != NULL);
	ASSERT_TRUE(strstr(refused("{\"schema\": 1, \"profile\": \"classic\"}"), "\"kernel\"") !=
		    NULL);
	ASSERT_TRUE(strstr(refused("{\"schema\": 1, \"kernel\": \"x\", \"profile\": \"auto\"}"),
			   "\"profile\"") != NULL);
	ASSERT_TRUE(strstr(refused("{\"schema\": 1, \"kernel\": \"x\", \"profile\": \"classic\", "
				   "\"era\": {\"from\": \"soon\"}}"),
			   "\"era.from\"") != NULL);
	ASSERT_TRUE(strstr(refused("{\"schema\": 1, \"kernel\": \"x\", \"profile\": \"classic\", "
				   "\"era\": {\"from\": \"6.3.0\", \"to\": \"4.6.0\"}}"),
			   "\"era.to\" is not above") != NULL);
	ASSERT_TRUE(strstr(refused("{\"schema\": 1, \"kernel\": \"x\", \"profile\": \"classic\", "
				   "\"era\": 7}"),
			   "\"era\"") != NULL);
}

static struct bg_profile_choice choose(bool cfg_auto, const char *release, int rc,
				       const struct bg_probe_file *pf)
{
	struct bg_profile_choice c;
	bg_profile_choose(cfg_auto, BG_PROFILE_RELEASE, release, bg_kver_parse(release), "/p.json",
			  rc, pf, "writable by other users (chmod o-w); refused", &c);
	return c;
}

TEST(test_a_probe_of_this_kernel_beats_the_table_and_says_they_disagree)
{
	struct bg_probe_file pf = parsed("{\"schema\": 1, \"kernel\": \"6.18.2\", \"profile\": "
					 "\"classic\", \"era\": null}");
	struct bg_profile_choice c = choose(true, "6.18.2", 0, &pf);
	ASSERT_EQ(c.source, BG_SOURCE_PROBE);
	ASSERT_EQ(c.profile.id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(c.by_uname, BG_PROFILE_RELEASE);
	ASSERT_TRUE(c.disagree);
	ASSERT_STR_EQ(c.note,
		      "the probe saw profile classic; the version table says release for 6.18.2");
}

TEST(test_an_agreeing_probe_keeps_the_release_details_inside_its_era)
{
	struct bg_probe_file pf =
		parsed("{\"schema\": 1, \"kernel\": \"" REL_5_14 "\", \"profile\": "
		       "\"classic\", \"era\": {\"from\": \"4.6.0\", \"to\": \"6.3.0\"}}");
	struct bg_profile_choice c = choose(true, REL_5_14, 0, &pf);
	ASSERT_EQ(c.source, BG_SOURCE_PROBE);
	ASSERT_FALSE(c.disagree);
	ASSERT_STR_EQ(c.note, "");
	ASSERT_EQ(c.profile.kver, BG_KVER(5, 14, 0));
}

TEST(test_a_backported_kernel_takes_the_probed_eras_details)
{
	/* a 5.14 that behaves like 6.8+: the model mirrors the era it saw */
	struct bg_probe_file pf =
		parsed("{\"schema\": 1, \"kernel\": \"" REL_5_14 "\", \"profile\": "
		       "\"classic\", \"era\": {\"from\": \"6.8.0\", \"to\": \"6.17.8\"}}");
	struct bg_profile_choice c = choose(true, REL_5_14, 0, &pf);
	ASSERT_EQ(c.source, BG_SOURCE_PROBE);
	ASSERT_EQ(c.profile.id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(c.profile.kver, BG_KVER(6, 8, 0));
	ASSERT_TRUE(c.disagree);
	ASSERT_TRUE(strstr(c.note, "rules of kernels 6.8.0 to 6.17.8") != NULL);
}

TEST(test_the_config_beats_the_probe_and_the_table_the_unusable_file)
{
	struct bg_probe_file pf = parsed("{\"schema\": 1, \"kernel\": \"6.1.0-28-cloud-amd64\", "
					 "\"profile\": \"classic\", \"era\": null}");
	struct bg_profile_choice c = choose(false, "6.1.0-28-cloud-amd64", 0, &pf);
	ASSERT_EQ(c.source, BG_SOURCE_CONFIG);
	ASSERT_EQ(c.profile.id, BG_PROFILE_RELEASE);
	/* taken on another kernel: ignored, and said */
	c = choose(true, "6.1.0-30-cloud-amd64", 0, &pf);
	ASSERT_EQ(c.source, BG_SOURCE_UNAME);
	ASSERT_EQ(c.profile.id, BG_PROFILE_CLASSIC);
	ASSERT_FALSE(c.disagree);
	ASSERT_TRUE(strstr(c.note, "taken on kernel 6.1.0-28-cloud-amd64, this is "
				   "6.1.0-30-cloud-amd64; ignored") != NULL);
	/* refused by the reader: ignored, with its reason */
	c = choose(true, "6.18.2", -1, &pf);
	ASSERT_EQ(c.source, BG_SOURCE_UNAME);
	ASSERT_EQ(c.profile.id, BG_PROFILE_RELEASE);
	ASSERT_STR_EQ(c.note,
		      "probe file /p.json: writable by other users (chmod o-w); refused; ignored");
	/* no file: the table, nothing to say */
	c = choose(true, "6.18.2", 1, &pf);
	ASSERT_EQ(c.source, BG_SOURCE_UNAME);
	ASSERT_STR_EQ(c.note, "");
}

RUN_TESTS(TEST_REF(test_a_probe_file_parses_with_and_without_an_upper_bound),
	  TEST_REF(test_a_bad_probe_file_names_the_field),
	  TEST_REF(test_a_probe_of_this_kernel_beats_the_table_and_says_they_disagree),
	  TEST_REF(test_an_agreeing_probe_keeps_the_release_details_inside_its_era),
	  TEST_REF(test_a_backported_kernel_takes_the_probed_eras_details),
	  TEST_REF(test_the_config_beats_the_probe_and_the_table_the_unusable_file))
