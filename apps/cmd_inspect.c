/* clgraph inspect: what a GGUF file holds (format, architecture and hyper-parameters, tokenizer,
 * chat template, every key-value pair and every tensor), as text or as JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"
#include "clgraph/gguf.h"
#include "clgraph/report.h"

static void usage(FILE *out) {
    fprintf(out, "usage: clgraph inspect MODEL.gguf [--json]\n\n"
                 "Validates a GGUF file and prints its format version, architecture and\n"
                 "hyper-parameters, tokenizer, chat template, every key-value pair (arrays as\n"
                 "type[count]) and every tensor (type, shape, offset, bytes).\n\n"
                 "  --json      the same as one JSON object\n"
                 "  -h, --help  this help\n\n"
                 "Exit status: 0 on success, 1 when the file cannot be read or is malformed,\n"
                 "2 on bad arguments.\n");
}

/* ---- strings -------------------------------------------------------------- */

/* A string for a one-line text display: control characters escaped, at most max bytes of it
 * shown; quoted unless it is a key (keys are plain ASCII names). */
static void text_str(FILE *out, const char *p, uint64_t n, uint64_t max, int quote) {
    if (quote) fputc('"', out);
    for (uint64_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    if (quote) fputc('"', out);
    if (n > max) fprintf(out, "... (%llu bytes)", (unsigned long long)n);
}

static void text_bytes(FILE *out, const char *p, uint64_t n, uint64_t max) {
    text_str(out, p, n, max, 1);
}

static const char *human(uint64_t bytes, char buf[32]) {
    if (bytes >= (1ull << 30))
        snprintf(buf, 32, "%.2f GiB", (double)bytes / (1 << 30));
    else if (bytes >= (1ull << 20))
        snprintf(buf, 32, "%.1f MiB", (double)bytes / (1 << 20));
    else if (bytes >= (1ull << 10))
        snprintf(buf, 32, "%.1f KiB", (double)bytes / (1 << 10));
    else
        snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
    return buf;
}

/* ---- values ---------------------------------------------------------------- */

/* Key i as a C string in buf; 0 when it cannot be looked up by name (too long, embedded NUL). */
static int key_cstr(const llm_gguf *f, uint64_t i, char *buf, size_t cap) {
    llm_gguf_str k = llm_gguf_kv_key(f, i);
    if (!k.ptr || k.len >= cap || memchr(k.ptr, 0, k.len)) return 0;
    memcpy(buf, k.ptr, k.len);
    buf[k.len] = 0;
    return llm_gguf_find_key(f, buf) == (int64_t)i;
}

static int is_int_type(llm_gguf_type t) {
    return t == LLM_GGUF_UINT8 || t == LLM_GGUF_INT8 || t == LLM_GGUF_UINT16 ||
           t == LLM_GGUF_INT16 || t == LLM_GGUF_UINT32 || t == LLM_GGUF_INT32 ||
           t == LLM_GGUF_UINT64 || t == LLM_GGUF_INT64;
}

/* Element j of a numeric array as text (little-endian in the file). */
static void print_elem(FILE *out, llm_gguf_type t, const uint8_t *p, int json) {
    uint64_t u = 0;
    size_t n = llm_gguf_type_size(t);
    for (size_t i = 0; i < n; i++)
        u |= (uint64_t)p[i] << (8 * i);
    switch (t) {
    case LLM_GGUF_UINT8:
    case LLM_GGUF_UINT16:
    case LLM_GGUF_UINT32:
    case LLM_GGUF_UINT64:
        fprintf(out, "%llu", (unsigned long long)u);
        break;
    case LLM_GGUF_INT8:
        fprintf(out, "%d", (int8_t)u);
        break;
    case LLM_GGUF_INT16:
        fprintf(out, "%d", (int16_t)u);
        break;
    case LLM_GGUF_INT32:
        fprintf(out, "%d", (int32_t)u);
        break;
    case LLM_GGUF_INT64:
        fprintf(out, "%lld", (long long)(int64_t)u);
        break;
    case LLM_GGUF_BOOL:
        fputs(u ? "true" : "false", out);
        break;
    case LLM_GGUF_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, 4);
        if (json && !isfinite(x))
            fputs("null", out);
        else
            fprintf(out, "%.9g", x);
        break;
    }
    default: {
        double x;
        memcpy(&x, &u, 8);
        if (json && !isfinite(x))
            fputs("null", out);
        else
            fprintf(out, "%.17g", x);
    }
    }
}

