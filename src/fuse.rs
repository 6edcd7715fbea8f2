//! Adjacent layers that [`network!`](crate::network) runs as one pass.
//!
//! A `Relu` followed by a 2x2 `MaxPool2d` (the pair after every
//! convolution of the zoo's networks) is computed plane by plane with fast
//! kernels: forward puts a plane through the ReLU and pools it while
//! it is in L1; backward routes the pooling's gradient and derives the
//! ReLU's from it the same way. Each full-size buffer crosses the memory
//! bus once. Every activation and every gradient the network exposes is
//! still written by `forward` and `backward`, with the same bits as the two
//! layers one after the other (tested). The lean passes skip what nothing
//! downstream reads: [`Network::forward_lean`](crate::Network::forward_lean)
//! (what `train_step` and the parallel trainer run, and with `infer`,
//! `predict` and `evaluate` the same layer chain) pools the ReLU's output
//! in registers and does not store it, and [`Network::backward_lean`](crate::Network::backward_lean) (what
//! the two trainers run) routes the pooling's gradient from the ReLU's input
//! straight into the ReLU's input gradient, without storing the gradient
//! between the two. The element-wise layers are memory-bound: fashion10's
//! ReLU and pooling passes were about a third of its training step, and
//! the lean passes took a training step to 0.89–0.90x the time.
//!
//! In `forward_lean` a layer may also run the ReLU after it, or the ReLU
//! and its pooling, in its own kernels ([`Layer::forward_relu`](crate::Layer::forward_relu),
//! [`Layer::forward_relu_pool`](crate::Layer::forward_relu_pool); [`Conv2d`](crate::Conv2d) does on its
//! AVX-512 path), where a layer follows them ([`relu_after`]): the ReLU's
//! output, or the pooling's, then comes from the layer's registers, with
//! the same bits. A layer that pools stores, in place of its outputs, which
//! input of each window the gradient goes to; `backward_lean` routes the
//! pooling's gradient by them ([`Layer::relu_pool_backward`](crate::Layer::relu_pool_backward)),
//! with the same bits, reading neither the outputs nor the pooling's.
//!
//! This module is what the macro's generated code calls; it is public for
//! that reason only.

use crate::kernels::PoolRelu;
use crate::{Flat, MaxPool2d, Relu};
use core::any::TypeId;

/// Whether layer `A` followed by layer `B` runs fused: a [`Relu`] then a
/// [`MaxPool2d<2>`], with fast kernels.
#[inline(always)]
pub fn relu_pool<A: 'static, B: 'static>() -> bool {
    TypeId::of::<A>() == TypeId::of::<Relu>()
        && TypeId::of::<B>() == TypeId::of::<MaxPool2d<2>>()
        && crate::kernels::active().is_fast()
}

/// Whether a layer followed by layer `N`, then by layer `A`, writes `N`'s
/// output itself in the lean passes ([`Layer::forward_relu`](crate::Layer::forward_relu)):
/// `N` is a [`Relu`] that does not run fused with a pooling `A` ([`relu_pool`]).
///
/// ```
/// use constnet::{fuse, Dense, MaxPool2d, Relu};
/// assert!(fuse::relu_after::<Relu, Dense<784, 1>>()); // seed 1: conv, ReLU, dense
/// assert!(!fuse::relu_after::<Dense<784, 1>, Relu>());
/// // A ReLU before a 2x2 pooling runs with the pooling where that pair is fused.
/// assert_eq!(fuse::relu_after::<Relu, MaxPool2d<2>>(), !fuse::relu_pool::<Relu, MaxPool2d<2>>());
/// ```
#[inline(always)]
pub fn relu_after<N: 'static, A: 'static>() -> bool {
    TypeId::of::<N>() == TypeId::of::<Relu>() && !relu_pool::<N, A>()
}

/// The batch size of `buf` if it holds whole samples of `per` floats.
fn samples(buf: &[f32], per: usize) -> usize {
    assert!(
        per > 0 && buf.len().is_multiple_of(per),
        "fuse: a buffer of {} floats is not made of {per}-float samples",
        buf.len()
    );
    buf.len() / per
}

/// Checks the buffers of a fused ReLU + 2x2 pooling over `c x h x w`
/// samples: `full` hold whole ReLU-sized batches, `pooled` pooling-sized
/// ones, all of the same batch size. Returns the number of planes.
fn planes(full: &[&[f32]], pooled: &[&[f32]], c: usize, h: usize, w: usize) -> usize {
    let size = |dims: [usize; 3]| dims.into_iter().try_fold(1usize, usize::checked_mul);
    let (per_in, per_out) = (size([c, h, w]), size([c, h.div_ceil(2), w.div_ceil(2)]));
    let (Some(per_in), Some(per_out)) = (per_in, per_out) else {
        panic!("fuse: samples of {c} x {h} x {w} overflow usize");
    };
    let b = samples(full[0], per_in);
    assert!(
        full.iter().all(|f| f.len() == full[0].len()) && pooled.iter().all(|p| samples(p, per_out) == b),
        "fuse: buffers of different batch sizes"
    );
    b * c
}

/// Forward of a ReLU then a 2x2 max-pool over samples of `(c, h, w)`:
/// `r = max(x, 0)`, `y = maxpool(r)`. Call only when
/// [`relu_pool`] holds for the two layers.
///
/// # Panics
/// If the buffers are not batches of the same size of `c x h x w` (`x`,
/// `r`) and `c x ceil(h/2) x ceil(w/2)` (`y`) samples, or the kernels
/// have no fused path.
pub fn relu_pool_forward<X: Flat, R: Flat, Y: Flat>(x: &X, r: &mut R, y: &mut Y, (c, h, w): (usize, usize, usize)) {
    let (x, r, y) = (x.as_flat(), r.as_flat_mut(), y.as_flat_mut());
    let n = planes(&[x, &*r], &[&*y], c, h, w);
    pool(n, (h, w), x, Some(r), y);
}

