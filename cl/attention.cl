/* Causal grouped-query attention over the KV cache with online softmax, optionally over a
 * sliding window, and its flash-decoding split (partial results per key range, then a merge).
 *
 * Layouts:
 *   q:       [T, q_stride] f32; query head h of token t at q[t*q_stride + q_off + h*head_dim + d]
 *   k_cache: [n_seq, n_kv_heads, ctx_len, head_dim] (KV_T: f32, or half with KV_F16), see
 *            rope.cl: one region per sequence
 *   v_cache: [n_seq, n_kv_heads, ctx_len, head_dim]
 *   pos:     [T] int; token t attends cache positions lo(t) .. p inclusive, p = pos[t]
 *            clamped to [0, ctx_len - 1] (the host keeps it in range), and
 *            lo(t) = 0 (window <= 0: full causal attention) or max(0, p - window + 1)
 *            (window > 0: sliding-window attention; a key at p' is masked when
 *            p - p' >= window, llama.cpp's LLAMA_SWA_TYPE_STANDARD). Keys below lo(t) are
 *            not read, so a window costs nothing per key.
 *   seq:     [T] int; token t attends the keys of its sequence's region seq[t] only
 *            (in [0, n_seq): the host keeps it there)
 *   out:     [T, out_stride] f32; head h of token t at out[t*out_stride + h*head_dim + d]
 *   Query head h reads KV head h / (n_heads / n_kv_heads); n_heads % n_kv_heads == 0.
 *   out = sum_j softmax_j(scale * q . k_j) v_j.
 *   head_dim is a multiple of 4 and <= ATT_MAX_HD (== ATT_HD when that is set); the host
 *   checks, and a kernel writes NaN to its outputs otherwise.
 *
 * Variants:
 *   attention_row    one work-item per (h, t), online softmax with a private accumulator,
 *                    updated once per block of ATT_KB keys, in vectors of ATT_VEC floats.
 *                    global = (n_heads, T) (may be rounded up), local = NULL.        (CPU)
 *   attention_group  attention_row for the ATT_G query heads of one KV head per work-item
 *                    (ATT_G = n_heads / n_kv_heads, else NaN): each key and value row is
 *                    read from memory once for the group, where attention_row reads it once
 *                    per head. global = (n_kv_heads, T) (may be rounded up), local = NULL.
 *                    (CPU, several tokens: on one token it leaves n_kv_heads items to share
 *                    out, one for Gemma 3 270M)
 *   attention_wg     one work-group of ATT_WG items per (h, t); item i takes positions
 *                    i, i + ATT_WG, ... with its own running max / sum / accumulator; the
 *                    items' states are merged through local memory.
 *                    global = (n_heads * ATT_WG, T), local = (ATT_WG, 1).              (GPU)
 *   attention_split  flash-decoding, step 1: same arguments as attention_wg plus
 *                    (__global float *part, int n_split), n_split >= 1; out is not
 *                    touched (bind it read-only). The n = p + 1 - lo(t) keys of token t
 *                    are cut into n_split ranges of chunk = ceil(n / n_split) keys; range s
 *                    is lo(t) + [s*chunk, min((s+1)*chunk, n)), empty when s*chunk >= n (so
 *                    a window splits only its own keys). One work-group
 *                    of ATT_WG items per (h, t, s), as attention_wg, writes the range's
 *                    unnormalised state to part:
 *                      part: [T, n_heads, n_split, head_dim + 2] f32, record r at
 *                            part + ((t*n_heads + h)*n_split + s) * (head_dim + 2):
 *                        r[0] = m      max of scale*q.k_j over the range (-INFINITY if empty)
 *                        r[1] = l      sum_j exp(scale*q.k_j - m)        (0 if empty)
 *                        r[2 + d]      sum_j exp(scale*q.k_j - m) v_j[d] (0 if empty)
 *                    global = (n_heads * ATT_WG, T, n_split), local = (ATT_WG, 1, 1).
 *   attention_merge  step 2: (part, out, int T, int out_stride, int n_heads, int head_dim,
 *                    int n_split); out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s with
 *                    M = max_s m_s. One work-item per (d, h, t):
 *                    global = (head_dim, n_heads, T) (may be rounded up), local = NULL.
 *
 * Tunables:
 *   ATT_MAX_HD  largest head_dim, a multiple of 4: size of the private arrays (default 128).
 *   ATT_HD      optional: head_dim as a compile-time constant (head_dim must then equal it),
 *               so that compilers can unroll the head_dim loops and keep the private arrays
 *               in registers. Default: undefined (runtime head_dim).
 *   ATT_WG      work-group size of attention_wg / attention_split, a power of two >= 4
 *               (default 64).
 *   ATT_KB      keys per softmax update of attention_row, a multiple of 4 and of ATT_VEC
 *               (default 16).
 *   ATT_VEC     floats per vector operation of attention_row, 4 or 8 (default 8: one AVX
 *               register on x86); its head_dim must be a multiple of it (the host builds
 *               with 4 where head_dim is not a multiple of 8).
 *   ATT_G       query heads per KV head (attention_group; default 1).
 *   ATT_DC      head dims merged per local-memory pass: a multiple of 4, <= ATT_WG, dividing
 *               ATT_MAX_HD (default min(ATT_WG, 32)); local memory ATT_WG * (ATT_DC + 2) floats.
 *   KV_F16      defined: k_cache / v_cache hold half values, as rope.cl's KV_F16.
 *
 * Declared for the planner (clg_program_variants; first values are the untuned defaults;
 * the split's n_split is a kernel argument, chosen by the host):
 * @variant row kernels=attention_row local=1 device=cpu
 * @variant group kernels=attention_group local=1 device=cpu
 * @variant wg kernels=attention_wg sweep=ATT_WG:64,32,128 local=ATT_WG device=gpu
 * @variant split kernels=attention_split,attention_merge sweep=ATT_WG:64,32 local=ATT_WG
 *
 * Device note: llvmpipe (Mesa rusticl) ends every loop of a work-item after 65535 loop
 * iterations in total (LP_MAX_TGSI_LOOP_ITERATIONS, shared by all loops). Per key a
 * work-item runs at most head_dim/4 * 2 + 1 iterations (33 for head_dim 64; attention_row
 * with ATT_VEC 8 about half), so keep the keys per work-item below ~65535 / that there:
 * attention_row up to ~1900 keys at head_dim 64; beyond,
 * use attention_wg or attention_split, whose items take ceil(keys / (ATT_WG * n_split)).
 */
