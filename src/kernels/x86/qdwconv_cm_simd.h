/* INT8 depthwise convolution vectorized over 16 channels (channel-minor), included by
 * qdwconv_avx512.c (QDW_DOT: vpmaddwd + vpaddd) and qdwconv_avx512vnni.c (vpdpwssd); see
 * kernels/qdwconv.h for the contract.
 *
 * The plane kernels vectorize over output columns, so a 7x7 plane fills 7 of 16 lanes and pays the
 * per-channel set-up (widening, padding, epilogue constants) for 49 outputs. Here a block of 16
 * output channels is computed together, one lane per channel, whatever the plane size:
 *  - per band of output rows, the input rows it reads are transposed from NCHW bytes (16x16 byte
 *    transposes) into a channel-minor int16 row (x - zx, zeros in the padding), then into pair rows:
 *    entry (r, col) holds for each channel the int16 pair (x[r][col], x[r][col + dw]) in one int32
 *    lane, so taps (kh, kw) and (kh, kw + 1) of 16 channels are one load times the per-lane weight
 *    pair (an odd last tap gets weight 0 in the high half);
 *  - each output pixel is sum over tap pairs of QDW_DOT (exact int32 sums: |x - zx|, |w| <= 255),
 *    8 pixels at a time for independent accumulators;
 *  - the epilogue (sn_qgemm_epilogue_ref's float steps, bit for bit) takes per-channel constants as
 *    vectors, writes the band channel-minor, and the band is transposed back to the NCHW planes.
 * The kernel (cm_run) needs QDW_DOT(acc, pairs, weights) defined before inclusion; without it only the
 * shared pieces are defined (transposes, the epilogue), as qdwconv_cmq_avx512vbmi.c uses them. The
 * including file is compiled with AVX-512 F/BW (and VNNI). */
#ifndef SN_QDWCONV_CM_SIMD_H
#define SN_QDWCONV_CM_SIMD_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/qdwconv.h"

static inline size_t cm_al64(size_t n) { return (n + 63) & ~(size_t)63; }

