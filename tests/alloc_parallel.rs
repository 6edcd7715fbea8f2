//! Zero allocations per step on every fast path, counted over all threads:
//! the data-parallel step (fashion10 and tfconv on 2 threads) and the
//! single-thread tfconv step and inference (AVX-512 conv, packed dense).
//!
//! One test only: the counter is global (the worker threads' allocations
//! count too), so no other test may run beside it in this binary.

use constnet::optim::{Adam, Optimizer, Sgd};
use constnet::parallel::ParallelTrainer;
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::zoo::{fashion10, tfconv};
use constnet::{Flat, Init, Network, Tensor};
use rand::SeedableRng;
use rand::rngs::SmallRng;

mod counting;

/// Counts every allocation of the process.
#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting(counting::Scope::Process);

/// Allocations made (by any thread) while `f` runs.
fn allocations(f: impl FnOnce()) -> usize {
    GLOBAL.allocations(f)
}

fn images<const B: usize>(seed: usize) -> Box<[Tensor<1, 28, 28>; B]> {
    let mut x = <[Tensor<1, 28, 28>; B]>::boxed_zeroed();
    for (s, t) in x.iter_mut().enumerate() {
        *t = Tensor::from_fn(|_, y, x| ((y * 3 + x * 7 + s + seed) % 17) as f32 / 8.0 - 1.0);
    }
    x
}

#[test]
fn parallel_and_fast_paths_allocate_nothing_per_step() {
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))), 1, "the counter counts");
    let mut rng = SmallRng::seed_from_u64(5);

    // fashion10, 2 threads x 16 samples.
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut trainer = ParallelTrainer::<fashion10::Params, 16, 2>::new(1);
    let mut opt = Sgd::new(0.01);
    let x = images::<32>(0);
    let y: [usize; 32] = core::array::from_fn(|i| i % 10);
    trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap(); // warm-up
    let n = allocations(|| {
        for _ in 0..5 {
            trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap();
        }
    });
    assert_eq!(n, 0, "fashion10 parallel step allocated {n} times");
    let sgd = Sgd::new(0.01);
    let n = allocations(|| {
        for _ in 0..3 {
            trainer.train_step_sgd(&mut *net, &x, &y, SoftmaxCrossEntropy, &sgd).unwrap();
        }
    });
    assert_eq!(n, 0, "fashion10 parallel fused-SGD step allocated {n} times");
    let mut adam = Adam::new(1e-3, fashion10::Params::boxed_zeroed(), fashion10::Params::boxed_zeroed());
    trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut adam).unwrap();
    let n = allocations(|| {
        for _ in 0..3 {
            trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut adam).unwrap();
        }
    });
    assert_eq!(n, 0, "fashion10 parallel Adam step allocated {n} times");
    // An optimizer that does not split: summed gradients, then its step on the caller.
    struct Whole(Sgd);
    impl Optimizer<fashion10::Params> for Whole {
        fn step(&mut self, params: &mut fashion10::Params, grads: &fashion10::Params) {
            self.0.step(params, grads)
        }
    }
    let mut whole = Whole(Sgd::new(0.01));
    trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut whole).unwrap();
    let n = allocations(|| {
        for _ in 0..3 {
            trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut whole).unwrap();
        }
    });
    assert_eq!(n, 0, "fashion10 parallel step with a whole-step optimizer allocated {n} times");
    drop(trainer);

    // tfconv, 2 threads x 2 samples; then one thread, batch 4; then inference.
    let mut net = tfconv::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut trainer = ParallelTrainer::<tfconv::Params, 2, 2>::new(2);
    let x = images::<4>(1);
    let y = [1, 7, 3, 0];
    trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap();
    let n = allocations(|| {
        trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap();
    });
    assert_eq!(n, 0, "tfconv parallel step allocated {n} times");
    drop(trainer);

    let mut st = TrainState::<tfconv::Params, 4>::boxed_zeroed();
    train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    let n = allocations(|| {
        train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    });
    assert_eq!(n, 0, "tfconv train_step allocated {n} times");

    let mut ws = tfconv::Workspace::<1>::boxed_zeroed();
    net.classify(&x[0], &mut ws);
    let n = allocations(|| {
        std::hint::black_box(net.classify(&x[1], &mut ws));
    });
    assert_eq!(n, 0, "tfconv inference allocated {n} times");

    // fashion10, one thread, batch 32 (packed dense path).
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut st = TrainState::<fashion10::Params, 32>::boxed_zeroed();
    let x = images::<32>(2);
    train_step(&mut *net, &x, &y_of::<32>(), SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    let n = allocations(|| {
        train_step(&mut *net, &x, &y_of::<32>(), SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    });
    assert_eq!(n, 0, "fashion10 batch-32 train_step allocated {n} times");
}

fn y_of<const B: usize>() -> [usize; B] {
    core::array::from_fn(|i| (i * 7) % 10)
}
