//! The honesty rule, for every command: on damaged input a command that met
//! damage says so on stderr and exits 1, one that cannot answer exits 2 with
//! nothing on stdout, JSON on stdout always parses, and a clean input exits
//! 0. The commands are enumerated from the CLI's own help (so a new command
//! cannot be forgotten: it fails here until it has an entry in `args`).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn run(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn help(path: &[String]) -> String {
    let mut a = path.to_vec();
    a.push("--help".into());
    String::from_utf8_lossy(&run(&a).stdout).into_owned()
}

/// The subcommand names listed under "Commands:" in a help text.
fn subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in help.lines() {
        if l.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if l.is_empty() || !l.starts_with("  ") {
                if !l.starts_with("  ") && !l.is_empty() {
                    break;
                }
                continue;
            }
            // Command lines are indented by two; continuation lines more.
            if l.starts_with("   ") {
                continue;
            }
            if let Some(name) = l.split_whitespace().next() {
                if name != "help" {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// Every leaf command, as its words.
fn leaves() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(p) = todo.pop() {
        let subs = subcommands(&help(&p));
        if subs.is_empty() {
            out.push(p);
            continue;
        }
        for s in subs {
            let mut q = p.clone();
            q.push(s);
            todo.push(q);
        }
    }
    out.sort();
    out
}

/// The arguments after the command words, for an input data dir `p` and a
/// scratch dir `t`; whether the command reads the db.
fn args(cmd: &str, p: &str, t: &Path) -> Option<(Vec<String>, bool)> {
    let t = |n: &str| t.join(n).to_str().unwrap().to_string();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Some(match cmd {
        "check" | "inspect" | "members" | "leases" | "auth" | "alarms" | "hashkv"
        | "snapshot status" | "bolt pages" | "bolt buckets" | "k8s stats" | "status" => {
            (v(&[p]), true)
        }
        "get" => (v(&[p, "", "--prefix"]), true),
        "diff" => (v(&[p, p]), true),
        "history" => (v(&[p, "/", "--prefix"]), true),
        "bolt page" => (v(&[p, "0"]), true),
        "bolt keys" => (v(&[p, "meta"]), true),
        "bolt map" => (v(&[p, "--svg", &t("map.svg"), "--force"]), true),
        // A repair that recovered everything exits 0 even from a damaged db.
        "repair" => (v(&[p, "--out", &t("rescued.db"), "--force"]), false),
        "k8s get" => (v(&[p, "pods", "-A"]), true),
        "k8s extract" => (v(&[p, "--to", &t("extract")]), true),
        "doctor" => (v(&["--data-dir", p]), true),
        // These do not read the db.
        "wal verify" | "wal dump" => (v(&[p]), false),
        "wal repair" => (v(&[p, "--out", &t("walrepaired"), "--force"]), false),
        "k8s decode" => (
            v(&[&format!(
                "{p}/member/wal/0000000000000000-0000000000000000.wal"
            )]),
            false,
        ),
        "completions" => (v(&["bash"]), false),
        _ => return None,
    })
}

/// A data dir holding the fixture's WAL and snap with `db` as its db.
fn member_with(dir: &Path, name: &str, db: &[u8]) -> PathBuf {
    let d = dir.join(name);
    let m = d.join("member");
    for sub in ["snap", "wal"] {
        std::fs::create_dir_all(m.join(sub)).unwrap();
        for e in std::fs::read_dir(data_dir().join("member").join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), m.join(sub).join(e.file_name())).unwrap();
        }
    }
    std::fs::write(m.join("snap").join("db"), db).unwrap();
    d
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for c in b {
        h = (h ^ u64::from(*c)).wrapping_mul(0x100000001b3);
    }
    h
}

struct Case {
    name: &'static str,
    dir: PathBuf,
    /// Commands that read the db must not exit 0 on it.
    damaged: bool,
}

