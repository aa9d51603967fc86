/*
 * app_common.h -- what the benchmark apps of user/apps share.
 *
 *  - the command line: -t N, -s SIZE, --seq, --verify, --help and an
 *    app's own extra flags (lu's --contig), described by a struct
 *    app_spec; errors are one line on stderr and exit status 2;
 *  - app_err, a line on stderr after the program's name;
 *  - the FNV-1a checksum and the xorshift64* generator;
 *  - app_bound, the even split of a range among workers;
 *  - the runners: run a job on each of N workers and join them in
 *    order, reporting failures.  A program that includes det.h before
 *    this file gets the det ones (app_det_*), any other the pthreads
 *    ones (app_pthread_*).  The app_runner ones take the same
 *    arguments, so a kernel's driver can be handed either.
 *
 * Everything is static inline: each program uses only part of it.
 */
#ifndef APP_COMMON_H
#define APP_COMMON_H

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APP_MAX_WORKERS	256	/* det's DET_MAX_CHILDREN */
#define APP_MAX_FLAGS	4	/* extra flags an app may have */
#define APP_FLAG0	0x100	/* getopt value of the first extra flag */

/* FNV-1a, 64 bits: the offset basis and the prime. */
#define APP_FNV_BASIS	14695981039346656037ull
#define APP_FNV_PRIME	1099511628211ull
/*
 * The basis with its last digit lost: md5, blackscholes, matmult and lu
 * start from it, and keep it so that their checksums stay the same.
 */
#define APP_FNV_BASIS19	1469598103934665603ull

/* An app's command line: its -s and its extra flags. */
struct app_spec {
	unsigned long size_def;	/* -s when not given */
	unsigned long size_min;
	unsigned long size_max;
	unsigned long size_scale;	/* size = the -s number times this */
	int size_pow2;		/* -s must be a power of two */
	const char *size_unit;	/* "(unit)" in -s's error, or NULL */
	const char *const *flags;	/* extra --flags, NULL-ended, or NULL */
	void (*describe)(void);	/* --help: the lines after "usage:" */
};

/* The parsed command line. */
struct app_opts {
	unsigned workers;	/* -t (default 2) */
	int seq;		/* --seq: no workers */
	int verify;		/* --verify */
	unsigned long size;	/* -s, times the spec's size_scale */
	unsigned flags;		/* bit k: the spec's flags[k] was given */
};

/*
 * Runs fn on each of jobs[0, n) (size bytes apart) in n workers and
 * joins them in order; 0, or nonzero after a failure (printed).
 */
typedef int (*app_runner)(unsigned n, void (*fn)(void *), void *jobs,
			  size_t size);

/* One line on stderr, after the program's name. */
static inline void __attribute__((format(printf, 1, 2)))
app_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* The --help text: the usage line, then the app's description. */
static inline void
app_usage(const struct app_spec *spec)
{
	const char *const *f;

	printf("usage: %s [-t N] [--seq] [-s SIZE] [--verify]",
	       program_invocation_short_name);
	for (f = spec->flags; f && *f; f++)
		printf(" [--%s]", *f);
	printf("\n");
	spec->describe();
}

/* The decimal number s, or ULONG_MAX unless s is all digits. */
static inline unsigned long
app_number(const char *s)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return ULONG_MAX;
	v = strtoul(s, &end, 10);
	return *end ? ULONG_MAX : v;
}

/* Is v an acceptable -s number for spec? */
static inline int
app_size_ok(const struct app_spec *spec, unsigned long v)
{
	if (v < spec->size_min || v > spec->size_max)
		return 0;
	return !spec->size_pow2 || (v & (v - 1)) == 0;
}

/*
 * Parse argv into o as spec says: 0 to run, or 2 after a bad flag (one
 * line on stderr).  --help prints the usage and exits with status 0.
 */
static inline int
app_parse(int argc, char **argv, const struct app_spec *spec,
	  struct app_opts *o)
{
	struct option opts[APP_MAX_FLAGS + 4] = {
		{ "seq", no_argument, NULL, 'S' },
		{ "verify", no_argument, NULL, 'V' },
	};
	unsigned long v;
	int c, nf = 0;

