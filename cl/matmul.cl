/* Weight products with fused dequantization: y = W x (optionally + y) and the
 * fused SwiGLU gate/up product, for weights kept in GGUF/ggml block form; and the
 * kernels that only decode those blocks: the token embedding lookup and the
 * dequantization for a BLAS product.
 *
 * Layouts (activations f32, row-major, T tokens):
 *   W: [rows, cols] weight, ne0 = cols contiguous; row r starts at byte
 *      r * row_bytes(cols), row_bytes = cols / BLK * block bytes:
 *        f32  4 B/elem            f16  2 B/elem
 *        q8_0 {f16 d; i8 q[32]}   34 B / 32 elems, w = d*q
 *        q4_0 {f16 d; u8 q[16]}   18 B / 32 elems, w = d*(nib-8)
 *        q4_1 {f16 d, m; u8 q[16]} 20 B / 32 elems, w = d*nib + m
 *      (element j < 16 of a 4-bit block is the low nibble of q[j], j >= 16 the
 *      high nibble of q[j-16]). For the quantized types cols MUST be a multiple
 *      of 32 (the host checks it); f32 / f16 take any cols.
 *   x: [T, x_stride] floats, the first cols of each token row are used.
 *   y: [T, y_stride] floats, the first rows of each token row are written:
 *      y[t, r] = (accumulate ? y[t, r] : 0) + sum_k W[r, k] * x[t, k]
 *      (accumulate = 1 fuses the residual add: y holds the residual).
 *   ffn_swiglu: Wg, Wu: [rows, cols]; h: [T, h_stride]:
 *      h[t, r] = silu(Wg[r].x_t) * (Wu[r].x_t), silu(g) = g / (1 + exp(-g)).
 *   embed: W: [n_vocab, cols]; tokens: [T] int ids, each in [0, n_vocab) (the host
 *      validates them: the kernel does not know n_vocab); y: [T, cols]:
 *      y[t, :] = W[tokens[t], :].
 * Sums are accumulated in float.
 *
 * Kernels, for TY in f32, f16, q8_0, q4_0, q4_1:
 *   matmul_TY(W, x, y, rows, cols, T, x_stride, y_stride, accumulate)
 *   matmul_TY_wg(same arguments)
 *   ffn_swiglu_TY(Wg, Wu, x, h, rows, cols, T, x_stride, h_stride)
 *   ffn_swiglu_TY_wg(same arguments)
 *   dequant_TY(W, out, rows, cols, out_row0): out [out_row0 + rows, cols] f32 row-major,
 *      rows out_row0 .. out_row0 + rows - 1 = W dequantized (the others untouched: two
 *      matrices can be stacked), for a product done by a BLAS library (the prefill's
 *      library GEMM path, graphs/llama/llama_gemm.c). global = (ceil(cols / 32) rounded up to
 *      any local size, rows); item (b, r) writes row r's columns 32 b .. 32 b + 31.
 *   embed_TY(W, tokens, y, cols, T): global = (cols, T), each rounded up to any local
 *      size (ids are checked); local = NULL or anything; one work-item per output
 *      element. Independent of the tunables.
 * Variants:
 *   "row" (CPU pattern): global = (rows rounded up to any local size,
 *      ceil(T / MM_TT)), local = NULL (or anything); work-item (r, j) computes
 *      row r for tokens [j*MM_TT, j*MM_TT + MM_TT) walking the row's blocks
 *      contiguously; each weight block is read once per token tile.
 *   "_wg" (GPU pattern): one work-group of MM_WG items per row:
 *      global = (rows * MM_WG, ceil(T / MM_TT)), local = (MM_WG, 1) (required).
 *      Item i handles blocks i, i + MM_WG, ... (neighbouring items read
 *      neighbouring blocks) for MM_TT tokens; a local-memory tree reduces.
 * Types built: all five, or with -DCLG_ONE_TY only those named by -DCLG_TY_<ty> (one or
 * more; the planner passes its kind's type: a smaller program builds faster).
 * Tunables: MM_TT tokens per work-item / group (default 4; 1 is best for a
 * single token, where larger tiles idle), MM_WG work-group size of the _wg
 * variants (default 64, a power of two; a kernel's own limit can be lower than
 * the device's: llvmpipe takes 32). "Blocks" of f32 / f16 are 16 elements, with
 * the cols % 16 tail handled separately.
 * Declared for the planner (clg_program_variants; first values are the untuned defaults):
 * @variant row kernels=matmul_TY,ffn_swiglu_TY local=16,1,4,64 device=cpu
 * @variant wg kernels=matmul_TY_wg,ffn_swiglu_TY_wg sweep=MM_WG:64,16 local=MM_WG device=gpu
 * SPIR-V: the build's module holds the defaults (options with -D build from
 * source). Keep it valid (spirv-val) when editing: llvm-spirv 14 emits LLVM's
 * block order as is, and some -O2 shapes (per-block scale applied after the
 * inner loop, MM_TT 8) come out with a use before its definition.
 */

