/* Unit tests of the runtime broadcasting helpers (kernels/ref/broadcast.h), the numeric conversion
 * helpers the elementwise families share, and a few elementwise/unary/cast kernels run through
 * their shape functions' constant folding (no runtime needed): shapes, collapsed strides, run
 * iteration against a naive index computation, integer semantics, string casts, error cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/elementwise_ref.h"
#include "ops/op.h"
#include "check.h"

static bool shape_eq(int ra, const int64_t *a, int rb, const int64_t *b) {
  if (ra != rb) return false;
  for (int i = 0; i < ra; i++)
    if (a[i] != b[i]) return false;
  return true;
}

static void test_shapes(void) {
  int r;
  int64_t out[SN_MAX_RANK];
  sn_error *e;

  const int64_t a[] = {2, 3, 4}, b[] = {4}, c[] = {3, 1}, d[] = {5};
  e = sn_broadcast_shape2(3, a, 1, b, &r, out);
  CHECK(!e && shape_eq(r, out, 3, a));
  e = sn_broadcast_shape2(3, a, 2, c, &r, out);
  CHECK(!e && shape_eq(r, out, 3, a));
  e = sn_broadcast_shape2(3, a, 1, d, &r, out);
  CHECK(e != NULL);
  if (e) {
    CHECK(e->code == SINTER_ERR_INVALID_ARGUMENT);
    CHECK(strstr(e->msg, "[2,3,4]") || strstr(e->msg, "2,3,4"));
    sn_error_free(e);
  }
  /* scalar with anything */
  e = sn_broadcast_shape2(0, NULL, 3, a, &r, out);
  CHECK(!e && shape_eq(r, out, 3, a));
  e = sn_broadcast_shape2(0, NULL, 0, NULL, &r, out);
  CHECK(!e && r == 0);
  /* both sides broadcast */
  const int64_t x[] = {4, 1, 6}, y[] = {5, 1};
  const int64_t xy[] = {4, 5, 6};
  e = sn_broadcast_shape2(3, x, 2, y, &r, out);
  CHECK(!e && shape_eq(r, out, 3, xy));
  /* zero-size dims broadcast against 1, not against 3 */
  const int64_t z[] = {0, 3}, z1[] = {1, 3}, z3[] = {3, 3};
  e = sn_broadcast_shape2(2, z, 2, z1, &r, out);
  CHECK(!e && shape_eq(r, out, 2, z));
  e = sn_broadcast_shape2(2, z, 2, z3, &r, out);
  CHECK(e != NULL);
  sn_error_free(e);
  /* three inputs */
  const int ranks[3] = {1, 3, 2};
  const int64_t s0[] = {6}, s1[] = {4, 1, 1}, s2[] = {5, 1};
  const int64_t *dims[3] = {s0, s1, s2};
  const int64_t all[] = {4, 5, 6};
  e = sn_broadcast_shape(3, ranks, dims, &r, out);
  CHECK(!e && shape_eq(r, out, 3, all));
  /* unidirectional */
  CHECK(sn_broadcastable_to(1, b, 3, a));
  CHECK(sn_broadcastable_to(2, c, 3, a));
  CHECK(!sn_broadcastable_to(1, d, 3, a));
  CHECK(!sn_broadcastable_to(3, a, 1, b));
  CHECK(sn_broadcastable_to(0, NULL, 3, a));
}

/* Naive offset of input k at output flat index i. */
static int64_t naive_off(int out_rank, const int64_t *out_dims, int rank, const int64_t *dims, int64_t i) {
  int64_t idx[SN_MAX_RANK];
  for (int d = out_rank - 1; d >= 0; d--) {
    idx[d] = out_dims[d] ? i % out_dims[d] : 0;
    i = out_dims[d] ? i / out_dims[d] : 0;
  }
  int64_t off = 0, st = 1;
  for (int j = rank - 1; j >= 0; j--) {
    int d = j + out_rank - rank;
    if (dims[j] != 1) off += idx[d] * st;
    st *= dims[j];
  }
  return off;
}

