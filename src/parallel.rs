//! Data-parallel mini-batch training over threads (std feature).
//!
//! [`ParallelTrainer<P, PER_THREAD, THREADS>`] trains on mini-batches of
//! `B = PER_THREAD * THREADS` samples. Thread `t` (thread 0 is the caller,
//! the others are persistent workers started once by
//! [`ParallelTrainer::new`]) runs forward, loss and backward on samples
//! `t*PER_THREAD .. (t+1)*PER_THREAD` into its own [`TrainState`]; then every
//! thread sums one slice of the parameter range of all the per-thread
//! gradients into thread 0's (a parallel reduction). A layer with a large
//! weight gradient shares it out instead ([`Parameters::SHARED`](crate::Parameters::SHARED):
//! a [`Dense`](crate::Dense) with at least
//! [`SHARE_MIN`](crate::layers::dense::SHARE_MIN) weights): the shards
//! leave it unwritten ([`Grad::OverwriteExceptShared`](crate::Grad::OverwriteExceptShared)), and after they
//! are all done, thread `t` computes its share of the rows over every
//! shard's samples straight into thread 0's gradient
//! ([`DataParallel::shared_grads`]), which the reduction then skips. So the
//! gradient is written once per step, not once per thread, and not read
//! back to be summed (tfconv's dense layer: 12.8 MB). An optimizer whose
//! update is element-wise ([`Sgd`], [`Adam`](crate::optim::Adam); see
//! [`Optimizer::split_step`]) is applied on every thread after the
//! reduction, each thread updating its slice; any other optimizer runs on
//! the caller afterwards.
//! The summed gradient is the gradient of the mean loss over the whole
//! batch, exactly what [`train_step`](crate::train::train_step) computes
//! for `B` samples (up to the order of float additions).
//!
//! The step checks what [`train_step`](crate::train::train_step) checks
//! ([`Divergence`]): each thread checks its slice of the summed gradient
//! against the optimizer's limit as it sums it; a barrier; then the update
//! runs only if the loss is finite and every slice passed, each thread
//! checking its updated parameters block by block. The update reads the
//! summed gradient again (it was fused with the sum before the checks).
//!
//! ```text
//! g = (1/B) Σ_{b<B} ∇ℓ_b = Σ_t (1/THREADS) · (1/PER_THREAD) Σ_{b in shard t} ∇ℓ_b
//! ```
//!
//! A step allocates nothing: the threads, their states and generators are
//! created once; a step synchronises through atomics (spinning briefly,
//! then yielding), and an idle worker sleeps on a condition variable.

use crate::optim::{Optimizer, Sgd, SplitStep};
use crate::train::{Divergence, Loss, StepResult, TrainState, check_after_update, check_before_update, share_pass};
use crate::{DataParallel, Flat, Network};
use chacha20::ChaCha8Rng;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use rand::SeedableRng;
use std::boxed::Box;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::vec::Vec;

/// Stack size of the worker threads (the same as a main thread's usual 8 MiB;
/// layers keep small scratch buffers on the stack).
pub const WORKER_STACK: usize = 8 << 20;

/// Spins before a waiting thread starts yielding its core.
const SPINS: usize = 2_000;
/// Yields before an idle worker goes to sleep on the condition variable.
const YIELDS: usize = 20_000;
/// Floats per block of the gradient reduction (4 KiB per array).
const REDUCE_BLOCK: usize = 1024;

/// The step being run, published by the caller before it bumps the epoch.
struct Job<P: DataParallel> {
    net: *mut P,
    /// The optimizer step run after the reduction, if it splits. Its
    /// lifetime is erased: `run` takes the job back after every thread has
    /// finished the step (also when one panicked) and before it returns.
    update: Option<SplitStep<'static, P>>,
    /// The optimizer's [`grad_limit`](Optimizer::grad_limit).
    limit: f32,
    x: *const P::Input,
    targets: *const (),
    run: unsafe fn(&Shared<P>, usize),
    /// Thread t's share of the shared gradients (for `P::SHARES`).
    share: unsafe fn(&Shared<P>, usize),
}

/// What the threads share. Every `UnsafeCell` is written by one thread at a
/// time, as the protocol in [`ParallelTrainer::train_step`] orders.
struct Shared<P: DataParallel> {
    threads: usize,
    per_thread: usize,
    /// One erased `TrainState<P, PER_THREAD>` per thread (see [`ParallelTrainer`]).
    states: Vec<UnsafeCell<*mut ()>>,
    /// Each thread's dropout generator (ChaCha8: its state can be saved,
    /// [`Resumable`](crate::resume::Resumable)).
    rngs: Vec<UnsafeCell<ChaCha8Rng>>,
    results: Vec<UnsafeCell<(f32, usize)>>,
    job: UnsafeCell<Option<Job<P>>>,
    /// Incremented by the caller to start a step (and to shut down).
    epoch: AtomicUsize,
    /// Each thread arrives [`Shared::PHASES`] times per step: after its
    /// shard, after its share of the shared gradients (if `P::SHARES`),
    /// after its reduction, after its update.
    arrived: AtomicUsize,
    /// Whether a slice of the summed gradient reduced this step holds NaN,
    /// infinity or a magnitude beyond the optimizer's limit.
    grads_bad: AtomicBool,
    /// Whether an update left a parameter NaN or infinite this step.
    params_bad: AtomicBool,
    /// The ranges the reduction sums: all of the gradients but the shared
    /// ones ([`DataParallel::shared_params`]), which the shares wrote whole.
    summed: Vec<core::ops::Range<usize>>,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    /// Frees the erased states.
    drop_state: unsafe fn(*mut ()),
    /// The erased state's parameter gradients as a flat slice.
    grads_of: unsafe fn(*mut ()) -> *mut f32,
    grads_len: usize,
}

