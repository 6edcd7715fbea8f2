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

/// A `Conv1d` takes sequences, `C x 1 x L`: fed an image it does not
/// build, and says what to use; fed a sequence, the same network builds.
#[test]
fn a_conv1d_fed_a_2d_input_does_not_build() {
    let src = "
use constnet::{network, Conv1d, Dense, Relu, Softmax, Tensor};
network! {
    pub mod net {
        input: Tensor<28, ROWS, COLS>,
        conv: Conv1d<28, 16, 5, 2>,
        relu: Relu,
        dense: Dense<DENSE_IN, 10>,
        out: Softmax,
    }
}
";
    let seq = src.replace("ROWS", "1").replace("COLS", "28").replace("DENSE_IN", "448");
    let (ok, err) = compile("conv1d_seq", &seq, "link");
    assert!(ok, "a 28 x 1 x 28 sequence must build:\n{err}");
    let image = src.replace("ROWS", "28").replace("COLS", "28").replace("DENSE_IN", "448");
    let (ok, err) = compile("conv1d_image", &image, "metadata");
    assert!(!ok, "a 28 x 28 x 28 input must not build");
    assert!(err.contains("Conv1d: the input must be a sequence, C x 1 x L; a 2-D input takes Conv2d"), "{err}");
    assert!(err.contains("Shape<28, 28, 28>"), "{err}");

    // The 1-D pools likewise.
    let pool = "
use constnet::{network, Conv2d, Dense, MaxPool1d, Tensor};
network! {
    pub mod net {
        input: Tensor<1, 28, 28>,
        conv: Conv2d<1, 4, 3, 1, 1>,
        pool: MaxPool1d<2>,
        dense: Dense<56, 10>,
    }
}
";
    let (ok, err) = compile("maxpool1d_image", pool, "metadata");
    assert!(!ok, "MaxPool1d on a 4 x 28 x 28 input must not build");
    assert!(err.contains("MaxPool1d: the input must be a sequence, C x 1 x L"), "{err}");
}

