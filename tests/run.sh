#!/bin/sh
# Run every test of a build tree (default: build/).
#  - each Check unit suite once;
#  - the integration suite (check_det) once per dirty-page backend that
#    works on this machine (detrun --backends);
#  - the command-line tests of detrun and the apps (tests/cli.sh);
#  - remote spaces end to end: detd nodes on loopback and in network
#    namespaces, node failures (tests/net.sh).
#  - reproducible builds under detrun --build (tests/builds/run.sh).
# A suite's output goes to $B/tests/NAME.log; its Check summary is shown.
# A suite running longer than DET_TEST_TIMEOUT seconds (900) fails.
# Ends with "N passed, N failed" and a non-zero status on any failure.
B=${1:-build}
cd "$(dirname "$0")/.." || exit 2
passed=0
failed=0
# Under sanitizers: crashes must stay signals (tests check them), and
# leak checks at exit are for the test processes, not forked spaces.
if [ -n "$DET_SANITIZE" ]; then
	export ASAN_OPTIONS=handle_segv=0:detect_leaks=0
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
fi

run() {	# name, then the command
	name=$1
	shift
	log="$B/tests/$name.log"
	start=$(date +%s)
	# A hung suite fails on its own instead of stalling CI.
	timeout -k 10 "${DET_TEST_TIMEOUT:-900}" "$@" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		status=ok
	else
		failed=$((failed + 1))
		status=FAILED
		[ $rc -eq 124 ] || [ $rc -eq 137 ] &&
			echo "timed out after ${DET_TEST_TIMEOUT:-900} s" >>"$log"
	fi
	printf '%-34s %-6s %3ss  %s\n' "$name" "$status" \
		"$(($(date +%s) - start))" \
		"$(grep -E '^[0-9]+%: Checks' "$log" | tail -1)"
	if [ $status = FAILED ]; then
		grep -E ':[EF]:|Assertion|error|FAIL|timed out' "$log" | head -20
		echo "   (whole log: $log)"
	fi
}

for t in "$B"/tests/check_*; do
	case $t in
	*.log|*/check_det) continue ;;
	esac
	run "$(basename "$t")" "$t"
done

backends=$("$B/bin/detrun" --backends)
for b in pagemap_scan pagemap_excl mprotect hash; do
	case " $(echo $backends) " in
	*" $b "*) ;;
	*) echo "check_det ($b): backend does not work on this machine:" \
		"skipped"; continue ;;
	esac
	run "check_det[DET_DIRTY=$b]" env DET_DIRTY=$b "$B/tests/check_det"
done

run cli sh tests/cli.sh "$B"
run net sh tests/net.sh "$B"
# detrun --build: planted races, DET_BUILD_REPS runs each (default 20).
run builds sh tests/builds/run.sh "$B"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
