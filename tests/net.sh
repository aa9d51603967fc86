#!/bin/sh
# Remote spaces end to end: det_fork_on to detd nodes gives the same
# output, exit status, conflict/crash/policy reports and final memory
# digest as running every child locally -- on loopback, then on 3 nodes
# in network namespaces joined by veth pairs (as root; created and
# removed here, also on failure).  Node failures: a wrong key, a detd
# killed while its child runs, a link cut (ip link set down): the result
# is unchanged (the child re-runs locally), or DET_ENODE without
# fallback.  The same with --lazy (pages on first touch, userfaultfd on
# the node), including a sparse 1% of 256 MiB read twice (the second
# time from the node's cache) and a child forking inside a remote child.
# det_barrier/det_sync with remote children (rounds of a stencil, a
# conflict at a det_sync; eager, --lazy, --compress, netns), a detd
# killed before the first barrier (same result) and after a merged one
# (DET_ENODE). Bounded: about a minute and a half.
B=${1:-build}
cd "$(dirname "$0")/.." || exit 2
# Under AddressSanitizer a remote worker cannot be an exact copy: ASan's
# allocator and shadow memory are the sanitizer's own (never shipped),
# so a shipped heap is unknown to the worker's ASan (README).
if [ -n "$DET_SANITIZE" ]; then
	echo "skip: remote spaces are not supported in sanitizer builds"
	exit 0
fi
B=$(cd "$B" && pwd)
fails=0
tmp=$(mktemp -d /tmp/det-net.XXXXXX)
chmod 755 "$tmp"
pids=""
NS="detn$$"
# A subnet of its own, so concurrent runs on one machine do not meet.
SUB=$(($$ % 200 + 20))
cleanup() {
	for p in $pids; do
		kill -9 "$p" 2>/dev/null
	done
	for k in 1 2 3; do
		ip netns del "$NS$k" 2>/dev/null
		ip link del "${NS}h$k" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

. tests/check.sh

D=$B/bin/detd
R=$B/bin/detrun
P=$B/tests/net_prog
$D --keygen "$tmp/key" || exit 1
$D --keygen "$tmp/badkey" || exit 1
# Workers run as nobody when detd is root; if nobody cannot reach the
# build tree (a checkout under /root), run them as root.
user=nobody
if [ "$(id -u)" -eq 0 ] && ! runuser -u nobody -- test -x "$P" 2>/dev/null
then
	user=root
fi
[ "$(id -u)" -eq 0 ] || user=$(id -un)

start_detd() {	# log file, address, then a command prefix (netns)
		# or detd options (starting with --); sets $addr to the
		# address it listens on
	log=$1
	addr=$2
	shift 2
	pre=""
	opt=""
	case "$1" in
	--*) opt="$*" ;;
	*) pre="$*" ;;
	esac
	# shellcheck disable=SC2086
	$pre "$D" --listen "$addr" --key "$tmp/key" --user "$user" $opt \
		2>"$log" &
	pids="$pids $!"
	for i in $(seq 50); do
		addr=$(sed -n 's/.*listening on //p' "$log" 2>/dev/null)
		[ -n "$addr" ] && return 0
		sleep 0.1
	done
	echo "detd on $addr did not start:"; cat "$log"
	return 1
}

local_run() {	# mode, then args: every child on node 0
	(cd "$tmp" && "$R" -- "$P" "$@") >"$tmp/local.$1" 2>&1
	echo "exit $?" >>"$tmp/local.$1"
}

remote_run() {	# out file, nodes, then args
	out=$1
	nodes=$2
	shift 2
	(cd "$tmp" && "$R" --nodes "$nodes" --key "$tmp/key" \
		--node-timeout 2000 -- "$P" "$@") >"$out" 2>&1
	echo "exit $?" >>"$out"
}

ended() {	# workers that ran to an end, over the logs
	cat "$@" | grep -c "worker .* ended: [a-z]" 2>/dev/null
}

# ---- loopback: 3 detds on 127.0.0.1 -------------------------------------
L=""
for k in 1 2 3; do
	start_detd "$tmp/lo$k.log" 127.0.0.1:0 || exit 1
	L="$L${L:+,}$addr"
