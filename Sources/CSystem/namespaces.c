#define _GNU_SOURCE
// Jobs in their own PID and mount namespaces, and criu run inside them.
//
// criu --unprivileged cannot dump a PID namespace: its parasite needs a
// /proc that belongs to the task's PID namespace, which needs a mount
// namespace, which criu would then have to dump and recreate with
// CAP_SYS_ADMIN from user-written images. So the helper does the namespace
// work itself and criu never sees a namespace boundary: jobs start in a new
// PID + mount namespace whose init is a small reaper (this file); criu dumps
// them from inside those namespaces (setns) and restores them into fresh
// ones. PIDs are then restored exactly without ever clashing with the host.
//
// Everything here runs between clone and exec, or in the reaper, which
// never returns to Swift: async-signal-safe C only.
#include "CSystem.h"
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>

extern char **environ;

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

/// Decimal digits of a non-negative number (snprintf is not async-signal-safe).
static int format_number(char *out, size_t size, long value)
{
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && n < 23);
    if ((size_t)n + 1 > size) return -1;
    for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    out[n] = 0;
    return n;
}

static int read_all(int fd, void *buf, size_t len)
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

/// Drops every capability of the calling thread (raw capset: libcap is not
/// async-signal-safe) and the ambient set.
static int drop_all_capabilities(void)
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) return -1;
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL);
}

/// A terminal on stdio is replaced by /dev/null.
/// The job's stdio, opened by the caller in the host mount namespace, would
/// name a mount criu cannot find inside the job's: regular files and
/// character devices are reopened by path here, and kept only if the path
/// still leads to the same file.
static void reopen_stdio_by_path(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        struct stat before, after;
        if (fstat(fd, &before) != 0) continue;
        // A batch job has no terminal: one would need CAP_SYS_ADMIN to
        // restore and would not exist on another node.
        if (isatty(fd)) {
            int null = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null >= 0) { dup2(null, fd); close(null); }
            continue;
        }
        if (!S_ISREG(before.st_mode) && !S_ISCHR(before.st_mode)) continue;
        char link[32] = "/proc/self/fd/", path[4096];
        if (format_number(link + 14, sizeof link - 14, fd) <= 0) continue;
        ssize_t len = readlink(link, path, sizeof path - 1);
        if (len <= 0 || path[0] != '/') continue;
        path[len] = 0;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0) continue;
        // Output files are appended to: then criu does not insist on the
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

