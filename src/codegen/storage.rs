//! How activations sit in memory, and the small accessor functions every kernel reads and
//! writes them through (`ld_x`, `st_y`, `ld_r`, ...), so that each kernel family has one code
//! path for all three storages: f32, native f16 (`enable f16;`, SHADER_F16), and f16 packed as
//! pairs into `u32` words, converted with the core builtins `unpack2x16float`/`pack2x16float`
//! (what WebGPU offers without `shader-f16`). Packed buffers are still addressed in f16
//! elements: element i is half `i & 1` (low half first) of word `i >> 1`. Arithmetic is f32 in
//! every storage; only loads and stores convert.

use crate::desc::DType;
use std::fmt;

/// The activation storage a kernel is generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Storage {
    /// `array<f32>`.
    F32,
    /// `array<f16>` (needs SHADER_F16).
    F16,
    /// f16 pairs packed into `array<u32>` (no shader f16 needed).
    PackedF16,
}

impl Storage {
    /// The storage for `dtype`: f16 packed unless `native_f16`.
    pub(crate) fn new(dtype: DType, native_f16: bool) -> Storage {
        match dtype {
            DType::F32 => Storage::F32,
            DType::F16 if native_f16 => Storage::F16,
            DType::F16 => Storage::PackedF16,
        }
    }
}

/// `f32`, `f16`, `f16p`: the part of a kernel name the storage decides.
impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Storage::F32 => "f32",
            Storage::F16 => "f16",
            Storage::PackedF16 => "f16p",
        })
    }
}

/// What a kernel does with an activation buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Loads only.
    Read,
    /// Stores only.
    Write,
    /// Loads and stores of single elements (the epilogue pass, in place).
    ReadWrite,
}

/// `ENABLE` (the f16 extension where needed) and `ACT` (the activation element type; the
/// storage word for packed f16).
pub(crate) fn act_header(storage: Storage) -> [(&'static str, String); 2] {
    match storage {
        Storage::F32 => [("ENABLE", String::new()), ("ACT", "f32".into())],
        Storage::F16 => [("ENABLE", "enable f16;".into()), ("ACT", "f16".into())],
        Storage::PackedF16 => {
            [("ENABLE", "// f16 activations packed in pairs into u32 words.".into()), ("ACT", "u32".into())]
        }
    }
}

/// The binding of activation buffer `var` and its accessors. The buffer is seen as vectors of
/// `width` (1, 2 or 4; whole words when packed). Loads: `ld_{short}(i) -> f32` by element and,
/// for `width` > 1, `ld_{short}{width}(i)` by vector. Stores: `st_{short}(i, v: f32)` by
/// element for `width` 1, else `st_{short}{width}(i, v)` by vector. Packed single-element
/// stores go through atomics on the word (each half has exactly one writer, so clearing and
/// setting one's own half is race-free); vector stores write whole words.
pub(crate) fn buffer(
    storage: Storage,
    var: &str,
    short: &str,
    binding: u32,
    access: Access,
    width: usize,
) -> (String, String) {
    assert!(matches!(width, 1 | 2 | 4) && (width == 1 || access != Access::ReadWrite));
    let packed = storage == Storage::PackedF16;
    let elem = match (packed, width) {
        (true, 1) if access != Access::Read => "atomic<u32>".to_string(),
        (true, _) => "u32".to_string(),
        (false, 1) => "act_t".to_string(),
        (false, w) => format!("vec{w}<act_t>"),
    };
    let mode = if access == Access::Read { "read" } else { "read_write" };
    let decl = format!("@group(0) @binding({binding}) var<storage, {mode}> {var}: array<{elem}>;");
    let mut f = Vec::new();
    if access != Access::Write {
        let body = match (packed, width, access) {
            (true, _, Access::ReadWrite) => format!("unpack2x16float(atomicLoad(&{var}[i >> 1u]))[i & 1u]"),
            (true, _, _) => format!("unpack2x16float({var}[i >> 1u])[i & 1u]"),
            (false, 1, _) => format!("f32({var}[i])"),
            (false, w, _) => format!("f32({var}[i / {w}u][i % {w}u])"),
        };
        f.push(format!("fn ld_{short}(i: u32) -> f32 {{\n    return {body};\n}}"));
        if width > 1 {
            let body = match (packed, width) {
                (true, 2) => format!("unpack2x16float({var}[i])"),
                (true, _) => {
                    format!("vec4<f32>(unpack2x16float({var}[2u * i]), unpack2x16float({var}[2u * i + 1u]))")
                }
                (false, w) => format!("vec{w}<f32>({var}[i])"),
            };
            f.push(format!("fn ld_{short}{width}(i: u32) -> vec{width}<f32> {{\n    return {body};\n}}"));
        }
    }
    if access != Access::Read {
        let body = match (packed, width) {
            (true, 1) => [
                "let shift = (i & 1u) * 16u;".to_string(),
                format!("atomicAnd(&{var}[i >> 1u], ~(0xffffu << shift));"),
                format!("atomicOr(&{var}[i >> 1u], (pack2x16float(vec2<f32>(v, 0.0)) & 0xffffu) << shift);"),
            ]
            .join("\n    "),
            (true, 2) => format!("{var}[i] = pack2x16float(v);"),
            (true, _) => {
                format!("{var}[2u * i] = pack2x16float(v.xy);\n    {var}[2u * i + 1u] = pack2x16float(v.zw);")
            }
            (false, 1) => format!("{var}[i] = act_t(v);"),
            (false, w) => format!("{var}[i] = vec{w}<act_t>(v);"),
        };
        let (name, t) = if width == 1 {
            (format!("st_{short}"), "f32".to_string())
        } else {
            (format!("st_{short}{width}"), format!("vec{width}<f32>"))
        };
        f.push(format!("fn {name}(i: u32, v: {t}) {{\n    {body}\n}}"));
    }
    (decl, f.join("\n\n"))
}

/// Loads of an f16 activation buffer `var` (as [`buffer`] declares it, vectors of `width` 1
/// or 4) that return the elements as stored: `ldr_{short}(i) -> f16` by element and, for
/// `width` 4, `ldr_{short}4(i) -> vec4<f16>` by vector. For f16 fragments, which a round trip
/// through f32 would cost two conversions per element.
pub(crate) fn raw_f16_loads(var: &str, short: &str, width: usize) -> String {
    match width {
        1 => format!("fn ldr_{short}(i: u32) -> f16 {{\n    return {var}[i];\n}}"),
        4 => format!(
            "fn ldr_{short}(i: u32) -> f16 {{\n    return {var}[i / 4u][i % 4u];\n}}\n\n\
             fn ldr_{short}4(i: u32) -> vec4<f16> {{\n    return {var}[i];\n}}"
        ),
        _ => panic!("raw f16 loads come by element or by vec4, not by {width}"),
    }
}
