//! `GroupConv2d`: a 2-D convolution whose channels are split into `GROUPS`
//! independent groups; `DepthwiseConv2d` is the case of one channel per
//! group (MobileNet's depthwise 3x3).
//!
//! The input's `IN_C` channels and the output's `OUT_C` channels are each
//! cut into `GROUPS` consecutive runs. Output channel `o` belongs to group
//! `g = o / (OUT_C / GROUPS)` and reads only that group's `IN_PER_GROUP =
//! IN_C / GROUPS` input channels, `g·IN_PER_GROUP + c` for `c < IN_PER_GROUP`.
//! Forward (cross-correlation, x is 0 outside the image):
//!
//! ```text
//! y[o][i][j] = b[o] + sum_{c < IN_PER_GROUP} sum_{m,n < K} w[o][c][m][n] * x[g*IN_PER_GROUP + c][i*S + m - P][j*S + n - P]
//! ```
//!
//! Backward, with `dy = dL/dy` and `x_g = x[g*IN_PER_GROUP + c]`:
//!
//! ```text
//! dL/dw[o][c][m][n] = sum_{i,j} dy[o][i][j] * x_g[i*S + m - P][j*S + n - P]
//! dL/db[o]          = sum_{i,j} dy[o][i][j]
//! dL/dx_g[u][v]     = sum_{o in g} sum_{m,n} w[o][c][m][n] * dy[o][i][j]   over i*S + m - P = u, j*S + n - P = v
//! ```
//!
//! `GROUPS = 1` is [`Conv2d`](crate::Conv2d); `GROUPS = IN_C` with
//! `OUT_C = IN_C` is a depthwise convolution, and `OUT_C = M·IN_C` one
//! with a channel multiplier `M`.

use super::conv2d::{PaddedInput, pad_planes, valid_range};
use crate::flat::{same_layout, same_layout_mut};
use crate::kernels::depthwise::Depthwise3;
use crate::kernels::{self, ConvBatch, ConvGeom, Kernels, Start};
use crate::layer::{
    Grad, Init, Layer, Mode, ParamTensor, Parameters, assert_out_shape, visit_weight_bias, visit_weight_bias_mut,
};
use crate::{Flat, Shape, Tensor, conv_out, math};
use rand::Rng;

/// A grouped 2-D convolution: `GROUPS` groups of `IN_PER_GROUP` input
/// channels, each convolved with its own `OUT_C / GROUPS` filters of
/// `IN_PER_GROUP x K x K`; zero padding `PAD`, stride `STRIDE`, optional
/// bias.
///
/// PyTorch: `nn.Conv2d(IN_C, OUT_C, K, stride=STRIDE, padding=PAD,
/// groups=GROUPS, bias=BIAS)`; `weight` has the same
/// `[OUT_C][IN_C / GROUPS][K][K]` layout.
///
/// Stable Rust cannot size an array by `IN_C / GROUPS` in a generic
/// struct, so the type names that size too, as `IN_PER_GROUP`; a value
/// that is not `IN_C / GROUPS` does not build. Padding comes before
/// stride, as in [`Conv2d`](crate::Conv2d). [`DepthwiseConv2d`] spells the
/// depthwise case.
///
/// The loops run per pair of planes, per kernel tap, along whole rows of
/// the padded input (the compiler vectorises them); the padded inputs are
/// the layer's cache. The backward pass of a depthwise 3x3 convolution
/// with padding 1 and stride 1 or 2 (MobileNet's) on planes at least 28
/// wide runs vector kernels instead (docs/design.md).
///
/// # Shapes
/// Input `IN_C x H x W`, output
/// `OUT_C x conv_out(H, K, PAD, STRIDE) x conv_out(W, K, PAD, STRIDE)`.
/// `IN_C` and `OUT_C` must be multiples of `GROUPS`, and
/// `IN_PER_GROUP = IN_C / GROUPS`. With `BIAS = false` the `bias` array
/// stays zero and is never trained or saved.
///
/// ```
/// use constnet::{Flat, GroupConv2d, Layer, Mode, Tensor};
/// // Two groups of one channel: each output channel sees only its own input.
/// let mut conv = GroupConv2d::<2, 2, 2, 1, 1, 0, 1, false>::zeroed();
/// conv.weight = [[[[2.0]]], [[[-1.0]]]];
/// let x = [Tensor::<2, 1, 2>::from_array([[[1., 2.]], [[3., 4.]]])];
/// let mut y = [Tensor::<2, 1, 2>::zeroed()];
/// conv.forward(&x, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[2., 4.]], [[-3., -4.]]]);
/// ```
///
/// Channels that the groups do not divide do not build:
///
/// ```compile_fail
/// use constnet::{GroupConv2d, Shape};
/// // 6 input channels do not split into 4 groups.
/// const N: usize = <GroupConv2d<6, 8, 4, 1, 3> as Shape<6, 8, 8>>::OUT_C;
/// ```
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct GroupConv2d<
    const IN_C: usize,
    const OUT_C: usize,
    const GROUPS: usize,
    const IN_PER_GROUP: usize,
    const K: usize,
    const PAD: usize = 0,
    const STRIDE: usize = 1,
    const BIAS: bool = true,
