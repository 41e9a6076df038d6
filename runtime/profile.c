/* The profiler of clgraph/report.h: events are collected through the context's trace
 * callback, the tables come from the runtime's per-task and per-buffer statistics. */
#include <stdlib.h>
#include <string.h>

#include "clgraph/report.h"
#include "runtime/internal.h"

enum { KERNEL = 0, UPLOAD = 1, DOWNLOAD = 2 };

struct clg_profiler {
    clg_context *ctx;
    int keep, oom;
    char step_name[32];   /* "step", "token" */
    clg_trace_event *evs; /* [n] when keep; names borrowed from the graphs and buffers */
    size_t n, cap;
    uint64_t count[3], busy_ns[3]; /* by KERNEL, UPLOAD, DOWNLOAD */
    /* Device timeline: gaps between consecutive events inside one step (launch
     * latency, enqueueing) and between steps (the host's turn: waiting, sampling,
     * output). */
    uint64_t idle_in_ns, idle_between_ns, overlap_ns;
    uint64_t end_ns, last_step, steps; /* end of the timeline so far, its step, steps seen */
};

/* A task name's totals over every graph of the plan. */
typedef struct task_row {
    const char *name;
    uint64_t count, ns, bytes; /* bytes: clg_task_bytes_read x executions */
} task_row;

typedef struct xfer_row {
    const char *name;
    int dir; /* UPLOAD or DOWNLOAD */
    uint64_t count, bytes, ns;
} xfer_row;

static void on_event(void *user, const clg_trace_event *e) {
    clg_profiler *p = user;
    int k = e->is_transfer >= 0 && e->is_transfer <= 2 ? e->is_transfer : KERNEL;
    p->count[k]++;
    p->busy_ns[k] += e->end_ns > e->start_ns ? e->end_ns - e->start_ns : 0;
    if (!p->steps) {
        p->end_ns = e->end_ns;
        p->last_step = e->step;
        p->steps = 1;
    } else {
        int same = e->step == p->last_step;
        if (!same) p->steps++;
        if (e->start_ns >= p->end_ns) {
            *(same ? &p->idle_in_ns : &p->idle_between_ns) += e->start_ns - p->end_ns;
        } else { /* overlaps what came before: count the shared part once */
            uint64_t shared = (e->end_ns < p->end_ns ? e->end_ns : p->end_ns) - e->start_ns;
            p->overlap_ns += shared;
        }
        if (e->end_ns > p->end_ns) p->end_ns = e->end_ns;
        p->last_step = e->step;
    }
    if (!p->keep || p->oom) return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 4096;
        clg_trace_event *ne = realloc(p->evs, cap * sizeof *ne);
        if (!ne) {
            p->oom = 1;
            return;
        }
        p->evs = ne;
        p->cap = cap;
    }
    p->evs[p->n++] = *e;
}

clg_status clg_profiler_create(clg_context *ctx, int keep_events, clg_profiler **out) {
    *out = NULL;
    if (!ctx->profiling)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "a profiler needs a context created with profiling events "
                        "(clg_context_options.profiling = 1)");
    clg_profiler *p = calloc(1, sizeof *p);
    if (!p) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "profiler");
    p->ctx = ctx;
    p->keep = keep_events;
    snprintf(p->step_name, sizeof p->step_name, "step");
    clg_profiler_restart(p);
    *out = p;
    return CLG_OK;
}

void clg_profiler_set_step_name(clg_profiler *p, const char *name) {
    snprintf(p->step_name, sizeof p->step_name, "%s", name && *name ? name : "step");
}

void clg_profiler_restart(clg_profiler *p) {
    p->n = 0;
    p->oom = 0;
    memset(p->count, 0, sizeof p->count);
    memset(p->busy_ns, 0, sizeof p->busy_ns);
    p->idle_in_ns = p->idle_between_ns = p->overlap_ns = 0;
    p->end_ns = p->last_step = p->steps = 0;
    clg_profile_reset(p->ctx);
    clg_context_set_trace(p->ctx, on_event, p);
}

