/* llm_convert (graphs/model/convert.c): a synthetic GGUF with f32, f16, q8_0, q4_0, q4_1 matrices
 * (one with odd rows, one of > 1 M elements), 1-D norms (f32 and f16), a 2-D non-weight and a 3-D
 * tensor, converted to every target: metadata kept, types chosen by the rules, data bit-exact
 * against llm_quantize and within each type's error bound; errors leave no output file. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clgraph/convert.h"
#include "clgraph/gguf.h"
#include "graphs/model/gguf_impl.h"
#include "test_common.h"

static char g_dir[64];

/* A path in the test folder; PATH_IN declares it as a local array. */
#define PATH_IN(var, name)                                                                         \
    char var[160];                                                                                 \
    snprintf(var, sizeof var, "%s/%.80s", g_dir, name)

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Names in the test folder other than the expected ones (temporary files left behind). */
static int stray_files(void) {
    static const char *known[] = {"in.gguf",           "sentinel.gguf", "inplace.gguf",
                                  "inplace_link.gguf", "iq4_nl.gguf",   "adir"};
    int stray = 0;
    DIR *d = opendir(g_dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        int ok = e->d_name[0] == '.' || !strncmp(e->d_name, "out_", 4);
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= !strcmp(e->d_name, known[i]);
        ok &= !strstr(e->d_name, ".tmp");
        if (!ok) {
            fprintf(stderr, "stray file %s/%s\n", g_dir, e->d_name);
            stray++;
        }
    }
    closedir(d);
    return stray;
}

/* ---- the synthetic input -------------------------------------------------------------------- */

typedef struct spec {
    const char *name;
    int dtype;
    uint32_t n_dims;
    uint64_t ne[4];
} spec;

static const spec specs[] = {
    {"token_embd.weight", LLM_DTYPE_Q8_0, 2, {64, 10, 1, 1}},
    {"blk.0.attn_norm.weight", LLM_DTYPE_F32, 1, {64, 1, 1, 1}},
    {"blk.0.attn_q.weight", LLM_DTYPE_F32, 2, {64, 8, 1, 1}},
    {"blk.0.ffn_up.weight", LLM_DTYPE_F16, 2, {96, 4, 1, 1}},
    {"blk.0.ffn_down.weight", LLM_DTYPE_Q4_1, 2, {32, 5, 1, 1}},
    {"blk.0.odd.weight", LLM_DTYPE_F32, 2, {40, 3, 1, 1}},
    {"blk.0.table", LLM_DTYPE_F32, 2, {32, 2, 1, 1}},
    {"blk.0.experts.weight", LLM_DTYPE_F16, 3, {32, 2, 2, 1}},
    {"output_norm.weight", LLM_DTYPE_F16, 1, {64, 1, 1, 1}},
    {"output.weight", LLM_DTYPE_Q4_0, 2, {64, 3, 1, 1}},
    {"blk.0.big.weight", LLM_DTYPE_Q8_0, 2, {64, 20000, 1, 1}}, /* > 1 M elements: 2 chunks */
};
enum { N_SPECS = sizeof specs / sizeof specs[0] };

static uint64_t elems(const spec *s) {
    return s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3];
}

