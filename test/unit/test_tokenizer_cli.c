/* `clgraph tokenize` ($CLGRAPH_BIN) on the committed Llama 2 vocabulary
 * (test/data/tokenizer/llama2-vocab.gguf): ids equal the library's, id/piece
 * lines, --decode of the --ids-only line gives the text back, -f, --no-special,
 * and usage / input errors with their exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clgraph/gguf.h"
#include "clgraph/tokenizer.h"
#include "test_common.h"

static char out[1 << 16];
static char err_path[256];

/* Runs `$CLGRAPH_BIN tokenize ARGS` through the shell; stdout in out[],
 * stderr in the file err_path. Returns the exit code (-1 if it did not run). */
static int run(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "\"%s\" tokenize %s 2>\"%s\"", getenv("CLGRAPH_BIN"), args, err_path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether the last command's stderr contains needle. */
static int err_has(const char *needle) {
    static char buf[4096];
    FILE *f = fopen(err_path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    if (!strstr(buf, needle)) fprintf(stderr, "stderr '%s' lacks '%s'\n", buf, needle);
    return strstr(buf, needle) != NULL;
}

/* The library's ids for text, as the --ids-only line. */
static void ids_line(const llm_tokenizer *t, const char *text, size_t len, unsigned flags,
                     char *line, size_t cap) {
    int32_t *ids = NULL;
    size_t n = 0, used = 0;
    line[0] = 0;
    CHECK_OK(llm_tokenizer_encode(t, text, len, flags, &ids, &n));
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(line + used, cap - used, i ? " %d" : "%d", (int)ids[i]);
    snprintf(line + used, cap - used, "\n");
    free(ids);
}

int main(void) {
    const char *vocab = tc_data("tokenizer/llama2-vocab.gguf");
    char model[1024], args[12288], text_path[256], want[8192];
    snprintf(model, sizeof model, "%s", vocab);
    snprintf(err_path, sizeof err_path, "/tmp/clgraph_test_tokenizer_cli_%d.err", (int)getpid());
    snprintf(text_path, sizeof text_path, "/tmp/clgraph_test_tokenizer_cli_%d.txt", (int)getpid());
    if (!getenv("CLGRAPH_BIN")) {
        fprintf(stderr, "CLGRAPH_BIN is not set\n");
        CHECK(0);
        return tc_finish("tokenizer_cli");
    }
    llm_gguf *f = NULL;
    llm_tokenizer *t = NULL;
    CHECK_OK(llm_gguf_open(model, &f));
    if (f) CHECK_OK(llm_tokenizer_create(f, &t));
    llm_gguf_close(f);
    if (!t) return tc_finish("tokenizer_cli");

    /* a text with quotes, newlines, CJK, emoji and special-token text, via -f */
    static const char text[] = "It's \"quoted\"\n  indented\t tab\n你好 😀 </s> end";
    FILE *tf = fopen(text_path, "wb");
    CHECK(tf && fwrite(text, 1, sizeof text - 1, tf) == sizeof text - 1);
    if (tf) fclose(tf);

    snprintf(args, sizeof args, "-m \"%s\" --ids-only -f \"%s\"", model, text_path);
    CHECK(run(args) == 0);
    ids_line(t, text, sizeof text - 1, LLM_TOKENIZE_ADD_SPECIAL | LLM_TOKENIZE_PARSE_SPECIAL, want,
             sizeof want);
    CHECK(!strcmp(out, want));
    CHECK(!strncmp(out, "1 ", 2)); /* BOS: llama's metadata asks for it */

    /* --decode of that line gives the text back */
    want[strlen(want) - 1] = 0;
    snprintf(args, sizeof args, "-m \"%s\" --decode \"%s\"", model, want);
    CHECK(run(args) == 0);
    CHECK(strlen(out) == sizeof text && !memcmp(out, text, sizeof text - 1) &&
          out[sizeof text - 1] == '\n');

    /* --no-special: "</s>" is text, not EOS */
    snprintf(args, sizeof args, "-m \"%s\" --ids-only --no-special -f \"%s\"", model, text_path);
    CHECK(run(args) == 0);
    ids_line(t, text, sizeof text - 1, LLM_TOKENIZE_ADD_SPECIAL, want, sizeof want);
    CHECK(!strcmp(out, want));
    CHECK(strstr(out, " 2 ") == NULL);

    /* id<TAB>piece lines, pieces escaped */
    snprintf(args, sizeof args, "-m \"%s\" \"Hello world\"", model);
    CHECK(run(args) == 0);
    CHECK(!strcmp(out, "1\t<s>\n15043\t Hello\n3186\t world\n"));
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\"", model, text_path);
    CHECK(run(args) == 0);
    CHECK(strstr(out, "\t\\n") != NULL);     /* the newline byte token */
    CHECK(strstr(out, "\t\\xf0\n") != NULL); /* a partial UTF-8 byte token */
    CHECK(strstr(out, "2\t</s>\n") != NULL);
    CHECK(strstr(out, "\xe4\xbd\xa0") != NULL); /* 你 printed as itself */

    /* errors: usage (2) and input (1), each saying what is wrong */
    CHECK(run("") == 2 && err_has("no model"));
    snprintf(args, sizeof args, "-m \"%s\" --bogus", model);
    CHECK(run(args) == 2 && err_has("unknown option '--bogus'"));
    snprintf(args, sizeof args, "-m \"%s\"", model);
    CHECK(run(args) == 2 && err_has("no text"));
    snprintf(args, sizeof args, "-m \"%s\" one two", model);
    CHECK(run(args) == 2 && err_has("one TEXT only"));
    snprintf(args, sizeof args, "-m \"%s\" --decode \"1 x\"", model);
    CHECK(run(args) == 1 && err_has("'x' is not a token id"));
    snprintf(args, sizeof args, "-m \"%s\" --decode 32000", model);
    CHECK(run(args) == 1 && err_has("'32000' is not a token id (0..31999)"));
    CHECK(run("-m /nonexistent/model.gguf hi") == 1 && err_has("/nonexistent/model.gguf"));
    snprintf(args, sizeof args, "-m \"%s\" -f /nonexistent/text", model);
    CHECK(run(args) == 1 && err_has("cannot open '/nonexistent/text'"));
    snprintf(args, sizeof args, "-m \"%s\" hi", text_path);
    CHECK(run(args) == 1 && err_has("not a GGUF file"));
    CHECK(run("--help") == 0 && strstr(out, "--decode") && strstr(out, "--no-special"));

    unlink(text_path);
    unlink(err_path);
    llm_tokenizer_destroy(t);
    return tc_finish("tokenizer_cli");
}
