// Peak multiply-accumulate rate of one core for fp32 and for the AVX2 int8 idiom, to tell whether an
// int8 encoder can be faster than fp32 on this CPU (docs/benchmarks.md, "Reduced precision").
// Register-resident, in inline asm so the compiler cannot hoist or fuse anything:
//   fp32: vfmadd231ps ymm, 10 independent accumulators (8 MACs each);
//   int8: vpmaddubsw + vpmaddwd(ones) + vpaddd, 5 independent accumulators (32 u8*s8 MACs each).
// x86-64 with AVX2 and FMA only. Build and run: cc -O2 -mavx2 -mfma scripts/bench/peak-mac.c && ./a.out
#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  const long N=100000000; double t;
  asm volatile("vxorps %%ymm0,%%ymm0,%%ymm0; vxorps %%ymm1,%%ymm1,%%ymm1":::"xmm0","xmm1");
  t=now();
  for(long n=0;n<N;n++) asm volatile(
    "vfmadd231ps %%ymm14,%%ymm15,%%ymm0\n vfmadd231ps %%ymm14,%%ymm15,%%ymm1\n vfmadd231ps %%ymm14,%%ymm15,%%ymm2\n"
    "vfmadd231ps %%ymm14,%%ymm15,%%ymm3\n vfmadd231ps %%ymm14,%%ymm15,%%ymm4\n vfmadd231ps %%ymm14,%%ymm15,%%ymm5\n"
    "vfmadd231ps %%ymm14,%%ymm15,%%ymm6\n vfmadd231ps %%ymm14,%%ymm15,%%ymm7\n vfmadd231ps %%ymm14,%%ymm15,%%ymm8\n"
    "vfmadd231ps %%ymm14,%%ymm15,%%ymm9\n"
    :::"xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9");
  double tf=now()-t;
  t=now();
  for(long n=0;n<N;n++) asm volatile(
    "vpmaddubsw %%ymm13,%%ymm14,%%ymm0\n vpmaddwd %%ymm0,%%ymm15,%%ymm0\n vpaddd %%ymm0,%%ymm5,%%ymm5\n"
    "vpmaddubsw %%ymm13,%%ymm14,%%ymm1\n vpmaddwd %%ymm1,%%ymm15,%%ymm1\n vpaddd %%ymm1,%%ymm6,%%ymm6\n"
    "vpmaddubsw %%ymm13,%%ymm14,%%ymm2\n vpmaddwd %%ymm2,%%ymm15,%%ymm2\n vpaddd %%ymm2,%%ymm7,%%ymm7\n"
    "vpmaddubsw %%ymm13,%%ymm14,%%ymm3\n vpmaddwd %%ymm3,%%ymm15,%%ymm3\n vpaddd %%ymm3,%%ymm8,%%ymm8\n"
    "vpmaddubsw %%ymm13,%%ymm14,%%ymm4\n vpmaddwd %%ymm4,%%ymm15,%%ymm4\n vpaddd %%ymm4,%%ymm9,%%ymm9\n"
    :::"xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9");
  double ti=now()-t;
  double gf=N*10.0*8/tf/1e9, gi=N*5.0*32/ti/1e9;
  printf("fp32 FMA ymm: %.1f GMAC/s\nint8 maddubs+maddwd+add: %.1f GMAC/s\nratio int8/fp32: %.2f\n", gf, gi, gi/gf);
}