#ifndef MM_TT
#define MM_TT 4
#endif
#ifndef MM_WG
#define MM_WG 64
#endif

/* Forced so that the per-token accumulator arrays become registers. */
#define INLINE static inline __attribute__((always_inline))

#if MM_TT < 1
#error "MM_TT must be at least 1"
#endif
#if MM_WG < 1 || (MM_WG & (MM_WG - 1)) != 0
#error "MM_WG must be a power of two"
#endif

/* ---- per-type block functions ------------------------------------------
 * blk_TY(row, b, x, xs, nt, acc): acc[t] += the element-wise products of block
 *   b of the row with x_t[b*BLK ..] for t < nt (<= MM_TT), x_t = x + t * xs,
 *   as a float8 partial sum: the horizontal sum is taken once per row, not per
 *   block (on CPU devices that keeps the loop in wide vector registers; on PoCL
 *   it was 3x faster than a dot() per 4 elements). The t loops run to the
 *   constant MM_TT with a (uniform) t < nt test so that they unroll.
 * elem_TY(row, k): the dequantized element k (for the f32 / f16 tails).
 * RB_TY(cols): bytes of one row. */

/* f16 bits to float without vload_half, which PoCL 3.1 compiles to a branchy software
 * routine: normal numbers by shifting the exponent and mantissa into place, subnormals
 * by scaling; inf / NaN (never in a ggml file) come out as large finite values. */
INLINE float half_bits(__global const uchar *p) {
    uint u = *(__global const ushort *)p, m = u & 0x7fffu;
    float f = m < 0x400u ? (float)m * 0x1p-24f : as_float((m << 13) + 0x38000000u);
    return as_float(as_uint(f) | ((u & 0x8000u) << 16));
}
INLINE float8 half8_bits(__global const half *p) {
    uint8 u = convert_uint8(vload8(0, (__global const ushort *)p)), m = u & 0x7fffu;
    float8 f = select(as_float8((m << 13) + 0x38000000u), convert_float8(m) * 0x1p-24f,
                      convert_int8(m < 0x400u));
    return as_float8(as_uint8(f) | ((u & 0x8000u) << 16));
}

INLINE float hsum8(float8 v) {
    float4 a = v.lo + v.hi;
    float2 c = a.lo + a.hi;
    return c.x + c.y;
}

#define BLK_f32 16
#define RB_f32(cols) ((size_t)(cols) * 4)
INLINE void blk_f32(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                    float8 *acc) {
    __global const float *w = (__global const float *)row + b * 16;
    float8 w0 = vload8(0, w), w1 = vload8(1, w);
    x += b * 16;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        if (t < nt) acc[t] += w0 * vload8(0, xt) + w1 * vload8(1, xt);
    }
}
static inline float elem_f32(__global const uchar *row, int k) {
    return ((__global const float *)row)[k];
}

#define BLK_f16 16
#define RB_f16(cols) ((size_t)(cols) * 2)
INLINE void blk_f16(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                    float8 *acc) {
    __global const half *w = (__global const half *)row + b * 16;
    float8 w0 = half8_bits(w), w1 = half8_bits(w + 8);
    x += b * 16;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        if (t < nt) acc[t] += w0 * vload8(0, xt) + w1 * vload8(1, xt);
    }
}
static inline float elem_f16(__global const uchar *row, int k) {
    return vload_half(k, (__global const half *)row);
}