#ifndef ATT_MAX_HD
#define ATT_MAX_HD 128
#endif
#ifndef ATT_WG
#define ATT_WG 64
#endif
#ifndef ATT_KB
#define ATT_KB 16
#endif
#ifndef ATT_VEC
#define ATT_VEC 8
#endif
#ifndef ATT_G
#define ATT_G 1
#endif
#if ATT_KB < 4 || (ATT_KB % 4) != 0
#error "ATT_KB must be a multiple of 4"
#endif
#ifndef ATT_DC
#if ATT_WG < 32
#define ATT_DC ATT_WG
#else
#define ATT_DC 32
#endif
#endif

#if (ATT_WG & (ATT_WG - 1)) != 0 || ATT_WG < 4
#error "ATT_WG must be a power of two >= 4"
#endif
#if (ATT_VEC != 4 && ATT_VEC != 8) || (ATT_KB % ATT_VEC) != 0
#error "ATT_VEC must be 4 or 8 and divide ATT_KB"
#endif
#if ATT_DC > ATT_WG || (ATT_DC % 4) != 0 || (ATT_MAX_HD % ATT_DC) != 0
#error "ATT_DC must be a multiple of 4, <= ATT_WG, and divide ATT_MAX_HD"
#endif

#ifdef ATT_HD
#if ATT_HD > ATT_MAX_HD || (ATT_HD % 4) != 0
#error "ATT_HD must be a multiple of 4 and <= ATT_MAX_HD"
#endif
#define ATT_HD_BAD(hd) ((hd) != ATT_HD)
#define HD4 (ATT_HD / 4)
#else
#define ATT_HD_BAD(hd) ((hd) < 4 || (hd) > ATT_MAX_HD || ((hd)&3) != 0)
#define HD4 (head_dim / 4)
#endif

