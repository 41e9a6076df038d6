/* clgraph planner: chooses how tasks run, per device, from what their kernel files declare.
 *
 * A *kind* is a set of tasks that take one choice together (every layer's Q/K/V product,
 * every RMSNorm before attention, ...). Its candidates are the variants its kernel file
 * declares (@variant lines, see clg_variant in runtime.h): each declared local size, each
 * value of a swept #ifndef tunable (each its own program build), optionally alternative
 * implementations made of other tasks (a library call, say). The planner sets the kind's
 * tasks on its untuned default (the file's declaration for the device type), measures the
 * candidates on the tasks' real buffers (all tasks of the kind in one step, repetitions
 * interleaved across candidates, medians), keeps the incumbent unless another is
 * CLG_TUNE_MARGIN and CLG_TUNE_MIN_GAIN_NS faster (clg_tune_pick), and saves the choices to
 * a plan cache file keyed by device, driver, the kinds' kernel sources and build options,
 * and a key the caller names (its shapes). Where the device has cl_khr_command_buffer it
 * also chooses between recorded replay and plain enqueue for the plans registered for it.
 *
 * The planner knows nothing of what the tasks compute: the caller says which kernel of a
 * variant each task runs (its slot), and sets each task's NDRange for a choice through a
 * callback (global sizes come from the kernel's documented layout).
 */
#ifndef CLGRAPH_PLANNER_H
#define CLGRAPH_PLANNER_H

#include "clgraph/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_planner clg_planner;
typedef struct clg_kind clg_kind;

/* The tuner's choice given candidates' times: the smallest time >= 0, the first on ties; n
 * when every candidate failed. Candidate 0 is the incumbent (the untuned choice): it keeps
 * its place unless the fastest is at least CLG_TUNE_MARGIN faster and gains at least
 * CLG_TUNE_MIN_GAIN_NS, so that timing noise (relative on long steps, absolute on
 * microsecond kernels) does not replace it with an equal candidate. */
#define CLG_TUNE_MARGIN 0.03
#define CLG_TUNE_MIN_GAIN_NS 5000.0
size_t clg_tune_pick(const double *ns, size_t n);

/* One kind's choice. */
typedef struct clg_choice {
    char variant[32];     /* the declared variant ("row", "wg", "split") */
    int value;            /* its local size (a variant with local=N,..) or the swept
                             define's value (sweep=DEFINE:..) */
    size_t local;         /* the work-group size of dimension 0 the tasks run with */
    char alternative[32]; /* "" for the kernel variant, else the alternative's name
                             (clg_kind_add_alternative) that runs instead of it */
    int tuned;            /* 1: measured (now or from the plan cache); 0: untuned default */
    double best_ns;       /* the chosen candidate's measured time, -1 when not measured */
    double runner_ns;     /* the fastest other candidate's, -1 when none */
    char label[48];       /* "row local 16", "wg 64", "split wg 32", "clblast (row local 16)" */
} clg_choice;

/* Sets task t's NDRange for choice c (c->local is dimension 0's work-group size); slot is
 * the slot it was added with. Called whenever the choice or the caller's shapes change
 * (clg_kind_update). Return a clg_task_set_range status. */
typedef clg_status (*clg_kind_range_fn)(void *user, clg_task *t, unsigned slot,
                                        const clg_choice *c);
/* Called with on = 1 before a kind's candidates are timed and on = 0 after, so that the
 * caller can put representative data in place (an attention at a long position); optional. */
typedef clg_status (*clg_kind_prepare_fn)(void *user, int on);

typedef struct clg_kind_desc {
    const char *name;        /* unique in the planner, e.g. "decode.qkv"; copied */
    const char *file;        /* the registered kernel file whose @variant lines are the
                                candidates (clg_program_get); copied */
    const char *options;     /* build options of every candidate (NULL: none); the planner
                                adds -DDEFINE=value for swept values other than the first */
    const char *ty;          /* what "TY" stands for in the declared kernel names (NULL: none);
                                the planner also adds -DCLG_ONE_TY -DCLG_TY_<ty> so that a file
                                holding many types builds this one only (unless options hold
                                -DCLG_ONE_TY: the caller names the types, to share a program) */
    const char *variants;    /* comma list of the declared variants the tasks can run, NULL: all */
    size_t items;            /* work-items of dimension 0 when one runs per row (the rows): the
                                untuned local size of a variant declaring fit= */
    clg_kind_range_fn range; /* required */
    clg_kind_prepare_fn prepare; /* optional */
    void *user;
    int reps; /* timed repetitions per candidate; 0: the planner's */
} clg_kind_desc;

/* Warnings (a plan cache file ignored, and why) go to the context's warn callback
 * (clg_context_options.warn), as the program cache's do. */
typedef struct clg_planner_options {
    int warmup; /* untimed runs per candidate (default 2) */
    int reps;   /* timed runs per candidate (default 5) */
} clg_planner_options;

clg_planner_options clg_planner_options_default(void);

/* ---- building ------------------------------------------------------------ */

/* A planner for tasks of ctx's graphs. *out is owned by the caller: clg_planner_destroy
 * (which leaves the tasks on their last choice). */
