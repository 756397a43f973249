/* The public C API (include/sinter.h): argument checks and name lookups over the session internals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "runtime/session.h"

#define CHECK_ARG(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond)) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, __VA_ARGS__);                       \
  } while (0)

/* ---- options ---- */

sinter_status *sinter_options_create(sinter_options **out) {
  CHECK_ARG(out, "sinter_options_create: out is NULL");
  *out = sn_calloc(1, sizeof(sinter_options));
  if (!*out) return SN_ERR_OOM();
  (*out)->threads = 0;
  (*out)->opt_level = 3;
  (*out)->isa = 3;
  (*out)->precision = -1;
  (*out)->spin_us = -1;
  return NULL;
}

void sinter_options_free(sinter_options *opts) { sn_free(opts); }

sinter_status *sinter_options_set_threads(sinter_options *opts, int n) {
  CHECK_ARG(opts, "sinter_options_set_threads: options is NULL");
  CHECK_ARG(n >= 0 && n <= 1024, "thread count %d is out of range (0 = one per core, up to 1024)", n);
  opts->threads = n;
  return NULL;
}

sinter_status *sinter_options_set_opt_level(sinter_options *opts, int level) {
  CHECK_ARG(opts, "sinter_options_set_opt_level: options is NULL");
  CHECK_ARG(level >= 0 && level <= 3, "optimization level %d is out of range 0..3", level);
  opts->opt_level = level;
  return NULL;
}

sinter_status *sinter_options_set_precision(sinter_options *opts, const char *precision) {
  CHECK_ARG(opts, "sinter_options_set_precision: options is NULL");
  int v = sn_precision_parse(precision);
  CHECK_ARG(v >= -1, "unknown precision '%s' (expected fp32, bf16 or auto)", precision ? precision : "(null)");
  opts->precision = v;
  return NULL;
}

sinter_status *sinter_options_set_spin(sinter_options *opts, int microseconds) {
  CHECK_ARG(opts, "sinter_options_set_spin: options is NULL");
  CHECK_ARG(microseconds >= -1 && microseconds <= 1000000,
            "spin time %d us is out of range (-1 = default, 0 to 1000000 us)", microseconds);
  opts->spin_us = microseconds;
  return NULL;
}

sinter_status *sinter_options_set_batch_split(sinter_options *opts, const char *mode) {
  CHECK_ARG(opts, "sinter_options_set_batch_split: options is NULL");
  int v = sn_split_mode_parse(mode);
  CHECK_ARG(v >= 0, "unknown batch split mode '%s' (expected auto, on or off)", mode ? mode : "(null)");
  opts->batch_split = v;
  return NULL;
}

sinter_status *sinter_options_set_isa(sinter_options *opts, const char *isa) {
  CHECK_ARG(opts, "sinter_options_set_isa: options is NULL");
  int v = sn_isa_parse(isa);
  CHECK_ARG(v >= 0, "unknown ISA '%s' (expected scalar, avx2, avx512, amx or auto)", isa ? isa : "(null)");
  opts->isa = v;
  return NULL;
}

/* ---- tensors ---- */

static sinter_status *check_shape(sinter_dtype dt, const int64_t *dims, int rank) {
  CHECK_ARG(sn_dtype_valid(dt), "invalid element type %d", (int)dt);
  CHECK_ARG(rank >= 0 && rank <= SN_MAX_RANK, "rank %d is out of range 0..%d", rank, SN_MAX_RANK);
  CHECK_ARG(rank == 0 || dims, "dims is NULL for rank %d", rank);
  for (int i = 0; i < rank; i++) CHECK_ARG(dims[i] >= 0, "dimension %d is negative (%lld)", i, (long long)dims[i]);
  return NULL;
}

sinter_status *sinter_tensor_wrap(sinter_dtype dt, const int64_t *dims, int rank, void *data, size_t nbytes,
                                  sinter_tensor **out) {
  CHECK_ARG(out, "sinter_tensor_wrap: out is NULL");
  *out = NULL;
  SN_TRY(check_shape(dt, dims, rank));
  sn_tensor *t;
  SN_TRY(sn_tensor_new_view(dt, rank, dims, data, &t));
  if (t->nbytes > nbytes || (t->nbytes && !data)) {
    sn_error *e = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "buffer of %zu bytes is too small for %s tensor of %zu bytes",
                            nbytes, sn_dtype_name(dt), t->nbytes);
    sn_tensor_free(t);
    return e;
  }
  *out = t;
  return NULL;
}

sinter_status *sinter_tensor_create(sinter_dtype dt, const int64_t *dims, int rank, sinter_tensor **out) {
  CHECK_ARG(out, "sinter_tensor_create: out is NULL");
  *out = NULL;
  SN_TRY(check_shape(dt, dims, rank));
  return sn_tensor_new(dt, rank, dims, out);
}

void sinter_tensor_free(sinter_tensor *t) { sn_tensor_free(t); }
sinter_dtype sinter_tensor_dtype(const sinter_tensor *t) { return t ? t->dtype : SINTER_UNDEFINED; }
int sinter_tensor_rank(const sinter_tensor *t) { return t ? t->rank : 0; }
const int64_t *sinter_tensor_dims(const sinter_tensor *t) { return t ? t->dims : NULL; }
int64_t sinter_tensor_count(const sinter_tensor *t) { return t ? t->count : 0; }
size_t sinter_tensor_nbytes(const sinter_tensor *t) { return t ? t->nbytes : 0; }
void *sinter_tensor_data(sinter_tensor *t) { return t ? t->data : NULL; }

