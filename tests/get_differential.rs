//! `get` against etcdctl 3.4 on the same data: real etcd is started on a
//! copy of the fixture, etcdctl answers a seeded sample of (flags × key or
//! range × revision) requests, etcd is stopped (so its db holds what it
//! served), and `etcd-rescue get` answers the same requests from the copy.
//! The JSON must be the same but for the header's raft term (etcd's restart
//! starts a new term). Set GET_DIFF_CASES for a longer run.

mod common;
use common::etcd::{have_etcd, spawn_etcd};
use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn etcdctl(client: &str, args: &[String]) -> std::process::Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            client,
            "--user",
            "root:rootpw",
            "--dial-timeout",
            "2s",
        ])
        .args(args)
        .output()
        .unwrap()
}

/// The JSON without the header's raft term; with `unordered`, the kvs in
/// key order (Go's sort is not stable: etcd leaves equal VALUE or VERSION
/// sort keys in an order of its own).
fn norm(v: &[u8], unordered: bool) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(v).ok()?;
    v["header"].as_object_mut()?.remove("raft_term");
    if unordered {
        if let Some(kvs) = v.get_mut("kvs").and_then(Value::as_array_mut) {
            kvs.sort_by_key(|kv| kv["key"].as_str().unwrap_or_default().to_string());
        }
    }
    Some(v)
}

/// A short account of an answer: each key with its create and mod
/// revision, and the count.
fn cut(s: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(s) else {
        return String::from_utf8_lossy(s)
            .trim()
            .chars()
            .take(400)
            .collect();
    };
    let kvs: Vec<String> = v["kvs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    let k = kv["key"].as_str().unwrap_or("");
                    format!("{k}@{}/{}", kv["create_revision"], kv["mod_revision"])
                })
                .collect()
        })
        .unwrap_or_default();
    format!("{} count {}", kvs.join(" "), v["count"])
}

/// A small xorshift generator: the sample is the same on every run.
struct Rng(u64);
impl Rng {
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        &xs[(self.0 % xs.len() as u64) as usize]
    }
}

#[test]
fn get_matches_etcdctl_on_the_same_data() {
    if !have_etcd() {
        return;
    }
    let (_tmp, dir) = copy_fixture();
    let (mut child, client) = spawn_etcd(&dir, "n1", &[]);
    let start = Instant::now();
    while !etcdctl(&client, &["endpoint".into(), "health".into()])
        .status
        .success()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "etcd did not serve"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let keys: &[&[&str]] = &[
        &["", "--prefix"],
        &["/", "--prefix"],
        &["/app/", "--prefix"],
        &["/leases/", "--prefix"],
        &["/app/config"],
        &["/a", "/m"],
        &["/k", "--from-key"],
    ];
    let flags: &[&[&str]] = &[
        &[],
        &["--keys-only"],
        &["--limit", "2"],
        &["--keys-only", "--limit", "3"],
    ];
    let sorts: &[&[&str]] = &[
        &[],
        &["--sort-by", "VALUE"],
        &["--sort-by", "VALUE", "--order", "DESCEND"],
        &["--sort-by", "MODIFY", "--order", "DESCEND"],
        &["--sort-by", "CREATE"],
        &["--sort-by", "VERSION", "--order", "ASCEND"],
        &["--sort-by", "KEY", "--order", "DESCEND"],
    ];
    let revs: &[&str] = &["0", "444", "445", "448", "460", "481", "5", "100000"];
    let n: usize = std::env::var("GET_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut reqs: Vec<Vec<String>> = Vec::new();
    let mut theirs = Vec::new();
    while reqs.len() < n {
        let mut a: Vec<String> = vec!["get".into()];
        let (k, f, o) = (*rng.pick(keys), *rng.pick(flags), *rng.pick(sorts));
        // Ties under a limit: which of the equal keys etcd keeps depends
        // on Go's unstable sort; not compared.
        if f.contains(&"--limit") && (o.contains(&"VALUE") || o.contains(&"VERSION")) {
            continue;
        }
        for part in [k, f, o] {
            a.extend(part.iter().map(|s| s.to_string()));
        }
        a.extend([
            "--rev".into(),
            rng.pick(revs).to_string(),
            "-w".into(),
            "json".into(),
        ]);
        theirs.push(etcdctl(&client, &a));
        reqs.push(a);
    }
    // Stop etcd cleanly: its db then holds what it served.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let mut diffs = Vec::new();
    for (a, t) in reqs.iter().zip(&theirs) {
        let mut ours_args = vec![a[0].clone(), dir.to_str().unwrap().to_string()];
        ours_args.extend(a[1..].iter().cloned());
        let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
            .args(&ours_args)
            .output()
            .unwrap();
        let (t_ok, o_ok) = (t.status.success(), o.status.success());
        if t_ok != o_ok {
            diffs.push(format!(
                "{a:?}: etcdctl exit {:?} ({}), ours {:?} ({})",
                t.status.code(),
                cut(&t.stderr),
                o.status.code(),
                cut(&o.stderr)
            ));
            continue;
        }
        if !t_ok {
            // Both refuse: nothing on our stdout, as etcdctl prints nothing.
            if !o.stdout.is_empty() {
                diffs.push(format!("{a:?}: refused but printed on stdout"));
            }
            continue;
        }
        let unordered = a.iter().any(|x| x == "VALUE" || x == "VERSION");
        if norm(&t.stdout, unordered) != norm(&o.stdout, unordered) {
            diffs.push(format!(
                "{a:?}:\n etcdctl {}\n ours    {}",
                cut(&t.stdout),
                cut(&o.stdout)
            ));
        }
    }
    eprintln!("{n} requests compared, {} differ", diffs.len());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
