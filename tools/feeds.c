/* Model inputs for the CLI (see feeds.h). */
#include "feeds.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "core/alloc.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "runtime/session.h"

const char sn_feed_usage[] =
    "  --input NAME=FILE.npy   feed input NAME from a .npy file (repeatable)\n"
    "  --dim NAME=V            size of symbolic dimension NAME in random inputs (default 1)\n"
    "  --batch N               size of a symbolic first dimension in random inputs\n"
    "  --seed S                seed of random inputs (default 0)\n"
    "  --range LO:HI           value range of random inputs (default [-1,1) for floats, 0..9 for ints)\n";

/* splitmix64: small, seedable, good enough for test inputs */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}


/* NAME=VALUE; the first '=' splits (file paths may contain '='), or the last when last_eq. */
static bool split_kv(const char *cmd, const char *arg, const char *opt, bool last_eq, sn_feed_kv *out) {
  const char *eq = last_eq ? strrchr(arg, '=') : strchr(arg, '=');
  if (!eq || eq == arg || !eq[1]) {
    sn_cli_usage_error(cmd, "%s expects %s, got '%s'", opt, last_eq ? "NAME=VALUE" : "NAME=FILE.npy", arg);
    return false;
  }
  char *name = sn_strndup(arg, (size_t)(eq - arg));
  if (!name) return false;
  out->name = name;
  out->value = eq + 1;
  out->used = 0;
  return true;
}

/* A random tensor for a model input, or an error naming what is missing. */
static sinter_status *random_input(const sinter_value_info *info, sn_feed_kv *dims, int n_dims, long long batch, uint64_t seed, bool have_range,
                                   double lo, double hi, sinter_tensor **out) {
  *out = NULL;
  if (info->rank < 0)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "input '%s' has an unknown rank; give it with --input %s=FILE.npy",
                     info->name, info->name);
  if (info->dtype == SINTER_UNDEFINED)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "input '%s' has an unknown element type; give it with --input",
                     info->name);
  int64_t shape[SN_MAX_RANK];
  if (info->rank > SN_MAX_RANK) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "input '%s': rank too large", info->name);
  for (int d = 0; d < info->rank; d++) {
    shape[d] = info->dims[d];
    if (shape[d] >= 0) continue;
    shape[d] = (d == 0 && batch > 0) ? batch : 1;
    const char *sym = info->dim_names ? info->dim_names[d] : NULL;
    for (int k = 0; sym && k < n_dims; k++)
      if (strcmp(dims[k].name, sym) == 0) {
        shape[d] = strtoll(dims[k].value, NULL, 10);
        dims[k].used = 1;
      }
  }
  sinter_tensor *t = NULL;
  SN_TRY(sinter_tensor_create(info->dtype, shape, info->rank, &t));
  int64_t n = sinter_tensor_count(t);
  void *data = sinter_tensor_data(t);
  uint64_t s = seed * 0x2545f4914f6cdd1dull ^ hash_name(info->name);
  const sn_dtype_info *ti = sn_dt(info->dtype);
  if (info->dtype == SINTER_STRING) {
    /* an owned string tensor frees each string with sn_free */
    char **strs = data;
    for (int64_t i = 0; i < n; i++) {
      char tmp[32];
      snprintf(tmp, sizeof tmp, "s%u", (unsigned)(rng_next(&s) % 1000));
      if (!(strs[i] = sn_strdup(tmp))) {
        sinter_tensor_free(t);
        return SN_ERR_OOM();
      }
    }
  } else if (info->dtype == SINTER_COMPLEX64 || info->dtype == SINTER_COMPLEX128) {
    int64_t m = n * 2;
    for (int64_t i = 0; i < m; i++) {
      double v = have_range ? lo + (hi - lo) * rng_unit(&s) : 2.0 * rng_unit(&s) - 1.0;
      if (info->dtype == SINTER_COMPLEX64) ((float *)data)[i] = (float)v;
      else ((double *)data)[i] = v;
    }
  } else if (info->dtype == SINTER_BOOL) {
    for (int64_t i = 0; i < n; i++) ((uint8_t *)data)[i] = (uint8_t)(rng_next(&s) & 1);
  } else if (ti->is_float) {
    for (int64_t i = 0; i < n; i++) {
      double v = have_range ? lo + (hi - lo) * rng_unit(&s) : 2.0 * rng_unit(&s) - 1.0;
      sn_store_f64(info->dtype, data, i, v);
    }
  } else if (ti->is_int) {
    int64_t ilo = have_range ? (int64_t)ceil(lo) : 0, ihi = have_range ? (int64_t)floor(hi) : 9;
    if (!have_range && ti->size == 1 && !ti->is_signed) ihi = 9;
    uint64_t span = ihi >= ilo ? (uint64_t)(ihi - ilo) + 1 : 1;
    for (int64_t i = 0; i < n; i++) sn_store_i64(info->dtype, data, i, ilo + (int64_t)(rng_next(&s) % span));
  } else {
    sinter_tensor_free(t);
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "input '%s': cannot make random %s data; give it with --input",
                     info->name, sn_dtype_name(info->dtype));
  }
  *out = t;
  return NULL;
}


