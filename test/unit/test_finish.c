/* tc_finish (test/test_common.c): a test that asserted nothing fails, as does one with a
 * failed check; only checks that ran and held pass. */
#include "test_common.h"

int main(void) {
    printf("expected below: a test with no checks is reported and fails\n");
    int none = tc_finish("finish.none");

    CHECK(1 + 1 == 2);
    int ok = tc_finish("finish.one");

    int saved = tc_failures;
    CHECK(1 + 1 == 3); /* expected to fail */
    int failed = tc_finish("finish.failed");
    tc_failures = saved;

    CHECK(none == 1);
    CHECK(ok == 0);
    CHECK(failed == 1);
    return tc_finish("finish");
}
