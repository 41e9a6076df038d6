/* C references for the op tests (test/ops): each computes what a kernel of
 * cl/ computes, plainly and in double where it matters, from host data. */
#ifndef CLGRAPH_REF_OPS_H
#define CLGRAPH_REF_OPS_H

#include "clgraph/gguf.h"

/* ---- weight products (ref_matmul.c; kernels in cl/matmul.cl) ----
 * W: [rows, cols] in ggml block form of dtype (llm_dtype), dequantized with
 * llm_dequantize; sums in double. x: [T, x_stride]; y / h: [T, y_stride]
 * in/out, only the first rows of each token row are written. mag (optional,
 * NULL to skip): [T, y_stride], set to the error scale of each written output
 * (sum |w||x|, plus |residual| when accumulating; for SwiGLU the first-order
 * propagation of both sums), untouched elsewhere. Fail with the status of
 * llm_dequantize or CLG_ERR_OUT_OF_MEMORY. */
clg_status ref_matmul(int dtype, const void *W, const float *x, float *y, float *mag, int rows,
                      int cols, int T, int x_stride, int y_stride, int accumulate);
clg_status ref_ffn_swiglu(int dtype, const void *Wg, const void *Wu, const float *x, float *h,
                          float *mag, int rows, int cols, int T, int x_stride, int h_stride);
/* The gated product with act = silu (gelu = 0: ref_ffn_swiglu) or ggml's gelu_tanh (gelu = 1,
 * the kernels' FFN_GELU option): h = act(Wg x) * (Wu x). */
clg_status ref_ffn_gated(int dtype, const void *Wg, const void *Wu, const float *x, float *h,
                         float *mag, int rows, int cols, int T, int x_stride, int h_stride,
                         int gelu);
/* n random weights of dtype (n a multiple of its block) into dst, magnitudes up to about
 * scale: uniform floats in [-scale, scale] quantized with llm_quantize where it has a
 * quantizer; for the K-quants random blocks: every quant, scale and min byte random, the f16
 * super-block scales random (either sign for d) and small enough that |w| <= about scale.
 * Uses the test's random stream (tc_fill, tc_randu). */
clg_status ref_random_weights(int dtype, void *dst, size_t n, float scale);
/* y[t, :] = dequant(W[tokens[t], :]); y: [T, cols]. CLG_ERR_INVALID_ARG for a
 * token outside [0, n_vocab). */
clg_status ref_embed(int dtype, const void *W, int n_vocab, const int *tokens, float *y, int cols,
                     int T);

/* ---- norm, rope, KV cache, attention, argmax (ref_attn.c; kernels cl/norm.cl,
 * cl/rope.cl, cl/kv.cl, cl/attention.cl, cl/argmax.cl). Layouts as in the
 * kernels; all arithmetic in double. ---- */
/* y: [T, n] = x / sqrt(mean(x^2) + eps) * w, per row. */
void ref_rmsnorm(const float *x, const float *w, float *y, int n, float eps, int T);
/* In place on x: [T, row_stride], heads at col_off + h*head_dim (see cl/rope.cl);
 * factors: [n_rot/2] divisors of theta, or NULL for none. */
void ref_rope(float *x, const int *pos, int T, int row_stride, int col_off, int n_heads,
              int head_dim, int n_rot, float freq_base, float freq_scale, int neox,
              const float *factors);
/* k_cache / v_cache: [n_seq, n_kv_heads, ctx_len, head_dim], one region per sequence; token
 * t's rows at pos[t] of region seq[t] overwritten (seq NULL: every token in region 0). */
void ref_kv_store(const float *qkv, float *k_cache, float *v_cache, const int *pos, const int *seq,
                  int T, int row_stride, int k_off, int v_off, int n_kv_heads, int head_dim,
                  int ctx_len);
/* Causal GQA over positions 0..pos[t] (clamped to the cache) of region seq[t] of the caches
 * (layout as ref_kv_store's; seq NULL: region 0), full two-pass softmax; window > 0 masks
 * positions p' with pos[t] - p' >= window (sliding window), 0 none. out: [T, out_stride].
 * CLG_ERR_OUT_OF_MEMORY if its scratch cannot be allocated. */
clg_status ref_attention(const float *q, const float *k_cache, const float *v_cache, const int *pos,
                         const int *seq, float *out, int T, int q_stride, int q_off, int out_stride,
                         int n_heads, int n_kv_heads, int head_dim, int ctx_len, float scale,
                         int window);
/* Lowest index of the maximum of x[0..n); -1 when any entry is NaN or infinite; 0 when n <= 0. */
int ref_argmax(const float *x, int n);

/* ---- fixed-layout row ops (ref_rows.c; kernels cl/norm.cl, cl/rows.cl, cl/glu.cl) ---- */
/* In place on x: [T, stride]: each head of head_dim at off + h*head_dim, h < n_heads, =
 * head / sqrt(mean(head^2) + eps) * w[head_dim]; in double. */
void ref_rmsnorm_heads(float *x, const float *w, int stride, int off, int n_heads, int head_dim,
                       float eps, int T);
/* x[T, n] += y / sqrt(mean(y^2) + eps) * w per row; in double. */
void ref_rmsnorm_add(const float *y, const float *w, float *x, int n, float eps, int T);
/* y[t*stride + off + i] += b[i], i < n (in float, as the kernel). */
void ref_add_bias(float *y, const float *b, int stride, int off, int n, int T);
/* x[i] *= s, i < count (in float). */
void ref_scale(float *x, float s, size_t count);
/* dst[t*dst_stride + dst_off + i] = src[t*src_stride + i], i < n. */
void ref_copy_cols(const float *src, int src_stride, float *dst, int dst_stride, int dst_off, int n,
                   int T);
/* h[i] = act(g[i]) * u[i], i < count; act SiLU, or GELU's tanh form when gelu; in double. */
void ref_glu(const float *g, const float *u, float *h, size_t count, int gelu);

#endif
