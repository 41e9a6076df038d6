/* Minimal JSON writing for the CLI's --json outputs. */
#ifndef CLGRAPH_APPS_JSON_H
#define CLGRAPH_APPS_JSON_H
#include <stddef.h>
#include <stdio.h>

/* Writes s (n bytes) as a JSON string literal with escapes. */
void json_str_n(FILE *f, const char *s, size_t n);
void json_str(FILE *f, const char *s);
#endif
