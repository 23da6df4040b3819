/* test_config.c: unit tests for bindguard's configuration (shim/config.c):
 * defaults, the shipped example, every class of error message, the file
 * checks of bg_config_load, environment overrides, rule matching and the
 * effective-config JSON.
 *
 * Build (from the repo root; the tests read conf/bindguard.json relative to it):
 *   gcc -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
 *       -Wno-unused-parameter -Ishim -Itests/unit -o build/test_config \
 *       tests/unit/test_config.c shim/config.c shim/bucket.c -lcjson
 * Run: build/test_config [NAME-FILTER]
 */
#define _GNU_SOURCE
#include "config.h"
#include "runner.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXAMPLE "conf/bindguard.json"
#define HZ(h)	(1u << (h))

/* ---- fixtures --------------------------------------------------------------- */

/* One config reused by every test (it is ~30 KiB): static, reset by each use. */
static struct bg_config cfg;

/* A scratch directory under /tmp, made on demand and removed by teardown. */
static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char path[160];
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/bg_test_config.XXXXXX");
		if (!mkdtemp(tmpdir)) {
			tmpdir[0] = 0;
			printf("# mkdtemp: %s\n", strerror(errno));
			runner_fail();
		}
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* Write text to a file in the scratch directory with the given mode. */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
	const char *path = tmp_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0);
	size_t len = strlen(text);
	ASSERT_EQ(write(fd, text, len), (long long)len);
	ASSERT_EQ(close(fd), 0);
	ASSERT_EQ(chmod(path, mode), 0); /* chmod: umask must not decide the test */
	return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
}

static void teardown(void)
{
	unsetenv("BINDGUARD_MODE");
	unsetenv("BINDGUARD_LOG");
	unsetenv("BINDGUARD_PROFILE");
	unsetenv("BINDGUARD_REMEDY");
	if (tmpdir[0]) {
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		tmpdir[0] = 0;
	}
}

static struct in6_addr v4(const char *s)
{
	struct in_addr a;
	struct in6_addr out;
	if (inet_pton(AF_INET, s, &a) != 1) {
		printf("# bad IPv4 literal in test: %s\n", s);
		runner_fail();
	}
	bg_addr_from_v4(&out, a.s_addr);
	return out;
}

static struct in6_addr v6(const char *s)
{
	struct in6_addr out;
	if (inet_pton(AF_INET6, s, &out) != 1) {
		printf("# bad IPv6 literal in test: %s\n", s);
		runner_fail();
	}
	return out;
}

