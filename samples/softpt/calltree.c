/* Software-PT sample with a known call tree, meant for -O2 (it also builds at -O0):
 *   main -> outer(3) -> inner(3), leaf          outer twice (3, then 2): the same path twice
 *   main -> rec(3) -> rec(2) -> rec(1) -> rec(0) recursion
 *   main -> thrower(2) -> thrower(1) -> thrower(0) -> longjmp back into main (three frames unwound at once)
 *   main -> tail_caller -> (jmp) tail_target     at -O2 the last call of tail_caller is a jump: a tail call
 * Every function is noinline/noclone so each keeps its symbol. Prints "sum N"; exits 0. */
#include <setjmp.h>
#include <stdio.h>

static jmp_buf env;
volatile int sink;

#define KEEP __attribute__((noinline, noclone))

KEEP void inner(int n) { for (int i = 0; i < n; i++) sink += i; }
KEEP void leaf(void) { sink ^= 1; }
KEEP void outer(int n) { inner(n); leaf(); }

KEEP int rec(int n) {
    if (n == 0) return 0;
    int r = rec(n - 1) + 1;
    __asm__ volatile("" ::: "memory");  /* not a tail call: work after the recursive call */
    sink += r;
    return r;
}

KEEP void thrower(int n) {
    if (n > 0) thrower(n - 1);
    else if (sink >= 0) longjmp(env, 1);  /* always (sink starts at 0 and only grows), but gcc cannot know */
    sink += 100;  /* never runs: the deepest call jumps out */
}

KEEP int tail_target(int x) { sink += x; return x * 3; }
KEEP int tail_caller(int x) { sink += 1; return tail_target(x + 1); }

int main(void) {
    outer(3);
    outer(2);
    rec(3);
    if (setjmp(env) == 0) thrower(2);
    int t = tail_caller(5);
    printf("sum %d\n", sink + t);
    return 0;
}
