/* clgraph quantize: rewrites a GGUF model with its weight matrices in another weight type
 * (f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1) through llm_convert (graphs/model/convert.c), with
 * progress on stderr. */
#include <stdio.h>
#include <string.h>

#include "apps/commands.h"
#include "clgraph/convert.h"
#include "clgraph/gguf.h"
#include "clgraph/report.h"
#include "clgraph/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: clgraph quantize IN.gguf OUT.gguf --type TYPE [-q]\n"
            "\n"
            "Dequantizes the weights of IN.gguf and writes them to OUT.gguf as TYPE, the way\n"
            "llama.cpp's quantize tool does:\n"
            "  - 2-D weight matrices (names ending in .weight), token_embd.weight and\n"
            "    output.weight included, become TYPE (llama.cpp keeps output.weight at a higher\n"
            "    precision for some types; here it gets TYPE too);\n"
            "  - a matrix whose rows are not a multiple of 32 becomes f16 for q8_0/q4_0/q4_1;\n"
            "  - 1-D tensors (norm weights) become f32; other tensors are copied unchanged;\n"
            "  - a tensor already in its new type is copied byte for byte.\n"
            "Every metadata key is kept; general.file_type is set (F32 0, F16 1, Q4_0 2, Q4_1 3,\n"
            "Q8_0 7) and, for q8_0/q4_0/q4_1, general.quantization_version = 2.\n"
            "\n"
            "The whole output is assembled in memory (about its file size, plus the input,\n"
            "which is mapped) and written to a temporary file that is renamed to OUT.gguf, so a\n"
            "failure never leaves a partial OUT.gguf. OUT.gguf must be a new path or a regular\n"
            "file other than IN.gguf.\n"
            "\n"
            "options:\n"
            "  -t, --type TYPE  target weight type: %s\n"
            "  -q, --quiet      no per-tensor progress (notes and the summary still print)\n"
            "  -h, --help       this help\n"
            "\n"
            "Exit status: 0 on success, 1 when the conversion fails, 2 on bad arguments (an\n"
            "OUT.gguf that is not a regular file, or is IN.gguf, included).\n",
            llm_convert_target_names());
}

static int fail_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "clgraph quantize: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(clgraph quantize --help for usage)\n");
    return 2;
}

static const char *dname(int dtype) {
    const char *n = llm_dtype_name(dtype);
    return n ? n : "?";
}

static int progress(const llm_convert_event *ev, void *user) {
    int quiet = *(const int *)user;
    if (ev->note) fprintf(stderr, "clgraph quantize: note: %s: %s\n", ev->name, ev->note);
    if (quiet) return 0;
    char shape[96];
    int n = snprintf(shape, sizeof shape, "[");
    for (uint32_t d = 0; d < ev->n_dims && n > 0 && (size_t)n < sizeof shape; d++)
        n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%llu", d ? ", " : "",
                      (unsigned long long)ev->ne[d]);
    if (n > 0 && (size_t)n < sizeof shape) snprintf(shape + n, sizeof shape - (size_t)n, "]");
    int w = snprintf(NULL, 0, "%llu", (unsigned long long)ev->count);
    fprintf(stderr, "[%*llu/%llu] %-32s %-5s -> %-5s %s%s\n", w, (unsigned long long)ev->index + 1,
            (unsigned long long)ev->count, ev->name, dname(ev->src_dtype), dname(ev->dst_dtype),
            shape, ev->src_dtype == ev->dst_dtype ? " (copied)" : "");
    return 0;
}

static double mib(uint64_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

int clg_cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--type")) {
            if (i + 1 >= argc) return fail_usage("%s needs a value", a);
            type = argv[++i];
        } else if (!strncmp(a, "--type=", 7)) {
            type = a + 7;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return fail_usage("unknown option '%s'", a);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return fail_usage("unexpected argument '%s' (one input and one output file)", a);
        }
    }
    if (!in || !out) return fail_usage("%s", "IN.gguf and OUT.gguf are required");
    if (!type) return fail_usage("--type is required (one of %s)", llm_convert_target_names());
    int dtype = llm_dtype_from_name(type);
    if (!llm_convert_target_ok(dtype)) {
        fprintf(stderr, "clgraph quantize: unknown --type '%s' (valid: %s)\n", type,
                llm_convert_target_names());
        return 2;
    }

    /* before the work: OUT must be a new path or a regular file, never the input itself */
    if (clg_file_check_output(out, "converted model", in) != CLG_OK) {
        fprintf(stderr, "clgraph quantize: %s\n", clg_last_error());
        return 2;
    }
    double t0 = clg_now_ns();
    llm_convert_stats s;
    clg_status st = llm_convert(in, out, dtype, progress, &quiet, &s);
    if (st != CLG_OK) {
        fprintf(stderr, "clgraph quantize: %s\n", clg_last_error());
        return 1;
    }
    double sec = 1e-9 * (clg_now_ns() - t0);
    fprintf(stderr,
            "clgraph quantize: wrote %s in %.2f s: %llu tensors (%llu %s, %llu f16 fallback, "
            "%llu other; %llu requantized, %llu copied)\n"
            "clgraph quantize: size %.2f MiB -> %.2f MiB (%llu -> %llu bytes)\n",
            out, sec, (unsigned long long)s.n_tensors, (unsigned long long)s.n_target, dname(dtype),
            (unsigned long long)s.n_fallback, (unsigned long long)s.n_other,
            (unsigned long long)s.n_requant, (unsigned long long)(s.n_tensors - s.n_requant),
            mib(s.in_bytes), mib(s.out_bytes), (unsigned long long)s.in_bytes,
            (unsigned long long)s.out_bytes);
    return 0;
}