#define ASSERT_CONTAINS(hay, needle)                                                      \
	do {                                                                              \
		const char *hay_ = (hay), *needle_ = (needle);                            \
		if (!hay_ || !strstr(hay_, needle_)) {                                    \
			RUNNER_FAIL_HEAD("ASSERT_CONTAINS", #hay ", " #needle);           \
			printf("#   %s = \"%s\"\n#   expected to contain \"%s\"\n", #hay, \
			       hay_ ? hay_ : "(null)", needle_);                          \
			runner_fail();                                                    \
		}                                                                         \
	} while (0)

/* The built-in defaults, field by field (error and source aside). */
static void assert_defaults(const struct bg_config *c)
{
	ASSERT_EQ(c->mode, BG_MODE_AUDIT);
	ASSERT_EQ(c->level, BG_LEVEL_INFO);
	ASSERT_STR_EQ(c->log, "stderr");
	ASSERT_TRUE(c->profile_auto);
	ASSERT_EQ(c->block_hazards, HZ(BG_HAZARD_PIN_HALFCLOSED));
	ASSERT_EQ(c->block_errno, EADDRINUSE);
	ASSERT_EQ(c->nrules, 0);
	ASSERT_FALSE(c->remedy);
}

static void parse_ok(const char *text, const char *prog)
{
	TEST_CONTEXT("config %s", text);
	int r = bg_config_parse(&cfg, text, "t.json", prog);
	if (r != 0)
		printf("#   error: %s\n", cfg.error);
	ASSERT_EQ(r, 0);
	ASSERT_STR_EQ(cfg.error, "");
}

/* Parse text as "t.json"; expect failure with a one-line message that
 * contains each of the given fragments, and the defaults in force. */
static void parse_fails(const char *text, const char *frag1, const char *frag2)
{
	TEST_CONTEXT("config %s", text);
	ASSERT_EQ(bg_config_parse(&cfg, text, "t.json", "prog"), -1);
	ASSERT_CONTAINS(cfg.error, "t.json");
	ASSERT_CONTAINS(cfg.error, frag1);
	if (frag2)
		ASSERT_CONTAINS(cfg.error, frag2);
	ASSERT_NULL(strchr(cfg.error, '\n'));
	assert_defaults(&cfg);
}

static void decide(uint16_t port, struct in6_addr addr, enum bg_mode *mode, unsigned *block)
{
	bg_policy_rules(&cfg, port, &addr, mode, block);
}

/* ---- defaults and the shipped example ---------------------------------------------- */

TEST(test_defaults)
{
	memset(&cfg, 0x5a, sizeof(cfg));
	bg_config_defaults(&cfg);
	assert_defaults(&cfg);
	ASSERT_EQ(cfg.profile, BG_PROFILE_CLASSIC);
	ASSERT_STR_EQ(cfg.source, "built-in defaults");
	ASSERT_STR_EQ(cfg.error, "");
	ASSERT_STR_EQ(bg_mode_name(cfg.mode), "audit");
	ASSERT_STR_EQ(bg_hazard_name(BG_HAZARD_PIN_HALFCLOSED), "pin_halfclosed");
	ASSERT_STR_EQ(bg_hazard_name(BG_HAZARD_NONE), "none");
}

TEST(test_empty_object_is_the_defaults)
{
	parse_ok("{}", "prog");
	assert_defaults(&cfg);
	ASSERT_STR_EQ(cfg.source, "t.json");
}

TEST(test_example_config_loads_cleanly)
{
	if (access(EXAMPLE, F_OK) != 0)
		printf("# %s not found: run the tests from the repository root\n", EXAMPLE);
	int r = bg_config_load(&cfg, EXAMPLE, "nginx");
	if (r != 0)
		printf("#   error: %s\n", cfg.error);
	ASSERT_EQ(r, 0);
	ASSERT_STR_EQ(cfg.error, "");
	ASSERT_STR_EQ(cfg.source, EXAMPLE);
	/* safe defaults: exactly the built-in ones, plus rules */
	ASSERT_EQ(cfg.mode, BG_MODE_AUDIT);
	ASSERT_EQ(cfg.level, BG_LEVEL_INFO);
	ASSERT_STR_EQ(cfg.log, "stderr");
	ASSERT_TRUE(cfg.profile_auto);
	ASSERT_EQ(cfg.block_hazards, HZ(BG_HAZARD_PIN_HALFCLOSED));
	ASSERT_EQ(cfg.block_errno, EADDRINUSE);
	ASSERT_TRUE(cfg.nrules >= 1);
}

TEST(test_example_config_rules_touch_only_legacyd)
{
	static const char *const others[] = {"nginx", "sshd", "", "legacyd2"};
	static const uint16_t ports[] = {1, 80, 8443, 32768, 40000, 60999, 65535};
	static const char *const addrs4[] = {"0.0.0.0", "127.0.0.1", "10.20.1.2", "192.0.2.1"};
	static const char *const addrs6[] = {"::", "::1", "fd00:20::5"};
	for (unsigned i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		ASSERT_EQ(bg_config_load(&cfg, EXAMPLE, others[i]), 0);
		for (unsigned k = 0; k < cfg.nrules; k++)
			ASSERT_FALSE(cfg.rules[k].program_match);
		for (unsigned p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
			enum bg_mode m;
			unsigned b;
			for (unsigned a = 0; a < 4; a++) {
				TEST_CONTEXT("program \"%s\" %s:%u", others[i], addrs4[a],
					     ports[p]);
				decide(ports[p], v4(addrs4[a]), &m, &b);
				ASSERT_EQ(m, BG_MODE_AUDIT);
				ASSERT_EQ(b, HZ(BG_HAZARD_PIN_HALFCLOSED));
			}
			for (unsigned a = 0; a < 3; a++) {
				TEST_CONTEXT("program \"%s\" [%s]:%u", others[i], addrs6[a],
					     ports[p]);
				decide(ports[p], v6(addrs6[a]), &m, &b);
				ASSERT_EQ(m, BG_MODE_AUDIT);
				ASSERT_EQ(b, HZ(BG_HAZARD_PIN_HALFCLOSED));
			}
		}
	}
}

TEST(test_example_config_legacyd_rules)
{
	enum bg_mode m;
	unsigned b;
	ASSERT_EQ(bg_config_load(&cfg, EXAMPLE, "legacyd"), 0);
	ASSERT_EQ(cfg.nrules, 2);
	ASSERT_TRUE(cfg.rules[0].program_match);
	decide(40000, v4("10.20.1.2"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	ASSERT_EQ(b, HZ(BG_HAZARD_PIN) | HZ(BG_HAZARD_PIN_HALFCLOSED));
	decide(40000, v6("fd00:20::5"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	decide(40000, v4("10.21.0.1"), &m, &b); /* outside the CIDR */
	ASSERT_EQ(m, BG_MODE_AUDIT);
	decide(8443, v4("0.0.0.0"), &m, &b);
	ASSERT_EQ(m, BG_MODE_OFF);
	decide(8080, v4("0.0.0.0"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
	ASSERT_EQ(b, HZ(BG_HAZARD_PIN_HALFCLOSED));
}

/* ---- annotations and unknown keys ------------------------------------------------------ */

TEST(test_dollar_and_underscore_keys_are_ignored)
{
	parse_ok("{\"$schema\": \"x\", \"_comment\": [1, {\"a\": null}], \"$id\": 3,"
		 " \"enforce\": {\"_why\": true, \"$x\": 1},"
		 " \"rules\": [{\"_comment\": \"r\", \"$ref\": {}, \"mode\": \"off\"}]}",
		 "prog");
	ASSERT_EQ(cfg.mode, BG_MODE_AUDIT);
	ASSERT_EQ(cfg.nrules, 1);
	ASSERT_EQ(cfg.rules[0].mode, BG_MODE_OFF);
	ASSERT_EQ(cfg.rules[0].block_hazards, -1);
}

TEST(test_unknown_keys_are_rejected)
{
	parse_fails("{\"mode\": \"enforce\", \"colour\": \"blue\"}", "t.json: colour: unknown key",
		    "expected mode, level, log, profile, enforce, remedy or rules");
	parse_fails("{\"Mode\": \"audit\"}", "t.json: Mode: unknown key", NULL);
	parse_fails("{\"mode\": \"enforce\", \"enforce\": {\"mode\": \"enforce\"}}",
		    "t.json: enforce.mode: unknown key", "expected block or errno");
	parse_fails("{\"mode\": \"enforce\", \"rules\": [{}, {\"program\": [\"a\"]}]}",
		    "t.json: rules[1].program: unknown key",
		    "expected programs, except_programs, cgroups, ports, addresses, mode, block or "
		    "remedy");
	parse_fails("{\"#comment\": 1}", "#comment: unknown key", NULL);
}

/* ---- syntax errors: FILE:LINE:COLUMN ------------------------------------------------------ */

TEST(test_syntax_error_has_line_and_column)
{
	parse_fails("{\n  \"mode\": \"enforce\",\n  \"level\" \"info\"\n}",
		    "t.json:3:11: ", "invalid JSON");
	parse_fails("{\"mode\": \"enforce\",}", "t.json:1:", "invalid JSON");
	parse_fails("{\n\t\"mode\": \"enforce\"\n}\ngarbage", "t.json:4:1: ", "invalid JSON");
	parse_fails("", "t.json:1:1: ", "invalid JSON");
	parse_fails("{\"mode\": \"enforce\"", "t.json:1:", "invalid JSON");
	parse_fails("\n\n   {\"rules\": [1,,2]}", "t.json:3:", "invalid JSON");
}

/* A port is a whole number as written: a fraction the double cannot hold
 * apart from 40000 is still not a port. */
TEST(test_port_must_be_written_whole)
{
	parse_fails("{\"rules\": [{\"ports\": [40000.0000000001]}]}",
		    "t.json:1:", "expected a whole number, got 40000.0000000001");
	parse_fails("{\"rules\": [{\"ports\": [40000.00000000000000001]}]}",
		    "t.json:1:", "got 40000.00000000000000001");
	parse_fails("{\"rules\": [{\"ports\": [4e4]}]}", "t.json:1:", "got 4e4");
	parse_fails("{\n  \"rules\": [{\"ports\": [40000.0]}]}", "t.json:2:", "got 40000.0");
	parse_ok("{\"rules\": [{\"ports\": [40000, \"40001-40002\"]}], \"_n\": \"1.5e3\"}", "p");
}

TEST(test_duplicate_keys_are_refused)
{
	parse_fails("{\"mode\": \"enforce\", \"mode\": \"audit\"}", "t.json: mode: duplicate key",
		    NULL);
	parse_fails("{\"rules\": [{\"ports\": [1], \"ports\": [2]}]}",
		    "t.json: rules[0].ports: duplicate key", NULL);
	parse_fails("{\"enforce\": {\"errno\": \"EPERM\", \"errno\": \"EACCES\"}}",
		    "t.json: enforce.errno: duplicate key", NULL);
	parse_ok("{\"_c\": 1, \"_c\": 2, \"rules\": [{\"ports\": [1]}, {\"ports\": [1]}]}", "p");
}

TEST(test_deep_nesting_is_named)
{
	static char text[300010];
	size_t n = 100000;
	memset(text, '[', n);
	memset(text + n, ']', n);
	text[2 * n] = 0;
	parse_fails(text, "t.json:1:", "nested too deeply");
	char *obj = text;
	size_t k = 0;
	for (size_t i = 0; i < 2000; i++)
		k += (size_t)sprintf(obj + k, "{\"_\":");
	k += (size_t)sprintf(obj + k, "1");
	for (size_t i = 0; i < 2000; i++)
		obj[k++] = '}';
	obj[k] = 0;
	parse_fails(obj, "t.json:1:", "nested too deeply");
	/* brackets inside strings are text */
	parse_ok("{\"_\": \"[[[[{{{{\\\"[[\"}", "p");
}

TEST(test_log_path_with_a_control_character_is_refused)
{
	parse_fails("{\"log\": \"/var/log/a\\nb\"}", "t.json: log: ", "control character");
	parse_fails("{\"log\": \"/var/log/a\\tb\"}", "t.json: log: ", "control character");
}

TEST(test_top_level_must_be_an_object)
{
	parse_fails("[]", "t.json: (top level): expected an object, got an array", NULL);
	parse_fails("\"audit\"", "(top level): expected an object, got a string", NULL);
	parse_fails("null", "(top level): expected an object, got null", NULL);
}

/* ---- value errors: FILE: FIELD: expected ..., got ... ------------------------------------- */

TEST(test_error_mode_and_level)
{
	parse_fails("{\"mode\": \"loud\"}",
		    "t.json: mode: expected off, audit or enforce, got \"loud\"", NULL);
	parse_fails("{\"mode\": 2}", "t.json: mode: expected a string, got a number", NULL);
	parse_fails("{\"mode\": \"enforce\", \"level\": \"trace\"}",
		    "t.json: level: expected info or debug, got \"trace\"", NULL);
	parse_fails("{\"mode\": \"enforce\", \"level\": true}",
		    "level: expected a string, got a boolean", NULL);
}

TEST(test_error_log)
{
	parse_fails("{\"mode\": \"enforce\", \"log\": \"var/log/x\"}",
		    "t.json: log: expected \"stderr\", \"syslog\" or an absolute path, got "
		    "\"var/log/x\"",
		    NULL);
	parse_fails("{\"mode\": \"enforce\", \"log\": 1}", "t.json: log: expected a string",
		    "got a number");
	static char text[1024];
	char path[600];
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	snprintf(text, sizeof(text), "{\"mode\": \"enforce\", \"log\": \"%s\"}", path);
	parse_fails(text, "t.json: log: path longer than 511 bytes", NULL);
	parse_ok("{\"log\": \"syslog\"}", "p");
	ASSERT_STR_EQ(cfg.log, "syslog");
	parse_ok("{\"log\": \"/var/log/bindguard/events.jsonl\"}", "p");
	ASSERT_STR_EQ(cfg.log, "/var/log/bindguard/events.jsonl");
}

TEST(test_error_profile)
{
	parse_fails(
		"{\"mode\": \"enforce\", \"profile\": \"modern\"}",
		"t.json: profile: expected auto, legacy-2.6, classic or release, got \"modern\"",
		NULL);
	parse_fails("{\"profile\": []}", "t.json: profile: expected a string, got an array", NULL);
	parse_ok("{\"profile\": \"legacy-2.6\"}", "p");
	ASSERT_FALSE(cfg.profile_auto);
	ASSERT_EQ(cfg.profile, BG_PROFILE_LEGACY26);
	parse_ok("{\"profile\": \"release\"}", "p");
	ASSERT_EQ(cfg.profile, BG_PROFILE_RELEASE);
	parse_ok("{\"profile\": \"auto\"}", "p");
	ASSERT_TRUE(cfg.profile_auto);
}

TEST(test_error_enforce)
{
	parse_fails(
		"{\"mode\": \"enforce\", \"enforce\": []}",
		"t.json: enforce: expected an object with \"block\" and \"errno\", got an array",
		NULL);
	parse_fails("{\"mode\": \"enforce\", \"enforce\": {\"block\": \"pin\"}}",
		    "t.json: enforce.block: expected an array of hazards", "got a string");
	parse_fails("{\"mode\": \"enforce\", \"enforce\": {\"block\": [\"pin\", \"none\"]}}",
		    "t.json: enforce.block[1]: expected pin or pin_halfclosed, got \"none\"", NULL);
	parse_fails("{\"mode\": \"enforce\", \"enforce\": {\"block\": [3]}}",
		    "t.json: enforce.block[0]: expected a string, got a number", NULL);
	parse_fails("{\"mode\": \"enforce\", \"enforce\": {\"errno\": \"ENOTANERRNO\"}}",
		    "t.json: enforce.errno: expected an errno name such as \"EADDRINUSE\"",
		    "got \"ENOTANERRNO\"");
	parse_fails("{\"mode\": \"enforce\", \"enforce\": {\"errno\": 98}}",
		    "t.json: enforce.errno: expected an errno name", "got a number");

	parse_ok("{\"enforce\": {\"block\": [\"pin\", \"pin_halfclosed\"], \"errno\": \"EACCES\"}}",
		 "p");
	ASSERT_EQ(cfg.block_hazards, HZ(BG_HAZARD_PIN) | HZ(BG_HAZARD_PIN_HALFCLOSED));
	ASSERT_EQ(cfg.block_errno, EACCES);
	parse_ok("{\"enforce\": {\"block\": []}}", "p");
	ASSERT_EQ(cfg.block_hazards, 0);
}

TEST(test_error_rules_shape)
{
	parse_fails("{\"mode\": \"enforce\", \"rules\": {}}",
		    "t.json: rules: expected an array of rule objects, got an object", NULL);
	parse_fails("{\"mode\": \"enforce\", \"rules\": [{}, \"legacyd\"]}",
		    "t.json: rules[1]: expected an object, got a string", NULL);

	static char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "{\"mode\": \"enforce\", \"rules\": [");
	for (int i = 0; i < BG_MAX_RULES + 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s{}", i ? "," : "");
	snprintf(text + n, sizeof(text) - n, "]}");
	parse_fails(text, "t.json: rules: expected at most 64 rules, got 65", NULL);
}

TEST(test_error_rule_ports)
{
	parse_fails("{\"mode\": \"enforce\", \"rules\": [{\"ports\": [80]}, {\"ports\": [0]}]}",
		    "t.json: rules[1].ports[0]: expected a port 1-65535, got 0", NULL);
	parse_fails("{\"rules\": [{\"ports\": [80, 65536]}]}",
		    "t.json: rules[0].ports[1]: expected a port 1-65535, got 65536", NULL);
	parse_fails("{\"rules\": [{\"ports\": [80.5]}]}", "t.json:1:23: expected a whole number",
		    "got 80.5");
	parse_fails("{\"rules\": [{\"ports\": [\"90-80\"]}]}",
		    "t.json: rules[0].ports[0]: expected a port or \"LOW-HIGH\" within 1-65535, "
		    "got \"90-80\"",
		    NULL);
	parse_fails("{\"rules\": [{\"ports\": [\"80-\"]}]}",
		    "rules[0].ports[0]: expected a port or", "got \"80-\"");
	parse_fails("{\"rules\": [{\"ports\": [\"http\"]}]}",
		    "rules[0].ports[0]: expected a port or", "got \"http\"");
	parse_fails("{\"rules\": [{\"ports\": [\"1-70000\"]}]}",
		    "rules[0].ports[0]: expected a port or", NULL);
	parse_fails("{\"rules\": [{\"ports\": [true]}]}",
		    "t.json: rules[0].ports[0]: expected a port or \"LOW-HIGH\", got a boolean",
		    NULL);
	parse_fails("{\"rules\": [{\"ports\": 80}]}",
		    "t.json: rules[0].ports: expected an array of ports or \"LOW-HIGH\" ranges, "
		    "got a number",
		    NULL);
	parse_fails("{\"rules\": [{\"ports\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}]}",
		    "t.json: rules[0].ports[16]: expected at most 16 entries", NULL);

	parse_ok("{\"rules\": [{\"ports\": [1, 65535, \"8080\", \"32768-60999\"]}]}", "p");
	ASSERT_EQ(cfg.rules[0].nports, 4);
	ASSERT_EQ(cfg.rules[0].ports[0].low, 1);
	ASSERT_EQ(cfg.rules[0].ports[1].high, 65535);
	ASSERT_EQ(cfg.rules[0].ports[2].low, 8080);
	ASSERT_EQ(cfg.rules[0].ports[2].high, 8080);
	ASSERT_EQ(cfg.rules[0].ports[3].low, 32768);
	ASSERT_EQ(cfg.rules[0].ports[3].high, 60999);
}

TEST(test_error_rule_addresses)
{
	parse_fails("{\"mode\": \"enforce\", \"rules\": [{\"addresses\": [\"10.0.0.0/8\", "
		    "\"10.0.0.0/33\"]}]}",
		    "t.json: rules[0].addresses[1]: expected an IPv4 or IPv6 address, optionally "
		    "/PREFIX, got \"10.0.0.0/33\"",
		    NULL);
	parse_fails("{\"rules\": [{}, {\"addresses\": [\"::1/129\"]}]}",
		    "t.json: rules[1].addresses[0]: expected an IPv4 or IPv6 address",
		    "got \"::1/129\"");
	parse_fails("{\"rules\": [{\"addresses\": [\"localhost\"]}]}",
		    "rules[0].addresses[0]: expected an IPv4 or IPv6 address", "got \"localhost\"");
	parse_fails("{\"rules\": [{\"addresses\": [\"10.0.0.0/\"]}]}",
		    "rules[0].addresses[0]: expected an IPv4 or IPv6 address", NULL);
	parse_fails("{\"rules\": [{\"addresses\": [\"10.0.0.0/8x\"]}]}",
		    "rules[0].addresses[0]: expected an IPv4 or IPv6 address", NULL);
	parse_fails("{\"rules\": [{\"addresses\": [10]}]}",
		    "t.json: rules[0].addresses[0]: expected an address or CIDR, got a number",
		    NULL);
	parse_fails(
		"{\"rules\": [{\"addresses\": \"10.0.0.1\"}]}",
		"t.json: rules[0].addresses: expected an array of addresses or CIDRs, got a string",
		NULL);

	parse_ok("{\"rules\": [{\"addresses\": [\"10.0.0.1\", \"10.0.0.0/8\", \"0.0.0.0/0\", "
		 "\"::1\","
		 " \"2001:db8::/32\", \"::/0\"]}]}",
		 "p");
	ASSERT_EQ(cfg.rules[0].naddrs, 6);
	ASSERT_EQ(cfg.rules[0].addrs[0].prefix, 128);
	ASSERT_EQ(cfg.rules[0].addrs[1].prefix, 96 + 8);
	ASSERT_EQ(cfg.rules[0].addrs[2].prefix, 96);
	ASSERT_EQ(cfg.rules[0].addrs[3].prefix, 128);
	ASSERT_EQ(cfg.rules[0].addrs[4].prefix, 32);
	ASSERT_EQ(cfg.rules[0].addrs[5].prefix, 0);
}

TEST(test_error_rule_programs_mode_block)
{
	parse_fails("{\"mode\": \"enforce\", \"rules\": [{\"programs\": \"legacyd\"}]}",
		    "t.json: rules[0].programs: expected an array of program names, got a string",
		    NULL);
	parse_fails("{\"rules\": [{\"programs\": [\"a\", \"\"]}]}",
		    "t.json: rules[0].programs[1]: expected a program name (a non-empty string)",
		    NULL);
	parse_fails("{\"rules\": [{\"except_programs\": [null]}]}",
		    "t.json: rules[0].except_programs[0]: expected a program name", "got null");
	parse_fails("{\"rules\": [{\"mode\": \"block\"}]}",
		    "t.json: rules[0].mode: expected off, audit or enforce, got \"block\"", NULL);
	parse_fails("{\"rules\": [{\"block\": [\"pin\", \"pinned\"]}]}",
		    "t.json: rules[0].block[1]: expected pin or pin_halfclosed, got \"pinned\"",
		    NULL);
	parse_fails("{\"rules\": [{\"block\": {}}]}",
		    "t.json: rules[0].block: expected an array of hazards", "got an object");
}

/* cgroups: the agent's attachment (bg_config_set_cgroup) or an ancestor;
 * without a cgroup set (the shim) such a rule never applies */
TEST(test_rule_cgroups_selector)
{
	const char *text = "{\"rules\": [{\"cgroups\": [\"/system.slice/\"], \"mode\": "
			   "\"enforce\"}, {\"cgroups\": [\"/sys\"], \"mode\": \"off\"}]}";
	bg_config_set_cgroup(NULL);
	parse_ok(text, "legacyd");
	ASSERT_TRUE(cfg.rules[0].has_cgroups);
	ASSERT_FALSE(cfg.rules[0].cgroup_match);
	ASSERT_FALSE(cfg.rules[0].program_match);
	bg_config_set_cgroup("/system.slice/legacyd.service");
	parse_ok(text, "legacyd");
	ASSERT_TRUE(cfg.rules[0].cgroup_match);
	ASSERT_TRUE(cfg.rules[0].program_match);
	ASSERT_FALSE(cfg.rules[0].has_programs);
	ASSERT_FALSE(cfg.rules[1].cgroup_match); /* "/sys" is no ancestor of /system.slice */
	bg_config_set_cgroup("/system.slice");
	parse_ok(text, "legacyd");
	ASSERT_TRUE(cfg.rules[0].cgroup_match);
	bg_config_set_cgroup("/");
	parse_ok("{\"rules\": [{\"cgroups\": [\"/\"], \"programs\": [\"x\"]}]}", "x");
	ASSERT_TRUE(cfg.rules[0].cgroup_match);
	ASSERT_TRUE(cfg.rules[0].has_programs);
	bg_config_set_cgroup(NULL);
	parse_fails("{\"rules\": [{\"cgroups\": [\"system.slice\"]}]}",
		    "t.json: rules[0].cgroups[0]: expected a cgroup path from the cgroup v2 root",
		    "got a relative path");
	parse_fails("{\"rules\": [{\"cgroups\": \"/a\"}]}",
		    "t.json: rules[0].cgroups: expected an array of cgroup paths", "got a string");
}

TEST(test_first_error_is_reported)
{
	parse_fails("{\"mode\": \"x\", \"level\": \"y\"}", "t.json: mode:", NULL);
	ASSERT_NULL(strstr(cfg.error, "level"));
	parse_fails("{\"rules\": [{\"ports\": [0]}, {\"mode\": \"y\"}]}", "rules[0].ports[0]",
		    NULL);
	ASSERT_NULL(strstr(cfg.error, "rules[1]"));
}

TEST(test_error_leaves_defaults_after_a_good_parse)
{
	parse_ok("{\"mode\": \"enforce\", \"level\": \"debug\", \"log\": \"syslog\", \"profile\": "
		 "\"release\","
		 " \"enforce\": {\"block\": [\"pin\"], \"errno\": \"EACCES\"},"
		 " \"rules\": [{\"ports\": [80], \"mode\": \"off\"}]}",
		 "p");
	ASSERT_EQ(cfg.mode, BG_MODE_ENFORCE);
	ASSERT_EQ(cfg.nrules, 1);
	/* an error late in the file: everything parsed before it is dropped */
	parse_fails("{\"mode\": \"enforce\", \"level\": \"debug\", \"log\": \"syslog\", "
		    "\"profile\": \"release\","
		    " \"enforce\": {\"block\": [\"pin\"], \"errno\": \"EACCES\"},"
		    " \"rules\": [{\"ports\": [80], \"mode\": \"off\"}, {\"ports\": [\"x\"]}]}",
		    "rules[1].ports[0]", NULL);
	ASSERT_EQ(cfg.rules[0].nports, 0);
	ASSERT_STR_EQ(cfg.source, "built-in defaults");
	enum bg_mode m;
	unsigned b;
	decide(80, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
}

/* ---- bg_config_load: what the file must be ------------------------------------------------- */

TEST(test_load_good_file)
{
	const char *path = write_file("good.json", "{\"mode\": \"enforce\"}", 0644);
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), 0);
	ASSERT_EQ(cfg.mode, BG_MODE_ENFORCE);
	ASSERT_STR_EQ(cfg.source, path);
	ASSERT_STR_EQ(cfg.error, "");
}

TEST(test_load_bad_content_names_the_file)
{
	char path[200];
	snprintf(path, sizeof(path), "%s",
		 write_file("bad.json", "{\n\"mode\": \"enforce\",\n\"x\": 1}", 0600));
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), -1);
	char want[256];
	snprintf(want, sizeof(want), "%s: x: unknown key", path);
	ASSERT_CONTAINS(cfg.error, want);
	assert_defaults(&cfg);

	snprintf(path, sizeof(path), "%s",
		 write_file("syntax.json", "{\n\"mode\": \"enforce\"\n\"x\": 1}", 0600));
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), -1);
	snprintf(want, sizeof(want), "%s:3:1: invalid JSON", path);
	ASSERT_CONTAINS(cfg.error, want);
	assert_defaults(&cfg);
}

TEST(test_load_refuses_symlink)
{
	char target[200];
	snprintf(target, sizeof(target), "%s",
		 write_file("real.json", "{\"mode\": \"enforce\"}", 0644));
	const char *link = tmp_path("link.json");
	ASSERT_EQ(symlink(target, link), 0);
	ASSERT_EQ(bg_config_load(&cfg, link, "p"), -1);
	ASSERT_CONTAINS(cfg.error, link);
	ASSERT_CONTAINS(cfg.error, "symlinks are refused");
	assert_defaults(&cfg);
}

TEST(test_load_refuses_world_writable)
{
	const char *path = write_file("ww.json", "{\"mode\": \"enforce\"}", 0666);
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), -1);
	ASSERT_CONTAINS(cfg.error, path);
	ASSERT_CONTAINS(cfg.error, "writable by other users");
	assert_defaults(&cfg);
	/* group-writable is the admin's business */
	path = write_file("gw.json", "{\"mode\": \"enforce\"}", 0664);
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), 0);
	ASSERT_EQ(cfg.mode, BG_MODE_ENFORCE);
}

