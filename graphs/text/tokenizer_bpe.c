/* Byte-level BPE (tokenizer.ggml.model = "gpt2"): the pre-tokenizers named by
 * tokenizer.ggml.pre, written out as code (no regex engine) with the same
 * splits as llama.cpp's unicode_regex_split; GPT-2's byte-to-character map;
 * and the merge loop, a heap of adjacent pairs ordered by merge rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphs/text/tokenizer_impl.h"
#include "graphs/text/unicode_data.h"

/* ---- GPT-2 byte map ---------------------------------------------------- */

/* Printable bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for
 * themselves; the other 68 take U+0100.. in byte order. */
uint32_t tok_byte_to_cp(unsigned char b) {
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae) return b;
    if (b <= 0x20) return 0x100u + b;           /* 0x00..0x20 -> U+0100..U+0120 */
    if (b <= 0xa0) return 0x121u + (b - 0x7fu); /* 0x7F..0xA0 -> U+0121..U+0142 */
    return 0x143;                               /* 0xAD */
}

int tok_cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff))
        return (int)cp;
    if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);
    if (cp >= 0x121 && cp <= 0x142) return (int)(cp - 0x121 + 0x7f);
    if (cp == 0x143) return 0xad;
    return -1;
}

/* ---- pre-tokenizer choice ---------------------------------------------- */

typedef struct pre_family {
    const char *const *names;
    tok_pass passes[TOK_MAX_PASSES];
    int n_passes;
    int ignore_merges;
    int add_bos;
} pre_family;

static const char *const names_default[] = {"default", "", NULL};
static const char *const names_gpt2[] = {
    "gpt-2",   "phi-2",      "mpt",        "olmo",     "jais",     "exaone4",         "jina-es",
    "jina-de", "jina-v2-es", "jina-v2-de", "gigachat", "trillion", "granite-docling", NULL};
static const char *const names_smollm[] = {"smollm",    "starcoder", "refact",     "command-r",
                                           "codeshell", "exaone",    "minerva-7b", NULL};
static const char *const names_llama3[] = {
    "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", NULL};
static const char *const names_llama3_like[] = {"dbrx", "smaug-bpe", NULL};
static const char *const names_qwen2[] = {"qwen2",   "deepseek-r1-qwen", "stablelm2", "megrez",
                                          "hunyuan", "grok-2",           NULL};
static const char *const names_falcon[] = {"falcon", NULL};

static const pre_family families[] = {
    {names_default, {PASS_PUNCT_RUNS, PASS_GPT2, PASS_DIGIT_RUNS, PASS_DIGIT_TRIPLES}, 4, 0, 0},
    {names_gpt2, {PASS_GPT2}, 1, 0, 0},
    {names_smollm, {PASS_DIGIT_EACH, PASS_GPT2}, 2, 0, 0},
    {names_llama3, {PASS_LLAMA3}, 1, 1, 1},
    {names_llama3_like, {PASS_LLAMA3}, 1, 0, 0},
    {names_qwen2, {PASS_QWEN2}, 1, 0, 0},
    {names_falcon, {PASS_PUNCT_RUNS_TICK, PASS_GPT2, PASS_DIGIT_TRIPLES}, 3, 0, 0},
};

clg_status tok_bpe_setup(llm_tokenizer *t, int *add_bos_default) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        for (const char *const *n = families[f].names; *n; n++) {
            if (strcmp(*n, t->pre)) continue;
            memcpy(t->passes, families[f].passes, sizeof t->passes);
            t->n_passes = families[f].n_passes;
            t->ignore_merges = families[f].ignore_merges;
            *add_bos_default = families[f].add_bos;
            return CLG_OK;
        }
    }
    char list[512];
    size_t used = 0;
    list[0] = 0;
    for (size_t f = 1; f < sizeof families / sizeof families[0]; f++)
        for (const char *const *n = families[f].names; *n; n++)
            used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0,
                                     "%s%s", used ? ", " : "", *n);
    return clg_fail(CLG_ERR_UNSUPPORTED,
                    "tokenizer: pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported; "
                    "supported: %s, or none for llama.cpp's default",
                    t->pre, list);
}

/* ---- scratch ----------------------------------------------------------- */

typedef struct scratch {
    uint32_t *cp; /* [n] code points of the fragment */
    uint16_t *fl; /* [n] their llm_unicode_flags */
    size_t n, cap;
    uint32_t *ends[2]; /* chunk ends (exclusive), current and next pass */
    size_t n_ends[2], cap_ends[2];
    char *word; /* byte-encoded word */
    size_t word_cap;
    tok_merger merger; /* the word's symbols */
} scratch;

