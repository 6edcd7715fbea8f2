//! Optimizer updates: SGD (with momentum) and Adam, element by element.

use super::vec::*;
use crate::kernels::AdamConsts;
use core::arch::x86_64::*;

/// One SGD update of `n` parameters, the same operations in the same order
/// as the portable loops of `optim::Sgd` (so the same bits): without
/// momentum state `p = p + (-lr)·g`; with it (`v`) `v = mu·v + g`,
/// `p = p - lr·v`. The vectors are [`aligned_vectors`]' (aligned stores,
/// whole vectors unmasked).
///
/// # Safety
/// AVX-512F; `p` (and `v`) readable and writable, `g` readable, for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn sgd_update(p: *mut f32, g: *const f32, v: Option<*mut f32>, n: usize, lr: f32, mu: f32) {
    let (neg_lr, lr, mu) = (_mm512_set1_ps(-lr), _mm512_set1_ps(lr), _mm512_set1_ps(mu));
    aligned_vectors(p, n, |i, l| {
        // SAFETY: the caller's contract; every access is masked to the n floats.
        unsafe {
            let (gv, pv) = (_mm512_maskz_loadu_ps(l, g.add(i)), _mm512_maskz_loadu_ps(l, p.add(i)));
            let pv = match v {
                None => _mm512_add_ps(pv, _mm512_mul_ps(neg_lr, gv)),
                Some(v) => {
                    let vv = _mm512_add_ps(_mm512_mul_ps(mu, _mm512_maskz_loadu_ps(l, v.add(i))), gv);
                    _mm512_mask_storeu_ps(v.add(i), l, vv);
                    _mm512_sub_ps(pv, _mm512_mul_ps(lr, vv))
                }
            };
            _mm512_mask_storeu_ps(p.add(i), l, pv);
        }
    });
}

/// One Adam update of `n` parameters, the same operations in the same order
/// as the portable loop of `optim::Adam` (so the same bits):
/// `m = b1·m + (1-b1)·g`, `v = b2·v + ((1-b2)·g)·g`,
/// `p -= lr·(m/c1) / (sqrt(v/c2) + eps)`, over [`aligned_vectors`]'.
///
/// # Safety
/// AVX-512F; `p`, `m`, `v` readable and writable, `g` readable, for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn adam_update(p: *mut f32, g: *const f32, m: *mut f32, v: *mut f32, n: usize, k: AdamConsts) {
    let set = _mm512_set1_ps;
    let (b1, b2, nb1, nb2) = (set(k.b1), set(k.b2), set(1.0 - k.b1), set(1.0 - k.b2));
    let (lr, eps, c1, c2) = (set(k.lr), set(k.eps), set(k.c1), set(k.c2));
    aligned_vectors(p, n, |i, l| {
        // SAFETY: the caller's contract; every access is masked to the n floats.
        unsafe {
            let gv = _mm512_maskz_loadu_ps(l, g.add(i));
            let mv = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(l, m.add(i))), _mm512_mul_ps(nb1, gv));
            let vv = _mm512_add_ps(
                _mm512_mul_ps(b2, _mm512_maskz_loadu_ps(l, v.add(i))),
                _mm512_mul_ps(_mm512_mul_ps(nb2, gv), gv),
            );
            let step = _mm512_div_ps(
                _mm512_mul_ps(lr, _mm512_div_ps(mv, c1)),
                _mm512_add_ps(_mm512_sqrt_ps(_mm512_div_ps(vv, c2)), eps),
            );
            _mm512_mask_storeu_ps(m.add(i), l, mv);
            _mm512_mask_storeu_ps(v.add(i), l, vv);
            _mm512_mask_storeu_ps(p.add(i), l, _mm512_sub_ps(_mm512_maskz_loadu_ps(l, p.add(i)), step));
        }
    });
}
