//! Arbitrary push paths into the grouping-key parser.
//!
//! Properties: parsing never panics and every error displays; an accepted key is canonical
//! (sorted unique valid names, non-empty `job`); its pairs rebuild an equal key with
//! `from_pairs`; the all-`@base64` path written from its pairs parses to an equal key; and its
//! `Display` form, used as the label set of a text sample, parses back to the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::grouping::{encode_base64_url, GroupingKey};

fuzz_target!(|data: &[u8]| {
    let path = String::from_utf8_lossy(data);
    let key = match GroupingKey::from_path(&path) {
        Ok(key) => key,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let pairs: Vec<(String, String)> = key
        .labels()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert!(
        pairs.windows(2).all(|w| w[0].0 < w[1].0),
        "not sorted/unique: {pairs:?}"
    );
    assert!(!key.job().is_empty());
    for (n, _) in &pairs {
        assert!(
            pushgate::model::is_valid_label_name(n) && !n.starts_with("__"),
            "{n:?}"
        );
    }

    let rebuilt = GroupingKey::from_pairs(pairs.clone()).expect("a key's own pairs are valid");
    assert_eq!(rebuilt, key);

    let mut b64 = format!("job@base64/{}", encode_base64_url(key.job().as_bytes()));
    for (n, v) in pairs.iter().filter(|(n, _)| n != "job") {
        b64.push_str(&format!("/{n}@base64/{}", encode_base64_url(v.as_bytes())));
    }
    assert_eq!(
        GroupingKey::from_path(&b64).as_ref(),
        Ok(&key),
        "path {b64:?}"
    );

    let text = format!("m{key} 1\n");
    let families = pushgate::parse::text::parse(text.as_bytes()).expect("Display is text-format");
    let labels: Vec<(String, String)> = families[0].metrics[0]
        .labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect();
    assert_eq!(labels, pairs, "text {text:?}");
});
