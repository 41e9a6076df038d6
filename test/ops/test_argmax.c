/* Device-side greedy sampling (cl/argmax.cl) against ref_argmax: random logits of several
 * lengths (1, below, at and not a multiple of the work-group, SmolLM2's vocabulary), ties
 * between items and within one item's slice (the lowest index must win), all equal,
 * all negative, -INF and NaN entries, one +INF entry (both flagged with -1: a token chosen
 * among non-finite logits is garbage); each alone and all seven as the rows of one launch
 * (one work-group a row); three work-group sizes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref_ops.h"
#include "test_common.h"

static int uniq = 0; /* buffer names are unique per context */

typedef enum fill_kind {
    FILL_RANDOM,
    FILL_TIE_SPREAD, /* the maximum at several indices owned by different items */
    FILL_TIE_SLICE,  /* the maximum at i and i + wg: the same item's slice */
    FILL_ALL_EQUAL,
    FILL_NEGATIVE,
    FILL_INF_NAN, /* -INF and NaN entries, the maximum elsewhere */
    FILL_POS_INF  /* one +INF entry among finite ones */
} fill_kind;

static const char *fill_name[] = {"random",   "tie spread", "tie slice", "all equal",
                                  "negative", "-inf nan",   "+inf"};

/* x[0 .. n) as kind says (wg: the work-group size, for the ties within one item's slice). */
static void fill_row(float *x, int n, int wg, fill_kind kind) {
    switch (kind) {
    case FILL_RANDOM:
        tc_fill(x, (size_t)n, -10.0f, 10.0f);
        break;
    case FILL_TIE_SPREAD:
        tc_fill(x, (size_t)n, -10.0f, 10.0f);
        for (int k = 0; k < 4; k++)
            x[(int)(tc_randu() % (unsigned)n)] = 11.0f;
        break;
    case FILL_TIE_SLICE: {
        tc_fill(x, (size_t)n, -10.0f, 10.0f);
        const int i = n > wg ? (int)(tc_randu() % (unsigned)(n - wg)) : 0;
        x[i] = 12.5f;
        if (i + wg < n) x[i + wg] = 12.5f;
        if (n > 2) x[n - 1] = 12.5f; /* the last element too */
        break;
    }
    case FILL_ALL_EQUAL:
        for (int i = 0; i < n; i++)
            x[i] = 0.25f;
        break;
    case FILL_NEGATIVE:
        tc_fill(x, (size_t)n, -1000.0f, -1.0f);
        break;
    case FILL_INF_NAN:
        tc_fill(x, (size_t)n, -10.0f, 10.0f);
        x[0] = NAN;
        for (int i = 1; i < n; i += 3)
            x[i] = -INFINITY;
        if (n > 5) x[n / 2] = NAN;
        break;
    case FILL_POS_INF:
        tc_fill(x, (size_t)n, -10.0f, 10.0f);
        x[n - 1] = INFINITY;
        break;
    }
}

/* Runs argmax on rows rows of n values, row r filled as kind + r (cycling through the
 * kinds: a flagged row must not flag the others); returns 1 if the case ran (0: work-group
 * above the limit). */
static int run_case(clg_context *ctx, clg_program *prog, int wg, int n, fill_kind kind, int rows) {
    float *x = malloc((size_t)rows * (size_t)n * sizeof *x);
    int *got = malloc((size_t)rows * sizeof *got), *want = malloc((size_t)rows * sizeof *want);
    if (!x || !got || !want) {
        CHECK(!"out of memory");
        free(x);
        free(got);
        free(want);
        return 0;
    }
    for (int r = 0; r < rows; r++) {
        const fill_kind k = (fill_kind)((kind + r) % (FILL_POS_INF + 1));
        fill_row(x + (size_t)r * n, n, wg, k);
        want[r] = ref_argmax(x + (size_t)r * n, n);
        got[r] = -2;
    }

    char name[64];
    snprintf(name, sizeof name, "x.%d", uniq);
    clg_buffer *bx = NULL, *bout = NULL;
    CHECK_OK(clg_buffer_create(ctx, name, (size_t)rows * n * sizeof *x,
                               CLG_TRANSFER_FIRST_EXECUTION, x, &bx));
    snprintf(name, sizeof name, "out.%d", uniq++);
    CHECK_OK(clg_buffer_create(ctx, name, (size_t)rows * sizeof *got, CLG_TRANSFER_EVERY_EXECUTION,
                               got, &bout));
    clg_graph *g = NULL;
    clg_task *t = NULL;
    int ran = 0;
    CHECK_OK(clg_graph_create(ctx, "argmax", &g));
    if (g) CHECK_OK(clg_graph_add_task(g, "argmax", prog, "argmax", &t));
    if (t && bx && bout) {
        CHECK_OK(clg_task_arg_buffer(t, 0, bx, CLG_READ));
        CHECK_OK(clg_task_arg_int(t, 1, n));
        CHECK_OK(clg_task_arg_buffer(t, 2, bout, CLG_WRITE));
        size_t global[2] = {(size_t)wg, (size_t)rows}, local[2] = {(size_t)wg, 1};
        clg_status st = clg_task_set_range(t, 2, global, local);
        if (st == CLG_OK) {
            CHECK_OK(clg_graph_execute(g));
            for (int r = 0; r < rows; r++) {
                CHECK(got[r] == want[r]);
                if (got[r] != want[r])
                    fprintf(stderr, "argmax wg=%d n=%d row %d of %d, %s: got %d want %d\n", wg, n,
                            r, rows, fill_name[(kind + r) % (FILL_POS_INF + 1)], got[r], want[r]);
            }
            ran = 1;
        } else if (strstr(clg_last_error(), "exceeds this kernel's limit")) {
            printf("  skipped: %s\n", clg_last_error());
        } else {
            CHECK_OK(st);
        }
    }
    clg_graph_destroy(g);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(bout);
    free(x);
    free(got);
    free(want);
    return ran;
}

int main(void) {
    tc_seed(404);
    clg_context *ctx = tc_context();
    static const int wgs[] = {256, 32, 16}; /* 256 is the default: built without options */
    static const int ns[] = {1, 7, 16, 256, 1000, 49152};
    int ran = 0, total = 0;
    for (int k = 0; k < 3; k++) {
        char opt[32] = "";
        if (wgs[k] != 256) snprintf(opt, sizeof opt, "-DARGMAX_WG=%d", wgs[k]);
        clg_program *prog = NULL;
        CHECK_OK(clg_program_get(ctx, "argmax", opt, &prog));
        if (!prog) continue;
        int ran_wg = 0, total_wg = 0;
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (int f = FILL_RANDOM; f <= FILL_POS_INF + 1; f++) {
                /* each kind alone, then all of them as the rows of one launch */
                const int rows = f > FILL_POS_INF ? FILL_POS_INF + 1 : 1;
                ran_wg += run_case(ctx, prog, wgs[k], ns[i],
                                   f > FILL_POS_INF ? FILL_RANDOM : (fill_kind)f, rows);
                total_wg++;
            }
        printf("  ARGMAX_WG=%d: %d of %d cases ran\n", wgs[k], ran_wg, total_wg);
        ran += ran_wg;
        total += total_wg;
    }
    CHECK(ran >= total / 3); /* at least one work-group size ran every case */
    clg_context_destroy(ctx);
    return tc_finish("ops.argmax");
}
