/* Software-PT sample without libc: sleeps 30 s in one nanosleep, so a tracer is blocked waiting on a tracee that
 * does not stop (the cancellation test kills it there), then exits 0. */
    .text
    .globl _start
_start:
    mov $35, %eax            /* nanosleep(&ts, NULL) */
    lea ts(%rip), %rdi
    xor %esi, %esi
    syscall
    mov $60, %eax
    xor %edi, %edi
    syscall

    .data
ts: .quad 30, 0

    .section .note.GNU-stack,"",@progbits
