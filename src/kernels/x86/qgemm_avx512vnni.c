/* INT8 GEMM with AVX512-VNNI (vpdpbusd: 4 u8 x s8 products summed into each int32 lane, no
 * saturation): register tile of up to 6 rows x 64 columns (24 accumulators), A broadcast 4 bytes at
 * a time, B from the 16-column packed panels; then the epilogue of qgemm.h in vectors, bit-identical
 * to sn_qgemm_epilogue_ref. Compiled with -mavx512vnni (see CMakeLists.txt). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/qgemm.h"

#define MR 6
#define NV 4

/* acc += u8 . s8 in place. GCC 12 does not tie _mm512_dpbusd_epi32's accumulator to its output
 * register: it copies every accumulator around every vpdpbusd and spills them, at less than half
 * the speed; the asm form keeps the 24 accumulators in registers. */
static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  __asm__("vpdpbusd %[s], %[u], %[acc]" : [acc] "+v"(acc) : [u] "v"(u8), [s] "v"(s8));
  return acc;
}

static inline __attribute__((always_inline)) __m512i bcast4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* the last K % 4 bytes of a row, zero-extended to a quad */
static inline __m512i bcast_tail(const uint8_t *p, int r) {
  uint8_t q[4] = {0, 0, 0, 0};
  memcpy(q, p, (size_t)r);
  return bcast4(q);
}

/* Where A's rows are: row i of the tile is nseg segments of seglen bytes, segment s at p[i] + segoff[s]
 * (a plain row-major A: one segment of K bytes at A + i * lda; the indirect form of sn_qgemm_ind:
 * one segment per kernel tap, seglen a multiple of 4). K = nseg * seglen. */
typedef struct arows {
  const uint8_t *p[MR];
  const int64_t *segoff;
  int64_t nseg, seglen;
} arows;

static inline __attribute__((always_inline)) void tile(const int mr, const int nv, const bool a_signed,
                                                       const arows *ar, const uint8_t *Bp, int64_t pstride,
                                                       int32_t out[MR][NV * 16]) {
  /* (fully unrolled for the constant mr and nv, so that the accumulators live in registers) */
  __m512i c[MR][NV];
#pragma GCC unroll 6
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++) c[i][j] = _mm512_setzero_si512();
  int64_t kq = ar->seglen / 4;
  for (int64_t sg = 0; sg < ar->nseg; sg++) {
    const uint8_t *ap[MR];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) ap[i] = ar->p[i] + ar->segoff[sg];
    const uint8_t *bs = Bp + sg * kq * 64;
    for (int64_t q = 0; q < kq; q++) {
      __m512i b[NV];
#pragma GCC unroll 4
      for (int j = 0; j < nv; j++) b[j] = _mm512_load_si512((const void *)(bs + j * pstride + q * 64));
#pragma GCC unroll 6
      for (int i = 0; i < mr; i++) {
        __m512i a = bcast4(ap[i] + 4 * q);
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
          c[i][j] = a_signed ? dpbusd(c[i][j], b[j], a) : dpbusd(c[i][j], a, b[j]);
      }
    }
  }
  int r = (int)(ar->seglen & 3); /* one segment only */
  if (r) {
    __m512i b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++) b[j] = _mm512_load_si512((const void *)(Bp + j * pstride + kq * 64));
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
      __m512i a = bcast_tail(ar->p[i] + 4 * kq, r);
#pragma GCC unroll 4
      for (int j = 0; j < nv; j++)
        c[i][j] = a_signed ? dpbusd(c[i][j], b[j], a) : dpbusd(c[i][j], a, b[j]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++) _mm512_storeu_si512((void *)(out[i] + 16 * j), c[i][j]);
}

/* The full 6 x 64 tile with the 24 accumulators as named variables: GCC keeps an array of vectors in
 * memory across the loop (a store per accumulator per step), which halves the speed. */
#define DECL4(i) __m512i c##i##0 = _mm512_setzero_si512(), c##i##1 = c##i##0, c##i##2 = c##i##0, c##i##3 = c##i##0
#define DECL6X4() \
  DECL4(0);       \
  DECL4(1);       \
  DECL4(2);       \
  DECL4(3);       \
  DECL4(4);       \
  DECL4(5)
#define ROW4(i, a)                                                                                         \
  do {                                                                                                     \
    __m512i a_ = (a);                                                                                      \
    c##i##0 = a_signed ? dpbusd(c##i##0, b0, a_) : dpbusd(c##i##0, a_, b0);                              \
    c##i##1 = a_signed ? dpbusd(c##i##1, b1, a_) : dpbusd(c##i##1, a_, b1);                              \
    c##i##2 = a_signed ? dpbusd(c##i##2, b2, a_) : dpbusd(c##i##2, a_, b2);                              \
    c##i##3 = a_signed ? dpbusd(c##i##3, b3, a_) : dpbusd(c##i##3, a_, b3);                              \
  } while (0)
