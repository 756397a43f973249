/*
 * sinter.h — the one public header of Sinter, an inference runtime for ONNX models.
 *
 * The shape of the API:
 *
 *   sinter_options *opts;   sinter_options_create(&opts);  sinter_options_set_threads(opts, 2);
 *   sinter_session *s;      sinter_session_create("model.onnx", opts, &s);
 *   sinter_tensor  *x;      sinter_tensor_wrap(SINTER_FLOAT, dims, 4, buf, bytes, &x);  // no copy
 *   sinter_tensor  *y = NULL;
 *   const char *in = "input", *out = "output";
 *   sinter_run(s, &in, (const sinter_tensor *const *)&x, 1, &out, 1, &y);  // y allocated by Sinter
 *   ... sinter_tensor_data(y) ...
 *   sinter_tensor_free(y); sinter_tensor_free(x); sinter_session_free(s); sinter_options_free(opts);
 *
 * Conventions:
 *  - Every fallible call returns a sinter_status*: NULL means success; otherwise the caller owns the
 *    status, reads its code and message, and frees it with sinter_status_free.
 *  - Results come back through out-pointers. The caller owns what it creates and frees it with the
 *    matching *_free call; every *_free accepts NULL.
 *  - A session is immutable after creation: several threads may call sinter_run on one session at once.
 */
#ifndef SINTER_H
#define SINTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SINTER_API __attribute__((visibility("default")))
#define SINTER_MUST_USE __attribute__((warn_unused_result))
#else
#define SINTER_API
#define SINTER_MUST_USE
#endif

#define SINTER_VERSION "0.1.0"

/* ---- status ---------------------------------------------------------------------------------- */

typedef enum sinter_code {
  SINTER_OK = 0,
  SINTER_ERR_INVALID_ARGUMENT = 1, /* a caller's argument is wrong: name, dtype, shape, NULL */
  SINTER_ERR_NO_SUCH_FILE = 2,     /* a file could not be opened */
  SINTER_ERR_INVALID_MODEL = 3,    /* the model file is malformed: protobuf, references, cycles */
  SINTER_ERR_INVALID_GRAPH = 4,    /* the graph is well formed but inconsistent: types, shapes */
  SINTER_ERR_NOT_IMPLEMENTED = 5,  /* an op, opset, dtype or attribute value Sinter does not run */
  SINTER_ERR_OUT_OF_MEMORY = 6,
  SINTER_ERR_RUNTIME = 7 /* a failure while running (bad data-dependent value, etc.) */
} sinter_code;

typedef struct sinter_status sinter_status;

SINTER_API sinter_code sinter_status_code(const sinter_status *st);       /* NULL -> SINTER_OK */
SINTER_API const char *sinter_status_message(const sinter_status *st);    /* NULL -> "ok" */
SINTER_API void sinter_status_free(sinter_status *st);
SINTER_API const char *sinter_version(void);

/* ---- element types: the ONNX TensorProto.DataType numbering ---------------------------------- */

typedef enum sinter_dtype {
  SINTER_UNDEFINED = 0,
  SINTER_FLOAT = 1,
  SINTER_UINT8 = 2,
  SINTER_INT8 = 3,
  SINTER_UINT16 = 4,
  SINTER_INT16 = 5,
  SINTER_INT32 = 6,
  SINTER_INT64 = 7,
  SINTER_STRING = 8, /* data is an array of `char *`, NUL-terminated UTF-8 */
  SINTER_BOOL = 9,   /* one byte per element, 0 or 1 */
  SINTER_FLOAT16 = 10,
  SINTER_DOUBLE = 11,
  SINTER_UINT32 = 12,
  SINTER_UINT64 = 13,
  SINTER_COMPLEX64 = 14,
  SINTER_COMPLEX128 = 15,
  SINTER_BFLOAT16 = 16,
  SINTER_FLOAT8E4M3FN = 17,
  SINTER_FLOAT8E4M3FNUZ = 18,
  SINTER_FLOAT8E5M2 = 19,
  SINTER_FLOAT8E5M2FNUZ = 20,
  SINTER_UINT4 = 21, /* one byte per element in memory (unpacked) */
  SINTER_INT4 = 22,  /* one byte per element in memory (unpacked) */
  SINTER_FLOAT4E2M1 = 23,
  SINTER_FLOAT8E8M0 = 24, /* exponent only: 2^(v-127), 0xFF is NaN */
  SINTER_DTYPE_COUNT = 25
} sinter_dtype;

SINTER_API const char *sinter_dtype_name(sinter_dtype dt); /* "float32", "int64", ... */
SINTER_API size_t sinter_dtype_size(sinter_dtype dt);      /* bytes per element in memory */

/* ---- options --------------------------------------------------------------------------------- */

typedef struct sinter_options sinter_options;

SINTER_API SINTER_MUST_USE sinter_status *sinter_options_create(sinter_options **out);
SINTER_API void sinter_options_free(sinter_options *opts);
/* Intra-op threads; 0 (the default) means one per physical core. */
SINTER_API SINTER_MUST_USE sinter_status *sinter_options_set_threads(sinter_options *opts, int n);
/* Graph optimization level 0..3 (default 3). */
SINTER_API SINTER_MUST_USE sinter_status *sinter_options_set_opt_level(sinter_options *opts, int level);
/* Cap the kernel ISA: "scalar", "avx2", "avx512" (AVX-512 with VNNI and BF16 but no AMX tiles), "amx" or
 * "auto" (default: everything the CPU and OS allow; also SINTER_ISA in the env). */
