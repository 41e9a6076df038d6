/* Private to graphs/llama*.c: the model's structures, shared by the graph builder
 * (llama.c) and the planner (llama_tune.c). */
#ifndef CLGRAPH_GRAPHS_LLAMA_IMPL_H
#define CLGRAPH_GRAPHS_LLAMA_IMPL_H

#include "clgraph/llm.h"

/* The weights and KV cache of one layer (buffers shared by both step plans). */
typedef struct layer_weights {
    clg_buffer *attn_norm, *qkv, *wo, *ffn_norm, *gate, *up, *down, *k_cache, *v_cache;
    int qkv_type, wo_type, ffn_type, down_type; /* llm_dtype */
} layer_weights;

/* The tasks of one layer, kept to update batch sizes between evaluations. */
typedef struct layer_tasks {
    clg_task *attn_norm, *qkv, *rope_kv, *attn, *attn_merge, *wo, *ffn_norm, *ffn, *down;
    /* The library GEMM alternative of each product kind (llama_gemm.c; prefill plan only,
     * NULL-terminated): dequantize, [dequantize,] Sgemm call[, swiglu]. Disabled unless
     * the kind's choice is the library (mm_cfg.blas). */
    clg_task *gemm[4][5];
} layer_tasks;

/* The weight products whose variant the planner chooses, one choice per kind. */
typedef enum mm_kind { MM_QKV, MM_WO, MM_FFN, MM_DOWN, MM_OUT, MM_KINDS } mm_kind;

/* A product's variant: row per work-item (wg == 0) with a local size, or a work-group
 * of wg items per row. */
typedef struct mm_cfg {
    int blas;                  /* 1: dequantize + CLBlast Sgemm instead (prefill; llama_gemm.c);
                                  the fields below then describe the disabled kernel task */
    int q8;                    /* 1: cl/matmul_q8.cl's row kernels (8-bit activations) */
    int wg;
    size_t local;
    clg_program *prog;
    int tuned;                 /* 1: measured; 0: heuristic */
    double best_ns, runner_ns; /* measured times of the winner and the runner-up (-1: none) */
    char label[32];
} mm_cfg;

/* The other tasks whose variant the planner chooses, one choice per kind and plan: the
 * RMSNorms (cl/norm.cl) and the attention (cl/attention.cl). */
typedef enum op_kind { OP_ATTN_NORM, OP_FFN_NORM, OP_OUT_NORM, OP_ATTN, OP_KINDS } op_kind;

/* A norm or attention variant: one the kernel file declares (@variant "row", "wg",
 * "split"), with the local size of a row variant or the swept work-group size (NORM_WG,
 * ATT_WG) of the others; prog is the file built with that value. */
typedef struct op_cfg {
    char variant[32];          /* the declared name */
    char kernel[64];           /* its first kernel: the one the task runs */
    int wg;                    /* the swept value; 0 for a row variant */
    size_t local;              /* a row variant's local size of dimension 0 */
    int split;                 /* attention over position ranges, then attn_merge */
    clg_program *prog;
    int tuned;                 /* 1: measured; 0: heuristic */
    double best_ns, runner_ns; /* measured times of the winner and the runner-up (-1: none) */
    char label[32];            /* "row local 1", "wg 64", "split wg 32" */
} op_cfg;

/* The tasks after the last layer: the last token's row, the final norm, the output
 * product, and (greedy head only) the argmax. */
typedef struct head_tasks {
    clg_task *copy_last, *out_norm, *out_logits, *argmax;
} head_tasks;

/* The graphs embed, layer.0 .. layer.N-1, logits for one token-tile size of the
 * products: 1 for decode steps, MM_TT_PREFILL for prompt batches. */
typedef struct step_plan {
    clg_plan *plan;
    int tile;
    clg_program *matmul;      /* the product kernels with MM_TT = tile, default MM_WG */
    clg_program *matmul_q8;   /* the 8-bit-activation products with MM_TT = tile (act_q8) */
    mm_cfg cfg[MM_KINDS];     /* each product's variant */
    op_cfg ops[OP_KINDS];     /* each norm's and the attention's variant */
    clg_plan *greedy_plan;    /* the same graphs with a head that returns only the argmax */
    clg_task *embed;
    head_tasks head[2];       /* 0: logits come back; 1: logits stay, the argmax comes back */
    layer_tasks *layers;
    int cur_T;
    /* Recorded replay of plan and greedy_plan (llama_tune.c): on, measured (1) or heuristic,
     * and the step times measured with it on and off (-1: not measured). */
    struct {
        int on, tuned;
        double on_ns, off_ns;
    } replay;
    /* The library GEMM path (llama_gemm.c; prefill only, NULL elsewhere). */
    clg_program *swiglu;
    struct gemm_call *calls;  /* [n_layer][4] the Sgemm call tasks' parameters (owned) */
} step_plan;