void clg_profiler_destroy(clg_profiler *p) {
    if (!p) return;
    clg_context_set_trace(p->ctx, NULL, NULL);
    free(p->evs);
    free(p);
}

/* ---- tables ------------------------------------------------------------ */

static int task_by_time(const void *a, const void *b) {
    const task_row *x = a, *y = b;
    if (x->ns != y->ns) return (y->ns > x->ns) - (y->ns < x->ns);
    return (y->count > x->count) - (y->count < x->count);
}

static int xfer_by_bytes(const void *a, const void *b) {
    const xfer_row *x = a, *y = b;
    return (y->bytes > x->bytes) - (y->bytes < x->bytes);
}

/* Rows per task name over the plan's graphs; *out malloc'ed. 0 on success. */
static int task_rows(clg_plan *plan, task_row **out, size_t *n_out) {
    size_t cap = 0, n = 0;
    for (size_t g = 0; g < clg_plan_graph_count(plan); g++)
        cap += clg_graph_task_count(clg_plan_graph(plan, g));
    task_row *rows = calloc(cap ? cap : 1, sizeof *rows);
    if (!rows) return 1;
    for (size_t g = 0; g < clg_plan_graph_count(plan); g++) {
        clg_graph *gr = clg_plan_graph(plan, g);
        for (size_t i = 0; i < clg_graph_task_count(gr); i++) {
            clg_task *t = clg_graph_task(gr, i);
            clg_task_stats st;
            clg_task_get_stats(t, &st);
            size_t k = 0;
            while (k < n && strcmp(rows[k].name, clg_task_name(t)))
                k++;
            if (k == n) rows[n++].name = clg_task_name(t);
            rows[k].count += st.executions;
            rows[k].ns += st.total_ns;
            rows[k].bytes += clg_task_bytes_read(t) * st.executions;
        }
    }
    qsort(rows, n, sizeof *rows, task_by_time);
    *out = rows;
    *n_out = n;
    return 0;
}

/* One row per buffer and direction that moved data; *out malloc'ed. 0 on
 * success. */
static int xfer_rows(clg_context *ctx, xfer_row **out, size_t *n_out) {
    size_t nb = clg_context_buffer_count(ctx), n = 0;
    xfer_row *rows = calloc(2 * nb + 1, sizeof *rows);
    if (!rows) return 1;
    for (size_t i = 0; i < nb; i++) {
        clg_buffer *b = clg_context_buffer(ctx, i);
        clg_buffer_stats st;
        clg_buffer_get_stats(b, &st);
        if (st.uploads)
            rows[n++] =
                (xfer_row){clg_buffer_name(b), UPLOAD, st.uploads, st.upload_bytes, st.upload_ns};
        if (st.downloads)
            rows[n++] = (xfer_row){clg_buffer_name(b), DOWNLOAD, st.downloads, st.download_bytes,
                                   st.download_ns};
    }
    qsort(rows, n, sizeof *rows, xfer_by_bytes);
    *out = rows;
    *n_out = n;
    return 0;
}

static double ratio(double a, double b) {
    return b > 0 ? a / b : 0.0;
}

/* Everything the report says, computed once for the text, the JSON and the
 * checks. */
typedef struct summary {
    const clg_device_info *dev;
    int real;   /* device timestamps are real */
    int probed; /* probe ran */
    clg_probe probe;
    double wall_ms;
    int steps;
    uint64_t kernels, transfers;
    double kernel_ms, transfer_ms, idle_in_ms, idle_between_ms, overlap_ms, accounted_ms;
    char probe_error[256]; /* why the probe failed, when it did */
} summary;