/// The 1-D pools' kernel, padding and stride follow PyTorch's rules: each
/// broken rule is a build error that names it and the values received.
#[test]
fn pool1d_windows_that_break_pytorchs_rules_do_not_build() {
    let src = "
use constnet::{network, AvgPool1d, Conv1d, Dense, MaxPool1d, Tensor};
network! {
    pub mod net {
        input: Tensor<2, 1, 10>,
        conv: Conv1d<2, 4, 3, 1>,
        pool: POOL,
        dense: Dense<DENSE_IN, 2>,
    }
}
";
    let build = |name: &str, pool: &str, dense_in: usize| {
        let src = src.replace("POOL", pool).replace("DENSE_IN", &dense_in.to_string());
        compile(name, &src, "metadata")
    };
    let (ok, err) = build("pool1d_ok", "MaxPool1d<3, 1, 2>", 20);
    assert!(ok, "MaxPool1d<3, 1, 2> on 4 x 1 x 10 must build (output 4 x 1 x 5):\n{err}");
    let (ok, err) = build("avgpool1d_ok", "AvgPool1d<4, 2, 1>", 44);
    assert!(ok, "AvgPool1d<4, 2, 1> on 4 x 1 x 10 must build (output 4 x 1 x 11):\n{err}");
    for (name, pool, rule) in [
        (
            "pool1d_pad",
            "MaxPool1d<3, 2, 1>",
            "MaxPool1d: PAD must be at most K/2 (PyTorch's rule); received K = 3, PAD = 2, STRIDE = 1 on a 4 x 1 x 10 input",
        ),
        (
            "pool1d_stride",
            "AvgPool1d<3, 1, 0>",
            "AvgPool1d: STRIDE must be at least 1; received K = 3, PAD = 1, STRIDE = 0",
        ),
        (
            "pool1d_long",
            "MaxPool1d<13>",
            "MaxPool1d: the window K must fit in the padded sequence, L + 2*PAD >= K; received K = 13, PAD = 0, STRIDE = 13",
        ),
        ("pool1d_empty", "AvgPool1d<0, 0, 1>", "AvgPool1d: the window K must be at least 1"),
    ] {
        let (ok, err) = build(name, pool, 20);
        assert!(!ok, "{pool} on 4 x 1 x 10 must not build");
        assert!(err.contains(rule), "{pool}: {err}");
    }
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

/// A crate with a network `net` of 4 inputs whose last layers are
/// `layers`, and a function that runs `body` on it.
fn training_src(layers: &str, body: &str) -> String {
    format!(
        "use constnet::{{network, Dense, Flat, Relu, Sigmoid, Softmax, Tensor}};
use constnet::fit::{{evaluate_set, fit, FitConfig, Samples}};
use constnet::optim::Sgd;
use constnet::parallel::ParallelTrainer;
use constnet::rand::SeedableRng;
use constnet::train::{{evaluate, train_step, train_step_accumulated, Bce, BceWithLogits, Mse, SoftmaxCrossEntropy, TrainState}};
network! {{ pub mod net {{ input: Tensor<4, 1, 1>, fc1: Dense<4, 84>, relu: Relu, {layers} }} }}
#[allow(unused)]
pub fn f() {{
    let mut net = net::Params::zeroed();
    let mut st = TrainState::<net::Params, 2>::zeroed();
    let mut rng = constnet::rand::rngs::SmallRng::seed_from_u64(0);
    let x = [Tensor::<4, 1, 1>::zeroed(); 2];
    {body}
}}
"
    )
}

/// `train_step` of `loss` on the batch `x`, with targets `targets`.
fn step(loss: &str, targets: &str) -> String {
    format!("let _ = train_step(&mut net, &x, &{targets}, {loss}, &mut Sgd::new(0.1), &mut st, &mut rng);")
}

const NEEDS_SOFTMAX: &str = "`SoftmaxCrossEntropy` needs a network whose last layer is `Softmax` (output `Tensor<N, 1, 1>`, one value per class); this network's last layer is `";
const ADD_SOFTMAX: &str = "add `out: Softmax` after the last `Dense` of the `network!` declaration";

/// A classifier whose last layer is the `Dense` (its `Softmax` forgotten)
/// trained with `SoftmaxCrossEntropy`: the error names the loss, the last
/// layer it needs, the one it got and the fix (it was `E0271 type mismatch
/// resolving <Params as Network>::Output == Tensor<84, 1, 1>`). With the
/// `Softmax` added, the same crate builds.
#[test]
fn softmax_cross_entropy_without_a_final_softmax_says_to_add_it() {
    let (ok, err) =
        compile("no_softmax", &training_src("fc2: Dense<84, 10>", &step("SoftmaxCrossEntropy", "[0, 3]")), "metadata");
    assert!(!ok);
    assert!(err.contains(NEEDS_SOFTMAX), "the loss and the layer it needs:\n{err}");
    assert!(err.contains("Dense<84, 10>`, output `") && err.contains("Tensor<10, 1, 1>`"), "the last layer:\n{err}");
    assert!(err.contains(ADD_SOFTMAX), "the fix:\n{err}");
    assert!(!err.contains("E0271"), "no type mismatch:\n{err}");

    let src = training_src("fc2: Dense<84, 10>, out: Softmax", &step("SoftmaxCrossEntropy", "[0, 3]"));
    let (ok, err) = compile("with_softmax", &src, "link");
    assert!(ok, "with the Softmax it builds:\n{err}");
}

/// `BceWithLogits` on a network that ends in a `Softmax` of 10 classes:
/// the error says it needs a `Sigmoid` of one output, names the `Softmax`
/// and its output, and how to end the network (or which loss to use).
#[test]
fn bce_with_logits_on_a_softmax_network_says_it_needs_one_sigmoid_output() {
    let src = training_src("fc2: Dense<84, 10>, out: Softmax", &step("BceWithLogits", "[0.0, 1.0]"));
    let (ok, err) = compile("bce_softmax", &src, "metadata");
    assert!(!ok);
    assert!(
        err.contains("`BceWithLogits` needs a network whose last layer is `Sigmoid` with one output (`Tensor<1, 1, 1>`); this network's last layer is `"),
        "the loss and the layer it needs:\n{err}"
    );
    assert!(err.contains("Softmax`, output `") && err.contains("Tensor<10, 1, 1>`"), "the last layer:\n{err}");
    assert!(
        err.contains("end the `network!` declaration with `Dense<_, 1>` and `out: Sigmoid`; for a class out of several, train with `SoftmaxCrossEntropy`"),
        "the fix:\n{err}"
    );

    let src = training_src("fc2: Dense<84, 1>, out: Sigmoid", &step("BceWithLogits", "[0.0, 1.0]"));
    let (ok, err) = compile("bce_sigmoid", &src, "link");
    assert!(ok, "with a Sigmoid of one output it builds:\n{err}");
}

/// `Bce` and `Mse` on a network of 10 outputs name their rule too.
#[test]
fn bce_and_mse_on_ten_outputs_name_their_rule() {
    let src = training_src("fc2: Dense<84, 10>, out: Sigmoid", &step("Bce", "[0.0, 1.0]"));
    let (ok, err) = compile("bce_ten", &src, "metadata");
    assert!(!ok);
    assert!(
        err.contains("`Bce` needs a network whose last layer is `Sigmoid` with one output (`Tensor<1, 1, 1>`), a probability; this network's last layer is `"),
        "{err}"
    );

    let (ok, err) = compile("mse_ten", &training_src("fc2: Dense<84, 10>", &step("Mse", "[0.0, 1.0]")), "metadata");
    assert!(!ok);
    assert!(
        err.contains("`Mse` needs a network with one output (`Tensor<1, 1, 1>`); this network's output is `"),
        "{err}"
    );
    assert!(err.contains("end the `network!` declaration with a layer of one output, such as `Dense<_, 1>`"), "{err}");
}

/// The loss reaches its bound through `L: Loss<P>` of whatever it is
/// passed to; the message is the loss's in each case.
#[test]
fn the_message_is_the_same_through_fit_evaluate_set_and_the_parallel_trainer() {
    let samples = "Samples { images: &x, labels: &[0, 1] }";
    for (entry, body) in [
        ("fit", format!("let _ = fit::<_, _, _, 2>(&mut net, {samples}, None, SoftmaxCrossEntropy, |l| l as usize, &mut Sgd::new(0.1), &FitConfig::default());")),
        ("evaluate_set", format!("let _ = evaluate_set::<_, _, 2>(&net, {samples}, SoftmaxCrossEntropy, |l| l as usize);")),
        (
            "parallel",
            "let mut trainer = ParallelTrainer::<net::Params, 1, 2>::new(0);
             let _ = trainer.train_step(&mut net, &x, &[0, 3], SoftmaxCrossEntropy, &mut Sgd::new(0.1));"
                .into(),
        ),
        (
            "accumulated",
            "let mut sum = net::Params::zeroed();
             let _ = train_step_accumulated(&mut net, &[x], &[[0, 3]], SoftmaxCrossEntropy, &mut Sgd::new(0.1), &mut st, &mut sum, &mut rng);"
                .into(),
        ),
        ("evaluate", "let _ = evaluate(&net, &x, &[0, 3], SoftmaxCrossEntropy, &mut st);".into()),
    ] {
        let (ok, err) = compile(&format!("through_{entry}"), &training_src("fc2: Dense<84, 10>", &body), "metadata");
        assert!(!ok, "{entry}");
        assert!(err.contains(NEEDS_SOFTMAX) && err.contains(ADD_SOFTMAX), "{entry}:\n{err}");
        assert!(!err.contains("E0271"), "{entry}: no type mismatch:\n{err}");
    }
}

/// A residual block whose body changes the shape needs a projection: the
/// add's two shapes differ otherwise, a build error that names the block
/// and both shapes; with `downsample [..]` the same block builds.
#[test]
fn a_residual_add_of_two_shapes_does_not_build() {
    let src = "
use constnet::{network, BatchNorm2d, Conv2d, Dense, GlobalAvgPool2d, Relu, Softmax, Tensor};
network! {
    pub mod net {
        input: Tensor<16, 8, 8>,
        layer2_0 = \"layer2.0\": residual {
            conv1: Conv2d<16, 32, 3, 1, 2, false>,
            bn1: BatchNorm2d<32>,
            relu: Relu,
            conv2: Conv2d<32, 32, 3, 1, 1, false>,
            bn2: BatchNorm2d<32>,
        } PROJECTION,
        relu: Relu,
        pool: GlobalAvgPool2d,
        fc: Dense<32, 10>,
        out: Softmax,
    }
}
";
    let good = src.replace("PROJECTION", "downsample [Conv2d<16, 32, 1, 0, 2, false>, BatchNorm2d<32>]");
    let (ok, err) = compile("residual_projected", &good, "link");
    assert!(ok, "the block with its projection must build:\n{err}");
    let (ok, err) = compile("residual_identity", &src.replace("PROJECTION", ""), "metadata");
    assert!(!ok, "an identity shortcut around a 16 x 8 x 8 -> 32 x 4 x 4 body must not build");
    assert!(
        err.contains("residual block `layer2.0`: the body gives 32 x 4 x 4 but the shortcut gives 16 x 8 x 8"),
        "{err}"
    );
}

