//! Measured dispatch: time the Winograd candidates (tile, layout, product block) for a shape on
//! the adapter, keep the winner in a cache file, and let `auto` read it before its heuristics.
//!
//! The cache is a small text file, one line per adapter and shape:
//! `adapter<TAB>shape<TAB>m<TAB>layout<TAB>product`, where product is `fused` or the product
//! block as `bm bn bk tm tn`. It lives at `$WGPU_WINOGRAD_CACHE` if
//! set, else under the user's cache directory as `wgpu-winograd/tune.tsv`.

use crate::codegen::GemmTile;
use crate::desc::{Conv2dDesc, TileLayout};
use crate::dispatch::{self, Product, WINOGRAD_TILES};
use crate::error::{Error, Result};
use crate::runtime::{Context, Conv2d};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// A tuned Winograd choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Output tile side.
    pub m: usize,
    /// Winograd-domain layout.
    pub layout: TileLayout,
    /// Fused kernel or product block.
    pub product: Product,
}

/// One timed candidate.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// What was timed.
    pub choice: Choice,
    /// Median time per call (GPU timestamps, else wall).
    pub ms: f64,
}

/// Where the cache file lives.
pub fn cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WGPU_WINOGRAD_CACHE") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home.map(|h| h.join("Library/Caches"))
    } else if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or(home.map(|h| h.join(".cache")))
    };
    base.map(|b| b.join("wgpu-winograd").join("tune.tsv"))
}

fn adapter_key(ctx: &Context) -> String {
    let i = ctx.adapter_info();
    format!("{} {:?} {}", i.name, i.backend, i.driver_info).replace('\t', " ")
}

fn shape_key(desc: &Conv2dDesc, [n, c, h, w]: [usize; 4]) -> String {
    format!(
        "n{n}_c{c}_h{h}_w{w}_k{}_r{}_{}_{}",
        desc.out_channels, desc.kernel[0], desc.dtype, desc.data_format
    )
}

type Table = HashMap<(String, String), Choice>;

fn parse(text: &str) -> Table {
    let mut table = Table::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [adapter, shape, m, layout, product] = f[..] else { continue };
        let g: Vec<u32> = product.split(' ').filter_map(|v| v.parse().ok()).collect();
        let product = match g[..] {
            _ if product == "fused" => Product::Fused,
            [bm, bn, bk, tm, tn] => Product::Gemm(GemmTile { bm, bn, bk, tm, tn }),
            _ => continue,
        };
        let (Ok(m), Ok(layout)) = (m.parse(), layout.parse()) else { continue };
        // Only entries the current generator can build are trusted.
        let known = match product {
            Product::Gemm(g) => GemmTile::ALL.contains(&g),
            Product::Fused => true,
        };
        if known && WINOGRAD_TILES.iter().any(|t| t.0 == m) {
            table.insert((adapter.into(), shape.into()), Choice { m, layout, product });
        }
    }
    table
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = cache_path().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        Mutex::new(parse(&text))
    })
}

/// The cached choice for this adapter and shape, if `tune` has run for it.
pub fn lookup(ctx: &Context, desc: &Conv2dDesc, shape: [usize; 4]) -> Option<Choice> {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.get(&(adapter_key(ctx), shape_key(desc, shape))).copied()
}

