// CPipeSpawn: the few things the agent cannot do from Swift.
//
// Everything between fork() and execve() lives here: after fork() in a
// multithreaded process only async-signal-safe calls are allowed, and Swift
// code (which may allocate, take runtime locks or retain objects) must not
// run. The rest are bridges for macros and calls that Swift imports badly.
// Every symbol has the prefix `pipe_`.
#ifndef PIPE_SPAWN_H
#define PIPE_SPAWN_H

#include <sys/types.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Where in the child (or in the parent, before fork) a spawn failed.
/// The Swift side turns a stage plus the request into a message such as
/// "setuid(1000)" or "exec /usr/bin/nope".
enum pipe_spawn_stage {
    PIPE_STAGE_NONE = 0,
    PIPE_STAGE_PIPE,          // parent: pipe2
    PIPE_STAGE_FORK,          // parent: fork
    PIPE_STAGE_SETSID,
    PIPE_STAGE_CGROUP,        // writing our pid into a cgroup.procs
    PIPE_STAGE_SIGNALS,       // resetting dispositions / mask
    PIPE_STAGE_STDIN,         // opening /dev/null
    PIPE_STAGE_DUP,           // dup2 onto 0, 1, 2
    PIPE_STAGE_CLOSE,         // closing every other descriptor
    PIPE_STAGE_CAPABILITIES,  // a capability number out of range
    PIPE_STAGE_BOUNDING,      // PR_CAPBSET_DROP
    PIPE_STAGE_KEEPCAPS,      // PR_SET_KEEPCAPS
    PIPE_STAGE_SETGROUPS,
    PIPE_STAGE_SETGID,
    PIPE_STAGE_SETUID,
    PIPE_STAGE_VERIFY,        // the uid/gid change did not stick
    PIPE_STAGE_CAPSET,
    PIPE_STAGE_AMBIENT,       // PR_CAP_AMBIENT_RAISE
    PIPE_STAGE_NO_NEW_PRIVS,
    PIPE_STAGE_PDEATHSIG,
    PIPE_STAGE_CHDIR,
    PIPE_STAGE_EXEC,
};

/// What to run and as whom. All pointers must stay valid for the call.
struct pipe_spawn_request {
    const char *path;                 // absolute path of the executable
    char *const *argv;                // NULL-terminated, argv[0] included
    char *const *envp;                // NULL-terminated; the whole environment
    const char *cwd;                  // chdir target, done as the new user
    uid_t uid;
    gid_t gid;
    const gid_t *groups;              // supplementary groups
    size_t ngroups;
    int change_credentials;           // 0: keep the caller's uid/gid/groups
    const int *caps;                  // capabilities to keep (when has_caps)
    size_t ncaps;
    int has_caps;                     // 0: plain setuid semantics
    int no_new_privs;                 // PR_SET_NO_NEW_PRIVS
    int exec_fd;                      // >= 0: execute this open file (execveat
                                      // AT_EMPTY_PATH) instead of `path`
    int exec_fd_keep_open;            // the file is a script: its interpreter
                                      // reads it through /dev/fd, so the
                                      // descriptor must survive exec
    const int *cgroup_fds;            // cgroup.procs files to join (write
    size_t ncgroup_fds;               // our pid) before dropping privileges
};

/// What happened. On success stage is PIPE_STAGE_NONE, pid is the child
/// (also its session and process group id) and stdout_fd / stderr_fd are the
/// parent's read ends, O_CLOEXEC | O_NONBLOCK. On failure no descriptor is
/// left open and the child, if one was forked, has been reaped.
struct pipe_spawn_result {
    pid_t pid;
    int stdout_fd;
    int stderr_fd;
    int stage;                        // enum pipe_spawn_stage
    int error;                        // errno at that stage
};

/// fork + (setsid, signal reset, stdio, close fds, credentials, capabilities,
/// no_new_privs, PDEATHSIG, chdir) + execve.
/// Must be C: nothing but async-signal-safe calls may run between fork and
/// exec, and the child must report failures through a pipe before _exit.
/// Returns 0 on success, -1 with res->stage / res->error set on failure.
int pipe_spawn(const struct pipe_spawn_request *req, struct pipe_spawn_result *res);

/// Blocks `signals` in the calling thread and returns a nonblocking,
/// close-on-exec signalfd for them, or -1 with errno set.
/// Must be C: signalfd(2) and its SFD_* flags come from <sys/signalfd.h>,
/// which Swift's Glibc module does not include.
int pipe_signalfd_open(const int *signals, size_t count);

/// Reads every pending siginfo from a signalfd; stores up to `capacity`
/// signal numbers, returns how many (0 when nothing was pending).
/// Must be C: struct signalfd_siginfo comes from <sys/signalfd.h>.
size_t pipe_signalfd_drain(int fd, int *signals, size_t capacity);

/// Sets the calling thread's signal mask: `how` is 0 = block, 1 = unblock,
/// 2 = set exactly. Returns 0 or -1 with errno.
/// C by choice, not a must (Swift's Glibc module imports pthread_sigmask
/// and the sigset functions): the set is built by the same code as the one
/// pipe_signalfd_open blocks, so the agent's mask and its signalfd agree.
int pipe_sigmask(int how, const int *signals, size_t count);

