/* GGUF model files (v2, v3): a validating reader over mmap, a writer, and the
 * host-side weight types (block layouts, dequantization, quantization).
 *
 * Every offset, count and length is checked against the file before use; a
 * malformed file yields CLG_ERR_FORMAT with a message naming the field and its
 * byte offset (clg_last_error()).
 */
#ifndef CLGRAPH_GGUF_H
#define CLGRAPH_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "clgraph/runtime.h" /* clg_status */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- weight types (ggml type ids) -------------------------------------- */

typedef enum llm_dtype {
    LLM_DTYPE_F32 = 0,
    LLM_DTYPE_F16 = 1,
    LLM_DTYPE_Q4_0 = 2,
    LLM_DTYPE_Q4_1 = 3,
    LLM_DTYPE_Q5_0 = 6,
    LLM_DTYPE_Q5_1 = 7,
    LLM_DTYPE_Q8_0 = 8,
    LLM_DTYPE_Q4_K = 12,
    LLM_DTYPE_Q5_K = 13,
    LLM_DTYPE_Q6_K = 14,
    LLM_DTYPE_BF16 = 30
} llm_dtype;

/* The llm_dtype values are the ggml type ids this engine computes with. The functions below
 * also know every other type of ggml's table (q2_k, iq2_xxs, i8, tq1_0, ...: their names and
 * block sizes), so that a file holding them is read and described; llm_dequantize refuses
 * them. */

/* "f32", "q4_1", "iq2_xxs", ...; NULL for an id that is not a ggml type. */
const char *llm_dtype_name(int dtype);
/* Parses a name (case-insensitive); -1 when unknown. */
int llm_dtype_from_name(const char *name);
/* Elements per block (1 for F32/F16/BF16, 32 for the legacy quants, 256 for K-quants; see
 * ggml for the others) and bytes per block; 0 for an unknown id. */
size_t llm_dtype_block_elems(int dtype);
size_t llm_dtype_block_bytes(int dtype);
/* Bytes of n elements (n a multiple of the block size), 0 when not. */
size_t llm_dtype_row_bytes(int dtype, uint64_t n);

/* Dequantizes n elements (n a multiple of the block size) into dst; the llm_dtype types
 * (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), CLG_ERR_UNSUPPORTED for
 * the others. */
clg_status llm_dequantize(int dtype, const void *src, float *dst, size_t n);
/* Quantizes n floats into dtype; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1
 * (same rounding as ggml's reference quantizers). */
clg_status llm_quantize(int dtype, const float *src, void *dst, size_t n);

/* The x8 layout of cl/matmul_q8.cl's interleaved products (8 rows per work-item), for the
 * types that have it: Q4_0, Q4_1, Q8_0, Q5_0, Q4_K and Q6_K. Row group g (rows 8g .. 8g + 7),
 * block b lies at (g * cols / block elements + b) * 8 * block bytes: the 8 rows' f16 scales
 * d[8] (Q4_1: then m[8]), then chunks c of 32 bytes (4 of them; Q8_0: 8) holding row i's
 * quant bytes 4c .. 4c + 3 at 4i; Q5_0 then 32 bytes of fifth bits, bit k of byte 4i + j that of
 * element 4k + j (k < 4) or 16 + 4(k - 4) + j of row i. Q4_K per super-block (1152 B):
 * f16 d[8], f16 dmin[8], the 12 scale bytes (byte k of row i at 32 + 8k + i), then per
 * 32-element sub-block j at 128 + 128 j its 4 chunks of nibbles (as Q4_0: element 4c + e the
 * low nibble of byte 32c + 4i + e, 16 + 4c + e the high). Q6_K per super-block (1680 B):
 * f16 d[8], i8 scales [16][8], then per 32-element sub-block j at 144 + 192 j its 4 chunks
 * of the quants' low 4 bits (element 4c + e low nibble, 16 + 4c + e high, at 4i + e) and two
 * 32-byte planes of their high 2 bits (bits 2c of byte 4i + e: element 4c + e, then
 * 16 + 4c + e). Same size as the row-major form. */
int llm_x8_type(int dtype);
/* Repacks the row-major matrix src [rows, cols] of dtype into the x8 layout in dst (as many
 * bytes; src and dst distinct); rows a multiple of 8, cols of the block (32; 256 for the K-quants).
 */
clg_status llm_repack_x8(int dtype, const void *src, void *dst, size_t rows, size_t cols);