#define STORE4(i)                                                                                          \
  do {                                                                                                     \
    _mm512_storeu_si512((void *)(out[i] + 0), c##i##0);                                                    \
    _mm512_storeu_si512((void *)(out[i] + 16), c##i##1);                                                   \
    _mm512_storeu_si512((void *)(out[i] + 32), c##i##2);                                                   \
    _mm512_storeu_si512((void *)(out[i] + 48), c##i##3);                                                   \
  } while (0)

/* The K loop of the full tile over A's segments (see arows), then K % 4 of a single segment */
#define KLOOP6X4(ar)                                                                                              \
  do {                                                                                                            \
    const int64_t p0_ = 0, p1_ = pstride, p2_ = 2 * pstride, p3_ = 3 * pstride;                                   \
    int64_t kq = (ar)->seglen / 4;                                                                                \
    for (int64_t sg = 0; sg < (ar)->nseg; sg++) {                                                                 \
      int64_t so = (ar)->segoff[sg];                                                                              \
      const uint8_t *a0 = (ar)->p[0] + so, *a1 = (ar)->p[1] + so, *a2 = (ar)->p[2] + so;                          \
      const uint8_t *a3 = (ar)->p[3] + so, *a4 = (ar)->p[4] + so, *a5 = (ar)->p[5] + so;                          \
      const uint8_t *bs = Bp + sg * kq * 64;                                                                      \
      for (int64_t q = 0; q < kq; q++) {                                                                          \
        __m512i b0 = _mm512_load_si512((const void *)(bs + p0_ + q * 64));                                        \
        __m512i b1 = _mm512_load_si512((const void *)(bs + p1_ + q * 64));                                        \
        __m512i b2 = _mm512_load_si512((const void *)(bs + p2_ + q * 64));                                        \
        __m512i b3 = _mm512_load_si512((const void *)(bs + p3_ + q * 64));                                        \
        ROW4(0, bcast4(a0 + 4 * q));                                                                              \
        ROW4(1, bcast4(a1 + 4 * q));                                                                              \
        ROW4(2, bcast4(a2 + 4 * q));                                                                              \
        ROW4(3, bcast4(a3 + 4 * q));                                                                              \
        ROW4(4, bcast4(a4 + 4 * q));                                                                              \
        ROW4(5, bcast4(a5 + 4 * q));                                                                              \
      }                                                                                                           \
    }                                                                                                             \
    int r = (int)((ar)->seglen & 3);                                                                              \
    if (r) {                                                                                                      \
      __m512i b0 = _mm512_load_si512((const void *)(Bp + p0_ + kq * 64));                                         \
      __m512i b1 = _mm512_load_si512((const void *)(Bp + p1_ + kq * 64));                                         \
      __m512i b2 = _mm512_load_si512((const void *)(Bp + p2_ + kq * 64));                                         \
      __m512i b3 = _mm512_load_si512((const void *)(Bp + p3_ + kq * 64));                                         \
      ROW4(0, bcast_tail((ar)->p[0] + 4 * kq, r));                                                                \
      ROW4(1, bcast_tail((ar)->p[1] + 4 * kq, r));                                                                \
      ROW4(2, bcast_tail((ar)->p[2] + 4 * kq, r));                                                                \
      ROW4(3, bcast_tail((ar)->p[3] + 4 * kq, r));                                                                \
      ROW4(4, bcast_tail((ar)->p[4] + 4 * kq, r));                                                                \
      ROW4(5, bcast_tail((ar)->p[5] + 4 * kq, r));                                                                \
    }                                                                                                             \
  } while (0)

/* The residual QLinearAdd of 16 requantized values q (int32) with 16 residual bytes at r (kernels/
 * qgemm.h: the same float steps as sn_qgemm_epilogue_ref) */
static inline __attribute__((always_inline)) __m512i residual16(const sn_qgemm_epi *e, __m512i q, const uint8_t *r,
                                                                __mmask16 k) {
  __m128i rb = _mm_maskz_loadu_epi8(k, (const void *)r);
  bool u8 = e->out == SN_QOUT_U8;
  __m512 rv = _mm512_cvtepi32_ps(u8 ? _mm512_cvtepu8_epi32(rb) : _mm512_cvtepi8_epi32(rb)), qv = _mm512_cvtepi32_ps(q);
  __m512 va = e->res_is_a ? rv : qv, vb = e->res_is_a ? qv : rv;
  __m512 t = _mm512_fmadd_ps(va, _mm512_set1_ps(e->rac), _mm512_fmadd_ps(vb, _mm512_set1_ps(e->rbc), _mm512_set1_ps(e->rfix)));
  t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(u8 ? 0.0f : -128.0f)), _mm512_set1_ps(u8 ? 255.0f : 127.0f));
  return _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* residual16 for the register tiles, from the requantized value as a float: qv = rint(t) + zy, t
 * already clamped (the code the reference computes, exactly: small integers). With sat the final
 * clamp to the type's range is left to the saturating packs that narrow the result, which give the
 * same bytes when every result is below 2^30 in magnitude (res_sat). */
static inline __attribute__((always_inline)) __m512i residual16f(const sn_qgemm_epi *e, __m512 qv, const uint8_t *r,
                                                                 bool sat) {
  __m128i rb = _mm_loadu_si128((const __m128i *)(const void *)r);
  bool u8 = e->out == SN_QOUT_U8;
  __m512 rv = _mm512_cvtepi32_ps(u8 ? _mm512_cvtepu8_epi32(rb) : _mm512_cvtepi8_epi32(rb));
  __m512 va = e->res_is_a ? rv : qv, vb = e->res_is_a ? qv : rv;
  __m512 t = _mm512_fmadd_ps(va, _mm512_set1_ps(e->rac), _mm512_fmadd_ps(vb, _mm512_set1_ps(e->rbc), _mm512_set1_ps(e->rfix)));
  if (!sat)
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(u8 ? 0.0f : -128.0f)), _mm512_set1_ps(u8 ? 255.0f : 127.0f));
  return _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* every residual result of the epilogue below 2^30 in magnitude (fma(a, rac, fma(b, rbc, rfix)) over
 * 8-bit a and b): the packs' saturation is then the clamp */
static inline bool res_sat(const sn_qgemm_epi *e) {
  return 256.0f * (fabsf(e->rac) + fabsf(e->rbc)) + fabsf(e->rfix) < 1073741824.0f;
}

/* The 24 accumulators started at the epilogue's integer offset instead of zero (the same int32 sum,
 * which wraps either way): per row (row_off) or per column (co, colp) */
#define INIT4(i, v0, v1, v2, v3) __m512i c##i##0 = (v0), c##i##1 = (v1), c##i##2 = (v2), c##i##3 = (v3)

/* The conv's requantizing epilogue of one row of the full tile, straight from the accumulators (the
 * same result as epilogue_q8_rows): scale, clamp, round, add zy, then the row's 64 values narrowed by
 * two saturating packs and one dword permute into a single 64-byte store. The lower clamp is left to
 * the packs' saturation when lo is the type's minimum, zy >= 0 and no residual follows (cvtps2dq
 * turns a NaN or a value below -2^31 into INT_MIN, which saturates to the minimum too; vminps(hi, t)
 * passes a NaN through); the upper one stays, as a large positive value would also convert to
 * INT_MIN. */
#define EPIQ4(i)                                                                                                \
  do {                                                                                                          \
    __m512 sc = _mm512_set1_ps(colp ? 0.0f : e->scale[e->scale_axis == 1 ? m + i : 0]);                        \
    uint8_t *row = (uint8_t *)C + (size_t)((m + i) * ldc);                                                     \
    const uint8_t *rrow = res ? res + (size_t)((m + i) * ldc) : NULL;                                          \
    __m512i q0 = EPIQ1(c##i##0, 0), q1 = EPIQ1(c##i##1, 16), q2 = EPIQ1(c##i##2, 32), q3 = EPIQ1(c##i##3, 48);   \
    __m512i p01 = _mm512_packs_epi32(q0, q1), p23 = _mm512_packs_epi32(q2, q3);                                \
    __m512i b_ = u8 ? _mm512_packus_epi16(p01, p23) : _mm512_packs_epi16(p01, p23);                            \
    R[i] = _mm512_permutexvar_epi32(perm, b_);                                                                 \
    if (!ct) _mm512_storeu_si512((void *)row, R[i]);                                                           \
  } while (0)
#define EPIQ1(acc, off) \
  epiq1(e, acc, colp ? cs[(off) / 16] : sc, lo, hi, zy, zyf, needlo, rsat, rrow ? rrow + (off) : NULL)

static inline __attribute__((always_inline)) __m512i epiq1(const sn_qgemm_epi *e, __m512i acc, __m512 sc, __m512 lo,
                                                           __m512 hi, __m512i zy, __m512 zyf, bool needlo, bool rsat,
                                                           const uint8_t *r) {
  __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), sc);
  if (needlo) t = _mm512_max_ps(t, lo);
  t = _mm512_min_ps(hi, t);
  if (r) /* the code as a float (no round trip through int32) into the residual Add */
    return residual16f(e, _mm512_add_ps(_mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zyf),
                       r, rsat);
  return _mm512_add_epi32(_mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zy);
}

/* The 6 x 64 bytes of a tile (row i in R[i], column n at byte n) stored transposed: column n's 6 bytes
 * at C + n * ldc (C: the tile's first row and column). Bytes, words and dwords interleaved leave per
 * column a qword of its 6 bytes and 2 zeros, which a masked store writes; lane l of V[b][h] holds
 * columns 16 l + 4 b + 2 h and that + 1. */
static inline __attribute__((always_inline)) void store6_t(const __m512i R[6], uint8_t *C, int64_t ldc) {
  const __m512i z = _mm512_setzero_si512();
  __m512i t01[2] = {_mm512_unpacklo_epi8(R[0], R[1]), _mm512_unpackhi_epi8(R[0], R[1])};
  __m512i t23[2] = {_mm512_unpacklo_epi8(R[2], R[3]), _mm512_unpackhi_epi8(R[2], R[3])};
  __m512i t45[2] = {_mm512_unpacklo_epi8(R[4], R[5]), _mm512_unpackhi_epi8(R[4], R[5])};
  for (int hb = 0; hb < 2; hb++) /* columns 16 l + 8 hb .. + 7 */
    for (int q = 0; q < 2; q++) { /* columns 16 l + 8 hb + 4 q .. + 3 */
      __m512i u03 = q ? _mm512_unpackhi_epi16(t01[hb], t23[hb]) : _mm512_unpacklo_epi16(t01[hb], t23[hb]);
      __m512i u45 = q ? _mm512_unpackhi_epi16(t45[hb], z) : _mm512_unpacklo_epi16(t45[hb], z);
      for (int h = 0; h < 2; h++) {
        __m512i v = h ? _mm512_unpackhi_epi32(u03, u45) : _mm512_unpacklo_epi32(u03, u45);
        int64_t c0 = 8 * hb + 4 * q + 2 * h;
        __m128i x[4] = {_mm512_castsi512_si128(v), _mm512_extracti32x4_epi32(v, 1), _mm512_extracti32x4_epi32(v, 2),
                        _mm512_extracti32x4_epi32(v, 3)};
        for (int l = 0; l < 4; l++) {
          uint8_t *d = C + (16 * l + c0) * ldc;
          _mm_mask_storeu_epi8((void *)d, (__mmask16)0x3f, x[l]);
          _mm_mask_storeu_epi8((void *)(d + ldc - 8), (__mmask16)0x3f00, x[l]);
        }
      }
    }
}

/* tile6x4 with the epilogue of epilogue_q8_rows applied in registers: C (and res, the residual or
 * NULL) point at column 0 of the tile (64 whole columns), m is the first row. colp: the offsets and
 * scales are per column (col_off, scale axis 2, from column n) instead of per row. ct: C transposed
 * (column n of row m at C + n * ldc + m; no residual). */
static inline __attribute__((always_inline)) void tile6x4_q8(const bool a_signed, const bool colp, const bool ct,
                                                             const arows *ar,
                                                             const uint8_t *Bp, int64_t pstride, const sn_qgemm_epi *e,
                                                             int64_t m, int64_t n, uint8_t *C, const uint8_t *res,
                                                             int64_t ldc) {
  __m512i co[4];
  __m512 cs[4];
  for (int v = 0; v < 4; v++) {
    co[v] = colp ? _mm512_loadu_si512((const void *)(e->col_off + n + 16 * v)) : _mm512_setzero_si512();
    cs[v] = colp ? _mm512_loadu_ps(e->scale + n + 16 * v) : _mm512_setzero_ps();
  }
  __m512i r[MR];
  for (int i = 0; i < MR; i++) r[i] = _mm512_set1_epi32(e->row_off ? e->row_off[m + i] : 0);
  /* (with both: a product of two activations, whose per-tensor zero points make offsets per row and per
   * column) */
#define COLR(i, v) (e->row_off ? _mm512_add_epi32(co[v], r[i]) : co[v])
#define INITQ(i) INIT4(i, colp ? COLR(i, 0) : r[i], colp ? COLR(i, 1) : r[i], colp ? COLR(i, 2) : r[i], colp ? COLR(i, 3) : r[i])
  INITQ(0);
  INITQ(1);
  INITQ(2);
  INITQ(3);
  INITQ(4);
  INITQ(5);
#undef INITQ
#undef COLR
  KLOOP6X4(ar);
  const bool u8 = e->out == SN_QOUT_U8;
  /* the lower clamp left to the packs: not when a residual reads q, nor when a negative zy could wrap
   * INT_MIN around */
  const bool needlo = e->lo > (u8 ? 0.0f : -128.0f) || e->zy < 0 || res;
  const __m512 lo = _mm512_set1_ps(e->lo - e->zy), hi = _mm512_set1_ps(e->hi - e->zy);
  const __m512i zy = _mm512_set1_epi32((int32_t)e->zy);
  const __m512 zyf = _mm512_set1_ps(e->zy);
  const bool rsat = res && res_sat(e);
  /* the packs leave dword (4 lane + s) holding values 4 lane .. 4 lane + 3 of q_s */
  const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  __m512i R[MR];
  EPIQ4(0);
  EPIQ4(1);
  EPIQ4(2);
  EPIQ4(3);
  EPIQ4(4);
  EPIQ4(5);
  if (ct) store6_t(R, C + m, ldc);
}

/* tile6x4 with the float epilogue (SN_QOUT_F32, C not transposed) in registers: the accumulators
 * start at row_off + col_off - row_f * col_f (the same int32 sum, wrapping), then per element the
 * float steps of epilogue_to in its order: convert, times the scale, plus the float bias, the clamps
 * where finite. C points at column n of row 0. The DynamicQuantizeMatMul / MatMulInteger epilogue. */
#define F32ROW(i)                                                                                             \
  do {                                                                                                        \
    __m512 s_ = e->scale_axis == 1 ? _mm512_set1_ps(e->scale[m + i]) : cs[0];                                 \
    __m512 b_ = e->fbias && e->fbias_axis != 2 ? _mm512_set1_ps(e->fbias[e->fbias_axis == 1 ? m + i : 0]) : fb[0]; \
    float *row = C + (size_t)((m + i) * ldc);                                                                 \
    F32ONE(c##i##0, 0);                                                                                       \
    F32ONE(c##i##1, 1);                                                                                       \
    F32ONE(c##i##2, 2);                                                                                       \
    F32ONE(c##i##3, 3);                                                                                       \
  } while (0)
#define F32ONE(acc, j)                                                                                        \
  do {                                                                                                        \
    __m512 t_ = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), e->scale_axis == 2 ? cs[j] : s_);                     \
    if (e->fbias) t_ = _mm512_add_ps(t_, e->fbias_axis == 2 ? fb[j] : b_);                                   \
    if (clo) t_ = _mm512_max_ps(t_, lo);                                                                      \
    if (chi) t_ = _mm512_min_ps(t_, hi);                                                                      \
    _mm512_storeu_ps(row + 16 * (j), t_);                                                                     \
  } while (0)

static inline __attribute__((always_inline)) void tile6x4_f32(const bool a_signed, const arows *ar, const uint8_t *Bp,
                                                              int64_t pstride, const sn_qgemm_epi *e, int64_t m,
                                                              int64_t n, float *C, int64_t ldc) {
  const bool rank1 = e->row_f && e->col_f;
  __m512i co[4], cf[4];
  __m512 cs[4], fb[4];
  for (int v = 0; v < 4; v++) {
    co[v] = e->col_off ? _mm512_loadu_si512((const void *)(e->col_off + n + 16 * v)) : _mm512_setzero_si512();
    cf[v] = rank1 ? _mm512_loadu_si512((const void *)(e->col_f + n + 16 * v)) : _mm512_setzero_si512();
    cs[v] = e->scale_axis == 2 ? _mm512_loadu_ps(e->scale + n + 16 * v) : _mm512_set1_ps(e->scale[0]);
    fb[v] = !e->fbias ? _mm512_setzero_ps()
            : e->fbias_axis == 2 ? _mm512_loadu_ps(e->fbias + n + 16 * v)
                                 : _mm512_set1_ps(e->fbias[0]);
  }
  __m512i r[MR];
  for (int i = 0; i < MR; i++) r[i] = _mm512_set1_epi32(e->row_off ? e->row_off[m + i] : 0);
#define F32INIT(i)                                                                                            \
  __m512i c##i##0 = _mm512_add_epi32(co[0], r[i]), c##i##1 = _mm512_add_epi32(co[1], r[i]),                   \
          c##i##2 = _mm512_add_epi32(co[2], r[i]), c##i##3 = _mm512_add_epi32(co[3], r[i]);                   \
  if (rank1) {                                                                                                \
    __m512i f_ = _mm512_set1_epi32(e->row_f[m + i]);                                                         \
    c##i##0 = _mm512_sub_epi32(c##i##0, _mm512_mullo_epi32(f_, cf[0]));                                      \
    c##i##1 = _mm512_sub_epi32(c##i##1, _mm512_mullo_epi32(f_, cf[1]));                                      \
    c##i##2 = _mm512_sub_epi32(c##i##2, _mm512_mullo_epi32(f_, cf[2]));                                      \
    c##i##3 = _mm512_sub_epi32(c##i##3, _mm512_mullo_epi32(f_, cf[3]));                                      \
  }
  F32INIT(0)
  F32INIT(1)
  F32INIT(2)
  F32INIT(3)
  F32INIT(4)
  F32INIT(5)
#undef F32INIT
  KLOOP6X4(ar);
  const bool clo = e->lo > -INFINITY, chi = e->hi < INFINITY;
  const __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi);
  F32ROW(0);
  F32ROW(1);
  F32ROW(2);
  F32ROW(3);
  F32ROW(4);
  F32ROW(5);
}

static inline __attribute__((always_inline)) void tile6x4(const bool a_signed, const arows *ar, const uint8_t *Bp,
                                                          int64_t pstride, int32_t out[MR][NV * 16]) {
  DECL6X4();
  KLOOP6X4(ar);
  STORE4(0);
  STORE4(1);
  STORE4(2);
  STORE4(3);
  STORE4(4);
  STORE4(5);
}

static inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* epilogue of one row segment of n columns from column n0 (vector form of sn_qgemm_epilogue_ref),
 * stored contiguously from dst (element (m, n0)) */
static void epilogue_to(const sn_qgemm_epi *e, int64_t m, int64_t n0, int64_t n, const int32_t *acc, void *dst,
                        const uint8_t *rseg) {
  __m512i roff = _mm512_set1_epi32(e->row_off ? e->row_off[m] : 0);
  bool rank1 = e->row_f && e->col_f && e->row_f[m];
  __m512i rf = _mm512_set1_epi32(rank1 ? e->row_f[m] : 0);
  __m512 sc = _mm512_set1_ps(e->out != SN_QOUT_I32 && e->scale_axis != 2 ? e->scale[e->scale_axis == 1 ? m : 0] : 0);
  __m512 fb = _mm512_set1_ps(e->fbias && e->fbias_axis != 2 ? e->fbias[e->fbias_axis == 1 ? m : 0] : 0);
  __m512 zy = _mm512_set1_ps(e->zy), lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi);
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 k = tail_mask(n - j);
    int64_t col = n0 + j;
    __m512i v = _mm512_add_epi32(_mm512_loadu_si512((const void *)(acc + j)), roff);
    if (e->col_off) v = _mm512_add_epi32(v, _mm512_maskz_loadu_epi32(k, e->col_off + col));
    if (rank1) v = _mm512_sub_epi32(v, _mm512_mullo_epi32(rf, _mm512_maskz_loadu_epi32(k, e->col_f + col)));
    size_t at = (size_t)j;
    void *C = dst;
    if (e->out == SN_QOUT_I32) {
      _mm512_mask_storeu_epi32((int32_t *)C + at, k, v);
      continue;
    }
    __m512 s = e->scale_axis == 2 ? _mm512_maskz_loadu_ps(k, e->scale + col) : sc;
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(v), s);
    if (e->out == SN_QOUT_F32) {
      if (e->fbias) t = _mm512_add_ps(t, e->fbias_axis == 2 ? _mm512_maskz_loadu_ps(k, e->fbias + col) : fb);
      if (e->lo > -INFINITY) t = _mm512_max_ps(t, lo);
      if (e->hi < INFINITY) t = _mm512_min_ps(t, hi);
      _mm512_mask_storeu_ps((float *)C + at, k, t);
      continue;
    }
    t = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    t = _mm512_add_ps(t, zy);
    t = _mm512_max_ps(t, lo);
    t = _mm512_min_ps(t, hi);
    if (rseg) { /* the residual QLinearAdd */
      __m128i rb = _mm_maskz_loadu_epi8(k, (const void *)(rseg + j));
      __m512 r = _mm512_cvtepi32_ps(e->out == SN_QOUT_U8 ? _mm512_cvtepu8_epi32(rb) : _mm512_cvtepi8_epi32(rb));
      __m512 va = e->res_is_a ? r : t, vb = e->res_is_a ? t : r;
      t = _mm512_fmadd_ps(va, _mm512_set1_ps(e->rac), _mm512_fmadd_ps(vb, _mm512_set1_ps(e->rbc), _mm512_set1_ps(e->rfix)));
      t = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(e->out == SN_QOUT_U8 ? 0.0f : -128.0f)),
                        _mm512_set1_ps(e->out == SN_QOUT_U8 ? 255.0f : 127.0f));
    }
    __m128i q = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(t));
    _mm_mask_storeu_epi8((uint8_t *)C + at, k, q);
  }
}

