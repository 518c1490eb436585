// SPDX-License-Identifier: Apache-2.0

// The fork and the child side of a start, and the parent side of a staged
// start's hold and release.
//
// A start is a vfork, as posix_spawn does it: the child shares the
// parent's memory (CLONE_VM) and runs on a stack of its own while the
// calling thread is suspended until the child calls execve or exits
// (CLONE_VFORK). Nothing is copied, so the cost does not grow with the
// daemon's size.
//
// A staged child asks to be traced (PTRACE_TRACEME) just before execve, so
// that a successful execve stops it with SIGTRAP before the program's first
// instruction. Its tracer is the thread that forked it; that thread then
// waits for the stop (spawn_hold) and later ends it at an instant
// (spawn_release, which detaches). What costs time and varies, the fork,
// the setup and the execve itself, is all done before the instant; what
// is left for the instant is one PTRACE_DETACH per child.
//
// A vfork into a cgroup needs clone3 with CLONE_INTO_CGROUP and a new
// stack, for which glibc has no public wrapper; spawn_clone3 in
// clone3_linux_amd64.S is ours. On other arches a start into a cgroup
// is forked instead and copies the address space: a vfork child could
// join its cgroup only by writing cgroup.procs, which waits for an RCU
// grace period (about 10 ms when starts are spaced out), no cheaper than
// the copy.
//
// Either way the child is one thread in the memory of a multithreaded Go
// process, a copy or the live one: locks held by other threads are not its
// own to take, and the Go runtime cannot run. So the child reads the
// attributes the parent prepared, calls nothing but raw system calls
// through syscall(2), allocates nothing, and never returns. glibc wrappers
// are avoided even where they look harmless: setuid and friends, for one,
// signal every thread glibc believes exists and wait for them forever.
//
// Sharing memory adds one rule: the child writes to nothing but its own
// stack and errno. errno is in the suspended thread's TLS, so writing it
// races with nobody; any other store would land in the running daemon.

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "spawn.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

// 32-bit ABIs keep 16-bit ids in the plain calls.
#ifdef SYS_setgroups32
#define SPAWN_SYS_SETGROUPS SYS_setgroups32
#define SPAWN_SYS_SETGID SYS_setgid32
#define SPAWN_SYS_SETUID SYS_setuid32
#else
#define SPAWN_SYS_SETGROUPS SYS_setgroups
#define SPAWN_SYS_SETGID SYS_setgid
#define SPAWN_SYS_SETUID SYS_setuid
#endif

// The kernel's signal set is 64 bits on amd64 and arm64, not glibc's 1024.
#define KSIGSET_SIZE 8
#define KNSIG 64

// Fds the child keeps beside 0, 1 and 2; everything from FD_FREE up is
// closed.
enum { FD_STATUS = 3, FD_FREE = 4 };

// The stack of a vfork child. Its setup needs a few KiB; the rest is
// margin, and costs nothing until touched.
enum { CHILD_STACK = 256 << 10 };

// clone_args as of Linux 5.7 (CLONE_INTO_CGROUP), declared here because
// <linux/sched.h> clashes with glibc's <sched.h>.
struct spawn_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

_Static_assert(sizeof(struct spawn_record) == 32, "record size is on the wire");

#ifdef __x86_64__
// spawn_clone3 calls clone3 and runs fn(arg) in the child, on the stack
// that args names, exiting if fn returns; the parent gets the pid or a
// negative errno. See clone3_linux_amd64.S.
#define SPAWN_CLONE3_STACK 1
long spawn_clone3(struct spawn_clone_args *args, size_t size, int (*fn)(void *), void *arg)
	__attribute__((visibility("hidden")));
#endif

struct child {
	const struct spawn_attr *a;
	int status; // where records go; the fd number changes in the fds step
};

static void put(struct child *c, const struct spawn_record *r) {
	long n;
	while ((n = syscall(SYS_write, c->status, r, sizeof *r)) < 0 && errno == EINTR)
		;
	if (n >= 0 || errno != EPIPE)
		return;

	// The parent stopped listening. The SIGPIPE is pending behind the
	// blocked mask and would kill the child once the mask is cleared
	// before execve, so take it back: a released child still runs.
	uint64_t pipe = 1ULL << (SIGPIPE - 1);
	struct timespec zero = {0, 0};
	syscall(SYS_rt_sigtimedwait, &pipe, NULL, &zero, KSIGSET_SIZE);
}

