#ifndef CRIU_HELPER_CSYSTEM_H
#define CRIU_HELPER_CSYSTEM_H
// The C side of criu-helper: system calls that glibc 2.36 does not wrap or
// that Swift cannot call (variadic functions, function-like macros), and the
// code that must run between fork/clone and exec, where only
// async-signal-safe C may run:
//   spawn.c       the one child set-up every started program goes through
//   reaper.c      PID 1 of a job's namespaces, and its protocol with the helper
//   supervisor.c  the process that runs criu for a dump, and ends what criu leaves
//   leftovers.c   what a criu killed mid-dump leaves in the job's tasks
// Swift reaches all of it only through LinuxSystem/Internals/Syscalls.swift.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/openat2.h>

// --- file descriptors -------------------------------------------------------
static inline int chs_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
static inline int chs_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }
/// fstatfs(2): the file system's magic number in *type.
static inline int chs_fstatfs_type(int fd, uint64_t *type) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return -1;
    *type = (uint64_t)st.f_type;
    return 0;
}

/// GNU extensions that Swift's Glibc module leaves out (glibc_extensions.c,
/// compiled with _GNU_SOURCE; this header must not need it).
extern const int chs_O_PATH;
extern ssize_t chs_copy_file_range(int from, int to, size_t count);
extern int chs_flock(int fd, int op);
extern int chs_getresuid(uid_t *r, uid_t *e, uid_t *s);
extern int chs_getresgid(gid_t *r, gid_t *e, gid_t *s);
extern int chs_pipe_cloexec(int fds[2]);
/// getxattr("security.capability") of an open file (O_PATH is enough):
/// 1 when the file has file capabilities, 0 when not, -1 on error.
extern int chs_has_file_capabilities(int fd);

// --- namespaces (nsfs ioctls, variadic in C) --------------------------------
/// NS_GET_USERNS: a new descriptor of the user namespace that owns `nsfd`.
static inline int chs_ns_owner(int nsfd) { return ioctl(nsfd, (unsigned long)((0xb7 << 8) | 0x1)); }
/// NS_GET_NSTYPE: the CLONE_NEW* constant of `nsfd`'s namespace.
static inline int chs_ns_type(int nsfd) { return ioctl(nsfd, (unsigned long)((0xb7 << 8) | 0x3)); }
enum { CHS_CLONE_NEWNS = 0x00020000, CHS_CLONE_NEWPID = 0x20000000, CHS_CLONE_NEWUSER = 0x10000000,
       CHS_CLONE_NEWNET = 0x40000000 };

// --- processes --------------------------------------------------------------
static inline int chs_pidfd_open(pid_t pid, unsigned flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}
static inline int chs_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}
static inline int chs_wifsignaled(int status) { return WIFSIGNALED(status); }
static inline int chs_wexitstatus(int status) { return WEXITSTATUS(status); }
static inline int chs_wtermsig(int status) { return WTERMSIG(status); }

// --- prctl (variadic in C) --------------------------------------------------
static inline int chs_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL); }
static inline int chs_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0UL, 0UL, 0UL, 0UL); }
static inline int chs_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL); }

// --- detached tmpfs (new mount API) -----------------------------------------
static inline int chs_fsopen(const char *fsname) { return (int)syscall(SYS_fsopen, fsname, 1 /* FSOPEN_CLOEXEC */); }
static inline int chs_fsconfig_string(int fsfd, const char *key, const char *value) {
    return (int)syscall(SYS_fsconfig, fsfd, 1 /* FSCONFIG_SET_STRING */, key, value, 0);
}
static inline int chs_fsconfig_create(int fsfd) {
    return (int)syscall(SYS_fsconfig, fsfd, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0);
}
static inline int chs_fsmount(int fsfd) {
    return (int)syscall(SYS_fsmount, fsfd, 1 /* FSMOUNT_CLOEXEC */, 0);
}

// --- signals ----------------------------------------------------------------
/// Every disposition back to SIG_DFL and an empty mask.
extern int chs_reset_signals(void);