static void epilogue(const sn_qgemm_epi *e, int64_t m, int64_t n0, int64_t n, const int32_t *acc, void *C,
                     int64_t ldc) {
  size_t es = e->out == SN_QOUT_I32 || e->out == SN_QOUT_F32 ? 4 : 1;
  if (!e->ct) {
    epilogue_to(e, m, n0, n, acc, (uint8_t *)C + (size_t)(m * ldc + n0) * es, e->res ? e->res + m * ldc + n0 : NULL);
    return;
  }
  /* transposed: the row segment is a column of C (and of the residual) */
  uint8_t seg[NV * 16 * 4] __attribute__((aligned(64))), rseg[NV * 16];
  for (int64_t j = 0; j < n; j += NV * 16) {
    int64_t w = n - j < NV * 16 ? n - j : NV * 16;
    if (e->res)
      for (int64_t i = 0; i < w; i++) rseg[i] = e->res[(n0 + j + i) * ldc + m];
    epilogue_to(e, m, n0 + j, w, acc + j, seg, e->res ? rseg : NULL);
    if (es == 1)
      for (int64_t i = 0; i < w; i++) ((uint8_t *)C)[(n0 + j + i) * ldc + m] = seg[i];
    else
      for (int64_t i = 0; i < w; i++) memcpy((uint8_t *)C + (size_t)((n0 + j + i) * ldc + m) * 4, seg + 4 * i, 4);
  }
}

