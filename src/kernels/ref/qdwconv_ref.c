/* Portable INT8 depthwise convolution (see kernels/qdwconv.h): the truth the AVX-512 kernel is tested
 * against, and the kernel at SINTER_ISA=scalar/avx2. */
#include <string.h>

#include "kernels/qdwconv.h"

size_t sn_qdwconv_ref_ws_size(const sn_qdw *p) { return ((size_t)p->OW * sizeof(uint32_t) + 63) & ~(size_t)63; }

void sn_qdwconv_ref(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  uint32_t *acc = ws; /* one output row; wraps like int32 without undefined behaviour */
  int64_t K = p->KH * p->KW, plane = p->OH * p->OW;
  for (int64_t c = c0; c < c1; c++) {
    const uint8_t *xc = x + (c / p->mult) * p->H * p->W;
    const int32_t *wc = p->w + c * K;
    for (int64_t oh = 0; oh < p->OH; oh++) {
      for (int64_t ow = 0; ow < p->OW; ow++) {
        uint32_t s = 0;
        for (int64_t kh = 0; kh < p->KH; kh++) {
          int64_t ih = oh * p->sh - p->ph + kh * p->dh;
          if (ih < 0 || ih >= p->H) continue;
          for (int64_t kw = 0; kw < p->KW; kw++) {
            int64_t iw = ow * p->sw - p->pw + kw * p->dw;
            if (iw < 0 || iw >= p->W) continue;
            uint8_t b = xc[ih * p->W + iw];
            int32_t v = (p->x_signed ? (int32_t)(int8_t)b : (int32_t)b) - p->zx;
            s += (uint32_t)v * (uint32_t)wc[kh * p->KW + kw];
          }
        }
        acc[ow] = s;
      }
      sn_qgemm_epilogue_ref(&p->e, c, oh * p->OW, p->OW, (const int32_t *)acc, y, plane);
    }
  }
}
