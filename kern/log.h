/*
 * log.h -- one-line diagnostics for the runtime.
 *
 * Every message is a single line on stderr, prefixed with "det: " and the
 * module's LOG_PREFIX, naming what failed and where.  Library code never
 * calls printf directly; it uses these macros.  Define LOG_PREFIX before
 * including this header.
 */
#ifndef KERN_LOG_H
#define KERN_LOG_H

#include <stdio.h>

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

#define pr_err(fmt, ...) \
	fprintf(stderr, "det: " LOG_PREFIX fmt "\n", ##__VA_ARGS__)

/* Conflict and crash reports: the user-facing text, no module prefix. */
#define pr_report(fmt, ...) \
	fprintf(stderr, fmt "\n", ##__VA_ARGS__)

#endif /* KERN_LOG_H */
