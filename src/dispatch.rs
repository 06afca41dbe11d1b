//! The plan for one call: which path, tile, layout and product block to use, how many images
//! go through the pipeline at once so that every binding and grid fits the adapter's limits.
//! Pure functions of the descriptor, the shape and `wgpu::Limits`, so they are unit-testable.

use crate::codegen::{FusedBlock, GemmTile, InputLoad, OutputStore};
use crate::desc::{Algo, Conv2dDesc, DType, DataFormat, TileLayout};
use crate::error::{Error, Result};
use wgpu::Limits;

/// The Winograd algorithms the generator ships, as (m, r).
pub const WINOGRAD_TILES: [(usize, usize); 4] = [(2, 3), (4, 3), (6, 3), (2, 5)];

/// Invocations per workgroup of the element-wise kernels (transforms, direct).
pub const WORKGROUP: u32 = 64;

/// How the Winograd path computes its product stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// Three kernels (input transform, batched product with this block, output transform)
    /// through Winograd-domain buffers in memory.
    Gemm(GemmTile),
    /// One kernel that transforms, multiplies and transforms back in registers
    /// (`codegen::fused`); for few channels, where launches and memory round trips dominate.
    Fused,
}

/// The path a call takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// Winograd F(m×m, r×r) with this Winograd-domain layout and product stage.
    Winograd {
        /// Output tile side.
        m: usize,
        /// Kernel side.
        r: usize,
        /// Winograd-domain layout.
        layout: TileLayout,
        /// Separate kernels with a product block, or one fused kernel.
        product: Product,
    },
    /// The GPU direct convolution.
    Direct,
}

/// A resolved plan for one input shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The algorithm and its parameters.
    pub path: Path,
    /// Logical input shape `[n, c, h, w]`.
    pub input: [usize; 4],
    /// Logical output shape `[n, k, oh, ow]`.
    pub output: [usize; 4],
    /// Images per pass through the pipeline; the batch is split into chunks of this many.
    pub chunk: usize,
    /// Tile rows per pass (Winograd); less than the image's when one image must be split.
    pub band_rows: usize,
}

/// One pass through the pipeline: a run of whole images, or a band of tile rows of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// First image of the batch in this piece.
    pub first_image: usize,
    /// Images in this piece.
    pub images: usize,
    /// First tile row (Winograd).
    pub tile_row0: usize,
    /// Tile rows in this piece (Winograd).
    pub tile_rows: usize,
}

impl Plan {
    /// Tiles per image side, `[tiles_h, tiles_w]` (Winograd only).
    pub fn tiles_hw(&self) -> [usize; 2] {
        match self.path {
            Path::Winograd { m, .. } => [self.output[2].div_ceil(m), self.output[3].div_ceil(m)],
            Path::Direct => [0, 0],
        }
    }

    /// The passes, in order.
    pub fn pieces(&self) -> Vec<Piece> {
        let n = self.input[0];
        let th = self.tiles_hw()[0].max(1);
        let mut out = Vec::new();
        for first_image in (0..n).step_by(self.chunk) {
            for tile_row0 in (0..th).step_by(self.band_rows) {
                let (images, tile_rows) =
                    (self.chunk.min(n - first_image), self.band_rows.min(th - tile_row0));
                out.push(Piece { first_image, images, tile_row0, tile_rows });
            }
        }
        out
    }
}

/// Whether Winograd can compute this convolution at all.
pub fn winograd_applies(desc: &Conv2dDesc) -> bool {
    let [kh, kw] = desc.kernel;
    kh == kw
        && WINOGRAD_TILES.iter().any(|&(_, r)| r == kh)
        && desc.stride == [1, 1]
        && desc.dilation == [1, 1]
        && desc.groups == 1
}

/// Whether the descriptor sets any Winograd-only option, which `Algo::Auto` then honours.
fn forces_winograd(desc: &Conv2dDesc) -> bool {
    desc.tile.is_some() || desc.fuse.is_some() || desc.gemm.is_some() || desc.layout != TileLayout::Auto
}

/// Picks the output tile m for an r×r kernel. F(4,3) does 2.25× fewer multiplies than F(2,3)
/// but makes 4× fewer, bigger tiles; on an H100 it only pays once the product has real work
/// (C·K·tiles ≥ 4M, the ResNet layers at batch 32); small problems are latency-bound and
/// F(2,3) wins (ncnn makes the same switch for small images). F(2,5) for 5×5.
fn auto_tile(r: usize, [n, c, k]: [usize; 3], oh: usize, ow: usize) -> usize {
    let tiles4 = n * oh.div_ceil(4) * ow.div_ceil(4);
    if r == 3 && c * k * tiles4 >= 4 << 20 {
        4
    } else {
        2
    }
}

