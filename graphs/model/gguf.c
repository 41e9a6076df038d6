/* GGUF reader (v2, v3): maps a file or borrows memory, validates every count, length, type
 * and offset against the file before using it, then indexes keys, string arrays and tensors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clgraph/gguf.h"
#include "clgraph/util.h"
#include "graphs/model/gguf_impl.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_HEADER_BYTES 24   /* magic, version, tensor count, kv count */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DEPTH 8 /* nesting of arrays of arrays */
#define KV_MIN_BYTES 13  /* key length (8) + type (4) + the smallest value (1) */
#define TENSOR_MIN_BYTES                                                                           \
    32                /* name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8)        \
                       */
#define NAME_SHOWN 64 /* longest key / tensor name quoted in a message */

typedef struct gguf_kv {
    llm_gguf_str key;
    llm_gguf_type type;
    uint64_t key_off;   /* of the key's length field */
    uint64_t val_off;   /* of the value, after the type */
    uint64_t val_end;   /* just past the value */
    llm_gguf_type elem; /* arrays: element type, count and first element */
    uint64_t count;
    uint64_t elems_off;
    uint64_t *str_offs; /* string arrays: [count] offsets of each element's length field */
} gguf_kv;

struct llm_gguf {
    const uint8_t *base; /* [size] the file */
    uint64_t size;
    void *map; /* non-NULL when llm_gguf_open mapped the file */
    size_t map_size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    gguf_kv *kv; /* [n_kv] */
    uint64_t n_tensors;
    llm_gguf_tensor *tensors; /* [n_tensors] */
    /* open addressing, power-of-two capacity, entries are index + 1 (0 = empty) */
    uint64_t *kv_hash, kv_cap;
    uint64_t *t_hash, t_cap;
    uint64_t seed; /* of the hash: from the handle's address (randomised by ASLR) */
};

/* ---- small helpers ------------------------------------------------------ */

static const char *const type_names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                         "int32",  "float32", "bool",   "string", "array",
                                         "uint64", "int64",   "float64"};

const char *llm_gguf_type_name(llm_gguf_type t) {
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "unknown";
}

