/* Software-PT sample for attaching (record --soft-pt -p): runs until killed. Usage: counter FILE [THREADS].
 * The main thread and THREADS workers (at most 15) each count rounds of a small loop and sleep 1 ms every 16 rounds
 * (a blocking syscall to be seized in); every 16 rounds the main thread also writes the total of all counts to FILE,
 * as a fixed-width decimal at offset 0, so another process can watch it advance. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long sink;
static volatile unsigned long counts[16];

__attribute__((noinline)) static void spin(int n) { for (int i = 0; i < n; i++) sink += i; }

static void round_of(long slot) {
    static const struct timespec ms = {0, 1000000};
    spin(200);
    if ((++counts[slot] & 15) == 0) nanosleep(&ms, NULL);
}

static void *worker(void *arg) {
    for (;;) round_of((long)arg);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: counter FILE [THREADS]\n"); return 2; }
    long threads = argc > 2 ? atol(argv[2]) : 0;
    if (threads < 0 || threads > 15) threads = 15;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(argv[1]); return 1; }
    for (long i = 1; i <= threads; i++) {
        pthread_t t;
        pthread_create(&t, NULL, worker, (void *)i);
    }
    char text[32];
    for (;;) {
        round_of(0);
        if ((counts[0] & 15) == 0) {
            unsigned long total = 0;
            for (int i = 0; i <= threads; i++) total += counts[i];
            int n = snprintf(text, sizeof text, "%020lu\n", total);
            if (pwrite(fd, text, (size_t)n, 0) != n) return 1;
        }
    }
}
