/* The ONNX writer: a (possibly optimized) IR model back to ONNX protobuf bytes. Fused nodes keep
 * their "sinter" domain, which the writer declares in opset_import. */
#ifndef SN_ONNX_WRITER_H
#define SN_ONNX_WRITER_H

#include "ir/ir.h"

/* *out is sn_malloc'ed; the caller frees it with sn_free. */
sn_error *sn_onnx_write_bytes(const sn_model *m, uint8_t **out, size_t *len);
sn_error *sn_onnx_write_file(const sn_model *m, const char *path);

#endif
