/* The vector math bodies shared by vmath_avx2.c and vmath_avx512.c, written over per-ISA macros. */
/* The including file defines: VF (float vector), VI (int32 vector), VM (compare mask), F1/I1 (broadcast),
 * ADD SUB MUL DIV FMA(a,b,c)=a*b+c, MINF/MAXF (x86 semantics: the second operand when either is NaN),
 * ROUND (to nearest), CVTI (float->int32), CVTF (int32->float), ADDI SUBI SRAI SRLI SLLI ANDI ORI,
 * CASTF/CASTI (bit casts), ANDF ORF XORF, CMPLT CMPGT CMPGE CMPEQ CMPUNORD, SEL(m,a,b) = m ? a : b,
 * and FNMA(a,b,c) = c - a*b; optionally RCP (a reciprocal estimate of 14 or more bits, refined by
 * one Newton step; else 1/d is a division) and SCALEF(p, n) = p * 2^n for integral float n, rounded
 * once (AVX-512's vscalefps; else two exponent multiplies). */
#ifndef SN_VMATH_SIMD_H
#define SN_VMATH_SIMD_H

#include <math.h>

#define V_SIGN CASTF(I1(INT32_MIN))

/* p * 2^n for integral float n in [-150, 128], rounded once with SCALEF; else as 2^(n/2) * 2^(n - n/2),
 * so that results overflow to inf and underflow through denormals */
static inline VF v_ldexp(VF p, VF n) {
#ifdef SCALEF
  return SCALEF(p, n);
#else
  VI ni = CVTI(n);
  VI n1 = SRAI(ni, 1);
  VF s1 = CASTF(SLLI(ADDI(n1, I1(127)), 23));
  VF s2 = CASTF(SLLI(ADDI(SUBI(ni, n1), I1(127)), 23));
  return MUL(MUL(p, s1), s2);
#endif
}

/* exp: n = round(x/ln2), r = x - n*ln2 (two-part ln2), degree-6 polynomial, times 2^n (v_ldexp). */
static inline VF v_exp(VF x) {
  VF xc = MINF(F1(89.0f), MAXF(F1(-104.0f), x)); /* NaN stays NaN */
  VF n = ROUND(MUL(xc, F1(1.44269504088896341f)));
  VF r = FMA(n, F1(-0.693359375f), xc);
  r = FMA(n, F1(2.12194440e-4f), r);
  VF p = F1(1.9875691500e-4f);
  p = FMA(p, r, F1(1.3981999507e-3f));
  p = FMA(p, r, F1(8.3334519073e-3f));
  p = FMA(p, r, F1(4.1665795894e-2f));
  p = FMA(p, r, F1(1.6666665459e-1f));
  p = FMA(p, r, F1(5.0000001201e-1f));
  p = ADD(FMA(p, MUL(r, r), r), F1(1.0f));
  return v_ldexp(p, n);
}

/* exp(x) with results below the smallest normal float (x < -87) returned as 0. On Intel cores an
 * instruction whose result is denormal takes a microcode assist, about 18x the time of a normal one
 * (measured 6.9 against 0.39 ns an element), and softmax rows meet that at every masked position.
 * v_exp of -87 is still normal: n = -126 with r = x + 126 ln2 > 0.33, so p > 1. */
static inline VF v_exp_normal(VF x) {
  VF r = v_exp(MAXF(F1(-87.0f), x)); /* NaN stays NaN */
  return SEL(CMPLT(x, F1(-87.0f)), F1(0.0f), r);
}

/* 1/d for finite nonzero d. With RCP (AVX-512's 14-bit estimate) refined by one Newton step: within
 * about 2^-27 relative, a fraction of a division's cost. Without (AVX2, whose estimate has 12 bits and
 * one step leaves about 2^-23: GRU's cancelling state update then misses the conformance tolerance),
 * a division. */
static inline VF v_recip(VF d) {
#ifdef RCP
  VF r = RCP(d);
  return FMA(FNMA(d, r, F1(1.0f)), r, r);
#else
  return DIV(F1(1.0f), d);
#endif
}

