#ifndef CRIU_HELPER_CAUDIT_SHIM_H
#define CRIU_HELPER_CAUDIT_SHIM_H
// libaudit: kernel audit records (audit_open, audit_log_user_message,
// audit_encode_nv_string). Nothing else of the library is used.
#include <libaudit.h>
#endif
