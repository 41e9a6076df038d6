/* Weight types: dequantization of every type and quantization (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1)
 * bit-exact against golden vectors from the Python gguf package (test/data/quant/), error bounds
 * of quantize -> dequantize, exhaustive f16 conversion checks, and the dtype table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "test_common.h"

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = buf ? (size_t)n : 0;
    return buf;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Bit-exact float comparison (NaN equals NaN); prints the first mismatch. */
static int same_floats(const char *what, const float *got, const float *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = fbits(got[i]) == fbits(want[i]) || (isnan(got[i]) && isnan(want[i]));
        if (!ok && bad++ == 0) first = i;
    }
    tc_checks++;
    if (bad) {
        tc_failures++;
        fprintf(stderr, "%s: %zu of %zu values differ; first at %zu: got %.9g want %.9g\n", what,
                bad, n, first, got[first], want[first]);
        return 0;
    }
    printf("  %s: %zu values bit-exact\n", what, n);
    return 1;
}

static void golden(const char *name, int dtype) {
    char rel[64], what[96];
    snprintf(rel, sizeof rel, "quant/%s.bin", name);
    size_t size = 0;
    uint8_t *buf = read_file(tc_data(rel), &size);
    CHECK(buf != NULL);
    if (!buf) {
        fprintf(stderr, "cannot read %s\n", tc_data(rel));
        return;
    }
    CHECK(size >= 24 && !memcmp(buf, "CLGQ", 4) && rd32(buf + 4) == 1);
    uint32_t type = rd32(buf + 8), n = rd32(buf + 12), has_input = rd32(buf + 16);
    uint32_t qbytes = rd32(buf + 20);
    CHECK(type == (uint32_t)dtype);
    size_t need = 24 + (has_input ? 4 * (size_t)n : 0) + qbytes + 4 * (size_t)n;
    CHECK(size == need);
    CHECK(qbytes == llm_dtype_row_bytes(dtype, n));
    if (size != need || type != (uint32_t)dtype || qbytes != llm_dtype_row_bytes(dtype, n)) {
        free(buf);
        return;
    }
    float *in = malloc(4 * (size_t)n), *deq = malloc(4 * (size_t)n), *got = malloc(4 * (size_t)n);
    uint8_t *q = malloc(qbytes), *myq = malloc(qbytes);
    size_t pos = 24;
    if (has_input) memcpy(in, buf + pos, 4 * (size_t)n), pos += 4 * (size_t)n;
    memcpy(q, buf + pos, qbytes);
    pos += qbytes;
    memcpy(deq, buf + pos, 4 * (size_t)n);

    if (has_input) {
        CHECK_OK(llm_quantize(dtype, in, myq, n));
        size_t diff = 0, first = 0;
        for (size_t i = 0; i < qbytes; i++)
            if (myq[i] != q[i] && diff++ == 0) first = i;
        CHECK(diff == 0);
        if (diff)
            fprintf(stderr,
                    "%s quantize: %zu of %u bytes differ, first at byte %zu (block %zu): "
                    "got 0x%02x want 0x%02x\n",
                    name, diff, qbytes, first, first / llm_dtype_block_bytes(dtype), myq[first],
                    q[first]);
        else
            printf("  %s quantize: %u bytes bit-exact\n", name, qbytes);
    }
    CHECK_OK(llm_dequantize(dtype, q, got, n));
    snprintf(what, sizeof what, "%s dequantize", name);
    same_floats(what, got, deq, n);
    free(in);
    free(deq);
    free(got);
    free(q);
    free(myq);
    free(buf);
}

/* quantize -> dequantize stays within the per-block bound of each format. */
static void error_bounds(int dtype, const char *name) {
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    double worst = 0;
    size_t bad = 0;
    for (int b = 0; b < N / 32; b++) {
        float scale = powf(10.0f, tc_randf(-3, 3));
        for (int j = 0; j < 32; j++)
            x[b * 32 + j] = tc_randf(-1, 1) * scale;
        if (b % 7 == 3) /* skewed blocks: all positive */
            for (int j = 0; j < 32; j++)
                x[b * 32 + j] = fabsf(x[b * 32 + j]) + scale;
    }
    CHECK_OK(llm_quantize(dtype, x, q, N));
    CHECK_OK(llm_dequantize(dtype, q, y, N));
    for (int b = 0; b < N / 32; b++) {
        float amax = 0, mn = INFINITY, mx = -INFINITY;
        for (int j = 0; j < 32; j++) {
            float v = x[b * 32 + j];
            amax = fmaxf(amax, fabsf(v));
            mn = fminf(mn, v);
            mx = fmaxf(mx, v);
        }
        for (int j = 0; j < 32; j++) {
            double v = x[b * 32 + j], e = fabs(v - y[b * 32 + j]), bound;
            /* rounding to the nearest step, plus the f16 rounding of d (and m), which is
             * absolute (2^-25) where d is an f16 subnormal */
            const double h = ldexp(1, -25);
            switch (dtype) {
            case LLM_DTYPE_Q8_0:
                bound = amax * (0.5 / 127 + 1.0 / 2048) + 127 * h;
                break;
            case LLM_DTYPE_Q4_0: /* +amax clips to 7d: a whole step */
                bound = amax * (1.0 / 8 + 1.0 / 2048) + 8 * h;
                break;
            case LLM_DTYPE_Q4_1:
                bound = (mx - mn) * (1.0 / 30 + 1.0 / 2048) + fabs(mn) / 2048 + 16 * h;
                break;
            case LLM_DTYPE_Q5_0: /* +amax clips to 15d: a whole step */
                bound = amax * (1.0 / 16 + 1.0 / 2048) + 16 * h;
                break;
            case LLM_DTYPE_Q5_1:
                bound = (mx - mn) * (1.0 / 62 + 1.0 / 2048) + fabs(mn) / 2048 + 32 * h;
                break;
            case LLM_DTYPE_F16:
                bound = fabs(v) / 2048 + h;
                break;
            case LLM_DTYPE_BF16:
                bound = fabs(v) / 256;
                break;
            default:
                bound = 0;
            }
            double rel = bound > 0 ? e / bound : e > 0;
            if (rel > worst) worst = rel;
            if (!(e <= bound)) bad++;
        }
    }
    CHECK(bad == 0);
    printf("  %s round trip: worst error %.3f of the bound, %zu over\n", name, worst, bad);
}

