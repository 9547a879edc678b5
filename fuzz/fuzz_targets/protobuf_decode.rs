//! Arbitrary bytes into the delimited protobuf decoder, checked against the text parser.
//!
//! Properties: decoding never panics; what decodes meets the model invariants (which the
//! protobuf decoder enforces by checks where the text parser has them by syntax); and, as the
//! style guide's differential tests ask, the same families written as text parse to an equal
//! model. Left out of that comparison: what the text format cannot say (native histogram
//! parts, exemplars; `_count`/`_sum`/`_bucket` names colliding with another family; two
//! summary or histogram metrics with the same label set, which text merges).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate_fuzz::{
    assert_parses_to, check_invariants, has_repeated_label_set, has_suffix_collision, model,
    render, Style,
};

fuzz_target!(|data: &[u8]| {
    let Ok(families) = pushgate::parse::protobuf::parse(data) else {
        return;
    };
    check_invariants(&families);
    let decoded = model(&families);
    if has_suffix_collision(&decoded) || has_repeated_label_set(&decoded) {
        return;
    }
    let text = render(&decoded, Style::default());
    assert_parses_to(&text, &decoded);
});
