/* GGUF conversion between weight types (llm_convert): which tensor becomes which type, chunked
 * dequantize -> quantize through a float scratch buffer, metadata copy, atomic write. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clgraph/convert.h"
#include "clgraph/gguf.h"
#include "clgraph/report.h"

/* Elements converted per step (rounded down to whole rows, at least one row): bounds the float
 * scratch buffer to ~4 MiB whatever the tensor size. */
#define CONVERT_CHUNK_ELEMS (1u << 20)

#define GGML_QNT_VERSION 2

typedef struct target {
    int dtype;
    int ftype; /* LLAMA_FTYPE_ALL_F32, _MOSTLY_F16, _MOSTLY_Q4_0, _MOSTLY_Q4_1, _MOSTLY_Q8_0,
                  _MOSTLY_Q5_0, _MOSTLY_Q5_1 */
} target;

static const target targets[] = {
    {LLM_DTYPE_F32, 0},  {LLM_DTYPE_F16, 1},  {LLM_DTYPE_Q8_0, 7}, {LLM_DTYPE_Q4_0, 2},
    {LLM_DTYPE_Q4_1, 3}, {LLM_DTYPE_Q5_0, 8}, {LLM_DTYPE_Q5_1, 9},
};

int llm_convert_target_ok(int dtype) {
    return llm_convert_file_type(dtype) >= 0;
}

const char *llm_convert_target_names(void) {
    return "f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1";
}

int llm_convert_file_type(int dtype) {
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (targets[i].dtype == dtype) return targets[i].ftype;
    return -1;
}

static int is_block_type(int dtype) {
    return llm_dtype_block_elems(dtype) > 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* The type tensor t gets for target dtype; *note says why when it is not the target. */
static int choose_dtype(const llm_gguf_tensor *t, const char *name, int dtype, const char **note) {
    *note = NULL;
    if (t->n_dims == 1) return LLM_DTYPE_F32;
    if (t->n_dims != 2 || !ends_with(name, ".weight")) return t->dtype;
    if (t->ne[0] % llm_dtype_block_elems(dtype)) {
        *note = "rows are not a multiple of 32 elements: stored as f16";
        return LLM_DTYPE_F16;
    }
    return dtype;
}

/* Grows a malloc'ed buffer to at least need bytes (contents not kept). */
static clg_status reserve(void **buf, size_t *cap, size_t need, const char *what) {
    if (need <= *cap) return CLG_OK;
    void *p = malloc(need);
    if (!p)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "convert: no memory for the %s (%zu bytes)", what,
                        need);
    free(*buf);
    *buf = p;
    *cap = need;
    return CLG_OK;
}

/* Fails early (before the conversion work) when path is not a regular file or a new path, is
 * the input itself, or its folder cannot take a new file. */
static clg_status check_output(const char *path, const char *in_path) {
    struct stat sb;
    clg_status st = clg_file_check_output(path, "converted model", in_path);
    if (st != CLG_OK) return st;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "convert: no memory");
    if (stat(dir, &sb) != 0)
        st = clg_fail(CLG_ERR_IO, "cannot write '%s': directory '%s': %s", path, dir,
                      strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        st = clg_fail(CLG_ERR_IO, "cannot write '%s': '%s' is not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        st = clg_fail(CLG_ERR_IO, "cannot write '%s': directory '%s': %s", path, dir,
                      strerror(errno));
    free(dir);
    return st;
}

/* Dequantizes t and quantizes it into dst (llm_dtype_row_bytes(dst_dtype, ne0) * rows bytes),
 * a chunk of whole rows at a time through the scratch buffer. */
static clg_status requantize(const llm_gguf_tensor *t, const char *name, int dst_dtype, void *dst,
                             float **scratch, size_t *scratch_cap) {
    uint64_t ne0 = t->ne[0], rows = ne0 ? t->n_elems / ne0 : 0;
    if (!rows) return CLG_OK;
    uint64_t chunk_rows = CONVERT_CHUNK_ELEMS / ne0 ? CONVERT_CHUNK_ELEMS / ne0 : 1;
    if (chunk_rows > rows) chunk_rows = rows;
    if (ne0 > SIZE_MAX / sizeof(float) / chunk_rows)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "convert: tensor '%s': rows of %llu are too long",
                        name, (unsigned long long)ne0);
    clg_status st = reserve((void **)scratch, scratch_cap, chunk_rows * ne0 * sizeof(float),
                            "float scratch buffer");
    if (st != CLG_OK) return st;
    size_t src_row = llm_dtype_row_bytes(t->dtype, ne0),
           dst_row = llm_dtype_row_bytes(dst_dtype, ne0);
    const uint8_t *s = t->data;
    uint8_t *d = dst;
    for (uint64_t r = 0; r < rows; r += chunk_rows) {
        uint64_t nr = rows - r < chunk_rows ? rows - r : chunk_rows;
        size_t n = (size_t)(nr * ne0);
        st = llm_dequantize(t->dtype, s + r * src_row, *scratch, n);
        if (st != CLG_OK)
            return clg_fail(
                CLG_ERR_UNSUPPORTED, "convert: tensor '%s' of type %s cannot be read: %s", name,
                llm_dtype_name(t->dtype) ? llm_dtype_name(t->dtype) : "unknown", clg_last_error());
        st = llm_quantize(dst_dtype, *scratch, d + r * dst_row, n);
        if (st != CLG_OK)
            return clg_fail(st, "convert: tensor '%s' to %s: %s", name, llm_dtype_name(dst_dtype),
                            clg_last_error());
    }
    return CLG_OK;
}

