//! A convolution and the layers after it as one layer: [`ConvRelu`]
//! (`Conv2d`, `Relu`) and [`ConvReluPool`] (`Conv2d`, `Relu`, a 2x2
//! `MaxPool2d`), the pattern after every convolution of the zoo's networks.
//!
//! [`network!`](crate::network) writes them for those literal sequences:
//! `conv1: Conv2d<1, 8, 3, 1, 1>, relu1: Relu, pool1: MaxPool2d<2>` with a
//! layer after it becomes the one layer `conv1`, whose parameters keep the
//! convolution's names (`conv1.weight`, `conv1.bias`). Each gives the bits
//! of its layers run one after the other, forward and backward, on every
//! backend; what it saves is memory traffic. The element-wise passes are
//! memory-bound: fashion10's ReLU and pooling passes were about a third of
//! its training step when they ran as layers of their own.
//! - `ConvRelu` stores `max(y, 0)` (from the convolution's registers on the
//!   fast path); its backward pass masks the output gradient once, into
//!   the cache.
//! - `ConvReluPool` pools the ReLU's outputs in the convolution's registers
//!   where the kernels take the shape, storing only the pooled outputs and,
//!   in the cache, which input of each window its gradient goes to (a
//!   record of 8 bytes per pooled row of each channel); its backward pass
//!   routes the pooled gradient by them. Elsewhere it stores the
//!   convolution's outputs in the cache, and the ReLU and the pooling run
//!   as one pass over them, forward and backward, where the kernels can.
//!
//! Neither the convolution's outputs nor the ReLU's are layer outputs: a
//! network's workspace holds the fused layer's output only. To look at
//! them (a tutorial's intermediate steps), run the layers one by one, as
//! `examples/01_worked_example.rs` does.

use super::{Conv2d, PaddedInput, Then};
use crate::flat::{same_layout, same_layout_mut};
use crate::kernels::{self, PoolRelu};
use crate::layer::{Grad, Init, Layer, Mode, ParamTensor, ParamVisitorMut, Parameters, assert_out_shape};
use crate::layers::relu::{relu_grad_in_place, relu_in_place};
use crate::{Flat, MaxPool2d, Relu, Shape, Tensor};
use core::ops::{Deref, DerefMut};
use rand::Rng;

/// A [`Conv2d`] followed by a [`Relu`]: `y = max(conv(x), 0)`, with the
/// convolution's output of `OH x OW` (which the type names because a
/// generic type cannot compute it; a wrong size is a build error).
/// [`network!`](crate::network) writes it for a `Conv2d` then a `Relu`
/// with a layer after them; it derefs to the convolution.
///
/// ```
/// use constnet::{Conv2d, ConvRelu, Flat, Grad, Layer, Mode, Relu, Tensor};
/// let mut fused = ConvRelu::<Conv2d<1, 2, 3, 1, 1>, 4, 4>::zeroed();
/// fused.as_flat_mut().iter_mut().enumerate().for_each(|(i, w)| *w = (i % 5) as f32 - 2.0);
/// let x = [Tensor::<1, 4, 4>::from_fn(|_, i, j| (i * 4 + j) as f32 * 0.25 - 2.0)];
/// let mut y = [Tensor::<2, 4, 4>::zeroed()];
/// fused.forward(&x, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
/// // The same bits as the two layers one after the other.
/// let (mut c, mut r) = ([Tensor::<2, 4, 4>::zeroed()], [Tensor::<2, 4, 4>::zeroed()]);
/// fused.conv.forward(&x, &mut c, &mut Flat::zeroed(), &mut Mode::Infer);
/// Relu.forward(&c, &mut r, &mut (), &mut Mode::Infer);
/// assert_eq!(y, r);
/// assert!(y[0].as_flat().contains(&0.0) && y[0].as_flat().iter().any(|&v| v > 0.0));
/// ```
#[repr(transparent)]
#[derive(Clone, Debug, PartialEq)]
pub struct ConvRelu<Conv, const OH: usize, const OW: usize> {
    /// The convolution, whose parameters are this layer's.
    pub conv: Conv,
}

