/* Shared by clgraph run and chat: options, loading with progress, generation. */
#include "apps/generate.h"
#include "apps/args.h"
#include "apps/env.h"
#include "clgraph/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void gen_options_init(gen_options *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->build = -1;
    o->sampling = llm_sampler_params_default();
}

const char *gen_options_help(void) {
    return "  -m, --model FILE        GGUF model (general.architecture = llama)\n"
           "  -n, --n-predict N       tokens to generate (default 128; -1 = until the context "
           "ends)\n"
           "  --temp T                temperature (default 0.8; 0 = greedy)\n"
           "  --top-k K               keep the K most likely tokens (default 40; 0 = off)\n"
           "  --top-p P               nucleus sampling mass (default 0.95; 1 = off)\n"
           "  --min-p P               drop tokens below P x the best one's probability (default "
           "0.05)\n"
           "  --repeat-penalty R      penalty on the last 64 tokens (default 1.0 = off)\n"
           "  --seed S                random seed, 0 .. 2^64-1 (default or -1: a random one, "
           "printed)\n"
           "  --ctx N                 context length (default min(2048, the model's))\n"
           "  --batch N               prompt tokens per batch (default 64)\n"
           "  --device SEL            OpenCL device: P:D, gpu, cpu, or part of a name (pocl, "
           "nvidia)\n"
           "  --build MODE            kernels from source, spirv or auto (default auto)\n"
           "  --system TEXT           system message (chat template)\n"
           "  --template NAME         chat template, overriding the model's\n"
           "  --profile [FILE.json]   profile of the decode steps on stderr: tasks by time with\n"
           "                          GB/s, transfers, launches per token, where the wall time\n"
           "                          went; with FILE.json also as JSON\n"
           "  --trace FILE.json       Chrome trace of the decode steps (opens in Perfetto)\n"
           "  --kv-f16                keep the KV cache in f16 (half the memory)\n"
           "  --act MODE              activations of the quantized products: q8 (8-bit, as\n"
           "                          llama.cpp's CPU backend; fastest on CPUs), f32, or auto\n"
           "                          (default: q8 on CPU devices where the weights allow it)\n"
           "  --layout L              weights of the 8-bit products: x8 (8 rows interleaved,\n"
           "                          repacked at load, where the type has it), rows (the\n"
           "                          file's), or auto (default: x8 on CPU devices, or what\n"
           "                          --tune measured faster there)\n"
           "  --tune                  measure kernel variants for this device (cached; see clgraph "
           "plan)\n"
           "  --retune                measure them again, ignoring the plan cache\n"
           "  --plan-dump [FILE]      print the plan (graphs, kernels, variants, sizes) to FILE or "
           "stderr\n"
           "  -q, --quiet             no progress or summary on stderr\n"
           "  -v, --verbose           where the start-up time went: kernel builds (from the\n"
           "                          program cache or not), weight upload, first token\n";
}

static int need(int argc, char **argv, int i, const char *cmd) {
    if (i + 1 >= argc) {
        fprintf(stderr, "clgraph %s: option %s needs a value\n", cmd, argv[i]);
        return 0;
    }
    return 1;
}

static int parse_int(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < -1 || v > 1 << 30) return 0;
    *out = (int)v;
    return 1;
}

static int parse_float(const char *s, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end) return 0;
    *out = (float)v;
    return 1;
}

