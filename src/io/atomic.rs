//! Replacing a file whole (std feature): the one writer behind
//! [`save_file`](super::save_file) and the IDX writers.
//!
//! The new contents go to a temporary file beside the target,
//! `.NAME.PID.STAMP.tmp`, created only if no file has that name (another is
//! tried if one has). The temporary is locked (`File::try_lock`, an
//! exclusive `flock` on Unix) for as long as it is written. It gets the
//! target's permissions, reaches the disk (`sync_all`), and is renamed over
//! the target; on Unix the directory is synced after the rename. So the
//! target holds the old contents or the new ones whole, even after a kill
//! or a power loss. A symbolic link is followed: the file it points to is
//! replaced and the link stays a link.
//!
//! # Stale temporaries
//!
//! A process killed while writing leaves its temporary behind. Every write
//! first removes the stale temporaries of its own target: files in the
//! target's directory named `.NAME.DIGITS.DIGITS.tmp` (the old naming,
//! `.NAME.PID.N.tmp`, too) that
//!
//! - were last modified at least [`STALE_AFTER`] (10 minutes) ago, and
//! - are not locked: a writer holds its lock until the rename, and the
//!   operating system releases it when the writer dies, however it dies.
//!
//! The age rule keeps safe a temporary whose writer cannot lock it (a file
//! system without locks, or an older constnet), as long as that writer
//! changes it at least every 10 minutes; where the file system refuses
//! locks, nothing is removed. A temporary is removed only if its name still
//! refers to the file that was found unlocked. The cleaning is best effort:
//! a temporary that cannot be removed does not fail the write, and a
//! leftover temporary never blocks one, since the name of a new temporary
//! is never that of an existing file.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::{format, vec::Vec};

/// How long a temporary must have gone unmodified before a later write may
/// remove it (if it is not locked).
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(600);

/// Symbolic links followed at most before a write gives up, as Linux does.
const MAX_LINKS: usize = 40;

/// Names tried at most for a new temporary.
const MAX_ATTEMPTS: usize = 100;

/// The next temporary's stamp; zero until the first write sets it to the
/// time in nanoseconds.
static STAMP: AtomicU64 = AtomicU64::new(0);

/// Replaces the file at `path` (or the file a symbolic link at `path`
/// points to) with what `write` writes, whole: see the [module](self).
///
/// # Errors
/// Those of [`NewFile::create`], of `write`, and of [`NewFile::commit`];
/// the temporary is removed after any of them.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let mut new = NewFile::create(path)?;
    write(new.file())?;
    new.commit()
}

/// A file being written beside its target, in place only once committed;
/// dropped uncommitted, it is removed.
pub(crate) struct NewFile {
    /// The file to replace (symbolic links followed).
    target: PathBuf,
    /// The temporary beside it.
    tmp: PathBuf,
    file: File,
    /// The target's metadata, if it exists (its permissions are kept on Unix).
    #[cfg_attr(not(unix), allow(dead_code))]
    existing: Option<fs::Metadata>,
    committed: bool,
}

impl NewFile {
    /// Creates a new, locked temporary beside the file `path` names (after
    /// following symbolic links), first removing that file's stale
    /// temporaries.
    ///
    /// # Errors
    /// `InvalidInput` if `path` names no file, has too many levels of
    /// symbolic links or names a FIFO, socket or device (replacing one with
    /// a regular file would change what it is), `IsADirectory` if it names
    /// a directory, or the error of reading the link or the target's
    /// metadata, or of creating the temporary.
    pub(crate) fn create(path: &Path) -> io::Result<NewFile> {
        let target = follow_links(path)?;
        let name = target.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
        let existing = match fs::metadata(&target) {
            Ok(m) if m.is_dir() => return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory")),
            Ok(m) if !m.is_file() => {
                let message = "not a regular file but a FIFO, socket or device: refused, as a save would replace it";
                return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
            }
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        remove_stale_temporaries(&target, name);
        let (tmp, file) = create_temporary(&target, name, existing.is_some())?;
        Ok(NewFile { target, tmp, file, existing, committed: false })
    }

    /// The temporary, open for writing.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Gives the temporary the target's owner (if allowed) and permissions,
    /// syncs it and renames it over the target, then (on Unix) syncs the
    /// directory, best effort: a file system that cannot sync a directory
    /// does not fail the write. Where the owner or group could not be kept,
    /// the permissions for group and others are dropped (with set-user-ID
    /// and set-group-ID): a 0640 file of group `secret` saved by a
    /// non-member must not become readable by the writer's group. Setting
    /// them is best effort too (some file systems refuse `fchmod`).
    ///
    /// # Errors
    /// The error of syncing or renaming.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        #[cfg(unix)]
        if let Some(m) = &self.existing {
            use std::os::unix::fs::MetadataExt;
            let mine = self.file.metadata()?;
            let mut mode = m.mode() & 0o7777;
            if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
                // Only root may give a file away; a member may change its group.
                let _ = std::os::unix::fs::fchown(&self.file, Some(m.uid()), Some(m.gid()));
                let now = self.file.metadata()?;
                if (now.uid(), now.gid()) != (m.uid(), m.gid()) {
                    mode &= 0o700;
                }
            }
            // After the owner: changing it clears the set-user-ID bit.
            use std::os::unix::fs::PermissionsExt;
            let _ = self.file.set_permissions(fs::Permissions::from_mode(mode));
        }
        self.file.sync_all()?;
        fs::rename(&self.tmp, &self.target)?;
        self.committed = true;
        #[cfg(unix)]
        {
            let dir = self.target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// `path`, or the file it leads to if it is a symbolic link (which need
/// not exist: writing through a dangling link creates its target).
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) => dir.join(to),
                    None => to,
                };
            }
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => return Ok(p),
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("more than {MAX_LINKS} levels of symbolic links")))
}