/// A [`Conv2d`] followed by a [`Relu`] and a 2x2 [`MaxPool2d`], with the
/// convolution's output of `OH x OW` (as [`ConvRelu`]); the output is the
/// pooling's, `ceil(OH/2) x ceil(OW/2)`. [`network!`](crate::network)
/// writes it for a `Conv2d`, a `Relu` and a `MaxPool2d<2>` with a layer
/// after them; it derefs to the convolution.
///
/// ```
/// use constnet::{Conv2d, ConvReluPool, Flat, Grad, Layer, MaxPool2d, Mode, Relu, Tensor};
/// type Fused = ConvReluPool<Conv2d<1, 8, 3, 1, 1>, 5, 6>;
/// let mut fused = Fused::zeroed();
/// fused.as_flat_mut().iter_mut().enumerate().for_each(|(i, w)| *w = (i % 5) as f32 - 2.0);
/// let x = [Tensor::<1, 5, 6>::from_fn(|_, i, j| (i * 6 + j) as f32 * 0.25 - 2.0)];
/// let (mut y, mut cache) = ([Tensor::<8, 3, 3>::zeroed()], Flat::zeroed());
/// fused.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
/// // The three layers one after the other.
/// let (mut c, mut r, mut p) = ([Tensor::<8, 5, 6>::zeroed()], [Tensor::<8, 5, 6>::zeroed()], [Tensor::<8, 3, 3>::zeroed()]);
/// let mut conv_cache = Flat::zeroed(); // the padded input, which the convolution's backward reads
/// fused.conv.forward(&x, &mut c, &mut conv_cache, &mut Mode::Infer);
/// Relu.forward(&c, &mut r, &mut (), &mut Mode::Infer);
/// MaxPool2d::<2>.forward(&r, &mut p, &mut (), &mut Mode::Infer);
/// assert_eq!(y, p);
/// // Backward: the input gradient of the three layers' backward passes.
/// let dy = [Tensor::<8, 3, 3>::from_fn(|c, i, j| (c * 9 + i * 3 + j) as f32 - 30.0)];
/// let (mut dx, mut g) = ([Tensor::<1, 5, 6>::splat(f32::NAN)], Fused::zeroed());
/// fused.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut g, Grad::Overwrite);
/// let (mut dr, mut dc, mut dx2) = ([Tensor::zeroed()], [Tensor::zeroed()], [Tensor::zeroed()]);
/// MaxPool2d::<2>.backward(&r, &p, &mut (), &dy, Some(&mut dr), &mut MaxPool2d, Grad::Add);
/// Relu.backward(&c, &r, &mut (), &dr, Some(&mut dc), &mut Relu, Grad::Add);
/// let mut g2 = Conv2d::zeroed();
/// fused.conv.backward(&x, &c, &mut conv_cache, &dc, Some(&mut dx2), &mut g2, Grad::Add);
/// assert_eq!((dx, g.conv), (dx2, g2));
/// ```
#[repr(transparent)]
#[derive(Clone, Debug, PartialEq)]
pub struct ConvReluPool<Conv, const OH: usize, const OW: usize> {
    /// The convolution, whose parameters are this layer's.
    pub conv: Conv,
}

/// [`ConvRelu`]'s cache for a batch of `B`: the convolution's padded
/// inputs, and the scratch its backward pass masks the output gradient
/// into.
#[repr(C)]
pub struct ConvReluCache<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const PAD: usize,
    const OC: usize,
    const OH: usize,
    const OW: usize,
> {
    pub(super) input: [PaddedInput<C, H, W, PAD>; B],
    pub(super) grad: [Tensor<OC, OH, OW>; B],
}

/// [`ConvReluPool`]'s cache for a batch of `B`: the convolution's padded
/// inputs; its outputs (the ReLU's, where the kernels do not pool), or where it pools in its
/// registers the pooling's routes in their memory (not in
/// [`Mode::Predict`]); and the scratch its backward pass routes the
/// gradient into.
#[repr(C)]
pub struct ConvReluPoolCache<
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const PAD: usize,
    const OC: usize,
    const OH: usize,
    const OW: usize,
> {
    pub(super) input: [PaddedInput<C, H, W, PAD>; B],
    pub(super) out: [Tensor<OC, OH, OW>; B],
    pub(super) grad: [Tensor<OC, OH, OW>; B],
    /// What the forward pass kept in `out` for the backward pass (a
    /// [`Kept`]).
    kept: f32,
}

