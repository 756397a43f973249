/* INT8 depthwise convolution with AVX-512 (see kernels/qdwconv.h), vectorized over 16 output columns.
 *
 * Per channel, the input plane is first widened to int32 with the zero point taken off and the
 * padding made explicit (zeros), split by the horizontal stride into sw phase planes
 * (phase q, column j = padded column j * sw + q), each row Wq entries (a multiple of 16, with room for
 * the kernel's reach past the last output). Then tap (kh, kw) of output columns ow..ow+15 is one
 * unaligned load at a fixed offset from the output row's base, times the broadcast weight, added to
 * the int32 accumulator: no bounds checks in the inner loop, any stride and dilation. The epilogue is
 * sn_qgemm_epilogue_ref's float steps in vectors, bit for bit. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/qdwconv.h"

#define QDW_DOT(acc, a, b) _mm512_add_epi32((acc), _mm512_madd_epi16((a), (b)))
#include "kernels/x86/qdwconv_cm_simd.h"

typedef struct dw_layout {
  int64_t Hp, Wq, K;
} dw_layout;

static dw_layout layout_of(const sn_qdw *p) {
  dw_layout l;
  l.Hp = (p->OH - 1) * p->sh + (p->KH - 1) * p->dh + 1;
  int64_t reach = ((p->KW - 1) * p->dw) / p->sw;
  l.Wq = (((p->OW + 15) & ~(int64_t)15) + reach + 1 + 15) & ~(int64_t)15;
  l.K = p->KH * p->KW;
  return l;
}

static size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t sn_qdwconv_avx512_ws_size(const sn_qdw *p) {
  dw_layout l = layout_of(p);
  size_t a = al64(sizeof(int32_t) * (size_t)(l.Hp * p->sw * l.Wq)) + al64(sizeof(int32_t) * (size_t)(p->sw * l.Wq)) +
             al64(sizeof(int64_t) * (size_t)l.K);
  size_t b = cm_ws_size(p);
  return a > b ? a : b;
}

void sn_qdwconv_cm_avx512(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  cm_run(p, x, y, c0, c1, ws);
}

/* padded row of input row ih (any, rows outside are zeros) as n int32 (n a multiple of 16) */
static void widen_row(const sn_qdw *p, const uint8_t *xc, int64_t ih, int32_t *dst, int64_t n) {
  if (ih < 0 || ih >= p->H) {
    memset(dst, 0, sizeof(int32_t) * (size_t)n);
    return;
  }
  const uint8_t *row = xc + ih * p->W;
  int64_t lo = p->pw < n ? p->pw : n, hi = p->pw + p->W < n ? p->pw + p->W : n;
  memset(dst, 0, sizeof(int32_t) * (size_t)lo);
  __m512i z = _mm512_set1_epi32(p->zx);
  for (int64_t i = lo; i < hi; i += 16) {
    int64_t m = hi - i;
    __mmask16 k = m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1);
    __m128i b = _mm_maskz_loadu_epi8(k, row + (i - p->pw));
    __m512i v = p->x_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
    _mm512_mask_storeu_epi32(dst + i, k, _mm512_sub_epi32(v, z));
  }
  memset(dst + hi, 0, sizeof(int32_t) * (size_t)(n - hi));
}

static void build_plane(const sn_qdw *p, const dw_layout *l, const uint8_t *xc, int32_t *plane, int32_t *prow) {
  int64_t sw = p->sw, Wq = l->Wq;
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t r = 0; r < l->Hp; r++) {
    int32_t *dst = plane + r * sw * Wq;
    if (sw == 1) {
      widen_row(p, xc, r - p->ph, dst, Wq);
      continue;
    }
    widen_row(p, xc, r - p->ph, prow, sw * Wq);
    if (sw == 2) {
      for (int64_t j = 0; j < Wq; j += 16) {
        __m512i a = _mm512_loadu_si512((const void *)(prow + 2 * j)), b = _mm512_loadu_si512((const void *)(prow + 2 * j + 16));
        _mm512_storeu_si512((void *)(dst + j), _mm512_permutex2var_epi32(a, ev, b));
        _mm512_storeu_si512((void *)(dst + Wq + j), _mm512_permutex2var_epi32(a, od, b));
      }
    } else {
      for (int64_t q = 0; q < sw; q++)
        for (int64_t j = 0; j < Wq; j++) dst[q * Wq + j] = prow[j * sw + q];
    }
  }
}

static inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* nv vectors of 16 output columns from ow0 of one output row */
static inline __attribute__((always_inline)) void block(const int nv, const sn_qdw *p, int64_t K, const int64_t *toff,
                                                        const int32_t *base, const int32_t *wc, const cm_epi *q,
                                                        int64_t ow0, void *y, size_t at) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t t = 0; t < K; t++) {
    const int32_t *s = base + toff[t];
    __m512i w = _mm512_set1_epi32(wc[t]);
    a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(w, _mm512_loadu_si512((const void *)s)));
    if (nv > 1) a1 = _mm512_add_epi32(a1, _mm512_mullo_epi32(w, _mm512_loadu_si512((const void *)(s + 16))));
    if (nv > 2) a2 = _mm512_add_epi32(a2, _mm512_mullo_epi32(w, _mm512_loadu_si512((const void *)(s + 32))));
    if (nv > 3) a3 = _mm512_add_epi32(a3, _mm512_mullo_epi32(w, _mm512_loadu_si512((const void *)(s + 48))));
  }
  int64_t left = p->OW - ow0;
  cm_store_mask(q, a0, tail_mask(left), y, at);
  if (nv > 1) cm_store_mask(q, a1, tail_mask(left - 16), y, at + 16);
  if (nv > 2) cm_store_mask(q, a2, tail_mask(left - 32), y, at + 32);
  if (nv > 3) cm_store_mask(q, a3, tail_mask(left - 48), y, at + 48);
}

void sn_qdwconv_avx512(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  if (sn_qdwconv_pairs_cm(p, c1 - c0)) {
    cm_run(p, x, y, c0, c1, ws);
    return;
  }
  dw_layout l = layout_of(p);
  int64_t sw = p->sw, Wq = l.Wq, K = l.K;
  int32_t *plane = ws;
  int32_t *prow = (int32_t *)((char *)ws + al64(sizeof(int32_t) * (size_t)(l.Hp * sw * Wq)));
  int64_t *toff = (int64_t *)((char *)prow + al64(sizeof(int32_t) * (size_t)(sw * Wq)));
  for (int64_t kh = 0; kh < p->KH; kh++)
    for (int64_t kw = 0; kw < p->KW; kw++) {
      int64_t col = kw * p->dw;
      toff[kh * p->KW + kw] = (kh * p->dh * sw + col % sw) * Wq + col / sw;
    }
  int64_t plane_out = p->OH * p->OW;
  int64_t prev_in = -1;
  for (int64_t c = c0; c < c1; c++) {
    int64_t ci = c / p->mult;
    if (ci != prev_in) build_plane(p, &l, x + ci * p->H * p->W, plane, prow);
    prev_in = ci;
    const int32_t *wc = p->w + c * K;
    const cm_epi q = cm_epi_bcast(&p->e, c);
    for (int64_t oh = 0; oh < p->OH; oh++) {
      const int32_t *rb = plane + oh * p->sh * sw * Wq;
      size_t at = (size_t)(c * plane_out + oh * p->OW);
      int64_t ow0 = 0;
      for (; p->OW - ow0 > 48; ow0 += 64) block(4, p, K, toff, rb + ow0, wc, &q, ow0, y, at + (size_t)ow0);
      switch ((p->OW - ow0 + 15) / 16) {
        case 3: block(3, p, K, toff, rb + ow0, wc, &q, ow0, y, at + (size_t)ow0); break;
        case 2: block(2, p, K, toff, rb + ow0, wc, &q, ow0, y, at + (size_t)ow0); break;
        case 1: block(1, p, K, toff, rb + ow0, wc, &q, ow0, y, at + (size_t)ow0); break;
        default: break;
      }
    }
  }
}
