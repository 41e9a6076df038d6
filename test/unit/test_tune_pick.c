/* The tuner's choice given fixed timings: fastest wins, first on ties, failed (-1)
 * candidates never win, all failed -> n; candidate 0 (the incumbent) is replaced only by
 * one at least CLG_TUNE_MARGIN and CLG_TUNE_MIN_GAIN_NS faster. */
#include "clgraph/planner.h"
#include "test_common.h"

int main(void) {
    double a[] = {5e4, 3e4, 4e4};
    CHECK(clg_tune_pick(a, 3) == 1);
    double ties[] = {7e4, 2e4, 2e4, 9e4};
    CHECK(clg_tune_pick(ties, 4) == 1);
    double failed[] = {-1.0, 8e4, -1.0, 6e4};
    CHECK(clg_tune_pick(failed, 4) == 3);
    double none[] = {-1.0, -1.0};
    CHECK(clg_tune_pick(none, 2) == 2);
    double zero[] = {1e4, 0.0};
    CHECK(clg_tune_pick(zero, 2) == 1);
    /* microsecond kernels: 20% faster but only 1 us gained keeps the incumbent */
    double tiny[] = {5000.0, 4000.0};
    CHECK(clg_tune_pick(tiny, 2) == 0);
    CHECK(clg_tune_pick(a, 0) == 0);
    /* within the margin the incumbent stays; beyond it the faster one wins */
    double close[] = {1e6, 0.98e6, 0.99e6};
    CHECK(clg_tune_pick(close, 3) == 0);
    double clear[] = {1e6, 0.96e6, 0.99e6};
    CHECK(clg_tune_pick(clear, 3) == 1);
    double inc_failed[] = {-1.0, 98.0, 99.0};
    CHECK(clg_tune_pick(inc_failed, 3) == 1);
    return tc_finish("tune_pick");
}
