/* SwiGLU of a stacked gate|up product, for the FFN done by a BLAS library (the
 * prefill's library GEMM path; cl/matmul.cl's ffn_swiglu fuses it into the product).
 *
 * Layouts: gu: [T, 2 n] f32, row t = gate (n values) then up (n values);
 *          h:  [T, h_stride] f32, h[t, i] = act(gu[t, i]) * gu[t, n + i] for i < n,
 *          act = silu(g) = g / (1 + exp(-g)), or with the build option -DFFN_GELU
 *          (Gemma's GeGLU) ggml's gelu_tanh(g) =
 *          0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
 * Kernel: swiglu(gu, h, n, T, h_stride); global = (n rounded up to the local size, T),
 *         local any.
 */
#ifndef FFN_GELU
#define FFN_GELU 0
#endif

__kernel void swiglu(__global const float *gu, __global float *h, int n, int T, int h_stride) {
    const int i = get_global_id(0), t = get_global_id(1);
    if (i >= n || t >= T) return;
    __global const float *row = gu + (size_t)t * 2 * (size_t)n;
    const float g = row[i];
#if FFN_GELU
    const float a = 0.5f * g * (1.0f + tanh(0.79788456080286535588f * g * (1.0f + 0.044715f * g * g)));
#else
    const float a = g / (1.0f + exp(-g));
#endif
    h[(size_t)t * h_stride + i] = a * row[n + i];
}
