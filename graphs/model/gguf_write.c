/* GGUF writer: collects key-value pairs and tensors (copied, or produced by a fill callback at
 * write time), then writes one v3 file with the data section and every tensor aligned (default
 * 32 bytes) and zero padding between them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/gguf.h"
#include "clgraph/report.h"
#include "graphs/model/gguf_impl.h"

#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct wkv {
    char *key; /* [key_len + 1], NUL-terminated for messages */
    uint64_t key_len;
    uint32_t type;
    uint8_t *val; /* [len] the value as stored in the file (after the type) */
    uint64_t len;
} wkv;

typedef struct wtensor {
    char *name;
    uint64_t name_len;
    int dtype;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t bytes;
    void *data; /* [bytes], or NULL when fill produces the rows at write time */
    llm_gguf_fill_fn fill;
    void *fill_user; /* borrowed */
} wtensor;

struct llm_gguf_writer {
    uint32_t alignment;
    wkv *kv; /* [n_kv] in insertion order */
    size_t n_kv, cap_kv;
    wtensor *t; /* [n_t] in insertion order */
    size_t n_t, cap_t;
};

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

clg_status llm_gguf_writer_create(llm_gguf_writer **out) {
    if (!out) return clg_fail(CLG_ERR_INVALID_ARG, "llm_gguf_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: no memory");
    (*out)->alignment = GGUF_DEFAULT_ALIGNMENT;
    return CLG_OK;
}

void llm_gguf_writer_destroy(llm_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

static int is_pow2(uint64_t a) {
    return a && !(a & (a - 1));
}

static int key_is(const wkv *kv, const char *key, uint64_t len) {
    return kv->key_len == len && !memcmp(kv->key, key, len);
}

/* Stores a value (bytes as in the file) under key, replacing the value of an existing key in
 * place. The value is copied. */
static clg_status set_kv(llm_gguf_writer *w, const char *key, uint64_t key_len, uint32_t type,
                         const void *val, uint64_t len) {
    if (!w || !key) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: NULL writer or key");
    if (key_len == 0) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: empty key");
    if (key_len == 17 && !memcmp(key, "general.alignment", 17)) {
        uint32_t a = 0;
        if (type == LLM_GGUF_UINT32 && len == 4) {
            const uint8_t *b = val;
            a = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
        }
        if (type != LLM_GGUF_UINT32 || !is_pow2(a))
            return clg_fail(CLG_ERR_INVALID_ARG,
                            "GGUF writer: general.alignment must be a uint32 power of two");
        w->alignment = a;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for '%s'", key);
    if (len) memcpy(copy, val, len);
    for (size_t i = 0; i < w->n_kv; i++)
        if (key_is(&w->kv[i], key, key_len)) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = copy;
            w->kv[i].len = len;
            return CLG_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p) {
            free(copy);
            return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for '%s'", key);
        }
        w->kv = p;
        w->cap_kv = cap;
    }
    char *k = malloc(key_len + 1);
    if (!k) {
        free(copy);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for '%s'", key);
    }
    memcpy(k, key, key_len);
    k[key_len] = 0;
    w->kv[w->n_kv++] = (wkv){k, key_len, type, copy, len};
    return CLG_OK;
}

static clg_status set_scalar(llm_gguf_writer *w, const char *key, uint32_t type, uint64_t bits,
                             unsigned bytes) {
    uint8_t v[8];
    put64(v, bits);
    return set_kv(w, key, key ? strlen(key) : 0, type, v, bytes);
}

clg_status llm_gguf_writer_set_alignment(llm_gguf_writer *w, uint32_t alignment) {
    if (!w) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: NULL writer");
    if (!is_pow2(alignment))
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "GGUF writer: alignment %u is not a nonzero power of two", alignment);
    int present = 0;
    for (size_t i = 0; i < w->n_kv; i++)
        present |= key_is(&w->kv[i], "general.alignment", 17);
    /* the key is written when it differs from the default or was set explicitly before */
    if (present || alignment != GGUF_DEFAULT_ALIGNMENT)
        return set_scalar(w, "general.alignment", LLM_GGUF_UINT32, alignment, 4);
    w->alignment = alignment;
    return CLG_OK;
}

