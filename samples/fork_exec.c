/* Forks; the child execs this same program in "child" mode; both spin for a while, then the parent waits.
 * Exercises FORK, COMM (exec), EXIT records and samples in two processes.
 * Usage: fork_exec [milliseconds]   (default 300) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long sink;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) void parent_spin(double ms) {
    double end = now_ms() + ms;
    while (now_ms() < end) for (int i = 0; i < 10000; i++) sink += i;
}

__attribute__((noinline)) void child_spin(double ms) {
    double end = now_ms() + ms;
    while (now_ms() < end) for (int i = 0; i < 10000; i++) sink ^= i;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "child") == 0) {
        child_spin(atof(argv[2]));
        return 7;
    }
    const char *ms = argc > 1 ? argv[1] : "300";
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "fork_exec_child", "child", ms, (char *)NULL);
        _exit(127);
    }
    parent_spin(atof(ms));
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : 1;
}