/* b[j] = byte j of every a[i], i.e. the 16x16 byte matrix transposed */
static inline void cm_tr16(const __m128i a[16], __m128i b[16]) {
  __m128i s1[16], s2[16], s3[16];
  for (int i = 0; i < 8; i++) {
    s1[2 * i] = _mm_unpacklo_epi8(a[2 * i], a[2 * i + 1]);
    s1[2 * i + 1] = _mm_unpackhi_epi8(a[2 * i], a[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++)
    for (int h = 0; h < 2; h++) {
      s2[4 * i + 2 * h] = _mm_unpacklo_epi16(s1[4 * i + h], s1[4 * i + 2 + h]);
      s2[4 * i + 2 * h + 1] = _mm_unpackhi_epi16(s1[4 * i + h], s1[4 * i + 2 + h]);
    }
  for (int i = 0; i < 2; i++)
    for (int q = 0; q < 4; q++) {
      s3[8 * i + 2 * q] = _mm_unpacklo_epi32(s2[8 * i + q], s2[8 * i + 4 + q]);
      s3[8 * i + 2 * q + 1] = _mm_unpackhi_epi32(s2[8 * i + q], s2[8 * i + 4 + q]);
    }
  for (int q = 0; q < 4; q++)
    for (int m = 0; m < 2; m++) {
      b[4 * q + 2 * m] = _mm_unpacklo_epi64(s3[2 * q + m], s3[8 + 2 * q + m]);
      b[4 * q + 2 * m + 1] = _mm_unpackhi_epi64(s3[2 * q + m], s3[8 + 2 * q + m]);
    }
}

typedef struct cm_epi {
  __m512i roff;
  __m512 scale, fbias, lo, hi, lozy, hizy;
  __m512i zy;
  int out;
  bool has_roff, has_fbias, clamp_lo, clamp_hi;
} cm_epi;

/* a per-channel float (per: indexed by channel, else one value): channels c0.. in the lanes of k, or
 * (bcast) channel c0 in every lane */
static inline __m512 cm_chan(const float *v, bool per, int64_t c0, __mmask16 k, bool bcast) {
  if (!per) return _mm512_set1_ps(v[0]);
  return bcast ? _mm512_set1_ps(v[c0]) : _mm512_maskz_loadu_ps(k, v + c0);
}

/* the epilogue's constants for channels c0.. (lanes k), or (bcast) for channel c0 in every lane */
static inline cm_epi cm_epi_make(const sn_qgemm_epi *e, int64_t c0, __mmask16 k, bool bcast) {
  cm_epi q;
  q.roff = _mm512_setzero_si512(), q.zy = q.roff;
  q.scale = q.fbias = q.lo = q.hi = q.lozy = q.hizy = _mm512_setzero_ps();
  q.has_fbias = q.clamp_lo = q.clamp_hi = false;
  q.out = e->out;
  q.has_roff = e->row_off != NULL;
  if (q.has_roff)
    q.roff = bcast ? _mm512_set1_epi32(e->row_off[c0]) : _mm512_maskz_loadu_epi32(k, e->row_off + c0);
  if (e->out == SN_QOUT_I32) return q;
  q.scale = cm_chan(e->scale, e->scale_axis == 1, c0, k, bcast);
  if (e->out == SN_QOUT_F32) {
    q.has_fbias = e->fbias != NULL;
    if (q.has_fbias) q.fbias = cm_chan(e->fbias, e->fbias_axis == 1, c0, k, bcast);
    q.clamp_lo = e->lo > -INFINITY, q.clamp_hi = e->hi < INFINITY;
    q.lo = _mm512_set1_ps(e->lo), q.hi = _mm512_set1_ps(e->hi);
    return q;
  }
  q.lozy = _mm512_set1_ps(e->lo - e->zy), q.hizy = _mm512_set1_ps(e->hi - e->zy);
  q.zy = _mm512_set1_epi32((int32_t)e->zy);
  return q;
}

/* channels c0.. in the lanes of k (the channel-minor kernels) */
static inline cm_epi cm_epi_of(const sn_qgemm_epi *e, int64_t c0, __mmask16 k) { return cm_epi_make(e, c0, k, false); }

/* channel c's constants broadcast (the plane kernels: 16 columns of one channel per vector) */
static inline cm_epi cm_epi_bcast(const sn_qgemm_epi *e, int64_t c) { return cm_epi_make(e, c, 0, true); }

/* sn_qgemm_epilogue_ref of 16 sums (lanes k stored) at element `at` of y */
static inline __attribute__((always_inline)) void cm_store_mask(const cm_epi *q, __m512i v, __mmask16 k, void *y,
                                                                size_t at) {
  if (q->has_roff) v = _mm512_add_epi32(v, q->roff);
  if (q->out == SN_QOUT_I32) {
    _mm512_mask_storeu_epi32((int32_t *)y + at, k, v);
    return;
  }
  __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(v), q->scale);
  if (q->out == SN_QOUT_F32) {
    if (q->has_fbias) t = _mm512_add_ps(t, q->fbias);
    if (q->clamp_lo) t = _mm512_max_ps(t, q->lo);
    if (q->clamp_hi) t = _mm512_min_ps(t, q->hi);
    _mm512_mask_storeu_ps((float *)y + at, k, t);
    return;
  }
  t = _mm512_min_ps(_mm512_max_ps(t, q->lozy), q->hizy);
  __m512i r = _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_mask_storeu_epi8((uint8_t *)y + at, k, _mm512_cvtepi32_epi8(_mm512_add_epi32(r, q->zy)));
}

/* the epilogue of one pixel's 16 channel sums, stored channel-minor at o (16 elements) */
static inline void cm_store(const cm_epi *q, __m512i v, uint8_t *o) { cm_store_mask(q, v, (__mmask16)0xFFFF, o, 0); }

/* the band's channel-minor outputs (npx pixels from pixel p0 of the plane) back to channels c0..c0+nc-1 */
static inline void cm_untranspose(const sn_qdw *p, const uint8_t *ot, int64_t npx, int64_t es, void *y, int64_t c0, int nc,
                           int64_t p0) {
  int64_t plane = p->OH * p->OW;
  if (es == 1) {
    for (int64_t j = 0; j < npx; j += 16) {
      int64_t n = npx - j < 16 ? npx - j : 16;
      __mmask16 k = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
      __m128i a[16], b[16];
      for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128((const __m128i *)(const void *)(ot + (j + i) * 16));
      cm_tr16(a, b);
      for (int c = 0; c < nc; c++) _mm_mask_storeu_epi8((uint8_t *)y + (c0 + c) * plane + p0 + j, k, b[c]);
    }
    return;
  }
  const uint32_t *o4 = (const uint32_t *)(const void *)ot;
  for (int c = 0; c < nc; c++) {
    uint32_t *d = (uint32_t *)y + (c0 + c) * plane + p0;
    for (int64_t j = 0; j < npx; j++) d[j] = o4[j * 16 + c];
  }
}

#ifdef QDW_DOT

/* input rows [ih0, ih1) of the 16 channels (contiguous in each NCHW plane) as padded channel-minor
 * bytes: xf[(ih - ih0) * Wb + pw + iw] = the 16 channels' bytes of pixel (ih, iw), the padding columns
 * (Wb in all per row) the zero point (16x16 transposes of the flat run) */
static void cm_xflat(const sn_qdw *p, int64_t Wb, const uint8_t *const src[16], int64_t ih0, int64_t ih1,
                     uint8_t *xf) {
  int64_t W = p->W, n = (ih1 - ih0) * W, off = ih0 * W;
  const __m128i pad = _mm_set1_epi8((char)p->zx);
  for (int64_t r = 0; r < ih1 - ih0; r++) {
    uint8_t *row = xf + r * Wb * 16;
    for (int64_t c = 0; c < p->pw; c++) _mm_storeu_si128((__m128i *)(void *)(row + c * 16), pad);
    for (int64_t c = p->pw + W; c < Wb; c++) _mm_storeu_si128((__m128i *)(void *)(row + c * 16), pad);
  }
  int64_t ri = 0, ci = 0; /* row and column of pixel j */
  for (int64_t j = 0; j < n; j += 16) {
    int64_t m = n - j < 16 ? n - j : 16;
    __mmask16 k = m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1);
    __m128i a[16], b[16];
    for (int c = 0; c < 16; c++) a[c] = _mm_maskz_loadu_epi8(k, src[c] + off + j);
    cm_tr16(a, b);
    for (int i = 0; i < m; i++) {
      _mm_storeu_si128((__m128i *)(void *)(xf + (ri * Wb + p->pw + ci) * 16), b[i]);
      if (++ci == W) ci = 0, ri++;
    }
  }
}

