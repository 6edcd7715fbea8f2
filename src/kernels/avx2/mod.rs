//! The AVX2 backend (x86-64-v3: AVX2 and FMA): so far only the kernels
//! written over the SIMD trait ([`simd`]: the vector math and 2x2 average
//! pooling), 8 lanes; every other entry point declines on it, and the
//! layers run their reference loops, as on [`Isa::Portable`](crate::Isa::Portable).

pub(crate) mod simd;
