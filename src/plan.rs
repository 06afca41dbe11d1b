//! A resolved plan for one call, for inspection (`Conv2d::plan`, `wino conv` prints it): the
//! path (algorithm and its parameters), the shapes, and how the batch is split so that every
//! binding and grid fits the adapter. Plain data: the dispatch ladder makes it, the algorithm
//! modules turn it into passes.

use crate::blocks::Engine;
use crate::desc::{Algo, Conv2dDesc, Precision, Product, TileLayout};
use std::fmt;

/// The cooperative-matrix products an adapter offers, as the planner needs them: which
/// fragments exist (from `Adapter::cooperative_matrix_properties`, on a device with
/// `EXPERIMENTAL_COOPERATIVE_MATRIX`, `SHADER_F16` and `SUBGROUP`) and the subgroup size the
/// generated workgroups assume. `Default` is none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct TensorCaps {
    /// 16×16×16 fragments with f16 A/B and f32 C (Vulkan tensor cores).
    pub f16_16: bool,
    /// 8×8×8 fragments with f16 A/B and f32 C (Apple simdgroup matrices).
    pub f16_8: bool,
    /// 8×8×8 fragments with f32 A/B/C (Apple simdgroup matrices).
    pub f32_8: bool,
    /// Invocations per subgroup, where the adapter has one fixed size.
    pub subgroup: u32,
}

impl TensorCaps {
    /// The fragment side for f16 operands, preferring 16×16.
    pub fn f16_frag(&self) -> Option<u32> {
        if self.subgroup == 0 {
            None
        } else if self.f16_16 {
            Some(16)
        } else if self.f16_8 {
            Some(8)
        } else {
            None
        }
    }
    /// The fragment side for f32 operands.
    pub fn f32_frag(&self) -> Option<u32> {
        (self.subgroup != 0 && self.f32_8).then_some(8)
    }
    /// The fragment side a precision computes in: f16 operands for `High`, f32 for `Highest`.
    pub fn frag(&self, precision: Precision) -> Option<u32> {
        match precision {
            Precision::High => self.f16_frag(),
            Precision::Highest => self.f32_frag(),
        }
    }
    /// `16×16 f16→f32, 8×8 f32` or `none`.
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        if self.f16_16 {
            v.push("16×16 f16→f32");
        }
        if self.f16_8 {
            v.push("8×8 f16→f32");
        }
        if self.f32_8 {
            v.push("8×8 f32");
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }
}

/// How the Winograd path computes its product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WinogradKernels {
    /// One kernel that transforms, multiplies and transforms back in registers; for few
    /// channels, where launches and memory round trips dominate.
    Fused,
    /// Input transform, batched product on this engine, output transform, through
    /// Winograd-domain buffers in memory. On the cooperative-matrix engine, f16 operands are
    /// scaled per tile element for `Precision::High`, f32 ones (Apple's 8×8 fragments) serve
    /// `Precision::Highest`.
    Separate(Engine),
}

impl WinogradKernels {
    /// The descriptor option that forces these kernels.
    pub fn product(self) -> Product {
        match self {
            WinogradKernels::Fused => Product::Fused,
            WinogradKernels::Separate(e) => Product::Engine(e),
        }
    }

    /// The batched product's engine (none for the fused kernel, which has no separate product).
    pub fn engine(self) -> Option<Engine> {
        match self {
            WinogradKernels::Fused => None,
            WinogradKernels::Separate(e) => Some(e),
        }
    }
}

impl fmt::Display for WinogradKernels {
    /// `fused`, or the engine's block as its type writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WinogradKernels::Fused => f.write_str("fused"),
            WinogradKernels::Separate(e) => e.fmt(f),
        }
    }
}

impl std::str::FromStr for WinogradKernels {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> crate::error::Result<WinogradKernels> {
        match s {
            "fused" => Ok(WinogradKernels::Fused),
            engine => engine.parse().map(WinogradKernels::Separate),
        }
    }
}

/// The concrete choice for one convolution on one adapter: what a plan runs (`Path` holds it),
/// what `tune` measures and caches, and what the planner takes back from the cache as its own
/// input (through [`Choice::forced`]; what the descriptor forces still wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Choice {
    /// Winograd with this tile, layout and kernels.
    Winograd {
        /// Output tile side.
        m: usize,
        /// Winograd-domain layout.
        layout: TileLayout,
        /// Fused, or separate with the batched product's engine.
        kernels: WinogradKernels,
    },
    /// Implicit GEMM (a plain GEMM for 1×1) on this engine.
    Gemm(Engine),
}

