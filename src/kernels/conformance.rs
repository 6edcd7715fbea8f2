//! Conformance: every entry point of [`Kernels`] on every backend this CPU
//! runs ([`fast_backends`]), held against reference loops written here from
//! the entry points' documented formulas (plain nested loops, sums in
//! `f64`), over the shapes the fast paths take, their edges, and shapes
//! they decline (the portable backend among them: its kernels are held to
//! the same loops); and [`Isa::Reference`], which declines everything.
//!
//! - Bits where the kernels promise bits: padding, ReLU forward and
//!   backward, the lane sums, the optimizer updates, 2x2 max-pooling
//!   forward and backward (also from a pooling convolution's routes), the
//!   transpose, and the pooled planes of a pooling convolution (against
//!   the same backend's [`Kernels::conv_forward`] outputs pooled here).
//! - A stated tolerance for the FMA reductions (dense products,
//!   convolutions, weight gradients): `|got - ref| <= 1e-5 · (1 + |ref|) ·
//!   sqrt(terms)`, `terms` the products summed (plus one for a start value).
//! - Every output slice is a window of a larger buffer of sentinels (a NaN
//!   no kernel computes): each float the formula does not name, inside the
//!   window or around it, must keep its bits.
//!
//! The inputs are a small linear congruential generator's, seeded per test.
//! Floats of a padded input that no formula reads (row and plane tails, the
//! slack) hold the sentinel NaN too, so a lane that leaks into a result shows.

use super::*;
use std::vec::Vec;
use std::{format, vec};

// ---- vocabulary ---------------------------------------------------------

/// The bits of the sentinel: a quiet NaN with a payload no arithmetic makes.
const SENTINEL: u32 = 0x7fc5_a5a5;

fn sentinel() -> f32 {
    f32::from_bits(SENTINEL)
}

/// [`super::span`] as a plain size (the tests' shapes never overflow).
fn span(n: usize, stride: usize, last: usize) -> usize {
    super::span(n, stride, last).0
}

/// The fast backends: the portable one, and this CPU's ISAs.
fn backends() -> Vec<Kernels> {
    fast_backends().collect()
}

/// Every backend this CPU runs, [`Isa::Reference`] first.
fn every_backend() -> Vec<Kernels> {
    ALL_ISAS.into_iter().filter_map(Kernels::of).collect()
}

/// Whether `k` is the AVX-512 backend (whose shape rules some checks assert).
fn is_avx512(k: Kernels) -> bool {
    k == Kernels(Isa::Avx512)
}

/// A linear congruential generator (Knuth's MMIX constants), 24 bits a draw.
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Lcg {
        Lcg(seed ^ 0x853c_49e6_748f_ea9b)
    }

    fn bits24(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 40) as u32
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.bits24() as usize % n
    }

    /// Uniform in [-1, 1), 24 bits.
    fn uniform(&mut self) -> f32 {
        self.bits24() as f32 / (1u32 << 23) as f32 - 1.0
    }

    /// One of -1.5, -1, ..., 1.5 (+0 among them, never -0): many ties.
    fn coarse(&mut self) -> f32 {
        (self.below(7) as f32 - 3.0) * 0.5
    }

    /// Mostly [`uniform`](Self::uniform), one in eight a special value
    /// (signed zeros, NaNs, infinities, subnormals, extremes).
    fn special(&mut self) -> f32 {
        const SPECIAL: [f32; 12] = [
            0.0,
            -0.0,
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-40,
            -1e-40,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            3.5,
        ];
        if self.below(8) == 0 {
            let v = SPECIAL[self.below(SPECIAL.len())];
            // A NaN with a payload of its own now and then (copies keep it).
            if v.is_nan() && self.below(2) == 0 { f32::from_bits(v.to_bits() ^ 0x1234) } else { v }
        } else {
            self.uniform()
        }
    }

    /// One of `xs`, uniformly (the secondary parameters of a case: drawn,
    /// so that they do not cycle in step with the loops' own).
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }

    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform()).collect()
    }

    fn vec_with(&mut self, n: usize, mut f: impl FnMut(&mut Lcg) -> f32) -> Vec<f32> {
        (0..n).map(|_| f(self)).collect()
    }
}

/// An output slice of `len` floats at `lo` inside a buffer of sentinels
/// ([`TAIL`] more after it).
struct Out {
    v: Vec<f32>,
    lo: usize,
    len: usize,
}

/// Sentinels after every [`Out`] window.
const TAIL: usize = 40;

impl Out {
    /// `len` sentinels at `lo`.
    fn new(len: usize, lo: usize) -> Out {
        Out { v: vec![sentinel(); lo + len + TAIL], lo, len }
    }

    /// A window holding `init`, at `lo`.
    fn with(init: &[f32], lo: usize) -> Out {
        let mut out = Out::new(init.len(), lo);
        out.m().copy_from_slice(init);
        out
    }

    fn s(&self) -> &[f32] {
        &self.v[self.lo..self.lo + self.len]
    }

    fn m(&mut self) -> &mut [f32] {
        let (lo, len) = (self.lo, self.len);
        &mut self.v[lo..lo + len]
    }

    /// The whole buffer, to compare with after a call.
    fn snapshot(&self) -> Vec<f32> {
        self.v.clone()
    }
}

/// What a float of an output window must hold after the call.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Its bits before the call (a float the formula does not name).
    Same,
    /// Anything (memory the operation may use, e.g. a pooling's routes).
    Any,
    /// These bits.
    Bits(f32),
    /// Within the tolerance of this reference, a sum of this many terms.
    Near(f64, usize),
}

/// The tolerance of a reduction of `terms` products near `v`.
fn tolerance(v: f64, terms: usize) -> f64 {
    1e-5 * (1.0 + v.abs()) * (terms.max(1) as f64).sqrt()
}

/// Checks every float of `out`'s buffer: `want` inside the window (one per
/// float), its bits of `before` outside it.
#[track_caller]
fn verify(ctx: &str, what: &str, out: &Out, before: &[f32], want: &[Want]) {
    assert_eq!(want.len(), out.len, "{ctx}: {what}: the expectations cover the window");
    for (i, (&got, &was)) in out.v.iter().zip(before).enumerate() {
        let at = i as isize - out.lo as isize;
        let w = if (out.lo..out.lo + out.len).contains(&i) { want[i - out.lo] } else { Want::Same };
        match w {
            Want::Same => assert!(
                got.to_bits() == was.to_bits(),
                "{ctx}: {what}[{at}] (window of {}) was written: {got:?} ({:#010x}), was {was:?} ({:#010x})",
                out.len,
                got.to_bits(),
                was.to_bits()
            ),
            Want::Any => {}
            Want::Bits(v) => assert!(
                got.to_bits() == v.to_bits(),
                "{ctx}: {what}[{at}] = {got:?} ({:#010x}), want the bits of {v:?} ({:#010x})",
                got.to_bits(),
                v.to_bits()
            ),
            Want::Near(v, terms) => {
                let (diff, tol) = ((got as f64 - v).abs(), tolerance(v, terms));
                assert!(
                    diff <= tol,
                    "{ctx}: {what}[{at}] = {got:e}, reference {v:e}: |diff| {diff:e} > tolerance {tol:e} ({terms} terms)"
                );
            }
        }
    }
}

/// Every float of `out` keeps its bits (a declined call).
#[track_caller]
fn untouched(ctx: &str, what: &str, out: &Out, before: &[f32]) {
    verify(ctx, what, out, before, &vec![Want::Same; out.len]);
}

/// Bits of every float.
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ---- reference loops ------------------------------------------------------

/// The ReLU of the kernels: `x` where `x > 0`, else +0 (NaN and -0 give +0).
fn relu_ref(x: f32) -> f32 {
    if x > 0.0 { x } else { 0.0 }
}

/// The ReLU's backward: `dy` where `y > 0`, else +0.
fn relu_back_ref(y: f32, dy: f32) -> f32 {
    if y > 0.0 { dy } else { 0.0 }
}

/// 2x2 max-pooling, stride 2, ceil mode (edge windows without their
/// missing rows and columns), of `max(x, 0)` with `relu`.
fn pool_ref(planes: usize, h: usize, w: usize, x: &[f32], relu: bool) -> Vec<f32> {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let mut y = vec![0.0; planes * oh * ow];
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = f32::NEG_INFINITY;
                for (r, c) in [(2 * oy, 2 * ox), (2 * oy, 2 * ox + 1), (2 * oy + 1, 2 * ox), (2 * oy + 1, 2 * ox + 1)] {
                    if r < h && c < w {
                        let v = x[p * h * w + r * w + c];
                        let v = if relu { relu_ref(v) } else { v };
                        if v > m {
                            m = v;
                        }
                    }
                }
                y[p * oh * ow + oy * ow + ox] = m;
            }
        }
    }
    y
}

/// The pooling's backward: each window's `dy` to its first input (row-major)
/// equal to its maximum `y`, +0 elsewhere.
fn pool_grad_ref(planes: usize, h: usize, w: usize, x: &[f32], y: &[f32], dy: &[f32]) -> Vec<f32> {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let mut dx = vec![0.0; planes * h * w];
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let o = p * oh * ow + oy * ow + ox;
                for (r, c) in [(2 * oy, 2 * ox), (2 * oy, 2 * ox + 1), (2 * oy + 1, 2 * ox), (2 * oy + 1, 2 * ox + 1)] {
                    if r < h && c < w && x[p * h * w + r * w + c] == y[o] {
                        dx[p * h * w + r * w + c] = dy[o];
                        break;
                    }
                }
            }
        }
    }
    dx
}

/// A convolution case: its geometry, batch and weight offset, laid out with
/// `pad` extra floats on every stride (0: the layers' tight layout).
#[derive(Clone, Copy, Debug)]
struct Conv {
    g: ConvGeom,
    b: ConvBatch,
    out_c: usize,
    w0: usize,
}

