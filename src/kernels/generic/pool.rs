//! 2x2 max-pooling forward and backward (with a fused ReLU) over
//! [`Compute`], as `avx512/pool.rs`'s: strips of `2·LANES` columns, one
//! window a lane.

use crate::kernels::compute::Compute;
use crate::kernels::{ROUTE_BYTES, Route};

/// `n` lanes at `p`, `fill` in the others.
///
/// # Safety
/// `p` readable for `min(n, LANES)` floats.
#[inline(always)]
unsafe fn load_or<S: Compute>(s: S, p: *const f32, n: usize, fill: S::F) -> S::F {
    // SAFETY: the caller's contract.
    unsafe {
        if n >= S::LANES {
            s.loadp(p)
        } else if n == 0 {
            fill
        } else {
            s.select(s.first(n), s.load_n(p, n), fill)
        }
    }
}

/// A row's `2·LANES` columns at `p` (`n0` and `n1` real, `-inf` past
/// them), through the ReLU with `relu`.
///
/// # Safety
/// `p` readable for `n0` floats, `p + LANES` for `n1`.
#[inline(always)]
unsafe fn row<S: Compute>(
    s: S,
    p: *const f32,
    (n0, n1): (usize, usize),
    (ninf, zero): (S::F, S::F),
    relu: bool,
) -> (S::F, S::F) {
    // SAFETY: the caller's contract.
    let (lo, hi) = unsafe { (load_or(s, p, n0, ninf), load_or(s, p.add(S::LANES), n1, ninf)) };
    if relu { (s.max(lo, zero), s.max(hi, zero)) } else { (lo, hi) }
}

/// A row's columns at `p` as the windows' left and right columns, each
/// compared with the windows' maxima `m` (within the masks `left`, `right`).
///
/// # Safety
/// `p` readable for `n0` floats, `p + LANES` for `n1`.
#[inline(always)]
unsafe fn eq_max<S: Compute>(
    s: S,
    p: *const f32,
    (n0, n1): (usize, usize),
    m: S::F,
    (left, right): (S::M, S::M),
) -> (S::M, S::M) {
    // SAFETY: the caller's contract.
    let (lo, hi) = unsafe { (s.load_n(p, n0), s.load_n(p.add(S::LANES), n1)) };
    let (l, r) = s.unzip(lo, hi);
    (s.m_and(left, s.eq(l, m)), s.m_and(right, s.eq(r, m)))
}

/// The gradient `g` on the windows' left (`l`) and right (`r`) columns,
/// `+0` elsewhere, woven back into a row's columns at `p`.
///
/// # Safety
/// `p` writable for `n0` floats, `p + LANES` for `n1`.
#[inline(always)]
unsafe fn put<S: Compute>(s: S, p: *mut f32, (n0, n1): (usize, usize), g: S::F, l: S::M, r: S::M) {
    let zero = s.zero();
    let (lo, hi) = s.zip(s.select(l, g, zero), s.select(r, g, zero));
    // SAFETY: the caller's contract.
    unsafe {
        s.store_n(p, n0, lo);
        if n1 > 0 {
            s.store_n(p.add(S::LANES), n1, hi);
        }
    }
}

/// 2x2 max-pooling (stride 2, ceil mode) of `planes` planes of `h x w`
/// into `ceil(h/2) x ceil(w/2)`: the maximum of each window (rows first,
/// then the pair of columns), missing rows and columns of edge windows left
/// out; with `relu`, of `max(x, 0)`.
///
/// # Safety
/// `x` holds `planes*h*w` floats, `y` `planes*ceil(h/2)*ceil(w/2)`.
#[inline(always)]
pub(crate) unsafe fn maxpool2_forward<S: Compute>(
    s: S,
    (planes, h, w): (usize, usize, usize),
    x: *const f32,
    relu: bool,
    y: *mut f32,
) {
    let v = S::LANES;
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let (ninf, zero) = (s.splat(f32::NEG_INFINITY), s.zero());
    // SAFETY: the caller's contract; every load and store stays in its row.
    unsafe {
        for p in 0..planes {
            let yp = y.add(p * oh * ow);
            let mut c0 = 0;
            while c0 < w {
                let (n0, n1) = ((w - c0).min(v), (w - c0).saturating_sub(v).min(v));
                let (o0, no) = (c0 / 2, (ow - c0 / 2).min(v));
                for oy in 0..oh {
                    let r0 = p * h * w + 2 * oy * w + c0;
                    let (mut lo, mut hi) = row(s, x.add(r0), (n0, n1), (ninf, zero), relu);
                    if 2 * oy + 1 < h {
                        let (lo1, hi1) = row(s, x.add(r0 + w), (n0, n1), (ninf, zero), relu);
                        lo = s.max(lo, lo1);
                        hi = s.max(hi, hi1);
                    }
                    let (even, odd) = s.unzip(lo, hi);
                    s.store_n(yp.add(oy * ow + o0), no, s.max(even, odd));
                }
                c0 += 2 * v;
            }
        }
    }
}

