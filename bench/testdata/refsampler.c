// SPDX-License-Identifier: Apache-2.0
//
// refsampler is the reference that BenchmarkSamplingCost holds tacetd's
// sampler to: the least a sampler written in C can do to read what
// tacetd reads for one sample of every source plus a set of processes.
//
//	refsampler HZ N PID[:CGROUP]...
//
// It opens every file once and keeps it open, then reads each one whole
// with pread at offset 0, as tacetd's core/sample does:
//
//   - machine: /proc/stat, meminfo, loadavg, pressure/{cpu,memory,io,irq}
//     (those that exist), net/dev, diskstats and vmstat;
//   - per PID: /proc/PID/stat, statm, status, io and task/PID/children
//     (tacetd follows children to find a started process's descendants);
//   - its own cost: getrusage, /proc/self/statm and /proc/self/stat, and
//     both clocks, as every tacetd sample carries them.
//
// Parsing is minimal but real: every byte of every file is scanned, and
// every decimal number in it is parsed and summed, so that no read can be
// optimized away and the cost of walking the text is paid as tacetd pays
// it (tacetd also picks fields by name, and encodes and sends the sample,
// which this does not do).
//
// Between samples it sleeps with clock_nanosleep(TIMER_ABSTIME) to
// whole multiples of the period on CLOCK_MONOTONIC, tacetd's schedule:
// one wake-up per sample.
//
// Protocol with the benchmark, so that it can read this process's
// counters in /proc around the sampling and nothing else: after opening
// the files and taking one sample it prints "ready" and reads a line from
// stdin; then it takes N samples at HZ, prints "done SUM", and waits for
// stdin to close before it exits.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAXFILES 4096

static int fds[MAXFILES];
static int nfds;
static char buf[1 << 16];

static void add(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && nfds < MAXFILES)
		fds[nfds++] = fd;
}

// scan sums the decimal numbers in b[0:n].
static uint64_t scan(const char *b, ssize_t n) {
	uint64_t sum = 0, v = 0;
	int in = 0;
	for (ssize_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)b[i] - '0';
		if (d < 10) {
			v = v * 10 + d;
			in = 1;
		} else if (in) {
			sum += v;
			v = 0;
			in = 0;
		}
	}
	return sum + v;
}

static uint64_t sample(void) {
	struct timespec rt, mt;
	struct rusage ru;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	uint64_t sum = (uint64_t)rt.tv_nsec + (uint64_t)mt.tv_nsec;
	for (int i = 0; i < nfds; i++) {
		ssize_t n;
		do
			n = pread(fds[i], buf, sizeof buf, 0);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			sum += scan(buf, n);
	}
	getrusage(RUSAGE_SELF, &ru);
	return sum + (uint64_t)ru.ru_nvcsw;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: refsampler HZ N PID...\n");
		return 2;
	}
	uint64_t hz = strtoull(argv[1], 0, 10), n = strtoull(argv[2], 0, 10);
	if (hz == 0)
		return 2;
	static const char *host[] = {"/proc/stat", "/proc/meminfo", "/proc/loadavg",
		"/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io",
		"/proc/pressure/irq", "/proc/net/dev", "/proc/diskstats", "/proc/vmstat",
		"/proc/self/statm", "/proc/self/stat"};
	for (size_t i = 0; i < sizeof host / sizeof *host; i++)
		add(host[i]);
	static const char *per[] = {"stat", "statm", "status", "io"};
	static const char *cg[] = {"cpu.stat", "memory.current", "cgroup.procs"};
	char path[4096];
	for (int a = 3; a < argc; a++) {
		char *dir = strchr(argv[a], ':');
		if (dir)
			*dir++ = 0;
		for (size_t i = 0; i < sizeof per / sizeof *per; i++) {
			snprintf(path, sizeof path, "/proc/%s/%s", argv[a], per[i]);
			add(path);
		}
		if (!dir) {
			snprintf(path, sizeof path, "/proc/%s/task/%s/children", argv[a], argv[a]);
			add(path);
			continue;
		}
		for (size_t i = 0; i < sizeof cg / sizeof *cg; i++) {
			snprintf(path, sizeof path, "%s/%s", dir, cg[i]);
			add(path);
		}
	}

	uint64_t sum = sample();
	printf("ready %d\n", nfds);
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin))
		return 1;

	uint64_t period = 1000000000u / hz;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t t = ((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec) / period * period;
	for (uint64_t i = 0; i < n; i++) {
		t += period;
		struct timespec due = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
			;
		sum += sample();
	}
	printf("done %llu\n", (unsigned long long)sum);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}