void sn_qgemm_epilogue_avx512vnni(const sn_qgemm_epi *e, int64_t m, int64_t n0, int64_t n, const int32_t *acc, void *C,
                                  int64_t ldc) {
  epilogue(e, m, n0, n, acc, C, ldc);
}

/* The common conv epilogue (u8/s8 output, per-tensor or per-row scale, no column terms) for mr rows
 * of a tile, the row constants loaded once per row. The clamp goes before the rounding, to bounds
 * shifted by zy, which is equal to the reference's order (round, add zy, clamp) because the bounds are
 * integers and rounding is monotonic; NaN still ends at lo (vmaxps returns its second operand). Then
 * the rounding conversion and an integer add of zy replace round, float add, truncation. */
static inline __attribute__((always_inline)) void epilogue_q8_rows(const int mr, const sn_qgemm_epi *e, int64_t m,
                                                                   int64_t n0, int64_t w, int32_t out[MR][NV * 16],
                                                                   void *C, int64_t ldc) {
  const __m512 lo = _mm512_set1_ps(e->lo - e->zy), hi = _mm512_set1_ps(e->hi - e->zy);
  const __m512i zy = _mm512_set1_epi32((int32_t)e->zy);
  for (int i = 0; i < mr; i++) {
    __m512i roff = _mm512_set1_epi32(e->row_off ? e->row_off[m + i] : 0);
    __m512 sc = _mm512_set1_ps(e->scale[e->scale_axis == 1 ? m + i : 0]);
    uint8_t *row = (uint8_t *)C + (size_t)((m + i) * ldc + n0);
    for (int64_t j = 0; j < w; j += 16) {
      __mmask16 k = tail_mask(w - j);
      __m512i v = _mm512_add_epi32(_mm512_loadu_si512((const void *)(out[i] + j)), roff);
      __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(v), sc);
      t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
      __m512i q = _mm512_add_epi32(_mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zy);
      if (e->res) q = residual16(e, q, e->res + (size_t)((m + i) * ldc + n0 + j), k);
      _mm_mask_storeu_epi8(row + j, k, _mm512_cvtepi32_epi8(q));
    }
  }
}

