#!/bin/sh
# make eval: Determinator's workloads, det vs pthreads.
#
# Runs each app of user/apps (md5, blackscholes, matmult, lu, lu --contig,
# qsort, fft) sequentially, with det (under detrun --stats) and with
# pthreads, at 1, 2, 4 and 8 children/threads, EVAL_RUNS times each
# (default 3), timing whole runs from outside; then checks determinism
# (detrun --check 20 for det; 20 plain runs of the pthreads version).
# Writes the "Evaluation" section of papers/eval/RESULTS.md, the raw
# numbers (papers/eval/eval.dat) and plots (papers/eval/*.png).
B=${1:-build}
cd "$(dirname "$0")/../.." || exit 2
OUT=papers/eval
RUNS=${EVAL_RUNS:-3}
CHECKS=${EVAL_CHECKS:-20}
THREADS=${EVAL_THREADS:-1 2 4 8}
APPS=${EVAL_APPS:-md5 blackscholes matmult lu lu-contig qsort fft}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "eval: installing gnuplot-nox for the plots" >&2
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		gnuplot-nox >/dev/null 2>&1 || echo "eval: no gnuplot: no plots" >&2
fi

now() { date +%s%N; }

# app name -> binary and extra flags
bin() { case $1 in lu-contig) echo lu ;; *) echo "$1" ;; esac; }
flags() { case $1 in lu-contig) echo --contig ;; *) echo "" ;; esac; }

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
spread() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }

# time one command (seconds, 3 decimals); its stdout to $tmp/out,
# stderr to $tmp/err; exit status checked
timed() {
	t0=$(now)
	"$@" >"$tmp/out" 2>"$tmp/err" || {
		echo "eval: FAILED: $*" >&2
		head -3 "$tmp/err" >&2
		echo "nan"
		return
	}
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", (b - a) / 1e9}'
}

: >"$OUT/eval.dat"
echo "# app mode threads median_s spread_s merge_share" >>"$OUT/eval.dat"
total=$(( $(echo $APPS | wc -w) * (1 + 2 * $(echo $THREADS | wc -w)) ))
step=0
for app in $APPS; do
	b=$(bin "$app")
	f=$(flags "$app")
	step=$((step + 1))
	echo "eval: [$step/$total] $app sequential" >&2
	: >"$tmp/t"
	for r in $(seq "$RUNS"); do
		timed "$B/apps/$b" --seq $f >>"$tmp/t"
	done
	cp "$tmp/out" "$tmp/$app.seqout"
	echo "$app seq 1 $(median <"$tmp/t") $(spread <"$tmp/t") 0" \
		>>"$OUT/eval.dat"
	for t in $THREADS; do
		step=$((step + 1))
		echo "eval: [$step/$total] $app det -t $t" >&2
		: >"$tmp/t"
		: >"$tmp/m"
		for r in $(seq "$RUNS"); do
			s=$(timed "$B/bin/detrun" --stats -- "$B/apps/$b" -t "$t" $f)
			echo "$s" >>"$tmp/t"
			ms=$(sed -n 's/.* \([0-9.]*\) ms in merge/\1/p' "$tmp/err")
			awk -v ms="${ms:-0}" -v s="$s" \
				'BEGIN {printf "%.4f\n", ms / 1000 / s}' >>"$tmp/m"
			cmp -s "$tmp/out" "$tmp/$app.seqout" ||
				echo "eval: $app det -t $t: output differs from the sequential run" >&2
		done
		echo "$app det $t $(median <"$tmp/t") $(spread <"$tmp/t") $(median <"$tmp/m")" \
			>>"$OUT/eval.dat"
		step=$((step + 1))
		echo "eval: [$step/$total] $app pthreads -t $t" >&2
		: >"$tmp/t"
		for r in $(seq "$RUNS"); do
			timed "$B/apps/${b}_pthread" -t "$t" $f >>"$tmp/t"
			cmp -s "$tmp/out" "$tmp/$app.seqout" ||
				echo "eval: $app pthreads -t $t: output differs from the sequential run" >&2
		done
		echo "$app pthreads $t $(median <"$tmp/t") $(spread <"$tmp/t") 0" \
			>>"$OUT/eval.dat"
	done
done

load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Determinism: detrun --check for det; plain repeated runs for pthreads.
: >"$tmp/det"
for app in $APPS; do
	b=$(bin "$app")
	f=$(flags "$app")
	echo "eval: determinism of $app ($CHECKS runs each)" >&2
	"$B/bin/detrun" --check "$CHECKS" -- "$B/apps/$b" -t 2 $f \
		>/dev/null 2>"$tmp/err"
	dd=$(sed -n 's/.*--check [0-9]*: \([0-9]*\) distinct.*/\1/p' "$tmp/err")
	: >"$tmp/pd"
	for r in $(seq "$CHECKS"); do
		"$B/apps/${b}_pthread" -t 2 $f 2>&1 | md5sum >>"$tmp/pd"
	done
	pd=$(sort -u "$tmp/pd" | wc -l)
	echo "$app ${dd:-?} $pd" >>"$tmp/det"
