//! The uniform `Params` block of every kernel, defined once as a Rust struct: the macro writes
//! both the `#[repr(C)]` struct the runtime fills (so a missing or mistyped field is a compile
//! error) and the WGSL `struct Params` the kernel declares (so the two cannot drift apart).
//! Values reach a struct only through [`fit`], which refuses what does not fit the field's type.

use crate::error::{Error, Result};

/// The most 32-bit words a `Params` block has; each pass gets a uniform slot this big (rounded
/// up to the adapter's uniform offset alignment).
pub(crate) const MAX_PARAMS: usize = 32;

/// A kernel's uniform block.
pub(crate) trait Uniform: bytemuck::Pod {
    /// `(name, WGSL type)` of each field, in order.
    const FIELDS: &'static [(&'static str, &'static str)];

    /// `struct Params { … }` in WGSL.
    fn wgsl() -> String {
        let lines: String = Self::FIELDS.iter().map(|(f, t)| format!("    {f}: {t},\n")).collect();
        format!("struct Params {{\n{lines}}}")
    }

    /// The block as words, for the uniform buffer.
    fn words(&self) -> Vec<u32> {
        bytemuck::cast_slice(bytemuck::bytes_of(self)).to_vec()
    }
}

/// `usize` → the field's integer type, or [`Error::TooLarge`] naming the field: every size
/// that reaches a kernel passes through here.
pub(crate) fn fit<T: TryFrom<usize>>(what: &str, v: usize) -> Result<T> {
    T::try_from(v).map_err(|_| {
        Error::TooLarge(format!(
            "{what} = {v} does not fit the kernel's {}-bit index",
            8 * std::mem::size_of::<T>()
        ))
    })
}

