/* Llama-family models on the clgraph runtime: one task graph per transformer
 * layer, weights uploaded once, activations and the KV cache on the device.
 *
 * Per step only the token ids and positions go up and only the logits of the
 * last token come back. Prompts are evaluated in batches (matrix-matrix
 * products, causal attention). A model keeps one or several sequences, each with
 * its own KV-cache region; one step can run tokens of several of them
 * (llm_model_eval_batch).
 */
#ifndef CLGRAPH_LLM_H
#define CLGRAPH_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "clgraph/gguf.h"
#include "clgraph/planner.h"
#include "clgraph/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_model llm_model;

/* The model library's kernel files (cl/matmul.cl, cl/norm.cl, ...), for
 * clg_context_add_kernel_files; static. llm_model_load registers them on its context. */
const clg_kernel_file *llm_kernel_files(void);

/* Hyper-parameters read from the GGUF metadata (general.architecture = llama). */
typedef struct llm_hparams {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    int n_ctx_train;    /* llama.context_length */
    int n_ctx;          /* the context this model was loaded with */
    int n_batch;        /* largest batch of tokens per evaluation */
    int sliding_window; /* 0: none */
    float rms_eps, rope_base, rope_scale;
    int rope_neox;
    int tied_embeddings;
    int weight_type;       /* llm_dtype of the layer weights (of layer 0's FFN where they mix) */
    char weight_types[64]; /* their names: "q4_1", or "q5_0+q8_0+q4_k+q6_k" where they mix */
    int kv_f16;            /* the KV cache holds f16 */
    int act_q8;            /* the weight products quantize their activations to 8 bits */
    int x8;                /* their weights of the x8 types are in the x8 layout (options.layout) */
} llm_hparams;

/* Progress while loading: stage ("building kernels", "uploading weights"), done of total. */
typedef void (*llm_progress_fn)(void *user, const char *stage, size_t done, size_t total);

typedef struct llm_model_options {
    const char *device; /* device selector (clg_device_select), NULL: the first GPU, else
                           the first device */
    clg_build_mode build;
    int n_ctx;              /* 0: min(2048, training context) */
    int n_batch;            /* 0: 64 */
    int n_seq;              /* sequences the model keeps, each with its own KV-cache region of n_ctx
                               positions; 0: 1 */
    int profiling;          /* profiling events on every task */
    const char *cache_dir;  /* program cache, see clg_context_options */
    const char *kernel_dir; /* kernel files from a folder, see clg_context_options */
    llm_progress_fn progress;
    void *progress_user;
    /* The variants of the weight products, norms and attention (and command-buffer
     * replay): 0 = from the plan cache if there is one, else the kernel files' declared
     * defaults for the device type; 1 = also measure and cache them when the cache has
     * none; 2 = measure again, ignoring the cache (--retune). */
    int tune;
    /* Decode attention split over positions into this many parts, merged afterwards
     * (flash decoding); 0: 8 on GPUs, none on CPUs; 1: no split. */
    int attn_split;
    /* 1: the KV cache holds f16 (half the memory and cache reads; K and V rounded to
     * nearest even), 0: f32. */
    int kv_f16;
    /* Activations of the quantized weight products: LLM_ACT_AUTO (0) chooses LLM_ACT_Q8 on
     * CPU devices when every layer product has q8_0 / q4_0 / q4_1 weights and the device's
     * local memory holds a quantized token tile, else LLM_ACT_F32. LLM_ACT_Q8: each product
     * quantizes its input rows to q8_0 blocks (as llama.cpp's CPU backend does) and sums
     * integer block products, with the RMSNorm before it fused in (cl/matmul_q8.cl);
     * logits then move by up to ~2-3 on SmolLM2 (test/data/model/README.md). LLM_ACT_F32:
     * float activations (cl/matmul.cl). */
    int act;
    /* The weights of the 8-bit-activation products: LLM_LAYOUT_AUTO (0) chooses
     * LLM_LAYOUT_X8 on CPU devices, LLM_LAYOUT_ROWS elsewhere, unless measured otherwise:
     * with tune, where some matrix takes the x8 layout, the model is loaded in both layouts
     * and timed, the faster stays (llm_model_layout_choice) and the choice is kept in the
     * cache folder for later loads (tune 2 measures again). LLM_LAYOUT_X8: matrices of the
     * types that have the x8 layout (gguf.h llm_x8_type; rows a multiple of 8) are repacked at
     * load so that a work-item computes 8 rows (llm_repack_x8; cl/matmul_q8.cl's x8 kernels);
     * LLM_LAYOUT_ROWS: the file's row-major blocks. Float activations always read the file's
     * layout. */
    int layout;
    /* The prefill weight products' library path (dequantize + CLBlast Sgemm):
     * LLM_GEMM_AUTO (0) lets the planner time it against the own kernels (--tune),
     * LLM_GEMM_OWN never offers it, LLM_GEMM_CLBLAST forces it wherever it is offered. */
    int prefill_gemm;
    /* Recorded replay of decode steps: -1 (default) as the planner chooses, 0 off, 1 on
     * (fails where the device has no cl_khr_command_buffer). */
    int replay;
    /* Warnings that are not errors (an ignored plan cache file and why); NULL drops them. */
    void (*warn)(void *user, const char *message);
    void *warn_user;
} llm_model_options;

