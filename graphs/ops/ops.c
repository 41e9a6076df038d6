/* The op library (ops.h): each op's task(s) with its arguments bound by name. Token counts
 * start at 1; the architecture sets them per batch (the *_T arguments). */
#include "graphs/ops/ops.h"

#include <stdio.h>

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((st = (call)) != CLG_OK) goto fail;                                                    \
    } while (0)

/* A task on kind k's kernel for `slot`; added to the kind once its arguments are set. */
static clg_status kind_task(clg_graph *g, const char *name, clg_kind *k, unsigned slot,
                            clg_task **out) {
    clg_program *prog;
    const char *kernel;
    clg_status st = clg_kind_kernel(k, slot, &prog, &kernel);
    return st == CLG_OK ? clg_graph_add_task(g, name, prog, kernel, out) : st;
}

/* The arguments after the nine both product families share: with 8-bit activations, the
 * fused norm's weight and eps (when given) and then the __local token tile. */
static clg_status q8_args(clg_task *t, unsigned first, const llm_matmul *a) {
    clg_status st = CLG_OK;
    unsigned i = first;
    if (a->norm_w) {
        TRY(clg_task_arg_buffer(t, i++, a->norm_w, CLG_READ));
        TRY(clg_task_arg_float(t, i++, a->eps));
    }
    TRY(clg_task_arg_local(t, i, a->q8_tile));
fail:
    return st;
}

clg_status llm_op_matmul(clg_graph *g, const char *name, clg_kind *k, unsigned slot,
                         const llm_matmul *a, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(kind_task(g, name, k, slot, &t));
    TRY(clg_task_arg_buffer(t, MATMUL_W, a->w, CLG_READ));
    TRY(clg_task_arg_buffer(t, MATMUL_X, a->x, CLG_READ));
    TRY(clg_task_arg_buffer(t, MATMUL_Y, a->y, a->accumulate ? CLG_READ_WRITE : CLG_WRITE));
    TRY(clg_task_arg_int(t, MATMUL_ROWS, a->rows));
    TRY(clg_task_arg_int(t, MATMUL_COLS, a->cols));
    TRY(clg_task_arg_int(t, MATMUL_T, 1));
    TRY(clg_task_arg_int(t, MATMUL_X_STRIDE, a->cols));
    TRY(clg_task_arg_int(t, MATMUL_Y_STRIDE, a->y_stride ? a->y_stride : a->rows));
    TRY(clg_task_arg_int(t, MATMUL_ACC, a->accumulate));
    if (a->q8_tile) TRY(q8_args(t, MATMUL_NARGS, a));
    TRY(clg_kind_add_task(k, t, slot));
fail:
    *out = t;
    return st;
}

clg_status llm_op_ffn_swiglu(clg_graph *g, const char *name, clg_kind *k, unsigned slot,
                             const llm_matmul *a, clg_buffer *wu, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(kind_task(g, name, k, slot, &t));
    TRY(clg_task_arg_buffer(t, FFN_WG, a->w, CLG_READ));
    TRY(clg_task_arg_buffer(t, FFN_WU, wu, CLG_READ));
    TRY(clg_task_arg_buffer(t, FFN_X, a->x, CLG_READ));
    TRY(clg_task_arg_buffer(t, FFN_H, a->y, CLG_WRITE));
    TRY(clg_task_arg_int(t, FFN_ROWS, a->rows));
    TRY(clg_task_arg_int(t, FFN_COLS, a->cols));
    TRY(clg_task_arg_int(t, FFN_T, 1));
    TRY(clg_task_arg_int(t, FFN_X_STRIDE, a->cols));
    TRY(clg_task_arg_int(t, FFN_H_STRIDE, a->rows));
    if (a->q8_tile) TRY(q8_args(t, FFN_NARGS, a));
    TRY(clg_kind_add_task(k, t, slot));
fail:
    *out = t;
    return st;
}

clg_status llm_op_rmsnorm(clg_graph *g, const char *name, clg_kind *k, clg_buffer *x, clg_buffer *w,
                          clg_buffer *y, int n, float eps, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(kind_task(g, name, k, 0, &t));
    TRY(clg_task_arg_buffer(t, RMSNORM_X, x, CLG_READ));
    TRY(clg_task_arg_buffer(t, RMSNORM_W, w, CLG_READ));
    TRY(clg_task_arg_buffer(t, RMSNORM_Y, y, CLG_WRITE));
    TRY(clg_task_arg_int(t, RMSNORM_N, n));
    TRY(clg_task_arg_float(t, RMSNORM_EPS, eps));
    TRY(clg_task_arg_int(t, RMSNORM_T, 1));
    TRY(clg_kind_add_task(k, t, 0));
fail:
    *out = t;
    return st;
}

