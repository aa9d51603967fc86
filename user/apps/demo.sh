#!/bin/sh
# make demo: sort 10 M integers sequentially and in parallel under
# detrun, compare the checksums and wall-clock times (measured here,
# outside the program), then show a planted race being reported.
B=${1:-build}
cd "$(dirname "$0")/../.." || exit 2
N=10000000
K=${DEMO_CHILDREN:-4}
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }

echo "== det demo: psort, $N integers, dirty-page backend:" \
	"$($B/bin/detrun --backends | head -1)"
t0=$(now)
seq=$($B/apps/psort --seq -n $N) || exit 1
t1=$(now)
par=$($B/bin/detrun -- $B/apps/psort -k $K -n $N) || exit 1
t2=$(now)
echo "sequential:           $seq   $(ms $t0 $t1) ms"
echo "parallel, $K children: $par   $(ms $t1 $t2) ms"
if [ "$seq" = "$par" ]; then
	echo "same result: yes"
else
	echo "same result: NO"
	exit 1
fi
echo
echo "== the same sort with a planted race: every child adds to a shared"
echo "   counter; det refuses those joins and names the variable"
$B/bin/detrun -- $B/apps/psort -k $K -n 100000 --racy 2>&1
echo "(psort exited with status $?, as it should on a conflict)"
