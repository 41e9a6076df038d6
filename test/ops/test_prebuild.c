/* clg_program_prebuild on the device in $CLGRAPH_DEVICE: kernel files that build the same
 * with one set of options share one OpenCL program (one build, one program cache entry,
 * loaded from it by the next context); a file that mentions one of the other files' -D words
 * is built alone (its own default kept); files that define the same function fall back, with
 * a warning, to one build each. Every program computes what C does on random inputs. */
#include <stdlib.h>
#include <string.h>

#include "test_common.h"

#define N 512

/* axpb reads PB_K (asked for with -DPB_K=1), sq never mentions it: they build together. */
static const char pb_axpb[] =
    "#ifndef PB_K\n"
    "#define PB_K 0\n"
    "#endif\n"
    "static float twice(float v) { return 2.0f * v; }\n"
    "__kernel void axpb(__global const float *a, __global const float *b,\n"
    "                   __global float *c, const float s) {\n"
    "    size_t i = get_global_id(0);\n"
    "    c[i] = s * a[i] + b[i] + PB_K + twice(0.0f);\n"
    "}\n";
static const char pb_sq[] = "__kernel void sq(__global const float *x, __global float *y) {\n"
                            "    size_t i = get_global_id(0); y[i] = x[i] * x[i] + 1.0f;\n"
                            "}\n";
/* asked for without options but reads PB_K: -DPB_K=1 would change it, so it builds alone */
static const char pb_mention[] =
    "#ifndef PB_K\n"
    "#define PB_K 5\n"
    "#endif\n"
    "__kernel void add_k(__global const float *x, __global float *y) {\n"
    "    size_t i = get_global_id(0); y[i] = x[i] + PB_K;\n"
    "}\n";
/* defines twice() as pb_axpb does: the joint source does not build */
static const char pb_clash[] = "static float twice(float v) { return v + v; }\n"
                               "__kernel void dbl(__global const float *x, __global float *y) {\n"
                               "    size_t i = get_global_id(0); y[i] = twice(x[i]);\n"
                               "}\n";

static const clg_kernel_file files[] = {{"pb_axpb", pb_axpb, sizeof pb_axpb - 1, NULL, 0},
                                        {"pb_sq", pb_sq, sizeof pb_sq - 1, NULL, 0},
                                        {"pb_mention", pb_mention, sizeof pb_mention - 1, NULL, 0},
                                        {"pb_clash", pb_clash, sizeof pb_clash - 1, NULL, 0},
                                        {NULL, NULL, 0, NULL, 0}};

static char cache_dir[] = "/tmp/clgraph-prebuild-XXXXXX";

static clg_context *context(tc_warnings *w) {
    clg_context *ctx = tc_warn_context(cache_dir, w);
    if (clg_context_add_kernel_files(ctx, files) != CLG_OK) exit(1);
    return ctx;
}

/* Runs kernel k of program p (one input x, one output; axpb also takes b and s) on random
 * inputs and compares with want_fn. */
typedef float (*ref_fn)(float x, float b, float s);
static float ref_axpb(float x, float b, float s) {
    return s * x + b + 1.0f;
}
static float ref_sq(float x, float b, float s) {
    (void)b, (void)s;
    return x * x + 1.0f;
}
static float ref_mention(float x, float b, float s) {
    (void)b, (void)s;
    return x + 5.0f;
}
static float ref_dbl(float x, float b, float s) {
    (void)b, (void)s;
    return 2.0f * x;
}

static void check_kernel(clg_context *ctx, clg_program *p, const char *k, ref_fn ref) {
    static float x[N], b[N], out[N], want[N];
    if (!p) return;
    tc_fill(x, N, -2, 2);
    tc_fill(b, N, -2, 2);
    float s = tc_randf(-3, 3);
    clg_buffer *bx = tc_buffer(ctx, "x", sizeof x, CLG_TRANSFER_EVERY_EXECUTION, x);
    clg_buffer *bb = tc_buffer(ctx, "b", sizeof b, CLG_TRANSFER_EVERY_EXECUTION, b);
    clg_buffer *bo = tc_buffer(ctx, "out", sizeof out, CLG_TRANSFER_EVERY_EXECUTION, out);
    clg_graph *g = NULL;
    clg_task *t = NULL;
    size_t n = N;
    CHECK_OK(clg_graph_create(ctx, k, &g));
    CHECK_OK(clg_graph_add_task(g, k, p, k, &t));
    if (!t) return;
    CHECK_OK(clg_task_set_range(t, 1, &n, NULL));
    CHECK_OK(clg_task_arg_buffer(t, 0, bx, CLG_READ));
    if (ref == ref_axpb) {
        CHECK_OK(clg_task_arg_buffer(t, 1, bb, CLG_READ));
        CHECK_OK(clg_task_arg_buffer(t, 2, bo, CLG_WRITE));
        CHECK_OK(clg_task_arg_float(t, 3, s));
    } else {
        CHECK_OK(clg_task_arg_buffer(t, 1, bo, CLG_WRITE));
    }
    CHECK_OK(clg_graph_execute(g));
    for (int i = 0; i < N; i++)
        want[i] = ref(x[i], b[i], s);
    tc_close(k, out, want, N, 1e-5f, 1e-5f);
    clg_graph_destroy(g);
}