static clg_status write_input(const char *path) {
    llm_gguf_writer *w = NULL;
    clg_status st = llm_gguf_writer_create(&w);
    const char *tokens[] = {"<s>", "hello", "", "w\xc3\xb6rld"};
    const float arr[] = {1.5f, -2.0f, 3.25f};
    if (st == CLG_OK) st = llm_gguf_writer_add_str(w, "general.architecture", "llama");
    if (st == CLG_OK) st = llm_gguf_writer_add_u32(w, "general.alignment", 64);
    if (st == CLG_OK) st = llm_gguf_writer_add_u32(w, "general.file_type", 0);
    if (st == CLG_OK) st = llm_gguf_writer_add_str(w, "general.name", "synthetic");
    if (st == CLG_OK) st = llm_gguf_writer_add_u32(w, "llama.block_count", 1);
    if (st == CLG_OK) st = llm_gguf_writer_add_f32(w, "llama.rope.freq_base", 10000.0f);
    if (st == CLG_OK) st = llm_gguf_writer_add_u64(w, "test.u64", 1ull << 40);
    if (st == CLG_OK) st = llm_gguf_writer_add_i32(w, "test.i32", -7);
    if (st == CLG_OK) st = llm_gguf_writer_add_bool(w, "test.bool", 1);
    if (st == CLG_OK) st = llm_gguf_writer_add_array(w, "test.f32s", LLM_GGUF_FLOAT32, arr, 3);
    if (st == CLG_OK)
        st = llm_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", tokens, NULL, 4);
    for (int i = 0; i < N_SPECS && st == CLG_OK; i++) {
        const spec *s = &specs[i];
        size_t n = (size_t)elems(s);
        float *x = malloc(n * sizeof *x);
        void *q = malloc(n * 4);
        if (!x || !q) {
            st = CLG_ERR_OUT_OF_MEMORY;
        } else {
            float scale = powf(10.0f, tc_randf(-2, 1));
            tc_fill(x, n, -scale, scale);
            if (i == 4) /* a skewed q4_1 matrix: all positive */
                for (size_t j = 0; j < n; j++)
                    x[j] = fabsf(x[j]) + scale;
            st = llm_quantize(s->dtype, x, q, n);
            if (st == CLG_OK)
                st = llm_gguf_writer_add_tensor(w, s->name, s->dtype, s->n_dims, s->ne, q);
        }
        free(x);
        free(q);
    }
    if (st == CLG_OK) st = llm_gguf_writer_write(w, path);
    llm_gguf_writer_destroy(w);
    return st;
}

/* ---- checks ---------------------------------------------------------------------------------- */

static int is_block(int dtype) {
    return llm_dtype_block_elems(dtype) > 1;
}

/* The type the rules give a tensor. */
static int expected_dtype(const spec *s, int target) {
    if (s->n_dims == 1) return LLM_DTYPE_F32;
    size_t n = strlen(s->name);
    if (s->n_dims != 2 || n < 7 || strcmp(s->name + n - 7, ".weight")) return s->dtype;
    if (is_block(target) && s->ne[0] % 32) return LLM_DTYPE_F16;
    return target;
}

/* Per-element bound of quantize -> dequantize for dtype (as in test_quant.c) over the block of x
 * holding element j. */
static double bound(int dtype, const float *x, size_t j) {
    const double h = ldexp(1, -25);
    size_t b0 = j / 32 * 32;
    float amax = 0, mn = INFINITY, mx = -INFINITY;
    for (size_t k = b0; k < b0 + 32 && is_block(dtype); k++) {
        amax = fmaxf(amax, fabsf(x[k]));
        mn = fminf(mn, x[k]);
        mx = fmaxf(mx, x[k]);
    }
    switch (dtype) {
    case LLM_DTYPE_Q8_0:
        return amax * (0.5 / 127 + 1.0 / 2048) + 127 * h;
    case LLM_DTYPE_Q4_0:
        return amax * (1.0 / 8 + 1.0 / 2048) + 8 * h;
    case LLM_DTYPE_Q4_1:
        return (mx - mn) * (1.0 / 30 + 1.0 / 2048) + fabs(mn) / 2048 + 16 * h;
    case LLM_DTYPE_Q5_0:
        return amax * (1.0 / 16 + 1.0 / 2048) + 16 * h;
    case LLM_DTYPE_Q5_1:
        return (mx - mn) * (1.0 / 62 + 1.0 / 2048) + fabs(mn) / 2048 + 32 * h;
    case LLM_DTYPE_F16:
        return fabs(x[j]) / 2048 + h;
    default:
        return 0;
    }
}

typedef struct events {
    int calls, in_order, notes, bad_note;
    int stop_at; /* stop when this index is reached; -1: never */
} events;

static int on_progress(const llm_convert_event *ev, void *user) {
    events *e = user;
    if (ev->index != (uint64_t)e->calls || ev->count != N_SPECS ||
        strcmp(ev->name, specs[ev->index].name) || ev->src_dtype != specs[ev->index].dtype)
        e->in_order = 0;
    e->calls++;
    if (ev->note) {
        e->notes++;
        if (ev->dst_dtype != LLM_DTYPE_F16 || !strstr(ev->note, "32")) e->bad_note++;
    }
    return e->stop_at >= 0 && (int)ev->index == e->stop_at;
}

