/* Tests the ONNX reader (src/onnx): models built as protobuf bytes in memory by a tiny encoder,
 * loaded and checked in the IR; external data; function inlining; corrupt inputs. With arguments
 * (model.onnx or .pb paths) it loads each one instead and reports failures. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"

static int passed = 0, failed = 0;
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (cond) {                                                                                    \
      passed++;                                                                                    \
    } else {                                                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
      failed++;                                                                                    \
    }                                                                                              \
  } while (0)

/* ---- a tiny protobuf encoder ------------------------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  if (n) memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void varint(buf *b, uint64_t v) {
  do {
    uint8_t c = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) c |= 0x80;
    put(b, &c, 1);
  } while (v);
}
static void tag(buf *b, int field, int wire) { varint(b, (uint64_t)field << 3 | (uint64_t)wire); }
static void f_int(buf *b, int field, int64_t v) {
  tag(b, field, 0);
  varint(b, (uint64_t)v);
}
static void f_bytes(buf *b, int field, const void *d, size_t n) {
  tag(b, field, 2);
  varint(b, n);
  put(b, d, n);
}
static void f_str(buf *b, int field, const char *s) { f_bytes(b, field, s, strlen(s)); }
static void f_float(buf *b, int field, float f) {
  tag(b, field, 5);
  put(b, &f, 4);
}
/* append sub as a length-delimited field and free it */
static void f_msg(buf *b, int field, buf *sub) {
  f_bytes(b, field, sub->p, sub->n);
  free(sub->p);
  memset(sub, 0, sizeof *sub);
}
static void f_packed_varints(buf *b, int field, const int64_t *v, int n) {
  buf t = {0};
  for (int i = 0; i < n; i++) varint(&t, (uint64_t)v[i]);
  f_msg(b, field, &t);
}

/* ---- ONNX message builders --------------------------------------------------------------------- */

/* TensorProto with raw data */
static buf tensor_raw(const char *name, int dt, int rank, const int64_t *dims, const void *raw, size_t n) {
  buf t = {0};
  for (int i = 0; i < rank; i++) f_int(&t, 1, dims[i]);
  f_int(&t, 2, dt);
  if (name) f_str(&t, 8, name);
  f_bytes(&t, 9, raw, n);
  return t;
}

/* ValueInfoProto of a tensor type; dims: >= 0 values, -1 = param from params[i] */
static buf value_info(const char *name, int elem, int rank, const int64_t *dims, const char *const *params) {
  buf vi = {0}, tp = {0}, tt = {0}, shape = {0};
  f_str(&vi, 1, name);
  f_int(&tt, 1, elem);
  if (rank >= 0) {
    for (int i = 0; i < rank; i++) {
      buf d = {0};
      if (dims[i] >= 0)
        f_int(&d, 1, dims[i]);
      else if (params && params[i])
        f_str(&d, 2, params[i]);
      f_msg(&shape, 1, &d);
    }
    f_msg(&tt, 2, &shape);
  }
  f_msg(&tp, 1, &tt);
  f_msg(&vi, 2, &tp);
  return vi;
}

/* NodeProto; ins/outs NULL-terminated; attrs: already-encoded AttributeProtos (NULL-terminated) */
static buf node(const char *op, const char *name, const char *const *ins, const char *const *outs, buf **attrs) {
  buf n = {0};
  for (int i = 0; ins && ins[i]; i++) f_str(&n, 1, ins[i]);
  for (int i = 0; outs && outs[i]; i++) f_str(&n, 2, outs[i]);
  if (name) f_str(&n, 3, name);
  f_str(&n, 4, op);
  for (int i = 0; attrs && attrs[i]; i++) f_msg(&n, 5, attrs[i]);
  return n;
}
static buf attr_int(const char *name, int64_t v) {
  buf a = {0};
  f_str(&a, 1, name);
  f_int(&a, 20, 2);
  f_int(&a, 3, v);
  return a;
}
static buf attr_float(const char *name, float v) {
  buf a = {0};
  f_str(&a, 1, name);
  f_int(&a, 20, 1);
  f_float(&a, 2, v);
  return a;
}
static buf attr_ref(const char *name, const char *ref, int type) {
  buf a = {0};
  f_str(&a, 1, name);
  f_int(&a, 20, type);
  f_str(&a, 21, ref);
  return a;
}
static buf attr_graph(const char *name, buf *g) {
  buf a = {0};
  f_str(&a, 1, name);
  f_int(&a, 20, 5);
  f_msg(&a, 6, g);
  return a;
}
static buf opset(const char *domain, int64_t v) {
  buf o = {0};
  f_str(&o, 1, domain);
  f_int(&o, 2, v);
  return o;
}
/* ModelProto around a graph (consumed); extra: more encoded ModelProto fields appended (may be NULL) */
static buf model(int64_t ir, buf *graph, buf *extra) {
  buf m = {0}, o = opset("", 17), o2 = opset("custom", 1);
  f_int(&m, 1, ir);
  f_str(&m, 2, "test");
  f_msg(&m, 8, &o);
  f_msg(&m, 8, &o2);
  f_msg(&m, 7, graph);
  if (extra) {
    put(&m, extra->p, extra->n);
    free(extra->p);
  }
  return m;
}

/* SN_READER_CORPUS=dir: also write every model built here into dir (fuzzing seeds) */
static void save_seed(const buf *m) {
  static int k = 0;
  const char *dir = getenv("SN_READER_CORPUS");
  if (!dir) return;
  char path[1024];
  snprintf(path, sizeof path, "%s/test_reader_%03d.onnx", dir, k++);
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(m->p, 1, m->n, f);
  fclose(f);
}

static sn_model *load(const buf *m, const char *dir, sn_error **err) {
  sn_model *mo = NULL;
  save_seed(m);
  sn_error *e = sn_onnx_load_bytes(m->p, m->n, dir, &mo);
  if (err)
    *err = e;
  else if (e) {
    fprintf(stderr, "unexpected load error: %s\n", e->msg);
    sn_error_free(e);
  }
  return mo;
}

/* expect an error containing needle */
static void expect_error(const buf *m, const char *dir, const char *needle, int line) {
  sn_error *e = NULL;
  sn_model *mo = load(m, dir, &e);
  if (!e) {
    fprintf(stderr, "line %d: expected an error containing '%s', got success\n", line, needle);
    failed++;
  } else if (!strstr(e->msg, needle)) {
    fprintf(stderr, "line %d: error '%s' lacks '%s'\n", line, e->msg, needle);
    failed++;
  } else {
    passed++;
  }
  sn_error_free(e);
  sn_model_free(mo);
}
#define EXPECT_ERROR(m, dir, needle) expect_error(m, dir, needle, __LINE__)

static int vid(const sn_graph *g, const char *name) { return sn_graph_find(g, name); }
static bool in_bytes(const sn_model *m, const void *p) {
  return (const uint8_t *)p >= m->bytes && (const uint8_t *)p < m->bytes + m->n_bytes;
}

/* ---- tests ----------------------------------------------------------------------------------------- */

