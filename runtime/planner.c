/* The planner (clgraph/planner.h): kinds of tasks, their candidates from the @variant
 * declarations of their kernel file, timing on the real buffers with the incumbent rule,
 * alternatives, recorded replay, and the plan cache. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/planner.h"
#include "clgraph/report.h"
#include "runtime/internal.h"

#define PLAN_MAGIC "clgraph-plan 4"
#define MAX_DECL 16       /* declarations per kernel file */
#define MAX_CANDIDATES 48 /* per kind; the rest are dropped */
#define MAX_SLOTS 4       /* kernels per declaration (clg_variant.kernels) */
/* Replay on vs off: rounds alternate which goes first; each mode's turn has one untimed step
 * (it records when on), then REPLAY_STEPS timed ones. Replay is kept only when its median
 * step is REPLAY_MARGIN faster: it re-records after every change of a task and hides
 * per-task times, so a tie goes to plain enqueue. */
#define REPLAY_ROUNDS 6
#define REPLAY_STEPS 5
#define REPLAY_MARGIN 0.97

typedef struct kind_task {
    clg_task *t;
    unsigned slot;
} kind_task;

typedef struct kind_alt {
    char name[32];
    clg_task **tasks; /* [n] (owned array, borrowed tasks) */
    size_t n;
} kind_alt;

/* One candidate: a declaration and value, built. */
typedef struct candidate {
    const clg_variant *v;
    int value;
    size_t local;
    clg_program *prog;
    char kernel[MAX_SLOTS][96];
} candidate;

struct clg_kind {
    clg_planner *pl;
    char *name, *file, *options, *ty, *variants;
    size_t items;
    clg_kind_range_fn range;
    clg_kind_prepare_fn prepare;
    void *user;
    int reps;
    clg_variant decl[MAX_DECL];
    size_t n_decl;
    uint64_t source_hash; /* of the file as built */
    kind_task *tasks;
    size_t n_tasks, cap_tasks;
    unsigned n_slots; /* highest slot of a task + 1 (at least 1) */
    kind_alt *alts;
    size_t n_alts;
    candidate cur; /* the current choice, built */
    clg_choice choice;
};

struct clg_planner {
    clg_context *ctx;
    clg_planner_options opt;
    clg_kind **kinds;
    size_t n, cap;
    clg_plan **replay_plans;
    size_t n_replay, cap_replay;
    clg_choice replay; /* variant "on" / "off" / "unavailable" */
};

clg_planner_options clg_planner_options_default(void) {
    clg_planner_options o;
    memset(&o, 0, sizeof o);
    o.warmup = 2;
    o.reps = 5;
    return o;
}

static int has_replay(const clg_planner *p) {
    return p->ctx->info.has_command_buffer;
}

static void replay_default(clg_planner *p) {
    memset(&p->replay, 0, sizeof p->replay);
    snprintf(p->replay.variant, sizeof p->replay.variant, "%s",
             has_replay(p) ? "off" : "unavailable");
    snprintf(p->replay.label, sizeof p->replay.label, "%s", p->replay.variant);
    p->replay.best_ns = p->replay.runner_ns = -1;
}

clg_status clg_planner_create(clg_context *ctx, const clg_planner_options *opt, clg_planner **out) {
    *out = NULL;
    clg_planner *p = calloc(1, sizeof *p);
    if (!p) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "planner");
    p->ctx = ctx;
    p->opt = opt ? *opt : clg_planner_options_default();
    if (p->opt.warmup < 0 || p->opt.reps < 1) {
        free(p);
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "planner: %d warm-up runs and %d repetitions (want >= 0 and >= 1)",
                        opt->warmup, opt->reps);
    }
    replay_default(p);
    *out = p;
    return CLG_OK;
}

static void kind_free(clg_kind *k) {
    if (!k) return;
    for (size_t i = 0; i < k->n_alts; i++)
        free(k->alts[i].tasks);
    free(k->alts);
    free(k->tasks);
    free(k->name);
    free(k->file);
    free(k->options);
    free(k->ty);
    free(k->variants);
    free(k);
}

void clg_planner_destroy(clg_planner *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++)
        kind_free(p->kinds[i]);
    free(p->kinds);
    free(p->replay_plans);
    free(p);
}

/* ---- candidates ------------------------------------------------------------ */

/* 1 when the comma list `list` (NULL: everything) holds `name`. */
static int listed(const char *list, const char *name) {
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        if (len == n && !memcmp(s, name, n)) return 1;
        s += len + (s[len] == ',');
    }
    return 0;
}

/* name with "TY" replaced by ty, into out[cap]; 0 when it does not fit. */
static int substitute(const char *name, const char *ty, char *out, size_t cap) {
    size_t o = 0;
    for (const char *s = name; *s;) {
        const char *rep = ty && s[0] == 'T' && s[1] == 'Y' ? ty : NULL;
        size_t len = rep ? strlen(rep) : 1;
        if (o + len >= cap) return 0;
        memcpy(out + o, rep ? rep : s, len);
        o += len;
        s += rep ? 2 : 1;
    }
    out[o] = 0;
    return 1;
}

