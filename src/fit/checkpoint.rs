//! Checkpoints of the training loop: one safetensors file with everything a
//! run needs to go on exactly where it stopped.

#[cfg(doc)]
use super::fit;
use super::{EpochStats, FitRng, History, Sampling};
use crate::Network;
use crate::io::{self, Dtype, LoadOptions, Metadata, TensorView};
use crate::resume::{Resumable, StateMut};
use std::format;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

/// Where and how often [`fit`](super::fit) saves a checkpoint, and whether
/// it resumes from one ([`FitConfig::checkpoint`](super::FitConfig::checkpoint)).
///
/// The file is safetensors: the network's parameters under their
/// `state_dict` names ([`io::load_bytes_with`] with
/// [`LoadOptions::skip_prefix`] `Some("checkpoint.")` reads them alone;
/// PyTorch's `safetensors.torch.load_file` reads every tensor), and under `checkpoint.` the optimizer's state (moments,
/// step counts: every piece its [`Resumable`] visits), the loop's
/// generator and sample order; its metadata holds the epoch and step, the
/// epoch's running sums and the history so far. It is written atomically
/// (as [`io::save_file`]): a crash leaves the previous checkpoint whole.
///
/// A run resumed from a checkpoint gives the weights, optimizer state and
/// history (except the times) an uninterrupted run with the same seed
/// gives, bit for bit, on one thread or on a
/// [`ParallelTrainer`](crate::parallel::ParallelTrainer)'s threads (its
/// generators are state too), provided all the state the step changes is
/// the state [`fit_with_callbacks`](super::fit_with_callbacks) hands it
/// ([`fit`] passes the optimizer; [`fit_with`](super::fit_with) refuses
/// checkpoints) and both runs use the same kernels backend (the backends
/// sum in different orders). Callbacks keep their own state: an
/// [`EarlyStopping`](super::EarlyStopping) starts afresh on resume.
///
/// A first checkpoint is written before the first step (so a path that
/// cannot be written fails at once), then after every epoch. A checkpoint
/// is refused, before anything changes, if it belongs to another run
/// (batch, number of samples, labels, seed, sampling), lies past this run's
/// epochs, or is damaged; the file is read up to a bound computed from
/// the run (its tensors, state and epochs), never sized by the file.
///
/// ```
/// use constnet::fit::{fit, Checkpoint, FitConfig, Samples};
/// use constnet::train::BceWithLogits;
/// use constnet::{network, optim::Sgd, Dense, Flat, Sigmoid, Tensor};
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() {
/// let images = [Tensor::from_array([[[1.0]], [[0.0]]]), Tensor::from_array([[[0.0]], [[1.0]]])];
/// let set = Samples { images: &images, labels: &[1, 0] };
/// let path = std::env::temp_dir().join(format!("constnet-doc-ckpt-{}.safetensors", std::process::id()));
/// let run = |epochs| {
///     let cfg = FitConfig { epochs, verbose: false, progress: false, checkpoint: Some(Checkpoint::new(&path)), ..FitConfig::default() };
///     let mut net = tiny::Params::zeroed();
///     let h = fit::<_, _, _, 2>(&mut net, set, None, BceWithLogits, |l| l as f32, &mut Sgd::new(0.5), &cfg).unwrap();
///     (net, h.epochs.len())
/// };
/// let (_, done) = run(3); // three epochs, a checkpoint after each
/// let (resumed, all) = run(5); // starts at epoch 4 from the file
/// std::fs::remove_file(&path).unwrap();
/// let (straight, _) = run(5); // five epochs, never stopped
/// std::fs::remove_file(&path).unwrap();
/// assert_eq!((done, all), (3, 5));
/// assert_eq!(resumed, straight); // bit for bit
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The checkpoint file.
    pub path: PathBuf,
    /// Save also every this many steps of an epoch (0, the default: at the
    /// end of each epoch only, and when a callback stops training).
    pub every_steps: usize,
    /// Start from the checkpoint at `path` if there is one (the default);
    /// without a file the run starts afresh.
    pub resume: bool,
}

