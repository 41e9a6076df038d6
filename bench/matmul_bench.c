/* Weight-product micro-benchmark: times the float-dequant products of cl/matmul.cl
 * against the 8-bit-activation products of cl/matmul_q8.cl on the decode and
 * prefill shapes of the SmolLM2-135M and Llama-3.2-1B models, interleaved.
 *
 * Usage: matmul_bench [-r REPS] [-T LIST] [-w TYPE] [-H] [-s SHAPE] [-c CAND]...
 *   -r REPS   timed repetitions per candidate (default 41), after 3 warm-ups
 *   -T LIST   token counts, comma-separated (default 1,256)
 *   -w TYPE   weight type q8_0 | q4_0 | q4_1 | q5_0 | q5_1 | q4_k | q5_k | q6_k (default q8_0;
 *             the float-dequant products of cl/matmul.cl take the first three only)
 *   -s SHAPE  only the shape "ROWSxCOLS" or "ROWSxCOLSs" (SwiGLU); repeatable
 *   -H        hot: one weight copy, reused (it stays in cache where it fits: the kernel's
 *             compute ceiling) instead of cold copies streamed from memory
 *   -c CAND   a candidate "FILE|OPTIONS|KERNEL|LOCAL|TT|TMIN|TMAX" (default: a fixed set;
 *             KERNEL may hold %s for the weight type, matmul_ becomes ffn_swiglu_ on
 *             SwiGLU shapes; LOCAL the work-group size, TT the kernel's MM_TT; the
 *             candidate runs for TMIN <= T <= TMAX); repeatable
 * Device: $CLGRAPH_DEVICE. Each repetition runs every candidate once, in turn; every
 * execution reads the next of several weight copies (together larger than the
 * last-level cache, so that the weights stream from memory as in a model step); times
 * are kernel event times.
 * Prints min and median per candidate, weight GB/s (decode) and GFLOP/s. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/llm.h"
#include "clgraph/runtime.h"
#include "clgraph/util.h"

typedef struct cand {
    char file[32], options[160], kernel[64], label[160];
    size_t local;
    int tt, tmin, tmax;
} cand;

typedef struct shape {
    int rows, cols, swiglu;
} shape;

/* clang-format off */
static const shape default_shapes[] = {
    {576, 576, 0}, {960, 576, 0}, {1536, 576, 1}, {576, 1536, 0}, {49152, 576, 0},
    {2048, 2048, 0}, {8192, 2048, 1}, {2048, 8192, 0},
};
/* clang-format on */

#define MAX_CANDS 32
#define MAX_SHAPES 16
#define COPY_BYTES (96u << 20) /* weight copies per shape, together above the 16 MiB L3 */

/* A weight type's block: elements, bytes, and the offsets of its f16 scales (-1 ends). */
typedef struct wtype {
    const char *name;
    int elems, bytes, f16[3];
} wtype;

/* clang-format off */
static const wtype wtypes[] = {
    {"q8_0", 32, 34, {0, -1}},       {"q4_0", 32, 18, {0, -1}},     {"q4_1", 32, 20, {0, 2, -1}},
    {"q5_0", 32, 22, {0, -1}},       {"q5_1", 32, 24, {0, 2, -1}},  {"q4_k", 256, 144, {0, 2, -1}},
    {"q5_k", 256, 176, {0, 2, -1}},  {"q6_k", 256, 210, {208, -1}},
};
/* clang-format on */

