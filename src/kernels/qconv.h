/* Helpers of the integer convolution (ops/qlinear.c): one row of the padded, stride-phase-split copy
 * of X that the GEMM reads its im2col rows from. */
#ifndef SN_QCONV_H
#define SN_QCONV_H

#include <stdint.h>

/* For each of `rows` rows r (source row src + r * ss, destination row dst + r * ds):
 * dst[j] = src[j * sw + off] ^ flip where 0 <= j * sw + off < W, else pad, for j in [0, n); sw >= 1.
 * Reads no byte of a source row outside [0, W). AVX-512 for sw 1 and 2 where the ISA allows, else
 * portable. (Many rows per call: a 1x1 stride-2 layer's rows are 7 to 28 bytes.) */
void sn_qconv_pad_rows(const uint8_t *src, int64_t ss, int64_t rows, int64_t W, int64_t off, int64_t sw, uint8_t flip,
                       uint8_t pad, uint8_t *dst, int64_t ds, int64_t n);
void sn_qconv_pad_rows_ref(const uint8_t *src, int64_t ss, int64_t rows, int64_t W, int64_t off, int64_t sw,
                           uint8_t flip, uint8_t pad, uint8_t *dst, int64_t ds, int64_t n);
void sn_qconv_pad_rows_avx512(const uint8_t *src, int64_t ss, int64_t rows, int64_t W, int64_t off, int64_t sw,
                              uint8_t flip, uint8_t pad, uint8_t *dst, int64_t ds, int64_t n);

/* One im2col row of a small map: dst[i] = idx[i] < 0 ? pad : src[idx[i]] for i in [0, n), n <= 256.
 * idx8 (or NULL): the same indices as bytes (every one < 256 and < bytes), with valid (n / 64 + 1
 * words) marking the entries that are not padding; then, with AVX512-VBMI, vpermi2b picks them out of
 * the first `bytes` bytes of src (read with masked loads, so bytes may end anywhere). */
void sn_qconv_gather(const uint8_t *src, int64_t bytes, const int32_t *idx, const uint8_t *idx8, const uint64_t *valid,
                     int64_t n, uint8_t pad, uint8_t *dst);
void sn_qconv_gather_avx512vbmi(const uint8_t *src, int64_t bytes, const uint8_t *idx8, const uint64_t *valid, int64_t n,
                                uint8_t pad, uint8_t *dst);

#endif
