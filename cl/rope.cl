/* Rotary position embedding (RoPE), in place, on the heads of a row-major activation.
 *
 * Layouts (f32):
 *   x:   [T, row_stride]  head h of token t occupies x[t*row_stride + col_off + h*head_dim
 *                         + (0 .. head_dim-1)], for h < n_heads (so Q and K of a fused QKV
 *                         row are two launches with different col_off / n_heads)
 *   pos: [T] int          position of each token
 *   freq_factors: [n_rot/2] f32  per-pair divisors of theta (Llama 3.1 rope_freqs.weight;
 *                         all 1 for models without it)
 *
 * For pair i < n_rot/2: theta_i = pos[t] * freq_scale * freq_base^(-2i/n_rot) / freq_factors[i], and
 *   (a, b) -> (a cos theta_i - b sin theta_i, a sin theta_i + b cos theta_i)
 * where (a, b) = (x[2i], x[2i+1])          for neox = 0 (llama.cpp LLAMA_ROPE_TYPE_NORM,
 *                                              general.architecture = llama)
 *              = (x[i], x[i + n_rot/2])     for neox != 0 (LLAMA_ROPE_TYPE_NEOX).
 * Dimensions >= n_rot of each head are left unchanged. n_rot must be even.
 *
 * Variant:
 *   rope  one work-item per (pair i, head h, token t):
 *         global = (n_rot/2, n_heads, T) (any dimension may be rounded up: extra items
 *         exit), local = NULL.
 */

__kernel void rope(__global float *x, __global const int *pos, int T, int row_stride, int col_off,
                   int n_heads, int head_dim, int n_rot, float freq_base, float freq_scale,
                   int neox, __global const float *freq_factors) {
    const int i = (int)get_global_id(0);
    const int h = (int)get_global_id(1);
    const int t = (int)get_global_id(2);
    const int half_rot = n_rot / 2;
    if (i >= half_rot || h >= n_heads || t >= T) return;

    const float inv_freq = pow(freq_base, -2.0f * (float)i / (float)n_rot);
    const float theta = (float)pos[t] * freq_scale * inv_freq / freq_factors[i];
    float c;
    const float s = sincos(theta, &c);

    __global float *head = x + (size_t)t * (size_t)row_stride + col_off + h * head_dim;
    const int ia = neox ? i : 2 * i;
    const int ib = neox ? i + half_rot : 2 * i + 1;
    const float a = head[ia];
    const float b = head[ib];
    head[ia] = a * c - b * s;
    head[ib] = a * s + b * c;
}
