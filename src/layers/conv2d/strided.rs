//! `Conv2d`'s fast path where the stride-1 kernels do not apply
//! (`STRIDE > 1`, or `PAD >= K`): im2col from the padded cache and the
//! matrix product [`Kernels::bcast_gemm`], by the shared
//! [`Im2col`](crate::layers::im2col) that `Conv2dRect` and `Conv1d` run too.

use super::{Conv2d, PaddedInput};
use crate::kernels::Kernels;
use crate::layers::im2col::Im2col;
use crate::{Flat, Tensor};

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Whether this shape takes the im2col path: where the stride-1
    /// kernels do not ([`FAST_SHAPE`](Self::FAST_SHAPE)) and the scratch
    /// takes it.
    pub(super) const IM2COL: bool =
        !Self::FAST_SHAPE && Im2col::<IN_C, OUT_C, K, K, PAD, PAD, STRIDE, STRIDE, true>::FITS;

    /// Forward pass of a batch by im2col from its padded inputs. `false`,
    /// having written nothing, where `k` declines the matrix product.
    pub(super) fn forward_im2col<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        y: &mut [Tensor<OUT_C, OH, OW>; B],
    ) -> bool {
        if !Self::IM2COL {
            return false;
        }
        let bias = if BIAS { Some(&self.bias) } else { None };
        let xs = PaddedInput::<IN_C, H, W, PAD>::LEN;
        Im2col::<IN_C, OUT_C, K, K, PAD, PAD, STRIDE, STRIDE, true>::forward::<B, H, W, OH, OW>(
            k,
            cache.as_flat(),
            xs,
            self.weight.as_flat(),
            bias,
            y.as_flat_mut(),
        )
    }

    /// Backward pass of a batch by im2col from its padded inputs: adds the
    /// weight and bias gradients into `grads` and, if asked, overwrites
    /// `dx`. `false`, having written nothing, where `k` declines the
    /// matrix product.
    pub(super) fn backward_im2col<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        dy: &[Tensor<OUT_C, OH, OW>; B],
        dx: Option<&mut [Tensor<IN_C, H, W>; B]>,
        grads: &mut Self,
    ) -> bool {
        if !Self::IM2COL {
            return false;
        }
        let xs = PaddedInput::<IN_C, H, W, PAD>::LEN;
        let (dw, db) = (grads.weight.as_flat_mut(), if BIAS { Some(&mut grads.bias) } else { None });
        Im2col::<IN_C, OUT_C, K, K, PAD, PAD, STRIDE, STRIDE, true>::backward::<B, H, W, OH, OW>(
            k,
            cache.as_flat(),
            xs,
            dy.as_flat(),
            dx.map(|dx| dx.as_flat_mut()),
            self.weight.as_flat(),
            dw,
            db,
        )
    }
}