void sn_feed_opts_init(sn_feed_opts *o) {
  memset(o, 0, sizeof *o);
  o->batch = -1;
}

void sn_feed_opts_free(sn_feed_opts *o) {
  for (int k = 0; k < o->n_inputs; k++) sn_free(o->inputs[k].name);
  for (int k = 0; k < o->n_dims; k++) sn_free(o->dims[k].name);
  o->n_inputs = o->n_dims = 0;
}

int sn_feed_parse(const char *cmd, sn_feed_opts *o, int argc, char **argv, int *i) {
  const char *v;
  int r;
#define TAKE(name) ((r = sn_cli_opt(cmd, argc, argv, i, name, &v)) != 0)
  if (TAKE("--input")) {
    if (r < 0) return -1;
    if (o->n_inputs == SN_FEED_MAX_ARGS) return sn_cli_usage_error(cmd, "too many --input options"), -1;
    if (!split_kv(cmd, v, "--input", false, &o->inputs[o->n_inputs])) return -1;
    o->n_inputs++;
    for (int k = 0; k + 1 < o->n_inputs; k++)
      if (strcmp(o->inputs[k].name, o->inputs[o->n_inputs - 1].name) == 0)
        return sn_cli_usage_error(cmd, "input '%s' is given twice", o->inputs[k].name), -1;
    return 1;
  }
  if (TAKE("--dim")) {
    if (r < 0) return -1;
    if (o->n_dims == SN_FEED_MAX_ARGS) return sn_cli_usage_error(cmd, "too many --dim options"), -1;
    if (!split_kv(cmd, v, "--dim", true, &o->dims[o->n_dims])) return -1;
    o->n_dims++;
    long long dv;
    if (!sn_cli_int(cmd, "--dim value", o->dims[o->n_dims - 1].value, 0, INT32_MAX, &dv)) return -1;
    return 1;
  }
  if (TAKE("--seed")) return (r < 0 || !sn_cli_int(cmd, "--seed", v, 0, INT64_MAX, &o->seed)) ? -1 : 1;
  if (TAKE("--batch")) return (r < 0 || !sn_cli_int(cmd, "--batch", v, 1, INT32_MAX, &o->batch)) ? -1 : 1;
  if (TAKE("--range")) {
    if (r < 0) return -1;
    char *end;
    o->lo = strtod(v, &end);
    if (end == v || *end != ':' || (o->hi = strtod(end + 1, &end), *end) || !(o->lo <= o->hi) || !isfinite(o->lo) ||
        !isfinite(o->hi))
      return sn_cli_usage_error(cmd, "--range expects LO:HI with LO <= HI, got '%s'", v), -1;
    o->have_range = true;
    return 1;
  }
#undef TAKE
  return 0;
}