TEST(test_load_refuses_directory_and_fifo)
{
	const char *dir = tmp_path("dir.json");
	ASSERT_EQ(mkdir(dir, 0755), 0);
	ASSERT_EQ(bg_config_load(&cfg, dir, "p"), -1);
	ASSERT_CONTAINS(cfg.error, dir);
	ASSERT_CONTAINS(cfg.error, "not a regular file");
	assert_defaults(&cfg);

	/* a FIFO without a writer must neither hang nor be read */
	const char *fifo = tmp_path("fifo.json");
	ASSERT_EQ(mkfifo(fifo, 0644), 0);
	ASSERT_EQ(bg_config_load(&cfg, fifo, "p"), -1);
	ASSERT_CONTAINS(cfg.error, "not a regular file");
}

TEST(test_load_refuses_huge_file)
{
	const char *path = write_file("huge.json", "{}", 0644);
	ASSERT_EQ(truncate(path, (1 << 20) + 1), 0);
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), -1);
	ASSERT_CONTAINS(cfg.error, "larger than 1 MiB");
}

/* A NUL byte hides the rest of the file from a string parser: what follows
 * it would be silently ignored, so the file is refused, with the place. */
TEST(test_load_refuses_nul_byte)
{
	const char *path = write_file("nul.json", "{\"mode\": \"enforce\"}\nX", 0644);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(pwrite(fd, "", 1, 20), 1); /* the X: line 2, column 1 */
	ASSERT_EQ(close(fd), 0);
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), -1);
	ASSERT_CONTAINS(cfg.error, path);
	ASSERT_CONTAINS(cfg.error, ":2:1: NUL byte");
	assert_defaults(&cfg);
}

