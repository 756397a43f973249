/* Grouped 2-D convolution: the portable definition and the per-call dispatch (see gconv.h). */
#include "kernels/gconv.h"

#include "runtime/cpu.h"
#include "runtime/prof.h"

bool sn_gconv_supported(const sn_gconv_geom *g) {
  if (g->G < 2 || g->C % g->G || g->M % g->G) return false;
  const int64_t Cg = g->C / g->G, Mg = g->M / g->G;
  return Cg >= 2 && Cg <= 64 && Mg >= 2 && Mg <= 64 && g->OH > 0 && g->OW > 0 && g->sw >= 1 && g->sh >= 1 &&
         sn_cpu_isa() >= SN_ISA_AVX2;
}

size_t sn_gconv_scratch_floats(const sn_gconv_geom *g) {
  return (size_t)(g->C / g->G * sn_gconv_rows(g) * g->sw * sn_gconv_row(g) + 16);
}

void sn_gconv_f32_ref(const sn_gconv_geom *g, const float *x, const float *w, const float *b, float *y, int64_t t0,
                      int64_t t1) {
  const int64_t Cg = g->C / g->G, Mg = g->M / g->G;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / g->G, grp = t % g->G;
    for (int64_t m = grp * Mg; m < (grp + 1) * Mg; m++)
      for (int64_t oy = 0; oy < g->OH; oy++)
        for (int64_t ox = 0; ox < g->OW; ox++) {
          float acc = b ? b[m] : 0.0f;
          for (int64_t c = 0; c < Cg; c++)
            for (int64_t ky = 0; ky < g->kh; ky++) {
              const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
              if (iy < 0 || iy >= g->H) continue;
              for (int64_t kx = 0; kx < g->kw; kx++) {
                const int64_t ix = ox * g->sw - g->pw + kx * g->dw;
                if (ix < 0 || ix >= g->W) continue;
                acc += w[((m * Cg + c) * g->kh + ky) * g->kw + kx] *
                       x[((n * g->C + grp * Cg + c) * g->H + iy) * g->W + ix];
              }
            }
          y[((n * g->M + m) * g->OH + oy) * g->OW + ox] = acc;
        }
  }
}

void sn_gconv_f32(const sn_gconv_geom *g, const float *x, const float *w, const float *b, float *y, int64_t t0,
                  int64_t t1, float *scratch) {
  SN_PROF_KERNEL(sn_gconv_f32_name());
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_gconv_f32_avx512(g, x, w, b, y, t0, t1, scratch);
  else if (sn_cpu_isa() >= SN_ISA_AVX2)
    sn_gconv_f32_avx2(g, x, w, b, y, t0, t1, scratch);
  else
    sn_gconv_f32_ref(g, x, w, b, y, t0, t1);
}

const char *sn_gconv_f32_name(void) {
  sn_isa isa = sn_cpu_isa();
  return isa >= SN_ISA_AVX512 ? "f32_gconv2d_avx512" : isa >= SN_ISA_AVX2 ? "f32_gconv2d_avx2" : "f32_gconv2d_ref";
}
