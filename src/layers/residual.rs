//! Residual blocks: a chain of layers whose output is added to the block's
//! input, or to a projection of it, written inside
//! [`network!`](crate::network!).
//!
//! ```text
//! y = body(x) + x                      (identity shortcut)
//! y = body(x) + downsample(x)          (projection: a 1x1 convolution with stride, then batch norm)
//! ```
//!
//! Backward: `dy` flows into both branches unchanged, and the block's
//! input gradient is the sum of theirs:
//! `dL/dx = body'(x)ᵀ dy + dy` (or `+ downsample'(x)ᵀ dy`).
//!
//! A block is declared as a field of a network:
//!
//! ```text
//! layer2_0 = "layer2.0": residual {
//!     conv1: Conv2d<16, 32, 3, 1, 2, false>, bn1: BatchNorm2d<32>, relu: Relu,
//!     conv2: Conv2d<32, 32, 3, 1, 1, false>, bn2: BatchNorm2d<32>,
//! } downsample [Conv2d<16, 32, 1, 0, 2, false>, BatchNorm2d<32>],
//! ```
//!
//! `network!` writes a module `layer2_0` holding the block's type `Block`
//! (one field per layer of the body, then `downsample_0` and
//! `downsample_1`), its cache `Cache<B>` (every inner layer's output,
//! cache and output gradient) and a module per inner layer with its
//! shapes. The block implements [`Layer`](crate::Layer) for the shape it
//! receives; its parameters are named as PyTorch's nested modules
//! (`layer2.0.conv1.weight`, `layer2.0.downsample.0.weight`,
//! `layer2.0.bn1.running_mean`). The body's and the shortcut's output
//! shapes must be equal: a build error names the block and both shapes
//! otherwise ([`shapes_agree`]). The ReLU after the add is the next layer
//! of the network, as it has no parameters (torchvision applies it inside
//! the block).

use crate::layer::ConstMessage;

