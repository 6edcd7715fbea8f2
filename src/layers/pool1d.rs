//! `MaxPool1d` and `AvgPool1d`: pooling along a sequence held as `C x 1 x L`,
//! window and stride `P`, the last partial window dropped (PyTorch's
//! default floor mode): `L_out = L / P`.
//!
//! - Max: `y[c][t] = max(x[c][tP .. tP + P])`; backward sends `dy[c][t]` to
//!   the window's first maximum (a NaN counts as the maximum, as in PyTorch).
//! - Average: `y[c][t] = (1/P) · Σ x[c][tP .. tP + P]`; backward gives every
//!   input of the window `dy[c][t] / P`. Inputs past the last whole window
//!   get no gradient.

use crate::flat::{same_layout, same_layout_mut};
use crate::layer::{Grad, Layer, Mode, assert_out_shape};
use crate::{Flat, Tensor};

/// Max pooling along a sequence, window and stride `P`.
///
/// PyTorch: `nn.MaxPool1d(P)`.
///
/// # Shapes
/// Input `C x 1 x L`, output `C x 1 x L/P` (a 2-D input does not build).
///
/// ```
/// use constnet::{Flat, Layer, MaxPool1d, Mode, Tensor};
/// let x = [Tensor::<1, 1, 5>::from_array([[[1., 3., 2., 0., 9.]]])];
/// let mut y = [Tensor::<1, 1, 2>::zeroed()];
/// MaxPool1d::<2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[3., 2.]]]); // the 9 is in no whole window
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MaxPool1d<const P: usize>;

/// Average pooling along a sequence, window and stride `P`.
///
/// PyTorch: `nn.AvgPool1d(P)`.
///
/// # Shapes
/// Input `C x 1 x L`, output `C x 1 x L/P` (a 2-D input does not build).
///
/// ```
/// use constnet::{AvgPool1d, Flat, Layer, Mode, Tensor};
/// let x = [Tensor::<1, 1, 6>::from_array([[[1., 3., 2., 0., 9., 3.]]])];
/// let mut y = [Tensor::<1, 1, 2>::zeroed()];
/// AvgPool1d::<3>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[2., 4.]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AvgPool1d<const P: usize>;

/// The shape rules and trait plumbing the two share.
macro_rules! pool1d_shape {
    ($name:ident) => {
        // SAFETY: zero-sized.
        unsafe impl<const P: usize> Flat for $name<P> {}
        impl<const P: usize> crate::Parameters for $name<P> {}
        impl<const P: usize, const C: usize, const H: usize, const W: usize> crate::Shape<C, H, W> for $name<P> {
            const OUT_C: usize = {
                assert!(H == 1, concat!(stringify!($name), ": the input must be a sequence, C x 1 x L"));
                assert!(P > 0, concat!(stringify!($name), ": the window P must be at least 1"));
                assert!(W >= P, concat!(stringify!($name), ": the sequence must be at least one window long"));
                C
            };
            const OUT_H: usize = 1;
            const OUT_W: usize = W / P;
        }
    };
}
pool1d_shape!(MaxPool1d);
pool1d_shape!(AvgPool1d);

/// The position in `w` of its first maximum (a NaN wins, as in PyTorch).
#[inline]
fn argmax(w: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in w.iter().enumerate().skip(1) {
        let b = w[best];
        if !b.is_nan() && (v > b || v.is_nan()) {
            best = i;
        }
    }
    best
}

impl<const P: usize, const C: usize, const H: usize, const W: usize> Layer<C, H, W> for MaxPool1d<P> {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("MaxPool1d", OC, OH, OW);
        // `H == 1` and `OC == C`, as the shape checks asserted.
        let x: &[[[f32; W]; C]; B] = same_layout(x);
        let y: &mut [[[f32; OW]; C]; B] = same_layout_mut(y);
        for (xs, ys) in x.iter().flatten().zip(y.iter_mut().flatten()) {
            for (v, w) in ys.iter_mut().zip(xs.chunks_exact(P)) {
                *v = w[argmax(w)];
            }
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        assert_out_shape!("MaxPool1d", OC, OH, OW);
        let Some(dx) = dx else { return };
        let x: &[[[f32; W]; C]; B] = same_layout(x);
        let dy: &[[[f32; OW]; C]; B] = same_layout(dy);
        let dx: &mut [[[f32; W]; C]; B] = same_layout_mut(dx);
        for ((xs, gs), ds) in x.iter().flatten().zip(dy.iter().flatten()).zip(dx.iter_mut().flatten()) {
            ds.fill(0.0);
            for (t, (w, &g)) in xs.chunks_exact(P).zip(gs).enumerate() {
                ds[t * P + argmax(w)] = g;
            }
        }
    }
}

impl<const P: usize, const C: usize, const H: usize, const W: usize> Layer<C, H, W> for AvgPool1d<P> {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("AvgPool1d", OC, OH, OW);
        let x: &[[[f32; W]; C]; B] = same_layout(x);
        let y: &mut [[[f32; OW]; C]; B] = same_layout_mut(y);
        for (xs, ys) in x.iter().flatten().zip(y.iter_mut().flatten()) {
            for (v, w) in ys.iter_mut().zip(xs.chunks_exact(P)) {
                *v = w.iter().sum::<f32>() / P as f32;
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
        assert_out_shape!("AvgPool1d", OC, OH, OW);
        let Some(dx) = dx else { return };
        let dy: &[[[f32; OW]; C]; B] = same_layout(dy);
        let dx: &mut [[[f32; W]; C]; B] = same_layout_mut(dx);
        for (gs, ds) in dy.iter().flatten().zip(dx.iter_mut().flatten()) {
            ds.fill(0.0);
            for (w, &g) in ds.chunks_exact_mut(P).zip(gs) {
                w.fill(g / P as f32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        check_layer::<MaxPool1d<2>, 2, 3, 1, 9, 3, 1, 4>(101).unwrap();
        check_layer::<MaxPool1d<3>, 2, 2, 1, 9, 2, 1, 3>(102).unwrap();
        check_layer::<AvgPool1d<2>, 2, 3, 1, 9, 3, 1, 4>(103).unwrap();
        check_layer::<AvgPool1d<4>, 1, 2, 1, 10, 2, 1, 2>(104).unwrap();
    }

    #[test]
    fn the_first_maximum_and_nan_win() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[1.0, f32::NAN, 5.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 7.0]), 0);
        assert_eq!(argmax(&[-0.0, 0.0]), 0);
    }
}
