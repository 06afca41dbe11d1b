//! The product core's blocks and its two engines: the register-tiled f32 core
//! (`codegen::product`) with a [`GemmBlock`], or the cooperative-matrix core (`codegen::coop`)
//! with a [`TensorBlock`]. Winograd's batched product and the implicit GEMM both run on an
//! [`Engine`], so the descriptor (`Product`), the tuned choice (`Choice`) and the plan (`Path`)
//! name an engine the one way this file spells it. A leaf module: it depends on nothing but the
//! error type, so every other module may use it.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Workgroup block of the register-tiled product core: `bm` output channels × `bn` columns
/// (tiles or pixels), `bk` reduction steps per stage through workgroup memory; each invocation
/// owns `tm × tn` results in registers. Built only by [`GemmBlock::new`], which checks what the
/// generated kernel assumes, so an invalid block cannot reach a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmBlock {
    bm: u32,
    bn: u32,
    bk: u32,
    tm: u32,
    tn: u32,
}

impl GemmBlock {
    /// Checks and builds a block. The kernel keeps `tm × tn` accumulators as vec4 rows, so `tm`
    /// and `tn` are multiples of 4 (at most 16); `bm` and `bn` are multiples of them; `bk` is
    /// 1 to 64; the workgroup has at most 1024 invocations. The adapter's own workgroup limits
    /// are checked when a shape is planned.
    pub fn new(bm: u32, bn: u32, bk: u32, tm: u32, tn: u32) -> Result<GemmBlock> {
        let bad = |why: &str| {
            Err(Error::InvalidDescriptor(format!(
                "product block {bm}×{bn}×{bk} ({tm}×{tn} per invocation): {why}"
            )))
        };
        if ![tm, tn].iter().all(|&t| t > 0 && t.is_multiple_of(4) && t <= 16) {
            return bad("tm and tn must be 4, 8, 12 or 16");
        }
        if bm == 0 || bn == 0 || !bm.is_multiple_of(tm) || !bn.is_multiple_of(tn) {
            return bad("bm must be a positive multiple of tm and bn of tn");
        }
        if bk == 0 || bk > 64 {
            return bad("bk must be 1 to 64");
        }
        if (bm / tm) * (bn / tn) > 1024 || bm > 512 || bn > 512 {
            return bad("more than 1024 invocations or a side over 512");
        }
        Ok(GemmBlock { bm, bn, bk, tm, tn })
    }

    const fn known(bm: u32, bn: u32, bk: u32, tm: u32, tn: u32) -> GemmBlock {
        GemmBlock { bm, bn, bk, tm, tn }
    }
    /// 16 channels × 64 columns, 4×4 per invocation: for K ≤ 16.
    pub const K16: GemmBlock = GemmBlock::known(16, 64, 16, 4, 4);
    /// 32 × 64, 4×4: for K ≤ 32 and mid-sized products.
    pub const K32: GemmBlock = GemmBlock::known(32, 64, 16, 4, 4);
    /// 64 × 16, 4×4: many channels, few columns (tiny images).
    pub const NARROW: GemmBlock = GemmBlock::known(64, 16, 16, 4, 4);
    /// 64 × 64 × 8, 4×4.
    pub const B64_SHALLOW: GemmBlock = GemmBlock::known(64, 64, 8, 4, 4);
    /// 64 × 64 × 16, 8×4: the workhorse of the big ResNet products (about 32 TFLOP/s on the H100).
    pub const B64: GemmBlock = GemmBlock::known(64, 64, 16, 8, 4);
    /// 64 × 128 × 8, 8×8.
    pub const B64X128_SHALLOW: GemmBlock = GemmBlock::known(64, 128, 8, 8, 8);
    /// 64 × 128 × 16, 8×8.
    pub const B64X128: GemmBlock = GemmBlock::known(64, 128, 16, 8, 8);
    /// 128 × 64 × 8, 8×4.
    pub const B128X64_SHALLOW: GemmBlock = GemmBlock::known(128, 64, 8, 8, 4);
    /// 128 × 128 × 8, 8×8.
    pub const B128_SHALLOW: GemmBlock = GemmBlock::known(128, 128, 8, 8, 8);
    /// 128 × 128 × 16, 8×8.
    pub const B128: GemmBlock = GemmBlock::known(128, 128, 16, 8, 8);
    /// 64 × 64 × 32, 8×4.
    pub const B64_DEEP: GemmBlock = GemmBlock::known(64, 64, 32, 8, 4);
    /// 128 × 64 × 16, 8×4.
    pub const B128X64: GemmBlock = GemmBlock::known(128, 64, 16, 8, 4);