int gen_parse_option(gen_options *o, int argc, char **argv, int *i, const char *cmd) {
    const char *a = argv[*i];
    int ok = 1;
#define IS(x) (!strcmp(a, x))
    if (IS("-m") || IS("--model") || IS("-p") || IS("--prompt") || IS("-f") || IS("--file") ||
        IS("-n") || IS("--n-predict") || IS("--temp") || IS("--top-k") || IS("--top-p") ||
        IS("--min-p") || IS("--repeat-penalty") || IS("--seed") || IS("--ctx") || IS("--batch") ||
        IS("--device") || IS("--system") || IS("--template") || IS("--build") || IS("--act") ||
        IS("--layout")) {
        if (!need(argc, argv, *i, cmd)) return -1;
        const char *v = argv[++*i];
        if (IS("-m") || IS("--model"))
            o->model = v;
        else if (IS("-p") || IS("--prompt"))
            o->prompt = v;
        else if (IS("-f") || IS("--file"))
            o->prompt_file = v;
        else if (IS("-n") || IS("--n-predict"))
            ok = parse_int(v, &o->n_predict);
        else if (IS("--temp"))
            ok = parse_float(v, &o->sampling.temperature);
        else if (IS("--top-k"))
            ok = parse_int(v, &o->sampling.top_k);
        else if (IS("--top-p"))
            ok = parse_float(v, &o->sampling.top_p);
        else if (IS("--min-p"))
            ok = parse_float(v, &o->sampling.min_p);
        else if (IS("--repeat-penalty"))
            ok = parse_float(v, &o->sampling.repeat_penalty);
        else if (IS("--seed")) {
            int random;
            if (!app_parse_seed(v, &o->sampling.seed, &random)) {
                fprintf(stderr,
                        "clgraph %s: bad value '%s' for --seed: expected " APP_SEED_RANGE
                        ", or -1 for a random seed\n",
                        cmd, v);
                return -1;
            }
            o->seed_given = !random;
        } else if (IS("--ctx"))
            ok = parse_int(v, &o->n_ctx) && o->n_ctx > 0;
        else if (IS("--batch"))
            ok = parse_int(v, &o->n_batch) && o->n_batch > 0;
        else if (IS("--device"))
            o->device = v;
        else if (IS("--system"))
            o->system = v;
        else if (IS("--act"))
            ok = (o->act = llm_act_from_name(v)) >= 0;
        else if (IS("--layout"))
            ok = (o->layout = llm_layout_from_name(v)) >= 0;
        else if (IS("--template"))
            o->template_name = v;
        else if (IS("--build"))
            ok = (o->build = app_build_from_name(v)) >= 0;
        if (!ok) {
            fprintf(stderr, "clgraph %s: bad value '%s' for %s\n", cmd, v, argv[*i - 1]);
            return -1;
        }
        return 1;
    }
    if (IS("-q") || IS("--quiet")) {
        o->quiet = 1;
        return 1;
    }
    if (IS("-v") || IS("--verbose")) {
        o->verbose = 1;
        return 1;
    }
    if (IS("--profile")) { /* the file is optional: taken when the next word is no option */
        if (*i + 1 < argc && argv[*i + 1][0] && argv[*i + 1][0] != '-')
            o->profile_json = argv[++*i];
        o->profile = 1;
        return 1;
    }
    if (IS("--trace")) {
        if (!need(argc, argv, *i, cmd)) return -1;
        o->trace_json = argv[++*i];
        o->profile = 1;
        return 1;
    }
    if (IS("--kv-f16")) {
        o->kv_f16 = 1;
        return 1;
    }
    if (IS("--tune") || IS("--retune")) {
        o->tune = IS("--retune") ? 2 : (o->tune > 1 ? o->tune : 1);
        return 1;
    }
    if (IS("--plan-dump")) { /* FILE is optional */
        o->plan_dump =
            *i + 1 < argc && argv[*i + 1][0] && argv[*i + 1][0] != '-' ? argv[++*i] : "-";
        return 1;
    }
#undef IS
    return 0;
}

