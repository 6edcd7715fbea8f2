//! The shared weight gradient of the parallel trainer on the reference
//! loops (`set_isa(Isa::Reference)`, which fixes the kernels for the whole
//! process: hence a test binary of its own): a dense layer's shares of rows over parts of a
//! batch, and a two-thread step against the one-thread step.

use constnet::optim::Sgd;
use constnet::parallel::ParallelTrainer;
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::{Dense, Flat, Init, Isa, Layer, Network, Parameters, Relu, Softmax, Tensor, isa, network, set_isa};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

network! {
    /// A dense layer of 2^18 weights (shared), a ReLU, a small dense layer.
    mod wide {
        input: Tensor<4, 16, 16>,
        big: Dense<1024, 256>,
        relu: Relu,
        small: Dense<256, 10>,
        out: Softmax,
    }
}

fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    let diff = a.iter().zip(b).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(diff < tol, "{what}: differs by {diff}");
}

#[test]
fn reference_shares_make_the_weight_gradient_and_the_two_thread_step() {
    set_isa(Isa::Reference).expect("the first kernel use of this process");
    assert_eq!(isa(), Isa::Reference);
    let mut rng = SmallRng::seed_from_u64(8);
    // A dense layer's gradient in 3 shares of rows over 2 parts of 3 samples.
    type D = Dense<1024, 256>;
    let mut d = D::boxed_zeroed();
    d.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
    let mut x = Box::new([[Tensor::<1024, 1, 1>::zeroed(); 3]; 2]);
    x.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
    let mut dy = Box::new([[Tensor::<256, 1, 1>::zeroed(); 3]; 2]);
    dy.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
    let mut whole = D::boxed_zeroed();
    for (x, dy) in x.iter().zip(dy.iter()) {
        let y = [Tensor::<256, 1, 1>::zeroed(); 3];
        d.backward(x, &y, &mut [Tensor::zeroed(); 3], dy, None, &mut whole, constnet::Grad::Add);
    }
    let mut shared = D::boxed_zeroed();
    shared.as_flat_mut().fill(f32::NAN);
    for part in 0..3 {
        let mut parts = x.iter().zip(dy.iter()).map(|(x, dy)| (x.as_flat(), dy.as_flat()));
        d.shared_grad(&mut parts, part, 3, &mut shared.as_flat_mut()[D::share(part, 3)]);
    }
    close("reference shares", shared.weight.as_flat(), whole.weight.as_flat(), 1e-5);

    // Two threads of 3 samples against one thread on all 6.
    let mut a = wide::Params::boxed_zeroed();
    a.init(Init::He, &mut rng);
    let mut b = wide::Params::boxed_zeroed();
    b.as_flat_mut().copy_from_slice(a.as_flat());
    let mut st = TrainState::<wide::Params, 6>::boxed_zeroed();
    let mut trainer = ParallelTrainer::<wide::Params, 3, 2>::new(0);
    let (mut opt, sgd) = (Sgd::new(0.1), Sgd::new(0.1));
    for step in 0..3 {
        let x: [Tensor<4, 16, 16>; 6] =
            core::array::from_fn(|_| Tensor::from_fn(|_, _, _| rng.random_range(-1.0..1.0)));
        let y: [usize; 6] = core::array::from_fn(|i| (i * 3 + step) % 10);
        let ra = train_step(&mut *a, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
        let rb = trainer.train_step_sgd(&mut *b, &x, &y, SoftmaxCrossEntropy, &sgd).unwrap();
        assert!((ra.loss - rb.loss).abs() < 1e-5, "step {step}: {} vs {}", ra.loss, rb.loss);
        close("summed gradient", trainer.state().grads.as_flat(), st.grads.as_flat(), 1e-6);
    }
    close("parameters", b.as_flat(), a.as_flat(), 1e-5);
}
