//! Body decoders: bytes of a push in, [`crate::model::Family`] values out.
//!
//! Owns: choosing a decoder for a request's `Content-Type` ([`Format::from_content_type`]), and
//! each decoder's errors. Does not own: content encodings (`server::encoding` inflates bodies
//! before they get here), validation against the store (`store::consistency`) or grouping
//! labels. Parsers never log; they return the first error with its position.

pub mod protobuf;
pub mod text;

pub use protobuf::{ProtobufError, ProtobufErrorKind};
pub use text::{TextError, TextErrorKind};

/// The media type of delimited protobuf pushes and scrapes.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/vnd.google.protobuf";
/// The `proto` parameter that goes with [`PROTOBUF_MEDIA_TYPE`].
pub const PROTOBUF_PROTO: &str = "io.prometheus.client.MetricFamily";

/// Which metric and label names a decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Names {
    /// Only classic Prometheus names (`[a-zA-Z_:][a-zA-Z0-9_:]*`, labels without `:`), as the
    /// Go Pushgateway 1.5.1 accepts them; anything else is a parse error.
    #[default]
    Classic,
    /// Also any non-empty UTF-8 name: quoted names in text (`{"a.b", "c.d"="v"} 1`,
    /// `# TYPE "a.b" gauge`) and any name in protobuf. The families then break the name
    /// invariants of [`crate::model`] until `flink::rename` has sanitized them, which must run
    /// before the store sees them.
    Utf8,
}

/// The decoder a push body needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The text exposition format 0.0.4 (the default, as in the Go gateway).
    Text,
    /// Length-delimited `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

/// A protobuf `Content-Type` whose parameters ask for something other than delimited
/// `MetricFamily` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported protobuf content type {0:?}: only proto=io.prometheus.client.MetricFamily with encoding=delimited is accepted")]
pub struct UnsupportedProtobuf(pub String);

impl Format {
    /// The format of a push with this `Content-Type` (none, or anything not protobuf, is text,
    /// as in the Go gateway). The media type and parameter names are case-insensitive and the
    /// parameters may come in any order; parameter values are compared exactly, as Go's
    /// `mime.ParseMediaType` leaves them.
    ///
    /// # Errors
    /// [`UnsupportedProtobuf`] for a protobuf media type without `encoding=delimited` and
    /// `proto=io.prometheus.client.MetricFamily` (the Go gateway would try to parse such a
    /// body as text and fail on the binary).
    pub fn from_content_type(value: Option<&str>) -> Result<Format, UnsupportedProtobuf> {
        let Some(value) = value else {
            return Ok(Format::Text);
        };
        let mut parts = value.split(';');
        let media = parts.next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE) {
            return Ok(Format::Text);
        }
        let (mut delimited, mut metric_family) = (false, false);
        for (name, val) in parts.filter_map(|p| p.split_once('=')) {
            let val = val.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "encoding" => delimited = val == "delimited",
                "proto" => metric_family = val == PROTOBUF_PROTO,
                _ => {}
            }
        }
        if delimited && metric_family {
            Ok(Format::Protobuf)
        } else {
            Err(UnsupportedProtobuf(value.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(content_type: Option<&str>, want: Result<Format, ()>) {
        assert_eq!(
            Format::from_content_type(content_type).map_err(|_| ()),
            want,
            "{content_type:?}"
        );
    }

    #[test]
    fn content_types_choose_the_decoder() {
        check(None, Ok(Format::Text));
        check(Some("text/plain; version=0.0.4"), Ok(Format::Text));
        check(Some("application/json"), Ok(Format::Text));
        check(
            Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"),
            Ok(Format::Protobuf),
        );
        check(
            Some("Application/Vnd.Google.Protobuf;Encoding=delimited;PROTO=\"io.prometheus.client.MetricFamily\""),
            Ok(Format::Protobuf),
        );
        check(
            Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text"),
            Err(()),
        );
        check(Some("application/vnd.google.protobuf"), Err(()));
    }
}
