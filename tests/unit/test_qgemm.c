/* Unit test: the INT8 GEMM (kernels/qgemm.h). The reference against an int64 triple loop (exact), and
 * the AVX512-VNNI kernel against the reference bit for bit on awkward shapes, both signednesses and
 * every epilogue (int32 with zero-point terms, float dequantization, u8/s8 requantization with
 * per-row and per-column scales and clamps), including extreme values (all 255 x -128). Skips the
 * VNNI half cleanly when the CPU lacks it. Prints GOPS of both at one size. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "kernels/qgemm.h"
#include "kernels/quant.h"
#include "runtime/cpu.h"
#define CHECK_SEED 0x243F6A8885A308D3ull
#include "check.h"

/* The fast kernel under test (VNNI, then AMX where the CPU has it), against the reference */
typedef void (*qgemm_fn)(bool, int64_t, const uint8_t *, int64_t, const uint8_t *, const sn_qgemm_epi *, void *, int64_t,
                         int64_t, int64_t, int64_t, int64_t);
static qgemm_fn fast_qgemm;
static bool fast_on, fast_amx, fast_emu;
/* the AMX kernel with its tile instructions emulated (tests/unit/amx_emu) */
void sn_qgemm_amx_emu(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
                      void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
bool sn_qgemm_ind_amx_emu(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen,
                          const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1,
                          int64_t n0, int64_t n1);
static void fast_ind(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen, const uint8_t *Bp,
                     const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (fast_emu)
    check(sn_qgemm_ind_amx_emu(rows, segoff, nseg, seglen, Bp, e, C, ldc, m0, m1, n0, n1), "amx gather buffer");
  else if (fast_amx)
    check(sn_qgemm_ind_amx(rows, segoff, nseg, seglen, Bp, e, C, ldc, m0, m1, n0, n1), "amx gather buffer");
  else
    sn_qgemm_ind_avx512vnni(rows, segoff, nseg, seglen, Bp, e, C, ldc, m0, m1, n0, n1);
}

/* mode: 0 random, 1 extremes (A 255 or -128, B -128 or 255) */
static void run_case(int64_t M, int64_t N, int64_t K, bool a_signed, int out, int mode) {
  int64_t lda = K + 3, ldc = N + 1;
  uint8_t *A = sn_malloc((size_t)(M * lda + 1));
  uint8_t *B = sn_malloc((size_t)(K * N + 1));
  uint8_t *Bp = sn_aligned_alloc(sn_qgemm_packed_size(K, N));
  int32_t *roff = sn_malloc(sizeof(int32_t) * (size_t)M), *coff = sn_malloc(sizeof(int32_t) * (size_t)N);
  int32_t *rf = sn_malloc(sizeof(int32_t) * (size_t)M), *cf = sn_malloc(sizeof(int32_t) * (size_t)N);
  float *rs = sn_malloc(sizeof(float) * (size_t)M), *cs = sn_malloc(sizeof(float) * (size_t)N);
  float *fb = sn_malloc(sizeof(float) * (size_t)N);
  size_t es = out == SN_QOUT_I32 || out == SN_QOUT_F32 ? 4 : 1;
  size_t cb = es * (size_t)(M * ldc);
  uint8_t *C0 = sn_malloc(cb), *C1 = sn_malloc(cb);
  for (int64_t i = 0; i < M * lda; i++) A[i] = mode ? (a_signed ? 0x80 : 0xff) : (uint8_t)next();
  for (int64_t i = 0; i < K * N; i++) B[i] = mode ? (a_signed ? 0xff : 0x80) : (uint8_t)next();
  for (int64_t i = 0; i < M; i++) {
    roff[i] = (int32_t)(next() % 20001) - 10000;
    rf[i] = (int32_t)(next() % 256) - 128;
    rs[i] = (float)(next() % 1000 + 1) * 1e-5f;
  }
  for (int64_t i = 0; i < N; i++) {
    coff[i] = (int32_t)(next() % 20001) - 10000;
    cf[i] = (int32_t)(next() % 5000);
    cs[i] = (float)(next() % 1000 + 1) * 1e-5f;
    fb[i] = (float)((int)(next() % 200) - 100) * 0.01f;
  }
  int32_t *colsum = sn_malloc(sizeof(int32_t) * (size_t)N);
  sn_qgemm_pack_b(B, N, false, K, N, 0, !a_signed, Bp, colsum);
  sn_qgemm_epi e = {out, roff, coff, rf, cf, out == SN_QOUT_F32 ? cs : rs, out == SN_QOUT_F32 ? 2 : 1, fb, 2, 0, 0, 0};
  if (out == SN_QOUT_F32) e.lo = (K & 1) ? 0.0f : -INFINITY, e.hi = (M & 1) ? INFINITY : 0.5f; /* Relu / Clip */
  if (out == SN_QOUT_U8) e.zy = 3, e.lo = 3, e.hi = 255;
  if (out == SN_QOUT_S8) e.zy = -5, e.lo = -128, e.hi = 100, e.scale = cs, e.scale_axis = 2, e.row_f = NULL;
  char what[200];
  snprintf(what, sizeof what, "M=%lld N=%lld K=%lld a_signed=%d out=%d mode=%d", (long long)M, (long long)N,
           (long long)K, a_signed, out, mode);
  memset(C0, 0xAB, cb);
  memset(C1, 0xAB, cb);
  sn_qgemm_ref(a_signed, K, A, lda, Bp, &e, C0, ldc, 0, M, 0, N);
  if (out == SN_QOUT_I32) { /* reference against the int64 loop and the column sums */
    bool ok = true;
    for (int64_t m = 0; m < M && ok; m++)
      for (int64_t n = 0; n < N && ok; n++) {
        int64_t s = 0;
        for (int64_t k = 0; k < K; k++) {
          int64_t a = a_signed ? (int8_t)A[m * lda + k] : A[m * lda + k];
          int64_t b = a_signed ? B[k * N + n] : (int8_t)B[k * N + n];
          s += a * b;
        }
        int32_t want = (int32_t)(uint32_t)(uint64_t)(s + roff[m] + coff[n] - (int64_t)rf[m] * cf[n]);
        ok = ((int32_t *)C0)[m * ldc + n] == want;
      }
    int64_t cs2 = 0;
    for (int64_t k = 0; k < K; k++) cs2 += a_signed ? B[k * N] : (int8_t)B[k * N];
    snprintf(what + strlen(what), sizeof what - strlen(what), " (ref vs int64 loop)");
    check(ok && colsum[0] == (int32_t)cs2, what);
  }
  if (out == SN_QOUT_F32) { /* the float epilogue against its definition, clamp included */
    bool ok = true;
    for (int64_t m = 0; m < M && ok; m++)
      for (int64_t n = 0; n < N && ok; n++) {
        int64_t s = 0;
        for (int64_t k = 0; k < K; k++) {
          int64_t a = a_signed ? (int8_t)A[m * lda + k] : A[m * lda + k];
          int64_t b = a_signed ? B[k * N + n] : (int8_t)B[k * N + n];
          s += a * b;
        }
        int32_t acc = (int32_t)(uint32_t)(uint64_t)(s + roff[m] + coff[n] - (int64_t)rf[m] * cf[n]);
        float f = (float)acc * cs[n] + fb[n];
        if (f < e.lo) f = e.lo;
        if (f > e.hi) f = e.hi;
        ok = ((float *)C0)[m * ldc + n] == f;
      }
    snprintf(what + strlen(what), sizeof what - strlen(what), " (float epilogue vs definition)");
    check(ok, what);
    what[strlen(what) - strlen(" (float epilogue vs definition)")] = 0;
  }
  if (out == SN_QOUT_F32 && fast_on) { /* the float epilogue's other scale and bias axes */
    for (int sa = 0; sa < 3; sa++)
      for (int ba = -1; ba < 3; ba++) {
        sn_qgemm_epi ef = e;
        ef.scale = sa == 1 ? rs : cs, ef.scale_axis = sa;
        ef.fbias = ba < 0 ? NULL : ba == 1 ? rs : fb, ef.fbias_axis = ba < 0 ? 0 : ba;
        if (ba == 0) ef.row_f = NULL, ef.row_off = NULL, ef.lo = -INFINITY, ef.hi = INFINITY;
        memset(C0, 0xAB, cb);
        memset(C1, 0xAB, cb);
        sn_qgemm_ref(a_signed, K, A, lda, Bp, &ef, C0, ldc, 0, M, 0, N);
        fast_qgemm(a_signed, K, A, lda, Bp, &ef, C1, ldc, 0, M, 0, N);
        char wf[320];
        snprintf(wf, sizeof wf, "%s (fast vs ref, float epilogue, scale axis %d, bias axis %d)", what, sa, ba);
        check(!memcmp(C0, C1, cb), wf);
      }
  }
  if (fast_on) {
    /* the whole range, then split ranges (as the ops split them over threads) */
    fast_qgemm(a_signed, K, A, lda, Bp, &e, C1, ldc, 0, M, 0, N);
    bool ok = !memcmp(C0, C1, cb);
    memset(C1, 0xAB, cb);
    int64_t mh = M / 2, nh = (N / 2) & ~(int64_t)15;
    fast_qgemm(a_signed, K, A, lda, Bp, &e, C1, ldc, 0, mh, 0, nh);
    fast_qgemm(a_signed, K, A, lda, Bp, &e, C1, ldc, mh, M, 0, nh);
    fast_qgemm(a_signed, K, A, lda, Bp, &e, C1, ldc, 0, M, nh, N);
    ok = ok && !memcmp(C0, C1, cb);
    snprintf(what + strlen(what), sizeof what - strlen(what), " (fast vs ref)");
    check(ok, what);
  }
  if (out == SN_QOUT_U8 || out == SN_QOUT_S8) { /* the fused residual add: the requantized C, then QLinearAdd */
    bool s8 = out == SN_QOUT_S8;
    uint8_t *R = sn_malloc(cb), *W0 = sn_malloc(cb), *W1 = sn_malloc(cb), *T0 = sn_malloc(cb), *T1 = sn_malloc(cb);
    for (size_t i = 0; i < cb; i++) R[i] = (uint8_t)next();
    for (int ct = 0; ct < 2; ct++)
      for (int ra = 0; ra < 2; ra++) {
        sn_qgemm_epi er = e;
        er.res = R, er.rac = 0.37f, er.rbc = 1.21f, er.rfix = ra ? -3.4f : 17.25f, er.res_is_a = ra, er.ct = ct;
        int64_t ld = ct ? M : ldc;
        memset(W0, 0xAB, cb);
        memset(W1, 0xAB, cb);
        sn_qgemm_ref(a_signed, K, A, lda, Bp, &er, W0, ld, 0, M, 0, N);
        if (fast_on)
          fast_qgemm(a_signed, K, A, lda, Bp, &er, W1, ld, 0, M, 0, N);
        else
          memcpy(W1, W0, cb);
        /* the definition: the plain result (transposed as asked), then the add */
        sn_qgemm_epi ep = e;
        ep.ct = ct;
        memset(T0, 0xAB, cb);
        sn_qgemm_ref(a_signed, K, A, lda, Bp, &ep, T0, ld, 0, M, 0, N);
        bool ok = !memcmp(W0, W1, cb);
        for (int64_t m = 0; m < M && ok; m++) {
          for (int64_t n = 0; n < N; n++) {
            size_t at = (size_t)(ct ? n * M + m : m * ldc + n);
            if (ra)
              sn_qlinear_add_ref(R + at, 1, T0 + at, 1, 1, er.rac, er.rbc, er.rfix, s8, T1);
            else
              sn_qlinear_add_ref(T0 + at, 1, R + at, 1, 1, er.rac, er.rbc, er.rfix, s8, T1);
            ok = ok && W0[at] == T1[0];
          }
        }
        char wr[320];
        snprintf(wr, sizeof wr, "%s (residual add, ct %d, res is a %d: ref, fast, definition)", what, ct, ra);
        check(ok, wr);
      }
    sn_free(R), sn_free(W0), sn_free(W1), sn_free(T0), sn_free(T1);
  }
  { /* C stored transposed (e.ct): the same elements at [n * M + m], reference and VNNI */
    size_t es = out == SN_QOUT_I32 || out == SN_QOUT_F32 ? 4 : 1, tb = (size_t)(M * N) * es;
    uint8_t *T0 = sn_malloc(tb), *T1 = sn_malloc(tb);
    sn_qgemm_epi et = e;
    et.ct = true;
    memset(T0, 0xAB, tb);
    memset(T1, 0xAB, tb);
    sn_qgemm_ref(a_signed, K, A, lda, Bp, &et, T0, M, 0, M, 0, N);
    if (fast_on) {
      int64_t nh = (N / 2) & ~(int64_t)15;
      fast_qgemm(a_signed, K, A, lda, Bp, &et, T1, M, 0, M, 0, nh);
      fast_qgemm(a_signed, K, A, lda, Bp, &et, T1, M, 0, M, nh, N);
    } else {
      memcpy(T1, T0, tb);
    }
    bool ok = !memcmp(T0, T1, tb);
    for (int64_t m = 0; m < M && ok; m++)
      for (int64_t n = 0; n < N && ok; n++)
        ok = !memcmp(T0 + (size_t)(n * M + m) * es, (const uint8_t *)C0 + (size_t)(m * ldc + n) * es, es);
    char wt[320];
    snprintf(wt, sizeof wt, "%s (transposed C, ref and fast)", what);
    check(ok, wt);
    sn_free(T0), sn_free(T1);
  }
  if ((out == SN_QOUT_U8 || out == SN_QOUT_S8) && fast_on) {
    /* the conv epilogue's fast form (no column terms, per-row or per-tensor scale), with scales that
     * saturate, overflow int32 and make NaN (inf * 0) */
    float *rs2 = sn_malloc(sizeof(float) * (size_t)M);
    for (int64_t i = 0; i < M; i++) rs2[i] = rs[i];
    if (M > 1) rs2[0] = INFINITY, rs2[1] = 1e30f;
    if (M > 2) rs2[2] = -3e9f;
    uint8_t *R2 = sn_malloc(cb);
    for (size_t i = 0; i < cb; i++) R2[i] = (uint8_t)next();
    for (int axis = 0; axis < 4; axis++) { /* 2, 3: with a residual add */
      sn_qgemm_epi e2 = {out, (K & 1) ? roff : NULL, NULL, NULL, NULL, (axis & 1) ? rs2 : rs, axis & 1, NULL, 0, 0, 0, 0};
      if (axis >= 2) e2.res = R2, e2.rac = 0.61f, e2.rbc = 0.83f, e2.rfix = axis == 2 ? 4.5f : -11.0f, e2.res_is_a = axis == 3;
      e2.zy = out == SN_QOUT_U8 ? 9 : -7, e2.lo = out == SN_QOUT_U8 ? ((M & 1) ? 9 : 0) : -128, e2.hi = out == SN_QOUT_U8 ? 255 : 127;
      memset(C0, 0xAB, cb);
      memset(C1, 0xAB, cb);
      sn_qgemm_ref(a_signed, K, A, lda, Bp, &e2, C0, ldc, 0, M, 0, N);
      fast_qgemm(a_signed, K, A, lda, Bp, &e2, C1, ldc, 0, M, 0, N);
      char w2[320];
      snprintf(w2, sizeof w2, "%s (fast vs ref, conv epilogue, scale axis %d%s)", what, axis & 1,
               axis >= 2 ? ", residual add" : "");
      check(!memcmp(C0, C1, cb), w2);
    }
    /* the positions x channels form (per-column offsets and scales, as the transposed conv uses),
     * stored plain and transposed, with the same extremes in the column scales */
    float *cs2 = sn_malloc(sizeof(float) * (size_t)N);
    for (int64_t i = 0; i < N; i++) cs2[i] = cs[i];
    if (N > 1) cs2[0] = INFINITY, cs2[1] = 1e30f;
    if (N > 2) cs2[2] = -3e9f;
    for (int ct = 0; ct < 3; ct++) /* 2: plain, with a residual add (the NHWC conv's epilogue) */
      for (int zsign = 0; zsign < 2; zsign++) {
        sn_qgemm_epi e3 = {out, NULL, coff, NULL, NULL, cs2, 2, NULL, 0, 0, 0, 0};
        if (ct == 2) e3.res = R2, e3.rac = 0.61f, e3.rbc = 0.83f, e3.rfix = zsign ? 4.5f : -11.0f, e3.res_is_a = zsign;
        e3.zy = out == SN_QOUT_U8 ? (zsign ? 0 : 9) : (zsign ? 5 : -7);
        e3.lo = out == SN_QOUT_U8 ? (zsign ? 0 : 9) : -128, e3.hi = out == SN_QOUT_U8 ? 255 : 127;
        e3.ct = ct == 1;
        int64_t ld = ct == 1 ? M : ldc;
        memset(C0, 0xAB, cb);
        memset(C1, 0xAB, cb);
        sn_qgemm_ref(a_signed, K, A, lda, Bp, &e3, C0, ld, 0, M, 0, N);
        int64_t mh = (M / 2) / 6 * 6; /* the rows in two calls, as the ops split them */
        fast_qgemm(a_signed, K, A, lda, Bp, &e3, C1, ld, 0, mh, 0, N);
        fast_qgemm(a_signed, K, A, lda, Bp, &e3, C1, ld, mh, M, 0, N);
        char w3[320];
        snprintf(w3, sizeof w3, "%s (fast vs ref, per-column requantization, %s, zy %g, lo %g)", what,
                 ct == 2 ? "residual add" : ct ? "transposed" : "plain",
                 (double)e3.zy, (double)e3.lo);
        check(!memcmp(C0, C1, cb), w3);
      }
    sn_free(rs2), sn_free(R2), sn_free(cs2);
  }
  sn_free(A), sn_free(B), sn_aligned_free(Bp), sn_free(roff), sn_free(coff), sn_free(rf), sn_free(cf);
  sn_free(rs), sn_free(cs), sn_free(fb), sn_free(C0), sn_free(C1), sn_free(colsum);
}

/* The indirect A (sn_qgemm_ind): rows made of nseg segments of seglen bytes spread over a buffer (a
 * conv's taps), against the plain GEMM on the same rows copied out, reference and VNNI, three epilogues
 * (int32; the conv's per-row requantization; per-column offsets and scales as the NHWC conv uses) */
static void run_ind(int64_t M, int64_t N, int64_t nseg, int64_t seglen) {
  int64_t K = nseg * seglen, span = 3 * K + 64;
  uint8_t *buf = sn_malloc((size_t)span), *A = sn_malloc((size_t)(M * K)), *B = sn_malloc((size_t)(K * N));
  uint8_t *Bp = sn_aligned_alloc(sn_qgemm_packed_size(K, N));
  const uint8_t **rows = sn_malloc(sizeof(void *) * (size_t)M);
  int64_t *segoff = sn_malloc(sizeof(int64_t) * (size_t)nseg);
  int32_t *coff = sn_malloc(sizeof(int32_t) * (size_t)N), *roff = sn_malloc(sizeof(int32_t) * (size_t)M);
  float *cs = sn_malloc(sizeof(float) * (size_t)N), *rs = sn_malloc(sizeof(float) * (size_t)M);
  size_t cb = sizeof(int32_t) * (size_t)(M * N);
  uint8_t *C0 = sn_malloc(cb), *C1 = sn_malloc(cb), *C2 = sn_malloc(cb);
  for (int64_t i = 0; i < span; i++) buf[i] = (uint8_t)next();
  for (int64_t i = 0; i < K * N; i++) B[i] = (uint8_t)next();
  for (int64_t sg = 0; sg < nseg; sg++) segoff[sg] = (int64_t)(next() % (uint64_t)(2 * K));
  for (int64_t m = 0; m < M; m++) {
    rows[m] = buf + next() % 64;
    for (int64_t sg = 0; sg < nseg; sg++) memcpy(A + m * K + sg * seglen, rows[m] + segoff[sg], (size_t)seglen);
    roff[m] = (int32_t)(next() % 20001) - 10000, rs[m] = 0.0003f * (float)(1 + m % 7);
  }
  for (int64_t n = 0; n < N; n++) coff[n] = (int32_t)(next() % 20001) - 10000, cs[n] = 0.0002f * (float)(1 + n % 5);
  sn_qgemm_pack_b(B, N, false, K, N, 0, true, Bp, NULL);
  for (int kind = 0; kind < 3; kind++) {
    sn_qgemm_epi e = {SN_QOUT_I32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (kind == 1) e = (sn_qgemm_epi){SN_QOUT_U8, roff, NULL, NULL, NULL, rs, 1, NULL, 0, 5, 5, 255};
    if (kind == 2) e = (sn_qgemm_epi){SN_QOUT_S8, NULL, coff, NULL, NULL, cs, 2, NULL, 0, -3, -128, 127};
    memset(C0, 0xAB, cb), memset(C1, 0xAB, cb), memset(C2, 0xAB, cb);
    sn_qgemm_ref(false, K, A, K, Bp, &e, C0, N, 0, M, 0, N);
    sn_qgemm_ind_ref(rows, segoff, nseg, seglen, Bp, &e, C1, N, 0, M, 0, N);
    bool ok = !memcmp(C0, C1, cb);
    if (fast_on) {
      fast_ind(rows, segoff, nseg, seglen, Bp, &e, C2, N, 0, M, 0, N);
      ok = ok && !memcmp(C0, C2, cb);
    }
    char what[160];
    snprintf(what, sizeof what, "indirect M=%lld N=%lld %lld x %lld epilogue %d", (long long)M, (long long)N,
             (long long)nseg, (long long)seglen, kind);
    check(ok, what);
  }
  sn_free(buf), sn_free(A), sn_free(B), sn_aligned_free(Bp), sn_free(rows), sn_free(segoff), sn_free(coff);
  sn_free(roff), sn_free(cs), sn_free(rs), sn_free(C0), sn_free(C1), sn_free(C2);
}

static void all_cases(void) {
  const int64_t Ms[] = {1, 2, 5, 6, 7, 13, 16, 32, 37};
  const int64_t Ns[] = {1, 15, 16, 17, 63, 64, 65, 131};
  const int64_t Ks[] = {1, 3, 4, 5, 7, 64, 129, 1001};
  for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
    for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++)
      for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
        for (int out = 0; out < 4; out++) run_case(Ms[i], Ns[j], Ks[k], (i + j + k + (size_t)out) & 1, out, 0);
  for (int sgn = 0; sgn < 2; sgn++)
    for (int out = 0; out < 4; out++) {
      run_case(7, 33, 4099, sgn, out, 1);
      run_case(40, 33, 4099, sgn, out, 1);
      run_case(6, 64, 16384, sgn, out, 0);
      run_case(49, 192, 512, sgn, out, 0); /* a 7 x 7 map's positions x channels */
      run_case(64, 48, 576, sgn, out, 0);  /* a 3 x 3 x 64 conv's channels x positions */
    }
  const int64_t IM[] = {1, 6, 7, 50}, IN[] = {16, 64, 65, 200};
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < 4; j++) {
      run_ind(IM[i], IN[j], 9, 16);
      run_ind(IM[i], IN[j], 1, 4);
      run_ind(IM[i], IN[j], 25, 12);
    }
}

