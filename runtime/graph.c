/* Graphs of tasks, plans, the order check of their declared access (a read-after-write
 * that points backwards is refused), and the step: uploads by policy, kernels in order
 * (or replayed, replay.c), read-backs, profiling events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* ---- graphs and tasks -------------------------------------------------- */

clg_status clg_graph_create(clg_context *ctx, const char *name, clg_graph **out) {
    *out = NULL;
    clg_graph *g = calloc(1, sizeof *g);
    if (!g || !(g->name = clg_strdup(name ? name : ""))) {
        free(g);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "graph '%s'", name);
    }
    g->ctx = ctx;
    g->next = ctx->graphs;
    ctx->graphs = g;
    *out = g;
    return CLG_OK;
}

static void task_free(clg_task *t) {
    if (t->kernel) clReleaseKernel(t->kernel);
    free(t->args);
    free(t->name);
    free(t);
}

void clg_graph_destroy(clg_graph *g) {
    if (!g) return;
    clg_context *ctx = g->ctx;
    clFinish(ctx->queue);
    for (clg_graph **pp = &ctx->graphs; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    clg_replay_invalidate(g);
    for (clg_plan *p = ctx->plans; p; p = p->next) /* plans borrow graphs: drop it there */
        for (size_t i = 0; i < p->n;)
            if (p->graphs[i] == g) {
                memmove(&p->graphs[i], &p->graphs[i + 1], (--p->n - i) * sizeof *p->graphs);
                p->checked = 0;
            } else {
                i++;
            }
    for (size_t i = 0; i < g->n; i++)
        task_free(g->tasks[i]);
    free(g->tasks);
    free(g->name);
    free(g);
}

const char *clg_graph_name(const clg_graph *g) {
    return g->name;
}
size_t clg_graph_task_count(const clg_graph *g) {
    return g->n;
}
clg_task *clg_graph_task(const clg_graph *g, size_t i) {
    return i < g->n ? g->tasks[i] : NULL;
}
const char *clg_task_name(const clg_task *t) {
    return t->name;
}
void clg_task_get_stats(const clg_task *t, clg_task_stats *out) {
    *out = t->stats;
}

uint64_t clg_task_bytes_read(const clg_task *t) {
    uint64_t sum = 0;
    for (unsigned a = 0; a < t->nargs; a++) {
        const clg_arg *x = &t->args[a];
        if (x->kind != 1 || !(x->access & CLG_READ)) continue;
        int seen = 0; /* a buffer passed twice counts once */
        for (unsigned k = 0; k < a && !seen; k++)
            seen =
                t->args[k].kind == 1 && t->args[k].buf == x->buf && (t->args[k].access & CLG_READ);
        if (!seen) sum += x->buf->bytes;
    }
    return sum;
}

/* Gives t (with its kernel or call set) nargs argument slots and appends it to g; frees
 * t on failure. */
static clg_status task_append(clg_graph *g, clg_task *t, unsigned nargs, clg_task **out) {
    t->nargs = nargs;
    t->args = calloc(nargs ? nargs : 1, sizeof *t->args);
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        clg_task **nt = realloc(g->tasks, cap * sizeof *nt);
        if (nt) {
            g->tasks = nt;
            g->cap = cap;
        }
    }
    if (!t->args || g->n == g->cap) {
        clg_status st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "task '%s'", t->name);
        task_free(t);
        return st;
    }
    t->graph = g;
    t->stats.min_ns = UINT64_MAX;
    g->tasks[g->n++] = t;
    g->version++;
    clg_replay_invalidate(g);
    *out = t;
    return CLG_OK;
}

clg_status clg_graph_add_task(clg_graph *g, const char *name, clg_program *prog, const char *kernel,
                              clg_task **out) {
    *out = NULL;
    clg_task *t = calloc(1, sizeof *t);
    if (!t || !(t->name = clg_strdup(name ? name : kernel))) {
        free(t);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "task '%s'", name);
    }
    cl_int err;
    t->kernel = clCreateKernel(prog->prog, kernel, &err);
    if (err != CL_SUCCESS) {
        task_free(t);
        return CLG_CL_FAIL(err, "clCreateKernel",
                           "kernel '%s' (program %s) for task '%s' of graph '%s'", kernel,
                           prog->key, name, g->name);
    }
    t->prog = prog;
    cl_uint nargs = 0;
    clGetKernelInfo(t->kernel, CL_KERNEL_NUM_ARGS, sizeof nargs, &nargs, NULL);
    return task_append(g, t, nargs, out);
}

