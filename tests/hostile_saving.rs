//! Hostile conditions for saving, and hostile headers (issue 22, defects
//! 5, 7, 8 and the safetensors half of 10): a temporary left by a killed
//! process with the next process's PID, stale temporaries, symbolic links,
//! restrictive permissions, a kill in the middle of an IDX write, a header
//! crafted to make the header check slow, and duplicate tensor names.
//!
//! Some tests run a child process: this test binary again, with
//! `--ignored --exact child_…` and an environment variable saying what to
//! do; the child tests do nothing without it.

mod common;

use constnet::Flat;
use constnet::data::{
    FASHION_MNIST_SHIPPED_DIR, FashionMnist, FashionMnistLocation, FashionMnistSource, IdxCompression, read_idx_images,
    write_idx_images,
};
use constnet::io::{self, SafeTensorsView};
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::tiny;

/// A `tiny` network whose parameters are `i + offset`.
fn net(offset: f32) -> tiny::Params {
    let mut n = tiny::Params::zeroed();
    n.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 + offset);
    n
}

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("constnet-hostile-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    n.sort();
    n
}

/// Sets the modification time of `path` to `age` ago.
fn age(path: &Path, age: Duration) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// Starts this test binary again, running only the child test `test`, with
/// `vars` set; its stdin is a pipe.
fn spawn_child(test: &str, vars: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--exact", test, "--nocapture", "--test-threads=1"]);
    cmd.envs(vars.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

// Defect 7: saves after a crash.

/// A save killed part-way left `.NAME.PID.0.tmp`; the next process with
/// that PID (a container's PID 1 every time) failed its first save with
/// "File exists". Simulated exactly: the child's PID is known once it is
/// started, the leftover is planted, then the child saves.
#[test]
fn a_temporary_left_with_the_next_process_pid_does_not_block_its_save() {
    let dir = temp_dir("next-pid");
    let target = dir.join("net.safetensors");
    let mut child = spawn_child("child_saves_when_told", &[("HOSTILE_SAVE_TO", target.to_str().unwrap())]);
    let pid = child.id();
    for n in 0..4 {
        fs::write(dir.join(format!(".net.safetensors.{pid}.{n}.tmp")), vec![1u8; 1000]).unwrap();
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the child's save failed:\n{stdout}\n{stderr}");
    let mut loaded = tiny::Params::zeroed();
    io::load_file(&mut loaded, &target).unwrap();
    assert_eq!(loaded, net(0.5));
    fs::remove_dir_all(&dir).unwrap();
}

/// The child of [`a_temporary_left_with_the_next_process_pid_does_not_block_its_save`]:
/// waits for a line on stdin, then saves `net(0.5)` to `HOSTILE_SAVE_TO`.
#[test]
#[ignore = "a child process of another test"]
fn child_saves_when_told() {
    let Ok(target) = std::env::var("HOSTILE_SAVE_TO") else { return };
    std::io::stdin().lock().read_line(&mut String::new()).unwrap();
    io::save_file(&net(0.5), &target).unwrap_or_else(|e| panic!("save failed: {e}"));
}

/// Temporaries of killed saves piled up (650 MB after 150 kills). A save
/// removes its target's temporaries that are unlocked and unmodified for
/// 10 minutes, and nothing else: not a temporary a live writer has locked
/// (however old), not a recent one, not another file's.
#[test]
fn a_save_removes_its_stale_temporaries_and_nothing_else() {
    let dir = temp_dir("stale");
    let target = dir.join("net.safetensors");
    let hour = Duration::from_secs(3600);
    let plant = |name: &str, old: bool| {
        let p = dir.join(name);
        fs::write(&p, vec![9u8; 100_000]).unwrap();
        if old {
            age(&p, hour);
        }
        p
    };
    // Left by killed saves: the naming before this fix, and the new one.
    plant(".net.safetensors.4242.0.tmp", true);
    plant(".net.safetensors.4243.1712345678123456789.tmp", true);
    // A live writer's: locked, and old (it has not written for an hour).
    let live = plant(".net.safetensors.4244.3.tmp", true);
    let lock = fs::File::open(&live).unwrap();
    lock.try_lock().unwrap();
    // Recent: perhaps a writer that cannot lock, still writing.
    plant(".net.safetensors.4245.0.tmp", false);
    // Not temporaries of this target.
    plant(".other.safetensors.4246.0.tmp", true);
    plant(".net.safetensors.4247.0.tmp.bak", true);
    plant("net.safetensors.4248.0.tmp", true);

    io::save_file(&net(1.0), &target).unwrap();
    assert_eq!(
        names(&dir),
        [
            ".net.safetensors.4244.3.tmp",
            ".net.safetensors.4245.0.tmp",
            ".net.safetensors.4247.0.tmp.bak",
            ".other.safetensors.4246.0.tmp",
            "net.safetensors",
            "net.safetensors.4248.0.tmp",
        ],
        "stale temporaries were kept, or others removed"
    );
    // Once its writer is gone (its lock with it), the old one goes too.
    drop(lock);
    io::save_file(&net(2.0), &target).unwrap();
    assert!(!dir.join(".net.safetensors.4244.3.tmp").exists(), "{:?}", names(&dir));
    fs::remove_dir_all(&dir).unwrap();
}

/// Saving through a symbolic link replaced the link by a plain file. The
/// link must stay, pointing where it did, and the file it points to get
/// the new bytes; also through a chain of links, a relative link into
/// another directory, and a dangling link (its target is created).
#[cfg(unix)]
#[test]
fn a_save_through_a_symbolic_link_replaces_the_file_it_points_to() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("symlink");
    fs::create_dir(dir.join("weights")).unwrap();
    let real = dir.join("weights/real.safetensors");
    fs::write(&real, b"old").unwrap();
    symlink("weights/real.safetensors", dir.join("link")).unwrap();
    symlink("link", dir.join("link2")).unwrap();
    symlink("weights/new.safetensors", dir.join("dangling")).unwrap();
    let want = io::to_bytes(&net(3.0), &io::Metadata::new()).unwrap();

    for link in ["link", "link2"] {
        fs::write(&real, b"old").unwrap();
        io::save_file(&net(3.0), dir.join(link)).unwrap();
        let meta = fs::symlink_metadata(dir.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} was replaced by a plain file");
        assert_eq!(fs::read(&real).unwrap(), want, "the file {link} points to did not get the new bytes");
    }
    assert_eq!(fs::read_link(dir.join("link")).unwrap(), Path::new("weights/real.safetensors"));
    io::save_file(&net(3.0), dir.join("dangling")).unwrap();
    assert!(fs::symlink_metadata(dir.join("dangling")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(dir.join("weights/new.safetensors")).unwrap(), want);
    assert_eq!(names(&dir), ["dangling", "link", "link2", "weights"]);
    assert_eq!(names(&dir.join("weights")), ["new.safetensors", "real.safetensors"]);
    // A loop of links is an error that names the path, not a hang.
    symlink("loop", dir.join("loop")).unwrap();
    let e = io::save_file(&net(3.0), dir.join("loop")).unwrap_err();
    assert!(e.to_string().contains("loop") && e.to_string().contains("symbolic links"), "{e}");
    fs::remove_dir_all(&dir).unwrap();
}

/// A 0600 file came back 0644 (a new file's mode). An existing file keeps
/// its mode; a new file gets a new file's usual one (the umask's).
#[cfg(unix)]
#[test]
fn a_save_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    for want in [0o600, 0o640, 0o444] {
        let path = dir.join(format!("{want:o}.safetensors"));
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(want)).unwrap();
        io::save_file(&net(4.0), &path).unwrap();
        assert_eq!(mode(&path), want, "{}: mode {:o}, not {want:o}", path.display(), mode(&path));
        assert_eq!(fs::read(&path).unwrap(), io::to_bytes(&net(4.0), &io::Metadata::new()).unwrap());
    }
    let new = dir.join("new.safetensors");
    io::save_file(&net(4.0), &new).unwrap();
    fs::File::create(dir.join("control")).unwrap();
    assert_eq!(mode(&new), mode(&dir.join("control")));
    fs::remove_dir_all(&dir).unwrap();
}

// Defect 8: IDX writers are not atomic.

/// 2 000 images of pseudo-random pixels, slow to compress: a gzip write
/// of them takes long enough to be killed in the middle.
fn noise(seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..2000 * 784)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// A snapshot of `dir`: each file's name and length.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    names(dir).into_iter().map(|n| (n.clone(), fs::metadata(dir.join(&n)).map_or(0, |m| m.len()))).collect()
}

