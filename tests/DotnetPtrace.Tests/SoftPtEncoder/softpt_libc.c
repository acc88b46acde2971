/* A static glibc program for the software PT encoder tests: libc startup (ifunc-selected string functions,
 * rep-prefixed copies, AVX/EVEX code), stdio, malloc, qsort with a callback (indirect calls from libc), setjmp and
 * longjmp (glibc's, with pointer mangling), a signal handler entered through raise(), and clock_gettime through
 * the vDSO (code that is in no file). Build: gcc -O2 -static
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static jmp_buf env;
static volatile sig_atomic_t got;

static int compare(const void *a, const void *b)
{
	int x = *(const int *) a, y = *(const int *) b;
	return (x > y) - (x < y);
}

static void on_signal(int sig) { got += sig; }

static __attribute__((noinline)) int depth(int n)
{
	if (n == 0) return 0;
	int r = depth(n - 1);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

static __attribute__((noinline)) void jump_out(int n)
{
	if (n > 1000) return;
	if (n == 0) longjmp(env, 7);
	jump_out(n - 1);
	__asm__ volatile("" ::: "memory");
}

int main(void)
{
	int values[40];
	for (int i = 0; i < 40; i++) values[i] = (i * 7919) % 101;
	qsort(values, 40, sizeof(int), compare);

	char *text = malloc(256);
	strcpy(text, "software intel pt");
	size_t length = strlen(text);

	signal(SIGUSR1, on_signal);
	raise(SIGUSR1);

	int jumped = setjmp(env);
	if (!jumped) jump_out(80);

	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);

	printf("%s %zu %d %d %d %d\n", text, length, values[0], values[39], (int) got, depth(90) + jumped);
	free(text);
	return 0;
}
