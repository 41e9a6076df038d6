/* Private to graphs/llama/: the model's structures. The files depend on each other in one
 * direction: model.c (load) -> tune.c (the planner's choices, the plan cache) -> graph.c (the
 * step plans' graphs and kinds, evaluation) -> gemm.c (the library GEMM alternative of the
 * prefill products) -> shapes.c (what all of them share about the products). */
#ifndef CLGRAPH_GRAPHS_LLAMA_IMPL_H
#define CLGRAPH_GRAPHS_LLAMA_IMPL_H

#include "clgraph/llm.h"
#include "clgraph/planner.h"

/* What an architecture adds to the Llama layer (model.c's table). Every architecture is the
 * one layer graph of graph.c with these parts switched on. */
typedef struct llm_arch {
    const char *name; /* general.architecture, and the prefix of its metadata keys */
    int qkv_bias;     /* attn_q/k/v.bias added after the products (Qwen2) */
    int qk_norm;      /* attn_q_norm / attn_k_norm: RMSNorm per head before RoPE (Qwen3, Gemma 3) */
    int post_norms;   /* post_attention_norm, post_ffw_norm on each block's output (Gemma 3) */
    int gelu;         /* GeGLU feed-forward (tanh GELU) instead of SwiGLU (Gemma) */
    int embed_scale;  /* embeddings times sqrt(n_embd) (Gemma) */
    int fused_qkv;    /* attn_qkv holds q | k | v rows (Phi-3) */
    int fused_gate_up;   /* ffn_up holds gate | up rows [2 n_ff] (Phi-3) */
    int rope_neox;       /* RoPE pairs (i, i + n_rot / 2) instead of (2i, 2i + 1) */
    int swa;             /* reads <arch>.attention.sliding_window */
    int swa_period;      /* with a window: layers i % period == period - 1 attend to everything
                            (Gemma 3: 6); 0: every layer has the window */
    float swa_rope_base; /* RoPE base of the windowed layers (Gemma 3: 10000), 0: the model's */
} llm_arch;

/* One product of a layer's Q/K/V rows: consecutive q, k, v matrices of one weight type
 * concatenated (all three where their types agree), written into columns off .. off + rows
 * of the qkv activations (the first segment directly, the others through qkv_tmp). */
typedef struct qkv_segment {
    clg_buffer *w; /* [rows, n_embd] */
    int dtype, rows, off;
} qkv_segment;

/* The weights and KV cache of one layer (buffers shared by both step plans). */
typedef struct layer_weights {
    clg_buffer *attn_norm; /* [n_embd] f32 */
    qkv_segment qkv[3];    /* n_qkv of them, together [q_dim + 2 kv_dim] rows */
    int n_qkv;
    clg_buffer *bq, *bk, *bv;         /* [q_dim], [kv_dim], [kv_dim] biases (qkv_bias) */
    clg_buffer *q_norm, *k_norm;      /* [head_dim] (qk_norm) */
    clg_buffer *wo;                   /* [n_embd, q_dim] */
    clg_buffer *post_attn_norm;       /* [n_embd] (post_norms) */
    clg_buffer *ffn_norm;             /* [n_embd] f32 */
    clg_buffer *gate, *up;            /* [n_ff, n_embd] */
    clg_buffer *down;                 /* [n_embd, n_ff] */
    clg_buffer *post_ffn_norm;        /* [n_embd] (post_norms) */
    clg_buffer *k_cache, *v_cache;    /* [n_seq, n_head_kv, n_ctx, head_dim] f32 or f16 */
    clg_buffer *rope_inv_freq;        /* the model's, or the windowed layers' */
    int window;                       /* attention window in positions, 0: none */
    int wo_type, ffn_type, down_type; /* llm_dtype */
    void *host[3];                    /* concatenated Q/K/V segments (owned until uploaded) */
} layer_weights;

/* A task whose T argument (t_arg) follows the batch, and its NDRange: a kind's task (g0 = 0,
 * not fixed: the kind sets it), an op library fixed-layout op's (fixed: llm_op_set_tokens),
 * or global (g0 rounded up to l0, T), local (l0, 1). */
typedef struct batch_task {
    clg_task *t;
    int t_arg, fixed;
    size_t g0, l0;
} batch_task;
enum { MAX_BATCH_TASKS = 24 };