/// A grouped convolution whose channels the groups do not divide does not
/// build, and the message names the rule; the same network with channels
/// that split builds.
#[test]
fn a_grouped_conv_whose_channels_the_groups_do_not_divide_does_not_build() {
    let src = "
use constnet::{network, Dense, GroupConv2d, Relu6, Tensor};
network! {
    pub mod net {
        input: Tensor<IN, 8, 8>,
        conv: GroupConv2d<IN, 8, 4, PER, 3, 1>,
        relu: Relu6,
        dense: Dense<512, 10>,
    }
}
";
    let good = src.replace("IN", "8").replace("PER", "2");
    let (ok, err) = compile("group_conv_good", &good, "link");
    assert!(ok, "8 channels in 4 groups of 2 must build:\n{err}");
    let bad = src.replace("IN", "6").replace("PER", "1");
    let (ok, err) = compile("group_conv_in", &bad, "metadata");
    assert!(!ok, "6 channels in 4 groups must not build");
    assert!(err.contains("GroupConv2d: IN_C must be a multiple of GROUPS"), "{err}");
    assert!(err.contains("GroupConv2d<6, 8, 4, 1, 3, 1>"), "{err}");
    let bad = src.replace("IN", "8").replace("PER", "2").replace(", 8, 4,", ", 6, 4,");
    let (ok, err) = compile("group_conv_out", &bad.replace("512", "384"), "metadata");
    assert!(!ok, "6 output channels in 4 groups must not build");
    assert!(err.contains("GroupConv2d: OUT_C must be a multiple of GROUPS"), "{err}");
    let bad = src.replace("IN", "8").replace("PER", "4");
    let (ok, err) = compile("group_conv_per", &bad, "metadata");
    assert!(!ok, "IN_PER_GROUP 4 with 8 channels in 4 groups must not build");
    assert!(err.contains("GroupConv2d: IN_PER_GROUP must be IN_C / GROUPS"), "{err}");
}

