//! The training loop: history, determinism for a seed, every sampling mode,
//! validation figures, and the curves image.

use constnet::fit::{FitConfig, History, Samples, Sampling, evaluate_set, fit};
use constnet::optim::Sgd;
use constnet::train::BceWithLogits;
use constnet::zoo::seed1;
use constnet::{Flat, Init, Network, Tensor};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Label 1: a vertical bar; label 0: a horizontal bar; random positions and noise.
fn bars(n: usize, seed: u64) -> (Vec<Tensor<1, 28, 28>>, Vec<u8>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let (v, at) = (i % 2 == 0, rng.random_range(4..24));
            let img = Tensor::from_fn(|_, y, x| {
                let on = if v { x == at } else { y == at };
                (if on { 2.0 } else { 0.0 }) + rng.random_range(-0.5..0.5)
            });
            (img, v as u8)
        })
        .unzip()
}

fn train(sampling: Sampling, seed: u64) -> (History, Box<seed1::Params>) {
    let (x, y) = bars(400, 1);
    let (vx, vy) = bars(100, 2);
    let mut net = seed1::Params::boxed_zeroed();
    net.init(Init::Normal(0.05), &mut SmallRng::seed_from_u64(3));
    let mut opt = Sgd::new(0.1);
    let cfg = FitConfig { epochs: 3, sampling, seed, progress: false, verbose: false, ..FitConfig::default() };
    let valid = Samples { images: &vx, labels: &vy };
    let h = fit::<_, _, _, 4>(
        &mut *net,
        Samples { images: &x, labels: &y },
        Some(valid),
        BceWithLogits,
        |l| l as f32,
        &mut opt,
        &cfg,
    )
    .unwrap();
    (h, net)
}

#[test]
fn history_has_one_entry_per_epoch_and_learning_shows() {
    for sampling in [Sampling::Random, Sampling::Shuffled, Sampling::InOrder] {
        let (h, _) = train(sampling, 9);
        assert_eq!(h.epochs.len(), 3);
        assert_eq!(h.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), [1, 2, 3]);
        let last = h.epochs[2];
        assert!(last.loss < h.epochs[0].loss || last.accuracy > 0.95, "{sampling:?}: {h:?}");
        assert!(last.val_accuracy.unwrap() >= 0.9, "{sampling:?}: {h:?}");
        assert!(last.line(3, 100).starts_with("Epoch 3/3 - 100/100 - "), "{}", last.line(3, 100));
    }
}

#[test]
fn same_seed_same_bits_other_seed_other_bits() {
    let (h1, n1) = train(Sampling::Shuffled, 5);
    let (h2, n2) = train(Sampling::Shuffled, 5);
    let (_, n3) = train(Sampling::Shuffled, 6);
    assert_eq!(n1.as_flat(), n2.as_flat());
    let strip =
        |h: &History| h.epochs.iter().map(|e| (e.loss, e.accuracy, e.val_loss, e.val_accuracy)).collect::<Vec<_>>();
    assert_eq!(strip(&h1), strip(&h2));
    assert_ne!(n1.as_flat(), n3.as_flat(), "the seed must drive the shuffling");
}

#[test]
fn evaluate_set_counts_every_sample_including_the_remainder() {
    let (x, y) = bars(10, 4);
    let net = seed1::Params::zeroed(); // outputs 0.5 everywhere: loss ln 2, class 1 predicted
    let (loss, acc) = evaluate_set::<_, _, 4>(&net, Samples { images: &x, labels: &y }, BceWithLogits, |l| l as f32);
    assert!((loss - std::f32::consts::LN_2).abs() < 1e-6, "{loss}");
    assert!((acc - 0.5).abs() < 1e-6, "{acc}: 5 of 10 samples have label 1");
}

#[cfg(feature = "plot")]
#[test]
fn curves_are_written_as_a_png() {
    let (h, _) = train(Sampling::Shuffled, 1);
    let path = std::env::temp_dir().join(format!("constnet-test-curves-{}.png", std::process::id()));
    constnet::fit::plot_history(&h, "test", &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 5000, "a 1000x420 plot, {} bytes", bytes.len());
    let err = constnet::fit::plot_history(&h, "test", std::path::Path::new("/nonexistent/dir/c.png")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dir/c.png"), "{err}");
}

/// Histories whose figures are infinite, NaN or so large that a padded axis
/// range overflows `f32` are plotted, and in bounded time: such values used
/// to send the plotting library's tick search into an endless loop. Each
/// plot runs on a thread the test waits for at most a minute.
#[cfg(feature = "plot")]
#[test]
fn curves_of_infinite_nan_and_huge_figures_are_plotted_in_bounded_time() {
    use constnet::fit::{EpochStats, History};
    let epoch = |epoch, loss, val_loss| EpochStats {
        epoch,
        loss,
        accuracy: 0.5,
        val_loss,
        val_accuracy: Some(f32::NAN),
        seconds: 0.1,
        skipped: 0,
    };
    let cases: [(&str, Vec<EpochStats>); 4] = [
        ("infinite", vec![epoch(1, 0.7, Some(0.6)), epoch(2, f32::INFINITY, Some(f32::NEG_INFINITY))]),
        ("nan", vec![epoch(1, f32::NAN, None), epoch(2, 0.3, Some(f32::NAN))]),
        ("huge", vec![epoch(1, 3.0e38, Some(-3.0e38)), epoch(2, f32::MAX, Some(1.0))]),
        ("nothing finite", vec![epoch(1, f32::NAN, Some(f32::INFINITY))]),
    ];
    for (name, epochs) in cases {
        let path = std::env::temp_dir().join(format!("constnet-test-curves-{name}-{}.png", std::process::id()));
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(constnet::fit::plot_history(&History { epochs }, name, &p).map_err(|e| e.to_string()));
        });
        let done = rx.recv_timeout(std::time::Duration::from_secs(60));
        let _ = std::fs::remove_file(&path);
        match done {
            Ok(result) => result.unwrap_or_else(|e| panic!("{name}: {e}")),
            Err(_) => panic!("{name}: plot_history did not return within a minute"),
        }
    }
}