> {
    /// Filters, `[OUT_C][IN_PER_GROUP][K][K]` (PyTorch's layout).
    pub weight: [[[[f32; K]; K]; IN_PER_GROUP]; OUT_C],
    /// One bias per filter (zero and untouched when `BIAS = false`).
    pub bias: [f32; OUT_C],
}

/// A depthwise convolution: each of the `C` channels convolved with its
/// own `K x K` filter, MobileNet's depthwise layer.
///
/// PyTorch: `nn.Conv2d(C, C, K, stride=STRIDE, padding=PAD, groups=C,
/// bias=BIAS)`, weight `[C, 1, K, K]`. A channel multiplier `M` is
/// `GroupConv2d<C, {M·C}, C, 1, K, PAD, STRIDE, BIAS>` with `M·C` written
/// out.
///
/// # Shapes
/// Input `C x H x W`, output
/// `C x conv_out(H, K, PAD, STRIDE) x conv_out(W, K, PAD, STRIDE)`.
///
/// ```
/// use constnet::{DepthwiseConv2d, Flat, Layer, Mode, Tensor};
/// // 3x3 'same', stride 2: a 4x4 image gives 2x2; a box filter per channel.
/// let mut dw = DepthwiseConv2d::<2, 3, 1, 2, false>::zeroed();
/// dw.weight = [[[[1.0; 3]; 3]], [[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]];
/// let x = [Tensor::<2, 4, 4>::from_fn(|c, i, j| if c == 0 { 1.0 } else { (4 * i + j) as f32 })];
/// let mut y = [Tensor::<2, 2, 2>::zeroed()];
/// dw.forward(&x, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[4., 6.], [6., 9.]], [[0., 2.], [8., 10.]]]);
/// ```
pub type DepthwiseConv2d<
    const C: usize,
    const K: usize,
    const PAD: usize = 0,
    const STRIDE: usize = 1,
    const BIAS: bool = true,
> = GroupConv2d<C, C, C, 1, K, PAD, STRIDE, BIAS>;

// SAFETY: repr(C) struct of f32 arrays.
unsafe impl<
    const IN_C: usize,
    const OUT_C: usize,
    const GROUPS: usize,
    const IN_PER_GROUP: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
