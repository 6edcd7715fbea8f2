//! `MaxPool2d`: the largest value of each `P x P` window, stride `P`, ceil mode.
//!
//! Forward: `y[c][i][j] = max over the window rows iP..min(iP+P, H), columns jP..min(jP+P, W)`.
//! Partial windows at the right and bottom edges are kept (ceil mode).
//!
//! Backward: `dL/dx = dy[c][i][j]` at the position of the window's maximum,
//! `0` elsewhere. **Ties**: when several inputs of a window equal the
//! maximum, the whole gradient goes to the *first* of them in row-major
//! order — PyTorch's choice, and the one that keeps `backward` the exact
//! derivative of a single `max` selection. (The 001 tutorial's loop copies
//! the gradient to *every* tied position instead, which counts it several
//! times.)

use crate::kernels::PoolRelu;
use crate::layer::{Grad, Layer, Mode, assert_out_shape};
use crate::{Flat, Tensor, pool_out};

/// Max pooling over `P x P` windows with stride `P`, keeping partial edge
/// windows (ceil mode).
///
/// PyTorch: `nn.MaxPool2d(P, ceil_mode=True)`.
///
/// # Shapes
/// Input `C x H x W`, output `C x pool_out(H, P) x pool_out(W, P)` with
/// `pool_out(n, P) = ceil(n / P)`.
///
/// ```
/// use constnet::{Flat, Layer, MaxPool2d, Mode, Tensor};
/// // The worked example of tutorial 001: 3x3 -> 2x2, edge windows kept.
/// let x = Tensor::<1, 3, 3>::from_array([[[1., 2., 1.], [0., 2., 0.], [1., 2., 1.]]]);
/// let mut y = [Tensor::<1, 2, 2>::zeroed()];
/// MaxPool2d::<2>.forward(&[x], &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[2., 1.], [2., 1.]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MaxPool2d<const P: usize>;

/// Pooling layers share the output-shape rule.
macro_rules! pool_shape {
    ($name:ident) => {
        // SAFETY: zero-sized.
        unsafe impl<const P: usize> $crate::Flat for $name<P> {}
        impl<const P: usize> $crate::Parameters for $name<P> {}
        impl<const P: usize, const C: usize, const H: usize, const W: usize> $crate::Shape<C, H, W> for $name<P> {
            const OUT_C: usize = C;
            const OUT_H: usize = pool_out(H, P);
            const OUT_W: usize = pool_out(W, P);
        }
    };
}
pub(crate) use pool_shape;
pool_shape!(MaxPool2d);

/// The input rows (or columns) of output window `o`: `oP .. min(oP + P, n)`.
#[inline(always)]
pub(crate) fn window(o: usize, p: usize, n: usize) -> core::ops::Range<usize> {
    o * p..(o * p + p).min(n)
}

impl<const P: usize> MaxPool2d<P> {
    /// Position `(row, column)` of the first maximum of a window (row-major).
    #[inline]
    fn argmax<const H: usize, const W: usize>(x: &[[f32; W]; H], oy: usize, ox: usize) -> (usize, usize) {
        let mut best = (oy * P, ox * P);
        for iy in window(oy, P, H) {
            for ix in window(ox, P, W) {
                if x[iy][ix] > x[best.0][best.1] {
                    best = (iy, ix);
                }
            }
        }
        best
    }
}

