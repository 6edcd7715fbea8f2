//! `MaxPool1d` and `AvgPool1d`: pooling along a sequence held as `C x 1 x L`,
//! windows of `K` steps, padding `PAD` at both ends and stride `STRIDE`
//! (default `K`), PyTorch's floor mode:
//! `L_out = (L + 2·PAD - K) / STRIDE + 1`. Window `t` covers the steps
//! `t·STRIDE - PAD + k`, `k` in `0..K`; those outside `0..L` are padding.
//!
//! - Max: `y[c][t] = max_k x[c][t·STRIDE - PAD + k]`, the padding `-∞`;
//!   backward adds `dy[c][t]` to the window's first maximum (a NaN counts
//!   as the maximum, as in PyTorch).
//! - Average: `y[c][t] = (1/K) · Σ_k x[c][t·STRIDE - PAD + k]`, the padding
//!   zero and counted (PyTorch's `count_include_pad=True`); backward adds
//!   `dy[c][t] / K` to every input step of the window.
//!
//! Where windows overlap (`STRIDE < K`) the gradients add up; input steps
//! in no window get none.

use crate::flat::{same_layout, same_layout_mut};
use crate::layer::{ConstMessage, Grad, Layer, Mode, assert_out_shape};
use crate::{Flat, Tensor};
use core::ops::Range;

/// Max pooling along a sequence: windows of `K` steps, padding `PAD`
/// (`-∞`), stride `STRIDE` (default `K`: windows side by side).
///
/// PyTorch: `nn.MaxPool1d(K, stride=STRIDE, padding=PAD)`; `MaxPool1d<2>`
/// is `nn.MaxPool1d(2)`. PyTorch's rule `PAD <= K/2` holds here too.
///
/// # Shapes
/// Input `C x 1 x L`, output `C x 1 x (L + 2·PAD - K) / STRIDE + 1`
/// ([`conv_out`](crate::conv_out)). A 2-D input, `PAD > K/2`, `K` larger
/// than the padded input or `STRIDE = 0` does not build:
///
/// ```compile_fail
/// use constnet::{MaxPool1d, Shape};
/// // Padding 2 on windows of 3: PyTorch allows at most 3/2 = 1.
/// const N: usize = <MaxPool1d<3, 2> as Shape<1, 1, 10>>::OUT_C;
/// ```
///
/// ```
/// use constnet::{Flat, Layer, MaxPool1d, Mode, Tensor};
/// let x = [Tensor::<1, 1, 5>::from_array([[[1., 3., 2., 0., 9.]]])];
/// let mut y = [Tensor::<1, 1, 2>::zeroed()];
/// MaxPool1d::<2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[3., 2.]]]); // the 9 is in no whole window
///
/// // nn.MaxPool1d(3, stride=2, padding=1): windows [-, 1, 3], [3, 2, 0], [0, 9, -].
/// let mut y = [Tensor::<1, 1, 3>::zeroed()];
/// MaxPool1d::<3, 1, 2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[3., 3., 9.]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MaxPool1d<const K: usize, const PAD: usize = 0, const STRIDE: usize = K>;

/// Average pooling along a sequence: windows of `K` steps, padding `PAD`
/// (zeros, counted: every window divides by `K`), stride `STRIDE`
/// (default `K`: windows side by side).
///
/// PyTorch: `nn.AvgPool1d(K, stride=STRIDE, padding=PAD)` (its default
/// `count_include_pad=True`); `AvgPool1d<3>` is `nn.AvgPool1d(3)`.
/// PyTorch's rule `PAD <= K/2` holds here too.
///
/// # Shapes
/// Input `C x 1 x L`, output `C x 1 x (L + 2·PAD - K) / STRIDE + 1`
/// ([`conv_out`](crate::conv_out)). A 2-D input, `PAD > K/2`, `K` larger
/// than the padded input or `STRIDE = 0` does not build.
///
/// ```
/// use constnet::{AvgPool1d, Flat, Layer, Mode, Tensor};
/// let x = [Tensor::<1, 1, 6>::from_array([[[1., 3., 2., 0., 9., 3.]]])];
/// let mut y = [Tensor::<1, 1, 2>::zeroed()];
/// AvgPool1d::<3>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[2., 4.]]]);
///
/// // nn.AvgPool1d(2, stride=4, padding=1): windows [0, 1], [0, 9]; the pad counts.
/// let mut y = [Tensor::<1, 1, 2>::zeroed()];
/// AvgPool1d::<2, 1, 4>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[0.5, 4.5]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AvgPool1d<const K: usize, const PAD: usize = 0, const STRIDE: usize = K>;

