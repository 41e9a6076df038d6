/* Model file conversion: rewrites a GGUF file with its weight matrices in another weight type
 * (dequantize, then quantize), the library side of `clgraph quantize`.
 *
 * Which tensor becomes what, following llama.cpp's quantize tool:
 *   - 2-D tensors whose name ends in ".weight" (token_embd.weight and output.weight included)
 *     become the target type. Unlike llama.cpp, which keeps output.weight at a higher precision
 *     (q6_k) for the 4-bit types, output.weight gets the target type too: the engine's kernels
 *     cover exactly the five targets below.
 *     For a block type (q8_0, q4_0, q4_1) a matrix whose rows are not a multiple of 32 elements
 *     becomes f16 instead (the event's note says so).
 *   - 1-D tensors (norm weights) become f32.
 *   - Any other tensor is copied as it is.
 * A tensor already in the type it is to have is copied byte for byte (no requantization, as
 * llama.cpp without --allow-requantize). Every key-value pair is copied; general.file_type is set
 * to the target's LLAMA_FTYPE, and general.quantization_version = 2 is set for the block types
 * (for f32/f16 an input's own quantization_version is kept).
 *
 * Memory: the output is assembled in memory (llm_gguf_writer holds every tensor's data) and
 * then written to a temporary file beside the output that is renamed into place, so a failed
 * conversion never leaves a partial output file. The input is mapped, not read. Conversion
 * goes through a float scratch buffer of at most ~1 M elements (whole rows).
 */
#ifndef CLGRAPH_CONVERT_H
#define CLGRAPH_CONVERT_H

#include <stdint.h>

#include "clgraph/runtime.h" /* clg_status */

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor, reported before it is converted. Every pointer is borrowed and valid only during
 * the callback. */
typedef struct llm_convert_event {
    uint64_t index;     /* 0-based, in file order */
    uint64_t count;     /* tensors in the file */
    const char *name;   /* NUL-terminated */
    uint32_t n_dims;    /* 1..4 */
    const uint64_t *ne; /* [4], ne[0] the row length; unused = 1 */
    int src_dtype;      /* llm_dtype in the input */
    int dst_dtype;      /* llm_dtype in the output */
    const char *note;   /* NULL, or why dst_dtype is not the target type (e.g. the f16 fallback) */
} llm_convert_event;

/* Progress callback: return 0 to go on, nonzero to stop (llm_convert then returns
 * CLG_ERR_INTERRUPTED and writes nothing). */
typedef int (*llm_convert_progress_fn)(const llm_convert_event *ev, void *user);

/* What a conversion did (out-parameter of llm_convert). */
typedef struct llm_convert_stats {
    uint64_t in_bytes;   /* size of the input file */
    uint64_t out_bytes;  /* size of the written output file */
    uint64_t n_tensors;  /* tensors in the file */
    uint64_t n_target;   /* stored in the target type */
    uint64_t n_fallback; /* 2-D weights stored as f16 because their rows are not whole blocks */
    uint64_t n_other;    /* the rest: 1-D (f32) and tensors copied as they are */
    uint64_t n_requant;  /* tensors whose data was dequantized and quantized (not copied) */
} llm_convert_stats;

/* Nonzero when llm_convert accepts dtype as a target: f32, f16, q8_0, q4_0, q4_1. */
int llm_convert_target_ok(int dtype);
/* The targets as text, "f32, f16, q8_0, q4_0, q4_1" (static), for messages. */
const char *llm_convert_target_names(void);
/* ggml / llama.cpp LLAMA_FTYPE of a target (F32 0, F16 1, Q4_0 2, Q4_1 3, Q8_0 7); -1 when dtype
 * is not a target. */
int llm_convert_file_type(int dtype);

/* Converts the GGUF file in_path into out_path with target type dtype (rules above). progress
 * (optional) is called once per tensor; stats (optional) is filled on success. Both paths are
 * borrowed. out_path must be a new path or a regular file other than in_path (compared by
 * device and inode, so also through links: clg_file_check_output).
 * Errors: CLG_ERR_INVALID_ARG for a dtype that is not a target (the message lists the valid
 * ones) and for an out_path that exists and is not a regular file or is the input,
 * CLG_ERR_NOT_FOUND / CLG_ERR_IO / CLG_ERR_FORMAT for an input that cannot be opened or is
 * malformed (an unsupported tensor type is named with its tensor), CLG_ERR_UNSUPPORTED for a
 * source tensor that cannot be dequantized, CLG_ERR_IO for an output that cannot be written,
 * CLG_ERR_OUT_OF_MEMORY, CLG_ERR_INTERRUPTED when progress asked to stop. On any error no output
 * file is created (an existing out_path is left as it was). */
clg_status llm_convert(const char *in_path, const char *out_path, int dtype,
                       llm_convert_progress_fn progress, void *user, llm_convert_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
