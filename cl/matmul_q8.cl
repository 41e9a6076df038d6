/* Weight products with 8-bit activations: the activations are quantized to q8_0 blocks
 * (as llama.cpp's CPU backend does) and each 32-element block product is an integer dot
 * product, scaled by d_w * d_x into a float sum. Optionally fused with the RMSNorm that
 * precedes the product. cl/matmul.cl holds the float-activation products.
 *
 * Layouts (activations f32, row-major, T tokens):
 *   W: [rows, cols] weight in ggml block form, cols a multiple of 32, of 256 for the
 *      K-quants (host-checked); row r starts at byte r * row_bytes(cols):
 *        q8_0 {f16 d; i8 q[32]}      34 B / 32 elems, w = d*q
 *        q4_0 {f16 d; u8 q[16]}      18 B / 32 elems, w = d*(nib-8)
 *        q4_1 {f16 d, m; u8 q[16]}   20 B / 32 elems, w = d*nib + m
 *        q5_0 {f16 d; u8 qh[4]; u8 q[16]}    22 B / 32 elems, w = d*(q5-16)
 *        q5_1 {f16 d, m; u8 qh[4]; u8 q[16]} 24 B / 32 elems, w = d*q5 + m
 *      (element j < 16 of a 4- or 5-bit block is the low nibble of q[j], j >= 16 the
 *      high nibble of q[j-16]; q5 adds bit j of the little-endian u32 qh as bit 4).
 *      K-quants: super-blocks of 256 elements = 8 sub-blocks of 32 with their own scales
 *      (layouts as in cl/matmul.cl's header):
 *        q4_k 144 B, w = d*s_j*q4 - dmin*m_j;  q5_k 176 B, w = d*s_j*q5 - dmin*m_j;
 *        q6_k 210 B, w = d*sc*(q6-32), one 8-bit sc per 16 elements.
 *      Scales are read as f16 bits; an inf / NaN scale (never in a ggml file) is not
 *      propagated.
 *   x: [T, x_stride] floats, the first cols of each token row are used.
 *   y: [T, y_stride] floats, the first rows of each token row are written:
 *      y[t, r] = (accumulate ? y[t, r] : 0) + sum_k W[r, k] * xq[t, k]
 *   ffn_swiglu: Wg, Wu: [rows, cols]; h: [T, h_stride]:
 *      h[t, r] = act(Wg[r].xq_t) * (Wu[r].xq_t), act = silu(g) = g / (1 + exp(-g)), or
 *      with the build option -DFFN_GELU (Gemma's GeGLU) ggml's gelu_tanh(g) =
 *      0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
 *   xq: the activation quantized per 32-element block exactly as ggml's
 *      quantize_row_q8_0_ref: d = max|v| / 127, q = roundf(v * (1 / d)) (0 when d = 0),
 *      xq = d * q; d stays f32 (ggml rounds the stored d to f16). v = x, or for the
 *      _norm kernels v = x * inv_t * gw with inv_t = 1 / sqrt(mean_k(x[t, k]^2) + eps)
 *      over the cols of the row (gw: [cols] f32, the norm weight): y = W q8(rmsnorm(x) gw).
 *      For q4_1, as ggml's q8_1, each block also keeps s = d * sum(q), and the min
 *      term of the block is m * s (q5_1, q4_k, q5_k likewise).
 *   Each block product is an exact integer sum of 32 products, scaled by d_w * d_x
 *   (float) and accumulated in float. For the K-quants the block is the sub-block: its
 *   d_w = d * s_j (q6_k: the two halves' integer sums times their 8-bit scales, added as
 *   integers, then times d), min term (off * d * s_j - dmin * m_j) * s_x, where off (8 for
 *   q4_k, 16 for q5_k, as for q4_1 / q5_1) makes the integer weights signed.
 *
 * Kernels, for TY in q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k:
 *   matmul_TY_q8(W, x, y, rows, cols, T, x_stride, y_stride, accumulate, scratch)
 *   matmul_TY_q8_norm(W, x, y, rows, cols, T, x_stride, y_stride, accumulate,
 *                     gw, float eps, scratch)
 *   ffn_swiglu_TY_q8(Wg, Wu, x, h, rows, cols, T, x_stride, h_stride, scratch)
 *   ffn_swiglu_TY_q8_norm(Wg, Wu, x, h, rows, cols, T, x_stride, h_stride, gw, eps,
 *                         scratch)
 *   scratch: __local, MQ_SCRATCH_BYTES(cols) = MM_TT * cols * 2.25 bytes (a kernel
 *   argument set with a size and no data): the group's quantized token tile.
 * NDRange ("row", the CPU pattern): global = (rows rounded up to a multiple of the
 *   local size, ceil(T / MM_TT)), local = (L, 1) for any L (required: the group
 *   shares the quantized tile). The group first quantizes its MM_TT tokens into
 *   scratch (every group redoes it; with _norm it first sums the squares of each
 *   token row), then work-item (r, j) computes row r for those tokens walking the
 *   row's blocks contiguously. Larger L repeats the quantization less often (each
 *   costs ~40 ns per block of cols on PoCL) and the driver dispatches fewer groups, but
 *   leaves fewer groups to share out: on PoCL's 2 threads about two groups per thread
 *   was best for a token (576 rows: 3 groups of 192 ran 15-18% faster than 9 of 64).
 *   The untuned local size on every device type is declared by fit= (two groups per
 *   compute unit for the product's rows, a multiple of 32 up to 256); the planner also
 *   tries the declared local sizes:
 * @variant row kernels=matmul_TY_q8,matmul_TY_q8_norm,ffn_swiglu_TY_q8,ffn_swiglu_TY_q8_norm local=64,128,192,256,384,512 device=any fit=2,32,256
 * Tunables: MQ_U8 (default 1 on x86 with AVX2, else 0) the x86 form of the products;
 *   HALF_F16C (default 1 where the compiler targets F16C) the vcvtph2ps scale decode.
 *   HALF_DENORM 1 decodes the f16 scales with a shift and one multiply by 2^112,
 *   which is exact for subnormal scales only where the device keeps float denormals
 *   (the host sets it when the device reports CL_FP_DENORM; llvmpipe flushes them): 7
 *   instructions and a branch less per block, 1-5% on PoCL. Default 0: a select.
 *   MM_TT tokens per work-item (default 4; 1 for a single token, where larger
 *   tiles idle; 8, which fits the 16 AVX2 registers, is 5-20% faster than 4 for
 *   prompts on PoCL, but llvm-spirv 14 emits an invalid module for it, as for
 *   matmul.cl: build it from source). The scratch must fit the device's local memory
 *   (llvmpipe: 32 KiB, i.e. MM_TT * cols <= 14336).
 *   Per-type builds: with -DCLG_ONE_TY the program holds only the kernels of the types
 *   named by -DCLG_TY_<TY> (one or more, e.g. -DCLG_TY_q4_k): a smaller program builds
 *   faster (the planner passes its kind's type); with -DMQ_X8_ONLY=1 only the x8 kernels.
 *
 * How the integer dot compiles (PoCL 3.1 / LLVM 15, AVX2): the activations are kept
 * as short16 in local memory and each 16-element half-block is written as the even /
 * odd pair product that LLVM matches to vpmaddwd; the weights are sign-extended
 * (vpmovsxbw) once per block for all MM_TT tokens. Two things keep the match: the
 * token loop is unrolled into one basic block (no per-token branch: the tail of the
 * last tile is quantized as zeros instead), and the two halves' sums are joined
 * through an xor with a run-time zero, since LLVM would otherwise reassociate the four
 * products of the int add and lose the pattern (falling back to vpmulld on widened
 * halves, 2x slower). vload on __local short pointers came out as 2-element pieces,
 * hence the vector-typed scratch. PoCL's vload_half is a branchy software routine,
 * hence half_bits(). That is the generic form (SPIR-V, rusticl, any device without
 * AVX2); on x86 with AVX2 (PoCL's CPU device) the kernels take the x86 form (MQ_U8,
 * below): 32-lane vectors (a clang extension) of unsigned weights against the signed
 * 8-bit activations, one vpmaddubsw and one vpmaddwd per block and token, called as
 * clang's builtins; the scratch then holds the activations as char32 (the same size
 * argument, half of it used), and with F16C the scales are decoded by vcvtph2ps.
 * Measured on 2026-12-05 on a 2-vCPU EPYC (matmul_bench, _norm kernels, cold weights,
 * medians of interleaved runs against the generic form with the select decode):
 * decode (MM_TT 1) q4_0 1536x576 SwiGLU 160 -> 123 us, q4_1 206 -> 132, q5_0 205 ->
 * 182, q4_k 640x2048 130 -> 76, q6_k 141 -> 100; tiles (MM_TT 8) q4_1 468 -> 371, q8_0
 * 983 -> 900, q4_k 330 -> 265, q6_k 519 -> 379. Of that, vcvtph2ps alone gave 5-15%.
 * Tried and lost: walking a row's blocks in pairs and adding the two scaled block
 * products before they join the sums (half the chain of dependent float adds): 2-6%
 * slower with one token, 3-15% with MM_TT 8 (register spills); #pragma unroll 2 of the
 * block loop: within 1-2%, no gain. Writing vpmaddubsw as the saturated pair-sum
 * pattern that LLVM matches: LLVM drops the saturation, and the match, where it knows
 * the weights' range (4- to 6-bit), and a vpmaddwd by ones after it came out as vpmulld.
 */

#ifndef MM_TT
#define MM_TT 4
#endif

#if MM_TT < 1
#error "MM_TT must be at least 1"
#endif
#ifndef HALF_DENORM
#define HALF_DENORM 0
#endif
#ifndef MQ_MOFF /* 1: q4_0 / q5_0 (x86 form) scale the row's min sum once (MSUM_TY) */
#define MQ_MOFF 1
#endif
/* MQ_U8 1: the x86 form of the block products (see "x86: unsigned weights" below). */
#ifndef MQ_U8
#if defined(__x86_64__) && defined(__AVX2__)
#define MQ_U8 1
#else
#define MQ_U8 0
#endif
#endif

#if MQ_U8
/* 32-lane vectors (a clang extension: no SPIR-V, hence x86 only) */
typedef uchar uchar32 __attribute__((ext_vector_type(32)));
typedef char char32 __attribute__((ext_vector_type(32)));
typedef short short32 __attribute__((ext_vector_type(32)));
typedef int int32v __attribute__((ext_vector_type(32)));
/* a block of one token's quantized activations in scratch, XQN of them per block */
typedef char32 xq_t;
#define XQN 1
#else
typedef short16 xq_t;
#define XQN 2
#endif

/* Bytes of the scratch argument: MM_TT * cols shorts, then 2 * MM_TT * cols / 32 floats. */
#define MQ_SCRATCH_BYTES(cols) \
    ((size_t)MM_TT * (size_t)(cols) * 2 + (size_t)MM_TT * (size_t)((cols) / 32) * 8)

/* Forced so that the per-token accumulator arrays become registers; unused: a one-type
 * build (CLG_ONE_TY) leaves some shared helpers unused. */
