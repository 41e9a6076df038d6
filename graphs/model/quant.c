/* Host-side weight types: ggml's type table (names, block sizes), f16/bf16 conversion, and the
 * reference dequantizers (F32..Q6_K) and quantizers (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1). */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "clgraph/gguf.h"

#define QK 32    /* elements per block of the legacy quants */
#define QK_K 256 /* elements per K-quant super-block */

/* Block layouts (little-endian, packed; every field is byte-aligned). Sizes:
 *   Q4_0 18: f16 d; u8 qs[16]          x = (nibble - 8) * d; nibble j in low bits, j+16 in high
 *   Q4_1 20: f16 d, m; u8 qs[16]       x = nibble * d + m
 *   Q5_0 22: f16 d; u8 qh[4]; u8 qs[16]     x = (q - 16) * d, q = nibble | bit j of qh << 4
 *   Q5_1 24: f16 d, m; u8 qh[4]; u8 qs[16]  x = q * d + m
 *   Q8_0 34: f16 d; i8 qs[32]          x = q * d
 *   Q4_K 144: f16 d, dmin; u8 scales[12]; u8 qs[128]
 *   Q5_K 176: f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *   Q6_K 210: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d */

typedef struct dtype_info {
    int id;
    const char *name;
    size_t block_elems;
    size_t block_bytes;
} dtype_info;

/* Every type of ggml's table (gguf-py 0.19 GGML_QUANT_SIZES), so that a file's sizes and
 * offsets are checked whatever its types; the ids ggml retired (4, 5, 31..33, 36..38) are
 * not types. Only the first group is dequantized here. */
static const dtype_info dtypes[] = {
    {LLM_DTYPE_F32, "f32", 1, 4},
    {LLM_DTYPE_F16, "f16", 1, 2},
    {LLM_DTYPE_Q4_0, "q4_0", QK, 18},
    {LLM_DTYPE_Q4_1, "q4_1", QK, 20},
    {LLM_DTYPE_Q5_0, "q5_0", QK, 22},
    {LLM_DTYPE_Q5_1, "q5_1", QK, 24},
    {LLM_DTYPE_Q8_0, "q8_0", QK, 34},
    {LLM_DTYPE_Q4_K, "q4_k", QK_K, 144},
    {LLM_DTYPE_Q5_K, "q5_k", QK_K, 176},
    {LLM_DTYPE_Q6_K, "q6_k", QK_K, 210},
    {LLM_DTYPE_BF16, "bf16", 1, 2},
    /* known to ggml, not read by this engine */
    {9, "q8_1", QK, 40},
    {10, "q2_k", QK_K, 84},
    {11, "q3_k", QK_K, 110},
    {15, "q8_k", QK_K, 292},
    {16, "iq2_xxs", QK_K, 66},
    {17, "iq2_xs", QK_K, 74},
    {18, "iq3_xxs", QK_K, 98},
    {19, "iq1_s", QK_K, 50},
    {20, "iq4_nl", QK, 18},
    {21, "iq3_s", QK_K, 110},
    {22, "iq2_s", QK_K, 82},
    {23, "iq4_xs", QK_K, 136},
    {24, "i8", 1, 1},
    {25, "i16", 1, 2},
    {26, "i32", 1, 4},
    {27, "i64", 1, 8},
    {28, "f64", 1, 8},
    {29, "iq1_m", QK_K, 56},
    {34, "tq1_0", QK_K, 54},
    {35, "tq2_0", QK_K, 66},
    {39, "mxfp4", QK, 17},
    {40, "nvfp4", 64, 36},
    {41, "q1_0", 128, 18},
};

static const dtype_info *dtype_find(int dtype) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].id == dtype) return &dtypes[i];
    return NULL;
}

const char *llm_dtype_name(int dtype) {
    const dtype_info *d = dtype_find(dtype);
    return d ? d->name : NULL;
}

int llm_dtype_from_name(const char *name) {
    if (!name) return -1;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        const char *a = dtypes[i].name, *b = name;
        while (*a && *b && tolower((unsigned char)*b) == *a)
            a++, b++;
        if (!*a && !*b) return dtypes[i].id;
    }
    return -1;
}

size_t llm_dtype_block_elems(int dtype) {
    const dtype_info *d = dtype_find(dtype);
    return d ? d->block_elems : 0;
}

size_t llm_dtype_block_bytes(int dtype) {
    const dtype_info *d = dtype_find(dtype);
    return d ? d->block_bytes : 0;
}

