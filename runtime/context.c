/* Context: one device, one in-order queue, and everything created on it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/internal.h"

clg_context_options clg_context_options_default(void) {
    clg_context_options o;
    memset(&o, 0, sizeof o);
    o.build = CLG_BUILD_AUTO;
    return o;
}

/* path: at most CLG_CACHE_DIR_MAX bytes (checked by clg_context_create). */
static int mkdir_p(const char *path) {
    char tmp[CLG_CACHE_DIR_MAX + 1];
    if (strlen(path) >= sizeof tmp) return 0;
    memcpy(tmp, path, strlen(path) + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(tmp, 0755);
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

/* The cache folder, created if missing; NULL (no cache) when none is asked for or it cannot
 * be made: the cache is an optimisation, the context works without it. */
static char *cache_dir_for(const char *opt) {
    if (!opt || !*opt || !mkdir_p(opt)) return NULL;
    return clg_strdup(opt);
}

clg_status clg_context_create(const clg_context_options *opt, clg_context **out) {
    clg_context_options def = clg_context_options_default();
    if (!opt) opt = &def;
    *out = NULL;
    if (opt->build != CLG_BUILD_AUTO && opt->build != CLG_BUILD_SOURCE &&
        opt->build != CLG_BUILD_SPIRV)
        return clg_fail(
            CLG_ERR_INVALID_ARG,
            "build mode %d: expected CLG_BUILD_AUTO, CLG_BUILD_SOURCE or CLG_BUILD_SPIRV",
            (int)opt->build);
    if (opt->cache_dir && strlen(opt->cache_dir) > CLG_CACHE_DIR_MAX)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "cache folder name of %zu bytes: at most CLG_CACHE_DIR_MAX (%d) bytes",
                        strlen(opt->cache_dir), CLG_CACHE_DIR_MAX);
    clg_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "allocating a context");
    clg_status st = clg_device_select_id(opt->device, &ctx->info, &ctx->platform, &ctx->device);
    if (st != CLG_OK) goto fail;

    ctx->build = opt->build;
    ctx->profiling = opt->profiling;
    ctx->warn = opt->warn;
    ctx->warn_user = opt->warn_user;

    cl_int err;
    ctx->cl = clCreateContext(NULL, 1, &ctx->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = CLG_CL_FAIL(err, "clCreateContext", "device %s", ctx->info.device_name);
        goto fail;
    }
    cl_command_queue_properties props = opt->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    ctx->queue = clCreateCommandQueue(ctx->cl, ctx->device, props, &err);
    if (err != CL_SUCCESS) {
        st = CLG_CL_FAIL(err, "clCreateCommandQueue", "device %s", ctx->info.device_name);
        goto fail;
    }
    /* The probe kernel tells whether the event timestamps are real, which only profiling
     * needs; its build from source costs a start on warm caches the time PoCL takes to
     * preprocess it (about 0.07 s of 0.45 s on a 2-vCPU EPYC), so that other contexts skip it
     * and keep preferred_multiple 0 (unknown). */
    ctx->info.profiling_timer = -1;
    if (opt->profiling) clg_device_probe_kernel(ctx->cl, ctx->device, ctx->queue, &ctx->info);
    ctx->cache_dir = cache_dir_for(opt->cache_dir);
    ctx->tables[ctx->n_tables++] = clg_runtime_kernel_files();
    if (opt->kernel_dir && *opt->kernel_dir && !(ctx->kernel_dir = clg_strdup(opt->kernel_dir))) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "allocating a context");
        goto fail;
    }
    *out = ctx;
    return CLG_OK;
fail:
    clg_context_destroy(ctx);
    return st;
}

void clg_context_destroy(clg_context *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    while (ctx->plans)
        clg_plan_destroy(ctx->plans);
    while (ctx->graphs)
        clg_graph_destroy(ctx->graphs);
    clg_buffer_unlink_all(ctx);
    clg_context_store_programs(ctx);
    clg_program_release_all(ctx);
    for (size_t i = 0; i < ctx->npending; i++)
        clReleaseEvent(ctx->pending[i].ev);
    free(ctx->pending);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl) clReleaseContext(ctx->cl);
    free(ctx->cache_dir);
    free(ctx->kernel_dir);
    free(ctx);
}

const clg_device_info *clg_context_device(const clg_context *ctx) {
    return &ctx->info;
}
const char *clg_context_cache_dir(const clg_context *ctx) {
    return ctx->cache_dir;
}

clg_status clg_context_finish(clg_context *ctx) {
    cl_int err = clFinish(ctx->queue);
    if (err != CL_SUCCESS) return CLG_CL_FAIL(err, "clFinish", "waiting for the queue");
    return CLG_OK;
}

void clg_context_set_trace(clg_context *ctx, clg_trace_fn fn, void *user) {
    ctx->trace = fn;
    ctx->trace_user = user;
}

void clg_profile_reset(clg_context *ctx) {
    for (clg_buffer *b = ctx->buffers; b; b = b->next)
        memset(&b->stats, 0, sizeof b->stats);
    for (clg_graph *g = ctx->graphs; g; g = g->next)
        for (size_t i = 0; i < g->n; i++) {
            memset(&g->tasks[i]->stats, 0, sizeof g->tasks[i]->stats);
            g->tasks[i]->stats.min_ns = UINT64_MAX;
        }
}
