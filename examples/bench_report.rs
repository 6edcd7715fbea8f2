//! Speed report: microseconds per sample for every benchmark workload, one
//! thread and both cores, beside the PyTorch reference figures.
//!
//! `cargo run --release --example bench_report [-- --json] [--quick] [--portable] [--only KEY,...]`
//!
//! Each figure is the median of several timed runs (5, or 3 with
//! `--quick`), each run repeating the workload for a fixed time budget
//! (1 s, or 0.25 s with `--quick`). The machine may be shared: run it a few
//! times and compare medians. With `--json` the last line is one JSON object
//! holding every figure. `--portable` runs the portable kernels
//! (`constnet::set_isa`, as `CONSTNET_ISA=portable` does);
//! `CONSTNET_ISA=reference` measures the layers' reference loops.
//! `--only` runs just the named workloads (keys as in the JSON, without
//! `_us`: `seed1_train`, `fashion10_train`, `fashion10_train_acc` (the
//! same mini-batches as 4 micro-batches of 8, `train_step_accumulated`), `fashion10_infer`,
//! `fashion10_train_2t`, `tfconv_train`, `tfconv_infer`, `tfconv_infer_b32`
//! (batches of 32 through `Network::infer`, µs per image), `tfconv_train_2t`,
//! `lenet_train`, `lenet_infer`: LeNet-5 with tanh and average pooling,
//! `resnet8_train`, `resnet8_train_2t`, `resnet8_infer`: the zoo's ResNet-8
//! with batch norm),
//! e.g. to time one of them in alternation with another build or tool.
//! With `CONSTNET_BENCH_CLOCK=thread` (Linux) the one-thread figures are
//! the main thread's CPU time, not wall time: on a machine shared with
//! other processes they then count only this one's work (the two-thread
//! rows are then meaningless: the other thread's time is not counted).
//!
//! A network's one- and two-thread training steps are timed in
//! alternation, run for run, and its two-thread speed-up is the median of
//! the per-run ratios: on a shared machine a neighbour's load comes and
//! goes, and the two medians, taken seconds apart, could each meet it or
//! miss it (their quotient ranged from 1.44x to 2.01x over three
//! consecutive reports).
//!
//! The workloads (see `benches/workloads/mod.rs`) call the library's own
//! entry points: `train::train_step`, `train::train_step_accumulated`, `Network::classify` and
//! `parallel::ParallelTrainer::train_step`, on real Fashion-MNIST images when
//! `/usr/share/datasets/fashion-mnist` is installed.

mod common;
#[path = "../benches/workloads/mod.rs"]
mod workloads;

use common::Json;
use std::hint::black_box;
use std::time::Instant;
use workloads::*;

/// Seconds on the clock the report times with: wall time since the first
/// call, or with `CONSTNET_BENCH_CLOCK=thread` this thread's CPU time
/// ([`common::layer_bench::thread_seconds`]; wall time where there is
/// none).
fn now() -> f64 {
    static START: std::sync::OnceLock<(Instant, bool)> = std::sync::OnceLock::new();
    let (start, thread) =
        *START.get_or_init(|| (Instant::now(), std::env::var("CONSTNET_BENCH_CLOCK").is_ok_and(|v| v == "thread")));
    if thread { common::layer_bench::thread_seconds() } else { start.elapsed().as_secs_f64() }
}

/// How many calls of `f` take about `budget` seconds (at least 2), after
/// a warm-up (caches, page faults, worker threads) of a quarter of that.
fn calibrate(budget: f64, f: &mut impl FnMut()) -> u64 {
    let t = now();
    let mut calls = 0u64;
    while now() - t < budget / 4.0 || calls < 2 {
        f();
        calls += 1;
    }
    let per = (now() - t) / calls as f64;
    ((budget / per) as u64).max(2)
}

/// Microseconds per call of `n` calls of `f`.
fn run_us(n: u64, f: &mut impl FnMut()) -> f64 {
    let t = now();
    for _ in 0..n {
        f();
    }
    (now() - t) * 1e6 / n as f64
}

/// The median of `v`.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median microseconds per call of `f`, over `runs` runs of `budget` seconds.
fn time_us(runs: usize, budget: f64, mut f: impl FnMut()) -> f64 {
    let n = calibrate(budget, &mut f);
    median((0..runs).map(|_| run_us(n, &mut f)).collect())
}

/// Two workloads timed in alternation, run for run (`a` first in even
/// runs, `b` first in odd ones), so that a neighbour's load that comes and
/// goes falls on both alike: the medians of each one's runs, and the
/// median of the per-run ratios `a / b`.
fn time_pair(runs: usize, budget: f64, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64, f64) {
    let (na, nb) = (calibrate(budget, &mut a), calibrate(budget, &mut b));
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for r in 0..runs {
        if r % 2 == 0 {
            ta.push(run_us(na, &mut a));
            tb.push(run_us(nb, &mut b));
        } else {
            tb.push(run_us(nb, &mut b));
            ta.push(run_us(na, &mut a));
        }
    }
    let ratios = ta.iter().zip(&tb).map(|(a, b)| a / b).collect();
    (median(ta), median(tb), median(ratios))
}

