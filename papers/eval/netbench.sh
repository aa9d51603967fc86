#!/bin/sh
# netbench.sh -- remote-space benchmarks; adds the section "Remote
# spaces" to papers/eval/RESULTS.md (what `make bench` runs after
# bench.sh).  One detd node in a network namespace joined by a veth
# pair (made and removed here; needs root), and against it, in the same
# run: raw TCP throughput over that link (the baseline), a cold remote
# fork of a NET_BENCH_MIB (default 1024) MiB space whose child reads
# 1% of it (a node without page cache: every page travels), and on a
# node with a page cache the same fork repeated with the space unchanged
# (bytes counted on the veth); the cold fork with Poly1305 frame tags
# instead of AES-GCM, and the tags' speed on one core against memcpy.
# BENCH_QUICK=1: 128 MiB, fewer repetitions.
B=${1:-build}
cd "$(dirname "$0")/../.." || exit 2
B=$(cd "$B" && pwd)
OUT=papers/eval/RESULTS.md
NB=$B/bench/netbench
MIB=${NET_BENCH_MIB:-1024}
REPS=5
[ "${BENCH_QUICK:-0}" = 1 ] && { MIB=${NET_BENCH_MIB:-128}; REPS=3; }
say() { echo "netbench: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root (network namespaces): skipped"; exit 0; }
NS=detb$$
tmp=$(mktemp -d /tmp/det-netbench.XXXXXX)
chmod 755 "$tmp"
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	ip link del "${NS}h" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip netns add "$NS" &&
ip link add "${NS}h" type veth peer name eth0 netns "$NS" &&
ip addr add 10.232.1.1/24 dev "${NS}h" && ip link set "${NS}h" up &&
ip -n "$NS" addr add 10.232.1.2/24 dev eth0 &&
ip -n "$NS" link set eth0 up && ip -n "$NS" link set lo up ||
	{ say "cannot make the namespace"; exit 1; }
"$B/bin/detd" --keygen "$tmp/key"
# Node 1 without a page cache (the eager path), node 2 with one.
ip netns exec "$NS" "$B/bin/detd" --listen 10.232.1.2:7677 --key "$tmp/key" \
	--user root --cache 0 -v 2>"$tmp/detd1.log" &
pids="$pids $!"
ip netns exec "$NS" "$B/bin/detd" --listen 10.232.1.2:7678 --key "$tmp/key" \
	--user root --cache $((2 * MIB)) 2>"$tmp/detd2.log" &
pids="$pids $!"
ip netns exec "$NS" "$B/bin/detd" --listen 10.232.1.2:7679 --key "$tmp/key" \
	--user root --cache 256 2>"$tmp/detd3.log" &
pids="$pids $!"
ip netns exec "$NS" "$NB" tcpserve 10.232.1.2:9000 &
pids="$pids $!"
ip netns exec "$NS" "$NB" tcpserve 10.232.1.2:9001 fresh &
pids="$pids $!"
ip netns exec "$NS" "$NB" tcpserve 10.232.1.2:9002 mem &
pids="$pids $!"
sleep 0.5
RAW=$tmp/raw
say "raw TCP, $MIB MiB x $REPS"
"$NB" tcpsend 10.232.1.2:9000 "$MIB" "$REPS" >>"$RAW" || say "tcp FAILED"
say "raw TCP into fresh memory, $MIB MiB x $REPS"
"$NB" tcpsend 10.232.1.2:9001 "$MIB" "$REPS" | sed 's/tcp\./tcpfresh./' \
	>>"$RAW" || say "tcp FAILED"
# What moving an image costs before any protocol: the same bytes from a
# MIB-MiB buffer into one (both made beforehand), and making MIB MiB of
# fresh memory alone.
say "raw TCP memory to memory, $MIB MiB x $REPS"
"$NB" tcpsend 10.232.1.2:9002 "$MIB" "$REPS" mem | sed 's/tcp\./tcpmem./' \
	>>"$RAW" || say "tcp FAILED"
