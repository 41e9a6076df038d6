/* SentencePiece-style BPE (tokenizer.ggml.model = "llama"), as llama.cpp does
 * it: start from UTF-8 characters, repeatedly merge the adjacent pair whose
 * concatenation is the vocabulary entry with the highest score (ties: the
 * leftmost), then emit each piece, or its bytes as <0xXX> tokens when the
 * piece is not in the vocabulary. */
#include <stdlib.h>

#include "graphs/text/tokenizer_impl.h"

typedef struct sym {
    uint32_t start, n; /* n = 0 once merged into its left neighbour */
    int32_t prev, next;
} sym;

typedef struct pair {
    float score;
    int32_t left, right;
    uint32_t size;
} pair;

typedef struct work {
    sym *s;
    pair *heap;
    size_t n_heap, cap_heap;
} work;

static int pair_before(const pair *a, const pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static clg_status push(work *w, pair p) {
    if (w->n_heap == w->cap_heap) {
        size_t cap = w->cap_heap ? w->cap_heap * 2 : 64;
        pair *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        w->heap = h;
        w->cap_heap = cap;
    }
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = p;
    return CLG_OK;
}

static pair pop(work *w) {
    pair top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const pair *best = &last;
        if (l < n && pair_before(&w->heap[l], best)) m = l, best = &w->heap[l];
        if (r < n && pair_before(&w->heap[r], best)) m = r;
        if (m == i) break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (n) w->heap[i] = last;
    return top;
}

static clg_status try_pair(const llm_tokenizer *t, work *w, const char *text, int32_t left,
                           int32_t right) {
    if (left < 0 || right < 0) return CLG_OK;
    const sym *a = &w->s[left], *b = &w->s[right];
    int32_t id = tok_find(t, text + a->start, a->n + b->n); /* b follows a in text */
    if (id < 0) return CLG_OK;
    return push(w, (pair){t->tokens[id].score, left, right, a->n + b->n});
}

clg_status tok_spm_encode(const llm_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    if (len == 0) return CLG_OK;
    if (len > INT32_MAX) return clg_fail(CLG_ERR_INVALID_ARG, "tokenizer: text over 2 GiB");
    work w = {0};
    w.s = malloc(len * sizeof *w.s);
    if (!w.s) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    int32_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t k = tok_utf8_len((unsigned char)text[off]);
        if (k > len - off) k = len - off;
        w.s[n] = (sym){(uint32_t)off, (uint32_t)k, n - 1, -1};
        if (n) w.s[n - 1].next = n;
        n++;
        off += k;
    }
    clg_status st = CLG_OK;
    for (int32_t i = 1; i < n && st == CLG_OK; i++)
        st = try_pair(t, &w, text, i - 1, i);
    while (w.n_heap && st == CLG_OK) {
        pair p = pop(&w);
        sym *l = &w.s[p.left], *r = &w.s[p.right];
        if (!l->n || !r->n || l->n + r->n != p.size) continue; /* outdated */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w.s[r->next].prev = p.left;
        st = try_pair(t, &w, text, l->prev, p.left);
        if (st == CLG_OK) st = try_pair(t, &w, text, p.left, l->next);
    }
    for (int32_t i = 0; i >= 0 && st == CLG_OK; i = w.s[i].next) {
        const sym *y = &w.s[i];
        int32_t id = tok_find(t, text + y->start, y->n);
        if (id >= 0) {
            st = tok_ids_push(out, id);
            continue;
        }
        /* byte fallback; a byte without a token becomes <unk> */
        for (uint32_t j = 0; j < y->n && st == CLG_OK; j++) {
            id = t->byte_tokens[(unsigned char)text[y->start + j]];
            if (id < 0) id = t->unk;
            if (id >= 0) st = tok_ids_push(out, id);
        }
    }
    free(w.s);
    free(w.heap);
    return st;
}