typedef struct cm_layout {
  int64_t KP, np;  /* tap pairs per kernel row, pairs in all */
  int64_t Wpp;     /* pair entries per row */
  int64_t Wb, xfb; /* padded columns of a transposed input row (>= pw + W and >= Wpp + dw), bytes of them */
  int64_t R, nr;   /* output rows per band, pair rows a band reads */
  int64_t obytes;  /* band output buffer bytes */
} cm_layout;

static cm_layout cm_layout_of(const sn_qdw *p) {
  cm_layout l;
  l.KP = (p->KW + 1) / 2;
  l.np = p->KH * l.KP;
  l.Wpp = (p->OW - 1) * p->sw + (2 * l.KP - 2) * p->dw + 1;
  int64_t row = l.Wpp * 64; /* bytes of one pair row */
  int64_t R = (48 * 1024) / (row * p->sh > 0 ? row * p->sh : 1);
  if (R < 1) R = 1;
  if (R > p->OH) R = p->OH;
  l.R = R;
  l.nr = (R - 1) * p->sh + (p->KH - 1) * p->dh + 1;
  l.Wb = p->pw + p->W > l.Wpp + p->dw ? p->pw + p->W : l.Wpp + p->dw;
  l.xfb = l.nr * l.Wb * 16;
  int64_t es = p->e.out == SN_QOUT_I32 || p->e.out == SN_QOUT_F32 ? 4 : 1;
  l.obytes = (((R * p->OW + 15) & ~(int64_t)15) * 16 * es + 63) & ~(int64_t)63;
  return l;
}

