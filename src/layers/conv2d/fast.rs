//! `Conv2d`'s fast paths: the layer's calls into the kernels' convolution
//! entry points (forward, with the ReLU and the 2x2 max-pool fused;
//! weight gradient, by row tiles or channels-last; input gradient, the
//! forward kernel on the padded output gradient with the kernel flipped).

use super::{Conv2d, PadPlane, PaddedInput, pad_planes};
use crate::kernels::{self, ConvBatch, ConvGeom, Kernels, SLACK, Start};
use crate::{Flat, Tensor};

/// Largest stack scratch (in floats, 64 KiB) of the channels-last weight
/// gradient: big networks train on small stacks (tests/alloc.rs runs tfconv
/// on a 256 KiB one).
const DW_T_LIMIT: usize = 1 << 14;

/// Output-gradient channels padded per block by the fast input gradient.
const DX_BLOCK: usize = 16;

/// Scratch of the fast input gradient: [`DX_BLOCK`] planes of the output
/// gradient with zero padding (at most `K - 1` on each side), then [`SLACK`].
#[repr(C)]
struct DyScratch<const OH: usize, const OW: usize, const K: usize> {
    planes: [PadPlane<OH, OW, K>; DX_BLOCK],
    slack: [f32; SLACK],
}

// SAFETY: repr(C) struct made only of f32 arrays.
unsafe impl<const OH: usize, const OW: usize, const K: usize> Flat for DyScratch<OH, OW, K> {}

