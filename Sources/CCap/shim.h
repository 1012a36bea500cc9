#ifndef CRIU_HELPER_CCAP_SHIM_H
#define CRIU_HELPER_CCAP_SHIM_H
// libcap, the only way criu-helper reads and changes its capability sets.
#include <sys/capability.h>
#include <sys/prctl.h>

// prctl(2) is variadic, which Swift cannot call: one wrapper per use.
static inline int chcap_ambient_raise(cap_value_t cap) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)cap, 0UL, 0UL);
}
static inline int chcap_ambient_is_set(cap_value_t cap) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long)cap, 0UL, 0UL);
}
static inline int chcap_ambient_clear_all(void) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL);
}
static inline int chcap_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL);
}
static inline int chcap_get_no_new_privs(void) {
    return prctl(PR_GET_NO_NEW_PRIVS, 0UL, 0UL, 0UL, 0UL);
}
static inline int chcap_bounding_has(cap_value_t cap) {
    return prctl(PR_CAPBSET_READ, (unsigned long)cap, 0UL, 0UL, 0UL);
}
#endif
