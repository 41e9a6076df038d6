/* RoPE kernel (cl/rope.cl) against the double reference ref_rope: normal and NeoX pairs,
 * Q and K of a fused QKV row as two launches (SmolLM2: 9 query heads, 3 KV heads, dim 64,
 * base 100000), n_rot < head_dim, frequency scaling, positions not starting at 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref_ops.h"
#include "test_common.h"

static int uniq = 0; /* buffer names are unique per context */

typedef struct rope_case {
    const char *name;
    int T, n_heads, n_kv_heads, head_dim, n_rot;
    float freq_base, freq_scale;
    int pos0, pos_step; /* pos[t] = pos0 + t * pos_step */
    int factors;        /* random Llama 3.1-style frequency divisors in [1, 8], else none */
} rope_case;

static void add_rope(clg_graph *g, clg_program *prog, const char *name, clg_buffer *bx,
                     clg_buffer *bpos, clg_buffer *bfac, const rope_case *c, int row_stride,
                     int col_off, int n_heads, int neox) {
    clg_task *t = NULL;
    CHECK_OK(clg_graph_add_task(g, name, prog, "rope", &t));
    if (!t) return;
    CHECK_OK(clg_task_arg_buffer(t, 0, bx, CLG_READ_WRITE));
    CHECK_OK(clg_task_arg_buffer(t, 1, bpos, CLG_READ));
    CHECK_OK(clg_task_arg_int(t, 2, c->T));
    CHECK_OK(clg_task_arg_int(t, 3, row_stride));
    CHECK_OK(clg_task_arg_int(t, 4, col_off));
    CHECK_OK(clg_task_arg_int(t, 5, n_heads));
    CHECK_OK(clg_task_arg_int(t, 6, c->head_dim));
    CHECK_OK(clg_task_arg_int(t, 7, c->n_rot));
    CHECK_OK(clg_task_arg_float(t, 8, c->freq_base));
    CHECK_OK(clg_task_arg_float(t, 9, c->freq_scale));
    CHECK_OK(clg_task_arg_int(t, 10, neox));
    CHECK_OK(clg_task_arg_buffer(t, 11, bfac, CLG_READ));
    /* dimension 0 rounded up to a multiple of 8: the extra items must exit */
    size_t global[3] = {((size_t)c->n_rot / 2 + 7) / 8 * 8, (size_t)n_heads, (size_t)c->T};
    CHECK_OK(clg_task_set_range(t, 3, global, NULL));
}