/* Values of a declaration: its local sizes, or its swept define's values. */
static unsigned value_count(const clg_variant *v) {
    return v->n_local ? v->n_local : v->n_values;
}
static int value_at(const clg_variant *v, unsigned i) {
    return v->n_local ? (int)v->local[i] : v->values[i];
}

/* Builds candidate (v, value): its program (the kind's options, plus -DDEFINE=value for a
 * swept value other than the file's default), its kernel per slot, its local size.
 * CLG_ERR_UNSUPPORTED when v lacks a slot's kernel or the device cannot run the local size
 * (the message says which). */
static clg_status candidate_make(clg_kind *k, const clg_variant *v, int value, candidate *c) {
    memset(c, 0, sizeof *c);
    c->v = v;
    c->value = value;
    c->local = (size_t)value;
    if (value < 1 || value > 4096)
        return clg_fail(CLG_ERR_UNSUPPORTED, "kind '%s', variant '%s': size %d is out of range",
                        k->name, v->name, value);
    char opts[512];
    snprintf(opts, sizeof opts, "%s", k->options);
    if (k->ty && !strstr(opts, "-DCLG_ONE_TY")) { /* this type's kernels only (cl/matmul*.cl) */
        size_t used = strlen(opts);
        snprintf(opts + used, sizeof opts - used, "%s-DCLG_ONE_TY -DCLG_TY_%s", used ? " " : "",
                 k->ty);
    }
    if (!v->n_local && *v->sweep && value != v->values[0]) {
        size_t used = strlen(opts);
        snprintf(opts + used, sizeof opts - used, "%s-D%s=%d", used ? " " : "", v->sweep, value);
    }
    if (k->n_slots > v->n_kernels)
        return clg_fail(CLG_ERR_UNSUPPORTED,
                        "kind '%s': variant '%s' declares %u kernels, its tasks use %u slots",
                        k->name, v->name, v->n_kernels, k->n_slots);
    for (unsigned s = 0; s < v->n_kernels && s < MAX_SLOTS; s++)
        if (!substitute(v->kernels[s], k->ty, c->kernel[s], sizeof c->kernel[s]))
            return clg_fail(CLG_ERR_UNSUPPORTED, "kind '%s': kernel name '%s' is too long", k->name,
                            v->kernels[s]);
    clg_status st = clg_program_get(k->pl->ctx, k->file, opts, &c->prog);
    if (st != CLG_OK) return st;
    for (unsigned s = 0; s < k->n_slots; s++) {
        size_t lim = clg_program_max_local(c->prog, c->kernel[s]);
        if (lim == 0)
            return clg_fail(
                CLG_ERR_FORMAT,
                "cl/%s.cl declares kernel '%s' (variant '%s') but has none of that name", k->file,
                c->kernel[s], v->name);
        if (c->local > lim)
            return clg_fail(CLG_ERR_UNSUPPORTED,
                            "kind '%s': %s runs at most %zu work-items per group on %s, not %zu",
                            k->name, c->kernel[s], lim, k->pl->ctx->info.device_name, c->local);
    }
    return CLG_OK;
}

/* The fit= local size of v for the kind's rows: a multiple of M within M .. MAX (and the
 * kernels' limit, later) whose groups spread most evenly over the compute units (the least
 * work-items per unit, padding and the last round's idle units counted: 72 rows on 2 units
 * take 2 groups of 40, not 3 of 24), of those the one nearest G groups per unit; 0 when v
 * has no fit. */
static int fit_value(const clg_kind *k, const clg_variant *v) {
    if (!v->fit[0] || !k->items) return 0;
    size_t cu = k->pl->ctx->info.compute_units ? k->pl->ctx->info.compute_units : 1;
    size_t want = (size_t)v->fit[0] * cu, mul = v->fit[1] ? v->fit[1] : 1, best = 0;
    size_t best_load = SIZE_MAX, best_off = SIZE_MAX;
    for (size_t l = mul; l <= (v->fit[2] > mul ? v->fit[2] : mul); l += mul) {
        size_t groups = (k->items + l - 1) / l, load = (groups + cu - 1) / cu * l;
        size_t off = groups > want ? groups - want : want - groups;
        if (load < best_load || (load == best_load && off < best_off))
            best = l, best_load = load, best_off = off;
    }
    return (int)best;
}

/* The untuned value of declaration v: its fit= size (lowered to what the device runs), else
 * its first value the device runs. */
static clg_status default_candidate(clg_kind *k, const clg_variant *v, candidate *c) {
    int fit = fit_value(k, v);
    clg_status st = CLG_ERR_UNSUPPORTED;
    if (fit) {
        st = candidate_make(k, v, fit, c);
        if (st == CLG_ERR_UNSUPPORTED && c->prog) { /* above the kernels' limit: take the limit */
            size_t lim = SIZE_MAX;
            for (unsigned s = 0; s < k->n_slots; s++) {
                size_t l = clg_program_max_local(c->prog, c->kernel[s]);
                if (l < lim) lim = l;
            }
            st = candidate_make(k, v, (int)lim, c);
        }
        return st;
    }
    for (unsigned i = 0; i < value_count(v) && st == CLG_ERR_UNSUPPORTED; i++)
        st = candidate_make(k, v, value_at(v, i), c);
    return st;
}

