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
//                (its own children list is opened first, in the host's /proc)
//   FORK         criu, set up by spawn.c's chs_child_exec in a session of its
//                own, dying with the supervisor (PR_SET_PDEATHSIG)
//   DROP_CAPABILITIES   the supervisor itself keeps none
// then it reports `started`, waits for criu, kills criu's whole session
// (every process criu forked and left behind holds criu's capability) and
// every orphan, and reports `ended` with criu's wait status. When criu did
// not end by itself (killed, or the helper died) and left its parasite or its
// system-call instructions in the job (leftovers.c), the job is ended too: it
// would die of SIGTRAP or never dump again.
//
// The supervisor dies with the helper only after cleaning up: the helper's
// death is a SIGTERM to it (PR_SET_PDEATHSIG), which it waits for rather
// than dies of. Inside a job's namespaces, anything of criu's that still
// escapes (the supervisor itself killed) is re-parented to the job's reaper,
// which ends every child holding a capability (reaper.c).
#include "child.h"
#include <dirent.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <time.h>

static void report_started(int fd, int step, int error, int criu)
{
    struct chs_supervisor_started started = { { step, error }, criu };
    (void)chs_write_all(fd, &started, sizeof started);
}

/// Its own children, as the host's /proc lists them: opened before setns()
/// (inside the job's mount namespace /proc is the job's, where the
/// supervisor itself does not appear).
static int children_fd = -1;

/// SIGKILL to every child listed in /proc/thread-self/children.
static void kill_children(void)
{
    if (children_fd < 0) return;
    char text[8192];
    if (lseek(children_fd, 0, SEEK_SET) != 0) return;
    ssize_t len = read(children_fd, text, sizeof text - 1);
    if (len <= 0) return;
    text[len] = 0;
    char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\n') p++;
        long pid = 0;
        char *start = p;
        while (*p >= '0' && *p <= '9') pid = pid * 10 + (*p++ - '0');
        if (p == start) break;
        if (pid > 1) kill((pid_t)pid, SIGKILL);
    }
}

/// SIGKILL to criu's session (every process criu forked stays in it unless
/// it left it) and to every other child — criu's orphans come here, the
/// supervisor being a subreaper — then reaps them all, for at most a second.
static void end_everything(pid_t criu)
{
    for (int tries = 0; tries < 100; tries++) {
        kill(-criu, SIGKILL);
        kill_children();
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {}
        if (pid < 0 && errno == ECHILD) return;
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
}

/// A task of the job holds what criu leaves when it is killed mid-dump (its
/// parasite, or its system-call instructions: leftovers.c). Such a job dies
/// of SIGTRAP or can never be dumped again. Read in the job's own /proc (the
/// supervisor is in the job's mount namespace by then).
static int criu_left_in_job(void)
{
    int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0) return 0;
    DIR *proc = fdopendir(dup(proc_fd));
    if (!proc) { close(proc_fd); return 0; }
    int found = 0;
    struct dirent *entry;
    while (!found && (entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
        found = chs_criu_left_in_task(proc_fd, atoi(entry->d_name)) > 0;
    }
    closedir(proc);
    close(proc_fd);
    return found;
}

/// The job is ended (SIGKILL to its reaper ends every task in its
/// namespaces) rather than left to crash when criu, killed, left its work in
/// it: `before` is what the job held just before criu was killed (once criu
/// is gone, a task with its instructions traps at once and is gone too),
/// and it is looked at again afterwards. 1 when it was ended.
static int end_job_if_criu_left(const struct chs_supervisor_start *s, int before)
{
    if (s->job_reaper_pidfd < 0 || !(before || criu_left_in_job())) return 0;
    syscall(SYS_pidfd_send_signal, s->job_reaper_pidfd, SIGKILL, NULL, 0);
    return 1;
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
    children_fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);

    if (s->mount_ns_fd >= 0 && setns(s->mount_ns_fd, CLONE_NEWNS) != 0) {
        report_started(s->report_fd, CHS_STEP_ENTER_MOUNT_NAMESPACE, errno, 0);
        _exit(1);
    }
    if (s->net_ns_fd >= 0 && setns(s->net_ns_fd, CLONE_NEWNET) != 0) {
        report_started(s->report_fd, CHS_STEP_ENTER_NETWORK_NAMESPACE, errno, 0);
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
    int keep[4] = { s->report_fd, setup[0], children_fd, s->job_reaper_pidfd };
    chs_close_all_except(keep, 4);
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
            // this dump. criu and everything it started go, and so does the
            // job if criu's work is still in it. criu is stopped first, so
            // that what it holds cannot change while it is looked at.
            kill(-criu, SIGSTOP);
            int before = s->job_reaper_pidfd >= 0 && criu_left_in_job();
            end_everything(criu);
            (void)end_job_if_criu_left(s, before);
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
    int job_ended = WIFSIGNALED(criu_status) ? end_job_if_criu_left(s, 0) : 0;
    struct chs_supervisor_ended ended = { criu_status, job_ended };
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