static void scratch_free(scratch *s) {
    free(s->cp);
    free(s->fl);
    free(s->ends[0]);
    free(s->ends[1]);
    free(s->word);
    tok_merger_free(&s->merger);
}

static clg_status oom(void) {
    return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
}

/* Appends a chunk end to list k, dropping empty chunks. */
static clg_status end_push(scratch *s, int k, uint32_t end) {
    size_t n = s->n_ends[k];
    if (n && s->ends[k][n - 1] >= end) return CLG_OK;
    clg_status st = tok_grow((void **)&s->ends[k], &s->cap_ends[k], n + 1, sizeof(uint32_t));
    if (st == CLG_OK) s->ends[k][s->n_ends[k]++] = end;
    return st;
}

/* UTF-8 to code points as llama.cpp decodes it: overlong forms accepted, each
 * byte that does not start a complete sequence becomes U+FFFD. */
static clg_status decode_utf8(scratch *s, const unsigned char *p, size_t len) {
    if (len > UINT32_MAX) return clg_fail(CLG_ERR_INVALID_ARG, "tokenizer: text over 4 GiB");
    s->n = 0;
    clg_status st = tok_grow((void **)&s->cp, &s->cap, len, sizeof *s->cp);
    if (st != CLG_OK) return st;
    size_t fl_cap = s->cap; /* s->fl follows s->cp's capacity */
    uint16_t *fl = realloc(s->fl, fl_cap * sizeof *fl);
    if (!fl) return oom();
    s->fl = fl;
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        uint32_t cp = 0xfffd;
        size_t k = 1;
        if (!(c & 0x80)) {
            cp = c;
        } else if (!(c & 0x40)) {
            /* continuation byte: invalid */
        } else if (!(c & 0x20)) {
            if (i + 1 < len && (p[i + 1] & 0xc0) == 0x80)
                cp = ((c & 0x1fu) << 6) | (p[i + 1] & 0x3fu), k = 2;
        } else if (!(c & 0x10)) {
            if (i + 2 < len && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80)
                cp = ((c & 0x0fu) << 12) | ((p[i + 1] & 0x3fu) << 6) | (p[i + 2] & 0x3fu), k = 3;
        } else if (!(c & 0x08)) {
            if (i + 3 < len && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80 &&
                (p[i + 3] & 0xc0) == 0x80)
                cp = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3fu) << 12) | ((p[i + 2] & 0x3fu) << 6) |
                     (p[i + 3] & 0x3fu),
                k = 4;
        }
        s->cp[s->n] = cp;
        s->fl[s->n] = (uint16_t)llm_unicode_flags(cp);
        s->n++;
        i += k;
    }
    return CLG_OK;
}

/* ---- pre-tokenizer passes ---------------------------------------------- */

#define F_WS LLM_UNICODE_WHITESPACE
#define F_L LLM_UNICODE_LETTER
#define F_N LLM_UNICODE_NUMBER
#define NO_CP 0xffffffffu

/* One chunk [ini, end) of the current pass; positions past end read as
 * "nothing" (flags 0), so no rule looks across a chunk boundary. */
typedef struct span {
    const uint32_t *cp;
    const uint16_t *fl;
    size_t ini, end;
} span;