float llm_f16_to_f32(uint16_t h);
uint16_t llm_f32_to_f16(float f);

/* ---- reader ------------------------------------------------------------ */

typedef enum llm_gguf_type {
    LLM_GGUF_UINT8 = 0,
    LLM_GGUF_INT8 = 1,
    LLM_GGUF_UINT16 = 2,
    LLM_GGUF_INT16 = 3,
    LLM_GGUF_UINT32 = 4,
    LLM_GGUF_INT32 = 5,
    LLM_GGUF_FLOAT32 = 6,
    LLM_GGUF_BOOL = 7,
    LLM_GGUF_STRING = 8,
    LLM_GGUF_ARRAY = 9,
    LLM_GGUF_UINT64 = 10,
    LLM_GGUF_INT64 = 11,
    LLM_GGUF_FLOAT64 = 12
} llm_gguf_type;

/* "uint8", ..., "string", "array", "float64"; "unknown" for other values. */
const char *llm_gguf_type_name(llm_gguf_type t);

/* Bytes of one value of a fixed-size type; 0 for string, array and unknown types. */
size_t llm_gguf_type_size(llm_gguf_type t);

/* A GGUF string: not NUL-terminated, points into the mapped file. */
typedef struct llm_gguf_str {
    const char *ptr;
    uint64_t len;
} llm_gguf_str;

/* One tensor. data points into the mapped file (aligned as the file says). */
typedef struct llm_gguf_tensor {
    llm_gguf_str name;
    int dtype;       /* llm_dtype */
    uint32_t n_dims; /* 1..4 */
    uint64_t ne[4];  /* ne[0] is the contiguous (row) dimension; unused = 1 */
    uint64_t n_elems;
    uint64_t offset; /* relative to the data section */
    uint64_t bytes;
    const void *data;
} llm_gguf_tensor;

typedef struct llm_gguf llm_gguf;

/* Maps and validates a file. *out owned by the caller: llm_gguf_close. */
clg_status llm_gguf_open(const char *path, llm_gguf **out);
/* Same over caller memory (borrowed; must outlive the handle), for tests and
 * the fuzzer. */
clg_status llm_gguf_open_memory(const void *data, size_t size, llm_gguf **out);
void llm_gguf_close(llm_gguf *f); /* safe on NULL */
/* The caller is done with bytes [data, data + bytes) of f's mapped file (a tensor now copied
 * to a device): the whole pages inside the range leave memory and are read from the file
 * again if touched later, so a loaded model does not hold its weights twice in host memory.
 * A no-op for ranges outside the mapping and for llm_gguf_open_memory files. */
void llm_gguf_release(const llm_gguf *f, const void *data, size_t bytes);

uint32_t llm_gguf_version(const llm_gguf *f);
uint64_t llm_gguf_alignment(const llm_gguf *f);
uint64_t llm_gguf_data_offset(const llm_gguf *f); /* of the data section, in the file */
uint64_t llm_gguf_file_size(const llm_gguf *f);

/* Metadata: keys are indexed 0..n-1 in file order. */
uint64_t llm_gguf_kv_count(const llm_gguf *f);
/* Key and type of entry i: {NULL, 0} and (llm_gguf_type)-1 when i >= the count. */
llm_gguf_str llm_gguf_kv_key(const llm_gguf *f, uint64_t i);
llm_gguf_type llm_gguf_kv_type(const llm_gguf *f, uint64_t i);
/* Index of a key, or -1. */
int64_t llm_gguf_find_key(const llm_gguf *f, const char *key);

/* Typed getters by key. Integers of any integer type convert when the value
 * fits; each returns CLG_ERR_NOT_FOUND for a missing key and CLG_ERR_FORMAT
 * (naming the key and its actual type) for a mismatch. */
clg_status llm_gguf_get_u64(const llm_gguf *f, const char *key, uint64_t *out);
clg_status llm_gguf_get_i64(const llm_gguf *f, const char *key, int64_t *out);
clg_status llm_gguf_get_u32(const llm_gguf *f, const char *key, uint32_t *out);
clg_status llm_gguf_get_f32(const llm_gguf *f, const char *key, float *out); /* f32 or f64 */
clg_status llm_gguf_get_bool(const llm_gguf *f, const char *key, int *out);
clg_status llm_gguf_get_str(const llm_gguf *f, const char *key, llm_gguf_str *out);

