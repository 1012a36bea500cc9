#define _GNU_SOURCE
// The supervisor: the process that runs criu for a dump, and makes sure
// nothing criu starts outlives it. The Swift side is
// LinuxSystem/CriuSupervisor.swift.
//
// Its steps, in order (each failure is reported with its step):
//   ENTER_MOUNT_NAMESPACE, ENTER_PID_NAMESPACE   setns into the job's
//       namespaces, through descriptors the helper opened and verified
//       (CAP_SYS_ADMIN and CAP_SYS_CHROOT, inherited effective from the helper)
//   SUBREAPER    criu's orphans come back to the supervisor, not to init
//   FORK         criu, set up by spawn.c's chs_child_exec in a session of its
//                own, dying with the supervisor (PR_SET_PDEATHSIG)
//   DROP_CAPABILITIES   the supervisor itself keeps none
// then it reports `started`, waits for criu, kills criu's whole session
// (every process criu forked and left behind holds criu's capability) and
// every orphan, and reports `ended` with criu's wait status.
//
// The supervisor dies with the helper only after cleaning up: the helper's
// death is a SIGTERM to it (PR_SET_PDEATHSIG), which it waits for rather
// than dies of. Inside a job's namespaces, anything of criu's that still
// escapes (the supervisor itself killed) is re-parented to the job's reaper,
// which ends every child holding a capability (reaper.c).
#include "child.h"
#include <sched.h>
#include <time.h>

static void report_started(int fd, int step, int error, int criu)
{
    struct chs_supervisor_started started = { { step, error }, criu };
    (void)chs_write_all(fd, &started, sizeof started);
}

/// SIGKILL to criu's session (every process criu forked stays in it unless
/// it left it), then reaps every child: criu and its orphans, which come
/// here because the supervisor is a subreaper. Waits at most a second for
/// children outside criu's session; those are left to the job's reaper.
static void end_everything(pid_t criu)
{
    kill(-criu, SIGKILL);
    for (int tries = 0; tries < 100; tries++) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {}
        if (pid < 0 && errno == ECHILD) return;
        kill(-criu, SIGKILL);
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
}

static void supervisor_main(const struct chs_supervisor_start *s, pid_t helper) __attribute__((noreturn));
static void supervisor_main(const struct chs_supervisor_start *s, pid_t helper)
{
    // The helper's death becomes a SIGTERM that is waited for, not a kill.
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigprocmask(SIG_BLOCK, &wanted, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0UL, 0UL, 0UL);
    if (getppid() != helper) _exit(1);   // the helper is already gone

    if (s->mount_ns_fd >= 0 && setns(s->mount_ns_fd, CLONE_NEWNS) != 0) {
        report_started(s->report_fd, CHS_STEP_ENTER_MOUNT_NAMESPACE, errno, 0);
        _exit(1);
    }
    if (s->pid_ns_fd >= 0 && setns(s->pid_ns_fd, CLONE_NEWPID) != 0) {
        report_started(s->report_fd, CHS_STEP_ENTER_PID_NAMESPACE, errno, 0);
        _exit(1);
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) != 0) {
        report_started(s->report_fd, CHS_STEP_SUBREAPER, errno, 0);
        _exit(1);
    }
    int setup[2];
    if (pipe2(setup, O_CLOEXEC) != 0) {
        report_started(s->report_fd, CHS_STEP_PIPE, errno, 0);
        _exit(1);
    }
    pid_t criu = fork();
    if (criu < 0) {
        report_started(s->report_fd, CHS_STEP_FORK, errno, 0);
        _exit(1);
    }
    if (criu == 0) {
        close(setup[0]);
        close(s->report_fd);
        chs_child_exec(&s->criu, setup[1]);
    }
    close(setup[1]);
    if (chs_drop_capabilities() != 0) {
        report_started(s->report_fd, CHS_STEP_DROP_CAPABILITIES, errno, 0);
        end_everything(criu);
        _exit(1);
    }
    int keep[2] = { s->report_fd, setup[0] };
    chs_close_all_except(keep, 2);
    struct chs_failure failure = { 0, 0 };
    if (chs_read_all(setup[0], &failure, sizeof failure) == 0) {
        report_started(s->report_fd, failure.step, failure.error, 0);
        end_everything(criu);
        _exit(1);
    }
    close(setup[0]);
    report_started(s->report_fd, 0, 0, criu);

    int criu_status = 0;
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&wanted, &info);
        if (sig == SIGTERM) {
            // The helper is gone (or the caller asked): nobody will commit
            // this dump. criu and everything it started go.
            end_everything(criu);
            _exit(1);
        }
        if (sig != SIGCHLD) continue;
        int status;
        pid_t pid;
        int criu_done = 0;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            if (pid == criu) { criu_status = status; criu_done = 1; }
        if (criu_done) break;
    }
    end_everything(criu);
    struct chs_supervisor_ended ended = { criu_status };
    (void)chs_write_all(s->report_fd, &ended, sizeof ended);
    _exit(0);
}

pid_t chs_supervisor_fork(const struct chs_supervisor_start *start)
{
    pid_t helper = getpid();
    pid_t pid = fork();
    if (pid == 0) supervisor_main(start, helper);
    return pid;
}
