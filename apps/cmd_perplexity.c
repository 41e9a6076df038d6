/* clgraph perplexity: a model's perplexity on a text file, computed as llama.cpp's
 * llama-perplexity computes it (tools/perplexity/perplexity.cpp), so the two can be compared. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"
#include "apps/generate.h"

/* llama-perplexity's usual context (its numbers on wikitext are quoted at -c 512). */
#define PPL_DEFAULT_CTX 512

/* log p(tok) under softmax(logits [n_vocab]): as llama.cpp's log_softmax, the maximum
 * subtracted in float and the sum of exponentials taken in double. */
static double log_softmax_at(const float *logits, int n_vocab, int32_t tok) {
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++)
        sum += exp((double)logits[i] - max);
    return (double)logits[tok] - max - log(sum);
}

int clg_cmd_perplexity(int argc, char **argv) {
    gen_options o;
    gen_options_init(&o);
    o.n_ctx = PPL_DEFAULT_CTX;
    o.sampling.temperature = 0; /* no sampler is used: no random seed to print */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(
                "usage: clgraph perplexity -m MODEL.gguf -f FILE [options]\n\n"
                "Perplexity of the model on a text file, as llama.cpp's llama-perplexity: the\n"
                "file is tokenized whole (with BOS where the vocabulary adds it), cut into chunks\n"
                "of --ctx tokens, each evaluated from an empty context with its first token\n"
                "replaced by BOS where the vocabulary adds it, and the second half of each chunk\n"
                "scored. A progress line per chunk on stderr ([chunk 3/12] ppl 12.3456), then\n"
                "on stdout: Final estimate: PPL = X +/- Y (Y its standard error).\n"
                "The file must hold at least 2 x --ctx tokens.\n\n"
                "  -m, --model FILE        GGUF model (general.architecture = llama)\n"
                "  -f, --file FILE         the text\n"
                "  --ctx N                 tokens per chunk (default %d)\n"
                "  --batch N               tokens per prefill batch (default 64)\n"
                "  --device SEL            OpenCL device: P:D, gpu, cpu, or part of a name\n"
                "  --build MODE            kernels from source, spirv or auto (default auto)\n"
                "  --kv-f16                keep the KV cache in f16\n"
                "  --act MODE              activations of the quantized products: q8, f32 or "
                "auto\n"
                "  --layout L              their weights' layout: x8, rows or auto\n"
                "  --tune                  measure kernel variants for this device (cached)\n"
                "  -q, --quiet             no loading progress or chunk lines on stderr\n"
                "\nExit status: 0, 1 on an error (the file unreadable or too short), 2 on bad "
                "arguments.\n",
                PPL_DEFAULT_CTX);
            return 0;
        }
        int takes_value = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") ||
                          !strcmp(a, "--file") || !strcmp(a, "--ctx") || !strcmp(a, "--batch") ||
                          !strcmp(a, "--device") || !strcmp(a, "--build") || !strcmp(a, "--act") ||
                          !strcmp(a, "--layout");
        int is_flag = !strcmp(a, "--kv-f16") || !strcmp(a, "--tune") || !strcmp(a, "-q") ||
                      !strcmp(a, "--quiet");
        if (!takes_value && !is_flag) {
            fprintf(stderr, "clgraph perplexity: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        int r = gen_parse_option(&o, argc, argv, &i, "perplexity");
        if (r < 0) return 2;
    }
    if (!o.model || !o.prompt_file) {
        fprintf(stderr, "clgraph perplexity: no %s given (%s; see --help)\n",
                o.model ? "text" : "model", o.model ? "-f FILE" : "-m MODEL.gguf");
        return 2;
    }
    /* The model's context is exactly one chunk. */
    const int n_ctx = o.n_ctx;
    if (n_ctx < 4) {
        fprintf(stderr, "clgraph perplexity: --ctx %d is too small to score half a chunk\n", n_ctx);
        return 2;
    }
    char *text = gen_read_text_file(o.prompt_file, "perplexity", "text file");
    if (!text) return 1;

    gen_session s;
    int32_t *ids = NULL;
    size_t n_tok = 0;
    int rc = gen_session_open(&s, &o, "perplexity");
    /* As llama.cpp: add_special (BOS where the vocabulary adds it), no special-token parsing. */
    if (!rc && llm_tokenizer_encode(s.tok, text, strlen(text), LLM_TOKENIZE_ADD_SPECIAL, &ids,
                                    &n_tok) != CLG_OK) {
        fprintf(stderr, "clgraph perplexity: %s\n", clg_last_error());
        rc = 1;
    }
    if (!rc && n_tok < 2 * (size_t)n_ctx) {
        fprintf(stderr,
                "clgraph perplexity: %s tokenizes to %zu tokens; a context of %d needs at least "
                "%d (2 x --ctx): use a longer text or a smaller --ctx\n",
                o.prompt_file, n_tok, n_ctx, 2 * n_ctx);
        rc = 1;
    }
    if (rc) {
        free(ids);
        free(text);
        gen_session_close(&s);
        return rc;
    }

    const int n_vocab = llm_model_hparams(s.model)->n_vocab;
    const int add_bos = llm_tokenizer_add_bos(s.tok);
    const int32_t bos = llm_tokenizer_bos(s.tok);
    const int n_chunk = (int)(n_tok / (size_t)n_ctx);
    const int first = n_ctx / 2;
    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk); /* [n_ctx] */
    double nll = 0.0, nll2 = 0.0;
    long count = 0;
    if (!chunk) {
        fprintf(stderr, "clgraph perplexity: out of memory\n");
        rc = 1;
    }
    if (!rc && !o.quiet)
        fprintf(stderr, "%zu tokens, %d chunks of %d, scoring positions %d..%d of each\n", n_tok,
                n_chunk, n_ctx, first, n_ctx - 2);
    for (int c = 0; !rc && c < n_chunk; c++) {
        memcpy(chunk, ids + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (add_bos) chunk[0] = bos;
        /* llama.cpp evaluates the whole chunk once and reads the logits of positions
         * first .. n_ctx-2. llm_model_eval returns only the last token's logits, so the chunk
         * goes in as tokens 0..first in one call (logits of position first), then one token
         * per call (logits of that position). Causal attention makes each position's logits
         * the same as in one pass over the chunk; positions start at 0 each chunk, so the KV
         * cache entries of the previous chunk are overwritten before they are read. */
        for (int j = first; j < n_ctx - 1; j++) {
            clg_status st = j == first ? llm_model_eval(s.model, chunk, first + 1, 0, s.logits)
                                       : llm_model_eval(s.model, chunk + j, 1, j, s.logits);
            if (st != CLG_OK) {
                fprintf(stderr, "clgraph perplexity: chunk %d, position %d: %s\n", c + 1, j,
                        clg_last_error());
                rc = 1;
                break;
            }
            double v = log_softmax_at(s.logits, n_vocab, chunk[j + 1]);
            nll -= v;
            nll2 += v * v;
            count++;
        }
        if (!rc && !o.quiet)
            fprintf(stderr, "[chunk %d/%d] ppl %.4f\n", c + 1, n_chunk, exp(nll / count));
    }
    if (!rc) {
        /* As llama.cpp: the standard error of the mean nll, carried to PPL = exp(mean). */
        double mean = nll / count, var = nll2 / count - mean * mean;
        double ppl = exp(mean);
        double err = var > 0 && count > 1 ? sqrt(var / (count - 1)) * ppl : 0.0;
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, err);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "clgraph perplexity: cannot write the output\n");
            rc = 1;
        }
    }
    free(chunk);
    free(ids);
    free(text);
    gen_session_close(&s);
    return rc;
}
