//! Piecewise activations and their gradients, written once over the vector
//! width ([`Simd`]) as [`vmath`](super::vmath) is: `ReLU6`, leaky ReLU,
//! hard swish and SiLU. Each is a few correctly rounded operations a lane
//! (SiLU adds `vmath`'s sigmoid), so every backend gives the same bits,
//! which the conformance tests check against the scalar form.

use super::simd::Simd;
use super::vmath;

/// An activation of the kernels (`Copy`: the slope of the leaky ReLU is
/// its only data).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Act {
    /// `x` clamped to `[0, 6]`.
    Relu6,
    /// `x` where `x > 0`, else `slope · x`.
    LeakyRelu(f32),
    /// `x · clamp(x + 3, 0, 6) / 6` (PyTorch's order of operations).
    Hardswish,
    /// `x · sigmoid(x)`, the sigmoid of [`vmath`](super::vmath).
    Silu,
}

/// `v` clamped to `[0, 6]` as `clamp` and PyTorch's `std::min`/`std::max`
/// do it: `0` where `v < 0`, `6` where `v > 6`, else `v` itself (so `-0`
/// stays `-0` and NaN stays NaN).
#[inline(always)]
fn clamp6<S: Simd>(s: S, v: S::F) -> S::F {
    let (zero, six) = (s.splat(0.0), s.splat(6.0));
    let low = s.select(s.lt(v, zero), zero, v);
    s.select(s.lt(six, low), six, low)
}

/// `act(x)`, lane by lane.
#[inline(always)]
fn forward<S: Simd>(s: S, act: Act, x: S::F) -> S::F {
    match act {
        Act::Relu6 => clamp6(s, x),
        Act::LeakyRelu(slope) => s.select(s.lt(s.splat(0.0), x), x, s.mul(x, s.splat(slope))),
        Act::Hardswish => s.div(s.mul(x, clamp6(s, s.add(x, s.splat(3.0)))), s.splat(6.0)),
        Act::Silu => s.mul(x, vmath::sigmoid(s, x)),
    }
}

/// `dy · act'(x)`, lane by lane, with PyTorch's choices at the kinks and
/// its tests written as PyTorch's scalar formulas (and `torch._decomp`)
/// write them, so a NaN `x` goes where they send it: ReLU6 is 0 where
/// `x <= 0 || x >= 6`, else `dy`; the leaky ReLU is `dy` where `x > 0`,
/// else `slope · dy`; hard swish is 0 where `x <= -3`, `dy · (x/3 + 0.5)`
/// where `x < 3`, else `dy`. (Eager PyTorch's vector loops send a NaN
/// elsewhere: 0 for ReLU6, NaN for hard swish.)
#[inline(always)]
fn backward<S: Simd>(s: S, act: Act, x: S::F, dy: S::F) -> S::F {
    let zero = s.splat(0.0);
    match act {
        Act::Relu6 => s.select(s.ge(zero, x), zero, s.select(s.ge(x, s.splat(6.0)), zero, dy)),
        Act::LeakyRelu(slope) => s.select(s.lt(zero, x), dy, s.mul(dy, s.splat(slope))),
        Act::Hardswish => {
            let mid = s.mul(dy, s.add(s.div(x, s.splat(3.0)), s.splat(0.5)));
            let upper = s.select(s.lt(x, s.splat(3.0)), mid, dy);
            s.select(s.ge(s.splat(-3.0), x), zero, upper)
        }
        // d/dx x·σ(x) = σ(x)·(1 + x·(1 - σ(x))).
        Act::Silu => {
            let sg = vmath::sigmoid(s, x);
            let one = s.splat(1.0);
            s.mul(dy, s.mul(sg, s.add(one, s.mul(x, s.sub(one, sg)))))
        }
    }
}

/// `y[i] = act(x[i])` over `x.len()` floats, a vector at a time, then the
/// tail in one vector ([`vmath::map_with`]).
///
/// # Panics
/// If `y` is shorter than `x`.
#[inline(always)]
pub(crate) fn map<S: Simd>(s: S, act: Act, x: &[f32], y: &mut [f32]) {
    vmath::map_with(s, &act, x, y)
}

impl vmath::VecFn for Act {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, x: S::F) -> S::F {
        forward(s, *self, x)
    }
}

/// `dx[i] = dy[i] · act'(x[i])` over `x.len()` floats.
///
/// # Panics
/// If `dy` or `dx` is shorter than `x`.
#[inline(always)]
pub(crate) fn map_grad<S: Simd>(s: S, act: Act, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (dy, dx) = (&dy[..x.len()], &mut dx[..x.len()]);
    let mut xc = x.chunks_exact(S::LANES);
    let mut gc = dy.chunks_exact(S::LANES);
    let mut dc = dx.chunks_exact_mut(S::LANES);
    for ((x, g), d) in (&mut xc).zip(&mut gc).zip(&mut dc) {
        s.store(d, backward(s, act, s.load(x), s.load(g)));
    }
    let (xt, gt, dt) = (xc.remainder(), gc.remainder(), dc.into_remainder());
    if !xt.is_empty() {
        s.store_tail(dt, backward(s, act, s.load_tail(xt), s.load_tail(gt)));
    }
}

/// `act(x)` for one float: the scalar form.
#[cfg(test)]
pub(crate) fn scalar(act: Act, x: f32) -> f32 {
    forward(super::simd::Lanes::<1>, act, [x])[0]
}

/// `dy · act'(x)` for one float: the scalar form.
#[cfg(test)]
pub(crate) fn scalar_grad(act: Act, x: f32, dy: f32) -> f32 {
    backward(super::simd::Lanes::<1>, act, [x], [dy])[0]
}