/* The value of key i: scalars in full, strings (text: cut at max bytes), arrays as type[count]
 * with a few leading elements in text mode. */
static void print_value(FILE *out, const llm_gguf *f, uint64_t i, int json, uint64_t max) {
    char key[512];
    llm_gguf_type t = llm_gguf_kv_type(f, i);
    if (!key_cstr(f, i, key, sizeof key)) {
        fputs(json ? "null" : "(key not addressable)", out);
        return;
    }
    if (is_int_type(t)) {
        int64_t v;
        uint64_t u;
        if (llm_gguf_get_i64(f, key, &v) == CLG_OK)
            fprintf(out, "%lld", (long long)v);
        else if (llm_gguf_get_u64(f, key, &u) == CLG_OK)
            fprintf(out, "%llu", (unsigned long long)u);
    } else if (t == LLM_GGUF_FLOAT32 || t == LLM_GGUF_FLOAT64) {
        float x = 0;
        llm_gguf_get_f32(f, key, &x);
        if (json && !isfinite(x))
            fputs("null", out);
        else
            fprintf(out, "%.9g", x);
    } else if (t == LLM_GGUF_BOOL) {
        int b = 0;
        llm_gguf_get_bool(f, key, &b);
        fputs(b ? "true" : "false", out);
    } else if (t == LLM_GGUF_STRING) {
        llm_gguf_str s = {"", 0};
        llm_gguf_get_str(f, key, &s);
        if (json)
            clg_json_str_n(out, s.ptr, s.len);
        else
            text_bytes(out, s.ptr, s.len, max);
    } else if (t == LLM_GGUF_ARRAY) {
        llm_gguf_type et = LLM_GGUF_UINT8;
        uint64_t count = 0;
        llm_gguf_get_array(f, key, &et, &count);
        if (json) {
            fprintf(out, "{\"elem_type\": \"%s\", \"count\": %llu}", llm_gguf_type_name(et),
                    (unsigned long long)count);
            return;
        }
        fprintf(out, "%s[%llu]", llm_gguf_type_name(et), (unsigned long long)count);
        uint64_t shown = count < 4 ? count : 4;
        const void *data = NULL;
        if (et == LLM_GGUF_STRING) {
            fputs(" [", out);
            for (uint64_t j = 0; j < shown; j++) {
                llm_gguf_str s;
                if (llm_gguf_array_str(f, key, j, &s) != CLG_OK) break;
                fputs(j ? ", " : "", out);
                text_bytes(out, s.ptr, s.len, 24);
            }
            fputs(count > shown ? ", ...]" : "]", out);
        } else if (et != LLM_GGUF_ARRAY && llm_gguf_array_data(f, key, &data) == CLG_OK) {
            fputs(" [", out);
            for (uint64_t j = 0; j < shown; j++) {
                fputs(j ? ", " : "", out);
                print_elem(out, et, (const uint8_t *)data + j * llm_gguf_type_size(et), 0);
            }
            fputs(count > shown ? ", ...]" : "]", out);
        }
    }
}

/* ---- the report ------------------------------------------------------------- */

typedef struct summary {
    llm_gguf_str arch, name, tok_model, tok_pre, tmpl;
    uint64_t vocab;
    uint32_t bos, eos;
    int has_bos, has_eos, has_vocab, has_tmpl;
    llm_gguf_str bos_text, eos_text;
    char prefix[80]; /* "llama." */
    uint64_t tensor_bytes;
} summary;

