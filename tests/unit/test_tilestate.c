/* sinter_run and session creation leave the calling thread's AMX tile configuration as they found it
 * (runtime/cpu.h, sn_tile_state): none stays none, another library's stays loaded. Without that, ONNX
 * Runtime's INT8 GEMM, which remembers per thread that its configuration is loaded, faulted (SIGILL)
 * on the next tile instruction after a Sinter run on the same thread. The digits model in bf16 on one
 * thread runs its Gemm on AMX-BF16 tiles on the caller's thread. Where Linux grants no AMX tile data
 * there is no tile state to keep: the test says so and checks only the outputs. */
#include <math.h>
#include <string.h>

#include "sinter.h"
#include "check.h"
#include "kernels/x86/amx_tiles.h"
#include "runtime/cpu.h"

#define MODEL SINTER_SOURCE_DIR "/models/digits/digits.onnx"

static sinter_session *open_session(const char *precision) {
  sinter_options *o;
  sinter_session *s = NULL;
  if (sinter_options_create(&o)) return NULL;
  sinter_status *st = sinter_options_set_threads(o, 1);
  if (!st) st = sinter_options_set_precision(o, precision);
  if (!st) st = sinter_session_create(MODEL, o, &s);
  if (st) {
    fprintf(stderr, "%s\n", sinter_status_message(st));
    sinter_status_free(st);
  }
  sinter_options_free(o);
  return s;
}

/* logits of 64 images (the same seeded pixels every call) */
static bool run64(sinter_session *s, float *logits) {
  static float img[64 * 64];
  for (int i = 0; i < 64 * 64; i++) img[i] = (float)((i * 37) % 17) / 16.0f;
  const int64_t dims[4] = {64, 1, 8, 8};
  sinter_tensor *in = NULL, *out = NULL;
  if (sinter_tensor_wrap(SINTER_FLOAT, dims, 4, img, sizeof img, &in)) return false;
  const char *name = "image";
  sinter_status *st = sinter_run(s, &name, (const sinter_tensor *const *)&in, 1, NULL, &out, 1);
  bool ok = !st && sinter_tensor_count(out) == 640;
  if (ok) memcpy(logits, sinter_tensor_data(out), sizeof(float) * 640);
  sinter_status_free(st);
  sinter_tensor_free(in);
  sinter_tensor_free(out);
  return ok;
}

int main(void) {
  sinter_session *f32 = open_session("fp32"), *bf = open_session("bf16");
  CHECK(f32 && bf);
  if (!f32 || !bf) return check_report("test_tilestate");
  static float want[640], got[640];
  CHECK(run64(f32, want));
  const bool amx = sn_cpu_has_amx_bf16();
  if (!amx) printf("no AMX-BF16 tiles here (CPU, Linux or SINTER_ISA): only the outputs are checked\n");
  for (int round = 0; round < 3 && amx; round++) {
    /* round 0: the thread has no configuration; 1: another library's, loaded; 2: none again after a
     * release (what the first run must have left) */
    sn_amx_cfg mine, after;
    memset(&mine, 0, sizeof mine);
    if (round == 1) {
      mine.palette = 1;
      mine.rows[0] = 3, mine.colsb[0] = 12; /* a shape no Sinter kernel uses */
      mine.rows[5] = 16, mine.colsb[5] = 64;
      sn_amx_restore_config(&mine); /* (loads it: it differs from the thread's) */
    }
    sn_amx_store_config(&after);
    CHECK(memcmp(&after, &mine, sizeof mine) == 0, "round %d: the configuration set up for the test", round);
    CHECK(run64(bf, got));
    sn_amx_store_config(&after);
    CHECK(memcmp(&after, &mine, sizeof mine) == 0, "round %d: after sinter_run, palette %d rows[0] %d (was %d, %d)",
          round, after.palette, after.rows[0], mine.palette, mine.rows[0]);
    /* session creation too */
    sinter_session *again = open_session("bf16");
    CHECK(again != NULL);
    sinter_session_free(again);
    sn_amx_store_config(&after);
    CHECK(memcmp(&after, &mine, sizeof mine) == 0, "round %d: after sinter_session_create", round);
    if (round == 1) {
      sn_amx_cfg none;
      memset(&none, 0, sizeof none);
      sn_amx_restore_config(&none); /* (releases the tiles) */
    }
  }
  CHECK(run64(bf, got));
  double worst = 0, top = 0;
  for (int i = 0; i < 640; i++) {
    worst = fmax(worst, fabs((double)got[i] - want[i]));
    top = fmax(top, fabs((double)want[i]));
  }
  /* (bf16 operands carry 8 bits: about 0.4% a product, over 5 layers; measured 1.2%) */
  CHECK(worst <= 0.03 * top, "bf16 logits within 3%% of float32's largest: %g of %g", worst, top);
  sinter_session_free(f32);
  sinter_session_free(bf);
  return check_report("test_tilestate");
}
