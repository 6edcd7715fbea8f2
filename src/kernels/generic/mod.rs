//! Kernels written once over the vector width ([`Compute`](super::compute::Compute)),
//! with raw pointers as the backends' own: dense products, convolutions
//! and their weight gradients, 2x2 max-pooling, the element-wise passes
//! and the optimizer updates. A backend instantiates them with
//! [`instance!`](instance::instance): its `#[target_feature]` functions
//! with its token and its register tiles (AVX2: `avx2/kernels.rs`; NEON:
//! `neon/kernels.rs`; the portable lanes, any target: `portable.rs`).
//!
//! They are the AVX-512 backend's kernels (`avx512/`) with the vector width
//! a parameter; AVX-512 keeps its own hand-written files (see
//! docs/design.md §8).
#![allow(clippy::too_many_arguments)]

pub(crate) mod conv;
pub(crate) mod conv_cl;
pub(crate) mod conv_grad;
pub(crate) mod dense;
pub(crate) mod elementwise;
pub(crate) mod instance;
pub(crate) mod pool;
#[cfg(test)]
mod tests;

use crate::kernels::{ConvBatch, ConvGeom, Start};

/// Geometry of a stride-1 convolution over a zero-padded input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawGeom {
    /// Input channels summed over.
    pub in_c: usize,
    /// Kernel side.
    pub k: usize,
    /// Floats between input channels (a padded plane).
    pub x_plane: usize,
    /// Floats between input rows (a padded row).
    pub x_row: usize,
    /// Weight of (output channel 0, input channel 0, tap 0, 0).
    pub w: *const f32,
    /// Weight strides: per output channel, per input channel, per kernel row, per kernel column.
    pub w_out: isize,
    /// See `w_out`.
    pub w_in: isize,
    /// See `w_out`.
    pub w_m: isize,
    /// See `w_out`.
    pub w_n: isize,
    /// Floats between output channels.
    pub y_plane: usize,
}

/// How a tile's accumulators start.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RawStart {
    /// At zero.
    Zero,
    /// At the bias of each output channel (pointer to channel 0's).
    Bias(*const f32),
    /// At the values already in the output (a second pass adds to the first).
    Load,
}

/// Where a batch of convolution inputs and outputs sit: sample `b`'s
/// padded input at `x + b*x_sample`, its output at `y + b*y_sample`
/// (`oh x ow` per channel, rows of `ow`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawBatch {
    /// Samples.
    pub n: usize,
    /// Padded input of sample 0.
    pub x: *const f32,
    /// Floats between samples' padded inputs.
    pub x_sample: usize,
    /// Output of sample 0.
    pub y: *mut f32,
    /// Floats between samples' outputs.
    pub y_sample: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
    /// Whether each output is stored as `max(y, 0)`: a [`Relu`](crate::Relu)
    /// fused into the convolution (the same bits as a ReLU after it).
    pub relu: bool,
}

impl RawGeom {
    /// `g` with its weight of (output channel 0, input channel 0, tap 0, 0) at `w`.
    pub(crate) fn new(g: &ConvGeom, w: *const f32) -> Self {
        let ConvGeom { in_c, k, x_plane, x_row, w_out, w_in, w_m, w_n, y_plane } = *g;
        RawGeom { in_c, k, x_plane, x_row, w, w_out, w_in, w_m, w_n, y_plane }
    }
}

impl RawStart {
    /// The raw form of `start`.
    pub(crate) fn new(start: &Start) -> Self {
        match start {
            Start::Zero => RawStart::Zero,
            Start::Bias(b) => RawStart::Bias(b.as_ptr()),
            Start::Load => RawStart::Load,
        }
    }
}

impl RawBatch {
    /// `b` with sample 0's padded input at `x` and its output at `y`.
    pub(crate) fn new(b: &ConvBatch, x: *const f32, y: *mut f32) -> Self {
        let ConvBatch { n, x_sample, y_sample, oh, ow, relu } = *b;
        RawBatch { n, x, x_sample, y, y_sample, oh, ow, relu }
    }
}
