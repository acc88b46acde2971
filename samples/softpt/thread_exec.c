/* Software-PT sample: a second thread calls execv while the main thread waits in pthread_join; the kernel gives
 * the exec'ing thread the leader's tid and ends the others. Usage: thread_exec PROGRAM [ARGS...]. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static char **args;

static void *run(void *arg) {
    (void)arg;
    execv(args[0], args);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: thread_exec PROGRAM [ARGS...]\n"); return 2; }
    args = argv + 1;
    pthread_t t;
    pthread_create(&t, NULL, run, NULL);
    pthread_join(t, NULL);
    return 1;   /* not reached when the exec succeeds */
}
