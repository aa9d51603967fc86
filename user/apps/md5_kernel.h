/*
 * md5_kernel.h -- the kernel shared by md5.c (det) and md5_pthread.c.
 *
 * Brute-force search of an MD5 preimage, after Determinator's md5
 * benchmark.  The search space is the first SIZE million 6-letter
 * lowercase strings, in base-26 order ("aaaaaa", "aaaaab", ...); the
 * target is the MD5 of the candidate at 7/10 of the space.  The space is
 * cut into equal contiguous parts, one per worker; every worker scans
 * its part completely (no early exit, so the work does not depend on
 * where the secret lies), records its first match and the sum of the
 * first digest word over its part (proof that the whole part was
 * hashed).  The main program takes the lowest match in worker order.
 *
 * MD5 is implemented here from RFC 1321 (a benchmark kernel, not a
 * security use) and checked against two test vectors at start-up.
 *
 * Everything here is static: each program includes it once.  The two
 * programs differ only in the runner they hand md5_main (app_common.h):
 * det children or threads.
 */
#ifndef MD5_KERNEL_H
#define MD5_KERNEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_common.h"

#define MD5_LEN		6	/* letters in a candidate */
#define MD5_SPACE_MAX	308	/* 26^6 = 308915776: at most 308 million */
#define MD5_SIZE_DEF	16	/* default -s: 16 million candidates */
#define MD5_NONE	UINT64_MAX	/* "no match" */

/* What one worker found over its part [lo, hi) of the space. */
struct md5_result {
	uint64_t match;		/* first matching index, or MD5_NONE */
	uint64_t sum;		/* sum of the digests' first words */
};

static const uint32_t md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
	0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
	0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
	0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
	0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* Little-endian 32-bit load, whatever the host. */
static inline uint32_t
md5_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* RFC 1321's four auxiliary functions and the step of each round. */
#define MD5_F(x, y, z)	(((x) & (y)) | (~(x) & (z)))
#define MD5_G(x, y, z)	(((x) & (z)) | ((y) & ~(z)))
#define MD5_H(x, y, z)	((x) ^ (y) ^ (z))
#define MD5_I(x, y, z)	((y) ^ ((x) | ~(z)))
#define MD5_STEP(fn, a, b, c, d, x, s, k) do {			\
		(a) += fn((b), (c), (d)) + (x) + (k);		\
		(a) = ((a) << (s) | (a) >> (32 - (s))) + (b);	\
	} while (0)

