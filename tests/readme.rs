//! The README's walkthrough is code that builds and runs: its two Rust
//! blocks under "Your first network" are `examples/first_network.rs`, word
//! for word, and that program trains, evaluates, saves and loads.

use std::process::Command;

/// The Rust blocks of the README's section `title` (up to the next heading
/// of the same level or higher).
fn rust_blocks(readme: &str, title: &str) -> Vec<String> {
    let start = readme.find(title).unwrap_or_else(|| panic!("README has no {title:?}"));
    let section = &readme[start + title.len()..];
    let end = section.find("\n## ").unwrap_or(section.len());
    section[..end].split("```rust\n").skip(1).map(|b| b[..b.find("```").expect("a closed block")].to_string()).collect()
}

#[test]
fn the_first_network_in_the_readme_is_the_example_and_it_runs() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/first_network.rs");
    let blocks = rust_blocks(readme, "## Your first network");
    assert_eq!(blocks.len(), 2, "the walkthrough's two blocks");
    for (k, block) in blocks.iter().enumerate() {
        assert!(example.contains(block.as_str()), "README block {k} is not in examples/first_network.rs:\n{block}");
    }
    // Built by `cargo test` with the other examples; run in a scratch directory.
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let exe = deps.parent().unwrap().join("examples").join("first_network");
    assert!(exe.exists(), "{} is not built (cargo test builds the examples)", exe.display());
    let dir = std::env::temp_dir().join(format!("constnet-first-network-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(&exe).current_dir(&dir).output().expect("run examples/first_network");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "first_network failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("mynet.safetensors").exists(), "it saved the network");
    let _ = std::fs::remove_dir_all(&dir);
    let line =
        stdout.lines().find(|l| l.starts_with("test: loss")).unwrap_or_else(|| panic!("no test line:\n{stdout}"));
    let accuracy: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(accuracy >= 0.9, "trouser vs dress test accuracy {accuracy} < 0.9:\n{stdout}");
}
