/*
 * interpose.c -- the root's view of the random devices and the CPU
 * count under detrun.
 *
 * A sandboxed child's open of /dev/urandom or /sys/devices/system/cpu/
 * online traps into kern/sandbox.c, which hands back a virtual file.
 * The root's filter cannot trap open (a trap while a thread blocks
 * SIGSYS kills the process), so for programs linked with libdet the
 * same files come from here: these definitions of open, open64, fopen,
 * fopen64, sysconf, get_nprocs and get_nprocs_conf override libc's
 * (the executable is searched first) and ask kern for the virtual file
 * or CPU count; everything else, and everything outside a deterministic
 * environment, goes to libc's own function (dlsym RTLD_NEXT).  glibc's
 * internal calls (its own get_nprocs reading /sys) do not pass through
 * here; the interposed sysconf and get_nprocs cover them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "kern.h"

enum { N_OPEN, N_FOPEN, N_SYSCONF, N_NPROCS, N_NPROCS_CONF, N_MAX };

/* libc's definitions, looked up once (dlsym is not cheap); never merged
 * (a lazy write in two children would be a conflict). */
DET_PRIVATE static void *next_fn[N_MAX];

/* libc's definition of name, slot k of next_fn (never NULL for these
 * names). */
static void *
next(int k, const char *name)
{
	void *f = __atomic_load_n(&next_fn[k], __ATOMIC_RELAXED);

	if (!f) {
		f = dlsym(RTLD_NEXT, name);
		__atomic_store_n(&next_fn[k], f, __ATOMIC_RELAXED);
	}
	return f;
}

/* The virtual file for path as an fd; -1 with errno set when it is
 * not one (ENOENT) or cannot be made. */
static int
virtual_fd(const char *path, int flags)
{
	int fd = space_virtual_open(path, flags);

	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

/* open (and open64, the same on 64-bit): a virtual file, or libc's. */
int
open(const char *path, int flags, ...)
{
	int (*real)(const char *, int, ...);
	mode_t mode = 0;
	int fd, saved = errno;
	va_list ap;

	va_start(ap, flags);
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		mode = (mode_t)va_arg(ap, int);
	va_end(ap);
	fd = virtual_fd(path, flags);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	errno = saved;
	real = (int (*)(const char *, int, ...))next(N_OPEN, "open");
	return real(path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

/* fopen (and fopen64): a stream on a virtual file, or libc's fopen. */
FILE *
fopen(const char *path, const char *mode)
{
	FILE *(*real)(const char *, const char *);
	int fd, saved = errno;
	FILE *f;

	fd = virtual_fd(path, O_RDONLY);
	if (fd >= 0) {
		f = fdopen(fd, mode);
		if (!f)
			close(fd);
		return f;
	}
	if (errno != ENOENT)
		return NULL;
	errno = saved;
	real = (FILE *(*)(const char *, const char *))next(N_FOPEN, "fopen");
	return real(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
	__attribute__((alias("fopen")));

long
sysconf(int name)
{
	long (*real)(int) = (long (*)(int))next(N_SYSCONF, "sysconf");

	if ((name == _SC_NPROCESSORS_ONLN || name == _SC_NPROCESSORS_CONF) &&
	    space_cpus())
		return (long)space_cpus();
	return real(name);
}

int
get_nprocs(void)
{
	int (*real)(void) = (int (*)(void))next(N_NPROCS, "get_nprocs");

	return space_cpus() ? (int)space_cpus() : real();
}

int
get_nprocs_conf(void)
{
	int (*real)(void);

	if (space_cpus())
		return (int)space_cpus();
	real = (int (*)(void))next(N_NPROCS_CONF, "get_nprocs_conf");
	return real();
}