/* 1 when declaration v names this device's type (or any). */
static int for_device(const clg_kind *k, const clg_variant *v) {
    const char *dev = k->pl->ctx->info.type == CLG_DEVICE_GPU ? "gpu" : "cpu";
    return !strcmp(v->device, dev) || !strcmp(v->device, "any");
}

/* The declaration that is the kind's untuned default on this device: the first for the
 * device in the caller's list order (the file's order when there is no list), else the
 * first the list allows. */
static const clg_variant *default_decl(const clg_kind *k) {
    for (const char *s = k->variants; s && *s;) {
        size_t len = strcspn(s, ",");
        for (size_t i = 0; i < k->n_decl; i++)
            if (strlen(k->decl[i].name) == len && !memcmp(s, k->decl[i].name, len) &&
                for_device(k, &k->decl[i]))
                return &k->decl[i];
        s += len + (s[len] == ',');
    }
    for (size_t i = 0; i < k->n_decl && !k->variants; i++)
        if (for_device(k, &k->decl[i])) return &k->decl[i];
    for (size_t i = 0; i < k->n_decl; i++)
        if (listed(k->variants, k->decl[i].name)) return &k->decl[i];
    return NULL;
}

static clg_status kind_default(clg_kind *k, candidate *c) {
    const clg_variant *v = default_decl(k);
    if (!v)
        return clg_fail(CLG_ERR_FORMAT,
                        "kind '%s': cl/%s.cl declares no variant%s%s (its %zu @variant lines)",
                        k->name, k->file, k->variants ? " among " : "",
                        k->variants ? k->variants : "", k->n_decl);
    clg_status st = default_candidate(k, v, c);
    if (st == CLG_ERR_UNSUPPORTED)
        return clg_fail(
            CLG_ERR_UNSUPPORTED,
            "kind '%s': the device runs none of the sizes of its default variant '%s' (%s)",
            k->name, v->name, clg_last_error());
    return st;
}

/* ---- applying a choice --------------------------------------------------------- */

static void label_of(const candidate *c, const char *alt, clg_choice *ch) {
    char base[40];
    if (c->v->n_local)
        snprintf(base, sizeof base, "%.16s local %zu", c->v->name, c->local);
    else
        snprintf(base, sizeof base, "%.12s %.16s=%d", c->v->name, c->v->sweep, c->value);
    if (alt && *alt)
        snprintf(ch->label, sizeof ch->label, "%.20s (%.24s)", alt, base);
    else
        snprintf(ch->label, sizeof ch->label, "%s", base);
}

static clg_status set_kernel_if(clg_task *t, clg_program *prog, const char *kernel) {
    if (clg_task_program(t) == prog && !strcmp(clg_task_kernel_name(t), kernel)) return CLG_OK;
    return clg_task_set_kernel(t, prog, kernel);
}

/* Moves every task of k to candidate c (kernel and range) and sets k's choice to it, with
 * alternative `alt` ("" for none) enabled instead of the kernel tasks. */
static clg_status kind_apply(clg_kind *k, const candidate *c, const char *alt) {
    int use_alt = -1;
    for (size_t i = 0; alt && *alt && i < k->n_alts; i++)
        if (!strcmp(k->alts[i].name, alt)) use_alt = (int)i;
    if (alt && *alt && use_alt < 0)
        return clg_fail(CLG_ERR_NOT_FOUND, "kind '%s' has no alternative '%s'", k->name, alt);
    clg_choice ch;
    memset(&ch, 0, sizeof ch);
    snprintf(ch.variant, sizeof ch.variant, "%s", c->v->name);
    ch.value = c->value;
    ch.local = c->local;
    snprintf(ch.alternative, sizeof ch.alternative, "%s", use_alt >= 0 ? alt : "");
    ch.best_ns = ch.runner_ns = -1;
    label_of(c, ch.alternative, &ch);
    for (size_t i = 0; i < k->n_tasks; i++) {
        const kind_task *kt = &k->tasks[i];
        clg_status st = set_kernel_if(kt->t, c->prog, c->kernel[kt->slot]);
        if (st == CLG_OK) st = k->range(k->user, kt->t, kt->slot, &ch);
        if (st != CLG_OK) return st;
        clg_task_set_enabled(kt->t, use_alt < 0);
    }
    for (size_t a = 0; a < k->n_alts; a++)
        for (size_t i = 0; i < k->alts[a].n; i++)
            clg_task_set_enabled(k->alts[a].tasks[i], (int)a == use_alt);
    k->cur = *c;
    k->choice = ch;
    return CLG_OK;
}

clg_status clg_kind_update(clg_kind *k) {
    clg_choice keep = k->choice;
    clg_status st = kind_apply(k, &k->cur, keep.alternative);
    k->choice = keep;
    return st;
}

/* ---- building ---------------------------------------------------------------- */

static char *dup_or_null(const char *s, int *oom) {
    if (!s) return NULL;
    char *d = clg_strdup(s);
    if (!d) *oom = 1;
    return d;
}

