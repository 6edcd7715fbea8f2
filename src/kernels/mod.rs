//! The fast kernels behind the layers, as a leaf module: it uses nothing
//! from the rest of the crate.
//!
//! - `isa.rs` chooses the backend once per process ([`Isa`], `CONSTNET_ISA`,
//!   [`set_isa`]).
//! - `desc` describes operands without pointers: convolution geometry,
//!   batches, padding slack, pooling routes, optimizer constants.
//! - This file holds one safe entry point per fast operation. Each checks
//!   its slices against its descriptors (a violation is the caller's bug:
//!   it panics), then runs the chosen backend, or returns `false` having
//!   done nothing, and the caller runs its reference loop. With
//!   [`Isa::Reference`] every entry point that returns a `bool` or an
//!   `Option` declines, so the layers run their reference loops (an empty
//!   operation, such as a transpose of no columns, counts as done on every
//!   backend).
//! - One folder per backend (`avx512/`, `avx2/`, `neon/`), split by op family, with
//!   one file of vector helpers. `#[target_feature]` and raw pointers live
//!   only there, in `portable.rs` and in `generic/`: the register-tiled
//!   kernels written once over the vector width (the [`compute::Compute`]
//!   trait), which AVX2, NEON and the portable backend instantiate with
//!   their tiles (`avx2/kernels.rs`, `neon/kernels.rs`, `portable.rs`,
//!   each one `generic::instance::instance!`); AVX-512 keeps its
//!   hand-written files.
//! - `simd.rs` is the crate's own SIMD vocabulary (the [`simd::Simd`]
//!   trait, with a portable implementation on `[f32; N]`), and `vmath.rs`
//!   the vector math written once over it (`exp`, `tanh`, the sigmoid),
//!   which every backend runs, [`Isa::Reference`] included:
//!   [`Kernels::math_map`] never declines, nor do the 2x2 average pooling
//!   entry points (`avgpool.rs`, written over the same trait).
//!
//! # Adding a backend
//! A new backend touches this folder only: an [`Isa`] variant with its
//! detection (`isa.rs`), a folder with its kernels (an instance of the
//! generic ones, with its tiles, and a transpose), and its arm in
//! `dispatch!` and in [`Kernels::conv_pools`] (a hand-written backend, as
//! AVX-512, an arm in each entry point instead). The conformance tests
//! (`conformance.rs`) then run it against the reference loops.
#![allow(clippy::too_many_arguments)]

pub(crate) mod act;
pub(crate) mod avgpool;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod compute;
#[cfg(test)]
mod conformance;
pub(crate) mod depthwise;
mod desc;
pub(crate) mod generic;
mod isa;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod portable;
pub(crate) mod simd;
pub(crate) mod vmath;

pub(crate) use desc::*;

/// A `match` on the backend: AVX-512's arm (`avx512 => …`), one arm for
/// each backend that runs an instance of the generic kernels (AVX2, NEON,
/// portable: `k => …`, with `k` naming that backend's kernels module), and
/// the reference backend's, which declines (`reference => …`). Every arm
/// but AVX-512's holds the same code, so this writes it once.
macro_rules! dispatch {
    ($isa:expr, avx512 => $avx512:expr, $k:ident => $tiled:expr, reference => $reference:expr $(,)?) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => $avx512,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                use avx2::kernels as $k;
                $tiled
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                use neon::kernels as $k;
                $tiled
            }
            Isa::Portable => {
                use portable as $k;
                $tiled
            }
            _ => $reference,
        }
    };
}
#[cfg(test)]
pub(crate) use isa::ALL as ALL_ISAS;
pub use isa::{Isa, IsaError, isa, set_isa};

/// A backend the kernels can run on this CPU: [`active`]'s, or, for the
/// conformance tests, any supported one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kernels(Isa);

/// The kernels of this process's ISA ([`isa()`](isa())).
#[inline(always)]
pub(crate) fn active() -> Kernels {
    Kernels(isa())
}

/// Every backend with fast kernels this CPU runs (for tests that hold
/// each one against the reference loops, whatever [`isa`] chose).
#[cfg(test)]
pub(crate) fn fast_backends() -> impl Iterator<Item = Kernels> {
    ALL_ISAS.into_iter().filter_map(Kernels::of).filter(|k| k.is_fast())
}

/// A size computed from a caller's descriptors, saturating at
/// `usize::MAX`: a product that would overflow (and wrap, in a release
/// build, to a small size that passes a check) stays larger than any slice.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
struct Size(usize);

impl core::ops::Mul<usize> for Size {
    type Output = Size;
    #[inline(always)]
    fn mul(self, b: usize) -> Size {
        Size(self.0.saturating_mul(b))
    }
}

impl core::ops::Mul<Size> for Size {
    type Output = Size;
    #[inline(always)]
    fn mul(self, b: Size) -> Size {
        self * b.0
    }
}

impl core::ops::Add<usize> for Size {
    type Output = Size;
    #[inline(always)]
    fn add(self, b: usize) -> Size {
        Size(self.0.saturating_add(b))
    }
}

impl core::ops::Add<Size> for Size {
    type Output = Size;
    #[inline(always)]
    fn add(self, b: Size) -> Size {
        self + b.0
    }
}

/// `need <= have`, or a panic naming the operation and the buffer.
#[inline(always)]
#[track_caller]
fn check(op: &str, what: &str, need: Size, have: usize) {
    assert!(need.0 <= have, "kernels::{op}: {what} holds {have} floats, needs {}", need.0);
}

/// Floats a buffer of `n` blocks `stride` apart, each `last` long, spans
/// (`0` for `n == 0`), saturating.
#[inline(always)]
fn span(n: usize, stride: usize, last: impl Into<Size>) -> Size {
    if n == 0 { Size(0) } else { Size(n - 1) * stride + last.into() }
}