impl Choice {
    /// The algorithm it runs.
    pub fn algo(&self) -> Algo {
        match self {
            Choice::Winograd { .. } => Algo::Winograd,
            Choice::Gemm(_) => Algo::Gemm,
        }
    }

    /// The product's engine (none for Winograd's fused kernel).
    pub fn engine(&self) -> Option<Engine> {
        match *self {
            Choice::Winograd { kernels, .. } => kernels.engine(),
            Choice::Gemm(e) => Some(e),
        }
    }

    /// The descriptor option that forces its product.
    pub fn product(&self) -> Product {
        match *self {
            Choice::Winograd { kernels, .. } => kernels.product(),
            Choice::Gemm(e) => Product::Engine(e),
        }
    }

    /// The descriptor that forces this choice onto `desc`, or `None` where it contradicts
    /// what `desc` already forces (the descriptor wins). A cached choice is planned through
    /// this descriptor, so it passes exactly the checks a forced choice passes; `tune` times
    /// its candidates through it too, and a channel slice keeps its plan's choice through it.
    /// A residual changes no choice and is left as it is.
    pub fn forced(&self, desc: &Conv2dDesc) -> Option<Conv2dDesc> {
        let (algo, product) = (self.algo(), self.product());
        let agrees = desc.algo.is_none_or(|a| a == algo)
            && match desc.product {
                None => true,
                Some(Product::Separate) => matches!(product, Product::Engine(_)),
                Some(p) => p == product,
            };
        let winograd_agrees = match *self {
            Choice::Winograd { m, layout, .. } => {
                desc.tile.is_none_or(|t| t == m) && desc.layout.is_none_or(|l| l == layout)
            }
            Choice::Gemm(_) => !desc.forces_winograd(),
        };
        if !(agrees && winograd_agrees) {
            return None;
        }
        let mut forced = Conv2dDesc { algo: Some(algo), product: Some(product), ..desc.clone() };
        match *self {
            Choice::Winograd { m, layout, .. } => {
                forced.tile = Some(m);
                forced.layout = Some(layout);
            }
            // A block of the f32 cores computes in f32.
            Choice::Gemm(Engine::Registers(_)) => forced.precision = Precision::Highest,
            Choice::Gemm(Engine::Coop(_)) => {}
        }
        Some(forced)
    }
}

/// `winograd 4 r_16_6_6 64x64x16/8x4`, `winograd 2 r_6_6_16 fused`, `gemm 128x64x16/8x4`,
/// `gemm 128x128x32/w2x2/m16`: the tune cache's spelling ([`FromStr`](std::str::FromStr)
/// reads it back).
impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Winograd { m, layout, kernels } => write!(f, "winograd {m} {layout} {kernels}"),
            Choice::Gemm(engine) => write!(f, "gemm {engine}"),
        }
    }
}

impl std::str::FromStr for Choice {
    type Err = crate::error::Error;
    /// What [`Display`](fmt::Display) writes, and `tensor BLOCK`, the spelling of a GEMM on
    /// cooperative matrices in caches written before [`Engine`] (still read, never written).
    fn from_str(s: &str) -> crate::error::Result<Choice> {
        let bad = || crate::error::Error::InvalidDescriptor(format!("not a tuned choice: '{s}'"));
        let words: Vec<&str> = s.split(' ').collect();
        match words[..] {
            ["gemm", engine] => Ok(Choice::Gemm(engine.parse()?)),
            ["tensor", block] => Ok(Choice::Gemm(Engine::Coop(block.parse()?))),
            ["winograd", m, layout, kernels] => Ok(Choice::Winograd {
                m: m.parse().map_err(|_| bad())?,
                layout: layout.parse()?,
                kernels: kernels.parse()?,
            }),
            _ => Err(bad()),
        }
    }
}

/// The path a call takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// Winograd or the implicit GEMM through the product core: the choice, and what follows
    /// from the descriptor and adapter rather than being chosen.
    Core {
        /// Algorithm, tile, layout, kernels, engine and block: what `tune` would store.
        choice: Choice,
        /// The kernel `[kh, kw]` (Winograd's F(m×m, r×r) has r = kh = kw).
        kernel: [usize; 2],
        /// What the product computes in: `Highest` on the register engine; on the
        /// cooperative-matrix engine f16 operands scaled per tensor (GEMM) or per tile
        /// element (Winograd) for `High`, f32 fragments for `Highest`.
        precision: Precision,
    },
    /// The depthwise kernel.
    Depthwise,
    /// The direct convolution.
    Direct,
}

