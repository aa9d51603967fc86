/*
 * matmult -- Determinator's matrix-multiply benchmark on det.
 *
 *   matmult [-t N] [--seq] [-s SIZE] [--verify]
 *
 * C = A x B for SIZE x SIZE doubles (default 1536), cache-blocked.  The
 * parent allocates A, B and C, then forks N children (default 2); each
 * computes a disjoint range of row blocks of C, so the joins never
 * conflict.  --seq runs the same kernel in one space.  Prints one line,
 * "matmult: n=SIZE checksum HEX", the same for --seq, any N and
 * matmult_pthread.  A failed det_fork or det_join: exit status 3
 * (app_det_run_or_exit, app_common.h).
 */
#include "det.h"
#include "matmult_kernel.h"

int
main(int argc, char **argv)
{
	return mm_main(argc, argv, app_det_run_or_exit);
}
