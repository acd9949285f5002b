//! Every line's fixture member against what that line's own etcdctl and
//! etcdutl said about it (testdata/etcdNN + testdata/truthNN, written by
//! `testdata/generate.sh --etcd DIR --line X.Y`): `get -w json` at the
//! latest and an older revision, `snapshot status -w json`, `hashkv`
//! (etcdctl's endpoint hashkv; etcdutl's offline hashkv on 3.6+), `members`,
//! and `check`'s revisions. Fixtures: 3.5, 3.6, 3.7, a member upgraded in
//! place 3.4 → 3.5 → 3.6, and a 3.6 voter whose peer is a learner.

mod common;
use common::testdata;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// (data dir name, truth dir name, the line that wrote it last).
const FIXTURES: [(&str, &str, &str); 5] = [
    ("etcd35", "truth35", "3.5"),
    ("etcd36", "truth36", "3.6"),
    ("etcd37", "truth37", "3.7"),
    ("etcd34to36", "truth34to36", "3.6"),
    ("etcd36learner", "truth36learner", "3.6"),
];

struct Fx {
    name: &'static str,
    line: &'static str,
    dir: PathBuf,
    truth: PathBuf,
}

impl Fx {
    fn t(&self, file: &str) -> Value {
        let p = self.truth.join(file);
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
    fn facts(&self) -> Value {
        self.t("facts.json")
    }
    fn d(&self) -> String {
        self.dir.display().to_string()
    }
    fn db(&self) -> String {
        self.dir.join("member/snap/db").display().to_string()
    }
    fn older(&self) -> String {
        self.facts()["older_revision"].to_string()
    }
    fn at_least(&self, line: &str) -> bool {
        let v = |s: &str| -> (u32, u32) {
            let mut it = s.split('.').map(|x| x.parse().unwrap_or(0));
            (it.next().unwrap_or(0), it.next().unwrap_or(0))
        };
        v(self.line) >= v(line)
    }
}

/// The committed fixtures (all must be there: they are in the repo).
fn fixtures() -> Vec<Fx> {
    FIXTURES
        .iter()
        .map(|(d, t, line)| {
            let fx = Fx {
                name: d,
                line,
                dir: testdata().join(d),
                truth: testdata().join(t),
            };
            assert!(
                fx.dir.join("member/snap/db").exists() && fx.truth.join("facts.json").exists(),
                "fixture {d} missing: see testdata/README.md"
            );
            fx
        })
        .collect()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// Run `f` on every fixture, collecting the failures so that one report
/// shows every line that differs.
fn each(f: impl Fn(&Fx) -> Vec<String>) {
    let mut bad = Vec::new();
    for fx in fixtures() {
        for m in f(&fx) {
            bad.push(format!("{} ({}): {m}", fx.name, fx.line));
        }
    }
    assert!(
        bad.is_empty(),
        "differences from the lines' own tools:\n{}",
        bad.join("\n")
    );
}

fn differ(what: &str, got: &Value, want: &Value) -> Option<String> {
    (got != want).then(|| format!("{what}: ours {got} / theirs {want}"))
}

#[test]
fn get_prefix_json_is_what_each_lines_etcdctl_printed() {
    each(|fx| {
        let mut bad = Vec::new();
        for (rev, file) in [
            (None, "get-latest.json".to_string()),
            (Some(fx.older()), format!("get-rev-{}.json", fx.older())),
        ] {
            let d = fx.d();
            let mut args = vec!["get", d.as_str(), "", "--prefix", "-w", "json"];
            if let Some(r) = &rev {
                args.extend(["--rev", r.as_str()]);
            }
            let got = json_of(&args);
            let want = fx.t(&file);
            if got != want {
                // Say where: the header, the count, or which key.
                bad.extend(differ(
                    &format!("{file} header"),
                    &got["header"],
                    &want["header"],
                ));
                bad.extend(differ(
                    &format!("{file} count"),
                    &got["count"],
                    &want["count"],
                ));
                let (g, w) = (got["kvs"].as_array(), want["kvs"].as_array());
                if let (Some(g), Some(w)) = (g, w) {
                    if let Some((a, b)) = g.iter().zip(w).find(|(a, b)| a != b) {
                        bad.push(format!("{file} first differing kv: ours {a} / theirs {b}"));
                    }
                }
                if bad.is_empty() {
                    bad.push(format!("{file}: differs"));
                }
            }
        }
        bad
    });
}

#[test]
fn check_agrees_with_each_line_on_revisions() {
    each(|fx| {
        let r = json_of(&["check", &fx.d(), "-o", "json"]);
        let db = &r["summary"]["db"];
        let status = fx.t("db-status.json");
        let facts = fx.facts();
        let mut bad = Vec::new();
        bad.extend(differ("ok", &r["ok"], &Value::from(true)));
        bad.extend(differ(
            "current revision",
            &db["current_revision"],
            &status["revision"],
        ));
        bad.extend(differ(
            "current revision (facts)",
            &db["current_revision"],
            &facts["revisions"]["latest"],
        ));
        bad.extend(differ(
            "compacted revision",
            &db["compacted_revision"],
            &facts["compact_revision"],
        ));
        let size =
            db["high_water_mark"].as_u64().unwrap_or(0) * db["page_size"].as_u64().unwrap_or(0);
        bad.extend(differ("size", &Value::from(size), &status["totalSize"]));
        bad
    });
}

#[test]
fn snapshot_status_hash_revision_and_size_are_each_lines() {
    each(|fx| {
        let got = json_of(&["snapshot", "status", &fx.db(), "-w", "json"]);
        let want = fx.t("db-status.json");
        ["hash", "revision", "totalSize"]
            .iter()
            .filter_map(|k| differ(k, &got[k], &want[k]))
            .collect()
    });
}

/// 3.6's etcdutl counts live keys as total keys and prints the storage
/// version; 3.5's counts every pair of every bucket (as 3.4's etcdctl).
#[test]
fn snapshot_status_total_keys_and_version_are_each_lines() {
    // The line is taken from the db (storageVersion) unless --etcd-version
    // names one: 3.6+ count live keys and print the storage version.
    each(|fx| {
        let got = json_of(&["snapshot", "status", &fx.db(), "-w", "json"]);
        let want = fx.t("db-status.json");
        let mut bad: Vec<String> = ["totalKey", "version"]
            .iter()
            .filter(|k| want.get(**k).is_some())
            .filter_map(|k| differ(k, &got[k], &want[k]))
            .collect();
        let o = run(&["snapshot", "status", &fx.db(), "-w", "table"]);
        let want = std::fs::read(fx.truth.join("db-status.txt")).unwrap();
        if o.stdout != want {
            bad.push(format!(
                "table: ours\n{}theirs\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&want)
            ));
        }
        bad
    });
}

#[test]
fn hashkv_hash_and_compact_revision_are_each_lines() {
    each(|fx| {
        let mut bad = Vec::new();
        for (rev, file) in [
            ("0".to_string(), "hashkv-latest.json".to_string()),
            (fx.older(), format!("hashkv-rev-{}.json", fx.older())),
        ] {
            let got = json_of(&["hashkv", &fx.d(), "--rev", &rev, "-w", "json"]);
            let want = fx.t(&file);
            let (g, w) = (&got[0]["HashKV"], &want[0]["HashKV"]);
            for k in ["hash", "compact_revision", "header"] {
                bad.extend(differ(&format!("{file} {k}"), &g[k], &w[k]));
            }
        }
        bad
    });
}

/// 3.6+ servers also answer the revision the hash covers (hash_revision).
#[test]
fn hashkv_hash_revision_is_each_lines() {
    // hash_revision is printed for 3.6+ members only, as their etcdctl does.
    each(|fx| {
        let mut bad = Vec::new();
        for (rev, file) in [
            ("0".to_string(), "hashkv-latest.json".to_string()),
            (fx.older(), format!("hashkv-rev-{}.json", fx.older())),
        ] {
            let got = json_of(&["hashkv", &fx.d(), "--rev", &rev, "-w", "json"]);
            let want = fx.t(&file);
            bad.extend(differ(
                &format!("{file} HashKV"),
                &got[0]["HashKV"],
                &want[0]["HashKV"],
            ));
        }
        bad
    });
}

/// `etcdutl hashkv` (3.6+) on the stopped member: hash, hash revision and
/// compact revision.
#[test]
fn hashkv_matches_etcdutl_offline_hashkv() {
    each(|fx| {
        if !fx.at_least("3.6") {
            return Vec::new();
        }
        let mut bad = Vec::new();
        for (rev, file) in [
            ("0".to_string(), "utl-hashkv-latest.json".to_string()),
            (fx.older(), format!("utl-hashkv-rev-{}.json", fx.older())),
        ] {
            if !fx.truth.join(&file).exists()
                && fx.truth.join(file.replace(".json", ".error")).exists()
            {
                // etcdutl itself failed there (its error is beside the truth).
                continue;
            }
            let got = json_of(&["hashkv", &fx.d(), "--rev", &rev, "-w", "json"]);
            let want = fx.t(&file);
            let g = &got[0]["HashKV"];
            bad.extend(differ(&format!("{file} hash"), &g["hash"], &want["hash"]));
            bad.extend(differ(
                &format!("{file} compact revision"),
                &g["compact_revision"],
                &want["compactRevision"],
            ));
        }
        bad
    });
}

#[test]
fn members_are_what_each_lines_etcdctl_listed() {
    each(|fx| {
        let got = json_of(&["members", &fx.d(), "-w", "json"]);
        let want = fx.t("member-list.json");
        let mut bad = Vec::new();
        bad.extend(differ("members", &got["members"], &want["members"]));
        bad.extend(differ("header", &got["header"], &want["header"]));
        bad
    });
}
