//! The tune cache: measured Winograd choices per adapter and convolution, kept in a small text
//! file that `auto` reads before its heuristics. Storage only; `tune` does the measuring.
//!
//! One line per adapter and convolution: `adapter<TAB>key<TAB>choice`, where the choice is
//! `winograd M LAYOUT fused|BLOCK` or `gemm BLOCK` (blocks as `64x64x16/8x4`), and the key names
//! everything that changes a plan (shape, channels, kernel, stride, dilation, padding and its
//! mode, groups, dtype, format).
//! The file lives at `$WGPU_WINOGRAD_CACHE` if set, else under the user's cache directory as
//! `wgpu-winograd/tune.tsv`.

use crate::desc::{Conv2dDesc, GemmBlock, WINOGRAD_TILES};
use crate::error::{Error, Result};
use crate::plan::{Tuned, WinogradKernels};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

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

/// The adapter part of a key.
pub(crate) fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!("{} {:?} {}", info.name, info.backend, info.driver_info).replace('\t', " ")
}

/// The convolution part of a key: everything that changes a plan.
pub(crate) fn conv_key(desc: &Conv2dDesc, [n, c, h, w]: [usize; 4]) -> String {
    let p = desc.padding;
    format!(
        "n{n}_c{c}_h{h}_w{w}_k{}_r{}x{}_s{}x{}_d{}x{}_p{}.{}.{}.{}{}_g{}_{}_{}{}",
        desc.out_channels,
        desc.kernel[0],
        desc.kernel[1],
        desc.stride[0],
        desc.stride[1],
        desc.dilation[0],
        desc.dilation[1],
        p.top,
        p.bottom,
        p.left,
        p.right,
        desc.padding_mode,
        desc.groups,
        desc.dtype,
        desc.data_format,
        // A `high` measurement (tensor blocks among the candidates) says nothing about
        // `highest`; the default keeps the keys of earlier caches.
        match desc.precision {
            crate::desc::Precision::Highest => "",
            crate::desc::Precision::High => "_high",
        }
    )
}

type Table = HashMap<(String, String), Tuned>;

fn parse(text: &str) -> Table {
    let mut table = Table::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [adapter, key, choice] = f[..] else { continue };
        let Ok(choice) = choice.parse::<Tuned>() else { continue };
        // Only choices the current generator can build are trusted.
        let known = |b: &GemmBlock| GemmBlock::CATALOGUE.contains(b);
        let trusted = match choice {
            Tuned::Gemm { block } => known(&block),
            Tuned::Tensor { block } => {
                crate::desc::TensorBlock::CATALOGUE_16.contains(&block)
                    || crate::desc::TensorBlock::CATALOGUE_8.contains(&block)
            }
            Tuned::Winograd { m, kernels, .. } => {
                WINOGRAD_TILES.iter().any(|t| t.0 == m)
                    && match kernels {
                        WinogradKernels::Fused => true,
                        WinogradKernels::Separate(b) => known(&b),
                    }
            }
        };
        if trusted {
            table.insert((adapter.into(), key.into()), choice);
        }
    }
    table
}

fn format_line((adapter, key): &(String, String), t: &Tuned) -> String {
    format!("{adapter}\t{key}\t{t}")
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = cache_path().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        Mutex::new(parse(&text))
    })
}

/// The cached choice for this adapter and convolution, if `tune` has run for it.
pub(crate) fn lookup(adapter: &str, key: &str) -> Option<Tuned> {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.get(&(adapter.to_string(), key.to_string())).copied()
}

/// Records a choice and rewrites the cache file (write then rename, so a crash never leaves a
/// half-written cache).
pub(crate) fn store(adapter: String, key: String, choice: Tuned) -> Result<()> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.insert((adapter, key), choice);
    let Some(path) = cache_path() else { return Ok(()) };
    let mut lines: Vec<String> = t.iter().map(|(k, v)| format_line(k, v)).collect();
    lines.sort();
    write_atomically(&path, &(lines.join("\n") + "\n"))
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let io = |e: std::io::Error| Error::Io(format!("writing the tune cache {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::TileLayout;

    #[test]
    fn cache_lines_round_trip_and_reject_unknown_blocks() {
        let b = GemmBlock::B64_SHALLOW;
        let text = format!(
            "gpu\tshape\twinograd 4 r_6_6_16 {b}\ngpu\tother\twinograd 4 r_6_6_16 16x16x16/4x4\nbroken line\n\
             gpu\tsmall\twinograd 2 r_16_6_6 fused\ngpu\tone\tgemm 128x64x16/8x4\ngpu\told\t4\tr_6_6_16\tfused\n"
        );
        let t = parse(&text);
        assert_eq!(t.len(), 3);
        let tiled =
            Tuned::Winograd { m: 4, layout: TileLayout::R6_6_16, kernels: WinogradKernels::Separate(b) };
        assert_eq!(t[&("gpu".into(), "shape".into())], tiled);
        assert_eq!(format_line(&("gpu".into(), "shape".into()), &tiled), text.lines().next().unwrap());
        let fused = Tuned::Winograd { m: 2, layout: TileLayout::R16_6_6, kernels: WinogradKernels::Fused };
        assert_eq!(t[&("gpu".into(), "small".into())], fused);
        assert_eq!(t[&("gpu".into(), "one".into())], Tuned::Gemm { block: GemmBlock::B128X64 });
    }

    #[test]
    fn keys_tell_apart_everything_that_changes_a_plan() {
        let d = Conv2dDesc::new(64, 64, 3, 1);
        let shape = [1, 64, 32, 32];
        let key = conv_key(&d, shape);
        for other in [
            Conv2dDesc { stride: [2, 2], ..d.clone() },
            Conv2dDesc { dilation: [2, 2], ..d.clone() },
            Conv2dDesc { groups: 2, ..d.clone() },
            Conv2dDesc::new(64, 64, 3, 2),
            Conv2dDesc { precision: crate::desc::Precision::High, ..d.clone() },
        ] {
            assert_ne!(conv_key(&other, shape), key);
        }
    }
}
