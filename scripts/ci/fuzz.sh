#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target in the module for FUZZTIME each, one at a
# time (two cores cannot share well between fuzzers), and prints a line of
# executions per target. It runs no unit tests: -run '^$'. A crash leaves
# its input in the package's testdata/fuzz/, which CI keeps.
set -euo pipefail

FUZZTIME=${FUZZTIME:-20s}
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Only packages whose test files define a Fuzz function get compiled for
# `go test -list`; compiling every test binary would double the job.
candidates() {
	$GO list -e -f '{{.ImportPath}}{{range .TestGoFiles}} {{$.Dir}}/{{.}}{{end}}{{range .XTestGoFiles}} {{$.Dir}}/{{.}}{{end}}' ./... 2>/dev/null |
		while read -r pkg files; do
			[ -n "$files" ] || continue
			# shellcheck disable=SC2086
			grep -qs '^func Fuzz' $files && echo "$pkg"
		done
}

results=()
failed=0
for pkg in $(candidates); do
	for name in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $name for $FUZZTIME"
		ok=0
		$GO test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 && ok=1
		# The Go fuzzer itself sometimes ends with "context deadline
		# exceeded" when -fuzztime runs out while a worker is busy, with
		# no input found: that is no finding, so the target runs once more.
		# A real failure names its input ("Failing input written to").
		if [ $ok = 0 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "fuzz: $name: the fuzzer timed out with no failing input; running it again"
			$GO test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 && ok=1
		fi
		if [ $ok = 1 ]; then
			status=ok
		else
			status=FAIL
			failed=1
			cat "$log"
		fi
		execs=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -n 1 || true)
		results+=("$status $pkg $name: ${execs:-no executions line}")
		echo "fuzz: $status $name: ${execs:-no executions line}"
	done
done

if [ ${#results[@]} -eq 0 ]; then
	echo "fuzz: skipped: no Fuzz targets yet"
	exit 0
fi
echo "fuzz: summary (FUZZTIME=$FUZZTIME)"
printf '  %s\n' "${results[@]}"
exit $failed
