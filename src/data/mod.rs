//! Data loading and preprocessing (std feature): IDX (MNIST,
//! Fashion-MNIST) and CIFAR-10 readers, finding the data on this machine,
//! and the seeded, deterministic preprocessing of the tutorials.
//!
//! # Finding Fashion-MNIST
//! [`locate_fashion_mnist`] looks in this order and takes the first
//! directory that holds the four IDX files (`train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each raw or `.gz`):
//!
//! 1. the directory the program was given (`--data DIR`);
//! 2. the directory in the environment variable `CONSTNET_FASHION_MNIST`;
//! 3. the seed-1 subset shipped in the repository, `data/fashion-mnist-seed1`
//!    (classes 1 and 3 only: 12000 training and 2000 test images);
//! 4. Debian's package path `/usr/share/datasets/fashion-mnist`
//!    (`apt install dataset-fashion-mnist`).
//!
//! A directory given explicitly (1 or 2) must hold the files; otherwise
//! that is an error, not a fall-back. The result says whether the place
//! holds the full dataset or the seed-1 subset; [`locate_fashion_mnist_full`]
//! skips subsets. If nothing is found, the error lists every place looked.
//!
//! # Finding CIFAR-10
//! [`locate_cifar10`]: `--data DIR`, then `CONSTNET_CIFAR10`; either may
//! name `cifar-10-batches-bin` or its parent. There is no default location.
//!
//! # Pixels and preprocessing
//! Loaders give pixels as `f32` values `0.0..=255.0` and labels as in the
//! files. Then, as the seed-1 tutorial does:
//!
//! ```
//! use constnet::data::{locate_fashion_mnist, FashionMnist, Standardizer};
//! use constnet::Tensor;
//! use rand::{rngs::StdRng, SeedableRng};
//! # if std::env::var_os("CONSTNET_FASHION_MNIST").is_none() {
//! let found = locate_fashion_mnist(None)?;          // or Some(dir) from --data
//! let (train, test) = FashionMnist::load(&found)?;
//! let train = train.select_classes(&[1, 3]);        // trouser -> 0, dress -> 1
//! let mut test = test.select_classes(&[1, 3]);
//! let (mut train, mut valid) = train.split_last(1000)?; // X[:-1000], X[-1000:]
//! let norm = Standardizer::fit(&train)?;            // per-pixel mean, std + 1e-7
//! for ds in [&mut train, &mut valid, &mut test] {
//!     norm.apply(ds);
//! }
//! let mut rng = StdRng::seed_from_u64(1);
//! let order = train.permutation(&mut rng);          // reshuffle each epoch
//! let (mut x, mut y) = ([Tensor::<1, 28, 28>::splat(0.0); 32], [0.0f32; 32]);
//! let mut steps = 0;
//! for batch in train.batches::<32>(&order) {        // the last partial batch is dropped
//!     batch.copy_into(&mut x, &mut y);              // no allocation per step
//!     steps += 1;
//! }
//! assert_eq!((train.len(), valid.len(), test.len()), (11000, 1000, 2000));
//! assert_eq!(steps, 11000 / 32);
//! # }
//! # Ok::<(), constnet::data::DataError>(())
//! ```
//!
//! Every error is a [`DataError`] naming the file and the rule broken; a
//! size read from a file never drives an allocation before it is checked
//! against the data actually present (and [`MAX_DATA_BYTES`]).
//!
//! # Memory
//! Each load has a memory [`Budget`], 1 GiB by default: the bytes it
//! decompresses and the `f32` images it builds, across all its files, are
//! charged before they are allocated, and a load that would go over fails
//! with [`DataError::OverBudget`]. The `*_with` loaders take another budget.

mod budget;
mod cifar;
mod dataset;
mod error;
mod file;
mod idx;
mod locate;
mod preprocess;

pub use budget::Budget;
pub use cifar::{
    CIFAR10_CLASSES, CIFAR10_ENV, CIFAR10_RECORD, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, Cifar10, locate_cifar10,
    read_cifar10_batch, read_cifar10_batch_with,
};
pub use dataset::{Batches, Dataset, MiniBatch, shuffle_indices};
pub use error::{DataError, Measured};
pub use idx::{
    IdxCompression, IdxImages, MAX_DATA_BYTES, load_idx, load_idx_with, read_idx_images, read_idx_images_with,
    read_idx_labels, read_idx_labels_with, write_idx_images, write_idx_labels,
};
pub use locate::{
    FASHION_MNIST_CLASSES, FASHION_MNIST_ENV, FASHION_MNIST_SHIPPED_DIR, FASHION_MNIST_SYSTEM_DIR, FashionMnist,
    FashionMnistContents, FashionMnistLocation, FashionMnistSource, locate_fashion_mnist, locate_fashion_mnist_full,
};
pub use preprocess::{STD_EPSILON, Standardizer};
