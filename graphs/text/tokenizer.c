/* Tokenizer core: the vocabulary read from GGUF metadata (hash maps for token
 * texts and merges), special tokens and their defaults as llama.cpp sets them,
 * encode (special-token partition, then BPE or SPM per fragment), decode and
 * the streaming decoder. */
#include <stdlib.h>
#include <string.h>

#include "clgraph/util.h"
#include "graphs/text/tokenizer_impl.h"

#define KEY_PREFIX "tokenizer.ggml."

/* ---- small helpers ----------------------------------------------------- */

clg_status tok_grow(void **p, size_t *cap, size_t n, size_t size) {
    if (n <= *cap) return CLG_OK;
    size_t c = *cap ? *cap : 64;
    while (c < n)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory (%zu x %zu bytes)", c,
                        size);
    *p = q;
    *cap = c;
    return CLG_OK;
}

clg_status tok_ids_push(tok_ids *ids, int32_t id) {
    clg_status st = tok_grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v);
    if (st == CLG_OK) ids->v[ids->n++] = id;
    return st;
}

size_t tok_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp > 0x10ffff) cp = 0xfffd;
    if (cp < 0x10000) return tok_utf8_encode(cp, out);
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A growable byte buffer. */
typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes;

static clg_status bytes_put(bytes *b, const void *src, size_t n) {
    clg_status st = tok_grow((void **)&b->p, &b->cap, b->n + n, 1);
    if (st != CLG_OK) return st;
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
    return CLG_OK;
}

/* ---- UTF-8 repair ------------------------------------------------------ */

/* Copies the valid UTF-8 of s[0..n) to out, writing U+FFFD for each maximal
 * invalid subpart (Unicode 3.9, as Python's errors="replace"). When !final,
 * stops before a valid but incomplete sequence at the end and returns where it
 * starts; otherwise returns n. */
static clg_status utf8_repair(const unsigned char *s, size_t n, int final, bytes *out,
                              size_t *consumed) {
    static const char repl[3] = {(char)0xef, (char)0xbf, (char)0xbd};
    size_t i = 0, start = 0; /* s[start..i) is valid and not yet copied */
    clg_status st = CLG_OK;
    *consumed = 0;
    if (n == 0) return CLG_OK;
    while (i < n) {
        unsigned c = s[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            need = 0; /* never valid: one U+FFFD for the byte */
        }
        size_t j = 1;
        int bad = need == 0;
        while (!bad && j <= need) {
            if (i + j >= n) break; /* runs past the end */
            unsigned b = s[i + j];
            if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xbf))
                bad = 1;
            else
                j++;
        }
        if (!bad && j > need) {
            i += need + 1;
            continue;
        }
        if (!bad && !final) break; /* incomplete tail: hold it */
        /* s[i..i+j) is the maximal invalid subpart */
        if ((st = bytes_put(out, s + start, i - start)) != CLG_OK) return st;
        if ((st = bytes_put(out, repl, 3)) != CLG_OK) return st;
        i += j;
        start = i;
    }
    if ((st = bytes_put(out, s + start, i - start)) != CLG_OK) return st;
    *consumed = i;
    return CLG_OK;
}

/* ---- hash maps --------------------------------------------------------- */

static uint32_t map_size_for(size_t n) {
    uint32_t size = 16;
    while (size < 2 * n)
        size *= 2;
    return size;
}

int32_t tok_find(const llm_tokenizer *t, const char *text, size_t len) {
    if (!t->token_map || len == 0) return LLM_TOKEN_NONE;
    uint32_t h = (uint32_t)clg_hash(CLG_HASH_INIT, text, len);
    for (uint32_t i = h & t->token_map_mask;; i = (i + 1) & t->token_map_mask) {
        uint32_t slot = t->token_map[i];
        if (!slot) return LLM_TOKEN_NONE;
        const tok_entry *e = &t->tokens[slot - 1];
        if (e->text_len == len && !memcmp(t->arena + e->text_off, text, len))
            return (int32_t)(slot - 1);
    }
}

int32_t tok_merge_rank(const llm_tokenizer *t, const char *left, size_t left_len, const char *right,
                       size_t right_len) {
    if (!t->merge_map) return -1;
    /* the hash of "left right" without building it */
    uint64_t h = clg_hash(CLG_HASH_INIT, left, left_len);
    h = clg_hash(clg_hash(h, " ", 1), right, right_len);
    size_t len = left_len + 1 + right_len;
    for (uint32_t i = (uint32_t)h & t->merge_map_mask;; i = (i + 1) & t->merge_map_mask) {
        uint32_t slot = t->merge_map[i];
        if (!slot) return -1;
        const tok_merge *m = &t->merges[slot - 1];
        const char *s = t->arena + m->off;
        if (m->len == len && !memcmp(s, left, left_len) && s[left_len] == ' ' &&
            !memcmp(s + left_len + 1, right, right_len))
            return (int32_t)(slot - 1);
    }
}

/* ---- loading ----------------------------------------------------------- */