clg_status clg_graph_add_call(clg_graph *g, const char *name, clg_call_fn fn, void *user,
                              clg_task **out) {
    *out = NULL;
    if (!fn || !name || !*name)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "a call task of graph '%s' needs a name and a function", g->name);
    clg_task *t = calloc(1, sizeof *t);
    if (!t || !(t->name = clg_strdup(name))) {
        free(t);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "task '%s'", name);
    }
    t->call = fn;
    t->call_user = user;
    return task_append(g, t, CLG_CALL_MAX_ARGS, out);
}

int clg_task_is_call(const clg_task *t) {
    return t->call != NULL;
}
int clg_task_enabled(const clg_task *t) {
    return !t->disabled;
}

void clg_task_set_enabled(clg_task *t, int on) {
    if (t->disabled == !on) return;
    t->disabled = !on;
    t->graph->version++;
    clg_replay_invalidate(t->graph);
}

/* CLG_ERR_INVALID_ARG for a call task asked for what only kernels have. */
static clg_status kernel_only(const clg_task *t, const char *what) {
    if (!t->call) return CLG_OK;
    return clg_fail(CLG_ERR_INVALID_ARG,
                    "task '%s' of graph '%s' is a call task: %s do not apply (its callback keeps "
                    "its parameters; only buffers are declared)",
                    t->name, t->graph->name, what);
}

static clg_status arg_index(clg_task *t, unsigned index) {
    if (index >= t->nargs)
        return clg_fail(CLG_ERR_INVALID_ARG, "task '%s' of graph '%s': argument %u, kernel has %u",
                        t->name, t->graph->name, index, t->nargs);
    return CLG_OK;
}

clg_status clg_task_arg_buffer(clg_task *t, unsigned index, clg_buffer *buf, clg_access access) {
    clg_status st = arg_index(t, index);
    if (st != CLG_OK) return st;
    if (!buf || access < CLG_READ || access > CLG_READ_WRITE)
        return clg_fail(CLG_ERR_INVALID_ARG, "task '%s': argument %u needs a buffer and an access",
                        t->name, index);
    cl_int err = t->call ? CL_SUCCESS : clSetKernelArg(t->kernel, index, sizeof(cl_mem), &buf->mem);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clSetKernelArg", "task '%s' argument %u = buffer '%s'", t->name,
                           index, buf->name);
    t->args[index] = (clg_arg){.kind = 1, .buf = buf, .access = access};
    t->graph->version++;
    clg_replay_invalidate(t->graph);
    return CLG_OK;
}

clg_status clg_task_arg_scalar(clg_task *t, unsigned index, const void *value, size_t size) {
    clg_status st = kernel_only(t, "scalar arguments");
    if (st == CLG_OK) st = arg_index(t, index);
    if (st != CLG_OK) return st;
    if (size > CLG_MAX_SCALAR)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "task '%s' argument %u: scalars of %zu bytes (at most %d)", t->name, index,
                        size, CLG_MAX_SCALAR);
    cl_int err = clSetKernelArg(t->kernel, index, size, value);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clSetKernelArg", "task '%s' argument %u (scalar of %zu bytes)",
                           t->name, index, size);
    t->args[index] = (clg_arg){.kind = 2, .size = size};
    memcpy(t->args[index].value, value, size);
    clg_replay_invalidate(t->graph);
    return CLG_OK;
}

clg_status clg_task_arg_int(clg_task *t, unsigned index, int32_t value) {
    return clg_task_arg_scalar(t, index, &value, sizeof value);
}

clg_status clg_task_arg_float(clg_task *t, unsigned index, float value) {
    return clg_task_arg_scalar(t, index, &value, sizeof value);
}