/// What the fast forward pass does with its sums.
pub(super) enum Then<'a> {
    /// Stores them.
    Store,
    /// Stores `max(y, 0)`: a ReLU after the convolution.
    Relu,
    /// A ReLU then a 2x2 max-pool of them into the planes here, not
    /// storing them; with `true` the pooling's routes in their place.
    ReluPool(&'a mut [f32], bool),
}

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Whether the register-blocked kernels apply: stride 1 and `PAD < K`
    /// (so the input gradient is a convolution with padding `K - 1 - PAD`).
    pub(super) const FAST_SHAPE: bool = STRIDE == 1 && PAD < K;

    /// The kernels this call runs, if they take this shape.
    #[inline]
    pub(super) fn fast() -> Option<Kernels> {
        let k = kernels::active();
        (Self::FAST_SHAPE && k.is_fast()).then_some(k)
    }

    /// The forward geometry over a padded `H x W` input (weights in PyTorch order).
    pub(super) fn geom<const H: usize, const W: usize, const OH: usize, const OW: usize>(&self) -> ConvGeom {
        ConvGeom {
            in_c: IN_C,
            k: K,
            x_plane: (H + 2 * PAD) * (W + 2 * PAD),
            x_row: W + 2 * PAD,
            w_out: (IN_C * K * K) as isize,
            w_in: (K * K) as isize,
            w_m: K as isize,
            w_n: 1,
            y_plane: OH * OW,
        }
    }

    /// How the forward pass starts its sums.
    pub(super) fn start(&self) -> Start<'_> {
        if BIAS { Start::Bias(&self.bias) } else { Start::Zero }
    }

    /// Whether the fast forward pass pools its outputs in its tiles
    /// ([`Then::ReluPool`]; with `routes`, storing the routes in the
    /// outputs' memory): [`Kernels::conv_pools`]. `false` off the fast path.
    pub(super) fn pools<const H: usize, const W: usize, const OH: usize, const OW: usize>(&self, routes: bool) -> bool {
        let g = self.geom::<H, W, OH, OW>();
        Self::fast().is_some_and(|k| k.conv_pools(&g, OUT_C, (OH, OW), &self.start(), routes))
    }

    /// Fast forward pass of a batch whose inputs are padded in `cache`,
    /// then what `then` says; `false`, having done nothing, where the
    /// kernels decline.
    pub(super) fn forward_fast<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        y: &mut [Tensor<OUT_C, OH, OW>; B],
        then: Then<'_>,
    ) -> bool {
        let g = self.geom::<H, W, OH, OW>();
        let relu = matches!(then, Then::Relu);
        let batch = Self::batch::<B, H, W, OH, OW>(relu);
        let (w, x, y) = ((self.weight.as_flat(), 0), cache.as_flat(), y.as_flat_mut());
        if let Then::ReluPool(pooled, routes) = then {
            let pooled = (pooled, OUT_C * OH.div_ceil(2) * OW.div_ceil(2));
            k.conv_relu_pool(&g, w, OUT_C, &batch, (x, y), self.start(), pooled, routes)
        } else {
            k.conv_forward(&g, w, OUT_C, &batch, x, y, self.start())
        }
    }

    /// How a batch of `B` padded inputs and `OUT_C x OH x OW` outputs lies.
    pub(super) fn batch<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        relu: bool,
    ) -> ConvBatch {
        ConvBatch {
            n: B,
            x_sample: PaddedInput::<IN_C, H, W, PAD>::LEN,
            y_sample: OUT_C * OH * OW,
            oh: OH,
            ow: OW,
            relu,
        }
    }

    /// Whether the fast weight gradient of `oh x ow` output planes runs
    /// channels-last ([`weight_grad_t`](Self::weight_grad_t)). The
    /// transposition costs one move per output-gradient value; it pays
    /// when every value then feeds many taps (`IN_C*K*K` of them).
    pub(super) const fn weight_grad_t_applies(oh: usize, ow: usize) -> bool {
        OUT_C.is_multiple_of(16) && IN_C * K * K >= 64 && OUT_C <= DW_T_LIMIT && oh * ow * OUT_C <= DW_T_LIMIT
    }

    /// Fast weight gradient of a batch (added into `grads`).
    pub(super) fn weight_grad_fast<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        dy: &[Tensor<OUT_C, OH, OW>; B],
        grads: &mut Self,
    ) {
        if Self::weight_grad_t_applies(OH, OW) {
            return self.weight_grad_t::<B, H, W, OH, OW>(k, cache, dy, grads);
        }
        let (g, batch) = (self.geom::<H, W, OH, OW>(), Self::batch::<B, H, W, OH, OW>(false));
        let ran = k.conv_weight_grad(&g, OUT_C, &batch, cache.as_flat(), dy.as_flat(), grads.weight.as_flat_mut());
        assert!(ran, "a fast backend runs every weight gradient");
    }

    /// Fast weight gradient with the output channels along the vector
    /// lanes: each sample's output gradient is transposed to channels-last
    /// (`[OH][OW][OUT_C]`, a stack scratch of at most [`DW_T_LIMIT`] floats)
    /// and the gradient accumulates transposed, `[tap][OUT_C]`, for as many
    /// taps at a time as fit a stack scratch of [`DW_T_LIMIT`] floats
    /// (rounded down to whole kernel rows when at least one fits), with
    /// the input broadcast; then it is added into `grads`. No lane is
    /// wasted on row ends and nothing is reduced horizontally. For `OUT_C` a
    /// multiple of 16 and at least 64 taps.
    #[inline(never)]
    pub(super) fn weight_grad_t<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        dy: &[Tensor<OUT_C, OH, OW>; B],
        grads: &mut Self,
    ) {
        let g = self.geom::<H, W, OH, OW>();
        let taps = IN_C * K * K;
        // Whole kernel rows per chunk where a row fits (the 3x3 kernel's
        // row tile needs them; a chunk that is not takes the 24-tap tiles).
        let chunk = match DW_T_LIMIT / OUT_C {
            c if c >= K => c / K * K,
            c => c,
        };
        let mut dwt = [0.0f32; DW_T_LIMIT];
        let mut dyt = <[[[f32; OUT_C]; OW]; OH]>::zeroed();
        for t0 in (0..taps).step_by(chunk) {
            let t1 = (t0 + chunk).min(taps);
            dwt[..(t1 - t0) * OUT_C].fill(0.0);
            for (x, dy) in cache.iter().zip(dy) {
                for o0 in (0..OUT_C).step_by(16) {
                    // 16 planes of OH*OW floats from channel o0 of dy, to
                    // channel o0 of each position of dyt.
                    let src = &dy.as_flat()[o0 * OH * OW..];
                    let ran = k.transpose16(src, OH * OW, OH * OW, &mut dyt.as_flat_mut()[o0..], OUT_C);
                    assert!(ran, "a fast backend runs every transposition");
                }
                let dyt = (dyt.as_flat(), OUT_C);
                let ran = k.conv_weight_grad_t(&g, t0..t1, x.as_flat(), (OH, OW), dyt, &mut dwt[..(t1 - t0) * OUT_C]);
                assert!(ran, "a fast backend runs every weight gradient");
            }
            for (o, wo) in grads.weight.iter_mut().enumerate() {
                let w = wo.as_flat_mut();
                for t in t0..t1 {
                    w[t] += dwt[(t - t0) * OUT_C + o];
                }
            }
        }
    }

    /// Fast input gradient: the convolution of `dy`, zero-padded by
    /// `K - 1 - PAD`, with the kernel flipped on both axes and its channel
    /// axes swapped, [`DX_BLOCK`] output-gradient channels at a time.
    #[inline(never)]
    pub(super) fn input_grad_fast<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        dy: &[Tensor<OUT_C, OH, OW>; B],
        dx: &mut [Tensor<IN_C, H, W>; B],
    ) {
        let q = K - 1 - PAD;
        let (rw, rows) = (OW + 2 * q, OH + 2 * q);
        let mut scratch = DyScratch::<OH, OW, K>::zeroed();
        for (dy, dx) in dy.iter().zip(dx.iter_mut()) {
            let mut o0 = 0;
            while o0 < OUT_C {
                let nb = DX_BLOCK.min(OUT_C - o0);
                pad_planes(&dy.as_flat()[o0 * OH * OW..(o0 + nb) * OH * OW], nb, OH, OW, q, scratch.as_flat_mut());
                let g = ConvGeom {
                    in_c: nb,
                    k: K,
                    x_plane: rw * rows,
                    x_row: rw,
                    w_out: (K * K) as isize,
                    w_in: (IN_C * K * K) as isize,
                    w_m: -(K as isize),
                    w_n: -1,
                    y_plane: H * W,
                };
                let batch = ConvBatch { n: 1, x_sample: 0, y_sample: 0, oh: H, ow: W, relu: false };
                let start = if o0 == 0 { Start::Zero } else { Start::Load };
                // The weight of (output-gradient channel o0, input channel 0,
                // tap (K-1, K-1)): the flipped kernel's first tap.
                let w = (self.weight.as_flat(), (o0 * IN_C * K + K - 1) * K + K - 1);
                let (x, y) = (scratch.as_flat(), dx.as_flat_mut());
                let ran = k.conv_forward(&g, w, IN_C, &batch, x, y, start);
                assert!(ran, "a fast backend runs every convolution");
                o0 += nb;
            }
        }
    }
}
