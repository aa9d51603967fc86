#!/bin/sh
# Reproducible parallel builds: `detrun -- make -jN` on planted races.
#
#   sh tests/builds/run.sh [BUILD_DIR] [REPS]
#
# Each scenario is a small project made here with fixed mtimes; it is
# built REPS times (default $DET_BUILD_REPS, else 20) from a fresh copy
# at the same path, and the outcome -- every file's path, mode and
# bytes, what the build printed, its exit status -- must be the same
# every time, and equal to the expected one (an oracle, not just
# "stable").  Recipes sleep random amounts so the real order of events
# differs from run to run.  After every build: no detsh, recipe or
# sleep process is left, and no state directory.
# Ends with "N passed, N failed".
B=${1:-build}
REPS=${2:-${DET_BUILD_REPS:-20}}
cd "$(dirname "$0")/../.." || exit 2
D=$(pwd)/$B/bin/detrun
tmp=$(mktemp -d /tmp/detbuild-test.XXXXXX)
[ -n "$DET_BUILD_KEEP" ] || trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() {
	echo "ok   $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1"
	failed=$((failed + 1))
}

check() {	# description, then a shell condition
	desc=$1
	shift
	if eval "$@"; then ok "$desc"; else fail "$desc"; fi
}

# A random sleep of 0-90 ms, in make syntax (recipes run under sh).
# Real randomness: the build's /dev/urandom is a seeded stream, procfs'
# uuid is not virtualised.
RS='sleep 0.0$$(tr -dc 0-9 </proc/sys/kernel/random/uuid | cut -c1)'

# new NAME: start the template of a scenario (files come on stdin as
# a shell script run inside it).
new() {
	rm -rf "$tmp/tpl"
	mkdir -p "$tmp/tpl"
	(cd "$tmp/tpl" && sh)
	find "$tmp/tpl" -exec touch -h -d @1700000000 {} +
}

# digest DIR: paths, types, modes and bytes of everything in DIR.
digest() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r f; do
		printf '%s %s\n' "$f" "$(stat -c %A "$f")"
		[ -f "$f" ] && [ ! -L "$f" ] && sha256sum <"$f"
		[ -L "$f" ] && readlink "$f"
	done) | sha256sum | cut -c1-16
}

# State directories go here (DET_BUILD_STATE), not to /var/tmp.
mkdir "$tmp/state"
export DET_BUILD_STATE="$tmp/state"
# The build path the scenarios see their tree at (detrun makes it; a
# process left behind shows it as its cwd, which leftovers catches).
export DET_BUILD_PATH="$tmp/fixed"

