/* Shared by the tokenizer tests: reads the golden files of
 * test/data/tokenizer/ (format in gen_golden.py) and checks a tokenizer against
 * them: ids, special tokens, round trip through decode, streaming decode. */
#ifndef CLGRAPH_TEST_TOKENIZER_GOLDEN_H
#define CLGRAPH_TEST_TOKENIZER_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/tokenizer.h"
#include "test_common.h"

#define GOLDEN_MAX_VARIANTS 8

typedef struct golden_ids {
    int32_t *v;
    size_t n;
} golden_ids;

typedef struct golden_entry {
    char *text; /* unescaped, NUL-terminated (may hold NULs: use len) */
    size_t len;
    golden_ids ids;   /* add_special + parse_special */
    golden_ids plain; /* neither */
    char var_pre[GOLDEN_MAX_VARIANTS][32];
    golden_ids var[GOLDEN_MAX_VARIANTS]; /* ids under another tokenizer.ggml.pre */
    int n_var;
} golden_entry;

typedef struct golden {
    int32_t n_tokens, bos, eos, eot;
    int add_bos;
    golden_ids eog;
    golden_entry *e;
    size_t n;
} golden;

static int golden_parse_ids(const char *s, golden_ids *out) {
    out->v = NULL;
    out->n = 0;
    size_t cap = 0;
    for (;;) {
        while (*s == ' ' || *s == '\n' || *s == '\r')
            s++;
        if (!*s) return 1;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) return 0;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            int32_t *p = realloc(out->v, cap * sizeof *p);
            if (!p) return 0;
            out->v = p;
        }
        out->v[out->n++] = (int32_t)v;
        s = end;
    }
}

static int golden_hex(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int golden_unescape(const char *s, char **out, size_t *len) {
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    size_t k = 0;
    if (!o) return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') break;
        if (s[i] != '\\') {
            o[k++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 'n')
            o[k++] = '\n';
        else if (c == 'r')
            o[k++] = '\r';
        else if (c == 't')
            o[k++] = '\t';
        else if (c == '\\')
            o[k++] = '\\';
        else if (c == 'x' && golden_hex(s[i + 1]) >= 0 && golden_hex(s[i + 2]) >= 0) {
            o[k++] = (char)(golden_hex(s[i + 1]) * 16 + golden_hex(s[i + 2]));
            i += 2;
        } else {
            free(o);
            return 0;
        }
    }
    o[k] = 0;
    *out = o;
    *len = k;
    return 1;
}

static void golden_free(golden *g) {
    for (size_t i = 0; i < g->n; i++) {
        free(g->e[i].text);
        free(g->e[i].ids.v);
        free(g->e[i].plain.v);
        for (int k = 0; k < g->e[i].n_var; k++)
            free(g->e[i].var[k].v);
    }
    free(g->e);
    free(g->eog.v);
    memset(g, 0, sizeof *g);
}

/* Reads a golden file; prints why and returns 0 on failure. */
static int golden_load(const char *path, golden *g) {
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 0;
    }
    static char line[1 << 17];
    size_t cap = 0, lineno = 0;
    int ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            ok = 0;
            break;
        }
        *tab = 0;
        const char *key = line, *val = tab + 1;
        golden_entry *e = g->n ? &g->e[g->n - 1] : NULL;
        if (!strcmp(key, "n_tokens"))
            g->n_tokens = atoi(val);
        else if (!strcmp(key, "bos"))
            g->bos = atoi(val);
        else if (!strcmp(key, "eos"))
            g->eos = atoi(val);
        else if (!strcmp(key, "eot"))
            g->eot = atoi(val);
        else if (!strcmp(key, "add_bos"))
            g->add_bos = atoi(val);
        else if (!strcmp(key, "eog"))
            ok = golden_parse_ids(val, &g->eog);
        else if (!strcmp(key, "vocab"))
            continue;
        else if (!strcmp(key, "text")) {
            if (g->n == cap) {
                cap = cap ? 2 * cap : 64;
                golden_entry *p = realloc(g->e, cap * sizeof *p);
                if (!p) {
                    ok = 0;
                    break;
                }
                g->e = p;
            }
            e = &g->e[g->n++];
            memset(e, 0, sizeof *e);
            ok = golden_unescape(val, &e->text, &e->len);
        } else if (e && !strcmp(key, "ids"))
            ok = golden_parse_ids(val, &e->ids);
        else if (e && !strcmp(key, "plain"))
            ok = golden_parse_ids(val, &e->plain);
        else if (e && !strncmp(key, "ids:", 4) && e->n_var < GOLDEN_MAX_VARIANTS) {
            snprintf(e->var_pre[e->n_var], sizeof e->var_pre[0], "%.31s", key + 4);
            ok = golden_parse_ids(val, &e->var[e->n_var++]);
        } else
            ok = 0;
    }
    fclose(f);
    if (!ok) {
        fprintf(stderr, "%s:%zu: malformed line\n", path, lineno);
        golden_free(g);
        return 0;
    }
    return 1;
}

/* Prints the first difference of two id lists. Returns 1 when equal. */
static int golden_same_ids(const char *what, const char *text, const int32_t *got, size_t n_got,
                           const golden_ids *want) {
    size_t i = 0;
    while (i < n_got && i < want->n && got[i] == want->v[i])
        i++;
    if (i == n_got && i == want->n) return 1;
    fprintf(stderr, "%s: '%.40s': %zu ids, want %zu; first difference at %zu: got %d want %d\n",
            what, text, n_got, want->n, i, i < n_got ? (int)got[i] : -1,
            i < want->n ? (int)want->v[i] : -1);
    return 0;
}