fn cases(tmp: &Path) -> Vec<Case> {
    let ok = db_bytes();
    let ps = 4096usize;
    // The root page id is at offset 32 of a meta page.
    let root_of = |b: &[u8], page: usize| {
        u64::from_le_bytes(b[page * ps + 32..page * ps + 40].try_into().unwrap()) as usize
    };
    let root = root_of(&ok, 0).max(root_of(&ok, 1));
    // A db whose root page lies past the end of the file.
    let rootcut = ok[..root * ps].to_vec();
    // No valid meta: both checksums off by one bit.
    let mut nometa = ok.clone();
    for m in [0, ps] {
        nometa[m + 72] ^= 1;
    }
    // A cut file: its first 200 000 bytes.
    let cut = ok[..200_000].to_vec();
    // A meta naming a leaf (its root) as the freelist.
    let mut fleaf = ok.clone();
    for m in [0, ps] {
        let r = root_of(&fleaf, m / ps) as u64;
        put_u64(&mut fleaf, m + 48, r);
        let sum = fnv1a(&fleaf[m + 16..m + 72]);
        put_u64(&mut fleaf, m + 72, sum);
    }
    let plain = std::fs::read(testdata().join("bolt/freelist.db")).unwrap();
    let empty = etcd_rescue::bolt::writer::write_db(&[], Default::default()).unwrap();
    let mk = |name, db: &[u8], damaged| Case {
        name,
        dir: member_with(tmp, name, db),
        damaged,
    };
    vec![
        mk("clean", &ok, false),
        mk("root-past-end", &rootcut, true),
        mk("no-valid-meta", &nometa, true),
        mk("cut", &cut, true),
        mk("freelist-is-a-leaf", &fleaf, true),
        mk("plain-bbolt", &plain, false),
        mk("empty-bbolt", &empty, false),
    ]
}

