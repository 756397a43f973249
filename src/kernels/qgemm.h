/* INT8 GEMM with a fused requantization epilogue: C = epilogue(A x B), A 8-bit rows, B 8-bit and
 * prepacked, int32 accumulation with no 16-bit intermediate (so no saturation anywhere), results
 * identical at every ISA level (AVX512-VNNI kernel, portable reference).
 *
 * Operands. One of A and B is unsigned (u8) and the other signed (s8), as vpdpbusd wants:
 * a_signed = false: A u8, B s8 (MatMul: activations x weights); a_signed = true: A s8, B u8 (Conv:
 * weights x im2col columns). Callers turn the other signedness into this by flipping the top bit
 * (x ^ 0x80 = x + 128 for s8 -> u8, x - 128 for u8 -> s8) and moving the zero point the same way.
 *
 * A is M x K, row-major with row stride lda (only K bytes per row are read). B is K x N, packed by
 * sn_qgemm_pack_b (or a caller's own packer writing the same layout): panels of 16 columns, each
 * holding Kp/4 groups of 16 x 4 bytes (4 consecutive k of one column next to each other), K padded to
 * Kp = round_up(K, 4) and N to round_up(N, 16) with zeros.
 *
 * Epilogue, per element (m, n), in this order (int32 arithmetic wraps):
 *   acc = sum_k A[m,k] * B[k,n] + row_off[m] + col_off[n] - row_f[m] * col_f[n]
 * (zero-point compensation and int32 bias; NULL arrays are skipped, the product needs both), then
 *   SN_QOUT_I32: C = acc
 *   SN_QOUT_F32: C = (float)acc * scale (+ fbias), float32 ops in that order, then clamped to
 *                [lo, hi] where those are finite (Relu: lo = 0; NaN -> lo)
 *   SN_QOUT_U8 / S8: t = rint((float)acc * scale) + zy, clamped to [lo, hi], C = (int)t
 * with scale and fbias per tensor (axis 0), per row (1) or per column (2). With ct, C is stored
 * transposed (a convolution computing output positions x channels writes NCHW directly). */
#ifndef SN_QGEMM_H
#define SN_QGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SN_QOUT_I32 = 0, SN_QOUT_F32 = 1, SN_QOUT_U8 = 2, SN_QOUT_S8 = 3 };

typedef struct sn_qgemm_epi {
  int out; /* SN_QOUT_* */
  const int32_t *row_off, *col_off;
  const int32_t *row_f, *col_f;
  const float *scale;
  int scale_axis;
  const float *fbias;
  int fbias_axis;
  float zy, lo, hi; /* U8/S8: output zero point and clamp bounds (integers) */
  bool ct;          /* C transposed: element (m, n) stored at C[n * ldc + m] */
  /* U8/S8 only: a residual QLinearAdd after the requantization (ONNX Runtime's formula, as
   * kernels/quant.h sn_qlinear_add): with q the requantized value and r = res's element (indexed like
   * C, same type), C = clamp(rint(fma(a, rac, fma(b, rbc, rfix)))) to the type's range, where (a, b) =
   * (r, q) if res_is_a, else (q, r). */
  const uint8_t *res;
  float rac, rbc, rfix;
  bool res_is_a;
} sn_qgemm_epi;

static inline int64_t sn_qgemm_kp(int64_t K) { return (K + 3) & ~(int64_t)3; }
static inline int64_t sn_qgemm_np(int64_t N) { return (N + 15) & ~(int64_t)15; }
/* Bytes of a packed B (a multiple of 64). */
static inline size_t sn_qgemm_packed_size(int64_t K, int64_t N) { return (size_t)(sn_qgemm_kp(K) * sn_qgemm_np(N)); }

/* Pack B (K x N row-major with row stride ldb, or N x K with stride ldb when transB), each byte
 * XORed with flip (0 or 0x80). colsum (optional, N entries): column sums of the packed values, as
 * signed when b_signed. */
void sn_qgemm_pack_b(const uint8_t *B, int64_t ldb, bool transB, int64_t K, int64_t N, uint8_t flip, bool b_signed,
                     uint8_t *packed, int32_t *colsum);

