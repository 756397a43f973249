/* Random ops: RandomNormal, RandomUniform, RandomNormalLike, RandomUniformLike, Multinomial and
 * Bernoulli, drawing from a xoshiro256** generator. With a `seed` attribute every run reseeds from
 * it, so a node gives the same values on every run (reproducible and safe for concurrent runs);
 * without one each run takes a fresh seed from a per-process random stream. Never constant-folded. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "ops/op.h"
#include "ops/random.h"

/* ---- generator ------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void sn_rng_seed(sn_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* never the all-zero state */
}

uint64_t sn_rng_seed_from_attr(float seed) {
  uint32_t bits;
  memcpy(&bits, &seed, sizeof bits);
  uint64_t x = 0x53494e54ULL ^ bits; /* (any fixed tag) */
  return splitmix64(&x);
}

static uint64_t process_seed;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t auto_counter;

static void init_process_seed(void) {
  struct timespec ts = {0, 0};
  clock_gettime(CLOCK_REALTIME, &ts);
  struct timespec mono = {0, 0};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  uint64_t x = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
               (uint64_t)(uintptr_t)&process_seed ^ ((uint64_t)mono.tv_nsec << 17);
  process_seed = splitmix64(&x);
}

uint64_t sn_rng_auto_seed(void) {
  pthread_once(&process_once, init_process_seed);
  uint64_t k = atomic_fetch_add(&auto_counter, 1);
  uint64_t x = process_seed + k * 0xd1b54a32d192ed03ULL;
  return splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sn_rng_next(sn_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double sn_rng_uniform(sn_rng *r) { return (double)(sn_rng_next(r) >> 11) * 0x1.0p-53; }

void sn_sample_uniform(sn_rng *r, double low, double high, double *out, int64_t n) {
  double span = high - low;
  for (int64_t i = 0; i < n; i++) {
    double v = low + span * sn_rng_uniform(r);
    out[i] = (v >= high && high > low) ? nextafter(high, low) : v;
  }
}

void sn_sample_normal(sn_rng *r, double mean, double scale, double *out, int64_t n) {
  const double two_pi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < n; i += 2) {
    double u1 = 1.0 - sn_rng_uniform(r); /* (0, 1]: log stays finite */
    double u2 = sn_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    out[i] = mean + scale * rad * cos(two_pi * u2);
    if (i + 1 < n) out[i + 1] = mean + scale * rad * sin(two_pi * u2);
  }
}

void sn_sample_bernoulli(sn_rng *r, const double *p, uint8_t *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = sn_rng_uniform(r) < p[i];
}

bool sn_sample_multinomial(sn_rng *r, const double *logits, int64_t classes, int64_t samples, double *cdf,
                           int64_t *out) {
  double mx = -INFINITY;
  for (int64_t k = 0; k < classes; k++) {
    if (isnan(logits[k]) || logits[k] == INFINITY) return false;
    if (logits[k] > mx) mx = logits[k];
  }
  if (!isfinite(mx)) return false;
  double total = 0;
  for (int64_t k = 0; k < classes; k++) {
    total += exp(logits[k] - mx);
    cdf[k] = total;
  }
  for (int64_t s = 0; s < samples; s++) {
    double u = sn_rng_uniform(r) * total;
    /* first class whose cumulative weight exceeds u */
    int64_t lo = 0, hi = classes - 1;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (cdf[mid] > u)
        hi = mid;
      else
        lo = mid + 1;
    }
    /* skip zero-weight classes at the end that rounding could land on */
    while (lo > 0 && cdf[lo] - cdf[lo - 1] <= 0) lo--;
    out[s] = lo;
  }
  return true;
}

/* ---- ops ------------------------------------------------------------------------------------------- */

enum { R_NORMAL, R_UNIFORM, R_NORMAL_LIKE, R_UNIFORM_LIKE, R_MULTINOMIAL, R_BERNOULLI };

typedef struct rnd_params {
  int kind;
  sn_dtype dtype; /* 0: the input's type (Like ops, Bernoulli) */
  double a, b;    /* mean, scale / low, high */
  bool has_seed;
  uint64_t seed;
  int rank;
  int64_t dims[SN_MAX_RANK];
  int64_t sample_size;
} rnd_params;