impl Conv {
    /// The standard layout: weights `[out_c][in_c][k][k]` from `w0 = pad`.
    fn new(n: usize, (in_c, out_c): (usize, usize), k: usize, (oh, ow): (usize, usize), pad: usize) -> Conv {
        let x_row = ow + k - 1 + pad;
        let x_plane = (oh + k - 1) * x_row + 2 * pad;
        let y_plane = oh * ow + pad;
        let g = ConvGeom {
            in_c,
            k,
            x_plane,
            x_row,
            w_out: (in_c * k * k) as isize,
            w_in: (k * k) as isize,
            w_m: k as isize,
            w_n: 1,
            y_plane,
        };
        let b = ConvBatch {
            n,
            x_sample: in_c * x_plane + 3 * pad,
            y_sample: out_c * y_plane + 5 * pad,
            oh,
            ow,
            relu: false,
        };
        Conv { g, b, out_c, w0: pad }
    }

    /// Floats of the weights (past the last one the strides reach, a few more).
    fn w_len(&self) -> usize {
        self.w0 + self.out_c * self.g.in_c * self.g.k * self.g.k + self.w0
    }

    fn x_len(&self) -> usize {
        span(self.b.n, self.b.x_sample, self.g.in_c * self.g.x_plane + SLACK)
    }

    fn y_len(&self) -> usize {
        span(self.b.n, self.b.y_sample, span(self.out_c, self.g.y_plane, self.b.oh * self.b.ow))
    }

    /// Index of output (sample `s`, channel `o`, row `i`, column `j`).
    fn y_at(&self, s: usize, o: usize, i: usize, j: usize) -> usize {
        s * self.b.y_sample + o * self.g.y_plane + i * self.b.ow + j
    }

    /// Index of input (sample `s`, channel `c`, padded row `r`, column `q`).
    fn x_at(&self, s: usize, c: usize, r: usize, q: usize) -> usize {
        s * self.b.x_sample + c * self.g.x_plane + r * self.g.x_row + q
    }

    /// Index of weight (output `o`, input `c`, tap `m, n`) by the strides.
    fn w_at(&self, o: usize, c: usize, m: usize, n: usize) -> usize {
        let g = &self.g;
        let at =
            self.w0 as isize + o as isize * g.w_out + c as isize * g.w_in + m as isize * g.w_m + n as isize * g.w_n;
        at as usize
    }

    /// Padded inputs: the `oh + k - 1` rows of `ow + k - 1` every output
    /// reads random, every other float (tails, slack) the sentinel.
    fn input(&self, rng: &mut Lcg) -> Vec<f32> {
        self.input_with(rng, Lcg::uniform)
    }

    /// [`input`](Self::input) with the values `f` draws.
    fn input_with(&self, rng: &mut Lcg, mut f: impl FnMut(&mut Lcg) -> f32) -> Vec<f32> {
        let mut x = vec![sentinel(); self.x_len()];
        let (rows, cols) = (self.b.oh + self.g.k - 1, self.b.ow + self.g.k - 1);
        for s in 0..self.b.n {
            for c in 0..self.g.in_c {
                for r in 0..rows {
                    for q in 0..cols {
                        x[self.x_at(s, c, r, q)] = f(rng);
                    }
                }
            }
        }
        x
    }

    /// The output positions (every sample, channel, row, column).
    fn outputs(&self) -> impl Iterator<Item = (usize, usize, usize, usize)> + use<> {
        let (n, oc, oh, ow) = (self.b.n, self.out_c, self.b.oh, self.b.ow);
        (0..n)
            .flat_map(move |s| (0..oc).flat_map(move |o| (0..oh).flat_map(move |i| (0..ow).map(move |j| (s, o, i, j)))))
    }

    /// `Σ_{c,m,n} w · x` of one output, in `f64`.
    fn sum(&self, w: &[f32], x: &[f32], (s, o, i, j): (usize, usize, usize, usize)) -> f64 {
        let mut acc = 0.0f64;
        for c in 0..self.g.in_c {
            for m in 0..self.g.k {
                for n in 0..self.g.k {
                    acc += w[self.w_at(o, c, m, n)] as f64 * x[self.x_at(s, c, i + m, j + n)] as f64;
                }
            }
        }
        acc
    }
}

// ---- the reference and portable backends ---------------------------------

/// [`Isa::Reference`] declines every entry point but the vector math
/// (`false`, `None`, or a pooling convolution it does not run) and writes
/// nothing.
#[test]
fn reference_backend_declines_everything_and_writes_nothing() {
    let k = Kernels::of(Isa::Reference).expect("the reference backend runs everywhere");
    assert!(!k.is_fast());
    declines_everything(k, "reference");
}

/// The portable backend runs on every CPU, and is a fast backend: the
/// tests that run every fast backend ([`fast_backends`]) hold it to the
/// reference loops on every target.
#[test]
fn portable_runs_everywhere_as_a_fast_backend() {
    let k = Kernels::of(Isa::Portable).expect("the portable backend runs everywhere");
    assert!(k.is_fast());
    assert!(fast_backends().any(|f| f == k));
}

/// NEON is baseline on aarch64, and a fast backend: the tests that run
/// every fast backend ([`fast_backends`]) hold it to the reference loops there.
#[test]
#[cfg(target_arch = "aarch64")]
fn neon_runs_on_aarch64() {
    let k = Kernels::of(Isa::Neon).expect("an aarch64 CPU without NEON");
    assert!(k.is_fast());
    assert!(fast_backends().any(|f| f == k));
}

fn declines_everything(k: Kernels, ctx: &str) {
    assert!(!k.is_fast());
    let mut rng = Lcg::new(1);
    let x = rng.vec(64);
    let fill = rng.vec(512);
    let run = |what: &str, len: usize, init: bool, f: &mut dyn FnMut(&mut [f32]) -> bool| {
        let mut out = if init { Out::with(&fill[..len], 3) } else { Out::new(len, 3) };
        let before = out.snapshot();
        assert!(!f(out.m()), "{ctx}: {what} ran");
        untouched(ctx, what, &out, &before);
    };
    run("pad_planes", 2 * 4 * 5 + SLACK, false, &mut |d| k.pad_planes(&x, 2, 2, 3, 1, d));
    run("relu_forward", 20, false, &mut |y| k.relu_forward(&x[..20], y));
    run("relu_backward", 20, false, &mut |dx| k.relu_backward(&x[..20], &x[20..40], dx));
    assert_eq!(k.lane_sums4(&x, 32, 2, 32), None, "{ctx}: lane_sums4 ran");
    assert_eq!(k.all_within(&x, 1.0), None, "{ctx}: all_within ran");
    run("sgd_update", 20, true, &mut |p| k.sgd_update(p, &x[..20], None, 0.1, 0.0));
    let mut v = Out::with(&x[..20], 1);
    let vb = v.snapshot();
    run("sgd_update (momentum)", 20, true, &mut |p| k.sgd_update(p, &x[..20], Some(v.m()), 0.1, 0.9));
    untouched(ctx, "sgd velocity", &v, &vb);
    let adam = AdamConsts { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, c1: 0.1, c2: 0.001 };
    let (mut m, mut v) = (Out::with(&x[..20], 2), Out::with(&x[20..40], 5));
    let (mb, vb) = (m.snapshot(), v.snapshot());
    run("adam_update", 20, true, &mut |p| k.adam_update(p, &x[..20], m.m(), v.m(), adam));
    untouched(ctx, "adam m", &m, &mb);
    untouched(ctx, "adam v", &v, &vb);
    run("maxpool2_forward", 2 * 2 * 2, false, &mut |y| k.maxpool2_forward(2, (3, 4), &x, PoolRelu::Absent, y));
    run("maxpool2_forward (ReLU)", 8, false, &mut |y| k.maxpool2_forward(2, (3, 4), &x, PoolRelu::Apply, y));
    run("maxpool2_backward", 24, false, &mut |dx| {
        k.maxpool2_backward(2, (3, 4), (&x[..24], &x[..8]), &x[8..16], dx, PoolRelu::Apply)
    });
    run("maxpool2_backward_routes", 24, false, &mut |dx| {
        k.maxpool2_backward_routes(2, (3, 4), (&x[..16], 2, 16), &x[..8], dx)
    });
    run("dense_forward", 6, false, &mut |y| k.dense_forward((2, 5, 3), &x[..10], &x[10..25], Some(&x[..3]), y));
    run("dense_forward_packed", 16 * 3, false, &mut |y| k.dense_forward_packed((16, 2, 3), &x, &x, None, y));
    run("transpose16", 16 * 3, false, &mut |d| k.transpose16(&x, 3, 3, d, 16));
    let parts: [(&[f32], &[f32]); 2] = [(&x, &x), (&x[4..], &x[8..])];
    run("bcast_gemm", 3 * 5, true, &mut |c| k.bcast_gemm((3, 5, 2), &parts, (2, 1, 5), c, 5, true, false));
    let conv = Conv::new(2, (2, 4), 3, (4, 6), 1);
    let (w, xin) = (rng.vec(conv.w_len()), conv.input(&mut rng));
    let bias = rng.vec(4);
    for start in [Start::Zero, Start::Bias(&bias)] {
        run("conv_forward", conv.y_len(), false, &mut |y| {
            k.conv_forward(&conv.g, (&w, conv.w0), 4, &conv.b, &xin, y, start)
        });
        for routes in [false, true] {
            assert!(!k.conv_pools(&conv.g, 4, (4, 6), &start, routes), "{ctx}: conv_pools");
            let mut pooled = Out::new(2 * 4 * 2 * 3, 0);
            let pb = pooled.snapshot();
            run("conv_relu_pool", conv.y_len(), false, &mut |y| {
                k.conv_relu_pool(&conv.g, (&w, conv.w0), 4, &conv.b, (&xin, y), start, (pooled.m(), 4 * 2 * 3), routes)
            });
            untouched(ctx, "conv_relu_pool's pooled planes", &pooled, &pb);
        }
    }
    run("conv_forward (load)", conv.y_len(), true, &mut |y| {
        k.conv_forward(&conv.g, (&w, conv.w0), 4, &conv.b, &xin, y, Start::Load)
    });
    let dy = rng.vec(conv.y_len());
    // The weight gradient reads planes `oh·ow` apart: the same batch without the gap.
    let tight = Conv::new(2, (2, 4), 3, (4, 6), 0);
    let xt = tight.input(&mut rng);
    run("conv_weight_grad", 4 * 2 * 9, true, &mut |dw| k.conv_weight_grad(&tight.g, 4, &tight.b, &xt, &dy, dw));
    let dyt = rng.vec(4 * 6 * 16);
    run("conv_weight_grad_t", 5 * 16, true, &mut |dwt| {
        k.conv_weight_grad_t(&conv.g, 3..8, &xin, (4, 6), (&dyt, 16), dwt)
    });
}

