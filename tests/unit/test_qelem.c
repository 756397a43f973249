/* Unit test: the quantized elementwise kernels (kernels/qelem.h). QLinearMul's product: the
 * reference against its definition in double (exact where the float32 steps are), and the AVX-512
 * kernel against the reference bit for bit, over every pair of byte values, u8 and s8, broadcast
 * (step 0) and contiguous operands, lengths 1..70 (masked tails), multipliers that saturate, and
 * through the dispatcher at each ISA cap; the table lookup (portable and AVX512-VBMI) against the plain
 * loop, all byte values, lengths 0..200 (masked tails, nothing written past the end); the 8-bit MaxPool
 * row (AVX-512 against the reference, and the reference against the window maximum by definition)
 * over strides 1..3, windows 1..4 wide, dilations 1..2, 1..5 input rows, widths across 64-byte steps,
 * left/right padding, u8 and s8 order, nothing written past the row. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/qelem.h"
#include "runtime/cpu.h"
#include "check.h"

static void maxpool_rows(bool simd) {
  static uint8_t in[5][512], v[512], o0[300], o1[300]; /* wv <= 139 * 3 + 3 * 2 + 1 = 424 */
  for (int r = 0; r < 5; r++)
    for (int j = 0; j < 512; j++) in[r][j] = (uint8_t)next();
  int cases = 0, bad_def = 0, bad_simd = 0;
  for (int sw = 1; sw <= 3; sw++)
    for (int KW = 1; KW <= 4; KW++)
      for (int dw = 1; dw <= 2; dw++)
        for (int nr = 1; nr <= 5; nr += 2)
          for (int ow = 1; ow <= 140; ow += (ow < 70 ? 1 : 23))
            for (int pad = 0; pad < 3; pad++) {
              const int64_t wv = (int64_t)(ow - 1) * sw + (KW - 1) * dw + 1;
              const int64_t iw = wv - pad - (pad == 2 ? 1 : 0); /* right padding 0 or 1 */
              const int64_t j0 = pad, j1 = pad + iw;
              const uint8_t flip = (uint8_t)((cases & 1) ? 0x80 : 0);
              const uint8_t *rows[5];
              for (int r = 0; r < nr; r++) rows[r] = in[r] + 7 - pad; /* column j of the row is in[r][7 - pad + j] */
              memset(o0, 0xCD, sizeof o0);
              sn_q8_maxpool_row_ref(rows, nr, j0, j1, wv, KW, dw, sw, ow, flip, v, o0);
              for (int i = 0; i < ow; i++) { /* the definition: padding is the lowest value */
                int m = -1;
                for (int k = 0; k < KW; k++) {
                  const int64_t j = (int64_t)i * sw + k * dw;
                  for (int r = 0; r < nr && j >= j0 && j < j1; r++) {
                    int t = rows[r][j] ^ flip;
                    m = t > m ? t : m;
                  }
                  if (j < j0 || j >= j1) m = m > 0 ? m : 0;
                }
                bad_def += o0[i] != (uint8_t)(m ^ flip);
              }
              bad_def += o0[ow] != 0xCD;
              if (simd) {
                memset(o1, 0xCD, sizeof o1);
                sn_q8_maxpool_row_avx512(rows, nr, j0, j1, wv, KW, dw, sw, ow, flip, v, o1);
                bad_simd += memcmp(o0, o1, sizeof o0) != 0;
              }
              cases++;
            }
  char what[120];
  snprintf(what, sizeof what, "maxpool row ref vs definition (%d rows)", cases);
  check(!bad_def, what);
  if (simd) {
    snprintf(what, sizeof what, "maxpool row avx512 vs ref (%d rows)", cases);
    check(!bad_simd, what);
  }
}

