/* Synthetic Llama models: GGUF files with the real shapes of published models
 * (SmolLM2-135M, Llama-3.2-1B / 3B, Llama-3.1-8B) and seeded random weights, so
 * throughput can be measured at sizes no package ships. The text they generate
 * is noise; the work per token is that of the real model.
 * Tiny test models of other architectures (gemma3, qwen2, qwen3, phi3; shape "tiny") carry
 * the tensor names, shapes, metadata and tokenizer kind llama.cpp expects for each, so its
 * logits can serve as golden data (test/model/gen_arch_golden.py); their weights and norms
 * are scaled as the shape's w_std / norm_std / bias_std say (graphs/model/synth.c).
 *
 * Weights ~ N(0, 0.02) (an Irwin-Hall approximation), norm weights 1.0, token
 * embedding and output in the requested type (llama.cpp's rule for q8_0), norms
 * f32. The tokenizer is a minimal SentencePiece-style vocabulary: <unk>, <s>,
 * </s>, the 256 byte tokens <0x00>..<0xFF>, the space piece U+2581, then unused
 * tokens up to n_vocab, so llm_tokenizer_create (and llama.cpp) load it and any
 * text encodes to bytes and spaces, and decodes back. The Llama 3.x shapes carry
 * their rope scaling as llama.cpp's converter writes it: rope_freqs.weight, the
 * frequency divisors of rope_type "llama3" (factor, low 1, high 4, 8192).
 */
#ifndef CLGRAPH_SYNTH_H
#define CLGRAPH_SYNTH_H

#include <stdint.h>

#include "clgraph/runtime.h" /* clg_status */

#ifdef __cplusplus
extern "C" {
#endif

/* The hyper-parameters of one shape. Plain data. */
typedef struct llm_synth_shape {
    const char *name;  /* "135m", "1b", "3b", "8b"; "tiny" for tests */
    const char *model; /* the published model whose shapes these are */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff;
    int n_ctx_train; /* llama.context_length */
    float rope_base, rms_eps;
    int tied;           /* output shares token_embd.weight */
    float rope_factor;  /* llama3 rope scaling factor (rope_freqs.weight); 0: none */
    const char *arch;   /* general.architecture: "llama", "gemma3", "qwen2", "qwen3", "phi3" */
    int head_dim;       /* ARCH.attention.key_length (= value_length); 0: n_embd / n_head */
    int sliding_window; /* ARCH.attention.sliding_window; 0: not written */
    float w_std;        /* deviation of the random matrices (mean 0) */
    float norm_std;     /* deviation of the norm weights around 1 (0: exactly 1) */
    float bias_std;     /* deviation of the biases (qwen2's attn_q/k/v.bias, mean 0) */
} llm_synth_shape;

/* A llama shape by name (case-insensitive), NULL when unknown. Static. */
const llm_synth_shape *llm_synth_shape_find(const char *name);
/* A shape of an architecture by name (both case-insensitive), NULL when unknown. Static. */
const llm_synth_shape *llm_synth_shape_find_arch(const char *arch, const char *name);
/* "135m, 1b, 3b, 8b" (the test shape "tiny" is not listed). Static. */
const char *llm_synth_shape_names(void);
/* The shapes of an architecture, for messages: "135m, 1b, 3b, 8b, tiny" or "tiny". Static. */
const char *llm_synth_shape_names_arch(const char *arch);
/* "llama, gemma3, qwen2, qwen3, phi3". Static. */
const char *llm_synth_arch_names(void);
/* 1 when arch (case-insensitive) has synthetic shapes. */
int llm_synth_arch_ok(const char *arch);
/* 1 when dtype is a weight type llm_synth_write produces (f32, f16, q8_0, q4_0, q4_1). */
int llm_synth_dtype_ok(int dtype);
/* Bytes of the tensor data of a shape in dtype (the file is this plus metadata); 0 for an
 * unsupported dtype. */
uint64_t llm_synth_tensor_bytes(const llm_synth_shape *shape, int dtype);

/* Progress while writing: the tensor being written and bytes of tensor data done of total. */
typedef void (*llm_synth_progress_fn)(void *user, const char *tensor, uint64_t done,
                                      uint64_t total);

/* Writes a synthetic model of the named shape with weights of type dtype to path
 * (through a temporary file renamed at the end: a failure leaves no partial file; a path
 * that exists and is not a regular file is refused, llm_gguf_writer_write).
 * Same shape, dtype and seed give the same bytes. Weights are generated and
 * quantized in chunks of rows while the file is written: memory stays at a few MiB
 * plus the tokenizer metadata whatever the model's size. progress may be NULL. */
clg_status llm_synth_write(const char *path, const char *shape, int dtype, uint64_t seed,
                           llm_synth_progress_fn progress, void *user);
/* The same for a shape of architecture arch (llm_synth_write is arch "llama"). */
clg_status llm_synth_write_arch(const char *path, const char *arch, const char *shape, int dtype,
                                uint64_t seed, llm_synth_progress_fn progress, void *user);

#ifdef __cplusplus
}
#endif
#endif