/* Strict UTF-8 check (RFC 3629); 1 when s[0..n) is valid. */
static int golden_valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (i + k > n) return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k;
    }
    return 1;
}

/* Streams ids through a decoder one by one: every output must be valid
 * UTF-8, and their concatenation equal decode's. Returns 1 when so. */
static int golden_check_stream(const llm_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                               const char *want, size_t want_len) {
    llm_tokenizer_stream *s = NULL;
    char *all = malloc(want_len + 64 + 16 * n);
    size_t len = 0;
    int ok = all != NULL;
    if (ok && llm_tokenizer_stream_create(t, flags, &s) != CLG_OK) ok = 0;
    for (size_t i = 0; ok && i <= n; i++) {
        const char *p;
        size_t k;
        clg_status st = i < n ? llm_tokenizer_stream_push(s, ids[i], &p, &k)
                              : llm_tokenizer_stream_flush(s, &p, &k);
        if (st != CLG_OK || !golden_valid_utf8((const unsigned char *)p, k)) {
            fprintf(stderr, "stream: step %zu: %s\n", i,
                    st != CLG_OK ? clg_last_error() : "output is not valid UTF-8");
            ok = 0;
            break;
        }
        memcpy(all + len, p, k);
        len += k;
    }
    if (ok && (len != want_len || memcmp(all, want, len))) {
        fprintf(stderr, "stream: %zu bytes differ from decode's %zu: '%.40s'\n", len, want_len,
                want);
        ok = 0;
    }
    llm_tokenizer_stream_destroy(s);
    free(all);
    return ok;
}

/* text[0..len) as SentencePiece decodes it: U+2581, its space symbol, becomes a
 * space (malloc'ed copy; NULL when out of memory). */
static char *golden_spm_spaces(const char *text, size_t len, size_t *out_len) {
    char *o = malloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; o && i < len; i++) {
        if (i + 3 <= len && !memcmp(text + i, "\xe2\x96\x81", 3)) {
            o[k++] = ' ';
            i += 2;
        } else {
            o[k++] = text[i];
        }
    }
    *out_len = k;
    return o;
}

/* Checks t against g: header, ids of every entry in both modes, round trip
 * decode(encode(text)) == text for valid UTF-8 entries (U+2581 read as a space
 * for SentencePiece vocabularies), streaming decode. */
static void golden_check(const llm_tokenizer *t, const golden *g, const char *name) {
    CHECK(llm_tokenizer_n_tokens(t) == g->n_tokens);
    CHECK(llm_tokenizer_bos(t) == g->bos);
    CHECK(llm_tokenizer_eos(t) == g->eos);
    CHECK(llm_tokenizer_add_bos(t) == g->add_bos);
    size_t n_eog = 0;
    for (int32_t id = 0; id < g->n_tokens; id++)
        n_eog += llm_tokenizer_is_eog(t, id) != 0;
    CHECK(n_eog == g->eog.n);
    for (size_t i = 0; i < g->eog.n; i++)
        CHECK(llm_tokenizer_is_eog(t, g->eog.v[i]));

    size_t n_ok = 0, n_round = 0, n_valid = 0;
    for (size_t i = 0; i < g->n; i++) {
        const golden_entry *e = &g->e[i];
        int32_t *ids = NULL, *plain = NULL;
        size_t n_ids = 0, n_plain = 0;
        CHECK_OK(llm_tokenizer_encode(t, e->text, e->len,
                                      LLM_TOKENIZE_ADD_SPECIAL | LLM_TOKENIZE_PARSE_SPECIAL, &ids,
                                      &n_ids));
        CHECK_OK(llm_tokenizer_encode(t, e->text, e->len, 0, &plain, &n_plain));
        int same = golden_same_ids(name, e->text, ids, n_ids, &e->ids);
        same &= golden_same_ids(name, e->text, plain, n_plain, &e->plain);
        CHECK(same);
        n_ok += same;

        if (golden_valid_utf8((const unsigned char *)e->text, e->len)) {
            n_valid++;
            const int32_t *which[2] = {ids, plain};
            size_t counts[2] = {n_ids, n_plain};
            int round = 1, spm = llm_tokenizer_get_type(t) == LLM_TOKENIZER_SPM;
            size_t want_len = e->len;
            char *want = spm ? golden_spm_spaces(e->text, e->len, &want_len) : NULL;
            const char *w = spm ? want : e->text;
            CHECK(w != NULL);
            for (int k = 0; w && k < 2; k++) {
                char *text = NULL;
                size_t len = 0;
                CHECK_OK(
                    llm_tokenizer_decode(t, which[k], counts[k], LLM_DETOKENIZE_TEXT, &text, &len));
                if (!text || len != want_len || memcmp(text, w, len)) {
                    fprintf(stderr, "%s: round trip of '%.40s' gives '%.40s'\n", name, e->text,
                            text ? text : "(null)");
                    round = 0;
                }
                CHECK(golden_check_stream(t, which[k], counts[k], LLM_DETOKENIZE_TEXT,
                                          text ? text : "", len));
                free(text);
            }
            free(want);
            CHECK(round);
            n_round += round;
        }
        /* the stream with other flags, on every entry (invalid UTF-8 included) */
        {
            char *text = NULL;
            size_t len = 0;
            CHECK_OK(llm_tokenizer_decode(t, ids, n_ids, 0, &text, &len));
            CHECK(text && golden_valid_utf8((const unsigned char *)text, len));
            CHECK(golden_check_stream(t, ids, n_ids, 0, text ? text : "", len));
            free(text);
        }
        free(ids);
        free(plain);
    }
    printf("%s: %zu/%zu entries give llama.cpp's ids, %zu/%zu round trips exact\n", name, n_ok,
           g->n, n_round, n_valid);
}

#endif
