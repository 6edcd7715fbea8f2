//! The layers, one file each: the math in the doc comment, the struct,
//! forward, backward right below it, and its finite-difference tests.
//!
//! # Fast paths
//!
//! [`Conv2d`] (every stride and padding), [`Conv2dRect`], [`Conv1d`], [`Dense`],
//! [`MaxPool2d<2>`](MaxPool2d) and [`Relu`] call the crate's kernels (register-blocked FMA tiles, in
//! the private `kernels` module) and keep their reference loops for what
//! the kernels decline. The kernels' backend is chosen once per process
//! ([`isa`](crate::isa)):
//!
//! - with the default `std` feature, the CPU is asked at run time
//!   (`is_x86_feature_detected!("avx512f")`, `"avx2"`, ...): a plain
//!   `cargo build --release` runs the AVX-512 kernels on a CPU that has
//!   them, AVX2 or NEON where those are, and the portable kernels (the
//!   same tiles on `[f32; 4]`, no ISA-specific code) elsewhere;
//! - without `std` (`no_std`), build with
//!   `RUSTFLAGS="-C target-feature=+avx512f,+avx512vl"` (or
//!   `-C target-cpu=native` on such a CPU) to get them;
//! - `CONSTNET_ISA=reference` (or [`set_isa`](crate::set_isa) before the
//!   first kernel call) runs the reference loops, for comparisons.
//!
//! What the kernels compute, per layer (`B` samples):
//!
//! | layer | forward | backward |
//! |---|---|---|
//! | `Conv2d` | 8 filters x 3 row segments of 16 outputs per tile, input zero-padded once into the layer's cache ([`conv2d::PaddedInput`]) | weight gradient with the filters along the lanes (16x16 register transposes of `dy`) or, for few filters, per-row dot tiles; input gradient = the forward kernel on `dy` padded by `K-1-PAD` with the kernel flipped |
//! | `Conv2d`, `STRIDE > 1` or `PAD >= K` | im2col from the padded cache, blocks of 96 columns over the batch, then `y = W cols` by the `Dense` product's tiles | per sample: `dW += dy colsᵀ` and `dcolsᵀ = dyᵀ W` by the same product, scattered into `dx` |
//! | `Conv2dRect` (every shape), `Conv1d` (a `1 x K` kernel on a `1 x L` plane) | the same im2col code (one implementation, `im2col.rs`), gathering from the plain input with the padding read as zeros | the same |
//! | `MaxPool1d` | portable loops over windows of the constant `K`, a value per window (not an index loaded again): side by side (`MaxPool1d<K>`) as chunks of the row, else the whole windows as `[f32; K]` and the padded edges as slices | the same; side by side the whole window of `dx` written, else the gradient added at the maximum |
//! | `AvgPool1d` | portable loops (already fast: a rewrite like `MaxPool1d`'s was slower); padded or strided, a window at a time | the same |
//! | `Dense` | `B >= 16`: `yᵀ = W xᵀ`, 12 outputs x 32 samples per tile (the batch transposed into the layer's cache); smaller `B`: 4 x 6 dot tiles | `dW += dyᵀ x` and `dx = dy W`, 4 rows x 96 columns per tile (the weight gradient of 8 outputs or more: 8 x 48) |
//! | `MaxPool2d<2>` | vertical max, then even/odd lane permutes | the first maximum of each window (row-major), by lane masks |
//! | `Relu` | `max(x, 0)` | `dy` where `y > 0` |
//! | `Relu6`, `LeakyRelu`, `Hardswish`, `Silu` | the kernels' vectors on every backend (the same bits on each, [`activations`]) | the same |
//! | `GroupConv2d`, `DepthwiseConv2d` | reference loops the compiler vectorises: per pair of planes, per tap, one `axpy` along each output row of the padded input (cached) | weight gradient: one `dot` per tap and output row; input gradient: one `axpy` per tap and row |
//! | `GlobalAvgPool2d` | the planes' sums by the vector lane sums of [`math::plane_sums`](crate::math::plane_sums) | one fill per plane |
//!
//! Stack scratch stays under about 120 KiB per call, so big networks train
//! on small thread stacks. Every kernel is checked against its reference loop
//! and by finite differences, in this module's tests.

pub mod activations;
pub mod avgpool2d;
pub mod batchnorm;
pub mod conv1d;
pub mod conv2d;
pub mod conv2d_rect;
pub mod dense;
pub mod dropout;
pub mod global_avg_pool;
pub mod group_conv2d;
mod im2col;
pub mod maxpool2d;
pub mod pool1d;
pub mod relu;
pub mod residual;
pub mod sigmoid;
pub mod softmax;
pub mod tanh;

pub use activations::{Hardswish, LeakyRelu, Relu6, Silu};
pub use avgpool2d::AvgPool2d;
pub use batchnorm::{BatchNorm1d, BatchNorm2d};
pub use conv1d::Conv1d;
pub use conv2d::{Conv2d, ConvRelu, ConvReluPool};
pub use conv2d_rect::Conv2dRect;
pub use dense::Dense;
pub use dropout::Dropout;
pub use global_avg_pool::GlobalAvgPool2d;
pub use group_conv2d::{DepthwiseConv2d, GroupConv2d};
pub use maxpool2d::MaxPool2d;
pub use pool1d::{AvgPool1d, MaxPool1d};
pub use relu::Relu;
pub use sigmoid::Sigmoid;
pub use softmax::Softmax;
pub use tanh::Tanh;
