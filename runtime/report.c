/* The writers behind the reports (clgraph/report.h): JSON string literals that are valid
 * whatever the bytes, and files replaced atomically. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clgraph/report.h"

/* ---- JSON strings ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid: overlong forms,
 * surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len = c < 0x80             ? 1
                 : (c & 0xe0) == 0xc0 ? 2
                 : (c & 0xf0) == 0xe0 ? 3
                 : (c & 0xf8) == 0xf0 ? 4
                                      : 0;
    if (!len || len > n) return 0;
    unsigned cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

void clg_json_str_n(FILE *f, const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
        } else if (c >= 0x80) {
            size_t len = utf8_len(s + i, n - i);
            if (!len) {
                fputs("\\ufffd", f);
                i++;
                continue;
            }
            fwrite(s + i, 1, len, f);
            i += len;
            continue;
        } else {
            fputc((int)c, f);
        }
        i++;
    }
    fputc('"', f);
}

void clg_json_str(FILE *f, const char *s) {
    clg_json_str_n(f, s, strlen(s));
}

/* ---- files replaced atomically -------------------------------------------------- */

clg_status clg_file_check_output(const char *path, const char *what, const char *input) {
    struct stat out, in;
    if (!path || !*path) return clg_fail(CLG_ERR_INVALID_ARG, "no file named for the %s", what);
    if (stat(path, &out) != 0) return CLG_OK; /* a new path (its folder is checked on creation) */
    if (!S_ISREG(out.st_mode))
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "refusing to write the %s to %s: it exists and is not a regular file (the "
                        "file is replaced by renaming a temporary one over it)",
                        what, path);
    /* device and inode: the same file through a link or another spelling of its path */
    if (input && stat(input, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
        return clg_fail(CLG_ERR_INVALID_ARG,
                        "refusing to write the %s to %s: it is the input file %s (name another "
                        "output)",
                        what, path, input);
    return CLG_OK;
}

clg_status clg_file_write_atomic(const char *path, const char *what, clg_write_fn fn, void *user) {
    static atomic_uint serial; /* temporary names unique within the process, too */
    clg_status check = clg_file_check_output(path, what, NULL);
    if (check != CLG_OK) return check;
    size_t cap = strlen(path) + 48;
    char *tmp = malloc(cap);
    if (!tmp) return clg_fail(CLG_ERR_OUT_OF_MEMORY, "writing the %s to %s", what, path);
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 16; tries++) {
        snprintf(tmp, cap, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&serial, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666); /* 0666 & ~umask, like fopen */
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        clg_status st = clg_fail(CLG_ERR_IO, "cannot write the %s to %s: creating %s: %s", what,
                                 path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        clg_status st =
            clg_fail(CLG_ERR_IO, "cannot write the %s to %s: %s", what, path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return st;
    }
    clg_status st = fn(user, f);
    int bad = ferror(f);
    int err = bad ? errno : 0;
    if (fclose(f) && !bad) {
        bad = 1;
        err = errno;
    }
    if (st == CLG_OK && bad)
        st = clg_fail(CLG_ERR_IO, "writing the %s to %s failed: %s", what, path, strerror(err));
    if (st == CLG_OK && rename(tmp, path) != 0)
        st = clg_fail(CLG_ERR_IO, "cannot write the %s to %s: renaming %s over it: %s", what, path,
                      tmp, strerror(errno));
    if (st != CLG_OK) unlink(tmp);
    free(tmp);
    return st;
}
