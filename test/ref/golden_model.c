/* Reader for the whole-model golden files of test/model/gen_golden.py (see golden_model.h and
 * test/data/model/README.md): little-endian, a 256-byte header, then one record per prompt. */
#include "golden_model.h"

#include "clgraph/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds-checked little-endian cursor over the file's bytes. */
typedef struct cursor {
    const uint8_t *base;
    size_t size;
    size_t off;
    const char *what;
} cursor;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static clg_status need(cursor *c, size_t n, const char *field) {
    if (c->off > c->size || n > c->size - c->off)
        return clg_fail(CLG_ERR_FORMAT, "%s: %s at byte %zu needs %zu bytes, the file ends at %zu",
                        c->what, field, c->off, n, c->size);
    return CLG_OK;
}

static clg_status get_u32(cursor *c, const char *field, uint32_t *v) {
    clg_status st = need(c, 4, field);
    if (st != CLG_OK) return st;
    *v = le32(c->base + c->off);
    c->off += 4;
    return CLG_OK;
}

static clg_status get_f32(cursor *c, const char *field, float *v) {
    uint32_t u = 0;
    clg_status st = get_u32(c, field, &u);
    *v = bits_f32(u);
    return st;
}

/* A u32 that must lie in [lo, hi]. */
static clg_status get_count(cursor *c, const char *field, uint32_t lo, uint32_t hi, int *v) {
    size_t at = c->off;
    uint32_t u = 0;
    clg_status st = get_u32(c, field, &u);
    if (st != CLG_OK) return st;
    if (u < lo || u > hi)
        return clg_fail(CLG_ERR_FORMAT, "%s: %s = %u at byte %zu, expected %u..%u", c->what, field,
                        (unsigned)u, at, (unsigned)lo, (unsigned)hi);
    *v = (int)u;
    return CLG_OK;
}

/* n bytes of text, NUL-terminated into a new buffer; skips the padding to 4 bytes. */
static clg_status get_text(cursor *c, const char *field, size_t n, char **out) {
    clg_status st = need(c, (n + 3) & ~(size_t)3, field);
    if (st != CLG_OK) return st;
    char *s = malloc(n + 1);
    if (!s) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: %s: %zu bytes", c->what, field, n + 1);
    memcpy(s, c->base + c->off, n);
    s[n] = 0;
    if (strlen(s) != n) {
        free(s);
        return clg_fail(CLG_ERR_FORMAT, "%s: %s at byte %zu holds a NUL", c->what, field, c->off);
    }
    c->off += (n + 3) & ~(size_t)3;
    *out = s;
    return CLG_OK;
}

/* n int32 values into a new array; each must lie in [0, limit). */
static clg_status get_ids(cursor *c, const char *field, size_t n, int limit, int32_t **out) {
    clg_status st = need(c, 4 * n, field);
    if (st != CLG_OK) return st;
    int32_t *v = malloc(4 * (n ? n : 1));
    if (!v) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: %s: %zu ids", c->what, field, n);
    for (size_t i = 0; i < n; i++) {
        v[i] = (int32_t)le32(c->base + c->off + 4 * i);
        if (v[i] < 0 || v[i] >= limit) {
            free(v);
            return clg_fail(CLG_ERR_FORMAT, "%s: %s[%zu] = %d at byte %zu, expected 0..%d", c->what,
                            field, i, (int)le32(c->base + c->off + 4 * i), c->off + 4 * i,
                            limit - 1);
        }
    }
    c->off += 4 * n;
    *out = v;
    return CLG_OK;
}

/* n floats (dtype 0: f32, 1: f16 then padding to 4 bytes) into a new array. */
static clg_status get_floats(cursor *c, const char *field, size_t n, int dtype, float **out) {
    size_t bytes = dtype == 1 ? (2 * n + 3) & ~(size_t)3 : 4 * n;
    clg_status st = need(c, bytes, field);
    if (st != CLG_OK) return st;
    float *v = malloc(sizeof(float) * (n ? n : 1));
    if (!v) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: %s: %zu floats", c->what, field, n);
    const uint8_t *p = c->base + c->off;
    for (size_t i = 0; i < n; i++)
        v[i] = dtype == 1 ? llm_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8))
                          : bits_f32(le32(p + 4 * i));
    c->off += bytes;
    *out = v;
    return CLG_OK;
}

