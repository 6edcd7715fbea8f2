//! Finding Fashion-MNIST on this machine, and loading it.

use super::budget::Budget;
use super::dataset::Dataset;
use super::error::DataError;
use super::idx::{
    IdxCompression, check_idx_file, commit_idx, load_idx_with, read_idx_images, read_idx_labels, read_idx_labels_with,
    stage_idx_images, stage_idx_labels,
};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

/// The environment variable naming a Fashion-MNIST directory.
pub const FASHION_MNIST_ENV: &str = "CONSTNET_FASHION_MNIST";

/// Where Debian's `dataset-fashion-mnist` package installs the full dataset.
pub const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The seed-1 subset shipped in this repository (classes 1 and 3 of the
/// training and test sets, original labels and order), under
/// `CARGO_MANIFEST_DIR` as it was when constnet was compiled.
pub const FASHION_MNIST_SHIPPED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist-seed1");

/// The Fashion-MNIST class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// The four file names of Fashion-MNIST (and MNIST), without `.gz`.
const FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

const HINT: &str = "Fashion-MNIST: pass its directory (--data DIR) or set CONSTNET_FASHION_MNIST=DIR; the directory \
must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte \
(each raw or .gz). Get them with `apt install dataset-fashion-mnist` (Debian, installs /usr/share/datasets/fashion-mnist) \
or from https://github.com/zalandoresearch/fashion-mnist (data/fashion).";

/// How a Fashion-MNIST location was found, in search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FashionMnistSource {
    /// The directory the program was given (`--data DIR`).
    Explicit,
    /// The directory in `CONSTNET_FASHION_MNIST`.
    EnvVar,
    /// The seed-1 subset shipped in the repository ([`FASHION_MNIST_SHIPPED_DIR`]).
    Shipped,
    /// Debian's package path ([`FASHION_MNIST_SYSTEM_DIR`]).
    System,
}

/// What a Fashion-MNIST location holds, judged from its label files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FashionMnistContents {
    /// The whole dataset: 60000 training and 10000 test samples.
    Full,
    /// The seed-1 subset: only classes 1 (trouser) and 3 (dress), 12000
    /// training and 2000 test samples.
    Seed1Subset,
    /// Any other selection.
    Other {
        /// Training samples.
        train: usize,
        /// Test samples.
        test: usize,
    },
}

/// A directory holding the four Fashion-MNIST files: where it is, how it
/// was found and what it holds. Made by [`locate_fashion_mnist`] or
/// [`FashionMnistLocation::from_dir`]; load it with [`FashionMnist::load`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FashionMnistLocation {
    /// The directory.
    pub dir: PathBuf,
    /// How it was found.
    pub source: FashionMnistSource,
    /// Full dataset or the seed-1 subset.
    pub contents: FashionMnistContents,
    /// Training images (`train-images-idx3-ubyte[.gz]`).
    pub train_images: PathBuf,
    /// Training labels (`train-labels-idx1-ubyte[.gz]`).
    pub train_labels: PathBuf,
    /// Test images (`t10k-images-idx3-ubyte[.gz]`).
    pub test_images: PathBuf,
    /// Test labels (`t10k-labels-idx1-ubyte[.gz]`).
    pub test_labels: PathBuf,
}

impl fmt::Display for FashionMnistContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => write!(f, "full Fashion-MNIST (60000 training, 10000 test images)"),
            Self::Seed1Subset => {
                write!(f, "the seed-1 subset of Fashion-MNIST (classes 1 and 3: 12000 training, 2000 test images)")
            }
            Self::Other { train, test } => write!(f, "Fashion-MNIST files with {train} training, {test} test images"),
        }
    }
}

impl fmt::Display for FashionMnistSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Explicit => "given directory",
            Self::EnvVar => FASHION_MNIST_ENV,
            Self::Shipped => "shipped with constnet",
            Self::System => "Debian package dataset-fashion-mnist",
        })
    }
}