/// `y[i] = a[i] + b[i]`: the block's add.
///
/// # Panics
/// If the three lengths differ (the block's shapes are checked when it is
/// built, so they do not).
#[doc(hidden)]
#[inline]
pub fn add(y: &mut [f32], a: &[f32], b: &[f32]) {
    assert!(a.len() == y.len() && b.len() == y.len(), "residual add: {} + {} into {}", a.len(), b.len(), y.len());
    for ((o, &a), &b) in y.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// A build error naming `block` unless its body and its shortcut give the
/// same shape: `residual block `layer2.0`: the body gives 32 x 14 x 14 but
/// the shortcut gives 16 x 28 x 28; add a `downsample [..]` projection
/// that maps one onto the other`.
#[doc(hidden)]
pub const fn shapes_agree(block: &str, body: [usize; 3], shortcut: [usize; 3]) {
    if body[0] != shortcut[0] || body[1] != shortcut[1] || body[2] != shortcut[2] {
        let msg = ConstMessage::new()
            .text("residual block `")
            .text(block)
            .text("`: the body gives ")
            .shape(body)
            .text(" but the shortcut gives ")
            .shape(shortcut)
            .text("; the add needs one shape (a `downsample [..]` projection maps the input onto the body's)");
        panic!("{}", msg.as_str());
    }
}

/// The gradient mode of the layers inside a block: a block shares out no
/// gradient between threads ([`Parameters::SHARED`](crate::Parameters::SHARED)
/// is 0), so its layers compute all of theirs.
#[doc(hidden)]
#[inline]
pub fn inner_grad(grad: crate::Grad) -> crate::Grad {
    match grad {
        crate::Grad::OverwriteExceptShared => crate::Grad::Overwrite,
        g => g,
    }
}

/// Writes a residual block's module; `network!` calls it for a
/// `name = "torch.name": residual { .. } [downsample [..]]` field.
#[doc(hidden)]
#[macro_export]
macro_rules! __residual_block {
    (
        $prev:ident; $block:ident ($($pname:tt)*) [$($n:ident : $t:ty),+] [$($d:ident : $dt:ty),*]
    ) => {
        #[doc = concat!("Residual block `", $($pname)*, "`: its type `Block`, cache and inner layers' shapes.")]
        pub mod $block {
            use super::*;
            use $crate::{Flat as _, Layer as _, Parameters as _};
            /// Input of the block (output of the previous layer).
            pub type In = super::$prev::Out;
            /// The block's input, seen as the output of "layer 0" of both branches.
            pub mod input {
                /// The input tensor type.
                pub type Out = super::In;
            }
            $crate::network!(@shapes input; $($n (layer: $t))+);
            $crate::network!(@shapes input; $($d (layer: $dt))*);
            /// Output of the block: the body's.
            pub type Out = $crate::network!(@last_out $($n),+);
            /// Output of the shortcut: the input, or the projection's.
            pub type Shortcut = $crate::network!(@last_out input $(, $d)*);
            const _: () = $crate::layers::residual::shapes_agree(
                concat!($($pname)*),
                [Out::C, Out::H, Out::W],
                [Shortcut::C, Shortcut::H, Shortcut::W],
            );

            /// The block's parameters: the body's layers, then the projection's.
            #[repr(C)]
            #[derive(Clone, Debug, PartialEq)]
            pub struct Block {
                $(#[doc = concat!("`", stringify!($t), "`")] pub $n: $n::Ty,)+
                $(#[doc = concat!("`", stringify!($dt), "`")] pub $d: $d::Ty,)*
            }
            // SAFETY: repr(C) struct whose fields are all Flat.
            unsafe impl $crate::Flat for Block {}
            /// The block's type, as `network!` names a layer's.
            pub type Ty = Block;

            /// Every inner layer's output for a batch of `B` (also their gradients).
            #[repr(C)]
            pub struct Acts<const B: usize> {
                $(#[doc = concat!("Output of `", stringify!($n), "`.")] pub $n: [$n::Out; B],)+
                $(#[doc = concat!("Output of `", stringify!($d), "`.")] pub $d: [$d::Out; B],)*
            }
            // SAFETY: repr(C) struct of arrays of tensors.
            unsafe impl<const B: usize> $crate::Flat for Acts<B> {}

            /// Every inner layer's cache.
            #[repr(C)]
            pub struct Caches<const B: usize> {
                $(#[doc = concat!("Cache of `", stringify!($n), "`.")] pub $n: $n::Cache<B>,)+
                $(#[doc = concat!("Cache of `", stringify!($d), "`.")] pub $d: $d::Cache<B>,)*
            }
            // SAFETY: repr(C) struct of Flat caches.
            unsafe impl<const B: usize> $crate::Flat for Caches<B> {}

            /// 1 with a projection: it then needs its own input gradient.
            const PROJECTED: usize = if 0 $(+ { let _ = stringify!($d); 1 })* > 0 { 1 } else { 0 };

            /// What the block's forward pass keeps for its backward pass.
            #[repr(C)]
            pub struct Cache<const B: usize> {
                /// Every inner layer's output.
                pub act: Acts<B>,
                /// Every inner layer's cache.
                pub cache: Caches<B>,
                /// Every inner layer's output gradient (backward's scratch).
                pub delta: Acts<B>,
                /// The projection's input gradient (backward's scratch).
                pub shortcut_dx: [[In; B]; PROJECTED],
            }
            // SAFETY: repr(C) struct of Flat parts.
            unsafe impl<const B: usize> $crate::Flat for Cache<B> {}

            impl Block {
                /// Calls `f(layer, tensor)` for every parameter and buffer
                /// tensor, the layer named by its PyTorch path
                /// (`layer2.0.conv1`, `layer2.0.downsample.0`).
                pub fn visit_named(&self, f: &mut dyn FnMut(&'static str, $crate::ParamTensor<'_>)) {
                    $crate::__residual_block!(@visit self, f, ($($pname)*); $($n),+ $(, $d)*);
                }

                /// [`visit_named`](Self::visit_named), mutably.
                pub fn visit_named_mut<'a>(&mut self, f: &'a mut $crate::NetworkVisitorMut<'a>) {
                    $crate::__residual_block!(@visit_mut self, f, ($($pname)*); $($n),+ $(, $d)*);
                }
            }

            /// The inner layers' parameters and buffers under their own
            /// names (`weight`, …); the network names them by their path
            /// ([`Block::visit_named`]).
            impl $crate::Parameters for Block {
                fn init(&mut self, init: $crate::Init, rng: &mut dyn $crate::rand::Rng) {
                    $(self.$n.init(init, rng);)+
                    $(self.$d.init(init, rng);)*
                }
                fn visit(&self, f: &mut dyn FnMut($crate::ParamTensor<'_>)) {
                    $(self.$n.visit(f);)+
                    $(self.$d.visit(f);)*
                }
                fn visit_mut<'a>(&mut self, f: &'a mut $crate::ParamVisitorMut<'a>) {
                    $(self.$n.visit_mut(&mut |n, s, v| f(n, s, v));)+
                    $(self.$d.visit_mut(&mut |n, s, v| f(n, s, v));)*
                }
                const BUFFERS: usize = 0 $(+ <$n::Ty as $crate::Parameters>::BUFFERS)+ $(+ <$d::Ty as $crate::Parameters>::BUFFERS)*;
                fn visit_buffers(&self, f: &mut dyn FnMut($crate::ParamTensor<'_>)) {
                    $(self.$n.visit_buffers(f);)+
                    $(self.$d.visit_buffers(f);)*
                }
                fn visit_buffers_mut<'a>(&mut self, f: &'a mut $crate::ParamVisitorMut<'a>) {
                    $(self.$n.visit_buffers_mut(&mut |n, s, v| f(n, s, v));)+
                    $(self.$d.visit_buffers_mut(&mut |n, s, v| f(n, s, v));)*
                }
            }

            impl $crate::Shape<{ In::C }, { In::H }, { In::W }> for Block {
                const OUT_C: usize = Out::C;
                const OUT_H: usize = Out::H;
                const OUT_W: usize = Out::W;
            }

            impl $crate::Layer<{ In::C }, { In::H }, { In::W }> for Block {
                type Cache<const B: usize> = Cache<B>;

                fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
                    &self,
                    x: &[In; B],
                    y: &mut [$crate::Tensor<OC, OH, OW>; B],
                    cache: &mut Cache<B>,
                    mode: &mut $crate::Mode<'_>,
                ) {
                    const {
                        $crate::out_shape_is(
                            concat!("residual block `", $($pname)*, "`"),
                            [In::C, In::H, In::W],
                            [Out::C, Out::H, Out::W],
                            [OC, OH, OW],
                        )
                    };
                    let Cache { act, cache: c, .. } = cache;
                    $crate::__residual_block!(@chain_forward self, x, act, c, mode; $($n),+);
                    $crate::__residual_block!(@chain_forward self, x, act, c, mode; $($d),*);
                    let body = $crate::network!(@last (act); $($n),+).as_flat();
                    let shortcut = $crate::__residual_block!(@shortcut_out x, act; $($d),*);
                    $crate::layers::residual::add(y.as_flat_mut(), body, shortcut);
                }

                fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
                    &self,
                    x: &[In; B],
                    _y: &[$crate::Tensor<OC, OH, OW>; B],
                    cache: &mut Cache<B>,
                    dy: &[$crate::Tensor<OC, OH, OW>; B],
                    mut dx: Option<&mut [In; B]>,
                    grads: &mut Block,
                    grad: $crate::Grad,
                ) {
                    let grad = $crate::layers::residual::inner_grad(grad);
                    let Cache { act, cache: c, delta, shortcut_dx } = cache;
                    // dy reaches the body's last layer and the projection's unchanged.
                    $crate::network!(@last (delta); $($n),+).as_flat_mut().copy_from_slice(dy.as_flat());
                    $crate::__residual_block!(@chain_backward (self, act, c, delta, grads, grad), x, dx.as_deref_mut(); $($n),+);
                    $crate::__residual_block!(@shortcut_backward (self, act, c, delta, grads, grad), x, dy, dx, shortcut_dx; $($d),*);
                }

                fn update_state<const B: usize>(&mut self, cache: &Cache<B>) {
                    $(
                        <$n::Ty as $crate::Layer<{ $n::In::C }, { $n::In::H }, { $n::In::W }>>::update_state::<B>(
                            &mut self.$n,
                            &cache.cache.$n,
                        );
                    )+
                    $(
                        <$d::Ty as $crate::Layer<{ $d::In::C }, { $d::In::H }, { $d::In::W }>>::update_state::<B>(
                            &mut self.$d,
                            &cache.cache.$d,
                        );
                    )*
                }
            }
        }
    };

    // The PyTorch path of an inner layer: `block.conv1`, and for the
    // projection's `downsample_K`, `block.downsample.K`.
    (@path ($($pname:tt)*) downsample_0) => { concat!($($pname)*, ".downsample.0") };
    (@path ($($pname:tt)*) downsample_1) => { concat!($($pname)*, ".downsample.1") };
    (@path ($($pname:tt)*) $n:ident) => { concat!($($pname)*, ".", stringify!($n)) };

    // Every inner layer's parameter and buffer tensors, named by its path.
    (@visit $s:ident, $f:ident, $pname:tt; $n:ident $(, $rest:ident)*) => {
        $s.$n.visit(&mut |t| $f($crate::__residual_block!(@path $pname $n), t));
        $s.$n.visit_buffers(&mut |t| $f($crate::__residual_block!(@path $pname $n), t));
        $crate::__residual_block!(@visit $s, $f, $pname; $($rest),*);
    };
    (@visit $s:ident, $f:ident, $pname:tt;) => {};
    (@visit_mut $s:ident, $f:ident, $pname:tt; $n:ident $(, $rest:ident)*) => {
        $s.$n.visit_mut(&mut |n, sh, v| $f($crate::__residual_block!(@path $pname $n), n, sh, v));
        $s.$n.visit_buffers_mut(&mut |n, sh, v| $f($crate::__residual_block!(@path $pname $n), n, sh, v));
        $crate::__residual_block!(@visit_mut $s, $f, $pname; $($rest),*);
    };
    (@visit_mut $s:ident, $f:ident, $pname:tt;) => {};

    // A branch's forward pass from the block's input `x`.
    (@chain_forward $s:ident, $x:ident, $a:ident, $c:ident, $m:ident; $first:ident $(, $rest:ident)*) => {
        $s.$first.forward($x, &mut $a.$first, &mut $c.$first, $m);
        $crate::network!(@forward $s, $a, $c, $m; $first $(, $rest)*);
    };
    (@chain_forward $s:ident, $x:ident, $a:ident, $c:ident, $m:ident;) => {};

    // The shortcut's output as floats: the input, or the projection's output.
    (@shortcut_out $x:ident, $a:ident;) => { $x.as_flat() };
    (@shortcut_out $x:ident, $a:ident; $($d:ident),+) => { $crate::network!(@last ($a); $($d),+).as_flat() };

    // A branch's backward pass, last layer first, its `delta` entry set;
    // the first layer writes `$dx` (the block's input gradient, if asked).
    (@chain_backward ($s:ident, $a:ident, $c:ident, $d:ident, $g:ident, $grad:ident), $x:ident, $dx:expr; $first:ident $(, $rest:ident)*) => {
        $crate::__residual_block!(@pairs ($s, $a, $c, $d, $g, $grad); $first $(, $rest)*);
        $s.$first.backward($x, &$a.$first, &mut $c.$first, &$d.$first, $dx, &mut $g.$first, $grad);
    };
    (@pairs $e:tt; $prev:ident, $layer:ident $(, $rest:ident)*) => {
        $crate::__residual_block!(@pairs $e; $layer $(, $rest)*);
        $crate::network!(@step $e; $prev, $layer);
    };
    (@pairs $e:tt; $last:ident) => {};

    // The shortcut's backward pass: the identity adds `dy` into `dx`; a
    // projection runs its layers into its own input gradient, then adds it.
    (@shortcut_backward $e:tt, $x:ident, $dy:ident, $dx:ident, $sdx:ident;) => {
        let _: &mut [[In; B]; 0] = $sdx;
        if let Some(dx) = $dx {
            $crate::math::add_assign(dx.as_flat_mut(), $dy.as_flat());
        }
    };
    (@shortcut_backward ($s:ident, $a:ident, $c:ident, $d:ident, $g:ident, $grad:ident), $x:ident, $dy:ident, $dx:ident, $sdx:ident; $($p:ident),+) => {
        $crate::network!(@last ($d); $($p),+).as_flat_mut().copy_from_slice($dy.as_flat());
        let want = $dx.is_some();
        $crate::__residual_block!(@chain_backward ($s, $a, $c, $d, $g, $grad), $x, want.then_some(&mut $sdx[0]); $($p),+);
        if let Some(dx) = $dx {
            $crate::math::add_assign(dx.as_flat_mut(), $sdx[0].as_flat());
        }
    };
}