TEST(test_load_missing_explicit_path_is_an_error)
{
	const char *path = tmp_path("absent.json");
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), -1);
	ASSERT_CONTAINS(cfg.error, path);
	ASSERT_CONTAINS(cfg.error, "cannot open");
	ASSERT_CONTAINS(cfg.error, strerror(ENOENT));
	assert_defaults(&cfg);
}

TEST(test_load_missing_default_path_is_not_an_error)
{
	if (access("/etc/bindguard/bindguard.json", F_OK) == 0) {
		printf("# /etc/bindguard/bindguard.json exists here: only checking it loads\n");
		bg_config_load(&cfg, NULL, "p");
		return;
	}
	ASSERT_EQ(bg_config_load(&cfg, NULL, "p"), 0);
	ASSERT_STR_EQ(cfg.error, "");
	ASSERT_STR_EQ(cfg.source, "built-in defaults");
	assert_defaults(&cfg);
}

/* ---- environment overrides ------------------------------------------------------------------ */

TEST(test_env_overrides)
{
	bg_config_defaults(&cfg);
	setenv("BINDGUARD_MODE", "enforce", 1);
	setenv("BINDGUARD_LOG", "/var/log/bindguard/events.jsonl", 1);
	setenv("BINDGUARD_PROFILE", "legacy-2.6", 1);
	bg_config_env(&cfg);
	ASSERT_STR_EQ(cfg.error, "");
	ASSERT_EQ(cfg.mode, BG_MODE_ENFORCE);
	ASSERT_STR_EQ(cfg.log, "/var/log/bindguard/events.jsonl");
	ASSERT_FALSE(cfg.profile_auto);
	ASSERT_EQ(cfg.profile, BG_PROFILE_LEGACY26);

	setenv("BINDGUARD_MODE", "off", 1);
	setenv("BINDGUARD_LOG", "syslog", 1);
	setenv("BINDGUARD_PROFILE", "auto", 1);
	bg_config_env(&cfg);
	ASSERT_STR_EQ(cfg.error, "");
	ASSERT_EQ(cfg.mode, BG_MODE_OFF);
	ASSERT_STR_EQ(cfg.log, "syslog");
	ASSERT_TRUE(cfg.profile_auto);
}