size_t llm_gguf_type_size(llm_gguf_type t) {
    switch (t) {
    case LLM_GGUF_UINT8:
    case LLM_GGUF_INT8:
    case LLM_GGUF_BOOL:
        return 1;
    case LLM_GGUF_UINT16:
    case LLM_GGUF_INT16:
        return 2;
    case LLM_GGUF_UINT32:
    case LLM_GGUF_INT32:
    case LLM_GGUF_FLOAT32:
        return 4;
    case LLM_GGUF_UINT64:
    case LLM_GGUF_INT64:
    case LLM_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* Names of the ids ggml retired (no block size any more), for the message that refuses them. */
static const char *retired_type_name(uint32_t t) {
    switch (t) {
    case 4:
        return "q4_2";
    case 5:
        return "q4_3";
    case 31:
        return "q4_0_4_4";
    case 32:
        return "q4_0_4_8";
    case 33:
        return "q4_0_8_8";
    case 36:
        return "iq4_nl_4_4";
    case 37:
        return "iq4_nl_4_8";
    case 38:
        return "iq4_nl_8_8";
    default:
        return NULL;
    }
}

static uint16_t ld16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p) {
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

/* Quotes a key or tensor name for a message: printable ASCII kept, the rest as '?'. */
static const char *shown(llm_gguf_str s, char buf[NAME_SHOWN + 4]) {
    uint64_t n = s.len < NAME_SHOWN ? s.len : NAME_SHOWN;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (s.len > NAME_SHOWN) memcpy(buf + n, "...", 3), n += 3;
    buf[n] = 0;
    return buf;
}

static int str_eq(llm_gguf_str a, const char *b, uint64_t blen) {
    return a.len == blen && (blen == 0 || !memcmp(a.ptr, b, blen));
}

static uint64_t hash_cap(uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

/* Finds name in a table whose entries name via get(ctx, index); returns index or -1, and the
 * empty slot where it would go. */
typedef llm_gguf_str (*name_of)(const llm_gguf *f, uint64_t i);

static int64_t hash_find(const llm_gguf *f, const uint64_t *tab, uint64_t cap, name_of get,
                         const char *name, uint64_t len, uint64_t *slot) {
    /* FNV-1a, seeded per handle so that a hostile file cannot precompute colliding names */
    uint64_t i = clg_hash(CLG_HASH_INIT ^ f->seed, name, (size_t)len) & (cap - 1);
    for (; tab[i]; i = (i + 1) & (cap - 1))
        if (str_eq(get(f, tab[i] - 1), name, len)) return (int64_t)(tab[i] - 1);
    if (slot) *slot = i;
    return -1;
}

static llm_gguf_str kv_name(const llm_gguf *f, uint64_t i) {
    return f->kv[i].key;
}
static llm_gguf_str tensor_name(const llm_gguf *f, uint64_t i) {
    return f->tensors[i].name;
}

/* ---- parsing ------------------------------------------------------------ */

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
} cursor;

static uint64_t left(const cursor *c) {
    return c->size - c->pos;
}

/* "<what> at offset N needs B bytes but the file ends at S" */
static clg_status truncated(const cursor *c, uint64_t need, const char *what) {
    return clg_fail(CLG_ERR_FORMAT,
                    "GGUF: %s at offset %llu needs %llu bytes but the file ends at offset %llu "
                    "(truncated file?)",
                    what, (unsigned long long)c->pos, (unsigned long long)need,
                    (unsigned long long)c->size);
}

static int take(cursor *c, uint64_t n, const uint8_t **p) {
    if (n > left(c)) return 0;
    *p = c->base + c->pos;
    c->pos += n;
    return 1;
}

static int rd32(cursor *c, uint32_t *v) {
    const uint8_t *p;
    if (!take(c, 4, &p)) return 0;
    *v = ld32(p);
    return 1;
}

static int rd64(cursor *c, uint64_t *v) {
    const uint8_t *p;
    if (!take(c, 8, &p)) return 0;
    *v = ld64(p);
    return 1;
}

/* A string: u64 length then bytes. `what` names it in messages. */
static clg_status rd_str(cursor *c, const char *what, const char *ctx, llm_gguf_str *out) {
    char w[400];
    uint64_t len;
    if (!rd64(c, &len)) {
        snprintf(w, sizeof w, "%s%s length", ctx, what);
        return truncated(c, 8, w);
    }
    if (len > left(c))
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: %s%s length at offset %llu is %llu bytes but only %llu bytes are "
                        "left in the file",
                        ctx, what, (unsigned long long)(c->pos - 8), (unsigned long long)len,
                        (unsigned long long)left(c));
    out->ptr = (const char *)c->base + c->pos;
    out->len = len;
    c->pos += len;
    return CLG_OK;
}

/* Validates one value of type t at the cursor and steps over it. ctx prefixes messages
 * ("key #3 'general.name' "). Fills kv's array fields at depth 0. */
static clg_status parse_value(cursor *c, uint32_t t, int depth, const char *ctx, gguf_kv *kv) {
    uint64_t sz = llm_gguf_type_size(t);
    if (sz) {
        const uint8_t *p;
        if (!take(c, sz, &p)) {
            char w[400];
            snprintf(w, sizeof w, "%.300s%s value", ctx, type_names[t]);
            return truncated(c, sz, w);
        }
        if (t == LLM_GGUF_BOOL && *p > 1)
            return clg_fail(CLG_ERR_FORMAT, "GGUF: %sbool value at offset %llu is %u, not 0 or 1",
                            ctx, (unsigned long long)(c->pos - 1), *p);
        return CLG_OK;
    }
    if (t == LLM_GGUF_STRING) {
        llm_gguf_str s;
        return rd_str(c, "string", ctx, &s);
    }
    /* array: element type, count, elements */
    char w[400];
    uint32_t et;
    uint64_t count, at = c->pos;
    if (!rd32(c, &et)) {
        snprintf(w, sizeof w, "%.300sarray element type", ctx);
        return truncated(c, 4, w);
    }
    if (et > LLM_GGUF_FLOAT64)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: %sarray element type at offset %llu is %u, not a GGUF value type "
                        "(0..12)",
                        ctx, (unsigned long long)at, et);
    if (et == LLM_GGUF_ARRAY && depth + 1 >= GGUF_MAX_DEPTH)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: %sarray at offset %llu nests arrays more than %d deep", ctx,
                        (unsigned long long)at, GGUF_MAX_DEPTH);
    if (!rd64(c, &count)) {
        snprintf(w, sizeof w, "%.300sarray count", ctx);
        return truncated(c, 8, w);
    }
    /* each element needs at least this many bytes: checked before walking the elements */
    uint64_t min = llm_gguf_type_size(et) ? llm_gguf_type_size(et) : et == LLM_GGUF_STRING ? 8 : 12;
    if (count > left(c) / min)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: %sarray count at offset %llu is %llu elements of %s, but the %llu "
                        "bytes left in the file hold at most %llu",
                        ctx, (unsigned long long)(c->pos - 8), (unsigned long long)count,
                        type_names[et], (unsigned long long)left(c),
                        (unsigned long long)(left(c) / min));
    if (depth == 0 && kv) {
        kv->elem = (llm_gguf_type)et;
        kv->count = count;
        kv->elems_off = c->pos;
    }
    if (llm_gguf_type_size(et) && et != LLM_GGUF_BOOL) {
        c->pos += count * llm_gguf_type_size(et);
        return CLG_OK;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t pos = c->pos;
        if (parse_value(c, et, depth + 1, "", NULL) != CLG_OK) {
            /* walk the bad element again, now with a message that names it */
            char sub[200];
            snprintf(sub, sizeof sub, "%selement %llu: ", ctx, (unsigned long long)i);
            c->pos = pos;
            return parse_value(c, et, depth + 1, sub, NULL);
        }
    }
    return CLG_OK;
}