static void print_text(FILE *f, const clg_profiler *p, const summary *s, const task_row *tr,
                       size_t nt, const xfer_row *xr, size_t nx) {
    static const char *dir[3] = {"", "up", "down"};
    const clg_device_info *d = s->dev;
    const char *unit = p->step_name;
    fprintf(f, "\nprofile: %d %ss, %.1f ms wall, %.2f ms per %s, on %s (%s)\n", s->steps, unit,
            s->wall_ms, ratio(s->wall_ms, s->steps), unit, d->device_name, d->platform_name);
    if (!s->real)
        fprintf(f,
                "  this device's event timestamps are not real (as on Mesa's rusticl): no times,\n"
                "  bandwidths or wall-time breakdown; counts and bytes only\n");
    int w = 8, over = 0;
    for (size_t k = 0; k < nt; k++)
        w = (int)strlen(tr[k].name) > w ? (int)strlen(tr[k].name) : w;
    for (size_t k = 0; k < nx; k++)
        w = (int)strlen(xr[k].name) > w ? (int)strlen(xr[k].name) : w;
    if (s->real) {
        fprintf(f, "  %-*s %8s %10s %9s %7s %8s %7s\n", w, "task", "count", "total ms", "mean us",
                "% wall", "GB/s", "% peak");
        for (size_t k = 0; k < nt; k++) {
            double gbs = ratio((double)tr[k].bytes, (double)tr[k].ns);
            fprintf(f, "  %-*s %8llu %10.2f %9.1f %6.1f%% %8.2f", w, tr[k].name,
                    (unsigned long long)tr[k].count, tr[k].ns / 1e6,
                    ratio(tr[k].ns / 1e3, (double)tr[k].count),
                    100.0 * ratio(tr[k].ns / 1e6, s->wall_ms), gbs);
            if (s->probed) {
                double pct = 100.0 * ratio(gbs, s->probe.read_gbs);
                fprintf(f, " %6.0f%%%s", pct, pct > 100 ? " *" : "");
                over |= pct > 100;
            }
            fputc('\n', f);
        }
        fprintf(f,
                "  GB/s: bytes of the buffers a task reads, each counted in full, per second of\n"
                "  its kernel time: an upper bound where a kernel reads part of a buffer\n");
        if (s->probed)
            fprintf(f, "  %% peak: of the read bandwidth probed now on this device, %.2f GB/s\n",
                    s->probe.read_gbs);
        else
            fprintf(f, "  no %% peak: the bandwidth probe failed: %s\n", s->probe_error);
        if (over)
            fprintf(f,
                    "  * above the peak: the task reads only part of what is counted (a KV cache\n"
                    "    up to the position, one embedding row, activations sized for a batch)\n");
    } else {
        fprintf(f, "  %-*s %8s\n", w, "task", "count");
        for (size_t k = 0; k < nt; k++)
            fprintf(f, "  %-*s %8llu\n", w, tr[k].name, (unsigned long long)tr[k].count);
    }
    fprintf(f, "  %-*s %4s %6s %12s", w, "transfer", "dir", "count", "bytes");
    if (s->real) fprintf(f, " %10s %8s", "total ms", "GB/s");
    fputc('\n', f);
    for (size_t k = 0; k < nx; k++) {
        fprintf(f, "  %-*s %4s %6llu %12llu", w, xr[k].name, dir[xr[k].dir],
                (unsigned long long)xr[k].count, (unsigned long long)xr[k].bytes);
        if (s->real)
            fprintf(f, " %10.3f %8.2f", xr[k].ns / 1e6,
                    ratio((double)xr[k].bytes, (double)xr[k].ns));
        fputc('\n', f);
    }
    fprintf(f, "  launches per %s: %.1f kernels, %.1f transfers\n", unit,
            ratio((double)s->kernels, s->steps), ratio((double)s->transfers, s->steps));
    if (!s->real) return;
    double wall = s->wall_ms, rest = wall - s->accounted_ms;
    fprintf(f, "  where the wall time went          ms  %% wall\n");
    fprintf(f, "    kernels                  %10.2f %6.1f%%\n", s->kernel_ms,
            100 * ratio(s->kernel_ms, wall));
    fprintf(f, "    transfers                %10.2f %6.1f%%\n", s->transfer_ms,
            100 * ratio(s->transfer_ms, wall));
    fprintf(f, "    device idle inside steps %10.2f %6.1f%%  launch latency, enqueueing\n",
            s->idle_in_ms, 100 * ratio(s->idle_in_ms, wall));
    fprintf(f,
            "    host between steps       %10.2f %6.1f%%  wait, sampling, output, next enqueue\n",
            s->idle_between_ms, 100 * ratio(s->idle_between_ms, wall));
    if (s->overlap_ms > 0)
        fprintf(f, "    overlapping events      -%10.2f %6.1f%%  counted once\n", s->overlap_ms,
                100 * ratio(s->overlap_ms, wall));
    fprintf(f, "    accounted                %10.2f %6.1f%%\n", s->accounted_ms,
            100 * ratio(s->accounted_ms, wall));
    fprintf(f,
            "    unaccounted              %10.2f %6.1f%%  before the first, after the last event\n",
            rest, 100 * ratio(rest, wall));
    if (p->steps != (uint64_t)s->steps)
        fprintf(f, "  note: the events came from %llu steps, %d %ss were timed\n",
                (unsigned long long)p->steps, s->steps, unit);
}

