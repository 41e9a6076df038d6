/* The @variant declarations of kernel files (see runtime.h): the planner's candidates
 * are data next to the kernels, not tables in the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* Copies the n characters at s into dst[cap] (NUL-terminated); 0 when they do not fit. */
static int copy_word(char *dst, size_t cap, const char *s, size_t n) {
    if (n == 0 || n >= cap) return 0;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 1;
}

/* A comma list of positive integers into v[CLG_VARIANT_MAX]; 0 on anything else. */
static int parse_numbers(const char *s, size_t n, long *v, unsigned *count) {
    *count = 0;
    for (size_t i = 0; i < n;) {
        char *end;
        long x = strtol(s + i, &end, 10);
        size_t used = (size_t)(end - (s + i));
        if (used == 0 || x < 1 || *count == CLG_VARIANT_MAX || i + used > n) return 0;
        v[(*count)++] = x;
        i += used;
        if (i < n && s[i++] != ',') return 0;
        if (i == n && s[n - 1] == ',') return 0;
    }
    return *count > 0;
}

/* One field "key=value" of a declaration. */
static int parse_field(clg_variant *v, const char *s, size_t n) {
    const char *eq = memchr(s, '=', n);
    if (!eq) return 0;
    size_t kn = (size_t)(eq - s), vn = n - kn - 1;
    const char *val = eq + 1;
    long num[CLG_VARIANT_MAX];
    unsigned cnt;
    if (kn == 7 && !memcmp(s, "kernels", 7)) {
        v->n_kernels = 0;
        for (size_t i = 0; i < vn;) {
            const char *c = memchr(val + i, ',', vn - i);
            size_t len = c ? (size_t)(c - (val + i)) : vn - i;
            if (v->n_kernels == 4 ||
                !copy_word(v->kernels[v->n_kernels++], sizeof v->kernels[0], val + i, len))
                return 0;
            i += len + (c != NULL);
            if (c && i == vn) return 0;
        }
        return v->n_kernels > 0;
    }
    if (kn == 5 && !memcmp(s, "local", 5)) {
        if (vn && (val[0] < '0' || val[0] > '9')) { /* the swept define's value */
            char def[32];
            if (!copy_word(def, sizeof def, val, vn) || (*v->sweep && strcmp(def, v->sweep)))
                return 0;
            strcpy(v->sweep, def);
            v->n_local = 0;
            return 1;
        }
        if (!parse_numbers(val, vn, num, &cnt)) return 0;
        for (unsigned i = 0; i < cnt; i++)
            v->local[i] = (size_t)num[i];
        v->n_local = cnt;
        return 1;
    }
    if (kn == 5 && !memcmp(s, "sweep", 5)) {
        const char *colon = memchr(val, ':', vn);
        if (!colon) return 0;
        size_t dn = (size_t)(colon - val);
        char def[32];
        if (!copy_word(def, sizeof def, val, dn) || (*v->sweep && strcmp(def, v->sweep))) return 0;
        strcpy(v->sweep, def);
        if (!parse_numbers(colon + 1, vn - dn - 1, num, &cnt)) return 0;
        for (unsigned i = 0; i < cnt; i++)
            v->values[i] = (int)num[i];
        v->n_values = cnt;
        return 1;
    }
    if (kn == 6 && !memcmp(s, "device", 6))
        return vn == 3 &&
               (!memcmp(val, "cpu", 3) || !memcmp(val, "gpu", 3) || !memcmp(val, "any", 3)) &&
               copy_word(v->device, sizeof v->device, val, vn);
    if (kn == 3 && !memcmp(s, "fit", 3)) {
        if (!parse_numbers(val, vn, num, &cnt) || cnt != 3 || num[1] > num[2]) return 0;
        for (unsigned i = 0; i < 3; i++)
            v->fit[i] = (unsigned)num[i];
        return 1;
    }
    return 0;
}

clg_status clg_variants_parse(const char *name, const char *source, clg_variant *out, size_t cap,
                              size_t *n) {
    static const char tag[] = "@variant";
    *n = 0;
    int line = 1;
    for (const char *p = source; *p; p++) {
        if (*p == '\n') line++;
        if (strncmp(p, tag, sizeof tag - 1) ||
            (p[sizeof tag - 1] != ' ' && p[sizeof tag - 1] != '\t'))
            continue;
        if (*n == cap)
            return clg_fail(CLG_ERR_FORMAT, "%s:%d: more than %zu @variant declarations", name,
                            line, cap);
        clg_variant *v = &out[*n];
        memset(v, 0, sizeof *v);
        const char *s = p + sizeof tag - 1, *end = s + strcspn(s, "\n");
        int first = 1, ok = 1;
        while (ok) {
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            size_t len = 0;
            while (s + len < end && s[len] != ' ' && s[len] != '\t')
                len++;
            if (len == 0) break;
            ok = first ? copy_word(v->name, sizeof v->name, s, len) : parse_field(v, s, len);
            first = 0;
            s += len;
        }
        /* a variant needs kernels, and a sweep whose define is the local size needs values */
        if (!ok || first || v->n_kernels == 0 || (*v->sweep && v->n_values == 0) ||
            (!*v->sweep && v->n_local == 0))
            return clg_fail(
                CLG_ERR_FORMAT,
                "%s:%d: malformed @variant declaration '%.*s' (expected NAME kernels=K[,K] "
                "local=N[,N]|DEFINE [sweep=DEFINE:V[,V]] [device=cpu|gpu|any] [fit=G,M,MAX])",
                name, line, (int)(end - p), p);
        (*n)++;
        p = end - 1;
    }
    return CLG_OK;
}

clg_status clg_program_variants(const clg_program *prog, clg_variant *out, size_t cap, size_t *n) {
    return clg_variants_parse(prog->key, prog->source, out, cap, n);
}