static void summarise(const llm_gguf *f, summary *s) {
    memset(s, 0, sizeof *s);
    llm_gguf_type et;
    if (llm_gguf_get_str(f, "general.architecture", &s->arch) != CLG_OK) s->arch.ptr = NULL;
    if (llm_gguf_get_str(f, "general.name", &s->name) != CLG_OK) s->name.ptr = NULL;
    if (llm_gguf_get_str(f, "tokenizer.ggml.model", &s->tok_model) != CLG_OK)
        s->tok_model.ptr = NULL;
    if (llm_gguf_get_str(f, "tokenizer.ggml.pre", &s->tok_pre) != CLG_OK) s->tok_pre.ptr = NULL;
    s->has_tmpl = llm_gguf_get_str(f, "tokenizer.chat_template", &s->tmpl) == CLG_OK;
    s->has_vocab = llm_gguf_get_array(f, "tokenizer.ggml.tokens", &et, &s->vocab) == CLG_OK &&
                   et == LLM_GGUF_STRING;
    s->has_bos = llm_gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &s->bos) == CLG_OK;
    s->has_eos = llm_gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &s->eos) == CLG_OK;
    if (s->has_bos && s->has_vocab)
        llm_gguf_array_str(f, "tokenizer.ggml.tokens", s->bos, &s->bos_text);
    if (s->has_eos && s->has_vocab)
        llm_gguf_array_str(f, "tokenizer.ggml.tokens", s->eos, &s->eos_text);
    if (s->arch.ptr && s->arch.len < sizeof s->prefix - 1)
        snprintf(s->prefix, sizeof s->prefix, "%.*s.", (int)s->arch.len, s->arch.ptr);
    else
        snprintf(s->prefix, sizeof s->prefix, "llama.");
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++)
        s->tensor_bytes += llm_gguf_tensor_at(f, i)->bytes;
}

static int is_hparam(const llm_gguf *f, uint64_t i, const summary *s) {
    llm_gguf_str k = llm_gguf_kv_key(f, i);
    size_t n = strlen(s->prefix);
    return k.len > n && !memcmp(k.ptr, s->prefix, n);
}

static void json_shape(FILE *out, const llm_gguf_tensor *t) {
    fputc('[', out);
    for (uint32_t d = 0; d < t->n_dims; d++)
        fprintf(out, "%s%llu", d ? ", " : "", (unsigned long long)t->ne[d]);
    fputc(']', out);
}