// SAFETY: the raw pointers point to `Flat` data (plain f32s) or to the
// caller's network and batch, which outlive the step that publishes them;
// access is ordered by the epoch/arrived atomics (see `train_step`).
unsafe impl<P: DataParallel> Send for Shared<P> {}
// SAFETY: as above.
unsafe impl<P: DataParallel> Sync for Shared<P> {}

impl<P: DataParallel> Drop for Shared<P> {
    fn drop(&mut self) {
        for s in &self.states {
            // SAFETY: each state was made by `Box::into_raw` in `new` and is freed once.
            unsafe { (self.drop_state)(*s.get()) };
        }
    }
}

/// Waits until `cond()` holds: spins, then yields the core.
fn wait_until(cond: impl Fn() -> bool) {
    let mut n = 0usize;
    while !cond() {
        if n < SPINS {
            core::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
        n = n.saturating_add(1);
    }
}

impl<P: DataParallel> Shared<P> {
    /// Arrivals per step: 4 with shared gradients, else 3.
    const PHASES: usize = if P::SHARES { 4 } else { 3 };

    /// Arrives at the next barrier point and waits for the others.
    fn arrive_and_wait(&self, target: usize) {
        self.arrived.fetch_add(1, Ordering::AcqRel);
        wait_until(|| self.arrived.load(Ordering::Acquire) >= target);
    }

    /// Thread `t`'s slice of the flat gradients (and parameters): a
    /// `1/threads` part, in multiples of 16 floats.
    fn slice(&self, t: usize) -> core::ops::Range<usize> {
        let n = self.grads_len;
        let chunk = n.div_ceil(self.threads).div_ceil(16) * 16;
        (t * chunk).min(n)..((t + 1) * chunk).min(n)
    }

    /// Whether the step passed its checks before the update: a finite mean
    /// loss and every slice of the summed gradient within the limit (all
    /// reductions are done). The workers and the caller decide by it alike.
    fn passed(&self) -> bool {
        self.mean_loss().is_finite() && !self.grads_bad.load(Ordering::Acquire)
    }

    /// The step's mean loss over the shards (all shards are done).
    fn mean_loss(&self) -> f32 {
        // SAFETY: read after the shards' barrier; no thread writes them until the next step.
        self.results.iter().map(|r| unsafe { (*r.get()).0 }).sum::<f32>() / self.threads as f32
    }

    /// Sums slice `t` of every thread's gradients into thread 0's (but for
    /// the shared ranges, which the shares wrote there) and notes in
    /// `grads_bad` a sum beyond the optimizer's limit. One pass over the
    /// slice, in blocks of [`REDUCE_BLOCK`] floats that stay in the L1
    /// cache while they are summed and checked. Nothing is zeroed: the next step's
    /// shards overwrite their gradients ([`Grad::Overwrite`](crate::Grad::Overwrite)).
    ///
    /// # Safety
    /// All shards of the step are done; no other thread touches this slice.
    unsafe fn reduce(&self, t: usize) {
        let core::ops::Range { start: lo, end: hi } = self.slice(t);
        // SAFETY: states live as long as `self`.
        let g0_all = unsafe { (self.grads_of)(*self.states[0].get()) };
        // SAFETY: the job stays published until every thread has arrived for the last time.
        let limit = unsafe { (*self.job.get()).as_ref().map_or(f32::MAX, |j| j.limit) };
        let mut within = true;
        let mut b0 = lo;
        while b0 < hi {
            let b1 = (b0 + REDUCE_BLOCK).min(hi);
            // SAFETY (the whole block): states live as long as `self`; the
            // slices [lo, hi) of different threads' reductions are disjoint,
            // and so are the states. Each slice made here ends before the
            // next one over the same floats is made.
            unsafe {
                // The block's parts outside the shared ranges (final already).
                for r in &self.summed {
                    let (a, e) = (r.start.max(b0), r.end.min(b1));
                    if a >= e {
                        continue;
                    }
                    let g0 = core::slice::from_raw_parts_mut(g0_all.add(a), e - a);
                    for s in 1..self.threads {
                        let gs = core::slice::from_raw_parts((self.grads_of)(*self.states[s].get()).add(a), e - a);
                        crate::math::add_assign(g0, gs);
                    }
                }
                within &= crate::math::all_within(core::slice::from_raw_parts(g0_all.add(b0), b1 - b0), limit);
            }
            b0 = b1;
        }
        if !within {
            self.grads_bad.store(true, Ordering::Release);
        }
    }

    /// With a split optimizer step, and if the step passed its checks (a
    /// finite loss, every summed gradient within the limit): updates slice
    /// `t` of the parameters, noting a non-finite result in `params_bad`.
    ///
    /// # Safety
    /// Every thread's reduction is done; no other thread touches this slice.
    unsafe fn update(&self, t: usize) {
        // SAFETY: the job stays published until every thread has arrived for the last time.
        let Some(job) = (unsafe { (*self.job.get()).as_ref() }) else { return };
        let Some(u) = job.update.as_ref() else { return };
        if !self.passed() {
            return;
        }
        // SAFETY: states live as long as `self`; the net outlives the step;
        // the slices of different threads are disjoint.
        let finite = unsafe { u.apply(job.net as *mut f32, (self.grads_of)(*self.states[0].get()), self.slice(t)) };
        if !finite {
            self.params_bad.store(true, Ordering::Release);
        }
    }

    /// Runs thread `t`'s part of the step that `epoch` published: its shard,
    /// the barrier, its share of the shared gradients and a barrier (if the
    /// network shares any), its slice of the reduction, a barrier, its
    /// slice of the update, the last arrival.
    fn work(&self, t: usize, step: usize) {
        let phases = Self::PHASES;
        self.catching(|| {
            // SAFETY: the job was published before the epoch was bumped and stays
            // valid until every thread has arrived `phases` times.
            let job = unsafe { (*self.job.get()).as_ref().map(|j| j.run) };
            if let Some(run) = job {
                // SAFETY: as above; thread t owns states[t], rngs[t], results[t].
                unsafe { run(self, t) };
            }
        });
        self.arrive_and_wait(self.threads * (phases * step - (phases - 1)));
        if phases == 4 {
            if !self.panicked.load(Ordering::Acquire) {
                self.catching(|| {
                    // SAFETY: as above; every shard is done (the barrier), so
                    // the states are only read, and thread t writes its
                    // share's entries of thread 0's gradient alone.
                    let job = unsafe { (*self.job.get()).as_ref().map(|j| j.share) };
                    if let Some(share) = job {
                        // SAFETY: as above.
                        unsafe { share(self, t) };
                    }
                });
            }
            self.arrive_and_wait(self.threads * (phases * step - 2));
        }
        if !self.panicked.load(Ordering::Acquire) {
            // Caught too, so that the caller always waits for every thread and
            // clears the job (which borrows its optimizer) before unwinding.
            // SAFETY: every shard is done (first barrier); slices are disjoint.
            self.catching(|| unsafe { self.reduce(t) });
        }
        self.arrive_and_wait(self.threads * (phases * step - 1));
        if !self.panicked.load(Ordering::Acquire) {
            // SAFETY: every reduction is done (the barrier); slices are disjoint.
            self.catching(|| unsafe { self.update(t) });
        }
        self.arrived.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `f`; a panic in it is caught and recorded in `panicked`, for
    /// the caller to report once every thread has arrived.
    fn catching(&self, f: impl FnOnce()) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
            self.panicked.store(true, Ordering::Release);
        }
    }

    /// A worker's loop: wait for a new epoch, work, repeat until shutdown.
    fn worker(&self, t: usize) {
        // Subnormals flushed to zero for the worker's life, as in `train_step`.
        let _ftz = crate::math::FlushSubnormals::new();
        let mut seen = 0usize;
        loop {
            let mut n = 0usize;
            loop {
                if self.epoch.load(Ordering::Acquire) != seen {
                    break;
                }
                if n < SPINS {
                    core::hint::spin_loop();
                } else if n < SPINS + YIELDS {
                    std::thread::yield_now();
                } else {
                    // Long idle: sleep until the caller publishes a step.
                    let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                    self.sleepers.fetch_add(1, Ordering::SeqCst);
                    let guard = self
                        .wake
                        .wait_while(guard, |_| self.epoch.load(Ordering::SeqCst) == seen)
                        .unwrap_or_else(|e| e.into_inner());
                    self.sleepers.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                }
                n = n.saturating_add(1);
            }
            seen = self.epoch.load(Ordering::Acquire);
            if self.shutdown.load(Ordering::Acquire) {
                return;
            }
            self.work(t, seen);
        }
    }

    /// Bumps the epoch and wakes sleeping workers.
    fn publish(&self) -> usize {
        let step = {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.epoch.fetch_add(1, Ordering::SeqCst) + 1
        };
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
        step
    }
}