static void f16_exhaustive(void) {
    size_t bad_trip = 0, bad_tie = 0, bad_nan = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = llm_f16_to_f32((uint16_t)h);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            bad_nan += !isnan(f) || !isnan(llm_f16_to_f32(llm_f32_to_f16(f)));
            continue;
        }
        bad_trip += llm_f32_to_f16(f) != h;
        /* the midpoint to the next larger magnitude rounds to the even neighbour */
        uint32_t mag = h & 0x7fff;
        if (mag < 0x7bff) {
            float g = llm_f16_to_f32((uint16_t)(h + 1));
            float mid = (f + g) / 2; /* exact: f16 values have 11 significant bits */
            uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            bad_tie += llm_f32_to_f16(mid) != want;
            /* just above / below the midpoint rounds away from / towards h */
            bad_tie += llm_f32_to_f16(nextafterf(mid, g)) != (uint16_t)(h + 1);
            bad_tie += llm_f32_to_f16(nextafterf(mid, f)) != (uint16_t)h;
        }
    }
    CHECK(bad_trip == 0);
    CHECK(bad_tie == 0);
    CHECK(bad_nan == 0);
    CHECK(llm_f32_to_f16(65520.0f) == 0x7c00 && llm_f32_to_f16(-1e30f) == 0xfc00);
    CHECK(llm_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(llm_f32_to_f16(INFINITY) == 0x7c00 && isinf(llm_f16_to_f32(0x7c00)));
    CHECK(llm_f32_to_f16(-0.0f) == 0x8000 && llm_f32_to_f16(1e-10f) == 0);
    CHECK(llm_f16_to_f32(0x0001) == ldexpf(1, -24) && llm_f16_to_f32(0x3c00) == 1.0f);
    printf("  f16: 65536 round trips, ties to even: %zu / %zu / %zu bad\n", bad_trip, bad_tie,
           bad_nan);
}

static void specials(void) {
    float nan_in[32], out[32];
    uint8_t q[64];
    for (int i = 0; i < 32; i++)
        nan_in[i] = NAN;
    CHECK_OK(llm_quantize(LLM_DTYPE_BF16, nan_in, q, 32));
    CHECK_OK(llm_dequantize(LLM_DTYPE_BF16, q, out, 32));
    CHECK(isnan(out[0]) && (q[1] & 0x7f) == 0x7f && (q[0] & 0x40));
    CHECK_OK(llm_quantize(LLM_DTYPE_F16, nan_in, q, 32));
    CHECK_OK(llm_dequantize(LLM_DTYPE_F16, q, out, 32));
    CHECK(isnan(out[31]));
    /* NaN or inf inputs to the block quantizers must not crash (values are unspecified) */
    CHECK_OK(llm_quantize(LLM_DTYPE_Q8_0, nan_in, q, 32));
    CHECK_OK(llm_quantize(LLM_DTYPE_Q4_0, nan_in, q, 32));
    for (int i = 0; i < 32; i++)
        nan_in[i] = i == 3 ? INFINITY : (float)i;
    CHECK_OK(llm_quantize(LLM_DTYPE_Q4_1, nan_in, q, 32));
    CHECK_OK(llm_quantize(LLM_DTYPE_Q8_0, nan_in, q, 32));
}