clg_status clg_task_arg_local(clg_task *t, unsigned index, size_t bytes) {
    clg_status st = kernel_only(t, "local-memory arguments");
    if (st == CLG_OK) st = arg_index(t, index);
    if (st != CLG_OK) return st;
    if (bytes > t->graph->ctx->info.local_mem_size)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "task '%s': %zu bytes of local memory, device has %llu", t->name, bytes,
                        (unsigned long long)t->graph->ctx->info.local_mem_size);
    cl_int err = clSetKernelArg(t->kernel, index, bytes, NULL);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clSetKernelArg", "task '%s' argument %u (local, %zu bytes)",
                           t->name, index, bytes);
    t->args[index] = (clg_arg){.kind = 3, .size = bytes};
    clg_replay_invalidate(t->graph);
    return CLG_OK;
}

clg_status clg_task_set_range(clg_task *t, unsigned dims, const size_t *global,
                              const size_t *local) {
    const clg_device_info *d = &t->graph->ctx->info;
    if (t->call) return kernel_only(t, "ranges");
    if (dims < 1 || dims > 3)
        return clg_fail(CLG_ERR_INVALID_ARG, "task '%s': %u dimensions (1 to 3)", t->name, dims);
    size_t prod = 1;
    for (unsigned i = 0; i < dims; i++) {
        if (global[i] == 0)
            return clg_fail(CLG_ERR_INVALID_ARG, "task '%s': global size %u is 0", t->name, i);
        if (local) {
            if (local[i] == 0 || global[i] % local[i])
                return clg_fail(CLG_ERR_INVALID_ARG,
                                "task '%s': global size %zu is not a multiple of local size %zu "
                                "(dimension %u; OpenCL 1.2 requires it)",
                                t->name, global[i], local[i], i);
            prod *= local[i];
        }
    }
    if (local) {
        size_t kmax = d->max_work_group_size;
        clGetKernelWorkGroupInfo(t->kernel, t->graph->ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof kmax, &kmax, NULL);
        if (prod > kmax)
            return clg_fail(CLG_ERR_INVALID_ARG,
                            "task '%s': work-group of %zu items exceeds this kernel's limit of %zu "
                            "on %s",
                            t->name, prod, kmax, d->device_name);
    }
    t->dims = dims;
    t->has_local = local != NULL;
    for (unsigned i = 0; i < 3; i++) {
        t->global[i] = i < dims ? global[i] : 1;
        t->local[i] = i < dims && local ? local[i] : 1;
    }
    clg_replay_invalidate(t->graph);
    return CLG_OK;
}

clg_status clg_task_set_kernel(clg_task *t, clg_program *prog, const char *kernel) {
    if (t->call) return kernel_only(t, "kernels");
    cl_int err;
    cl_kernel k = clCreateKernel(prog->prog, kernel, &err);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clCreateKernel", "kernel '%s' (program %s) for task '%s'", kernel,
                           prog->key, t->name);
    cl_uint nargs = 0;
    clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof nargs, &nargs, NULL);
    if (nargs != t->nargs) {
        clReleaseKernel(k);
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "task '%s': kernel '%s' takes %u arguments, the task has %u", t->name,
                        kernel, nargs, t->nargs);
    }
    for (unsigned i = 0; i < t->nargs && err == CL_SUCCESS; i++) {
        const clg_arg *a = &t->args[i];
        if (a->kind == 1)
            err = clSetKernelArg(k, i, sizeof(cl_mem), &a->buf->mem);
        else if (a->kind == 2)
            err = clSetKernelArg(k, i, a->size, a->value);
        else if (a->kind == 3)
            err = clSetKernelArg(k, i, a->size, NULL);
    }
    if (err != CL_SUCCESS) {
        clReleaseKernel(k);
        return CLG_CL_FAIL(err, "clSetKernelArg", "moving task '%s' to kernel '%s'", t->name,
                           kernel);
    }
    clg_replay_invalidate(t->graph); /* a recording retains the old kernel until dropped */
    clReleaseKernel(t->kernel);
    t->kernel = k;
    t->prog = prog;
    return CLG_OK;
}

const char *clg_task_kernel_name(const clg_task *t) {
    static _Thread_local char name[128];
    name[0] = 0;
    if (t->kernel) clGetKernelInfo(t->kernel, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL);
    return name;
}

clg_program *clg_task_program(const clg_task *t) {
    return t->prog;
}