clg_status clg_planner_create(clg_context *ctx, const clg_planner_options *opt, clg_planner **out);
void clg_planner_destroy(clg_planner *p); /* safe on NULL */

/* Adds a kind and sets its choice to the untuned default: the variant declared with
 * device=gpu on GPUs and device=cpu elsewhere (or device=any), the first such in the order
 * of d->variants (else the first variant that list allows), at its first local size or
 * swept value the device runs (or the fit= size for d->items). Builds that program.
 * CLG_ERR_FORMAT when the file declares nothing usable (the message names the file). *out
 * is owned by the planner. */
clg_status clg_planner_add_kind(clg_planner *p, const clg_kind_desc *d, clg_kind **out);

/* The program and kernel name slot `slot` of the current choice runs: for a builder
 * creating the kind's tasks. *kernel is valid until the choice changes. */
clg_status clg_kind_kernel(const clg_kind *k, unsigned slot, clg_program **prog,
                           const char **kernel);
/* Adds task t (created on clg_kind_kernel's kernel for `slot`, arguments set by the
 * caller) to the kind and sets its range. A variant is a candidate only when it declares a
 * kernel for every slot of the kind's tasks. */
clg_status clg_kind_add_task(clg_kind *k, clg_task *t, unsigned slot);
/* An alternative to the kind's kernel tasks: other tasks (borrowed; disabled by this call)
 * that compute the same. When chosen they are enabled and the kernel tasks disabled. */
clg_status clg_kind_add_alternative(clg_kind *k, const char *name, clg_task *const *tasks,
                                    size_t n);
/* Registers a plan whose recorded replay (clg_plan_set_replay) the planner chooses; all
 * registered plans take one choice, timed on the first. */
clg_status clg_planner_add_replay(clg_planner *p, clg_plan *plan);

/* ---- choosing ------------------------------------------------------------- */

/* Re-applies k's current choice to its tasks: kernels, and ranges through the callback
 * (after the caller's shapes, e.g. a batch size, changed). */
clg_status clg_kind_update(clg_kind *k);
/* Sets k's choice by hand: declared variant `variant` with `value` (0: its default), and
 * `alternative` (NULL or "": the kernel variant). CLG_ERR_NOT_FOUND when k has no such
 * candidate. The choice is marked untuned. */
clg_status clg_kind_select(clg_kind *k, const char *variant, int value, const char *alternative);
/* Replay on (1) or off (0) for the registered plans, by hand (marked untuned); turning it
 * on fails with CLG_ERR_UNSUPPORTED on a device without command buffers. */
clg_status clg_planner_select_replay(clg_planner *p, int on);
/* Every kind back on its untuned default, replay on its default (off). */
clg_status clg_planner_reset(clg_planner *p);
/* Measures every kind's candidates (then its alternatives against the winner) and, where
 * plans are registered and the device has command buffers, replay on and off (steps of the
 * first registered plan). Every task must be runnable with data in its buffers: run a step
 * first. Buffers the tasks write are overwritten. */
clg_status clg_planner_tune(clg_planner *p);
/* The same for one kind. */
clg_status clg_kind_tune(clg_kind *k);
/* Only the replay choice (a no-op without registered plans or command buffers): steps of the
 * first registered plan as its buffers stand, replay on and off interleaved. */
clg_status clg_planner_tune_replay(clg_planner *p);

/* ---- plan cache ----------------------------------------------------------- */

/* Applies the choices saved under `key` (the caller's description of its shapes) for this
 * device, driver and the kinds' sources and options. *loaded = 1 when a file was found and
 * applied; 0 when there is none or it was unusable (a corrupt, stale or refused file is
 * reported through the warning callback, naming the file and why, and every kind stays on
 * its default). dir: the cache folder (NULL: the context's; no cache dir: *loaded = 0). */
clg_status clg_planner_load(clg_planner *p, const char *dir, const char *key, int *loaded);
/* Writes the choices (atomically: a temporary file renamed over the old one). A failure to
 * write is reported through the warning callback; the cache is an optimisation. */
clg_status clg_planner_save(clg_planner *p, const char *dir, const char *key);

/* ---- reading -------------------------------------------------------------- */

size_t clg_planner_kind_count(const clg_planner *p);
clg_kind *clg_planner_kind(const clg_planner *p, size_t i);
/* The kind named `name`, NULL when none. */
clg_kind *clg_planner_find_kind(const clg_planner *p, const char *name);
/* The kind task t belongs to (as a kernel task or an alternative's), NULL when none. */
clg_kind *clg_planner_task_kind(const clg_planner *p, const clg_task *t);
const char *clg_kind_name(const clg_kind *k);
/* Borrowed; valid until the choice changes. */
const clg_choice *clg_kind_choice(const clg_kind *k);
/* The replay choice of plan (registered with clg_planner_add_replay): variant "on", "off"
 * or "unavailable" (no cl_khr_command_buffer); best_ns / runner_ns are the step times of
 * the chosen mode and the other (-1: not measured). CLG_ERR_NOT_FOUND for a plan that is
 * not registered. */
clg_status clg_planner_replay_choice(const clg_planner *p, const clg_plan *plan, clg_choice *out);

#ifdef __cplusplus
}
#endif
#endif
