//! Times MobileNet's two convolutions, forward and backward, in µs and
//! GFLOP/s: `DepthwiseConv2d` 3x3 (padding 1, stride 1 and 2) on 16-64
//! channels of 28x28 and 14x14, and the pointwise 1x1 `Conv2d`s of
//! example 11. A depthwise output costs 2·9 flops forward, a pointwise
//! one 2·IN_C; backward costs twice that (weight and input gradients).
//! The cases run alternated, round after round; the best round of each
//! is reported. Time is the thread's time on a CPU (Linux's
//! `CLOCK_THREAD_CPUTIME_ID`, wall time elsewhere), so that other
//! processes sharing the cores weigh less.
//!
//! ```text
//! cargo run --release --example bench_depthwise [-- rounds]
//! ```

use constnet::{Conv2d, DepthwiseConv2d, Flat, Grad, Layer, Mode, Parameters, Tensor};
#[cfg(not(target_os = "linux"))]
use std::time::Instant;

const B: usize = 16;

/// A case: flops, then seconds of a forward and of a backward pass.
type Case = fn() -> (f64, f64, f64);

/// Seconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`), or
/// of wall time off Linux.
#[cfg(target_os = "linux")]
fn now() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid `struct timespec` (64-bit Linux) to write into.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// Seconds of wall time since the first call.
#[cfg(not(target_os = "linux"))]
fn now() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Seconds of one forward and one backward pass of `conv` over a batch,
/// averaged over `reps`.
fn time<
    L: Layer<C, H, W> + Parameters,
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const OH: usize,
    const OW: usize,
>(
    reps: usize,
) -> (f64, f64) {
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
    let mut conv = L::boxed_zeroed();
    conv.init(constnet::Init::He, &mut rng);
    let x = <[Tensor<C, H, W>; B]>::boxed_zeroed();
    let mut y = <[Tensor<OC, OH, OW>; B]>::boxed_zeroed();
    let mut cache = L::Cache::<B>::boxed_zeroed();
    let mut dx = <[Tensor<C, H, W>; B]>::boxed_zeroed();
    let mut g = L::boxed_zeroed();
    let t = now();
    for _ in 0..reps {
        conv.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
    }
    let fwd = (now() - t) / reps as f64;
    let t = now();
    for _ in 0..reps {
        conv.backward(&x, &y, &mut cache, &y, Some(&mut dx), &mut g, Grad::Overwrite);
    }
    (fwd, (now() - t) / reps as f64)
}

/// A depthwise 3x3 case: `C` planes of `H x H`, stride `S`.
fn depthwise<const C: usize, const H: usize, const S: usize, const OH: usize>() -> (f64, f64, f64) {
    let reps = (2_000_000 / (C * OH * OH * B)).max(1);
    let (fwd, bwd) = time::<DepthwiseConv2d<C, 3, 1, S>, C, H, H, C, OH, OH>(reps);
    (2.0 * 9.0 * (C * OH * OH * B) as f64, fwd, bwd)
}

/// A pointwise 1x1 case: `IC` to `OC` channels of `H x H`.
fn pointwise<const IC: usize, const OC: usize, const H: usize>() -> (f64, f64, f64) {
    let reps = (8_000_000 / (IC * OC * H * H * B / 16)).max(1);
    let (fwd, bwd) = time::<Conv2d<IC, OC, 1, 0, 1, false>, IC, H, H, OC, H, H>(reps);
    (2.0 * (IC * OC * H * H * B) as f64, fwd, bwd)
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    println!("backend {:?}, batch {B}, best of {rounds} alternated rounds", constnet::isa());
    let cases: [(&str, Case); 15] = [
        ("16 x 28x28, stride 1", depthwise::<16, 28, 1, 28>),
        ("32 x 28x28, stride 1", depthwise::<32, 28, 1, 28>),
        ("32 x 28x28, stride 2", depthwise::<32, 28, 2, 14>),
        ("64 x 14x14, stride 1", depthwise::<64, 14, 1, 14>),
        ("64 x 14x14, stride 2", depthwise::<64, 14, 2, 7>),
        ("16 x 14x14, stride 1", depthwise::<16, 14, 1, 14>),
        ("64 x 28x28, stride 1", depthwise::<64, 28, 1, 28>),
        ("64 x 28x28, stride 2", depthwise::<64, 28, 2, 14>),
        ("128 x 7x7, stride 1", depthwise::<128, 7, 1, 7>),
        ("1x1 16->32 28x28", pointwise::<16, 32, 28>),
        ("1x1 32->64 14x14", pointwise::<32, 64, 14>),
        ("1x1 64->64 14x14", pointwise::<64, 64, 14>),
        ("1x1 16->32 14x14", pointwise::<16, 32, 14>),
        ("1x1 64->128 7x7", pointwise::<64, 128, 7>),
        ("1x1 128->128 7x7", pointwise::<128, 128, 7>),
    ];
    let mut best = [(0.0, f64::MAX, f64::MAX); 15];
    for _ in 0..rounds {
        for (b, (_, f)) in best.iter_mut().zip(&cases) {
            let (flops, fwd, bwd) = f();
            *b = (flops, b.1.min(fwd), b.2.min(bwd));
        }
    }
    println!("{:<22} {:>10} {:>10} {:>10} {:>10}", "case", "fwd us", "fwd GF/s", "bwd us", "bwd GF/s");
    for ((name, _), (flops, fwd, bwd)) in cases.iter().zip(best) {
        println!(
            "{name:<22} {:>10.1} {:>10.2} {:>10.1} {:>10.2}",
            fwd * 1e6,
            flops / fwd * 1e-9,
            bwd * 1e6,
            2.0 * flops / bwd * 1e-9
        );
    }
}
