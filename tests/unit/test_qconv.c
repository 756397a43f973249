/* Unit test: the padded-row helper of the integer convolution (kernels/qconv.h): the AVX-512 form
 * against the portable one, byte for byte, and the portable one against its definition, on widths
 * 1..150, offsets -7..7 (left padding and cropped columns), strides 1..3, with and without the sign
 * flip, output lengths shorter and longer than the row; nothing written past n. Skips the AVX-512 half
 * cleanly when the CPU lacks it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/qconv.h"
#include "runtime/cpu.h"

static int passed, failed;

int main(void) {
  static uint8_t src[160], d0[400], d1[400];
  for (int i = 0; i < 160; i++) src[i] = (uint8_t)(i * 37 + 5);
  bool simd = sn_cpu_isa() >= SN_ISA_AVX512;
  for (int64_t W = 1; W <= 150; W += (W < 20 ? 1 : 7))
    for (int64_t off = -7; off <= 7; off++)
      for (int64_t sw = 1; sw <= 3; sw++)
        for (int fl = 0; fl < 2; fl++)
          for (int64_t n = 1; n <= 300; n += (n < 70 ? 1 : 37)) {
            uint8_t flip = fl ? 0x80 : 0, pad = 0x3C;
            memset(d0, 0xEE, sizeof d0);
            sn_qconv_pad_row_ref(src, W, off, sw, flip, pad, d0, n);
            bool ok = d0[n] == 0xEE;
            for (int64_t j = 0; j < n; j++) {
              int64_t s = j * sw + off;
              ok = ok && d0[j] == (s >= 0 && s < W ? (uint8_t)(src[s] ^ flip) : pad);
            }
            if (!ok) {
              failed++;
              fprintf(stderr, "FAIL: ref W=%lld off=%lld sw=%lld flip=%d n=%lld\n", (long long)W, (long long)off,
                      (long long)sw, fl, (long long)n);
            } else {
              passed++;
            }
            if (simd && sw <= 2) {
              memset(d1, 0xEE, sizeof d1);
              sn_qconv_pad_row_avx512(src, W, off, sw, flip, pad, d1, n);
              if (memcmp(d0, d1, sizeof d0)) {
                failed++;
                fprintf(stderr, "FAIL: avx512 W=%lld off=%lld sw=%lld flip=%d n=%lld\n", (long long)W, (long long)off,
                        (long long)sw, fl, (long long)n);
              } else {
                passed++;
              }
            }
          }
  if (!simd) printf("test_qconv: no AVX-512 here (or capped): the AVX-512 form was not compared\n");
  printf("test_qconv: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
