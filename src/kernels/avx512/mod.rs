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

pub(crate) use crate::kernels::generic::{RawBatch, RawGeom, RawStart};
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
