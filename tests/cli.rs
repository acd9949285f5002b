//! The command line as a user meets it: help with examples, completions,
//! `-o`/`-w`, exit codes, input detection, safe output files, and inputs left
//! untouched.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["inspect", "--help"],
        vec!["bolt", "pages", "--help"],
        vec!["bolt", "page", "--help"],
        vec!["bolt", "buckets", "--help"],
        vec!["bolt", "keys", "--help"],
        vec!["bolt", "map", "--help"],
        vec!["completions", "--help"],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 0, "{args:?}");
        assert!(text(&o).contains("Example"), "{args:?} has no examples");
    }
}

#[test]
fn completions_for_three_shells() {
    for sh in ["bash", "zsh", "fish"] {
        let o = run(&["completions", sh]);
        assert_eq!(code(&o), 0);
        let t = text(&o);
        assert!(
            t.contains("etcd-rescue") && t.contains("inspect") && t.len() > 1000,
            "{sh}"
        );
    }
    assert_eq!(code(&run(&["completions", "tcsh"])), 2);
}

#[test]
fn o_and_w_are_the_same_flag() {
    let d = data_dir();
    let a = run(&["check", s(&d), "-o", "json"]);
    let b = run(&["check", s(&d), "-w", "json"]);
    let c = run(&["check", s(&d), "--write-out", "json"]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);
    serde_json::from_slice::<serde_json::Value>(&a.stdout).unwrap();
}

#[test]
fn input_kinds_are_detected() {
    let d = data_dir();
    for (path, kind) in [
        (d.clone(), "data-dir"),
        (d.join("member"), "member-dir"),
        (d.join("member/snap/db"), "db-file"),
        (testdata().join("etcd34.snapshot.db"), "snapshot-file"),
    ] {
        let o = run(&["inspect", s(&path), "-o", "json"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["kind"], kind, "{}", path.display());
    }
}

#[test]
fn unusable_inputs_exit_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("notes.txt");
    std::fs::write(&junk, "hello, not a database").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["check".into(), s(&junk).into()], "not a bbolt db"),
        (
            vec!["check".into(), s(tmp.path()).into()],
            "not an etcd data dir",
        ),
        (
            vec!["check".into(), "/nonexistent/etcd".into()],
            "No such file",
        ),
        (vec!["check".into()], "required"),
        (
            vec![
                "check".into(),
                s(&data_dir()).into(),
                "-o".into(),
                "xml".into(),
            ],
            "invalid value",
        ),
        (
            vec![
                "bolt".into(),
                "page".into(),
                s(&db_path()).into(),
                "999999".into(),
            ],
            "outside the file",
        ),
        (
            vec![
                "bolt".into(),
                "keys".into(),
                s(&db_path()).into(),
                "nope".into(),
            ],
            "not found",
        ),
    ];
    for (args, msg) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        assert!(text(&o).contains(msg), "{args:?}: {}", text(&o));
    }
}

#[test]
fn damage_exits_1_and_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = db_bytes();
    let t = key_tree(&b);
    let leaf = t.children[2] as usize;
    b[leaf * t.page_size..(leaf + 1) * t.page_size].fill(0);
    let p = tmp.path().join("db");
    std::fs::write(&p, &b).unwrap();
    let o = run(&["check", s(&p), "-o", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let f = &v["findings"][0];
    assert_eq!(f["severity"], "error");
    assert_eq!(f["page"], leaf as u64);
    assert_eq!(f["offset"], (leaf * t.page_size) as u64);
    assert!(f["message"].as_str().unwrap().contains("cannot be read"));
    assert_eq!(code(&run(&["check", s(&p)])), 1);
    assert_eq!(code(&run(&["bolt", "keys", s(&p), "key"])), 1);
}

#[test]
fn snapshot_with_a_bad_trailer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(testdata().join("etcd34.snapshot.db")).unwrap();
    let n = b.len();
    b[n - 1] ^= 1;
    let p = tmp.path().join("backup.db");
    std::fs::write(&p, &b).unwrap();
    let o = run(&["check", s(&p), "-o", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["snapshot_trailer"]["matches"], false);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "snapshot.sha256-mismatch"));
}

#[test]
fn map_writes_safely_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let svg = tmp.path().join("map.svg");
    let d = data_dir();
    let o = run(&["bolt", "map", s(&d), "--svg", s(&svg)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let pic = std::fs::read_to_string(&svg).unwrap();
    assert!(pic.starts_with("<svg") && pic.contains("leaf") && pic.trim_end().ends_with("</svg>"));
    let o = run(&["bolt", "map", s(&d), "--svg", s(&svg)]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("--force"));
    assert_eq!(
        code(&run(&["bolt", "map", s(&d), "--svg", s(&svg), "--force"])),
        0
    );
}

#[test]
fn low_level_views_on_the_fixture() {
    let d = data_dir();
    let o = run(&["bolt", "pages", s(&d), "-o", "json"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pages = v["pages"].as_array().unwrap();
    assert_eq!(pages.len() as u64, v["high_water_mark"].as_u64().unwrap());
    assert_eq!(pages[0]["header_type"], "meta");
    let t = key_tree(&db_bytes());
    let o = run(&["bolt", "page", s(&d), &t.root.to_string(), "-o", "json"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["header_type"], "branch");
    assert_eq!(v["elements"][0]["child"], t.children[0]);
    let o = run(&["bolt", "keys", s(&d), "members", "--values"]);
    assert_eq!(code(&o), 0);
    assert!(text(&o).contains("peerURLs"));
    let o = run(&["bolt", "buckets", s(&d)]);
    assert!(text(&o).contains("members_removed"));
}

fn fingerprint(dir: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                out.push((
                    e.path().display().to_string(),
                    std::fs::read(e.path()).unwrap(),
                    md.modified().unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn inputs_are_never_modified() {
    // Work on a copy so a failure cannot damage the committed fixtures.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("etcd");
    let copy = Command::new("cp")
        .arg("-a")
        .arg(data_dir())
        .arg(&d)
        .status()
        .unwrap();
    assert!(copy.success());
    let before = fingerprint(&d);
    let db = d.join("member/snap/db");
    for args in [
        vec!["check", s(&d)],
        vec!["inspect", s(&d)],
        vec!["bolt", "pages", s(&db)],
        vec!["bolt", "page", s(&db), "3"],
        vec!["bolt", "buckets", s(&db)],
        vec!["bolt", "keys", s(&db), "key", "--values"],
    ] {
        assert_eq!(code(&run(&args)), 0, "{args:?}");
    }
    assert!(fingerprint(&d) == before, "an input file changed");
}
