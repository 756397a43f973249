/* INT8 depthwise convolution with AVX512-VNNI (see kernels/qdwconv.h): four taps of a kernel row per
 * vpdpbusd when the weights fit s8 (below), else two per vpdpwssd:
 *
 * As the AVX-512 kernel (qdwconv_avx512.c), the input plane of a channel is widened once, zero point
 * off, padding explicit, split by the horizontal stride into sw phases. Here each int32 entry holds
 * a pair of int16: the value at its own padded column (low half) and the one dw columns to its right
 * (high half); x - zx and w - zw both fit int16 (|v| <= 255). Taps (kh, kw) and (kh, kw + 1) of 16
 * output columns are then one load times the broadcast weight pair (w[kw], w[kw + 1]), summed into
 * the int32 accumulator by vpdpwssd (exact: no saturation in the int32 adds of products of at most
 * 255 * 255); an odd last tap gets a zero partner. Sums wrap like the reference's; the epilogue is
 * sn_qgemm_epilogue_ref's float steps in vectors. Compiled with -mavx512vnni (CMakeLists.txt). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/qdwconv.h"

typedef struct dw_layout {
  int64_t Hp, Wq, KP, np, rowlen; /* KP: tap pairs per kernel row; np: pairs; rowlen: widened row */
} dw_layout;

static dw_layout layout_of(const sn_qdw *p) {
  dw_layout l;
  l.Hp = (p->OH - 1) * p->sh + (p->KH - 1) * p->dh + 1;
  int64_t reach = ((p->KW - 1) * p->dw) / p->sw;
  l.Wq = (((p->OW + 15) & ~(int64_t)15) + reach + 1 + 15) & ~(int64_t)15;
  l.KP = (p->KW + 1) / 2;
  l.np = p->KH * l.KP;
  l.rowlen = (p->sw * l.Wq + p->dw + 32 + 15) & ~(int64_t)15;
  return l;
}

static size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }

static size_t pair_ws_size(const sn_qdw *p) {
  dw_layout l = layout_of(p);
  return al64(sizeof(int32_t) * (size_t)(l.Hp * p->sw * l.Wq)) + al64(sizeof(int32_t) * (size_t)l.rowlen) +
         al64(sizeof(int64_t) * (size_t)l.np) + al64(sizeof(int32_t) * (size_t)l.np);
}

static inline __m512i pair(__m512i lo, __m512i hi) {
  return _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16));
}

/* int32 lanes of padded columns c0 .. c0 + 15 of input row `row` (x - zx; zeros in the padding), read
 * with masked loads only (no byte outside the row is touched) */
static inline __m512i widen16(const sn_qdw *p, const uint8_t *row, int64_t c0, __m512i z) {
  int64_t s = c0 - p->pw; /* input column of lane 0 */
  if (s >= p->W || s <= -16) return _mm512_setzero_si512();
  if (s >= 0) {
    int64_t n = p->W - s;
    __mmask16 k = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    __m128i b = _mm_maskz_loadu_epi8(k, row + s);
    return _mm512_maskz_sub_epi32(k, p->x_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b), z);
  }
  int sh = (int)-s; /* lane l holds input column l - sh */
  int64_t n = p->W < 16 - sh ? p->W : 16 - sh;
  __mmask16 k = (__mmask16)((1u << n) - 1);
  __m128i b = _mm_maskz_loadu_epi8(k, row);
  __m512i v = _mm512_maskz_sub_epi32(k, p->x_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b), z);
  __m512i idx = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(sh));
  return _mm512_maskz_permutexvar_epi32((__mmask16)(0xffffu << sh), idx, v);
}

