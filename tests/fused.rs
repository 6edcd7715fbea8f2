//! `network!` runs a `Relu` followed by a 2x2 `MaxPool2d` as one pass on
//! the AVX-512 path (`constnet::fuse`). Every activation, every activation
//! gradient and every parameter gradient must be the bits the layers give
//! one after the other, on shapes with odd sides and edge windows, in
//! `backward`, `backward_from_logits` and `backward_overwrite`; and the
//! lean passes (`forward_lean`, `backward_lean`, what `train_step` runs)
//! must give those gradients, leaving only the fused ReLUs' entries unwritten,
//! and the outputs of convolutions that run the ReLU after them
//! (`Layer::forward_relu`); a convolution that also runs the pooling
//! (`Layer::forward_relu_pool`) writes the pooling's output, and in place
//! of its own the pooling's routes, which `backward_lean` reads.

use constnet::{Conv2d, Dense, Dropout, Flat, Init, Layer, MaxPool2d, Mode, Network, Relu, Softmax, Tensor, network};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

network! {
    /// Odd sides (7 x 5: a partial last row and column of windows) and two
    /// fused pairs, the second of them right before the logits.
    mod odd {
        input: Tensor<2, 7, 5>,
        conv1: Conv2d<2, 3, 3, 1, 1>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<3, 4, 3, 1, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
        dense: Dense<16, 5>,
        softmax: Softmax,
    }
}

network! {
    /// The pair right after the input (never fused: the first layer runs on
    /// the input) and a pair whose pooling is the last layer.
    mod edges {
        input: Tensor<2, 6, 6>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv: Conv2d<2, 2, 3, 1, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
    }
}

network! {
    /// Convolutions followed by a ReLU, which the lean passes run as one
    /// (`Layer::forward_relu`): on the input, mid-network,
    /// and (not: `fuse::relu_pool` takes the ReLU) before a pooling; then a
    /// dense layer and a ReLU, which have no such pass.
    mod convrelu {
        input: Tensor<1, 9, 7>,
        conv1: Conv2d<1, 2, 3, 1, 1, false>,
        relu1: Relu,
        conv2: Conv2d<2, 3, 3, 1, 1>,
        relu2: Relu,
        conv3: Conv2d<3, 2, 3, 1, 1>,
        relu3: Relu,
        pool: MaxPool2d<2>,
        dense: Dense<40, 4>,
        relu4: Relu,
        dense2: Dense<4, 3>,
        softmax: Softmax,
    }
}

network! {
    /// Convolutions whose kernels pool their outputs (`Layer::forward_relu_pool`)
    /// in the lean passes: on the input, rows of 29 (two segments, edge
    /// windows, an odd number of rows), and mid-network, 5x5, rows of 15.
    mod pooled {
        input: Tensor<2, 9, 29>,
        conv1: Conv2d<2, 4, 3, 1, 1>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<4, 8, 5, 2, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
        dense: Dense<192, 5>,
        softmax: Softmax,
    }
}

network! {
    /// Convolutions followed by layers of other shapes (a pooling, a dense
    /// layer): the fused calls `network!` builds for them must compile (their
    /// shape checks are at run time), and are not made.
    mod shapes {
        input: Tensor<1, 6, 6>,
        conv1: Conv2d<1, 8, 3, 1, 1>,
        pool: MaxPool2d<2>,
        conv2: Conv2d<8, 8, 3, 1, 1>,
        dense: Dense<72, 3>,
        softmax: Softmax,
    }
}

network! {
    /// A convolution and a ReLU whose output is the logits.
    mod tail {
        input: Tensor<1, 4, 4>,
        conv: Conv2d<1, 3, 3, 1, 1>,
        relu: Relu,
        softmax: Softmax,
    }
}

/// Fills with values in -1..1, a quarter of them 0 (ties in the windows,
/// ReLU's kink).
fn fill(v: &mut [f32], rng: &mut SmallRng) {
    for x in v {
        *x = if rng.random_range(0..4) == 0 { 0.0 } else { rng.random_range(-1.0..1.0) };
    }
}