static size_t cm_ws_size(const sn_qdw *p) {
  cm_layout l = cm_layout_of(p);
  return cm_al64(sizeof(int32_t) * 16 * (size_t)l.np) + cm_al64((size_t)l.xfb) +
         cm_al64(sizeof(int32_t) * 16 * (size_t)(l.nr * l.Wpp)) + (size_t)l.obytes + 64;
}

/* pair row of a padded input row: entry col = int16 pairs (x[col] - zx, x[col + dw] - zx) per
 * channel (padded columns); xr the row in xf (NULL: a padding row, zeros) */
static void cm_pairs(const sn_qdw *p, const cm_layout *l, const uint8_t *xr, int32_t *pr) {
  if (!xr) {
    memset(pr, 0, sizeof(int32_t) * 16 * (size_t)l->Wpp);
    return;
  }
  const __m512i z = _mm512_set1_epi16((int16_t)p->zx);
  const int64_t dw = p->dw;
  for (int64_t col = 0; col < l->Wpp; col++) {
    __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(xr + col * 16));
    __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(xr + (col + dw) * 16));
    __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(lo, hi)), _mm_unpackhi_epi8(lo, hi), 1);
    __m512i v = p->x_signed ? _mm512_cvtepi8_epi16(t) : _mm512_cvtepu8_epi16(t);
    _mm512_storeu_si512((void *)(pr + col * 16), _mm512_sub_epi16(v, z));
  }
}

/* nv output pixels from ow0 of one output row: pr0 the band's pair row of kernel row 0 */
static inline __attribute__((always_inline)) void cm_block(const int nv, const sn_qdw *p, const cm_layout *l,
                                                           const int32_t *pr0, const int32_t *wv, int64_t ow0,
                                                           const cm_epi *q, uint8_t *o, int64_t es) {
  __m512i a[8];
  for (int i = 0; i < 8; i++) a[i] = _mm512_setzero_si512();
  const int64_t sstep = p->sw * 16, rstep = p->dh * l->Wpp * 16, pstep = 2 * p->dw * 16;
  const int32_t *base = pr0 + ow0 * sstep;
  for (int64_t kh = 0; kh < p->KH; kh++) {
    const int32_t *rb = base + kh * rstep;
    for (int64_t kp = 0; kp < l->KP; kp++) {
      __m512i w = _mm512_loadu_si512((const void *)(wv + (kh * l->KP + kp) * 16));
      const int32_t *s = rb + kp * pstep;
      for (int i = 0; i < nv; i++) a[i] = QDW_DOT(a[i], _mm512_loadu_si512((const void *)(s + i * sstep)), w);
    }
  }
  for (int i = 0; i < nv; i++) cm_store(q, a[i], o + (ow0 + i) * 16 * es);
}

