#!/bin/sh
# builds.sh -- reproducible builds of real projects under detrun --build.
#
#   sh papers/eval/builds.sh [BUILD_DIR] eval [REPS]   (make eval-builds)
#   sh papers/eval/builds.sh [BUILD_DIR] bench [REPS]  (make bench-builds)
#
# Sources: Debian source packages (zlib, bzip2, lua5.4, lz4, xz-utils),
# fetched with `apt-get source --download-only` through a private apt
# configuration that enables deb-src (the system's is not touched), into
# BUILD_DIR/builds/src; each build unpacks the upstream tarball at the
# same path, with every mtime set to one fixed time.
#
# eval: each project REPS times (default 5) under `detrun --build -- sh
# -c 'CONFIGURE && make -j2'` (lz4+ninja: cmake -G Ninja, then ninja) and once with -j1; the sha256 of every file
# of the tree and of the build's output must be the same in every run.
# Writes the first section of papers/eval/BUILDS.md (later ones stay).
#
# bench: lz4 and xz-utils; `detrun -- make -j2`, native `make -j2` and
# native `make -j1` (after the same configure), alternated, REPS rounds
# (default 3); the median wall time of each and the ratios (also the
# median of each round's own det/native -j2 ratio: steadier on a shared
# machine).  BENCH_BASE=PATH also times an earlier detrun (before/after
# in one invocation).  Appends to
# $BUILDS_OUT (default papers/eval/BUILDS.md; `make bench` appends to
# papers/eval/RESULTS.md).
B=${1:-build}
MODE=${2:-eval}
cd "$(dirname "$0")/../.." || exit 2
D=$(pwd)/$B/bin/detrun
W=$(pwd)/$B/builds
OUT=papers/eval/BUILDS.md
mkdir -p "$W/src" "$W/apt/lists/partial" "$W/apt/cache/archives/partial" \
	"$W/apt/etc/sources.list.d" || exit 2

say() {
	echo "builds: $*" >&2
}

# --- sources, through a private apt configuration
APT="-o Dir::Etc::sourcelist=$W/apt/etc/sources.list
-o Dir::Etc::sourceparts=$W/apt/etc/sources.list.d
-o Dir::State::Lists=$W/apt/lists -o Dir::Cache=$W/apt/cache"
fetch() {	# source package name
	ls "$W/src/$1"_*.orig.tar.* >/dev/null 2>&1 && return 0
	if [ ! -s "$W/apt/etc/sources.list.d/src.sources" ]; then
		: >"$W/apt/etc/sources.list"
		sed -n 's/^Types: deb$/Types: deb-src/p;/^URIs:/p;/^Suites:/p;/^Components:/p;/^Signed-By:/p;/^$/p' \
			/etc/apt/sources.list.d/debian.sources \
			>"$W/apt/etc/sources.list.d/src.sources"
		# shellcheck disable=SC2086
		apt-get $APT -qq update >&2 || return 1
	fi
	# shellcheck disable=SC2086
	(cd "$W/src" && apt-get $APT -qq --download-only source "$1" \
		>/dev/null 2>&1)
	ls "$W/src/$1"_*.orig.tar.* >/dev/null 2>&1
}

