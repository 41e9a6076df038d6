/* The environment variables of the clgraph CLI (see apps/env.h). */
#include "apps/env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char app_env_help[] =
    "  CLGRAPH_DEVICE        device selector where --device is not given (see --device)\n"
    "  CLGRAPH_BUILD         how programs are built: source, spirv or auto (default)\n"
    "  CLGRAPH_CACHE_DIR     program and plan cache (default $XDG_CACHE_HOME/clgraph/programs,\n"
    "                        else $HOME/.cache/clgraph/programs; empty: no cache)\n"
    "  CLGRAPH_KERNEL_DIR    load cl/*.cl from this folder instead of the embedded copies\n"
    "  CLGRAPH_PREFILL_GEMM  prefill products: auto (the planner times CLBlast against the own\n"
    "                        kernels), own (never CLBlast) or clblast (wherever offered)\n"
    "  CLGRAPH_REPLAY        replay recorded decode steps: on or off (default: as planned)\n";

int app_build_from_name(const char *name) {
    if (!strcasecmp(name, "source")) return CLG_BUILD_SOURCE;
    if (!strcasecmp(name, "spirv")) return CLG_BUILD_SPIRV;
    if (!strcasecmp(name, "auto")) return CLG_BUILD_AUTO;
    return -1;
}

/* The value of a set, non-empty variable, else NULL. */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int bad(const char *cmd, const char *name, const char *value, const char *expected) {
    fprintf(stderr, "clgraph %s: %s='%s': expected %s\n", cmd, name, value, expected);
    return 2;
}

/* $CLGRAPH_CACHE_DIR as given ("" included), else the XDG or home default; NULL if none.
 * A folder name longer than the runtime takes (CLG_CACHE_DIR_MAX) is refused naming the
 * variable it came from: cut, it would name another folder. */
static int cache_dir(const char **out, const char *cmd) {
    static char buf[CLG_CACHE_DIR_MAX + 1];
    const char *v, *name = "CLGRAPH_CACHE_DIR";
    int n = 0;
    *out = NULL;
    if ((v = getenv(name)))
        n = snprintf(buf, sizeof buf, "%s", v);
    else if ((v = env(name = "XDG_CACHE_HOME")))
        n = snprintf(buf, sizeof buf, "%s/clgraph/programs", v);
    else if ((v = env(name = "HOME")))
        n = snprintf(buf, sizeof buf, "%s/.cache/clgraph/programs", v);
    else
        return 0;
    if (n < 0 || (size_t)n >= sizeof buf) {
        fprintf(stderr,
                "clgraph %s: %s is too long: the cache folder would be %d bytes, at most %d are "
                "taken\n",
                cmd, name, n, CLG_CACHE_DIR_MAX);
        return 2;
    }
    *out = buf;
    return 0;
}

int app_env_context_options(clg_context_options *o, const char *cmd) {
    const char *v;
    if ((v = env("CLGRAPH_DEVICE"))) o->device = v;
    if ((v = env("CLGRAPH_BUILD"))) {
        int mode = app_build_from_name(v);
        if (mode < 0) return bad(cmd, "CLGRAPH_BUILD", v, "source, spirv or auto");
        o->build = (clg_build_mode)mode;
    }
    if (cache_dir(&v, cmd)) return 2;
    if (v) o->cache_dir = v;
    if ((v = env("CLGRAPH_KERNEL_DIR"))) o->kernel_dir = v;
    return 0;
}

static void warn_stderr(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "clgraph: warning: %s\n", message);
}

int app_env_model_options(llm_model_options *o, const char *cmd) {
    clg_context_options c = clg_context_options_default();
    c.device = o->device;
    c.build = o->build;
    c.cache_dir = o->cache_dir;
    c.kernel_dir = o->kernel_dir;
    int rc = app_env_context_options(&c, cmd);
    if (rc) return rc;
    o->device = c.device;
    o->build = c.build;
    o->cache_dir = c.cache_dir;
    o->kernel_dir = c.kernel_dir;

    const char *v;
    if ((v = env("CLGRAPH_PREFILL_GEMM"))) {
        if (!strcasecmp(v, "auto"))
            o->prefill_gemm = LLM_GEMM_AUTO;
        else if (!strcasecmp(v, "own"))
            o->prefill_gemm = LLM_GEMM_OWN;
        else if (!strcasecmp(v, "clblast"))
            o->prefill_gemm = LLM_GEMM_CLBLAST;
        else
            return bad(cmd, "CLGRAPH_PREFILL_GEMM", v, "auto, own or clblast");
    }
    if ((v = env("CLGRAPH_REPLAY"))) {
        if (!strcasecmp(v, "on") || !strcmp(v, "1"))
            o->replay = 1;
        else if (!strcasecmp(v, "off") || !strcmp(v, "0"))
            o->replay = 0;
        else
            return bad(cmd, "CLGRAPH_REPLAY", v, "on or off");
    }
    o->warn = warn_stderr;
    o->warn_user = NULL;
    return 0;
}