static void report_text(const char *path, const llm_gguf *f, const summary *s) {
    char h[32];
    printf("file            %s (%llu bytes, %s)\n", path, (unsigned long long)llm_gguf_file_size(f),
           human(llm_gguf_file_size(f), h));
    printf("format          GGUF v%u, alignment %llu, data section at offset %llu\n",
           llm_gguf_version(f), (unsigned long long)llm_gguf_alignment(f),
           (unsigned long long)llm_gguf_data_offset(f));
    printf("architecture    ");
    if (s->arch.ptr)
        text_bytes(stdout, s->arch.ptr, s->arch.len, 64);
    else
        printf("(none)");
    if (s->name.ptr) {
        printf("  name ");
        text_bytes(stdout, s->name.ptr, s->name.len, 80);
    }
    printf("\n\nhyper-parameters (%s*)\n", s->prefix);
    int any = 0;
    for (uint64_t i = 0; i < llm_gguf_kv_count(f); i++) {
        if (!is_hparam(f, i, s)) continue;
        any = 1;
        llm_gguf_str k = llm_gguf_kv_key(f, i);
        printf("  %-40.*s ", (int)(k.len - strlen(s->prefix)), k.ptr + strlen(s->prefix));
        print_value(stdout, f, i, 0, 80);
        printf("\n");
    }
    if (!any) printf("  (none)\n");
    printf("\ntokenizer       model ");
    if (s->tok_model.ptr)
        text_bytes(stdout, s->tok_model.ptr, s->tok_model.len, 32);
    else
        printf("(none)");
    printf(", pre ");
    if (s->tok_pre.ptr)
        text_bytes(stdout, s->tok_pre.ptr, s->tok_pre.len, 32);
    else
        printf("(none)");
    if (s->has_vocab) printf(", %llu tokens", (unsigned long long)s->vocab);
    printf("\n");
    if (s->has_bos) {
        printf("                bos %u ", s->bos);
        if (s->bos_text.ptr)
            text_bytes(stdout, s->bos_text.ptr, s->bos_text.len, 40);
        else
            printf("(out of the vocabulary)");
    }
    if (s->has_eos) {
        printf("%seos %u ", s->has_bos ? ", " : "                ", s->eos);
        if (s->eos_text.ptr)
            text_bytes(stdout, s->eos_text.ptr, s->eos_text.len, 40);
        else
            printf("(out of the vocabulary)");
    }
    if (s->has_bos || s->has_eos) printf("\n");
    printf("chat template   ");
    if (s->has_tmpl) {
        const char *nl = memchr(s->tmpl.ptr, '\n', s->tmpl.len);
        uint64_t first = nl ? (uint64_t)(nl - s->tmpl.ptr) : s->tmpl.len, lines = 1;
        uint64_t cut = first < 100 ? first : 100;
        for (uint64_t i = 0; i + 1 < s->tmpl.len; i++)
            lines += s->tmpl.ptr[i] == '\n';
        text_bytes(stdout, s->tmpl.ptr, cut, cut);
        printf("%s (%llu bytes, %llu line%s)\n", cut < s->tmpl.len ? " ..." : "",
               (unsigned long long)s->tmpl.len, (unsigned long long)lines, lines == 1 ? "" : "s");
    } else {
        printf("(none)\n");
    }

    printf("\nmetadata (%llu keys)\n", (unsigned long long)llm_gguf_kv_count(f));
    for (uint64_t i = 0; i < llm_gguf_kv_count(f); i++) {
        llm_gguf_str k = llm_gguf_kv_key(f, i);
        llm_gguf_type t = llm_gguf_kv_type(f, i);
        printf("  ");
        text_str(stdout, k.ptr, k.len, 60, 0);
        printf("%*s %-8s ", k.len < 42 ? (int)(42 - k.len) : 0, "",
               t == LLM_GGUF_ARRAY ? "array" : llm_gguf_type_name(t));
        print_value(stdout, f, i, 0, 60);
        printf("\n");
    }

    printf("\ntensors (%llu, %llu bytes, %s)\n", (unsigned long long)llm_gguf_tensor_count(f),
           (unsigned long long)s->tensor_bytes, human(s->tensor_bytes, h));
    printf("  %-36s %-7s %-22s %12s %12s\n", "name", "type", "shape", "offset", "bytes");
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
        char shape[96];
        int n = 0;
        for (uint32_t d = 0; d < t->n_dims && n < (int)sizeof shape; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%llu", d ? " x " : "",
                          (unsigned long long)t->ne[d]);
        printf("  %-36.*s %-7s %-22s %12llu %12llu\n", (int)(t->name.len < 200 ? t->name.len : 200),
               t->name.ptr, llm_dtype_name(t->dtype), shape, (unsigned long long)t->offset,
               (unsigned long long)t->bytes);
    }
}