/// Thread `t`'s shard of a step: forward, loss, backward into its own state.
///
/// # Safety
/// Called only by `Shared::work` for the published job, whose pointers are valid.
unsafe fn run_shard<P: DataParallel, L: Loss<P>, const PER_THREAD: usize>(shared: &Shared<P>, t: usize) {
    // SAFETY: the caller's contract; the casts undo the erasure done in `train_step`.
    unsafe {
        let job = (*shared.job.get()).as_ref().expect("a published job");
        let net = &*(job.net as *const P);
        let x = &*(job.x.add(t * PER_THREAD) as *const [P::Input; PER_THREAD]);
        let targets = &*((job.targets as *const L::Target).add(t * PER_THREAD) as *const [L::Target; PER_THREAD]);
        let st = &mut *(*shared.states[t].get() as *mut TrainState<P, PER_THREAD>);
        let rng = &mut *shared.rngs[t].get();
        // The loss is a mean over this shard; the step's loss is the mean
        // over all shards. The gradients are overwritten, so whatever the
        // last step left (a sum, a failed shard's partial gradients) is
        // never read.
        *shared.results[t].get() =
            share_pass::<P, L, PER_THREAD>(net, x, targets, st, rng, 1.0 / shared.threads as f32, P::SHARES);
    }
}

/// Thread `t`'s share of the shared gradients, over every shard's samples,
/// into thread 0's gradient.
///
/// # Safety
/// Called only by `Shared::work` for the published job, after every shard
/// is done and before the reduction; every other thread runs its own share.
unsafe fn run_share<P: DataParallel, const PER_THREAD: usize>(shared: &Shared<P>, t: usize) {
    // SAFETY: the caller's contract; the casts undo the erasure done in `train_step`.
    unsafe {
        let job = (*shared.job.get()).as_ref().expect("a published job");
        let net = &*(job.net as *const P);
        // The workspaces and deltas only, through raw field projections: no
        // reference covers the gradients, whose shared rows other threads
        // are writing.
        let input = |k: usize| {
            let st = *shared.states[k].get() as *const TrainState<P, PER_THREAD>;
            let x = &*(job.x.add(k * PER_THREAD) as *const [P::Input; PER_THREAD]);
            (x, &*core::ptr::addr_of!((*st).ws), &*core::ptr::addr_of!((*st).delta))
        };
        let g0 = (shared.grads_of)(*shared.states[0].get());
        net.shared_grads::<PER_THREAD>(&input, t, shared.threads, g0);
    }
}

