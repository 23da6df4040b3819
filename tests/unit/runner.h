/* runner.h: a tiny, header-only unit-test runner for bindguard.
 *
 * One test file = one executable with its own main(). Usage:
 *
 *     #include "runner.h"
 *
 *     TEST(test_parse_accepts_classic)
 *     {
 *             TEST_CONTEXT("profile %s", "classic");   // optional, shown on failure
 *             ASSERT_EQ(parse("classic"), 0);
 *     }
 *
 *     RUN_TESTS(TEST_REF(test_parse_accepts_classic), TEST_REF(test_other))
 *
 * or, with hooks run around every test (the teardown runs even when the test
 * failed, from the runner's own frame, so it must not touch the test's locals):
 *
 *     RUN_TESTS_WITH(setup_fn, teardown_fn, TEST_REF(a), TEST_REF(b))
 *
 * TEST(name) defines `static void name(void)`; a TEST missing from the
 * RUN_TESTS list is an unused static function, so -Wall -Werror refuses to
 * build: the table cannot silently forget a test.
 *
 * Assertions are fatal for the current test (longjmp back to the runner,
 * cmocka/libuv style); the runner goes on with the next test.
 *   ASSERT_EQ(a, b) / ASSERT_NE(a, b)  integers (compared as long long)
 *   ASSERT_TRUE(x) / ASSERT_FALSE(x)
 *   ASSERT_NULL(p) / ASSERT_NOT_NULL(p) / ASSERT_PTR_EQ(a, b)
 *   ASSERT_STR_EQ(a, b)
 * A failure prints file:line, the expression and both values, plus the
 * current TEST_CONTEXT if one was set.
 *
 * Output: one line per test, "ok NAME" or "FAIL NAME" (failure details come
 * before it, indented with '#'), and as the very last line exactly
 * "N passed, N failed". Exit status: 0 iff nothing failed.
 * A command-line argument runs only the tests whose name contains it.
 */
#ifndef BG_UNIT_RUNNER_H
#define BG_UNIT_RUNNER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct runner_test {
	const char *name;
	void (*fn)(void);
};

static jmp_buf runner_jmp;
static char runner_ctx[256];

#define TEST(name) static void name(void)
#define TEST_REF(name)      \
	{                   \
#name, name \
	}

/* A note shown with any failure until the next TEST_CONTEXT or test. */
__attribute__((format(printf, 1, 2), unused)) static void TEST_CONTEXT(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(runner_ctx, sizeof(runner_ctx), fmt, ap);
	va_end(ap);
}

__attribute__((noreturn, unused)) static void runner_fail(void)
{
	if (runner_ctx[0])
		printf("#   context: %s\n", runner_ctx);
	longjmp(runner_jmp, 1);
}

#define RUNNER_FAIL_HEAD(kind, expr_text) \
	printf("# %s:%d: %s(%s) failed\n", __FILE__, __LINE__, kind, expr_text)

#define RUNNER_CMP_INT(kind, a, b, op)                                                          \
	do {                                                                                    \
		long long runner_a_ = (long long)(a);                                           \
		long long runner_b_ = (long long)(b);                                           \
		if (!(runner_a_ op runner_b_)) {                                                \
			RUNNER_FAIL_HEAD(kind, #a ", " #b);                                     \
			printf("#   %s = %lld\n#   %s = %lld\n", #a, runner_a_, #b, runner_b_); \
			runner_fail();                                                          \
		}                                                                               \
	} while (0)

#define ASSERT_EQ(a, b) RUNNER_CMP_INT("ASSERT_EQ", a, b, ==)
#define ASSERT_NE(a, b) RUNNER_CMP_INT("ASSERT_NE", a, b, !=)

#define ASSERT_TRUE(x)                                                 \
	do {                                                           \
		if (!(x)) {                                            \
			RUNNER_FAIL_HEAD("ASSERT_TRUE", #x);           \
			printf("#   %s = false, expected true\n", #x); \
			runner_fail();                                 \
		}                                                      \
	} while (0)

#define ASSERT_FALSE(x)                                                \
	do {                                                           \
		if (x) {                                               \
			RUNNER_FAIL_HEAD("ASSERT_FALSE", #x);          \
			printf("#   %s = true, expected false\n", #x); \
			runner_fail();                                 \
		}                                                      \
	} while (0)

#define ASSERT_PTR_EQ(a, b)                                                                 \
	do {                                                                                \
		const void *runner_a_ = (const void *)(a);                                  \
		const void *runner_b_ = (const void *)(b);                                  \
		if (runner_a_ != runner_b_) {                                               \
			RUNNER_FAIL_HEAD("ASSERT_PTR_EQ", #a ", " #b);                      \
			printf("#   %s = %p\n#   %s = %p\n", #a, runner_a_, #b, runner_b_); \
			runner_fail();                                                      \
		}                                                                           \
	} while (0)

#define ASSERT_NULL(p) ASSERT_PTR_EQ(p, NULL)

#define ASSERT_NOT_NULL(p)                                       \
	do {                                                     \
		if ((const void *)(p) == NULL) {                 \
			RUNNER_FAIL_HEAD("ASSERT_NOT_NULL", #p); \
			printf("#   %s = NULL\n", #p);           \
			runner_fail();                           \
		}                                                \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                                          \
	do {                                                                         \
		const char *runner_a_ = (a);                                         \
		const char *runner_b_ = (b);                                         \
		if (!runner_a_ || !runner_b_ || strcmp(runner_a_, runner_b_) != 0) { \
			RUNNER_FAIL_HEAD("ASSERT_STR_EQ", #a ", " #b);               \
			printf("#   %s = \"%s\"\n#   %s = \"%s\"\n", #a,             \
			       runner_a_ ? runner_a_ : "(null)", #b,                 \
			       runner_b_ ? runner_b_ : "(null)");                    \
			runner_fail();                                               \
		}                                                                    \
	} while (0)

/* Kept apart from runner_run() so that no counter lives across setjmp. */
__attribute__((noinline, unused)) static int runner_run_one(void (*fn)(void))
{
	if (setjmp(runner_jmp) == 0) {
		fn();
		return 1;
	}
	return 0;
}

__attribute__((unused)) static int runner_run(const struct runner_test *tests, unsigned n,
					      void (*setup)(void), void (*teardown)(void), int argc,
					      char **argv)
{
	unsigned passed = 0, failed = 0;
	const char *filter = argc > 1 ? argv[1] : NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned i = 0; i < n; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		runner_ctx[0] = '\0';
		if (setup)
			setup();
		int ok = runner_run_one(tests[i].fn);
		if (teardown)
			teardown();
		if (ok) {
			passed++;
			printf("ok %s\n", tests[i].name);
		} else {
			failed++;
			printf("FAIL %s\n", tests[i].name);
		}
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define RUN_TESTS_WITH(setup, teardown, ...)                                                    \
	int main(int argc, char **argv)                                                         \
	{                                                                                       \
		static const struct runner_test runner_tests_[] = {__VA_ARGS__};                \
		return runner_run(runner_tests_,                                                \
				  (unsigned)(sizeof(runner_tests_) / sizeof(runner_tests_[0])), \
				  setup, teardown, argc, argv);                                 \
	}

#define RUN_TESTS(...) RUN_TESTS_WITH(NULL, NULL, __VA_ARGS__)

#endif