/* The tasks of one layer, kept to update batch sizes between evaluations. */
typedef struct layer_tasks {
    batch_task bt[MAX_BATCH_TASKS];
    int n_bt;
    /* The library GEMM alternative of each product kind (gemm.c; prefill plan only,
     * NULL-terminated): dequantize, [dequantize,] Sgemm call[, swiglu]. */
    clg_task *gemm[4][5];
} layer_tasks;

/* The planner's kinds of a step plan: the weight products, the RMSNorms (absent where
 * 8-bit activations fuse them into the product after them), the attention. */
typedef enum mm_kind { MM_QKV, MM_WO, MM_FFN, MM_DOWN, MM_OUT, MM_KINDS } mm_kind;
typedef enum norm_kind { NORM_ATTN, NORM_FFN, NORM_OUT, NORM_KINDS } norm_kind;

/* What a kind's range callback needs to lay out its tasks (graph.c). */
typedef struct kind_shape {
    struct llm_model *m;
    struct step_plan *sp;
    enum { SHAPE_PRODUCT, SHAPE_NORM, SHAPE_ATTENTION } op;
    int rows; /* products: output rows */
    int head; /* 1: the head's tasks, which run on step_plan.head_T rows */
} kind_shape;

/* The tasks after the last layer: the wanted rows (head 0: gathered by head_rows) or the
 * last token's row (greedy head), the final norm, the output product, and (greedy head
 * only) the argmax. */
typedef struct head_tasks {
    clg_task *pick, *out_norm, *out_logits, *argmax;
} head_tasks;

enum { MAX_MM_ENTRIES = 32 };

/* The graphs embed, layer.0 .. layer.N-1, logits for one token-tile size of the
 * products: 1 for decode steps, MM_TT_PREFILL for prompt batches. */
typedef struct step_plan {
    const char *name; /* "decode" or "prefill": the kinds' prefix */
    clg_plan *plan;
    clg_plan *greedy_plan; /* the same graphs with a head that returns only the argmax */
    int tile;              /* MM_TT of the products */
    int cur_T;             /* the token count the tasks are set for */
    int head_T;            /* the rows head 0's tasks (and the head kinds' ranges) are set for */
    /* The products' kinds: one per product, weight type and row count (a model may mix
     * types per tensor); mm[k] is product k's kind where it has one only, else NULL. */
    struct mm_entry {
        mm_kind k;
        int dtype;
        clg_kind *kind;
        kind_shape shape;
    } mk[MAX_MM_ENTRIES];
    int n_mk;
    clg_kind *mm[MM_KINDS];
    clg_kind *norm[NORM_KINDS]; /* NULL where fused */
    clg_kind *attn;
    kind_shape norm_shape[NORM_KINDS], attn_shape;
    clg_task *embed;
    batch_task embed_scale; /* Gemma's sqrt(n_embd), or t NULL */
    head_tasks head[2];     /* 0: logits come back; 1: logits stay, the argmax comes back */
    layer_tasks *layers;    /* [n_layer] */
    /* The library GEMM path (gemm.c; prefill only, NULL elsewhere). */
    clg_program *matmul; /* its dequantization kernels */
    clg_program *swiglu;
    struct gemm_call *calls; /* [n_layer][4] the Sgemm call tasks' parameters (owned) */
} step_plan;