/* Walk every run and compare every element's input offsets with the naive computation. */
static bool check_iter(int n, const int *ranks, const int64_t *const *dims, int64_t expect_rows, int64_t expect_inner) {
  sn_bcast b;
  int r;
  int64_t out[SN_MAX_RANK];
  sn_error *e = sn_bcast_init_auto(&b, n, ranks, dims, &r, out);
  if (e) {
    fprintf(stderr, "  init failed: %s\n", e->msg);
    sn_error_free(e);
    return false;
  }
  bool ok = true;
  if (expect_rows >= 0 && b.rows != expect_rows) {
    fprintf(stderr, "  rows %lld, expected %lld\n", (long long)b.rows, (long long)expect_rows);
    ok = false;
  }
  if (expect_inner >= 0 && b.inner != expect_inner) {
    fprintf(stderr, "  inner %lld, expected %lld\n", (long long)b.inner, (long long)expect_inner);
    ok = false;
  }
  if (b.rows * b.inner != b.count && b.count != 0) ok = false;
  sn_bcast_iter it;
  sn_bcast_iter_start(&it, &b, 0);
  for (int64_t row = 0; row < b.rows; row++, sn_bcast_iter_next(&it)) {
    /* seeking must agree with stepping */
    sn_bcast_iter s;
    sn_bcast_iter_start(&s, &b, row);
    for (int k = 0; k < n; k++)
      if (s.off[k] != it.off[k]) ok = false;
    for (int64_t i = 0; i < b.inner; i++) {
      int64_t flat = row * b.inner + i;
      for (int k = 0; k < n; k++) {
        int64_t got = it.off[k] + i * b.inner_stride[k];
        int64_t want = naive_off(r, out, ranks[k], dims[k], flat);
        if (got != want) {
          if (ok) fprintf(stderr, "  input %d element %lld: offset %lld, expected %lld\n", k, (long long)flat, (long long)got, (long long)want);
          ok = false;
        }
      }
    }
  }
  return ok;
}