clg_status llm_op_embed(clg_graph *g, clg_program *prog, const char *ty, clg_buffer *w,
                        clg_buffer *tokens, clg_buffer *x, int cols, clg_task **out) {
    char kernel[48];
    snprintf(kernel, sizeof kernel, "embed_%s", ty);
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, "embed", prog, kernel, &t));
    TRY(clg_task_arg_buffer(t, EMBED_W, w, CLG_READ));
    TRY(clg_task_arg_buffer(t, EMBED_TOKENS, tokens, CLG_READ));
    TRY(clg_task_arg_buffer(t, EMBED_Y, x, CLG_WRITE));
    TRY(clg_task_arg_int(t, EMBED_COLS, cols));
    TRY(clg_task_arg_int(t, EMBED_T, 1));
fail:
    *out = t;
    return st;
}

clg_status llm_op_rope_kv(clg_graph *g, clg_program *prog, const llm_rope_kv *a, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, "rope_kv", prog, "rope_kv", &t));
    TRY(clg_task_arg_buffer(t, ROPE_QKV, a->qkv, CLG_READ_WRITE));
    TRY(clg_task_arg_buffer(t, ROPE_K_CACHE, a->k_cache,
                            CLG_READ_WRITE)); /* rows it does not write stay */
    TRY(clg_task_arg_buffer(t, ROPE_V_CACHE, a->v_cache, CLG_READ_WRITE));
    TRY(clg_task_arg_buffer(t, ROPE_POS, a->pos, CLG_READ));
    TRY(clg_task_arg_buffer(t, ROPE_SEQ, a->seq, CLG_READ));
    TRY(clg_task_arg_buffer(t, ROPE_INV_FREQ, a->inv_freq, CLG_READ));
    TRY(clg_task_arg_int(t, ROPE_T, 1));
    TRY(clg_task_arg_int(t, ROPE_ROW_STRIDE, a->row_stride));
    TRY(clg_task_arg_int(t, ROPE_N_HEAD, a->n_head));
    TRY(clg_task_arg_int(t, ROPE_N_HEAD_KV, a->n_head_kv));
    TRY(clg_task_arg_int(t, ROPE_HEAD_DIM, a->head_dim));
    TRY(clg_task_arg_int(t, ROPE_N_ROT, a->n_rot));
    TRY(clg_task_arg_int(t, ROPE_NEOX, a->neox));
    TRY(clg_task_arg_int(t, ROPE_CTX, a->ctx));
fail:
    *out = t;
    return st;
}

clg_status llm_op_attention(clg_graph *g, clg_kind *k, const llm_attention *a, clg_task **out,
                            clg_task **merge) {
    clg_status st;
    clg_task *t = NULL, *mt = NULL;
    TRY(kind_task(g, "attention", k, 0, &t));
    TRY(clg_task_arg_buffer(t, ATT_Q, a->q, CLG_READ));
    TRY(clg_task_arg_buffer(t, ATT_K_CACHE, a->k_cache, CLG_READ));
    TRY(clg_task_arg_buffer(t, ATT_V_CACHE, a->v_cache, CLG_READ));
    TRY(clg_task_arg_buffer(t, ATT_POS, a->pos, CLG_READ));
    TRY(clg_task_arg_buffer(t, ATT_SEQ, a->seq, CLG_READ));
    /* the split leaves out alone: the merge writes it */
    TRY(clg_task_arg_buffer(t, ATT_OUT, a->out, a->part ? CLG_READ : CLG_WRITE));
    TRY(clg_task_arg_int(t, ATT_T, 1));
    TRY(clg_task_arg_int(t, ATT_Q_STRIDE, a->q_stride));
    TRY(clg_task_arg_int(t, ATT_Q_OFF, a->q_off));
    TRY(clg_task_arg_int(t, ATT_OUT_STRIDE, a->out_stride));
    TRY(clg_task_arg_int(t, ATT_N_HEADS, a->n_heads));
    TRY(clg_task_arg_int(t, ATT_N_KV_HEADS, a->n_kv_heads));
    TRY(clg_task_arg_int(t, ATT_HEAD_DIM, a->head_dim));
    TRY(clg_task_arg_int(t, ATT_CTX, a->ctx));
    TRY(clg_task_arg_float(t, ATT_SCALE, a->scale));
    TRY(clg_task_arg_int(t, ATT_WINDOW, a->window));
    if (a->part) {
        TRY(clg_task_arg_buffer(t, ATT_PART, a->part, CLG_WRITE));
        TRY(clg_task_arg_int(t, ATT_N_SPLIT, a->n_split));
    }
    TRY(clg_kind_add_task(k, t, 0));
    if (a->part) { /* flash decoding: the partials of the position ranges merged */
        TRY(kind_task(g, "attn_merge", k, 1, &mt));
        TRY(clg_task_arg_buffer(mt, MERGE_PART, a->part, CLG_READ));
        TRY(clg_task_arg_buffer(mt, MERGE_OUT, a->out, CLG_WRITE));
        TRY(clg_task_arg_int(mt, MERGE_T, 1));
        TRY(clg_task_arg_int(mt, MERGE_OUT_STRIDE, a->out_stride));
        TRY(clg_task_arg_int(mt, MERGE_N_HEADS, a->n_heads));
        TRY(clg_task_arg_int(mt, MERGE_HEAD_DIM, a->head_dim));
        TRY(clg_task_arg_int(mt, MERGE_N_SPLIT, a->n_split));
        TRY(clg_kind_add_task(k, mt, 1));
    }
fail:
    *out = t;
    *merge = mt;
    return st;
}