/* log: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), log(1+f) = f - f^2/2 + f^3 P(f), plus e*ln2. */
static inline VF v_log(VF x) {
  VM sub = CMPLT(x, F1(1.17549435e-38f));
  VF xs = SEL(sub, MUL(x, F1(8388608.0f)), x);
  VF e = SEL(sub, F1(-23.0f), F1(0.0f));
  VI bits = CASTI(xs);
  e = ADD(e, CVTF(SUBI(SRLI(bits, 23), I1(127))));
  VF m = CASTF(ORI(ANDI(bits, I1(0x007fffff)), I1(0x3f800000)));
  VM big = CMPGT(m, F1(1.41421356f));
  m = SEL(big, MUL(m, F1(0.5f)), m);
  e = ADD(e, SEL(big, F1(1.0f), F1(0.0f)));
  VF f = SUB(m, F1(1.0f));
  VF z = MUL(f, f);
  VF p = F1(7.0376836292e-2f);
  p = FMA(p, f, F1(-1.1514610310e-1f));
  p = FMA(p, f, F1(1.1676998740e-1f));
  p = FMA(p, f, F1(-1.2420140846e-1f));
  p = FMA(p, f, F1(1.4249322787e-1f));
  p = FMA(p, f, F1(-1.6668057665e-1f));
  p = FMA(p, f, F1(2.0000714765e-1f));
  p = FMA(p, f, F1(-2.4999993993e-1f));
  p = FMA(p, f, F1(3.3333331174e-1f));
  VF y = MUL(MUL(p, f), z);
  y = FMA(e, F1(-2.12194440e-4f), y);
  y = FMA(z, F1(-0.5f), y);
  VF r = ADD(f, y);
  r = FMA(e, F1(0.693359375f), r);
  r = SEL(CMPEQ(x, F1(INFINITY)), x, r);
  r = SEL(CMPEQ(x, F1(0.0f)), F1(-INFINITY), r);
  r = SEL(CMPLT(x, F1(0.0f)), F1(NAN), r);
  return SEL(CMPUNORD(x, x), x, r);
}

/* tanh: odd polynomial below |x| = 0.625, else sign(x) * (1 - 2/(exp(2|x|) + 1)). */
static inline VF v_tanh(VF x) {
  VF sign = ANDF(x, V_SIGN);
  VF a = XORF(x, sign);
  VF z = MUL(x, x);
  VF p = F1(-5.70498872745e-3f);
  p = FMA(p, z, F1(2.06390887954e-2f));
  p = FMA(p, z, F1(-5.37397155531e-2f));
  p = FMA(p, z, F1(1.33314422036e-1f));
  p = FMA(p, z, F1(-3.33332819422e-1f));
  VF ts = FMA(MUL(p, z), x, x);
  VF ac = MINF(F1(10.0f), a); /* tanh(10) rounds to 1; keeps e finite for the reciprocal (NaN stays NaN) */
  VF e = v_exp(ADD(ac, ac));
  VF tb = ORF(SUB(F1(1.0f), MUL(F1(2.0f), v_recip(ADD(e, F1(1.0f))))), sign);
  return SEL(CMPLT(a, F1(0.625f)), ts, tb); /* NaN: tb is NaN */
}

/* sigmoid(v) as num/den: e = exp(-|v|), num = v >= 0 ? 1 : e, den = 1 + e (relative accuracy both ways). */
static inline void v_sigmoid_parts(VF v, VF *num, VF *den) {
  VF e = v_exp(ORF(v, V_SIGN));
  *num = SEL(CMPGE(v, F1(0.0f)), F1(1.0f), e);
  *den = ADD(F1(1.0f), e);
}

static inline VF v_sigmoid(VF x) {
  VF num, den;
  v_sigmoid_parts(x, &num, &den);
  return MUL(num, v_recip(den)); /* den in [1, 2] */
}


