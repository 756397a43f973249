/* AVX-512 float32 vector math (exp, log, tanh, sigmoid, erf, GELU, SiLU), 16 lanes; bodies in vmath_simd.h. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/vmath.h"

#define VF __m512
#define VI __m512i
#define VM __mmask16
#define F1(c) _mm512_set1_ps(c)
#define I1(c) _mm512_set1_epi32(c)
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define MUL _mm512_mul_ps
#define DIV _mm512_div_ps
#define FMA _mm512_fmadd_ps
#define FNMA _mm512_fnmadd_ps
#define RCP _mm512_rcp14_ps
#define SCALEF _mm512_scalef_ps
#define MINF _mm512_min_ps
#define MAXF _mm512_max_ps
#define ROUND(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CVTI _mm512_cvtps_epi32
#define CVTF _mm512_cvtepi32_ps
#define ADDI _mm512_add_epi32
#define SUBI _mm512_sub_epi32
#define SRAI _mm512_srai_epi32
#define SRLI _mm512_srli_epi32
#define SLLI _mm512_slli_epi32
#define ANDI _mm512_and_si512
#define ORI _mm512_or_si512
#define CASTF _mm512_castsi512_ps
#define CASTI _mm512_castps_si512
#define ANDF _mm512_and_ps
#define ORF _mm512_or_ps
#define XORF _mm512_xor_ps
#define CMPLT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define CMPGT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define CMPGE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)
#define CMPEQ(a, b) _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)
#define CMPUNORD(a, b) _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q)
#define SEL(m, a, b) _mm512_mask_blend_ps(m, b, a)

#include "kernels/x86/vmath_simd.h"

/* whole vectors, then the tail under a lane mask */
#define LOOP(NAME, FN)                                                                             \
  static void NAME(const float *x, float *y, int64_t n) {                                          \
    int64_t i = 0;                                                                                 \
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, FN(_mm512_loadu_ps(x + i)));              \
    if (i < n) {                                                                                   \
      __mmask16 m = (__mmask16)((1u << (unsigned)(n - i)) - 1u);                                   \
      _mm512_mask_storeu_ps(y + i, m, FN(_mm512_maskz_loadu_ps(m, x + i)));                        \
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

/* whole vectors of units, then the last ones under a lane mask */
static void vlstm_cell(const float *g, const float *x, int64_t gs, float clip, float *c, float *h, int64_t n) {
  const __m512 hi = _mm512_set1_ps(clip > 0 ? clip : __builtin_inff()), lo = _mm512_sub_ps(_mm512_setzero_ps(), hi);
  for (int64_t k = 0; k < n; k += 16) {
    __mmask16 m = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (unsigned)(n - k)) - 1u);
    __m512 a[4];
    for (int q = 0; q < 4; q++) {
      __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, g + q * gs + k), _mm512_maskz_loadu_ps(m, x + q * gs + k));
      a[q] = _mm512_min_ps(hi, _mm512_max_ps(lo, v)); /* (NaN passes: x86 max/min return the second operand) */
    }
    __m512 cv = _mm512_maskz_loadu_ps(m, c + k);
    __m512 hv = v_lstm_unit(a[0], a[1], a[2], a[3], &cv);
    _mm512_mask_storeu_ps(c + k, m, cv);
    _mm512_mask_storeu_ps(h + k, m, hv);
  }
}

/* the piecewise-linear activations: whole vectors, then the tail under a lane mask */
#define LOOP2(NAME, FN)                                                                            \
  static void NAME(float a, float b, const float *x, float *y, int64_t n) {                        \
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);                                   \
    int64_t i = 0;                                                                                 \
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, FN(_mm512_loadu_ps(x + i), va, vb));      \
    if (i < n) {                                                                                   \
      __mmask16 m = (__mmask16)((1u << (unsigned)(n - i)) - 1u);                                   \
      _mm512_mask_storeu_ps(y + i, m, FN(_mm512_maskz_loadu_ps(m, x + i), va, vb));                \
    }                                                                                              \
  }

LOOP2(pwl_clip, v_pwl_clip)
LOOP2(pwl_leaky, v_pwl_leaky)
LOOP2(pwl_hsigmoid, v_pwl_hsigmoid)
LOOP2(pwl_hswish, v_pwl_hswish)
LOOP2(vscale, v_scale)

/* exp(x - shift) summed in two vector accumulators; the tail under a lane mask (its other lanes add 0) */
static float vexpsum(const float *x, float *y, int64_t n, float shift) {
  const __m512 sh = _mm512_set1_ps(shift);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 a = v_exp_normal(_mm512_sub_ps(_mm512_loadu_ps(x + i), sh)), b = v_exp_normal(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), sh));
    if (y) _mm512_storeu_ps(y + i, a), _mm512_storeu_ps(y + i + 16, b);
    s0 = _mm512_add_ps(s0, a), s1 = _mm512_add_ps(s1, b);
  }
  for (; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (unsigned)(n - i)) - 1u);
    __m512 a = _mm512_maskz_mov_ps(m, v_exp_normal(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), sh)));
    if (y) _mm512_mask_storeu_ps(y + i, m, a);
    s0 = _mm512_add_ps(s0, a);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* the largest element: max_ps keeps the accumulator where x is NaN, as the scalar loop does; lanes
 * start at x[0] (a NaN there stays, as there) */
static float vmax(const float *x, int64_t n) {
  __m512 m0 = _mm512_set1_ps(x[0]), m1 = m0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0), m1 = _mm512_max_ps(_mm512_loadu_ps(x + i + 16), m1);
  for (; i < n; i += 16) {
    __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (unsigned)(n - i)) - 1u);
    m0 = _mm512_mask_max_ps(m0, k, _mm512_maskz_loadu_ps(k, x + i), m0);
  }
  /* a tree over the lanes: they hold no NaN unless x[0] is one, and then all of them do (a scalar
   * pass over the 32 lanes cost ~120 cycles a call, as much as the loads of a 128-key softmax row) */
  return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

/* d = act(d + bias + res): whole vectors, then the tail under a lane mask */
static inline __attribute__((always_inline)) void bias_act_loop(const int act, float a, float b, const float *bias,
                                                               const float *res, float *d, int64_t n) {
  const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (unsigned)(n - i)) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, d + i);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
    if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + i));
    _mm512_mask_storeu_ps(d + i, m, v_act(act, v, va, vb));
  }
}
static void bias_act(int act, float a, float b, const float *bias, const float *res, float *d, int64_t n) {
  V_BIAS_ACT_DISPATCH(act, a, b, bias, res, d, n)
}

const sn_vmath_kernels sn_vmath_avx512 = {vexp, vlog, vtanh, vsigmoid, verf, vgelu, vgelu_tanh, vsilu, vlstm_cell,
                                          {pwl_clip, pwl_leaky, pwl_hsigmoid, pwl_hswish},
                                          vexpsum, vmax, bias_act, vscale};
