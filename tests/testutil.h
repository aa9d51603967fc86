/*
 * testutil.h -- helpers shared by the Check suites.
 */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Compare n bytes against an oracle; fail naming the first mismatch. */
#define ck_assert_mem_oracle(got, want, n) do {				\
	const unsigned char *g_ = (const void *)(got);			\
	const unsigned char *w_ = (const void *)(want);			\
	size_t i_, n_ = (n);						\
	for (i_ = 0; i_ < n_ && g_[i_] == w_[i_]; i_++)			\
		;							\
	ck_assert_msg(i_ == n_, "byte %zu at %p is %#x, expected %#x",	\
		      i_, (void *)(g_ + i_), g_[i_], w_[i_]);		\
} while (0)

/* The seed for random tests: DET_TEST_SEED, or the clock (printed). */
static inline unsigned long
test_seed(const char *suite)
{
	const char *s = getenv("DET_TEST_SEED");
	unsigned long seed = s ? strtoul(s, NULL, 0)
			       : (unsigned long)time(NULL);

	fprintf(stderr, "%s: seed %lu (rerun with DET_TEST_SEED=%lu)\n",
		suite, seed, seed);
	return seed;
}

/* xorshift64*: a small deterministic generator for test data. */
static inline uint64_t
test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Run a suite in CK_FORK mode; the process exit status. */
static inline int
test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* TESTS_TESTUTIL_H */
