/* String ops: StringNormalizer (Unicode-aware case mapping through a UTF-8 C locale), StringConcat,
 * StringSplit, RegexFullMatch (RE2 syntax translated to POSIX extended regexes) and TfIdfVectorizer
 * (n-gram counting over int or string pools). */
#include <langinfo.h>
#include <locale.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "core/alloc.h"
#include "kernels/ref/broadcast.h"
#include "ops/op.h"

/* ---- shared helpers -------------------------------------------------------------------------------- */

static const char *str_at(const sn_tensor *t, int64_t i) {
  const char *s = ((char *const *)t->data)[i];
  return s ? s : "";
}

static sn_error *need_string_input(sn_kernel_ctx *c, int i) {
  const sn_tensor *x = i < c->n_in ? c->in[i] : NULL;
  if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %d is missing", i);
  if (x->kind != SN_KIND_TENSOR || x->dtype != SINTER_STRING)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %d must be a string tensor, got %s", i,
                           sn_dtype_name(x->dtype));
  return NULL;
}

static sn_error *infer_string_input(sn_infer_ctx *c, int i) {
  const sn_type *x = i < c->n_in ? c->in[i] : NULL;
  if (!x) return sn_infer_error(c, "input %d is missing", i);
  if (x->dtype && x->dtype != SINTER_STRING)
    return sn_infer_error(c, "input %d must be a string tensor, got %s", i, sn_dtype_name(x->dtype));
  return NULL;
}

/* A UTF-8 LC_CTYPE locale: the requested name (with ".UTF-8" appended when it has no codeset), else
 * C.UTF-8; (locale_t)0 when none exists (case mapping then covers ASCII only). */
static locale_t utf8_locale(const char *name) {
  char buf[128];
  const char *tries[4];
  int n = 0;
  if (name && *name && strlen(name) < 100) {
    if (strchr(name, '.')) {
      tries[n++] = name;
    } else {
      snprintf(buf, sizeof buf, "%s.UTF-8", name);
      tries[n++] = buf;
    }
  }
  tries[n++] = "C.UTF-8";
  tries[n++] = "C.utf8";
  for (int i = 0; i < n; i++) {
    locale_t l = newlocale(LC_CTYPE_MASK, tries[i], (locale_t)0);
    if (!l) continue;
    const char *cs = nl_langinfo_l(CODESET, l);
    if (cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"))) return l;
    freelocale(l);
  }
  return (locale_t)0;
}

/* Decode one UTF-8 code point at s (n bytes available); returns its length, or 0 when the bytes
 * are not valid UTF-8 (the caller then passes one byte through unchanged). */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if ((size_t)len > n) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

static int utf8_encode(uint32_t cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

enum { CASE_NONE = 0, CASE_LOWER = 1, CASE_UPPER = 2 };

static uint32_t map_cp(uint32_t cp, int action, locale_t loc) {
  if (action == CASE_NONE) return cp;
  if (!loc) {
    if (action == CASE_LOWER && cp >= 'A' && cp <= 'Z') return cp + 32;
    if (action == CASE_UPPER && cp >= 'a' && cp <= 'z') return cp - 32;
    return cp;
  }
  wint_t r = action == CASE_LOWER ? towlower_l((wint_t)cp, loc) : towupper_l((wint_t)cp, loc);
  uint32_t u = (uint32_t)r;
  if (u > 0x10FFFF || (u >= 0xD800 && u <= 0xDFFF)) return cp;
  return u;
}

/* A new heap string: s with every code point lowercased or uppercased; NULL on OOM. Bytes that are
 * not valid UTF-8 pass through unchanged. */
static char *case_map(const char *s, int action, locale_t loc) {
  size_t n = strlen(s);
  if (action == CASE_NONE) return sn_strdup(s);
  const unsigned char *u = (const unsigned char *)s;
  char tmp[4];
  size_t need = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int l = utf8_decode(u + i, n - i, &cp);
    if (!l) {
      need++, i++;
      continue;
    }
    need += (size_t)utf8_encode(map_cp(cp, action, loc), tmp);
    i += (size_t)l;
  }
  char *out = sn_malloc(need + 1);
  if (!out) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int l = utf8_decode(u + i, n - i, &cp);
    if (!l) {
      out[k++] = s[i++];
      continue;
    }
    k += (size_t)utf8_encode(map_cp(cp, action, loc), out + k);
    i += (size_t)l;
  }
  out[k] = 0;
  return out;
}

/* Free the strings of a heap tensor built here and the tensor (for error paths). */
static void drop(sn_tensor *t) { sn_tensor_free(t); }

/* ---- StringNormalizer ------------------------------------------------------------------------------ */

typedef struct strnorm_params {
  int action;
  bool case_sensitive;
  int n_stop;
  char **stop; /* lowercased when !case_sensitive */
  locale_t loc;
} strnorm_params;

static void strnorm_free(void *pp) {
  strnorm_params *p = pp;
  if (!p) return;
  for (int i = 0; i < p->n_stop; i++) sn_free(p->stop[i]);
  sn_free(p->stop);
  if (p->loc) freelocale(p->loc);
  sn_free(p);
}

static sn_error *strnorm_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  if (n->n_in != 1 || n->in[0] < 0) return sn_errorf(SINTER_ERR_INVALID_MODEL, "StringNormalizer needs one input");
  const char *act = sn_attr_str(n, "case_change_action", "NONE");
  int action;
  if (!strcmp(act, "NONE"))
    action = CASE_NONE;
  else if (!strcmp(act, "LOWER"))
    action = CASE_LOWER;
  else if (!strcmp(act, "UPPER"))
    action = CASE_UPPER;
  else
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "case_change_action '%s' is not one of NONE, LOWER, UPPER", act);
  strnorm_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  p->action = action;
  p->case_sensitive = sn_attr_int(n, "is_case_sensitive", 0) != 0;
  p->loc = utf8_locale(sn_attr_str(n, "locale", "en_US"));
  const sn_attr *sw = sn_node_attr(n, "stopwords");
  if (sw && sw->type == SN_ATTR_STRINGS && sw->n > 0) {
    p->stop = sn_calloc((size_t)sw->n, sizeof(char *));
    if (!p->stop) {
      strnorm_free(p);
      return SN_ERR_OOM();
    }
    p->n_stop = sw->n;
    for (int i = 0; i < sw->n; i++) {
      const char *w = sw->strings[i] ? sw->strings[i] : "";
      p->stop[i] = p->case_sensitive ? sn_strdup(w) : case_map(w, CASE_LOWER, p->loc);
      if (!p->stop[i]) {
        strnorm_free(p);
        return SN_ERR_OOM();
      }
    }
  }
  *params = p;
  return NULL;
}