/// Data-parallel trainer: mini-batches of `PER_THREAD * THREADS` samples,
/// `PER_THREAD` per thread, on `THREADS` threads (the caller's and
/// `THREADS - 1` persistent workers).
///
/// # Panics
/// `new` panics if a worker thread cannot be started. `train_step` panics if
/// a shard panicked (e.g. a class index out of range), after every thread
/// has stopped using the caller's data.
///
/// ```
/// use constnet::{network, optim::Sgd, parallel::ParallelTrainer, train::SoftmaxCrossEntropy,
///                Dense, Flat, Init, Network, Softmax, Tensor};
/// use rand::SeedableRng;
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 2>, out: Softmax } }
/// # fn main() -> Result<(), constnet::train::Divergence> {
/// let mut net = tiny::Params::boxed_zeroed();
/// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(0));
/// // Batches of 4 = 2 samples on each of 2 threads.
/// let mut trainer = ParallelTrainer::<tiny::Params, 2, 2>::new(7);
/// let mut opt = Sgd::new(0.5);
/// let x = [Tensor::from_array([[[1.0]], [[0.0]]]), Tensor::from_array([[[0.0]], [[1.0]]]),
///          Tensor::from_array([[[1.0]], [[0.2]]]), Tensor::from_array([[[0.1]], [[1.0]]])];
/// let y = [0, 1, 0, 1];
/// let first = trainer.train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt)?;
/// for _ in 0..100 { trainer.train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt)?; }
/// let last = trainer.train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt)?;
/// assert!(last.loss < first.loss / 4.0 && last.correct == 4);
/// # Ok(())
/// # }
/// ```
pub struct ParallelTrainer<P: DataParallel, const PER_THREAD: usize, const THREADS: usize> {
    shared: Arc<Shared<P>>,
    workers: Vec<JoinHandle<()>>,
}

