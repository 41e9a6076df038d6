/* clgraph runtime: a model-agnostic OpenCL task-graph runtime.
 *
 * Devices are selected by a text selector; a context owns one device and one
 * in-order queue. Buffers carry a transfer policy (TornadoVM's
 * DataTransferMode), tasks are single kernel launches whose buffer arguments
 * declare read / write access (which decides the uploads and read-backs, and lets
 * a step refuse an order where a task reads what only a later task writes),
 * graphs are named ordered sets of tasks, and a plan executes several graphs as
 * one step, device to device, in the order they were added. Every fallible call returns a
 * clg_status; the detail (the OpenCL call and its error name, the build log, ...) is in
 * clg_last_error().
 */
#ifndef CLGRAPH_RUNTIME_H
#define CLGRAPH_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------ */

typedef enum clg_status {
    CLG_OK = 0,
    CLG_ERR_INVALID_ARG,   /* a caller's argument is wrong */
    CLG_ERR_NOT_FOUND,     /* no such device, kernel, buffer, key, file */
    CLG_ERR_OPENCL,        /* an OpenCL call failed */
    CLG_ERR_BUILD,         /* a program failed to build; the log is in the message */
    CLG_ERR_OUT_OF_MEMORY, /* host or device allocation failed */
    CLG_ERR_UNSUPPORTED,   /* the device or build lacks a feature */
    CLG_ERR_IO,            /* a file could not be read or written */
    CLG_ERR_FORMAT,        /* malformed input data (e.g. a model file) */
    CLG_ERR_INTERRUPTED    /* stopped on request */
} clg_status;

/* Static name of a status ("CLG_ERR_BUILD"). */
const char *clg_status_str(clg_status st);

/* Message of the last failing call on this thread; never NULL ("" when none).
 * Owned by the library, valid until the next failing call on this thread. */
const char *clg_last_error(void);

/* Sets the thread's message (printf-style) and returns st. For layers built on
 * the runtime (graphs/) so that one mechanism carries every error. */