/* Rows [m0, m1) and columns [n0, n1) of C (element type by epi->out, row stride ldc in elements;
 * C points at element (0, 0)); n0 must be a multiple of 16. Single-threaded: callers split the
 * ranges over the thread pool. Dispatches on sn_cpu_has_vnni(). */
void sn_qgemm(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
              void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
/* The same with an indirect u8 A (a_signed false): row m is nseg segments of seglen bytes (a multiple
 * of 4), segment s at rows[m] + segoff[s], K = nseg * seglen: a convolution's im2col row read in place
 * from an NHWC input, one segment per kernel tap. */
void sn_qgemm_ind(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen, const uint8_t *Bp,
                  const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void sn_qgemm_ind_ref(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen,
                      const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1,
                      int64_t n0, int64_t n1);
void sn_qgemm_ind_avx512vnni(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen,
                             const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1,
                             int64_t n0, int64_t n1);
/* AMX-INT8 (tdpbusd / tdpbsud on 16 x 64-byte tiles; sn_cpu_has_amx_int8()): same contract and the
 * same results bit for bit. The indirect form gathers rows into a per-thread buffer; false when that
 * cannot be allocated (the caller falls back). */
void sn_qgemm_amx(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
                  void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
bool sn_qgemm_ind_amx(const uint8_t *const *rows, const int64_t *segoff, int64_t nseg, int64_t seglen,
                      const uint8_t *Bp, const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1,
                      int64_t n0, int64_t n1);
/* The VNNI file's vector epilogue of one row segment (the contract of sn_qgemm_epilogue_ref, bit for
 * bit), for the AMX kernel. */
void sn_qgemm_epilogue_avx512vnni(const sn_qgemm_epi *e, int64_t m, int64_t n0, int64_t n, const int32_t *acc, void *C,
                                  int64_t ldc);
/* Name of the kernel sn_qgemm uses now (for the profiler and tests). */
const char *sn_qgemm_kernel_name(void);

/* Implementations (same contract). */
void sn_qgemm_ref(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp, const sn_qgemm_epi *e,
                  void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void sn_qgemm_avx512vnni(bool a_signed, int64_t K, const uint8_t *A, int64_t lda, const uint8_t *Bp,
                         const sn_qgemm_epi *e, void *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

/* Pack 4 consecutive k rows of n (a multiple of 16) columns, each byte XORed with flip, into one
 * k-quad of the packed layout: dst is the quad's place in the first panel, panel_stride the bytes
 * between panels (Kp * 16). Reads n bytes of every row. */
void sn_qgemm_pack4(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int64_t n, uint8_t flip,
                    uint8_t *dst, int64_t panel_stride);
/* 16 rows (four k-quads) as rows of a row-major A: dst[p * lda + r] = rows[r][p] ^ flip for p < n (a
 * multiple of 16), r < 16; 16-byte stores. */
void sn_qgemm_pack16_rows(const uint8_t *const rows[16], int64_t n, uint8_t flip, uint8_t *dst, int64_t lda);
/* dst[c * ldd + r] = src[r * lds + c] ^ flip for r < rows, c < cols: a byte matrix transposed, 16 x 16
 * blocks through sn_qgemm_pack16_rows, the edges byte by byte. */
void sn_qgemm_transpose(const uint8_t *src, int64_t rows, int64_t cols, int64_t lds, uint8_t flip, uint8_t *dst,
                        int64_t ldd);
void sn_qgemm_pack16_rows_avx512vnni(const uint8_t *const rows[16], int64_t n, uint8_t flip, uint8_t *dst,
                                     int64_t lda);
void sn_qgemm_pack4_avx512vnni(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int64_t n,
                               uint8_t flip, uint8_t *dst, int64_t panel_stride);

/* The epilogue of one row segment: acc[0..n) are the raw sums of columns [n0, n0 + n) of row m
 * (shared by the reference and the SIMD kernels' tails; the SIMD epilogues match it bit for bit). */
void sn_qgemm_epilogue_ref(const sn_qgemm_epi *e, int64_t m, int64_t n0, int64_t n, const int32_t *acc, void *C,
                           int64_t ldc);

/* Row sums of an M x K 8-bit matrix (signed or not), as the zero-point compensation needs. */
void sn_qgemm_row_sums(const uint8_t *A, int64_t lda, int64_t M, int64_t K, bool a_signed, int32_t *out);

#endif