/* rows [m, m + mr) against columns [n0, n1): ar holds the rows' pointers */
static inline __attribute__((always_inline)) void block(const int mr, const bool a_signed, int64_t K, const arows *ar,
                                                        const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc,
                                                        int64_t m, int64_t n0, int64_t n1) {
  int64_t pstride = sn_qgemm_kp(K) * 16;
  int32_t out[MR][NV * 16] __attribute__((aligned(64)));
  const bool q8fast = (e->out == SN_QOUT_U8 || e->out == SN_QOUT_S8) && !e->col_off && !(e->row_f && e->col_f) &&
                      e->scale_axis != 2 && !e->ct;
  /* the positions x channels conv: per-column offsets and scales, offsets per row too (a residual only
   * where C is not transposed) */
  const bool q8col = (e->out == SN_QOUT_U8 || e->out == SN_QOUT_S8) && e->col_off && !(e->row_f && e->col_f) &&
                     e->scale_axis == 2 && !(e->res && e->ct);
  const bool i32raw = e->out == SN_QOUT_I32 && !e->row_off && !e->col_off && !(e->row_f && e->col_f) && !e->ct;
  const bool f32fast = e->out == SN_QOUT_F32 && !e->ct;
  for (int64_t n = n0; n < n1; n += NV * 16) {
    int64_t w = n1 - n < NV * 16 ? n1 - n : NV * 16;
    int nv = (int)((w + 15) / 16);
    const uint8_t *bp = Bp + (n / 16) * pstride;
    if (mr == MR && w == NV * 16 && q8fast) { /* the common conv tile: epilogue from the registers */
      tile6x4_q8(a_signed, false, false, ar, bp, pstride, e, m, n, (uint8_t *)C + n, e->res ? e->res + n : NULL, ldc);
      continue;
    }
    if (mr == MR && w == NV * 16 && f32fast) {
      tile6x4_f32(a_signed, ar, bp, pstride, e, m, n, (float *)C + n, ldc);
      continue;
    }
    if (mr == MR && w == NV * 16 && q8col) { /* (transposed: MR bytes of each column's row) */
      if (e->ct)
        tile6x4_q8(a_signed, true, true, ar, bp, pstride, e, m, n, (uint8_t *)C + n * ldc, NULL, ldc);
      else
        tile6x4_q8(a_signed, true, false, ar, bp, pstride, e, m, n, (uint8_t *)C + n, e->res ? e->res + n : NULL, ldc);
      continue;
    }
    switch (nv) {
      case 4:
        if (mr == MR)
          tile6x4(a_signed, ar, bp, pstride, out);
        else
          tile(mr, 4, a_signed, ar, bp, pstride, out);
        break;
      case 3: tile(mr, 3, a_signed, ar, bp, pstride, out); break;
      case 2: tile(mr, 2, a_signed, ar, bp, pstride, out); break;
      default: tile(mr, 1, a_signed, ar, bp, pstride, out); break;
    }
    if (q8fast)
      epilogue_q8_rows(mr, e, m, n, w, out, C, ldc);
    else if (i32raw) /* the sums themselves (a caller's own epilogue follows: the INT8 LSTM) */
      for (int i = 0; i < mr; i++) memcpy((int32_t *)C + (m + i) * ldc + n, out[i], sizeof(int32_t) * (size_t)w);
    else
      for (int i = 0; i < mr; i++) epilogue(e, m + i, n, w, out[i], C, ldc);
  }
}

