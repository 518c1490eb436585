// SPDX-License-Identifier: Apache-2.0

// Shared between the cgo glue and the child path in spawn_linux.c. The Go
// side reads these names through cgo, so a step or record kind is defined
// once, here.

#ifndef TACET_SPAWN_H
#define TACET_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// spawn_step numbers the steps of a start. The Go side maps each to the
// name that goes on the wire, by these constants, so a new step is added
// at the end and the numbers stay as they are; the list is not the order
// in which the child takes the steps.
enum spawn_step {
	SPAWN_STEP_FORK,
	SPAWN_STEP_SETSID,
	SPAWN_STEP_SETPGID,
	SPAWN_STEP_CTTY,
	SPAWN_STEP_FDS,
	SPAWN_STEP_RLIMIT,
	SPAWN_STEP_AFFINITY,
	SPAWN_STEP_NICE,
	SPAWN_STEP_SETGROUPS,
	SPAWN_STEP_SETGID,
	SPAWN_STEP_SETUID,
	SPAWN_STEP_CHDIR,
	SPAWN_STEP_PTRACE,
	SPAWN_STEP_EXECVE,
};

// Status records. The child writes them to the status pipe, one write(2)
// per record; 32 bytes is below PIPE_BUF, so each arrives whole. The byte
// order is the host's: both ends run the same binary on the same machine.
//
//	offset  size  field
//	0       4     kind: EXEC or FAIL
//	4       4     step (FAIL only)
//	8       4     errno (FAIL only)
//	12      4     zero
//	16      8     CLOCK_REALTIME in ns (EXEC only)
//	24      8     CLOCK_MONOTONIC in ns (EXEC only)
//
// A start produces [EXEC] [FAIL] and then end of file: EXEC once setup is
// done and just before the first execve, FAIL when a step failed. End of
// file after EXEC means execve succeeded and close-on-exec closed the pipe.
enum spawn_kind {
	SPAWN_REC_EXEC = 1,
	SPAWN_REC_FAIL = 2,
};

struct spawn_record {
	uint32_t kind;
	uint32_t step;
	int32_t err;
	uint32_t pad;
	int64_t real_ns;
	int64_t mono_ns;
};

// Flags in spawn_attr.flags.
enum {
	SPAWN_SETSID = 1 << 0,
	SPAWN_SETPGID = 1 << 1,
	SPAWN_CTTY = 1 << 2,
	SPAWN_CRED = 1 << 3,
	SPAWN_NICE = 1 << 4,
	SPAWN_FORK = 1 << 5, // fork instead of vfork; for tests
	SPAWN_TRACE = 1 << 6, // staged: PTRACE_TRACEME before execve
	SPAWN_RESET_SCHED = 1 << 7, // nice 0, SCHED_OTHER, no I/O class
};

struct spawn_rlimit {
	int32_t resource;
	uint32_t pad;
	uint64_t cur;
	uint64_t max;
};

// spawn_attr describes one start. Every pointer refers to memory the
// parent frees once spawn_fork returns. A forked child reads its own copy
// of it; a vfork child shares the parent's memory, which stays in place
// because the parent does not return before that child has exec'd or
// exited.
struct spawn_attr {
	char **argv;  // NULL-terminated
	char **envp;  // NULL-terminated
	char **paths; // NULL-terminated candidates for execve, in order
	char *dir;    // NULL: keep the working directory

	int fd[3];     // parent fds that become 0, 1 and 2
	int status_fd; // write end of the status pipe
	int cgroup_fd; // for CLONE_INTO_CGROUP; -1: no cgroup
	int flags;
	int nice;

	uint32_t uid;
	uint32_t gid;
	uint32_t *groups;
	size_t ngroups;

	struct spawn_rlimit *rlimits;
	size_t nrlimits;

	uint64_t *cpus; // affinity mask, NULL: inherit
	size_t cpus_size; // in bytes
};

// spawn_fork starts a child for a. It returns the child's pid and stores
// a pidfd (or -1) in *pidfd, or returns -1 with the errno in *err. The
// child is a vfork, and spawn_fork returns only once it has called execve
// with success or exited, unless a has SPAWN_FORK or a cgroup on an arch
// other than amd64. With SPAWN_TRACE the calling thread becomes the
// child's tracer, and only it may call spawn_hold and spawn_release.
pid_t spawn_fork(const struct spawn_attr *a, int *pidfd, int *err);

// spawn_hold waits, for at most about timeout_ns, until pid, a child
// started with SPAWN_TRACE whose execve succeeded, is stopped by that
// execve, then readies it for release: it is to be killed if its tracer
// exits, and its signal mask is emptied. It returns 0 or an errno:
// ESRCH when the child ended first, ETIMEDOUT when it did not stop.
int spawn_hold(pid_t pid, int64_t timeout_ns);

// spawn_release waits until the CLOCK_REALTIME instant at (ns since the
// epoch; 0 or past: not at all) unless the eventfd efd becomes readable
// first, in which case it reads efd and returns 0 having released
// nothing. tfd is a CLOCK_REALTIME timerfd it may set. Once the instant
// has come it reads both clocks into woke[0] and woke[1], then resumes
// each of the n held children of pids in turn, storing, for child i, the
// clocks read just after resuming it in times[2i] and times[2i+1], and 0
// or the errno of its PTRACE_DETACH in errs[i]. It then sleeps quiet_ns
// and returns 1.
int spawn_release(int efd, int tfd, int64_t at, int64_t quiet_ns, const pid_t *pids, int n,
                  int64_t *woke, int64_t *times, int *errs);

// spawn_cancel kills pid if it is still a stopped tracee of the calling
// thread: a pid that was reaped may since name another process.
void spawn_cancel(pid_t pid);

#endif
