/* INT8 GEMM dispatch and packing (see qgemm.h). */
#include "kernels/qgemm.h"

#include <string.h>

#include "runtime/cpu.h"
#include "runtime/prof.h"

/* Calls with fewer rows than this take the VNNI kernel: an AMX tile of a few rows does a full tile's
 * work (a batch-1 matrix-vector product). */
#define AMX_MIN_ROWS 8
#define AMX_NAME "i8_gemm_32x32_amx"
#define VNNI_NAME "i8_gemm_6x64_avx512vnni"
#define REF_NAME "i8_gemm_1x16_ref"

void sn_qgemm_pack_b(const uint8_t *B, int64_t ldb, bool transB, int64_t K, int64_t N, uint8_t flip, bool b_signed,
                     uint8_t *packed, int32_t *colsum) {
  int64_t Kp = sn_qgemm_kp(K), Np = sn_qgemm_np(N);
  memset(packed, 0, (size_t)(Kp * Np));
  if (!transB && N >= 16) { /* (a B packed per run: attention's K^T and V) whole k-quads of whole panels in
                             * vectors, row by row; the rest, and the column sums, in plain loops */
    const int64_t N16 = N & ~(int64_t)15, K4 = K & ~(int64_t)3;
    for (int64_t k = 0; k < K4; k += 4)
      sn_qgemm_pack4(B + k * ldb, B + (k + 1) * ldb, B + (k + 2) * ldb, B + (k + 3) * ldb, N16, flip,
                     packed + (k / 4) * 64, Kp * 16);
    for (int64_t k = 0; k < K; k++)
      for (int64_t n = k < K4 ? N16 : 0; n < N; n++)
        packed[(n / 16) * Kp * 16 + (k / 4) * 64 + (n % 16) * 4 + k % 4] = (uint8_t)(B[k * ldb + n] ^ flip);
    if (colsum) {
      memset(colsum, 0, sizeof(int32_t) * (size_t)N);
      for (int64_t k = 0; k < K; k++) {
        const uint8_t *r = B + k * ldb;
        if (b_signed)
          for (int64_t n = 0; n < N; n++) colsum[n] += (int8_t)(r[n] ^ flip);
        else
          for (int64_t n = 0; n < N; n++) colsum[n] += (uint8_t)(r[n] ^ flip);
      }
    }
    return;
  }
  for (int64_t n = 0; n < N; n++) {
    uint8_t *panel = packed + (n / 16) * Kp * 16 + (n % 16) * 4;
    uint32_t sum = 0;
    for (int64_t k = 0; k < K; k++) {
      uint8_t v = (uint8_t)(B[transB ? n * ldb + k : k * ldb + n] ^ flip);
      panel[(k / 4) * 64 + (k % 4)] = v;
      sum += b_signed ? (uint32_t)(int32_t)(int8_t)v : (uint32_t)v;
    }
    if (colsum) colsum[n] = (int32_t)sum;
  }
}

void sn_qgemm_pack4(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int64_t n, uint8_t flip,
                    uint8_t *dst, int64_t panel_stride) {
  if (sn_cpu_has_vnni()) {
    sn_qgemm_pack4_avx512vnni(r0, r1, r2, r3, n, flip, dst, panel_stride);
    return;
  }
  for (int64_t p = 0; p < n; p += 16) {
    uint32_t *d = (uint32_t *)(void *)(dst + (p / 16) * panel_stride);
    for (int i = 0; i < 16; i++)
      d[i] = (uint32_t)(r0[p + i] ^ flip) | (uint32_t)(r1[p + i] ^ flip) << 8 | (uint32_t)(r2[p + i] ^ flip) << 16 |
             (uint32_t)(r3[p + i] ^ flip) << 24;
  }
}

void sn_qgemm_pack16_rows(const uint8_t *const rows[16], int64_t n, uint8_t flip, uint8_t *dst, int64_t lda) {
  if (sn_cpu_has_vnni()) {
    sn_qgemm_pack16_rows_avx512vnni(rows, n, flip, dst, lda);
    return;
  }
  for (int64_t p = 0; p < n; p++)
    for (int r = 0; r < 16; r++) dst[p * lda + r] = rows[r][p] ^ flip;
}

void sn_qgemm_transpose(const uint8_t *src, int64_t rows, int64_t cols, int64_t lds, uint8_t flip, uint8_t *dst,
                        int64_t ldd) {
  int64_t r16 = rows & ~(int64_t)15, c16 = cols & ~(int64_t)15;
  for (int64_t r0 = 0; r0 < r16; r0 += 16) {
    const uint8_t *rp[16];
    for (int r = 0; r < 16; r++) rp[r] = src + (r0 + r) * lds;
    if (c16) sn_qgemm_pack16_rows(rp, c16, flip, dst + r0, ldd);
    for (int64_t c = c16; c < cols; c++)
      for (int r = 0; r < 16; r++) dst[c * ldd + r0 + r] = rp[r][c] ^ flip;
  }
  for (int64_t r = r16; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c] ^ flip;
}

void sn_qgemm_row_sums(const uint8_t *A, int64_t lda, int64_t M, int64_t K, bool a_signed, int32_t *out) {
  for (int64_t m = 0; m < M; m++) {
    const uint8_t *a = A + m * lda;
    uint32_t s = 0;
    if (a_signed)
      for (int64_t k = 0; k < K; k++) s += (uint32_t)(int32_t)(int8_t)a[k];
    else
      for (int64_t k = 0; k < K; k++) s += a[k];
    out[m] = (int32_t)s;
  }
}

void sn_qgemm(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
              void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 <= m0 || n1 <= n0) return;
  if (sn_cpu_has_amx_int8() && m1 - m0 >= AMX_MIN_ROWS) {
    SN_PROF_KERNEL(AMX_NAME);
    sn_qgemm_amx(a_signed, K, A, lda, Bp, e, C, ldc, m0, m1, n0, n1);
  } else if (sn_cpu_has_vnni()) {
    SN_PROF_KERNEL(VNNI_NAME);
    sn_qgemm_avx512vnni(a_signed, K, A, lda, Bp, e, C, ldc, m0, m1, n0, n1);
  } else {
    SN_PROF_KERNEL(REF_NAME);
    sn_qgemm_ref(a_signed, K, A, lda, Bp, e, C, ldc, m0, m1, n0, n1);
  }
}

void sn_qgemm_ind(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen, const uint8_t *Bp,
                  const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 <= m0 || n1 <= n0) return;
  if (sn_cpu_has_amx_int8() && m1 - m0 >= AMX_MIN_ROWS) {
    SN_PROF_KERNEL(AMX_NAME);
    if (sn_qgemm_ind_amx(rows, segoff, nseg, seglen, Bp, e, C, ldc, m0, m1, n0, n1)) return;
  }
  if (sn_cpu_has_vnni()) {
    SN_PROF_KERNEL(VNNI_NAME);
    sn_qgemm_ind_avx512vnni(rows, segoff, nseg, seglen, Bp, e, C, ldc, m0, m1, n0, n1);
  } else {
    SN_PROF_KERNEL(REF_NAME);
    sn_qgemm_ind_ref(rows, segoff, nseg, seglen, Bp, e, C, ldc, m0, m1, n0, n1);
  }
}

/* (the name of the kernel a call of AMX_MIN_ROWS rows or more takes) */
const char *sn_qgemm_kernel_name(void) {
  return sn_cpu_has_amx_int8() ? AMX_NAME : sn_cpu_has_vnni() ? VNNI_NAME : REF_NAME;
}