// ---- vector math ----------------------------------------------------------

/// `math_map` gives the bits of the scalar form (`vmath::scalar`, the
/// same polynomial on one lane) on every backend, the reference one
/// included: special values (NaN payloads, signed zeros, infinities,
/// subnormals, the extremes), a sweep through every exponent, and dense
/// runs across the approximations' edges; every length from 0 to past
/// three vectors (whole vectors and tails) at every start in a 64-byte
/// line; nothing written outside the output window. A NaN result need
/// only be a NaN (Rust does not specify NaN payloads).
#[test]
fn math_map_gives_the_scalar_bits_on_every_backend() {
    let mut rng = Lcg::new(41);
    let mut xs: Vec<f32> = (0..=u32::MAX).step_by(65_521).map(f32::from_bits).collect();
    for edge in [0.625f32, 88.72284, -87.33655, -103.97208, 9.010913, 1e-3, 0.0] {
        for x in [edge, -edge] {
            let b = x.to_bits();
            xs.extend((b.saturating_sub(300)..b.saturating_add(300)).map(f32::from_bits));
        }
    }
    xs.extend(rng.vec_with(4000, |r| r.special() * 20.0));
    for k in every_backend() {
        for f in [MathFn::Exp, MathFn::ExpSub(1.5), MathFn::Tanh, MathFn::Sigmoid] {
            let ctx = format!("{:?}, {f:?}", k.0);
            let check = |x: &[f32], out: &Out, before: &[f32]| {
                let want: Vec<Want> = x
                    .iter()
                    .zip(out.s())
                    .map(|(&x, &got)| {
                        let v = vmath::scalar(f, x);
                        if v.is_nan() && got.is_nan() { Want::Any } else { Want::Bits(v) }
                    })
                    .collect();
                verify(&ctx, "y", out, before, &want);
            };
            // The whole set at once, then short runs at every alignment.
            let mut out = Out::new(xs.len(), 3);
            let before = out.snapshot();
            k.math_map(f, &xs, out.m());
            check(&xs, &out, &before);
            for len in 0..=3 * 16 + 5 {
                for lo in 0..16 {
                    let x0 = rng.below(xs.len() - len);
                    let x = &xs[x0..x0 + len];
                    let mut out = Out::new(len, lo);
                    let before = out.snapshot();
                    k.math_map(f, x, out.m());
                    check(x, &out, &before);
                }
            }
        }
    }
}

/// The piecewise activations ([`act`]) and their gradients give the
/// scalar form's bits on every backend, at every length and offset, around
/// every kink (0, 6, ±3) and on special values; and the scalar forms are
/// PyTorch's scalar formulas, bit for bit (signed zeros; NaN in gives NaN
/// out forward, and the gradient goes where those formulas send it).
#[test]
fn activations_give_the_scalar_bits_on_every_backend() {
    use act::{Act, scalar, scalar_grad};
    let mut rng = Lcg::new(43);
    let mut xs: Vec<f32> = Vec::new();
    for edge in [0.0f32, 6.0, 3.0, -3.0, 1e-3] {
        for x in [edge, -edge] {
            let b = x.to_bits();
            xs.extend((b.saturating_sub(40)..b.saturating_add(40)).map(f32::from_bits));
        }
    }
    xs.extend(rng.vec_with(2000, |r| r.special() * 8.0));
    let dys: Vec<f32> = rng.vec_with(xs.len(), |r| r.special());
    let acts = [Act::Relu6, Act::LeakyRelu(0.01), Act::LeakyRelu(0.2), Act::Hardswish, Act::Silu];
    // SiLU goes through the polynomial sigmoid: held to PyTorch's formula by
    // the golden test, and to the scalar form here on every backend.
    for a in acts.into_iter().filter(|&a| a != Act::Silu) {
        for (&x, &dy) in xs.iter().zip(&dys) {
            let want = match a {
                Act::Relu6 => x.clamp(0.0, 6.0),
                Act::LeakyRelu(s) => {
                    if x > 0.0 {
                        x
                    } else {
                        x * s
                    }
                }
                Act::Hardswish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
                Act::Silu => unreachable!(),
            };
            let got = scalar(a, x);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{a:?}({x}) = {got}, PyTorch {want}"
            );
            let want_grad = match a {
                Act::Relu6 => {
                    if x <= 0.0 || x >= 6.0 {
                        0.0
                    } else {
                        dy
                    }
                }
                Act::LeakyRelu(s) => {
                    if x > 0.0 {
                        dy
                    } else {
                        dy * s
                    }
                }
                Act::Hardswish => {
                    if x <= -3.0 {
                        0.0
                    } else if x < 3.0 {
                        dy * (x / 3.0 + 0.5)
                    } else {
                        dy
                    }
                }
                Act::Silu => unreachable!(),
            };
            let g = scalar_grad(a, x, dy);
            assert!(
                g.to_bits() == want_grad.to_bits() || (g.is_nan() && want_grad.is_nan()),
                "{a:?}'({x}) · {dy} = {g}, PyTorch {want_grad}"
            );
        }
    }
    for k in every_backend() {
        for a in acts {
            for len in (0..=3 * 16 + 5).chain([xs.len() - 16]) {
                for lo in [0, 1, 7, 15] {
                    let x0 = rng.below(xs.len() - len);
                    let (x, dy) = (&xs[x0..x0 + len], &dys[x0..x0 + len]);
                    // Guards around the outputs: nothing is written past them.
                    let mut y = vec![-7.0f32; lo + len + 16];
                    let mut dx = vec![-7.0f32; lo + len + 16];
                    k.act_forward(a, x, &mut y[lo..lo + len]);
                    k.act_backward(a, x, dy, &mut dx[lo..lo + len]);
                    for i in 0..len {
                        let (w, wg) = (scalar(a, x[i]), scalar_grad(a, x[i], dy[i]));
                        let same = |g: f32, w: f32| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
                        assert!(same(y[lo + i], w), "{:?} {a:?}: y({}) = {}, scalar {w}", k.0, x[i], y[lo + i]);
                        assert!(
                            same(dx[lo + i], wg),
                            "{:?} {a:?}: dx({}, {}) = {}, scalar {wg}",
                            k.0,
                            x[i],
                            dy[i],
                            dx[lo + i]
                        );
                    }
                    assert!(
                        y[..lo].iter().chain(&y[lo + len..]).all(|&v| v == -7.0),
                        "{:?} {a:?}: y written outside",
                        k.0
                    );
                    assert!(
                        dx[..lo].iter().chain(&dx[lo + len..]).all(|&v| v == -7.0),
                        "{:?} {a:?}: dx written outside",
                        k.0
                    );
                }
            }
        }
    }
}

/// A `y` shorter than `x` is the caller's bug.
#[test]
#[should_panic(expected = "kernels::math_map: y holds 3 floats, needs 4")]
fn math_map_refuses_a_short_output() {
    Kernels::of(Isa::Reference).unwrap().math_map(MathFn::Tanh, &[0.0; 4], &mut [0.0; 3]);
}

// ---- element-wise -------------------------------------------------------

/// `pad_planes` copies every float's bits (NaN payloads, -0, infinities)
/// into the padded planes, writes +0 in the border and the slack, and
/// nothing past them: every padding from 0 to 3, widths of one to three
/// vectors and their edges, one and several planes, misaligned windows.
#[test]
fn pad_planes_copies_bits_and_zeros_the_border_and_slack() {
    let mut rng = Lcg::new(2);
    for k in backends() {
        for c in [1, 3] {
            for h in [1, 2, 5] {
                for w in [1, 2, 15, 16, 17, 31, 32, 33, 47] {
                    for p in [0, 1, 2, 3] {
                        let ctx = format!("{k:?} pad_planes c {c}, {h} x {w}, p {p}");
                        let src = rng.vec_with(c * h * w, Lcg::special);
                        let (rw, rows) = (w + 2 * p, h + 2 * p);
                        let mut want = vec![Want::Bits(0.0); c * rows * rw + SLACK];
                        for ch in 0..c {
                            for r in 0..h {
                                for q in 0..w {
                                    want[ch * rows * rw + (r + p) * rw + q + p] =
                                        Want::Bits(src[ch * h * w + r * w + q]);
                                }
                            }
                        }
                        let mut dst = Out::new(want.len(), (c + h + w + p) % 16);
                        let before = dst.snapshot();
                        assert!(k.pad_planes(&src, c, h, w, p, dst.m()), "{ctx}: declined");
                        verify(&ctx, "dst", &dst, &before, &want);
                    }
                }
            }
        }
    }
}