impl<P: DataParallel + 'static, const PER_THREAD: usize, const THREADS: usize> ParallelTrainer<P, PER_THREAD, THREADS> {
    /// Starts `THREADS - 1` worker threads and allocates one
    /// [`TrainState<P, PER_THREAD>`] per thread (zeroed on the heap). The
    /// dropout generators of the threads are seeded from `seed`.
    ///
    /// # Panics
    /// If a thread cannot be spawned.
    pub fn new(seed: u64) -> Self {
        const { assert!(THREADS >= 1 && PER_THREAD >= 1, "ParallelTrainer: THREADS and PER_THREAD must be at least 1") };
        unsafe fn drop_state<P: Network, const B: usize>(p: *mut ()) {
            // SAFETY: made by Box::into_raw of this type in `new`.
            drop(unsafe { Box::from_raw(p as *mut TrainState<P, B>) });
        }
        unsafe fn grads_of<P: Network, const B: usize>(p: *mut ()) -> *mut f32 {
            // SAFETY: p is a live TrainState<P, B>; P is Flat (f32s).
            unsafe { core::ptr::addr_of_mut!((*(p as *mut TrainState<P, B>)).grads) as *mut f32 }
        }
        let shared = Arc::new(Shared::<P> {
            threads: THREADS,
            per_thread: PER_THREAD,
            states: (0..THREADS)
                .map(|_| UnsafeCell::new(Box::into_raw(TrainState::<P, PER_THREAD>::boxed_zeroed()) as *mut ()))
                .collect(),
            rngs: (0..THREADS).map(|t| UnsafeCell::new(ChaCha8Rng::seed_from_u64(seed ^ ((t as u64) << 32)))).collect(),
            results: (0..THREADS).map(|_| UnsafeCell::new((0.0, 0))).collect(),
            job: UnsafeCell::new(None),
            epoch: AtomicUsize::new(0),
            arrived: AtomicUsize::new(0),
            grads_bad: AtomicBool::new(false),
            params_bad: AtomicBool::new(false),
            summed: {
                // The gaps between the shared ranges, which come in order.
                let (mut r, mut start) = (Vec::new(), 0);
                P::shared_params(&mut |shared| {
                    debug_assert!(shared.start >= start, "shared ranges in order");
                    r.push(start..shared.start);
                    start = shared.end;
                });
                r.push(start..P::LEN);
                r
            },
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            drop_state: drop_state::<P, PER_THREAD>,
            grads_of: grads_of::<P, PER_THREAD>,
            grads_len: P::LEN,
        });
        let workers = (1..THREADS)
            .map(|t| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(std::format!("constnet-worker-{t}"))
                    .stack_size(WORKER_STACK)
                    .spawn(move || s.worker(t))
                    .expect("ParallelTrainer: could not start a worker thread")
            })
            .collect();
        ParallelTrainer { shared, workers }
    }

    /// The mini-batch size, `PER_THREAD * THREADS`.
    pub const BATCH: usize = PER_THREAD * THREADS;

    /// One training step on a batch of `B = PER_THREAD * THREADS` samples:
    /// every thread runs forward, loss and backward on its shard, the
    /// gradients are summed in parallel, and `opt` updates `net` (on every
    /// thread, slice by slice, if it [splits](Optimizer::split_step)).
    /// Returns the mean loss over the batch and the number of correct
    /// predictions (both before the update). Allocates nothing.
    ///
    /// # Errors
    /// As [`train_step`](crate::train::train_step): [`Divergence`] if the
    /// loss or a summed gradient is not finite, or a gradient is beyond
    /// the optimizer's limit (then neither `net` nor `opt` has changed), or
    /// a parameter is not finite after the update.
    ///
    /// # Panics
    /// If a shard panicked (e.g. a target out of range); the optimizer is
    /// then left as it was (its step not counted), the parameters unchanged.
    pub fn train_step<L: Loss<P>, O: Optimizer<P>, const B: usize>(
        &mut self,
        net: &mut P,
        x: &[P::Input; B],
        targets: &[L::Target; B],
        loss: L,
        opt: &mut O,
    ) -> Result<StepResult, Divergence> {
        let limit = opt.grad_limit();
        if let Some(split) = opt.split_step() {
            // Sgd, Adam: the update runs on every thread, after the reduction.
            return self.run::<L, B>(net, x, targets, loss, Some(split), limit);
        }
        let r = self.run::<L, B>(net, x, targets, loss, None, limit)?;
        // SAFETY: no worker runs between steps; thread 0's state holds the summed gradients.
        let grads = unsafe { &(*(*self.shared.states[0].get() as *const TrainState<P, PER_THREAD>)).grads };
        // As in `train::train_step` (and on the workers): subnormals flushed.
        let _ftz = crate::math::FlushSubnormals::new();
        let finite = crate::optim::update(opt, net, grads);
        check_after_update(net, finite)?;
        Ok(r)
    }

    /// [`train_step`](Self::train_step) with plain SGD (`θ ← θ - lr·g`, no
    /// momentum) split over the threads: each thread sums its slice of the
    /// gradients and, once every slice has passed the checks, updates that
    /// slice of the parameters (skipping `sgd`'s frozen layers). For `Sgd`
    /// this is what [`train_step`](Self::train_step) does too; this form
    /// takes the optimizer by shared reference.
    ///
    /// # Errors
    /// As [`train_step`](Self::train_step).
    ///
    /// # Panics
    /// As [`train_step`](Self::train_step).
    ///
    /// ```
    /// use constnet::{network, optim::Sgd, parallel::ParallelTrainer, train::SoftmaxCrossEntropy,
    ///                Dense, Flat, Init, Network, Softmax, Tensor};
    /// use rand::SeedableRng;
    /// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 2>, out: Softmax } }
    /// # fn main() -> Result<(), constnet::train::Divergence> {
    /// let mut net = tiny::Params::boxed_zeroed();
    /// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(0));
    /// let mut trainer = ParallelTrainer::<tiny::Params, 1, 2>::new(7);
    /// let x = [Tensor::from_array([[[1.0]], [[0.0]]]), Tensor::from_array([[[0.0]], [[1.0]]])];
    /// let first = trainer.train_step_sgd(&mut net, &x, &[0, 1], SoftmaxCrossEntropy, &Sgd::new(0.5))?;
    /// for _ in 0..100 { trainer.train_step_sgd(&mut net, &x, &[0, 1], SoftmaxCrossEntropy, &Sgd::new(0.5))?; }
    /// let last = trainer.train_step_sgd(&mut net, &x, &[0, 1], SoftmaxCrossEntropy, &Sgd::new(0.5))?;
    /// assert!(last.loss < first.loss / 4.0 && last.correct == 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn train_step_sgd<L: Loss<P>, const B: usize>(
        &mut self,
        net: &mut P,
        x: &[P::Input; B],
        targets: &[L::Target; B],
        loss: L,
        sgd: &Sgd,
    ) -> Result<StepResult, Divergence> {
        let limit = Optimizer::<P>::grad_limit(sgd);
        self.run::<L, B>(net, x, targets, loss, Some(SplitStep::sgd(sgd.lr, sgd.frozen)), limit)
    }

    /// The step, with `update` (if any) run on every thread after the
    /// reduction and its checks; committed once every thread is done.
    fn run<L: Loss<P>, const B: usize>(
        &mut self,
        net: &mut P,
        x: &[P::Input; B],
        targets: &[L::Target; B],
        _loss: L,
        update: Option<SplitStep<'_, P>>,
        limit: f32,
    ) -> Result<StepResult, Divergence> {
        const { assert!(B == PER_THREAD * THREADS, "ParallelTrainer: the batch must have PER_THREAD * THREADS samples") };
        let _ftz = crate::math::FlushSubnormals::new();
        let s = &*self.shared;
        debug_assert_eq!(s.per_thread * s.threads, B);
        // SAFETY (lifetime only): the job holding it is cleared below, before
        // this call returns and the borrow of the optimizer ends.
        let update = update.map(|u| unsafe { core::mem::transmute::<SplitStep<'_, P>, SplitStep<'static, P>>(u) });
        // SAFETY: no worker reads the job before the epoch bump below, and the
        // previous step's workers are all done (we waited for them).
        unsafe {
            *s.job.get() = Some(Job {
                net: net as *mut P,
                update,
                limit,
                x: x.as_ptr(),
                targets: targets.as_ptr() as *const (),
                run: run_shard::<P, L, PER_THREAD>,
                share: run_share::<P, PER_THREAD>,
            });
        }
        s.panicked.store(false, Ordering::Release);
        s.grads_bad.store(false, Ordering::Release);
        s.params_bad.store(false, Ordering::Release);
        let step = s.publish();
        s.work(0, step);
        // Wait for every thread's last arrival, after its update.
        wait_until(|| s.arrived.load(Ordering::Acquire) >= THREADS * Shared::<P>::PHASES * step);
        // SAFETY: no worker runs until the next publish.
        let job = unsafe { (*s.job.get()).take() };
        let update = job.and_then(|j| j.update);
        if s.panicked.load(Ordering::Acquire) {
            panic!("ParallelTrainer: a thread panicked during the training step (see its message above)");
        }
        let loss = s.mean_loss();
        if !s.passed() {
            // No thread updated (`Shared::update` asks the same): find the fault.
            let fault = check_before_update(x, loss, &self.state().grads, limit).err();
            return Err(fault.unwrap_or(Divergence::Loss { value: loss }));
        }
        if let Some(u) = update {
            u.commit();
        }
        check_after_update(net, !s.params_bad.load(Ordering::Acquire))?;
        // Batch norm's running statistics move once per thread's shard,
        // each normalised by its own statistics (PyTorch's
        // DistributedDataParallel without SyncBatchNorm).
        for state in &s.states {
            // SAFETY: all threads are done with the step.
            net.update_state(unsafe { &(*(*state.get() as *const TrainState<P, PER_THREAD>)).ws });
        }
        // SAFETY: all threads are done with the step.
        let correct = s.results.iter().map(|r| unsafe { (*r.get()).1 }).sum();
        Ok(StepResult { loss, correct })
    }

    /// Thread 0's training state after a step: its workspace holds the
    /// activations of the first `PER_THREAD` samples; its `grads` the summed gradients of the whole batch (the gradient of
    /// the mean loss).
    pub fn state(&self) -> &TrainState<P, PER_THREAD> {
        // SAFETY: between steps no thread writes the states.
        unsafe { &*(*self.shared.states[0].get() as *const TrainState<P, PER_THREAD>) }
    }
}

