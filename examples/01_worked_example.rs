//! Course step 1 — the worked 5x5 example of tutorial 001, exactly.
//!
//! A 5x5 image, a fixed 3x3 kernel, 'valid' convolution, ReLU, 2x2 max-pool
//! that keeps the edge window, a dense layer 4 -> 10 and softmax. The
//! printed conv, ReLU and max-pool outputs are asserted against the
//! tutorial's. Then the network learns: 50 epochs on the first image
//! (class 8), then both images (classes 8 and 2) until the fit has
//! converged, per-sample SGD with learning rate 0.01 and softmax
//! cross-entropy — and the test image is classified as class 2, as in the
//! tutorial. (After only the tutorial's 50 epochs of the second phase its own
//! code says class 8; see the comment in `main`.)
//!
//! `cargo run --release --example 01_worked_example [-- --json]`

mod common;

use constnet::optim::Sgd;
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::zoo::worked5x5;
use constnet::{Flat, Init, Layer, MaxPool2d, Mode, Network, Parameters, Relu, Tensor};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The tutorial's images, as `np.array` literals.
const IMAGE_8: [[f32; 5]; 5] =
    [[0., 1., 1., 1., 0.], [0., 1., 0., 1., 0.], [0., 1., 1., 1., 0.], [0., 1., 0., 1., 0.], [0., 1., 1., 1., 0.]];
const IMAGE_2: [[f32; 5]; 5] =
    [[0., 1., 1., 1., 0.], [0., 0., 0., 1., 0.], [0., 0., 1., 0., 0.], [0., 1., 0., 0., 0.], [0., 1., 1., 1., 0.]];
const TEST_IMAGE: [[f32; 5]; 5] =
    [[1., 1., 1., 1., 1.], [0., 0., 0., 1., 0.], [1., 0., 1., 0., 1.], [0., 1., 0., 0., 0.], [1., 1., 1., 1., 1.]];

fn show<const H: usize, const W: usize>(title: &str, m: &[[f32; W]; H]) {
    println!("{title}:");
    for row in m {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:5.1}")).collect();
        println!("  [{}]", cells.join(" "));
    }
}

