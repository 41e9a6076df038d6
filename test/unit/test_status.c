/* clg_fail keeps the thread's last message: a message that wraps the one before it (an
 * argument that is clg_last_error() itself, as callers write "...: %s") comes out whole, also
 * when it outgrows the old one (under ASan, a use after free otherwise). */
#include <stdio.h>
#include <string.h>

#include "clgraph/runtime.h"
#include "test_common.h"

int main(void) {
    CHECK(clg_fail(CLG_ERR_FORMAT, "inner %d", 1) == CLG_ERR_FORMAT);
    CHECK(!strcmp(clg_last_error(), "inner 1"));
    char want[4096] = "inner 1";
    for (int i = 0; i < 6; i++) { /* each wrap longer than the buffer before it */
        char pad[400];
        memset(pad, 'x', sizeof pad - 1);
        pad[sizeof pad - 1] = 0;
        CHECK(clg_fail(CLG_ERR_UNSUPPORTED, "outer %s: %s", pad, clg_last_error()) ==
              CLG_ERR_UNSUPPORTED);
        char next[sizeof want];
        const size_t len = strlen(want) + 1;
        memcpy(next, want, len);
        memcpy(want, "outer ", 6);
        memcpy(want + 6, pad, sizeof pad - 1);
        memcpy(want + 6 + sizeof pad - 1, ": ", 2);
        memcpy(want + 8 + sizeof pad - 1, next, len);
        CHECK(!strcmp(clg_last_error(), want));
    }
    return tc_finish("unit.status");
}
