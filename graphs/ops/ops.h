/* The op library: one function per operation that adds its task(s) to a graph with named
 * parameters, and each kernel's argument positions as named constants beside a summary of
 * its documentation (the layouts and NDRanges are in the cl/ file named). An architecture
 * declares a layer as a sequence of these calls (graphs/llama/graph.c); the tasks of an op
 * whose variant the planner chooses are created on a planner kind's current kernel and added
 * to the kind, which sets their NDRange. Buffers are row-major [T, n] with T tokens. */
#ifndef CLGRAPH_GRAPHS_OPS_H
#define CLGRAPH_GRAPHS_OPS_H

#include "clgraph/planner.h"
#include "clgraph/runtime.h"

/* ---- argument positions -------------------------------------------------------- */

/* cl/matmul.cl embed_TY(W, tokens, y, cols, T): y[t] = row tokens[t] of W [vocab, cols]. */
enum { EMBED_W, EMBED_TOKENS, EMBED_Y, EMBED_COLS, EMBED_T, EMBED_NARGS };

/* cl/norm.cl rmsnorm_row / rmsnorm_wg(x, w, y, n, eps, T): y[t] = x[t] / rms(x[t]) * w. */
enum { RMSNORM_X, RMSNORM_W, RMSNORM_Y, RMSNORM_N, RMSNORM_EPS, RMSNORM_T, RMSNORM_NARGS };

/* cl/matmul.cl matmul_TY, matmul_TY_wg(W, x, y, rows, cols, T, x_stride, y_stride, acc):
 * y[t, :rows] (+)= W [rows, cols] x[t, :cols]; cl/matmul_q8.cl matmul_TY_q8 adds the
 * __local token tile, matmul_TY_q8_norm the fused RMSNorm's weight and eps before it. */
enum {
    MATMUL_W,
    MATMUL_X,
    MATMUL_Y,
    MATMUL_ROWS,
    MATMUL_COLS,
    MATMUL_T,
    MATMUL_X_STRIDE,
    MATMUL_Y_STRIDE,
    MATMUL_ACC,
    MATMUL_NARGS,
    MATMUL_Q8_TILE = MATMUL_NARGS,
    MATMUL_Q8_NARGS,
    MATMUL_Q8N_NORM_W = MATMUL_NARGS,
    MATMUL_Q8N_EPS,
    MATMUL_Q8N_TILE,
    MATMUL_Q8N_NARGS
};

/* cl/matmul.cl ffn_swiglu_TY[_wg](Wg, Wu, x, h, rows, cols, T, x_stride, h_stride):
 * h[t] = silu(Wg x[t]) * (Wu x[t]); the _q8 / _q8_norm forms extend it as matmul's do. */
enum {
    FFN_WG,
    FFN_WU,
    FFN_X,
    FFN_H,
    FFN_ROWS,
    FFN_COLS,
    FFN_T,
    FFN_X_STRIDE,
    FFN_H_STRIDE,
    FFN_NARGS,
    FFN_Q8_TILE = FFN_NARGS,
    FFN_Q8_NARGS,
    FFN_Q8N_NORM_W = FFN_NARGS,
    FFN_Q8N_EPS,
    FFN_Q8N_TILE,
    FFN_Q8N_NARGS
};

/* cl/rope.cl rope_kv(qkv, k_cache, v_cache, pos, seq, inv_freq, T, row_stride, n_head,
 * n_head_kv, head_dim, n_rot, neox, ctx_len): RoPE of Q in place and of K, K and V stored
 * into the caches [n_seq, n_head_kv, ctx_len, head_dim] at each token's sequence seq[t] and
 * position pos[t]. */
enum {
    ROPE_QKV,
    ROPE_K_CACHE,
    ROPE_V_CACHE,
    ROPE_POS,
    ROPE_SEQ,
    ROPE_INV_FREQ,
    ROPE_T,
    ROPE_ROW_STRIDE,
    ROPE_N_HEAD,
    ROPE_N_HEAD_KV,
    ROPE_HEAD_DIM,
    ROPE_N_ROT,
    ROPE_NEOX,
    ROPE_CTX,
    ROPE_NARGS
};

