// SPDX-License-Identifier: Apache-2.0

//go:build cgo

// long spawn_clone3(struct spawn_clone_args *args, size_t size,
//                   int (*fn)(void *), void *arg);
//
// clone3 for a child on a stack of its own. The parent gets the raw
// result: the pid, or a negative errno. The child starts on the new stack
// with the parent's registers, so it must not return into the C frames
// above, which belong to the parent's stack: it calls fn(arg) here and
// exits with fn's result if fn ever returns.
//
// The syscall clobbers rax, rcx and r11 only, in the parent and the child
// alike, so fn stays in rdx and arg is kept in r8 across it.

#define SYS_clone3 435
#define SYS_exit 60

	.text
	.globl	spawn_clone3
	.hidden	spawn_clone3
	.type	spawn_clone3, @function
	.p2align 4
spawn_clone3:
	.cfi_startproc
#ifdef __CET__
	endbr64
#endif
	movq	%rcx, %r8
	movl	$SYS_clone3, %eax
	// The unwind information above does not hold in the child.
	.cfi_endproc
	syscall
	testq	%rax, %rax
	jz	1f
	ret

1:
	.cfi_startproc
	// The outermost frame: nothing to unwind to.
	.cfi_undefined rip
	xorl	%ebp, %ebp
	andq	$-16, %rsp
	movq	%r8, %rdi
	call	*%rdx
	movl	%eax, %edi
	movl	$SYS_exit, %eax
	syscall
	ud2
	.cfi_endproc
	.size	spawn_clone3, . - spawn_clone3

	.section .note.GNU-stack, "", @progbits