/// `relu_forward` writes `max(x, 0)` with NaN and -0 giving +0 over
/// `min(x.len(), y.len())` floats, and nothing past them; `relu_backward`
/// passes `dy`'s bits (NaN, -0) where `y > 0` (not for NaN, -0 or +0) and
/// +0 elsewhere. Lengths of 0 to 257, windows at every alignment class.
#[test]
fn relu_forward_and_backward_give_the_scalar_bits() {
    let mut rng = Lcg::new(3);
    for k in backends() {
        for n in [0, 1, 5, 15, 16, 17, 31, 32, 33, 64, 100, 257] {
            for lo in [0, 1, 7, 15] {
                for (ex, ey) in [(0, 0), (3, 0), (0, 5)] {
                    let ctx = format!("{k:?} relu n {n}, at {lo}, x +{ex}, y +{ey}");
                    let x = rng.vec_with(n + ex, Lcg::special);
                    let mut y = Out::new(n + ey, lo);
                    let before = y.snapshot();
                    assert!(k.relu_forward(&x, y.m()), "{ctx}: forward declined");
                    let want: Vec<Want> =
                        (0..n + ey).map(|i| if i < n { Want::Bits(relu_ref(x[i])) } else { Want::Same }).collect();
                    verify(&ctx, "y", &y, &before, &want);

                    let (yv, dy) = (rng.vec_with(n + ex, Lcg::special), rng.vec_with(n + ey, Lcg::special));
                    let mut dx = Out::new(n, (lo + 3) % 16);
                    let before = dx.snapshot();
                    assert!(k.relu_backward(&yv, &dy, dx.m()), "{ctx}: backward declined");
                    let want: Vec<Want> = (0..n).map(|i| Want::Bits(relu_back_ref(yv[i], dy[i]))).collect();
                    verify(&ctx, "dx", &dx, &before, &want);
                }
            }
        }
    }
}

/// `lane_sums4` gives each lane's sum in order from +0, bit for bit, for
/// 0 to 4 planes (the unused ones +0), planes longer than the part summed,
/// and reads nothing past the last plane's part (the input ends there).
#[test]
fn lane_sums4_gives_the_per_lane_sums_bit_for_bit() {
    let mut rng = Lcg::new(4);
    for k in backends() {
        for np in 0..=4 {
            for full in [0, 16, 48, 160, 1024] {
                for extra in [0, 7, 16] {
                    let ctx = format!("{k:?} lane_sums4 np {np}, full {full}, len {}", full + extra);
                    let len = full + extra;
                    let x = rng.vec_with(span(np, len, full), |r| r.uniform() * 4.0);
                    let got = k.lane_sums4(&x, len, np, full).unwrap_or_else(|| panic!("{ctx}: declined"));
                    let mut want = [[0.0f32; 16]; 4];
                    for (p, lanes) in want.iter_mut().enumerate().take(np) {
                        for (l, acc) in lanes.iter_mut().enumerate() {
                            for q in 0..full / 16 {
                                *acc += x[p * len + 16 * q + l];
                            }
                        }
                    }
                    for p in 0..4 {
                        assert_eq!(bits(&got[p]), bits(&want[p]), "{ctx}: plane {p}: {:?} vs {:?}", got[p], want[p]);
                    }
                }
            }
        }
    }
}

// ---- optimizer updates ----------------------------------------------------

/// `sgd_update` and `adam_update` give the bits of the scalar formulas in
/// the entry points' operation order, `sgd`: `p + (-lr)·g`, or `v = mu·v +
/// g; p - lr·v`; Adam: `m = b1·m + (1-b1)·g; v = b2·v + ((1-b2)·g)·g;
/// p - (lr·(m/c1)) / (sqrt(v/c2) + eps)`; for every length class and
/// alignment of the windows, and nothing past them.
/// `all_within` agrees with the scalar rule `|x| <= limit` (false for NaN)
/// at every length to 200 (whole steps of 64, whole vectors, tails), with
/// one offending value at every position, over values with the special
/// ones mixed in, and reads nothing past the slice (a NaN just beyond it
/// changes nothing).
#[test]
fn all_within_agrees_with_the_scalar_rule() {
    let mut rng = Lcg::new(17);
    for k in backends() {
        let ctx = format!("{k:?}");
        for n in 0..200 {
            for limit in [0.0, 1.0, 2f32.powi(63), f32::MAX, f32::INFINITY, -1.0, f32::NAN] {
                let mut x = rng.vec_with(n + 1, |r| r.uniform());
                x[n] = f32::NAN; // just past the slice
                let within = |x: &[f32]| x.iter().all(|v| v.abs() <= limit);
                let got = k.all_within(&x[..n], limit).expect("a fast backend checks");
                assert_eq!(got, within(&x[..n]), "{ctx}: n {n}, limit {limit}");
                if n > 0 {
                    let at = rng.below(n);
                    for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -1.5] {
                        let keep = x[at];
                        x[at] = bad;
                        let got = k.all_within(&x[..n], limit).expect("a fast backend checks");
                        assert_eq!(got, within(&x[..n]), "{ctx}: n {n}, {bad} at {at}, limit {limit}");
                        x[at] = keep;
                    }
                }
                let mixed = rng.vec_with(n, |r| r.special());
                assert_eq!(k.all_within(&mixed, limit), Some(within(&mixed)), "{ctx}: mixed, n {n}, limit {limit}");
            }
        }
    }
}

#[test]
fn sgd_and_adam_updates_give_the_scalar_bits() {
    let mut rng = Lcg::new(5);
    for k in backends() {
        for n in [0, 1, 3, 15, 16, 17, 31, 33, 64, 100, 259] {
            for lo in [0, 1, 5, 15] {
                for (lr, mu) in [(0.37f32, 0.9f32), (0.01, 0.0), (1.5, 0.99)] {
                    let ctx = format!("{k:?} sgd n {n}, at {lo}, lr {lr}, mu {mu}");
                    let g = rng.vec_with(n, |r| if r.below(16) == 0 { -0.0 } else { r.uniform() * 3.0 });
                    let (p0, v0) = (rng.vec(n), rng.vec(n));
                    // Without a velocity.
                    let mut p = Out::with(&p0, lo);
                    let before = p.snapshot();
                    assert!(k.sgd_update(p.m(), &g, None, lr, mu), "{ctx}: declined");
                    let want: Vec<Want> = (0..n).map(|i| Want::Bits(p0[i] + (-lr) * g[i])).collect();
                    verify(&ctx, "p", &p, &before, &want);
                    // With one.
                    let (mut p, mut v) = (Out::with(&p0, lo), Out::with(&v0, (lo + 9) % 16));
                    let (pb, vb) = (p.snapshot(), v.snapshot());
                    assert!(k.sgd_update(p.m(), &g, Some(v.m()), lr, mu), "{ctx}: declined (momentum)");
                    let vn: Vec<f32> = (0..n).map(|i| mu * v0[i] + g[i]).collect();
                    let pw: Vec<Want> = (0..n).map(|i| Want::Bits(p0[i] - lr * vn[i])).collect();
                    verify(&ctx, "p (momentum)", &p, &pb, &pw);
                    verify(&ctx, "v", &v, &vb, &vn.iter().map(|&x| Want::Bits(x)).collect::<Vec<_>>());
                }
                for t in [1, 3, 1000] {
                    let (b1, b2) = (0.9f32, 0.999f32);
                    let c = AdamConsts { lr: 1e-3, b1, b2, eps: 1e-8, c1: 1.0 - b1.powi(t), c2: 1.0 - b2.powi(t) };
                    let ctx = format!("{k:?} adam n {n}, at {lo}, t {t}");
                    let g = rng.vec_with(n, |r| if r.below(16) == 0 { -0.0 } else { r.uniform() * 2.0 });
                    let (p0, m0) = (rng.vec(n), rng.vec_with(n, |r| r.uniform() * 0.1));
                    let v0 = rng.vec_with(n, |r| r.uniform().abs() * 0.01);
                    let (mut p, mut m, mut v) = (Out::with(&p0, lo), Out::with(&m0, (lo + 2) % 16), Out::with(&v0, 3));
                    let (pb, mb, vb) = (p.snapshot(), m.snapshot(), v.snapshot());
                    assert!(k.adam_update(p.m(), &g, m.m(), v.m(), c), "{ctx}: declined");
                    let (mut pw, mut mw, mut vw) = (Vec::new(), Vec::new(), Vec::new());
                    for i in 0..n {
                        let mi = c.b1 * m0[i] + (1.0 - c.b1) * g[i];
                        let vi = c.b2 * v0[i] + (1.0 - c.b2) * g[i] * g[i];
                        let pi = p0[i] - c.lr * (mi / c.c1) / ((vi / c.c2).sqrt() + c.eps);
                        pw.push(Want::Bits(pi));
                        mw.push(Want::Bits(mi));
                        vw.push(Want::Bits(vi));
                    }
                    verify(&ctx, "p", &p, &pb, &pw);
                    verify(&ctx, "m", &m, &mb, &mw);
                    verify(&ctx, "v", &v, &vb, &vw);
                }
            }
        }
    }
}

// ---- pooling ----------------------------------------------------------------

