/* Status names and the thread-local error message behind clg_last_error(). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgraph/runtime.h"

/* Messages can hold a whole build log, so the buffer grows as needed. */
static _Thread_local char *err_buf;

const char *clg_status_str(clg_status st) {
    switch (st) {
    case CLG_OK:
        return "CLG_OK";
    case CLG_ERR_INVALID_ARG:
        return "CLG_ERR_INVALID_ARG";
    case CLG_ERR_NOT_FOUND:
        return "CLG_ERR_NOT_FOUND";
    case CLG_ERR_OPENCL:
        return "CLG_ERR_OPENCL";
    case CLG_ERR_BUILD:
        return "CLG_ERR_BUILD";
    case CLG_ERR_OUT_OF_MEMORY:
        return "CLG_ERR_OUT_OF_MEMORY";
    case CLG_ERR_UNSUPPORTED:
        return "CLG_ERR_UNSUPPORTED";
    case CLG_ERR_IO:
        return "CLG_ERR_IO";
    case CLG_ERR_FORMAT:
        return "CLG_ERR_FORMAT";
    case CLG_ERR_INTERRUPTED:
        return "CLG_ERR_INTERRUPTED";
    }
    return "CLG_ERR_UNKNOWN";
}

const char *clg_last_error(void) {
    return err_buf ? err_buf : "";
}

clg_status clg_fail(clg_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return st;
    /* A new buffer, freed only after formatting: an argument may be clg_last_error() itself
     * (a message that wraps the one before it). */
    char *p = malloc((size_t)n + 1);
    if (!p) return st; /* keep the old message rather than none */
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    free(err_buf);
    err_buf = p;
    return st;
}
