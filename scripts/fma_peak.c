// The FMA peak of one core: 12 independent chains of vector FMAs, AVX-512 and AVX2.
// gcc -O2 -o /tmp/fma_peak scripts/fma_peak.c && /tmp/fma_peak   (prints GFLOP/s, 5 rounds)
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
__attribute__((target("avx512f"))) static double run512(long n){
  __m512 a[12]; __m512 m=_mm512_set1_ps(0.999999f), c=_mm512_set1_ps(1e-6f);
  for(int i=0;i<12;i++) a[i]=_mm512_set1_ps((float)i);
  double t=now();
  for(long k=0;k<n;k++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) a[i]=_mm512_fmadd_ps(a[i],m,c);
  }
  t=now()-t; float s=0; for(int i=0;i<12;i++) s+=_mm512_reduce_add_ps(a[i]);
  if(s==12345) printf("x");
  return n*12.0*16*2/t/1e9;
}
__attribute__((target("avx2,fma"))) static double run256(long n){
  __m256 a[12]; __m256 m=_mm256_set1_ps(0.999999f), c=_mm256_set1_ps(1e-6f);
  for(int i=0;i<12;i++) a[i]=_mm256_set1_ps((float)i);
  double t=now();
  for(long k=0;k<n;k++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) a[i]=_mm256_fmadd_ps(a[i],m,c);
  }
  t=now()-t; float s=0; float o[8]; for(int i=0;i<12;i++){_mm256_storeu_ps(o,a[i]); for(int j=0;j<8;j++) s+=o[j];}
  if(s==12345) printf("x");
  return n*12.0*8*2/t/1e9;
}
int main(){ for(int r=0;r<5;r++) printf("avx512 %.1f GFLOP/s  avx2 %.1f GFLOP/s\n", run512(100000000), run256(100000000)); }
