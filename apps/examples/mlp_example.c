/* Reuse example: a two-layer MLP classifier (not a language model) written only
 * against the public runtime header. Each layer is a graph; weights are uploaded
 * once, the input batch goes up every step, the hidden activations stay on the
 * device between the graphs, and only the class probabilities come back. The
 * result is checked against a plain C computation; exit status 1 on mismatch.
 *
 *   x  [B, IN]   -> h = relu(W1 x + b1)  [B, HID]     graph "layer1"
 *   h  [B, HID]  -> p = softmax(W2 h + b2) [B, OUT]   graph "layer2"
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "clgraph/runtime.h"
#include "clgraph/util.h"

enum { B = 16, IN = 64, HID = 128, OUT = 10, STEPS = 5 };

static const char *kernels =
    "/* y[b, o] = act(sum_i W[o, i] x[b, i] + bias[o]); one work-item per (o, b). */\n"
    "__kernel void dense_relu(__global const float *W, __global const float *bias,\n"
    "                         __global const float *x, __global float *y, int n_in, int n_out) {\n"
    "    int o = get_global_id(0), b = get_global_id(1);\n"
    "    float acc = bias[o];\n"
    "    for (int i = 0; i < n_in; i++) acc += W[o * n_in + i] * x[b * n_in + i];\n"
    "    y[b * n_out + o] = fmax(acc, 0.0f);\n"
    "}\n"
    "/* p[b, :] = softmax(W h_b + bias); one work-item per row b. */\n"
    "__kernel void dense_softmax(__global const float *W, __global const float *bias,\n"
    "                            __global const float *x, __global float *p, int n_in, int n_out) {\n"
    "    int b = get_global_id(0);\n"
    "    float m = -INFINITY;\n"
    "    for (int o = 0; o < n_out; o++) {\n"
    "        float acc = bias[o];\n"
    "        for (int i = 0; i < n_in; i++) acc += W[o * n_in + i] * x[b * n_in + i];\n"
    "        p[b * n_out + o] = acc; m = fmax(m, acc);\n"
    "    }\n"
    "    float s = 0.0f;\n"
    "    for (int o = 0; o < n_out; o++) { float e = exp(p[b * n_out + o] - m); p[b * n_out + o] = e; s += e; }\n"
    "    for (int o = 0; o < n_out; o++) p[b * n_out + o] /= s;\n"
    "}\n";

static float frand(uint64_t *s) {
    return 2.0f * clg_rng_float(s) - 1.0f;
}

static void reference(const float *w1, const float *b1, const float *w2, const float *b2,
                      const float *x, float *p) {
    float h[B * HID];
    for (int b = 0; b < B; b++)
        for (int o = 0; o < HID; o++) {
            double acc = b1[o];
            for (int i = 0; i < IN; i++) acc += (double)w1[o * IN + i] * x[b * IN + i];
            h[b * HID + o] = acc > 0 ? (float)acc : 0.0f;
        }
    for (int b = 0; b < B; b++) {
        double z[OUT], m = -INFINITY, s = 0;
        for (int o = 0; o < OUT; o++) {
            z[o] = b2[o];
            for (int i = 0; i < HID; i++) z[o] += (double)w2[o * HID + i] * h[b * HID + i];
            if (z[o] > m) m = z[o];
        }
        for (int o = 0; o < OUT; o++) s += exp(z[o] - m);
        for (int o = 0; o < OUT; o++) p[b * OUT + o] = (float)(exp(z[o] - m) / s);
    }
}

