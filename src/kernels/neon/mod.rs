//! The NEON backend (aarch64's Advanced SIMD, baseline on every aarch64
//! CPU), 4 lanes: the kernels written over the SIMD traits (the vector
//! math, the piecewise activations and 2x2 average pooling over [`simd`];
//! dense products, convolutions, their gradients, max-pooling, the
//! element-wise passes and the optimizer updates over
//! [`Compute`](crate::kernels::compute::Compute), `compute.rs`),
//! instantiated in [`kernels`] with NEON's tiles. The pooling convolution
//! takes rows of at most 32 outputs (8 vectors); wider rows run unpooled.
//! Tested under qemu-user (`scripts/test_aarch64.sh`), which checks
//! results only: its speed has not been measured on ARM hardware.

pub(crate) mod compute;
pub(crate) mod kernels;
pub(crate) mod simd;
