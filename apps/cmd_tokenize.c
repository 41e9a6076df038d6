/* clgraph tokenize: text to token ids (with their pieces) using a GGUF
 * model's tokenizer, and ids back to text with --decode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"
#include "clgraph/gguf.h"
#include "clgraph/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: clgraph tokenize -m MODEL.gguf [options] TEXT\n"
            "       clgraph tokenize -m MODEL.gguf [options] -f FILE\n"
            "       clgraph tokenize -m MODEL.gguf --decode \"IDS\"\n"
            "\n"
            "Tokenizes TEXT with the model's tokenizer (tokenizer.ggml.* metadata) and prints\n"
            "one token per line, \"id<TAB>piece\", the piece escaped (\\n, \\t, \\xNN for bytes\n"
            "that are not printable UTF-8). BOS / EOS are added where the model's metadata\n"
            "asks for them; special-token text such as <|im_start|> becomes that token.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE   GGUF model (or vocabulary-only GGUF); required\n"
            "  -f, --file FILE    read the text from FILE ('-': standard input), as bytes\n"
            "  --ids-only         print only the ids, on one line, separated by spaces\n"
            "  --no-special       do not parse special-token text (tokenize it as text);\n"
            "                     with --decode, do not print control tokens\n"
            "  --decode \"IDS\"     print the text of IDS (separated by spaces or commas,\n"
            "                     e.g. the --ids-only line), without the BOS / EOS that\n"
            "                     tokenizing adds\n"
            "  -h, --help         this help\n");
}

static int fail_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "clgraph tokenize: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(clgraph tokenize --help for usage)\n");
    return 2;
}

/* Reads a whole file or stdin ("-"). *out malloc'ed. */
static int read_all(const char *path, char **out, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "clgraph tokenize: cannot open '%s': %s\n", path, strerror(errno));
        return 0;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *p = realloc(buf, cap *= 2);
        if (!p) free(buf);
        buf = p;
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || err) {
        fprintf(stderr, "clgraph tokenize: cannot read '%s'%s\n", path,
                buf ? "" : ": out of memory");
        free(buf);
        return 0;
    }
    *out = buf;
    *len = n;
    return 1;
}

/* Length of the valid UTF-8 sequence at s[0..n) of 2..4 bytes, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (!k || k > n) return 0;
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t j = 2; j < k; j++)
        if ((s[j] & 0xc0) != 0x80) return 0;
    return k;
}

/* Prints a piece: printable ASCII and valid UTF-8 as they are, \\ \n \r \t,
 * and \xNN for every other byte. */
static void print_escaped(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c >= 0x20 && c < 0x7f)
            putchar((int)c);
        else if (c >= 0x80 && (k = utf8_seq(s + i, n - i)) > 0) {
            fwrite(s + i, 1, k, stdout);
            i += k;
            continue;
        } else
            printf("\\x%02x", c);
        i++;
    }
}

/* Parses "1 2, 3" into ids; prints why and returns 0 on a bad list. */
static int parse_ids(const char *s, const llm_tokenizer *t, int32_t **ids, size_t *n) {
    size_t cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    while (*ids) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        if (!*s) return 1;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v >= llm_tokenizer_n_tokens(t)) {
            int len = 0;
            while (s[len] && s[len] != ' ' && s[len] != ',' && len < 40)
                len++;
            fprintf(stderr, "clgraph tokenize: --decode: '%.*s' is not a token id (0..%d)\n", len,
                    s, (int)llm_tokenizer_n_tokens(t) - 1);
            break;
        }
        if (*n == cap) {
            int32_t *p = realloc(*ids, (cap *= 2) * sizeof *p);
            if (!p) break;
            *ids = p;
        }
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
    }
    free(*ids);
    *ids = NULL;
    return 0;
}

int clg_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL, *decode = NULL;
    int ids_only = 0, special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") ||
                   !strcmp(a, "--file") || !strcmp(a, "--decode")) {
            if (i + 1 >= argc) return fail_usage("%s needs a value", a);
            const char **slot = a[1] == 'm' || !strcmp(a, "--model") ? &model
                                : !strcmp(a, "--decode")             ? &decode
                                                                     : &file;
            *slot = argv[++i];
        } else if (!strcmp(a, "--ids-only")) {
            ids_only = 1;
        } else if (!strcmp(a, "--no-special")) {
            special = 0;
        } else if (a[0] == '-' && a[1]) {
            return fail_usage("unknown option '%s'", a);
        } else if (text) {
            return fail_usage("one TEXT only (quote it): unexpected '%s'", a);
        } else {
            text = a;
        }
    }
    if (!model) return fail_usage("%s", "no model: give -m MODEL.gguf");
    if (decode && (text || file || ids_only))
        return fail_usage("%s", "--decode takes no TEXT, -f or --ids-only");
    if (!decode && !!text + !!file != 1)
        return fail_usage("%s", text ? "give TEXT or -f FILE, not both"
                                     : "no text: give TEXT or -f FILE");

    llm_gguf *f = NULL;
    llm_tokenizer *t = NULL;
    char *buf = NULL, *out = NULL;
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    int rc = 1;
    clg_status st = llm_gguf_open(model, &f);
    if (st != CLG_OK) {
        fprintf(stderr, "clgraph tokenize: %s\n", clg_last_error()); /* names the file */
        goto done;
    }
    if ((st = llm_tokenizer_create(f, &t)) != CLG_OK) {
        fprintf(stderr, "clgraph tokenize: %s: %s\n", model, clg_last_error());
        goto done;
    }
    if (decode) {
        if (!parse_ids(decode, t, &ids, &n)) goto done;
        unsigned flags = LLM_DETOKENIZE_TEXT & ~(special ? 0u : (unsigned)LLM_DETOKENIZE_SPECIAL);
        if ((st = llm_tokenizer_decode(t, ids, n, flags, &out, &len)) != CLG_OK) {
            fprintf(stderr, "clgraph tokenize: %s\n", clg_last_error());
            goto done;
        }
        fwrite(out, 1, len, stdout);
        putchar('\n');
        rc = 0;
        goto done;
    }
    if (file) {
        if (!read_all(file, &buf, &len)) goto done;
    } else {
        len = strlen(text);
    }
    unsigned flags = LLM_TOKENIZE_ADD_SPECIAL | (special ? LLM_TOKENIZE_PARSE_SPECIAL : 0u);
    if ((st = llm_tokenizer_encode(t, file ? buf : text, len, flags, &ids, &n)) != CLG_OK) {
        fprintf(stderr, "clgraph tokenize: %s\n", clg_last_error());
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (ids_only) {
            printf(i ? " %d" : "%d", (int)ids[i]);
            continue;
        }
        size_t k = 0;
        const char *p = llm_tokenizer_token_piece(t, ids[i], &k);
        printf("%d\t", (int)ids[i]);
        print_escaped(p, k);
        putchar('\n');
    }
    if (ids_only) putchar('\n');
    rc = 0;
done:
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "clgraph tokenize: cannot write the output: %s\n", strerror(errno));
        rc = 1;
    }
    free(out);
    free(ids);
    free(buf);
    llm_tokenizer_destroy(t);
    llm_gguf_close(f);
    return rc;
}