done

# The section of RESULTS.md.
{
	echo "<!-- eval: written by papers/eval/eval.sh (make eval); do not edit -->"
	echo "## Evaluation: Determinator's workloads, det vs pthreads"
	echo
	echo "- command: \`make eval\` (EVAL_RUNS=$RUNS runs per point, median; $CHECKS runs for determinism)"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
	echo "- time: whole runs measured from outside (inside detrun every clock is logical); det runs under \`detrun --stats\`"
	echo "- load average when the timings ended: $load_at_end (2 CPUs shared with other work: medians of a loaded machine are noisy)"
	echo
	echo "| app | threads | sequential s | det s | pthreads s | det speedup | pthreads speedup | det/pthreads speed | merge share |"
	echo "|---|---|---|---|---|---|---|---|---|"
	awk '
	$1 ~ /^#/ { next }
	$2 == "seq" { seq[$1] = $4; order[++n] = $1 }
	$2 == "det" { det[$1, $3] = $4; spd[$1, $3] = $5; mer[$1, $3] = $6; th[$3] = 1 }
	$2 == "pthreads" { pt[$1, $3] = $4; spp[$1, $3] = $5 }
	END {
		for (i = 1; i <= n; i++) {
			a = order[i]
			for (t = 1; t <= 64; t *= 2) {
				if (!((a, t) in det)) continue
				d = det[a, t]; p = pt[a, t]; s = seq[a]
				printf "| %s | %d | %s | %s (%s) | %s (%s) | %.2f | %.2f | %.2f | %.1f%% |\n",
				    a, t, s, d, spd[a, t], p, spp[a, t],
				    s / d, s / p, p / d, mer[a, t] * 100
			}
		}
	}' "$OUT/eval.dat"
	echo
	awk '
	$1 ~ /^#/ { next }
	$2 == "det" && $3 == 2 { det[$1] = $4 }
	$2 == "pthreads" && $3 == 2 { pt[$1] = $4 }
	END {
		g = 0; n = 0; worst = 99
		for (a in det) { r = pt[a] / det[a]; g += log(r); n++; if (r < worst) { worst = r; wa = a } }
		if (n) printf "At 2 children/threads: det/pthreads speed geometric mean **%.3f** over %d apps (target >= 0.95); lowest %.3f (%s; target >= 0.9 on every app).\n", exp(g / n), n, worst, wa
	}' "$OUT/eval.dat"
	echo
	echo "Determinism ($CHECKS runs each, \`-t 2\`):"
	echo
	echo "| app | det: distinct outcomes (detrun --check) | pthreads: distinct outputs |"
	echo "|---|---|---|"
	awk '{printf "| %s | %s | %s |\n", $1, $2, $3}' "$tmp/det"
	echo
	echo "Plots: \`papers/eval/speedup.png\` (speedup over the sequential run, det vs pthreads, per app), \`papers/eval/merge.png\` (share of det's run time spent merging). Raw numbers: \`papers/eval/eval.dat\`."
} >"$tmp/section"

# Replace (or append) the section in RESULTS.md.
R="$OUT/RESULTS.md"
[ -f "$R" ] || echo "# det: results" >"$R"
awk '/^<!-- eval:/ {exit} {print}' "$R" >"$tmp/head"
cat "$tmp/head" "$tmp/section" >"$R"

if command -v gnuplot >/dev/null 2>&1; then
	for app in $APPS; do
		awk -v a="$app" '$1 == a && $2 == "seq" {s = $4}
		    $1 == a && $2 == "det" {d[$3] = $4}
		    $1 == a && $2 == "pthreads" {p[$3] = $4}
		    END {for (t in d) print t, s / d[t], s / p[t]}' \
		    "$OUT/eval.dat" | sort -n >"$tmp/$app.sp"
	done
	{
		echo "set terminal png size 1200,800"
		echo "set output '$OUT/speedup.png'"
		echo "set multiplot layout 2,4 title 'det vs pthreads: speedup over sequential'"
		echo "set xlabel 'children / threads'; set ylabel 'speedup'"
		echo "set logscale x 2; set key top left"
		for app in $APPS; do
			echo "set title '$app'"
			echo "plot '$tmp/$app.sp' using 1:2 with linespoints title 'det', '' using 1:3 with linespoints title 'pthreads'"
		done
		echo "unset multiplot"
		echo "set output '$OUT/merge.png'"
		echo "set terminal png size 900,500"
		echo "set title 'share of det run time spent merging'"
		echo "set ylabel 'percent'; unset logscale x"
		echo "set style data histograms; set style fill solid; set boxwidth 0.8"
		awk '$2 == "det" {print $1 "@" $3, $6 * 100}' "$OUT/eval.dat" >"$tmp/merge"
		echo "plot '$tmp/merge' using 2:xtic(1) title 'merge %'"
	} >"$tmp/plot.gp"
	gnuplot "$tmp/plot.gp" 2>"$tmp/gp.err" || head -3 "$tmp/gp.err" >&2
fi
echo "eval: wrote $R, $OUT/eval.dat and the plots" >&2