done
# A hostfile as cluster tools write them: comments, blank lines, words
# after the address (Open MPI's "slots=N") are ignored.
# Names are resolved by detrun (localhost for 127.0.0.1).
{ echo "# det nodes"; echo; echo "$L" | tr , '\n' |
	sed 's/^127\.0\.0\.1:/localhost:/; s/$/ slots=2 # a node/'; } \
	>"$tmp/hostfile"

# on_nodes LABEL PREFIX LOGPREFIX NODES MODE...: each mode with its 4
# children on NODES (detd logs LOGPREFIX?.log) into $tmp/PREFIX.MODE:
# the local run's output, reports, status and digest, and the nodes
# ran the 4 children.
on_nodes() {
	label=$1
	pre=$2
	logs=$3
	list=$4
	shift 4
	for mode in "$@"; do
		before=$(ended "$tmp/$logs"?.log)
		remote_run "$tmp/$pre.$mode" "$list" $mode 1 2 3 1 0
		after=$(ended "$tmp/$logs"?.log)
		check "$label $mode: same output, reports, status and digest" \
			'cmp -s "$tmp/local.$mode" "$tmp/$pre.$mode" || { diff "$tmp/local.$mode" "$tmp/$pre.$mode"; false; }'
		check "$label $mode: 4 children ran on the nodes" \
			'[ $((after - before)) -eq 4 ]'
	done
}

for mode in work conflict crash policy exit nest; do
	local_run $mode 0 0 0 0 0
done
on_nodes loopback remote lo "$L" work conflict crash policy exit nest
grep -q "digest" "$tmp/local.work" &&
	check "the digest is of a real run (4 joins ok)" \
		'[ $(grep -c "^join .: 0 code 0" "$tmp/local.work") -eq 5 ]'
check "policy: the refused call is named (socket)" \
	'grep -q "called socket(2)" "$tmp/remote.policy"'
cached() {	# image pages the nodes' caches supplied, over the logs
	sed -n 's/.*, \([0-9]*\) from the cache.*/\1/p' "$@" |
		awk '{ n += $1 } END { print n + 0 }'
}
check "later runs got most image pages from the nodes' page caches" \
	'[ $(cached "$tmp"/lo?.log) -gt 1000 ]'
(cd "$tmp" && "$R" --compress --nodes "$L" --key "$tmp/key" -- "$P" big 8 1) \
	>"$tmp/z.remote" 2>&1
(cd "$tmp" && "$R" -- "$P" big 8 0) >"$tmp/z.local" 2>&1
check "--compress (lz4): same result, ran on the node, pages went lz4" \
	'cmp -s "$tmp/z.local" "$tmp/z.remote" && ! grep -q "node 1 failed" "$tmp/z.remote" && grep -q "received, [1-9][0-9]* lz4" "$tmp/lo1.log"'
# --lazy: the children start at once, their big ranges arrive on first
# touch and in the background; the same results, pages came lazily.
lazied() {	# pages received lazily, over the logs
	sed -n 's/.*, \([0-9]*\) lazily on.*/\1/p' "$@" |
		awk '{ n += $1 } END { print n + 0 }'
}
for mode in work conflict crash policy exit nest; do
	before=$(lazied "$tmp"/lo?.log)
	(cd "$tmp" && "$R" --lazy --nodes "$L" --key "$tmp/key" \
		--node-timeout 2000 -- "$P" $mode 1 2 3 1 0) \
		>"$tmp/lazy.$mode" 2>&1
	echo "exit $?" >>"$tmp/lazy.$mode"
	after=$(lazied "$tmp"/lo?.log)
	check "loopback --lazy $mode: same output, reports, status and digest" \
		'cmp -s "$tmp/local.$mode" "$tmp/lazy.$mode" || { diff "$tmp/local.$mode" "$tmp/lazy.$mode"; false; }'
	check "loopback --lazy $mode: pages arrived while the children ran" \
		'[ $after -gt $before ]'
done
# A lazy child's end by a refused call, 30 times: its worker dies while
# its paging process may still be sending (a FAULT, a NEED) on the
# connection; detd's OUTPUT and STATUS must come after that process's
# last frame (with TCP_NODELAY, before detd waited for its end, 2 runs
# in 15 failed with "frame out of sequence" and re-ran locally).
bad=0
for i in $(seq 30); do
	(cd "$tmp" && "$R" --lazy --nodes "$L" --key "$tmp/key" \
		--node-timeout 2000 -- "$P" policy 1 2 3 1 0) \
		>"$tmp/lazypol.out" 2>&1
	echo "exit $?" >>"$tmp/lazypol.out"
	if ! cmp -s "$tmp/local.policy" "$tmp/lazypol.out"; then
		bad=$((bad + 1))
		cp "$tmp/lazypol.out" "$tmp/lazypol.bad"
	fi