static void test_iter(void) {
  /* same shape: one run */
  {
    const int64_t a[] = {2, 3, 4};
    const int ranks[2] = {3, 3};
    const int64_t *dims[2] = {a, a};
    CHECK(check_iter(2, ranks, dims, 1, 24));
    sn_bcast b;
    int r;
    int64_t o[SN_MAX_RANK];
    CHECK(!sn_bcast_init_auto(&b, 2, ranks, dims, &r, o));
    CHECK(b.same && b.inner_stride[0] == 1 && b.inner_stride[1] == 1);
  }
  /* tensor op scalar: one run, scalar stride 0 */
  {
    const int64_t a[] = {2, 3, 4}, s[] = {1};
    const int ranks[2] = {3, 0};
    const int64_t *dims[2] = {a, s};
    CHECK(check_iter(2, ranks, dims, 1, 24));
    sn_bcast b;
    int r;
    int64_t o[SN_MAX_RANK];
    CHECK(!sn_bcast_init_auto(&b, 2, ranks, dims, &r, o));
    CHECK(!b.same && b.inner_stride[0] == 1 && b.inner_stride[1] == 0);
    const int ranks1[2] = {1, 3};
    const int64_t *dims1[2] = {s, a};
    CHECK(check_iter(2, ranks1, dims1, 1, 24));
  }
  /* an empty output beside dims whose product is past int64 (the fuzzer's [.., 7.2e16, 8192]): no
   * strides computed, no run to visit */
  {
    const int64_t a[] = {0, 72055377834794998, 8192}, c[] = {1, 72055377834794998, 8192};
    const int ranks[2] = {3, 3};
    const int64_t *dims[2] = {a, c};
    sn_bcast b;
    int r;
    int64_t o[SN_MAX_RANK];
    CHECK(!sn_bcast_init_auto(&b, 2, ranks, dims, &r, o));
    CHECK(b.count == 0 && b.rows == 0 && r == 3 && o[0] == 0);
  }
  /* trailing dim */
  {
    const int64_t a[] = {2, 3, 4, 5}, w[] = {5};
    const int ranks[2] = {4, 1};
    const int64_t *dims[2] = {a, w};
    CHECK(check_iter(2, ranks, dims, 24, 5));
  }
  /* channel bias [C,1,1] */
  {
    const int64_t a[] = {2, 3, 4, 5}, cb[] = {3, 1, 1};
    const int ranks[2] = {4, 3};
    const int64_t *dims[2] = {a, cb};
    CHECK(check_iter(2, ranks, dims, 6, 20));
  }
  /* outer product [N,1] x [1,M] */
  {
    const int64_t a[] = {4, 1}, b[] = {1, 7};
    const int ranks[2] = {2, 2};
    const int64_t *dims[2] = {a, b};
    CHECK(check_iter(2, ranks, dims, 4, 7));
  }
  /* [N,M] x [N,1]: the second input is scalar per run */
  {
    const int64_t a[] = {4, 7}, b[] = {4, 1};
    const int ranks[2] = {2, 2};
    const int64_t *dims[2] = {a, b};
    CHECK(check_iter(2, ranks, dims, 4, 7));
  }
  /* size-1 dims everywhere and a middle broadcast */
  {
    const int64_t a[] = {1, 3, 1, 5, 1}, b[] = {2, 1, 4, 5, 1};
    const int ranks[2] = {5, 5};
    const int64_t *dims[2] = {a, b};
    CHECK(check_iter(2, ranks, dims, -1, 5));
  }
  /* three inputs (Where) */
  {
    const int64_t c[] = {4, 1, 6}, x[] = {5, 1}, y[] = {1};
    const int ranks[3] = {3, 2, 0};
    const int64_t *dims[3] = {c, x, y};
    CHECK(check_iter(3, ranks, dims, 20, 6));
  }
  /* all scalars: rank-0 output gives one run of one element */
  {
    const int ranks[2] = {0, 0};
    const int64_t *dims[2] = {NULL, NULL};
    sn_bcast b;
    int r;
    int64_t o[SN_MAX_RANK];
    CHECK(!sn_bcast_init_auto(&b, 2, ranks, dims, &r, o));
    CHECK(r == 0 && b.count == 1 && b.rows == 1 && b.inner == 1 && b.rank == 1);
    CHECK(check_iter(2, ranks, dims, 1, 1));
  }
  /* empty output */
  {
    const int64_t a[] = {0, 3}, b[] = {3};
    const int ranks[2] = {2, 1};
    const int64_t *dims[2] = {a, b};
    sn_bcast bc;
    int r;
    int64_t o[SN_MAX_RANK];
    CHECK(!sn_bcast_init_auto(&bc, 2, ranks, dims, &r, o));
    CHECK(bc.count == 0 && bc.rows == 0);
  }
  /* explicit output shape: an input that does not broadcast to it is an error */
  {
    const int64_t out[] = {2, 3}, a[] = {3, 3};
    const int ranks[1] = {2};
    const int64_t *dims[1] = {a};
    sn_bcast b;
    sn_error *e = sn_bcast_init(&b, 2, out, 1, ranks, dims);
    CHECK(e != NULL);
    sn_error_free(e);
  }
  /* a deterministic sweep of random shapes against the naive offsets */
  unsigned seed = 12345;
  int sweep_ok = 1;
  for (int t = 0; t < 300; t++) {
    int rank = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 5;
    int64_t full[SN_MAX_RANK];
    for (int d = 0; d < rank; d++) full[d] = 1 + ((seed = seed * 1103515245u + 12345u) >> 16) % 4;
    int n = 2 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 2;
    int ranks[3];
    int64_t buf[3][SN_MAX_RANK];
    const int64_t *dims[3];
    for (int k = 0; k < n; k++) {
      ranks[k] = (int)((seed = seed * 1103515245u + 12345u) >> 16) % (rank + 1);
      for (int j = 0; j < ranks[k]; j++) {
        int d = j + rank - ranks[k];
        buf[k][j] = (((seed = seed * 1103515245u + 12345u) >> 16) & 1) ? full[d] : 1;
      }
      dims[k] = buf[k];
    }
    if (!check_iter(n, ranks, dims, -1, -1)) sweep_ok = 0;
  }
  CHECK(sweep_ok);
}

