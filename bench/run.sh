#!/usr/bin/env bash
# run.sh [--smoke] runs the benchmarks of package bench against a tacetd
# built without -race, and writes bench/out/raw-MODE.txt (go test's
# output), bench/out/report.md (tables of figures, baselines and
# ratios; a copy stays in report-MODE.md), report.json (the same figures,
# one record each) and the plots the report shows (ratios.svg,
# latency.svg, and PNG copies). --smoke runs each benchmark
# once or twice with small sizes, in under two minutes; without it the
# run takes about ten.
#
# Environment: TACETD_BIN_NORACE or TACETD_BIN names the daemon to use
# (a -race build is ignored and a plain one built), TACET_BIN the
# command line for the fan-out benchmark; BENCH_COUNT sets
# go test -count for a full run (default 1); TACET_BENCH_IDLE_WINDOW
# sets the idle window (default 60s, 5s with --smoke).
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
mode=full
case "${1:-}" in
--smoke) mode=smoke ;;
"") ;;
*) echo "usage: bench/run.sh [--smoke]" >&2; exit 2 ;;
esac

out=bench/out
raw=$out/raw-$mode.txt
mkdir -p "$out"
# Per-iteration samples, which benchreport plots.
export TACET_BENCH_SAMPLES=$PWD/$out/samples-$mode
rm -rf "$TACET_BENCH_SAMPLES"

# Iterations per benchmark: each iteration runs a subject and its
# baseline back to back, so a few suffice where one is seconds long.
if [ "$mode" = smoke ]; then
	export TACET_BENCH_SMOKE=1
	plan=("ControlLatency 1x" "OutputThroughput 1x" "SecureThroughput 1x" "PutBroadcast 1x" "CaptureCost 1x" "IdleWakeups 1x"
		"SamplingCost 1x" "PeerLatency 3x" "PeerFanout 1x" "Noise 2x" "NoiseSampling 1x"
		"e2e:SyncStart 1x" "e2e:Fanout 1x" "netstack/netns:NetnsSmallFiles 1x")
	count=1
else
	# Full sizes even where -benchtime=1x would imply a smoke run.
	export TACET_BENCH_SMOKE=0
	plan=("ControlLatency 500x" "OutputThroughput 6x" "SecureThroughput 5x" "PutBroadcast 3x" "CaptureCost 7x" "IdleWakeups 1x"
		"SamplingCost 1x" "PeerLatency 40x" "PeerFanout 5x" "Noise 10x" "NoiseSampling 1x"
		"e2e:SyncStart 1x" "e2e:Fanout 3x" "netstack/netns:NetnsSmallFiles 3x")
	count=${BENCH_COUNT:-1}
fi

# The network-namespace benchmarks (root only; they skip, saying why,
# elsewhere) name their namespaces after this prefix, removed at the end.
export TACET_NETNS_PREFIX=${TACET_NETNS_PREFIX:-tb$$}
trap 'scripts/ci/netns-clean.sh "$TACET_NETNS_PREFIX" >/dev/null 2>&1 || true' EXIT

status=0
{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git rev-parse --short HEAD 2>/dev/null || echo no-git)" \
		"$($GO env GOVERSION) $(nproc) cores, mode $mode"
	for p in "${plan[@]}"; do
		read -r name iters <<<"$p"
		# PKG:Name runs a benchmark of ./PKG (the e2e ones drive many
		# daemons through the tacet command), Name one of ./bench.
		pkg=bench
		if [[ $name == *:* ]]; then pkg=${name%%:*} name=${name#*:}; fi
		echo "# go test -run '^\$' -bench '^Benchmark$name\$' -benchtime=$iters -count=$count ./$pkg"
		scale=
		[ "$mode" = full ] && [ "$pkg" != bench ] && scale=full # 100 daemons, not 20
		TACET_SCALE=$scale $GO test -run '^$' -bench "^Benchmark$name\$" -benchtime="$iters" \
			-count="$count" -timeout 30m "./$pkg" || status=1
	done
	# Go on after a failure, to show every benchmark, but fail at the end.
	exit $status
} 2>&1 | tee "$raw" || status=1

$GO run ./bench/internal/benchreport -in "$raw" -out "$out/report.md" -mode "$mode" -samples "$TACET_BENCH_SAMPLES"
# Copies, so that a smoke run does not hide the last full one.
cp "$out/report.md" "$out/report-$mode.md"
cp "$out/report.json" "$out/report-$mode.json"
echo "bench: report in $out/report.md, raw output in $raw"
exit $status
