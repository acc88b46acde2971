/* A multi-threaded program: N worker threads spin in worker_spin() until the time is up.
 * Usage: threads [threads] [milliseconds]   (default 4 threads, 10000 ms); prints "ready" when all run. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double deadline;
volatile unsigned long sink;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) void worker_spin(void) {
    for (int i = 0; i < 100000; i++) sink += i;
}

static void *worker(void *arg) {
    (void)arg;
    while (now_ms() < deadline) worker_spin();
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    double ms = argc > 2 ? atof(argv[2]) : 10000;
    deadline = now_ms() + ms;
    pthread_t t[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
    printf("ready\n");
    fflush(stdout);
    worker(NULL);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return 0;
}
