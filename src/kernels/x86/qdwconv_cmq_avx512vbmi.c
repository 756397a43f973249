/* INT8 depthwise convolution, channel-minor with u8 x s8 quads (see kernels/qdwconv.h,
 * sn_qdwconv_cmq_avx512vbmi). For weights that fit s8 and dilation 1 along the width.
 *
 * A block of 16 output channels is computed together, one 32-bit lane per channel:
 *  - per band of output rows, the input rows it reads are transposed from the NCHW planes into
 *    channel-minor bytes (16 per pixel; s8 input flipped to u8 by XOR 0x80), padding rows and columns
 *    the (flipped) zero point zx', so that every tap reads a real byte and
 *      sum_t w_t (x_t - zx) = sum_t w_t x'_t - zx' * sum_t w_t,
 *    the last term one constant per channel, which starts the accumulator;
 *  - the taps (kh, 4g .. 4g + 3) of one output pixel read four consecutive pixels, 64 contiguous bytes
 *    of the band: one vpermb turns them (pixel-major) into 16 lanes of four bytes (channel-major), and
 *    one vpdpbusd adds the four products per lane, exact in int32 (taps past KW have weight 0);
 *  - the epilogue (sn_qgemm_epilogue_ref's float steps, bit for bit: qdwconv_cm_simd.h) writes the band
 *    channel-minor, and the band is transposed back to the NCHW planes.
 * No widened copy of the input: a 3x3 tap row is a load, a permute and a dot product per pixel.
 * vpdpbusd is written as inline asm, so this file needs no -mavx512vnni; the caller checks for VNNI. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/qdwconv.h"
#include "kernels/x86/qdwconv_cm_simd.h"

typedef struct cmq_layout {
  int64_t G, nq;  /* groups of four kernel columns per kernel row; KH x G tap vectors */
  int64_t Wb;     /* padded columns of a band row (>= pw + W, and every group's four pixels) */
  int64_t R, nr;  /* output rows per band, input rows a band reads */
  int64_t xfb;    /* bytes of the band's input */
  int64_t obytes; /* bytes of the band's output (channel-minor, whole 16-pixel groups) */
} cmq_layout;

static cmq_layout cmq_layout_of(const sn_qdw *p) {
  cmq_layout l;
  l.G = (p->KW + 3) / 4;
  l.nq = p->KH * l.G;
  int64_t need = (p->OW - 1) * p->sw + 4 * l.G;
  l.Wb = p->pw + p->W > need ? p->pw + p->W : need;
  int64_t row = l.Wb * 16;
  /* a band's input in about 32 KiB (L1 holds it and the rows the next band shares with it) */
  int64_t R = (32 * 1024) / (row * p->sh > 0 ? row * p->sh : 1);
  if (R < 1) R = 1;
  if (R > p->OH) R = p->OH;
  l.R = R;
  l.nr = (R - 1) * p->sh + (p->KH - 1) * p->dh + 1;
  l.xfb = l.nr * row;
  int64_t es = p->e.out == SN_QOUT_I32 || p->e.out == SN_QOUT_F32 ? 4 : 1;
  l.obytes = (((R * p->OW + 15) & ~(int64_t)15) * 16 * es + 63) & ~(int64_t)63;
  return l;
}

size_t sn_qdwconv_cmq_ws_size(const sn_qdw *p) {
  cmq_layout l = cmq_layout_of(p);
  return cm_al64(sizeof(int32_t) * 16 * (size_t)(l.nq + 1)) + cm_al64((size_t)l.xfb) + (size_t)l.obytes + 64;
}

/* 16x16 byte transpose: z[j] holds rows j, 4 + j, 8 + j, 12 + j (its 128-bit lanes 0..3); y[m] gets
 * columns 4m .. 4m + 3 (lane d: column 4m + d, its 16 bytes the rows in order). Bytes, then 16-bit
 * pairs, interleaved within lanes leave in lane l, dword d of u[m] rows 4l .. 4l + 3 of column
 * 4m + d; one dword permute per register gathers each column's four dwords into its lane. */