/* The reader of run -f and perplexity -f (apps/generate.h). */
char *gen_read_text_file(const char *path, const char *cmd, const char *what) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "clgraph %s: cannot read the %s %s: %s\n", cmd, what, path,
                strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap *= 2) : NULL;
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    const char *nul = buf && !err ? memchr(buf, 0, n) : NULL;
    if (!buf || err || nul) {
        if (!buf)
            fprintf(stderr, "clgraph %s: no memory for the %s %s\n", cmd, what, path);
        else if (err)
            fprintf(stderr, "clgraph %s: cannot read the %s %s: %s\n", cmd, what, path,
                    strerror(err));
        else
            fprintf(stderr,
                    "clgraph %s: the %s %s holds a NUL byte at offset %zu: it must be text\n", cmd,
                    what, path, (size_t)(nul - buf));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* CPU seconds of the process so far, all threads, user and system. */
static double cpu_s(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u)) return 0;
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static void on_progress(void *user, const char *stage, size_t done, size_t total) {
    static const char *last;
    gen_startup *su = user;
    double t = 1e-9 * (clg_now_ns() - su->t0_ns);
    int i = 0;
    while (i < su->n && strcmp(su->stage[i], stage))
        i++;
    if (i == su->n && i < GEN_STAGES) {
        su->stage[su->n++] = stage;
        su->begin[i] = t;
    }
    if (i < su->n) su->end[i] = t;
    int tty = isatty(2);
    if (su->quiet) return;
    if (tty) {
        fprintf(stderr, "\r%-20s %zu/%zu   ", stage, done, total);
        if (done == total) fputc('\n', stderr);
    } else if (stage != last || done == total) {
        if (done == total) fprintf(stderr, "%s: %zu/%zu done\n", stage, done, total);
    }
    last = stage;
}

clg_status gen_plan_dump(FILE *f, const llm_model *m, int json) {
    static const char *const names[2] = {"decode", "prefill"};
    clg_plan *const plans[2] = {llm_model_step_plan(m, 0), llm_model_step_plan(m, 1)};
    clg_status st = clg_plan_dump(f, llm_model_planner(m), names, plans, 2, json);
    if (st == CLG_OK && !json) gen_layout_text(f, m);
    return st;
}

void gen_layout_text(FILE *f, const llm_model *m) {
    llm_layout_choice c = llm_model_layout_choice(m);
    const char *name = llm_layout_name(c.layout);
    if (c.how == LLM_LAYOUT_MEASURED || c.how == LLM_LAYOUT_CACHED)
        fprintf(f,
                "weight layout: %s (measured%s: x8 %.2f ms, rows %.2f ms for a %d-token prefill "
                "and %d decode steps)\n",
                name, c.how == LLM_LAYOUT_CACHED ? " earlier, cached" : "", c.x8_ns / 1e6,
                c.rows_ns / 1e6, c.tokens, c.tokens > 0 ? c.tokens : 1);
    else if (c.how == LLM_LAYOUT_DEFAULT)
        fprintf(f, "weight layout: %s (the device type's default%s)\n", name,
                c.layout == LLM_LAYOUT_X8 ? "; --tune measures it against rows" : "");
    else
        fprintf(f, "weight layout: %s (--layout)\n", name);
}

/* clg_write_fn of --plan-dump FILE. */
static clg_status plan_text(void *model, FILE *f) {
    return gen_plan_dump(f, model, 0);
}

