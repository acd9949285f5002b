//! The oracle programs of every etcd line (real etcd, etcdctl, etcdutl 3.4–3.7,
//! bbolt's CLI, etcd's dump tools), built by `scripts/oracles.sh` into a cache
//! outside the repo. `scripts/test.sh` exports `ETCD_RESCUE_ORACLES`; without
//! it the default cache dir is used. Layout: see the top of scripts/oracles.sh
//! (`index.tsv` lists "line, tool, path").

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The lines whose etcd the tests run.
pub const LINES: [&str; 4] = ["3.4", "3.5", "3.6", "3.7"];

pub fn oracle_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ETCD_RESCUE_ORACLES") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("etcd-rescue/oracles")
}

fn lookup(line: &str, tool: &str) -> Option<PathBuf> {
    let index = std::fs::read_to_string(oracle_dir().join("index.tsv")).ok()?;
    index.lines().find_map(|l| {
        let mut f = l.split('\t');
        let (a, b, p) = (f.next()?, f.next()?, f.next()?);
        (a == line && b == tool && Path::new(p).exists()).then(|| PathBuf::from(p))
    })
}

/// The program `tool` of `line` ("3.4".."3.7" for etcd, etcdctl, etcdutl;
/// "bbolt" for bbolt; "dump" for etcd-dump-db, etcd-dump-logs). Missing:
/// a failure under CI=true, else a note that the test skips and `None`.
pub fn oracle(line: &str, tool: &str) -> Option<PathBuf> {
    let found = lookup(line, tool);
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "oracle {tool} of {line} is missing from {} (run scripts/oracles.sh)",
            oracle_dir().display()
        );
        eprintln!("SKIPPED: oracle {tool} of {line} not built (bash scripts/oracles.sh)");
    }
    found
}

/// What an etcd binary did on a data dir.
#[derive(Debug, Clone)]
pub struct BootOutcome {
    /// It served: `endpoint health` (or a `get`) answered.
    pub served: bool,
    /// It exited on its own within the time limit (and its exit code).
    pub exited: Option<i32>,
    /// The revision a `get` answered with, when it served.
    pub revision: Option<i64>,
    /// The last fatal/panic line of its log.
    pub fatal: Option<String>,
}

fn free_port() -> u16 {
    super::port()
}

/// Start `etcd` (of some line; `etcdctl` of the same line) on `dir` on
/// loopback ports for at most `limit`; record whether it served.
pub fn boot(etcd: &Path, etcdctl: &Path, dir: &Path, limit: Duration) -> BootOutcome {
    let (c, p) = (free_port(), free_port());
    let client = format!("http://127.0.0.1:{c}");
    let peer = format!("http://127.0.0.1:{p}");
    let log = PathBuf::from(format!("{}.etcd.log", dir.display()));
    let logf = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(etcd)
        .args(["--name", "n1", "--data-dir"])
        .arg(dir)
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("n1={peer}")])
        .stdout(Stdio::null())
        .stderr(logf)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let (mut served, mut exited, mut revision) = (false, None, None);
    while start.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            exited = Some(st.code().unwrap_or(-1));
            break;
        }
        let o = Command::new(etcdctl)
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &client, "--dial-timeout", "1s"])
            .args(["--command-timeout", "2s", "--user", "root:rootpw"])
            .args(["get", "", "--prefix", "--limit", "1", "-w", "json"])
            .output()
            .unwrap();
        let auth_off = String::from_utf8_lossy(&o.stderr).contains("authentication is not enabled");
        let o = if auth_off {
            Command::new(etcdctl)
                .env("ETCDCTL_API", "3")
                .args(["--endpoints", &client, "--dial-timeout", "1s"])
                .args(["--command-timeout", "2s"])
                .args(["get", "", "--prefix", "--limit", "1", "-w", "json"])
                .output()
                .unwrap()
        } else {
            o
        };
        if o.status.success() {
            served = true;
            revision = serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .ok()
                .and_then(|v| v["header"]["revision"].as_i64());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    BootOutcome {
        served,
        exited,
        revision,
        fatal: last_fatal(&text),
    }
}

/// The last line of an etcd log that says why it died (zap "fatal"/"panic"
/// levels, Go panics, capnslog "C |" lines).
pub fn last_fatal(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find(|l| {
            l.contains("\"level\":\"fatal\"")
                || l.contains("\"level\":\"panic\"")
                || l.starts_with("panic:")
                || l.contains(" C | ")
                || l.starts_with("fatal error:")
        })
        .map(|l| {
            let v: Option<serde_json::Value> = serde_json::from_str(l).ok();
            match v {
                Some(v) => {
                    let msg = v["msg"].as_str().unwrap_or("");
                    let err = v["error"].as_str().unwrap_or("");
                    if err.is_empty() {
                        msg.to_string()
                    } else {
                        format!("{msg}: {err}")
                    }
                }
                None => l.to_string(),
            }
        })
}