static inline void tr16_z(const __m512i z[4], __m512i y[4]) {
  __m512i t0 = _mm512_unpacklo_epi8(z[0], z[1]), t1 = _mm512_unpackhi_epi8(z[0], z[1]);
  __m512i t2 = _mm512_unpacklo_epi8(z[2], z[3]), t3 = _mm512_unpackhi_epi8(z[2], z[3]);
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  y[0] = _mm512_permutexvar_epi32(idx, _mm512_unpacklo_epi16(t0, t2));
  y[1] = _mm512_permutexvar_epi32(idx, _mm512_unpackhi_epi16(t0, t2));
  y[2] = _mm512_permutexvar_epi32(idx, _mm512_unpacklo_epi16(t1, t3));
  y[3] = _mm512_permutexvar_epi32(idx, _mm512_unpackhi_epi16(t1, t3));
}

static inline __m128i ld16(const uint8_t *p, __mmask16 k) { return _mm_maskz_loadu_epi8(k, p); }

/* input rows [ih0, ih1) of the 16 channels as padded channel-minor bytes (flipped): band row
 * ih - ih0, column pw + iw = pixel (ih, iw); the padding columns the byte pad. Each run of 16 pixels
 * of a row is one transpose: the 16 channels' bytes of the run (masked loads: nothing past the row is
 * read), then four 64-byte stores (masked at the row's end). */
static void cmq_xflat(const sn_qdw *p, int64_t Wb, const uint8_t *const src[16], int64_t ih0, int64_t ih1,
                      uint8_t *xf, uint8_t padb, uint8_t flip) {
  const int64_t W = p->W, pw = p->pw;
  const __m512i pad = _mm512_set1_epi8((char)padb), fv = _mm512_set1_epi8((char)flip);
  for (int64_t ih = ih0; ih < ih1; ih++) {
    uint8_t *row = xf + (ih - ih0) * Wb * 16;
    for (int64_t c = 0; c < pw; c++) _mm_storeu_si128((__m128i *)(void *)(row + c * 16), _mm512_castsi512_si128(pad));
    for (int64_t c = pw + W; c < Wb; c++)
      _mm_storeu_si128((__m128i *)(void *)(row + c * 16), _mm512_castsi512_si128(pad));
    const int64_t off = ih * W;
    for (int64_t j = 0; j < W; j += 16) {
      int64_t m = W - j < 16 ? W - j : 16;
      __mmask16 k = m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1);
      __m512i z[4], y[4];
      for (int q = 0; q < 4; q++) {
        __m512i v = _mm512_castsi128_si512(ld16(src[q] + off + j, k));
        v = _mm512_inserti32x4(v, ld16(src[4 + q] + off + j, k), 1);
        v = _mm512_inserti32x4(v, ld16(src[8 + q] + off + j, k), 2);
        z[q] = _mm512_xor_si512(_mm512_inserti32x4(v, ld16(src[12 + q] + off + j, k), 3), fv);
      }
      tr16_z(z, y);
      uint8_t *dst = row + (pw + j) * 16;
      if (m == 16) {
        for (int q = 0; q < 4; q++) _mm512_storeu_si512((void *)(dst + 64 * q), y[q]);
      } else {
        for (int q = 0; q < 4 && 4 * q < m; q++) {
          int64_t n = m - 4 * q < 4 ? m - 4 * q : 4; /* pixels of this store */
          _mm512_mask_storeu_epi32(dst + 64 * q, (__mmask16)((1u << (4 * n)) - 1), y[q]);
        }
      }
    }
  }
}

/* the band's channel-minor u8 outputs (npx pixels from pixel p0 of the plane) back to the planes of
 * channels c0 .. c0 + nc - 1: per 16 pixels, the 4x4 128-bit blocks of four 64-byte loads regrouped
 * (rows j, 4 + j, 8 + j, 12 + j together), one transpose, and per channel a 16-byte masked store (the
 * mask picks its lane; the address is offset so the lane lands on the channel's plane) */