#ifdef KV_F16
#define KV_T half
#ifdef __F16C__
/* x86 with F16C (PoCL's CPU device): one vcvtph2ps for 4 values */
static inline float4 half4_bits(__global const half *p, int i4) {
    const short4 h = vload4(i4, (__global const short *)p);
    return __builtin_ia32_vcvtph2ps((short8)(h, h));
}
#else
/* f16 bits to float with integer operations (PoCL 3.1's vload_half is a branchy software
 * routine); inf / NaN, which a cache of finite activations never holds, come out finite. */
static inline float4 half4_bits(__global const half *p, int i4) {
    uint4 u = convert_uint4(vload4(i4, (__global const ushort *)p)), m = u & 0x7fffu;
    float4 f = select(as_float4((m << 13) + 0x38000000u), convert_float4(m) * 0x1p-24f,
                      convert_int4(m < 0x400u));
    return as_float4(as_uint4(f) | ((u & 0x8000u) << 16));
}
#endif
#define KV_LOAD4(p, i4) half4_bits((p), (i4))
#ifdef __F16C__
#define KV_LOAD8(p, i8) __builtin_ia32_vcvtph2ps256(vload8((i8), (__global const short *)(p)))
#else
#define KV_LOAD8(p, i8) (float8)(half4_bits((p), 2 * (i8)), half4_bits((p), 2 * (i8) + 1))
#endif
#else
#define KV_T float
#define KV_LOAD4(p, i4) vload4((i4), (p))
#define KV_LOAD8(p, i8) vload8((i8), (p))
#endif

/* attention_row's vectors of ATT_VEC floats: a load of q, of the cache, a store, and the
 * sums of a vector's lanes in 4 partial sums. */
#if ATT_VEC == 8
#define ATT_V float8
#define V_LOAD(i, p) vload8((i), (p))
#define V_STORE(v, i, p) vstore8((v), (i), (p))
#define KV_LOADV(p, i) KV_LOAD8((p), (i))
#define V_SUM4(v) ((v).lo + (v).hi)
#else
#define ATT_V float4
#define V_LOAD(i, p) vload4((i), (p))
#define V_STORE(v, i, p) vstore4((v), (i), (p))
#define KV_LOADV(p, i) KV_LOAD4((p), (i))
#define V_SUM4(v) (v)
#endif

/* A note on loop shapes: llvm-spirv 14 (SPIRV-LLVM-Translator before its PR #1655) copies
 * LLVM's block order, and clang -O2 often lays a loop's exit block out before the loop body
 * (always when a loop that may run zero times is followed by code using its result);
 * spirv-val then rejects the module ("appears in the binary before its dominator"). So:
 * loops whose count is known to be >= 1 are do-while, the per-item key loop runs a
 * group-uniform count (>= 1) with a guard inside, short constant loops are unrolled, and
 * each function keeps a single private array (a second one's OpVariable gets interleaved
 * with other instructions). No `#pragma unroll` over head_dim: the fully unrolled code gets
 * vectorised into vectors of 32 or 64 floats, which SPIR-V cannot express (rusticl compiles
 * through SPIR-V and fails). Check with the spirv.attention test after any edit.
 *
 * The online update is branch-free: with m' = max(m, s), c = e^(m - m'), e = e^(s - m'):
 * l = l*c + e, acc = acc*c + e*v (c = 1 unless the maximum moved; e^-inf = 0 at the start). */

/* The first key a token at position p attends (see pos above). */
static inline int win_lo(int p, int window) {
    return window > 0 ? max(0, p - window + 1) : 0;
}

/* ---- one work-item per (h, t) ---------------------------------------------------- */

/* Offsets in a head's cache of keys jg .. jg + 3, key p standing in for those past p (a
 * head's region, ctx_len * head_dim values, fits an int). */
static inline int4 key_rows(int jg, int p, int head_dim) {
    return min((int4)(jg) + (int4)(0, 1, 2, 3), (int4)(p)) * head_dim;
}

