/* Rotary position embedding (RoPE) fused with the KV cache store: one launch per layer
 * rotates the query heads in place and writes the rotated key heads and the value heads of
 * each token into the layer's cache at the token's position.
 *
 * Layouts:
 *   qkv:      [T, row_stride] f32, each row [Q heads | K heads | V heads]: Q head h at
 *             qkv[t*row_stride + h*head_dim + d], K head h at
 *             qkv[t*row_stride + (n_head + h)*head_dim + d], V head h after the K heads
 *   k_cache:  [n_seq, n_head_kv, ctx_len, head_dim] KV_T (one buffer per layer): one region
 *             of n_head_kv * ctx_len rows per sequence (n_seq is the host's; n_seq 1: the
 *             single-sequence cache [n_head_kv, ctx_len, head_dim])
 *   v_cache:  [n_seq, n_head_kv, ctx_len, head_dim] KV_T
 *   pos:      [T] int, the position of each token
 *   seq:      [T] int, the sequence of each token, in [0, n_seq) (the host keeps it there)
 *   inv_freq: [n_rot/2] f32, the angle per position of pair i (the host computes it in
 *             double: freq_scale * freq_base^(-2i/n_rot) / freq_factors[i])
 *
 * For pair i < n_rot/2: theta_i = pos[t] * inv_freq[i], and
 *   (a, b) -> (a cos theta_i - b sin theta_i, a sin theta_i + b cos theta_i)
 * where (a, b) = (x[2i], x[2i+1])          for neox = 0 (llama.cpp LLAMA_ROPE_TYPE_NORM,
 *                                              general.architecture = llama)
 *              = (x[i], x[i + n_rot/2])     for neox != 0 (LLAMA_ROPE_TYPE_NEOX).
 * Dimensions >= n_rot of a head are not rotated (n_rot = 0: a plain KV store). After it:
 *   qkv Q heads rotated in place; qkv K and V heads unchanged;
 *   k_cache[((seq[t]*n_head_kv + h)*ctx_len + pos[t])*head_dim + d] = rotated K(t, h, d),
 *   v_cache likewise V (the rotation follows pos[t] alone);
 *   a token whose pos is outside [0, ctx_len) stores nothing (the host must not let that
 *   happen: attention would read a stale row). head_dim and n_rot must be even.
 *
 * Variant:
 *   rope_kv  one work-item per (pair i < head_dim/2, token t), each computing its sin/cos
 *            once for all heads: global = (head_dim/2, T) (may be rounded up: extra items
 *            exit), local = NULL. Item i owns elements (ia, ib) of every head: the rotation
 *            pair for i < n_rot/2, else n_rot + 2(i - n_rot/2) and the one after it.
 *
 * Tunables:
 *   KV_F16  defined: the caches hold half values (vstore_half, round to nearest even);
 *           attention.cl must then be built with KV_F16 too. Default: f32 caches.
 */
#ifdef KV_F16
#define KV_T half
#ifdef __F16C__
/* x86 with F16C (PoCL's CPU device, whose vstore_half is a software routine): one
 * vcvtps2ph, rounding to nearest even as vstore_half */
#define KV_STORE(p, i, v)                                                                  \
    (((__global short *)(p))[i] = __builtin_ia32_vcvtps2ph((float4)(v), 0)[0])
#else
#define KV_STORE(p, i, v) vstore_half((v), (i), (p))
#endif
#else
#define KV_T float
#define KV_STORE(p, i, v) ((p)[i] = (v))
#endif

__kernel void rope_kv(__global float *qkv, __global KV_T *k_cache, __global KV_T *v_cache,
                      __global const int *pos, __global const int *seq,
                      __global const float *inv_freq, int T, int row_stride, int n_head,
                      int n_head_kv, int head_dim, int n_rot, int neox, int ctx_len) {
    const int i = (int)get_global_id(0);
    const int t = (int)get_global_id(1);
    const int half_rot = n_rot / 2;
    if (i >= head_dim / 2 || t >= T) return;
    const int p = pos[t];

    int ia, ib;
    float c = 1.0f, s = 0.0f;
    if (i < half_rot) {
        ia = neox ? i : 2 * i;
        ib = neox ? i + half_rot : 2 * i + 1;
        s = sincos((float)p * inv_freq[i], &c);
    } else {
        ia = n_rot + 2 * (i - half_rot);
        ib = ia + 1;
    }

    __global float *q = qkv + (size_t)t * (size_t)row_stride;
    if (i < half_rot)
        for (int h = 0; h < n_head; h++, q += head_dim) {
            const float a = q[ia], b = q[ib];
            q[ia] = a * c - b * s;
            q[ib] = a * s + b * c;
        }
    if (p < 0 || p >= ctx_len) return;
    __global const float *k = qkv + (size_t)t * (size_t)row_stride + n_head * head_dim;
    __global const float *v = k + n_head_kv * head_dim;
    const size_t h0 = (size_t)seq[t] * (size_t)n_head_kv; /* the sequence's first head row */
    for (int h = 0; h < n_head_kv; h++, k += head_dim, v += head_dim) {
        const size_t row = ((h0 + (size_t)h) * (size_t)ctx_len + (size_t)p) * (size_t)head_dim;
        const float a = k[ia], b = k[ib];
        KV_STORE(k_cache, row + ia, a * c - b * s);
        KV_STORE(k_cache, row + ib, a * s + b * c);
        KV_STORE(v_cache, row + ia, v[ia]);
        KV_STORE(v_cache, row + ib, v[ib]);
    }
}
