//! [`Dataset<C, H, W>`]: images as tensors with a `u8` label each; class
//! selection, splits, shuffling and allocation-free mini-batches.

use super::error::DataError;
use crate::{Flat, Tensor};
use core::fmt;
use core::slice::ChunksExact;
use rand::{Rng, RngExt};
use std::vec::Vec;

/// Images of shape `C x H x W` with one `u8` label each, in a fixed order.
///
/// The loaders ([`load_idx`](crate::data::load_idx),
/// [`FashionMnist::load`](crate::data::FashionMnist::load),
/// [`Cifar10::load`](crate::data::Cifar10::load)) give raw pixel values
/// `0.0..=255.0`; prepare them with [`Standardizer`](crate::data::Standardizer)
/// or [`Dataset::scale_to_unit`]. Images live on the heap, one
/// `Tensor<C, H, W>` after another, never on the stack.
///
/// ```
/// use constnet::{data::Dataset, Tensor};
/// let images = (0..6).map(|i| Tensor::<1, 2, 2>::splat(i as f32)).collect();
/// let ds = Dataset::new(images, vec![1, 3, 0, 3, 1, 3])?;
/// let ds = ds.select_classes(&[1, 3]);          // trouser (1) -> 0, dress (3) -> 1
/// assert_eq!(ds.labels(), &[0, 1, 1, 0, 1]);
/// let (train, valid) = ds.split_last(2)?;       // like X[:-2], X[-2:]
/// assert_eq!((train.len(), valid.len()), (3, 2));
/// assert_eq!(valid.images()[0].0[0][0][0], 4.0);
/// # Ok::<(), constnet::data::DataError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Dataset<const C: usize, const H: usize, const W: usize> {
    images: Vec<Tensor<C, H, W>>,
    labels: Vec<u8>,
}

impl<const C: usize, const H: usize, const W: usize> fmt::Debug for Dataset<C, H, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dataset<{C}, {H}, {W}> {{ len: {}, class_counts: {:?} }}", self.len(), self.class_counts())
    }
}

/// `n` zeroed tensors, created directly on the heap.
fn zeroed_images<const C: usize, const H: usize, const W: usize>(n: usize) -> Vec<Tensor<C, H, W>> {
    let mut v = Vec::<Tensor<C, H, W>>::with_capacity(n);
    // SAFETY: the capacity is at least n; all-zero bytes are a valid
    // Tensor (a `Flat` type: nothing but f32s), so the first n elements are
    // initialised once written.
    unsafe {
        core::ptr::write_bytes(v.as_mut_ptr(), 0, n);
        v.set_len(n);
    }
    v
}

impl<const C: usize, const H: usize, const W: usize> Dataset<C, H, W> {
    /// Bytes per image when stored as `u8` pixels: `C*H*W`.
    pub(crate) const PIXELS: usize = C * H * W;

    /// A dataset of `images` with their `labels`.
    ///
    /// # Errors
    /// [`DataError::LengthMismatch`] if the two lengths differ.
    ///
    /// ```
    /// use constnet::{data::{Dataset, DataError}, Tensor};
    /// assert!(Dataset::new(vec![Tensor::<1, 1, 1>::splat(0.0)], vec![0]).is_ok());
    /// assert!(matches!(Dataset::new(vec![Tensor::<1, 1, 1>::splat(0.0)], vec![]),
    ///                  Err(DataError::LengthMismatch { images: 1, labels: 0 })));
    /// ```
    pub fn new(images: Vec<Tensor<C, H, W>>, labels: Vec<u8>) -> Result<Self, DataError> {
        if images.len() != labels.len() {
            return Err(DataError::LengthMismatch { images: images.len(), labels: labels.len() });
        }
        Ok(Self { images, labels })
    }

    /// Builds a dataset from `u8` pixels, `C*H*W` per image in tensor
    /// order; the caller guarantees `pixels.len() == labels.len() * C*H*W`.
    pub(crate) fn from_bytes(pixels: &[u8], labels: Vec<u8>) -> Self {
        debug_assert_eq!(pixels.len(), labels.len() * Self::PIXELS);
        let mut images = zeroed_images::<C, H, W>(labels.len());
        for (t, p) in images.iter_mut().zip(pixels.chunks_exact(Self::PIXELS.max(1))) {
            t.as_flat_mut().iter_mut().zip(p).for_each(|(v, &b)| *v = b as f32);
        }
        Self { images, labels }
    }

