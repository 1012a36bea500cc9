#ifndef CRIU_HELPER_CSTARTUP_H
#define CRIU_HELPER_CSTARTUP_H
// Start-up hygiene of the criu-helper executable (startup.c): an ELF
// constructor that runs before the Swift runtime. Only the executable links
// it; libraries and tests do not.

/// The caller's environment as the kernel passed it. `environ` itself is
/// emptied before any Swift code runs; this is only handed to a job that
/// `run` starts, after every privilege is gone.
extern char *const *chs_caller_environment(void);
/// argv as the kernel passed it (argc in *count; 0 when argc was 0).
extern char *const *chs_caller_arguments(int *count);
/// Non-zero when start-up hygiene could not be established.
extern int chs_startup_failure(void);
struct chs_caller_state;
/// The caller's umask, signal dispositions and mask and resource limits,
/// as they were before the constructor changed any of them.
extern const struct chs_caller_state *chs_caller_state(void);
/// Non-zero when a hard resource limit (file size, descriptors, stack) is
/// below what the helper needs.
extern int chs_limits_failure(void);
#endif