clg_status llm_gguf_writer_add_u32(llm_gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, LLM_GGUF_UINT32, v, 4);
}

clg_status llm_gguf_writer_add_i32(llm_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, LLM_GGUF_INT32, (uint32_t)v, 4);
}

clg_status llm_gguf_writer_add_u64(llm_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, LLM_GGUF_UINT64, v, 8);
}

clg_status llm_gguf_writer_add_f32(llm_gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, LLM_GGUF_FLOAT32, bits, 4);
}

clg_status llm_gguf_writer_add_bool(llm_gguf_writer *w, const char *key, int v) {
    return set_scalar(w, key, LLM_GGUF_BOOL, v != 0, 1);
}

clg_status llm_gguf_writer_add_str(llm_gguf_writer *w, const char *key, const char *v) {
    if (!v)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: NULL string for '%s'", key ? key : "");
    uint64_t n = strlen(v);
    uint8_t *buf = malloc(8 + n);
    if (!buf) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: no memory");
    put64(buf, n);
    memcpy(buf + 8, v, n);
    clg_status st = set_kv(w, key, key ? strlen(key) : 0, LLM_GGUF_STRING, buf, 8 + n);
    free(buf);
    return st;
}

clg_status llm_gguf_writer_add_array(llm_gguf_writer *w, const char *key, llm_gguf_type elem_type,
                                     const void *data, uint64_t count) {
    size_t sz = llm_gguf_type_size(elem_type);
    const char *k = key ? key : "";
    if (!sz)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "GGUF writer: '%s': element type %s is not a number type (use "
                        "llm_gguf_writer_add_str_array for strings)",
                        k, llm_gguf_type_name(elem_type));
    if (count && !data) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: '%s': NULL data", k);
    if (count > (SIZE_MAX - 12) / sz)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: '%s': %llu elements is too many", k,
                        (unsigned long long)count);
    if (elem_type == LLM_GGUF_BOOL)
        for (uint64_t i = 0; i < count; i++)
            if (((const uint8_t *)data)[i] > 1)
                return clg_fail(CLG_ERR_INVALID_ARG,
                                "GGUF writer: '%s': bool element %llu is %u, not 0 or 1", k,
                                (unsigned long long)i, ((const uint8_t *)data)[i]);
    uint64_t len = 12 + count * sz;
    uint8_t *buf = malloc(len);
    if (!buf) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: '%s': no memory", k);
    put32(buf, elem_type);
    put64(buf + 4, count);
    if (count) memcpy(buf + 12, data, count * sz);
    clg_status st = set_kv(w, key, key ? strlen(key) : 0, LLM_GGUF_ARRAY, buf, len);
    free(buf);
    return st;
}

clg_status llm_gguf_writer_add_str_array(llm_gguf_writer *w, const char *key,
                                         const char *const *strs, const uint64_t *lens,
                                         uint64_t count) {
    const char *k = key ? key : "";
    if (count && !strs) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: '%s': NULL strings", k);
    uint64_t len = 12;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = lens ? lens[i] : strs[i] ? strlen(strs[i]) : 0;
        if (!strs[i] && n)
            return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: '%s': string %llu is NULL", k,
                            (unsigned long long)i);
        if (n > SIZE_MAX - 8 - len)
            return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: '%s': strings too long", k);
        len += 8 + n;
    }
    uint8_t *buf = malloc(len);
    if (!buf) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: '%s': no memory", k);
    put32(buf, LLM_GGUF_STRING);
    put64(buf + 4, count);
    uint64_t pos = 12;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = lens ? lens[i] : strs[i] ? strlen(strs[i]) : 0;
        put64(buf + pos, n);
        if (n) memcpy(buf + pos + 8, strs[i], n);
        pos += 8 + n;
    }
    clg_status st = set_kv(w, key, key ? strlen(key) : 0, LLM_GGUF_ARRAY, buf, len);
    free(buf);
    return st;
}

