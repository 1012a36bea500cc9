// ch-exchange A B UID SECONDS: run as a test user who may rename entries of
// the directory holding A and B. Waits for a criu process of UID's to
// appear, then exchanges A and B (renameat2 RENAME_EXCHANGE): a directory on
// the path of another user's images directory swapped after criu-helper
// checked it and before criu opens the page files by path (red team 8).
// Prints "exchanged" and exits 0, "no criu" and exits 1 after SECONDS, or
// "exchange failed" and exits 1.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "find-criu.h"

int main(int argc, char **argv)
{
    if (argc != 5) { fprintf(stderr, "usage: ch-exchange A B UID SECONDS\n"); return 2; }
    uid_t uid = (uid_t)atoi(argv[3]);
    time_t end = time(NULL) + atoi(argv[4]);
    while (time(NULL) < end) {
        if (!find_criu(uid)) continue;
        int swapped = renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
        printf(swapped == 0 ? "exchanged\n" : "exchange failed\n");
        fflush(stdout);
        return swapped == 0 ? 0 : 1;
    }
    printf("no criu\n");
    return 1;
}