clg_status llm_op_argmax(clg_graph *g, clg_program *prog, size_t wg, clg_buffer *x, int n,
                         clg_buffer *out, clg_task **t) {
    clg_status st;
    *t = NULL;
    TRY(clg_graph_add_task(g, "argmax", prog, "argmax", t));
    TRY(clg_task_arg_buffer(*t, ARGMAX_X, x, CLG_READ));
    TRY(clg_task_arg_int(*t, ARGMAX_N, n));
    TRY(clg_task_arg_buffer(*t, ARGMAX_OUT, out, CLG_WRITE));
    TRY(llm_op_argmax_rows(*t, wg, 1));
fail:
    return st;
}

clg_status llm_op_argmax_rows(clg_task *t, size_t wg, int rows) {
    size_t gl[2] = {wg, (size_t)rows}, l[2] = {wg, 1};
    return clg_task_set_range(t, 2, gl, l);
}

/* ---- fixed-layout row ops ---------------------------------------------------------- */

enum { ROW_LOCAL = 16, NORM_FIX_LOCAL = 32 }; /* NORM_FIX_LOCAL <= cl/norm.cl's NORM_FIX_MAX */

static size_t round_up(size_t n, size_t m) {
    return (n + m - 1) / m * m;
}

/* Range (items rounded up to local, T) with local (local, 1). */
static clg_status row_range(clg_task *t, size_t items, size_t local, int T) {
    size_t gl[2] = {round_up(items, local), (size_t)T}, l[2] = {local, 1};
    return clg_task_set_range(t, 2, gl, l);
}

clg_status llm_op_set_tokens(clg_task *t, unsigned t_arg, int T) {
    size_t gl[3], l[3];
    const unsigned dims = clg_task_range(t, gl, l);
    if (dims != 2 || T < 1)
        return clg_fail(CLG_ERR_INVALID_ARG, "task %s: %d tokens on a %u-dimensional range",
                        clg_task_name(t), T, dims);
    clg_status st = clg_task_arg_int(t, t_arg, T);
    if (st != CLG_OK) return st;
    gl[1] = (size_t)T;
    return clg_task_set_range(t, 2, gl, l[0] ? l : NULL);
}

/* The fixed-layout norms' work-group: NORM_FIX_LOCAL, or the kernel's limit when lower. */
static size_t norm_local(clg_task *t) {
    size_t l = NORM_FIX_LOCAL;
    const size_t max = clg_task_max_local(t);
    while (l > 1 && max && l > max)
        l /= 2;
    return l;
}

clg_status llm_op_rmsnorm_heads(clg_graph *g, const char *name, clg_program *prog, clg_buffer *x,
                                clg_buffer *w, int stride, int off, int n_heads, int head_dim,
                                float eps, int T, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, name, prog, "rmsnorm_heads", &t));
    TRY(clg_task_arg_buffer(t, RMSH_X, x, CLG_READ_WRITE));
    TRY(clg_task_arg_buffer(t, RMSH_W, w, CLG_READ));
    TRY(clg_task_arg_int(t, RMSH_STRIDE, stride));
    TRY(clg_task_arg_int(t, RMSH_OFF, off));
    TRY(clg_task_arg_int(t, RMSH_N_HEADS, n_heads));
    TRY(clg_task_arg_int(t, RMSH_HEAD_DIM, head_dim));
    TRY(clg_task_arg_float(t, RMSH_EPS, eps));
    TRY(clg_task_arg_int(t, RMSH_T, T));
    const size_t l = norm_local(t);
    TRY(row_range(t, (size_t)n_heads * l, l, T));
fail:
    *out = t;
    return st;
}