static void __attribute__((noreturn)) fail(struct child *c, int step, int err) {
	struct spawn_record r = {.kind = SPAWN_REC_FAIL, .step = step, .err = err};
	put(c, &r);
	for (;;)
		syscall(SYS_exit_group, 127);
}

static void reset_signals(void) {
	// All zero is SIG_DFL with no flags and an empty mask, whatever the
	// arch's field order. It cannot fail for a signal in range.
	unsigned long dfl[4] = {0};
	for (int sig = 1; sig <= KNSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, dfl, NULL, KSIGSET_SIZE);
}

static void session(struct child *c) {
	const struct spawn_attr *a = c->a;
	if (a->flags & SPAWN_SETSID) {
		if (syscall(SYS_setsid) < 0)
			fail(c, SPAWN_STEP_SETSID, errno);
	} else if ((a->flags & SPAWN_SETPGID) && syscall(SYS_setpgid, 0, 0) < 0) {
		fail(c, SPAWN_STEP_SETPGID, errno);
	}

	// This runs before the fds step, so the terminal is named by the
	// parent's fd; it is the same open file that becomes fd 0.
	if ((a->flags & SPAWN_CTTY) && syscall(SYS_ioctl, a->fd[0], TIOCSCTTY, 0) < 0)
		fail(c, SPAWN_STEP_CTTY, errno);
}

static int dup_high(struct child *c, int fd) {
	long n = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, FD_FREE);
	if (n < 0)
		fail(c, SPAWN_STEP_FDS, errno);
	return n;
}

static void move_fd(struct child *c, int from, int to, int flags) {
	if (syscall(SYS_dup3, from, to, flags) < 0)
		fail(c, SPAWN_STEP_FDS, errno);
}

static void close_from(struct child *c, int first) {
	if (syscall(SYS_close_range, first, ~0U, 0) == 0)
		return;
	if (errno != ENOSYS)
		fail(c, SPAWN_STEP_FDS, errno);

	// Before Linux 5.9. An fd above the soft limit, opened before the
	// limit was lowered, would survive; the daemon does not lower it.
	uint64_t lim[2];
	if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, lim) < 0)
		fail(c, SPAWN_STEP_FDS, errno);
	for (uint64_t fd = first; fd < lim[0]; fd++)
		syscall(SYS_close, (int)fd);
}

static void fds(struct child *c) {
	const struct spawn_attr *a = c->a;

	// Copy every source above the targets first, so that no dup3 below
	// overwrites a source still to be moved.
	c->status = dup_high(c, a->status_fd);
	int src[3];
	for (int i = 0; i < 3; i++)
		src[i] = dup_high(c, a->fd[i]);

	for (int i = 0; i < 3; i++)
		move_fd(c, src[i], i, 0);
	move_fd(c, c->status, FD_STATUS, O_CLOEXEC);
	c->status = FD_STATUS;
	close_from(c, FD_FREE);
}

static void limits(struct child *c) {
	const struct spawn_attr *a = c->a;
	for (size_t i = 0; i < a->nrlimits; i++) {
		const struct spawn_rlimit *r = &a->rlimits[i];
		uint64_t lim[2] = {r->cur, r->max};
		long rc = syscall(SYS_prlimit64, 0, r->resource, lim, NULL);
#if defined(SYS_setrlimit) && __SIZEOF_LONG__ == 8
		if (rc < 0 && errno == ENOSYS)
			rc = syscall(SYS_setrlimit, r->resource, lim);
#endif
		if (rc < 0)
			fail(c, SPAWN_STEP_RLIMIT, errno);
	}
}

// reset_sched undoes what the daemon's own placement would hand down: a
// nice value, SCHED_IDLE, the idle I/O class. Each is best effort: an
// unprivileged daemon may not lower its children's nice value, and then
// they keep the daemon's.
static void reset_sched(const struct spawn_attr *a) {
	if (!(a->flags & SPAWN_NICE))
		syscall(SYS_setpriority, PRIO_PROCESS, 0, 0);
	if (syscall(SYS_sched_getscheduler, 0) != SCHED_OTHER) {
		struct sched_param p = {.sched_priority = 0};
		syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &p);
	}
	syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, 0 /* IOPRIO_CLASS_NONE */);
}

