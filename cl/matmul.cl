/* Weight products with fused dequantization: y = W x (optionally + y) and the
 * fused SwiGLU gate/up product, for weights kept in GGUF/ggml block form; and the
 * kernels that only decode those blocks: the token embedding lookup and the
 * dequantization for a BLAS product.
 *
 * Layouts (activations f32, row-major, T tokens):
 *   W: [rows, cols] weight, ne0 = cols contiguous; row r starts at byte
 *      r * row_bytes(cols), row_bytes = cols / BLK * block bytes:
 *        f32  4 B/elem            f16  2 B/elem
 *        bf16 2 B/elem (the high half of an f32)
 *        q8_0 {f16 d; i8 q[32]}   34 B / 32 elems, w = d*q
 *        q4_0 {f16 d; u8 q[16]}   18 B / 32 elems, w = d*(nib-8)
 *        q4_1 {f16 d, m; u8 q[16]} 20 B / 32 elems, w = d*nib + m
 *        q5_0 {f16 d; u8 qh[4]; u8 q[16]}    22 B / 32 elems, w = d*(q5-16)
 *        q5_1 {f16 d, m; u8 qh[4]; u8 q[16]} 24 B / 32 elems, w = d*q5 + m
 *      (element j < 16 of a 4- or 5-bit block is the low nibble of q[j], j >= 16 the
 *      high nibble of q[j-16]; q5 adds bit j of the little-endian u32 qh as bit 4).
 *      K-quants, super-blocks of 256 = 8 sub-blocks of 32 elements, each with its own
 *      scale (and min); element l of sub-block j:
 *        q4_k {f16 d, dmin; u8 sc[12]; u8 q[128]}          144 B / 256 elems,
 *             w = d*s_j*q - dmin*m_j, s_j / m_j the 6-bit pairs packed in sc as
 *             ggml's get_scale_min_k4, q = nibble (j odd: high) of q[32*(j/2) + l]
 *        q5_k {f16 d, dmin; u8 sc[12]; u8 qh[32]; u8 q[128]} 176 B / 256 elems,
 *             as q4_k plus bit j of qh[l] as bit 4 of q
 *        q6_k {u8 ql[128]; u8 qh[64]; i8 sc[16]; f16 d}    210 B / 256 elems,
 *             w = d*sc[8n + 2k + l/16]*(q-32), n = j/4, k = j%4, q = nibble (k >= 2:
 *             high) of ql[64n + 32(k%2) + l] | ((qh[32n + l] >> 2k) & 3) << 4.
 *      For the 32-element types cols MUST be a multiple of 32, for the K-quants of 256
 *      (the host checks it); f32 / f16 / bf16 take any cols.
 *   x: [T, x_stride] floats, the first cols of each token row are used.
 *   y: [T, y_stride] floats, the first rows of each token row are written:
 *      y[t, r] = (accumulate ? y[t, r] : 0) + sum_k W[r, k] * x[t, k]
 *      (accumulate = 1 fuses the residual add: y holds the residual).
 *   ffn_swiglu: Wg, Wu: [rows, cols]; h: [T, h_stride]:
 *      h[t, r] = act(Wg[r].x_t) * (Wu[r].x_t), act = silu(g) = g / (1 + exp(-g)), or
 *      with the build option -DFFN_GELU (Gemma's GeGLU) ggml's gelu_tanh(g) =
 *      0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
 *   embed: W: [n_vocab, cols]; tokens: [T] int ids, each in [0, n_vocab) (the host
 *      validates them: the kernel does not know n_vocab); y: [T, cols]:
 *      y[t, :] = W[tokens[t], :].
 * Sums are accumulated in float.
 *
 * Kernels, for TY in f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k:
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
 *      element. Independent of the tunables. embed_TY_x8 (q8_0, q4_0, q4_1, q5_0, q4_k,
 *      q6_k): the same on a weight in the x8 layout (cl/matmul_q8.cl).
 * Variants:
 *   "row" (CPU pattern): global = (rows rounded up to any local size,
 *      ceil(T / MM_TT)), local = NULL (or anything); work-item (r, j) computes
 *      row r for tokens [j*MM_TT, j*MM_TT + MM_TT) walking the row's blocks
 *      contiguously; each weight block is read once per token tile.
 *   "_wg" (GPU pattern): one work-group of MM_WG items per row:
 *      global = (rows * MM_WG, ceil(T / MM_TT)), local = (MM_WG, 1) (required).
 *      Item i handles blocks i, i + MM_WG, ... (neighbouring items read
 *      neighbouring blocks) for MM_TT tokens; a local-memory tree reduces.
 * Tunables: MM_TT tokens per work-item / group (default 4; 1 is best for a
 * single token, where larger tiles idle), MM_WG work-group size of the _wg
 * variants (default 64, a power of two; a kernel's own limit can be lower than
 * the device's: llvmpipe takes 32). "Blocks" of f32 / f16 / bf16 are 16 elements, with
 * the cols % 16 tail handled separately; of the K-quants, 32-element sub-blocks (the
 * _wg variant shares a row out by sub-block).
 * Per-type builds: with -DCLG_ONE_TY the program holds only the kernels of the types named
 * by -DCLG_TY_<TY> (one or more, e.g. -DCLG_TY_q4_k; each type's definitions sit in an #if
 * on these): a smaller program builds faster (the planner passes its kind's type).
 * With -DCLG_NO_PRODUCTS the program holds only the dequant_TY and embed_TY kernels (the
 * token embedding where no product shares its program, the library GEMM's dequantization).
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

/* Forced so that the per-token accumulator arrays become registers; unused: a one-type
 * build (CLG_ONE_TY) leaves some shared helpers unused. */
