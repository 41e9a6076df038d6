/* clgraph plan: builds a model's step plans (optionally tuning them) and dumps them. */
#include <stdio.h>
#include <string.h>

#include "apps/commands.h"
#include "apps/plan_dump.h"

int clg_cmd_plan(int argc, char **argv) {
    llm_model_options o = llm_model_options_default();
    const char *model = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--device")) && i + 1 < argc) {
            if (a[1] == 'm' || a[2] == 'm') model = argv[++i];
            else o.device = argv[++i];
        } else if (!strcmp(a, "--tune")) o.tune = o.tune > 1 ? o.tune : 1;
        else if (!strcmp(a, "--retune")) o.tune = 2;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: clgraph plan -m MODEL.gguf [--tune | --retune] [--json] [--device SEL]\n\n"
                   "Builds the model's decode and prefill plans and prints, per graph and task: the\n"
                   "kernel and its variant, global and local sizes, local memory, how the program\n"
                   "was built (source, spirv, cache), and for the planner's choices whether they\n"
                   "were measured (with the winner's and runner-up's times) or heuristic; and\n"
                   "whether decode steps replay a recorded command buffer (devices with\n"
                   "cl_khr_command_buffer; --tune times steps with replay on and off).\n"
                   "  --tune     measure the variants unless the plan cache has them, and cache them\n"
                   "  --retune   measure again, ignoring the plan cache\n");
            return 0;
        } else {
            fprintf(stderr, "clgraph plan: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "clgraph plan: no model given (-m MODEL.gguf)\n");
        return 2;
    }
    llm_model *m = NULL;
    if (llm_model_load(model, &o, &m) != CLG_OK) {
        fprintf(stderr, "clgraph plan: cannot load %s: %s\n", model, clg_last_error());
        return 1;
    }
    plan_dump(stdout, m, json);
    llm_model_destroy(m);
    return 0;
}
