/* Test helpers shared by every test: checks that count failures and print the
 * worst difference, seeded random inputs, and the device a test runs on. */
#ifndef CLGRAPH_TEST_COMMON_H
#define CLGRAPH_TEST_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clgraph/llm.h"
#include "clgraph/runtime.h"

extern int tc_failures;
extern int tc_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        tc_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            tc_failures++;                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* A clg_status call that must succeed; prints clg_last_error() otherwise. */
#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        tc_checks++;                                                                               \
        clg_status st_ = (call);                                                                   \
        if (st_ != CLG_OK) {                                                                       \
            tc_failures++;                                                                         \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,                    \
                    clg_status_str(st_), clg_last_error());                                        \
        }                                                                                          \
    } while (0)

/* Compares n floats with |a-b| <= atol + rtol*|b|; prints the worst index. Returns 1 if close. */
int tc_close(const char *what, const float *got, const float *want, size_t n, float atol,
             float rtol);

/* Deterministic random numbers: one clg_rng_* (clgraph/util.h) stream for the test. */
void tc_seed(uint64_t seed);
float tc_randf(float lo, float hi);
uint32_t tc_randu(void);
void tc_fill(float *x, size_t n, float lo, float hi);

/* Options naming $CLGRAPH_DEVICE and $CLGRAPH_CACHE_DIR (the test's environment: the
 * libraries read none); borrowed strings of the environment. */
clg_context_options tc_context_options(void);
llm_model_options tc_model_options(void);

/* Context of tc_context_options() with profiling on and the model library's kernel files
 * registered; exits the test on failure. */
clg_context *tc_context(void);

/* The warnings a context or model reported: tc_count_warning (a warn callback whose user
 * pointer is the tc_warnings) counts them and keeps the last one (and prints it). */
typedef struct tc_warnings {
    int count;
    char last[2048];
} tc_warnings;
void tc_count_warning(void *user, const char *message);
/* Context of tc_context_options() with cache_dir as its cache folder and its warnings
 * collected in w; no kernel files registered; exits the test on failure. */
clg_context *tc_warn_context(const char *cache_dir, tc_warnings *w);

/* A buffer named what.N with a fresh N (names are unique per context); NULL on failure
 * (counted). */
clg_buffer *tc_buffer(clg_context *ctx, const char *what, size_t bytes, clg_transfer policy,
                      void *host);

/* Sets t's range. A work-group above the kernel's limit on this device (llvmpipe allows
 * 32 items for kernels with barriers) is a skip, reported and returned as 0, not a
 * failure; any other error fails. Returns 1 when set. */
int tc_set_range(clg_task *t, unsigned dims, const size_t *global, const size_t *local);

/* Prints "N passed, N failed" and returns the process exit code: 1 when a check failed
 * or when no check ran at all. */
int tc_finish(const char *name);

/* Path of test data file `rel` under $CLGRAPH_TEST_DATA (static buffer). */
const char *tc_data(const char *rel);
/* OpenCL C of two small kernels for the runtime tests: axpb(a, b, c, float s): c = s a + b,
 * and sq(x, y): y = x^2 + 1, one element per work-item. */
extern const char *const tc_axpb_sq_src;
#endif