impl<const P: usize, const C: usize, const H: usize, const W: usize> Layer<C, H, W> for MaxPool2d<P> {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("MaxPool2d", OC, OH, OW);
        let k = crate::kernels::active();
        if P == 2 && k.maxpool2_forward(B * C, (H, W), x.as_flat(), PoolRelu::Absent, y.as_flat_mut()) {
            return;
        }
        for (x, y) in x.iter().zip(y.iter_mut()) {
            for (xc, yc) in x.0.iter().zip(y.0.iter_mut()) {
                for (oy, yrow) in yc.iter_mut().enumerate() {
                    for (ox, v) in yrow.iter_mut().enumerate() {
                        let (iy, ix) = Self::argmax(xc, oy, ox);
                        *v = xc[iy][ix];
                    }
                }
            }
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        assert_out_shape!("MaxPool2d", OC, OH, OW);
        let Some(dx) = dx else { return };
        // The kernel finds each window's maximum in `y` (the forward output).
        let (k, xy) = (crate::kernels::active(), (x.as_flat(), y.as_flat()));
        if P == 2 && k.maxpool2_backward(B * C, (H, W), xy, dy.as_flat(), dx.as_flat_mut(), PoolRelu::Absent) {
            return;
        }
        dx.zero();
        for b in 0..B {
            for c in 0..C {
                for oy in 0..OH {
                    for ox in 0..OW {
                        let (iy, ix) = Self::argmax(&x[b].0[c], oy, ox);
                        dx[b].0[c][iy][ix] += dy[b].0[c][oy][ox];
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
    fn gradients_even_size() {
        check_layer::<MaxPool2d<2>, 2, 2, 4, 6, 2, 2, 3>(21).unwrap();
    }

    #[test]
    fn gradients_partial_windows() {
        check_layer::<MaxPool2d<2>, 1, 3, 5, 7, 3, 3, 4>(22).unwrap();
        check_layer::<MaxPool2d<3>, 2, 1, 7, 5, 1, 3, 2>(23).unwrap();
    }

    /// Rows of 40 (two 32-column chunks, the second partial) and an odd
    /// height: the AVX-512 path's chunking and edge windows.
    #[test]
    fn gradients_wide_rows() {
        check_layer::<MaxPool2d<2>, 2, 2, 5, 40, 2, 3, 20>(24).unwrap();
        check_layer::<MaxPool2d<2>, 1, 1, 3, 33, 1, 2, 17>(25).unwrap();
    }

    /// Ties in every position pattern of a 2x2 window (values 0 and 1): the
    /// gradient goes to the first maximum in row-major order, as the
    /// reference loop (and PyTorch) route it.
    #[test]
    fn ties_match_the_reference_rule_in_every_pattern() {
        let mut x = [Tensor::<1, 2, 32>::zeroed()];
        for j in 0..16 {
            for (k, (r, c)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
                x[0].0[0][r][2 * j + c] = (j >> k & 1) as f32;
            }
        }
        let mut y = [Tensor::<1, 1, 16>::zeroed()];
        MaxPool2d::<2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
        let dy = [Tensor::<1, 1, 16>::from_fn(|_, _, j| j as f32 + 1.0)];
        let mut dx = [Tensor::<1, 2, 32>::zeroed()];
        MaxPool2d::<2>.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut MaxPool2d, crate::Grad::Add);
        for j in 0..16 {
            let (iy, ix) = MaxPool2d::<2>::argmax(&x[0].0[0], 0, j);
            assert_eq!(y[0].0[0][0][j], x[0].0[0][iy][ix], "window {j}");
            for r in 0..2 {
                for c in 2 * j..2 * j + 2 {
                    let expect = if (r, c) == (iy, ix) { j as f32 + 1.0 } else { 0.0 };
                    assert_eq!(dx[0].0[0][r][c], expect, "window {j} (pattern {j:04b}), input ({r}, {c})");
                }
            }
        }
    }

    /// The forward pass, alone and fused with a ReLU before it (stored or
    /// not), against the window rule: planes of one and of two 32-column
    /// strips, odd sides, two samples, NaN and -0 among the inputs (the
    /// fused paths bit for bit, NaN and -0 becoming +0; their outputs start
    /// as NaN, so an unwritten one fails).
    #[test]
    fn forward_matches_the_window_rule_in_every_strip() {
        fn check<const C: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(seed: u64) {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let x: [Tensor<C, H, W>; 2] = core::array::from_fn(|_| {
                Tensor::from_fn(|_, _, _| match rng.random_range(0..12) {
                    0 => f32::NAN,
                    1 => -0.0,
                    _ => rng.random_range(-1.0..1.0),
                })
            });
            let mut y = [Tensor::<C, OH, OW>::zeroed(); 2];
            MaxPool2d::<2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
            // The kernel with a ReLU before the pooling, applied in registers.
            let k = crate::kernels::active();
            let fused = k.is_fast();
            let relu = |v: f32| if v > 0.0 { v } else { 0.0 };
            let r = x.map(|t| Tensor::<C, H, W>(t.0.map(|p| p.map(|row| row.map(relu)))));
            let mut yr = [Tensor::<C, OH, OW>::splat(f32::NAN); 2];
            if fused {
                assert!(k.maxpool2_forward(2 * C, (H, W), x.as_flat(), PoolRelu::Apply, yr.as_flat_mut()));
            }
            for s in 0..2 {
                for c in 0..C {
                    for (oy, ox) in (0..OH).flat_map(|oy| (0..OW).map(move |ox| (oy, ox))) {
                        let at = std::format!("{H}x{W}, sample {s}, channel {c}, window ({oy}, {ox})");
                        // The layer alone, where the window has no NaN (its
                        // result with one is unspecified): the maximum's value.
                        let mut win = window(oy, 2, H).flat_map(|iy| window(ox, 2, W).map(move |ix| (iy, ix)));
                        if win.all(|(iy, ix)| !x[s].0[c][iy][ix].is_nan()) {
                            let (iy, ix) = MaxPool2d::<2>::argmax(&x[s].0[c], oy, ox);
                            assert_eq!(y[s].0[c][oy][ox], x[s].0[c][iy][ix], "{at}");
                        }
                        if !fused {
                            continue;
                        }
                        // The window of the ReLU's output: its maximum, +0 if all are 0.
                        let (iy, ix) = MaxPool2d::<2>::argmax(&r[s].0[c], oy, ox);
                        assert_eq!(yr[s].0[c][oy][ox].to_bits(), r[s].0[c][iy][ix].to_bits(), "fused, {at}");
                    }
                }
            }
        }
        check::<3, 5, 40, 3, 20>(26);
        check::<2, 7, 5, 4, 3>(27);
        check::<1, 4, 64, 2, 32>(28);
        check::<2, 3, 33, 2, 17>(29);
    }

    /// Odd widths, where the last window has no right column: a window
    /// whose maximum is 0, in its bottom row, routes the gradient there
    /// and not to the missing column (which a masked load reads as 0).
    #[test]
    fn the_last_window_of_an_odd_row_has_no_right_column() {
        fn check<const H: usize, const W: usize, const OH: usize, const OW: usize>() {
            let x = [Tensor::<1, H, W>::from_fn(|_, y, _| if y % 2 == 0 { -1.0 } else { 0.0 })];
            let mut y = [Tensor::<1, OH, OW>::zeroed()];
            MaxPool2d::<2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
            let dy = [Tensor::<1, OH, OW>::from_fn(|_, oy, ox| (oy * OW + ox) as f32 + 1.0)];
            let mut dx = [Tensor::<1, H, W>::splat(f32::NAN)];
            MaxPool2d::<2>.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut MaxPool2d, crate::Grad::Add);
            for (oy, ox) in (0..OH).flat_map(|oy| (0..OW).map(move |ox| (oy, ox))) {
                let (iy, ix) = MaxPool2d::<2>::argmax(&x[0].0[0], oy, ox);
                for (r, c) in window(oy, 2, H).flat_map(|r| window(ox, 2, W).map(move |c| (r, c))) {
                    let expect = if (r, c) == (iy, ix) { dy[0].0[0][oy][ox] } else { 0.0 };
                    assert_eq!(dx[0].0[0][r][c], expect, "{H}x{W}, window ({oy}, {ox}), input ({r}, {c})");
                }
            }
        }
        check::<2, 5, 1, 3>();
        check::<4, 15, 2, 8>();
        check::<3, 33, 2, 17>();
    }

    #[test]
    fn ties_route_to_the_first_maximum() {
        let x = [Tensor::<1, 2, 2>::from_array([[[3.0, 3.0], [1.0, 3.0]]])];
        let mut y = [Tensor::<1, 1, 1>::zeroed()];
        MaxPool2d::<2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
        let mut dx = [Tensor::<1, 2, 2>::zeroed()];
        let dy = [Tensor::<1, 1, 1>::splat(1.0)];
        MaxPool2d::<2>.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut MaxPool2d, crate::Grad::Add);
        assert_eq!(dx[0].0, [[[1.0, 0.0], [0.0, 0.0]]]);
    }
}