#define BLK_q8_0 32
#define RB_q8_0(cols) ((size_t)((cols) / 32) * 34)
INLINE void blk_q8_0(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)b * 34;
    float d = half_bits(p);
    __global const char *q = (__global const char *)(p + 2);
    float8 w0 = convert_float8(vload8(0, q)), w1 = convert_float8(vload8(1, q));
    float8 w2 = convert_float8(vload8(2, q)), w3 = convert_float8(vload8(3, q));
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        if (t < nt)
            acc[t] += d * (w0 * vload8(0, xt) + w1 * vload8(1, xt) + w2 * vload8(2, xt) +
                           w3 * vload8(3, xt));
    }
}
static inline float elem_q8_0(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 34;
    float d = vload_half(0, (__global const half *)p);
    return d * (float)((__global const char *)p)[2 + (k & 31)];
}

/* The 16 bytes of a 4-bit block: element j < 16 is the low nibble of byte j,
 * j >= 16 the high nibble of byte j - 16; as floats in four float8. */
#define NIBBLES8(q, l0, l1, h0, h1)                                                        \
    float8 l0 = convert_float8(q.lo & (uchar8)(15)), l1 = convert_float8(q.hi & (uchar8)(15)); \
    float8 h0 = convert_float8(q.lo >> (uchar8)(4)), h1 = convert_float8(q.hi >> (uchar8)(4))

#define BLK_q4_0 32
#define RB_q4_0(cols) ((size_t)((cols) / 32) * 18)
INLINE void blk_q4_0(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)b * 18;
    float d = half_bits(p);
    uchar16 q = vload16(0, p + 2);
    NIBBLES8(q, l0, l1, h0, h1);
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        float8 x0 = vload8(0, xt), x1 = vload8(1, xt), x2 = vload8(2, xt), x3 = vload8(3, xt);
        /* sum (nib - 8) x = sum nib x - 8 sum x */
        if (t < nt) acc[t] += d * (l0 * x0 + l1 * x1 + h0 * x2 + h1 * x3 - 8.0f * (x0 + x1 + x2 + x3));
    }
}
static inline float elem_q4_0(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 18;
    int j = k & 31;
    uchar q = p[2 + (j & 15)];
    return vload_half(0, (__global const half *)p) * (float)((j < 16 ? q & 15 : q >> 4) - 8);
}

#define BLK_q4_1 32
#define RB_q4_1(cols) ((size_t)((cols) / 32) * 20)
INLINE void blk_q4_1(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)b * 20;
    float d = half_bits(p), m = half_bits(p + 2);
    uchar16 q = vload16(0, p + 4);
    NIBBLES8(q, l0, l1, h0, h1);
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        float8 x0 = vload8(0, xt), x1 = vload8(1, xt), x2 = vload8(2, xt), x3 = vload8(3, xt);
        if (t < nt) acc[t] += d * (l0 * x0 + l1 * x1 + h0 * x2 + h1 * x3) + m * (x0 + x1 + x2 + x3);
    }
}
static inline float elem_q4_1(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 20;
    int j = k & 31;
    uchar q = p[4 + (j & 15)];
    return vload_half(0, (__global const half *)p) * (float)(j < 16 ? q & 15 : q >> 4) +
           vload_half(1, (__global const half *)p);
}

/* ---- row dot products shared by the kernels ------------------------------
 * acc[t] += W[r] . x_t over blocks first, first + step, ... and tail elements
 * nb*BLK + first, + step, ... (the tail is empty for the quantized types). */

#define DEFINE_ROWDOT(TY)                                                                  \
    INLINE void rowdot_##TY(__global const uchar *row, int cols, __global const float *x, \
                            int xs, int nt, int first, int step, float *acc) {             \
        int nb = cols / BLK_##TY;                                                          \
        float8 v[MM_TT];                                                                  \
        for (int t = 0; t < MM_TT; t++) v[t] = (float8)(0.0f);                            \
        for (int b = first; b < nb; b += step) blk_##TY(row, b, x, xs, nt, v);             \
        for (int t = 0; t < MM_TT; t++) acc[t] += hsum8(v[t]);                            \
        for (int k = nb * BLK_##TY + first; k < cols; k += step) {                         \
            float w = elem_##TY(row, k);                                                   \
            for (int t = 0; t < MM_TT; t++) if (t < nt) acc[t] += w * x[t * xs + k];      \
        }                                                                                  \
    }

