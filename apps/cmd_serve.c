/* clgraph serve: an OpenAI-compatible HTTP server (apps/serve/http.c) over the scheduler's
 * continuous batching (apps/serve/sched.c). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/commands.h"
#include "apps/generate.h"
#include "apps/serve/http.h"
#include "apps/serve/sched.h"

/* Seconds the running requests get to finish after SIGINT / SIGTERM before they are cut. */
#define SERVE_GRACE_S 10

static const char serve_help[] =
    "usage: clgraph serve -m MODEL.gguf [options]\n\n"
    "An OpenAI-compatible HTTP server: POST /v1/chat/completions (the model's chat template),\n"
    "POST /v1/completions, GET /v1/models, GET /health. Requests share the model by continuous\n"
    "batching over --parallel sequences; more wait in a queue. SIGINT / SIGTERM stop accepting,\n"
    "let running requests finish (cut after 10 s, or at a second signal) and exit 0.\n\n"
    "  -m, --model FILE        GGUF model\n"
    "  --host ADDR             numeric address to bind (default 127.0.0.1)\n"
    "  --port N                TCP port (default 8080)\n"
    "  --parallel N            sequences generated together (default 1)\n"
    "  --queue N               requests that may wait beyond them (default 64; then 503)\n"
    "  --ctx N                 context of each sequence (default min(2048, the model's))\n"
    "  --batch N               tokens evaluated per step (default 64)\n"
    "  --api-key KEY           require \"Authorization: Bearer KEY\" (all but /health)\n"
    "  --device SEL            OpenCL device: P:D, gpu, cpu, or part of a name (pocl, nvidia)\n"
    "  --build MODE            kernels from source, spirv or auto (default auto)\n"
    "  --template NAME         chat template, overriding the model's\n"
    "  --kv-f16                keep the KV cache in f16\n"
    "  --act MODE              activations of the quantized products: q8, f32 or auto\n"
    "  --layout L              their weights' layout: x8, rows or auto\n"
    "  --tune                  measure the kernel variants for this device first (cached;\n"
    "                          with --parallel N the batch kinds on steps of N rows, one\n"
    "                          token of each sequence); a cached plan is used without it\n"
    "  --retune                measure them again, ignoring the plan cache\n"
    "  -q, --quiet             no progress on stderr\n";

static int parse_count(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int clg_cmd_serve(int argc, char **argv) {
    gen_options o;
    gen_options_init(&o);
    const char *host = "127.0.0.1", *api_key = NULL;
    int port = 8080, parallel = 1, queue = 64, padded = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(serve_help, stdout);
            return 0;
        }
        if (!strcmp(a, "--host") || !strcmp(a, "--port") || !strcmp(a, "--parallel") ||
            !strcmp(a, "--queue") || !strcmp(a, "--api-key")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "clgraph serve: option %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            int ok = 1;
            if (!strcmp(a, "--host"))
                host = v;
            else if (!strcmp(a, "--api-key"))
                ok = (api_key = v)[0] != 0;
            else if (!strcmp(a, "--port"))
                ok = parse_count(v, 0, 65535, &port);
            else if (!strcmp(a, "--parallel"))
                ok = parse_count(v, 1, 256, &parallel);
            else
                ok = parse_count(v, 0, 1 << 20, &queue);
            if (!ok) {
                fprintf(stderr, "clgraph serve: bad value '%s' for %s\n", v, a);
                return 2;
            }
            continue;
        }
        /* The model options clgraph run takes; sampling comes with each request. */
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--ctx") ||
            !strcmp(a, "--batch") || !strcmp(a, "--device") || !strcmp(a, "--build") ||
            !strcmp(a, "--template") || !strcmp(a, "--kv-f16") || !strcmp(a, "--act") ||
            !strcmp(a, "--layout") || !strcmp(a, "--tune") || !strcmp(a, "--retune") ||
            !strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            if (gen_parse_option(&o, argc, argv, &i, "serve") < 0) return 2;
            continue;
        }
        fprintf(stderr, "clgraph serve: unknown option '%s' (see --help)\n", a);
        return 2;
    }
    o.n_seq = parallel;
    o.seed_given = 1; /* sampling is per request: no seed line */
    /* SIGINT / SIGTERM are taken by sigwait below: blocked in every thread, the drivers' and
     * the server's included (they inherit the mask). A closed socket must not kill us. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    gen_session s;
    if (gen_session_open(&s, &o, "serve")) {
        gen_session_close(&s);
        return 1;
    }
    const char *name = strrchr(o.model, '/') ? strrchr(o.model, '/') + 1 : o.model;
    srv_sched *sched = NULL;
    srv_http *http = NULL;
    int rc = 0;
    if (srv_sched_create(s.model, s.tok, parallel, queue, &padded, &sched)) {
        fprintf(stderr, "clgraph serve: %s\n", clg_last_error());
        rc = 1;
        goto done;
    }
    if (padded && !o.quiet)
        fprintf(stderr, "clgraph serve: on this device a one-token step rounds differently from "
                        "a batch: every step evaluates two rows or more, so that a text does not "
                        "depend on the requests beside it\n");
    srv_http_config cfg = {.sched = sched,
                           .tok = s.tok,
                           .tmpl = s.tmpl,
                           .has_template = s.has_template,
                           .default_system = s.default_system,
                           .model_name = name,
                           .api_key = api_key,
                           .host = host,
                           .port = port,
                           .n_ctx = llm_model_hparams(s.model)->n_ctx};
    if (srv_http_start(&cfg, &http)) {
        rc = 1;
        goto done;
    }
    fprintf(stderr, "clgraph serve: listening on http://%s%s%s:%d (%d parallel, ctx %d)\n",
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port, parallel,
            cfg.n_ctx);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    fprintf(stderr, "clgraph serve: %s: no new requests; finishing the running ones\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_sched_stop_accepting(sched);
    srv_http_quiesce(http);
    /* Up to SERVE_GRACE_S for the open requests, less when a second signal comes; then cut
     * them and give the connections a moment to send their last bytes. */
    struct timespec tick = {0, 100 * 1000 * 1000};
    int cut = 0;
    for (int t = 0; srv_sched_open_requests(sched) > 0 && t < 10 * (SERVE_GRACE_S + 2); t++) {
        if (!cut && (t >= 10 * SERVE_GRACE_S || sigtimedwait(&sigs, NULL, &tick) > 0)) {
            fprintf(stderr, "clgraph serve: cutting the running requests\n");
            srv_sched_cut(sched);
            cut = 1;
        } else if (cut)
            nanosleep(&tick, NULL);
    }
done:
    srv_http_stop(http);
    srv_sched_destroy(sched);
    gen_session_close(&s);
    if (!rc) fprintf(stderr, "clgraph serve: stopped\n");
    return rc;
}