/* scale * q . k of keys jg .. jg + 3 (their rows r of the head's cache kh), -inf past p;
 * HDV vectors of ATT_VEC floats a row. attention_row and attention_group share it (and
 * add_values4), so that both compute a head by the same operations. */
static inline float4 score4(__global const float *qh, __global const KV_T *kh, int4 r, int jg,
                            int p, int HDV, float scale) {
    ATT_V a0 = (ATT_V)(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int d = 0;
    do {
        const ATT_V qd = V_LOAD(d, qh);
        a0 += qd * KV_LOADV(kh + r.x, d);
        a1 += qd * KV_LOADV(kh + r.y, d);
        a2 += qd * KV_LOADV(kh + r.z, d);
        a3 += qd * KV_LOADV(kh + r.w, d);
    } while (++d < HDV);
    const float4 b0 = V_SUM4(a0), b1 = V_SUM4(a1), b2 = V_SUM4(a2), b3 = V_SUM4(a3);
    const float4 s = scale * (float4)(b0.x + b0.y + b0.z + b0.w, b1.x + b1.y + b1.z + b1.w,
                                      b2.x + b2.y + b2.z + b2.w, b3.x + b3.y + b3.z + b3.w);
    return select(s, (float4)(-INFINITY), (int4)(jg, jg + 1, jg + 2, jg + 3) > (int4)(p));
}

/* One block's online-softmax update of a head, from its running maximum m and sum l: the
 * block's ATT_KB scores sc (a float4 per 4 keys) become their weights e^(s - m'), the
 * accumulator acc (HDV vectors of ATT_VEC floats) is rescaled by e^(m - m'); returns
 * (m', l'). The running maximum and the exps are a long dependent chain; taken per 4 keys
 * it cost more than the dot products on PoCL, hence one update per block. */
static inline float2 softmax_block(float4 *sc, float *acc, float m, float l, int HDV) {
    float4 mx = (float4)(-INFINITY);
    int g = 0;
    do {
        mx = fmax(mx, sc[g]);
    } while (++g < ATT_KB / 4);
    const float mn = fmax(m, fmax(fmax(mx.x, mx.y), fmax(mx.z, mx.w)));
    const float c = exp(m - mn);
    ATT_V ev = (ATT_V)(0.0f);
    g = 0;
    do {
        const ATT_V e = exp(V_LOAD(g, (float *)sc) - mn);
        V_STORE(e, g, (float *)sc);
        ev += e;
    } while (++g < ATT_KB / ATT_VEC);
    const float4 es = V_SUM4(ev);
    int d = 0;
    do {
        V_STORE(V_LOAD(d, acc) * c, d, acc);
    } while (++d < HDV);
    return (float2)(mn, l * c + (es.x + es.y + es.z + es.w));
}

/* acc += e.x v[r.x] + e.y v[r.y] + e.z v[r.z] + e.w v[r.w], acc: HDV vectors of ATT_VEC
 * floats in the caller's private array. */
static inline void add_values4(float *acc, __global const KV_T *vh, int4 r, float4 e, int HDV) {
    int d = 0;
    do {
        V_STORE(V_LOAD(d, acc) + e.x * KV_LOADV(vh + r.x, d) + e.y * KV_LOADV(vh + r.y, d) +
                    e.z * KV_LOADV(vh + r.z, d) + e.w * KV_LOADV(vh + r.w, d),
                d, acc);
    } while (++d < HDV);
}

__kernel void attention_row(__global const float *q, __global const KV_T *k_cache,
                            __global const KV_T *v_cache, __global const int *pos,
                            __global const int *seq, __global float *out, int T, int q_stride,
                            int q_off, int out_stride, int n_heads, int n_kv_heads, int head_dim,
                            int ctx_len, float scale, int window) {
    const int h = (int)get_global_id(0);
    const int t = (int)get_global_id(1);
    if (h >= n_heads || t >= T) return;
    __global float *o = out + (size_t)t * (size_t)out_stride + h * head_dim;
    if (ATT_HD_BAD(head_dim) || head_dim % ATT_VEC) {
        for (int d = 0; d < head_dim; d++)
            o[d] = NAN;
        return;
    }
    const int p = clamp(pos[t], 0, ctx_len - 1);
    /* the KV head of query head h in the sequence's region */
    const size_t kvh = (size_t)seq[t] * (size_t)n_kv_heads + (size_t)(h / (n_heads / n_kv_heads));
    __global const float *qh = q + (size_t)t * (size_t)q_stride + q_off + h * head_dim;
    __global const KV_T *kh = k_cache + kvh * (size_t)ctx_len * (size_t)head_dim;
    __global const KV_T *vh = v_cache + kvh * (size_t)ctx_len * (size_t)head_dim;

    /* One private array (see the note on loop shapes): the accumulator in st[0, HD4), read
     * and written as vectors acc(d) / set_acc(d, v) of ATT_VEC floats; the block's scores,
     * then weights, in st[ATT_MAX_HD/4, +ATT_KB/4): sc(g) for keys 4g .. 4g + 3 (read as
     * vectors of ATT_VEC by softmax_block). q is re-read from global memory, where it stays
     * cached. (Vectors of 8 in a float4 array: a float8 array's scores would be halves
     * chosen by a select on a scalar, which SPIR-V before 1.4 rejects.) */
    const int HDV = head_dim / ATT_VEC;
    float4 st[ATT_MAX_HD / 4 + ATT_KB / 4];
#define acc(d) V_LOAD((d), (float *)st)
#define set_acc(d, v) V_STORE((v), (d), (float *)st)
#define sc(g) st[ATT_MAX_HD / 4 + (g)]
    int d = 0;
    do {
        set_acc(d, (ATT_V)(0.0f));
    } while (++d < HDV);
    float m = -INFINITY, l = 0.0f;
    int j = win_lo(p, window);
    do { /* keys j .. j + ATT_KB - 1 of lo .. p (p >= lo), four at a time: their scores,
          * then one update for the block (softmax_block), then the values. Keys past p read
          * key p again and score -inf: weight 0. */
        int g = 0;
        do {
            const int jg = j + 4 * g;
            sc(g) = score4(qh, kh, key_rows(jg, p, head_dim), jg, p, HDV, scale);
        } while (++g < ATT_KB / 4);
        const float2 ml = softmax_block(&sc(0), (float *)st, m, l, HDV);
        m = ml.x;
        l = ml.y;
        g = 0;
        do {
            add_values4((float *)st, vh, key_rows(j + 4 * g, p, head_dim), sc(g), HDV);
        } while (++g < ATT_KB / 4);
    } while ((j += ATT_KB) <= p);
    const float inv = 1.0f / l;
    d = 0;
    do {
        V_STORE(acc(d) * inv, d, o);
    } while (++d < HDV);
#undef acc
#undef set_acc
#undef sc
}

/* ---- one work-item per (KV head, t): the ATT_G query heads that read it ---------- */

/* attention_row's loop for the ATT_G query heads kvh*ATT_G .. +ATT_G-1 of one KV head at once:
 * the key and value rows of each 4 keys are read from memory once and from the L1 cache by
 * the other heads, where attention_row reads them once per query head. */
__kernel void attention_group(__global const float *q, __global const KV_T *k_cache,
                              __global const KV_T *v_cache, __global const int *pos,
                              __global const int *seq, __global float *out, int T, int q_stride,
                              int q_off, int out_stride, int n_heads, int n_kv_heads,
                              int head_dim, int ctx_len, float scale, int window) {
    const int kv = (int)get_global_id(0);
    const int t = (int)get_global_id(1);
    if (kv >= n_kv_heads || t >= T) return;
    if (ATT_HD_BAD(head_dim) || head_dim % ATT_VEC || n_heads != n_kv_heads * ATT_G) {
        /* every head h = kv (mod n_kv_heads): together the items cover all n_heads */
        for (int h = kv; h < n_heads; h += n_kv_heads)
            for (int d = 0; d < head_dim; d++)
                out[(size_t)t * (size_t)out_stride + h * head_dim + d] = NAN;
        return;
    }
    const int p = clamp(pos[t], 0, ctx_len - 1);
    const size_t kvh = (size_t)seq[t] * (size_t)n_kv_heads + (size_t)kv;
    /* query head kv*ATT_G + gh at qg + gh*head_dim, its output at og + gh*head_dim */
    __global const float *qg = q + (size_t)t * (size_t)q_stride + q_off + kv * ATT_G * head_dim;
    __global float *og = out + (size_t)t * (size_t)out_stride + kv * ATT_G * head_dim;
    __global const KV_T *kh = k_cache + kvh * (size_t)ctx_len * (size_t)head_dim;
    __global const KV_T *vh = v_cache + kvh * (size_t)ctx_len * (size_t)head_dim;

    /* One private array: head gh's accumulator (acc), its block's scores then weights (sc)
     * as in attention_row, and its running maximum and sum in ml(gh).x, .y. */
    const int HDV = head_dim / ATT_VEC;
    float4 st[ATT_G * (ATT_MAX_HD / 4 + ATT_KB / 4 + 1)];
#define acc(gh, d) V_LOAD((d), (float *)st + (gh)*ATT_MAX_HD)
#define set_acc(gh, d, v) V_STORE((v), (d), (float *)st + (gh)*ATT_MAX_HD)
#define sc(gh, g) st[ATT_G * (ATT_MAX_HD / 4) + (gh) * (ATT_KB / 4) + (g)]
#define ml(gh) st[ATT_G * (ATT_MAX_HD / 4 + ATT_KB / 4) + (gh)]
    int gh = 0, d;
    do {
        d = 0;
        do {
            set_acc(gh, d, (ATT_V)(0.0f));
        } while (++d < HDV);
        ml(gh) = (float4)(-INFINITY, 0.0f, 0.0f, 0.0f);
    } while (++gh < ATT_G);
    int j = win_lo(p, window);
    do { /* keys j .. j + ATT_KB - 1, as attention_row's block, for each head in turn */
        int g = 0;
        do {
            const int jg = j + 4 * g;
            const int4 r = key_rows(jg, p, head_dim);
            gh = 0;
            do {
                sc(gh, g) = score4(qg + gh * head_dim, kh, r, jg, p, HDV, scale);
            } while (++gh < ATT_G);
        } while (++g < ATT_KB / 4);
        gh = 0;
        do {
            const float2 u =
                softmax_block(&sc(gh, 0), (float *)st + gh * ATT_MAX_HD, ml(gh).x, ml(gh).y, HDV);
            ml(gh) = (float4)(u, 0.0f, 0.0f);
        } while (++gh < ATT_G);
        g = 0;
        do {
            const int jg = j + 4 * g;
            const int4 r = key_rows(jg, p, head_dim);
            gh = 0;
            do {
                add_values4((float *)st + gh * ATT_MAX_HD, vh, r, sc(gh, g), HDV);
            } while (++gh < ATT_G);
        } while (++g < ATT_KB / 4);
    } while ((j += ATT_KB) <= p);
    gh = 0;
    do {
        const float inv = 1.0f / ml(gh).y;
        d = 0;
        do {
            V_STORE(acc(gh, d) * inv, d, og + gh * head_dim);
        } while (++d < HDV);
    } while (++gh < ATT_G);
#undef acc
#undef set_acc
#undef sc
#undef ml
}

/* ---- one work-group per (h, t[, split]) ------------------------------------------ */

/* The work-group's attention over keys [j0, j1) (j0 < j1) of one head. Item lid keeps the
 * online-softmax state of keys j0 + lid + k*ATT_WG; the states are merged through stat
 * ([ATT_WG]) and red ([ATT_WG][ATT_DC + 1], padded against bank conflicts). Writes
 * dst[d] = acc[d] / L (normalize), or dst[d] = acc[d] plus the part record's header
 * dst[-2] = M, dst[-1] = L (!normalize: dst is a part record + 2). */
static void att_group(__global const float *qh, __global const KV_T *kh, __global const KV_T *vh,
                      int j0, int j1, int head_dim, float scale, __local float *stat,
                      __local float *red, __global float *dst, int normalize) {
    const int lid = (int)get_local_id(0);
    /* q in st[0, ATT_MAX_HD/4), the accumulator in st[ATT_MAX_HD/4, ATT_MAX_HD/2) */
    float4 st[ATT_MAX_HD / 2];
#define qv(d) st[d]
#define acc(d) st[ATT_MAX_HD / 4 + (d)]
    int d = 0;
    do {
        qv(d) = vload4(d, qh);
        acc(d) = (float4)(0.0f);
    } while (++d < HD4);
    float m = -INFINITY, l = 0.0f;
    const int rounds = (j1 - j0 + ATT_WG - 1) / ATT_WG; /* >= 1, the same for every item */
    int k = 0;
    do {
        const int j = j0 + lid + k * ATT_WG;
        if (j < j1) {
            __global const KV_T *kj = kh + (size_t)j * (size_t)head_dim;
            __global const KV_T *vj = vh + (size_t)j * (size_t)head_dim;
            float4 s4 = (float4)(0.0f);
            d = 0;
            do {
                s4 += qv(d) * KV_LOAD4(kj, d);
            } while (++d < HD4);
            const float s = scale * (s4.x + s4.y + s4.z + s4.w);
            const float mn = fmax(m, s);
            const float c = exp(m - mn), e = exp(s - mn);
            l = l * c + e;
            d = 0;
            do {
                acc(d) = acc(d) * c + e * KV_LOAD4(vj, d);
            } while (++d < HD4);
            m = mn;
        }
    } while (++k < rounds);

    /* Group maximum M, then every item rescales its state by e^(m - M). */
    stat[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int off = ATT_WG / 2; off > 0; off >>= 1) {
        if (lid < off) stat[lid] = fmax(stat[lid], stat[lid + off]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float M = stat[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    const float c = m == -INFINITY ? 0.0f : exp(m - M); /* items without keys add nothing */
    stat[lid] = l * c;
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int off = ATT_WG / 2; off > 0; off >>= 1) {
        if (lid < off) stat[lid] += stat[lid + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float L = stat[0];

    /* Accumulators, ATT_DC dims per pass: row = item, item lid < ATT_DC sums column lid
     * (the others repeat column 0: no branch around the loop). */
    const float inv = normalize ? 1.0f / L : 1.0f;
    const int col = lid < ATT_DC ? lid : 0;
    int c0 = 0; /* in floats; ATT_DC and head_dim are multiples of 4 */
    do {
#pragma unroll
        for (int kk = 0; kk < ATT_DC; kk += 4)
            vstore4(c0 + kk < head_dim ? acc((c0 + kk) / 4) * c : (float4)(0.0f), 0,
                    red + lid * (ATT_DC + 1) + kk);
        barrier(CLK_LOCAL_MEM_FENCE);
        float sum = 0.0f;
#pragma unroll
        for (int r = 0; r < ATT_WG; r++)
            sum += red[r * (ATT_DC + 1) + col];
        if (lid < ATT_DC && c0 + lid < head_dim) dst[c0 + lid] = sum * inv;
        barrier(CLK_LOCAL_MEM_FENCE);
    } while ((c0 += ATT_DC) < head_dim);
    if (!normalize && lid == 0) {
        dst[-2] = M;
        dst[-1] = L;
    }
#undef qv
#undef acc
}

__kernel void attention_wg(__global const float *q, __global const KV_T *k_cache,
                           __global const KV_T *v_cache, __global const int *pos,
                           __global const int *seq, __global float *out, int T, int q_stride,
                           int q_off, int out_stride, int n_heads, int n_kv_heads, int head_dim,
                           int ctx_len, float scale, int window) {
    __local float stat[ATT_WG];
    __local float red[ATT_WG * (ATT_DC + 1)];
    const int h = (int)get_group_id(0);
    const int t = (int)get_global_id(1);
    const int lid = (int)get_local_id(0);
    if (h >= n_heads || t >= T) return; /* uniform over the group */
    __global float *o = out + (size_t)t * (size_t)out_stride + h * head_dim;
    if (ATT_HD_BAD(head_dim)) {
        for (int d = lid; d < head_dim; d += ATT_WG)
            o[d] = NAN;
        return;
    }
    const int p = clamp(pos[t], 0, ctx_len - 1);
    /* the KV head of query head h in the sequence's region */
    const size_t kvh = (size_t)seq[t] * (size_t)n_kv_heads + (size_t)(h / (n_heads / n_kv_heads));
    __global const float *qh = q + (size_t)t * (size_t)q_stride + q_off + h * head_dim;
    const size_t head_base = kvh * (size_t)ctx_len * (size_t)head_dim;
    att_group(qh, k_cache + head_base, v_cache + head_base, win_lo(p, window), p + 1, head_dim,
              scale, stat, red, o, 1);
}

__kernel void attention_split(__global const float *q, __global const KV_T *k_cache,
                              __global const KV_T *v_cache, __global const int *pos,
                              __global const int *seq, __global float *out, int T, int q_stride,
                              int q_off, int out_stride, int n_heads, int n_kv_heads,
                              int head_dim, int ctx_len, float scale, int window,
                              __global float *part, int n_split) {
    __local float stat[ATT_WG];
    __local float red[ATT_WG * (ATT_DC + 1)];
    const int h = (int)get_group_id(0);
    const int t = (int)get_global_id(1);
    const int s = (int)get_global_id(2);
    const int lid = (int)get_local_id(0);
    if (h >= n_heads || t >= T || s >= n_split) return; /* uniform over the group */
    __global float *r =
        part + ((size_t)(t * n_heads + h) * (size_t)n_split + (size_t)s) * (size_t)(head_dim + 2);
    if (ATT_HD_BAD(head_dim)) {
        for (int d = lid; d < head_dim + 2; d += ATT_WG)
            r[d] = NAN;
        return;
    }
    const int p = clamp(pos[t], 0, ctx_len - 1), lo = win_lo(p, window);
    const int n = p + 1 - lo;
    const int chunk = (n + n_split - 1) / n_split;
    const int j0 = lo + s * chunk;
    const int j1 = min(j0 + chunk, p + 1);
    if (j0 >= j1) { /* empty range: the identity of the merge */
        for (int d = lid; d < head_dim + 2; d += ATT_WG)
            r[d] = d == 0 ? -INFINITY : 0.0f;
        return;
    }
    /* the KV head of query head h in the sequence's region */
    const size_t kvh = (size_t)seq[t] * (size_t)n_kv_heads + (size_t)(h / (n_heads / n_kv_heads));
    __global const float *qh = q + (size_t)t * (size_t)q_stride + q_off + h * head_dim;
    const size_t head_base = kvh * (size_t)ctx_len * (size_t)head_dim;
    att_group(qh, k_cache + head_base, v_cache + head_base, j0, j1, head_dim, scale, stat, red,
              r + 2, 0);
}

__kernel void attention_merge(__global const float *part, __global float *out, int T,
                              int out_stride, int n_heads, int head_dim, int n_split) {
    const int d = (int)get_global_id(0);
    const int h = (int)get_global_id(1);
    const int t = (int)get_global_id(2);
    if (d >= head_dim || h >= n_heads || t >= T || n_split < 1) return;
    const size_t rec = (size_t)(head_dim + 2);
    __global const float *r = part + (size_t)(t * n_heads + h) * (size_t)n_split * rec;
    /* Online merge of the ranges' states; an empty range (m = -INF) gets weight 0. Range 0
     * is never empty, so L > 0 at the end. */
    float M = -INFINITY, L = 0.0f, a = 0.0f;
    int s = 0;
    do {
        const float ms = r[s * rec];
        const float mn = fmax(M, ms);
        const float c_old = M == -INFINITY ? 0.0f : exp(M - mn);
        const float c_new = ms == -INFINITY ? 0.0f : exp(ms - mn);
        L = L * c_old + r[s * rec + 1] * c_new;
        a = a * c_old + r[s * rec + 2 + d] * c_new;
        M = mn;
    } while (++s < n_split);
    out[(size_t)t * (size_t)out_stride + h * head_dim + d] = a / L;
}
