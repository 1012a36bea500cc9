#define _GNU_SOURCE
// The reaper: PID 1 of a job's PID and mount namespaces, and its protocol
// with the helper (the Swift side is LinuxSystem/JobReaper.swift).
//
// Why the namespaces: criu --unprivileged cannot dump a PID namespace (its
// parasite needs a /proc of the task's own PID namespace, which means a
// mount namespace criu would have to dump and recreate with CAP_SYS_ADMIN
// from images the user wrote). So the helper makes the namespaces itself:
// `run` starts the job in new ones, `restore` has criu restore into new ones,
// and restored PIDs can never clash with the host's.
//
// The reaper's steps, in order (each failure is reported with its step):
//   MOUNT_PROC   a private /proc for the new PID namespace (CAP_SYS_ADMIN)
//   LAST_PID     ns_last_pid, so that PIDs start where asked (CAP_SYS_ADMIN)
//   LOOPBACK_UP  a private network only: `lo` up in the new network
//                namespace, which gives it 127.0.0.1 and ::1 (CAP_NET_ADMIN;
//                the namespace is owned by the initial user namespace, so
//                neither the caller nor criu can change it afterwards)
//   SESSION      restore only: a session of its own, without a terminal
//   FORK         the child: the job (run) or criu (restore), set up by
//                spawn.c's chs_child_exec
//   DROP_CAPABILITIES   the reaper itself: nothing from here on
// then it reports `started`, and (restore) reports how criu ended and
// carries out the helper's verdict. From then on it reaps orphans, ends
// every child that holds a capability (what a killed criu leaves behind,
// re-parented to PID 1), and exits with the job's root's status, which ends
// the namespace and everything in it.
//
// The reaper stays non-dumpable (it is a clone of the helper): the caller
// cannot ptrace it, so it can never be made to run the caller's code or to
// enter namespaces of the caller's choosing.
#include "child.h"
#include <sched.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>

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

/// 1 when /proc/PID/status (of this namespace's /proc) shows any capability.
static int holds_capabilities(const char *pid)
{
    char path[64] = "/proc/";
    size_t n = 6;
    while (*pid && n < sizeof path - 8) path[n++] = *pid++;
    const char *tail = "/status";
    while (*tail) path[n++] = *tail++;
    path[n] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[4096];
    ssize_t len = read(fd, text, sizeof text - 1);
    close(fd);
    if (len <= 0) return 0;
    text[len] = 0;
    static const char *const keys[] = { "\nCapInh:\t", "\nCapPrm:\t", "\nCapEff:\t", "\nCapAmb:\t" };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t klen = 0;
        while (keys[k][klen]) klen++;
        for (ssize_t i = 0; i + (ssize_t)klen + 16 <= len; i++) {
            size_t j = 0;
            while (j < klen && text[i + j] == keys[k][j]) j++;
            if (j < klen) continue;
            for (size_t d = 0; d < 16; d++)
                if (text[i + klen + d] != '0') return 1;
            break;
        }
    }
    return 0;
}

/// Ends every child of the reaper, other than the job's root, that holds a
/// capability: only criu and what criu forked ever do, and a child of
/// criu's is re-parented here when criu or its parent is killed.
static void end_capable_orphans(pid_t root)
{
    int fd = open("/proc/1/task/1/children", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char text[8192];
    ssize_t len = read(fd, text, sizeof text - 1);
    close(fd);
    if (len <= 0) return;
    text[len] = 0;
    char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\n') p++;
        char *start = p;
        long pid = 0;
        while (*p >= '0' && *p <= '9') pid = pid * 10 + (*p++ - '0');
        if (p == start) break;
        char saved = *p;
        *p = 0;
        if (pid != root && holds_capabilities(start)) kill((pid_t)pid, SIGKILL);
        *p = saved;
    }
}

/// Reaps orphans and polices children until the job's root ends; leaves
/// with the root's status (the kernel then ends the rest of the namespace).
static void reap_until_root_ends(pid_t root) __attribute__((noreturn));
static void reap_until_root_ends(pid_t root)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            if (pid == root) _exit(chs_exit_code(status));
        if (pid < 0 && errno == ECHILD) _exit(0);
        end_capable_orphans(root);
        struct timespec second = { 1, 0 };
        siginfo_t info;
        (void)sigtimedwait(&chld, &info, &second);
    }
}

/// SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP, on `lo`: 0, or -1 with errno.
static int loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int result = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (result == 0) {
        ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
        result = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

static void report_started(int report_fd, int step, int error, int child)
{
    struct chs_reaper_started started = { { step, error }, child };
    (void)chs_write_all(report_fd, &started, sizeof started);
}

static void reaper_main(const struct chs_reaper_start *s) __attribute__((noreturn));
static void reaper_main(const struct chs_reaper_start *s)
{
    // Until the helper's verdict says otherwise, the namespace dies with
    // the helper (SIGKILL to PID 1 ends every process in it). Had the helper
    // died before this line, the report below would hit a closed pipe.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);

    // MOUNT_PROC: a /proc for the new PID namespace, not propagated back.
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        report_started(s->report_fd, CHS_STEP_MOUNT_PROC, errno, 0);
        _exit(1);
    }
    // LAST_PID
    if (s->last_pid > 0) {
        int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
        char digits[16];
        int n = format_number(digits, sizeof digits, s->last_pid);
        if (fd < 0 || n <= 0 || write(fd, digits, (size_t)n) != n) {
            report_started(s->report_fd, CHS_STEP_LAST_PID, errno, 0);
            _exit(1);
        }
        close(fd);
    }

    // LOOPBACK_UP
    if (s->private_network && loopback_up() != 0) {
        report_started(s->report_fd, CHS_STEP_LOOPBACK_UP, errno, 0);
        _exit(1);
    }

    // SESSION (restore): the reaper, criu and what criu restores in a session
    // of their own, without a controlling terminal. A --shell-job root joins
    // criu's session and process group: in the caller's it would have the
    // terminal the restore was run from, and could type into the shell of
    // whoever ran it (TIOCSTI; red team 10). The reaper's own session and
    // group keep that group from being orphaned (and its stopped tasks from
    // being sent SIGHUP) when criu exits.
    if (s->role == CHS_REAPER_RUNS_CRIU && setsid() < 0) {
        report_started(s->report_fd, CHS_STEP_SESSION, errno, 0);
        _exit(1);
    }

    // FORK: the child reports a failed set-up on its own pipe; end of file
    // means it exec'd.
    int setup[2];
    if (pipe2(setup, O_CLOEXEC) != 0) {
        report_started(s->report_fd, CHS_STEP_PIPE, errno, 0);
        _exit(1);
    }
    pid_t child = fork();
    if (child < 0) {
        report_started(s->report_fd, CHS_STEP_FORK, errno, 0);
        _exit(1);
    }
    if (child == 0) {
        close(setup[0]);
        close(s->report_fd);
        if (s->control_fd >= 0) close(s->control_fd);
        // The job reopens its stdio itself, once it holds no capability.
        struct chs_child job = s->child;
        if (s->role == CHS_REAPER_RUNS_JOB) job.reopen_stdio = 1;
        chs_child_exec(&job, setup[1]);
    }
    close(setup[1]);

    // DROP_CAPABILITIES: the reaper needs none from here on.
    if (chs_drop_capabilities() != 0) {
        report_started(s->report_fd, CHS_STEP_DROP_CAPABILITIES, errno, 0);
        kill(child, SIGKILL);
        _exit(1);
    }
    // The reaper outlives the helper (a detached restore, a job whose `run`
    // is gone) and keeps nothing of the helper's: not the caller's stdio (a
    // `pid=$(criu-helper restore ...)` would wait for the job to end), not
    // the images directory (its lock would refuse every later request), not
    // the audit socket or criu's descriptor. Only its pipes to the helper.
    (void)chs_stdio_to_null();
    int keep[3] = { s->report_fd, s->control_fd, setup[0] };
    chs_close_all_except(keep, 3);

    struct chs_failure failure = { 0, 0 };
    if (chs_read_all(setup[0], &failure, sizeof failure) == 0) {
        report_started(s->report_fd, failure.step, failure.error, 0);
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        _exit(1);
    }
    close(setup[0]);
    report_started(s->report_fd, 0, 0, child);

    pid_t root = child;
    if (s->role == CHS_REAPER_RUNS_CRIU) {
        int status = 0;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        struct chs_reaper_criu_ended ended = { chs_exit_code(status) };
        (void)chs_write_all(s->report_fd, &ended, sizeof ended);
        struct chs_reaper_verdict verdict;
        if (chs_read_all(s->control_fd, &verdict, sizeof verdict) != 0 || verdict.verdict != CHS_VERDICT_KEEP)
            _exit(1);
        root = verdict.root;
        if (verdict.detach) prctl(PR_SET_PDEATHSIG, 0UL, 0UL, 0UL, 0UL);
        // Acknowledged only now: the helper may exit once it reads this
        // without taking a detached job down with it.
        struct chs_reaper_kept kept = { 1 };
        (void)chs_write_all(s->report_fd, &kept, sizeof kept);
    }
    close(s->report_fd);
    if (s->control_fd >= 0) close(s->control_fd);
    reap_until_root_ends(root);
}

pid_t chs_reaper_clone(const struct chs_reaper_start *start)
{
    unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | SIGCHLD;
    if (start->private_network) flags |= CLONE_NEWNET;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, 0UL, 0UL, 0UL, 0UL);
    if (pid == 0) reaper_main(start);
    return pid;
}