/* y = Add(x, w); x: float[N,3], w: initializer float[3] */
static buf add_model(int64_t ir, const char *wname_pad) {
  buf g = {0};
  char wname[64];
  snprintf(wname, sizeof wname, "w");
  const char *ins[] = {"x", wname, NULL}, *outs[] = {"y", NULL};
  buf a1 = attr_int("some_int", 7), a2 = attr_float("some_float", 0.5f);
  buf *attrs[] = {&a1, &a2, NULL};
  buf n = node("Add", "add1", ins, outs, attrs);
  f_msg(&g, 1, &n);
  f_str(&g, 2, "main");
  float w[3] = {1.5f, -2.0f, 3.25f};
  int64_t wd[1] = {3};
  if (wname_pad) f_str(&g, 10, wname_pad); /* doc_string: shifts the raw data's alignment */
  buf t = tensor_raw(wname, 1, 1, wd, w, sizeof w);
  f_msg(&g, 5, &t);
  int64_t xd[2] = {-1, 3};
  const char *xp[2] = {"N", NULL};
  buf x = value_info("x", 1, 2, xd, xp);
  f_msg(&g, 11, &x);
  int64_t yd[2] = {-1, 3};
  buf y = value_info("y", 1, 2, yd, xp);
  f_msg(&g, 12, &y);
  return model(ir, &g, NULL);
}

static void test_basic(void) {
  buf m = add_model(8, NULL);
  sn_model *mo = load(&m, NULL, NULL);
  CHECK(mo != NULL);
  if (mo) {
    sn_graph *g = mo->graph;
    CHECK(mo->ir_version == 8);
    CHECK(!strcmp(mo->producer_name, "test"));
    CHECK(sn_model_opset(mo, "") == 17);
    CHECK(!strcmp(g->name, "main"));
    CHECK(g->n_nodes == 1 && g->n_inputs == 1 && g->n_outputs == 1);
    int x = vid(g, "x"), w = vid(g, "w"), y = vid(g, "y");
    CHECK(x >= 0 && w >= 0 && y >= 0);
    if (x >= 0 && w >= 0 && y >= 0) {
      CHECK(g->values[x].role == SN_VAL_INPUT);
      CHECK(g->values[x].type.dtype == SINTER_FLOAT && g->values[x].type.rank == 2);
      CHECK(g->values[x].type.dims[0].v < 0 && g->values[x].type.dims[0].sym &&
            !strcmp(g->values[x].type.dims[0].sym, "N"));
      CHECK(g->values[x].type.dims[0].sym == g->values[y].type.dims[0].sym); /* interned */
      CHECK(g->values[x].type.dims[1].v == 3);
      CHECK(g->values[w].role == SN_VAL_INITIALIZER && g->values[w].data);
      CHECK(g->values[y].is_output && g->values[y].producer == 0);
      const sn_tensor *wt = g->values[w].data;
      if (wt) {
        CHECK(wt->dtype == SINTER_FLOAT && wt->rank == 1 && wt->dims[0] == 3);
        CHECK(((const float *)wt->data)[2] == 3.25f);
        CHECK(((uintptr_t)wt->data % 4) == 0);
      }
      sn_node *n = &g->nodes[0];
      CHECK(!strcmp(n->op_type, "Add") && !strcmp(n->name, "add1") && !strcmp(n->domain, ""));
      CHECK(n->opset == 17);
      CHECK(n->n_in == 2 && n->in[0] == x && n->in[1] == w);
      CHECK(n->n_out == 1 && n->out[0] == y);
      CHECK(sn_attr_int(n, "some_int", 0) == 7);
      CHECK(sn_attr_float(n, "some_float", 0) == 0.5f);
      /* a float read as an integer converts only within int64's range (the fuzzer's 1.8e34) */
      sn_attr *fa = (sn_attr *)sn_node_attr(n, "some_float");
      if (fa) {
        fa->f = 3.75f;
        CHECK(sn_attr_int(n, "some_float", -1) == 3);
        fa->f = 1.82786e34f;
        CHECK(sn_attr_int(n, "some_float", -1) == -1);
        fa->f = -1.82786e34f;
        CHECK(sn_attr_int(n, "some_float", -1) == -1);
        fa->f = NAN;
        CHECK(sn_attr_int(n, "some_float", -1) == -1);
      }
      CHECK(n->op == NULL);
    }
    sn_model_free(mo);
  }
  /* zero-copy: with some name length the raw data lands aligned and must point into the bytes; with
   * the others it is copied; values are right either way */
  int views = 0, copies = 0;
  for (int pad = 0; pad < 4; pad++) {
    char p[8] = "";
    for (int i = 0; i < pad; i++) p[i] = 'p';
    buf m2 = add_model(8, p);
    mo = load(&m2, NULL, NULL);
    CHECK(mo != NULL);
    if (mo) {
      int w = vid(mo->graph, "w");
      CHECK(w >= 0);
      if (w >= 0) {
        const sn_tensor *t = mo->graph->values[w].data;
        CHECK(((const float *)t->data)[0] == 1.5f && ((uintptr_t)t->data % 4) == 0);
        if (in_bytes(mo, t->data)) {
          CHECK(!t->owns_data);
          views++;
        } else {
          CHECK(t->owns_data);
          copies++;
        }
      }
      sn_model_free(mo);
    }
    free(m2.p);
  }
  if (!(views >= 1 && copies >= 1)) fprintf(stderr, "views %d copies %d\n", views, copies);
  CHECK(views >= 1 && copies >= 1);
  /* IR 3: an initializer also listed as input is an input with a default */
  {
    buf g = {0};
    const char *ins[] = {"x", "w", NULL}, *outs[] = {"y", NULL};
    buf n = node("Add", "a", ins, outs, NULL);
    f_msg(&g, 1, &n);
    float w[2] = {1, 2};
    int64_t d[1] = {2};
    buf t = tensor_raw("w", 1, 1, d, w, sizeof w);
    f_msg(&g, 5, &t);
    buf x = value_info("x", 1, 1, d, NULL), wi = value_info("w", 1, 1, d, NULL), y = value_info("y", 1, 1, d, NULL);
    f_msg(&g, 11, &x);
    f_msg(&g, 11, &wi);
    f_msg(&g, 12, &y);
    buf m3 = model(3, &g, NULL);
    mo = load(&m3, NULL, NULL);
    CHECK(mo != NULL);
    if (mo) {
      int w_ = vid(mo->graph, "w");
      CHECK(mo->graph->n_inputs == 2);
      CHECK(mo->graph->values[w_].role == SN_VAL_INPUT && mo->graph->values[w_].data != NULL);
      sn_model_free(mo);
    }
    free(m3.p);
  }
  free(m.p);
}

/* TensorProto typed fields, 4-bit unpacking, strings, bool, sparse */
static sn_tensor *parse_tensor_bytes(const buf *t, sn_error **err) {
  sn_tensor *out = NULL;
  *err = sn_onnx_read_value_bytes(t->p, t->n, SN_KIND_TENSOR, &out, NULL);
  return out;
}