enum { LLM_ACT_AUTO = 0, LLM_ACT_F32 = 1, LLM_ACT_Q8 = 2 };
enum { LLM_GEMM_AUTO = 0, LLM_GEMM_OWN = 1, LLM_GEMM_CLBLAST = 2 };
/* "auto", "f32", "q8" to LLM_ACT_*; -1 for anything else. */
int llm_act_from_name(const char *name);
enum { LLM_LAYOUT_AUTO = 0, LLM_LAYOUT_ROWS = 1, LLM_LAYOUT_X8 = 2 };
/* "auto", "rows", "x8" to LLM_LAYOUT_*; -1 for anything else. */
int llm_layout_from_name(const char *name);
/* LLM_LAYOUT_* to "auto", "rows", "x8"; "?" for anything else (static strings). */
const char *llm_layout_name(int layout);

/* How a model's weight layout was chosen (llm_model_options.layout). */
typedef struct llm_layout_choice {
    int layout;     /* LLM_LAYOUT_X8 or LLM_LAYOUT_ROWS: the layout loaded */
    int how;        /* LLM_LAYOUT_SET (the options'), _DEFAULT (the device type's: no
                       measurement), _MEASURED (now, with tune) or _CACHED (measured earlier) */
    double x8_ns;   /* measured: a prefill batch of `tokens` tokens plus `tokens` decode steps, */
    double rows_ns; /* medians over interleaved rounds, in each layout; 0 when not measured */
    int tokens;
} llm_layout_choice;
enum { LLM_LAYOUT_SET = 0, LLM_LAYOUT_DEFAULT = 1, LLM_LAYOUT_MEASURED = 2, LLM_LAYOUT_CACHED = 3 };
/* LLM_LAYOUT_SET .. _CACHED to "set", "default", "measured", "cached"; "?" for anything else. */
const char *llm_layout_how_name(int how);
/* How m's layout was chosen, by value. */
llm_layout_choice llm_model_layout_choice(const llm_model *m);

llm_model_options llm_model_options_default(void);

/* Opens a GGUF file, checks the architecture, hyper-parameters and every tensor's
 * name, type and shape, creates the device context, builds the kernels and the
 * graphs (embed, layer.0 .. layer.N-1, logits) and uploads the weights.
 * Refused with a message naming what is wrong (CLG_ERR_FORMAT unless said): a
 * llama.block_count other than the blk.N tensors' layers; a tokenizer.ggml.tokens array
 * other than token_embd's rows; a non-positive or non-finite rms epsilon, rope base or
 * linear rope scaling factor, or rope_freqs.weight entry; a NaN or infinite weight (every
 * tensor is scanned: ~20 ms for SmolLM2 in f16 on one core); layers whose weight types
 * differ from layer 0's (CLG_ERR_UNSUPPORTED); a negative n_seq (CLG_ERR_INVALID_ARG); a
 * total device allocation (weights, KV caches at n_ctx for each of n_seq sequences,
 * activations, scratch) above the device's global memory, or on a CPU device the host's
 * available memory (CLG_ERR_OUT_OF_MEMORY, before allocating, with the n_ctx that fits with
 * and without kv_f16).
 * *out is owned by the caller: llm_model_destroy. */
clg_status llm_model_load(const char *path, const llm_model_options *opt, llm_model **out);
void llm_model_destroy(llm_model *m); /* safe on NULL */

/* Borrowed, valid while m lives. llm_model_plan is the decode plan (step plan 0). */
const llm_hparams *llm_model_hparams(const llm_model *m);
const llm_gguf *llm_model_gguf(const llm_model *m);
clg_context *llm_model_context(const llm_model *m);
clg_plan *llm_model_plan(const llm_model *m);

/* The planner that chose how the step plans' tasks run (kinds "decode.qkv", "prefill.attention",
 * ...; replay registered for the decode plans). Borrowed, valid while m lives. */
const clg_planner *llm_model_planner(const llm_model *m);

/* The step plans: 0 decode (one token per step), 1 prefill (prompt batches); 2 and 3
 * the same with the greedy head of llm_model_eval_greedy (they share the layer graphs). */
