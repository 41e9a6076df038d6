/* What waking a sleeping thread on another CPU costs on this machine: the cost a CPU
 * driver's worker pays at a kernel boundary when the other worker has gone to sleep (PoCL's
 * pthread device: the worker that finishes a command signals the pool's condition variable).
 *
 * Usage: wake_latency [ROUNDS]   (default 200 per case)
 * Thread A (CPU 0) spins for a while, so that thread B (CPU 1) has been blocked on a
 * condition variable that long, then signals it. Printed per idle time: the mean time A
 * spends inside pthread_cond_signal, and the mean time from A's signal until B runs.
 * Where an idle virtual CPU halts at once (cpuidle haltpoll with guest_halt_poll_ns=0),
 * the signal is an inter-processor interrupt that exits to the hypervisor. Needs 2 CPUs. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go, quit;  /* under mu */
static double t_woke; /* under mu: when B last woke (us) */

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *waiter(void *arg) {
    (void)arg;
    pin(1);
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!go && !quit)
            pthread_cond_wait(&cv, &mu);
        if (quit) break;
        t_woke = now_us();
        go = 0;
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 200;
    if (rounds < 1 || pin(0)) {
        fprintf(stderr, "usage: wake_latency [ROUNDS]  (needs CPUs 0 and 1)\n");
        return 2;
    }
    pthread_t b;
    if (pthread_create(&b, NULL, waiter, NULL)) return 1;
    const double idle[] = {50, 200, 1000, 5000};
    for (size_t i = 0; i < sizeof idle / sizeof *idle; i++) {
        double in_signal = 0, to_run = 0;
        for (int r = 0; r < rounds; r++) {
            double t0 = now_us();
            while (now_us() - t0 < idle[i]) { /* B sleeps meanwhile */
            }
            pthread_mutex_lock(&mu);
            go = 1;
            double a = now_us();
            pthread_cond_signal(&cv);
            in_signal += now_us() - a;
            pthread_mutex_unlock(&mu);
            for (int done = 0; !done;) { /* until B has taken it */
                pthread_mutex_lock(&mu);
                done = !go;
                if (done) to_run += t_woke - a;
                pthread_mutex_unlock(&mu);
            }
        }
        printf("B asleep %5.0f us: pthread_cond_signal %5.2f us, until B runs %5.2f us\n", idle[i],
               in_signal / rounds, to_run / rounds);
    }
    pthread_mutex_lock(&mu);
    quit = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(b, NULL);
    return 0;
}