static clg_status arena_add(llm_tokenizer *t, size_t *cap, const char *s, size_t n, uint32_t *off) {
    if (t->arena_len + n > UINT32_MAX)
        return clg_fail(CLG_ERR_FORMAT, "tokenizer: vocabulary text exceeds 4 GiB");
    if (t->arena_len + n > *cap) {
        size_t c = *cap ? *cap : 1 << 16;
        while (c < t->arena_len + n)
            c *= 2;
        char *p = realloc(t->arena, c);
        if (!p) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory (%zu bytes)", c);
        t->arena = p;
        *cap = c;
    }
    if (n) memcpy(t->arena + t->arena_len, s, n);
    *off = (uint32_t)t->arena_len;
    t->arena_len += n;
    return CLG_OK;
}

/* An optional key: CLG_OK with *found = 0 when absent. */
static clg_status opt_u32(const llm_gguf *f, const char *key, uint32_t *v, int *found) {
    *found = 0;
    if (llm_gguf_find_key(f, key) < 0) return CLG_OK;
    clg_status st = llm_gguf_get_u32(f, key, v);
    if (st == CLG_OK) *found = 1;
    return st;
}

static clg_status opt_bool(const llm_gguf *f, const char *key, int *v) {
    if (llm_gguf_find_key(f, key) < 0) return CLG_OK;
    return llm_gguf_get_bool(f, key, v);
}

/* A numeric array of at least n elements of one of the given types. */
static clg_status opt_array(const llm_gguf *f, const char *key, llm_gguf_type a, llm_gguf_type b,
                            uint64_t n, const void **data, llm_gguf_type *type) {
    *data = NULL;
    if (llm_gguf_find_key(f, key) < 0) return CLG_OK;
    uint64_t count;
    clg_status st = llm_gguf_get_array(f, key, type, &count);
    if (st != CLG_OK) return st;
    if (*type != a && *type != b)
        return clg_fail(CLG_ERR_FORMAT, "tokenizer: %s has element type %d, want %d or %d", key,
                        (int)*type, (int)a, (int)b);
    if (count < n)
        return clg_fail(CLG_ERR_FORMAT, "tokenizer: %s has %llu entries for %llu tokens", key,
                        (unsigned long long)count, (unsigned long long)n);
    return llm_gguf_array_data(f, key, data);
}

static clg_status read_tokens(llm_tokenizer *t, const llm_gguf *f, size_t *cap) {
    llm_gguf_type type;
    uint64_t n;
    clg_status st = llm_gguf_get_array(f, KEY_PREFIX "tokens", &type, &n);
    if (st != CLG_OK) return st;
    if (type != LLM_GGUF_STRING)
        return clg_fail(CLG_ERR_FORMAT, "tokenizer: " KEY_PREFIX "tokens is not a string array");
    if (n == 0 || n > INT32_MAX)
        return clg_fail(CLG_ERR_FORMAT, "tokenizer: " KEY_PREFIX "tokens has %llu entries",
                        (unsigned long long)n);
    const void *scores, *types;
    llm_gguf_type score_type, types_type;
    if ((st = opt_array(f, KEY_PREFIX "scores", LLM_GGUF_FLOAT32, LLM_GGUF_INT32, n, &scores,
                        &score_type)) != CLG_OK)
        return st;
    if ((st = opt_array(f, KEY_PREFIX "token_type", LLM_GGUF_INT32, LLM_GGUF_INT32, n, &types,
                        &types_type)) != CLG_OK)
        return st;

    t->n_tokens = (int32_t)n;
    t->tokens = calloc(n, sizeof *t->tokens);
    t->token_map_mask = map_size_for(n) - 1;
    t->token_map = calloc((size_t)t->token_map_mask + 1, sizeof *t->token_map);
    if (!t->tokens || !t->token_map)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for %llu tokens",
                        (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        llm_gguf_str s;
        if ((st = llm_gguf_array_str(f, KEY_PREFIX "tokens", i, &s)) != CLG_OK) return st;
        if (s.len > UINT32_MAX)
            return clg_fail(CLG_ERR_FORMAT, "tokenizer: token %llu too long",
                            (unsigned long long)i);
        tok_entry *e = &t->tokens[i];
        if ((st = arena_add(t, cap, s.ptr, (size_t)s.len, &e->text_off)) != CLG_OK) return st;
        e->text_len = (uint32_t)s.len;
        if (scores) {
            if (score_type == LLM_GGUF_FLOAT32) {
                memcpy(&e->score, (const char *)scores + 4 * i, 4);
            } else {
                int32_t v;
                memcpy(&v, (const char *)scores + 4 * i, 4);
                e->score = (float)v;
            }
        }
        int32_t ty = LLM_TOKEN_NORMAL;
        if (types) memcpy(&ty, (const char *)types + 4 * i, 4);
        e->type = (uint8_t)(ty >= 0 && ty <= 6 ? ty : 0);
        switch (ty) {
        case LLM_TOKEN_NORMAL:
            e->attr = TOK_ATTR_NORMAL;
            break;
        case LLM_TOKEN_UNKNOWN:
            e->attr = TOK_ATTR_UNKNOWN;
            break;
        case LLM_TOKEN_CONTROL:
            e->attr = TOK_ATTR_CONTROL;
            break;
        case LLM_TOKEN_USER_DEFINED:
            e->attr = TOK_ATTR_USER_DEFINED;
            break;
        case LLM_TOKEN_UNUSED:
            e->attr = TOK_ATTR_UNUSED;
            break;
        case LLM_TOKEN_BYTE:
            e->attr = TOK_ATTR_BYTE;
            break;
        default:
            e->attr = 0;
            break;
        }
    }
    /* The map: the first of duplicate texts wins; empty texts are not mapped. */
    for (uint32_t id = 0; id < (uint32_t)n; id++) {
        const tok_entry *e = &t->tokens[id];
        if (!e->text_len || tok_find(t, t->arena + e->text_off, e->text_len) >= 0) continue;
        uint32_t h = (uint32_t)clg_hash(CLG_HASH_INIT, t->arena + e->text_off, e->text_len);
        uint32_t i = h & t->token_map_mask;
        while (t->token_map[i])
            i = (i + 1) & t->token_map_mask;
        t->token_map[i] = id + 1;
    }
    return CLG_OK;
}

