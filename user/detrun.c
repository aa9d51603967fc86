/*
 * detrun -- run a program under the det runtime, deterministically.
 *
 *   detrun [options] -- PROGRAM [ARGS...]
 *
 * The program gets a normalised world: no address-space randomisation,
 * a fixed environment (plus --env pass-throughs), umask 022, the C
 * locale, TZ=UTC, every symbol bound at load, and -- through libdet,
 * which reads DET_DETERMINISTIC -- a logical clock, a seeded random
 * stream and a fixed CPU count, in the root as in every child.  With
 * --check N it runs the program N times under perturbation and compares
 * digests of what it printed and how it exited.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "kern.h"
#include "net.h"
#include "../bjob/bjob.h"

#define EXIT_USAGE	2	/* bad flags, no program, cannot run it */
#define EXIT_UNSTABLE	3	/* --check saw more than one outcome */
#define MAX_ENV		64

struct opts {
	int check;		/* --check N, 0 when not asked */
	const char *pass[MAX_ENV];	/* --env names */
	int npass;
	char allow[1024];	/* --allow list, comma-separated */
	int build;		/* --build (or the program is make) */
	int stats;		/* --stats */
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: detrun [options] -- PROGRAM [ARGS...]\n"
"Run PROGRAM (linked with libdet) deterministically: same input, same\n"
"output and exit status, on every run.\n"
"\n"
"  --check N      run N times under perturbation (delays, CPU affinity,\n"
"                 competing load); report the number of distinct outcomes\n"
"                 (output + exit status); exit 3 if more than one\n"
"  --stats        print forks, joins, pages, bytes merged, conflicts and\n"
"                 time in merge when the program exits\n"
"  --trace FILE   write a timeline of the root's children (Chrome trace\n"
"                 JSON: open it in Perfetto or chrome://tracing)\n"
"  --allow NAME   let children make system call NAME (repeatable)\n"
"  --seed N       seed of the random streams (getrandom, /dev/urandom is\n"
"                 not virtualised)\n"
"  --cpus N       CPU count the program sees (sched_getaffinity; default 4)\n"
"  --env NAME     pass environment variable NAME through (repeatable)\n"
"  --dirty NAME   dirty-page backend: pagemap_scan, pagemap_excl,\n"
"                 mprotect or hash (default: the best that works here)\n"
"  --backends     list the backends that work on this machine and exit\n"
"  --nodes FILE|LIST  nodes for det_fork_on: a hostfile (a HOST[:PORT]\n"
"                 a line, words after it and # comments ignored) or\n"
"                 HOST[:PORT],...; port 7677 by default; names are\n"
"                 resolved here; node 1 is the first (DET_NODES)\n"
"  --key FILE     the detd key (DET_KEY_FILE)\n"
"  --compress     compress the memory shipped to nodes (lz4; pays on\n"
"                 links slower than the CPUs) (DET_COMPRESS)\n"
"  --lazy         a remote child starts at once; the pages of its big\n"
"                 memory ranges arrive on first touch (userfaultfd) and\n"
"                 in the background while it runs (DET_LAZY)\n"
"  --node-timeout MS  a node that does not answer for MS ms has failed;\n"
"                 its children re-run locally (default 10000)\n"
"  --quiet        do not print conflict reports\n"
"  --build        PROGRAM is a build driver (make or ninja; implied when\n"
"                 PROGRAM is make or ninja): each job runs in its own file\n"
"                 space and namespaces, joined in fork order; -jN jobs run\n"
"                 at once\n"
"  --build-path DIR  the build sees its tree at DIR, whatever directory\n"
"                 it lives in: the same __FILE__, debug info and logs\n"
"                 (default /build, made if missing; '.': where it is;\n"
"                 implies --build) (DET_BUILD_PATH)\n"
"  --help         this text\n"
"  --version      print the version\n"
"\n"
"Exit status: PROGRAM's (128+N when killed by signal N); 2 when the\n"
"flags are bad or PROGRAM cannot be run; 3 when --check saw more than\n"
"one outcome; with --build, 4 when two jobs wrote one file differently\n"
"and 5 when the build runtime failed.  See detrun(1).\n");
}

/* One line on stderr, exit 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("detrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

/* A decimal count in [lo, hi], or die naming the flag. */
static long
number(const char *flag, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		die("%s %s: expected a number from %ld to %ld", flag, s, lo,
		    hi);
	return v;
}

/* One node of --nodes ("HOST[:PORT]", blanks around it already
 * gone; n bytes) resolved and appended to list (cap bytes) with a
 * comma; what names the hostfile (NULL: a list).  The program's libdet
 * then never resolves a name: getaddrinfo would allocate in its heap. */