/// The first of each window's inputs equal to its maximum, row-major: the
/// masks of the windows whose top-left, top-right, bottom-left and
/// bottom-right input equals it, each window kept in its first mask only.
#[inline(always)]
pub(super) fn first_max<S: Compute>(s: S, [tl, tr, bl, br]: [S::M; 4]) -> [S::M; 4] {
    let tr = s.m_andnot(tr, tl);
    let bl = s.m_andnot(bl, s.m_or(tl, tr));
    let br = s.m_andnot(br, s.m_or(s.m_or(tl, tr), bl));
    [tl, tr, bl, br]
}

/// Backward of [`maxpool2_forward`]: each `dy` goes to the first input of
/// its window (row-major) equal to the window's maximum `y`; every other
/// `dx` is `+0`. With `relu`, the ReLU's backward too: `dy` passes only
/// where the maximum is positive.
///
/// # Safety
/// `x`, `dx` hold `planes*h*w` floats, `y`, `dy` `planes*ceil(h/2)*ceil(w/2)`.
#[inline(always)]
pub(crate) unsafe fn maxpool2_backward<S: Compute>(
    s: S,
    (planes, h, w): (usize, usize, usize),
    (x, y, dy): (*const f32, *const f32, *const f32),
    dx: *mut f32,
    relu: bool,
) {
    let v = S::LANES;
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let zero = s.zero();
    // SAFETY: the caller's contract; every load and store stays in its row.
    unsafe {
        for p in 0..planes {
            let mut c0 = 0;
            while c0 < w {
                let n01 = ((w - c0).min(v), (w - c0).saturating_sub(v).min(v));
                let nl = (ow - c0 / 2).min(v);
                let lr = (s.first(nl), s.first((w - c0) / 2));
                for oy in 0..oh {
                    let i = p * oh * ow + oy * ow + c0 / 2;
                    let (m, mut g) = (s.load_n(y.add(i), nl), s.load_n(dy.add(i), nl));
                    if relu {
                        g = s.select(s.gt(m, zero), g, zero);
                    }
                    let top = p * h * w + 2 * oy * w + c0;
                    let (tl, tr) = eq_max(s, x.add(top), n01, m, lr);
                    let none = s.first(0);
                    let (bl, br) = if 2 * oy + 1 < h { eq_max(s, x.add(top + w), n01, m, lr) } else { (none, none) };
                    let [tl, tr, bl, br] = first_max(s, [tl, tr, bl, br]);
                    put(s, dx.add(top), n01, g, tl, tr);
                    if 2 * oy + 1 < h {
                        put(s, dx.add(top + w), n01, g, bl, br);
                    }
                }
                c0 += 2 * v;
            }
        }
    }
}

/// Backward of [`conv_pool_batch`](super::conv::conv_pool_batch)'s ReLU and
/// pooling, from the [`Route`]s it stored: each `dy` goes to the input of
/// its window the route names (none where no mask has the window), every
/// other `dx` is `+0`: the bits of [`maxpool2_backward`] with the ReLU from
/// the outputs the routes were taken from. The planes go in groups of
/// `per_sample`, each group's records from its first byte, `r_sample`
/// bytes apart.
///
/// # Safety
/// `w <= 32`; `dx` holds `planes*h*w` floats, `dy` `planes*ceil(h/2)*ceil(w/2)`,
/// and `routes` `ceil(h/2)` records for each of `per_sample` planes at each
/// multiple of `r_sample`, for every group.
#[inline(always)]
pub(crate) unsafe fn maxpool2_backward_routes<S: Compute>(
    s: S,
    (planes, h, w): (usize, usize, usize),
    (routes, per_sample, r_sample): (*const u8, usize, usize),
    dy: *const f32,
    dx: *mut f32,
) {
    let v = S::LANES;
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; every load and store stays in its row.
    unsafe {
        for p in 0..planes {
            let mut c0 = 0;
            while c0 < w {
                let n01 = ((w - c0).min(v), (w - c0).saturating_sub(v).min(v));
                let nl = (ow - c0 / 2).min(v);
                for oy in 0..oh {
                    let at = p / per_sample * r_sample + (p % per_sample * oh + oy) * ROUTE_BYTES;
                    let record = routes.add(at).cast::<Route>().read_unaligned();
                    let bits = |b: u16| u32::from(b) >> (c0 / 2);
                    let (tl, tr) = (s.mask_of_bits(bits(record[0])), s.mask_of_bits(bits(record[1])));
                    let (bl, br) = (s.mask_of_bits(bits(record[2])), s.mask_of_bits(bits(record[3])));
                    let g = s.load_n(dy.add((p * oh + oy) * ow + c0 / 2), nl);
                    let top = p * h * w + 2 * oy * w + c0;
                    put(s, dx.add(top), n01, g, tl, tr);
                    if 2 * oy + 1 < h {
                        put(s, dx.add(top + w), n01, g, bl, br);
                    }
                }
                c0 += 2 * v;
            }
        }
    }
}
