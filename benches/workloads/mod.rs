//! The benchmark workloads, shared by the criterion benches (`benches/*.rs`)
//! and `examples/bench_report.rs` (included there with `#[path]`).
//!
//! Images are the real Fashion-MNIST training images read from
//! `/usr/share/datasets/fashion-mnist` (Debian package
//! `dataset-fashion-mnist`) with `constnet::data`, or, when the files are
//! absent, deterministic synthetic images (the report then says so). Each workload calls the
//! library's own public entry points: `train::train_step`,
//! `Network::predict` and `parallel::ParallelTrainer`.
#![allow(dead_code)]

use constnet::optim::Sgd;
use constnet::parallel::ParallelTrainer;
use constnet::train::{BceWithLogits, SoftmaxCrossEntropy, TrainState, train_step, train_step_accumulated};
use constnet::zoo::{fashion10, seed1, tfconv};
use constnet::{AvgPool2d, Conv2d, DataParallel, Dense, Flat, Init, Network, Softmax, Tanh, Tensor, network};
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// One 28x28 image.
pub type Image = Tensor<1, 28, 28>;

/// Where the Fashion-MNIST files are installed.
pub const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Training images and labels, and where they came from.
pub struct Data {
    /// Standardised images (each pixel `x / 255 - 0.5`, scaled by 4).
    pub images: Vec<Image>,
    /// Class labels 0..10.
    pub labels: Vec<u8>,
    /// `"fashion-mnist"` or `"synthetic"`.
    pub source: &'static str,
}

/// Loads up to `limit` Fashion-MNIST training images with
/// [`constnet::data::load_idx`], or `limit` deterministic synthetic ones if
/// the files cannot be read.
pub fn load(limit: usize) -> Data {
    let dir = std::path::Path::new(FASHION_DIR);
    let real = constnet::data::load_idx::<28, 28>(
        dir.join("train-images-idx3-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
        Some(10),
    );
    match real {
        Ok(ds) if !ds.is_empty() => {
            let n = ds.len().min(limit);
            let images =
                ds.images()[..n].iter().map(|t| Image::from_fn(|_, y, x| (t.0[0][y][x] / 255.0 - 0.5) * 4.0)).collect();
            Data { images, labels: ds.labels()[..n].to_vec(), source: "fashion-mnist" }
        }
        _ => {
            let images = (0..limit)
                .map(|s| Image::from_fn(|_, y, x| ((y * 3 + x * 7 + s * 5) % 17) as f32 / 8.0 - 1.0))
                .collect();
            let labels = (0..limit).map(|s| (s % 10) as u8).collect();
            Data { images, labels, source: "synthetic" }
        }
    }
}

/// Copies `B` consecutive samples starting at `start` (wrapping) into a batch.
pub fn batch<const B: usize>(data: &Data, start: usize, x: &mut [Image; B], y: &mut [usize; B]) {
    let n = data.images.len();
    for b in 0..B {
        x[b] = data.images[(start + b) % n];
        y[b] = data.labels[(start + b) % n] as usize;
    }
}

/// A He-initialised network on the heap and the generator that drew it
/// (seeded with `seed`, then used for dropout).
fn he_initialised<P: Network>(seed: u64) -> (Box<P>, SmallRng) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut net = P::boxed_zeroed();
    net.init(Init::He, &mut rng);
    (net, rng)
}

/// Seed 1: per-sample SGD (B = 1) on trousers (1) vs dresses (3).
pub struct Seed1Train {
    net: seed1::Params,
    st: Box<TrainState<seed1::Params, 1>>,
    opt: Sgd,
    rng: SmallRng,
    images: Vec<Image>,
    targets: Vec<f32>,
    i: usize,
}

impl Seed1Train {
    /// Samples of classes 1 and 3 of `data`.
    pub fn new(data: &Data) -> Self {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut net = seed1::Params::zeroed();
        net.init(Init::Normal(1.0 / 28.0), &mut rng);
        let (mut images, mut targets) = (Vec::new(), Vec::new());
        for (x, &l) in data.images.iter().zip(&data.labels) {
            if l == 1 || l == 3 {
                images.push(*x);
                targets.push((l == 3) as u8 as f32);
            }
        }
        if images.is_empty() {
            images.push(data.images[0]);
            targets.push(1.0);
        }
        Seed1Train { net, st: TrainState::boxed_zeroed(), opt: Sgd::new(0.001), rng, images, targets, i: 0 }
    }

