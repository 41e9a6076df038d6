/* KV cache store: copies the K and V heads of a batch of tokens into the per-layer cache
 * at each token's position.
 *
 * Layouts:
 *   qkv:     [T, row_stride] f32; K head h of token t at qkv[t*row_stride + k_off
 *            + h*head_dim + d], V head h at qkv[t*row_stride + v_off + h*head_dim + d]
 *   k_cache: [n_kv_heads, ctx_len, head_dim] (one buffer per layer, contiguous in position)
 *   v_cache: [n_kv_heads, ctx_len, head_dim]
 *   pos:     [T] int, the position of each token; a token with pos outside [0, ctx_len) is
 *            skipped (the host must not let that happen: attention would read a stale row)
 *   k_cache[(h*ctx_len + pos[t])*head_dim + d] = K(t, h, d), same for v_cache.
 *
 * Variant:
 *   kv_store  one work-item per (d, kv head h, token t):
 *             global = (head_dim, n_kv_heads, T) (may be rounded up: extra items exit),
 *             local = NULL.
 *
 * Tunables:
 *   KV_F16  defined: the caches hold half values (vstore_half, round to nearest even);
 *           attention.cl must then be built with KV_F16 too. Default: f32 caches.
 */
#ifdef KV_F16
#define KV_T half
#define KV_STORE(p, i, v) vstore_half((v), (i), (p))
#else
#define KV_T float
#define KV_STORE(p, i, v) ((p)[i] = (v))
#endif

__kernel void kv_store(__global const float *qkv, __global KV_T *k_cache, __global KV_T *v_cache,
                       __global const int *pos, int T, int row_stride, int k_off, int v_off,
                       int n_kv_heads, int head_dim, int ctx_len) {
    const int d = (int)get_global_id(0);
    const int h = (int)get_global_id(1);
    const int t = (int)get_global_id(2);
    if (d >= head_dim || h >= n_kv_heads || t >= T) return;
    const int p = pos[t];
    if (p < 0 || p >= ctx_len) return;

    __global const float *row = qkv + (size_t)t * (size_t)row_stride + h * head_dim + d;
    const size_t dst = ((size_t)h * (size_t)ctx_len + (size_t)p) * (size_t)head_dim + d;
    KV_STORE(k_cache, dst, row[k_off]);
    KV_STORE(v_cache, dst, row[v_off]);
}