static const wtype *find_wtype(const char *ty) {
    for (size_t i = 0; i < sizeof wtypes / sizeof wtypes[0]; i++)
        if (!strcmp(wtypes[i].name, ty)) return &wtypes[i];
    return NULL;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull; /* clg_rng_seed(1) */
static uint32_t rnd(void) {
    return (uint32_t)(clg_rng_next(&rng) >> 32);
}

/* Random blocks with finite f16 scales in [2^-10, 2^-6) (and mins, of either sign). */
static void fill_weights(unsigned char *w, size_t n_blocks, const wtype *wt) {
    int bb = wt->bytes;
    for (size_t i = 0; i < n_blocks * (size_t)bb; i++)
        w[i] = (unsigned char)rnd();
    for (size_t i = 0; i < n_blocks; i++) {
        unsigned char *p = w + i * (size_t)bb;
        for (int h = 0; wt->f16[h] >= 0; h++) {
            uint16_t v = (uint16_t)((5u + rnd() % 4u) << 10 | (rnd() & 0x3ffu));
            if (h && (rnd() & 1)) v |= 0x8000;
            p[wt->f16[h]] = (unsigned char)v;
            p[wt->f16[h] + 1] = (unsigned char)(v >> 8);
        }
    }
}

/* Copies src into dst[cap]; 0 when it does not fit. */
static int copy_field(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return 0;
    memcpy(dst, src, n + 1);
    return 1;
}

static int parse_cand(const char *s, cand *c) {
    memset(c, 0, sizeof *c);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    char *f[7] = {0};
    int n = 0;
    for (char *p = buf; n < 7; n++) {
        f[n] = p;
        char *bar = strchr(p, '|');
        if (!bar) {
            n++;
            break;
        }
        *bar = 0;
        p = bar + 1;
    }
    if (n != 7) return 0;
    if (!copy_field(c->file, sizeof c->file, f[0]) ||
        !copy_field(c->options, sizeof c->options, f[1]) ||
        !copy_field(c->kernel, sizeof c->kernel, f[2]))
        return 0;
    c->local = (size_t)atoi(f[3]);
    c->tt = atoi(f[4]);
    c->tmin = atoi(f[5]);
    c->tmax = atoi(f[6]);
    snprintf(c->label, sizeof c->label, "%.12s:%.36s L%zu [%.80s]", c->file, c->kernel, c->local,
             c->options);
    return c->local > 0 && c->tt > 0;
}

static int add_default(cand *c, int n, const char *spec) {
    if (n < MAX_CANDS && parse_cand(spec, &c[n])) return n + 1;
    return n;
}

/* Times the candidates on one shape and token count; returns 0 on failure. */
static int bench_shape(clg_context *ctx, const shape *s, int T, const wtype *wt, const cand *cands,
                       int nc, int reps, int hot) {
    const char *ty = wt->name;
    size_t nblk = (size_t)s->rows * (size_t)(s->cols / wt->elems),
           wbytes = nblk * (size_t)wt->bytes;
    int nmat = s->swiglu ? 2 : 1;
    int copies = (int)(COPY_BYTES / (wbytes * (size_t)nmat));
    if (copies < 1) copies = 1;
    if (copies > 64) copies = 64;
    if (hot) copies = 1;
    int ok = 1;
    clg_buffer **bw = calloc((size_t)copies * (size_t)nmat, sizeof *bw);
    clg_buffer *bx = NULL, *by = NULL, *bg = NULL;
    clg_graph **graphs = calloc((size_t)nc, sizeof *graphs);
    clg_task **tasks = calloc((size_t)nc, sizeof *tasks);
    double *ns = calloc((size_t)nc * (size_t)reps, sizeof *ns);
    unsigned char *w = malloc(wbytes);
    float *x = malloc((size_t)T * (size_t)s->cols * sizeof *x);
    float *g = malloc((size_t)s->cols * sizeof *g);
    if (!bw || !graphs || !tasks || !ns || !w || !x || !g) {
        ok = 0;
        goto done;
    }
    char name[96];
    for (int i = 0; i < copies * nmat && ok; i++) {
        fill_weights(w, nblk, wt);
        snprintf(name, sizeof name, "w%d_%dx%d_%d", i, s->rows, s->cols, T);
        ok = clg_buffer_create(ctx, name, wbytes, CLG_TRANSFER_DEVICE_ONLY, NULL, &bw[i]) ==
                 CLG_OK &&
             clg_buffer_write(bw[i], 0, w, wbytes) == CLG_OK;
    }
    for (size_t i = 0; i < (size_t)T * (size_t)s->cols; i++)
        x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f + 1e-3f;
    for (int i = 0; i < s->cols; i++)
        g[i] = 0.5f + (float)(rnd() % 1000) / 1000.0f;
    snprintf(name, sizeof name, "x_%dx%d_%d", s->rows, s->cols, T);
    ok = ok &&
         clg_buffer_create(ctx, name, (size_t)T * s->cols * 4, CLG_TRANSFER_DEVICE_ONLY, NULL,
                           &bx) == CLG_OK &&
         clg_buffer_write(bx, 0, x, (size_t)T * s->cols * 4) == CLG_OK;
    snprintf(name, sizeof name, "g_%dx%d_%d", s->rows, s->cols, T);
    ok = ok &&
         clg_buffer_create(ctx, name, (size_t)s->cols * 4, CLG_TRANSFER_DEVICE_ONLY, NULL, &bg) ==
             CLG_OK &&
         clg_buffer_write(bg, 0, g, (size_t)s->cols * 4) == CLG_OK;
    snprintf(name, sizeof name, "y_%dx%d_%d", s->rows, s->cols, T);
    ok = ok &&
         clg_buffer_create(ctx, name, (size_t)T * s->rows * 4, CLG_TRANSFER_DEVICE_ONLY, NULL,
                           &by) == CLG_OK &&
         clg_buffer_zero(by) == CLG_OK;
    if (!ok) {
        fprintf(stderr, "setup failed: %s\n", clg_last_error());
        goto done;
    }
    for (int c = 0; c < nc; c++) {
        const cand *cd = &cands[c];
        if (T < cd->tmin || T > cd->tmax) continue;
        char kernel[96], kname[64];
        snprintf(kname, sizeof kname, "%s", cd->kernel);
        if (s->swiglu) {
            /* matmul_... -> ffn_swiglu_... */
            if (!strncmp(kname, "matmul", 6))
                snprintf(kname, sizeof kname, "ffn_swiglu%s", cd->kernel + 6);
        }
        snprintf(kernel, sizeof kernel, kname, ty);
        clg_program *prog = NULL;
        clg_task *t = NULL;
        snprintf(name, sizeof name, "c%d_%dx%d_%d", c, s->rows, s->cols, T);
        if (clg_program_get(ctx, cd->file, cd->options, &prog) != CLG_OK ||
            clg_graph_create(ctx, name, &graphs[c]) != CLG_OK ||
            clg_graph_add_task(graphs[c], kernel, prog, kernel, &t) != CLG_OK) {
            fprintf(stderr, "candidate %s: %s\n", cd->label, clg_last_error());
            ok = 0;
            goto done;
        }
        int q8 = strstr(cd->file, "q8") != NULL, norm = strstr(kernel, "_norm") != NULL;
        unsigned a = 0;
        clg_task_arg_buffer(t, a++, bw[0], CLG_READ);
        if (s->swiglu) clg_task_arg_buffer(t, a++, bw[1], CLG_READ);
        clg_task_arg_buffer(t, a++, bx, CLG_READ);
        clg_task_arg_buffer(t, a++, by, CLG_READ_WRITE);
        clg_task_arg_int(t, a++, s->rows);
        clg_task_arg_int(t, a++, s->cols);
        clg_task_arg_int(t, a++, T);
        clg_task_arg_int(t, a++, s->cols);
        clg_task_arg_int(t, a++, s->rows);
        if (!s->swiglu) clg_task_arg_int(t, a++, 0);
        if (norm) {
            clg_task_arg_buffer(t, a++, bg, CLG_READ);
            clg_task_arg_float(t, a++, 1e-5f);
        }
        if (q8) clg_task_arg_local(t, a++, (size_t)cd->tt * (size_t)(s->cols / 32) * (8 + 64));
        /* the x8 kernels (cl/matmul_q8.cl) take 8 rows a work-item */
        size_t items = strstr(kernel, "_x8") ? (size_t)s->rows / 8 : (size_t)s->rows;
        size_t global[2] = {(items + cd->local - 1) / cd->local * cd->local,
                            (size_t)(T + cd->tt - 1) / (size_t)cd->tt};
        size_t local[2] = {cd->local, 1};
        if (clg_task_set_range(t, 2, global, local) != CLG_OK) {
            fprintf(stderr, "candidate %s: %s\n", cd->label, clg_last_error());
            ok = 0;
            goto done;
        }
        tasks[c] = t;
    }
    /* Every execution takes the next weight copy: one copy is reused only after all the
     * others (COPY_BYTES) have been read, so that no candidate finds the weights in cache. */
    int next = 0;
    for (int r = -3; r < reps && ok; r++)
        for (int c = 0; c < nc && ok; c++) {
            if (!tasks[c]) continue;
            int k = (next++ % copies) * nmat;
            clg_task_arg_buffer(tasks[c], 0, bw[k], CLG_READ);
            if (s->swiglu) clg_task_arg_buffer(tasks[c], 1, bw[k + 1], CLG_READ);
            if (clg_graph_execute(graphs[c]) != CLG_OK) {
                fprintf(stderr, "%s: %s\n", cands[c].label, clg_last_error());
                ok = 0;
                break;
            }
            clg_task_stats st;
            clg_task_get_stats(tasks[c], &st);
            if (r >= 0) ns[(size_t)c * reps + r] = (double)st.last_ns;
        }
    for (int c = 0; c < nc && ok; c++) {
        if (!tasks[c]) continue;
        double *v = ns + (size_t)c * reps;
        double med = clg_median(v, (size_t)reps), mn = v[0]; /* sorted */
        double bytes = (double)wbytes * nmat, flop = 2.0 * s->rows * (double)s->cols * T * nmat;
        printf("%6dx%-5d%s T=%-4d %-60s min %9.1f us  med %9.1f us  %6.2f GB/s  %6.1f GFLOP/s\n",
               s->rows, s->cols, s->swiglu ? "s" : " ", T, cands[c].label, mn / 1e3, med / 1e3,
               bytes / med, flop / med);
    }
    fflush(stdout);
done:
    for (int c = 0; c < nc; c++)
        clg_graph_destroy(graphs ? graphs[c] : NULL);
    for (int i = 0; bw && i < copies * nmat; i++)
        clg_buffer_destroy(bw[i]);
    clg_buffer_destroy(bx);
    clg_buffer_destroy(by);
    clg_buffer_destroy(bg);
    free(bw);
    free(graphs);
    free(tasks);
    free(ns);
    free(w);
    free(x);
    free(g);
    return ok;
}

int main(int argc, char **argv) {
    int reps = 41, hot = 0;
    int Ts[8] = {1, 256}, nT = 2;
    const char *ty = "q8_0";
    cand cands[MAX_CANDS];
    int nc = 0;
    shape shapes[MAX_SHAPES];
    int ns = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "-r") && v) {
            reps = atoi(v);
            i++;
        } else if (!strcmp(argv[i], "-T") && v) {
            nT = 0;
            for (const char *p = v; *p && nT < 8; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
                Ts[nT++] = atoi(p);
            i++;
        } else if (!strcmp(argv[i], "-H")) {
            hot = 1;
        } else if (!strcmp(argv[i], "-w") && v) {
            ty = v;
            i++;
        } else if (!strcmp(argv[i], "-s") && v && ns < MAX_SHAPES) {
            shape s = {0, 0, 0};
            char suf = 0;
            if (sscanf(v, "%dx%d%c", &s.rows, &s.cols, &suf) < 2) {
                fprintf(stderr, "bad shape %s\n", v);
                return 2;
            }
            s.swiglu = suf == 's';
            shapes[ns++] = s;
            i++;
        } else if (!strcmp(argv[i], "-c") && v && nc < MAX_CANDS) {
            if (!parse_cand(v, &cands[nc++])) {
                fprintf(stderr, "bad candidate %s (FILE|OPTIONS|KERNEL|LOCAL|TT|TMIN|TMAX)\n", v);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "usage: matmul_bench [-r REPS] [-T LIST] [-w TYPE] [-H] [-s RxC[s]] "
                            "[-c CAND]...\n");
            return 2;
        }
    }
    const wtype *wt = find_wtype(ty);
    if (reps < 1 || !wt) {
        fprintf(stderr, "bad -r or -w\n");
        return 2;
    }
    if (!ns) { /* the default shapes whose cols hold whole blocks of the type */
        for (size_t i = 0; i < sizeof default_shapes / sizeof default_shapes[0]; i++)
            if (default_shapes[i].cols % wt->elems == 0) shapes[ns++] = default_shapes[i];
    }
    for (int i = 0; i < ns; i++)
        if (shapes[i].cols % wt->elems) {
            fprintf(stderr, "%s needs cols a multiple of %d\n", ty, wt->elems);
            return 2;
        }
    if (!nc) {
        /* cl/matmul.cl's float-dequant products exist for q8_0, q4_0 and q4_1 */
        int f32 = !strcmp(ty, "q8_0") || !strcmp(ty, "q4_0") || !strcmp(ty, "q4_1");
        if (f32) nc = add_default(cands, nc, "matmul|-DMM_TT=1|matmul_%s|16|1|1|1");
        nc = add_default(cands, nc, "matmul_q8|-DMM_TT=1|matmul_%s_q8|256|1|1|1");
        nc = add_default(cands, nc, "matmul_q8|-DMM_TT=1|matmul_%s_q8_norm|256|1|1|1");
        if (f32) nc = add_default(cands, nc, "matmul|-DMM_TT=4|matmul_%s|16|4|2|100000");
        if (f32) nc = add_default(cands, nc, "matmul|-DMM_TT=8|matmul_%s|16|8|2|100000");
        nc = add_default(cands, nc, "matmul_q8|-DMM_TT=8|matmul_%s_q8|256|8|2|100000");
        nc = add_default(cands, nc, "matmul_q8|-DMM_TT=8|matmul_%s_q8_norm|256|8|2|100000");
    }
    clg_context_options o = clg_context_options_default();
    o.device = getenv("CLGRAPH_DEVICE"); /* the libraries read no environment */
    o.profiling = 1;
    clg_context *ctx = NULL;
    if (clg_context_create(&o, &ctx) != CLG_OK) {
        fprintf(stderr, "no context: %s\n", clg_last_error());
        return 1;
    }
    clg_context_add_kernel_files(ctx, llm_kernel_files());
    const clg_device_info *d = clg_context_device(ctx);
    printf("device: %s / %s, driver %s; weights %s, %s; %d repetitions, interleaved\n",
           d->platform_name, d->device_name, d->driver_version, ty,
           hot ? "hot (one copy)" : "cold (streamed copies)", reps);
    clg_probe pr;
    if (clg_context_probe(ctx, &pr) == CLG_OK)
        printf("probe before: read %.2f GB/s, launch %.1f us\n", pr.read_gbs, pr.launch_us);
    int ok = 1;
    for (int ti = 0; ti < nT && ok; ti++)
        for (int si = 0; si < ns && ok; si++)
            ok = bench_shape(ctx, &shapes[si], Ts[ti], wt, cands, nc, reps, hot);
    if (ok && clg_context_probe(ctx, &pr) == CLG_OK)
        printf("probe after: read %.2f GB/s, launch %.1f us\n", pr.read_gbs, pr.launch_us);
    clg_context_destroy(ctx);
    return ok ? 0 : 1;
}
