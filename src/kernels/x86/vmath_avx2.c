/* AVX2+FMA float32 vector math (exp, log, tanh, sigmoid, erf, GELU, SiLU), 8 lanes; bodies in vmath_simd.h. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/vmath.h"

#define VF __m256
#define VI __m256i
#define VM __m256
#define F1(c) _mm256_set1_ps(c)
#define I1(c) _mm256_set1_epi32(c)
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps
#define MUL _mm256_mul_ps
#define DIV _mm256_div_ps
#define FMA _mm256_fmadd_ps
#define FNMA _mm256_fnmadd_ps
#define MINF _mm256_min_ps
#define MAXF _mm256_max_ps
#define ROUND(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CVTI _mm256_cvtps_epi32
#define CVTF _mm256_cvtepi32_ps
#define ADDI _mm256_add_epi32
#define SUBI _mm256_sub_epi32
#define SRAI _mm256_srai_epi32
#define SRLI _mm256_srli_epi32
#define SLLI _mm256_slli_epi32
#define ANDI _mm256_and_si256
#define ORI _mm256_or_si256
#define CASTF _mm256_castsi256_ps
#define CASTI _mm256_castps_si256
#define ANDF _mm256_and_ps
#define ORF _mm256_or_ps
#define XORF _mm256_xor_ps
#define CMPLT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define CMPGT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define CMPGE(a, b) _mm256_cmp_ps(a, b, _CMP_GE_OQ)
#define CMPEQ(a, b) _mm256_cmp_ps(a, b, _CMP_EQ_OQ)
#define CMPUNORD(a, b) _mm256_cmp_ps(a, b, _CMP_UNORD_Q)
#define SEL(m, a, b) _mm256_blendv_ps(b, a, m)

#include "kernels/x86/vmath_simd.h"

/* whole vectors, then the tail through a zero-padded buffer */
#define LOOP(NAME, FN)                                                                             \
  static void NAME(const float *x, float *y, int64_t n) {                                          \
    int64_t i = 0;                                                                                 \
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, FN(_mm256_loadu_ps(x + i)));                \
    if (i < n) {                                                                                   \
      float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                     \
      memcpy(buf, x + i, (size_t)(n - i) * sizeof *buf);                                           \
      _mm256_storeu_ps(buf, FN(_mm256_loadu_ps(buf)));                                             \
      memcpy(y + i, buf, (size_t)(n - i) * sizeof *buf);                                           \
    }                                                                                              \
  }

LOOP(vexp, v_exp)
LOOP(vlog, v_log)
LOOP(vtanh, v_tanh)
LOOP(vsigmoid, v_sigmoid)
LOOP(verf, v_erf)
LOOP(vgelu, v_gelu)
LOOP(vgelu_tanh, v_gelu_tanh)
LOOP(vsilu, v_silu)

/* whole vectors of units, then the last ones through zero-padded buffers */
static void vlstm_cell(const float *g, const float *x, int64_t gs, float clip, float *c, float *h, int64_t n) {
  const __m256 hi = _mm256_set1_ps(clip > 0 ? clip : __builtin_inff()), lo = _mm256_sub_ps(_mm256_setzero_ps(), hi);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    __m256 a[4];
    for (int q = 0; q < 4; q++)
      a[q] = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(_mm256_loadu_ps(g + q * gs + k), _mm256_loadu_ps(x + q * gs + k))));
    __m256 cv = _mm256_loadu_ps(c + k);
    __m256 hv = v_lstm_unit(a[0], a[1], a[2], a[3], &cv);
    _mm256_storeu_ps(c + k, cv);
    _mm256_storeu_ps(h + k, hv);
  }
  if (k < n) {
    float buf[6][8] = {{0}};
    size_t r = (size_t)(n - k) * sizeof(float);
    for (int q = 0; q < 4; q++) {
      float t[8] = {0};
      memcpy(buf[q], g + q * gs + k, r);
      memcpy(t, x + q * gs + k, r);
      for (int i = 0; i < 8; i++) buf[q][i] += t[i];
    }
    memcpy(buf[4], c + k, r);
    __m256 a[4];
    for (int q = 0; q < 4; q++) a[q] = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_loadu_ps(buf[q])));
    __m256 cv = _mm256_loadu_ps(buf[4]);
    __m256 hv = v_lstm_unit(a[0], a[1], a[2], a[3], &cv);
    _mm256_storeu_ps(buf[4], cv);
    _mm256_storeu_ps(buf[5], hv);
    memcpy(c + k, buf[4], r);
    memcpy(h + k, buf[5], r);
  }
}