    /// Builds a dataset from records of `label_bytes` bytes (the label is
    /// the last one) followed by `C*H*W` pixel bytes; the caller guarantees
    /// the length is a whole number of records.
    pub(crate) fn from_records(records: &[u8], label_bytes: usize) -> Self {
        let record = label_bytes + Self::PIXELS;
        let n = records.len() / record;
        let mut images = zeroed_images::<C, H, W>(n);
        let mut labels = Vec::with_capacity(n);
        for (t, r) in images.iter_mut().zip(records.chunks_exact(record)) {
            labels.push(r[label_bytes - 1]);
            t.as_flat_mut().iter_mut().zip(&r[label_bytes..]).for_each(|(v, &b)| *v = b as f32);
        }
        Self { images, labels }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images, in order.
    pub fn images(&self) -> &[Tensor<C, H, W>] {
        &self.images
    }

    /// The images, mutable (e.g. for a custom preprocessing step).
    pub fn images_mut(&mut self) -> &mut [Tensor<C, H, W>] {
        &mut self.images
    }

    /// The labels, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Takes the dataset apart into its images and labels.
    pub fn into_parts(self) -> (Vec<Tensor<C, H, W>>, Vec<u8>) {
        (self.images, self.labels)
    }

    /// How many samples carry each label: element `k` counts label `k`;
    /// the length is the largest label + 1 (0 for an empty dataset).
    ///
    /// ```
    /// use constnet::{data::Dataset, Tensor};
    /// let ds = Dataset::new(vec![Tensor::<1, 1, 1>::splat(0.0); 4], vec![3, 1, 3, 3])?;
    /// assert_eq!(ds.class_counts(), [0, 1, 0, 3]);
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = [0usize; 256];
        self.labels.iter().for_each(|&l| counts[l as usize] += 1);
        let len = self.labels.iter().max().map_or(0, |&m| m as usize + 1);
        counts[..len].to_vec()
    }

    /// Keeps only the samples whose label is in `classes`, in their
    /// original order and with their original labels.
    ///
    /// ```
    /// use constnet::{data::Dataset, Tensor};
    /// let ds = Dataset::new(vec![Tensor::<1, 1, 1>::splat(0.0); 4], vec![0, 3, 1, 9])?;
    /// assert_eq!(ds.filter_classes(&[1, 3]).labels(), &[3, 1]);
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn filter_classes(mut self, classes: &[u8]) -> Self {
        // `retain` visits the elements once each, in order.
        let mut labels = self.labels.iter();
        self.images.retain(|_| labels.next().is_some_and(|l| classes.contains(l)));
        self.labels.retain(|l| classes.contains(l));
        self.images.shrink_to_fit();
        self.labels.shrink_to_fit();
        self
    }

    /// Keeps only the samples whose label is in `classes` (in their
    /// original order) and relabels them by position: label `classes[k]`
    /// becomes `k`. With `&[1, 3]` on Fashion-MNIST, trouser becomes 0 and
    /// dress 1, the tutorial's `y == 3` positive class.
    ///
    /// ```
    /// use constnet::{data::Dataset, Tensor};
    /// let ds = Dataset::new(vec![Tensor::<1, 1, 1>::splat(0.0); 4], vec![0, 3, 1, 9])?;
    /// assert_eq!(ds.select_classes(&[1, 3]).labels(), &[1, 0]);
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn select_classes(self, classes: &[u8]) -> Self {
        let mut ds = self.filter_classes(classes);
        for l in &mut ds.labels {
            // filter_classes kept only labels found in `classes`
            *l = classes.iter().position(|c| c == l).unwrap_or(0) as u8;
        }
        ds
    }

    /// Splits into the first `n` samples and the rest.
    ///
    /// # Errors
    /// [`DataError::TooFewSamples`] if `n > len()`.
    ///
    /// ```
    /// use constnet::{data::Dataset, Tensor};
    /// let ds = Dataset::new(vec![Tensor::<1, 1, 1>::splat(0.0); 5], vec![0, 1, 2, 3, 4])?;
    /// let (first, rest) = ds.clone().split_at(2)?; // tutorial 002 takes the first 200 MNIST images
    /// assert_eq!((first.labels(), rest.labels()), (&[0, 1][..], &[2, 3, 4][..]));
    /// assert!(ds.split_at(200).is_err());
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn split_at(mut self, n: usize) -> Result<(Self, Self), DataError> {
        if n > self.len() {
            return Err(DataError::TooFewSamples { operation: "Dataset::split_at", needed: n, len: self.len() });
        }
        let rest = Self { images: self.images.split_off(n), labels: self.labels.split_off(n) };
        self.images.shrink_to_fit();
        self.labels.shrink_to_fit();
        Ok((self, rest))
    }

