//! `hashkv --rev R` against real etcd at every revision R: a copy of each
//! line's fixture member is served by that line's etcd (loopback, its own
//! ports) and `etcdctl endpoint hashkv --rev R -w json` is asked for every
//! R from one below the compaction to the fixture's current revision; ours
//! is computed on the untouched fixture. Hash, compact revision and (3.6+)
//! hash revision must be equal, and a revision etcd refuses as compacted
//! must be refused by us too.
//!
//! The fixtures hold ~40 revisions at or above their compaction, so every
//! revision is asked in CI. ETCD_RESCUE_HASHKV_LINES=3.5,3.6 limits the lines.

mod common;
use common::etcd::spawn_etcd_bin;
use common::oracle::{oracle, LINES};
use common::testdata;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// (fixture, the line whose etcd serves it).
fn fixtures() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&str, &str)> = LINES
        .iter()
        .map(|l| match *l {
            "3.4" => ("etcd34", "3.4"),
            "3.5" => ("etcd35", "3.5"),
            "3.6" => ("etcd36", "3.6"),
            _ => ("etcd37", "3.7"),
        })
        .collect();
    v.push(("etcd34to36", "3.6"));
    let only = std::env::var("ETCD_RESCUE_HASHKV_LINES").unwrap_or_default();
    if !only.is_empty() {
        v.retain(|(_, l)| only.split(',').any(|o| o == *l));
    }
    v
}

fn ctl(etcdctl: &Path, client: &str, args: &[&str]) -> Output {
    Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", client, "--dial-timeout", "2s"])
        .args(["--command-timeout", "5s", "--user", "root:rootpw"])
        .args(args)
        .output()
        .unwrap()
}

fn ours(dir: &Path, rev: i64, line: &str) -> Result<Value, String> {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .arg("hashkv")
        .arg(dir)
        .args(["--rev", &rev.to_string(), "--etcd-version", line])
        .args(["-w", "json"])
        .output()
        .unwrap();
    if o.status.code() != Some(0) {
        return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
    }
    let v: Value = serde_json::from_slice(&o.stdout).map_err(|e| e.to_string())?;
    Ok(v[0]["HashKV"].clone())
}