/* ---- sessions ---- */

/* Session creation runs kernels on the caller's thread too (constant folding, prepacking, tuning): its
 * AMX tile configuration is put back after (runtime/cpu.h, sn_tile_state), as sinter_run does. */
static sinter_status *create_model(sn_model *m, const sinter_options *opts, sinter_session **out) {
  sn_tile_state tiles;
  sn_tile_state_save(&tiles);
  sinter_status *e = sn_session_create_model(m, opts, out);
  sn_tile_state_restore(&tiles);
  return e;
}

sinter_status *sinter_session_create(const char *model_path, const sinter_options *opts, sinter_session **out) {
  CHECK_ARG(out, "sinter_session_create: out is NULL");
  *out = NULL;
  CHECK_ARG(model_path, "sinter_session_create: model path is NULL");
  sn_model *m;
  SN_TRY(sn_onnx_load_file(model_path, &m));
  return create_model(m, opts, out);
}

sinter_status *sinter_session_create_from_bytes(const void *data, size_t len, const sinter_options *opts,
                                                sinter_session **out) {
  CHECK_ARG(out, "sinter_session_create_from_bytes: out is NULL");
  *out = NULL;
  CHECK_ARG(data || len == 0, "sinter_session_create_from_bytes: data is NULL");
  sn_model *m;
  SN_TRY(sn_onnx_load_bytes(data, len, ".", &m));
  return create_model(m, opts, out);
}

size_t sinter_session_input_count(const sinter_session *s) { return s ? (size_t)s->n_in : 0; }
size_t sinter_session_output_count(const sinter_session *s) { return s ? (size_t)s->n_out : 0; }

sinter_status *sinter_session_input_info(const sinter_session *s, size_t i, sinter_value_info *out) {
  CHECK_ARG(s && out, "sinter_session_input_info: NULL argument");
  CHECK_ARG(i < (size_t)s->n_in, "input index %zu is out of range (the model has %d inputs)", i, s->n_in);
  *out = s->in[i].info;
  return NULL;
}

sinter_status *sinter_session_output_info(const sinter_session *s, size_t i, sinter_value_info *out) {
  CHECK_ARG(s && out, "sinter_session_output_info: NULL argument");
  CHECK_ARG(i < (size_t)s->n_out, "output index %zu is out of range (the model has %d outputs)", i, s->n_out);
  *out = s->out[i].info;
  return NULL;
}

static sinter_status *unknown_name(const sinter_session *s, const char *what, const char *name, const sn_io_info *io,
                                   int n) {
  char list[1024];
  size_t k = 0;
  list[0] = 0;
  for (int i = 0; i < n && k < sizeof list - 8; i++) {
    size_t len = strlen(io[i].info.name);
    if (k + len + 4 >= sizeof list) break;
    k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", i ? ", " : "", io[i].info.name);
  }
  return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: the model has no %s named '%s' (it has %s)",
                   s->model->path ? s->model->path : "<memory>", what, name ? name : "(null)", list);
}

sinter_status *sinter_run(sinter_session *s, const char *const *input_names, const sinter_tensor *const *inputs,
                          size_t n_inputs, const char *const *output_names, sinter_tensor **outputs,
                          size_t n_outputs) {
  CHECK_ARG(s, "sinter_run: session is NULL");
  CHECK_ARG(n_inputs == 0 || (input_names && inputs), "sinter_run: input names or tensors are NULL");
  CHECK_ARG(n_outputs == 0 || outputs, "sinter_run: outputs is NULL");
  CHECK_ARG(output_names || n_outputs == (size_t)s->n_out,
            "sinter_run: without output names, n_outputs must equal the output count %d", s->n_out);
  CHECK_ARG(n_inputs <= 4096 && n_outputs <= 4096, "sinter_run: too many inputs or outputs");
  int in_small[64], out_small[64];
  int *in_ids = n_inputs <= 64 ? in_small : sn_malloc(sizeof(int) * n_inputs);
  int *out_ids = n_outputs <= 64 ? out_small : sn_malloc(sizeof(int) * n_outputs);
  sn_error *e = NULL;
  if (!in_ids || !out_ids) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (size_t k = 0; k < n_inputs && !e; k++) {
    int i = 0;
    while (i < s->n_in && (!input_names[k] || strcmp(s->in[i].info.name, input_names[k]))) i++;
    if (i == s->n_in)
      e = unknown_name(s, "input", input_names[k], s->in, s->n_in);
    else
      in_ids[k] = s->in[i].value;
  }
  for (size_t k = 0; k < n_outputs && !e; k++) {
    if (!output_names) {
      out_ids[k] = s->out[k].value;
      continue;
    }
    int i = 0;
    while (i < s->n_out && (!output_names[k] || strcmp(s->out[i].info.name, output_names[k]))) i++;
    if (i == s->n_out)
      e = unknown_name(s, "output", output_names[k], s->out, s->n_out);
    else
      out_ids[k] = s->out[i].value;
  }
  if (!e) {
    sn_tile_state tiles;
    sn_tile_state_save(&tiles);
    e = sn_session_run(s, (int)n_inputs, in_ids, inputs, (int)n_outputs, out_ids, outputs);
    sn_tile_state_restore(&tiles);
  }
done:
  if (in_ids != in_small) sn_free(in_ids);
  if (out_ids != out_small) sn_free(out_ids);
  return e;
}