/* Tree sum of red[t * MM_WG + i] over i for every t; the result is in
 * red[t * MM_WG]. Called by every item of the group. */
static inline void tree_sum(__local float *red, int lid, int n) {
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = MM_WG / 2; s > 0; s >>= 1) {
        if (lid < s)
            for (int t = 0; t < n; t++) red[t * MM_WG + lid] += red[t * MM_WG + lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

static inline float silu(float g) { return g / (1.0f + exp(-g)); }

#define DEFINE_KERNELS(TY)                                                                 \
    DEFINE_ROWDOT(TY)                                                                      \
    __kernel void matmul_##TY(__global const uchar *W, __global const float *x,            \
                              __global float *y, int rows, int cols, int T, int x_stride,  \
                              int y_stride, int accumulate) {                              \
        int r = get_global_id(0), t0 = get_global_id(1) * MM_TT;                           \
        if (r >= rows || t0 >= T) return;                                                  \
        int nt = min(MM_TT, T - t0);                                                       \
        float acc[MM_TT];                                                                  \
        for (int t = 0; t < MM_TT; t++) acc[t] = 0.0f;                                     \
        rowdot_##TY(W + (size_t)r * RB_##TY(cols), cols, x + t0 * x_stride, x_stride, nt,  \
                    0, 1, acc);                                                            \
        for (int t = 0; t < MM_TT; t++) {                                                  \
            __global float *o = y + (t0 + t) * y_stride + r;                               \
            if (t < nt) *o = (accumulate ? *o : 0.0f) + acc[t];                            \
        }                                                                                  \
    }                                                                                      \
    __kernel __attribute__((reqd_work_group_size(MM_WG, 1, 1))) void matmul_##TY##_wg(     \
        __global const uchar *W, __global const float *x, __global float *y, int rows,     \
        int cols, int T, int x_stride, int y_stride, int accumulate) {                     \
        __local float red[MM_TT * MM_WG];                                                  \
        int r = get_group_id(0), lid = get_local_id(0), t0 = get_global_id(1) * MM_TT;     \
        /* no return before the barriers: pocl 3.1 mishandles even a uniform one */        \
        int nt = r < rows && t0 < T ? min(MM_TT, T - t0) : 0;                              \
        float acc[MM_TT];                                                                  \
        for (int t = 0; t < MM_TT; t++) acc[t] = 0.0f;                                     \
        if (nt > 0)                                                                        \
            rowdot_##TY(W + (size_t)r * RB_##TY(cols), cols, x + t0 * x_stride, x_stride,  \
                        nt, lid, MM_WG, acc);                                              \
        for (int t = 0; t < MM_TT; t++) red[t * MM_WG + lid] = acc[t];                     \
        tree_sum(red, lid, nt);                                                            \
        if (lid == 0)                                                                      \
            for (int t = 0; t < MM_TT; t++) {                                              \
                __global float *o = y + (t0 + t) * y_stride + r;                           \
                if (t < nt) *o = (accumulate ? *o : 0.0f) + red[t * MM_WG];                \
            }                                                                              \
    }                                                                                      \
    __kernel void ffn_swiglu_##TY(__global const uchar *Wg, __global const uchar *Wu,      \
                                  __global const float *x, __global float *h, int rows,    \
                                  int cols, int T, int x_stride, int h_stride) {           \
        int r = get_global_id(0), t0 = get_global_id(1) * MM_TT;                           \
        if (r >= rows || t0 >= T) return;                                                  \
        int nt = min(MM_TT, T - t0);                                                       \
        float g[MM_TT], u[MM_TT];                                                          \
        for (int t = 0; t < MM_TT; t++) g[t] = u[t] = 0.0f;                                \
        __global const float *xt = x + t0 * x_stride;                                      \
        rowdot_##TY(Wg + (size_t)r * RB_##TY(cols), cols, xt, x_stride, nt, 0, 1, g);      \
        rowdot_##TY(Wu + (size_t)r * RB_##TY(cols), cols, xt, x_stride, nt, 0, 1, u);      \
        for (int t = 0; t < MM_TT; t++)                                                    \
            if (t < nt) h[(t0 + t) * h_stride + r] = silu(g[t]) * u[t];                    \
    }                                                                                      \
    __kernel __attribute__((reqd_work_group_size(MM_WG, 1, 1))) void ffn_swiglu_##TY##_wg( \
        __global const uchar *Wg, __global const uchar *Wu, __global const float *x,       \
        __global float *h, int rows, int cols, int T, int x_stride, int h_stride) {        \
        __local float red[2 * MM_TT * MM_WG]; /* gate sums, then up sums */                \
        int r = get_group_id(0), lid = get_local_id(0), t0 = get_global_id(1) * MM_TT;     \
        /* no return before the barriers: pocl 3.1 mishandles even a uniform one */        \
        int nt = r < rows && t0 < T ? min(MM_TT, T - t0) : 0;                              \
        float g[MM_TT], u[MM_TT];                                                          \
        for (int t = 0; t < MM_TT; t++) g[t] = u[t] = 0.0f;                                \
        __global const float *xt = x + t0 * x_stride;                                      \
        if (nt > 0) {                                                                      \
            rowdot_##TY(Wg + (size_t)r * RB_##TY(cols), cols, xt, x_stride, nt, lid, MM_WG, \
                        g);                                                                \
            rowdot_##TY(Wu + (size_t)r * RB_##TY(cols), cols, xt, x_stride, nt, lid, MM_WG, \
                        u);                                                                \
        }                                                                                  \
        for (int t = 0; t < MM_TT; t++) {                                                  \
            red[t * MM_WG + lid] = g[t];                                                   \
            red[(MM_TT + t) * MM_WG + lid] = u[t];                                         \
        }                                                                                  \
        tree_sum(red, lid, 2 * MM_TT);                                                     \
        if (lid == 0)                                                                      \
            for (int t = 0; t < MM_TT; t++)                                                \
                if (t < nt)                                                                \
                    h[(t0 + t) * h_stride + r] =                                           \
                        silu(red[t * MM_WG]) * red[(MM_TT + t) * MM_WG];                   \
    }