TEST(test_env_overrides_the_file)
{
	parse_ok("{\"mode\": \"audit\", \"log\": \"syslog\", \"profile\": \"classic\"}", "p");
	setenv("BINDGUARD_MODE", "enforce", 1);
	setenv("BINDGUARD_PROFILE", "release", 1);
	bg_config_env(&cfg);
	ASSERT_EQ(cfg.mode, BG_MODE_ENFORCE);
	ASSERT_STR_EQ(cfg.log, "syslog"); /* not set in the environment: kept */
	ASSERT_EQ(cfg.profile, BG_PROFILE_RELEASE);
}

TEST(test_env_empty_values_are_ignored)
{
	bg_config_defaults(&cfg);
	setenv("BINDGUARD_MODE", "", 1);
	setenv("BINDGUARD_LOG", "", 1);
	setenv("BINDGUARD_PROFILE", "", 1);
	bg_config_env(&cfg);
	ASSERT_STR_EQ(cfg.error, "");
	assert_defaults(&cfg);
}

TEST(test_env_bad_mode)
{
	bg_config_defaults(&cfg);
	setenv("BINDGUARD_MODE", "Enforce", 1);
	setenv("BINDGUARD_LOG", "syslog", 1); /* the good ones still apply */
	bg_config_env(&cfg);
	ASSERT_CONTAINS(
		cfg.error,
		"environment: BINDGUARD_MODE: expected off, audit or enforce, got \"Enforce\"");
	ASSERT_EQ(cfg.mode, BG_MODE_AUDIT);
	ASSERT_STR_EQ(cfg.log, "syslog");
}

TEST(test_env_bad_log)
{
	bg_config_defaults(&cfg);
	setenv("BINDGUARD_LOG", "events.jsonl", 1);
	bg_config_env(&cfg);
	ASSERT_CONTAINS(cfg.error, "environment: BINDGUARD_LOG: expected \"stderr\", \"syslog\" or "
				   "an absolute path, got \"events.jsonl\"");
	ASSERT_STR_EQ(cfg.log, "stderr");
}

TEST(test_env_bad_profile)
{
	bg_config_defaults(&cfg);
	setenv("BINDGUARD_PROFILE", "6.18", 1);
	setenv("BINDGUARD_MODE", "off", 1);
	bg_config_env(&cfg);
	ASSERT_CONTAINS(cfg.error, "environment: BINDGUARD_PROFILE: expected auto, legacy-2.6, "
				   "classic or release, got \"6.18\"");
	ASSERT_TRUE(cfg.profile_auto);
	ASSERT_EQ(cfg.mode, BG_MODE_OFF);
}

TEST(test_env_keeps_an_earlier_error)
{
	parse_fails("{\"mode\": \"loud\"}", "t.json: mode:", NULL);
	setenv("BINDGUARD_MODE", "nonsense", 1);
	setenv("BINDGUARD_LOG", "syslog", 1);
	bg_config_env(&cfg);
	ASSERT_CONTAINS(cfg.error, "t.json: mode:"); /* the first problem stays the message */
	ASSERT_NULL(strstr(cfg.error, "BINDGUARD_MODE"));
	ASSERT_EQ(cfg.mode, BG_MODE_AUDIT);
	ASSERT_STR_EQ(cfg.log, "syslog");
}

/* Every broken configuration, in the file or in the environment, ends in the
 * one state the message names: the built-in defaults in audit mode (no rule,
 * no enforce, no remedy), but for a valid BINDGUARD_MODE=off and
 * BINDGUARD_LOG. */

/* A good file that enforces, by rule and globally, with the remedy on. */
#define ENFORCING_FILE                                                                        \
	"{\"mode\": \"audit\", \"level\": \"debug\", \"log\": \"syslog\", \"remedy\": true, " \
	"\"profile\": \"release\", \"rules\": [{\"ports\": [\"40000\"], \"mode\": \"enforce\"}]}"

/* load path, apply the environment: the broken state, whose message starts
 * with want */