clg_status clg_planner_add_kind(clg_planner *p, const clg_kind_desc *d, clg_kind **out) {
    *out = NULL;
    if (!d->name || !*d->name || !d->file || !d->range)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "planner kind: name, file and range callback are required");
    if (strchr(d->name, ' ') || strchr(d->name, '\n'))
        return clg_fail(CLG_ERR_INVALID_ARG, "planner kind '%s': a name without spaces", d->name);
    if (clg_planner_find_kind(p, d->name))
        return clg_fail(CLG_ERR_INVALID_ARG, "planner kind '%s' exists already", d->name);
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        clg_kind **nk = realloc(p->kinds, cap * sizeof *nk);
        if (!nk) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "planner kinds");
        p->kinds = nk;
        p->cap = cap;
    }
    clg_kind *k = calloc(1, sizeof *k);
    if (!k) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "planner kind '%s'", d->name);
    int oom = 0;
    k->pl = p;
    k->name = dup_or_null(d->name, &oom);
    k->file = dup_or_null(d->file, &oom);
    k->options = dup_or_null(d->options ? d->options : "", &oom);
    k->ty = dup_or_null(d->ty, &oom);
    k->variants = dup_or_null(d->variants, &oom);
    k->items = d->items;
    k->range = d->range;
    k->prepare = d->prepare;
    k->user = d->user;
    k->reps = d->reps > 0 ? d->reps : p->opt.reps;
    k->n_slots = 1;
    clg_status st = oom ? clg_fail(CLG_ERR_OUT_OF_MEMORY, "planner kind '%s'", d->name) : CLG_OK;
    char *src = NULL;
    if (st == CLG_OK) st = clg_context_kernel_source(p->ctx, k->file, &src);
    if (st == CLG_OK) st = clg_variants_parse(k->file, src, k->decl, MAX_DECL, &k->n_decl);
    if (st == CLG_OK) k->source_hash = clg_hash_str(CLG_HASH_INIT, src);
    free(src);
    candidate c;
    if (st == CLG_OK) st = kind_default(k, &c);
    if (st != CLG_OK) {
        kind_free(k);
        return st;
    }
    k->cur = c;
    kind_apply(k, &c, ""); /* no tasks yet: sets the choice */
    p->kinds[p->n++] = k;
    *out = k;
    return CLG_OK;
}

clg_status clg_kind_kernel(const clg_kind *k, unsigned slot, clg_program **prog,
                           const char **kernel) {
    if (slot >= MAX_SLOTS || slot >= k->cur.v->n_kernels)
        return clg_fail(CLG_ERR_INVALID_ARG, "kind '%s': variant '%s' has no kernel slot %u",
                        k->name, k->cur.v->name, slot);
    *prog = k->cur.prog;
    *kernel = k->cur.kernel[slot];
    return CLG_OK;
}

clg_status clg_kind_add_task(clg_kind *k, clg_task *t, unsigned slot) {
    if (slot >= MAX_SLOTS || slot >= k->cur.v->n_kernels)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "kind '%s': task '%s' in slot %u; variant '%s' has %u kernels", k->name,
                        clg_task_name(t), slot, k->cur.v->name, k->cur.v->n_kernels);
    if (k->n_tasks == k->cap_tasks) {
        size_t cap = k->cap_tasks ? 2 * k->cap_tasks : 32;
        kind_task *nt = realloc(k->tasks, cap * sizeof *nt);
        if (!nt) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "kind '%s' tasks", k->name);
        k->tasks = nt;
        k->cap_tasks = cap;
    }
    k->tasks[k->n_tasks++] = (kind_task){t, slot};
    if (slot + 1 > k->n_slots) k->n_slots = slot + 1;
    clg_status st = set_kernel_if(t, k->cur.prog, k->cur.kernel[slot]);
    if (st == CLG_OK) st = k->range(k->user, t, slot, &k->choice);
    if (st == CLG_OK) clg_task_set_enabled(t, !*k->choice.alternative);
    if (st != CLG_OK) k->n_tasks--;
    return st;
}

clg_status clg_kind_add_alternative(clg_kind *k, const char *name, clg_task *const *tasks,
                                    size_t n) {
    if (!name || !*name || strlen(name) >= sizeof k->alts[0].name || strchr(name, ' ') || !n)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "kind '%s': an alternative needs a short name without spaces and tasks",
                        k->name);
    kind_alt *na = realloc(k->alts, (k->n_alts + 1) * sizeof *na);
    if (!na) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "kind '%s' alternatives", k->name);
    k->alts = na;
    kind_alt *a = &k->alts[k->n_alts];
    memset(a, 0, sizeof *a);
    if (!(a->tasks = malloc(n * sizeof *a->tasks)))
        return clg_fail(CLG_ERR_OUT_OF_MEMORY, "kind '%s'", k->name);
    snprintf(a->name, sizeof a->name, "%s", name);
    memcpy(a->tasks, tasks, n * sizeof *tasks);
    a->n = n;
    k->n_alts++;
    for (size_t i = 0; i < n; i++)
        clg_task_set_enabled(tasks[i], 0);
    return CLG_OK;
}

clg_status clg_planner_add_replay(clg_planner *p, clg_plan *plan) {
    if (p->n_replay == p->cap_replay) {
        size_t cap = p->cap_replay ? 2 * p->cap_replay : 4;
        clg_plan **np = realloc(p->replay_plans, cap * sizeof *np);
        if (!np) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "planner replay plans");
        p->replay_plans = np;
        p->cap_replay = cap;
    }
    p->replay_plans[p->n_replay++] = plan;
    return CLG_OK;
}

