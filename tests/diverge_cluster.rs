//! Planted divergence on real clusters, one per etcd line (3.4–3.7): three
//! members of that line's etcd on loopback form one cluster, a seeded
//! workload (puts, deletes, a physical compaction, more puts) is written,
//! `etcdctl endpoint hashkv --rev R` is asked of every member at a spread of
//! revisions, and the members are stopped (SIGTERM, etcd's clean stop).
//!
//! Then, on the stopped files:
//! - `hashkv --rev R` on each stopped member equals what the running
//!   cluster answered (a revision below the compaction refused by both);
//! - `diff` of two clean members of the same cluster finds no difference
//!   (member-specific meta aside), for each pair;
//! - copies of member n1's data dir, each given one planted divergence —
//!   a lost write (a revision record removed), a flipped value byte (flipped
//!   in place in etcd's own file, pages untouched), an extra revision (a
//!   sub-revision inside the history), a different compaction point — are
//!   diffed against clean member n2: `diff` names exactly what was planted
//!   (revision, key, what differs) and nothing else.
//!
//! Removals, insertions and the compaction point are planted by rewriting
//! the db with the crate's bolt writer (tests/common/bolt_edit.rs).
//! ETCD_RESCUE_DIVERGE_LINES=3.5,3.6 limits the lines.

mod common;
use common::bolt_edit::{bucket, dump, rev_text, value_offset, write_to};
use common::oracle::{oracle, LINES};
use common::port;
use etcd_rescue::etcd::kv::KeyValue;
use etcd_rescue::etcd::revision::RevisionKey;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SEED: u64 = 20261203;

/// xorshift64*: the workload's choices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Cluster {
    children: Vec<Child>,
    clients: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ctl(etcdctl: &Path, endpoints: &str, args: &[&str]) -> Output {
    Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoints, "--dial-timeout", "2s"])
        .args(["--command-timeout", "5s"])
        .args(args)
        .output()
        .unwrap()
}

