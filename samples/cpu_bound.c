/* A CPU-bound program with one known hot function.
 * hot_spin() takes ~90% of the time, warm_spin() the rest, so a profiler must rank hot_spin first.
 * Usage: cpu_bound [milliseconds]   (default 500) */
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) void hot_spin(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink += i * 7;
}

__attribute__((noinline)) void warm_spin(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink ^= i;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    double ms = argc > 1 ? atof(argv[1]) : 500;
    double end = now_ms() + ms;
    while (now_ms() < end) {
        hot_spin(900000);
        warm_spin(100000);
    }
    return 0;
}
