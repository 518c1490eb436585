#!/usr/bin/env bash
# bench.sh MODE PKGS GO-TEST-FLAGS... runs the Go benchmarks in PKGS with
# the given flags, then the bench/ runner if there is one, and writes all
# output to bench/out/MODE.txt (MODE is smoke or full).
#
# The package bench (what tacetd costs an experiment, beside baselines) and
# the e2e benchmarks (fan-out and synchronized start over many daemons)
# are not run with the others: bench/run.sh runs them with a plan of its
# own and writes bench/out/report.md.
set -euo pipefail

mode=$1 pkgs=$2
shift 2
GO=${GO:-go}
out=bench/out
report=$out/$mode.txt
mkdir -p "$out"
export TACETD_BIN_NORACE=${TACETD_BIN:-}

# run prints the report; it goes on after a failure, to show it all,
# and returns non-zero if any part failed.
run() {
	local status=0
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git rev-parse --short HEAD 2>/dev/null || echo no-git) $($GO env GOVERSION) $(nproc) cores"
	# $pkgs may hold several patterns: split it on purpose.
	# shellcheck disable=SC2086
	local list
	# shellcheck disable=SC2086
	list=$($GO list -e $pkgs 2>/dev/null | grep -v '/bench$' | grep -v '/bench/' | grep -v '/e2e$' || true)
	if [ -z "$list" ]; then
		echo "bench: skipped: no Go packages match $pkgs yet"
	else
		echo "# go test -run '^\$' -bench . $* (packages beside bench/)"
		# shellcheck disable=SC2086
		$GO test -run '^$' -bench . "$@" $list || status=1
	fi

	local flag=
	[ "$mode" = smoke ] && flag=--smoke
	echo "# bench/run.sh $flag"
	bench/run.sh $flag || status=1
	[ -f bench/out/report.md ] && cat bench/out/report.md
	return $status
}

rc=0
run "$@" 2>&1 | tee "$report" || rc=$?
echo "bench: report in $report"
exit $rc