impl fmt::Display for FashionMnistLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {} ({})", self.contents, self.dir.display(), self.source)
    }
}

impl FashionMnistLocation {
    /// Checks that `dir` holds the four Fashion-MNIST files (each raw or
    /// `.gz`; the raw name is preferred when both exist) and reads their
    /// label files to tell what they hold. Each image file's header is
    /// read and its data's length checked without keeping the data: a raw
    /// file's length, a gzip file's declared size (its last four bytes) or,
    /// when that differs, its decompressed stream counted to the end. So a
    /// truncated or half-written copy is refused here, not at load time.
    ///
    /// # Errors
    /// [`DataError::NotFound`] naming the missing files; any error of
    /// [`read_idx_labels`](crate::data::read_idx_labels) (labels must be
    /// below 10) or of the image files' headers; [`DataError::Truncated`],
    /// [`DataError::TrailingData`] or [`DataError::Gzip`] if an image file's
    /// data does not have the length its header declares;
    /// [`DataError::CountMismatch`] if an image file and its label file
    /// disagree.
    ///
    /// ```
    /// use constnet::data::{FashionMnistContents, FashionMnistLocation, FashionMnistSource, FASHION_MNIST_SHIPPED_DIR};
    /// let loc = FashionMnistLocation::from_dir(FASHION_MNIST_SHIPPED_DIR.as_ref(), FashionMnistSource::Shipped)?;
    /// assert_eq!(loc.contents, FashionMnistContents::Seed1Subset);
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn from_dir(dir: &Path, source: FashionMnistSource) -> Result<Self, DataError> {
        match probe(dir, source)? {
            Ok(loc) => Ok(loc),
            Err(why) => Err(DataError::NotFound {
                dataset: "Fashion-MNIST",
                looked: vec![(place(dir, source), why)],
                hint: HINT,
            }),
        }
    }
}

fn place(dir: &Path, source: FashionMnistSource) -> String {
    format!("{} ({source})", dir.display())
}

/// `Ok(Ok(location))` if `dir` holds the four files, `Ok(Err(why not))` if
/// some are missing, `Err` if a file is there but malformed.
fn probe(dir: &Path, source: FashionMnistSource) -> Result<Result<FashionMnistLocation, String>, DataError> {
    if !dir.is_dir() {
        return Ok(Err("not a directory".to_string()));
    }
    let mut paths = Vec::with_capacity(4);
    let mut missing = Vec::new();
    for name in FILES {
        let raw = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        if raw.is_file() {
            paths.push(raw);
        } else if gz.is_file() {
            paths.push(gz);
        } else {
            missing.push(format!("{name}[.gz]"));
        }
    }
    if !missing.is_empty() {
        return Ok(Err(format!("missing {}", missing.join(", "))));
    }
    let mut counts = [0usize; 2];
    let mut only_1_and_3 = true;
    let mut budget = Budget::default();
    for (k, pair) in paths.chunks_exact(2).enumerate() {
        let labels = read_idx_labels_with(&pair[1], Some(10), &mut budget)?;
        let n_images = check_idx_file(&pair[0], 3)?;
        if n_images != labels.len() {
            return Err(DataError::CountMismatch {
                images: pair[0].clone(),
                n_images,
                labels: pair[1].clone(),
                n_labels: labels.len(),
            });
        }
        counts[k] = labels.len();
        only_1_and_3 &= labels.iter().all(|&l| l == 1 || l == 3);
    }
    let contents = match counts {
        [60000, 10000] => FashionMnistContents::Full,
        [12000, 2000] if only_1_and_3 => FashionMnistContents::Seed1Subset,
        [train, test] => FashionMnistContents::Other { train, test },
    };
    let [train_images, train_labels, test_images, test_labels] = <[PathBuf; 4]>::try_from(paths).unwrap_or_default();
    Ok(Ok(FashionMnistLocation {
        dir: dir.to_path_buf(),
        source,
        contents,
        train_images,
        train_labels,
        test_images,
        test_labels,
    }))
}