#define INLINE static inline __attribute__((always_inline, unused))

INLINE float hsum8(float8 v) {
    float4 a = v.lo + v.hi;
    float2 c = a.lo + a.hi;
    return c.x + c.y;
}

INLINE int hsumi8(int8 v) {
    int4 a = v.lo + v.hi;
    int2 c = a.lo + a.hi;
    return c.x + c.y;
}

INLINE float8 max8(float8 a, float8 b) { return a > b ? a : b; }

/* ---- activation quantization ----------------------------------------------
 * The group's tile, in scratch: xq[(b * MM_TT + t) * 2 + {0, 1}] the 32 quantized values
 * of block b of token t as two short16, then xd[b * MM_TT + t] = d, then
 * xs[b * MM_TT + t] = s = d * sum q (block-major: a block's tokens are adjacent). */

/* roundf(v) for |v| < 2^23: add 0.5 - 2^-25 with v's sign, then truncate (the
 * OpenCL round() builtin is a long software sequence on PoCL). */
INLINE int8 round8(float8 v) {
    return convert_int8(v + as_float8((as_uint8(v) & 0x80000000u) | as_uint(0.49999997f)));
}

/* One block: v = xp[0..32) (times sc * gp[0..32) when gp is given). */
INLINE void quant_block(__global const float *xp, __global const float *gp, float sc,
                        __local xq_t *q, __local float *dp, __local float *sp, __local int *ip) {
    float8 v0 = vload8(0, xp), v1 = vload8(1, xp), v2 = vload8(2, xp), v3 = vload8(3, xp);
    if (gp) {
        v0 = v0 * sc * vload8(0, gp);
        v1 = v1 * sc * vload8(1, gp);
        v2 = v2 * sc * vload8(2, gp);
        v3 = v3 * sc * vload8(3, gp);
    }
    float8 a = max8(max8(fabs(v0), fabs(v1)), max8(fabs(v2), fabs(v3)));
    float4 a4 = a.lo > a.hi ? a.lo : a.hi;
    float2 a2 = a4.lo > a4.hi ? a4.lo : a4.hi;
    float d = (a2.x > a2.y ? a2.x : a2.y) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int8 q0 = round8(v0 * id), q1 = round8(v1 * id), q2 = round8(v2 * id), q3 = round8(v3 * id);
#if MQ_U8
    q[0] = (char32)(convert_char8(q0), convert_char8(q1), convert_char8(q2), convert_char8(q3));
#else
    q[0] = (short16)(convert_short8(q0), convert_short8(q1));
    q[1] = (short16)(convert_short8(q2), convert_short8(q3));
#endif
    int isum = hsumi8(q0 + q1 + q2 + q3);
    *dp = d;
    *sp = d * (float)isum;
    if (ip) *ip = isum;
}

#if MQ_U8
/* The x86 form also keeps each d as a float8 of 8 copies, in the half of the activations'
 * space that char32 leaves (xq: [MM_TT * nb] char32 within [MM_TT * nb * 2] short16): the
 * scale of a block product is then one vmulps by memory where the scalar product and its
 * broadcast were one instruction more per block and token. Both give the same float, so
 * MQ_XD8 picks per tile size: with MM_TT 8 the copies were 9% faster for q4_1, q5_0 and
 * q8_0 (1536x576 SwiGLU, 2026-12-05, 2-vCPU EPYC), even for q4_k / q6_k; with one token
 * (the weight scale broadcast per block anyway) even to 11% slower (q4_k). */
#define XD8(xq, nb) ((__local float8 *)((xq) + MM_TT * (nb)))
#ifndef MQ_XD8 /* 1 (float8 copies) for tiles, 0 (a scalar product) for one token */
#define MQ_XD8 (MM_TT > 1)
#endif
#define XD_ROW(xq, xd, nb) (MQ_XD8 ? (__local float *)XD8(xq, nb) : (xd))
#else
#define XD_ROW(xq, xd, nb) (xd)
#endif

/* Quantizes tokens [0, nt) of x (rows x_stride apart) into the tile, zeros for
 * [nt, MM_TT). With gw, each row is first RMS-normalized and multiplied by gw. Every
 * item of the group calls it (it holds barriers). */
INLINE void quant_tile(__global const float *x, int x_stride, int nt, int cols,
                       __global const float *gw, float eps, __local xq_t *xq,
                       __local float *xd, __local float *xs, __local float *inv,
                       __local int *xi) {
    int nb = cols / 32, lid = get_local_id(0), L = get_local_size(0);
#if MQ_U8 && MQ_XD8
    __local float8 *xd8 = xi ? 0 : XD8(xq, nb);
#endif
    if (gw && lid < nt) {
        __global const float *xt = x + lid * x_stride;
        float8 s = 0.0f;
        for (int k = 0; k < cols; k += 8) {
            float8 v = vload8(0, xt + k);
            s += v * v;
        }
        inv[lid] = 1.0f / sqrt(hsum8(s) / (float)cols + eps);
    }
    /* unconditional: a barrier under a run-time condition (gw) makes pocl replicate the
     * rest of the kernel, which about doubles its compile time */
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = 0; t < MM_TT; t++)
        for (int b = lid; b < nb; b += L) {
            int j = b * MM_TT + t;
            if (t < nt) {
                quant_block(x + t * x_stride + b * 32, gw ? gw + b * 32 : 0, gw ? inv[t] : 1.0f,
                            xq + XQN * j, xd + j, xs + j, xi ? xi + j : 0);
            } else { /* the products take every token of the tile, without a test */
                for (int h = 0; h < XQN; h++) xq[XQN * j + h] = (xq_t)(0);
                xd[j] = xs[j] = 0.0f;
                if (xi) xi[j] = 0;
            }
#if MQ_U8 && MQ_XD8
            if (xd8) xd8[j] = (float8)(xd[j]);
#endif
        }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* ---- per-type block products ----------------------------------------------
 * blk_TY(row, b, xq, xd, zero, acc, macc): acc[t] += d_w * d_x * (the integer dot of
 * block b of the row with token t's block b) for every t < MM_TT, as a float8 partial
 * sum (the horizontal sum is taken once per row); q4_1 adds m * s to macc[t].
 * A call covers blocks b .. b + BSTEP_TY - 1 (1, or 8 for the K-quants' super-block).
 * zero: a run-time 0 (see the header). RB_TY(cols): bytes of one row. */

/* f16 bits to float, exact for normal and subnormal values: by default without relying
 * on the device's denormal support (llvmpipe has none), with HALF_DENORM by scaling. */
#ifndef HALF_F16C
#ifdef __F16C__
#define HALF_F16C 1
#else
#define HALF_F16C 0
#endif
#endif
#if HALF_F16C
/* x86 with F16C: one vcvtph2ps */
INLINE float half_bits(__global const uchar *p) {
    short8 h = (short8)(*(__global const short *)p);
    return __builtin_ia32_vcvtph2ps(h)[0];
}
#else
INLINE float half_bits(__global const uchar *p) {
    uint u = *(__global const ushort *)p;
#if HALF_DENORM
    return as_float(((u & 0x8000u) << 16) | ((u & 0x7fffu) << 13)) * 0x1p112f;
#else
    uint m = u & 0x7fffu;
    float f = m < 0x400u ? (float)m * 0x1p-24f : as_float((m << 13) + 0x38000000u);
    return as_float(as_uint(f) | ((u & 0x8000u) << 16));
#endif
}
#endif

/* The two f16 values at p (4-byte aligned): a q4_1 / q5_1 block's d and m, a K-quant
 * super-block's d and dmin. */
#if HALF_F16C
INLINE float2 half2_bits(__global const uchar *p) {
    short2 h = as_short2(*(__global const uint *)p);
    typedef float v4sf __attribute__((vector_size(16)));
    v4sf f = __builtin_ia32_vcvtph2ps((short8)(h, 0, 0, 0, 0, 0, 0));
    return (float2)(f[0], f[1]);
}
#else
INLINE float2 half2_bits(__global const uchar *p) {
    return (float2)(half_bits(p), half_bits(p + 2));
}
#endif

/* Pair products of 16 shorts summed pairwise into 8 ints (vpmaddwd); exact for
 * operands of at most 8 bits. */
INLINE int8 dot16(short16 a, short16 b) {
    return convert_int8(a.even) * convert_int8(b.even) + convert_int8(a.odd) * convert_int8(b.odd);
}

/* The 32-element block dot of weights (w0, w1) with token t of the tile. */
#define BLOCK_DOT(t) (dot16(w0, xq[2 * (t)]) + (dot16(w1, xq[2 * (t) + 1]) ^ zero))

/* SCALE(t, d): the scale of token t's block product, d_w * d_x, one scalar product then
 * one vector multiply-add, the same with one token (MM_TT 1) as with a tile: a token's row
 * is then bit for bit the same in a decode step and in a batch (llm_model_eval_batch's
 * sequences decoded together give each one's text alone; ops.llama_seqs checks it).
 * (Multiplying the partial sums by d_x then by d_w was ~3% faster for tiles on PoCL but
 * rounded differently from the one-token kernels.) */
#define SCALE(t, d) (xd[t] * (d))

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k) || defined(CLG_TY_q5_k)
/* The 8 sub-blocks' 6-bit scales (sc) and mins (mn) from the 12 scale bytes s, as
 * ggml's get_scale_min_k4 for j = 0 .. 7. */
INLINE void scale_min_k4x8(__global const uchar *s, float8 *sc, float8 *mn) {
    uchar4 a = vload4(0, s), b = vload4(1, s), c = vload4(2, s);
    uchar4 sl = a & (uchar4)(63), ml = b & (uchar4)(63);
    uchar4 sh = (c & (uchar4)(15)) | ((a >> (uchar4)(6)) << (uchar4)(4));
    uchar4 mh = (c >> (uchar4)(4)) | ((b >> (uchar4)(6)) << (uchar4)(4));
    *sc = convert_float8((uchar8)(sl, sh));
    *mn = convert_float8((uchar8)(ml, mh));
}
#endif

#if !MQ_U8

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q8_0)
#define RB_q8_0(cols) ((size_t)((cols) / 32) * 34)
#define BSTEP_q8_0 1
INLINE void blk_q8_0(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)b * 34;
    float d = half_bits(p);
    __global const char *q = (__global const char *)(p + 2);
    short16 w0 = convert_short16(vload16(0, q)), w1 = convert_short16(vload16(1, q));
    xq += b * MM_TT * 2;
    xd += b * MM_TT;
    xs += b * MM_TT;
#pragma unroll
    for (int t = 0; t < MM_TT; t++) acc[t] += convert_float8(BLOCK_DOT(t)) * SCALE(t, d);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_0)
#define RB_q4_0(cols) ((size_t)((cols) / 32) * 18)
#define BSTEP_q4_0 1
INLINE void blk_q4_0(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)b * 18;
    float d = half_bits(p);
    uchar16 q = vload16(0, p + 2);
    short16 w0 = convert_short16(q & (uchar16)(15)) - (short16)(8);
    short16 w1 = convert_short16(q >> (uchar16)(4)) - (short16)(8);
    xq += b * MM_TT * 2;
    xd += b * MM_TT;
    xs += b * MM_TT;
