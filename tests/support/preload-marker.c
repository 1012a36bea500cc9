// Built as a shared library: if anything loads it, it leaves a marker file.
// The hostile-environment test sets LD_PRELOAD to it.
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void mark(void) {
    int fd = open("/tmp/preload-marker", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
}