/* the piecewise-linear activations: whole vectors, then the tail through a zero-padded buffer */
#define LOOP2(NAME, FN)                                                                            \
  static void NAME(float a, float b, const float *x, float *y, int64_t n) {                        \
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);                                   \
    int64_t i = 0;                                                                                 \
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, FN(_mm256_loadu_ps(x + i), va, vb));        \
    if (i < n) {                                                                                   \
      float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                     \
      memcpy(buf, x + i, (size_t)(n - i) * sizeof *buf);                                           \
      _mm256_storeu_ps(buf, FN(_mm256_loadu_ps(buf), va, vb));                                     \
      memcpy(y + i, buf, (size_t)(n - i) * sizeof *buf);                                           \
    }                                                                                              \
  }

LOOP2(pwl_clip, v_pwl_clip)
LOOP2(pwl_leaky, v_pwl_leaky)
LOOP2(pwl_hsigmoid, v_pwl_hsigmoid)
LOOP2(pwl_hswish, v_pwl_hswish)
LOOP2(vscale, v_scale)

/* exp(x - shift) summed in two vector accumulators; the tail through a padded buffer (its other lanes add 0) */
static float vexpsum(const float *x, float *y, int64_t n, float shift) {
  const __m256 sh = _mm256_set1_ps(shift);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 a = v_exp_normal(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh)), b = v_exp_normal(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), sh));
    if (y) _mm256_storeu_ps(y + i, a), _mm256_storeu_ps(y + i + 8, b);
    s0 = _mm256_add_ps(s0, a), s1 = _mm256_add_ps(s1, b);
  }
  for (; i < n; i += 8) {
    int64_t r = n - i < 8 ? n - i : 8;
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(buf, x + i, (size_t)r * sizeof *buf);
    __m256 a = v_exp_normal(_mm256_sub_ps(_mm256_loadu_ps(buf), sh));
    _mm256_storeu_ps(buf, a);
    for (int64_t k = r; k < 8; k++) buf[k] = 0;
    if (y) memcpy(y + i, buf, (size_t)r * sizeof *buf);
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(buf));
  }
  float l[8];
  _mm256_storeu_ps(l, _mm256_add_ps(s0, s1));
  return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
}

/* the largest element, as the scalar loop from x[0] (max_ps keeps the accumulator where x is NaN) */
static float vmax(const float *x, int64_t n) {
  __m256 m0 = _mm256_set1_ps(x[0]), m1 = m0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0), m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
  /* a tree over the lanes (NaN-free unless x[0] is NaN, and then all NaN), then the tail */
  __m256 v = _mm256_max_ps(m0, m1);
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  float m = _mm_cvtss_f32(h);
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

/* d = act(d + bias + res): whole vectors, then the tail through a buffer */
static inline __attribute__((always_inline)) void bias_act_loop(const int act, float a, float b, const float *bias,
                                                               const float *res, float *d, int64_t n) {
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(d + i);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
    if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + i));
    _mm256_storeu_ps(d + i, v_act(act, v, va, vb));
  }
  if (i < n) {
    float bd[8] = {0}, bb[8] = {0}, br[8] = {0};
    size_t bytes = (size_t)(n - i) * sizeof *bd;
    memcpy(bd, d + i, bytes);
    if (bias) memcpy(bb, bias + i, bytes);
    if (res) memcpy(br, res + i, bytes);
    __m256 v = _mm256_loadu_ps(bd);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bb));
    if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(br));
    _mm256_storeu_ps(bd, v_act(act, v, va, vb));
    memcpy(d + i, bd, bytes);
  }
}
static void bias_act(int act, float a, float b, const float *bias, const float *res, float *d, int64_t n) {
  V_BIAS_ACT_DISPATCH(act, a, b, bias, res, d, n)
}

const sn_vmath_kernels sn_vmath_avx2 = {vexp, vlog, vtanh, vsigmoid, verf, vgelu, vgelu_tanh, vsilu, vlstm_cell,
                                          {pwl_clip, pwl_leaky, pwl_hsigmoid, pwl_hswish},
                                        vexpsum, vmax, bias_act, vscale};
