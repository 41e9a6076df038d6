/* Row and column moves and elementwise updates of f32 row-major buffers [T, *].
 *
 * Kernels (one work-item per element; i < n the column, t < T the token):
 *   gather_rows(src, rows, dst, int n, int T): dst[t*n + i] = src[rows[t]*n + i], src [*, n],
 *       rows [T] int, dst [T, n]; picks the tokens whose logits (or arg-max) a batch returns.
 *       global = (n, T), either may be rounded up (extra items exit), local any.
 *   add_bias(y, b, int stride, int off, int n, int T): y[t*stride + off + i] += b[i], y
 *       [T, stride], b [n] (Qwen2's Q, K and V biases on the qkv rows).
 *   scale_rows(x, float s, int n, int T): x[t*n + i] *= s, x [T, n] (Gemma's embedding
 *       scaled by sqrt(n_embd)).
 *   copy_cols(src, dst, int src_stride, int dst_stride, int dst_off, int n, int T):
 *       dst[t*dst_stride + dst_off + i] = src[t*src_stride + i], src [T, src_stride], dst
 *       [T, dst_stride] distinct buffers (packs separate products into one row, e.g. q, k
 *       and v into the qkv rows).
 *   add_bias, scale_rows, copy_cols: global = (n, T), either may be rounded up (extra
 *   items exit), local any.
 */
__kernel void gather_rows(__global const float *src, __global const int *rows,
                          __global float *dst, int n, int T) {
    const int i = (int)get_global_id(0), t = (int)get_global_id(1);
    if (i >= n || t >= T) return;
    dst[(size_t)t * (size_t)n + i] = src[(size_t)rows[t] * (size_t)n + i];
}

__kernel void add_bias(__global float *y, __global const float *b, int stride, int off, int n,
                       int T) {
    const int i = (int)get_global_id(0), t = (int)get_global_id(1);
    if (i >= n || t >= T) return;
    y[(size_t)t * (size_t)stride + off + i] += b[i];
}

__kernel void scale_rows(__global float *x, float s, int n, int T) {
    const int i = (int)get_global_id(0), t = (int)get_global_id(1);
    if (i >= n || t >= T) return;
    x[(size_t)t * (size_t)n + i] *= s;
}

__kernel void copy_cols(__global const float *src, __global float *dst, int src_stride,
                        int dst_stride, int dst_off, int n, int T) {
    const int i = (int)get_global_id(0), t = (int)get_global_id(1);
    if (i >= n || t >= T) return;
    dst[(size_t)t * (size_t)dst_stride + dst_off + i] = src[(size_t)t * (size_t)src_stride + i];
}
