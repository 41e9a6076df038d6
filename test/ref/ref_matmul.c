/* C references of the weight-product kernels (cl/matmul.cl: products, embedding lookup):
 * weights dequantized with llm_dequantize, products summed in double. */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>

#include "test_common.h"

/* Dequantized [rows, cols] copy of W; *out malloc'ed, the caller frees it. */
static clg_status dequant_matrix(int dtype, const void *W, int rows, int cols, float **out) {
    *out = NULL;
    size_t n = (size_t)rows * (size_t)cols;
    float *w = malloc((n ? n : 1) * sizeof *w);
    if (!w) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "ref: %zu floats for a dequantized weight", n);
    clg_status st = llm_dequantize(dtype, W, w, n);
    if (st != CLG_OK) {
        free(w);
        return st;
    }
    *out = w;
    return CLG_OK;
}

/* dot = w_r . x_t and mag = sum |w||x|, in double. */
static void row_dot(const float *w, const float *x, int cols, double *dot, double *mag) {
    double s = 0, m = 0;
    for (int k = 0; k < cols; k++) {
        s += (double)w[k] * (double)x[k];
        m += fabs((double)w[k] * (double)x[k]);
    }
    *dot = s;
    *mag = m;
}

clg_status ref_matmul(int dtype, const void *W, const float *x, float *y, float *mag, int rows,
                      int cols, int T, int x_stride, int y_stride, int accumulate) {
    float *w = NULL;
    clg_status st = dequant_matrix(dtype, W, rows, cols, &w);
    if (st != CLG_OK) return st;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double s, m;
            row_dot(w + (size_t)r * cols, x + (size_t)t * x_stride, cols, &s, &m);
            float *o = y + (size_t)t * y_stride + r;
            if (accumulate) {
                m += fabs((double)*o);
                s += (double)*o;
            }
            *o = (float)s;
            if (mag) mag[(size_t)t * y_stride + r] = (float)m;
        }
    free(w);
    return CLG_OK;
}

/* gelu_tanh as ggml_gelu and its derivative's bound (|gelu'| < 1.13). */
static double gelu_tanh(double g) {
    return 0.5 * g * (1.0 + tanh(0.79788456080286535588 * g * (1.0 + 0.044715 * g * g)));
}

clg_status ref_ffn_gated(int dtype, const void *Wg, const void *Wu, const float *x, float *h,
                         float *mag, int rows, int cols, int T, int x_stride, int h_stride,
                         int gelu) {
    float *wg = NULL, *wu = NULL;
    clg_status st = dequant_matrix(dtype, Wg, rows, cols, &wg);
    if (st == CLG_OK) st = dequant_matrix(dtype, Wu, rows, cols, &wu);
    if (st != CLG_OK) goto fail;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double g, u, mg, mu;
            row_dot(wg + (size_t)r * cols, x + (size_t)t * x_stride, cols, &g, &mg);
            row_dot(wu + (size_t)r * cols, x + (size_t)t * x_stride, cols, &u, &mu);
            double sg = gelu ? gelu_tanh(g) : g / (1.0 + exp(-g));
            double v = sg * u;
            h[(size_t)t * h_stride + r] = (float)v;
            /* dh = act'(g) u dg + act(g) du with |silu'| < 1.1, |gelu'| < 1.13, plus the
             * rounding of the activation and of the product themselves (|h|). */
            if (mag)
                mag[(size_t)t * h_stride + r] =
                    (float)(1.13 * fabs(u) * mg + fabs(sg) * mu + fabs(v));
        }
fail:
    free(wg);
    free(wu);
    return st;
}

clg_status ref_ffn_swiglu(int dtype, const void *Wg, const void *Wu, const float *x, float *h,
                          float *mag, int rows, int cols, int T, int x_stride, int h_stride) {
    return ref_ffn_gated(dtype, Wg, Wu, x, h, mag, rows, cols, T, x_stride, h_stride, 0);
}

clg_status ref_embed(int dtype, const void *W, int n_vocab, const int *tokens, float *y, int cols,
                     int T) {
    size_t row_bytes = llm_dtype_row_bytes(dtype, (uint64_t)cols);
    if (row_bytes == 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "ref_embed: %d columns do not fit type %d", cols,
                        dtype);
    for (int t = 0; t < T; t++) {
        if (tokens[t] < 0 || tokens[t] >= n_vocab)
            return clg_fail(CLG_ERR_INVALID_ARG, "ref_embed: token %d of %d is %d, not in [0, %d)",
                            t, T, tokens[t], n_vocab);
        clg_status st =
            llm_dequantize(dtype, (const unsigned char *)W + (size_t)tokens[t] * row_bytes,
                           y + (size_t)t * cols, (size_t)cols);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* An f16 scale of magnitude in [lo, hi], either sign when sign is set. */
static void put_scale(unsigned char *p, float lo, float hi, int sign) {
    float v = tc_randf(lo, hi);
    if (sign && (tc_randu() & 1)) v = -v;
    uint16_t h = llm_f32_to_f16(v);
    p[0] = (unsigned char)h;
    p[1] = (unsigned char)(h >> 8);
}

clg_status ref_random_weights(int dtype, void *dst, size_t n, float scale) {
    unsigned char *b = dst;
    size_t bb = llm_dtype_block_bytes(dtype), be = llm_dtype_block_elems(dtype);
    if (dtype != LLM_DTYPE_Q4_K && dtype != LLM_DTYPE_Q5_K && dtype != LLM_DTYPE_Q6_K) {
        float *f = malloc((n ? n : 1) * sizeof *f);
        if (!f) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "ref: %zu floats of random weights", n);
        tc_fill(f, n, -scale, scale);
        clg_status st = llm_quantize(dtype, f, dst, n);
        free(f);
        return st;
    }
    if (!be || n % be)
        return clg_fail(CLG_ERR_INVALID_ARG, "ref_random_weights: %zu is not whole blocks", n);
    for (size_t i = 0; i < n / be * bb; i++)
        b[i] = (unsigned char)(tc_randu() & 0xff);
    for (size_t i = 0; i < n / be; i++, b += bb) {
        if (dtype == LLM_DTYPE_Q6_K) { /* |sc| <= 128, |q - 32| <= 32 */
            put_scale(b + 208, 0.1f * scale / 4096, scale / 4096, 1);
        } else { /* sc, m <= 63; q <= 15 (q4_k) or 31 (q5_k) */
            float top = scale / (dtype == LLM_DTYPE_Q4_K ? 63 * 15 : 63 * 31);
            put_scale(b, 0.1f * top, top, 1);
            put_scale(b + 2, 0.0f, 0.5f * scale / 63, 0);
        }
    }
    return CLG_OK;
}
