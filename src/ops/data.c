/* Data-movement ops: Transpose, Concat, Split, Slice, Pad, Tile, DepthToSpace, SpaceToDepth, Trilu,
 * ReverseSequence, CenterCropPad; also the strided block-copy engine the other layout ops share. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/qgemm.h"
#include "ops/common.h"
#include "runtime/threadpool.h"

/* ---- shared helpers (sn_copy_strided and sn_fill_elems are declared in ops/common.h) ------------- */

#define CP_MAX (2 * SN_MAX_RANK + 4)


static const sn_type *tin(const sn_infer_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }
static const sn_tensor *cin(const sn_infer_ctx *c, int i) { return (i < c->n_in && c->in_data) ? c->in_data[i] : NULL; }
static sn_type *tout(const sn_infer_ctx *c, int i) { return i < c->n_out ? c->out[i] : NULL; }
static const sn_tensor *kin(const sn_kernel_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }

static void set_out(sn_infer_ctx *c, int i, sn_dtype dt, int rank, const sn_dim *dims) {
  sn_type *t = tout(c, i);
  if (!t) return;
  if (rank < 0)
    sn_type_set_unknown(t, dt);
  else
    sn_type_set(t, dt, rank, dims);
}

static void set_out_rank(sn_infer_ctx *c, int i, sn_dtype dt, int rank) {
  sn_dim d[SN_MAX_RANK];
  for (int k = 0; k < rank && k < SN_MAX_RANK; k++) d[k] = sn_dim_unknown();
  set_out(c, i, dt, rank, d);
}

static const char *dstr(int rank, const int64_t *dims, char *buf, size_t n) { return sn_dims_str(rank, dims, buf, n); }

/* Read up to max integers of a 0-D or 1-D integer tensor; returns the count or -1 when too many. */
static int read_ints(const sn_tensor *t, int64_t *out, int max) {
  if (!t || t->kind != SN_KIND_TENSOR || t->count > max || t->rank > 1) return -1;
  for (int64_t i = 0; i < t->count; i++) out[i] = sn_load_i64(t->dtype, t->data, i);
  return (int)t->count;
}

/* Checked arithmetic for sizes that come from model data (false on overflow). */
static bool ck_mul(int64_t a, int64_t b, int64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static bool ck_add3(int64_t a, int64_t b, int64_t c, int64_t *r) {
  return !__builtin_add_overflow(a, b, r) && !__builtin_add_overflow(*r, c, r);
}

/* Row-major strides. Wrapping arithmetic: for an empty tensor with huge other dims the values are
 * meaningless but harmless, as nothing is copied. */
static void contiguous_strides(int rank, const int64_t *dims, int64_t *st) {
  uint64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = (int64_t)s;
    s *= (uint64_t)dims[i];
  }
}

/* Product of dims (wrapping; exact whenever the tensor is non-empty). */
static int64_t prod64(const int64_t *d, int from, int to) {
  uint64_t p = 1;
  for (int i = from; i < to; i++) p *= (uint64_t)d[i];
  return (int64_t)p;
}

static sn_error *unsupported_kind(const sn_kernel_ctx *c, const sn_tensor *x) {
  char b[128];
  if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "a required input is missing");
  return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "expects a tensor, got %s", sn_tensor_describe(x, b, sizeof b));
}

#define REQUIRE_TENSOR(c, x)                                                                       \
  do {                                                                                             \
    if (!(x) || (x)->kind != SN_KIND_TENSOR) return unsupported_kind((c), (x));                      \
  } while (0)

/* ---- the strided copy engine ----------------------------------------------------------------------- */

/* dst[j*ds] = src[j*ss] for j < n (strides in elements). Element copies through memcpy of a constant
 * size so that unaligned buffers (zero-copy weights) are fine. */
static void row_copy(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, size_t es) {
#define ROW(N)                                                                                     \
  for (int64_t j = 0; j < n; j++) memcpy(d + j * ds * (N), s + j * ss * (N), N);                   \
  return;
  switch (es) {
    case 1: ROW(1)
    case 2: ROW(2)
    case 4: ROW(4)
    case 8: ROW(8)
    case 16: ROW(16)
    default:
      for (int64_t j = 0; j < n; j++) memcpy(d + j * ds * (int64_t)es, s + j * ss * (int64_t)es, es);
  }
#undef ROW
}

void sn_fill_elems(void *dst, int64_t n, const void *elem, size_t es) {
  if (n <= 0) return;
  const unsigned char *e = elem;
  bool zero = true;
  for (size_t k = 0; k < es; k++) zero &= e[k] == 0;
  if (zero) {
    memset(dst, 0, (size_t)n * es);
    return;
  }
  if (es == 1) {
    memset(dst, e[0], (size_t)n);
    return;
  }
  char *d = dst;
  memcpy(d, elem, es);
  int64_t have = 1;
  while (have < n) {
    int64_t k = have < n - have ? have : n - have;
    memcpy(d + have * (int64_t)es, d, (size_t)k * es);
    have += k;
  }
}

/* Tiled 2-D transpose: d[i*dk + j] = s[i + j*sl] for i < nk, j < nl. Each tile is read into a local
 * buffer with contiguous source runs, then written out in contiguous destination runs, so both sides
 * of main memory stream and the strided accesses stay in L1. */
static void tile_2d(char *d, int64_t dk, const char *s, int64_t sl, int64_t nk, int64_t nl, size_t es) {
  _Alignas(64) unsigned char buf[16384];
  int64_t T = es <= 4 ? 64 : (es <= 8 ? 32 : 16), E = (int64_t)es;
  if (es > 16) {
    for (int64_t i = 0; i < nk; i++)
      for (int64_t j = 0; j < nl; j++) memcpy(d + (i * dk + j) * E, s + (i + j * sl) * E, es);
    return;
  }
  if (es == 1) { /* bytes (8-bit activations between NCHW and NHWC): 16 x 16 blocks in registers */
    sn_qgemm_transpose((const uint8_t *)s, nl, nk, sl, 0, (uint8_t *)d, dk);
    return;
  }
  for (int64_t i0 = 0; i0 < nk; i0 += T)
    for (int64_t j0 = 0; j0 < nl; j0 += T) {
      int64_t ni = i0 + T < nk ? T : nk - i0, nj = j0 + T < nl ? T : nl - j0;
      for (int64_t j = 0; j < nj; j++) memcpy(buf + j * T * E, s + (i0 + (j0 + j) * sl) * E, (size_t)(ni * E));
#define TILE_OUT(N)                                                                                \
  for (int64_t i = 0; i < ni; i++) {                                                               \
    char *dr = d + ((i0 + i) * dk + j0) * (N);                                                     \
    for (int64_t j = 0; j < nj; j++) memcpy(dr + j * (N), buf + (j * T + i) * (N), N);              \
  }                                                                                                \
  break;
      switch (es) {
        case 1: TILE_OUT(1)
        case 2: TILE_OUT(2)
        case 4: TILE_OUT(4)
        case 8: TILE_OUT(8)
        case 16: TILE_OUT(16)
        default: TILE_OUT(E)
      }
#undef TILE_OUT
    }
}

/* Copy an n-d block: dst[sum i_k*dst_strides[k]] = src[sum i_k*src_strides[k]] over all indices of dims
 * (strides in elements; src strides may be 0 to broadcast or negative to reverse). Adjacent axes are
 * merged, contiguous inner runs become memcpy, a broadcast inner axis a fill, and a transposed inner
 * pair is copied in tiles. rank may be up to 2*SN_MAX_RANK+4. */