static void check_metadata(const llm_gguf *in, const llm_gguf *out, int target) {
    uint64_t n_in = llm_gguf_kv_count(in), n_out = llm_gguf_kv_count(out);
    int q = is_block(target);
    CHECK(n_out == n_in + (q ? 1 : 0));
    int same = 1;
    for (uint64_t i = 0; i < n_in; i++) {
        llm_gguf_str k = llm_gguf_kv_key(in, i), ko = llm_gguf_kv_key(out, i);
        const void *a = NULL, *b = NULL;
        uint64_t la = 0, lb = 0;
        CHECK_OK(llm_gguf_kv_raw(in, i, &a, &la));
        CHECK_OK(llm_gguf_kv_raw(out, i, &b, &lb));
        if (k.len != ko.len || memcmp(k.ptr, ko.ptr, k.len) ||
            llm_gguf_kv_type(in, i) != llm_gguf_kv_type(out, i)) {
            fprintf(stderr, "key %llu: '%.*s' became '%.*s'\n", (unsigned long long)i, (int)k.len,
                    k.ptr, (int)ko.len, ko.ptr);
            same = 0;
            continue;
        }
        if (k.len == 17 && !memcmp(k.ptr, "general.file_type", 17)) continue;
        if (la != lb || !a || !b || memcmp(a, b, la)) {
            fprintf(stderr, "value of '%.*s' changed\n", (int)k.len, k.ptr);
            same = 0;
        }
    }
    CHECK(same);
    uint32_t ft = 99, qv = 0;
    CHECK_OK(llm_gguf_get_u32(out, "general.file_type", &ft));
    CHECK((int)ft == llm_convert_file_type(target));
    if (q) {
        CHECK_OK(llm_gguf_get_u32(out, "general.quantization_version", &qv));
        CHECK(qv == 2);
    } else {
        CHECK(llm_gguf_find_key(out, "general.quantization_version") < 0);
    }
    CHECK(llm_gguf_alignment(out) == 64);
    llm_gguf_str s = {0};
    CHECK_OK(llm_gguf_array_str(out, "tokenizer.ggml.tokens", 3, &s));
    CHECK(s.len == 6 && !memcmp(s.ptr, "w\xc3\xb6rld", 6));
}

/* Every tensor: name, shape, type by the rules, bytes equal to llm_quantize of the dequantized
 * input (or to the input where the type is unchanged), values within the type's bound. */
static void check_tensors(const llm_gguf *in, const llm_gguf *out, int target) {
    CHECK(llm_gguf_tensor_count(out) == N_SPECS);
    for (uint64_t i = 0; i < N_SPECS && i < llm_gguf_tensor_count(out); i++) {
        const spec *s = &specs[i];
        const llm_gguf_tensor *a = llm_gguf_tensor_at(in, i), *b = llm_gguf_tensor_at(out, i);
        int want = expected_dtype(s, target);
        int shape = b->name.len == strlen(s->name) && !memcmp(b->name.ptr, s->name, b->name.len) &&
                    b->n_dims == a->n_dims && !memcmp(b->ne, a->ne, sizeof a->ne);
        CHECK(shape);
        if (b->dtype != want)
            fprintf(stderr, "%s to %s: %s stored as %s, expected %s\n", s->name,
                    llm_dtype_name(target), s->name, llm_dtype_name(b->dtype),
                    llm_dtype_name(want));
        CHECK(b->dtype == want);
        if (!shape || b->dtype != want) continue;
        size_t n = (size_t)a->n_elems;
        float *x = malloc(n * 4), *y = malloc(n * 4);
        uint8_t *q = malloc(n * 4 + 64);
        CHECK(x && y && q);
        if (x && y && q) {
            CHECK_OK(llm_dequantize(a->dtype, a->data, x, n));
            CHECK_OK(llm_dequantize(b->dtype, b->data, y, n));
            if (want == a->dtype)
                memcpy(q, a->data, a->bytes);
            else
                CHECK_OK(llm_quantize(want, x, q, n));
            int exact = b->bytes == llm_dtype_row_bytes(want, n) && !memcmp(b->data, q, b->bytes);
            if (!exact)
                fprintf(stderr, "%s to %s: bytes differ from llm_quantize\n", s->name,
                        llm_dtype_name(target));
            CHECK(exact);
            double worst = 0;
            size_t over = 0;
            for (size_t j = 0; j < n; j++) {
                double e = fabs((double)x[j] - y[j]), bd = want == a->dtype ? 0 : bound(want, x, j);
                if (!(e <= bd)) over++;
                if (bd > 0 && e / bd > worst) worst = e / bd;
            }
            if (over)
                fprintf(stderr, "%s to %s: %zu values over the %s bound (worst %.3f)\n", s->name,
                        llm_dtype_name(target), over, llm_dtype_name(want), worst);
            CHECK(over == 0);
        }
        free(x);
        free(y);
        free(q);
    }
}