static void test_conversions(void) {
  CHECK(sn_d2i64(3.9) == 3);
  CHECK(sn_d2i64(-3.9) == -3);
  CHECK(sn_d2i64(NAN) == INT64_MIN);
  CHECK(sn_d2i64(1e300) == INT64_MIN);
  CHECK(sn_d2u64(1.8e19) == (uint64_t)1.8e19);
  CHECK(sn_d2u64(-1.0) == UINT64_MAX);
  /* round to odd, then to half: 1 + 2^-11 + 2^-40 must round up (a direct float cast would tie to even) */
  double v = 1.0 + ldexp(1.0, -11) + ldexp(1.0, -40);
  CHECK(sn_f32_to_f16(sn_d2f_odd(v)) == 0x3c01);
  CHECK(sn_f32_to_f16((float)v) == 0x3c00);
  CHECK(sn_d2f_odd(0.5) == 0.5f);
  CHECK(sn_d2f_odd(1e300) == INFINITY);
}

/* ---- kernels through constant folding ---------------------------------------------------------- */

typedef struct {
  const char *name;
  int type; /* SN_ATTR_INT / FLOAT / STRING */
  int64_t i;
  float f;
  const char *s;
} tattr;

static sn_tensor *mk(sn_dtype dt, int rank, const int64_t *dims, const void *vals) {
  sn_tensor *t;
  sn_error *e = sn_tensor_new(dt, rank, dims, &t);
  if (e) {
    sn_error_free(e);
    return NULL;
  }
  if (dt == SINTER_STRING) {
    for (int64_t i = 0; i < t->count; i++) ((char **)t->data)[i] = sn_strdup(((const char *const *)vals)[i]);
  } else {
    memcpy(t->data, vals, t->nbytes);
  }
  return t;
}

/* Run op through its shape function with every input known; returns the folded value (or NULL and
 * *err). out_type receives the inferred type. */
static sn_tensor *fold(const char *op_type, int opset, int n_attrs, const tattr *attrs, int n_in, sn_tensor **in,
                       sn_type *out_type, sn_error **err) {
  sn_node n;
  memset(&n, 0, sizeof n);
  n.name = "t";
  n.op_type = (char *)op_type;
  n.domain = "";
  n.opset = opset;
  sn_attr at[8];
  memset(at, 0, sizeof at);
  for (int i = 0; i < n_attrs; i++) {
    at[i].name = (char *)attrs[i].name;
    at[i].type = attrs[i].type;
    at[i].i = attrs[i].i;
    at[i].f = attrs[i].f;
    at[i].s = (char *)attrs[i].s;
    at[i].s_len = attrs[i].s ? strlen(attrs[i].s) : 0;
  }
  n.attrs = at;
  n.n_attrs = n_attrs;
  int ids[8], outs[1] = {0};
  sn_type types[8];
  const sn_type *tp[8];
  const sn_tensor *td[8];
  for (int i = 0; i < n_in; i++) {
    ids[i] = in[i] ? i : -1;
    tp[i] = NULL;
    td[i] = in[i];
    if (!in[i]) continue;
    sn_type_set_static(&types[i], in[i]->dtype, in[i]->rank, in[i]->dims);
    tp[i] = &types[i];
  }
  n.in = ids;
  n.n_in = n_in;
  n.out = outs;
  n.n_out = 1;
  const sn_op *op;
  *err = sn_op_lookup("", op_type, opset, &op);
  if (*err) return NULL;
  n.op = op;
  memset(out_type, 0, sizeof *out_type);
  sn_type *otp = out_type;
  sn_tensor *od = NULL;
  sn_infer_ctx c;
  memset(&c, 0, sizeof c);
  c.node = &n;
  c.opset = opset;
  c.n_in = n_in;
  c.in = tp;
  c.in_data = td;
  c.n_out = 1;
  c.out = &otp;
  c.out_data = &od;
  *err = op->infer(&c);
  return od;
}