#pragma unroll
    for (int t = 0; t < MM_TT; t++) acc[t] += convert_float8(BLOCK_DOT(t)) * SCALE(t, d);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_1)
#define RB_q4_1(cols) ((size_t)((cols) / 32) * 20)
#define BSTEP_q4_1 1
INLINE void blk_q4_1(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)b * 20;
    /* d*nib + m = d*(nib - 8) + (m + 8d): signed 8-bit weights as for q4_0 (with the
     * unsigned nibbles LLVM splits each vpmaddwd in two), the min term on s */
    float d = half_bits(p), m = half_bits(p + 2) + 8.0f * d;
    uchar16 q = vload16(0, p + 4);
    short16 w0 = convert_short16(q & (uchar16)(15)) - (short16)(8);
    short16 w1 = convert_short16(q >> (uchar16)(4)) - (short16)(8);
    xq += b * MM_TT * 2;
    xd += b * MM_TT;
    xs += b * MM_TT;
#pragma unroll
    for (int t = 0; t < MM_TT; t++) {
        acc[t] += convert_float8(BLOCK_DOT(t)) * SCALE(t, d);
        macc[t] += m * xs[t];
    }
}
#endif

/* The 16 fifth bits (0 or 16) of elements s .. s + 15 of a q5_0 / q5_1 block: bits s .. s + 15
 * of its little-endian u32 qh. */
INLINE short16 fifth16(uint qh, int s) {
    /* one bit per 16-bit lane by a mask and a compare: AVX2 has no per-lane 16-bit shift
     * (emulated, it halved the q5 products' speed), and a uint16 vector would not fit its
     * registers (PoCL warns of the ABI) */
    ushort16 bit = (ushort16)((ushort)(qh >> s)) &
                   (ushort16)(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                              16384, 32768);
    return (short16)(bit != (ushort16)(0)) & (short16)(16);
}
INLINE uint ld_u32(__global const uchar *p) {
    return (uint)p[0] | (uint)p[1] << 8 | (uint)p[2] << 16 | (uint)p[3] << 24;
}

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_0)
#define RB_q5_0(cols) ((size_t)((cols) / 32) * 22)
#define BSTEP_q5_0 1
INLINE void blk_q5_0(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)b * 22;
    float d = half_bits(p);
    uint qh = ld_u32(p + 2);
    uchar16 q = vload16(0, p + 6);
    short16 w0 = (convert_short16(q & (uchar16)(15)) | fifth16(qh, 0)) - (short16)(16);
    short16 w1 = (convert_short16(q >> (uchar16)(4)) | fifth16(qh, 16)) - (short16)(16);
    xq += b * MM_TT * 2;
    xd += b * MM_TT;
    xs += b * MM_TT;
#pragma unroll
    for (int t = 0; t < MM_TT; t++) acc[t] += convert_float8(BLOCK_DOT(t)) * SCALE(t, d);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_1)
#define RB_q5_1(cols) ((size_t)((cols) / 32) * 24)
#define BSTEP_q5_1 1
INLINE void blk_q5_1(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)b * 24;
    /* d*q + m = d*(q - 16) + (m + 16d), as q4_1 */
    float d = half_bits(p), m = half_bits(p + 2) + 16.0f * d;
    uint qh = ld_u32(p + 4);
    uchar16 q = vload16(0, p + 8);
    short16 w0 = (convert_short16(q & (uchar16)(15)) | fifth16(qh, 0)) - (short16)(16);
    short16 w1 = (convert_short16(q >> (uchar16)(4)) | fifth16(qh, 16)) - (short16)(16);
    xq += b * MM_TT * 2;
    xd += b * MM_TT;
    xs += b * MM_TT;
#pragma unroll
    for (int t = 0; t < MM_TT; t++) {
        acc[t] += convert_float8(BLOCK_DOT(t)) * SCALE(t, d);
        macc[t] += m * xs[t];
    }
}
#endif

/* K-quants: blk_TY is called for the first block b of each 256-element super-block
 * (BSTEP_TY = 8 blocks per call) and walks its 8 sub-blocks, which line up with the
 * activation's blocks b .. b + 7: the scales are decoded once per super-block and each
 * quant byte is loaded once (a 4-bit byte holds an element of sub-block 2i in its low
 * and of 2i + 1 in its high nibble), so that every shift is a constant (a call per
 * sub-block decoded its scale with a branch, loaded the 32 bytes twice and shifted them
 * by a variable amount: on PoCL it read the weights at 18-19% of the bandwidth, where
 * q8_0 reaches 71%; docs/PERF.md). Each sub-block's own scale times d_x scales its
 * integer dot; the min term (and the offset that makes the weights signed, as for q4_1)
 * goes on s. */

/* Sub-block J (a constant) of a K-quant super-block with the signed weights (w0, w1):
 * acc[t] += D * d_x * dot, macc[t] += M * s_x (xq / xd / xs at the super-block's first
 * block). */
#define KSUB(J, D, M)                                                                      \
    do {                                                                                   \
        _Pragma("unroll") for (int t = 0; t < MM_TT; t++) {                                \
            acc[t] += convert_float8(dot16(w0, xq[((J)*MM_TT + t) * 2]) +                  \
                                     (dot16(w1, xq[((J)*MM_TT + t) * 2 + 1]) ^ zero)) *    \
                      SCALE((J)*MM_TT + t, D);                                             \
            macc[t] += (M)*xs[(J)*MM_TT + t];                                              \
        }                                                                                  \
    } while (0)

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k) || defined(CLG_TY_q5_k)

/* Sub-blocks 2I (low nibbles) and 2I + 1 (high nibbles) of a q4_k / q5_k super-block:
 * the 32 quant bytes qs[32I ..], with Q5_K (HAS_QH) the fifth bits 2I, 2I + 1 of the
 * 32 bytes (ha, hb); D0/M0, D1/M1 the two sub-blocks' scale and min-term factor. */
#define K45_PAIR(I, HAS_QH, D0, M0, D1, M1)                                               \
    do {                                                                                   \
        uchar16 qa = vload16(0, qs + 32 * (I)), qb = vload16(1, qs + 32 * (I));            \
        uchar16 la = qa & (uchar16)(15), lb = qb & (uchar16)(15);                          \
        uchar16 ua = qa >> (uchar16)(4), ub = qb >> (uchar16)(4);                          \
        if (HAS_QH) {                                                                      \
            la |= ((ha >> (uchar16)(2 * (I))) & (uchar16)(1)) << (uchar16)(4);             \
            lb |= ((hb >> (uchar16)(2 * (I))) & (uchar16)(1)) << (uchar16)(4);             \
            ua |= ((ha >> (uchar16)(2 * (I) + 1)) & (uchar16)(1)) << (uchar16)(4);         \
            ub |= ((hb >> (uchar16)(2 * (I) + 1)) & (uchar16)(1)) << (uchar16)(4);         \
        }                                                                                  \
        short16 w0 = convert_short16(la) - (short16)(off);                                 \
        short16 w1 = convert_short16(lb) - (short16)(off);                                 \
        KSUB(2 * (I), D0, M0);                                                             \
        w0 = convert_short16(ua) - (short16)(off);                                         \
        w1 = convert_short16(ub) - (short16)(off);                                         \
        KSUB(2 * (I) + 1, D1, M1);                                                         \
    } while (0)

/* Q4_K (HAS_QH 0) and Q5_K: w = d sc q - dmin m with q of 4 (5) bits; written as
 * d sc (q - off) + (off d sc - dmin m), off = 8 (16). p: the super-block, qs its 128
 * quant bytes, qh (Q5_K) its 32 fifth-bit bytes (bit j of qh[l]: element l of
 * sub-block j). */
#define K45_SUPER(HAS_QH, OFF)                                                            \
    do {                                                                                   \
        const short off = (OFF);                                                           \
        float8 sc, mn;                                                                     \
        scale_min_k4x8(p + 4, &sc, &mn);                                                   \
        float8 ds = half_bits(p) * sc;                                                     \
        float8 mm = (float)(OFF) * ds - half_bits(p + 2) * mn;                             \
        uchar16 ha = (uchar16)(0), hb = (uchar16)(0);                                      \
        if (HAS_QH) {                                                                      \
            ha = vload16(0, qh);                                                           \
            hb = vload16(1, qh);                                                           \
        }                                                                                  \
        xq += b * MM_TT * 2;                                                               \
        xd += b * MM_TT;                                                                   \
        xs += b * MM_TT;                                                                   \
        K45_PAIR(0, HAS_QH, ds.s0, mm.s0, ds.s1, mm.s1);                                   \
        K45_PAIR(1, HAS_QH, ds.s2, mm.s2, ds.s3, mm.s3);                                   \
        K45_PAIR(2, HAS_QH, ds.s4, mm.s4, ds.s5, mm.s5);                                   \
        K45_PAIR(3, HAS_QH, ds.s6, mm.s6, ds.s7, mm.s7);                                   \
    } while (0)
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k)
#define RB_q4_k(cols) ((size_t)((cols) / 256) * 144)
#define BSTEP_q4_k 8
INLINE void blk_q4_k(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)(b >> 3) * 144, *qs = p + 16, *qh = p;
    K45_SUPER(0, 8);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_k)
#define RB_q5_k(cols) ((size_t)((cols) / 256) * 176)
#define BSTEP_q5_k 8
INLINE void blk_q5_k(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)(b >> 3) * 176, *qs = p + 48, *qh = p + 16;
    K45_SUPER(1, 16);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q6_k)
#define RB_q6_k(cols) ((size_t)((cols) / 256) * 210)
#define BSTEP_q6_k 8
/* Sub-block j = 4n + k: low bits from ql[64n + 32(k & 1) + l] (nibble k >> 1), high bits
 * (qh[32n + l] >> 2k) & 3, w = d sc (q - 32) with scales sc[8n + 2k] for l < 16 and
 * sc[8n + 2k + 1] for l >= 16: each half's integer dot times its 8-bit scale, summed as
 * integers (|sum| < 2^21), then one float scale d * d_x. Per half n of the super-block
 * the 64 ql and 32 qh bytes are loaded once for its 4 sub-blocks. */
