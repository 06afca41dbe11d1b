//! The library's one error type.

use std::fmt;

/// Everything that can go wrong, as a value: the library never panics on bad input.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No adapter matched; the message names the remedy.
    NoAdapter(String),
    /// The adapter refused the device request.
    RequestDevice(String),
    /// The descriptor is inconsistent (channels, groups, stride, unknown option name…).
    InvalidDescriptor(String),
    /// Data handed in does not match the descriptor (lengths, shapes, kernel too large…).
    InvalidShape(String),
    /// A buffer handed to `encode` is too small or lacks a usage flag.
    InvalidBuffer(String),
    /// The request is valid but this adapter or path cannot serve it (e.g. Winograd for a strided convolution).
    Unsupported(String),
    /// The work cannot be split small enough for the device's limits; sizes in the message.
    TooLarge(String),
    /// The GPU reported an error (validation, out of memory, device lost) while running.
    Gpu(String),
    /// Reading or writing a file (the tune cache) failed.
    Io(String),
    /// A generated kernel failed naga's parser, validator or a back end (a bug in the generator).
    Codegen(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoAdapter(m) => write!(f, "no GPU adapter: {m}"),
            Error::RequestDevice(m) => write!(f, "device request failed: {m}"),
            Error::InvalidDescriptor(m) => write!(f, "invalid convolution: {m}"),
            Error::InvalidShape(m) => write!(f, "invalid shape: {m}"),
            Error::InvalidBuffer(m) => write!(f, "invalid buffer: {m}"),
            Error::Unsupported(m) => write!(f, "not supported: {m}"),
            Error::TooLarge(m) => write!(f, "too large for this device: {m}"),
            Error::Gpu(m) => write!(f, "GPU error: {m}"),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::Codegen(m) => write!(f, "code generation: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