    /// The blocks dispatch and tuning choose from.
    pub const CATALOGUE: [GemmBlock; 12] = [
        GemmBlock::K16,
        GemmBlock::K32,
        GemmBlock::NARROW,
        GemmBlock::B64_SHALLOW,
        GemmBlock::B64,
        GemmBlock::B64X128_SHALLOW,
        GemmBlock::B64X128,
        GemmBlock::B128X64_SHALLOW,
        GemmBlock::B128_SHALLOW,
        GemmBlock::B128,
        GemmBlock::B64_DEEP,
        GemmBlock::B128X64,
    ];

    /// Output channels per workgroup.
    pub fn bm(&self) -> u32 {
        self.bm
    }
    /// Columns per workgroup.
    pub fn bn(&self) -> u32 {
        self.bn
    }
    /// Reduction steps staged in workgroup memory per stage.
    pub fn bk(&self) -> u32 {
        self.bk
    }
    /// Output channels per invocation.
    pub fn tm(&self) -> u32 {
        self.tm
    }
    /// Columns per invocation.
    pub fn tn(&self) -> u32 {
        self.tn
    }
    /// Workgroup size `[x, y]`: columns across, channels down.
    pub fn workgroup_size(&self) -> [u32; 2] {
        [self.bn / self.tn, self.bm / self.tm]
    }
    /// Invocations per workgroup.
    pub fn invocations(&self) -> u32 {
        (self.bm / self.tm) * (self.bn / self.tn)
    }
    /// Workgroup memory the block needs.
    pub fn workgroup_bytes(&self) -> u32 {
        self.bk * (self.bm + self.bn) * 4
    }
}

impl fmt::Display for GemmBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}/{}x{}", self.bm, self.bn, self.bk, self.tm, self.tn)
    }
}

impl FromStr for GemmBlock {
    type Err = Error;
    /// `BMxBNxBK/TMxTN`, as [`Display`](fmt::Display) writes it, e.g. `64x64x16/8x4`.
    fn from_str(s: &str) -> Result<GemmBlock> {
        let bad = || {
            Error::InvalidDescriptor(format!("product block '{s}' is not BMxBNxBK/TMxTN, e.g. 64x64x16/8x4"))
        };
        let v: Vec<u32> =
            s.split(['x', '/']).map(|p| p.trim().parse().map_err(|_| bad())).collect::<Result<_>>()?;
        match v[..] {
            [bm, bn, bk, tm, tn] => GemmBlock::new(bm, bn, bk, tm, tn),
            _ => Err(bad()),
        }
    }
}

/// Workgroup block of the tensor-core (cooperative-matrix) product core: a grid of `wm × wn`
/// subgroups, each owning `fm × fn` fragments of `frag × frag` results, so the workgroup
/// computes `bm = wm·fm·frag` output channels × `bn = wn·fn·frag` columns, `bk` reduction
/// steps at a time through workgroup memory (one staging buffer, or two with
/// [`TensorBlock::double_buffered`]). Built only by [`TensorBlock::new`], which checks what the
/// generated kernel assumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TensorBlock {
    frag: u32,
    wm: u32,
    wn: u32,
    fm: u32,
    fn_: u32,
    bk: u32,
    stages: u32,
}