static void cm_run(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  cm_layout l = cm_layout_of(p);
  int32_t *wv = ws;
  uint8_t *xf = (uint8_t *)wv + cm_al64(sizeof(int32_t) * 16 * (size_t)l.np);
  int32_t *pb = (int32_t *)(void *)(xf + cm_al64((size_t)l.xfb));
  uint8_t *ot = (uint8_t *)pb + cm_al64(sizeof(int32_t) * 16 * (size_t)(l.nr * l.Wpp));
  int64_t K = p->KH * p->KW, es = p->e.out == SN_QOUT_I32 || p->e.out == SN_QOUT_F32 ? 4 : 1;
  int64_t HW = p->H * p->W;
  for (int64_t cb = c0; cb < c1; cb += 16) {
    int nc = c1 - cb < 16 ? (int)(c1 - cb) : 16;
    __mmask16 km = (__mmask16)((1u << nc) - 1);
    const uint8_t *src[16];
    for (int c = 0; c < 16; c++) src[c] = x + ((cb + (c < nc ? c : nc - 1)) / p->mult) * HW;
    /* per-lane weight pairs (zero for the lanes past c1): tap t of the 16 channels is one gather */
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int32_t)K));
    const int32_t *wb = p->w + cb * K;
    const int64_t KW = p->KW, KP = l.KP;
    /* made at load (sn_qdwconv_cm_pack) for whole blocks on the 16-channel grid: the same values,
     * zeros past the last channel as the masked gathers give */
    const int32_t *wblk = wv;
    if (p->wcm && cb % 16 == 0 && (nc == 16 || cb + nc == p->wcm_ch) && cb + nc <= p->wcm_ch)
      wblk = p->wcm + (cb / 16) * l.np * 16;
    for (int64_t kh = 0; wblk == wv && kh < p->KH; kh++)
      for (int64_t kp = 0; kp < KP; kp++) {
        int64_t t = kh * KW + 2 * kp;
        __m512i lo = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, gidx, wb + t, 4);
        __m512i hi = 2 * kp + 1 < KW ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), km, gidx, wb + t + 1, 4)
                                     : _mm512_setzero_si512();
        _mm512_storeu_si512((void *)(wv + (kh * KP + kp) * 16),
                            _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16)));
      }
    cm_epi q = cm_epi_of(&p->e, cb, km);
    for (int64_t o0 = 0; o0 < p->OH; o0 += l.R) {
      int64_t o1 = o0 + l.R < p->OH ? o0 + l.R : p->OH;
      int64_t nr = (o1 - o0 - 1) * p->sh + (p->KH - 1) * p->dh + 1;
      int64_t r0 = o0 * p->sh - p->ph; /* input row of the band's first pair row */
      int64_t ih0 = r0 > 0 ? r0 : 0, ih1 = r0 + nr < p->H ? r0 + nr : p->H;
      if (ih1 > ih0) cm_xflat(p, l.Wb, src, ih0, ih1, xf);
      for (int64_t r = 0; r < nr; r++) {
        int64_t ih = r0 + r;
        cm_pairs(p, &l, ih >= ih0 && ih < ih1 ? xf + (ih - ih0) * l.Wb * 16 : NULL, pb + r * l.Wpp * 16);
      }
      for (int64_t oh = o0; oh < o1; oh++) {
        const int32_t *pr0 = pb + (oh - o0) * p->sh * l.Wpp * 16;
        uint8_t *o = ot + (oh - o0) * p->OW * 16 * es;
        int64_t ow = 0;
        for (; ow + 8 <= p->OW; ow += 8) cm_block(8, p, &l, pr0, wblk, ow, &q, o, es);
        switch (p->OW - ow) {
          case 7: cm_block(7, p, &l, pr0, wblk, ow, &q, o, es); break;
          case 6: cm_block(6, p, &l, pr0, wblk, ow, &q, o, es); break;
          case 5: cm_block(5, p, &l, pr0, wblk, ow, &q, o, es); break;
          case 4: cm_block(4, p, &l, pr0, wblk, ow, &q, o, es); break;
          case 3: cm_block(3, p, &l, pr0, wblk, ow, &q, o, es); break;
          case 2: cm_block(2, p, &l, pr0, wblk, ow, &q, o, es); break;
          case 1: cm_block(1, p, &l, pr0, wblk, ow, &q, o, es); break;
          default: break;
        }
      }
      cm_untranspose(p, ot, (o1 - o0) * p->OW, es, y, cb, nc, o0 * p->OW);
    }
  }
}

#endif /* QDW_DOT */

#endif
