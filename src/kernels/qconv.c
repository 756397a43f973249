/* Integer convolution helpers (see qconv.h): dispatch and the portable form. */
#include "kernels/qconv.h"

#include <string.h>

#include "runtime/cpu.h"

static void pad_row(const uint8_t *src, int64_t W, int64_t off, int64_t sw, uint8_t flip, uint8_t pad, uint8_t *dst,
                    int64_t n) {
  /* inside for j in [lo, hi) */
  int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw, hi = W - off <= 0 ? 0 : (W - off + sw - 1) / sw;
  if (hi > n) hi = n;
  if (lo > hi) lo = hi;
  memset(dst, pad, (size_t)lo);
  if (sw == 1 && !flip)
    memcpy(dst + lo, src + lo + off, (size_t)(hi - lo));
  else
    for (int64_t j = lo; j < hi; j++) dst[j] = src[j * sw + off] ^ flip;
  memset(dst + hi, pad, (size_t)(n - hi));
}

void sn_qconv_pad_rows_ref(const uint8_t *src, int64_t ss, int64_t rows, int64_t W, int64_t off, int64_t sw,
                           uint8_t flip, uint8_t pad, uint8_t *dst, int64_t ds, int64_t n) {
  for (int64_t r = 0; r < rows; r++) pad_row(src + r * ss, W, off, sw, flip, pad, dst + r * ds, n);
}

void sn_qconv_pad_rows(const uint8_t *src, int64_t ss, int64_t rows, int64_t W, int64_t off, int64_t sw, uint8_t flip,
                       uint8_t pad, uint8_t *dst, int64_t ds, int64_t n) {
  if ((sw == 1 || sw == 2) && sn_cpu_isa() >= SN_ISA_AVX512)
    sn_qconv_pad_rows_avx512(src, ss, rows, W, off, sw, flip, pad, dst, ds, n);
  else
    sn_qconv_pad_rows_ref(src, ss, rows, W, off, sw, flip, pad, dst, ds, n);
}

void sn_qconv_gather(const uint8_t *src, int64_t bytes, const int32_t *idx, const uint8_t *idx8, const uint64_t *valid,
                     int64_t n, uint8_t pad, uint8_t *dst) {
  if (idx8 && sn_cpu_has_vbmi()) {
    sn_qconv_gather_avx512vbmi(src, bytes, idx8, valid, n, pad, dst);
    return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = idx[i] < 0 ? pad : src[idx[i]];
}
