/* clgraph bench: prompt-processing (pp) and generation (tg) throughput of a GGUF model in the
 * manner of llama-bench, with peak host memory and the fraction of the memory roofline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "apps/args.h"
#include "apps/commands.h"
#include "apps/env.h"
#include "apps/generate.h"
#include "clgraph/llm.h"
#include "clgraph/report.h"
#include "clgraph/util.h"

/* Tokens evaluated (untimed) before the timed single-token steps of tg. */
enum { TG_PROMPT = 8, CTX_MARGIN = 16, MAX_DEFAULT_BATCH = 512, MAX_BENCH_SEQ = 256 };

typedef struct bench_opts {
    const char *model, *device;
    int n_prompt, n_gen, reps, n_batch, n_ctx, json, quiet, tune, act, layout, kv_f16;
    int attn_split;    /* --attn-split: the decode attention's position ranges (0: the default) */
    int n_seq;         /* tg: sequences decoded together, one token each per step */
    int depth;         /* -d: cache entries before pp and tg; -1: pp at position 0, tg after an
                          untimed TG_PROMPT-token prompt */
    int profile;       /* one more run of each test, profiled, its task table on stderr */
    const char *trace; /* --trace: the Chrome trace of the profiled tg run (pp with -n 0) */
    double bw_gbs;     /* > 0: use instead of probing */
    uint64_t seed;
    int build; /* --build: a clg_build_mode, -1 when not given */
} bench_opts;

/* Tokens per second of every repetition, sorted. */
typedef struct series {
    double *tps;
    int n;
} series;

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: clgraph bench -m MODEL.gguf [-p N] [-n N] [-d N] [-r N] [--seq N]\n"
        "                     [--device SEL] [--json|--md]\n"
        "\n"
        "Measures prompt processing (pp: one evaluation of N random tokens at position 0)\n"
        "and generation (tg: N single-token evaluations after an untimed %d-token prompt),\n"
        "after one warm-up run of each, as min / median tokens per second over the\n"
        "repetitions; peak host memory (VmHWM, else getrusage); the device and driver; the\n"
        "weight bytes a decode step reads; and the fraction of the memory roofline: bytes per\n"
        "token x tg tok/s / the device's read bandwidth, probed (clg_context_probe) before\n"
        "and after the runs, the higher of the two (other load on the machine lowers a\n"
        "probe, never raises it).\n"
        "\n"
        "options:\n"
        "  -m, --model FILE   GGUF model (general.architecture = llama)\n"
        "  -p, --n-prompt N   prompt tokens for pp (default 512; 0 skips pp)\n"
        "  -n, --n-gen N      generated tokens for tg (default 128; 0 skips tg)\n"
        "  -d, --depth N      both tests after an untimed prompt of N tokens: pp evaluates\n"
        "                     its tokens at position N, tg its steps from position N on\n"
        "                     (llama-bench's -d; the test is named pp512 @ d1024); the\n"
        "                     roofline still counts the weights only, not the cache\n"
        "  -r, --reps N       timed repetitions (default 5)\n"
        "  --seq N            tg decodes N sequences together (llm_model_eval_batch: one\n"
        "                     token of each per step, after an untimed prompt each) and\n"
        "                     reports their tokens per second together (default 1)\n"
        "  -b, --batch N      prompt tokens per batch (default: N of -p, at most %d)\n"
        "  --ctx N            context length (default: what pp and tg need, + %d)\n"
        "  --device SEL       OpenCL device: P:D, gpu, cpu, or part of a name (pocl)\n"
        "  --build MODE       kernels from source, spirv or auto (default auto)\n"
        "  --act MODE         activations of the quantized products: q8, f32 or auto (default)\n"
        "  --kv-f16           the KV cache in f16 (default f32)\n"
        "  --attn-split N     split the decode attention over N position ranges (flash\n"
        "                     decoding; default 8 on GPUs, 1 on CPUs)\n"
        "  --layout L         their weights: x8 (8 rows interleaved, where the type has it),\n"
        "                     rows (the file's), or auto (default: x8 on CPU devices, or\n"
        "                     what --tune measured faster there)\n"
        "  --tune             measure the kernel variants (and with --layout auto the two\n"
        "                     layouts) for this device first (cached)\n"
        "  --retune           measure them again, ignoring the plan cache\n"
        "  --bw GBS           read bandwidth for the roofline instead of probing the device\n"
        "  --seed N           seed of the random token ids (default 1)\n"
        "  --profile          after the timed repetitions, one more run of each test with\n"
        "                     profiling events (not counted): where its time went, per\n"
        "                     task, on stderr\n"
        "  --trace FILE.json  with --profile: a Chrome trace of the profiled tg run (pp with\n"
        "                     -n 0), every kernel and transfer (opens in Perfetto)\n"
        "  --md               markdown table on stdout (default)\n"
        "  --json             one JSON object on stdout\n"
        "  -q, --quiet        no progress on stderr\n",
        TG_PROMPT, MAX_DEFAULT_BATCH, CTX_MARGIN);
}

