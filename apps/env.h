/* The environment variables the clgraph CLI honours, read in this one place: the libraries
 * read none, so each becomes a field of clg_context_options or llm_model_options here. The
 * commands apply these first and their own options (--device, --build) after them. */
#ifndef CLGRAPH_APPS_ENV_H
#define CLGRAPH_APPS_ENV_H

#include "clgraph/llm.h"
#include "clgraph/runtime.h"

/* One line per variable, for clgraph --help. */
extern const char app_env_help[];

/* "source", "spirv" or "auto" (any case) to CLG_BUILD_*; -1 for anything else. For
 * $CLGRAPH_BUILD and --build alike. */
int app_build_from_name(const char *name);

/* Sets o's device, build, cache_dir and kernel_dir from $CLGRAPH_DEVICE, $CLGRAPH_BUILD,
 * $CLGRAPH_CACHE_DIR (else $XDG_CACHE_HOME/clgraph/programs, else
 * ~/.cache/clgraph/programs; "" disables the cache; longer than CLG_CACHE_DIR_MAX is a bad
 * value) and $CLGRAPH_KERNEL_DIR; unset ones
 * leave the field alone. The strings stay valid for the process. Returns 0, or on a bad
 * value prints "clgraph CMD: ..." on stderr and returns 2 (the exit code). */
int app_env_context_options(clg_context_options *o, const char *cmd);

/* The same fields of a model's options, plus prefill_gemm from $CLGRAPH_PREFILL_GEMM
 * (auto|own|clblast), replay from $CLGRAPH_REPLAY (on|off; unset leaves the default -1,
 * the planner's choice), and warn printing "clgraph: warning: MESSAGE" on stderr. */
int app_env_model_options(llm_model_options *o, const char *cmd);

#endif