impl Checkpoint {
    /// Saves at the end of every epoch to `path` and resumes from it.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Checkpoint { path: path.into(), every_steps: 0, resume: true }
    }
}

/// An error saving or resuming from a checkpoint: the file and the problem.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointError {
    /// The checkpoint file.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: CheckpointErrorKind,
}

/// What went wrong with a checkpoint.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CheckpointErrorKind {
    /// Reading or writing the file failed.
    Io(String),
    /// The file is not a valid safetensors file, or its parameters do not
    /// fit the network (as [`io::load_file`] reports it).
    Weights(String),
    /// The file belongs to another run: a setting differs.
    Mismatch {
        /// The setting, e.g. `batch`.
        setting: &'static str,
        /// Its value in the file.
        file: String,
        /// Its value in this run.
        run: String,
    },
    /// The file lacks a piece of the loop's or the optimizer's state, or
    /// holds one that is malformed (the message says which and how).
    Invalid(String),
}

impl core::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "checkpoint {}: ", self.path.display())?;
        match &self.kind {
            CheckpointErrorKind::Io(m) | CheckpointErrorKind::Weights(m) | CheckpointErrorKind::Invalid(m) => {
                f.write_str(m)
            }
            CheckpointErrorKind::Mismatch { setting, file, run } => {
                write!(f, "written by another run: {setting} is {file} in the file and {run} in this run")
            }
        }
    }
}

impl std::error::Error for CheckpointError {}

/// Where a run stands: the epoch under way (1-based), the steps of it done
/// and its running sums.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Position {
    pub epoch: usize,
    pub step: usize,
    pub loss_sum: f64,
    pub correct: usize,
    pub seen: usize,
    pub skipped: usize,
}

/// The settings of a run that a checkpoint must share to resume it.
pub(super) struct Run {
    /// The epochs the run is to train (a checkpoint past them is refused).
    pub epochs: usize,
    pub batch: usize,
    pub samples: usize,
    /// FNV-1a of the training labels: a checkpoint of another set of the
    /// same size is refused.
    pub labels: u64,
    pub seed: u64,
    pub sampling: Sampling,
}

impl Run {
    /// FNV-1a (64-bit) of `labels`.
    pub fn fingerprint(labels: &[u8]) -> u64 {
        labels.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }

    fn settings(&self) -> [(&'static str, String); 5] {
        [
            ("batch", self.batch.to_string()),
            ("samples", self.samples.to_string()),
            ("labels_fnv1a", format!("{:016x}", self.labels)),
            ("seed", self.seed.to_string()),
            ("sampling", format!("{:?}", self.sampling)),
        ]
    }
}

/// The tensors' prefix: what is not a parameter.
const PREFIX: &str = "checkpoint.";
/// The metadata key that marks a checkpoint, and its format's version.
const MARK: (&str, &str) = ("constnet.checkpoint", "1");

/// The loop's state that a checkpoint holds beside the network.
pub(super) struct Loop<'a> {
    pub state: &'a mut dyn Resumable,
    pub rng: &'a mut FitRng,
    pub order: &'a mut [usize],
    pub history: &'a mut History,
}