void sn_copy_strided(int rank, const int64_t *dims_in, void *dst, const int64_t *dsi, const void *src,
                     const int64_t *ssi, size_t es) {
  int64_t dims[CP_MAX], ds[CP_MAX], ss[CP_MAX];
  int r = 0;
  if (rank > CP_MAX) return;
  for (int i = 0; i < rank; i++) {
    if (dims_in[i] <= 0) return;
    if (dims_in[i] == 1) continue;
    if (r > 0 && ds[r - 1] == dsi[i] * dims_in[i] && ss[r - 1] == ssi[i] * dims_in[i]) {
      dims[r - 1] *= dims_in[i];
      ds[r - 1] = dsi[i];
      ss[r - 1] = ssi[i];
    } else {
      dims[r] = dims_in[i];
      ds[r] = dsi[i];
      ss[r] = ssi[i];
      r++;
    }
  }
  char *d = dst;
  const char *s = src;
  if (r == 0) {
    memcpy(d, s, es);
    return;
  }
  int64_t n = dims[r - 1], a = ds[r - 1], b = ss[r - 1];
  int tk = -1;
  if (a == 1 && b != 1 && b != 0 && n >= 4) {
    for (int k = r - 2; k >= 0; k--)
      if (ss[k] == 1 && dims[k] >= 4) {
        tk = k;
        break;
      }
  }
  int64_t idx[CP_MAX];
  for (int k = 0; k < r; k++) idx[k] = 0;
  int64_t doff = 0, soff = 0, esz = (int64_t)es;
  for (;;) {
    char *dp = d + doff * esz;
    const char *sp = s + soff * esz;
    if (tk >= 0)
      tile_2d(dp, ds[tk], sp, b, dims[tk], n, es);
    else if (a == 1 && b == 1)
      memcpy(dp, sp, (size_t)n * es);
    else if (a == 1 && b == 0)
      sn_fill_elems(dp, n, sp, es);
    else
      row_copy(dp, a, sp, b, n, es);
    int k = r - 2;
    for (; k >= 0; k--) {
      if (k == tk) continue;
      if (++idx[k] < dims[k]) {
        doff += ds[k];
        soff += ss[k];
        break;
      }
      doff -= ds[k] * (dims[k] - 1);
      soff -= ss[k] * (dims[k] - 1);
      idx[k] = 0;
    }
    if (k < 0) break;
  }
}

/* ---- Transpose ----------------------------------------------------------------------------------- */

static sn_error *get_perm(const sn_node *n, int rank, int *perm, bool *ok) {
  const int64_t *p;
  int np = sn_attr_ints(n, "perm", &p);
  *ok = true;
  if (np < 0) {
    for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
    return NULL;
  }
  if (np != rank) {
    *ok = false;
    return NULL;
  }
  bool seen[SN_MAX_RANK] = {0};
  for (int i = 0; i < rank; i++) {
    int64_t v = p[i];
    if (v < 0) v += rank; /* not in the spec, but unambiguous */
    if (v < 0 || v >= rank || seen[v]) {
      *ok = false;
      return NULL;
    }
    seen[v] = true;
    perm[i] = (int)v;
  }
  return NULL;
}

static void perm_str(const sn_node *n, char *buf, size_t len) {
  const int64_t *p;
  int np = sn_attr_ints(n, "perm", &p);
  if (np < 0)
    snprintf(buf, len, "(default)");
  else
    sn_dims_str(np > SN_MAX_RANK ? SN_MAX_RANK : np, p, buf, len);
}

static sn_error *transpose_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank < 0) {
    const int64_t *p;
    int np = sn_attr_ints(c->node, "perm", &p);
    if (np >= 0 && np <= SN_MAX_RANK)
      set_out_rank(c, 0, x->dtype, np);
    else
      set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  int perm[SN_MAX_RANK];
  bool ok;
  SN_TRY(get_perm(c->node, x->rank, perm, &ok));
  if (!ok) {
    char b[256];
    perm_str(c->node, b, sizeof b);
    return sn_infer_error(c, "perm %s is not a permutation of the input's %d axes", b, x->rank);
  }
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < x->rank; i++) d[i] = x->dims[perm[i]];
  set_out(c, 0, x->dtype, x->rank, d);
  return NULL;
}

typedef struct transpose_job {
  int r;
  const int64_t *od, *dst, *ss;
  void *y;
  const void *x;
  size_t es;
  int axis;
  int64_t parts;
} transpose_job;

/* parts [p0, p1) of the output's `axis` (split in `parts` near-equal ranges) */
static void transpose_part(void *arg, int64_t p0, int64_t p1) {
  const transpose_job *j = arg;
  const int64_t n = j->od[j->axis], a = p0 * n / j->parts, b = p1 * n / j->parts;
  if (b <= a) return;
  int64_t d[SN_MAX_RANK];
  memcpy(d, j->od, sizeof(int64_t) * (size_t)j->r);
  d[j->axis] = b - a;
  sn_copy_strided(j->r, d, (char *)j->y + (size_t)(a * j->dst[j->axis]) * j->es, j->dst,
                  (const char *)j->x + (size_t)(a * j->ss[j->axis]) * j->es, j->ss, j->es);
}

static sn_error *transpose_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  REQUIRE_TENSOR(c, x);
  int r = x->rank, perm[SN_MAX_RANK];
  bool ok;
  SN_TRY(get_perm(c->node, r, perm, &ok));
  if (!ok) {
    char b[256], s[256];
    perm_str(c->node, b, sizeof b);
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "perm %s does not fit input shape %s", b,
                           dstr(r, x->dims, s, sizeof s));
  }
  int64_t od[SN_MAX_RANK], ist[SN_MAX_RANK], ss[SN_MAX_RANK], dst[SN_MAX_RANK];
  contiguous_strides(r, x->dims, ist);
  for (int i = 0; i < r; i++) {
    od[i] = x->dims[perm[i]];
    ss[i] = ist[perm[i]];
  }
  contiguous_strides(r, od, dst);
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  if (!x->count) return sn_op_out_finish(c, 0, y, NULL);
  transpose_job j = {r, od, dst, ss, y->data, x->data, sn_dtype_size(x->dtype), -1, 0};
  /* large transposes split over the pool along the outermost output axis of 2+ (each part is a
   * strided copy of its own: the same element moves, in cache-friendly tiles) */
  sn_threadpool *tp = sn_kernel_pool(c);
  int nt = sn_threadpool_size(tp);
  if (nt > 1 && x->count * (int64_t)j.es >= (256 << 10) && x->dtype != SINTER_STRING)
    for (int i = 0; i < r; i++)
      if (od[i] >= 2) {
        j.axis = i;
        j.parts = od[i] < 4 * nt ? od[i] : 4 * nt;
        break;
      }
  if (j.axis < 0)
    sn_copy_strided(r, od, y->data, dst, x->data, ss, j.es);
  else
    sn_parallel_for(tp, j.parts, transpose_part, &j);
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- Concat -------------------------------------------------------------------------------------- */

static int64_t concat_axis_attr(const sn_node *n) { return sn_attr_int(n, "axis", n->opset < 4 ? 1 : 0); }

static sn_error *concat_infer(sn_infer_ctx *c) {
  if (c->n_in < 1) return sn_infer_error(c, "needs at least one input");
  int rank = -1;
  sn_dtype dt = 0;
  for (int i = 0; i < c->n_in; i++) {
    const sn_type *t = c->in[i];
    if (!t) return sn_infer_error(c, "input %d is missing", i);
    if (!dt) dt = t->dtype;
    if (t->rank >= 0) {
      if (rank >= 0 && t->rank != rank) return sn_infer_error(c, "inputs differ in rank (%d vs %d)", rank, t->rank);
      rank = t->rank;
    }
  }
  if (rank < 0) {
    set_out(c, 0, dt, -1, NULL);
    return NULL;
  }
  if (rank == 0) return sn_infer_error(c, "cannot concatenate scalars");
  int axis;
  int64_t a = concat_axis_attr(c->node);
  if (!sn_norm_axis(a, rank, &axis)) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)a, rank);
  sn_dim d[SN_MAX_RANK];
  for (int k = 0; k < rank; k++) {
    if (k == axis) {
      int64_t sum = 0;
      bool known = true;
      for (int i = 0; i < c->n_in; i++) {
        const sn_type *t = c->in[i];
        if (t->rank < 0 || t->dims[k].v < 0) {
          known = false;
          break;
        }
        sum += t->dims[k].v;
      }
      d[k] = known ? sn_dim_known(sum) : sn_dim_unknown();
      if (!known && c->n_in == 1) d[k] = c->in[0]->dims[k];
      continue;
    }
    sn_dim m = sn_dim_unknown();
    for (int i = 0; i < c->n_in; i++) {
      const sn_type *t = c->in[i];
      if (t->rank < 0) continue;
      sn_dim v = t->dims[k];
      if (v.v >= 0) {
        if (m.v >= 0 && m.v != v.v)
          return sn_infer_error(c, "inputs differ in dimension %d (%lld vs %lld), only axis %d may differ", k,
                                (long long)m.v, (long long)v.v, axis);
        m = v;
      } else if (m.v < 0 && !m.sym && v.sym) {
        m = v;
      }
    }
    d[k] = m;
  }
  set_out(c, 0, dt, rank, d);
  return NULL;
}