/* sn_qgemm_pack_b of a row-major B (the vector route: whole k-quads of whole panels, then the edges)
 * against the same matrix transposed (the byte-by-byte route): the same packed bytes and column sums */
static void pack_b_cases(void) {
  static const int64_t Ks[] = {1, 3, 4, 7, 64, 67}, Ns[] = {16, 17, 31, 48, 70};
  int bad = 0, n_cases = 0;
  for (size_t a = 0; a < sizeof Ks / sizeof *Ks; a++)
    for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
      for (int v = 0; v < 4; v++) {
        const int64_t K = Ks[a], N = Ns[b], ldb = N + (v & 1) * 5;
        const uint8_t flip = v & 2 ? 0x80 : 0;
        const bool sgn = (v + (int)a) & 1;
        uint8_t *B = sn_malloc((size_t)(K * ldb)), *Bt = sn_malloc((size_t)(K * N));
        uint8_t *p1 = sn_aligned_alloc(sn_qgemm_packed_size(K, N)), *p2 = sn_aligned_alloc(sn_qgemm_packed_size(K, N));
        int32_t *s1 = sn_malloc(sizeof(int32_t) * (size_t)N), *s2 = sn_malloc(sizeof(int32_t) * (size_t)N);
        for (int64_t i = 0; i < K * ldb; i++) B[i] = (uint8_t)next();
        for (int64_t k = 0; k < K; k++)
          for (int64_t n = 0; n < N; n++) Bt[n * K + k] = B[k * ldb + n];
        sn_qgemm_pack_b(B, ldb, false, K, N, flip, sgn, p1, s1);
        sn_qgemm_pack_b(Bt, K, true, K, N, flip, sgn, p2, s2);
        n_cases++;
        if (memcmp(p1, p2, sn_qgemm_packed_size(K, N)) || memcmp(s1, s2, sizeof(int32_t) * (size_t)N)) {
          if (!bad++)
            printf("pack_b mismatch: K %lld N %lld ldb %lld flip %d signed %d\n", (long long)K, (long long)N,
                   (long long)ldb, flip, sgn);
        }
        sn_free(B), sn_free(Bt), sn_aligned_free(p1), sn_aligned_free(p2), sn_free(s1), sn_free(s2);
      }
  CHECK(bad == 0, "sn_qgemm_pack_b row-major equals its transposed route (%d of %d cases differ)", bad, n_cases);
}

