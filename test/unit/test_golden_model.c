/* Loads the committed whole-model golden file (test/data/model) and checks its header, sizes and
 * internal consistency, and that the reader rejects truncated or corrupted copies. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/golden_model.h"
#include "test_common.h"

#define GOLDEN "model/SmolLM2-135M-Instruct.Q4_1.golden"
/* scripts/fetch-model.sh's checksum of SmolLM2-135M-Instruct.Q4_1.gguf */
#define MODEL_SHA256 "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

static void check_prompt(const tg_golden *g, const tg_golden_prompt *p) {
    int n = p->n_tokens, k = g->n_top, v = g->n_vocab;
    printf("  %-8s %3d tokens, max|ref - llama.cpp| %.3f (last %.3f), greedy agree %d/%d\n",
           p->name, n, p->diff_all, p->diff_last, p->n_greedy_agree, g->n_gen);

    int finite = 1;
    for (int i = 0; i < v; i++)
        finite &= isfinite(p->logits_last[i]) != 0;
    for (int i = 0; i < n * k; i++)
        finite &= isfinite(p->top_vals[i]) != 0;
    CHECK(finite);

    /* the stored argmax of the last position is the first greedy token */
    int am = tg_argmax(p->logits_last, v);
    CHECK(am == p->greedy[0]);
    const int32_t *last_ids = p->top_ids + (size_t)(n - 1) * k;
    const float *last_vals = p->top_vals + (size_t)(n - 1) * k;
    CHECK(last_ids[0] == am);

    /* top-k of the last position is the top-k of logits_last, best first, ids distinct */
    int top_ok = 1;
    for (int j = 0; j < k; j++) {
        top_ok &= last_vals[j] == p->logits_last[last_ids[j]];
        if (j) top_ok &= last_vals[j] <= last_vals[j - 1] && last_ids[j] != last_ids[j - 1];
    }
    int above = 0; /* logits strictly above the k-th value: must all be in the top k */
    for (int i = 0; i < v; i++)
        above += p->logits_last[i] > last_vals[k - 1];
    CHECK(top_ok);
    CHECK(above < k);

    /* every position's list is sorted */
    int sorted = 1;
    for (int t = 0; t < n; t++)
        for (int j = 1; j < k; j++)
            sorted &= p->top_vals[(size_t)t * k + j] <= p->top_vals[(size_t)t * k + j - 1];
    CHECK(sorted);

    /* margins: non-negative; the first one is the last position's top-1 minus top-2 */
    int margins_ok = 1;
    for (int j = 0; j < g->n_gen; j++)
        margins_ok &= p->greedy_margin[j] >= 0;
    CHECK(margins_ok);
    CHECK(fabsf(p->greedy_margin[0] - (last_vals[0] - last_vals[1])) < 1e-4f);

    /* the recorded agreement is the common prefix of the two greedy runs */
    int agree = 0;
    while (agree < g->n_gen && p->greedy[agree] == p->greedy_llamacpp[agree])
        agree++;
    CHECK(agree == p->n_greedy_agree);
    CHECK(p->diff_last >= 0 && p->diff_last <= p->diff_all && p->diff_all <= g->diff_all);
    CHECK(p->top1_agree <= n);
}

