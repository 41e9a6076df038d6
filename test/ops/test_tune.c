/* The runtime planner (clgraph/planner.h) on a real device, on a kernel file of the test's
 * own (registered as a table, as a library embeds its kernels): the untuned default is the
 * declaration for the device type; every candidate it declares (each local size, each swept
 * value built as its own program) computes the right sums on fresh random inputs; tuning
 * leaves the tasks on a correct candidate with times; an alternative made of other tasks
 * competes; choices round-trip through the plan cache; a damaged file is ignored with a
 * warning; fit= and an undeclared value behave as documented; of several declarations for
 * the device type the caller's list order picks the default. */
#include <stdlib.h>
#include <string.h>

#include "clgraph/planner.h"
#include "test_common.h"

static const char src[] =
    "/* @variant row kernels=rowsum,rowsum_twice local=16,1,4 device=cpu\n"
    " * @variant wg kernels=rowsum_wg,rowsum_twice sweep=WG:16,64,32 local=WG device=gpu\n"
    " * @variant fit kernels=rowsum,rowsum_twice local=8 fit=2,8,64\n"
    " * @variant both kernels=rowsum,rowsum_twice local=2 device=any\n */\n"
    "#ifndef WG\n#define WG 16\n#endif\n"
    "__kernel void rowsum(__global const float *x, __global float *y, int n, int cols) {\n"
    "    int r = get_global_id(0); if (r >= n) return;\n"
    "    float s = 0.0f; for (int k = 0; k < cols; k++) s += x[r * cols + k];\n"
    "    y[r] = s;\n"
    "}\n"
    "__kernel void rowsum_twice(__global const float *x, __global float *y, int n, int cols) {\n"
    "    int r = get_global_id(0); if (r >= n) return;\n"
    "    float s = 0.0f; for (int k = 0; k < cols; k++) s += x[r * cols + k];\n"
    "    y[r] = 2.0f * s;\n"
    "}\n"
    "__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))\n"
    "void rowsum_wg(__global const float *x, __global float *y, int n, int cols) {\n"
    "    __local float red[WG];\n"
    "    int r = get_group_id(0), l = get_local_id(0);\n"
    "    float s = 0.0f;\n"
    "    if (r < n) for (int k = l; k < cols; k += WG) s += x[r * cols + k];\n"
    "    red[l] = s; barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (int h = WG / 2; h > 0; h >>= 1) { if (l < h) red[l] += red[l + h]; "
    "barrier(CLK_LOCAL_MEM_FENCE); }\n"
    "    if (l == 0 && r < n) y[r] = red[0];\n"
    "}\n"
    "__kernel void copy2(__global const float *x, __global float *y, int n, int cols) {\n"
    "    int r = get_global_id(0); if (r >= n) return;\n"
    "    float s = 0.0f; for (int k = cols - 1; k >= 0; k--) s += x[r * cols + k];\n"
    "    y[r] = s;\n"
    "}\n";
static const clg_kernel_file files[] = {{"rowsum_test", src, sizeof src - 1, NULL, 0},
                                        {NULL, NULL, 0, NULL, 0}};

enum { ROWS = 100, COLS = 256 };
static tc_warnings warnings; /* through the options' warn */

/* Slot 0 sums a row; slot 1 (rowsum_twice) doubles it: "row" runs a row per work-item, the
 * others a work-group of c->local items per row. */
static clg_status range(void *user, clg_task *t, unsigned slot, const clg_choice *c) {
    (void)user;
    int per_row = slot == 0 && !strcmp(c->variant, "wg");
    size_t l = c->local, g = per_row ? ROWS * l : (ROWS + l - 1) / l * l;
    return clg_task_set_range(t, 1, &g, &l);
}

