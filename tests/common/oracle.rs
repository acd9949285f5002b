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
#[derive(Debug, Clone, Default)]
pub struct BootOutcome {
    /// It served: `endpoint status` (a read of the server's state that is
    /// no raft write and needs no login) answered; etcd answers clients only
    /// once it is ready (3.5+: after publishing its attributes through raft).
    pub served: bool,
    /// It exited on its own within the time limit (and its exit code).
    pub exited: Option<i32>,
    /// Seconds from the start to that first answer.
    pub served_after: Option<f64>,
    /// The revision `endpoint status` answered with, when it served.
    pub revision: Option<i64>,
    /// A `get` of one key (logging in as root when auth is on) answered.
    pub read: bool,
    /// The process was still running at the limit with no fatal line, and
    /// its raft node had become leader.
    pub up_as_leader: bool,
    /// The last fatal/panic line of its log.
    pub fatal: Option<String>,
    /// The last few warnings/errors of its log (evidence for the report).
    pub log_tail: Vec<String>,
}

impl BootOutcome {
    /// What "etcd starts" means in the matrix: it stays up (no exit within
    /// the limit, nor within [`SETTLE`] of its first answer) and serves
    /// clients, or it runs
    /// as the elected leader without dying (e.g. a db ahead of the WAL: the
    /// process is up, its raft log advances, clients wait until the index
    /// passes the db's).
    pub fn started(&self) -> bool {
        (self.served || self.up_as_leader) && self.exited.is_none()
    }
}

/// How long a member that answered is watched for a late death.
pub const SETTLE: Duration = Duration::from_secs(3);

fn free_port() -> u16 {
    super::port()
}

fn ctl(etcdctl: &Path, client: &str, extra: &[&str]) -> std::process::Output {
    Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", client, "--dial-timeout", "1s"])
        .args(["--command-timeout", "2s"])
        .args(extra)
        .output()
        .unwrap()
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
    let mut out = BootOutcome::default();
    while start.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            out.exited = Some(st.code().unwrap_or(-1));
            break;
        }
        let mut o = ctl(etcdctl, &client, &["endpoint", "status", "-w", "json"]);
        // 3.5+ want a login for the status call; a refusal is an answer
        // from a ready server (the login itself is a raft write, tried
        // only for the revision).
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let refused = [
            "user name is empty",
            "permission denied",
            "invalid auth token",
        ]
        .iter()
        .any(|m| err.contains(m));
        if refused {
            o = ctl(
                etcdctl,
                &client,
                &["--user", "root:rootpw", "endpoint", "status", "-w", "json"],
            );
        }
        if refused || o.status.success() {
            out.served = true;
            out.served_after = Some(start.elapsed().as_secs_f64());
            out.revision = serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .ok()
                .and_then(|v| v[0]["Status"]["header"]["revision"].as_i64());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if out.served {
        let get = ["get", "", "--prefix", "--limit", "1", "-w", "json"];
        let mut with_user = vec!["--user", "root:rootpw"];
        with_user.extend(get);
        let o = ctl(etcdctl, &client, &with_user);
        let auth_off = String::from_utf8_lossy(&o.stderr).contains("authentication is not enabled");
        let o = if auth_off {
            ctl(etcdctl, &client, &get)
        } else {
            o
        };
        out.read = o.status.success();
    }
    // A member that answers and then dies (bbolt 1.3.x panics from a
    // goroutine of its open-time walk, which can lose the race with the
    // server's start) has not started: watch it a little longer.
    if let Some(t) = out.served_after {
        let until = Duration::from_secs_f64(t) + SETTLE;
        while out.exited.is_none() && start.elapsed() < until {
            if let Some(st) = child.try_wait().unwrap() {
                out.exited = Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if out.exited.is_none() {
        if let Some(st) = child.try_wait().unwrap() {
            out.exited = Some(st.code().unwrap_or(-1));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    out.fatal = last_fatal(&text);
    out.up_as_leader = out.exited.is_none()
        && out.fatal.is_none()
        && (text.contains("became leader") || text.contains("elected leader"));
    out.log_tail = log_tail(&text, 4);
    out
}

/// The last `n` distinct warning/error messages of an etcd log.
fn log_tail(log: &str, n: usize) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for l in log.lines().rev() {
        let msg = match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) => {
                let lvl = v["level"].as_str().unwrap_or("");
                if !matches!(lvl, "warn" | "error" | "fatal" | "panic") {
                    continue;
                }
                format!("{lvl}: {}", v["msg"].as_str().unwrap_or(""))
            }
            Err(_) => {
                if !(l.contains(" W | ")
                    || l.contains(" E | ")
                    || l.contains(" C | ")
                    || l.starts_with("panic:"))
                {
                    continue;
                }
                l.chars().skip(27).take(200).collect()
            }
        };
        if !seen.contains(&msg) {
            seen.push(msg);
        }
        if seen.len() >= n {
            break;
        }
    }
    seen
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