static clg_status parse_header(cursor *c, llm_gguf *f, uint64_t *n_kv, uint64_t *n_tensors) {
    const uint8_t *p;
    if (!take(c, 4, &p)) return truncated(c, 4, "magic");
    if (ld32(p) != GGUF_MAGIC) {
        char m[5];
        for (int i = 0; i < 4; i++)
            m[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
        m[4] = 0;
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: magic at offset 0 is '%s' (0x%08x), not 'GGUF': not a GGUF file", m,
                        ld32(p));
    }
    uint32_t v;
    if (!rd32(c, &v)) return truncated(c, 4, "version");
    if (v == 1)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: version at offset 4 is 1: GGUF v1 files are not supported (only v2 "
                        "and v3); re-convert the model with a current llama.cpp");
    if (v == 0x02000000u || v == 0x03000000u)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: version at offset 4 reads 0x%08x: a big-endian GGUF file, which is "
                        "not supported",
                        v);
    if (v != 2 && v != 3)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: version at offset 4 is %u; only versions 2 and 3 are supported", v);
    f->version = v;
    if (!rd64(c, n_tensors)) return truncated(c, 8, "tensor count");
    if (!rd64(c, n_kv)) return truncated(c, 8, "kv count");
    if (*n_kv > left(c) / KV_MIN_BYTES)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: kv count at offset 16 is %llu, but the %llu bytes after the header "
                        "hold at most %llu key-value pairs",
                        (unsigned long long)*n_kv, (unsigned long long)left(c),
                        (unsigned long long)(left(c) / KV_MIN_BYTES));
    if (*n_tensors > left(c) / TENSOR_MIN_BYTES)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: tensor count at offset 8 is %llu, but the %llu bytes after the "
                        "header hold at most %llu tensor infos",
                        (unsigned long long)*n_tensors, (unsigned long long)left(c),
                        (unsigned long long)(left(c) / TENSOR_MIN_BYTES));
    return CLG_OK;
}

