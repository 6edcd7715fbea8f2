//! Training a 10-class Fashion-MNIST network from the command line: shared
//! by course steps 5, 7, 9, 10 and 11, which differ in the network and a
//! [`Course`]'s defaults.

use super::{Args, Json, MAX_EPOCHS, create_out_dir, fail};
use constnet::data::{FASHION_MNIST_CLASSES, FashionMnist, Standardizer, locate_fashion_mnist_full};
use constnet::fit::{Checkpoint, FitConfig, Samples, Sampling, evaluate_metrics, evaluate_set, fit_with_callbacks};
use constnet::optim::Adam;
use constnet::parallel::ParallelTrainer;
use constnet::resume::{Resumable, StateMut};
use constnet::train::{Loss, SoftmaxCrossEntropy, TrainState, train_step};
use constnet::{DataParallel, Flat, Init, Tensor};
use rand::RngExt;
use std::borrow::Cow;

/// Mini-batch size (`PER_THREAD * THREADS` with two threads).
pub const BATCH: usize = 32;

/// The largest `--shift`, in pixels.
pub const MAX_SHIFT: usize = 4;

/// A course step that trains a 10-class network on Fashion-MNIST: its
/// settings and what a run with them promises.
pub struct Course {
    /// The network's name in the output and in `out/NAME_curves.png`.
    pub name: &'static str,
    /// Epochs by default.
    pub epochs: usize,
    /// Adam's learning rate by default, before its cosine decay.
    pub lr: f32,
    /// Threads by default (1 or 2).
    pub threads: usize,
    /// Whether each training image is mirrored left to right with
    /// probability 1/2 ([`CourseInput::mirrored`]).
    pub flips: bool,
    /// Each training image moved by up to this many pixels along each axis
    /// at random by default (`--shift`; see [`shifted`]); 0 for none.
    pub shift: usize,
    /// The test accuracy a run with the default settings reaches at least,
    /// if the step promises one: below it, the example stops with an error.
    pub promise: Option<f32>,
}

/// How a network takes a Fashion-MNIST image: as the image itself, or
/// (examples/09) as a sequence of its rows.
pub trait CourseInput: Flat + Copy + Send + Sync + 'static {
    /// The images as inputs: borrowed where they already are.
    fn inputs(images: &[Tensor<1, 28, 28>]) -> Cow<'_, [Self]>;
    /// The input of the image mirrored left to right.
    fn mirrored(&self) -> Self;
    /// The image this input holds.
    fn image(&self) -> Tensor<1, 28, 28>;
    /// The input that holds `image`.
    fn from_image(image: &Tensor<1, 28, 28>) -> Self;
}

impl CourseInput for Tensor<1, 28, 28> {
    fn inputs(images: &[Self]) -> Cow<'_, [Self]> {
        Cow::Borrowed(images)
    }
    fn mirrored(&self) -> Self {
        Tensor::from_fn(|_, i, j| self.0[0][i][27 - j])
    }
    fn image(&self) -> Tensor<1, 28, 28> {
        *self
    }
    fn from_image(image: &Tensor<1, 28, 28>) -> Self {
        *image
    }
}

/// An image as a sequence: step `t` is row `t`, its 28 pixels the channels
/// (`seq[c][0][t] = image[0][t][c]`).
impl CourseInput for Tensor<28, 1, 28> {
    fn inputs(images: &[Tensor<1, 28, 28>]) -> Cow<'_, [Self]> {
        Cow::Owned(images.iter().map(Self::from_image).collect())
    }
    fn mirrored(&self) -> Self {
        Tensor::from_fn(|c, _, t| self.0[27 - c][0][t])
    }
    fn image(&self) -> Tensor<1, 28, 28> {
        Tensor::from_fn(|_, t, c| self.0[c][0][t])
    }
    fn from_image(image: &Tensor<1, 28, 28>) -> Self {
        Tensor::from_fn(|c, _, t| image.0[0][t][c])
    }
}

