/* Makes N cheap system calls as fast as it can: floods syscall tracepoints to test ring overflow (LOST).
 * Usage: syscall_flood [calls]   (default 1000000) */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    return 0;
}
