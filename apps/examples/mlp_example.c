/* Reuse example: a two-layer MLP classifier (not a language model) written only against the
 * public runtime headers (runtime.h, planner.h, report.h, util.h). Each layer is a graph; weights
 * are uploaded once, the input batch goes up every step, the activations stay on the device between
 * the graphs, and only the class probabilities come back. Its kernel file declares two variants of
 * the dense product (@variant lines); the runtime planner picks one per layer for this device,
 * measures them (--retune, or when its plan cache has no choice for these shapes) and caches the
 * choice. Every step is checked against a plain C computation, before tuning and after; exit status
 * 1 on a mismatch or an error, 2 on bad arguments.
 *
 *   x  [B, IN]   -> h = relu(W1 x + b1)       [B, HID]   graph "layer1": dense1
 *   h  [B, HID]  -> p = softmax(W2 h + b2)    [B, OUT]   graph "layer2": dense2, softmax
 *
 * usage: mlp_example [DEVICE] [--plan-dump FILE] [--profile FILE] [--trace FILE]
 *                    [--cache-dir DIR] [--retune]
 *   --plan-dump FILE  the plan with the planner's choices, JSON when FILE ends in .json
 *                     (as clgraph plan --json), else text (as clgraph run --plan-dump)
 *   --profile FILE    profile of the checked steps after tuning: table on stdout, JSON report
 *                     to FILE (as clgraph run --profile FILE)
 *   --trace FILE      Chrome trace of those steps (as clgraph run --trace FILE); devices whose
 *                     event timestamps are not real get none (said on stderr, not an error)
 *   --cache-dir DIR   plan cache folder (default: the context's cache folder)
 *   --retune          measure the variants even when the plan cache has them
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clgraph/planner.h"
#include "clgraph/report.h"
#include "clgraph/runtime.h"
#include "clgraph/util.h"

enum { B = 16, IN = 64, HID = 128, OUT = 10, STEPS = 5 };

/* The example's kernel file, registered on the context as "mlp" (a library would embed its
 * cl/ files with cmake/embed.cmake; one file fits here). */
