/* The merge loop of both BPE flavours (byte-level BPE by merge rank, SentencePiece by
 * score): symbols in a linked list, candidate merges of adjacent symbols in a binary heap;
 * a popped pair whose symbols changed since it was pushed is outdated and skipped. */
#include <stdlib.h>

#include "graphs/text/tokenizer_impl.h"

struct tok_pair {
    double key;
    int32_t left, right;
    uint32_t size; /* bytes of the merged symbol: tells an outdated pair */
};

static int pair_before(const tok_pair *a, const tok_pair *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static clg_status heap_push(tok_merger *m, tok_pair p) {
    clg_status st = tok_grow((void **)&m->heap, &m->heap_cap, m->heap_n + 1, sizeof *m->heap);
    if (st != CLG_OK) return st;
    size_t i = m->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &m->heap[parent])) break;
        m->heap[i] = m->heap[parent];
        i = parent;
    }
    m->heap[i] = p;
    return CLG_OK;
}

static tok_pair heap_pop(tok_merger *m) {
    tok_pair top = m->heap[0], last = m->heap[--m->heap_n];
    size_t i = 0, n = m->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best_i = i;
        const tok_pair *best = &last;
        if (l < n && pair_before(&m->heap[l], best)) best_i = l, best = &m->heap[l];
        if (r < n && pair_before(&m->heap[r], best)) best_i = r;
        if (best_i == i) break;
        m->heap[i] = m->heap[best_i];
        i = best_i;
    }
    if (n) m->heap[i] = last;
    return top;
}

static clg_status try_pair(const llm_tokenizer *t, tok_merger *m, const char *text,
                           tok_merge_key_fn key, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return CLG_OK;
    const tok_sym *a = &m->sym[left], *b = &m->sym[right];
    double k;
    if (!key(t, text, a, b, &k)) return CLG_OK;
    return heap_push(m, (tok_pair){k, left, right, a->n + b->n});
}

clg_status tok_merge_symbols(const llm_tokenizer *t, tok_merger *m, const char *text, size_t len,
                             tok_merge_key_fn key) {
    m->n_sym = 0;
    m->heap_n = 0;
    if (len > INT32_MAX) return clg_fail(CLG_ERR_INVALID_ARG, "tokenizer: text over 2 GiB");
    clg_status st = tok_grow((void **)&m->sym, &m->sym_cap, len, sizeof *m->sym);
    for (size_t off = 0; off < len && st == CLG_OK;) {
        size_t k = tok_utf8_len((unsigned char)text[off]);
        if (k > len - off) k = len - off;
        int32_t n = m->n_sym++;
        m->sym[n] = (tok_sym){(uint32_t)off, (uint32_t)k, n - 1, -1};
        if (n) m->sym[n - 1].next = n;
        off += k;
    }
    for (int32_t i = 1; i < m->n_sym && st == CLG_OK; i++)
        st = try_pair(t, m, text, key, i - 1, i);
    while (m->heap_n && st == CLG_OK) {
        tok_pair p = heap_pop(m);
        tok_sym *l = &m->sym[p.left], *r = &m->sym[p.right];
        if (!l->n || !r->n || l->n + r->n != p.size) continue; /* outdated */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) m->sym[r->next].prev = p.left;
        st = try_pair(t, m, text, key, l->prev, p.left);
        if (st == CLG_OK) st = try_pair(t, m, text, key, p.left, l->next);
    }
    return st;
}

void tok_merger_free(tok_merger *m) {
    free(m->sym);
    free(m->heap);
}
