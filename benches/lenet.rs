//! Criterion benchmarks: LeNet-5 (tanh, 2x2 average pooling) mini-batch
//! training (B = 32) on one thread, and single-image inference.
//! `cargo bench -p constnet-bench --bench lenet`
//!
//! Throughput is in samples, so criterion's "elem/s" is samples per second.

#[path = "workloads/mod.rs"]
mod workloads;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use workloads::*;

fn lenet(c: &mut Criterion) {
    let data = load(2_000);
    let mut g = c.benchmark_group(format!("lenet ({})", data.source));
    g.throughput(Throughput::Elements(LENET_B as u64));
    let mut t = LenetTrain::new();
    g.bench_function("train_step B=32", |b| b.iter(|| black_box(t.step(&data))));
    drop(t);
    g.throughput(Throughput::Elements(1));
    let mut t = LenetInfer::new();
    g.bench_function("classify 1 image", |b| b.iter(|| black_box(t.step(&data))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = lenet
}
criterion_main!(benches);