#define INLINE static inline __attribute__((always_inline, unused))

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

#if !defined(CLG_ONE_TY) || defined(CLG_TY_f32)
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
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_f16)
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
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q8_0)
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
#endif

/* The 16 bytes of a 4-bit block: element j < 16 is the low nibble of byte j,
 * j >= 16 the high nibble of byte j - 16; as floats in four float8. */
#define NIBBLES8(q, l0, l1, h0, h1)                                                        \
    float8 l0 = convert_float8(q.lo & (uchar8)(15)), l1 = convert_float8(q.hi & (uchar8)(15)); \
    float8 h0 = convert_float8(q.lo >> (uchar8)(4)), h1 = convert_float8(q.hi >> (uchar8)(4))

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_0)
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
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_1)
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
#endif

/* ---- 5-bit blocks and K-quant sub-blocks (helpers) ----------------------------
 * FIFTH8(qh, s): bits s .. s + 7 of qh, each as 0.0f or 16.0f (the fifth bit of elements
 * s .. s + 7 of a q5_0 / q5_1 block). */
INLINE float8 fifth8(uint qh, int s) {
    return convert_float8(((uint8)(qh >> s) >> (uint8)(0, 1, 2, 3, 4, 5, 6, 7)) & (uint8)(1)) *
           16.0f;
}
INLINE uint ld_u32(__global const uchar *p) {
    return (uint)p[0] | (uint)p[1] << 8 | (uint)p[2] << 16 | (uint)p[3] << 24;
}
/* Sub-block j (0..7) of a Q4_K / Q5_K super-block: its 6-bit scale and min from the 12
 * scale bytes s, as ggml's get_scale_min_k4. */