#define ROWS(SGN)                                                                                                \
  static void rows_##SGN(int mr, int64_t K, const arows *ar, const uint8_t *Bp, const sn_qgemm_epi *e, void *C,  \
                         int64_t ldc, int64_t m, int64_t n0, int64_t n1) {                                      \
    switch (mr) {                                                                                                \
      case 6: block(6, SGN, K, ar, Bp, e, C, ldc, m, n0, n1); break;                                             \
      case 5: block(5, SGN, K, ar, Bp, e, C, ldc, m, n0, n1); break;                                             \
      case 4: block(4, SGN, K, ar, Bp, e, C, ldc, m, n0, n1); break;                                             \
      case 3: block(3, SGN, K, ar, Bp, e, C, ldc, m, n0, n1); break;                                             \
      case 2: block(2, SGN, K, ar, Bp, e, C, ldc, m, n0, n1); break;                                             \
      default: block(1, SGN, K, ar, Bp, e, C, ldc, m, n0, n1); break;                                            \
    }                                                                                                            \
  }
ROWS(true)
ROWS(false)

static const int64_t seg0[1] = {0};

void sn_qgemm_avx512vnni(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp,
                         const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  arows ar = {{NULL}, seg0, 1, K};
  for (int64_t m = m0; m < m1; m += MR) {
    int mr = (int)(m1 - m < MR ? m1 - m : MR);
    for (int i = 0; i < MR; i++) ar.p[i] = A + (m + (i < mr ? i : 0)) * lda;
    if (a_signed)
      rows_true(mr, K, &ar, Bp, e, C, ldc, m, n0, n1);
    else
      rows_false(mr, K, &ar, Bp, e, C, ldc, m, n0, n1);
  }
}

