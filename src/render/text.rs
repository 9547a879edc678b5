//! STUB: replaced by the real writer primitives.
#![allow(missing_docs)]
pub fn write_float(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(format!("{v}").as_bytes());
}
pub fn write_label_value(out: &mut Vec<u8>, v: &str) {
    for c in v.bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            c => out.push(c),
        }
    }
}
pub fn write_help(out: &mut Vec<u8>, v: &str) {
    for c in v.bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            c => out.push(c),
        }
    }
}
