/* Private runtime structures and helpers shared by the runtime sources. */
#ifndef CLGRAPH_RUNTIME_INTERNAL_H
#define CLGRAPH_RUNTIME_INTERNAL_H

#include <CL/cl.h>
#include <stdint.h>

#include "clgraph/runtime.h"
#include "clgraph/runtime_cl.h"
#include "clgraph/util.h"

/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *clg_cl_error_name(cl_int err);

/* Records a failed OpenCL call: "clFoo failed with CL_X (-5) at file:line: what". */
#define CLG_CL_FAIL(err, call, ...) clg_cl_fail_at((err), (call), __FILE__, __LINE__, __VA_ARGS__)
clg_status clg_cl_fail_at(cl_int err, const char *call, const char *file, int line, const char *fmt,
                          ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Device discovery without the kernel-based probe (preferred multiple = 0). */
clg_status clg_device_list_impl(clg_device_info **out, cl_device_id **ids, int *count);
/* Selects a device and also returns its OpenCL ids (device.c). */
clg_status clg_device_select_id(const char *sel, clg_device_info *out, cl_platform_id *plat,
                                cl_device_id *dev);
/* Builds a trivial kernel to read CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE and,
 * given a profiling queue q, whether event timestamps are real. ctx may be NULL (a
 * temporary context is made). */
void clg_device_probe_kernel(cl_context ctx, cl_device_id d, cl_command_queue q,
                             clg_device_info *info);
/* Fills info from an OpenCL device id. */
void clg_device_fill_info(cl_platform_id p, cl_device_id d, clg_device_info *info);

char *clg_strdup(const char *s);

struct clg_program {
    clg_context *ctx;
    char *key; /* file or name, '|', options */
    uint64_t source_hash;
    char *source; /* the OpenCL C text, for its @variant declarations (owned) */
    cl_program prog;
    clg_program_origin origin;
    /* Built here and not yet in the program cache (clg_context_store_programs, at the
     * latest clg_context_destroy, writes it): the entry's key fields, options owned. */
    int store_pending, store_is_il;
    uint64_t store_len, store_hash;
    char *store_options;
    struct clg_program *next;
};

struct clg_buffer {
    clg_context *ctx;
    char *name;
    size_t bytes, transfer_bytes;
    clg_transfer policy;
    void *host;
    cl_mem mem;
    int uploaded; /* FIRST_EXECUTION: done */
    int has_data; /* something (upload, write, task) filled it */
    uint64_t step_uploaded, step_written;
    /* Order check of a plan (graph.c): state valid during walk `walk` of the context. */
    uint64_t walk;
    int walk_written;      /* a task earlier in the walk writes it */
    clg_task *walk_reader; /* the first task of the walk that read it without data */
    clg_buffer_stats stats;
    struct clg_buffer *next;
};

/* A kernel argument as set, kept so that a task can move to another kernel variant. */
#define CLG_MAX_SCALAR 16
typedef struct clg_arg {
    int kind; /* 0 unset, 1 buffer, 2 scalar, 3 local */
    clg_buffer *buf;
    clg_access access;
    size_t size; /* scalar or local bytes */
    unsigned char value[CLG_MAX_SCALAR];
} clg_arg;

/* Buffer slots of a call task (clg_graph_add_call). */
#define CLG_CALL_MAX_ARGS 16

struct clg_task {
    clg_graph *graph;
    char *name;
    clg_program *prog; /* NULL for a call task */
    cl_kernel kernel;  /* NULL for a call task */
    clg_call_fn call;  /* a call task: host code that enqueues its own work */
    void *call_user;
    int disabled; /* clg_task_set_enabled(t, 0): steps skip it */
    clg_arg *args;
    unsigned nargs;
    unsigned dims;
    size_t global[3], local[3];
    int has_local;
    clg_task_stats stats;
};

struct clg_graph {
    clg_context *ctx;
    char *name;
    clg_task **tasks;
    size_t n, cap;
    uint64_t version; /* bumped when a task, a buffer argument or an enabled flag changes */
    uint64_t checked; /* version + 1 at which its order was checked alone (0: never) */
    struct clg_graph *next;
};

typedef struct clg_replay clg_replay; /* replay.c */

struct clg_plan {
    clg_context *ctx;
    clg_graph **graphs;
    size_t n, cap;
    clg_replay *replay; /* NULL: replay off */
    clg_replay_stats replay_stats;
    int checked;          /* the order check passed for this graph list ... */
    uint64_t checked_sum; /* ... and these summed graph versions */
    struct clg_plan *next;
};

/* An event of the current step waiting for its profiling times. */
typedef struct clg_pending {
    cl_event ev;
    cl_event ev0; /* a call task: the marker before its work, whose end is its start; else NULL */
    int kind;     /* 0 kernel, 1 upload, 2 download */
    clg_task *task;
    clg_buffer *buf;
    uint64_t bytes;
} clg_pending;

#define CLG_MAX_KERNEL_TABLES 8

struct clg_context {
    clg_device_info info;
    const clg_kernel_file *tables[CLG_MAX_KERNEL_TABLES]; /* registered kernel files */
    size_t n_tables;
    char *kernel_dir; /* NULL: the tables */
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    clg_build_mode build;
    int profiling;
    char *cache_dir; /* NULL: no cache */
    clg_program *programs;
    clg_buffer *buffers;
    clg_graph *graphs;
    clg_plan *plans;
    uint64_t step;
    uint64_t walks; /* order checks made (the clg_buffer walk marks) */
    clg_pending *pending;
    size_t npending, cappending;
    clg_trace_fn trace;
    void *trace_user;
    void (*warn)(void *user, const char *message); /* NULL: warnings are dropped */
    void *warn_user;
    clg_build_stats build_stats;
};

/* Passes a warning (printf-style) to the context's warn callback, if any (program.c): the
 * one way the runtime reports what is not an error. */
void clg_warn(const clg_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Step machinery (graph.c), used by buffer.c for explicit transfers. */
clg_status clg_step_track(clg_context *ctx, cl_event ev, int kind, clg_task *t, clg_buffer *b,
                          uint64_t bytes);
clg_status clg_step_finish(clg_context *ctx);
void clg_buffer_unlink_all(clg_context *ctx);
/* Runs tasks[0..n) as one step (graph.c), enabled or not, for the planner. */
clg_status clg_tasks_run(clg_task *const *tasks, size_t n);
/* The time of one such step (tune.c): the sum of the tasks' kernel times where the device's
 * timer is real and the context profiles, else wall time. */
clg_status clg_tasks_time(clg_task *const *tasks, size_t n, double *out);
void clg_program_release_all(clg_context *ctx);
/* CLG_OK when t can be enqueued: it has a range and every argument is set (graph.c). */
clg_status clg_task_check(const clg_task *t);

/* Recorded replay (replay.c). Before a step of graphs [first, first + n) of p: records
 * them when nothing valid is recorded; *use = 1 when the step's kernels should come
 * from clg_replay_enqueue (0: enqueue them plainly: replay off, a trace callback set,
 * or the range cannot be replayed). */
clg_status clg_replay_prepare(clg_plan *p, size_t first, size_t n, int *use);
/* Enqueues p's recording (after the step's uploads, before its read-backs). */
clg_status clg_replay_enqueue(clg_plan *p);
/* Drops p's recording (its graph list changed). */
void clg_replay_drop(clg_plan *p);
/* Drops every recording that may have captured graph g (one of its tasks changed). */
void clg_replay_invalidate(clg_graph *g);

/* ---- program cache entries (program_cache.c: bytes only, no OpenCL) ---- */

#define CLG_CACHE_MAGIC "CLGPBIN\n" /* 8 bytes */
#define CLG_CACHE_VERSION 1

/* What a cached binary was made for; every field is written into the entry and compared on
 * load. Strings are borrowed (NULL reads as ""). */
typedef struct clg_cache_key {
    const char *platform_version, *device_name, *driver_version;
    const char *options; /* build options */
    int is_il;           /* 1: built from SPIR-V, 0: from OpenCL C */
    uint64_t input_len;  /* bytes of the source or IL */
    uint64_t input_hash; /* clg_hash of them */
} clg_cache_key;

/* The entry's file name hash (every key field and the format version). */
uint64_t clg_cache_key_hash(const clg_cache_key *k);
/* Header + payload[0..payload_len) as one malloc'd block of *out_len bytes (the caller
 * frees it); NULL when out of memory. */
unsigned char *clg_cache_entry_encode(const clg_cache_key *k, const void *payload,
                                      size_t payload_len, size_t *out_len);
/* 1 when data[0..n) is an intact entry made for k: *payload points into data at its
 * *payload_len bytes. 0 otherwise, with why[0..why_cap) saying what is wrong (empty, no
 * magic, another version, cut short, another key, a length or checksum that does not
 * match). Reads only data[0..n). */
int clg_cache_entry_check(const void *data, size_t n, const clg_cache_key *k,
                          const unsigned char **payload, size_t *payload_len, char *why,
                          size_t why_cap);
#endif
