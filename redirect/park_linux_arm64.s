#include "textflag.h"

// DC CVAU, R8 and IC IVAU, R8, which the Go assembler does not name.
#define DC_CVAU_R8 WORD $0xd50b7b28
#define IC_IVAU_R8 WORD $0xd50b7528

// func arrive(r *rendezvous) bool
TEXT ·arrive(SB), NOSPLIT, $0-9
	MOVD	r+0(FP), R0
	MOVWU	8(R0), R1          // n
	ADD	$4, R0, R6         // &done
enter:
	LDAXRW	(R0), R3
	ADDW	$1, R3, R3
	STLXRW	R3, (R0), R4
	CBNZW	R4, enter
	CMPW	R1, R3
	BEQ	commit
	MOVD	32(R0), R5
wait:
	LDARW	(R6), R7
	CBNZW	R7, finished
	YIELD
	SUBS	$1, R5, R5
	BNE	wait
leave:
	LDAXRW	(R0), R3
	CMPW	R1, R3
	BEQ	waitdone           // everyone arrived: the store is being done now
	SUBW	$1, R3, R3
	STLXRW	R3, (R0), R4
	CBNZW	R4, leave
	MOVB	ZR, ret+8(FP)
	RET
waitdone:
	LDARW	(R6), R7
	CBNZW	R7, finished
	YIELD
	B	waitdone
commit:
	MOVD	16(R0), R8
	MOVWU	24(R0), R9
	MOVW	R9, (R8)           // the one aligned 4-byte store: one instruction
	DC_CVAU_R8
	DSB	$11                // ISH
	IC_IVAU_R8
	DSB	$11
	ISB	$15
	MOVD	$1, R9
	STLRW	R9, (R6)           // done = 1
finished:
	ISB	$15                // context synchronization: refetch instructions
	MOVD	$1, R9
	MOVB	R9, ret+8(FP)
	RET

// func flushICache(addr uintptr)
TEXT ·flushICache(SB), NOSPLIT, $0-8
	MOVD	addr+0(FP), R8
	DC_CVAU_R8
	DSB	$11
	IC_IVAU_R8
	DSB	$11
	ISB	$15
	RET