static clg_status parse_kvs(cursor *c, llm_gguf *f, uint64_t n_kv) {
    f->kv_cap = hash_cap(n_kv);
    f->kv = calloc(n_kv ? n_kv : 1, sizeof *f->kv);
    f->kv_hash = calloc(f->kv_cap, sizeof *f->kv_hash);
    if (!f->kv || !f->kv_hash)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF: no memory for %llu key-value pairs",
                        (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        char ctx[160], nb[NAME_SHOWN + 4];
        uint32_t t;
        clg_status st;
        kv->key_off = c->pos;
        snprintf(ctx, sizeof ctx, "key #%llu ", (unsigned long long)i);
        if ((st = rd_str(c, "name", ctx, &kv->key)) != CLG_OK) return st;
        if (kv->key.len == 0)
            return clg_fail(CLG_ERR_FORMAT, "GGUF: key #%llu name at offset %llu is empty",
                            (unsigned long long)i, (unsigned long long)kv->key_off);
        uint64_t slot = 0;
        int64_t dup = hash_find(f, f->kv_hash, f->kv_cap, kv_name, kv->key.ptr, kv->key.len, &slot);
        if (dup >= 0)
            return clg_fail(CLG_ERR_FORMAT,
                            "GGUF: key #%llu '%s' at offset %llu duplicates key #%lld at offset "
                            "%llu",
                            (unsigned long long)i, shown(kv->key, nb),
                            (unsigned long long)kv->key_off, (long long)dup,
                            (unsigned long long)f->kv[dup].key_off);
        f->kv_hash[slot] = i + 1;
        snprintf(ctx, sizeof ctx, "key #%llu '%s' ", (unsigned long long)i, shown(kv->key, nb));
        if (!rd32(c, &t)) {
            char w[200];
            snprintf(w, sizeof w, "%svalue type", ctx);
            return truncated(c, 4, w);
        }
        if (t > LLM_GGUF_FLOAT64)
            return clg_fail(CLG_ERR_FORMAT,
                            "GGUF: %svalue type at offset %llu is %u, not a GGUF value type "
                            "(0..12)",
                            ctx, (unsigned long long)(c->pos - 4), t);
        kv->type = (llm_gguf_type)t;
        kv->val_off = c->pos;
        if ((st = parse_value(c, t, 0, ctx, kv)) != CLG_OK) return st;
        kv->val_end = c->pos;
        if (str_eq(kv->key, "general.alignment", 17)) {
            if (t != LLM_GGUF_UINT32)
                return clg_fail(CLG_ERR_FORMAT,
                                "GGUF: general.alignment at offset %llu is of type %s, not uint32",
                                (unsigned long long)kv->val_off, type_names[t]);
            uint32_t a = ld32(c->base + kv->val_off);
            if (a == 0 || (a & (a - 1)))
                return clg_fail(CLG_ERR_FORMAT,
                                "GGUF: general.alignment at offset %llu is %u, not a nonzero power "
                                "of two",
                                (unsigned long long)kv->val_off, a);
            f->alignment = a;
        }
    }
    return CLG_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const llm_gguf_tensor *x = *(const llm_gguf_tensor *const *)a;
    const llm_gguf_tensor *y = *(const llm_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static clg_status parse_tensor_info(cursor *c, llm_gguf *f, uint64_t i, uint64_t *off_at) {
    llm_gguf_tensor *t = &f->tensors[i];
    char ctx[160], nb[NAME_SHOWN + 4], w[220];
    uint64_t name_at = c->pos;
    uint32_t n_dims, type;
    clg_status st;
    snprintf(ctx, sizeof ctx, "tensor #%llu ", (unsigned long long)i);
    if ((st = rd_str(c, "name", ctx, &t->name)) != CLG_OK) return st;
    if (t->name.len == 0)
        return clg_fail(CLG_ERR_FORMAT, "GGUF: tensor #%llu name at offset %llu is empty",
                        (unsigned long long)i, (unsigned long long)name_at);
    uint64_t slot = 0;
    int64_t dup = hash_find(f, f->t_hash, f->t_cap, tensor_name, t->name.ptr, t->name.len, &slot);
    if (dup >= 0)
        return clg_fail(
            CLG_ERR_FORMAT, "GGUF: tensor #%llu name '%s' at offset %llu duplicates tensor #%lld",
            (unsigned long long)i, shown(t->name, nb), (unsigned long long)name_at, (long long)dup);
    f->t_hash[slot] = i + 1;
    snprintf(ctx, sizeof ctx, "tensor #%llu '%s'", (unsigned long long)i, shown(t->name, nb));
    if (!rd32(c, &n_dims)) {
        snprintf(w, sizeof w, "%s n_dims", ctx);
        return truncated(c, 4, w);
    }
    if (n_dims < 1 || n_dims > 4)
        return clg_fail(CLG_ERR_FORMAT, "GGUF: %s n_dims at offset %llu is %u, not in 1..4", ctx,
                        (unsigned long long)(c->pos - 4), n_dims);
    t->n_dims = n_dims;
    uint64_t dims_at = c->pos, n = 1;
    for (uint32_t d = 0; d < 4; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (!rd64(c, &t->ne[d])) {
            snprintf(w, sizeof w, "%s ne[%u]", ctx, d);
            return truncated(c, 8, w);
        }
        if (t->ne[d] > (uint64_t)INT64_MAX)
            return clg_fail(CLG_ERR_FORMAT, "GGUF: %s ne[%u] at offset %llu is %llu, too large",
                            ctx, d, (unsigned long long)(c->pos - 8), (unsigned long long)t->ne[d]);
    }
    for (uint32_t d = 0; d < n_dims; d++) {
        if (t->ne[d] && n > (uint64_t)INT64_MAX / t->ne[d])
            return clg_fail(CLG_ERR_FORMAT,
                            "GGUF: %s shape at offset %llu (%llu x %llu x %llu x %llu) has more "
                            "than 2^63 elements",
                            ctx, (unsigned long long)dims_at, (unsigned long long)t->ne[0],
                            (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                            (unsigned long long)t->ne[3]);
        n *= t->ne[d];
    }
    t->n_elems = n;
    if (!rd32(c, &type)) {
        snprintf(w, sizeof w, "%s type", ctx);
        return truncated(c, 4, w);
    }
    /* every type of ggml's table is read (its sizes checked); whether the engine can compute
     * with it is the model loader's question */
    if (!llm_dtype_name((int)type)) {
        const char *gn = retired_type_name(type);
        if (gn)
            return clg_fail(CLG_ERR_FORMAT,
                            "GGUF: %s type at offset %llu is %u (%s), a type ggml no longer "
                            "defines; re-convert the model with a current llama.cpp",
                            ctx, (unsigned long long)(c->pos - 4), type, gn);
        return clg_fail(CLG_ERR_FORMAT, "GGUF: %s type at offset %llu is %u, not a ggml type", ctx,
                        (unsigned long long)(c->pos - 4), type);
    }
    t->dtype = (int)type;
    uint64_t be = llm_dtype_block_elems(t->dtype), bb = llm_dtype_block_bytes(t->dtype);
    if (t->ne[0] % be)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: %s ne[0] at offset %llu is %llu, not a multiple of the %s block "
                        "size %llu",
                        ctx, (unsigned long long)dims_at, (unsigned long long)t->ne[0],
                        llm_dtype_name(t->dtype), (unsigned long long)be);
    if (n / be > UINT64_MAX / bb)
        return clg_fail(CLG_ERR_FORMAT, "GGUF: %s size at offset %llu overflows 64 bits", ctx,
                        (unsigned long long)dims_at);
    t->bytes = n / be * bb;
    *off_at = c->pos;
    if (!rd64(c, &t->offset)) {
        snprintf(w, sizeof w, "%s data offset", ctx);
        return truncated(c, 8, w);
    }
    if (t->offset % f->alignment)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: %s data offset at offset %llu is %llu, not a multiple of the "
                        "alignment %llu",
                        ctx, (unsigned long long)*off_at, (unsigned long long)t->offset,
                        (unsigned long long)f->alignment);
    return CLG_OK;
}

static clg_status parse_tensors(cursor *c, llm_gguf *f, uint64_t n_tensors) {
    uint64_t *off_at = NULL;
    const llm_gguf_tensor **order = NULL;
    clg_status st = CLG_OK;
    char na[NAME_SHOWN + 4], nb[NAME_SHOWN + 4];
    if (n_tensors > left(c) / TENSOR_MIN_BYTES)
        return clg_fail(CLG_ERR_FORMAT,
                        "GGUF: tensor count at offset 8 is %llu, but the %llu bytes after the "
                        "key-value section (offset %llu) hold at most %llu tensor infos",
                        (unsigned long long)n_tensors, (unsigned long long)left(c),
                        (unsigned long long)c->pos,
                        (unsigned long long)(left(c) / TENSOR_MIN_BYTES));
    f->t_cap = hash_cap(n_tensors);
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    f->t_hash = calloc(f->t_cap, sizeof *f->t_hash);
    off_at = calloc(n_tensors ? n_tensors : 1, sizeof *off_at);
    order = calloc(n_tensors ? n_tensors : 1, sizeof *order);
    if (!f->tensors || !f->t_hash || !off_at || !order) {
        st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF: no memory for %llu tensor infos",
                      (unsigned long long)n_tensors);
        goto fail;
    }
    for (uint64_t i = 0; i < n_tensors; i++)
        if ((st = parse_tensor_info(c, f, i, &off_at[i])) != CLG_OK) goto fail;

    /* the data section starts at the next multiple of the alignment */
    uint64_t end_infos = c->pos;
    f->data_offset = (end_infos + f->alignment - 1) / f->alignment * f->alignment;
    uint64_t data_size = f->data_offset <= c->size ? c->size - f->data_offset : 0;
    if (n_tensors && f->data_offset > c->size) {
        st = clg_fail(CLG_ERR_FORMAT,
                      "GGUF: data section at offset %llu (after the tensor infos ending at %llu, "
                      "aligned to %llu) starts past the end of the file (%llu bytes)",
                      (unsigned long long)f->data_offset, (unsigned long long)end_infos,
                      (unsigned long long)f->alignment, (unsigned long long)c->size);
        goto fail;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        llm_gguf_tensor *t = &f->tensors[i];
        if (t->offset > data_size || t->bytes > data_size - t->offset) {
            st = clg_fail(CLG_ERR_FORMAT,
                          "GGUF: tensor #%llu '%s' data offset at offset %llu: %llu bytes at data "
                          "offset %llu (the data section starts at file offset %llu) run past the "
                          "end of the file (%llu bytes)",
                          (unsigned long long)i, shown(t->name, na), (unsigned long long)off_at[i],
                          (unsigned long long)t->bytes, (unsigned long long)t->offset,
                          (unsigned long long)f->data_offset, (unsigned long long)c->size);
            goto fail;
        }
        t->data = f->base + f->data_offset + t->offset;
        order[i] = t;
    }
    /* no two tensors share bytes */
    qsort(order, n_tensors, sizeof *order, cmp_by_offset);
    const llm_gguf_tensor *prev = NULL;
    for (uint64_t i = 0; i < n_tensors; i++) {
        const llm_gguf_tensor *t = order[i];
        if (!t->bytes) continue;
        if (prev && prev->offset + prev->bytes > t->offset) {
            uint64_t ti = (uint64_t)(t - f->tensors);
            st =
                clg_fail(CLG_ERR_FORMAT,
                         "GGUF: tensor #%llu '%s' data offset at offset %llu: bytes [%llu, %llu) "
                         "overlap tensor '%s' at [%llu, %llu) of the data section",
                         (unsigned long long)ti, shown(t->name, na), (unsigned long long)off_at[ti],
                         (unsigned long long)t->offset, (unsigned long long)(t->offset + t->bytes),
                         shown(prev->name, nb), (unsigned long long)prev->offset,
                         (unsigned long long)(prev->offset + prev->bytes));
            goto fail;
        }
        if (!prev || t->offset + t->bytes > prev->offset + prev->bytes) prev = t;
    }
fail:
    free(off_at);
    free(order);
    return st;
}

