//! Every writer on a full disk (a small tmpfs, mounted here: CI runs as
//! root, and under CI=true a test fails when it cannot mount): `repair`
//! (the db and its `--report`), `wal repair`, `k8s extract` and `bolt map`
//! each
//! - refuse up front (exit 2) when the file system cannot hold what they
//!   would write, saying how much is needed and where;
//! - with that check passed (`ETCD_RESCUE_NO_SPACE_CHECK=1`, as on a file
//!   system whose statvfs is wrong) and the disk full meanwhile, stop at the
//!   first ENOSPC with one line naming the path and "no space left on
//!   device";
//! - and leave nothing on the disk either way (no final name, no temp).

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tmpfs of `size` mounted on a fresh directory; unmounted when dropped.
struct Tmpfs {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("small");
        std::fs::create_dir(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot mount a tmpfs under CI=true"
            );
            eprintln!("SKIPPED: cannot mount a tmpfs (not root?)");
            return None;
        }
        Some(Tmpfs { _tmp: tmp, dir })
    }

    /// Everything on it (names, recursively).
    fn left(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                out.push(e.path());
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), out);
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.dir, &mut v);
        v
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn run(args: &[&std::ffi::OsStr], skip_check: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"));
    c.args(args);
    if skip_check {
        c.env("ETCD_RESCUE_NO_SPACE_CHECK", "1");
    }
    c.output().unwrap()
}

/// The refusal up front: exit 2, one line saying how much is needed (in
/// bytes) and on which file system, nothing written.
fn assert_refused(o: &Output, fs: &Tmpfs, target: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("not enough space"), "{err}");
    assert!(err.contains(&target.display().to_string()), "{err}");
    assert!(
        err.contains(&format!("on the file system of {}", fs.dir.display())),
        "{err}"
    );
    let needed: u64 = err
        .split(" bytes)")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count: {err}"));
    assert!(needed > 0, "{err}");
    assert!(fs.left().is_empty(), "left: {:?}", fs.left());
}

/// A full disk met while writing: exit 2, one line naming `path` and "no
/// space left on device", nothing left.
fn assert_full(o: &Output, fs: &Tmpfs, path: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("no space left on device"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(fs.left().is_empty(), "left: {:?}", fs.left());
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn repair_refuses_or_stops_and_leaves_nothing() {
    // The repaired fixture is 278 560 bytes (69 pages of tmpfs).
    let Some(fs) = Tmpfs::mount("200k") else {
        return;
    };
    let out = fs.dir.join("r.db");
    let data = common::data_dir();
    let args = [data.as_os_str(), os("--out"), out.as_os_str()];
    let args = [&[os("repair")], &args[..]].concat();
    assert_refused(&run(&args, false), &fs, &out);
    // The check passed: the db is cut short by the disk, midway.
    assert_full(&run(&args, true), &fs, &out);
}

#[test]
fn repair_report_that_does_not_fit_takes_the_db_with_it() {
    // 268k: room for the db (66 pages and the trailer's block) and not one
    // page more: the db is written under its temp name, the report does
    // not fit, and neither is left. 300k: room for both, both written (the
    // check is not too strict).
    let data = common::data_dir();
    for (size, room) in [("268k", false), ("300k", true)] {
        let Some(fs) = Tmpfs::mount(size) else {
            return;
        };
        let out = fs.dir.join("r.db");
        let report = fs.dir.join("r.json");
        let args = [
            os("repair"),
            data.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("--report"),
            report.as_os_str(),
        ];
        if room {
            let o = run(&args, false);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(0), "{err}");
            assert!(out.is_file() && report.is_file());
        } else {
            assert_refused(&run(&args, false), &fs, &report);
            assert_full(&run(&args, true), &fs, &report);
        }
    }
}

#[test]
fn wal_repair_refuses_or_stops_and_leaves_nothing() {
    // The member dir is about 770 kB.
    let Some(fs) = Tmpfs::mount("300k") else {
        return;
    };
    let out = fs.dir.join("repaired");
    let data = common::data_dir();
    let args = [
        os("wal"),
        os("repair"),
        data.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ];
    assert_refused(&run(&args, false), &fs, &out);
    // The message names the file being written, inside the temp dir
    // beside the output, on the full tmpfs.
    assert_full(&run(&args, true), &fs, &fs.dir);
}

#[test]
fn bolt_map_refuses_or_stops_and_leaves_nothing() {
    // The fixture's SVG is about 10 kB (3 pages), its HTML about 18 kB.
    let Some(fs) = Tmpfs::mount("12k") else {
        return;
    };
    let svg = fs.dir.join("m.svg");
    let html = fs.dir.join("m.html");
    let data = common::data_dir();
    let one = [
        os("bolt"),
        os("map"),
        data.as_os_str(),
        os("--svg"),
        svg.as_os_str(),
    ];
    assert_refused(&run(&one, false), &fs, &svg);
    // Both asked for, the check passed: the SVG fits, the HTML does not,
    // and the SVG (written first, under its temp name) goes too.
    let both = [&one[..], &[os("--html"), html.as_os_str()]].concat();
    assert_full(&run(&both, true), &fs, &html);
}

/// A stopped etcd 3.4 member holding `n` ConfigMaps (JSON values, about
/// 700 bytes each); `None` when etcd is missing (outside CI).
fn configmap_member(n: usize) -> Option<(tempfile::TempDir, PathBuf)> {
    if !common::etcd::have_etcd() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etcd");
    let (mut child, client) = common::etcd::spawn_etcd(&dir, "n1", &[]);
    let put = |k: &str, v: &str| {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &client, "--dial-timeout", "1s", "put", k, v])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let start = std::time::Instant::now();
    while !put("/probe", "1") {
        assert!(start.elapsed().as_secs() < 20, "etcd did not serve");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let data = "x".repeat(600);
    for i in 0..n {
        let v = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}","namespace":"default"}},"data":{{"a":"{data}"}}}}"#
        );
        assert!(put(&format!("/registry/configmaps/default/cm-{i}"), &v));
    }
    // SIGTERM: etcd commits its backend on the way out (a SIGKILL would
    // leave the last puts in the WAL only).
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    child.wait().unwrap();
    Some((tmp, dir))
}

