/* Spends its time in the vDSO: clock_gettime(CLOCK_MONOTONIC) never enters the kernel.
 * Usage: vdso_clock [calls]   (default 20000000) */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    struct timespec ts;
    for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
    return 0;
}