    /// One training step on one sample; returns its loss.
    #[inline(never)]
    pub fn step(&mut self) -> f32 {
        let i = self.i % self.images.len();
        self.i += 1;
        let x = core::array::from_ref(&self.images[i]);
        train_step(&mut self.net, x, &[self.targets[i]], BceWithLogits, &mut self.opt, &mut self.st, &mut self.rng)
            .unwrap()
            .loss
    }
}

/// Mini-batch SGD training of a network on 10 classes, one thread:
/// `train_step` on mini-batches of `B`, or, with `MB < B`,
/// `train_step_accumulated` on them as micro-batches of `MB`.
pub struct Train<P: Network<Input = Image>, const B: usize, const MB: usize = B> {
    net: Box<P>,
    st: Box<TrainState<P, MB>>,
    /// The summed gradient of the micro-batches (with `MB < B`).
    sum: Option<Box<P>>,
    opt: Sgd,
    rng: SmallRng,
    x: Box<[Image; B]>,
    y: [usize; B],
    i: usize,
}

impl<P: Network<Input = Image>, const B: usize, const MB: usize> Train<P, B, MB>
where
    SoftmaxCrossEntropy: constnet::train::Loss<P, Target = usize>,
{
    /// He-initialised network, learning rate 0.01.
    pub fn new() -> Self {
        const { assert!(MB > 0 && B.is_multiple_of(MB), "micro-batches must divide the mini-batch") };
        let (net, rng) = he_initialised::<P>(2);
        Train {
            net,
            st: TrainState::boxed_zeroed(),
            sum: (MB < B).then(P::boxed_zeroed),
            opt: Sgd::new(0.01),
            rng,
            x: Box::new([Image::zeroed(); B]),
            y: [0; B],
            i: 0,
        }
    }

    /// One step on the next batch of `data`; returns its loss.
    #[inline(never)]
    pub fn step(&mut self, data: &Data) -> f32 {
        batch(data, self.i * B, &mut self.x, &mut self.y);
        self.i += 1;
        let (xs, ys) = (self.x.as_chunks::<MB>().0, self.y.as_chunks::<MB>().0);
        let (net, opt, st, rng) = (&mut *self.net, &mut self.opt, &mut *self.st, &mut self.rng);
        match self.sum.as_deref_mut() {
            Some(sum) => train_step_accumulated(net, xs, ys, SoftmaxCrossEntropy, opt, st, sum, rng).unwrap().loss,
            None => train_step(net, &xs[0], &ys[0], SoftmaxCrossEntropy, opt, st, rng).unwrap().loss,
        }
    }
}

/// Single-image inference.
pub struct Infer<P: Network<Input = Image>> {
    net: Box<P>,
    ws: Box<P::Workspace<1>>,
    i: usize,
}

impl<P: Network<Input = Image>> Infer<P> {
    /// He-initialised network.
    pub fn new() -> Self {
        let (net, _) = he_initialised::<P>(3);
        Infer { net, ws: <P::Workspace<1>>::boxed_zeroed(), i: 0 }
    }

    /// Classifies the next image of `data`.
    #[inline(never)]
    pub fn step(&mut self, data: &Data) -> usize {
        let x = &data.images[self.i % data.images.len()];
        self.i += 1;
        self.net.classify(x, &mut self.ws)
    }
}

/// Batched inference: `B` images a call through `Network::infer`.
pub struct InferBatch<P: Network<Input = Image>, const B: usize> {
    net: Box<P>,
    ws: Box<P::Workspace<B>>,
    x: Box<[Image; B]>,
    i: usize,
}

impl<P: Network<Input = Image>, const B: usize> InferBatch<P, B> {
    /// He-initialised network.
    pub fn new() -> Self {
        let (net, _) = he_initialised::<P>(3);
        InferBatch { net, ws: <P::Workspace<B>>::boxed_zeroed(), x: Box::new([Image::zeroed(); B]), i: 0 }
    }

    /// Runs the forward pass of the next `B` images of `data`.
    #[inline(never)]
    pub fn step(&mut self, data: &Data) {
        for x in self.x.iter_mut() {
            *x = data.images[self.i % data.images.len()];
            self.i += 1;
        }
        self.net.infer(&self.x, &mut self.ws);
    }
}

/// Data-parallel mini-batch training (plain SGD fused into the parallel
/// reduction, `ParallelTrainer::train_step_sgd`): batches of `B = PER_THREAD * THREADS`
/// on `THREADS` threads (the caller's and persistent workers).
pub struct ParTrain<P: DataParallel<Input = Image>, const PER_THREAD: usize, const THREADS: usize, const B: usize> {
    trainer: ParallelTrainer<P, PER_THREAD, THREADS>,
    net: Box<P>,
    opt: Sgd,
    x: Box<[Image; B]>,
    y: [usize; B],
    i: usize,
}