unsigned clg_task_range(const clg_task *t, size_t global[3], size_t local[3]) {
    for (int i = 0; i < 3; i++) {
        global[i] = t->global[i];
        local[i] = t->has_local ? t->local[i] : 0;
    }
    return t->dims;
}

size_t clg_task_local_mem(const clg_task *t) {
    cl_ulong n = 0;
    if (!t->kernel) return 0;
    clGetKernelWorkGroupInfo(t->kernel, t->graph->ctx->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof n,
                             &n, NULL);
    return (size_t)n;
}

size_t clg_task_max_local(const clg_task *t) {
    size_t n = t->graph->ctx->info.max_work_group_size;
    if (!t->kernel) return 0;
    clGetKernelWorkGroupInfo(t->kernel, t->graph->ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof n,
                             &n, NULL);
    return n;
}

/* ---- order check -------------------------------------------------------
 * A step runs the tasks in order on an in-order queue, so the declared access decides
 * nothing about scheduling; it lets the runtime refuse an order that cannot be meant: a
 * task reading a device-only buffer that nothing has written yet (no earlier task of the
 * step, no earlier step, no clg_buffer_write / _zero) while a later task of the same plan
 * writes it, i.e. a read-after-write dependency pointing backwards. One walk over the
 * enabled tasks' arguments, O(arguments), made again only when a graph's tasks, buffer
 * arguments or enabled flags, or the plan's graph list, changed. */

/* b's walk state, reset when it is from an earlier walk. */
static clg_buffer *walk_buffer(clg_buffer *b, uint64_t walk) {
    if (b->walk != walk) {
        b->walk = walk;
        b->walk_written = 0;
        b->walk_reader = NULL;
    }
    return b;
}

/* Walks the enabled tasks in step order, marking what they write; a read of a buffer with
 * no data yet is remembered until a later task writes it (refused) or the walk ends. */
static clg_status check_order(clg_context *ctx, clg_graph *const *graphs, size_t n) {
    uint64_t walk = ++ctx->walks;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < graphs[i]->n; j++) {
            clg_task *t = graphs[i]->tasks[j];
            if (t->disabled) continue;
            for (unsigned a = 0; a < t->nargs; a++) { /* reads first: a task reads its inputs */
                if (t->args[a].kind != 1 || !(t->args[a].access & CLG_READ)) continue;
                clg_buffer *b = walk_buffer(t->args[a].buf, walk);
                if (b->policy == CLG_TRANSFER_DEVICE_ONLY && !b->has_data && !b->walk_written &&
                    !b->walk_reader)
                    b->walk_reader = t;
            }
            for (unsigned a = 0; a < t->nargs; a++) {
                if (t->args[a].kind != 1 || !(t->args[a].access & CLG_WRITE)) continue;
                clg_buffer *b = walk_buffer(t->args[a].buf, walk);
                clg_task *r = b->walk_reader;
                if (r && r != t && !b->walk_written)
                    return clg_fail(
                        CLG_ERR_INVALID_ARG,
                        "task '%s' of graph '%s' reads device-only buffer '%s' before "
                        "task '%s' of graph '%s' writes it, later in the same step, and "
                        "nothing wrote it before (an earlier step, clg_buffer_write or "
                        "clg_buffer_zero): the graphs or tasks are out of order",
                        r->name, r->graph->name, b->name, t->name, t->graph->name);
                b->walk_written = 1;
            }
        }
    return CLG_OK;
}

/* Checks graphs[0..n) unless nothing changed since they passed: as plan p's graph list
 * (whole, whichever range runs) or as a lone graph (p NULL). */
static clg_status check_order_once(clg_context *ctx, clg_plan *p, clg_graph *const *graphs,
                                   size_t n) {
    if (!p) {
        clg_graph *g = graphs[0];
        if (g->checked == g->version + 1) return CLG_OK;
        clg_status st = check_order(ctx, &g, 1);
        if (st == CLG_OK) g->checked = g->version + 1;
        return st;
    }
    uint64_t sum = 0; /* versions only grow while the list is unchanged: a sum tells */
    for (size_t i = 0; i < p->n; i++)
        sum += p->graphs[i]->version;
    if (p->checked && p->checked_sum == sum) return CLG_OK;
    clg_status st = check_order(ctx, p->graphs, p->n);
    p->checked = st == CLG_OK;
    p->checked_sum = sum;
    return st;
}