# leftovers: processes of ours still running (their cwd is in $tmp,
# seen from any namespace), state dirs still there.
leftovers() {
	for p in /proc/[0-9]*; do
		case $(readlink "$p/cwd" 2>/dev/null) in
		"$tmp"/*) echo "left: $(tr '\0' ' ' <"$p/cmdline")" ;;
		esac
	done
	ls -d "$tmp"/state/* 2>/dev/null
}

# build ARGS...: copy the template to $tmp/w, run detrun -- make ARGS
# (ninja ARGS when DRV=ninja) there; output in $tmp/out, status in $rc,
# tree digest in $dg.
DRV=make
build() {
	rm -rf "$tmp/w"
	cp -a "$tmp/tpl" "$tmp/w"
	(cd "$tmp/w" && "$D" -- $DRV "$@") >"$tmp/out" 2>&1
	rc=$?
	dg=$(digest "$tmp/w")
}

# repeat NAME ARGS...: build REPS times; every outcome identical.
# Leaves the last build in $tmp/w.
repeat() {
	name=$1
	shift
	first=""
	same=1
	left=""
	i=0
	while [ $i -lt "$REPS" ]; do
		build "$@"
		o="$rc $dg $(sha256sum <"$tmp/out" | cut -c1-16)"
		if [ -z "$first" ]; then
			first=$o
			cp "$tmp/out" "$tmp/out.first"
			rm -rf "$tmp/w.first"
			cp -a "$tmp/w" "$tmp/w.first"
		fi
		if [ "$o" != "$first" ]; then
			same=0
			echo "   run $((i + 1)) differs: $o vs $first"
			diff "$tmp/out.first" "$tmp/out" | head -5
			diff -r "$tmp/w.first" "$tmp/w" | head -5
		fi
		l=$(leftovers)
		[ -n "$l" ] && left="$l"
		i=$((i + 1))
	done
	check "$name: same outcome in $REPS/$REPS runs" '[ $same -eq 1 ]'
	check "$name: nothing left behind" '[ -z "$left" ] || { echo "$left"; false; }'
}

# --- missing dependency: use.txt reads gen.txt without depending on it
new <<EOF
cat >Makefile <<'MK'
all: gen.txt use.txt
gen.txt:
	$RS; echo generated >gen.txt
use.txt:
	$RS; cat gen.txt >use.txt 2>/dev/null || echo missing >use.txt
MK
EOF
repeat "missing dependency" -j4
check "missing dependency: a sibling's output is never seen" \
	'[ "$(cat "$tmp/w/use.txt")" = missing ] && [ $rc -eq 0 ]'

# --- two jobs write one file, different bytes: a conflict
new <<EOF
cat >Makefile <<'MK'
all: a b
a:
	$RS; echo from-a >shared.txt; touch a
b:
	$RS; echo from-b >shared.txt; touch b
MK
EOF
repeat "conflict (different bytes)" -j2
check "conflict: exit 4, one line naming the path and both commands" \
	'[ $rc -eq 4 ] && [ $(grep -c "^detrun: conflict: shared.txt: changed by job" "$tmp/out") -eq 1 ] && grep -q "from-a" "$tmp/out" && grep -q "from-b" "$tmp/out"'
check "conflict: atomic -- nothing of the second job is applied" \
	'[ -e "$tmp/w/a" ] && [ ! -e "$tmp/w/b" ] && [ "$(cat "$tmp/w/shared.txt")" = from-a ]'

# --- the same with identical bytes: no conflict
new <<EOF
cat >Makefile <<'MK'
all: a b
a:
	$RS; echo same >shared.txt; touch a
b:
	$RS; echo same >shared.txt; touch b
MK
EOF
repeat "identical bytes" -j2
check "identical bytes: no conflict, the file merged" \
	'[ $rc -eq 0 ] && ! grep -q conflict "$tmp/out" && [ "$(cat "$tmp/w/shared.txt")" = same ]'

# --- appends to a shared log: ordered jobs append in order; parallel
# ones conflict, the same way every run
new <<EOF
cat >Makefile <<'MK'
all: c
a:
	$RS; echo a >>log; touch a
b: a
	$RS; echo b >>log; touch b
c: b
	$RS; echo c >>log; touch c
p: p1 p2
p1:
	$RS; echo p1 >>plog; touch p1
p2:
	$RS; echo p2 >>plog; touch p2
MK
EOF
repeat "appends in dependency order" -j4
check "appends in order: log is a b c" \
	'[ "$(cat "$tmp/w/log" | tr "\n" " ")" = "a b c " ] && [ $rc -eq 0 ]'
repeat "parallel appends" -j4 p
check "parallel appends: a conflict on plog" \
	'[ $rc -eq 4 ] && grep -q "^detrun: conflict: plog:" "$tmp/out"'

# --- the environment: clock, __DATE__, tar czf, gzip, ls order, $$,
# hostname, uname -a
new <<EOF
mkdir src
echo 'int one(void) { return 1; }' >src/one.c
echo 'int two(void) { return 2; }' >src/two.c
cat >z.c <<'C'
#include <stdio.h>
int one(void);
int two(void);
int main(void) { printf("%s %s %d\n", __DATE__, __TIME__, one() + two()); return 0; }
C
cat >Makefile <<'MK'
OBJS := \$(patsubst %.c,%.o,\$(shell ls *.c src/*.c))
all: prog stamp.txt date.txt env.txt src.tgz data.gz
prog: \$(OBJS)
	$RS; cc -o \$@ \$(OBJS)
%.o: %.c
	$RS; cc -c \$< -o \$@
stamp.txt: prog
	./prog >\$@
date.txt:
	$RS; date >\$@; date +%s.%N >>\$@
env.txt:
	$RS; echo "pid \$\$\$\$" >\$@; hostname >>\$@; uname -a >>\$@
src.tgz: prog
	tar czf \$@ src prog
data.txt:
	$RS; seq 1 1000 >\$@
data.gz: data.txt
	$RS; gzip -c data.txt >\$@
MK
EOF
repeat "environment (date, __DATE__, tar, gzip, ls, \$\$, hostname, uname)" -j4
check "environment: pid 2, hostname det, same clock as SOURCE_DATE_EPOCH" \
	'grep -qx "pid 2" "$tmp/w/env.txt" && grep -qx det "$tmp/w/env.txt" && grep -q "^1700000000.000000000$" "$tmp/w/date.txt" && grep -q "Nov 14 2023 22:13:20 3" "$tmp/w/stamp.txt"'

# --- a recipe archives files it just made (tar czf, gzip without -n):
# in a job, times the kernel stamped read as the job's logical time
new <<EOF
cat >Makefile <<'MK'
all: a.tgz b.gz times.txt
a.tgz:
	$RS; mkdir -p d; echo one >d/one; touch d/two; tar czf \$@ d
b.gz:
	$RS; seq 1 100 >b; gzip b
times.txt:
	$RS; echo x >t; stat -c '%Y %X %Z' t >\$@; ls -l --time-style=+%s t | cut -d' ' -f6 >>\$@; ls missing 2>&1 | sed 's/.*: //' >>\$@
MK
EOF
# (with SOURCE_DATE_EPOCH set, merged files start at it, not at the
# system's newest stamp)
export SOURCE_DATE_EPOCH=1700000000
repeat "archives of files made in the same recipe (tar czf, gzip)" -j2
unset SOURCE_DATE_EPOCH
check "archives of files made in the same recipe: times read as the epoch + 1 s (and stat's errors stay)" \
	'printf "1700000001 1700000001 1700000001\n1700000001\nNo such file or directory\n" | cmp -s - "$tmp/w/times.txt"'

# --- one recipe line makes a directory, the next writes into it (each
# line is a job: a layer holding only a directory must count)
new <<'EOF'
cat >Makefile <<'MK'
all: a.lo b.lo
%.lo:
	-@mkdir objs 2>/dev/null || test -d objs
	echo $@ >objs/$@.o
	mv objs/$@.o $@
MK
EOF
repeat "directory made by an earlier line" -j2
check "directory made by an earlier line: later lines see it" \
	'[ $rc -eq 0 ] && [ "$(cat "$tmp/w/a.lo" "$tmp/w/b.lo" | tr "\n" " ")" = "a.lo b.lo " ]'

# --- deletions, renames, a directory replaced by a file
new <<'EOF'
echo old >old.txt
mkdir gen && echo x >gen/x && echo y >gen/y
echo keep >keep.txt
cat >Makefile <<'MK'
all: del ren
del:
	rm old.txt; rm -r gen; echo gen-file >gen
ren:
	echo moved >a.txt; mv a.txt b.txt; mv keep.txt kept.txt
MK
EOF
repeat "deletions and renames" -j2
check "deletions and renames: applied to the tree" \
	'[ $rc -eq 0 ] && [ ! -e "$tmp/w/old.txt" ] && [ -f "$tmp/w/gen" ] && [ "$(cat "$tmp/w/gen")" = gen-file ] && [ ! -e "$tmp/w/a.txt" ] && [ "$(cat "$tmp/w/b.txt")" = moved ] && [ ! -e "$tmp/w/keep.txt" ] && [ "$(cat "$tmp/w/kept.txt")" = keep ]'

# --- the random devices: a seeded stream, the same every run
new <<'EOF'
cat >Makefile <<'MK'
all: r1 r2
r1 r2:
	od -An -N16 -tx1 /dev/urandom >$@; head -c 16 /dev/random | od -An -tx1 >>$@
MK
EOF
repeat "/dev/urandom" -j2
check "/dev/urandom: the same bytes in every job and run, --seed changes them" \
	'[ $rc -eq 0 ] && cmp -s "$tmp/w/r1" "$tmp/w/r2" && [ "$(sed -n 1p "$tmp/w/r1")" = "$(sed -n 2p "$tmp/w/r1")" ] && cp "$tmp/w/r1" "$tmp/r.default" && (cd "$tmp/w" && rm r1 r2 && "$D" --seed 5 -- make r1 >/dev/null 2>&1) && [ -s "$tmp/w/r1" ] && ! cmp -s "$tmp/w/r1" "$tmp/r.default"'
rm -rf "$tmp/w"

# --- writes outside the tree and /tmp: refused (read-only), the same
# way every run; /dev/null, a private /dev/shm and /tmp work
leak=/var/tmp/detbuild-leak.$$
new <<EOF
cat >Makefile <<'MK'
all: out shm
out:
	$RS; (echo x >$leak) 2>/dev/null && echo written >out || echo refused >out
shm:
	$RS; echo ok >/dev/null; echo s >/dev/shm/detb-shm.$$; echo t >/tmp/t; cat /dev/shm/detb-shm.$$ /tmp/t >shm
MK
EOF
repeat "writes outside the tree" -j2
check "writes outside the tree: refused, nothing leaked; /dev/shm and /tmp private" \
	'[ $rc -eq 0 ] && [ "$(cat "$tmp/w/out")" = refused ] && [ ! -e $leak ] && [ ! -e /dev/shm/detb-shm.$$ ] && [ "$(cat "$tmp/w/shm" | tr "\n" " ")" = "s t " ]'
rm -f $leak /dev/shm/detb-shm.$$

# --- a background job outliving its recipe is ended with it
new <<EOF
cat >Makefile <<'MK'
all: a
a:
	(sleep 0.3; echo late >late.txt) & echo started >a
MK
EOF
repeat "background job" -j2
check "background job: ended with its recipe" \
	'[ ! -e "$tmp/w/late.txt" ] && [ "$(cat "$tmp/w/a")" = started ]'

# --- recursive make: the sub-make's jobs are job spaces too (its
# missing dependency is the same every run), siblings wait their turn
new <<EOF
mkdir sub
cat >Makefile <<'MK'
all: top.txt
	\$(MAKE) -C sub
top.txt:
	$RS; echo top >\$@
MK
cat >sub/Makefile <<'MK'
all: x y z use
x y z:
	$RS; echo \$@ >\$@; echo made \$@
use:
	$RS; cat x >use 2>/dev/null || echo missing >use
MK
EOF
repeat "recursive make" -j4
check "recursive make: the sub-make's files are in the tree" \
	'[ $rc -eq 0 ] && [ "$(cat "$tmp/w/sub/x" "$tmp/w/sub/y" "$tmp/w/sub/z" "$tmp/w/top.txt" "$tmp/w/sub/use" | tr "\n" " ")" = "x y z top missing " ]'

# --- a script that configures, then runs make (detrun --build -- sh)
new <<'EOF'
cat >configure <<'SH'
#!/bin/sh
printf 'all: a b\na: config.h\n\techo A >a\nb: a\n\tcat a >b; echo B >>b\n' >Makefile
echo '#define X 1' >config.h
SH
chmod +x configure
EOF
rm -rf "$tmp/w"
cp -a "$tmp/tpl" "$tmp/w"
(cd "$tmp/w" && "$D" --build --stats -- sh -c './configure && make -j2') \
	>"$tmp/out" 2>&1
rc=$?
check "configure && make: the make's jobs see what configure wrote" \
	'[ $rc -eq 0 ] && [ "$(cat "$tmp/w/b" | tr "\n" " ")" = "A B " ] && grep -q "jobs 2," "$tmp/out"'
(cd "$tmp/w" && "$D" --stats -- make -j2) >"$tmp/out2" 2>&1
check "configure && make: configure's files get logical mtimes, a second make builds nothing" \
	'grep -q "jobs 0," "$tmp/out2" && [ "$(stat -c %Y "$tmp/w/config.h")" -lt "$(date +%s)" ]'

# --- a long chain of jobs: snapshots stay right across compactions
new <<'EOF'
cat >Makefile <<'MK'
N := $(shell seq 1 150)
all: s150
s0:
	echo 0 >s0
$(foreach i,$(N),$(eval s$(i): s$(shell expr $(i) - 1)))
s%:
	echo $$(($$(cat $<) + 1)) >$@
MK
EOF
rm -rf "$tmp/w"
cp -a "$tmp/tpl" "$tmp/w"
(cd "$tmp/w" && "$D" --stats -- make -j2) >"$tmp/out" 2>&1
rc=$?
# a base every 64 joins (and one when make starts, unless the tree is
# unchanged since the first)
joins=$(sed -n 's/.*joins \([0-9]*\),.*/\1/p' "$tmp/out")
bases=$(sed -n 's/.*bases \([0-9]*\),.*/\1/p' "$tmp/out")
check "150 chained jobs: each sees its predecessor, across compactions" \
	'[ $rc -eq 0 ] && [ "$(cat "$tmp/w/s150")" = 150 ] && [ "$joins" -gt 150 ] && { [ "$bases" -eq $((joins / 64)) ] || [ "$bases" -eq $((1 + (joins - 1) / 64)) ]; }'

# --- --stats names every count
check "--stats: jobs, joins, bases, files and bytes merged, copy-ups, conflicts, times" \
	'grep -Eq "^detrun: build stats: jobs [0-9]+, joins [0-9]+, bases [0-9]+, files merged [0-9]+ \([0-9]+ bytes\), bytes copied up [0-9]+, conflicts 0, time in merge [0-9.]+ ms, time waiting for older jobs [0-9.]+ ms$" "$tmp/out"'

# --- a driver starting on an unchanged tree takes no new base; one
# changed by a script in between does
new <<'EOF'
echo old >f
cat >Makefile <<'MK'
nothing: ;
use:
	cat f g >use
MK
EOF
rm -rf "$tmp/w"
cp -a "$tmp/tpl" "$tmp/w"
(cd "$tmp/w" && "$D" --build --stats -- sh -c 'make -j2 nothing; make -j2 nothing; make -j2 nothing') >"$tmp/out" 2>&1
check "unchanged tree: three makes, no new base" \
	'grep -q "joins 3, bases 0," "$tmp/out"'
(cd "$tmp/w" && "$D" --build -- sh -c 'make -j2 nothing; echo fresh >f; echo new >g; make -j2 use') >"$tmp/out" 2>&1
check "tree changed between two makes (in place, a new file): the second one's jobs see it" \
	'[ "$(cat "$tmp/w/use" | tr "\n" " ")" = "fresh new " ]'

# --- a crashing job
new <<EOF
cat >Makefile <<'MK'
all: ok crash
ok:
	$RS; echo fine >ok
crash:
	$RS; echo partial >crash.out; sh -c 'kill -SEGV \$\$\$\$'
MK
EOF
repeat "crashing job" -j2
check "crashing job: make sees the signal, the build fails" \
	'[ $rc -eq 2 ] && grep -q "Segmentation fault" "$tmp/out" && [ "$(cat "$tmp/w/ok")" = fine ]'

# --- output of make -j4 is the same every run
new <<EOF
cat >Makefile <<'MK'
T := 1 2 3 4 5 6 7 8
all: \$(T)
\$(T):
	@$RS; echo "job \$@ line 1"; $RS; echo "job \$@ line 2"; echo "job \$@ err" >&2; touch \$@
MK
EOF
repeat "make -j4 output" -j4
check "make -j4 output: each job's lines together, in fork order" \
	'[ "$(grep -c "^job" "$tmp/out")" -eq 24 ] && [ "$(grep "line 1" "$tmp/out" | cut -d" " -f2 | tr -d "\n")" = 12345678 ]'

# --- incremental: a second run builds nothing; touching a source
# rebuilds exactly its dependents
new <<EOF
for n in 1 2 3; do echo "int f\$n(void) { return \$n; }" >f\$n.c; done
echo 'int main(void) { return 0; }' >main.c
cat >Makefile <<'MK'
OBJS := f1.o f2.o f3.o main.o
prog: \$(OBJS)
	cc -o \$@ \$(OBJS)
%.o: %.c
	cc -c \$< -o \$@
MK
EOF
build -j4
(cd "$tmp/w" && "$D" --stats -- make -j4) >"$tmp/out2" 2>&1
check "incremental: a second run starts no job" \
	'[ $rc -eq 0 ] && grep -q "jobs 0," "$tmp/out2"'
touch "$tmp/w/f2.c"
(cd "$tmp/w" && "$D" --stats -- make -j4) >"$tmp/out3" 2>&1
check "incremental: touching f2.c rebuilds f2.o and prog only" \
	'[ "$(grep "^cc" "$tmp/out3" | tr "\n" " ")" = "cc -c f2.c -o f2.o cc -o prog f1.o f2.o f3.o main.o " ] && grep -q "jobs 2," "$tmp/out3"'
(cd "$tmp/w" && "$D" --stats -- make -j4) >"$tmp/out4" 2>&1
check "incremental: and then nothing again" 'grep -q "jobs 0," "$tmp/out4"'

# --- SIGINT in the middle of a build: nothing left behind
new <<EOF
cat >Makefile <<'MK'
all: a b
a:
	sleep 7.125; touch a
b:
	sleep 7.125; touch b
MK
EOF
rm -rf "$tmp/w"
cp -a "$tmp/tpl" "$tmp/w"
(cd "$tmp/w" && exec "$D" -- make -j2) >"$tmp/out" 2>&1 &
pid=$!
sleep 0.5
kill -INT $pid
wait $pid
rc=$?
check "SIGINT: exit 130" '[ $rc -eq 130 ]'
check "SIGINT: no process, no state directory left" '[ -z "$(leftovers)" ]'
check "SIGINT: no mount left" \
	'! grep -q -e "$tmp" -e detrun-build /proc/self/mountinfo'

# --- ninja: the same job spaces and join order (jobs end in spawn
# order as ninja sees them), ninja's own mkdir/rm in the snapshots
DRV=ninja
new <<EOF
for n in 1 2 3 4 5 6; do echo \$n >in\$n; done
cat >build.ninja <<'NJ'
rule gen
  command = $RS; cp \$in \$out; echo "made \$out"; echo "err \$out" >&2
rule use
  command = $RS; cat out/o1 >\$out 2>/dev/null || echo missing >\$out
rule env
  command = $RS; (echo "pid \$\$\$\$"; hostname; date +%s) >\$out
rule cat
  command = cat \$in >\$out; ls out >\$out.ls
build out/o1: gen in1
build out/o2: gen in2
build out/o3: gen in3
build out/o4: gen in4
build out/o5: gen in5
build out/o6: gen in6
build out/use: use
build out/env: env
build out/all: cat out/o1 out/o2 out/o3 out/o4 out/o5 out/o6
NJ
EOF
repeat "ninja: missing dependency, output, environment" -j4
check "ninja: the sibling's output unseen, output in spawn order, pid 2" \
	'[ $rc -eq 0 ] && [ "$(cat "$tmp/w/out/use")" = missing ] && [ "$(grep "^made" "$tmp/out" | tr -d "\n")" = "made out/o1made out/o2made out/o3made out/o4made out/o5made out/o6" ] && [ "$(cat "$tmp/w/out/env" | tr "\n" " ")" = "pid 2 det 1700000000 " ] && [ "$(cat "$tmp/w/out/all" | tr -d "\n")" = 123456 ]'

new <<EOF
cat >build.ninja <<'NJ'
rule w
  command = $RS; echo \$text >shared.txt; touch \$out
build a: w
  text = from-a
build b: w
  text = from-b
build c: w
  text = same
build d: w
  text = same
NJ
EOF
repeat "ninja: conflict (different bytes)" -j2 a b
check "ninja: conflict, exit 4, one line naming the path and both commands" \
	'[ $rc -eq 4 ] && [ $(grep -c "^detrun: conflict: shared.txt: changed by job 1 (.*from-a.*) and job 2 (.*from-b.*)" "$tmp/out") -eq 1 ] && [ "$(cat "$tmp/w/shared.txt")" = from-a ]'
build -j2 c d
check "ninja: identical bytes, no conflict" \
	'[ $rc -eq 0 ] && [ "$(cat "$tmp/w/shared.txt")" = same ]'

# depfiles: ninja reads and deletes them (deps = gcc), makes out dirs
new <<EOF
mkdir inc
echo '#define V 1' >inc/v.h
for n in 1 2 3; do printf "#include \"v.h\"\nint f\$n(void) { return V + \$n; }\n" >f\$n.c; done
echo 'int main(void) { return 0; }' >main.c
cat >build.ninja <<'NJ'
rule cc
  command = $RS; cc -Iinc -MD -MF \$out.d -c \$in -o \$out
  deps = gcc
  depfile = \$out.d
rule link
  command = cc -o \$out \$in; ls obj obj/sub >\$out.ls
build obj/f1.o: cc f1.c
build obj/f2.o: cc f2.c
build obj/sub/f3.o: cc f3.c
build obj/main.o: cc main.c
build prog: link obj/f1.o obj/f2.o obj/sub/f3.o obj/main.o
NJ
EOF
repeat "ninja: depfiles and output directories" -j4
check "ninja: built, depfiles gone from the tree and from later snapshots" \
	'[ $rc -eq 0 ] && [ -x "$tmp/w/prog" ] && [ -z "$(find "$tmp/w/obj" -name "*.d")" ] && ! grep -q "[.]d$" "$tmp/w/prog.ls" && grep -qx f3.o "$tmp/w/prog.ls"'
(cd "$tmp/w" && "$D" --stats -- ninja -j4) >"$tmp/out2" 2>&1
check "ninja incremental: a second run starts no job" \
	'grep -q "no work to do" "$tmp/out2" && grep -q "jobs 0," "$tmp/out2"'
sleep 0.01
touch "$tmp/w/inc/v.h"
(cd "$tmp/w" && "$D" --stats -- ninja -j4) >"$tmp/out3" 2>&1
check "ninja incremental: touching the header rebuilds its dependents" \
	'grep -q "jobs 4," "$tmp/out3" && grep -q "\[4/4\]" "$tmp/out3"'
touch "$tmp/w/main.c"
(cd "$tmp/w" && "$D" --stats -- ninja -j4) >"$tmp/out4" 2>&1
check "ninja incremental: touching main.c rebuilds main.o and prog only" \
	'grep -q "jobs 2," "$tmp/out4" && grep -q "main.c" "$tmp/out4" && ! grep -q "f1.c" "$tmp/out4"'
DRV=make

# --- --build-path: the same project in two directories, same bytes
# (__FILE__, debug info, $(CURDIR) in a log); jobs writing through the
# tree's real path write into their own space (a conflict here)
new <<'EOF'
cat >hello.c <<'C'
#include <stdio.h>
int main(void) { printf("%s\n", __FILE__); return 0; }
C
cat >Makefile <<'MK'
all: hello log.txt
hello: hello.o
	cc -g -o $@ hello.o
hello.o: hello.c
	cc -g -c $(CURDIR)/hello.c -o $@
log.txt:
	echo "curdir $(CURDIR) pwd $$(pwd)" >$@
abs: a1 a2
a1 a2:
	echo $@ >$(REAL)/abs.txt; touch $@
MK
EOF
pbuild() {	# DIR, detrun flags...: a fresh copy of the template at DIR, built
	dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	cp -a "$tmp/tpl" "$dir"
	(cd "$dir" && "$D" "$@") >"$tmp/out" 2>&1
	rc=$?
}
pbuild "$tmp/p1/src" --build-path . -- make -j2
pbuild "$tmp/p2/deeper/tree" --build-path . -- make -j2
check "--build-path .: two directories give different bytes (control)" \
	'! cmp -s "$tmp/p1/src/hello" "$tmp/p2/deeper/tree/hello"'
pbuild "$tmp/p1/src" --build-path "$tmp/view/src" -- make -j2
pbuild "$tmp/p2/deeper/tree" --build-path "$tmp/view/src" -- make -j2
check "--build-path: two directories, the same bytes" \
	'[ $rc -eq 0 ] && [ "$(digest "$tmp/p1/src")" = "$(digest "$tmp/p2/deeper/tree")" ] && [ "$("$tmp/p1/src/hello")" = "$tmp/view/src/hello.c" ] && [ "$(cat "$tmp/p1/src/log.txt")" = "curdir $tmp/view/src pwd $tmp/view/src" ]'
pbuild "$tmp/p1/src" --build-path "$tmp/view/src" -- make -j2 abs REAL="$tmp/p1/src"
check "--build-path: writes through the real path stay in the job's space" \
	'[ $rc -eq 4 ] && grep -q "^detrun: conflict: abs.txt:" "$tmp/out"'
check "--build-path: no mount left" '! grep -q "$tmp" /proc/self/mountinfo'
DET_BUILD_PATH= pbuild "$tmp/p1/src" -- make -j2
check "default build path: /build" \
	'[ $rc -eq 0 ] && [ "$("$tmp/p1/src/hello")" = /build/hello.c ]'
pbuild "$tmp/p1/src" --build-path "$tmp/p1" -- make -j2
check "--build-path over the tree's parent: refused in one line, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ] && grep -q overlaps "$tmp/out"'
(cd "$tmp/p1/src" && "$D" --build-path rel -- make) >"$tmp/out" 2>&1
rc=$?
check "--build-path rel: one line, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ]'

# --- bad use
(cd "$tmp/w" && "$D" --build -- /nonexistent/make) >"$tmp/out" 2>&1
rc=$?
check "--build, missing program: one line naming it, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ] && grep -q nonexistent "$tmp/out"'
(cd "$tmp/w" && "$D" --build --check 2 -- make) >"$tmp/out" 2>&1
rc=$?
check "--build with --check: one line, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ]'

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