done
check "--lazy policy end, 30 runs: all on the nodes, same result" \
	'[ $bad -eq 0 ] || { echo "$bad of 30 differ, e.g.:"; diff "$tmp/local.policy" "$tmp/lazypol.bad"; false; }'
check "--lazy policy end: detd never waited in vain for a worker's end" \
	'! grep -q "did not end within" "$tmp"/lo?.log'
# A child touching a sparse 1% of a 256 MiB area (every 100th page).
(cd "$tmp" && "$R" -- "$P" big 256 0) >"$tmp/sparse.local" 2>&1
(cd "$tmp" && DET_LAZY=1 "$R" --nodes "$L" --key "$tmp/key" -- "$P" big 256 1) \
	>"$tmp/sparse.lazy" 2>&1
check "--lazy, 1% of 256 MiB touched: same result, on the node, faults served" \
	'cmp -s "$tmp/sparse.local" "$tmp/sparse.lazy" && ! grep -q "node 1 failed" "$tmp/sparse.lazy" && grep -q "lazily on [1-9][0-9]* faults" "$tmp/lo1.log"'
(cd "$tmp" && DET_LAZY=1 "$R" --nodes "$L" --key "$tmp/key" -- "$P" big 256 1) \
	>"$tmp/sparse.lazy2" 2>&1
check "--lazy again: same result, the pages came from the node's cache" \
	'cmp -s "$tmp/sparse.local" "$tmp/sparse.lazy2" && [ $(grep "ended: exit" "$tmp/lo1.log" | tail -1 | sed -n "s/.*, \([0-9]*\) lazily on.*/\1/p") -lt 1000 ]'
# The paging process has a seccomp filter of its own: a call outside it
# (forced here by a variable only tests set) ends it and its worker, the
# node says why, and the child re-runs locally with the same result.
(cd "$tmp" && DET_TEST_LAZY_REFUSE=1 "$R" --lazy --nodes "$L" \
	--key "$tmp/key" -- "$P" work 0 1 0 0 0) >"$tmp/refuse.out" 2>&1
echo "exit $?" >>"$tmp/refuse.out"
grep -v "^det: node 1 failed" "$tmp/refuse.out" >"$tmp/refuse.rest"
check "--lazy, the paging process makes a refused call: same result, re-ran locally" \
	'cmp -s "$tmp/local.work" "$tmp/refuse.rest" && grep -q "node 1 failed for child 1 (.*lazy paging: its sandbox refused system call [0-9]" "$tmp/refuse.out"'
check "--lazy, the refused call: one line in the node's log" \
	'[ $(grep -c "ended: error 0: lazy paging: its sandbox refused" "$tmp/lo1.log") -eq 1 ]'
# A paging process that crashes (forced the same way) ends its worker
# too, instead of leaving the child waiting on a page forever.
(cd "$tmp" && DET_TEST_LAZY_REFUSE=crash "$R" --lazy --nodes "$L" \
	--key "$tmp/key" -- "$P" work 0 1 0 0 0) >"$tmp/crash.out" 2>&1
echo "exit $?" >>"$tmp/crash.out"
grep -v "^det: node 1 failed" "$tmp/crash.out" >"$tmp/crash.rest"
check "--lazy, the paging process crashes: same result, re-ran locally" \
	'cmp -s "$tmp/local.work" "$tmp/crash.rest" && grep -q "node 1 failed for child 1 (.*lazy paging: it died of signal 11" "$tmp/crash.out"'
# "WORKER PAGER" pid pairs: the paging processes of detd's "slow"
# workers (a lazy child waiting).
slow_pagers() {
	for w in $(pgrep -f "^$P slow"); do
		pp=$(awk '/^PPid/ { print $2 }' /proc/$w/status 2>/dev/null)
		[ "$(cat /proc/$pp/comm 2>/dev/null)" = detd ] || continue
		for g in $(pgrep -P "$w"); do
			echo "$w $g"
		done
	done
}
# While a lazy child waits: its paging process runs under a filter of
# its own (as many filters as its worker: the root's, if any, and one).
local_run slow 0 0 0
(cd "$tmp" && "$R" --lazy --nodes "${L%%,*}" --key "$tmp/key" \
	-- "$P" slow 0 1 0) >"$tmp/lazyslow.out" 2>&1 &