static void report_json(const char *path, const llm_gguf *f, const summary *s) {
    FILE *o = stdout;
    fprintf(o, "{\n  \"file\": ");
    clg_json_str(o, path);
    fprintf(o,
            ",\n  \"file_size\": %llu,\n  \"version\": %u,\n  \"alignment\": %llu,\n"
            "  \"data_offset\": %llu,\n  \"architecture\": ",
            (unsigned long long)llm_gguf_file_size(f), llm_gguf_version(f),
            (unsigned long long)llm_gguf_alignment(f), (unsigned long long)llm_gguf_data_offset(f));
    if (s->arch.ptr)
        clg_json_str_n(o, s->arch.ptr, s->arch.len);
    else
        fputs("null", o);
    fprintf(o, ",\n  \"name\": ");
    if (s->name.ptr)
        clg_json_str_n(o, s->name.ptr, s->name.len);
    else
        fputs("null", o);

    fprintf(o, ",\n  \"hyperparameters\": {");
    int first = 1;
    for (uint64_t i = 0; i < llm_gguf_kv_count(f); i++) {
        if (!is_hparam(f, i, s)) continue;
        llm_gguf_str k = llm_gguf_kv_key(f, i);
        fprintf(o, "%s\n    ", first ? "" : ",");
        clg_json_str_n(o, k.ptr, k.len);
        fprintf(o, ": ");
        print_value(o, f, i, 1, 0);
        first = 0;
    }
    fprintf(o, "%s},\n  \"tokenizer\": {\"model\": ", first ? "" : "\n  ");
    if (s->tok_model.ptr)
        clg_json_str_n(o, s->tok_model.ptr, s->tok_model.len);
    else
        fputs("null", o);
    fprintf(o, ", \"pre\": ");
    if (s->tok_pre.ptr)
        clg_json_str_n(o, s->tok_pre.ptr, s->tok_pre.len);
    else
        fputs("null", o);
    if (s->has_vocab)
        fprintf(o, ", \"vocab_size\": %llu", (unsigned long long)s->vocab);
    else
        fprintf(o, ", \"vocab_size\": null");
    if (s->has_bos) {
        fprintf(o, ", \"bos_token_id\": %u, \"bos\": ", s->bos);
        if (s->bos_text.ptr)
            clg_json_str_n(o, s->bos_text.ptr, s->bos_text.len);
        else
            fputs("null", o);
    }
    if (s->has_eos) {
        fprintf(o, ", \"eos_token_id\": %u, \"eos\": ", s->eos);
        if (s->eos_text.ptr)
            clg_json_str_n(o, s->eos_text.ptr, s->eos_text.len);
        else
            fputs("null", o);
    }
    fprintf(o, "},\n  \"chat_template\": ");
    if (s->has_tmpl)
        clg_json_str_n(o, s->tmpl.ptr, s->tmpl.len);
    else
        fputs("null", o);

    fprintf(o, ",\n  \"metadata\": [");
    for (uint64_t i = 0; i < llm_gguf_kv_count(f); i++) {
        llm_gguf_str k = llm_gguf_kv_key(f, i);
        fprintf(o, "%s\n    {\"key\": ", i ? "," : "");
        clg_json_str_n(o, k.ptr, k.len);
        fprintf(o, ", \"type\": \"%s\", \"value\": ", llm_gguf_type_name(llm_gguf_kv_type(f, i)));
        print_value(o, f, i, 1, 0);
        fputc('}', o);
    }
    fprintf(o, "%s],\n  \"tensor_count\": %llu,\n  \"tensor_bytes\": %llu,\n  \"tensors\": [",
            llm_gguf_kv_count(f) ? "\n  " : "", (unsigned long long)llm_gguf_tensor_count(f),
            (unsigned long long)s->tensor_bytes);
    for (uint64_t i = 0; i < llm_gguf_tensor_count(f); i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
        fprintf(o, "%s\n    {\"name\": ", i ? "," : "");
        clg_json_str_n(o, t->name.ptr, t->name.len);
        fprintf(o, ", \"type\": \"%s\", \"shape\": ", llm_dtype_name(t->dtype));
        json_shape(o, t);
        fprintf(o, ", \"offset\": %llu, \"bytes\": %llu}", (unsigned long long)t->offset,
                (unsigned long long)t->bytes);
    }
    fprintf(o, "%s]\n}\n", llm_gguf_tensor_count(f) ? "\n  " : "");
}

int clg_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clgraph inspect: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "clgraph inspect: one model file only ('%s' and '%s')\n\n", path,
                    argv[i]);
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "clgraph inspect: no model file given\n\n");
        usage(stderr);
        return 2;
    }
    llm_gguf *f = NULL;
    clg_status st = llm_gguf_open(path, &f);
    if (st != CLG_OK) {
        fprintf(stderr, "clgraph inspect: %s (%s)\n", clg_last_error(), clg_status_str(st));
        return 1;
    }
    summary s;
    summarise(f, &s);
    if (json)
        report_json(path, f, &s);
    else
        report_text(path, f, &s);
    llm_gguf_close(f);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "clgraph inspect: cannot write the output\n");
        return 1;
    }
    return 0;
}
