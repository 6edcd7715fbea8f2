//! Checkpoint and exact resume: a run stopped (part-way through an epoch or
//! at its end) and resumed from its checkpoint ends with the weights, the
//! optimizer state and the history of a run never stopped, bit for bit, on
//! one thread and on two; a checkpoint of another run, or a damaged one, is
//! a typed error naming the file, and changes nothing.

use constnet::fit::{
    Callback, Checkpoint, CheckpointErrorKind, Control, EpochStats, FitConfig, FitError, History, Samples, Sampling,
    fit_callbacks, fit_with_callbacks,
};
use constnet::io::{self, LoadOptions};
use constnet::optim::{Adam, Sgd};
use constnet::parallel::ParallelTrainer;
use constnet::resume::{Resumable, StateMut};
use constnet::train::{SoftmaxCrossEntropy, StepResult};
use constnet::{Conv2d, Dense, Dropout, Flat, Init, MaxPool2d, Network, Relu, Softmax, Tensor, network};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;

network! {
    /// Small, with dropout: the generators' state matters.
    mod small {
        input: Tensor<1, 8, 8>,
        conv: Conv2d<1, 4, 3>,
        relu1: Relu,
        pool: MaxPool2d<2>,
        dense1: Dense<36, 16>,
        relu2: Relu,
        drop: Dropout<30>,
        dense2: Dense<16, 3>,
        out: Softmax,
    }
}

type Net = small::Params;
const B: usize = 8;
const EPOCHS: usize = 4;

/// 100 samples of three classes (a row, a column, a diagonal) with noise:
/// 12 batches of 8 an epoch, 4 samples left over.
fn data() -> (Vec<Tensor<1, 8, 8>>, Vec<u8>) {
    let mut rng = SmallRng::seed_from_u64(11);
    (0..100)
        .map(|i| {
            let (class, at) = ((i % 3) as u8, rng.random_range(1..7));
            let x = Tensor::from_fn(|_, y, x| {
                let on = [y == at, x == at, x == y][class as usize];
                f32::from(u8::from(on)) + rng.random_range(-0.3..0.3)
            });
            (x, class)
        })
        .unzip()
}

fn fresh_net(seed: u64) -> Box<Net> {
    let mut net = Net::boxed_zeroed();
    net.init(Init::He, &mut SmallRng::seed_from_u64(seed));
    net
}

/// Stops training after step `step` of epoch `epoch` (after the epoch if
/// `step` is 0).
struct StopAt {
    epoch: usize,
    step: usize,
}

impl Callback<Net> for StopAt {
    fn on_step_end(&mut self, _: &Net, epoch: usize, step: usize, _: &StepResult) -> Control {
        if (epoch, step) == (self.epoch, self.step) { Control::Stop } else { Control::Continue }
    }
    fn on_epoch_end(&mut self, _: &Net, stats: &EpochStats) -> Control {
        if self.step == 0 && stats.epoch == self.epoch { Control::Stop } else { Control::Continue }
    }
}

/// Every piece of `state` as bits, by name.
fn pieces(state: &mut impl Resumable) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    state.visit(&mut |name, piece| {
        let bits = match piece {
            StateMut::F32(s) => s.iter().map(|v| v.to_bits()).collect(),
            StateMut::Bytes(s) => s.iter().map(|&b| u32::from(b)).collect(),
        };
        out.push((name.to_string(), bits));
    });
    out
}

/// The history without its times, which differ from run to run.
fn untimed(h: &History) -> Vec<EpochStats> {
    h.epochs.iter().map(|e| EpochStats { seconds: 0.0, ..*e }).collect()
}

/// A checkpoint file of this test's own, removed when dropped.
struct TempFile(PathBuf);
impl TempFile {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("constnet-ckpt-{tag}-{}.safetensors", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempFile(p)
    }
}
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn config(sampling: Sampling, checkpoint: Option<Checkpoint>) -> FitConfig {
    FitConfig { epochs: EPOCHS, sampling, seed: 5, progress: false, verbose: false, checkpoint, ..FitConfig::default() }
}

/// A run's final weights, its step state (as [`pieces`]) and its result.
type Outcome = (Box<Net>, Vec<(String, Vec<u32>)>, Result<History, FitError>);

