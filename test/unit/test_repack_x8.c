/* llm_repack_x8 (gguf.h), the x8 layout of cl/matmul_q8.cl's interleaved products: which types
 * have it (llm_x8_type), the refusals (rows not a multiple of 8, cols not of 32, a type
 * without the layout, src == dst) with their status and message and nothing written, a
 * hand-built 8-row matrix whose bytes must land at the offsets gguf.h gives, every byte of
 * random matrices at those offsets (nothing else written), and the weights read back through
 * the layout's element order equal to llm_dequantize of the row-major matrix. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "test_common.h"

#define PAD 64 /* sentinel bytes after dst, which must stay */

/* A refused call: status want, a message containing hint, dst untouched. */
static void refused(const char *what, int dtype, const void *src, unsigned char *dst, size_t bytes,
                    size_t rows, size_t cols, clg_status want, const char *hint) {
    memset(dst, 0xA5, bytes);
    clg_status st = llm_repack_x8(dtype, src, dst, rows, cols);
    CHECK(st == want);
    CHECK(strstr(clg_last_error(), "llm_repack_x8") && strstr(clg_last_error(), hint));
    size_t touched = 0;
    for (size_t i = 0; i < bytes; i++)
        touched += dst[i] != 0xA5;
    CHECK(touched == 0);
    printf("  %s: %s (%s)\n", what, clg_status_str(st), clg_last_error());
}

static void test_refusals(void) {
    enum { BYTES = 24 * 3 * 20 };
    unsigned char src[BYTES], dst[BYTES];
    memset(src, 0x3C, sizeof src);
    /* the message names the shape and what it needs */
    refused("rows 12", LLM_DTYPE_Q4_0, src, dst, BYTES, 12, 32, CLG_ERR_INVALID_ARG, "[12, 32]");
    refused("rows 4", LLM_DTYPE_Q4_1, src, dst, BYTES, 4, 64, CLG_ERR_INVALID_ARG, "multiple of 8");
    refused("cols 48", LLM_DTYPE_Q4_0, src, dst, BYTES, 8, 48, CLG_ERR_INVALID_ARG, "[8, 48]");
    refused("cols 16", LLM_DTYPE_Q4_1, src, dst, BYTES, 16, 16, CLG_ERR_INVALID_ARG, "cols of 32");
    refused("q5_1", LLM_DTYPE_Q5_1, src, dst, BYTES, 8, 32, CLG_ERR_UNSUPPORTED, "q5_1");
    refused("f32", LLM_DTYPE_F32, src, dst, BYTES, 8, 32, CLG_ERR_UNSUPPORTED, "f32");
    refused("q5_k", LLM_DTYPE_Q5_K, src, dst, BYTES, 8, 256, CLG_ERR_UNSUPPORTED, "no x8 layout");
    refused("q4_k cols 32", LLM_DTYPE_Q4_K, src, dst, BYTES, 8, 32, CLG_ERR_INVALID_ARG,
            "cols of 256");
    refused("unknown type", 999, src, dst, BYTES, 8, 32, CLG_ERR_UNSUPPORTED, "no x8 layout");
    refused("src == dst", LLM_DTYPE_Q4_0, dst, dst, BYTES, 8, 32, CLG_ERR_INVALID_ARG, "distinct");
    refused("NULL src", LLM_DTYPE_Q4_1, NULL, dst, BYTES, 8, 32, CLG_ERR_INVALID_ARG, "distinct");
    CHECK(llm_repack_x8(LLM_DTYPE_Q4_0, src, NULL, 8, 32) == CLG_ERR_INVALID_ARG);
}

static void test_types(void) {
    for (int t = -1; t < 40; t++) {
        int want = t == LLM_DTYPE_Q4_0 || t == LLM_DTYPE_Q4_1 || t == LLM_DTYPE_Q8_0 ||
                   t == LLM_DTYPE_Q5_0 || t == LLM_DTYPE_Q4_K || t == LLM_DTYPE_Q6_K;
        CHECK(llm_x8_type(t) == want);
        if (llm_x8_type(t) != want) fprintf(stderr, "llm_x8_type(%d) != %d\n", t, want);
    }
}

/* 8 rows, one q4_0 block each: row i's d bytes (0x10 + i, 0x20 + i), its quant byte k
 * (i << 4 | k). gguf.h: the 8 f16 d first (row i's at byte 2i), then chunk c's 32 bytes
 * hold row i's quant bytes 4c .. 4c + 3 at 4i. */