static void convert_to(int target) {
    char name[32];
    snprintf(name, sizeof name, "out_%s.gguf", llm_dtype_name(target));
    PATH_IN(out, name);
    PATH_IN(in, "in.gguf");
    events ev = {0, 1, 0, 0, -1};
    llm_convert_stats st;
    memset(&st, 0xff, sizeof st);
    CHECK_OK(llm_convert(in, out, target, on_progress, &ev, &st));
    CHECK(ev.calls == N_SPECS && ev.in_order);
    CHECK(ev.notes == (is_block(target) ? 1 : 0) && ev.bad_note == 0);
    struct stat sb;
    CHECK(stat(out, &sb) == 0 && st.out_bytes == (uint64_t)sb.st_size);
    CHECK(stat(in, &sb) == 0 && st.in_bytes == (uint64_t)sb.st_size);
    /* 7 weights by the rules, odd.weight either target (f32/f16) or the fallback */
    CHECK(st.n_tensors == N_SPECS && st.n_target + st.n_fallback == 7 &&
          st.n_fallback == (uint64_t)is_block(target) && st.n_other == 4);
    llm_gguf *a = NULL, *b = NULL;
    CHECK_OK(llm_gguf_open(in, &a));
    CHECK_OK(llm_gguf_open(out, &b));
    if (a && b) {
        check_metadata(a, b, target);
        check_tensors(a, b, target);
        uint64_t changed = 0;
        for (uint64_t i = 0; i < N_SPECS; i++)
            changed += llm_gguf_tensor_at(a, i)->dtype != llm_gguf_tensor_at(b, i)->dtype;
        CHECK(st.n_requant == changed);
        printf("  to %-4s: %llu bytes, %llu requantized, %llu f16 fallback\n",
               llm_dtype_name(target), (unsigned long long)st.out_bytes,
               (unsigned long long)st.n_requant, (unsigned long long)st.n_fallback);
    }
    llm_gguf_close(a);
    llm_gguf_close(b);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void expect_fail(clg_status got, clg_status want, const char *needle, const char *what) {
    const char *msg = clg_last_error();
    int ok = got == want && msg && strstr(msg, needle);
    if (!ok)
        fprintf(stderr, "%s: got %s '%s', expected %s naming '%s'\n", what, clg_status_str(got),
                msg ? msg : "", clg_status_str(want), needle);
    CHECK(ok);
}

static void errors(void) {
    PATH_IN(in, "in.gguf");
    PATH_IN(out, "out_fail.gguf");
    PATH_IN(missing, "missing.gguf");
    PATH_IN(nodir, "no/such/dir.gguf");
    PATH_IN(adir, "adir");
    PATH_IN(sent, "sentinel.gguf");
    PATH_IN(iq, "iq4_nl.gguf");
    expect_fail(llm_convert(in, out, LLM_DTYPE_Q4_K, NULL, NULL, NULL), CLG_ERR_INVALID_ARG, "q4_0",
                "target q4_k");
    CHECK(strstr(clg_last_error(), "q4_k") != NULL);
    expect_fail(llm_convert(in, out, 999, NULL, NULL, NULL), CLG_ERR_INVALID_ARG, "f16, q8_0",
                "target 999");
    expect_fail(llm_convert(missing, out, LLM_DTYPE_Q8_0, NULL, NULL, NULL), CLG_ERR_NOT_FOUND,
                "missing.gguf", "missing input");
    expect_fail(llm_convert(in, nodir, LLM_DTYPE_Q8_0, NULL, NULL, NULL), CLG_ERR_IO, "no/such",
                "missing output folder");
    CHECK(mkdir(adir, 0755) == 0);
    expect_fail(llm_convert(in, adir, LLM_DTYPE_F16, NULL, NULL, NULL), CLG_ERR_INVALID_ARG,
                "not a regular file", "output is a folder");
    CHECK(!file_exists(out));

    /* stopped half-way: an existing output stays as it was */
    FILE *fp = fopen(sent, "wb");
    CHECK(fp != NULL);
    if (fp) {
        fputs("old", fp);
        fclose(fp);
    }
    events ev = {0, 1, 0, 0, 3};
    expect_fail(llm_convert(in, sent, LLM_DTYPE_Q4_0, on_progress, &ev, NULL), CLG_ERR_INTERRUPTED,
                "blk.0.ffn_up.weight", "stopped by progress");
    CHECK(ev.calls == 4);
    struct stat sb;
    CHECK(stat(sent, &sb) == 0 && sb.st_size == 3);

    /* a tensor type convert cannot read (iq4_nl = 20): named with its tensor and type */
    size_t size = 0;
    uint8_t *buf = NULL;
    fp = fopen(in, "rb");
    if (fp && fseek(fp, 0, SEEK_END) == 0 && (size = (size_t)ftell(fp)) > 0 &&
        (buf = malloc(size)) && fseek(fp, 0, SEEK_SET) == 0)
        size = fread(buf, 1, size, fp) == size ? size : 0;
    if (fp) fclose(fp);
    CHECK(buf && size);
    if (buf && size) {
        const char *tn = "blk.0.attn_q.weight"; /* f32 [64, 8]: the type field follows the dims */
        uint8_t *p = NULL;
        for (size_t k = 0; !p && k + strlen(tn) <= size; k++)
            if (!memcmp(buf + k, tn, strlen(tn))) p = buf + k;
        CHECK(p != NULL);
        if (p) {
            uint8_t *type = p + strlen(tn) + 4 + 2 * 8;
            CHECK(type[0] == LLM_DTYPE_F32 && type[1] == 0);
            type[0] = 20; /* iq4_nl: a ggml type (32 per block) that cannot be dequantized */
            fp = fopen(iq, "wb");
            CHECK(fp && fwrite(buf, 1, size, fp) == size);
            if (fp) fclose(fp);
            expect_fail(llm_convert(iq, out, LLM_DTYPE_Q8_0, NULL, NULL, NULL), CLG_ERR_UNSUPPORTED,
                        "blk.0.attn_q.weight", "unsupported source type");
            CHECK(strstr(clg_last_error(), "iq4_nl") != NULL);
        }
    }
    free(buf);
    CHECK(!file_exists(out));
    CHECK(stray_files() == 0);
}

/* The output may not be the input, whatever the spelling: refused before any work, the input
 * left as it was. */
static void in_place(void) {
    PATH_IN(p, "inplace.gguf");
    PATH_IN(dotted, "./inplace.gguf");
    PATH_IN(link, "inplace_link.gguf");
    CHECK_OK(write_input(p));
    CHECK(symlink("inplace.gguf", link) == 0);
    const char *outs[] = {p, dotted, link};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        expect_fail(llm_convert(p, outs[i], LLM_DTYPE_Q8_0, NULL, NULL, NULL), CLG_ERR_INVALID_ARG,
                    "is the input file", outs[i]);
    llm_gguf *f = NULL;
    CHECK_OK(llm_gguf_open(p, &f));
    const llm_gguf_tensor *t = f ? llm_gguf_find_tensor(f, "blk.0.attn_q.weight") : NULL;
    CHECK(t && t->dtype != LLM_DTYPE_Q8_0);
    llm_gguf_close(f);
}

static void cleanup(void) {
    DIR *d = opendir(g_dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            PATH_IN(p, e->d_name);
            if (rmdir(p) != 0) remove(p);
        }
    closedir(d);
    rmdir(g_dir);
}

int main(void) {
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%.40s/clg_convert_XXXXXX", tmp);
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    tc_seed(20240611);
    CHECK(
        llm_convert_file_type(LLM_DTYPE_F16) == 1 && llm_convert_file_type(LLM_DTYPE_Q4_0) == 2 &&
        llm_convert_file_type(LLM_DTYPE_Q4_1) == 3 && llm_convert_file_type(LLM_DTYPE_Q8_0) == 7 &&
        llm_convert_file_type(LLM_DTYPE_F32) == 0 && llm_convert_file_type(LLM_DTYPE_Q5_0) == 8 &&
        llm_convert_file_type(LLM_DTYPE_Q5_1) == 9 && llm_convert_file_type(LLM_DTYPE_Q6_K) == -1);
    PATH_IN(in, "in.gguf");
    CHECK_OK(write_input(in));
    static const int targets[] = {LLM_DTYPE_F32,  LLM_DTYPE_F16,  LLM_DTYPE_Q8_0, LLM_DTYPE_Q4_0,
                                  LLM_DTYPE_Q4_1, LLM_DTYPE_Q5_0, LLM_DTYPE_Q5_1};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        convert_to(targets[i]);
    errors();
    in_place();
    CHECK(stray_files() == 0);
    cleanup();
    return tc_finish("convert");
}
