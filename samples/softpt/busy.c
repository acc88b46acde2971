/* Software-PT sample for throughput: N iterations of a small loop with calls (about 9 instructions each).
 * Usage: busy [N] (default 100000). Prints "busy N"; exits 0. */
#include <stdio.h>
#include <stdlib.h>

volatile unsigned long sink;

__attribute__((noinline)) unsigned long mix(unsigned long x) { return x * 2654435761u ^ (x >> 7); }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    for (long i = 0; i < n; i++) sink += mix(i);
    printf("busy %ld\n", n);
    return 0;
}
