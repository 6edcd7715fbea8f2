//! The AVX-512 backend (x86-64 with AVX-512F and AVX-512VL): 16-lane
//! register-blocked kernels, one file per op family, sharing the vector
//! helpers of [`vec`].
//!
//! Nothing here is generic over a layer's shape: shapes arrive as run-time
//! sizes and strides, and only the register tile (`OB x SB`, …) is a const
//! parameter, so the kernels are compiled a handful of times whatever the
//! networks — compile time stays small — while the inner loops are as fast
//! as fully specialised ones (they are long and their tiles are fixed).
//!
//! Every kernel is `unsafe` with `#[target_feature(enable = "avx512f,avx512vl")]`
//! and takes raw pointers; only the safe entry points of [`crate::kernels`]
//! call them, after checking the CPU (once per process) and every length.
#![allow(clippy::too_many_arguments)]

pub(crate) mod conv;
pub(crate) mod conv_grad;
pub(crate) mod dense;
pub(crate) mod elementwise;
pub(crate) mod optim;
pub(crate) mod pool;
pub(crate) mod simd;
#[cfg(test)]
mod tests;
pub(crate) mod vec;

use crate::kernels::{ConvBatch, ConvGeom, Start};
use vec::{V, lanes};

/// Up to 16 consecutive output positions of one output row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    /// The input under lane 0 for tap `(c, m, n) = (0, 0, 0)` (in a padded input).
    pub x: *const f32,
    /// Output channel 0 at lane 0.
    pub y: *mut f32,
    /// Lanes that are real output positions.
    pub mask: u16,
}

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
    /// fused into the convolution (the same bits as [`relu_forward`](elementwise::relu_forward) after it).
    pub relu: bool,
}

impl RawBatch {
    /// Calls `f` with every output segment, sample by sample, row by row.
    #[inline(always)]
    fn for_each_seg(&self, x_row: usize, mut f: impl FnMut(Seg)) {
        for b in 0..self.n {
            for i in 0..self.oh {
                let mut j = 0;
                while j < self.ow {
                    // SAFETY (pointer arithmetic only): inside the caller's buffers.
                    f(Seg {
                        x: self.x.wrapping_add(b * self.x_sample + i * x_row + j),
                        y: self.y.wrapping_add(b * self.y_sample + i * self.ow + j),
                        mask: lanes(self.ow - j),
                    });
                    j += V;
                }
            }
        }
    }
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