static const clg_program_req joint_req[] = {
    {"pb_axpb", "-DPB_K=1"}, {"pb_sq", NULL}, {"pb_mention", ""}, {"pb_sq", ""}};

/* Gets the three programs of joint_req and checks that they compute. */
static void check_joint(clg_context *ctx) {
    clg_program *pa = NULL, *ps = NULL, *pm = NULL;
    CHECK_OK(clg_program_get(ctx, "pb_axpb", "-DPB_K=1", &pa));
    CHECK_OK(clg_program_get(ctx, "pb_sq", "", &ps));
    CHECK_OK(clg_program_get(ctx, "pb_mention", "", &pm));
    check_kernel(ctx, pa, "axpb", ref_axpb);
    check_kernel(ctx, ps, "sq", ref_sq);
    check_kernel(ctx, pm, "add_k", ref_mention);
}

int main(void) {
    tc_seed(15);
    CHECK(mkdtemp(cache_dir) != NULL);
    tc_warnings w = {0, ""};
    clg_build_stats bs;

    /* axpb and sq in one build; pb_mention alone; the repeated request is left out */
    clg_context *ctx = context(&w);
    CHECK_OK(clg_program_prebuild(ctx, joint_req, 4));
    clg_context_build_stats(ctx, &bs);
    printf("fresh: %u programs, %u joint, %u builds\n", bs.programs, bs.joint, bs.builds);
    CHECK(bs.programs == 3 && bs.joint == 2 && bs.builds == 2 && bs.from_source == 3);
    CHECK(bs.pending == 2 && w.count == 0);
    check_joint(ctx);
    clg_context_build_stats(ctx, &bs);
    CHECK(bs.programs == 3 && bs.builds == 2);         /* clg_program_get found them built */
    CHECK_OK(clg_program_prebuild(ctx, joint_req, 4)); /* all built: nothing to do */
    clg_context_build_stats(ctx, &bs);
    CHECK(bs.programs == 3 && bs.builds == 2);
    CHECK(clg_context_store_programs(ctx) == 2); /* one entry per build */
    clg_context_destroy(ctx);

    /* the next context loads the joint program from its one entry */
    ctx = context(&w);
    CHECK_OK(clg_program_prebuild(ctx, joint_req, 4));
    clg_context_build_stats(ctx, &bs);
    printf("cached: %u programs (%u from the cache), %u joint, %u builds\n", bs.programs,
           bs.from_cache, bs.joint, bs.builds);
    CHECK(bs.programs == 3 && bs.from_cache == 3 && bs.joint == 2 && bs.builds == 2);
    CHECK(bs.pending == 0 && w.count == 0);
    check_joint(ctx);
    clg_context_destroy(ctx);

    /* two files defining twice(): a warning, then one build each */
    ctx = context(&w);
    const clg_program_req clash[] = {{"pb_axpb", "-DPB_K=1"}, {"pb_clash", ""}};
    CHECK_OK(clg_program_prebuild(ctx, clash, 2));
    clg_context_build_stats(ctx, &bs);
    printf("clash: %u programs, %u joint, %u builds, %d warning(s)\n", bs.programs, bs.joint,
           bs.builds, w.count);
    CHECK(bs.programs == 2 && bs.joint == 0 && bs.builds == 2);
    CHECK(w.count == 1 && strstr(w.last, "pb_axpb+pb_clash") && strstr(w.last, "one by one"));
    clg_program *pa = NULL, *pc = NULL;
    CHECK_OK(clg_program_get(ctx, "pb_axpb", "-DPB_K=1", &pa));
    CHECK_OK(clg_program_get(ctx, "pb_clash", "", &pc));
    check_kernel(ctx, pa, "axpb", ref_axpb);
    check_kernel(ctx, pc, "dbl", ref_dbl);

    /* a file that is not registered: the error names it */
    const clg_program_req missing[] = {{"pb_sq", "-DPB_OTHER=2"}, {"pb_nowhere", ""}};
    CHECK(clg_program_prebuild(ctx, missing, 2) == CLG_ERR_NOT_FOUND);
    CHECK(strstr(clg_last_error(), "pb_nowhere") != NULL);
    clg_context_destroy(ctx);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cache_dir);
    CHECK(system(cmd) == 0);
    return tc_finish("prebuild");
}