/// One run on one thread with Adam: the final weights, Adam's state and the history.
fn serial(sampling: Sampling, checkpoint: Option<Checkpoint>, stop: Option<StopAt>, init: u64) -> Outcome {
    let (x, y) = data();
    let mut net = fresh_net(init);
    let (mut m, mut v) = (Net::boxed_zeroed(), Net::boxed_zeroed());
    let mut opt = Adam::new(3e-3, &mut *m, &mut *v);
    let mut stop = stop.unwrap_or(StopAt { epoch: 0, step: 0 });
    let cfg = config(sampling, checkpoint);
    let set = Samples { images: &x, labels: &y };
    let h = fit_callbacks::<_, _, _, B>(
        &mut *net,
        set,
        Some(set),
        SoftmaxCrossEntropy,
        usize::from,
        &mut opt,
        &cfg,
        &mut [&mut stop],
    );
    let state = pieces(&mut opt);
    (net, state, h)
}

#[test]
fn a_resumed_run_ends_bit_identical_to_an_uninterrupted_one_on_one_thread() {
    for sampling in [Sampling::Shuffled, Sampling::Random] {
        let (want_net, want_state, want) = serial(sampling, None, None, 1);
        let want = want.unwrap();
        assert_eq!(want.epochs.len(), EPOCHS);
        // Stopped part-way through epoch 2 (a checkpoint every 5 steps, and
        // one where the callback stopped), at the end of epoch 3, or on a
        // step that is also a periodic checkpoint.
        for (epoch, step, every) in [(2, 7, 5), (3, 0, 0), (2, 10, 5), (1, 12, 4)] {
            let file = TempFile::new(&format!("serial-{sampling:?}-{epoch}-{step}"));
            let ck = Checkpoint { every_steps: every, ..Checkpoint::new(&file.0) };
            let (stopped, _, h) = serial(sampling, Some(ck.clone()), Some(StopAt { epoch, step }), 1);
            assert!(h.unwrap().epochs.len() < EPOCHS, "the callback stopped the run");
            assert_ne!(stopped, want_net);
            // Resumed into a network initialised otherwise: every weight comes from the file.
            let (net, state, h) = serial(sampling, Some(ck), None, 99);
            let h = h.unwrap();
            let at = format!("{sampling:?}, stopped at epoch {epoch} step {step}");
            assert!(net.as_flat().iter().zip(want_net.as_flat()).all(|(a, b)| a.to_bits() == b.to_bits()), "{at}");
            assert_eq!(state, want_state, "{at}: Adam's moments and step count");
            assert_eq!(untimed(&h), untimed(&want), "{at}: the history");
        }
    }
}

/// One run of `fit_with_callbacks` on a two-thread trainer (4 samples a
/// thread) with Adam; the trainer's generators and Adam's state are the
/// step's state.
fn parallel(checkpoint: Option<Checkpoint>, stop: Option<StopAt>, init: u64) -> Outcome {
    let (x, y) = data();
    let mut net = fresh_net(init);
    let (mut m, mut v) = (Net::boxed_zeroed(), Net::boxed_zeroed());
    let mut state = (ParallelTrainer::<Net, 4, 2>::new(3), Adam::new(3e-3, &mut *m, &mut *v));
    let mut stop = stop.unwrap_or(StopAt { epoch: 0, step: 0 });
    let cfg = config(Sampling::Shuffled, checkpoint);
    let set = Samples { images: &x, labels: &y };
    let h = fit_with_callbacks::<_, _, _, B>(
        &mut *net,
        set,
        None,
        SoftmaxCrossEntropy,
        usize::from,
        &cfg,
        &mut [&mut stop],
        &mut state,
        |net, (trainer, opt), x, y, _| trainer.train_step(net, x, y, SoftmaxCrossEntropy, opt),
    );
    (net, pieces(&mut state), h)
}

