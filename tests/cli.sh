#!/bin/sh
# Command-line tests: detrun's flags and errors, and the psort app run
# under detrun (sequential and parallel agree; a planted race is
# reported naming the variable; the same run twice prints the same).
B=${1:-build}
cd "$(dirname "$0")/.." || exit 2
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. tests/check.sh

D=$B/bin/detrun
P=$B/apps/psort

$D --help >"$tmp/out" 2>&1; rc=$?
check "--help exits 0 and shows usage" '[ $rc -eq 0 ] && grep -q "^usage: detrun" "$tmp/out"'
$D --version >"$tmp/out" 2>&1; rc=$?
check "--version" '[ $rc -eq 0 ] && grep -q "^detrun [0-9]" "$tmp/out"'
$D --bogus -- true >"$tmp/out" 2>&1; rc=$?
check "unknown flag: one line, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ] && grep -q "bogus" "$tmp/out"'
$D >"$tmp/out" 2>&1; rc=$?
check "no program: one line, exit 2" '[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ]'
$D -- /nonexistent/prog >"$tmp/out" 2>&1; rc=$?
check "missing program: one line naming it, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ] && grep -q nonexistent "$tmp/out"'
$D --dirty nosuch -- true >"$tmp/out" 2>&1; rc=$?
check "bad --dirty: one line, exit 2" '[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ]'
$D --backends >"$tmp/out" 2>&1; rc=$?
check "--backends lists hash (always works)" '[ $rc -eq 0 ] && grep -qx hash "$tmp/out"'
$D -- sh -c 'exit 7'; rc=$?
check "the program's exit status is detrun's" '[ $rc -eq 7 ]'
$D -- sh -c 'kill -TERM $$' 2>/dev/null; rc=$?
check "killed by a signal: 128+N" '[ $rc -eq 143 ]'
for bad in "--allow nosuchcall" "--seed x" "--cpus 0" "--check 0" \
	"--env A=B" "--trace /nonexistent/dir/t.json" "--check"; do
	# shellcheck disable=SC2086
	$D $bad -- true >"$tmp/out" 2>&1; rc=$?
	check "bad $bad: one line, exit 2" \
		'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ]'
done
FOO=visible BAR=hidden $D --env FOO -- sh -c 'echo "$FOO.$BAR.$TZ.$LC_ALL"' \
	>"$tmp/out" 2>&1
check "environment: fixed set plus --env names" \
	'[ "$(cat "$tmp/out")" = "visible..UTC.C" ]'
$D -- sh -c umask >"$tmp/out" 2>&1
check "umask 022" 'grep -q "^0022$" "$tmp/out"'

$P --seq -n 200000 >"$tmp/seq" 2>"$tmp/err"
$P --seq -n 100000 >"$tmp/seq100k" 2>"$tmp/err"
for k in 1 2 3 8; do
	$D -- $P -k $k -n 200000 >"$tmp/par$k" 2>"$tmp/err"; rc=$?
	check "psort -k $k equals the sequential sort" \
		'[ $rc -eq 0 ] && cmp -s "$tmp/seq" "$tmp/par$k"'
done
for b in $($D --backends); do
	DET_DIRTY=$b $D -- $P -k 4 -n 300000 >"$tmp/b" 2>"$tmp/err"; rc=$?
	check "psort under backend $b" '[ $rc -eq 0 ] && cmp -s "$tmp/b" "$tmp/par8" || { $P --seq -n 300000 | cmp -s - "$tmp/b"; }'
done
# (Sanitizer builds print "==PID==" warnings of their own: dropped.)
$D -- $P -k 3 -n 100000 --racy 2>&1 | grep -v '^==\|^False\|^For det' \
	>"$tmp/racy1"; rc=$(sh -c "$D -- $P -k 3 -n 100000 --racy" >/dev/null \
	2>&1; echo $?)
$D -- $P -k 3 -n 100000 --racy 2>&1 | grep -v '^==\|^False\|^For det' \
	>"$tmp/racy2"
check "planted race: exit 3, conflict names the variable and file" \
	'[ $rc -eq 3 ] && grep -q "^conflict: .* (comparisons+0 in psort.c) written by child 1" "$tmp/racy1"'
check "planted race: same report on every run" 'cmp -s "$tmp/racy1" "$tmp/racy2"'
# Sanitizer builds print warnings with pids into stderr: outcomes that
# include stderr cannot repeat there; those checks run in normal builds.
if [ -n "$DET_SANITIZE" ]; then
	[ $fails -eq 0 ]
	exit
fi
# --check: a deterministic program gives one outcome; one that reads a
# file it rewrites (an allowed channel: the root may read and write
# files) gives several, and detrun says so with exit 3.
$D --check 3 -- $P -k 3 -n 100000 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--check 3 on psort: one outcome, the program's status" \
	'[ $rc -eq 0 ] && grep -q "3: 1 distinct outcome" "$tmp/err" && cmp -s "$tmp/out" "$tmp/seq100k"'
echo 0 >"$tmp/counter"
$D --check 3 -- sh -c "cat $tmp/counter; expr \$(cat $tmp/counter) + 1 \
	>$tmp/counter.new; mv $tmp/counter.new $tmp/counter" \
	>"$tmp/out" 2>"$tmp/err"; rc=$?
check "--check 3 on a nondeterministic program: exit 3" \
	'[ $rc -eq 3 ] && grep -q "3 distinct outcomes" "$tmp/err"'