impl From<usize> for Size {
    #[inline(always)]
    fn from(n: usize) -> Size {
        Size(n)
    }
}

impl Kernels {
    /// The kernels of `isa`, if this CPU runs it.
    #[cfg(test)]
    #[inline(always)]
    pub(crate) fn of(isa: Isa) -> Option<Kernels> {
        isa.is_supported().then_some(Kernels(isa))
    }

    /// Whether this backend has the fast kernels of the layers (every
    /// entry point that may decline runs on it, except where its doc says
    /// so): every backend but [`Isa::Reference`], on which they all
    /// decline; only the vector math ([`math_map`](Self::math_map)) runs
    /// everywhere.
    #[inline(always)]
    pub(crate) fn is_fast(self) -> bool {
        self.0 != Isa::Reference
    }

    /// The ISA these kernels run on.
    #[inline(always)]
    pub(crate) fn isa(self) -> Isa {
        self.0
    }

    // ---- vector math -------------------------------------------------------

    /// `y[i] = f(x[i])` over `x.len()` floats, by `vmath`'s approximations:
    /// the same bits on every backend (the portable one runs the same
    /// operations on `[f32; 8]`, as does the reference one). Never declines.
    ///
    /// # Panics
    /// If `y` is shorter than `x`.
    #[inline]
    pub(crate) fn math_map(self, f: MathFn, x: &[f32], y: &mut [f32]) {
        check("math_map", "y", Size(x.len()), y.len());
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 supported (`Kernels` is built for supported ISAs only).
            Isa::Avx512 => unsafe { avx512::simd::math_map(f, x, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX2 and FMA supported.
            Isa::Avx2 => unsafe { avx2::simd::math_map(f, x, y) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON supported.
            Isa::Neon => unsafe { neon::simd::math_map(f, x, y) },
            _ => vmath::map(simd::Portable::default(), f, x, y),
        }
    }

    /// `y[i] = act(x[i])` over `x.len()` floats ([`act`]): the same bits
    /// on every backend. Never declines.
    ///
    /// # Panics
    /// If `y` is shorter than `x`.
    #[inline]
    pub(crate) fn act_forward(self, act: act::Act, x: &[f32], y: &mut [f32]) {
        check("act_forward", "y", Size(x.len()), y.len());
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 supported (`Kernels` is built for supported ISAs only).
            Isa::Avx512 => unsafe { avx512::simd::act_map(act, x, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX2 and FMA supported.
            Isa::Avx2 => unsafe { avx2::simd::act_map(act, x, y) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON supported.
            Isa::Neon => unsafe { neon::simd::act_map(act, x, y) },
            _ => act::map(simd::Portable::default(), act, x, y),
        }
    }

    /// `dx[i] = dy[i] · act'(x[i])` over `x.len()` floats ([`act`]): the
    /// same bits on every backend. Never declines.
    ///
    /// # Panics
    /// If `dy` or `dx` is shorter than `x`.
    #[inline]
    pub(crate) fn act_backward(self, act: act::Act, x: &[f32], dy: &[f32], dx: &mut [f32]) {
        check("act_backward", "dy", Size(x.len()), dy.len());
        check("act_backward", "dx", Size(x.len()), dx.len());
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 supported.
            Isa::Avx512 => unsafe { avx512::simd::act_map_grad(act, x, dy, dx) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX2 and FMA supported.
            Isa::Avx2 => unsafe { avx2::simd::act_map_grad(act, x, dy, dx) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON supported.
            Isa::Neon => unsafe { neon::simd::act_map_grad(act, x, dy, dx) },
            _ => act::map_grad(simd::Portable::default(), act, x, dy, dx),
        }
    }

    // ---- element-wise ----------------------------------------------------

    /// `dst` = `c` planes of `h x w` from `src` with `p` zeros on every
    /// side (rows of `w + 2p`), then [`SLACK`] zeros.
    #[inline(always)]
    pub(crate) fn pad_planes(self, src: &[f32], c: usize, h: usize, w: usize, p: usize, dst: &mut [f32]) -> bool {
        check("pad_planes", "src", Size(c) * h * w, src.len());
        check("pad_planes", "dst", Size(c) * (Size(h) + Size(p) * 2) * (Size(w) + Size(p) * 2) + SLACK, dst.len());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features (`Kernels` is
            // built for supported ISAs only); lengths checked.
            avx512 => unsafe { avx512::elementwise::pad_planes(src.as_ptr(), c, h, w, p, dst.as_mut_ptr(), SLACK) },
            k => unsafe { k::pad_planes(src.as_ptr(), (c, h, w, p), dst.as_mut_ptr(), SLACK) },
            reference => return false,
        );
        true
    }

    /// `y = max(x, 0)` (NaN gives 0) over `min(x.len(), y.len())` floats.
    #[inline(always)]
    pub(crate) fn relu_forward(self, x: &[f32], y: &mut [f32]) -> bool {
        let n = x.len().min(y.len());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; both hold n floats.
            avx512 => unsafe { avx512::elementwise::relu_forward(x.as_ptr(), y.as_mut_ptr(), n) },
            k => unsafe { k::relu_forward(x.as_ptr(), y.as_mut_ptr(), n) },
            reference => return false,
        );
        true
    }

    /// `dx = dy` where `y > 0`, else `0`, over `dx.len()` floats.
    #[inline(always)]
    pub(crate) fn relu_backward(self, y: &[f32], dy: &[f32], dx: &mut [f32]) -> bool {
        let n = dx.len();
        check("relu_backward", "y", Size(n), y.len());
        check("relu_backward", "dy", Size(n), dy.len());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; the three hold n floats.
            avx512 => unsafe { avx512::elementwise::relu_backward(y.as_ptr(), dy.as_ptr(), dx.as_mut_ptr(), n) },
            k => unsafe { k::relu_backward(y.as_ptr(), dy.as_ptr(), dx.as_mut_ptr(), n) },
            reference => return false,
        );
        true
    }

    /// The lane sums of up to four planes `len` floats apart: `out[p][l] =
    /// Σ_k x[p·len + 16k + l]` over the first `full` floats (a multiple of
    /// 16) of plane `p < np`, one accumulator per lane, in `math::sum`'s
    /// order; `None` where the backend has no such kernel.
    #[inline(always)]
    pub(crate) fn lane_sums4(self, x: &[f32], len: usize, np: usize, full: usize) -> Option<[[f32; 16]; 4]> {
        assert!(np <= 4 && full.is_multiple_of(16) && full <= len, "kernels::lane_sums4: {np} planes, {full} of {len}");
        check("lane_sums4", "x", span(np, len, full), x.len());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; planes 0..np
            // hold `full` floats (checked).
            avx512 => Some(unsafe { avx512::elementwise::lane_sums4(x.as_ptr(), len, np, full) }),
            k => Some(unsafe { k::lane_sums4(x.as_ptr(), len, np, full) }),
            reference => None,
        )
    }

    /// Whether every float of `x` is a number of magnitude at most `limit`
    /// (`|x[i]| <= limit`, false for NaN, for every `i`; a NaN or negative
    /// `limit` holds for none), the
    /// training step's divergence check; `None` where the backend has no
    /// such kernel.
    #[inline(always)]
    pub(crate) fn all_within(self, x: &[f32], limit: f32) -> Option<bool> {
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; x holds x.len() floats.
            avx512 => Some(unsafe { avx512::elementwise::all_within(x.as_ptr(), x.len(), limit) }),
            k => Some(unsafe { k::all_within(x.as_ptr(), x.len(), limit) }),
            reference => None,
        )
    }

    // ---- optimizer updates -----------------------------------------------

    /// One SGD update, the bits of `optim::Sgd`'s loops: without a velocity
    /// `p = p + (-lr)·g`; with one `v = mu·v + g`, `p = p - lr·v`.
    #[inline(always)]
    pub(crate) fn sgd_update(self, p: &mut [f32], g: &[f32], v: Option<&mut [f32]>, lr: f32, mu: f32) -> bool {
        let n = p.len();
        check("sgd_update", "g", Size(n), g.len());
        if let Some(v) = &v {
            check("sgd_update", "v", Size(n), v.len());
        }
        let v = v.map(|v| v.as_mut_ptr());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; every slice holds n floats.
            avx512 => unsafe { avx512::optim::sgd_update(p.as_mut_ptr(), g.as_ptr(), v, n, lr, mu) },
            k => unsafe { k::sgd_update((p.as_mut_ptr(), g.as_ptr(), v), n, lr, mu) },
            reference => return false,
        );
        true
    }