/* After validation: the offset of every string of every top-level string array. */
static clg_status index_string_arrays(llm_gguf *f) {
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        if (kv->type != LLM_GGUF_ARRAY || kv->elem != LLM_GGUF_STRING || kv->count == 0) continue;
        kv->str_offs = malloc(kv->count * sizeof *kv->str_offs);
        if (!kv->str_offs)
            return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF: no memory to index %llu strings",
                            (unsigned long long)kv->count);
        uint64_t pos = kv->elems_off;
        for (uint64_t j = 0; j < kv->count; j++) {
            kv->str_offs[j] = pos;
            pos += 8 + ld64(f->base + pos); /* lengths were checked by parse_value */
        }
    }
    return CLG_OK;
}

clg_status llm_gguf_open_memory(const void *data, size_t size, llm_gguf **out) {
    llm_gguf *f = NULL;
    clg_status st;
    uint64_t n_kv = 0, n_tensors = 0;
    if (!out) return clg_fail(CLG_ERR_INVALID_ARG, "llm_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return clg_fail(CLG_ERR_INVALID_ARG, "llm_gguf_open_memory: data is NULL");
    f = calloc(1, sizeof *f);
    if (!f) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "GGUF: no memory for the file handle");
    f->base = data;
    f->size = size;
    f->seed = (uint64_t)(uintptr_t)f * 0x9e3779b97f4a7c15ull;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    cursor c = {data, size, 0};
    if ((st = parse_header(&c, f, &n_kv, &n_tensors)) != CLG_OK) goto fail;
    if ((st = parse_kvs(&c, f, n_kv)) != CLG_OK) goto fail;
    f->n_kv = n_kv;
    if ((st = parse_tensors(&c, f, n_tensors)) != CLG_OK) goto fail;
    f->n_tensors = n_tensors;
    if ((st = index_string_arrays(f)) != CLG_OK) goto fail;
    *out = f;
    return CLG_OK;
fail:
    llm_gguf_close(f);
    return st;
}