/* ---- steps ------------------------------------------------------------- */

clg_status clg_step_track(clg_context *ctx, cl_event ev, int kind, clg_task *t, clg_buffer *b,
                          uint64_t bytes) {
    if (ctx->npending == ctx->cappending) {
        size_t cap = ctx->cappending ? 2 * ctx->cappending : 256;
        clg_pending *np = realloc(ctx->pending, cap * sizeof *np);
        if (!np) {
            clReleaseEvent(ev);
            return clg_fail(CLG_ERR_OUT_OF_MEMORY, "profiling events");
        }
        ctx->pending = np;
        ctx->cappending = cap;
    }
    ctx->pending[ctx->npending++] = (clg_pending){ev, NULL, kind, t, b, bytes};
    return CLG_OK;
}

/* Waits for the queue, then turns the step's events into statistics and trace events. */
clg_status clg_step_finish(clg_context *ctx) {
    cl_int err = clFinish(ctx->queue);
    clg_status st = CLG_OK;
    if (err != CL_SUCCESS)
        st = CLG_CL_FAIL(err, "clFinish", "end of step %llu", (unsigned long long)ctx->step);
    for (size_t i = 0; i < ctx->npending; i++) {
        clg_pending *p = &ctx->pending[i];
        cl_ulong s = 0, e = 0;
        if (st == CLG_OK &&
            (p->ev0 ? clGetEventProfilingInfo(p->ev0, CL_PROFILING_COMMAND_END, sizeof s, &s, NULL)
                    : clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_START, sizeof s, &s,
                                              NULL)) == CL_SUCCESS &&
            clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_END, sizeof e, &e, NULL) ==
                CL_SUCCESS) {
            uint64_t ns = e > s ? e - s : 0;
            if (p->kind == 0) {
                p->task->stats.total_ns += ns;
                p->task->stats.last_ns = ns;
                if (ns < p->task->stats.min_ns) p->task->stats.min_ns = ns;
            } else if (p->kind == 1) {
                p->buf->stats.upload_ns += ns;
            } else {
                p->buf->stats.download_ns += ns;
            }
            if (ctx->trace) {
                clg_trace_event te = {p->task ? p->task->graph->name : "",
                                      p->task ? p->task->name : p->buf->name,
                                      p->kind,
                                      p->bytes,
                                      s,
                                      e,
                                      ctx->step};
                ctx->trace(ctx->trace_user, &te);
            }
        }
        clReleaseEvent(p->ev);
        if (p->ev0) clReleaseEvent(p->ev0);
    }
    ctx->npending = 0;
    return st;
}

static cl_event *ev_slot(clg_context *ctx, cl_event *ev) {
    return ctx->profiling ? ev : NULL;
}

/* Uploads what task t reads according to each buffer's policy. */
static clg_status upload_inputs(clg_context *ctx, clg_task *t) {
    for (unsigned a = 0; a < t->nargs; a++) {
        clg_arg *x = &t->args[a];
        if (x->kind != 1) continue;
        clg_buffer *b = x->buf;
        size_t bytes = 0;
        if (b->policy == CLG_TRANSFER_FIRST_EXECUTION && !b->uploaded) {
            bytes = b->bytes;
            b->uploaded = 1;
        } else if (b->policy == CLG_TRANSFER_EVERY_EXECUTION && (x->access & CLG_READ) &&
                   b->step_uploaded != ctx->step) {
            bytes = b->transfer_bytes;
            b->step_uploaded = ctx->step;
        } else if (b->policy == CLG_TRANSFER_DEVICE_ONLY && (x->access & CLG_READ) &&
                   !b->has_data && b->step_written != ctx->step) {
            return clg_fail(
                CLG_ERR_INVALID_ARG,
                "task '%s' of graph '%s' reads device-only buffer '%s', which no earlier "
                "task or graph has written",
                t->name, t->graph->name, b->name);
        }
        if (!bytes) continue;
        cl_event ev = NULL;
        cl_int err = clEnqueueWriteBuffer(ctx->queue, b->mem, CL_FALSE, 0, bytes, b->host, 0, NULL,
                                          ev_slot(ctx, &ev));
        if (err != CL_SUCCESS)
            return CLG_CL_FAIL(err, "clEnqueueWriteBuffer",
                               "uploading '%s' (%zu bytes) for task '%s'", b->name, bytes, t->name);
        b->has_data = 1;
        b->stats.uploads++;
        b->stats.upload_bytes += bytes;
        if (ev) {
            clg_status st = clg_step_track(ctx, ev, 1, NULL, b, bytes);
            if (st != CLG_OK) return st;
        }
    }
    return CLG_OK;
}

