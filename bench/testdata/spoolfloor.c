// SPDX-License-Identifier: Apache-2.0
//
// spoolfloor drains its standard input, a pipe that a child writes, into
// a file, the two ways a spool can, for BenchmarkCaptureCost:
//
//   spoolfloor splice FILE  splices the pipe into FILE's page cache, so
//                           that each byte is in the file before the
//                           child may reuse its room in the pipe (what
//                           tacetd's spool does);
//   spoolfloor direct FILE  reads the pipe into a 64 MiB ring in memory
//                           and a second thread writes the ring to FILE
//                           behind it, whole MiB blocks with O_DIRECT,
//                           the tail through the page cache at the end.
//
// "direct" is the least a write-behind spool costs: it keeps the bytes
// in the ring only, between the read and the write, so a reader killed
// then loses them. It is written in C so that neither figure carries the
// Go runtime's cost of blocking system calls.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RING (64 << 20)
#define BLOCK (1 << 20)
#define READ (256 << 10)

static char *ring;
static long long head, tail; // bytes read into the ring, written out
static int eof;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int dfd;

static void die(const char *what) {
	perror(what);
	exit(1);
}

// short_write reports a write that moved fewer bytes than asked, which
// sets no errno.
static void short_write(const char *what, ssize_t n, size_t want) {
	if (n < 0)
		die(what);
	fprintf(stderr, "%s: wrote %zd bytes of %zu\n", what, n, want);
	exit(1);
}

static int splice_all(const char *path) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open");
	loff_t off = 0;
	for (;;) {
		ssize_t n = splice(0, NULL, fd, &off, READ, 0);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			die("splice");
	}
}

// writer writes whole blocks of the ring with O_DIRECT as they fill,
// one at a time: on the machine of bench/RESULTS.md, two to eight
// writers with a block each in flight took longer than one.
static void *writer(void *arg) {
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (head - tail < BLOCK && !eof)
			pthread_cond_wait(&cv, &mu);
		if (head - tail < BLOCK)
			break;
		long long at = tail;
		pthread_mutex_unlock(&mu);
		ssize_t n = pwrite(dfd, ring + at % RING, BLOCK, at);
		if (n != BLOCK)
			short_write("pwrite O_DIRECT", n, BLOCK);
		pthread_mutex_lock(&mu);
		tail += BLOCK;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static int direct(const char *path) {
	ring = mmap(NULL, RING, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (ring == MAP_FAILED)
		die("mmap");
	dfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	if (dfd < 0)
		die("open O_DIRECT");
	pthread_t t;
	if (pthread_create(&t, NULL, writer, NULL))
		die("pthread_create");
	for (;;) {
		pthread_mutex_lock(&mu);
		while (head - tail > RING - READ)
			pthread_cond_wait(&cv, &mu);
		long long at = head;
		pthread_mutex_unlock(&mu);
		size_t room = RING - at % RING;
		ssize_t n = read(0, ring + at % RING, room < READ ? room : READ);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		pthread_mutex_lock(&mu);
		if (n == 0)
			eof = 1;
		head += n;
		if (head - tail >= BLOCK || eof)
			pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		if (n == 0)
			break;
	}
	pthread_join(t, NULL);
	if (tail < head) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("open for the tail");
		ssize_t n = pwrite(fd, ring + tail % RING, head - tail, tail);
		if (n != head - tail)
			short_write("pwrite tail", n, head - tail);
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: spoolfloor splice|direct FILE < pipe\n");
		return 2;
	}
	if (strcmp(argv[1], "splice") == 0)
		return splice_all(argv[2]);
	if (strcmp(argv[1], "direct") == 0)
		return direct(argv[2]);
	fprintf(stderr, "spoolfloor: unknown mode %s\n", argv[1]);
	return 2;
}
