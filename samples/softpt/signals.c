/* Software-PT sample: signal delivery.
 *   signals        raise(SIGUSR1) and kill(getpid(), SIGUSR1) run on_usr1; then poke(NULL) faults and the
 *                  SIGSEGV handler on_segv siglongjmps out. Prints "usr1 N segv 1"; exits 0.
 *   signals die    poke(NULL) with no handler: the process dies by SIGSEGV (exit status 139). */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_count;
static sigjmp_buf env;

__attribute__((noinline)) void on_usr1(int sig) { (void)sig; usr1_count++; }

__attribute__((noinline)) void on_segv(int sig) { (void)sig; siglongjmp(env, 1); }

/* The store faults when p is NULL: that instruction never executes. */
__attribute__((noinline)) void poke(volatile int *p) { *p = 1; }

int main(int argc, char **argv) {
    volatile int *volatile nowhere = NULL;
    if (argc > 1 && strcmp(argv[1], "die") == 0) {
        poke(nowhere);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);

    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    volatile int faulted = sigsetjmp(env, 1);
    if (!faulted) poke(nowhere);
    printf("usr1 %d segv %d\n", (int)usr1_count, (int)faulted);
    return 0;
}
