// ch-nodump: makes itself non-dumpable, then sleeps.
#include <sys/prctl.h>
#include <unistd.h>
int main(void) { prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); for (;;) pause(); }