static int bad(const char *msg, const char *arg) {
    fprintf(stderr, "clgraph bench: %s%s\n(clgraph bench --help for usage)\n", msg, arg ? arg : "");
    return 2;
}

static int parse_int(const char *s, int lo, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > 1 << 24) return 0;
    *out = (int)v;
    return 1;
}

static int parse_args(bench_opts *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(x) (!strcmp(a, x))
        if (IS("-h") || IS("--help")) {
            usage(stdout);
            return 1;
        } else if (IS("--json")) {
            o->json = 1;
        } else if (IS("--md")) {
            o->json = 0;
        } else if (IS("-q") || IS("--quiet")) {
            o->quiet = 1;
        } else if (IS("--profile")) {
            o->profile = 1;
        } else if (IS("--kv-f16")) {
            o->kv_f16 = 1;
        } else if (IS("--tune") || IS("--retune")) {
            o->tune = IS("--retune") ? 2 : (o->tune > 1 ? o->tune : 1);
        } else if (IS("-m") || IS("--model") || IS("-p") || IS("--n-prompt") || IS("-n") ||
                   IS("--n-gen") || IS("-d") || IS("--depth") || IS("-r") || IS("--reps") ||
                   IS("-b") || IS("--batch") || IS("--ctx") || IS("--device") || IS("--build") ||
                   IS("--bw") || IS("--seed") || IS("--act") || IS("--layout") || IS("--seq") ||
                   IS("--attn-split") || IS("--trace")) {
            if (i + 1 >= argc) return bad("missing value for ", a);
            const char *v = argv[++i];
            int ok = 1;
            if (IS("-m") || IS("--model"))
                o->model = v;
            else if (IS("-p") || IS("--n-prompt"))
                ok = parse_int(v, 0, &o->n_prompt);
            else if (IS("-n") || IS("--n-gen"))
                ok = parse_int(v, 0, &o->n_gen);
            else if (IS("-d") || IS("--depth"))
                ok = parse_int(v, 0, &o->depth);
            else if (IS("-r") || IS("--reps"))
                ok = parse_int(v, 1, &o->reps);
            else if (IS("--attn-split"))
                ok = parse_int(v, 1, &o->attn_split);
            else if (IS("--seq"))
                ok = parse_int(v, 1, &o->n_seq) && o->n_seq <= MAX_BENCH_SEQ;
            else if (IS("-b") || IS("--batch"))
                ok = parse_int(v, 1, &o->n_batch);
            else if (IS("--ctx"))
                ok = parse_int(v, 1, &o->n_ctx);
            else if (IS("--device"))
                o->device = v;
            else if (IS("--trace"))
                o->trace = v;
            else if (IS("--act"))
                ok = (o->act = llm_act_from_name(v)) >= 0;
            else if (IS("--layout"))
                ok = (o->layout = llm_layout_from_name(v)) >= 0;
            else if (IS("--build"))
                ok = (o->build = app_build_from_name(v)) >= 0;
            else if (IS("--bw")) {
                char *end;
                o->bw_gbs = strtod(v, &end);
                ok = *v && !*end && o->bw_gbs > 0;
            } else {
                ok = app_parse_seed(v, &o->seed, NULL);
            }
            if (!ok) {
                fprintf(stderr, "clgraph bench: bad value '%s' for %s%s\n", v, a,
                        IS("--seed") ? " (" APP_SEED_RANGE ")" : "");
                return 2;
            }
        } else {
            return bad("unknown option: ", a);
        }
#undef IS
    }
    if (!o->model) return bad("no model given (-m MODEL.gguf)", NULL);
    if (!o->n_prompt && !o->n_gen) return bad("nothing to measure (-p 0 and -n 0)", NULL);
    if (o->trace && !o->profile) return bad("--trace needs --profile", NULL);
    return 0;
}