/// Runs `$net`'s layers one by one (forward, then `backward` from the last
/// entry of `$d`) into `$ws` and `$d`, `$g`.
macro_rules! layer_by_layer {
    ($net:expr, $x:expr, $ws:expr, $d:expr, $g:expr; $first:ident $(, $l:ident <- $p:ident)*) => {{
        let (net, x, ws, d, g) = (&$net, &$x, &mut $ws, &mut $d, &mut $g);
        net.$first.forward(x, &mut ws.act.$first, &mut ws.cache.$first, &mut Mode::Infer);
        $(net.$l.forward(&ws.act.$p, &mut ws.act.$l, &mut ws.cache.$l, &mut Mode::Infer);)*
        layer_by_layer!(@back net, ws, d, g; $($l <- $p),*);
        net.$first.backward(x, &ws.act.$first, &ws.cache.$first, &d.$first, None, &mut g.$first);
    }};
    (@back $net:ident, $ws:ident, $d:ident, $g:ident; $l:ident <- $p:ident $(, $rl:ident <- $rp:ident)*) => {
        layer_by_layer!(@back $net, $ws, $d, $g; $($rl <- $rp),*);
        $net.$l.backward(&$ws.act.$p, &$ws.act.$l, &$ws.cache.$l, &$d.$l, Some(&mut $d.$p), &mut $g.$l);
    };
    (@back $net:ident, $ws:ident, $d:ident, $g:ident;) => {};
}

/// An entry a lean pass leaves unwritten when the pair is fused: still all
/// NaN (as filled) in `lean`; with nothing fused, the bits of `full`.
fn unwritten(what: &str, lean: &[f32], full: &[f32]) {
    if constnet::fuse::relu_pool::<Relu, MaxPool2d<2>>() {
        assert!(lean.iter().all(|v| v.is_nan()), "{what}: stored by the lean pass");
    } else {
        same(what, lean, full);
    }
}

/// The entry of a convolution that pooled in its kernels in the lean
/// pass: the pooling's routes (a record of 8 bytes per pooled row, from
/// each sample's first float) in place of its outputs, the rest as filled
/// (NaN), so not the outputs; with nothing fused, the bits of `full`.
/// (The gradients before it show that the routes are right.)
fn routed(what: &str, lean: &[f32], full: &[f32]) {
    if constnet::fuse::relu_pool::<Relu, MaxPool2d<2>>() {
        let (written, nan) = (lean.iter().filter(|v| !v.is_nan()).count(), lean.iter().filter(|v| v.is_nan()).count());
        assert!(written > 0 && nan > 0, "{what}: {written} floats written, {nan} left");
        assert!(lean.iter().zip(full).any(|(a, b)| a.to_bits() != b.to_bits()), "{what}: the outputs");
    } else {
        same(what, lean, full);
    }
}

fn same(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(x.to_bits() == y.to_bits(), "{what}[{i}]: network {x} vs layer by layer {y}");
    }
}

