/*
 * bjob.h -- job spaces for files: `detrun --build -- make -jN`.
 *
 * The supervisor (bjob_sup.c, inside detrun) runs the build driver
 * (make) with SHELL=detsh.  Each job make spawns is a detsh (detsh.c)
 * that registers with the supervisor over a unix socket, waits for a
 * run token, then runs the recipe in its own mount, pid and uts
 * namespaces on an overlayfs view of the tree as of its fork.  When the
 * recipe ends, the supervisor merges the job's upper dir into the tree
 * (bjob_merge.c) -- but only when make waits for it, oldest job first,
 * so make sees its children finish in fork order, whatever the real
 * order.  Immutable snapshots are layers (bjob_layer.c).
 */
#ifndef USER_BJOB_BJOB_H
#define USER_BJOB_BJOB_H

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define BJOB_EXIT_CONFLICT	4	/* --build: a write/write conflict */
#define BJOB_EXIT_INTERNAL	5	/* --build: the runtime failed */
#define BJOB_PATH	"/build"	/* where a build sees its tree */

/* Messages between detsh and the supervisor (SOCK_SEQPACKET). */
enum bjob_msg_type {
	BJOB_HELLO = 1,	/* detsh -> sup: pid, ppid, capture, command */
	BJOB_SETUP,	/* sup -> detsh: id, lowers */
	BJOB_GO,	/* sup -> detsh: a run token */
	BJOB_DONE,	/* detsh -> sup: the recipe's raw wait status */
	BJOB_ACK,	/* sup -> detsh: merged; status to exit with */
	BJOB_DRIVER,	/* make -> sup: a driver starts; arg = its -jN */
	BJOB_FORK,	/* driver -> sup: ppid = the new child's pid */
	BJOB_WAIT,	/* driver -> sup: ppid = wait's pid, arg = WNOHANG */
	BJOB_WAITOK,	/* sup -> driver: arg = pid to reap, 0, or -1 */
	BJOB_FS,	/* ninja -> sup: arg 'd' made dir / 'u' deleted
			 * file text (absolute); answered WAITOK */
};

#define BJOB_CAP_OUT	1	/* stdout is the driver's: capture it */
#define BJOB_CAP_ERR	2	/* stderr likewise */
#define BJOB_CAP_REC	4	/* HELLO: the recipe runs a sub-make */
#define BJOB_TEXT	3800	/* command line or lowerdir list */

struct bjob_msg {
	uint32_t type;
	int32_t pid;		/* HELLO: detsh's pid */
	int32_t ppid;		/* HELLO: its parent (the driver) */
	int32_t arg;		/* capture bits / job id / wait status */
	char text[BJOB_TEXT];	/* NUL-terminated */
};

/*
 * Tree index: the last join that changed each path (path relative to the
 * tree root) and the job that made it.
 */
struct bjob_index;

struct bjob_index *bjob_index_create(void);
void bjob_index_destroy(struct bjob_index *ix);
/* Join number of path's last change (0: never), *job its job id. */
int bjob_index_get(const struct bjob_index *ix, const char *path, int *job);
int bjob_index_put(struct bjob_index *ix, const char *path, int join,
		   int job);

struct bjob_merge_stats {
	uint64_t files;		/* entries applied (files, links, deletions) */
	uint64_t bytes;		/* bytes of the files applied */
	uint64_t copied_up;	/* bytes of files that existed before */
	uint64_t dirs;		/* directories in upper dirs (made or kept) */
};

/*
 * Merge upper dir `upper` (a path, relative to dirfd state) of the job
 * `job`, forked at join `snap`, into the tree open at tree_fd, as join
 * number `join`; new files get mtime `epoch` + join ns.  Returns 0 when
 * merged, 1 on a conflict (nothing applied; *path and *other name the
 * first conflicting path and the job that changed it), -1 on a system
 * error (one line printed, the tree possibly half merged).
 */
int bjob_merge(int tree_fd, int state_fd, const char *upper, int snap,
	       int join, int job, const struct timespec *epoch,
	       struct bjob_index *ix, struct bjob_merge_stats *st,
	       char *path, size_t pathlen, int *other);

/*
 * Hard-link clone of the tree at tree_fd into the new directory `name`
 * under state_fd (the snapshot base).  With newest non-NULL, also the
 * newest mtime of a file of the tree.  0, or -1 with one line printed.
 */
int bjob_layer_clone(int tree_fd, int state_fd, const char *name,
		     struct timespec *newest);
/* rm -rf of name under dirfd; 0 or -1. */
int bjob_layer_remove(int dirfd, const char *name);

/* A stream over directory fd's entries from its start (fd stays open;
 * closedir the stream), or NULL.  bjob_dir_next: the next entry but
 * "." and "..", its lstat in *st; NULL at the end, or with *err = -1
 * when an entry cannot be stat'ed. */
DIR *bjob_dir_open(int fd);
struct dirent *bjob_dir_next(DIR *d, int fd, struct stat *st, int *err);

/*
 * Install (in the calling process, inherited by its descendants) a
 * seccomp filter handing getrandom to a supervisor; its notify fd or -1.
 */
int bjob_rand_filter(void);
/* Answer one notification of fd nfd with deterministic bytes. */
void bjob_rand_serve(int nfd);

/*
 * detrun --build: run argv (make, or a script running make) with every
 * make's jobs in job spaces; returns the exit status (the program's,
 * or BJOB_EXIT_*).
 */
int bjob_sup_run(char **argv, int stats);

#endif /* USER_BJOB_BJOB_H */
