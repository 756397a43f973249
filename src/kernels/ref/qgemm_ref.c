/* Portable INT8 GEMM (see kernels/qgemm.h): the truth the VNNI kernel is tested against, and the
 * kernel at SINTER_ISA=scalar/avx2. Integer sums are exact; the epilogue's float steps are written
 * out one operation at a time so the SIMD epilogues can reproduce them bit for bit. */
#include <math.h>
#include <string.h>

#include "kernels/qgemm.h"

static inline float epi_scale(const sn_qgemm_epi *e, int64_t m, int64_t n) {
  return e->scale[e->scale_axis == 1 ? m : e->scale_axis == 2 ? n : 0];
}

void sn_qgemm_epilogue_ref(const sn_qgemm_epi *e, int64_t m, int64_t n0, int64_t n, const int32_t *acc, void *C,
                           int64_t ldc) {
  uint32_t roff = e->row_off ? (uint32_t)e->row_off[m] : 0, rf = e->row_f && e->col_f ? (uint32_t)e->row_f[m] : 0;
  for (int64_t j = 0; j < n; j++) {
    int64_t col = n0 + j;
    uint32_t v = (uint32_t)acc[j] + roff;
    if (e->col_off) v += (uint32_t)e->col_off[col];
    if (rf) v -= rf * (uint32_t)e->col_f[col];
    int32_t a = (int32_t)v;
    size_t at = e->ct ? (size_t)(col * ldc + m) : (size_t)(m * ldc + col);
    switch (e->out) {
      case SN_QOUT_I32: ((int32_t *)C)[at] = a; break;
      case SN_QOUT_F32: {
        float f = (float)a * epi_scale(e, m, col);
        if (e->fbias) f = f + e->fbias[e->fbias_axis == 1 ? m : e->fbias_axis == 2 ? col : 0];
        if (e->lo > -INFINITY) f = f >= e->lo ? f : e->lo; /* Relu/Clip (NaN -> lo, as vmaxps) */
        if (e->hi < INFINITY) f = f <= e->hi ? f : e->hi;
        ((float *)C)[at] = f;
        break;
      }
      default: {
        float t = (float)a * epi_scale(e, m, col);
        t = nearbyintf(t);
        t = t + e->zy;
        t = t >= e->lo ? t : e->lo; /* NaN (from a zero or infinite scale) -> lo, as vmaxps */
        t = t <= e->hi ? t : e->hi;
        if (e->res) {
          float r = e->out == SN_QOUT_U8 ? (float)e->res[at] : (float)(int8_t)e->res[at];
          float va = e->res_is_a ? r : t, vb = e->res_is_a ? t : r;
          float tlo = e->out == SN_QOUT_U8 ? 0.0f : -128.0f, thi = e->out == SN_QOUT_U8 ? 255.0f : 127.0f;
          t = rintf(fmaf(va, e->rac, fmaf(vb, e->rbc, e->rfix)));
          t = t >= tlo ? (t <= thi ? t : thi) : tlo;
        }
        if (e->out == SN_QOUT_U8)
          ((uint8_t *)C)[at] = (uint8_t)(int)t;
        else
          ((int8_t *)C)[at] = (int8_t)(int)t;
      }
    }
  }
}

/* 16 columns (one packed panel) of one row */
static void panel_u8s8(const uint8_t *a, int64_t K, const int8_t *bp, uint32_t *acc) {
  int64_t kq = K / 4;
  for (int64_t q = 0; q < kq; q++) {
    const int8_t *b = bp + q * 64;
    int32_t a0 = a[4 * q], a1 = a[4 * q + 1], a2 = a[4 * q + 2], a3 = a[4 * q + 3];
    for (int j = 0; j < 16; j++)
      acc[j] += (uint32_t)(a0 * b[4 * j] + a1 * b[4 * j + 1] + a2 * b[4 * j + 2] + a3 * b[4 * j + 3]);
  }
  for (int64_t k = 4 * kq; k < K; k++) {
    const int8_t *b = bp + kq * 64 + (k - 4 * kq);
    int32_t ak = a[k];
    for (int j = 0; j < 16; j++) acc[j] += (uint32_t)(ak * b[4 * j]);
  }
}

static void panel_s8u8(const int8_t *a, int64_t K, const uint8_t *bp, uint32_t *acc) {
  int64_t kq = K / 4;
  for (int64_t q = 0; q < kq; q++) {
    const uint8_t *b = bp + q * 64;
    int32_t a0 = a[4 * q], a1 = a[4 * q + 1], a2 = a[4 * q + 2], a3 = a[4 * q + 3];
    for (int j = 0; j < 16; j++)
      acc[j] += (uint32_t)(a0 * b[4 * j] + a1 * b[4 * j + 1] + a2 * b[4 * j + 2] + a3 * b[4 * j + 3]);
  }
  for (int64_t k = 4 * kq; k < K; k++) {
    const uint8_t *b = bp + kq * 64 + (k - 4 * kq);
    int32_t ak = a[k];
    for (int j = 0; j < 16; j++) acc[j] += (uint32_t)(ak * b[4 * j]);
  }
}

void sn_qgemm_ref(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
                  void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  int64_t pstride = sn_qgemm_kp(K) * 16;
  for (int64_t m = m0; m < m1; m++) {
    const uint8_t *a = A + m * lda;
    for (int64_t n = n0; n < n1; n += 16) {
      uint32_t acc[16]; /* wraps like int32 without undefined behaviour */
      memset(acc, 0, sizeof acc);
      const uint8_t *bp = Bp + (n / 16) * pstride;
      if (a_signed)
        panel_s8u8((const int8_t *)a, K, bp, acc);
      else
        panel_u8s8(a, K, (const int8_t *)bp, acc);
      sn_qgemm_epilogue_ref(e, m, n, n1 - n < 16 ? n1 - n : 16, (const int32_t *)acc, C, ldc);
    }
  }
}

void sn_qgemm_ind_ref(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen,
                      const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1,
                      int64_t n0, int64_t n1) {
  int64_t K = nseg * seglen, pstride = sn_qgemm_kp(K) * 16;
  for (int64_t m = m0; m < m1; m++)
    for (int64_t n = n0; n < n1; n += 16) {
      uint32_t acc[16];
      memset(acc, 0, sizeof acc);
      const int8_t *bp = (const int8_t *)(Bp + (n / 16) * pstride);
      for (int64_t sg = 0; sg < nseg; sg++) {
        const uint8_t *a = rows[m] + segoff[sg];
        for (int64_t k = 0; k < seglen; k++) {
          int64_t kk = sg * seglen + k;
          const int8_t *b = bp + (kk / 4) * 64 + kk % 4;
          int32_t ak = a[k];
          for (int j = 0; j < 16; j++) acc[j] += (uint32_t)(ak * b[4 * j]);
        }
      }
      sn_qgemm_epilogue_ref(e, m, n, n1 - n < 16 ? n1 - n : 16, (const int32_t *)acc, C, ldc);
    }
}