/* Arrays: element type and count; then element access. */
clg_status llm_gguf_get_array(const llm_gguf *f, const char *key, llm_gguf_type *elem_type,
                              uint64_t *count);
/* i-th string of a string array (O(1): offsets are indexed at open). */
clg_status llm_gguf_array_str(const llm_gguf *f, const char *key, uint64_t i, llm_gguf_str *out);
/* Raw pointer to a numeric array's elements (little-endian, packed, possibly
 * unaligned: copy with memcpy). */
clg_status llm_gguf_array_data(const llm_gguf *f, const char *key, const void **data);

/* Tensors, in file order. */
uint64_t llm_gguf_tensor_count(const llm_gguf *f);
const llm_gguf_tensor *llm_gguf_tensor_at(const llm_gguf *f, uint64_t i);
/* By name, or NULL. */
const llm_gguf_tensor *llm_gguf_find_tensor(const llm_gguf *f, const char *name);

/* ---- writer ------------------------------------------------------------ */

typedef struct llm_gguf_writer llm_gguf_writer;

/* Collects metadata and tensors, then writes a v3 file in one go. Values and
 * tensor data are copied. Owned by the caller: llm_gguf_writer_destroy. */
clg_status llm_gguf_writer_create(llm_gguf_writer **out);
void llm_gguf_writer_destroy(llm_gguf_writer *w);
clg_status llm_gguf_writer_set_alignment(llm_gguf_writer *w, uint32_t alignment);
/* Adding a key that is already there replaces its value in place (copy_kv, then override);
 * "general.alignment" also sets the alignment. A tensor name may be added once. */
clg_status llm_gguf_writer_add_u32(llm_gguf_writer *w, const char *key, uint32_t v);
clg_status llm_gguf_writer_add_i32(llm_gguf_writer *w, const char *key, int32_t v);
clg_status llm_gguf_writer_add_u64(llm_gguf_writer *w, const char *key, uint64_t v);
clg_status llm_gguf_writer_add_f32(llm_gguf_writer *w, const char *key, float v);
clg_status llm_gguf_writer_add_bool(llm_gguf_writer *w, const char *key, int v);
clg_status llm_gguf_writer_add_str(llm_gguf_writer *w, const char *key, const char *v);
/* Numeric arrays: elem_type one of the scalar types, data packed. */
clg_status llm_gguf_writer_add_array(llm_gguf_writer *w, const char *key, llm_gguf_type elem_type,
                                     const void *data, uint64_t count);
clg_status llm_gguf_writer_add_str_array(llm_gguf_writer *w, const char *key,
                                         const char *const *strs, const uint64_t *lens,
                                         uint64_t count);
/* Copies every key-value pair of an open file (for converters). */
clg_status llm_gguf_writer_copy_kv(llm_gguf_writer *w, const llm_gguf *src);
/* ne as in llm_gguf_tensor; data holds llm_dtype_row_bytes(dtype, ne0) * rows bytes. */
clg_status llm_gguf_writer_add_tensor(llm_gguf_writer *w, const char *name, int dtype,
                                      uint32_t n_dims, const uint64_t *ne, const void *data);
/* Streaming variant for tensors too large to hold in memory: nothing is copied now; during
 * llm_gguf_writer_write, fill is called in row order with consecutive chunks of whole rows
 * (rows row0 .. row0 + n_rows - 1, a chunk of at most 8 MiB or one row) and writes them to dst
 * (llm_dtype_row_bytes(dtype, ne0) * n_rows bytes). A status other than CLG_OK stops the write
 * (no file is left) and is returned with its message. user is borrowed until the write. */
typedef clg_status (*llm_gguf_fill_fn)(void *user, uint64_t row0, uint64_t n_rows, void *dst);
clg_status llm_gguf_writer_add_tensor_cb(llm_gguf_writer *w, const char *name, int dtype,
                                         uint32_t n_dims, const uint64_t *ne, llm_gguf_fill_fn fill,
                                         void *user);
/* Writes the file to path through clg_file_write_atomic (clgraph/report.h): a temporary file
 * beside path renamed over it, so a failure leaves no part and no temporary behind. A path that
 * exists and is not a regular file (/dev/null, a folder, a FIFO) is refused with
 * CLG_ERR_INVALID_ARG before anything is written; write errors are CLG_ERR_IO. */
clg_status llm_gguf_writer_write(llm_gguf_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