static void test_known_layout(void) {
    unsigned char src[8 * 18], dst[8 * 18 + PAD];
    for (int i = 0; i < 8; i++) {
        src[18 * i] = (unsigned char)(0x10 + i);
        src[18 * i + 1] = (unsigned char)(0x20 + i);
        for (int k = 0; k < 16; k++)
            src[18 * i + 2 + k] = (unsigned char)(i << 4 | k);
    }
    memset(dst, 0xA5, sizeof dst);
    CHECK_OK(llm_repack_x8(LLM_DTYPE_Q4_0, src, dst, 8, 32));
    CHECK(dst[0] == 0x10 && dst[1] == 0x20); /* row 0's d */
    CHECK(dst[6] == 0x13 && dst[7] == 0x23); /* row 3's d */
    CHECK(dst[14] == 0x17 && dst[15] == 0x27);
    CHECK(dst[16] == 0x00 && dst[19] == 0x03); /* chunk 0: row 0's q[0..3] */
    CHECK(dst[20] == 0x10 && dst[47] == 0x73); /* chunk 0: row 1's q[0], row 7's q[3] */
    CHECK(dst[61] == 0x35);                    /* chunk 1, row 3: q[5] at 16 + 32 + 12 + 1 */
    CHECK(dst[16 + 64 + 8] == 0x28);           /* chunk 2, row 2: q[8] */
    CHECK(dst[143] == 0x7F);                   /* chunk 3, row 7: q[15], the last byte */
    CHECK(dst[144] == 0xA5);                   /* nothing past the matrix */
    /* the same for q4_1, whose m (bytes 2, 3 of a block) follow the 8 d */
    unsigned char s1[8 * 20], d1[8 * 20 + PAD];
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 20; k++)
            s1[20 * i + k] = (unsigned char)(i << 5 | k);
    memset(d1, 0xA5, sizeof d1);
    CHECK_OK(llm_repack_x8(LLM_DTYPE_Q4_1, s1, d1, 8, 32));
    CHECK(d1[10] == (5 << 5 | 0) && d1[11] == (5 << 5 | 1));   /* row 5's d */
    CHECK(d1[26] == (5 << 5 | 2) && d1[27] == (5 << 5 | 3));   /* row 5's m at 16 + 2i */
    CHECK(d1[32 + 32 * 3 + 4 * 6 + 2] == (6 << 5 | (4 + 14))); /* row 6's q[14] */
    CHECK(d1[159] == (7 << 5 | 19) && d1[160] == 0xA5);
}

/* Every byte of a random [rows, cols] matrix at its gguf.h offset, and the weights read in the
 * layout's element order (element 4c + j of row i: low nibble of chunk c's byte 4i + j, element
 * 16 + 4c + j its high nibble; q8_0: element 4c + j is that byte) equal to llm_dequantize of the
 * row-major matrix. */
static void test_random(int dtype, size_t rows, size_t cols) {
    const size_t bb = llm_dtype_block_bytes(dtype), nb = cols / 32, ns = dtype == LLM_DTYPE_Q4_1;
    const int q8 = dtype == LLM_DTYPE_Q8_0; /* 8 chunks of signed bytes, element 4c + j */
    const size_t nq = q8 ? 32 : 16;         /* quant bytes per block */
    const size_t bytes = rows * nb * bb;
    unsigned char *src = malloc(bytes), *dst = malloc(bytes + PAD);
    float *w = malloc(rows * cols * sizeof *w), *x8w = malloc(rows * cols * sizeof *w);
    CHECK(src && dst && w && x8w);
    if (!(src && dst && w && x8w)) goto done;
    tc_fill(w, rows * cols, -1, 1);
    CHECK_OK(llm_quantize(dtype, w, src, rows * cols));
    CHECK_OK(llm_dequantize(dtype, src, w, rows * cols));
    memset(dst, 0xA5, bytes + PAD);
    CHECK_OK(llm_repack_x8(dtype, src, dst, rows, cols));
    size_t bad = 0, pad = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < nb; b++) {
            const unsigned char *s = src + (r * nb + b) * bb;
            const unsigned char *p = dst + ((r / 8) * nb + b) * 8 * bb;
            size_t i = r % 8;
            bad += memcmp(p + 2 * i, s, 2) != 0;                  /* d */
            if (ns) bad += memcmp(p + 16 + 2 * i, s + 2, 2) != 0; /* m */
            for (size_t k = 0; k < nq; k++)
                bad += p[16 * (1 + ns) + 32 * (k / 4) + 4 * i + k % 4] != s[2 * (1 + ns) + k];
            float d = llm_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
            float m = ns ? llm_f16_to_f32((uint16_t)(p[16 + 2 * i] | p[17 + 2 * i] << 8)) : 0;
            for (size_t e = 0; e < 32; e++) {
                size_t c = (q8 ? e : e % 16) / 4, j = e % 4;
                unsigned char q = p[16 * (1 + ns) + 32 * c + 4 * i + j];
                int nib = e < 16 ? q & 15 : q >> 4;
                x8w[r * cols + b * 32 + e] = q8   ? d * (float)(signed char)q
                                             : ns ? d * (float)nib + m
                                                  : d * (float)(nib - 8);
            }
        }
    for (size_t i = 0; i < PAD; i++)
        pad += dst[bytes + i] != 0xA5;
    CHECK(bad == 0 && pad == 0);
    char what[64];
    snprintf(what, sizeof what, "%s x8 [%zu, %zu] read back", llm_dtype_name(dtype), rows, cols);
    /* q4_1's d * nib + m: one rounding that either side may fuse */
    tc_close(what, x8w, w, rows * cols, ns ? 1e-6f : 0.0f, 0.0f);
    if (bad || pad)
        fprintf(stderr, "%s [%zu, %zu]: %zu fields misplaced, %zu bytes written past the end\n",
                llm_dtype_name(dtype), rows, cols, bad, pad);
done:
    free(src);
    free(dst);
    free(w);
    free(x8w);
}

int main(void) {
    tc_seed(8);
    test_types();
    test_refusals();
    test_known_layout();
    static const int types[] = {LLM_DTYPE_Q4_0, LLM_DTYPE_Q4_1, LLM_DTYPE_Q8_0};
    for (int t = 0; t < 3; t++) {
        int dtype = types[t];
        test_random(dtype, 8, 32);
        test_random(dtype, 24, 96);
        test_random(dtype, 64, 576);
    }
    return tc_finish("unit.repack_x8");
}