struct llm_model {
    llm_gguf *gguf;
    llm_hparams hp;
    clg_context *ctx;
    int gpu_variants;   /* work-group-per-row kernels (GPU) vs row-per-work-item (CPU) */
    int qkv_dim;        /* (n_head + 2 n_head_kv) * head_dim */
    /* device buffers; shapes with B = n_batch */
    clg_buffer *tokens; /* [B] int, EVERY_EXECUTION */
    clg_buffer *pos;    /* [B] int, EVERY_EXECUTION */
    clg_buffer *x;      /* [B, n_embd] residual stream */
    clg_buffer *xn;     /* [B, n_embd] normed */
    clg_buffer *qkv;    /* [B, qkv_dim] q | k | v */
    clg_buffer *att;    /* [B, n_head * head_dim] */
    clg_buffer *ffh;    /* [B, n_ff] */
    clg_buffer *last;   /* [n_embd] the last token's row */
    clg_buffer *logits; /* [n_vocab] EVERY_EXECUTION */
    clg_buffer *logits_dev; /* [n_vocab] DEVICE_ONLY, for the greedy head */
    clg_buffer *token_out;  /* [1] int EVERY_EXECUTION: the greedy head's argmax */
    int32_t token_host;
    int argmax_wg;
    clg_buffer *rope_inv_freq; /* [n_rot/2] angle per position of each RoPE pair */
    float *rope_inv_host;      /* its host copy (owned) */
    clg_buffer *att_part; /* [n_head, attn_split, head_dim + 2] decode attention partials */
    int attn_split;       /* parts of the decode attention; <= 1: none */
    int att_wg;           /* ATT_WG of the attention program (the kernel's limit may be lower) */
    int32_t *tok_host, *pos_host;
    float *logits_host;
    void **qkv_host;    /* per layer: concatenated q|k|v weight rows (owned) */
    layer_weights *lw;
    clg_buffer *tok_embd, *out_norm_w, *output; /* output == tok_embd when tied */
    int tok_type, out_type;
    int gemm_mode;        /* LLM_GEMM_*: $CLGRAPH_PREFILL_GEMM */
    clg_buffer *w_f32;    /* [rows, cols] f32 scratch: the weight a library GEMM reads (the
                             largest layer matrix, gate|up stacked); NULL when not offered */
    clg_buffer *ffn_gu;   /* [B, 2 n_ff] gate|up products of the library FFN */
    step_plan decode, prefill;
};

/* Work sizes and kernel names (llama.c). */
enum { MM_TT_PREFILL = 8, MM_WG = 64, NORM_WG = 64, ATT_WG = 64, CPU_LOCAL = 16 };
const char *llm_mm_kind_name(mm_kind k);
/* The heuristic variant for the device: cl/matmul.cl's declared default for its type (row,
 * local 16 on CPUs; work-groups of 64 on GPUs). CLG_ERR_FORMAT when the file declares none. */
clg_status llm_mm_cfg_default(const llm_model *m, const step_plan *sp, mm_kind k, mm_cfg *c);
/* 1 when kind k's tasks run cl/matmul_q8.cl (hp.act_q8 and a weight type it takes); the
 * norm before qkv, ffn_swiglu and output is then fused into them (no norm task). */
int llm_mm_q8(const llm_model *m, mm_kind k);
/* The llm_dtype of kind k's weights. */
int llm_mm_dtype(const llm_model *m, mm_kind k);
/* "wg 64" or "row local 16" into c->label. */
void llm_mm_cfg_label(mm_cfg *c);
/* The NDRange of a product with variant c: rows (times the work-group) by token tiles. */
void llm_mm_ndrange(const step_plan *sp, const mm_cfg *c, int rows, int T, size_t global[3],
                    size_t local[3]);
/* Sets the range of a product task of kind k for T tokens. */
clg_status llm_mm_range(const step_plan *sp, mm_kind k, clg_task *t, int rows, int T);
/* "matmul_q4_1" or "ffn_swiglu_q8_0_wg" for kind k's current variant. */
const char *llm_mm_kernel(const llm_model *m, const mm_cfg *c, mm_kind k, char *buf, size_t cap);
/* The kernel-name suffix of a weight type ("f32", "f16", "q8_0", "q4_0", "q4_1"; static),
 * NULL for a type the kernels do not take. */