static void assert_broken_state(const char *path, const char *want)
{
	TEST_CONTEXT("file %s, expecting \"%s\"", path, want);
	bg_config_load(&cfg, path, "p");
	bg_config_env(&cfg);
	ASSERT_EQ(strncmp(cfg.error, want, strlen(want)), 0);
	if (strncmp(cfg.error, want, strlen(want)) != 0)
		printf("#   error: %s\n", cfg.error);
	assert_defaults(&cfg);
	ASSERT_STR_EQ(cfg.source, "built-in defaults");
	ASSERT_STR_EQ(bg_config_fallback(&cfg), "running in audit mode with defaults");
	enum bg_mode m;
	unsigned b;
	decide(40000, v4("127.0.0.2"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
	struct in6_addr a = v4("127.0.0.2");
	ASSERT_FALSE(bg_policy_remedy(&cfg, &a));
}

TEST(test_env_bad_value_drops_the_files_rules)
{
	char path[200], want[300];
	snprintf(path, sizeof(path), "%s", write_file("rules.json", ENFORCING_FILE, 0644));
	static const char *const bad[][2] = {
		{"BINDGUARD_MODE", "ENFORCE"},
		{"BINDGUARD_LOG", "events.jsonl"},
		{"BINDGUARD_PROFILE", "6.18"},
		{"BINDGUARD_REMEDY", "maybe"},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(bad[i][0], bad[i][1], 1);
		snprintf(want, sizeof(want), "environment: %s: expected ", bad[i][0]);
		assert_broken_state(path, want);
		ASSERT_CONTAINS(cfg.error, bad[i][1]);
		unsetenv(bad[i][0]);
	}
	/* and the good file alone still enforces by its rule */
	ASSERT_EQ(bg_config_load(&cfg, path, "p"), 0);
	bg_config_env(&cfg);
	ASSERT_STR_EQ(cfg.error, "");
	enum bg_mode m;
	unsigned b;
	decide(40000, v4("127.0.0.2"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
}

TEST(test_every_broken_config_ends_in_one_state)
{
	/* good values in the environment that a broken config must not take up */
	setenv("BINDGUARD_MODE", "enforce", 1);
	setenv("BINDGUARD_PROFILE", "release", 1);
	setenv("BINDGUARD_REMEDY", "on", 1);
	char path[200];
	snprintf(path, sizeof(path), "%s",
		 write_file("syntax.json", "{\"mode\": \"enforce\",", 0644));
	assert_broken_state(path, path);
	snprintf(path, sizeof(path), "%s",
		 write_file("field.json", "{\"mode\": \"enforce\", \"remedy\": 1}", 0644));
	assert_broken_state(path, path);
	snprintf(path, sizeof(path), "%s", write_file("unsafe.json", ENFORCING_FILE, 0666));
	assert_broken_state(path, path);
	snprintf(path, sizeof(path), "%s", tmp_path("missing.json"));
	assert_broken_state(path, path);
	snprintf(path, sizeof(path), "%s", tmp_path("adir.json"));
	ASSERT_EQ(mkdir(path, 0755), 0);
	assert_broken_state(path, path);
	/* a bad value in the environment after a good one */
	setenv("BINDGUARD_REMEDY", "sometimes", 1);
	snprintf(path, sizeof(path), "%s", write_file("good.json", ENFORCING_FILE, 0644));
	assert_broken_state(path, "environment: BINDGUARD_REMEDY: ");
}

TEST(test_broken_config_keeps_mode_off_and_the_log)
{
	char path[200];
	snprintf(path, sizeof(path), "%s", write_file("bad.json", "{\"mode\": 7}", 0644));
	setenv("BINDGUARD_MODE", "off", 1);
	setenv("BINDGUARD_LOG", "/var/log/bindguard.jsonl", 1);
	bg_config_load(&cfg, path, "p");
	bg_config_env(&cfg);
	ASSERT_CONTAINS(cfg.error, "bad.json: mode:");
	ASSERT_EQ(cfg.mode, BG_MODE_OFF);
	ASSERT_STR_EQ(cfg.log, "/var/log/bindguard.jsonl");
	ASSERT_EQ(cfg.nrules, 0);
	ASSERT_STR_EQ(bg_config_fallback(&cfg), "BINDGUARD_MODE=off, so the shim stays off");
	/* a bad log value is not kept, the good off is */
	setenv("BINDGUARD_LOG", "relative.jsonl", 1);
	bg_config_load(&cfg, path, "p");
	bg_config_env(&cfg);
	ASSERT_STR_EQ(cfg.log, "stderr");
	ASSERT_EQ(cfg.mode, BG_MODE_OFF);
}

/* ---- bg_policy_rules -------------------------------------------------------------------------
 */

TEST(test_decide_no_rules_is_global)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"mode\": \"enforce\", \"enforce\": {\"block\": [\"pin\"]}}", "p");
	decide(40000, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	ASSERT_EQ(b, HZ(BG_HAZARD_PIN));
}

TEST(test_decide_first_matching_rule_wins)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"rules\": ["
		 "{\"ports\": [9000]}," /* matches, changes nothing */
		 "{\"ports\": [9000, 9001], \"mode\": \"off\"},"
		 "{\"ports\": [\"9000-9002\"], \"mode\": \"enforce\", \"block\": [\"pin\"]},"
		 "{\"mode\": \"off\"}" /* everything else */
		 "]}",
		 "p");
	decide(9000, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
	ASSERT_EQ(b, HZ(BG_HAZARD_PIN_HALFCLOSED));
	decide(9001, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_OFF);
	decide(9002, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	ASSERT_EQ(b, HZ(BG_HAZARD_PIN));
	decide(9003, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_OFF);
	ASSERT_EQ(b, HZ(BG_HAZARD_PIN_HALFCLOSED));
}

TEST(test_decide_port_ranges)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"rules\": [{\"ports\": [80, \"40000-40010\", \"65535\"], \"mode\": "
		 "\"enforce\"}]}",
		 "p");
	static const struct {
		uint16_t port;
		enum bg_mode want;
	} cases[] = {
		{79, BG_MODE_AUDIT},	  {80, BG_MODE_ENFORCE},    {81, BG_MODE_AUDIT},
		{39999, BG_MODE_AUDIT},	  {40000, BG_MODE_ENFORCE}, {40005, BG_MODE_ENFORCE},
		{40010, BG_MODE_ENFORCE}, {40011, BG_MODE_AUDIT},   {65534, BG_MODE_AUDIT},
		{65535, BG_MODE_ENFORCE},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TEST_CONTEXT("port %u", cases[i].port);
		decide(cases[i].port, v4("192.0.2.1"), &m, &b);
		ASSERT_EQ(m, cases[i].want);
	}
}

TEST(test_decide_ipv4_cidr)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"rules\": [{\"addresses\": [\"10.1.0.0/16\", \"192.0.2.7\"], \"mode\": "
		 "\"enforce\"},"
		 " {\"addresses\": [\"0.0.0.0/0\"], \"mode\": \"off\"}]}",
		 "p");
	static const struct {
		const char *addr;
		enum bg_mode want;
	} cases[] = {
		{"10.1.0.0", BG_MODE_ENFORCE},	{"10.1.255.255", BG_MODE_ENFORCE},
		{"10.0.255.255", BG_MODE_OFF},	{"10.2.0.0", BG_MODE_OFF},
		{"192.0.2.7", BG_MODE_ENFORCE}, {"192.0.2.8", BG_MODE_OFF},
		{"0.0.0.0", BG_MODE_OFF},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TEST_CONTEXT("address %s", cases[i].addr);
		decide(40000, v4(cases[i].addr), &m, &b);
		ASSERT_EQ(m, cases[i].want);
	}
	/* 0.0.0.0/0 covers IPv4 only: a native IPv6 address keeps the global mode */
	decide(40000, v6("2001:db8::1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
	/* ...and IPv4 binds reached through a v4-mapped IPv6 address are IPv4 */
	decide(40000, v6("::ffff:10.1.2.3"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
}

TEST(test_decide_ipv6)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"rules\": [{\"addresses\": [\"2001:db8::1\"], \"mode\": \"enforce\"},"
		 " {\"addresses\": [\"fd00:1::/32\"], \"mode\": \"off\"}]}",
		 "p");
	decide(443, v6("2001:db8::1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	decide(443, v6("2001:db8::2"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
	decide(443, v6("fd00:1:ffff::9"), &m, &b);
	ASSERT_EQ(m, BG_MODE_OFF);
	decide(443, v6("fd00:2::9"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
	decide(443, v4("32.1.13.184"), &m, &b); /* 2001:db8 as IPv4 bytes: no match */
	ASSERT_EQ(m, BG_MODE_AUDIT);
}

TEST(test_decide_ports_and_addresses_together)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"rules\": [{\"ports\": [\"40000-40100\"], \"addresses\": [\"127.0.0.0/8\"],"
		 " \"mode\": \"enforce\"}]}",
		 "p");
	decide(40050, v4("127.0.0.2"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	decide(40050, v4("10.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
	decide(80, v4("127.0.0.2"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
}

TEST(test_decide_programs)
{
	static const char *text =
		"{\"rules\": [{\"programs\": [\"legacyd\", \"other\"], \"mode\": \"enforce\"},"
		" {\"except_programs\": [\"nginx\"], \"mode\": \"off\"}]}";
	enum bg_mode m;
	unsigned b;

	parse_ok(text, "legacyd");
	ASSERT_TRUE(cfg.rules[0].program_match);
	decide(40000, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);

	parse_ok(text, "nginx"); /* neither rule */
	ASSERT_FALSE(cfg.rules[0].program_match);
	ASSERT_FALSE(cfg.rules[1].program_match);
	decide(40000, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);

	parse_ok(text, "sshd"); /* the second rule */
	decide(40000, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_OFF);

	parse_ok(text, "legacy"); /* names match exactly, not as prefixes */
	ASSERT_FALSE(cfg.rules[0].program_match);

	parse_ok(text, NULL); /* unknown name: no programs list matches */
	ASSERT_FALSE(cfg.rules[0].program_match);
	ASSERT_TRUE(cfg.rules[1].program_match);
}

TEST(test_decide_programs_and_except_programs_in_one_rule)
{
	static const char *text = "{\"rules\": [{\"programs\": [\"a\", \"b\"], "
				  "\"except_programs\": [\"b\"], \"mode\": \"off\"}]}";
	enum bg_mode m;
	unsigned b;
	parse_ok(text, "a");
	decide(1, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_OFF);
	parse_ok(text, "b");
	decide(1, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_AUDIT);
}

TEST(test_decide_non_matching_rule_keeps_global)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"mode\": \"enforce\", \"enforce\": {\"block\": [\"pin\", \"pin_halfclosed\"]},"
		 " \"rules\": [{\"programs\": [\"legacyd\"], \"mode\": \"off\", \"block\": []},"
		 " {\"ports\": [1], \"mode\": \"audit\"}]}",
		 "nginx");
	decide(40000, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	ASSERT_EQ(b, HZ(BG_HAZARD_PIN) | HZ(BG_HAZARD_PIN_HALFCLOSED));
}

TEST(test_decide_rule_block_without_mode)
{
	enum bg_mode m;
	unsigned b;
	parse_ok("{\"mode\": \"enforce\", \"rules\": [{\"ports\": [80], \"block\": []}]}", "p");
	decide(80, v4("127.0.0.1"), &m, &b);
	ASSERT_EQ(m, BG_MODE_ENFORCE);
	ASSERT_EQ(b, 0);
}

/* ---- bg_config_json
 * ------------------------------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v) {
		printf("# key \"%s\" missing\n", key);
		runner_fail();
	}
	return v;
}

static cJSON *doc; /* freed by the test, or leaked on failure (a test process) */

TEST(test_json_has_mode_and_rules)
{
	parse_ok("{\"mode\": \"enforce\", \"level\": \"debug\", \"log\": \"syslog\", \"profile\": "
		 "\"classic\","
		 " \"enforce\": {\"block\": [\"pin\", \"pin_halfclosed\"], \"errno\": \"EACCES\"},"
		 " \"rules\": [{\"programs\": [\"legacyd\"], \"ports\": [8080, \"40000-40010\"],"
		 " \"addresses\": [\"10.1.0.0/16\", \"2001:db8::1\", \"fd00::/8\"], \"mode\": "
		 "\"off\","
		 " \"block\": [\"pin\"]}, {\"ports\": [1]}]}",
		 "legacyd");
	char *text = bg_config_json(&cfg);
	ASSERT_NOT_NULL(text);
	TEST_CONTEXT("json %s", text);
	doc = cJSON_Parse(text);
	free(text);
	ASSERT_NOT_NULL(doc);
	ASSERT_STR_EQ(get(doc, "source")->valuestring, "t.json");
	ASSERT_STR_EQ(get(doc, "mode")->valuestring, "enforce");
	ASSERT_STR_EQ(get(doc, "level")->valuestring, "debug");
	ASSERT_STR_EQ(get(doc, "log")->valuestring, "syslog");
	ASSERT_STR_EQ(get(doc, "profile")->valuestring, "classic");
	const cJSON *e = get(doc, "enforce");
	ASSERT_EQ(cJSON_GetArraySize(get(e, "block")), 2);
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(e, "block"), 0)->valuestring, "pin");
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(e, "block"), 1)->valuestring, "pin_halfclosed");
	ASSERT_STR_EQ(get(e, "errno")->valuestring, "EACCES");
	const cJSON *rules = get(doc, "rules");
	ASSERT_EQ(cJSON_GetArraySize(rules), 2);
	const cJSON *r0 = cJSON_GetArrayItem(rules, 0);
	ASSERT_TRUE(cJSON_IsTrue(get(r0, "applies_to_this_program")));
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(r0, "ports"), 0)->valuestring, "8080-8080");
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(r0, "ports"), 1)->valuestring, "40000-40010");
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(r0, "addresses"), 0)->valuestring, "10.1.0.0/16");
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(r0, "addresses"), 1)->valuestring, "2001:db8::1");
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(r0, "addresses"), 2)->valuestring, "fd00::/8");
	ASSERT_STR_EQ(get(r0, "mode")->valuestring, "off");
	ASSERT_STR_EQ(cJSON_GetArrayItem(get(r0, "block"), 0)->valuestring, "pin");
	const cJSON *r1 = cJSON_GetArrayItem(rules, 1);
	ASSERT_NULL(cJSON_GetObjectItemCaseSensitive(r1, "mode"));
	ASSERT_NULL(cJSON_GetObjectItemCaseSensitive(r1, "block"));
	cJSON_Delete(doc);
	doc = NULL;
}

