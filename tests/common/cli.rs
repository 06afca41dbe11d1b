//! Helpers of the tests that run the `wino` binary (`tests/cli.rs`, `tests/cli_outputs.rs`),
//! each defined once: where the binary is, a scratch directory, `.npy` writers, test data.
#![allow(dead_code)]

use npyz::WriterBuilder;
use std::path::{Path, PathBuf};

/// The binary Cargo built for this test (the test targets require the `cli` feature, so it is
/// always there).
pub fn wino() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wino"))
}

/// A fresh directory for one test, named after the test binary's `prefix`, the test and the
/// process.
pub fn scratch(prefix: &str, test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An `.npy` file of `shape` holding `data`.
pub fn write_npy<T: npyz::AutoSerialize>(path: &Path, shape: &[u64], data: impl Iterator<Item = T>) {
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(std::fs::File::create(path).unwrap()))
        .begin_nd()
        .unwrap();
    w.extend(data).unwrap();
    w.finish().unwrap();
}

pub fn write_f32(path: &Path, shape: &[u64], data: &[f32]) {
    write_npy(path, shape, data.iter().copied());
}

pub fn write_f16(path: &Path, shape: &[u64], data: &[f32]) {
    write_npy(path, shape, data.iter().map(|&v| half::f16::from_f32(v)));
}

/// Deterministic values in [−1, 1).
pub fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761) ^ seed) % 1000)
        .map(|v| v as f32 / 500.0 - 1.0)
        .collect()
}
