/* Software-PT sample: system calls in a loop (each one leaves and re-enters user mode).
 * Usage: syscalls [COUNT] (default 200). Prints "syscalls COUNT"; exits 3. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

volatile long sink;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200;
    for (int i = 0; i < n; i++) sink += getppid();
    printf("syscalls %d\n", n);
    return 3;
}