static sn_error *strnorm_infer(sn_infer_ctx *c) {
  SN_TRY(infer_string_input(c, 0));
  const sn_type *x = c->in[0];
  if (x->rank >= 0 && x->rank != 1 && x->rank != 2)
    return sn_infer_error(c, "input must be [C] or [1, C], got rank %d", x->rank);
  if (x->rank == 2 && x->dims[0].v >= 0 && x->dims[0].v != 1)
    return sn_infer_error(c, "input must be [C] or [1, C], got first dimension %lld", (long long)x->dims[0].v);
  if (!c->out[0]) return NULL;
  if (x->rank < 0) {
    sn_type_set_unknown(c->out[0], SINTER_STRING);
  } else {
    sn_dim d[2] = {sn_dim_known(1), sn_dim_unknown()};
    if (x->rank == 1)
      sn_type_set(c->out[0], SINTER_STRING, 1, d + 1);
    else
      sn_type_set(c->out[0], SINTER_STRING, 2, d);
  }
  return NULL;
}

static sn_error *strnorm_run(sn_kernel_ctx *c) {
  const strnorm_params *p = c->params;
  if (!p) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "StringNormalizer was not prepared");
  SN_TRY(need_string_input(c, 0));
  const sn_tensor *x = c->in[0];
  char dims[64];
  if (x->rank != 1 && !(x->rank == 2 && x->dims[0] == 1))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be [C] or [1, C], got %s",
                           sn_dims_str(x->rank, x->dims, dims, sizeof dims));
  int64_t n = x->count;
  /* which elements survive the stopwords */
  bool *keep = n ? sn_kernel_scratch(c, (size_t)n) : NULL;
  if (n && !keep) return SN_ERR_OOM();
  int64_t kept = 0;
  for (int64_t i = 0; i < n; i++) {
    const char *s = str_at(x, i);
    bool stop = false;
    if (p->n_stop) {
      char *low = p->case_sensitive ? NULL : case_map(s, CASE_LOWER, p->loc);
      if (!p->case_sensitive && !low) return SN_ERR_OOM();
      const char *cmp = low ? low : s;
      for (int k = 0; k < p->n_stop && !stop; k++) stop = !strcmp(cmp, p->stop[k]);
      sn_free(low);
    }
    keep[i] = !stop;
    kept += !stop;
  }
  int64_t od[2] = {1, kept ? kept : 1};
  sn_tensor *y;
  if (x->rank == 1)
    SN_TRY(sn_tensor_new(SINTER_STRING, 1, od + 1, &y));
  else
    SN_TRY(sn_tensor_new(SINTER_STRING, 2, od, &y));
  char **ys = y->data;
  if (!kept) {
    ys[0] = sn_strdup("");
    if (!ys[0]) {
      drop(y);
      return SN_ERR_OOM();
    }
  }
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!keep[i]) continue;
    ys[k] = case_map(str_at(x, i), p->action, p->loc);
    if (!ys[k]) {
      drop(y);
      return SN_ERR_OOM();
    }
    k++;
  }
  return sn_kernel_set_output(c, 0, y);
}

/* ---- StringConcat ---------------------------------------------------------------------------------- */

static sn_error *concat_infer(sn_infer_ctx *c) {
  SN_TRY(infer_string_input(c, 0));
  SN_TRY(infer_string_input(c, 1));
  if (!c->out[0]) return NULL;
  SN_TRY(sn_infer_broadcast(c, c->in[0], c->in[1], c->out[0]));
  c->out[0]->dtype = SINTER_STRING;
  return NULL;
}

static sn_error *concat_run(sn_kernel_ctx *c) {
  SN_TRY(need_string_input(c, 0));
  SN_TRY(need_string_input(c, 1));
  int rank;
  int64_t dims[SN_MAX_RANK];
  sn_bcast b;
  sn_error *e = sn_bcast_init_tensors(&b, 2, c->in, &rank, dims);
  if (e) return sn_error_wrap(e, "StringConcat");
  sn_tensor *y;
  SN_TRY(sn_tensor_new(SINTER_STRING, rank, dims, &y));
  char **ys = y->data;
  sn_bcast_iter it;
  sn_bcast_iter_start(&it, &b, 0);
  for (int64_t r = 0; r < b.rows; r++, sn_bcast_iter_next(&it)) {
    for (int64_t i = 0; i < b.inner; i++) {
      const char *a = str_at(c->in[0], it.off[0] + i * b.inner_stride[0]);
      const char *s = str_at(c->in[1], it.off[1] + i * b.inner_stride[1]);
      size_t la = strlen(a), ls = strlen(s);
      char *o = sn_malloc(la + ls + 1);
      if (!o) {
        drop(y);
        return SN_ERR_OOM();
      }
      memcpy(o, a, la);
      memcpy(o + la, s, ls + 1);
      ys[r * b.inner + i] = o;
    }
  }
  return sn_kernel_set_output(c, 0, y);
}

/* ---- StringSplit ----------------------------------------------------------------------------------- */

typedef struct split_params {
  char *delim; /* NULL: split on runs of whitespace */
  int64_t maxsplit; /* < 0: no limit */
} split_params;