typedef struct concat_job {
  const sn_kernel_ctx *c;
  void *y;
  size_t es;
  int64_t outer, orow_bytes, parts;
} concat_job;

/* parts [p0, p1) of j->parts of a Concat: rows of the outer dimensions, or (one outer row) byte
 * ranges of each input; an input already in place (plan.c's concat_in_place) is skipped. (String
 * elements are pointers, copied as such.) */
static void concat_part(void *arg, int64_t p0, int64_t p1) {
  const concat_job *j = arg;
  const sn_kernel_ctx *c = j->c;
  const bool rows = j->outer >= 2;
  const int64_t r0 = rows ? p0 * j->outer / j->parts : 0, r1 = rows ? p1 * j->outer / j->parts : 1;
  int64_t off = 0; /* bytes into an output row */
  for (int i = 0; i < c->n_in; i++) {
    const sn_tensor *x = c->in[i];
    const int64_t len = x->count * (int64_t)j->es / j->outer; /* this input's bytes per outer row */
    char *d = (char *)j->y + off;
    const char *s = x->data;
    off += len;
    if (!len || (j->outer == 1 && s == d)) continue;
    if (rows) {
      for (int64_t k = r0; k < r1; k++) memcpy(d + k * j->orow_bytes, s + k * len, (size_t)len);
    } else {
      int64_t a = p0 * len / j->parts, b = p1 * len / j->parts;
      if (b > a) memcpy(d + a, s + a, (size_t)(b - a));
    }
  }
}

static sn_error *concat_run(sn_kernel_ctx *c) {
  if (c->n_in < 1) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs at least one input");
  const sn_tensor *x0 = kin(c, 0);
  REQUIRE_TENSOR(c, x0);
  int r = x0->rank, axis;
  char b1[256], b2[256];
  if (r == 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot concatenate scalars");
  int64_t a = concat_axis_attr(c->node);
  if (!sn_norm_axis(a, r, &axis))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)a, r);
  int64_t od[SN_MAX_RANK];
  memcpy(od, x0->dims, sizeof(int64_t) * (size_t)r);
  od[axis] = 0;
  for (int i = 0; i < c->n_in; i++) {
    const sn_tensor *x = c->in[i];
    REQUIRE_TENSOR(c, x);
    bool bad = x->rank != r || x->dtype != x0->dtype;
    for (int k = 0; !bad && k < r; k++) bad = k != axis && x->dims[k] != x0->dims[k];
    if (bad)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %d %s does not match input 0 %s outside axis %d", i,
                             sn_tensor_describe(x, b1, sizeof b1), sn_tensor_describe(x0, b2, sizeof b2), axis);
    od[axis] += x->dims[axis];
  }
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x0->dtype, r, od, &y));
  if (y->count == 0) return sn_op_out_finish(c, 0, y, NULL);
  size_t es = sn_dtype_size(x0->dtype);
  const int64_t outer = prod64(od, 0, axis), orow = od[axis] * prod64(od, axis + 1, r);
  concat_job j = {c, y->data, es, outer, orow * (int64_t)es, 1};
  /* large float/int outputs over the pool, in parts of the outer rows (a batch-8 channel
   * concatenation of NCHWc maps: 8 rows, each input's slice of a row one contiguous run); with one
   * outer row, in byte ranges of every input */
  sn_threadpool *tp = sn_kernel_pool(c);
  int nt = sn_threadpool_size(tp);
  if (nt > 1 && y->count * (int64_t)es >= (256 << 10) && x0->dtype != SINTER_STRING) {
    j.parts = outer >= 2 ? (outer < 4 * nt ? outer : 4 * nt) : 4 * nt;
    sn_parallel_for(tp, j.parts, concat_part, &j);
  } else {
    concat_part(&j, 0, 1);
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- Split --------------------------------------------------------------------------------------- */

#define SPLIT_MAX 1024 /* outputs of one Split (the sizes live on the stack: 8 KiB) */

/* The split sizes from attributes/inputs; *n_known = -1 when they come from a non-constant input. */
static sn_error *split_sizes(const sn_node *n, const sn_tensor *split_in, bool split_present, int n_out, int64_t dim,
                             int64_t *sizes, int *n_sizes, char *why, size_t why_len) {
  int opset = n->opset;
  *n_sizes = -1;
  why[0] = 0;
  if (split_present && (opset >= 13 || opset == 1)) {
    if (!split_in) return NULL; /* not known */
    int k = read_ints(split_in, sizes, SPLIT_MAX);
    if (k < 0) {
      snprintf(why, why_len, "the split input must be a 1-D list of at most %d sizes", SPLIT_MAX);
      return NULL;
    }
    *n_sizes = k;
    return NULL;
  }
  const int64_t *s;
  int k = opset < 13 ? sn_attr_ints(n, "split", &s) : -1;
  if (k >= 0) {
    if (k > SPLIT_MAX) {
      snprintf(why, why_len, "more than %d split sizes", SPLIT_MAX);
      return NULL;
    }
    memcpy(sizes, s, sizeof(int64_t) * (size_t)k);
    *n_sizes = k;
    return NULL;
  }
  int parts = n_out;
  int64_t num = opset >= 18 ? sn_attr_int(n, "num_outputs", -1) : -1;
  if (num >= 0) {
    if (num != n_out || num < 1) {
      snprintf(why, why_len, "num_outputs %lld does not match the node's %d outputs", (long long)num, n_out);
      return NULL;
    }
    parts = (int)num;
  }
  if (dim < 0) return NULL;
  if (parts < 1 || parts > SPLIT_MAX) {
    snprintf(why, why_len, "cannot split into %d outputs", parts);
    return NULL;
  }
  if (num < 0 && dim % parts != 0 && opset < 18) {
    snprintf(why, why_len, "dimension %lld is not divisible into %d equal parts", (long long)dim, parts);
    return NULL;
  }
  int64_t chunk = (dim + parts - 1) / parts, left = dim;
  for (int i = 0; i < parts; i++) {
    sizes[i] = chunk < left ? chunk : left;
    left -= sizes[i];
  }
  *n_sizes = parts;
  return NULL;
}

static sn_error *split_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank < 0) {
    for (int i = 0; i < c->n_out; i++) set_out(c, i, x->dtype, -1, NULL);
    return NULL;
  }
  int axis;
  int64_t a = sn_attr_int(c->node, "axis", 0);
  if (!sn_norm_axis(a, x->rank, &axis)) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)a, x->rank);
  int64_t sizes[SPLIT_MAX];
  int ns;
  char why[256];
  SN_TRY(split_sizes(c->node, cin(c, 1), tin(c, 1) != NULL, c->n_out, x->dims[axis].v, sizes, &ns, why, sizeof why));
  if (why[0]) return sn_infer_error(c, "%s", why);
  if (ns >= 0) {
    if (ns != c->n_out) return sn_infer_error(c, "%d split sizes for %d outputs", ns, c->n_out);
    int64_t sum = 0;
    for (int i = 0; i < ns; i++) {
      if (sizes[i] < 0) return sn_infer_error(c, "negative split size %lld", (long long)sizes[i]);
      sum += sizes[i];
    }
    if (x->dims[axis].v >= 0 && sum != x->dims[axis].v)
      return sn_infer_error(c, "split sizes sum to %lld but axis %d has %lld", (long long)sum, axis,
                            (long long)x->dims[axis].v);
  }
  for (int i = 0; i < c->n_out; i++) {
    sn_dim d[SN_MAX_RANK];
    memcpy(d, x->dims, sizeof(sn_dim) * (size_t)x->rank);
    d[axis] = ns >= 0 ? sn_dim_known(sizes[i]) : sn_dim_unknown();
    if (ns < 0 && c->n_out == 1) d[axis] = x->dims[axis];
    set_out(c, i, x->dtype, x->rank, d);
  }
  return NULL;
}