static void test_tensors(void) {
  sn_error *e;
  sn_tensor *t;
  int64_t d4[1] = {4}, d5[1] = {5}, d23[2] = {2, 3};
  { /* float_data packed */
    buf b = {0};
    f_int(&b, 1, 2);
    f_int(&b, 2, SINTER_FLOAT);
    float v[2] = {1.25f, -7.5f};
    f_bytes(&b, 4, v, sizeof v);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && t->count == 2 && ((float *)t->data)[1] == -7.5f);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
  }
  { /* float_data unpacked, mixed with packed */
    buf b = {0};
    f_int(&b, 1, 3);
    f_int(&b, 2, SINTER_FLOAT);
    f_float(&b, 4, 1.0f);
    float v[2] = {2.0f, 3.0f};
    f_bytes(&b, 4, v, sizeof v);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && t->count == 3 && ((float *)t->data)[0] == 1.0f && ((float *)t->data)[2] == 3.0f);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
  }
  { /* int32_data carrying int8, uint16, float16, bool */
    const int dts[] = {SINTER_INT8, SINTER_UINT16, SINTER_FLOAT16, SINTER_BOOL, SINTER_INT32, SINTER_BFLOAT16};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
      buf b = {0};
      f_int(&b, 1, 4);
      f_int(&b, 2, dts[k]);
      int64_t v[4] = {-3, 0, 0x3c00, 1};
      if (dts[k] == SINTER_UINT16) v[0] = 65535;
      f_packed_varints(&b, 5, v, 4);
      t = parse_tensor_bytes(&b, &e);
      CHECK(!e && t && t->count == 4);
      if (t) {
        if (dts[k] == SINTER_INT8) CHECK(((int8_t *)t->data)[0] == -3);
        if (dts[k] == SINTER_UINT16) CHECK(((uint16_t *)t->data)[0] == 65535);
        if (dts[k] == SINTER_FLOAT16) CHECK(sn_f16_to_f32(((uint16_t *)t->data)[2]) == 1.0f);
        if (dts[k] == SINTER_BOOL) CHECK(((uint8_t *)t->data)[0] == 1 && ((uint8_t *)t->data)[1] == 0);
        if (dts[k] == SINTER_INT32) CHECK(((int32_t *)t->data)[0] == -3);
        if (dts[k] == SINTER_BFLOAT16) CHECK(((uint16_t *)t->data)[2] == 0x3c00);
      }
      sn_tensor_free(t);
      sn_error_free(e);
      free(b.p);
    }
  }
  { /* int64_data, double_data, uint64_data (uint32) */
    buf b = {0};
    f_int(&b, 1, 2);
    f_int(&b, 2, SINTER_INT64);
    int64_t v[2] = {-5, INT64_MAX};
    f_packed_varints(&b, 7, v, 2);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && ((int64_t *)t->data)[0] == -5 && ((int64_t *)t->data)[1] == INT64_MAX);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
    b = (buf){0};
    f_int(&b, 2, SINTER_DOUBLE); /* scalar */
    double dv = 2.5;
    f_bytes(&b, 10, &dv, 8);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && t->rank == 0 && t->count == 1 && ((double *)t->data)[0] == 2.5);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
    b = (buf){0};
    f_int(&b, 1, 2);
    f_int(&b, 2, SINTER_UINT32);
    int64_t uv[2] = {7, 4000000000};
    f_packed_varints(&b, 11, uv, 2);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && ((uint32_t *)t->data)[1] == 4000000000u);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
  }
  { /* strings */
    buf b = {0};
    f_int(&b, 1, 2);
    f_int(&b, 2, SINTER_STRING);
    f_str(&b, 6, "hello");
    f_str(&b, 6, "");
    f_str(&b, 8, "s");
    char *name = NULL;
    t = NULL;
    e = sn_onnx_read_value_bytes(b.p, b.n, -1, &t, &name);
    CHECK(!e && t && t->dtype == SINTER_STRING && t->owns_data);
    if (t) CHECK(!strcmp(((char **)t->data)[0], "hello") && !strcmp(((char **)t->data)[1], ""));
    CHECK(name && !strcmp(name, "s"));
    sn_free(name);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
  }
  { /* int4 raw: 5 elements packed in 3 bytes, low nibble first, sign-extended */
    uint8_t raw[3] = {0x7f /* 15->-1, 7 */, 0x08 /* -8, 0 */, 0x03};
    buf b = tensor_raw("q", SINTER_INT4, 1, d5, raw, 3);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && t->count == 5 && t->nbytes == 5);
    if (t) {
      const int8_t *q = t->data;
      CHECK(q[0] == -1 && q[1] == 7 && q[2] == -8 && q[3] == 0 && q[4] == 3);
    }
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
    b = tensor_raw("q", SINTER_UINT4, 1, d5, raw, 3);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && ((uint8_t *)t->data)[0] == 15 && ((uint8_t *)t->data)[2] == 8);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
    /* wrong packed size */
    b = tensor_raw("q", SINTER_INT4, 1, d5, raw, 2);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && !t && strstr(e->msg, "raw_data has 2 bytes, expected 3"));
    sn_error_free(e);
    free(b.p);
    /* int4 via int32_data: two per value */
    b = (buf){0};
    f_int(&b, 1, 4);
    f_int(&b, 2, SINTER_INT4);
    int64_t v[2] = {0x9f, 0x21};
    f_packed_varints(&b, 5, v, 2);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && t->count == 4);
    if (t) {
      const int8_t *q = t->data;
      CHECK(q[0] == -1 && q[1] == -7 && q[2] == 1 && q[3] == 2);
    }
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
  }
  { /* bool raw with a 2 normalized to 1 */
    uint8_t raw[4] = {0, 1, 2, 0};
    buf b = tensor_raw("b", SINTER_BOOL, 1, d4, raw, 4);
    t = parse_tensor_bytes(&b, &e);
    CHECK(!e && t && ((uint8_t *)t->data)[2] == 1);
    sn_tensor_free(t);
    sn_error_free(e);
    free(b.p);
  }
  { /* size mismatch message */
    float raw[3] = {0};
    buf b = tensor_raw("w", SINTER_FLOAT, 2, d23, raw, 12);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && strstr(e->msg, "tensor 'w': raw_data has 12 bytes, expected 24 for float32[2,3]"));
    sn_error_free(e);
    free(b.p);
  }
  { /* negative dims, overflowing dims, bad dtype, no data, segment, both raw and typed */
    int64_t neg[2] = {2, -1}, huge[3] = {INT64_MAX / 2, 4, 4};
    float raw[2] = {0};
    buf b = tensor_raw("n", SINTER_FLOAT, 2, neg, raw, 8);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && strstr(e->msg, "negative dimension"));
    sn_error_free(e);
    free(b.p);
    b = tensor_raw("h", SINTER_FLOAT, 3, huge, raw, 8);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && strstr(e->msg, "overflowing"));
    sn_error_free(e);
    free(b.p);
    b = tensor_raw("d", 99, 1, d4, raw, 8);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && strstr(e->msg, "unsupported data_type 99"));
    sn_error_free(e);
    free(b.p);
    b = (buf){0};
    f_int(&b, 1, 1000000000);
    f_int(&b, 2, SINTER_FLOAT);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && strstr(e->msg, "no data"));
    sn_error_free(e);
    free(b.p);
    b = tensor_raw("x", SINTER_FLOAT, 1, d4, raw, 8);
    buf seg = {0};
    f_int(&seg, 1, 0);
    f_msg(&b, 3, &seg);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && strstr(e->msg, "segment"));
    sn_error_free(e);
    free(b.p);
    b = (buf){0};
    f_int(&b, 1, 1000);
    f_int(&b, 1, 1000);
    f_int(&b, 2, SINTER_FLOAT);
    f_float(&b, 4, 1.0f);
    t = parse_tensor_bytes(&b, &e);
    CHECK(e && strstr(e->msg, "float_data has 1 values, expected"));
    sn_error_free(e);
    free(b.p);
  }
}

