/* C references for RMSNorm, RoPE, the KV-cache store, causal GQA attention (full
 * softmax, not online) and argmax, in double (see ref_ops.h and the kernels in cl/). */
#include "ref_ops.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

void ref_rmsnorm(const float *x, const float *w, float *y, int n, float eps, int T) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double)xr[i] * xr[i];
        const double inv = 1.0 / sqrt(ss / n + (double)eps);
        for (int i = 0; i < n; i++)
            y[(size_t)t * n + i] = (float)(xr[i] * inv * w[i]);
    }
}

void ref_rope(float *x, const int *pos, int T, int row_stride, int col_off, int n_heads,
              int head_dim, int n_rot, float freq_base, float freq_scale, int neox,
              const float *factors) {
    const int half = n_rot / 2;
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < n_heads; h++) {
            float *head = x + (size_t)t * row_stride + col_off + (size_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                const double theta = (double)pos[t] * freq_scale *
                                     pow((double)freq_base, -2.0 * i / (double)n_rot) /
                                     (factors ? (double)factors[i] : 1.0);
                const double c = cos(theta), s = sin(theta);
                const int ia = neox ? i : 2 * i;
                const int ib = neox ? i + half : 2 * i + 1;
                const double a = head[ia], b = head[ib];
                head[ia] = (float)(a * c - b * s);
                head[ib] = (float)(a * s + b * c);
            }
        }
    }
}

void ref_kv_store(const float *qkv, float *k_cache, float *v_cache, const int *pos, const int *seq,
                  int T, int row_stride, int k_off, int v_off, int n_kv_heads, int head_dim,
                  int ctx_len) {
    for (int t = 0; t < T; t++) {
        if (pos[t] < 0 || pos[t] >= ctx_len) continue;
        const size_t region = (size_t)(seq ? seq[t] : 0) * n_kv_heads; /* its first head */
        for (int h = 0; h < n_kv_heads; h++) {
            const float *row = qkv + (size_t)t * row_stride + (size_t)h * head_dim;
            const size_t dst = ((region + (size_t)h) * ctx_len + (size_t)pos[t]) * head_dim;
            for (int d = 0; d < head_dim; d++) {
                k_cache[dst + d] = row[k_off + d];
                v_cache[dst + d] = row[v_off + d];
            }
        }
    }
}

clg_status ref_attention(const float *q, const float *k_cache, const float *v_cache, const int *pos,
                         const int *seq, float *out, int T, int q_stride, int q_off, int out_stride,
                         int n_heads, int n_kv_heads, int head_dim, int ctx_len, float scale,
                         int window) {
    const int group = n_heads / n_kv_heads;
    double *score = malloc((size_t)ctx_len * sizeof *score); /* [ctx_len] */
    double *acc = malloc((size_t)head_dim * sizeof *acc);    /* [head_dim] */
    if (!score || !acc) {
        free(score);
        free(acc);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "ref_attention: %d scores", ctx_len);
    }
    for (int t = 0; t < T; t++) {
        const int p = pos[t] < 0 ? 0 : pos[t] >= ctx_len ? ctx_len - 1 : pos[t];
        /* the sliding window masks p' with p - p' >= window, as llama.cpp's
         * LLAMA_SWA_TYPE_STANDARD; it is written as that mask, not as the kernels' range */
        int lo = 0;
        while (window > 0 && p - lo >= window)
            lo++;
        for (int h = 0; h < n_heads; h++) {
            const float *qh = q + (size_t)t * q_stride + q_off + (size_t)h * head_dim;
            const size_t base = ((size_t)(seq ? seq[t] : 0) * n_kv_heads + (size_t)(h / group)) *
                                ctx_len * head_dim;
            double mx = -INFINITY;
            for (int j = lo; j <= p; j++) {
                double s = 0;
                for (int d = 0; d < head_dim; d++)
                    s += (double)qh[d] * k_cache[base + (size_t)j * head_dim + d];
                score[j] = s * scale;
                if (score[j] > mx) mx = score[j];
            }
            double sum = 0;
            for (int j = lo; j <= p; j++)
                sum += exp(score[j] - mx);
            for (int d = 0; d < head_dim; d++)
                acc[d] = 0;
            for (int j = lo; j <= p; j++) {
                const double wj = exp(score[j] - mx) / sum;
                for (int d = 0; d < head_dim; d++)
                    acc[d] += wj * v_cache[base + (size_t)j * head_dim + d];
            }
            float *o = out + (size_t)t * out_stride + (size_t)h * head_dim;
            for (int d = 0; d < head_dim; d++)
                o[d] = (float)acc[d];
        }
    }
    free(score);
    free(acc);
    return CLG_OK;
}

int ref_argmax(const float *x, int n) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) return -1;
        if (best < 0 || x[i] > x[best]) best = i;
    }
    return best < 0 ? 0 : best;
}