SINTER_API SINTER_MUST_USE sinter_status *sinter_options_set_isa(sinter_options *opts, const char *isa);
/* Arithmetic of float32 Conv/MatMul/Gemm (and the fused ops built on them): "fp32" (default), "bf16"
 * (operands rounded to bfloat16, float32 sums; where that is faster than float32: AMX-BF16 tiles, or
 * AVX512-BF16 on cores that issue it as fast as FMAs (AMD's; on Intel's without AMX it is slower);
 * float32 elsewhere) or "auto" (SINTER_PRECISION in the env, else fp32). */
SINTER_API SINTER_MUST_USE sinter_status *sinter_options_set_precision(sinter_options *opts, const char *precision);

/* How long an idle intra-op thread (and a run waiting for its threads) spins before it sleeps, in
 * microseconds: the next parallel step of a run usually comes sooner, and a sleeping thread costs it
 * a wake-up through the kernel. -1 (the default): SINTER_SPIN_US in the env, else 1000 us, or 50 us
 * when the session has more threads than the CPUs the process may run on. 0 sleeps at once: for
 * processes that run many sessions at a time, where a spinning thread holds a core another needs.
 * Either way an idle session uses no CPU once the spin is over. */
SINTER_API SINTER_MUST_USE sinter_status *sinter_options_set_spin(sinter_options *opts, int microseconds);

/* Batch splitting, for runs whose every input is batched along axis 0: the samples run side by side,
 * each pool thread taking whole samples through the batch-1 plan (one after another on a one-thread
 * session), where the graph provably keeps samples apart (no op mixes them: Softmax over the batch,
 * dynamic quantization, whose scale spans the batch, ... refuse it) and its weights are small next
 * to a sample's activations (an MLP streams its weights once for the whole batch instead; one
 * thread asks the activations to outweigh the weights).
 * "auto" (default: SINTER_BATCH_SPLIT=auto|on|off in the env, else where it pays), "on" (wherever
 * the graph allows it), "off". Outputs are the same up to float rounding: the batch-1 plan may pick
 * other kernels or blockings. */
SINTER_API SINTER_MUST_USE sinter_status *sinter_options_set_batch_split(sinter_options *opts, const char *mode);

/* ---- tensors --------------------------------------------------------------------------------- */

typedef struct sinter_tensor sinter_tensor;

/* A tensor over caller memory (no copy); the memory must outlive the tensor. */
SINTER_API SINTER_MUST_USE sinter_status *sinter_tensor_wrap(sinter_dtype dt, const int64_t *dims, int rank,
                                                             void *data, size_t nbytes, sinter_tensor **out);
/* A tensor with Sinter-owned, zeroed memory. */
SINTER_API SINTER_MUST_USE sinter_status *sinter_tensor_create(sinter_dtype dt, const int64_t *dims, int rank,
                                                               sinter_tensor **out);
SINTER_API void sinter_tensor_free(sinter_tensor *t);
SINTER_API sinter_dtype sinter_tensor_dtype(const sinter_tensor *t);
SINTER_API int sinter_tensor_rank(const sinter_tensor *t);
SINTER_API const int64_t *sinter_tensor_dims(const sinter_tensor *t);
SINTER_API int64_t sinter_tensor_count(const sinter_tensor *t); /* number of elements */
SINTER_API size_t sinter_tensor_nbytes(const sinter_tensor *t);
SINTER_API void *sinter_tensor_data(sinter_tensor *t);

/* ---- sessions -------------------------------------------------------------------------------- */

typedef struct sinter_session sinter_session;

/* opts may be NULL for defaults. */
SINTER_API SINTER_MUST_USE sinter_status *sinter_session_create(const char *model_path, const sinter_options *opts,
                                                                sinter_session **out);
/* The bytes are copied; external data (if any) is resolved relative to the current directory. */
SINTER_API SINTER_MUST_USE sinter_status *sinter_session_create_from_bytes(const void *data, size_t len,
                                                                           const sinter_options *opts,
                                                                           sinter_session **out);
SINTER_API void sinter_session_free(sinter_session *s);

/* Description of a graph input or output. dims[i] < 0 marks a symbolic or unknown dimension, whose
 * name (if any) is dim_names[i]; rank < 0 means the rank is unknown. Strings belong to the session. */
typedef struct sinter_value_info {
  const char *name;
  sinter_dtype dtype;
  int rank;
  const int64_t *dims;
  const char *const *dim_names;
} sinter_value_info;

SINTER_API size_t sinter_session_input_count(const sinter_session *s);
SINTER_API size_t sinter_session_output_count(const sinter_session *s);
SINTER_API SINTER_MUST_USE sinter_status *sinter_session_input_info(const sinter_session *s, size_t i,
                                                                    sinter_value_info *out);
SINTER_API SINTER_MUST_USE sinter_status *sinter_session_output_info(const sinter_session *s, size_t i,
                                                                     sinter_value_info *out);

/*
 * Run the model. inputs[i] is bound to the graph input named input_names[i]; every graph input
 * without an initializer must be given. output_names may be NULL (with n_outputs equal to the
 * output count) to mean all outputs in graph order. For each outputs[i]:
 *   - NULL on entry: Sinter allocates the tensor and stores it; the caller frees it.
 *   - non-NULL on entry: a caller tensor of the right dtype and shape, which Sinter fills.
 * Safe to call from several threads at once on one session.
 */
SINTER_API SINTER_MUST_USE sinter_status *sinter_run(sinter_session *s, const char *const *input_names,
                                                     const sinter_tensor *const *inputs, size_t n_inputs,
                                                     const char *const *output_names, sinter_tensor **outputs,
                                                     size_t n_outputs);

#ifdef __cplusplus
}
#endif
#endif /* SINTER_H */
