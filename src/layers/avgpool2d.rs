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
use crate::{Tensor, pool_out};

/// Average pooling over `P x P` windows with stride `P`, keeping partial
/// edge windows (ceil mode).
///
/// PyTorch: `nn.AvgPool2d(P, ceil_mode=True)`.
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
}