static void cmq_untranspose_u8(const sn_qdw *p, const uint8_t *ot, int64_t npx, uint8_t *y, int64_t c0, int nc,
                               int64_t p0) {
  const int64_t plane = p->OH * p->OW;
  for (int64_t j = 0; j < npx; j += 16) {
    int64_t n = npx - j < 16 ? npx - j : 16;
    const uint8_t *s = ot + j * 16;
    __m512i L0 = _mm512_loadu_si512((const void *)s), L1 = _mm512_loadu_si512((const void *)(s + 64));
    __m512i L2 = _mm512_loadu_si512((const void *)(s + 128)), L3 = _mm512_loadu_si512((const void *)(s + 192));
    __m512i s0 = _mm512_shuffle_i64x2(L0, L1, 0x44), s1 = _mm512_shuffle_i64x2(L0, L1, 0xEE);
    __m512i s2 = _mm512_shuffle_i64x2(L2, L3, 0x44), s3 = _mm512_shuffle_i64x2(L2, L3, 0xEE);
    __m512i z[4] = {_mm512_shuffle_i64x2(s0, s2, 0x88), _mm512_shuffle_i64x2(s0, s2, 0xDD),
                    _mm512_shuffle_i64x2(s1, s3, 0x88), _mm512_shuffle_i64x2(s1, s3, 0xDD)};
    __m512i yv[4];
    tr16_z(z, yv);
    const uint64_t lane = n >= 16 ? 0xffffull : ((1ull << n) - 1);
    const __mmask64 k0 = (__mmask64)lane, k1 = (__mmask64)(lane << 16), k2 = (__mmask64)(lane << 32),
                    k3 = (__mmask64)(lane << 48);
    uint8_t *dst = y + c0 * plane + p0 + j;
#define CMQ_ST(c, k, d) \
  if ((c) < nc) _mm512_mask_storeu_epi8(dst + (c) * plane - 16 * (d), k, yv[(c) >> 2]);
#define CMQ_ST4(q) CMQ_ST(4 * (q), k0, 0) CMQ_ST(4 * (q) + 1, k1, 1) CMQ_ST(4 * (q) + 2, k2, 2) CMQ_ST(4 * (q) + 3, k3, 3)
    CMQ_ST4(0) CMQ_ST4(1) CMQ_ST4(2) CMQ_ST4(3)
#undef CMQ_ST4
#undef CMQ_ST
  }
}

static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  __asm__("vpdpbusd %[s], %[u], %[acc]" : [acc] "+v"(acc) : [u] "v"(u8), [s] "v"(s8));
  return acc;
}

/* nv output pixels from ow0 of one output row: rb the band row of kernel row 0, wq the block's tap
 * vectors, comp the zero-point constant per lane */
static inline __attribute__((always_inline)) void cmq_block(const int nv, const sn_qdw *p, const cmq_layout *l,
                                                            const uint8_t *rb, const int32_t *wq, __m512i comp,
                                                            __m512i perm, int64_t ow0, const cm_epi *q, uint8_t *o,
                                                            int64_t es) {
  __m512i a[8];
  for (int i = 0; i < 8; i++) a[i] = comp;
  const int64_t pstep = p->sw * 16, rstep = p->dh * l->Wb * 16;
  const uint8_t *base = rb + ow0 * pstep;
  for (int64_t kh = 0; kh < p->KH; kh++) {
    const uint8_t *r = base + kh * rstep;
    for (int64_t g = 0; g < l->G; g++) {
      __m512i w = _mm512_loadu_si512((const void *)(wq + (kh * l->G + g) * 16));
      const uint8_t *s = r + g * 64;
      for (int i = 0; i < nv; i++)
        a[i] = dpbusd(a[i], _mm512_permutexvar_epi8(perm, _mm512_loadu_si512((const void *)(s + i * pstep))), w);
    }
  }
  for (int i = 0; i < nv; i++) cm_store(q, a[i], o + (ow0 + i) * 16 * es);
}

