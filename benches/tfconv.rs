//! Criterion benchmarks: tfconv (3.3 M parameters) mini-batch training
//! (B = 32) on one thread and on two, and single-image inference.
//! `cargo bench -p constnet-bench --bench tfconv`
//!
//! Throughput is in samples, so criterion's "elem/s" is samples per second.

#[path = "workloads/mod.rs"]
mod workloads;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use workloads::*;

fn tfconv(c: &mut Criterion) {
    let data = load(2_000);
    let mut g = c.benchmark_group(format!("tfconv ({})", data.source));
    g.sample_size(10);
    g.throughput(Throughput::Elements(TFCONV_B as u64));
    let mut t = TfconvTrain::new();
    g.bench_function("train_step B=32", |b| b.iter(|| black_box(t.step(&data))));
    drop(t);
    let mut t = TfconvPar::new();
    g.bench_function("parallel train_step B=32, 2 threads", |b| b.iter(|| black_box(t.step(&data))));
    drop(t);
    g.throughput(Throughput::Elements(1));
    let mut t = TfconvInfer::new();
    g.bench_function("classify 1 image", |b| b.iter(|| black_box(t.step(&data))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = tfconv
}
criterion_main!(benches);
