/* Recorded replay of a plan (cl_khr_command_buffer): the kernels of the executed
 * graphs are recorded once into a command buffer and replayed each step; uploads and
 * read-backs stay ordinary queue commands around it (graph.c's run_step). */
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

#include "runtime/internal.h"

#ifdef cl_khr_command_buffer

/* One plan's replay state: the extension's entry points and the recording of the
 * range last executed. */
struct clg_replay {
    clCreateCommandBufferKHR_fn create;
    clCommandNDRangeKernelKHR_fn ndrange;
    clFinalizeCommandBufferKHR_fn finalize;
    clEnqueueCommandBufferKHR_fn enqueue;
    clReleaseCommandBufferKHR_fn release;
    cl_command_buffer_khr cb; /* NULL: nothing recorded */
    size_t first, n;          /* the recorded graphs: plan->graphs[first .. first + n) */
    int plain;                /* the range runs plain: an upload cannot move ahead of its kernels */
};

static void drop(clg_replay *r) {
    if (r && r->cb) r->release(r->cb); /* the command buffer retains its kernels and buffers */
    if (r) r->cb = NULL, r->plain = 0;
}

clg_status clg_plan_set_replay(clg_plan *p, int on) {
    clg_context *ctx = p->ctx;
    if (!on) {
        if (p->replay) {
            drop(p->replay);
            free(p->replay);
            p->replay = NULL;
        }
        return CLG_OK;
    }
    if (p->replay) return CLG_OK;
    const clg_device_info *d = &ctx->info;
    if (!d->has_command_buffer)
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "plan replay needs cl_khr_command_buffer, which %s (%s) does not offer; "
                        "steps run with plain enqueues",
                        d->device_name, d->platform_name);
    cl_command_queue_properties need = 0, have = 0;
    clGetDeviceInfo(ctx->device, CL_DEVICE_COMMAND_BUFFER_REQUIRED_QUEUE_PROPERTIES_KHR,
                    sizeof need, &need, NULL);
    clGetCommandQueueInfo(ctx->queue, CL_QUEUE_PROPERTIES, sizeof have, &have, NULL);
    if (need & ~have)
        return clg_fail(
            CLG_ERR_UNSUPPORTED,
            "plan replay: %s needs command-queue properties 0x%llx for command buffers, "
            "the context's queue has 0x%llx",
            d->device_name, (unsigned long long)need, (unsigned long long)have);
    clg_replay *r = calloc(1, sizeof *r);
    if (!r) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "plan replay");
#define ENTRY(f, name)                                                                             \
    (r->f = (name##_fn)clGetExtensionFunctionAddressForPlatform(ctx->platform, #name))
    if (!ENTRY(create, clCreateCommandBufferKHR) || !ENTRY(ndrange, clCommandNDRangeKernelKHR) ||
        !ENTRY(finalize, clFinalizeCommandBufferKHR) ||
        !ENTRY(enqueue, clEnqueueCommandBufferKHR) || !ENTRY(release, clReleaseCommandBufferKHR)) {
#undef ENTRY
        free(r);
        return clg_fail(
            CLG_ERR_UNSUPPORTED,
            "plan replay: %s advertises cl_khr_command_buffer but its platform '%s' does "
            "not return the extension's entry points",
            d->device_name, d->platform_name);
    }
    p->replay = r;
    return CLG_OK;
}

/* 1 when a task of graphs[0..n) writes a buffer that crosses the bus before a later task
 * reads it: in a plain step its upload lands between the two (and overwrites what was
 * written); in a replay every upload goes ahead of all kernels. */
static int upload_hazard(clg_graph *const *graphs, size_t n) {
    const clg_buffer **written = NULL;
    size_t nw = 0, cap = 0;
    int hazard = 0;
    for (size_t i = 0; i < n && !hazard; i++)
        for (size_t j = 0; j < graphs[i]->n && !hazard; j++) {
            const clg_task *t = graphs[i]->tasks[j];
            if (t->disabled) continue;
            for (unsigned a = 0; a < t->nargs && !hazard; a++) {
                const clg_arg *x = &t->args[a];
                if (x->kind == 1 && (x->access & CLG_READ) &&
                    x->buf->policy != CLG_TRANSFER_DEVICE_ONLY)
                    for (size_t k = 0; k < nw && !hazard; k++)
                        hazard = written[k] == x->buf;
            }
            for (unsigned a = 0; a < t->nargs && !hazard; a++) {
                const clg_arg *x = &t->args[a];
                if (x->kind != 1 || !(x->access & CLG_WRITE) ||
                    x->buf->policy == CLG_TRANSFER_DEVICE_ONLY)
                    continue;
                if (nw == cap) {
                    cap = cap ? 2 * cap : 16;
                    const clg_buffer **nb = realloc(written, cap * sizeof *nb);
                    if (!nb) { /* cannot tell: play safe */
                        hazard = 1;
                        break;
                    }
                    written = nb;
                }
                written[nw++] = x->buf;
            }
        }
    free(written);
    return hazard;
}

/* 1 when an enabled task of graphs[0..n) is a call task: what its host code enqueues
 * (a library's kernels, with its own arguments each time) cannot be recorded. */
static int has_call(clg_graph *const *graphs, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < graphs[i]->n; j++)
            if (graphs[i]->tasks[j]->call && !graphs[i]->tasks[j]->disabled) return 1;
    return 0;
}

