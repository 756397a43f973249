/* Reading and writing NumPy .npy files (format versions 1.0, 2.0, 3.0; little-endian, C order). */
#ifndef SN_NPY_H
#define SN_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define SN_NPY_MAX_RANK 16

/* An array read from a .npy file. data is 64-byte aligned (sn_aligned_alloc) and owned by the
 * array; for SINTER_BOOL every byte is normalized to 0 or 1. */
typedef struct sn_npy {
  sinter_dtype dtype;
  int rank;
  int64_t dims[SN_NPY_MAX_RANK];
  int64_t count; /* product of dims (1 for rank 0) */
  size_t nbytes; /* count * element size */
  void *data;
} sn_npy;

/* The dtype for a .npy descr such as "<f4" or "|u1" (SINTER_UNDEFINED if not supported). */
sinter_dtype sn_npy_dtype_from_descr(const char *descr);
/* The .npy descr for a Sinter dtype, or NULL when .npy has no equivalent (bfloat16, float8, string). */
const char *sn_npy_descr(sinter_dtype dt);

/* Parse a whole .npy file held in memory; `what` names it in messages (e.g. the path). */
sn_error *sn_npy_parse(const void *bytes, size_t len, const char *what, sn_npy *out);
/* Read a .npy file. On error *out is left empty. */
sn_error *sn_npy_read(const char *path, sn_npy *out);
/* Release the array's data and clear it (accepts a zeroed struct). */
void sn_npy_free(sn_npy *a);

/* Serialize an array to a malloc'd buffer (sn_malloc; free with sn_free). Uses format 1.0 unless the
 * header needs 2.0. The header is padded so the data starts at a multiple of 64 bytes. */
sn_error *sn_npy_serialize(sinter_dtype dt, int rank, const int64_t *dims, const void *data, size_t nbytes,
                           void **out, size_t *out_len);
/* Write an array to a .npy file. */
sn_error *sn_npy_write(const char *path, sinter_dtype dt, int rank, const int64_t *dims, const void *data,
                       size_t nbytes);

#endif
