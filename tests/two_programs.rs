//! `examples/two_programs`, a cargo workspace of its own: one `no_std`
//! crate declares the network, a std program trains it and writes the
//! weights, a `no_std` crate compiles those weights in and classifies.
//!
//! The test builds and runs both programs with this cargo, offline, in a
//! target directory of their own (`target/tmp/two_programs`). The embedded
//! classifier must hold the very file `train` wrote and classify the
//! seed-1 test images exactly as `train` did: both run the portable kernels
//! (`CONSTNET_ISA=portable`; a no_std build has no run-time detection and
//! chooses them), and
//! libm gives the same bits with and without std. The embed crate must get
//! constnet without `std`, and check for a bare-metal target when that
//! target is installed.

use constnet::Flat;
use constnet::data::{FashionMnist, locate_fashion_mnist};
use std::path::{Path, PathBuf};
use std::process::Command;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/two_programs");
const BARE_METAL: &str = "thumbv7em-none-eabihf";

/// Weights, images and the build of the example workspace.
fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("two_programs")
}

/// `cargo SUBCOMMAND --offline ARGS` in the example workspace, building in
/// its own target directory.
fn cargo(subcommand: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(WORKSPACE).arg(subcommand).arg("--offline").args(args);
    cmd.env("CARGO_TARGET_DIR", scratch().join("target")).env_remove("EMBED_WEIGHTS");
    cmd
}

/// Runs `cmd`; its stdout, or a panic with both outputs.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run cargo");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let args: Vec<_> = cmd.get_args().take(8).map(|a| a.to_string_lossy()).collect();
    assert!(out.status.success(), "cargo {} … failed:\n{stdout}\n{stderr}", args.join(" "));
    stdout.into_owned()
}

/// The embed crate's checksum, 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The banner `classify` prints first: `weights: N bytes, FNV-1a HASH`.
fn banner(bytes: &[u8]) -> String {
    format!("weights: {} bytes, FNV-1a {:016x}", bytes.len(), fnv1a(bytes))
}

/// The registry packages of a `Cargo.lock`, as `name version`.
fn locked(lock: &str) -> Vec<String> {
    let field =
        |p: &str, key: &str| p.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim_matches('"').to_string());
    lock.split("[[package]]")
        .filter(|p| p.contains("source = \"registry+"))
        .map(|p| format!("{} {}", field(p, "name = ").unwrap(), field(p, "version = ").unwrap()))
        .collect()
}

/// The example's lock file pins what constnet's pins: on a fresh machine
/// `cargo test` downloads only those, and the example builds offline.
#[test]
fn the_example_locks_the_versions_constnet_locks() {
    let main = locked(include_str!("../Cargo.lock"));
    let example = locked(include_str!("../examples/two_programs/Cargo.lock"));
    assert!(example.len() > 10, "{example:?}");
    for package in &example {
        assert!(
            main.contains(package),
            "examples/two_programs/Cargo.lock locks {package}, Cargo.lock does not; \
             copy Cargo.lock there and run `cargo tree --offline` in examples/two_programs to trim it"
        );
    }
}

#[test]
fn train_writes_the_weights_embed_compiles_in_and_both_classify_alike() {
    let dir = scratch();
    std::fs::create_dir_all(dir.join("images")).unwrap();

    // The std program trains (one epoch, so its file differs from the committed one).
    let weights = dir.join("weights.safetensors");
    let out = run(cargo("run", &["--release", "-p", "train", "--", "--epochs", "1", "--out"])
        .arg(&weights)
        .env("CONSTNET_ISA", "portable"));
    let line = out.lines().find(|l| l.starts_with("test: ")).unwrap_or_else(|| panic!("no test line:\n{out}"));
    let train_correct: usize = line["test: ".len()..].split('/').next().unwrap().parse().unwrap();
    let trained = std::fs::read(&weights).expect("train wrote the weights");
    let committed = std::fs::read(Path::new(WORKSPACE).join("embed/weights.safetensors")).unwrap();
    assert_ne!(fnv1a(&trained), fnv1a(&committed), "the test's weights must differ from the committed ones");

    // The test images, as the PGM files a user would give.
    let (_, test) = FashionMnist::load(&locate_fashion_mnist(None).unwrap()).unwrap();
    let test = test.select_classes(&[1, 3]);
    let mut paths = Vec::new();
    for (k, x) in test.images().iter().enumerate() {
        let path = dir.join("images").join(format!("{k:04}.pgm"));
        let mut pgm = b"P5\n28 28\n255\n".to_vec();
        pgm.extend(x.as_flat().iter().map(|&p| p as u8));
        std::fs::write(&path, pgm).unwrap();
        paths.push(path);
    }
    let expected = ["Trouser", "Dress"];

    // The no_std program, built with those weights, classifies every image.
    let out = run(cargo("run", &["--release", "-p", "embed", "--example", "classify", "--"])
        .args(&paths)
        .env("EMBED_WEIGHTS", &weights));
    assert_eq!(out.lines().count(), 1 + paths.len(), "a banner and one line per image:\n{out}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(banner(&trained).as_str()), "embed holds the file train wrote");
    let mut embed_correct = 0;
    for ((line, path), &label) in lines.zip(&paths).zip(test.labels()) {
        let (file, class) = line.rsplit_once(' ').unwrap().0.split_once(": ").unwrap();
        assert_eq!(file, path.to_str().unwrap());
        embed_correct += (class == expected[label as usize]) as usize;
    }
    assert_eq!(embed_correct, train_correct, "embed and train classify the {} test images alike", paths.len());
    assert!(embed_correct as f64 >= 0.9 * paths.len() as f64, "{embed_correct}/{} correct", paths.len());

    // By default it compiles in the committed weights, and they fit the network.
    let out = run(cargo("run", &["--release", "-p", "embed", "--example", "classify", "--"]).arg(&paths[0]));
    assert_eq!(out.lines().next(), Some(banner(&committed).as_str()));
    let first = out.lines().nth(1).unwrap_or_else(|| panic!("no class:\n{out}"));
    assert!(first.contains(": Trouser "), "the first test image is a trouser: {first}");

    // Built alone, the embed crate gets constnet without std (train's std is not unified in).
    let std = "constnet feature \"std\"";
    let tree = run(&mut cargo("tree", &["-p", "train", "-e", "features"]));
    assert!(tree.contains(std), "train's constnet has std:\n{tree}");
    let tree = run(&mut cargo("tree", &["-p", "embed", "-e", "features"]));
    assert!(tree.contains("constnet v") && !tree.contains(std), "embed's constnet has std:\n{tree}");
    // ... and it needs no std at all: it checks for a bare-metal target.
    let libdir = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "target-libdir", "--target", BARE_METAL])
        .output()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.is_ok_and(|d| d.is_dir()) {
        run(&mut cargo("check", &["--release", "-p", "embed", "--target", BARE_METAL]));
    } else {
        eprintln!("note: {BARE_METAL} is not installed; the bare-metal check of examples/two_programs is skipped");
    }
}