	while (spec->flags && nf < APP_MAX_FLAGS && spec->flags[nf]) {
		opts[2 + nf] = (struct option){ spec->flags[nf], no_argument,
						NULL, APP_FLAG0 + nf };
		nf++;
	}
	opts[2 + nf] = (struct option){ "help", no_argument, NULL, 'h' };
	*o = (struct app_opts){ 2, 0, 0,
				spec->size_def * spec->size_scale, 0 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:s:h", opts, NULL)) != -1) {
		if (c >= APP_FLAG0 && c < APP_FLAG0 + nf) {
			o->flags |= 1u << (c - APP_FLAG0);
			continue;
		}
		switch (c) {
		case 't':
			v = app_number(optarg);
			if (v == 0 || v > APP_MAX_WORKERS) {
				app_err("-t %s: expected 1..%d\n", optarg,
					APP_MAX_WORKERS);
				return 2;
			}
			o->workers = (unsigned)v;
			break;
		case 's':
			v = app_number(optarg);
			if (!app_size_ok(spec, v)) {
				app_err("-s %s: expected %s%lu..%lu%s%s%s\n",
					optarg, spec->size_pow2 ?
					"a power of two in " : "",
					spec->size_min, spec->size_max,
					spec->size_unit ? " (" : "",
					spec->size_unit ? spec->size_unit : "",
					spec->size_unit ? ")" : "");
				return 2;
			}
			o->size = v * spec->size_scale;
			break;
		case 'S':
			o->seq = 1;
			break;
		case 'V':
			o->verify = 1;
			break;
		case 'h':
			app_usage(spec);
			exit(0);
		case ':':
			app_err("%s needs an argument\n", argv[optind - 1]);
			return 2;
		default:
			app_err("bad option %s (try --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		app_err("unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* FNV-1a: fold the bytes p[0, len) into h. */
static inline uint64_t
app_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ c[i]) * APP_FNV_PRIME;
	return h;
}

/* FNV-1a: fold v's 8 bytes, least significant first, into h. */
static inline uint64_t
app_fnv64(uint64_t h, uint64_t v)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		h = (h ^ (v >> (8 * i) & 0xff)) * APP_FNV_PRIME;
	return h;
}

/* The xorshift64* state for seed (never 0). */
static inline uint64_t
app_seed(uint64_t seed)
{
	return seed * 0x9e3779b97f4a7c15ull | 1;
}

/* The next output of the xorshift64* generator of state *x. */
static inline uint64_t
app_rand(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

/* Worker k of n gets [len * k / n, len * (k + 1) / n): this and next. */
static inline uint64_t
app_bound(uint64_t len, unsigned k, unsigned n)
{
	return len / n * k + len % n * k / n;
}

#ifdef DET_H

/* det_fork child k on fn(arg); 0, or the det error (printed). */
static inline int
app_det_fork(unsigned k, void (*fn)(void *), void *arg)
{
	int r = det_fork(k, fn, arg);

	if (r != DET_OK)
		app_err("det_fork %u: error %d\n", k, r);
	return r;
}

/*
 * Fork child k on the k-th job for k < n, join them in order; after a
 * failed det_fork, join those forked.  Every failure is printed, ctx
 * after the child's number.  0, or the first det error.
 */
static inline int
app_det_round(unsigned n, void (*fn)(void *), void *jobs, size_t size,
	      const char *ctx)
{
	struct det_status st;
	unsigned k;
	int r, rc = 0;

	for (k = 0; k < n; k++) {
		r = app_det_fork(k, fn, (char *)jobs + k * size);
		if (r != DET_OK) {
			n = k;
			rc = r;
			break;
		}
	}
	for (k = 0; k < n; k++) {
		r = det_join(k, &st);
		if (r != DET_OK) {
			app_err("det_join %u%s: error %d%s\n", k, ctx, r,
				r == DET_ECONFLICT ?
				" (write/write conflict)" : "");
			if (rc == 0)
				rc = r;
		}
	}
	return rc;
}

/* The app_runner on det: one app_det_round. */
static inline int
app_det_run(unsigned n, void (*fn)(void *), void *jobs, size_t size)
{
	return app_det_round(n, fn, jobs, size, "");
}

/*
 * The app_runner on det that stops at the first failure: exit status
 * 3, after the det_join details (signal, conflicts) on stderr.
 */
static inline int
app_det_run_or_exit(unsigned n, void (*fn)(void *), void *jobs,
		    size_t size)
{
	struct det_status st;
	unsigned k;
	int r;

	for (k = 0; k < n; k++)
		if (app_det_fork(k, fn, (char *)jobs + k * size) != DET_OK)
			exit(3);
	for (k = 0; k < n; k++) {
		r = det_join(k, &st);
		if (r != DET_OK) {
			app_err("det_join %u: error %d (signal %d, %zu "
				"conflicts%s%s)\n", k, r, st.signal,
				st.nconflicts,
				st.nconflicts ? ", first at " : "",
				st.nconflicts ? st.conflicts[0].where : "");
			exit(3);
		}
	}
	return 0;
}

#else /* !DET_H: pthreads */

#include <pthread.h>

/* A thread's call, in det_fork's shape: fn(arg). */
struct app_call {
	void (*fn)(void *);
	void *arg;
};

/* A thread: make its call. */
static inline void *
app_call_thread(void *p)
{
	const struct app_call *c = p;

	c->fn(c->arg);
	return NULL;
}

/* Start thread number k on fn(arg); 0, or -1 (printed). */
static inline int
app_pthread_start(pthread_t *tid, unsigned k, void *(*fn)(void *),
		  void *arg)
{
	int r = pthread_create(tid, NULL, fn, arg);

	if (r != 0) {
		app_err("pthread_create %u: %s\n", k, strerror(r));
		return -1;
	}
	return 0;
}

/* The app_runner on threads: -1 if one did not start (printed). */
static inline int
app_pthread_run(unsigned n, void (*fn)(void *), void *jobs, size_t size)
{
	struct app_call calls[APP_MAX_WORKERS];
	pthread_t tid[APP_MAX_WORKERS];
	unsigned k;
	int rc = 0;

	for (k = 0; k < n; k++) {
		calls[k] = (struct app_call){ fn, (char *)jobs + k * size };
		if (app_pthread_start(&tid[k], k, app_call_thread,
				      &calls[k]) != 0) {
			n = k;
			rc = -1;
			break;
		}
	}
	for (k = 0; k < n; k++)
		pthread_join(tid[k], NULL);
	return rc;
}

#endif /* DET_H */

#endif /* APP_COMMON_H */
