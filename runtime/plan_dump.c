/* The plan dump of clgraph/report.h: per plan, graph and task, what runs (kernel, NDRange,
 * local memory, build origin) and what the planner chose for it and measured. Uses only
 * the public runtime and planner API. */
#include <stdio.h>
#include <string.h>

#include "clgraph/report.h"

/* "4096", "64x8", "auto" (the driver chooses the work-group), "-" (a call task). */
static void range_str(const clg_task *t, char *buf, size_t cap, int local) {
    size_t g[3], l[3];
    unsigned d = clg_task_range(t, g, l);
    const size_t *v = local ? l : g;
    if (d == 0)
        snprintf(buf, cap, "-");
    else if (local && !l[0])
        snprintf(buf, cap, "auto");
    else if (d == 1)
        snprintf(buf, cap, "%zu", v[0]);
    else if (d == 2)
        snprintf(buf, cap, "%zux%zu", v[0], v[1]);
    else
        snprintf(buf, cap, "%zux%zux%zu", v[0], v[1], v[2]);
}

/* A call task runs host code (a library), no kernel of a program. */
static const char *kernel_of(const clg_task *t) {
    return clg_task_is_call(t) ? "(library call)" : clg_task_kernel_name(t);
}

static const char *build_of(const clg_task *t) {
    return clg_task_is_call(t) ? "host"
                               : clg_program_origin_str(clg_program_origin_of(clg_task_program(t)));
}

/* What the planner chose for t's kind; NULL when t belongs to none (*kind then NULL). */
static const clg_choice *choice_of(const clg_planner *pl, const clg_task *t, const char **kind) {
    clg_kind *k = pl ? clg_planner_task_kind(pl, t) : NULL;
    *kind = k ? clg_kind_name(k) : NULL;
    return k ? clg_kind_choice(k) : NULL;
}

/* One task's text fields. */
typedef struct row {
    char global[64], local[64];
    const char *name, *kernel, *variant, *choice;
    char measured[96];
} row;

static void row_of(const clg_planner *pl, const clg_task *t, row *r) {
    const char *kind;
    const clg_choice *c = choice_of(pl, t, &kind);
    range_str(t, r->global, sizeof r->global, 0);
    range_str(t, r->local, sizeof r->local, 1);
    r->name = clg_task_name(t);
    r->kernel = kernel_of(t);
    r->variant = c ? c->label : "default";
    r->choice = c ? (c->tuned ? "tuned" : "untuned") : "-";
    r->measured[0] = 0;
    if (c && c->best_ns >= 0 && c->runner_ns >= 0)
        snprintf(r->measured, sizeof r->measured, "%.1f us, runner-up %.1f us", c->best_ns / 1e3,
                 c->runner_ns / 1e3);
    else if (c && c->best_ns >= 0) /* the device ran one candidate only */
        snprintf(r->measured, sizeof r->measured, "%.1f us, no runner-up", c->best_ns / 1e3);
}

/* Column widths of the text table, over every task it shows. */
typedef struct widths {
    int name, kernel, variant, global, local;
} widths;

static int wmax(int w, const char *s) {
    int n = (int)strlen(s);
    return n > w ? n : w;
}

static void widen(widths *w, const row *r) {
    w->name = wmax(w->name, r->name);
    w->kernel = wmax(w->kernel, r->kernel);
    w->variant = wmax(w->variant, r->variant);
    w->global = wmax(w->global, r->global);
    w->local = wmax(w->local, r->local);
}

/* 1 when a and b hold tasks of the same names in the same order (a model's layers). */
static int same_tasks(const clg_graph *a, const clg_graph *b) {
    size_t n = clg_graph_task_count(a);
    if (n != clg_graph_task_count(b)) return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(clg_task_name(clg_graph_task(a, i)), clg_task_name(clg_graph_task(b, i))))
            return 0;
    return 1;
}

/* "on (812.0 us/step) vs off (901.3 us/step)", "off (untuned)", "unavailable (...)"; the
 * first is the mode the plan runs with. */
