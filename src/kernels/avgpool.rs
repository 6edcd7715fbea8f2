//! 2x2 average pooling (stride 2, ceil mode), forward and backward,
//! written once over the vector width ([`Simd`]).
//!
//! The bits of `AvgPool2d`'s reference loops: a window's sum is
//! `(a + b) + (c + d)` (its rows' sums, row by row), divided by the
//! number of inputs it covers; a full window's `/ 4` is the multiply by
//! `0.25` (both are exact scalings, rounded alike). Full windows run a
//! vector of outputs at a time (the pairs summed by [`Simd::pair_sums`],
//! the gradient spread by [`Simd::spread`]); the partial windows of an
//! odd last column or row are scalar.

use super::simd::Simd;

/// The `2m` floats of `row` from `c` as two vectors (`m <= LANES` outputs):
/// loads, masked at a short end.
#[inline(always)]
fn load_pairs<S: Simd>(s: S, row: &[f32], c: usize, m: usize) -> (S::F, S::F) {
    let l = S::LANES;
    if m == l {
        (s.load(&row[c..]), s.load(&row[c + l..]))
    } else {
        let end = c + 2 * m;
        let mid = (c + l).min(end);
        (if mid - c == l { s.load(&row[c..]) } else { s.load_tail(&row[c..mid]) }, s.load_tail(&row[mid..end]))
    }
}

/// Stores `(lo, hi)`'s first `2m` floats into `row` from `c`.
#[inline(always)]
fn store_pairs<S: Simd>(s: S, row: &mut [f32], c: usize, m: usize, (lo, hi): (S::F, S::F)) {
    let l = S::LANES;
    if m == l {
        s.store(&mut row[c..], lo);
        s.store(&mut row[c + l..], hi);
    } else {
        let end = c + 2 * m;
        let mid = (c + l).min(end);
        if mid - c == l {
            s.store(&mut row[c..], lo);
        } else {
            s.store_tail(&mut row[c..mid], lo);
        }
        s.store_tail(&mut row[mid..end], hi);
    }
}

/// `y` = the 2x2 averages of `planes` planes of `h x w` from `x`, into
/// `ceil(h/2) x ceil(w/2)` each.
///
/// # Panics
/// If `x` holds fewer than `planes·h·w` floats or `y` fewer than
/// `planes·ceil(h/2)·ceil(w/2)`.
#[inline(always)]
pub(crate) fn forward<S: Simd>(s: S, planes: usize, (h, w): (usize, usize), x: &[f32], y: &mut [f32]) {
    let (oh, ow, fw) = (h.div_ceil(2), w.div_ceil(2), w / 2);
    if planes * h * w == 0 {
        return;
    }
    let quarter = s.splat(0.25);
    for (xp, yp) in x[..planes * h * w].chunks_exact(h * w).zip(y[..planes * oh * ow].chunks_exact_mut(oh * ow)) {
        for (i, yr) in yp.chunks_exact_mut(ow).enumerate() {
            let r0 = &xp[2 * i * w..(2 * i + 1) * w];
            // A second row, or none in an odd last row.
            let r1 = (2 * i + 1 < h).then(|| &xp[(2 * i + 1) * w..(2 * i + 2) * w]);
            let Some(r1) = r1 else {
                for (j, v) in yr.iter_mut().enumerate() {
                    *v = if 2 * j + 1 < w { (r0[2 * j] + r0[2 * j + 1]) / 2.0 } else { r0[2 * j] };
                }
                continue;
            };
            let mut j = 0;
            while j < fw {
                let m = S::LANES.min(fw - j);
                let (a, b) = load_pairs(s, r0, 2 * j, m);
                let (c, d) = load_pairs(s, r1, 2 * j, m);
                let v = s.mul(s.add(s.pair_sums(a, b), s.pair_sums(c, d)), quarter);
                if m == S::LANES {
                    s.store(&mut yr[j..], v);
                } else {
                    s.store_tail(&mut yr[j..j + m], v);
                }
                j += m;
            }
            if fw < ow {
                yr[fw] = (r0[w - 1] + r1[w - 1]) / 2.0;
            }
        }
    }
}

/// `dx` = the gradient of [`forward`] from `dy`: every input of a window
/// receives the window's `dy` divided by the number of inputs it covers.
///
/// # Panics
/// If `dy` holds fewer than `planes·ceil(h/2)·ceil(w/2)` floats or `dx`
/// fewer than `planes·h·w`.
#[inline(always)]
pub(crate) fn backward<S: Simd>(s: S, planes: usize, (h, w): (usize, usize), dy: &[f32], dx: &mut [f32]) {
    let (oh, ow, fw) = (h.div_ceil(2), w.div_ceil(2), w / 2);
    if planes * h * w == 0 {
        return;
    }
    let quarter = s.splat(0.25);
    for (gp, dp) in dy[..planes * oh * ow].chunks_exact(oh * ow).zip(dx[..planes * h * w].chunks_exact_mut(h * w)) {
        for (i, gr) in gp.chunks_exact(ow).enumerate() {
            let rows = &mut dp[2 * i * w..((2 * i + 2) * w).min(h * w)];
            if rows.len() == w {
                // An odd last row: windows of two inputs, or one.
                for (j, d) in rows.iter_mut().enumerate() {
                    *d = if j < 2 * fw { gr[j / 2] / 2.0 } else { gr[j / 2] };
                }
                continue;
            }
            let (r0, r1) = rows.split_at_mut(w);
            let mut j = 0;
            while j < fw {
                let m = S::LANES.min(fw - j);
                let g = if m == S::LANES { s.load(&gr[j..]) } else { s.load_tail(&gr[j..j + m]) };
                let pairs = s.spread(s.mul(g, quarter));
                store_pairs(s, r0, 2 * j, m, pairs);
                store_pairs(s, r1, 2 * j, m, pairs);
                j += m;
            }
            if fw < ow {
                let g = gr[fw] / 2.0;
                (r0[w - 1], r1[w - 1]) = (g, g);
            }
        }
    }
}