/// `maxpool2_forward` and `maxpool2_backward` give the reference bits
/// without a ReLU and with one fused (`Apply`, from the ReLU's input and
/// from its output, as `ConvReluPool` calls it): maxima of edge windows
/// (ceil mode: odd heights and widths), ties resolved to the first maximum
/// row-major (inputs from a coarse set), NaN and -0 before a ReLU, one to
/// three strips of 32 columns; every `dx` written, nothing past the outputs.
#[test]
fn maxpool2_forward_and_backward_give_the_reference_bits() {
    let mut rng = Lcg::new(6);
    for k in backends() {
        let mut case = 0usize;
        for planes in [1, 3] {
            for h in [1usize, 2, 3, 4, 5, 7] {
                for w in [1usize, 2, 3, 15, 16, 17, 31, 32, 33, 34, 63, 65] {
                    for relu in 0..3 {
                        case += 1;
                        let ctx = format!("{k:?} maxpool2 {planes} planes of {h} x {w}, relu {relu}");
                        let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
                        let (n_in, n_out) = (planes * h * w, planes * oh * ow);
                        // Ties from the coarse values in most cases; NaN and -0 only before a ReLU.
                        let coarse = rng.below(3) > 0;
                        let x0 = rng.vec_with(n_in, |r| match (coarse, relu) {
                            (true, 0) => r.coarse(),
                            (true, _) if r.below(10) == 0 => r.pick(&[-0.0, f32::NAN]),
                            (true, _) => r.coarse(),
                            (false, 0) => r.uniform(),
                            _ => r.special(),
                        });
                        let relu_out: Vec<f32> = x0.iter().map(|&v| relu_ref(v)).collect();
                        let y_ref = pool_ref(planes, h, w, &x0, relu > 0);

                        // Forward: relu 2 pools the ReLU's output, applying the ReLU again.
                        let mode = if relu == 0 { PoolRelu::Absent } else { PoolRelu::Apply };
                        let x = if relu == 2 { &relu_out } else { &x0 };
                        let mut y = Out::new(n_out, case % 16);
                        let yb = y.snapshot();
                        assert!(k.maxpool2_forward(planes, (h, w), x, mode, y.m()), "{ctx}: forward declined");
                        verify(&ctx, "y", &y, &yb, &y_ref.iter().map(|&v| Want::Bits(v)).collect::<Vec<_>>());

                        // Backward: `x` is the ReLU's input with relu 1, its output with relu 2.
                        let dy = rng.vec_with(n_out, |r| if r.below(12) == 0 { -0.0 } else { r.uniform() });
                        let cmp = if relu == 0 { &x0 } else { &relu_out };
                        let pool_dx = pool_grad_ref(planes, h, w, cmp, &y_ref, &dy);
                        let relu_dx: Vec<f32> = (0..n_in).map(|i| relu_back_ref(relu_out[i], pool_dx[i])).collect();
                        let mut dx = Out::new(n_in, (case + 11) % 16);
                        let db = dx.snapshot();
                        assert!(
                            k.maxpool2_backward(planes, (h, w), (x, &y_ref), &dy, dx.m(), mode),
                            "{ctx}: backward declined"
                        );
                        let dx_want = if relu == 0 { &pool_dx } else { &relu_dx };
                        verify(&ctx, "dx", &dx, &db, &dx_want.iter().map(|&v| Want::Bits(v)).collect::<Vec<_>>());
                    }
                }
            }
        }
    }
}

// ---- dense products ---------------------------------------------------------

/// `dense_forward` is within the tolerance of `bias + Σ x·w` for batches of
/// 1 to 17 and every output tile (1 to 13 outputs), with and without a
/// bias, and gives each sample the bits it gets alone (its output does not
/// depend on where it sits in the batch); `dense_forward_packed` (n >= 16)
/// is within the tolerance too; neither writes past `y`.
#[test]
fn dense_forward_and_packed_match_the_reference_sums() {
    let mut rng = Lcg::new(7);
    for k in backends() {
        let mut case = 0usize;
        for n in [1, 2, 3, 4, 5, 16, 17] {
            for n_in in [1, 3, 15, 16, 17, 33, 64, 100] {
                for n_out in [1, 2, 3, 4, 5, 6, 7, 10, 12, 13] {
                    case += 1;
                    let with_bias = rng.coin();
                    let ctx = format!("{k:?} dense_forward n {n}, {n_in} -> {n_out}, bias {with_bias}");
                    let (x, w, b) = (rng.vec(n * n_in), rng.vec(n_out * n_in), rng.vec(n_out));
                    let bias = with_bias.then_some(&b[..]);
                    let want = dense_want(n, n_in, n_out, &x, &w, bias);
                    let mut y = Out::new(n * n_out, case % 16);
                    let before = y.snapshot();
                    assert!(k.dense_forward((n, n_in, n_out), &x, &w, bias, y.m()), "{ctx}: declined");
                    verify(&ctx, "y", &y, &before, &want);
                    for s in 0..n {
                        let mut one = Out::new(n_out, 0);
                        assert!(k.dense_forward((1, n_in, n_out), &x[s * n_in..(s + 1) * n_in], &w, bias, one.m()));
                        assert_eq!(
                            bits(one.s()),
                            bits(&y.s()[s * n_out..(s + 1) * n_out]),
                            "{ctx}: sample {s} alone: {:?} vs in the batch {:?}",
                            one.s(),
                            &y.s()[s * n_out..(s + 1) * n_out]
                        );
                    }
                }
            }
        }
        for n in [16, 17, 31, 32, 33, 48, 50] {
            for n_in in [1, 7, 16, 33] {
                for n_out in [1, 2, 11, 12, 13, 24, 25] {
                    case += 1;
                    let with_bias = rng.coin();
                    let ctx = format!("{k:?} dense_forward_packed n {n}, {n_in} -> {n_out}, bias {with_bias}");
                    let (x, w, b) = (rng.vec(n * n_in), rng.vec(n_out * n_in), rng.vec(n_out));
                    let bias = with_bias.then_some(&b[..]);
                    let mut xt = vec![0.0; n * n_in];
                    for s in 0..n {
                        for i in 0..n_in {
                            xt[i * n + s] = x[s * n_in + i];
                        }
                    }
                    let want = dense_want(n, n_in, n_out, &x, &w, bias);
                    let mut y = Out::new(n * n_out, case % 16);
                    let before = y.snapshot();
                    assert!(k.dense_forward_packed((n, n_in, n_out), &xt, &w, bias, y.m()), "{ctx}: declined");
                    verify(&ctx, "y", &y, &before, &want);
                }
            }
        }
    }
}

