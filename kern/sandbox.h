/*
 * sandbox.h -- the seccomp sandbox of child spaces (kern-private).
 */
#ifndef KERN_SANDBOX_H
#define KERN_SANDBOX_H

#ifndef KERN_INTERNAL
#error "sandbox.h is private to kern/"
#endif

#include <stddef.h>

/* Build the filter once, before the first fork; 0 or -errno. */
int sandbox_prepare(void);

/* In a new child: enter the sandbox; 0 or -errno. */
int sandbox_enter(void);

/* The name of system call nr ("socket"), or "?". */
void sandbox_syscall_name(long nr, char *buf, size_t len);

#endif /* KERN_SANDBOX_H */
