//! What the layer benchmarks (`bench_conv`, `bench_depthwise`) share, and
//! `bench_report`'s thread clock: time on this thread's CPU, a layer's
//! forward and backward pass over a batch, and cases run in alternated
//! rounds.

use constnet::{Flat, Grad, Layer, Mode, Parameters, Tensor};

/// Seconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`): the
/// time other processes on a shared core take is left out.
#[cfg(unix)]
pub fn thread_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid `timespec` to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Seconds of wall time since the first call, where there is no thread
/// clock.
#[cfg(not(unix))]
pub fn thread_seconds() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
}

/// A case: flops of a forward pass, then seconds of a forward and of a
/// backward pass (which costs twice the flops).
pub type Case = fn() -> (f64, f64, f64);

/// Thread seconds of one forward and one backward pass (weight and input
/// gradients) of layer `L` over a batch of `B` zero inputs, He-initialised,
/// averaged over `reps`.
pub fn time_layer<
    L: Layer<C, H, W> + Parameters,
    const B: usize,
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
    let mut layer = L::boxed_zeroed();
    layer.init(constnet::Init::He, &mut rng);
    let x = <[Tensor<C, H, W>; B]>::boxed_zeroed();
    let mut y = <[Tensor<OC, OH, OW>; B]>::boxed_zeroed();
    let mut cache = L::Cache::<B>::boxed_zeroed();
    let mut dx = <[Tensor<C, H, W>; B]>::boxed_zeroed();
    let mut g = L::boxed_zeroed();
    let t = thread_seconds();
    for _ in 0..reps {
        layer.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
    }
    let fwd = (thread_seconds() - t) / reps as f64;
    let t = thread_seconds();
    for _ in 0..reps {
        layer.backward(&x, &y, &mut cache, &y, Some(&mut dx), &mut g, Grad::Overwrite);
    }
    (fwd, (thread_seconds() - t) / reps as f64)
}

/// Runs `cases` one after another for the rounds the first command-line
/// argument asks (default 5) and prints each case's best round, in µs
/// and GFLOP/s.
pub fn run_cases(batch: usize, cases: &[(&str, Case)]) {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    println!("backend {:?}, batch {batch}, best of {rounds} alternated rounds", constnet::isa());
    let mut best = vec![(0.0, f64::MAX, f64::MAX); cases.len()];
    for _ in 0..rounds {
        for (b, (_, f)) in best.iter_mut().zip(cases) {
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
