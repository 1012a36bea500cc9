#define _GNU_SOURCE
// The one child set-up: every program criu-helper starts — criu on the host,
// criu inside a job's namespaces, criu restoring, the job itself — is set up
// here, between fork and exec, one checked step at a time. Async-signal-safe
// C only: no allocation, no Swift runtime.
#include "child.h"
#include <linux/capability.h>
#include <string.h>
#include <time.h>

extern char **environ;

int chs_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int chs_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int chs_drop_capabilities(void)
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) return -1;
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL);
}

void chs_fail(int report_fd, int step)
{
    struct chs_failure failure = { step, errno };
    if (report_fd >= 0) (void)chs_write_all(report_fd, &failure, sizeof failure);
    _exit(127);
}

int chs_exit_code(int wait_status)
{
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return 255;
}

void chs_close_all_except(const int *keep, int count)
{
    // close_range over the gaps between the kept descriptors, lowest first.
    unsigned from = 3;
    for (;;) {
        int next = -1;
        for (int i = 0; i < count; i++)
            if (keep[i] >= (int)from && (next < 0 || keep[i] < next)) next = keep[i];
        if (next < 0) break;
        if ((unsigned)next > from) syscall(SYS_close_range, from, (unsigned)next - 1, 0);
        from = (unsigned)next + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
}

int chs_stdio_to_null(void)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) return -1;
    for (int fd = 0; fd <= 2; fd++)
        if (dup2(null, fd) != fd) { close(null); return -1; }
    if (null > 2) close(null);
    return 0;
}

/// The kernel's struct sigaction (x86_64), for rt_sigaction(2) directly:
/// glibc's sigaction() refuses the signals it reserves (32, 33), which a
/// caller may still have left ignored.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/// Each disposition to SIG_DFL, or SIG_IGN where `ignored` has its bit; the
/// mask to `blocked`.
static int set_signals(uint64_t ignored, uint64_t blocked)
{
    struct kernel_sigaction action;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        memset(&action, 0, sizeof action);
        action.handler = (ignored >> (sig - 1)) & 1 ? SIG_IGN : SIG_DFL;
        (void)syscall(SYS_rt_sigaction, sig, &action, NULL, sizeof action.mask);
    }
    uint64_t mask = blocked;
    return (int)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof mask);
}

int chs_reset_signals(void) { return set_signals(0, 0); }

/// The job's stdio, opened by the caller in the host mount namespace, would
/// name a mount criu cannot find inside the job's: regular files and
/// character devices are reopened by path, and kept only if the path
/// still leads to the same file. A terminal is replaced by /dev/null: a batch
/// job has none, and restoring one would need CAP_SYS_ADMIN. Called only
/// once the child holds no capability: a file keeps its opener's
/// credentials, and some kernel checks read them later (a PCI device's
/// config space opened with CAP_SYS_ADMIN reads in full forever after).
static void reopen_stdio_by_path(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        struct stat before, after;
        if (fstat(fd, &before) != 0) continue;
        if (isatty(fd)) {
            int null = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null >= 0) { dup2(null, fd); close(null); }
            continue;
        }
        if (!S_ISREG(before.st_mode) && !S_ISCHR(before.st_mode)) continue;
        char link[32] = "/proc/self/fd/", path[4096];
        link[14] = (char)('0' + fd);
        link[15] = 0;
        ssize_t len = readlink(link, path, sizeof path - 1);
        if (len <= 0 || path[0] != '/') continue;
        path[len] = 0;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0) continue;
        // Output files are appended to: criu then does not insist on the
        // file's size at restore, and a restored job keeps appending even if
        // the file grew since the checkpoint (its wrapper wrote to it).
        if (S_ISREG(before.st_mode) && (flags & O_ACCMODE) == O_WRONLY) flags |= O_APPEND;
        int reopened = open(path, (flags & (O_ACCMODE | O_APPEND | O_NONBLOCK)) | O_NOCTTY | O_CLOEXEC);
        if (reopened < 0) continue;
        if (fstat(reopened, &after) == 0 && after.st_dev == before.st_dev && after.st_ino == before.st_ino) {
            off_t pos = lseek(fd, 0, SEEK_CUR);
            if (pos > 0 && !(flags & O_APPEND)) lseek(reopened, pos, SEEK_SET);
            dup2(reopened, fd);
        }
        close(reopened);
    }
}