size_t llm_dtype_row_bytes(int dtype, uint64_t n) {
    const dtype_info *d = dtype_find(dtype);
    if (!d || n % d->block_elems) return 0;
    uint64_t blocks = n / d->block_elems;
    if (blocks > (uint64_t)SIZE_MAX / d->block_bytes) return 0;
    return (size_t)blocks * d->block_bytes;
}

/* ---- f16 / bf16 --------------------------------------------------------- */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float llm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf, nan */
    if (exp == 0) {
        if (!man) return bits_f32(sign);
        /* subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* Round to nearest, ties to even, as F16C's vcvtps2ph and numpy's astype. */
uint16_t llm_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* nan: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                  /* below 2^-14: f16 subnormal or zero */
        if (a < 0x33000000u) return sign; /* < 2^-25: rounds to zero (2^-25 ties to 0) */
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* value = m * 2^(e-150); in units of 2^-24: m >> (126-e) */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0x0fff + ((a >> 13) & 1); /* round the 13 dropped bits to even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

/* As ggml_compute_fp32_to_bf16: quiet NaNs, round to nearest even. */
static uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

static float bf16_to_f32(uint16_t h) {
    return bits_f32((uint32_t)h << 16);
}

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ---- dequantization ----------------------------------------------------- */

static void dequant_q4_0(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 18, y += QK) {
        float d = llm_f16_to_f32(rd16(b));
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)((b[2 + j] & 0x0f) - 8) * d;
            y[j + QK / 2] = (float)((b[2 + j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 20, y += QK) {
        float d = llm_f16_to_f32(rd16(b)), m = llm_f16_to_f32(rd16(b + 2));
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)(b[4 + j] & 0x0f) * d + m;
            y[j + QK / 2] = (float)(b[4 + j] >> 4) * d + m;
        }
    }
}

/* Q5_0 (m == NULL: offset -16) and Q5_1 (min from the block): element j's fifth bit is bit j
 * of the little-endian u32 qh. */
static void dequant_q5(const uint8_t *b, float *y, size_t nb, int q5_1) {
    const size_t bb = q5_1 ? 24 : 22;
    for (size_t i = 0; i < nb; i++, b += bb, y += QK) {
        float d = llm_f16_to_f32(rd16(b)), m = q5_1 ? llm_f16_to_f32(rd16(b + 2)) : 0.0f;
        const uint8_t *h = b + (q5_1 ? 4 : 2), *qs = h + 4;
        uint32_t qh =
            (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        for (int j = 0; j < QK / 2; j++) {
            int x0 = (qs[j] & 0x0f) | (int)((qh >> j) << 4 & 0x10);
            int x1 = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            if (q5_1) {
                y[j] = (float)x0 * d + m;
                y[j + QK / 2] = (float)x1 * d + m;
            } else {
                y[j] = (float)(x0 - 16) * d;
                y[j + QK / 2] = (float)(x1 - 16) * d;
            }
        }
    }
}

static void dequant_q8_0(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 34, y += QK) {
        float d = llm_f16_to_f32(rd16(b));
        for (int j = 0; j < QK; j++)
            y[j] = (float)(int8_t)b[2 + j] * d;
    }
}