clg_status llm_gguf_open(const char *path, llm_gguf **out) {
    llm_gguf *f = NULL;
    void *map = NULL;
    struct stat sb;
    clg_status st;
    if (!out || !path) return clg_fail(CLG_ERR_INVALID_ARG, "llm_gguf_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return clg_fail(errno == ENOENT ? CLG_ERR_NOT_FOUND : CLG_ERR_IO, "cannot open '%s': %s",
                        path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = clg_fail(CLG_ERR_IO, "cannot read '%s': not a regular file", path);
        close(fd);
        return st;
    }
    size_t size = (size_t)sb.st_size;
    if (size == 0) { /* mmap refuses empty files */
        close(fd);
        return clg_fail(CLG_ERR_FORMAT,
                        "%s: GGUF: header at offset 0 needs %d bytes but the file is empty", path,
                        GGUF_HEADER_BYTES);
    }
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED)
        return clg_fail(CLG_ERR_IO, "cannot map '%s' (%zu bytes): %s", path, size, strerror(err));
    st = llm_gguf_open_memory(map, size, &f);
    if (st != CLG_OK) {
        munmap(map, size);
        /* the message must be copied: clg_fail may reallocate the buffer it lives in */
        char *msg = strdup(clg_last_error());
        clg_fail(st, "%s: %s", path, msg ? msg : "invalid GGUF file");
        free(msg);
        return st;
    }
    f->map = map;
    f->map_size = size;
    *out = f;
    return CLG_OK;
}

void llm_gguf_close(llm_gguf *f) {
    if (!f) return;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++)
            free(f->kv[i].str_offs);
    free(f->kv);
    free(f->kv_hash);
    free(f->tensors);
    free(f->t_hash);
    if (f->map) munmap(f->map, f->map_size);
    free(f);
}

void llm_gguf_release(const llm_gguf *f, const void *data, size_t bytes) {
    if (!f || !f->map || !data) return;
    const uintptr_t base = (uintptr_t)f->map, lo = (uintptr_t)data, hi = lo + bytes;
    if (lo < base || hi > base + f->map_size || hi < lo) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (lo + page - 1) / page * page, b = hi / page * page;
    if (a < b) madvise((void *)a, b - a, MADV_DONTNEED); /* advice: a failure only keeps them */
}

/* ---- file and metadata accessors ---------------------------------------- */