void chs_child_exec(const struct chs_child *c, int report_fd)
{
    int report = report_fd;
    // Signals: the caller's, or none of anyone's.
    if ((c->caller ? set_signals(c->caller->ignored_signals, c->caller->blocked_signals) : set_signals(0, 0)) != 0)
        chs_fail(report, CHS_STEP_SIGNALS);
    if (c->parent_death_signal && prctl(PR_SET_PDEATHSIG, (unsigned long)c->parent_death_signal, 0UL, 0UL, 0UL) != 0)
        chs_fail(report, CHS_STEP_PARENT_DEATH_SIGNAL);
    if (c->new_session && setsid() < 0) chs_fail(report, CHS_STEP_SESSION);

    // Descriptors: targets are 0..2 and 3..3+pass_count-1. Every source is
    // copied above that range first (close-on-exec), so that placing one
    // cannot clobber another; then everything above the range is marked
    // close-on-exec (the copies, the report pipe, exec_fd itself).
    if (c->pass_count < 0 || c->pass_count > 64) { errno = EINVAL; chs_fail(report, CHS_STEP_DESCRIPTORS); }
    int floor = 3 + c->pass_count;
    if (report >= 0 && report < floor) {
        int moved = fcntl(report, F_DUPFD_CLOEXEC, floor);
        if (moved < 0) chs_fail(report, CHS_STEP_DESCRIPTORS);
        report = moved;
    }
    int exec_fd = -1;
    if (c->exec_fd >= 0 && (exec_fd = fcntl(c->exec_fd, F_DUPFD_CLOEXEC, floor)) < 0)
        chs_fail(report, CHS_STEP_DESCRIPTORS);
    int stdio[3] = { c->stdin_fd, c->stdout_fd, c->stderr_fd };
    for (int i = 0; i < 3; i++)
        if ((c->null_stdio >> i) & 1 && (stdio[i] = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
            chs_fail(report, CHS_STEP_DESCRIPTORS);
    for (int i = 0; i < 3; i++)
        if (stdio[i] >= 0 && (stdio[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, floor)) < 0)
            chs_fail(report, CHS_STEP_DESCRIPTORS);
    int passed[64];
    for (int i = 0; i < c->pass_count; i++)
        if ((passed[i] = fcntl(c->pass_fds[i], F_DUPFD_CLOEXEC, floor)) < 0)
            chs_fail(report, CHS_STEP_DESCRIPTORS);
    for (int i = 0; i < 3; i++)
        if (stdio[i] >= 0 && dup2(stdio[i], i) != i) chs_fail(report, CHS_STEP_DESCRIPTORS);
    for (int i = 0; i < c->pass_count; i++)
        if (dup2(passed[i], 3 + i) != 3 + i) chs_fail(report, CHS_STEP_DESCRIPTORS);
    if (syscall(SYS_close_range, (unsigned)floor, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) != 0)
        chs_fail(report, CHS_STEP_DESCRIPTORS);

    umask(c->umask_value);
    if (c->chdir_root && chdir("/") != 0) chs_fail(report, CHS_STEP_DESCRIPTORS);
    // The caller's own limits (soft ones only go down, which needs no privilege).
    if (c->caller && c->caller->limits_saved) {
        for (int r = 0; r < 16; r++) {
            struct rlimit now;
            if (getrlimit(r, &now) != 0) continue;
            struct rlimit want = c->caller->limits[r];
            if (want.rlim_max > now.rlim_max) want.rlim_max = now.rlim_max;
            if (want.rlim_cur > want.rlim_max) want.rlim_cur = want.rlim_max;
            if (setrlimit(r, &want) != 0) chs_fail(report, CHS_STEP_LIMITS);
        }
    }
    if (c->drop_capabilities && chs_drop_capabilities() != 0) chs_fail(report, CHS_STEP_DROP_CAPABILITIES);
    if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0) chs_fail(report, CHS_STEP_NO_NEW_PRIVS);
    if (c->reopen_stdio) {
        if (!c->drop_capabilities) chs_fail(report, CHS_STEP_DESCRIPTORS);
        reopen_stdio_by_path();
    }
    for (int i = 0; i < c->ambient_count; i++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)c->ambient_caps[i], 0UL, 0UL) != 0)
            chs_fail(report, CHS_STEP_AMBIENT_CAPABILITIES);
    if (exec_fd >= 0) {
        syscall(SYS_execveat, exec_fd, "", c->argv, c->envp, AT_EMPTY_PATH);
    } else {
        // The job: looked up through its own PATH, as a shell would.
        environ = (char **)c->envp;
        execvp(c->argv[0], c->argv);
    }
    chs_fail(report, CHS_STEP_EXEC);
}

pid_t chs_spawn(const struct chs_child *c, struct chs_failure *failure)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        failure->step = CHS_STEP_PIPE;
        failure->error = errno;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        failure->step = CHS_STEP_FORK;
        failure->error = errno;
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        close(report[0]);
        chs_child_exec(c, report[1]);
    }
    close(report[1]);
    // End of file: the exec happened (the pipe is close-on-exec).
    struct chs_failure reported = { 0, 0 };
    int failed = chs_read_all(report[0], &reported, sizeof reported) == 0;
    close(report[0]);
    if (failed) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *failure = reported;
        errno = reported.error;
        return -1;
    }
    failure->step = 0;
    failure->error = 0;
    return pid;
}

int chs_wait_forwarding(pid_t child, int target_pidfd, long timeout_ms, int *status)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int result = 0;
    for (;;) {
        int st;
        pid_t done = waitpid(child, &st, WNOHANG);
        if (done == child) { *status = st; result = 1; break; }
        long left = -1;
        if (timeout_ms >= 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            left = timeout_ms - elapsed;
            if (left <= 0) break;
        }
        struct timespec wait = { left < 0 ? 3600 : left / 1000, left < 0 ? 0 : (left % 1000) * 1000000 };
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &wait);
        if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && target_pidfd >= 0)
            syscall(SYS_pidfd_send_signal, target_pidfd, sig, NULL, 0);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return result;
}