> Flat for GroupConv2d<IN_C, OUT_C, GROUPS, IN_PER_GROUP, K, PAD, STRIDE, BIAS>
{
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const GROUPS: usize,
    const IN_PER_GROUP: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const C: usize,
    const H: usize,
    const W: usize,
> Shape<C, H, W> for GroupConv2d<IN_C, OUT_C, GROUPS, IN_PER_GROUP, K, PAD, STRIDE, BIAS>
{
    const OUT_C: usize = {
        assert!(GROUPS > 0, "GroupConv2d: GROUPS must be at least 1");
        assert!(IN_C.is_multiple_of(GROUPS), "GroupConv2d: IN_C must be a multiple of GROUPS");
        assert!(OUT_C.is_multiple_of(GROUPS), "GroupConv2d: OUT_C must be a multiple of GROUPS");
        assert!(IN_PER_GROUP * GROUPS == IN_C, "GroupConv2d: IN_PER_GROUP must be IN_C / GROUPS");
        assert!(C == IN_C, "GroupConv2d: the input must have IN_C channels");
        OUT_C
    };
    const OUT_H: usize = conv_out(H, K, PAD, STRIDE);
    const OUT_W: usize = conv_out(W, K, PAD, STRIDE);
}

/// Longest padded row [`Split`] takes: 2 x 128 floats on the stack.
const SPLIT: usize = 128;

/// One padded input row split into its even and odd columns, so that at
/// stride 2 each tap `n` reads a contiguous run: `x[2·j + n]` is
/// `even[j + n/2]` for an even `n` and `odd[j + n/2]` for an odd one. The
/// loops then run an `axpy` or a `dot` per tap, as at stride 1.
struct Split {
    even: [f32; SPLIT],
    odd: [f32; SPLIT],
}

impl Split {
    fn new() -> Self {
        Split { even: [0.0; SPLIT], odd: [0.0; SPLIT] }
    }

    /// Whether a padded row of `pw` floats fits.
    fn fits(&self, pw: usize) -> bool {
        pw <= SPLIT
    }

    /// Splits `row` (at most [`SPLIT`] floats).
    #[inline(always)]
    fn fill(&mut self, row: &[f32]) {
        let pairs = row.chunks_exact(2);
        if let [last] = pairs.remainder() {
            self.even[row.len() / 2] = *last;
        }
        for ((e, o), p) in self.even.iter_mut().zip(self.odd.iter_mut()).zip(pairs) {
            *e = p[0];
            *o = p[1];
        }
    }

    /// Tap `n`'s inputs for `ow` outputs: `x[2·j + n]` for `j < ow`.
    #[inline(always)]
    fn taps(&self, n: usize, ow: usize) -> &[f32] {
        let half = if n.is_multiple_of(2) { &self.even } else { &self.odd };
        &half[n / 2..n / 2 + ow]
    }
}

/// `y += ` the correlation of one padded input plane `xp` (rows of `pw`
/// floats) with the `K x K` filter `w` at stride `S`: per tap, one `axpy`
/// along each output row (stride 1), which the compiler vectorises.
#[inline(always)]
fn correlate_plane<const K: usize, const S: usize, const OW: usize>(
    xp: &[f32],
    pw: usize,
    w: &[[f32; K]; K],
    y: &mut [[f32; OW]],
) {
    let mut split = Split::new();
    for (oy, yrow) in y.iter_mut().enumerate() {
        for (m, wm) in w.iter().enumerate() {
            let xrow = &xp[(oy * S + m) * pw..];
            if S == 2 && split.fits(pw) {
                split.fill(&xrow[..pw]);
                for (n, &wv) in wm.iter().enumerate() {
                    math::axpy(yrow, wv, split.taps(n, OW));
                }
                continue;
            }
            for (n, &wv) in wm.iter().enumerate() {
                if S == 1 {
                    math::axpy(yrow, wv, &xrow[n..n + OW]);
                } else {
                    let xs = &xrow[n..n + (OW - 1) * S + 1];
                    for (yv, xv) in yrow.iter_mut().zip(xs.iter().step_by(S)) {
                        *yv += wv * xv;
                    }
                }
            }
        }
    }
}

/// `dw += ` the correlation of one padded input plane `xp` with the output
/// gradient `dy` (one `dot` per tap and output row at stride 1).
#[inline(always)]
fn weight_grad_plane<const K: usize, const S: usize, const OW: usize>(
    xp: &[f32],
    pw: usize,
    dy: &[[f32; OW]],
    dw: &mut [[f32; K]; K],
) {
    let mut split = Split::new();
    if S == 2 && split.fits(pw) {
        for (oy, dyrow) in dy.iter().enumerate() {
            for (m, dwm) in dw.iter_mut().enumerate() {
                split.fill(&xp[(oy * S + m) * pw..][..pw]);
                for (n, dwv) in dwm.iter_mut().enumerate() {
                    *dwv += math::dot(dyrow, split.taps(n, OW));
                }
            }
        }
        return;
    }
    for (m, dwm) in dw.iter_mut().enumerate() {
        for (n, dwv) in dwm.iter_mut().enumerate() {
            let mut g = 0.0;
            for (oy, dyrow) in dy.iter().enumerate() {
                let xrow = &xp[(oy * S + m) * pw + n..];
                if S == 1 {
                    g += math::dot(dyrow, &xrow[..OW]);
                } else {
                    let xs = &xrow[..(OW - 1) * S + 1];
                    g += dyrow.iter().zip(xs.iter().step_by(S)).map(|(d, x)| d * x).sum::<f32>();
                }
            }
            *dwv += g;
        }
    }
}

/// `dx += ` the "full" convolution of one output-gradient plane `dy` with
/// the filter `w` (the input's `H x W`, unpadded: only the taps that land
/// inside it).
#[inline(always)]
fn input_grad_plane<const K: usize, const PAD: usize, const S: usize, const W: usize, const OW: usize>(
    dy: &[[f32; OW]],
    w: &[[f32; K]; K],
    dx: &mut [[f32; W]],
) {
    let (h, oh) = (dx.len(), dy.len());
    for (m, wm) in w.iter().enumerate() {
        let (oy_lo, oy_hi) = valid_range(h, oh, m, PAD, S);
        for oy in oy_lo..oy_hi {
            let dxrow = &mut dx[oy * S + m - PAD];
            for (n, &wv) in wm.iter().enumerate() {
                let (lo, hi) = valid_range(W, OW, n, PAD, S);
                if lo >= hi {
                    continue;
                }
                let d = &dy[oy][lo..hi];
                if S == 1 {
                    math::axpy(&mut dxrow[lo + n - PAD..hi + n - PAD], wv, d);
                } else {
                    for (ox, &dv) in (lo..hi).zip(d) {
                        dxrow[ox * S + n - PAD] += wv * dv;
                    }
                }
            }
        }
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const GROUPS: usize,
    const IN_PER_GROUP: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
> GroupConv2d<IN_C, OUT_C, GROUPS, IN_PER_GROUP, K, PAD, STRIDE, BIAS>
{
    /// Output channels per group.
    const OUT_PER_GROUP: usize = OUT_C / GROUPS;

    /// Whether this is a depthwise 3x3 convolution with padding 1 and
    /// stride 1 or 2 (MobileNet's), which the depthwise kernels run on
    /// every backend.
    const DEPTHWISE3: bool = IN_PER_GROUP == 1 && OUT_C == IN_C && K == 3 && PAD == 1 && (STRIDE == 1 || STRIDE == 2);

    /// Whether the backward pass of inputs `W` wide runs the depthwise
    /// kernels: where they beat the paths they replace in
    /// `bench_depthwise` (docs/performance.md), planes at least 28 wide,
    /// at stride 1 on every backend and at stride 2 on the vector ones.
    /// Their forward pass was not faster than the convolution kernels
    /// (stride 1) or the loops (stride 2) anywhere, so the layer keeps those.
    fn depthwise3_backward<const W: usize>() -> bool {
        Self::DEPTHWISE3 && W >= 28 && (STRIDE == 1 || kernels::active().is_fast())
    }

    /// The depthwise kernels' description of a batch of `B` inputs of
    /// `H x W`, read from the cache.
    fn depthwise3<const B: usize, const H: usize, const W: usize>() -> Depthwise3 {
        Depthwise3 { n: B, c: IN_C, h: H, w: W, stride: STRIDE, x_sample: PaddedInput::<IN_C, H, W, PAD>::LEN }
    }

    /// The convolution kernels, where they take this shape: stride 1 and
    /// `PAD < K`, as for [`Conv2d`](crate::Conv2d). Each group is one
    /// kernel call over the batch, on its slice of the planes.
    fn fast() -> Option<Kernels> {
        let k = kernels::active();
        (STRIDE == 1 && PAD < K && k.is_fast()).then_some(k)
    }

    /// One group's geometry over padded `H x W` planes (its weights
    /// `[OUT_PER_GROUP][IN_PER_GROUP][K][K]`, PyTorch's order).
    fn geom<const H: usize, const W: usize, const OH: usize, const OW: usize>() -> ConvGeom {
        ConvGeom {
            in_c: IN_PER_GROUP,
            k: K,
            x_plane: (H + 2 * PAD) * (W + 2 * PAD),
            x_row: W + 2 * PAD,
            w_out: (IN_PER_GROUP * K * K) as isize,
            w_in: (K * K) as isize,
            w_m: K as isize,
            w_n: 1,
            y_plane: OH * OW,
        }
    }

    /// Where the batch's padded inputs and outputs lie (whole samples apart).
    fn batch<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>() -> ConvBatch {
        ConvBatch {
            n: B,
            x_sample: PaddedInput::<IN_C, H, W, PAD>::LEN,
            y_sample: OUT_C * OH * OW,
            oh: OH,
            ow: OW,
            relu: false,
        }
    }

    /// The fast forward pass of a batch from its padded inputs `xp`, group
    /// by group; `false`, having done nothing, where the kernels decline.
    fn forward_fast<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        xp: &[f32],
        y: &mut [f32],
    ) -> bool {
        let (g, batch) = (Self::geom::<H, W, OH, OW>(), Self::batch::<B, H, W, OH, OW>());
        let opg = Self::OUT_PER_GROUP;
        for group in 0..GROUPS {
            let (o0, c0) = (group * opg, group * IN_PER_GROUP);
            let start = if BIAS { Start::Bias(&self.bias[o0..o0 + opg]) } else { Start::Zero };
            let w = (self.weight.as_flat(), o0 * IN_PER_GROUP * K * K);
            if !k.conv_forward(&g, w, opg, &batch, &xp[c0 * g.x_plane..], &mut y[o0 * OH * OW..], start) {
                return false;
            }
        }
        true
    }

    /// The fast weight gradient of a batch, added into `dw`, group by group.
    fn weight_grad_fast<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        k: Kernels,
        xp: &[f32],
        dy: &[f32],
        dw: &mut [f32],
    ) -> bool {
        let (g, batch) = (Self::geom::<H, W, OH, OW>(), Self::batch::<B, H, W, OH, OW>());
        let (opg, per_filter) = (Self::OUT_PER_GROUP, IN_PER_GROUP * K * K);
        for group in 0..GROUPS {
            let (o0, c0) = (group * opg, group * IN_PER_GROUP);
            let dw = &mut dw[o0 * per_filter..(o0 + opg) * per_filter];
            if !k.conv_weight_grad(&g, opg, &batch, &xp[c0 * g.x_plane..], &dy[o0 * OH * OW..], dw) {
                return false;
            }
        }
        true
    }

    /// Forward pass of one sample from its padded input `xp` (`IN_C`
    /// planes of `(H + 2·PAD) x (W + 2·PAD)`).
    fn forward_one<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        xp: &[f32],
        y: &mut [[[f32; OW]; OH]; OUT_C],
    ) {
        let (pw, plane) = (W + 2 * PAD, (H + 2 * PAD) * (W + 2 * PAD));
        for (o, yo) in y.iter_mut().enumerate() {
            let b = if BIAS { self.bias[o] } else { 0.0 };
            yo.iter_mut().for_each(|row| row.fill(b));
            let first = o / Self::OUT_PER_GROUP * IN_PER_GROUP;
            for (c, w) in self.weight[o].iter().enumerate() {
                let xp = &xp[(first + c) * plane..(first + c + 1) * plane];
                correlate_plane::<K, STRIDE, OW>(xp, pw, w, yo);
            }
        }
    }

    /// Backward pass of one sample: adds dL/db (and dL/dw if `DW`) into
    /// `grads` and, if asked, overwrites `dx`. The input is read from its
    /// padded copy.
    fn backward_one<const H: usize, const W: usize, const OH: usize, const OW: usize, const DW: bool>(
        &self,
        xp: &[f32],
        dy: &[[[f32; OW]; OH]; OUT_C],
        mut dx: Option<&mut [[[f32; W]; H]; IN_C]>,
        grads: &mut Self,
    ) {
        let (pw, plane) = (W + 2 * PAD, (H + 2 * PAD) * (W + 2 * PAD));
        if let Some(dx) = dx.as_deref_mut() {
            dx.as_flat_mut().fill(0.0);
        }
        for (o, dyo) in dy.iter().enumerate() {
            if BIAS {
                grads.bias[o] += math::sum(dyo.as_flat());
            }
            let first = o / Self::OUT_PER_GROUP * IN_PER_GROUP;
            for c in 0..IN_PER_GROUP {
                let xp = &xp[(first + c) * plane..(first + c + 1) * plane];
                if DW {
                    weight_grad_plane::<K, STRIDE, OW>(xp, pw, dyo, &mut grads.weight[o][c]);
                }
                if let Some(dx) = dx.as_deref_mut() {
                    input_grad_plane::<K, PAD, STRIDE, W, OW>(dyo, &self.weight[o][c], &mut dx[first + c]);
                }
            }
        }
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const GROUPS: usize,
    const IN_PER_GROUP: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const C: usize,
    const H: usize,
    const W: usize,
> Layer<C, H, W> for GroupConv2d<IN_C, OUT_C, GROUPS, IN_PER_GROUP, K, PAD, STRIDE, BIAS>
{
    /// The inputs with their zero padding written out, as
    /// [`Conv2d`](crate::Conv2d) keeps them. Backward reads the input from
    /// here and not from its `x`.
    type Cache<const B: usize> = [PaddedInput<C, H, W, PAD>; B];

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        cache: &mut [PaddedInput<C, H, W, PAD>; B],
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("GroupConv2d", OC, OH, OW);
        // `C == IN_C` and `OC == OUT_C`, as the shape checks asserted.
        let y: &mut [[[[f32; OW]; OH]; OUT_C]; B] = same_layout_mut(y);
        for (x, xp) in x.iter().zip(cache.iter_mut()) {
            pad_planes(x.as_flat(), C, H, W, PAD, xp.as_flat_mut());
        }
        if let Some(k) = Self::fast()
            && self.forward_fast::<B, H, W, OH, OW>(k, cache.as_flat(), y.as_flat_mut())
        {
            return;
        }
        for (xp, y) in cache.iter().zip(y.iter_mut()) {
            self.forward_one::<H, W, OH, OW>(xp.as_flat(), y);
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        cache: &mut [PaddedInput<C, H, W, PAD>; B],
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        assert_out_shape!("GroupConv2d", OC, OH, OW);
        let _ = x; // read from its padded copy
        grad.start(grads);
        let dy: &[[[[f32; OW]; OH]; OUT_C]; B] = same_layout(dy);
        let mut dx = dx.map(same_layout_mut::<_, [[[[f32; W]; H]; IN_C]; B]>);
        if Self::depthwise3_backward::<W>() {
            let (d, xp, dyf) = (Self::depthwise3::<B, H, W>(), cache.as_flat(), dy.as_flat());
            // The convolution kernels' weight gradient where they run (at
            // stride 1); the depthwise kernels add the rest.
            let done = Self::fast()
                .is_some_and(|k| Self::weight_grad_fast::<B, H, W, OH, OW>(k, xp, dyf, grads.weight.as_flat_mut()));
            let dw = (!done).then_some(grads.weight.as_flat_mut());
            let db = BIAS.then_some(&mut grads.bias[..]);
            let dx = dx.map(|d| d.as_flat_mut());
            kernels::active().depthwise3_backward(&d, self.weight.as_flat(), xp, dyf, dx, dw, db);
            return;
        }
        if let Some(k) = Self::fast()
            && Self::weight_grad_fast::<B, H, W, OH, OW>(k, cache.as_flat(), dy.as_flat(), grads.weight.as_flat_mut())
        {
            // The weight gradient is in; the loops add the bias gradient
            // and write the input gradient.
            for b in 0..B {
                let dx = dx.as_deref_mut().map(|d| &mut d[b]);
                self.backward_one::<H, W, OH, OW, false>(cache[b].as_flat(), &dy[b], dx, grads);
            }
            return;
        }
        for b in 0..B {
            let dx = dx.as_deref_mut().map(|d| &mut d[b]);
            self.backward_one::<H, W, OH, OW, true>(cache[b].as_flat(), &dy[b], dx, grads);
        }
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const GROUPS: usize,
    const IN_PER_GROUP: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
> Parameters for GroupConv2d<IN_C, OUT_C, GROUPS, IN_PER_GROUP, K, PAD, STRIDE, BIAS>
{
    /// Fans as PyTorch computes them for a grouped convolution:
    /// `fan_in = IN_PER_GROUP*K*K`, `fan_out = OUT_C/GROUPS*K*K`.
    fn init(&mut self, init: Init, rng: &mut dyn Rng) {
        let fan_out = OUT_C / GROUPS.max(1) * K * K;
        init.fill(self.weight.as_flat_mut(), IN_PER_GROUP * K * K, fan_out, rng);
        self.bias = [0.0; OUT_C];
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        visit_weight_bias(self.weight.as_flat(), &[OUT_C, IN_PER_GROUP, K, K], BIAS.then_some(&self.bias), f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, &[usize], &mut [f32])) {
        visit_weight_bias_mut(
            self.weight.as_flat_mut(),
            &[OUT_C, IN_PER_GROUP, K, K],
            BIAS.then_some(&mut self.bias),
            f,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    /// Groups 1, 2 and one per channel; stride 1 and 2; padding 0, 1, 2;
    /// kernels 1, 3, 5; odd sizes; bias on and off.
    #[test]
    fn gradients() {
        check_layer::<GroupConv2d<3, 2, 1, 3, 3, 1>, 2, 3, 5, 6, 2, 5, 6>(91).unwrap();
        check_layer::<GroupConv2d<4, 6, 2, 2, 3, 1, 2>, 2, 4, 7, 5, 6, 4, 3>(92).unwrap();
        check_layer::<GroupConv2d<4, 2, 2, 2, 1, 0, 1, false>, 1, 4, 3, 5, 2, 3, 5>(93).unwrap();
        check_layer::<DepthwiseConv2d<3, 3, 1>, 2, 3, 6, 7, 3, 6, 7>(94).unwrap();
        check_layer::<DepthwiseConv2d<3, 3, 1, 2, false>, 2, 3, 7, 6, 3, 4, 3>(95).unwrap();
        check_layer::<DepthwiseConv2d<2, 5, 2>, 1, 2, 5, 9, 2, 5, 9>(96).unwrap();
        check_layer::<DepthwiseConv2d<2, 3>, 2, 2, 5, 4, 2, 3, 2>(97).unwrap();
        check_layer::<DepthwiseConv2d<2, 5, 2, 2>, 1, 2, 9, 8, 2, 5, 4>(98).unwrap();
        // A channel multiplier of 2, and padding that covers every output.
        check_layer::<GroupConv2d<2, 4, 2, 1, 3, 1, 1>, 2, 2, 4, 5, 4, 4, 5>(99).unwrap();
        check_layer::<DepthwiseConv2d<1, 5, 2>, 1, 1, 1, 1, 1, 1, 1>(100).unwrap();
    }

    /// The kernels' forward pass and weight gradient, group by group, give
    /// the loops' values on every fast backend this CPU has.
    #[test]
    fn fast_matches_reference() {
        fn case<
            const IC: usize,
            const OC: usize,
            const G: usize,
            const IPG: usize,
            const K: usize,
            const PAD: usize,
            const H: usize,
            const W: usize,
            const OH: usize,
            const OW: usize,
        >() {
            type L<
                const IC: usize,
                const OC: usize,
                const G: usize,
                const IPG: usize,
                const K: usize,
                const PAD: usize,
            > = GroupConv2d<IC, OC, G, IPG, K, PAD>;
            const B: usize = 3;
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(5);
            let mut conv = L::<IC, OC, G, IPG, K, PAD>::zeroed();
            conv.init(Init::He, &mut rng);
            conv.bias = core::array::from_fn(|o| 0.1 * o as f32 - 0.2);
            let x: [Tensor<IC, H, W>; B] = core::array::from_fn(|b| {
                Tensor::from_fn(|c, i, j| ((b * 13 + c * 7 + i * 5 + j * 3) % 17) as f32 / 8.0 - 1.0)
            });
            let dy: [Tensor<OC, OH, OW>; B] = core::array::from_fn(|b| {
                Tensor::from_fn(|o, i, j| ((b * 3 + o * 11 + i * 2 + j * 7) % 13) as f32 / 6.0 - 1.0)
            });
            let mut cache = [PaddedInput::<IC, H, W, PAD>::zeroed(); B];
            for (x, xp) in x.iter().zip(cache.iter_mut()) {
                pad_planes(x.as_flat(), IC, H, W, PAD, xp.as_flat_mut());
            }
            let mut want = [Tensor::<OC, OH, OW>::zeroed(); B];
            let mut want_dw = L::<IC, OC, G, IPG, K, PAD>::zeroed();
            for b in 0..B {
                conv.forward_one::<H, W, OH, OW>(cache[b].as_flat(), &mut want[b].0);
                conv.backward_one::<H, W, OH, OW, true>(cache[b].as_flat(), &dy[b].0, None, &mut want_dw);
            }
            for k in kernels::fast_backends() {
                let mut y = [Tensor::<OC, OH, OW>::zeroed(); B];
                assert!(conv.forward_fast::<B, H, W, OH, OW>(k, cache.as_flat(), y.as_flat_mut()));
                let mut dw = L::<IC, OC, G, IPG, K, PAD>::zeroed();
                let ran = L::<IC, OC, G, IPG, K, PAD>::weight_grad_fast::<B, H, W, OH, OW>(
                    k,
                    cache.as_flat(),
                    dy.as_flat(),
                    dw.weight.as_flat_mut(),
                );
                assert!(ran);
                for (what, got, want) in
                    [("y", y.as_flat(), want.as_flat()), ("dw", dw.weight.as_flat(), want_dw.weight.as_flat())]
                {
                    for (i, (a, b)) in got.iter().zip(want).enumerate() {
                        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{k:?} {what}[{i}]: {a} vs {b}");
                    }
                }
            }
        }
        case::<4, 6, 2, 2, 3, 1, 7, 9, 7, 9>();
        case::<5, 5, 5, 1, 3, 1, 28, 28, 28, 28>();
        case::<3, 6, 3, 1, 5, 2, 9, 17, 9, 17>();
        case::<4, 4, 4, 1, 3, 0, 6, 19, 4, 17>();
    }

    /// The depthwise 3x3 kernels (padding 1, stride 1 and 2) give the
    /// reference loops' forward bits, and their gradients within
    /// `1e-5 · (1 + |ref|) · sqrt(outputs)`,
    /// on every backend this CPU runs, the portable one included: widths
    /// below, at and above a vector, odd sizes, bias on and off.
    #[test]
    fn depthwise3_matches_loops() {
        fn case<
            const C: usize,
            const S: usize,
            const BIAS: bool,
            const H: usize,
            const W: usize,
            const OH: usize,
            const OW: usize,
        >() {
            type L<const C: usize, const S: usize, const BIAS: bool> = DepthwiseConv2d<C, 3, 1, S, BIAS>;
            const B: usize = 2;
            assert!(L::<C, S, BIAS>::DEPTHWISE3);
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(11);
            let mut conv = L::<C, S, BIAS>::zeroed();
            conv.init(Init::He, &mut rng);
            if BIAS {
                conv.bias = core::array::from_fn(|o| 0.1 * o as f32 - 0.3);
            }
            let x: [Tensor<C, H, W>; B] = core::array::from_fn(|b| {
                Tensor::from_fn(|c, i, j| ((b * 13 + c * 7 + i * 5 + j * 3) % 17) as f32 / 8.0 - 1.0)
            });
            let dy: [Tensor<C, OH, OW>; B] = core::array::from_fn(|b| {
                Tensor::from_fn(|o, i, j| ((b * 3 + o * 11 + i * 2 + j * 7) % 13) as f32 / 6.0 - 1.0)
            });
            let mut cache = [PaddedInput::<C, H, W, 1>::zeroed(); B];
            for (x, xp) in x.iter().zip(cache.iter_mut()) {
                pad_planes(x.as_flat(), C, H, W, 1, xp.as_flat_mut());
            }
            let mut want = [Tensor::<C, OH, OW>::zeroed(); B];
            let mut want_dx = [Tensor::<C, H, W>::zeroed(); B];
            let mut want_g = L::<C, S, BIAS>::zeroed();
            for b in 0..B {
                conv.forward_one::<H, W, OH, OW>(cache[b].as_flat(), &mut want[b].0);
                let dx = Some(&mut want_dx[b].0);
                conv.backward_one::<H, W, OH, OW, true>(cache[b].as_flat(), &dy[b].0, dx, &mut want_g);
            }
            let d = L::<C, S, BIAS>::depthwise3::<B, H, W>();
            for k in crate::kernels::ALL_ISAS.into_iter().filter_map(Kernels::of) {
                let mut y = [Tensor::<C, OH, OW>::zeroed(); B];
                let bias = BIAS.then_some(&conv.bias[..]);
                k.depthwise3_forward(&d, conv.weight.as_flat(), bias, cache.as_flat(), y.as_flat_mut());
                for (i, (a, b)) in y.as_flat().iter().zip(want.as_flat()).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "{k:?} C={C} S={S} {H}x{W}: y[{i}] {a} vs {b}");
                }
                let mut dx = [Tensor::<C, H, W>::from_fn(|_, _, _| f32::NAN); B];
                // Gradients add: start from one.
                let mut g = L::<C, S, BIAS>::zeroed();
                g.as_flat_mut().fill(1.0);
                let db = BIAS.then_some(&mut g.bias[..]);
                let (w, xp, dyf) = (conv.weight.as_flat(), cache.as_flat(), dy.as_flat());
                k.depthwise3_backward(&d, w, xp, dyf, Some(dx.as_flat_mut()), Some(g.weight.as_flat_mut()), db);
                // The bias gradient alone gives the same sums.
                let mut db_alone = [1.0; C];
                k.depthwise3_backward(&d, w, xp, dyf, None, None, BIAS.then_some(&mut db_alone[..]));
                for (a, b) in db_alone.iter().zip(&g.bias) {
                    let tol = 1e-5 * (1.0 + b.abs()) * ((B * OH * OW) as f32).sqrt();
                    assert!((a - b).abs() <= tol, "{k:?}: the bias gradient alone: {a} vs {b} (tol {tol})");
                }
                g.as_flat_mut().iter_mut().for_each(|v| *v -= 1.0);
                if !BIAS {
                    assert_eq!(g.bias, [0.0; C], "{k:?}: a bias gradient without a bias");
                }
                let checks = [
                    ("dx", dx.as_flat(), want_dx.as_flat()),
                    ("dw", g.weight.as_flat(), want_g.weight.as_flat()),
                    ("db", &g.bias[..], &want_g.bias[..]),
                ];
                for (what, got, want) in checks {
                    for (i, (a, b)) in got.iter().zip(want).enumerate() {
                        let tol = 1e-5 * (1.0 + b.abs()) * ((OH * OW) as f32).sqrt();
                        let diff = (a - b).abs();
                        assert!(
                            diff <= tol,
                            "{k:?} C={C} S={S} {H}x{W}: {what}[{i}] {a} vs {b} (diff {diff}, tol {tol})"
                        );
                    }
                }
            }
        }
        case::<3, 1, true, 5, 7, 5, 7>();
        case::<16, 1, false, 28, 28, 28, 28>();
        case::<2, 1, true, 9, 37, 9, 37>();
        case::<2, 1, false, 1, 1, 1, 1>();
        case::<1, 1, true, 3, 2, 3, 2>();
        case::<4, 2, false, 28, 28, 14, 14>();
        case::<3, 2, true, 7, 6, 4, 3>();
        case::<2, 2, true, 6, 7, 3, 4>();
        case::<2, 2, false, 9, 35, 5, 18>();
        case::<2, 2, true, 1, 1, 1, 1>();
        case::<1, 2, true, 2, 2, 1, 1>();
        case::<3, 2, false, 14, 33, 7, 17>();
        // Output-gradient planes too large for the kernels' padded copy.
        case::<1, 1, true, 40, 38, 40, 38>();
        case::<1, 2, false, 79, 80, 40, 40>();
    }

    /// One group is `Conv2d`; one channel per group is `Conv2d` run on each
    /// channel alone.
    #[test]
    fn matches_conv2d() {
        use crate::Conv2d;
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(7);
        let mut g = GroupConv2d::<3, 4, 1, 3, 3, 1, 2>::zeroed();
        g.init(Init::He, &mut rng);
        g.bias = [0.1, -0.2, 0.3, 0.4];
        let mut c = Conv2d::<3, 4, 3, 1, 2>::zeroed();
        c.as_flat_mut().copy_from_slice(g.as_flat());
        let x = [Tensor::<3, 9, 8>::from_fn(|c, i, j| ((c * 31 + i * 7 + j * 3) % 13) as f32 - 6.0); 2];
        let (mut yg, mut yc) = ([Tensor::<4, 5, 4>::zeroed(); 2], [Tensor::<4, 5, 4>::zeroed(); 2]);
        g.forward(&x, &mut yg, &mut Flat::zeroed(), &mut Mode::Infer);
        c.forward(&x, &mut yc, &mut Flat::zeroed(), &mut Mode::Infer);
        for (a, b) in yg.as_flat().iter().zip(yc.as_flat()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }

        let mut d = DepthwiseConv2d::<3, 3, 1>::zeroed();
        d.init(Init::He, &mut rng);
        let mut y = [Tensor::<3, 9, 8>::zeroed(); 2];
        d.forward(&x, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
        for ch in 0..3 {
            let mut one = Conv2d::<1, 1, 3, 1>::zeroed();
            one.weight[0] = d.weight[ch];
            one.bias[0] = d.bias[ch];
            let xs = [Tensor::<1, 9, 8>::from_array([x[1].0[ch]])];
            let mut ys = [Tensor::<1, 9, 8>::zeroed()];
            one.forward(&xs, &mut ys, &mut Flat::zeroed(), &mut Mode::Infer);
            for (a, b) in y[1].0[ch].iter().flatten().zip(ys[0].0[0].iter().flatten()) {
                assert!((a - b).abs() < 1e-4, "channel {ch}: {a} vs {b}");
            }
        }
    }
}
