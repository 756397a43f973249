/* The ONNX reader: model files and backend-test value files (.pb) into the IR and runtime tensors,
 * with our own protobuf wire reader (no libprotobuf). */
#ifndef SN_ONNX_H
#define SN_ONNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "ir/ir.h"
#include "onnx/pb.h"

/* Newest ONNX IR version the reader knows; models outside 3..SN_ONNX_IR_MAX are refused. IR 13 (onnx
 * 1.20, November 2025) added only the UINT2 / INT2 element types, which a tensor of is refused by name
 * like any element type Sinter lacks (ONNX Runtime 1.30 reads up to 13 too). */
#define SN_ONNX_IR_MIN 3
#define SN_ONNX_IR_MAX 13

/* ---- public API of the reader --------------------------------------------------------------------- */

/* Load a model file: the file is mapped read-only and kept in model->bytes (bytes_mapped), so raw
 * initializer data points straight into it; model->path = path, model->dir = its folder (external
 * data is resolved there). Nodes are not resolved to ops and shapes are not inferred.
 *
 * What the IR looks like after import:
 *  - Initializer data (and TENSOR attributes) may be read-only views into the mapped model or an
 *    external data file (owns_data false, aligned to the element size only, SN_PAD readable bytes
 *    after the end); never write to them. Unaligned or 4-bit data is copied (owned, 64-aligned).
 *  - g->inputs lists every declared graph input in order, including inputs that also have an
 *    initializer (role SN_VAL_INPUT with data = their default value, as in IR < 4 models).
 *  - SPARSE_TENSOR(S) attributes and sparse initializers are densified: a->t / a->tensors.
 *  - Calls to model-local functions are inlined (node names "call/inner", internal values
 *    "fn#N/name"); model->functions keeps their signatures only (n_nodes 0).
 *  - Node domain "ai.onnx" is stored as "". */
sn_error *sn_onnx_load_file(const char *path, sn_model **out);

/* Load a model from memory: the bytes are copied (the model owns the copy). External data is
 * resolved relative to dir_or_null; NULL refuses external data. */
sn_error *sn_onnx_load_bytes(const void *data, size_t len, const char *dir_or_null, sn_model **out);

/* Read one ONNX backend-test value file (input_0.pb / output_0.pb), which holds a TensorProto, a
 * SequenceProto or an OptionalProto; the file does not say which. kind_hint is an sn_kind (from the
 * graph input/output type) or -1 to guess (a tensor if it parses as one, else a sequence, else an
 * optional; a lone value is then read as a one-item sequence). Sequences come back as
 * SN_KIND_SEQUENCE tensors, optionals as SN_KIND_OPTIONAL. *out is owned by the caller
 * (sn_tensor_free); *name_out (if name_out is non-NULL) is the stored name or "" (sn_free). */
sn_error *sn_onnx_read_value_file(const char *path, int kind_hint, sn_tensor **out, char **name_out);
/* The same for a file known to hold a TensorProto. */
sn_error *sn_onnx_read_tensor_file(const char *path, sn_tensor **out, char **name_out);
/* The same over bytes in memory (always copies the data out). */
sn_error *sn_onnx_read_value_bytes(const void *data, size_t len, int kind_hint, sn_tensor **out, char **name_out);

/* ---- internal to src/onnx (shared between pb.c, import.c, tensor_proto.c, external.c, functions.c) -- */

/* A small string-keyed hash map (keys copied, values borrowed pointers). */
typedef struct sn_onnx_map {
  size_t cap, n;
  char **keys;
  void **vals;
} sn_onnx_map;
void *sn_onnx_map_get(const sn_onnx_map *m, const char *key, bool *found);
sn_error *sn_onnx_map_put(sn_onnx_map *m, const char *key, void *val);
void sn_onnx_map_free(sn_onnx_map *m);

typedef struct sn_onnx_fn sn_onnx_fn;   /* a model-local function (functions.c) */
typedef struct sn_onnx_env sn_onnx_env; /* name/attribute environment of an inlined function body */

/* A mapped external data file. */
typedef struct sn_onnx_extfile {
  char *real; /* realpath */
  const uint8_t *data;
  size_t len, readable; /* readable >= len: bytes that may be read (page rounding) */
} sn_onnx_extfile;

/* Import state. */
typedef struct sn_onnx_ctx {
  sn_model *m; /* NULL when reading a value file */
  /* the buffer being parsed and how far past it reads are safe (for zero-copy + SN_PAD) */
  const uint8_t *buf;
  size_t buf_len, buf_readable;
  /* protobuf path of the message being parsed, for messages: "ModelProto.graph.node[3]" */
  char pbpath[512];
  size_t pblen;
  char whybuf[96]; /* reason text for unsupported types */
  int graph_depth, fn_depth;
  size_t n_nodes_made, max_nodes;
  int call_counter;
  int n_ext, cap_ext;
  sn_onnx_extfile *ext;
  int n_fns;
  sn_onnx_fn *fns;
  sn_onnx_map fn_index; /* "domain\x1fname\x1foverload" -> sn_onnx_fn* */
  sn_onnx_map syms; /* symbolic dim name -> interned string (sn_model_intern is a linear search) */
  int n_envs, cap_envs;
  sn_onnx_env **envs; /* every function environment made, freed at the end of the import */
} sn_onnx_ctx;