/// The default layout for a shape. Both layouts do identical arithmetic; they differ in how
/// the Winograd-domain buffers are strided. Measured on an H100 (`BENCHMARKS.md`): channel-major
/// `r_16_6_6` wins by 1–3% on the ResNet layers and on tiny images, element-major `r_6_6_16`
/// by 2–3% on few-channel images of 64 tiles or more.
pub fn auto_layout(c: usize, tiles: usize) -> TileLayout {
    if c < 64 && tiles >= 64 {
        TileLayout::R6_6_16
    } else {
        TileLayout::R16_6_6
    }
}

/// Whether to fuse the three Winograd stages into one kernel. The fused kernel keeps α²
/// accumulators per invocation and re-transforms the input for every 16 output channels, so it
/// can only pay for F(2,3) with few channels. Measured (`BENCHMARKS.md`): on an H100 it matches
/// the three kernels' GPU time on the seed shapes and trims the synchronous call by one
/// dispatch; on lavapipe, a CPU, it is 1.3–2× slower, so CPU adapters never fuse.
pub fn auto_fuse(m: usize, c: usize, k: usize, device: wgpu::DeviceType) -> bool {
    device != wgpu::DeviceType::Cpu && m == 2 && c <= 32 && k <= 32
}

/// How the output transform stores: the widest aligned vectors that both the tile side m and
/// the output width divide into (NCHW only; then every image, channel and row starts on a
/// multiple of the vector width), else element by element.
pub fn output_store(format: DataFormat, m: usize, out_w: usize) -> OutputStore {
    [OutputStore::Vec4, OutputStore::Vec2]
        .into_iter()
        .find(|s| {
            format == DataFormat::Nchw && m.is_multiple_of(s.width()) && out_w.is_multiple_of(s.width())
        })
        .unwrap_or(OutputStore::Scalar)
}

/// How the input transform loads: aligned vectors for the middle of each patch row where NCHW,
/// the tile side m and the input width allow it and the left padding is under r, else element
/// by element.
pub fn input_load(format: DataFormat, m: usize, r: usize, in_w: usize, pad_left: usize) -> InputLoad {
    [4, 2]
        .into_iter()
        .find(|&w| {
            format == DataFormat::Nchw && m.is_multiple_of(w) && in_w.is_multiple_of(w) && pad_left < r
        })
        .map_or(InputLoad::Scalar, |width| InputLoad::Vector { width, pad_left })
}

/// Whether a workgroup of `[x, y]` invocations using `bytes` of workgroup memory is within the
/// adapter's limits.
pub fn workgroup_fits([x, y]: [u32; 2], bytes: u32, limits: &Limits) -> bool {
    x * y <= limits.max_compute_invocations_per_workgroup
        && x <= limits.max_compute_workgroup_size_x
        && y <= limits.max_compute_workgroup_size_y
        && bytes <= limits.max_compute_workgroup_storage_size
}

/// The product block for K output channels and `tiles` columns, from the H100 tuning runs in
/// `BENCHMARKS.md`: as tall as K needs, narrow where there are few tiles, 64×64 with 8×4 per
/// invocation for the big ResNet products; the first that fits the adapter.
pub fn auto_gemm(k: usize, tiles: usize, limits: &Limits) -> Result<GemmTile> {
    let fits = |g: &GemmTile| workgroup_fits(g.workgroup_size(), g.workgroup_bytes(), limits);
    let [t16, t32, narrow, t64, t64_deep, ..] = GemmTile::ALL;
    let preference = match (k, tiles) {
        (..=16, _) => vec![t16],
        (..=32, _) => vec![t32, t16],
        (_, ..=64) => vec![narrow, t32, t16],
        (128.., 256..) | (256.., 128..) => vec![t64_deep, t64, t32, t16],
        (_, ..=1023) => vec![t32, t16],
        _ => vec![t64_deep, t64, t32, t16],
    };
    preference
        .into_iter()
        .find(fits)
        .ok_or_else(|| Error::Unsupported("no product block fits this adapter's workgroup limits".into()))
}

