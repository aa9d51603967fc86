#!/bin/sh
# bench.sh -- run det's benchmarks and write papers/eval/RESULTS.md.
#
#   sh papers/eval/bench.sh [BUILD_DIR]      (what `make bench` runs)
#
# Runs BUILD_DIR/bench/bench (papers/eval/bench.c) once per part, each
# part a fresh process (so memory is freed in between and DET_DIRTY can
# choose the dirty-page backend), collects its "R/I/F" lines, and writes
# RESULTS.md: the command, date, machine, backend, ONE table of det
# against baselines measured in this same run, and the raw numbers.
# The allocator benchmark (papers/eval/allocbench.c) is built here, twice
# (plain, for glibc malloc and LD_PRELOADed jemalloc; and with libdet.a
# and -DWITH_DET, for the det allocator), each run a fresh process; its
# "S" samples are turned into "R" medians.  Progress goes to stderr.
# BENCH_QUICK=1: few repetitions, fewer allocator operations (a smoke
# test; RESULTS.md then says so).
B=${1:-build}
cd "$(dirname "$0")/../.." || exit 2
BIN=$B/bench/bench
OUT=papers/eval/RESULTS.md
ALL="pagemap_scan pagemap_excl mprotect hash"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	R_FORK4=20 R_FORK1G=3 R_MERGE=3 R_JOIN64=3 R_FW=3 R_SCALE=2
	R_SYS=2 R_START=5
	R_ALLOC=1 A_OPS=1000000
else
	R_FORK4=300 R_FORK1G=15 R_MERGE=21 R_JOIN64=15 R_FW=15 R_SCALE=11
	R_SYS=7 R_START=30
	R_ALLOC=3 A_OPS=10000000
fi
A_SLOTS=100000 A_SPLIT=4

say() {
	echo "bench: $*" >&2
}

[ -x "$BIN" ] || { say "$BIN missing: run make bench"; exit 2; }
RAW=$(mktemp) || exit 2
trap 'rm -f "$RAW" "$RAW.md" "$RAW.alloc"' EXIT
trap 'exit 130' INT TERM
failed=0
TO=
table_failed=
t_start=$(date +%s)

# run [VAR=VALUE...] ARGS...: one bench process, its stdout into $RAW
# (into $RAW.alloc while TO=alloc).
run() {
	say "[$(($(date +%s) - t_start))s] $*"
	if ! env "$@" >>"$RAW${TO:+.$TO}"; then
		say "FAILED: $*"
		failed=$((failed + 1))
	fi
}

backends=$("$B/bin/detrun" --backends 2>/dev/null)
default=$(echo "$backends" | head -n 1)
[ -n "$default" ] || { say "no dirty-page backend works here"; exit 1; }
say "backends that work here: $(echo $backends); default: $default"

# 1. fork+join vs fork: 4 MiB with every backend, 1 GiB with the default.
for b in $backends; do
	run DET_DIRTY="$b" "$BIN" fork 4 "$R_FORK4"
done
run "$BIN" fork 1024 "$R_FORK1G"
# 2, 3. the byte merge vs memcpy/memcmp; the whole join path.
run "$BIN" merge "$R_MERGE"
# (their children signal the parent through a pipe: no sandbox)
run DET_NO_SANDBOX=1 "$BIN" join64 "$R_JOIN64"
# 4. first write in a child, per backend.
for b in $ALL; do
	case " $(echo $backends) " in
	# (timed inside the child: without the sandbox, whose clock
	# is logical)
	*" $b "*) run DET_NO_SANDBOX=1 DET_DIRTY="$b" "$BIN" firstwrite \
		"$R_FW" ;;
	*) say "backend $b does not work here: skipped"
	   echo "I skipped.$b 1" >>"$RAW" ;;
	esac
done
# 5. join time against dirty pages.
run DET_NO_SANDBOX=1 "$BIN" joinscale "$R_SCALE"
# 6b. the sandbox's cost per system call; detrun's start-up against
# running the program directly (alternated, median per run).
# Three filters: the sandbox, none, an empty allow-all one (the floor
# any seccomp filter costs).
run "$BIN" syscalls "$R_SYS"
run DET_NO_SANDBOX=1 "$BIN" syscalls "$R_SYS"
run DET_NO_SANDBOX=1 DET_BENCH_ALLOWALL=1 "$BIN" syscalls "$R_SYS"
P="$B/apps/psort -n 1000 -k 1"
r=0
while [ $r -lt "$R_START" ]; do
	r=$((r + 1))
	t0=$(date +%s%N)
	$P >/dev/null 2>&1
	t1=$(date +%s%N)
	"$B/bin/detrun" -- $P >/dev/null 2>&1
	t2=$(date +%s%N)
	echo "S start.direct $(((t1 - t0) / 1000)) us"
	echo "S start.detrun $(((t2 - t1) / 1000)) us"