/// Writes the checkpoint of `net` and the loop at `pos` to `ck.path`.
pub(super) fn save<P: Network>(
    ck: &Checkpoint,
    net: &P,
    lp: Loop<'_>,
    pos: &Position,
    run: &Run,
) -> Result<(), CheckpointError> {
    let err = |kind| CheckpointError { path: ck.path.clone(), kind };
    let mut extra: Vec<io::file::Owned> = Vec::new();
    extra.push((format!("{PREFIX}rng"), safetensors::Dtype::U8, std::vec![49], lp.rng.serialize_state().to_vec()));
    let order = lp.order.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect();
    extra.push((format!("{PREFIX}order"), safetensors::Dtype::U64, std::vec![lp.order.len()], order));
    let mut duplicate = None;
    lp.state.visit(&mut |name, piece| {
        let name = format!("{PREFIX}state.{name}");
        if extra.iter().any(|t| t.0 == name) {
            duplicate = Some(name.clone());
        }
        extra.push(match piece {
            StateMut::F32(s) => {
                (name, safetensors::Dtype::F32, std::vec![s.len()], s.iter().flat_map(|v| v.to_le_bytes()).collect())
            }
            StateMut::Bytes(s) => (name, safetensors::Dtype::U8, std::vec![s.len()], s.to_vec()),
        });
    });
    if let Some(name) = duplicate {
        return Err(err(CheckpointErrorKind::Invalid(format!("two pieces of state are named {name:?}"))));
    }
    let mut meta: Metadata = run.settings().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    meta.insert(MARK.0.to_string(), MARK.1.to_string());
    for (k, v) in [
        ("epoch", pos.epoch as u64),
        ("step", pos.step as u64),
        ("loss_sum", pos.loss_sum.to_bits()),
        ("correct", pos.correct as u64),
        ("seen", pos.seen as u64),
        ("skipped", pos.skipped as u64),
    ] {
        meta.insert(k.to_string(), v.to_string());
    }
    meta.insert("history".to_string(), history_json(lp.history));
    let bytes =
        io::file::to_bytes_with(net, extra, &meta).map_err(|e| err(CheckpointErrorKind::Weights(e.to_string())))?;
    io::atomic::write_atomically(&ck.path, |file| std::io::Write::write_all(file, &bytes))
        .map_err(|e| err(CheckpointErrorKind::Io(e.to_string())))
}

/// The longest JSON of one history entry: seven numbers of at most 20
/// digits, their separators and brackets.
const HISTORY_ENTRY_MAX: usize = 7 * 21 + 3;

/// A value from the file as an error quotes it: at most 64 characters.
fn quoted(v: &str) -> &str {
    v.char_indices().nth(64).map_or(v, |(i, _)| &v[..i])
}

/// One history entry as the checkpoint stores it: floats as their bits.
type Entry = (usize, u32, u32, Option<u32>, Option<u32>, u64, usize);

fn history_json(h: &History) -> String {
    let entries: Vec<Entry> = (h.epochs.iter())
        .map(|e| {
            let bits = |v: Option<f32>| v.map(f32::to_bits);
            (
                e.epoch,
                e.loss.to_bits(),
                e.accuracy.to_bits(),
                bits(e.val_loss),
                bits(e.val_accuracy),
                e.seconds.to_bits(),
                e.skipped,
            )
        })
        .collect();
    serde_json::to_string(&entries).unwrap_or_default()
}