#define Q6_SUB(J, LO, HI, LS, HS)                                                          \
    do {                                                                                   \
        short16 w0 = convert_short16(((LO##a >> (uchar16)(LS)) & (uchar16)(15)) |          \
                                     (((ha >> (uchar16)(HS)) & (uchar16)(3)) << (uchar16)(4))) - \
                     (short16)(32);                                                        \
        short16 w1 = convert_short16(((LO##b >> (uchar16)(LS)) & (uchar16)(15)) |          \
                                     (((hb >> (uchar16)(HS)) & (uchar16)(3)) << (uchar16)(4))) - \
                     (short16)(32);                                                        \
        int s0 = sc[2 * (J)], s1 = sc[2 * (J) + 1];                                        \
        _Pragma("unroll") for (int t = 0; t < MM_TT; t++) {                                \
            int8 v = dot16(w0, xq[((J)*MM_TT + t) * 2]) * s0 +                             \
                     (dot16(w1, xq[((J)*MM_TT + t) * 2 + 1]) ^ zero) * s1;                 \
            acc[t] += convert_float8(v) * SCALE((J)*MM_TT + t, d);                         \
        }                                                                                  \
    } while (0)
INLINE void blk_q6_k(__global const uchar *row, int b, __local const xq_t *xq,
                     __local const float *xd, __local const float *xs, int zero,
                     float8 *acc, float *macc) {
    __global const uchar *p = row + (size_t)(b >> 3) * 210;
    __global const char *sc = (__global const char *)(p + 192);
    float d = half_bits(p + 208);
    xq += b * MM_TT * 2;
    xd += b * MM_TT;
#pragma unroll
    for (int n = 0; n < 2; n++) {
        __global const uchar *ql = p + 64 * n, *qh = p + 128 + 32 * n;
        uchar16 pa = vload16(0, ql), pb = vload16(1, ql);
        uchar16 qa = vload16(2, ql), qb = vload16(3, ql);
        uchar16 ha = vload16(0, qh), hb = vload16(1, qh);
        Q6_SUB(0, p, 0, 0, 0);
        Q6_SUB(1, q, 0, 0, 2);
        Q6_SUB(2, p, 0, 4, 4);
        Q6_SUB(3, q, 0, 4, 6);
        xq += 4 * MM_TT * 2;
        xd += 4 * MM_TT;
        sc += 8;
    }
}
#endif

#else
/* ---- x86: unsigned weights against signed 8-bit activations -----------------
 * The activations are kept as char32 (one block of one token) and the weights of the
 * 4- to 6-bit types as their unsigned quants (0 .. 63), so that a block's 32 products
 * are one vpmaddubsw (u8 x s8 pair products summed into 16 shorts; |sum| <= 2*63*127,
 * never saturated) and one vpmaddwd by a run-time vector of ones (the 16 shorts summed
 * pairwise into 8 ints): int lane i holds the products of elements 4i .. 4i + 3. The
 * offset that the signed form took off the quants (8 for q4_0, 16 for q5_0, 32 for
 * q6_k) moves to the min term on s = d_x * sum(q), as q4_1 keeps it: w = d*q + m with
 * m = -8d (q4_0), -16d (q5_0), m (q4_1, q5_1), -dmin*m_j (q4_k, q5_k). q8_0 (signed
 * weights) multiplies |w| by x with w's sign (as llama.cpp's AVX2 q8_0 dot). q6_k keeps
 * exact signed sums per 16 elements: the vpmaddubsw of 32 times x is subtracted from
 * that of q6 before the vpmaddwd by the two 8-bit scales. */

/* The AVX2 instructions, called as clang's builtins (LLVM matches vpmaddubsw from the
 * saturated pair sums, but it drops the saturation and the match where it knows the
 * weights' range, and after a matched vpmaddubsw it found no vpmaddwd). */
typedef char v32qi __attribute__((vector_size(32)));
typedef short v16hi __attribute__((vector_size(32)));
typedef int v8si __attribute__((vector_size(32)));
/* vpmaddubsw: the 16 pair sums w[2i] x[2i] + w[2i+1] x[2i+1], u8 w times s8 x */
INLINE short16 madd_us(uchar32 w, char32 x) {
    return __builtin_astype(
        __builtin_ia32_pmaddubsw256(__builtin_astype(w, v32qi), __builtin_astype(x, v32qi)),
        short16);
}
/* vpmaddwd: the 8 pair sums a[2i] b[2i] + a[2i+1] b[2i+1] */
INLINE int8 madd_ss(short16 a, short16 b) {
    return __builtin_astype(
        __builtin_ia32_pmaddwd256(__builtin_astype(a, v16hi), __builtin_astype(b, v16hi)), int8);
}
#define DOT_US(w, x) madd_ss(madd_us(w, x), one)
/* d_x * d_w as a float8, from d_x's 8 copies (XD8): the same product as SCALE */
#if MQ_XD8
#define SCALE8(j, d) (xd8[j] * (float8)(d))
#else
#define SCALE8(j, d) (xd1[j] * (d))
#endif

/* The MM_TT token products of one block (or sub-block J of a K-quant super-block) with
 * the unsigned weights w, scale D, min factor M. */
#define U8_TOKENS(J, w, D, M)                                                              \
    do {                                                                                   \
        _Pragma("unroll") for (int t = 0; t < MM_TT; t++) {                                \
            acc[t] +=                                                                      \
                convert_float8(DOT_US(w, xq[(J)*MM_TT + t])) * SCALE8((J)*MM_TT + t, D);   \
            macc[t] += (M)*xs[(J)*MM_TT + t];                                              \
        }                                                                                  \
    } while (0)

INLINE uchar32 cat16(uchar16 a, uchar16 b);
INLINE uchar32 vload32u(__global const uchar *p) { return cat16(vload16(0, p), vload16(1, p)); }
INLINE char32 vload32c(__global const uchar *p) { return __builtin_astype(vload32u(p), char32); }
INLINE uchar32 cat16(uchar16 a, uchar16 b) {
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
}
/* The 32 weights of a 4-bit block: low nibbles, then high nibbles (one vpsrlvd). */
INLINE uchar32 nib32(uchar16 q) {
    uint4 u = as_uint4(q);
    uint8 v = __builtin_shufflevector(u, u, 0, 1, 2, 3, 0, 1, 2, 3);
    v >>= (uint8)(0, 0, 0, 0, 4, 4, 4, 4);
    return __builtin_astype(v, uchar32) & (uchar32)(15);
}
/* 16 where bit j of the little-endian u32 qh is set, per lane j. */
INLINE uchar32 fifth32(uint qh) {
    uchar4 b = as_uchar4(qh);
    uchar32 r = __builtin_shufflevector(b, b, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2,
                                        2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    uchar32 bit = r & (uchar32)(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2,
                                4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    return __builtin_astype(bit != (uchar32)(0), uchar32) & (uchar32)(16);
}
INLINE uint ld_u32(__global const uchar *p) {
    return (uint)p[0] | (uint)p[1] << 8 | (uint)p[2] << 16 | (uint)p[3] << 24;
}

#define BLK_ARGS                                                                           \
    __global const uchar *row, int b, __local const xq_t *xq, __local const float *xd,     \
        __local const float *xs, int zero, float8 *acc, float *macc
#define BLK_START(BYTES)                                                                   \
    __global const uchar *p = row + (size_t)b * (BYTES);                                   \
    const short16 one = (short16)(1);                                                      \
    __local const float8 *xd8 = (__local const float8 *)xd + b * MM_TT;                   \
    __local const float *xd1 = xd + b * MM_TT;                                             \
    xq += b * MM_TT;                                                                       \
    xs += b * MM_TT

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q8_0)
#define RB_q8_0(cols) ((size_t)((cols) / 32) * 34)
#define BSTEP_q8_0 1
/* |w| and the sign of w (-1 where w < 0) of the block at P */
#define DEC_q8_0(P, aw, neg, d)                                                            \
    float d = half_bits(P);                                                                \
    char32 neg##_w = vload32c((P) + 2);                                                    \
    char32 neg = neg##_w < (char32)(0);                                                    \
    uchar32 aw = __builtin_astype((neg##_w ^ neg) - neg, uchar32)
#define Q8_DOT(aw, neg, x) convert_float8(DOT_US(aw, ((x) ^ (neg)) - (neg)))
INLINE void blk_q8_0(BLK_ARGS) {
    BLK_START(34);
    DEC_q8_0(p, aw, neg, d);
#pragma unroll
    for (int t = 0; t < MM_TT; t++) acc[t] += Q8_DOT(aw, neg, xq[t]) * SCALE8(t, d);
}
#endif

/* DEC_TY(P, w, d, m): the weights, scale and min factor of the block at P. */
#define DEC_q4_0(P, w, d, m)                                                               \
    float d = half_bits(P), m = MQ_MOFF ? d : -8.0f * d;                                   \
    uchar32 w = nib32(vload16(0, (P) + 2))
#define DEC_q4_1(P, w, d, m)                                                               \
    float2 dm = half2_bits(P);                                                             \
    float d = dm.x, m = dm.y;                                                              \
    uchar32 w = nib32(vload16(0, (P) + 4))
#define DEC_q5_0(P, w, d, m)                                                               \
    float d = half_bits(P), m = MQ_MOFF ? d : -16.0f * d;                                  \
    uchar32 w = nib32(vload16(0, (P) + 6)) | fifth32(ld_u32((P) + 2))
#define DEC_q5_1(P, w, d, m)                                                               \
    float2 dm = half2_bits(P);                                                             \
    float d = dm.x, m = dm.y;                                                              \
    uchar32 w = nib32(vload16(0, (P) + 8)) | fifth32(ld_u32((P) + 4))
#define DEFINE_BLK32(TY, BYTES)                                                            \
    INLINE void blk_##TY(BLK_ARGS) {                                                       \
        BLK_START(BYTES);                                                                  \
        DEC_##TY(p, w, d, m);                                                              \
        U8_TOKENS(0, w, d, m);                                                             \
    }

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_0)
#define RB_q4_0(cols) ((size_t)((cols) / 32) * 18)
#define BSTEP_q4_0 1
DEFINE_BLK32(q4_0, 18)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_1)
#define RB_q4_1(cols) ((size_t)((cols) / 32) * 20)
#define BSTEP_q4_1 1
DEFINE_BLK32(q4_1, 20)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_0)
#define RB_q5_0(cols) ((size_t)((cols) / 32) * 22)
#define BSTEP_q5_0 1
DEFINE_BLK32(q5_0, 22)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_1)
#define RB_q5_1(cols) ((size_t)((cols) / 32) * 24)
#define BSTEP_q5_1 1
DEFINE_BLK32(q5_1, 24)
#endif

/* K-quants: blk_TY is called for the first block b of each 256-element super-block
 * (BSTEP_TY = 8 blocks per call) and walks its 8 sub-blocks, which line up with the
 * activation's blocks b .. b + 7 (as the generic form below). */
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k) || defined(CLG_TY_q5_k)
/* Sub-blocks 2I (low nibbles) and 2I + 1 (high nibbles); with HAS_QH the fifth bits 2I,
 * 2I + 1 of the 32 qh bytes h. */
#define K45_PAIR_U8(I, HAS_QH, D0, M0, D1, M1)                                             \
    do {                                                                                   \
        uchar32 q = vload32u(qs + 32 * (I));                                               \
        uchar32 lo = q & (uchar32)(15), hi = q >> (uchar32)(4);                            \
        if (HAS_QH) {                                                                      \
            lo |= ((h >> (uchar32)(2 * (I))) & (uchar32)(1)) << (uchar32)(4);              \
            hi |= ((h >> (uchar32)(2 * (I) + 1)) & (uchar32)(1)) << (uchar32)(4);          \
        }                                                                                  \
        U8_TOKENS(2 * (I), lo, D0, M0);                                                    \
        U8_TOKENS(2 * (I) + 1, hi, D1, M1);                                                \
    } while (0)
/* w = d sc q - dmin m */
#define K45_SUPER_U8(HAS_QH)                                                               \
    do {                                                                                   \
        float8 sc, mn;                                                                     \
        scale_min_k4x8(p + 4, &sc, &mn);                                                   \
        float2 dm = half2_bits(p);                                                         \
        float8 ds = dm.x * sc, mm = -dm.y * mn;                                            \
        uchar32 h = (uchar32)(0);                                                          \
        if (HAS_QH) h = vload32u(qh);                                                      \
        K45_PAIR_U8(0, HAS_QH, ds.s0, mm.s0, ds.s1, mm.s1);                                \
        K45_PAIR_U8(1, HAS_QH, ds.s2, mm.s2, ds.s3, mm.s3);                                \
        K45_PAIR_U8(2, HAS_QH, ds.s4, mm.s4, ds.s5, mm.s5);                                \
        K45_PAIR_U8(3, HAS_QH, ds.s6, mm.s6, ds.s7, mm.s7);                                \
    } while (0)
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k)
#define RB_q4_k(cols) ((size_t)((cols) / 256) * 144)
#define BSTEP_q4_k 8
INLINE void blk_q4_k(BLK_ARGS) {
    BLK_START(0);
    p = row + (size_t)(b >> 3) * 144;
    __global const uchar *qs = p + 16, *qh = p;
    K45_SUPER_U8(0);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_k)