/// A `Conv2dRect` in a network: the good shapes build (and the summary's
/// dense size follows `conv_out` per axis); a kernel taller than the
/// padded input, or the wrong channels, do not, and the messages name the rule.
#[test]
fn a_conv2d_rect_whose_kernel_does_not_fit_does_not_build() {
    let src = "
use constnet::{network, Conv2dRect, Dense, Relu, Tensor};
network! {
    pub mod net {
        input: Tensor<CH, ROWS, 16>,
        conv: Conv2dRect<3, 8, 5, 3, 0, 1, 1, 2>,
        relu: Relu,
        dense: Dense<DENSE_IN, 10>,
    }
}
";
    // 6 x 16 input: (6 - 5) / 1 + 1 = 2 rows, (16 + 2 - 3) / 2 + 1 = 8 columns.
    let good = src.replace("CH", "3").replace("ROWS", "6").replace("DENSE_IN", "128");
    let (ok, err) = compile("conv2d_rect_good", &good, "link");
    assert!(ok, "a 3 x 6 x 16 input must build:\n{err}");
    let short = src.replace("CH", "3").replace("ROWS", "4").replace("DENSE_IN", "128");
    let (ok, err) = compile("conv2d_rect_short", &short, "metadata");
    assert!(!ok, "a 5-row kernel on 4 unpadded rows must not build");
    assert!(err.contains("Conv2dRect: the kernel height KH is larger than the padded input H + 2*PH"), "{err}");
    let channels = src.replace("CH", "4").replace("ROWS", "6").replace("DENSE_IN", "128");
    let (ok, err) = compile("conv2d_rect_channels", &channels, "metadata");
    assert!(!ok, "4 channels into a 3-channel Conv2dRect must not build");
    assert!(err.contains("Conv2dRect: the input must have IN_C channels"), "{err}");
}