static void build_plane(const sn_qdw *p, const dw_layout *l, const uint8_t *xc, int32_t *plane, int32_t *prow) {
  int64_t sw = p->sw, Wq = l->Wq, dw = p->dw;
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i z = _mm512_set1_epi32(p->zx);
  for (int64_t r = 0; r < l->Hp; r++) {
    int32_t *dst = plane + r * sw * Wq;
    int64_t ih = r - p->ph;
    if (ih < 0 || ih >= p->H) {
      for (int64_t j = 0; j < sw * Wq; j += 16) _mm512_storeu_si512((void *)(dst + j), _mm512_setzero_si512());
      continue;
    }
    const uint8_t *row = xc + ih * p->W;
    if (sw == 1) {
      for (int64_t j = 0; j < Wq; j += 16)
        _mm512_storeu_si512((void *)(dst + j), pair(widen16(p, row, j, z), widen16(p, row, j + dw, z)));
    } else if (sw == 2) {
      for (int64_t j = 0; j < Wq; j += 16) {
        __m512i a0 = widen16(p, row, 2 * j, z), a1 = widen16(p, row, 2 * j + 16, z);
        __m512i b0 = widen16(p, row, 2 * j + dw, z), b1 = widen16(p, row, 2 * j + dw + 16, z);
        _mm512_storeu_si512((void *)(dst + j),
                            pair(_mm512_permutex2var_epi32(a0, ev, a1), _mm512_permutex2var_epi32(b0, ev, b1)));
        _mm512_storeu_si512((void *)(dst + Wq + j),
                            pair(_mm512_permutex2var_epi32(a0, od, a1), _mm512_permutex2var_epi32(b0, od, b1)));
      }
    } else {
      for (int64_t j = 0; j < l->rowlen; j += 16) _mm512_storeu_si512((void *)(prow + j), widen16(p, row, j, z));
      for (int64_t q = 0; q < sw; q++)
        for (int64_t j = 0; j < Wq; j++)
          dst[q * Wq + j] = (int32_t)(((uint32_t)prow[j * sw + q] & 0xffffu) | ((uint32_t)prow[j * sw + q + dw] << 16));
    }
  }
}

static inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* acc += pairs(a) . pairs(b) in place (the asm form keeps GCC from copying the accumulator) */
static inline __attribute__((always_inline)) __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
  __asm__("vpdpwssd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  return acc;
}

#define QDW_DOT(acc, a, b) dpwssd((acc), (a), (b))
#include "kernels/x86/qdwconv_cm_simd.h"

/* nv vectors of 16 output columns from ow0 of one output row */
static inline __attribute__((always_inline)) void block(const int nv, const sn_qdw *p, int64_t np,
                                                        const int64_t *toff, const int32_t *base, const int32_t *wp,
                                                        const cm_epi *q, int64_t ow0, void *y, size_t at) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t t = 0; t < np; t++) {
    const int32_t *s = base + toff[t];
    __m512i w = _mm512_set1_epi32(wp[t]);
    a0 = dpwssd(a0, w, _mm512_loadu_si512((const void *)s));
    if (nv > 1) a1 = dpwssd(a1, w, _mm512_loadu_si512((const void *)(s + 16)));
    if (nv > 2) a2 = dpwssd(a2, w, _mm512_loadu_si512((const void *)(s + 32)));
    if (nv > 3) a3 = dpwssd(a3, w, _mm512_loadu_si512((const void *)(s + 48)));
  }
  int64_t left = p->OW - ow0;
  cm_store_mask(q, a0, tail_mask(left), y, at);
  if (nv > 1) cm_store_mask(q, a1, tail_mask(left - 16), y, at + 16);
  if (nv > 2) cm_store_mask(q, a2, tail_mask(left - 32), y, at + 32);
  if (nv > 3) cm_store_mask(q, a3, tail_mask(left - 48), y, at + 48);
}

