#define _GNU_SOURCE
// fork + exec for criu and for jobs. Everything between fork and exec is
// async-signal-safe C: no allocation, no Swift runtime.
#include "CSystem.h"
#include <string.h>

/// The kernel's struct sigaction (x86_64), for rt_sigaction(2) directly:
/// glibc's sigaction() refuses the signals it reserves (32, 33), which a
/// caller may still have left ignored.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

int chs_reset_signals(void)
{
    struct kernel_sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

struct child_error {
    int err;
    int step;
};

static const char *const step_names[] = {
    "fork", "signals", "pdeathsig", "setsid", "stdio", "descriptors",
    "no_new_privs", "ambient capabilities", "execveat", "pipe",
};

static void child_fail(int pipe_fd, int step)
{
    struct child_error e = { errno, step };
    ssize_t unused = write(pipe_fd, &e, sizeof e);
    (void)unused;
    _exit(127);
}

pid_t chs_spawn(const struct chs_spawn_attr *a, const char **failed_step)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        if (failed_step) *failed_step = step_names[9];
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(report[0]);
        close(report[1]);
        errno = saved;
        if (failed_step) *failed_step = step_names[0];
        return -1;
    }
    if (pid == 0) {
        int w = report[1];
        if (chs_reset_signals() != 0) child_fail(w, 1);
        if (a->pdeath_signal && prctl(PR_SET_PDEATHSIG, (unsigned long)a->pdeath_signal, 0UL, 0UL, 0UL) != 0)
            child_fail(w, 2);
        if (a->new_session && setsid() < 0) child_fail(w, 3);

        // Targets are 0..2 and 3..3+pass_count-1. Copy every source above
        // that range first (close-on-exec), so that placing one cannot
        // clobber another, then mark everything above it close-on-exec.
        if (a->pass_count < 0 || a->pass_count > 64) { errno = EINVAL; child_fail(w, 5); }
        int floor = 3 + a->pass_count;
        if (w < floor) {
            int nw = fcntl(w, F_DUPFD_CLOEXEC, floor);
            if (nw < 0) child_fail(w, 5);
            w = nw;
        }
        int exec_fd = fcntl(a->exec_fd, F_DUPFD_CLOEXEC, floor);
        if (exec_fd < 0) child_fail(w, 5);
        int std_src[3] = { a->stdin_fd, a->stdout_fd, a->stderr_fd };
        for (int i = 0; i < 3; i++) {
            if (std_src[i] >= 0 && (std_src[i] = fcntl(std_src[i], F_DUPFD_CLOEXEC, floor)) < 0)
                child_fail(w, 4);
        }
        int moved_pass[64];
        for (int i = 0; i < a->pass_count; i++) {
            if ((moved_pass[i] = fcntl(a->pass_fds[i], F_DUPFD_CLOEXEC, floor)) < 0)
                child_fail(w, 5);
        }
        for (int i = 0; i < 3; i++) {
            if (std_src[i] >= 0 && dup2(std_src[i], i) != i) child_fail(w, 4);
        }
        for (int i = 0; i < a->pass_count; i++) {
            if (dup2(moved_pass[i], 3 + i) != 3 + i) child_fail(w, 5);
        }
        // Nothing above the passed range survives exec (the copies, the
        // report pipe and exec_fd itself are closed by execveat).
        if (syscall(SYS_close_range, (unsigned)floor, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) != 0)
            child_fail(w, 5);

        umask(a->umask_value);
        if (a->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0)
            child_fail(w, 6);
        for (int i = 0; i < a->ambient_count; i++) {
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)a->ambient_caps[i], 0UL, 0UL) != 0)
                child_fail(w, 7);
        }
        syscall(SYS_execveat, exec_fd, "", a->argv, a->envp, AT_EMPTY_PATH);
        child_fail(w, 8);
    }
    close(report[1]);
    struct child_error e;
    ssize_t n;
    do {
        n = read(report[0], &e, sizeof e);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof e) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (failed_step) *failed_step = (e.step >= 0 && e.step < 10) ? step_names[e.step] : "unknown";
        errno = e.err;
        return -1;
    }
    return pid;
}