ip netns exec "$NS" "$NB" populate "$MIB" "$REPS" >>"$RAW" ||
	say "populate FAILED"
NODES=10.232.1.2:7677,10.232.1.2:7678
say "remote fork, $MIB MiB, node without cache, $REPS times"
(cd "$tmp" && DET_NODES=$NODES DET_KEY_FILE=$tmp/key \
	setarch -R "$NB" fork 1 "$MIB" "$REPS" "${NS}h") >>"$RAW" ||
	say "fork FAILED"
say "remote fork, $MIB MiB, node without cache, --compress (lz4), once"
(cd "$tmp" && DET_NODES=$NODES DET_KEY_FILE=$tmp/key DET_COMPRESS=1 \
	setarch -R "$NB" fork 1 "$MIB" 1 "${NS}h" | sed 's/netfork/lz4fork/') \
	>>"$RAW" || say "lz4 fork FAILED"
# Frame tags: the same cold fork with Poly1305 forced (the default is
# AES-GCM where both CPUs have AES-NI), and the tags' own speed.
say "remote fork, $MIB MiB, node without cache, Poly1305 tags, once"
(cd "$tmp" && DET_NODES=$NODES DET_KEY_FILE=$tmp/key DET_NET_TAG=poly1305 \
	setarch -R "$NB" fork 1 "$MIB" 1 "${NS}h" | sed 's/netfork/polyfork/') \
	>>"$RAW" || say "poly1305 fork FAILED"
"$NB" tags 256 >>"$RAW" || say "tags FAILED"
# Lazy vs eager: a child reading a contiguous 1% (from the middle), on
# the node without cache; the time from the worker's start to fn's first
# instruction is the worker's own ("image in place", detd -v).
starts() {	# detd1's "image in place" times after line $1: R line
	grep "image in place" "$tmp/detd1.log" | tail -n +$(($1 + 1)) |
		sed -n 's/.*image in place \([0-9.]*\) ms.*/\1/p' | sort -n |
		awk -v n="$2" '{ v[NR] = $1 } END { if (NR) print "R", n,
			v[int((NR + 1) / 2)], v[1], v[NR], NR, "ms" }'
}
for lz in 0 1; do
	say "remote fork, $MIB MiB, child reads a contiguous 1%, DET_LAZY=$lz, $REPS times"
	n0=$(grep -c "image in place" "$tmp/detd1.log")
	(cd "$tmp" && DET_NODES=$NODES DET_KEY_FILE=$tmp/key DET_LAZY=$lz \
		setarch -R "$NB" span 1 "$MIB" "$REPS" "${NS}h" |
		sed "s/netfork/span$lz/") >>"$RAW" || say "span FAILED"
	starts "$n0" "span$lz.start.ms" >>"$RAW"
done
say "remote fork, $MIB MiB, child reads every 100th page, --lazy, once"
(cd "$tmp" && DET_NODES=$NODES DET_KEY_FILE=$tmp/key DET_LAZY=1 \
	setarch -R "$NB" fork 1 "$MIB" 1 "${NS}h" | sed 's/netfork/sparse1/') \
	>>"$RAW" || say "sparse lazy fork FAILED"
say "remote fork, $MIB MiB, node with a page cache, $REPS times"
(cd "$tmp" && DET_NODES=$NODES DET_KEY_FILE=$tmp/key \
	setarch -R "$NB" fork 2 "$MIB" "$REPS" "${NS}h" | sed 's/netfork/cachefork/') \
	>>"$RAW" || say "cached fork FAILED"
say "local fork, $MIB MiB, $REPS times"
(cd "$tmp" && setarch -R "$NB" fork 0 "$MIB" "$REPS" | sed 's/netfork/localfork/') \
	>>"$RAW" || say "local fork FAILED"
MM=${NET_BENCH_MM:-600}
say "matmult $MM x $MM: local, then split over 1, 2, 3 nodes"
for args in "1" "3" "1 1" "2 1 2" "3 1 2 3"; do
	(cd "$tmp" && DET_NODES=$NODES,10.232.1.2:7679 DET_KEY_FILE=$tmp/key \
		setarch -R "$NB" matmult "$MM" $args) >>"$RAW" ||
		say "matmult $args FAILED"