/// Restores `net` and the loop from the checkpoint at `ck.path`, and
/// returns where the run stands; `None` (nothing changed) if there is no
/// such file. Everything is checked before anything is written: on error
/// `net` and the loop are unchanged.
pub(super) fn load<P: Network>(
    ck: &Checkpoint,
    net: &mut P,
    lp: Loop<'_>,
    run: &Run,
) -> Result<Option<Position>, CheckpointError> {
    let path = ck.path.as_path();
    let err = |kind| CheckpointError { path: path.to_path_buf(), kind };
    let invalid = |m: String| err(CheckpointErrorKind::Invalid(m));
    // The longest valid file for this run: its header (the tensors' entries,
    // the metadata and a history of at most `run.epochs` epochs), the
    // parameters, the state, the generator and the order.
    let (mut state_bytes, mut tensors) = (0u64, 2u64);
    lp.state.visit(&mut |name, piece| {
        tensors += 1 + name.len() as u64 / 64;
        state_bytes += match piece {
            StateMut::F32(s) => 4 * s.len() as u64,
            StateMut::Bytes(s) => s.len() as u64,
        }
    });
    net.visit(&mut |_, _| tensors += 1);
    let header = 4096 + 256 * tensors + HISTORY_ENTRY_MAX as u64 * run.epochs as u64;
    let data = 4 * P::LEN as u64 + state_bytes + 49 + 8 * lp.order.len() as u64;
    let max = 8 + header + data;
    let bytes = match io::file::read_bounded(path, max) {
        Ok(bytes) => bytes,
        Err(io::ErrorKind::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(io::ErrorKind::TooLarge { .. }) => {
            let m = format!("more than the {max} bytes any checkpoint of this run can have");
            return Err(err(CheckpointErrorKind::Io(m)));
        }
        Err(e) => return Err(err(CheckpointErrorKind::Io(e.to_string()))),
    };
    let weights = |m: String| err(CheckpointErrorKind::Weights(m));
    let st = io::file::checked_view(&bytes).map_err(|e| weights(format!("not a valid safetensors file: {e}")))?;
    let meta = |key: &str| -> Result<String, CheckpointError> {
        match st.metadata(key) {
            Ok(Some(v)) => Ok(v.to_string()),
            _ => Err(invalid(format!("no {key:?} in its metadata: not a checkpoint of constnet's fit"))),
        }
    };
    let mark = meta(MARK.0)?;
    if mark != MARK.1 {
        return Err(invalid(format!("checkpoint format {:?}; this constnet reads format {:?}", quoted(&mark), MARK.1)));
    }
    for (setting, value) in run.settings() {
        let file = meta(setting)?;
        if file != value {
            return Err(err(CheckpointErrorKind::Mismatch { setting, file: quoted(&file).to_string(), run: value }));
        }
    }
    let number = |key: &str| -> Result<u64, CheckpointError> {
        let v = meta(key)?;
        v.parse().map_err(|_| invalid(format!("metadata {key:?} is {:?}, not a whole number", quoted(&v))))
    };
    let count = |key: &str| -> Result<usize, CheckpointError> {
        let v = number(key)?;
        usize::try_from(v).map_err(|_| invalid(format!("metadata {key:?} is {v}, more than this machine counts")))
    };
    let steps = run.samples / run.batch;
    let pos = Position {
        epoch: count("epoch")?,
        step: count("step")?,
        loss_sum: f64::from_bits(number("loss_sum")?),
        correct: count("correct")?,
        seen: count("seen")?,
        skipped: count("skipped")?,
    };
    if pos.epoch == 0 || pos.step >= steps {
        return Err(invalid(format!(
            "epoch {} step {} is not a position of a run of {steps} steps an epoch",
            pos.epoch, pos.step
        )));
    }
    // Past the run's last epoch: its weights are not this run's to go on from.
    if pos.epoch > run.epochs + 1 || (pos.epoch == run.epochs + 1 && pos.step > 0) {
        let file = if pos.step == 0 {
            format!("{}", pos.epoch - 1)
        } else {
            format!("{} and part of epoch {}", pos.epoch - 1, pos.epoch)
        };
        return Err(err(CheckpointErrorKind::Mismatch { setting: "epochs", file, run: run.epochs.to_string() }));
    }
    // The epoch's running sums: over the steps done and not skipped.
    let trained = pos.step.checked_sub(pos.skipped).and_then(|s| s.checked_mul(run.batch));
    if trained != Some(pos.seen) || pos.correct > pos.seen || !pos.loss_sum.is_finite() || pos.loss_sum < 0.0 {
        return Err(invalid(format!(
            "the running sums (loss {}, {} correct of {} seen, {} skipped) do not fit step {} of batches of {}",
            pos.loss_sum, pos.correct, pos.seen, pos.skipped, pos.step, run.batch
        )));
    }
    let history = parse_history(&meta("history")?, pos.epoch).map_err(invalid)?;

    // The loop's tensors and the state, checked.
    let tensor = |name: &str, dtype: Dtype, len: usize| -> Result<TensorView<'_>, CheckpointError> {
        let t = (st.tensor(name).ok().flatten()).ok_or_else(|| invalid(format!("no tensor {name:?}")))?;
        if t.dtype != dtype || !t.shape_is(&[len]) {
            let found = format!("{:?} {:?}", t.dtype, t.dims().kept());
            return Err(invalid(format!("tensor {name:?} is {found}, expected {dtype:?} [{len}]")));
        }
        Ok(t)
    };
    let rng_bytes = tensor(&format!("{PREFIX}rng"), Dtype::U8, 49)?.data;
    let order = tensor(&format!("{PREFIX}order"), Dtype::U64, lp.order.len())?.data;
    let mut seen = std::vec![false; lp.order.len()];
    for b in order.chunks_exact(8) {
        let i = u64::from_le_bytes(b.try_into().unwrap_or_default());
        match seen.get_mut(i as usize) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(invalid(format!(
                    "tensor \"{PREFIX}order\" is not an order of the {} samples",
                    lp.order.len()
                )));
            }
        }
    }
    let mut state_err = None;
    let mut pieces = 0;
    lp.state.visit(&mut |name, piece| {
        pieces += 1;
        let (dtype, len) = match &piece {
            StateMut::F32(s) => (Dtype::F32, s.len()),
            StateMut::Bytes(s) => (Dtype::U8, s.len()),
        };
        let name = format!("{PREFIX}state.{name}");
        match tensor(&name, dtype, len) {
            Ok(t) if dtype == Dtype::F32 => {
                let bad = t.f32s().into_iter().flatten().position(|v| !v.is_finite());
                if let Some(i) = bad {
                    state_err.get_or_insert(invalid(format!("tensor {name:?}: value {i} is not finite")));
                }
            }
            Ok(_) => {}
            Err(e) => {
                state_err.get_or_insert(e);
            }
        }
    });
    if let Some(e) = state_err {
        return Err(e);
    }
    let state_prefix = format!("{PREFIX}state.");
    let in_file = st.tensors().filter(|t| t.name.as_str().is_some_and(|n| n.starts_with(&state_prefix))).count();
    if in_file != pieces {
        return Err(invalid(format!(
            "{in_file} pieces of the step's state in the file, {pieces} in this run's (another optimizer, or a trainer on another number of threads?)"
        )));
    }

    // The weights, checked and written; then everything else.
    let options = LoadOptions { skip_prefix: Some(PREFIX), ..LoadOptions::default() };
    io::load_view_with(net, &st, options).map_err(|e| weights(e.to_string()))?;
    lp.state.visit(&mut |name, piece| {
        if let Ok(Some(t)) = st.tensor(&format!("{PREFIX}state.{name}")) {
            match piece {
                StateMut::F32(s) => {
                    for (d, v) in s.iter_mut().zip(t.f32s().into_iter().flatten()) {
                        *d = v;
                    }
                }
                StateMut::Bytes(s) => s.copy_from_slice(t.data),
            }
        }
    });
    lp.state.restored();
    for (o, b) in lp.order.iter_mut().zip(order.chunks_exact(8)) {
        *o = u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize;
    }
    let mut state = [0u8; 49];
    state.copy_from_slice(rng_bytes);
    *lp.rng = FitRng::deserialize_state(&state);
    *lp.history = history;
    Ok(Some(pos))
}