static unsigned fl_at(const span *c, size_t pos) {
    return pos < c->end ? c->fl[pos] : 0;
}
static uint32_t cp_at(const span *c, size_t pos) {
    return pos < c->end ? c->cp[pos] : NO_CP;
}
static uint32_t lower_ascii(uint32_t c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Length of a contraction ('s 't 'm 'd 're 've 'll) at pos, 0 if none. */
static size_t contraction(const span *c, size_t pos, int any_case) {
    if (c->cp[pos] != '\'' || pos + 1 >= c->end) return 0;
    uint32_t a = c->cp[pos + 1], b = pos + 2 < c->end ? c->cp[pos + 2] : NO_CP;
    if (any_case) a = lower_ascii(a), b = lower_ascii(b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* Where a whitespace piece starting at pos ends: \s*[\r\n]+ when newlines is set (up to the
 * last line break of the run), else \s+(?!\S) (leaving the last space to the word that
 * follows) or \s+; a single non-space character when there is no whitespace. */
static size_t ws_end(const span *c, size_t pos, int newlines) {
    size_t nws = 0, last_rn = 0;
    for (; fl_at(c, pos + nws) & F_WS; nws++) {
        uint32_t x = c->cp[pos + nws];
        if (newlines && (x == '\r' || x == '\n')) last_rn = pos + nws + 1;
    }
    if (last_rn) return last_rn;
    if (nws > 1 && pos + nws < c->end) return pos + nws - 1;
    return pos + (nws ? nws : 1);
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static clg_status split_gpt2(scratch *s, const span *c, int k) {
    clg_status st = CLG_OK;
    for (size_t pos = c->ini; pos < c->end && st == CLG_OK;) {
        uint32_t cpt = c->cp[pos];
        size_t n = contraction(c, pos, 0);
        if (n) {
            pos += n;
            st = end_push(s, k, (uint32_t)pos);
            continue;
        }
        unsigned f2 = cpt == ' ' ? fl_at(c, pos + 1) : c->fl[pos];
        unsigned cls = f2 & F_L ? F_L : f2 & F_N ? F_N : 0;
        if (cls) { /* ' ?\p{L}+' or ' ?\p{N}+' */
            pos += cpt == ' ';
            while (fl_at(c, pos) & cls)
                pos++;
            st = end_push(s, k, (uint32_t)pos);
            continue;
        }
        if (!(f2 & (F_WS | F_L | F_N)) && f2) { /* ' ?[^\s\p{L}\p{N}]+' */
            pos += cpt == ' ';
            for (unsigned f = fl_at(c, pos); !(f & (F_WS | F_L | F_N)) && f; f = fl_at(c, pos))
                pos++;
            st = end_push(s, k, (uint32_t)pos);
            continue;
        }
        pos = ws_end(c, pos, 0);
        st = end_push(s, k, (uint32_t)pos);
    }
    return st;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+  (llama3: 3 digits, qwen2: 1) */
static clg_status split_llama3(scratch *s, const span *c, int k, size_t max_digits) {
    clg_status st = CLG_OK;
    for (size_t pos = c->ini; pos < c->end && st == CLG_OK;) {
        uint32_t cpt = c->cp[pos];
        unsigned f = c->fl[pos];
        size_t n = contraction(c, pos, 1);
        if (n) {
            pos += n;
            st = end_push(s, k, (uint32_t)pos);
            continue;
        }
        if (!(cpt == '\r' || cpt == '\n' || (f & F_N)) &&
            ((f & F_L) || (fl_at(c, pos + 1) & F_L))) {
            pos++; /* a letter, or the one non-letter allowed before letters */
            while (fl_at(c, pos) & F_L)
                pos++;
            st = end_push(s, k, (uint32_t)pos);
            continue;
        }
        if (f & F_N) {
            size_t ini = pos;
            while ((fl_at(c, pos) & F_N) && st == CLG_OK) {
                if (++pos - ini >= max_digits) {
                    st = end_push(s, k, (uint32_t)pos);
                    ini = pos;
                }
            }
            if (st == CLG_OK) st = end_push(s, k, (uint32_t)pos);
            continue;
        }
        unsigned f2 = cpt == ' ' ? fl_at(c, pos + 1) : f;
        if (!(f2 & (F_WS | F_L | F_N)) && f) {
            pos += cpt == ' ';
            while (!(f2 & (F_WS | F_L | F_N)) && f2)
                f2 = fl_at(c, ++pos);
            for (uint32_t x = cp_at(c, pos); x == '\r' || x == '\n'; x = cp_at(c, ++pos)) {
            }
            st = end_push(s, k, (uint32_t)pos);
            continue;
        }
        pos = ws_end(c, pos, 1);
        st = end_push(s, k, (uint32_t)pos);
    }
    return st;
}

/* The classes of the isolating passes. */
static int in_class(tok_pass pass, uint32_t cp, unsigned f) {
    switch (pass) {
    case PASS_DIGIT_EACH:
    case PASS_DIGIT_RUNS:
        return (f & F_N) != 0;
    case PASS_PUNCT_RUNS_TICK:
        if (cp == '`') return 1;
        /* fall through */
    case PASS_PUNCT_RUNS:
        return (f & LLM_UNICODE_PUNCTUATION) || (cp < 128 && strchr("$+<=>^~|", (int)cp) && cp);
    default:
        return 0;
    }
}

/* Passes that cut out the matches of a one-class pattern (a single code point,
 * a run, or three ASCII digits), leaving the text between as chunks. */
static clg_status split_isolate(scratch *s, const span *c, int k, tok_pass pass) {
    clg_status st = CLG_OK;
    for (size_t pos = c->ini; pos < c->end && st == CLG_OK;) {
        size_t n = 0;
        if (pass == PASS_DIGIT_TRIPLES) {
            while (n < 3 && pos + n < c->end && c->cp[pos + n] >= '0' && c->cp[pos + n] <= '9')
                n++;
            if (n < 3) n = 0;
        } else if (in_class(pass, c->cp[pos], c->fl[pos])) {
            n = 1;
            if (pass != PASS_DIGIT_EACH)
                while (pos + n < c->end && in_class(pass, c->cp[pos + n], c->fl[pos + n]))
                    n++;
        }
        if (!n) {
            pos++;
            continue;
        }
        st = end_push(s, k, (uint32_t)pos); /* the text before, if any */
        pos += n;
        if (st == CLG_OK) st = end_push(s, k, (uint32_t)pos);
    }
    if (st == CLG_OK) st = end_push(s, k, (uint32_t)c->end);
    return st;
}

/* Runs the passes; the words are left in s->ends[*which]. */
static clg_status pretokenize(const llm_tokenizer *t, scratch *s, int *which) {
    int cur = 0;
    s->n_ends[0] = 0;
    clg_status st = end_push(s, 0, (uint32_t)s->n);
    for (int p = 0; p < t->n_passes && st == CLG_OK; p++) {
        int nxt = 1 - cur;
        s->n_ends[nxt] = 0;
        size_t ini = 0;
        for (size_t i = 0; i < s->n_ends[cur] && st == CLG_OK; i++) {
            span c = {s->cp, s->fl, ini, s->ends[cur][i]};
            switch (t->passes[p]) {
            case PASS_GPT2:
                st = split_gpt2(s, &c, nxt);
                break;
            case PASS_LLAMA3:
                st = split_llama3(s, &c, nxt, 3);
                break;
            case PASS_QWEN2:
                st = split_llama3(s, &c, nxt, 1);
                break;
            default:
                st = split_isolate(s, &c, nxt, t->passes[p]);
                break;
            }
            /* every pass covers its chunk completely */
            if (st == CLG_OK) st = end_push(s, nxt, (uint32_t)c.end);
            ini = c.end;
        }
        cur = nxt;
    }
    *which = cur;
    return st;
}

/* ---- merges ------------------------------------------------------------ */

/* The pair merges when "left right" is a merge: the lowest rank first. */
static int pair_key(const llm_tokenizer *t, const char *word, const tok_sym *a, const tok_sym *b,
                    double *key) {
    int32_t rank = tok_merge_rank(t, word + a->start, a->n, word + b->start, b->n);
    *key = rank;
    return rank >= 0;
}

/* BPE over one byte-encoded word s->word[0..len). */
static clg_status merge_word(const llm_tokenizer *t, scratch *s, size_t len, tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id = tok_find(t, s->word, len);
        if (id >= 0) return tok_ids_push(out, id);
    }
    tok_merger *m = &s->merger;
    clg_status st = tok_merge_symbols(t, m, s->word, len, pair_key);
    for (int32_t i = m->n_sym ? 0 : -1; i >= 0 && st == CLG_OK; i = m->sym[i].next) {
        const tok_sym *y = &m->sym[i];
        int32_t id = tok_find(t, s->word + y->start, y->n);
        if (id >= 0) {
            st = tok_ids_push(out, id);
            continue;
        }
        /* not a token: its single bytes that are tokens (llama.cpp) */
        for (uint32_t j = 0; j < y->n && st == CLG_OK; j++) {
            id = tok_find(t, s->word + y->start + j, 1);
            if (id >= 0) st = tok_ids_push(out, id);
        }
    }
    return st;
}

clg_status tok_bpe_encode(const llm_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    scratch s = {0};
    int which = 0;
    clg_status st = decode_utf8(&s, (const unsigned char *)text, len);
    if (st == CLG_OK) st = pretokenize(t, &s, &which);
    size_t ini = 0;
    for (size_t w = 0; st == CLG_OK && w < s.n_ends[which]; w++) {
        size_t end = s.ends[which][w];
        /* code points -> UTF-8 -> one GPT-2 character per byte (<= 2 bytes each) */
        if ((st = tok_grow((void **)&s.word, &s.word_cap, (end - ini) * 8, 1)) != CLG_OK) break;
        size_t n = 0;
        for (size_t i = ini; i < end; i++) {
            char u[4];
            size_t k = tok_utf8_encode(s.cp[i], u);
            for (size_t j = 0; j < k; j++)
                n += tok_utf8_encode(tok_byte_to_cp((unsigned char)u[j]), s.word + n);
        }
        st = merge_word(t, &s, n, out);
        ini = end;
    }
    scratch_free(&s);
    return st;
}