static void test_sequences(void) {
  sn_error *e;
  sn_tensor *t = NULL;
  char *name = NULL;
  float v[2] = {1, 2};
  int64_t d2[1] = {2};
  buf s = {0}, i1 = tensor_raw(NULL, 1, 1, d2, v, 8), i2 = tensor_raw(NULL, 1, 1, d2, v, 8);
  f_str(&s, 1, "seq");
  f_int(&s, 2, 1);
  f_msg(&s, 3, &i1);
  f_msg(&s, 3, &i2);
  e = sn_onnx_read_value_bytes(s.p, s.n, -1, &t, &name);
  CHECK(!e && t && t->kind == SN_KIND_SEQUENCE && t->n_items == 2 && t->dtype == SINTER_FLOAT);
  CHECK(name && !strcmp(name, "seq"));
  sn_tensor_free(t);
  sn_free(name);
  sn_error_free(e);
  e = sn_onnx_read_value_bytes(s.p, s.n, SN_KIND_SEQUENCE, &t, NULL);
  CHECK(!e && t && t->n_items == 2);
  sn_tensor_free(t);
  sn_error_free(e);
  free(s.p);
  /* optional with a tensor (needs the hint: a one-tensor optional looks like a one-item sequence) */
  buf o = {0}, i3 = tensor_raw(NULL, 1, 1, d2, v, 8);
  f_str(&o, 1, "opt");
  f_int(&o, 2, 1);
  f_msg(&o, 3, &i3);
  e = sn_onnx_read_value_bytes(o.p, o.n, SN_KIND_OPTIONAL, &t, NULL);
  CHECK(!e && t && t->kind == SN_KIND_OPTIONAL && t->n_items == 1 && t->items[0]->kind == SN_KIND_TENSOR);
  sn_tensor_free(t);
  sn_error_free(e);
  free(o.p);
  /* empty optional: guessed */
  o = (buf){0};
  f_str(&o, 1, "none");
  f_int(&o, 2, 0);
  e = sn_onnx_read_value_bytes(o.p, o.n, -1, &t, NULL);
  CHECK(!e && t && t->kind == SN_KIND_OPTIONAL && t->n_items == 0);
  sn_tensor_free(t);
  sn_error_free(e);
  free(o.p);
}

/* If whose branches read the outer value x; Loop body containing an If that reads outer-outer w */
static void test_subgraphs(void) {
  int64_t d1[1] = {1};
  /* then: out_t = Identity(x) (captures x); else: out_e = Neg(x) */
  buf then_g = {0}, else_g = {0};
  const char *x_[] = {"x", NULL}, *ot[] = {"out_t", NULL}, *oe[] = {"out_e", NULL};
  buf n1 = node("Identity", "id", x_, ot, NULL), n2 = node("Neg", "neg", x_, oe, NULL);
  f_msg(&then_g, 1, &n1);
  f_str(&then_g, 2, "then");
  buf vo = value_info("out_t", 1, 1, d1, NULL);
  f_msg(&then_g, 12, &vo);
  f_msg(&else_g, 1, &n2);
  f_str(&else_g, 2, "else");
  vo = value_info("out_e", 1, 1, d1, NULL);
  f_msg(&else_g, 12, &vo);
  buf at = attr_graph("then_branch", &then_g), ae = attr_graph("else_branch", &else_g);
  buf *attrs[] = {&at, &ae, NULL};
  const char *if_in[] = {"cond", NULL}, *if_out[] = {"y", NULL};
  buf g = {0};
  /* x produced after the If in file order: the reader must not depend on order */
  buf nif = node("If", "if1", if_in, if_out, attrs);
  f_msg(&g, 1, &nif);
  const char *rin[] = {"r", NULL};
  buf nx = node("Relu", "relu", rin, x_, NULL);
  f_msg(&g, 1, &nx);
  buf ci = value_info("cond", 9, 0, NULL, NULL), ri = value_info("r", 1, 1, d1, NULL),
      yo = value_info("y", 1, 1, d1, NULL);
  f_msg(&g, 11, &ci);
  f_msg(&g, 11, &ri);
  f_msg(&g, 12, &yo);
  buf m = model(8, &g, NULL);
  sn_model *mo = load(&m, NULL, NULL);
  CHECK(mo != NULL);
  if (mo) {
    sn_graph *G = mo->graph;
    CHECK(G->n_nodes == 2);
    /* toposorted: Relu first */
    CHECK(!strcmp(G->nodes[0].op_type, "Relu") && !strcmp(G->nodes[1].op_type, "If"));
    sn_node *ifn = &G->nodes[1];
    int x = vid(G, "x");
    CHECK(ifn->n_captures == 1 && ifn->captures[0] == x); /* deduplicated across branches */
    const sn_attr *a = sn_node_attr(ifn, "then_branch");
    CHECK(a && a->type == SN_ATTR_GRAPH && a->g);
    if (a && a->g) {
      sn_graph *tg = a->g;
      CHECK(tg->parent == G && !strcmp(tg->name, "then"));
      int cx = vid(tg, "x");
      CHECK(cx >= 0 && tg->values[cx].role == SN_VAL_CAPTURE && tg->values[cx].outer == x);
      CHECK(tg->n_outputs == 1 && tg->values[tg->outputs[0]].is_output);
    }
    sn_model_free(mo);
  }
  free(m.p);

  /* two levels: Loop body -> If branch reads 'w' from the main graph */
  buf br = {0};
  const char *w_[] = {"w", NULL}, *bo[] = {"b_out", NULL};
  buf nb = node("Identity", "inner", w_, bo, NULL);
  f_msg(&br, 1, &nb);
  vo = value_info("b_out", 1, 1, d1, NULL);
  f_msg(&br, 12, &vo);
  buf br2 = {0};
  buf nb2 = node("Identity", "inner2", w_, bo, NULL);
  f_msg(&br2, 1, &nb2);
  vo = value_info("b_out", 1, 1, d1, NULL);
  f_msg(&br2, 12, &vo);
  buf a1 = attr_graph("then_branch", &br), a2 = attr_graph("else_branch", &br2);
  buf *ifattrs[] = {&a1, &a2, NULL};
  buf body = {0};
  const char *ifin[] = {"c_in", NULL}, *ifo[] = {"v", NULL};
  buf nif2 = node("If", "inner_if", ifin, ifo, ifattrs);
  f_msg(&body, 1, &nif2);
  const char *idin[] = {"c_in", NULL}, *idout[] = {"c_out", NULL};
  buf nid = node("Identity", "cid", idin, idout, NULL);
  f_msg(&body, 1, &nid);
  buf bi0 = value_info("iter", 7, 0, NULL, NULL), bi1 = value_info("c_in", 9, 0, NULL, NULL),
      bo0 = value_info("c_out", 9, 0, NULL, NULL), bo1 = value_info("v", 1, 1, d1, NULL);
  f_msg(&body, 11, &bi0);
  f_msg(&body, 11, &bi1);
  f_msg(&body, 12, &bo0);
  f_msg(&body, 12, &bo1);
  buf ab = attr_graph("body", &body);
  buf *lattrs[] = {&ab, NULL};
  buf g2 = {0};
  const char *lin[] = {"M", "cond", NULL}, *lout[] = {"vs", NULL};
  buf nl = node("Loop", "loop", lin, lout, lattrs);
  f_msg(&g2, 1, &nl);
  float wv = 1;
  buf wt = tensor_raw("w", 1, 1, d1, &wv, 4);
  f_msg(&g2, 5, &wt);
  buf mi = value_info("M", 7, 0, NULL, NULL), ci2 = value_info("cond", 9, 0, NULL, NULL), vs = value_info("vs", 1, -1, NULL, NULL);
  f_msg(&g2, 11, &mi);
  f_msg(&g2, 11, &ci2);
  f_msg(&g2, 12, &vs);
  m = model(8, &g2, NULL);
  mo = load(&m, NULL, NULL);
  CHECK(mo != NULL);
  if (mo) {
    sn_graph *G = mo->graph;
    int w = vid(G, "w");
    sn_node *loop = &G->nodes[0];
    CHECK(loop->n_captures == 1 && loop->captures[0] == w);
    sn_graph *bg = sn_node_attr(loop, "body")->g;
    int bw = vid(bg, "w");
    CHECK(bw >= 0 && bg->values[bw].role == SN_VAL_CAPTURE && bg->values[bw].outer == w);
    CHECK(bg->n_inputs == 2 && bg->n_outputs == 2);
    int ifi = -1;
    for (int i = 0; i < bg->n_nodes; i++)
      if (!strcmp(bg->nodes[i].op_type, "If")) ifi = i;
    CHECK(ifi >= 0);
    if (ifi >= 0) {
      CHECK(bg->nodes[ifi].n_captures == 1 && bg->nodes[ifi].captures[0] == bw);
      sn_graph *tg = sn_node_attr(&bg->nodes[ifi], "then_branch")->g;
      int tw = vid(tg, "w");
      CHECK(tw >= 0 && tg->values[tw].role == SN_VAL_CAPTURE && tg->values[tw].outer == bw);
    }
    sn_model_free(mo);
  }
  free(m.p);
}