static sn_error *split_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  REQUIRE_TENSOR(c, x);
  int r = x->rank, axis;
  char b[256];
  int64_t a = sn_attr_int(c->node, "axis", 0);
  if (!sn_norm_axis(a, r, &axis))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for input %s", (long long)a,
                           sn_tensor_describe(x, b, sizeof b));
  int64_t sizes[SPLIT_MAX];
  int ns;
  char why[256];
  const sn_tensor *sp = kin(c, 1);
  SN_TRY(split_sizes(c->node, sp, sp != NULL, c->n_out, x->dims[axis], sizes, &ns, why, sizeof why));
  if (why[0]) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (input %s)", why, sn_tensor_describe(x, b, sizeof b));
  int64_t sum = 0;
  bool bad = ns != c->n_out;
  for (int i = 0; !bad && i < ns; i++) {
    bad = sizes[i] < 0;
    sum += sizes[i];
  }
  if (bad || sum != x->dims[axis]) {
    char s[256];
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "split sizes %s do not divide axis %d of input %s into %d outputs",
                           dstr(ns < 0 ? 0 : ns, sizes, s, sizeof s), axis, sn_tensor_describe(x, b, sizeof b), c->n_out);
  }
  size_t es = sn_dtype_size(x->dtype);
  int64_t outer = 0, inner = 0, irow = 0, off = 0;
  if (x->count) { /* else nothing to copy */
    outer = prod64(x->dims, 0, axis);
    inner = prod64(x->dims, axis + 1, r);
    irow = x->dims[axis] * inner;
  }
  for (int i = 0; i < ns; i++) {
    int64_t od[SN_MAX_RANK];
    memcpy(od, x->dims, sizeof(int64_t) * (size_t)r);
    od[axis] = sizes[i];
    sn_tensor *y;
    SN_TRY(sn_op_out_alloc(c, i, x->dtype, r, od, &y));
    int64_t row = sizes[i] * inner;
    if (row && outer) {
      int64_t dims[2] = {outer, row}, dst[2] = {row, 1}, sst[2] = {irow, 1};
      sn_copy_strided(2, dims, y->data, dst, (const char *)x->data + off * (int64_t)es, sst, es);
    }
    off += row;
    SN_TRY(sn_op_out_finish(c, i, y, NULL));
  }
  return NULL;
}

/* ---- Slice --------------------------------------------------------------------------------------- */

typedef struct slice_args {
  int n;
  int64_t starts[SN_MAX_RANK], ends[SN_MAX_RANK], axes[SN_MAX_RANK], steps[SN_MAX_RANK];
} slice_args;

/* Gather the slice parameters. Returns 1 when known, 0 when they depend on non-constant inputs, and
 * -1 with *why set when malformed. */
static int slice_params(const sn_node *n, int rank, const sn_tensor *const *in, const bool *present, slice_args *s,
                        char *why, size_t why_len) {
  int ns, ne, na = -1, nt = -1;
  if (n->opset < 10) {
    const int64_t *p;
    ns = sn_attr_ints(n, "starts", &p);
    if (ns < 0 || ns > SN_MAX_RANK) goto bad_count;
    memcpy(s->starts, p, sizeof(int64_t) * (size_t)ns);
    ne = sn_attr_ints(n, "ends", &p);
    if (ne < 0 || ne > SN_MAX_RANK) goto bad_count;
    memcpy(s->ends, p, sizeof(int64_t) * (size_t)ne);
    na = sn_attr_ints(n, "axes", &p);
    if (na > SN_MAX_RANK) goto bad_count;
    if (na >= 0) memcpy(s->axes, p, sizeof(int64_t) * (size_t)na);
  } else {
    if (!present[1] || !present[2]) {
      snprintf(why, why_len, "starts and ends inputs are required");
      return -1;
    }
    if (!in[1] || !in[2] || (present[3] && !in[3]) || (present[4] && !in[4])) return 0;
    ns = read_ints(in[1], s->starts, SN_MAX_RANK);
    ne = read_ints(in[2], s->ends, SN_MAX_RANK);
    if (ns < 0 || ne < 0) goto bad_count;
    if (present[3]) {
      na = read_ints(in[3], s->axes, SN_MAX_RANK);
      if (na < 0) goto bad_count;
    }
    if (present[4]) {
      nt = read_ints(in[4], s->steps, SN_MAX_RANK);
      if (nt < 0) goto bad_count;
    }
  }
  if (ns != ne || (na >= 0 && na != ns) || (nt >= 0 && nt != ns)) {
    snprintf(why, why_len, "starts, ends, axes and steps differ in length (%d, %d, %d, %d)", ns, ne, na, nt);
    return -1;
  }
  s->n = ns;
  bool seen[SN_MAX_RANK] = {0};
  for (int i = 0; i < ns; i++) {
    int64_t a = na >= 0 ? s->axes[i] : i;
    int ax;
    if (!sn_norm_axis(a, rank, &ax)) {
      snprintf(why, why_len, "axis %lld is out of range for rank %d", (long long)a, rank);
      return -1;
    }
    if (seen[ax]) {
      snprintf(why, why_len, "axis %lld is repeated", (long long)a);
      return -1;
    }
    seen[ax] = true;
    s->axes[i] = ax;
    if (nt < 0) s->steps[i] = 1;
    if (s->steps[i] == 0) {
      snprintf(why, why_len, "step 0 on axis %d", ax);
      return -1;
    }
  }
  return 1;
bad_count:
  snprintf(why, why_len, "starts/ends/axes/steps must be 1-D lists of at most %d values", SN_MAX_RANK);
  return -1;
}

/* numpy slicing on one axis of size d: first index and count. */
static void slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first, int64_t *count) {
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (step > 0) {
    start = start < 0 ? 0 : (start > d ? d : start);
    end = end < 0 ? 0 : (end > d ? d : end);
    *count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = start < 0 ? -1 : (start > d - 1 ? d - 1 : start);
    end = end < -1 ? -1 : (end > d - 1 ? d - 1 : end);
    /* -step may not fit in int64 (step = INT64_MIN) */
    *count = start > end ? (int64_t)((uint64_t)(start - end - 1) / (0 - (uint64_t)step)) + 1 : 0;
  }
  *first = start;
}

static sn_error *slice_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  const sn_tensor *in[5] = {0};
  bool present[5] = {0};
  for (int i = 0; i < 5; i++) {
    in[i] = cin(c, i);
    present[i] = tin(c, i) != NULL;
  }
  slice_args s;
  char why[256];
  int k = slice_params(c->node, x->rank, in, present, &s, why, sizeof why);
  if (k < 0) return sn_infer_error(c, "%s", why);
  sn_dim d[SN_MAX_RANK];
  memcpy(d, x->dims, sizeof(sn_dim) * (size_t)x->rank);
  if (k == 0) {
    /* which axes are sliced is unknown unless axes are constant */
    const sn_tensor *axes = present[3] ? in[3] : NULL;
    int64_t ax[SN_MAX_RANK];
    int na = axes ? read_ints(axes, ax, SN_MAX_RANK) : -1;
    for (int i = 0; i < x->rank; i++) {
      bool sliced = na < 0;
      for (int j = 0; j < na; j++) sliced |= ax[j] == i || ax[j] + x->rank == i;
      if (sliced) d[i] = sn_dim_unknown();
    }
    set_out(c, 0, x->dtype, x->rank, d);
    return NULL;
  }
  for (int i = 0; i < s.n; i++) {
    int ax = (int)s.axes[i];
    int64_t dim = x->dims[ax].v, first, count;
    if (dim >= 0) {
      slice_axis(dim, s.starts[i], s.ends[i], s.steps[i], &first, &count);
      d[ax] = sn_dim_known(count);
    } else if (s.steps[i] == 1 && s.starts[i] == 0 && s.ends[i] >= INT32_MAX) {
      /* whole axis: keep the symbol */
    } else if (s.steps[i] == -1 && s.starts[i] == -1 && s.ends[i] <= INT32_MIN) {
      /* whole axis reversed */
    } else {
      d[ax] = sn_dim_unknown();
    }
  }
  set_out(c, 0, x->dtype, x->rank, d);
  return NULL;
}