    /// Holds out the last `n` samples: returns `(all but the last n, the
    /// last n)`, NumPy's `X[:-n], X[-n:]` (the seed-1 validation split uses
    /// `n = 1000`).
    ///
    /// # Errors
    /// [`DataError::TooFewSamples`] if `n > len()`.
    pub fn split_last(self, n: usize) -> Result<(Self, Self), DataError> {
        match self.len().checked_sub(n) {
            Some(first) => self.split_at(first),
            None => Err(DataError::TooFewSamples { operation: "Dataset::split_last", needed: n, len: self.len() }),
        }
    }

    /// Appends the samples of `other`, growing the storage to exactly the
    /// new length (a loader's memory budget counts no spare capacity).
    pub fn append(&mut self, mut other: Self) {
        self.images.reserve_exact(other.images.len());
        self.labels.reserve_exact(other.labels.len());
        self.images.append(&mut other.images);
        self.labels.append(&mut other.labels);
    }

    /// Divides every pixel by 255, mapping raw pixel values to `[0, 1]`
    /// (torchvision's `ToTensor`): the alternative to standardisation.
    ///
    /// ```
    /// use constnet::{data::Dataset, Tensor};
    /// let mut ds = Dataset::new(vec![Tensor::<1, 1, 2>::from_array([[[51.0, 255.0]]])], vec![0])?;
    /// ds.scale_to_unit();
    /// assert_eq!(ds.images()[0].0, [[[0.2, 1.0]]]);
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn scale_to_unit(&mut self) {
        for t in &mut self.images {
            t.as_flat_mut().iter_mut().for_each(|v| *v /= 255.0);
        }
    }

    /// Shuffles the samples in place with the Fisher-Yates algorithm (see
    /// [`shuffle_indices`]); the result is
    /// the original reordered by [`Dataset::permutation`] with the same
    /// generator state.
    ///
    /// ```
    /// use constnet::{data::Dataset, Tensor};
    /// use rand::{rngs::StdRng, SeedableRng};
    /// let ds = Dataset::new((0..5).map(|i| Tensor::<1, 1, 1>::splat(i as f32)).collect(), vec![0, 1, 2, 3, 4])?;
    /// let order = ds.permutation(&mut StdRng::seed_from_u64(7));
    /// let mut shuffled = ds.clone();
    /// shuffled.shuffle(&mut StdRng::seed_from_u64(7));
    /// assert_eq!(shuffled.labels(), order.iter().map(|&i| i as u8).collect::<Vec<_>>());
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn shuffle<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        for i in (1..self.len()).rev() {
            let j = rng.random_range(0..=i);
            self.images.swap(i, j);
            self.labels.swap(i, j);
        }
    }

    /// A random order of the sample indices `0..len()` (Fisher-Yates on
    /// the identity, see [`shuffle_indices`]). To reshuffle every epoch
    /// without allocating, keep the vector and call [`shuffle_indices`] on it.
    pub fn permutation<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        shuffle_indices(&mut order, rng);
        order
    }

    /// Mini-batches of `B` samples in the given `order` (e.g. a
    /// [`permutation`](Dataset::permutation), or `0..len()` collected):
    /// an iterator over [`MiniBatch`]es that copy their samples into a
    /// caller-owned buffer, so a training loop allocates nothing per step.
    ///
    /// **The last partial batch is dropped** (PyTorch's
    /// `drop_last=True`): `order.len() / B` batches come out, and
    /// [`Batches::remainder`] gives the `order.len() % B` indices left
    /// over, e.g. to evaluate them one at a time.
    ///
    /// # Panics
    /// If an index in `order` is `>= len()`, or `B == 0`.
    ///
    /// ```
    /// use constnet::{data::Dataset, Tensor};
    /// let ds = Dataset::new((0..5).map(|i| Tensor::<1, 1, 1>::splat(i as f32)).collect(), vec![0, 1, 0, 1, 0])?;
    /// let order = [4, 3, 2, 1, 0];
    /// let (mut x, mut y) = ([Tensor::<1, 1, 1>::splat(0.0); 2], [0.0f32; 2]); // reused buffers
    /// let mut seen = Vec::new();
    /// let mut batches = ds.batches::<2>(&order);
    /// for batch in &mut batches {
    ///     batch.copy_into(&mut x, &mut y);           // then train_step(&mut net, &x, &y, ...)
    ///     seen.push((x[0].0[0][0][0], y[0]));
    /// }
    /// assert_eq!(seen, [(4.0, 0.0), (2.0, 0.0)]);
    /// assert_eq!(batches.remainder(), &[0]);          // the partial batch, dropped
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn batches<'a, const B: usize>(&'a self, order: &'a [usize]) -> Batches<'a, C, H, W, B> {
        assert!(B > 0, "Dataset::batches: the batch size B must be at least 1");
        if let Some(&bad) = order.iter().find(|&&i| i >= self.len()) {
            panic!("Dataset::batches: index {bad} in the order is out of range for {} samples", self.len());
        }
        Batches { ds: self, chunks: order.chunks_exact(B) }
    }
}