impl TensorBlock {
    /// Checks and builds a block: fragments of 8 or 16 (the WGSL `coop_mat8x8`/`coop_mat16x16`
    /// shapes), 1 to 8 subgroups, at most 16 fragments per subgroup (their accumulators live in
    /// registers), `bk` a multiple of the fragment from 16 to 64.
    pub fn new(frag: u32, wm: u32, wn: u32, fm: u32, fn_: u32, bk: u32) -> Result<TensorBlock> {
        let bad = |why: &str| {
            Err(Error::InvalidDescriptor(format!("tensor block m{frag} w{wm}x{wn} f{fm}x{fn_} k{bk}: {why}")))
        };
        if frag != 8 && frag != 16 {
            return bad("fragments are 8×8 or 16×16");
        }
        if wm == 0 || wn == 0 || wm * wn > 8 {
            return bad("1 to 8 subgroups");
        }
        if fm == 0 || fn_ == 0 || fm * fn_ > 16 {
            return bad("1 to 16 fragments per subgroup");
        }
        if !(16..=64).contains(&bk) || !bk.is_multiple_of(frag) {
            return bad("bk must be a multiple of the fragment from 16 to 64");
        }
        Ok(TensorBlock { frag, wm, wn, fm, fn_, bk, stages: 1 })
    }

    /// The same block with two staging buffers: the next step is written to one while the
    /// subgroups multiply the other, one barrier per step instead of two, for twice the
    /// operand tiles' workgroup memory.
    pub const fn double_buffered(self) -> TensorBlock {
        TensorBlock { stages: 2, ..self }
    }

    const fn known(frag: u32, wm: u32, wn: u32, fm: u32, fn_: u32, bk: u32) -> TensorBlock {
        TensorBlock { frag, wm, wn, fm, fn_, bk, stages: 1 }
    }
    // Measured on the H100 (BENCHMARKS.md, "Tensor blocks"), TFLOP/s at 4096³ / 256×25088×1024
    // / 256×6272×1024 / 64×100352×256.
    /// 128 × 128 × 32: 2×2 subgroups of 4×4 16×16 fragments (243 / 127 / 106 / –): the
    /// fastest wherever the rows fill it and there are enough workgroups.
    pub const T128: TensorBlock = TensorBlock::known(16, 2, 2, 4, 4, 32);
    /// 128 × 128 × 16, double-buffered: 2×2 subgroups of 4×4 16×16 fragments (173 / 103 / 90 /
    /// –). With f32 activations gathered (the convolutions), the fastest on most ResNet-50 1×1
    /// layers at batch 32 that fill one wave (BENCHMARKS.md, "Tensor blocks").
    pub const T128_DB: TensorBlock = TensorBlock::known(16, 2, 2, 4, 4, 16).double_buffered();
    /// 128 × 128 × 16: 2×4 subgroups of 4×2 16×16 fragments (180 / 107 / 95 / –).
    pub const T128_W8: TensorBlock = TensorBlock::known(16, 2, 4, 4, 2, 16);
    /// 128 × 64 × 32: 2×2 subgroups of 4×2 16×16 fragments (162 / 117 / 119 / –).
    pub const T128X64: TensorBlock = TensorBlock::known(16, 2, 2, 4, 2, 32);
    /// 64 × 128 × 32: 2×4 subgroups of 2×2 16×16 fragments (158 / 115 / 111 / 70), for 64
    /// output channels.
    pub const T64X128: TensorBlock = TensorBlock::known(16, 2, 4, 2, 2, 32);
    /// 64 × 64 × 32: 2×2 subgroups of 2×2 16×16 fragments (135 / 97 / 131 / 65), for few
    /// columns.
    pub const T64: TensorBlock = TensorBlock::known(16, 2, 2, 2, 2, 32);
    /// 64 × 32 × 16: 2×2 subgroups of 2×1 16×16 fragments (76 / 61 / 62 / 48).
    pub const T64X32: TensorBlock = TensorBlock::known(16, 2, 2, 2, 1, 16);
    /// 32 × 64 × 16: 2×2 subgroups of 1×2 16×16 fragments, for few output channels (77 / 60 /
    /// 62 / 42).
    pub const T32X64: TensorBlock = TensorBlock::known(16, 2, 2, 1, 2, 16);
    /// 64 × 64 × 32 of 8×8 fragments (Apple simdgroup matrices): 2×2 subgroups of 4×4.
    pub const T64_M8: TensorBlock = TensorBlock::known(8, 2, 2, 4, 4, 32);
    /// 32 × 32 × 16 of 8×8 fragments: 2×2 subgroups of 2×2.
    pub const T32_M8: TensorBlock = TensorBlock::known(8, 2, 2, 2, 2, 16);