static void
node_resolved(const char *what, const char *s, size_t n, char *list,
	      size_t cap)
{
	char hp[300], num[80];
	size_t k = strlen(list);
	int err;

	if (n + sizeof(":7677") > sizeof(hp))
		die("--nodes%s%s: a node name is too long", what ? " " : "",
		    what ? what : "");
	memcpy(hp, s, n);
	hp[n] = 0;
	if (!strchr(hp, ':') || (hp[0] == '[' && !strstr(hp, "]:")))
		strcat(hp, ":7677");
	err = net_numeric(hp, num, sizeof(num));
	if (err)
		die("--nodes%s%s: %s: %s", what ? " " : "", what ? what : "",
		    hp, err == -EINVAL ? "not HOST:PORT, or no such host" :
		    strerror(-err));
	if (k + strlen(num) + 2 > cap)
		die("--nodes: too many nodes");
	snprintf(list + k, cap - k, "%s%s", k ? "," : "", num);
}

/*
 * --nodes: a hostfile (one node a line: the first word counts, '#'
 * starts a comment -- Slurm's `scontrol show hostnames`, Open MPI's
 * "host slots=N") or a HOST[:PORT] list; names are resolved here and
 * DET_NODES gets numeric addresses.
 */
static void
nodes_opt(const char *v)
{
	static char list[65536], text[65536];
	const char *p = v, *node;
	int fd, file = 0;
	ssize_t r;
	size_t n;

	if (!strchr(v, ',') && (fd = open(v, O_RDONLY | O_CLOEXEC)) >= 0) {
		r = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (r < 0 || r == (ssize_t)sizeof(text) - 1)
			die("--nodes %s: %s", v, r < 0 ? strerror(errno) :
			    "too large for a hostfile");
		text[r] = 0;
		p = text;
		file = 1;
	} else if (strchr(v, '/') || !*v) {
		die("--nodes %s: no such file, and not a HOST:PORT list", v);
	}
	while ((n = net_nodes_next(&p, file, &node)))
		node_resolved(file ? v : NULL, node, n, list, sizeof(list));
	if (!list[0])
		die("--nodes %s: no nodes in it", v);
	setenv("DET_NODES", list, 1);
}

/* --key: a detd key file that can be used (made absolute). */
static void
key_opt(const char *v)
{
	uint8_t key[NET_KEY_LEN];
	char path[PATH_MAX];
	int err = net_key_load(v, key);

	if (err)
		die("--key %s: %s", v, err == -EPERM ? "readable by group or "
		    "others; chmod 600 it" : err == -EINVAL ? "not a key "
		    "(32 bytes, made by detd --keygen)" : strerror(-err));
	if (!realpath(v, path))
		die("--key %s: %s", v, strerror(errno));
	setenv("DET_KEY_FILE", path, 1);
}

/* Append syscall name to the --allow list, checking it exists. */
static void
allow_add(struct opts *o, const char *name)
{
	size_t len = strlen(o->allow);

	if (seccomp_syscall_resolve_name(name) == __NR_SCMP_ERROR)
		die("--allow %s: not a system call of this machine", name);
	if (len + strlen(name) + 2 > sizeof(o->allow))
		die("--allow: too many system calls");
	snprintf(o->allow + len, sizeof(o->allow) - len, "%s%s",
		 len ? "," : "", name);
}

/*
 * Replace the environment by the fixed one, keeping DET_* settings and
 * the --env names.
 */
static void
normalise_env(const struct opts *o)
{
	static const char *fixed[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/",
		"LANG=C", "LC_ALL=C", "TZ=UTC", "DET_DETERMINISTIC=1",
		"LD_BIND_NOW=1",
	};
	char *keep[MAX_ENV * 2];
	extern char **environ;
	size_t n = 0, i;
	char **e;
	int k;

	for (e = environ; *e && n < MAX_ENV; e++)
		if (strncmp(*e, "DET_", 4) == 0)
			keep[n++] = strdup(*e);
	for (k = 0; k < o->npass; k++) {
		const char *v = getenv(o->pass[k]);
		size_t len;

		if (!v)
			continue;
		len = strlen(o->pass[k]) + strlen(v) + 2;
		keep[n] = malloc(len);
		snprintf(keep[n++], len, "%s=%s", o->pass[k], v);
	}
	clearenv();
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		putenv((char *)fixed[i]);
	for (i = 0; i < n; i++)
		putenv(keep[i]);
	umask(022);
}