#define RB_q5_k(cols) ((size_t)((cols) / 256) * 176)
#define BSTEP_q5_k 8
INLINE void blk_q5_k(BLK_ARGS) {
    BLK_START(0);
    p = row + (size_t)(b >> 3) * 176;
    __global const uchar *qs = p + 48, *qh = p + 16;
    K45_SUPER_U8(1);
}
#endif

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q6_k)
#define RB_q6_k(cols) ((size_t)((cols) / 256) * 210)
#define BSTEP_q6_k 8
/* Sub-block j = 4n + k (layout as the generic form below): q6 = low nibble | high bits,
 * the 16 short pair sums of (q6 - 32) x, exact, then one vpmaddwd by the scales
 * (sc[2j] for elements 0 .. 15, sc[2j + 1] for 16 .. 31). */
#define Q6_W(LO, LS, HS)                                                                   \
    (((LO >> (uchar32)(LS)) & (uchar32)(15)) |                                             \
     (((hq >> (uchar32)(HS)) & (uchar32)(3)) << (uchar32)(4)))
/* (sc[2J] x 8, sc[2J + 1] x 8) for sub-block J (0 .. 3) of the half: shuffles of the half's
 * 8 scales, loaded once (built per sub-block from two scalar loads it took 7 instructions:
 * q6_k 640x2048 one token 143 -> 136 us, MM_TT 8 588 -> 574, 2026-12-05, 2-vCPU EPYC) */
#define Q6_SC(J)                                                                           \
    __builtin_shufflevector(s16, s16, 2 * (J), 2 * (J), 2 * (J), 2 * (J), 2 * (J), 2 * (J), \
                            2 * (J), 2 * (J), 9 + 2 * (J), 9 + 2 * (J), 9 + 2 * (J),       \
                            9 + 2 * (J), 9 + 2 * (J), 9 + 2 * (J), 9 + 2 * (J), 9 + 2 * (J))
#define Q6_DOT(w, s, J, t)                                                                 \
    convert_float8(madd_ss(madd_us(w, xq[(J)*MM_TT + t]) - madd_us(c32, xq[(J)*MM_TT + t]), s))
/* sub-blocks J and J + 1 */
#define Q6_PAIR_U8(J, LOA, LSA, HSA, LOB, LSB, HSB)                                        \
    do {                                                                                   \
        uchar32 wa = Q6_W(LOA, LSA, HSA), wb = Q6_W(LOB, LSB, HSB);                        \
        short16 sa = Q6_SC(J), sb = Q6_SC((J) + 1);                                        \
        _Pragma("unroll") for (int t = 0; t < MM_TT; t++) {                                \
            acc[t] += Q6_DOT(wa, sa, J, t) * SCALE8((J)*MM_TT + t, d);                     \
            acc[t] += Q6_DOT(wb, sb, (J) + 1, t) * SCALE8(((J) + 1) * MM_TT + t, d);       \
        }                                                                                  \
    } while (0)
INLINE void blk_q6_k(BLK_ARGS) {
    BLK_START(0);
    p = row + (size_t)(b >> 3) * 210;
    __global const char *sc = (__global const char *)(p + 192);
    float d = half_bits(p + 208);
    const uchar32 c32 = (uchar32)((uchar)(32 + zero));
#pragma unroll
    for (int n = 0; n < 2; n++) {
        __global const uchar *ql = p + 64 * n;
        uchar32 pq = vload32u(ql), qq = vload32u(ql + 32), hq = vload32u(p + 128 + 32 * n);
        short8 s8 = convert_short8(vload8(0, sc));
        short16 s16 = (short16)(s8, s8);
        Q6_PAIR_U8(0, pq, 0, 0, qq, 0, 2);
        Q6_PAIR_U8(2, pq, 4, 4, qq, 4, 6);
        xq += 4 * MM_TT;
        xd8 += 4 * MM_TT;
        xd1 += 4 * MM_TT;
        sc += 8;
    }
}
#endif
#endif /* MQ_U8 */

/* The factor of a row's min sum: the x86 form of q4_0 / q5_0 sums d * s and multiplies by
 * -8 / -16 once (a power of two: the same float as summing -8 d * s) */
#define MSUM_q8_0 1.0f
#define MSUM_q4_1 1.0f
#define MSUM_q5_1 1.0f
#define MSUM_q4_k 1.0f
#define MSUM_q5_k 1.0f
#define MSUM_q6_k 1.0f
#if MQ_U8 && MQ_MOFF
#define MSUM_q4_0 (-8.0f)
#define MSUM_q5_0 (-16.0f)
#else
#define MSUM_q4_0 1.0f
#define MSUM_q5_0 1.0f
#endif

/* out[t] = W[r] . xq_t for the tile's tokens. */
#define DEFINE_ROWDOT(TY)                                                                  \
    INLINE void rowdot_##TY(__global const uchar *row, int nb, __local const xq_t *xq,     \
                            __local const float *xd, __local const float *xs, int zero,    \
                            float *out) {                                                  \
        float8 acc[MM_TT];                                                                 \
        float macc[MM_TT];                                                                 \
        for (int t = 0; t < MM_TT; t++) {                                                  \
            acc[t] = (float8)(0.0f);                                                       \
            macc[t] = 0.0f;                                                                \
        }                                                                                  \
        for (int b = 0; b < nb; b += BSTEP_##TY) blk_##TY(row, b, xq, xd, xs, zero, acc, macc); \
        for (int t = 0; t < MM_TT; t++) out[t] = hsum8(acc[t]) + MSUM_##TY * macc[t];      \
    }

/* The gate's activation: silu, or with FFN_GELU ggml's gelu_tanh (as cl/matmul.cl). */
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

/* Every product kernel's start: its token tile t0 .. t0 + nt - 1 quantized into local memory
 * (xq, xd, xs, and xi = XI where the form keeps the blocks' integer sums), through the fused
 * norm where GW is set; nb blocks a row. Needs T, cols, x, x_stride and scratch. */
#define MQ_TILE(XI, GW, EPS)                                                               \
    __local float inv[MM_TT];                                                              \
    int t0 = get_global_id(1) * MM_TT;                                                     \
    int nt = min(MM_TT, T - t0), nb = cols / 32;                                           \
    __local float *xd = (__local float *)(scratch + MM_TT * nb * 2);                       \
    __local float *xs = xd + MM_TT * nb;                                                   \
    __local xq_t *xq = (__local xq_t *)scratch;                                            \
    __local int *xi = XI;                                                                  \
    quant_tile(x + t0 * x_stride, x_stride, nt, cols, GW, EPS, xq, xd, xs, inv, xi)

/* The kernels of one type, without (SUF empty) or with (SUF _norm) the fused norm.
 * zero = T >> 31: 0 for every valid T, unknown to the compiler. */
#define DEFINE_KERNELS(TY, SUF, NORM_ARGS, GW, EPS)                                        \
    __kernel void matmul_##TY##_q8##SUF(__global const uchar *W, __global const float *x,  \
                                        __global float *y, int rows, int cols, int T,      \
                                        int x_stride, int y_stride,                        \
                                        int accumulate NORM_ARGS,                          \
                                        __local short16 *scratch) {                        \
        /* no return before the barriers: pocl 3.1 mishandles even a uniform one */        \
        int r = get_global_id(0);                                                          \
        MQ_TILE(0, GW, EPS);                                                               \
        __local const float *xr = XD_ROW(xq, xd, nb); /* the products' scales */          \
        if (r < rows) {                                                                    \
            float acc[MM_TT];                                                              \
            rowdot_##TY(W + (size_t)r * RB_##TY(cols), nb, xq, xr, xs, T >> 31, acc);      \
            for (int t = 0; t < MM_TT; t++) {                                              \
                __global float *o = y + (t0 + t) * y_stride + r;                           \
                if (t < nt) *o = (accumulate ? *o : 0.0f) + acc[t];                        \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    __kernel void ffn_swiglu_##TY##_q8##SUF(                                               \
        __global const uchar *Wg, __global const uchar *Wu, __global const float *x,       \
        __global float *h, int rows, int cols, int T, int x_stride,                        \
        int h_stride NORM_ARGS, __local short16 *scratch) {                                \
        int r = get_global_id(0);                                                          \
        MQ_TILE(0, GW, EPS);                                                               \
        __local const float *xr = XD_ROW(xq, xd, nb); /* the products' scales */          \
        if (r < rows) {                                                                    \
            float g[MM_TT], u[MM_TT];                                                      \
            rowdot_##TY(Wg + (size_t)r * RB_##TY(cols), nb, xq, xr, xs, T >> 31, g);       \
            rowdot_##TY(Wu + (size_t)r * RB_##TY(cols), nb, xq, xr, xs, T >> 31, u);       \
            for (int t = 0; t < MM_TT; t++)                                                \
                if (t < nt) h[(t0 + t) * h_stride + r] = ffn_act(g[t]) * u[t];                \
        }                                                                                  \
    }

#define NO_NORM_ARGS
#define NORM_ARGS , __global const float *gw, float eps
/* MQ_X8_ONLY 1: the program holds the x8 kernels only (the model's products whose weights
 * are all in the x8 layout: a smaller program builds faster) */
#ifndef MQ_X8_ONLY
#define MQ_X8_ONLY 0
#endif
#if MQ_X8_ONLY
#define DEFINE_TYPE(TY)
#else
#define DEFINE_TYPE(TY)                                                                    \
    DEFINE_ROWDOT(TY)                                                                      \
    DEFINE_KERNELS(TY, , NO_NORM_ARGS, (__global const float *)0, 0.0f)                   \
    DEFINE_KERNELS(TY, _norm, NORM_ARGS, gw, eps)
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
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_0)
DEFINE_TYPE(q5_0)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_1)
DEFINE_TYPE(q5_1)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k)
DEFINE_TYPE(q4_k)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_k)
DEFINE_TYPE(q5_k)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q6_k)
DEFINE_TYPE(q6_k)
#endif