/* ---- choosing ------------------------------------------------------------------ */

/* The declaration `name` the kind may run, NULL when none. */
static const clg_variant *find_decl(const clg_kind *k, const char *name) {
    for (size_t i = 0; i < k->n_decl; i++)
        if (!strcmp(k->decl[i].name, name) && listed(k->variants, name)) return &k->decl[i];
    return NULL;
}

clg_status clg_kind_select(clg_kind *k, const char *variant, int value, const char *alternative) {
    const clg_variant *v = find_decl(k, variant);
    if (!v)
        return clg_fail(CLG_ERR_NOT_FOUND, "kind '%s' has no variant '%s' (cl/%s.cl)", k->name,
                        variant, k->file);
    if (value && !v->n_local) { /* a swept value must be a declared one */
        int known = 0;
        for (unsigned i = 0; i < v->n_values; i++)
            known |= v->values[i] == value;
        if (!known)
            return clg_fail(CLG_ERR_NOT_FOUND, "kind '%s': variant '%s' declares no %s=%d", k->name,
                            variant, v->sweep, value);
    }
    candidate c;
    clg_status st = value ? candidate_make(k, v, value, &c) : default_candidate(k, v, &c);
    if (st == CLG_OK) st = kind_apply(k, &c, alternative ? alternative : "");
    return st;
}

clg_status clg_planner_select_replay(clg_planner *p, int on) {
    clg_status st = CLG_OK;
    for (size_t i = 0; i < p->n_replay && st == CLG_OK; i++)
        st = clg_plan_set_replay(p->replay_plans[i], on);
    if (st != CLG_OK) {
        for (size_t i = 0; i < p->n_replay; i++)
            clg_plan_set_replay(p->replay_plans[i], 0);
        return st;
    }
    replay_default(p);
    if (has_replay(p)) {
        snprintf(p->replay.variant, sizeof p->replay.variant, "%s", on ? "on" : "off");
        snprintf(p->replay.label, sizeof p->replay.label, "%s", p->replay.variant);
    }
    return CLG_OK;
}

clg_status clg_planner_reset(clg_planner *p) {
    for (size_t i = 0; i < p->n; i++) {
        candidate c;
        clg_status st = kind_default(p->kinds[i], &c);
        if (st == CLG_OK) st = kind_apply(p->kinds[i], &c, "");
        if (st != CLG_OK) return st;
    }
    return clg_planner_select_replay(p, 0);
}

/* ---- measuring ----------------------------------------------------------------- */

/* The kind's tasks (or one alternative's) as a list for clg_tasks_time. */
static clg_status kernel_tasks(const clg_kind *k, clg_task ***out) {
    *out = malloc((k->n_tasks ? k->n_tasks : 1) * sizeof **out);
    if (!*out) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "tuning kind '%s'", k->name);
    for (size_t i = 0; i < k->n_tasks; i++)
        (*out)[i] = k->tasks[i].t;
    return CLG_OK;
}

/* Every candidate of k, the untuned default first: each value of each declaration the
 * kind may run that the device accepts. */
static clg_status candidates(clg_kind *k, candidate *c, size_t *n) {
    clg_status st = kind_default(k, &c[0]);
    if (st != CLG_OK) return st;
    *n = 1;
    for (size_t j = 0; j < k->n_decl; j++) {
        const clg_variant *v = &k->decl[j];
        if (!listed(k->variants, v->name)) continue;
        for (unsigned i = 0; i < value_count(v) && *n < MAX_CANDIDATES; i++) {
            if (v == c[0].v && value_at(v, i) == c[0].value) continue;
            st = candidate_make(k, v, value_at(v, i), &c[*n]);
            if (st == CLG_OK)
                (*n)++;
            else if (st != CLG_ERR_UNSUPPORTED)
                return st;
        }
    }
    return CLG_OK;
}

/* The smallest time other than best's, -1 when none. */
static double runner_up(const double *ns, size_t n, size_t best) {
    double r = -1;
    for (size_t i = 0; i < n; i++)
        if (i != best && ns[i] >= 0 && (r < 0 || ns[i] < r)) r = ns[i];
    return r;
}

/* Saves (on = 1) or restores (on = 0) the statistics of k's tasks and alternatives into
 * saved[] (sized by stats_count): the tuning runs are not the tasks' own. */
static size_t stats_count(const clg_kind *k) {
    size_t n = k->n_tasks;
    for (size_t a = 0; a < k->n_alts; a++)
        n += k->alts[a].n;
    return n;
}
static void stats_keep(const clg_kind *k, clg_task_stats *saved, int save) {
    size_t n = 0;
    for (size_t i = 0; i < k->n_tasks; i++, n++) {
        if (save)
            saved[n] = k->tasks[i].t->stats;
        else
            k->tasks[i].t->stats = saved[n];
    }
    for (size_t a = 0; a < k->n_alts; a++)
        for (size_t i = 0; i < k->alts[a].n; i++, n++) {
            if (save)
                saved[n] = k->alts[a].tasks[i]->stats;
            else
                k->alts[a].tasks[i]->stats = saved[n];
        }
}

