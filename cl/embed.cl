/* Token embedding lookup with fused dequantization: y[t, :] = W[tokens[t], :].
 *
 * Layouts:
 *   W: [n_vocab, cols] weight in GGUF/ggml block form, ne0 = cols contiguous;
 *      row v starts at byte v * row_bytes(cols):
 *        f32  4 B/elem            f16  2 B/elem
 *        q8_0 {f16 d; i8 q[32]}   34 B / 32 elems, w = d*q
 *        q4_0 {f16 d; u8 q[16]}   18 B / 32 elems, w = d*(nib-8)
 *        q4_1 {f16 d, m; u8 q[16]} 20 B / 32 elems, w = d*nib + m
 *      (element j < 16 of a 4-bit block is the low nibble of q[j], j >= 16 the
 *      high nibble of q[j-16]). Quantized types need cols % 32 == 0.
 *   tokens: [T] int token ids, each in [0, n_vocab) (the host validates them:
 *      the kernel does not know n_vocab).
 *   y: [T, cols] floats.
 * Kernels: embed_TY(W, tokens, y, cols, T) for TY in f32, f16, q8_0, q4_0, q4_1.
 *   global = (cols, T), each rounded up to any local size (ids are checked);
 *   local = NULL or anything. One work-item per output element.
 */

static inline float elem_f32(__global const uchar *row, int k) {
    return ((__global const float *)row)[k];
}
static inline float elem_f16(__global const uchar *row, int k) {
    return vload_half(k, (__global const half *)row);
}
static inline float elem_q8_0(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 34;
    float d = vload_half(0, (__global const half *)p);
    return d * (float)((__global const char *)p)[2 + (k & 31)];
}
static inline float elem_q4_0(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 18;
    int j = k & 31;
    uchar q = p[2 + (j & 15)];
    return vload_half(0, (__global const half *)p) * (float)((j < 16 ? q & 15 : q >> 4) - 8);
}
static inline float elem_q4_1(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 20;
    int j = k & 31;
    uchar q = p[4 + (j & 15)];
    return vload_half(0, (__global const half *)p) * (float)(j < 16 ? q & 15 : q >> 4) +
           vload_half(1, (__global const half *)p);
}

#define RB_f32(cols) ((size_t)(cols) * 4)
#define RB_f16(cols) ((size_t)(cols) * 2)
#define RB_q8_0(cols) ((size_t)((cols) / 32) * 34)
#define RB_q4_0(cols) ((size_t)((cols) / 32) * 18)
#define RB_q4_1(cols) ((size_t)((cols) / 32) * 20)

#define DEFINE_EMBED(TY)                                                                   \
    __kernel void embed_##TY(__global const uchar *W, __global const int *tokens,          \
                             __global float *y, int cols, int T) {                         \
        int k = get_global_id(0), t = get_global_id(1);                                    \
        if (k >= cols || t >= T) return;                                                   \
        __global const uchar *row = W + (size_t)tokens[t] * RB_##TY(cols);                 \
        y[(size_t)t * cols + k] = elem_##TY(row, k);                                       \
    }

DEFINE_EMBED(f32)
DEFINE_EMBED(f16)
DEFINE_EMBED(q8_0)
DEFINE_EMBED(q4_0)
DEFINE_EMBED(q4_1)