impl Path {
    /// The concrete choice this path makes, as `tune` stores it (none for depthwise and
    /// direct, which have nothing to choose).
    pub fn choice(&self) -> Option<Choice> {
        match *self {
            Path::Core { choice, .. } => Some(choice),
            Path::Depthwise | Path::Direct => None,
        }
    }

    /// The product's engine (none for Winograd's fused kernel, depthwise and direct).
    pub fn engine(&self) -> Option<Engine> {
        self.choice().and_then(|c| c.engine())
    }

    /// Winograd's output tile side m (none off the Winograd path).
    pub fn winograd_tile(&self) -> Option<usize> {
        match self.choice() {
            Some(Choice::Winograd { m, .. }) => Some(m),
            _ => None,
        }
    }

    /// Whether its product runs on cooperative matrices.
    pub fn on_tensor_cores(&self) -> bool {
        self.engine().is_some_and(|e| e.is_coop())
    }

    /// The algorithm this path runs.
    pub fn algo(&self) -> Algo {
        match self {
            Path::Core { choice, .. } => choice.algo(),
            Path::Depthwise => Algo::Depthwise,
            Path::Direct => Algo::Direct,
        }
    }
}

/// `winograd F(4×4,3×3) layout r_16_6_6, product block 64x64x16/8x4`, `gemm, product block …`,
/// `depthwise`, `direct`.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Path::Core { choice, kernel: [r, _], precision } = *self else {
            return f.write_str(if *self == Path::Depthwise { "depthwise" } else { "direct" });
        };
        match choice {
            Choice::Winograd { m, layout, kernels } => {
                write!(f, "winograd F({m}×{m},{r}×{r}) layout {layout}, ")?;
                match kernels {
                    WinogradKernels::Fused => f.write_str("fused kernel"),
                    WinogradKernels::Separate(Engine::Registers(b)) => write!(f, "product block {b}"),
                    WinogradKernels::Separate(Engine::Coop(b)) => write!(
                        f,
                        "product on cooperative matrices{}, block {b}",
                        if b.frag() == 16 { " (f16 operands scaled per tile element, f32 sums)" } else { "" }
                    ),
                }
            }
            Choice::Gemm(Engine::Registers(b)) => write!(f, "gemm, product block {b}"),
            Choice::Gemm(Engine::Coop(b)) => match precision {
                Precision::High => write!(
                    f,
                    "gemm on cooperative matrices (f16 operands scaled per tensor, f32 sums), block {b}"
                ),
                Precision::Highest => write!(f, "gemm on cooperative matrices (f32), block {b}"),
            },
        }
    }
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
    /// Images per pass; the batch is split into chunks of this many.
    pub chunk: usize,
    /// Rows per pass: tile rows (Winograd) or output rows (the other paths); less than the
    /// image's when one image must be split into bands.
    pub band_rows: usize,
    /// Output columns per pass: the image's width, or less where one output row exceeds the
    /// grid (the direct and GEMM paths then run each row in segments).
    pub band_cols: usize,
    /// Output channels per pass: all of them, unless their weights (raw or prepared) exceed a
    /// binding, when the convolution runs as several convolutions over slices of its output
    /// channels (whole groups each).
    pub channel_slice: usize,
    /// Why the requested precision did not run as asked (`high` on an adapter without
    /// cooperative matrices runs `highest`, as PyTorch runs f32 without TF32), if it did not.
    pub precision_note: Option<String>,
    /// Output rows per staged band, where one image's input or output exceeds a binding: each
    /// band's input rows (halo and padding included) are copied into a binding-sized buffer and
    /// run as a convolution of their own, whose output rows are copied back. The other fields
    /// but `input` and `output` then describe the widest band's convolution.
    pub staged_rows: Option<usize>,
}