/// The history of a checkpoint whose epoch `epoch` is under way: one entry
/// for each epoch before it, numbered from 1.
fn parse_history(json: &str, epoch: usize) -> Result<History, String> {
    if json.len() > HISTORY_ENTRY_MAX * (epoch - 1) + 2 {
        return Err(format!("metadata \"history\" is {} bytes, too long for {} epochs", json.len(), epoch - 1));
    }
    let entries: Vec<Entry> =
        serde_json::from_str(json).map_err(|e| format!("metadata \"history\" is not a list of epochs: {e}"))?;
    if entries.len() + 1 != epoch || entries.iter().enumerate().any(|(i, e)| e.0 != i + 1) {
        return Err(format!("metadata \"history\" does not list epochs 1 to {} in order", epoch - 1));
    }
    let epochs = (entries.into_iter())
        .map(|(epoch, loss, accuracy, val_loss, val_accuracy, seconds, skipped)| EpochStats {
            epoch,
            loss: f32::from_bits(loss),
            accuracy: f32::from_bits(accuracy),
            val_loss: val_loss.map(f32::from_bits),
            val_accuracy: val_accuracy.map(f32::from_bits),
            seconds: f64::from_bits(seconds),
            skipped,
        })
        .collect();
    Ok(History { epochs })
}