void sn_feeds_free(sn_feeds *f) {
  for (size_t i = 0; i < f->cap; i++) {
    if (f->tensors) sinter_tensor_free(f->tensors[i]);
    if (f->arrays) sn_npy_free(&f->arrays[i]);
  }
  sn_free(f->tensors);
  sn_free(f->arrays);
  sn_free(f->names);
  memset(f, 0, sizeof *f);
}

long long sn_feeds_batch(const sn_feeds *f) {
  if (f->n == 0 || sinter_tensor_rank(f->tensors[0]) == 0) return 1;
  return sinter_tensor_dims(f->tensors[0])[0];
}

sinter_status *sn_feeds_make(const char *cmd, sinter_session *s, sn_feed_opts *o, bool verbose, sn_feeds *out) {
  char buf[512];
  memset(out, 0, sizeof *out);
  size_t n_in = sinter_session_input_count(s);
  out->cap = n_in + (size_t)o->n_inputs + 1;
  out->names = sn_calloc(out->cap, sizeof *out->names);
  out->tensors = sn_calloc(out->cap, sizeof *out->tensors);
  out->arrays = sn_calloc(out->cap, sizeof *out->arrays);
  sinter_status *st = NULL;
  if (!out->names || !out->tensors || !out->arrays) {
    st = SN_ERR_OOM();
    goto fail;
  }
  for (int k = 0; k < o->n_inputs; k++) {
    sn_npy *a = &out->arrays[out->n];
    if ((st = sn_npy_read(o->inputs[k].value, a))) goto fail;
    if ((st = sinter_tensor_wrap(a->dtype, a->dims, a->rank, a->data, a->nbytes, &out->tensors[out->n]))) goto fail;
    out->names[out->n++] = o->inputs[k].name;
    if (verbose)
      printf("input  %s: %s%s from %s\n", o->inputs[k].name, sn_dtype_name(a->dtype),
             sn_cli_fmt_shape(a->rank, a->dims, NULL, buf, sizeof buf), o->inputs[k].value);
  }
  for (size_t i = 0; i < n_in; i++) {
    sinter_value_info info;
    if ((st = sinter_session_input_info(s, i, &info))) goto fail;
    bool given = false;
    for (int k = 0; k < o->n_inputs; k++)
      if (strcmp(o->inputs[k].name, info.name) == 0) {
        given = true;
        o->inputs[k].used = 1;
      }
    if (given) continue;
    if ((st = random_input(&info, o->dims, o->n_dims, o->batch, (uint64_t)o->seed, o->have_range, o->lo, o->hi,
                           &out->tensors[out->n])))
      goto fail;
    out->names[out->n] = info.name;
    if (verbose) {
      sinter_tensor *t = out->tensors[out->n];
      printf("input  %s: %s%s random (seed %lld; declared %s)\n", info.name, sn_dtype_name(info.dtype),
             sn_cli_fmt_shape(sinter_tensor_rank(t), sinter_tensor_dims(t), NULL, buf, sizeof buf), o->seed,
             sn_cli_fmt_shape(info.rank, info.dims, info.dim_names, buf + 256, 256));
    }
    out->n++;
  }
  for (int k = 0; k < o->n_dims; k++)
    if (!o->dims[k].used && verbose)
      fprintf(stderr, "sinter %s: warning: --dim %s matches no symbolic dimension of a random input\n", cmd,
              o->dims[k].name);
  return NULL;
fail:
  sn_feeds_free(out);
  return st;
}

sinter_status *sn_feeds_value_ids(const sinter_session *s, const sn_feeds *f, int *ids) {
  for (size_t k = 0; k < f->n; k++) {
    int i = 0;
    while (i < s->n_in && strcmp(s->in[i].info.name, f->names[k])) i++;
    if (i == s->n_in) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "the model has no input named '%s'", f->names[k]);
    ids[k] = s->in[i].value;
  }
  return NULL;
}
