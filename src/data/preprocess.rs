//! [`Standardizer`]: per-pixel standardisation with the training set's
//! mean and standard deviation.

use super::dataset::Dataset;
use super::error::DataError;
use crate::{Flat, Tensor};
use std::vec;
use std::vec::Vec;

/// Added to every standard deviation before dividing, as the seed-1
/// tutorial does (`X_train.std(axis=0) + 1e-7`), so a pixel that is
/// constant over the training set (e.g. an always-black corner) maps to 0
/// instead of dividing by zero.
pub const STD_EPSILON: f64 = 1e-7;

/// Per-pixel standardisation fitted on a training set:
/// `x'[p] = (x[p] - mean[p]) / (std[p] + 1e-7)` for every pixel position
/// `p` (channel, row, column), where `mean` and `std` are the training
/// set's per-pixel mean and population standard deviation (`ddof = 0`).
///
/// NumPy equivalent (the seed-1 tutorial):
/// ```text
/// X_mean = X_train.mean(axis=0, keepdims=True)
/// X_std = X_train.std(axis=0, keepdims=True) + 1e-7
/// X_train = (X_train - X_mean) / X_std   # and the same for X_valid, X_test
/// ```
/// Statistics and the transform are computed in `f64` (like NumPy on
/// `uint8` input) and the result rounded to `f32`. Fit on the training
/// split only, then apply the same transform to train, validation and test.
///
/// ```
/// use constnet::{data::{Dataset, Standardizer}, Tensor};
/// let images = vec![Tensor::<1, 1, 2>::from_array([[[0.0, 5.0]]]),
///                   Tensor::<1, 1, 2>::from_array([[[2.0, 5.0]]])];
/// let mut train = Dataset::new(images, vec![0, 1])?;
/// let norm = Standardizer::fit(&train)?;
/// assert_eq!(norm.mean(), &[1.0, 5.0]);
/// assert_eq!(norm.std(), &[1.0 + 1e-7, 1e-7]);   // population std, + 1e-7
/// norm.apply(&mut train);
/// assert!((train.images()[0].0[0][0][0] + 1.0).abs() < 1e-6); // (0 - 1) / (1 + 1e-7)
/// assert_eq!(train.images()[1].0[0][0][1], 0.0);               // constant pixel -> 0
/// # Ok::<(), constnet::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer<const C: usize, const H: usize, const W: usize> {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl<const C: usize, const H: usize, const W: usize> Standardizer<C, H, W> {
    /// Computes the per-pixel mean and population standard deviation (plus
    /// [`STD_EPSILON`]) of `train`, in `f64`, with two passes (mean, then
    /// squared deviations from it).
    ///
    /// # Errors
    /// [`DataError::TooFewSamples`] if `train` is empty.
    pub fn fit(train: &Dataset<C, H, W>) -> Result<Self, DataError> {
        if train.is_empty() {
            return Err(DataError::TooFewSamples { operation: "Standardizer::fit", needed: 1, len: 0 });
        }
        let n = train.len() as f64;
        let len = Tensor::<C, H, W>::LEN;
        let mut mean = vec![0.0f64; len];
        for t in train.images() {
            mean.iter_mut().zip(t.as_flat()).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut std = vec![0.0f64; len];
        for t in train.images() {
            std.iter_mut().zip(mean.iter().zip(t.as_flat())).for_each(|(s, (m, &v))| *s += (v as f64 - m).powi(2));
        }
        std.iter_mut().for_each(|s| *s = (*s / n).sqrt() + STD_EPSILON);
        Ok(Self { mean, std })
    }

    /// Standardises every image of `ds` in place.
    pub fn apply(&self, ds: &mut Dataset<C, H, W>) {
        ds.images_mut().iter_mut().for_each(|t| self.apply_image(t));
    }

    /// Standardises one image in place (e.g. a new image before inference).
    pub fn apply_image(&self, x: &mut Tensor<C, H, W>) {
        for ((v, m), s) in x.as_flat_mut().iter_mut().zip(&self.mean).zip(&self.std) {
            *v = ((*v as f64 - m) / s) as f32;
        }
    }

    /// The per-pixel training mean, in tensor (PyTorch) order.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The per-pixel training standard deviation plus [`STD_EPSILON`], in
    /// tensor order.
    pub fn std(&self) -> &[f64] {
        &self.std
    }
}
