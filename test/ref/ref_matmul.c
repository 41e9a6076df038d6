/* C references of the weight-product kernels (cl/matmul.cl: products, embedding lookup):
 * weights dequantized with llm_dequantize, products summed in double. */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>

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

clg_status ref_ffn_swiglu(int dtype, const void *Wg, const void *Wu, const float *x, float *h,
                          float *mag, int rows, int cols, int T, int x_stride, int h_stride) {
    float *wg = NULL, *wu = NULL;
    clg_status st = dequant_matrix(dtype, Wg, rows, cols, &wg);
    if (st == CLG_OK) st = dequant_matrix(dtype, Wu, rows, cols, &wu);
    if (st != CLG_OK) goto fail;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double g, u, mg, mu;
            row_dot(wg + (size_t)r * cols, x + (size_t)t * x_stride, cols, &g, &mg);
            row_dot(wu + (size_t)r * cols, x + (size_t)t * x_stride, cols, &u, &mu);
            double sg = g / (1.0 + exp(-g));
            double v = sg * u;
            h[(size_t)t * h_stride + r] = (float)v;
            /* dh = silu'(g) u dg + silu(g) du with |silu'| < 1.1, plus the
             * rounding of silu and of the product themselves (|h|). */
            if (mag)
                mag[(size_t)t * h_stride + r] =
                    (float)(1.1 * fabs(u) * mg + fabs(sg) * mu + fabs(v));
        }
fail:
    free(wg);
    free(wu);
    return st;
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