void sn_qdwconv_cmq_avx512vbmi(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  cmq_layout l = cmq_layout_of(p);
  int32_t *wv = ws;
  uint8_t *xf = (uint8_t *)wv + cm_al64(sizeof(int32_t) * 16 * (size_t)(l.nq + 1));
  uint8_t *ot = xf + cm_al64((size_t)l.xfb);
  const int64_t es = p->e.out == SN_QOUT_I32 || p->e.out == SN_QOUT_F32 ? 4 : 1, HW = p->H * p->W;
  const int64_t row = l.Wb * 16, bstride = (l.nq + 1) * 16;
  const uint8_t flip = p->x_signed ? 0x80 : 0;
  const int32_t zx = p->zx + (p->x_signed ? 128 : 0); /* the flipped zero point, 0..255 */
  /* byte 4c + t of the result = byte 16t + c of the source: pixel t's channel c */
  uint8_t pidx[64];
  for (int c = 0; c < 16; c++)
    for (int t = 0; t < 4; t++) pidx[4 * c + t] = (uint8_t)(16 * t + c);
  const __m512i perm = _mm512_loadu_si512((const void *)pidx);
  for (int64_t cb = c0; cb < c1; cb += 16) {
    int nc = c1 - cb < 16 ? (int)(c1 - cb) : 16;
    __mmask16 km = (__mmask16)((1u << nc) - 1);
    const uint8_t *src[16];
    for (int c = 0; c < 16; c++) src[c] = x + ((cb + (c < nc ? c : nc - 1)) / p->mult) * HW;
    /* the block's taps: made at load for whole blocks on the 16-channel grid, else packed here (the
     * same layout for the nc channels from cb) */
    const int32_t *wq = wv;
    if (p->wq && cb % 16 == 0 && (nc == 16 || cb + nc == p->wq_ch) && cb + nc <= p->wq_ch)
      wq = p->wq + (cb / 16) * bstride;
    else
      sn_qdwconv_cmq_pack(p->w + cb * p->KH * p->KW, nc, p->KH, p->KW, wv);
    __m512i wsum = _mm512_maskz_loadu_epi32(km, wq + l.nq * 16);
    __m512i comp = _mm512_mullo_epi32(wsum, _mm512_set1_epi32(-zx));
    cm_epi q = cm_epi_of(&p->e, cb, km);
    for (int64_t o0 = 0; o0 < p->OH; o0 += l.R) {
      int64_t o1 = o0 + l.R < p->OH ? o0 + l.R : p->OH;
      int64_t nr = (o1 - o0 - 1) * p->sh + (p->KH - 1) * p->dh + 1;
      int64_t r0 = o0 * p->sh - p->ph; /* input row of the band's first row */
      int64_t ih0 = r0 > 0 ? r0 : 0, ih1 = r0 + nr < p->H ? r0 + nr : p->H;
      if (ih1 > ih0) cmq_xflat(p, l.Wb, src, ih0, ih1, xf + (ih0 - r0) * row, (uint8_t)zx, flip);
      for (int64_t r = 0; r < nr; r++) /* rows of the padding */
        if (r0 + r < ih0 || r0 + r >= ih1) memset(xf + r * row, zx, (size_t)row);
      for (int64_t oh = o0; oh < o1; oh++) {
        const uint8_t *rb = xf + (oh - o0) * p->sh * row;
        uint8_t *o = ot + (oh - o0) * p->OW * 16 * es;
        int64_t ow = 0;
        for (; ow + 8 <= p->OW; ow += 8) cmq_block(8, p, &l, rb, wq, comp, perm, ow, &q, o, es);
        switch (p->OW - ow) {
          case 7: cmq_block(7, p, &l, rb, wq, comp, perm, ow, &q, o, es); break;
          case 6: cmq_block(6, p, &l, rb, wq, comp, perm, ow, &q, o, es); break;
          case 5: cmq_block(5, p, &l, rb, wq, comp, perm, ow, &q, o, es); break;
          case 4: cmq_block(4, p, &l, rb, wq, comp, perm, ow, &q, o, es); break;
          case 3: cmq_block(3, p, &l, rb, wq, comp, perm, ow, &q, o, es); break;
          case 2: cmq_block(2, p, &l, rb, wq, comp, perm, ow, &q, o, es); break;
          case 1: cmq_block(1, p, &l, rb, wq, comp, perm, ow, &q, o, es); break;
          default: break;
        }
      }
      if (es == 1)
        cmq_untranspose_u8(p, ot, (o1 - o0) * p->OW, y, cb, nc, o0 * p->OW);
      else
        cm_untranspose(p, ot, (o1 - o0) * p->OW, es, y, cb, nc, o0 * p->OW);
    }
  }
}