macro_rules! uniform {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ident),* $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub(crate) struct $name { $($(#[$fdoc])* pub $field: $ty),* }
        impl Uniform for $name {
            const FIELDS: &'static [(&'static str, &'static str)] = &[$((stringify!($field), stringify!($ty))),*];
        }
        const _: () = assert!(std::mem::size_of::<$name>() <= MAX_PARAMS * 4);
    };
}

// Field groups, one line each: what the kernel computes over, the input tensor, the output
// tensor. `i32` for coordinates that go negative in padding, `u32` for the rest.
#[rustfmt::skip]
uniform!(
    /// Winograd filter transform.
    FilterParams {
        out_channels: u32, in_channels: u32, k_stride: u32,
        ws_o: u32, ws_i: u32, ws_h: u32, ws_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Winograd filter transform of grouped weights: U rows are global input channels, columns
    /// the output channels within a group.
    GroupedFilterParams {
        out_channels: u32, in_channels: u32, k_stride: u32, group_out: u32, channels: u32,
        ws_o: u32, ws_i: u32, ws_h: u32, ws_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Winograd input transform.
    InputParams {
        channels: u32, tiles: u32, tiles_w: u32, tiles_per_image: u32, tile_row0: u32, tile_stride: u32,
        x_offset: u32, in_h: i32, in_w: i32, pad_top: i32, pad_left: i32, xs_n: u32, xs_c: u32, xs_h: u32, xs_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Winograd output transform.
    OutputParams {
        out_channels: u32, tiles: u32, tiles_w: u32, tiles_per_image: u32, tile_row0: u32, tile_stride: u32,
        y_offset: u32, r_offset: u32, out_h: u32, out_w: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Winograd batched product.
    ProductParams { out_channels: u32, channels: u32, k_stride: u32, tile_stride: u32 }
);

#[rustfmt::skip]
uniform!(
    /// Winograd batched product over channel groups: grid layer z = (tile element, group).
    GroupedProductParams {
        out_channels: u32, channels: u32, k_stride: u32, tile_stride: u32, groups: u32, group_in: u32, group_out: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Winograd batched product on cooperative matrices (grouped or not; ungrouped: one group
    /// of all channels), with the weights' largest magnitude for the per-element U scale.
    TensorProductParams {
        out_channels: u32, channels: u32, k_stride: u32, tile_stride: u32, groups: u32, group_in: u32, group_out: u32,
        w_amax: f32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Fused Winograd kernel.
    FusedParams {
        channels: u32, out_channels: u32, k_stride: u32, tiles: u32, tiles_w: u32, tiles_per_image: u32, tile_row0: u32,
        x_offset: u32, in_h: i32, in_w: i32, pad_top: i32, pad_left: i32, xs_n: u32, xs_c: u32, xs_h: u32, xs_w: u32,
        y_offset: u32, r_offset: u32, out_h: u32, out_w: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Direct convolution.
    DirectParams {
        pixels: u32, blocks: u32, out_hw: u32, k_blocks_per_group: u32, group_in: u32, group_out: u32,
        kernel_h: u32, kernel_w: u32, stride_h: u32, stride_w: u32, dil_h: i32, dil_w: i32,
        ws_o: u32, ws_i: u32, ws_h: u32, ws_w: u32,
        x_offset: u32, in_h: i32, in_w: i32, pad_top: i32, pad_left: i32, xs_n: u32, xs_c: u32, xs_h: u32, xs_w: u32,
        y_offset: u32, r_offset: u32, out_w: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// GEMM weight preparation: OIHW/HWIO weights to the product core's `[group][reduction][k]`.
    PackParams {
        group_out: u32, k_stride: u32, group_stride: u32, total: u32,
        kernel_hw: u32, kernel_w: u32, ws_o: u32, ws_i: u32, ws_h: u32, ws_w: u32,
        scale: f32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Implicit-GEMM convolution: output channels × output pixels, reduced over
    /// (input channel, ky, kx) of one group.
    GemmParams {
        group_out: u32, reduction: u32, k_stride: u32, group_stride: u32, group_in: u32, columns: u32,
        out_hw: u32, out_w: u32, stride_h: u32, stride_w: u32, dil_h: i32, dil_w: i32,
        x_offset: u32, in_h: i32, in_w: i32, pad_top: i32, pad_left: i32, xs_n: u32, xs_c: u32, xs_h: u32, xs_w: u32,
        y_offset: u32, r_offset: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
        w_unscale: f32,
    }
);

#[rustfmt::skip]
uniform!(
    /// A plain `M×N×K` GEMM (tensor-core benchmarks).
    MatmulParams { m: u32, n: u32, k: u32 }
);

#[rustfmt::skip]
uniform!(
    /// The largest magnitude of `count` elements from `offset`.
    AmaxParams { count: u32, offset: u32 }
);

#[rustfmt::skip]
uniform!(
    /// Depthwise convolution: one invocation per output strip of one channel.
    DepthwiseParams {
        out_channels: u32, multiplier: u32, strips_w: u32, strips: u32, out_h: u32, out_w: u32,
        ws_o: u32, ws_h: u32, ws_w: u32,
        x_offset: u32, in_h: i32, in_w: i32, pad_top: i32, pad_left: i32, xs_n: u32, xs_c: u32, xs_h: u32, xs_w: u32,
        y_offset: u32, r_offset: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// The epilogue as a pass of its own.
    EpilogueParams {
        elements: u32, out_channels: u32, out_hw: u32, out_w: u32,
        y_offset: u32, r_offset: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// A transposed convolution's interleave pass: one phase's dense outputs (`q_h × q_w` per
    /// image and channel, from row `s_row0` and column `s_col0` of the scratch tensor) to output
    /// rows `qy · stride_h + phase_h` and columns `qx · stride_w + phase_w`.
    InterleaveParams {
        elements: u32, out_channels: u32, q_h: u32, q_w: u32, phase_h: u32, phase_w: u32, stride_h: u32, stride_w: u32,
        s_row0: u32, s_col0: u32, ss_n: u32, ss_c: u32, ss_h: u32, ss_w: u32,
        r_offset: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// A transposed convolution's pass over a phase no kernel tap reaches: the same output
    /// positions as [`InterleaveParams`], written from the bias (and residual) alone.
    UncoveredParams {
        elements: u32, out_channels: u32, q_h: u32, q_w: u32, phase_h: u32, phase_w: u32, stride_h: u32, stride_w: u32,
        r_offset: u32, ys_n: u32, ys_c: u32, ys_h: u32, ys_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Weight gradient, one split of the reduction: dy rows (output channels of a group) ×
    /// x patch columns (input channel, ky, kx), reduced over (image, output row, output column).
    WeightGradParams {
        rows: u32, cols: u32, groups: u32, reduction: u32, split_len: u32,
        group_in: u32, k0: u32, g0: u32, stride_h: u32, stride_w: u32, dil_h: i32, dil_w: i32,
        x_offset: u32, in_h: i32, in_w: i32, pad_top: i32, pad_left: i32, xs_n: u32, xs_c: u32, xs_h: u32, xs_w: u32,
        dy_offset: u32, ds_n: u32, ds_c: u32, ds_h: u32, ds_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// Bias gradient, one split of the reduction: the weight gradient's product with a column of ones.
    BiasGradParams {
        rows: u32, cols: u32, groups: u32, reduction: u32, split_len: u32, k0: u32,
        dy_offset: u32, ds_n: u32, ds_c: u32, ds_h: u32, ds_w: u32,
    }
);

#[rustfmt::skip]
uniform!(
    /// The split-K reduction of the gradient partials into the caller's tensor, in split order.
    GradReduceParams {
        count: u32, splits: u32, accumulate: u32, cols: u32, kernel_w: u32, kernel_hw: u32,
        ws_o: u32, ws_i: u32, ws_h: u32, ws_w: u32, dw_offset: u32,
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_and_wgsl_agree() {
        let p = DirectParams { pixels: 7, ys_w: 9, ..Default::default() };
        let words = p.words();
        assert_eq!(words.len(), DirectParams::FIELDS.len());
        assert_eq!((words[0], *words.last().unwrap()), (7, 9));
        assert!(DirectParams::wgsl().contains("    dil_h: i32,\n"));
        assert!(matches!(fit::<u32>("stride_h", 1 << 33), Err(Error::TooLarge(_))));
        assert!(matches!(fit::<i32>("pad_top", 1 << 31), Err(Error::TooLarge(_))));
        assert_eq!(fit::<i32>("pad_top", 5).unwrap(), 5);
    }
}
