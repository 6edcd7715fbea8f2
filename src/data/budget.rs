//! [`Budget`]: the memory one load may allocate for what its files hold,
//! charged before each allocation.

use super::error::DataError;
use std::path::Path;

/// The memory one load may allocate in proportion to its files: the bytes
/// it reads or decompresses, and the `f32` images and labels it builds from
/// them.
///
/// Every loader charges the budget *before* it allocates, from the sizes a
/// header declares or a file has. A gzip stream declares no size: its
/// decompression stops at what the budget can still hold. A load that
/// would go over fails with [`DataError::OverBudget`], which names the
/// file, what was asked and what was left; nothing is allocated for it.
///
/// The charges add up across the files of one load (Fashion-MNIST's four,
/// CIFAR-10's six). A freed buffer is not given back, so the budget bounds
/// what the load holds from above. One allocation may briefly hold more:
/// a dataset grown by [`Dataset::append`](crate::data::Dataset::append)
/// (CIFAR-10's five training batches) moves to a larger block, and an
/// allocator that copies instead of growing the block in place (glibc's
/// does not copy blocks this large) holds old and new for the copy's time.
///
/// The default limit, [`Budget::DEFAULT_LIMIT`] (1 GiB), holds the two
/// datasets constnet has loaders for: full CIFAR-10 is charged
/// 921 720 000 bytes, full Fashion-MNIST 274 470 000. A larger dataset
/// needs a larger budget, given to the `*_with` variant of its loader.
///
/// ```
/// use constnet::data::{load_idx_with, write_idx_images, write_idx_labels, Budget, DataError, IdxCompression};
/// let dir = std::env::temp_dir();
/// let (img, lab) = (dir.join(format!("constnet-doc-budget-i-{}", std::process::id())),
///                   dir.join(format!("constnet-doc-budget-l-{}", std::process::id())));
/// write_idx_images(&img, 2, 2, &[0; 3 * 4], IdxCompression::Gzip)?;
/// write_idx_labels(&lab, &[1, 2, 3], IdxCompression::Raw)?;
/// // 3 labels + 12 pixel bytes + 3 images of 4 f32 (48 bytes) = 63 bytes
/// let mut budget = Budget::new(63);
/// let ds = load_idx_with::<2, 2>(&img, &lab, Some(10), &mut budget)?;
/// assert_eq!((ds.len(), budget.used(), budget.remaining()), (3, 63, 0));
/// let err = load_idx_with::<2, 2>(&img, &lab, Some(10), &mut Budget::new(62)).unwrap_err();
/// assert!(matches!(err, DataError::OverBudget { needed: 60, limit: 62, used: 3, .. }), "{err}");
/// # std::fs::remove_file(&img).unwrap(); std::fs::remove_file(&lab).unwrap();
/// # Ok::<(), DataError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
    used: u64,
}

impl Budget {
    /// The default limit: 1 GiB, enough for full CIFAR-10 (921 720 000
    /// bytes charged) and full Fashion-MNIST (274 470 000).
    pub const DEFAULT_LIMIT: u64 = 1 << 30;

    /// A budget of `limit` bytes, none used.
    pub const fn new(limit: u64) -> Self {
        Self { limit, used: 0 }
    }

    /// The limit, in bytes.
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes charged so far.
    pub const fn used(&self) -> u64 {
        self.used
    }

    /// The bytes still available: `limit - used`.
    pub const fn remaining(&self) -> u64 {
        self.limit - self.used
    }

    /// Charges `bytes` for `what` read from `path`, or fails without
    /// charging anything if they do not fit.
    pub(crate) fn charge(&mut self, path: &Path, what: &'static str, bytes: u64) -> Result<(), DataError> {
        if bytes > self.remaining() {
            return Err(DataError::OverBudget {
                path: path.to_path_buf(),
                what,
                needed: bytes,
                used: self.used,
                limit: self.limit,
            });
        }
        self.used += bytes;
        Ok(())
    }
}

impl Default for Budget {
    /// A budget of [`Budget::DEFAULT_LIMIT`] bytes.
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_and_a_refused_charge_changes_nothing() {
        let path = Path::new("f");
        let mut b = Budget::new(10);
        b.charge(path, "x", 4).unwrap();
        b.charge(path, "x", 6).unwrap();
        assert_eq!((b.used(), b.remaining()), (10, 0));
        let err = b.charge(path, "more bytes", 1).unwrap_err();
        assert!(matches!(err, DataError::OverBudget { needed: 1, used: 10, limit: 10, .. }), "{err}");
        assert_eq!(b.used(), 10);
        b.charge(path, "x", 0).unwrap();
        assert_eq!(Budget::default().limit(), 1 << 30);
    }
}