/* A fixed-size text field of the header: NUL-padded, at most n bytes. */
static void header_text(const uint8_t *p, size_t n, char *dst) {
    memcpy(dst, p, n);
    dst[n] = 0;
}

static void prompt_free(tg_golden_prompt *p) {
    free(p->name);
    free(p->text);
    free(p->tokens);
    free(p->logits_last);
    free(p->top_ids);
    free(p->top_vals);
    free(p->greedy);
    free(p->greedy_margin);
    free(p->greedy_llamacpp);
}

static clg_status parse_prompt(cursor *c, const tg_golden *g, int index, tg_golden_prompt *p) {
    clg_status st = CLG_OK;
    char field[64];
    size_t start = c->off;
    int rec_bytes = 0, name_len = 0, text_len = 0;
    uint32_t u = 0;
    snprintf(field, sizeof field, "prompt %d record_bytes", index);
    if ((st = get_count(c, field, 32, 0x7fffffff, &rec_bytes)) != CLG_OK) return st;
    if ((st = need(c, (size_t)rec_bytes - 4, field)) != CLG_OK) return st;
    if ((st = get_count(c, "n_tokens", 1, 1 << 20, &p->n_tokens)) != CLG_OK) return st;
    if ((st = get_count(c, "name_len", 1, 255, &name_len)) != CLG_OK) return st;
    if ((st = get_count(c, "text_len", 0, 1 << 24, &text_len)) != CLG_OK) return st;
    if ((st = get_count(c, "n_greedy_agree", 0, (uint32_t)g->n_gen, &p->n_greedy_agree)) != CLG_OK)
        return st;
    if ((st = get_f32(c, "diff_last", &p->diff_last)) != CLG_OK) return st;
    if ((st = get_f32(c, "diff_all", &p->diff_all)) != CLG_OK) return st;
    if ((st = get_u32(c, "top1_agree", &u)) != CLG_OK) return st;
    if (u > (uint32_t)p->n_tokens)
        return clg_fail(CLG_ERR_FORMAT, "%s: prompt %d: top1_agree = %u exceeds n_tokens = %d",
                        c->what, index, (unsigned)u, p->n_tokens);
    p->top1_agree = (int)u;

    size_t n = (size_t)p->n_tokens, nt = n * (size_t)g->n_top, ng = (size_t)g->n_gen;
    if ((st = get_text(c, "name", (size_t)name_len, &p->name)) != CLG_OK) return st;
    if ((st = get_text(c, "text", (size_t)text_len, &p->text)) != CLG_OK) return st;
    if ((st = get_ids(c, "tokens", n, g->n_vocab, &p->tokens)) != CLG_OK) return st;
    if ((st = get_floats(c, "logits_last", (size_t)g->n_vocab, g->logits_dtype, &p->logits_last)) !=
        CLG_OK)
        return st;
    if ((st = get_ids(c, "top_ids", nt, g->n_vocab, &p->top_ids)) != CLG_OK) return st;
    if ((st = get_floats(c, "top_vals", nt, 0, &p->top_vals)) != CLG_OK) return st;
    if ((st = get_ids(c, "greedy", ng, g->n_vocab, &p->greedy)) != CLG_OK) return st;
    if ((st = get_ids(c, "greedy_llamacpp", ng, g->n_vocab, &p->greedy_llamacpp)) != CLG_OK)
        return st;
    if ((st = get_floats(c, "greedy_margin", ng, 0, &p->greedy_margin)) != CLG_OK) return st;
    if (c->off - start != (size_t)rec_bytes)
        return clg_fail(CLG_ERR_FORMAT,
                        "%s: prompt %d ('%s') at byte %zu: record_bytes = %d but its fields "
                        "take %zu bytes",
                        c->what, index, p->name, start, rec_bytes, c->off - start);
    return CLG_OK;
}