int main(void) {
  pack_b_cases();
  all_cases(); /* the reference against the definition */
  if (sn_cpu_has_vnni()) {
    fast_on = true, fast_qgemm = sn_qgemm_avx512vnni;
    int f0 = failed;
    all_cases();
    printf("test_qgemm: AVX512-VNNI against the reference: %d failed\n", failed - f0);
  } else {
    printf("test_qgemm: no AVX512-VNNI here (or capped): VNNI cases skipped\n");
  }
  if (sn_cpu_has_amx_int8()) {
    fast_on = fast_amx = true, fast_qgemm = sn_qgemm_amx;
    int f0 = failed;
    all_cases();
    printf("test_qgemm: AMX-INT8 against the reference: %d failed\n", failed - f0);
  } else {
    printf("test_qgemm: no AMX-INT8 here (or capped): AMX cases skipped\n");
  }
  const sn_cpu *cpu = sn_cpu_info(); /* the emulated AMX kernel: its epilogue is the VNNI file's */
  if (cpu->avx512_vnni && cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq) {
    fast_on = fast_amx = fast_emu = true, fast_qgemm = sn_qgemm_amx_emu;
    int f0 = failed;
    all_cases();
    printf("test_qgemm: emulated AMX-INT8 against the reference: %d failed\n", failed - f0);
  }
  /* speed at one size (information only) */
  int64_t M = 192, N = 256, K = 1024;
  uint8_t *A = sn_malloc((size_t)(M * K)), *B = sn_malloc((size_t)(K * N));
  uint8_t *Bp = sn_aligned_alloc(sn_qgemm_packed_size(K, N));
  int32_t *C = sn_malloc(sizeof(int32_t) * (size_t)(M * N));
  for (int64_t i = 0; i < M * K; i++) A[i] = (uint8_t)next();
  for (int64_t i = 0; i < K * N; i++) B[i] = (uint8_t)next();
  sn_qgemm_pack_b(B, N, false, K, N, 0, true, Bp, NULL);
  sn_qgemm_epi e = {SN_QOUT_I32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int v = 0; v < 3; v++) {
    if (v == 1 && !sn_cpu_has_vnni()) continue;
    if (v == 2 && !sn_cpu_has_amx_int8()) continue;
    int reps = v ? 50 : 3;
    qgemm_fn fn = v == 2 ? sn_qgemm_amx : v == 1 ? sn_qgemm_avx512vnni : sn_qgemm_ref;
    double t0 = now();
    for (int r = 0; r < reps; r++) fn(false, K, A, K, Bp, &e, C, N, 0, M, 0, N);
    double dt = (now() - t0) / reps;
    printf("%s: %lldx%lldx%lld %.1f GOPS\n", v == 2 ? "amx" : v ? "avx512vnni" : "ref", (long long)M, (long long)N,
           (long long)K, 2.0 * (double)(M * N * K) / dt * 1e-9);
  }
  sn_free(A), sn_free(B), sn_aligned_free(Bp), sn_free(C);
  printf("test_qgemm: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
