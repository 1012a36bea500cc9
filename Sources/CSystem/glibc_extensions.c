#define _GNU_SOURCE
// GNU extensions of glibc that Swift's Glibc module does not import (they
// are declared only under _GNU_SOURCE, which CSystem.h must not need).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include "CSystem.h"

const int chs_O_PATH = O_PATH;

ssize_t chs_copy_file_range(int from, int to, size_t count)
{
    return copy_file_range(from, NULL, to, NULL, count, 0);
}

int chs_flock(int fd, int op) { return flock(fd, op); }
int chs_getresuid(uid_t *r, uid_t *e, uid_t *s) { return getresuid(r, e, s); }
int chs_getresgid(gid_t *r, gid_t *e, gid_t *s) { return getresgid(r, e, s); }
int chs_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int chs_has_file_capabilities(int fd)
{
    // getxattr through /proc/self/fd: fgetxattr refuses O_PATH descriptors.
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = getxattr(path, "security.capability", NULL, 0);
    if (n >= 0) return 1;
    if (errno == ENODATA || errno == ENOTSUP) return 0;
    return -1;
}