INLINE void scale_min_k4(int j, __global const uchar *s, float *sc, float *m) {
    if (j < 4) {
        *sc = (float)(s[j] & 63);
        *m = (float)(s[j + 4] & 63);
    } else {
        *sc = (float)((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
        *m = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}
/* The 32 4-bit values of sub-block j of a Q4_K / Q5_K super-block's qs (pairs of sub-blocks
 * share 32 bytes: the even one the low nibbles, the odd one the high), as four float8. */
#define KNIB8(qs, j, w0, w1, w2, w3)                                                        \
    uchar16 ka_ = vload16(0, (qs) + 32 * ((j) >> 1)), kb_ = vload16(1, (qs) + 32 * ((j) >> 1)); \
    uchar sh_ = (uchar)(((j)&1) * 4);                                                      \
    float8 w0 = convert_float8((ka_.lo >> sh_) & (uchar8)(15));                            \
    float8 w1 = convert_float8((ka_.hi >> sh_) & (uchar8)(15));                            \
    float8 w2 = convert_float8((kb_.lo >> sh_) & (uchar8)(15));                            \
    float8 w3 = convert_float8((kb_.hi >> sh_) & (uchar8)(15))

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_0)
#define BLK_q5_0 32
#define RB_q5_0(cols) ((size_t)((cols) / 32) * 22)
INLINE void blk_q5_0(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)b * 22;
    float d = half_bits(p);
    uint qh = ld_u32(p + 2);
    uchar16 q = vload16(0, p + 6);
    NIBBLES8(q, l0, l1, h0, h1);
    l0 += fifth8(qh, 0);
    l1 += fifth8(qh, 8);
    h0 += fifth8(qh, 16);
    h1 += fifth8(qh, 24);
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        float8 x0 = vload8(0, xt), x1 = vload8(1, xt), x2 = vload8(2, xt), x3 = vload8(3, xt);
        if (t < nt)
            acc[t] += d * (l0 * x0 + l1 * x1 + h0 * x2 + h1 * x3 - 16.0f * (x0 + x1 + x2 + x3));
    }
}
static inline float elem_q5_0(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 22;
    int j = k & 31;
    uchar q = p[6 + (j & 15)];
    int v = (j < 16 ? q & 15 : q >> 4) | (int)((ld_u32(p + 2) >> j) & 1u) << 4;
    return vload_half(0, (__global const half *)p) * (float)(v - 16);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_1)
#define BLK_q5_1 32
#define RB_q5_1(cols) ((size_t)((cols) / 32) * 24)
INLINE void blk_q5_1(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)b * 24;
    float d = half_bits(p), m = half_bits(p + 2);
    uint qh = ld_u32(p + 4);
    uchar16 q = vload16(0, p + 8);
    NIBBLES8(q, l0, l1, h0, h1);
    l0 += fifth8(qh, 0);
    l1 += fifth8(qh, 8);
    h0 += fifth8(qh, 16);
    h1 += fifth8(qh, 24);
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        float8 x0 = vload8(0, xt), x1 = vload8(1, xt), x2 = vload8(2, xt), x3 = vload8(3, xt);
        if (t < nt) acc[t] += d * (l0 * x0 + l1 * x1 + h0 * x2 + h1 * x3) + m * (x0 + x1 + x2 + x3);
    }
}
static inline float elem_q5_1(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 5) * 24;
    int j = k & 31;
    uchar q = p[8 + (j & 15)];
    int v = (j < 16 ? q & 15 : q >> 4) | (int)((ld_u32(p + 4) >> j) & 1u) << 4;
    return vload_half(0, (__global const half *)p) * (float)v +
           vload_half(1, (__global const half *)p);
}
#endif

