//! `check` and `inspect` against what real etcd 3.4 and etcdctl said about
//! the fixture while it ran (testdata/truth, written by testdata/generate.sh).

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

fn truth(name: &str) -> Value {
    let p = testdata().join("truth").join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn run_json(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), v)
}

#[test]
fn check_agrees_with_etcd_on_revisions() {
    let facts = truth("facts.json");
    let dir = data_dir();
    let (code, r) = run_json(&["check", dir.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["ok"], true);
    let db = &r["summary"]["db"];
    assert_eq!(db["current_revision"], facts["revisions"]["latest"]);
    assert_eq!(db["compacted_revision"], facts["compact_revision"]);
    let status = truth("db-status.json");
    assert_eq!(db["current_revision"], status["revision"]);
    // etcdctl 3.4's "total keys" counts every pair in every bucket.
    let total: u64 = db["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["keys"].as_u64().unwrap())
        .sum();
    assert_eq!(Value::from(total), status["totalKey"]);
    let size = db["high_water_mark"].as_u64().unwrap() * db["page_size"].as_u64().unwrap();
    assert_eq!(Value::from(size), status["totalSize"]);
}

#[test]
fn snapshot_file_checks_and_matches_its_trailer() {
    let snap = testdata().join("etcd34.snapshot.db");
    let (code, r) = run_json(&["check", snap.to_str().unwrap(), "-w", "json"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["summary"]["kind"], "snapshot-file");
    assert_eq!(r["summary"]["snapshot_trailer"]["matches"], true);
    let status = truth("snapshot-status.json");
    assert_eq!(r["summary"]["db"]["current_revision"], status["revision"]);
}

#[test]
fn inspect_agrees_with_etcdctl() {
    let facts = truth("facts.json");
    let dir = data_dir();
    let (code, r) = run_json(&["inspect", dir.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0);
    // Members as `etcdctl member list` showed them.
    let members = truth("member-list.json");
    let want = &members["members"][0];
    let got = &r["members"][0];
    assert_eq!(got["id"], want["ID"]);
    assert_eq!(got["name"], want["name"]);
    assert_eq!(got["peer_urls"], want["peerURLs"]);
    assert_eq!(got["client_urls"], want["clientURLs"]);
    // Leases as `etcdctl lease list` showed them.
    let mut want: Vec<i64> = truth("lease-list.json")["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    want.sort_unstable();
    let got: Vec<i64> = r["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, want);
    // Auth: enabled, with the users and roles the workload made.
    assert_eq!(r["auth"]["enabled"], true);
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(testdata().join("truth").join(name))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        r["auth"]["users"],
        serde_json::json!(lines("user-list.txt"))
    );
    assert_eq!(
        r["auth"]["roles"],
        serde_json::json!(lines("role-list.txt"))
    );
    assert_eq!(r["cluster_version"], "3.4.0");
    assert_eq!(r["alarms"], serde_json::json!([]));
    // Live keys: what `etcdctl get "" --prefix` returned at the latest revision.
    let latest = truth("get-latest.json");
    assert_eq!(r["keys"]["live_keys"], latest["count"]);
    // The files of the data dir, with the snap file etcd wrote.
    let files: Vec<&str> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["role"].as_str().unwrap())
        .collect();
    assert!(files.contains(&"db") && files.contains(&"wal-segment") && files.contains(&"snap"));
    assert_eq!(r["db"]["current_revision"], facts["revisions"]["latest"]);
    assert!(
        r["marks"].as_array().unwrap().is_empty(),
        "{:#}",
        r["marks"]
    );
}
