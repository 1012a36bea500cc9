#ifndef CRIU_HELPER_CCAP_SHIM_H
#define CRIU_HELPER_CCAP_SHIM_H
// libcap, the only way criu-helper reads and changes its capability sets.
#include <sys/capability.h>
#include <sys/prctl.h>

// prctl(2) is variadic, which Swift cannot call: one wrapper per use.
static inline int chcap_ambient_clear_all(void) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL);
}
#endif
