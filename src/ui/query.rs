//! The UI's query strings: form-decoding and typed parameters with clear errors.
//!
//! Owns: splitting `a=1&b=x+y` into decoded pairs ([`Query::parse`]) and reading numbers and
//! choices from them ([`Query::number`], [`Query::choice`]), each refusal a [`QueryError`]
//! that names the parameter and what it accepts.
//! Does not own: what the parameters mean (the views and `server::api`).

use std::fmt::Write as _;

/// Why a query string is unusable. The HTTP layer answers 400 with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Occurs when a `%` is not followed by two hex digits, or the decoded bytes are not UTF-8.
    #[error("query parameter {0:?} is not validly percent-encoded UTF-8")]
    Encoding(String),
    /// Occurs when a numeric parameter is not a whole number in its range.
    #[error("query parameter {name}={value:?}: want a whole number from {min} to {max}")]
    Number {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
        /// Smallest accepted.
        min: usize,
        /// Largest accepted.
        max: usize,
    },
    /// Occurs when a parameter is not one of its accepted words.
    #[error("query parameter {name}={value:?}: want one of {choices}")]
    Choice {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
        /// The accepted words, comma-separated.
        choices: String,
    },
}

/// A decoded query string.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `raw` (the part after `?`, or `None`): `+` is a space, `%XX` a byte.
    ///
    /// # Errors
    /// [`QueryError::Encoding`] for a bad escape or non-UTF-8 result.
    pub fn parse(raw: Option<&str>) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Query { pairs })
    }

    /// The first value of `name`, if given and not empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `name` as a whole number in `min..=max`, or `default` when absent.
    ///
    /// # Errors
    /// [`QueryError::Number`] when given but not such a number.
    pub fn number(
        &self,
        name: &'static str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, QueryError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        v.parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| QueryError::Number {
                name,
                value: v.to_owned(),
                min,
                max,
            })
    }

    /// `name` as one of `choices` (the first is the default when absent).
    ///
    /// # Errors
    /// [`QueryError::Choice`] when given but not one of them.
    pub fn choice<'c>(
        &self,
        name: &'static str,
        choices: &[&'c str],
    ) -> Result<&'c str, QueryError> {
        let Some(v) = self.get(name) else {
            return Ok(choices[0]);
        };
        choices
            .iter()
            .find(|c| **c == v)
            .copied()
            .ok_or_else(|| QueryError::Choice {
                name,
                value: v.to_owned(),
                choices: choices.join(", "),
            })
    }
}

fn decode(s: &str) -> Result<String, QueryError> {
    let bad = || QueryError::Encoding(s.to_owned());
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = it
                    .next()
                    .and_then(|c| (c as char).to_digit(16))
                    .ok_or_else(bad)?;
                let lo = it
                    .next()
                    .and_then(|c| (c as char).to_digit(16))
                    .ok_or_else(bad)?;
                bytes.push(u8::try_from(hi * 16 + lo).expect("two hex digits fit a byte"));
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

/// Appends `s` percent-encoded for a query value (unreserved characters kept).
pub fn encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(raw: &str, name: &str, want: Option<&str>) {
        let q = Query::parse(Some(raw)).expect("valid query");
        assert_eq!(q.get(name), want, "{raw}");
    }

    #[test]
    fn values_are_form_decoded() {
        check("q=job%3D%22a%22+b", "q", Some("job=\"a\" b"));
        check("a=1&q=%C3%BC", "q", Some("ü"));
        check("q=", "q", None);
        check("q", "q", None);
        check("x=1", "q", None);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = Query::parse(Some("q=%zz")).expect_err("bad escape");
        assert_eq!(
            err.to_string(),
            "query parameter \"%zz\" is not validly percent-encoded UTF-8"
        );
        let q = Query::parse(Some("page=0&sort=up")).expect("valid");
        assert_eq!(
            q.number("page", 1, 1, 9)
                .expect_err("out of range")
                .to_string(),
            "query parameter page=\"0\": want a whole number from 1 to 9"
        );
        assert_eq!(
            q.choice("sort", &["key", "age"])
                .expect_err("unknown")
                .to_string(),
            "query parameter sort=\"up\": want one of key, age"
        );
        assert_eq!(q.number("per", 50, 1, 500), Ok(50));
    }

    #[test]
    fn encode_round_trips_through_decode() {
        let mut out = String::new();
        encode(&mut out, "job=\"ü x\"&y");
        assert_eq!(decode(&out).expect("decodes"), "job=\"ü x\"&y");
    }
}