/// Resolves algo, tile, layout, product stage and chunking for `desc` on an input of logical
/// shape `[n, c, h, w]`, for an adapter with these limits and device type.
pub fn plan(desc: &Conv2dDesc, input: [usize; 4], limits: &Limits, device: wgpu::DeviceType) -> Result<Plan> {
    desc.validate()?;
    let [n, c, h, w] = input;
    if n == 0 || h == 0 || w == 0 {
        return Err(Error::InvalidShape(format!("input shape {input:?} has a zero dimension")));
    }
    if c != desc.in_channels {
        return Err(Error::InvalidShape(format!(
            "input has {c} channels but the convolution expects {}",
            desc.in_channels
        )));
    }
    let [oh, ow] = desc.output_hw(h, w)?;
    // Whole tensors must exist as single buffers; refuse what no buffer can hold, before any
    // product below can overflow.
    let bytes = |dims: [usize; 4]| dims.iter().try_fold(4u64, |acc, &d| acc.checked_mul(d as u64));
    for (what, dims) in [("input", input), ("output", [n, desc.out_channels, oh, ow])] {
        match bytes(dims) {
            Some(b) if b <= limits.max_buffer_size => {}
            b => {
                return Err(Error::TooLarge(format!(
                    "the {what} tensor {dims:?} needs {} bytes but a buffer holds at most {}",
                    b.map_or("more than 2^64".to_string(), |b| b.to_string()),
                    limits.max_buffer_size
                )))
            }
        }
    }
    let output = [n, desc.out_channels, oh, ow];
    let path = match desc.algo {
        Algo::Direct => Path::Direct,
        Algo::Winograd if !winograd_applies(desc) => {
            return Err(Error::Unsupported(format!(
                "Winograd needs a square 3×3 or 5×5 kernel with stride 1, dilation 1 and groups 1 \
                 (got kernel {:?}, stride {:?}, dilation {:?}, groups {}); use algo auto or direct",
                desc.kernel, desc.stride, desc.dilation, desc.groups
            )))
        }
        Algo::Auto if forces_winograd(desc) && !winograd_applies(desc) => {
            return Err(Error::Unsupported(format!(
                "Winograd options (tile, layout, fuse, product block) were given but Winograd cannot \
                 do kernel {:?}, stride {:?}, dilation {:?}, groups {}",
                desc.kernel, desc.stride, desc.dilation, desc.groups
            )))
        }
        Algo::Auto if !winograd_applies(desc) || (c * desc.out_channels < 64 && !forces_winograd(desc)) => {
            Path::Direct
        }
        Algo::Winograd | Algo::Auto => {
            let r = desc.kernel[0];
            let m = desc.tile.unwrap_or_else(|| auto_tile(r, [n, c, desc.out_channels], oh, ow));
            if !WINOGRAD_TILES.contains(&(m, r)) {
                let tiles: Vec<String> =
                    WINOGRAD_TILES.iter().filter(|t| t.1 == r).map(|t| t.0.to_string()).collect();
                return Err(Error::Unsupported(format!(
                    "tile {m} with a {r}×{r} kernel (available: {})",
                    tiles.join(", ")
                )));
            }
            let tiles = n * oh.div_ceil(m) * ow.div_ceil(m);
            let layout = match desc.layout {
                TileLayout::Auto => auto_layout(c, tiles),
                fixed => fixed,
            };
            let product = match (desc.fuse, desc.gemm) {
                (Some(true), Some(_)) => {
                    return Err(Error::InvalidDescriptor(
                        "a product block (gemm) and fuse = true exclude each other".into(),
                    ))
                }
                (Some(true), None) => Product::Fused,
                (None, None) if auto_fuse(m, c, desc.out_channels, device) => Product::Fused,
                (_, Some(g)) => Product::Gemm(g),
                (_, None) => Product::Gemm(auto_gemm(desc.out_channels, tiles, limits)?),
            };
            Path::Winograd { m, r, layout, product }
        }
    };
    let (path, (chunk, band_rows)) = match split(&path, input, output, desc.dtype, limits) {
        // Auto never refuses what the direct path can still do.
        Err(Error::TooLarge(_)) if desc.algo == Algo::Auto && path != Path::Direct => {
            (Path::Direct, split(&Path::Direct, input, output, desc.dtype, limits)?)
        }
        other => (path, other?),
    };
    Ok(Plan { path, input, output, chunk, band_rows })
}