/* Tokens in the cache before tg's first timed step, and before pp's tokens. */
static int tg_prompt(const bench_opts *o) {
    return o->depth < 0 ? TG_PROMPT : o->depth;
}
static int pp_depth(const bench_opts *o) {
    return o->depth < 0 ? 0 : o->depth;
}

static double median(const series *s) {
    return clg_median(s->tps, (size_t)s->n);
}

/* A test is an untimed prompt (the cache before it) and the timed work after it. Each
 * returns 0 / tok/s, or < 0 on failure with the reason in clg_last_error. */
typedef int (*prompt_fn)(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                         float *logits);
typedef double (*timed_fn)(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                           float *logits);

/* tok[0 .. n) = random token ids of m's vocabulary. */
static void random_ids(const llm_model *m, int32_t *tok, int n, uint64_t *rng) {
    const uint64_t n_vocab = (uint64_t)llm_model_hparams(m)->n_vocab;
    for (int i = 0; i < n; i++)
        tok[i] = (int32_t)(clg_rng_next(rng) % n_vocab);
}

/* n random tokens evaluated at positions 0 .. n-1 (nothing for n = 0). */
static int fill_cache(llm_model *m, int n, int32_t *tok, uint64_t *rng, float *logits) {
    random_ids(m, tok, n, rng);
    return n && llm_model_eval(m, tok, n, 0, logits) != CLG_OK ? -1 : 0;
}

static int prompt_pp(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                     float *logits) {
    return fill_cache(m, pp_depth(o), tok, rng, logits);
}

/* pp: n_prompt random tokens at position pp_depth, one call. */
static double timed_pp(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                       float *logits) {
    random_ids(m, tok, o->n_prompt, rng);
    double t0 = clg_now_ns();
    if (llm_model_eval(m, tok, o->n_prompt, pp_depth(o), logits) != CLG_OK) return -1;
    return o->n_prompt / (1e-9 * (clg_now_ns() - t0));
}

static int prompt_tg(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                     float *logits) {
    return fill_cache(m, tg_prompt(o), tok, rng, logits);
}

/* tg: n_gen single-token steps from position tg_prompt on. */
static double timed_tg(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                       float *logits) {
    const int p0 = tg_prompt(o);
    double t0 = clg_now_ns();
    for (int i = 0; i < o->n_gen; i++) {
        random_ids(m, tok, 1, rng);
        if (llm_model_eval(m, tok, 1, p0 + i, logits) != CLG_OK) return -1;
    }
    return o->n_gen / (1e-9 * (clg_now_ns() - t0));
}

/* --seq: tok holds the tokens, then the positions, then the sequences of the largest call,
 * this many rows each. */
static int seq_rows(const bench_opts *o) {
    return o->n_seq * (tg_prompt(o) > 1 ? tg_prompt(o) : 1);
}