fn store(ctx: &Context, desc: &Conv2dDesc, shape: [usize; 4], choice: Choice) -> Result<()> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.insert((adapter_key(ctx), shape_key(desc, shape)), choice);
    let Some(path) = cache_path() else { return Ok(()) };
    let mut lines: Vec<String> = t
        .iter()
        .map(|((a, s), c)| {
            let product = match c.product {
                Product::Fused => "fused".to_string(),
                Product::Gemm(g) => format!("{} {} {} {} {}", g.bm, g.bn, g.bk, g.tm, g.tn),
            };
            format!("{a}\t{s}\t{}\t{}\t{product}", c.m, c.layout)
        })
        .collect();
    lines.sort();
    let io = |e: std::io::Error| Error::InvalidShape(format!("writing tuning cache {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Write then rename, so a crash never leaves a half-written cache.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, lines.join("\n") + "\n").map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Times every Winograd candidate the descriptor leaves open (tile, layout, fused kernel or
/// product block) on
/// `shape`, stores the fastest in the cache, and returns all timings, fastest first.
/// Timing uses GPU timestamps where the adapter has them, else wall time.
pub fn tune(
    ctx: &Context,
    desc: &Conv2dDesc,
    weights: &[f32],
    bias: Option<&[f32]>,
    shape: [usize; 4],
    iterations: usize,
) -> Result<Vec<Candidate>> {
    if !dispatch::winograd_applies(desc) || desc.algo == crate::Algo::Direct {
        return Err(Error::Unsupported("tuning covers Winograd convolutions only".into()));
    }
    let r = desc.kernel[0];
    let tiles: Vec<usize> = match desc.tile {
        Some(m) => vec![m],
        None => WINOGRAD_TILES.iter().filter(|t| t.1 == r && t.0 <= 4).map(|t| t.0).collect(),
    };
    let layouts = match desc.layout {
        TileLayout::Auto => vec![TileLayout::R16_6_6, TileLayout::R6_6_16],
        fixed => vec![fixed],
    };
    let limits = ctx.limits();
    let fits = |g: &GemmTile| dispatch::workgroup_fits(g.workgroup_size(), g.workgroup_bytes(), &limits);
    let mut products: Vec<Product> = match desc.gemm {
        Some(g) => vec![Product::Gemm(g)],
        None => GemmTile::ALL.iter().filter(|g| fits(g)).map(|&g| Product::Gemm(g)).collect(),
    };
    match desc.fuse {
        Some(true) => products = vec![Product::Fused],
        None if desc.gemm.is_none() => products.push(Product::Fused),
        _ => {}
    }
    let time = |choice: Choice, iterations: usize| -> Result<f64> {
        let (fuse, gemm) = match choice.product {
            Product::Fused => (Some(true), None),
            Product::Gemm(g) => (Some(false), Some(g)),
        };
        let forced = Conv2dDesc {
            algo: crate::Algo::Winograd,
            tile: Some(choice.m),
            layout: choice.layout,
            gemm,
            fuse,
            residual: false,
            ..desc.clone()
        };
        let t = Conv2d::new(ctx, forced, weights, bias)?.benchmark(shape, iterations)?;
        Ok(t.gpu_ms.unwrap_or(t.wall_ms))
    };
    let mut results = Vec::new();
    for &m in &tiles {
        for &layout in &layouts {
            for &product in &products {
                let choice = Choice { m, layout, product };
                results.push(Candidate { choice, ms: time(choice, iterations)? });
            }
        }
    }
    // Small problems time within noise of each other: the leaders are timed again and keep
    // the slower of their two figures, so one lucky run cannot pick the cached winner.
    results.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    for c in results.iter_mut().take(3) {
        c.ms = c.ms.max(time(c.choice, iterations)?);
    }
    results.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    let best = results.first().ok_or_else(|| Error::Unsupported("no candidate fits this adapter".into()))?;
    store(ctx, desc, shape, best.choice)?;
    Ok(results)
}

/// Applies a cached choice to what the descriptor leaves open.
pub fn apply(ctx: &Context, desc: &Conv2dDesc, shape: [usize; 4]) -> Conv2dDesc {
    let mut d = desc.clone();
    if let Some(c) = (desc.algo != crate::Algo::Direct).then(|| lookup(ctx, desc, shape)).flatten() {
        d.tile = d.tile.or(Some(c.m));
        if d.layout == TileLayout::Auto {
            d.layout = c.layout;
        }
        if d.gemm.is_none() && d.fuse.is_none() {
            match c.product {
                Product::Fused => d.fuse = Some(true),
                Product::Gemm(g) => d.gemm = Some(g),
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lines_round_trip_and_reject_unknown_blocks() {
        let g = GemmTile::ALL[3];
        let text = format!(
            "gpu\tshape\t4\tr_6_6_16\t{} {} {} {} {}\ngpu\tother\t4\tr_6_6_16\t1 2 3 4 5\nbroken line\n\
             gpu\tsmall\t2\tr_16_6_6\tfused\n",
            g.bm, g.bn, g.bk, g.tm, g.tn
        );
        let t = parse(&text);
        assert_eq!(t.len(), 2);
        let tiled = Choice { m: 4, layout: TileLayout::R6_6_16, product: Product::Gemm(g) };
        assert_eq!(t[&("gpu".into(), "shape".into())], tiled);
        let fused = Choice { m: 2, layout: TileLayout::R16_6_6, product: Product::Fused };
        assert_eq!(t[&("gpu".into(), "small".into())], fused);
    }
}
