/* Unit test: the padded-row helper of the integer convolution (kernels/qconv.h): the AVX-512 form
 * against the portable one, byte for byte, and the portable one against its definition, on widths
 * 1..150, offsets -7..7 (left padding and cropped columns), strides 1..3, with and without the sign
 * flip, output lengths shorter and longer than the row; nothing written past n. Skips the AVX-512 half
 * cleanly when the CPU lacks it. Then the small-map row gather (sn_qconv_gather: VBMI against its
 * definition, source windows of 1..256 bytes ending at the end of an allocation, padding entries,
 * lengths 1..256), the row-major packer (sn_qgemm_pack16_rows) and the byte transpose
 * (sn_qgemm_transpose, edges included) against their definitions. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/qconv.h"
#include "kernels/qgemm.h"
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
            sn_qconv_pad_rows_ref(src, 0, 1, W, off, sw, flip, pad, d0, 0, n);
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
              sn_qconv_pad_rows_avx512(src, 0, 1, W, off, sw, flip, pad, d1, 0, n);
              if (memcmp(d0, d1, sizeof d0)) {
                failed++;
                fprintf(stderr, "FAIL: avx512 W=%lld off=%lld sw=%lld flip=%d n=%lld\n", (long long)W, (long long)off,
                        (long long)sw, fl, (long long)n);
              } else {
                passed++;
              }
            }
          }
  /* several rows per call: source rows sh * W apart (every other row of the map), destination rows
   * n + 5 apart with the gaps untouched */
  {
    static uint8_t map[8 * 61], m0[4 * 80], m1[4 * 80];
    for (int i = 0; i < 8 * 61; i++) map[i] = (uint8_t)(i * 13 + 1);
    for (int64_t sw = 1; sw <= 2; sw++)
      for (int64_t off = -2; off <= 1; off++) {
        const int64_t W = 61, n = 40, ds = n + 5;
        memset(m0, 0xEE, sizeof m0);
        sn_qconv_pad_rows_ref(map + W, 2 * W, 3, W, off, sw, 0x80, 0x11, m0, ds, n);
        bool ok = true;
        for (int64_t r = 0; r < 3; r++)
          for (int64_t j = 0; j < ds; j++) {
            int64_t s = j * sw + off;
            uint8_t want = j >= n ? 0xEE : s >= 0 && s < W ? (uint8_t)(map[(1 + 2 * r) * W + s] ^ 0x80) : 0x11;
            ok = ok && m0[r * ds + j] == want;
          }
        ok = ok && m0[3 * ds] == 0xEE;
        if (ok) passed++; else failed++, fprintf(stderr, "FAIL: ref rows sw=%lld off=%lld\n", (long long)sw, (long long)off);
        if (simd) {
          memset(m1, 0xEE, sizeof m1);
          sn_qconv_pad_rows_avx512(map + W, 2 * W, 3, W, off, sw, 0x80, 0x11, m1, ds, n);
          if (!memcmp(m0, m1, sizeof m0)) passed++;
          else failed++, fprintf(stderr, "FAIL: avx512 rows sw=%lld off=%lld\n", (long long)sw, (long long)off);
        }
      }
  }
  /* gather: the source is the last `bytes` bytes of a heap block (ASan sees any read past it) */
  static int32_t idx[256];
  static uint8_t idx8[256];
  uint64_t valid[5];
  for (int64_t bytes = 1; bytes <= 256; bytes += (bytes < 70 ? 3 : 29))
    for (int64_t n = 1; n <= 256; n += (n < 20 ? 1 : 23)) {
      uint8_t *blk = sn_malloc((size_t)bytes);
      for (int64_t i = 0; i < bytes; i++) blk[i] = (uint8_t)(i * 13 + 7);
      memset(valid, 0, sizeof valid);
      for (int64_t i = 0; i < n; i++) {
        int64_t v = (i * 7 + n) % (bytes + 3) - 2; /* some out of range: padding */
        idx[i] = v >= 0 && v < bytes ? (int32_t)v : -1;
        idx8[i] = idx[i] >= 0 ? (uint8_t)idx[i] : 0;
        if (idx[i] >= 0) valid[i / 64] |= (uint64_t)1 << (i % 64);
      }
      for (int vb = 0; vb < 2; vb++) {
        memset(d0, 0xEE, sizeof d0);
        sn_qconv_gather(blk, bytes, idx, vb ? idx8 : NULL, valid, n, 0x5A, d0);
        bool ok = d0[n] == 0xEE;
        for (int64_t i = 0; i < n; i++) ok = ok && d0[i] == (idx[i] < 0 ? 0x5A : blk[idx[i]]);
        if (!ok) {
          failed++;
          fprintf(stderr, "FAIL: gather bytes=%lld n=%lld vbmi=%d\n", (long long)bytes, (long long)n, vb);
        } else {
          passed++;
        }
      }
      sn_free(blk);
    }
  /* pack16_rows: 16 rows of n bytes into n rows of lda bytes, 16 at a time */
  for (int64_t n = 16; n <= 80; n += 16)
    for (int64_t lda = 16; lda <= 48; lda += 32)
      for (int fl = 0; fl < 2; fl++) {
        static uint8_t rows16[16][80];
        const uint8_t *rp[16];
        uint8_t *dst = sn_aligned_alloc((size_t)(n * lda));
        for (int r = 0; r < 16; r++) {
          for (int64_t p = 0; p < n; p++) rows16[r][p] = (uint8_t)(r * 29 + p * 7 + 1);
          rp[r] = rows16[r];
        }
        memset(dst, 0xEE, (size_t)(n * lda));
        uint8_t flip = fl ? 0x80 : 0;
        sn_qgemm_pack16_rows(rp, n, flip, dst, lda);
        bool ok = true;
        for (int64_t p = 0; p < n; p++)
          for (int64_t b = 0; b < lda; b++)
            ok = ok && dst[p * lda + b] == (b < 16 ? (uint8_t)(rows16[b][p] ^ flip) : 0xEE);
        if (!ok) {
          failed++;
          fprintf(stderr, "FAIL: pack16_rows n=%lld lda=%lld flip=%d\n", (long long)n, (long long)lda, fl);
        } else {
          passed++;
        }
        sn_aligned_free(dst);
      }
  /* sn_qgemm_transpose: 16 x 16 blocks and the edges (rows and columns not multiples of 16) */
  for (int64_t rows = 1; rows <= 40; rows += 13)
    for (int64_t cols = 1; cols <= 40; cols += 7)
      for (int fl = 0; fl < 2; fl++) {
        int64_t lds = cols + 3, ldd = rows + 5;
        uint8_t *src = sn_malloc((size_t)(rows * lds)), *dst = sn_malloc((size_t)(cols * ldd));
        for (int64_t i = 0; i < rows * lds; i++) src[i] = (uint8_t)(i * 11 + 3);
        memset(dst, 0xEE, (size_t)(cols * ldd));
        uint8_t flip = fl ? 0x80 : 0;
        sn_qgemm_transpose(src, rows, cols, lds, flip, dst, ldd);
        bool ok = true;
        for (int64_t c = 0; c < cols; c++)
          for (int64_t r = 0; r < ldd; r++)
            ok = ok && dst[c * ldd + r] == (r < rows ? (uint8_t)(src[r * lds + c] ^ flip) : 0xEE);
        if (!ok) {
          failed++;
          fprintf(stderr, "FAIL: transpose %lldx%lld flip=%d\n", (long long)rows, (long long)cols, fl);
        } else {
          passed++;
        }
        sn_free(src), sn_free(dst);
      }
  if (!simd) printf("test_qconv: no AVX-512 here (or capped): the AVX-512 form was not compared\n");
  printf("test_qconv: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