/* The K-quants' "block" b is a 32-element sub-block: sub-block b & 7 of super-block b >> 3,
 * so that the _wg variant shares a row's work out as finely as for the legacy types. */
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k)
#define BLK_q4_k 32
#define RB_q4_k(cols) ((size_t)((cols) / 256) * 144)
INLINE void blk_q4_k(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)(b >> 3) * 144;
    int j = b & 7;
    float sc, mn;
    scale_min_k4(j, p + 4, &sc, &mn);
    float d = half_bits(p) * sc, m = half_bits(p + 2) * mn;
    KNIB8(p + 16, j, w0, w1, w2, w3);
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        float8 x0 = vload8(0, xt), x1 = vload8(1, xt), x2 = vload8(2, xt), x3 = vload8(3, xt);
        if (t < nt) acc[t] += d * (w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3) - m * (x0 + x1 + x2 + x3);
    }
}
static inline float elem_q4_k(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 8) * 144;
    int j = (k >> 5) & 7, l = k & 31;
    float sc, mn;
    scale_min_k4(j, p + 4, &sc, &mn);
    float d = vload_half(0, (__global const half *)p) * sc;
    float m = vload_half(1, (__global const half *)p) * mn;
    return d * (float)((p[16 + 32 * (j >> 1) + l] >> (4 * (j & 1))) & 15) - m;
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_k)
#define BLK_q5_k 32
#define RB_q5_k(cols) ((size_t)((cols) / 256) * 176)
INLINE void blk_q5_k(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)(b >> 3) * 176;
    int j = b & 7;
    float sc, mn;
    scale_min_k4(j, p + 4, &sc, &mn);
    float d = half_bits(p) * sc, m = half_bits(p + 2) * mn;
    KNIB8(p + 48, j, w0, w1, w2, w3);
    /* the fifth bit of element l is bit j of qh[l] */
    uchar16 ha = vload16(0, p + 16), hb = vload16(1, p + 16);
    uchar hs = (uchar)j;
    w0 += convert_float8((ha.lo >> hs) & (uchar8)(1)) * 16.0f;
    w1 += convert_float8((ha.hi >> hs) & (uchar8)(1)) * 16.0f;
    w2 += convert_float8((hb.lo >> hs) & (uchar8)(1)) * 16.0f;
    w3 += convert_float8((hb.hi >> hs) & (uchar8)(1)) * 16.0f;
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        float8 x0 = vload8(0, xt), x1 = vload8(1, xt), x2 = vload8(2, xt), x3 = vload8(3, xt);
        if (t < nt) acc[t] += d * (w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3) - m * (x0 + x1 + x2 + x3);
    }
}
static inline float elem_q5_k(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 8) * 176;
    int j = (k >> 5) & 7, l = k & 31;
    float sc, mn;
    scale_min_k4(j, p + 4, &sc, &mn);
    float d = vload_half(0, (__global const half *)p) * sc;
    float m = vload_half(1, (__global const half *)p) * mn;
    int v = ((p[48 + 32 * (j >> 1) + l] >> (4 * (j & 1))) & 15) | ((p[16 + l] >> j) & 1) << 4;
    return d * (float)v - m;
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q6_k)
#define BLK_q6_k 32
#define RB_q6_k(cols) ((size_t)((cols) / 256) * 210)
/* Sub-block j of a Q6_K super-block: half n = j >> 2 (ql + 64 n, qh + 32 n, scales + 8 n),
 * quarter k = j & 3: low bits from ql[32 (k & 1) + l] (low nibble for k < 2, high for
 * k >= 2), high bits (qh[l] >> 2k) & 3, scale scales[8 n + 2 k + l / 16]; w = d sc (q - 32). */
INLINE void blk_q6_k(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const uchar *p = row + (size_t)(b >> 3) * 210;
    int j = b & 7, n = j >> 2, k = j & 3;
    __global const uchar *ql = p + 64 * n + 32 * (k & 1), *qh = p + 128 + 32 * n;
    __global const char *sc = (__global const char *)(p + 192) + 8 * n + 2 * k;
    float d = half_bits(p + 208);
    float d0 = d * (float)sc[0], d1 = d * (float)sc[1];
    uchar16 la = vload16(0, ql), lb = vload16(1, ql), ha = vload16(0, qh), hb = vload16(1, qh);
    uchar ls = (uchar)((k >> 1) * 4), hs = (uchar)(2 * k);
#define Q6_8(l, h) \
    (convert_float8(((l >> ls) & (uchar8)(15)) | (((h >> hs) & (uchar8)(3)) << (uchar8)(4))) - 32.0f)
    float8 w0 = Q6_8(la.lo, ha.lo), w1 = Q6_8(la.hi, ha.hi), w2 = Q6_8(lb.lo, hb.lo),
           w3 = Q6_8(lb.hi, hb.hi);
#undef Q6_8
    x += b * 32;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        float8 x0 = vload8(0, xt), x1 = vload8(1, xt), x2 = vload8(2, xt), x3 = vload8(3, xt);
        if (t < nt) acc[t] += d0 * (w0 * x0 + w1 * x1) + d1 * (w2 * x2 + w3 * x3);
    }
}
static inline float elem_q6_k(__global const uchar *row, int k) {
    __global const uchar *p = row + (size_t)(k >> 8) * 210;
    int j = (k >> 5) & 7, n = j >> 2, q = j & 3, l = k & 31;
    int lo = (p[64 * n + 32 * (q & 1) + l] >> (4 * (q >> 1))) & 15;
    int hi = (p[128 + 32 * n + l] >> (2 * q)) & 3;
    float d = vload_half(0, (__global const half *)(p + 208));
    float s = (float)((__global const char *)p)[192 + 8 * n + 2 * q + (l >> 4)];
    return d * s * (float)((lo | hi << 4) - 32);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_bf16)