/* cl/attention.cl attention_row / _wg / _split(q, k_cache, v_cache, pos, seq, out, T,
 * q_stride, q_off, out_stride, n_heads, n_kv_heads, head_dim, ctx_len, scale, window[, part,
 * n_split]): causal attention of each token over its sequence's cache region up to its
 * position p, from position max(0, p - window + 1) when window > 0 (sliding window), else
 * from 0 (_split: partial results over n_split ranges of those positions into part
 * [T, n_heads, n_split, head_dim + 2]). */
enum {
    ATT_Q,
    ATT_K_CACHE,
    ATT_V_CACHE,
    ATT_POS,
    ATT_SEQ,
    ATT_OUT,
    ATT_T,
    ATT_Q_STRIDE,
    ATT_Q_OFF,
    ATT_OUT_STRIDE,
    ATT_N_HEADS,
    ATT_N_KV_HEADS,
    ATT_HEAD_DIM,
    ATT_CTX,
    ATT_SCALE,
    ATT_WINDOW,
    ATT_NARGS,
    ATT_PART = ATT_NARGS,
    ATT_N_SPLIT,
    ATT_SPLIT_NARGS
};
/* cl/attention.cl attention_merge(part, out, T, out_stride, n_heads, head_dim, n_split). */
enum {
    MERGE_PART,
    MERGE_OUT,
    MERGE_T,
    MERGE_OUT_STRIDE,
    MERGE_N_HEADS,
    MERGE_HEAD_DIM,
    MERGE_N_SPLIT,
    MERGE_NARGS
};

/* cl/rows.cl gather_rows(src, rows, dst, n, T): dst[t] = src[rows[t]], [*, n] -> [T, n]. */
enum { GATHER_SRC, GATHER_ROWS, GATHER_DST, GATHER_N, GATHER_T, GATHER_NARGS };
/* cl/argmax.cl argmax(x, n, out): out[r] = the index of the largest of row r of x [rows, n]
 * (lowest on ties). */
enum { ARGMAX_X, ARGMAX_N, ARGMAX_OUT, ARGMAX_NARGS };
/* cl/matmul.cl dequant_TY(W, out, rows, cols, out_row0): rows of W as f32 into out. */
enum { DEQUANT_W, DEQUANT_OUT, DEQUANT_ROWS, DEQUANT_COLS, DEQUANT_ROW0, DEQUANT_NARGS };
/* cl/swiglu.cl swiglu(gu, h, n, T, h_stride): h[t] = silu(gu[t, :n]) * gu[t, n:2n]. */
enum { SWIGLU_GU, SWIGLU_H, SWIGLU_N, SWIGLU_T, SWIGLU_H_STRIDE, SWIGLU_NARGS };

/* The fixed-layout row ops: NDRange (items, T), T their last argument (llm_op_set_tokens). */
/* cl/norm.cl rmsnorm_heads(x, w, stride, off, n_heads, head_dim, eps, T): in place, each
 * head v = x[t, off + h*head_dim ..][:head_dim] = rmsnorm(v) * w[:head_dim]. */
enum {
    RMSH_X,
    RMSH_W,
    RMSH_STRIDE,
    RMSH_OFF,
    RMSH_N_HEADS,
    RMSH_HEAD_DIM,
    RMSH_EPS,
    RMSH_T,
    RMSH_NARGS
};
/* cl/norm.cl rmsnorm_add(y, w, x, n, eps, T): x[t] += rmsnorm(y[t]) * w, [T, n]. */
enum { RMSADD_Y, RMSADD_W, RMSADD_X, RMSADD_N, RMSADD_EPS, RMSADD_T, RMSADD_NARGS };
/* cl/rows.cl add_bias(y, b, stride, off, n, T): y[t, off + i] += b[i], i < n. */
enum { BIAS_Y, BIAS_B, BIAS_STRIDE, BIAS_OFF, BIAS_N, BIAS_T, BIAS_NARGS };
/* cl/rows.cl scale_rows(x, s, n, T): x[t, i] *= s over [T, n]. */
enum { SCALE_X, SCALE_S, SCALE_N, SCALE_T, SCALE_NARGS };
/* cl/rows.cl copy_cols(src, dst, src_stride, dst_stride, dst_off, n, T):
 * dst[t, dst_off + i] = src[t, i], i < n. */
