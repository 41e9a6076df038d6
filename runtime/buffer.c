/* Buffers: named device memory with a transfer policy, and explicit transfers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

static const char *policy_name(clg_transfer p) {
    switch (p) {
    case CLG_TRANSFER_FIRST_EXECUTION:
        return "FIRST_EXECUTION";
    case CLG_TRANSFER_EVERY_EXECUTION:
        return "EVERY_EXECUTION";
    case CLG_TRANSFER_DEVICE_ONLY:
        return "DEVICE_ONLY";
    }
    return "?";
}

clg_status clg_buffer_create(clg_context *ctx, const char *name, size_t bytes, clg_transfer policy,
                             void *host, clg_buffer **out) {
    *out = NULL;
    if (!name || !*name) return clg_fail(CLG_ERR_INVALID_ARG, "a buffer needs a name");
    if (bytes == 0) return clg_fail(CLG_ERR_INVALID_ARG, "buffer '%s': size 0", name);
    if (policy != CLG_TRANSFER_DEVICE_ONLY && !host)
        return clg_fail(CLG_ERR_INVALID_ARG, "buffer '%s' (%s) needs a host pointer", name,
                        policy_name(policy));
    for (clg_buffer *b = ctx->buffers; b; b = b->next)
        if (!strcmp(b->name, name))
            return clg_fail(CLG_ERR_INVALID_ARG, "a buffer named '%s' exists already", name);
    if (bytes > ctx->info.max_alloc_size)
        return clg_fail(CLG_ERR_OUT_OF_MEMORY,
                        "buffer '%s' of %zu bytes exceeds the largest allocation %s allows "
                        "(CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu bytes)",
                        name, bytes, ctx->info.device_name,
                        (unsigned long long)ctx->info.max_alloc_size);
    clg_buffer *b = calloc(1, sizeof *b);
    if (!b || !(b->name = clg_strdup(name))) {
        free(b);
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "buffer '%s'", name);
    }
    cl_int err;
    b->mem = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        free(b->name);
        free(b);
        return CLG_CL_FAIL(err, "clCreateBuffer", "buffer '%s' of %zu bytes on %s", name, bytes,
                           ctx->info.device_name);
    }
    b->ctx = ctx;
    b->bytes = b->transfer_bytes = bytes;
    b->policy = policy;
    b->host = host;
    b->next = ctx->buffers;
    ctx->buffers = b;
    *out = b;
    return CLG_OK;
}

cl_mem clg_buffer_mem(const clg_buffer *buf) {
    return buf->mem;
}

static void release(clg_buffer *b) {
    if (b->mem) clReleaseMemObject(b->mem);
    free(b->name);
    free(b);
}

void clg_buffer_destroy(clg_buffer *buf) {
    if (!buf) return;
    clg_context *ctx = buf->ctx;
    clFinish(ctx->queue);
    for (clg_buffer **pp = &ctx->buffers; *pp; pp = &(*pp)->next)
        if (*pp == buf) {
            *pp = buf->next;
            break;
        }
    release(buf);
}

void clg_buffer_unlink_all(clg_context *ctx) {
    while (ctx->buffers) {
        clg_buffer *b = ctx->buffers;
        ctx->buffers = b->next;
        release(b);
    }
}

clg_status clg_buffer_find(clg_context *ctx, const char *name, clg_buffer **out) {
    for (clg_buffer *b = ctx->buffers; b; b = b->next)
        if (!strcmp(b->name, name)) {
            *out = b;
            return CLG_OK;
        }
    *out = NULL;
    return clg_fail(CLG_ERR_NOT_FOUND, "no buffer named '%s'", name);
}

const char *clg_buffer_name(const clg_buffer *buf) {
    return buf->name;
}
size_t clg_buffer_size(const clg_buffer *buf) {
    return buf->bytes;
}
const void *clg_buffer_host(const clg_buffer *buf) {
    return buf->host;
}

size_t clg_context_buffer_count(const clg_context *ctx) {
    size_t n = 0;
    for (const clg_buffer *b = ctx->buffers; b; b = b->next)
        n++;
    return n;
}

clg_buffer *clg_context_buffer(const clg_context *ctx, size_t i) {
    clg_buffer *b = ctx->buffers;
    while (b && i--)
        b = b->next;
    return b;
}

clg_status clg_buffer_set_transfer_bytes(clg_buffer *buf, size_t bytes) {
    if (bytes == 0 || bytes > buf->bytes)
        return clg_fail(CLG_ERR_INVALID_ARG, "buffer '%s': transfer of %zu bytes outside 1..%zu",
                        buf->name, bytes, buf->bytes);
    buf->transfer_bytes = bytes;
    return CLG_OK;
}

static clg_status check_range(const clg_buffer *buf, size_t offset, size_t bytes) {
    if (offset > buf->bytes || bytes > buf->bytes - offset)
        return clg_fail(CLG_ERR_INVALID_ARG, "buffer '%s': range [%zu, %zu) outside its %zu bytes",
                        buf->name, offset, offset + bytes, buf->bytes);
    return CLG_OK;
}

clg_status clg_buffer_write(clg_buffer *buf, size_t offset, const void *src, size_t bytes) {
    clg_status st = check_range(buf, offset, bytes);
    if (st != CLG_OK) return st;
    clg_context *ctx = buf->ctx;
    cl_event ev = NULL;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, buf->mem, CL_TRUE, offset, bytes, src, 0, NULL,
                                      ctx->profiling ? &ev : NULL);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clEnqueueWriteBuffer", "buffer '%s', %zu bytes", buf->name, bytes);
    buf->has_data = 1;
    buf->stats.uploads++;
    buf->stats.upload_bytes += bytes;
    if (ev) st = clg_step_track(ctx, ev, 1, NULL, buf, bytes);
    if (st == CLG_OK) st = clg_step_finish(ctx);
    return st;
}

clg_status clg_buffer_copy(clg_buffer *dst, size_t dst_offset, clg_buffer *src, size_t src_offset,
                           size_t bytes) {
    if (dst->ctx != src->ctx)
        return clg_fail(CLG_ERR_INVALID_ARG, "copying buffer '%s' into '%s' of another context",
                        src->name, dst->name);
    clg_status st = check_range(src, src_offset, bytes);
    if (st == CLG_OK) st = check_range(dst, dst_offset, bytes);
    if (st != CLG_OK) return st;
    if (dst == src && src_offset < dst_offset + bytes && dst_offset < src_offset + bytes)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "buffer '%s': copying [%zu, %zu) onto the overlapping [%zu, %zu)",
                        src->name, src_offset, src_offset + bytes, dst_offset, dst_offset + bytes);
    if (!bytes) return CLG_OK;
    cl_int err = clEnqueueCopyBuffer(src->ctx->queue, src->mem, dst->mem, src_offset, dst_offset,
                                     bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clEnqueueCopyBuffer", "buffer '%s' into '%s', %zu bytes",
                           src->name, dst->name, bytes);
    dst->has_data = 1;
    return CLG_OK;
}

clg_status clg_buffer_read(clg_buffer *buf, size_t offset, void *dst, size_t bytes) {
    clg_status st = check_range(buf, offset, bytes);
    if (st != CLG_OK) return st;
    clg_context *ctx = buf->ctx;
    cl_event ev = NULL;
    cl_int err = clEnqueueReadBuffer(ctx->queue, buf->mem, CL_TRUE, offset, bytes, dst, 0, NULL,
                                     ctx->profiling ? &ev : NULL);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clEnqueueReadBuffer", "buffer '%s', %zu bytes", buf->name, bytes);
    buf->stats.downloads++;
    buf->stats.download_bytes += bytes;
    if (ev) st = clg_step_track(ctx, ev, 2, NULL, buf, bytes);
    if (st == CLG_OK) st = clg_step_finish(ctx);
    return st;
}

clg_status clg_buffer_zero(clg_buffer *buf) {
    const cl_uchar zero = 0;
    cl_int err =
        clEnqueueFillBuffer(buf->ctx->queue, buf->mem, &zero, 1, 0, buf->bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(buf->ctx->queue);
    if (err != CL_SUCCESS)
        return CLG_CL_FAIL(err, "clEnqueueFillBuffer", "zeroing buffer '%s' (%zu bytes)", buf->name,
                           buf->bytes);
    buf->has_data = 1;
    return CLG_OK;
}

clg_status clg_buffer_prefetch(clg_buffer *buf) {
    if (buf->policy != CLG_TRANSFER_FIRST_EXECUTION)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "buffer '%s' is %s; only FIRST_EXECUTION buffers prefetch", buf->name,
                        policy_name(buf->policy));
    if (buf->uploaded) return CLG_OK;
    clg_status st = clg_buffer_write(buf, 0, buf->host, buf->bytes);
    if (st == CLG_OK) buf->uploaded = 1;
    return st;
}

void clg_buffer_get_stats(const clg_buffer *b, clg_buffer_stats *out) {
    *out = b->stats;
}
