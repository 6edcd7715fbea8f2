//! Criterion benchmark: seed-1 training, per-sample SGD (B = 1), through
//! `train::train_step`. `cargo bench -p constnet-bench --bench seed1`
//!
//! `examples/bench_report.rs` prints the same workloads as a table.

#[path = "workloads/mod.rs"]
mod workloads;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use workloads::*;

fn seed1(c: &mut Criterion) {
    let data = load(2_000);
    let mut g = c.benchmark_group(format!("seed1 ({})", data.source));
    g.throughput(Throughput::Elements(1));
    let mut s = Seed1Train::new(&data);
    g.bench_function("train_step B=1", |b| b.iter(|| black_box(s.step())));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = seed1
}
criterion_main!(benches);