/* Reader must reject damaged copies of a valid file with CLG_ERR_FORMAT. */
static void check_rejects(const uint8_t *buf, size_t size) {
    uint8_t *copy = malloc(size);
    tg_golden *g = NULL;
    CHECK(copy != NULL);
    if (!copy) return;

    memcpy(copy, buf, size);
    CHECK(tg_golden_parse(copy, size - 1, "truncated", &g) == CLG_ERR_FORMAT && g == NULL);
    CHECK(tg_golden_parse(copy, 300, "header only", &g) == CLG_ERR_FORMAT && g == NULL);
    printf("  truncated copy: %s\n", clg_last_error());

    copy[0] = 'X';
    CHECK(tg_golden_parse(copy, size, "bad magic", &g) == CLG_ERR_FORMAT && g == NULL);
    memcpy(copy, buf, size);
    copy[8] = 2; /* version */
    CHECK(tg_golden_parse(copy, size, "version 2", &g) == CLG_ERR_FORMAT && g == NULL);
    memcpy(copy, buf, size);
    copy[20] ^= 0x01; /* n_vocab off by one: records no longer add up */
    CHECK(tg_golden_parse(copy, size, "n_vocab", &g) == CLG_ERR_FORMAT && g == NULL);
    /* first token of the first prompt: 32 bytes of fields, then name and text padded to 4 */
    memcpy(copy, buf, size);
    size_t name_len = copy[256 + 8] | (size_t)copy[256 + 9] << 8;
    size_t text_len = copy[256 + 12] | (size_t)copy[256 + 13] << 8 | (size_t)copy[256 + 14] << 16;
    size_t tok0 = 256 + 32 + ((name_len + 3) & ~(size_t)3) + ((text_len + 3) & ~(size_t)3);
    CHECK(tok0 + 4 <= size);
    if (tok0 + 4 <= size) {
        copy[tok0 + 3] = 0x7f; /* token id out of the vocabulary */
        CHECK(tg_golden_parse(copy, size, "token id", &g) == CLG_ERR_FORMAT && g == NULL);
        printf("  bad token id: %s\n", clg_last_error());
    }
    free(copy);
}

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n = 0;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

int main(void) {
    const char *path = tc_data(GOLDEN);
    tg_golden *g = NULL;
    size_t size = 0;
    uint8_t *raw = read_all(path, &size);

    CHECK(tg_golden_load("/nonexistent/golden.bin", &g) == CLG_ERR_IO && g == NULL);
    CHECK_OK(tg_golden_load(path, &g));
    CHECK(raw != NULL);
    if (!g || !raw) {
        free(raw);
        return tc_finish("golden_model");
    }
    printf("%s: %d prompts, model %s (%s), sha256 %.16s..., max|ref - llama.cpp| %.3f\n", GOLDEN,
           g->n_prompts, g->model_file, g->model_type, g->model_sha256, g->diff_all);

    CHECK(g->version == TG_GOLDEN_VERSION);
    CHECK(strcmp(g->model_sha256, MODEL_SHA256) == 0);
    CHECK(strcmp(g->model_type, "Q4_1") == 0);
    CHECK(strcmp(g->model_file, "SmolLM2-135M-Instruct.Q4_1.gguf") == 0);
    CHECK(g->n_vocab == 49152 && g->n_top == 20 && g->n_gen == 32 && g->logits_dtype == 0);
    CHECK(g->n_prompts >= 4);
    CHECK(size < 2u << 20);
    /* the file's size is what its header says it holds (f32 logits, 4-byte padding) */
    size_t want = 256;
    for (int i = 0; i < g->n_prompts; i++) {
        const tg_golden_prompt *p = &g->prompts[i];
        want += 32 + ((strlen(p->name) + 3) & ~(size_t)3) + ((strlen(p->text) + 3) & ~(size_t)3) +
                4 * ((size_t)p->n_tokens * (1 + 2 * g->n_top) + g->n_vocab + 3 * g->n_gen);
    }
    CHECK(want == size);

    const char *names[] = {"english", "chat", "code", "short"};
    for (int i = 0; i < 4; i++) {
        const tg_golden_prompt *p = tg_golden_find(g, names[i]);
        CHECK(p != NULL);
        if (p) check_prompt(g, p);
    }
    const tg_golden_prompt *chat = tg_golden_find(g, "chat");
    const tg_golden_prompt *shrt = tg_golden_find(g, "short");
    /* SmolLM2: add_bos_token is false, so the chat prompt starts with <|im_start|> (id 1) */
    if (chat) CHECK(chat->tokens[0] == 1 && strncmp(chat->text, "<|im_start|>", 12) == 0);
    if (shrt) CHECK(shrt->n_tokens <= 4);
    CHECK(tg_golden_find(g, "no such prompt") == NULL);

    check_rejects(raw, size);
    tg_golden_destroy(g);
    tg_golden_destroy(NULL);
    free(raw);
    return tc_finish("golden_model");
}
