/* C references for the fixed-layout row ops: the per-head and add-into RMSNorms
 * (cl/norm.cl), bias, scale and column copy (cl/rows.cl) and the gated activation of
 * separate gate and up products (cl/glu.cl); see ref_ops.h. */
#include <math.h>
#include <stddef.h>

#include "ref_ops.h"

void ref_rmsnorm_heads(float *x, const float *w, int stride, int off, int n_heads, int head_dim,
                       float eps, int T) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * stride + off + (size_t)h * head_dim;
            double ss = 0;
            for (int i = 0; i < head_dim; i++)
                ss += (double)v[i] * v[i];
            const double inv = 1.0 / sqrt(ss / head_dim + (double)eps);
            for (int i = 0; i < head_dim; i++)
                v[i] = (float)(v[i] * inv * w[i]);
        }
}

void ref_rmsnorm_add(const float *y, const float *w, float *x, int n, float eps, int T) {
    for (int t = 0; t < T; t++) {
        const float *yr = y + (size_t)t * n;
        float *xr = x + (size_t)t * n;
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double)yr[i] * yr[i];
        const double inv = 1.0 / sqrt(ss / n + (double)eps);
        for (int i = 0; i < n; i++)
            xr[i] = (float)(xr[i] + yr[i] * inv * w[i]);
    }
}

void ref_add_bias(float *y, const float *b, int stride, int off, int n, int T) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++)
            y[(size_t)t * stride + off + i] += b[i];
}

void ref_scale(float *x, float s, size_t count) {
    for (size_t i = 0; i < count; i++)
        x[i] *= s;
}

void ref_copy_cols(const float *src, int src_stride, float *dst, int dst_stride, int dst_off, int n,
                   int T) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++)
            dst[(size_t)t * dst_stride + dst_off + i] = src[(size_t)t * src_stride + i];
}

void ref_glu(const float *g, const float *u, float *h, size_t count, int gelu) {
    const double k = sqrt(2.0 / 3.14159265358979323846);
    for (size_t i = 0; i < count; i++) {
        const double x = g[i];
        const double a =
            gelu ? 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x))) : x / (1.0 + exp(-x));
        h[i] = (float)(a * u[i]);
    }
}
