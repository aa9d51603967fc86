/*
 * blackscholes -- PARSEC's Black-Scholes option pricing, on det.
 *
 *   blackscholes [-t N] [--seq] [-s SIZE] [--verify]
 *
 * The parent generates SIZE thousand options (default 1000) and
 * allocates the prices array; children 0..N-1 each price one slice of
 * it, BS_NUM_RUNS times over (see blackscholes_kernel.h); the parent
 * joins them in order (app_det_run, app_common.h).  --seq runs the
 * kernel in the root space, without det_fork.  The output line is the
 * same as blackscholes_pthread's, for any N.
 */
#include "det.h"
#include "blackscholes_kernel.h"

int
main(int argc, char **argv)
{
	return bs_main(argc, argv, app_det_run);
}
