//! Times tfconv's two 5x5 convolutions (`Conv2d<1, 32, 5, 2, 1>` on 28x28
//! and `Conv2d<32, 64, 5, 2, 1>` on 14x14, a batch of 32), forward and
//! backward (weight and input gradients), in µs and GFLOP/s: a forward
//! output costs `2·IN_C·25` flops, backward twice that. The cases run
//! alternated, round after round; the best round of each is reported.
//! Time is the thread's time on a CPU (Linux's `CLOCK_THREAD_CPUTIME_ID`,
//! wall time elsewhere), so that other processes sharing the cores weigh
//! less.
//!
//! ```text
//! CONSTNET_ISA=avx2 cargo run --release --example bench_conv [-- rounds]
//! ```

use constnet::{Conv2d, Flat, Grad, Layer, Mode, Parameters, Tensor};
#[cfg(not(target_os = "linux"))]
use std::time::Instant;

const B: usize = 32;

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

/// A 5x5 'same' case: `IC` to `OC` channels of `H x H`.
fn conv<const IC: usize, const OC: usize, const H: usize>() -> (f64, f64, f64) {
    let reps = 4;
    let (fwd, bwd) = time::<Conv2d<IC, OC, 5, 2, 1>, IC, H, H, OC, H, H>(reps);
    (2.0 * (IC * OC * 25 * H * H * B) as f64, fwd, bwd)
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    println!("backend {:?}, batch {B}, best of {rounds} alternated rounds", constnet::isa());
    let cases: [(&str, Case); 2] =
        [("conv2 32->64 14x14 5x5", conv::<32, 64, 14>), ("conv1 1->32 28x28 5x5", conv::<1, 32, 28>)];
    let mut best = [(0.0, f64::MAX, f64::MAX); 2];
    for _ in 0..rounds {
        for (b, (_, f)) in best.iter_mut().zip(&cases) {
            let (flops, fwd, bwd) = f();
            *b = (flops, b.1.min(fwd), b.2.min(bwd));
        }
    }
    println!("{:<24} {:>10} {:>10} {:>10} {:>10}", "case", "fwd us", "fwd GF/s", "bwd us", "bwd GF/s");
    for ((name, _), (flops, fwd, bwd)) in cases.iter().zip(best) {
        println!(
            "{name:<24} {:>10.1} {:>10.2} {:>10.1} {:>10.2}",
            fwd * 1e6,
            flops / fwd * 1e-9,
            bwd * 1e6,
            2.0 * flops / bwd * 1e-9
        );
    }
}