/* RFC 1321 compression of one 64-byte block (as 16 words) into h. */
static inline void
md5_compress(uint32_t h[4], const uint32_t w[16])
{
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
	const uint32_t *k = md5_k;

	MD5_STEP(MD5_F, a, b, c, d, w[0], 7, k[0]);
	MD5_STEP(MD5_F, d, a, b, c, w[1], 12, k[1]);
	MD5_STEP(MD5_F, c, d, a, b, w[2], 17, k[2]);
	MD5_STEP(MD5_F, b, c, d, a, w[3], 22, k[3]);
	MD5_STEP(MD5_F, a, b, c, d, w[4], 7, k[4]);
	MD5_STEP(MD5_F, d, a, b, c, w[5], 12, k[5]);
	MD5_STEP(MD5_F, c, d, a, b, w[6], 17, k[6]);
	MD5_STEP(MD5_F, b, c, d, a, w[7], 22, k[7]);
	MD5_STEP(MD5_F, a, b, c, d, w[8], 7, k[8]);
	MD5_STEP(MD5_F, d, a, b, c, w[9], 12, k[9]);
	MD5_STEP(MD5_F, c, d, a, b, w[10], 17, k[10]);
	MD5_STEP(MD5_F, b, c, d, a, w[11], 22, k[11]);
	MD5_STEP(MD5_F, a, b, c, d, w[12], 7, k[12]);
	MD5_STEP(MD5_F, d, a, b, c, w[13], 12, k[13]);
	MD5_STEP(MD5_F, c, d, a, b, w[14], 17, k[14]);
	MD5_STEP(MD5_F, b, c, d, a, w[15], 22, k[15]);
	MD5_STEP(MD5_G, a, b, c, d, w[1], 5, k[16]);
	MD5_STEP(MD5_G, d, a, b, c, w[6], 9, k[17]);
	MD5_STEP(MD5_G, c, d, a, b, w[11], 14, k[18]);
	MD5_STEP(MD5_G, b, c, d, a, w[0], 20, k[19]);
	MD5_STEP(MD5_G, a, b, c, d, w[5], 5, k[20]);
	MD5_STEP(MD5_G, d, a, b, c, w[10], 9, k[21]);
	MD5_STEP(MD5_G, c, d, a, b, w[15], 14, k[22]);
	MD5_STEP(MD5_G, b, c, d, a, w[4], 20, k[23]);
	MD5_STEP(MD5_G, a, b, c, d, w[9], 5, k[24]);
	MD5_STEP(MD5_G, d, a, b, c, w[14], 9, k[25]);
	MD5_STEP(MD5_G, c, d, a, b, w[3], 14, k[26]);
	MD5_STEP(MD5_G, b, c, d, a, w[8], 20, k[27]);
	MD5_STEP(MD5_G, a, b, c, d, w[13], 5, k[28]);
	MD5_STEP(MD5_G, d, a, b, c, w[2], 9, k[29]);
	MD5_STEP(MD5_G, c, d, a, b, w[7], 14, k[30]);
	MD5_STEP(MD5_G, b, c, d, a, w[12], 20, k[31]);
	MD5_STEP(MD5_H, a, b, c, d, w[5], 4, k[32]);
	MD5_STEP(MD5_H, d, a, b, c, w[8], 11, k[33]);
	MD5_STEP(MD5_H, c, d, a, b, w[11], 16, k[34]);
	MD5_STEP(MD5_H, b, c, d, a, w[14], 23, k[35]);
	MD5_STEP(MD5_H, a, b, c, d, w[1], 4, k[36]);
	MD5_STEP(MD5_H, d, a, b, c, w[4], 11, k[37]);
	MD5_STEP(MD5_H, c, d, a, b, w[7], 16, k[38]);
	MD5_STEP(MD5_H, b, c, d, a, w[10], 23, k[39]);
	MD5_STEP(MD5_H, a, b, c, d, w[13], 4, k[40]);
	MD5_STEP(MD5_H, d, a, b, c, w[0], 11, k[41]);
	MD5_STEP(MD5_H, c, d, a, b, w[3], 16, k[42]);
	MD5_STEP(MD5_H, b, c, d, a, w[6], 23, k[43]);
	MD5_STEP(MD5_H, a, b, c, d, w[9], 4, k[44]);
	MD5_STEP(MD5_H, d, a, b, c, w[12], 11, k[45]);
	MD5_STEP(MD5_H, c, d, a, b, w[15], 16, k[46]);
	MD5_STEP(MD5_H, b, c, d, a, w[2], 23, k[47]);
	MD5_STEP(MD5_I, a, b, c, d, w[0], 6, k[48]);
	MD5_STEP(MD5_I, d, a, b, c, w[7], 10, k[49]);
	MD5_STEP(MD5_I, c, d, a, b, w[14], 15, k[50]);
	MD5_STEP(MD5_I, b, c, d, a, w[5], 21, k[51]);
	MD5_STEP(MD5_I, a, b, c, d, w[12], 6, k[52]);
	MD5_STEP(MD5_I, d, a, b, c, w[3], 10, k[53]);
	MD5_STEP(MD5_I, c, d, a, b, w[10], 15, k[54]);
	MD5_STEP(MD5_I, b, c, d, a, w[1], 21, k[55]);
	MD5_STEP(MD5_I, a, b, c, d, w[8], 6, k[56]);
	MD5_STEP(MD5_I, d, a, b, c, w[15], 10, k[57]);
	MD5_STEP(MD5_I, c, d, a, b, w[6], 15, k[58]);
	MD5_STEP(MD5_I, b, c, d, a, w[13], 21, k[59]);
	MD5_STEP(MD5_I, a, b, c, d, w[4], 6, k[60]);
	MD5_STEP(MD5_I, d, a, b, c, w[11], 10, k[61]);
	MD5_STEP(MD5_I, c, d, a, b, w[2], 15, k[62]);
	MD5_STEP(MD5_I, b, c, d, a, w[9], 21, k[63]);
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}

static const uint32_t md5_iv[4] = {
	0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
};