/// What a [`ConvReluPool`]'s forward pass kept in its cache's `out` for
/// the backward pass, recorded in the cache so that the backward pass
/// takes the branch the forward pass took.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kept {
    /// Nothing: a fresh cache, or a forward pass in [`Mode::Predict`].
    Nothing,
    /// The pooling's routes: the convolution pooled in its registers.
    Routes,
    /// The convolution's sums, which the kernels pooled after a ReLU.
    Sums,
    /// The ReLU's outputs, which the reference loop pooled.
    Outputs,
}

impl Kept {
    const ALL: [Kept; 4] = [Kept::Nothing, Kept::Routes, Kept::Sums, Kept::Outputs];

    /// The float the cache holds it as.
    fn code(self) -> f32 {
        self as u8 as f32
    }

    /// What a cache's float says (a float of no `Kept`: nothing).
    fn of(code: f32) -> Kept {
        Kept::ALL.into_iter().find(|k| k.code() == code).unwrap_or(Kept::Nothing)
    }
}

/// The traits the two layers share, written once for each.
macro_rules! fused_layer {
    ($name:ident, $cache:ident) => {
        // SAFETY: repr(transparent) over a Flat type.
        unsafe impl<T: Flat, const OH: usize, const OW: usize> Flat for $name<T, OH, OW> {}

        // SAFETY: repr(C) struct of arrays of Flat types.
        unsafe impl<
            const B: usize,
            const C: usize,
            const H: usize,
            const W: usize,
            const PAD: usize,
            const OC: usize,
            const OH: usize,
            const OW: usize,
        > Flat for $cache<B, C, H, W, PAD, OC, OH, OW>
        {
        }

        impl<T, const OH: usize, const OW: usize> Deref for $name<T, OH, OW> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.conv
            }
        }

        impl<T, const OH: usize, const OW: usize> DerefMut for $name<T, OH, OW> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.conv
            }
        }

        /// The convolution's parameters, under its names.
        impl<T: Parameters, const OH: usize, const OW: usize> Parameters for $name<T, OH, OW> {
            fn init(&mut self, init: Init, rng: &mut dyn Rng) {
                self.conv.init(init, rng);
            }

            fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
                self.conv.visit(f);
            }

            fn visit_mut<'a>(&mut self, f: &'a mut ParamVisitorMut<'a>) {
                self.conv.visit_mut(f);
            }
        }
    };
}
fused_layer!(ConvRelu, ConvReluCache);
fused_layer!(ConvReluPool, ConvReluPoolCache);

/// The `Shape` of a fused layer: the convolution's channels, checked that
/// `OH x OW` is its output, and the output `$oh x $ow`.
macro_rules! fused_shape {
    ($name:ident, $what:literal, |$h:ident, $w:ident| ($oh:expr, $ow:expr)) => {
        impl<
            const IN_C: usize,
            const OUT_C: usize,
            const K: usize,
            const PAD: usize,
            const STRIDE: usize,
            const BIAS: bool,
            const OH: usize,
            const OW: usize,
            const C: usize,
            const H: usize,
            const W: usize,
        > Shape<C, H, W> for $name<Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>, OH, OW>
        {
            const OUT_C: usize = {
                let conv = (
                    <Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS> as Shape<C, H, W>>::OUT_H,
                    <Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS> as Shape<C, H, W>>::OUT_W,
                );
                assert!(conv.0 == OH && conv.1 == OW, concat!($what, ": OH x OW must be the convolution's output"));
                <Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS> as Shape<C, H, W>>::OUT_C
            };
            const OUT_H: usize = {
                let $h = OH;
                $oh
            };
            const OUT_W: usize = {
                let $w = OW;
                $ow
            };
        }
    };
}
fused_shape!(ConvRelu, "ConvRelu", |h, w| (h, w));
fused_shape!(ConvReluPool, "ConvReluPool", |h, w| (h.div_ceil(2), w.div_ceil(2)));

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const OH: usize,
    const OW: usize,
    const C: usize,
    const H: usize,
    const W: usize,
