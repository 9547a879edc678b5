//! What the real binary logs at the default level: the start-up summary, and rejected pushes
//! with their reason, rate-limited so a flood of bad pushes costs a few lines.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary, killed on drop; its stderr lines arrive on `lines`.
struct Binary {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    fn spawn(args: &[&str]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pushgate"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Binary { child, lines }
    }

    /// The next line, or a panic naming what was awaited (bounded: a hung binary fails).
    fn next_line(&self, awaiting: &str) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no log line while waiting for {awaiting}: {e}"))
    }

    /// Every line until stderr closes (the process exited).
    fn rest(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            out.push(line);
        }
        out
    }
}

/// One request over a fresh connection; returns the status.
fn request(addr: SocketAddr, method: &str, path: &str, user_agent: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {user_agent}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    raw.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"))
}

/// The value of `key=` in a logfmt line (unquoted values only).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    line[start..].split(' ').next()
}

#[test]
fn rejected_pushes_are_logged_at_info_with_their_reason_and_rate_limited() {
    let bin = Binary::spawn(&["--web.listen-address=127.0.0.1:0", "--web.enable-lifecycle"]);
    let start = bin.next_line("the start-up summary");
    assert!(
        start.contains(" level=info msg=\"starting pushgate\" version="),
        "{start}"
    );
    for want in [
        "listen_address=127.0.0.1:0",
        "persistence_file=\"\"",
        "consistency_check=true",
        "flink_job_suffix=split",
        "flink_missed_pushes=3",
        "push_max_groups=100000",
    ] {
        assert!(start.contains(want), "{want} missing: {start}");
    }
    let listening = loop {
        let line = bin.next_line("the listening line");
        if line.contains("msg=listening") {
            break line;
        }
    };
    let addr: SocketAddr = field(&listening, "address")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {listening}"));

    // 25 bad pushes take milliseconds; the log window is a minute and lets
    // `telemetry::REJECTION_LOG_BURST` (10) lines through.
    let flood = 25;
    for _ in 0..flood {
        let status = request(
            addr,
            "PUT",
            "/metrics/job/flood",
            "flood-test/1",
            "bad metric{\n",
        );
        assert_eq!(status, 400);
    }
    assert_eq!(request(addr, "PUT", "/-/quit", "t", ""), 200);
    let lines = bin.rest();

    let rejected: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("msg=\"push rejected\""))
        .collect();
    assert!(!rejected.is_empty(), "no rejection logged: {lines:#?}");
    assert!(
        rejected.len() < flood,
        "every rejection was logged; no rate limit: {lines:#?}"
    );
    let first = rejected[0];
    for want in [
        " level=info ",
        " reason=parse ",
        " status=400 ",
        " method=put ",
        " path=job/flood ",
        " user_agent=flood-test/1 ",
        " error=\"text format parsing error in line 1: ",
        " suppressed=0",
    ] {
        assert!(first.contains(want), "{want:?} missing: {first}");
    }
}

#[test]
fn a_closed_stderr_does_not_stop_shutdown() {
    // Logging to a stderr whose reader is gone used to panic inside tracing-subscriber (its
    // fallback `eprintln!`), killing the task that logged: here the `/-/quit` handler, so
    // pushgate never stopped.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["--web.listen-address=127.0.0.1:0", "--web.enable-lifecycle"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped stderr"));
    let addr: SocketAddr = loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "pushgate exited before listening");
        if line.contains("msg=listening") {
            break field(&line, "address")
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no address in {line}"));
        }
    };
    drop(stderr);
    assert_eq!(request(addr, "PUT", "/-/quit", "t", ""), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pushgate did not stop after /-/quit with its stderr closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