#[test]
fn fused_pairs_give_the_bits_of_the_layers_one_by_one() {
    if !constnet::fuse::relu_pool::<Relu, MaxPool2d<2>>() {
        eprintln!("no AVX-512 on this CPU: nothing is fused here");
    }
    let mut rng = SmallRng::seed_from_u64(11);
    let mut net = odd::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut x = <[odd::Input; 3]>::boxed_zeroed();
    fill(x.as_flat_mut(), &mut rng);
    let mut out_grad = <[odd::Output; 3]>::boxed_zeroed();
    fill(out_grad.as_flat_mut(), &mut rng);

    // Layer by layer: the reference.
    let (mut ws_l, mut d_l, mut g_l) =
        (odd::Workspace::<3>::boxed_zeroed(), odd::Activations::<3>::boxed_zeroed(), odd::Params::boxed_zeroed());
    *odd::Params::output_grad(&mut d_l) = *out_grad;
    layer_by_layer!(*net, *x, *ws_l, *d_l, *g_l;
        conv1, relu1 <- conv1, pool1 <- relu1, conv2 <- pool1, relu2 <- conv2, pool2 <- relu2, dense <- pool2, softmax <- dense);

    let mut ws = odd::Workspace::<3>::boxed_zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    same("activations", ws.act.as_flat(), ws_l.act.as_flat());

    // `infer`: the same bits everywhere but in the fused ReLUs' outputs,
    // which it leaves as they were, and in conv2's (4 filters: its kernels
    // pool, and `infer` does not store what they pool).
    let mut wi = odd::Workspace::<3>::boxed_zeroed();
    wi.as_flat_mut().fill(f32::NAN);
    net.infer(&x, &mut wi);
    for (name, a, b) in [
        ("conv1", wi.act.conv1.as_flat(), ws.act.conv1.as_flat()),
        ("pool1", wi.act.pool1.as_flat(), ws.act.pool1.as_flat()),
        ("pool2", wi.act.pool2.as_flat(), ws.act.pool2.as_flat()),
        ("dense", wi.act.dense.as_flat(), ws.act.dense.as_flat()),
        ("softmax", wi.act.softmax.as_flat(), ws.act.softmax.as_flat()),
    ] {
        same(name, a, b);
    }
    for (name, r, want) in [
        ("relu1", wi.act.relu1.as_flat(), ws.act.relu1.as_flat()),
        ("relu2", wi.act.relu2.as_flat(), ws.act.relu2.as_flat()),
        ("conv2", wi.act.conv2.as_flat(), ws.act.conv2.as_flat()),
    ] {
        unwritten(name, r, want);
    }
    for overwrite in [false, true] {
        let (mut d, mut g) = (odd::Activations::<3>::boxed_zeroed(), odd::Params::boxed_zeroed());
        d.as_flat_mut().fill(f32::NAN); // every entry must be written
        *odd::Params::output_grad(&mut d) = *out_grad;
        if overwrite {
            g.as_flat_mut().fill(f32::NAN);
            net.backward_overwrite(&x, &ws, &mut d, &mut g, false);
        } else {
            net.backward(&x, &ws, &mut d, &mut g);
        }
        same("activation gradients", d.as_flat(), d_l.as_flat());
        same("parameter gradients", g.as_flat(), g_l.as_flat());
    }

    // From the logits: the same layers below the softmax.
    let (mut d, mut g) = (odd::Activations::<3>::boxed_zeroed(), odd::Params::boxed_zeroed());
    d.dense = d_l.dense;
    net.backward_from_logits(&x, &ws, &mut d, &mut g);
    same(
        "gradients below the logits",
        &d.as_flat()[..d.as_flat().len() - 15],
        &d_l.as_flat()[..d_l.as_flat().len() - 15],
    );
    same("parameter gradients from the logits", g.as_flat(), g_l.as_flat());
}