/// Trains network `P` as `course` says, on all of Fashion-MNIST with Adam
/// (learning rate `--lr`, a finite number above 0, default `course.lr`,
/// decayed to 0 along a cosine over the run) in shuffled mini-batches of
/// 32, on `--threads` 1 or 2 (default `course.threads`; two split each
/// batch, and batch norm then normalises each half on its own), for
/// `--epochs` (1 to [`MAX_EPOCHS`], default `course.epochs`), holding out
/// the last `--valid` (default 5000) training images for validation, which
/// must leave at least one batch to train on. With `--checkpoint FILE` it
/// saves a checkpoint after every epoch and, if `FILE` exists, resumes
/// from it: a run killed and started again with the same options ends as
/// an unstopped one, bit for bit.
/// With `--save FILE` it saves the trained weights, and beside them the
/// first 1000 test images as the network saw them and its logits for them
/// (`FILE.inputs.f32`, `FILE.logits.f32`: little-endian `f32`s, what
/// `scripts/interop/resnet8.py check` gives PyTorch).
/// With `course.flips` each training image is mirrored at random first;
/// with `--shift N` (0 to [`MAX_SHIFT`], default `course.shift`) it is then
/// moved by up to `N` pixels along each axis (each offset uniform in
/// `-N..=N`), blank pixels moved in: the random crops of a zero-padded
/// image. Both draw from the training loop's generator, so a resumed run
/// draws the same.
/// Prints the test figures, writes the curves as
/// `out/NAME_curves.png`, and with `--json` ends with one JSON object. A
/// bad option, a diverged run, or a test accuracy below `course.promise`
/// with the default settings stops it with one line on stderr. Returns the
/// test accuracy.
pub fn train_10_classes<P>(course: &Course) -> f32
where
    P: DataParallel<Output = Tensor<10, 1, 1>> + 'static,
    P::Input: CourseInput,
    SoftmaxCrossEntropy: Loss<P, Target = usize>,
{
    const DEFAULT_VALID: usize = 5000;
    let name = course.name;
    let options =
        ["--data", "--epochs", "--threads", "--lr", "--seed", "--out", "--valid", "--checkpoint", "--save", "--shift"];
    let args = Args::parse_options(&options, &["--json"]);
    let epochs = args.number("--epochs", course.epochs, 1..=MAX_EPOCHS);
    let threads = args.number("--threads", course.threads, 1..=2);
    let lr = args.positive("--lr", course.lr);
    let shift = args.number("--shift", course.shift, 0..=MAX_SHIFT);
    let seed = args.number("--seed", 1, 0..=u64::MAX);
    let out = args.path("--out").unwrap_or_else(|| "out".into());
    let held_out = args.number("--valid", DEFAULT_VALID, 0..=usize::MAX);
    let course_settings = epochs == course.epochs
        && lr == course.lr
        && threads == course.threads
        && held_out == DEFAULT_VALID
        && shift == course.shift
        && seed == 1;

    let found = locate_fashion_mnist_full(args.data.as_deref()).unwrap_or_else(|e| fail(&e.to_string()));
    println!("Fashion-MNIST: {found}");
    let (train, mut test) = FashionMnist::load(&found).unwrap_or_else(|e| fail(&e.to_string()));
    match train.len().checked_sub(held_out) {
        None => fail(&format!("--valid {held_out} is more than the {} training images", train.len())),
        Some(left) if left < BATCH => {
            fail(&format!("--valid {held_out} leaves {left} training images, fewer than one batch of {BATCH}"))
        }
        Some(_) => {}
    }
    create_out_dir("--out", &out);
    let (mut train, mut valid) = train.split_last(held_out).unwrap_or_else(|e| fail(&e.to_string()));
    let norm = Standardizer::fit(&train).unwrap_or_else(|e| fail(&e.to_string()));
    for ds in [&mut train, &mut valid, &mut test] {
        norm.apply(ds);
    }
    println!("train {} / validation {} / test {} images, 10 classes", train.len(), valid.len(), test.len());

    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut net = P::boxed_zeroed();
    net.init(Init::He, &mut rng);
    println!(
        "{name}: {} parameters; Adam lr {lr}, batch {BATCH}, {threads} thread(s), {epochs} epochs",
        net.num_params()
    );
    println!("{}", constnet::Summary::<P, BATCH>::new());
    let opt = Adam::new(lr, P::boxed_zeroed(), P::boxed_zeroed());
    // `--checkpoint FILE`: saved after every epoch, resumed from if it exists.
    let checkpoint = args.path("--checkpoint").map(Checkpoint::new);
    let cfg = FitConfig { epochs, sampling: Sampling::Shuffled, seed, checkpoint, ..FitConfig::default() };
    let (train_x, valid_x, test_x) =
        (P::Input::inputs(train.images()), P::Input::inputs(valid.images()), P::Input::inputs(test.images()));
    let tr = Samples { images: &train_x, labels: train.labels() };
    let va = Some(Samples { images: &valid_x, labels: valid.labels() });
    let te = Samples { images: &test_x, labels: test.labels() };
    let target = |l: u8| l as usize;
    // Cosine learning-rate decay from `lr` to 0 over all steps; its step
    // count goes into checkpoints with Adam's state.
    let cosine = Cosine { lr, total: (epochs * (train.len() / BATCH)) as f32, t: 0.0 };
    // One thread trains with its own state; two with a ParallelTrainer
    // (`threads` is 1 or 2: Args::number checked it).
    let mut st = (threads == 1).then(TrainState::<P, BATCH>::boxed_zeroed);
    let trainer = (threads == 2).then(|| ParallelTrainer::<P, { BATCH / 2 }, 2>::new(seed));
    let mut state = ((trainer, opt), cosine);
    let mut augmented = Box::new([P::Input::zeroed(); BATCH]);
    let history = fit_with_callbacks::<P, _, _, BATCH>(
        &mut net,
        tr,
        va,
        SoftmaxCrossEntropy,
        target,
        &cfg,
        &mut [],
        &mut state,
        |net, ((trainer, opt), cosine), x, y, rng| {
            cosine.apply(opt);
            let x = if course.flips || shift > 0 {
                for (a, x) in augmented.iter_mut().zip(x) {
                    *a = if course.flips && rng.random_bool(0.5) { x.mirrored() } else { *x };
                    if shift > 0 {
                        let n = shift as i32;
                        let (dy, dx) = (rng.random_range(-n..=n), rng.random_range(-n..=n));
                        *a = P::Input::from_image(&shifted(&a.image(), dy, dx, &norm));
                    }
                }
                &*augmented
            } else {
                x
            };
            match (trainer, &mut st) {
                (Some(trainer), _) => trainer.train_step(net, x, y, SoftmaxCrossEntropy, opt),
                (None, Some(st)) => train_step(net, x, y, SoftmaxCrossEntropy, opt, st, rng),
                (None, None) => unreachable!("one thread has a TrainState"),
            }
        },
    )
    .unwrap_or_else(|e| fail(&e.to_string()));
    let (test_loss, test_acc) = evaluate_set::<P, _, BATCH>(&net, te, SoftmaxCrossEntropy, target);
    let train_seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum();
    println!("test: loss: {test_loss:.4} - accuracy: {test_acc:.4} (training took {train_seconds:.1} s)");
    let metrics = evaluate_metrics::<P, 10, BATCH>(&net, te);
    println!("test, class by class (rows: the label; columns: the predicted class, in the same order):");
    print!("{}", metrics.table(&FASHION_MNIST_CLASSES));
    println!("test: top-2 accuracy: {:.4} - top-3 accuracy: {:.4}", metrics.top_k(2), metrics.top_k(3));
    if let Some(path) = args.path("--save") {
        constnet::io::save_file(&*net, &path).unwrap_or_else(|e| fail(&e.to_string()));
        save_logits(&*net, &test_x, &path);
        println!("saved {} (and its .inputs.f32, .logits.f32)", path.display());
    }
    #[cfg(feature = "plot")]
    {
        let path = out.join(format!("{name}_curves.png"));
        constnet::fit::plot_history(&history, &format!("{name}: Fashion-MNIST, 10 classes"), &path)
            .unwrap_or_else(|e| fail(&e.to_string()));
        println!("wrote {}", path.display());
    }
    if args.json {
        let last = history.epochs.last();
        let j = Json::default()
            .str("network", name)
            .num("epochs", epochs as f64)
            .num("threads", threads as f64)
            .num("train_loss", last.map_or(f64::NAN, |e| e.loss as f64))
            .num("train_accuracy", last.map_or(f64::NAN, |e| e.accuracy as f64))
            .num("val_accuracy", last.and_then(|e| e.val_accuracy).map_or(f64::NAN, |v| v as f64))
            .num("test_loss", test_loss as f64)
            .num("test_accuracy", test_acc as f64)
            .num("test_top2_accuracy", metrics.top_k(2) as f64)
            .list("test_class_accuracy", &(0..10).map(|c| metrics.class_accuracy(c)).collect::<Vec<_>>())
            .list("val_accuracy_per_epoch", &history.epochs.iter().filter_map(|e| e.val_accuracy).collect::<Vec<_>>())
            .num("train_seconds", train_seconds)
            .num("seconds", args.seconds());
        println!("{}", j.render());
    }
    match course.promise {
        Some(p) if !course_settings => {
            println!("(the course promises a test accuracy of {p} with its settings, not with these)")
        }
        Some(p) if test_acc < p => {
            fail(&format!("{name} test accuracy {test_acc:.4} is below the {p} the course promises"))
        }
        _ => {}
    }
    test_acc
}

