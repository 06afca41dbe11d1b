//! Operators built on the runtime's [`Context`](crate::Context): the gradients of a
//! convolution's parameters (`weight_grad`, split as `grad_split` plans). They depend on the
//! runtime, never the reverse.

mod grad_split;
mod weight_grad;

pub use grad_split::{split_count, GradPlan};
pub use weight_grad::WeightGrad;