#define BLK_bf16 16
#define RB_bf16(cols) ((size_t)(cols) * 2)
INLINE float8 bf16x8(__global const ushort *p) {
    return as_float8(convert_uint8(vload8(0, p)) << 16);
}
INLINE void blk_bf16(__global const uchar *row, int b, __global const float *x, int xs, int nt,
                     float8 *acc) {
    __global const ushort *w = (__global const ushort *)row + b * 16;
    float8 w0 = bf16x8(w), w1 = bf16x8(w + 8);
    x += b * 16;
    for (int t = 0; t < MM_TT; t++) {
        __global const float *xt = x + t * xs;
        if (t < nt) acc[t] += w0 * vload8(0, xt) + w1 * vload8(1, xt);
    }
}
static inline float elem_bf16(__global const uchar *row, int k) {
    return as_float((uint)((__global const ushort *)row)[k] << 16);
}
#endif

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

/* The gate's activation: silu(g) = g / (1 + exp(-g)), or with FFN_GELU (GeGLU) ggml's
 * gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2 / pi) g (1 + 0.044715 g^2))). */
#ifndef FFN_GELU
#define FFN_GELU 0
#endif
#if FFN_GELU
static inline float ffn_act(float g) {
    return 0.5f * g * (1.0f + tanh(0.79788456080286535588f * g * (1.0f + 0.044715f * g * g)));
}
#else
static inline float ffn_act(float g) { return g / (1.0f + exp(-g)); }
#endif

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
            if (t < nt) h[(t0 + t) * h_stride + r] = ffn_act(g[t]) * u[t];                    \
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
                        ffn_act(red[t * MM_WG]) * red[(MM_TT + t) * MM_WG];                   \
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

/* embed_TY_x8: embed_TY of a weight in the x8 layout (gguf.h llm_repack_x8; the tied output
 * of a model whose products run cl/matmul_q8.cl's x8 kernels), for q4_0 and q4_1 (q8_0, q5_0,
 * q4_k, q6_k with their types): element k
 * of row r is in row group r / 8, block k / 32, at row i = r % 8's place. */
#define DEFINE_EMBED_X8(TY, BYTES, MIN)                                                    \
    __kernel void embed_##TY##_x8(__global const uchar *W, __global const int *tokens,     \
                                  __global float *y, int cols, int T) {                    \
        int k = get_global_id(0), t = get_global_id(1);                                    \
        if (k >= cols || t >= T) return;                                                   \
        int r = tokens[t], i = r & 7, j = k & 31;                                          \
        __global const uchar *p = W + ((size_t)(r >> 3) * (cols / 32) + (k >> 5)) * (8 * (BYTES)); \
        __global const half *h = (__global const half *)p;                                 \
        uchar q = p[16 * (1 + (MIN)) + 32 * ((j & 15) >> 2) + 4 * i + (j & 3)];            \
        float nib = (float)(j < 16 ? q & 15 : q >> 4);                                     \
        y[(size_t)t * cols + k] = (MIN) ? vload_half(i, h) * nib + vload_half(8 + i, h)    \
                                        : vload_half(i, h) * (nib - 8.0f);                 \
    }