    /// One Adam update, the bits of `optim::Adam`'s loop.
    #[inline(always)]
    pub(crate) fn adam_update(self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamConsts) -> bool {
        let n = p.len();
        check("adam_update", "g", Size(n), g.len());
        check("adam_update", "m", Size(n), m.len());
        check("adam_update", "v", Size(n), v.len());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; every slice holds n floats.
            avx512 => unsafe {
                avx512::optim::adam_update(p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), n, k)
            },
            t => unsafe { t::adam_update((p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr()), n, k) },
            reference => return false,
        );
        true
    }

    // ---- pooling ------------------------------------------------------------

    /// 2x2 average pooling (stride 2, ceil mode) of `planes` planes of
    /// `h x w` into `ceil(h/2) x ceil(w/2)`: each window's mean over the
    /// inputs it covers, the bits of `AvgPool2d<2>`'s reference loop, on
    /// every backend (the portable and reference ones on `[f32; 8]`). Never declines.
    #[inline]
    pub(crate) fn avgpool2_forward(self, planes: usize, (h, w): (usize, usize), x: &[f32], y: &mut [f32]) {
        check("avgpool2_forward", "x", Size(planes) * h * w, x.len());
        check("avgpool2_forward", "y", Size(planes) * h.div_ceil(2) * w.div_ceil(2), y.len());
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 supported.
            Isa::Avx512 => unsafe { avx512::simd::avgpool2_forward(planes, (h, w), x, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX2 and FMA supported.
            Isa::Avx2 => unsafe { avx2::simd::avgpool2_forward(planes, (h, w), x, y) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON supported.
            Isa::Neon => unsafe { neon::simd::avgpool2_forward(planes, (h, w), x, y) },
            _ => avgpool::forward(simd::Portable::default(), planes, (h, w), x, y),
        }
    }

    /// The backward pass of [`avgpool2_forward`](Self::avgpool2_forward):
    /// every input receives its window's gradient divided by the inputs the
    /// window covers (`dx` overwritten). Never declines.
    #[inline]
    pub(crate) fn avgpool2_backward(self, planes: usize, (h, w): (usize, usize), dy: &[f32], dx: &mut [f32]) {
        check("avgpool2_backward", "dy", Size(planes) * h.div_ceil(2) * w.div_ceil(2), dy.len());
        check("avgpool2_backward", "dx", Size(planes) * h * w, dx.len());
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 supported.
            Isa::Avx512 => unsafe { avx512::simd::avgpool2_backward(planes, (h, w), dy, dx) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX2 and FMA supported.
            Isa::Avx2 => unsafe { avx2::simd::avgpool2_backward(planes, (h, w), dy, dx) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON supported.
            Isa::Neon => unsafe { neon::simd::avgpool2_backward(planes, (h, w), dy, dx) },
            _ => avgpool::backward(simd::Portable::default(), planes, (h, w), dy, dx),
        }
    }

    // ---- depthwise 3x3 --------------------------------------------------------

    /// `y` = the depthwise 3x3 convolution (padding 1, stride 1 or 2) of
    /// `d.n` samples' padded planes `xp` with `w` (`c x 3 x 3`) plus `bias`
    /// (`depthwise.rs`): the reference loops' bits, on every backend (the
    /// portable one on `[f32; 8]`). Each sample's planes are followed by
    /// [`depthwise::READ_PAST`] readable floats. Never declines. The layers
    /// do not call it (it was not faster than the paths they run,
    /// docs/performance.md); the tests hold it to the reference loops.
    #[cfg_attr(not(test), allow(dead_code))]
    #[inline]
    pub(crate) fn depthwise3_forward(
        self,
        d: &depthwise::Depthwise3,
        w: &[f32],
        bias: Option<&[f32]>,
        xp: &[f32],
        y: &mut [f32],
    ) {
        let (oh, ow) = d.out();
        assert!(d.stride == 1 || d.stride == 2, "kernels::depthwise3_forward: stride {} is not 1 or 2", d.stride);
        assert!(d.x_sample >= d.c * d.padded_plane(), "kernels::depthwise3_forward: samples overlap");
        let sample = Size(d.c) * d.padded_plane() + depthwise::READ_PAST;
        check("depthwise3_forward", "xp", span(d.n, d.x_sample, sample), xp.len());
        check("depthwise3_forward", "w", Size(d.c) * 9, w.len());
        if let Some(bias) = bias {
            check("depthwise3_forward", "bias", Size(d.c), bias.len());
        }
        check("depthwise3_forward", "y", Size(d.n) * d.c * oh * ow, y.len());
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 supported.
            Isa::Avx512 => unsafe { depthwise::forward_avx512(d, w, bias, xp, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX2 and FMA supported.
            Isa::Avx2 => unsafe { depthwise::forward_avx2(d, w, bias, xp, y) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON supported.
            Isa::Neon => unsafe { depthwise::forward_neon(d, w, bias, xp, y) },
            _ => depthwise::forward(simd::Portable::default(), d, w, bias, xp, y),
        }
    }

    /// The backward pass of [`depthwise3_forward`](Self::depthwise3_forward):
    /// adds the weight gradient into `dw` and the bias gradient into `db`,
    /// and overwrites `dx` (the unpadded input's shape), each if given.
    /// Never declines.
    #[inline]
    pub(crate) fn depthwise3_backward(
        self,
        d: &depthwise::Depthwise3,
        w: &[f32],
        xp: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
        dw: Option<&mut [f32]>,
        db: Option<&mut [f32]>,
    ) {
        let (oh, ow) = d.out();
        assert!(d.stride == 1 || d.stride == 2, "kernels::depthwise3_backward: stride {} is not 1 or 2", d.stride);
        assert!(d.x_sample >= d.c * d.padded_plane(), "kernels::depthwise3_backward: samples overlap");
        let sample = Size(d.c) * d.padded_plane() + depthwise::READ_PAST;
        check("depthwise3_backward", "xp", span(d.n, d.x_sample, sample), xp.len());
        check("depthwise3_backward", "w", Size(d.c) * 9, w.len());
        check("depthwise3_backward", "dy", Size(d.n) * d.c * oh * ow, dy.len());
        if let Some(dw) = dw.as_deref() {
            check("depthwise3_backward", "dw", Size(d.c) * 9, dw.len());
        }
        if let Some(dx) = dx.as_deref() {
            check("depthwise3_backward", "dx", Size(d.n) * d.c * d.h * d.w, dx.len());
        }
        if let Some(db) = db.as_deref() {
            check("depthwise3_backward", "db", Size(d.c), db.len());
        }
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 supported.
            Isa::Avx512 => unsafe { depthwise::backward_avx512(d, w, xp, dy, dx, dw, db) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX2 and FMA supported.
            Isa::Avx2 => unsafe { depthwise::backward_avx2(d, w, xp, dy, dx, dw, db) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON supported.
            Isa::Neon => unsafe { depthwise::backward_neon(d, w, xp, dy, dx, dw, db) },
            _ => depthwise::backward(simd::Portable::default(), d, w, xp, dy, dx, dw, db),
        }
    }

    /// 2x2 max-pooling (stride 2, ceil mode) of `planes` planes of `h x w`
    /// into `ceil(h/2) x ceil(w/2)`, after a fused ReLU if `relu` says so.
    #[inline(always)]
    pub(crate) fn maxpool2_forward(
        self,
        planes: usize,
        (h, w): (usize, usize),
        x: &[f32],
        relu: PoolRelu,
        y: &mut [f32],
    ) -> bool {
        check("maxpool2_forward", "x", Size(planes) * h * w, x.len());
        check("maxpool2_forward", "y", Size(planes) * h.div_ceil(2) * w.div_ceil(2), y.len());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; lengths checked.
            avx512 => unsafe {
                avx512::pool::maxpool2_forward(planes, h, w, x.as_ptr(), avx512_pool_relu(relu), y.as_mut_ptr())
            },
            k => unsafe { k::maxpool2_forward((planes, h, w), x.as_ptr(), matches!(relu, PoolRelu::Apply), y.as_mut_ptr()) },
            reference => return false,
        );
        true
    }

    /// The backward pass of [`maxpool2_forward`](Self::maxpool2_forward):
    /// each window's gradient to the first input equal to its maximum
    /// (row-major), zero elsewhere; through the fused ReLU if `relu` says so.
    #[inline(always)]
    pub(crate) fn maxpool2_backward(
        self,
        planes: usize,
        (h, w): (usize, usize),
        (x, y): (&[f32], &[f32]),
        dy: &[f32],
        dx: &mut [f32],
        relu: PoolRelu,
    ) -> bool {
        let pooled = Size(planes) * h.div_ceil(2) * w.div_ceil(2);
        check("maxpool2_backward", "x", Size(planes) * h * w, x.len());
        check("maxpool2_backward", "dx", Size(planes) * h * w, dx.len());
        check("maxpool2_backward", "y", pooled, y.len());
        check("maxpool2_backward", "dy", pooled, dy.len());
        let (xp, yp, dyp, dxp) = (x.as_ptr(), y.as_ptr(), dy.as_ptr(), dx.as_mut_ptr());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; lengths checked.
            avx512 => unsafe {
                avx512::pool::maxpool2_backward(planes, h, w, xp, yp, dyp, dxp, avx512_pool_relu(relu))
            },
            k => unsafe { k::maxpool2_backward((planes, h, w), (xp, yp, dyp), dxp, matches!(relu, PoolRelu::Apply)) },
            reference => return false,
        );
        true
    }

    /// The backward pass of a ReLU and a 2x2 max-pool from the [`Route`]s a
    /// pooling convolution ([`conv_relu_pool`](Self::conv_relu_pool))
    /// stored: `per_sample` planes a sample, sample `s`'s records from
    /// float `s * r_sample` of `routes`, each plane's `ceil(h/2)` in a row.
    #[inline(always)]
    pub(crate) fn maxpool2_backward_routes(
        self,
        planes: usize,
        (h, w): (usize, usize),
        (routes, per_sample, r_sample): (&[f32], usize, usize),
        dy: &[f32],
        dx: &mut [f32],
    ) -> bool {
        assert!(per_sample > 0 && planes.is_multiple_of(per_sample), "kernels: {planes} planes of {per_sample}");
        assert!(w <= 32, "kernels::maxpool2_backward_routes: rows of {w} > 32");
        let record_floats = ROUTE_BYTES / size_of::<f32>();
        let per_record = span((Size(per_sample) * h.div_ceil(2)).0, record_floats, record_floats);
        check("maxpool2_backward_routes", "routes", span(planes / per_sample, r_sample, per_record), routes.len());
        check("maxpool2_backward_routes", "dy", Size(planes) * h.div_ceil(2) * w.div_ceil(2), dy.len());
        check("maxpool2_backward_routes", "dx", Size(planes) * h * w, dx.len());
        let routes = (routes.as_ptr().cast::<u8>(), per_sample, r_sample * size_of::<f32>());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; lengths
            // checked; rows of at most 32.
            avx512 => unsafe {
                avx512::pool::maxpool2_backward_routes(planes, h, w, routes, dy.as_ptr(), dx.as_mut_ptr())
            },
            k => unsafe { k::maxpool2_backward_routes((planes, h, w), routes, dy.as_ptr(), dx.as_mut_ptr()) },
            reference => return false,
        );
        true
    }

    // ---- dense products -----------------------------------------------------

    /// `y[s][o] = bias[o] + Σ_i x[s][i] · w[o][i]` for `n` samples: a dense
    /// layer's forward pass over a batch (row-major `x`, `w`, `y`).
    #[inline(always)]
    pub(crate) fn dense_forward(
        self,
        (n, n_in, n_out): (usize, usize, usize),
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) -> bool {
        check_dense("dense_forward", (n, n_in, n_out), x, w, bias, y);
        let bias = bias.map(|b| b.as_ptr());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; lengths checked.
            avx512 => unsafe {
                avx512::dense::dense_forward(n, n_in, n_out, x.as_ptr(), w.as_ptr(), bias, y.as_mut_ptr())
            },
            k => unsafe { k::dense_forward((n, n_in, n_out), x.as_ptr(), w.as_ptr(), bias, y.as_mut_ptr()) },
            reference => return false,
        );
        true
    }

    /// [`dense_forward`](Self::dense_forward) of `n >= 16` samples whose
    /// inputs were transposed into `xt` (`n_in x n`, samples contiguous).
    #[inline(always)]
    pub(crate) fn dense_forward_packed(
        self,
        (n, n_in, n_out): (usize, usize, usize),
        xt: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) -> bool {
        assert!(n >= 16, "kernels::dense_forward_packed: {n} samples < 16");
        check_dense("dense_forward_packed", (n, n_in, n_out), xt, w, bias, y);
        let bias = bias.map(|b| b.as_ptr());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; lengths checked.
            avx512 => unsafe {
                avx512::dense::dense_forward_packed(n, n_in, n_out, xt.as_ptr(), w.as_ptr(), bias, y.as_mut_ptr())
            },
            k => unsafe { k::dense_forward_packed((n, n_in, n_out), xt.as_ptr(), w.as_ptr(), bias, y.as_mut_ptr()) },
            reference => return false,
        );
        true
    }

    /// `dst[p·dst_p + k] = src[k·src_k + p]` for `k < 16`, `p < n`: 16
    /// planes transposed to channels-last.
    #[inline(always)]
    pub(crate) fn transpose16(self, src: &[f32], src_k: usize, n: usize, dst: &mut [f32], dst_p: usize) -> bool {
        if n == 0 {
            return true;
        }
        check("transpose16", "src", span(16, src_k, n), src.len());
        check("transpose16", "dst", span(n, dst_p, 16), dst.len());
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; lengths checked.
            avx512 => unsafe { avx512::dense::transpose16(src.as_ptr(), src_k, n, dst.as_mut_ptr(), dst_p) },
            k => unsafe { k::transpose16(src.as_ptr(), src_k, n, dst.as_mut_ptr(), dst_p) },
            reference => return false,
        );
        true
    }

    /// `c[r·c_r + i] (+)= Σ_{(a, b) in parts} Σ_{k<kdim} a[r·a_r + k·a_k] ·
    /// b[k·b_k + i]` for `r < rows`, `i < cols`: a dense layer's weight
    /// gradient (`r` = output, `k` = sample) and input gradient (`r` =
    /// sample, `k` = output), the parts (a batch held in several buffers)
    /// summed in order. `accumulate` adds into `c`, else overwrites it;
    /// `rows_outer` picks the loop order.
    #[inline(always)]
    pub(crate) fn bcast_gemm(
        self,
        (rows, cols, kdim): (usize, usize, usize),
        parts: &[(&[f32], &[f32])],
        (a_r, a_k, b_k): (usize, usize, usize),
        c: &mut [f32],
        c_r: usize,
        accumulate: bool,
        rows_outer: bool,
    ) -> bool {
        assert!((1..=MAX_PARTS).contains(&parts.len()), "kernels::bcast_gemm: {} parts", parts.len());
        if rows == 0 || cols == 0 {
            return true;
        }
        for (a, b) in parts {
            check("bcast_gemm", "a", span(rows, a_r, 1) + span(kdim, a_k, 1).0.saturating_sub(1), a.len());
            check("bcast_gemm", "b", span(kdim, b_k, cols), b.len());
        }
        check("bcast_gemm", "c", span(rows, c_r, cols), c.len());
        let mut raw = [(core::ptr::null(), core::ptr::null()); MAX_PARTS];
        for (r, (a, b)) in raw.iter_mut().zip(parts) {
            *r = (a.as_ptr(), b.as_ptr());
        }
        let raw = &raw[..parts.len()];
        dispatch!(self.0,
            // SAFETY (both arms): the backend's CPU features; every part's
            // extents and c's checked.
            avx512 => unsafe {
                avx512::dense::bcast_gemm_parts(
                    rows, cols, kdim, raw, a_r, a_k, b_k, c.as_mut_ptr(), c_r, accumulate, rows_outer,
                )
            },
            k => unsafe {
                let (dims, strides) = ((rows, cols, kdim), (a_r, a_k, b_k));
                k::bcast_gemm(dims, raw, strides, (c.as_mut_ptr(), c_r), accumulate, rows_outer)
            },
            reference => return false,
        );
        true
    }

    // ---- convolution ----------------------------------------------------

    /// Whether [`conv_relu_pool`](Self::conv_relu_pool) runs this
    /// convolution (with `routes`: and stores the routes in its outputs).
    #[inline(always)]
    pub(crate) fn conv_pools(
        self,
        g: &ConvGeom,
        out_c: usize,
        (oh, ow): (usize, usize),
        start: &Start,
        routes: bool,
    ) -> bool {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // AVX2 pools the shapes AVX-512 pools (its tiles take rows of
            // up to 32 outputs and channels in pairs; the shapes AVX-512
            // leaves to its channels-last tiles run unpooled there).
            Isa::Avx512 | Isa::Avx2 => {
                use avx512::conv::{cl_pays, conv_pool_applies};
                conv_pool_applies(g, out_c, ow, start)
                    && (!routes || routes_fit(oh, ow))
                    && !cl_pays(g, out_c, ow, start)
            }
            // NEON's and the portable tiles take rows of up to 32 outputs
            // (8 vectors of 4 lanes). They have no channels-last tiles, so
            // no shape is left to them.
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => generic_pools(4, g, out_c, (oh, ow), start, routes),
            Isa::Portable => generic_pools(<portable::Lanes4 as simd::Simd>::LANES, g, out_c, (oh, ow), start, routes),
            _ => false,
        }
    }

    /// A stride-1 convolution of a batch: `y[b][o][i][j] = start[o] +
    /// Σ_{c,m,n} w[w0 + o·w_out + c·w_in + m·w_m + n·w_n] ·
    /// x[b·x_sample + c·x_plane + (i+m)·x_row + j + n]` for `o < out_c`,
    /// stored at `y[b·y_sample + o·y_plane + i·ow + j]` (as `max(·, 0)` with
    /// `batch.relu`); each padded input followed by [`SLACK`] floats.
    #[inline(always)]
    pub(crate) fn conv_forward(
        self,
        g: &ConvGeom,
        (w, w0): (&[f32], usize),
        out_c: usize,
        batch: &ConvBatch,
        x: &[f32],
        y: &mut [f32],
        start: Start,
    ) -> bool {
        check_conv("conv_forward", g, (w, w0), out_c, batch, x, y.len(), &start);
        dispatch!(self.0,
            avx512 => {
                use avx512::conv::{cl_pays, conv_batch, conv_cl_batch};
                let raw = avx512::RawGeom::new(g, w.as_ptr().wrapping_add(w0));
                let rb = avx512::RawBatch::new(batch, x.as_ptr(), y.as_mut_ptr());
                let cl = cl_pays(g, out_c, batch.ow, &start);
                // SAFETY: AVX-512 supported; every weight, input (with its
                // slack) and output extent checked by `check_conv`;
                // `cl_pays` checked the channels-last shape.
                unsafe {
                    if cl {
                        conv_cl_batch(&raw, out_c, &rb, avx512::RawStart::new(&start))
                    } else {
                        conv_batch(&raw, out_c, &rb, avx512::RawStart::new(&start))
                    }
                }
            },
            k => {
                let raw = generic::RawGeom::new(g, w.as_ptr().wrapping_add(w0));
                let rb = generic::RawBatch::new(batch, x.as_ptr(), y.as_mut_ptr());
                // SAFETY: the backend's CPU features; every weight, input
                // (with its slack) and output extent checked by `check_conv`.
                unsafe { k::conv_batch(&raw, out_c, &rb, generic::RawStart::new(&start)) }
            },
            reference => return false,
        );
        true
    }

    /// [`conv_forward`](Self::conv_forward), then a ReLU and a 2x2 max-pool
    /// (stride 2, ceil mode) in the same tiles, where
    /// [`conv_pools`](Self::conv_pools) says so: the outputs are not stored;
    /// the pooled planes go to `pooled` (`p_sample` floats between samples)
    /// with the bits of [`maxpool2_forward`](Self::maxpool2_forward) after
    /// a ReLU; with `routes`, each sample's output memory receives the
    /// pooling's [`Route`]s instead (for
    /// [`maxpool2_backward_routes`](Self::maxpool2_backward_routes)).
    #[inline(always)]
    pub(crate) fn conv_relu_pool(
        self,
        g: &ConvGeom,
        (w, w0): (&[f32], usize),
        out_c: usize,
        batch: &ConvBatch,
        (x, y): (&[f32], &mut [f32]),
        start: Start,
        (pooled, p_sample): (&mut [f32], usize),
        routes: bool,
    ) -> bool {
        if !self.conv_pools(g, out_c, (batch.oh, batch.ow), &start, routes) {
            return false;
        }
        check_conv("conv_relu_pool", g, (w, w0), out_c, batch, x, y.len(), &start);
        let per_sample = Size(out_c) * batch.oh.div_ceil(2) * batch.ow.div_ceil(2);
        check("conv_relu_pool", "pooled", span(batch.n, p_sample, per_sample), pooled.len());
        dispatch!(self.0,
            avx512 => {
                let raw = avx512::RawGeom::new(g, w.as_ptr().wrapping_add(w0));
                let rb = avx512::RawBatch::new(batch, x.as_ptr(), y.as_mut_ptr());
                let start = avx512::RawStart::new(&start);
                // SAFETY: AVX-512 supported; `conv_pools` checked the shape
                // (and that the routes fit the outputs), `check_conv` the
                // extents, and the pooled planes are checked above.
                unsafe {
                    avx512::conv::conv_pool_batch(&raw, out_c, &rb, start, pooled.as_mut_ptr(), p_sample, routes)
                }
            },
            k => {
                let raw = generic::RawGeom::new(g, w.as_ptr().wrapping_add(w0));
                let rb = generic::RawBatch::new(batch, x.as_ptr(), y.as_mut_ptr());
                let start = generic::RawStart::new(&start);
                // SAFETY: the backend's CPU features; `conv_pools` checked
                // the shape (and that the routes fit the outputs),
                // `check_conv` the extents, and the pooled planes are
                // checked above.
                unsafe { k::conv_pool_batch(&raw, out_c, &rb, start, (pooled.as_mut_ptr(), p_sample), routes) }
            },
            reference => return false,
        );
        true
    }

    /// Adds the weight gradient of a stride-1 convolution over a batch into
    /// `dw` (`[out_c][in_c][k][k]`): `dw[o][c][m][n] += Σ_{b,i,j}
    /// dy[b·y_sample + o·y_plane + i·ow + j] · x[b·x_sample + c·x_plane +
    /// (i+m)·x_row + j + n]` (the geometry's weight strides unused; the
    /// output-gradient planes lie `oh·ow` apart: `y_plane == oh·ow`).
    #[inline(always)]
    pub(crate) fn conv_weight_grad(
        self,
        g: &ConvGeom,
        out_c: usize,
        batch: &ConvBatch,
        x: &[f32],
        dy: &[f32],
        dw: &mut [f32],
    ) -> bool {
        assert_eq!(
            g.y_plane,
            batch.oh * batch.ow,
            "kernels::conv_weight_grad: output-gradient planes must lie oh x ow apart"
        );
        check_conv_io("conv_weight_grad", g, out_c, batch, x, dy.len());
        check("conv_weight_grad", "dw", Size(out_c) * g.in_c * g.k * g.k, dw.len());
        dispatch!(self.0,
            avx512 => {
                let raw = avx512::RawGeom::new(g, core::ptr::null());
                let rb = avx512::RawBatch::new(batch, x.as_ptr(), dy.as_ptr().cast_mut());
                // SAFETY: AVX-512 supported; extents checked; the kernel reads
                // `rb.y` (the output gradient) and writes only `dw`; it
                // reads no weight.
                unsafe { avx512::conv_grad::conv_dw_batch(&raw, out_c, &rb, dw.as_mut_ptr()) }
            },
            k => {
                let raw = generic::RawGeom::new(g, core::ptr::null());
                let rb = generic::RawBatch::new(batch, x.as_ptr(), dy.as_ptr().cast_mut());
                // SAFETY: the backend's CPU features; extents checked; the
                // kernel reads `rb.y` (the output gradient) and writes only `dw`.
                unsafe { k::conv_dw_batch(&raw, out_c, &rb, dw.as_mut_ptr()) }
            },
            reference => return false,
        );
        true
    }

    /// Adds one sample's weight gradient for taps `taps` into `dwt`
    /// (`[tap - taps.start][out_c]`, transposed), from its padded input `x`
    /// and its output gradient in channels-last order, `dyt`
    /// (`[oh][ow][out_c]`); `out_c` a multiple of 16.
    #[inline(always)]
    pub(crate) fn conv_weight_grad_t(
        self,
        g: &ConvGeom,
        taps: core::ops::Range<usize>,
        x: &[f32],
        (oh, ow): (usize, usize),
        (dyt, out_c): (&[f32], usize),
        dwt: &mut [f32],
    ) -> bool {
        assert!(out_c.is_multiple_of(16), "kernels::conv_weight_grad_t: {out_c} channels");
        assert!(taps.start <= taps.end && taps.end <= g.in_c * g.k * g.k, "kernels::conv_weight_grad_t: taps {taps:?}");
        let one = ConvBatch { n: 1, x_sample: 0, y_sample: 0, oh, ow, relu: false };
        check_conv_io("conv_weight_grad_t", g, 0, &one, x, 0);
        check("conv_weight_grad_t", "dyt", Size(oh) * ow * out_c, dyt.len());
        check("conv_weight_grad_t", "dwt", Size(taps.len()) * out_c, dwt.len());
        let (x, dyt, dwt) = (x.as_ptr(), dyt.as_ptr(), dwt.as_mut_ptr());
        dispatch!(self.0,
            avx512 => {
                let raw = avx512::RawGeom::new(g, core::ptr::null());
                // SAFETY: AVX-512 supported; extents checked; no weight read.
                unsafe { avx512::conv_grad::conv_dw_t(&raw, taps, x, oh, ow, dyt, out_c, dwt) }
            },
            k => {
                let raw = generic::RawGeom::new(g, core::ptr::null());
                // SAFETY: the backend's CPU features; extents checked; no weight read.
                unsafe { k::conv_dw_t(&raw, taps, x, (oh, ow), (dyt, out_c), dwt) }
            },
            reference => return false,
        );
        true
    }
}

