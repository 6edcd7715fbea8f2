//! The AVX2 backend (x86-64-v3: AVX2 and FMA), 8 lanes: the kernels
//! written over the SIMD traits (the vector math and 2x2 average pooling
//! over [`simd`]; dense products, convolutions, their gradients, max-pooling,
//! the element-wise passes and the optimizer updates over
//! [`Compute`](crate::kernels::compute::Compute), `compute.rs`), instantiated
//! in [`kernels`]. The pooling convolution (`conv_relu_pool`) declines on it.

pub(crate) mod compute;
pub(crate) mod kernels;
pub(crate) mod simd;
