# check.sh -- sourced by the shell test scripts: check DESCRIPTION
# CONDITION prints "ok   DESCRIPTION" or "FAIL DESCRIPTION" (and counts
# the failure in $fails) after evaluating the shell condition.
fails=${fails:-0}

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