uint32_t llm_gguf_version(const llm_gguf *f) {
    return f ? f->version : 0;
}
uint64_t llm_gguf_alignment(const llm_gguf *f) {
    return f ? f->alignment : 0;
}
uint64_t llm_gguf_data_offset(const llm_gguf *f) {
    return f ? f->data_offset : 0;
}
uint64_t llm_gguf_file_size(const llm_gguf *f) {
    return f ? f->size : 0;
}
uint64_t llm_gguf_kv_count(const llm_gguf *f) {
    return f ? f->n_kv : 0;
}

llm_gguf_str llm_gguf_kv_key(const llm_gguf *f, uint64_t i) {
    llm_gguf_str none = {NULL, 0};
    return f && i < f->n_kv ? f->kv[i].key : none;
}

/* (llm_gguf_type)-1 for an index out of range. */
llm_gguf_type llm_gguf_kv_type(const llm_gguf *f, uint64_t i) {
    return f && i < f->n_kv ? f->kv[i].type : (llm_gguf_type)-1;
}

int64_t llm_gguf_find_key(const llm_gguf *f, const char *key) {
    if (!f || !key) return -1;
    return hash_find(f, f->kv_hash, f->kv_cap, kv_name, key, strlen(key), NULL);
}

static clg_status lookup(const llm_gguf *f, const char *key, const gguf_kv **kv) {
    if (!f || !key) return clg_fail(CLG_ERR_INVALID_ARG, "GGUF: NULL file or key");
    int64_t i = llm_gguf_find_key(f, key);
    if (i < 0) return clg_fail(CLG_ERR_NOT_FOUND, "GGUF: key '%s' not found", key);
    *kv = &f->kv[i];
    return CLG_OK;
}

static clg_status mismatch(const gguf_kv *kv, const char *key, const char *want) {
    if (kv->type == LLM_GGUF_ARRAY)
        return clg_fail(CLG_ERR_FORMAT, "GGUF: key '%s' is an array of %s, not %s", key,
                        type_names[kv->elem], want);
    return clg_fail(CLG_ERR_FORMAT, "GGUF: key '%s' is a %s, not %s", key, type_names[kv->type],
                    want);
}

/* An integer value as magnitude and sign; 0 when the value is not an integer. */
static int int_value(const llm_gguf *f, const gguf_kv *kv, uint64_t *u, int *neg) {
    const uint8_t *p = f->base + kv->val_off;
    int64_t s;
    switch (kv->type) {
    case LLM_GGUF_UINT8:
        *u = p[0];
        *neg = 0;
        return 1;
    case LLM_GGUF_UINT16:
        *u = ld16(p);
        *neg = 0;
        return 1;
    case LLM_GGUF_UINT32:
        *u = ld32(p);
        *neg = 0;
        return 1;
    case LLM_GGUF_UINT64:
        *u = ld64(p);
        *neg = 0;
        return 1;
    case LLM_GGUF_INT8:
        s = (int8_t)p[0];
        break;
    case LLM_GGUF_INT16:
        s = (int16_t)ld16(p);
        break;
    case LLM_GGUF_INT32:
        s = (int32_t)ld32(p);
        break;
    case LLM_GGUF_INT64:
        s = (int64_t)ld64(p);
        break;
    default:
        return 0;
    }
    *neg = s < 0;
    *u = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return 1;
}

static clg_status get_int(const llm_gguf *f, const char *key, uint64_t *u, int *neg,
                          const char *want) {
    const gguf_kv *kv = NULL;
    clg_status st = lookup(f, key, &kv);
    if (st != CLG_OK) return st;
    if (!int_value(f, kv, u, neg)) return mismatch(kv, key, want);
    return CLG_OK;
}

static clg_status no_fit(const char *key, uint64_t u, int neg, const char *want) {
    return clg_fail(CLG_ERR_FORMAT, "GGUF: key '%s' is %s%llu, which does not fit %s", key,
                    neg ? "-" : "", (unsigned long long)u, want);
}

clg_status llm_gguf_get_u64(const llm_gguf *f, const char *key, uint64_t *out) {
    uint64_t u = 0;
    int neg = 0;
    clg_status st = get_int(f, key, &u, &neg, "an unsigned integer");
    if (st != CLG_OK) return st;
    if (neg) return no_fit(key, u, neg, "a uint64");
    *out = u;
    return CLG_OK;
}

clg_status llm_gguf_get_u32(const llm_gguf *f, const char *key, uint32_t *out) {
    uint64_t u = 0;
    int neg = 0;
    clg_status st = get_int(f, key, &u, &neg, "an unsigned integer");
    if (st != CLG_OK) return st;
    if (neg || u > UINT32_MAX) return no_fit(key, u, neg, "a uint32");
    *out = (uint32_t)u;
    return CLG_OK;
}