/// Writes the first 1000 images of `test` as the network saw them and
/// its logits for them, little-endian `f32`s, beside `path`
/// (`path.inputs.f32`, `path.logits.f32`).
fn save_logits<P: DataParallel>(net: &P, test: &[P::Input], path: &std::path::Path) {
    let mut ws = P::Workspace::<1>::boxed_zeroed();
    let (mut inputs, mut logits) = (Vec::new(), Vec::new());
    for x in &test[..1000.min(test.len())] {
        net.infer(core::array::from_ref(x), &mut ws);
        inputs.extend(x.as_flat().iter().flat_map(|v| v.to_le_bytes()));
        logits.extend(P::logits(&ws)[0].as_flat().iter().flat_map(|v| v.to_le_bytes()));
    }
    for (ext, bytes) in [("inputs.f32", inputs), ("logits.f32", logits)] {
        let file = path.with_extension(ext);
        std::fs::write(&file, bytes).unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
    }
}

/// `image` (standardised by `norm`) moved down `dy` rows and right `dx`
/// columns in pixel values: the pixels moved in from outside are 0, the
/// images' background, before standardising.
fn shifted(image: &Tensor<1, 28, 28>, dy: i32, dx: i32, norm: &Standardizer<1, 28, 28>) -> Tensor<1, 28, 28> {
    let (mean, std) = (norm.mean(), norm.std());
    let mut moved = Tensor::from_fn(|_, i, j| {
        let (i, j) = (i as i32 - dy, j as i32 - dx);
        if (0..28).contains(&i) && (0..28).contains(&j) {
            let (i, j) = (i as usize, j as usize);
            (image.0[0][i][j] as f64 * std[i * 28 + j] + mean[i * 28 + j]) as f32
        } else {
            0.0
        }
    });
    norm.apply_image(&mut moved);
    moved
}

