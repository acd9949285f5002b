//! The etcdctl-like commands against etcdctl's own output for the fixture,
//! byte for byte where etcdctl's output is deterministic.

mod common;
use common::*;
use serde_json::Value;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap()
}

fn truth_bytes(name: &str) -> Vec<u8> {
    std::fs::read(testdata().join("truth").join(name)).unwrap()
}

fn truth(name: &str) -> Value {
    serde_json::from_slice(&truth_bytes(name)).unwrap()
}

fn dir() -> String {
    data_dir().display().to_string()
}

#[test]
fn get_prefix_json_is_byte_identical_to_etcdctl() {
    let fx = truth("facts.json");
    let older = fx["older_revision"].to_string();
    let compact = fx["compact_revision"].to_string();
    for (rev, file) in [
        (None, "get-latest.json".to_string()),
        (Some(older.clone()), format!("get-rev-{older}.json")),
        (Some(compact.clone()), format!("get-rev-{compact}.json")),
    ] {
        let mut args = vec!["get", &dir(), "", "--prefix", "-w", "json"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        if let Some(r) = rev {
            args.push("--rev".into());
            args.push(r);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.stdout == truth_bytes(&file),
            "{file}: output differs from etcdctl's"
        );
    }
}

#[test]
fn snapshot_status_prints_what_etcdctl_printed() {
    let snap = testdata().join("etcd34.snapshot.db").display().to_string();
    let o = run(&["snapshot", "status", &snap]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, truth_bytes("snapshot-status.txt"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("trailer matches"));
    let o = run(&["snapshot", "status", &snap, "-w", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = truth("snapshot-status.json");
    for k in ["hash", "revision", "totalKey", "totalSize"] {
        assert_eq!(v[k], t[k], "{k}");
    }
    // etcdutl's JSON, nothing more: the trailer is judged on stderr.
    assert!(v.get("sha256").is_none());
    assert!(String::from_utf8_lossy(&o.stderr).contains("trailer matches"));
    // The stopped member's db: no trailer, same figures as etcdctl gave.
    let db = db_path().display().to_string();
    let o = run(&["snapshot", "status", &db]);
    assert_eq!(o.stdout, truth_bytes("db-status.txt"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no SHA-256 trailer"));
}

#[test]
fn snapshot_status_reports_a_cut_file() {
    let tmp = tempfile::tempdir().unwrap();
    let b = std::fs::read(testdata().join("etcd34.snapshot.db")).unwrap();
    let p = tmp.path().join("cut.db");
    std::fs::write(&p, &b[..b.len() / 2 + 100]).unwrap();
    let o = run(&["snapshot", "status", p.to_str().unwrap(), "-w", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["hash"].is_u64());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cut short"));
}

#[test]
fn hashkv_matches_etcdctl() {
    let fx = truth("facts.json");
    let older = fx["older_revision"].to_string();
    for (rev, file) in [
        ("0".to_string(), "hashkv-latest.json".to_string()),
        (older.clone(), format!("hashkv-rev-{older}.json")),
    ] {
        let o = run(&["hashkv", &dir(), "--rev", &rev, "-w", "json"]);
        assert_eq!(o.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let t = truth(&file);
        assert_eq!(v[0]["HashKV"]["hash"], t[0]["HashKV"]["hash"], "{file}");
        assert_eq!(
            v[0]["HashKV"]["compact_revision"],
            t[0]["HashKV"]["compact_revision"]
        );
        assert_eq!(v[0]["HashKV"]["header"], t[0]["HashKV"]["header"]);
    }
    // Below the compaction etcd refuses; so do we.
    let below = (fx["compact_revision"].as_i64().unwrap() - 1).to_string();
    assert_eq!(
        run(&["hashkv", &dir(), "--rev", &below]).status.code(),
        Some(2)
    );
}

#[test]
fn members_json_is_etcdctls() {
    let o = run(&["members", &dir(), "-w", "json"]);
    let want = truth_bytes("member-list.json");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn leases_carry_the_keys_etcd_attached() {
    let o = run(&["leases", &dir(), "-w", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fx = truth("facts.json");
    for name in ["lease1", "lease2"] {
        let hex = fx["leases"][name]["hex"].as_str().unwrap();
        let t = truth(&format!("lease-{hex}.json"));
        let want: Vec<String> = t["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| String::from_utf8(base64_decode(k.as_str().unwrap())).unwrap())
            .collect();
        let got = v["leases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id_hex"] == hex)
            .expect("lease present");
        assert_eq!(got["keys"], serde_json::json!(want));
        assert_eq!(got["ttl"], t["granted-ttl"]);
    }
    // The revoked lease is gone.
    let revoked = fx["leases"]["lease3_revoked"]["hex"].as_str().unwrap();
    assert!(!v["leases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id_hex"] == revoked));
}

#[test]
fn auth_shows_roles_and_hides_hashes_unless_asked() {
    let o = run(&["auth", &dir()]);
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(t.contains("Authentication Status: true"));
    let role = String::from_utf8_lossy(&truth_bytes("role-reader.txt")).into_owned();
    assert!(t.contains(&role), "role block as etcdctl prints it:\n{t}");
    assert!(!t.contains("$2a$"), "password hashes hidden");
    let o = run(&["auth", &dir(), "--show-secrets", "-w", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["users"][0]["password_hash"]
        .as_str()
        .unwrap()
        .starts_with("$2"));
}

#[test]
fn get_flags_behave_like_etcdctl() {
    // count-only
    let o = run(&["get", &dir(), "", "--prefix", "--count-only", "-w", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["count"], truth("get-latest.json")["count"]);
    assert!(v.get("kvs").is_none());
    // limit: count stays the total, more is set
    let o = run(&[
        "get",
        &dir(),
        "/app/",
        "--prefix",
        "--limit",
        "3",
        "-w",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kvs"].as_array().unwrap().len(), 3);
    assert_eq!(v["more"], true);
    assert!(v["count"].as_i64().unwrap() > 3);
    // sort by modify, descending: newest first
    let o = run(&[
        "get",
        &dir(),
        "/app/",
        "--prefix",
        "--sort-by",
        "MODIFY",
        "--order",
        "DESCEND",
        "-w",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mods: Vec<i64> = v["kvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["mod_revision"].as_i64().unwrap())
        .collect();
    assert!(mods.windows(2).all(|w| w[0] >= w[1]));
    // keys-only in simple format: key, then an empty line, as etcdctl prints
    let o = run(&["get", &dir(), "/app/config", "--keys-only"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "/app/config\n\n");
    let o = run(&["get", &dir(), "/app/config", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "version-9\n");
    // a compacted revision is refused with etcd's message
    let o = run(&["get", &dir(), "/app/config", "--rev", "2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("required revision has been compacted"));
    // ... unless asked for what survived
    let o = run(&[
        "get",
        &dir(),
        "/app/items/001",
        "--rev",
        "2",
        "--include-compacted",
        "--print-value-only",
    ]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn damaged_db_answers_and_says_it_may_be_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = db_bytes();
    let t = key_tree(&b);
    let leaf = t.children[1] as usize;
    b[leaf * t.page_size..(leaf + 1) * t.page_size].fill(0);
    let p = tmp.path().join("db");
    std::fs::write(&p, &b).unwrap();
    let o = run(&[
        "get",
        p.to_str().unwrap(),
        "",
        "--prefix",
        "--count-only",
        "-w",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("may be incomplete"));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["count"].as_i64().unwrap() < truth("get-latest.json")["count"].as_i64().unwrap());
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            _ => 63,
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn history_lists_puts_and_tombstones() {
    let o = run(&["history", &dir(), "/app/items/003", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v.as_array().unwrap();
    // Created before the compaction (its kept revision survives), deleted after.
    assert_eq!(rows.last().unwrap()["kind"], "delete");
    assert_eq!(rows.first().unwrap()["kind"], "put");
    let compact = truth("facts.json")["compact_revision"].as_i64().unwrap();
    assert!(rows.first().unwrap()["main"].as_i64().unwrap() <= compact);
    assert!(rows.last().unwrap()["main"].as_i64().unwrap() > compact);
    // /app/config: one revision per update since the compaction, versions counting up.
    let o = run(&["history", &dir(), "/app/config", "-o", "json", "--values"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let versions: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert!(
        versions.windows(2).all(|w| w[1] == w[0] + 1),
        "{versions:?}"
    );
    assert_eq!(v.as_array().unwrap().last().unwrap()["value"], "version-9");
}

#[test]
fn protobuf_output_is_a_range_response() {
    let o = run(&["get", &dir(), "/app/", "--prefix", "-w", "protobuf"]);
    assert_eq!(o.status.code(), Some(0));
    let mut count = None;
    let mut kvs = 0;
    for f in etcd_rescue::proto::fields(&o.stdout) {
        let (n, v, at) = f.unwrap();
        match n {
            2 => {
                let kv = etcd_rescue::etcd::KeyValue::decode(v.as_bytes(n, at).unwrap()).unwrap();
                assert!(kv.key.starts_with(b"/app/"));
                kvs += 1;
            }
            4 => count = Some(v.as_u64(n, at).unwrap()),
            _ => {}
        }
    }
    assert_eq!(count, Some(kvs));
}