/// The pools' shape rules on a `C x H x W` input, each failure a build
/// error naming the rule and the values received.
const fn check_pool1d(layer: &str, [c, h, w]: [usize; 3], k: usize, pad: usize, stride: usize) {
    let rule = if h != 1 {
        ": the input must be a sequence, C x 1 x L; received "
    } else if k == 0 {
        ": the window K must be at least 1; received "
    } else if stride == 0 {
        ": STRIDE must be at least 1; received "
    } else if 2 * pad > k {
        ": PAD must be at most K/2 (PyTorch's rule); received "
    } else if w + 2 * pad < k {
        ": the window K must fit in the padded sequence, L + 2*PAD >= K; received "
    } else {
        return;
    };
    let msg = ConstMessage::new()
        .text(layer)
        .text(rule)
        .text("K = ")
        .number(k)
        .text(", PAD = ")
        .number(pad)
        .text(", STRIDE = ")
        .number(stride)
        .text(" on a ")
        .shape([c, h, w])
        .text(" input");
    panic!("{}", msg.as_str());
}

/// The shape rules and trait plumbing the two share.
macro_rules! pool1d_shape {
    ($name:ident) => {
        // SAFETY: zero-sized.
        unsafe impl<const K: usize, const PAD: usize, const STRIDE: usize> Flat for $name<K, PAD, STRIDE> {}
        impl<const K: usize, const PAD: usize, const STRIDE: usize> crate::Parameters for $name<K, PAD, STRIDE> {}
        impl<const K: usize, const PAD: usize, const STRIDE: usize, const C: usize, const H: usize, const W: usize>
            crate::Shape<C, H, W> for $name<K, PAD, STRIDE>
        {
            const OUT_C: usize = {
                check_pool1d(stringify!($name), [C, H, W], K, PAD, STRIDE);
                C
            };
            const OUT_H: usize = 1;
            // `conv_out`, checked by `OUT_C` (written so as not to fail again here).
            const OUT_W: usize = (W + 2 * PAD).saturating_sub(K) / if STRIDE > 0 { STRIDE } else { 1 } + 1;
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

/// The first maximum of a whole window of `K` and its position in it. The
/// loop keeps a value, not an index to load again, over a window of the
/// constant `K`: 1.3-2.1x the former loops' speed, a ratio that moves
/// from build to build (`pool1d_speed` below, docs/performance.md).
#[inline(always)]
fn window_max<const K: usize>(w: &[f32; K]) -> (f32, usize) {
    let (mut best, mut at) = (w[0], 0);
    for (k, &v) in w.iter().enumerate().skip(1) {
        let take = takes_over(v, best);
        best = if take { v } else { best };
        at = if take { k } else { at };
    }
    (best, at)
}

/// [`window_max`] of a window the padding cuts short.
#[inline(always)]
fn first_max(w: &[f32]) -> (f32, usize) {
    let (mut best, mut at) = (w[0], 0);
    for (k, &v) in w.iter().enumerate().skip(1) {
        if takes_over(v, best) {
            (best, at) = (v, k);
        }
    }
    (best, at)
}

/// The steps of window `t` inside a sequence of `l`: `K` of them, fewer
/// where the padding cuts it.
#[inline(always)]
fn window<const K: usize, const PAD: usize, const STRIDE: usize>(t: usize, l: usize) -> Range<usize> {
    (t * STRIDE).saturating_sub(PAD)..(t * STRIDE + K - PAD).min(l)
}

/// The windows side by side with no padding (`STRIDE = K`, `PAD = 0`,
/// `MaxPool1d<K>`): each a `[f32; K]` of the row, one after the other.
const fn side_by_side(k: usize, pad: usize, stride: usize) -> bool {
    pad == 0 && stride == k
}

/// The windows `lo..hi` of a row that the padding does not cut: from the
/// first that starts at or after step 0 to the last that ends by step `l`.
#[inline(always)]
const fn whole_windows<const K: usize, const PAD: usize, const STRIDE: usize>(l: usize, ol: usize) -> Range<usize> {
    let lo = if PAD.div_ceil(STRIDE) < ol { PAD.div_ceil(STRIDE) } else { ol };
    let hi = if l + PAD >= K { (l + PAD - K) / STRIDE + 1 } else { 0 };
    lo..if hi < lo {
        lo
    } else if hi > ol {
        ol
    } else {
        hi
    }
}

/// The first step of the first of the `whole` windows (`L` if there are
/// none: no window then starts at or after step 0 and ends by `L`).
#[inline(always)]
const fn first_step<const PAD: usize, const STRIDE: usize, const L: usize>(whole: &Range<usize>) -> usize {
    if whole.start < whole.end { whole.start * STRIDE - PAD } else { L }
}

/// Max pooling of one row: the whole windows as `[f32; K]`, one after
/// the other, then those the padding cuts.
#[inline(always)]
fn max_windows<const K: usize, const PAD: usize, const STRIDE: usize, const L: usize, const OL: usize>(
    x: &[f32; L],
    y: &mut [f32; OL],
) {
    let whole = whole_windows::<K, PAD, STRIDE>(L, OL);
    let steps = x[first_step::<PAD, STRIDE, L>(&whole)..].windows(K).step_by(STRIDE);
    for (v, w) in y[whole.clone()].iter_mut().zip(steps) {
        *v = window_max::<K>(w.try_into().expect("windows(K) yields K steps")).0;
    }
    for t in (0..whole.start).chain(whole.end..OL) {
        y[t] = first_max(&x[window::<K, PAD, STRIDE>(t, L)]).0;
    }
}

/// Max pooling's gradient of one row, a window at a time as in
/// [`max_windows`], added into zeros in window order (PyTorch's loops).
#[inline(always)]
fn max_windows_back<const K: usize, const PAD: usize, const STRIDE: usize, const L: usize, const OL: usize>(
    x: &[f32; L],
    dy: &[f32; OL],
    dx: &mut [f32; L],
) {
    dx.fill(0.0);
    let whole = whole_windows::<K, PAD, STRIDE>(L, OL);
    for t in 0..whole.start {
        let w = window::<K, PAD, STRIDE>(t, L);
        dx[w.start + first_max(&x[w]).1] += dy[t];
    }
    let first = first_step::<PAD, STRIDE, L>(&whole);
    let steps = x[first..].windows(K).step_by(STRIDE);
    for (j, (w, &g)) in steps.zip(&dy[whole.clone()]).enumerate() {
        let at = window_max::<K>(w.try_into().expect("windows(K) yields K steps")).1;
        dx[first + j * STRIDE + at] += g;
    }
    for t in whole.end..OL {
        let w = window::<K, PAD, STRIDE>(t, L);
        dx[w.start + first_max(&x[w]).1] += dy[t];
    }
}

/// Average pooling of one row, a window at a time.
#[inline(always)]
fn avg_windows<const K: usize, const PAD: usize, const STRIDE: usize, const L: usize, const OL: usize>(
    x: &[f32; L],
    y: &mut [f32; OL],
) {
    for (t, v) in y.iter_mut().enumerate() {
        let w = &x[window::<K, PAD, STRIDE>(t, L)];
        let sum = match w.first_chunk::<K>() {
            Some(whole) => whole.iter().sum::<f32>(),
            None => w.iter().sum::<f32>(),
        };
        *v = sum / K as f32;
    }
}

/// Average pooling's gradient of one row, a window at a time, added into
/// zeros in window order (PyTorch's loops).
#[inline(always)]
fn avg_windows_back<const K: usize, const PAD: usize, const STRIDE: usize, const L: usize, const OL: usize>(
    dy: &[f32; OL],
    dx: &mut [f32; L],
) {
    dx.fill(0.0);
    for (t, &g) in dy.iter().enumerate() {
        for d in &mut dx[window::<K, PAD, STRIDE>(t, L)] {
            *d += g / K as f32;
        }
    }
}

impl<const K: usize, const PAD: usize, const STRIDE: usize, const C: usize, const H: usize, const W: usize>
    Layer<C, H, W> for MaxPool1d<K, PAD, STRIDE>
{
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
            if side_by_side(K, PAD, STRIDE) {
                for (v, w) in ys.iter_mut().zip(xs.as_chunks::<K>().0) {
                    *v = window_max(w).0;
                }
            } else {
                max_windows::<K, PAD, STRIDE, W, OW>(xs, ys);
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
            if !side_by_side(K, PAD, STRIDE) {
                max_windows_back::<K, PAD, STRIDE, W, OW>(xs, gs, ds);
                continue;
            }
            let (windows, rest) = ds.as_chunks_mut::<K>();
            for ((d, w), &g) in windows.iter_mut().zip(xs.as_chunks::<K>().0).zip(gs) {
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

impl<const K: usize, const PAD: usize, const STRIDE: usize, const C: usize, const H: usize, const W: usize>
    Layer<C, H, W> for AvgPool1d<K, PAD, STRIDE>
{
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
            if side_by_side(K, PAD, STRIDE) {
                // These loops are fast as they are (a rewrite
                // like MaxPool1d's measured slower: `pool1d_speed`).
                for (v, w) in ys.iter_mut().zip(xs.chunks_exact(K)) {
                    *v = w.iter().sum::<f32>() / K as f32;
                }
            } else {
                avg_windows::<K, PAD, STRIDE, W, OW>(xs, ys);
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
            if side_by_side(K, PAD, STRIDE) {
                ds.fill(0.0);
                for (w, &g) in ds.chunks_exact_mut(K).zip(gs) {
                    w.fill(g / K as f32);
                }
            } else {
                avg_windows_back::<K, PAD, STRIDE, W, OW>(gs, ds);
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
        // <K, PAD, STRIDE>: stride below, at and above K; padding; odd lengths.
        check_layer::<MaxPool1d<3, 1, 1>, 2, 2, 1, 9, 2, 1, 9>(105).unwrap();
        check_layer::<MaxPool1d<4, 2, 3>, 2, 3, 1, 11, 3, 1, 4>(106).unwrap();
        check_layer::<MaxPool1d<3, 1, 3>, 1, 2, 1, 7, 2, 1, 3>(107).unwrap();
        check_layer::<MaxPool1d<2, 0, 3>, 2, 2, 1, 9, 2, 1, 3>(108).unwrap();
        check_layer::<MaxPool1d<5, 2, 2>, 1, 1, 1, 5, 1, 1, 3>(109).unwrap();
        check_layer::<AvgPool1d<3, 1, 1>, 2, 2, 1, 9, 2, 1, 9>(110).unwrap();
        check_layer::<AvgPool1d<4, 2, 3>, 2, 3, 1, 11, 3, 1, 4>(111).unwrap();
        check_layer::<AvgPool1d<3, 1, 3>, 1, 2, 1, 7, 2, 1, 3>(112).unwrap();
        check_layer::<AvgPool1d<2, 1, 3>, 2, 2, 1, 9, 2, 1, 4>(113).unwrap();
        check_layer::<AvgPool1d<5, 2, 1>, 1, 1, 1, 5, 1, 1, 5>(114).unwrap();
        check_layer::<MaxPool1d<4, 2, 1>, 2, 2, 1, 2, 2, 1, 3>(115).unwrap(); // no whole window
        check_layer::<AvgPool1d<2, 1, 5>, 2, 2, 1, 2, 2, 1, 1>(116).unwrap();
    }

    #[test]
    fn the_output_length_is_pytorchs() {
        use crate::{Shape, conv_out};
        fn out<L: Shape<1, 1, 9>>() -> usize {
            L::OUT_W
        }
        assert_eq!(out::<MaxPool1d<2>>(), 4);
        assert_eq!(out::<MaxPool1d<3, 1, 1>>(), 9);
        assert_eq!(out::<AvgPool1d<4, 2, 3>>(), conv_out(9, 4, 2, 3));
        assert_eq!(out::<AvgPool1d<2, 1, 3>>(), 4); // (9 + 2 - 2) / 3 + 1
        assert_eq!(out::<MaxPool1d<9>>(), 1);
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

    /// The steps of window `t` inside a row of `l` (the textbook loops').
    fn textbook_window<const K: usize, const PAD: usize, const S: usize>(t: usize, l: usize) -> Range<usize> {
        (t * S).saturating_sub(PAD)..(t * S + K - PAD).min(l)
    }

    /// `MaxPool1d`'s textbook loops for any window, padding and stride, on
    /// rows of `l` steps: a window at a time, its padding skipped, the
    /// gradients added into zeros (PyTorch's loops).
    fn textbook_max<const K: usize, const PAD: usize, const S: usize>(
        x: &[f32],
        dy: &[f32],
        l: usize,
        y: &mut [f32],
        dx: &mut [f32],
    ) {
        let ol = (l + 2 * PAD - K) / S + 1;
        dx.fill(0.0);
        for (r, (xs, gs)) in x.chunks_exact(l).zip(dy.chunks_exact(ol)).enumerate() {
            for (t, &g) in gs.iter().enumerate() {
                let w = textbook_window::<K, PAD, S>(t, l);
                let at = w.start + argmax(&xs[w]);
                y[r * ol + t] = xs[at];
                dx[r * l + at] += g;
            }
        }
    }

    /// `AvgPool1d`'s textbook loops, as [`textbook_max`].
    fn textbook_avg<const K: usize, const PAD: usize, const S: usize>(
        x: &[f32],
        dy: &[f32],
        l: usize,
        y: &mut [f32],
        dx: &mut [f32],
    ) {
        let ol = (l + 2 * PAD - K) / S + 1;
        dx.fill(0.0);
        for (r, (xs, gs)) in x.chunks_exact(l).zip(dy.chunks_exact(ol)).enumerate() {
            for (t, &g) in gs.iter().enumerate() {
                let w = textbook_window::<K, PAD, S>(t, l);
                y[r * ol + t] = xs[w.clone()].iter().sum::<f32>() / K as f32;
                for d in &mut dx[r * l + w.start..r * l + w.end] {
                    *d += g / K as f32;
                }
            }
        }
    }

    /// Random rows with ties, NaNs and signed zeros, and an upstream gradient.
    fn hostile_input<const C: usize, const L: usize, const OL: usize, const B: usize>(
        seed: u64,
    ) -> ([Tensor<C, 1, L>; B], [Tensor<C, 1, OL>; B]) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut x = [Tensor::<C, 1, L>::zeroed(); B];
        for v in x.as_flat_mut() {
            *v = match rng.random_range(0..12) {
                0 => f32::NAN,
                1 => -0.0,
                2 => 0.0,
                3 => 1.0,
                4 => f32::NEG_INFINITY,
                _ => rng.random_range(-2.0..2.0),
            };
        }
        let mut dy = [Tensor::<C, 1, OL>::zeroed(); B];
        dy.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
        (x, dy)
    }

    /// Both layers against [`textbook_max`] and [`textbook_avg`], bit for bit.
    fn same_bits_as_textbook<
        const K: usize,
        const PAD: usize,
        const S: usize,
        const C: usize,
        const L: usize,
        const OL: usize,
    >(
        seed: u64,
    ) {
        const B: usize = 3;
        let (x, dy) = hostile_input::<C, L, OL, B>(seed);
        let (mut wmy, mut way) = ([Tensor::<C, 1, OL>::zeroed(); B], [Tensor::<C, 1, OL>::zeroed(); B]);
        let (mut wmdx, mut wadx) = ([Tensor::<C, 1, L>::zeroed(); B], [Tensor::<C, 1, L>::zeroed(); B]);
        textbook_max::<K, PAD, S>(x.as_flat(), dy.as_flat(), L, wmy.as_flat_mut(), wmdx.as_flat_mut());
        textbook_avg::<K, PAD, S>(x.as_flat(), dy.as_flat(), L, way.as_flat_mut(), wadx.as_flat_mut());
        let (mut my, mut ay) = ([Tensor::<C, 1, OL>::zeroed(); B], [Tensor::<C, 1, OL>::zeroed(); B]);
        let (mut mdx, mut adx) = ([Tensor::<C, 1, L>::splat(f32::NAN); B], [Tensor::<C, 1, L>::splat(f32::NAN); B]);
        let (max, avg) = (MaxPool1d::<K, PAD, S>, AvgPool1d::<K, PAD, S>);
        max.forward(&x, &mut my, &mut (), &mut Mode::Infer);
        max.backward(&x, &my, &mut (), &dy, Some(&mut mdx), &mut MaxPool1d, Grad::Overwrite);
        avg.forward(&x, &mut ay, &mut (), &mut Mode::Infer);
        avg.backward(&x, &ay, &mut (), &dy, Some(&mut adx), &mut AvgPool1d, Grad::Overwrite);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<std::vec::Vec<_>>();
        let name = std::format!("<{K}, {PAD}, {S}> on {C} x 1 x {L}");
        assert_eq!(bits(my.as_flat()), bits(wmy.as_flat()), "MaxPool1d{name} y");
        assert_eq!(bits(mdx.as_flat()), bits(wmdx.as_flat()), "MaxPool1d{name} dx");
        assert_eq!(bits(ay.as_flat()), bits(way.as_flat()), "AvgPool1d{name} y");
        assert_eq!(bits(adx.as_flat()), bits(wadx.as_flat()), "AvgPool1d{name} dx");
    }

    #[test]
    fn padded_and_strided_windows_give_the_textbook_bits() {
        same_bits_as_textbook::<3, 1, 1, 3, 28, 28>(11); // overlapping, 'same'
        same_bits_as_textbook::<3, 1, 2, 2, 17, 9>(12);
        same_bits_as_textbook::<4, 2, 3, 2, 35, 12>(13);
        same_bits_as_textbook::<5, 2, 1, 1, 9, 9>(14);
        same_bits_as_textbook::<2, 0, 3, 2, 20, 7>(15); // steps in no window
        same_bits_as_textbook::<2, 1, 5, 2, 21, 5>(16);
        same_bits_as_textbook::<3, 1, 3, 4, 20, 7>(17); // side by side, padded
        same_bits_as_textbook::<4, 0, 2, 1, 4, 1>(18); // one window
        same_bits_as_textbook::<1, 0, 2, 2, 7, 4>(19);
        // No whole window: every one cut by the padding.
        same_bits_as_textbook::<2, 1, 5, 2, 2, 1>(20);
        same_bits_as_textbook::<5, 2, 1, 1, 1, 1>(21);
        same_bits_as_textbook::<4, 2, 1, 1, 2, 3>(22);
    }

    /// A window of only `-inf` (its first step in the sequence wins) and
    /// NaNs (the first wins), through the padded loops.
    #[test]
    fn padded_windows_of_infinities_and_nans() {
        const INF: f32 = f32::INFINITY;
        let x = [Tensor::<1, 1, 7>::from_array([[[-INF, -INF, 1.0, 0.5, f32::NAN, f32::NAN, 2.0]]])];
        let dy = [Tensor::<1, 1, 4>::from_array([[[1.0, 2.0, 4.0, 8.0]]])];
        let (mut y, mut dx) = ([Tensor::<1, 1, 4>::zeroed()], [Tensor::<1, 1, 7>::zeroed()]);
        // Windows [pad, -inf, -inf], [-inf, 1, 0.5], [0.5, NaN, NaN], [NaN, 2, pad].
        MaxPool1d::<3, 1, 2>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
        MaxPool1d::<3, 1, 2>.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut MaxPool1d, Grad::Overwrite);
        let y = y[0].0[0][0];
        assert!(y[0] == -INF && y[1] == 1.0 && y[2].is_nan() && y[3].is_nan(), "{y:?}");
        assert_eq!(dx[0].0, [[[1.0, 0.0, 2.0, 0.0, 4.0, 8.0, 0.0]]]);
    }

    /// Example 09's pools (batch 32): forward plus backward by the layers
    /// against their former loops, run alternately; then padded and
    /// strided windows against the textbook loops.
    /// `cargo test --release --lib pool1d_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn pool1d_speed() {
        speed_of::<2, 0, 2, 64, 28, 14>("64x1x28 <2>");
        speed_of::<2, 0, 2, 64, 14, 7>("64x1x14 <2>");
        speed_of::<4, 0, 4, 64, 256, 64>("64x1x256 <4>");
        speed_of::<3, 1, 1, 64, 28, 28>("64x1x28 <3, 1, 1>");
        speed_of::<3, 1, 2, 64, 28, 14>("64x1x28 <3, 1, 2>");
        speed_of::<5, 2, 3, 64, 256, 86>("64x1x256 <5, 2, 3>");
    }

    /// Times the layers `<K, PAD, S>` against the former loops (windows side
    /// by side) or else the textbook loops, forward plus backward: 21 pairs
    /// after 3 of warm-up, each the fastest of 20 calls; medians printed.
    fn speed_of<const K: usize, const PAD: usize, const S: usize, const C: usize, const L: usize, const OL: usize>(
        name: &str,
    ) {
        use std::time::Instant;
        const B: usize = 32;
        let mut x = <[Tensor<C, 1, L>; B]>::boxed_zeroed();
        x.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = ((i * 7919) % 1013) as f32 * 0.01 - 5.0);
        let mut dy = <[Tensor<C, 1, OL>; B]>::boxed_zeroed();
        dy.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = (i % 5) as f32 * 0.1 - 0.2);
        let (mut my, mut ay) = (<[Tensor<C, 1, OL>; B]>::boxed_zeroed(), <[Tensor<C, 1, OL>; B]>::boxed_zeroed());
        let (mut mdx, mut adx) = (<[Tensor<C, 1, L>; B]>::boxed_zeroed(), <[Tensor<C, 1, L>; B]>::boxed_zeroed());
        let (max, avg) = (MaxPool1d::<K, PAD, S>, AvgPool1d::<K, PAD, S>);
        let former = side_by_side(K, PAD, S);
        // The fastest of 20 calls: on a busy machine a mean counts the
        // time other processes took the core.
        let mut run = |new: bool, is_max: bool| {
            let mut fastest = f64::INFINITY;
            for _ in 0..20 {
                let t = Instant::now();
                let (xf, dyf) = (x.as_flat(), dy.as_flat());
                if new && is_max {
                    max.forward(&x, &mut my, &mut (), &mut Mode::Infer);
                    max.backward(&x, &my, &mut (), &dy, Some(&mut mdx), &mut MaxPool1d, Grad::Overwrite);
                } else if new {
                    avg.forward(&x, &mut ay, &mut (), &mut Mode::Infer);
                    avg.backward(&x, &ay, &mut (), &dy, Some(&mut adx), &mut AvgPool1d, Grad::Overwrite);
                } else if former && is_max {
                    reference_max::<K>(xf, dyf, L, my.as_flat_mut(), mdx.as_flat_mut());
                } else if former {
                    reference_avg::<K>(xf, dyf, L, ay.as_flat_mut(), adx.as_flat_mut());
                } else if is_max {
                    textbook_max::<K, PAD, S>(xf, dyf, L, my.as_flat_mut(), mdx.as_flat_mut());
                } else {
                    textbook_avg::<K, PAD, S>(xf, dyf, L, ay.as_flat_mut(), adx.as_flat_mut());
                }
                core::hint::black_box((&my, &ay, &mdx, &adx));
                fastest = fastest.min(t.elapsed().as_secs_f64());
            }
            fastest
        };
        for is_max in [true, false] {
            let (mut old, mut new, mut ratios) = (std::vec::Vec::new(), std::vec::Vec::new(), std::vec::Vec::new());
            for _ in 0..3 {
                run(true, is_max);
                run(false, is_max);
            }
            for _ in 0..21 {
                let (n, o) = (run(true, is_max), run(false, is_max));
                old.push(o);
                new.push(n);
                ratios.push(o / n);
            }
            for v in [&mut old, &mut new, &mut ratios] {
                v.sort_by(f64::total_cmp);
            }
            std::println!(
                "{} {name} B={B}: {} {:.1} us, layer {:.1} us, median pair ratio {:.2}x",
                if is_max { "MaxPool1d" } else { "AvgPool1d" },
                if former { "former loops" } else { "textbook loops" },
                old[10] * 1e6,
                new[10] * 1e6,
                ratios[10]
            );
        }
    }
}