// --- what the caller had before the helper changed it -----------------------
/// The caller's process state as the start-up constructor found it, before
/// it made the helper safe to run (CStartup/startup.c). A job that `run`
/// starts gets it back: its author's umask, ignored signals, signal mask and
/// resource limits, not the helper's.
struct chs_caller_state {
    mode_t umask_value;
    uint64_t ignored_signals;    // bit N-1: signal N was SIG_IGN
    uint64_t blocked_signals;    // bit N-1: signal N was blocked
    int limits_saved;            // 1 when `limits` holds every resource
    struct rlimit limits[16];    // RLIMIT_*, as the caller had them
};

// --- the child set-up (spawn.c) ---------------------------------------------
/// How a child is set up between fork and exec. Every program criu-helper
/// starts (criu, the job) goes through chs_child_exec, step by step, each
/// step checked.
struct chs_child {
    int exec_fd;                 // O_PATH descriptor (execveat AT_EMPTY_PATH); -1: execvp(argv[0]) with envp's PATH
    char *const *argv;
    char *const *envp;
    const int *pass_fds;         // placed at 3, 4, ... in the child, in order
    int pass_count;
    int stdin_fd, stdout_fd, stderr_fd;   // -1: keep the parent's
    const int *ambient_caps;     // raised as ambient just before exec (each permitted and inheritable)
    int ambient_count;
    int drop_capabilities;       // 1: every capability dropped before exec
    int no_new_privs;            // PR_SET_NO_NEW_PRIVS before exec
    int parent_death_signal;     // PR_SET_PDEATHSIG, 0 for none
    int new_session;             // setsid() before exec
    mode_t umask_value;
    int null_stdio;              // bit 0, 1, 2: that descriptor from /dev/null (opened in the child)
    const struct chs_caller_state *caller;   // NULL: signals reset; else the caller's signals, limits and umask
    int reopen_stdio;            // 1: regular files and devices among 0-2 reopened by path, once capabilities are dropped
    int chdir_root;              // 1: chdir("/") before exec
};
/// The steps of chs_child_exec, in order; a failure names its step.
enum chs_child_step {
    CHS_STEP_SIGNALS = 1, CHS_STEP_PARENT_DEATH_SIGNAL, CHS_STEP_SESSION, CHS_STEP_DESCRIPTORS,
    CHS_STEP_LIMITS, CHS_STEP_DROP_CAPABILITIES, CHS_STEP_NO_NEW_PRIVS, CHS_STEP_AMBIENT_CAPABILITIES,
    CHS_STEP_EXEC,
    // Steps of the reaper and the supervisor, reported the same way.
    CHS_STEP_MOUNT_PROC = 20, CHS_STEP_LAST_PID, CHS_STEP_FORK, CHS_STEP_ENTER_MOUNT_NAMESPACE,
    CHS_STEP_ENTER_PID_NAMESPACE, CHS_STEP_SUBREAPER, CHS_STEP_PIPE, CHS_STEP_LOOPBACK_UP,
    CHS_STEP_ENTER_NETWORK_NAMESPACE,
};
/// What went wrong, and where.
struct chs_failure {
    int step;                    // enum chs_child_step, 0 for none
    int error;                   // errno
};
/// Sets the child up as `c` says and execs it. Never returns: on failure it
/// writes a struct chs_failure to `report_fd` (if >= 0) and exits 127.
extern void chs_child_exec(const struct chs_child *c, int report_fd) __attribute__((noreturn));
/// fork + chs_child_exec. The child's pid, or -1 with `failure` set.
extern pid_t chs_spawn(const struct chs_child *c, struct chs_failure *failure);

