/* Three functions doing the same loop 1, 2 and 3 times as often, called in turn from main, so a profiler must
 * give work_1x, work_2x and work_3x shares in proportion 1:2:3 (about 1/6, 2/6 and 3/6 of the samples).
 * Usage: work_ratio [milliseconds]   (default 500) */
#include <stdlib.h>
#include <time.h>

#define UNIT 100000UL

volatile unsigned long sink;

__attribute__((noinline)) void work_1x(void) {
    for (unsigned long i = 0; i < 1 * UNIT; i++) sink += i * 7;
}

__attribute__((noinline)) void work_2x(void) {
    for (unsigned long i = 0; i < 2 * UNIT; i++) sink += i * 7;
}

__attribute__((noinline)) void work_3x(void) {
    for (unsigned long i = 0; i < 3 * UNIT; i++) sink += i * 7;
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
        work_1x();
        work_2x();
        work_3x();
    }
    return 0;
}
