/* Software-PT sample: direct and indirect calls, a switch compiled to a jump table, recursion deeper than the
 * 64-entry return-compression stack of Intel PT, and setjmp/longjmp (a return that is not a return).
 * Prints "acc A v V"; exits 0. */
#include <setjmp.h>
#include <stdio.h>

static jmp_buf env;

__attribute__((noinline)) int add(int a, int b) { return a + b; }
__attribute__((noinline)) int mul(int a, int b) { return a * b; }

/* volatile, so the compiler cannot turn the indirect calls back into direct ones */
int (*volatile ops[2])(int, int) = { add, mul };

__attribute__((noinline)) int classify(int x) {
    switch (x) {   /* eight dense cases: gcc emits a jump table (an indirect jmp) even at -O0 */
    case 0: return 10;
    case 1: return 11;
    case 2: return 13;
    case 3: return 17;
    case 4: return 19;
    case 5: return 23;
    case 6: return 29;
    case 7: return 31;
    default: return -1;
    }
}

__attribute__((noinline)) int depth(int n) { return n == 0 ? 0 : 1 + depth(n - 1); }

__attribute__((noinline)) void jump_back(int v) { longjmp(env, v); }

int main(void) {
    int acc = 0;
    for (int i = 0; i < 16; i++) {
        acc = add(acc, i);                   /* direct call */
        acc = ops[i & 1](acc, 3) & 0xffff;   /* indirect call */
        acc += classify(i & 7);              /* jump table */
    }
    acc += depth(100);                       /* 100 nested frames, then 100 returns */
    volatile int v = setjmp(env);
    if (v < 3) jump_back(v + 1);             /* longjmp back into main three times */
    printf("acc %d v %d\n", acc, v);
    return 0;
}
