/* Programs: embedded kernel files (or $CLGRAPH_KERNEL_DIR), SPIR-V where the device
 * takes IL, an on-disk binary cache keyed by device, driver, input hash and options,
 * and the build log in the error on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/embedded.h"
#include "runtime/internal.h"

static const char *const *embedded_names(void) {
    static const char *names[256];
    size_t n = 0;
    for (const clg_embedded_file *e = clg_embedded; e->name && n + 1 < 256; e++) names[n++] = e->name;
    names[n] = NULL;
    return names;
}

const char *const *clg_embedded_files(void) { return embedded_names(); }

size_t clg_program_max_local(const clg_program *prog, const char *kernel) {
    size_t n = 0;
    cl_kernel k = clCreateKernel(prog->prog, kernel, NULL);
    if (!k) return 0;
    if (clGetKernelWorkGroupInfo(k, prog->ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof n, &n, NULL) != CL_SUCCESS)
        n = 0;
    clReleaseKernel(k);
    return n;
}

const char *clg_embedded_source(const char *file) {
    for (const clg_embedded_file *e = clg_embedded; e->name; e++)
        if (!strcmp(e->name, file)) return e->source;
    return NULL;
}

const char *clg_program_origin_str(clg_program_origin origin) {
    switch (origin) {
    case CLG_ORIGIN_SOURCE: return "source";
    case CLG_ORIGIN_SPIRV: return "spirv";
    case CLG_ORIGIN_CACHE: return "cache";
    }
    return "?";
}

clg_program_origin clg_program_origin_of(const clg_program *prog) { return prog->origin; }
uint64_t clg_program_source_hash(const clg_program *prog) { return prog->source_hash; }

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = 0;
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

static uint64_t cache_key(const clg_context *ctx, const void *input, size_t n, int is_il,
                          const char *options) {
    const clg_device_info *d = &ctx->info;
    uint64_t h = CLG_FNV_INIT;
    h = clg_fnv1a(h, d->platform_version, strlen(d->platform_version));
    h = clg_fnv1a(h, d->device_name, strlen(d->device_name));
    h = clg_fnv1a(h, d->driver_version, strlen(d->driver_version));
    h = clg_fnv1a(h, &is_il, sizeof is_il);
    h = clg_fnv1a(h, input, n);
    return clg_fnv1a(h, options, strlen(options));
}

static void cache_path(const clg_context *ctx, uint64_t key, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%016llx.bin", ctx->cache_dir, (unsigned long long)key);
}

/* A cached device binary, or NULL (missing or rejected by the driver: rebuilt). */
static cl_program cache_load(clg_context *ctx, uint64_t key, const char *options) {
    if (!ctx->cache_dir) return NULL;
    char path[1200];
    cache_path(ctx, key, path, sizeof path);
    size_t n = 0;
    unsigned char *bin = (unsigned char *)read_file(path, &n);
    if (!bin) return NULL;
    cl_int err, bst;
    const unsigned char *bins[1] = {bin};
    cl_program p = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &n, bins, &bst, &err);
    free(bin);
    if (err != CL_SUCCESS) return NULL;
    if (bst != CL_SUCCESS || clBuildProgram(p, 1, &ctx->device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

static void cache_store(clg_context *ctx, uint64_t key, cl_program p) {
    if (!ctx->cache_dir) return;
    size_t n = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL) != CL_SUCCESS || !n) return;
    unsigned char *bin = malloc(n);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
        char path[1200], tmp[1300];
        cache_path(ctx, key, path, sizeof path);
        snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            int ok = fwrite(bin, 1, n, f) == n;
            ok = (fclose(f) == 0) && ok;
            if (ok) rename(tmp, path); /* atomic: concurrent runs never read half a file */
            else remove(tmp);
        }
    }
    free(bin);
}

static clg_status build_log_fail(clg_context *ctx, cl_program p, cl_int err, const char *name,
                                 const char *options) {
    size_t n = 0;
    clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = calloc(n + 1, 1);
    if (log) clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
    clg_status st = clg_fail(CLG_ERR_BUILD, "building '%s' with options '%s' for %s failed (%s):\n%s",
                             name, options, ctx->info.device_name, clg_cl_error_name(err),
                             log && *log ? log : "(empty build log)");
    free(log);
    return st;
}