/// Kills `child` as soon as a file in `dir` changes or a new non-empty one
/// appears (the child has started writing), and returns whether it saw
/// that; gives up after 60 s.
fn kill_when_writing(mut child: Child, dir: &Path) -> bool {
    let before = listing(dir);
    let writing = |now: Vec<(String, u64)>| {
        now.iter().any(|(name, len)| match before.iter().find(|(b, _)| b == name) {
            Some((_, old_len)) => len != old_len,
            None => *len > 0,
        })
    };
    let start = Instant::now();
    let seen = loop {
        if writing(listing(dir)) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(60) || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(seen, "the child never started writing:\n{}", String::from_utf8_lossy(&out.stderr));
    seen
}

/// A kill while `write_idx_images` rewrote a file destroyed the good copy
/// (the file was truncated, then filled). The file must hold the old
/// images or the new ones, whole; a later write still works.
#[test]
fn a_kill_during_an_idx_write_leaves_the_old_file() {
    let dir = temp_dir("idx-kill");
    let target = dir.join("images-idx3-ubyte.gz");
    let old = noise(1);
    write_idx_images(&target, 28, 28, &old, IdxCompression::Gzip).unwrap();
    let old_bytes = fs::read(&target).unwrap();
    let child = spawn_child("child_writes_idx_until_killed", &[("HOSTILE_IDX_TO", target.to_str().unwrap())]);
    kill_when_writing(child, &dir);
    let now = read_idx_images(&target).unwrap_or_else(|e| panic!("the file was damaged by the kill: {e}"));
    assert!(now.pixels == old || now.pixels == noise(2), "the file holds neither the old images nor the new");
    if now.pixels == old {
        assert_eq!(fs::read(&target).unwrap(), old_bytes);
    }
    write_idx_images(&target, 28, 28, &noise(3), IdxCompression::Gzip).unwrap();
    assert_eq!(read_idx_images(&target).unwrap().pixels, noise(3));
    fs::remove_dir_all(&dir).unwrap();
}

/// The child of [`a_kill_during_an_idx_write_leaves_the_old_file`]: writes
/// `noise(2)` to `HOSTILE_IDX_TO` again and again.
#[test]
#[ignore = "a child process of another test"]
fn child_writes_idx_until_killed() {
    let Ok(target) = std::env::var("HOSTILE_IDX_TO") else { return };
    let pixels = noise(2);
    loop {
        write_idx_images(&target, 28, 28, &pixels, IdxCompression::Gzip).unwrap();
    }
}

/// The same for `FashionMnist::write_subset`, as the shipped subset is
/// made: killed while writing, the old four files are left as they were,
/// all four.
#[test]
fn a_kill_during_write_subset_leaves_the_old_files() {
    let dir = temp_dir("subset-kill");
    let shipped =
        FashionMnistLocation::from_dir(FASHION_MNIST_SHIPPED_DIR.as_ref(), FashionMnistSource::Shipped).unwrap();
    FashionMnist::write_subset(&shipped, &[3], &dir).unwrap();
    let old: Vec<(String, Vec<u8>)> =
        names(&dir).into_iter().map(|n| (n.clone(), fs::read(dir.join(&n)).unwrap())).collect();
    assert_eq!(old.len(), 4);
    let child = spawn_child("child_writes_subsets_until_killed", &[("HOSTILE_SUBSET_TO", dir.to_str().unwrap())]);
    kill_when_writing(child, &dir);
    for (name, bytes) in &old {
        assert!(fs::read(dir.join(name)).unwrap() == *bytes, "{name} changed: the kill damaged the old subset");
    }
    assert_eq!(FashionMnist::write_subset(&shipped, &[1], &dir).unwrap(), (6000, 1000));
    fs::remove_dir_all(&dir).unwrap();
}

/// The child of [`a_kill_during_write_subset_leaves_the_old_files`]:
/// writes the trousers (class 1) to `HOSTILE_SUBSET_TO` again and again.
#[test]
#[ignore = "a child process of another test"]
fn child_writes_subsets_until_killed() {
    let Ok(dir) = std::env::var("HOSTILE_SUBSET_TO") else { return };
    let shipped =
        FashionMnistLocation::from_dir(FASHION_MNIST_SHIPPED_DIR.as_ref(), FashionMnistSource::Shipped).unwrap();
    loop {
        FashionMnist::write_subset(&shipped, &[1], dir.as_ref()).unwrap();
    }
}

// Defect 5: the quadratic header check.

/// Runs `f` on its own thread; panics if it has not finished within `limit`
/// (the thread is left behind, so a hang fails the test instead of stalling it).
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// `validate_all` took 129 s on a 1 MB header. A 1 MiB header (17 476
/// tensors) must be checked within 10 s, even in a debug build on a busy
/// machine (it takes milliseconds), and the loaders must be as quick.
#[test]
fn a_one_megabyte_header_is_checked_in_bounded_time() {
    let bytes = common::crafted_header(1 << 20);
    let limit = Duration::from_secs(10);
    let b = bytes.clone();
    within(limit, "validate_all on a 1 MiB header", move || {
        let st = SafeTensorsView::parse(&b).unwrap();
        assert_eq!(st.len(), 17_476);
        st.validate_all().unwrap();
    });
    let b = bytes.clone();
    within(limit, "load_bytes on a 1 MiB header", move || {
        assert!(io::load_bytes(&mut tiny::Params::zeroed(), &b).is_err());
    });
    within(limit, "load_from_bytes on a 1 MiB header", move || {
        assert!(io::load_from_bytes(&mut tiny::Params::zeroed(), &bytes).is_err());
    });
}

/// The header check's time on a crafted header of `HEADER_BYTES` bytes
/// (default 100 000 000, the format's limit):
/// `HEADER_BYTES=1048576 cargo test --release --test hostile_saving -- --ignored --nocapture header_check_time`.
#[test]
#[ignore = "a measurement: run it by hand"]
fn header_check_time() {
    let len: usize = std::env::var("HEADER_BYTES").map_or(io::MAX_HEADER_LEN, |v| v.parse().unwrap());
    let bytes = common::crafted_header(len);
    let t = Instant::now();
    let st = SafeTensorsView::parse(&bytes).unwrap();
    let parse = t.elapsed().as_secs_f64();
    let t = Instant::now();
    st.validate_all().unwrap();
    let validate = t.elapsed().as_secs_f64();
    eprintln!("{len}-byte header, {} tensors: parse {parse:.3} s, validate_all {validate:.3} s", st.len());
    let t = Instant::now();
    assert!(io::load_from_bytes(&mut tiny::Params::zeroed(), &bytes).is_err());
    let core = t.elapsed().as_secs_f64();
    let t = Instant::now();
    assert!(io::load_bytes(&mut tiny::Params::zeroed(), &bytes).is_err());
    let std = t.elapsed().as_secs_f64();
    eprintln!("  load_from_bytes (no_std) {core:.3} s, load_bytes (std, with the reference) {std:.3} s");
}

// Defect 10, safetensors side: the std loader named the wrong tensor.

/// A file for `tiny` with more tensors, `extra` (each of shape `[2]`),
/// after its four.
fn with_extra(extra: &[&str]) -> Vec<u8> {
    let mut parts = vec![];
    let mut off = 0;
    let params = [
        ("conv.weight", vec![2, 1, 3, 3]),
        ("conv.bias", vec![2]),
        ("dense.weight", vec![3, 8]),
        ("dense.bias", vec![3]),
    ];
    for (name, shape) in params.into_iter().chain(extra.iter().map(|&e| (e, vec![2]))) {
        let n = shape.iter().product::<usize>() * 4;
        parts.push(format!(r#""{name}":{{"dtype":"F32","shape":{shape:?},"data_offsets":[{off},{}]}}"#, off + n));
        off += n;
    }
    let h = format!("{{{}}}", parts.join(","));
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(h.as_bytes());
    b.resize(b.len() + off, 0);
    b
}

/// Two tensors named `conv.bias`: the std loader said "invalid offset for
/// tensor `dense.weight`" (the reference implementation keeps the last of
/// the two and then blames the gap). It must name the duplicate, as the
/// `no_std` loader does, for a parameter's name and any other, from bytes
/// and from a file.
#[test]
fn a_duplicate_tensor_is_named_by_the_std_loader() {
    for dup in ["conv.bias", "x"] {
        let bytes = if dup == "x" { with_extra(&["x", "x"]) } else { with_extra(&[dup]) };
        let want = format!("key \"{dup}\" appears more than once in the header");
        let e = io::load_bytes(&mut tiny::Params::zeroed(), &bytes).unwrap_err();
        assert!(e.to_string().contains(&want), "std: {e}");
        // The no_std loader looks up the network's tensors only: it finds
        // a duplicate among them, and calls any other tensor extra.
        let e = io::load_from_bytes(&mut tiny::Params::zeroed(), &bytes).unwrap_err().to_string();
        match dup {
            "x" => assert!(e.starts_with("tensor \"x\" is not a parameter of the network"), "no_std: {e}"),
            _ => assert!(e.contains(&want), "no_std: {e}"),
        }
        let dir = temp_dir(&format!("dup-{dup}"));
        fs::write(dir.join("dup.safetensors"), &bytes).unwrap();
        let e = io::load_file(&mut tiny::Params::zeroed(), dir.join("dup.safetensors")).unwrap_err();
        assert!(e.to_string().contains(&want), "file: {e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// A save whose target is a FIFO (or a device) is refused, naming it, and
/// leaves it what it was: replacing it with a regular file would change
/// what it is (run as root, a save to `/dev/null` would have replaced the
/// device node).
#[test]
fn a_save_over_a_fifo_is_refused_and_leaves_it() {
    let dir = std::env::temp_dir().join(format!("constnet-hostile-fifo-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("net.safetensors");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo is not available here: not tested");
        return;
    }
    let err = io::save_file(&tiny::Params::zeroed(), &fifo).unwrap_err();
    assert!(err.to_string().contains("FIFO"), "{err}");
    assert!(err.to_string().contains("net.safetensors"), "{err}");
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still a FIFO");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary left");
    fs::remove_dir_all(&dir).unwrap();
}
