/* Software-PT sample: code that exists in no file. Writes "mov eax, N; ret" into anonymous memory, makes it
 * executable with mprotect and calls it; then rewrites it in place (N+1) and calls it again.
 * Prints "jit ADDRESS 42 43"; exits 0. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static void emit(unsigned char *code, int value) {
    code[0] = 0xb8;                     /* mov eax, imm32 */
    memcpy(code + 1, &value, 4);
    code[5] = 0xc3;                     /* ret */
}

int main(void) {
    unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) return 1;
    emit(code, 42);
    mprotect(code, 4096, PROT_READ | PROT_EXEC);
    int first = ((int (*)(void))code)();
    mprotect(code, 4096, PROT_READ | PROT_WRITE);
    emit(code, 43);
    mprotect(code, 4096, PROT_READ | PROT_EXEC);
    int second = ((int (*)(void))code)();
    printf("jit %lx %d %d\n", (unsigned long)code, first, second);
    return 0;
}