/// Finds Fashion-MNIST, looking in this order and taking the first
/// directory that holds the four files:
///
/// 1. `cli_dir`, the directory the program was given (`--data DIR`);
/// 2. the directory in the environment variable `CONSTNET_FASHION_MNIST`;
/// 3. the seed-1 subset shipped in the repository
///    ([`FASHION_MNIST_SHIPPED_DIR`], `data/fashion-mnist-seed1`);
/// 4. Debian's package path `/usr/share/datasets/fashion-mnist`.
///
/// A directory given explicitly (1 or 2) must be valid: if it lacks the
/// files, that is an error rather than a silent fall-back to another copy.
/// The result says which files the place provides
/// ([`FashionMnistContents::Full`] or [`FashionMnistContents::Seed1Subset`]);
/// a program that needs all ten classes uses [`locate_fashion_mnist_full`].
///
/// # Errors
/// [`DataError::NotFound`] listing every place looked and why it was not
/// used, with how to get the data; an error of
/// [`FashionMnistLocation::from_dir`] if a place has malformed files.
///
/// ```
/// use constnet::data::{locate_fashion_mnist, FashionMnist};
/// # if std::env::var_os("CONSTNET_FASHION_MNIST").is_none() {
/// let found = locate_fashion_mnist(None)?; // no --data, no env var: the shipped subset
/// println!("using {found}");
/// let (train, test) = FashionMnist::load(&found)?;
/// assert_eq!((train.len(), test.len()), (12000, 2000));
/// # }
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn locate_fashion_mnist(cli_dir: Option<&Path>) -> Result<FashionMnistLocation, DataError> {
    let env = std::env::var_os(FASHION_MNIST_ENV);
    locate_in(cli_dir, env, FASHION_MNIST_SHIPPED_DIR.as_ref(), FASHION_MNIST_SYSTEM_DIR.as_ref(), false)
}

/// Finds the full Fashion-MNIST (all ten classes, 60000 + 10000 images),
/// in the order of [`locate_fashion_mnist`], skipping places that hold only
/// a subset (the shipped one included).
///
/// # Errors
/// As [`locate_fashion_mnist`]; a directory given explicitly that holds
/// only a subset is an error.
///
/// ```
/// use constnet::data::{locate_fashion_mnist_full, FashionMnistContents};
/// match locate_fashion_mnist_full(None) {
///     Ok(found) => assert_eq!(found.contents, FashionMnistContents::Full),
///     Err(e) => println!("{e}"), // lists every place looked
/// }
/// ```
pub fn locate_fashion_mnist_full(cli_dir: Option<&Path>) -> Result<FashionMnistLocation, DataError> {
    let env = std::env::var_os(FASHION_MNIST_ENV);
    locate_in(cli_dir, env, FASHION_MNIST_SHIPPED_DIR.as_ref(), FASHION_MNIST_SYSTEM_DIR.as_ref(), true)
}

