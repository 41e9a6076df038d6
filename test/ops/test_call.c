/* Call tasks (clgraph/runtime_cl.h) on the device in $CLGRAPH_DEVICE: a call between two
 * kernel tasks runs in order and its data flows both ways, its buffers count in the
 * order check, it is timed (profiling) and counted, a disabled task is skipped, a plan
 * with replay on executes a range holding a call plainly, task sets are timed, and
 * misuse fails with a message. */
#include <stdlib.h>
#include <string.h>

#include "clgraph/runtime_cl.h"
#include "test_common.h"

#define N 4096

/* The call's parameters: d[0 .. N) = c[0 .. N) with ordinary OpenCL commands, first
 * filling d with a wrong value so that an out-of-order copy would show. */
typedef struct copy_call {
    clg_buffer *c, *d;
    int calls;
    int give_event; /* 1: return the copy's event as done; 0: leave it to the runtime */
    int fail;       /* 1: return an error */
} copy_call;

static clg_status copy_fn(void *user, cl_command_queue q, cl_event *done) {
    copy_call *cc = user;
    cc->calls++;
    if (cc->fail) return clg_fail(CLG_ERR_UNSUPPORTED, "the library refused (test)");
    const float junk = -7.0f;
    cl_int err = clEnqueueFillBuffer(q, clg_buffer_mem(cc->d), &junk, sizeof junk, 0,
                                     N * sizeof(float), 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueCopyBuffer(q, clg_buffer_mem(cc->c), clg_buffer_mem(cc->d), 0, 0,
                                  N * sizeof(float), 0, NULL, cc->give_event ? done : NULL);
    return err == CL_SUCCESS ? CLG_OK : clg_fail(CLG_ERR_OPENCL, "copy: OpenCL error %d", err);
}

static void want_of(const float *a, const float *b, float *want) {
    for (int i = 0; i < N; i++) {
        float c = 2.0f * a[i] + b[i];
        want[i] = c * c + 1.0f;
    }
}

int main(void) {
    tc_seed(7);
    clg_context *ctx = tc_context();
    const clg_device_info *dev = clg_context_device(ctx);
    clg_program *p;
    CHECK_OK(clg_program_from_source(ctx, "call", tc_axpb_sq_src, "", &p));
    static float a[N], b[N], out[N], want[N];
    tc_fill(a, N, -1, 1);
    tc_fill(b, N, -1, 1);
    clg_buffer *ba = tc_buffer(ctx, "a", sizeof a, CLG_TRANSFER_FIRST_EXECUTION, a);
    clg_buffer *bb = tc_buffer(ctx, "b", sizeof b, CLG_TRANSFER_EVERY_EXECUTION, b);
    clg_buffer *bc = tc_buffer(ctx, "c", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bd = tc_buffer(ctx, "d", sizeof a, CLG_TRANSFER_DEVICE_ONLY, NULL);
    clg_buffer *bo = tc_buffer(ctx, "out", sizeof out, CLG_TRANSFER_EVERY_EXECUTION, out);
    if (!ba || !bb || !bc || !bd || !bo) return tc_finish("call");

    /* axpb (a, b -> c), call (c -> d), sq (d -> out) */
    clg_graph *g;
    clg_task *t1, *call, *t2;
    size_t n = N, l = 16;
    CHECK_OK(clg_graph_create(ctx, "g", &g));
    CHECK_OK(clg_graph_add_task(g, "axpb", p, "axpb", &t1));
    CHECK_OK(clg_task_arg_buffer(t1, 0, ba, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t1, 1, bb, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t1, 2, bc, CLG_WRITE));
    CHECK_OK(clg_task_arg_float(t1, 3, 2.0f));
    CHECK_OK(clg_task_set_range(t1, 1, &n, &l));
    copy_call cc = {.c = bc, .d = bd, .give_event = 1};
    CHECK_OK(clg_graph_add_call(g, "copy", copy_fn, &cc, &call));
    CHECK_OK(clg_task_arg_buffer(call, 0, bc, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(call, 1, bd, CLG_WRITE));
    CHECK_OK(clg_graph_add_task(g, "sq", p, "sq", &t2));
    CHECK_OK(clg_task_arg_buffer(t2, 0, bd, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(t2, 1, bo, CLG_WRITE));
    CHECK_OK(clg_task_set_range(t2, 1, &n, &l));
    CHECK(clg_task_is_call(call) && !clg_task_is_call(t1));
    CHECK(clg_task_program(call) == NULL && !strcmp(clg_task_kernel_name(call), ""));
    CHECK(clg_task_bytes_read(call) == sizeof a);

    /* A call task's declared buffers count in the order check: sq reading d before the
     * call writes it is refused. */
    clg_graph *bad_g;
    clg_task *early, *late;
    CHECK_OK(clg_graph_create(ctx, "bad_order", &bad_g));
    CHECK_OK(clg_graph_add_task(bad_g, "sq_early", p, "sq", &early));
    CHECK_OK(clg_task_arg_buffer(early, 0, bd, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(early, 1, bo, CLG_WRITE));
    CHECK_OK(clg_task_set_range(early, 1, &n, &l));
    CHECK_OK(clg_graph_add_call(bad_g, "copy_late", copy_fn, &cc, &late));
    CHECK_OK(clg_task_arg_buffer(late, 0, bc, CLG_READ));
    CHECK_OK(clg_task_arg_buffer(late, 1, bd, CLG_WRITE));
    CHECK(clg_graph_execute(bad_g) == CLG_ERR_INVALID_ARG && cc.calls == 0);
    CHECK(strstr(clg_last_error(), "'copy_late'") && strstr(clg_last_error(), "'sq_early'"));
    clg_graph_destroy(bad_g);

    /* In order, both ways of returning (or not) the done event. */
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < N; i++)
            b[i] = (float)r * 0.5f - (float)i * 1e-4f;
        cc.give_event = r & 1;
        CHECK_OK(clg_graph_execute(g));
        want_of(a, b, want);
        char what[64];
        snprintf(what, sizeof what, "kernel, call, kernel (step %d)", r);
        tc_close(what, out, want, N, 1e-5f, 1e-5f);
    }
    CHECK(cc.calls == 4);
    clg_task_stats ts;
    clg_task_get_stats(call, &ts);
    CHECK(ts.executions == 4);
    if (dev->profiling_timer == 1) {
        CHECK(ts.total_ns > 0 && ts.min_ns <= ts.last_ns);
        printf("  call task: %llu executions, last %.1f us\n", (unsigned long long)ts.executions,
               ts.last_ns / 1e3);
    }

    /* A disabled task is skipped: the call no longer refreshes d. */
    float kept[N];
    memcpy(kept, want, sizeof kept);
    clg_task_set_enabled(call, 0);
    CHECK(!clg_task_enabled(call));
    for (int i = 0; i < N; i++)
        b[i] += 1.0f;
    CHECK_OK(clg_graph_execute(g));
    CHECK(cc.calls == 4);
    tc_close("disabled call: sq sees the old d", out, kept, N, 1e-5f, 1e-5f);
    clg_task_set_enabled(call, 1);

    /* Replay on: the range holding the call executes plainly (nothing recorded), and
     * correctly; with the call disabled the kernels are recorded again. */
    clg_plan *plan;
    CHECK_OK(clg_plan_create(ctx, &plan));
    CHECK_OK(clg_plan_add_graph(plan, g));
    if (clg_plan_set_replay(plan, 1) == CLG_OK) {
        for (int r = 0; r < 2; r++) {
            for (int i = 0; i < N; i++)
                b[i] = (float)r - (float)i * 2e-4f;
            CHECK_OK(clg_plan_execute(plan));
            want_of(a, b, want);
            tc_close("replay on, plan with a call task", out, want, N, 1e-5f, 1e-5f);
        }
        clg_replay_stats rs;
        clg_plan_get_replay_stats(plan, &rs);
        CHECK(rs.recordings == 0 && rs.replays == 0);
        CHECK(cc.calls == 6);
        clg_task_set_enabled(call, 0);
        CHECK_OK(clg_plan_execute(plan));
        clg_plan_get_replay_stats(plan, &rs);
        CHECK(rs.recordings == 1 && rs.replays == 1);
        clg_task_set_enabled(call, 1);
        CHECK_OK(clg_plan_set_replay(plan, 0));
    } else {
        printf("  replay: skipped, %s\n", clg_last_error());
    }

    /* Misuse and failures. */
    CHECK(clg_task_arg_int(call, 2, 1) == CLG_ERR_INVALID_ARG);
    CHECK(strstr(clg_last_error(), "call task") != NULL);
    CHECK(clg_task_set_range(call, 1, &n, NULL) == CLG_ERR_INVALID_ARG);
    CHECK(clg_task_set_kernel(call, p, "sq") == CLG_ERR_INVALID_ARG);
    CHECK(clg_task_arg_buffer(call, 16, bc, CLG_READ) == CLG_ERR_INVALID_ARG);
    clg_task *bad;
    CHECK(clg_graph_add_call(g, "nofn", NULL, NULL, &bad) == CLG_ERR_INVALID_ARG && bad == NULL);
    cc.fail = 1;
    clg_status st = clg_graph_execute(g);
    CHECK(st == CLG_ERR_UNSUPPORTED);
    CHECK(strstr(clg_last_error(), "call task 'copy' of graph 'g'") != NULL &&
          strstr(clg_last_error(), "the library refused") != NULL);
    cc.fail = 0;
    CHECK_OK(clg_graph_execute(g)); /* and the graph runs again */
    clg_context_destroy(ctx);
    return tc_finish("call");
}