/// Whether the generic pooling convolution (`generic::conv::conv_pool_batch`)
/// on `lanes`-wide vectors takes this shape: rows of 1 to 8 vectors and at
/// most 32 outputs, a 3x3 or 5x5 kernel, output channels in pairs, no load
/// start, and the routes only where they fit the outputs.
#[inline(always)]
fn generic_pools(
    lanes: usize,
    g: &ConvGeom,
    out_c: usize,
    (oh, ow): (usize, usize),
    start: &Start,
    routes: bool,
) -> bool {
    (1..=(8 * lanes).min(32)).contains(&ow)
        && matches!(g.k, 3 | 5)
        && out_c.is_multiple_of(2)
        && !matches!(start, Start::Load)
        && (!routes || routes_fit(oh, ow))
}

/// The AVX-512 form of a fused ReLU.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx512_pool_relu(relu: PoolRelu) -> avx512::pool::RawPoolRelu {
    match relu {
        PoolRelu::Absent => avx512::pool::RawPoolRelu::Absent,
        PoolRelu::Apply => avx512::pool::RawPoolRelu::Apply,
    }
}

/// Checks a dense layer's batch: `x` (or its transpose) `n x n_in`, the
/// weights `n_out x n_in`, `y` `n x n_out`, the bias `n_out`.
#[track_caller]
#[inline(always)]
fn check_dense(
    op: &str,
    (n, n_in, n_out): (usize, usize, usize),
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &[f32],
) {
    check(op, "x", Size(n) * n_in, x.len());
    check(op, "w", Size(n_out) * n_in, w.len());
    check(op, "y", Size(n) * n_out, y.len());
    if let Some(b) = bias {
        check(op, "bias", Size(n_out), b.len());
    }
}