/* tg of n_seq sequences: a tg_prompt-token prompt each, in one call. */
static int prompt_tg_seqs(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                          float *logits) {
    const int S = o->n_seq, p0 = tg_prompt(o);
    int32_t *pos = tok + seq_rows(o), *seq = pos + seq_rows(o);
    random_ids(m, tok, S * p0, rng);
    for (int i = 0; i < S * p0; i++) {
        pos[i] = i % p0;
        seq[i] = i / p0;
    }
    return p0 && llm_model_eval_batch(m, tok, pos, seq, S * p0, NULL, logits) != CLG_OK ? -1 : 0;
}

/* n_gen steps of one token per sequence (one call each); the tokens of all sequences per
 * second. */
static double timed_tg_seqs(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                            float *logits) {
    const int S = o->n_seq, p0 = tg_prompt(o);
    int32_t *pos = tok + seq_rows(o), *seq = pos + seq_rows(o);
    uint8_t want[MAX_BENCH_SEQ];
    for (int s = 0; s < S; s++)
        seq[s] = s, want[s] = 1;
    double t0 = clg_now_ns();
    for (int i = 0; i < o->n_gen; i++) {
        random_ids(m, tok, S, rng);
        for (int s = 0; s < S; s++)
            pos[s] = p0 + i;
        if (llm_model_eval_batch(m, tok, pos, seq, S, want, logits) != CLG_OK) return -1;
    }
    return (double)S * o->n_gen / (1e-9 * (clg_now_ns() - t0));
}

/* One more run of a test (name and n tokens for the message) with a profiler on the step
 * plan it runs (plan: 0 decode, 1 prefill), its task table of `steps` steps on stderr, and
 * its Chrome trace into trace (NULL: none). Returns 0, or 1 after printing why. */
static int profile_run(llm_model *m, const bench_opts *o, int32_t *tok, uint64_t *rng,
                       float *logits, prompt_fn prompt, timed_fn timed, const char *name, int n,
                       int plan, int steps, const char *trace) {
    if (prompt(m, o, tok, rng, logits) < 0) { /* before the profiler: not in its events */
        fprintf(stderr, "clgraph bench: %s\n", clg_last_error());
        return 1;
    }
    clg_profiler *p = NULL;
    if (clg_profiler_create(llm_model_context(m), trace != NULL, &p) != CLG_OK) {
        fprintf(stderr, "clgraph bench: no profile: %s\n", clg_last_error());
        return 1;
    }
    fprintf(stderr, "clgraph bench: %s%d profiled\n", name, n);
    double t0 = clg_now_ns(), tps = timed(m, o, tok, rng, logits);
    double wall = 1e-9 * (clg_now_ns() - t0);
    int rc = tps < 0;
    if (rc)
        fprintf(stderr, "clgraph bench: %s\n", clg_last_error());
    else if (clg_profiler_report(p, llm_model_step_plan(m, plan), wall, steps, stderr, NULL,
                                 trace) != CLG_OK) {
        fprintf(stderr, "clgraph bench: %s\n", clg_last_error());
        rc = 1;
    }
    clg_profiler_destroy(p);
    return rc;
}

/* Peak resident memory so far (Linux VmHWM, else getrusage), bytes. */
static uint64_t peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb) return (uint64_t)kb * 1024;
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0; /* KiB on Linux */
}

/* Restarts the peak at the current size (Linux >= 4.0), so that the probe's buffer, freed
 * again, does not count as the model's memory. 0 when it could not. */
static int peak_rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static int probe(llm_model *m, const bench_opts *o, double *gbs) {
    clg_probe p;
    if (!o->quiet) fprintf(stderr, "clgraph bench: probing read bandwidth\n");
    if (clg_context_probe(llm_model_context(m), &p) != CLG_OK) {
        fprintf(stderr, "clgraph bench: probe: %s\n", clg_last_error());
        return 1;
    }
    *gbs = p.read_gbs;
    return 0;
}

