/* clgraph synth: writes a Llama GGUF with the real shapes of a published model and random
 * weights (graphs/model/synth.c), for throughput measurements at sizes no package ships. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "apps/args.h"
#include "apps/commands.h"
#include "clgraph/gguf.h"
#include "clgraph/report.h"
#include "clgraph/synth.h"
#include "clgraph/util.h"

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: clgraph synth --shape SHAPE --type TYPE [--arch ARCH] [--seed N] [-q] OUT.gguf\n"
        "\n"
        "Writes a model with the real hyper-parameters of a published model and random\n"
        "weights (N(0, 0.02), norms 1.0): the text it generates is noise, the work per\n"
        "token is the real model's. Weights are generated while the file is written, so\n"
        "memory stays small whatever the size.\n"
        "\n"
        "shapes (general.architecture = llama):\n"
        "  135m  SmolLM2-135M:  576 embd, 30 layers,  9 heads (3 kv),  1536 ff, vocab  49152, "
        "tied\n"
        "  1b    Llama-3.2-1B: 2048 embd, 16 layers, 32 heads (8 kv),  8192 ff, vocab 128256, "
        "tied\n"
        "  3b    Llama-3.2-3B: 3072 embd, 28 layers, 24 heads (8 kv),  8192 ff, vocab 128256, "
        "tied\n"
        "  8b    Llama-3.1-8B: 4096 embd, 32 layers, 32 heads (8 kv), 14336 ff, vocab 128256\n"
        "The Llama 3.x shapes carry their rope scaling as rope_freqs.weight (as llama.cpp's\n"
        "converter writes it). The tokenizer is a minimal byte-level SentencePiece vocabulary\n"
        "padded with unused tokens to the vocabulary size.\n"
        "\n"
        "options:\n"
        "  -s, --shape SHAPE  one of %s\n"
        "  -t, --type TYPE    weight type: f16, q8_0, q4_0 (also f32, q4_1)\n"
        "  --arch ARCH        llama (default); gemma3, qwen2, qwen3, phi3 have the shape tiny\n"
        "                     only (test models: 256 embd, 3-6 layers, vocab 512, in the\n"
        "                     tensors and metadata llama.cpp reads for that architecture)\n"
        "  --seed N           random seed (default 1); same seed, same bytes\n"
        "  -q, --quiet        no progress\n"
        "\n"
        "Suggested place: ~/.cache/clgraph/synth/ (sizes: 1b q8_0 1.3 GB, 8b q8_0 8.5 GB).\n",
        llm_synth_shape_names());
}

static int fail_usage(const char *msg, const char *arg) {
    fprintf(stderr, "clgraph synth: %s%s\n(clgraph synth --help for usage)\n", msg, arg ? arg : "");
    return 2;
}

typedef struct progress_state {
    int quiet, tty, last_pct;
} progress_state;

static void on_progress(void *user, const char *tensor, uint64_t done, uint64_t total) {
    progress_state *p = user;
    if (p->quiet || !total) return;
    int pct = (int)(100.0 * (double)done / (double)total);
    if (pct == p->last_pct) return;
    p->last_pct = pct;
    if (p->tty)
        fprintf(stderr, "\r%3d%%  %-32s", pct, tensor);
    else if (pct % 10 == 0)
        fprintf(stderr, "%3d%%  %s\n", pct, tensor);
}

int clg_cmd_synth(int argc, char **argv) {
    const char *out = NULL, *shape = NULL, *type = NULL, *arch = "llama";
    uint64_t seed = 1;
    progress_state ps = {0, isatty(2), -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-s") || !strcmp(a, "--shape")) {
            if (!has_value) return fail_usage("--shape needs a value", NULL);
            shape = argv[++i];
        } else if (!strcmp(a, "-t") || !strcmp(a, "--type")) {
            if (!has_value) return fail_usage("--type needs a value", NULL);
            type = argv[++i];
        } else if (!strcmp(a, "--arch")) {
            if (!has_value) return fail_usage("--arch needs a value", NULL);
            arch = argv[++i];
        } else if (!strcmp(a, "--seed")) {
            if (!has_value) return fail_usage("--seed needs a value", NULL);
            if (!app_parse_seed(argv[++i], &seed, NULL))
                return fail_usage("--seed takes " APP_SEED_RANGE ", not ", argv[i]);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            ps.quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return fail_usage("unknown option: ", a);
        } else if (!out) {
            out = a;
        } else {
            return fail_usage("unexpected argument: ", a);
        }
    }
    if (!llm_synth_arch_ok(arch)) {
        fprintf(stderr, "clgraph synth: unsupported --arch '%s' (known: %s)\n", arch,
                llm_synth_arch_names());
        return 2;
    }
    if (!shape) return fail_usage("--shape is required", NULL);
    const llm_synth_shape *s = llm_synth_shape_find_arch(arch, shape);
    if (!s) {
        fprintf(stderr, "clgraph synth: unknown %s shape '%s' (known: %s)\n", arch, shape,
                llm_synth_shape_names_arch(arch));
        return 2;
    }
    if (!type) return fail_usage("--type is required (f16, q8_0, q4_0)", NULL);
    int dtype = llm_dtype_from_name(type);
    if (!llm_synth_dtype_ok(dtype)) {
        fprintf(stderr, "clgraph synth: unsupported --type '%s' (f32, f16, q8_0, q4_0, q4_1)\n",
                type);
        return 2;
    }
    if (!out) return fail_usage("OUT.gguf is required", NULL);
    if (clg_file_check_output(out, "GGUF file", NULL) != CLG_OK) {
        fprintf(stderr, "clgraph synth: %s\n", clg_last_error());
        return 2;
    }

    uint64_t bytes = llm_synth_tensor_bytes(s, dtype);
    /* The file's folder must hold it (written as a temporary beside it, then renamed). */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (avail < bytes + (bytes >> 4) + (64u << 20)) {
            fprintf(stderr, "clgraph synth: %s has %.2f GB free, the model needs %.2f GB\n", dir,
                    avail / 1e9, bytes / 1e9);
            return 1;
        }
    }
    if (!ps.quiet)
        fprintf(stderr, "clgraph synth: %s %s shape (%s), %s weights, %.2f GB of tensors -> %s\n",
                s->arch, s->name, s->model, llm_dtype_name(dtype), bytes / 1e9, out);
    double t0 = clg_now_ns();
    clg_status st = llm_synth_write_arch(out, s->arch, s->name, dtype, seed, on_progress, &ps);
    if (ps.tty && !ps.quiet) fputc('\n', stderr);
    if (st != CLG_OK) {
        fprintf(stderr, "clgraph synth: %s\n", clg_last_error());
        return 1;
    }
    if (!ps.quiet)
        fprintf(stderr, "clgraph synth: wrote %s in %.1f s\n", out, 1e-9 * (clg_now_ns() - t0));
    return 0;
}
