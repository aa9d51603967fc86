/*
 * space.h -- glue between the space_*.c files of kern/ (private).
 */
#ifndef KERN_SPACE_H
#define KERN_SPACE_H

#ifndef KERN_INTERNAL
#error "space.h is private to kern/"
#endif

#include "rt.h"

int space_send(int sock, const struct msg *m);
int space_recv(int sock, struct msg *m);
int space_prepare(struct child *c);
void slot_release(struct child *c);
/* In a new process: become child number `child` described by c. */
void space_become(unsigned child, const struct child *c, pid_t parent);
int space_publish(int type, int code, struct msg *reply);
void child_fail(int err) __attribute__((noreturn));
void child_leave(void) __attribute__((noreturn));
int space_open_mem(pid_t pid);
void space_reap(int block);
void space_child_path(unsigned k, char *buf, size_t len);
/* space_remote.c: in a lazy remote worker, touch every page of the lazy
 * image so it is in place (a fork would see the missing ones as zero). */
void space_lazy_fill(void);

/* space_output.c: make c's capture files (0 or -errno); in the child,
 * make them its fds 1 and 2; in the parent, write them out at join/sync
 * and keep them for reuse when no other process can still write them
 * (reusable), else close them; close them; a new space drops the parent's
 * pool. */
int output_prepare(struct child *c);
int output_redirect(const struct child *c);
void output_emit(struct child *c, int reusable);
void output_forget_pool(void);
void output_close(struct child *c);

/* space_holder.c */
int holder_get(struct child *c);
void holder_put(struct child *c);
pid_t holder_pid(const struct child *c);
void holder_forget(void);
void holder_end_all(void);
void space_reap_later(pid_t pid);

/* space_merge.c: merge what child published (message m) into the
 * caller.  Fills st; returns 0, SPACE_ECONFLICT or -errno. */
int merge_child(unsigned child, struct child *c, const struct msg *m,
		const struct space_opts *o, struct det_status *st);

/* space_barrier.c: replace a child stopped at det_barrier by a fresh
 * copy of the caller that resumes the child's fn where it stopped and
 * sees rc as det_barrier's result.  0 or -errno (slot released). */
int space_resume(unsigned child, struct child *c, const struct msg *m,
		 int rc);

#endif /* KERN_SPACE_H */