static void on_progress(void *user, const char *stage, size_t done, size_t total) {
    (void)user;
    if (done == total) fprintf(stderr, "clgraph bench: %s: %zu/%zu done\n", stage, done, total);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- output ---------------------------------------------------------------- */

typedef struct results {
    const bench_opts *o;
    const llm_model *m;
    const llm_hparams *hp;
    const clg_device_info *dev;
    uint64_t model_bytes, n_params, bytes_per_token, peak_rss;
    double read_gbs, load_s, probe_gbs[2]; /* before and after the runs */
    int probed;
    series pp, tg;
} results;

/* The planner's kinds of the decode plan's weight products, and its attention. */
static const char *const plan_tasks[] = {"decode.qkv",        "decode.attn_output",
                                         "decode.ffn_swiglu", "decode.ffn_down",
                                         "decode.output",     "decode.attention"};
enum { N_PLAN_TASKS = sizeof plan_tasks / sizeof plan_tasks[0] };

static void json_series(FILE *f, const char *name, const series *s, int n_tokens) {
    fprintf(f,
            "  \"%s\": {\"n_tokens\": %d, \"tok_s_min\": %.3f, \"tok_s_median\": %.3f, "
            "\"tok_s_max\": %.3f, \"samples\": [",
            name, n_tokens, s->n ? s->tps[0] : 0.0, median(s), s->n ? s->tps[s->n - 1] : 0.0);
    for (int i = 0; i < s->n; i++)
        fprintf(f, "%s%.3f", i ? ", " : "", s->tps[i]);
    fprintf(f, "]},\n");
}

static void print_json(FILE *f, const results *r) {
    const bench_opts *o = r->o;
    fprintf(f, "{\n  \"model\": ");
    clg_json_str(f, o->model);
    fprintf(f, ",\n  \"model_bytes\": %llu,\n  \"n_params\": %llu,\n  \"weight_type\": ",
            (unsigned long long)r->model_bytes, (unsigned long long)r->n_params);
    clg_json_str(f, r->hp->weight_types);
    fprintf(f, ",\n  \"n_layer\": %d, \"n_embd\": %d, \"n_vocab\": %d,\n", r->hp->n_layer,
            r->hp->n_embd, r->hp->n_vocab);
    fprintf(f, "  \"device\": {\"name\": ");
    clg_json_str(f, r->dev->device_name);
    fprintf(f, ", \"platform\": ");
    clg_json_str(f, r->dev->platform_name);
    fprintf(f, ", \"platform_version\": ");
    clg_json_str(f, r->dev->platform_version);
    fprintf(f, ", \"driver\": ");
    clg_json_str(f, r->dev->driver_version);
    fprintf(f, ", \"compute_units\": %u},\n", r->dev->compute_units);
    fprintf(f,
            "  \"n_ctx\": %d, \"n_batch\": %d, \"n_seq\": %d, \"reps\": %d, \"warmup\": 1, "
            "\"tg_prompt\": %d,\n",
            r->hp->n_ctx, r->hp->n_batch, o->n_seq, o->reps, tg_prompt(o));
    fprintf(f, "  \"pp_depth\": %d, \"kv_cache\": \"%s\",\n", pp_depth(o),
            r->hp->kv_f16 ? "f16" : "f32");
    fprintf(f, "  \"decode_plan\": {");
    for (int i = 0, k = 0; i < N_PLAN_TASKS; i++) {
        const clg_kind *kind = clg_planner_find_kind(llm_model_planner(r->m), plan_tasks[i]);
        if (!kind) continue;
        const clg_choice *c = clg_kind_choice(kind);
        fprintf(f, "%s\"%s\": {\"variant\": ", k++ ? ", " : "", plan_tasks[i] + 7);
        clg_json_str(f, c->label);
        fprintf(f, ", \"tuned\": %s}", c->tuned ? "true" : "false");
    }
    fprintf(f, "},\n");
    llm_layout_choice lc = llm_model_layout_choice(r->m);
    fprintf(f,
            "  \"layout\": {\"layout\": \"%s\", \"how\": \"%s\", \"x8_ms\": %.3f, \"rows_ms\": "
            "%.3f, \"tokens\": %d},\n",
            llm_layout_name(lc.layout), llm_layout_how_name(lc.how), lc.x8_ns / 1e6,
            lc.rows_ns / 1e6, lc.tokens);
    if (o->n_prompt) json_series(f, "pp", &r->pp, o->n_prompt);
    if (o->n_gen) json_series(f, "tg", &r->tg, o->n_gen);
    const double steps = median(&r->tg) / o->n_seq; /* a step reads the weights once */
    double roof = r->read_gbs > 0 ? (double)r->bytes_per_token * steps / (r->read_gbs * 1e9) : 0;
    fprintf(f, "  \"weight_bytes_per_token\": %llu,\n", (unsigned long long)r->bytes_per_token);
    fprintf(f, "  \"read_gbs\": %.3f, \"read_gbs_source\": \"%s\",", r->read_gbs,
            r->probed ? "probe" : "--bw");
    if (r->probed)
        fprintf(f, " \"probe_gbs_before\": %.3f, \"probe_gbs_after\": %.3f,", r->probe_gbs[0],
                r->probe_gbs[1]);
    fprintf(f, "\n");
    if (o->n_gen) {
        fprintf(f, "  \"tg_gbs\": %.3f,\n", (double)r->bytes_per_token * steps / 1e9);
        fprintf(f, "  \"roofline_fraction\": %.4f,\n", roof);
    }
    fprintf(f, "  \"load_s\": %.3f,\n  \"peak_rss_bytes\": %llu\n}\n", r->load_s,
            (unsigned long long)r->peak_rss);
}

static void md_row(FILE *f, const results *r, const char *label, const char *test, const series *s,
                   int tg) {
    fprintf(f, "| %s | %.2f MiB | %.2f M | %s | %s | %.2f | %.2f |", label,
            r->model_bytes / 1048576.0, r->n_params / 1e6, r->dev->device_name, test, median(s),
            s->n ? s->tps[0] : 0.0);
    if (tg && r->read_gbs > 0) { /* a step of n_seq tokens reads the weights once */
        double gbs = (double)r->bytes_per_token * median(s) / r->o->n_seq / 1e9;
        fprintf(f, " %.2f | %.1f%% |\n", gbs, 100.0 * gbs / r->read_gbs);
    } else {
        fprintf(f, " | |\n");
    }
}

static void print_md(FILE *f, const results *r) {
    const bench_opts *o = r->o;
    char label[160], test[48], at[24] = "";
    if (o->depth >= 0) snprintf(at, sizeof at, " @ d%d", o->depth);
    snprintf(label, sizeof label, "%s (%s)", base_name(o->model), r->hp->weight_types);
    fprintf(f,
            "| model | size | params | device | test | t/s median | t/s min | GB/s | roofline |\n");
    fprintf(f, "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |\n");
    if (o->n_prompt) {
        snprintf(test, sizeof test, "pp%d%s", o->n_prompt, at);
        md_row(f, r, label, test, &r->pp, 0);
    }
    if (o->n_gen) {
        if (o->n_seq > 1)
            snprintf(test, sizeof test, "tg%d%s x %d seqs", o->n_gen, at, o->n_seq);
        else
            snprintf(test, sizeof test, "tg%d%s", o->n_gen, at);
        md_row(f, r, label, test, &r->tg, 1);
    }
    fprintf(f, "\ndevice: %s, %s, driver %s, %u compute units\n", r->dev->device_name,
            r->dev->platform_version, r->dev->driver_version, r->dev->compute_units);
    fprintf(f, "weights read per token: %.2f MB; read bandwidth %.2f GB/s",
            r->bytes_per_token / 1e6, r->read_gbs);
    if (r->probed)
        fprintf(f, " (clg_context_probe, before %.2f / after %.2f)\n", r->probe_gbs[0],
                r->probe_gbs[1]);
    else
        fprintf(f, " (--bw)\n");
    fprintf(f,
            "%d repetitions after 1 warm-up; ctx %d, batch %d, KV cache %s; peak host memory %.1f "
            "MiB; load %.1f s\n",
            o->reps, r->hp->n_ctx, r->hp->n_batch, r->hp->kv_f16 ? "f16" : "f32",
            r->peak_rss / 1048576.0, r->load_s);
    gen_layout_text(f, r->m);
    fprintf(f, "decode plan:");
    for (int i = 0; i < N_PLAN_TASKS; i++) {
        const clg_kind *kind = clg_planner_find_kind(llm_model_planner(r->m), plan_tasks[i]);
        if (kind)
            fprintf(f, " %s %s (%s);", plan_tasks[i] + 7, clg_kind_choice(kind)->label,
                    clg_kind_choice(kind)->tuned ? "tuned" : "default");
    }
    fprintf(f, "\n");
}

/* ---- main -------------------------------------------------------------------- */

int clg_cmd_bench(int argc, char **argv) {
    bench_opts o = {0};
    o.n_prompt = 512;
    o.n_gen = 128;
    o.reps = 5;
    o.seed = 1;
    o.build = -1;
    o.n_seq = 1;
    o.depth = -1;
    int rc = parse_args(&o, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;

    const int pp_need = o.n_prompt ? pp_depth(&o) + o.n_prompt : 0;
    const int tg_need = o.n_gen ? tg_prompt(&o) + o.n_gen : 0;
    int need = pp_need > tg_need ? pp_need : tg_need;
    llm_model_options mo = llm_model_options_default();
    if ((rc = app_env_model_options(&mo, "bench"))) return rc;
    if (o.device) mo.device = o.device;
    if (o.build >= 0) mo.build = (clg_build_mode)o.build;
    mo.tune = o.tune;
    mo.act = o.act;
    mo.layout = o.layout;
    mo.n_seq = o.n_seq;
    mo.kv_f16 = o.kv_f16;
    mo.attn_split = o.attn_split;
    mo.profiling = o.profile;
    mo.n_ctx = o.n_ctx ? o.n_ctx : need + CTX_MARGIN;
    mo.n_batch = o.n_batch ? o.n_batch
                           : (o.n_prompt > MAX_DEFAULT_BATCH ? MAX_DEFAULT_BATCH
                              : o.n_prompt > TG_PROMPT       ? o.n_prompt
                                                             : TG_PROMPT);
    if (!o.n_batch && mo.n_batch < o.n_seq) mo.n_batch = o.n_seq; /* a tg step in one batch */
    if (mo.n_ctx < need) {
        fprintf(stderr, "clgraph bench: --ctx %d is smaller than the %d tokens pp and tg need\n",
                mo.n_ctx, need);
        return 2;
    }
    if (!o.quiet) mo.progress = on_progress;

    results r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    llm_model *m = NULL;
    int32_t *tok = NULL;
    float *logits = NULL;
    rc = 1;
    double t0 = clg_now_ns();
    if (llm_model_load(o.model, &mo, &m) != CLG_OK) {
        fprintf(stderr, "clgraph bench: cannot load %s: %s\n", o.model, clg_last_error());
        goto done;
    }
    r.load_s = 1e-9 * (clg_now_ns() - t0);
    r.m = m;
    uint64_t peak_load = peak_rss();
    int peak_reset = 0;
    if (o.bw_gbs <= 0) {
        if (probe(m, &o, &r.probe_gbs[0])) goto done;
        peak_reset = peak_rss_reset();
    }
    r.hp = llm_model_hparams(m);
    r.dev = clg_context_device(llm_model_context(m));
    const llm_gguf *g = llm_model_gguf(m);
    for (uint64_t i = 0; i < llm_gguf_tensor_count(g); i++) {
        r.model_bytes += llm_gguf_tensor_at(g, i)->bytes;
        r.n_params += llm_gguf_tensor_at(g, i)->n_elems;
    }
    r.bytes_per_token = llm_model_weight_bytes_per_token(m);
    /* tokens, and for --seq also positions and sequences, of the largest call */
    size_t n_tok = (size_t)3 * (size_t)seq_rows(&o);
    if ((size_t)o.n_prompt > n_tok) n_tok = (size_t)o.n_prompt;
    if ((size_t)pp_depth(&o) > n_tok) n_tok = (size_t)pp_depth(&o);
    tok = malloc(n_tok * sizeof *tok);
    logits = malloc((size_t)o.n_seq * (size_t)r.hp->n_vocab * sizeof *logits);
    r.pp.tps = calloc((size_t)o.reps, sizeof(double));
    r.tg.tps = calloc((size_t)o.reps, sizeof(double));
    if (!tok || !logits || !r.pp.tps || !r.tg.tps) {
        fprintf(stderr, "clgraph bench: out of memory\n");
        goto done;
    }

    uint64_t rng = clg_rng_seed(o.seed);
    const struct {
        int n;
        series *s;
        prompt_fn prompt;
        timed_fn timed;
        const char *name;
    } tests[2] = {{o.n_prompt, &r.pp, prompt_pp, timed_pp, "pp"},
                  {o.n_gen, &r.tg, o.n_seq > 1 ? prompt_tg_seqs : prompt_tg,
                   o.n_seq > 1 ? timed_tg_seqs : timed_tg, "tg"}};
    for (int k = 0; k < 2; k++) {
        if (!tests[k].n) continue;
        for (int rep = -1; rep < o.reps; rep++) { /* rep -1: the warm-up */
            if (!o.quiet)
                fprintf(stderr, "clgraph bench: %s%d %s", tests[k].name, tests[k].n,
                        rep < 0 ? "warm-up" : "");
            if (!o.quiet && rep >= 0) fprintf(stderr, "%d/%d", rep + 1, o.reps);
            double tps = tests[k].prompt(m, &o, tok, &rng, logits) < 0
                             ? -1
                             : tests[k].timed(m, &o, tok, &rng, logits);
            if (tps < 0) {
                fprintf(stderr, "\nclgraph bench: %s\n", clg_last_error());
                goto done;
            }
            if (!o.quiet) fprintf(stderr, ": %.2f tok/s\n", tps);
            if (rep >= 0) tests[k].s->tps[tests[k].s->n++] = tps;
        }
        qsort(tests[k].s->tps, (size_t)tests[k].s->n, sizeof(double), clg_cmp_double);
        if (o.profile && profile_run(m, &o, tok, &rng, logits, tests[k].prompt, tests[k].timed,
                                     tests[k].name, tests[k].n, k == 0 || o.n_seq > 1,
                                     k == 0 ? 1 : tests[k].n, k == 1 || !o.n_gen ? o.trace : NULL))
            goto done;
    }
    /* Peak memory of loading and running, before the second probe (whose buffer is not the
     * model's); the first one's is excluded by the reset, or counted when that failed. */
    r.peak_rss = peak_rss();
    if (peak_reset && peak_load > r.peak_rss) r.peak_rss = peak_load;
    if (o.bw_gbs > 0) {
        r.read_gbs = o.bw_gbs;
    } else {
        if (probe(m, &o, &r.probe_gbs[1])) goto done;
        r.read_gbs = r.probe_gbs[0] > r.probe_gbs[1] ? r.probe_gbs[0] : r.probe_gbs[1];
        r.probed = 1;
    }
    if (o.json)
        print_json(stdout, &r);
    else
        print_md(stdout, &r);
    rc = 0;
done:
    free(tok);
    free(logits);
    free(r.pp.tps);
    free(r.tg.tps);
    llm_model_destroy(m);
    return rc;
}
