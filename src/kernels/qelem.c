/* Elementwise kernels of the quantized ops (see qelem.h): dispatch and the portable forms. */
#include "kernels/qelem.h"

#include <math.h>
#include <string.h>

#include "runtime/cpu.h"

void sn_qlinear_mul_ref(const uint8_t *a, int astep, const uint8_t *b, int bstep, int64_t n, int32_t az, int32_t bz,
                        float rm, float cz, bool is_signed, uint8_t *y) {
  float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  for (int64_t i = 0; i < n; i++) {
    uint8_t ra = a[i * astep], rb = b[i * bstep];
    int32_t va = is_signed ? (int32_t)(int8_t)ra : (int32_t)ra, vb = is_signed ? (int32_t)(int8_t)rb : (int32_t)rb;
    float v = (float)((va - az) * (vb - bz)) * rm;
    v = nearbyintf(v) + cz;
    v = v >= lo ? (v <= hi ? v : hi) : lo;
    y[i] = is_signed ? (uint8_t)(int8_t)(int)v : (uint8_t)(int)v;
  }
}

void sn_qlinear_mul(const uint8_t *a, int astep, const uint8_t *b, int bstep, int64_t n, int32_t az, int32_t bz, float rm,
                    float cz, bool is_signed, uint8_t *y) {
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_qlinear_mul_avx512(a, astep, b, bstep, n, az, bz, rm, cz, is_signed, y);
  else
    sn_qlinear_mul_ref(a, astep, b, bstep, n, az, bz, rm, cz, is_signed, y);
}

void sn_qlut(const uint8_t *x, int64_t n, const uint8_t table[256], uint8_t *y) {
  if (sn_cpu_has_vbmi()) /* (the avx512 level includes AVX512BW, which the kernel uses too) */
    sn_qlut_avx512vbmi(x, n, table, y);
  else
    sn_qlut_ref(x, n, table, y);
}

void sn_qlut_ref(const uint8_t *x, int64_t n, const uint8_t table[256], uint8_t *y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) { /* eight lookups per 64-bit load and store */
    uint64_t v, r = 0;
    memcpy(&v, x + i, 8);
    for (int k = 0; k < 8; k++) r |= (uint64_t)table[(v >> (8 * k)) & 0xff] << (8 * k);
    memcpy(y + i, &r, 8);
  }
  for (; i < n; i++) y[i] = table[x[i]];
}

void sn_q8_maxpool_row(const uint8_t *const *rows, int nrows, int64_t j0, int64_t j1, int64_t wv, int64_t KW, int64_t dw,
                       int64_t sw, int64_t ow, uint8_t flip, uint8_t *v, uint8_t *out) {
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_q8_maxpool_row_avx512(rows, nrows, j0, j1, wv, KW, dw, sw, ow, flip, v, out);
  else
    sn_q8_maxpool_row_ref(rows, nrows, j0, j1, wv, KW, dw, sw, ow, flip, v, out);
}

void sn_q8_maxpool_row_ref(const uint8_t *const *rows, int nrows, int64_t j0, int64_t j1, int64_t wv, int64_t KW,
                           int64_t dw, int64_t sw, int64_t ow, uint8_t flip, uint8_t *v, uint8_t *out) {
  memset(v, 0, (size_t)wv);
  for (int r = 0; r < nrows; r++) {
    const uint8_t *row = rows[r];
    for (int64_t j = j0; j < j1; j++) {
      uint8_t t = (uint8_t)(row[j] ^ flip);
      v[j] = t > v[j] ? t : v[j];
    }
  }
  for (int64_t i = 0; i < ow; i++) {
    const uint8_t *s = v + i * sw;
    uint8_t m = s[0];
    for (int64_t kw = 1; kw < KW; kw++) m = s[kw * dw] > m ? s[kw * dw] : m;
    out[i] = (uint8_t)(m ^ flip);
  }
}