static void free_all(int n, sn_tensor **t) {
  for (int i = 0; i < n; i++) sn_tensor_free(t[i]);
}

static void test_kernels(void) {
  sn_error *e;
  sn_type ot;
  /* Add float32 [2,3] + [3] */
  {
    const int64_t d23[] = {2, 3}, d3[] = {3};
    const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30};
    sn_tensor *in[2] = {mk(SINTER_FLOAT, 2, d23, a), mk(SINTER_FLOAT, 1, d3, b)};
    sn_tensor *y = fold("Add", 14, 0, NULL, 2, in, &ot, &e);
    CHECK(!e && y && y->dtype == SINTER_FLOAT && y->rank == 2 && y->dims[0] == 2 && y->dims[1] == 3);
    CHECK(ot.dtype == SINTER_FLOAT && ot.rank == 2 && ot.dims[0].v == 2);
    if (y) CHECK(((float *)y->data)[0] == 11 && ((float *)y->data)[5] == 36);
    sn_tensor_free(y);
    sn_error_free(e);
    /* mismatched element types are an error naming both */
    sn_tensor *in2[2] = {in[0], mk(SINTER_INT64, 1, d3, (int64_t[]){1, 2, 3})};
    y = fold("Add", 14, 0, NULL, 2, in2, &ot, &e);
    CHECK(e && !y && strstr(e->msg, "float") && strstr(e->msg, "int64"));
    sn_error_free(e);
    sn_tensor_free(in2[1]);
    free_all(2, in);
  }
  /* integer Div truncates; x/0 gives 0 and INT_MIN/-1 wraps instead of trapping */
  {
    const int64_t d[] = {4};
    const int32_t a[] = {7, -7, 5, INT32_MIN}, b[] = {2, 2, 0, -1};
    sn_tensor *in[2] = {mk(SINTER_INT32, 1, d, a), mk(SINTER_INT32, 1, d, b)};
    sn_tensor *y = fold("Div", 14, 0, NULL, 2, in, &ot, &e);
    CHECK(!e && y);
    if (y) {
      const int32_t *v = y->data;
      CHECK(v[0] == 3 && v[1] == -3 && v[2] == 0 && v[3] == INT32_MIN);
    }
    sn_tensor_free(y);
    sn_error_free(e);
    /* Mod: fmod=0 takes the divisor's sign, fmod=1 the dividend's */
    const int32_t m[] = {-2, 2, 3, -1};
    sn_tensor *in2[2] = {in[0], mk(SINTER_INT32, 1, d, m)};
    y = fold("Mod", 13, 0, NULL, 2, in2, &ot, &e);
    CHECK(!e && y);
    if (y) {
      const int32_t *v = y->data;
      CHECK(v[0] == -1 && v[1] == 1 && v[2] == 2 && v[3] == 0);
    }
    sn_tensor_free(y);
    sn_error_free(e);
    const tattr fm = {"fmod", SN_ATTR_INT, 1, 0, NULL};
    y = fold("Mod", 13, 1, &fm, 2, in2, &ot, &e);
    CHECK(!e && y);
    if (y) {
      const int32_t *v = y->data;
      CHECK(v[0] == 1 && v[1] == -1 && v[2] == 2 && v[3] == 0);
    }
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor_free(in2[1]);
    free_all(2, in);
  }
  /* Pow: int64 base, float exponent (types may differ from opset 12) */
  {
    const int64_t d[] = {3};
    const int64_t a[] = {2, 3, -2};
    const float b[] = {3, 2, 3};
    sn_tensor *in[2] = {mk(SINTER_INT64, 1, d, a), mk(SINTER_FLOAT, 1, d, b)};
    sn_tensor *y = fold("Pow", 15, 0, NULL, 2, in, &ot, &e);
    CHECK(!e && y && y->dtype == SINTER_INT64);
    if (y) CHECK(((int64_t *)y->data)[0] == 8 && ((int64_t *)y->data)[1] == 9 && ((int64_t *)y->data)[2] == -8);
    sn_tensor_free(y);
    sn_error_free(e);
    free_all(2, in);
  }
  /* float Pow by a constant 2, 3 or 0.5: x * x (pow's correctly rounded result), x * x * x (as ONNX
   * Runtime computes cubes), sqrt for positive x; pow's own answers where sqrt's differ (-0, -inf) */
  {
    const int64_t d[] = {8}, ds[] = {1};
    const float a[] = {1.1f, -2.3f, 3.7e10f, -0.0f, -INFINITY, 0.3f, 7e-23f, NAN};
    const float ex[] = {2.0f, 3.0f, 0.5f, 1.5f};
    for (int k = 0; k < 4; k++) {
      sn_tensor *in[2] = {mk(SINTER_FLOAT, 1, d, a), mk(SINTER_FLOAT, 1, ds, &ex[k])};
      sn_tensor *y = fold("Pow", 15, 0, NULL, 2, in, &ot, &e);
      CHECK(!e && y && y->count == 8);
      for (int i = 0; y && i < 8; i++) {
        const float x = a[i], got = ((float *)y->data)[i];
        const float want = k == 0 ? x * x : k == 1 ? x * x * x : k == 2 && x > 0 ? sqrtf(x) : powf(x, ex[k]);
        CHECK(memcmp(&got, &want, sizeof got) == 0 || (isnan(got) && isnan(want)));
      }
      sn_tensor_free(y);
      sn_error_free(e);
      e = NULL;
      free_all(2, in);
    }
  }
  /* legacy (opset 6) broadcast with axis: [2,3,2] + [3] at axis 1 */
  {
    const int64_t da[] = {2, 3, 2}, db[] = {3};
    float a[12] = {0};
    const float b[] = {1, 2, 3};
    sn_tensor *in[2] = {mk(SINTER_FLOAT, 3, da, a), mk(SINTER_FLOAT, 1, db, b)};
    const tattr at[2] = {{"broadcast", SN_ATTR_INT, 1, 0, NULL}, {"axis", SN_ATTR_INT, 1, 0, NULL}};
    sn_tensor *y = fold("Add", 6, 2, at, 2, in, &ot, &e);
    CHECK(!e && y && y->count == 12);
    if (y) {
      const float *v = y->data;
      CHECK(v[0] == 1 && v[1] == 1 && v[2] == 2 && v[5] == 3 && v[6] == 1 && v[11] == 3);
    }
    sn_tensor_free(y);
    sn_error_free(e);
    free_all(2, in);
  }
  /* Mean of three with broadcasting, Where with a scalar condition */
  {
    const int64_t d2[] = {2}, d1[] = {1};
    sn_tensor *in[3] = {mk(SINTER_DOUBLE, 1, d2, (double[]){1, 2}), mk(SINTER_DOUBLE, 1, d1, (double[]){4}),
                        mk(SINTER_DOUBLE, 1, d2, (double[]){7, 9})};
    sn_tensor *y = fold("Mean", 13, 0, NULL, 3, in, &ot, &e);
    CHECK(!e && y && y->count == 2);
    if (y) CHECK(((double *)y->data)[0] == 4 && ((double *)y->data)[1] == 5);
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor *w[3] = {mk(SINTER_BOOL, 0, NULL, (uint8_t[]){0}), in[0], in[2]};
    y = fold("Where", 16, 0, NULL, 3, w, &ot, &e);
    CHECK(!e && y && y->count == 2);
    if (y) CHECK(((double *)y->data)[0] == 7 && ((double *)y->data)[1] == 9);
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor_free(w[0]);
    free_all(3, in);
  }
  /* Clip on int8 with both bounds, and min > max gives max */
  {
    const int64_t d[] = {4};
    sn_tensor *in[3] = {mk(SINTER_INT8, 1, d, (int8_t[]){-100, -1, 5, 100}), mk(SINTER_INT8, 0, NULL, (int8_t[]){-2}),
                        mk(SINTER_INT8, 0, NULL, (int8_t[]){6})};
    sn_tensor *y = fold("Clip", 13, 0, NULL, 3, in, &ot, &e);
    CHECK(!e && y);
    if (y) {
      const int8_t *v = y->data;
      CHECK(v[0] == -2 && v[1] == -1 && v[2] == 5 && v[3] == 6);
    }
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor *sw[3] = {in[0], in[2], in[1]};
    y = fold("Clip", 13, 0, NULL, 3, sw, &ot, &e);
    CHECK(!e && y && ((int8_t *)y->data)[1] == -2 && ((int8_t *)y->data)[2] == -2);
    sn_tensor_free(y);
    sn_error_free(e);
    free_all(3, in);
  }
  /* Cast: numbers print like numpy, strings parse, float8 saturates */
  {
    const int64_t d[] = {5};
    sn_tensor *in[1] = {mk(SINTER_FLOAT, 1, d, (float[]){0.1f, 1e16f, 1e-5f, -0.0f, 123456789.0f})};
    const tattr to = {"to", SN_ATTR_INT, SINTER_STRING, 0, NULL};
    sn_tensor *y = fold("Cast", 13, 1, &to, 1, in, &ot, &e);
    CHECK(!e && y && y->dtype == SINTER_STRING);
    if (y) {
      char **s = y->data;
      CHECK(!strcmp(s[0], "0.1") && !strcmp(s[1], "1e+16") && !strcmp(s[2], "1e-05") && !strcmp(s[3], "-0.0") &&
            !strcmp(s[4], "123456790.0"));
    }
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor_free(in[0]);
    const char *strs[] = {"42", " -7 ", "1e3"};
    const int64_t d3[] = {3};
    in[0] = mk(SINTER_STRING, 1, d3, strs);
    const tattr to64 = {"to", SN_ATTR_INT, SINTER_INT64, 0, NULL};
    y = fold("Cast", 13, 1, &to64, 1, in, &ot, &e);
    CHECK(!e && y && ((int64_t *)y->data)[0] == 42 && ((int64_t *)y->data)[1] == -7 && ((int64_t *)y->data)[2] == 1000);
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor_free(in[0]);
    in[0] = mk(SINTER_FLOAT, 1, d3, (float[]){1e6f, -1e6f, 0.5f});
    const tattr f8[2] = {{"to", SN_ATTR_INT, SINTER_FLOAT8E4M3FN, 0, NULL}, {"saturate", SN_ATTR_INT, 1, 0, NULL}};
    y = fold("Cast", 19, 2, f8, 1, in, &ot, &e);
    CHECK(!e && y && ((uint8_t *)y->data)[0] == 0x7e && ((uint8_t *)y->data)[1] == 0xfe && ((uint8_t *)y->data)[2] == 0x30);
    sn_tensor_free(y);
    sn_error_free(e);
    /* legacy Cast-1: `to` is a type name */
    const tattr legacy = {"to", SN_ATTR_STRING, 0, 0, "DOUBLE"};
    y = fold("Cast", 1, 1, &legacy, 1, in, &ot, &e);
    CHECK(!e && y && y->dtype == SINTER_DOUBLE && ((double *)y->data)[2] == 0.5);
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor_free(in[0]);
  }
  /* unary: Round is half to even, IsInf selects signs */
  {
    const int64_t d[] = {4};
    sn_tensor *in[1] = {mk(SINTER_FLOAT, 1, d, (float[]){0.5f, 1.5f, 2.5f, -INFINITY})};
    sn_tensor *y = fold("Round", 11, 0, NULL, 1, in, &ot, &e);
    CHECK(!e && y && ((float *)y->data)[0] == 0 && ((float *)y->data)[1] == 2 && ((float *)y->data)[2] == 2);
    sn_tensor_free(y);
    sn_error_free(e);
    const tattr pos = {"detect_negative", SN_ATTR_INT, 0, 0, NULL};
    y = fold("IsInf", 10, 1, &pos, 1, in, &ot, &e);
    CHECK(!e && y && y->dtype == SINTER_BOOL && ((uint8_t *)y->data)[3] == 0);
    sn_tensor_free(y);
    sn_error_free(e);
    sn_tensor_free(in[0]);
  }
}

int main(void) {
  test_shapes();
  test_iter();
  test_conversions();
  test_kernels();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