fn main() {
    let args = common::Args::parse_options(&[], &["--json"]);
    let mut rng = StdRng::seed_from_u64(0);
    let mut net = worked5x5::Params::zeroed();
    net.conv.weight[0][0] = [[0., 0., 0.], [0., 0., 0.], [1., 0., 1.]];
    // fc_weights = np.random.randn(4, 10) * 0.01; fc_bias = np.random.randn(10) * 0.01
    net.dense.init(Init::Normal(0.01), &mut rng);
    for b in &mut net.dense.bias {
        *b = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng);
        *b *= 0.01;
    }
    let _ = rng.random::<u8>();

    // The network runs the convolution, its ReLU and the pooling as one
    // layer (`net.conv`, a `ConvReluPool`); here are its three steps, each
    // layer on its own.
    let image = [Tensor::from_array([IMAGE_8])];
    let (mut conv, mut relu, mut pool) =
        ([Tensor::<1, 3, 3>::zeroed()], [Tensor::zeroed()], [Tensor::<1, 2, 2>::zeroed()]);
    net.conv.conv.forward(&image, &mut conv, &mut Flat::zeroed(), &mut Mode::Infer);
    Relu.forward(&conv, &mut relu, &mut (), &mut Mode::Infer);
    MaxPool2d::<2>.forward(&relu, &mut pool, &mut (), &mut Mode::Infer);
    show("Convolution output", &conv[0].0[0]);
    show("ReLU output", &relu[0].0[0]);
    show("Max pooling output", &pool[0].0[0]);
    assert_eq!(conv[0].0, [[[1., 2., 1.], [0., 2., 0.], [1., 2., 1.]]], "conv output differs from the tutorial");
    assert_eq!(relu[0].0, [[[1., 2., 1.], [0., 2., 0.], [1., 2., 1.]]], "ReLU output differs from the tutorial");
    assert_eq!(pool[0].0, [[[2., 1.], [2., 1.]]], "max-pool output differs from the tutorial");
    let mut ws = worked5x5::Workspace::<1>::zeroed();
    net.forward(&image, &mut ws, &mut Mode::Infer);
    assert_eq!(ws.act.conv, pool, "the fused layer's output is the three steps'");
    println!("Softmax output (probabilities): {:.4?}", ws.act.softmax[0].as_flat());
    let s: f32 = ws.act.softmax[0].as_flat().iter().sum();
    assert!((s - 1.0).abs() < 1e-5, "softmax sums to {s}");

    let mut st = TrainState::<worked5x5::Params, 1>::zeroed();
    let mut opt = Sgd::new(0.01);
    let one = [Tensor::from_array([IMAGE_8])];
    let mut first_loss = 0.0;
    let mut loss = 0.0;
    println!("\nTraining on the first image (class 8):");
    for epoch in 1..=50 {
        loss = train_step(&mut net, &one, &[8], SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng)
            .unwrap_or_else(|e| common::fail(&e.to_string()))
            .loss;
        if epoch == 1 {
            first_loss = loss;
        }
        if epoch % 10 == 0 || epoch == 1 {
            println!("  epoch {epoch:2}, loss {loss:.4}");
        }
    }
    assert!(loss < first_loss, "loss must fall: {first_loss} -> {loss}");

    // The tutorial prints 50 epochs of this phase. Its code, re-run
    // faithfully in NumPy (20 random draws of the dense weights), leaves the
    // test image at class 8 after 50 epochs (p8 = 0.53, p2 = 0.44, exactly
    // what constnet computes here); its printed losses fall about 4x more
    // slowly than its code does, so the printed run was not the code as
    // shown. Trained on, the same code turns the test image to class 2. So
    // this phase runs, with the tutorial's learning rate, until the mean loss
    // of the two images is below 0.01 — a converged fit of both.
    println!("\nTraining on both images (classes 8 and 2) until the mean loss is below 0.01:");
    let data = [(Tensor::from_array([IMAGE_8]), 8), (Tensor::from_array([IMAGE_2]), 2)];
    let mut avg = f32::INFINITY;
    let mut epoch = 0;
    while avg >= 0.01 {
        epoch += 1;
        assert!(epoch <= 20_000, "no convergence in 20000 epochs (loss {avg})");
        avg = 0.0;
        for (img, label) in &data {
            let step = train_step(&mut net, &[*img], &[*label], SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng);
            avg += step.unwrap_or_else(|e| common::fail(&e.to_string())).loss / 2.0;
        }
        if epoch == 1 || epoch == 50 || epoch % 500 == 0 {
            let tag = if epoch == 50 { "  (where the tutorial stops)" } else { "" };
            println!("  epoch {epoch:5}, loss {avg:.4}{tag}");
        }
    }
    println!("  epoch {epoch:5}, loss {avg:.4}");
    show("Updated kernel", &net.conv.weight[0][0]);

    let mut ws = worked5x5::Workspace::<1>::zeroed();
    let test = Tensor::from_array([TEST_IMAGE]);
    let probs = *net.predict(&test, &mut ws);
    let class = net.classify(&test, &mut ws);
    println!("\nTest image: predicted class {class}, true class 2");
    println!("Output probabilities: {:.4?}", probs.as_flat());
    assert_eq!(class, 2, "the test image must be classified as class 2, as in the tutorial");

    if args.json {
        let j = common::Json::default()
            .num("final_loss", avg as f64)
            .num("predicted_class", class as f64)
            .num("p_class_2", probs.as_flat()[2] as f64)
            .num("epochs", (50 + epoch) as f64)
            .num("seconds", args.seconds());
        println!("{}", j.render());
    }
}