clg_status llm_gguf_writer_copy_kv(llm_gguf_writer *w, const llm_gguf *src) {
    if (!w || !src) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: NULL writer or source");
    for (uint64_t i = 0; i < llm_gguf_kv_count(src); i++) {
        llm_gguf_str key = llm_gguf_kv_key(src, i);
        const void *val;
        uint64_t len;
        clg_status st = llm_gguf_kv_raw(src, i, &val, &len);
        if (st != CLG_OK) return st;
        st = set_kv(w, key.ptr, key.len, (uint32_t)llm_gguf_kv_type(src, i), val, len);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* Adds a tensor whose bytes are copied from data, or (fill != NULL) produced at write time. */
static clg_status add_tensor(llm_gguf_writer *w, const char *name, int dtype, uint32_t n_dims,
                             const uint64_t *ne, const void *data, llm_gguf_fill_fn fill,
                             void *fill_user) {
    if (!w || !name || !ne)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: NULL writer, tensor name or shape");
    uint64_t name_len = strlen(name);
    if (!name_len) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: empty tensor name");
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].name_len == name_len && !memcmp(w->t[i].name, name, name_len))
            return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s' added twice", name);
    if (!llm_dtype_name(dtype))
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s': unknown type %d", name,
                        dtype);
    if (n_dims < 1 || n_dims > 4)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s': n_dims %u not in 1..4",
                        name, n_dims);
    wtensor t = {0};
    t.dtype = dtype;
    t.n_dims = n_dims;
    uint64_t rows = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] > (uint64_t)INT64_MAX)
            return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s': ne[%u] too large", name,
                            d);
        if (d > 0) {
            if (t.ne[d] && rows > (uint64_t)INT64_MAX / t.ne[d])
                return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s': too many rows",
                                name);
            rows *= t.ne[d];
        }
    }
    size_t row = llm_dtype_row_bytes(dtype, t.ne[0]);
    if (!row && t.ne[0])
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "GGUF writer: tensor '%s': ne[0] = %llu is not a multiple of the %s block "
                        "size %zu",
                        name, (unsigned long long)t.ne[0], llm_dtype_name(dtype),
                        llm_dtype_block_elems(dtype));
    if (rows && row > SIZE_MAX / rows)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s' is too large", name);
    t.bytes = (uint64_t)row * rows;
    if (t.bytes && !data && !fill)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s': NULL data", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for '%s'", name);
        w->t = p;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    t.name_len = name_len;
    t.fill = fill;
    t.fill_user = fill_user;
    t.data = fill ? NULL : malloc(t.bytes ? t.bytes : 1);
    if (!t.name || (!fill && !t.data)) {
        free(t.name);
        free(t.data);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY,
                        "GGUF writer: no memory for tensor '%s' (%llu bytes)", name,
                        (unsigned long long)t.bytes);
    }
    if (t.bytes && !fill) memcpy(t.data, data, t.bytes);
    w->t[w->n_t++] = t;
    return CLG_OK;
}

clg_status llm_gguf_writer_add_tensor(llm_gguf_writer *w, const char *name, int dtype,
                                      uint32_t n_dims, const uint64_t *ne, const void *data) {
    return add_tensor(w, name, dtype, n_dims, ne, data, NULL, NULL);
}

clg_status llm_gguf_writer_add_tensor_cb(llm_gguf_writer *w, const char *name, int dtype,
                                         uint32_t n_dims, const uint64_t *ne, llm_gguf_fill_fn fill,
                                         void *user) {
    if (!fill)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: tensor '%s': NULL fill function",
                        name ? name : "");
    return add_tensor(w, name, dtype, n_dims, ne, NULL, fill, user);
}