static void sched(struct child *c) {
	const struct spawn_attr *a = c->a;
	if (a->flags & SPAWN_RESET_SCHED)
		reset_sched(a);
	if (a->cpus && syscall(SYS_sched_setaffinity, 0, a->cpus_size, a->cpus) < 0)
		fail(c, SPAWN_STEP_AFFINITY, errno);
	if ((a->flags & SPAWN_NICE) && syscall(SYS_setpriority, PRIO_PROCESS, 0, a->nice) < 0)
		fail(c, SPAWN_STEP_NICE, errno);
}

static void cred(struct child *c) {
	const struct spawn_attr *a = c->a;
	if (!(a->flags & SPAWN_CRED))
		return;
	if (syscall(SPAWN_SYS_SETGROUPS, a->ngroups, a->groups) < 0)
		fail(c, SPAWN_STEP_SETGROUPS, errno);
	if (syscall(SPAWN_SYS_SETGID, a->gid) < 0)
		fail(c, SPAWN_STEP_SETGID, errno);
	if (syscall(SPAWN_SYS_SETUID, a->uid) < 0)
		fail(c, SPAWN_STEP_SETUID, errno);
}

static int64_t now(clockid_t clock) {
	struct timespec ts;
	syscall(SYS_clock_gettime, clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// search tries each candidate path as execvp does and returns the errno
// to report: EACCES if any candidate gave it, else the last one. Errors
// that say "not here" move on to the next candidate; any other stops the
// search, since it would repeat for every entry.
static int search(const struct spawn_attr *a) {
	int err = ENOENT, eacces = 0;
	for (char **p = a->paths; *p; p++) {
		syscall(SYS_execve, *p, a->argv, a->envp);
		err = errno;
		switch (err) {
		case EACCES:
			eacces = 1;
			// fall through
		case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT:
			continue;
		}
		return err;
	}
	return eacces ? EACCES : err;
}

static void __attribute__((noreturn)) run(struct child *c) {
	const struct spawn_attr *a = c->a;
	reset_signals();
	session(c);
	fds(c);
	limits(c);
	sched(c);
	cred(c);
	if (a->dir && syscall(SYS_chdir, a->dir) < 0)
		fail(c, SPAWN_STEP_CHDIR, errno);
	if ((a->flags & SPAWN_TRACE) && syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL) < 0)
		fail(c, SPAWN_STEP_PTRACE, errno);

	struct spawn_record r = {.kind = SPAWN_REC_EXEC};
	r.real_ns = now(CLOCK_REALTIME);
	r.mono_ns = now(CLOCK_MONOTONIC);
	put(c, &r);

	// execve keeps the mask, so clear it last: until here a signal must
	// not reach a child that is neither the daemon nor the program. A
	// traced child keeps every signal but SIGTRAP blocked through execve,
	// so that the only stop it can come to is the one execve causes; its
	// tracer empties the mask once it holds the stopped program.
	uint64_t mask = 0;
	if (a->flags & SPAWN_TRACE)
		mask = ~(1ULL << (SIGTRAP - 1));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, KSIGSET_SIZE);
	fail(c, SPAWN_STEP_EXECVE, search(a));
}