static sn_error *slice_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  REQUIRE_TENSOR(c, x);
  int r = x->rank;
  const sn_tensor *in[5] = {0};
  bool present[5] = {0};
  for (int i = 0; i < 5; i++) {
    in[i] = kin(c, i);
    present[i] = in[i] != NULL;
  }
  slice_args s;
  char why[256], b[256];
  if (slice_params(c->node, r, in, present, &s, why, sizeof why) <= 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (input %s)", why, sn_tensor_describe(x, b, sizeof b));
  int64_t first[SN_MAX_RANK], step[SN_MAX_RANK], od[SN_MAX_RANK], ist[SN_MAX_RANK], ss[SN_MAX_RANK], dst[SN_MAX_RANK];
  for (int i = 0; i < r; i++) {
    first[i] = 0;
    step[i] = 1;
    od[i] = x->dims[i];
  }
  for (int i = 0; i < s.n; i++) {
    int ax = (int)s.axes[i];
    slice_axis(x->dims[ax], s.starts[i], s.ends[i], s.steps[i], &first[ax], &od[ax]);
    step[ax] = s.steps[i];
  }
  contiguous_strides(r, x->dims, ist);
  int64_t off = 0;
  bool empty = false;
  for (int i = 0; i < r; i++) {
    ss[i] = od[i] > 1 ? ist[i] * step[i] : 0; /* |step| < dim here, so this cannot overflow */
    if (od[i] == 0) empty = true;
  }
  for (int i = 0; i < r && !empty; i++) off += first[i] * ist[i];
  contiguous_strides(r, od, dst);
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  size_t es = sn_dtype_size(x->dtype);
  if (!empty) sn_copy_strided(r, od, y->data, dst, (const char *)x->data + off * (int64_t)es, ss, es);
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- Pad ----------------------------------------------------------------------------------------- */

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

static int pad_mode_of(const sn_node *n) {
  const char *m = sn_attr_str(n, "mode", "constant");
  if (!strcmp(m, "constant")) return PAD_CONSTANT;
  if (!strcmp(m, "reflect")) return PAD_REFLECT;
  if (!strcmp(m, "edge")) return PAD_EDGE;
  if (!strcmp(m, "wrap") && n->opset >= 19) return PAD_WRAP;
  return -1;
}

/* pads[0..r) begins, pads[r..2r) ends. Returns 1 known, 0 unknown (non-constant input), -1 malformed. */
static int pad_amounts(const sn_node *n, int r, const sn_tensor *pads_in, bool pads_present, const sn_tensor *axes_in,
                       bool axes_present, int64_t *pads, char *why, size_t why_len) {
  int64_t raw[2 * SN_MAX_RANK], axes[SN_MAX_RANK];
  int np, na;
  for (int i = 0; i < 2 * r; i++) pads[i] = 0;
  if (n->opset < 11) {
    const int64_t *p;
    np = sn_attr_ints(n, n->opset < 2 ? "paddings" : "pads", &p);
    if (np < 0) {
      snprintf(why, why_len, "attribute '%s' is required", n->opset < 2 ? "paddings" : "pads");
      return -1;
    }
    if (np > 2 * SN_MAX_RANK) goto bad;
    memcpy(raw, p, sizeof(int64_t) * (size_t)np);
    na = -1;
  } else {
    if (!pads_present) {
      snprintf(why, why_len, "the pads input is required");
      return -1;
    }
    if (!pads_in || (axes_present && !axes_in)) return 0;
    np = read_ints(pads_in, raw, 2 * SN_MAX_RANK);
    if (np < 0) goto bad;
    na = -1;
    if (axes_present) {
      na = read_ints(axes_in, axes, SN_MAX_RANK);
      if (na < 0) goto bad;
    }
  }
  if (na < 0) {
    na = r;
    for (int i = 0; i < r; i++) axes[i] = i;
  }
  if (np != 2 * na) {
    snprintf(why, why_len, "%d pad values for %d axes (need %d)", np, na, 2 * na);
    return -1;
  }
  for (int i = 0; i < na; i++) {
    int ax;
    if (!sn_norm_axis(axes[i], r, &ax)) {
      snprintf(why, why_len, "axis %lld is out of range for rank %d", (long long)axes[i], r);
      return -1;
    }
    pads[ax] = raw[i];
    pads[r + ax] = raw[na + i];
  }
  return 1;
bad:
  snprintf(why, why_len, "pads/axes must be 1-D lists of at most %d values", 2 * SN_MAX_RANK);
  return -1;
}

static sn_error *pad_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (pad_mode_of(c->node) < 0)
    return sn_infer_error(c, "unsupported mode '%s' (constant, reflect, edge%s)", sn_attr_str(c->node, "mode", ""),
                          c->opset >= 19 ? ", wrap" : "");
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  int r = x->rank;
  int64_t pads[2 * SN_MAX_RANK];
  char why[256];
  int k = pad_amounts(c->node, r, cin(c, 1), tin(c, 1) != NULL, cin(c, 3), tin(c, 3) != NULL, pads, why, sizeof why);
  if (k < 0) return sn_infer_error(c, "%s", why);
  if (k == 0) {
    set_out_rank(c, 0, x->dtype, r);
    return NULL;
  }
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < r; i++) {
    int64_t p, o;
    if (!ck_add3(pads[i], pads[r + i], 0, &p) || !ck_add3(x->dims[i].v >= 0 ? x->dims[i].v : 0, p, 0, &o))
      return sn_infer_error(c, "pads %lld,%lld on axis %d overflow", (long long)pads[i], (long long)pads[r + i], i);
    if (x->dims[i].v >= 0) {
      if (o < 0)
        return sn_infer_error(c, "pads %lld,%lld make axis %d of size %lld negative", (long long)pads[i],
                              (long long)pads[r + i], i, (long long)x->dims[i].v);
      d[i] = sn_dim_known(o);
    } else {
      d[i] = p == 0 ? x->dims[i] : sn_dim_unknown();
    }
  }
  set_out(c, 0, x->dtype, r, d);
  return NULL;
}

static int64_t pad_src_index(int mode, int64_t j, int64_t n) {
  if (j >= 0 && j < n) return j;
  switch (mode) {
    case PAD_EDGE: return j < 0 ? 0 : n - 1;
    case PAD_WRAP: {
      int64_t m = j % n;
      return m < 0 ? m + n : m;
    }
    default: { /* reflect */
      if (n == 1) return 0;
      int64_t p = 2 * (n - 1), m = j % p;
      if (m < 0) m += p;
      return m >= n ? p - m : m;
    }
  }
}