clg_status llm_op_rmsnorm_add(clg_graph *g, const char *name, clg_program *prog, clg_buffer *y,
                              clg_buffer *w, clg_buffer *x, int n, float eps, int T,
                              clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, name, prog, "rmsnorm_add", &t));
    TRY(clg_task_arg_buffer(t, RMSADD_Y, y, CLG_READ));
    TRY(clg_task_arg_buffer(t, RMSADD_W, w, CLG_READ));
    TRY(clg_task_arg_buffer(t, RMSADD_X, x, CLG_READ_WRITE));
    TRY(clg_task_arg_int(t, RMSADD_N, n));
    TRY(clg_task_arg_float(t, RMSADD_EPS, eps));
    TRY(clg_task_arg_int(t, RMSADD_T, T));
    const size_t l = norm_local(t);
    TRY(row_range(t, l, l, T));
fail:
    *out = t;
    return st;
}

clg_status llm_op_add_bias(clg_graph *g, const char *name, clg_program *prog, clg_buffer *y,
                           clg_buffer *b, int stride, int off, int n, int T, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, name, prog, "add_bias", &t));
    TRY(clg_task_arg_buffer(t, BIAS_Y, y, CLG_READ_WRITE));
    TRY(clg_task_arg_buffer(t, BIAS_B, b, CLG_READ));
    TRY(clg_task_arg_int(t, BIAS_STRIDE, stride));
    TRY(clg_task_arg_int(t, BIAS_OFF, off));
    TRY(clg_task_arg_int(t, BIAS_N, n));
    TRY(clg_task_arg_int(t, BIAS_T, T));
    TRY(row_range(t, (size_t)n, ROW_LOCAL, T));
fail:
    *out = t;
    return st;
}

clg_status llm_op_scale(clg_graph *g, const char *name, clg_program *prog, clg_buffer *x, float s,
                        int n, int T, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, name, prog, "scale_rows", &t));
    TRY(clg_task_arg_buffer(t, SCALE_X, x, CLG_READ_WRITE));
    TRY(clg_task_arg_float(t, SCALE_S, s));
    TRY(clg_task_arg_int(t, SCALE_N, n));
    TRY(clg_task_arg_int(t, SCALE_T, T));
    TRY(row_range(t, (size_t)n, ROW_LOCAL, T));
fail:
    *out = t;
    return st;
}

clg_status llm_op_copy_cols(clg_graph *g, const char *name, clg_program *prog, clg_buffer *src,
                            int src_stride, clg_buffer *dst, int dst_stride, int dst_off, int n,
                            int T, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, name, prog, "copy_cols", &t));
    TRY(clg_task_arg_buffer(t, COLS_SRC, src, CLG_READ));
    /* the other columns of dst stay: read-write */
    TRY(clg_task_arg_buffer(t, COLS_DST, dst, CLG_READ_WRITE));
    TRY(clg_task_arg_int(t, COLS_SRC_STRIDE, src_stride));
    TRY(clg_task_arg_int(t, COLS_DST_STRIDE, dst_stride));
    TRY(clg_task_arg_int(t, COLS_DST_OFF, dst_off));
    TRY(clg_task_arg_int(t, COLS_N, n));
    TRY(clg_task_arg_int(t, COLS_T, T));
    TRY(row_range(t, (size_t)n, ROW_LOCAL, T));
fail:
    *out = t;
    return st;
}

clg_status llm_op_glu(clg_graph *g, const char *name, clg_program *prog, clg_buffer *gate,
                      clg_buffer *up, clg_buffer *h, int n, int T, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, name, prog, "glu_split", &t));
    /* h may be gate or up: that buffer is then read and written */
    TRY(clg_task_arg_buffer(t, GLU_G, gate, h == gate ? CLG_READ_WRITE : CLG_READ));
    TRY(clg_task_arg_buffer(t, GLU_U, up, h == up ? CLG_READ_WRITE : CLG_READ));
    TRY(clg_task_arg_buffer(t, GLU_H, h, h == gate || h == up ? CLG_READ_WRITE : CLG_WRITE));
    TRY(clg_task_arg_int(t, GLU_N, n));
    TRY(clg_task_arg_int(t, GLU_T, T));
    TRY(row_range(t, (size_t)n, ROW_LOCAL, T));
fail:
    *out = t;
    return st;
}

clg_status llm_op_gather_rows(clg_graph *g, const char *name, clg_program *prog, clg_buffer *src,
                              clg_buffer *rows, clg_buffer *dst, int n, int T, clg_task **out) {
    clg_status st;
    clg_task *t = NULL;
    TRY(clg_graph_add_task(g, name, prog, "gather_rows", &t));
    TRY(clg_task_arg_buffer(t, GATHER_SRC, src, CLG_READ));
    TRY(clg_task_arg_buffer(t, GATHER_ROWS, rows, CLG_READ));
    TRY(clg_task_arg_buffer(t, GATHER_DST, dst, CLG_WRITE));
    TRY(clg_task_arg_int(t, GATHER_N, n));
    TRY(clg_task_arg_int(t, GATHER_T, T));
    TRY(row_range(t, (size_t)n, ROW_LOCAL, T));
fail:
    *out = t;
    return st;
}