int main(void) {
  static uint8_t a[65536], b[65536], y0[65536], y1[65536];
  for (int i = 0; i < 65536; i++) a[i] = (uint8_t)(i & 255), b[i] = (uint8_t)(i >> 8);
  bool simd = sn_cpu_isa() >= SN_ISA_AVX512;
  const float rms[] = {1e-4f, 0.0037f, 0.25f, 3.0f};
  for (int sgn = 0; sgn < 2; sgn++)
    for (size_t r = 0; r < sizeof rms / sizeof *rms; r++) {
      int32_t az = sgn ? -3 : 131, bz = sgn ? 7 : 2;
      float cz = sgn ? -5.0f : 100.0f;
      char what[160];
      sn_qlinear_mul_ref(a, 1, b, 1, 65536, az, bz, rms[r], cz, sgn, y0);
      bool ok = true; /* the definition (the product and one rounding are exact in float here) */
      for (int i = 0; i < 65536 && ok; i++) {
        int32_t va = sgn ? (int8_t)a[i] : a[i], vb = sgn ? (int8_t)b[i] : b[i];
        float v = nearbyintf((float)((va - az) * (vb - bz)) * rms[r]) + cz;
        float lo = sgn ? -128 : 0, hi = sgn ? 127 : 255;
        v = v < lo ? lo : v > hi ? hi : v;
        ok = (sgn ? (int)(int8_t)y0[i] : (int)y0[i]) == (int)v;
      }
      snprintf(what, sizeof what, "mul ref vs definition s8=%d rm=%g", sgn, (double)rms[r]);
      check(ok, what);
      if (simd) {
        memset(y1, 0xAB, sizeof y1);
        sn_qlinear_mul_avx512(a, 1, b, 1, 65536, az, bz, rms[r], cz, sgn, y1);
        snprintf(what, sizeof what, "mul avx512 vs ref s8=%d rm=%g (all pairs)", sgn, (double)rms[r]);
        check(!memcmp(y0, y1, sizeof y0), what);
      }
      for (int n = 1; n <= 70; n++)
        for (int st = 0; st < 3; st++) { /* steps (1,1), (1,0), (0,1) */
          int as = st == 2 ? 0 : 1, bs = st == 1 ? 0 : 1;
          const uint8_t *pa = a + 37 * n, *pb = b + 4099 + n;
          memset(y0, 0x5A, 80);
          sn_qlinear_mul_ref(pa, as, pb, bs, n, az, bz, rms[r], cz, sgn, y0);
          for (int cap = SN_ISA_SCALAR; cap <= SN_ISA_AVX512; cap++) {
            int prev = sn_cpu_set_thread_cap(cap);
            memset(y1, 0x5A, 80);
            sn_qlinear_mul(pa, as, pb, bs, n, az, bz, rms[r], cz, sgn, y1);
            sn_cpu_set_thread_cap(prev);
            snprintf(what, sizeof what, "mul n=%d steps %d,%d s8=%d rm=%g cap %d vs ref (tail untouched)", n, as, bs, sgn,
                     (double)rms[r], cap);
            check(!memcmp(y0, y1, 80), what);
          }
        }
    }
  uint8_t table[256];
  for (int i = 0; i < 256; i++) table[i] = (uint8_t)(i * 73 + 11);
  for (int v = 0; v < 3; v++) {
    if (v == 2 && !sn_cpu_has_vbmi()) break;
    for (int n = 0; n <= 200; n++) {
      memset(y1, 0, 210);
      const uint8_t *x = a + 3 + 7 * n; /* every byte value occurs */
      (v == 0 ? sn_qlut : v == 1 ? sn_qlut_ref : sn_qlut_avx512vbmi)(x, n, table, y1);
      bool ok = true;
      for (int i = 0; i < n; i++) ok = ok && y1[i] == table[x[i]];
      for (int i = n; i < 210; i++) ok = ok && y1[i] == 0;
      char what[64];
      snprintf(what, sizeof what, "lut %s n=%d", v == 0 ? "dispatch" : v == 1 ? "ref" : "vbmi", n);
      check(ok, what);
    }
  }
  if (!sn_cpu_has_vbmi()) printf("test_qelem: no AVX512-VBMI here (or capped): the VBMI lookup was not tested\n");
  if (!simd) printf("test_qelem: no AVX-512 here (or capped): the AVX-512 kernel was not compared\n");
  maxpool_rows(simd);
  return check_report("test_qelem");
}