/* Times the kind's kernel variants, then its alternatives against the winner. */
static clg_status tune_kind(clg_kind *k) {
    const clg_planner *p = k->pl;
    if (!k->n_tasks) return CLG_OK;
    candidate *c = malloc(MAX_CANDIDATES * sizeof *c);
    double *v = malloc(MAX_CANDIDATES * (size_t)k->reps * sizeof *v), ns[MAX_CANDIDATES];
    clg_task **tasks = NULL;
    clg_task_stats *saved = malloc(stats_count(k) * sizeof *saved);
    size_t n = 0;
    clg_status st =
        c && v && saved ? CLG_OK : clg_fail(CLG_ERR_OUT_OF_MEMORY, "tuning kind '%s'", k->name);
    if (st == CLG_OK) stats_keep(k, saved, 1);
    if (st == CLG_OK) st = kernel_tasks(k, &tasks);
    if (st == CLG_OK) st = candidates(k, c, &n);
    if (st == CLG_OK && k->prepare) st = k->prepare(k->user, 1);
    const int prepared = st == CLG_OK && k->prepare;
    /* Warm-up, which also drops the candidates the device refuses. */
    for (size_t i = 0; i < n && st == CLG_OK; i++) {
        ns[i] = -1;
        if (kind_apply(k, &c[i], "") != CLG_OK) continue;
        ns[i] = 0;
        for (int r = 0; r < p->opt.warmup && st == CLG_OK; r++)
            st = clg_tasks_run(tasks, k->n_tasks);
    }
    /* Repetitions interleaved across candidates, so that a slow spell of a shared machine
     * falls on all of them; the median of each. */
    for (int r = 0; r < k->reps && st == CLG_OK; r++)
        for (size_t i = 0; i < n && st == CLG_OK; i++)
            if (ns[i] >= 0 && (st = kind_apply(k, &c[i], "")) == CLG_OK)
                st = clg_tasks_time(tasks, k->n_tasks, &v[i * (size_t)k->reps + (size_t)r]);
    for (size_t i = 0; i < n && st == CLG_OK; i++)
        if (ns[i] >= 0) ns[i] = clg_median(&v[i * (size_t)k->reps], (size_t)k->reps);
    size_t best = n;
    if (st == CLG_OK && (best = clg_tune_pick(ns, n)) == n)
        st = clg_fail(CLG_ERR_UNSUPPORTED,
                      "tuning kind '%s': the device refused all %zu candidates", k->name, n);
    if (st == CLG_OK) st = kind_apply(k, &c[best], "");
    clg_choice win = k->choice;
    win.tuned = 1;
    win.best_ns = st == CLG_OK ? ns[best] : -1;
    win.runner_ns = st == CLG_OK ? runner_up(ns, n, best) : -1;
    /* The alternatives, each timed against the winner (the incumbent) interleaved; the
     * fastest that beats it by the margin replaces it. */
    int alt_best = -1;
    double alt_ns = -1, alt_runner = -1;
    for (size_t a = 0; a < k->n_alts && st == CLG_OK; a++) {
        clg_task *const *sets[2] = {tasks, k->alts[a].tasks};
        const size_t sizes[2] = {k->n_tasks, k->alts[a].n};
        double t2[2], *w = v; /* [2][reps] */
        for (int s = 0; s < 2 && st == CLG_OK; s++)
            for (int r = 0; r < p->opt.warmup && st == CLG_OK; r++)
                st = clg_tasks_run(sets[s], sizes[s]);
        for (int r = 0; r < k->reps && st == CLG_OK; r++)
            for (int s = 0; s < 2 && st == CLG_OK; s++)
                st = clg_tasks_time(sets[s], sizes[s], &w[s * k->reps + r]);
        if (st != CLG_OK) break;
        for (int s = 0; s < 2; s++)
            t2[s] = clg_median(&w[s * k->reps], (size_t)k->reps);
        if (clg_tune_pick(t2, 2) == 1 && (alt_best < 0 || t2[1] < alt_ns)) {
            alt_best = (int)a;
            alt_ns = t2[1];
            alt_runner = t2[0];
        } else if (win.runner_ns < 0 || t2[1] < win.runner_ns) {
            win.runner_ns = t2[1];
        }
    }
    if (st == CLG_OK && alt_best >= 0 &&
        (st = kind_apply(k, &k->cur, k->alts[alt_best].name)) == CLG_OK) {
        win = k->choice;
        win.tuned = 1;
        win.best_ns = alt_ns;
        win.runner_ns = alt_runner;
    }
    if (st == CLG_OK) k->choice = win;
    if (prepared) {
        clg_status pst = k->prepare(k->user, 0);
        if (st == CLG_OK) st = pst;
    }
    if (saved) stats_keep(k, saved, 0);
    free(saved);
    free(tasks);
    free(c);
    free(v);
    return st;
}

clg_status clg_kind_tune(clg_kind *k) {
    return tune_kind(k);
}

