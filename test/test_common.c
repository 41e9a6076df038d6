/* Shared test helpers (see test_common.h). */
#include "test_common.h"

#include "clgraph/llm.h"
#include "clgraph/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tc_failures = 0;
int tc_checks = 0;
static uint64_t tc_state = 0x9E3779B97F4A7C15ull; /* clg_rng_seed(1) */

int tc_close(const char *what, const float *got, const float *want, size_t n, float atol,
             float rtol) {
    double worst = 0;
    size_t worst_i = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double tol = atol + rtol * fabs((double)want[i]);
        if (!(d <= tol)) { /* NaN fails too */
            bad++;
            if (!(d <= worst)) {
                worst = d;
                worst_i = i;
            }
        } else if (bad == 0 && d > worst) {
            worst = d;
            worst_i = i;
        }
    }
    tc_checks++;
    if (bad) {
        tc_failures++;
        fprintf(stderr, "%s: %zu of %zu values differ; worst at %zu: got %g want %g (|d|=%g)\n",
                what, bad, n, worst_i, got[worst_i], want[worst_i], worst);
        return 0;
    }
    printf("  %s: max |d| = %.3g over %zu values\n", what, worst, n);
    return 1;
}

void tc_seed(uint64_t seed) {
    tc_state = clg_rng_seed(seed);
}

uint32_t tc_randu(void) {
    return (uint32_t)(clg_rng_next(&tc_state) >> 32);
}

float tc_randf(float lo, float hi) {
    return lo + (hi - lo) * clg_rng_float(&tc_state);
}

void tc_fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = tc_randf(lo, hi);
}

clg_context_options tc_context_options(void) {
    clg_context_options o = clg_context_options_default();
    o.device = getenv("CLGRAPH_DEVICE");
    o.cache_dir = getenv("CLGRAPH_CACHE_DIR");
    return o;
}

llm_model_options tc_model_options(void) {
    llm_model_options o = llm_model_options_default();
    o.device = getenv("CLGRAPH_DEVICE");
    o.cache_dir = getenv("CLGRAPH_CACHE_DIR");
    return o;
}

clg_context *tc_context(void) {
    clg_context_options o = tc_context_options();
    o.profiling = 1;
    clg_context *ctx = NULL;
    clg_status st = clg_context_create(&o, &ctx);
    if (st != CLG_OK) {
        fprintf(stderr, "cannot create a context on '%s': %s: %s\n",
                o.device ? o.device : "(default)", clg_status_str(st), clg_last_error());
        exit(1);
    }
    CHECK_OK(clg_context_add_kernel_files(ctx, llm_kernel_files()));
    const clg_device_info *d = clg_context_device(ctx);
    printf("device: %s / %s\n", d->platform_name, d->device_name);
    return ctx;
}

void tc_count_warning(void *user, const char *message) {
    tc_warnings *w = user;
    w->count++;
    snprintf(w->last, sizeof w->last, "%s", message);
    printf("  warning: %.600s\n", message);
}

clg_context *tc_warn_context(const char *cache_dir, tc_warnings *w) {
    clg_context_options o = tc_context_options();
    o.cache_dir = cache_dir;
    o.warn = tc_count_warning;
    o.warn_user = w;
    clg_context *ctx = NULL;
    if (clg_context_create(&o, &ctx) != CLG_OK) {
        fprintf(stderr, "context: %s\n", clg_last_error());
        exit(1);
    }
    return ctx;
}

clg_buffer *tc_buffer(clg_context *ctx, const char *what, size_t bytes, clg_transfer policy,
                      void *host) {
    static int uniq = 0;
    char name[96];
    snprintf(name, sizeof name, "%.80s.%d", what, uniq++);
    clg_buffer *b = NULL;
    CHECK_OK(clg_buffer_create(ctx, name, bytes, policy, host, &b));
    return b;
}

int tc_set_range(clg_task *t, unsigned dims, const size_t *global, const size_t *local) {
    clg_status st = clg_task_set_range(t, dims, global, local);
    if (st == CLG_OK) return 1;
    if (local && strstr(clg_last_error(), "exceeds this kernel's limit")) {
        printf("  skipped: %s\n", clg_last_error());
        return 0;
    }
    CHECK_OK(st);
    return 0;
}

int tc_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tc_checks - tc_failures, tc_failures);
    if (tc_checks == 0) {
        /* Nothing was asserted (every case skipped, or an early return before the first
         * check): passing would hide that the test did not run. */
        fprintf(stderr, "%s: no checks ran; a test that asserts nothing fails\n", name);
        return 1;
    }
    return tc_failures ? 1 : 0;
}

const char *tc_data(const char *rel) {
    static char buf[4096];
    const char *d = getenv("CLGRAPH_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/%s", d ? d : "test/data", rel);
    return buf;
}

const char *const tc_axpb_sq_src =
    "__kernel void axpb(__global const float *a, __global const float *b, __global float *c,\n"
    "                   const float s) {\n"
    "    size_t i = get_global_id(0); c[i] = s * a[i] + b[i];\n"
    "}\n"
    "__kernel void sq(__global const float *x, __global float *y) {\n"
    "    size_t i = get_global_id(0); y[i] = x[i] * x[i] + 1.0f;\n"
    "}\n";