/* ---- eight rows interleaved (the x8 layout) ----------------------------------
 * The same products on weights repacked so that one work-item computes 8 rows and each
 * block's 32 weights of the 8 rows lie together (as llama.cpp's repacked CPU layouts):
 *   TY_x8, row group g (rows 8g .. 8g + 7), block b at (g * nb + b) * X8B_TY:
 *     q4_0: f16 d[8], then 4 chunks c of 32 bytes, row i's q[4c .. 4c + 3] at 4i (144 B)
 *     q4_1: f16 d[8], f16 m[8], then the same chunks (160 B)
 *     q8_0: f16 d[8], then 8 chunks c of 32 bytes, row i's q[4c .. 4c + 3] at 4i (272 B)
 *     q5_0: f16 d[8], the 4 nibble chunks as q4_0, then 32 bytes F of fifth bits: bit k of
 *           F[4i + j] is that of element 4k + j (k < 4) or 16 + 4(k - 4) + j of row i (176 B)
 *     q4_k: per 256-element super-block (1152 B): f16 d[8], f16 dmin[8], the rows' 12 scale
 *           bytes interleaved (byte k of row i at 32 + 8k + i), then per sub-block j
 *           (32 elements) at 128 + 128j its 4 nibble chunks as q4_0
 *     q6_k: per 256-element super-block (1680 B): f16 d[8], i8 sc[16][8] (row i's scale k at
 *           16 + 8k + i), then per sub-block j (32 elements) at 144 + 192j the 4 chunks of
 *           the low 4 bits (nibbles as q4_0) and two 32-byte planes of the high 2 bits,
 *           bits 2c, 2c + 1 of byte 4i + e: element 4c + e (the first), 16 + 4c + e (the
 *           second); rows' offsets: g * (cols / 32) * 210
 *   so that (q4, q5) element 4c + j of row i is the low nibble of chunk byte 4i + j and
 *   element 16 + 4c + j its high nibble. rows must be a multiple of 8 (host-checked).
 * Kernels matmul_TY_x8[_norm], ffn_swiglu_TY_x8[_norm], arguments as the row kernels;
 * NDRange: global = (rows / 8 rounded up to the local size, ceil(T / MM_TT)).
 * x86 form: a block and token is 8 vpmaddubsw of the unsigned nibbles of 4 elements of
 * every row against those 4 activations broadcast, summed in 16 bits (|sum| <= 16 * 15 *
 * 127), one vpmaddwd, and one multiply-add of the 8 rows' scales: the 8 row sums come out
 * as the lanes of one vector, without horizontal sums. q4_0 takes 8 x the activations'
 * integer sum off the dot (xi), exactly the signed dot; q4_1 adds m * s; q5_0 (5-bit
 * weights: two 16-bit sums, one per half-block) takes 16 x xi off; q6_k (below) sums each
 * half-block signed and weights it by the rows' scales in its vpmaddwd; q4_k is q4_0's
 * unsigned product per sub-block, scaled by the rows' d * sc_j, plus -dmin * m_j * s. q8_0
 * multiplies |w| by x with w's sign (vpsignb), one vpmaddwd per chunk (two chunks' 16-bit
 * sums could overflow).
 * A partial tile (nt < MM_TT tokens, the last of a batch or a step of a few sequences) does
 * the work of its nt tokens only in the x86 forms (a uniform break in the token loop).
 * The generic forms unroll their row and token loops as DEFINE_ROWDOT8's (below), and q6_k's
 * walks its sub-blocks in one flat loop: nested in a super-block loop, llvm-spirv 14 laid
 * blocks out before their dominators (spirv-val rejected the module).
 * @variant x8 kernels=matmul_TY_x8,matmul_TY_x8_norm,ffn_swiglu_TY_x8,ffn_swiglu_TY_x8_norm local=32,64,128 device=cpu fit=2,8,128
 */
#define X8B_q8_0 272
#define X8B_q4_0 144
#define X8B_q4_1 160
#define X8Q_q4_0 16 /* offset of the quants */
#define X8Q_q4_1 32
#define X8M_q4_0 0 /* has mins */
#define X8M_q4_1 1

#if HALF_F16C
INLINE float8 half8_bits(__global const uchar *p) {
    typedef short v8hi __attribute__((vector_size(16)));
    typedef float v8sf __attribute__((vector_size(32)));
    v8hi h = __builtin_astype(vload8(0, (__global const short *)p), v8hi);
    return __builtin_astype(__builtin_ia32_vcvtph2ps256(h), float8);
}
#else
INLINE float8 half8_bits(__global const uchar *p) {
    return (float8)(half_bits(p), half_bits(p + 2), half_bits(p + 4), half_bits(p + 6),
                    half_bits(p + 8), half_bits(p + 10), half_bits(p + 12), half_bits(p + 14));
}
#endif

/* The generic forms' 8 row dots of token t, dots[8t .. 8t + 7], as one vector. */
#define X8_DOTS8(dots, t)                                                                  \
    ((int8)((dots)[8 * (t)], (dots)[8 * (t) + 1], (dots)[8 * (t) + 2], (dots)[8 * (t) + 3],    \
            (dots)[8 * (t) + 4], (dots)[8 * (t) + 5], (dots)[8 * (t) + 6], (dots)[8 * (t) + 7]))
/* Row i's dot with each token of the tile, into dots[8t + i]: its block's weights w0
 * (elements 4c + e, against x[2t]) and w1 (16 + 4c + e, against x[2t + 1]) as the row
 * kernels sum them (zero = nb >> 31 keeps the two halves apart, see DEVICES.md) */
#define X8_ROW_DOTS(dots, i, w0, w1, x, zero)                                              \
    _Pragma("unroll") for (int t = 0; t < MM_TT; t++)(dots)[8 * t + (i)] =                 \
        hsumi8(dot16(w0, (x)[2 * t]) + (dot16(w1, (x)[2 * t + 1]) ^ (zero)))
/* acc[t] += the 8 rows' dots of token t x their scales s8 x the token's block scale xd[j0 + t] */
#define X8_ACC_DOTS(acc, dots, s8, xd, j0)                                                 \
    _Pragma("unroll") for (int t = 0; t < MM_TT; t++)(acc)[t] +=                           \
        convert_float8(X8_DOTS8(dots, t)) * ((s8) * (xd)[(j0) + t])

#if MQ_U8
/* bytes 4c .. 4c + 3 of a token's block, in every 4-byte lane */
INLINE char32 bcast4(__local const xq_t *xq, int c) {
    return __builtin_astype((uint8)(((__local const uint *)xq)[c]), char32);
}
/* acc[t] (+)= the 8 rows' products with the tile's tokens, block by block */
#define DEFINE_ROWDOT8(TY)                                                                 \
    INLINE void rowdot8_##TY(__global const uchar *p, int nb, __local const xq_t *xq,      \
                             __local const float *xd, __local const float *xs,             \
                             __local const int *xi, int nt, float8 *acc) {         \
        const short16 one = (short16)(1);                                                  \
        for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);                           \
        for (int b = 0; b < nb; b++, p += X8B_##TY) {                                      \
            float8 d8 = half8_bits(p), m8 = X8M_##TY ? half8_bits(p + 16) : (float8)(0.0f); \
            __global const uchar *q = p + X8Q_##TY;                                        \
            uchar32 l0 = vload32u(q), l1 = vload32u(q + 32), l2 = vload32u(q + 64),        \
                    l3 = vload32u(q + 96);                                                 \
            uchar32 h0 = l0 >> (uchar32)(4), h1 = l1 >> (uchar32)(4), h2 = l2 >> (uchar32)(4), \
                    h3 = l3 >> (uchar32)(4);                                               \
            l0 &= (uchar32)(15);                                                           \
            l1 &= (uchar32)(15);                                                           \
            l2 &= (uchar32)(15);                                                           \
            l3 &= (uchar32)(15);                                                           \
            _Pragma("unroll") for (int t = 0; t < MM_TT; t++) {                            \
                if (t >= nt) break; /* a partial tile: its empty tokens */                 \
                int j = b * MM_TT + t;                                                     \
                __local const xq_t *x = xq + j;                                            \
                short16 s = madd_us(l0, bcast4(x, 0)) + madd_us(l1, bcast4(x, 1)) +        \
                            madd_us(l2, bcast4(x, 2)) + madd_us(l3, bcast4(x, 3)) +        \
                            madd_us(h0, bcast4(x, 4)) + madd_us(h1, bcast4(x, 5)) +        \
                            madd_us(h2, bcast4(x, 6)) + madd_us(h3, bcast4(x, 7));         \
                int8 dot = madd_ss(s, one);                                                \
                if (!X8M_##TY) dot -= (int8)(xi[j] << 3);                                  \
                acc[t] += convert_float8(dot) * (d8 * xd[j]);                              \
                if (X8M_##TY) acc[t] += m8 * xs[j];                                        \
            }                                                                              \
        }                                                                                  \
    }
#else
/* the generic form: row by row, signed weights (q4_0) as the row kernels; the row and token
 * loops unrolled, without which llvm-spirv 14 lays a block out before its dominator (an
 * invalid module, spirv-val) for MM_TT >= 2 */
#define DEFINE_ROWDOT8(TY)                                                                 \
    INLINE void rowdot8_##TY(__global const uchar *p, int nb, __local const xq_t *xq,      \
                             __local const float *xd, __local const float *xs,             \
                             __local const int *xi, int nt, float8 *acc) {         \
        int zero = nb >> 31;                                                               \
        for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);                           \
        for (int b = 0; b < nb; b++, p += X8B_##TY) {                                      \
            float8 d8 = half8_bits(p), m8 = X8M_##TY ? half8_bits(p + 16) : (float8)(0.0f); \
            int dots[8 * MM_TT];                                                           \
            _Pragma("unroll") for (int i = 0; i < 8; i++) {                                \
                __global const uchar *q = p + X8Q_##TY + 4 * i;                            \
                uchar16 u = (uchar16)(vload4(0, q), vload4(0, q + 32), vload4(0, q + 64),  \
                                      vload4(0, q + 96));                                  \
                short16 w0 = convert_short16(u & (uchar16)(15)),                           \
                        w1 = convert_short16(u >> (uchar16)(4));                           \
                if (!X8M_##TY) {                                                           \
                    w0 -= (short16)(8);                                                    \
                    w1 -= (short16)(8);                                                    \
                }                                                                          \
                X8_ROW_DOTS(dots, i, w0, w1, xq + 2 * b * MM_TT, zero);                    \
            }                                                                              \
            _Pragma("unroll") for (int t = 0; t < MM_TT; t++) {                            \
                int j = b * MM_TT + t;                                                     \
                acc[t] += convert_float8(X8_DOTS8(dots, t)) * (d8 * xd[j]);                \
                if (X8M_##TY) acc[t] += m8 * xs[j];                                        \
            }                                                                              \
        }                                                                                  \
    }
#endif