/// Creates and locks `.NAME.PID.STAMP.tmp` beside `target`, trying other
/// stamps while the name is taken. The first stamp is the time in
/// nanoseconds, so a process that has the PID of one killed earlier (a
/// container's PID 1) does not start where that one stopped.
fn create_temporary(target: &Path, name: &OsStr, existing: bool) -> io::Result<(PathBuf, File)> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let _ = STAMP.compare_exchange(0, now.max(1), Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..MAX_ATTEMPTS {
        let mut tmp = std::ffi::OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".{}.{}.tmp", std::process::id(), STAMP.fetch_add(1, Ordering::Relaxed)));
        let tmp = target.with_file_name(tmp);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // Readable by the owner alone until it has the target's permissions;
        // a new file gets a new file's usual mode (0666 less the umask).
        #[cfg(unix)]
        if existing {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        #[cfg(not(unix))]
        let _ = existing;
        let file = match options.open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            // Locked: but if a cleaner removed the file between its creation
            // and the lock, the name is no longer this file's.
            Ok(()) if !same_file_at(&file, &tmp) => continue,
            Ok(()) => return Ok((tmp, file)),
            // Someone else holds it (a cleaner about to remove it): give it up.
            Err(fs::TryLockError::WouldBlock) => {
                let _ = fs::remove_file(&tmp);
                continue;
            }
            // No locks on this file system: written unlocked, kept by its age.
            Err(fs::TryLockError::Error(_)) => return Ok((tmp, file)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for a temporary file after {MAX_ATTEMPTS} tries"),
    ))
}

/// Whether `path` (not following a link) is the open `file`.
fn same_file_at(file: &File, path: &Path) -> bool {
    let (Ok(a), Ok(b)) = (file.metadata(), fs::symlink_metadata(path)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (a.dev(), a.ino()) == (b.dev(), b.ino())
    }
    #[cfg(not(unix))]
    {
        b.is_file() && (a.len(), a.modified().ok()) == (b.len(), b.modified().ok())
    }
}

/// Removes the stale temporaries of `target` (see the [module](self)),
/// best effort.
fn remove_stale_temporaries(target: &Path, name: &OsStr) {
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let stale: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| is_temporary_of(e.file_name().as_encoded_bytes(), name.as_encoded_bytes()))
        .map(|e| e.path())
        .collect();
    for p in stale {
        let _ = remove_if_stale(&p);
    }
}

/// Whether `file` is `.NAME.DIGITS.DIGITS.tmp` for `name`.
fn is_temporary_of(file: &[u8], name: &[u8]) -> bool {
    let middle = (file.strip_prefix(b"."))
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(b"."))
        .and_then(|r| r.strip_suffix(b".tmp"));
    let Some(middle) = middle else {
        return false;
    };
    let mut parts = middle.split(|&b| b == b'.');
    let digits = |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// Removes the temporary `p` if it is a plain file, unmodified for
/// [`STALE_AFTER`] and unlocked; returns whether it did.
fn remove_if_stale(p: &Path) -> io::Result<bool> {
    let meta = fs::symlink_metadata(p)?;
    if !meta.is_file() || !unmodified_for(&meta, STALE_AFTER) {
        return Ok(false);
    }
    let file = File::open(p)?;
    if file.try_lock().is_err() || !same_file_at(&file, p) || !unmodified_for(&file.metadata()?, STALE_AFTER) {
        return Ok(false);
    }
    // Removed while this lock is held: a writer that created the file and
    // has not locked it yet finds it gone once it has the lock, and
    // starts again under another name.
    fs::remove_file(p)?;
    Ok(true)
}

/// Whether `meta` was last modified at least `age` ago (a time in the
/// future counts as recent).
fn unmodified_for(meta: &fs::Metadata, age: Duration) -> bool {
    meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()).is_some_and(|d| d >= age)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next names taken by other files: the write takes another.
    #[test]
    fn a_taken_name_is_skipped() {
        let dir = std::env::temp_dir().join(format!("constnet-atomic-taken-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("f");
        write_atomically(&target, |f| io::Write::write_all(f, b"1")).unwrap();
        let next = STAMP.load(Ordering::Relaxed);
        let pid = std::process::id();
        let taken: Vec<PathBuf> = (next..next + 5).map(|s| dir.join(format!(".f.{pid}.{s}.tmp"))).collect();
        for t in &taken {
            fs::write(t, b"taken").unwrap();
        }
        write_atomically(&target, |f| io::Write::write_all(f, b"2")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"2");
        for t in &taken {
            assert_eq!(fs::read(t).unwrap(), b"taken", "{} was touched", t.display());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_names_are_recognised_exactly() {
        let is = |f: &str| is_temporary_of(f.as_bytes(), b"net.safetensors");
        assert!(is(".net.safetensors.1.0.tmp"));
        assert!(is(".net.safetensors.4242.1712345678123456789.tmp"));
        for not in [
            "net.safetensors",
            ".net.safetensors.tmp",
            ".net.safetensors.1.tmp",
            ".net.safetensors.1.2.3.tmp",
            ".net.safetensors.1.x.tmp",
            ".net.safetensors.1..tmp",
            ".net.safetensors.5.1.0.tmp", // a temporary of "net.safetensors.5"
            ".other.1.0.tmp",
            ".net.safetensors.1.0.tmp~",
        ] {
            assert!(!is(not), "{not} was taken for a temporary");
        }
    }
}