done >"$RAW.start"
# 6. the allocator: glibc malloc, jemalloc (LD_PRELOAD) and det's on one
# workload in one space, alternated; then det's split over children.
AG=$B/bench/allocbench_glibc
AD=$B/bench/allocbench_det
ASRC=papers/eval/allocbench.c
say "building $AG and $AD"
rm -f "$AG" "$AD"
cc -O2 -g -std=gnu11 -Wall -Wextra -D_GNU_SOURCE "$ASRC" -o "$AG" ||
	{ say "FAILED: building $AG"; failed=$((failed + 1)); }
# shellcheck disable=SC2046
cc -O2 -g -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -DWITH_DET \
	-Iuser/include -Wl,-z,now "$ASRC" -o "$AD" "$B/lib/libdet.a" \
	$(pkg-config --libs libxxhash libdw libelf libseccomp libsodium liblz4) ||
	{ say "FAILED: building $AD"; failed=$((failed + 1)); }
JE=$(dpkg -L libjemalloc2 2>/dev/null | grep 'libjemalloc.so.2$' |
	head -n 1)
if [ -z "$JE" ] || [ ! -f "$JE" ]; then
	say "libjemalloc2 is not installed: jemalloc skipped"
	JE=
fi
{
	echo "I alloc.ops $A_OPS"
	echo "I alloc.slots $A_SLOTS"
	echo "I alloc.split $A_SPLIT"
	echo "I alloc.jemalloc ${JE:-none}"
} >>"$RAW"
: >"$RAW.alloc"
if [ -x "$AG" ] && [ -x "$AD" ]; then
	TO=alloc
	r=0
	while [ $r -lt "$R_ALLOC" ]; do
		r=$((r + 1))
		run "$AG" one glibc "$A_OPS" "$A_SLOTS"
		[ -n "$JE" ] && run LD_PRELOAD="$JE" "$AG" one \
			jemalloc "$A_OPS" "$A_SLOTS"
		run "$AD" one det "$A_OPS" "$A_SLOTS"
	done
	r=0
	while [ $r -lt "$R_ALLOC" ]; do
		r=$((r + 1))
		# (children time themselves: real clocks, no sandbox)
		run DET_NO_SANDBOX=1 "$AD" split split1 1 "$A_OPS" \
			"$A_SLOTS"
		run DET_NO_SANDBOX=1 "$AD" split "split$A_SPLIT" \
			"$A_SPLIT" "$A_OPS" "$A_SLOTS"
	done
	TO=
fi
# Samples to medians; a fact (checksum, addresses) that differs between
# runs of one kind is shown with all its values.
awk '
$1 == "S" {
	if (!($2 in n)) { ord[++no] = $2; unit[$2] = $4 }
	v[$2, ++n[$2]] = $3
}
$1 == "I" {
	if (!($2 in fv)) { ford[++nf] = $2; fv[$2] = $3 }
	else if (index(" " fv[$2] " ", " " $3 " ") == 0) fv[$2] = fv[$2] " " $3
}
$1 == "F" { print }
END {
	for (i = 1; i <= no; i++) {
		k = ord[i]; c = n[k]
		for (a = 1; a <= c; a++) s[a] = v[k, a] + 0
		for (a = 2; a <= c; a++)
			for (b = a; b > 1 && s[b - 1] > s[b]; b--) {
				t = s[b]; s[b] = s[b - 1]; s[b - 1] = t
			}
		med = c % 2 ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
		printf "R %s %.6g %.6g %.6g %d %s\n", k, med, s[1], s[c], c,
		       unit[k]
	}
	for (i = 1; i <= nf; i++)
		print "I " ford[i] " " fv[ford[i]]
}' "$RAW.alloc" "$RAW.start" >>"$RAW"
rm -f "$RAW.start"
t_total=$(($(date +%s) - t_start))
say "[${t_total}s] all parts done; writing $OUT"

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null ||
	echo unknown)

