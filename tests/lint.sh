#!/bin/sh
# make lint: the physical style of CODING.md, as greps.
#  - no trailing whitespace; tabs, not spaces, for indentation
#  - lines of at most 80 columns (tabs count 8)
#  - the return type on its own line: a function definition's line
#    starts with the function's name
#  - no bare printf in the library (kern/, merge/, user/lib/): log.h
cd "$(dirname "$0")/.." || exit 2
# det.h is the agreed contract, copied verbatim: exempt.
files=$(git ls-files -co --exclude-standard '*.c' '*.h' |
	grep -v '^user/include/det.h$')
bad=0
for f in $files; do
	awk -v f="$f" '
	function width(s,   i, w, c) {
		w = 0
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\t") w = w + 8 - w % 8; else w++
		}
		return w
	}
	/[ \t]+$/ { printf "%s:%d: trailing whitespace\n", f, NR; bad = 1 }
	/^        / { printf "%s:%d: indent with tabs\n", f, NR; bad = 1 }
	width($0) > 80 { printf "%s:%d: longer than 80 columns\n", f, NR; bad = 1 }
	/^[^ \t#{}\/].*\(/ { head = $0; headno = NR }
	/^{$/ && head != "" {
		if (head !~ /^[a-z_][A-Za-z_0-9]*\(/ && head !~ /=/ &&
		    head !~ /^(struct|union|enum|typedef)/ && head !~ /^START_TEST/) {
			printf "%s:%d: return type on its own line, please\n", f, headno
			bad = 1
		}
		head = ""
	}
	END { exit bad }
	' "$f" || bad=1
done
for f in $(echo "$files" | grep -E '^(\./)?(kern|merge|user/lib)/'); do
	if grep -nE '(^|[^a-z_])printf[ ]*\(' "$f" | grep -v 'snprintf'; then
		echo "$f: bare printf in the library: use log.h"
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "lint: ok"
exit $bad