/// Sets a signal's disposition to SIG_IGN (ignore != 0) or SIG_DFL.
/// C by choice, not a must (on glibc Swift imports sigaction, SIG_IGN and
/// SIG_DFL): every sigaction(2) of the project is then written against C's
/// struct sigaction, whose handler field Swift spells per C library
/// (`__sigaction_handler.sa_handler` on glibc).
int pipe_signal_disposition(int signal, int ignore);

/// prctl(PR_SET_CHILD_SUBREAPER, 1). Must be C: prctl is variadic.
int pipe_become_subreaper(void);

/// close_range(first, last, 0), falling back to a close() loop up to the
/// descriptor limit when the kernel lacks it. Returns 0 or -1 with errno.
/// Must be C: close_range's header constants and the fallback are kernel ABI.
int pipe_close_range(unsigned int first, unsigned int last);

/// pipe2(fds, O_CLOEXEC). Returns 0 or -1 with errno.
/// Must be C: glibc declares pipe2 only under _GNU_SOURCE, which Swift's
/// Glibc module does not see.
int pipe_pipe_cloexec(int fds[2]);

/// waitpid status decoding. Must be C: WIFEXITED and friends are macros.
int pipe_wexitstatus(int status);
int pipe_wifsignaled(int status);
int pipe_wtermsig(int status);

/// Opens `path` relative to the directory `dirfd` with O_PATH | O_CLOEXEC,
/// refusing any resolution that leaves that directory (a `..` above it, an
/// absolute symlink, a relative one pointing out of it: RESOLVE_BENEATH)
/// and /proc's magic links (RESOLVE_NO_MAGICLINKS). Returns the descriptor
/// or -1 with errno (EXDEV: it would leave the directory; ENOSYS: the
/// kernel is older than 5.6).
/// Must be C: openat2(2) has no glibc wrapper and its struct open_how comes
/// from <linux/openat2.h>.
int pipe_openat2_beneath(int dirfd, const char *path);

/// open(path, O_PATH | O_DIRECTORY | O_CLOEXEC): a descriptor naming a
/// directory, for `pipe_openat2_beneath`. Returns it or -1 with errno.
/// Must be C: glibc defines O_PATH only under _GNU_SOURCE.
int pipe_open_directory_path(const char *path);

/// open(path, O_PATH | O_CLOEXEC): a descriptor naming whatever `path`
/// resolves to without opening it (a FIFO does not block, a device is not
/// opened). Returns it or -1 with errno.
int pipe_open_path(const char *path);

/// Whether `path` (not followed if a link) carries a POSIX access ACL: 1 if
/// lgetxattr finds system.posix_acl_access or fails for another reason than
/// "no such attribute" or "not supported" (so an unanswered question counts
/// as yes), 0 otherwise.
/// Must be C: <sys/xattr.h> is not part of Swift's Glibc module.
int pipe_has_access_acl(const char *path);

/// eventfd(0, EFD_CLOEXEC [| EFD_NONBLOCK]): a counter one thread signals
/// and another waits for (or polls). Returns the descriptor or -1 with errno.
/// Must be C: <sys/eventfd.h> is not part of Swift's Glibc module.
int pipe_eventfd(int nonblocking);

/// Blocks every signal in the calling thread (worker threads: signals
/// belong to the agent's main thread and its signalfd). Returns 0 or -1.
/// C by choice, not a must (Swift imports sigfillset and pthread_sigmask):
/// beside the other signal-mask functions.
int pipe_block_all_signals(void);

/// malloc_trim(0): return free heap pages to the system. Returns 1 if memory
/// was released. Must be C: <malloc.h> is not part of Swift's Glibc module.
int pipe_malloc_trim(void);

/// mallopt(M_MMAP_THRESHOLD, mmap_threshold) and
/// mallopt(M_TRIM_THRESHOLD, trim_threshold). Returns 1 when both were taken.
/// Must be C: mallopt and its M_* parameters are in <malloc.h>, which is not
/// part of Swift's Glibc module.
int pipe_malloc_thresholds(int mmap_threshold, int trim_threshold);

/// Installs, for each of `signals`, a handler that stores the signal's
/// number where pipe_recorded_signal reads it (the latest wins), without
/// SA_RESTART, so that a blocking call the signal interrupts fails with
/// EINTR; then unblocks `signals` in the calling thread. Returns 0 or -1
/// with errno.
/// Must be C: the handler runs asynchronously, between any two
/// instructions of the program, and may only do async-signal-safe work. C
/// defines that for a store to a volatile sig_atomic_t; Swift promises it
/// for no code (even reading a global may run its one-time initialiser,
/// which takes a lock).
int pipe_record_signals(const int *signals, size_t count);

/// The signal pipe_record_signals' handler recorded last, or 0.
/// Must be C: it reads the handler's volatile sig_atomic_t, which Swift
/// cannot declare.
int pipe_recorded_signal(void);

#ifdef __cplusplus
}
#endif

#endif