static int kind_of(const char *op) {
  if (!strcmp(op, "RandomNormal")) return R_NORMAL;
  if (!strcmp(op, "RandomUniform")) return R_UNIFORM;
  if (!strcmp(op, "RandomNormalLike")) return R_NORMAL_LIKE;
  if (!strcmp(op, "RandomUniformLike")) return R_UNIFORM_LIKE;
  if (!strcmp(op, "Multinomial")) return R_MULTINOMIAL;
  return R_BERNOULLI;
}

static bool float_out(sn_dtype dt, int opset) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || (dt == SINTER_BFLOAT16 && opset >= 22);
}

static bool bernoulli_out(sn_dtype dt) {
  switch (dt) {
    case SINTER_FLOAT:
    case SINTER_DOUBLE:
    case SINTER_FLOAT16:
    case SINTER_BFLOAT16:
    case SINTER_UINT8:
    case SINTER_UINT16:
    case SINTER_UINT32:
    case SINTER_UINT64:
    case SINTER_INT8:
    case SINTER_INT16:
    case SINTER_INT32:
    case SINTER_INT64:
    case SINTER_BOOL: return true;
    default: return false;
  }
}

/* Check the output type (and for Multinomial/Bernoulli the input type) of a node. */
static const char *check_types(const rnd_params *p, int opset, sn_dtype in, sn_dtype out) {
  switch (p->kind) {
    case R_MULTINOMIAL:
      if (in && !float_out(in, opset)) return "input must be float16, float or double (bfloat16 from opset 22)";
      if (out && out != SINTER_INT32 && out != SINTER_INT64) return "output dtype must be int32 or int64";
      return NULL;
    case R_BERNOULLI:
      if (in && !float_out(in, opset)) return "input must be float16, float or double (bfloat16 from opset 22)";
      if (out && !bernoulli_out(out)) return "output dtype must be a numeric type or bool";
      return NULL;
    default:
      if (out && !float_out(out, opset)) return "output dtype must be float16, float or double (bfloat16 from opset 22)";
      return NULL;
  }
}

static sn_error *rnd_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  rnd_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = NULL;
  p->kind = kind_of(n->op_type);
  bool like = p->kind == R_NORMAL_LIKE || p->kind == R_UNIFORM_LIKE || p->kind == R_BERNOULLI;
  int want_in = p->kind == R_NORMAL || p->kind == R_UNIFORM ? 0 : 1;
  if (n->n_in != want_in || (want_in && n->in[0] < 0)) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s takes %d input%s, got %d", n->op_type, want_in, want_in == 1 ? "" : "s",
                  n->n_in);
    goto fail;
  }
  const sn_attr *dt = sn_node_attr(n, "dtype");
  if (dt && dt->type != SN_ATTR_INT) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute 'dtype' must be an int");
    goto fail;
  }
  if (dt)
    p->dtype = (sn_dtype)dt->i;
  else if (p->kind == R_MULTINOMIAL)
    p->dtype = SINTER_INT32;
  else if (!like)
    p->dtype = SINTER_FLOAT;
  if (dt && !sn_dtype_valid((int)dt->i)) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute dtype = %lld is not a known element type", (long long)dt->i);
    goto fail;
  }
  const char *why = check_types(p, n->opset, 0, p->dtype);
  if (why) {
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s (dtype %s)", why, sn_dtype_name(p->dtype));
    goto fail;
  }
  const sn_attr *sd = sn_node_attr(n, "seed");
  if (sd) {
    p->has_seed = true;
    p->seed = sn_rng_seed_from_attr(sd->type == SN_ATTR_INT ? (float)sd->i : sd->f);
  }
  if (p->kind == R_NORMAL || p->kind == R_NORMAL_LIKE) {
    p->a = sn_attr_float(n, "mean", 0.0f);
    p->b = sn_attr_float(n, "scale", 1.0f);
  } else if (p->kind == R_UNIFORM || p->kind == R_UNIFORM_LIKE) {
    p->a = sn_attr_float(n, "low", 0.0f);
    p->b = sn_attr_float(n, "high", 1.0f);
    if (!(p->b >= p->a)) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "needs low <= high (got low %g, high %g)", p->a, p->b);
      goto fail;
    }
  }
  if (p->kind == R_NORMAL || p->kind == R_UNIFORM) {
    const int64_t *shape;
    int r = sn_attr_ints(n, "shape", &shape);
    if (r < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute 'shape' is missing");
      goto fail;
    }
    if (r > SN_MAX_RANK) {
      e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "shape of rank %d is above the supported %d", r, SN_MAX_RANK);
      goto fail;
    }
    for (int i = 0; i < r; i++) {
      if (shape[i] < 0) {
        e = sn_errorf(SINTER_ERR_INVALID_MODEL, "shape[%d] = %lld is negative", i, (long long)shape[i]);
        goto fail;
      }
      p->dims[i] = shape[i];
    }
    p->rank = r;
    if (sn_shape_count(r, p->dims) < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "shape has too many elements");
      goto fail;
    }
  }
  if (p->kind == R_MULTINOMIAL) {
    p->sample_size = sn_attr_int(n, "sample_size", 1);
    if (p->sample_size < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "sample_size = %lld is negative", (long long)p->sample_size);
      goto fail;
    }
  }
  *params = p;
  return NULL;
