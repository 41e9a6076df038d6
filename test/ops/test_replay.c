/* Recorded replay of a plan (clg_plan_set_replay) on the device in $CLGRAPH_DEVICE: a
 * three-graph plan replayed gives bit-identical results to the same plan enqueued
 * plainly, over steps with changing inputs and after changes of arguments, kernels and
 * ranges (each re-records); where the device lacks cl_khr_command_buffer, turning replay
 * on fails cleanly and the plan still runs. */
#include <stdlib.h>
#include <string.h>

#include "test_common.h"

/* partial[g] = sum of x over work-group g (local scratch), c = s * a + b, y = x * x + 1. */
static const char *src =
    "__kernel void axpb(__global const float *a, __global const float *b, __global float *c,\n"
    "                   const float s) {\n"
    "    size_t i = get_global_id(0); c[i] = s * a[i] + b[i];\n"
    "}\n"
    "__kernel void axmb(__global const float *a, __global const float *b, __global float *c,\n"
    "                   const float s) {\n"
    "    size_t i = get_global_id(0); c[i] = s * a[i] - b[i];\n"
    "}\n"
    "__kernel void sq(__global const float *x, __global float *y) {\n"
    "    size_t i = get_global_id(0); y[i] = x[i] * x[i] + 1.0f;\n"
    "}\n"
    "__kernel void gsum(__global const float *x, __global float *partial, __local float *l) {\n"
    "    size_t i = get_local_id(0), n = get_local_size(0);\n"
    "    l[i] = x[get_global_id(0)];\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    if (i > 0) return;\n"
    "    float s = 0;\n"
    "    for (size_t k = 0; k < n; k++) s += l[k];\n"
    "    partial[get_group_id(0)] = s;\n"
    "}\n";

#define N 1024
#define WG 16

/* One copy of the plan: embed (c = s a + b), square (d = c^2 + 1), head (out = s2 d + c,
 * partial sums of d). a is uploaded once, b every step; out and sums come back. */
typedef struct net {
    float a[N], b[N], out[N], sums[N / (WG / 2)]; /* room for work-groups of WG / 2 */
    clg_task *t_embed, *t_sq, *t_head, *t_sum;
    clg_plan *plan;
} net;

static clg_task *task(clg_graph *g, clg_program *p, const char *kernel, size_t n, size_t local) {
    clg_task *t = NULL;
    CHECK_OK(clg_graph_add_task(g, kernel, p, kernel, &t));
    CHECK_OK(clg_task_set_range(t, 1, &n, local ? &local : NULL));
    return t;
}

