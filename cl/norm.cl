/* RMSNorm with a weight: y[t, i] = x[t, i] / sqrt(mean_i(x[t, :]^2) + eps) * w[i].
 *
 * Layouts (f32, row-major):
 *   x: [T, n]   input rows
 *   w: [n]      per-column weight (the GGUF *_norm.weight, stored as F32)
 *   y: [T, n]   output; may be the same buffer as x (each element is read by the
 *               work-item that writes it, after the row's sum is complete)
 *
 * Variants (same arguments: x, w, y, int n, float eps, int T):
 *   rmsnorm_wg   one work-group of NORM_WG items per row; each item sums the squares
 *                of a strided slice, then a local-memory tree adds the partial sums.
 *                global = (T * NORM_WG), local = (NORM_WG).            (GPU pattern)
 *   rmsnorm_row  one work-item per row walking it contiguously.
 *                global = (T) or T rounded up (extra items exit), local = NULL. (CPU)
 *
 * Fixed-layout kernels (not variants: the planner does not choose them). Their work-group
 * is any power of two <= NORM_FIX_MAX items (the op library takes 32, which every device
 * runs; llvmpipe's limit for kernels with barriers is 32), read from get_local_size(0):
 *   rmsnorm_heads(x, w, int stride, int off, int n_heads, int head_dim, float eps, int T):
 *       in place over heads (Qwen3's and Gemma 3's Q and K norms on the qkv rows): for
 *       t < T and h < n_heads, with v = x[t*stride + off + h*head_dim ..][0 .. head_dim),
 *       v = v / sqrt(mean(v^2) + eps) * w, w: [head_dim] shared by the heads.
 *       x: [T, stride]; the heads of a row must not overlap. One work-group per (h, t):
 *       global = (n_heads * L, T), local = (L, 1).
 *   rmsnorm_add(y, w, x, int n, float eps, int T): x[t] += y[t] / rms(y[t]) * w, y and x
 *       [T, n] distinct buffers, w [n] (Gemma 3's post-attention and post-FFN norms, then
 *       the residual add). One work-group per row: global = (L, T), local = (L, 1).
 *
 * Tunables:
 *   NORM_WG       work-group size of rmsnorm_wg, a power of two (default 64).
 *   NORM_FIX_MAX  largest work-group of the fixed-layout kernels (local memory), a power
 *                 of two (default 256).
 *
 * Declared for the planner (clg_program_variants; first values are the untuned defaults):
 * @variant row kernels=rmsnorm_row local=1 device=cpu
 * @variant wg kernels=rmsnorm_wg sweep=NORM_WG:64,32,128,256 local=NORM_WG device=gpu
 */
#ifndef NORM_WG
#define NORM_WG 64
#endif

#if (NORM_WG & (NORM_WG - 1)) != 0 || NORM_WG < 1
#error "NORM_WG must be a power of two"
#endif
#ifndef NORM_FIX_MAX
#define NORM_FIX_MAX 256
#endif
#if (NORM_FIX_MAX & (NORM_FIX_MAX - 1)) != 0 || NORM_FIX_MAX < 1
#error "NORM_FIX_MAX must be a power of two"
#endif

__kernel void rmsnorm_wg(__global const float *x, __global const float *w, __global float *y, int n,
                         float eps, int T) {
    __local float part[NORM_WG];
    const int t = (int)get_group_id(0);
    const int l = (int)get_local_id(0);
    /* A group past T does no work but still meets every barrier: PoCL 3.1 mishandles a
     * return before a barrier even when it is uniform over the group (it crashed with
     * NORM_WG 128 on an AVX-512 host). */
    const int nn = t < T ? n : 0;
    __global const float *xr = x + (size_t)t * (size_t)n;
    __global float *yr = y + (size_t)t * (size_t)n;

    float s = 0.0f;
    for (int i = l; i < nn; i += NORM_WG)
        s += xr[i] * xr[i];
    part[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = NORM_WG / 2; off > 0; off >>= 1) {
        if (l < off) part[l] += part[l + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = 1.0f / sqrt(part[0] / (float)n + eps);
    for (int i = l; i < nn; i += NORM_WG)
        yr[i] = xr[i] * inv * w[i];
}

__kernel void rmsnorm_row(__global const float *x, __global const float *w, __global float *y,
                          int n, float eps, int T) {
    const int t = (int)get_global_id(0);
    if (t >= T) return;
    __global const float *xr = x + (size_t)t * (size_t)n;
    __global float *yr = y + (size_t)t * (size_t)n;

    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += xr[i] * xr[i];
    const float inv = 1.0f / sqrt(s / (float)n + eps);
    for (int i = 0; i < n; i++)
        yr[i] = xr[i] * inv * w[i];
}

/* ---- fixed-layout kernels --------------------------------------------------------- */

/* 1 / sqrt(mean(v[0 .. n)^2) + eps) over the work-group (a power of two <= NORM_FIX_MAX
 * items; every item gets it). Every item of the group must call it (barriers); an item
 * with nothing to do passes n = 0 and gets a value it ignores. part: [NORM_FIX_MAX]. */
static float group_inv_rms(__global const float *v, int n, int n_mean, float eps,
                           __local float *part) {
    const int l = (int)get_local_id(0), wg = (int)get_local_size(0);
    float s = 0.0f;
    for (int i = l; i < n; i += wg)
        s += v[i] * v[i];
    part[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = wg / 2; off > 0; off >>= 1) {
        if (l < off) part[l] += part[l + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = 1.0f / sqrt(part[0] / (float)n_mean + eps);
    barrier(CLK_LOCAL_MEM_FENCE); /* part is reused by the caller's next call */
    return inv;
}

__kernel void rmsnorm_heads(__global float *x, __global const float *w, int stride, int off,
                            int n_heads, int head_dim, float eps, int T) {
    __local float part[NORM_FIX_MAX];
    const int h = (int)get_group_id(0), t = (int)get_global_id(1);
    const int l = (int)get_local_id(0), wg = (int)get_local_size(0);
    /* groups past the heads or tokens meet the barriers with no work (see rmsnorm_wg) */
    const int n = h < n_heads && t < T ? head_dim : 0;
    __global float *v = x + (size_t)(t < T ? t : 0) * (size_t)stride + off + (h < n_heads ? h : 0) * head_dim;
    const float inv = group_inv_rms(v, n, head_dim, eps, part);
    for (int i = l; i < n; i += wg)
        v[i] = v[i] * inv * w[i];
}

__kernel void rmsnorm_add(__global const float *y, __global const float *w, __global float *x,
                          int n, float eps, int T) {
    __local float part[NORM_FIX_MAX];
    const int t = (int)get_global_id(1);
    const int l = (int)get_local_id(0), wg = (int)get_local_size(0);
    const int nn = t < T && get_group_id(0) == 0 ? n : 0; /* extra groups would add twice */
    const size_t row = (size_t)(t < T ? t : 0) * (size_t)n;
    const float inv = group_inv_rms(y + row, nn, n, eps, part);
    for (int i = l; i < nn; i += wg)
        x[row + i] += y[row + i] * inv * w[i];
}