TEST(test_json_defaults)
{
	bg_config_defaults(&cfg);
	char *text = bg_config_json(&cfg);
	ASSERT_NOT_NULL(text);
	ASSERT_STR_EQ(text,
		      "{\"source\":\"built-in defaults\",\"mode\":\"audit\",\"level\":\"info\","
		      "\"log\":\"stderr\",\"profile\":\"auto\",\"enforce\":{\"block\":[\"pin_"
		      "halfclosed\"],"
		      "\"errno\":\"EADDRINUSE\"},\"remedy\":false,\"rules\":[]}");
	free(text);
}

/* The effective JSON, minus its report-only keys, parses back to itself. */
TEST(test_json_round_trip)
{
	parse_ok(
		"{\"mode\": \"off\", \"profile\": \"legacy-2.6\", \"enforce\": {\"block\": [], "
		"\"errno\": \"EPERM\"},"
		" \"rules\": [{\"ports\": [\"1-1024\", 8443], \"addresses\": [\"127.0.0.0/8\", "
		"\"::1\", \"::/0\"],"
		" \"mode\": \"enforce\", \"block\": [\"pin_halfclosed\"]}, {\"mode\": \"audit\"}]}",
		"p");
	char *first = bg_config_json(&cfg);
	ASSERT_NOT_NULL(first);
	TEST_CONTEXT("json %s", first);
	doc = cJSON_Parse(first);
	ASSERT_NOT_NULL(doc);
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "source");
	const cJSON *r;
	cJSON_ArrayForEach (r, get(doc, "rules")) {
		cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)r, "applies_to_this_program");
	}
	char *again = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	doc = NULL;
	ASSERT_NOT_NULL(again);
	int rc = bg_config_parse(&cfg, again, "t.json", "p");
	if (rc)
		printf("#   error: %s\n", cfg.error);
	free(again);
	ASSERT_EQ(rc, 0);
	char *second = bg_config_json(&cfg);
	ASSERT_NOT_NULL(second);
	ASSERT_STR_EQ(second, first);
	free(first);
	free(second);
}

/* ---- errno names ------------------------------------------------------------------------------
 */

