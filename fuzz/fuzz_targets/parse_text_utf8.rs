//! Arbitrary bytes into the text parser with quoted UTF-8 names allowed (`Names::Utf8`, used
//! when `--flink.rename` is on).
//!
//! Properties: parsing never panics; UTF-8 mode only adds syntax, so a body the classic parser
//! accepts gives the same families in UTF-8 mode; what parses meets the model invariants
//! (names need only be non-empty); and rendering it back, quoting every name that is not
//! classic (and, by the input's hash, some that are), parses to an equal model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::parse::text::{parse, parse_with};
use pushgate_fuzz::{
    assert_parses_to_with, check_invariants_with, has_suffix_collision, model, render_with, Names,
    Style,
};

fuzz_target!(|data: &[u8]| {
    let utf8 = parse_with(data, Names::Utf8);
    if let Ok(classic) = parse(data) {
        let utf8 = utf8
            .as_ref()
            .expect("UTF-8 mode accepts what classic mode accepts");
        assert!(model(&classic) == model(utf8), "the modes disagree");
    }
    let Ok(families) = utf8 else {
        return;
    };
    check_invariants_with(&families, Names::Utf8);
    let first = model(&families);
    if has_suffix_collision(&first) {
        return;
    }
    let h = data
        .iter()
        .fold(0u32, |h, &b| h.rotate_left(5) ^ u32::from(b));
    for style in [
        Style::default(),
        Style {
            quote_names: true,
            blanks: h.to_le_bytes()[0],
            trailing_comma: h & 256 != 0,
            ..Style::default()
        },
    ] {
        assert_parses_to_with(
            &render_with(&first, style, Names::Utf8),
            &first,
            Names::Utf8,
        );
    }
});
