//! The NEON backend (aarch64's Advanced SIMD, baseline on every aarch64
//! CPU): so far only the kernels written over the SIMD trait ([`simd`]:
//! the vector math, the piecewise activations and 2x2 average pooling), 4
//! lanes; every other entry point declines on it, and the layers run
//! their reference loops, as on [`Isa::Portable`](crate::Isa::Portable).
//! Tested under qemu-user (`scripts/test_aarch64.sh`); its speed has not
//! been measured on ARM hardware.

pub(crate) mod simd;