/// The search of [`locate_fashion_mnist`] with its places as arguments.
fn locate_in(
    cli_dir: Option<&Path>,
    env: Option<OsString>,
    shipped: &Path,
    system: &Path,
    need_full: bool,
) -> Result<FashionMnistLocation, DataError> {
    let not_found = |looked| DataError::NotFound { dataset: "Fashion-MNIST", looked, hint: HINT };
    let subset_only = |loc: &FashionMnistLocation| format!("holds only {}; the full dataset is needed", loc.contents);
    let env_dir = env.filter(|v| !v.is_empty()).map(PathBuf::from);
    // An explicit choice is final: use it or report why not.
    for (dir, source) in [(cli_dir, FashionMnistSource::Explicit), (env_dir.as_deref(), FashionMnistSource::EnvVar)] {
        if let Some(dir) = dir {
            return match probe(dir, source)? {
                Ok(loc) if need_full && loc.contents != FashionMnistContents::Full => {
                    Err(not_found(vec![(place(dir, source), subset_only(&loc))]))
                }
                Ok(loc) => Ok(loc),
                Err(why) => Err(not_found(vec![(place(dir, source), why)])),
            };
        }
    }
    let mut looked = vec![
        ("--data DIR".to_string(), "not given".to_string()),
        (FASHION_MNIST_ENV.to_string(), "not set".to_string()),
    ];
    for (dir, source) in [(shipped, FashionMnistSource::Shipped), (system, FashionMnistSource::System)] {
        match probe(dir, source)? {
            Ok(loc) if need_full && loc.contents != FashionMnistContents::Full => {
                looked.push((place(dir, source), subset_only(&loc)))
            }
            Ok(loc) => return Ok(loc),
            Err(why) => looked.push((place(dir, source), why)),
        }
    }
    Err(not_found(looked))
}

/// Loader of Fashion-MNIST (28x28 grey images, 10 classes; see
/// [`FASHION_MNIST_CLASSES`]).
#[derive(Clone, Copy, Debug)]
pub struct FashionMnist;

impl FashionMnist {
    /// Loads the training and test sets of a location found by
    /// [`locate_fashion_mnist`], pixels as `f32` values `0.0..=255.0`,
    /// labels as in the files (0..=9), order as in the files.
    ///
    /// The four files are one load: together they may take at most
    /// [`Budget::DEFAULT_LIMIT`] bytes (the full dataset takes 274 470 000).
    ///
    /// # Errors
    /// Any error of [`load_idx`](crate::data::load_idx) (malformed files,
    /// labels above 9, count mismatches, images not 28x28);
    /// [`DataError::OverBudget`] if the four files exceed the budget.
    pub fn load(found: &FashionMnistLocation) -> Result<(Dataset<1, 28, 28>, Dataset<1, 28, 28>), DataError> {
        Self::load_with(found, &mut Budget::default())
    }

    /// [`FashionMnist::load`] charging the four files to `budget`.
    ///
    /// # Errors
    /// As [`FashionMnist::load`], with `budget` as the limit.
    ///
    /// ```
    /// use constnet::data::{locate_fashion_mnist, Budget, DataError, FashionMnist, FASHION_MNIST_SHIPPED_DIR};
    /// let shipped = locate_fashion_mnist(Some(FASHION_MNIST_SHIPPED_DIR.as_ref()))?;
    /// let mut budget = Budget::new(64 << 20);
    /// let (train, test) = FashionMnist::load_with(&shipped, &mut budget)?;
    /// // 14000 labels, 14000 x 784 pixel bytes, 14000 x 784 f32
    /// assert_eq!(budget.used(), 14000 * (1 + 784 + 4 * 784));
    /// assert_eq!((train.len(), test.len()), (12000, 2000));
    /// let err = FashionMnist::load_with(&shipped, &mut Budget::new(16 << 20)).unwrap_err();
    /// assert!(matches!(err, DataError::OverBudget { .. }), "{err}");
    /// # Ok::<(), DataError>(())
    /// ```
    pub fn load_with(
        found: &FashionMnistLocation,
        budget: &mut Budget,
    ) -> Result<(Dataset<1, 28, 28>, Dataset<1, 28, 28>), DataError> {
        let train = load_idx_with(&found.train_images, &found.train_labels, Some(10), budget)?;
        let test = load_idx_with(&found.test_images, &found.test_labels, Some(10), budget)?;
        Ok((train, test))
    }

    /// Loads the training and test sets from a directory holding the four
    /// files ([`FashionMnistLocation::from_dir`] then [`FashionMnist::load`]).
    ///
    /// # Errors
    /// As [`FashionMnistLocation::from_dir`] and [`FashionMnist::load`].
    pub fn load_dir(dir: &Path) -> Result<(Dataset<1, 28, 28>, Dataset<1, 28, 28>), DataError> {
        Self::load(&FashionMnistLocation::from_dir(dir, FashionMnistSource::Explicit)?)
    }
}