static void split_free(void *pp) {
  split_params *p = pp;
  if (!p) return;
  sn_free(p->delim);
  sn_free(p);
}

static sn_error *split_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  if (n->n_in != 1 || n->in[0] < 0) return sn_errorf(SINTER_ERR_INVALID_MODEL, "StringSplit needs one input");
  split_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  const char *d = sn_attr_str(n, "delimiter", "");
  if (d && *d) {
    p->delim = sn_strdup(d);
    if (!p->delim) {
      sn_free(p);
      return SN_ERR_OOM();
    }
  }
  p->maxsplit = sn_node_attr(n, "maxsplit") ? sn_attr_int(n, "maxsplit", -1) : -1;
  *params = p;
  return NULL;
}

static sn_error *split_infer(sn_infer_ctx *c) {
  SN_TRY(infer_string_input(c, 0));
  const sn_type *x = c->in[0];
  if (x->rank >= 0 && x->rank + 1 > SN_MAX_RANK) return sn_infer_error(c, "input rank %d is too large", x->rank);
  if (c->out[0]) {
    if (x->rank < 0) {
      sn_type_set_unknown(c->out[0], SINTER_STRING);
    } else {
      sn_dim d[SN_MAX_RANK];
      for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
      d[x->rank] = sn_dim_unknown();
      sn_type_set(c->out[0], SINTER_STRING, x->rank + 1, d);
    }
  }
  if (c->n_out > 1 && c->out[1]) {
    if (x->rank < 0)
      sn_type_set_unknown(c->out[1], SINTER_INT64);
    else
      sn_type_set(c->out[1], SINTER_INT64, x->rank, x->dims);
  }
  return NULL;
}

/* Length in bytes of a whitespace character at s (Python's str.isspace set), else 0. */
static int space_len(const unsigned char *s, size_t n) {
  if (!n) return 0;
  unsigned char ch = s[0];
  if (ch == ' ' || (ch >= 0x09 && ch <= 0x0D) || (ch >= 0x1C && ch <= 0x1F)) return 1;
  if (ch < 0x80) return 0;
  uint32_t cp;
  int l = utf8_decode(s, n, &cp);
  if (!l) return 0;
  if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
      cp == 0x202F || cp == 0x205F || cp == 0x3000)
    return l;
  return 0;
}

/* Split s the way Python's str.split(sep, maxsplit) does. With out == NULL only counts pieces;
 * otherwise stores new strings (the caller frees them on failure). Returns the count, -1 on OOM. */
static int64_t split_one(const char *s, const split_params *p, char **out) {
  size_t n = strlen(s);
  int64_t cnt = 0;
  const unsigned char *u = (const unsigned char *)s;
  if (p->delim) {
    size_t dl = strlen(p->delim), start = 0;
    for (;;) {
      const char *hit = (p->maxsplit < 0 || cnt < p->maxsplit) ? strstr(s + start, p->delim) : NULL;
      size_t end = hit ? (size_t)(hit - s) : n;
      if (out) {
        out[cnt] = sn_strndup(s + start, end - start);
        if (!out[cnt]) return -1;
      }
      cnt++;
      if (!hit) break;
      start = end + dl;
    }
    return cnt;
  }
  size_t i = 0;
  for (;;) {
    int l;
    while (i < n && (l = space_len(u + i, n - i)) > 0) i += (size_t)l;
    if (i >= n) break;
    size_t start = i, end;
    if (p->maxsplit >= 0 && cnt >= p->maxsplit) {
      end = n; /* the rest, trailing whitespace included */
    } else {
      while (i < n && space_len(u + i, n - i) == 0) i++;
      end = i;
    }
    if (out) {
      out[cnt] = sn_strndup(s + start, end - start);
      if (!out[cnt]) return -1;
    }
    cnt++;
    if (end == n) break;
  }
  return cnt;
}

static sn_error *split_run(sn_kernel_ctx *c) {
  const split_params *p = c->params;
  if (!p) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "StringSplit was not prepared");
  SN_TRY(need_string_input(c, 0));
  const sn_tensor *x = c->in[0];
  if (x->rank + 1 > SN_MAX_RANK) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "input rank %d is too large", x->rank);
  sn_tensor *len;
  SN_TRY(sn_kernel_output(c, 1, SINTER_INT64, x->rank, x->dims, &len));
  int64_t *lens = len->data;
  int64_t most = 0;
  for (int64_t i = 0; i < x->count; i++) {
    lens[i] = split_one(str_at(x, i), p, NULL);
    if (lens[i] > most) most = lens[i];
  }
  int64_t od[SN_MAX_RANK];
  memcpy(od, x->dims, sizeof(int64_t) * (size_t)x->rank);
  od[x->rank] = most;
  sn_tensor *y;
  SN_TRY(sn_tensor_new(SINTER_STRING, x->rank + 1, od, &y));
  char **ys = y->data;
  for (int64_t i = 0; i < x->count; i++) {
    char **row = ys + i * most;
    if (split_one(str_at(x, i), p, row) < 0) {
      drop(y);
      return SN_ERR_OOM();
    }
    for (int64_t k = lens[i]; k < most; k++) {
      row[k] = sn_strdup("");
      if (!row[k]) {
        drop(y);
        return SN_ERR_OOM();
      }
    }
  }
  return sn_kernel_set_output(c, 0, y);
}

/* ---- RegexFullMatch -------------------------------------------------------------------------------- */

typedef struct regex_params {
  regex_t re;
  locale_t loc;
} regex_params;

static void regex_free(void *pp) {
  regex_params *p = pp;
  if (!p) return;
  regfree(&p->re);
  if (p->loc) freelocale(p->loc);
  sn_free(p);
}