clg_status clg_task_check(const clg_task *t) {
    if (t->call) return CLG_OK; /* buffers are optional, in any slots */
    if (!t->dims)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "task '%s' of graph '%s' has no range (clg_task_set_range)", t->name,
                        t->graph->name);
    for (unsigned a = 0; a < t->nargs; a++)
        if (!t->args[a].kind)
            return clg_fail(CLG_ERR_INVALID_ARG, "task '%s' of graph '%s': argument %u is not set",
                            t->name, t->graph->name, a);
    return CLG_OK;
}

/* Marks what t writes as written in this step. */
static void task_done(clg_context *ctx, clg_task *t) {
    t->stats.executions++;
    for (unsigned a = 0; a < t->nargs; a++)
        if (t->args[a].kind == 1 && (t->args[a].access & CLG_WRITE)) {
            t->args[a].buf->step_written = ctx->step;
            t->args[a].buf->has_data = 1;
        }
}

/* Runs call task t's callback between profiling markers (see clg_graph_add_call). */
static clg_status run_call(clg_context *ctx, clg_task *t) {
    cl_event before = NULL, done = NULL;
    cl_int err =
        ctx->profiling ? clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &before) : CL_SUCCESS;
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clEnqueueMarkerWithWaitList",
                           "before call task '%s' of graph '%s'", t->name, t->graph->name);
    clg_status st = t->call(t->call_user, ctx->queue, &done);
    if (st != CLG_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", clg_last_error());
        if (before) clReleaseEvent(before);
        if (done) clReleaseEvent(done);
        return clg_fail(st, "call task '%s' of graph '%s': %s", t->name, t->graph->name, why);
    }
    task_done(ctx, t);
    if (!ctx->profiling) {
        if (done) clReleaseEvent(done);
        return CLG_OK;
    }
    if (!done && (err = clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &done)) != CL_SUCCESS) {
        clReleaseEvent(before);
        return CLG_CL_FAIL(err, "clEnqueueMarkerWithWaitList", "after call task '%s' of graph '%s'",
                           t->name, t->graph->name);
    }
    st = clg_step_track(ctx, done, 0, t, NULL, 0);
    if (st != CLG_OK) {
        clReleaseEvent(before);
        return st;
    }
    ctx->pending[ctx->npending - 1].ev0 = before;
    return CLG_OK;
}

/* Uploads what t reads and enqueues it; replayed: only the uploads (the kernel is in
 * the recording, enqueued after every task's uploads). */
static clg_status run_task(clg_context *ctx, clg_task *t, int replayed) {
    clg_status st = clg_task_check(t);
    if (st == CLG_OK) st = upload_inputs(ctx, t);
    if (st != CLG_OK) return st;
    if (replayed) {
        task_done(ctx, t);
        return CLG_OK;
    }
    if (t->call) return run_call(ctx, t);
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, t->kernel, t->dims, NULL, t->global,
                                        t->has_local ? t->local : NULL, 0, NULL, ev_slot(ctx, &ev));
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clEnqueueNDRangeKernel",
                           "task '%s' of graph '%s' (global %zux%zux%zu, local %s%zux%zux%zu)",
                           t->name, t->graph->name, t->global[0], t->global[1], t->global[2],
                           t->has_local ? "" : "auto ", t->local[0], t->local[1], t->local[2]);
    task_done(ctx, t);
    return ev ? clg_step_track(ctx, ev, 0, t, NULL, 0) : CLG_OK;
}

/* Runs graphs[0..n) as one step; p: the plan they belong to (NULL for a lone graph),
 * whose recording replaces the kernels' enqueues when its replay is on. */