{
	echo "# det: benchmark results"
	echo
	echo "Written by \`papers/eval/bench.sh\`; do not edit by hand."
	echo
	echo "- command: \`make bench\` (benchmark sources:" \
		"\`papers/eval/bench.c\`, \`papers/eval/allocbench.c\`)"
	[ "${BENCH_QUICK:-0}" = 1 ] &&
		echo "- **BENCH_QUICK=1: few repetitions, smoke test only**"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), run took" \
		"${t_total} s"
	echo "- machine: Linux $(uname -r), ${cpu:-unknown CPU}," \
		"$(nproc) CPUs, $mem RAM; transparent huge pages: $thp"
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" \
		"(the CPUs are shared with other work: expect noise)"
	echo "- dirty-page backend in use: **$default** (the default, best" \
		"that probes well); working here: $(echo $backends)"
	awk -v D="$default" -v BK="$(echo $backends)" -v ALL="$ALL" \
	    -f /dev/stdin "$RAW" <<'EOF' || table_failed=1
$1 == "R" { m[$2] = $3; mn[$2] = $4 }
$1 == "I" { inf[$2] = $3; if (NF > 3) multi[$2] = 1 }
$1 == "F" { nf++; fl[nf] = $0 }
function has(k) { return k in m }
function fx(x, d) { return sprintf("%." d "f", x) }
function gbs(ms) { return 64 * 1048576 / (ms * 1e6) }
function row(a, b, c, d, e, f) {
	printf "| %s | %s | %s | %s | %s | %s |\n", a, b, c, d, e, f
}
function yn(ok) { return ok ? "yes" : "**no**" }
function mibs(k) { return fx(m[k] / 1024, 1) " MiB" }
function mops(p) { return fx(m[p "mops"], 2) " M ops/s (" fx(m[p "sec"], 2) \
	" s)" }