static const char mlp_cl[] =
    "/* Dense layers: y[b, o] = act(sum_i W[o, i] x[b, i] + bias[o]) (act: relu or none), and a\n"
    " * softmax over rows.\n"
    " *\n"
    " * Layouts (f32, row-major): W [n_out, n_in], bias [n_out], x [B, n_in], y [B, n_out].\n"
    " *\n"
    " * Variants of the product (same arguments: W, bias, x, y, int n_in, int n_out, int relu):\n"
    " *   dense_row  one work-item per output (o, b) walking row o of W contiguously.\n"
    " *              global = (n_out rounded up to L, B), local = (L, 1).        (CPU pattern)\n"
    " *   dense_wg   one work-group of WG items per output (o, b): each item sums a strided\n"
    " *              slice of the row, a local-memory tree adds the partial sums.\n"
    " *              global = (n_out * WG, B), local = (WG, 1).                  (GPU pattern)\n"
    " * Tunables:\n"
    " *   WG  work-group size of dense_wg, a power of two (default 64).\n"
    " *\n"
    " * Declared for the planner (first values are the untuned defaults):\n"
    " * @variant row kernels=dense_row local=8,1,16,32 device=cpu\n"
    " * @variant wg kernels=dense_wg sweep=WG:64,16,32,128 local=WG device=gpu\n"
    " */\n"
    "#ifndef WG\n"
    "#define WG 64\n"
    "#endif\n"
    "\n"
    "__kernel void dense_row(__global const float *W, __global const float *bias,\n"
    "                        __global const float *x, __global float *y, int n_in, int n_out,\n"
    "                        int relu) {\n"
    "    const int o = (int)get_global_id(0), b = (int)get_global_id(1);\n"
    "    if (o >= n_out) return;\n"
    "    __global const float *w = W + (size_t)o * n_in, *xb = x + (size_t)b * n_in;\n"
    "    float acc = bias[o];\n"
    "    for (int i = 0; i < n_in; i++) acc += w[i] * xb[i];\n"
    "    y[(size_t)b * n_out + o] = relu ? fmax(acc, 0.0f) : acc;\n"
    "}\n"
    "\n"
    "__kernel void dense_wg(__global const float *W, __global const float *bias,\n"
    "                       __global const float *x, __global float *y, int n_in, int n_out,\n"
    "                       int relu) {\n"
    "    __local float part[WG];\n"
    "    const int o = (int)get_group_id(0), b = (int)get_global_id(1), l = (int)get_local_id(0);\n"
    "    __global const float *w = W + (size_t)o * n_in, *xb = x + (size_t)b * n_in;\n"
    "    float s = 0.0f;\n"
    "    for (int i = l; i < n_in; i += WG) s += w[i] * xb[i];\n"
    "    part[l] = s;\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (int off = WG / 2; off > 0; off >>= 1) {\n"
    "        if (l < off) part[l] += part[l + off];\n"
    "        barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    }\n"
    "    if (l == 0) {\n"
    "        float acc = part[0] + bias[o];\n"
    "        y[(size_t)b * n_out + o] = relu ? fmax(acc, 0.0f) : acc;\n"
    "    }\n"
    "}\n"
    "\n"
    "/* p[b, :] = softmax(z[b, :]), one work-item per row; global = (rows). */\n"
    "__kernel void softmax_rows(__global const float *z, __global float *p, int n, int rows) {\n"
    "    const int b = (int)get_global_id(0);\n"
    "    if (b >= rows) return;\n"
    "    __global const float *zr = z + (size_t)b * n;\n"
    "    __global float *pr = p + (size_t)b * n;\n"
    "    float m = -INFINITY, s = 0.0f;\n"
    "    for (int o = 0; o < n; o++) m = fmax(m, zr[o]);\n"
    "    for (int o = 0; o < n; o++) s += exp(zr[o] - m);\n"
    "    for (int o = 0; o < n; o++) pr[o] = exp(zr[o] - m) / s;\n"
    "}\n";

static const clg_kernel_file mlp_files[] = {{"mlp", mlp_cl, sizeof mlp_cl - 1, NULL, 0},
                                            {NULL, NULL, 0, NULL, 0}};

/* The dense_row / dense_wg argument indices (see mlp_cl). */
enum { DENSE_W, DENSE_BIAS, DENSE_X, DENSE_Y, DENSE_N_IN, DENSE_N_OUT, DENSE_RELU };

/* One dense layer's shape, the user data of its kind's range callback. */
typedef struct dense {
    int n_in, n_out;
} dense;

/* The NDRange of a dense task for a choice of its kind (the layouts in mlp_cl). */
static clg_status dense_range(void *user, clg_task *t, unsigned slot, const clg_choice *c) {
    const dense *d = user;
    size_t local = c->local ? c->local : 1, n_out = (size_t)d->n_out;
    size_t global0 =
        !strcmp(c->variant, "wg") ? n_out * local : (n_out + local - 1) / local * local;
    return clg_task_set_range(t, 2, (size_t[]){global0, B}, (size_t[]){local, 1});
}

static void on_warning(void *user, const char *message) {
    fprintf(stderr, "mlp_example: warning: %s\n", message);
}

static float frand(uint64_t *s) {
    return 2.0f * clg_rng_float(s) - 1.0f;
}

static void reference(const float *w1, const float *b1, const float *w2, const float *b2,
                      const float *x, float *p) {
    float h[B * HID];
    for (int b = 0; b < B; b++)
        for (int o = 0; o < HID; o++) {
            double acc = b1[o];
            for (int i = 0; i < IN; i++)
                acc += (double)w1[o * IN + i] * x[b * IN + i];
            h[b * HID + o] = acc > 0 ? (float)acc : 0.0f;
        }
    for (int b = 0; b < B; b++) {
        double z[OUT], m = -INFINITY, s = 0;
        for (int o = 0; o < OUT; o++) {
            z[o] = b2[o];
            for (int i = 0; i < HID; i++)
                z[o] += (double)w2[o * HID + i] * h[b * HID + i];
            if (z[o] > m) m = z[o];
        }
        for (int o = 0; o < OUT; o++)
            s += exp(z[o] - m);
        for (int o = 0; o < OUT; o++)
            p[b * OUT + o] = (float)(exp(z[o] - m) / s);
    }
}

