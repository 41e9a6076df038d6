/* Gated feed-forward activation of separate gate and up products (when the FFN's gate and
 * up weights have different types and run as two products; cl/matmul.cl's ffn_swiglu
 * fuses the activation into one product of both, cl/swiglu.cl takes them stacked).
 *
 * Layouts: g, u, h: [T, n] f32; h[t, i] = act(g[t, i]) * u[t, i]. h may be the same buffer
 *          as g or u (each element is read by the work-item that writes it).
 * Kernel:  glu_split(g, u, h, int n, int T); global = (n, T), either may be rounded up
 *          (extra items exit), local any.
 * Options: FFN_GELU defined: act = GELU, tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
 *          x^3))) (Gemma's GEGLU); otherwise act = SiLU x / (1 + e^-x) (SwiGLU).
 */
#ifdef FFN_GELU
static inline float glu_act(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanh(k * x * (1.0f + 0.044715f * x * x)));
}
#else
static inline float glu_act(float x) {
    return x / (1.0f + exp(-x));
}
#endif

__kernel void glu_split(__global const float *g, __global const float *u, __global float *h,
                        int n, int T) {
    const int i = (int)get_global_id(0), t = (int)get_global_id(1);
    if (i >= n || t >= T) return;
    const size_t k = (size_t)t * (size_t)n + (size_t)i;
    h[k] = glu_act(g[k]) * u[k];
}
