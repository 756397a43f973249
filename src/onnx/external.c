/* External tensor data: resolve `location` inside the model's folder (no absolute paths, no '..',
 * no symlinks, nothing that resolves outside), map the file once, check offset/length. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"

static bool parse_u64(const char *s, uint64_t *out) {
  if (!*s) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return false;
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* A relative path with no '..', '.'-only tricks allowed, no backslashes or empty names. */
static const char *check_location(const char *loc) {
  if (!*loc) return "is empty";
  if (loc[0] == '/') return "is an absolute path";
  if (strchr(loc, '\\')) return "contains a backslash";
  const char *p = loc;
  while (*p) {
    const char *q = strchr(p, '/');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') return "contains a '..' component";
    if (!q) break;
    p = q + 1;
  }
  return NULL;
}

static sn_error *map_file(sn_onnx_ctx *c, const char *real, const char *loc, sn_onnx_extfile **out) {
  for (int i = 0; i < c->n_ext; i++)
    if (!strcmp(c->ext[i].real, real)) {
      *out = &c->ext[i];
      return NULL;
    }
  int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot open external data file '%s': %s", loc, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "external data file '%s' is not a regular file", loc);
  }
  size_t len = (size_t)st.st_size;
  void *map = NULL;
  size_t readable = 0;
  if (len) {
    map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      close(fd);
      return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot map external data file '%s': %s", loc, strerror(err));
    }
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    readable = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
  }
  close(fd);
  sn_model *m = c->m;
  if (map) {
    if (m->n_maps == m->cap_maps) {
      int cap = m->cap_maps ? m->cap_maps * 2 : 4;
      void **nm = sn_realloc(m->maps, sizeof(void *) * (size_t)cap);
      if (nm) m->maps = nm;
      size_t *nl = nm ? sn_realloc(m->map_lens, sizeof(size_t) * (size_t)cap) : NULL;
      if (nl) m->map_lens = nl;
      if (!nm || !nl) {
        munmap(map, len);
        return SN_ERR_OOM();
      }
      m->cap_maps = cap;
    }
    m->maps[m->n_maps] = map;
    m->map_lens[m->n_maps] = len;
    m->n_maps++;
  }
  if (c->n_ext == c->cap_ext) {
    int cap = c->cap_ext ? c->cap_ext * 2 : 4;
    sn_onnx_extfile *ne = sn_realloc(c->ext, sizeof(*ne) * (size_t)cap);
    if (!ne) return SN_ERR_OOM(); /* the mapping stays owned by the model */
    c->ext = ne;
    c->cap_ext = cap;
  }
  sn_onnx_extfile *x = &c->ext[c->n_ext];
  x->real = sn_strdup(real);
  if (!x->real) return SN_ERR_OOM();
  x->data = map;
  x->len = len;
  x->readable = readable;
  c->n_ext++;
  *out = x;
  return NULL;
}

sn_error *sn_onnx_external(sn_onnx_ctx *c, const char *tname, int n, char **keys, char **vals, size_t expect,
                           const uint8_t **data, size_t *readable) {
  (void)tname;
  *data = NULL;
  *readable = 0;
  const char *loc = NULL, *off_s = NULL, *len_s = NULL;
  for (int i = 0; i < n; i++) {
    if (!strcmp(keys[i], "location"))
      loc = vals[i];
    else if (!strcmp(keys[i], "offset"))
      off_s = vals[i];
    else if (!strcmp(keys[i], "length"))
      len_s = vals[i];
  }
  if (!loc) return sn_errorf(SINTER_ERR_INVALID_MODEL, "external data has no 'location'");
  if (!c->m || !c->m->dir)
    return sn_errorf(SINTER_ERR_INVALID_MODEL,
                     "external data file '%s' cannot be found: the model was loaded from memory without a folder",
                     loc);
  const char *why = check_location(loc);
  if (why) return sn_errorf(SINTER_ERR_INVALID_MODEL, "external data location '%s' %s (refused)", loc, why);
  uint64_t off = 0, len = 0;
  if (off_s && !parse_u64(off_s, &off))
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "external data offset '%s' is not a number", off_s);
  if (len_s && !parse_u64(len_s, &len))
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "external data length '%s' is not a number", len_s);

  /* resolve: dir/loc must not be a symlink and must resolve inside realpath(dir) */
  size_t dl = strlen(c->m->dir), ll = strlen(loc);
  char *full = sn_malloc(dl + ll + 2);
  if (!full) return SN_ERR_OOM();
  memcpy(full, c->m->dir, dl);
  full[dl] = '/';
  memcpy(full + dl + 1, loc, ll + 1);
  sn_error *e = NULL;
  char *rdir = NULL, *rfile = NULL;
  struct stat st;
  if (lstat(full, &st) != 0) {
    e = sn_errorf(SINTER_ERR_NO_SUCH_FILE, "external data file '%s' not found next to the model (%s)", loc,
                  strerror(errno));
    goto done;
  }
  if (S_ISLNK(st.st_mode)) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "external data file '%s' is a symbolic link (refused)", loc);
    goto done;
  }
  rdir = realpath(c->m->dir, NULL);
  rfile = realpath(full, NULL);
  if (!rdir || !rfile) {
    e = sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot resolve external data file '%s': %s", loc, strerror(errno));
    goto done;
  }
  size_t rl = strlen(rdir);
  bool inside = strncmp(rfile, rdir, rl) == 0 && (rfile[rl] == '/' || (rl == 1 && rdir[0] == '/'));
  if (!inside) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "external data file '%s' resolves outside the model folder (refused)",
                  loc);
    goto done;
  }
  sn_onnx_extfile *x = NULL;
  if ((e = map_file(c, rfile, loc, &x))) goto done;
  if (!len_s) {
    if (off > x->len) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "external data offset %llu is past the end of '%s' (%zu bytes)",
                    (unsigned long long)off, loc, x->len);
      goto done;
    }
    len = x->len - off;
  }
  if (off > x->len || len > x->len - off) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "external data range [%llu, +%llu) is outside '%s' (%zu bytes)",
                  (unsigned long long)off, (unsigned long long)len, loc, x->len);
    goto done;
  }
  if (len != expect) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "external data in '%s' has %llu bytes, expected %zu", loc,
                  (unsigned long long)len, expect);
    goto done;
  }
  if (len) {
    *data = x->data + off;
    *readable = x->readable - (size_t)off;
  }
done:
  free(rdir);
  free(rfile);
  sn_free(full);
  return e;
}
