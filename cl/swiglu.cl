/* SwiGLU of a stacked gate|up product, for the FFN done by a BLAS library (the
 * prefill's library GEMM path; cl/matmul.cl's ffn_swiglu fuses it into the product).
 *
 * Layouts: gu: [T, 2 n] f32, row t = gate (n values) then up (n values);
 *          h:  [T, h_stride] f32, h[t, i] = silu(gu[t, i]) * gu[t, n + i] for i < n,
 *          silu(g) = g / (1 + exp(-g)).
 * Kernel: swiglu(gu, h, n, T, h_stride); global = (n rounded up to the local size, T),
 *         local any.
 */
__kernel void swiglu(__global const float *gu, __global float *h, int n, int T, int h_stride) {
    const int i = get_global_id(0), t = get_global_id(1);
    if (i >= n || t >= T) return;
    __global const float *row = gu + (size_t)t * 2 * (size_t)n;
    const float g = row[i];
    h[(size_t)t * h_stride + i] = g / (1.0f + exp(-g)) * row[n + i];
}