/// The workloads' keys (the report prints each network's two-thread
/// training step right after its one-thread one).
const KEYS: [&str; 14] = [
    "seed1_train",
    "fashion10_train",
    "fashion10_train_acc",
    "fashion10_infer",
    "fashion10_train_2t",
    "tfconv_train",
    "tfconv_infer",
    "tfconv_infer_b32",
    "tfconv_train_2t",
    "lenet_train",
    "lenet_infer",
    "resnet8_train",
    "resnet8_train_2t",
    "resnet8_infer",
];

/// One line of the report.
struct Row {
    key: &'static str,
    what: &'static str,
    us: f64,
    pytorch: Option<f64>,
    target: Option<f64>,
}

impl Row {
    /// The line of workload `key`, its time not yet measured.
    fn new(key: &'static str, what: &'static str, pytorch: Option<f64>, target: Option<f64>) -> Self {
        debug_assert!(KEYS.contains(&key), "{key} is not in KEYS");
        Row { key, what, us: f64::NAN, pytorch, target }
    }
}

/// The rows measured so far and how to measure the next.
struct Report {
    runs: usize,
    budget: f64,
    only: Option<Vec<String>>,
    rows: Vec<Row>,
}

impl Report {
    /// Whether `--only` asks for workload `key` (or is absent).
    fn wants(&self, key: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|k| k == key))
    }

    /// Times `row`'s workload unless `--only` left it out: `make` builds it
    /// (only then; it is dropped before the next), `step` runs it once over
    /// `per` samples, for `scale` times the time budget.
    fn time<W, R>(
        &mut self,
        mut row: Row,
        per: usize,
        scale: f64,
        make: impl FnOnce() -> W,
        mut step: impl FnMut(&mut W) -> R,
    ) {
        if !self.wants(row.key) {
            return;
        }
        let mut w = make();
        row.us = time_us(self.runs, self.budget * scale, || {
            black_box(step(&mut w));
        }) / per as f64;
        self.rows.push(row);
    }

    /// A network's training step on one thread (`one`) and on two
    /// (`two`), both over `per` samples a step: timed in alternation
    /// ([`time_pair`]) when `--only` asks for both, and then the two-thread
    /// speed-up (the median of the per-run ratios) is returned; either
    /// alone is timed as [`time`](Report::time) times it.
    fn time_threads<W1, W2, R1, R2>(
        &mut self,
        (mut one, make_one, mut step_one): (Row, impl FnOnce() -> W1, impl FnMut(&mut W1) -> R1),
        (mut two, make_two, mut step_two): (Row, impl FnOnce() -> W2, impl FnMut(&mut W2) -> R2),
        per: usize,
        scale: f64,
    ) -> Option<f64> {
        if !(self.wants(one.key) && self.wants(two.key)) {
            self.time(one, per, scale, make_one, step_one);
            self.time(two, per, scale, make_two, step_two);
            return None;
        }
        let (mut w1, mut w2) = (make_one(), make_two());
        let (t1, t2, ratio) = time_pair(
            self.runs,
            self.budget * scale,
            || {
                black_box(step_one(&mut w1));
            },
            || {
                black_box(step_two(&mut w2));
            },
        );
        (one.us, two.us) = (t1 / per as f64, t2 / per as f64);
        self.rows.extend([one, two]);
        Some(ratio)
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let only: Option<Vec<String>> = match args.iter().position(|a| a == "--only") {
        Some(i) if i + 1 < args.len() => {
            let list = args.remove(i + 1).split(',').map(str::to_owned).collect();
            args.remove(i);
            Some(list)
        }
        Some(_) => {
            eprintln!("bench_report: --only needs a list of workloads, e.g. --only seed1_train,tfconv_infer");
            std::process::exit(2);
        }
        None => None,
    };
    if let Some(bad) = only.iter().flatten().find(|k| !KEYS.contains(&k.as_str())) {
        eprintln!("bench_report: unknown workload {bad:?} (expected one of {})", KEYS.join(", "));
        std::process::exit(2);
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(bad) = args.iter().find(|a| !matches!(a.as_str(), "--json" | "--quick" | "--portable")) {
        eprintln!("bench_report: unknown argument {bad:?} (expected --json, --quick, --portable, --only)");
        std::process::exit(2);
    }
    if args.iter().any(|a| a == "--portable")
        && let Err(e) = constnet::set_isa(constnet::Isa::Portable)
    {
        eprintln!("bench_report: --portable: {e}");
        std::process::exit(2);
    }
    let (runs, budget) = if quick { (3, 0.25) } else { (5, 1.0) };
    let data = load(if quick { 2_000 } else { 10_000 });
    let mut report = Report { runs, budget, only, rows: Vec::new() };
    report.time(
        Row::new("seed1_train", "seed1 training, B=1", Some(12.2), Some(1.0)),
        1,
        1.0,
        || Seed1Train::new(&data),
        |s| s.step(),
    );
    let f10 = report.time_threads(
        (Row::new("fashion10_train", "fashion10 training, B=32", Some(76.0), Some(15.0)), Fashion10Train::new, |w| {
            w.step(&data)
        }),
        (Row::new("fashion10_train_2t", "fashion10 training, B=32, 2 threads", None, None), Fashion10Par::new, |w| {
            w.step(&data)
        }),
        FASHION_B,
        1.0,
    );
    report.time(
        Row::new("fashion10_train_acc", "fashion10 training, B=32 as 4 x 8", Some(76.0), Some(15.0)),
        FASHION_B,
        1.0,
        Fashion10TrainAcc::new,
        |w| w.step(&data),
    );
    report.time(
        Row::new("fashion10_infer", "fashion10 inference, 1 image", Some(78.0), Some(4.0)),
        1,
        1.0,
        Fashion10Infer::new,
        |w| w.step(&data),
    );
    let tf = report.time_threads(
        (Row::new("tfconv_train", "tfconv training, B=32", Some(756.0), Some(500.0)), TfconvTrain::new, |w| {
            w.step(&data)
        }),
        (Row::new("tfconv_train_2t", "tfconv training, B=32, 2 threads", None, None), TfconvPar::new, |w| {
            w.step(&data)
        }),
        TFCONV_B,
        2.0,
    );
    report.time(
        Row::new("tfconv_infer", "tfconv inference, 1 image", Some(561.0), Some(250.0)),
        1,
        1.0,
        TfconvInfer::new,
        |w| w.step(&data),
    );
    report.time(
        Row::new("tfconv_infer_b32", "tfconv inference, B=32 (per image)", None, None),
        TFCONV_B,
        1.0,
        TfconvInferBatch::new,
        |w| w.step(&data),
    );
    report.time(
        Row::new("lenet_train", "LeNet-5 (tanh, avg-pool) training, B=32", None, None),
        LENET_B,
        1.0,
        LenetTrain::new,
        |w| w.step(&data),
    );
    report.time(Row::new("lenet_infer", "LeNet-5 inference, 1 image", None, None), 1, 1.0, LenetInfer::new, |w| {
        w.step(&data)
    });
    let rn = report.time_threads(
        (Row::new("resnet8_train", "ResNet-8 (batch norm) training, B=32", None, None), Resnet8Train::new, |w| {
            w.step(&data)
        }),
        (Row::new("resnet8_train_2t", "ResNet-8 training, B=32, 2 threads", None, None), Resnet8Par::new, |w| {
            w.step(&data)
        }),
        RESNET_B,
        1.0,
    );
    report.time(Row::new("resnet8_infer", "ResNet-8 inference, 1 image", None, None), 1, 1.0, Resnet8Infer::new, |w| {
        w.step(&data)
    });
    let rows = report.rows;
    // The two-thread speed-ups whose two workloads both ran (alternated).
    let speedups: Vec<(&str, f64)> =
        [("fashion10", f10), ("tfconv", tf), ("resnet8", rn)].into_iter().filter_map(|(n, v)| Some((n, v?))).collect();

    println!(
        "constnet bench_report ({} images: {}; {} path; median of {runs} runs)",
        data.images.len(),
        data.source,
        constnet::isa().name()
    );
    println!("{:<40} {:>12} {:>14} {:>10}", "workload", "us/sample", "PyTorch ref", "target");
    for r in &rows {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        println!("{:<40} {:>12.2} {:>14} {:>10}", r.what, r.us, opt(r.pytorch), opt(r.target));
    }
    let shown: Vec<String> = speedups.iter().map(|(n, v)| format!("{n} {v:.2}x")).collect();
    if !shown.is_empty() {
        println!(
            "2-thread speedup: {} (target >= 1.8x; median of the ratios of {runs} alternated runs)",
            shown.join(", ")
        );
    }
    println!(
        "PyTorch ref: the performance issue's figures (PyTorch 2.15, one thread, AMD Zen 5), not this machine's;\n\
         for PyTorch on this machine run ../shared/bench/torch_reference.py 1 tfconv beside this report."
    );
    if json {
        // Three decimals, as the figures are printed.
        let r3 = |v: f64| (v * 1e3).round() / 1e3;
        let mut out = Json::default()
            .str("data", data.source)
            .str("simd", constnet::isa().name())
            .num("runs", runs as f64)
            .num("budget_s", budget);
        for r in &rows {
            out = out.num(&format!("{}_us", r.key), r3(r.us));
        }
        for (n, v) in &speedups {
            out = out.num(&format!("{n}_speedup_2t"), r3(*v));
        }
        println!("{}", out.render());
    }
}