/* 2^t for t in [-150, 126] (NaN stays NaN): 2^(t - round(t)) by a degree-5 polynomial fitted to 2^f
 * on [-1/2, 1/2] (relative error 2.1e-7), scaled by 2^round(t). For exp(u) as 2^(u log2(e)), the
 * rounding of t = u log2(e) adds a relative error of |t| 6e-8: cheaper than v_exp's two-part
 * reduction, for callers whose bounds allow it where |t| is large. */
static inline VF v_exp2_fast(VF t) {
  VF n = ROUND(t);
  VF f = SUB(t, n);
  VF p = F1(1.327635837e-03f);
  p = FMA(p, f, F1(9.675655514e-03f));
  p = FMA(p, f, F1(5.550714582e-02f));
  p = FMA(p, f, F1(2.402211726e-01f));
  p = FMA(p, f, F1(6.931469440e-01f));
  p = FMA(p, f, F1(1.000000119e+00f));
  return v_ldexp(p, n);
}

/* The LSTM cell's activations, cheaper than v_sigmoid / v_tanh (one exp each, and that exp the
 * fast one) and within the cell's absolute bound (1e-6; test_vmath): sigmoid(x) = 1 / (1 + 2^t),
 * t = -x log2(e) clamped to [-126, 126] (2^t finite and normal; sigmoid is 0 or 1 to float
 * precision past |x| = 87), and tanh(x) = 2 sigmoid(2x) - 1 (absolute error a few 1e-8 near 0,
 * where a relative bound would fail). NaN stays NaN (MAXF/MINF pass their second operand). */
static inline VF v_sigmoid_cell(VF x) {
  VF t = MINF(F1(126.0f), MAXF(F1(-126.0f), MUL(x, F1(-1.44269504088896341f))));
  return v_recip(ADD(F1(1.0f), v_exp2_fast(t)));
}
static inline VF v_tanh_cell(VF x) { return FMA(F1(2.0f), v_sigmoid_cell(ADD(x, x)), F1(-1.0f)); }

/* one vector of LSTM units (sn_vlstm_cell): the gates' inputs ai, ao, af, ac (already clamped), the
 * cell state c in and out, the hidden state returned */
static inline VF v_lstm_unit(VF ai, VF ao, VF af, VF ac, VF *c) {
  VF cn = FMA(v_sigmoid_cell(af), *c, MUL(v_sigmoid_cell(ai), v_tanh_cell(ac)));
  *c = cn;
  return MUL(v_sigmoid_cell(ao), v_tanh_cell(cn));
}

/* SiLU x / (1 + e), e = exp(-x) with t = -x log2(e) clamped to [-150, 126] (e finite for the
 * reciprocal). t's rounding costs relative accuracy only where x < 0 and |x / (1 + e)| < 0.28, which
 * the bound's 1e-6 absolute covers. */
static inline VF v_silu(VF x) {
  VF e = v_exp2_fast(MINF(F1(126.0f), MAXF(F1(-150.0f), MUL(x, F1(-1.44269504088896341f)))));
  /* below x = -104 the result is below 1e-36 in magnitude: x capped there keeps x / (1 + 2^126) tiny */
  VF y = MUL(MAXF(F1(-104.0f), x), v_recip(ADD(F1(1.0f), e)));
  return SEL(CMPEQ(x, F1(-INFINITY)), F1(-0.0f), y);
}

/* erf of a = |z| in two parts: es = erf(a) for a < 0.921875 (a * P(a^2), degree 6), and
 * ec = erfc(a) = exp(Q(a - 2.4609375)) for a in [0.921875, 4] (degree 9, least squares), 0 above. */