#define DEFINE_DEQUANT(TY)                                                                 \
    __kernel void dequant_##TY(__global const uchar *W, __global float *out, int rows,     \
                               int cols, int out_row0) {                                   \
        const int b = get_global_id(0), r = get_global_id(1);                              \
        if (r >= rows || b * 32 >= cols) return;                                           \
        __global const uchar *row = W + (size_t)r * RB_##TY(cols);                         \
        __global float *o = out + ((size_t)out_row0 + r) * (size_t)cols;                   \
        for (int k = b * 32; k < min(cols, b * 32 + 32); k++) o[k] = elem_##TY(row, k);   \
    }

#define DEFINE_EMBED(TY)                                                                   \
    __kernel void embed_##TY(__global const uchar *W, __global const int *tokens,          \
                             __global float *y, int cols, int T) {                         \
        int k = get_global_id(0), t = get_global_id(1);                                    \
        if (k >= cols || t >= T) return;                                                   \
        __global const uchar *row = W + (size_t)tokens[t] * RB_##TY(cols);                 \
        y[(size_t)t * cols + k] = elem_##TY(row, k);                                       \
    }

#define DEFINE_TYPE(TY) DEFINE_KERNELS(TY) DEFINE_DEQUANT(TY) DEFINE_EMBED(TY)
#if !defined(CLG_ONE_TY) || defined(CLG_TY_f32)
DEFINE_TYPE(f32)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_f16)
DEFINE_TYPE(f16)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q8_0)
DEFINE_TYPE(q8_0)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_0)
DEFINE_TYPE(q4_0)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_1)
DEFINE_TYPE(q4_1)
#endif