static sn_error *pad_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  REQUIRE_TENSOR(c, x);
  int r = x->rank, mode = pad_mode_of(c->node);
  char why[256], b[256];
  if (mode < 0)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "unsupported mode '%s'", sn_attr_str(c->node, "mode", ""));
  int64_t pads[2 * SN_MAX_RANK];
  const sn_tensor *pin = kin(c, 1), *ain = c->node->opset >= 18 ? kin(c, 3) : NULL;
  if (pad_amounts(c->node, r, pin, pin != NULL, ain, ain != NULL, pads, why, sizeof why) <= 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (input %s)", why, sn_tensor_describe(x, b, sizeof b));
  int64_t od[SN_MAX_RANK];
  for (int i = 0; i < r; i++) {
    if (!ck_add3(x->dims[i], pads[i], pads[r + i], &od[i]) || od[i] < 0)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "pads %lld,%lld make axis %d of input %s negative or too large",
                             (long long)pads[i], (long long)pads[r + i], i, sn_tensor_describe(x, b, sizeof b));
    if (mode != PAD_CONSTANT && x->dims[i] == 0 && od[i] > 0)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot pad empty axis %d of input %s in mode '%s'", i,
                             sn_tensor_describe(x, b, sizeof b), sn_attr_str(c->node, "mode", ""));
  }
  size_t es = sn_dtype_size(x->dtype);
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  if (y->count == 0) return sn_op_out_finish(c, 0, y, NULL);
  int64_t ist[SN_MAX_RANK], ost[SN_MAX_RANK];
  contiguous_strides(r, x->dims, ist);
  contiguous_strides(r, od, ost);
  if (mode == PAD_CONSTANT) {
    unsigned char cval[16] = {0};
    const sn_tensor *cv = c->node->opset >= 11 ? kin(c, 2) : NULL;
    if (cv && cv->kind == SN_KIND_TENSOR && cv->count >= 1) {
      if (cv->dtype != x->dtype) {
        char b2[256];
        return sn_op_out_finish(c, 0, y,
                          sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "constant_value %s does not match data %s",
                                          sn_tensor_describe(cv, b2, sizeof b2), sn_tensor_describe(x, b, sizeof b)));
      }
      memcpy(cval, cv->data, es);
    } else if (c->node->opset < 11 && x->dtype != SINTER_STRING) {
      sn_store_f64(x->dtype, cval, 0, sn_attr_float(c->node, "value", 0.0f));
    }
    sn_fill_elems(y->data, y->count, cval, es);
    /* the part of the input that survives (negative pads crop) */
    int64_t n[SN_MAX_RANK], soff = 0, doff = 0;
    for (int i = 0; i < r; i++) {
      int64_t s0 = pads[i] < 0 ? -pads[i] : 0, s1 = x->dims[i] - (pads[r + i] < 0 ? -pads[r + i] : 0);
      n[i] = s1 - s0;
      if (n[i] <= 0) return sn_op_out_finish(c, 0, y, NULL);
      soff += s0 * ist[i];
      doff += (s0 + pads[i]) * ost[i];
    }
    sn_copy_strided(r, n, (char *)y->data + doff * (int64_t)es, ost, (const char *)x->data + soff * (int64_t)es, ist, es);
    return sn_op_out_finish(c, 0, y, NULL);
  }
  if (r == 0) {
    memcpy(y->data, x->data, es);
    return sn_op_out_finish(c, 0, y, NULL);
  }
  /* edge / reflect / wrap: per-axis source index maps */
  int64_t total = 0;
  for (int i = 0; i < r; i++) total += od[i];
  int64_t *maps = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)total);
  if (!maps) return sn_op_out_finish(c, 0, y, SN_ERR_OOM());
  int64_t *map[SN_MAX_RANK];
  int64_t *m = maps;
  for (int i = 0; i < r; i++) {
    map[i] = m;
    for (int64_t o = 0; o < od[i]; o++) m[o] = pad_src_index(mode, o - pads[i], x->dims[i]);
    m += od[i];
  }
  int64_t idx[SN_MAX_RANK] = {0}, L = od[r - 1], bl = pads[r - 1], D = x->dims[r - 1];
  int64_t lo = bl > 0 ? bl : 0, hi = bl + D < L ? bl + D : L;
  char *dp = y->data;
  const char *sp = x->data;
  for (int64_t row = 0;; row++) {
    int64_t soff = 0;
    for (int i = 0; i < r - 1; i++) soff += map[i][idx[i]] * ist[i];
    char *d = dp + row * L * (int64_t)es;
    const char *s = sp + soff * (int64_t)es;
    for (int64_t o = 0; o < L; o++) {
      if (o == lo && hi > lo) {
        memcpy(d + o * (int64_t)es, s + (o - bl) * (int64_t)es, (size_t)(hi - lo) * es);
        o = hi - 1;
        continue;
      }
      memcpy(d + o * (int64_t)es, s + map[r - 1][o] * (int64_t)es, es);
    }
    int k = r - 2;
    for (; k >= 0; k--) {
      if (++idx[k] < od[k]) break;
      idx[k] = 0;
    }
    if (k < 0) break;
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- Tile ---------------------------------------------------------------------------------------- */

/* repeats per axis; returns 1 known, 0 unknown, -1 malformed */
static int tile_repeats(const sn_node *n, int r, const sn_tensor *rep, const sn_tensor *axis_in, int64_t *reps, char *why,
                        size_t why_len) {
  if (n->opset < 6) {
    /* Tile-1: inputs tiles (count) and axis */
    if (!rep || !axis_in) return 0;
    int64_t t[1], a[1];
    if (read_ints(rep, t, 1) != 1 || read_ints(axis_in, a, 1) != 1) {
      snprintf(why, why_len, "tiles and axis must be scalars");
      return -1;
    }
    int ax;
    if (!sn_norm_axis(a[0], r, &ax)) {
      snprintf(why, why_len, "axis %lld is out of range for rank %d", (long long)a[0], r);
      return -1;
    }
    for (int i = 0; i < r; i++) reps[i] = i == ax ? t[0] : 1;
  } else {
    if (!rep) return 0;
    int k = read_ints(rep, reps, SN_MAX_RANK);
    if (k != r) {
      snprintf(why, why_len, "repeats must hold one value per input axis (%d)", r);
      return -1;
    }
  }
  for (int i = 0; i < r; i++)
    if (reps[i] < 0) {
      snprintf(why, why_len, "negative repeat %lld on axis %d", (long long)reps[i], i);
      return -1;
    }
  return 1;
}

static sn_error *tile_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  int64_t reps[SN_MAX_RANK];
  char why[256];
  int k = tile_repeats(c->node, x->rank, cin(c, 1), cin(c, 2), reps, why, sizeof why);
  if (k < 0) return sn_infer_error(c, "%s", why);
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < x->rank; i++) {
    if (k == 0)
      d[i] = sn_dim_unknown();
    else if (reps[i] == 1)
      d[i] = x->dims[i];
    else if (x->dims[i].v >= 0 || reps[i] == 0) {
      int64_t v = 0;
      if (reps[i] && !ck_mul(x->dims[i].v, reps[i], &v))
        return sn_infer_error(c, "repeat %lld on axis %d overflows", (long long)reps[i], i);
      d[i] = sn_dim_known(v);
    } else
      d[i] = sn_dim_unknown();
  }
  set_out(c, 0, x->dtype, x->rank, d);
  return NULL;
}

