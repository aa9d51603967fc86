#!/bin/sh
# Command-line tests: detrun's flags and errors, and the psort app run
# under detrun (sequential and parallel agree; a planted race is
# reported naming the variable; the same run twice prints the same).
B=${1:-build}
cd "$(dirname "$0")/.." || exit 2
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() {	# description, then a shell condition
	desc=$1
	shift
	if eval "$@"; then
		echo "ok   $desc"
	else
		echo "FAIL $desc"
		fails=$((fails + 1))
	fi
}

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

$P --seq -n 200000 >"$tmp/seq" 2>"$tmp/err"
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
DET_DIRTY=bogus $P -k 2 -n 1000 >"$tmp/out" 2>&1; rc=$?
check "bad DET_DIRTY: clear error line" \
	'[ $rc -ne 0 ] && grep -q "^det: dirty: DET_DIRTY=bogus: unknown backend" "$tmp/out"'
DET_QUIET=maybe $P -k 2 -n 1000 >"$tmp/out" 2>&1; rc=$?
check "bad DET_QUIET: one error line, run continues" \
	'[ $rc -eq 0 ] && grep -q "DET_QUIET=maybe: expected 0 or 1" "$tmp/out"'

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
