/*
 * detclock.c -- preloaded into build jobs and the program detrun --build
 * runs (LD_PRELOAD): every clock reads SOURCE_DATE_EPOCH, plus 1 us
 * per reading in this process (so a loop waiting for time to pass still
 * ends, the same way every run), and uname() names a fixed machine; so
 * `date`, `uname -a` and the temporary names gnulib derives from the
 * monotonic clock are the same on every run.  mkstemp and friends
 * (gcc's /tmp/ccXXXXXX.o, which configure logs) and mkdtemp (cmake's
 * TryCompile-XXXXXX) draw their letters from
 * the pid (in the job's namespace), the program name and a count,
 * not from glibc's internal clock reading.  Sleeps are real.  make
 * keeps the real clock: it compares mtimes with the time to warn of
 * clock skew.  Static binaries, and glibc's internal clock readings,
 * are not covered.
 *
 * In a job space, file times: the kernel stamps what a job writes with
 * the real time, which `tar czf`, `gzip` and `zip` of a file made in
 * the same recipe would record.  So stat & co report every time at or
 * after the job's start (DETB_T0, set by detsh) as the job's logical
 * time (DETB_JOBTIME: 1 s after the later of SOURCE_DATE_EPOCH and the
 * newest input, so later than every file of the tree and every merge
 * (epoch + join ns), the same every run); atime and ctime (which merges and
 * hard-linked layers change at real times) read as the mtime.  make
 * sees real times (it decides what to build, inside a job too).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static long readings;

/* Is this process make (real clock)? */
static int
real_clock(void)
{
	const char *me = program_invocation_short_name;

	return !strcmp(me, "make") || !strcmp(me, "gmake");
}

/* The build's epoch (0 when unset) plus 1 us per reading. */
static void
now(struct timespec *ts)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	long us = readings++;

	ts->tv_sec = (s ? (time_t)strtoll(s, NULL, 10) : 0) + us / 1000000;
	ts->tv_nsec = us % 1000000 * 1000;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	if (!real_clock()) {
		now(ts);
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timeval *volatile out = tv;	/* glibc says nonnull */
	struct timespec ts;

	if (real_clock())
		return (int)syscall(SYS_gettimeofday, tv, tz);
	if (out) {
		now(&ts);
		out->tv_sec = ts.tv_sec;
		out->tv_usec = ts.tv_nsec / 1000;
	}
	return 0;
}

time_t
time(time_t *t)
{
	struct timespec ts;

	if (real_clock())
		return (time_t)syscall(SYS_time, t);
	now(&ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}

int
uname(struct utsname *u)
{
	if (syscall(SYS_uname, u) < 0)
		return -1;
	snprintf(u->release, sizeof(u->release), "%s", "6.0.0-det");
	snprintf(u->version, sizeof(u->version), "%s", "#1 SMP det");
	snprintf(u->nodename, sizeof(u->nodename), "%s", "det");
	memset(u->domainname, 0, sizeof(u->domainname));
	return 0;
}

static unsigned long tmp_count;

/* Letters for the Xs: a hash of pid, name, count (FNV-1a, splitmix). */
static void
letters(char *x, size_t n)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	const char *me = program_invocation_short_name;
	unsigned long long h = 1469598103934665603ULL;
	size_t i;

	while (*me)
		h = (h ^ (unsigned char)*me++) * 1099511628211ULL;
	h ^= (unsigned long long)getpid() << 32 ^ tmp_count++;
	for (i = 0; i < n; i++) {
		h += 0x9e3779b97f4a7c15ULL;
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
		x[i] = set[(h ^ (h >> 31)) % (sizeof(set) - 1)];
	}
}

/*
 * Replace the 6 Xs before a suffix of suffixlen bytes and create the
 * file with O_EXCL, trying the next names on EEXIST.
 */