/* A fused row [Q heads | K heads | V heads]: rotates Q and K, V must stay as it was. */
static void run_case(clg_context *ctx, clg_program *prog, const rope_case *c, int neox) {
    const int hd = c->head_dim;
    const int row_stride = (c->n_heads + 2 * c->n_kv_heads) * hd;
    const size_t count = (size_t)c->T * row_stride;
    float *x = malloc(count * sizeof *x), *want = malloc(count * sizeof *want);
    float *got = malloc(count * sizeof *got);
    int *pos = malloc((size_t)c->T * sizeof *pos);
    if (!x || !want || !got || !pos) {
        CHECK(!"out of memory");
        goto done;
    }
    tc_fill(x, count, -1.0f, 1.0f);
    int max_pos = 0;
    for (int t = 0; t < c->T; t++) {
        pos[t] = c->pos0 + t * c->pos_step;
        if (pos[t] > max_pos) max_pos = pos[t];
    }
    float fac[64];
    for (int i = 0; i < c->n_rot / 2; i++) fac[i] = c->factors ? tc_randf(1.0f, 8.0f) : 1.0f;
    memcpy(want, x, count * sizeof *x);
    ref_rope(want, pos, c->T, row_stride, 0, c->n_heads, hd, c->n_rot, c->freq_base, c->freq_scale,
             neox, c->factors ? fac : NULL);
    ref_rope(want, pos, c->T, row_stride, c->n_heads * hd, c->n_kv_heads, hd, c->n_rot,
             c->freq_base, c->freq_scale, neox, c->factors ? fac : NULL);

    char name[64];
    snprintf(name, sizeof name, "x.%d", uniq);
    clg_buffer *bx = NULL, *bpos = NULL;
    CHECK_OK(clg_buffer_create(ctx, name, count * sizeof *x, CLG_TRANSFER_FIRST_EXECUTION, x, &bx));
    snprintf(name, sizeof name, "pos.%d", uniq);
    CHECK_OK(clg_buffer_create(ctx, name, (size_t)c->T * sizeof *pos, CLG_TRANSFER_FIRST_EXECUTION,
                               pos, &bpos));
    clg_buffer *bfac = NULL;
    snprintf(name, sizeof name, "fac.%d", uniq++);
    CHECK_OK(clg_buffer_create(ctx, name, sizeof fac, CLG_TRANSFER_FIRST_EXECUTION, fac, &bfac));
    clg_graph *g = NULL;
    CHECK_OK(clg_graph_create(ctx, "rope", &g));
    if (!g || !bx || !bpos || !bfac) goto done;
    add_rope(g, prog, "rope_q", bx, bpos, bfac, c, row_stride, 0, c->n_heads, neox);
    add_rope(g, prog, "rope_k", bx, bpos, bfac, c, row_stride, c->n_heads * hd, c->n_kv_heads, neox);
    CHECK_OK(clg_graph_execute(g));
    CHECK_OK(clg_buffer_read(bx, 0, got, count * sizeof *got));

    /* theta = pos * freq_scale * base^(-2i/n_rot) in f32: pow is within 16 ulp in OpenCL
     * 1.2, the product adds 2 more, so |d theta| <= ~18 * 2^-24 * pos; with |x| <= 1 each
     * output moves by at most |d theta| * sqrt(2), plus a few ulp from sin/cos (4 ulp). */
    const float atol = 1e-5f + 2e-6f * (float)max_pos;
    char what[128];
    snprintf(what, sizeof what, "%s %s", c->name, neox ? "neox" : "normal");
    tc_close(what, got, want, count, atol, 0.0f);
    /* Dimensions >= n_rot and the V heads are not touched at all. */
    int exact = 1;
    for (int t = 0; t < c->T; t++)
        for (int k = 0; k < row_stride; k++) {
            const int head = k / hd, d = k % hd;
            const int rotated = head < c->n_heads + c->n_kv_heads && d < c->n_rot;
            const size_t i = (size_t)t * row_stride + k;
            if (!rotated && memcmp(&got[i], &x[i], sizeof *x) != 0) exact = 0;
        }
    CHECK(exact);
    clg_graph_destroy(g);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(bpos);
    clg_buffer_destroy(bfac);
done:
    free(x);
    free(want);
    free(got);
    free(pos);
}

int main(void) {
    tc_seed(202);
    clg_context *ctx = tc_context();
    clg_program *prog = NULL;
    CHECK_OK(clg_program_get(ctx, "rope", "", &prog));
    static const rope_case cases[] = {
        /* SmolLM2-135M: a prefill of 5 tokens after 17, and one decode step */
        {"smollm2 prefill", 5, 9, 3, 64, 64, 100000.0f, 1.0f, 17, 1, 0},
        {"smollm2 decode", 1, 9, 3, 64, 64, 100000.0f, 1.0f, 17, 1, 0},
        {"smollm2 from 0", 5, 9, 3, 64, 64, 100000.0f, 1.0f, 0, 1, 0},
        /* head_dim 128 rotating half of it, linear frequency scaling, far positions */
        {"hd128 nrot64 scale0.5", 3, 4, 1, 128, 64, 10000.0f, 0.5f, 1000, 37, 0},
        /* head_dim 32, n_rot 16, a base of 10000 */
        {"hd32 nrot16", 5, 4, 2, 32, 16, 10000.0f, 1.0f, 3, 11, 0},
        /* Llama 3.2-style: base 500000 with frequency divisors */
        {"hd64 factors", 4, 8, 2, 64, 64, 500000.0f, 1.0f, 250, 97, 1},
    };
    for (size_t k = 0; prog && k < sizeof cases / sizeof cases[0]; k++)
        for (int neox = 0; neox < 2; neox++)
            run_case(ctx, prog, &cases[k], neox);
    clg_context_destroy(ctx);
    return tc_finish("ops.rope");
}