run=$!
pagers=0
filtered=0
for i in $(seq 30); do
	sleep 0.2
	set -- $(slow_pagers)
	while [ $# -ge 2 ]; do
		pagers=$((pagers + 1))
		a=$(awk '/^Seccomp_filters/ { print $2 }' /proc/$1/status)
		b=$(awk '/^Seccomp_filters/ { print $2 }' /proc/$2/status)
		[ "$(awk '/^Seccomp:/ { print $2 }' /proc/$2/status)" = 2 ] &&
			[ "${b:-0}" -ge 1 ] && [ "$a" = "$b" ] &&
			filtered=$((filtered + 1))
		shift 2
	done
	[ $pagers -gt 0 ] && break
done
wait $run
echo "exit $?" >>"$tmp/lazyslow.out"
check "--lazy: the paging process of a waiting child has its own seccomp filter" \
	'[ $pagers -ge 1 ] && [ $filtered -eq $pagers ]'
check "--lazy slow: same result as local, ran on the node" \
	'grep -v "^det: node" "$tmp/lazyslow.out" | cmp -s "$tmp/local.slow" - && ! grep -q "node 1 failed" "$tmp/lazyslow.out"'
# The paging process killed from outside while the child waits: detd
# notices (it watches the pager's pid), ends the worker, the child
# re-runs locally with the same result.
(cd "$tmp" && "$R" --lazy --nodes "${L%%,*}" --key "$tmp/key" \
	-- "$P" slow 0 1 0) >"$tmp/pagerkill.out" 2>&1 &
run=$!
killed=0
for i in $(seq 30); do
	sleep 0.2
	set -- $(slow_pagers)
	while [ $# -ge 2 ]; do
		kill -9 "$2" && killed=$((killed + 1))
		shift 2
	done
	[ $killed -gt 0 ] && break
done
wait $run
echo "exit $?" >>"$tmp/pagerkill.out"
grep -v "^det: node 1 failed" "$tmp/pagerkill.out" >"$tmp/pagerkill.rest"
check "--lazy, the paging process killed from outside: same result, re-ran locally" \
	'[ $killed -ge 1 ] && cmp -s "$tmp/local.slow" "$tmp/pagerkill.rest" && grep -q "node 1 failed for child 1 (.*its handler died" "$tmp/pagerkill.out"'
DET_LAZY=maybe "$P" work 0 >"$tmp/badlazy.out" 2>&1
check "bad DET_LAZY: one line, the program runs" \
	'[ $(grep -c "^det: DET_LAZY=maybe" "$tmp/badlazy.out") -eq 1 ] && grep -q digest "$tmp/badlazy.out"'
# det_barrier in remote children: 4 rounds of a stencil with a det_sync
# of every child each round (each round's output comes at its det_sync),
# and a conflict at a det_sync; eager, --lazy (the image is taken whole
# at the first barrier) and --compress: the same output, reports,
# det_barrier results, status and digest as with local children.
for mode in bar barconflict; do
	local_run $mode 0 0 0 0 0
done
on_nodes "loopback barriers," bar lo "$L" bar barconflict
for fl in --lazy --compress; do
	for mode in bar barconflict; do
		(cd "$tmp" && "$R" $fl --nodes "$L" --key "$tmp/key" \
			--node-timeout 2000 -- "$P" $mode 1 2 3 1 0) \
			>"$tmp/bar$fl.$mode" 2>&1
		echo "exit $?" >>"$tmp/bar$fl.$mode"
		check "loopback barriers $fl $mode: same as local" \
			'cmp -s "$tmp/local.$mode" "$tmp/bar$fl.$mode" || { diff "$tmp/local.$mode" "$tmp/bar$fl.$mode"; false; }'
	done
done
# One remote child: the parent's mmap after the fork is a new region of
# the next snapshot, at addresses the worker's own memory would hold
# without the reservation it makes at start ("cannot map ... busy").
(cd "$tmp" && "$R" -- "$P" bar 0 0) >"$tmp/bar1.local" 2>&1
echo "exit $?" >>"$tmp/bar1.local"
remote_run "$tmp/bar1.remote" "$L" bar 1 0
check "barriers, a parent mmap after the fork in the new snapshot: same as local" \
	'cmp -s "$tmp/bar1.local" "$tmp/bar1.remote" || { diff "$tmp/bar1.local" "$tmp/bar1.remote"; false; }'
check "barriers: 4 rounds synced, the conflict reported at sync 1.1" \
	'[ $(grep -c "^sync [0-3]\.[0-4]: 0 code 0" "$tmp/bar.bar") -eq 20 ] && grep -q "^sync 1.1: -3 code -3 conflicts 1" "$tmp/bar.barconflict" && grep -q "shared_var" "$tmp/bar.barconflict" && grep -q "^child 1 barrier 1: -3" "$tmp/bar.barconflict"'

remote_run "$tmp/remote.hostfile" "$tmp/hostfile" work 1 2 3 1 0
check "--nodes FILE (a hostfile) works like the list" \
	'cmp -s "$tmp/local.work" "$tmp/remote.hostfile"'
echo "localhost:1 # fine" >"$tmp/badhosts"
echo "no-such-host.invalid:7677" >>"$tmp/badhosts"
"$R" --nodes "$tmp/badhosts" --key "$tmp/key" -- "$P" work 0 >"$tmp/badhosts.out" 2>&1
rc=$?
check "--nodes FILE naming an unknown host: one line, exit 2, nothing run" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/badhosts.out") -eq 1 ] && grep -q "no-such-host.invalid:7677: .*no such host" "$tmp/badhosts.out" && ! grep -q digest "$tmp/badhosts.out"'

# Wrong key: nothing runs on the node, one log line; the child re-runs
# locally and the result is the same.
before=$(ended "$tmp"/lo?.log)
(cd "$tmp" && "$R" --nodes "$L" --key "$tmp/badkey" -- "$P" work 0 1 0 0 0) \
	>"$tmp/badkey.out" 2>&1
echo "exit $?" >>"$tmp/badkey.out"
after=$(ended "$tmp"/lo?.log)
grep -v "^det: node 1 failed" "$tmp/badkey.out" >"$tmp/badkey.rest"
check "wrong key: same result (ran locally), one line says why" \
	'cmp -s "$tmp/local.work" "$tmp/badkey.rest" && grep -q "node 1 failed for child 1 (.*authentication failed" "$tmp/badkey.out"'
check "wrong key: nothing ran on the node, one detd log line" \
	'[ $after -eq $before ] && [ $(grep -c "authentication failed" "$tmp/lo1.log") -eq 1 ]'

# A man in the middle alters one frame after the handshake (a byte of
# the first PAGES frame to the node, or of the first DIRTY frame back):
# the receiver's tag check refuses it, the child re-runs locally with
# the same result; an altered PAGES frame costs the node one log line.
tamper() {	# NAME DIRECTION TYPE
	"$B/tests/net_relay" "${L%%,*}" "$2" "$3" >"$tmp/$1.addr" \
		2>"$tmp/$1.relay" &
	pids="$pids $!"
	for i in $(seq 50); do
		[ -s "$tmp/$1.addr" ] && break
		sleep 0.1
	done
	(cd "$tmp" && "$R" --nodes "$(cat "$tmp/$1.addr")" --key "$tmp/key" \
		-- "$P" work 0 1 0 0 0) >"$tmp/$1.out" 2>&1
	echo "exit $?" >>"$tmp/$1.out"
	grep -v "^det: node 1 failed" "$tmp/$1.out" >"$tmp/$1.rest"
}
tagged=$(grep -c "frame tag wrong" "$tmp/lo1.log")
tamper tamper_pages c2s 11
check "a PAGES frame altered on the way: same result, the child re-ran locally" \
	'cmp -s "$tmp/local.work" "$tmp/tamper_pages.rest" && grep -q "node 1 failed for child 1" "$tmp/tamper_pages.out" && grep -q "altered frame" "$tmp/tamper_pages.relay"'
check "a PAGES frame altered: the node logged one line" \
	'[ $(($(grep -c "frame tag wrong" "$tmp/lo1.log") - tagged)) -eq 1 ]'
tamper tamper_dirty s2c 15
check "a DIRTY frame altered on the way: refused, same result (ran locally)" \
	'cmp -s "$tmp/local.work" "$tmp/tamper_dirty.rest" && grep -q "node 1 failed for child 1 (.*frame tag wrong" "$tmp/tamper_dirty.out"'

# Frame tags: AES-GCM where both CPUs have it (this machine, likely),
# Poly1305 when the client does not offer it; the same result either way.
start_detd "$tmp/tags.log" 127.0.0.1:0 --verbose || exit 1
for t in auto poly1305; do
	(cd "$tmp" && DET_NET_TAG=$t "$R" --nodes "$addr" --key "$tmp/key" \
		-- "$P" work 0 1 0 0 0) >"$tmp/tags.$t" 2>&1
	echo "exit $?" >>"$tmp/tags.$t"
done
check "DET_NET_TAG=poly1305 and auto: same result, ran on the node" \
	'cmp -s "$tmp/local.work" "$tmp/tags.auto" && cmp -s "$tmp/local.work" "$tmp/tags.poly1305" && [ $(grep -c "ended: exit" "$tmp/tags.log") -eq 2 ]'
check "DET_NET_TAG=poly1305: the node used Poly1305; auto: AES-GCM on a CPU with AES-NI" \
	'[ $(grep -c "frame tags: Poly1305" "$tmp/tags.log") -ge 1 ] && { grep -q "frame tags: AES-GCM" "$tmp/tags.log" || ! { grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; }; }'
DET_NET_TAG=sha1 "$P" work 0 >"$tmp/badtag.out" 2>&1
check "bad DET_NET_TAG: one line, the program runs" \
	'[ $(grep -c "^det: DET_NET_TAG=sha1" "$tmp/badtag.out") -eq 1 ] && grep -q digest "$tmp/badtag.out"'

# Not under detrun (ASLR on): the worker's addresses differ; refused
# with a reason, the child runs locally, the result is right.
(cd "$tmp" && DET_NODES=$L DET_KEY_FILE=$tmp/key "$P" work 0 1 0 0 0) \
	>"$tmp/aslr.out" 2>&1
check "ASLR on: refused with a clear reason, ran locally, same digest" \
	'grep -q "node 1 failed for child 1 (.*other addresses" "$tmp/aslr.out" && [ "$(grep digest "$tmp/aslr.out")" = "$(grep digest "$tmp/local.work")" ]'

# A worker over detd's memory limit: refused, the child runs locally.
start_detd "$tmp/small.log" 127.0.0.1:0 --mem-limit 64 || exit 1
(cd "$tmp" && "$R" -- "$P" big 96 0) >"$tmp/big.local" 2>&1
(cd "$tmp" && "$R" --nodes "$addr" --key "$tmp/key" -- "$P" big 96 1) \
	>"$tmp/big.remote" 2>&1
grep -v "^det: node 1 failed" "$tmp/big.remote" >"$tmp/big.rest"
check "worker over --mem-limit: same result, ran locally, says why" \
	'cmp -s "$tmp/big.local" "$tmp/big.rest" && grep -q "node 1 failed for child 0 (.*cannot map" "$tmp/big.remote"'

# The snapshot after a barrier goes as a delta: a child writing 1% of
# 64 MiB in each of 4 rounds receives, over its 4 barriers, under 1% of
# what its image was (a node without a cache: every page counts).
start_detd "$tmp/nocache.log" 127.0.0.1:0 --cache 0 || exit 1
(cd "$tmp" && "$R" -- "$P" barbig 64 0) >"$tmp/barbig.local" 2>&1
(cd "$tmp" && "$R" --nodes "$addr" --key "$tmp/key" -- "$P" barbig 64 1) \
	>"$tmp/barbig.remote" 2>&1
(cd "$tmp" && "$R" --nodes "$addr" --key "$tmp/key" -- "$P" big 64 1) \
	>"$tmp/big64.remote" 2>&1
received() {	# pages the Nth worker of the cacheless detd received
	sed -n 's/.*image: \([0-9]*\) pages received.*/\1/p' \
		"$tmp/nocache.log" | sed -n "${1}p"
}
check "barriers over 64 MiB: same result, 4 snapshots sent < 1% of the image" \
	'cmp -s "$tmp/barbig.local" "$tmp/barbig.remote" && [ $(($(received 1) - $(received 2))) -lt $(($(received 2) / 100)) ]'

# Bad settings: one line each, the program still runs.
DET_NODES=/nonexistent/hosts DET_NODE_TIMEOUT=soon "$P" work 0 \
	>"$tmp/badenv.out" 2>&1
check "bad DET_NODES, DET_NODE_TIMEOUT: one line each, program runs" \
	'[ $(grep -c "^det: DET_NODE" "$tmp/badenv.out") -eq 2 ] && grep -q digest "$tmp/badenv.out"'

# No fallback: the join says DET_ENODE (-6), nothing applied.
(cd "$tmp" && DET_FALLBACK_LOCAL=0 "$R" --nodes "$L" --key "$tmp/badkey" \
	-- "$P" work 0 1 0 0 0) >"$tmp/enode.out" 2>&1
check "no fallback: the join returns DET_ENODE" \
	'grep -q "^join 1: -6 code -6" "$tmp/enode.out"'

# slow_left: a process of this run's `slow` program still alive (its
# directory tells it from another concurrent run's).
slow_left() {
	for p in $(pgrep -f "^$P slow"); do
		[ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$tmp" ] && return 0
	done
	return 1
}

# kill_mid_child NAME [detrun flags...]: a detd killed while its child
# runs the `slow` program; the run's output (exit status appended) in
# $tmp/NAME.out, without the failure line in $tmp/NAME.rest.
kill_mid_child() {
	name=$1
	shift
	start_detd "$tmp/$name.log" 127.0.0.1:0 || exit 1
	victim=$!
	(cd "$tmp" && "$R" "$@" --nodes "$addr" --key "$tmp/key" \
		--node-timeout 2000 -- "$P" ${KMODE:-slow} 0 1 0) \
		>"$tmp/$name.out" 2>&1 &
	run=$!
	for i in $(seq 50); do
		grep -q "worker .* runs" "$tmp/$name.log" && break
		sleep 0.1
	done
	sleep ${KWAIT:-0.5}
	kill -9 "$victim"
	wait $run
	echo "exit $?" >>"$tmp/$name.out"
	grep -v "^det: node 1 failed" "$tmp/$name.out" >"$tmp/$name.rest"
	sleep 0.5
}

# A detd killed while its child runs: the child re-runs locally.
kill_mid_child killed
check "detd killed mid-child: same result, the child re-ran locally" \
	'cmp -s "$tmp/local.slow" "$tmp/killed.rest" && grep -q "node 1 failed for child 1" "$tmp/killed.out"'
check "detd killed mid-child: its worker died with it" \
	'! slow_left'

# The same with --lazy: the worker and its paging process die with detd.
kill_mid_child killed2 --lazy
check "--lazy, detd killed mid-child: same result, re-ran locally" \
	'cmp -s "$tmp/local.slow" "$tmp/killed2.rest" && grep -q "node 1 failed for child 1" "$tmp/killed2.out"'
check "--lazy, detd killed mid-child: worker and paging process gone" \
	'! slow_left'

# A detd killed while its child sleeps before its first barrier: nothing
# of it was merged, so it re-runs locally (its barriers done locally):
# the same result.  Killed after two merged barriers: it cannot re-run
# (those rounds are in); it goes on locally from the worker's checkpoint
# of its last barrier (fn's registers and stack, at the proxy's own
# stack addresses): the same result.  Without fallback: DET_ENODE at
# the det_sync, one line why, the other children and the program go on.
local_run barslow 0 0 0
KMODE=barslow kill_mid_child killbar
check "detd killed before a remote child's first barrier: same result" \
	'cmp -s "$tmp/local.barslow" "$tmp/killbar.rest" && grep -q "node 1 failed for child 1 .*it ran locally" "$tmp/killbar.out"'
local_run barlate 0 0 0
KMODE=barlate KWAIT=1.5 kill_mid_child killbar2
check "detd killed after merged barriers: same result (from the checkpoint)" \
	'cmp -s "$tmp/local.barlate" "$tmp/killbar2.rest" && grep -q "node 1 failed for child 1 .*went on locally from its last barrier" "$tmp/killbar2.out"'
DET_FALLBACK_LOCAL=0 KMODE=barlate KWAIT=1.5 kill_mid_child killbar3
check "the same without fallback: DET_ENODE at the det_sync, the rest goes on" \
	'grep -q "node 1 failed for child 1 .*nothing since its last barrier applied" "$tmp/killbar3.out" && grep -q "^sync 2.1: -6 code -6" "$tmp/killbar3.out" && grep -q "^join 2: 0 code 0" "$tmp/killbar3.out" && grep -q "^exit 0" "$tmp/killbar3.out"'

# ---- 3 nodes in network namespaces, joined by veth pairs ----------------
if [ "$(id -u)" -ne 0 ] || ! ip netns add "${NS}1" 2>/dev/null; then
	echo "skip network namespaces (needs root and ip netns)"
	[ $fails -eq 0 ]
	exit
fi
ip netns del "${NS}1"
N=""
for k in 1 2 3; do
	ns=$NS$k
	ip netns add "$ns" &&
	ip link add "${NS}h$k" type veth peer name eth0 netns "$ns" &&
	ip addr add "10.$SUB.$k.1/24" dev "${NS}h$k" &&
	ip link set "${NS}h$k" up &&
	ip -n "$ns" addr add "10.$SUB.$k.2/24" dev eth0 &&
	ip -n "$ns" link set eth0 up &&
	ip -n "$ns" link set lo up || { echo "cannot build $ns"; exit 1; }
	start_detd "$tmp/ns$k.log" "10.$SUB.$k.2:7677" ip netns exec "$ns" ||
		exit 1
	N="$N${N:+,}10.$SUB.$k.2:7677"
done
on_nodes "3 netns nodes," ns ns "$N" work conflict crash
on_nodes "3 netns nodes, barriers," nsbar ns "$N" bar barconflict

for mode in work crash; do
	(cd "$tmp" && "$R" --lazy --nodes "$N" --key "$tmp/key" \
		--node-timeout 2000 -- "$P" $mode 1 2 3 1 0) \
		>"$tmp/nslazy.$mode" 2>&1
	echo "exit $?" >>"$tmp/nslazy.$mode"
	check "3 netns nodes, --lazy $mode: same as local" \
		'cmp -s "$tmp/local.$mode" "$tmp/nslazy.$mode" || { diff "$tmp/local.$mode" "$tmp/nslazy.$mode"; false; }'
done
check "3 netns nodes, --lazy: pages arrived while the children ran" \
	'[ $(lazied "$tmp"/ns?.log) -gt 0 ]'

# A link cut while the child runs: keep-alive notices within about
# --node-timeout; the child re-runs locally.
(cd "$tmp" && "$R" --nodes "$N" --key "$tmp/key" --node-timeout 2000 \
	-- "$P" slow 0 2 0) >"$tmp/cut.out" 2>&1 &
run=$!
for i in $(seq 50); do
	grep -q "worker .* runs" "$tmp/ns2.log" && break
	sleep 0.1
done
sleep 0.3
ip link set "${NS}h2" down
t0=$(date +%s)
wait $run
echo "exit $?" >>"$tmp/cut.out"
ip link set "${NS}h2" up
grep -v "^det: node 2 failed" "$tmp/cut.out" >"$tmp/cut.rest"
check "link cut mid-child: same result, the child re-ran locally" \
	'cmp -s "$tmp/local.slow" "$tmp/cut.rest" && grep -q "node 2 failed for child 1" "$tmp/cut.out"'
check "link cut: noticed within 20 s" '[ $(($(date +%s) - t0)) -lt 20 ]'

# A link cut after two merged barriers of the remote child: it goes on
# locally from the worker's checkpoint of the last one.
before=$(grep -c "worker .* runs" "$tmp/ns2.log")
(cd "$tmp" && "$R" --nodes "$N" --key "$tmp/key" --node-timeout 2000 \
	-- "$P" barlate 0 2 0) >"$tmp/cutbar.out" 2>&1 &
run=$!
for i in $(seq 50); do
	[ "$(grep -c "worker .* runs" "$tmp/ns2.log")" -gt "$before" ] &&
		break
	sleep 0.1
done
sleep 1.5
ip link set "${NS}h2" down
wait $run
echo "exit $?" >>"$tmp/cutbar.out"
ip link set "${NS}h2" up
grep -v "^det: node 2 failed" "$tmp/cutbar.out" >"$tmp/cutbar.rest"
check "link cut after merged barriers: same result, from the checkpoint" \
	'cmp -s "$tmp/local.barlate" "$tmp/cutbar.rest" && grep -q "node 2 failed for child 1 .*went on locally from its last barrier" "$tmp/cutbar.out"'

[ $fails -eq 0 ]