clg_status llm_gguf_get_i64(const llm_gguf *f, const char *key, int64_t *out) {
    uint64_t u = 0;
    int neg = 0;
    clg_status st = get_int(f, key, &u, &neg, "an integer");
    if (st != CLG_OK) return st;
    if (!neg && u > (uint64_t)INT64_MAX) return no_fit(key, u, neg, "an int64");
    /* -2^63 has magnitude 2^63, one more than INT64_MAX */
    *out = !neg ? (int64_t)u : u > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)u;
    return CLG_OK;
}

clg_status llm_gguf_get_f32(const llm_gguf *f, const char *key, float *out) {
    const gguf_kv *kv = NULL;
    clg_status st = lookup(f, key, &kv);
    if (st != CLG_OK) return st;
    const uint8_t *p = f->base + kv->val_off;
    if (kv->type == LLM_GGUF_FLOAT32) {
        uint32_t b = ld32(p);
        memcpy(out, &b, 4);
    } else if (kv->type == LLM_GGUF_FLOAT64) {
        uint64_t b = ld64(p);
        double d;
        memcpy(&d, &b, 8);
        *out = (float)d;
    } else {
        return mismatch(kv, key, "a float32 or float64");
    }
    return CLG_OK;
}

clg_status llm_gguf_get_bool(const llm_gguf *f, const char *key, int *out) {
    const gguf_kv *kv = NULL;
    clg_status st = lookup(f, key, &kv);
    if (st != CLG_OK) return st;
    if (kv->type != LLM_GGUF_BOOL) return mismatch(kv, key, "a bool");
    *out = f->base[kv->val_off] != 0;
    return CLG_OK;
}

clg_status llm_gguf_get_str(const llm_gguf *f, const char *key, llm_gguf_str *out) {
    const gguf_kv *kv = NULL;
    clg_status st = lookup(f, key, &kv);
    if (st != CLG_OK) return st;
    if (kv->type != LLM_GGUF_STRING) return mismatch(kv, key, "a string");
    out->len = ld64(f->base + kv->val_off);
    out->ptr = (const char *)f->base + kv->val_off + 8;
    return CLG_OK;
}

clg_status llm_gguf_get_array(const llm_gguf *f, const char *key, llm_gguf_type *elem_type,
                              uint64_t *count) {
    const gguf_kv *kv = NULL;
    clg_status st = lookup(f, key, &kv);
    if (st != CLG_OK) return st;
    if (kv->type != LLM_GGUF_ARRAY) return mismatch(kv, key, "an array");
    if (elem_type) *elem_type = kv->elem;
    if (count) *count = kv->count;
    return CLG_OK;
}

clg_status llm_gguf_array_str(const llm_gguf *f, const char *key, uint64_t i, llm_gguf_str *out) {
    const gguf_kv *kv = NULL;
    clg_status st = lookup(f, key, &kv);
    if (st != CLG_OK) return st;
    if (kv->type != LLM_GGUF_ARRAY || kv->elem != LLM_GGUF_STRING)
        return mismatch(kv, key, "an array of string");
    if (i >= kv->count)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "GGUF: index %llu of '%s' is out of range (%llu strings)",
                        (unsigned long long)i, key, (unsigned long long)kv->count);
    uint64_t pos = kv->str_offs[i];
    out->len = ld64(f->base + pos);
    out->ptr = (const char *)f->base + pos + 8;
    return CLG_OK;
}

clg_status llm_gguf_array_data(const llm_gguf *f, const char *key, const void **data) {
    const gguf_kv *kv = NULL;
    clg_status st = lookup(f, key, &kv);
    if (st != CLG_OK) return st;
    if (kv->type != LLM_GGUF_ARRAY || !llm_gguf_type_size(kv->elem))
        return mismatch(kv, key, "an array of numbers");
    *data = f->base + kv->elems_off;
    return CLG_OK;
}

/* ---- tensors ------------------------------------------------------------ */

uint64_t llm_gguf_tensor_count(const llm_gguf *f) {
    return f ? f->n_tensors : 0;
}

const llm_gguf_tensor *llm_gguf_tensor_at(const llm_gguf *f, uint64_t i) {
    return f && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const llm_gguf_tensor *llm_gguf_find_tensor(const llm_gguf *f, const char *name) {
    if (!f || !name) return NULL;
    int64_t i = hash_find(f, f->t_hash, f->t_cap, tensor_name, name, strlen(name), NULL);
    return i < 0 ? NULL : &f->tensors[i];
}

/* ---- for the writer (gguf_impl.h) ----------------------------------- */

clg_status llm_gguf_kv_raw(const llm_gguf *f, uint64_t i, const void **value, uint64_t *bytes) {
    if (!f || i >= f->n_kv)
        return clg_fail(CLG_ERR_INVALID_ARG, "GGUF: no key #%llu", (unsigned long long)i);
    *value = f->base + f->kv[i].val_off;
    *bytes = f->kv[i].val_end - f->kv[i].val_off;
    return CLG_OK;
}