#ifdef CLG_NO_PRODUCTS
#define DEFINE_TYPE(TY) DEFINE_DEQUANT(TY) DEFINE_EMBED(TY)
#else
#define DEFINE_TYPE(TY) DEFINE_KERNELS(TY) DEFINE_DEQUANT(TY) DEFINE_EMBED(TY)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_f32)
DEFINE_TYPE(f32)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_f16)
DEFINE_TYPE(f16)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q8_0)
DEFINE_TYPE(q8_0)
__kernel void embed_q8_0_x8(__global const uchar *W, __global const int *tokens, __global float *y,
                            int cols, int T) {
    int k = get_global_id(0), t = get_global_id(1);
    if (k >= cols || t >= T) return;
    int r = tokens[t], j = k & 31;
    __global const uchar *p = W + ((size_t)(r >> 3) * (cols / 32) + (k >> 5)) * (8 * 34);
    char q = ((__global const char *)p)[16 + 32 * (j >> 2) + 4 * (r & 7) + (j & 3)];
    y[(size_t)t * cols + k] = vload_half(r & 7, (__global const half *)p) * (float)q;
}
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_0)
DEFINE_TYPE(q4_0)
DEFINE_EMBED_X8(q4_0, 18, 0)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_1)
DEFINE_TYPE(q4_1)
DEFINE_EMBED_X8(q4_1, 20, 1)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_0)
DEFINE_TYPE(q5_0)
/* q5_0: the nibble as q4_0, the fifth bit j / 16 * 4 + j % 16 / 4 of byte 144 + 4i + j % 4 */
__kernel void embed_q5_0_x8(__global const uchar *W, __global const int *tokens, __global float *y,
                            int cols, int T) {
    int k = get_global_id(0), t = get_global_id(1);
    if (k >= cols || t >= T) return;
    int r = tokens[t], i = r & 7, j = k & 31;
    __global const uchar *p = W + ((size_t)(r >> 3) * (cols / 32) + (k >> 5)) * (8 * 22);
    uchar q = p[16 + 32 * ((j & 15) >> 2) + 4 * i + (j & 3)];
    uchar f = p[144 + 4 * i + (j & 3)];
    int v = (j < 16 ? q & 15 : q >> 4) | ((f >> ((j >> 4) * 4 + ((j & 15) >> 2))) & 1) << 4;
    y[(size_t)t * cols + k] = vload_half(i, (__global const half *)p) * (float)(v - 16);
}
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_1)
DEFINE_TYPE(q5_1)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k)
DEFINE_TYPE(q4_k)
/* q4_k: super-block 1152 B of the 8 rows: d[8], dmin[8], scale byte s of row i at 32 + 8s + i;
 * element l of sub-block j: nibble l / 16 of byte 128 + 128 j + 32 (l % 16 / 4) + 4i + l % 4 */
__kernel void embed_q4_k_x8(__global const uchar *W, __global const int *tokens, __global float *y,
                            int cols, int T) {
    int k = get_global_id(0), t = get_global_id(1);
    if (k >= cols || t >= T) return;
    int r = tokens[t], i = r & 7, j = (k >> 5) & 7, l = k & 31;
    __global const uchar *p = W + ((size_t)(r >> 3) * (cols / 256) + (k >> 8)) * (8 * 144);
    __global const uchar *s = p + 32 + i; /* scale byte n at s[8n] */
    int sc = j < 4 ? s[8 * j] & 63 : (s[8 * (j + 4)] & 15) | ((s[8 * (j - 4)] >> 6) << 4);
    int mn = j < 4 ? s[8 * (j + 4)] & 63 : (s[8 * (j + 4)] >> 4) | ((s[8 * j] >> 6) << 4);
    int q = (p[128 + 128 * j + 32 * ((l & 15) >> 2) + 4 * i + (l & 3)] >> (4 * (l >> 4))) & 15;
    float d = vload_half(i, (__global const half *)p) * (float)sc;
    float m = vload_half(8 + i, (__global const half *)p) * (float)mn;
    y[(size_t)t * cols + k] = d * (float)q - m;
}
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_k)
DEFINE_TYPE(q5_k)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q6_k)
DEFINE_TYPE(q6_k)
/* q6_k: super-block 1680 B of the 8 rows; element l of sub-block j, half h = l / 16, chunk
 * c = l % 16 / 4, lane 4i + l % 4: the nibble h of byte 144 + 192 j + 32 c + lane, bits 2c of
 * byte 144 + 192 j + 128 + 32 h + lane, scale byte 16 + 8 (2j + h) + i */
__kernel void embed_q6_k_x8(__global const uchar *W, __global const int *tokens, __global float *y,
                            int cols, int T) {
    int k = get_global_id(0), t = get_global_id(1);
    if (k >= cols || t >= T) return;
    int r = tokens[t], i = r & 7, j = (k >> 5) & 7, l = k & 31, h = l >> 4, c = (l & 15) >> 2;
    __global const uchar *p = W + ((size_t)(r >> 3) * (cols / 256) + (k >> 8)) * (8 * 210);
    __global const uchar *sub = p + 144 + 192 * j + 4 * i + (l & 3);
    int lo = (sub[32 * c] >> (4 * h)) & 15, hi = (sub[128 + 32 * h] >> (2 * c)) & 3;
    float d = vload_half(i, (__global const half *)p);
    float s = (float)((__global const char *)p)[16 + 8 * (2 * j + h) + i];
    y[(size_t)t * cols + k] = d * s * (float)((lo | hi << 4) - 32);
}
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_bf16)
DEFINE_TYPE(bf16)
#endif