impl FashionMnist {
    /// Writes the samples of `classes` from the training and test sets of
    /// `found` into `out_dir` as the four gzip IDX files (same names plus
    /// `.gz`), keeping their original labels and order: the way the shipped
    /// seed-1 subset is made (`classes = [1, 3]`, see the example
    /// `make_seed1_subset`). Works on the bytes, so pixels are copied
    /// exactly; the gzip output is deterministic ([`IdxCompression::Gzip`]).
    /// Creates `out_dir` if needed. Returns the training and test sample
    /// counts written.
    ///
    /// The four files are written beside their targets first, then renamed
    /// into place one after another (as [`write_idx_images`](crate::data::write_idx_images) replaces a
    /// file): a kill or a failure while writing leaves the old files as
    /// they were. The renames are not one step: a kill in the microseconds
    /// between two of them, or a rename that fails, leaves some files new
    /// and the others old.
    ///
    /// # Errors
    /// Any error of [`read_idx_images`] or [`read_idx_labels`],
    /// [`DataError::CountMismatch`], or [`DataError::WriteIo`] writing.
    ///
    /// ```
    /// use constnet::data::{FashionMnist, FashionMnistLocation, FashionMnistSource, FASHION_MNIST_SHIPPED_DIR};
    /// let shipped = FashionMnistLocation::from_dir(FASHION_MNIST_SHIPPED_DIR.as_ref(), FashionMnistSource::Shipped)?;
    /// let out = std::env::temp_dir().join(format!("constnet-doc-subset-{}", std::process::id()));
    /// assert_eq!(FashionMnist::write_subset(&shipped, &[3], &out)?, (6000, 1000)); // the dresses
    /// # std::fs::remove_dir_all(&out).unwrap();
    /// # Ok::<(), constnet::data::DataError>(())
    /// ```
    pub fn write_subset(
        found: &FashionMnistLocation,
        classes: &[u8],
        out_dir: &Path,
    ) -> Result<(usize, usize), DataError> {
        std::fs::create_dir_all(out_dir)
            .map_err(|source| DataError::WriteIo { path: out_dir.to_path_buf(), source })?;
        let mut written = [0usize; 2];
        // (path, file written beside it), put in place once all are written.
        let mut staged = Vec::new();
        let pairs = [(&found.train_images, &found.train_labels), (&found.test_images, &found.test_labels)];
        for (k, (images_path, labels_path)) in pairs.into_iter().enumerate() {
            let labels = read_idx_labels(labels_path, Some(10))?;
            let images = read_idx_images(images_path)?;
            if images.count != labels.len() {
                return Err(DataError::CountMismatch {
                    images: images_path.clone(),
                    n_images: images.count,
                    labels: labels_path.clone(),
                    n_labels: labels.len(),
                });
            }
            let keep: Vec<usize> = (0..labels.len()).filter(|&i| classes.contains(&labels[i])).collect();
            let sub_labels: Vec<u8> = keep.iter().map(|&i| labels[i]).collect();
            let sub_pixels: Vec<u8> = keep.iter().flat_map(|&i| images.image(i).iter().copied()).collect();
            let (img_path, lab_path) =
                (out_dir.join(format!("{}.gz", FILES[2 * k])), out_dir.join(format!("{}.gz", FILES[2 * k + 1])));
            let img = stage_idx_images(&img_path, images.rows, images.cols, &sub_pixels, IdxCompression::Gzip)?;
            staged.push((img_path, img));
            let lab = stage_idx_labels(&lab_path, &sub_labels, IdxCompression::Gzip)?;
            staged.push((lab_path, lab));
            written[k] = keep.len();
        }
        for (path, file) in staged {
            commit_idx(&path, file)?;
        }
        Ok((written[0], written[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{write_idx_images, write_idx_labels};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("constnet-locate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes a tiny fake Fashion-MNIST with the given train/test labels.
    fn fake(dir: &Path, train: &[u8], test: &[u8]) {
        for (prefix, labels) in [("train", train), ("t10k", test)] {
            let pixels = vec![7u8; labels.len() * 784];
            let img = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
            write_idx_images(img, 28, 28, &pixels, IdxCompression::Gzip).unwrap();
            write_idx_labels(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels, IdxCompression::Raw).unwrap();
        }
    }

    #[test]
    fn search_order_and_explicit_dirs_are_final() {
        let a = temp_dir("a");
        let b = temp_dir("b");
        let empty = temp_dir("empty");
        fake(&a, &[0, 1, 2], &[3]);
        fake(&b, &[1, 3], &[3]);
        // explicit beats env, env beats fallbacks
        let loc = locate_in(Some(&a), Some(b.clone().into()), &b, &b, false).unwrap();
        assert_eq!((loc.source, loc.dir.clone()), (FashionMnistSource::Explicit, a.clone()));
        assert_eq!(loc.contents, FashionMnistContents::Other { train: 3, test: 1 });
        assert!(loc.train_images.ends_with("train-images-idx3-ubyte.gz"));
        assert!(loc.train_labels.ends_with("train-labels-idx1-ubyte"));
        let loc = locate_in(None, Some(a.clone().into()), &b, &b, false).unwrap();
        assert_eq!(loc.source, FashionMnistSource::EnvVar);
        // an empty env var counts as unset
        let loc = locate_in(None, Some("".into()), &empty, &a, false).unwrap();
        assert_eq!(loc.source, FashionMnistSource::System);
        let loc = locate_in(None, None, &b, &a, false).unwrap();
        assert_eq!(loc.source, FashionMnistSource::Shipped);
        // an explicit directory without the files is an error, no fall-back
        let err = locate_in(Some(&empty), None, &a, &a, false).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&*empty.to_string_lossy()) && msg.contains("missing train-images-idx3-ubyte[.gz]"),
            "{msg}"
        );
        // need_full skips subsets and reports them
        let err = locate_in(None, None, &b, &empty, true).unwrap_err();
        let DataError::NotFound { looked, .. } = &err else { panic!("{err}") };
        assert_eq!(looked.len(), 4, "{err}");
        assert!(looked[2].1.contains("holds only"), "{err}");
        assert!(looked[3].1.contains("missing"), "{err}");
        let err = locate_in(Some(&a), None, &b, &b, true).unwrap_err();
        assert!(err.to_string().contains("the full dataset is needed"), "{err}");
        for d in [a, b, empty] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn nothing_found_lists_every_place() {
        let nowhere = Path::new("/nonexistent/constnet-test");
        let err = locate_in(None, None, nowhere, nowhere, false).unwrap_err();
        let msg = err.to_string();
        for needle in ["--data DIR: not given", "CONSTNET_FASHION_MNIST: not set", "not a directory", "apt install"] {
            assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
        }
    }

    #[test]
    fn malformed_file_in_a_place_is_reported() {
        let dir = temp_dir("bad");
        fake(&dir, &[1, 2], &[3]);
        write_idx_labels(dir.join("t10k-labels-idx1-ubyte"), &[3, 3], IdxCompression::Raw).unwrap();
        let err = locate_in(Some(&dir), None, &dir, &dir, false).unwrap_err();
        assert!(matches!(err, DataError::CountMismatch { n_images: 1, n_labels: 2, .. }), "{err}");
        write_idx_labels(dir.join("t10k-labels-idx1-ubyte"), &[10], IdxCompression::Raw).unwrap();
        let err = locate_in(Some(&dir), None, &dir, &dir, false).unwrap_err();
        assert!(matches!(err, DataError::LabelOutOfRange { label: 10, .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