struct llm_model {
    llm_gguf *gguf;
    llm_hparams hp;
    const llm_arch *arch;
    int swa_period; /* see llm_arch.swa_period; the file may set another */
    clg_context *ctx;
    clg_planner *planner;
    int is_gpu;     /* the device is a GPU (defaults: float activations, split attention) */
    void **x8_host; /* [n_x8_host] repacked weights (llm_w_x8), owned until uploaded */
    size_t n_x8_host, cap_x8_host;
    int n_x8;                 /* matrices repacked */
    llm_layout_choice layout; /* how hp.x8 was chosen (tune.c) */
    int qkv_dim;              /* (n_head + 2 n_head_kv) * head_dim */
    int gemm_mode;            /* LLM_GEMM_* (llm_model_options.prefill_gemm) */
    int replay;               /* llm_model_options.replay */
    int n_seq;     /* sequences, each with its own KV-cache region (llm_model_options.n_seq) */
    int head_rows; /* H = min(n_seq, n_batch): logits rows per pass of the head */
    /* device buffers; shapes with B = n_batch */
    clg_buffer *tokens;        /* [B] int, EVERY_EXECUTION */
    clg_buffer *pos;           /* [B] int, EVERY_EXECUTION */
    clg_buffer *seq;           /* [B] int, DEVICE_ONLY: written only when it changes (seq_dev) */
    clg_buffer *rows;          /* [H] int, DEVICE_ONLY: the rows the prefill plan's heads gather
                                  (rows_dev); the decode plan's read x */
    clg_buffer *x;             /* [B, n_embd] residual stream */
    clg_buffer *xn;            /* [B, n_embd] normed */
    clg_buffer *qkv;           /* [B, qkv_dim] q | k | v */
    clg_buffer *qkv_tmp;       /* [B, 2 kv_dim] a later Q/K/V segment's product (split layers) */
    clg_buffer *blk_out;       /* [B, n_embd] a block's output before its post-norm (post_norms) */
    clg_buffer *att;           /* [B, n_head * head_dim] */
    clg_buffer *ffh;           /* [B, n_ff] */
    clg_buffer *last;          /* [H, n_embd] the wanted tokens' rows */
    clg_buffer *logits;        /* [H, n_vocab] EVERY_EXECUTION (the pass's rows come back) */
    clg_buffer *logits_dev;    /* [H, n_vocab] DEVICE_ONLY, for the greedy head */
    clg_buffer *token_out;     /* [H] int EVERY_EXECUTION: the greedy head's arg-max per row */
    int32_t *token_host;       /* [H] */
    size_t argmax_wg;          /* the greedy head's work-group per row (cl/argmax.cl) */
    clg_buffer *rope_inv_freq; /* [n_rot/2] angle per position of each RoPE pair */
    float *rope_inv_host;      /* its host copy (owned) */
    clg_buffer *rope_swa_freq; /* the same for windowed layers of another base, or NULL */
    float *rope_swa_host;
    clg_buffer *att_part; /* [n_head, attn_split, head_dim + 2] decode attention partials */
    int attn_split;       /* parts of the decode attention; <= 1: none */
    int32_t *tok_host, *pos_host;
    int32_t *seq_host, *seq_dev;   /* [B] the step's sequences; what m->seq holds */
    int32_t *rows_host, *rows_dev; /* [B] the step's wanted rows; [H] what m->rows holds */
    int32_t *seq_next;             /* [n_seq] eval_batch's check of consecutive positions */
    float *logits_host;            /* [H, n_vocab] */
    layer_weights *lw;
    clg_buffer *tok_embd, *out_norm_w, *output; /* output == tok_embd when tied */
    int tok_type, out_type;
    clg_buffer *w_f32;  /* [rows, cols] f32 scratch: the weight a library GEMM reads (the
                           largest layer matrix, gate|up stacked); NULL when not offered */
    clg_buffer *ffn_gu; /* [B, 2 n_ff] gate|up products of the library FFN */
    step_plan decode, prefill;
};

/* Token tile of the prefill products (MM_TT). */
enum { MM_TT_PREFILL = 8 };

/* shapes.c: the kernel-name suffix of a weight type ("f32", "f16", "bf16", "q8_0", "q4_0",
 * "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"; static), NULL for a type the kernels do not
 * take. */
const char *llm_kernel_suffix(int dtype);
/* The llm_dtype of product k's weights in layer 0 (the first Q/K/V segment's). */
int llm_mm_dtype(const llm_model *m, mm_kind k);
/* 1 when product k has layer 0's type in every layer (Q/K/V: one segment each). */
int llm_mm_uniform(const llm_model *m, mm_kind k);
/* 1 for the weight types cl/matmul_q8.cl takes (the quantized ones). */
int llm_q8_weight(int dtype);
/* 1 when a product weight of dtype with `rows` rows is in the x8 layout (hp.x8, 8-bit
 * activations, a type that has the layout, rows a multiple of 8): its kind runs the x8
 * variant of cl/matmul_q8.cl, and a tied embedding reads it with embed_TY_x8. */
