/*
 * detrun -- run a program under the det runtime.
 *
 *   detrun [options] -- PROGRAM [ARGS...]
 *
 * This is the minimal detrun: it normalises what the runtime needs
 * (no address-space randomisation, so addresses repeat run to run) and
 * passes runtime settings through the environment.  The sandbox, logical
 * clocks and output ordering are not built yet (see README).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <unistd.h>

#include "kern.h"

#define EXIT_USAGE	2	/* bad flags, no program, cannot run it */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: detrun [options] -- PROGRAM [ARGS...]\n"
"Run PROGRAM (linked with libdet) under the deterministic runtime.\n"
"\n"
"  --dirty NAME   dirty-page backend: pagemap_scan, pagemap_excl,\n"
"                 mprotect or hash (default: the best that works here)\n"
"  --backends     list the backends that work on this machine and exit\n"
"  --quiet        do not print conflict reports\n"
"  --help         this text\n"
"  --version      print the version\n"
"\n"
"Exit status: PROGRAM's; 2 when the flags are bad or PROGRAM cannot be\n"
"run (not found, not executable).\n");
}

static void
list_backends(void)
{
	const char *const *b;

	for (b = space_backends_available(); *b; b++)
		printf("%s\n", *b);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dirty", required_argument, NULL, 'd' },
		{ "backends", no_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *const *b;
	int c, ok;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			for (ok = 0, b = space_backends_available(); *b; b++)
				ok |= strcmp(*b, optarg) == 0;
			if (!ok) {
				fprintf(stderr, "detrun: --dirty %s: not a "
					"backend that works here (see "
					"detrun --backends)\n", optarg);
				return EXIT_USAGE;
			}
			setenv("DET_DIRTY", optarg, 1);
			break;
		case 'b':
			list_backends();
			return 0;
		case 'q':
			setenv("DET_QUIET", "1", 1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("detrun %s\n", DET_VERSION);
			return 0;
		default:
			fprintf(stderr, "detrun: unknown option '%s' (see "
				"detrun --help)\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "detrun: no program given (usage: detrun "
			"[options] -- PROGRAM [ARGS...])\n");
		return EXIT_USAGE;
	}
	/* Resolve every symbol at load: lazy binding would write the
	 * program's .got.plt from whichever space calls a function first. */
	setenv("LD_BIND_NOW", "1", 1);
	/* Same addresses every run: no ASLR for the program. */
	if (personality(0xffffffff) != -1 &&
	    !(personality(0xffffffff) & ADDR_NO_RANDOMIZE))
		personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE);
	execvp(argv[optind], &argv[optind]);
	fprintf(stderr, "detrun: cannot run %s: %s\n", argv[optind],
		strerror(errno));
	return EXIT_USAGE;
}
