/* Plan dumps for clgraph plan and clgraph run --plan-dump (see plan_dump.h). */
#include "apps/plan_dump.h"

#include <string.h>

#include "apps/json.h"

static void range_str(const clg_task *t, char *buf, size_t cap, int local) {
    size_t g[3], l[3];
    unsigned d = clg_task_range(t, g, l);
    const size_t *v = local ? l : g;
    if (d == 0) { /* a call task: the library chooses */
        snprintf(buf, cap, "-");
        return;
    }
    if (local && !l[0]) {
        snprintf(buf, cap, "auto");
        return;
    }
    if (d == 1) snprintf(buf, cap, "%zu", v[0]);
    else if (d == 2) snprintf(buf, cap, "%zux%zu", v[0], v[1]);
    else snprintf(buf, cap, "%zux%zux%zu", v[0], v[1], v[2]);
}

/* A call task runs host code (a library), no kernel of ours. */
static const char *kernel_of(const clg_task *t) { return clg_task_is_call(t) ? "(library call)" : clg_task_kernel_name(t); }
static const char *build_of(const clg_task *t) {
    return clg_task_is_call(t) ? "host" : clg_program_origin_str(clg_program_origin_of(clg_task_program(t)));
}

/* The planner's choice for task t, if it chooses one. */
static int choice_of(const llm_model *m, const clg_task *t, clg_choice *c) {
    const clg_kind *k = clg_planner_task_kind(llm_model_planner(m), t);
    if (k) *c = *clg_kind_choice(k);
    return k != NULL;
}

static void task_json(FILE *f, const llm_model *m, int which, clg_task *t, int last) {
    char g[64], l[64];
    range_str(t, g, sizeof g, 0);
    range_str(t, l, sizeof l, 1);
    clg_choice c;
    int chosen = choice_of(m, t, &c);
    (void)which;
    fprintf(f, "        {\"task\": ");
    json_str(f, clg_task_name(t));
    fprintf(f, ", \"kernel\": ");
    json_str(f, kernel_of(t));
    fprintf(f, ", \"variant\": ");
    json_str(f, chosen ? c.label : "default");
    fprintf(f, ", \"global\": \"%s\", \"local\": \"%s\", \"local_mem\": %zu, \"build\": \"%s\", \"tuned\": %s",
            g, l, clg_task_local_mem(t), build_of(t), chosen && c.tuned ? "true" : "false");
    if (chosen && c.best_ns >= 0) fprintf(f, ", \"best_us\": %.2f", c.best_ns / 1e3);
    if (chosen && c.runner_ns >= 0) fprintf(f, ", \"runner_up_us\": %.2f", c.runner_ns / 1e3);
    if (!clg_task_enabled(t)) fprintf(f, ", \"enabled\": false"); /* an alternative not chosen */
    fprintf(f, "}%s\n", last ? "" : ",");
}

static void task_text(FILE *f, const llm_model *m, int which, clg_task *t) {
    char g[64], l[64], times[96] = "";
    range_str(t, g, sizeof g, 0);
    range_str(t, l, sizeof l, 1);
    clg_choice c;
    int chosen = choice_of(m, t, &c);
    (void)which;
    if (chosen && c.best_ns >= 0 && c.runner_ns >= 0)
        snprintf(times, sizeof times, "%.1f us, runner-up %.1f us", c.best_ns / 1e3, c.runner_ns / 1e3);
    else if (chosen && c.best_ns >= 0) /* the device took one candidate only */
        snprintf(times, sizeof times, "%.1f us, no runner-up", c.best_ns / 1e3);
    fprintf(f, "    %-12s %-22s %-14s %-12s %-8s %6zu %-6s %-9s %s\n", clg_task_name(t), kernel_of(t),
            chosen ? c.label : "default", g, l, clg_task_local_mem(t), build_of(t),
            chosen ? (c.tuned ? "tuned" : "heuristic") : "default", times);
}

/* "on (812.0 us/step) vs off (901.3 us/step)", "off (heuristic)", "unavailable (...)"; the
 * first is the mode the plans run with. */
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
        fprintf(f, "%s (%s)", c->variant, c->tuned ? "measured" : "heuristic");
}

void plan_dump(FILE *f, const llm_model *m, int json) {
    const clg_device_info *d = clg_context_device(llm_model_context(m));
    static const char *names[2] = {"decode", "prefill"};
    if (json) {
        fprintf(f, "{\"device\": ");
        json_str(f, d->device_name);
        fprintf(f, ", \"driver\": ");
        json_str(f, d->driver_version);
        fprintf(f, ", \"plans\": [\n");
    } else {
        fprintf(f, "device %s (driver %s)\n", d->device_name, d->driver_version);
        fprintf(f,
                "measured: one step of all the plan's tasks of a kind (every layer's), winner and\n"
                "runner-up; the winner is the heuristic unless another was %.0f%% faster\n",
                100 * CLG_TUNE_MARGIN);
    }
    for (int w = 0; w < 2; w++) {
        clg_plan *p = llm_model_step_plan(m, w);
        size_t ng = clg_plan_graph_count(p);
        clg_choice rc;
        int has_replay = clg_planner_replay_choice(llm_model_planner(m), p, &rc) == CLG_OK;
        if (json) {
            fprintf(f, "  {\"plan\": \"%s\", ", names[w]);
            if (has_replay) {
                fprintf(f, "\"replay\": {\"mode\": ");
                json_str(f, rc.variant);
                fprintf(f, ", \"tuned\": %s", rc.tuned ? "true" : "false");
                if (rc.best_ns >= 0) fprintf(f, ", \"best_us\": %.2f", rc.best_ns / 1e3);
                if (rc.runner_ns >= 0) fprintf(f, ", \"runner_up_us\": %.2f", rc.runner_ns / 1e3);
                fprintf(f, "}, ");
            }
            fprintf(f, "\"graphs\": [\n");
        } else {
            fprintf(f, "\n%s plan: %zu graphs\n", names[w], ng);
            if (has_replay) {
                fprintf(f, "  replay: ");
                replay_text(f, &rc);
                fprintf(f, "\n");
            }
            fprintf(f, "    %-12s %-22s %-14s %-12s %-8s %6s %-6s %-9s %s\n", "task", "kernel", "variant", "global",
                    "local", "lmem", "build", "choice", "measured");
        }
        for (size_t i = 0; i < ng; i++) {
            clg_graph *g = clg_plan_graph(p, i);
            size_t nt = clg_graph_task_count(g);
            if (json) {
                fprintf(f, "    {\"graph\": ");
                json_str(f, clg_graph_name(g));
                fprintf(f, ", \"tasks\": [\n");
                for (size_t j = 0; j < nt; j++) task_json(f, m, w, clg_graph_task(g, j), j + 1 == nt);
                fprintf(f, "    ]}%s\n", i + 1 == ng ? "" : ",");
            } else if (i <= 1 || i + 1 == ng) { /* the layers repeat layer.0's tasks */
                fprintf(f, "  %s\n", clg_graph_name(g));
                for (size_t j = 0; j < nt; j++) /* the alternatives not chosen are left out */
                    if (clg_task_enabled(clg_graph_task(g, j))) task_text(f, m, w, clg_graph_task(g, j));
                if (i == 1 && ng > 3)
                    fprintf(f, "  ... %zu more layer graphs with the same tasks\n", ng - 3);
            }
        }
        if (json) fprintf(f, "  ]}%s\n", w ? "" : ",");
    }
    if (json) fprintf(f, "]}\n");
}