/* MD5 of msg[0, n) into out[16]: the general path (any length). */
static void
md5_digest(const void *msg, size_t n, unsigned char out[16])
{
	const unsigned char *m = msg;
	unsigned char tail[128];
	uint32_t h[4], w[16];
	size_t done, rest, tn, i, j;
	uint64_t bits = (uint64_t)n * 8;

	memcpy(h, md5_iv, sizeof(h));
	for (done = 0; n - done >= 64; done += 64) {
		for (j = 0; j < 16; j++)
			w[j] = md5_le32(m + done + 4 * j);
		md5_compress(h, w);
	}
	rest = n - done;
	tn = rest < 56 ? 64 : 128;
	memset(tail, 0, sizeof(tail));
	memcpy(tail, m + done, rest);
	tail[rest] = 0x80;
	for (i = 0; i < 8; i++)
		tail[tn - 8 + i] = (unsigned char)(bits >> (8 * i));
	for (i = 0; i < tn; i += 64) {
		for (j = 0; j < 16; j++)
			w[j] = md5_le32(tail + i + 4 * j);
		md5_compress(h, w);
	}
	for (i = 0; i < 16; i++)
		out[i] = (unsigned char)(h[i / 4] >> (8 * (i % 4)));
}

/* Lower-case hex of a 16-byte digest into hex[33]. */
static void
md5_hex(const unsigned char d[16], char hex[33])
{
	unsigned i;

	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Check md5_digest against RFC 1321's vectors; 0 when it agrees. */
static int
md5_selftest(void)
{
	static const char *const vec[][2] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
	};
	unsigned char d[16];
	char hex[33];
	unsigned i;

	for (i = 0; i < 2; i++) {
		md5_digest(vec[i][0], strlen(vec[i][0]), d);
		md5_hex(d, hex);
		if (strcmp(hex, vec[i][1]) != 0) {
			fprintf(stderr, "md5: self-test failed: md5(\"%s\") "
				"= %s, expected %s\n", vec[i][0], hex,
				vec[i][1]);
			return -1;
		}
	}
	return 0;
}

/* Candidate number idx as MD5_LEN letters (last letter varies fastest). */
static void
md5_candidate(uint64_t idx, char s[MD5_LEN + 1])
{
	int i;

	for (i = MD5_LEN - 1; i >= 0; i--) {
		s[i] = (char)('a' + idx % 26);
		idx /= 26;
	}
	s[MD5_LEN] = '\0';
}

/* The secret's index: 7/10 of the way into the space. */
static uint64_t
md5_secret(uint64_t size)
{
	return size / 10 * 7 + 12345;	/* size >= 1 million */
}

/*
 * The kernel: hash candidates [lo, hi) and compare with target (the
 * digest as 4 state words).  Builds the padded one-block message once
 * and steps the letters like an odometer.
 */
static void
md5_search(uint64_t lo, uint64_t hi, const uint32_t target[4],
	   struct md5_result *res)
{
	unsigned char blk[64];
	char s[MD5_LEN + 1];
	uint32_t w[16], h[4];
	uint64_t idx, sum = 0, match = MD5_NONE;
	int i;

	md5_candidate(lo, s);
	memset(blk, 0, sizeof(blk));
	memcpy(blk, s, MD5_LEN);
	blk[MD5_LEN] = 0x80;
	blk[56] = MD5_LEN * 8;
	for (i = 0; i < 16; i++)
		w[i] = md5_le32(blk + 4 * i);
	for (idx = lo; idx < hi; idx++) {
		memcpy(h, md5_iv, sizeof(h));
		md5_compress(h, w);
		sum += h[0];
		if (h[0] == target[0] && h[1] == target[1] &&
		    h[2] == target[2] && h[3] == target[3] &&
		    match == MD5_NONE)
			match = idx;
		for (i = MD5_LEN - 1; i >= 0; i--) {	/* next candidate */
			if (blk[i] != 'z') {
				blk[i]++;
				break;
			}
			blk[i] = 'a';
		}
		w[0] = md5_le32(blk);
		w[1] = md5_le32(blk + 4);
	}
	res->match = match;
	res->sum = sum;
}

/* Combine the workers' results in worker order into one. */
static struct md5_result
md5_combine(const struct md5_result *r, unsigned n)
{
	struct md5_result all = { MD5_NONE, 0 };
	unsigned k;

	for (k = 0; k < n; k++) {
		if (all.match == MD5_NONE)
			all.match = r[k].match;
		all.sum += r[k].sum;
	}
	return all;
}