/* ---- output ------------------------------------------------------------- */

typedef struct out {
    FILE *fp;
    uint64_t pos;
    int err;
} out;

static void emit(out *o, const void *p, uint64_t n) {
    if (o->err || !n) return;
    if (fwrite(p, 1, n, o->fp) != n) o->err = errno ? errno : EIO;
    o->pos += n;
}

static void emit32(out *o, uint32_t v) {
    uint8_t b[4];
    put32(b, v);
    emit(o, b, 4);
}

static void emit64(out *o, uint64_t v) {
    uint8_t b[8];
    put64(b, v);
    emit(o, b, 8);
}

static void pad(out *o, uint64_t alignment) {
    static const uint8_t zeros[256];
    uint64_t n = (alignment - o->pos % alignment) % alignment;
    while (n) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        emit(o, zeros, k);
        n -= k;
    }
}

static uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

/* Streams a fill tensor's rows through a chunk buffer of about FILL_CHUNK bytes. */
#define FILL_CHUNK ((uint64_t)8 << 20)
static clg_status emit_filled(out *o, const wtensor *t) {
    uint64_t row = llm_dtype_row_bytes(t->dtype, t->ne[0]);
    if (!row || !t->bytes) return CLG_OK;
    uint64_t rows = t->bytes / row, per = FILL_CHUNK / row ? FILL_CHUNK / row : 1;
    if (per > rows) per = rows;
    uint8_t *buf = malloc(per * row);
    if (!buf)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF writer: no memory to stream tensor '%s'",
                        t->name);
    clg_status st = CLG_OK;
    for (uint64_t r = 0; r < rows && st == CLG_OK && !o->err; r += per) {
        uint64_t n = rows - r < per ? rows - r : per;
        st = t->fill(t->fill_user, r, n, buf);
        if (st == CLG_OK) emit(o, buf, n * row);
    }
    free(buf);
    return st;
}

typedef struct write_job {
    const llm_gguf_writer *w;
    const char *path;
} write_job;

/* clg_write_fn: the whole file, header to the last tensor's padding. */
static clg_status write_file(void *user, FILE *fp) {
    const write_job *j = user;
    const llm_gguf_writer *w = j->w;
    out o = {fp, 0, 0};
    uint64_t a = w->alignment;
    emit32(&o, 0x46554747u); /* "GGUF" */
    emit32(&o, 3);
    emit64(&o, w->n_t);
    emit64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        emit64(&o, w->kv[i].key_len);
        emit(&o, w->kv[i].key, w->kv[i].key_len);
        emit32(&o, w->kv[i].type);
        emit(&o, w->kv[i].val, w->kv[i].len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        emit64(&o, t->name_len);
        emit(&o, t->name, t->name_len);
        emit32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            emit64(&o, t->ne[d]);
        emit32(&o, (uint32_t)t->dtype);
        emit64(&o, off);
        off = align_up(off + t->bytes, a);
    }
    pad(&o, a);
    for (size_t i = 0; i < w->n_t && !o.err; i++) {
        if (w->t[i].fill) {
            clg_status st = emit_filled(&o, &w->t[i]);
            if (st != CLG_OK) return st;
        } else {
            emit(&o, w->t[i].data, w->t[i].bytes);
        }
        pad(&o, a);
    }
    if (o.err)
        return clg_fail(CLG_ERR_IO, "writing the GGUF file to %s failed: %s", j->path,
                        strerror(o.err));
    return CLG_OK;
}

/* Through clg_file_write_atomic: only a new path or a regular file is replaced, by renaming a
 * temporary file written beside it, so a failed write leaves neither a part nor the
 * temporary. */
clg_status llm_gguf_writer_write(llm_gguf_writer *w, const char *path) {
    if (!w || !path) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF writer: NULL writer or path");
    write_job j = {w, path};
    return clg_file_write_atomic(path, "GGUF file", write_file, &j);
}
