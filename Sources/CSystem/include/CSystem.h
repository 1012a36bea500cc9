#ifndef CRIU_HELPER_CSYSTEM_H
#define CRIU_HELPER_CSYSTEM_H
// System calls that glibc 2.36 does not wrap, or that Swift cannot call
// (variadic functions, function-like macros). Swift reaches them only through
// LinuxSystem/Syscalls.swift.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
static inline int chs_close_range(unsigned first, unsigned last) {
    return (int)syscall(SYS_close_range, first, last, 0);
}
static inline int chs_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }
static inline int chs_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
static inline int chs_openat(int dirfd, const char *path, int flags, mode_t mode) { return openat(dirfd, path, flags, mode); }

/// GNU extensions that Swift's Glibc module leaves out (defined in gnu.c,
/// which is compiled with _GNU_SOURCE; this header must not be).
extern const int chs_O_PATH;
extern ssize_t chs_copy_file_range(int from, int to, size_t count);
extern int chs_flock(int fd, int op);
extern int chs_getresuid(uid_t *r, uid_t *e, uid_t *s);
extern int chs_getresgid(gid_t *r, gid_t *e, gid_t *s);
/// Binds and listens on an abstract unix socket `name`: the lock is held
/// while the descriptor is open and released by the kernel when the process
/// dies. When taken, fails with EADDRINUSE and reports the holder's pid and
/// uid (SO_PEERCRED), or uid (unsigned)-1 when it cannot be asked.
extern int chs_pipe_cloexec(int fds[2]);
extern int chs_abstract_lock(const char *name, int *holder_pid, unsigned *holder_uid);

// --- processes --------------------------------------------------------------
static inline int chs_pidfd_open(pid_t pid, unsigned flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}
static inline int chs_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}
static inline int chs_wifexited(int status) { return WIFEXITED(status); }
static inline int chs_wexitstatus(int status) { return WEXITSTATUS(status); }
static inline int chs_wifsignaled(int status) { return WIFSIGNALED(status); }
static inline int chs_wtermsig(int status) { return WTERMSIG(status); }
static inline int chs_wifstopped(int status) { return WIFSTOPPED(status); }

// --- prctl (variadic in C) --------------------------------------------------
static inline int chs_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, (unsigned long)on, 0UL, 0UL, 0UL); }
static inline int chs_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL); }
static inline int chs_set_child_subreaper(int on) { return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)on, 0UL, 0UL, 0UL); }
static inline int chs_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL); }
static inline int chs_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0UL, 0UL, 0UL, 0UL); }

// --- detached tmpfs (new mount API) -----------------------------------------
static inline int chs_fsopen(const char *fsname) { return (int)syscall(SYS_fsopen, fsname, 1 /* FSOPEN_CLOEXEC */); }
static inline int chs_fsconfig_string(int fsfd, const char *key, const char *value) {
    return (int)syscall(SYS_fsconfig, fsfd, 1 /* FSCONFIG_SET_STRING */, key, value, 0);
}
static inline int chs_fsconfig_create(int fsfd) {
    return (int)syscall(SYS_fsconfig, fsfd, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0);
}
static inline int chs_fsmount(int fsfd, unsigned attr) {
    return (int)syscall(SYS_fsmount, fsfd, 1 /* FSMOUNT_CLOEXEC */, attr);
}

// --- signals ------------------------------------------------------------------
/// Every disposition back to SIG_DFL and an empty mask: the caller's signal
/// state must not leak into the helper's waits or into criu.
extern int chs_reset_signals(void);

// --- spawning -----------------------------------------------------------------
struct chs_spawn_attr {
    int exec_fd;                 // O_PATH descriptor of the program (execveat AT_EMPTY_PATH)
    char *const *argv;
    char *const *envp;
    const int *pass_fds;         // placed at 3, 4, ... in the child, in order
    int pass_count;
    const int *ambient_caps;     // raised as ambient (each must be permitted and inheritable)
    int ambient_count;
    int no_new_privs;            // PR_SET_NO_NEW_PRIVS before exec
    int pdeath_signal;           // PR_SET_PDEATHSIG, 0 for none
    int new_session;             // setsid() before exec
    int stdin_fd;                // -1: keep the helper's
    int stdout_fd;
    int stderr_fd;
    mode_t umask_value;
};
/// fork + exec with the child set up as `attr` says. Returns the child's pid,
/// or -1 with errno set. When the child fails before exec, returns -1 and
/// sets errno to the child's error; `failed_step` then names the step.
extern pid_t chs_spawn(const struct chs_spawn_attr *attr, const char **failed_step);


// --- namespaces (namespaces.c) ---------------------------------------------
enum { CHS_NS_RUN = 1, CHS_NS_RESTORE = 2 };
struct chs_namespace_attr {
    int mode;                    // CHS_NS_RUN: exec the job; CHS_NS_RESTORE: exec criu
    int exec_fd;                 // restore: criu, opened O_PATH
    char *const *argv;
    char *const *envp;
    const int *ambient_caps;     // restore: criu's ambient capabilities
    int ambient_count;
    const int *pass_fds;         // restore: placed at 3, 4, ... in criu
    int pass_count;
    int stdin_fd, stdout_fd, stderr_fd;   // restore: criu's stdio (-1: keep)
    int last_pid;                // written to ns_last_pid before the child is forked (0: no)
    int report_fd;               // reaper -> helper: struct chs_ns_report, then (restore) criu's exit code
    int control_fd;              // helper -> reaper (restore): struct chs_ns_decision
};
struct chs_ns_report {
    int error;                   // errno of a failed set-up step, 0 when the child started
    int step;                    // 1 mount, 2 ns_last_pid, 3 drop capabilities, 4 fork
    int child;                   // the child's PID inside the namespace
};
struct chs_ns_decision {
    int go;                      // 0: the reaper exits and the namespace dies
    int root;                    // the restored job's root PID inside the namespace
    int detach;                  // 1: the namespace outlives the helper
};
/// clone(CLONE_NEWPID | CLONE_NEWNS): returns the reaper's PID (outside).
extern pid_t chs_start_namespace(const struct chs_namespace_attr *attr);
/// Spawns `attr` inside the PID and mount namespaces of the process behind
/// `target_pidfd`. Returns an intermediate child whose exit status is the
/// spawned program's.
extern pid_t chs_spawn_in_namespaces(int target_pidfd, const struct chs_spawn_attr *attr, const char **failed_step);
/// Waits up to `timeout_ms` (-1: forever) for `child` to end, forwarding
/// SIGTERM, SIGINT and SIGHUP to `target_pidfd`. 1 when it ended (status set), 0 on timeout.
extern int chs_wait_forwarding(pid_t child, int target_pidfd, long timeout_ms, int *status);

#endif