// fork_child forks a child with a copy of the address space, created in
// its cgroup if it has one.
static long fork_child(const struct spawn_attr *a, int *pidfd) {
	struct spawn_clone_args args = {
		.flags = CLONE_PIDFD,
		.pidfd = (uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
	};
	if (a->cgroup_fd >= 0) {
		args.flags |= SPAWN_CLONE_INTO_CGROUP;
		args.cgroup = a->cgroup_fd;
	}
	long pid = syscall(SYS_clone3, &args, sizeof args);
	if (pid >= 0 || errno != ENOSYS || a->cgroup_fd >= 0)
		return pid;

	// Before Linux 5.3, or a seccomp filter that hides clone3: a plain
	// fork, with fork's arguments on every arch we build for.
	*pidfd = -1;
	return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

// The kernel marks a process's memory undumpable when its credentials
// change, and a vfork child's memory is the daemon's: after a start with
// Cred the daemon would lose its core dumps, and ptrace by its own user.
// redump undoes that if the daemon was dumpable at its first such start.
// The state is read once, before any child could clear it, and not at
// every start, where a concurrent one might just have cleared it; each
// start with Cred redumps after its own child's change, so the last one
// to finish leaves the daemon as it was.
static pthread_once_t dumpable_once = PTHREAD_ONCE_INIT;
static int dumpable;

static void read_dumpable(void) {
	dumpable = prctl(PR_GET_DUMPABLE);
}

static void redump(void) {
	if (dumpable == 1 && prctl(PR_GET_DUMPABLE) != 1)
		prctl(PR_SET_DUMPABLE, 1);
}

static int vfork_run(void *arg) {
	const struct spawn_attr *a = arg;
	run(&(struct child){.a = a, .status = a->status_fd});
}

// vfork_clone starts vfork_run on the stack of size bytes at base. A child
// on a new stack must not return into a C function, so both calls below
// run vfork_run there themselves. glibc's clone() has no
// CLONE_INTO_CGROUP; legacy clone stores the pidfd of CLONE_PIDFD through
// its parent_tid argument.
static long vfork_clone(const struct spawn_attr *a, char *base, size_t size, int *pidfd) {
	int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD;
#ifdef SPAWN_CLONE3_STACK
	if (a->cgroup_fd >= 0) {
		// clone3 takes the lowest address of the stack and its size,
		// not its top.
		struct spawn_clone_args args = {
			.flags = flags | SPAWN_CLONE_INTO_CGROUP,
			.pidfd = (uintptr_t)pidfd,
			.exit_signal = SIGCHLD,
			.stack = (uintptr_t)base,
			.stack_size = size,
			.cgroup = a->cgroup_fd,
		};
		long pid = spawn_clone3(&args, sizeof args, vfork_run, (void *)a);
		if (pid >= 0)
			return pid;
		// ENOSYS too is the start's error: without clone3 there is no
		// CLONE_INTO_CGROUP, so fork_child could do no better.
		errno = -pid;
		return -1;
	}
#endif
	// Page aligned, so the 16 bytes amd64 and arm64 ask for.
	return clone(vfork_run, base + size, flags | SIGCHLD, (void *)a, pidfd);
}

// vfork_child starts a child that shares the parent's memory and returns
// once it has exec'd or exited.
static long vfork_child(const struct spawn_attr *a, int *pidfd) {
	// A guard page below the stack, so an overflow faults in the child
	// instead of writing over whatever the daemon has mapped there.
	size_t guard = getpagesize();
	char *base = mmap(NULL, guard + CHILD_STACK, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -1;
	if (a->flags & SPAWN_CRED)
		pthread_once(&dumpable_once, read_dumpable);

	long pid = -1;
	if (mprotect(base, guard, PROT_NONE) == 0)
		pid = vfork_clone(a, base + guard, CHILD_STACK, pidfd);

	// The child has exec'd or exited, so its stack is free. It also
	// wrote errno, which is ours: keep only a failure of the clone.
	int err = errno;
	munmap(base, guard + CHILD_STACK);
	if (a->flags & SPAWN_CRED)
		redump();
	errno = err;
	return pid;
}

// vforks reports whether a's child can share the parent's memory.
static int vforks(const struct spawn_attr *a) {
	if (a->flags & SPAWN_FORK)
		return 0;
#ifndef SPAWN_CLONE3_STACK
	if (a->cgroup_fd >= 0)
		return 0;
#endif
	return 1;
}

pid_t spawn_fork(const struct spawn_attr *a, int *pidfd, int *err) {
	// The child must not run a Go signal handler before it has reset
	// them all. glibc leaves its two internal signals open; only glibc
	// sends them, and only to threads of this process.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	*pidfd = -1;
	long pid;
	if (vforks(a)) {
		pid = vfork_child(a, pidfd);
	} else if ((pid = fork_child(a, pidfd)) == 0) {
		run(&(struct child){.a = a, .status = a->status_fd});
	}
	*err = pid < 0 ? errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	// After a plain fork, or on a kernel without CLONE_PIDFD, which
	// ignores the flag. The pid could only name another process if the
	// child had already exited and been reaped, in this short moment.
	if (pid > 0 && *pidfd < 0)
		*pidfd = syscall(SYS_pidfd_open, pid, 0);
	return pid;
}

static int64_t ns_of(const struct timespec *ts) {
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void stamp(int64_t *out) {
	struct timespec r, m;
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	out[0] = ns_of(&r);
	out[1] = ns_of(&m);
}

// exited reports whether pid has ended, reaped or not, without reaping it:
// the daemon's reaper may be waiting for it at the same time.
static int exited(pid_t pid) {
	siginfo_t si = {0};
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return si.si_pid == pid && si.si_code != CLD_TRAPPED && si.si_code != CLD_STOPPED;
}

int spawn_hold(pid_t pid, int64_t timeout_ns) {
	// The child has called execve, which stops it on its way back to
	// user space, usually within microseconds. The stop is not awaited
	// with wait: the daemon's reaper may take the report first, and a
	// second wait would never return. A ptrace request succeeds only on
	// a stopped tracee, so asking for its signal is the test.
	struct timespec pause = {0, 20000};
	int64_t waited = 0;
	siginfo_t si;
	while (ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) < 0) {
		if (errno != ESRCH)
			return errno;
		if (exited(pid))
			return ESRCH;
		if (waited >= timeout_ns)
			return ETIMEDOUT;
		nanosleep(&pause, NULL);
		waited += pause.tv_nsec;
		if (pause.tv_nsec < 1000000)
			pause.tv_nsec *= 2;
	}

	// Only SIGTRAP was unblocked through execve, and execve raises it
	// before any other could be taken.
	if (si.si_signo != SIGTRAP)
		return EPROTO;
	uint64_t none = 0;
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_EXITKILL) < 0 ||
	    ptrace(PTRACE_SETSIGMASK, pid, (void *)KSIGSET_SIZE, &none) < 0)
		return errno;
	return 0;
}

// raise_rt puts the calling thread in the real-time class, where the
// daemon may (root, or an RLIMIT_RTPRIO), and returns whether it did,
// saving the old policy in *policy and *param for lower_rt.
static int raise_rt(int *policy, struct sched_param *param) {
	*policy = sched_getscheduler(0);
	sched_getparam(0, param);
	struct sched_param rt = {.sched_priority = 1};
	return *policy != SCHED_FIFO && *policy != SCHED_RR && sched_setscheduler(0, SCHED_FIFO, &rt) == 0;
}

static void lower_rt(int raised, int policy, const struct sched_param *param) {
	if (raised)
		sched_setscheduler(0, policy, param);
}

// wait_instant waits until the CLOCK_REALTIME instant at passes or efd
// becomes readable, whichever is first, and returns 1 for the instant. An
// instant already past is returned at once, before any work.
static int wait_instant(int efd, int tfd, int64_t at) {
	struct itimerspec its = {.it_value = {at / 1000000000, at % 1000000000}};
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return 1;
	struct pollfd fds[2] = {{.fd = tfd, .events = POLLIN}, {.fd = efd, .events = POLLIN}};
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fds[0].revents)
			return 1;
		uint64_t n;
		if (read(efd, &n, sizeof n) < 0 && errno == EINTR)
			continue;
		return 0;
	}
}