/// An empty validation set gives no validation figures (it used to print
/// `val_loss: 0.0000`), and `evaluate_set` on an empty set gives NaN, not a
/// loss and accuracy of 0.
#[test]
fn an_empty_validation_set_gives_no_validation_figures() {
    let (x, y) = bars(40, 1);
    let mut net = seed1::Params::boxed_zeroed();
    net.init(Init::Normal(0.05), &mut SmallRng::seed_from_u64(3));
    let cfg = FitConfig {
        epochs: 2,
        sampling: Sampling::Shuffled,
        seed: 1,
        progress: false,
        verbose: false,
        ..FitConfig::default()
    };
    let empty = Samples { images: &[], labels: &[] };
    let h = fit::<_, _, _, 4>(
        &mut *net,
        Samples { images: &x, labels: &y },
        Some(empty),
        BceWithLogits,
        |l| l as f32,
        &mut Sgd::new(0.1),
        &cfg,
    )
    .unwrap();
    assert_eq!(h.epochs.len(), 2);
    assert!(h.epochs.iter().all(|e| e.val_loss.is_none() && e.val_accuracy.is_none() && e.loss.is_finite()));
    let (loss, acc) = evaluate_set::<_, _, 4>(&*net, empty, BceWithLogits, |l| l as f32);
    assert!(loss.is_nan() && acc.is_nan(), "{loss} {acc}");
}

/// Early stopping follows the monitored figure: it keeps the best epoch's
/// weights, stops after `patience` epochs without an improvement larger
/// than `min_delta`, and puts the best weights back at the end; a NaN or
/// missing figure is no improvement.
#[test]
fn early_stopping_stops_after_patience_and_restores_the_best_weights() {
    use constnet::fit::{Callback, Control, EarlyStopping, EpochStats, Monitor};
    let stats = |epoch, val_loss: Option<f32>| EpochStats {
        epoch,
        loss: 1.0,
        accuracy: 0.5,
        val_loss,
        val_accuracy: val_loss.map(|v| 1.0 - v),
        seconds: 0.1,
        skipped: 0,
    };
    let mut early = EarlyStopping::<seed1::Params>::new(Monitor::ValLoss, 3);
    early.min_delta = 0.01;
    let mut net = seed1::Params::boxed_zeroed();
    let figures = [Some(1.0), Some(0.5), Some(0.495), None, Some(f32::NAN), Some(0.7)];
    let mut stopped_at = None;
    for (i, v) in figures.into_iter().enumerate() {
        net.dense.weight[0][0] = i as f32; // the weights of epoch i + 1
        if early.on_epoch_end(&*net, &stats(i + 1, v)) == Control::Stop {
            stopped_at = Some(i + 1);
            break;
        }
    }
    // 0.495 is not 0.01 better than 0.5; then no figure, NaN: three epochs.
    assert_eq!((stopped_at, early.best_epoch()), (Some(5), Some(2)));
    early.on_train_end(&mut *net, &History::default());
    assert_eq!(net.dense.weight[0][0], 1.0, "epoch 2's weights are back");

    // Higher is better for accuracy; without restore_best the net is left.
    let mut early = EarlyStopping::<seed1::Params>::new(Monitor::ValAccuracy, 1);
    early.restore_best = false;
    assert_eq!(early.on_epoch_end(&*net, &stats(1, Some(0.5))), Control::Continue);
    assert_eq!(early.on_epoch_end(&*net, &stats(2, Some(0.4))), Control::Continue, "accuracy 0.6 is better");
    assert_eq!(early.on_epoch_end(&*net, &stats(3, Some(0.45))), Control::Stop);
    net.dense.weight[0][0] = 9.0;
    early.on_train_end(&mut *net, &History::default());
    assert_eq!((early.best_epoch(), net.dense.weight[0][0]), (Some(2), 9.0));

    // Patience 0: the first epoch (always an improvement) never stops;
    // the first without improvement does.
    let mut early = EarlyStopping::<seed1::Params>::new(Monitor::Loss, 0);
    assert_eq!(early.on_epoch_end(&*net, &stats(1, None)), Control::Continue);
    assert_eq!(early.on_epoch_end(&*net, &stats(2, None)), Control::Stop, "the same loss: no improvement");
}

