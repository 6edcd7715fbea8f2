//! `Dense`: a fully connected layer on the flattened input.
//!
//! Forward, with `x` flattened in PyTorch order (`x.flatten(1)`):
//!
//! ```text
//! y[o] = b[o] + sum_{i < N_IN} w[o][i] * x[i]
//! ```
//!
//! Backward, with `dy = dL/dy`:
//!
//! ```text
//! dL/dw[o][i] = dy[o] * x[i]        (an outer product; over a batch, a matrix product)
//! dL/db[o]    = dy[o]
//! dL/dx[i]    = sum_o w[o][i] * dy[o]
//! ```

use crate::layer::{Init, Layer, Mode, ParamTensor, Parameters};
use crate::{Flat, Shape, Tensor, math};
use rand::Rng;

/// Fully connected layer from `N_IN` inputs to `N_OUT` outputs, with or
/// without bias. Its input is any `Tensor<C, H, W>` with `C*H*W == N_IN`,
/// read flattened in PyTorch order; its output is `Tensor<N_OUT, 1, 1>`.
///
/// PyTorch: `nn.Linear(N_IN, N_OUT, bias=BIAS)` after `x.flatten(1)`;
/// `weight` has the same `[N_OUT][N_IN]` layout.
///
/// # Shapes
/// Input `C x H x W` with `C*H*W = N_IN`; output `N_OUT x 1 x 1`.
///
/// ```
/// use constnet::{Dense, Flat, Layer, Mode, Tensor};
/// let mut d = Dense::<4, 1>::zeroed();
/// d.weight = [[1.0, 2.0, 3.0, 4.0]];
/// d.bias = [0.5];
/// let x = Tensor::<1, 2, 2>::from_array([[[1.0, 1.0], [1.0, 1.0]]]);
/// let mut y = [Tensor::<1, 1, 1>::zeroed()];
/// d.forward(&[x], &mut y, &mut [()], &mut Mode::Infer);
/// assert_eq!(y[0].0[0][0][0], 10.5);
/// ```
///
/// An input whose size is not `N_IN` does not build:
///
/// ```compile_fail
/// use constnet::{Dense, Flat, Layer, Mode, Tensor};
/// let d = Dense::<676, 1>::zeroed();
/// let mut y = [Tensor::<1, 1, 1>::zeroed()];
/// d.forward(&[Tensor::<1, 28, 28>::zeroed()], &mut y, &mut [()], &mut Mode::Infer);
/// ```
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<const N_IN: usize, const N_OUT: usize, const BIAS: bool = true> {
    /// Weights, `[N_OUT][N_IN]` (PyTorch's layout).
    pub weight: [[f32; N_IN]; N_OUT],
    /// Biases (zero and untouched when `BIAS = false`).
    pub bias: [f32; N_OUT],
}

// SAFETY: repr(C) struct of f32 arrays.
unsafe impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool> Flat for Dense<N_IN, N_OUT, BIAS> {}

impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool, const C: usize, const H: usize, const W: usize>
    Shape<C, H, W> for Dense<N_IN, N_OUT, BIAS>
{
    const OUT_C: usize = {
        assert!(C * H * W == N_IN, "Dense: N_IN must equal C*H*W, the size of its flattened input");
        N_OUT
    };
    const OUT_H: usize = 1;
    const OUT_W: usize = 1;
}

impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool, const C: usize, const H: usize, const W: usize>
    Layer<C, H, W> for Dense<N_IN, N_OUT, BIAS>
{
    type Cache = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut [(); B],
        _mode: &mut Mode<'_>,
    ) {
        crate::layer::assert_out_shape!("Dense", OC, OH, OW);
        // Each weight row is read once per batch (a matrix product y = x Wᵀ).
        for (o, w) in self.weight.iter().enumerate() {
            let b = if BIAS { self.bias[o] } else { 0.0 };
            for (x, y) in x.iter().zip(y.iter_mut()) {
                y.as_flat_mut()[o] = b + math::dot(w, x.as_flat());
            }
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &[(); B],
        dy: &[Tensor<OC, OH, OW>; B],
        mut dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
    ) {
        crate::layer::assert_out_shape!("Dense", OC, OH, OW);
        if let Some(dx) = dx.as_deref_mut() {
            dx.zero();
        }
        for o in 0..N_OUT {
            let (w, gw) = (&self.weight[o], &mut grads.weight[o]);
            for b in 0..B {
                let d = dy[b].as_flat()[o];
                if BIAS {
                    grads.bias[o] += d;
                }
                math::axpy(gw, d, x[b].as_flat());
                if let Some(dx) = dx.as_deref_mut() {
                    math::axpy(dx[b].as_flat_mut(), d, w);
                }
            }
        }
    }
}

impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool> Parameters for Dense<N_IN, N_OUT, BIAS> {
    /// Fans as PyTorch computes them: `fan_in = N_IN`, `fan_out = N_OUT`.
    fn init(&mut self, init: Init, rng: &mut dyn Rng) {
        init.fill(self.weight.as_flat_mut(), N_IN, N_OUT, rng);
        self.bias = [0.0; N_OUT];
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        f(ParamTensor { name: "weight", shape: &[N_OUT, N_IN], data: self.weight.as_flat() });
        if BIAS {
            f(ParamTensor { name: "bias", shape: &[N_OUT], data: &self.bias });
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, &[usize], &mut [f32])) {
        f("weight", &[N_OUT, N_IN], self.weight.as_flat_mut());
        if BIAS {
            f("bias", &[N_OUT], &mut self.bias);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_from_a_feature_map() {
        check_layer::<Dense<12, 3>, 2, 3, 2, 2, 3, 1, 1>(11).unwrap();
    }

    #[test]
    fn gradients_without_bias() {
        check_layer::<Dense<25, 1, false>, 3, 1, 5, 5, 1, 1, 1>(12).unwrap();
    }

    #[test]
    fn gradients_batch_one() {
        check_layer::<Dense<7, 4>, 1, 7, 1, 1, 4, 1, 1>(13).unwrap();
    }
}