static inline void v_erf_parts(VF a, VF *es, VF *ec) {
  VF z = MUL(a, a);
  VF p = F1(8.392696327e-05f);
  p = FMA(p, z, F1(-8.148506167e-04f));
  p = FMA(p, z, F1(5.201591644e-03f));
  p = FMA(p, z, F1(-2.685964666e-02f));
  p = FMA(p, z, F1(1.128370017e-01f));
  p = FMA(p, z, F1(-3.761263490e-01f));
  p = FMA(p, z, F1(1.128379226e+00f));
  *es = MUL(a, p);
  VF u = SUB(MINF(a, F1(4.0f)), F1(2.4609375f));
  VF q = F1(-3.990489006e-08f);
  q = FMA(q, u, F1(1.613101858e-06f));
  q = FMA(q, u, F1(-1.360056376e-05f));
  q = FMA(q, u, F1(8.110696217e-05f));
  q = FMA(q, u, F1(-4.390957474e-04f));
  q = FMA(q, u, F1(2.249013400e-03f));
  q = FMA(q, u, F1(-1.120307669e-02f));
  q = FMA(q, u, F1(-9.426010847e-01f));
  q = FMA(q, u, F1(-5.278989315e+00f));
  q = FMA(q, u, F1(-7.599165916e+00f));
  *ec = SEL(CMPGT(a, F1(4.0f)), F1(0.0f), v_exp(q));
}

static inline VF v_erf(VF x) {
  VF sign = ANDF(x, V_SIGN);
  VF a = XORF(x, sign);
  VF es, ec;
  v_erf_parts(a, &es, &ec);
  VF r = SEL(CMPLT(a, F1(0.921875f)), es, SUB(F1(1.0f), ec));
  r = ORF(r, sign);
  return SEL(CMPUNORD(x, x), x, r);
}

/* gelu = h + h erf(y), h = x / 2, y = x / sqrt 2 clamped to [-4, 4] (erf(4) is 1 to 1.5e-8), with
 * erf(y) = y P(y^2) / Q(y^2), P and Q of degree 5: a rational fit of ours to erf(y) / y on [0, 4]
 * (relative error 2.5e-8 in exact arithmetic; 2.3 ulp or 4.2e-7 absolute for GELU evaluated in
 * float32, within GELU's bound of 4 ulp or 1e-6 absolute, test_vmath). Ten FMAs and a reciprocal,
 * 24 vector operations against 35 for the erfc(a) exp(-a^2) form this replaced: the GELU epilogue of
 * a BERT feed-forward GEMM. NaN passes through the clamps (MAXF/MINF return their second operand).
 * erf itself keeps its two-range form (v_erf). */
static inline VF v_gelu(VF x) {
  VF y = MINF(F1(4.0f), MAXF(F1(-4.0f), MUL(x, F1(0.70710678118654752f))));
  VF t = MUL(y, y);
  VF p = F1(1.986804591e-06f);
  p = FMA(p, t, F1(2.845631097e-04f));
  p = FMA(p, t, F1(3.883219557e-03f));
  p = FMA(p, t, F1(5.310136080e-02f));
  p = FMA(p, t, F1(1.935421675e-01f));
  p = FMA(p, t, F1(1.128379107e+00f));
  VF q = F1(3.742026092e-05f);
  q = FMA(q, t, F1(1.185541041e-03f));
  q = FMA(q, t, F1(1.520700287e-02f));
  q = FMA(q, t, F1(1.153488010e-01f));
  q = FMA(q, t, F1(5.048548579e-01f));
  q = FMA(q, t, F1(1.0f));
  /* q in [1, 6.3]; e capped at 1 (x near FLT_MAX must not overflow) */
  VF e = MINF(F1(1.0f), MUL(MUL(y, p), v_recip(q)));
  VF h = MUL(F1(0.5f), x);
  /* below x = -4 sqrt 2 (y clamped) gelu is above -4.3e-8: -0 there, as h (1 + e) would be h times
   * erf's rounding error */
  return SEL(CMPLT(x, F1(-5.65685425f)), F1(-0.0f), FMA(h, e, h));
}