static void replay_text(FILE *f, const clg_choice *c) {
    if (!strcmp(c->variant, "unavailable")) {
        fprintf(f, "unavailable (no cl_khr_command_buffer)");
        return;
    }
    const char *other = strcmp(c->variant, "on") ? "on" : "off";
    if (c->best_ns >= 0 && c->runner_ns >= 0)
        fprintf(f, "%s (%.1f us/step) vs %s (%.1f us/step)", c->variant, c->best_ns / 1e3, other,
                c->runner_ns / 1e3);
    else
        fprintf(f, "%s (%s)", c->variant, c->tuned ? "measured" : "untuned");
}

static void dump_text(FILE *f, const clg_planner *pl, const char *const *names,
                      clg_plan *const *plans, size_t n) {
    widths w = {4, 6, 7, 6, 5};
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < clg_plan_graph_count(plans[k]); i++) {
            clg_graph *g = clg_plan_graph(plans[k], i);
            for (size_t j = 0; j < clg_graph_task_count(g); j++) {
                row r;
                if (!clg_task_enabled(clg_graph_task(g, j))) continue;
                row_of(pl, clg_graph_task(g, j), &r);
                widen(&w, &r);
            }
        }
    for (size_t k = 0; k < n; k++) {
        clg_plan *p = plans[k];
        size_t ng = clg_plan_graph_count(p);
        clg_choice rc;
        fprintf(f, "\n%s plan: %zu graphs\n", names[k], ng);
        if (pl && clg_planner_replay_choice(pl, p, &rc) == CLG_OK) {
            fprintf(f, "  replay: ");
            replay_text(f, &rc);
            fputc('\n', f);
        }
        fprintf(f, "    %-*s %-*s %-*s %-*s %-*s %6s %-6s %-7s %s\n", w.name, "task", w.kernel,
                "kernel", w.variant, "variant", w.global, "global", w.local, "local", "lmem",
                "build", "choice", "measured");
        for (size_t i = 0; i < ng;) {
            clg_graph *g = clg_plan_graph(p, i);
            size_t run = 1; /* graphs from i on with g's task names */
            while (i + run < ng && same_tasks(g, clg_plan_graph(p, i + run)))
                run++;
            fprintf(f, "  %s\n", clg_graph_name(g));
            for (size_t j = 0; j < clg_graph_task_count(g); j++) {
                clg_task *t = clg_graph_task(g, j);
                row r;
                if (!clg_task_enabled(t)) continue; /* an alternative not chosen */
                row_of(pl, t, &r);
                fprintf(f, "    %-*s %-*s %-*s %-*s %-*s %6zu %-6s %-7s %s\n", w.name, r.name,
                        w.kernel, r.kernel, w.variant, r.variant, w.global, r.global, w.local,
                        r.local, clg_task_local_mem(t), build_of(t), r.choice, r.measured);
            }
            if (run > 1)
                fprintf(f, "  ... %zu more graphs with the same tasks (%s .. %s)\n", run - 1,
                        clg_graph_name(clg_plan_graph(p, i + 1)),
                        clg_graph_name(clg_plan_graph(p, i + run - 1)));
            i += run;
        }
    }
}

static void task_json(FILE *f, const clg_planner *pl, clg_task *t, int last) {
    char g[64], l[64];
    const char *kind;
    const clg_choice *c = choice_of(pl, t, &kind);
    range_str(t, g, sizeof g, 0);
    range_str(t, l, sizeof l, 1);
    fprintf(f, "        {\"task\": ");
    clg_json_str(f, clg_task_name(t));
    fprintf(f, ", \"kernel\": ");
    clg_json_str(f, kernel_of(t));
    if (kind) {
        fprintf(f, ", \"kind\": ");
        clg_json_str(f, kind);
    }
    fprintf(f, ", \"variant\": ");
    clg_json_str(f, c ? c->label : "default");
    fprintf(f,
            ", \"global\": \"%s\", \"local\": \"%s\", \"local_mem\": %zu, \"build\": \"%s\", "
            "\"tuned\": %s",
            g, l, clg_task_local_mem(t), build_of(t), c && c->tuned ? "true" : "false");
    if (c && c->best_ns >= 0) fprintf(f, ", \"best_us\": %.2f", c->best_ns / 1e3);
    if (c && c->runner_ns >= 0) fprintf(f, ", \"runner_up_us\": %.2f", c->runner_ns / 1e3);
    if (!clg_task_enabled(t)) fprintf(f, ", \"enabled\": false"); /* an alternative not chosen */
    fprintf(f, "}%s\n", last ? "" : ",");
}

