/* Runtime semantics on the device in $CLGRAPH_DEVICE: transfer policies counted by the
 * profiler, device-to-device consumption between graphs, the order check of the declared
 * access, the program cache, and clear errors on bad input. */
#include <stdlib.h>
#include <string.h>

#include "test_common.h"

#define N 1000

static clg_task *add(clg_graph *g, clg_program *p, const char *kernel, const char *name) {
    clg_task *t = NULL;
    CHECK_OK(clg_graph_add_task(g, name, p, kernel, &t));
    size_t n = N;
    CHECK_OK(clg_task_set_range(t, 1, &n, NULL));
    return t;
}

static void test_transfers(void) {
    clg_context *ctx = tc_context();
    clg_program *p;
    CHECK_OK(clg_program_from_source(ctx, "rt", tc_axpb_sq_src, "", &p));
    static float a[N], b[N], out[N], want[N];
    tc_fill(a, N, -1, 1);
    tc_fill(b, N, -1, 1);
    clg_buffer *ba, *bb, *bc, *bo;
    CHECK_OK(clg_buffer_create(ctx, "a", sizeof a, CLG_TRANSFER_FIRST_EXECUTION, a, &ba));
    CHECK_OK(clg_buffer_create(ctx, "b", sizeof b, CLG_TRANSFER_EVERY_EXECUTION, b, &bb));
    CHECK_OK(clg_buffer_create(ctx, "c", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL, &bc));
    CHECK_OK(clg_buffer_create(ctx, "out", sizeof out, CLG_TRANSFER_EVERY_EXECUTION, out, &bo));
    clg_graph *g;
    CHECK_OK(clg_graph_create(ctx, "g", &g));
    clg_task *t1 = add(g, p, "axpb", "axpb");
    CHECK_OK(clg_task_arg_buffer(t1, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t1, 1, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t1, 2, bc, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(t1, 3, 2.0f));
    clg_task *t2 = add(g, p, "sq", "sq");
    CHECK_OK(clg_task_arg_buffer(t2, 0, bc, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t2, 1, bo, CLG_WRITE));
    float a0 = a[0];
    const int runs = 10;
    for (int r = 0; r < runs; r++) {
        for (int i = 0; i < N; i++)
            b[i] = (float)r * 0.25f - (float)i * 1e-3f;
        a[0] = a0 + 100.0f * (float)r; /* must NOT reach the device after the first upload */
        CHECK_OK(clg_graph_execute(g));
        for (int i = 0; i < N; i++) {
            float ai = i == 0 ? a0 : a[i];
            float c = 2.0f * ai + b[i];
            want[i] = c * c + 1.0f;
        }
        char what[64];
        snprintf(what, sizeof what, "transfers run %d", r);
        tc_close(what, out, want, N, 1e-5f, 1e-5f);
    }
    clg_buffer_stats s;
    clg_buffer_get_stats(ba, &s);
    CHECK(s.uploads == 1 && s.upload_bytes == sizeof a && s.downloads == 0);
    clg_buffer_get_stats(bb, &s);
    CHECK(s.uploads == (uint64_t)runs && s.upload_bytes == runs * sizeof b && s.downloads == 0);
    clg_buffer_get_stats(bc, &s);
    CHECK(s.uploads == 0 && s.downloads == 0 && s.upload_bytes == 0 && s.download_bytes == 0);
    clg_buffer_get_stats(bo, &s);
    CHECK(s.downloads == (uint64_t)runs && s.download_bytes == runs * sizeof out && s.uploads == 0);
    clg_task_stats ts;
    clg_task_get_stats(t2, &ts);
    CHECK(ts.executions == (uint64_t)runs);
    if (clg_context_device(ctx)->profiling_timer == 1) CHECK(ts.total_ns > 0);

    /* Partial EVERY_EXECUTION transfers. */
    CHECK_OK(clg_buffer_set_transfer_bytes(bb, 12));
    CHECK_OK(clg_graph_execute(g));
    clg_buffer_get_stats(bb, &s);
    CHECK(s.upload_bytes == runs * sizeof b + 12);
    CHECK(clg_buffer_set_transfer_bytes(bb, sizeof b + 4) == CLG_ERR_INVALID_ARG);
    clg_context_destroy(ctx);
}

/* clg_buffer_copy: device-side copies between and within buffers, ordered before a later
 * read, and its refusals. */
static void test_copy(void) {
    clg_context *ctx = tc_context();
    static float a[N], b[N], got[N];
    tc_fill(a, N, -1, 1);
    tc_fill(b, N, -1, 1);
    clg_buffer *ba, *bb, *other;
    CHECK_OK(clg_buffer_create(ctx, "copy_a", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL, &ba));
    CHECK_OK(clg_buffer_create(ctx, "copy_b", sizeof b, CLG_TRANSFER_DEVICE_ONLY, NULL, &bb));
    CHECK_OK(clg_buffer_write(ba, 0, a, sizeof a));
    CHECK_OK(clg_buffer_write(bb, 0, b, sizeof b));
    /* a[100 .. 400) onto b[500 ..), then b[0 .. 50) onto b[900 ..) */
    CHECK_OK(clg_buffer_copy(bb, 500 * 4, ba, 100 * 4, 300 * 4));
    CHECK_OK(clg_buffer_copy(bb, 900 * 4, bb, 0, 50 * 4));
    CHECK_OK(clg_buffer_read(bb, 0, got, sizeof got));
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const float want = i >= 500 && i < 800   ? a[i - 400]
                           : i >= 900 && i < 950 ? b[i - 900]
                                                 : b[i];
        bad += got[i] != want;
    }
    CHECK(bad == 0);
    CHECK(clg_buffer_copy(bb, 0, ba, 0, 0) == CLG_OK);
    CHECK(clg_buffer_copy(bb, 4, ba, 0, sizeof a) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "copy_b") != NULL);
    CHECK(clg_buffer_copy(bb, 0, ba, 8, sizeof a - 4) == CLG_ERR_INVALID_ARG);
    CHECK(clg_buffer_copy(bb, 40, bb, 0, 80) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "overlapping") != NULL);
    clg_context *ctx2 = tc_context();
    CHECK_OK(clg_buffer_create(ctx2, "copy_other", 64, CLG_TRANSFER_DEVICE_ONLY, NULL, &other));
    CHECK(clg_buffer_copy(other, 0, ba, 0, 64) == CLG_ERR_INVALID_ARG);
    clg_context_destroy(ctx2);
    clg_context_destroy(ctx);
}

