/* INT8 depthwise convolution dispatch (see qdwconv.h). */
#include "kernels/qdwconv.h"

#include <string.h>

#include "runtime/cpu.h"
#include "runtime/prof.h"

/* Measured on Zen 4 (MobileNetV2 / EfficientNet-B0 shapes, 1 thread): channel blocks win from 28
 * output columns down (2-3x at 7x7 and 14x14), the plane kernels at 56 and 112 columns. A single
 * channel fills a block with 15 idle lanes: planes then. */
bool sn_qdwconv_use_cm(const sn_qdw *p, int64_t nch) { return sn_qdwconv_pairs_cm(p, nch) || sn_qdwconv_use_cmq(p, nch); }

/* The quad kernel against the VNNI plane and pair kernels on this machine (Sapphire/Emerald Rapids,
 * MobileNetV2 and EfficientNet-B0 shapes, 1 thread): faster at every plane size, 7x7 to 112x112,
 * strides 1 and 2. Fewer than 8 channels leave most lanes of a block idle: planes then. */
bool sn_qdwconv_use_cmq(const sn_qdw *p, int64_t nch) {
  return nch >= 8 && p->w_s8 && p->dw == 1 && sn_cpu_has_vnni() && sn_cpu_has_vbmi();
}

size_t sn_qdwconv_ws_size(const sn_qdw *p) {
  size_t a = sn_qdwconv_ref_ws_size(p), b = sn_qdwconv_avx512_ws_size(p), v = sn_qdwconv_avx512vnni_ws_size(p);
  size_t q = sn_qdwconv_cmq_ws_size(p);
  a = a > b ? a : b;
  a = a > q ? a : q;
  return a > v ? a : v; /* any kernel may run (the ISA cap can differ between threads) */
}

void sn_qdwconv(const sn_qdw *p, const uint8_t *x, void *y, int64_t c0, int64_t c1, void *ws) {
  if (c1 <= c0 || p->OH <= 0 || p->OW <= 0) return;
  if (sn_qdwconv_use_cmq(p, c1 - c0)) {
    SN_PROF_KERNEL("i8_dwconv_quads_avx512vbmi");
    sn_qdwconv_cmq_avx512vbmi(p, x, y, c0, c1, ws);
    return;
  }
  SN_PROF_KERNEL(sn_qdwconv_kernel_name());
  if (sn_cpu_has_vnni())
    sn_qdwconv_avx512vnni(p, x, y, c0, c1, ws);
  else if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_qdwconv_avx512(p, x, y, c0, c1, ws);
  else
    sn_qdwconv_ref(p, x, y, c0, c1, ws);
}

const char *sn_qdwconv_kernel_name(void) {
  return sn_cpu_has_vnni()                 ? "i8_dwconv_16w_avx512vnni"
         : sn_cpu_isa() >= SN_ISA_AVX512 ? "i8_dwconv_16w_avx512"
                                         : "i8_dwconv_ref";
}

size_t sn_qdwconv_cm_pack_size(int64_t M, int64_t KH, int64_t KW) {
  return sizeof(int32_t) * 16 * (size_t)((M + 15) / 16) * (size_t)(KH * ((KW + 1) / 2));
}

void sn_qdwconv_cm_pack(const int32_t *w, int64_t M, int64_t KH, int64_t KW, int32_t *dst) {
  int64_t KP = (KW + 1) / 2, np = KH * KP, K = KH * KW;
  memset(dst, 0, sn_qdwconv_cm_pack_size(M, KH, KW));
  for (int64_t c = 0; c < M; c++)
    for (int64_t kh = 0; kh < KH; kh++)
      for (int64_t kp = 0; kp < KP; kp++) {
        const int32_t *t = w + c * K + kh * KW + 2 * kp;
        uint32_t lo = (uint32_t)t[0], hi = 2 * kp + 1 < KW ? (uint32_t)t[1] : 0;
        dst[((c / 16) * np + kh * KP + kp) * 16 + c % 16] = (int32_t)((lo & 0xffffu) | hi << 16);
      }
}

size_t sn_qdwconv_cmq_pack_size(int64_t M, int64_t KH, int64_t KW) {
  return sizeof(int32_t) * 16 * (size_t)((M + 15) / 16) * (size_t)(KH * ((KW + 3) / 4) + 1);
}

void sn_qdwconv_cmq_pack(const int32_t *w, int64_t M, int64_t KH, int64_t KW, int32_t *dst) {
  int64_t G = (KW + 3) / 4, nq = KH * G, K = KH * KW;
  memset(dst, 0, sn_qdwconv_cmq_pack_size(M, KH, KW));
  for (int64_t c = 0; c < M; c++) {
    int32_t *blk = dst + (c / 16) * (nq + 1) * 16;
    uint32_t sum = 0;
    for (int64_t kh = 0; kh < KH; kh++)
      for (int64_t g = 0; g < G; g++) {
        uint32_t v = 0;
        for (int64_t t = 0; t < 4 && 4 * g + t < KW; t++) {
          int32_t wt = w[c * K + kh * KW + 4 * g + t];
          v |= (uint32_t)(uint8_t)(int8_t)wt << (8 * t);
          sum += (uint32_t)wt;
        }
        blk[(kh * G + g) * 16 + c % 16] = (int32_t)v;
      }
    blk[nq * 16 + c % 16] = (int32_t)sum;
  }
}