static sn_error *tile_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  REQUIRE_TENSOR(c, x);
  int r = x->rank;
  int64_t reps[SN_MAX_RANK];
  char why[256], b[256];
  if (tile_repeats(c->node, r, kin(c, 1), kin(c, 2), reps, why, sizeof why) <= 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (input %s)", why, sn_tensor_describe(x, b, sizeof b));
  int64_t od[SN_MAX_RANK], ist[SN_MAX_RANK], ost[SN_MAX_RANK];
  for (int i = 0; i < r; i++)
    if (!ck_mul(x->dims[i], reps[i], &od[i]))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "repeat %lld on axis %d of input %s overflows",
                             (long long)reps[i], i, sn_tensor_describe(x, b, sizeof b));
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  contiguous_strides(r, x->dims, ist);
  contiguous_strides(r, od, ost);
  if (y->count) {
    int64_t dims[2 * SN_MAX_RANK], ds[2 * SN_MAX_RANK], ss[2 * SN_MAX_RANK];
    for (int i = 0; i < r; i++) {
      dims[2 * i] = reps[i];
      ds[2 * i] = x->dims[i] * ost[i];
      ss[2 * i] = 0;
      dims[2 * i + 1] = x->dims[i];
      ds[2 * i + 1] = ost[i];
      ss[2 * i + 1] = ist[i];
    }
    sn_copy_strided(2 * r, dims, y->data, ds, x->data, ss, sn_dtype_size(x->dtype));
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- DepthToSpace / SpaceToDepth ---------------------------------------------------------------- */

static bool d2s_crd(const sn_node *n) { return n->opset >= 11 && !strcmp(sn_attr_str(n, "mode", "DCR"), "CRD"); }

static sn_error *space_infer(sn_infer_ctx *c, bool to_space) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  int64_t bs = sn_attr_int(c->node, "blocksize", 0);
  if (bs <= 0 || bs > (1 << 20)) return sn_infer_error(c, "blocksize %lld is out of range", (long long)bs);
  if (to_space) {
    const char *m = sn_attr_str(c->node, "mode", "DCR");
    if (strcmp(m, "DCR") && strcmp(m, "CRD")) return sn_infer_error(c, "unknown mode '%s' (DCR or CRD)", m);
  }
  if (x->rank < 0) {
    set_out_rank(c, 0, x->dtype, 4);
    return NULL;
  }
  if (x->rank != 4) return sn_infer_error(c, "expects a 4-D input");
  sn_dim d[4] = {x->dims[0], sn_dim_unknown(), sn_dim_unknown(), sn_dim_unknown()};
  sn_dim C = x->dims[1], H = x->dims[2], W = x->dims[3];
  if (to_space) {
    if (C.v >= 0) {
      if (C.v % (bs * bs)) return sn_infer_error(c, "channels %lld are not divisible by blocksize^2 = %lld", (long long)C.v, (long long)(bs * bs));
      d[1] = sn_dim_known(C.v / (bs * bs));
    }
    int64_t v;
    if (H.v >= 0 && ck_mul(H.v, bs, &v)) d[2] = sn_dim_known(v);
    if (W.v >= 0 && ck_mul(W.v, bs, &v)) d[3] = sn_dim_known(v);
  } else {
    int64_t v;
    if (C.v >= 0 && ck_mul(C.v, bs * bs, &v)) d[1] = sn_dim_known(v);
    if (H.v >= 0) {
      if (H.v % bs) return sn_infer_error(c, "height %lld is not divisible by blocksize %lld", (long long)H.v, (long long)bs);
      d[2] = sn_dim_known(H.v / bs);
    }
    if (W.v >= 0) {
      if (W.v % bs) return sn_infer_error(c, "width %lld is not divisible by blocksize %lld", (long long)W.v, (long long)bs);
      d[3] = sn_dim_known(W.v / bs);
    }
  }
  set_out(c, 0, x->dtype, 4, d);
  return NULL;
}

static sn_error *d2s_infer(sn_infer_ctx *c) { return space_infer(c, true); }
static sn_error *s2d_infer(sn_infer_ctx *c) { return space_infer(c, false); }

static sn_error *space_run(sn_kernel_ctx *c, bool to_space) {
  const sn_tensor *x = kin(c, 0);
  REQUIRE_TENSOR(c, x);
  char b[256];
  int64_t bs = sn_attr_int(c->node, "blocksize", 0);
  if (x->rank != 4 || bs <= 0 || bs > (1 << 20))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs a 4-D input and a positive blocksize (input %s, blocksize %lld)",
                           sn_tensor_describe(x, b, sizeof b), (long long)bs);
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], od[4];
  bool ok;
  if (to_space) {
    if (C % (bs * bs))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "channels of input %s are not divisible by blocksize^2 (%lld)",
                             sn_tensor_describe(x, b, sizeof b), (long long)(bs * bs));
    od[0] = N, od[1] = C / (bs * bs);
    ok = ck_mul(H, bs, &od[2]) && ck_mul(W, bs, &od[3]);
  } else {
    if (H % bs || W % bs)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "height/width of input %s are not divisible by blocksize %lld",
                             sn_tensor_describe(x, b, sizeof b), (long long)bs);
    od[0] = N, od[2] = H / bs, od[3] = W / bs;
    ok = ck_mul(C, bs * bs, &od[1]);
  }
  if (!ok)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "blocksize %lld overflows the output of input %s", (long long)bs,
                           sn_tensor_describe(x, b, sizeof b));
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, 4, od, &y));
  if (y->count == 0) return sn_op_out_finish(c, 0, y, NULL);
  /* non-empty: every product below is at most the element count */
  int64_t dims6[6], ss6[6], ds6[6];
  if (to_space) {
    int64_t Co = od[1];
    /* output viewed as [N, Co, H, b1, W, b2] */
    int64_t dd[6] = {N, Co, H, bs, W, bs};
    memcpy(dims6, dd, sizeof dd);
    if (d2s_crd(c->node)) {
      /* input channel = co*b*b + b1*b + b2 */
      int64_t st[6] = {C * H * W, bs * bs * H * W, W, bs * H * W, 1, H * W};
      memcpy(ss6, st, sizeof st);
    } else {
      /* DCR: input channel = b1*b*Co + b2*Co + co */
      int64_t st[6] = {C * H * W, H * W, W, bs * Co * H * W, 1, Co * H * W};
      memcpy(ss6, st, sizeof st);
    }
  } else {
    /* output viewed as [N, b1, b2, C, Ho, Wo]; input [N, C, Ho, b1, Wo, b2] */
    int64_t dd[6] = {N, bs, bs, C, od[2], od[3]};
    int64_t st[6] = {C * H * W, W, 1, H * W, bs * W, bs};
    memcpy(dims6, dd, sizeof dd);
    memcpy(ss6, st, sizeof st);
  }
  contiguous_strides(6, dims6, ds6);
  sn_copy_strided(6, dims6, y->data, ds6, x->data, ss6, sn_dtype_size(x->dtype));
  return sn_op_out_finish(c, 0, y, NULL);
}

static sn_error *d2s_run(sn_kernel_ctx *c) { return space_run(c, true); }
static sn_error *s2d_run(sn_kernel_ctx *c) { return space_run(c, false); }

/* ---- shape-preserving ops: Trilu, ReverseSequence ------------------------------------------------ */

static sn_error *same_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  set_out(c, 0, x->dtype, x->rank, x->dims);
  return NULL;
}

static sn_error *trilu_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank >= 0 && x->rank < 2) return sn_infer_error(c, "expects an input of rank 2 or more");
  return same_infer(c);
}

static sn_error *trilu_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *kt = kin(c, 1);
  REQUIRE_TENSOR(c, x);
  char b[256];
  if (x->rank < 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "expects an input of rank 2 or more, got %s",
                           sn_tensor_describe(x, b, sizeof b));
  int64_t k = 0;
  if (kt) {
    int64_t v[1];
    if (read_ints(kt, v, 1) != 1)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "k must be a scalar, got %s", sn_tensor_describe(kt, b, sizeof b));
    k = v[0];
  }
  bool upper = sn_attr_int(c->node, "upper", 1) != 0;
  int r = x->rank;
  if (x->count == 0) {
    sn_tensor *y;
    SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, x->dims, &y));
    return sn_op_out_finish(c, 0, y, NULL);
  }
  int64_t N = x->dims[r - 2], M = x->dims[r - 1], batch = prod64(x->dims, 0, r - 2);
  int64_t lim = N + M + 1;
  if (k > lim) k = lim;
  if (k < -lim) k = -lim;
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, x->dims, &y));
  size_t es = sn_dtype_size(x->dtype);
  if (y->data != x->data && x->nbytes) memcpy(y->data, x->data, x->nbytes);
  char *d = y->data;
  for (int64_t bi = 0; bi < batch; bi++)
    for (int64_t i = 0; i < N; i++) {
      char *row = d + ((bi * N + i) * M) * (int64_t)es;
      int64_t z0, z1; /* zeroed columns [z0, z1) */
      if (upper) {
        z0 = 0;
        z1 = i + k;
      } else {
        z0 = i + k + 1;
        z1 = M;
      }
      if (z0 < 0) z0 = 0;
      if (z1 > M) z1 = M;
      if (z1 > z0) memset(row + z0 * (int64_t)es, 0, (size_t)(z1 - z0) * es);
    }
  return sn_op_out_finish(c, 0, y, NULL);
}