static void net_build(clg_context *ctx, clg_program *p, net *s, const float *a) {
    memcpy(s->a, a, sizeof s->a);
    clg_buffer *ba = tc_buffer(ctx, "a", sizeof s->a, CLG_TRANSFER_FIRST_EXECUTION, s->a);
    clg_buffer *bb = tc_buffer(ctx, "b", sizeof s->b, CLG_TRANSFER_EVERY_EXECUTION, s->b);
    clg_buffer *bc = tc_buffer(ctx, "c", sizeof s->a, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bd = tc_buffer(ctx, "d", sizeof s->a, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bo = tc_buffer(ctx, "out", sizeof s->out, CLG_TRANSFER_EVERY_EXECUTION, s->out);
    clg_buffer *bs = tc_buffer(ctx, "sums", sizeof s->sums, CLG_TRANSFER_EVERY_EXECUTION, s->sums);
    CHECK_OK(clg_buffer_zero(bs)); /* its tail is written only with the smaller work-groups */
    clg_graph *g[3];
    for (int i = 0; i < 3; i++)
        CHECK_OK(clg_graph_create(ctx, i == 0 ? "embed" : i == 1 ? "square" : "head", &g[i]));
    s->t_embed = task(g[0], p, "axpb", N, 0);
    CHECK_OK(clg_task_arg_buffer(s->t_embed, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(s->t_embed, 1, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(s->t_embed, 2, bc, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(s->t_embed, 3, 0.5f));
    s->t_sq = task(g[1], p, "sq", N, 0);
    CHECK_OK(clg_task_arg_buffer(s->t_sq, 0, bc, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(s->t_sq, 1, bd, CLG_WRITE));
    s->t_head = task(g[2], p, "axpb", N, 0);
    CHECK_OK(clg_task_arg_buffer(s->t_head, 0, bd, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(s->t_head, 1, bc, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(s->t_head, 2, bo, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(s->t_head, 3, -1.5f));
    s->t_sum = task(g[2], p, "gsum", N, WG);
    CHECK_OK(clg_task_arg_buffer(s->t_sum, 0, bd, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(s->t_sum, 1, bs, CLG_WRITE));
    CHECK_OK(clg_task_arg_local(s->t_sum, 2, WG * sizeof(float)));
    CHECK_OK(clg_plan_create(ctx, &s->plan));
    for (int i = 0; i < 3; i++)
        CHECK_OK(clg_plan_add_graph(s->plan, g[i]));
}

/* The plain and the replayed copy give the same bits; out also matches a host reference. */
static void compare(const char *what, const net *plain, const net *rep, float s1, float s2,
                    int minus) {
    int same = !memcmp(plain->out, rep->out, sizeof rep->out) &&
               !memcmp(plain->sums, rep->sums, sizeof rep->sums);
    CHECK(same);
    if (!same) fprintf(stderr, "  %s: replayed results differ from the plain ones\n", what);
    static float want[N];
    for (int i = 0; i < N; i++) {
        float c = s1 * plain->a[i] + (minus ? -plain->b[i] : plain->b[i]);
        want[i] = s2 * (c * c + 1.0f) + c;
    }
    tc_close(what, rep->out, want, N, 1e-4f, 1e-5f);
}

static void new_inputs(net *x, net *y) {
    tc_fill(x->b, N, -2, 2);
    memcpy(y->b, x->b, sizeof y->b);
}

static void test_unsupported(clg_context *ctx, clg_program *p) {
    static net s;
    static float a[N];
    tc_fill(a, N, -1, 1);
    net_build(ctx, p, &s, a);
    clg_status st = clg_plan_set_replay(s.plan, 1);
    CHECK(st == CLG_ERR_UNSUPPORTED);
    CHECK(strstr(clg_last_error(), "cl_khr_command_buffer") != NULL);
    printf("  replay unavailable: %s\n", clg_last_error());
    CHECK(clg_plan_replay(s.plan) == 0);
    CHECK_OK(clg_plan_set_replay(s.plan, 0));
    tc_fill(s.b, N, -2, 2);
    CHECK_OK(clg_plan_execute(s.plan)); /* still runs, plainly */
    compare("plain after refused replay", &s, &s, 0.5f, -1.5f, 0);
}

static int n_kernel_events;
static void on_event(void *user, const clg_trace_event *e) {
    (void)user;
    n_kernel_events += e->is_transfer == 0;
}

static void test_replay(clg_context *ctx, clg_program *p) {
    static net plain, rep;
    static float a[N];
    tc_fill(a, N, -1, 1);
    net_build(ctx, p, &plain, a);
    net_build(ctx, p, &rep, a);
    CHECK_OK(clg_plan_set_replay(rep.plan, 1));
    CHECK(clg_plan_replay(rep.plan) == 1 && clg_plan_replay(plain.plan) == 0);
    clg_replay_stats rs;
    const int steps = 6;
    for (int r = 0; r < steps; r++) {
        new_inputs(&plain, &rep);
        if (r) rep.a[0] = plain.a[0] = 1e3f; /* FIRST_EXECUTION: must not reach the device again */
        CHECK_OK(clg_plan_execute(plain.plan));
        CHECK_OK(clg_plan_execute(rep.plan));
        memcpy(plain.a, a, sizeof a);
        memcpy(rep.a, a, sizeof a);
        compare("replayed step", &plain, &rep, 0.5f, -1.5f, 0);
    }
    clg_plan_get_replay_stats(rep.plan, &rs);
    CHECK(rs.recordings == 1 && rs.replays == (uint64_t)steps);
    clg_task_stats ts;
    clg_task_get_stats(rep.t_sum, &ts);
    CHECK(ts.executions == (uint64_t)steps);

    /* A scalar changed after recording: re-recorded and honoured. */
    CHECK_OK(clg_task_arg_float(plain.t_embed, 3, 2.0f));
    CHECK_OK(clg_task_arg_float(rep.t_embed, 3, 2.0f));
    new_inputs(&plain, &rep);
    CHECK_OK(clg_plan_execute(plain.plan));
    CHECK_OK(clg_plan_execute(rep.plan));
    compare("after a changed scalar", &plain, &rep, 2.0f, -1.5f, 0);
    clg_plan_get_replay_stats(rep.plan, &rs);
    CHECK(rs.recordings == 2 && rs.replays == (uint64_t)steps + 1);

    /* Another kernel with the same arguments (a variant): re-recorded. */
    CHECK_OK(clg_task_set_kernel(plain.t_embed, p, "axmb"));
    CHECK_OK(clg_task_set_kernel(rep.t_embed, p, "axmb"));
    for (int r = 0; r < 2; r++) {
        new_inputs(&plain, &rep);
        CHECK_OK(clg_plan_execute(plain.plan));
        CHECK_OK(clg_plan_execute(rep.plan));
        compare("after a changed kernel", &plain, &rep, 2.0f, -1.5f, 1);
    }
    clg_plan_get_replay_stats(rep.plan, &rs);
    CHECK(rs.recordings == 3 && rs.replays == (uint64_t)steps + 3);

    /* A changed range (the sums' work-groups) re-records too. */
    size_t n = N, half = WG / 2;
    CHECK_OK(clg_task_set_range(plain.t_sum, 1, &n, &half));
    CHECK_OK(clg_task_set_range(rep.t_sum, 1, &n, &half));
    CHECK_OK(clg_task_arg_local(plain.t_sum, 2, half * sizeof(float)));
    CHECK_OK(clg_task_arg_local(rep.t_sum, 2, half * sizeof(float)));
    new_inputs(&plain, &rep);
    CHECK_OK(clg_plan_execute(plain.plan));
    CHECK_OK(clg_plan_execute(rep.plan));
    compare("after a changed range", &plain, &rep, 2.0f, -1.5f, 1);
    clg_plan_get_replay_stats(rep.plan, &rs);
    CHECK(rs.recordings == 4);

    /* Another range of graphs records that range; the full plan then records again. */
    new_inputs(&plain, &rep);
    memset(rep.out, 0, sizeof rep.out);
    CHECK_OK(clg_plan_execute_range(rep.plan, 0, 2)); /* no head: nothing comes back */
    for (int i = 0; i < N; i++)
        CHECK(rep.out[i] == 0.0f);
    CHECK_OK(clg_plan_execute(plain.plan));
    CHECK_OK(clg_plan_execute(rep.plan));
    compare("range, then the full plan", &plain, &rep, 2.0f, -1.5f, 1);
    clg_plan_get_replay_stats(rep.plan, &rs);
    CHECK(rs.recordings == 6);

    /* A trace callback wants per-task events: those steps run plainly. */
    uint64_t replays = rs.replays;
    n_kernel_events = 0;
    clg_context_set_trace(ctx, on_event, NULL);
    new_inputs(&plain, &rep);
    CHECK_OK(clg_plan_execute(rep.plan));
    clg_context_set_trace(ctx, NULL, NULL);
    CHECK(n_kernel_events == 4);
    clg_plan_get_replay_stats(rep.plan, &rs);
    CHECK(rs.replays == replays);
    CHECK_OK(clg_plan_execute(plain.plan));
    compare("traced step", &plain, &rep, 2.0f, -1.5f, 1);

    /* Off: plain again, still right; the statistics stay. */
    CHECK_OK(clg_plan_set_replay(rep.plan, 0));
    CHECK(clg_plan_replay(rep.plan) == 0);
    new_inputs(&plain, &rep);
    CHECK_OK(clg_plan_execute(plain.plan));
    CHECK_OK(clg_plan_execute(rep.plan));
    compare("replay off", &plain, &rep, 2.0f, -1.5f, 1);
    clg_plan_get_replay_stats(rep.plan, &rs);
    CHECK(rs.replays == replays);
}

/* A task writes an EVERY_EXECUTION buffer that a later task reads: in a plain step the
 * upload lands between them, so such a plan is not replayed (and stays right). */
static void test_hazard(clg_context *ctx, clg_program *p) {
    static float a[N], b[N], out[N], want[N];
    tc_fill(a, N, -1, 1);
    clg_buffer *ba = tc_buffer(ctx, "ha", sizeof a, CLG_TRANSFER_FIRST_EXECUTION, a);
    clg_buffer *bb = tc_buffer(ctx, "hb", sizeof b, CLG_TRANSFER_EVERY_EXECUTION, b);
    clg_buffer *bo = tc_buffer(ctx, "hout", sizeof out, CLG_TRANSFER_EVERY_EXECUTION, out);
    clg_graph *g;
    CHECK_OK(clg_graph_create(ctx, "hazard", &g));
    clg_task *t1 = task(g, p, "sq", N, 0); /* b = a^2 + 1, then overwritten by the upload */
    CHECK_OK(clg_task_arg_buffer(t1, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t1, 1, bb, CLG_WRITE));
    clg_task *t2 = task(g, p, "sq", N, 0); /* out = b^2 + 1 with the uploaded b */
    CHECK_OK(clg_task_arg_buffer(t2, 0, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t2, 1, bo, CLG_WRITE));
    clg_plan *plan;
    CHECK_OK(clg_plan_create(ctx, &plan));
    CHECK_OK(clg_plan_add_graph(plan, g));
    CHECK_OK(clg_plan_set_replay(plan, 1));
    for (int r = 0; r < 2; r++) {
        tc_fill(b, N, -2, 2);
        for (int i = 0; i < N; i++)
            want[i] = b[i] * b[i] + 1.0f;
        CHECK_OK(clg_plan_execute(plan));
        tc_close("write-then-upload plan", out, want, N, 1e-5f, 1e-5f);
    }
    clg_replay_stats rs;
    clg_plan_get_replay_stats(plan, &rs);
    CHECK(rs.recordings == 0 && rs.replays == 0);
    clg_plan_destroy(plan);
}

int main(void) {
    tc_seed(55);
    clg_context *ctx = tc_context();
    clg_program *p;
    CHECK_OK(clg_program_from_source(ctx, "replay", src, "", &p));
    if (!clg_context_device(ctx)->has_command_buffer) {
        test_unsupported(ctx, p);
    } else {
        test_replay(ctx, p);
        test_hazard(ctx, p);
    }
    clg_context_destroy(ctx);
    return tc_finish("replay");
}