enum {
    COLS_SRC,
    COLS_DST,
    COLS_SRC_STRIDE,
    COLS_DST_STRIDE,
    COLS_DST_OFF,
    COLS_N,
    COLS_T,
    COLS_NARGS
};
/* cl/glu.cl glu_split(g, u, h, n, T): h[t, i] = act(g[t, i]) * u[t, i] over [T, n]; act is
 * SiLU, or GELU (tanh form) in a build with -DFFN_GELU. */
enum { GLU_G, GLU_U, GLU_H, GLU_N, GLU_T, GLU_NARGS };

/* ---- ops ------------------------------------------------------------------------ */

/* A weight product y[T, rows] (+)= x[T, cols] W^T on kind k's kernel of `slot`. With
 * 8-bit activations (q8_tile > 0: bytes of the __local token tile of cl/matmul_q8.cl) and
 * norm_w set, x is RMS-normed with norm_w and eps first (the _norm kernels). */
typedef struct llm_matmul {
    clg_buffer *w, *x, *y;
    int rows, cols;
    int y_stride;       /* floats per token row of y; 0: rows */
    int accumulate;     /* y += instead of y = (the residual add, fused) */
    size_t q8_tile;     /* 0: float activations */
    clg_buffer *norm_w; /* fused RMSNorm weight (8-bit activations only), or NULL */
    float eps;
} llm_matmul;
clg_status llm_op_matmul(clg_graph *g, const char *name, clg_kind *k, unsigned slot,
                         const llm_matmul *a, clg_task **out);

/* The SwiGLU feed-forward h[T, rows] = silu(x Wg^T) * (x Wu^T), a->w = Wg, wu = Wu. */
clg_status llm_op_ffn_swiglu(clg_graph *g, const char *name, clg_kind *k, unsigned slot,
                             const llm_matmul *a, clg_buffer *wu, clg_task **out);

/* y[T, n] = rmsnorm(x[T, n]) * w on kind k's kernel. */
clg_status llm_op_rmsnorm(clg_graph *g, const char *name, clg_kind *k, clg_buffer *x, clg_buffer *w,
                          clg_buffer *y, int n, float eps, clg_task **out);

/* x[T, cols] = rows tokens[T] of the embedding table w (type suffix ty). */
clg_status llm_op_embed(clg_graph *g, clg_program *prog, const char *ty, clg_buffer *w,
                        clg_buffer *tokens, clg_buffer *x, int cols, clg_task **out);

/* RoPE and the KV-cache store of one layer (see ROPE_*). */
typedef struct llm_rope_kv {
    clg_buffer *qkv, *k_cache, *v_cache, *pos, *seq, *inv_freq; /* pos, seq: [T] int */
    int row_stride, n_head, n_head_kv, head_dim, n_rot, neox, ctx;
} llm_rope_kv;
clg_status llm_op_rope_kv(clg_graph *g, clg_program *prog, const llm_rope_kv *a, clg_task **out);

/* Causal attention of q (rows of qkv at q_off) over a layer's caches into out, on kind k's
 * kernel; with part set (a split kind: slots 0 and 1), partials over n_split position
 * ranges then the merge task (*merge; NULL otherwise). */