/* A growing output string for the translation. */
typedef struct sbuf {
  char *s;
  size_t n, cap;
  bool oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n + 1) cap *= 2;
    char *t = sn_realloc(b->s, cap);
    if (!t) {
      b->oom = true;
      return;
    }
    b->s = t;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_putc(sbuf *b, char ch) { sb_putn(b, &ch, 1); }

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Parse an escape's literal character (after the backslash at *pp): \n \t \r \f \v \a \0, \xHH,
 * \x{H...}, or an escaped punctuation character. Returns the code point, or -1 when it is not a
 * literal escape. Advances *pp past it. */
static int64_t escape_literal(const char **pp) {
  const char *p = *pp;
  char ch = *p;
  int64_t v = -1;
  switch (ch) {
    case 'n': v = '\n'; p++; break;
    case 't': v = '\t'; p++; break;
    case 'r': v = '\r'; p++; break;
    case 'f': v = '\f'; p++; break;
    case 'v': v = '\v'; p++; break;
    case 'a': v = '\a'; p++; break;
    case 'x':
      if (p[1] == '{') {
        const char *q = p + 2;
        int64_t acc = 0;
        int nd = 0;
        while (hexval(*q) >= 0 && nd < 8) acc = acc * 16 + hexval(*q++), nd++;
        if (*q != '}' || !nd || acc > 0x10FFFF) return -1;
        v = acc;
        p = q + 1;
      } else if (hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
        v = hexval(p[1]) * 16 + hexval(p[2]);
        p += 3;
      } else {
        return -1;
      }
      break;
    default:
      if (ch && (unsigned char)ch < 0x80 && !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) {
        v = (unsigned char)ch;
        p++;
      } else if ((unsigned char)ch >= 0x80) {
        uint32_t cp;
        int l = utf8_decode((const unsigned char *)p, strlen(p), &cp);
        if (!l) return -1;
        v = cp;
        p += l;
      }
      break;
  }
  if (v > 0) *pp = p;
  return v > 0 ? v : -1;
}

/* A literal code point outside brackets, escaped where ERE gives it meaning. */
static void put_literal(sbuf *b, uint32_t cp) {
  if (cp < 0x80 && strchr(".[]{}()*+?|^$\\", (int)cp)) sb_putc(b, '\\');
  char tmp[4];
  sb_putn(b, tmp, (size_t)utf8_encode(cp, tmp));
}

#define MAX_ENUMERATED 65536

/* Translate one RE2 bracket expression starting at *pp (just past '['). *enumerated counts the code
 * points of non-ASCII ranges listed so far. */
static const char *translate_bracket(const char **pp, sbuf *b, int64_t *enumerated) {
  const char *p = *pp;
  bool neg = false;
  if (*p == '^') neg = true, p++;
  bool has_rbracket = false, has_caret = false, has_dash = false;
  sbuf body = {0};
  bool first = true;
  for (;;) {
    if (!*p) {
      sn_free(body.s);
      return "unterminated [ ]";
    }
    if (*p == ']' && !first) {
      p++;
      break;
    }
    first = false;
    if (p[0] == '[' && p[1] == ':') {
      const char *end = strstr(p + 2, ":]");
      if (!end) {
        sn_free(body.s);
        return "unterminated [: :] class";
      }
      /* RE2's POSIX classes are ASCII-only; the locale's would take in non-ASCII letters */
      static const char *const classes[][2] = {
          {"alpha", "A-Za-z"}, {"digit", "0-9"}, {"alnum", "0-9A-Za-z"}, {"upper", "A-Z"}, {"lower", "a-z"},
          {"space", " \t\n\v\f\r"}, {"blank", " \t"}, {"punct", "!-/:-@[-`{-~"}, {"xdigit", "0-9A-Fa-f"},
          {"word", "0-9A-Za-z_"}, {"cntrl", "\001-\037\177"}, {"print", " -~"}, {"graph", "!-~"}, {"ascii", "\001-\177"},
      };
      size_t nl = (size_t)(end - (p + 2));
      const char *exp = NULL;
      for (size_t k = 0; k < sizeof classes / sizeof *classes; k++)
        if (strlen(classes[k][0]) == nl && !strncmp(p + 2, classes[k][0], nl)) exp = classes[k][1];
      if (!exp) {
        sn_free(body.s);
        return "unknown or negated [: :] class";
      }
      sb_puts(&body, exp);
      p = end + 2;
      continue;
    }
    int64_t lo;
    if (*p == '\\') {
      char e = p[1];
      const char *cls = NULL;
      if (e == 'd') cls = "0-9";
      if (e == 'w') cls = "0-9A-Za-z_";
      if (e == 's') cls = " \t\n\f\r";
      if (cls) {
        sb_puts(&body, cls);
        p += 2;
        continue;
      }
      if (e == 'D' || e == 'W' || e == 'S') {
        sn_free(body.s);
        return "a negated class (\\D, \\W, \\S) inside [ ] is not supported";
      }
      p++;
      lo = escape_literal(&p);
      if (lo < 0) {
        sn_free(body.s);
        return "unsupported escape inside [ ]";
      }
    } else {
      uint32_t cp;
      int l = utf8_decode((const unsigned char *)p, strlen(p), &cp);
      if (!l) cp = (unsigned char)*p, l = 1;
      lo = cp;
      p += l;
    }
    int64_t hi = -1;
    if (p[0] == '-' && p[1] && p[1] != ']') {
      const char *q = p + 1;
      if (*q == '\\') {
        q++;
        hi = escape_literal(&q);
      } else {
        uint32_t cp;
        int l = utf8_decode((const unsigned char *)q, strlen(q), &cp);
        if (!l) cp = (unsigned char)*q, l = 1;
        hi = cp;
        q += l;
      }
      if (hi < 0 || hi < lo) {
        sn_free(body.s);
        return "bad range inside [ ]";
      }
      p = q;
    }
    char tmp[4];
    if (hi >= 0) {
      /* ranges whose ends are ] ^ - would need collating symbols; keep simple ones */
      if (lo == ']' || lo == '^' || lo == '-' || hi == ']' || hi == '^' || hi == '-') {
        sn_free(body.s);
        return "a range starting or ending with ] ^ - is not supported";
      }
      if (lo < 0x80) {
        int64_t top = hi < 0x7F ? hi : 0x7F;
        sb_putn(&body, tmp, (size_t)utf8_encode((uint32_t)lo, tmp));
        if (top > lo) {
          sb_putc(&body, '-');
          sb_putn(&body, tmp, (size_t)utf8_encode((uint32_t)top, tmp));
        }
      }
      /* glibc's regcomp refuses ranges with multibyte ends in C.UTF-8: list their members */
      if (hi >= 0x80) {
        int64_t from = lo < 0x80 ? 0x80 : lo;
        *enumerated += hi - from + 1;
        if (*enumerated > MAX_ENUMERATED) {
          sn_free(body.s);
          return "non-ASCII ranges inside [ ] covering more than 65536 code points are not supported";
        }
        for (int64_t cp = from; cp <= hi; cp++)
          if (cp < 0xD800 || cp > 0xDFFF) sb_putn(&body, tmp, (size_t)utf8_encode((uint32_t)cp, tmp));
      }
    } else if (lo == ']') {
      has_rbracket = true;
    } else if (lo == '^') {
      has_caret = true;
    } else if (lo == '-') {
      has_dash = true;
    } else {
      sb_putn(&body, tmp, (size_t)utf8_encode((uint32_t)lo, tmp));
    }
  }
  if (body.oom) {
    sn_free(body.s);
    return "out of memory";
  }
  if (!neg && has_caret && !has_rbracket && body.n == 0 && !has_dash) {
    sb_puts(b, "\\^");
  } else {
    sb_putc(b, '[');
    if (neg) sb_putc(b, '^');
    if (has_rbracket) sb_putc(b, ']');
    if (body.n) sb_putn(b, body.s, body.n);
    if (has_caret) {
      if (!neg && !has_rbracket && body.n == 0) {
        /* only ^ and - : "-^" is fine */
        sb_putc(b, '-');
        has_dash = false;
      }
      sb_putc(b, '^');
    }
    if (has_dash) sb_putc(b, '-');
    sb_putc(b, ']');
  }
  sn_free(body.s);
  *pp = p;
  return NULL;
}