/* A graph consuming by name what an earlier graph left on the device gives the same as
 * a host round trip between two graphs. */
static void test_device_to_device(void) {
    clg_context *ctx = tc_context();
    clg_program *p;
    CHECK_OK(clg_program_from_source(ctx, "rt", tc_axpb_sq_src, "", &p));
    static float a[N], b[N], out_d2d[N], mid_host[N], out_host[N];
    tc_fill(a, N, -2, 2);
    tc_fill(b, N, -2, 2);
    clg_buffer *ba, *bb, *mid, *bo;
    CHECK_OK(clg_buffer_create(ctx, "a", sizeof a, CLG_TRANSFER_FIRST_EXECUTION, a, &ba));
    CHECK_OK(clg_buffer_create(ctx, "b", sizeof b, CLG_TRANSFER_FIRST_EXECUTION, b, &bb));
    CHECK_OK(clg_buffer_create(ctx, "mid", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL, &mid));
    CHECK_OK(clg_buffer_create(ctx, "out", sizeof a, CLG_TRANSFER_EVERY_EXECUTION, out_d2d, &bo));
    clg_graph *g1, *g2;
    CHECK_OK(clg_graph_create(ctx, "produce", &g1));
    clg_task *t = add(g1, p, "axpb", "axpb");
    CHECK_OK(clg_task_arg_buffer(t, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 2, mid, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(t, 3, -0.5f));
    CHECK_OK(clg_graph_create(ctx, "consume", &g2));
    clg_buffer *found = NULL;
    CHECK_OK(clg_buffer_find(ctx, "mid", &found));
    CHECK(found == mid);
    t = add(g2, p, "sq", "sq");
    CHECK_OK(clg_task_arg_buffer(t, 0, found, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, bo, CLG_WRITE));

    /* Consuming before anything produced it is an error, not garbage. */
    CHECK(clg_graph_execute(g2) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "mid") != NULL);

    clg_plan *plan;
    CHECK_OK(clg_plan_create(ctx, &plan));
    CHECK_OK(clg_plan_add_graph(plan, g1));
    CHECK_OK(clg_plan_add_graph(plan, g2));
    CHECK_OK(clg_plan_execute(plan));
    clg_buffer_stats s;
    clg_buffer_get_stats(mid, &s);
    CHECK(s.uploads == 0 && s.downloads == 0);

    /* Host round trip: read mid back, upload it into a fresh input, run consume's kernel. */
    CHECK_OK(clg_buffer_read(mid, 0, mid_host, sizeof mid_host));
    clg_buffer *hin, *hout;
    CHECK_OK(
        clg_buffer_create(ctx, "host_mid", sizeof a, CLG_TRANSFER_EVERY_EXECUTION, mid_host, &hin));
    CHECK_OK(clg_buffer_create(ctx, "host_out", sizeof a, CLG_TRANSFER_EVERY_EXECUTION, out_host,
                               &hout));
    clg_graph *g3;
    CHECK_OK(clg_graph_create(ctx, "roundtrip", &g3));
    t = add(g3, p, "sq", "sq");
    CHECK_OK(clg_task_arg_buffer(t, 0, hin, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t, 1, hout, CLG_WRITE));
    CHECK_OK(clg_graph_execute(g3));
    tc_close("device-to-device vs host round trip", out_d2d, out_host, N, 0, 0);
    float want[N];
    for (int i = 0; i < N; i++) {
        float m = -0.5f * a[i] + b[i];
        want[i] = m * m + 1.0f;
    }
    tc_close("device-to-device vs C", out_d2d, want, N, 1e-5f, 1e-5f);

    /* Plan ranges. */
    CHECK_OK(clg_plan_execute_range(plan, 1, 2));
    CHECK(clg_plan_execute_range(plan, 1, 3) == CLG_ERR_INVALID_ARG);
    CHECK(clg_plan_graph_count(plan) == 2 && clg_plan_graph(plan, 1) == g2);
    clg_context_destroy(ctx);
}