/// Checks a convolution's inputs and outputs: every padded input (with
/// [`SLACK`] after it) holds the rows and columns the outputs read, and `y`
/// (`y_len` floats) the outputs of `out_c` channels.
#[track_caller]
#[inline(always)]
fn check_conv_io(op: &str, g: &ConvGeom, out_c: usize, b: &ConvBatch, x: &[f32], y_len: usize) {
    assert!(g.k > 0 && b.oh > 0 && b.ow > 0, "kernels::{op}: empty geometry");
    assert!(
        Size(b.ow) + (g.k - 1) <= Size(g.x_row) && (Size(b.oh) + (g.k - 1)) * g.x_row <= Size(g.x_plane),
        "kernels::{op}: {} x {} outputs of a {}x{} kernel do not fit padded planes of {} rows of {}",
        b.oh,
        b.ow,
        g.k,
        g.k,
        g.x_plane / g.x_row.max(1),
        g.x_row
    );
    assert!(
        Size(b.oh) * b.ow <= Size(g.y_plane),
        "kernels::{op}: output planes of {} < {} x {}",
        g.y_plane,
        b.oh,
        b.ow
    );
    check(op, "x", span(b.n, b.x_sample, Size(g.in_c) * g.x_plane + SLACK), x.len());
    if out_c > 0 {
        check(op, "y", span(b.n, b.y_sample, span(out_c, g.y_plane, Size(b.oh) * b.ow)), y_len);
    }
}

/// [`check_conv_io`], and the weights (all the offsets the strides reach
/// from `w0`) and the bias.
#[track_caller]
#[inline(always)]
fn check_conv(
    op: &str,
    g: &ConvGeom,
    (w, w0): (&[f32], usize),
    out_c: usize,
    b: &ConvBatch,
    x: &[f32],
    y_len: usize,
    start: &Start,
) {
    assert!(out_c > 0 && g.in_c > 0, "kernels::{op}: no channels");
    check_conv_io(op, g, out_c, b, x, y_len);
    // In i128: four products of 64-bit values and their sum cannot overflow.
    let (mut lo, mut hi) = (w0 as i128, w0 as i128);
    for (n, stride) in [(out_c, g.w_out), (g.in_c, g.w_in), (g.k, g.w_m), (g.k, g.w_n)] {
        let reach = (n as i128 - 1) * stride as i128;
        lo += reach.min(0);
        hi += reach.max(0);
    }
    assert!(lo >= 0 && hi < w.len() as i128, "kernels::{op}: weights {lo}..={hi} outside 0..{}", w.len());
    if let Start::Bias(bias) = start {
        check(op, "bias", Size(out_c), bias.len());
    }
}