/// The threads' dropout generators, `rng.0` to `rng.{THREADS - 1}` (49
/// bytes each: ChaCha8's seed, stream and position), so that a resumed run
/// draws the masks an uninterrupted one would.
impl<P: DataParallel, const PER_THREAD: usize, const THREADS: usize> crate::resume::Resumable
    for ParallelTrainer<P, PER_THREAD, THREADS>
{
    fn visit(&mut self, f: &mut dyn FnMut(&str, crate::resume::StateMut<'_>)) {
        for (t, cell) in self.shared.rngs.iter().enumerate() {
            // SAFETY: `&mut self`: no step runs, so no worker reads the generators.
            let rng = unsafe { &mut *cell.get() };
            let mut bytes = rng.serialize_state();
            f(&std::format!("rng.{t}"), crate::resume::StateMut::Bytes(&mut bytes));
            *rng = ChaCha8Rng::deserialize_state(&bytes);
        }
    }
}

impl<P: DataParallel, const PER_THREAD: usize, const THREADS: usize> Drop for ParallelTrainer<P, PER_THREAD, THREADS> {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.publish();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Sgd;
    use crate::train::{SoftmaxCrossEntropy, train_step};
    use crate::zoo::fashion10;
    use crate::{Init, Tensor};
    use rand::RngExt;
    use rand::rngs::SmallRng;

    fn batch(seed: u64) -> ([Tensor<1, 28, 28>; 8], [usize; 8]) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let x = core::array::from_fn(|_| Tensor::from_fn(|_, _, _| rng.random_range(-1.0..1.0)));
        (x, core::array::from_fn(|i| (i * 3 + seed as usize) % 10))
    }

    crate::network! {
        /// A dense layer of 2^18 weights (`SHARE_MIN`: its gradient is
        /// shared out), a ReLU, a small dense layer (not shared).
        mod wide {
            input: Tensor<4, 16, 16>,
            big: crate::Dense<1024, 256>,
            relu: crate::Relu,
            small: crate::Dense<256, 10>,
            out: crate::Softmax,
        }
    }

    fn wide_batch<const B: usize>(seed: u64) -> ([Tensor<4, 16, 16>; B], [usize; B]) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let x = core::array::from_fn(|_| Tensor::from_fn(|_, _, _| rng.random_range(-1.0..1.0)));
        (x, core::array::from_fn(|i| (i * 7 + seed as usize) % 10))
    }

    /// With a shared gradient (2 and 3 threads, so 256 rows split 128 +
    /// 128 and 85 + 85 + 86), the parallel step is the one-thread step on
    /// the whole batch: the same losses, and the same summed gradient
    /// after each step and parameters after several (up to the order of
    /// float additions), through both fused-update paths and the generic
    /// one; the other threads' unwritten shared rows are never summed.
    #[test]
    fn shared_gradients_match_one_thread() {
        fn run<const PER: usize, const T: usize, const B: usize>() {
            const { assert!(<wide::Params as DataParallel>::SHARES) };
            let mut ranges = Vec::new();
            wide::Params::shared_params(&mut |r| ranges.push(r));
            assert!(
                ranges.len() == 1 && ranges[0] == (0..1024 * 256),
                "the big layer's weights, not its bias nor the small layer: {ranges:?}"
            );
            let mut rng = SmallRng::seed_from_u64(3);
            let mut a = wide::Params::boxed_zeroed();
            a.init(Init::He, &mut rng);
            // Copied into a new box: a clone builds the 1 MB value on the
            // stack first, which overflows a debug test thread's.
            let mut b = wide::Params::boxed_zeroed();
            b.as_flat_mut().copy_from_slice(a.as_flat());
            let mut st = TrainState::<wide::Params, B>::boxed_zeroed();
            let mut trainer = ParallelTrainer::<wide::Params, PER, T>::new(0);
            // NaN where the other threads never write (their shared rows):
            // the reduction must skip those, or the sum is NaN.
            for t in 1..T {
                // SAFETY: no step is running; the state has this type.
                let st = unsafe { &mut *(*trainer.shared.states[t].get() as *mut TrainState<wide::Params, PER>) };
                st.grads.as_flat_mut().fill(f32::NAN);
            }
            let (mut opt_a, sgd) = (Sgd::new(0.1), Sgd::new(0.1));
            for step in 0..4 {
                let (x, y) = wide_batch::<B>(step);
                let ra = train_step(&mut *a, &x, &y, SoftmaxCrossEntropy, &mut opt_a, &mut st, &mut rng).unwrap();
                let rb = match step % 3 {
                    0 => trainer.train_step_sgd(&mut *b, &x, &y, SoftmaxCrossEntropy, &sgd).unwrap(),
                    1 => trainer.train_step(&mut *b, &x, &y, SoftmaxCrossEntropy, &mut Whole(Sgd::new(0.1))).unwrap(),
                    _ => trainer.train_step(&mut *b, &x, &y, SoftmaxCrossEntropy, &mut Sgd::new(0.1)).unwrap(),
                };
                assert!(
                    (ra.loss - rb.loss).abs() < 1e-5 * ra.loss.abs().max(1.0),
                    "step {step}: {} vs {}",
                    ra.loss,
                    rb.loss
                );
                assert_eq!(ra.correct, rb.correct, "step {step}");
                let g = trainer.state().grads.as_flat();
                let diff = st.grads.as_flat().iter().zip(g).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(diff < 1e-6, "{T} threads, step {step}: gradients differ by {diff}");
            }
            let diff = a.as_flat().iter().zip(b.as_flat()).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(diff < 1e-5, "{T} threads: parameters differ by {diff} after 4 steps");
            assert!(st.grads.big.weight.as_flat().iter().any(|&v| v != 0.0));
        }
        run::<3, 2, 6>();
        run::<2, 3, 6>();
        run::<6, 1, 6>();
    }

    /// Two threads of 4 samples give the step one thread gives on all 8:
    /// same loss, same correct count, same parameters after several steps
    /// (up to the order of float additions).
    #[test]
    fn two_threads_match_one_thread() {
        let mut rng = SmallRng::seed_from_u64(9);
        let mut a = fashion10::Params::boxed_zeroed();
        a.init(Init::He, &mut rng);
        let mut b = a.clone();
        let mut st = TrainState::<fashion10::Params, 8>::boxed_zeroed();
        let mut trainer = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
        let (mut opt_a, mut opt_b) = (Sgd::new(0.05), Sgd::new(0.05));
        for step in 0..5 {
            let (x, y) = batch(step);
            let ra = train_step(&mut *a, &x, &y, SoftmaxCrossEntropy, &mut opt_a, &mut st, &mut rng).unwrap();
            let rb = trainer.train_step(&mut *b, &x, &y, SoftmaxCrossEntropy, &mut opt_b).unwrap();
            assert!(
                (ra.loss - rb.loss).abs() < 1e-5 * ra.loss.abs().max(1.0),
                "step {step}: loss {} vs {}",
                ra.loss,
                rb.loss
            );
            assert_eq!(ra.correct, rb.correct, "step {step}");
        }
        let diff = a.as_flat().iter().zip(b.as_flat()).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(diff < 1e-5, "parameters differ by {diff} after 5 steps");
        assert!(a.as_flat() != fashion10::Params::boxed_zeroed().as_flat());
    }

    /// An optimizer that does not split: the trainer runs its whole step on
    /// the calling thread.
    struct Whole<O>(O);
    impl<P: Network, O: Optimizer<P>> Optimizer<P> for Whole<O> {
        fn step(&mut self, params: &mut P, grads: &P) {
            self.0.step(params, grads)
        }
        fn grad_limit(&self) -> f32 {
            self.0.grad_limit()
        }
    }

    /// The fused SGD step equals the whole SGD step run on the caller after
    /// the sum, bit for bit, frozen layers included.
    #[test]
    fn fused_sgd_matches_the_generic_step() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut a = fashion10::Params::boxed_zeroed();
        a.init(Init::He, &mut rng);
        let mut b = a.clone();
        let mut ta = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
        let mut tb = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
        let mut sgd = Sgd::new(0.05);
        sgd.freeze::<fashion10::Params>("conv1").unwrap();
        let mut whole = Whole(Sgd::new(0.05));
        whole.0.frozen = sgd.frozen;
        let conv1 = a.conv1.clone();
        for step in 0..3 {
            let (x, y) = batch(step);
            let ra = ta.train_step(&mut *a, &x, &y, SoftmaxCrossEntropy, &mut whole).unwrap();
            let rb = tb.train_step_sgd(&mut *b, &x, &y, SoftmaxCrossEntropy, &sgd).unwrap();
            assert_eq!((ra.loss, ra.correct), (rb.loss, rb.correct), "step {step}");
        }
        assert_eq!(a.as_flat(), b.as_flat(), "same sums in the same order: identical parameters");
        assert_eq!(b.conv1, conv1, "a frozen layer is not updated");
        assert_ne!(b.dense, fashion10::Params::boxed_zeroed().dense);
        assert!(ta.state().grads.as_flat().iter().any(|&g| g != 0.0));
        assert_eq!(ta.state().grads.as_flat(), tb.state().grads.as_flat(), "both keep the summed gradients");
    }

    /// Adam and SGD with momentum, split over the threads and fused with the
    /// reduction, give the bits of their whole step on the calling thread
    /// (the same sums, the same per-parameter operations), frozen layers
    /// included; the summed gradients stay readable after `train_step`.
    #[test]
    fn split_optimizer_steps_match_whole_steps() {
        use crate::optim::Adam;
        let mut rng = SmallRng::seed_from_u64(6);
        let mut a = fashion10::Params::boxed_zeroed();
        a.init(Init::He, &mut rng);
        let (mut b, mut c, mut d) = (a.clone(), a.clone(), a.clone());
        let mut trainers: [ParallelTrainer<fashion10::Params, 4, 2>; 4] =
            core::array::from_fn(|_| ParallelTrainer::new(0));
        let zeroed = || fashion10::Params::boxed_zeroed();
        let mut adam_split = Adam::new(0.01, zeroed(), zeroed());
        adam_split.freeze::<fashion10::Params>("conv2").unwrap();
        let mut adam_whole = Whole(Adam::new(0.01, zeroed(), zeroed()));
        adam_whole.0.frozen = adam_split.frozen;
        let mut mom_split = Sgd::with_momentum(0.05, 0.9, zeroed());
        mom_split.freeze::<fashion10::Params>("dense").unwrap();
        let mut mom_whole = Whole(Sgd::with_momentum(0.05, 0.9, zeroed()));
        mom_whole.0.frozen = mom_split.frozen;
        let [ta, tb, tc, td] = &mut trainers;
        for step in 0..4 {
            let (x, y) = batch(step);
            let ra = ta.train_step(&mut *a, &x, &y, SoftmaxCrossEntropy, &mut adam_split).unwrap();
            let rb = tb.train_step(&mut *b, &x, &y, SoftmaxCrossEntropy, &mut adam_whole).unwrap();
            assert_eq!((ra.loss, ra.correct), (rb.loss, rb.correct), "step {step}");
            tc.train_step(&mut *c, &x, &y, SoftmaxCrossEntropy, &mut mom_split).unwrap();
            td.train_step(&mut *d, &x, &y, SoftmaxCrossEntropy, &mut mom_whole).unwrap();
            assert_eq!(a.as_flat(), b.as_flat(), "Adam, step {step}");
            assert_eq!(c.as_flat(), d.as_flat(), "momentum, step {step}");
            assert!(ta.state().grads.as_flat().iter().any(|&g| g != 0.0), "step {step}");
            assert_eq!(ta.state().grads.as_flat(), tb.state().grads.as_flat(), "the summed gradients, step {step}");
        }
        let init = {
            let mut p = fashion10::Params::boxed_zeroed();
            p.init(Init::He, &mut SmallRng::seed_from_u64(6));
            p
        };
        assert_eq!(a.conv2, init.conv2, "a frozen layer is not updated");
        assert_ne!(a.conv1, init.conv1);
        assert_eq!(c.dense, init.dense, "a frozen layer is not updated");
        assert_ne!(c.conv1, init.conv1);
    }

    /// A step that panics leaves the optimizer as it was: Adam's step count
    /// is not advanced, so the next steps equal those of a run that never
    /// saw the failed batch.
    #[test]
    fn a_failed_step_does_not_count_for_adam() {
        use crate::optim::Adam;
        let mut a = fashion10::Params::boxed_zeroed();
        a.init(Init::He, &mut SmallRng::seed_from_u64(8));
        let mut b = a.clone();
        let zeroed = || fashion10::Params::boxed_zeroed();
        let (mut opt_a, mut opt_b) = (Adam::new(0.01, zeroed(), zeroed()), Adam::new(0.01, zeroed(), zeroed()));
        let mut ta = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
        let mut tb = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
        for step in 0..3 {
            let (x, y) = batch(step);
            if step == 1 {
                let mut bad = y;
                bad[5] = 10;
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ta.train_step(&mut *a, &x, &bad, SoftmaxCrossEntropy, &mut opt_a).unwrap();
                }));
                assert!(r.is_err());
                assert_eq!(a.as_flat(), b.as_flat(), "a failed step changes no parameter");
            }
            ta.train_step(&mut *a, &x, &y, SoftmaxCrossEntropy, &mut opt_a).unwrap();
            tb.train_step(&mut *b, &x, &y, SoftmaxCrossEntropy, &mut opt_b).unwrap();
            assert_eq!(a.as_flat(), b.as_flat(), "step {step}");
        }
    }

    /// The shards overwrite their gradients, nothing zeroes them: a trainer
    /// reused across fused steps, whole steps and failed steps gives, at
    /// every step, the bits of a new trainer (which has no gradients left
    /// over) running a whole step.
    #[test]
    fn a_reused_trainer_leaves_no_stale_gradients() {
        let mut rng = SmallRng::seed_from_u64(5);
        let mut a = fashion10::Params::boxed_zeroed();
        a.init(Init::He, &mut rng);
        let mut b = a.clone();
        let mut reused = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
        let sgd = Sgd::new(0.05);
        for step in 0..7 {
            let (x, y) = batch(step);
            if step % 3 == 1 {
                // A failed step: partial gradients are left behind.
                let mut bad = y;
                bad[step as usize] = 99;
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    reused.train_step(&mut *b.clone(), &x, &bad, SoftmaxCrossEntropy, &mut Sgd::new(0.05)).unwrap();
                }));
                assert!(r.is_err());
            }
            let mut fresh = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
            fresh.train_step(&mut *a, &x, &y, SoftmaxCrossEntropy, &mut Whole(Sgd::new(0.05))).unwrap();
            match step % 3 {
                0 => reused.train_step_sgd(&mut *b, &x, &y, SoftmaxCrossEntropy, &sgd).unwrap(),
                1 => reused.train_step(&mut *b, &x, &y, SoftmaxCrossEntropy, &mut Whole(Sgd::new(0.05))).unwrap(),
                _ => reused.train_step(&mut *b, &x, &y, SoftmaxCrossEntropy, &mut Sgd::new(0.05)).unwrap(),
            };
            assert_eq!(a.as_flat(), b.as_flat(), "step {step}");
        }
    }

    /// A shard that panics (a class out of range) makes `train_step` panic
    /// with a message; the trainer's threads survive and the next step works.
    #[test]
    fn a_panicking_shard_is_reported_and_the_trainer_survives() {
        let mut net = fashion10::Params::boxed_zeroed();
        net.init(Init::He, &mut SmallRng::seed_from_u64(1));
        let mut trainer = ParallelTrainer::<fashion10::Params, 4, 2>::new(0);
        let mut opt = Sgd::new(0.01);
        let (x, mut y) = batch(3);
        y[6] = 12; // thread 1's shard
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap();
        }));
        let msg = r.expect_err("a class of 12 for 10 logits must panic");
        let msg = match (msg.downcast_ref::<&str>(), msg.downcast_ref::<std::string::String>()) {
            (Some(s), _) => std::string::ToString::to_string(s),
            (_, Some(s)) => s.clone(),
            _ => std::string::String::new(),
        };
        assert!(msg.contains("ParallelTrainer: a thread panicked"), "{msg}");
        y[6] = 2;
        let ok = trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap();
        assert!(ok.loss.is_finite());
    }

    /// Dropping a trainer whose workers sleep (long idle) joins them.
    #[test]
    fn idle_workers_sleep_and_drop_joins_them() {
        let mut net = fashion10::Params::boxed_zeroed();
        let trainer = ParallelTrainer::<fashion10::Params, 1, 3>::new(0);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut trainer = trainer;
        let (x, y) = batch(1);
        let (x, y): ([Tensor<1, 28, 28>; 3], [usize; 3]) = ([x[0], x[1], x[2]], [y[0], y[1], y[2]]);
        let r = trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut Sgd::new(0.1)).unwrap();
        assert!(r.loss.is_finite());
        drop(trainer);
    }
}