clg_status llm_convert(const char *in_path, const char *out_path, int dtype,
                       llm_convert_progress_fn progress, void *user, llm_convert_stats *stats) {
    llm_gguf *f = NULL;
    llm_gguf_writer *w = NULL;
    float *scratch = NULL;
    void *outbuf = NULL;
    char *name = NULL;
    size_t scratch_cap = 0, outbuf_cap = 0, name_cap = 0;
    llm_convert_stats s = {0};
    clg_status st = CLG_OK;

    if (!in_path || !out_path)
        return clg_fail(CLG_ERR_INVALID_ARG, "llm_convert: NULL input or output path");
    if (!llm_convert_target_ok(dtype)) {
        const char *n = llm_dtype_name(dtype);
        if (n)
            return clg_fail(CLG_ERR_INVALID_ARG, "cannot convert to %s: the targets are %s", n,
                            llm_convert_target_names());
        return clg_fail(CLG_ERR_INVALID_ARG, "cannot convert to weight type %d: the targets are %s",
                        dtype, llm_convert_target_names());
    }
    if ((st = llm_gguf_open(in_path, &f)) != CLG_OK) goto fail;
    if ((st = check_output(out_path, in_path)) != CLG_OK) goto fail;
    if ((st = llm_gguf_writer_create(&w)) != CLG_OK) goto fail;
    if ((st = llm_gguf_writer_copy_kv(w, f)) != CLG_OK) goto fail;
    if ((st = llm_gguf_writer_add_u32(w, "general.file_type",
                                      (uint32_t)llm_convert_file_type(dtype))) != CLG_OK)
        goto fail;
    if (is_block_type(dtype) && (st = llm_gguf_writer_add_u32(w, "general.quantization_version",
                                                              GGML_QNT_VERSION)) != CLG_OK)
        goto fail;

    s.in_bytes = llm_gguf_file_size(f);
    s.n_tensors = llm_gguf_tensor_count(f);
    for (uint64_t i = 0; i < s.n_tensors; i++) {
        const llm_gguf_tensor *t = llm_gguf_tensor_at(f, i);
        if (memchr(t->name.ptr, 0, t->name.len)) {
            st = clg_fail(CLG_ERR_FORMAT, "convert: the name of tensor %llu contains a NUL byte",
                          (unsigned long long)i);
            goto fail;
        }
        if ((st = reserve((void **)&name, &name_cap, t->name.len + 1, "tensor name")) != CLG_OK)
            goto fail;
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = 0;

        const char *note = NULL;
        int dst = choose_dtype(t, name, dtype, &note);
        if (progress) {
            llm_convert_event ev = {i, s.n_tensors, name, t->n_dims, t->ne, t->dtype, dst, note};
            if (progress(&ev, user)) {
                st = clg_fail(CLG_ERR_INTERRUPTED, "convert: stopped at tensor '%s' (%llu of %llu)",
                              name, (unsigned long long)i + 1, (unsigned long long)s.n_tensors);
                goto fail;
            }
        }
        const void *data = t->data;
        if (dst != t->dtype) {
            uint64_t rows = t->ne[0] ? t->n_elems / t->ne[0] : 0;
            size_t row = llm_dtype_row_bytes(dst, t->ne[0]);
            if (rows && row > SIZE_MAX / rows) {
                st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "convert: tensor '%s' is too large", name);
                goto fail;
            }
            if ((st = reserve(&outbuf, &outbuf_cap, row * rows, "output tensor")) != CLG_OK ||
                (st = requantize(t, name, dst, outbuf, &scratch, &scratch_cap)) != CLG_OK)
                goto fail;
            data = outbuf;
            s.n_requant++;
        }
        if ((st = llm_gguf_writer_add_tensor(w, name, dst, t->n_dims, t->ne, data)) != CLG_OK)
            goto fail;
        if (note)
            s.n_fallback++;
        else if (t->n_dims == 2 && ends_with(name, ".weight"))
            s.n_target++;
        else
            s.n_other++;
    }
    /* the writer holds copies of everything: let go of the input and of the scratch buffers
     * before the output is written */
    llm_gguf_close(f);
    free(scratch);
    free(outbuf);
    f = NULL;
    scratch = NULL;
    outbuf = NULL;
    if ((st = llm_gguf_writer_write(w, out_path)) != CLG_OK) goto fail;
    struct stat sb;
    if (stat(out_path, &sb) == 0) s.out_bytes = (uint64_t)sb.st_size;
    if (stats) *stats = s;
fail:
    llm_gguf_writer_destroy(w);
    llm_gguf_close(f);
    free(scratch);
    free(outbuf);
    free(name);
    return st;
}
