//! The bbolt writer judged by real bbolt and real etcd: the fixture db's
//! buckets rewritten into a fresh compact file (etcd's no-freelist form and
//! with a persisted freelist) pass bbolt 1.3.6's `tx.Check`, keep the same
//! keyspace hash, check clean, and etcd 3.4 starts and serves on it.

mod common;
use common::etcd::{etcd_starts, have_etcd};
use common::refcheck::{judge, refcheck, Verdict};
use common::*;
use etcd_rescue::bolt::writer::{write_db, BucketData, WriteOptions};

fn fixture_buckets() -> Vec<(Vec<u8>, BucketData)> {
    common::bolt_edit::dump(&db_bytes())
}

fn hashkv(path: &str) -> serde_json::Value {
    let (_, out) = run(&["hashkv", path, "-w", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["HashKV"].clone()
}

fn run(args: &[&str]) -> (i32, String) {
    run_code(args)
}

#[test]
fn rewritten_fixture_passes_bbolt_and_etcd() {
    let buckets = fixture_buckets();
    let tmp = tempfile::tempdir().unwrap();
    let original = db_path();
    let hash_before = hashkv(original.to_str().unwrap());
    let bbolt = refcheck();
    for persist in [false, true] {
        let bytes = write_db(
            &buckets,
            WriteOptions {
                persist_freelist: persist,
                ..Default::default()
            },
        )
        .unwrap();
        let path = tmp.path().join(format!("rewritten-{persist}.db"));
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let (code, out) = run(&["check", p]);
        assert_eq!(code, 0, "check on the rewritten file:\n{out}");
        let hash_after = hashkv(p);
        assert_eq!(hash_before, hash_after, "the keyspace hash changed");
        if let Some(bin) = &bbolt {
            assert_eq!(judge(bin, &path), Verdict::Ok, "bbolt tx.Check on {p}");
        }
        println!(
            "writer: persist_freelist={persist}: {} bytes (original {}), check clean, hashkv equal{}",
            bytes.len(),
            std::fs::metadata(&original).unwrap().len(),
            if bbolt.is_some() { ", bbolt 1.3.6 tx.Check OK" } else { "" }
        );
    }
    if have_etcd() {
        let (_t, dir) = copy_fixture();
        let bytes = write_db(&buckets, WriteOptions::default()).unwrap();
        std::fs::write(dir.join("member/snap/db"), &bytes).unwrap();
        assert!(
            etcd_starts(&dir),
            "etcd 3.4 did not serve on the rewritten db"
        );
        println!("writer: etcd 3.4 serves on the rewritten db");
    }
}
