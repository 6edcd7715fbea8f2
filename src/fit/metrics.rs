//! A classifier's figures class by class: the confusion matrix, each
//! class's accuracy, top-k accuracy.

use super::Samples;
use crate::{Flat, Network};

/// A classifier's figures on a labelled set, class by class
/// ([`evaluate_metrics`]): the confusion matrix and, for top-k accuracy,
/// how the network ranked each sample's label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics<const N: usize> {
    /// `confusion[label][predicted]`: samples of class `label` the network
    /// put in class `predicted` (its largest output, the first on ties).
    pub confusion: [[usize; N]; N],
    /// `label_ranks[r]`: samples whose label had the `r`-th largest output
    /// (0: the largest; ties go to the lower class, as the prediction's; a
    /// NaN output of the label ranks last).
    pub label_ranks: [usize; N],
}

impl<const N: usize> Metrics<N> {
    /// The number of samples counted.
    pub fn samples(&self) -> usize {
        self.label_ranks.iter().sum()
    }

    /// The fraction of samples classified right (NaN for none).
    pub fn accuracy(&self) -> f32 {
        (0..N).map(|c| self.confusion[c][c]).sum::<usize>() as f32 / self.samples() as f32
    }

    /// The fraction of class `class`'s samples classified right, its recall
    /// (NaN if the set has none).
    ///
    /// # Panics
    /// If `class >= N`.
    pub fn class_accuracy(&self, class: usize) -> f32 {
        self.confusion[class][class] as f32 / self.confusion[class].iter().sum::<usize>() as f32
    }

    /// The fraction of samples whose label is among the network's `k`
    /// largest outputs (`top_k(1)` is [`accuracy`](Self::accuracy)).
    pub fn top_k(&self, k: usize) -> f32 {
        self.label_ranks.iter().take(k).sum::<usize>() as f32 / self.samples() as f32
    }

    /// The confusion matrix as text, one row a label (named by `names`,
    /// else by number), with each class's accuracy at the end of its row.
    pub fn table(&self, names: &[&str]) -> std::string::String {
        use std::fmt::Write;
        use std::string::ToString;
        let name = |c: usize| names.get(c).map_or(std::format!("{c}"), |n| n.to_string());
        let width = (0..N).map(|c| name(c).len()).max().unwrap_or(1).max(5);
        let cell = self.confusion.iter().flatten().map(|n| n.to_string().len()).max().unwrap_or(1).max(3);
        let mut s = std::format!("{:>width$} | predicted\n", "label");
        for (label, row) in self.confusion.iter().enumerate() {
            let _ = write!(s, "{:>width$} |", name(label));
            for n in row {
                let _ = write!(s, " {n:>cell$}");
            }
            let _ = writeln!(s, " | {:.4}", self.class_accuracy(label));
        }
        s
    }
}

/// The [`Metrics`] of classifier `net` on `set`, in inference mode, in
/// batches of `B` (the remainder one at a time): its confusion matrix,
/// per-class and top-k accuracy.
///
/// ```
/// use constnet::fit::{evaluate_metrics, Samples};
/// use constnet::{network, Dense, Flat, Softmax, Tensor};
/// network! { mod pick { input: Tensor<3, 1, 1>, dense: Dense<3, 3>, out: Softmax } }
/// # fn main() {
/// let mut net = pick::Params::zeroed();
/// net.dense.weight = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]; // the largest input wins
/// let images = [
///     Tensor::from_array([[[3.0]], [[1.0]], [[0.0]]]), // label 0: right
///     Tensor::from_array([[[0.0]], [[3.0]], [[1.0]]]), // label 1: right
///     Tensor::from_array([[[1.0]], [[3.0]], [[0.0]]]), // label 0: taken for 1, second choice
/// ];
/// let m = evaluate_metrics::<_, 3, 2>(&net, Samples { images: &images, labels: &[0, 1, 0] });
/// assert_eq!(m.confusion, [[1, 1, 0], [0, 1, 0], [0, 0, 0]]);
/// assert_eq!((m.class_accuracy(0), m.class_accuracy(1)), (0.5, 1.0));
/// assert_eq!((m.top_k(1), m.top_k(2)), (2.0 / 3.0, 1.0));
/// # }
/// ```
///
/// # Panics
/// If `set.images` and `set.labels` differ in length, or a label is not
/// below `N`.
pub fn evaluate_metrics<P, const N: usize, const B: usize>(net: &P, set: Samples<'_, P::Input>) -> Metrics<N>
where
    P: Network<Output = crate::Tensor<N, 1, 1>>,
{
    let n = set.images.len();
    assert_eq!(n, set.labels.len(), "evaluate_metrics: {n} images but {} labels", set.labels.len());
    let mut m = Metrics { confusion: [[0; N]; N], label_ranks: [0; N] };
    let mut count = |out: &crate::Tensor<N, 1, 1>, label: u8| {
        let label = label as usize;
        assert!(label < N, "evaluate_metrics: label {label} of a network with {N} classes");
        let s = out.as_flat();
        let rank = if s[label].is_nan() {
            N - 1
        } else {
            (0..N).filter(|&j| s[j] > s[label] || (s[j] == s[label] && j < label)).count()
        };
        m.confusion[label][out.argmax()] += 1;
        m.label_ranks[rank] += 1;
    };
    let mut ws = P::Workspace::<B>::boxed_zeroed();
    let mut ws1 = P::Workspace::<1>::boxed_zeroed();
    let mut xb = <[P::Input; B]>::boxed_zeroed();
    let full = n / B * B;
    for start in (0..full).step_by(B.max(1)) {
        for j in 0..B {
            xb[j].as_flat_mut().copy_from_slice(set.images[start + j].as_flat());
        }
        net.infer(&xb, &mut ws);
        for (j, out) in P::output(&ws).iter().enumerate() {
            count(out, set.labels[start + j]);
        }
    }
    for i in full..n {
        count(net.predict(&set.images[i], &mut ws1), set.labels[i]);
    }
    m
}
