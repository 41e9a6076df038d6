/* Command-line values the clgraph commands share the parsing of. */
#ifndef CLGRAPH_APPS_ARGS_H
#define CLGRAPH_APPS_ARGS_H

#include <stdint.h>

/* What --seed takes, for messages. */
#define APP_SEED_RANGE "a whole number from 0 to 18446744073709551615"

/* Parses a --seed value: decimal digits only (no sign, no spaces), 0 .. UINT64_MAX, into
 * *seed; with random != NULL also "-1", which asks for a random seed (*random = 1, as
 * llama.cpp's -1). Returns 1, or 0 for anything else, an overflowing number included. */
int app_parse_seed(const char *s, uint64_t *seed, int *random);

#endif