int spawn_release(int efd, int tfd, int64_t at, int64_t quiet_ns, const pid_t *pids, int n,
                  int64_t *woke, int64_t *times, int *errs) {
	// For the wait and the release, this thread runs in the real-time
	// class where it may: its wake-up then preempts ordinary tasks rather
	// than waiting for a CPU behind them, and the children it releases,
	// which are ordinary tasks, cannot preempt it before the last is
	// released. Elsewhere it stays an ordinary thread and is merely
	// later. It leaves the class before it returns to other work, so no
	// child is ever forked in it.
	int policy;
	struct sched_param param;
	int raised = raise_rt(&policy, &param);

	// The wait is on this thread, in C, and so is the release: a wake-up
	// that had to go back through the Go scheduler could wait for a P,
	// and one through an ordinary thread for a CPU.
	if (at > 0 && !wait_instant(efd, tfd, at)) {
		lower_rt(raised, policy, &param);
		return 0;
	}
	stamp(woke);

	// Detaching with signal 0 drops the SIGTRAP of execve: the program
	// starts at its first instruction with nothing pending from us.
	for (int i = 0; i < n; i++) {
		errs[i] = ptrace(PTRACE_DETACH, pids[i], NULL, NULL) < 0 ? errno : 0;
		stamp(&times[2 * i]);
	}
	lower_rt(raised, policy, &param);

	// Back in Go, this thread would wake others of the daemon at once, to
	// report the release, and through them the controller: on a loaded
	// machine that work takes CPUs from the programs just released, which
	// are still starting. It waits here instead, asleep.
	if (quiet_ns > 0) {
		struct timespec ts = {quiet_ns / 1000000000, quiet_ns % 1000000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 1;
}

void spawn_cancel(pid_t pid) {
	siginfo_t si;
	if (ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) == 0)
		kill(pid, SIGKILL);
}