# tree PROJECT: a fresh tree of its package's upstream source at
# $W/tree/PROJECT.
tree() {
	rm -rf "$W/tree/$1" "$W/x"
	mkdir -p "$W/x" "$W/tree"
	tar xf "$W/src/$(pkg "$1")"_*.orig.tar.* -C "$W/x" || return 1
	mv "$W/x"/* "$W/tree/$1"
	find "$W/tree/$1" -exec touch -h -d @1700000000 {} +
}

pkg() {		# the source package of a project
	echo "${1%+ninja}"
}

# digest DIR: sha256 over every file's path and bytes (logs included).
digest() {
	(cd "$1" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum) |
		sha256sum | cut -c1-16
}

conf() {	# how each project is configured
	case $1 in
	zlib|xz-utils) echo "./configure >/dev/null && " ;;
	*) echo "" ;;
	esac
}

# lz4+ninja: lz4's CMake build (build/cmake) with the Ninja generator.
PROJECTS="zlib bzip2 lua5.4 lz4 xz-utils lz4+ninja"

cmd() {		# PROJECT N: its configure and build with N jobs
	case $1 in
	*+ninja) echo "cmake -G Ninja -S build/cmake -B b >/dev/null && ninja -C b -j$2" ;;
	*) echo "$(conf "$1")make -j$2" ;;
	esac
}

eval_builds() {
	reps=${1:-5}
	{
		echo "# Reproducible builds of real projects (make eval-builds)"
		echo
		echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs," \
			"load $(cut -d' ' -f1-3 /proc/loadavg)."
		echo "Each project: $reps builds under \`detrun --build -- sh -c" \
			"'CONFIGURE && make -j2'\` (lz4+ninja: cmake -G Ninja, ninja -j2)" \
			"and one with \`-j1\`, from the" \
			"Debian source package's upstream tarball."
		echo
		echo "| project | runs | distinct tree+output digests (-j2) | -j1 equal | exit status | files | wall -j2 (s) |"
		echo "|---|---|---|---|---|---|---|"
	} >"$OUT.tmp"
	bad=0
	for p in $PROJECTS; do
		if ! fetch "$(pkg "$p")"; then
			say "$p: cannot fetch the source package"
			echo "| $p | - | source not fetched | - | - | - | - |" >>"$OUT.tmp"
			bad=1
			continue
		fi
		seen=""
		i=0
		t=0
		while [ $i -le "$reps" ]; do
			j=2
			[ $i -eq "$reps" ] && j=1
			tree "$p" || break
			s=$(date +%s.%N)
			(cd "$W/tree/$p" && "$D" --build -- sh -c \
				"$(cmd "$p" $j)") >"$W/log" 2>&1
			rc=$?
			e=$(date +%s.%N)
			d="$(digest "$W/tree/$p")-$(sha256sum <"$W/log" | cut -c1-16)-$rc"
			say "$p -j$j: $d ($(echo "$e - $s" | bc) s)"
			if [ $j -eq 2 ]; then
				t=$(echo "$t + $e - $s" | bc)
				case " $seen " in *" $d "*) ;; *) seen="$seen $d" ;; esac
			else
				j1=$d
			fi
			i=$((i + 1))
		done
		n=$(echo $seen | wc -w)
		eq=no
		[ "$j1" = "$(echo $seen | cut -d' ' -f1)" ] && eq=yes
		[ "$n" -eq 1 ] && [ $eq = yes ] && [ "${j1##*-}" = 0 ] || bad=1
		files=$(find "$W/tree/$p" -type f | wc -l)
		echo "| $p | $reps | $n | $eq | ${j1##*-} | $files | $(echo "scale=1; $t / $reps" | bc) |" >>"$OUT.tmp"
	done
	# The sections after this one (the benchmark, notes) stay.
	[ -f "$OUT" ] && grep -q '^## ' "$OUT" &&
		{ echo; sed -n '/^## /,$p' "$OUT"; } >>"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
	cat "$OUT"
	return $bad
}

median() {
	tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# time_build PKG MODE: configure (untimed), then time the make.
time_build() {
	tree "$1" || return 1
	c=$(conf "$1")
	[ -n "$c" ] && (cd "$W/tree/$1" && ./configure >/dev/null 2>&1)
	find "$W/tree/$1" -exec touch -h -d @1700000000 {} +
	s=$(date +%s.%N)
	case $2 in
	det) (cd "$W/tree/$1" && "$D" -- make -j2 >/dev/null 2>&1) ;;
	base) (cd "$W/tree/$1" && "$BENCH_BASE" -- make -j2 >/dev/null 2>&1) ;;
	j2) (cd "$W/tree/$1" && make -j2 >/dev/null 2>&1) ;;
	j1) (cd "$W/tree/$1" && make -j1 >/dev/null 2>&1) ;;
	esac
	rc=$?
	e=$(date +%s.%N)
	# a failed build is no timing: say so loudly
	[ $rc -eq 0 ] || say "$1 $2: build FAILED (status $rc)"
	echo "$e - $s" | bc
}

bench_builds() {
	reps=${1:-3}
	out=${BUILDS_OUT:-$OUT}
	# Replace an earlier run's section (up to the next section), so
	# repeated runs do not pile up.
	if [ -f "$out" ]; then
		awk '/^## Build benchmark/ { skip = 1; next }
		     skip && /^(## |<!-- )/ { skip = 0 }
		     !skip' "$out" >"$out.tmp" && mv "$out.tmp" "$out"
	fi
	{
		echo
		echo "## Build benchmark (make bench-builds)"
		echo
		echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs," \
			"load $(cut -d' ' -f1-3 /proc/loadavg); median of $reps" \
			"alternated rounds; configure not timed."
		echo
		echo "| project | native -j1 (s) | native -j2 (s) | detrun -j2 (s) | det/native -j2 (target <= 1.15) | det/native -j1 (target <= 0.65) | median of per-round det/native -j2 |${BENCH_BASE:+ earlier detrun -j2 (s) | per-round earlier/native -j2 |}"
		echo "|---|---|---|---|---|---|---|${BENCH_BASE:+---|---|}"
	} >>"${BUILDS_OUT:-$OUT}"
	for p in lz4 xz-utils; do
		fetch "$p" || { say "$p: cannot fetch"; continue; }
		a="" b="" c="" r="" x="" xr=""
		i=0
		while [ $i -lt "$reps" ]; do
			a="$a $(time_build "$p" j1)"
			t2=$(time_build "$p" j2)
			b="$b $t2"
			td=$(time_build "$p" det)
			c="$c $td"
			r="$r $(echo "scale=3; $td / $t2" | bc)"
			if [ -n "$BENCH_BASE" ]; then
				tb=$(time_build "$p" base)
				x="$x $tb"
				xr="$xr $(echo "scale=3; $tb / $t2" | bc)"
			fi
			say "$p round $((i + 1)): j1$a / j2$b / det$c${BENCH_BASE:+ / earlier$x}"
			i=$((i + 1))
		done
		m1=$(echo "$a" | median)
		m2=$(echo "$b" | median)
		md=$(echo "$c" | median)
		extra=""
		[ -n "$BENCH_BASE" ] && extra=" $(echo "$x" | median) | $(echo "$xr" | median) |"
		echo "| $p | $m1 | $m2 | $md | $(echo "scale=2; $md / $m2" | bc) | $(echo "scale=2; $md / $m1" | bc) | $(echo "$r" | median) |$extra" >>"${BUILDS_OUT:-$OUT}"
	done
	cat "${BUILDS_OUT:-$OUT}"
}

case $MODE in
eval) eval_builds "$3" ;;
bench) bench_builds "$3" ;;
*) say "unknown mode $MODE (eval or bench)"; exit 2 ;;
esac