static clg_status run_step(clg_context *ctx, clg_plan *p, clg_graph *const *graphs, size_t n) {
    clg_status st = check_order_once(ctx, p, graphs, n);
    if (st != CLG_OK) return st; /* nothing enqueued */
    ctx->step++;
    int replay = 0;
    if (p) st = clg_replay_prepare(p, (size_t)(graphs - p->graphs), n, &replay);
    for (size_t i = 0; i < n && st == CLG_OK; i++)
        for (size_t j = 0; j < graphs[i]->n && st == CLG_OK; j++)
            if (!graphs[i]->tasks[j]->disabled) st = run_task(ctx, graphs[i]->tasks[j], replay);
    if (replay && st == CLG_OK) st = clg_replay_enqueue(p);
    for (clg_buffer *b = ctx->buffers; b && st == CLG_OK; b = b->next) {
        if (b->policy != CLG_TRANSFER_EVERY_EXECUTION || b->step_written != ctx->step) continue;
        cl_event ev = NULL;
        cl_int err = clEnqueueReadBuffer(ctx->queue, b->mem, CL_FALSE, 0, b->transfer_bytes,
                                         b->host, 0, NULL, ev_slot(ctx, &ev));
        if (err != CL_SUCCESS) {
            st = CLG_CL_FAIL(err, "clEnqueueReadBuffer", "reading back '%s' (%zu bytes)", b->name,
                             b->transfer_bytes);
            break;
        }
        b->stats.downloads++;
        b->stats.download_bytes += b->transfer_bytes;
        if (ev) st = clg_step_track(ctx, ev, 2, NULL, b, b->transfer_bytes);
    }
    clg_status fst = clg_step_finish(ctx); /* always drain, even after an error */
    return st != CLG_OK ? st : fst;
}

clg_status clg_graph_execute(clg_graph *g) {
    return run_step(g->ctx, NULL, &g, 1);
}

clg_status clg_tasks_run(clg_task *const *tasks, size_t n) {
    clg_context *ctx = tasks[0]->graph->ctx;
    ctx->step++;
    clg_status st = CLG_OK;
    for (size_t i = 0; i < n && st == CLG_OK; i++)
        st = run_task(ctx, tasks[i], 0);
    clg_status fst = clg_step_finish(ctx);
    return st != CLG_OK ? st : fst;
}

/* ---- plans ------------------------------------------------------------- */

clg_status clg_plan_create(clg_context *ctx, clg_plan **out) {
    clg_plan *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "plan");
    p->ctx = ctx;
    p->next = ctx->plans;
    ctx->plans = p;
    *out = p;
    return CLG_OK;
}

void clg_plan_destroy(clg_plan *p) {
    if (!p) return;
    for (clg_plan **pp = &p->ctx->plans; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    clg_plan_set_replay(p, 0);
    free(p->graphs);
    free(p);
}

clg_status clg_plan_add_graph(clg_plan *p, clg_graph *g) {
    if (g->ctx != p->ctx)
        return clg_fail(CLG_ERR_INVALID_ARG, "graph '%s' belongs to another context", g->name);
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        clg_graph **ng = realloc(p->graphs, cap * sizeof *ng);
        if (!ng) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "plan");
        p->graphs = ng;
        p->cap = cap;
    }
    p->graphs[p->n++] = g;
    p->checked = 0;
    clg_replay_drop(p);
    return CLG_OK;
}

clg_status clg_plan_execute(clg_plan *p) {
    return run_step(p->ctx, p, p->graphs, p->n);
}

clg_status clg_plan_execute_range(clg_plan *p, size_t first, size_t last) {
    if (first > last || last > p->n)
        return clg_fail(CLG_ERR_INVALID_ARG, "plan range [%zu, %zu) outside its %zu graphs", first,
                        last, p->n);
    return run_step(p->ctx, p, p->graphs + first, last - first);
}

size_t clg_plan_graph_count(const clg_plan *p) {
    return p->n;
}
clg_graph *clg_plan_graph(const clg_plan *p, size_t i) {
    return i < p->n ? p->graphs[i] : NULL;
}
clg_context *clg_plan_context(const clg_plan *p) {
    return p->ctx;
}
