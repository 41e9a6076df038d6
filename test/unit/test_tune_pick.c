/* The tuner's choice given fixed timings: fastest wins, first on ties, failed (-1)
 * candidates never win, all failed -> n; candidate 0 (the incumbent) is replaced only by
 * one at least CLG_TUNE_MARGIN faster. */
#include "test_common.h"

int main(void) {
    double a[] = {5.0, 3.0, 4.0};
    CHECK(clg_tune_pick(a, 3) == 1);
    double ties[] = {7.0, 2.0, 2.0, 9.0};
    CHECK(clg_tune_pick(ties, 4) == 1);
    double failed[] = {-1.0, 8.0, -1.0, 6.0};
    CHECK(clg_tune_pick(failed, 4) == 3);
    double none[] = {-1.0, -1.0};
    CHECK(clg_tune_pick(none, 2) == 2);
    double zero[] = {1.0, 0.0};
    CHECK(clg_tune_pick(zero, 2) == 1);
    CHECK(clg_tune_pick(a, 0) == 0);
    /* within the margin the incumbent stays; beyond it the faster one wins */
    double close[] = {100.0, 98.0, 99.0};
    CHECK(clg_tune_pick(close, 3) == 0);
    double clear[] = {100.0, 96.0, 99.0};
    CHECK(clg_tune_pick(clear, 3) == 1);
    double inc_failed[] = {-1.0, 98.0, 99.0};
    CHECK(clg_tune_pick(inc_failed, 3) == 1);
    return tc_finish("tune_pick");
}