/* q5_0: the nibbles as q4_0 and the fifth bits F (32 bytes after the chunks): bit k of lane
 * 4i + e is the fifth bit of the weight in chunk k's low (k < 4) or chunk k - 4's high
 * nibble of that lane. 5-bit weights take two 16-bit sums (|sum| <= 8 * 31 * 127) a block,
 * one per half, and 16 x the activations' integer sum off the dot (xi): the signed dot. */
#define X8B_q5_0 176
#if MQ_U8
/* the weights of the lane's chunk K (0 .. 7) nibble N, with the fifth bit of F */
#define Q5X8_LO(q, K) (((q) & (uchar32)(15)) | ((F << (uchar32)(4 - (K))) & (uchar32)(16)))
#define Q5X8_HI(q, K) (((q) >> (uchar32)(4)) | ((F >> (uchar32)(K)) & (uchar32)(16)))
INLINE void rowdot8_q5_0(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    const short16 one = (short16)(1);
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    for (int b = 0; b < nb; b++, p += X8B_q5_0) {
        float8 d8 = half8_bits(p);
        uchar32 q0 = vload32u(p + 16), q1 = vload32u(p + 48), q2 = vload32u(p + 80),
                q3 = vload32u(p + 112), F = vload32u(p + 144);
        uchar32 l0 = Q5X8_LO(q0, 0), l1 = Q5X8_LO(q1, 1), l2 = Q5X8_LO(q2, 2),
                l3 = Q5X8_LO(q3, 3);
        uchar32 h0 = Q5X8_HI(q0, 0), h1 = Q5X8_HI(q1, 1), h2 = Q5X8_HI(q2, 2),
                h3 = Q5X8_HI(q3, 3);
#pragma unroll
        for (int t = 0; t < MM_TT; t++) {
            if (t >= nt) break; /* a partial tile: its empty tokens */
            int j = b * MM_TT + t;
            __local const xq_t *x = xq + j;
            short16 sl = madd_us(l0, bcast4(x, 0)) + madd_us(l1, bcast4(x, 1)) +
                         madd_us(l2, bcast4(x, 2)) + madd_us(l3, bcast4(x, 3));
            short16 sh = madd_us(h0, bcast4(x, 4)) + madd_us(h1, bcast4(x, 5)) +
                         madd_us(h2, bcast4(x, 6)) + madd_us(h3, bcast4(x, 7));
            int8 dot = madd_ss(sl, one) + madd_ss(sh, one) - (int8)(xi[j] << 4);
            acc[t] += convert_float8(dot) * (d8 * xd[j]);
        }
    }
}
#else
INLINE void rowdot8_q5_0(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    int zero = nb >> 31;
    const uchar16 sh = (uchar16)(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    for (int b = 0; b < nb; b++, p += X8B_q5_0) {
        float8 d8 = half8_bits(p);
        int dots[8 * MM_TT];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            __global const uchar *q = p + 16 + 4 * i;
            uchar16 u = (uchar16)(vload4(0, q), vload4(0, q + 32), vload4(0, q + 64),
                                  vload4(0, q + 96));
            uchar4 f4 = vload4(0, p + 144 + 4 * i);
            uchar16 f = (uchar16)(f4, f4, f4, f4);
            short16 w0 = convert_short16((u & (uchar16)(15)) |
                                         (((f >> sh) & (uchar16)(1)) << (uchar16)(4))) -
                         (short16)(16);
            short16 w1 = convert_short16((u >> (uchar16)(4)) |
                                         (((f >> (sh + (uchar16)(4))) & (uchar16)(1))
                                          << (uchar16)(4))) -
                         (short16)(16);
            X8_ROW_DOTS(dots, i, w0, w1, xq + 2 * b * MM_TT, zero);
        }
        X8_ACC_DOTS(acc, dots, d8, xd, b * MM_TT);
    }
}
#endif

/* q6_k: per super-block (X8B_q6_k per 32 elements: 1680 B for the 8 rows' 256) d[8], the
 * scales sc[16][8] (i8, scale k of row i at 16 + 8k + i), then per sub-block j at 144 + 192j
 * 4 chunks of low nibbles (as q4_0: the nibbles of elements 4c + e and 16 + 4c + e at lane
 * 4i + e) and two planes H0, H1 of 32 bytes: bits 2c, 2c + 1 of lane 4i + e the high bits
 * of element 4c + e (H0) or 16 + 4c + e (H1). The x86 form sums each half-block's 4 chunks
 * in 16 bits as signed weights: the u8 x s8 products of q6 less those of 32 (M, the
 * activations' part, the same for every row: computed once per group by x8_prep_q6_k into
 * the space after xi), exact in 16 bits (|sum| <= 8 * 32 * 127) though the terms wrap, then
 * one vpmaddwd by the rows' 8-bit scales per half: the sub-block's integer dot per row. */
#define X8B_q6_k 210
#if MQ_U8
/* bits 2c, 2c + 1 of each lane of H as bits 4, 5 */
#define Q6X8_HB(H, c)                                                                      \
    (((c) < 2 ? H << (uchar32)(4 - 2 * (c)) : H >> (uchar32)(2 * (c)-4)) & (uchar32)(0x30))
INLINE void x8_prep_q6_k(__local const xq_t *xq, __local int *xi, int nb) {
    __local uint *m = (__local uint *)xi + MM_TT * nb;
    const uchar32 c32 = (uchar32)(32);
    for (int j = get_local_id(0); j < MM_TT * nb; j += get_local_size(0)) {
        short16 s = madd_us(c32, xq[j]); /* lane l: 32 (x[2l] + x[2l + 1]) */
        short4 a = s.lo.lo + s.lo.hi, c = s.hi.lo + s.hi.hi;
        m[2 * j] = as_uint(a.lo + a.hi);     /* the low half's lanes 2i, 2i + 1 */
        m[2 * j + 1] = as_uint(c.lo + c.hi); /* the high half's */
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}
INLINE void rowdot8_q6_k(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    __local const uint *m = (__local const uint *)xi + MM_TT * nb;
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    for (int b = 0; b < nb; b += 8, p += 8 * X8B_q6_k) {
        float8 d8 = half8_bits(p);
        for (int j = 0; j < 8; j++) {
            __global const uchar *q = p + 144 + 192 * j;
            uchar32 q0 = vload32u(q), q1 = vload32u(q + 32), q2 = vload32u(q + 64),
                    q3 = vload32u(q + 96), H0 = vload32u(q + 128), H1 = vload32u(q + 160);
            uchar32 l0 = (q0 & (uchar32)(15)) | Q6X8_HB(H0, 0),
                    l1 = (q1 & (uchar32)(15)) | Q6X8_HB(H0, 1),
                    l2 = (q2 & (uchar32)(15)) | Q6X8_HB(H0, 2),
                    l3 = (q3 & (uchar32)(15)) | Q6X8_HB(H0, 3);
            uchar32 h0 = (q0 >> (uchar32)(4)) | Q6X8_HB(H1, 0),
                    h1 = (q1 >> (uchar32)(4)) | Q6X8_HB(H1, 1),
                    h2 = (q2 >> (uchar32)(4)) | Q6X8_HB(H1, 2),
                    h3 = (q3 >> (uchar32)(4)) | Q6X8_HB(H1, 3);
            short16 sc = convert_short16(vload16(0, (__global const char *)(p + 16 + 16 * j)));
            short16 slo = __builtin_shufflevector(sc, sc, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                                  6, 7, 7);
            short16 shi = __builtin_shufflevector(sc, sc, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
                                                  13, 14, 14, 15, 15);
#pragma unroll
            for (int t = 0; t < MM_TT; t++) {
                if (t >= nt) break; /* a partial tile: its empty tokens */
                int jj = (b + j) * MM_TT + t;
                __local const xq_t *x = xq + jj;
                short16 sl = madd_us(l0, bcast4(x, 0)) + madd_us(l1, bcast4(x, 1)) +
                             madd_us(l2, bcast4(x, 2)) + madd_us(l3, bcast4(x, 3)) -
                             __builtin_astype((uint8)(m[2 * jj]), short16);
                short16 sh = madd_us(h0, bcast4(x, 4)) + madd_us(h1, bcast4(x, 5)) +
                             madd_us(h2, bcast4(x, 6)) + madd_us(h3, bcast4(x, 7)) -
                             __builtin_astype((uint8)(m[2 * jj + 1]), short16);
                int8 v = madd_ss(sl, slo) + madd_ss(sh, shi);
                acc[t] += convert_float8(v) * (d8 * xd[jj]);
            }
        }
    }
}
#else
INLINE void x8_prep_q6_k(__local const xq_t *xq, __local int *xi, int nb) {}
INLINE void rowdot8_q6_k(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    int zero = nb >> 31;
    const uchar16 sh = (uchar16)(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    /* one flat loop over the sub-blocks (nested in a super-block loop, llvm-spirv 14 emitted
     * blocks before their dominators) */
    for (int jb = 0; jb < nb; jb++) {
        __global const uchar *ps = p + (size_t)(jb >> 3) * (8 * X8B_q6_k);
        int j = jb & 7;
        float8 d8 = half8_bits(ps);
        __global const char *sc = (__global const char *)(ps + 16);
        int dots[8 * MM_TT];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            __global const uchar *q = ps + 144 + 192 * j + 4 * i;
            uchar16 u = (uchar16)(vload4(0, q), vload4(0, q + 32), vload4(0, q + 64),
                                  vload4(0, q + 96));
            uchar4 a4 = vload4(0, q + 128), b4 = vload4(0, q + 160);
            uchar16 ha = ((uchar16)(a4, a4, a4, a4) >> sh) & (uchar16)(3);
            uchar16 hb = ((uchar16)(b4, b4, b4, b4) >> sh) & (uchar16)(3);
            short16 w0 =
                convert_short16((u & (uchar16)(15)) | (ha << (uchar16)(4))) - (short16)(32);
            short16 w1 =
                convert_short16((u >> (uchar16)(4)) | (hb << (uchar16)(4))) - (short16)(32);
            int s0 = sc[16 * j + i], s1 = sc[16 * j + 8 + i];
            __local const xq_t *x = xq + 2 * jb * MM_TT;
#pragma unroll
            for (int t = 0; t < MM_TT; t++)
                dots[8 * t + i] = hsumi8(dot16(w0, x[2 * t])) * s0 +
                                  (hsumi8(dot16(w1, x[2 * t + 1])) ^ zero) * s1;
        }
        X8_ACC_DOTS(acc, dots, d8, xd, jb * MM_TT);
    }
}
#endif

/* q4_k: per super-block (X8B_q4_k per 32 elements: 1152 B for the 8 rows' 256) d[8],
 * dmin[8], the 12 scale bytes of the rows interleaved (byte k of row i at 32 + 8k + i), then
 * per sub-block j at 128 + 128j its 4 chunks of nibbles (as q4_0). A sub-block and token is
 * the q4_0 block product (unsigned nibbles) scaled by the rows' d * sc_j, plus the rows'
 * -dmin * m_j times s. */
#define X8B_q4_k 144
/* the 8 rows' 6-bit scale and min of sub-block j, as ggml's get_scale_min_k4 */
INLINE void x8_scale_min_k4(__global const uchar *s, int j, float8 *sc, float8 *mn) {
    uchar8 a, m;
    if (j < 4) {
        a = vload8(j, s) & (uchar8)(63);
        m = vload8(j + 4, s) & (uchar8)(63);
    } else {
        uchar8 hi = vload8(j + 4, s), lo = vload8(j - 4, s), mid = vload8(j, s);
        a = (hi & (uchar8)(15)) | ((lo >> (uchar8)(6)) << (uchar8)(4));
        m = (hi >> (uchar8)(4)) | ((mid >> (uchar8)(6)) << (uchar8)(4));
    }
    *sc = convert_float8(a);
    *mn = convert_float8(m);
}
#if MQ_U8
INLINE void rowdot8_q4_k(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    const short16 one = (short16)(1);
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    for (int b = 0; b < nb; b += 8, p += 8 * X8B_q4_k) {
        float8 d8 = half8_bits(p), dmin8 = half8_bits(p + 16);
        for (int j = 0; j < 8; j++) {
            float8 sc, mn;
            x8_scale_min_k4(p + 32, j, &sc, &mn);
            float8 ds = d8 * sc, mm = -(dmin8 * mn);
            __global const uchar *q = p + 128 + 128 * j;
            uchar32 l0 = vload32u(q), l1 = vload32u(q + 32), l2 = vload32u(q + 64),
                    l3 = vload32u(q + 96);
            uchar32 h0 = l0 >> (uchar32)(4), h1 = l1 >> (uchar32)(4), h2 = l2 >> (uchar32)(4),
                    h3 = l3 >> (uchar32)(4);
            l0 &= (uchar32)(15);
            l1 &= (uchar32)(15);
            l2 &= (uchar32)(15);
            l3 &= (uchar32)(15);
#pragma unroll
            for (int t = 0; t < MM_TT; t++) {
                if (t >= nt) break; /* a partial tile: its empty tokens */
                int jj = (b + j) * MM_TT + t;
                __local const xq_t *x = xq + jj;
                short16 s = madd_us(l0, bcast4(x, 0)) + madd_us(l1, bcast4(x, 1)) +
                            madd_us(l2, bcast4(x, 2)) + madd_us(l3, bcast4(x, 3)) +
                            madd_us(h0, bcast4(x, 4)) + madd_us(h1, bcast4(x, 5)) +
                            madd_us(h2, bcast4(x, 6)) + madd_us(h3, bcast4(x, 7));
                acc[t] += convert_float8(madd_ss(s, one)) * (ds * xd[jj]);
                acc[t] += mm * xs[jj];
            }
        }
    }
}
#else
INLINE void rowdot8_q4_k(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    int zero = nb >> 31;
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    for (int b = 0; b < nb; b += 8, p += 8 * X8B_q4_k) {
        float8 d8 = half8_bits(p), dmin8 = half8_bits(p + 16);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            float8 sc, mn;
            x8_scale_min_k4(p + 32, j, &sc, &mn);
            float8 ds = d8 * sc, mm = -(dmin8 * mn);
            int dots[8 * MM_TT];
#pragma unroll
            for (int i = 0; i < 8; i++) {
                __global const uchar *q = p + 128 + 128 * j + 4 * i;
                uchar16 u = (uchar16)(vload4(0, q), vload4(0, q + 32), vload4(0, q + 64),
                                      vload4(0, q + 96));
                short16 w0 = convert_short16(u & (uchar16)(15)),
                        w1 = convert_short16(u >> (uchar16)(4));
                X8_ROW_DOTS(dots, i, w0, w1, xq + 2 * (b + j) * MM_TT, zero);
            }
#pragma unroll
            for (int t = 0; t < MM_TT; t++) {
                int jj = (b + j) * MM_TT + t;
                acc[t] += convert_float8(X8_DOTS8(dots, t)) * (ds * xd[jj]);
                acc[t] += mm * xs[jj];
            }
        }
    }
}
#endif