/// Shuffles `order` in place with the Fisher-Yates algorithm:
/// for `i` from `n-1` down to 1, swap element `i` with a uniformly drawn
/// `j` in `0..=i` (`rng.random_range(0..=i)`). Deterministic for a seeded
/// generator such as `StdRng::seed_from_u64(seed)`.
///
/// ```
/// use constnet::data::shuffle_indices;
/// use rand::{rngs::StdRng, SeedableRng};
/// let (mut a, mut b) = ([0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]);
/// shuffle_indices(&mut a, &mut StdRng::seed_from_u64(1));
/// shuffle_indices(&mut b, &mut StdRng::seed_from_u64(1));
/// assert_eq!(a, b);
/// a.sort();
/// assert_eq!(a, [0, 1, 2, 3, 4, 5, 6, 7]);
/// ```
pub fn shuffle_indices<R: Rng + ?Sized>(order: &mut [usize], rng: &mut R) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
}

/// Iterator over the full mini-batches of a [`Dataset`] in a given order;
/// made by [`Dataset::batches`].
#[derive(Clone, Debug)]
pub struct Batches<'a, const C: usize, const H: usize, const W: usize, const B: usize> {
    ds: &'a Dataset<C, H, W>,
    chunks: ChunksExact<'a, usize>,
}

impl<'a, const C: usize, const H: usize, const W: usize, const B: usize> Batches<'a, C, H, W, B> {
    /// The indices of the last partial batch, which the iterator does not
    /// yield (`order.len() % B` of them).
    pub fn remainder(&self) -> &'a [usize] {
        self.chunks.remainder()
    }
}

impl<'a, const C: usize, const H: usize, const W: usize, const B: usize> Iterator for Batches<'a, C, H, W, B> {
    type Item = MiniBatch<'a, C, H, W, B>;

    fn next(&mut self) -> Option<Self::Item> {
        let indices = self.chunks.next()?.try_into().ok()?;
        Some(MiniBatch { ds: self.ds, indices })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl<const C: usize, const H: usize, const W: usize, const B: usize> ExactSizeIterator for Batches<'_, C, H, W, B> {}

/// One mini-batch of `B` samples of a [`Dataset`], by index; copy it into
/// a buffer with [`MiniBatch::copy_into`].
#[derive(Clone, Copy, Debug)]
pub struct MiniBatch<'a, const C: usize, const H: usize, const W: usize, const B: usize> {
    ds: &'a Dataset<C, H, W>,
    indices: &'a [usize; B],
}

impl<const C: usize, const H: usize, const W: usize, const B: usize> MiniBatch<'_, C, H, W, B> {
    /// The sample indices of this batch.
    pub fn indices(&self) -> &[usize; B] {
        self.indices
    }

    /// Copies the batch's images into `x` and its labels, converted, into
    /// `y`: `f32` targets for binary losses (`0.0`/`1.0`), `usize` class
    /// indices for softmax cross-entropy. No allocation.
    pub fn copy_into<T: From<u8>>(&self, x: &mut [Tensor<C, H, W>; B], y: &mut [T; B]) {
        for ((xi, yi), &i) in x.iter_mut().zip(y.iter_mut()).zip(self.indices) {
            xi.as_flat_mut().copy_from_slice(self.ds.images[i].as_flat());
            *yi = T::from(self.ds.labels[i]);
        }
    }
}
