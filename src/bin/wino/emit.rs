//! `wino emit`: every generated kernel as WGSL, Metal Shading Language (the version wgpu uses on an
//! M1), HLSL (the shader model wgpu's DX12 backend needs) or SPIR-V, one file each. The
//! cooperative-matrix kernels are written for WGSL, MSL and SPIR-V; naga 30 has no HLSL for them.

use crate::npy::write_atomically;
use crate::{lib, EmitArgs, Res, Target};
use wgpu_winograd::{all_kernels, backends, tensor_kernels};

pub fn run(a: &EmitArgs) -> Res<()> {
    // A file, device or FIFO named as the directory is refused, not written over.
    if std::fs::metadata(&a.out).is_ok_and(|m| !m.is_dir()) {
        return Err(format!("cannot write into {}: it exists and is not a directory", a.out.display()));
    }
    std::fs::create_dir_all(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    let mut kernels = all_kernels();
    let tensor = tensor_kernels();
    match a.target {
        Target::Hlsl => {
            eprintln!("note: cooperative-matrix kernels have no HLSL in naga 30; skipped {}", tensor.len())
        }
        Target::Wgsl | Target::Msl | Target::Spv => kernels.extend(tensor),
    }
    // Two kernels of one name would silently overwrite each other's file.
    let mut names: Vec<&str> = kernels.iter().map(|k| k.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("two generated kernels are both named '{}'", pair[0]));
    }
    let (mut total_lines, mut total_wgsl) = (0, 0);
    for k in &kernels {
        let (ext, bytes, lines) = match a.target {
            Target::Wgsl => ("wgsl", k.source.clone().into_bytes(), k.lines()),
            Target::Msl => {
                let msl = lib(backends::to_msl(k))?;
                let lines = msl.lines().count();
                ("metal", msl.into_bytes(), lines)
            }
            Target::Hlsl => {
                let hlsl = lib(backends::to_hlsl(k))?;
                let lines = hlsl.lines().count();
                ("hlsl", hlsl.into_bytes(), lines)
            }
            Target::Spv => {
                ("spv", lib(backends::to_spirv(k))?.iter().flat_map(|w| w.to_le_bytes()).collect(), 0)
            }
        };
        let path = a.out.join(format!("{}.{ext}", k.name));
        write_atomically(&path, |w| w.write_all(&bytes))?;
        let size = match a.target {
            Target::Wgsl => format!("{lines} lines"),
            Target::Msl | Target::Hlsl => format!("{lines} lines (from {} WGSL lines)", k.lines()),
            Target::Spv => format!("{} bytes (from {} WGSL lines)", bytes.len(), k.lines()),
        };
        println!("{}  {size}", path.display());
        total_lines += lines;
        total_wgsl += k.lines();
    }
    let written = match a.target {
        Target::Spv => String::new(),
        _ => format!("{total_lines} lines written, "),
    };
    println!("total: {} files, {written}from {total_wgsl} WGSL lines", kernels.len());
    Ok(())
}