/* Steps of the first registered plan with replay on and off, interleaved; the medians. */
static clg_status tune_replay(clg_planner *p) {
    double t[2][REPLAY_ROUNDS * REPLAY_STEPS];
    clg_status st = CLG_OK;
    for (int r = 0; r < REPLAY_ROUNDS && st == CLG_OK; r++)
        for (int k = 0; k < 2 && st == CLG_OK; k++) {
            const int on = (r + k) & 1;
            st = clg_planner_select_replay(p, on);
            if (st == CLG_OK) st = clg_plan_execute(p->replay_plans[0]);
            for (int i = 0; i < REPLAY_STEPS && st == CLG_OK; i++) {
                double t0 = clg_now_ns();
                st = clg_plan_execute(p->replay_plans[0]);
                t[on][r * REPLAY_STEPS + i] = clg_now_ns() - t0;
            }
        }
    if (st != CLG_OK) {
        clg_planner_select_replay(p, 0);
        return st;
    }
    const double off = clg_median(t[0], REPLAY_ROUNDS * REPLAY_STEPS);
    const double on = clg_median(t[1], REPLAY_ROUNDS * REPLAY_STEPS);
    const int use = on < REPLAY_MARGIN * off;
    if ((st = clg_planner_select_replay(p, use)) != CLG_OK) return st;
    p->replay.tuned = 1;
    p->replay.best_ns = use ? on : off;
    p->replay.runner_ns = use ? off : on;
    return CLG_OK;
}

clg_status clg_planner_tune_replay(clg_planner *p) {
    return p->n_replay && has_replay(p) ? tune_replay(p) : CLG_OK;
}

clg_status clg_planner_tune(clg_planner *p) {
    clg_status st = CLG_OK;
    for (size_t i = 0; i < p->n && st == CLG_OK; i++)
        st = tune_kind(p->kinds[i]);
    return st == CLG_OK ? clg_planner_tune_replay(p) : st;
}

/* ---- plan cache ----------------------------------------------------------------- */

static clg_status cache_path(const clg_planner *p, const char *dir, const char *key, char *buf,
                             size_t cap) {
    const clg_device_info *d = &p->ctx->info;
    uint64_t h = clg_hash_str(CLG_HASH_INIT, PLAN_MAGIC);
    h = clg_hash_str(h, d->device_name);
    h = clg_hash_str(h, d->driver_version);
    h = clg_hash_str(h, d->platform_version);
    h = clg_hash_str(h, key ? key : "");
    for (size_t i = 0; i < p->n; i++) {
        const clg_kind *k = p->kinds[i];
        const char *parts[] = {"|", k->name,
                               "|", k->file,
                               "|", k->options,
                               "|", k->ty ? k->ty : "",
                               "|", k->variants ? k->variants : ""};
        for (size_t j = 0; j < sizeof parts / sizeof parts[0]; j++)
            h = clg_hash_str(h, parts[j]);
        h = clg_hash(h, &k->source_hash, sizeof k->source_hash);
        h = clg_hash(h, &k->items, sizeof k->items);
        h = clg_hash(h, &k->n_slots, sizeof k->n_slots);
        for (size_t a = 0; a < k->n_alts; a++)
            h = clg_hash_str(h, k->alts[a].name);
    }
    h = clg_hash(h, &p->n_replay, sizeof p->n_replay);
    if ((size_t)snprintf(buf, cap, "%s/%016llx.plan", dir, (unsigned long long)h) >= cap)
        return clg_fail(CLG_ERR_INVALID_ARG, "plan cache folder name too long (%zu bytes)",
                        strlen(dir));
    return CLG_OK;
}

static const char *cache_dir(const clg_planner *p, const char *dir) {
    return dir ? (*dir ? dir : NULL) : clg_context_cache_dir(p->ctx);
}

/* The file: the magic line, "kind NAME VARIANT VALUE ALTERNATIVE BEST_NS RUNNER_NS" per kind
 * in the planner's order (ALTERNATIVE "-" for none; times -1 when not measured, which marks
 * the choice untuned), then optionally "replay ON ON_NS OFF_NS". A clg_write_fn. */
static clg_status write_plan(void *user, FILE *f) {
    const clg_planner *p = user;
    fprintf(f, "%s\n", PLAN_MAGIC);
    for (size_t i = 0; i < p->n; i++) {
        const clg_choice *c = &p->kinds[i]->choice;
        fprintf(f, "kind %s %s %d %s %.0f %.0f\n", p->kinds[i]->name, c->variant, c->value,
                *c->alternative ? c->alternative : "-", c->tuned ? c->best_ns : -1,
                c->tuned ? c->runner_ns : -1);
    }
    if (p->replay.tuned)
        fprintf(f, "replay %d %.0f %.0f\n", !strcmp(p->replay.variant, "on"),
                !strcmp(p->replay.variant, "on") ? p->replay.best_ns : p->replay.runner_ns,
                !strcmp(p->replay.variant, "on") ? p->replay.runner_ns : p->replay.best_ns);
    return CLG_OK;
}

/* Atomically (clg_file_write_atomic); a cache that cannot be written is a warning. */
clg_status clg_planner_save(clg_planner *p, const char *dir, const char *key) {
    if (!(dir = cache_dir(p, dir))) return CLG_OK;
    char path[1200];
    clg_status st = cache_path(p, dir, key, path, sizeof path);
    if (st != CLG_OK) return st;
    if (clg_file_write_atomic(path, "plan cache file", write_plan, p) != CLG_OK)
        clg_warn(p->ctx, "%s", clg_last_error());
    return CLG_OK;
}