static void test_errors(void) {
  int64_t d1[1] = {1};
  { /* unknown input name */
    buf g = {0};
    const char *ins[] = {"x", "nope", NULL}, *outs[] = {"y", NULL};
    buf n = node("Add", "conv1", ins, outs, NULL);
    f_msg(&g, 1, &n);
    buf x = value_info("x", 1, 1, d1, NULL), y = value_info("y", 1, 1, d1, NULL);
    f_msg(&g, 11, &x);
    f_msg(&g, 12, &y);
    buf m = model(8, &g, NULL);
    EXPECT_ERROR(&m, NULL,
                 "<memory>: node 'conv1' (Add): input 'nope' is not produced by any node and is not a graph input or "
                 "initializer");
    free(m.p);
  }
  { /* output produced twice, output shadowing an input, unknown domain, cycle */
    buf g = {0};
    const char *ins[] = {"x", NULL}, *outs[] = {"y", NULL};
    buf n1 = node("Relu", "a", ins, outs, NULL), n2 = node("Neg", "b", ins, outs, NULL);
    f_msg(&g, 1, &n1);
    f_msg(&g, 1, &n2);
    buf x = value_info("x", 1, 1, d1, NULL), y = value_info("y", 1, 1, d1, NULL);
    f_msg(&g, 11, &x);
    f_msg(&g, 12, &y);
    buf m = model(8, &g, NULL);
    EXPECT_ERROR(&m, NULL, "node 'b' (Neg): output 'y' is already produced by node 'a' (Relu)");
    free(m.p);

    g = (buf){0};
    n1 = node("Relu", "a", ins, ins, NULL);
    f_msg(&g, 1, &n1);
    x = value_info("x", 1, 1, d1, NULL);
    f_msg(&g, 11, &x);
    m = model(8, &g, NULL);
    EXPECT_ERROR(&m, NULL, "output 'x' is already a graph input");
    free(m.p);

    g = (buf){0};
    n1 = (buf){0};
    f_str(&n1, 1, "x");
    f_str(&n1, 2, "y");
    f_str(&n1, 4, "Foo");
    f_str(&n1, 7, "com.nowhere");
    f_msg(&g, 1, &n1);
    x = value_info("x", 1, 1, d1, NULL);
    f_msg(&g, 11, &x);
    m = model(8, &g, NULL);
    EXPECT_ERROR(&m, NULL, "node #0 (com.nowhere:Foo): domain 'com.nowhere' is not in the model's opset_import");
    free(m.p);

    g = (buf){0};
    const char *ab[] = {"a", NULL}, *bb[] = {"b", NULL};
    n1 = node("Relu", "r1", ab, bb, NULL);
    n2 = node("Relu", "r2", bb, ab, NULL);
    f_msg(&g, 1, &n1);
    f_msg(&g, 1, &n2);
    m = model(8, &g, NULL);
    EXPECT_ERROR(&m, NULL, "cycle");
    free(m.p);
  }
  { /* IR version, no graph, not protobuf */
    buf m = add_model(2, NULL);
    EXPECT_ERROR(&m, NULL, "IR version 2 is not supported");
    free(m.p);
    m = (buf){0};
    f_int(&m, 1, 8);
    EXPECT_ERROR(&m, NULL, "no graph");
    free(m.p);
    m = (buf){0};
    put(&m, "hello world, this is not a model", 32);
    sn_error *e = NULL;
    sn_model *mo = load(&m, NULL, &e);
    CHECK(mo == NULL && e != NULL);
    sn_error_free(e);
    free(m.p);
  }
  { /* wire-level errors with a path */
    buf m = add_model(8, NULL);
    sn_error *e = NULL;
    sn_model *mo = NULL;
    e = sn_onnx_load_bytes(m.p, m.n - 3, NULL, &mo);
    CHECK(e && strstr(e->msg, "runs past the end of its message) in ModelProto at byte"));
    sn_error_free(e);
    e = sn_onnx_load_bytes(m.p, 1, NULL, &mo);
    CHECK(e && strstr(e->msg, "truncated protobuf in ModelProto at byte 1"));
    sn_error_free(e);
    /* varint of 11 bytes */
    buf v = {0};
    uint8_t bad[12] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    put(&v, bad, sizeof bad);
    EXPECT_ERROR(&v, NULL, "varint longer than 10 bytes");
    free(v.p);
    /* group wire type */
    v = (buf){0};
    f_int(&v, 1, 8);
    tag(&v, 9, 3);
    EXPECT_ERROR(&v, NULL, "group");
    free(v.p);
    /* length past the end */
    v = (buf){0};
    f_int(&v, 1, 8);
    tag(&v, 7, 2);
    varint(&v, 1000);
    EXPECT_ERROR(&v, NULL, "runs past the end");
    free(v.p);
    /* truncated inside a node: path names it */
    buf g = {0};
    const char *ins[] = {"x", NULL}, *outs[] = {"y", NULL};
    buf n0 = node("Relu", "r0", ins, outs, NULL);
    f_msg(&g, 1, &n0);
    buf n = {0};
    f_str(&n, 4, "Relu");
    tag(&n, 3, 2);
    varint(&n, 50); /* name length past the node's end */
    f_msg(&g, 1, &n);
    buf x = value_info("x", 1, 1, d1, NULL);
    f_msg(&g, 11, &x);
    buf mm = model(8, &g, NULL);
    EXPECT_ERROR(&mm, NULL, "in ModelProto.graph.node[1] at byte");
    free(mm.p);
    /* every prefix and many single-byte corruptions: errors or success, never a crash */
    for (size_t len = 0; len < m.n; len++) {
      mo = NULL;
      e = sn_onnx_load_bytes(m.p, len, NULL, &mo);
      CHECK((e == NULL) != (mo == NULL));
      sn_error_free(e);
      sn_model_free(mo);
    }
    for (size_t i = 0; i < m.n; i++)
      for (int k = 0; k < 8; k++) {
        uint8_t save = m.p[i];
        m.p[i] = (uint8_t)(save ^ (1u << k));
        mo = NULL;
        e = sn_onnx_load_bytes(m.p, m.n, NULL, &mo);
        if ((e == NULL) == (mo == NULL)) CHECK(!"exactly one of error/model");
        sn_error_free(e);
        sn_model_free(mo);
        m.p[i] = save;
      }
    passed++;
    free(m.p);
  }
  { /* deeply nested subgraphs */
    buf inner = {0};
    for (int depth = 0; depth < 40; depth++) {
      buf g = {0};
      if (depth) {
        buf a = attr_graph("then_branch", &inner);
        buf *attrs[] = {&a, NULL};
        const char *ins[] = {"c", NULL}, *outs[] = {"o", NULL};
        buf n = node("If", "if", ins, outs, attrs);
        f_msg(&g, 1, &n);
      }
      buf ci = value_info("c", 9, 0, NULL, NULL);
      f_msg(&g, 11, &ci);
      inner = g;
    }
    buf m = model(8, &inner, NULL);
    EXPECT_ERROR(&m, NULL, "nested more than");
    free(m.p);
  }
}