done
val() { awk -v k="$1" '$1 == "R" && $2 == k { print $3 }' "$RAW"; }
tcp=$(val tcp.MiBps)
tcpf=$(val tcpfresh.MiBps)
tcpm=$(val tcpmem.MiBps)
popms=$(val populate.ms)
cold=$(val netfork.first.MiBps)
coldc=$(val cachefork.first.MiBps)
coldz=$(val lz4fork.first.MiBps)
coldp=$(val polyfork.first.MiBps)
tgcm=$(val tags.gcm.MBps)
tpoly=$(val tags.poly1305.MBps)
tcopy=$(val tags.memcpy.MBps)
coldzb=$(val lz4fork.first.bytes)
again=$(val cachefork.again.bytes)
againms=$(val cachefork.again.ms)
eagerms=$(val netfork.again.ms)
ebytes=$(val span0.again.bytes)
lbytes=$(val span1.again.bytes)
estart=$(val span0.start.ms)
lstart=$(val span1.start.ms)
etotal=$(val span0.again.ms)
ltotal=$(val span1.again.ms)
sbytes=$(val sparse1.first.bytes)
stotal=$(val sparse1.first.ms)
bytes=$((MIB * 1048576))
{
	echo "## Remote spaces (make bench, $(date -u +%Y-%m-%d), $MIB MiB)"
	echo
	echo "One detd node in a network namespace, joined by a veth pair;"
	echo "the baseline is raw TCP over the same link in the same run."
	echo
	echo "| what | measured | baseline | ratio | target |"
	echo "|---|---|---|---|---|"
	awk -v c="$cold" -v t="$tcp" 'BEGIN { printf "| cold remote fork (node without cache) | %.0f MiB/s | TCP %.0f MiB/s | %.2fx | >= 0.8x |\n", c, t, (t > 0 ? c / t : 0) }'
	awk -v c="$cold" -v t="$tcpf" 'BEGIN { printf "| the same, against TCP received into fresh memory | %.0f MiB/s | TCP %.0f MiB/s | %.2fx | -- |\n", c, t, (t > 0 ? c / t : 0) }'
	awk -v c="$cold" -v t="$tcpm" 'BEGIN { printf "| the same, against TCP from memory into memory (%s MiB buffers made beforehand) | %.0f MiB/s | TCP %.0f MiB/s | %.2fx | -- |\n", '"$MIB"', c, t, (t > 0 ? c / t : 0) }'
	awk -v p="$popms" -v s="$MIB" -v t="$tcp" 'BEGIN { printf "| making %d MiB of fresh memory alone (MADV_POPULATE_WRITE on the node) | %.0f ms | TCP sends it in %.0f ms | %.2fx | -- |\n", s, p, (t > 0 ? s / t * 1e3 : 0), (t > 0 ? p / (s / t * 1e3) : 0) }'
	awk -v m="$eagerms" -v s="$MIB" -v t="$tcp" -v f="$tcpf" 'BEGIN { c = (m > 0 ? s / (m / 1e3) : 0); printf "| the same, median of the later forks (each as cold: no cache) | %.0f MiB/s | TCP %.0f MiB/s (fresh memory: %.0f) | %.2fx (%.2fx) | -- |\n", c, t, f, (t > 0 ? c / t : 0), (f > 0 ? c / f : 0) }'
	awk -v c="$coldz" -v t="$tcp" -v b="$coldzb" -v s="$bytes" 'BEGIN { printf "| cold remote fork, --compress (lz4; %.0f%% of the bytes sent) | %.0f MiB/s | TCP %.0f MiB/s | %.2fx | -- |\n", 100 * b / s, c, t, (t > 0 ? c / t : 0) }'
	awk -v c="$coldp" -v t="$tcp" 'BEGIN { printf "| cold remote fork, Poly1305 frame tags (default: AES-GCM where both CPUs can) | %.0f MiB/s | TCP %.0f MiB/s | %.2fx | -- |\n", c, t, (t > 0 ? c / t : 0) }'
	awk -v g="$tgcm" -v p="$tpoly" -v m="$tcopy" 'BEGIN { printf "| frame tags on one core, 1 MiB frames: AES-GCM / Poly1305 | %.0f / %.0f MB/s | memcpy %.0f MB/s | %.2fx / %.2fx | -- |\n", g, p, m, (m > 0 ? g / m : 0), (m > 0 ? p / m : 0) }'
	awk -v c="$coldc" -v t="$tcp" 'BEGIN { printf "| cold remote fork (node with a page cache) | %.0f MiB/s | TCP %.0f MiB/s | %.2fx | -- |\n", c, t, (t > 0 ? c / t : 0) }'
	awk -v a="$again" -v b="$bytes" 'BEGIN { printf "| the same fork again, space unchanged (cache) | %.0f bytes sent | %d bytes of space | %.3f%% | <= 1%% |\n", a, b, 100 * a / b }'
	awk -v a="$againms" -v e="$eagerms" 'BEGIN { printf "| its time | %.0f ms | %.0f ms without cache | %.2fx | -- |\n", a, e, (a > 0 ? e / a : 0) }'
	awk -v l="$lbytes" -v e="$ebytes" 'BEGIN { printf "| --lazy, child reads a contiguous 1%%: bytes sent | %.0f | eager %.0f | %.1fx fewer | >= 10x fewer |\n", l, e, (l > 0 ? e / l : 0) }'
	awk -v l="$lstart" -v e="$estart" 'BEGIN { printf "| its time from the worker'"'"'s start to fn'"'"'s first instruction | %.1f ms | eager %.1f ms | %.1fx sooner | faster start |\n", l, e, (l > 0 ? e / l : 0) }'
	awk -v l="$ltotal" -v e="$etotal" 'BEGIN { printf "| its total time (fork to join) | %.0f ms | eager %.0f ms | %.2fx | -- |\n", l, e, (l > 0 ? e / l : 0) }'
	awk -v l="$sbytes" -v e="$ebytes" -v t="$stotal" 'BEGIN { printf "| --lazy, child reads every 100th page (%.0f ms): bytes sent | %.0f | eager %.0f | %.1fx fewer | -- |\n", t, l, e, (l > 0 ? e / l : 0) }'
	echo
	echo "matmult $MM x $MM, rows split over K children (\`matmult.K.N\`:"
	echo "N = 0: all local; else child k on node k+1), one run each; all"
	echo "checksums equal: $(awk '/checksum/ { print $3 }' "$RAW" | sort -u | wc -l | sed 's/^1$/yes/;s/^[0-9]*$/NO/')."
	echo "(The nodes share this machine's 2 cores: this shows the cost of"
	echo "shipping, not a speed-up.)"
	echo
	echo "| K children | local | on K nodes |"
	echo "|---|---|---|"
	for k in 1 3; do
		echo "| $k | $(val matmult.$k.0) ms | $(val matmult.$k.$k) ms |"
	done
	echo "| 2 | -- | $(val matmult.2.2) ms |"
	echo
	echo "Raw (\`R name median min max reps unit\`; \`I\` per fork):"
	echo
	echo '```'
	cat "$RAW"
	echo '```'
	echo
} >"$tmp/section"
# Replace an earlier section; keep everything else (bench.sh's part
# before it, the evaluation after it).
awk -v sec="$tmp/section" '
	/^## Remote spaces/ { skip = 1; next }
	skip && /^(## |<!-- )/ { skip = 0 }
	skip { next }
	/^<!-- eval:/ && !done { while ((getline l < sec) > 0) print l; done = 1 }
	{ print }
	END { if (!done) while ((getline l < sec) > 0) print l }
' "$OUT" >"$tmp/out" && cp "$tmp/out" "$OUT"
cat "$tmp/section" >&2