fn ctl_ok(etcdctl: &Path, endpoints: &str, args: &[&str]) -> Output {
    let o = ctl(etcdctl, endpoints, args);
    assert!(
        o.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Three members of `etcd` on loopback, serving (every member healthy).
fn start_cluster(etcd: &Path, etcdctl: &Path, root: &Path) -> Cluster {
    let peers: Vec<String> = (0..3)
        .map(|_| format!("http://127.0.0.1:{}", port()))
        .collect();
    let initial: Vec<String> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| format!("n{}={p}", i + 1))
        .collect();
    let initial = initial.join(",");
    let mut c = Cluster {
        children: Vec::new(),
        clients: Vec::new(),
        dirs: Vec::new(),
    };
    for (i, peer) in peers.iter().enumerate() {
        let client = format!("http://127.0.0.1:{}", port());
        let dir = root.join(format!("n{}", i + 1));
        let log = std::fs::File::create(root.join(format!("n{}.log", i + 1))).unwrap();
        let child = Command::new(etcd)
            .args(["--name", &format!("n{}", i + 1), "--data-dir"])
            .arg(&dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", peer])
            .args(["--initial-advertise-peer-urls", peer])
            .args(["--initial-cluster", &initial])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "diverge"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        c.children.push(child);
        c.clients.push(client);
        c.dirs.push(dir);
    }
    let start = Instant::now();
    for client in c.clients.clone() {
        while !ctl(etcdctl, &client, &["endpoint", "health"])
            .status
            .success()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the cluster did not serve (logs in {})",
                root.display()
            );
            for ch in &mut c.children {
                assert!(ch.try_wait().unwrap().is_none(), "a member exited");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    c
}

/// Each member's revision (`endpoint status`).
fn revisions(etcdctl: &Path, c: &Cluster) -> Vec<i64> {
    let o = ctl_ok(
        etcdctl,
        &c.clients.join(","),
        &["endpoint", "status", "-w", "json"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["Status"]["header"]["revision"].as_i64().unwrap())
        .collect()
}

/// What the workload left: the compaction revision and the current one.
struct Written {
    compact: i64,
    current: i64,
}

/// Seeded puts and deletes through member n1, a physical compaction, more.
fn workload(etcdctl: &Path, c: &Cluster, rng: &mut Rng) -> Written {
    let ep = &c.clients[0];
    let op = |rng: &mut Rng| {
        let k = format!("/diverge/k{:02}", rng.below(16));
        if rng.below(5) == 0 {
            // A delete of a key that may not exist writes no revision.
            ctl_ok(etcdctl, ep, &["del", &k]);
        } else {
            let len = 1 + rng.below(40) as usize;
            let v: String = (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect();
            ctl_ok(etcdctl, ep, &["put", &k, &v]);
        }
    };
    for _ in 0..30 {
        op(rng);
    }
    let compact = revisions(etcdctl, c)[0] - 3;
    ctl_ok(
        etcdctl,
        ep,
        &["compaction", "--physical", &compact.to_string()],
    );
    for _ in 0..20 {
        op(rng);
    }
    // Every member has applied everything.
    let start = Instant::now();
    loop {
        let r = revisions(etcdctl, c);
        if r.iter().all(|x| *x == r[0]) {
            return Written {
                compact,
                current: r[0],
            };
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "members at {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM each member (etcd commits its backend and exits).
fn stop(c: &mut Cluster) {
    for ch in &c.children {
        Command::new("kill")
            .args(["-TERM", &ch.id().to_string()])
            .status()
            .unwrap();
    }
    let start = Instant::now();
    for ch in &mut c.children {
        while ch.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "a member ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn run(args: &[&std::ffi::OsStr]) -> (i32, Vec<u8>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn diff(a: &Path, b: &Path) -> (i32, Value) {
    let (code, out, err) = run(&[
        "diff".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "-o".as_ref(),
        "json".as_ref(),
    ]);
    let mut v: Value =
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("diff JSON: {e}; {err}"));
    // The single merge walk gives the same answer.
    let (rcode, rout, _) = run(&[
        "diff".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--merge-walk".as_ref(),
        "-o".as_ref(),
        "json".as_ref(),
    ]);
    let mut rv: Value = serde_json::from_slice(&rout).unwrap();
    assert_eq!(v["method"]["kind"], "ranges", "{}", v["method"]);
    assert_eq!(rv["method"]["kind"], "merge_walk", "{}", rv["method"]);
    v["method"] = Value::Null;
    rv["method"] = Value::Null;
    assert_eq!((code, &v), (rcode, &rv), "ranges vs --merge-walk");
    (code, v)
}

fn copy_dir(src: &Path, dst: &Path) {
    assert!(Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap()
        .success());
}

fn db_of(dir: &Path) -> PathBuf {
    dir.join("member/snap/db")
}

/// The revisions `diff` listed: (revision, kind, key).
fn listed(v: &Value) -> Vec<(String, String, String)> {
    v["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
                r["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn records(v: &Value) -> Vec<(String, String)> {
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["bucket"].as_str().unwrap().to_string(),
                r["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// One line's whole run; problems found are pushed to `bad`.
fn one_line(line: &str, etcd: &Path, etcdctl: &Path, bad: &mut Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut rng = Rng(SEED ^ line.bytes().fold(0u64, |a, b| a * 31 + b as u64));
    let mut c = start_cluster(etcd, etcdctl, root);
    let w = workload(etcdctl, &c, &mut rng);
    // A spread of revisions: one below the compaction (refused), the
    // revision after it, the middle, the last two. The compaction revision
    // itself is left out: a live 3.5+ member answers it from the hash it
    // kept when compacting, which no stopped copy holds
    // (tests/hashkv_every_rev.rs shows that case).
    let mut spread = vec![
        w.compact - 1,
        w.compact + 1,
        (w.compact + w.current) / 2,
        w.current - 1,
        w.current,
    ];
    spread.dedup();
    let all = c.clients.join(",");
    let mut live: Vec<(i64, Option<Vec<Value>>)> = Vec::new();
    for r in &spread {
        let o = ctl(
            etcdctl,
            &all,
            &["endpoint", "hashkv", "--rev", &r.to_string(), "-w", "json"],
        );
        let answers = o.status.success().then(|| {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|m| m["HashKV"].clone())
                .collect::<Vec<_>>()
        });
        live.push((*r, answers));
    }
    stop(&mut c);
    let dirs = c.dirs.clone();
    println!(
        "etcd {line}: 3 members, compaction {}, current revision {}, hashkv asked at {spread:?}",
        w.compact, w.current
    );

    // hashkv on each stopped member = the running cluster's answer.
    for (r, answers) in &live {
        for (i, d) in dirs.iter().enumerate() {
            let (code, out, err) = run(&[
                "hashkv".as_ref(),
                d.as_os_str(),
                "--rev".as_ref(),
                r.to_string().as_ref(),
                "--etcd-version".as_ref(),
                line.as_ref(),
                "-w".as_ref(),
                "json".as_ref(),
            ]);
            match answers {
                None if code == 0 => bad.push(format!(
                    "{line} n{} rev {r}: etcd refused, we answered",
                    i + 1
                )),
                None => {}
                Some(_) if code != 0 => bad.push(format!(
                    "{line} n{} rev {r}: we refused ({}), etcd answered",
                    i + 1,
                    err.trim()
                )),
                Some(a) => {
                    let ours: Value = serde_json::from_slice(&out).unwrap();
                    let ours = &ours[0]["HashKV"];
                    for k in ["hash", "compact_revision", "hash_revision"] {
                        if ours[k] != a[i][k] {
                            bad.push(format!(
                                "{line} n{} rev {r} {k}: ours {} / etcd's {}",
                                i + 1,
                                ours[k],
                                a[i][k]
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        live.iter().filter(|(_, a)| a.is_some()).count() >= 4,
        "{line}: etcd answered too few hashkv requests: {live:?}"
    );

    // Clean members of one cluster: no difference.
    for (x, y) in [(0, 1), (1, 2), (0, 2)] {
        let (code, v) = diff(&dirs[x], &dirs[y]);
        if code != 0 || v["identical"] != true {
            bad.push(format!(
                "{line}: clean n{} vs n{}: exit {code}: {v}",
                x + 1,
                y + 1
            ));
        }
    }

    // The plants, each on its own copy of n1, diffed against clean n2.
    let clean = &dirs[1];
    let original = std::fs::read(db_of(&dirs[0])).unwrap();
    let base = dump(&original);
    let keys: Vec<(Vec<u8>, Vec<u8>)> = bucket(&mut base.clone(), b"key").clone();
    let key_of =
        |raw: &[u8]| String::from_utf8_lossy(KeyValue::decode(raw).unwrap().key).into_owned();
    let plant = |name: &str| -> PathBuf {
        let d = root.join(name);
        copy_dir(&dirs[0], &d);
        d
    };
    let check_one = |what: &str,
                     copy: &Path,
                     want_revs: Vec<(String, String, String)>,
                     want_records: Vec<(String, String)>,
                     bad: &mut Vec<String>|
     -> Value {
        let (code, v) = diff(clean, copy);
        let got = listed(&v);
        let recs = records(&v);
        if code != 1 || got != want_revs || recs != want_records {
            bad.push(format!(
                "{line} {what}: exit {code}, listed {got:?} / planted {want_revs:?}, records {recs:?} / planted {want_records:?}"
            ));
        }
        if !v["damage"].as_array().is_some_and(|d| d.is_empty()) {
            bad.push(format!("{line} {what}: damage reported: {}", v["damage"]));
        }
        let first = want_revs.first().map(|r| r.0.as_str());
        if v["first_divergence"].as_str() != first {
            bad.push(format!(
                "{line} {what}: first divergence {} / planted {first:?}",
                v["first_divergence"]
            ));
        }
        println!("etcd {line} {what}: diff names {got:?} {recs:?}");
        v
    };

    // A lost write: one revision record removed.
    {
        let i = 1 + rng.below(keys.len() as u64 - 2) as usize;
        let (k, raw) = &keys[i];
        let mut b = base.clone();
        bucket(&mut b, b"key").remove(i);
        let d = plant("lost");
        write_to(&db_of(&d), &b);
        let want = vec![(rev_text(k), "only_in_a".to_string(), key_of(raw))];
        check_one("lost write", &d, want, vec![], bad);
    }

    // A flipped value byte, in place in etcd's own file.
    {
        let live_revs: Vec<usize> = (0..keys.len())
            .filter(|i| {
                keys[*i].0.len() == 17 && !KeyValue::decode(&keys[*i].1).unwrap().value.is_empty()
            })
            .collect();
        let i = live_revs[rng.below(live_revs.len() as u64) as usize];
        let (k, raw) = &keys[i];
        let kv = KeyValue::decode(raw).unwrap();
        let at = rng.below(kv.value.len() as u64) as usize;
        // The value's place in the file: in the live leaf's record.
        let off = value_offset(&original, b"key", k);
        let in_record = kv.value.as_ptr() as usize - raw.as_ptr() as usize;
        let mut bytes = original.clone();
        bytes[off + in_record + at] ^= 0x10;
        let d = plant("flipped");
        std::fs::write(db_of(&d), &bytes).unwrap();
        let want = vec![(rev_text(k), "differs".to_string(), key_of(raw))];
        let v = check_one("flipped value byte", &d, want, vec![], bad);
        let fields = &v["revisions"][0]["fields"];
        let expect = format!("{} bytes, first difference at byte {at}", kv.value.len());
        if fields.as_array().map(|f| f.len()) != Some(1)
            || fields[0]["field"] != "value"
            || fields[0]["a"] != expect.as_str()
        {
            bad.push(format!(
                "{line} flipped value byte: fields {fields} / planted value byte {at}"
            ));
        }
    }

    // An extra revision: sub-revision 1 of a revision inside the history.
    {
        let mains: Vec<i64> = keys
            .iter()
            .map(|(k, _)| RevisionKey::parse(k).unwrap().main)
            .collect();
        let main = mains[1 + rng.below(mains.len() as u64 - 2) as usize];
        let rk = RevisionKey {
            main,
            sub: 1,
            tombstone: false,
        }
        .encode()
        .to_vec();
        let kv = KeyValue {
            key: b"/diverge/planted",
            create_revision: main,
            mod_revision: main,
            version: 1,
            value: b"x",
            ..Default::default()
        }
        .encode();
        let mut b = base.clone();
        let kb = bucket(&mut b, b"key");
        kb.push((rk.clone(), kv));
        kb.sort();
        let d = plant("extra");
        write_to(&db_of(&d), &b);
        let want = vec![(
            rev_text(&rk),
            "only_in_b".to_string(),
            "/diverge/planted".to_string(),
        )];
        check_one("extra revision", &d, want, vec![], bad);
    }

    // A different compaction point: both compaction records of meta moved.
    {
        let moved = w.compact + 1 + rng.below((w.current - w.compact - 1) as u64) as i64;
        let mut b = base.clone();
        let meta = bucket(&mut b, b"meta");
        let mut names = Vec::new();
        for (k, v) in meta.iter_mut() {
            if k.as_slice() == b"scheduledCompactRev" || k.as_slice() == b"finishedCompactRev" {
                *v = RevisionKey {
                    main: moved,
                    sub: 0,
                    tombstone: false,
                }
                .encode()
                .to_vec();
                names.push(("meta".to_string(), String::from_utf8_lossy(k).into_owned()));
            }
        }
        assert!(!names.is_empty(), "{line}: no compaction records in meta");
        let d = plant("compaction");
        write_to(&db_of(&d), &b);
        let v = check_one("compaction point", &d, vec![], names, bad);
        for r in v["records"].as_array().unwrap() {
            let (want_a, want_b) = (
                format!("revision {}", w.compact),
                format!("revision {moved}"),
            );
            if r["a"] != want_a.as_str() || r["b"] != want_b.as_str() {
                bad.push(format!(
                    "{line} compaction point: {r} / planted {want_a} -> {want_b}"
                ));
            }
        }
    }
}

#[test]
fn planted_divergence_on_real_clusters_is_named_exactly() {
    let only = std::env::var("ETCD_RESCUE_DIVERGE_LINES").unwrap_or_default();
    let mut bad = Vec::new();
    let mut ran = 0;
    for line in LINES {
        if !only.is_empty() && !only.split(',').any(|o| o == line) {
            continue;
        }
        let (Some(etcd), Some(etcdctl)) = (oracle(line, "etcd"), oracle(line, "etcdctl")) else {
            continue;
        };
        one_line(line, &etcd, &etcdctl, &mut bad);
        ran += 1;
    }
    eprintln!("lines run: {ran}");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
