/* libFuzzer target for the ONNX reader: the input is loaded as a model (and read as a value file);
 * when the model loads, a full session is also created from it through the public API (unless
 * SINTER_FUZZ_READER_ONLY is set in the environment, to focus on the reader). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "sinter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sn_tensor *t = NULL;
  char *name = NULL;
  sn_error *e = sn_onnx_read_value_bytes(data, size, -1, &t, &name);
  sn_error_free(e);
  sn_tensor_free(t);
  sn_free(name);

  sn_model *m = NULL;
  e = sn_onnx_load_bytes(data, size, NULL, &m);
  if (e) {
    sn_error_free(e);
    return 0;
  }
  sn_model_free(m);

  static int reader_only = -1;
  if (reader_only < 0) reader_only = getenv("SINTER_FUZZ_READER_ONLY") != NULL;
  if (reader_only) return 0;
  sinter_options *opts = NULL;
  sinter_status *st = sinter_options_create(&opts);
  if (!st) st = sinter_options_set_threads(opts, 1);
  sinter_status_free(st);
  sinter_session *s = NULL;
  st = sinter_session_create_from_bytes(data, size, opts, &s);
  sinter_status_free(st);
  sinter_session_free(s);
  sinter_options_free(opts);
  return 0;
}