int gen_session_open(gen_session *s, const gen_options *o, const char *cmd) {
    memset(s, 0, sizeof *s);
    if (!o->model) {
        fprintf(stderr, "clgraph %s: no model given (-m MODEL.gguf; see --help)\n", cmd);
        return 1;
    }
    clg_status st = llm_sampler_params_check(&o->sampling);
    if (st != CLG_OK) {
        fprintf(stderr, "clgraph %s: %s\n", cmd, clg_last_error());
        return 1;
    }
    llm_model_options mo = llm_model_options_default();
    if (app_env_model_options(&mo, cmd)) return 1;
    if (o->device) mo.device = o->device;
    if (o->build >= 0) mo.build = (clg_build_mode)o->build;
    mo.n_ctx = o->n_ctx;
    mo.n_batch = o->n_batch;
    mo.n_seq = o->n_seq;
    mo.profiling = o->profile;
    mo.tune = o->tune;
    mo.kv_f16 = o->kv_f16;
    mo.act = o->act;
    mo.layout = o->layout;
    mo.progress = on_progress;
    s->startup.quiet = o->quiet;
    s->verbose = o->verbose;
    mo.progress_user = &s->startup;
    double t0 = clg_now_ns();
    s->startup.t0_ns = t0;
    s->startup.cpu0 = cpu_s();
    if ((st = llm_model_load(o->model, &mo, &s->model)) != CLG_OK) {
        fprintf(stderr, "clgraph %s: cannot load %s: %s\n", cmd, o->model, clg_last_error());
        return 1;
    }
    const llm_hparams *hp = llm_model_hparams(s->model);
    s->startup.loaded = 1e-9 * (clg_now_ns() - t0);
    if (!o->quiet)
        fprintf(stderr,
                "loaded %s in %.1f s: %d layers, %d embd, %d heads (%d kv), vocab %d, ctx %d, %s "
                "weights, on %s\n",
                o->model, 1e-9 * (clg_now_ns() - t0), hp->n_layer, hp->n_embd, hp->n_head,
                hp->n_head_kv, hp->n_vocab, hp->n_ctx, hp->weight_types,
                clg_context_device(llm_model_context(s->model))->device_name);
    if (o->plan_dump) {
        st = strcmp(o->plan_dump, "-")
                 ? clg_file_write_atomic(o->plan_dump, "plan", plan_text, s->model)
                 : gen_plan_dump(stderr, s->model, 0);
        if (st != CLG_OK) {
            fprintf(stderr, "clgraph %s: %s\n", cmd, clg_last_error());
            return 1;
        }
    }
    if ((st = llm_tokenizer_create(llm_model_gguf(s->model), &s->tok)) != CLG_OK) {
        fprintf(stderr, "clgraph %s: tokenizer: %s\n", cmd, clg_last_error());
        return 1;
    }
    if (o->template_name) {
        int t = llm_chat_template_from_name(o->template_name);
        if (t < 0) {
            fprintf(stderr, "clgraph %s: unknown template '%s' (known: %s)\n", cmd,
                    o->template_name, llm_chat_template_names());
            return 1;
        }
        s->tmpl = (llm_chat_template)t;
        s->has_template = 1;
    } else if (llm_chat_template_from_gguf(llm_model_gguf(s->model), &s->tmpl) == CLG_OK) {
        s->has_template = 1;
        /* Templates such as SmolLM2's print a system prompt when the conversation has none. */
        llm_gguf_str jinja;
        if (llm_gguf_get_str(llm_model_gguf(s->model), "tokenizer.chat_template", &jinja) ==
                CLG_OK &&
            llm_chat_template_default_system(jinja.ptr, (size_t)jinja.len, &s->default_system) !=
                CLG_OK)
            s->default_system = NULL;
    }
    llm_sampler_params sp = o->sampling;
    s->device_greedy = sp.temperature <= 0 && sp.repeat_penalty == 1.0f;
    if (!o->seed_given) {
        sp.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)clg_now_ns();
        if (!s->device_greedy && !o->quiet)
            fprintf(stderr, "seed %llu (random; --seed %llu repeats the run)\n",
                    (unsigned long long)sp.seed, (unsigned long long)sp.seed);
    }
    if ((st = llm_sampler_create(&sp, hp->n_vocab, &s->sampler)) != CLG_OK) {
        fprintf(stderr, "clgraph %s: %s\n", cmd, clg_last_error());
        return 1;
    }
    s->logits = malloc((size_t)hp->n_vocab * sizeof(float));
    s->hist = malloc((size_t)hp->n_ctx * sizeof(int32_t));
    if (!s->logits || !s->hist) {
        fprintf(stderr, "clgraph %s: out of memory\n", cmd);
        return 1;
    }
    return 0;
}