#[test]
fn a_pair_on_the_input_and_a_pair_at_the_end() {
    let mut rng = SmallRng::seed_from_u64(12);
    let mut net = edges::Params::zeroed();
    net.init(Init::He, &mut rng);
    let mut x = [edges::Input::zeroed(); 2];
    fill(x.as_flat_mut(), &mut rng);
    let (mut ws_l, mut d_l, mut g_l) =
        (edges::Workspace::<2>::zeroed(), edges::Activations::<2>::zeroed(), edges::Params::zeroed());
    fill(edges::Params::output_grad(&mut d_l).as_flat_mut(), &mut rng);
    let out_grad = *edges::Params::output_grad(&mut d_l);
    layer_by_layer!(net, x, ws_l, d_l, g_l; relu1, pool1 <- relu1, conv <- pool1, relu2 <- conv, pool2 <- relu2);

    let mut ws = edges::Workspace::<2>::zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    same("activations", ws.act.as_flat(), ws_l.act.as_flat());
    // `infer` stores everything here: the pair on the input is not fused,
    // and the last pair's ReLU output is the logits.
    let mut wi = edges::Workspace::<2>::zeroed();
    wi.as_flat_mut().fill(f32::NAN);
    net.infer(&x, &mut wi);
    same("infer's activations", wi.act.as_flat(), ws.act.as_flat());
    same("infer's logits", edges::Params::logits(&wi).as_flat(), edges::Params::logits(&ws).as_flat());
    let (mut d, mut g) = (edges::Activations::<2>::zeroed(), edges::Params::zeroed());
    d.as_flat_mut().fill(f32::NAN);
    *edges::Params::output_grad(&mut d) = out_grad;
    net.backward(&x, &ws, &mut d, &mut g);
    same("activation gradients", d.as_flat(), d_l.as_flat());
    same("parameter gradients", g.as_flat(), g_l.as_flat());

    // From the logits (the last pooling's input): relu2 is not fused with
    // the skipped last layer, and leaves its gradient as the layer gives it.
    let (mut d, mut g) = (edges::Activations::<2>::zeroed(), edges::Params::zeroed());
    d.as_flat_mut().fill(f32::NAN);
    d.relu2 = d_l.relu2;
    net.backward_from_logits(&x, &ws, &mut d, &mut g);
    same(
        "gradients below the logits",
        &d.as_flat()[..d.as_flat().len() - 2 * 8],
        &d_l.as_flat()[..d_l.as_flat().len() - 2 * 8],
    );
    same("parameter gradients from the logits", g.as_flat(), g_l.as_flat());
}

/// `forward_lean` then `backward_lean` (what `train_step` runs) against
/// `forward` then `backward_overwrite`, from the outputs and from the
/// logits: the same parameter gradients and entries, bit for bit, except
/// the fused ReLUs' outputs and output gradients, which the lean passes
/// leave as they were (NaN here) when the pair is fused.
macro_rules! lean_matches {
    ($m:ident, $net:expr, $x:expr, $from_logits:expr;
     written: $($w:ident),*; unwritten: $($u:ident),*; gradient_unwritten: $($a:ident),*) => {
        lean_matches!($m, $net, $x, $from_logits;
            written: $($w),*; unwritten: $($u),*; gradient_unwritten: $($a),*; activation_unwritten: ; routed: )
    };
    ($m:ident, $net:expr, $x:expr, $from_logits:expr;
     written: $($w:ident),*; unwritten: $($u:ident),*; gradient_unwritten: $($a:ident),*;
     activation_unwritten: $($o:ident),*; routed: $($r:ident),*) => {{
        let (net, x, from_logits) = (&$net, &$x, $from_logits);
        let mut rng = SmallRng::seed_from_u64(13);
        let mut start = $m::Activations::<2>::boxed_zeroed();
        fill(start.as_flat_mut(), &mut rng);
        let (logits_grad, output_grad) = (*$m::Params::logits_grad(&mut start), *$m::Params::output_grad(&mut start));
        let run = |lean: bool| {
            let mut ws = $m::Workspace::<2>::boxed_zeroed();
            ws.as_flat_mut().fill(f32::NAN);
            let (mut d, mut g) = ($m::Activations::<2>::boxed_zeroed(), $m::Params::boxed_zeroed());
            d.as_flat_mut().fill(f32::NAN);
            g.as_flat_mut().fill(f32::NAN);
            if lean {
                net.forward_lean(x, &mut ws, &mut Mode::Infer);
            } else {
                net.forward(x, &mut ws, &mut Mode::Infer);
            }
            if from_logits {
                *$m::Params::logits_grad(&mut d) = logits_grad;
            } else {
                *$m::Params::output_grad(&mut d) = output_grad;
            }
            if lean {
                net.backward_lean(x, &ws, &mut d, &mut g, from_logits);
            } else {
                net.backward_overwrite(x, &ws, &mut d, &mut g, from_logits);
            }
            (ws, d, g)
        };
        let ((ws, d, g), (wl, dl, gl)) = (run(false), run(true));
        same("parameter gradients", gl.as_flat(), g.as_flat());
        $(
            same(concat!("activation ", stringify!($w)), wl.act.$w.as_flat(), ws.act.$w.as_flat());
            same(concat!("gradient ", stringify!($w)), dl.$w.as_flat(), d.$w.as_flat());
        )*
        $(
            unwritten(concat!("activation ", stringify!($u)), wl.act.$u.as_flat(), ws.act.$u.as_flat());
            unwritten(concat!("gradient ", stringify!($u)), dl.$u.as_flat(), d.$u.as_flat());
        )*
        $(
            same(concat!("activation ", stringify!($a)), wl.act.$a.as_flat(), ws.act.$a.as_flat());
            unwritten(concat!("gradient ", stringify!($a)), dl.$a.as_flat(), d.$a.as_flat());
        )*
        $(
            unwritten(concat!("activation ", stringify!($o)), wl.act.$o.as_flat(), ws.act.$o.as_flat());
            same(concat!("gradient ", stringify!($o)), dl.$o.as_flat(), d.$o.as_flat());
        )*
        $(
            routed(concat!("activation ", stringify!($r)), wl.act.$r.as_flat(), ws.act.$r.as_flat());
            same(concat!("gradient ", stringify!($r)), dl.$r.as_flat(), d.$r.as_flat());
        )*
    }};
}