#define TRY(call)                                                                            \
    do {                                                                                     \
        clg_status st_ = (call);                                                             \
        if (st_ != CLG_OK) {                                                                 \
            fprintf(stderr, "mlp_example: %s: %s\n", #call, clg_last_error());               \
            goto fail;                                                                       \
        }                                                                                    \
    } while (0)

int main(int argc, char **argv) {
    static float w1[HID * IN], b1[HID], w2[OUT * HID], b2[OUT], x[B * IN], p[B * OUT], want[B * OUT];
    uint64_t seed = clg_rng_seed(7);
    for (int i = 0; i < HID * IN; i++) w1[i] = 0.2f * frand(&seed);
    for (int i = 0; i < HID; i++) b1[i] = 0.1f * frand(&seed);
    for (int i = 0; i < OUT * HID; i++) w2[i] = 0.2f * frand(&seed);
    for (int i = 0; i < OUT; i++) b2[i] = 0.1f * frand(&seed);

    int rc = 1;
    clg_context_options o = clg_context_options_default();
    o.device = argc > 1 ? argv[1] : NULL;
    o.profiling = 1;
    clg_context *ctx = NULL;
    clg_program *prog;
    clg_buffer *bw1, *bb1, *bw2, *bb2, *bx, *bh, *bp;
    clg_graph *l1, *l2;
    clg_task *t;
    clg_plan *plan;
    TRY(clg_context_create(&o, &ctx));
    printf("device: %s\n", clg_context_device(ctx)->device_name);
    TRY(clg_program_from_source(ctx, "mlp", kernels, "", &prog));
    TRY(clg_buffer_create(ctx, "w1", sizeof w1, CLG_TRANSFER_FIRST_EXECUTION, w1, &bw1));
    TRY(clg_buffer_create(ctx, "b1", sizeof b1, CLG_TRANSFER_FIRST_EXECUTION, b1, &bb1));
    TRY(clg_buffer_create(ctx, "w2", sizeof w2, CLG_TRANSFER_FIRST_EXECUTION, w2, &bw2));
    TRY(clg_buffer_create(ctx, "b2", sizeof b2, CLG_TRANSFER_FIRST_EXECUTION, b2, &bb2));
    TRY(clg_buffer_create(ctx, "x", sizeof x, CLG_TRANSFER_EVERY_EXECUTION, x, &bx));
    TRY(clg_buffer_create(ctx, "h", sizeof(float) * B * HID, CLG_TRANSFER_DEVICE_ONLY, NULL, &bh));
    TRY(clg_buffer_create(ctx, "p", sizeof p, CLG_TRANSFER_EVERY_EXECUTION, p, &bp));

    TRY(clg_graph_create(ctx, "layer1", &l1));
    TRY(clg_graph_add_task(l1, "dense_relu", prog, "dense_relu", &t));
    TRY(clg_task_arg_buffer(t, 0, bw1, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, bb1, CLG_READ));
    TRY(clg_task_arg_buffer(t, 2, bx, CLG_READ));
    TRY(clg_task_arg_buffer(t, 3, bh, CLG_WRITE));
    TRY(clg_task_arg_int(t, 4, IN));
    TRY(clg_task_arg_int(t, 5, HID));
    TRY(clg_task_set_range(t, 2, (size_t[]){HID, B}, NULL));

    /* layer2 finds the hidden activations by name, as a separately written graph would. */
    clg_buffer *hidden;
    TRY(clg_buffer_find(ctx, "h", &hidden));
    TRY(clg_graph_create(ctx, "layer2", &l2));
    TRY(clg_graph_add_task(l2, "dense_softmax", prog, "dense_softmax", &t));
    TRY(clg_task_arg_buffer(t, 0, bw2, CLG_READ));
    TRY(clg_task_arg_buffer(t, 1, bb2, CLG_READ));
    TRY(clg_task_arg_buffer(t, 2, hidden, CLG_READ));
    TRY(clg_task_arg_buffer(t, 3, bp, CLG_WRITE));
    TRY(clg_task_arg_int(t, 4, HID));
    TRY(clg_task_arg_int(t, 5, OUT));
    TRY(clg_task_set_range(t, 1, (size_t[]){B}, NULL));

    TRY(clg_plan_create(ctx, &plan));
    TRY(clg_plan_add_graph(plan, l1));
    TRY(clg_plan_add_graph(plan, l2));

    double worst = 0;
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < B * IN; i++) x[i] = frand(&seed);
        TRY(clg_plan_execute(plan));
        reference(w1, b1, w2, b2, x, want);
        for (int i = 0; i < B * OUT; i++) {
            double d = fabs((double)p[i] - want[i]);
            if (!(d <= worst)) worst = d;
        }
    }
    clg_buffer_stats s;
    clg_buffer_get_stats(bw1, &s);
    printf("%d steps of batch %d: max |p - p_ref| = %.3g; w1 uploaded %llu time(s), %llu bytes\n",
           STEPS, B, worst, (unsigned long long)s.uploads, (unsigned long long)s.upload_bytes);
    printf("first row: class probabilities");
    for (int o2 = 0; o2 < OUT; o2++) printf(" %.3f", p[o2]);
    printf("\n");
    rc = worst <= 1e-5 && s.uploads == 1 ? 0 : 1;
    printf("%s\n", rc ? "MISMATCH against the C reference" : "matches the C reference");
fail:
    clg_context_destroy(ctx);
    return rc;
}