/* Applies line `line` (kind k's); 0 with why[] filled when it does not fit. */
static int load_kind_line(clg_kind *k, const char *line, char *why, size_t cap) {
    char name[128], variant[32], alt[32];
    int value;
    double best, runner;
    if (sscanf(line, "kind %127s %31s %d %31s %lf %lf", name, variant, &value, alt, &best,
               &runner) != 6) {
        snprintf(why, cap, "expected 'kind %s VARIANT VALUE ALTERNATIVE BEST_NS RUNNER_NS'",
                 k->name);
        return 0;
    }
    if (strcmp(name, k->name)) {
        snprintf(why, cap, "kind '%s' where '%s' was expected", name, k->name);
        return 0;
    }
    if (value < 1) {
        snprintf(why, cap, "kind '%s': value %d (a local size or a swept value is >= 1)", name,
                 value);
        return 0;
    }
    if (clg_kind_select(k, variant, value, strcmp(alt, "-") ? alt : NULL) != CLG_OK) {
        snprintf(why, cap, "%s", clg_last_error());
        return 0;
    }
    k->choice.tuned = best >= 0;
    k->choice.best_ns = best;
    k->choice.runner_ns = runner;
    return 1;
}

clg_status clg_planner_load(clg_planner *p, const char *dir, const char *key, int *loaded) {
    *loaded = 0;
    if (!(dir = cache_dir(p, dir))) return CLG_OK;
    char path[1200], line[512], why[700] = "";
    clg_status st = cache_path(p, dir, key, path, sizeof path);
    if (st != CLG_OK) return st;
    FILE *f = fopen(path, "r");
    if (!f) return CLG_OK;
    int n_line = 1, ok = fgets(line, sizeof line, f) &&
                         !strncmp(line, PLAN_MAGIC, strlen(PLAN_MAGIC)) &&
                         line[strlen(PLAN_MAGIC)] == '\n';
    if (!ok) snprintf(why, sizeof why, "line 1 is not '%s' (another version's file)", PLAN_MAGIC);
    for (size_t i = 0; ok && i < p->n; i++) {
        n_line++;
        char w[600] = "";
        ok = fgets(line, sizeof line, f) != NULL;
        if (!ok)
            snprintf(w, sizeof w, "the file ends before kind '%s'", p->kinds[i]->name);
        else
            ok = load_kind_line(p->kinds[i], line, w, sizeof w);
        if (!ok) snprintf(why, sizeof why, "line %d: %s", n_line, w);
    }
    int on;
    double on_ns, off_ns;
    if (ok && fgets(line, sizeof line, f)) {
        n_line++;
        ok = sscanf(line, "replay %d %lf %lf", &on, &on_ns, &off_ns) == 3 && (on == 0 || on == 1);
        if (!ok)
            snprintf(why, sizeof why, "line %d: expected 'replay ON ON_NS OFF_NS'", n_line);
        else if (p->n_replay && has_replay(p)) {
            if (!(ok = clg_planner_select_replay(p, on) == CLG_OK))
                snprintf(why, sizeof why, "line %d: %s", n_line, clg_last_error());
            p->replay.tuned = 1;
            p->replay.best_ns = on ? on_ns : off_ns;
            p->replay.runner_ns = on ? off_ns : on_ns;
        }
    }
    fclose(f);
    if (!ok) {
        clg_warn(p->ctx, "ignoring the plan cache file %s: %s", path, why);
        return clg_planner_reset(p); /* a half-applied plan is not kept */
    }
    *loaded = 1;
    return CLG_OK;
}

/* ---- reading ------------------------------------------------------------------ */

size_t clg_planner_kind_count(const clg_planner *p) {
    return p->n;
}
clg_kind *clg_planner_kind(const clg_planner *p, size_t i) {
    return i < p->n ? p->kinds[i] : NULL;
}
const char *clg_kind_name(const clg_kind *k) {
    return k->name;
}
const clg_choice *clg_kind_choice(const clg_kind *k) {
    return &k->choice;
}

clg_kind *clg_planner_find_kind(const clg_planner *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->kinds[i]->name, name)) return p->kinds[i];
    return NULL;
}

clg_kind *clg_planner_task_kind(const clg_planner *p, const clg_task *t) {
    for (size_t i = 0; i < p->n; i++) {
        const clg_kind *k = p->kinds[i];
        for (size_t j = 0; j < k->n_tasks; j++)
            if (k->tasks[j].t == t) return p->kinds[i];
        for (size_t a = 0; a < k->n_alts; a++)
            for (size_t j = 0; j < k->alts[a].n; j++)
                if (k->alts[a].tasks[j] == t) return p->kinds[i];
    }
    return NULL;
}

clg_status clg_planner_replay_choice(const clg_planner *p, const clg_plan *plan, clg_choice *out) {
    for (size_t i = 0; i < p->n_replay; i++)
        if (p->replay_plans[i] == plan) {
            *out = p->replay;
            return CLG_OK;
        }
    return clg_fail(CLG_ERR_NOT_FOUND, "the planner does not choose the replay of this plan");
}