static void dw_pairs(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  dw_layout l = layout_of(p);
  int64_t sw = p->sw, Wq = l.Wq, K = p->KH * p->KW;
  int32_t *plane = ws;
  int32_t *prow = (int32_t *)((char *)ws + al64(sizeof(int32_t) * (size_t)(l.Hp * sw * Wq)));
  int64_t *toff = (int64_t *)((char *)prow + al64(sizeof(int32_t) * (size_t)l.rowlen));
  int32_t *wp = (int32_t *)((char *)toff + al64(sizeof(int64_t) * (size_t)l.np));
  for (int64_t kh = 0; kh < p->KH; kh++)
    for (int64_t kp = 0; kp < l.KP; kp++) {
      int64_t col = 2 * kp * p->dw;
      toff[kh * l.KP + kp] = (kh * p->dh * sw + col % sw) * Wq + col / sw;
    }
  int64_t plane_out = p->OH * p->OW;
  int64_t prev_in = -1;
  for (int64_t c = c0; c < c1; c++) {
    int64_t ci = c / p->mult;
    if (ci != prev_in) build_plane(p, &l, x + ci * p->H * p->W, plane, prow);
    prev_in = ci;
    const int32_t *wc = p->w + c * K;
    for (int64_t kh = 0; kh < p->KH; kh++)
      for (int64_t kp = 0; kp < l.KP; kp++) {
        int64_t kw = 2 * kp;
        uint32_t lo = (uint32_t)wc[kh * p->KW + kw], hi = kw + 1 < p->KW ? (uint32_t)wc[kh * p->KW + kw + 1] : 0;
        wp[kh * l.KP + kp] = (int32_t)((lo & 0xffffu) | hi << 16);
      }
    const cm_epi q = cm_epi_bcast(&p->e, c);
    for (int64_t oh = 0; oh < p->OH; oh++) {
      const int32_t *rb = plane + oh * p->sh * sw * Wq;
      size_t at = (size_t)(c * plane_out + oh * p->OW);
      int64_t ow0 = 0;
      for (; p->OW - ow0 > 48; ow0 += 64) block(4, p, l.np, toff, rb + ow0, wp, &q, ow0, y, at + (size_t)ow0);
      switch ((p->OW - ow0 + 15) / 16) {
        case 3: block(3, p, l.np, toff, rb + ow0, wp, &q, ow0, y, at + (size_t)ow0); break;
        case 2: block(2, p, l.np, toff, rb + ow0, wp, &q, ow0, y, at + (size_t)ow0); break;
        case 1: block(1, p, l.np, toff, rb + ow0, wp, &q, ow0, y, at + (size_t)ow0); break;
        default: break;
      }
    }
  }
}

/* ---- u8 x s8 quads (vpdpbusd: four taps per instruction) ----------------------------------------------
 * When every weight minus its zero point fits s8 (ONNX Runtime's symmetric int8 weights) and the
 * strides and dilations are small (3 * sw + 3 * dw <= 15), x is kept as raw bytes (flipped to u8),
 * the padding filled with the (flipped) zero point zx', and
 *   sum_t w_t (x_t - zx) = sum_t w_t x'_t - zx' * sum_t w_t,
 * the last term one constant per channel. Per padded input row and group g of four kernel columns,
 * the quad plane holds for each output column ow the bytes at ow * sw + (4g + t) * dw, t = 0..3 (one
 * vpshufb of four 16-byte loads per 16 columns), so tap group (kh, g) of 16 outputs is one vpdpbusd
 * with the four weights broadcast. */

typedef struct quad_layout {
  int64_t Hp, Wq, G, Wb; /* rows, quad columns (a multiple of 16), groups of 4 columns, bytes per padded row */
} quad_layout;

static quad_layout quad_layout_of(const sn_qdw *p) {
  quad_layout l;
  l.Hp = (p->OH - 1) * p->sh + (p->KH - 1) * p->dh + 1;
  l.Wq = (p->OW + 15) & ~(int64_t)15;
  l.G = (p->KW + 3) / 4;
  l.Wb = (l.Wq * p->sw + 4 * l.G * p->dw + 16 + 63) & ~(int64_t)63;
  return l;
}

static size_t quad_ws_size(const sn_qdw *p) {
  quad_layout l = quad_layout_of(p);
  return al64((size_t)(l.Hp * l.Wb)) + al64(sizeof(int32_t) * (size_t)(l.Hp * l.G * l.Wq)) +
         al64(sizeof(int64_t) * (size_t)(p->KH * l.G)) + al64(sizeof(int32_t) * (size_t)(p->KH * l.G));
}

size_t sn_qdwconv_avx512vnni_ws_size(const sn_qdw *p) {
  size_t a = pair_ws_size(p), b = quad_ws_size(p), c = cm_ws_size(p);
  a = a > b ? a : b;
  return a > c ? a : c;
}