// --- the reaper: PID 1 of a job's namespaces (reaper.c) -----------------------
enum chs_reaper_role {
    CHS_REAPER_RUNS_JOB = 1,     // `run`: the child is the job
    CHS_REAPER_RUNS_CRIU = 2,    // `restore`: the child is criu, then the restored job
};
struct chs_reaper_start {
    int role;
    struct chs_child child;
    int last_pid;                // written to ns_last_pid before the child is forked (0: not)
    int private_network;         // 1: a network namespace of the job's own too, loopback up
    int report_fd;               // reaper -> helper: the messages below, in order
    int control_fd;              // helper -> reaper (restore): struct chs_reaper_verdict
};
/// 1. Always: the namespace is set up and the child started, or why not.
struct chs_reaper_started {
    struct chs_failure failure;
    int child;                   // the child's PID inside the namespace
};
/// 2. Restore: criu has ended.
struct chs_reaper_criu_ended {
    int exit_code;               // criu's exit code, 128 + signal when killed
};
/// Helper -> reaper, restore: what to do with what criu restored.
enum { CHS_VERDICT_KILL = 0, CHS_VERDICT_KEEP = 1 };
struct chs_reaper_verdict {
    int verdict;
    int root;                    // the restored job's root PID inside the namespace
    int detach;                  // 1: the namespace outlives the helper
};
/// 3. Restore, after CHS_VERDICT_KEEP: the verdict is carried out (the
/// reaper no longer dies with the helper if it was to detach).
struct chs_reaper_kept {
    int ok;
};
/// clone(CLONE_NEWPID | CLONE_NEWNS, and CLONE_NEWNET for a private
/// network): the reaper's PID outside, or -1. CAP_SYS_ADMIN must be
/// effective (new namespaces, mounting /proc, ns_last_pid), and CAP_NET_ADMIN
/// for a private network (its loopback brought up); the reaper gives up
/// every capability once its child is forked.
extern pid_t chs_reaper_clone(const struct chs_reaper_start *start);

// --- the supervisor: criu for a dump (supervisor.c) -------------------------
struct chs_supervisor_start {
    int mount_ns_fd;             // -1: stay in the helper's mount namespace
    int pid_ns_fd;               // -1: stay in the helper's PID namespace
    int net_ns_fd;               // -1: stay in the helper's network namespace
    int job_reaper_pidfd;        // the job's reaper (-1: none): killed when criu
                                 // is killed and leaves its parasite in the job
    struct chs_child criu;
    int report_fd;               // supervisor -> helper: the messages below
};
/// 1. criu started (its PID as the helper numbers it), or why not.
struct chs_supervisor_started {
    struct chs_failure failure;
    int criu;
};
/// 2. criu has ended, and everything it left behind was ended too.
struct chs_supervisor_ended {
    int wait_status;             // criu's, as waitpid reported it
    int job_ended;               // 1: criu's parasite was left in the job, which was ended
};
/// fork: the supervisor's PID, or -1. When namespaces are given,
/// CAP_SYS_ADMIN and CAP_SYS_CHROOT must be effective (setns).
extern pid_t chs_supervisor_fork(const struct chs_supervisor_start *start);

// --- what a killed criu leaves in the job (leftovers.c) ---------------------
enum {
    CHS_CRIU_UNREADABLE = -1,    // PROC/PID/maps could not be opened (gone?)
    CHS_CRIU_NOTHING = 0,
    CHS_CRIU_PARASITE = 1,       // criu's parasite is mapped (/memfd:CRIUMFD)
    CHS_CRIU_SYSCALL_CODE = 2,   // criu's system-call instructions are in its code
    CHS_CRIU_STRANDED_THREAD = 3,// a stopped thread stands outside every executable mapping
};
/// What criu left in task PID, read under PROC (a descriptor of a /proc):
/// each kind makes the task trap or fault as soon as it runs without criu.
extern int chs_criu_left_in_task(int proc, int pid);

// --- waiting ----------------------------------------------------------------
/// Waits up to `timeout_ms` (-1: forever) for `child` to end, forwarding
/// SIGTERM, SIGINT and SIGHUP to `target_pidfd`. 1 when it ended (status set), 0 on timeout.
extern int chs_wait_forwarding(pid_t child, int target_pidfd, long timeout_ms, int *status);

#endif