/* Target digest (state words) of the secret candidate for this size. */
static void
md5_target(uint64_t size, uint32_t target[4])
{
	unsigned char d[16];
	char s[MD5_LEN + 1];
	unsigned i;

	md5_candidate(md5_secret(size), s);
	md5_digest(s, MD5_LEN, d);
	for (i = 0; i < 4; i++)
		target[i] = md5_le32(d + 4 * i);
}

/* The --help text after the usage line. */
static void
md5_describe(void)
{
	printf("Find the 6-letter string whose MD5 is the target among "
	       "SIZE million candidates\n(default %d, at most %d) with N "
	       "workers (default 2); --seq: no workers.\n", MD5_SIZE_DEF,
	       MD5_SPACE_MAX);
}

/* The command line: -s in million candidates. */
static const struct app_spec md5_spec = {
	MD5_SIZE_DEF, 1, MD5_SPACE_MAX, 1000000, 0, "million candidates",
	NULL, md5_describe,
};

/* Print the result line; 0, or 1 when nothing was found. */
static int
md5_report(const struct md5_result *r, uint64_t size)
{
	uint64_t ck = APP_FNV_BASIS19;
	char s[MD5_LEN + 1];

	if (r->match == MD5_NONE) {
		fprintf(stderr, "md5: no preimage found\n");
		return 1;
	}
	md5_candidate(r->match, s);
	ck = app_fnv64(ck, size);
	ck = app_fnv64(ck, r->match);
	ck = app_fnv64(ck, r->sum);
	printf("md5: preimage \"%s\" (candidate %llu of %llu) checksum "
	       "%016llx\n", s, (unsigned long long)r->match,
	       (unsigned long long)size, (unsigned long long)ck);
	return 0;
}

/* --verify: compare r with a sequential search; 0, or 1 on mismatch. */
static int
md5_verify(const struct md5_result *r, uint64_t size,
	   const uint32_t target[4])
{
	struct md5_result s;

	md5_search(0, size, target, &s);
	if (s.match != r->match || s.sum != r->sum) {
		fprintf(stderr, "md5: verify: parallel result (match %llu, "
			"sum %016llx) differs from sequential (match %llu, "
			"sum %016llx)\n", (unsigned long long)r->match,
			(unsigned long long)r->sum,
			(unsigned long long)s.match,
			(unsigned long long)s.sum);
		return 1;
	}
	return 0;
}

/* One worker's share of the search. */
struct md5_job {
	uint64_t lo;
	uint64_t hi;
	struct md5_result *out;
};

static struct md5_result md5_results[APP_MAX_WORKERS];
static uint32_t md5_goal[4];	/* the target digest */

/* A worker: search its part, write its own result slot. */
static void
md5_worker(void *arg)
{
	struct md5_job *j = arg;

	md5_search(j->lo, j->hi, md5_goal, j->out);
}

/* The search by n workers, with run; 0, or nonzero after a failure. */
static int
md5_parallel(uint64_t size, unsigned n, app_runner run)
{
	struct md5_job jobs[APP_MAX_WORKERS];
	unsigned k;

	for (k = 0; k < n; k++)
		jobs[k] = (struct md5_job){ app_bound(size, k, n),
					    app_bound(size, k + 1, n),
					    &md5_results[k] };
	return run(n, md5_worker, jobs, sizeof(jobs[0]));
}

/* The program, its workers started by run; the exit status. */
static int
md5_main(int argc, char **argv, app_runner run)
{
	struct app_opts o;
	struct md5_result all;
	int rc;

	rc = app_parse(argc, argv, &md5_spec, &o);
	if (rc != 0)
		return rc;
	if (md5_selftest() != 0)
		return 1;
	md5_target(o.size, md5_goal);
	if (o.seq) {
		md5_search(0, o.size, md5_goal, &all);
	} else {
		if (md5_parallel(o.size, o.workers, run) != 0)
			return 3;
		all = md5_combine(md5_results, o.workers);
	}
	if (o.verify && md5_verify(&all, o.size, md5_goal) != 0)
		return 1;
	return md5_report(&all, o.size);
}

#endif /* MD5_KERNEL_H */