/* Push ".node[3]"-style components onto the protobuf path; returns the length to pop back to. */
size_t sn_onnx_path_push(sn_onnx_ctx *c, const char *fmt, ...) SN_PRINTF(2, 3);
static inline void sn_onnx_path_pop(sn_onnx_ctx *c, size_t len) {
  c->pblen = len;
  c->pbpath[len] = 0;
}
/* An error for a failed protobuf read at r->err_at in the current path. */
sn_error *sn_onnx_pb_error(sn_onnx_ctx *c, const sn_pb *r, int status);
/* The same for a field whose wire type or value is wrong: "... at byte N: what". */
sn_error *sn_onnx_field_error(sn_onnx_ctx *c, const sn_pb_field *f, const char *what);

/* Copy a protobuf string (may contain NULs: cut at the first) into a NUL-terminated heap string. */
char *sn_onnx_str(const sn_pb_field *f);

/* tensor_proto.c. `what` names the tensor's role in messages ("initializer", "attribute 'value'").
 * zero_copy: raw data may point into c->buf (or an external file mapping) when aligned. */
sn_error *sn_onnx_parse_tensor(sn_onnx_ctx *c, sn_pb r, const char *what, bool zero_copy, sn_tensor **out,
                               char **name_out);
/* SparseTensorProto, densified. */
sn_error *sn_onnx_parse_sparse(sn_onnx_ctx *c, sn_pb r, const char *what, sn_tensor **out, char **name_out);
sn_error *sn_onnx_parse_sequence(sn_onnx_ctx *c, sn_pb r, sn_tensor **out, char **name_out);
sn_error *sn_onnx_parse_optional(sn_onnx_ctx *c, sn_pb r, sn_tensor **out, char **name_out);

/* external.c: the bytes of external tensor data, checked and mapped (the mapping is kept in
 * c->m->maps). keys/vals: the external_data entries. */
sn_error *sn_onnx_external(sn_onnx_ctx *c, const char *tname, int n, char **keys, char **vals, size_t expect,
                           const uint8_t **data, size_t *readable);
/* Free the import state (not the model, nor the mappings it owns). */
void sn_onnx_ctx_release(sn_onnx_ctx *c);

/* import.c: graph building, shared with the function inliner. */
typedef struct sn_onnx_frame sn_onnx_frame;
/* Parse an AttributeProto into a (cleared) sn_attr. env: function environment of the node, or NULL. */
sn_error *sn_onnx_parse_attr(sn_onnx_ctx *c, sn_onnx_frame *f, sn_pb r, sn_onnx_env *env, sn_attr *a,
                             bool *present);
/* Parse a TypeProto into an sn_type; *representable = false for types the IR cannot hold (maps,
 * sequences of sequences, sparse tensors, unknown element types) and *why says what it is. */
sn_error *sn_onnx_parse_type(sn_onnx_ctx *c, sn_pb r, sn_type *t, bool *representable, const char **why);
/* Declare one NodeProto (pass 1): a plain node gets its outputs declared in frame f's graph; a call
 * to a model-local function is expanded in place. env/create: see functions.c. */
sn_error *sn_onnx_declare_node(sn_onnx_ctx *c, sn_onnx_frame *f, const uint8_t *p, size_t len, sn_onnx_env *env,
                               bool create);
/* The graph a frame builds. */
sn_graph *sn_onnx_frame_graph(sn_onnx_frame *f);

/* functions.c */
sn_error *sn_onnx_load_functions(sn_onnx_ctx *c, const sn_pb_field *fields, int n);
/* The function a node calls, or NULL. */
const sn_onnx_fn *sn_onnx_find_function(sn_onnx_ctx *c, const char *domain, const char *op_type, const char *overload);
/* Expand a call node (NodeProto bytes p/len, interpreted under env) into frame f. */
sn_error *sn_onnx_expand_call(sn_onnx_ctx *c, sn_onnx_frame *f, const sn_onnx_fn *fn, const uint8_t *p, size_t len,
                              sn_onnx_env *env, bool create);
/* Name mapping inside a function environment: *out is the final name (owned by env). create: unknown
 * names become fresh internal names (function body scope) instead of passing through. */
sn_error *sn_onnx_env_name(sn_onnx_ctx *c, sn_onnx_env *env, sn_graph *g, const char *raw, bool create,
                           const char **out);
/* Opset for a domain inside a function body (the function's own opset_import); -1 if none. */
int64_t sn_onnx_env_opset(const sn_onnx_env *env, const char *domain);
/* Resolve ref_attr_name: the AttributeProto bound to `ref` in env (bytes + env to read it in), or
 * found = false. */
bool sn_onnx_env_attr(const sn_onnx_env *env, const char *ref, const uint8_t **p, size_t *len, sn_onnx_env **penv);
/* The node name prefix of a call ("caller/"), for names of inlined nodes. */
const char *sn_onnx_env_prefix(const sn_onnx_env *env);
/* Free the functions, their index and all environments. */
void sn_onnx_functions_release(sn_onnx_ctx *c);

#endif