> Layer<C, H, W> for ConvRelu<Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>, OH, OW>
{
    type Cache<const B: usize> = ConvReluCache<B, C, H, W, PAD, OUT_C, OH, OW>;

    fn forward<const B: usize, const YC: usize, const YH: usize, const YW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<YC, YH, YW>; B],
        cache: &mut Self::Cache<B>,
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("ConvRelu", YC, YH, YW);
        self.conv.forward_padded::<C, B, H, W, OH, OW>(x, &mut cache.input, same_layout_mut(y), true);
    }

    fn backward<const B: usize, const YC: usize, const YH: usize, const YW: usize>(
        &self,
        _x: &[Tensor<C, H, W>; B],
        y: &[Tensor<YC, YH, YW>; B],
        cache: &mut Self::Cache<B>,
        dy: &[Tensor<YC, YH, YW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        assert_out_shape!("ConvRelu", YC, YH, YW);
        let (y, dy): (&[Tensor<OUT_C, OH, OW>; B], &[Tensor<OUT_C, OH, OW>; B]) = (same_layout(y), same_layout(dy));
        // The ReLU's backward pass (its bits): the gradient where y > 0.
        <Relu as Layer<OUT_C, OH, OW>>::backward(&Relu, y, y, &mut (), dy, Some(&mut cache.grad), &mut Relu, Grad::Add);
        self.conv.backward_padded::<C, B, H, W, OH, OW>(&cache.input, &cache.grad, dx, &mut grads.conv, grad);
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const OH: usize,
    const OW: usize,
> ConvReluPool<Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>, OH, OW>
{
    /// Whether the convolution pools in its registers, storing the routes
    /// in the cache if `routes`: the same answer in the forward and the
    /// backward pass, as the backend is chosen once.
    pub(super) fn pools_in_tiles<const H: usize, const W: usize>(&self, routes: bool) -> bool {
        self.conv.pools::<H, W, OH, OW>(routes)
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const OH: usize,
    const OW: usize,
    const C: usize,
    const H: usize,
    const W: usize,
> Layer<C, H, W> for ConvReluPool<Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>, OH, OW>
{
    type Cache<const B: usize> = ConvReluPoolCache<B, C, H, W, PAD, OUT_C, OH, OW>;

    fn forward<const B: usize, const YC: usize, const YH: usize, const YW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<YC, YH, YW>; B],
        cache: &mut Self::Cache<B>,
        mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("ConvReluPool", YC, YH, YW);
        let routes = !matches!(mode, Mode::Predict);
        let kept = if let Some(k) = Conv2d::<IN_C, OUT_C, K, PAD, STRIDE, BIAS>::fast()
            && self.pools_in_tiles::<H, W>(routes)
        {
            let (x, input) = (same_layout(x), same_layout_mut(&mut cache.input));
            PaddedInput::fill_batch(x, input);
            let then = Then::ReluPool(y.as_flat_mut(), routes);
            let ran = self.conv.forward_fast::<B, H, W, OH, OW>(k, input, &mut cache.out, then);
            assert!(ran, "ConvReluPool: the kernels pool where they said they would");
            Kept::Routes
        } else {
            // The convolution's outputs, then the ReLU and the pooling in
            // one pass where the kernels have it.
            self.conv.forward_padded::<C, B, H, W, OH, OW>(x, &mut cache.input, &mut cache.out, false);
            let (out, pooled) = (cache.out.as_flat(), y.as_flat_mut());
            if kernels::active().maxpool2_forward(B * OUT_C, (OH, OW), out, PoolRelu::Apply, pooled) {
                Kept::Sums
            } else {
                relu_in_place(cache.out.as_flat_mut());
                <MaxPool2d<2> as Layer<OUT_C, OH, OW>>::forward(&MaxPool2d, &cache.out, y, &mut (), mode);
                Kept::Outputs
            }
        };
        cache.kept = if routes { kept.code() } else { Kept::Nothing.code() };
    }

    fn backward<const B: usize, const YC: usize, const YH: usize, const YW: usize>(
        &self,
        _x: &[Tensor<C, H, W>; B],
        y: &[Tensor<YC, YH, YW>; B],
        cache: &mut Self::Cache<B>,
        dy: &[Tensor<YC, YH, YW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        assert_out_shape!("ConvReluPool", YC, YH, YW);
        let k = kernels::active();
        let (out, dout) = (&cache.out, &mut cache.grad);
        let kept = Kept::of(cache.kept);
        if kept == Kept::Routes {
            // Each sample's routes lie in its OUT_C x OH x OW outputs' memory.
            let routes = (out.as_flat(), OUT_C, OUT_C * OH * OW);
            let ran = k.maxpool2_backward_routes(B * OUT_C, (OH, OW), routes, dy.as_flat(), dout.as_flat_mut());
            assert!(ran, "ConvReluPool: the kernels route where they pooled");
        } else if kept == Kept::Sums {
            let xy = (out.as_flat(), y.as_flat());
            let ran = k.maxpool2_backward(B * OUT_C, (OH, OW), xy, dy.as_flat(), dout.as_flat_mut(), PoolRelu::Apply);
            assert!(ran, "ConvReluPool: the kernels go back through the pooling they ran");
        } else {
            assert!(
                kept == Kept::Outputs,
                "ConvReluPool::backward: the cache holds no forward pass to go back through (a fresh cache, or a forward in Mode::Predict)"
            );
            <MaxPool2d<2> as Layer<OUT_C, OH, OW>>::backward(
                &MaxPool2d,
                out,
                y,
                &mut (),
                dy,
                Some(dout),
                &mut MaxPool2d,
                Grad::Add,
            );
            relu_grad_in_place(out.as_flat(), dout.as_flat_mut());
        }
        self.conv.backward_padded::<C, B, H, W, OH, OW>(&cache.input, &cache.grad, dx, &mut grads.conv, grad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Conv2d;
    use rand::{RngExt, SeedableRng};
    use std::boxed::Box;

    fn random<T: Flat>(seed: u64) -> Box<T> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut t = T::boxed_zeroed();
        t.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
        t
    }

    /// As [`random`], an eighth of the values +0 and an eighth -0 (ties
    /// in the windows, the ReLU's kink, signed zero sums).
    fn with_zeros<T: Flat>(seed: u64) -> Box<T> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut t = random::<T>(seed);
        t.as_flat_mut().iter_mut().for_each(|v| match rng.random_range(0..8) {
            0 => *v = 0.0,
            1 => *v = -0.0,
            _ => {}
        });
        t
    }

    fn bits(v: &[f32]) -> std::vec::Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    /// `ConvReluPool` against `Conv2d`, `Relu` and `MaxPool2d<2>` one
    /// after the other: the same bits forward, backward (input and
    /// parameter gradients) and for a second backward from the same cache.
    fn pool_matches_the_layers<
        const IN: usize,
        const OUT: usize,
        const K: usize,
        const PAD: usize,
        const S: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
        const PH: usize,
        const PW: usize,
        const B: usize,
    >(
        seed: u64,
    ) {
        type Fused<
            const IN: usize,
            const OUT: usize,
            const K: usize,
            const PAD: usize,
            const S: usize,
            const OH: usize,
            const OW: usize,
        > = ConvReluPool<Conv2d<IN, OUT, K, PAD, S>, OH, OW>;
        let fused = random::<Fused<IN, OUT, K, PAD, S, OH, OW>>(seed);
        let x = with_zeros::<[Tensor<IN, H, W>; B]>(seed + 1);
        let dy = random::<[Tensor<OUT, PH, PW>; B]>(seed + 2);
        let mut cache = <Fused<IN, OUT, K, PAD, S, OH, OW> as Layer<IN, H, W>>::Cache::<B>::boxed_zeroed();
        let mut y = <[Tensor<OUT, PH, PW>; B]>::boxed_zeroed();
        fused.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
        let mut dx = <[Tensor<IN, H, W>; B]>::boxed_zeroed();
        dx.as_flat_mut().fill(f32::NAN);
        let mut g = Fused::<IN, OUT, K, PAD, S, OH, OW>::boxed_zeroed();
        g.as_flat_mut().fill(f32::NAN);
        fused.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut g, Grad::Overwrite);

        let (mut c, mut r) = (<[Tensor<OUT, OH, OW>; B]>::boxed_zeroed(), <[Tensor<OUT, OH, OW>; B]>::boxed_zeroed());
        let mut p = <[Tensor<OUT, PH, PW>; B]>::boxed_zeroed();
        let mut conv_cache = <[PaddedInput<IN, H, W, PAD>; B]>::boxed_zeroed();
        fused.conv.forward(&x, &mut c, &mut conv_cache, &mut Mode::Infer);
        Relu.forward(&c, &mut r, &mut (), &mut Mode::Infer);
        MaxPool2d::<2>.forward(&r, &mut p, &mut (), &mut Mode::Infer);
        assert_eq!(bits(y.as_flat()), bits(p.as_flat()), "{IN}->{OUT} k{K} p{PAD} s{S} on {H}x{W}: forward");
        let (mut dr, mut dc) = (<[Tensor<OUT, OH, OW>; B]>::boxed_zeroed(), <[Tensor<OUT, OH, OW>; B]>::boxed_zeroed());
        MaxPool2d::<2>.backward(&r, &p, &mut (), &dy, Some(&mut dr), &mut MaxPool2d, Grad::Add);
        Relu.backward(&c, &r, &mut (), &dr, Some(&mut dc), &mut Relu, Grad::Add);
        let mut dx2 = <[Tensor<IN, H, W>; B]>::boxed_zeroed();
        let mut g2 = Conv2d::<IN, OUT, K, PAD, S>::boxed_zeroed();
        fused.conv.backward(&x, &c, &mut conv_cache, &dc, Some(&mut dx2), &mut g2, Grad::Add);
        assert_eq!(bits(dx.as_flat()), bits(dx2.as_flat()), "{IN}->{OUT} k{K} p{PAD} s{S} on {H}x{W}: dx");
        assert_eq!(bits(g.as_flat()), bits(g2.as_flat()), "{IN}->{OUT} k{K} p{PAD} s{S} on {H}x{W}: grads");
        // Backward again from the same cache: the same gradient.
        let mut again = Fused::<IN, OUT, K, PAD, S, OH, OW>::boxed_zeroed();
        again.as_flat_mut().fill(f32::NAN);
        fused.backward(&x, &y, &mut cache, &dy, None, &mut again, Grad::Overwrite);
        assert_eq!(
            bits(again.as_flat()),
            bits(g.as_flat()),
            "{IN}->{OUT} k{K} p{PAD} s{S} on {H}x{W}: a second backward"
        );
    }

    /// `ConvRelu` against `Conv2d` then `Relu`, as above.
    fn relu_matches_the_layers<
        const IN: usize,
        const OUT: usize,
        const K: usize,
        const PAD: usize,
        const S: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
        const B: usize,
    >(
        seed: u64,
    ) {
        let fused = random::<ConvRelu<Conv2d<IN, OUT, K, PAD, S>, OH, OW>>(seed);
        let x = with_zeros::<[Tensor<IN, H, W>; B]>(seed + 1);
        let dy = random::<[Tensor<OUT, OH, OW>; B]>(seed + 2);
        let mut cache = <ConvRelu<Conv2d<IN, OUT, K, PAD, S>, OH, OW> as Layer<IN, H, W>>::Cache::<B>::boxed_zeroed();
        let mut y = <[Tensor<OUT, OH, OW>; B]>::boxed_zeroed();
        fused.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
        let mut dx = <[Tensor<IN, H, W>; B]>::boxed_zeroed();
        dx.as_flat_mut().fill(f32::NAN);
        let mut g = ConvRelu::<Conv2d<IN, OUT, K, PAD, S>, OH, OW>::boxed_zeroed();
        g.as_flat_mut().fill(f32::NAN);
        fused.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut g, Grad::Overwrite);

        let (mut c, mut r) = (<[Tensor<OUT, OH, OW>; B]>::boxed_zeroed(), <[Tensor<OUT, OH, OW>; B]>::boxed_zeroed());
        let mut conv_cache = <[PaddedInput<IN, H, W, PAD>; B]>::boxed_zeroed();
        fused.conv.forward(&x, &mut c, &mut conv_cache, &mut Mode::Infer);
        Relu.forward(&c, &mut r, &mut (), &mut Mode::Infer);
        assert_eq!(bits(y.as_flat()), bits(r.as_flat()), "{IN}->{OUT} k{K} p{PAD} s{S} on {H}x{W}: forward");
        let mut dc = <[Tensor<OUT, OH, OW>; B]>::boxed_zeroed();
        Relu.backward(&c, &r, &mut (), &dy, Some(&mut dc), &mut Relu, Grad::Add);
        let mut dx2 = <[Tensor<IN, H, W>; B]>::boxed_zeroed();
        let mut g2 = Conv2d::<IN, OUT, K, PAD, S>::boxed_zeroed();
        fused.conv.backward(&x, &c, &mut conv_cache, &dc, Some(&mut dx2), &mut g2, Grad::Add);
        assert_eq!(bits(dx.as_flat()), bits(dx2.as_flat()), "{IN}->{OUT} k{K} p{PAD} s{S} on {H}x{W}: dx");
        assert_eq!(bits(g.as_flat()), bits(g2.as_flat()), "{IN}->{OUT} k{K} p{PAD} s{S} on {H}x{W}: grads");
    }

    #[test]
    fn conv_relu_pool_gives_the_bits_of_its_three_layers() {
        pool_matches_the_layers::<1, 8, 3, 1, 1, 28, 28, 28, 28, 14, 14, 3>(1); // fashion10's conv1
        pool_matches_the_layers::<8, 16, 3, 1, 1, 14, 14, 14, 14, 7, 7, 2>(2); // fashion10's conv2
        pool_matches_the_layers::<1, 32, 5, 2, 1, 28, 28, 28, 28, 14, 14, 2>(3); // tfconv's conv1
        pool_matches_the_layers::<32, 64, 5, 2, 1, 14, 14, 14, 14, 7, 7, 1>(4); // tfconv's conv2
        pool_matches_the_layers::<1, 1, 3, 0, 1, 5, 5, 3, 3, 2, 2, 1>(5); // worked5x5: odd, one filter
        pool_matches_the_layers::<2, 4, 3, 1, 1, 7, 1, 7, 1, 4, 1, 2>(6); // one column: no room for routes
        pool_matches_the_layers::<2, 4, 3, 1, 2, 9, 9, 5, 5, 3, 3, 2>(7); // stride 2: the im2col path
        pool_matches_the_layers::<3, 8, 5, 2, 1, 9, 40, 9, 40, 5, 20, 2>(8); // rows of 40: past the tiles
    }

    #[test]
    fn conv_relu_gives_the_bits_of_its_two_layers() {
        relu_matches_the_layers::<1, 1, 3, 1, 1, 28, 28, 28, 28, 2>(11); // seed1's conv
        relu_matches_the_layers::<1, 3, 5, 0, 1, 28, 28, 24, 24, 2>(12); // 'valid'
        relu_matches_the_layers::<4, 16, 3, 1, 1, 10, 10, 10, 10, 3>(13);
        relu_matches_the_layers::<2, 3, 3, 1, 2, 7, 7, 4, 4, 2>(14); // stride 2: the im2col path
    }

    /// A backward pass after a forward in `Mode::Predict` (which keeps no
    /// routes) panics, on every backend, instead of giving wrong gradients.
    #[test]
    #[should_panic(expected = "the cache holds no forward pass")]
    fn backward_after_predict_panics() {
        type Fused = ConvReluPool<Conv2d<1, 8, 3, 1, 1>, 8, 8>;
        let fused = random::<Fused>(31);
        let x = random::<[Tensor<1, 8, 8>; 2]>(32);
        let mut cache = <Fused as Layer<1, 8, 8>>::Cache::<2>::boxed_zeroed();
        let mut y = <[Tensor<8, 4, 4>; 2]>::boxed_zeroed();
        fused.forward(&x, &mut y, &mut cache, &mut Mode::Predict);
        let mut infer = <[Tensor<8, 4, 4>; 2]>::boxed_zeroed();
        fused.forward(&x, &mut infer, &mut <Fused as Layer<1, 8, 8>>::Cache::<2>::boxed_zeroed(), &mut Mode::Infer);
        assert_eq!(bits(y.as_flat()), bits(infer.as_flat()), "Predict gives Infer's outputs");
        fused.backward(&x, &y, &mut cache, &y, None, &mut Fused::boxed_zeroed(), Grad::Add);
    }

    /// So does one from a fresh cache.
    #[test]
    #[should_panic(expected = "the cache holds no forward pass")]
    fn backward_from_a_fresh_cache_panics() {
        type Fused = ConvReluPool<Conv2d<1, 4, 3, 1, 1>, 6, 6>;
        let fused = random::<Fused>(33);
        let x = random::<[Tensor<1, 6, 6>; 1]>(34);
        let mut cache = <Fused as Layer<1, 6, 6>>::Cache::<1>::boxed_zeroed();
        let y = <[Tensor<4, 3, 3>; 1]>::boxed_zeroed();
        fused.backward(&x, &y, &mut cache, &y, None, &mut Fused::boxed_zeroed(), Grad::Add);
    }

    /// A layer and a batch drawn from seeds `0..`, the first whose
    /// convolution outputs keep clear of the ReLU's kink, and (with
    /// `pooled`) whose windows' largest positive output is clear of the
    /// next, by more than a finite-difference step can move them: there
    /// the difference quotient is the derivative.
    fn clear_of_kinks<const IN: usize, const OUT: usize, const H: usize, const W: usize, const B: usize>(
        pooled: bool,
    ) -> (Box<Conv2d<IN, OUT, 3, 1, 1>>, Box<[Tensor<IN, H, W>; B]>) {
        use crate::gradcheck::EPS;
        for seed in 0..500 {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut conv = Conv2d::<IN, OUT, 3, 1, 1>::boxed_zeroed();
            conv.as_flat_mut()
                .iter_mut()
                .for_each(|v| *v = rng.random_range(0.1..1.0) * [-1.0, 1.0][rng.random_range(0..2)]);
            let x = random::<[Tensor<IN, H, W>; B]>(seed + 1000);
            let mut c = <[Tensor<OUT, H, W>; B]>::boxed_zeroed();
            conv.forward(&x, &mut c, &mut <[PaddedInput<IN, H, W, 1>; B]>::boxed_zeroed(), &mut Mode::Infer);
            // A step moves an output by at most EPS times a weight, an
            // input or 1 (a bias): under EPS each.
            let margin = 2.0 * EPS;
            let clear = c.as_flat().iter().all(|v| v.abs() > margin)
                && (!pooled
                    || c.iter().flat_map(|t| t.0.iter()).all(|plane| {
                        (0..H.div_ceil(2)).all(|i| {
                            (0..W.div_ceil(2)).all(|j| {
                                let mut v: std::vec::Vec<f32> = (2 * i..(2 * i + 2).min(H))
                                    .flat_map(|r| (2 * j..(2 * j + 2).min(W)).map(move |s| plane[r][s].max(0.0)))
                                    .collect();
                                v.sort_by(|a, b| b.total_cmp(a));
                                v[0] == 0.0 || v.len() == 1 || v[0] - v[1] > 2.0 * margin
                            })
                        })
                    }));
            if clear {
                return (conv, x);
            }
        }
        panic!("no seed below 500 keeps clear of the kinks ({IN} -> {OUT} on {H} x {W}, {B} samples, pooled {pooled})");
    }

    /// By finite differences, at points clear of the kinks.
    #[test]
    fn gradients() {
        use crate::gradcheck::check_layer_at;
        let (conv, x) = clear_of_kinks::<2, 3, 4, 5, 2>(false);
        let fused = ConvRelu::<Conv2d<2, 3, 3, 1, 1>, 4, 5> { conv: *conv };
        check_layer_at::<_, 2, 2, 4, 5, 3, 4, 5>(&fused, &x, 1).unwrap();
        let (conv, x) = clear_of_kinks::<1, 4, 5, 4, 1>(true);
        let fused = ConvReluPool::<Conv2d<1, 4, 3, 1, 1>, 5, 4> { conv: *conv };
        check_layer_at::<_, 1, 1, 5, 4, 4, 3, 2>(&fused, &x, 2).unwrap();
        let (conv, x) = clear_of_kinks::<2, 8, 4, 4, 1>(true);
        let fused = ConvReluPool::<Conv2d<2, 8, 3, 1, 1>, 4, 4> { conv: *conv };
        check_layer_at::<_, 1, 2, 4, 4, 8, 2, 2>(&fused, &x, 3).unwrap();
    }
}
