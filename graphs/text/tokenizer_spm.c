/* SentencePiece-style BPE (tokenizer.ggml.model = "llama"), as llama.cpp does
 * it: start from UTF-8 characters, repeatedly merge the adjacent pair whose
 * concatenation is the vocabulary entry with the highest score (ties: the
 * leftmost), then emit each piece, or its bytes as <0xXX> tokens when the
 * piece is not in the vocabulary. */
#include <stdlib.h>

#include "graphs/text/tokenizer_impl.h"

/* The pair merges when its concatenation is a token: the highest score first. */
static int pair_key(const llm_tokenizer *t, const char *text, const tok_sym *a, const tok_sym *b,
                    double *key) {
    int32_t id = tok_find(t, text + a->start, a->n + b->n); /* b follows a in text */
    if (id < 0) return 0;
    *key = -(double)t->tokens[id].score;
    return 1;
}

clg_status tok_spm_encode(const llm_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    if (len == 0) return CLG_OK;
    tok_merger m = {0};
    clg_status st = tok_merge_symbols(t, &m, text, len, pair_key);
    for (int32_t i = m.n_sym ? 0 : -1; i >= 0 && st == CLG_OK; i = m.sym[i].next) {
        const tok_sym *y = &m.sym[i];
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
    tok_merger_free(&m);
    return st;
}
