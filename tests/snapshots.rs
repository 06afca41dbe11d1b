//! Golden WGSL: a few representative generated kernels compared line for line with the files in
//! `tests/snapshots/`, so that any change to the generated code shows up in review as a diff.
//! After an intended change, bless the new output with
//! `WINO_BLESS=1 cargo test --test snapshots` and commit the changed files.

use std::path::PathBuf;
use wgpu_winograd::{all_kernels, tensor_kernels};

/// One kernel of each family, by exact name.
const KERNELS: [&str; 18] = [
    // Winograd filter transform.
    "filter_f4_3_r_16_6_6",
    // Winograd input transform with vec4 loads.
    "input_f4_3_r_16_6_6_f32_vec4_pad1",
    // Winograd output transform with a bias + residual + SiLU epilogue and vec4 stores.
    "output_f4_3_r_16_6_6_f32_bias_residual_silu_vec4",
    // The Winograd batched product through the register-tiled core.
    "gemm_a6_r_16_6_6_64x64x16_8x4",
    // The fused Winograd kernel.
    "fused_f2_3_r_16_6_6_f32_bias_relu",
    // Implicit GEMM with the im2col window gather.
    "conv_gemm_3x3_window_f32_bias_relu_64x64x16_8x4",
    // Depthwise, stride 2.
    "depthwise_3x3_s2x2_d1x1_f32",
    // The direct convolution.
    "direct_f32",
    // f16 packed into u32 words: vec4 stores and residual loads of whole words.
    "output_f4_3_r_16_6_6_f16p_bias_residual_silu_vec4",
    // f16 packed into u32 words: single-element stores through atomics on the word.
    "depthwise_3x3_s2x2_d1x1_f16p",
    // The Winograd batched product on cooperative matrices, operands scaled per tile element.
    "wino_tc_f2_3_r_16_6_6_f16_128x128x32_w2x2_m16_sg32",
    // The implicit GEMM on cooperative matrices: f16 weights straight into fragments, f32
    // activations scaled per tensor.
    "conv_tc_1x1_pointwise_vec4_store4_f32_f16_128x128x32_w2x2_m16_sg32",
    // The max-magnitude pass the tensor-core scales read: element loads, and vec4 loads where
    // the tensor's offset and length are multiples of 4.
    "amax_f32",
    "amax_f32_vec4",
    // The weight gradient's split-K implicit GEMM, reflect padding.
    "weight_grad_3x3_f32_reflect_w7_hw49_64x64x16_8x4",
    // The split-K reduction of the gradients.
    "grad_reduce",
    // A transposed convolution's interleave pass, NHWC, with the fullest epilogue.
    "transpose_interleave_f32_bias_residual_silu_nhwc",
    // Its pass over phases no kernel tap reaches, f16 packed into words.
    "transpose_uncovered_f16p_bias_relu",
];

fn snapshot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("snapshots").join(format!("{name}.wgsl"))
}

/// The first line where `got` and `want` differ: (1-based line number, want's line, got's line).
fn first_difference<'a>(got: &'a str, want: &'a str) -> Option<(usize, &'a str, &'a str)> {
    let (mut g, mut w) = (got.lines(), want.lines());
    for i in 1.. {
        match (g.next(), w.next()) {
            (None, None) => return None,
            (a, b) if a == b => continue,
            (a, b) => return Some((i, b.unwrap_or("<end of file>"), a.unwrap_or("<end of file>"))),
        }
    }
    unreachable!()
}

#[test]
fn generated_wgsl_matches_the_snapshots() {
    let bless = std::env::var_os("WINO_BLESS").is_some_and(|v| v == "1");
    let kernels: Vec<_> = all_kernels().into_iter().chain(tensor_kernels()).collect();
    let mut failures = Vec::new();
    for name in KERNELS {
        let Some(kernel) = kernels.iter().find(|k| k.name == name) else {
            failures.push(format!(
                "{name}: no such kernel in all_kernels() or tensor_kernels() (renamed? update KERNELS)"
            ));
            continue;
        };
        let path = snapshot(name);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &kernel.source)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            continue;
        }
        let want = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                failures.push(format!("{name}: cannot read {}: {e}", path.display()));
                continue;
            }
        };
        if kernel.source != want {
            let what = match first_difference(&kernel.source, &want) {
                Some((line, want, got)) => format!("line {line}:\n  snapshot:  {want}\n  generated: {got}"),
                None => "line endings or a trailing newline differ".to_string(),
            };
            failures.push(format!("{name} differs from {} at {what}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nIf the change is intended, bless it: WINO_BLESS=1 cargo test --test snapshots",
        failures.join("\n")
    );
}