void gen_session_close(gen_session *s) {
    if (s->model && (s->verbose || !s->startup.quiet)) {
        clg_context *ctx = llm_model_context(s->model);
        clg_build_stats b;
        clg_context_build_stats(ctx, &b);
        if (b.pending) { /* seconds on a first run: say what the wait is */
            if (s->verbose)
                fprintf(stderr, "[start-up] writing %u program cache entries ...", b.pending);
            else
                fprintf(stderr, "caching %u compiled programs for the next start ...", b.pending);
            unsigned n = clg_context_store_programs(ctx);
            clg_context_build_stats(ctx, &b);
            fprintf(stderr, " %u written in %.2f s\n", n, b.store_s);
        }
    }
    llm_sampler_destroy(s->sampler);
    llm_tokenizer_destroy(s->tok);
    llm_model_destroy(s->model);
    free(s->logits);
    free(s->hist);
    free(s->default_system);
    memset(s, 0, sizeof *s);
}

static int append(char **buf, size_t *len, const char *text, size_t n) {
    char *p = realloc(*buf, *len + n + 1);
    if (!p) return 0;
    memcpy(p + *len, text, n);
    *len += n;
    p[*len] = 0;
    *buf = p;
    return 1;
}

int gen_prompt_fits(const gen_session *s, int n_prompt, const char *cmd) {
    int n_ctx = llm_model_hparams(s->model)->n_ctx;
    if (n_prompt < 1) {
        fprintf(stderr, "clgraph %s: the prompt is empty\n", cmd);
        return 0;
    }
    if (n_prompt >= n_ctx) {
        fprintf(stderr,
                "clgraph %s: the prompt has %d tokens, more than the context of %d leaves room for "
                "(--ctx)\n",
                cmd, n_prompt, n_ctx);
        return 0;
    }
    return 1;
}

/* Writes text to stdout and flushes it; 0 with a message naming why when the output cannot
 * take it (a full disk, a closed pipe with SIGPIPE ignored), so generation stops there. */
static int put_text(const char *text, size_t len, const char *cmd) {
    if ((len && fwrite(text, 1, len, stdout) != len) || fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "\nclgraph %s: cannot write the output: %s\n", cmd, strerror(errno));
        return 0;
    }
    return 1;
}