    /// The blocks of 16×16 fragments that dispatch and tuning choose from.
    pub const CATALOGUE_16: [TensorBlock; 8] = [
        TensorBlock::T128,
        TensorBlock::T128_DB,
        TensorBlock::T128_W8,
        TensorBlock::T128X64,
        TensorBlock::T64X128,
        TensorBlock::T64,
        TensorBlock::T64X32,
        TensorBlock::T32X64,
    ];
    /// The blocks of 8×8 fragments.
    pub const CATALOGUE_8: [TensorBlock; 2] = [TensorBlock::T64_M8, TensorBlock::T32_M8];

    /// The catalogue of blocks of `frag`×`frag` fragments (16, else 8).
    pub fn catalogue(frag: u32) -> &'static [TensorBlock] {
        if frag == 16 {
            &TensorBlock::CATALOGUE_16
        } else {
            &TensorBlock::CATALOGUE_8
        }
    }

    /// Fragment side.
    pub fn frag(&self) -> u32 {
        self.frag
    }
    /// Subgroups down (output channels) and across (columns).
    pub fn subgroups(&self) -> [u32; 2] {
        [self.wm, self.wn]
    }
    /// Fragments per subgroup down and across.
    pub fn fragments(&self) -> [u32; 2] {
        [self.fm, self.fn_]
    }
    /// Output channels per workgroup.
    pub fn bm(&self) -> u32 {
        self.wm * self.fm * self.frag
    }
    /// Columns per workgroup.
    pub fn bn(&self) -> u32 {
        self.wn * self.fn_ * self.frag
    }
    /// Reduction steps per stage.
    pub fn bk(&self) -> u32 {
        self.bk
    }
    /// Staging buffers: 1, or 2 when double-buffered.
    pub fn stages(&self) -> u32 {
        self.stages
    }
    /// Row padding of the staged f16 tiles, in elements: 16 bytes, so that consecutive
    /// reduction rows start in different banks.
    pub const PAD: u32 = 8;
    /// Workgroup memory for operands of `operand_bytes` (2 for f16 fragments, 4 for f32): each
    /// stage of both operand tiles, and per subgroup one f32 fragment (rows padded by 4) for
    /// the epilogue.
    pub fn workgroup_bytes(&self, operand_bytes: u32) -> u32 {
        self.stages * self.bk * (self.bm() + Self::PAD + self.bn() + Self::PAD) * operand_bytes
            + self.wm * self.wn * self.frag * (self.frag + 4) * 4
    }
}

/// `128x128x32/w2x2/m16`: the block, its subgroup grid and fragment side; `/db` when
/// double-buffered.
impl fmt::Display for TensorBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}/w{}x{}/m{}", self.bm(), self.bn(), self.bk, self.wm, self.wn, self.frag)?;
        if self.stages == 2 {
            f.write_str("/db")?;
        }
        Ok(())
    }
}

impl FromStr for TensorBlock {
    type Err = Error;
    /// `BMxBNxBK/wWMxWN/mFRAG[/db]`, as [`Display`](fmt::Display) writes it.
    fn from_str(s: &str) -> Result<TensorBlock> {
        let bad = || {
            Error::InvalidDescriptor(format!(
                "tensor block '{s}' is not BMxBNxBK/wWMxWN/mFRAG, e.g. 128x128x32/w2x2/m16"
            ))
        };
        let mut parts: Vec<&str> = s.split('/').collect();
        let double = parts.last() == Some(&"db");
        if double {
            parts.pop();
        }
        let nums = |p: &str| -> Result<Vec<u32>> {
            p.split('x').map(|v| v.trim().parse().map_err(|_| bad())).collect()
        };
        let [dims, w, m] = parts[..] else { return Err(bad()) };
        let (dims, w) = (nums(dims)?, nums(w.strip_prefix('w').ok_or_else(bad)?)?);
        let frag: u32 = m.strip_prefix('m').ok_or_else(bad)?.parse().map_err(|_| bad())?;
        match (&dims[..], &w[..]) {
            (&[bm, bn, bk], &[wm, wn]) if frag > 0 && wm > 0 && wn > 0 => {
                if !bm.is_multiple_of(wm * frag) || !bn.is_multiple_of(wn * frag) {
                    return Err(bad());
                }
                let b = TensorBlock::new(frag, wm, wn, bm / (wm * frag), bn / (wn * frag), bk)?;
                Ok(if double { b.double_buffered() } else { b })
            }
            _ => Err(bad()),
        }
    }
}