/// `y[s][o] = bias[o] + Σ_i x[s][i]·w[o][i]`, in `f64`.
fn dense_want(n: usize, n_in: usize, n_out: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<Want> {
    let mut want = Vec::with_capacity(n * n_out);
    for s in 0..n {
        for o in 0..n_out {
            let mut acc = bias.map_or(0.0, |b| b[o] as f64);
            for i in 0..n_in {
                acc += x[s * n_in + i] as f64 * w[o * n_in + i] as f64;
            }
            want.push(Want::Near(acc, n_in + bias.is_some() as usize));
        }
    }
    want
}

/// `transpose16` moves every float's bits to `dst[p·dst_p + k]`, for one
/// to four blocks of 16 (the last partial), padded strides on both sides,
/// and writes nothing between or past the rows of 16; `n = 0` does nothing.
#[test]
fn transpose16_moves_bits() {
    let mut rng = Lcg::new(8);
    for k in backends() {
        for n in [0, 1, 2, 15, 16, 17, 31, 33, 64] {
            for src_k in [n, n + 5] {
                for dst_p in [16, 17, 23] {
                    let ctx = format!("{k:?} transpose16 n {n}, src_k {src_k}, dst_p {dst_p}");
                    let src = rng.vec_with(span(16, src_k, n), Lcg::special);
                    let len = span(n, dst_p, 16);
                    let mut want = vec![Want::Same; len];
                    for p in 0..n {
                        for q in 0..16 {
                            want[p * dst_p + q] = Want::Bits(src[q * src_k + p]);
                        }
                    }
                    let mut dst = Out::new(len, (n + dst_p) % 16);
                    let before = dst.snapshot();
                    assert!(k.transpose16(&src, src_k, n, dst.m(), dst_p), "{ctx}: declined");
                    verify(&ctx, "dst", &dst, &before, &want);
                }
            }
        }
    }
}

/// `bcast_gemm` is within the tolerance of `(c +) Σ_parts Σ_k a·b` for
/// every tile (rows 1 to 17, one to ten vectors of columns and their
/// edges), both loop orders, overwriting and accumulating, the weight
/// gradient's layout (`a` is `[k][r]`) and the input gradient's (`[r][k]`),
/// padded strides, one to three parts, the one-long sum; it writes nothing
/// between `c`'s rows or past them; and parts give the bits of one buffer
/// holding them all, in order.
#[test]
fn bcast_gemm_matches_the_reference_sums() {
    let mut rng = Lcg::new(9);
    let plans = [(2, 1), (3, 2), (1, 3), (8, 1), (1, 2), (5, 3), (17, 1)];
    for k in backends() {
        let mut case = 0usize;
        for rows in [1, 2, 3, 4, 5, 7, 8, 9, 12, 17] {
            for cols in [1, 15, 16, 17, 47, 48, 49, 96, 97, 100, 145] {
                for (accumulate, rows_outer) in [(false, false), (false, true), (true, false), (true, true)] {
                    for (kdim, np) in [(1, 1), rng.pick(&plans)] {
                        case += 1;
                        let weight_layout = rng.coin();
                        let pad = rng.below(3);
                        let total = kdim * np;
                        // `a[r·a_r + k·a_k]` and `b[k·b_k + i]` over the whole sum; part `p`
                        // from sum index `p·kdim`.
                        let (a_r, a_k) = if weight_layout { (1, rows + pad) } else { (total + pad, 1) };
                        let (b_k, c_r) = (cols + pad, cols + rng.pick(&[0, 3]));
                        let a = rng.vec(span(rows, a_r, 1) + span(total, a_k, 1) - 1);
                        let b = rng.vec(span(total, b_k, cols));
                        let parts: Vec<(&[f32], &[f32])> =
                            (0..np).map(|p| (&a[p * kdim * a_k..], &b[p * kdim * b_k..])).collect();
                        let ctx = format!(
                            "{k:?} bcast_gemm {rows} x {cols}, kdim {kdim}, {np} parts, a_r {a_r}, a_k {a_k}, \
                             b_k {b_k}, c_r {c_r}, accumulate {accumulate}, rows_outer {rows_outer}"
                        );
                        let len = span(rows, c_r, cols);
                        let mut c0 = vec![sentinel(); len];
                        let mut want = vec![Want::Same; len];
                        for r in 0..rows {
                            for i in 0..cols {
                                let at = r * c_r + i;
                                c0[at] = rng.uniform();
                                let mut acc = if accumulate { c0[at] as f64 } else { 0.0 };
                                for q in 0..total {
                                    acc += a[r * a_r + q * a_k] as f64 * b[q * b_k + i] as f64;
                                }
                                want[at] = Want::Near(acc, total + accumulate as usize);
                            }
                        }
                        let mut c = Out::with(&c0, case % 16);
                        let before = c.snapshot();
                        let ran = k.bcast_gemm(
                            (rows, cols, kdim),
                            &parts,
                            (a_r, a_k, b_k),
                            c.m(),
                            c_r,
                            accumulate,
                            rows_outer,
                        );
                        assert!(ran, "{ctx}: declined");
                        verify(&ctx, "c", &c, &before, &want);
                        if np > 1 {
                            let mut one = Out::with(&c0, case % 16);
                            let whole: [(&[f32], &[f32]); 1] = [(&a, &b)];
                            let ran = k.bcast_gemm(
                                (rows, cols, total),
                                &whole,
                                (a_r, a_k, b_k),
                                one.m(),
                                c_r,
                                accumulate,
                                rows_outer,
                            );
                            assert!(ran, "{ctx}: declined (one part)");
                            assert_eq!(bits(c.s()), bits(one.s()), "{ctx}: {np} parts vs one buffer of {total}");
                        }
                    }
                }
            }
        }
    }
}

// ---- convolution --------------------------------------------------------

/// Runs `conv_forward` on `conv` from `start` (0: zero, 1: bias, 2: load)
/// and checks every output against the reference (and every other float).
fn check_conv_forward(k: Kernels, conv: &Conv, start: usize, rng: &mut Lcg) {
    let ctx = format!("{k:?} conv_forward {conv:?}, start {start}");
    let (w, x, bias) = (rng.vec(conv.w_len()), conv.input(rng), rng.vec(conv.out_c));
    let mut y0 = vec![sentinel(); conv.y_len()];
    let mut want = vec![Want::Same; conv.y_len()];
    for at in conv.outputs() {
        let (s, o, i, j) = at;
        let yi = conv.y_at(s, o, i, j);
        if start == 2 {
            y0[yi] = rng.uniform();
        }
        let first = match start {
            0 => 0.0,
            1 => bias[o] as f64,
            _ => y0[yi] as f64,
        };
        let v = first + conv.sum(&w, &x, at);
        let v = if conv.b.relu { v.max(0.0) } else { v };
        want[yi] = Want::Near(v, conv.g.in_c * conv.g.k * conv.g.k + (start > 0) as usize);
    }
    let mut y = Out::with(&y0, (conv.out_c + conv.b.ow) % 16);
    let before = y.snapshot();
    let st = match start {
        0 => Start::Zero,
        1 => Start::Bias(&bias),
        _ => Start::Load,
    };
    assert!(k.conv_forward(&conv.g, (&w, conv.w0), conv.out_c, &conv.b, &x, y.m(), st), "{ctx}: declined");
    verify(&ctx, "y", &y, &before, &want);
    if conv.b.relu {
        let neg = y.s().iter().position(|v| v.is_sign_negative() && !v.is_nan());
        assert_eq!(neg, None, "{ctx}: a fused ReLU stored a negative (or -0)");
    }
}

/// `conv_forward` is within the tolerance of the reference for every
/// kernel side 1 to 5 (3 and 5 specialised), rows of one to three
/// segments and their edges (1, 15, 16, 17, 31, 32, 33), odd heights and
/// the row tiles' remainders (1, 5, 9), 1, 4 and 17 output channels (each
/// channel block, the one-channel paths), batches of 1 to 3, every start
/// (zero, bias, load) and the fused ReLU, tight and padded layouts (weights
/// from an offset); then the channel-block and channels-last shapes (8, 16,
/// 32 channels, 275 and 261 taps). Nothing outside the outputs is written.
#[test]
fn conv_forward_matches_the_reference_sums() {
    let mut rng = Lcg::new(10);
    for k in backends() {
        for ks in 1..=5 {
            for ow in [1, 15, 16, 17, 31, 32, 33] {
                for oh in [1, 5, 9] {
                    for out_c in [1, 4, 17] {
                        for start in 0..3 {
                            let (n, pad) = (1 + rng.below(3), rng.pick(&[0, 1, 3]));
                            let mut conv = Conv::new(n, (2, out_c), ks, (oh, ow), pad);
                            conv.b.relu = rng.coin();
                            check_conv_forward(k, &conv, start, &mut rng);
                        }
                    }
                }
            }
        }
        // (in_c, out_c, k, oh, ow): channel blocks of 8, 4 and 2 with a last
        // channel; the channels-last tiles (16 channels, >= 256 taps:
        // tiles of 16, 14 and 12, a row's last tile cut short); with a load
        // start the same shapes take the row-segment tiles.
        let shapes = [
            (3, 8, 3, 7, 14),
            (3, 16, 5, 3, 28),
            (1, 32, 3, 4, 16),
            (3, 11, 3, 3, 20),
            (11, 16, 5, 2, 14),
            (11, 16, 5, 2, 16),
            (11, 32, 5, 1, 24),
            (29, 16, 3, 2, 30),
            (29, 16, 3, 3, 13),
            (11, 16, 5, 1, 26),
            // The generic channels-last tiles (AVX2: 8 channels x 9
            // outputs, across rows and samples; rows of at least 9).
            (11, 8, 5, 3, 9),
            (11, 24, 5, 2, 10),
            (29, 8, 3, 5, 11),
        ];
        for (in_c, out_c, ks, oh, ow) in shapes {
            for start in 0..3 {
                let mut conv = Conv::new(1 + rng.below(2), (in_c, out_c), ks, (oh, ow), rng.below(2));
                conv.b.relu = rng.coin();
                check_conv_forward(k, &conv, start, &mut rng);
            }
        }
    }
}

/// `conv_forward` with a flipped kernel and swapped channel axes (negative
/// strides, the first tap the last weight: how a convolution's input
/// gradient runs it, `Conv2d::input_grad_fast`), over the output gradient's
/// channels in two passes (zero, then load), is within the tolerance of
/// `dx[c][i][j] = Σ_{o,m,n} W[o][c][K-1-m][K-1-n] · dy_pad[o][i+m][j+n]`.
#[test]
fn conv_forward_runs_the_flipped_kernel_of_an_input_gradient() {
    let mut rng = Lcg::new(11);
    for k in backends() {
        let mut case = 0usize;
        let mut shapes = Vec::new();
        for ks in 1..=5 {
            for (h, w) in [(1, 1), (3, 15), (5, 16), (2, 17), (4, 33), (7, 32)] {
                for l_in in [1, 4, 17] {
                    for l_out in [1, 5] {
                        shapes.push((ks, h, w, l_in, l_out, 3));
                    }
                }
            }
        }
        // Channels-last shapes (16 and 8 channels, 275 taps a pass; the
        // second in two passes, zero then load).
        shapes.push((5, 3, 14, 16, 11, 11));
        shapes.push((5, 4, 14, 8, 22, 11));
        for (ks, h, w, l_in, l_out, block) in shapes {
            case += 1;
            let ctx = format!("{k:?} flipped conv_forward K {ks}, {h} x {w}, {l_out} -> {l_in} channels");
            let (x_row, rows) = (w + ks - 1, h + ks - 1);
            let x_plane = x_row * rows;
            // The layer's weights `[l_out][l_in][K][K]`, its padded output gradient.
            let weight = rng.vec(l_out * l_in * ks * ks);
            let mut dy = rng.vec(l_out * x_plane + SLACK);
            dy[l_out * x_plane..].fill(sentinel());
            let mut want = vec![Want::Near(0.0, 0); l_in * h * w];
            for c in 0..l_in {
                for i in 0..h {
                    for j in 0..w {
                        let mut acc = 0.0f64;
                        for o in 0..l_out {
                            for m in 0..ks {
                                for n in 0..ks {
                                    let wv = weight[((o * l_in + c) * ks + ks - 1 - m) * ks + ks - 1 - n];
                                    acc += wv as f64 * dy[o * x_plane + (i + m) * x_row + j + n] as f64;
                                }
                            }
                        }
                        want[(c * h + i) * w + j] = Want::Near(acc, l_out * ks * ks);
                    }
                }
            }
            let mut dx = Out::new(l_in * h * w, case % 16);
            let before = dx.snapshot();
            let mut o0 = 0;
            while o0 < l_out {
                let nb = block.min(l_out - o0);
                let g = ConvGeom {
                    in_c: nb,
                    k: ks,
                    x_plane,
                    x_row,
                    w_out: (ks * ks) as isize,
                    w_in: (l_in * ks * ks) as isize,
                    w_m: -(ks as isize),
                    w_n: -1,
                    y_plane: h * w,
                };
                let batch = ConvBatch { n: 1, x_sample: 0, y_sample: 0, oh: h, ow: w, relu: false };
                let start = if o0 == 0 { Start::Zero } else { Start::Load };
                let w0 = (o0 * l_in * ks + ks - 1) * ks + ks - 1;
                let x = &dy[o0 * x_plane..];
                assert!(k.conv_forward(&g, (&weight, w0), l_in, &batch, x, dx.m(), start), "{ctx}: declined");
                o0 += nb;
            }
            verify(&ctx, "dx", &dx, &before, &want);
        }
    }
}

/// The documented rule of the AVX-512 pooling tiles: a 3x3 or 5x5 kernel,
/// rows of 1 to 32 outputs, output channels a multiple of 4, no load start,
/// routes only where they fit, and not where the channels-last convolution
/// pays (>= 256 taps, 16 channels...: those shapes are left to it).
fn avx512_pools(g: &ConvGeom, out_c: usize, (oh, ow): (usize, usize), start: &Start, routes: bool) -> bool {
    // The channels-last tiles' rule: 16, 14 or 12 outputs a tile, whichever
    // wastes least (ties: the larger), at most 1/8 of the row wasted.
    let waste = |p: usize| ow.div_ceil(p) * p - ow;
    let tiles = [16, 14, 12].into_iter().min_by_key(|&p| waste(p)).is_some_and(|p| 8 * waste(p) <= ow);
    let cl = out_c.is_multiple_of(16)
        && matches!(g.k, 3 | 5)
        && g.in_c * g.k * g.k >= 256
        && g.in_c * g.k * g.k * 16 <= 1 << 14
        && tiles
        && !matches!(start, Start::Load);
    matches!(g.k, 3 | 5)
        && (1..=32).contains(&ow)
        && out_c.is_multiple_of(4)
        && !matches!(start, Start::Load)
        && (!routes || routes_fit(oh, ow))
        && !cl
}

/// Runs `conv_relu_pool` on `conv` (`routes` or not) and, where it runs,
/// checks the pooled planes against the bits of the same backend's
/// `conv_forward` outputs (themselves within the tolerance of the
/// reference) pooled by [`pool_ref`] after a ReLU; with routes, checks
/// `maxpool2_backward_routes` against [`pool_grad_ref`] from those outputs
/// and against `maxpool2_backward` with `PoolRelu::Apply` from them. Where
/// it declines, checks that nothing was written. With `ties`, the weights
/// are -1, 0 or 1 and the inputs and biases multiples of 0.5: the sums are
/// exact, and equal outputs (positive maxima tied in a window) are common.
/// Returns whether it ran.
fn check_conv_relu_pool(k: Kernels, conv: &Conv, bias_start: bool, routes: bool, ties: bool, rng: &mut Lcg) -> bool {
    let ctx = format!("{k:?} conv_relu_pool {conv:?}, bias {bias_start}, routes {routes}, ties {ties}");
    let (out_c, n, oh, ow) = (conv.out_c, conv.b.n, conv.b.oh, conv.b.ow);
    let (ph, pw) = (oh.div_ceil(2), ow.div_ceil(2));
    let per_sample = out_c * ph * pw;
    let p_sample = per_sample + conv.w0 * 3;
    let value = if ties { Lcg::coarse } else { Lcg::uniform };
    let w = rng.vec_with(conv.w_len(), |r| if ties { r.pick(&[-1.0, 0.0, 0.0, 1.0]) } else { r.uniform() });
    let (x, bias) = (conv.input_with(rng, value), rng.vec_with(out_c, value));
    let start = if bias_start { Start::Bias(&bias) } else { Start::Zero };
    let mut y = Out::new(conv.y_len(), 1 + out_c % 5);
    let mut pooled = Out::new(span(n, p_sample, per_sample), ow % 16);
    let (yb, pb) = (y.snapshot(), pooled.snapshot());
    let pools = k.conv_pools(&conv.g, out_c, (oh, ow), &start, routes);
    let ran =
        k.conv_relu_pool(&conv.g, (&w, conv.w0), out_c, &conv.b, (&x, y.m()), start, (pooled.m(), p_sample), routes);
    assert_eq!(ran, pools, "{ctx}: conv_relu_pool ran {ran}, conv_pools said {pools}");
    if is_avx512(k) {
        let rule = avx512_pools(&conv.g, out_c, (oh, ow), &start, routes);
        assert_eq!(pools, rule, "{ctx}: conv_pools {pools}, the pooling tiles' rule {rule}");
    }
    if !ran {
        untouched(&ctx, "y (declined)", &y, &yb);
        untouched(&ctx, "pooled (declined)", &pooled, &pb);
        return false;
    }
    // The outputs, contiguous, from the same backend's convolution.
    let mut g = conv.g;
    g.y_plane = oh * ow;
    let plain = ConvBatch { y_sample: out_c * oh * ow, relu: false, ..conv.b };
    let mut out = vec![0.0; n * out_c * oh * ow];
    assert!(k.conv_forward(&g, (&w, conv.w0), out_c, &plain, &x, &mut out, start), "{ctx}: conv_forward declined");
    for at in conv.outputs() {
        let (s, o, i, j) = at;
        let got = out[((s * out_c + o) * oh + i) * ow + j];
        let v = if bias_start { bias[o] as f64 } else { 0.0 } + conv.sum(&w, &x, at);
        let (diff, tol) = ((got as f64 - v).abs(), tolerance(v, conv.g.in_c * conv.g.k * conv.g.k + 1));
        assert!(diff <= tol, "{ctx}: conv_forward output {at:?} = {got:e}, reference {v:e}: |diff| {diff:e} > {tol:e}");
    }
    let planes = n * out_c;
    let p_ref = pool_ref(planes, oh, ow, &out, true);
    let mut want = vec![Want::Same; pooled.len];
    for s in 0..n {
        for q in 0..per_sample {
            want[s * p_sample + q] = Want::Bits(p_ref[s * per_sample + q]);
        }
    }
    verify(&ctx, "pooled", &pooled, &pb, &want);
    // The routes: records in each sample's outputs, nothing past them.
    let mut y_want = vec![Want::Same; y.len];
    if routes {
        let records = out_c * ph * ROUTE_BYTES / size_of::<f32>();
        for s in 0..n {
            y_want[s * conv.b.y_sample..s * conv.b.y_sample + records].fill(Want::Any);
        }
    }
    verify(&ctx, "y", &y, &yb, &y_want);
    if routes {
        let dy = rng.vec_with(planes * ph * pw, |r| if r.below(12) == 0 { -0.0 } else { r.uniform() });
        let relu_out: Vec<f32> = out.iter().map(|&v| relu_ref(v)).collect();
        let pool_dx = pool_grad_ref(planes, oh, ow, &relu_out, &p_ref, &dy);
        let want: Vec<Want> =
            (0..planes * oh * ow).map(|i| Want::Bits(relu_back_ref(relu_out[i], pool_dx[i]))).collect();
        let mut dx = Out::new(planes * oh * ow, oh % 16);
        let before = dx.snapshot();
        let r = (y.s(), out_c, conv.b.y_sample);
        assert!(k.maxpool2_backward_routes(planes, (oh, ow), r, &dy, dx.m()), "{ctx}: routes backward declined");
        verify(&ctx, "dx from the routes", &dx, &before, &want);
        let mut apply = vec![sentinel(); planes * oh * ow];
        assert!(k.maxpool2_backward(planes, (oh, ow), (&out, &p_ref), &dy, &mut apply, PoolRelu::Apply));
        assert_eq!(bits(dx.s()), bits(&apply), "{ctx}: from the routes vs maxpool2_backward (Apply) from the outputs");
    }
    true
}

/// `conv_relu_pool` pools, after a ReLU, the bits `conv_forward` computes
/// (the bits `maxpool2_forward` gives), for 3x3 and 5x5 kernels, rows of 1
/// to 32 (one or two segments, odd widths: a window without its right
/// column), heights with an edge window row and the tiles' remainders (1,
/// 2, 5, 7, 13), 4 and 8 channels, one to three input channels, zero and
/// bias starts, one and two samples, padded layouts (gaps between the
/// pooled samples kept), random sums and exact ones full of ties (positive
/// maxima equal within a window); with routes, writes only the route records into
/// the outputs, and `maxpool2_backward_routes` then gives the bits of the
/// pooling's backward with `PoolRelu::Apply`; without, leaves the outputs alone.
#[test]
fn conv_relu_pool_pools_conv_forward_bit_for_bit_and_routes_its_gradient() {
    let mut rng = Lcg::new(12);
    for k in backends() {
        let (mut case, mut ran) = (0usize, 0usize);
        for ks in [3, 5] {
            for ow in [1, 2, 3, 15, 16, 17, 31, 32] {
                for oh in [1, 2, 5, 7, 13] {
                    for routes in [false, true] {
                        for ties in [false, true] {
                            case += 1;
                            let (in_c, out_c) = (rng.pick(&[1, 2, 3]), rng.pick(&[4, 8]));
                            let mut conv = Conv::new(1 + rng.below(2), (in_c, out_c), ks, (oh, ow), rng.below(2));
                            conv.b.relu = rng.coin();
                            let bias = rng.coin();
                            ran += check_conv_relu_pool(k, &conv, bias, routes, ties, &mut rng) as usize;
                        }
                    }
                }
            }
        }
        if is_avx512(k) {
            // Every shape but the routes of rows of one output with an odd
            // height (1, 5, 7, 13), too short to hold them, for both kernels.
            assert_eq!(ran, case - 16, "{k:?}: pooling convolutions run");
        }
    }
}

/// `conv_pools` declines, and `conv_relu_pool` then returns `false` having
/// written nothing, where the pooling tiles say so: kernels of 1, 2 and 4,
/// rows of 33, 6, 1 and 17 output channels, a load start, routes that do
/// not fit an output (one output row of one column, three of one), and a
/// shape the channels-last convolution takes (16 channels, 275 taps).
#[test]
fn conv_pools_declines_where_documented_and_then_writes_nothing() {
    let mut rng = Lcg::new(13);
    // (in_c, out_c, k, oh, ow, routes)
    let declined = [
        (2, 4, 4, 4, 8, false),
        (2, 4, 1, 4, 8, false),
        (2, 4, 2, 3, 8, true),
        (2, 4, 3, 4, 33, false),
        (1, 8, 5, 2, 40, true),
        (2, 6, 3, 4, 8, false),
        (2, 1, 3, 4, 8, false),
        (2, 17, 5, 3, 8, true),
        (1, 4, 3, 1, 1, true),
        (1, 4, 5, 3, 1, true),
        (11, 16, 5, 2, 14, false),
    ];
    for k in backends() {
        for (in_c, out_c, ks, oh, ow, routes) in declined {
            let conv = Conv::new(2, (in_c, out_c), ks, (oh, ow), 1);
            let ctx = format!("{k:?} conv_pools {conv:?}, routes {routes}");
            for bias in [false, true] {
                let ran = check_conv_relu_pool(k, &conv, bias, routes, bias, &mut rng);
                assert!(!is_avx512(k) || !ran, "{ctx}: ran");
            }
            // A load start (the pooling tiles start at zero or the bias).
            let (w, x) = (rng.vec(conv.w_len()), conv.input(&mut rng));
            let mut y = Out::with(&rng.vec(conv.y_len()), 2);
            let mut pooled = Out::new(2 * out_c * oh.div_ceil(2) * ow.div_ceil(2), 0);
            let (yb, pb) = (y.snapshot(), pooled.snapshot());
            let pools = k.conv_pools(&conv.g, out_c, (oh, ow), &Start::Load, routes);
            assert!(!is_avx512(k) || !pools, "{ctx}: conv_pools accepts a load start");
            let p_sample = out_c * oh.div_ceil(2) * ow.div_ceil(2);
            let ran = k.conv_relu_pool(
                &conv.g,
                (&w, conv.w0),
                out_c,
                &conv.b,
                (&x, y.m()),
                Start::Load,
                (pooled.m(), p_sample),
                routes,
            );
            if !ran {
                untouched(&ctx, "y (load, declined)", &y, &yb);
                untouched(&ctx, "pooled (load, declined)", &pooled, &pb);
            }
        }
        // A load start on a shape the tiles take otherwise.
        let conv = Conv::new(1, (2, 4), 3, (4, 8), 0);
        assert!(!is_avx512(k) || k.conv_pools(&conv.g, 4, (4, 8), &Start::Zero, true));
        assert!(!is_avx512(k) || !k.conv_pools(&conv.g, 4, (4, 8), &Start::Load, false));
    }
}

/// Runs `conv_weight_grad` on `conv` into a gradient that is not zero and
/// checks it against `dw + Σ_{b,i,j} dy · x`.
fn check_conv_weight_grad(k: Kernels, conv: &Conv, rng: &mut Lcg) {
    let ctx = format!("{k:?} conv_weight_grad {conv:?}");
    let (in_c, out_c, ks) = (conv.g.in_c, conv.out_c, conv.g.k);
    let x = conv.input(rng);
    let mut dy = vec![sentinel(); conv.y_len()];
    for (s, o, i, j) in conv.outputs() {
        dy[conv.y_at(s, o, i, j)] = rng.uniform();
    }
    let dw0 = rng.vec(out_c * in_c * ks * ks);
    let mut want = Vec::with_capacity(dw0.len());
    for o in 0..out_c {
        for c in 0..in_c {
            for m in 0..ks {
                for n in 0..ks {
                    let mut acc = dw0[((o * in_c + c) * ks + m) * ks + n] as f64;
                    for s in 0..conv.b.n {
                        for i in 0..conv.b.oh {
                            for j in 0..conv.b.ow {
                                acc += dy[conv.y_at(s, o, i, j)] as f64 * x[conv.x_at(s, c, i + m, j + n)] as f64;
                            }
                        }
                    }
                    want.push(Want::Near(acc, conv.b.n * conv.b.oh * conv.b.ow + 1));
                }
            }
        }
    }
    let mut dw = Out::with(&dw0, (in_c + ks) % 16);
    let before = dw.snapshot();
    assert!(k.conv_weight_grad(&conv.g, out_c, &conv.b, &x, &dy, dw.m()), "{ctx}: declined");
    verify(&ctx, "dw", &dw, &before, &want);
}

/// `conv_weight_grad` adds within the tolerance of the reference, for
/// kernel sides 1 to 5, rows of one to three segments and their edges,
/// one input channel (the row-streaming paths for 3x3 and 5x5) and
/// several, output channels in blocks of 4 and alone, batches of 1 to 3,
/// one split into chunks of samples (17 samples), padded input layouts.
#[test]
fn conv_weight_grad_matches_the_reference_sums() {
    let mut rng = Lcg::new(14);
    for k in backends() {
        for ks in 1..=5 {
            for ow in [1, 15, 16, 17, 31, 32, 33] {
                for (in_c, out_c) in [(1, 1), (1, 5), (2, 4), (3, 6)] {
                    let oh = rng.pick(&[1, 3, 6]);
                    let mut conv = Conv::new(1 + rng.below(3), (in_c, out_c), ks, (oh, ow), rng.below(2));
                    // The output gradient's planes `oh·ow` apart (see the ignored test below).
                    conv.g.y_plane = oh * ow;
                    conv.b.y_sample = out_c * oh * ow + rng.below(2);
                    check_conv_weight_grad(k, &conv, &mut rng);
                }
            }
        }
        for (n, in_c, out_c, ks, oh, ow) in [(17, 2, 4, 3, 8, 8), (17, 1, 1, 3, 5, 20), (5, 3, 9, 5, 6, 14)] {
            let mut conv = Conv::new(n, (in_c, out_c), ks, (oh, ow), 0);
            conv.g.y_plane = oh * ow;
            conv.b.y_sample = out_c * oh * ow;
            check_conv_weight_grad(k, &conv, &mut rng);
        }
    }
}

/// `conv_weight_grad` reads the output gradient's channels `oh·ow` apart
/// (the kernels' layout, and every layer's): an entry with planes laid
/// otherwise is refused, not summed from the wrong floats (found by this
/// module: with `y_plane = oh·ow + 2` the kernels read the gaps).
#[test]
#[should_panic(expected = "output-gradient planes must lie oh x ow apart")]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    ignore = "refused by a fast backend; this target has none"
)]
fn conv_weight_grad_refuses_planes_not_oh_ow_apart() {
    let mut rng = Lcg::new(15);
    let k = backends()[0];
    let conv = Conv::new(2, (2, 4), 3, (3, 8), 2);
    assert_ne!(conv.g.y_plane, 3 * 8, "the case needs a gap between planes");
    let x = conv.input(&mut rng);
    let dy = rng.vec(2 * conv.b.y_sample + 64);
    let mut dw = vec![0.0; 4 * 2 * 9];
    k.conv_weight_grad(&conv.g, 4, &conv.b, &x, &dy, &mut dw);
}