/// A cosine decay of Adam's learning rate from `lr` to 0 over `total` steps,
/// `t` steps done: state of the run, kept in checkpoints.
pub struct Cosine {
    /// The learning rate at the start.
    pub lr: f32,
    /// Steps over which it decays to 0.
    pub total: f32,
    /// Steps done.
    pub t: f32,
}

impl Cosine {
    /// Sets the learning rate of the next step.
    pub fn apply<S>(&mut self, opt: &mut Adam<S>) {
        opt.lr = self.lr * 0.5 * (1.0 + (std::f32::consts::PI * self.t / self.total).cos());
        self.t += 1.0;
    }
}

impl Resumable for Cosine {
    fn visit(&mut self, f: &mut dyn FnMut(&str, StateMut<'_>)) {
        let mut t = [self.t];
        f("cosine_step", StateMut::F32(&mut t));
        self.t = t[0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use constnet::data::Dataset;

    /// A standardiser fitted on images of one bright pixel at varied
    /// places, so every pixel has its own mean and spread.
    fn standardizer() -> Standardizer<1, 28, 28> {
        let images = (0..50)
            .map(|k| Tensor::from_fn(|_, i, j| if (i * 28 + j) % 50 == k { 200.0 } else { (i + j) as f32 }))
            .collect();
        Standardizer::fit(&Dataset::new(images, vec![0; 50]).unwrap()).unwrap()
    }

    #[test]
    fn a_shift_moves_the_pixels_and_brings_in_blank_ones() {
        let norm = standardizer();
        let raw = Tensor::<1, 28, 28>::from_fn(|_, i, j| (i * 28 + j) as f32);
        let mut x = raw;
        norm.apply_image(&mut x);
        for (dy, dx) in [(0, 0), (2, -1), (-2, 2), (1, 0)] {
            let mut want = Tensor::<1, 28, 28>::from_fn(|_, i, j| {
                let (i, j) = (i as i32 - dy, j as i32 - dx);
                if (0..28).contains(&i) && (0..28).contains(&j) { raw.0[0][i as usize][j as usize] } else { 0.0 }
            });
            norm.apply_image(&mut want);
            let got = shifted(&x, dy, dx, &norm);
            for (g, w) in got.as_flat().iter().zip(want.as_flat()) {
                assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "shift ({dy}, {dx}): {g} != {w}");
            }
        }
    }

    #[test]
    fn a_sequence_holds_its_image() {
        let image = Tensor::<1, 28, 28>::from_fn(|_, i, j| (i * 28 + j) as f32);
        let seq = <Tensor<28, 1, 28> as CourseInput>::from_image(&image);
        assert_eq!(seq.0[3][0][5], image.0[0][5][3]);
        assert_eq!(seq.image(), image);
        assert_eq!(seq.mirrored().image(), image.mirrored());
    }
}