/// `winograd F(4×4,3×3) layout r_16_6_6, product block 64x64x16/8x4; chunk 2 images, 1 pass`.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let unit = if self.path.algo() == Algo::Winograd { "tile row" } else { "output row" };
        if let Some(rows) = self.staged_rows {
            let bands = self.output[2].div_ceil(rows.max(1));
            write!(f, "{}; 1 image at a time in {bands} staged band", self.path)?;
            write!(
                f,
                "{} of {}, each copied through binding-sized buffers",
                if bands == 1 { "" } else { "s" },
                plural(rows, "output row")
            )?;
            return match &self.precision_note {
                Some(note) => write!(f, "; {note}"),
                None => Ok(()),
            };
        }
        let split = if self.band_cols < self.output[3] {
            format!(
                "1 image at a time in bands of {}, each in segments of {}",
                plural(self.band_rows, unit),
                plural(self.band_cols, "column")
            )
        } else if self.band_rows < self.rows_per_image() {
            format!("1 image at a time in bands of {}", plural(self.band_rows, unit))
        } else {
            format!("chunk {}", plural(self.chunk, "image"))
        };
        let passes = self.pieces().len() * self.slices().len();
        if self.channel_slice < self.output[1] {
            write!(f, "{}; output channels in slices of {}", self.path, self.channel_slice)?;
            write!(f, ", {split}, {passes} pass{}", if passes == 1 { "" } else { "es" })?;
        } else {
            write!(f, "{}; {split}, {passes} pass{}", self.path, if passes == 1 { "" } else { "es" })?;
        }
        match &self.precision_note {
            Some(note) => write!(f, "; {note}"),
            None => Ok(()),
        }
    }
}

/// One pass through the pipeline: a run of whole images, or a band of tile rows of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// First image of the batch in this piece.
    pub first_image: usize,
    /// Images in this piece.
    pub images: usize,
    /// First tile row (Winograd) or output row (the other paths).
    pub tile_row0: usize,
    /// Tile rows (Winograd) or output rows (the other paths) in this piece.
    pub tile_rows: usize,
    /// First output column (0 unless the plan runs rows in segments).
    pub col0: usize,
    /// Output columns in this piece.
    pub cols: usize,
}

impl Plan {
    /// Whether its product runs on cooperative matrices.
    pub fn on_tensor_cores(&self) -> bool {
        self.path.on_tensor_cores()
    }

    /// Tiles per image side, `[tiles_h, tiles_w]` (Winograd only; zero otherwise).
    pub fn tiles_hw(&self) -> [usize; 2] {
        match self.path.winograd_tile() {
            Some(m) => [self.output[2].div_ceil(m), self.output[3].div_ceil(m)],
            None => [0, 0],
        }
    }

    /// The output-channel slices `(first channel, channels)`, in order.
    pub fn slices(&self) -> Vec<(usize, usize)> {
        let k = self.output[1];
        let step = self.channel_slice.clamp(1, k.max(1));
        (0..k).step_by(step).map(|k0| (k0, step.min(k - k0))).collect()
    }

    /// Rows per image in the unit of [`Plan::band_rows`]: tile rows (Winograd) or output rows.
    pub fn rows_per_image(&self) -> usize {
        match self.path.algo() {
            Algo::Winograd => self.tiles_hw()[0],
            _ => self.output[2],
        }
    }

    /// Whether one image is split into bands of rows (or rows into segments).
    pub fn in_bands(&self) -> bool {
        self.band_rows < self.rows_per_image() || self.band_cols < self.output[3]
    }

    /// The first output row and the output rows a piece covers.
    pub fn output_rows(&self, piece: &Piece) -> (usize, usize) {
        match self.path.winograd_tile() {
            Some(m) => {
                let oy0 = (piece.tile_row0 * m).min(self.output[2]);
                (oy0, (piece.tile_rows * m).min(self.output[2] - oy0))
            }
            _ => (piece.tile_row0, piece.tile_rows),
        }
    }

    /// The batch pieces of each slice, in order.
    pub fn pieces(&self) -> Vec<Piece> {
        let n = self.input[0];
        let th = self.rows_per_image().max(1);
        let ow = self.output[3].max(1);
        let band_cols = if self.band_cols == 0 { ow } else { self.band_cols.min(ow) };
        let mut out = Vec::new();
        for first_image in (0..n).step_by(self.chunk.max(1)) {
            for tile_row0 in (0..th).step_by(self.band_rows.max(1)) {
                for col0 in (0..ow).step_by(band_cols) {
                    out.push(Piece {
                        first_image,
                        images: self.chunk.min(n - first_image),
                        tile_row0,
                        tile_rows: self.band_rows.min(th - tile_row0),
                        col0,
                        cols: band_cols.min(ow - col0),
                    });
                }
            }
        }
        out
    }
}
