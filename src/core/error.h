/* Internal errors: a heap-allocated sn_error (NULL means success), filled at the failure site with a
 * message that names the model, node and value at fault. The public sinter_status is the same object. */
#ifndef SN_ERROR_H
#define SN_ERROR_H

#include "sinter.h"

typedef struct sinter_status sn_error;

struct sinter_status {
  sinter_code code;
  char *msg;
};

#if defined(__GNUC__)
#define SN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SN_PRINTF(a, b)
#endif

/* Create an error with a printf-style message. Never returns NULL (falls back to a static OOM error). */
sn_error *sn_errorf(sinter_code code, const char *fmt, ...) SN_PRINTF(2, 3);
/* Prefix context onto an existing error's message ("while loading X: <old>"); returns e. */
sn_error *sn_error_wrap(sn_error *e, const char *fmt, ...) SN_PRINTF(2, 3);
void sn_error_free(sn_error *e);

#define SN_TRY(expr)                                                                               \
  do {                                                                                             \
    sn_error *sn_try_err_ = (expr);                                                                \
    if (sn_try_err_) return sn_try_err_;                                                           \
  } while (0)

#define SN_ERR_OOM() sn_errorf(SINTER_ERR_OUT_OF_MEMORY, "out of memory at %s:%d", __FILE__, __LINE__)

#endif