void sn_qgemm_ind_avx512vnni(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen,
                             const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1,
                             int64_t n0, int64_t n1) {
  arows ar = {{NULL}, segoff, nseg, seglen};
  for (int64_t m = m0; m < m1; m += MR) {
    int mr = (int)(m1 - m < MR ? m1 - m : MR);
    for (int i = 0; i < MR; i++) ar.p[i] = rows[m + (i < mr ? i : 0)];
    rows_false(mr, nseg * seglen, &ar, Bp, e, C, ldc, m, n0, n1);
  }
}

void sn_qgemm_pack4_avx512vnni(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int64_t n,
                               uint8_t flip, uint8_t *dst, int64_t panel_stride) {
  const __m128i f = _mm_set1_epi8((char)flip);
#define LD(r) _mm512_cvtepu8_epi32(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(r + p)), f))
  for (int64_t p = 0; p < n; p += 16) {
    __m512i v = LD(r0);
    v = _mm512_or_si512(v, _mm512_slli_epi32(LD(r1), 8));
    v = _mm512_or_si512(v, _mm512_slli_epi32(LD(r2), 16));
    v = _mm512_or_si512(v, _mm512_slli_epi32(LD(r3), 24));
    _mm512_store_si512((void *)(dst + (p / 16) * panel_stride), v);
  }
#undef LD
}

