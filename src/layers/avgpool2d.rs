//! `AvgPool2d`: the mean of each `P x P` window, stride `P`, ceil mode.
//!
//! Forward: `y[c][i][j] = (1/n_ij) * sum over the window`, where `n_ij` is the
//! number of inputs the window actually covers (a partial edge window is
//! averaged over its own elements, as the 001 tutorial's `np.average` and
//! PyTorch's ceil mode without padding do).
//!
//! Backward: every input of the window receives `dy[c][i][j] / n_ij`.

use super::maxpool2d::{pool_shape, window};
use crate::layer::{Grad, Layer, Mode, assert_out_shape};
use crate::{Flat, Tensor, pool_out};

/// Average pooling over `P x P` windows with stride `P`, keeping partial
/// edge windows (ceil mode).
///
/// PyTorch: `nn.AvgPool2d(P, ceil_mode=True)`.
///
/// `AvgPool2d<2>` runs the kernels' 2x2 pooling (`kernels::avgpool`, the
/// same bits as the loops below, on every backend); other sizes run the
/// loops.
///
/// # Shapes
/// Input `C x H x W`, output `C x pool_out(H, P) x pool_out(W, P)`.
///
/// ```
/// use constnet::{AvgPool2d, Flat, Layer, Mode, Tensor};
/// let x = Tensor::<1, 3, 3>::from_array([[[1., 2., 1.], [0., 2., 0.], [1., 2., 1.]]]);
/// let mut y = [Tensor::<1, 2, 2>::zeroed()];
/// AvgPool2d::<2>.forward(&[x], &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[1.25, 0.5], [1.5, 1.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AvgPool2d<const P: usize>;
pool_shape!(AvgPool2d);

impl<const P: usize, const C: usize, const H: usize, const W: usize> Layer<C, H, W> for AvgPool2d<P> {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("AvgPool2d", OC, OH, OW);
        if P == 2 {
            crate::kernels::active().avgpool2_forward(B * C, (H, W), x.as_flat(), y.as_flat_mut());
            return;
        }
        Self::forward_loops(x, y);
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        _x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        assert_out_shape!("AvgPool2d", OC, OH, OW);
        let Some(dx) = dx else { return };
        if P == 2 {
            crate::kernels::active().avgpool2_backward(B * C, (H, W), dy.as_flat(), dx.as_flat_mut());
            return;
        }
        Self::backward_loops(dy, dx);
    }
}

impl<const P: usize> AvgPool2d<P> {
    /// The reference forward pass: each window's sum, row by row, over the
    /// number of inputs it covers.
    fn forward_loops<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const OC: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
    ) {
        for (x, y) in x.iter().zip(y.iter_mut()) {
            for (xc, yc) in x.0.iter().zip(y.0.iter_mut()) {
                for (oy, yrow) in yc.iter_mut().enumerate() {
                    for (ox, v) in yrow.iter_mut().enumerate() {
                        let (rows, cols) = (window(oy, P, H), window(ox, P, W));
                        let n = (rows.len() * cols.len()) as f32;
                        *v = rows.map(|iy| xc[iy][cols.clone()].iter().sum::<f32>()).sum::<f32>() / n;
                    }
                }
            }
        }
    }

    /// The reference backward pass: every input receives its window's
    /// gradient over the number of inputs the window covers.
    fn backward_loops<
        const B: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const OC: usize,
        const OH: usize,
        const OW: usize,
    >(
        dy: &[Tensor<OC, OH, OW>; B],
        dx: &mut [Tensor<C, H, W>; B],
    ) {
        for (dx, dy) in dx.iter_mut().zip(dy) {
            for (dxc, dyc) in dx.0.iter_mut().zip(dy.0.iter()) {
                for oy in 0..OH {
                    for ox in 0..OW {
                        let (rows, cols) = (window(oy, P, H), window(ox, P, W));
                        let g = dyc[oy][ox] / (rows.len() * cols.len()) as f32;
                        for iy in rows {
                            dxc[iy][cols.clone()].fill(g);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_even_and_partial_windows() {
        check_layer::<AvgPool2d<2>, 2, 2, 4, 4, 2, 2, 2>(31).unwrap();
        check_layer::<AvgPool2d<2>, 1, 3, 5, 7, 3, 3, 4>(32).unwrap();
        check_layer::<AvgPool2d<3>, 1, 1, 7, 8, 1, 3, 3>(33).unwrap();
    }

    /// The 2x2 kernels give the bits of the loops on every backend this CPU
    /// runs (the reference one included), forward and backward, with NaN,
    /// infinities, signed zeros and subnormals among the inputs.
    fn kernels_match_the_loops<const H: usize, const W: usize, const OH: usize, const OW: usize>(seed: u64) {
        use crate::kernels::{ALL_ISAS, Kernels};
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut draw = || match rng.random_range(0..16) {
            0 => f32::NAN,
            1 => -0.0,
            2 => 0.0,
            3 => f32::INFINITY,
            4 => -1e-40,
            5 => f32::MAX,
            _ => rng.random_range(-4.0..4.0),
        };
        let x: [Tensor<3, H, W>; 2] = core::array::from_fn(|_| Tensor::from_fn(|_, _, _| draw()));
        let dy: [Tensor<3, OH, OW>; 2] = core::array::from_fn(|_| Tensor::from_fn(|_, _, _| draw()));
        let (mut y0, mut dx0) = ([Tensor::<3, OH, OW>::zeroed(); 2], [Tensor::<3, H, W>::zeroed(); 2]);
        AvgPool2d::<2>::forward_loops(&x, &mut y0);
        AvgPool2d::<2>::backward_loops(&dy, &mut dx0);
        let bits = |v: &[f32]| {
            v.iter().map(|v| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() }).collect::<std::vec::Vec<_>>()
        };
        for k in ALL_ISAS.into_iter().filter_map(Kernels::of) {
            let (mut y, mut dx) = ([Tensor::<3, OH, OW>::splat(7.0); 2], [Tensor::<3, H, W>::splat(7.0); 2]);
            k.avgpool2_forward(6, (H, W), x.as_flat(), y.as_flat_mut());
            k.avgpool2_backward(6, (H, W), dy.as_flat(), dx.as_flat_mut());
            assert_eq!(bits(y.as_flat()), bits(y0.as_flat()), "{k:?}: forward, {H}x{W}");
            assert_eq!(bits(dx.as_flat()), bits(dx0.as_flat()), "{k:?}: backward, {H}x{W}");
        }
    }

    #[test]
    fn the_2x2_kernels_give_the_bits_of_the_loops() {
        kernels_match_the_loops::<1, 1, 1, 1>(1);
        kernels_match_the_loops::<1, 2, 1, 1>(2);
        kernels_match_the_loops::<2, 1, 1, 1>(3);
        kernels_match_the_loops::<3, 3, 2, 2>(4);
        kernels_match_the_loops::<4, 4, 2, 2>(5);
        kernels_match_the_loops::<5, 7, 3, 4>(6);
        kernels_match_the_loops::<10, 10, 5, 5>(7);
        kernels_match_the_loops::<28, 28, 14, 14>(8);
        kernels_match_the_loops::<2, 66, 1, 33>(9);
        kernels_match_the_loops::<3, 65, 2, 33>(10);
        kernels_match_the_loops::<4, 31, 2, 16>(11);
        kernels_match_the_loops::<2, 64, 1, 32>(12);
    }
}