typedef struct llm_attention {
    clg_buffer *q, *k_cache, *v_cache, *pos, *seq, *out; /* pos, seq: [T] int */
    int q_stride, q_off, out_stride, n_heads, n_kv_heads, head_dim, ctx;
    float scale;      /* of the scores q.k: 1/sqrt(head_dim) for Llama, Qwen and Gemma 3 */
    int window;       /* 0: full causal attention; w > 0: the last w positions (p - p' < w) */
    clg_buffer *part; /* [n_heads, n_split, head_dim + 2], or NULL */
    int n_split;
} llm_attention;
clg_status llm_op_attention(clg_graph *g, clg_kind *k, const llm_attention *a, clg_task **out,
                            clg_task **merge);

/* ---- fixed-layout row ops -------------------------------------------------------------
 * Tasks on kernels the planner does not choose among: prog is the named file's program
 * (any build of it; cl/glu.cl's build options pick the activation), the range (items, T)
 * is set here for T tokens, and llm_op_set_tokens moves a task to another batch size.
 * x, y, ... are f32 row-major; strides and offsets in floats. */

/* Sets argument t_arg (the op's *_T constant) to T and the range's second dimension to T;
 * for the tasks of the ops below. */
clg_status llm_op_set_tokens(clg_task *t, unsigned t_arg, int T);

/* In place on x [T, stride]: each of n_heads heads of head_dim floats at off + h*head_dim
 * in each row = rmsnorm(head) * w[head_dim] (Q/K norm; prog: cl/norm.cl). */
clg_status llm_op_rmsnorm_heads(clg_graph *g, const char *name, clg_program *prog, clg_buffer *x,
                                clg_buffer *w, int stride, int off, int n_heads, int head_dim,
                                float eps, int T, clg_task **out);
/* x[T, n] += rmsnorm(y[T, n]) * w[n] (a sandwich norm and the residual add; prog: cl/norm.cl;
 * y and x distinct). */
clg_status llm_op_rmsnorm_add(clg_graph *g, const char *name, clg_program *prog, clg_buffer *y,
                              clg_buffer *w, clg_buffer *x, int n, float eps, int T,
                              clg_task **out);
/* y[t, off + i] += b[i] for i < n, y [T, stride] (prog: cl/rows.cl). */
clg_status llm_op_add_bias(clg_graph *g, const char *name, clg_program *prog, clg_buffer *y,
                           clg_buffer *b, int stride, int off, int n, int T, clg_task **out);
/* x[T, n] *= s (prog: cl/rows.cl). */
clg_status llm_op_scale(clg_graph *g, const char *name, clg_program *prog, clg_buffer *x, float s,
                        int n, int T, clg_task **out);
/* dst[t, dst_off + i] = src[t, i] for i < n; src [T, src_stride], dst [T, dst_stride]
 * (prog: cl/rows.cl). */
clg_status llm_op_copy_cols(clg_graph *g, const char *name, clg_program *prog, clg_buffer *src,
                            int src_stride, clg_buffer *dst, int dst_stride, int dst_off, int n,
                            int T, clg_task **out);
/* dst[T, n] = rows rows[t] (int [T]) of src [*, n] (prog: cl/rows.cl). */
clg_status llm_op_gather_rows(clg_graph *g, const char *name, clg_program *prog, clg_buffer *src,
                              clg_buffer *rows, clg_buffer *dst, int n, int T, clg_task **out);
/* h[T, n] = act(gate[T, n]) * up[T, n], act SiLU, or GELU with prog built from cl/glu.cl
 * with -DFFN_GELU; h may be gate or up. */
clg_status llm_op_glu(clg_graph *g, const char *name, clg_program *prog, clg_buffer *gate,
                      clg_buffer *up, clg_buffer *h, int n, int T, clg_task **out);

/* out[r] = argmax of row r of x [rows, n], one work-group of the program's ARGMAX_WG (wg)
 * items per row: one row until llm_op_argmax_rows sets more (range set here). */
clg_status llm_op_argmax(clg_graph *g, clg_program *prog, size_t wg, clg_buffer *x, int n,
                         clg_buffer *out, clg_task **t);
/* The rows (>= 1) of argmax task t made with work-groups of wg. */
clg_status llm_op_argmax_rows(clg_task *t, size_t wg, int rows);

#endif