/// Closes every descriptor from 3 up but `keep` and `other` (-1: none).
static void close_all_but(int keep, int other)
{
    int low = keep < other ? keep : other, high = keep < other ? other : keep;
    unsigned from = 3;
    for (int k = 0; k < 2; k++) {
        int fd = k == 0 ? low : high;
        if (fd < 3) continue;
        if ((unsigned)fd > from) syscall(SYS_close_range, from, (unsigned)fd - 1, 0);
        from = (unsigned)fd + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

static void place_descriptors(const struct chs_namespace_attr *a)
{
    int floor = 3 + a->pass_count;
    int std_src[3] = { a->stdin_fd, a->stdout_fd, a->stderr_fd };
    int moved[64];
    for (int i = 0; i < 3; i++)
        if (std_src[i] >= 0) std_src[i] = fcntl(std_src[i], F_DUPFD_CLOEXEC, floor);
    for (int i = 0; i < a->pass_count && i < 64; i++)
        moved[i] = fcntl(a->pass_fds[i], F_DUPFD_CLOEXEC, floor);
    for (int i = 0; i < 3; i++)
        if (std_src[i] >= 0) dup2(std_src[i], i);
    for (int i = 0; i < a->pass_count && i < 64; i++)
        dup2(moved[i], 3 + i);
    syscall(SYS_close_range, (unsigned)floor, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
}

/// The child of the reaper: the job (run) or criu (restore).
static void exec_child(const struct chs_namespace_attr *a)
{
    chs_reset_signals();
    if (a->mode == CHS_NS_RUN) {
        if (setsid() < 0) _exit(127);
        syscall(SYS_close_range, 3U, ~0U, 0);
        // PATH lookup with the caller's PATH, as a shell would.
        environ = (char **)a->envp;
        execvp(a->argv[0], a->argv);
        _exit(errno == ENOENT ? 127 : 126);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
    place_descriptors(a);
    umask(077);
    for (int i = 0; i < a->ambient_count; i++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)a->ambient_caps[i], 0UL, 0UL) != 0) _exit(126);
    syscall(SYS_execveat, a->exec_fd, "", a->argv, a->envp, AT_EMPTY_PATH);
    _exit(127);
}

/// PID 1 of the new namespaces. Never returns.
static void reaper(const struct chs_namespace_attr *a, pid_t helper)
{
    // Until released, the namespace dies with the helper (SIGKILL to PID 1
    // kills every process in it).
    // (getppid() is 0 here: the parent is outside the namespace. Had the
    // helper died before this line, the report below would hit a closed
    // pipe and SIGPIPE would end the reaper.)
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
    (void)helper;
    struct chs_ns_report report = { 0, 0, 0 };

    // A private /proc for the new PID namespace, not propagated back.
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        report.error = errno;
        report.step = 1;
        write_all(a->report_fd, &report, sizeof report);
        _exit(1);
    }
    if (a->last_pid > 0) {
        int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
        char buf[16];
        int n = format_number(buf, sizeof buf, a->last_pid);
        if (fd < 0 || n <= 0 || write(fd, buf, (size_t)n) != n) {
            report.error = errno;
            report.step = 2;
            write_all(a->report_fd, &report, sizeof report);
            _exit(1);
        }
        close(fd);
    }
    if (a->mode == CHS_NS_RUN) {
        reopen_stdio_by_path();
        // The reaper and the job hold nothing from here on.
        // Dumpable again once it holds nothing: setns() by pidfd into these
        // namespaces (to run criu in them) needs ptrace-read access to it.
        if (drop_all_capabilities() != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0 ||
            prctl(PR_SET_DUMPABLE, 1UL, 0UL, 0UL, 0UL) != 0) {
            report.error = errno;
            report.step = 3;
            write_all(a->report_fd, &report, sizeof report);
            _exit(1);
        }
    }
    pid_t child = fork();
    if (child < 0) {
        report.error = errno;
        report.step = 4;
        write_all(a->report_fd, &report, sizeof report);
        _exit(1);
    }
    if (child == 0) {
        close(a->report_fd);
        if (a->control_fd >= 0) close(a->control_fd);
        exec_child(a);
    }
    // The reaper outlives the helper (a detached restore, a job whose `run`
    // is gone) and keeps nothing of the helper's: not the caller's stdio (a
    // `pid=$(criu-helper restore ...)` would wait for the job to end), not
    // the images directory (its lock would refuse every later request), not
    // the audit socket or criu's descriptor. Only its two pipes to the helper.
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        for (int fd = 0; fd <= 2; fd++) dup2(null, fd);
        if (null > 2) close(null);
    }
    close_all_but(a->report_fd, a->control_fd);
    report.child = child;
    write_all(a->report_fd, &report, sizeof report);

    pid_t root = child;
    if (a->mode == CHS_NS_RESTORE) {
        // criu ran; tell the helper how it ended, give up every capability,
        // then wait for the helper's decision about what criu restored.
        int status = 0;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        if (drop_all_capabilities() != 0) _exit(1);
        prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL);
        prctl(PR_SET_DUMPABLE, 1UL, 0UL, 0UL, 0UL);
        int code = exit_code_of(status);
        write_all(a->report_fd, &code, sizeof code);
        struct chs_ns_decision decision;
        if (read_all(a->control_fd, &decision, sizeof decision) != 0 || decision.go == 0)
            _exit(1);
        root = decision.root;
        if (decision.detach) prctl(PR_SET_PDEATHSIG, 0UL, 0UL, 0UL, 0UL);
    }
    close(a->report_fd);
    if (a->control_fd >= 0) close(a->control_fd);

    // Reap every orphan; leave with the job's own status when it ends (the
    // kernel then kills what is left in the namespace).
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            _exit(0);
        }
        if (pid == root) _exit(exit_code_of(status));
    }
}

pid_t chs_start_namespace(const struct chs_namespace_attr *a)
{
    pid_t helper = getpid();
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_NEWPID | CLONE_NEWNS | SIGCHLD), 0UL, 0UL, 0UL, 0UL);
    if (pid < 0) return -1;
    if (pid == 0) reaper(a, helper);
    return pid;
}

pid_t chs_spawn_in_namespaces(int target_pidfd, const struct chs_spawn_attr *attr, const char **failed_step)
{
    // An intermediate child joins the job's namespaces (setns with a pidfd:
    // PID for its children, mount for itself; CAP_SYS_ADMIN and
    // CAP_SYS_CHROOT must be effective, inherited from the helper), then
    // spawns the real child, which is inside them, and relays its status.
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) { if (failed_step) *failed_step = "pipe"; return -1; }
    pid_t middle = fork();
    if (middle < 0) { close(report[0]); close(report[1]); if (failed_step) *failed_step = "fork"; return -1; }
    if (middle == 0) {
        close(report[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
        int err = 0;
        const char *step = NULL;
        if (setns(target_pidfd, CLONE_NEWPID | CLONE_NEWNS) != 0) { err = errno; step = "setns"; }
        pid_t child = -1;
        if (!step) {
            child = chs_spawn(attr, &step);
            if (child < 0) err = errno;
        }
        // Nothing below needs a capability.
        drop_all_capabilities();
        struct { int err; pid_t child; } r = { err, child };
        write_all(report[1], &r, sizeof r);
        close(report[1]);
        if (child < 0) _exit(127);
        int status = 0;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(status)) {
            signal(WTERMSIG(status), SIG_DFL);
            kill(getpid(), WTERMSIG(status));
        }
        _exit(exit_code_of(status));
    }
    close(report[1]);
    struct { int err; pid_t child; } r = { 0, -1 };
    int ok = read_all(report[0], &r, sizeof r);
    close(report[0]);
    if (ok != 0 || r.child < 0) {
        int status;
        while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
        if (failed_step) *failed_step = r.err ? "setns" : "spawn";
        errno = r.err ? r.err : ECHILD;
        return -1;
    }
    return middle;
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
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            if (target_pidfd >= 0) syscall(SYS_pidfd_send_signal, target_pidfd, sig, NULL, 0);
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return result;
}