/* Prints a double as JSON: null when timestamps are not real. */
static void jnum(FILE *f, int real, double v) {
    if (real)
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

static void write_json(FILE *f, const summary *s, const task_row *tr, size_t nt, const xfer_row *xr,
                       size_t nx) {
    static const char *dir[3] = {"", "upload", "download"};
    const clg_device_info *d = s->dev;
    int r = s->real;
    fputs("{\n  \"device\": {\"name\": ", f);
    clg_json_str(f, d->device_name);
    fputs(", \"platform\": ", f);
    clg_json_str(f, d->platform_name);
    fputs(", \"driver\": ", f);
    clg_json_str(f, d->driver_version);
    fprintf(f, ", \"timestamps_real\": %s},\n", r ? "true" : "false");
    if (s->probed)
        fprintf(f,
                "  \"probe\": {\"read_gbs\": %.6g, \"read_bytes\": %llu, \"launch_us\": %.6g, "
                "\"launch_finish_us\": %.6g},\n",
                s->probe.read_gbs, (unsigned long long)s->probe.read_bytes, s->probe.launch_us,
                s->probe.launch_finish_us);
    else
        fputs("  \"probe\": null,\n", f);
    fprintf(f, "  \"steps\": %d,\n  \"wall_ms\": %.6g,\n  \"tasks\": [", s->steps, s->wall_ms);
    for (size_t k = 0; k < nt; k++) {
        double gbs = ratio((double)tr[k].bytes, (double)tr[k].ns);
        fputs(k ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        clg_json_str(f, tr[k].name);
        fprintf(f, ", \"executions\": %llu, \"bytes_read\": %llu, \"total_ms\": ",
                (unsigned long long)tr[k].count, (unsigned long long)tr[k].bytes);
        jnum(f, r, tr[k].ns / 1e6);
        fputs(", \"mean_us\": ", f);
        jnum(f, r, ratio(tr[k].ns / 1e3, (double)tr[k].count));
        fputs(", \"wall_pct\": ", f);
        jnum(f, r, 100 * ratio(tr[k].ns / 1e6, s->wall_ms));
        fputs(", \"gbs\": ", f);
        jnum(f, r, gbs);
        fputs(", \"peak_pct\": ", f);
        jnum(f, r && s->probed, 100 * ratio(gbs, s->probe.read_gbs));
        fputc('}', f);
    }
    fputs("\n  ],\n  \"transfers\": [", f);
    for (size_t k = 0; k < nx; k++) {
        fputs(k ? ",\n    {\"buffer\": " : "\n    {\"buffer\": ", f);
        clg_json_str(f, xr[k].name);
        fprintf(f,
                ", \"direction\": \"%s\", \"count\": %llu, \"bytes\": %llu, "
                "\"total_ms\": ",
                dir[xr[k].dir], (unsigned long long)xr[k].count, (unsigned long long)xr[k].bytes);
        jnum(f, r, xr[k].ns / 1e6);
        fputs(", \"gbs\": ", f);
        jnum(f, r, ratio((double)xr[k].bytes, (double)xr[k].ns));
        fputc('}', f);
    }
    fprintf(f,
            "\n  ],\n  \"totals\": {\"kernel_executions\": %llu, \"transfers\": %llu, "
            "\"launches_per_step\": %.6g,\n    \"kernel_ms\": ",
            (unsigned long long)s->kernels, (unsigned long long)s->transfers,
            ratio((double)s->kernels, s->steps));
    jnum(f, r, s->kernel_ms);
    fputs(", \"transfer_ms\": ", f);
    jnum(f, r, s->transfer_ms);
    fputs(", \"idle_in_steps_ms\": ", f);
    jnum(f, r, s->idle_in_ms);
    fputs(", \"host_between_steps_ms\": ", f);
    jnum(f, r, s->idle_between_ms);
    fputs(", \"overlap_ms\": ", f);
    jnum(f, r, s->overlap_ms);
    fputs(",\n    \"accounted_ms\": ", f);
    jnum(f, r, s->accounted_ms);
    fputs(", \"unaccounted_ms\": ", f);
    jnum(f, r, s->wall_ms - s->accounted_ms);
    fputs(", \"accounted_pct\": ", f);
    jnum(f, r, 100 * ratio(s->accounted_ms, s->wall_ms));
    fputs("}\n}\n", f);
}

/* Chrome trace events: one complete ("X") event per kernel (tid 1) and transfer
 * (tid 2), microseconds from the first event. */
static void write_trace(FILE *f, const clg_profiler *p, const clg_device_info *d) {
    static const char *cat[3] = {"", "upload", "download"};
    uint64_t t0 = UINT64_MAX;
    for (size_t i = 0; i < p->n; i++)
        if (p->evs[i].start_ns < t0) t0 = p->evs[i].start_ns;
    /* Metadata ("M") events name the process after the device and the two threads. */
    const char *meta[3][2] = {
        {"process_name", d->device_name}, {"thread_name", "kernels"}, {"thread_name", "transfers"}};
    fputs("{\"displayTimeUnit\": \"ns\", \"traceEvents\": [", f);
    for (int m = 0; m < 3; m++) {
        fprintf(
            f,
            "%s\n{\"name\": \"%s\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, \"args\": {\"name\": ",
            m ? "," : "", meta[m][0], m ? m : 1);
        clg_json_str(f, meta[m][1]);
        fputs("}}", f);
    }
    for (size_t i = 0; i < p->n; i++) {
        const clg_trace_event *e = &p->evs[i];
        uint64_t dur = e->end_ns > e->start_ns ? e->end_ns - e->start_ns : 0;
        fputs(",\n{\"name\": ", f);
        clg_json_str(f, e->name);
        fputs(", \"cat\": ", f);
        clg_json_str(f, e->is_transfer ? cat[e->is_transfer == DOWNLOAD ? 2 : 1] : e->graph);
        fprintf(f,
                ", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, \"pid\": 1, \"tid\": %d, "
                "\"args\": {\"step\": %llu",
                (e->start_ns - t0) / 1e3, dur / 1e3, e->is_transfer ? 2 : 1,
                (unsigned long long)e->step);
        if (e->is_transfer) fprintf(f, ", \"bytes\": %llu", (unsigned long long)e->bytes);
        fputs("}}", f);
    }
    fputs("\n]}\n", f);
}

typedef struct json_args {
    const summary *s;
    const task_row *tr;
    size_t nt;
    const xfer_row *xr;
    size_t nx;
} json_args;

static clg_status json_cb(void *arg, FILE *f) {
    const json_args *a = arg;
    write_json(f, a->s, a->tr, a->nt, a->xr, a->nx);
    return CLG_OK;
}

static clg_status trace_cb(void *arg, FILE *f) {
    const clg_profiler *p = arg;
    write_trace(f, p, clg_context_device(p->ctx));
    return CLG_OK;
}

/* Keeps the first failure's status and message, and appends later failures' messages. */
typedef struct failures {
    clg_status st;
    char msg[1024];
} failures;

static void note(failures *fs, clg_status st) {
    if (st == CLG_OK) return;
    size_t used = strlen(fs->msg);
    if (fs->st == CLG_OK) fs->st = st;
    snprintf(fs->msg + used, sizeof fs->msg - used, "%s%s", used ? "; " : "", clg_last_error());
}

clg_status clg_profiler_report(clg_profiler *p, clg_plan *plan, double wall_s, int steps,
                               FILE *text, const char *json_path, const char *trace_path) {
    clg_context_set_trace(p->ctx, NULL, NULL); /* the probe's own steps are not ours */
    if (clg_plan_context(plan) != p->ctx)
        return clg_fail(CLG_ERR_INVALID_ARG, "profile report: the plan belongs to another context");
    summary s;
    memset(&s, 0, sizeof s);
    s.dev = clg_context_device(p->ctx);
    s.real = s.dev->profiling_timer == 1;
    s.wall_ms = wall_s * 1e3;
    s.steps = steps;
    s.kernels = p->count[KERNEL];
    s.transfers = p->count[UPLOAD] + p->count[DOWNLOAD];
    s.kernel_ms = p->busy_ns[KERNEL] / 1e6;
    s.transfer_ms = (p->busy_ns[UPLOAD] + p->busy_ns[DOWNLOAD]) / 1e6;
    s.idle_in_ms = p->idle_in_ns / 1e6;
    s.idle_between_ms = p->idle_between_ns / 1e6;
    s.overlap_ms = p->overlap_ns / 1e6;
    s.accounted_ms = s.kernel_ms + s.transfer_ms + s.idle_in_ms + s.idle_between_ms - s.overlap_ms;

    task_row *tr = NULL;
    xfer_row *xr = NULL;
    size_t nt = 0, nx = 0;
    failures fs = {CLG_OK, ""};
    if (task_rows(plan, &tr, &nt) || xfer_rows(p->ctx, &xr, &nx)) {
        free(tr);
        free(xr);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "profile report: the task and transfer tables");
    }
    if (s.real) { /* after the tables: the probe's own tasks and transfers are not counted */
        if (clg_context_probe(p->ctx, &s.probe) == CLG_OK)
            s.probed = 1;
        else
            snprintf(s.probe_error, sizeof s.probe_error, "%s", clg_last_error());
    }
    if (text) {
        print_text(text, p, &s, tr, nt, xr, nx);
        if (ferror(text)) note(&fs, clg_fail(CLG_ERR_IO, "writing the profile table failed"));
    }
    if (json_path) {
        json_args a = {&s, tr, nt, xr, nx};
        note(&fs, clg_file_write_atomic(json_path, "profile", json_cb, &a));
    }
    if (trace_path) {
        if (!s.real)
            note(&fs, clg_fail(CLG_ERR_UNSUPPORTED,
                               "no trace written to %s: %s's event timestamps are not real",
                               trace_path, s.dev->device_name));
        else if (!p->keep)
            note(&fs, clg_fail(CLG_ERR_INVALID_ARG,
                               "no trace written to %s: the profiler was created without "
                               "keep_events",
                               trace_path));
        else if (p->oom)
            note(&fs, clg_fail(CLG_ERR_OUT_OF_MEMORY,
                               "no trace written to %s: out of memory after %zu events", trace_path,
                               p->n));
        else
            note(&fs, clg_file_write_atomic(trace_path, "trace", trace_cb, p));
    }
    free(tr);
    free(xr);
    return fs.st == CLG_OK ? CLG_OK : clg_fail(fs.st, "%s", fs.msg);
}