fail:
  sn_free(p);
  return e;
}

static void rnd_free(void *p) { sn_free(p); }

static sn_error *rnd_infer(sn_infer_ctx *c) {
  const rnd_params *p = c->node->params;
  sn_type *o = c->out[0];
  if (!p) {
    /* not prepared yet: nothing known */
    if (o) sn_type_set_unknown(o, 0);
    return NULL;
  }
  if (p->kind == R_NORMAL || p->kind == R_UNIFORM) {
    if (o) sn_type_set_static(o, p->dtype, p->rank, p->dims);
    return NULL;
  }
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input is missing");
  sn_dtype out = p->dtype ? p->dtype : x->dtype;
  const char *why = check_types(p, c->opset, x->dtype, out);
  if (why) return sn_infer_error(c, "%s (input %s, output %s)", why, sn_dtype_name(x->dtype), sn_dtype_name(out));
  if (p->kind == R_MULTINOMIAL) {
    if (x->rank >= 0 && x->rank != 2) return sn_infer_error(c, "input must be [batch_size, class_size], got rank %d", x->rank);
    if (o) {
      sn_dim d[2] = {x->rank == 2 ? x->dims[0] : sn_dim_unknown(), sn_dim_known(p->sample_size)};
      sn_type_set(o, out, 2, d);
    }
    return NULL;
  }
  if (o) {
    if (x->rank < 0)
      sn_type_set_unknown(o, out);
    else
      sn_type_set(o, out, x->rank, x->dims);
  }
  return NULL;
}

#define CHUNK 512

/* The largest float16 / bfloat16 value below high (but not below low), as bits: a uniform sample
 * that rounds up to `high` takes it instead. */
static uint16_t below_16(sn_dtype dt, double low, double high) {
  uint16_t h;
  sn_store_f64(dt, &h, 0, high);
  if (sn_load_f64(dt, &h, 0) >= high) {
    if (h & 0x8000u)
      h = (uint16_t)(h + 1); /* negative: away from zero */
    else if (h & 0x7FFFu)
      h = (uint16_t)(h - 1); /* positive: toward zero */
    else
      h = 0x8001u; /* +0: the smallest negative subnormal */
  }
  uint16_t l;
  sn_store_f64(dt, &l, 0, low);
  return sn_load_f64(dt, &h, 0) < sn_load_f64(dt, &l, 0) ? l : h;
}

