// SPDX-License-Identifier: Apache-2.0

// Package bench measures what tacetd costs an experiment, each figure
// beside a baseline measured in the same run: the latency of a start
// against a local fork and exec, output throughput against a raw socket,
// the run time of a child whose output is captured against one writing
// into a pipe, and the wake-ups of an idle daemon against a Go process
// blocked in Accept. BenchmarkSamplingCost puts the CPU and wake-ups
// of each sample beside a reference sampler in C (testdata/refsampler.c)
// reading the same files. BenchmarkPutBroadcast puts one file to 8
// daemons directly and through a chain of relays, and counts the copies
// the controller sends. The peer benchmarks put the same figures beside
// private instances of ssh, pdsh, clush and supervisord, and
// BenchmarkNoise and BenchmarkNoiseSampling measure the slowdown of an
// experiment running beside the daemon, the latter while it samples,
// unpinned and on the daemon's CPU; the peers must be installed (make
// deps), or they fail.
//
// It holds benchmarks only, no timed assertions: a target missed shows in
// the report that run.sh writes to bench/out/report.md, not as a failure.
// The machines this runs on are noisy, so subjects and baselines are
// interleaved iteration by iteration and figures are medians of paired
// ratios rather than ratios of means.
//
// Every benchmark starts its own tacetd, from $TACETD_BIN_NORACE or
// $TACETD_BIN when that is not a -race build, else built once into a
// temporary directory. TACET_BENCH_SMOKE=1, or -benchtime=1x, shrinks
// the sizes and the idle window so that a smoke run stays short.
package bench