static int
make_temp(char *tmpl, int suffixlen, int flags)
{
	size_t len = strlen(tmpl);
	char *x;
	int i, fd;

	if (suffixlen < 0 || len < 6 + (size_t)suffixlen ||
	    strncmp(tmpl + len - suffixlen - 6, "XXXXXX", 6)) {
		errno = EINVAL;
		return -1;
	}
	x = tmpl + len - suffixlen - 6;
	for (i = 0; i < 10000; i++) {
		letters(x, 6);
		fd = open(tmpl, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT |
			  O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
mkstemp(char *tmpl)
{
	return make_temp(tmpl, 0, 0);
}

int
mkstemps(char *tmpl, int suffixlen)
{
	return make_temp(tmpl, suffixlen, 0);
}

int
mkostemp(char *tmpl, int flags)
{
	return make_temp(tmpl, 0, flags);
}

int
mkostemps(char *tmpl, int suffixlen, int flags)
{
	return make_temp(tmpl, suffixlen, flags);
}

/* cmake's TryCompile-XXXXXX directories (libuv's mkdtemp too). */
char *
mkdtemp(char *tmpl)
{
	size_t len = strlen(tmpl);
	int i;

	if (len < 6 || strcmp(tmpl + len - 6, "XXXXXX")) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < 10000; i++) {
		letters(tmpl + len - 6, 6);
		if (mkdir(tmpl, 0700) == 0)
			return tmpl;
		if (errno != EEXIST)
			return NULL;
	}
	return NULL;
}

/* ---- file times in a job space ----------------------------------- */

static long long job_t0 = -1;	/* real ns the job began; -1: not mapped */
static struct timespec job_time;	/* what its own writes read as */

__attribute__((constructor)) static void
file_times_init(void)
{
	const char *t0 = getenv("DETB_T0"), *jt = getenv("DETB_JOBTIME");

	if (!t0 || !jt || !getenv("DETB_INJOB") || real_clock())
		return;
	job_t0 = strtoll(t0, NULL, 10);
	job_time.tv_sec = (time_t)strtoll(jt, NULL, 10);
}

/* One time: job_time when at or after the job's start. */
static void
map_time(struct timespec *t)
{
	if ((long long)t->tv_sec * 1000000000LL + t->tv_nsec >= job_t0)
		*t = job_time;
}

static int
fix_stat(int r, struct stat *st)
{
	if (r == 0 && job_t0 >= 0) {
		map_time(&st->st_mtim);
		st->st_atim = st->st_ctim = st->st_mtim;
	}
	return r;
}

static void
fix_sx(struct statx_timestamp *t)
{
	struct timespec ts = { t->tv_sec, t->tv_nsec };

	map_time(&ts);
	t->tv_sec = ts.tv_sec;
	t->tv_nsec = (uint32_t)ts.tv_nsec;
}

int
fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	/* syscall() returns -1 and sets errno itself. */
	return fix_stat((int)syscall(SYS_newfstatat, dirfd, path, st, flags),
			st);
}

int
stat(const char *path, struct stat *st)
{
	return fstatat(AT_FDCWD, path, st, 0);
}

int
lstat(const char *path, struct stat *st)
{
	return fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

int
fstat(int fd, struct stat *st)
{
	return fix_stat((int)syscall(SYS_fstat, fd, st), st);
}

/* The *64 names: the same struct on x86-64 (checked). */
_Static_assert(sizeof(struct stat64) == sizeof(struct stat), "stat64");

int
fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

int
stat64(const char *path, struct stat64 *st)
{
	return stat(path, (struct stat *)st);
}

int
lstat64(const char *path, struct stat64 *st)
{
	return lstat(path, (struct stat *)st);
}

int
fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

int
statx(int dirfd, const char *path, int flags, unsigned int mask,
      struct statx *sx)
{
	int r = (int)syscall(SYS_statx, dirfd, path, flags, mask, sx);

	if (r == 0 && job_t0 >= 0) {
		fix_sx(&sx->stx_mtime);
		sx->stx_atime = sx->stx_ctime = sx->stx_btime = sx->stx_mtime;
	}
	return r;
}