/// `fit_with_callbacks` calls every callback after each step and epoch
/// and once at the end; a `Stop` after a step ends the epoch there (its
/// figures over the steps run), a `Stop` after an epoch ends training.
#[test]
fn callbacks_see_every_step_and_epoch_and_can_stop_training() {
    use constnet::fit::{Callback, Control, EpochStats, fit_with_callbacks};
    use constnet::train::{TrainState, train_step};
    #[derive(Default)]
    struct Log {
        steps: Vec<(usize, usize)>,
        epochs: Vec<usize>,
        ended: usize,
        stop_at_step: Option<(usize, usize)>,
        stop_at_epoch: Option<usize>,
    }
    impl<P> Callback<P> for Log {
        fn on_step_end(&mut self, _: &P, epoch: usize, step: usize, r: &constnet::train::StepResult) -> Control {
            assert!(r.loss.is_finite());
            self.steps.push((epoch, step));
            if self.stop_at_step == Some((epoch, step)) { Control::Stop } else { Control::Continue }
        }
        fn on_epoch_end(&mut self, _: &P, s: &EpochStats) -> Control {
            self.epochs.push(s.epoch);
            if self.stop_at_epoch == Some(s.epoch) { Control::Stop } else { Control::Continue }
        }
        fn on_train_end(&mut self, _: &mut P, h: &History) {
            self.ended += 1;
            assert_eq!(h.epochs.len(), self.epochs.len());
        }
    }
    let (x, y) = bars(40, 1);
    let set = Samples { images: &x, labels: &y };
    let cfg =
        FitConfig { epochs: 10, sampling: Sampling::InOrder, progress: false, verbose: false, ..FitConfig::default() };
    let run = |log: &mut Log, other: &mut Log| {
        let mut net = seed1::Params::boxed_zeroed();
        net.init(Init::Normal(0.05), &mut SmallRng::seed_from_u64(3));
        let (mut st, mut opt) = (TrainState::<seed1::Params, 4>::boxed_zeroed(), Sgd::new(0.1));
        fit_with_callbacks::<_, _, _, 4>(
            &mut *net,
            set,
            None,
            BceWithLogits,
            |l| l as f32,
            &cfg,
            &mut [log, other],
            &mut opt,
            |n, opt, x, y, r| train_step(n, x, y, BceWithLogits, opt, &mut st, r),
        )
        .unwrap()
    };
    let (mut a, mut b) = (Log { stop_at_epoch: Some(3), ..Log::default() }, Log::default());
    let h = run(&mut a, &mut b);
    assert_eq!((h.epochs.len(), a.epochs.clone(), b.epochs.clone()), (3, vec![1, 2, 3], vec![1, 2, 3]));
    assert_eq!((a.steps.len(), b.steps.len(), a.ended, b.ended), (30, 30, 1, 1), "10 steps an epoch");
    let (mut a, mut b) = (Log::default(), Log { stop_at_step: Some((2, 4)), ..Log::default() });
    let h = run(&mut a, &mut b);
    assert_eq!((h.epochs.len(), a.steps.len(), a.ended), (2, 14, 1));
}

/// `evaluate_metrics` counts every sample once (the remainder after the
/// last whole batch too), its accuracy is `evaluate_set`'s, each row of the
/// confusion matrix holds that class's samples, top-k grows to 1 at k = N,
/// and the table names the classes.
#[test]
fn metrics_agree_with_evaluate_set_and_count_every_sample() {
    use constnet::fit::evaluate_metrics;
    use constnet::train::SoftmaxCrossEntropy;
    use constnet::zoo::fashion10;
    let mut rng = SmallRng::seed_from_u64(8);
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let x: Vec<Tensor<1, 28, 28>> = (0..45).map(|_| Tensor::from_fn(|_, _, _| rng.random_range(-1.0..1.0))).collect();
    let y: Vec<u8> = (0..45).map(|i| (i * 7 % 10) as u8).collect();
    let set = Samples { images: &x, labels: &y };
    let m = evaluate_metrics::<_, 10, 8>(&*net, set);
    let (_, acc) = evaluate_set::<_, _, 8>(&*net, set, SoftmaxCrossEntropy, |l| l as usize);
    assert_eq!(m.samples(), 45);
    assert_eq!(m.accuracy(), acc);
    assert_eq!(m.top_k(1), acc);
    for c in 0..10 {
        let n = y.iter().filter(|&&l| l as usize == c).count();
        assert_eq!(m.confusion[c].iter().sum::<usize>(), n, "class {c}");
    }
    let tops: Vec<f32> = (1..=10).map(|k| m.top_k(k)).collect();
    assert!(tops.windows(2).all(|w| w[0] <= w[1]) && tops[9] == 1.0, "{tops:?}");
    let table = m.table(&constnet::data::FASHION_MNIST_CLASSES);
    assert_eq!(table.lines().count(), 11, "{table}");
    assert!(table.contains("Ankle boot |") && table.contains("T-shirt/top |"), "{table}");
}
