/*
 * detenv -- print what would make a run differ from the last: the time
 * (every clock, and the TSC), random bytes (getrandom, /dev/urandom),
 * process ids, heap and stack
 * addresses, the environment, the CPU count -- from the root and from a
 * child.  Under
 * detrun every line is the same on every run with the same --seed.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "det.h"

extern char **environ;

#define NLINES 6

struct report {
	char line[NLINES][160];
};

static struct report child_report;

/* Fill r with this space's view of the world. */
static void
observe(struct report *r)
{
	struct timespec rt, mono;
	struct timeval tv;
	unsigned char rnd[8];
	cpu_set_t set;
	void *heap = malloc(32);
	FILE *f;
	int stack;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	gettimeofday(&tv, NULL);
	getrandom(rnd, sizeof(rnd), 0);
	sched_getaffinity(0, sizeof(set), &set);
	snprintf(r->line[0], sizeof(r->line[0]), "time %lld.%09ld mono "
		 "%lld.%09ld tod %lld.%06ld time() %lld",
		 (long long)rt.tv_sec, rt.tv_nsec, (long long)mono.tv_sec,
		 mono.tv_nsec, (long long)tv.tv_sec, (long)tv.tv_usec,
		 (long long)time(NULL));
	snprintf(r->line[1], sizeof(r->line[1]), "random %02x%02x%02x%02x"
		 "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5], rnd[6], rnd[7]);
	snprintf(r->line[2], sizeof(r->line[2]), "heap %p stack %p", heap,
		 (void *)&stack);
	snprintf(r->line[3], sizeof(r->line[3]), "cpus %d nprocs %ld",
		 CPU_COUNT(&set), sysconf(_SC_NPROCESSORS_ONLN));
	snprintf(r->line[4], sizeof(r->line[4]), "pid %ld ppid %ld tid %ld "
		 "tsc %llu", (long)getpid(), (long)getppid(), (long)gettid(),
		 (unsigned long long)__builtin_ia32_rdtsc());
	f = fopen("/dev/urandom", "r");
	if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	if (f)
		fclose(f);
	snprintf(r->line[5], sizeof(r->line[5]), "urandom %02x%02x%02x%02x"
		 "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5], rnd[6], rnd[7]);
	free(heap);
}

static void
child(void *arg)
{
	(void)arg;
	observe(&child_report);
}

int
main(void)
{
	struct report root;
	char **e;
	int i;

	observe(&root);
	if (det_fork(0, child, NULL) != DET_OK || det_join(0, NULL) != DET_OK)
		return 1;
	for (i = 0; i < NLINES; i++)
		printf("root %s\n", root.line[i]);
	for (i = 0; i < NLINES; i++)
		printf("child %s\n", child_report.line[i]);
	for (e = environ; *e; e++)
		printf("env %s\n", *e);
	return 0;
}
