//! Criterion benchmarks: fashion10 mini-batch training (B = 32) on one
//! thread (also as 4 micro-batches of 8) and on two, and single-image inference. `cargo bench -p constnet-bench --bench fashion10`
//!
//! Throughput is in samples, so criterion's "elem/s" is samples per second.

#[path = "workloads/mod.rs"]
mod workloads;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use workloads::*;

fn fashion10(c: &mut Criterion) {
    let data = load(2_000);
    let mut g = c.benchmark_group(format!("fashion10 ({})", data.source));
    g.throughput(Throughput::Elements(FASHION_B as u64));
    let mut t = Fashion10Train::new();
    g.bench_function("train_step B=32", |b| b.iter(|| black_box(t.step(&data))));
    drop(t);
    let mut t = Fashion10TrainAcc::new();
    g.bench_function("train_step_accumulated B=32 as 4 x 8", |b| b.iter(|| black_box(t.step(&data))));
    drop(t);
    let mut t = Fashion10Par::new();
    g.bench_function("parallel train_step B=32, 2 threads", |b| b.iter(|| black_box(t.step(&data))));
    drop(t);
    g.throughput(Throughput::Elements(1));
    let mut t = Fashion10Infer::new();
    g.bench_function("classify 1 image", |b| b.iter(|| black_box(t.step(&data))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = fashion10
}
criterion_main!(benches);
