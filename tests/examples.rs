//! The course examples, run as a learner runs them: the worked example's
//! asserts hold, and the seed-1 experiment on the data shipped in the
//! repository reaches at least 0.94 validation accuracy after one epoch;
//! the speed report runs every performance workload.
//!
//! `cargo test` builds every example before it runs the tests; these tests
//! run the built binaries from `target/<profile>/examples/`.

use std::path::PathBuf;
use std::process::Command;

/// Path of a built example.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let path = deps.parent().unwrap().join("examples").join(name);
    assert!(path.exists(), "{} is not built (cargo test builds the examples)", path.display());
    path
}

/// Runs an example; returns its standard output, failing with both streams
/// if it exits with an error.
fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(example(name)).args(args).output().expect("run the example");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} {args:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout.into_owned()
}

/// The number after `"key":` in the last line (the example's `--json` object).
fn json_number(stdout: &str, key: &str) -> f64 {
    let line = stdout.lines().last().unwrap_or_default();
    let at = line.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {line}"));
    let rest = &line[at + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].parse().unwrap_or_else(|_| panic!("{key} is not a number in {line}"))
}

#[test]
fn worked_example_runs_and_its_asserts_hold() {
    let out = run("01_worked_example", &["--json"]);
    assert!(out.contains("Max pooling output"), "{out}");
    assert_eq!(json_number(&out, "predicted_class"), 2.0, "{out}");
}

#[test]
fn seed1_experiment_on_the_shipped_data_reaches_094_after_one_epoch() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist-seed1");
    let out_dir = std::env::temp_dir().join(format!("constnet-test-seed1-{}", std::process::id()));
    let out = run(
        "03_seed1_trouser_vs_dress",
        &["--epochs", "1", "--json", "--data", data, "--out", out_dir.to_str().unwrap()],
    );
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(
        out.contains("seed-1 subset") || out.contains("fashion-mnist-seed1"),
        "must run on the shipped data:\n{out}"
    );
    let acc = json_number(&out, "val_accuracy");
    assert!(acc >= 0.94, "validation accuracy after 1 epoch {acc} < 0.94\n{out}");
}

#[test]
fn the_colour_example_explains_how_to_get_cifar10() {
    let out = Command::new(example("06_cifar10_colour")).env_remove("CONSTNET_CIFAR10").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cifar-10-binary.tar.gz") && err.contains("--data"), "{err}");
}

/// The speed report runs every workload (briefly, `--quick`) through the
/// library's entry points and prints one JSON object with a positive,
/// finite figure for each: the numbers themselves are measured by hand
/// (docs/performance.md), not asserted on a shared machine.
#[test]
fn bench_report_runs_every_workload_and_prints_json() {
    let out = run("bench_report", &["--quick", "--json"]);
    for key in [
        "seed1_train_us",
        "fashion10_train_us",
        "fashion10_train_acc_us",
        "fashion10_infer_us",
        "fashion10_train_2t_us",
        "tfconv_train_us",
        "tfconv_infer_us",
        "tfconv_infer_b32_us",
        "tfconv_train_2t_us",
        "fashion10_speedup_2t",
        "tfconv_speedup_2t",
        "resnet8_train_us",
        "resnet8_train_2t_us",
        "resnet8_infer_us",
        "resnet8_speedup_2t",
    ] {
        let v = json_number(&out, key);
        assert!(v.is_finite() && v > 0.0, "{key} = {v}\n{out}");
    }
}

/// `--only` runs just the named workloads; an unknown name is an error
/// that names it.
#[test]
fn bench_report_runs_only_what_it_is_asked() {
    let out = run("bench_report", &["--quick", "--json", "--only", "seed1_train,fashion10_infer"]);
    let json = out.lines().last().unwrap_or_default();
    assert!(json_number(&out, "seed1_train_us") > 0.0 && json_number(&out, "fashion10_infer_us") > 0.0, "{out}");
    for absent in ["fashion10_train_us", "tfconv_train_us", "tfconv_infer_us", "fashion10_speedup_2t"] {
        assert!(!json.contains(absent), "{absent} in {json}");
    }
    // One of a speed-up's two workloads alone: timed, but no speed-up.
    let out = run("bench_report", &["--quick", "--json", "--only", "fashion10_train_2t"]);
    assert!(json_number(&out, "fashion10_train_2t_us") > 0.0 && !out.contains("speedup"), "{out}");
    // One speed-up's two workloads, not the other's: only that one is printed.
    let out = run("bench_report", &["--quick", "--only", "fashion10_train,fashion10_train_2t,tfconv_infer"]);
    let line = out.lines().find(|l| l.starts_with("2-thread speedup:")).unwrap_or_default();
    assert!(line.contains("fashion10 ") && !line.contains("tfconv") && !out.contains("NaN"), "{out}");
    let bad = Command::new(example("bench_report")).args(["--only", "seed2"]).output().expect("run the example");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("\"seed2\""));
}