#[test]
fn the_lean_passes_give_the_gradients_of_the_full_ones() {
    let mut rng = SmallRng::seed_from_u64(14);
    let mut odd_net = odd::Params::boxed_zeroed();
    odd_net.init(Init::He, &mut rng);
    let mut x = <[odd::Input; 2]>::boxed_zeroed();
    fill(x.as_flat_mut(), &mut rng);
    for from_logits in [false, true] {
        lean_matches!(odd, odd_net, *x, from_logits;
            written: conv1, pool1, pool2, dense; unwritten: relu1, relu2; gradient_unwritten: ;
            activation_unwritten: ; routed: conv2);
    }

    let mut edges_net = edges::Params::boxed_zeroed();
    edges_net.init(Init::He, &mut rng);
    let mut x = <[edges::Input; 2]>::boxed_zeroed();
    fill(x.as_flat_mut(), &mut rng);
    // From the outputs, the last pair is fused in backward: its ReLU's
    // output (the logits) is stored, the gradient of it is not.
    lean_matches!(edges, edges_net, *x, false;
        written: relu1, pool1, conv, pool2; unwritten: ; gradient_unwritten: relu2);
    // From the logits, the last pooling is skipped and the ReLU not fused.
    lean_matches!(edges, edges_net, *x, true;
        written: relu1, pool1, conv, relu2; unwritten: ; gradient_unwritten: );

    let mut net = convrelu::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut x = <[convrelu::Input; 2]>::boxed_zeroed();
    fill(x.as_flat_mut(), &mut rng);
    for from_logits in [false, true] {
        lean_matches!(convrelu, net, *x, from_logits;
            written: relu1, relu2, conv3, pool, dense, relu4, dense2; unwritten: relu3; gradient_unwritten: ;
            activation_unwritten: conv1, conv2; routed: );
    }
    let mut net = pooled::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut x = <[pooled::Input; 2]>::boxed_zeroed();
    fill(x.as_flat_mut(), &mut rng);
    for from_logits in [false, true] {
        lean_matches!(pooled, net, *x, from_logits;
            written: pool1, pool2, dense; unwritten: relu1, relu2; gradient_unwritten: ;
            activation_unwritten: ; routed: conv1, conv2);
    }
    if constnet::fuse::relu_pool::<Relu, MaxPool2d<2>>() {
        // Both convolutions pool in their tiles (rows of 29 and of 15).
        let mut ws = pooled::Workspace::<2>::boxed_zeroed();
        let (act, cache) = (&mut ws.act, &mut ws.cache);
        assert!(net.conv1.forward_relu_pool(
            &x,
            &mut act.conv1,
            true,
            &mut act.pool1,
            &mut cache.conv1,
            &mut Mode::Infer
        ));
        assert!(net.conv2.forward_relu_pool(
            &act.pool1,
            &mut act.conv2,
            true,
            &mut act.pool2,
            &mut cache.conv2,
            &mut Mode::Infer
        ));
    }
    // `infer` does not store those convolutions' outputs either: nothing
    // reads them there.
    let mut full = pooled::Workspace::<2>::boxed_zeroed();
    net.forward(&x, &mut full, &mut Mode::Infer);
    let mut wi = pooled::Workspace::<2>::boxed_zeroed();
    wi.as_flat_mut().fill(f32::NAN);
    net.infer(&x, &mut wi);
    let (a, f) = (&wi.act, &full.act);
    for (name, got, want) in [
        ("pool1", a.pool1.as_flat(), f.pool1.as_flat()),
        ("pool2", a.pool2.as_flat(), f.pool2.as_flat()),
        ("dense", a.dense.as_flat(), f.dense.as_flat()),
        ("softmax", a.softmax.as_flat(), f.softmax.as_flat()),
    ] {
        same(name, got, want);
    }
    for (name, got, want) in [
        ("conv1", a.conv1.as_flat(), f.conv1.as_flat()),
        ("relu1", a.relu1.as_flat(), f.relu1.as_flat()),
        ("conv2", a.conv2.as_flat(), f.conv2.as_flat()),
        ("relu2", a.relu2.as_flat(), f.relu2.as_flat()),
    ] {
        unwritten(name, got, want);
    }
    let mut net = shapes::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut x = <[shapes::Input; 2]>::boxed_zeroed();
    fill(x.as_flat_mut(), &mut rng);
    for from_logits in [false, true] {
        lean_matches!(shapes, net, *x, from_logits;
            written: conv1, pool, conv2, dense; unwritten: ; gradient_unwritten: );
    }
    let mut net = tail::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut x = <[tail::Input; 2]>::boxed_zeroed();
    fill(x.as_flat_mut(), &mut rng);
    for from_logits in [false, true] {
        lean_matches!(tail, net, *x, from_logits;
            written: relu; unwritten: ; gradient_unwritten: ; activation_unwritten: conv; routed: );
    }
}