int llm_w_x8(const llm_model *m, int dtype, int rows);
/* 1 when product k's tasks run cl/matmul_q8.cl (hp.act_q8, which every layer weight takes,
 * and for the output a weight type it takes); the norm before qkv, ffn_swiglu and output is
 * then fused into them (no norm task). */
int llm_mm_q8(const llm_model *m, mm_kind k);
/* "qkv", "attn_output", "ffn_swiglu", "ffn_down", "output". */
const char *llm_mm_kind_name(mm_kind k);
/* Appends " -DCLG_TY_<ty>" for dtype to the build options opts[cap] unless they hold it: the
 * one-type programs of cl/matmul.cl and cl/matmul_q8.cl (built with -DCLG_ONE_TY). */
void llm_type_option(char *opts, size_t cap, int dtype);
/* Bytes of the __local quantized token tile of a cl/matmul_q8.cl product (MQ_SCRATCH_BYTES). */
size_t llm_q8_tile_bytes(int tile, int cols);

/* min(n_ctx - 1, 512): the position the attention's variants are tuned at (graph.c). */
int llm_att_tune_pos(const llm_model *m);
/* graph.c: the kinds, graphs and tasks of both step plans (the kinds on their untuned
 * defaults); then every batch-dependent argument and range of plan sp for T tokens; and
 * evaluation. */
clg_status llm_build_plans(llm_model *m, llm_progress_fn progress, void *user);
clg_status llm_set_batch(llm_model *m, step_plan *sp, int T);

/* gemm.c: the library GEMM path of the prefill products: a product of kind qkv,
 * attn_output, ffn_swiglu or ffn_down can run as a kernel that dequantizes its weight into
 * m->w_f32 then a CLBlast Sgemm (and, for the FFN, a SwiGLU kernel): the alternative
 * "clblast" of the kind. Offered in the prefill plan only (decode steps are matrix-vector
 * products, and the prefill head's output product is one token), for qkv and ffn_swiglu
 * only where their RMSNorm is a task of its own (float activations: with 8-bit ones it is
 * fused into the product), and not with LLM_GEMM_OWN; only for a product of one weight type
 * in every layer (llm_mm_uniform) and a SwiGLU feed-forward. */
int llm_gemm_offered(const llm_model *m, const step_plan *sp, mm_kind k);
/* Bytes of the scratch buffers llm_gemm_prepare creates (w_f32, ffn_gu) for the prefill
 * plan; needs the weight types and hp.act_q8, not the plans. */
uint64_t llm_gemm_scratch_bytes(const llm_model *m);
/* Programs, scratch buffers and call parameters of plan sp, when it offers any kind. */
clg_status llm_gemm_prepare(llm_model *m, step_plan *sp);
/* Appends layer i's library tasks of kind k to g: y = x W^T (+ y when accumulate),
 * W = w [rows, cols] (the FFN: h = silu(x Wg^T) * (x Wu^T), w = Wg, w_up = Wu, y = h).
 * A no-op where the kind is not offered. */
clg_status llm_gemm_layer(llm_model *m, step_plan *sp, clg_graph *g, int i, mm_kind k,
                          clg_buffer *w, clg_buffer *w_up, clg_buffer *x, clg_buffer *y, int rows,
                          int cols, int accumulate);
/* Registers each offered kind's library tasks (all layers) as its alternative "clblast". */
clg_status llm_gemm_register(llm_model *m, step_plan *sp);
/* Sets the batch-dependent ranges and arguments of sp's library tasks for T tokens. */
clg_status llm_gemm_set_batch(llm_model *m, step_plan *sp, int T);

/* tune.c: the planner's choices: from the plan cache, measured (tune 1: when the cache has
 * none; 2: always), or the declared defaults (tune 0 without a cache file); then the
 * options that force a choice (prefill_gemm, replay). */
clg_status llm_tune_plans(llm_model *m, int tune);

/* model.c: llm_model_load for the options' layout as they stand (AUTO: the device type's). */
clg_status llm_model_load_as(const char *path, const llm_model_options *opt, llm_model **out);
/* tune.c: llm_model_load with the layout chosen: the options', else a measurement kept in
 * the cache folder (made with tune when there is none, or always with tune 2), else the
 * device type's. */
clg_status llm_load_layout(const char *path, const llm_model_options *opt, llm_model **out);
#endif