TEST(test_errno_names)
{
	ASSERT_EQ(bg_errno_parse("EADDRINUSE"), EADDRINUSE);
	ASSERT_EQ(bg_errno_parse("EACCES"), EACCES);
	ASSERT_EQ(bg_errno_parse("EPERM"), EPERM);
	ASSERT_EQ(bg_errno_parse("ECONNREFUSED"), ECONNREFUSED);
	ASSERT_EQ(bg_errno_parse("eaddrinuse"), -1);
	ASSERT_EQ(bg_errno_parse("EADDRINUSE "), -1);
	ASSERT_EQ(bg_errno_parse(""), -1);
	ASSERT_EQ(bg_errno_parse("EUNKNOWN"), -1);
	/* the second names glibc's strerrorname_np() does not give back */
	ASSERT_EQ(bg_errno_parse("EWOULDBLOCK"), EWOULDBLOCK);
	ASSERT_EQ(bg_errno_parse("ENOTSUP"), ENOTSUP);
	ASSERT_EQ(bg_errno_parse("EDEADLOCK"), EDEADLOCK);
	ASSERT_STR_EQ(bg_errno_name(EADDRINUSE), "EADDRINUSE");
	ASSERT_STR_EQ(bg_errno_name(EACCES), "EACCES");
	ASSERT_STR_EQ(bg_errno_name(100000), "EUNKNOWN");
	static const int errs[] = {EPERM,	  ENOENT,  EINTR,	 EACCES,   EADDRINUSE,
				   EADDRNOTAVAIL, ENOBUFS, ECONNREFUSED, ETIMEDOUT};
	for (unsigned i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		TEST_CONTEXT("errno %d", errs[i]);
		ASSERT_EQ(bg_errno_parse(bg_errno_name(errs[i])), errs[i]);
	}
}

/* ---- the remedy (IP_BIND_ADDRESS_NO_PORT for bind(addr, 0)) -------------------------------- */

TEST(test_remedy_is_off_by_default)
{
	struct in6_addr a = v4("127.0.0.2");
	bg_config_defaults(&cfg);
	ASSERT_FALSE(cfg.remedy);
	ASSERT_FALSE(bg_policy_remedy(&cfg, &a));
}

TEST(test_remedy_global_and_per_rule)
{
	parse_ok("{\"remedy\": true, \"rules\": ["
		 "{\"addresses\": [\"10.0.0.0/8\"], \"remedy\": false},"
		 "{\"addresses\": [\"192.0.2.1\"], \"mode\": \"off\"},"
		 "{\"ports\": [\"1-65535\"], \"remedy\": false},"
		 "{\"addresses\": [\"::1\"], \"block\": [\"pin\"]}]}",
		 "p");
	ASSERT_TRUE(cfg.remedy);
	ASSERT_EQ(cfg.rules[0].remedy, 0);
	ASSERT_EQ(cfg.rules[1].remedy, -1);
	struct in6_addr ten = v4("10.1.2.3"), off = v4("192.0.2.1"), other = v4("127.0.0.2"),
			one = v6("::1");
	ASSERT_FALSE(bg_policy_remedy(&cfg, &ten));  /* the rule says no */
	ASSERT_FALSE(bg_policy_remedy(&cfg, &off));  /* mode off: never */
	ASSERT_TRUE(bg_policy_remedy(&cfg, &other)); /* a port rule never matches port 0 */
	ASSERT_TRUE(bg_policy_remedy(&cfg, &one));   /* the rule sets no remedy: global */

	parse_ok("{\"rules\": [{\"addresses\": [\"10.0.0.0/8\"], \"remedy\": true}]}", "p");
	ASSERT_TRUE(bg_policy_remedy(&cfg, &ten));
	ASSERT_FALSE(bg_policy_remedy(&cfg, &other));
	parse_ok("{\"mode\": \"off\", \"remedy\": true}", "p");
	ASSERT_FALSE(bg_policy_remedy(&cfg, &other));
}

TEST(test_remedy_errors_name_the_field)
{
	parse_fails("{\"remedy\": \"yes\"}", "t.json: remedy: expected true or false",
		    "got a string");
	parse_fails("{\"rules\": [{\"remedy\": 1}]}",
		    "t.json: rules[0].remedy: expected true or false", "got a number");
}

TEST(test_remedy_env)
{
	bg_config_defaults(&cfg);
	setenv("BINDGUARD_REMEDY", "on", 1);
	bg_config_env(&cfg);
	ASSERT_STR_EQ(cfg.error, "");
	ASSERT_TRUE(cfg.remedy);
	setenv("BINDGUARD_REMEDY", "0", 1);
	bg_config_env(&cfg);
	ASSERT_FALSE(cfg.remedy);
	setenv("BINDGUARD_REMEDY", "maybe", 1);
	bg_config_env(&cfg);
	ASSERT_FALSE(cfg.remedy);
	ASSERT_NOT_NULL(strstr(cfg.error, "BINDGUARD_REMEDY: expected on or off, got \"maybe\""));
}

TEST(test_remedy_in_json)
{
	parse_ok("{\"remedy\": true, \"rules\": [{\"remedy\": false}, {}]}", "p");
	char *j = bg_config_json(&cfg);
	ASSERT_NOT_NULL(strstr(j, "\"remedy\":true"));
	ASSERT_NOT_NULL(strstr(j, "\"remedy\":false"));
	free(j);
}

RUN_TESTS_WITH(
	setup, teardown, TEST_REF(test_defaults), TEST_REF(test_empty_object_is_the_defaults),
	TEST_REF(test_example_config_loads_cleanly),
	TEST_REF(test_example_config_rules_touch_only_legacyd),
	TEST_REF(test_rule_cgroups_selector), TEST_REF(test_example_config_legacyd_rules),
	TEST_REF(test_dollar_and_underscore_keys_are_ignored),
	TEST_REF(test_unknown_keys_are_rejected), TEST_REF(test_syntax_error_has_line_and_column),
	TEST_REF(test_port_must_be_written_whole), TEST_REF(test_duplicate_keys_are_refused),
	TEST_REF(test_deep_nesting_is_named),
	TEST_REF(test_log_path_with_a_control_character_is_refused),
	TEST_REF(test_top_level_must_be_an_object), TEST_REF(test_error_mode_and_level),
	TEST_REF(test_error_log), TEST_REF(test_error_profile), TEST_REF(test_error_enforce),
	TEST_REF(test_error_rules_shape), TEST_REF(test_error_rule_ports),
	TEST_REF(test_error_rule_addresses), TEST_REF(test_error_rule_programs_mode_block),
	TEST_REF(test_first_error_is_reported),
	TEST_REF(test_error_leaves_defaults_after_a_good_parse), TEST_REF(test_load_good_file),
	TEST_REF(test_load_bad_content_names_the_file), TEST_REF(test_load_refuses_symlink),
	TEST_REF(test_load_refuses_world_writable), TEST_REF(test_load_refuses_directory_and_fifo),
	TEST_REF(test_load_refuses_huge_file), TEST_REF(test_load_refuses_nul_byte),
	TEST_REF(test_load_missing_explicit_path_is_an_error),
	TEST_REF(test_load_missing_default_path_is_not_an_error), TEST_REF(test_env_overrides),
	TEST_REF(test_env_overrides_the_file), TEST_REF(test_env_empty_values_are_ignored),
	TEST_REF(test_env_bad_mode), TEST_REF(test_env_bad_log), TEST_REF(test_env_bad_profile),
	TEST_REF(test_env_keeps_an_earlier_error),
	TEST_REF(test_env_bad_value_drops_the_files_rules),
	TEST_REF(test_every_broken_config_ends_in_one_state),
	TEST_REF(test_broken_config_keeps_mode_off_and_the_log),
	TEST_REF(test_decide_no_rules_is_global), TEST_REF(test_decide_first_matching_rule_wins),
	TEST_REF(test_decide_port_ranges), TEST_REF(test_decide_ipv4_cidr),
	TEST_REF(test_decide_ipv6), TEST_REF(test_decide_ports_and_addresses_together),
	TEST_REF(test_decide_programs),
	TEST_REF(test_decide_programs_and_except_programs_in_one_rule),
	TEST_REF(test_decide_non_matching_rule_keeps_global),
	TEST_REF(test_decide_rule_block_without_mode), TEST_REF(test_json_has_mode_and_rules),
	TEST_REF(test_json_defaults), TEST_REF(test_json_round_trip), TEST_REF(test_errno_names),
	TEST_REF(test_remedy_is_off_by_default), TEST_REF(test_remedy_global_and_per_rule),
	TEST_REF(test_remedy_errors_name_the_field), TEST_REF(test_remedy_env),
	TEST_REF(test_remedy_in_json))