/* Exec the program; only returns on failure (after one line). */
static void __attribute__((noreturn))
run(char **argv)
{
	int e;

	execvp(argv[0], argv);
	e = errno;
	fprintf(stderr, "detrun: cannot run %s: %s\n", argv[0], strerror(e));
	_exit(EXIT_USAGE);
}

/*
 * --build-path DIR (or DET_BUILD_PATH): "." or an absolute path without
 * ".", ".." or empty components, not "/" and not in the system's own
 * directories; else one line and exit 2.
 */
static void
build_path_check(const char *what, const char *v)
{
	static const char *const sys[] = { "/proc", "/sys", "/dev", "/run",
					   "/etc", "/usr", "/bin", "/lib",
					   "/sbin", "/boot" };
	size_t n = strlen(v), i, k;

	if (!*v || !strcmp(v, "."))	/* empty: the default */
		return;
	if (v[0] != '/' || n < 2 || n > 1024 || v[n - 1] == '/' ||
	    strstr(v, "//") || strstr(v, "/./") || strstr(v, "/../") ||
	    (n >= 2 && !strcmp(v + n - 2, "/.")) ||
	    (n >= 3 && !strcmp(v + n - 3, "/..")))
		die("%s %s: give '.' or an absolute directory path without "
		    "., .. or a trailing /", what, v);
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		k = strlen(sys[i]);
		if (!strncmp(v, sys[i], k) && (!v[k] || v[k] == '/'))
			die("%s %s: not under %s (choose a path of its own, "
			    "e.g. /build)", what, v, sys[i]);
	}
}

/* Is the program a build driver run in build mode by default? */
static int
is_make(const char *prog)
{
	const char *base = strrchr(prog, '/');

	base = base ? base + 1 : prog;
	return !strcmp(base, "make") || !strcmp(base, "gmake") ||
	       !strcmp(base, "ninja");
}

/* Exit status of a wait status, shell-style. */
static int
status_of(int ws)
{
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Digest of a whole file. */
static uint64_t
digest_fd(int fd, XXH3_state_t *st)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		XXH3_64bits_update(st, buf, (size_t)n);
		off += n;
	}
	return (uint64_t)off;
}

/* Copy a whole file to fd dst. */
static void
copy_out(int fd, int dst)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		if (write(dst, buf, (size_t)n) != n)
			return;
		off += n;
	}
}

/* A process that keeps one CPU busy until killed. */
static pid_t
competing_load(void)
{
	pid_t pid = fork();
	volatile unsigned long spin = 0;

	if (pid == 0) {
		for (;;)
			spin++;
	}
	return pid;
}

/*
 * One --check run: perturbed (run > 0), output captured into two
 * unnamed files.  Returns the outcome digest; *status is the program's
 * exit status; the files are returned for the first run.
 */
static uint64_t
check_once(char **argv, int run_no, int *status, int *out, int *err)
{
	XXH3_state_t *st = XXH3_createState();
	pid_t pid, load = -1;
	uint64_t d;
	int ws;

	*out = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	*err = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*out < 0 || *err < 0 || !st)
		die("--check: cannot make temporary files in /tmp: %s",
		    strerror(errno));
	if (run_no > 0 && run_no % 2)
		load = competing_load();
	pid = fork();
	if (pid < 0)
		die("--check: fork: %s", strerror(errno));
	if (pid == 0) {
		char seed[32];

		dup2(*out, 1);
		dup2(*err, 2);
		if (run_no > 0) {
			cpu_set_t set;

			/* a different CPU, different delays, every run */
			CPU_ZERO(&set);
			CPU_SET(run_no % 2 ? 0 : 1, &set);
			sched_setaffinity(0, sizeof(set), &set);
			snprintf(seed, sizeof(seed), "%ld",
				 (long)time(NULL) ^ (long)getpid());
			setenv("DET_PERTURB", seed, 1);
		}
		run(argv);
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (load > 0) {
		kill(load, SIGKILL);
		waitpid(load, NULL, 0);
	}
	*status = status_of(ws);
	XXH3_64bits_reset(st);
	digest_fd(*out, st);
	XXH3_64bits_update(st, "\0stderr\0", 8);
	digest_fd(*err, st);
	XXH3_64bits_update(st, status, sizeof(*status));
	d = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return d;
}