impl<P: DataParallel<Input = Image> + 'static, const PER_THREAD: usize, const THREADS: usize, const B: usize>
    ParTrain<P, PER_THREAD, THREADS, B>
where
    SoftmaxCrossEntropy: constnet::train::Loss<P, Target = usize>,
{
    /// He-initialised network (the same as [`Train::new`]'s), learning rate 0.01.
    pub fn new() -> Self {
        let (net, _) = he_initialised::<P>(2);
        ParTrain {
            trainer: ParallelTrainer::new(4),
            net,
            opt: Sgd::new(0.01),
            x: Box::new([Image::zeroed(); B]),
            y: [0; B],
            i: 0,
        }
    }

    /// One step on the next batch of `data`; returns its loss.
    #[inline(never)]
    pub fn step(&mut self, data: &Data) -> f32 {
        batch(data, self.i * B, &mut self.x, &mut self.y);
        self.i += 1;
        self.trainer.train_step_sgd(&mut self.net, &self.x, &self.y, SoftmaxCrossEntropy, &self.opt).unwrap().loss
    }
}

/// fashion10 mini-batch size.
pub const FASHION_B: usize = 32;
/// tfconv mini-batch size.
pub const TFCONV_B: usize = 32;

/// fashion10 training, one thread.
pub type Fashion10Train = Train<fashion10::Params, FASHION_B>;
/// fashion10 micro-batch size in [`Fashion10TrainAcc`].
pub const FASHION_MB: usize = 8;
/// fashion10 training, one thread, each mini-batch as micro-batches of [`FASHION_MB`].
pub type Fashion10TrainAcc = Train<fashion10::Params, FASHION_B, FASHION_MB>;
/// fashion10 single-image inference.
pub type Fashion10Infer = Infer<fashion10::Params>;
/// tfconv training, one thread.
pub type TfconvTrain = Train<tfconv::Params, TFCONV_B>;
/// tfconv single-image inference.
pub type TfconvInfer = Infer<tfconv::Params>;
/// tfconv inference, batches of [`TFCONV_B`] images.
pub type TfconvInferBatch = InferBatch<tfconv::Params, TFCONV_B>;
/// fashion10 training on both cores.
pub type Fashion10Par = ParTrain<fashion10::Params, { FASHION_B / 2 }, 2, FASHION_B>;
/// tfconv training on both cores.
pub type TfconvPar = ParTrain<tfconv::Params, { TFCONV_B / 2 }, 2, TFCONV_B>;

network! {
    /// LeNet-5 with tanh and 2x2 average pooling (a user's own network, not
    /// a zoo one; `../shared/bench/torch_reference.py`'s `LeNet5`): conv 6
    /// 5x5 'same' + tanh + avg-pool 2, conv 16 5x5 'valid' + tanh + avg-pool
    /// 2, dense 400 -> 120 + tanh, 120 -> 84 + tanh, 84 -> 10, softmax.
    pub mod lenet5 {
        input: Tensor<1, 28, 28>,
        conv1: Conv2d<1, 6, 5, 2, 1>,
        tanh1: Tanh,
        pool1: AvgPool2d<2>,
        conv2: Conv2d<6, 16, 5, 0, 1>,
        tanh2: Tanh,
        pool2: AvgPool2d<2>,
        dense1: Dense<400, 120>,
        tanh3: Tanh,
        dense2: Dense<120, 84>,
        tanh4: Tanh,
        dense3: Dense<84, 10>,
        softmax: Softmax,
    }
}

/// LeNet-5 mini-batch size.
pub const LENET_B: usize = 32;
/// LeNet-5 training, one thread.
pub type LenetTrain = Train<lenet5::Params, LENET_B>;
/// LeNet-5 single-image inference.
pub type LenetInfer = Infer<lenet5::Params>;

/// ResNet-8 mini-batch size.
pub const RESNET_B: usize = 32;
/// ResNet-8 ([`constnet::zoo::resnet8`]: residual blocks, batch norm,
/// strided convolutions) training, one thread.
pub type Resnet8Train = Train<constnet::zoo::resnet8::Params, RESNET_B>;
/// ResNet-8 training on both cores.
pub type Resnet8Par = ParTrain<constnet::zoo::resnet8::Params, { RESNET_B / 2 }, 2, RESNET_B>;
/// ResNet-8 single-image inference.
pub type Resnet8Infer = Infer<constnet::zoo::resnet8::Params>;
