//! Checks a pushgate persistence file: `persist_check FILE` decodes it and prints
//! `groups=N series=M`; `persist_check --render FILE` restores it into an empty store, exactly
//! as start-up does, and prints the text exposition of that store (pushed families plus
//! `push_time_seconds` and `push_failure_time_seconds`, without the gateway's own metrics).
//!
//! Exits 1 (with the error on stderr) when the file is missing, corrupt or not restorable.
//! `tests/e2e/kill9.sh` uses it to check the file after each `kill -9` and to compare a
//! restarted server's scrape with the last persisted snapshot.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use pushgate::persist::file::decode;
use pushgate::store::Store;
use pushgate::telemetry::BUILTIN_FAMILIES;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (render, file) = match args.as_slice() {
        [file] => (false, file),
        [flag, file] if flag == "--render" => (true, file),
        _ => {
            eprintln!("usage: persist_check [--render] FILE");
            return ExitCode::from(2);
        }
    };
    let result = if render {
        render_file(Path::new(file))
    } else {
        count(Path::new(file))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("persist_check: {file}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn count(path: &Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let groups = decode(&data).map_err(|e| e.to_string())?;
    let series: usize = groups
        .iter()
        .flat_map(|g| &g.families)
        .map(|f| f.series.len())
        .sum();
    println!("groups={} series={series}", groups.len());
    Ok(())
}

fn render_file(path: &Path) -> Result<(), String> {
    if !path.exists() {
        return Err("no such file".to_owned());
    }
    let store = Store::new(BUILTIN_FAMILIES, true);
    pushgate::persist::restore(&store, path, false).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for chunk in pushgate::render::render_store(&store.snapshot()) {
        for part in chunk.bytes(pushgate::render::Format::Text, None) {
            out.extend_from_slice(&part);
        }
    }
    std::io::stdout().write_all(&out).map_err(|e| e.to_string())
}
