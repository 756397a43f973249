/* Portable im2col / col2im over any number of spatial dims: rows walk segments of the innermost
 * output dim, computing the in-bounds range once per segment so the inner copy is a plain
 * (vectorizable) strided loop. */
#include "kernels/ref/im2col_ref.h"

#include <stdbool.h>
#include <string.h>

/* In-bounds output range [*lo, *hi) of the last dim for tap offset off = k*dil - pad. */
static inline void valid_range(int64_t in, int64_t s, int64_t off, int64_t *lo, int64_t *hi) {
  *lo = off >= 0 ? 0 : (-off + s - 1) / s;
  *hi = in - 1 - off >= 0 ? (in - 1 - off) / s + 1 : 0;
}

#define DEFINE_IM2COL(SFX, T)                                                                              \
  void sn_im2col_##SFX(const sn_conv_geom *g, int64_t C, const T *x, int64_t p0, int64_t p1, T *col) {     \
    const int nd = g->nd, L = nd - 1;                                                                      \
    const int64_t K = sn_geom_k_size(g), insz = sn_geom_in_size(g), width = p1 - p0;                       \
    const int64_t s = g->stride[L], inl = g->in[L], outl = g->out[L];                                      \
    int64_t kk[SN_MAX_RANK], o[SN_MAX_RANK];                                                               \
    for (int64_t c = 0; c < C; c++) {                                                                      \
      const T *xc = x + c * insz;                                                                          \
      for (int d = 0; d < nd; d++) kk[d] = 0;                                                              \
      for (int64_t t = 0; t < K; t++) {                                                                    \
        T *dst = col + (c * K + t) * width;                                                                \
        int64_t off = kk[L] * g->dil[L] - g->pad[L], lo, hi;                                               \
        valid_range(inl, s, off, &lo, &hi);                                                                \
        for (int64_t p = p0; p < p1;) {                                                                    \
          int64_t q = p;                                                                                   \
          for (int d = L; d >= 0; d--) {                                                                   \
            o[d] = q % g->out[d];                                                                          \
            q /= g->out[d];                                                                                \
          }                                                                                                \
          int64_t a = o[L], b = outl - a < p1 - p ? outl : a + (p1 - p);                                    \
          T *dp = dst + (p - p0); /* dp[ow - a] for ow in [a, b) */                                        \
          int64_t base = 0;                                                                                \
          bool ok = true;                                                                                  \
          for (int d = 0; d < L; d++) {                                                                    \
            int64_t i = o[d] * g->stride[d] - g->pad[d] + kk[d] * g->dil[d];                               \
            if (i < 0 || i >= g->in[d]) {                                                                  \
              ok = false;                                                                                  \
              break;                                                                                       \
            }                                                                                              \
            base = base * g->in[d] + i;                                                                    \
          }                                                                                                \
          if (!ok) {                                                                                       \
            for (int64_t w = a; w < b; w++) dp[w - a] = 0;                                                     \
          } else {                                                                                         \
            const T *xr = xc + base * inl;                                                           \
            int64_t l = lo > a ? lo : a, h = hi < b ? hi : b;                                              \
            if (l > h) l = h;                                                                              \
            for (int64_t w = a; w < l; w++) dp[w - a] = 0;                                                     \
            if (s == 1) {                                                                                  \
              if (h > l) memcpy(dp + (l - a), xr + (l + off), sizeof(T) * (size_t)(h - l));                              \
            } else {                                                                                       \
              for (int64_t w = l; w < h; w++) dp[w - a] = xr[w * s + off];                                           \
            }                                                                                              \
            for (int64_t w = h < a ? a : h; w < b; w++) dp[w - a] = 0;                                         \
          }                                                                                                \
          p += b - a;                                                                                      \
        }                                                                                                  \
        for (int d = L; d >= 0; d--) { /* next tap */                                                      \
          if (++kk[d] < g->k[d]) break;                                                                    \
          kk[d] = 0;                                                                                       \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
  }                                                                                                        \
  void sn_col2im_##SFX(const sn_conv_geom *g, int64_t C, const T *col, int64_t p0, int64_t p1, T *y) {     \
    const int nd = g->nd, L = nd - 1;                                                                      \
    const int64_t K = sn_geom_k_size(g), insz = sn_geom_in_size(g), width = p1 - p0;                       \
    const int64_t s = g->stride[L], inl = g->in[L], outl = g->out[L];                                      \
    int64_t kk[SN_MAX_RANK], o[SN_MAX_RANK];                                                               \
    for (int64_t c = 0; c < C; c++) {                                                                      \
      T *yc = y + c * insz;                                                                                \
      for (int d = 0; d < nd; d++) kk[d] = 0;                                                              \
      for (int64_t t = 0; t < K; t++) {                                                                    \
        const T *src = col + (c * K + t) * width;                                                          \
        int64_t off = kk[L] * g->dil[L] - g->pad[L], lo, hi;                                               \
        valid_range(inl, s, off, &lo, &hi);                                                                \
        for (int64_t p = p0; p < p1;) {                                                                    \
          int64_t q = p;                                                                                   \
          for (int d = L; d >= 0; d--) {                                                                   \
            o[d] = q % g->out[d];                                                                          \
            q /= g->out[d];                                                                                \
          }                                                                                                \
          int64_t a = o[L], b = outl - a < p1 - p ? outl : a + (p1 - p);                                    \
          const T *sp = src + (p - p0);                                                                \
          int64_t base = 0;                                                                                \
          bool ok = true;                                                                                  \
          for (int d = 0; d < L; d++) {                                                                    \
            int64_t i = o[d] * g->stride[d] - g->pad[d] + kk[d] * g->dil[d];                               \
            if (i < 0 || i >= g->in[d]) {                                                                  \
              ok = false;                                                                                  \
              break;                                                                                       \
            }                                                                                              \
            base = base * g->in[d] + i;                                                                    \
          }                                                                                                \
          if (ok) {                                                                                        \
            T *yr = yc + base * inl;                                                                 \
            int64_t l = lo > a ? lo : a, h = hi < b ? hi : b;                                              \
            for (int64_t w = l; w < h; w++) yr[w * s + off] += sp[w - a];                                            \
          }                                                                                                \
          p += b - a;                                                                                      \
        }                                                                                                  \
        for (int d = L; d >= 0; d--) {                                                                     \
          if (++kk[d] < g->k[d]) break;                                                                    \
          kk[d] = 0;                                                                                       \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
  }

DEFINE_IM2COL(f32, float)
DEFINE_IM2COL(f64, double)
DEFINE_IM2COL(i32, int32_t)