/* The 12 scale bytes of Q4_K / Q5_K hold 8 six-bit scales and 8 six-bit mins. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K, and Q5_K (q5 != 0), which adds a fifth bit per element from qh. */
static void dequant_q45_k(const uint8_t *b, float *y, size_t nb, int q5) {
    for (size_t i = 0; i < nb; i++, b += q5 ? 176 : 144) {
        float d = llm_f16_to_f32(rd16(b)), dmin = llm_f16_to_f32(rd16(b + 2));
        const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + (q5 ? 48 : 16);
        unsigned u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0x0f) + (q5 && (qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + (q5 && (qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

static void dequant_q6_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 210) {
        float d = llm_f16_to_f32(rd16(b + 208));
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

static clg_status check_args(const char *what, int dtype, const void *a, const void *b, size_t n,
                             const dtype_info **out) {
    const dtype_info *d = dtype_find(dtype);
    if (!d) return clg_fail(CLG_ERR_UNSUPPORTED, "%s: unknown weight type %d", what, dtype);
    if (n % d->block_elems)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "%s: %zu elements is not a multiple of the %s block (%zu)", what, n,
                        d->name, d->block_elems);
    if (n && (!a || !b)) return clg_fail(CLG_ERR_INVALID_ARG, "%s: NULL buffer", what);
    *out = d;
    return CLG_OK;
}

clg_status llm_dequantize(int dtype, const void *src, float *dst, size_t n) {
    const dtype_info *d = NULL;
    clg_status st = check_args("llm_dequantize", dtype, src, dst, n, &d);
    if (st != CLG_OK) return st;
    const uint8_t *b = src;
    size_t nb = n / d->block_elems;
    switch (dtype) {
    case LLM_DTYPE_F32:
        memcpy(dst, src, n * 4);
        break;
    case LLM_DTYPE_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = llm_f16_to_f32(rd16(b + 2 * i));
        break;
    case LLM_DTYPE_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32(rd16(b + 2 * i));
        break;
    case LLM_DTYPE_Q4_0:
        dequant_q4_0(b, dst, nb);
        break;
    case LLM_DTYPE_Q4_1:
        dequant_q4_1(b, dst, nb);
        break;
    case LLM_DTYPE_Q5_0:
    case LLM_DTYPE_Q5_1:
        dequant_q5(b, dst, nb, dtype == LLM_DTYPE_Q5_1);
        break;
    case LLM_DTYPE_Q8_0:
        dequant_q8_0(b, dst, nb);
        break;
    case LLM_DTYPE_Q4_K:
    case LLM_DTYPE_Q5_K:
        dequant_q45_k(b, dst, nb, dtype == LLM_DTYPE_Q5_K);
        break;
    case LLM_DTYPE_Q6_K:
        dequant_q6_k(b, dst, nb);
        break;
    default:
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "llm_dequantize: weights of type %s cannot be dequantized (f32, f16, bf16, "
                        "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k can)",
                        d->name);
    }
    return CLG_OK;
}

/* ---- quantization (ggml's *_ref quantizers) ----------------------------- */

/* Truncates toward zero and clamps, as ggml's (int8_t) casts followed by MIN/clip
 * for in-range values; NaN becomes 0 rather than undefined behaviour. */
static int clamp_int(float v, int lo, int hi) {
    if (!(v == v)) return 0;
    if (v <= (float)lo) return lo;
    if (v >= (float)hi) return hi;
    return (int)v;
}

static void quant_q8_0(const float *x, uint8_t *b, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += QK, b += 34) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        wr16(b, llm_f32_to_f16(d));
        for (int j = 0; j < QK; j++)
            b[2 + j] = (uint8_t)(int8_t)clamp_int(roundf(x[j] * id), -128, 127);
    }
}

static void quant_q4_0(const float *x, uint8_t *b, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += QK, b += 18) {
        float amax = 0.0f, max = 0.0f; /* max keeps the sign of the largest magnitude */
        for (int j = 0; j < QK; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        wr16(b, llm_f32_to_f16(d));
        for (int j = 0; j < QK / 2; j++) {
            int q0 = clamp_int(x[j] * id + 8.5f, 0, 15);
            int q1 = clamp_int(x[j + QK / 2] * id + 8.5f, 0, 15);
            b[2 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quant_q4_1(const float *x, uint8_t *b, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += QK, b += 20) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        float d = (max - min) / 15.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        wr16(b, llm_f32_to_f16(d));
        wr16(b + 2, llm_f32_to_f16(min));
        for (int j = 0; j < QK / 2; j++) {
            int q0 = clamp_int((x[j] - min) * id + 0.5f, 0, 15);
            int q1 = clamp_int((x[j + QK / 2] - min) * id + 0.5f, 0, 15);
            b[4 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Q5_0 (q5_1 = 0: d = signed max / -16, q = x / d + 16.5 truncated) and Q5_1 (d = range / 31,
 * m = min, q = (x - m) / d + 0.5 truncated), as quantize_row_q5_{0,1}_ref. */
static void quant_q5(const float *x, uint8_t *b, size_t nb, int q5_1) {
    const size_t bb = q5_1 ? 24 : 22;
    for (size_t i = 0; i < nb; i++, x += QK, b += bb) {
        float d, id, lo = 0.0f, add;
        if (q5_1) {
            float min = INFINITY, max = -INFINITY;
            for (int j = 0; j < QK; j++) {
                if (x[j] < min) min = x[j];
                if (x[j] > max) max = x[j];
            }
            d = (max - min) / 31.0f;
            lo = min;
            add = 0.5f;
            wr16(b + 2, llm_f32_to_f16(min));
        } else {
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < QK; j++)
                if (amax < fabsf(x[j])) {
                    amax = fabsf(x[j]);
                    max = x[j];
                }
            d = max / -16.0f;
            add = 16.5f;
        }
        id = d != 0.0f ? 1.0f / d : 0.0f;
        wr16(b, llm_f32_to_f16(d));
        uint8_t *h = b + (q5_1 ? 4 : 2), *qs = h + 4;
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = clamp_int((x[j] - lo) * id + add, 0, 31);
            int q1 = clamp_int((x[j + QK / 2] - lo) * id + add, 0, 31);
            qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++)
            h[k] = (uint8_t)(qh >> (8 * k));
    }
}

clg_status llm_quantize(int dtype, const float *src, void *dst, size_t n) {
    const dtype_info *d = NULL;
    clg_status st = check_args("llm_quantize", dtype, src, dst, n, &d);
    if (st != CLG_OK) return st;
    uint8_t *b = dst;
    size_t nb = n / d->block_elems;
    switch (dtype) {
    case LLM_DTYPE_F32:
        memcpy(dst, src, n * 4);
        break;
    case LLM_DTYPE_F16:
        for (size_t i = 0; i < n; i++)
            wr16(b + 2 * i, llm_f32_to_f16(src[i]));
        break;
    case LLM_DTYPE_BF16:
        for (size_t i = 0; i < n; i++)
            wr16(b + 2 * i, f32_to_bf16(src[i]));
        break;
    case LLM_DTYPE_Q4_0:
        quant_q4_0(src, b, nb);
        break;
    case LLM_DTYPE_Q4_1:
        quant_q4_1(src, b, nb);
        break;
    case LLM_DTYPE_Q5_0:
    case LLM_DTYPE_Q5_1:
        quant_q5(src, b, nb, dtype == LLM_DTYPE_Q5_1);
        break;
    case LLM_DTYPE_Q8_0:
        quant_q8_0(src, b, nb);
        break;
    default:
        return clg_fail(CLG_ERR_UNSUPPORTED, "llm_quantize: quantizing to %s is not supported",
                        d->name);
    }
    return CLG_OK;
}

/* ---- the x8 layout (gguf.h) ---------------------------------------------------- */

int llm_x8_type(int dtype) {
    return dtype == LLM_DTYPE_Q4_0 || dtype == LLM_DTYPE_Q4_1 || dtype == LLM_DTYPE_Q8_0 ||
           dtype == LLM_DTYPE_Q5_0 || dtype == LLM_DTYPE_Q6_K || dtype == LLM_DTYPE_Q4_K;
}

/* q5_0: the 8 rows' d, the nibble chunks as q4_0, then the fifth bits: bit k of byte 4i + e
 * is that of element 4k + e (k < 4) or 16 + 4(k - 4) + e of row i. */
static void repack_q5_0(const uint8_t *s, uint8_t *d, size_t rows, size_t nb) {
    for (size_t g = 0; g < rows / 8; g++)
        for (size_t b = 0; b < nb; b++, d += 8 * 22)
            for (size_t i = 0; i < 8; i++) {
                const uint8_t *blk = s + ((8 * g + i) * nb + b) * 22;
                uint32_t qh = (uint32_t)blk[2] | (uint32_t)blk[3] << 8 | (uint32_t)blk[4] << 16 |
                              (uint32_t)blk[5] << 24;
                memcpy(d + 2 * i, blk, 2);
                for (size_t c = 0; c < 4; c++)
                    memcpy(d + 16 + 32 * c + 4 * i, blk + 6 + 4 * c, 4);
                for (unsigned e = 0; e < 4; e++) {
                    uint8_t f = 0;
                    for (unsigned k = 0; k < 8; k++)
                        f |= (uint8_t)(((qh >> (k < 4 ? 4 * k + e : 16 + 4 * (k - 4) + e)) & 1)
                                       << k);
                    d[144 + 4 * i + e] = f;
                }
            }
}

/* q6_k (gguf.h): per super-block of the 8 rows, d[8], the scales [16][8], then per sub-block
 * j the 4 chunks of low nibbles and the two 32-byte planes of high bits. */
static void repack_q6_k(const uint8_t *s, uint8_t *d, size_t rows, size_t nb) {
    for (size_t g = 0; g < rows / 8; g++)
        for (size_t b = 0; b < nb; b++, d += 8 * 210)
            for (size_t i = 0; i < 8; i++) {
                const uint8_t *blk = s + ((8 * g + i) * nb + b) * 210;
                memcpy(d + 2 * i, blk + 208, 2);
                for (size_t k = 0; k < 16; k++)
                    d[16 + 8 * k + i] = blk[192 + k];
                for (unsigned j = 0; j < 8; j++) { /* sub-block j = 4n + k of the row's */
                    unsigned n = j >> 2, k = j & 3;
                    const uint8_t *ql = blk + 64 * n + 32 * (k & 1), *qh = blk + 128 + 32 * n;
                    uint8_t *sub = d + 144 + 192 * j + 4 * i;
                    for (unsigned e = 0; e < 4; e++) {
                        unsigned h0 = 0, h1 = 0;
                        for (unsigned c = 0; c < 4; c++) {
                            unsigned l = 4 * c + e;
                            unsigned lo = (ql[l] >> (4 * (k >> 1))) & 15;
                            unsigned hi = (ql[l + 16] >> (4 * (k >> 1))) & 15;
                            sub[32 * c + e] = (uint8_t)(lo | hi << 4);
                            h0 |= ((qh[l] >> (2 * k)) & 3u) << (2 * c);
                            h1 |= ((qh[l + 16] >> (2 * k)) & 3u) << (2 * c);
                        }
                        sub[128 + e] = (uint8_t)h0;
                        sub[160 + e] = (uint8_t)h1;
                    }
                }
            }
}

/* q4_k (gguf.h): per super-block of the 8 rows, d[8], dmin[8], the 12 scale bytes with the
 * rows interleaved, then per sub-block j its 4 chunks of nibbles. */
static void repack_q4_k(const uint8_t *s, uint8_t *d, size_t rows, size_t nb) {
    for (size_t g = 0; g < rows / 8; g++)
        for (size_t b = 0; b < nb; b++, d += 8 * 144)
            for (size_t i = 0; i < 8; i++) {
                const uint8_t *blk = s + ((8 * g + i) * nb + b) * 144;
                memcpy(d + 2 * i, blk, 2);
                memcpy(d + 16 + 2 * i, blk + 2, 2);
                for (size_t k = 0; k < 12; k++)
                    d[32 + 8 * k + i] = blk[4 + k];
                /* sub-blocks 2I (low nibbles of qs[32I ..]) and 2I + 1 (high) */
                for (unsigned I = 0; I < 4; I++)
                    for (unsigned l = 0; l < 16; l++) {
                        unsigned a = blk[16 + 32 * I + l], c = blk[16 + 32 * I + 16 + l];
                        size_t o = 128 + 32 * (l >> 2) + 4 * i + (l & 3);
                        d[o + 128 * (2 * I)] = (uint8_t)((a & 15) | (c & 15) << 4);
                        d[o + 128 * (2 * I + 1)] = (uint8_t)((a >> 4) | (c & 0xf0));
                    }
            }
}

clg_status llm_repack_x8(int dtype, const void *src, void *dst, size_t rows, size_t cols) {
    if (!llm_x8_type(dtype))
        return clg_fail(CLG_ERR_UNSUPPORTED, "llm_repack_x8: type %s has no x8 layout",
                        llm_dtype_name(dtype) ? llm_dtype_name(dtype) : "?");
    const size_t be = llm_dtype_block_elems(dtype);
    if (rows % 8 || cols % be || (rows && cols && (!src || !dst)) || src == dst)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "llm_repack_x8: [%zu, %zu] needs rows a multiple of 8, cols of %zu and "
                        "two distinct buffers",
                        rows, cols, be);
    const size_t nb = cols / be, bb = llm_dtype_block_bytes(dtype);
    const uint8_t *s = src;
    uint8_t *d = dst;
    if (dtype == LLM_DTYPE_Q5_0 || dtype == LLM_DTYPE_Q6_K || dtype == LLM_DTYPE_Q4_K) {
        (dtype == LLM_DTYPE_Q5_0   ? repack_q5_0
         : dtype == LLM_DTYPE_Q6_K ? repack_q6_k
                                   : repack_q4_k)(s, d, rows, nb);
        return CLG_OK;
    }
    const size_t nscale = dtype == LLM_DTYPE_Q4_1 ? 2 : 1; /* f16 d (and m) per block */
    const size_t nchunk = (bb - 2 * nscale) / 4;           /* of 4 quant bytes */
    for (size_t g = 0; g < rows / 8; g++)
        for (size_t b = 0; b < nb; b++, d += 8 * bb)
            for (size_t i = 0; i < 8; i++) {
                const uint8_t *blk = s + ((8 * g + i) * nb + b) * bb;
                for (size_t k = 0; k < nscale; k++)
                    memcpy(d + 16 * k + 2 * i, blk + 2 * k, 2);
                for (size_t c = 0; c < nchunk; c++)
                    memcpy(d + 16 * nscale + 32 * c + 4 * i, blk + 2 * nscale + 4 * c, 4);
            }
    return CLG_OK;
}
