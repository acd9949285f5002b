//! bbolt's own check as an oracle: bench/refcheck (Debian's bbolt 1.3.6
//! `tx.Check`) built with Go, and its verdict on a file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Build refcheck, or None (with a note) where Go or bbolt is missing.
pub fn refcheck() -> Option<PathBuf> {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("refcheck");
    let bin = work.join("refcheck");
    let src = work.join("src/refcheck");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/refcheck/main.go"),
        src.join("main.go"),
    )
    .unwrap();
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", format!("/usr/share/gocode:{}", work.display()))
        .env("GOCACHE", work.join("cache"))
        .status();
    match built {
        Ok(s) if s.success() => Some(bin),
        other => {
            let why = format!(
                "cannot build bench/refcheck (go + golang-github-coreos-bbolt-dev): {other:?}"
            );
            assert!(std::env::var("CI").is_err(), "{why}");
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ok,
    Errors,
    /// Panicked or crashed on a signal: no verdict.
    Crashed,
    /// Did not finish within the time limit.
    Hung,
}

pub fn judge(bin: &Path, db: &Path) -> Verdict {
    let mut child = Command::new(bin)
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return match s.code() {
                Some(0) => Verdict::Ok,
                Some(1) => Verdict::Errors,
                _ => Verdict::Crashed,
            };
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            return Verdict::Hung;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
