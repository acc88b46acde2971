/* Makes N cheap system calls (getppid): floods syscall tracepoints to test ring overflow (LOST) and to measure
 * how fast a recorder drains. With a rate, the calls are paced to about that many per second.
 * Usage: syscall_flood [calls] [calls_per_second]   (default 1000000 calls, as fast as possible) */
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    double rate = argc > 2 ? atof(argv[2]) : 0;
    double start = now_s();
    for (long i = 0; i < n; i++) {
        syscall(SYS_getppid);
        /* Pace in batches of 64 calls: busy-wait until the schedule catches up. */
        if (rate > 0 && (i & 63) == 63)
            while (now_s() - start < (i + 1) / rate) { }
    }
    return 0;
}