# The allocator rows (allocbench.c): det's speed and peak RSS against
# glibc malloc's (jemalloc's alongside), then det split over children.
function alloc_rows(   w, g, j, d, i, n, k, c, sp) {
	w = "malloc-heavy workload in one space (" inf["alloc.ops"] / 1e6 \
	    " M ops: free a random slot's block, malloc 16 B - 64 KiB; " \
	    inf["alloc.slots"] " slots)"
	g = "alloc.glibc."; j = "alloc.jemalloc."; d = "alloc.det."
	if (!has(d "mops") || !has(g "mops")) {
		row(w ": speed", "failed", "", "", ">= 0.8x", "-")
		row("the same: peak RSS", "failed", "", "", "<= 1.3x", "-")
	} else {
		row(w ": speed", mops(d), mops(g) " glibc " \
		    "malloc" (has(j "mops") ? "; jemalloc " mops(j) \
		    : ""), fx(m[d "mops"] / m[g "mops"], 2) "x", ">= 0.8x",
		    yn(m[d "mops"] / m[g "mops"] >= 0.8))
		row("the same: peak RSS (ru_maxrss)", mibs(d "rss"),
		    mibs(g "rss") " glibc malloc" (has(j "rss") ? \
		    "; jemalloc " mibs(j "rss") : ""),
		    fx(m[d "rss"] / m[g "rss"], 2) "x", "<= 1.3x",
		    yn(m[d "rss"] / m[g "rss"] <= 1.3))
	}
	if (has(d "mops") && has(j "mops"))
		row("the same, det against jemalloc (LD_PRELOAD " \
		    "libjemalloc.so.2)", mops(d) ", " mibs(d "rss"),
		    mops(j) ", " mibs(j "rss"), "speed " \
		    fx(m[d "mops"] / m[j "mops"], 2) "x, RSS " \
		    fx(m[d "rss"] / m[j "rss"], 2) "x", "- (info)", "-")
	split("1 " inf["alloc.split"], sp, " ")
	for (i = 1; i <= 2; i++) {
		n = sp[i]; k = "alloc.split" n "."
		w = "the same workload split over " n " det child" \
		    (n > 1 ? "ren" : "") " (" inf["alloc.ops"] / n / 1e6 \
		    " M ops on " inf["alloc.slots"] / n " slots" \
		    (n > 1 ? " each), forked together, joined in order" : \
		    "), then joined")
		if (!has(k "sec")) {
			row(w, "failed", "", "", "- (info)", "-")
			continue
		}
		row(w, "total " fx(m[k "sec"], 2) " s; join cost " \
		    fx(m[k "joinper"], 1) " ms per child (" \
		    fx(m[k "mb_merged"], 0) " MB of heap copied in all; " \
		    "det_join calls " fx(m[k "join"], 0) " ms in all, " \
		    "waiting included)", "child run time " \
		    fx(m[k "child"], 2) " s (CPU " fx(m[k "childcpu"], 2) \
		    " s); one space: " fx(m[d "sec"], 2) " s",
		    "join cost / child run time " fx(m[k "joinpct"], 1) "%",
		    "- (info)", "-")
	}
	c = inf[d "check"]
	acheck = (c != "" && inf[g "check"] == c && \
		  (!has(j "mops") || inf[j "check"] == c) && \
		  inf["alloc.split1.check"] == c && !multi[g "check"] && \
		  !multi[d "check"] && !multi[j "check"] && \
		  !multi["alloc.split1.check"])
	aaddr = !multi[d "addrs"] && \
		!multi["alloc.split" inf["alloc.split"] ".addrs"]
}
function fork_row(mib, b, tgt,   k, d, r, u, s, what) {
	k = "fork." mib "." b
	what = "fork+join, child changes nothing, " \
	       (mib == 4 ? "4 MiB" : "1 GiB") " resident, " b
	if (!has(k ".det") || !has(k ".raw")) {
		row(what, "failed", "", "", tgt ? "<= 1.5x" : "-", "-")
		return
	}
	d = m[k ".det"]; r = m[k ".raw"]
	u = mib == 4 ? 1 : 1000; s = mib == 4 ? " us" : " ms"
	row(what, fx(d / u, mib == 4 ? 0 : 1) s,
	    fx(r / u, mib == 4 ? 0 : 1) s " fork+_exit+waitpid",
	    fx(d / r, 2) "x (fastest runs: " \
	    fx(mn[k ".det"] / mn[k ".raw"], 2) "x)",
	    tgt ? "<= 1.5x" : "- (info)",
	    tgt ? yn(d / r <= 1.5) : "-")
}
function merge_row(what, k, bk, bname, tgt, lim) {
	if (!has(k) || !has(bk)) {
		row(what, "failed", "", "", tgt, "-")
		return
	}
	row(what, fx(gbs(m[k]), 2) " GB/s",
	    fx(gbs(m[bk]), 2) " GB/s " bname,
	    fx(m[bk] / m[k], 2) "x", tgt,
	    lim ? yn(m[bk] / m[k] >= lim) : "-")
}
END {
	impl = ("merge_impl" in inf) ? inf["merge_impl"] : "?"
	print ""
	print "## Results (medians)"
	print ""
	row("benchmark", "det", "baseline (same run)", "det vs baseline",
	    "target", "met")
	print "|---|---|---|---|---|---|"
	fork_row(4, D, 1)
	fork_row(1024, D, 1)
	n = split(BK, bk, " ")
	for (i = 1; i <= n; i++)
		if (bk[i] != D)
			fork_row(4, bk[i], 0)
	merge_row("merge_apply, pages only the child changed, 64 MiB " \
		  "page by page (" impl ")", "merge.apply", "merge.memcpy",
		  "memcpy", ">= 0.5x", 0.5)
	merge_row("the same, scalar merge", "merge.apply_scalar",
		  "merge.memcpy", "memcpy", "- (info)", 0)
	if (has("join64.join") && has("join64.merge"))
		merge_row("whole det_join of a child that rewrote 64 MiB (" \
			  D "; merge part alone " \
			  fx(gbs(m["join64.merge"]), 2) " GB/s)",
			  "join64.join", "merge.memcpy", "memcpy",
			  "- (info)", 0)
	else
		row("whole det_join of a child that rewrote 64 MiB",
		    "failed", "", "", "- (info)", "-")
	merge_row("byte merge (merge_conflicts + merge_apply), both sides " \
		  "changed interleaved bytes of every page, 64 MiB (" impl \
		  ")", "merge.both", "merge.memcmp", "memcmp (equal buffers)",
		  ">= 0.3x", 0.3)
	merge_row("the same, scalar merge", "merge.both_scalar",
		  "merge.memcmp", "memcmp (equal buffers)", "- (info)", 0)
	split(ALL, al, " ")
	best = ""
	for (i = 1; i <= 4; i++) {
		b = al[i]; k = "firstwrite." b
		what = "first write to a present page in a child, " b \
		       " (16384 pages)"
		if (!has(k ".det") || !has(k ".rawcow")) {
			row(what, ("skipped." b) in inf ? "backend does not " \
			    "work here" : "failed", "", "",
			    "<= +2 us (best backend)", "-")
			continue
		}
		d = m[k ".det"] / 1000; c = m[k ".rawcow"] / 1000
		x[b] = d - c
		if (best == "" || x[b] < x[best])
			best = b
		row(what, fx(d, 2) " us/page",
		    fx(c, 2) " us/page plain fork() COW (write to a " \
		    "writable page: " fx(m[k ".plain"], 0) " ns)",
		    sprintf("%+.2f us", d - c), "<= +2 us (best backend)",
		    yn(d - c <= 2))
	}
	ns = split("1 16 256 4096 65536 262144", sz, " ")
	t1 = m["joinscale.1.join"]
	p4 = m["joinscale.4096.join"] / 4096 * 1000
	q4 = (m["joinscale.4096.join"] - t1) / 4095 * 1000
	for (i = 1; i <= ns; i++) {
		k = "joinscale." sz[i]
		what = "det_join, child wrote " sz[i] " page" \
		       (sz[i] > 1 ? "s" : "") " of a 1 GiB buffer (" D ")"
		tgt = i == ns ? "linear, not worse (<= 1.33)" : "-"
		if (!has(k ".join") || !has("joinscale.4096.join")) {
			row(what, "failed", "", "", tgt, "-")
			continue
		}
		t = m[k ".join"]; p = t / sz[i] * 1000
		r = p / p4
		rc = "-"
		if (sz[i] >= 4096)
			rc = fx(r, 2) "x (marginal " \
			     fx((t - t1) / (sz[i] - 1) * 1000 / q4, 2) "x)"
		# Per-page cost may fall with size (a fixed cost spread over
		# more pages): that is linear or better.  Worse is not.
		met = "-"
		if (i == ns && r > 1.33)
			met = "**no**: super-linear"
		else if (i == ns)
			met = "yes"
		row(what, fx(t, 1) " ms = " fx(p, 2) " ms/1000 pages",
		    "per-page cost at 4096 pages: " fx(p4, 2) \
		    " ms/1000 pages (marginal " fx(q4, 2) ")", rc, tgt, met)
	}
	alloc_rows()
	split("null read4k", sk)
	split("getuid (2 M calls)|read of 4 KiB from /dev/zero (500 k " \
	      "calls)", sw, "|")
	for (i = 1; i <= 2; i++) {
		f = "syscall." sk[i] ".filtered"
		u = "syscall." sk[i] ".unfiltered"
		a = "syscall." sk[i] ".allowall"
		if (!has(f) || !has(u))
			continue
		sf = m[f]; su = m[u]
		row("system call in a child, " sw[i] ", under the seccomp " \
		    "sandbox", fx(sf, 0) " ns",
		    fx(su, 0) " ns without a filter" \
		    (has(a) ? ", " fx(m[a], 0) " ns with an empty one" : ""),
		    fx(sf / su, 2) "x", "<= 1.05x", yn(sf <= 1.05 * su))
	}
	if (has("start.detrun") && has("start.direct")) {
		sd = m["start.detrun"]; s0 = m["start.direct"]
		row("detrun -- psort -n 1000 (start-up)",
		    fx(sd / 1000, 2) " ms", fx(s0 / 1000, 2) " ms run directly",
		    "+" fx((sd - s0) / 1000, 2) " ms", "<= +5 ms",
		    yn(sd - s0 <= 5000))
	}
	print ""
	print "## Notes"
	print ""
	print "- Every value is the median of several repetitions; det and" \
	      " its baseline are interleaved. Min and max are in the raw" \
	      " numbers below; when other work holds the CPUs the medians" \
	      " of fork+join swing, so the ratio of the fastest runs is" \
	      " shown too."
	print "- GB/s = 10^9 bytes of page content per second (64 MiB =" \
	      " 67.1 MB); \"det vs baseline\" is det's throughput over the" \
	      " baseline's for merges, det's time over the baseline's for" \
	      " fork+join."
	k = "fork.4." D
	if (has(k ".raw2") && has("fork.1024." D ".raw2"))
		print "- det_fork forks twice (the child, then its snapshot" \
		      " holder). Two nested fork()s cost " \
		      fx(m[k ".raw2"], 0) " us at 4 MiB (" \
		      fx(m[k ".raw2"] / m[k ".raw"], 2) "x one fork) and " \
		      fx(m["fork.1024." D ".raw2"] / 1000, 1) " ms at 1 GiB (" \
		      fx(m["fork.1024." D ".raw2"] / \
		      m["fork.1024." D ".raw"], 2) "x)."
	if (best != "")
		print "- First write, extra over a plain fork()'s COW fault:" \
		      " lowest with " best " (" sprintf("%+.2f", x[best]) \
		      " us)" ((D in x && D != best) ? ", default " D " " \
		      sprintf("%+.2f", x[D]) " us" : "") \
		      "; differences of a few tenths of a us are noise here." \
		      " pagemap_excl and hash do nothing on a write (they pay" \
		      " at collect, and hash also at fork: see the fork" \
		      " rows). The det child times its own loop and hands" \
		      " the result back in a merged global variable."
	if (has("joinscale.1.join"))
		print "- det_join of 1 dirty page with 1 GiB mapped takes " \
		      fx(t1, 1) " ms: a fixed cost (the child and its holder," \
		      " each mapping 1 GiB, exit; the tracker scans 1 GiB)." \
		      " \"marginal\" = (t(N) - t(1)) / (N - 1); the merge" \
		      " part alone (space_stats()->merge_ns) is in the raw" \
		      " numbers (joinscale.N.merge)."
	if (has("join64.join"))
		print "- The join path per child-only page: read the" \
		      " snapshot page, compare it with the parent's, copy" \
		      " the child's page into place (/proc/PID/mem)," \
		      " after a copy-on-write fault in the parent."
	if ("alloc.ops" in inf)
		print "- Allocator workload (`allocbench.c`, one source built" \
		      " twice: plain for glibc malloc and jemalloc, linked" \
		      " with libdet.a for det): each operation frees a random" \
		      " slot's block and mallocs a new one, writing its" \
		      " first and last byte (other pages of a block are never" \
		      " touched, so RSS counts the pages the allocator's" \
		      " placement makes resident); sizes 7 in 8 from 16-512" \
		      " B, 1 in 8 from 513 B-64 KiB, log-uniform (mean ~1.8" \
		      " KiB); fixed seed. Each kind is its own process, runs" \
		      " alternated. Checksums of the bytes read back agree" \
		      " (glibc, jemalloc, det, det in 1 child): " \
		      yn(acheck) ". det's addresses (hash of every malloc" \
		      " result) identical in every run: " yn(aaddr) "." \
		      " Split runs: a join's cost is from the later of the" \
		      " det_join call and the child's end to its return; it" \
		      " is mostly the copy of the child's resident heap pages" \
		      " (fresh to the parent) from the child. Child run" \
		      " time is wall-clock (2 CPUs for all children), CPU" \
		      " is the child's own."
	for (i = 1; i <= nf; i++) {
		if (i == 1) {
			print ""
			print "## Failures"
			print ""
		}
		print "- `" substr(fl[i], 3) "`"
	}
}
EOF
	echo
	echo "## Raw numbers"
	echo
	echo "\`R name median min max reps unit\` (fork: fork.MiB.BACKEND;" \
		".raw = fork()+_exit+waitpid, .raw2 = two nested fork()s;"
	echo "firstwrite: .plain = write to a writable page, .rawcow =" \
		"plain fork() child, .det = det child);"
	echo "\`I key value\` facts; \`F ...\` failures."
	echo
	echo '```'
	cat "$RAW"
	echo '```'
} >"$RAW.md"
# Keep the sections the other scripts wrote (netbench.sh: remote spaces;
# builds.sh: the build benchmark; eval.sh: the evaluation), if any.
[ -f "$OUT" ] && awk '/^(## Remote spaces|## Build benchmark|<!-- eval:)/ {
	f = 1 } f' "$OUT" >"$RAW.eval"
[ -s "$RAW.eval" ] && { echo; cat "$RAW.eval"; } >>"$RAW.md"
rm -f "$RAW.eval"
mv "$RAW.md" "$OUT"
if [ -n "$table_failed" ]; then
	say "the results table could not be made"
	failed=$((failed + 1))
fi
say "wrote $OUT; $failed part(s) failed"
[ "$failed" -eq 0 ]