static void dtype_table(void) {
    /* the engine's types, then some of the other ggml types (sizes as gguf-py's
     * GGML_QUANT_SIZES) */
    static const int ids[] = {LLM_DTYPE_F32,
                              LLM_DTYPE_F16,
                              LLM_DTYPE_BF16,
                              LLM_DTYPE_Q8_0,
                              LLM_DTYPE_Q4_0,
                              LLM_DTYPE_Q4_1,
                              LLM_DTYPE_Q5_0,
                              LLM_DTYPE_Q5_1,
                              LLM_DTYPE_Q4_K,
                              LLM_DTYPE_Q5_K,
                              LLM_DTYPE_Q6_K,
                              9,
                              10,
                              16,
                              24,
                              28,
                              35,
                              41};
    static const size_t elems[] = {1,   1,   1,  32,  32,  32, 32, 32,  256,
                                   256, 256, 32, 256, 256, 1,  1,  256, 128};
    static const size_t bytes[] = {4,   2,   2,  34, 18, 20, 22, 24, 144,
                                   176, 210, 40, 84, 66, 1,  8,  66, 18};
    static const char *const other[] = {"q8_1", "q2_k", "iq2_xxs", "i8", "f64", "tq2_0", "q1_0"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        const char *name = llm_dtype_name(ids[11 + i]);
        CHECK(name && !strcmp(name, other[i]));
    }
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *name = llm_dtype_name(ids[i]);
        CHECK(name != NULL);
        if (!name) continue;
        CHECK(llm_dtype_from_name(name) == ids[i]);
        char up[16];
        size_t k = 0;
        for (; name[k] && k < 15; k++)
            up[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
        up[k] = 0;
        CHECK(llm_dtype_from_name(up) == ids[i]);
        CHECK(llm_dtype_block_elems(ids[i]) == elems[i]);
        CHECK(llm_dtype_block_bytes(ids[i]) == bytes[i]);
        CHECK(llm_dtype_row_bytes(ids[i], elems[i] * 3) == bytes[i] * 3);
    }
    CHECK(llm_dtype_row_bytes(LLM_DTYPE_Q4_K, 100) == 0);
    CHECK(llm_dtype_row_bytes(LLM_DTYPE_Q4_0, 576) == 18 * 18);
    CHECK(llm_dtype_row_bytes(LLM_DTYPE_Q8_0, UINT64_MAX - 31) == 0); /* overflow */
    CHECK(llm_dtype_row_bytes(LLM_DTYPE_Q5_0, 48) == 0 &&
          llm_dtype_row_bytes(LLM_DTYPE_Q5_1, 64) == 48);
    /* ids ggml retired (q4_2, q4_3, the interleaved q4_0_4_4..) and past its table */
    CHECK(llm_dtype_name(4) == NULL && llm_dtype_name(5) == NULL && llm_dtype_name(31) == NULL);
    CHECK(llm_dtype_name(42) == NULL && llm_dtype_name(-1) == NULL);
    CHECK(llm_dtype_from_name("q4_2") == -1 && llm_dtype_from_name("") == -1);
    CHECK(llm_dtype_from_name("q4") == -1 && llm_dtype_from_name("q4_0x") == -1);
    CHECK(llm_dtype_from_name(NULL) == -1);
    CHECK(llm_dtype_block_elems(99) == 0 && llm_dtype_block_bytes(99) == 0);

    float x[64] = {0};
    uint8_t q[512];
    CHECK(llm_dequantize(LLM_DTYPE_Q4_0, q, x, 33) == CLG_ERR_INVALID_ARG);
    CHECK(strlen(clg_last_error()) > 0);
    CHECK(llm_dequantize(77, q, x, 32) == CLG_ERR_UNSUPPORTED);
    CHECK(llm_dequantize(16, q, x, 256) == CLG_ERR_UNSUPPORTED); /* iq2_xxs: known, not read */
    CHECK(strstr(clg_last_error(), "iq2_xxs") != NULL);
    CHECK(llm_quantize(LLM_DTYPE_Q4_K, x, q, 256) == CLG_ERR_UNSUPPORTED);
    CHECK(llm_quantize(LLM_DTYPE_Q8_0, NULL, q, 32) == CLG_ERR_INVALID_ARG);
    CHECK_OK(llm_dequantize(LLM_DTYPE_Q8_0, NULL, NULL, 0));
}

int main(void) {
    tc_seed(7);
    golden("f32", LLM_DTYPE_F32);
    golden("f16", LLM_DTYPE_F16);
    golden("bf16", LLM_DTYPE_BF16);
    golden("q8_0", LLM_DTYPE_Q8_0);
    golden("q4_0", LLM_DTYPE_Q4_0);
    golden("q4_1", LLM_DTYPE_Q4_1);
    golden("q4_k", LLM_DTYPE_Q4_K);
    golden("q5_k", LLM_DTYPE_Q5_K);
    golden("q6_k", LLM_DTYPE_Q6_K);
    golden("q5_0", LLM_DTYPE_Q5_0);
    golden("q5_1", LLM_DTYPE_Q5_1);
    error_bounds(LLM_DTYPE_Q8_0, "q8_0");
    error_bounds(LLM_DTYPE_Q4_0, "q4_0");
    error_bounds(LLM_DTYPE_Q4_1, "q4_1");
    error_bounds(LLM_DTYPE_Q5_0, "q5_0");
    error_bounds(LLM_DTYPE_Q5_1, "q5_1");
    error_bounds(LLM_DTYPE_F16, "f16");
    error_bounds(LLM_DTYPE_BF16, "bf16");
    f16_exhaustive();
    specials();
    dtype_table();
    return tc_finish("quant");
}