/// `conv_weight_grad_t` adds within the tolerance of `dwt[t][o] +
/// Σ_{i,j} x[tap t + i·x_row + j] · dyt[i][j][o]`, for kernel sides 1 to 5,
/// 16 to 112 output channels (each channel tile: 64, 32 and 16 wide),
/// whole tap ranges, ranges that start and end on kernel rows (the 3x3 row
/// tile) and ranges that do not, empty ranges, more than 72 taps (several
/// chunks), several bands of rows, padded layouts; it writes nothing past `dwt`.
#[test]
fn conv_weight_grad_t_matches_the_reference_sums() {
    let mut rng = Lcg::new(16);
    for k in backends() {
        let mut shapes = Vec::new();
        for ks in 1..=5 {
            for (oh, ow) in [(1, 1), (3, 15), (5, 16), (2, 17), (9, 32), (4, 33)] {
                for out_c in [16, 32, 48, 64, 80] {
                    shapes.push((1 + rng.below(3), out_c, ks, oh, ow, rng.below(2)));
                }
            }
        }
        shapes.extend([(4, 64, 5, 9, 32, 0), (9, 16, 3, 3, 8, 1), (9, 48, 3, 4, 12, 0), (3, 16, 5, 2, 7, 2)]);
        for (in_c, out_c, ks, oh, ow, pad) in shapes {
            let conv = Conv::new(1, (in_c, out_c), ks, (oh, ow), pad);
            let g = &conv.g;
            let all = in_c * ks * ks;
            let x = conv.input(&mut rng);
            let dyt = rng.vec(oh * ow * out_c);
            let edge = if all >= 6 { 3 } else { 0 };
            let ranges = [0..all, edge..all - edge, all / 3..all - all / 2, all / 2..all / 2];
            for taps in ranges {
                let ctx = format!("{k:?} conv_weight_grad_t {conv:?}, taps {taps:?}");
                let dwt0 = rng.vec(taps.len() * out_c);
                let mut want = Vec::with_capacity(dwt0.len());
                for t in taps.clone() {
                    let (c, m, n) = (t / (ks * ks), t / ks % ks, t % ks);
                    for o in 0..out_c {
                        let mut acc = dwt0[(t - taps.start) * out_c + o] as f64;
                        for i in 0..oh {
                            for j in 0..ow {
                                acc += x[conv.x_at(0, c, i + m, j + n)] as f64 * dyt[(i * ow + j) * out_c + o] as f64;
                            }
                        }
                        want.push(Want::Near(acc, oh * ow + 1));
                    }
                }
                let mut dwt = Out::with(&dwt0, (taps.start + out_c) % 16);
                let before = dwt.snapshot();
                let ran = k.conv_weight_grad_t(g, taps.clone(), &x, (oh, ow), (&dyt, out_c), dwt.m());
                assert!(ran, "{ctx}: declined");
                verify(&ctx, "dwt", &dwt, &before, &want);
            }
        }
    }
}

/// Sizes that overflow `usize` are refused: a product that wrapped (in a
/// release build) to a small size would pass the length check and the
/// kernel would then walk the real extent (found by review:
/// `math::plane_sums` with `len = 2^63 + 8` read out of bounds).
#[test]
#[should_panic(expected = "kernels::lane_sums4: x holds 16 floats")]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    ignore = "refused by a fast backend; this target has none"
)]
fn lane_sums_of_planes_whose_extent_overflows_are_refused() {
    let k = backends()[0];
    k.lane_sums4(&[1.0; 16], (1 << 63) + 16, 2, 16);
}

/// The same for a product of dimensions: `c·h·w` that wraps to 4 floats.
#[test]
#[should_panic(expected = "kernels::maxpool2_forward: x holds 4 floats")]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    ignore = "refused by a fast backend; this target has none"
)]
fn pooling_dimensions_whose_product_overflows_are_refused() {
    let k = backends()[0];
    // h · w = 2^65 + 4: in 64 bits it wraps to 4.
    let (h, w) = (548_354, 134_560_842_621_442);
    k.maxpool2_forward(1, (h, w), &[0.0; 4], PoolRelu::Absent, &mut [0.0; 1]);
}
