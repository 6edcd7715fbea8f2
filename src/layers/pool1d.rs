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

/// Whether `v`, met after `best`, takes its place: the first maximum
/// wins, and a NaN wins (as in PyTorch).
#[inline(always)]
fn takes_over(v: f32, best: f32) -> bool {
    !best.is_nan() && (v > best || v.is_nan())
}

/// The first maximum of a window of `P` and its position in it. The
/// loop keeps a value, not an index to load again, over a window of the
/// constant `P`: 1.3-2.1x the former loops' speed (`pool1d_speed` below,
/// docs/performance.md).
#[inline(always)]
fn window_max<const P: usize>(w: &[f32; P]) -> (f32, usize) {
    let (mut best, mut at) = (w[0], 0);
    for (k, &v) in w.iter().enumerate().skip(1) {
        let take = takes_over(v, best);
        best = if take { v } else { best };
        at = if take { k } else { at };
    }
    (best, at)
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
            for (v, w) in ys.iter_mut().zip(xs.as_chunks::<P>().0) {
                *v = window_max(w).0;
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
            let (windows, rest) = ds.as_chunks_mut::<P>();
            for ((d, w), &g) in windows.iter_mut().zip(xs.as_chunks::<P>().0).zip(gs) {
                // The whole window written: no scattered store per window.
                let at = window_max(w).1;
                for (k, d) in d.iter_mut().enumerate() {
                    *d = if k == at { g } else { 0.0 };
                }
            }
            rest.fill(0.0);
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
            // These loops are fast as they are (a rewrite
            // like MaxPool1d's measured slower: `pool1d_speed`).
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
        for w in [[1.0, 3.0, 3.0], [1.0, f32::NAN, 5.0], [f32::NAN, 7.0, f32::NAN], [-0.0, 0.0, -1.0]] {
            let (v, at) = window_max(&w);
            assert_eq!((v.to_bits(), at), (w[argmax(&w)].to_bits(), argmax(&w)), "{w:?}");
        }
    }

    /// The layers' former loops: an index per window, loaded again.
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

    /// `MaxPool1d`'s former forward and backward loops on rows of `l` steps.
    fn reference_max<const P: usize>(x: &[f32], dy: &[f32], l: usize, y: &mut [f32], dx: &mut [f32]) {
        let ol = l / P;
        for (((xs, gs), ys), ds) in
            x.chunks_exact(l).zip(dy.chunks_exact(ol)).zip(y.chunks_exact_mut(ol)).zip(dx.chunks_exact_mut(l))
        {
            for (v, w) in ys.iter_mut().zip(xs.chunks_exact(P)) {
                *v = w[argmax(w)];
            }
            ds.fill(0.0);
            for (t, (w, &g)) in xs.chunks_exact(P).zip(gs).enumerate() {
                ds[t * P + argmax(w)] = g;
            }
        }
    }

    /// `AvgPool1d`'s former forward and backward loops on rows of `l` steps.
    fn reference_avg<const P: usize>(x: &[f32], dy: &[f32], l: usize, y: &mut [f32], dx: &mut [f32]) {
        let ol = l / P;
        for (((xs, gs), ys), ds) in
            x.chunks_exact(l).zip(dy.chunks_exact(ol)).zip(y.chunks_exact_mut(ol)).zip(dx.chunks_exact_mut(l))
        {
            for (v, w) in ys.iter_mut().zip(xs.chunks_exact(P)) {
                *v = w.iter().sum::<f32>() / P as f32;
            }
            ds.fill(0.0);
            for (w, &g) in ds.chunks_exact_mut(P).zip(gs) {
                w.fill(g / P as f32);
            }
        }
    }

    /// The layers against their former loops, bit for bit, on inputs with
    /// ties, NaNs, signed zeros and a partial last window.
    fn same_bits_as_reference<const P: usize, const C: usize, const L: usize, const OL: usize>(seed: u64) {
        use rand::{RngExt, SeedableRng};
        const B: usize = 3;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut x = [Tensor::<C, 1, L>::zeroed(); B];
        for v in x.as_flat_mut() {
            *v = match rng.random_range(0..10) {
                0 => f32::NAN,
                1 => -0.0,
                2 => 0.0,
                3 => 1.0,
                _ => rng.random_range(-2.0..2.0),
            };
        }
        let mut dy = [Tensor::<C, 1, OL>::zeroed(); B];
        dy.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
        let (mut my, mut ay) = ([Tensor::<C, 1, OL>::zeroed(); B], [Tensor::<C, 1, OL>::zeroed(); B]);
        let (mut mdx, mut adx) = ([Tensor::<C, 1, L>::zeroed(); B], [Tensor::<C, 1, L>::zeroed(); B]);
        let mut want = (
            [Tensor::<C, 1, OL>::zeroed(); B],
            [Tensor::<C, 1, L>::zeroed(); B],
            [Tensor::<C, 1, OL>::zeroed(); B],
            [Tensor::<C, 1, L>::zeroed(); B],
        );
        reference_max::<P>(x.as_flat(), dy.as_flat(), L, want.0.as_flat_mut(), want.1.as_flat_mut());
        reference_avg::<P>(x.as_flat(), dy.as_flat(), L, want.2.as_flat_mut(), want.3.as_flat_mut());
        mdx.as_flat_mut().fill(f32::NAN);
        adx.as_flat_mut().fill(f32::NAN);
        MaxPool1d::<P>.forward(&x, &mut my, &mut (), &mut Mode::Infer);
        MaxPool1d::<P>.backward(&x, &my, &mut (), &dy, Some(&mut mdx), &mut MaxPool1d, Grad::Overwrite);
        AvgPool1d::<P>.forward(&x, &mut ay, &mut (), &mut Mode::Infer);
        AvgPool1d::<P>.backward(&x, &ay, &mut (), &dy, Some(&mut adx), &mut AvgPool1d, Grad::Overwrite);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<std::vec::Vec<_>>();
        assert_eq!(bits(my.as_flat()), bits(want.0.as_flat()), "MaxPool1d<{P}> y");
        assert_eq!(bits(mdx.as_flat()), bits(want.1.as_flat()), "MaxPool1d<{P}> dx");
        assert_eq!(bits(ay.as_flat()), bits(want.2.as_flat()), "AvgPool1d<{P}> y");
        assert_eq!(bits(adx.as_flat()), bits(want.3.as_flat()), "AvgPool1d<{P}> dx");
    }

    #[test]
    fn same_bits_as_the_former_loops() {
        same_bits_as_reference::<2, 3, 28, 14>(1);
        same_bits_as_reference::<2, 2, 17, 8>(2); // a partial last window
        same_bits_as_reference::<3, 4, 20, 6>(3);
        same_bits_as_reference::<4, 2, 35, 8>(4);
        same_bits_as_reference::<1, 2, 5, 5>(5);
        same_bits_as_reference::<7, 1, 7, 1>(6);
    }

    /// Example 09's pools (batch 32): forward plus backward by the layers
    /// against their former loops, run alternately.
    /// `cargo test --release --lib pool1d_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn pool1d_speed() {
        speed_of::<2, 64, 28, 14>("64x1x28 P=2");
        speed_of::<2, 64, 14, 7>("64x1x14 P=2");
        speed_of::<4, 64, 256, 64>("64x1x256 P=4");
    }

    fn speed_of<const P: usize, const C: usize, const L: usize, const OL: usize>(name: &str) {
        use std::time::Instant;
        const B: usize = 32;
        let mut x = <[Tensor<C, 1, L>; B]>::boxed_zeroed();
        x.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = ((i * 7919) % 1013) as f32 * 0.01 - 5.0);
        let mut dy = <[Tensor<C, 1, OL>; B]>::boxed_zeroed();
        dy.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = (i % 5) as f32 * 0.1 - 0.2);
        let (mut my, mut ay) = (<[Tensor<C, 1, OL>; B]>::boxed_zeroed(), <[Tensor<C, 1, OL>; B]>::boxed_zeroed());
        let (mut mdx, mut adx) = (<[Tensor<C, 1, L>; B]>::boxed_zeroed(), <[Tensor<C, 1, L>; B]>::boxed_zeroed());
        let mut run = |new: bool, max: bool| {
            let t = Instant::now();
            for _ in 0..20 {
                if !new {
                    if max {
                        reference_max::<P>(x.as_flat(), dy.as_flat(), L, my.as_flat_mut(), mdx.as_flat_mut());
                    } else {
                        reference_avg::<P>(x.as_flat(), dy.as_flat(), L, ay.as_flat_mut(), adx.as_flat_mut());
                    }
                    core::hint::black_box((&my, &ay));
                } else if max {
                    MaxPool1d::<P>.forward(&x, &mut my, &mut (), &mut Mode::Infer);
                    MaxPool1d::<P>.backward(&x, &my, &mut (), &dy, Some(&mut mdx), &mut MaxPool1d, Grad::Overwrite);
                } else {
                    AvgPool1d::<P>.forward(&x, &mut ay, &mut (), &mut Mode::Infer);
                    AvgPool1d::<P>.backward(&x, &ay, &mut (), &dy, Some(&mut adx), &mut AvgPool1d, Grad::Overwrite);
                }
                core::hint::black_box((&my, &ay));
            }
            t.elapsed().as_secs_f64() / 20.0
        };
        for max in [true, false] {
            let mut ratios = std::vec::Vec::new();
            let (mut old, mut new) = (std::vec::Vec::new(), std::vec::Vec::new());
            for _ in 0..3 {
                run(true, max);
                run(false, max);
            }
            for _ in 0..21 {
                let (n, o) = (run(true, max), run(false, max));
                old.push(o);
                new.push(n);
                ratios.push(o / n);
            }
            for v in [&mut old, &mut new, &mut ratios] {
                v.sort_by(f64::total_cmp);
            }
            std::println!(
                "{} {name} B={B}: former loops {:.1} us, layer {:.1} us, median pair ratio {:.2}x",
                if max { "MaxPool1d" } else { "AvgPool1d" },
                old[10] * 1e6,
                new[10] * 1e6,
                ratios[10]
            );
        }
    }
}