/* --check N: run, compare, report.  Exits. */
static void __attribute__((noreturn))
check(char **argv, int n)
{
	uint64_t first = 0, d, seen[64];
	int nseen = 0, i, k, status, first_status = 0, out, err;

	for (i = 0; i < n; i++) {
		d = check_once(argv, i, &status, &out, &err);
		if (i == 0) {
			first = d;
			first_status = status;
			copy_out(out, 1);
			copy_out(err, 2);
		}
		close(out);
		close(err);
		for (k = 0; k < nseen && seen[k] != d; k++)
			;
		if (k == nseen && nseen < 64)
			seen[nseen++] = d;
		fprintf(stderr, "detrun: check %d/%d: outcome %016llx%s\n",
			i + 1, n, (unsigned long long)d,
			d == first ? "" : " DIFFERS");
	}
	fprintf(stderr, "detrun: --check %d: %d distinct outcome%s%s\n", n,
		nseen, nseen == 1 ? "" : "s",
		nseen == 1 ? " (deterministic)" : " (NOT deterministic)");
	exit(nseen == 1 ? first_status : EXIT_UNSTABLE);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", required_argument, NULL, 'c' },
		{ "stats", no_argument, NULL, 'S' },
		{ "trace", required_argument, NULL, 't' },
		{ "allow", required_argument, NULL, 'a' },
		{ "seed", required_argument, NULL, 's' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "env", required_argument, NULL, 'e' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "backends", no_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "key", required_argument, NULL, 'k' },
		{ "node-timeout", required_argument, NULL, 'T' },
		{ "build", no_argument, NULL, 'B' },
		{ "build-path", required_argument, NULL, 'P' },
		{ "compress", no_argument, NULL, 'Z' },
		{ "lazy", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	const char *const *b;
	int c, ok, fd;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.check = (int)number("--check", optarg, 1, 10000);
			break;
		case 'S':
			setenv("DET_STATS", "1", 1);
			o.stats = 1;
			break;
		case 'B':
			o.build = 1;
			break;
		case 'P':
			build_path_check("--build-path", optarg);
			setenv("DET_BUILD_PATH", optarg, 1);
			o.build = 1;
			break;
		case 't':
			fd = open(optarg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0)
				die("--trace %s: %s", optarg, strerror(errno));
			close(fd);
			setenv("DET_TRACE", optarg, 1);
			break;
		case 'a':
			allow_add(&o, optarg);
			break;
		case 's':
			number("--seed", optarg, 0, 0x7fffffffffffffffL);
			setenv("DET_SEED", optarg, 1);
			break;
		case 'p':
			number("--cpus", optarg, 1, 1024);
			setenv("DET_CPUS", optarg, 1);
			break;
		case 'e':
			if (o.npass == MAX_ENV)
				die("--env: at most %d names", MAX_ENV);
			if (!*optarg || strchr(optarg, '='))
				die("--env %s: expected a variable name",
				    optarg);
			o.pass[o.npass++] = optarg;
			break;
		case 'd':
			for (ok = 0, b = space_backends_available(); *b; b++)
				ok |= strcmp(*b, optarg) == 0;
			if (!ok)
				die("--dirty %s: not a backend that works here "
				    "(see detrun --backends)", optarg);
			setenv("DET_DIRTY", optarg, 1);
			break;
		case 'b':
			for (b = space_backends_available(); *b; b++)
				printf("%s\n", *b);
			return 0;
		case 'q':
			setenv("DET_QUIET", "1", 1);
			break;
		case 'n':
			nodes_opt(optarg);
			break;
		case 'k':
			key_opt(optarg);
			break;
		case 'Z':
			setenv("DET_COMPRESS", "1", 1);
			break;
		case 'L':
			setenv("DET_LAZY", "1", 1);
			break;
		case 'T':
			number("--node-timeout", optarg, 1, 3600000);
			setenv("DET_NODE_TIMEOUT", optarg, 1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("detrun %s\n", DET_VERSION);
			return 0;
		case ':':
			die("option '%s' needs a value (see detrun --help)",
			    argv[optind - 1]);
		default:
			die("unknown option '%s' (see detrun --help)",
			    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		die("no program given (usage: detrun [options] -- PROGRAM "
		    "[ARGS...])");
	if (*o.allow)
		setenv("DET_ALLOW", o.allow, 1);
	o.build |= is_make(argv[optind]);
	if (getenv("DET_BUILD_PATH"))
		build_path_check("DET_BUILD_PATH", getenv("DET_BUILD_PATH"));
	if (o.build && getenv("SOURCE_DATE_EPOCH"))
		o.pass[o.npass++] = "SOURCE_DATE_EPOCH";
	normalise_env(&o);
	/* Same addresses every run: no ASLR for the program. */
	if (personality(0xffffffff) != -1 &&
	    !(personality(0xffffffff) & ADDR_NO_RANDOMIZE))
		personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE);
	if (o.build && o.check)
		die("--check with --build: run the build N times instead");
	if (o.build)
		return bjob_sup_run(&argv[optind], o.stats);
	if (o.check)
		check(&argv[optind], o.check);
	run(&argv[optind]);
}