static sn_error *revseq_axes(const sn_node *n, int rank, int *bax, int *tax) {
  int64_t b = sn_attr_int(n, "batch_axis", 1), t = sn_attr_int(n, "time_axis", 0);
  if ((b != 0 && b != 1) || (t != 0 && t != 1) || b == t || rank < 2)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "batch_axis %lld and time_axis %lld must be 0 and 1 in some order, on a rank >= 2 input (rank %d)",
                     (long long)b, (long long)t, rank);
  *bax = (int)b;
  *tax = (int)t;
  return NULL;
}

static sn_error *revseq_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank >= 0) {
    int bax = 1, tax = 0;
    sn_error *e = revseq_axes(c->node, x->rank, &bax, &tax);
    if (e) {
      sn_error *r = sn_infer_error(c, "%s", e->msg);
      sn_error_free(e);
      return r;
    }
  }
  return same_infer(c);
}

static sn_error *revseq_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *lens = kin(c, 1);
  REQUIRE_TENSOR(c, x);
  REQUIRE_TENSOR(c, lens);
  char b[256], b2[256];
  int bax = 1, tax = 0;
  sn_error *e = revseq_axes(c->node, x->rank, &bax, &tax);
  if (e) {
    sn_error *r = sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s", e->msg);
    sn_error_free(e);
    return r;
  }
  int64_t B = x->dims[bax], T = x->dims[tax], inner = x->count ? prod64(x->dims, 2, x->rank) : 0;
  if (lens->rank != 1 || lens->dims[0] != B)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "sequence_lens %s must have one entry per batch of input %s",
                           sn_tensor_describe(lens, b2, sizeof b2), sn_tensor_describe(x, b, sizeof b));
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, x->rank, x->dims, &y));
  size_t es = sn_dtype_size(x->dtype);
  size_t blk = (size_t)inner * es;
  for (int64_t bi = 0; bi < B; bi++) {
    int64_t L = sn_load_i64(lens->dtype, lens->data, bi);
    if (L < 0 || L > T)
      return sn_op_out_finish(c, 0, y,
                        sn_kernel_error(c, SINTER_ERR_RUNTIME, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                                        (long long)bi, (long long)L, (long long)T));
    for (int64_t t = 0; t < T; t++) {
      int64_t st = t < L ? L - 1 - t : t;
      int64_t dpos = tax == 0 ? t * B + bi : bi * T + t, spos = tax == 0 ? st * B + bi : bi * T + st;
      memcpy((char *)y->data + dpos * (int64_t)blk, (const char *)x->data + spos * (int64_t)blk, blk);
    }
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- CenterCropPad ------------------------------------------------------------------------------- */

/* target sizes per axis (-1 = unchanged); returns 1 known, 0 unknown, -1 malformed */
static int ccp_targets(const sn_node *n, int r, const sn_tensor *shape, int64_t *target, char *why, size_t why_len) {
  for (int i = 0; i < r; i++) target[i] = -1;
  const int64_t *ax;
  int na = sn_attr_ints(n, "axes", &ax);
  if (!shape) return 0;
  int64_t sh[SN_MAX_RANK];
  int ns = read_ints(shape, sh, SN_MAX_RANK);
  int want = na >= 0 ? na : r;
  if (ns != want) {
    snprintf(why, why_len, "shape has %d values but %d axes are cropped/padded", ns, want);
    return -1;
  }
  for (int i = 0; i < want; i++) {
    int a;
    int64_t av = na >= 0 ? ax[i] : i;
    if (!sn_norm_axis(av, r, &a)) {
      snprintf(why, why_len, "axis %lld is out of range for rank %d", (long long)av, r);
      return -1;
    }
    if (sh[i] < 0) {
      snprintf(why, why_len, "negative target size %lld", (long long)sh[i]);
      return -1;
    }
    target[a] = sh[i];
  }
  return 1;
}

static sn_error *ccp_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  int64_t tg[SN_MAX_RANK];
  char why[256];
  int k = ccp_targets(c->node, x->rank, cin(c, 1), tg, why, sizeof why);
  if (k < 0) return sn_infer_error(c, "%s", why);
  sn_dim d[SN_MAX_RANK];
  const int64_t *ax;
  int na = sn_attr_ints(c->node, "axes", &ax);
  for (int i = 0; i < x->rank; i++) {
    if (k == 1)
      d[i] = tg[i] >= 0 ? sn_dim_known(tg[i]) : x->dims[i];
    else {
      bool touched = na < 0;
      for (int j = 0; j < na; j++) touched |= ax[j] == i || ax[j] + x->rank == i;
      d[i] = touched ? sn_dim_unknown() : x->dims[i];
    }
  }
  set_out(c, 0, x->dtype, x->rank, d);
  return NULL;
}

static sn_error *ccp_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  REQUIRE_TENSOR(c, x);
  int r = x->rank;
  int64_t tg[SN_MAX_RANK];
  char why[256], b[256];
  if (ccp_targets(c->node, r, kin(c, 1), tg, why, sizeof why) <= 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (input %s)", why, sn_tensor_describe(x, b, sizeof b));
  int64_t od[SN_MAX_RANK], n[SN_MAX_RANK], ist[SN_MAX_RANK], ost[SN_MAX_RANK], soff = 0, doff = 0;
  for (int i = 0; i < r; i++) od[i] = tg[i] >= 0 ? tg[i] : x->dims[i];
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  contiguous_strides(r, x->dims, ist);
  contiguous_strides(r, od, ost);
  for (int i = 0; i < r; i++) {
    int64_t D = x->dims[i], T = od[i];
    if (T < D) {
      soff += (D - T) / 2 * ist[i];
      n[i] = T;
    } else {
      doff += (T - D) / 2 * ost[i];
      n[i] = D;
    }
  }
  size_t es = sn_dtype_size(x->dtype);
  if (y->count) {
    memset(y->data, 0, y->nbytes);
    if (sn_shape_count(r, n) > 0)
      sn_copy_strided(r, n, (char *)y->data + doff * (int64_t)es, ost, (const char *)x->data + soff * (int64_t)es, ist, es);
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- the table ----------------------------------------------------------------------------------- */

const sn_op sn_ops_data[] = {
    {"", "Transpose", 1, 0, transpose_infer, transpose_run, NULL, NULL, 0},
    {"", "Concat", 1, 0, concat_infer, concat_run, NULL, NULL, 0},
    {"", "Split", 1, 0, split_infer, split_run, NULL, NULL, 0},
    {"", "Slice", 1, 9, slice_infer, slice_run, NULL, NULL, 0},
    {"", "Slice", 10, 0, slice_infer, slice_run, NULL, NULL, 0},
    {"", "Pad", 1, 10, pad_infer, pad_run, NULL, NULL, 0},
    {"", "Pad", 11, 0, pad_infer, pad_run, NULL, NULL, 0},
    {"", "Tile", 1, 5, tile_infer, tile_run, NULL, NULL, 0},
    {"", "Tile", 6, 0, tile_infer, tile_run, NULL, NULL, 0},
    {"", "DepthToSpace", 1, 0, d2s_infer, d2s_run, NULL, NULL, 0},
    {"", "SpaceToDepth", 1, 0, s2d_infer, s2d_run, NULL, NULL, 0},
    {"", "Trilu", 14, 0, trilu_infer, trilu_run, NULL, NULL, 0},
    {"", "ReverseSequence", 10, 0, revseq_infer, revseq_run, NULL, NULL, 0},
    {"", "CenterCropPad", 18, 0, ccp_infer, ccp_run, NULL, NULL, 0},
    {0},
};
