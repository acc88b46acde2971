/* Software-PT sample without libc (built with -nostdlib -static -no-pie): its exact instruction sequence follows
 * from the disassembly. _start: one mov, 1000 x (dec, jnz), call f / ret, two lea and a mov, one rep movsb
 * (16 iterations: one instruction), then mov, mov, syscall (exit 7). */
    .text
    .globl _start
_start:
    mov $1000, %ecx
1:  dec %ecx
    jnz 1b
    call f
    lea src(%rip), %rsi
    lea dst(%rip), %rdi
    mov $16, %ecx
    rep movsb
    mov $60, %eax
    mov $7, %edi
    syscall
f:  ret

    .data
src: .ascii "0123456789abcdef"

    .bss
dst: .space 16

    .section .note.GNU-stack,"",@progbits
