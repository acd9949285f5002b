//! `repair` judged by real etcd 3.4: the fixture's db rebuilt into a
//! snapshot file is accepted by `etcdctl snapshot restore` without
//! --skip-hash-check, etcd serves the restored member, and
//! `etcdctl get "" --prefix -w json` returns the same key values as the
//! original db holds.

mod common;
use common::etcd::{have_etcd, restore_and_get};
use common::*;
use serde_json::Value;
use std::process::Command;

/// `etcd-rescue repair PATH --out OUT` with `extra` flags.
fn repair(path: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .arg("repair")
        .arg(path)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn repaired_snapshot_restores_and_serves_the_same_keyspace() {
    if !have_etcd() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("rescued.db");
    let bin = env!("CARGO_BIN_EXE_etcd-rescue");
    let o = repair(&data_dir(), &snap, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("recovered everything"));
    // An existing output is refused.
    let again = repair(&data_dir(), &snap, &[]);
    assert_eq!(again.status.code(), Some(2));

    let got = restore_and_get(&snap, tmp.path(), Some("root:rootpw"));
    let ours = Command::new(bin)
        .arg("get")
        .arg(db_path())
        .args(["", "--prefix", "-w", "json"])
        .output()
        .unwrap();
    let want: Value = serde_json::from_slice(&ours.stdout).unwrap();
    assert!(got["kvs"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(got["kvs"], want["kvs"], "restored keyspace differs");
    println!(
        "repair: snapshot restore accepted the file; etcd 3.4 serves {} keys identical to the original",
        got["kvs"].as_array().map_or(0, Vec::len)
    );
}

/// With the db deleted, the fixture's WAL (every entry from index 1: puts,
/// deletes, a txn, leases, a compaction, auth changes) replayed from an
/// empty store gives the state etcd itself reached: the hashkv etcd 3.4
/// reported for the original member, at the same revision and compaction.
/// Our hashkv of `db` and the one etcd 3.4 reported for the fixture.
fn hashkv_pair(bin: &str, db: &std::path::Path) -> (Value, Value) {
    let ours = Command::new(bin)
        .arg("hashkv")
        .arg(db)
        .args(["-w", "json"])
        .output()
        .unwrap();
    let ours: Value = serde_json::from_slice(&ours.stdout).unwrap();
    let etcd: Value = serde_json::from_slice(
        &std::fs::read(testdata().join("truth/hashkv-latest.json")).unwrap(),
    )
    .unwrap();
    (ours[0]["HashKV"].clone(), etcd[0]["HashKV"].clone())
}

#[test]
fn log_alone_replays_to_the_hashkv_etcd_reported() {
    let (_tmp, dir) = copy_fixture();
    std::fs::remove_file(dir.join("member/snap/db")).unwrap();
    let out = dir.join("from-log.db");
    let bin = env!("CARGO_BIN_EXE_etcd-rescue");
    let o = repair(&dir, &out, &["--replay-wal"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("rebuilt from the log alone"), "{text}");
    let (ours, etcd) = hashkv_pair(bin, &out);
    for field in ["hash", "compact_revision"] {
        assert_eq!(ours[field], etcd[field], "{field}");
    }
    assert_eq!(ours["header"]["revision"], etcd["header"]["revision"]);
    // Users, roles and the auth revision come back too.
    let auth = |p: &std::path::Path| {
        String::from_utf8(
            Command::new(bin)
                .arg("auth")
                .arg(p)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    assert_eq!(auth(&out), auth(&data_dir()));
}

/// A healthy db's repair is a compacted copy with the same history: the
/// hashkv etcd 3.4 reported for the original, and every revision of every
/// key (`history`) alike.
#[test]
fn healthy_repair_keeps_hashkv_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("copy.db");
    let bin = env!("CARGO_BIN_EXE_etcd-rescue");
    let o = repair(&data_dir(), &out, &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("streamed copy"));
    let (ours, etcd) = hashkv_pair(bin, &out);
    assert_eq!(ours["hash"], etcd["hash"]);
    let history = |p: &std::path::Path| {
        Command::new(bin)
            .arg("history")
            .arg(p)
            .args(["", "--prefix", "--values"])
            .output()
            .unwrap()
            .stdout
    };
    let (a, b) = (history(&out), history(&db_path()));
    assert!(!a.is_empty());
    assert_eq!(a, b, "history differs");
}
