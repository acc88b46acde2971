/* Software-PT sample: fork, then the child execs another program.
 * Usage: fork_exec PROGRAM [ARGS...]. Prints "parent PID" and "child PID" (the child's pid, from the parent) and
 * "status S" (the child's exit code); exits with the child's exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: fork_exec PROGRAM [ARGS...]\n"); return 2; }
    printf("parent %d\n", (int)getpid());
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
    }
    printf("child %d\n", (int)pid);
    fflush(stdout);
    int status = 0;
    waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("status %d\n", code);
    return code;
}