/// The pooled output of [`relu_pool_forward`] alone, for inference and
/// for the lean training pass ([`relu_pool_backward_lean`] then reads the
/// ReLU's input): the ReLU runs in registers and its output is not stored,
/// which saves a write of the full-size activation (`y` has the same bits).
///
/// # Panics
/// As [`relu_pool_forward`].
///
/// ```
/// use constnet::{fuse, MaxPool2d, Relu, Tensor};
/// let x = [Tensor::<1, 2, 4>::from_array([[[-1.0, 0.5, -2.0, -0.5], [2.0, -3.0, -1.0, -4.0]]])];
/// let mut y = [Tensor::<1, 1, 2>::splat(f32::NAN)];
/// if fuse::relu_pool::<Relu, MaxPool2d<2>>() {
///     fuse::relu_pool_infer(&x, &mut y, (1, 2, 4));
///     assert_eq!(y[0].0, [[[2.0, 0.0]]]); // max(2, 0), and max of no positive value: 0
/// }
/// ```
pub fn relu_pool_infer<X: Flat, Y: Flat>(x: &X, y: &mut Y, (c, h, w): (usize, usize, usize)) {
    let (x, y) = (x.as_flat(), y.as_flat_mut());
    let n = planes(&[x], &[&*y], c, h, w);
    pool(n, (h, w), x, None, y);
}

/// Backward of a ReLU then a 2x2 max-pool: from the ReLU's output `r`, the
/// pooling's output `y` and gradient `dy`, writes the pooling's input
/// gradient `dr` and the ReLU's input gradient `dx` (`dr` where `r > 0`).
/// Call only when [`relu_pool`] holds for the two layers.
///
/// # Panics
/// As [`relu_pool_forward`].
pub fn relu_pool_backward<R: Flat, Y: Flat, DY: Flat, DR: Flat, DX: Flat>(
    r: &R,
    y: &Y,
    dy: &DY,
    dr: &mut DR,
    dx: &mut DX,
    (c, h, w): (usize, usize, usize),
) {
    let (r, y, dy, dr, dx) = (r.as_flat(), y.as_flat(), dy.as_flat(), dr.as_flat_mut(), dx.as_flat_mut());
    let n = planes(&[r, &*dr, &*dx], &[y, dy], c, h, w);
    if crate::kernels::active().maxpool2_backward(n, (h, w), (r, y), dy, dr, PoolRelu::Store(dx)) {
        return;
    }
    panic!("fuse::relu_pool_backward: no fused path on this CPU (see fuse::relu_pool)");
}

/// The ReLU's input gradient `dx` of [`relu_pool_backward`] alone, from
/// the ReLU's *input* `x` (not its output), for a training step after
/// [`relu_pool_infer`]: the ReLU's output is not read and the pooling's
/// input gradient not stored, which saves a read and a write of full-size
/// buffers (`dx` has the same bits).
///
/// # Panics
/// As [`relu_pool_forward`].
///
/// ```
/// use constnet::{fuse, MaxPool2d, Relu, Tensor};
/// let x = [Tensor::<1, 2, 4>::from_array([[[-1.0, 0.5, -2.0, -0.5], [2.0, -3.0, -1.0, -4.0]]])];
/// let (mut y, dy) = ([Tensor::<1, 1, 2>::splat(0.0)], [Tensor::<1, 1, 2>::from_array([[[3.0, 5.0]]])]);
/// let mut dx = [Tensor::<1, 2, 4>::splat(f32::NAN)];
/// if fuse::relu_pool::<Relu, MaxPool2d<2>>() {
///     fuse::relu_pool_infer(&x, &mut y, (1, 2, 4));
///     fuse::relu_pool_backward_lean(&x, &y, &dy, &mut dx, (1, 2, 4));
///     // 3 to the window's maximum 2; nothing passes the ReLU in the second window.
///     let want = [[[0.0f32, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]]];
///     assert_eq!(dx[0].0.map(|r| r.map(|r| r.map(f32::to_bits))), want.map(|r| r.map(|r| r.map(f32::to_bits))));
/// }
/// ```
pub fn relu_pool_backward_lean<X: Flat, Y: Flat, DY: Flat, DX: Flat>(
    x: &X,
    y: &Y,
    dy: &DY,
    dx: &mut DX,
    (c, h, w): (usize, usize, usize),
) {
    let (x, y, dy, dx) = (x.as_flat(), y.as_flat(), dy.as_flat(), dx.as_flat_mut());
    let n = planes(&[x, &*dx], &[y, dy], c, h, w);
    // Two calls of the kernel written out, not one shared helper taking the
    // mode as a value: with the helper, an example using the fused pair
    // took three times as long to compile (3.6 → 10.5–12.8 s, measured).
    if crate::kernels::active().maxpool2_backward(n, (h, w), (x, y), dy, dx, PoolRelu::Apply) {
        return;
    }
    panic!("fuse::relu_pool_backward_lean: no fused path on this CPU (see fuse::relu_pool)");
}

/// `n` planes of `h x w` through the fused kernel, the ReLU's output
/// stored in `r` if given.
fn pool(n: usize, (h, w): (usize, usize), x: &[f32], r: Option<&mut [f32]>, y: &mut [f32]) {
    let relu = r.map_or(PoolRelu::Apply, PoolRelu::Store);
    if crate::kernels::active().maxpool2_forward(n, (h, w), x, relu, y) {
        return;
    }
    panic!("fuse: no fused ReLU + pooling path on this CPU (see fuse::relu_pool)");
}