/* Translate an RE2 pattern to a POSIX extended regex that matches the whole string. Greediness does
 * not change whether a full match exists, so lazy quantifiers become greedy. Returns NULL or a
 * description of the unsupported construct. */
static const char *translate_regex(const char *pat, sbuf *b, int *cflags) {
  const char *p = pat;
  int64_t enumerated = 0;
  if (!strncmp(p, "(?i)", 4)) {
    *cflags |= REG_ICASE;
    p += 4;
  }
  sb_puts(b, "^(");
  while (*p) {
    char ch = *p;
    if (ch == '\\') {
      char e = p[1];
      const char *rep = NULL;
      switch (e) {
        case 'd': rep = "[0-9]"; break;
        case 'D': rep = "[^0-9]"; break;
        case 'w': rep = "[0-9A-Za-z_]"; break;
        case 'W': rep = "[^0-9A-Za-z_]"; break;
        case 's': rep = "[ \t\n\f\r]"; break;
        case 'S': rep = "[^ \t\n\f\r]"; break;
        case 'b': rep = "\\b"; break;
        case 'B': rep = "\\B"; break;
        case 'A': rep = "^"; break;
        case 'z': rep = "$"; break;
        default: break;
      }
      if (rep) {
        sb_puts(b, rep);
        p += 2;
        continue;
      }
      if (!e) return "trailing backslash";
      p++;
      int64_t v = escape_literal(&p);
      if (v < 0) return "unsupported escape (backreferences, \\p classes, \\Q..\\E and the like)";
      put_literal(b, (uint32_t)v);
      continue;
    }
    if (ch == '[') {
      p++;
      const char *err = translate_bracket(&p, b, &enumerated);
      if (err) return err;
      continue;
    }
    if (ch == '(' && p[1] == '?') {
      if (p[2] == ':') {
        p += 3;
      } else if (p[2] == 'P' && p[3] == '<') {
        const char *q = strchr(p, '>');
        if (!q) return "unterminated (?P<name>";
        p = q + 1;
      } else if (p[2] == '<' && p[3] != '=' && p[3] != '!') {
        const char *q = strchr(p, '>');
        if (!q) return "unterminated (?<name>";
        p = q + 1;
      } else {
        return "unsupported (? group or flag";
      }
      sb_putc(b, '(');
      continue;
    }
    if (ch == '.') {
      sb_puts(b, "[^\n]");
      p++;
      continue;
    }
    if (ch == '*' || ch == '+' || ch == '?') {
      sb_putc(b, ch);
      p++;
      if (*p == '?') p++; /* lazy: same full-match result */
      continue;
    }
    if (ch == '{' || ch == '}') {
      /* a repetition {n}, {n,} or {n,m}; any other brace is a literal in RE2 */
      const char *q = p + 1;
      bool rep = false;
      if (ch == '{' && *q >= '0' && *q <= '9') {
        while (*q >= '0' && *q <= '9') q++;
        if (*q == ',') {
          q++;
          while (*q >= '0' && *q <= '9') q++;
        }
        rep = *q == '}';
      }
      if (!rep) {
        sb_putc(b, '\\');
        sb_putc(b, ch);
        p++;
        continue;
      }
      sb_putn(b, p, (size_t)(q + 1 - p));
      p = q + 1;
      if (*p == '?') p++;
      continue;
    }
    /* copy one (possibly multibyte) character */
    uint32_t cp;
    int l = utf8_decode((const unsigned char *)p, strlen(p), &cp);
    if (!l) l = 1;
    sb_putn(b, p, (size_t)l);
    p += l;
  }
  sb_puts(b, ")$");
  return b->oom ? "out of memory" : NULL;
}