/* ---- external data ---------------------------------------------------------------------------------- */

static buf ext_model(const char *location, int64_t offset, int64_t length) {
  buf g = {0}, t = {0};
  int64_t d[1] = {4};
  f_int(&t, 1, d[0]);
  f_int(&t, 2, SINTER_FLOAT);
  f_str(&t, 8, "w");
  buf kv = {0};
  f_str(&kv, 1, "location");
  f_str(&kv, 2, location);
  f_msg(&t, 13, &kv);
  char num[32];
  if (offset >= 0) {
    kv = (buf){0};
    f_str(&kv, 1, "offset");
    snprintf(num, sizeof num, "%lld", (long long)offset);
    f_str(&kv, 2, num);
    f_msg(&t, 13, &kv);
  }
  if (length >= 0) {
    kv = (buf){0};
    f_str(&kv, 1, "length");
    snprintf(num, sizeof num, "%lld", (long long)length);
    f_str(&kv, 2, num);
    f_msg(&t, 13, &kv);
  }
  f_int(&t, 14, 1);
  f_msg(&g, 5, &t);
  const char *ins[] = {"w", NULL}, *outs[] = {"y", NULL};
  buf n = node("Relu", "r", ins, outs, NULL);
  f_msg(&g, 1, &n);
  buf y = value_info("y", 1, 1, d, NULL);
  f_msg(&g, 12, &y);
  return model(8, &g, NULL);
}

static void write_file(const char *path, const void *d, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(d, 1, n, f);
  fclose(f);
}