static clg_task *task(clg_graph *g, const char *name, clg_kind *k, unsigned slot, clg_buffer *x,
                      clg_buffer *y) {
    clg_program *p;
    const char *kernel;
    clg_task *t = NULL;
    CHECK_OK(clg_kind_kernel(k, slot, &p, &kernel));
    CHECK_OK(clg_graph_add_task(g, name, p, kernel, &t));
    CHECK_OK(clg_task_arg_buffer(t, 0, x, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, y, CLG_WRITE));
    CHECK_OK(clg_task_arg_int(t, 2, ROWS));
    CHECK_OK(clg_task_arg_int(t, 3, COLS));
    CHECK_OK(clg_kind_add_task(k, t, slot));
    return t;
}

int main(void) {
    tc_seed(5);
    /* tc_context's options, with the warning callback the planner reports through */
    clg_context_options co = tc_context_options();
    co.profiling = 1;
    co.warn = tc_count_warning;
    co.warn_user = &warnings;
    clg_context *ctx = NULL;
    CHECK_OK(clg_context_create(&co, &ctx));
    if (!ctx) return tc_finish("tune");
    printf("device: %s\n", clg_context_device(ctx)->device_name);
    const clg_device_info *dev = clg_context_device(ctx);
    CHECK_OK(clg_context_add_kernel_files(ctx, files));
    static float x[ROWS * COLS], y[ROWS], y2[ROWS], want[ROWS], want2[ROWS];
    tc_fill(x, ROWS * COLS, -1, 1);
    for (int r = 0; r < ROWS; r++) {
        double s = 0;
        for (int k = 0; k < COLS; k++)
            s += x[r * COLS + k];
        want[r] = (float)s;
        want2[r] = 2 * (float)s;
    }
    clg_buffer *bx, *by, *by2;
    CHECK_OK(clg_buffer_create(ctx, "x", sizeof x, CLG_TRANSFER_FIRST_EXECUTION, x, &bx));
    CHECK_OK(clg_buffer_create(ctx, "y", sizeof y, CLG_TRANSFER_EVERY_EXECUTION, y, &by));
    CHECK_OK(clg_buffer_create(ctx, "y2", sizeof y2, CLG_TRANSFER_EVERY_EXECUTION, y2, &by2));

    clg_planner *pl;
    CHECK_OK(clg_planner_create(ctx, NULL, &pl));
    clg_kind *k = NULL, *bad = NULL;
    clg_kind_desc d = {.name = "rowsum",
                       .file = "rowsum_test",
                       .variants = "row,wg",
                       .range = range,
                       .items = ROWS};
    CHECK_OK(clg_planner_add_kind(pl, &d, &k));
    d.name = "rowsum";
    CHECK(clg_planner_add_kind(pl, &d, &bad) == CLG_ERR_INVALID_ARG && !bad); /* names are unique */
    d.name = "none";
    d.variants = "nosuch";
    CHECK(clg_planner_add_kind(pl, &d, &bad) == CLG_ERR_FORMAT && !bad);
    CHECK(strstr(clg_last_error(), "rowsum_test") != NULL);
    if (!k) return tc_finish("tune");
    /* the untuned default: the declaration for the device type, its first size it runs */
    const clg_choice *c = clg_kind_choice(k);
    CHECK(!strcmp(c->variant, dev->type == CLG_DEVICE_GPU ? "wg" : "row") && !c->tuned &&
          c->best_ns < 0);
    printf("  default: %s\n", c->label);
    /* several declarations for the device: the first in the list's order (a planner of
     * their own: the plan cache below holds the one kind) */
    clg_planner *pl2 = NULL;
    clg_kind *k2 = NULL, *k3 = NULL;
    CHECK_OK(clg_planner_create(ctx, NULL, &pl2));
    clg_kind_desc d2 = d;
    d2.name = "both_first";
    d2.variants = "both,row,wg";
    if (pl2) CHECK_OK(clg_planner_add_kind(pl2, &d2, &k2));
    CHECK(k2 && !strcmp(clg_kind_choice(k2)->variant, "both"));
    d2.name = "both_last";
    d2.variants = "row,wg,both";
    if (pl2) CHECK_OK(clg_planner_add_kind(pl2, &d2, &k3));
    CHECK(k3 && !strcmp(clg_kind_choice(k3)->variant, dev->type == CLG_DEVICE_GPU ? "wg" : "row"));
    clg_planner_destroy(pl2);

    clg_graph *g;
    CHECK_OK(clg_graph_create(ctx, "g", &g));
    clg_task *t = task(g, "rowsum", k, 0, bx, by);
    clg_task *t2 = task(g, "twice", k, 1, bx, by2);
    CHECK(clg_planner_task_kind(pl, t) == k && clg_planner_task_kind(pl, t2) == k);

    /* every declared candidate computes the sums; the device may refuse work-groups */
    static const struct {
        const char *v;
        int value;
    } cand[] = {{"row", 16}, {"row", 1}, {"row", 4}, {"wg", 16}, {"wg", 64}, {"wg", 32}};
    int ran = 0;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
        clg_status st = clg_kind_select(k, cand[i].v, cand[i].value, NULL);
        if (st == CLG_ERR_UNSUPPORTED) {
            printf("  %s %d: refused (%s)\n", cand[i].v, cand[i].value, clg_last_error());
            continue;
        }
        CHECK_OK(st);
        memset(y, 0, sizeof y);
        memset(y2, 0, sizeof y2);
        CHECK_OK(clg_graph_execute(g));
        char what[64];
        snprintf(what, sizeof what, "%s", clg_kind_choice(k)->label);
        tc_close(what, y, want, ROWS, 1e-4f, 1e-4f);
        tc_close("  and slot 1", y2, want2, ROWS, 1e-4f, 1e-4f);
        ran++;
    }
    CHECK(ran >= 4);
    CHECK(clg_kind_select(k, "wg", 48, NULL) == CLG_ERR_NOT_FOUND); /* not a declared WG */
    CHECK(clg_kind_select(k, "fit", 0, NULL) == CLG_ERR_NOT_FOUND); /* not among d.variants */

    /* an alternative: a task of another kernel computing the same sums */
    clg_program *pa;
    clg_task *alt;
    CHECK_OK(clg_program_get(ctx, "rowsum_test", "", &pa));
    CHECK_OK(clg_graph_add_task(g, "alt", pa, "copy2", &alt));
    CHECK_OK(clg_task_arg_buffer(alt, 0, bx, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(alt, 1, by, CLG_WRITE));
    CHECK_OK(clg_task_arg_int(alt, 2, ROWS));
    CHECK_OK(clg_task_arg_int(alt, 3, COLS));
    size_t ag = 112, al = 16;
    CHECK_OK(clg_task_set_range(alt, 1, &ag, &al));
    CHECK_OK(clg_kind_add_alternative(k, "reverse", &alt, 1));
    CHECK(!clg_task_enabled(alt));
    CHECK_OK(clg_kind_select(k, "row", 0, "reverse"));
    CHECK(!clg_task_enabled(t) && clg_task_enabled(alt));
    memset(y, 0, sizeof y);
    CHECK_OK(clg_graph_execute(g));
    tc_close("alternative", y, want, ROWS, 1e-4f, 1e-4f);
    CHECK(clg_kind_select(k, "row", 0, "nosuch") == CLG_ERR_NOT_FOUND);

    /* tuning: times for the winner, a correct result on it */
    CHECK_OK(clg_planner_reset(pl));
    CHECK(clg_task_enabled(t) && !clg_task_enabled(alt));
    CHECK_OK(clg_graph_execute(g));
    clg_task_stats before;
    clg_task_get_stats(t, &before);
    CHECK_OK(clg_planner_tune(pl));
    clg_task_stats after;
    clg_task_get_stats(t, &after);
    CHECK(after.executions == before.executions); /* tuning runs are not the task's own */
    c = clg_kind_choice(k);
    printf("  tuned: %s, %.1f us, runner-up %.1f us\n", c->label, c->best_ns / 1e3,
           c->runner_ns / 1e3);
    CHECK(c->tuned && c->best_ns > 0 && c->runner_ns > 0);
    CHECK(c->runner_ns >= c->best_ns * (1 - CLG_TUNE_MARGIN) ||
          !strcmp(c->variant, dev->type == CLG_DEVICE_GPU ? "wg" : "row"));
    clg_choice tuned = *c;
    memset(y, 0, sizeof y);
    CHECK_OK(clg_graph_execute(g));
    tc_close("tuned", y, want, ROWS, 1e-4f, 1e-4f);

    /* the plan cache: written, read back into a fresh planner, keyed by the caller's key */
    char dir[] = "/tmp/clgraph-tune-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(clg_planner_save(pl, dir, "shape=100x256"));
    clg_planner_destroy(pl);
    CHECK_OK(clg_planner_create(ctx, NULL, &pl));
    CHECK_OK(clg_planner_add_kind(pl,
                                  &(clg_kind_desc){.name = "rowsum",
                                                   .file = "rowsum_test",
                                                   .variants = "row,wg",
                                                   .range = range,
                                                   .items = ROWS},
                                  &k));
    CHECK_OK(clg_kind_add_task(k, t, 0));
    CHECK_OK(clg_kind_add_task(k, t2, 1));
    CHECK_OK(clg_kind_add_alternative(k, "reverse", &alt, 1));
    int loaded = -1;
    CHECK_OK(clg_planner_load(pl, dir, "shape=999x256", &loaded));
    CHECK(loaded == 0 && !clg_kind_choice(k)->tuned); /* another key: no file */
    CHECK_OK(clg_planner_load(pl, dir, "shape=100x256", &loaded));
    c = clg_kind_choice(k);
    CHECK(loaded == 1 && c->tuned && !strcmp(c->label, tuned.label) && c->local == tuned.local);
    CHECK(c->best_ns == (double)(long long)(tuned.best_ns + 0.5) ||
          c->best_ns == (double)(long long)tuned.best_ns);
    memset(y, 0, sizeof y);
    CHECK_OK(clg_graph_execute(g));
    tc_close("from the cache", y, want, ROWS, 1e-4f, 1e-4f);

    /* a damaged file: ignored with a warning, every kind back on its default */
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "for f in %s/*.plan; do sed -i 's/^kind rowsum .*/kind rowsum row 0 - 1 2/' $f; done",
             dir);
    CHECK(system(cmd) == 0);
    const int w0 = warnings.count;
    CHECK_OK(clg_planner_load(pl, dir, "shape=100x256", &loaded));
    CHECK(loaded == 0 && warnings.count == w0 + 1 && !clg_kind_choice(k)->tuned);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);

    /* fit=2,8,64: the multiple of 8 in 8 .. 64 whose groups of ROWS rows load the compute
     * units most evenly (work-items per unit, padding counted), then nearest two groups per
     * unit */
    clg_kind *kf;
    CHECK_OK(clg_planner_add_kind(
        pl,
        &(clg_kind_desc){
            .name = "fit", .file = "rowsum_test", .variants = "fit", .range = range, .items = ROWS},
        &kf));
    size_t cu = dev->compute_units ? dev->compute_units : 1, want_l = 0, want_load = 0;
    size_t want_off = 0;
    for (size_t l = 8; l <= 64; l += 8) {
        size_t groups = (ROWS + l - 1) / l, load = (groups + cu - 1) / cu * l;
        size_t off = groups > 2 * cu ? groups - 2 * cu : 2 * cu - groups;
        if (!want_l || load < want_load || (load == want_load && off < want_off))
            want_l = l, want_load = load, want_off = off;
    }
    printf("  fit: %s (want local %zu on %zu compute units)\n", clg_kind_choice(kf)->label, want_l,
           cu);
    CHECK(clg_kind_choice(kf)->local == want_l ||
          clg_kind_choice(kf)->local < want_l); /* or the kernel's limit */
    clg_planner_destroy(pl);
    clg_context_destroy(ctx);
    return tc_finish("tune");
}
