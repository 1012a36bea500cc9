#define _GNU_SOURCE
// Start-up hygiene for a binary with file capabilities. This runs as an ELF
// constructor, before the Swift runtime or any Swift code looks at the
// process: the caller controls the environment, inherited descriptors,
// resource limits and umask, and none of it may reach the privileged path.
#include "CStartup.h"
#include "CSystem.h"
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stddef.h>

extern char **environ;

static char *empty_environment[1] = { NULL };
static char *const *caller_environment = empty_environment;
static char *const *caller_arguments = empty_environment;
static int caller_argument_count = 0;
static int startup_failure = 0;
static int limits_failure = 0;
static struct chs_caller_state caller_state;

char *const *chs_caller_environment(void) { return caller_environment; }
char *const *chs_caller_arguments(int *count) { *count = caller_argument_count; return caller_arguments; }
int chs_startup_failure(void) { return startup_failure; }
int chs_limits_failure(void) { return limits_failure; }
const struct chs_caller_state *chs_caller_state(void) { return &caller_state; }

/// The kernel's struct sigaction (x86_64), read with rt_sigaction(2) itself:
/// glibc hides the signals it reserves (32, 33).
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/// What the caller set before the helper changes any of it: the job that
/// `run` starts gets it back (its author's umask, ignored signals, mask and
/// limits), the helper and criu never run with it.
static void save_caller_state(void)
{
    for (int sig = 1; sig <= 64; sig++) {
        struct kernel_sigaction old;
        memset(&old, 0, sizeof old);
        if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof old.mask) == 0 && old.handler == SIG_IGN)
            caller_state.ignored_signals |= 1ULL << (sig - 1);
    }
    uint64_t blocked = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked, sizeof blocked) == 0)
        caller_state.blocked_signals = blocked;
    int all = 1;
    for (int r = 0; r < 16; r++)
        if (getrlimit(r, &caller_state.limits[r]) != 0) all = 0;
    caller_state.limits_saved = all;
}

// glibc passes (argc, argv, envp) to constructors. The arguments are kept
// here because the Swift runtime finds them by walking back from `environ`,
// which this constructor replaces.
__attribute__((constructor(101)))
static void chs_sanitize_at_start(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc > 0 && argv != NULL) {
        caller_arguments = argv;
        caller_argument_count = argc;
    }
    save_caller_state();

    // 1. Descriptors 0-2 must be open, or the first file the helper opens
    //    would become someone's stdout or stderr.
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            int null = open("/dev/null", O_RDWR | O_NOFOLLOW);
            if (null != fd) {
                startup_failure = 1;
                if (null >= 0) close(null);
            }
        }
    }
    // 2. Nothing else inherited stays open (doas: closefrom).
    if (syscall(SYS_close_range, 3U, ~0U, 0) != 0)
        startup_failure = 1;

    // 3. The environment goes away before the Swift runtime reads SWIFT_*
    //    variables. environ must stay a valid array: clearenv() sets it to
    //    NULL, which the runtime does not survive.
    if (environ != NULL)
        caller_environment = environ;
    environ = empty_environment;

    // 4. Never dumpable, no core file: memory of a privileged process stays
    //    out of reach of the caller (ptrace, /proc/PID/mem, core dumps).
    //    Only the soft limit goes to 0: the hard one is the caller's, and
    //    criu and a restored job would inherit a hard 0 for good (nothing
    //    without CAP_SYS_RESOURCE can raise it again).
    struct rlimit core;
    if (getrlimit(RLIMIT_CORE, &core) != 0)
        startup_failure = 1;
    core.rlim_cur = 0;
    if (setrlimit(RLIMIT_CORE, &core) != 0)
        startup_failure = 1;
    if (prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) != 0)
        startup_failure = 1;

    // 5. Files the helper creates are the caller's but private.
    caller_state.umask_value = umask(077);

    // 6. Resource limits set low enough to stop the helper halfway (a write
    //    killed by SIGXFSZ, no descriptor for the next file, a stack that
    //    cannot grow): each soft limit goes up to its hard one, as the caller
    //    could do itself. A hard limit still below what the helper needs is
    //    refused before anything is done.
    static const struct { int resource; rlim_t minimum; } needed[] = {
        { RLIMIT_FSIZE, 64UL << 20 },
        { RLIMIT_NOFILE, 256 },
        { RLIMIT_STACK, 4UL << 20 },
    };
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        struct rlimit limit;
        if (getrlimit(needed[i].resource, &limit) != 0) { limits_failure = 1; continue; }
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(needed[i].resource, &limit) != 0) limits_failure = 1;
        if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed[i].minimum) limits_failure = 1;
    }
    // The refusal is still to be written (to stderr, maybe a file): a write
    // over the limit must fail rather than kill the helper before it is said.
    if (limits_failure) signal(SIGXFSZ, SIG_IGN);
}