/// The lean backward (`fuse::relu_pool_backward_lean`, from the ReLU's
/// input) against the full one (from its output) on two `C x H x W`
/// samples (`OH x OW` pooled) with many exact zeros and ties: the same
/// ReLU input gradient, bit for bit. Windows whose maximum is 0 pass no
/// gradient, even to an input of exactly 0.
fn lean_backward_case<const C: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
    rng: &mut SmallRng,
) {
    // Signed zeros and ties, now and then NaN, an infinity or a subnormal.
    let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -1e-40];
    let mut x = <[Tensor<C, H, W>; 2]>::boxed_zeroed();
    for v in x.as_flat_mut() {
        *v = match rng.random_range(0..9) {
            8 => special[rng.random_range(0..special.len())],
            i => [-1.0, -0.0, 0.0, 0.0, 0.5, 1.0, 1.0, -0.5][i],
        };
    }
    let mut dy = <[Tensor<C, OH, OW>; 2]>::boxed_zeroed();
    fill(dy.as_flat_mut(), rng);
    dy.as_flat_mut()[0] = -0.0;
    let nan = |v: &mut [f32]| v.fill(f32::NAN);
    let (mut r, mut dr, mut dx, mut dx_lean) = (x.clone(), x.clone(), x.clone(), x.clone());
    let (mut y, mut y_lean) = (dy.clone(), dy.clone());
    for v in [&mut r, &mut dr, &mut dx, &mut dx_lean] {
        nan(v.as_flat_mut());
    }
    nan(y.as_flat_mut());
    nan(y_lean.as_flat_mut());
    let dims = (C, H, W);
    constnet::fuse::relu_pool_forward(&*x, &mut *r, &mut *y, dims);
    constnet::fuse::relu_pool_infer(&*x, &mut *y_lean, dims);
    same("pooled", y_lean.as_flat(), y.as_flat());
    constnet::fuse::relu_pool_backward(&*r, &*y, &*dy, &mut *dr, &mut *dx, dims);
    constnet::fuse::relu_pool_backward_lean(&*x, &*y, &*dy, &mut *dx_lean, dims);
    same(&format!("dx of {C}x{H}x{W}"), dx_lean.as_flat(), dx.as_flat());
    let passed = dx.as_flat().iter().filter(|d| **d != 0.0).count();
    assert!(passed > 0, "some gradient passes");
}