/* gelu_tanh = x * sigmoid(2u), u = 0.79788456 * (x + 0.044715 x^3), since 1 + tanh(u) = 2 sigmoid(2u). */
static inline VF v_gelu_tanh(VF x) {
  VF u = MUL(F1(0.7978845608028654f), FMA(MUL(F1(0.044715f), x), MUL(x, x), x));
  VF num, den;
  v_sigmoid_parts(ADD(u, u), &num, &den);
  VF y = MUL(MUL(x, num), v_recip(den)); /* den in [1, 2] */
  return SEL(CMPEQ(x, F1(-INFINITY)), F1(-0.0f), y);
}

/* the piecewise-linear activations of sn_vpwl (a * x then + b, two roundings, as the portable loops;
 * NaN passes: MINF/MAXF return their second operand when either is NaN) */
static inline VF v_pwl_clip(VF x, VF a, VF b) { return MINF(b, MAXF(a, x)); }
static inline VF v_pwl_leaky(VF x, VF a, VF b) {
  (void)b;
  return SEL(CMPLT(x, F1(0.0f)), MUL(a, x), x);
}
static inline VF v_pwl_hsigmoid(VF x, VF a, VF b) { return MINF(F1(1.0f), MAXF(F1(0.0f), ADD(MUL(a, x), b))); }
static inline VF v_pwl_hswish(VF x, VF a, VF b) { return MUL(x, v_pwl_hsigmoid(x, a, b)); }
static inline VF v_scale(VF x, VF a, VF b) {
  (void)b;
  return MUL(a, x);
}

/* sn_vbias_act's activation on one vector (act a constant where this is inlined: one case survives) */
static inline __attribute__((always_inline)) VF v_act(const int act, VF x, VF a, VF b) {
  switch (act) {
    case SN_VACT_RELU: return MAXF(x, F1(0.0f)); /* (NaN, -0: the second operand, 0, as v > 0 ? v : 0) */
    case SN_VACT_LEAKY: return v_pwl_leaky(x, a, b);
    case SN_VACT_SIGMOID: return v_sigmoid(x);
    case SN_VACT_TANH: return v_tanh(x);
    case SN_VACT_HSIGMOID: return v_pwl_hsigmoid(x, a, b);
    case SN_VACT_HSWISH: return v_pwl_hswish(x, a, b);
    case SN_VACT_CLIP: return v_pwl_clip(x, a, b);
    case SN_VACT_GELU: return v_gelu(x);
    case SN_VACT_GELU_TANH: return v_gelu_tanh(x);
    case SN_VACT_SILU: return v_silu(x);
    default: return x;
  }
}

/* sn_vbias_act's dispatch: one loop per activation, bias_act_loop(ACT, ...) defined by the including file */
#define V_BIAS_ACT_DISPATCH(act, ...)                                                              \
  switch (act) {                                                                                   \
    case SN_VACT_RELU: bias_act_loop(SN_VACT_RELU, __VA_ARGS__); break;                             \
    case SN_VACT_LEAKY: bias_act_loop(SN_VACT_LEAKY, __VA_ARGS__); break;                           \
    case SN_VACT_SIGMOID: bias_act_loop(SN_VACT_SIGMOID, __VA_ARGS__); break;                       \
    case SN_VACT_TANH: bias_act_loop(SN_VACT_TANH, __VA_ARGS__); break;                             \
    case SN_VACT_HSIGMOID: bias_act_loop(SN_VACT_HSIGMOID, __VA_ARGS__); break;                     \
    case SN_VACT_HSWISH: bias_act_loop(SN_VACT_HSWISH, __VA_ARGS__); break;                         \
    case SN_VACT_CLIP: bias_act_loop(SN_VACT_CLIP, __VA_ARGS__); break;                             \
    case SN_VACT_GELU: bias_act_loop(SN_VACT_GELU, __VA_ARGS__); break;                             \
    case SN_VACT_GELU_TANH: bias_act_loop(SN_VACT_GELU_TANH, __VA_ARGS__); break;                   \
    case SN_VACT_SILU: bias_act_loop(SN_VACT_SILU, __VA_ARGS__); break;                             \
    default: bias_act_loop(SN_VACT_NONE, __VA_ARGS__); break;                                       \
  }

#endif