#define TRY(call)                                                                                  \
    do {                                                                                           \
        clg_status st_ = (call);                                                                   \
        if (st_ != CLG_OK) {                                                                       \
            fprintf(stderr, "mlp_example: %s: %s\n", #call, clg_last_error());                     \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Appends a dense task y = act(W x + b) on kind k's current kernel to g. */
static clg_status dense_task(clg_graph *g, const char *name, clg_kind *k, clg_buffer *w,
                             clg_buffer *bias, clg_buffer *x, clg_buffer *y, int n_in, int n_out,
                             int relu) {
    clg_program *prog;
    const char *kernel;
    clg_task *t = NULL;
    clg_status st = clg_kind_kernel(k, 0, &prog, &kernel);
    if (st == CLG_OK) st = clg_graph_add_task(g, name, prog, kernel, &t);
    if (st == CLG_OK) st = clg_task_arg_buffer(t, DENSE_W, w, CLG_READ);
    if (st == CLG_OK) st = clg_task_arg_buffer(t, DENSE_BIAS, bias, CLG_READ);
    if (st == CLG_OK) st = clg_task_arg_buffer(t, DENSE_X, x, CLG_READ);
    if (st == CLG_OK) st = clg_task_arg_buffer(t, DENSE_Y, y, CLG_WRITE);
    if (st == CLG_OK) st = clg_task_arg_int(t, DENSE_N_IN, n_in);
    if (st == CLG_OK) st = clg_task_arg_int(t, DENSE_N_OUT, n_out);
    if (st == CLG_OK) st = clg_task_arg_int(t, DENSE_RELU, relu);
    if (st == CLG_OK) st = clg_kind_add_task(k, t, 0);
    return st;
}

/* The model: weights and the buffers, graphs and plan on a context. */
typedef struct mlp {
    float w1[HID * IN], b1[HID], w2[OUT * HID], b2[OUT]; /* [HID, IN], [HID], [OUT, HID], [OUT] */
    float x[B * IN], p[B * OUT], want[B * OUT];          /* [B, IN], [B, OUT], [B, OUT] */
    uint64_t seed;
    clg_plan *plan;
    double worst; /* largest |p - p_ref| over the steps run */
} mlp;

/* Runs n steps on fresh inputs, each checked against the C reference; *wall_s (may be NULL)
 * receives their host wall time, checks included (the profile's "host between steps"). */
static clg_status run_steps(mlp *m, int n, double *wall_s) {
    double t0 = clg_now_ns();
    for (int step = 0; step < n; step++) {
        for (int i = 0; i < B * IN; i++)
            m->x[i] = frand(&m->seed);
        clg_status st = clg_plan_execute(m->plan);
        if (st != CLG_OK) return st;
        reference(m->w1, m->b1, m->w2, m->b2, m->x, m->want);
        for (int i = 0; i < B * OUT; i++) {
            double d = fabs((double)m->p[i] - m->want[i]);
            if (!(d <= m->worst)) m->worst = d; /* NaN counts as the worst */
        }
    }
    if (wall_s) *wall_s = (clg_now_ns() - t0) / 1e9;
    return CLG_OK;
}

/* clg_write_fn of --plan-dump. */
typedef struct dump_args {
    const clg_planner *planner;
    clg_plan *plan;
    int json;
} dump_args;

static clg_status dump_plan(void *user, FILE *f) {
    const dump_args *a = user;
    const char *name = "mlp";
    return clg_plan_dump(f, a->planner, &name, &a->plan, 1, a->json);
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

int main(int argc, char **argv) {
    const char *device = NULL, *plan_path = NULL, *profile_path = NULL, *trace_path = NULL;
    const char *cache_dir = NULL;
    int retune = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--plan-dump")   ? &plan_path
                           : !strcmp(a, "--profile")   ? &profile_path
                           : !strcmp(a, "--trace")     ? &trace_path
                           : !strcmp(a, "--cache-dir") ? &cache_dir
                                                       : NULL;
        if (dst && i + 1 < argc) {
            *dst = argv[++i];
        } else if (!strcmp(a, "--retune")) {
            retune = 1;
        } else if (!dst && a[0] != '-' && !device) {
            device = a;
        } else {
            fprintf(stderr, "usage: mlp_example [DEVICE] [--plan-dump FILE] [--profile FILE] "
                            "[--trace FILE] [--cache-dir DIR] [--retune]\n");
            return 2;
        }
    }

    static mlp m;
    m.seed = clg_rng_seed(7);
    for (int i = 0; i < HID * IN; i++)
        m.w1[i] = 0.2f * frand(&m.seed);
    for (int i = 0; i < HID; i++)
        m.b1[i] = 0.1f * frand(&m.seed);
    for (int i = 0; i < OUT * HID; i++)
        m.w2[i] = 0.2f * frand(&m.seed);
    for (int i = 0; i < OUT; i++)
        m.b2[i] = 0.1f * frand(&m.seed);

    int rc = 1;
    clg_context_options o = clg_context_options_default();
    o.device = device;
    o.profiling = 1;
    o.warn = on_warning;
    clg_context *ctx = NULL;
    clg_planner *planner = NULL;
    clg_profiler *prof = NULL;
    clg_program *prog;
    clg_buffer *bw1, *bb1, *bw2, *bb2, *bx, *bh, *bz, *bp, *hidden;
    clg_graph *l1, *l2;
    clg_task *t;
    clg_kind *kind1, *kind2;
    static dense d1 = {IN, HID}, d2 = {HID, OUT};
    TRY(clg_context_create(&o, &ctx));
    printf("device: %s\n", clg_context_device(ctx)->device_name);
    TRY(clg_context_add_kernel_files(ctx, mlp_files));
    TRY(clg_planner_create(ctx, NULL, &planner));
    TRY(clg_buffer_create(ctx, "w1", sizeof m.w1, CLG_TRANSFER_FIRST_EXECUTION, m.w1, &bw1));
    TRY(clg_buffer_create(ctx, "b1", sizeof m.b1, CLG_TRANSFER_FIRST_EXECUTION, m.b1, &bb1));
    TRY(clg_buffer_create(ctx, "w2", sizeof m.w2, CLG_TRANSFER_FIRST_EXECUTION, m.w2, &bw2));
    TRY(clg_buffer_create(ctx, "b2", sizeof m.b2, CLG_TRANSFER_FIRST_EXECUTION, m.b2, &bb2));
    TRY(clg_buffer_create(ctx, "x", sizeof m.x, CLG_TRANSFER_EVERY_EXECUTION, m.x, &bx));
    TRY(clg_buffer_create(ctx, "h", sizeof(float) * B * HID, CLG_TRANSFER_DEVICE_ONLY, NULL, &bh));
    TRY(clg_buffer_create(ctx, "z", sizeof(float) * B * OUT, CLG_TRANSFER_DEVICE_ONLY, NULL, &bz));
    TRY(clg_buffer_create(ctx, "p", sizeof m.p, CLG_TRANSFER_EVERY_EXECUTION, m.p, &bp));

    /* One planner kind per layer product: each chooses its variant for its own shape. */
    clg_kind_desc kd = {.file = "mlp", .range = dense_range};
    kd.name = "layer1.dense";
    kd.items = HID;
    kd.user = &d1;
    TRY(clg_planner_add_kind(planner, &kd, &kind1));
    kd.name = "layer2.dense";
    kd.items = OUT;
    kd.user = &d2;
    TRY(clg_planner_add_kind(planner, &kd, &kind2));

    TRY(clg_graph_create(ctx, "layer1", &l1));
    TRY(dense_task(l1, "dense1", kind1, bw1, bb1, bx, bh, IN, HID, 1));

    /* layer2 finds the hidden activations by name, as a separately written graph would. */
    TRY(clg_buffer_find(ctx, "h", &hidden));
    TRY(clg_graph_create(ctx, "layer2", &l2));
    TRY(dense_task(l2, "dense2", kind2, bw2, bb2, hidden, bz, HID, OUT, 0));
    TRY(clg_program_get(ctx, "mlp", NULL, &prog));
    TRY(clg_graph_add_task(l2, "softmax", prog, "softmax_rows", &t));
    TRY(clg_task_arg_buffer(t, 0, bz, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, bp, CLG_WRITE));
    TRY(clg_task_arg_int(t, 2, OUT));
    TRY(clg_task_arg_int(t, 3, B));
    TRY(clg_task_set_range(t, 1, (size_t[]){B}, NULL));

    TRY(clg_plan_create(ctx, &m.plan));
    TRY(clg_plan_add_graph(m.plan, l1));
    TRY(clg_plan_add_graph(m.plan, l2));
    TRY(clg_planner_add_replay(planner, m.plan));

    /* The plan cache is keyed by device, driver, the kernel source and what we name here. */
    char key[64];
    snprintf(key, sizeof key, "mlp B=%d IN=%d HID=%d OUT=%d", B, IN, HID, OUT);
    int loaded = 0;
    if (cache_dir && mkdir(cache_dir, 0777) != 0 && errno != EEXIST)
        fprintf(stderr, "mlp_example: cannot create %s: %s (the plan cache is not kept)\n",
                cache_dir, strerror(errno));
    if (!retune) TRY(clg_planner_load(planner, cache_dir, key, &loaded));
    TRY(run_steps(&m, 1, NULL)); /* untuned (or cached) choices; gives the tuner data */
    if (!loaded) {
        TRY(clg_planner_tune(planner));
        TRY(clg_planner_save(planner, cache_dir, key));
    }
    const clg_kind *kinds[2] = {kind1, kind2};
    for (int k = 0; k < 2; k++) {
        const clg_choice *c = clg_kind_choice(kinds[k]);
        printf("%s: %s (%s)\n", clg_kind_name(kinds[k]), c->label,
               !c->tuned ? "untuned"
               : loaded  ? "tuned, from the plan cache"
                         : "tuned now");
    }

    clg_buffer_stats s; /* before a profiler resets the statistics */
    clg_buffer_get_stats(bw1, &s);
    if (plan_path) {
        dump_args da = {planner, m.plan, ends_with(plan_path, ".json")};
        TRY(clg_file_write_atomic(plan_path, "plan", dump_plan, &da));
    }
    if (profile_path || trace_path) TRY(clg_profiler_create(ctx, trace_path != NULL, &prof));
    double wall_s;
    TRY(run_steps(&m, STEPS, &wall_s)); /* the tuned choices, checked as before */
    if (prof) {
        clg_status st =
            clg_profiler_report(prof, m.plan, wall_s, STEPS, stdout, profile_path, trace_path);
        if (st == CLG_ERR_UNSUPPORTED) /* timestamps that are not real: no trace */
            fprintf(stderr, "mlp_example: %s\n", clg_last_error());
        else
            TRY(st);
    }

    printf("%d steps of batch %d: max |p - p_ref| = %.3g; w1 uploaded %llu time(s), %llu bytes\n",
           1 + STEPS, B, m.worst, (unsigned long long)s.uploads,
           (unsigned long long)s.upload_bytes);
    printf("first row: class probabilities");
    for (int k = 0; k < OUT; k++)
        printf(" %.3f", m.p[k]);
    printf("\n");
    rc = m.worst <= 1e-5 && s.uploads == 1 ? 0 : 1;
    printf("%s\n", rc ? "MISMATCH against the C reference" : "matches the C reference");
fail:
    clg_profiler_destroy(prof);
    clg_planner_destroy(planner);
    clg_context_destroy(ctx);
    return rc;
}