/* Records the kernels of the plan's graphs [first, first + n) in order, each waiting
 * for the one before (the same order as the in-order queue gives plain enqueues);
 * disabled tasks are left out. */
static clg_status record(clg_plan *p, size_t first, size_t n) {
    clg_replay *r = p->replay;
    clg_context *ctx = p->ctx;
    clg_graph *const *graphs = p->graphs + first;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < graphs[i]->n; j++) {
            if (graphs[i]->tasks[j]->disabled) continue;
            clg_status st = clg_task_check(graphs[i]->tasks[j]);
            if (st != CLG_OK) return st;
        }
    r->first = first;
    r->n = n;
    if (upload_hazard(graphs, n) || has_call(graphs, n)) {
        r->plain = 1;
        return CLG_OK;
    }
    cl_int err;
    r->cb = r->create(1, &ctx->queue, NULL, &err);
    if (err != CL_SUCCESS) {
        r->cb = NULL;
        return CLG_CL_FAIL(err, "clCreateCommandBufferKHR", "recording a step of %zu graphs", n);
    }
    cl_sync_point_khr prev = 0, cur = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < graphs[i]->n; j++) {
            const clg_task *t = graphs[i]->tasks[j];
            if (t->disabled) continue;
            err = r->ndrange(r->cb, NULL, NULL, t->kernel, t->dims, NULL, t->global,
                             t->has_local ? t->local : NULL, count ? 1 : 0, count ? &prev : NULL,
                             &cur, NULL);
            if (err != CL_SUCCESS) {
                drop(r);
                return CLG_CL_FAIL(err, "clCommandNDRangeKernelKHR",
                                   "recording task '%s' of graph '%s'", t->name, t->graph->name);
            }
            prev = cur;
            count++;
        }
    err = r->finalize(r->cb);
    if (err != CL_SUCCESS) {
        drop(r);
        return CLG_CL_FAIL(err, "clFinalizeCommandBufferKHR", "a step of %zu kernels", count);
    }
    p->replay_stats.recordings++;
    return CLG_OK;
}

clg_status clg_replay_prepare(clg_plan *p, size_t first, size_t n, int *use) {
    *use = 0;
    clg_replay *r = p->replay;
    if (!r || p->ctx->trace) return CLG_OK; /* a trace wants per-task events: run plain */
    if ((r->cb || r->plain) && (r->first != first || r->n != n)) drop(r);
    if (!r->cb && !r->plain) {
        clg_status st = record(p, first, n);
        if (st != CLG_OK) return st;
    }
    *use = r->cb != NULL;
    return CLG_OK;
}

clg_status clg_replay_enqueue(clg_plan *p) {
    clg_replay *r = p->replay;
    cl_command_queue q = p->ctx->queue;
    cl_int err = r->enqueue(1, &q, r->cb, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clEnqueueCommandBufferKHR", "replaying a recorded step");
    p->replay_stats.replays++;
    return CLG_OK;
}

void clg_replay_drop(clg_plan *p) {
    drop(p->replay);
}

#else /* headers without cl_khr_command_buffer: replay is never available */

struct clg_replay {
    int unused;
};

clg_status clg_plan_set_replay(clg_plan *p, int on) {
    if (!on) return CLG_OK;
    return clg_fail(CLG_ERR_UNSUPPORTED,
                    "plan replay: clgraph was built with OpenCL headers that lack "
                    "cl_khr_command_buffer (device %s)",
                    p->ctx->info.device_name);
}

clg_status clg_replay_prepare(clg_plan *p, size_t first, size_t n, int *use) {
    (void)p, (void)first, (void)n;
    *use = 0;
    return CLG_OK;
}

clg_status clg_replay_enqueue(clg_plan *p) {
    (void)p;
    return clg_fail(CLG_ERR_UNSUPPORTED, "plan replay is not built in");
}

void clg_replay_drop(clg_plan *p) {
    (void)p;
}

#endif

/* ---- shared by both builds ------------------------------------------------------ */

int clg_plan_replay(const clg_plan *p) {
    return p->replay != NULL;
}

void clg_plan_get_replay_stats(const clg_plan *p, clg_replay_stats *out) {
    *out = p->replay_stats;
}

void clg_replay_invalidate(clg_graph *g) {
    for (clg_plan *p = g->ctx->plans; p; p = p->next) {
        if (!p->replay) continue;
        for (size_t i = 0; i < p->n; i++)
            if (p->graphs[i] == g) {
                clg_replay_drop(p); /* drops only what it recorded; cheap when nothing is */
                break;
            }
    }
}
