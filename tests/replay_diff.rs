//! `repair --replay-wal` against real etcd of every line:
//! `testdata/replay_diff.py` drives etcd 3.4–3.7 with a seeded workload
//! (writes, txns, leases, compactions, auth, NOSPACE, requests etcd
//! rejects at apply), takes kill points (some with the WAL tail torn), and
//! for each one compares what etcd recovers on restart with what etcd
//! serves from the repaired, restored copy. Every kill point must agree.
//!
//! In CI a small seeded sample runs (3 kill points per line). The full run
//! (the README's table) is the same test with `REPLAY_DIFF_KILLS=100
//! REPLAY_DIFF_OPS=1200` (and `REPLAY_DIFF_SEED`), run under `nice -n 10`.

mod common;
use common::oracle::{oracle, LINES};
use std::process::Command;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("CI").is_err(), "python3 is needed");
        eprintln!("SKIPPED: python3 not installed");
    }
    ok
}

#[test]
fn replay_agrees_with_etcd_at_every_kill_point() {
    if !have_python() {
        return;
    }
    let seed = env_num("REPLAY_DIFF_SEED", 1);
    let kills = env_num("REPLAY_DIFF_KILLS", 3);
    let ops = env_num("REPLAY_DIFF_OPS", 150);
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for line in LINES {
        let (Some(etcd), Some(etcdctl)) = (oracle(line, "etcd"), oracle(line, "etcdctl")) else {
            continue;
        };
        // 3.4 restores with etcdctl, 3.5+ with etcdutl.
        let restore = if line == "3.4" {
            Some(etcdctl.clone())
        } else {
            oracle(line, "etcdutl")
        };
        let Some(restore) = restore else { continue };
        let work = tmp.path().join(line);
        let report = tmp.path().join(format!("{line}.json"));
        let o = Command::new("python3")
            .arg(common::testdata().join("replay_diff.py"))
            .args(["--line", line, "--etcd"])
            .arg(&etcd)
            .arg("--etcdctl")
            .arg(&etcdctl)
            .arg("--restore-tool")
            .arg(&restore)
            .args(["--rescue", env!("CARGO_BIN_EXE_etcd-rescue")])
            .args(["--seed", &seed.to_string(), "--ops", &ops.to_string()])
            .args(["--kills", &kills.to_string(), "--work"])
            .arg(&work)
            .arg("--report")
            .arg(&report)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let summary: serde_json::Value = std::fs::read(&report)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| {
                panic!(
                    "etcd {line}: no report: {}\n{out}",
                    String::from_utf8_lossy(&o.stderr)
                )
            });
        let n = |k: &str| summary[k].as_u64().unwrap_or(0);
        println!(
            "etcd {line} seed {seed}: {} kill points, {} agree, {} disagree, {} etcd did not serve, {} torn; {} entries replayed ({} refused as etcd refuses them)",
            n("kill_points"),
            n("agree"),
            n("disagree"),
            n("etcd_refused"),
            n("torn"),
            n("replayed_entries"),
            n("replayed_rejected")
        );
        assert!(
            n("kill_points") >= kills,
            "etcd {line}: too few kill points"
        );
        if n("disagree") > 0 || !o.status.success() {
            let bad: Vec<String> = summary["points"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["outcome"] != "agree")
                .map(|p| p.to_string())
                .collect();
            failures.push(format!("etcd {line}:\n{}", bad.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "the replay disagrees with etcd:\n{}",
        failures.join("\n")
    );
}
