/*
 * remote.h -- det_fork_on to a node (remote.c), for det.c.
 */
#ifndef USER_REMOTE_H
#define USER_REMOTE_H

#include "det.h"

/* Nodes in DET_NODES (read once; bad values get one error line). */
unsigned remote_nnodes(void);

/* Fork child on node (1..remote_nnodes()) through fork_local (det_fork),
 * whose result it returns: a proxy child that runs fn(arg) on the node,
 * or here if the node fails (det_config.fallback_local). */
int remote_fork(unsigned child, unsigned node, det_fn fn, void *arg,
		int (*fork_local)(unsigned, det_fn, void *));

/* After det_join/det_sync of child gave rc (status st): the node the
 * child ran on into st->node, a failure report, DET_ENODE when the node
 * failed and fallback_local is 0.  The result to return. */
int remote_join_done(unsigned child, int rc, struct det_status *st);

#endif /* USER_REMOTE_H */
