/* Test oracle (test-only code): a minimal ptrace single-stepper, independent of the project's tracer.
 *   softpt_stepper OUTDIR PROGRAM [ARGS...]
 * Runs PROGRAM, single-steps every user-mode instruction of its (single) thread and writes:
 *   OUTDIR/steps.txt    one line per executed instruction (hex address), "S <signo>" where a signal was delivered
 *                       (the next line is then the handler), "X <code>" at the end (exit code, or 128+signal)
 *   OUTDIR/regions.txt  "<start> <end> <file offset> <dump file> <path>" for each executable mapping at the exec
 *   OUTDIR/region-N.bin the bytes of those mappings (read through /proc/PID/mem, so the vDSO is there too)
 * Rules: an instruction counts when a step completes it: a stop whose RIP moved, or any stop after a non-rep
 * instruction. A rep-prefixed string instruction traps once per iteration at the same RIP: one instruction.
 * After a signal is injected with PTRACE_SINGLESTEP the kernel reports a stop at the handler's first instruction
 * before running it: that stop does not count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(2); }

static int dump_regions(pid_t pid, const char *outdir)
{
	char path[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *maps = fopen(path, "r");
	if (!maps) die("maps");
	snprintf(path, sizeof path, "/proc/%d/mem", pid);
	int mem = open(path, O_RDONLY);
	if (mem < 0) die("mem");
	snprintf(path, sizeof path, "%s/regions.txt", outdir);
	FILE *list = fopen(path, "w");
	if (!list) die("regions.txt");
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof line, maps)) {
		unsigned long start, end, offset;
		char perms[8], name[4096] = "";
		unsigned dev_major, dev_minor;
		unsigned long inode;
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %4095[^\n]", &start, &end, perms, &offset, &dev_major, &dev_minor,
			   &inode, name) < 7)
			continue;
		if (perms[0] != 'r' || perms[2] != 'x') continue; /* [vsyscall] is --xp: not readable, never stepped into */
		char *p = name;
		while (*p == ' ') p++;
		size_t size = end - start;
		unsigned char *buf = malloc(size);
		if (pread(mem, buf, size, (off_t) start) != (ssize_t) size) die("pread");
		char file[64];
		snprintf(file, sizeof file, "region-%d.bin", n++);
		snprintf(path, sizeof path, "%s/%s", outdir, file);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, size, f) != size) die("region");
		fclose(f);
		free(buf);
		fprintf(list, "%lx %lx %lx %s %s\n", start, end, offset, file, *p ? p : "//anon");
	}
	fclose(list);
	fclose(maps);
	close(mem);
	return n;
}

/* F2/F3 (after other legacy prefixes and REX) followed by a string opcode. */
static int is_rep_string(pid_t pid, unsigned long ip)
{
	unsigned char b[15];
	for (int i = 0; i < 15; i += sizeof(long)) {
		errno = 0;
		long w = ptrace(PTRACE_PEEKTEXT, pid, (void *) (ip + i), 0);
		if (errno) return 0;
		memcpy(b + i, &w, i + sizeof(long) <= 15 ? sizeof(long) : (size_t) (15 - i));
	}
	int rep = 0, i = 0;
	for (; i < 15; i++) {
		unsigned char c = b[i];
		if (c == 0xf2 || c == 0xf3) rep = 1;
		else if (c == 0x66 || c == 0x67 || c == 0x2e || c == 0x3e || c == 0x26 || c == 0x36 || c == 0x64 || c == 0x65 || c == 0xf0) ;
		else if ((c & 0xf0) == 0x40) ;
		else break;
	}
	if (!rep || i == 15) return 0;
	unsigned char op = b[i];
	return (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || (op >= 0x6c && op <= 0x6f);
}

int main(int argc, char **argv)
{
	if (argc < 3) { fprintf(stderr, "usage: %s OUTDIR PROGRAM [ARGS...]\n", argv[0]); return 2; }
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) die("traceme");
		execv(argv[2], argv + 2);
		die("execv");
	}
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status)) die("wait for exec");
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL);
	dump_regions(pid, argv[1]);

	char path[4096];
	snprintf(path, sizeof path, "%s/steps.txt", argv[1]);
	FILE *out = fopen(path, "w");
	if (!out) die("steps.txt");
	int inject = 0;
	unsigned long count = 0;
	for (;;) {
		struct user_regs_struct regs;
		if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0) die("getregs");
		unsigned long ip = regs.rip;
		if (ptrace(PTRACE_SINGLESTEP, pid, 0, (void *) (long) inject) < 0) die("singlestep");
		int injected = inject;
		inject = 0;
		if (waitpid(pid, &status, 0) < 0) die("waitpid");
		if (WIFEXITED(status)) {
			fprintf(out, "%lx\nX %d\n", ip, WEXITSTATUS(status)); /* the exit system call ran */
			count++;
			break;
		}
		if (WIFSIGNALED(status)) {
			fprintf(out, "X %d\n", 128 + WTERMSIG(status));
			break;
		}
		int sig = WSTOPSIG(status);
		if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0) die("getregs");
		if (injected && sig == SIGTRAP) continue; /* the stop at the handler's first instruction: nothing ran */
		if (sig == SIGTRAP) {
			if (regs.rip == ip && is_rep_string(pid, ip)) continue; /* another iteration of the same instruction */
			fprintf(out, "%lx\n", ip);
			count++;
			continue;
		}
		/* A signal is about to be delivered. If RIP moved, the instruction before it completed. */
		if (regs.rip != ip) { fprintf(out, "%lx\n", ip); count++; }
		fprintf(out, "S %d\n", sig);
		inject = sig;
	}
	fclose(out);
	fprintf(stderr, "%lu instructions\n", count);
	return 0;
}