static void dump_json(FILE *f, const clg_planner *pl, const char *const *names,
                      clg_plan *const *plans, size_t n) {
    const clg_device_info *d = clg_context_device(clg_plan_context(plans[0]));
    fprintf(f, "{\"device\": ");
    clg_json_str(f, d->device_name);
    fprintf(f, ", \"driver\": ");
    clg_json_str(f, d->driver_version);
    fprintf(f, ", \"plans\": [\n");
    for (size_t k = 0; k < n; k++) {
        clg_plan *p = plans[k];
        size_t ng = clg_plan_graph_count(p);
        clg_choice rc;
        fprintf(f, "  {\"plan\": ");
        clg_json_str(f, names[k]);
        fprintf(f, ", ");
        if (pl && clg_planner_replay_choice(pl, p, &rc) == CLG_OK) {
            fprintf(f, "\"replay\": {\"mode\": ");
            clg_json_str(f, rc.variant);
            fprintf(f, ", \"tuned\": %s", rc.tuned ? "true" : "false");
            if (rc.best_ns >= 0) fprintf(f, ", \"best_us\": %.2f", rc.best_ns / 1e3);
            if (rc.runner_ns >= 0) fprintf(f, ", \"runner_up_us\": %.2f", rc.runner_ns / 1e3);
            fprintf(f, "}, ");
        }
        fprintf(f, "\"graphs\": [\n");
        for (size_t i = 0; i < ng; i++) {
            clg_graph *g = clg_plan_graph(p, i);
            size_t nt = clg_graph_task_count(g);
            fprintf(f, "    {\"graph\": ");
            clg_json_str(f, clg_graph_name(g));
            fprintf(f, ", \"tasks\": [\n");
            for (size_t j = 0; j < nt; j++)
                task_json(f, pl, clg_graph_task(g, j), j + 1 == nt);
            fprintf(f, "    ]}%s\n", i + 1 == ng ? "" : ",");
        }
        fprintf(f, "  ]}%s\n", k + 1 == n ? "" : ",");
    }
    fprintf(f, "]}\n");
}

clg_status clg_plan_dump(FILE *f, const clg_planner *planner, const char *const *names,
                         clg_plan *const *plans, size_t n, int json) {
    if (!f || !names || !plans || n == 0)
        return clg_fail(CLG_ERR_INVALID_ARG, "plan dump: no file or no plans");
    for (size_t k = 0; k < n; k++)
        if (!plans[k] || !names[k] || clg_plan_context(plans[k]) != clg_plan_context(plans[0]))
            return clg_fail(CLG_ERR_INVALID_ARG,
                            "plan dump: plan %zu is missing, unnamed or of another context", k);
    if (json) {
        dump_json(f, planner, names, plans, n);
    } else {
        const clg_device_info *d = clg_context_device(clg_plan_context(plans[0]));
        fprintf(f, "device %s (driver %s)\n", d->device_name, d->driver_version);
        if (planner)
            fprintf(f,
                    "measured: one step of all the tasks of a kind, the chosen candidate and the\n"
                    "runner-up; another candidate replaces the untuned default (the kernel file's\n"
                    "declaration for the device type) only when it is %.0f%% and %.0f us faster\n",
                    100 * CLG_TUNE_MARGIN, CLG_TUNE_MIN_GAIN_NS / 1e3);
        dump_text(f, planner, names, plans, n);
    }
    if (ferror(f)) return clg_fail(CLG_ERR_IO, "plan dump: writing failed");
    return CLG_OK;
}