/* Builds from source or IL, through the cache. Takes the program list entry's fields. */
static clg_status build(clg_context *ctx, const char *name, const char *src, size_t src_len,
                        const unsigned char *spv, size_t spv_len, const char *options,
                        clg_program *out) {
    int use_il = 0;
    int has_defines = strstr(options, "-D") != NULL;
    if (ctx->build == CLG_BUILD_SPIRV) {
        if (!ctx->info.has_spirv)
            return clg_fail(CLG_ERR_UNSUPPORTED,
                            "SPIR-V forced but %s takes no IL (CL_DEVICE_IL_VERSION is '%s'); "
                            "build from source instead (--build source)",
                            ctx->info.device_name, ctx->info.il_version);
        if (!spv)
            return clg_fail(CLG_ERR_UNSUPPORTED,
                            "SPIR-V forced but '%s' has no embedded SPIR-V module (built without "
                            "clang/llvm-spirv, or loaded from CLGRAPH_KERNEL_DIR)", name);
        if (has_defines)
            return clg_fail(CLG_ERR_UNSUPPORTED,
                            "SPIR-V forced but '%s' is asked for with tunables '%s'; SPIR-V "
                            "modules hold the defaults only", name, options);
        use_il = 1;
    } else if (ctx->build == CLG_BUILD_AUTO) {
        use_il = ctx->info.has_spirv && spv && !has_defines;
    }

    const void *input = use_il ? (const void *)spv : (const void *)src;
    size_t input_len = use_il ? spv_len : src_len;
    uint64_t key = cache_key(ctx, input, input_len, use_il, options);
    out->source_hash = clg_fnv1a(CLG_FNV_INIT, src, src_len);
    cl_program p = cache_load(ctx, key, options);
    if (p) {
        out->prog = p;
        out->origin = CLG_ORIGIN_CACHE;
        return CLG_OK;
    }
    cl_int err;
    if (use_il)
        p = clCreateProgramWithIL(ctx->cl, spv, spv_len, &err);
    else
        p = clCreateProgramWithSource(ctx->cl, 1, &src, &src_len, &err);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, use_il ? "clCreateProgramWithIL" : "clCreateProgramWithSource",
                           "program '%s'", name);
    err = clBuildProgram(p, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        clg_status st = build_log_fail(ctx, p, err, name, options);
        clReleaseProgram(p);
        return st;
    }
    cache_store(ctx, key, p);
    out->prog = p;
    out->origin = use_il ? CLG_ORIGIN_SPIRV : CLG_ORIGIN_SOURCE;
    return CLG_OK;
}

static clg_program *find(clg_context *ctx, const char *key) {
    for (clg_program *p = ctx->programs; p; p = p->next)
        if (!strcmp(p->key, key)) return p;
    return NULL;
}

static clg_status get(clg_context *ctx, const char *name, const char *src, size_t src_len,
                      const unsigned char *spv, size_t spv_len, const char *options,
                      const char *key, clg_program **out) {
    clg_program *p = calloc(1, sizeof *p);
    if (!p || !(p->key = clg_strdup(key))) {
        free(p);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "program '%s'", name);
    }
    p->ctx = ctx;
    clg_status st = CLG_OK;
    if (!(p->source = malloc(src_len + 1))) st = clg_fail(CLG_ERR_OUT_OF_MEMORY, "program '%s'", name);
    else {
        memcpy(p->source, src, src_len);
        p->source[src_len] = 0;
        st = build(ctx, name, src, src_len, spv, spv_len, options, p);
    }
    if (st != CLG_OK) {
        free(p->source);
        free(p->key);
        free(p);
        return st;
    }
    p->next = ctx->programs;
    ctx->programs = p;
    *out = p;
    return CLG_OK;
}

clg_status clg_program_get(clg_context *ctx, const char *file, const char *options,
                           clg_program **out) {
    *out = NULL;
    if (!options) options = "";
    char key[1024];
    snprintf(key, sizeof key, "%s|%s", file, options);
    if ((*out = find(ctx, key)) != NULL) return CLG_OK;

    const char *dir = getenv("CLGRAPH_KERNEL_DIR");
    if (dir && *dir) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.cl", dir, file);
        size_t n = 0;
        char *src = read_file(path, &n);
        if (!src)
            return clg_fail(CLG_ERR_NOT_FOUND, "kernel file %s (from CLGRAPH_KERNEL_DIR) cannot be read",
                            path);
        clg_status st = get(ctx, file, src, n, NULL, 0, options, key, out);
        free(src);
        return st;
    }
    for (const clg_embedded_file *e = clg_embedded; e->name; e++)
        if (!strcmp(e->name, file))
            return get(ctx, file, e->source, e->source_len, e->spirv, e->spirv_len, options, key, out);
    return clg_fail(CLG_ERR_NOT_FOUND, "no embedded kernel file '%s.cl'", file);
}

clg_status clg_program_from_source(clg_context *ctx, const char *name, const char *source,
                                   const char *options, clg_program **out) {
    *out = NULL;
    if (!options) options = "";
    size_t n = strlen(source);
    char key[1024];
    snprintf(key, sizeof key, "%s#%016llx|%s", name,
             (unsigned long long)clg_fnv1a(CLG_FNV_INIT, source, n), options);
    if ((*out = find(ctx, key)) != NULL) return CLG_OK;
    return get(ctx, name, source, n, NULL, 0, options, key, out);
}

void clg_program_release_all(clg_context *ctx) {
    while (ctx->programs) {
        clg_program *p = ctx->programs;
        ctx->programs = p->next;
        if (p->prog) clReleaseProgram(p->prog);
        free(p->source);
        free(p->key);
        free(p);
    }
}
