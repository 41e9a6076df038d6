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
 * Tunables:
 *   NORM_WG  work-group size of rmsnorm_wg, a power of two (default 64).
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