static clg_status read_merges(llm_tokenizer *t, const llm_gguf *f, size_t *cap) {
    llm_gguf_type type;
    uint64_t n;
    clg_status st = llm_gguf_get_array(f, KEY_PREFIX "merges", &type, &n);
    if (st != CLG_OK) return st;
    if (type != LLM_GGUF_STRING)
        return clg_fail(CLG_ERR_FORMAT, "tokenizer: " KEY_PREFIX "merges is not a string array");
    if (n > INT32_MAX)
        return clg_fail(CLG_ERR_FORMAT, "tokenizer: %llu merges", (unsigned long long)n);
    t->n_merges = (uint32_t)n;
    t->merges = calloc(n ? n : 1, sizeof *t->merges);
    t->merge_map_mask = map_size_for(n) - 1;
    t->merge_map = calloc((size_t)t->merge_map_mask + 1, sizeof *t->merge_map);
    if (!t->merges || !t->merge_map)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for %llu merges",
                        (unsigned long long)n);
    for (uint64_t r = 0; r < n; r++) {
        llm_gguf_str s;
        if ((st = llm_gguf_array_str(f, KEY_PREFIX "merges", r, &s)) != CLG_OK) return st;
        /* "left right", split at the first space after the first byte */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        if (!sp || s.len > UINT32_MAX) continue; /* can never match, as in llama.cpp */
        tok_merge *m = &t->merges[r];
        if ((st = arena_add(t, cap, s.ptr, (size_t)s.len, &m->off)) != CLG_OK) return st;
        m->len = (uint32_t)s.len;
        size_t left = (size_t)(sp - s.ptr);
        if (tok_merge_rank(t, s.ptr, left, sp + 1, (size_t)s.len - left - 1) >= 0) continue;
        uint32_t h = (uint32_t)clg_hash(CLG_HASH_INIT, s.ptr, (size_t)s.len);
        uint32_t i = h & t->merge_map_mask;
        while (t->merge_map[i])
            i = (i + 1) & t->merge_map_mask;
        t->merge_map[i] = (uint32_t)r + 1;
    }
    return CLG_OK;
}

/* The bytes each token decodes to (llama.cpp's token_to_piece with
 * special = true), stored after the texts in the arena. */
static clg_status build_pieces(llm_tokenizer *t, size_t *cap) {
    char buf[64];
    bytes tmp = {0};
    clg_status st = CLG_OK;
    for (int32_t id = 0; id < t->n_tokens; id++) {
        tok_entry *e = &t->tokens[id];
        const char *text = t->arena + e->text_off;
        size_t n = e->text_len;
        tmp.n = 0;
        if (e->attr & TOK_ATTR_SPECIAL) {
            st = bytes_put(&tmp, text, n);
        } else if (e->attr & TOK_ATTR_NORMAL) {
            if (t->type == LLM_TOKENIZER_SPM) {
                /* U+2581 -> space */
                for (size_t i = 0; i < n && st == CLG_OK;) {
                    if (i + 3 <= n && !memcmp(text + i, "\xe2\x96\x81", 3)) {
                        st = bytes_put(&tmp, " ", 1);
                        i += 3;
                    } else {
                        st = bytes_put(&tmp, text + i++, 1);
                    }
                }
            } else {
                /* GPT-2 printable code points -> bytes; others kept as they are */
                for (size_t i = 0; i < n && st == CLG_OK;) {
                    size_t k = tok_utf8_len((unsigned char)text[i]);
                    if (k > n - i) k = n - i;
                    uint32_t cp = (unsigned char)text[i];
                    if (k == 2) cp = ((cp & 0x1fu) << 6) | ((unsigned char)text[i + 1] & 0x3fu);
                    int b = k <= 2 ? tok_cp_to_byte(cp) : -1;
                    if (b >= 0) {
                        buf[0] = (char)b;
                        st = bytes_put(&tmp, buf, 1);
                    } else {
                        st = bytes_put(&tmp, text + i, k);
                    }
                    i += k;
                }
            }
        } else if (e->attr & TOK_ATTR_BYTE) {
            /* "<0xXX>" */
            unsigned v = 0;
            int ok = n == 6 && !memcmp(text, "<0x", 3) && text[5] == '>';
            for (int i = 3; ok && i < 5; i++) {
                char c = text[i];
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                               : -1;
                if (d < 0) ok = 0;
                v = v * 16 + (unsigned)d;
            }
            if (!ok) {
                st = clg_fail(CLG_ERR_FORMAT, "tokenizer: byte token %d is '%.*s', not <0xXX>",
                              (int)id, (int)(n < 32 ? n : 32), text);
            } else {
                buf[0] = (char)v;
                st = bytes_put(&tmp, buf, 1);
            }
        }
        if (st == CLG_OK) st = arena_add(t, cap, tmp.p, tmp.n, &e->piece_off);
        if (st != CLG_OK) break;
        e->piece_len = (uint32_t)tmp.n;
    }
    free(tmp.p);
    return st;
}