clg_status clg_fail(clg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- devices ----------------------------------------------------------- */

typedef enum clg_device_type {
    CLG_DEVICE_OTHER = 0,
    CLG_DEVICE_CPU = 1,
    CLG_DEVICE_GPU = 2,
    CLG_DEVICE_ACCELERATOR = 3
} clg_device_type;

/* Capabilities of one device, read once. Plain data. */
typedef struct clg_device_info {
    int platform_index, device_index; /* the "P:D" selector */
    char platform_name[128];
    char platform_version[128];
    char device_name[128];
    char vendor[128];
    char driver_version[128];
    char device_version[128];   /* "OpenCL 3.0 CUDA" */
    char opencl_c_version[128]; /* "OpenCL C 1.2 ..." */
    char il_version[128];       /* "SPIR-V_1.0 ..." or "" */
    clg_device_type type;
    int has_fp16, has_fp64, has_subgroups, has_command_buffer;
    int has_spirv;          /* il_version names SPIR-V */
    int has_denorm;         /* single-precision denormals kept (CL_FP_DENORM; llvmpipe
                               flushes them) */
    int local_mem_is_local; /* CL_LOCAL (dedicated) vs CL_GLOBAL */
    uint64_t local_mem_size;
    size_t max_work_group_size;
    size_t preferred_multiple; /* of a trivial kernel, 0 if unknown (clg_device_list and
                                  profiling contexts probe it) */
    int profiling_timer;       /* event timestamps are real (Mesa 22 rusticl's are not);
                                  known after a profiling context was created, else -1 */
    unsigned compute_units;
    unsigned loop_limit; /* loop iterations a work-item runs in all before the driver ends its
                            loops silently, 0 where none is known (llvmpipe: 65535, Mesa's
                            LP_MAX_TGSI_LOOP_ITERATIONS; docs/DEVICES.md) */
    uint64_t global_mem_size;
    uint64_t max_alloc_size;
} clg_device_info;

/* Every device of every platform. *out is malloc'ed, the caller frees it. */
clg_status clg_device_list(clg_device_info **out, int *count);

/* Picks one device. sel: NULL or "" means the first GPU, else the first device (the
 * library reads no environment; clgraph's CLI passes $CLGRAPH_DEVICE). Otherwise "P:D",
 * "gpu" / "cpu" / "accelerator", or a case-insensitive substring of the platform name or
 * version or the device name or vendor. An unknown selector fails with
 * CLG_ERR_NOT_FOUND and a message listing the devices that exist. */
clg_status clg_device_select(const char *sel, clg_device_info *out);

/* ---- context ----------------------------------------------------------- */

typedef struct clg_context clg_context;

typedef enum clg_build_mode {
    CLG_BUILD_AUTO = 0, /* SPIR-V where the device takes IL and one is embedded */
    CLG_BUILD_SOURCE,
    CLG_BUILD_SPIRV /* forced; fails cleanly on a device without IL */
} clg_build_mode;

/* The longest cache_dir accepted, in bytes: the cache's file names are built in fixed
 * buffers, so a longer one is refused rather than cut to another folder. */
#define CLG_CACHE_DIR_MAX 1023

typedef struct clg_context_options {
    const char *device;     /* selector, see clg_device_select; NULL: first GPU, else
                               first device; borrowed */
    clg_build_mode build;   /* default AUTO; anything but the three modes fails */
    int profiling;          /* 1: profiling events on every task and transfer */
    const char *cache_dir;  /* program binary cache folder, created (with its parents) if
                               missing; NULL or "": no cache (as when it cannot be
                               created); longer than CLG_CACHE_DIR_MAX: refused by
                               clg_context_create; borrowed, copied. Each entry holds the
                               key it was made for and checksums, checked before the driver
                               sees it; a bad one is rebuilt, rewritten and warned of */
    const char *kernel_dir; /* NULL: kernel files from the registered tables; else read
                               FILE.cl from this folder (while developing kernels);
                               borrowed, copied */
    /* Warnings that are not errors, one sentence each (the runtime prints nothing): a
     * program cache entry that was damaged, cut short or made for another key, dropped and
     * rebuilt; a plan cache file the planner ignored; each naming the file and why. Called on the
     * thread that builds; message borrowed for the call. NULL: warnings are dropped. */
    void (*warn)(void *user, const char *message);
    void *warn_user; /* passed to warn */
} clg_context_options;

clg_context_options clg_context_options_default(void);

/* Creates a context (OpenCL context + in-order queue) on the selected device.
 * *out is owned by the caller: clg_context_destroy. */
clg_status clg_context_create(const clg_context_options *opt, clg_context **out);
/* Destroys the context and every buffer, program, graph and plan made from it.
 * Safe on NULL. */
void clg_context_destroy(clg_context *ctx);
/* Borrowed, valid while ctx lives. */
const clg_device_info *clg_context_device(const clg_context *ctx);
/* Waits for all queued work. */
clg_status clg_context_finish(clg_context *ctx);
/* The folder of the program cache (see clg_context_options), NULL when disabled;
 * layers above may keep their own caches there. Borrowed. */
const char *clg_context_cache_dir(const clg_context *ctx);

/* Where a context's start-up time went on its programs (clg_context_build_stats). */
typedef struct clg_build_stats {
    unsigned programs; /* made by clg_program_get / _from_source */
    unsigned joint;    /* of them, built together with others (clg_program_prebuild) */
    unsigned builds;   /* OpenCL programs built or loaded for them */
    unsigned from_source, from_spirv, from_cache; /* how (clg_program_origin) */
    double build_s;   /* wall time in building them (or loading them from the cache) */
    unsigned pending; /* built, not yet written to the program cache */
    unsigned stored;  /* written to the program cache */
    double store_s;   /* wall time in writing them, device binaries fetched included */
} clg_build_stats;
void clg_context_build_stats(const clg_context *ctx, clg_build_stats *out);

/* Writes the program cache entries of the programs built (not loaded from the cache) since
 * the last call; clg_context_destroy calls it too. A program is not written when it is
 * built: fetching a device binary can cost more than the build (PoCL compiles every kernel
 * of the program for it: seconds for a file of many kernels, where the build and the first
 * launches compile only what runs), so that this work waits until the first results are
 * out. Failures are warnings (the cache is an optimisation). Returns the number written. */
unsigned clg_context_store_programs(clg_context *ctx);

/* Measured device figures: the roofline's bandwidth and the cost of a launch. */
typedef struct clg_probe {
    double read_gbs;         /* device read bandwidth, median of several runs, GB/s */
    uint64_t read_bytes;     /* size of the buffer read */
    double launch_us;        /* per enqueued kernel, enqueued back to back, one wait */
    double launch_finish_us; /* per kernel with a wait after each */
} clg_probe;

/* Runs the probe kernels (cl/probe.cl) on the context's device; takes about a
 * second on a CPU device. */
clg_status clg_context_probe(clg_context *ctx, clg_probe *out);

/* ---- programs ---------------------------------------------------------- */

typedef struct clg_program clg_program;

typedef enum clg_program_origin {
    CLG_ORIGIN_SOURCE = 0, /* built from OpenCL C */
    CLG_ORIGIN_SPIRV,      /* loaded from SPIR-V IL */
    CLG_ORIGIN_CACHE       /* device binary from the on-disk cache */
} clg_program_origin;

/* Builds (or returns the context's already-built) program for one of the
 * kernel files registered on ctx (clg_context_add_kernel_files), e.g. "norm" for
 * cl/norm.cl, with extra build options such as "-DWG=64". With the context's
 * kernel_dir set, the file is read from that folder instead. The program is owned by the context.
 * On a build failure the status is CLG_ERR_BUILD and clg_last_error() holds the build log. */
clg_status clg_program_get(clg_context *ctx, const char *file, const char *options,
                           clg_program **out);

/* One program clg_program_get would build: a kernel file and its options (NULL: none). */
typedef struct clg_program_req {
    const char *file, *options;
} clg_program_req;
/* Builds the programs of n requests (at most 16) as one OpenCL program where they can share
 * it: the files' sources one after the other (each behind a #line naming it), with
 * req[0]'s options, so that later clg_program_get calls of the same file and options find
 * them built. Each build has a fixed cost beside its source's (PoCL: about 0.13 s on a
 * 2-vCPU EPYC, the compiler's start, its header and the built-in library), so that four
 * small files build in about a third of the time they take one by one. A request joins when
 * its options are req[0]'s, or req[0]'s but for -DNAME words whose NAME its file never
 * mentions (then it builds the same); the others are built one by one, as are requests
 * already built, all of them where the context would build from SPIR-V, and all of them,
 * with a warning, where the joint source does not build (two files define the same function,
 * or a macro differently); the status is then the first failure's. The joint program is one
 * program cache entry. */
clg_status clg_program_prebuild(clg_context *ctx, const clg_program_req *req, size_t n);

/* Same from caller-provided OpenCL C source (copied). Owned by the context. */
clg_status clg_program_from_source(clg_context *ctx, const char *name, const char *source,
                                   const char *options, clg_program **out);

clg_program_origin clg_program_origin_of(const clg_program *prog);
/* The largest work-group the device runs the program's kernel with (its own limit, which
 * can be below the device's: llvmpipe allows 32 for kernels with barriers); 0 when the
 * kernel does not exist. */
size_t clg_program_max_local(const clg_program *prog, const char *kernel);
/* The number of arguments of the program's kernel `kernel` (CL_KERNEL_NUM_ARGS); 0 when the
 * kernel does not exist. For checking argument-position constants against the kernels. */
unsigned clg_program_kernel_args(const clg_program *prog, const char *kernel);
/* Hash of the program's OpenCL C source (for caches keyed by kernel source). */
uint64_t clg_program_source_hash(const clg_program *prog);
const char *clg_program_origin_str(clg_program_origin origin);

/* ---- kernel variants, declared in the kernel files --------------------------
 * A .cl file declares the variants the planner may choose between, one comment line
 * each (fields in any order after the name; values without spaces):
 *   @variant NAME kernels=K1[,K2..] [local=N1[,N2..] | local=DEFINE]
 *            [sweep=DEFINE:V1[,V2..]] [device=cpu|gpu|any] [fit=G,M,MAX]
 * kernels: the kernel names of the variant, one per slot (a task runs the kernel of its
 * slot; a family may write TY for a type the caller substitutes); local: candidate
 * work-group sizes of dimension 0, or the value of the swept build-time tunable; sweep: a
 * #ifndef tunable of the file and the values to build it with (the first is the file's
 * default); device: the variant is the untuned choice on that device type (any: on every
 * type), with its first local / sweep value the device runs, or with fit: the local size,
 * a multiple of M between M and MAX, whose work-groups over the caller's row count load
 * the compute units most evenly (fewest work-items per unit, padding counted), of those
 * the one nearest G groups per unit. Everything else about the NDRange (global sizes,
 * other dimensions) is the caller's, from the kernel's documented layout; device limits
 * (work-group size, local memory) filter candidates when a range is set. The planner
 * (clgraph/planner.h) tunes tasks from these declarations. */
#define CLG_VARIANT_MAX 8
typedef struct clg_variant {
    char name[32];
    char kernels[4][64];
    unsigned n_kernels;
    size_t local[CLG_VARIANT_MAX]; /* n_local candidates; none when local= names the define */
    unsigned n_local;
    char sweep[32];              /* the swept define, "" when none */
    int values[CLG_VARIANT_MAX]; /* n_values values of it */
    unsigned n_values;
    char device[8];  /* "cpu", "gpu", "any" or "" */
    unsigned fit[3]; /* fit=G,M,MAX; all 0 when not declared */
} clg_variant;
/* Parses the @variant lines of prog's source into out[cap]; *n receives their count.
 * CLG_ERR_FORMAT names the line of a malformed declaration. */
clg_status clg_program_variants(const clg_program *prog, clg_variant *out, size_t cap, size_t *n);
/* The same for a source text (name is for messages). */
clg_status clg_variants_parse(const char *name, const char *source, clg_variant *out, size_t cap,
                              size_t *n);

/* A kernel file compiled into a library: cmake/embed.cmake generates a table of them, ended
 * by an entry whose name is NULL. Each library embeds its own files and registers its table
 * on a context (clg_context_add_kernel_files); the runtime's own, cl/probe.cl, is always there. */
typedef struct clg_kernel_file {
    const char *name;   /* "norm" for cl/norm.cl */
    const char *source; /* OpenCL C, NUL-terminated */
    size_t source_len;
    const unsigned char *spirv; /* its SPIR-V 1.0 module, or NULL */
    size_t spirv_len;
} clg_kernel_file;

/* The runtime's table (cl/probe.cl); static. */
const clg_kernel_file *clg_runtime_kernel_files(void);
/* Makes a table of kernel files available to clg_program_get on ctx; tables registered
 * later are searched first. files is borrowed and must outlive ctx (a static table). */
clg_status clg_context_add_kernel_files(clg_context *ctx, const clg_kernel_file *files);
/* The OpenCL C text of kernel file `file` as clg_program_get would build it (a registered
 * table's, or read from the context's kernel_dir): NUL-terminated, owned by the caller
 * (free); CLG_ERR_NOT_FOUND when there is none. */
clg_status clg_context_kernel_source(clg_context *ctx, const char *file, char **out);

/* ---- buffers ----------------------------------------------------------- */

typedef struct clg_buffer clg_buffer;

typedef enum clg_transfer {
    CLG_TRANSFER_FIRST_EXECUTION = 0, /* uploaded once, before its first use */
    CLG_TRANSFER_EVERY_EXECUTION,     /* uploaded before each step that reads it,
                                         read back after each step that writes it */
    CLG_TRANSFER_DEVICE_ONLY          /* never crosses the bus (clg_buffer_read /
                                         clg_buffer_write excepted) */
} clg_transfer;

/* Creates a named device buffer (names are unique per context). host is
 * borrowed: for FIRST_EXECUTION it must stay valid until the first step that
 * uses the buffer; for EVERY_EXECUTION for as long as the buffer is used; it is
 * ignored (may be NULL) for DEVICE_ONLY. bytes above the device's maximum
 * allocation fail with CLG_ERR_OUT_OF_MEMORY naming both sizes. Owned by the
 * context; clg_buffer_destroy releases it early. */
clg_status clg_buffer_create(clg_context *ctx, const char *name, size_t bytes, clg_transfer policy,
                             void *host, clg_buffer **out);
void clg_buffer_destroy(clg_buffer *buf);
/* A buffer by name, for a graph that consumes what an earlier graph produced;
 * CLG_ERR_NOT_FOUND when there is none. Borrowed. */
clg_status clg_buffer_find(clg_context *ctx, const char *name, clg_buffer **out);
const char *clg_buffer_name(const clg_buffer *buf);
size_t clg_buffer_size(const clg_buffer *buf);
/* The host memory given at creation (borrowed; NULL if none). */
const void *clg_buffer_host(const clg_buffer *buf);
/* The context's buffers, for profilers: how many, and the i-th (borrowed; NULL when
 * i >= count). The order is unspecified and changes when buffers come and go. */
size_t clg_context_buffer_count(const clg_context *ctx);
clg_buffer *clg_context_buffer(const clg_context *ctx, size_t i);
/* For EVERY_EXECUTION: how many leading bytes cross the bus per step (default:
 * all). Lets a step upload 3 token ids of a 512-slot buffer. */
clg_status clg_buffer_set_transfer_bytes(clg_buffer *buf, size_t bytes);
/* FIRST_EXECUTION: uploads now (blocking) rather than before the first step that
 * uses the buffer, e.g. to show progress while weights load. Counts as its one
 * upload. A no-op for a buffer already uploaded; an error for other policies. */
clg_status clg_buffer_prefetch(clg_buffer *buf);
/* Fills the buffer with zero bytes on the device (nothing crosses the bus). */
clg_status clg_buffer_zero(clg_buffer *buf);
/* Copies bytes from src at src_offset to dst at dst_offset on the device (nothing crosses
 * the bus), ordered before the context's later work; both buffers of one context. Ranges
 * outside a buffer, or overlapping ones within one buffer, fail with CLG_ERR_INVALID_ARG. */
clg_status clg_buffer_copy(clg_buffer *dst, size_t dst_offset, clg_buffer *src, size_t src_offset,
                           size_t bytes);
/* Explicit blocking transfers, counted by the profiler like the automatic ones. */
clg_status clg_buffer_write(clg_buffer *buf, size_t offset, const void *src, size_t bytes);
clg_status clg_buffer_read(clg_buffer *buf, size_t offset, void *dst, size_t bytes);

/* ---- tasks and graphs -------------------------------------------------- */

typedef struct clg_graph clg_graph;
typedef struct clg_task clg_task;

/* What a task does with a buffer argument. Tasks run in the order they were added, on
 * an in-order queue; the access declares the data flow, from which the runtime decides
 * the transfers (a READ of an EVERY_EXECUTION buffer uploads it, a WRITE reads it back
 * after the step) and checks the order (clg_plan_execute). */
typedef enum clg_access { CLG_READ = 1, CLG_WRITE = 2, CLG_READ_WRITE = 3 } clg_access;

/* A named graph, owned by the context (clg_graph_destroy releases it early). */
clg_status clg_graph_create(clg_context *ctx, const char *name, clg_graph **out);
void clg_graph_destroy(clg_graph *g);
const char *clg_graph_name(const clg_graph *g);

/* Appends a task running kernel `kernel` of prog. Tasks run in the order they
 * are added. The task is owned by the graph. */
clg_status clg_graph_add_task(clg_graph *g, const char *name, clg_program *prog, const char *kernel,
                              clg_task **out);
/* Arguments; may be set again between executions (e.g. a position). */
clg_status clg_task_arg_buffer(clg_task *t, unsigned index, clg_buffer *buf, clg_access access);
clg_status clg_task_arg_scalar(clg_task *t, unsigned index, const void *value, size_t size);
clg_status clg_task_arg_int(clg_task *t, unsigned index, int32_t value);
clg_status clg_task_arg_float(clg_task *t, unsigned index, float value);
clg_status clg_task_arg_local(clg_task *t, unsigned index, size_t bytes);
/* NDRange; local NULL lets the driver choose. Checked against the device's
 * limits (global a multiple of local, local within the maximum). */
clg_status clg_task_set_range(clg_task *t, unsigned dims, const size_t *global,
                              const size_t *local);
const char *clg_task_name(const clg_task *t);
/* Bytes of the buffers t's arguments declare READ or READ_WRITE, each buffer once and
 * in full: an upper bound on what one execution reads (attention reads its KV cache
 * only up to the position, an embedding one row). For bandwidth figures. */
uint64_t clg_task_bytes_read(const clg_task *t);
/* Moves the task to another kernel (a variant with the same arguments, e.g. from a
 * program built with other tunables); every argument set so far is applied to it. */
clg_status clg_task_set_kernel(clg_task *t, clg_program *prog, const char *kernel);
/* Name of the task's kernel (valid until the next call on this thread). */
const char *clg_task_kernel_name(const clg_task *t);
/* The task's program (borrowed). */
clg_program *clg_task_program(const clg_task *t);
/* The NDRange: returns dims; local[] is 0 where the driver chooses. */
unsigned clg_task_range(const clg_task *t, size_t global[3], size_t local[3]);
/* Local memory the kernel uses (bytes), and the largest work-group it can run with
 * on this device (may be below the device's maximum: llvmpipe allows 32). */
size_t clg_task_local_mem(const clg_task *t);
size_t clg_task_max_local(const clg_task *t);

/* 1 for a call task (clg_graph_add_call in clgraph/runtime_cl.h: host code that enqueues
 * library work), which has no program, kernel or range: clg_task_program gives NULL,
 * clg_task_kernel_name "", clg_task_range 0 dimensions. */
int clg_task_is_call(const clg_task *t);
/* A disabled task keeps its place in the graph but steps skip it (no uploads, no launch),
 * so that a graph can hold alternative implementations of one operation and a planner
 * enable one of them. Tasks start enabled. Changing it drops recorded replays of plans
 * holding the graph; the order check (clg_plan_execute) looks at enabled tasks only. */
void clg_task_set_enabled(clg_task *t, int on);
int clg_task_enabled(const clg_task *t);

size_t clg_graph_task_count(const clg_graph *g);
clg_task *clg_graph_task(const clg_graph *g, size_t i);

/* One step of this graph alone: uploads, tasks, read-backs, wait. Its order is checked
 * as a plan's is (clg_plan_execute). */
clg_status clg_graph_execute(clg_graph *g);

/* ---- plans ------------------------------------------------------------- */

typedef struct clg_plan clg_plan;

/* A plan owned by the context. Graphs are borrowed and run in the order added. */
clg_status clg_plan_create(clg_context *ctx, clg_plan **out);
void clg_plan_destroy(clg_plan *p);
clg_status clg_plan_add_graph(clg_plan *p, clg_graph *g);
/* One step: for each graph in order, upload what its tasks read (FIRST_EXECUTION
 * once ever, EVERY_EXECUTION once per step), enqueue its tasks; then read back
 * every EVERY_EXECUTION buffer written in the step and wait. No host round trip
 * between graphs.
 * Order check, before anything is enqueued: a task that reads a DEVICE_ONLY buffer
 * holding no data yet (nothing wrote it: no earlier task of the step, no earlier step,
 * no clg_buffer_write or clg_buffer_zero) while a later task of the plan writes it is
 * a read-after-write pointing backwards: CLG_ERR_INVALID_ARG, the message naming both
 * tasks (and their graphs) and the buffer. A buffer written by a previous step counts
 * as written, so a task may read last step's value before a later task overwrites it
 * (a KV cache, a recurrent state) once something has filled it. The check walks the
 * enabled tasks' arguments once (O(arguments)) and again only after a graph of the plan
 * changed (tasks added, buffer arguments set, tasks enabled or disabled) or the graph
 * list did. A DEVICE_ONLY buffer read with no writer at all fails when its task is
 * reached, naming the task and the buffer. */
clg_status clg_plan_execute(clg_plan *p);
/* Executes only graphs [first, last) of the plan as one step (the order check covers
 * the whole plan). */
clg_status clg_plan_execute_range(clg_plan *p, size_t first, size_t last);
size_t clg_plan_graph_count(const clg_plan *p);
clg_graph *clg_plan_graph(const clg_plan *p, size_t i);
/* The context the plan was created on (borrowed). */
clg_context *clg_plan_context(const clg_plan *p);

/* Recorded replay (cl_khr_command_buffer; clg_device_info.has_command_buffer). With
 * replay on, an execution records the kernels of the graphs it runs into a command
 * buffer owned by the plan (once: later executions of the same range replay it, one
 * enqueue instead of one per task). Uploads still precede the kernels and read-backs
 * follow them as ordinary commands, so the buffers' policies hold, except that every
 * upload of a step goes ahead of all its kernels: a range where a task writes a buffer
 * that is uploaded before a later task reads it is executed plainly. The recording is
 * dropped and made again at the next execution whenever a task of the plan changes
 * (clg_task_arg_*, clg_task_set_range, clg_task_set_kernel, clg_graph_add_task), the
 * graph list changes, or another range is executed (one recording per plan). Replayed
 * steps have no per-task events: while a trace callback is set (clg_context_set_trace)
 * steps run plainly, and on a profiling context without one replayed tasks count
 * executions but no kernel time. Turning replay on fails with CLG_ERR_UNSUPPORTED (the
 * message says why) on a device without the extension; turning it off releases the
 * recording and always succeeds. */
clg_status clg_plan_set_replay(clg_plan *p, int on);
/* 1 while replay is on. */
int clg_plan_replay(const clg_plan *p);
typedef struct clg_replay_stats {
    uint64_t recordings; /* command buffers recorded */
    uint64_t replays;    /* executions whose kernels came from a recording */
} clg_replay_stats;
void clg_plan_get_replay_stats(const clg_plan *p, clg_replay_stats *out);

/* ---- profiling --------------------------------------------------------- */

/* Totals since creation (or the last clg_profile_reset). Kernel times need
 * options.profiling = 1; counts and bytes are kept always. */
typedef struct clg_task_stats {
    uint64_t executions;
    uint64_t total_ns; /* sum of kernel END - START */
    uint64_t last_ns;
    uint64_t min_ns;
} clg_task_stats;

typedef struct clg_buffer_stats {
    uint64_t uploads, upload_bytes, upload_ns;
    uint64_t downloads, download_bytes, download_ns;
} clg_buffer_stats;

void clg_task_get_stats(const clg_task *t, clg_task_stats *out);
void clg_buffer_get_stats(const clg_buffer *b, clg_buffer_stats *out);
void clg_profile_reset(clg_context *ctx);

/* One profiled event of a step, in device time (ns), for traces. */
typedef struct clg_trace_event {
    const char *graph; /* borrowed, valid while the graph lives; "" for transfers */
    const char *name;  /* task or buffer name */
    int is_transfer;   /* 0 kernel, 1 upload, 2 download */
    uint64_t bytes;    /* transfers */
    uint64_t start_ns, end_ns;
    uint64_t step; /* the step it belongs to, counting from 1 per context; explicit
                      transfers (clg_buffer_read / _write) carry the last step's */
} clg_trace_event;

/* Called once per event after each step when set (profiling must be on). One callback per
 * context: a clg_profiler (clgraph/report.h) sets its own while it collects. */
typedef void (*clg_trace_fn)(void *user, const clg_trace_event *ev);
void clg_context_set_trace(clg_context *ctx, clg_trace_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