void sn_qdwconv_cm_avx512vnni(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  cm_run(p, x, y, c0, c1, ws);
}

static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  __asm__("vpdpbusd %[s], %[u], %[acc]" : [acc] "+v"(acc) : [u] "v"(u8), [s] "v"(s8));
  return acc;
}

static inline __m128i ld128(const uint8_t *q) { return _mm_loadu_si128((const __m128i *)(const void *)q); }

/* the padded byte plane of one input channel, then its quad planes */
static void build_quads(const sn_qdw *p, const quad_layout *l, const uint8_t *xc, uint8_t pad, uint8_t flip,
                        __m512i pat, uint8_t *pb, int32_t *qp) {
  int64_t W = p->W, pw = p->pw, Wb = l->Wb, sw = p->sw, dw = p->dw;
  const __m512i pv = _mm512_set1_epi8((char)pad), fv = _mm512_set1_epi8((char)flip);
  for (int64_t r = 0; r < l->Hp; r++) {
    uint8_t *row = pb + r * Wb;
    int64_t ih = r - p->ph;
    if (ih < 0 || ih >= p->H) {
      for (int64_t o = 0; o < Wb; o += 64) _mm512_storeu_si512((void *)(row + o), pv);
      continue;
    }
    const uint8_t *src = xc + ih * W;
    /* 64 padded bytes at a time: byte b is input column o + b - pw where that is inside, masked loads
     * only (the masked-off bytes, before and after the row, are never read) */
    for (int64_t o = 0; o < Wb; o += 64) {
      int64_t a = pw - o > 0 ? pw - o : 0, e = pw + W - o < 64 ? pw + W - o : 64;
      __m512i v = pv;
      if (e > a) {
        __mmask64 k = (e - a >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (e - a)) - 1)) << a;
        const uint8_t *at = (const uint8_t *)((uintptr_t)src + (uintptr_t)(o - pw));
        v = _mm512_mask_blend_epi8(k, pv, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, at), fv));
      }
      _mm512_storeu_si512((void *)(row + o), v);
    }
  }
  for (int64_t r = 0; r < l->Hp; r++) {
    const uint8_t *row = pb + r * Wb;
    for (int64_t g = 0; g < l->G; g++) {
      int32_t *dst = qp + (r * l->G + g) * l->Wq;
      for (int64_t j = 0; j < l->Wq; j += 16) {
        const uint8_t *b = row + j * sw + 4 * g * dw;
        __m512i v = _mm512_castsi128_si512(ld128(b));
        v = _mm512_inserti32x4(v, ld128(b + 4 * sw), 1);
        v = _mm512_inserti32x4(v, ld128(b + 8 * sw), 2);
        v = _mm512_inserti32x4(v, ld128(b + 12 * sw), 3);
        _mm512_storeu_si512((void *)(dst + j), _mm512_shuffle_epi8(v, pat));
      }
    }
  }
}

static inline __attribute__((always_inline)) void qblock(const int nv, const sn_qdw *p, int64_t nq, const int64_t *toff,
                                                         const int32_t *base, const int32_t *wq, __m512i comp, const cm_epi *q,
                                                         int64_t ow0, void *y, size_t at) {
  __m512i a0 = comp, a1 = comp, a2 = comp, a3 = comp;
  for (int64_t t = 0; t < nq; t++) {
    const int32_t *s = base + toff[t];
    __m512i w = _mm512_set1_epi32(wq[t]);
    a0 = dpbusd(a0, _mm512_loadu_si512((const void *)s), w);
    if (nv > 1) a1 = dpbusd(a1, _mm512_loadu_si512((const void *)(s + 16)), w);
    if (nv > 2) a2 = dpbusd(a2, _mm512_loadu_si512((const void *)(s + 32)), w);
    if (nv > 3) a3 = dpbusd(a3, _mm512_loadu_si512((const void *)(s + 48)), w);
  }
  int64_t left = p->OW - ow0;
  cm_store_mask(q, a0, tail_mask(left), y, at);
  if (nv > 1) cm_store_mask(q, a1, tail_mask(left - 16), y, at + 16);
  if (nv > 2) cm_store_mask(q, a2, tail_mask(left - 32), y, at + 32);
  if (nv > 3) cm_store_mask(q, a3, tail_mask(left - 48), y, at + 48);
}