static int32_t find_str(const llm_tokenizer *t, const char *s) {
    return tok_find(t, s, strlen(s));
}

/* Marks a token llama.cpp recognises by its text as control. */
static void make_control(llm_tokenizer *t, int32_t id) {
    if (id >= 0) t->tokens[id].attr |= TOK_ATTR_CONTROL;
}

/* EOT / EOM / FIM detection and the end-of-generation set, following
 * llama.cpp's lists of texts (the first text of a list found wins). */
static void find_eog(llm_tokenizer *t, int32_t fim[3]) {
    static const char *const eot_texts[] = {"<|eot_id|>",
                                            "<|im_end|>",
                                            "<|end|>",
                                            "<end_of_turn>",
                                            "<|endoftext|>",
                                            "<|end_of_text|>",
                                            "<EOT>",
                                            "_<EOT>",
                                            "[EOT]",
                                            "<\xef\xbd\x9c"
                                            "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                            "<end_of_utterance>"};
    static const char *const eog_texts[] = {"<|eot_id|>",
                                            "<|im_end|>",
                                            "<|end|>",
                                            "<|return|>",
                                            "<|call|>",
                                            "<|flush|>",
                                            "<|calls|>",
                                            "<end_of_turn>",
                                            "<|endoftext|>",
                                            "<|eom_id|>",
                                            "<EOT>",
                                            "_<EOT>",
                                            "[EOT]",
                                            "[EOS]",
                                            "<|end_of_text|>",
                                            "<end_of_utterance>",
                                            "</s>", /* Gemma 3: user-defined, not its EOS */
                                            "<\xef\xbd\x9c"
                                            "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"};
    static const char *const fim_texts[3][6] = {
        {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
        {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
        {"<|file_sep|>", NULL}};
    size_t n_eot = sizeof eot_texts / sizeof eot_texts[0];
    size_t n_eog = sizeof eog_texts / sizeof eog_texts[0];
    for (size_t i = 0; t->eot < 0 && i < n_eot; i++) {
        t->eot = find_str(t, eot_texts[i]);
        make_control(t, t->eot);
    }
    if (t->eom < 0) {
        t->eom = find_str(t, "<|eom_id|>");
        make_control(t, t->eom);
    }
    for (int k = 0; k < 3; k++) {
        for (int i = 0; fim[k] < 0 && fim_texts[k][i]; i++) {
            fim[k] = find_str(t, fim_texts[k][i]);
            make_control(t, fim[k]);
        }
        if (fim[k] >= 0) t->tokens[fim[k]].eog = 1;
    }
    for (size_t i = 0; i < n_eog; i++) {
        int32_t id = find_str(t, eog_texts[i]);
        if (id < 0) continue;
        t->tokens[id].eog = 1;
        make_control(t, id);
    }
    const int32_t always[3] = {t->eos, t->eot, t->eom};
    for (int i = 0; i < 3; i++)
        if (always[i] >= 0) t->tokens[always[i]].eog = 1;
    /* o200k_harmony / solar-open: <|end|> ends a message, not the generation */
    int32_t end = find_str(t, "<|end|>");
    int32_t ret = find_str(t, "<|return|>"), call = find_str(t, "<|call|>");
    int32_t calls = find_str(t, "<|calls|>"), flush = find_str(t, "<|flush|>");
    if (end >= 0 && end != t->eos && end != t->eot &&
        ((ret >= 0 && call >= 0) || (calls >= 0 && flush >= 0))) {
        t->tokens[end].eog = 0;
        t->tokens[end].attr = TOK_ATTR_USER_DEFINED;
    }
}

typedef struct special_key {
    uint32_t len;
    int32_t id;
} special_key;

static int cmp_special(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Tokens matched as a whole in text, longest first; ties by id, so that the
 * order is deterministic (llama.cpp's std::sort leaves it unspecified). */
static clg_status build_specials(llm_tokenizer *t) {
    special_key *keys = malloc(sizeof *keys * (size_t)t->n_tokens);
    t->specials = malloc(sizeof *t->specials * (size_t)t->n_tokens);
    if (!keys || !t->specials) {
        free(keys);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    }
    for (int32_t id = 0; id < t->n_tokens; id++)
        if ((t->tokens[id].attr & TOK_ATTR_SPECIAL) && t->tokens[id].text_len)
            keys[t->n_specials++] = (special_key){t->tokens[id].text_len, id};
    qsort(keys, (size_t)t->n_specials, sizeof *keys, cmp_special);
    for (int32_t i = 0; i < t->n_specials; i++)
        t->specials[i] = keys[i].id;
    free(keys);
    return CLG_OK;
}

static clg_status read_special_ids(llm_tokenizer *t, const llm_gguf *f, int32_t fim[3]) {
    static const char *const keys[] = {KEY_PREFIX "bos_token_id",     KEY_PREFIX "eos_token_id",
                                       KEY_PREFIX "eot_token_id",     KEY_PREFIX "eom_token_id",
                                       KEY_PREFIX "unknown_token_id", KEY_PREFIX "padding_token_id",
                                       KEY_PREFIX "fim_pad_token_id", KEY_PREFIX "fim_rep_token_id",
                                       KEY_PREFIX "fim_sep_token_id"};
    int32_t *slots[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk,
                        &t->pad, &fim[0], &fim[1], &fim[2]};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (*slots[i] >= t->n_tokens) *slots[i] = LLM_TOKEN_NONE; /* a default out of range */
        uint32_t v;
        int found;
        clg_status st = opt_u32(f, keys[i], &v, &found);
        if (st != CLG_OK) return st;
        if (found && v < (uint32_t)t->n_tokens) *slots[i] = (int32_t)v;
        /* an id out of range keeps the default, as llama.cpp does */
    }
    return CLG_OK;
}

static void copy_str(char *dst, size_t cap, llm_gguf_str s) {
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = 0;
}

clg_status llm_tokenizer_create(const llm_gguf *f, llm_tokenizer **out) {
    llm_tokenizer *t = NULL;
    clg_status st;
    if (!f || !out) return clg_fail(CLG_ERR_INVALID_ARG, "llm_tokenizer_create: NULL argument");
    *out = NULL;
    t = calloc(1, sizeof *t);
    if (!t) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    size_t cap = 0;
    int32_t fim[3] = {LLM_TOKEN_NONE, LLM_TOKEN_NONE, LLM_TOKEN_NONE};
    t->eot = t->eom = t->pad = LLM_TOKEN_NONE;

    llm_gguf_str s;
    if ((st = llm_gguf_get_str(f, KEY_PREFIX "model", &s)) != CLG_OK) goto fail;
    copy_str(t->model, sizeof t->model, s);
    if (llm_gguf_find_key(f, KEY_PREFIX "pre") >= 0) {
        if ((st = llm_gguf_get_str(f, KEY_PREFIX "pre", &s)) != CLG_OK) goto fail;
        copy_str(t->pre, sizeof t->pre, s);
    }
    int add_bos_default;
    if (!strcmp(t->model, "llama")) {
        t->type = LLM_TOKENIZER_SPM;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_space_prefix = 1;
        add_bos_default = 1;
    } else if (!strcmp(t->model, "gpt2")) {
        t->type = LLM_TOKENIZER_BPE;
        t->bos = 11, t->eos = 11, t->unk = LLM_TOKEN_NONE;
        if ((st = tok_bpe_setup(t, &add_bos_default)) != CLG_OK) goto fail;
    } else {
        st = clg_fail(CLG_ERR_UNSUPPORTED,
                      "tokenizer: model '%s' is not supported (supported: llama, gpt2)", t->model);
        goto fail;
    }
    if ((st = read_tokens(t, f, &cap)) != CLG_OK) goto fail;
    if (t->type == LLM_TOKENIZER_BPE && (st = read_merges(t, f, &cap)) != CLG_OK) goto fail;
    if ((st = read_special_ids(t, f, fim)) != CLG_OK) goto fail;

    t->add_bos = add_bos_default;
    t->add_eos = 0;
    if ((st = opt_bool(f, KEY_PREFIX "add_bos_token", &t->add_bos)) != CLG_OK) goto fail;
    if ((st = opt_bool(f, KEY_PREFIX "add_eos_token", &t->add_eos)) != CLG_OK) goto fail;
    if ((st = opt_bool(f, KEY_PREFIX "add_space_prefix", &t->add_space_prefix)) != CLG_OK)
        goto fail;
    if (t->type == LLM_TOKENIZER_BPE) t->add_space_prefix = 0; /* byte-level: never */
    if (t->add_bos && t->bos < 0) {
        st = clg_fail(CLG_ERR_FORMAT, "tokenizer: " KEY_PREFIX "add_bos_token is set but the "
                                      "model has no BOS token");
        goto fail;
    }
    if (t->add_eos && t->eos < 0) {
        st = clg_fail(CLG_ERR_FORMAT, "tokenizer: " KEY_PREFIX "add_eos_token is set but the "
                                      "model has no EOS token");
        goto fail;
    }

    find_eog(t, fim);
    if ((st = build_specials(t)) != CLG_OK) goto fail;
    if ((st = build_pieces(t, &cap)) != CLG_OK) goto fail;
    for (int b = 0; b < 256; b++) {
        char hex[7];
        static const char digits[] = "0123456789ABCDEF";
        memcpy(hex, "<0x", 3);
        hex[3] = digits[b >> 4], hex[4] = digits[b & 15], hex[5] = '>', hex[6] = 0;
        int32_t id = tok_find(t, hex, 6);
        if (id < 0) {
            char one = (char)b;
            id = tok_find(t, &one, 1);
        }
        t->byte_tokens[b] = id;
    }
    *out = t;
    return CLG_OK;
fail:
    llm_tokenizer_destroy(t);
    return st;
}

void llm_tokenizer_destroy(llm_tokenizer *t) {
    if (!t) return;
    free(t->tokens);
    free(t->arena);
    free(t->token_map);
    free(t->merges);
    free(t->merge_map);
    free(t->specials);
    free(t);
}

/* ---- queries ----------------------------------------------------------- */

/* Queries take NULL as "no tokenizer": empty names, no tokens, no ids. */
llm_tokenizer_type llm_tokenizer_get_type(const llm_tokenizer *t) {
    return t ? t->type : (llm_tokenizer_type)0;
}
const char *llm_tokenizer_model_name(const llm_tokenizer *t) {
    return t ? t->model : "";
}
const char *llm_tokenizer_pre_name(const llm_tokenizer *t) {
    return t ? t->pre : "";
}
int32_t llm_tokenizer_n_tokens(const llm_tokenizer *t) {
    return t ? t->n_tokens : 0;
}
int32_t llm_tokenizer_bos(const llm_tokenizer *t) {
    return t ? t->bos : LLM_TOKEN_NONE;
}
int32_t llm_tokenizer_eos(const llm_tokenizer *t) {
    return t ? t->eos : LLM_TOKEN_NONE;
}
int32_t llm_tokenizer_eot(const llm_tokenizer *t) {
    return t ? t->eot : LLM_TOKEN_NONE;
}
int32_t llm_tokenizer_unk(const llm_tokenizer *t) {
    return t ? t->unk : LLM_TOKEN_NONE;
}
int32_t llm_tokenizer_pad(const llm_tokenizer *t) {
    return t ? t->pad : LLM_TOKEN_NONE;
}
int llm_tokenizer_add_bos(const llm_tokenizer *t) {
    return t && t->add_bos;
}
int llm_tokenizer_add_eos(const llm_tokenizer *t) {
    return t && t->add_eos;
}

static int in_range(const llm_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_tokens;
}

int llm_tokenizer_is_eog(const llm_tokenizer *t, int32_t id) {
    return in_range(t, id) && t->tokens[id].eog;
}

int llm_tokenizer_is_special(const llm_tokenizer *t, int32_t id) {
    return in_range(t, id) && (t->tokens[id].attr & TOK_ATTR_SPECIAL) != 0;
}

llm_token_type llm_tokenizer_token_type(const llm_tokenizer *t, int32_t id) {
    return in_range(t, id) ? (llm_token_type)t->tokens[id].type : LLM_TOKEN_UNDEFINED;
}

const char *llm_tokenizer_token_text(const llm_tokenizer *t, int32_t id, size_t *len) {
    if (!in_range(t, id)) return NULL;
    *len = t->tokens[id].text_len;
    return t->arena + t->tokens[id].text_off;
}

const char *llm_tokenizer_token_piece(const llm_tokenizer *t, int32_t id, size_t *len) {
    if (!in_range(t, id)) return NULL;
    *len = t->tokens[id].piece_len;
    return t->arena + t->tokens[id].piece_off;
}

int32_t llm_tokenizer_find(const llm_tokenizer *t, const char *text, size_t len) {
    return t && text ? tok_find(t, text, len) : LLM_TOKEN_NONE;
}

/* ---- encode ------------------------------------------------------------ */

/* A piece of the input: plain text [off, off+len) or one special token. */
typedef struct fragment {
    int32_t id; /* LLM_TOKEN_NONE for text */
    size_t off, len;
} fragment;

typedef struct fragments {
    fragment *v;
    size_t n, cap;
} fragments;

static clg_status frag_push(fragments *f, int32_t id, size_t off, size_t len) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        fragment *v = realloc(f->v, cap * sizeof *v);
        if (!v) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (fragment){id, off, len};
    return CLG_OK;
}

/* First occurrence of needle (nlen >= 1) in hay[0..n), or NULL (memmem is a
 * GNU extension). */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t nlen) {
    while (n >= nlen) {
        const char *p = memchr(hay, needle[0], n - nlen + 1);
        if (!p) return NULL;
        if (!memcmp(p, needle, nlen)) return p;
        n -= (size_t)(p - hay) + 1;
        hay = p + 1;
    }
    return NULL;
}

/* Splits the text fragments at every occurrence of each special token, the
 * longest tokens first (llama.cpp's tokenizer_st_partition). */
static clg_status partition(const llm_tokenizer *t, const char *text, size_t len, int parse_special,
                            fragments *out) {
    fragments cur = {0}, next = {0};
    clg_status st = CLG_OK;
    if (len && (st = frag_push(&cur, LLM_TOKEN_NONE, 0, len)) != CLG_OK) goto done;
    for (int32_t k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        const tok_entry *e = &t->tokens[id];
        if (!parse_special && (e->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        const char *tok = t->arena + e->text_off;
        size_t tlen = e->text_len;
        int hit = 0;
        next.n = 0;
        for (size_t i = 0; i < cur.n && st == CLG_OK; i++) {
            fragment fr = cur.v[i];
            if (fr.id != LLM_TOKEN_NONE || fr.len < tlen) {
                st = frag_push(&next, fr.id, fr.off, fr.len);
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            while (st == CLG_OK) {
                const char *m = find_bytes(text + pos, end - pos, tok, tlen);
                if (!m) {
                    if (end > pos) st = frag_push(&next, LLM_TOKEN_NONE, pos, end - pos);
                    break;
                }
                size_t at = (size_t)(m - text);
                hit = 1;
                if (at > pos) st = frag_push(&next, LLM_TOKEN_NONE, pos, at - pos);
                if (st == CLG_OK) st = frag_push(&next, id, at, tlen);
                pos = at + tlen;
            }
        }
        if (st != CLG_OK) goto done;
        if (hit) {
            fragments tmp = cur;
            cur = next;
            next = tmp;
        }
    }
done:
    free(next.v);
    if (st != CLG_OK) {
        free(cur.v);
        return st;
    }
    *out = cur;
    return CLG_OK;
}

/* SentencePiece-style: a space before text at the start and after each
 * special token, spaces as U+2581. */
static clg_status spm_fragment(const llm_tokenizer *t, const char *text, size_t len, int prefix,
                               bytes *buf, tok_ids *out) {
    buf->n = 0;
    clg_status st = CLG_OK;
    if (prefix) st = bytes_put(buf, "\xe2\x96\x81", 3);
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len && st == CLG_OK; i++) {
        if (text[i] != ' ') continue;
        st = bytes_put(buf, text + run, i - run);
        if (st == CLG_OK) st = bytes_put(buf, "\xe2\x96\x81", 3);
        run = i + 1;
    }
    if (st == CLG_OK) st = bytes_put(buf, text + run, len - run);
    if (st == CLG_OK) st = tok_spm_encode(t, buf->p, buf->n, out);
    return st;
}

clg_status llm_tokenizer_encode(const llm_tokenizer *t, const char *text, size_t len,
                                unsigned flags, int32_t **ids, size_t *n_ids) {
    if (!t || (!text && len) || !ids || !n_ids)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_tokenizer_encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    int add_special = (flags & LLM_TOKENIZE_ADD_SPECIAL) != 0;
    fragments fr = {0};
    tok_ids out = {0};
    bytes buf = {0};
    clg_status st = partition(t, text, len, (flags & LLM_TOKENIZE_PARSE_SPECIAL) != 0, &fr);
    if (st != CLG_OK) return st;
    if (add_special && t->add_bos) st = tok_ids_push(&out, t->bos);
    int prev_special = 1;
    for (size_t i = 0; i < fr.n && st == CLG_OK; i++) {
        if (fr.v[i].id != LLM_TOKEN_NONE) {
            st = tok_ids_push(&out, fr.v[i].id);
            prev_special = 1;
        } else if (t->type == LLM_TOKENIZER_SPM) {
            st = spm_fragment(t, text + fr.v[i].off, fr.v[i].len,
                              t->add_space_prefix && prev_special, &buf, &out);
            prev_special = 0;
        } else {
            st = tok_bpe_encode(t, text + fr.v[i].off, fr.v[i].len, &out);
        }
    }
    if (st == CLG_OK && add_special && t->add_eos) st = tok_ids_push(&out, t->eos);
    free(fr.v);
    free(buf.p);
    if (st != CLG_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n_ids = out.n;
    return CLG_OK;
}

/* ---- decode ------------------------------------------------------------ */

/* The bytes id writes under flags, at the first and / or last position of
 * the ids; *strip is the pending "drop one leading space" state of
 * LLM_DETOKENIZE_STRIP_PREFIX, updated. */
static clg_status piece_of(const llm_tokenizer *t, int32_t id, unsigned flags, int first, int last,
                           int *strip, const char **p, size_t *n) {
    if (!in_range(t, id))
        return clg_fail(CLG_ERR_INVALID_ARG, "tokenizer: token id %d out of range [0, %d)", (int)id,
                        (int)t->n_tokens);
    const tok_entry *e = &t->tokens[id];
    *p = t->arena + e->piece_off;
    *n = e->piece_len;
    int special = (e->attr & TOK_ATTR_SPECIAL) != 0;
    if (((e->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)) && !(flags & LLM_DETOKENIZE_SPECIAL)) ||
        ((flags & LLM_DETOKENIZE_SKIP_BOS_EOS) &&
         ((first && t->add_bos && id == t->bos) || (last && t->add_eos && id == t->eos))))
        *n = 0;
    if (special) {
        *strip = (flags & LLM_DETOKENIZE_STRIP_PREFIX) && t->add_space_prefix;
    } else {
        if (*strip && *n && **p == ' ') (*p)++, (*n)--;
        *strip = 0;
    }
    return CLG_OK;
}

clg_status llm_tokenizer_decode(const llm_tokenizer *t, const int32_t *ids, size_t n,
                                unsigned flags, char **text, size_t *len) {
    if (!t || (!ids && n) || !text || !len)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_tokenizer_decode: NULL argument");
    *text = NULL;
    *len = 0;
    bytes raw = {0}, out = {0};
    int strip = (flags & LLM_DETOKENIZE_STRIP_PREFIX) && t->add_space_prefix;
    clg_status st = CLG_OK;
    for (size_t i = 0; i < n && st == CLG_OK; i++) {
        const char *p;
        size_t k;
        st = piece_of(t, ids[i], flags, i == 0, i + 1 == n, &strip, &p, &k);
        if (st == CLG_OK) st = bytes_put(&raw, p, k);
    }
    size_t used;
    if (st == CLG_OK) st = utf8_repair((const unsigned char *)raw.p, raw.n, 1, &out, &used);
    if (st == CLG_OK) st = bytes_put(&out, "", 1);
    free(raw.p);
    if (st != CLG_OK) {
        free(out.p);
        return st;
    }
    *text = out.p;
    *len = out.n - 1;
    return CLG_OK;
}

/* ---- streaming decode -------------------------------------------------- */

struct llm_tokenizer_stream {
    const llm_tokenizer *t;
    unsigned flags;
    int strip;
    int pushed;            /* a token came since the start (or the last flush) */
    unsigned char held[4]; /* an incomplete UTF-8 sequence, at most 3 bytes */
    size_t n_held;
    bytes work; /* held bytes + the new piece */
    bytes out;
};

clg_status llm_tokenizer_stream_create(const llm_tokenizer *t, unsigned flags,
                                       llm_tokenizer_stream **out) {
    if (!t || !out)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_tokenizer_stream_create: NULL argument");
    llm_tokenizer_stream *s = calloc(1, sizeof *s);
    if (!s) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    s->t = t;
    s->flags = flags;
    s->strip = (flags & LLM_DETOKENIZE_STRIP_PREFIX) && t->add_space_prefix;
    *out = s;
    return CLG_OK;
}

void llm_tokenizer_stream_destroy(llm_tokenizer_stream *s) {
    if (!s) return;
    free(s->work.p);
    free(s->out.p);
    free(s);
}

static clg_status stream_emit(llm_tokenizer_stream *s, const char *p, size_t n, int final,
                              const char **text, size_t *len) {
    s->work.n = 0;
    s->out.n = 0;
    /* never NULL below */
    clg_status st = tok_grow((void **)&s->work.p, &s->work.cap, s->n_held + n + 1, 1);
    if (st == CLG_OK) st = bytes_put(&s->work, s->held, s->n_held);
    if (st == CLG_OK) st = bytes_put(&s->work, p, n);
    size_t used = 0;
    if (st == CLG_OK)
        st = utf8_repair((const unsigned char *)s->work.p, s->work.n, final, &s->out, &used);
    if (st != CLG_OK) return st;
    s->n_held = s->work.n - used; /* < 4: only an incomplete valid prefix is held */
    memcpy(s->held, s->work.p + used, s->n_held);
    *text = s->out.p ? s->out.p : "";
    *len = s->out.n;
    return CLG_OK;
}

clg_status llm_tokenizer_stream_push(llm_tokenizer_stream *s, int32_t id, const char **text,
                                     size_t *len) {
    if (!s || !text || !len)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_tokenizer_stream_push: NULL argument");
    *text = "";
    *len = 0;
    const char *p;
    size_t n;
    clg_status st = piece_of(s->t, id, s->flags, !s->pushed, 0, &s->strip, &p, &n);
    s->pushed = 1;
    if (st != CLG_OK) return st;
    return stream_emit(s, p, n, 0, text, len);
}

clg_status llm_tokenizer_stream_flush(llm_tokenizer_stream *s, const char **text, size_t *len) {
    if (!s || !text || !len)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_tokenizer_stream_flush: NULL argument");
    clg_status st = stream_emit(s, NULL, 0, 1, text, len);
    s->n_held = 0;
    s->pushed = 0;
    s->strip = (s->flags & LLM_DETOKENIZE_STRIP_PREFIX) && s->t->add_space_prefix;
    return st;
}