const char *llm_kernel_suffix(int dtype);
/* Every task of kind k in a plan (one per layer, or the two heads' output products). */
size_t llm_mm_tasks(const llm_model *m, const step_plan *sp, mm_kind k, clg_task **out, int *rows);
/* Sets every batch-dependent argument and range of a plan for T tokens. */
clg_status llm_set_batch(llm_model *m, step_plan *sp, int T);

/* The library GEMM path of the prefill products (llama_gemm.c): a product of kind qkv,
 * attn_output, ffn_swiglu or ffn_down can run as a kernel that dequantizes its weight
 * into m->w_f32 then a CLBlast Sgemm (and, for the FFN, a SwiGLU kernel). Offered in the
 * prefill plan only (decode steps are matrix-vector products, and the prefill head's
 * output product is one token), for qkv and ffn_swiglu only where their RMSNorm is a task
 * of its own (float activations: with 8-bit ones it is fused into the product), and not
 * with $CLGRAPH_PREFILL_GEMM=own. */
/* $CLGRAPH_PREFILL_GEMM (auto | own | clblast; unset or empty: auto) into *mode. */
clg_status llm_gemm_mode_from_env(int *mode);
int llm_gemm_offered(const llm_model *m, const step_plan *sp, mm_kind k);
/* Programs, scratch buffers and call parameters of plan sp, when it offers any kind. */
clg_status llm_gemm_prepare(llm_model *m, step_plan *sp);
/* Appends layer i's library tasks of kind k to g, disabled: y = x W^T (+ y when
 * accumulate), W = w [rows, cols] (the FFN: h = silu(x Wg^T) * (x Wu^T), w = Wg, w_up =
 * Wu, y = h). A no-op where the kind is not offered. */
clg_status llm_gemm_layer(llm_model *m, step_plan *sp, clg_graph *g, int i, mm_kind k,
                          clg_buffer *w, clg_buffer *w_up, clg_buffer *x, clg_buffer *y, int rows,
                          int cols, int accumulate);
/* Sets the batch-dependent ranges and arguments of sp's library tasks for T tokens. */
clg_status llm_gemm_set_batch(llm_model *m, step_plan *sp, int T);
/* Enables kind k's library tasks and disables its product tasks (on), or the reverse. */
void llm_gemm_use(llm_model *m, step_plan *sp, mm_kind k, int on);
/* Kind k's library tasks of every layer of sp into out (cap 4 per layer); their count. */
size_t llm_gemm_tasks(const llm_model *m, const step_plan *sp, mm_kind k, clg_task **out);

/* The planner (llama_tune.c): measures each product, norm and attention kind's candidates
 * on the plan's real buffers, or takes them from the plan cache. */
clg_status llm_tune_plans(llm_model *m, int retune);
/* The untuned variant of a kernel file on m's device: prog's @variant marked device=gpu
 * on GPUs, device=cpu on other devices (*v; its first local size or swept value is the
 * default). CLG_ERR_FORMAT when prog declares none, or its declarations do not parse;
 * file ("matmul") names cl/FILE.cl in the message. */
clg_status llm_declared_default(const llm_model *m, const clg_program *prog, const char *file,
                                clg_variant *v);
/* Kind k's untuned variant in plan sp: the declared default of its file on the device, or
 * for the decode attention of a split plan (m->attn_split > 1) the split, with the
 * model's ATT_WG (m->att_wg, fitted to the device). */
clg_status llm_op_cfg_default(llm_model *m, const step_plan *sp, op_kind k, op_cfg *c);
/* The NDRange of kind k's task with variant c for T tokens (see cl/norm.cl and
 * cl/attention.cl for each variant's); returns the dimensions. */
unsigned llm_op_ndrange(const llm_model *m, const op_cfg *c, op_kind k, int T, size_t global[3],
                        size_t local[3]);
/* Sets the range of kind k's task t in plan sp for T tokens. */
clg_status llm_op_range(const llm_model *m, const step_plan *sp, op_kind k, clg_task *t, int T);
/* Build options of cl/attention.cl with ATT_WG = wg: "-DKV_F16" for an f16 cache, and
 * -DATT_WG unless wg is the file's default (so that both spell one program alike). */
void llm_attention_options(const llm_model *m, int wg, char *buf, size_t cap);
#endif