/// Splits the work so every buffer binding and grid fits: whole images per chunk where they
/// fit, else one image at a time in bands of tile rows (the Winograd-domain buffers are the
/// biggest, 2–4× the input). Returns (images per chunk, tile rows per band).
fn split(
    path: &Path,
    input: [usize; 4],
    output: [usize; 4],
    dtype: DType,
    limits: &Limits,
) -> Result<(usize, usize)> {
    let [n, c, h, w] = input;
    let [_, k, oh, ow] = output;
    let es = match dtype {
        DType::F32 => 4,
        DType::F16 => 2,
    } as u64;
    // Activations are bound from an aligned-down offset, so allow one alignment of slack.
    let slack = limits.min_storage_buffer_offset_alignment as u64;
    let max_binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size) - slack;
    let max_groups = limits.max_compute_workgroups_per_dimension as u64;
    // Element-wise kernels fold their grid into two dimensions of at most max_groups each.
    let max_invocations = max_groups * max_groups * WORKGROUP as u64;
    let activations = ((c * h * w) as u64 * es).max((k * oh * ow) as u64 * es);
    if activations > max_binding {
        return Err(Error::TooLarge(format!(
            "one image's input or output needs a {activations}-byte binding but the device allows {max_binding} bytes"
        )));
    }
    let by_activations = max_binding / activations.max(1);
    match *path {
        Path::Direct => {
            let per_image = (k.div_ceil(4) * oh * ow) as u64;
            Ok(((max_invocations / per_image.max(1)).min(by_activations).min(n as u64).max(1) as usize, 1))
        }
        Path::Winograd { m, r, product: Product::Fused, .. } => {
            let block = FusedBlock::new(m, r);
            let [x, y] = block.workgroup_size();
            if !workgroup_fits([x, y], block.workgroup_bytes(), limits) {
                return Err(Error::TooLarge(format!(
                    "the fused kernel needs {} bytes of workgroup memory and {x}×{y} invocations; \
                     the adapter allows {} bytes and {} invocations",
                    block.workgroup_bytes(),
                    limits.max_compute_workgroup_storage_size,
                    limits.max_compute_invocations_per_workgroup
                )));
            }
            // Nothing but activations in memory; the grid is (tile blocks, channel blocks).
            let (th, tw) = (oh.div_ceil(m) as u64, ow.div_ceil(m) as u64);
            let channel_blocks = (k as u64).div_ceil(block.out_channels as u64);
            let max_rows = max_groups * block.tiles as u64 / tw;
            if channel_blocks > max_groups || max_rows == 0 {
                return Err(Error::TooLarge(format!(
                    "the fused grid ({tw} tiles per row, {channel_blocks} channel blocks) exceeds \
                     {max_groups} workgroups per dimension"
                )));
            }
            Ok(fit_rows(max_rows, th, by_activations, n))
        }
        Path::Winograd { m, r, product: Product::Gemm(gemm), .. } => {
            let (th, tw) = (oh.div_ceil(m) as u64, ow.div_ceil(m) as u64);
            let a2 = ((m + r - 1) * (m + r - 1)) as u64;
            // Bytes and invocations per tile row of the biggest Winograd-domain buffer; rows of
            // the buffer are padded by up to 3 tiles, so keep room for that.
            let row_bytes = a2 * c.max(k) as u64 * tw * 4;
            let max_domain = max_binding.saturating_sub(a2 * c.max(k) as u64 * 16);
            let row_invocations = tw * c.max(k) as u64;
            let channel_blocks = (k as u64).div_ceil(gemm.bm as u64);
            if a2 > max_groups || channel_blocks > max_groups {
                return Err(Error::TooLarge(format!(
                    "the product grid ({a2} tile elements, {channel_blocks} channel blocks) exceeds \
                     {max_groups} workgroups per dimension"
                )));
            }
            // The product's grid x counts column blocks of the chunk's tiles.
            let max_rows = (max_domain / row_bytes)
                .min(max_invocations / row_invocations)
                .min(max_groups * gemm.bn as u64 / tw);
            if max_rows == 0 {
                return Err(Error::TooLarge(format!(
                    "one row of {tw} tiles needs a {row_bytes}-byte Winograd-domain binding but the device allows {max_binding} bytes"
                )));
            }
            Ok(fit_rows(max_rows, th, by_activations, n))
        }
    }
}