/// The fixture's compaction and current revision (from check).
fn revisions(dir: &Path) -> (i64, i64) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .arg("check")
        .arg(dir)
        .args(["-o", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let db = &v["summary"]["db"];
    (
        db["compacted_revision"].as_i64().unwrap(),
        db["current_revision"].as_i64().unwrap(),
    )
}

struct Served {
    child: std::process::Child,
    client: String,
    _tmp: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of `src` served by `etcd`; None when it did not serve in 20 s.
fn serve(etcd: &Path, etcdctl: &Path, src: &Path) -> Option<Served> {
    let tmp = tempfile::tempdir().unwrap();
    let d: PathBuf = tmp.path().join("m");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(&d)
        .status()
        .unwrap()
        .success());
    let (child, client) = spawn_etcd_bin(etcd, &d, "n1", &[]);
    let mut s = Served {
        child,
        client,
        _tmp: tmp,
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if s.child.try_wait().unwrap().is_some() {
            return None;
        }
        if ctl(etcdctl, &s.client, &["endpoint", "health"])
            .status
            .success()
        {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

#[test]
fn hashkv_at_every_revision_is_etcds() {
    let mut bad = Vec::new();
    let mut compared = Vec::new();
    for (name, line) in fixtures() {
        let (Some(etcd), Some(etcdctl)) = (oracle(line, "etcd"), oracle(line, "etcdctl")) else {
            continue;
        };
        let dir = testdata().join(name);
        let (compact, current) = revisions(&dir);
        let s = serve(&etcd, &etcdctl, &dir)
            .unwrap_or_else(|| panic!("{name}: etcd {line} did not serve a copy"));
        let mut n = 0;
        for rev in (compact - 1).max(1)..=current {
            let o = ctl(
                &etcdctl,
                &s.client,
                &[
                    "endpoint",
                    "hashkv",
                    "--rev",
                    &rev.to_string(),
                    "-w",
                    "json",
                ],
            );
            let got = ours(&dir, rev, line);
            if !o.status.success() {
                let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
                if got.is_ok() {
                    bad.push(format!(
                        "{name} rev {rev}: etcd refused ({err}), we answered"
                    ));
                }
                continue;
            }
            let theirs: Value = serde_json::from_slice(&o.stdout).unwrap();
            let theirs = &theirs[0]["HashKV"];
            let got = match got {
                Ok(g) => g,
                Err(e) => {
                    bad.push(format!("{name} rev {rev}: we refused ({e}), etcd answered"));
                    continue;
                }
            };
            n += 1;
            for k in ["hash", "compact_revision", "hash_revision"] {
                if got[k] != theirs[k] {
                    bad.push(format!(
                        "{name} rev {rev} {k}: ours {} / etcd {line}'s {}",
                        got[k], theirs[k]
                    ));
                }
            }
        }
        compared.push(format!(
            "{name} ({line}): {n} revisions {compact}..{current}"
        ));
        assert!(n > 10, "{name}: only {n} revisions compared");
    }
    eprintln!("compared: {}", compared.join("; "));
    assert!(bad.is_empty(), "hashkv differs:\n{}", bad.join("\n"));
}

/// A fresh member of `line` given a history whose last compaction lands on
/// a tombstone (and an earlier one on a put), asked at every revision while
/// it runs and again after a restart; ours on the stopped copy. Live 3.5+
/// members answer a compaction revision from the hash they kept when they
/// compacted: those two answers must differ from ours (and from the
/// restarted member's), every other must be equal.
#[test]
fn hashkv_at_every_revision_after_compacting_a_tombstone_is_etcds() {
    let mut bad = Vec::new();
    for line in LINES {
        let (Some(etcd), Some(etcdctl)) = (oracle(line, "etcd"), oracle(line, "etcdctl")) else {
            continue;
        };
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("m");
        let boot = |d: &Path| {
            let (child, client) = spawn_etcd_bin(&etcd, d, "n1", &[]);
            let mut s = Served {
                child,
                client,
                _tmp: tempfile::tempdir().unwrap(),
            };
            let start = Instant::now();
            while !ctl_noauth(&etcdctl, &s.client, &["endpoint", "health"])
                .status
                .success()
            {
                assert!(
                    start.elapsed() < Duration::from_secs(20)
                        && s.child.try_wait().unwrap().is_none(),
                    "etcd {line} did not serve"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            s
        };
        let s = boot(&d);
        let run = |args: &[&str]| {
            let o = ctl_noauth(&etcdctl, &s.client, args);
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        // rev 2..: a, b, a again, delete a (tombstone), c, compact at a put,
        // a reborn, delete b (tombstone), d, compact on that tombstone, e.
        for (k, v) in [("a", "1"), ("b", "1"), ("a", "2")] {
            run(&["put", k, v]);
        }
        run(&["del", "a"]); // 5
        run(&["put", "c", "1"]); // 6
        run(&["compaction", "--physical", "6"]);
        run(&["put", "a", "3"]); // 7
        run(&["del", "b"]); // 8
        run(&["put", "d", "1"]); // 9
        run(&["put", "b", "2"]); // 10
        run(&["del", "b"]); // 11
        run(&["compaction", "--physical", "11"]);
        run(&["put", "e", "1"]); // 12
        let current = 12;
        let theirs = |s: &Served| -> Vec<Option<Value>> {
            (1..=current)
                .map(|r| {
                    let o = ctl_noauth(
                        &etcdctl,
                        &s.client,
                        &["endpoint", "hashkv", "--rev", &r.to_string(), "-w", "json"],
                    );
                    o.status.success().then(|| {
                        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
                        v[0]["HashKV"].clone()
                    })
                })
                .collect()
        };
        let live = theirs(&s);
        drop(s);
        let s = boot(&d);
        let restarted = theirs(&s);
        drop(s);
        for r in 1..=current {
            let got = ours(&d, r, line).ok();
            for (when, t) in [("live", &live), ("restarted", &restarted)] {
                let t = &t[(r - 1) as usize];
                let same = match (&got, t) {
                    (None, None) => true,
                    (Some(g), Some(t)) => ["hash", "compact_revision", "hash_revision"]
                        .iter()
                        .all(|k| g[k] == t[k]),
                    _ => false,
                };
                // 3.5+ keep the hash each compaction computed (over the
                // history as it was, with the previous compaction) and answer
                // it for that revision while they run: no stopped copy holds
                // what it covered. A restart forgets it.
                let cached = when == "live" && line != "3.4" && [6, 11].contains(&r);
                if same == cached {
                    bad.push(format!(
                        "{line} rev {r} ({when}): ours {got:?} / etcd's {t:?}"
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "hashkv differs:\n{}", bad.join("\n"));
}

fn ctl_noauth(etcdctl: &Path, client: &str, args: &[&str]) -> Output {
    Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", client, "--dial-timeout", "2s"])
        .args(["--command-timeout", "5s"])
        .args(args)
        .output()
        .unwrap()
}