#[test]
fn k8s_extract_refuses_or_stops_and_leaves_nothing() {
    let Some((_keep, member)) = configmap_member(100) else {
        return;
    };
    // 200k: 100 files of a page each, 50 pages hold half of them. 2m:
    // room for all of them, and no temp dir is left beside.
    for (size, room) in [("200k", false), ("2m", true)] {
        let Some(fs) = Tmpfs::mount(size) else {
            return;
        };
        let to = fs.dir.join("objects");
        let args = [
            os("k8s"),
            os("extract"),
            member.as_os_str(),
            os("--to"),
            to.as_os_str(),
        ];
        if room {
            let o = run(&args, false);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(0), "{err}");
            let files = fs.left().into_iter().filter(|p| p.is_file()).count();
            assert_eq!(files, 100);
            let top = std::fs::read_dir(&fs.dir).unwrap().count();
            assert_eq!(top, 1, "only the output");
        } else {
            assert_refused(&run(&args, false), &fs, &to);
            assert_full(&run(&args, true), &fs, &to);
        }
    }
}

/// What `testdata/full_disk_etcd.py serve|restore` printed.
fn judged(mode: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let o = Command::new("python3")
        .arg(common::testdata().join("full_disk_etcd.py"))
        .arg(mode)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "full_disk_etcd.py {mode}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{mode}: {e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// Every acknowledged put served at its value and revision.
fn all_acked(v: &serde_json::Value) -> bool {
    v["served"] == true
        && v["missing"].as_array().is_some_and(|m| m.is_empty())
        && v["wrong"].as_array().is_some_and(|m| m.is_empty())
}

fn codes(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn json_of(args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value) {
    let o = run(args, false);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

/// The scenario itself, for each etcd line: real etcd on a 100 MB tmpfs
/// written with 60 kB values until the disk is full (the next WAL
/// segment's preallocation fails, then a backend commit, and etcd exits;
/// killed if it has not). Then, judged by that line's etcd:
/// - in place (the disk still full): `check` and `doctor` say the disk
///   filled up, with the evidence, and that etcd will not start; etcd
///   started there exits with "no space left on device", at once or (when
///   free pages already on disk spare its first commits) at the first
///   writes;
/// - on a copy on a disk with room: `check` still finds the evidence in
///   the files and says etcd will start; etcd started on it serves every
///   acknowledged put;
/// - `repair --replay-wal` (with and without `--salvage`) of the member
///   onto a disk with room, restored and served: every acknowledged put,
///   at its value and revision.
#[test]
fn real_etcd_filling_the_disk() {
    use common::oracle::{oracle, LINES};
    let mut wrong = Vec::new();
    for line in LINES {
        let Some(etcd) = oracle(line, "etcd") else {
            continue;
        };
        let tool = if line == "3.4" {
            oracle(line, "etcdctl")
        } else {
            oracle(line, "etcdutl")
        };
        let Some(tool) = tool else { continue };
        let Some(fs) = Tmpfs::mount("100m") else {
            return;
        };
        let work = tempfile::tempdir().unwrap();
        let data = fs.dir.join("m");
        let truth = work.path().join("truth.json");
        let o = Command::new("python3")
            .arg(common::testdata().join("full_disk_etcd.py"))
            .args(["fill", "--etcd"])
            .arg(&etcd)
            .arg("--data")
            .arg(&data)
            .arg("--truth")
            .arg(&truth)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{line} fill: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
        let acked = t["acked"].as_array().map_or(0, Vec::len);
        println!(
            "{line}: {acked} puts acknowledged; etcd {} ({})",
            if t["killed"] == true {
                "killed"
            } else {
                "exited"
            },
            t["fatal"].as_str().unwrap_or("no fatal line")
        );
        assert!(acked > 100, "{line}: only {acked} puts acknowledged");
        // Copies first, before anything else runs on the member.
        let copy = work.path().join("copy");
        let for_repair = work.path().join("for-repair");
        for c in [&copy, &for_repair] {
            assert!(Command::new("cp")
                .arg("-a")
                .arg(&data)
                .arg(c)
                .status()
                .unwrap()
                .success());
        }

        // In place: the disk is still full.
        let (exit, v) = json_of(&[os("check"), data.as_os_str(), os("-o"), os("json")]);
        let c = codes(&v);
        if !(c.iter().any(|x| x == "disk.filled-up") && v["boot"]["starts"] == false && exit == 1) {
            wrong.push(format!(
                "{line}: check in place: exit {exit}, codes {c:?}, starts {}",
                v["boot"]["starts"]
            ));
        }
        let (exit, v) = json_of(&[
            os("doctor"),
            os("-o"),
            os("json"),
            os("--"),
            os("--data-dir"),
            data.as_os_str(),
            os("--name"),
            os("n1"),
        ]);
        let c = codes(&v);
        if !(c.iter().any(|x| x == "disk.filled-up")
            && c.iter().any(|x| x == "disk.full")
            && v["verdict"] == "will-not-start"
            && exit == 1)
        {
            wrong.push(format!(
                "{line}: doctor in place: exit {exit}, verdict {}, codes {c:?}",
                v["verdict"]
            ));
        }
        let log = work.path().join("in-place.log");
        let r = judged(
            "serve",
            &[
                os("--etcd"),
                etcd.as_os_str(),
                os("--data"),
                data.as_os_str(),
                os("--truth"),
                truth.as_os_str(),
                os("--log"),
                log.as_os_str(),
                os("--write-until-exit"),
            ],
        );
        println!("{line}: etcd in place on the full disk: {r}");
        // It exits at once, or (when free pages on disk spared the first
        // commits) at the first writes that need room.
        let died = r["served"] == false || r["exit_after_writes"].as_i64().is_some_and(|c| c != 0);
        let enospc = r["fatal"]
            .as_str()
            .is_some_and(|f| f.contains("no space left on device"));
        if !(died && enospc) {
            wrong.push(format!(
                "{line}: etcd on the full disk did not exit on a full disk as predicted: {r}"
            ));
        }

        // A copy on a disk with room.
        let (exit, v) = json_of(&[os("check"), copy.as_os_str(), os("-o"), os("json")]);
        let c = codes(&v);
        if !(c.iter().any(|x| x == "disk.filled-up") && v["boot"]["starts"] == true) {
            wrong.push(format!(
                "{line}: check of the copy: exit {exit}, codes {c:?}, starts {}",
                v["boot"]["starts"]
            ));
        }
        let log = work.path().join("copy.log");
        let r = judged(
            "serve",
            &[
                os("--etcd"),
                etcd.as_os_str(),
                os("--data"),
                copy.as_os_str(),
                os("--truth"),
                truth.as_os_str(),
                os("--log"),
                log.as_os_str(),
            ],
        );
        if !all_acked(&r) {
            wrong.push(format!("{line}: etcd restarted on the copy: {r}"));
        }

        // Repairs onto a disk with room.
        for salvage in [false, true] {
            let out = work.path().join(format!("repaired-{salvage}.db"));
            let mut args = vec![
                os("repair"),
                for_repair.as_os_str(),
                os("--out"),
                out.as_os_str(),
                os("--replay-wal"),
            ];
            if salvage {
                args.push(os("--salvage"));
            }
            let o = run(&args, false);
            if o.status.code() != Some(0) {
                wrong.push(format!(
                    "{line}: repair (salvage {salvage}) exit {:?}: {}",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr)
                ));
                continue;
            }
            let restored = work.path().join(format!("restored-{salvage}"));
            let log = work.path().join(format!("restored-{salvage}.log"));
            let r = judged(
                "restore",
                &[
                    os("--etcd"),
                    etcd.as_os_str(),
                    os("--tool"),
                    tool.as_os_str(),
                    os("--snapshot"),
                    out.as_os_str(),
                    os("--data"),
                    restored.as_os_str(),
                    os("--truth"),
                    truth.as_os_str(),
                    os("--log"),
                    log.as_os_str(),
                ],
            );
            println!(
                "{line}: repair (salvage {salvage}) restored: {} of {acked} acknowledged puts served, missing {}, wrong {}",
                r["acked"].as_u64().unwrap_or(0)
                    - r["missing"].as_array().map_or(0, |m| m.len() as u64)
                    - r["wrong"].as_array().map_or(0, |m| m.len() as u64),
                r["missing"].as_array().map_or(0, Vec::len),
                r["wrong"].as_array().map_or(0, Vec::len)
            );
            if !all_acked(&r) {
                wrong.push(format!("{line}: repair (salvage {salvage}) restored: {r}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
