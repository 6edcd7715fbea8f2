//! What the data-file targets share: a scratch file per process (in
//! `/dev/shm` when there is one, so each run costs no disk I/O) and the
//! check that an error names its file.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// A scratch path unique to this process, `name` telling the targets'
/// files apart.
pub fn scratch(name: &str) -> PathBuf {
    let dir = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    dir.join(format!("constnet-fuzz-{}-{name}", std::process::id()))
}

/// Writes `bytes` to `path`, replacing it.
pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write the scratch file");
}

/// `bytes` as one gzip member (fastest level: the fuzzer's input is what
/// the reader decompresses).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Every data error names the file it is about.
pub fn names_file(err: &constnet::data::DataError, path: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&*path.to_string_lossy()), "error does not name {}: {msg}", path.display());
}

/// Whether `bytes` start like a gzip stream (the readers then decompress).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}
