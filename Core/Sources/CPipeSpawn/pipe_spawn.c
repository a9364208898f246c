// CPipeSpawn: fork/exec and the bridges Swift cannot do itself.
// See pipe_spawn.h for why each function must be C.
#define _GNU_SOURCE
#include "pipe_spawn.h"

#include <malloc.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/openat2.h>

/* Capacity asked for a command's stdout pipe (see pipe_spawn). */
#define PIPE_SPAWN_STDOUT_PIPE_BYTES (1 << 20)
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <sys/xattr.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

#define PIPE_MAX_CAP 63

/// What the child writes to the error pipe before _exit: the stage and errno.
struct pipe_child_error {
    int stage;
    int error;
};

/// Async-signal-safe: reports a failure to the parent and exits the child.
/// Must be C: runs between fork and exec.
static void pipe_child_fail(int errfd, int stage, int error) {
    struct pipe_child_error report = { stage, error };
    ssize_t n;
    do {
        n = write(errfd, &report, sizeof report);
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

/// Moves a descriptor to 3 or above (close-on-exec) so dup2 onto 0, 1, 2
/// cannot clobber it, and dup2(fd, fd) cannot leave CLOEXEC set on stdio.
/// Must be C: runs between fork and exec.
static int pipe_move_high(int fd) {
    if (fd >= 3) return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int pipe_close_range(unsigned int first, unsigned int last) {
    if (first > last) return 0;
    if (close_range(first, last, 0) == 0) return 0;
    if (errno != ENOSYS && errno != EINVAL) return -1;
    struct rlimit limit;
    unsigned int top = 65536;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < top)
        top = (unsigned int)limit.rlim_cur;
    if (last >= top) last = top - 1;
    for (unsigned int fd = first; fd <= last; fd++) {
        close((int)fd);
    }
    return 0;
}

/// The kernel's struct sigaction for rt_sigaction(2) on x86_64 and most
/// other architectures (glibc's struct differs in layout).
struct pipe_kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/// Sets every signal's disposition to SIG_DFL with the raw rt_sigaction
/// system call. Must be C, and must bypass glibc: glibc's sigaction refuses
/// its reserved real-time signals 32 and 33, so an ignored 32 inherited from
/// the agent's runtime would otherwise survive exec. Errors (SIGKILL,
/// SIGSTOP) are expected and ignored. Runs between fork and exec.
static void pipe_child_reset_dispositions(void) {
    struct pipe_kernel_sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.handler = SIG_DFL;
    for (int sig = 1; sig <= 64; sig++) {
        (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    }
}

/// Whether `cap` is in the request's list. Must be C: runs between fork and exec.
static int pipe_has_cap(const struct pipe_spawn_request *req, int cap) {
    for (size_t i = 0; i < req->ncaps; i++) {
        if (req->caps[i] == cap) return 1;
    }
    return 0;
}

/// Writes the calling process's pid in decimal to a cgroup.procs file,
/// which moves it (and everything it will start) into that cgroup.
/// Must be C: runs between fork and exec (no printf: async-signal-safe only).
static int pipe_join_cgroup(int fd) {
    char digits[16];
    char text[17];
    unsigned long value = (unsigned long)getpid();
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0 && n < (int)sizeof digits);
    for (int i = 0; i < n; i++) text[i] = digits[n - 1 - i];
    text[n] = '\n';
    ssize_t written;
    do {
        written = write(fd, text, (size_t)n + 1);
    } while (written < 0 && errno == EINTR);
    return written == n + 1 ? 0 : -1;
}

/// The child between fork and exec. Never returns.
/// Must be C: only async-signal-safe calls are allowed here.
static void pipe_child(const struct pipe_spawn_request *req, pid_t parent,
                       int out_w, int err_w, int errfd) {
    if (setsid() < 0) pipe_child_fail(errfd, PIPE_STAGE_SETSID, errno);
    // Join the run's cgroups first, while still root and before anything
    // runs: every process the command starts is then accounted to the run.
    for (size_t i = 0; i < req->ncgroup_fds; i++) {
        if (pipe_join_cgroup(req->cgroup_fds[i]) < 0) pipe_child_fail(errfd, PIPE_STAGE_CGROUP, errno);
    }

    // The parent blocked every signal around fork so that no handler of the
    // agent can run here. Reset dispositions first, then unmask.
    pipe_child_reset_dispositions();
    sigset_t empty;
    sigemptyset(&empty);
    if (sigprocmask(SIG_SETMASK, &empty, NULL) < 0) pipe_child_fail(errfd, PIPE_STAGE_SIGNALS, errno);

    int moved = pipe_move_high(errfd);
    if (moved < 0) pipe_child_fail(errfd, PIPE_STAGE_DUP, errno);
    errfd = moved;
    if ((out_w = pipe_move_high(out_w)) < 0) pipe_child_fail(errfd, PIPE_STAGE_DUP, errno);
    if ((err_w = pipe_move_high(err_w)) < 0) pipe_child_fail(errfd, PIPE_STAGE_DUP, errno);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || (devnull = pipe_move_high(devnull)) < 0) pipe_child_fail(errfd, PIPE_STAGE_STDIN, errno);
    if (dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
        pipe_child_fail(errfd, PIPE_STAGE_DUP, errno);
    // The file to execute, checked by the parent, moved next to the error
    // pipe so that one close_range spares both.
    int exec_fd = -1;
    if (req->exec_fd >= 0) {
        exec_fd = fcntl(req->exec_fd, F_DUPFD_CLOEXEC, errfd + 1);
        if (exec_fd < 0) pipe_child_fail(errfd, PIPE_STAGE_DUP, errno);
    }
    // Everything else goes, except the error pipe (close-on-exec itself)
    // and the file to execute.
    int keep_last = exec_fd >= 0 ? exec_fd : errfd;
    if (pipe_close_range(3, (unsigned int)errfd - 1) < 0 ||
        (exec_fd > errfd + 1 && pipe_close_range((unsigned int)errfd + 1, (unsigned int)exec_fd - 1) < 0) ||
        pipe_close_range((unsigned int)keep_last + 1, ~0U) < 0)
        pipe_child_fail(errfd, PIPE_STAGE_CLOSE, errno);
    if (exec_fd >= 0 && req->exec_fd_keep_open && fcntl(exec_fd, F_SETFD, 0) < 0)
        pipe_child_fail(errfd, PIPE_STAGE_DUP, errno);

    if (req->has_caps) {
        for (size_t i = 0; i < req->ncaps; i++) {
            if (req->caps[i] < 0 || req->caps[i] > PIPE_MAX_CAP) pipe_child_fail(errfd, PIPE_STAGE_CAPABILITIES, EINVAL);
        }
        // While still privileged: nothing outside the list can ever come
        // back, not even through a setuid or file-capability binary.
        for (int cap = 0; cap <= PIPE_MAX_CAP; cap++) {
            if (pipe_has_cap(req, cap)) continue;
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                if (errno == EINVAL) break;  // past the kernel's last capability
                pipe_child_fail(errfd, PIPE_STAGE_BOUNDING, errno);
            }
        }
        if (req->change_credentials && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
            pipe_child_fail(errfd, PIPE_STAGE_KEEPCAPS, errno);
    }

    if (req->change_credentials) {
        if (setgroups(req->ngroups, req->groups) < 0) pipe_child_fail(errfd, PIPE_STAGE_SETGROUPS, errno);
        if (setgid(req->gid) < 0) pipe_child_fail(errfd, PIPE_STAGE_SETGID, errno);
        if (setuid(req->uid) < 0) pipe_child_fail(errfd, PIPE_STAGE_SETUID, errno);
        if (getuid() != req->uid || geteuid() != req->uid || getgid() != req->gid || getegid() != req->gid)
            pipe_child_fail(errfd, PIPE_STAGE_VERIFY, EPERM);
        // A kept CAP_SETUID legitimately allows going back; then the probe
        // would succeed and prove nothing.
        if (req->uid != 0 && !(req->has_caps && pipe_has_cap(req, CAP_SETUID))) {
            if (setuid(0) == 0) pipe_child_fail(errfd, PIPE_STAGE_VERIFY, EPERM);
        }
    }

    if (req->has_caps) {
        struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        for (size_t i = 0; i < req->ncaps; i++) {
            int cap = req->caps[i];
            __u32 bit = (__u32)1 << (cap % 32);
            data[cap / 32].permitted |= bit;
            data[cap / 32].effective |= bit;
            data[cap / 32].inheritable |= bit;
        }
        if (syscall(SYS_capset, &header, data) < 0) pipe_child_fail(errfd, PIPE_STAGE_CAPSET, errno);
        // Ambient capabilities are what survive execve of an ordinary
        // (non-setuid, no file capabilities) binary as a non-root user.
        for (size_t i = 0; i < req->ncaps; i++) {
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, req->caps[i], 0, 0) < 0)
                pipe_child_fail(errfd, PIPE_STAGE_AMBIENT, errno);
        }
    }

    if (req->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        pipe_child_fail(errfd, PIPE_STAGE_NO_NEW_PRIVS, errno);

    // After the credential change, which clears the death signal.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) pipe_child_fail(errfd, PIPE_STAGE_PDEATHSIG, errno);
    // The agent may have died before the line above: then nobody would kill us.
    if (getppid() != parent) _exit(127);

    if (chdir(req->cwd) < 0) pipe_child_fail(errfd, PIPE_STAGE_CHDIR, errno);

    if (exec_fd >= 0) {
        // What runs is the very file the agent checked (its pin), whatever
        // the path now names.
        execveat(exec_fd, "", req->argv, req->envp, AT_EMPTY_PATH);
    } else {
        execve(req->path, req->argv, req->envp);
    }
    pipe_child_fail(errfd, PIPE_STAGE_EXEC, errno);
}

/// Closes a descriptor if it is open, keeping errno. Parent-side helper.
static void pipe_close_quietly(int fd) {
    int saved = errno;
    if (fd >= 0) close(fd);
    errno = saved;
}

int pipe_spawn(const struct pipe_spawn_request *req, struct pipe_spawn_result *res) {
    int out[2] = { -1, -1 }, err[2] = { -1, -1 }, report[2] = { -1, -1 };
    res->pid = -1;
    res->stdout_fd = -1;
    res->stderr_fd = -1;
    res->stage = PIPE_STAGE_NONE;
    res->error = 0;

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
        res->stage = PIPE_STAGE_PIPE;
        res->error = errno;
        goto fail_close;
    }
    /*
     * A fast command outruns the agent whenever the agent is busy answering a
     * fetch: with the default 64 KiB pipe a command printing millions of lines
     * a second stalls within a millisecond or two.  1 MiB (the kernel's
     * default pipe-max-size) absorbs that; pages are only used while data is
     * waiting.  Best effort: a smaller pipe still works.
     */
    (void)fcntl(out[0], F_SETPIPE_SZ, PIPE_SPAWN_STDOUT_PIPE_BYTES);

    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        pipe_close_quietly(out[0]);
        pipe_close_quietly(err[0]);
        pipe_close_quietly(report[0]);
        pipe_child(req, parent, out[1], err[1], report[1]);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0) {
        res->stage = PIPE_STAGE_FORK;
        res->error = fork_errno;
        goto fail_close;
    }

    close(out[1]);
    close(err[1]);
    close(report[1]);
    out[1] = err[1] = report[1] = -1;

    // EOF means execve succeeded (the close-on-exec write end went away).
    struct pipe_child_error child_error;
    size_t got = 0;
    while (got < sizeof child_error) {
        ssize_t n = read(report[0], (char *)&child_error + got, sizeof child_error - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(report[0]);
    report[0] = -1;

    if (got == sizeof child_error) {
        res->stage = child_error.stage;
        res->error = child_error.error;
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        goto fail_close;
    }
    if (got != 0) {
        // A torn report cannot happen for 8 bytes on a pipe; treat as exec failure.
        res->stage = PIPE_STAGE_EXEC;
        res->error = EIO;
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        goto fail_close;
    }

    if (fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(err[0], F_SETFL, fcntl(err[0], F_GETFL) | O_NONBLOCK) < 0) {
        // Cannot happen on a fresh pipe; the child is running, so hand it
        // over anyway rather than orphan it.
    }
    res->pid = pid;
    res->stdout_fd = out[0];
    res->stderr_fd = err[0];
    return 0;

fail_close:
    for (int i = 0; i < 2; i++) {
        pipe_close_quietly(out[i]);
        pipe_close_quietly(err[i]);
        pipe_close_quietly(report[i]);
    }
    return -1;
}

/// Builds a sigset from a list. Must be C: sigemptyset/sigaddset.
static int pipe_build_set(sigset_t *set, const int *signals, size_t count) {
    sigemptyset(set);
    for (size_t i = 0; i < count; i++) {
        if (sigaddset(set, signals[i]) < 0) return -1;
    }
    return 0;
}

int pipe_signalfd_open(const int *signals, size_t count) {
    sigset_t set;
    if (pipe_build_set(&set, signals, count) < 0) return -1;
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

size_t pipe_signalfd_drain(int fd, int *signals, size_t capacity) {
    size_t count = 0;
    for (;;) {
        struct signalfd_siginfo info;
        ssize_t n = read(fd, &info, sizeof info);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof info) break;  // EAGAIN: nothing left
        if (count < capacity) signals[count++] = (int)info.ssi_signo;
    }
    return count;
}

int pipe_sigmask(int how, const int *signals, size_t count) {
    sigset_t set;
    if (pipe_build_set(&set, signals, count) < 0) return -1;
    int mode = how == 0 ? SIG_BLOCK : how == 1 ? SIG_UNBLOCK : SIG_SETMASK;
    int rc = pthread_sigmask(mode, &set, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

int pipe_signal_disposition(int signal, int ignore) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = ignore ? SIG_IGN : SIG_DFL;
    sigemptyset(&action.sa_mask);
    return sigaction(signal, &action, NULL);
}

int pipe_become_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int pipe_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int pipe_wexitstatus(int status) { return WEXITSTATUS(status); }
int pipe_wifsignaled(int status) { return WIFSIGNALED(status); }
int pipe_wtermsig(int status) { return WTERMSIG(status); }

int pipe_malloc_trim(void)
{
    return malloc_trim(0);
}

int pipe_malloc_thresholds(int mmap_threshold, int trim_threshold)
{
    int mmap_set = mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    int trim_set = mallopt(M_TRIM_THRESHOLD, trim_threshold);
    return mmap_set == 1 && trim_set == 1;
}

/* Written only by pipe_record_handler, read by pipe_recorded_signal. */
static volatile sig_atomic_t pipe_recorded;

static void pipe_record_handler(int signal)
{
    pipe_recorded = signal;
}

int pipe_record_signals(const int *signals, size_t count)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = pipe_record_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;   /* no SA_RESTART: interrupted calls return EINTR */
    for (size_t i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) < 0) return -1;
    }
    return pipe_sigmask(1, signals, count);
}

int pipe_recorded_signal(void)
{
    return pipe_recorded;
}

int pipe_openat2_beneath(int dirfd, const char *path)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int pipe_open_directory_path(const char *path)
{
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int pipe_open_path(const char *path)
{
    return open(path, O_PATH | O_CLOEXEC);
}

int pipe_has_access_acl(const char *path)
{
    if (lgetxattr(path, "system.posix_acl_access", NULL, 0) >= 0)
        return 1;
    return (errno == ENODATA || errno == ENOTSUP) ? 0 : 1;
}

int pipe_eventfd(int nonblocking)
{
    return eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0));
}

int pipe_block_all_signals(void)
{
    sigset_t all;
    sigfillset(&all);
    return pthread_sigmask(SIG_BLOCK, &all, NULL) == 0 ? 0 : -1;
}
