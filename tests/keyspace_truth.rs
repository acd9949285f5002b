//! The keyspace layer against what etcdctl said while the fixture member ran:
//! `get "" --prefix` at several revisions, `snapshot status`, `hashkv`.

mod common;
use common::*;
use etcd_rescue::bolt::BoltFile;
use etcd_rescue::etcd::records::b64;
use etcd_rescue::mvcc::hash::{hash_kv, snapshot_status};
use etcd_rescue::mvcc::range::{range, RangeRequest};
use etcd_rescue::mvcc::KeyIndex;
use serde_json::Value;

fn truth(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(testdata().join("truth").join(name)).unwrap()).unwrap()
}

fn facts() -> Value {
    truth("facts.json")
}

#[test]
fn snapshot_status_matches_etcdctl() {
    let b = std::fs::read(testdata().join("etcd34.snapshot.db")).unwrap();
    let f = BoltFile::new(&b[..b.len() - 32]).unwrap();
    let s = snapshot_status(&f).unwrap();
    let t = truth("snapshot-status.json");
    assert_eq!(Value::from(s.hash), t["hash"]);
    assert_eq!(Value::from(s.revision), t["revision"]);
    assert_eq!(Value::from(s.total_keys), t["totalKey"]);
    assert_eq!(Value::from(s.total_size), t["totalSize"]);
    let b = db_bytes();
    let s = snapshot_status(&BoltFile::new(&b).unwrap()).unwrap();
    let t = truth("db-status.json");
    assert_eq!(Value::from(s.hash), t["hash"]);
}

#[test]
fn get_prefix_matches_etcdctl_at_every_captured_revision() {
    let b = db_bytes();
    let f = BoltFile::new(&b).unwrap();
    let idx = KeyIndex::build(&f).unwrap();
    let fx = facts();
    for (file, rev) in [
        ("get-latest.json".to_string(), 0),
        (
            format!("get-rev-{}.json", fx["older_revision"]),
            fx["older_revision"].as_i64().unwrap(),
        ),
        (
            format!("get-rev-{}.json", fx["compact_revision"]),
            fx["compact_revision"].as_i64().unwrap(),
        ),
    ] {
        let want = truth(&file);
        let mut req = RangeRequest::from_cli(b"", None, true, false);
        req.revision = rev;
        let got = range(&idx, &req).unwrap();
        assert_eq!(Value::from(got.count), want["count"], "{file}");
        assert_eq!(
            Value::from(got.header_revision),
            want["header"]["revision"],
            "{file}"
        );
        let kvs = want["kvs"].as_array().unwrap();
        assert_eq!(got.kvs.len(), kvs.len(), "{file}");
        for (g, w) in got.kvs.iter().zip(kvs) {
            assert_eq!(Value::from(b64::encode(g.key)), w["key"], "{file}");
            assert_eq!(
                Value::from(g.create_revision),
                w["create_revision"],
                "{file}"
            );
            assert_eq!(Value::from(g.mod_revision), w["mod_revision"], "{file}");
            assert_eq!(Value::from(g.version), w["version"], "{file}");
            assert_eq!(
                Value::from(b64::encode(g.value)),
                w.get("value").cloned().unwrap_or(Value::from("")),
                "{file}"
            );
            assert_eq!(
                Value::from(g.lease),
                w.get("lease").cloned().unwrap_or(Value::from(0)),
                "{file}"
            );
        }
    }
}

#[test]
fn below_the_compaction_is_refused() {
    let b = db_bytes();
    let f = BoltFile::new(&b).unwrap();
    let idx = KeyIndex::build(&f).unwrap();
    let mut req = RangeRequest::from_cli(b"", None, true, false);
    req.revision = facts()["compact_revision"].as_i64().unwrap() - 1;
    assert!(range(&idx, &req).is_err());
    req.include_compacted = true;
    assert!(range(&idx, &req).is_ok());
    req.revision = idx.current_revision + 1;
    assert!(range(&idx, &req).is_err());
}

#[test]
fn hashkv_matches_etcdctl() {
    let b = db_bytes();
    let f = BoltFile::new(&b).unwrap();
    let idx = KeyIndex::build(&f).unwrap();
    let fx = facts();
    for (file, rev) in [
        ("hashkv-latest.json".to_string(), 0),
        (
            format!("hashkv-rev-{}.json", fx["older_revision"]),
            fx["older_revision"].as_i64().unwrap(),
        ),
    ] {
        let want = &truth(&file)[0]["HashKV"];
        let got = hash_kv(&idx, rev).unwrap();
        assert_eq!(Value::from(got.hash), want["hash"], "{file}");
        assert_eq!(
            Value::from(got.compact_revision),
            want["compact_revision"],
            "{file}"
        );
    }
}