$D --stats --trace "$tmp/t.json" -- $P -k 2 -n 100000 >/dev/null \
	2>"$tmp/err"; rc=$?
check "--stats: counts on one line" \
	'[ $rc -eq 0 ] && grep -q "^det: stats: 3 forks, 3 joins, .* 0 conflicts" "$tmp/err"'
check "--trace: Chrome trace JSON with a span per child" \
	'python3 -c "import json,sys; e=json.load(open(sys.argv[1]))[\"traceEvents\"]; assert sum(x[\"ph\"]==\"B\" for x in e)==3" "$tmp/t.json"'
# Time, TSC, random bytes (getrandom, /dev/urandom), pids, addresses,
# CPU count, environment: the same in 10 runs.
$D --trace "$tmp/t2.json" -- $B/apps/qsort -t 4 -s 100000 >/dev/null 2>&1
check "--trace: nested spaces get lines of their own" \
	'python3 -c "import json,sys; e=json.load(open(sys.argv[1]))[\"traceEvents\"]; n=set(x[\"args\"][\"name\"] for x in e if x[\"ph\"]==\"M\"); assert {\"space 0.0\",\"space 0.1.1\"} <= n and sum(x[\"ph\"]==\"B\" for x in e)==6" "$tmp/t2.json"'
$D --seed 7 -- $B/apps/detenv >"$tmp/env1" 2>&1
same=1
for r in 2 3 4 5 6 7 8 9 10; do
	$D --seed 7 -- $B/apps/detenv >"$tmp/env2" 2>&1
	cmp -s "$tmp/env1" "$tmp/env2" || same=0
done
$D --seed 8 -- $B/apps/detenv >"$tmp/env3" 2>&1
check "time, tsc, random, pids, addresses: identical in 10 runs" \
	'[ $same -eq 1 ] && grep -q "^root time 946684800" "$tmp/env1" && grep -q "^root pid 1000 ppid 1 tid 1000 tsc 9466848" "$tmp/env1" && grep -q "^root cpus 4 nprocs 4" "$tmp/env1" && grep -q "^child cpus 4 nprocs 4" "$tmp/env1"'
check "another --seed: other random and urandom bytes, root and child" \
	'! cmp -s "$tmp/env1" "$tmp/env3" && [ "$(grep "^root urandom" "$tmp/env1")" != "$(grep "^root urandom" "$tmp/env3")" ] && [ "$(grep "^child urandom" "$tmp/env1")" != "$(grep "^child urandom" "$tmp/env3")" ]'

DET_DIRTY=bogus $P -k 2 -n 1000 >"$tmp/out" 2>&1; rc=$?
check "bad DET_DIRTY: clear error line" \
	'[ $rc -ne 0 ] && grep -q "^det: dirty: DET_DIRTY=bogus: unknown backend" "$tmp/out"'
DET_QUIET=maybe $P -k 2 -n 1000 >"$tmp/out" 2>&1; rc=$?
check "bad DET_QUIET: one error line, run continues" \
	'[ $rc -eq 0 ] && grep -q "DET_QUIET=maybe: expected 0 or 1" "$tmp/out"'

# detd's command line (the protocol itself: tests/check_net.c).
N=$B/bin/detd
$N --help >"$tmp/out" 2>&1; rc=$?
check "detd --help exits 0 and shows usage" '[ $rc -eq 0 ] && grep -q "^usage: detd" "$tmp/out"'
$N --keygen "$tmp/key" >"$tmp/out" 2>&1; rc=$?
check "detd --keygen writes 32 bytes, mode 0600" \
	'[ $rc -eq 0 ] && [ "$(stat -c %a:%s "$tmp/key")" = 600:32 ]'
$N --keygen "$tmp/key" >"$tmp/out" 2>&1; rc=$?
check "detd --keygen never overwrites a key: one line" \
	'[ $rc -ne 0 ] && [ $(wc -l <"$tmp/out") -eq 1 ]'
$N >"$tmp/out" 2>&1; rc=$?
check "detd without --key: one line, exit 2" '[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ]'
$N --key "$tmp/key" --listen nonsense >"$tmp/out" 2>&1; rc=$?
check "detd bad --listen: one line, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ] && grep -q nonsense "$tmp/out"'
chmod 644 "$tmp/key"
$N --key "$tmp/key" >"$tmp/out" 2>&1; rc=$?
check "detd refuses a key readable by others: one line, exit 2" \
	'[ $rc -eq 2 ] && [ $(wc -l <"$tmp/out") -eq 1 ] && grep -q "chmod 600" "$tmp/out"'

# The pkg-config file builds and links a program against the tree
# (not for sanitizer builds: their libdet.so needs the sanitizer runtime).
[ -n "$DET_SANITIZE" ] && { [ $fails -eq 0 ]; exit; }
cat >"$tmp/pc.c" <<'EOC'
#include <det.h>
static int v;
static void f(void *a) { (void)a; v = 42; }
int main(void) { det_fork(0, f, 0); det_join(0, 0); return v == 42 ? 0 : 1; }
EOC
PKG_CONFIG_PATH=$B/lib/pkgconfig cc "$tmp/pc.c" -o "$tmp/pc" \
	$(PKG_CONFIG_PATH=$B/lib/pkgconfig pkg-config --cflags --libs libdet) \
	>"$tmp/out" 2>&1 && "$tmp/pc"; rc=$?
check "pkg-config flags compile, link and run against libdet.so" '[ $rc -eq 0 ]'

[ $fails -eq 0 ]