static void dw_quads(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  quad_layout l = quad_layout_of(p);
  int64_t K = p->KH * p->KW, nq = p->KH * l.G, Wq = l.Wq;
  uint8_t *pb = ws;
  int32_t *qp = (int32_t *)(pb + al64((size_t)(l.Hp * l.Wb)));
  int64_t *toff = (int64_t *)((char *)qp + al64(sizeof(int32_t) * (size_t)(l.Hp * l.G * Wq)));
  int32_t *wq = (int32_t *)((char *)toff + al64(sizeof(int64_t) * (size_t)nq));
  for (int64_t kh = 0; kh < p->KH; kh++)
    for (int64_t g = 0; g < l.G; g++) toff[kh * l.G + g] = (kh * p->dh * l.G + g) * Wq;
  uint8_t flip = p->x_signed ? 0x80 : 0;
  int32_t zx = p->zx + (p->x_signed ? 128 : 0); /* the flipped zero point, 0..255 */
  int8_t pt[64];
  for (int q = 0; q < 4; q++)
    for (int i = 0; i < 4; i++)
      for (int t = 0; t < 4; t++) pt[q * 16 + i * 4 + t] = (int8_t)(i * p->sw + t * p->dw);
  __m512i pat = _mm512_loadu_si512((const void *)pt);
  int64_t plane_out = p->OH * p->OW, prev_in = -1;
  for (int64_t c = c0; c < c1; c++) {
    int64_t ci = c / p->mult;
    if (ci != prev_in) build_quads(p, &l, x + ci * p->H * p->W, (uint8_t)zx, flip, pat, pb, qp);
    prev_in = ci;
    const int32_t *wc = p->w + c * K;
    uint32_t wsum = 0;
    for (int64_t kh = 0; kh < p->KH; kh++)
      for (int64_t g = 0; g < l.G; g++) {
        uint32_t v = 0;
        for (int t = 0; t < 4; t++) {
          int64_t kw = 4 * g + t;
          int32_t wt = kw < p->KW ? wc[kh * p->KW + kw] : 0;
          v |= (uint32_t)(uint8_t)(int8_t)wt << (8 * t);
          wsum += (uint32_t)wt;
        }
        wq[kh * l.G + g] = (int32_t)v;
      }
    __m512i comp = _mm512_set1_epi32((int32_t)(0u - (uint32_t)zx * wsum));
    const cm_epi q = cm_epi_bcast(&p->e, c);
    for (int64_t oh = 0; oh < p->OH; oh++) {
      const int32_t *rb = qp + oh * p->sh * l.G * Wq;
      size_t at = (size_t)(c * plane_out + oh * p->OW);
      int64_t ow0 = 0;
      for (; p->OW - ow0 > 48; ow0 += 64) qblock(4, p, nq, toff, rb + ow0, wq, comp, &q, ow0, y, at + (size_t)ow0);
      switch ((p->OW - ow0 + 15) / 16) {
        case 3: qblock(3, p, nq, toff, rb + ow0, wq, comp, &q, ow0, y, at + (size_t)ow0); break;
        case 2: qblock(2, p, nq, toff, rb + ow0, wq, comp, &q, ow0, y, at + (size_t)ow0); break;
        case 1: qblock(1, p, nq, toff, rb + ow0, wq, comp, &q, ow0, y, at + (size_t)ow0); break;
        default: break;
      }
    }
  }
}

void sn_qdwconv_avx512vnni(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  if (sn_qdwconv_pairs_cm(p, c1 - c0))
    cm_run(p, x, y, c0, c1, ws);
  else if (p->w_s8 && 3 * p->sw + 3 * p->dw <= 15)
    dw_quads(p, x, y, c0, c1, ws);
  else
    dw_pairs(p, x, y, c0, c1, ws);
}