static sn_error *regex_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  if (n->n_in != 1 || n->in[0] < 0) return sn_errorf(SINTER_ERR_INVALID_MODEL, "RegexFullMatch needs one input");
  const sn_attr *a = sn_node_attr(n, "pattern");
  if (!a || a->type != SN_ATTR_STRING || !a->s)
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "RegexFullMatch needs the string attribute 'pattern'");
  if (strlen(a->s) != a->s_len)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "RegexFullMatch: patterns containing NUL bytes are not supported");
  sbuf b = {0};
  int cflags = REG_EXTENDED | REG_NOSUB;
  const char *why = translate_regex(a->s, &b, &cflags);
  if (why) {
    sn_free(b.s);
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "RegexFullMatch pattern '%.200s': %s", a->s, why);
  }
  regex_params *p = sn_calloc(1, sizeof *p);
  if (!p) {
    sn_free(b.s);
    return SN_ERR_OOM();
  }
  p->loc = utf8_locale(NULL);
  locale_t old = p->loc ? uselocale(p->loc) : (locale_t)0;
  int rc = regcomp(&p->re, b.s, cflags);
  if (p->loc) uselocale(old);
  if (rc) {
    char msg[160];
    regerror(rc, &p->re, msg, sizeof msg);
    sn_error *e = sn_errorf(SINTER_ERR_INVALID_MODEL, "RegexFullMatch pattern '%.200s' (as POSIX '%.200s') does not compile: %s",
                            a->s, b.s, msg);
    sn_free(b.s);
    if (p->loc) freelocale(p->loc);
    sn_free(p);
    return e;
  }
  sn_free(b.s);
  *params = p;
  return NULL;
}

static sn_error *regex_infer(sn_infer_ctx *c) {
  SN_TRY(infer_string_input(c, 0));
  const sn_type *x = c->in[0];
  if (c->out[0]) {
    if (x->rank < 0)
      sn_type_set_unknown(c->out[0], SINTER_BOOL);
    else
      sn_type_set(c->out[0], SINTER_BOOL, x->rank, x->dims);
  }
  return NULL;
}

static sn_error *regex_run(sn_kernel_ctx *c) {
  const regex_params *p = c->params;
  if (!p) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "RegexFullMatch was not prepared");
  SN_TRY(need_string_input(c, 0));
  const sn_tensor *x = c->in[0];
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_BOOL, x->rank, x->dims, &y));
  uint8_t *yb = y->data;
  locale_t old = p->loc ? uselocale(p->loc) : (locale_t)0;
  for (int64_t i = 0; i < x->count; i++) yb[i] = regexec(&p->re, str_at(x, i), 0, NULL, 0) == 0;
  if (p->loc) uselocale(old);
  return NULL;
}

/* ---- TfIdfVectorizer ------------------------------------------------------------------------------- */

enum { TF_TF = 1, TF_IDF = 2, TF_TFIDF = 3 };

/* The pool's n-grams as a trie: node 0 is the root; children found through one hash table keyed by
 * (parent, item). */
typedef struct tf_node {
  int parent;
  int n_children;
  int64_t id; /* 1-based n-gram id, 0 when no n-gram ends here */
  int64_t ikey;
  const char *skey;
} tf_node;

typedef struct tf_params {
  int mode;
  int64_t min_n, max_n, max_skip;
  int64_t out_size;
  int64_t n_indexes;
  int64_t *indexes;
  int n_weights;
  float *weights; /* per output column (out_size entries) */
  bool strings;
  char **pool_s; /* owned copies */
  int64_t n_pool;
  int n_nodes, cap_nodes;
  tf_node *nodes;
  int hash_cap; /* power of two */
  int *hash;    /* node index or -1 */
} tf_params;

