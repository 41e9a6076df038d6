/* Command-line values the clgraph commands share the parsing of (apps/args.h). */
#include "apps/args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int app_parse_seed(const char *s, uint64_t *seed, int *random) {
    if (random) *random = 0;
    if (random && !strcmp(s, "-1")) {
        *random = 1;
        return 1;
    }
    if (!*s || strspn(s, "0123456789") != strlen(s)) return 0; /* strtoull takes "-5", " 5" */
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v > UINT64_MAX) return 0;
    *seed = (uint64_t)v;
    return 1;
}
