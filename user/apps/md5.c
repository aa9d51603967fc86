/*
 * md5 -- parallel brute-force search of an MD5 preimage, on det.
 *
 *   md5 [-t N] [--seq] [-s SIZE] [--verify]
 *
 * Children 0..N-1 each scan one part of the search space (see
 * md5_kernel.h) and write their result into their own slot of a global
 * array; the parent joins them in order (app_det_run, app_common.h) and
 * combines the slots.  SIZE is the space in million candidates (default
 * 16).  --seq runs the kernel in the root space, without det_fork.  The
 * output line is the same as md5_pthread's, for any N.
 */
#include "det.h"
#include "md5_kernel.h"

int
main(int argc, char **argv)
{
	return md5_main(argc, argv, app_det_run);
}
