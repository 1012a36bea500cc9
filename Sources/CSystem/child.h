#ifndef CRIU_HELPER_CHILD_H
#define CRIU_HELPER_CHILD_H
// Shared by spawn.c, reaper.c and supervisor.c (not part of the module's
// interface). Everything here is async-signal-safe: it runs between fork and
// exec, or in processes that never return to Swift.
#include "CSystem.h"
#include <stddef.h>

/// write(2) until done; 0, or -1 when the pipe is gone.
int chs_write_all(int fd, const void *buf, size_t len);
/// read(2) exactly `len` bytes; 0, or -1 at end of file or on error.
int chs_read_all(int fd, void *buf, size_t len);
/// Drops every capability of the calling thread (raw capset: libcap is not
/// async-signal-safe) and clears the ambient set. 0 or -1.
int chs_drop_capabilities(void);
/// Reports `step` and errno on `report_fd`, then exits 127.
void chs_fail(int report_fd, int step) __attribute__((noreturn));
/// Exit code for a wait status: the code, or 128 + the signal.
int chs_exit_code(int wait_status);
/// Every descriptor from 3 up is closed, except `keep[0..count-1]`.
void chs_close_all_except(const int *keep, int count);
/// Replaces descriptors 0-2 with /dev/null. 0 or -1.
int chs_stdio_to_null(void);
#endif