#[test]
fn the_lean_backward_gives_the_full_backwards_bits() {
    if !constnet::fuse::relu_pool::<Relu, MaxPool2d<2>>() {
        eprintln!("no AVX-512 on this CPU: nothing is fused here");
        return;
    }
    let mut rng = SmallRng::seed_from_u64(15);
    // As they come, and with subnormals flushed to zero (as in `train_step`).
    for flush in [false, true] {
        let _ftz = flush.then(constnet::math::FlushSubnormals::new);
        lean_backward_case::<3, 7, 5, 4, 3>(&mut rng);
        lean_backward_case::<2, 6, 36, 3, 18>(&mut rng);
        lean_backward_case::<1, 9, 33, 5, 17>(&mut rng);
        lean_backward_case::<2, 1, 3, 1, 2>(&mut rng);
        lean_backward_case::<1, 4, 64, 2, 32>(&mut rng);
        lean_backward_case::<1, 5, 1, 3, 1>(&mut rng);
    }
}

network! {
    /// A fused pair, then dropout (the step draws from its generator).
    mod dropped {
        input: Tensor<2, 7, 5>,
        conv: Conv2d<2, 3, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2>,
        drop: Dropout<30>,
        dense: Dense<36, 5>,
        softmax: Softmax,
    }
}

/// `train_step` (the lean passes) against the same step written with
/// `forward` and `backward_overwrite`: the same losses and parameters, bit
/// for bit, after four steps (dropout drawing from generators seeded alike).
#[test]
fn train_step_matches_the_step_through_the_full_passes() {
    use constnet::optim::{Optimizer, Sgd};
    use constnet::train::{Loss, SoftmaxCrossEntropy, TrainState, train_step};
    let mut rng = SmallRng::seed_from_u64(16);
    let mut lean = dropped::Params::boxed_zeroed();
    lean.init(Init::He, &mut rng);
    let mut full = lean.clone();
    let (mut st_lean, mut st_full) = (TrainState::<dropped::Params, 3>::boxed_zeroed(), TrainState::boxed_zeroed());
    let (mut opt_lean, mut opt_full) = (Sgd::new(0.1), Sgd::new(0.1));
    let (mut rng_lean, mut rng_full) = (SmallRng::seed_from_u64(17), SmallRng::seed_from_u64(17));
    for step in 0..4 {
        let mut x = <[dropped::Input; 3]>::boxed_zeroed();
        fill(x.as_flat_mut(), &mut rng);
        let y = [step % 5, (step + 2) % 5, 4];
        let got = train_step(&mut *lean, &x, &y, SoftmaxCrossEntropy, &mut opt_lean, &mut st_lean, &mut rng_lean);
        let st = &mut *st_full;
        full.forward(&x, &mut st.ws, &mut Mode::Train(&mut rng_full));
        let loss = <SoftmaxCrossEntropy as Loss<dropped::Params>>::loss(&st.ws, &y, &mut st.delta);
        full.backward_overwrite(&x, &st.ws, &mut st.delta, &mut st.grads, true);
        opt_full.step(&mut *full, &st.grads);
        assert_eq!(got.loss.to_bits(), loss.to_bits(), "step {step}: loss");
        same(&format!("step {step}: gradients"), st_lean.grads.as_flat(), st.grads.as_flat());
        same(&format!("step {step}: parameters"), lean.as_flat(), full.as_flat());
    }
    assert!(lean.as_flat().iter().all(|v| v.is_finite()));
}
