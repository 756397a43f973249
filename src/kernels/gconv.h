/* Grouped 2-D float32 convolution with few channels per group (NCHW; 2 <= Cg, Mg <= 64: RegNet's and
 * ResNeXt's group widths), as a direct vector kernel: per (image, group), the group's input rows go
 * once into a zero-padded copy split into stride phases (so every tap of a row of outputs is one
 * contiguous run), then each output row is computed for up to 8 output channels at a time from
 * register tiles of 16- (8-) float vectors, each weight broadcast from where ONNX has it. Per-group
 * GEMMs with 8 rows ran at 19-29 GFLOP/s. */
#ifndef SN_GCONV_H
#define SN_GCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sn_gconv_geom {
  int64_t C, M, G;        /* input and output channels, groups */
  int64_t H, W, OH, OW;   /* input and output sizes */
  int64_t kh, kw, sh, sw, dh, dw;
  int64_t ph, pw;         /* leading pads (the trailing ones follow from OH, OW) */
} sn_gconv_geom;

/* Whether sn_gconv_f32 takes g at this thread's ISA (AVX2 or AVX-512, channels per group in range).
 * (Groups of 32 channels on 7x7 maps run as fast as per-group GEMMs; narrower ones and wider maps
 * faster.) */
bool sn_gconv_supported(const sn_gconv_geom *g);
/* Floats of scratch one call needs (the padded phase-split input of a group). */
size_t sn_gconv_scratch_floats(const sn_gconv_geom *g);
/* Planes t in [t0, t1) of the N * G (image, group) planes: y[n, grp * Mg + m] = b[.] + conv, x and y
 * NCHW, w [M, Cg, kh, kw] as ONNX has it, b (or NULL) M floats. Single-threaded. */
void sn_gconv_f32(const sn_gconv_geom *g, const float *x, const float *w, const float *b, float *y, int64_t t0,
                  int64_t t1, float *scratch);
const char *sn_gconv_f32_name(void);

/* Per-ISA entry points (same contract), and the portable definition tests compare them with. */
void sn_gconv_f32_avx512(const sn_gconv_geom *g, const float *x, const float *w, const float *b, float *y, int64_t t0,
                         int64_t t1, float *scratch);
void sn_gconv_f32_avx2(const sn_gconv_geom *g, const float *x, const float *w, const float *b, float *y, int64_t t0,
                       int64_t t1, float *scratch);
void sn_gconv_f32_ref(const sn_gconv_geom *g, const float *x, const float *w, const float *b, float *y, int64_t t0,
                      int64_t t1);

/* the copy's row width per stride phase: the output width rounded up to a vector of 16, plus the taps'
 * reach (a row tile reads whole vectors) */
static inline int64_t sn_gconv_row(const sn_gconv_geom *g) {
  return (g->OW + 15) / 16 * 16 + ((g->kw - 1) * g->dw) / g->sw + 1;
}
static inline int64_t sn_gconv_rows(const sn_gconv_geom *g) { return (g->OH - 1) * g->sh + (g->kh - 1) * g->dh + 1; }

#endif