static void test_external(void) {
  char tmpl[] = "/tmp/sn_reader_XXXXXX";
  char *dir = mkdtemp(tmpl);
  CHECK(dir != NULL);
  if (!dir) return;
  char path[512], sub[512], outside[512], link[512];
  float data[6] = {0, 0, 1.5f, 2.5f, 3.5f, 4.5f}; /* w at offset 8 */
  snprintf(path, sizeof path, "%s/weights.bin", dir);
  write_file(path, data, sizeof data);
  snprintf(sub, sizeof sub, "%s/sub", dir);
  mkdir(sub, 0700);
  snprintf(path, sizeof path, "%s/sub/w2.bin", dir);
  write_file(path, data + 2, 16);
  snprintf(outside, sizeof outside, "%s_outside.bin", dir);
  write_file(outside, data + 2, 16);
  snprintf(link, sizeof link, "%s/link.bin", dir);
  if (symlink(outside, link) != 0) perror("symlink");
  snprintf(path, sizeof path, "%s/sublink", dir);
  if (symlink("/tmp", path) != 0) perror("symlink");

  buf m = ext_model("weights.bin", 8, 16);
  sn_model *mo = load(&m, dir, NULL);
  CHECK(mo != NULL);
  if (mo) {
    int w = vid(mo->graph, "w");
    const sn_tensor *t = mo->graph->values[w].data;
    CHECK(t && ((const float *)t->data)[0] == 1.5f && ((const float *)t->data)[3] == 4.5f);
    CHECK(mo->n_maps == 1 && t && (const uint8_t *)t->data == (const uint8_t *)mo->maps[0] + 8 && !t->owns_data);
    sn_model_free(mo);
  }
  free(m.p);
  m = ext_model("sub/w2.bin", -1, -1); /* whole file */
  mo = load(&m, dir, NULL);
  CHECK(mo != NULL);
  sn_model_free(mo);
  free(m.p);
  m = ext_model("./weights.bin", 4, 16); /* unaligned for no reason: fine, copied or viewed */
  mo = load(&m, dir, NULL);
  CHECK(mo != NULL);
  if (mo) CHECK(((const float *)mo->graph->values[vid(mo->graph, "w")].data->data)[0] == 0.0f);
  sn_model_free(mo);
  free(m.p);

  m = ext_model("../weights.bin", 8, 16);
  EXPECT_ERROR(&m, dir, "'..'");
  free(m.p);
  m = ext_model("sub/../../x.bin", 8, 16);
  EXPECT_ERROR(&m, dir, "'..'");
  free(m.p);
  m = ext_model(outside, 0, 16);
  EXPECT_ERROR(&m, dir, "absolute path");
  free(m.p);
  m = ext_model("link.bin", 0, 16);
  EXPECT_ERROR(&m, dir, "symbolic link");
  free(m.p);
  m = ext_model("sublink/x", 0, 16);
  EXPECT_ERROR(&m, dir, "");
  free(m.p);
  snprintf(path, sizeof path, "sublink/%s", strrchr(outside, '/') + 1);
  m = ext_model(path, 0, 16);
  EXPECT_ERROR(&m, dir, "outside the model folder");
  free(m.p);
  m = ext_model("weights.bin", 16, 16);
  EXPECT_ERROR(&m, dir, "is outside 'weights.bin'");
  free(m.p);
  m = ext_model("weights.bin", 0, 12);
  EXPECT_ERROR(&m, dir, "has 12 bytes, expected 16");
  free(m.p);
  m = ext_model("missing.bin", 0, 16);
  EXPECT_ERROR(&m, dir, "not found");
  free(m.p);
  m = ext_model("weights.bin", 8, 16);
  EXPECT_ERROR(&m, NULL, "loaded from memory without a folder");
  /* from a file: dir is the file's folder */
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  write_file(path, m.p, m.n);
  mo = NULL;
  sn_error *e = sn_onnx_load_file(path, &mo);
  CHECK(!e && mo && mo->bytes_mapped && !strcmp(mo->dir, dir) && !strcmp(mo->path, path));
  sn_error_free(e);
  sn_model_free(mo);
  free(m.p);
  e = sn_onnx_load_file("/nonexistent/model.onnx", &mo);
  CHECK(e && e->code == SINTER_ERR_NO_SUCH_FILE && strstr(e->msg, "/nonexistent/model.onnx"));
  sn_error_free(e);

  /* cleanup */
  const char *names[] = {"weights.bin", "sub/w2.bin", "link.bin", "sublink", "model.onnx"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(sub);
  unlink(outside);
  rmdir(dir);
}

/* ---- functions -------------------------------------------------------------------------------------- */

/* custom.Scaled(a, b) -> c with attribute alpha (default 0.25): t = Mul(a, b); c = LeakyRelu(t, alpha=@alpha)
 * custom.Twice(a) -> c: t = Scaled(a, a); c = Scaled(t, t) with alpha=@alpha */
static buf functions_field(bool recursive) {
  buf out = {0};
  {
    buf f = {0};
    f_str(&f, 1, "Scaled");
    f_str(&f, 10, "custom");
    f_str(&f, 4, "a");
    f_str(&f, 4, "b");
    f_str(&f, 5, "c");
    f_str(&f, 6, "alpha");
    const char *ab[] = {"a", "b", NULL}, *t[] = {"t", NULL}, *tt[] = {"t", NULL}, *c[] = {"c", NULL};
    buf n1 = node("Mul", NULL, ab, t, NULL);
    buf r = attr_ref("alpha", "alpha", 1);
    buf *attrs[] = {&r, NULL};
    buf n2 = node(recursive ? "Scaled" : "LeakyRelu", "lr", tt, c, attrs);
    if (recursive) f_str(&n2, 7, "custom");
    f_msg(&f, 7, &n1);
    f_msg(&f, 7, &n2);
    buf def = attr_float("alpha", 0.25f);
    f_msg(&f, 11, &def);
    buf o = opset("", 13);
    f_msg(&f, 9, &o);
    f_msg(&out, 25, &f);
  }
  {
    buf f = {0};
    f_str(&f, 1, "Twice");
    f_str(&f, 10, "custom");
    f_str(&f, 4, "a");
    f_str(&f, 5, "c");
    f_str(&f, 6, "alpha");
    const char *aa[] = {"a", "a", NULL}, *t[] = {"t", NULL}, *tt[] = {"t", "t", NULL}, *c[] = {"c", NULL};
    buf n1 = node("Scaled", "s1", aa, t, NULL);
    f_str(&n1, 7, "custom");
    buf r = attr_ref("alpha", "alpha", 1);
    buf *attrs[] = {&r, NULL};
    buf n2 = node("Scaled", "s2", tt, c, attrs);
    f_str(&n2, 7, "custom");
    f_msg(&f, 7, &n1);
    f_msg(&f, 7, &n2);
    f_msg(&out, 25, &f);
  }
  return out;
}

static void test_functions(void) {
  int64_t d1[1] = {2};
  buf g = {0};
  const char *xy[] = {"x", "y", NULL}, *t[] = {"t", NULL}, *x_[] = {"x", NULL}, *z[] = {"z", NULL};
  buf al = attr_float("alpha", 0.1f);
  buf *attrs[] = {&al, NULL};
  buf c1 = node("Scaled", "call1", xy, t, attrs); /* alpha given */
  f_str(&c1, 7, "custom");
  buf c2 = node("Twice", "call2", x_, z, NULL); /* inner calls: default alpha, then ref to missing */
  f_str(&c2, 7, "custom");
  f_msg(&g, 1, &c1);
  f_msg(&g, 1, &c2);
  buf xi = value_info("x", 1, 1, d1, NULL), yi = value_info("y", 1, 1, d1, NULL), to = value_info("t", 1, 1, d1, NULL),
      zo = value_info("z", 1, 1, d1, NULL);
  f_msg(&g, 11, &xi);
  f_msg(&g, 11, &yi);
  f_msg(&g, 12, &to);
  f_msg(&g, 12, &zo);
  buf fns = functions_field(false);
  buf m = model(8, &g, &fns);
  sn_model *mo = load(&m, NULL, NULL);
  CHECK(mo != NULL);
  if (mo) {
    sn_graph *G = mo->graph;
    CHECK(mo->n_functions == 2 && !strcmp(mo->functions[0].name, "Scaled") && mo->functions[0].n_inputs == 2);
    CHECK(mo->functions[0].n_attr_defaults == 1 && mo->functions[0].attr_defaults[0].f == 0.25f);
    /* call1: 2 nodes; call2: 2 calls x 2 nodes */
    CHECK(G->n_nodes == 6);
    int n_mul = 0, n_lr = 0;
    for (int i = 0; i < G->n_nodes; i++) {
      sn_node *n = &G->nodes[i];
      CHECK(strcmp(n->op_type, "Scaled") && strcmp(n->op_type, "Twice"));
      if (!strcmp(n->op_type, "Mul")) n_mul++;
      if (!strcmp(n->op_type, "LeakyRelu")) {
        n_lr++;
        const sn_attr *a = sn_node_attr(n, "alpha");
        if (!strncmp(n->name, "call1/", 6)) CHECK(a && a->f == 0.1f);
        if (!strcmp(n->name, "call2/s1/lr")) CHECK(a && a->f == 0.25f); /* default */
        if (!strcmp(n->name, "call2/s2/lr")) CHECK(a && a->f == 0.25f); /* ref to missing -> default */
      }
      CHECK(n->opset == 17);
    }
    CHECK(n_mul == 3 && n_lr == 3);
    /* the call's output names are the caller's */
    int tv = vid(G, "t"), zv = vid(G, "z"), xv = vid(G, "x");
    CHECK(tv >= 0 && G->values[tv].producer >= 0 && !strcmp(G->nodes[G->values[tv].producer].op_type, "LeakyRelu"));
    CHECK(zv >= 0 && G->values[zv].producer >= 0);
    /* the first Mul of call2 reads x twice */
    for (int i = 0; i < G->n_nodes; i++)
      if (!strcmp(G->nodes[i].name, "call2/s1/Mul")) CHECK(G->nodes[i].in[0] == xv && G->nodes[i].in[1] == xv);
    sn_model_free(mo);
  }
  free(m.p);
  /* recursion is refused */
  g = (buf){0};
  c1 = node("Scaled", "call1", xy, t, NULL);
  f_str(&c1, 7, "custom");
  f_msg(&g, 1, &c1);
  xi = value_info("x", 1, 1, d1, NULL);
  yi = value_info("y", 1, 1, d1, NULL);
  f_msg(&g, 11, &xi);
  f_msg(&g, 11, &yi);
  fns = functions_field(true);
  m = model(8, &g, &fns);
  EXPECT_ERROR(&m, NULL, "calls deep");
  free(m.p);
}

/* ---- sparse initializer ----------------------------------------------------------------------------- */

static void test_sparse(void) {
  buf g = {0}, sp = {0};
  int64_t vd[1] = {2}, id[2] = {2, 2};
  float vals[2] = {5, 7};
  int64_t idx[4] = {0, 1, 2, 2};
  buf v = tensor_raw("s", SINTER_FLOAT, 1, vd, vals, sizeof vals);
  buf i = tensor_raw("s_idx", SINTER_INT64, 2, id, idx, sizeof idx);
  f_msg(&sp, 1, &v);
  f_msg(&sp, 2, &i);
  f_int(&sp, 3, 3);
  f_int(&sp, 3, 3);
  f_msg(&g, 15, &sp);
  const char *ins[] = {"s", NULL}, *outs[] = {"y", NULL};
  buf n = node("Relu", "r", ins, outs, NULL);
  f_msg(&g, 1, &n);
  buf m = model(8, &g, NULL);
  sn_model *mo = load(&m, NULL, NULL);
  CHECK(mo != NULL);
  if (mo) {
    int s = vid(mo->graph, "s");
    const sn_tensor *t = s >= 0 ? mo->graph->values[s].data : NULL;
    CHECK(t && t->count == 9 && ((float *)t->data)[1] == 5 && ((float *)t->data)[8] == 7 && ((float *)t->data)[0] == 0);
    sn_model_free(mo);
  }
  free(m.p);
}

/* attribute kinds not covered above: strings, tensors, type protos, sparse tensor, untyped (old IR) */
static void test_attrs(void) {
  int64_t d2[1] = {2};
  float v[2] = {1, 2};
  buf a_strs = {0}, a_ts = {0}, a_tp = {0}, a_sp = {0}, a_old = {0}, a_s = {0}, a_fl = {0};
  f_str(&a_strs, 1, "strs");
  f_int(&a_strs, 20, 8);
  f_str(&a_strs, 9, "a");
  f_bytes(&a_strs, 9, "b\0c", 3);
  f_str(&a_ts, 1, "ts");
  f_int(&a_ts, 20, 9);
  buf t1 = tensor_raw(NULL, 1, 1, d2, v, 8), t2 = tensor_raw(NULL, 1, 1, d2, v, 8);
  f_msg(&a_ts, 10, &t1);
  f_msg(&a_ts, 10, &t2);
  f_str(&a_tp, 1, "tps");
  f_int(&a_tp, 20, 14);
  { /* seq(tensor(float)[2]) and optional(tensor(int64)) */
    buf vi = value_info("unused", 1, 1, d2, NULL);
    /* reuse value_info's TypeProto: field 2 of the ValueInfoProto */
    sn_pb r = sn_pb_init(vi.p, vi.p, vi.n);
    sn_pb_field f;
    while (sn_pb_next(&r, &f) > 0)
      if (f.num == 2) {
        buf seq = {0}, tp = {0};
        f_bytes(&seq, 1, f.data, f.len);
        f_msg(&tp, 4, &seq);
        f_msg(&a_tp, 15, &tp);
      }
    free(vi.p);
    buf tt = {0}, opt = {0}, tp2 = {0}, inner = {0};
    f_int(&tt, 1, SINTER_INT64);
    f_msg(&inner, 1, &tt);
    f_msg(&opt, 1, &inner);
    f_msg(&tp2, 9, &opt);
    f_msg(&a_tp, 15, &tp2);
  }
  { /* sparse tensor [2,2] with one value at linear index 3 */
    buf sp = {0}, sv = {0}, si = {0};
    int64_t one[1] = {1}, idx[1] = {3};
    float val = 9;
    sv = tensor_raw(NULL, 1, 1, one, &val, 4);
    si = tensor_raw(NULL, SINTER_INT64, 1, one, idx, 8);
    f_msg(&sp, 1, &sv);
    f_msg(&sp, 2, &si);
    f_int(&sp, 3, 2);
    f_int(&sp, 3, 2);
    f_str(&a_sp, 1, "sparse_value");
    f_int(&a_sp, 20, 11);
    f_msg(&a_sp, 22, &sp);
  }
  f_str(&a_old, 1, "old"); /* no type field: inferred from the value present */
  f_int(&a_old, 8, 4);
  f_int(&a_old, 8, 5);
  f_str(&a_s, 1, "mode");
  f_int(&a_s, 20, 3);
  f_str(&a_s, 4, "linear");
  f_str(&a_fl, 1, "scales");
  f_int(&a_fl, 20, 6);
  float fl[3] = {0.5f, 1, 2};
  f_bytes(&a_fl, 7, fl, sizeof fl);
  buf *attrs[] = {&a_strs, &a_ts, &a_tp, &a_sp, &a_old, &a_s, &a_fl, NULL};
  const char *outs[] = {"y", NULL};
  buf g = {0}, n = node("Constant", "k", NULL, outs, attrs);
  f_msg(&g, 1, &n);
  buf m = model(8, &g, NULL);
  sn_model *mo = load(&m, NULL, NULL);
  CHECK(mo != NULL);
  if (mo) {
    const sn_node *nd = &mo->graph->nodes[0];
    const sn_attr *a = sn_node_attr(nd, "strs");
    CHECK(a && a->type == SN_ATTR_STRINGS && a->n == 2 && !strcmp(a->strings[0], "a") && a->string_lens[1] == 3 &&
          a->strings[1][2] == 'c');
    a = sn_node_attr(nd, "ts");
    CHECK(a && a->type == SN_ATTR_TENSORS && a->n == 2 && ((float *)a->tensors[1]->data)[1] == 2);
    a = sn_node_attr(nd, "tps");
    CHECK(a && a->type == SN_ATTR_TYPE_PROTOS && a->n == 2);
    if (a && a->n == 2) {
      CHECK(a->types[0].kind == SN_KIND_SEQUENCE && a->types[0].dtype == SINTER_FLOAT && a->types[0].rank == 1 &&
            a->types[0].dims[0].v == 2);
      CHECK(a->types[1].kind == SN_KIND_OPTIONAL && a->types[1].elem_kind == SN_KIND_TENSOR &&
            a->types[1].dtype == SINTER_INT64 && a->types[1].rank == -1);
    }
    a = sn_node_attr(nd, "sparse_value");
    CHECK(a && a->type == SN_ATTR_SPARSE_TENSOR && a->t && a->t->count == 4 && ((float *)a->t->data)[3] == 9);
    const int64_t *iv;
    CHECK(sn_attr_ints(nd, "old", &iv) == 2 && iv[1] == 5);
    CHECK(!strcmp(sn_attr_str(nd, "mode", ""), "linear"));
    const float *fv;
    CHECK(sn_attr_floats(nd, "scales", &fv) == 3 && fv[0] == 0.5f);
    sn_model_free(mo);
  }
  free(m.p);
  /* ref_attr_name outside a function */
  buf r = attr_ref("alpha", "beta", 1);
  buf *rattrs[] = {&r, NULL};
  const char *xs[] = {"x", NULL};
  g = (buf){0};
  n = node("LeakyRelu", "lr", xs, outs, rattrs);
  f_msg(&g, 1, &n);
  buf xi = value_info("x", 1, 1, d2, NULL);
  f_msg(&g, 11, &xi);
  m = model(8, &g, NULL);
  EXPECT_ERROR(&m, NULL, "node 'lr' (LeakyRelu): attribute 'alpha' refers to 'beta' (ref_attr_name) outside a function");
  free(m.p);
  /* map-typed graph input is not supported */
  g = (buf){0};
  buf vi = {0}, tp = {0}, mp = {0};
  f_str(&vi, 1, "m");
  f_int(&mp, 1, SINTER_STRING);
  f_msg(&tp, 5, &mp);
  f_msg(&vi, 2, &tp);
  f_msg(&g, 11, &vi);
  m = model(8, &g, NULL);
  EXPECT_ERROR(&m, NULL, "input 'm' is a map, which is not supported");
  free(m.p);
}

/* ---- real files (optional arguments) ---------------------------------------------------------------- */

static int load_paths(int argc, char **argv) {
  int bad = 0;
  for (int i = 1; i < argc; i++) {
    const char *p = argv[i];
    size_t n = strlen(p);
    sn_error *e;
    if (n > 3 && !strcmp(p + n - 3, ".pb")) {
      sn_tensor *t = NULL;
      char *name = NULL;
      e = sn_onnx_read_value_file(p, -1, &t, &name);
      sn_tensor_free(t);
      sn_free(name);
    } else {
      sn_model *m = NULL;
      e = sn_onnx_load_file(p, &m);
      sn_model_free(m);
    }
    if (e) {
      printf("FAIL %s\n", e->msg);
      bad++;
    }
    sn_error_free(e);
  }
  printf("%d loaded, %d failed\n", argc - 1 - bad, bad);
  return bad != 0;
}

int main(int argc, char **argv) {
  if (argc > 1) return load_paths(argc, argv);
  test_basic();
  test_tensors();
  test_sequences();
  test_subgraphs();
  test_errors();
  test_external();
  test_functions();
  test_sparse();
  test_attrs();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
