/* INT8 depthwise convolution (one input channel per group, any depth multiplier), NCHW, 1-D or 2-D,
 * any kernel size, stride, dilation and padding, with the requantization epilogue of qgemm.h.
 *
 * Per output channel c (input channel c / mult), int32 sums that wrap like the GEMM's:
 *   acc[c, oh, ow] = sum_{kh,kw} (x[ih, iw] - zx) * w[c, kh, kw]        (taps in the padding skipped)
 * where w already holds the weight minus its zero point (int32, made by the caller), x is u8 or s8
 * and zx its zero point in the same type. Then the epilogue of sn_qgemm_epilogue_ref with row m = c
 * (e.row_off: int32 bias per channel or NULL; scale / fbias per tensor or per row; col arrays must be
 * NULL), over the output as a C x (OH * OW) matrix. The results are identical at every ISA level
 * (integer sums are exact, the float steps are the reference's): AVX512-VNNI (vpdpwssd, two taps
 * per instruction), AVX-512 (vpmulld), portable reference. Planes narrower than 32 output columns go
 * to the channel-minor kernels instead (x86/qdwconv_cm_simd.h: 16 channels per vector, blocks of
 * channels transposed in and out), chosen by sn_qdwconv_use_cm. */
#ifndef SN_QDWCONV_H
#define SN_QDWCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/qgemm.h"

typedef struct sn_qdw {
  int64_t H, W, OH, OW, KH, KW; /* 1-D: H = OH = KH = 1 */
  int64_t sh, sw, dh, dw, ph, pw; /* strides, dilations, leading pads (>= 0; trailing pads follow from OH, OW) */
  int64_t mult;                 /* output channels per input channel */
  bool x_signed;                /* x is s8, else u8 */
  int32_t zx;                   /* x zero point (-128..127 for s8, 0..255 for u8) */
  const int32_t *w;             /* C x KH x KW taps, weight minus its zero point */
  bool w_s8;                    /* every w in -128..127 (lets the VNNI kernel use u8 x s8 products) */
  /* optional: w's taps as the channel-minor kernels read them (sn_qdwconv_cm_pack, made once at load)
   * for channels [0, wcm_ch); NULL: each block of 16 channels gathers its own per call */
  const int32_t *wcm;
  int64_t wcm_ch;
  /* optional: w as the quad kernel reads it (sn_qdwconv_cmq_pack, made once at load) for channels
   * [0, wq_ch); NULL: each block of 16 channels packs its own per call */
  const int32_t *wq;
  int64_t wq_ch;
  sn_qgemm_epi e;
} sn_qdw;

/* Bytes of workspace one call needs (per worker; 64-byte aligned). */
size_t sn_qdwconv_ws_size(const sn_qdw *p);
/* Output channels [c0, c1) of one image: x the image's input planes (H x W bytes each), y its output
 * (C planes of OH x OW elements of e.out's type). Dispatches on sn_cpu_isa(). */
void sn_qdwconv(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws);
const char *sn_qdwconv_kernel_name(void);
/* Whether the SIMD kernels compute channels in blocks of 16 (channel-minor: the quad kernel below or
 * qdwconv_cm_simd.h) rather than plane by plane, for nch channels of this shape. */
bool sn_qdwconv_use_cm(const sn_qdw *p, int64_t nch);
/* Whether the pair kernels (AVX-512, AVX512-VNNI) take channel blocks rather than planes. */
static inline bool sn_qdwconv_pairs_cm(const sn_qdw *p, int64_t nch) { return p->OW < 32 && nch >= 8; }
/* Whether the channel-minor quad kernel (sn_qdwconv_cmq_avx512vbmi) runs this shape: every tap fits s8,
 * dilation 1 along the width, and the CPU (at this thread's cap) has AVX512-VBMI and VNNI. */
bool sn_qdwconv_use_cmq(const sn_qdw *p, int64_t nch);

/* w (M x KH x KW taps, as sn_qdw.w) in the channel-minor kernels' layout: per block b of 16 channels,
 * per tap pair j = kh * KP + kp (KP = (KW + 1) / 2), per lane l, the int32 holding channel 16b + l's
 * taps (kh, 2kp) in its low and (kh, 2kp + 1) in its high 16 bits (0 past KW; lanes past M all 0).
 * sn_qdwconv_cm_pack_size: its bytes. */
size_t sn_qdwconv_cm_pack_size(int64_t M, int64_t KH, int64_t KW);
void sn_qdwconv_cm_pack(const int32_t *w, int64_t M, int64_t KH, int64_t KW, int32_t *dst);

/* w in the quad kernel's layout: per block b of 16 channels, KH x G vectors (G = (KW + 3) / 4 groups of
 * four kernel columns), lane l holding channel 16b + l's taps (kh, 4g .. 4g + 3) as four s8 bytes (0
 * past KW), then one vector of the lanes' tap sums (int32); lanes past M all 0. The taps must fit s8. */
size_t sn_qdwconv_cmq_pack_size(int64_t M, int64_t KH, int64_t KW);
void sn_qdwconv_cmq_pack(const int32_t *w, int64_t M, int64_t KH, int64_t KW, int32_t *dst);

/* Implementations (same contract). */
size_t sn_qdwconv_ref_ws_size(const sn_qdw *p);
void sn_qdwconv_ref(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws);
size_t sn_qdwconv_avx512_ws_size(const sn_qdw *p);
void sn_qdwconv_avx512(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws);
size_t sn_qdwconv_avx512vnni_ws_size(const sn_qdw *p);
void sn_qdwconv_avx512vnni(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws);
/* The channel-minor kernels alone (any shape; the dispatchers above pick them by sn_qdwconv_use_cm). */
void sn_qdwconv_cm_avx512(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws);
void sn_qdwconv_cm_avx512vnni(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws);
/* The channel-minor quad kernel (AVX512-VBMI + VNNI; shapes sn_qdwconv_use_cmq allows, any channel
 * count): blocks of 16 channels transposed to channel-minor bytes (x flipped to u8, the padding its
 * zero point), and each output pixel's taps (kh, 4g .. 4g + 3) one vpermb of 64 bytes (four pixels x 16
 * channels into 16 lanes of four bytes) times the lanes' weights in one vpdpbusd; the zero point off
 * as one constant per channel (zx * the tap sum). */
size_t sn_qdwconv_cmq_ws_size(const sn_qdw *p);
void sn_qdwconv_cmq_avx512vbmi(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws);

#endif