/* q8_0: signed weights */
#if MQ_U8
INLINE void rowdot8_q8_0(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    const short16 one = (short16)(1);
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    for (int b = 0; b < nb; b++, p += X8B_q8_0) {
        float8 d8 = half8_bits(p);
        v32qi w[8];
        uchar32 a[8];
#pragma unroll
        for (int c = 0; c < 8; c++) {
            char32 v = vload32c(p + 16 + 32 * c), neg = v < (char32)(0);
            w[c] = __builtin_astype(v, v32qi);
            a[c] = __builtin_astype((v ^ neg) - neg, uchar32); /* |w|, 128 for -128 */
        }
#pragma unroll
        for (int t = 0; t < MM_TT; t++) {
            if (t >= nt) break; /* a partial tile: its empty tokens */
            int j = b * MM_TT + t;
            int8 dot = (int8)(0);
#pragma unroll
            for (int c = 0; c < 8; c++) {
                v32qi x = __builtin_astype(bcast4(xq + j, c), v32qi);
                dot += madd_ss(madd_us(a[c], __builtin_astype(__builtin_ia32_psignb256(x, w[c]),
                                                              char32)),
                               one);
            }
            acc[t] += convert_float8(dot) * (d8 * xd[j]);
        }
    }
}
#else
INLINE void rowdot8_q8_0(__global const uchar *p, int nb, __local const xq_t *xq,
                         __local const float *xd, __local const float *xs,
                         __local const int *xi, int nt, float8 *acc) {
    int zero = nb >> 31;
    for (int t = 0; t < MM_TT; t++) acc[t] = (float8)(0.0f);
    for (int b = 0; b < nb; b++, p += X8B_q8_0) {
        float8 d8 = half8_bits(p);
        int dots[8 * MM_TT];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            __global const char *q = (__global const char *)(p + 16 + 4 * i);
            short16 w0 = convert_short16((char16)(vload4(0, q), vload4(0, q + 32),
                                                  vload4(0, q + 64), vload4(0, q + 96)));
            short16 w1 = convert_short16((char16)(vload4(0, q + 128), vload4(0, q + 160),
                                                  vload4(0, q + 192), vload4(0, q + 224)));
            X8_ROW_DOTS(dots, i, w0, w1, xq + 2 * b * MM_TT, zero);
        }
        X8_ACC_DOTS(acc, dots, d8, xd, b * MM_TT);
    }
}
#endif

#if FFN_GELU
INLINE float8 ffn_act8(float8 g) {
    return 0.5f * g * (1.0f + tanh(0.79788456080286535588f * g * (1.0f + 0.044715f * g * g)));
}
#else
INLINE float8 ffn_act8(float8 g) { return g / (1.0f + exp(-g)); }
#endif

/* xi: the tokens' integer block sums, in the space the tile kernels keep for d_x's copies */
#if MQ_U8
#define X8_XI(xq, nb) ((__local int *)XD8(xq, nb))
#else
#define X8_XI(xq, nb) ((__local int *)0)
#endif

/* X8_PREP_TY: what a type computes from the group's quantized tile before its products */
#define X8_PREP_q8_0(xq, xi, nb)
#define X8_PREP_q4_0(xq, xi, nb)
#define X8_PREP_q4_1(xq, xi, nb)
#define X8_PREP_q5_0(xq, xi, nb)
#define X8_PREP_q4_k(xq, xi, nb)
#define X8_PREP_q6_k(xq, xi, nb) x8_prep_q6_k(xq, xi, nb)

#define DEFINE_X8_KERNELS(TY, SUF, NORM_ARGS, GW, EPS)                                     \
    __kernel void matmul_##TY##_x8##SUF(__global const uchar *W, __global const float *x,  \
                                        __global float *y, int rows, int cols, int T,      \
                                        int x_stride, int y_stride,                        \
                                        int accumulate NORM_ARGS,                          \
                                        __local short16 *scratch) {                        \
        int g = get_global_id(0);                                                          \
        MQ_TILE(X8_XI(xq, nb), GW, EPS);                                                   \
        X8_PREP_##TY(xq, xi, nb);                                                          \
        if (g < rows / 8) {                                                                \
            float8 acc[MM_TT];                                                             \
            rowdot8_##TY(W + (size_t)g * nb * X8B_##TY, nb, xq, xd, xs, xi, nt, acc);          \
            for (int t = 0; t < MM_TT; t++) {                                              \
                __global float *o = y + (t0 + t) * y_stride + 8 * g;                       \
                if (t < nt) vstore8((accumulate ? vload8(0, o) : (float8)(0.0f)) + acc[t], 0, o); \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    __kernel void ffn_swiglu_##TY##_x8##SUF(                                               \
        __global const uchar *Wg, __global const uchar *Wu, __global const float *x,       \
        __global float *h, int rows, int cols, int T, int x_stride,                        \
        int h_stride NORM_ARGS, __local short16 *scratch) {                                \
        int g = get_global_id(0);                                                          \
        MQ_TILE(X8_XI(xq, nb), GW, EPS);                                                   \
        X8_PREP_##TY(xq, xi, nb);                                                          \
        if (g < rows / 8) {                                                                \
            float8 a[MM_TT], u[MM_TT];                                                     \
            size_t off = (size_t)g * nb * X8B_##TY;                                        \
            rowdot8_##TY(Wg + off, nb, xq, xd, xs, xi, nt, a);                                 \
            rowdot8_##TY(Wu + off, nb, xq, xd, xs, xi, nt, u);                                 \
            for (int t = 0; t < MM_TT; t++)                                                \
                if (t < nt) vstore8(ffn_act8(a[t]) * u[t], 0, h + (t0 + t) * h_stride + 8 * g); \
        }                                                                                  \
    }

#define DEFINE_X8_TYPE(TY)                                                                 \
    DEFINE_ROWDOT8(TY)                                                                     \
    DEFINE_X8_KERNELS(TY, , NO_NORM_ARGS, (__global const float *)0, 0.0f)                \
    DEFINE_X8_KERNELS(TY, _norm, NORM_ARGS, gw, eps)

#if !defined(CLG_ONE_TY) || defined(CLG_TY_q8_0)
DEFINE_X8_KERNELS(q8_0, , NO_NORM_ARGS, (__global const float *)0, 0.0f)
DEFINE_X8_KERNELS(q8_0, _norm, NORM_ARGS, gw, eps)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_0)
DEFINE_X8_TYPE(q4_0)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_1)
DEFINE_X8_TYPE(q4_1)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q5_0)
DEFINE_X8_KERNELS(q5_0, , NO_NORM_ARGS, (__global const float *)0, 0.0f)
DEFINE_X8_KERNELS(q5_0, _norm, NORM_ARGS, gw, eps)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q4_k)
DEFINE_X8_KERNELS(q4_k, , NO_NORM_ARGS, (__global const float *)0, 0.0f)
DEFINE_X8_KERNELS(q4_k, _norm, NORM_ARGS, gw, eps)
#endif
#if !defined(CLG_ONE_TY) || defined(CLG_TY_q6_k)
DEFINE_X8_KERNELS(q6_k, , NO_NORM_ARGS, (__global const float *)0, 0.0f)
DEFINE_X8_KERNELS(q6_k, _norm, NORM_ARGS, gw, eps)
#endif
