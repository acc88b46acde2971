/* Software-PT sample: two threads. Each prints "thread TID" (the worker first, then main after joining it);
 * main prints "main PID TID" first. Exits 0. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

volatile unsigned long sink;

__attribute__((noinline)) void spin(int n) { for (int i = 0; i < n; i++) sink += i; }

static void *worker(void *arg) {
    (void)arg;
    spin(1000);
    printf("thread %ld\n", (long)syscall(SYS_gettid));
    return NULL;
}

int main(void) {
    printf("main %d %ld\n", (int)getpid(), (long)syscall(SYS_gettid));
    fflush(stdout);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    spin(1000);
    pthread_join(t, NULL);
    printf("thread %ld\n", (long)syscall(SYS_gettid));
    return 0;
}
