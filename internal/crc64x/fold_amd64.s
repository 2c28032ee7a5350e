//go:build !purego

#include "textflag.h"

// func foldCLMUL(crc uint64, p []byte, k *[4][2]uint64) (lo, hi uint64)
//
// Folds p (len a multiple of 16, at least 64) with crc xored into its
// first 8 bytes down to one 128-bit value congruent to it modulo the
// polynomial: four lanes of 16 bytes each fold over 64 bytes per step,
// then into one, then the rest 16 bytes at a time. k holds the folding
// constants for 512, 384, 256 and 128 bits (see foldConstants).
TEXT ·foldCLMUL(SB), NOSPLIT, $0-56
	MOVQ crc+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ k+32(FP), DX

	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVQ  AX, X4
	PXOR  X4, X0
	ADDQ  $64, SI
	SUBQ  $64, CX
	MOVOU 0(DX), X15

loop64:
	CMPQ CX, $64
	JB   reduce

	MOVO      X0, X5
	MOVO      X1, X6
	MOVO      X2, X7
	MOVO      X3, X8
	PCLMULQDQ $0x00, X15, X0
	PCLMULQDQ $0x11, X15, X5
	PCLMULQDQ $0x00, X15, X1
	PCLMULQDQ $0x11, X15, X6
	PCLMULQDQ $0x00, X15, X2
	PCLMULQDQ $0x11, X15, X7
	PCLMULQDQ $0x00, X15, X3
	PCLMULQDQ $0x11, X15, X8
	MOVOU     0(SI), X9
	MOVOU     16(SI), X10
	MOVOU     32(SI), X11
	MOVOU     48(SI), X12
	PXOR      X5, X0
	PXOR      X6, X1
	PXOR      X7, X2
	PXOR      X8, X3
	PXOR      X9, X0
	PXOR      X10, X1
	PXOR      X11, X2
	PXOR      X12, X3
	ADDQ      $64, SI
	SUBQ      $64, CX
	JMP       loop64

reduce:
	MOVOU     16(DX), X14
	MOVO      X0, X5
	PCLMULQDQ $0x00, X14, X0
	PCLMULQDQ $0x11, X14, X5
	PXOR      X0, X3
	PXOR      X5, X3
	MOVOU     32(DX), X14
	MOVO      X1, X5
	PCLMULQDQ $0x00, X14, X1
	PCLMULQDQ $0x11, X14, X5
	PXOR      X1, X3
	PXOR      X5, X3
	MOVOU     48(DX), X14
	MOVO      X2, X5
	PCLMULQDQ $0x00, X14, X2
	PCLMULQDQ $0x11, X14, X5
	PXOR      X2, X3
	PXOR      X5, X3

loop16:
	CMPQ CX, $16
	JB   done
	MOVO      X3, X5
	PCLMULQDQ $0x00, X14, X3
	PCLMULQDQ $0x11, X14, X5
	MOVOU     0(SI), X9
	PXOR      X5, X3
	PXOR      X9, X3
	ADDQ      $16, SI
	SUBQ      $16, CX
	JMP       loop16

done:
	MOVQ   X3, AX
	PEXTRQ $1, X3, BX
	MOVQ   AX, lo+40(FP)
	MOVQ   BX, hi+48(FP)
	RET