/* 16 x 16 bytes transposed per step: bytes, words, dwords, qwords interleaved in four rounds */
void sn_qgemm_pack16_rows_avx512vnni(const uint8_t *const rows[16], int64_t n, uint8_t flip, uint8_t *dst,
                                     int64_t lda) {
  const __m128i f = _mm_set1_epi8((char)flip);
  for (int64_t p = 0; p < n; p += 16) {
    __m128i x[16], y[16], z[4][4], lo[2][4], hi[2][4];
    for (int r = 0; r < 16; r++) x[r] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(rows[r] + p)), f);
    for (int i = 0; i < 8; i++) { /* rows 2i, 2i+1: positions 0..7 and 8..15 */
      y[2 * i] = _mm_unpacklo_epi8(x[2 * i], x[2 * i + 1]);
      y[2 * i + 1] = _mm_unpackhi_epi8(x[2 * i], x[2 * i + 1]);
    }
    for (int j = 0; j < 4; j++) { /* rows 4j..4j+3: positions in blocks of 4 */
      z[j][0] = _mm_unpacklo_epi16(y[4 * j], y[4 * j + 2]);
      z[j][1] = _mm_unpackhi_epi16(y[4 * j], y[4 * j + 2]);
      z[j][2] = _mm_unpacklo_epi16(y[4 * j + 1], y[4 * j + 3]);
      z[j][3] = _mm_unpackhi_epi16(y[4 * j + 1], y[4 * j + 3]);
    }
    for (int b = 0; b < 4; b++) { /* rows 0..7 and 8..15 of positions 4b..4b+3 */
      lo[0][b] = _mm_unpacklo_epi32(z[0][b], z[1][b]);
      hi[0][b] = _mm_unpackhi_epi32(z[0][b], z[1][b]);
      lo[1][b] = _mm_unpacklo_epi32(z[2][b], z[3][b]);
      hi[1][b] = _mm_unpackhi_epi32(z[2][b], z[3][b]);
    }
    uint8_t *d = dst + p * lda;
    for (int b = 0; b < 4; b++) {
      _mm_storeu_si128((__m128i *)(d + (4 * b + 0) * lda), _mm_unpacklo_epi64(lo[0][b], lo[1][b]));
      _mm_storeu_si128((__m128i *)(d + (4 * b + 1) * lda), _mm_unpackhi_epi64(lo[0][b], lo[1][b]));
      _mm_storeu_si128((__m128i *)(d + (4 * b + 2) * lda), _mm_unpacklo_epi64(hi[0][b], hi[1][b]));
      _mm_storeu_si128((__m128i *)(d + (4 * b + 3) * lda), _mm_unpackhi_epi64(hi[0][b], hi[1][b]));
    }
  }
}