#[test]
fn a_resumed_run_ends_bit_identical_to_an_uninterrupted_one_on_two_threads() {
    let (want_net, want_state, want) = parallel(None, None, 1);
    let want = want.unwrap();
    assert!(want_state.iter().any(|(name, _)| name == "0.rng.1"), "the trainer's generators are state");
    for (epoch, step) in [(2, 5), (3, 0)] {
        let file = TempFile::new(&format!("parallel-{epoch}-{step}"));
        let ck = Checkpoint { every_steps: 3, ..Checkpoint::new(&file.0) };
        let (_, _, h) = parallel(Some(ck.clone()), Some(StopAt { epoch, step }), 1);
        assert!(h.unwrap().epochs.len() < EPOCHS);
        let (net, state, h) = parallel(Some(ck), None, 42);
        assert!(net.as_flat().iter().zip(want_net.as_flat()).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(state, want_state, "Adam's state and the threads' generators");
        assert_eq!(untimed(&h.unwrap()), untimed(&want));
    }
}

/// The error of resuming `file` with `cfg`'s settings and Adam (or SGD),
/// checking that the network was left as it was.
fn resume_error(file: &TempFile, cfg: &FitConfig, adam: bool) -> FitError {
    let (x, y) = data();
    let mut net = fresh_net(7);
    let before = net.clone();
    let set = Samples { images: &x, labels: &y };
    let (mut m, mut v) = (Net::boxed_zeroed(), Net::boxed_zeroed());
    let e = if adam {
        let mut opt = Adam::new(3e-3, &mut *m, &mut *v);
        fit_callbacks::<_, _, _, B>(&mut *net, set, None, SoftmaxCrossEntropy, usize::from, &mut opt, cfg, &mut [])
    } else {
        let mut opt = Sgd::with_momentum(0.1, 0.9, &mut *m);
        fit_callbacks::<_, _, _, B>(&mut *net, set, None, SoftmaxCrossEntropy, usize::from, &mut opt, cfg, &mut [])
    }
    .unwrap_err();
    assert_eq!(net, before, "a refused checkpoint changes nothing");
    let FitError::Checkpoint { error: err, .. } = &e else { panic!("{e:?}") };
    assert_eq!(err.path, file.0);
    assert!(e.to_string().contains(&*file.0.to_string_lossy()), "{e}");
    e
}

#[test]
fn a_checkpoint_of_another_run_or_a_damaged_one_is_a_typed_error() {
    let file = TempFile::new("errors");
    let ck = Checkpoint::new(&file.0);
    serial(Sampling::Shuffled, Some(ck.clone()), Some(StopAt { epoch: 1, step: 0 }), 1).2.unwrap();
    let good = std::fs::read(&file.0).unwrap();

    // Its weights load alone, skipping the loop's and optimizer's tensors.
    let mut weights = Net::boxed_zeroed();
    io::load_bytes_with(&mut *weights, &good, LoadOptions { skip_prefix: Some("checkpoint."), ..Default::default() })
        .unwrap();
    assert!(matches!(io::load_bytes(&mut *weights, &good).unwrap_err().kind, io::ErrorKind::Extra { .. }));

    let cfg = config(Sampling::Shuffled, Some(ck.clone()));
    let e = resume_error(&file, &FitConfig { seed: 6, ..cfg.clone() }, true);
    assert!(
        matches!(&e, FitError::Checkpoint { error: c, .. } if c.kind == CheckpointErrorKind::Mismatch {
        setting: "seed", file: "5".into(), run: "6".into() }),
        "{e:?}"
    );
    let e = resume_error(&file, &FitConfig { sampling: Sampling::Random, ..cfg.clone() }, true);
    assert!(e.to_string().contains("sampling is Shuffled in the file and Random in this run"), "{e}");
    // The same number of samples, other labels.
    let (mut x2, mut y2) = data();
    y2.swap(0, 1);
    x2.swap(0, 1);
    let (mut net2, mut m, mut v) = (fresh_net(7), Net::boxed_zeroed(), Net::boxed_zeroed());
    let mut opt = Adam::new(3e-3, &mut *m, &mut *v);
    let other = Samples { images: &x2, labels: &y2 };
    let e =
        fit_callbacks::<_, _, _, B>(&mut *net2, other, None, SoftmaxCrossEntropy, usize::from, &mut opt, &cfg, &mut [])
            .unwrap_err();
    assert!(e.to_string().contains("labels_fnv1a is"), "{e}");
    // SGD has a momentum buffer where Adam had two moments.
    let e = resume_error(&file, &cfg, false);
    assert!(e.to_string().contains("checkpoint.state.momentum_buffer"), "{e}");

    // Damaged: cut short, a NaN moment, an order that repeats a sample.
    std::fs::write(&file.0, &good[..good.len() - 3]).unwrap();
    let e = resume_error(&file, &cfg, true);
    assert!(
        matches!(&e, FitError::Checkpoint { error, .. } if matches!(error.kind, CheckpointErrorKind::Weights(_))),
        "{e:?}"
    );
    let st = io::SafeTensorsView::parse(&good).unwrap();
    let offset = |name: &str| {
        let t = st.tensor(name).unwrap().unwrap();
        t.data.as_ptr() as usize - good.as_ptr() as usize
    };
    let mut bad = good.clone();
    let at = offset("checkpoint.state.exp_avg") + 4 * 5;
    bad[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&file.0, &bad).unwrap();
    let e = resume_error(&file, &cfg, true);
    assert!(e.to_string().contains("\"checkpoint.state.exp_avg\": value 5 is not finite"), "{e}");
    let mut bad = good.clone();
    let at = offset("checkpoint.order");
    let first: [u8; 8] = bad[at..at + 8].try_into().unwrap();
    bad[at + 8..at + 16].copy_from_slice(&first);
    std::fs::write(&file.0, &bad).unwrap();
    let e = resume_error(&file, &cfg, true);
    assert!(e.to_string().contains("is not an order of the 100 samples"), "{e}");

    // A plain weights file is not a checkpoint.
    io::save_file(&*fresh_net(1), &file.0).unwrap();
    let e = resume_error(&file, &cfg, true);
    assert!(e.to_string().contains("not a checkpoint"), "{e}");

    // Tampered metadata: a running sum that does not fit the step, a
    // checkpoint past the run's epochs.
    let retag = |key: &str, from: &str, to: &str| {
        let needle = format!("\"{key}\":\"{from}\"");
        let at = good.windows(needle.len()).position(|w| w == needle.as_bytes()).expect("the key in the header");
        let mut bad = good.clone();
        // Same length, so the header stays valid.
        assert_eq!(from.len(), to.len());
        bad[at + key.len() + 4..at + key.len() + 4 + to.len()].copy_from_slice(to.as_bytes());
        std::fs::write(&file.0, &bad).unwrap();
    };
    retag("epoch", "2", "7");
    let e = resume_error(&file, &cfg, true);
    assert!(e.to_string().contains("epochs is 6 in the file and 4 in this run"), "{e}");
    retag("correct", "0", "9");
    let e = resume_error(&file, &cfg, true);
    assert!(e.to_string().contains("do not fit step 0"), "{e}");

    // Saving where no file can be written: an I/O error naming it, before
    // the first step (a first save checks the path).
    let dir = TempFile(std::env::temp_dir().join("constnet-no-such-dir").join("ck.safetensors"));
    let cfg = config(Sampling::Shuffled, Some(Checkpoint::new(&dir.0)));
    let (x, y) = data();
    let (mut net, mut m, mut v) = (fresh_net(1), Net::boxed_zeroed(), Net::boxed_zeroed());
    let before = net.clone();
    let mut opt = Adam::new(3e-3, &mut *m, &mut *v);
    let set = Samples { images: &x, labels: &y };
    let e =
        fit_callbacks::<_, _, _, B>(&mut *net, set, None, SoftmaxCrossEntropy, usize::from, &mut opt, &cfg, &mut [])
            .unwrap_err();
    assert!(
        matches!(&e, FitError::Checkpoint { error, history } if matches!(error.kind, CheckpointErrorKind::Io(_))
        && error.path == dir.0 && history.epochs.is_empty()),
        "{e:?}"
    );
    assert_eq!(net, before, "no step ran");

    // fit_with would leave its step's state out of the checkpoint: refused.
    let e = constnet::fit::fit_with::<_, _, B>(
        &mut *net,
        set,
        None,
        SoftmaxCrossEntropy,
        usize::from,
        &cfg,
        |_, _, _, _| unreachable!("refused before any step"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("fit_with saves no state of its step"), "{e}");
}

/// The loop's generator is rand's `StdRng` stream: runs seeded as before
/// checkpoints existed draw the same numbers.
#[test]
fn the_loops_generator_is_the_stdrng_stream() {
    let mut a = constnet::fit::FitRng::seed_from_u64(9);
    let mut b = rand::rngs::StdRng::seed_from_u64(9);
    for _ in 0..1000 {
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }
}
