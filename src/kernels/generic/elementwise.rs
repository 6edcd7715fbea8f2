//! Element-wise kernels over [`Compute`], as `avx512/elementwise.rs` and
//! `avx512/optim.rs`: zero padding, ReLU forward and backward, the lane
//! sums of a bias gradient, the divergence check, and the SGD and Adam
//! updates. No FMA: each gives the bits of its reference loop.

use crate::kernels::AdamConsts;
use crate::kernels::compute::Compute;
use crate::kernels::simd::SIGN;

/// The vectors over `len` floats, as `(i, n)` (`n` lanes from float `i`),
/// laid so that the stores into `dst` are aligned to a vector: a partial
/// head up to `dst`'s first boundary, whole vectors, a partial tail. (An
/// iterator, not a function taking a closure: a closure in these generic
/// kernels is compiled without the backend's target features, and its
/// intrinsics were calls, seen in the symbols.)
#[inline(always)]
fn aligned_vectors(lanes: usize, dst: *mut f32, len: usize) -> Aligned {
    let head = dst.align_offset(lanes * 4).min(lanes - 1).min(len);
    Aligned { i: 0, head, len, lanes }
}

/// [`aligned_vectors`]' iterator.
struct Aligned {
    i: usize,
    head: usize,
    len: usize,
    lanes: usize,
}

impl Iterator for Aligned {
    type Item = (usize, usize);
    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize)> {
        let i = self.i;
        if i >= self.len {
            return None;
        }
        let n = if i < self.head { self.head } else { self.lanes.min(self.len - i) };
        self.i = i + n;
        Some((i, n))
    }
}

/// A vector of `n` lanes at `p`: a plain load for a whole one.
///
/// # Safety
/// `p` readable for `n` floats.
#[inline(always)]
unsafe fn load<S: Compute>(s: S, p: *const f32, n: usize) -> S::F {
    // SAFETY: the caller's contract.
    unsafe { if n >= S::LANES { s.loadp(p) } else { s.load_n(p, n) } }
}

/// Stores `n` lanes of `v` at `p`: a plain store for a whole vector.
///
/// # Safety
/// `p` writable for `n` floats.
#[inline(always)]
unsafe fn store<S: Compute>(s: S, p: *mut f32, n: usize, v: S::F) {
    // SAFETY: the caller's contract.
    unsafe { if n >= S::LANES { s.storep(p, v) } else { s.store_n(p, n, v) } }
}

/// Zeros over `n` floats from `d`.
///
/// # Safety
/// `d` writable for `n` floats.
#[inline(always)]
unsafe fn zeros<S: Compute>(s: S, d: *mut f32, n: usize) {
    let mut k = 0;
    while k < n {
        // SAFETY: the caller's contract.
        unsafe { store(s, d.add(k), n - k, s.zero()) };
        k += S::LANES;
    }
}

/// `c` planes of `h x w` from `src` into `dst` with `p` zeros on every
/// side, then `slack` zeros; every float's bits copied.
///
/// # Safety
/// `src` holds `c*h*w` floats, `dst` `c*(h+2p)*(w+2p) + slack`.
#[inline(always)]
pub(crate) unsafe fn pad_planes<S: Compute>(
    s: S,
    src: *const f32,
    (c, h, w, p): (usize, usize, usize, usize),
    dst: *mut f32,
    slack: usize,
) {
    let v = S::LANES;
    let (rw, rows) = (w + 2 * p, h + 2 * p);
    // SAFETY: the caller's contract; every store stays inside the padded
    // planes and the slack, every load inside the source rows.
    unsafe {
        let mut d = dst;
        for ch in 0..c {
            zeros(s, d, p * rw);
            zeros(s, d.add((p + h) * rw), p * rw);
            for r in 0..h {
                let (sr, dr) = (src.add((ch * h + r) * w), d.add((p + r) * rw));
                zeros(s, dr, p);
                let mut k = 0;
                while k < w {
                    store(s, dr.add(p + k), w - k, load(s, sr.add(k), w - k));
                    k += v;
                }
                zeros(s, dr.add(p + w), p);
            }
            d = d.add(rows * rw);
        }
        zeros(s, d, slack);
    }
}

/// `y = max(x, 0)` over `n` floats (NaN gives 0), the stores aligned.
///
/// # Safety
/// `x` readable and `y` writable for `n` floats.
#[inline(always)]
pub(crate) unsafe fn relu_forward<S: Compute>(s: S, x: *const f32, y: *mut f32, n: usize) {
    for (i, m) in aligned_vectors(S::LANES, y, n) {
        // SAFETY: the caller's contract; `i` and `m` stay inside the span.
        unsafe { store(s, y.add(i), m, s.max(load(s, x.add(i), m), s.zero())) }
    }
}

/// `dx = dy` where `y > 0`, else `+0`, over `n` floats, the stores aligned.
///
/// # Safety
/// `y`, `dy` readable and `dx` writable for `n` floats.
#[inline(always)]
pub(crate) unsafe fn relu_backward<S: Compute>(s: S, y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    for (i, m) in aligned_vectors(S::LANES, dx, n) {
        // SAFETY: the caller's contract; `i` and `m` stay inside the span.
        unsafe {
            let pos = s.gt(load(s, y.add(i), m), s.zero());
            store(s, dx.add(i), m, s.select(pos, load(s, dy.add(i), m), s.zero()));
        }
    }
}