static void tf_free(void *pp) {
  tf_params *p = pp;
  if (!p) return;
  sn_free(p->indexes);
  sn_free(p->weights);
  for (int64_t i = 0; p->pool_s && i < p->n_pool; i++) sn_free(p->pool_s[i]);
  sn_free(p->pool_s);
  sn_free(p->nodes);
  sn_free(p->hash);
  sn_free(p);
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static uint64_t tf_hash(int parent, int64_t ikey, const char *skey) {
  uint64_t k = skey ? str_hash(skey) : (uint64_t)ikey;
  return mix64(k ^ mix64((uint64_t)parent + 0x9e3779b97f4a7c15ULL));
}

static int tf_find(const tf_params *p, int parent, int64_t ikey, const char *skey) {
  if (!p->nodes[parent].n_children) return -1;
  uint64_t mask = (uint64_t)p->hash_cap - 1;
  for (uint64_t h = tf_hash(parent, ikey, skey) & mask;; h = (h + 1) & mask) {
    int k = p->hash[h];
    if (k < 0) return -1;
    const tf_node *nd = &p->nodes[k];
    if (nd->parent == parent && (skey ? !strcmp(nd->skey, skey) : nd->ikey == ikey)) return k;
  }
}

static sn_error *tf_rehash(tf_params *p, int cap) {
  int *h = sn_malloc(sizeof(int) * (size_t)cap);
  if (!h) return SN_ERR_OOM();
  for (int i = 0; i < cap; i++) h[i] = -1;
  uint64_t mask = (uint64_t)cap - 1;
  for (int k = 1; k < p->n_nodes; k++) {
    const tf_node *nd = &p->nodes[k];
    uint64_t s = tf_hash(nd->parent, nd->ikey, nd->skey) & mask;
    while (h[s] >= 0) s = (s + 1) & mask;
    h[s] = k;
  }
  sn_free(p->hash);
  p->hash = h;
  p->hash_cap = cap;
  return NULL;
}

/* The child of parent for this item, created when absent. */
static sn_error *tf_child(tf_params *p, int parent, int64_t ikey, const char *skey, int *out) {
  int k = tf_find(p, parent, ikey, skey);
  if (k >= 0) {
    *out = k;
    return NULL;
  }
  if (p->n_nodes == p->cap_nodes) {
    int cap = p->cap_nodes * 2;
    tf_node *t = sn_realloc(p->nodes, sizeof(tf_node) * (size_t)cap);
    if (!t) return SN_ERR_OOM();
    p->nodes = t;
    p->cap_nodes = cap;
  }
  k = p->n_nodes++;
  p->nodes[k] = (tf_node){parent, 0, 0, ikey, skey};
  p->nodes[parent].n_children++;
  if ((int64_t)p->n_nodes * 2 > p->hash_cap) {
    SN_TRY(tf_rehash(p, p->hash_cap * 2));
  } else {
    uint64_t mask = (uint64_t)p->hash_cap - 1;
    uint64_t s = tf_hash(parent, ikey, skey) & mask;
    while (p->hash[s] >= 0) s = (s + 1) & mask;
    p->hash[s] = k;
  }
  *out = k;
  return NULL;
}

static sn_error *tf_build(tf_params *p, const int64_t *counts, int n_counts, const int64_t *pool_i) {
  p->cap_nodes = 16;
  p->nodes = sn_malloc(sizeof(tf_node) * (size_t)p->cap_nodes);
  if (!p->nodes) return SN_ERR_OOM();
  p->nodes[0] = (tf_node){-1, 0, 0, 0, NULL};
  p->n_nodes = 1;
  SN_TRY(tf_rehash(p, 32));
  int64_t id = 1;
  for (int i = 0; i < n_counts; i++) {
    int64_t size = i + 1;
    int64_t start = counts[i], end = i + 1 < n_counts ? counts[i + 1] : p->n_pool;
    if (start < 0 || start > p->n_pool || end < start || end > p->n_pool)
      return sn_errorf(SINTER_ERR_INVALID_MODEL,
                       "TfIdfVectorizer: ngram_counts puts the %d-grams at pool items [%lld, %lld), outside the pool's %lld items",
                       i + 1, (long long)start, (long long)end, (long long)p->n_pool);
    int64_t ngrams = (end - start) / size;
    if (size < p->min_n || size > p->max_n) {
      id += ngrams;
      continue;
    }
    for (int64_t g = 0; g < ngrams; g++) {
      int node = 0;
      for (int64_t j = 0; j < size; j++) {
        int64_t at = start + g * size + j;
        SN_TRY(tf_child(p, node, p->strings ? 0 : pool_i[at], p->strings ? p->pool_s[at] : NULL, &node));
      }
      if (id > p->n_indexes)
        return sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: the pool holds more n-grams than ngram_indexes (%lld)",
                         (long long)p->n_indexes);
      p->nodes[node].id = id++;
    }
  }
  return NULL;
}

static sn_error *tf_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  if (n->n_in != 1 || n->in[0] < 0) return sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer needs one input");
  const char *mode = sn_attr_str(n, "mode", NULL);
  int m;
  if (!mode) return sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: attribute 'mode' is missing");
  if (!strcmp(mode, "TF"))
    m = TF_TF;
  else if (!strcmp(mode, "IDF"))
    m = TF_IDF;
  else if (!strcmp(mode, "TFIDF"))
    m = TF_TFIDF;
  else
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: mode '%s' is not one of TF, IDF, TFIDF", mode);
  const char *req[] = {"min_gram_length", "max_gram_length", "max_skip_count"};
  for (int i = 0; i < 3; i++)
    if (!sn_node_attr(n, req[i])) return sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: attribute '%s' is missing", req[i]);
  tf_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = NULL;
  p->mode = m;
  p->min_n = sn_attr_int(n, "min_gram_length", 1);
  p->max_n = sn_attr_int(n, "max_gram_length", 1);
  p->max_skip = sn_attr_int(n, "max_skip_count", 0);
  const int64_t *counts, *idx, *pool_i = NULL;
  int n_counts = sn_attr_ints(n, "ngram_counts", &counts);
  int n_idx = sn_attr_ints(n, "ngram_indexes", &idx);
  int n_pool_i = sn_attr_ints(n, "pool_int64s", &pool_i);
  const sn_attr *ps = sn_node_attr(n, "pool_strings");
  const float *w;
  int n_w = sn_attr_floats(n, "weights", &w);
  if (p->min_n < 1 || p->max_n < p->min_n || p->max_skip < 0) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL,
                  "TfIdfVectorizer: need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0 (got %lld, %lld, %lld)",
                  (long long)p->min_n, (long long)p->max_n, (long long)p->max_skip);
    goto fail;
  }
  if (n_counts < 0 || n_idx <= 0) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: attributes 'ngram_counts' and 'ngram_indexes' are required");
    goto fail;
  }
  if ((n_pool_i >= 0) == (ps != NULL)) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: exactly one of 'pool_int64s' and 'pool_strings' must be given");
    goto fail;
  }
  p->n_indexes = n_idx;
  p->indexes = sn_malloc(sizeof(int64_t) * (size_t)n_idx);
  if (!p->indexes) goto oom;
  memcpy(p->indexes, idx, sizeof(int64_t) * (size_t)n_idx);
  for (int i = 0; i < n_idx; i++) {
    if (idx[i] < 0 || idx[i] >= ((int64_t)1 << 40)) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: ngram_indexes[%d] = %lld is out of range", i, (long long)idx[i]);
      goto fail;
    }
    if (idx[i] + 1 > p->out_size) p->out_size = idx[i] + 1;
  }
  if (n_w > 0) {
    /* weights[j] belongs to the j-th n-gram of the pool, whose output column is ngram_indexes[j] */
    if (n_w != n_idx) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: %d weights for %d n-grams (ngram_indexes)", n_w, n_idx);
      goto fail;
    }
    p->n_weights = n_w;
    p->weights = sn_calloc((size_t)p->out_size, sizeof(float));
    if (!p->weights) goto oom;
    for (int j = 0; j < n_idx; j++) p->weights[idx[j]] = w[j];
  }
  if (ps) {
    if (ps->type != SN_ATTR_STRINGS) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "TfIdfVectorizer: 'pool_strings' must be a list of strings");
      goto fail;
    }
    p->strings = true;
    p->n_pool = ps->n;
    p->pool_s = sn_calloc(ps->n ? (size_t)ps->n : 1, sizeof(char *));
    if (!p->pool_s) goto oom;
    for (int i = 0; i < ps->n; i++) {
      p->pool_s[i] = sn_strdup(ps->strings[i] ? ps->strings[i] : "");
      if (!p->pool_s[i]) goto oom;
    }
  } else {
    p->n_pool = n_pool_i;
  }
  e = tf_build(p, counts, n_counts, pool_i);
  if (e) goto fail;
  *params = p;
  return NULL;