/// Which core computes a product, with its block: the register-tiled f32 core, or the
/// cooperative-matrix core (tensor cores, simdgroup matrices). Winograd's batched product and
/// the implicit GEMM take the same engines, so "Winograd on tensor cores" is a Winograd choice
/// with a [`Engine::Coop`], not a separate family of variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// The register-tiled core on the f32 units (every adapter).
    Registers(GemmBlock),
    /// The cooperative-matrix core: f16 operands (scaled) for `Precision::High`, f32 ones
    /// (Apple's 8×8 fragments) for `Precision::Highest`, where the adapter has them.
    Coop(TensorBlock),
}

impl Engine {
    /// `[bm, bn, bk]`: output channels (or gradient rows) and columns per workgroup, and
    /// reduction steps per stage.
    pub fn dims(&self) -> [u32; 3] {
        match self {
            Engine::Registers(b) => [b.bm(), b.bn(), b.bk()],
            Engine::Coop(b) => [b.bm(), b.bn(), b.bk()],
        }
    }

    /// Whether the block is in its core's catalogue (the blocks the generator ships and
    /// dispatch chooses from): what the tune cache trusts.
    pub fn catalogued(&self) -> bool {
        match self {
            Engine::Registers(b) => GemmBlock::CATALOGUE.contains(b),
            Engine::Coop(b) => TensorBlock::catalogue(b.frag()).contains(b),
        }
    }

    /// Whether it runs on cooperative matrices.
    pub fn is_coop(&self) -> bool {
        matches!(self, Engine::Coop(_))
    }
}

impl From<GemmBlock> for Engine {
    fn from(b: GemmBlock) -> Engine {
        Engine::Registers(b)
    }
}

impl From<TensorBlock> for Engine {
    fn from(b: TensorBlock) -> Engine {
        Engine::Coop(b)
    }
}

/// The block as its type writes it: `64x64x16/8x4`, or `128x128x32/w2x2/m16` (the subgroup
/// grid and fragment side name the cooperative-matrix core).
impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Registers(b) => b.fmt(f),
            Engine::Coop(b) => b.fmt(f),
        }
    }
}

impl FromStr for Engine {
    type Err = Error;
    /// A block as [`Display`](fmt::Display) writes it: one with a subgroup grid (`/w`) is a
    /// tensor block, anything else a register block. The one place that tells them apart.
    fn from_str(s: &str) -> Result<Engine> {
        if s.contains("/w") {
            s.parse().map(Engine::Coop)
        } else {
            s.parse().map(Engine::Registers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_checked_where_they_are_built() {
        for (bm, bn, bk, tm, tn) in
            [(0, 64, 16, 4, 4), (16, 60, 16, 4, 6), (48, 64, 16, 6, 4), (64, 64, 0, 4, 4), (64, 64, 16, 0, 4)]
        {
            assert!(GemmBlock::new(bm, bn, bk, tm, tn).is_err(), "{bm} {bn} {bk} {tm} {tn}");
        }
        for b in GemmBlock::CATALOGUE {
            assert_eq!(GemmBlock::new(b.bm, b.bn, b.bk, b.tm, b.tn).unwrap(), b);
            assert_eq!(b.to_string().parse::<GemmBlock>().unwrap(), b);
        }
    }

    #[test]
    fn engines_read_back_as_they_are_written() {
        let all = GemmBlock::CATALOGUE
            .map(Engine::Registers)
            .into_iter()
            .chain(TensorBlock::CATALOGUE_16.map(Engine::Coop))
            .chain(TensorBlock::CATALOGUE_8.map(Engine::Coop));
        for e in all {
            assert!(e.catalogued(), "{e}");
            assert_eq!(e.to_string().parse::<Engine>().unwrap(), e);
        }
        assert!("64x64x16".parse::<Engine>().is_err());
        assert!("64x64x16/w2x2".parse::<Engine>().is_err());
    }
}
