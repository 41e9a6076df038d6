/* clgraph plan: builds a model's step plans (optionally tuning them) and dumps them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"
#include "apps/env.h"
#include "apps/generate.h"

/* A whole positive number into *out; 0 otherwise. */
static int parse_count(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > (1 << 24)) return 0;
    *out = (int)v;
    return 1;
}

int clg_cmd_plan(int argc, char **argv) {
    llm_model_options o = llm_model_options_default();
    int rc = app_env_model_options(&o, "plan");
    if (rc) return rc;
    const char *model = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--device")) && i + 1 < argc) {
            if (a[1] == 'm' || a[2] == 'm')
                model = argv[++i];
            else
                o.device = argv[++i];
        } else if ((!strcmp(a, "--ctx") || !strcmp(a, "--batch") || !strcmp(a, "--attn-split") ||
                    !strcmp(a, "--parallel")) &&
                   i + 1 < argc) {
            int *dst = !strcmp(a, "--ctx")        ? &o.n_ctx
                       : !strcmp(a, "--batch")    ? &o.n_batch
                       : !strcmp(a, "--parallel") ? &o.n_seq
                                                  : &o.attn_split;
            if (!parse_count(argv[++i], dst)) {
                fprintf(stderr, "clgraph plan: %s '%s': expected a positive number\n", a, argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--act") && i + 1 < argc) {
            if ((o.act = llm_act_from_name(argv[++i])) < 0) {
                fprintf(stderr, "clgraph plan: --act '%s': expected q8, f32 or auto\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--kv-f16"))
            o.kv_f16 = 1;
        else if (!strcmp(a, "--tune"))
            o.tune = o.tune > 1 ? o.tune : 1;
        else if (!strcmp(a, "--retune"))
            o.tune = 2;
        else if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(
                "usage: clgraph plan -m MODEL.gguf [--tune | --retune] [--json] [--device SEL]\n"
                "                    [--ctx N] [--batch N] [--parallel N] [--kv-f16]\n"
                "                    [--attn-split N] [--act MODE]\n\n"
                "Builds the model's decode and prefill plans and prints, per graph and task: the\n"
                "kernel and its variant, global and local sizes, local memory, how the program\n"
                "was built (source, spirv, cache), and for the planner's choices (the weight\n"
                "products, the RMSNorms, the attention) whether they were measured (with the\n"
                "winner's and runner-up's times) or heuristic (the kernel file's declared default\n"
                "for the device type); and whether decode steps replay a recorded command buffer\n"
                "(devices with cl_khr_command_buffer; --tune times steps with replay on and off).\n"
                "  --tune          measure the variants unless the plan cache has them, and cache "
                "them\n"
                "  --retune        measure again, ignoring the plan cache\n"
                "  --ctx N         context length (default min(2048, training context)); the "
                "attention\n"
                "                  is tuned at position min(N - 1, 512)\n"
                "  --batch N       largest prompt batch (default 64)\n"
                "  --parallel N    N sequences, as clgraph serve --parallel N (its plan; --tune\n"
                "                  measures the batch kinds on one row per sequence)\n"
                "  --kv-f16        f16 KV cache\n"
                "  --act MODE      activations of the quantized products: q8 (norms fused into "
                "the\n"
                "                  products), f32, or auto (default: q8 on CPUs where weights "
                "allow)\n"
                "  --attn-split N  split the decode attention over N position ranges (flash\n"
                "                  decoding; default 8 on GPUs, none on CPUs)\n");
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
    clg_status st = gen_plan_dump(stdout, m, json);
    if (st != CLG_OK) fprintf(stderr, "clgraph plan: %s\n", clg_last_error());
    llm_model_destroy(m);
    return st == CLG_OK ? 0 : 1;
}