/// Whole images per chunk when `max_rows` tile rows hold at least one image of `th` rows, else
/// one image in bands of `max_rows` rows.
fn fit_rows(max_rows: u64, th: u64, by_activations: u64, n: usize) -> (usize, usize) {
    if max_rows >= th {
        ((max_rows / th).min(by_activations).min(n as u64) as usize, th as usize)
    } else {
        (1, max_rows as usize)
    }
}

/// A 2-D grid of `WORKGROUP`-wide workgroups covering `invocations`, folded so each dimension
/// stays within the limit; kernels recover the linear index as `x + y · groups_x · WORKGROUP`.
pub fn grid(invocations: u64, limits: &Limits) -> [u32; 3] {
    let groups = invocations.div_ceil(WORKGROUP as u64).max(1);
    let max = limits.max_compute_workgroups_per_dimension as u64;
    let x = groups.min(max);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    const GPU: wgpu::DeviceType = wgpu::DeviceType::DiscreteGpu;

    #[test]
    fn auto_uses_winograd_only_where_it_applies() {
        let limits = Limits::default();
        let big = Conv2dDesc::new(64, 64, 3, 1);
        assert!(matches!(
            plan(&big, [32, 64, 56, 56], &limits, GPU).unwrap().path,
            Path::Winograd { m: 4, .. }
        ));
        let mut d = Conv2dDesc::new(16, 16, 3, 1);
        assert!(matches!(plan(&d, [1, 16, 32, 32], &limits, GPU).unwrap().path, Path::Winograd { m: 2, .. }));
        d.stride = [2, 2];
        assert_eq!(plan(&d, [1, 16, 32, 32], &limits, GPU).unwrap().path, Path::Direct);
        d.algo = Algo::Winograd;
        assert!(matches!(plan(&d, [1, 16, 32, 32], &limits, GPU), Err(Error::Unsupported(_))));
    }

    #[test]
    fn batch_is_chunked_under_small_binding_limits() {
        let limits = Limits { max_storage_buffer_binding_size: 1 << 20, ..Limits::default() };
        let d = Conv2dDesc::new(32, 32, 3, 1);
        let p = plan(&d, [8, 32, 32, 32], &limits, GPU).unwrap();
        assert!(p.chunk < 8 && p.chunk >= 1, "chunk {}", p.chunk);
        assert_eq!(p.pieces().iter().map(|p| p.images).sum::<usize>(), 8);
    }

    #[test]
    fn one_big_image_is_split_into_tile_row_bands() {
        let limits = Limits { max_storage_buffer_binding_size: 1 << 20, ..Limits::default() };
        let d = Conv2dDesc { tile: Some(4), ..Conv2dDesc::new(16, 16, 3, 1) };
        let p = plan(&d, [2, 16, 200, 60], &limits, GPU).unwrap();
        let pieces = p.pieces();
        assert_eq!(p.chunk, 1);
        assert!(p.band_rows < 50, "band {}", p.band_rows);
        assert_eq!(pieces.iter().filter(|q| q.first_image == 1).map(|q| q.tile_rows).sum::<usize>(), 50);
        let tiny = Limits { max_storage_buffer_binding_size: 4096, ..Limits::default() };
        assert!(matches!(plan(&d, [1, 16, 100, 60], &tiny, GPU), Err(Error::TooLarge(_))));
    }

    #[test]
    fn auto_fuses_few_channels_on_gpus_only() {
        let limits = Limits::default();
        let seed = Conv2dDesc::new(16, 16, 3, 1);
        let product = |d: &Conv2dDesc, device| match plan(d, [1, d.in_channels, 32, 32], &limits, device) {
            Ok(Plan { path: Path::Winograd { product, .. }, .. }) => product,
            other => panic!("{other:?}"),
        };
        assert_eq!(product(&seed, GPU), Product::Fused);
        assert_ne!(product(&seed, wgpu::DeviceType::Cpu), Product::Fused);
        assert_ne!(product(&Conv2dDesc::new(64, 64, 3, 1), GPU), Product::Fused);
        assert_ne!(product(&Conv2dDesc { fuse: Some(false), ..seed }, GPU), Product::Fused);
    }

    #[test]
    fn grid_folds_past_the_dimension_limit() {
        let limits = Limits::default();
        let [x, y, _] = grid(70_000 * 64, &limits);
        assert!(x <= 65535 && (x as u64) * (y as u64) >= 70_000);
    }
}
