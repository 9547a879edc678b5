//! Body decoders: bytes of a push in, borrowed [`crate::model::Family`] values out.
//!
//! Owns: choosing a decoder for a request's `Content-Type`, and each decoder's errors.
//! Does not own: validation against the store (see `store::consistency`) or grouping labels.
//! Parsers never log; they return the first error with its position.

pub mod text;

pub use text::{TextError, TextErrorKind};
