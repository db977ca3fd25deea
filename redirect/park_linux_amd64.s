#include "textflag.h"

// func arrive(r *rendezvous) bool
TEXT ·arrive(SB), NOSPLIT, $0-9
	MOVQ	r+0(FP), DI
	MOVL	8(DI), R8          // n
	MOVL	$1, AX
	LOCK
	XADDL	AX, 0(DI)          // AX = count before this arrival
	INCL	AX
	CMPL	AX, R8
	JEQ	commit
	MOVQ	32(DI), CX
wait:
	MOVL	4(DI), AX
	TESTL	AX, AX
	JNZ	finished
	PAUSE
	DECQ	CX
	JNZ	wait
leave:
	MOVL	0(DI), AX
	CMPL	AX, R8
	JEQ	waitdone           // everyone arrived: the store is being done now
	LEAL	-1(AX), DX
	LOCK
	CMPXCHGL	DX, 0(DI)
	JNE	leave
	MOVB	$0, ret+8(FP)
	RET
waitdone:
	MOVL	4(DI), AX
	TESTL	AX, AX
	JNZ	finished
	PAUSE
	JMP	waitdone
commit:
	MOVQ	16(DI), SI
	MOVQ	24(DI), AX
	XCHGQ	AX, 0(SI)          // the one aligned 8-byte store into the code
	MOVL	$1, AX
	XCHGL	AX, 4(DI)          // done = 1
finished:
	XORL	AX, AX
	CPUID                      // serialize: refetch instructions after the store
	MOVB	$1, ret+8(FP)
	RET
