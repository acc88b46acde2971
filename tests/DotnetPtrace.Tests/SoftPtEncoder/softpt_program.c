/* A freestanding x86-64 Linux program (no libc) whose control flow exercises every case of the software PT
 * encoder: loops with known counts, a call chain, a switch jump table, indirect calls through a table, recursion
 * 100 deep (past the 64-entry return-compression stack), a hand-written setjmp/longjmp (a jump that leaves stale
 * return addresses behind), a signal handler entered after a system call and returning through rt_sigreturn, a
 * faulting load whose SIGSEGV handler longjmps out (an asynchronous exit at an instruction that never runs),
 * system calls in a loop, and a zero-length call (PIC-style "call next; pop").
 * Build: gcc -O1 -fno-optimize-sibling-calls -fno-inline -nostdlib -static -fno-pie -no-pie -fcf-protection=none
 */
typedef unsigned long u64;

#define SYS_getpid 39
#define SYS_kill 62
#define SYS_rt_sigaction 13
#define SYS_rt_sigreturn 15
#define SYS_exit_group 231
#define SIGUSR1 10
#define SIGSEGV 11
#define SA_RESTORER 0x04000000
#define SA_NODEFER 0x40000000

static long sys4(long n, long a, long b, long c, long d)
{
	long r;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return r;
}

volatile long sink;

/* setjmp/longjmp without libc: saves callee-saved registers, the stack pointer and the return address. */
typedef u64 jmpbuf[8];
int my_setjmp(jmpbuf b);
void my_longjmp(jmpbuf b, int value) __attribute__((noreturn));
void restorer(void);
u64 zero_length_call(void);
__asm__(
	".text\n"
	".globl my_setjmp\n"
	"my_setjmp:\n"
	"  mov %rbx, 0(%rdi)\n"
	"  mov %rbp, 8(%rdi)\n"
	"  mov %r12, 16(%rdi)\n"
	"  mov %r13, 24(%rdi)\n"
	"  mov %r14, 32(%rdi)\n"
	"  mov %r15, 40(%rdi)\n"
	"  lea 8(%rsp), %rdx\n"
	"  mov %rdx, 48(%rdi)\n"
	"  mov (%rsp), %rdx\n"
	"  mov %rdx, 56(%rdi)\n"
	"  xor %eax, %eax\n"
	"  ret\n"
	".globl my_longjmp\n"
	"my_longjmp:\n"
	"  mov 0(%rdi), %rbx\n"
	"  mov 8(%rdi), %rbp\n"
	"  mov 16(%rdi), %r12\n"
	"  mov 24(%rdi), %r13\n"
	"  mov 32(%rdi), %r14\n"
	"  mov 40(%rdi), %r15\n"
	"  mov 48(%rdi), %rsp\n"
	"  mov %esi, %eax\n"
	"  jmp *56(%rdi)\n"
	".globl restorer\n"
	"restorer:\n"
	"  mov $15, %eax\n"
	"  syscall\n"
	".globl zero_length_call\n"
	"zero_length_call:\n"
	"  call 1f\n"
	"1: pop %rax\n"
	"  ret\n");

struct kernel_sigaction {
	void (*handler)(int);
	u64 flags;
	void (*restorer)(void);
	u64 mask;
};

static jmpbuf env;
static volatile int signals;

__attribute__((noinline)) int leaf(int x) { return x * 3 + 1; }
__attribute__((noinline)) int chain3(int x) { return leaf(x) + 1; }
__attribute__((noinline)) int chain2(int x) { return chain3(x) * 2; }
__attribute__((noinline)) int chain1(int x) { return chain2(x) - 1; }

__attribute__((noinline)) int recurse(int depth)
{
	if (depth == 0) return (int) sink;
	int r = recurse(depth - 1);
	return r + depth;
}

__attribute__((noinline)) int op_add(int x) { return x + 7; }
__attribute__((noinline)) int op_mul(int x) { return x * 5; }
__attribute__((noinline)) int op_neg(int x) { return -x; }
__attribute__((noinline)) int op_xor(int x) { return x ^ 0x55; }
int (*const ops[4])(int) = { op_add, op_mul, op_neg, op_xor };

__attribute__((noinline)) int dispatch(int x)
{
	switch (x & 7) {
	case 0: return x + 11;
	case 1: return x * 13;
	case 2: return x - 17;
	case 3: return x ^ 19;
	case 4: return x << 2;
	case 5: return x >> 1;
	case 6: return x | 23;
	default: return x & 29;
	}
}

__attribute__((noinline)) void deep_then_jump(int depth)
{
	if (depth > 1000) return;
	if (depth <= 0) my_longjmp(env, 1);
	deep_then_jump(depth - 1);
	sink++;
}

static void on_usr1(int sig) { signals += sig; }

static void on_segv(int sig)
{
	(void) sig;
	my_longjmp(env, 2);
}

void _start(void)
{
	long acc = 0;
	for (int i = 0; i < 50; i++)
		for (int j = 0; j < i % 7; j++) acc += i ^ j;
	for (int i = 0; i < 20; i++) acc += chain1(i);
	for (int i = 0; i < 40; i++) acc += dispatch(i * 3);
	for (int i = 0; i < 32; i++) acc += ops[i & 3](i);
	acc += recurse(100);
	acc += recurse(10);
	acc += (long) zero_length_call();
	if (my_setjmp(env) == 0) deep_then_jump(20);
	acc += chain1(3);

	struct kernel_sigaction sa = { on_usr1, SA_RESTORER, restorer, 0 };
	sys4(SYS_rt_sigaction, SIGUSR1, (long) &sa, 0, 8);
	long pid = sys4(SYS_getpid, 0, 0, 0, 0);
	for (int i = 0; i < 3; i++) {
		sys4(SYS_kill, pid, SIGUSR1, 0, 0);
		acc += signals;
	}
	for (int i = 0; i < 10; i++) acc += sys4(SYS_getpid, 0, 0, 0, 0);

	struct kernel_sigaction segv = { on_segv, SA_RESTORER | SA_NODEFER, restorer, 0 };
	sys4(SYS_rt_sigaction, SIGSEGV, (long) &segv, 0, 8);
	if (my_setjmp(env) == 0) {
		sink = 1;
		acc += *(volatile int *) (sink - 1); /* faults: the handler jumps back with 2 */
	}
	acc += recurse(70);
	sink = acc;
	sys4(SYS_exit_group, 0, 0, 0, 0);
	for (;;) ;
}