/// The lane sums of up to four planes `len` floats apart: `out[p][l] =
/// Σ_k x[p·len + 16k + l]` over the first `full` floats of plane `p < np`
/// (a multiple of 16), `Q` vectors of `16 / Q` lanes an accumulator row,
/// each lane's sum in `math::sum`'s order (the bits of any vector width).
///
/// # Safety
/// `Q · LANES == 16`; `np <= 4`; planes `0..np` readable for `full` floats.
#[inline(always)]
pub(crate) unsafe fn lane_sums4<S: Compute, const Q: usize>(
    s: S,
    x: *const f32,
    len: usize,
    np: usize,
    full: usize,
) -> [[f32; 16]; 4] {
    debug_assert_eq!(Q * S::LANES, 16);
    let mut acc = [[s.zero(); Q]; 4];
    let mut out = [[0.0; 16]; 4];
    // SAFETY: the caller's contract; only planes below `np` are read.
    unsafe {
        let mut k = 0;
        while k < full {
            for (p, a) in acc.iter_mut().enumerate().take(np) {
                for (q, a) in a.iter_mut().enumerate() {
                    *a = s.add(*a, s.loadp(x.add(p * len + k + q * S::LANES)));
                }
            }
            k += 16;
        }
        for (a, o) in acc.iter().zip(out.iter_mut()) {
            for (q, a) in a.iter().enumerate() {
                s.storep(o.as_mut_ptr().add(q * S::LANES), *a);
            }
        }
    }
    out
}

/// Whether every one of the `n` floats at `x` has `|x| <= limit` (NaN
/// never does): four vectors a step, the passing lanes ANDed; the tail's
/// missing lanes load as 0 (which fails only a limit every real lane fails too).
///
/// # Safety
/// `x` readable for `n` floats.
#[inline(always)]
pub(crate) unsafe fn all_within<S: Compute>(s: S, x: *const f32, n: usize, limit: f32) -> bool {
    let v = S::LANES;
    let (lim, abs) = (s.splat(limit), s.float(s.splat_i(!SIGN as i32)));
    let mut ok = [s.first(v); 4];
    // SAFETY: the caller's contract; the tail's loads stay inside the `n` floats.
    unsafe {
        let mut k = 0;
        while k + 4 * v <= n {
            for (j, o) in ok.iter_mut().enumerate() {
                *o = s.m_and(*o, s.ge(lim, s.and(s.loadp(x.add(k + j * v)), abs)));
            }
            k += 4 * v;
        }
        while k < n {
            ok[0] = s.m_and(ok[0], s.ge(lim, s.and(s.load_n(x.add(k), n - k), abs)));
            k += v;
        }
    }
    let all = s.m_and(s.m_and(ok[0], ok[1]), s.m_and(ok[2], ok[3]));
    s.bitmask(all) == s.bitmask(s.first(v))
}

/// One SGD update of `n` parameters, the operations of `optim::Sgd`'s loops
/// in their order: without momentum state `p = p + (-lr)·g`; with it (`v`)
/// `v = mu·v + g`, `p = p - lr·v`.
///
/// # Safety
/// `p` (and `v`) readable and writable, `g` readable, for `n` floats.
#[inline(always)]
pub(crate) unsafe fn sgd_update<S: Compute>(
    s: S,
    (p, g, v): (*mut f32, *const f32, Option<*mut f32>),
    n: usize,
    lr: f32,
    mu: f32,
) {
    let (neg_lr, lr, mu) = (s.splat(-lr), s.splat(lr), s.splat(mu));
    for (i, l) in aligned_vectors(S::LANES, p, n) {
        // SAFETY: the caller's contract; every access stays inside the n floats.
        unsafe {
            let (gv, pv) = (load(s, g.add(i), l), load(s, p.add(i), l));
            let pv = match v {
                None => s.add(pv, s.mul(neg_lr, gv)),
                Some(v) => {
                    let vv = s.add(s.mul(mu, load(s, v.add(i), l)), gv);
                    store(s, v.add(i), l, vv);
                    s.sub(pv, s.mul(lr, vv))
                }
            };
            store(s, p.add(i), l, pv);
        }
    }
}

/// One Adam update of `n` parameters, the operations of `optim::Adam`'s
/// loop in their order: `m = b1·m + (1-b1)·g`, `v = b2·v + ((1-b2)·g)·g`,
/// `p -= lr·(m/c1) / (sqrt(v/c2) + eps)`.
///
/// # Safety
/// `p`, `m`, `v` readable and writable, `g` readable, for `n` floats.
#[inline(always)]
pub(crate) unsafe fn adam_update<S: Compute>(
    s: S,
    (p, g, m, v): (*mut f32, *const f32, *mut f32, *mut f32),
    n: usize,
    k: AdamConsts,
) {
    let (b1, b2, nb1, nb2) = (s.splat(k.b1), s.splat(k.b2), s.splat(1.0 - k.b1), s.splat(1.0 - k.b2));
    let (lr, eps, c1, c2) = (s.splat(k.lr), s.splat(k.eps), s.splat(k.c1), s.splat(k.c2));
    for (i, l) in aligned_vectors(S::LANES, p, n) {
        // SAFETY: the caller's contract; every access stays inside the n floats.
        unsafe {
            let gv = load(s, g.add(i), l);
            let mv = s.add(s.mul(b1, load(s, m.add(i), l)), s.mul(nb1, gv));
            let vv = s.add(s.mul(b2, load(s, v.add(i), l)), s.mul(s.mul(nb2, gv), gv));
            let step = s.div(s.mul(lr, s.div(mv, c1)), s.add(s.sqrt(s.div(vv, c2)), eps));
            store(s, m.add(i), l, mv);
            store(s, v.add(i), l, vv);
            store(s, p.add(i), l, s.sub(load(s, p.add(i), l), step));
        }
    }
}
