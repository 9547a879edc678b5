//! STUB: replaced by the real text parser.
use crate::model::Family;

/// A text parse error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("text format parsing error in line {line}: {kind}")]
pub struct TextError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub kind: TextErrorKind,
}

/// What was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TextErrorKind {
    /// Occurs when the input ends in the middle of a line.
    #[error("unexpected end of input stream")]
    UnexpectedEof,
}

/// Parses a text 0.0.4 body.
///
/// # Errors
/// The first syntax error.
pub fn parse(_body: &[u8]) -> Result<Vec<Family<'_>>, TextError> {
    Err(TextError {
        line: 1,
        kind: TextErrorKind::UnexpectedEof,
    })
}