clg_status tg_golden_parse(const void *data, size_t size, const char *what, tg_golden **out) {
    clg_status st = CLG_OK;
    tg_golden *g = NULL;
    cursor c = {data, size, 0, what ? what : "golden data"};
    int header_bytes = 0;
    if (!data || !out) return clg_fail(CLG_ERR_INVALID_ARG, "tg_golden_parse: NULL argument");
    *out = NULL;
    if (size < 256 || memcmp(data, TG_GOLDEN_MAGIC, 8) != 0)
        return clg_fail(CLG_ERR_FORMAT,
                        "%s: not a golden model file (magic '%s' and 256 bytes "
                        "of header expected)",
                        c.what, TG_GOLDEN_MAGIC);
    g = calloc(1, sizeof *g);
    if (!g) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: tg_golden", c.what);
    c.off = 8;
    if ((st = get_u32(&c, "version", &g->version)) != CLG_OK) goto fail;
    if (g->version != TG_GOLDEN_VERSION) {
        st = clg_fail(CLG_ERR_FORMAT, "%s: version %u, this reader knows %d", c.what,
                      (unsigned)g->version, TG_GOLDEN_VERSION);
        goto fail;
    }
    if ((st = get_count(&c, "header_bytes", 256, 1 << 20, &header_bytes)) != CLG_OK) goto fail;
    if ((st = get_count(&c, "n_prompts", 1, 4096, &g->n_prompts)) != CLG_OK) goto fail;
    if ((st = get_count(&c, "n_vocab", 1, 1 << 24, &g->n_vocab)) != CLG_OK) goto fail;
    if ((st = get_count(&c, "n_top", 1, (uint32_t)g->n_vocab, &g->n_top)) != CLG_OK) goto fail;
    if ((st = get_count(&c, "n_gen", 0, 1 << 16, &g->n_gen)) != CLG_OK) goto fail;
    if ((st = get_count(&c, "logits_dtype", 0, 1, &g->logits_dtype)) != CLG_OK) goto fail;
    if ((st = get_f32(&c, "diff_all", &g->diff_all)) != CLG_OK) goto fail;
    header_text(c.base + 40, 64, g->model_sha256);
    header_text(c.base + 104, 64, g->model_file);
    header_text(c.base + 168, 16, g->model_type);
    if (strspn(g->model_sha256, "0123456789abcdef") != 64) {
        st = clg_fail(CLG_ERR_FORMAT, "%s: model_sha256 at byte 40 is not 64 lowercase hex digits",
                      c.what);
        goto fail;
    }
    c.off = (size_t)header_bytes;
    if ((st = need(&c, 0, "first prompt")) != CLG_OK) goto fail;

    g->prompts = calloc((size_t)g->n_prompts, sizeof *g->prompts);
    if (!g->prompts) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: %d prompts", c.what, g->n_prompts);
        goto fail;
    }
    for (int i = 0; i < g->n_prompts; i++)
        if ((st = parse_prompt(&c, g, i, &g->prompts[i])) != CLG_OK) goto fail;
    if (c.off != size) {
        st = clg_fail(CLG_ERR_FORMAT, "%s: %zu bytes after the last prompt (byte %zu)", c.what,
                      size - c.off, c.off);
        goto fail;
    }
    *out = g;
    return CLG_OK;
fail:
    tg_golden_destroy(g);
    return st;
}

clg_status tg_golden_load(const char *path, tg_golden **out) {
    clg_status st = CLG_OK;
    FILE *f = NULL;
    uint8_t *buf = NULL;
    long size = 0;
    if (!path || !out) return clg_fail(CLG_ERR_INVALID_ARG, "tg_golden_load: NULL argument");
    *out = NULL;
    f = fopen(path, "rb");
    if (!f) return clg_fail(CLG_ERR_IO, "cannot open golden file %s", path);
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = clg_fail(CLG_ERR_IO, "cannot size golden file %s", path);
        goto fail;
    }
    buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "%s: %ld bytes", path, size);
        goto fail;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        st = clg_fail(CLG_ERR_IO, "cannot read %ld bytes of %s", size, path);
        goto fail;
    }
    st = tg_golden_parse(buf, (size_t)size, path, out);
fail:
    free(buf);
    if (f) fclose(f);
    return st;
}

void tg_golden_destroy(tg_golden *g) {
    if (!g) return;
    if (g->prompts)
        for (int i = 0; i < g->n_prompts; i++)
            prompt_free(&g->prompts[i]);
    free(g->prompts);
    free(g);
}

const tg_golden_prompt *tg_golden_find(const tg_golden *g, const char *name) {
    if (!g || !name) return NULL;
    for (int i = 0; i < g->n_prompts; i++)
        if (g->prompts[i].name && strcmp(g->prompts[i].name, name) == 0) return &g->prompts[i];
    return NULL;
}

int tg_argmax(const float *x, int n) {
    int best = n > 0 ? 0 : -1;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