/* The message of the last refusal names every string in want[n]. */
static int names_all(const char *const *want, size_t n) {
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= strstr(clg_last_error(), want[i]) != NULL;
    if (!ok) printf("  message lacks a name: %s\n", clg_last_error());
    return ok;
}

static uint64_t executions(const clg_task *t) {
    clg_task_stats s;
    clg_task_get_stats(t, &s);
    return s.executions;
}

/* A task that reads what only a later task of the plan writes is refused before anything
 * runs, naming both tasks, their graphs and the buffer; once the buffer holds data (a
 * previous step, clg_buffer_zero) reading last step's value first is legal. The check
 * follows changes: enabling, disabling, rebinding a buffer. */
static void test_order(void) {
    clg_context *ctx = tc_context();
    clg_program *p;
    CHECK_OK(clg_program_from_source(ctx, "rt", tc_axpb_sq_src, "", &p));
    static float a[N], b[N], out[N], want[N];
    tc_fill(a, N, -1, 1);
    tc_fill(b, N, -1, 1);
    clg_buffer *ba, *bb, *mid, *bo, *fresh;
    CHECK_OK(clg_buffer_create(ctx, "a", sizeof a, CLG_TRANSFER_FIRST_EXECUTION, a, &ba));
    CHECK_OK(clg_buffer_create(ctx, "b", sizeof b, CLG_TRANSFER_FIRST_EXECUTION, b, &bb));
    CHECK_OK(clg_buffer_create(ctx, "mid", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL, &mid));
    CHECK_OK(clg_buffer_create(ctx, "fresh", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL, &fresh));
    CHECK_OK(clg_buffer_create(ctx, "out", sizeof out, CLG_TRANSFER_EVERY_EXECUTION, out, &bo));
    clg_graph *produce, *consume;
    CHECK_OK(clg_graph_create(ctx, "produce", &produce));
    clg_task *w = add(produce, p, "axpb", "make_mid");
    CHECK_OK(clg_task_arg_buffer(w, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(w, 1, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(w, 2, mid, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(w, 3, 3.0f));
    CHECK_OK(clg_graph_create(ctx, "consume", &consume));
    clg_task *r = add(consume, p, "sq", "use_mid");
    CHECK_OK(clg_task_arg_buffer(r, 0, mid, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(r, 1, bo, CLG_WRITE));

    /* consume before produce: refused, nothing enqueued. */
    clg_plan *wrong, *right;
    CHECK_OK(clg_plan_create(ctx, &wrong));
    CHECK_OK(clg_plan_add_graph(wrong, consume));
    CHECK_OK(clg_plan_add_graph(wrong, produce));
    CHECK(clg_plan_execute(wrong) == CLG_ERR_INVALID_ARG);
    const char *names[] = {"'use_mid'", "'consume'", "'make_mid'", "'produce'", "'mid'"};
    CHECK(names_all(names, 5));
    printf("  refused: %s\n", clg_last_error());
    CHECK(clg_plan_execute_range(wrong, 0, 1) == CLG_ERR_INVALID_ARG); /* the whole plan counts */
    CHECK(executions(r) == 0 && executions(w) == 0);
    clg_buffer_stats bs;
    clg_buffer_get_stats(ba, &bs);
    CHECK(bs.uploads == 0);

    /* The same inside one graph, executed alone. */
    clg_graph *single;
    CHECK_OK(clg_graph_create(ctx, "single", &single));
    clg_task *r1 = add(single, p, "sq", "early_read");
    CHECK_OK(clg_task_arg_buffer(r1, 0, fresh, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(r1, 1, bo, CLG_WRITE));
    clg_task *w1 = add(single, p, "axpb", "late_write");
    CHECK_OK(clg_task_arg_buffer(w1, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(w1, 1, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(w1, 2, fresh, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(w1, 3, 1.0f));
    CHECK(clg_graph_execute(single) == CLG_ERR_INVALID_ARG);
    const char *names1[] = {"'early_read'", "'late_write'", "'single'", "'fresh'"};
    CHECK(names_all(names1, 4));
    /* A disabled reader does not run: the order holds; enabled again, it is refused again. */
    clg_task_set_enabled(r1, 0);
    CHECK_OK(clg_graph_execute(single));
    clg_task_set_enabled(r1, 1);
    /* fresh now holds data from that step: reading last step's value first is legal */
    CHECK_OK(clg_graph_execute(single));
    CHECK(executions(r1) == 1 && executions(w1) == 2);

    /* produce before consume runs and computes. */
    CHECK_OK(clg_plan_create(ctx, &right));
    CHECK_OK(clg_plan_add_graph(right, produce));
    CHECK_OK(clg_plan_add_graph(right, consume));
    CHECK_OK(clg_plan_execute(right));
    for (int i = 0; i < N; i++) {
        float m = 3.0f * a[i] + b[i];
        want[i] = m * m + 1.0f;
    }
    tc_close("produce, consume", out, want, N, 1e-5f, 1e-5f);
    /* mid holds the last step's data now: the other order reads it, then overwrites it. */
    CHECK_OK(clg_plan_execute(wrong));
    tc_close("consume (last step's mid), produce", out, want, N, 1e-5f, 1e-5f);

    /* A changed buffer argument is checked again: the reader moves to a buffer with no
     * data that the producer then writes. */
    clg_buffer *blank;
    CHECK_OK(clg_buffer_create(ctx, "blank", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL, &blank));
    CHECK_OK(clg_task_arg_buffer(r, 0, blank, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(w, 2, blank, CLG_WRITE));
    CHECK_OK(clg_plan_execute(right));
    CHECK(clg_plan_execute(wrong) == CLG_OK); /* blank was written by that step */
    clg_buffer *zeroed;
    CHECK_OK(clg_buffer_create(ctx, "zeroed", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL, &zeroed));
    CHECK_OK(clg_task_arg_buffer(r, 0, zeroed, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(w, 2, zeroed, CLG_WRITE));
    CHECK(clg_plan_execute(wrong) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "'zeroed'") != NULL);
    CHECK_OK(clg_buffer_zero(zeroed)); /* filled before the step: legal */
    CHECK_OK(clg_plan_execute(wrong));
    for (int i = 0; i < N; i++)
        want[i] = 1.0f; /* 0 * 0 + 1 */
    tc_close("consume (zeroed), produce", out, want, N, 0, 0);
    clg_context_destroy(ctx);
}

static void test_bad_input(void) {
    clg_context *ctx = tc_context();
    const clg_device_info *dev = clg_context_device(ctx);
    clg_program *p = NULL;

    /* A kernel that does not compile: the status carries the build log. */
    clg_status st = clg_program_from_source(
        ctx, "broken", "__kernel void k(__global float *x) { x[0] = undeclared_thing; }", "", &p);
    CHECK(st == CLG_ERR_BUILD && p == NULL);
    CHECK(strstr(clg_last_error(), "undeclared_thing") != NULL);
    printf("  build error message: %.200s\n", clg_last_error());

    /* Unknown selector lists the devices. */
    clg_device_info info;
    st = clg_device_select("no-such-device-xyz", &info);
    CHECK(st == CLG_ERR_NOT_FOUND);
    CHECK(strstr(clg_last_error(), "no-such-device-xyz") && strstr(clg_last_error(), "0:0"));

    /* Above the device's largest allocation: both sizes named. */
    clg_buffer *b = NULL;
    size_t big = (size_t)dev->max_alloc_size + 4096;
    st = clg_buffer_create(ctx, "huge", big, CLG_TRANSFER_DEVICE_ONLY, NULL, &b);
    CHECK(st == CLG_ERR_OUT_OF_MEMORY && b == NULL);
    char num[64];
    snprintf(num, sizeof num, "%zu", big);
    CHECK(strstr(clg_last_error(), num) != NULL);
    snprintf(num, sizeof num, "%llu", (unsigned long long)dev->max_alloc_size);
    CHECK(strstr(clg_last_error(), num) != NULL);

    /* Bad ranges. */
    CHECK_OK(clg_program_from_source(ctx, "rt", tc_axpb_sq_src, "", &p));
    clg_graph *g;
    clg_task *t;
    CHECK_OK(clg_graph_create(ctx, "bad", &g));
    CHECK_OK(clg_graph_add_task(g, "sq", p, "sq", &t));
    size_t gl = 100, lo = 7;
    CHECK(clg_task_set_range(t, 1, &gl, &lo) == CLG_ERR_INVALID_ARG);
    CHECK(clg_graph_execute(g) == CLG_ERR_INVALID_ARG); /* no range, no args */
    CHECK(clg_task_arg_int(t, 9, 1) == CLG_ERR_INVALID_ARG);
    clg_task *t2 = NULL;
    CHECK(clg_graph_add_task(g, "nope", p, "no_such_kernel", &t2) == CLG_ERR_OPENCL && !t2);
    CHECK(strstr(clg_last_error(), "no_such_kernel") != NULL);
    CHECK(clg_program_get(ctx, "no_such_file", "", &p) == CLG_ERR_NOT_FOUND);
    clg_context_destroy(ctx);

    /* Forced SPIR-V: loads where the device takes IL, fails cleanly elsewhere. */
    clg_context_options o = tc_context_options();
    o.build = CLG_BUILD_SPIRV;
    CHECK_OK(clg_context_create(&o, &ctx));
    st = clg_program_get(ctx, "probe", "", &p);
    if (clg_context_device(ctx)->has_spirv) {
        CHECK(st == CLG_OK && clg_program_origin_of(p) != CLG_ORIGIN_SOURCE);
    } else {
        CHECK(st == CLG_ERR_UNSUPPORTED);
        CHECK(strstr(clg_last_error(), "IL") != NULL);
        printf("  forced SPIR-V: %s\n", clg_last_error());
    }
    clg_context_destroy(ctx);
}

/* The second build of the same program on a new context comes from the disk cache. */
static void test_program_cache(void) {
    char dir[] = "/tmp/clgraph-cache-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    clg_context_options o = tc_context_options();
    o.cache_dir = dir;
    clg_context *ctx;
    clg_program *p;
    CHECK_OK(clg_context_create(&o, &ctx));
    CHECK_OK(clg_program_get(ctx, "probe", "-DUNUSED_TUNABLE=3", &p));
    CHECK(clg_program_origin_of(p) == CLG_ORIGIN_SOURCE);
    clg_context_destroy(ctx);
    CHECK_OK(clg_context_create(&o, &ctx));
    CHECK_OK(clg_program_get(ctx, "probe", "-DUNUSED_TUNABLE=3", &p));
    CHECK(clg_program_origin_of(p) == CLG_ORIGIN_CACHE);
    /* different options: a different key */
    CHECK_OK(clg_program_get(ctx, "probe", "-DUNUSED_TUNABLE=4", &p));
    CHECK(clg_program_origin_of(p) == CLG_ORIGIN_SOURCE);
    clg_context_destroy(ctx);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);

    /* A context's kernel_dir loads kernel files from a folder. */
    char kdir[] = "/tmp/clgraph-kdir-XXXXXX";
    CHECK(mkdtemp(kdir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/custom.cl", kdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(tc_axpb_sq_src, f);
        fclose(f);
    }
    o.cache_dir = "";
    o.kernel_dir = kdir;
    CHECK_OK(clg_context_create(&o, &ctx));
    CHECK_OK(clg_program_get(ctx, "custom", "", &p));
    clg_context_destroy(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", kdir);
    CHECK(system(cmd) == 0);
}

/* The runtime reads no environment: variables that steered it once change nothing, and a
 * context without a cache folder has no cache. */
static void test_no_environment(void) {
    clg_context_options o = tc_context_options();
    char device[256] = "";
    if (o.device) snprintf(device, sizeof device, "%s", o.device);
    o.device = o.device ? device : NULL;
    o.cache_dir = NULL;
    char cache[1024] = "";
    const char *had_cache = getenv("CLGRAPH_CACHE_DIR");
    if (had_cache) snprintf(cache, sizeof cache, "%s", had_cache);
    CHECK(setenv("CLGRAPH_BUILD", "no-such-mode", 1) == 0);
    CHECK(setenv("CLGRAPH_CACHE_DIR", "/tmp", 1) == 0);
    clg_context *ctx = NULL;
    CHECK_OK(clg_context_create(&o, &ctx));
    CHECK(ctx && clg_context_cache_dir(ctx) == NULL);
    clg_context_destroy(ctx);
    unsetenv("CLGRAPH_BUILD");
    if (had_cache)
        setenv("CLGRAPH_CACHE_DIR", cache, 1);
    else
        unsetenv("CLGRAPH_CACHE_DIR");
    /* a build mode outside the enum is refused, naming it */
    o.build = (clg_build_mode)7;
    CHECK(clg_context_create(&o, &ctx) == CLG_ERR_INVALID_ARG && !ctx);
    CHECK(strstr(clg_last_error(), "build mode 7") != NULL);
}

int main(void) {
    tc_seed(42);
    test_no_environment();
    test_transfers();
    test_device_to_device();
    test_copy();
    test_order();
    test_bad_input();
    test_program_cache();
    return tc_finish("runtime");
}