static sn_error *rnd_run(sn_kernel_ctx *c) {
  const rnd_params *p = c->params;
  if (!p) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "node was not prepared");
  sn_rng rng;
  sn_rng_seed(&rng, p->has_seed ? p->seed : sn_rng_auto_seed());
  const sn_tensor *x = p->kind == R_NORMAL || p->kind == R_UNIFORM ? NULL : c->in[0];
  if (x && x->kind != SN_KIND_TENSOR) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be a tensor");
  sn_dtype out_dt = p->dtype ? p->dtype : x->dtype;
  const char *why = check_types(p, c->node->opset, x ? x->dtype : 0, out_dt);
  if (why)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (input %s, output %s)", why, x ? sn_dtype_name(x->dtype) : "none",
                           sn_dtype_name(out_dt));
  sn_tensor *y;
  double buf[CHUNK];
  if (p->kind == R_MULTINOMIAL) {
    char dims[64];
    if (x->rank != 2)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be [batch_size, class_size], got %s",
                             sn_dims_str(x->rank, x->dims, dims, sizeof dims));
    int64_t batch = x->dims[0], classes = x->dims[1], od[2] = {batch, p->sample_size};
    SN_TRY(sn_kernel_output(c, 0, out_dt, 2, od, &y));
    if (y->count == 0) return NULL;
    if (classes == 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "class_size is 0: nothing to sample from");
    double *scratch = sn_kernel_scratch(c, sizeof(double) * 2 * (size_t)classes + sizeof(int64_t) * (size_t)p->sample_size);
    if (!scratch) return SN_ERR_OOM();
    double *logits = scratch, *cdf = scratch + classes;
    int64_t *idx = (int64_t *)(cdf + classes);
    for (int64_t b = 0; b < batch; b++) {
      for (int64_t k = 0; k < classes; k++) logits[k] = sn_load_f64(x->dtype, x->data, b * classes + k);
      if (!sn_sample_multinomial(&rng, logits, classes, p->sample_size, cdf, idx))
        return sn_kernel_error(c, SINTER_ERR_RUNTIME,
                               "batch row %lld has a NaN or +inf log-probability, or none that is finite", (long long)b);
      for (int64_t s = 0; s < p->sample_size; s++) sn_store_i64(out_dt, y->data, b * p->sample_size + s, idx[s]);
    }
    return NULL;
  }
  if (x)
    SN_TRY(sn_kernel_output(c, 0, out_dt, x->rank, x->dims, &y));
  else
    SN_TRY(sn_kernel_output(c, 0, out_dt, p->rank, p->dims, &y));
  for (int64_t off = 0; off < y->count; off += CHUNK) {
    int64_t m = y->count - off < CHUNK ? y->count - off : CHUNK;
    switch (p->kind) {
      case R_NORMAL:
      case R_NORMAL_LIKE: sn_sample_normal(&rng, p->a, p->b, buf, m); break;
      case R_UNIFORM:
      case R_UNIFORM_LIKE: sn_sample_uniform(&rng, p->a, p->b, buf, m); break;
      default: {
        uint8_t bits[CHUNK];
        for (int64_t i = 0; i < m; i++) buf[i] = sn_load_f64(x->dtype, x->data, off + i);
        sn_sample_bernoulli(&rng, buf, bits, m);
        for (int64_t i = 0; i < m; i++) buf[i] = bits[i];
        break;
      }
    }
    if (out_dt == SINTER_FLOAT) {
      float *yf = (float *)y->data + off;
      bool uni = p->kind == R_UNIFORM || p->kind == R_UNIFORM_LIKE;
      for (int64_t i = 0; i < m; i++) {
        float f = (float)buf[i];
        /* rounding to float must not reach `high` */
        if (uni && (double)f >= p->b && p->b > p->a) f = nextafterf(f, -INFINITY);
        yf[i] = f;
      }
    } else if (out_dt == SINTER_DOUBLE) {
      memcpy((double *)y->data + off, buf, sizeof(double) * (size_t)m);
    } else {
      for (int64_t i = 0; i < m; i++) sn_store_f64(out_dt, y->data, off + i, buf[i]);
      if ((p->kind == R_UNIFORM || p->kind == R_UNIFORM_LIKE) && p->b > p->a && sn_dt(out_dt)->is_float) {
        uint16_t top = below_16(out_dt, p->a, p->b);
        for (int64_t i = 0; i < m; i++)
          if (sn_load_f64(out_dt, y->data, off + i) >= p->b) ((uint16_t *)y->data)[off + i] = top;
      }
    }
  }
  return NULL;
}

#define RND(name, from, to) {"", name, from, to, rnd_infer, rnd_run, rnd_prepare, rnd_free, SN_OP_NO_FOLD}

const sn_op sn_ops_random[] = {
    /* 22 adds bfloat16 to the allowed types; the semantics are the same */
    RND("RandomNormal", 1, 21),      RND("RandomNormal", 22, 0),      RND("RandomUniform", 1, 21),
    RND("RandomUniform", 22, 0),     RND("RandomNormalLike", 1, 21),  RND("RandomNormalLike", 22, 0),
    RND("RandomUniformLike", 1, 21), RND("RandomUniformLike", 22, 0), RND("Multinomial", 7, 21),
    RND("Multinomial", 22, 0),       RND("Bernoulli", 15, 21),        RND("Bernoulli", 22, 0),
    {0},
};