int gen_run(gen_session *s, const int32_t *prompt, int n_prompt, int n_predict,
            volatile sig_atomic_t *stop, char **reply, const char *cmd) {
    const llm_hparams *hp = llm_model_hparams(s->model);
    if (!gen_prompt_fits(s, n_prompt, cmd)) return 1;
    /* Reuse the cached prefix; at least the last prompt token is evaluated for its logits. */
    int keep = 0;
    while (keep < s->n_hist && keep < n_prompt - 1 && s->hist[keep] == prompt[keep])
        keep++;
    double t0 = clg_now_ns();
    /* One batch per call, as the model splits it anyway, so that *stop acts between batches;
     * only the last batch reads back logits, or with greedy decoding without penalty the
     * arg-max taken on the device. */
    int32_t next = -1;
    int pos = keep, batch = hp->n_batch > 0 ? hp->n_batch : n_prompt;
    clg_status st = CLG_OK;
    while (st == CLG_OK && pos < n_prompt && !(stop && *stop)) {
        int k = n_prompt - pos < batch ? n_prompt - pos : batch, last = pos + k == n_prompt;
        st = last && s->device_greedy
                 ? llm_model_eval_greedy(s->model, prompt + pos, k, pos, &next)
                 : llm_model_eval(s->model, prompt + pos, k, pos, last ? s->logits : NULL);
        if (st == CLG_OK) pos += k;
    }
    s->prefill_s += 1e-9 * (clg_now_ns() - t0);
    if (!s->startup.first_token && pos == n_prompt) {
        s->startup.first_token = 1e-9 * (clg_now_ns() - s->startup.t0_ns);
        s->startup.first_token_cpu = cpu_s() - s->startup.cpu0;
    }
    s->n_prefill += pos - keep;
    memcpy(s->hist, prompt, (size_t)pos * sizeof(int32_t)); /* what the KV cache holds */
    s->n_hist = pos;
    if (st != CLG_OK) {
        fprintf(stderr, "clgraph %s: %s\n", cmd, clg_last_error());
        return 1;
    }
    if (pos < n_prompt) return 0;               /* stopped during the prompt */
    if (s->prof) clg_profiler_restart(s->prof); /* the profile covers the decode steps */
    llm_sampler_reset(s->sampler);
    for (int i = 0; i < n_prompt; i++)
        llm_sampler_accept(s->sampler, prompt[i]);

    llm_tokenizer_stream *stream = NULL;
    if ((st = llm_tokenizer_stream_create(s->tok, 0, &stream)) != CLG_OK) {
        fprintf(stderr, "clgraph %s: %s\n", cmd, clg_last_error());
        return 1;
    }
    size_t reply_len = 0;
    const char *text;
    size_t len;
    t0 = clg_now_ns();
    int rc = 0;
    for (int i = 0; n_predict < 0 || i < n_predict; i++) {
        if (stop && *stop) break;
        int32_t id = s->device_greedy ? next : llm_sampler_sample(s->sampler, s->logits);
        if (llm_tokenizer_is_eog(s->tok, id)) break;
        llm_sampler_accept(s->sampler, id);
        if (llm_tokenizer_stream_push(stream, id, &text, &len) == CLG_OK && len) {
            if (!put_text(text, len, cmd)) {
                rc = 1;
                break;
            }
            if (reply) append(reply, &reply_len, text, len);
        }
        if (s->n_hist >= hp->n_ctx) {
            fprintf(stderr, "\n[context of %d tokens is full]\n", hp->n_ctx);
            break;
        }
        s->hist[s->n_hist] = id;
        st = s->device_greedy ? llm_model_eval_greedy(s->model, &id, 1, s->n_hist, &next)
                              : llm_model_eval(s->model, &id, 1, s->n_hist, s->logits);
        if (st != CLG_OK) {
            fprintf(stderr, "\nclgraph %s: %s\n", cmd, clg_last_error());
            rc = 1;
            break;
        }
        s->n_hist++;
        s->n_decode++;
    }
    s->decode_s += 1e-9 * (clg_now_ns() - t0);
    if (!rc && llm_tokenizer_stream_flush(stream, &text, &len) == CLG_OK && len) {
        if (!put_text(text, len, cmd))
            rc = 1;
        else if (reply)
            append(reply, &reply_len, text, len);
    }
    llm_tokenizer_stream_destroy(stream);
    return rc;
}

void gen_print_summary(const gen_session *s, const char *cmd) {
    fprintf(stderr,
            "\n[%s] prompt %d tokens, prefill %.1f tok/s | generated %d tokens, decode %.1f tok/s "
            "| %s\n",
            cmd, s->n_prefill, s->prefill_s > 0 ? s->n_prefill / s->prefill_s : 0.0, s->n_decode,
            s->decode_s > 0 ? s->n_decode / s->decode_s : 0.0,
            clg_context_device(llm_model_context(s->model))->device_name);
    if (!s->verbose) return;
    const gen_startup *su = &s->startup;
    clg_build_stats b;
    clg_context_build_stats(llm_model_context(s->model), &b);
    fprintf(stderr, "[start-up] %.2f s to the first token (%.2f s of CPU): loaded in %.2f s (",
            su->first_token, su->first_token_cpu, su->loaded);
    fprintf(stderr, "device and model file %.2f s", su->n ? su->begin[0] : su->loaded);
    for (int i = 0; i < su->n; i++)
        fprintf(stderr, ", %s %.2f s", su->stage[i], su->end[i] - su->begin[i]);
    fprintf(stderr, "), prompt %.2f s (its first launches compile kernels on some drivers)\n",
            su->first_token - su->loaded);
    fprintf(stderr,
            "[start-up] programs: %u (%u from source, %u from SPIR-V, %u from the program cache; "
            "%u of them built together) in %u builds, %.2f s\n",
            b.programs, b.from_source, b.from_spirv, b.from_cache, b.joint, b.builds, b.build_s);
}