#[test]
fn every_command_is_honest_on_damaged_input() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = cases(tmp.path());
    let leaves = leaves();
    assert!(leaves.len() >= 25, "too few commands found: {leaves:?}");
    let mut problems = Vec::new();
    let mut runs = 0;
    for words in &leaves {
        let cmd = words.join(" ");
        let Some((_, _)) = args(&cmd, "P", tmp.path()) else {
            problems.push(format!(
                "`{cmd}` has no entry in tests/honesty.rs `args`: add one"
            ));
            continue;
        };
        let h = help(words);
        let json_flag = h.contains("--output") || h.contains("--write-out");
        for c in &cases {
            let scratch = tmp.path().join(format!("out-{}", c.name));
            std::fs::create_dir_all(&scratch).unwrap();
            let (rest, reads_db) = args(&cmd, c.dir.to_str().unwrap(), &scratch).unwrap();
            let mut variants = vec![false];
            if json_flag && h.contains("json") {
                variants.push(true);
            }
            for json in variants {
                let mut a: Vec<String> = words.clone();
                a.extend(rest.iter().cloned());
                if json {
                    a.extend(["-o".to_string(), "json".to_string()]);
                }
                let o = run(&a);
                runs += 1;
                let code = o.status.code();
                let (out, err) = (
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr),
                );
                let what = format!(
                    "{} on {} (exit {code:?})",
                    a[..words.len()].join(" "),
                    c.name
                );
                let what = if json {
                    format!("{what} -o json")
                } else {
                    what
                };
                match code {
                    None => problems.push(format!("{what}: killed by a signal")),
                    Some(0) if c.damaged && reads_db => problems.push(format!(
                        "{what}: exit 0 on a damaged db; stderr: {}",
                        err.lines().next().unwrap_or("")
                    )),
                    Some(0) => {}
                    Some(1) if err.trim().is_empty() => {
                        problems.push(format!("{what}: exit 1 with nothing said on stderr"))
                    }
                    Some(1) => {}
                    Some(2) if !out.is_empty() => problems.push(format!(
                        "{what}: exit 2 but stdout is not empty: {}",
                        out.chars().take(80).collect::<String>()
                    )),
                    Some(2) if err.trim().is_empty() => {
                        problems.push(format!("{what}: exit 2 with nothing said on stderr"))
                    }
                    Some(2) => {}
                    Some(n) => problems.push(format!("{what}: exit {n} is not in the table")),
                }
                if code == Some(0) && !c.damaged && reads_db && c.name == "clean" && !err.is_empty()
                {
                    // A clean db may still have notes, but never damage.
                    if err.contains("damage") {
                        problems.push(format!("{what}: damage said on a clean db: {err}"));
                    }
                }
                if json && !out.trim().is_empty() {
                    let parses = serde_json::from_str::<serde_json::Value>(&out).is_ok()
                        || out
                            .lines()
                            .filter(|l| !l.trim().is_empty())
                            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok());
                    if !parses {
                        problems.push(format!(
                            "{what}: stdout is not JSON: {}",
                            out.chars().take(120).collect::<String>()
                        ));
                    }
                }
                if c.name == "clean" && reads_db && code != Some(0) && cmd != "doctor" {
                    problems.push(format!(
                        "{what}: a clean member does not exit 0; stderr: {}",
                        err.lines().next().unwrap_or("")
                    ));
                }
            }
        }
    }
    eprintln!(
        "{runs} runs of {} commands on {} inputs",
        leaves.len(),
        cases.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn run_on(args: &[&str]) -> Output {
    run(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn findings_that_crash_etcd_say_so_and_name_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cases(tmp.path());
    let fleaf = c.iter().find(|c| c.name == "freelist-is-a-leaf").unwrap();
    let p = fleaf.dir.to_str().unwrap();
    let o = run_on(&["snapshot", "status", p]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("panic") && err.contains("repair"), "{err}");
    let o = run_on(&["check", p]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("panic") && out.contains("`etcd-rescue repair`"),
        "{out}"
    );
}

#[test]
fn plain_bbolt_files_are_not_etcd() {
    let tmp = tempfile::tempdir().unwrap();
    for c in cases(tmp.path())
        .iter()
        .filter(|c| c.name.ends_with("bbolt"))
    {
        // The db file alone: in the data dir the fixture's WAL and .snap
        // stand beside it, and etcd would rightly refuse that pairing (a db
        // with no consistent index under a raft snapshot).
        let db = c.dir.join("member/snap/db");
        let o = run_on(&["check", db.to_str().unwrap()]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{}: {out}", c.name);
        assert!(out.contains("etcd.not-etcd"), "{}: {out}", c.name);
        assert!(!out.contains("etcd.bucket.missing"), "{}: {out}", c.name);
        // The etcd views have no true answer: exit 2, nothing on stdout.
        for v in ["members", "alarms", "leases", "auth"] {
            let o = run_on(&[v, c.dir.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(2), "{v} on {}", c.name);
            assert!(o.stdout.is_empty(), "{v} on {}", c.name);
        }
    }
}

#[test]
fn refused_requests_print_nothing_on_stdout() {
    let p = data_dir();
    let p = p.to_str().unwrap();
    for fmt in ["json", "fields", "simple", "table", "protobuf"] {
        for rev in ["5", "100000"] {
            let o = run_on(&["get", p, "", "--prefix", "--rev", rev, "-w", fmt]);
            assert_eq!(o.status.code(), Some(2), "{fmt} {rev}");
            assert!(o.stdout.is_empty(), "{fmt} {rev}: {:?}", o.stdout);
        }
    }
    // Hints name only flags that exist.
    for a in [
        vec!["hashkv", p, "--rev", "5"],
        vec!["k8s", "get", p, "pods", "--rev", "5"],
    ] {
        let o = run_on(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {err}");
        assert!(!err.contains("--include-compacted"), "{a:?}: {err}");
        assert!(o.stdout.is_empty(), "{a:?}");
    }
    let o = run_on(&["get", p, "", "--prefix", "--rev", "5"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--include-compacted"));
    // Conflicts etcdctl refuses, and unknown enum values.
    for a in [
        vec!["get", p, "/", "--prefix", "--from-key"],
        vec!["get", p, "/a", "/b", "--prefix"],
        vec!["get", p, "/a", "/b", "--from-key"],
        vec!["get", p, "/", "-w", "yaml"],
        vec!["get", p, "/", "--sort-by", "SIZE"],
        vec!["get", p, "/", "--order", "UP"],
        vec!["wal", "dump", p, "--entry-type", "Bogus"],
    ] {
        let o = run_on(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}");
        assert!(o.stdout.is_empty(), "{a:?}");
    }
    // The table's figures go to stderr.
    let o = run_on(&["get", p, "", "--prefix", "-w", "table", "--limit", "1"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("(more)"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("(more)"));
}

#[test]
fn inputs_that_are_not_files_are_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for p in [
        fifo.as_path(),
        Path::new("/dev/zero"),
        Path::new("/dev/null"),
    ] {
        let start = std::time::Instant::now();
        let o = run_on(&["check", p.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{p:?}: {err}");
        assert!(err.contains("refused"), "{p:?}: {err}");
        assert!(start.elapsed().as_secs() < 10, "{p:?} took too long");
    }
}

#[test]
fn a_member_in_use_is_refused_without_a_lock() {
    let (_tmp, dir) = copy_fixture();
    let db = dir.join("member/snap/db");
    // A process holding the db open for writing, as a running etcd does
    // (a reader, such as another etcd-rescue, does not count).
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3<>'{}'; sleep 30", db.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = run_on(&["check", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let o2 = run_on(&["check", dir.to_str().unwrap(), "--allow-live"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("snapshot save") && err.contains("--allow-live"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    assert_eq!(o2.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o2.stderr).contains("mid-write"));
}

#[test]
fn permission_denied_is_said_as_such() {
    // Root reads anything: drop to nobody when we are root.
    let who = String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout)
        .trim()
        .to_string();
    if who != "0" || Command::new("su").arg("--help").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("needs root and su to drop privileges");
        }
        eprintln!("skipped: needs root and su");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("honesty-perm")
        .tempdir_in("/tmp")
        .unwrap();
    let d = member_with(tmp.path(), "etcd", &db_bytes());
    let bin = tmp.path().join("etcd-rescue");
    std::fs::copy(env!("CARGO_BIN_EXE_etcd-rescue"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = Command::new("su")
        .args(["nobody", "-s", "/bin/sh", "-c"])
        .arg(format!("'{}' check '{}'", bin.display(), d.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("permission denied") && err.contains(d.to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn status_answers_what_endpoint_status_answers() {
    let p = data_dir();
    let o = run_on(&["status", p.to_str().unwrap(), "-w", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ours: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testdata().join("truth/endpoint-status.json")).unwrap(),
    )
    .unwrap();
    let (o0, t0) = (&ours[0]["Status"], &truth[0]["Status"]);
    // What the files fix: ids, revision, term, size, leader. (The truth
    // was taken while etcd ran, before its last writes reached the WAL and
    // the db: indices and size in use differ.)
    for f in ["dbSize", "leader", "raftTerm"] {
        assert_eq!(o0[f], t0[f], "{f}");
    }
    for f in ["cluster_id", "member_id", "revision", "raft_term"] {
        assert_eq!(o0["header"][f], t0["header"][f], "header.{f}");
    }
    assert!(o0["raftIndex"].as_u64().unwrap() >= t0["raftIndex"].as_u64().unwrap());
    assert_eq!(ours[0]["Health"]["health"], true);
    let o = run_on(&["status", p.to_str().unwrap(), "-w", "table"]);
    let table = String::from_utf8_lossy(&o.stdout);
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let lines: Vec<&str> = table.lines().collect();
    // etcdctl 3.4's columns, in its order.
    assert_eq!(
        cells(lines[1]),
        [
            "ENDPOINT",
            "ID",
            "VERSION",
            "DB SIZE",
            "IS LEADER",
            "IS LEARNER",
            "RAFT TERM",
            "RAFT INDEX",
            "RAFT APPLIED INDEX",
            "ERRORS"
        ],
        "{table}"
    );
    let row = cells(lines[3]);
    assert_eq!(
        &row[1..5],
        ["35a7c3cb9463f775", "3.4.0", "487 kB", "true"],
        "{table}"
    );
    assert_eq!(row[6], "2", "{table}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("is healthy"));
    // A damaged member is unhealthy, with the reason.
    let tmp = tempfile::tempdir().unwrap();
    let c = cases(tmp.path());
    let bad = c.iter().find(|c| c.name == "freelist-is-a-leaf").unwrap();
    let o = run_on(&["status", bad.dir.to_str().unwrap(), "-w", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["Health"]["health"], false);
    assert!(!v[0]["Status"]["errors"].as_array().unwrap().is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unhealthy"));
}
