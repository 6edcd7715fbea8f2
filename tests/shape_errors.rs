//! Shapes that don't fit do not build, and the message names the rule and
//! the sizes. Each case compiles a small crate against this build of
//! constnet with `rustc` and reads its error output.
//!
//! Errors of `const { assert!(..) }` inside generic code appear only when
//! code is generated: a network declaration is checked at its concrete type
//! aliases (so even `cargo check` reports it), a bad buffer passed to a
//! layer's generic `forward` only in a full build — so the layer case is
//! compiled with `--emit=link`. (The rustdoc `compile_fail` examples do full
//! builds too, but cannot check the message.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding this test's dependencies (`target/<profile>/deps`).
fn deps_dir() -> PathBuf {
    std::env::current_exe().unwrap().parent().unwrap().to_path_buf()
}

/// The newest `libconstnet-*.rlib` in `deps`.
fn constnet_rlib(deps: &Path) -> PathBuf {
    std::fs::read_dir(deps)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("libconstnet-") && n.ends_with(".rlib")
        })
        .max_by_key(|p| p.metadata().unwrap().modified().unwrap())
        .expect("libconstnet rlib next to the test binary")
}

/// Compiles `src` as a library crate; returns rustc's exit success and stderr.
fn compile(name: &str, src: &str, emit: &str) -> (bool, String) {
    let deps = deps_dir();
    let dir = std::env::temp_dir().join(format!("constnet-shape-errors-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lib.rs");
    std::fs::write(&file, src).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .args(["--edition", "2024", "--crate-type", "lib", "--crate-name", name])
        .arg(format!("--emit={emit}"))
        .arg("--out-dir")
        .arg(&dir)
        .arg("--extern")
        .arg(format!("constnet={}", constnet_rlib(&deps).display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg(&file)
        .output()
        .expect("run rustc");
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const SEED1: &str = "
use constnet::{network, Conv2d, Dense, Relu, Sigmoid, Tensor};
network! {
    pub mod seed1 {
        input: Tensor<1, 28, 28>,
        conv: Conv2d<1, 1, 3, 1, 1, false>,
        relu: Relu,
        dense: Dense<DENSE_IN, 1, false>,
        sigmoid: Sigmoid,
    }
}
";

#[test]
fn the_seed1_network_builds_and_dense_676_does_not() {
    let (ok, err) = compile("good", &SEED1.replace("DENSE_IN", "784"), "link");
    assert!(ok, "the seed-1 network must build:\n{err}");

    let (ok, err) = compile("bad", &SEED1.replace("DENSE_IN", "676"), "metadata");
    assert!(!ok, "Dense<676, 1> after a 28x28 'same' conv must not build");
    assert!(err.contains("Dense: N_IN must equal C*H*W"), "message names the rule:\n{err}");
    assert!(
        err.contains("Dense<676, 1, false>") && err.contains("Shape<1, 28, 28>"),
        "message names the sizes:\n{err}"
    );
}

#[test]
fn a_conv_on_the_wrong_number_of_channels_does_not_build() {
    let src = "
use constnet::{network, Conv2d, Dense, Relu, Tensor};
network! {
    pub mod net {
        input: Tensor<3, 32, 32>,
        conv: Conv2d<1, 8, 3, 1, 1>,
        relu: Relu,
        dense: Dense<8192, 10>,
    }
}
";
    let (ok, err) = compile("channels", src, "metadata");
    assert!(!ok);
    assert!(err.contains("Conv2d: the input must have IN_C channels"), "{err}");
    assert!(err.contains("Shape<3, 32, 32>"), "{err}");
}

#[test]
fn a_kernel_larger_than_the_padded_input_does_not_build() {
    let src = "
use constnet::{network, Conv2d, Relu, Tensor};
network! {
    pub mod net {
        input: Tensor<1, 4, 4>,
        conv: Conv2d<1, 1, 7, 1, 1>,
        relu: Relu,
    }
}
";
    let (ok, err) = compile("kernel", src, "metadata");
    assert!(!ok);
    assert!(err.contains("conv_out: kernel K is larger than the padded input N + 2*PAD"), "{err}");
}

#[test]
fn a_wrong_output_buffer_for_a_layer_does_not_build() {
    let src = "
use constnet::{Conv2d, Flat, Layer, Mode, Tensor};
pub fn f() {
    let conv = Conv2d::<1, 1, 3, 0, 1>::zeroed();
    let mut out = [Tensor::<1, 4, 4>::zeroed()]; // conv_out(5, 3, 0, 1) = 3
    conv.forward(&[Tensor::<1, 5, 5>::zeroed()], &mut out, &mut Flat::zeroed(), &mut Mode::Infer);
}
";
    let (ok, err) = compile("buffer", src, "link");
    assert!(!ok);
    assert!(
        err.contains(
            "Conv2d on a 1 x 5 x 5 input: the output buffer must be 1 x 3 x 3 (the layer's Shape formula), not 1 x 4 x 4"
        ),
        "message names the rule, the expected shape and the one received:\n{err}"
    );
    assert!(err.contains("forward::<1, 1, 4, 4>"), "and the call:\n{err}");
}

#[test]
fn a_wrong_gradient_buffer_in_backward_names_the_expected_shape() {
    // Dense<25, 10> on a 1x5x5 input gives 10 x 1 x 1; the buffers given
    // to backward are 1 x 10 x 1.
    let src = "
use constnet::{Dense, Flat, Layer, Tensor};
pub fn f() {
    let d = Dense::<25, 10>::zeroed();
    let (y, dy) = ([Tensor::<1, 10, 1>::zeroed()], [Tensor::<1, 10, 1>::zeroed()]);
    d.backward(&[Tensor::<1, 5, 5>::zeroed()], &y, &mut Flat::zeroed(), &dy, None, &mut Dense::zeroed(), constnet::Grad::Add);
}
";
    let (ok, err) = compile("backward_buffer", src, "link");
    assert!(!ok);
    assert!(
        err.contains(
            "Dense on a 1 x 5 x 5 input: the output buffer must be 10 x 1 x 1 (the layer's Shape formula), not 1 x 10 x 1"
        ),
        "{err}"
    );
}

#[test]
fn a_network_of_one_layer_says_it_needs_two() {
    let src = "
use constnet::{network, Dense, Tensor};
network! {
    pub mod net {
        input: Tensor<4, 1, 1>,
        dense: Dense<4, 2>,
    }
}
";
    let (ok, err) = compile("one_layer", src, "metadata");
    assert!(!ok);
    assert!(!err.contains("no rules expected"), "{err}");
    assert!(
        err.contains("network!: `net` has one layer (`dense`) and a network needs at least two"),
        "message names the network, its layer and the rule:\n{err}"
    );
    assert!(err.contains("must be a layer's output, not the network's input"), "and why:\n{err}");
    assert!(err.contains("aborting due to 1 previous error"), "one error:\n{err}");

    let (ok, err) = compile(
        "no_layer",
        "use constnet::{network, Tensor};\nnetwork! { pub mod net { input: Tensor<4, 1, 1> } }",
        "metadata",
    );
    assert!(!ok);
    assert!(err.contains("network!: `net` has no layers and a network needs at least two"), "{err}");
}

#[test]
fn a_type_that_is_not_a_layer_is_one_error_that_names_it() {
    // Before the check, a non-layer in the middle gave 29 errors.
    for (position, layers) in [
        ("first", "odd: NotALayer, dense: Dense<4, 2>, relu: Relu,"),
        ("middle", "dense: Dense<4, 2>, odd: NotALayer, relu: Relu,"),
        ("last", "dense: Dense<4, 2>, relu: Relu, odd: NotALayer,"),
    ] {
        let src = format!(
            "use constnet::{{network, Dense, Relu, Tensor}};
pub struct NotALayer;
network! {{ pub mod net {{ input: Tensor<4, 1, 1>, {layers} }} }}
"
        );
        let (ok, err) = compile(&format!("not_a_layer_{position}"), &src, "metadata");
        assert!(!ok, "{position}");
        let (c, h, w) = if position == "first" { (4, 1, 1) } else { (2, 1, 1) };
        assert!(
            err.contains(&format!(
                "`NotALayer` is not a layer for a {c} x {h} x {w} input: it does not implement `Layer<{c}, {h}, {w}>`"
            )),
            "{position}: message names the type and its input:\n{err}"
        );
        assert!(
            err.contains("a layer implements `Flat`, `Parameters`, `Shape<C, H, W>` and `Layer<C, H, W>`, and in `network!` is `Clone + Debug + PartialEq`"),
            "{position}: and the contract:\n{err}"
        );
        assert!(err.contains("aborting due to 1 previous error"), "{position}: one error:\n{err}");
    }
}

/// `network!` fuses `Conv2d, Relu` by name: a `Relu` of the user's own
/// there is a build error that says so and how to keep the layers apart,
/// and written with a path it stays a layer of its own and builds.
#[test]
fn a_relu_of_ones_own_after_a_convolution_is_an_error_that_says_to_write_its_path() {
    let layer = "
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;
unsafe impl constnet::Flat for Relu {}
impl constnet::Parameters for Relu {}
impl<const C: usize, const H: usize, const W: usize> constnet::Shape<C, H, W> for Relu {
    const OUT_C: usize = C;
    const OUT_H: usize = H;
    const OUT_W: usize = W;
}
impl<const C: usize, const H: usize, const W: usize> constnet::Layer<C, H, W> for Relu {
    type Cache<const B: usize> = ();
    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self, x: &[Tensor<C, H, W>; B], y: &mut [Tensor<OC, OH, OW>; B], _: &mut (), _: &mut constnet::Mode<'_>,
    ) {
        y.as_flat_mut().copy_from_slice(x.as_flat());
    }
    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self, _: &[Tensor<C, H, W>; B], _: &[Tensor<OC, OH, OW>; B], _: &mut (), dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>, _: &mut Self, _: constnet::Grad,
    ) {
        if let Some(dx) = dx { dx.as_flat_mut().copy_from_slice(dy.as_flat()); }
    }
}
";
    for (name, relu, builds) in [("bare", "Relu", false), ("path", "self::Relu", true)] {
        let src = format!(
            "use constnet::{{network, Conv2d, Dense, Flat, Softmax, Tensor}};
{layer}
network! {{ pub mod net {{ input: Tensor<1, 4, 4>, conv: Conv2d<1, 2, 3, 1, 1>, relu: {relu}, dense: Dense<32, 2>, out: Softmax }} }}
"
        );
        let (ok, err) = compile(&format!("own_relu_{name}"), &src, "metadata");
        assert_eq!(ok, builds, "{name}:\n{err}");
        if !builds {
            assert!(
                err.contains("`network!` runs a `Conv2d`, `Relu` (and `MaxPool2d<2>`) written by those names as one fused layer, and this `Relu` is not constnet's"),
                "{name}: the message:\n{err}"
            );
            assert!(err.contains("write your own type with a path"), "{name}: and what to do:\n{err}");
        }
    }
}
