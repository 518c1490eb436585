#!/usr/bin/env bash
# bench.sh MODE PKGS GO-TEST-FLAGS... runs the Go benchmarks in PKGS with
# the given flags, then the bench/ runner if there is one, and writes all
# output to bench/out/MODE.txt (MODE is smoke or full).
#
# A runner is an executable bench/run, or else any main package under
# ./bench/...; it gets BENCH_MODE, BENCH_OUT and TACETD_BIN in its
# environment and prints its report on stdout.
set -euo pipefail

mode=$1 pkgs=$2
shift 2
GO=${GO:-go}
out=bench/out
report=$out/$mode.txt
mkdir -p "$out"
export BENCH_MODE=$mode BENCH_OUT=$PWD/$out TACETD_BIN=${TACETD_BIN:-}

# run prints the report; it goes on after a failure, to show it all,
# and returns non-zero if any part failed.
run() {
	local status=0
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git rev-parse --short HEAD 2>/dev/null || echo no-git) $($GO env GOVERSION) $(nproc) cores"
	# $pkgs may hold several patterns: split it on purpose.
	# shellcheck disable=SC2086
	if [ -z "$($GO list -e $pkgs 2>/dev/null)" ]; then
		echo "bench: skipped: no Go packages match $pkgs yet"
	else
		echo "# go test -run '^\$' -bench . $* $pkgs"
		$GO test -run '^$' -bench . "$@" $pkgs || status=1
	fi

	if [ -x bench/run ]; then
		echo "# bench/run ($mode)"
		bench/run || status=1
		return $status
	fi
	local mains
	mains=$($GO list -e -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./bench/... 2>/dev/null || true)
	for m in $mains; do
		echo "# go run $m ($mode)"
		$GO run "$m" || status=1
	done
	[ -n "$mains" ] || echo "bench: no runner in bench/ (bench/run or a main package)"
	return $status
}

rc=0
run "$@" 2>&1 | tee "$report" || rc=$?
echo "bench: report in $report"
exit $rc
