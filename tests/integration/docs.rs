//! The README is the operator's reference: its flag table must list exactly the flags the real
//! binary has, with the defaults the binary prints in `--help`.

use std::collections::BTreeMap;

/// The real binary's `--help`.
fn help() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "--help failed: {out:?}");
    String::from_utf8(out.stdout).expect("--help is UTF-8")
}

/// Every `--flag` that `--help` defines, with its `[default: ...]` if it prints one.
///
/// clap's long help puts each option on a line indented by 2 (`  -h, --help`) or 6 spaces
/// (`      --web.listen-address <LISTEN_ADDRESS>`); descriptions, possible values and defaults
/// follow indented by 10, so flags merely mentioned in a description are not definitions.
fn help_flags(help: &str) -> BTreeMap<String, Option<String>> {
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed.starts_with('-') && indent <= 6 {
            let flag = trimmed
                .split([' ', ',', '='])
                .find(|t| t.starts_with("--"))
                .unwrap_or_else(|| panic!("an option line without a long flag: {line:?}"));
            flags.insert(flag.to_owned(), None);
            current = Some(flag.to_owned());
        } else if let (Some(flag), Some(default)) = (
            &current,
            trimmed
                .strip_prefix("[default: ")
                .and_then(|d| d.strip_suffix(']')),
        ) {
            flags.insert(flag.clone(), Some(default.to_owned()));
        }
    }
    flags
}

/// The README's flag table (the first table after `## Flags`): flag -> its default cell. A
/// row may name several spellings (`` `--help`, `-h` ``); each `--flag` in the first cell
/// counts.
fn readme_flags() -> BTreeMap<String, String> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split_once("\n## Flags\n")
        .expect("README has a `## Flags` section")
        .1;
    let table = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2); // the header and the `| --- |` line
    let mut flags = BTreeMap::new();
    for row in table {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (name, default) = (cells[1], cells[2]);
        let names: Vec<&str> = name.split('`').filter(|t| t.starts_with("--")).collect();
        assert!(
            !names.is_empty(),
            "a README flag row without a `--flag`: {row}"
        );
        for n in names {
            let earlier = flags.insert(n.to_owned(), default.to_owned());
            assert!(
                earlier.is_none(),
                "{n} has two rows in the README flag table"
            );
        }
    }
    flags
}

#[test]
fn every_flag_in_help_is_documented_in_the_readme() {
    let help = help_flags(&help());
    let readme = readme_flags();
    assert!(
        help.len() > 30,
        "parsed only {} flags from --help: {help:?}",
        help.len()
    );
    let missing: Vec<&String> = help.keys().filter(|f| !readme.contains_key(*f)).collect();
    let extra: Vec<&String> = readme.keys().filter(|f| !help.contains_key(*f)).collect();
    assert!(
        missing.is_empty(),
        "flags in --help but not in the README's flag table: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "flags in the README's flag table that the binary does not have: {extra:?}"
    );
}

#[test]
fn the_readme_flag_table_shows_the_defaults_that_help_prints() {
    let readme = readme_flags();
    for (flag, default) in help_flags(&help()) {
        // `[default: ""]` is an empty default; the README says what empty means instead.
        let Some(default) = default.filter(|d| d != "\"\"") else {
            continue;
        };
        let Some(cell) = readme.get(&flag) else {
            continue; // reported by the test above
        };
        assert!(
            cell.contains(&format!("`{default}`")),
            "{flag}: --help says the default is {default:?}, the README says {cell:?}"
        );
    }
}