clg_plan *llm_model_step_plan(const llm_model *m, int which);

/* Evaluates n tokens of sequence 0 at positions pos .. pos+n-1 (any n >= 1: split into
 * batches of n_batch) and writes the logits of the last one to logits [n_vocab] (may be
 * NULL). pos + n must not exceed n_ctx (CLG_ERR_INVALID_ARG naming both). Logits that
 * hold a NaN or an infinity fail with CLG_ERR_FORMAT naming the position (and logits is
 * left as it was). */
clg_status llm_model_eval(llm_model *m, const int32_t *tokens, int n, int pos, float *logits);

/* Evaluates n tokens of several sequences in one step: token i (tokens[i]) belongs to sequence
 * seq[i] (0 .. n_seq-1) at position pos[i] (< n_ctx); a sequence's tokens in one call are
 * consecutive positions in order. For each i with want[i] != 0 (want NULL: the last token
 * only), in order, n_vocab logits are written to logits (rows of [n_want, n_vocab]; logits
 * may be NULL); tokens beyond n_batch run in several steps. The sequence's cache at
 * positions >= pos of its first token here is overwritten (so a sequence restarts by
 * evaluating from position 0); the other sequences' caches are not touched. The weight
 * products of a step read each weight once for all its tokens; each token attends its own
 * sequence's cache only. Logits come back n_seq rows per pass of the output product (more
 * wanted rows in one step take more passes). Refused with CLG_ERR_INVALID_ARG naming the
 * token: n < 1, a token id outside the vocabulary, a sequence outside [0, n_seq), a position
 * outside [0, n_ctx), a sequence's positions that are not consecutive. Non-finite logits fail
 * with CLG_ERR_FORMAT naming the token's sequence and position (rows before it may have been
 * written). */
clg_status llm_model_eval_batch(llm_model *m, const int32_t *tokens, const int32_t *pos,
                                const int32_t *seq, int n, const uint8_t *want, float *logits);
/* The same, but for each wanted token the arg-max of its logits is taken on the device and
 * only the token ids come back, in order, into ids (rows of [n_want]; greedy decoding of
 * several sequences: 4 bytes a sequence cross the bus instead of the vocabulary's logits).
 * Ties go to the lowest id. Refused as llm_model_eval_batch, and with ids NULL. Non-finite
 * logits fail with CLG_ERR_FORMAT naming the token's sequence and position (ids before it
 * may have been written). */
clg_status llm_model_eval_batch_greedy(llm_model *m, const int32_t *tokens, const int32_t *pos,
                                       const int32_t *seq, int n, const uint8_t *want,
                                       int32_t *ids);
/* Copies the KV-cache entries of positions 0 .. n-1 of sequence src into sequence dst, on
 * the device: dst may then continue from position n as if it had evaluated src's first n
 * tokens itself (a shared prompt prefix is evaluated once; the logits come out the same
 * where llm_model_rows_invariant). dst's entries at n and beyond are kept. CLG_ERR_INVALID_ARG
 * for sequences outside [0, n_seq), src == dst, or n outside [0, n_ctx]. */
clg_status llm_model_copy_seq(llm_model *m, int src, int dst, int n);
/* The number of sequences (llm_model_options.n_seq, at least 1). */
int llm_model_n_seq(const llm_model *m);
/* 1 when a token's logits do not depend on which other tokens share its step: every task of
 * both step plans runs a "row" variant (one work-item owns a token's row of a product, a
 * norm, an attention head or the heads of one KV head, so the batch sets only how many rows
 * run, and the one-token and the tiled products scale each block alike), as the planner
 * chooses on CPU devices (ops.llama_seqs checks equal logits there). 0 where a variant reduces a
 * row across work-items (GPU work-group variants, the split attention, a library GEMM): a one-token
 * step may then round differently from the same token in a batch. May change after
 * tuning. */
int llm_model_rows_invariant(const llm_model *m);

/* Bytes of weights one decode step reads: every tensor of the file (matrices, norms, the
 * output or tied embedding once) except an untied token embedding table, of which only the
 * token's row counts. The KV cache is not included. For roofline estimates. */
uint64_t llm_model_weight_bytes_per_token(const llm_model *m);

/* The same (sequence 0), but the arg-max of the last token's logits is taken on the device and
 * only that token id comes back (greedy decoding: one int crosses the bus per step).
 * Ties go to the lowest id. Non-finite logits fail with CLG_ERR_FORMAT naming the
 * position, *token unchanged. */
clg_status llm_model_eval_greedy(llm_model *m, const int32_t *tokens, int n, int pos,
                                 int32_t *token);

#ifdef __cplusplus
}
#endif
#endif