oom:
  e = SN_ERR_OOM();
fail:
  tf_free(p);
  return e;
}

static sn_error *tf_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input is missing");
  const tf_params *p = c->node->params;
  if (x->dtype && x->dtype != SINTER_STRING && x->dtype != SINTER_INT32 && x->dtype != SINTER_INT64)
    return sn_infer_error(c, "input must be string, int32 or int64, got %s", sn_dtype_name(x->dtype));
  if (p && x->dtype && (x->dtype == SINTER_STRING) != p->strings)
    return sn_infer_error(c, "input of type %s does not match the %s pool", sn_dtype_name(x->dtype),
                          p->strings ? "string" : "int64");
  if (x->rank > 2) return sn_infer_error(c, "input must be [C] or [N, C], got rank %d", x->rank);
  if (!c->out[0]) return NULL;
  sn_dim cols = p ? sn_dim_known(p->out_size) : sn_dim_unknown();
  if (x->rank < 0) {
    sn_type_set_unknown(c->out[0], SINTER_FLOAT);
  } else if (x->rank == 2) {
    sn_dim d[2] = {x->dims[0], cols};
    sn_type_set(c->out[0], SINTER_FLOAT, 2, d);
  } else {
    sn_type_set(c->out[0], SINTER_FLOAT, 1, &cols);
  }
  return NULL;
}

/* Count the n-grams of one row (items [0, C) of the row starting at element base) into freq. */
static void tf_count_row(const tf_params *p, const sn_tensor *x, int64_t base, int64_t C, int64_t *freq) {
  int64_t start_n = p->min_n;
  for (int64_t skip = 1; skip <= p->max_skip + 1; skip++) {
    for (int64_t s = 0; s < C; s++) {
      if (s + skip * (start_n - 1) >= C) break;
      int node = 0;
      int64_t at = s;
      for (int64_t size = 1; size <= p->max_n && at < C; size++, at += skip) {
        int64_t ik = 0;
        const char *sk = NULL;
        if (p->strings)
          sk = str_at(x, base + at);
        else if (x->dtype == SINTER_INT32)
          ik = ((const int32_t *)x->data)[base + at];
        else
          ik = ((const int64_t *)x->data)[base + at];
        int k = tf_find(p, node, ik, sk);
        if (k < 0) break;
        int64_t id = p->nodes[k].id;
        if (size >= start_n && id > 0) freq[p->indexes[id - 1]]++;
        node = k;
      }
    }
    /* unigrams do not depend on the skip distance: count them once */
    if (start_n == 1) {
      start_n = 2;
      if (start_n > p->max_n) break;
    }
  }
}

static sn_error *tf_run(sn_kernel_ctx *c) {
  const tf_params *p = c->params;
  if (!p) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "TfIdfVectorizer was not prepared");
  const sn_tensor *x = c->in[0];
  if (!x || x->kind != SN_KIND_TENSOR) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be a tensor");
  bool is_str = x->dtype == SINTER_STRING;
  if (!is_str && x->dtype != SINTER_INT32 && x->dtype != SINTER_INT64)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be string, int32 or int64, got %s", sn_dtype_name(x->dtype));
  if (is_str != p->strings)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input of type %s does not match the %s pool",
                           sn_dtype_name(x->dtype), p->strings ? "string" : "int64");
  char dims[64];
  int64_t rows, C;
  if (x->rank == 0)
    rows = 1, C = 1;
  else if (x->rank == 1)
    rows = 1, C = x->dims[0];
  else if (x->rank == 2 && x->dims[0] > 0)
    rows = x->dims[0], C = x->dims[1];
  else
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be [C] or [N, C] with N > 0, got %s",
                           sn_dims_str(x->rank, x->dims, dims, sizeof dims));
  int64_t od[2] = {rows, p->out_size};
  sn_tensor *y;
  if (x->rank == 2)
    SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 2, od, &y));
  else
    SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 1, od + 1, &y));
  int64_t *freq = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)(p->out_size ? p->out_size : 1));
  if (!freq) return SN_ERR_OOM();
  float *yf = y->data;
  for (int64_t r = 0; r < rows; r++) {
    memset(freq, 0, sizeof(int64_t) * (size_t)p->out_size);
    if (C > 0) tf_count_row(p, x, r * C, C, freq);
    float *yr = yf + r * p->out_size;
    for (int64_t i = 0; i < p->out_size; i++) {
      float w = p->n_weights ? p->weights[i] : 1.0f;
      switch (p->mode) {
        case TF_TF: yr[i] = (float)freq[i]; break;
        case TF_IDF: yr[i] = freq[i] > 0 ? w : 0.0f; break;
        default: yr[i] = w * (float)freq[i]; break;
      }
    }
  }
  return NULL;
}

const sn_op sn_ops_strings[] = {
    {"", "StringNormalizer", 10, 0, strnorm_infer, strnorm_run, strnorm_prepare, strnorm_free, 0},
    {"", "StringConcat", 20, 0, concat_infer, concat_run, NULL, NULL, 0},
    {"", "StringSplit", 20, 0, split_infer, split_run, split_prepare, split_free, 0},
    {"", "RegexFullMatch", 20, 0, regex_infer, regex_run, regex_prepare, regex_free, 0},
    {"", "TfIdfVectorizer", 9, 0, tf_infer, tf_run, tf_prepare, tf_free, 0},
    {0},
};
