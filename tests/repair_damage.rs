//! `repair --salvage --replay-wal` on real etcd 3.4 members damaged in
//! recorded ways (testdata/repair_damage.py: full-disk truncation of the db,
//! zeroed branch and leaf pages, flipped bits in a branch and a leaf, bad
//! metas, a member
//! killed right after acknowledged writes, torn and zeroed WAL tails).
//! Each repaired file must be accepted by `etcdctl snapshot restore`, etcd
//! must serve the result, and what it serves is compared with what the
//! clients were told: the share of keys at their acknowledged value, and the
//! exactness of the report (every key not served at its acknowledged value
//! is accounted for: its latest revision reported uncertain, or its
//! revision inside a reported lost range).

mod common;
use common::etcd::{have_etcd, restore_and_get};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn b64d(s: &str) -> String {
    // etcdctl -w json gives keys and values in base64.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = A.iter().position(|a| *a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Restore `snapshot`, start etcd on it, and read every key.
fn serve(snapshot: &Path, work: &Path) -> BTreeMap<String, String> {
    let v = restore_and_get(snapshot, work, None);
    v["kvs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        b64d(kv["key"].as_str().unwrap_or_default()),
                        b64d(kv["value"].as_str().unwrap_or_default()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Keys whose account in the report says they may not be at their latest.
fn accounted(report: &Value, key: &str, truth_rev: Option<i64>) -> bool {
    let losses = &report["losses"];
    let uncertain = losses["keys"].as_array().is_some_and(|ks| {
        ks.iter()
            .any(|k| k["key"] == key && (k["latest"] == "uncertain" || k["lost"].is_array()))
    });
    let in_lost_range = truth_rev.is_some_and(|r| {
        ["lost_revisions", "unverifiable"].iter().any(|field| {
            losses[*field].as_array().is_some_and(|rs| {
                rs.iter()
                    .any(|g| g["first"].as_i64() <= Some(r) && Some(r) <= g["last"].as_i64())
            })
        })
    });
    let after_known_end =
        truth_rev.is_some_and(|r| losses["lost_after"].as_i64().is_some_and(|after| r > after));
    let conflicted = report["conflicts"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["key"] == key));
    uncertain || in_lost_range || after_known_end || conflicted
}

#[test]
fn repaired_members_restore_and_serve_what_clients_were_told() {
    if !have_etcd() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cases_dir = tmp.path().join("cases");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/repair_damage.py");
    let made = Command::new("python3")
        .arg(&script)
        .arg(&cases_dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "fixture script failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let cases: Value =
        serde_json::from_slice(&std::fs::read(cases_dir.join("cases.json")).unwrap()).unwrap();
    let bin = env!("CARGO_BIN_EXE_etcd-rescue");
    let mut table = Vec::new();
    for case in cases.as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        // The db cases twice: the page scan alone (as when the WAL has been
        // purged), and with the WAL, which here still holds every entry
        // from index 1 and so rebuilds everything.
        let modes: &[&[&str]] = if name.starts_with("db-") {
            &[&["--salvage"], &["--salvage", "--replay-wal"]]
        } else {
            &[&["--salvage", "--replay-wal"]]
        };
        for flags in modes {
            run_case(bin, &tmp, &cases_dir, case, flags, &mut table);
        }
    }
    println!("repair on damaged real members:\n  {}", table.join("\n  "));
}

fn run_case(
    bin: &str,
    tmp: &tempfile::TempDir,
    cases_dir: &Path,
    case: &Value,
    flags: &[&str],
    table: &mut Vec<String>,
) {
    // Cases where everything acknowledged still exists on disk, and the
    // repair can prove it has all of it.
    let must_be_complete = [
        "clean",
        "db-meta0-bad",
        "db-both-metas-bad",
        "killed",
        "killed-wal-cut",
        "killed-wal-zeroed",
    ];
    // Every leaf survives a zeroed branch page: the scan must bring all
    // of it back (below the compaction point it cannot prove that, so the
    // exit code stays 1).
    let must_recover_all = ["db-branch-zeroed", "db-branch-flipped"];
    let with_wal = flags.contains(&"--replay-wal");
    let name = case["case"].as_str().unwrap();
    let truth: Value = serde_json::from_slice(
        &std::fs::read(cases_dir.join(case["truth"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let truth = truth.as_object().unwrap();
    let work = tmp.path().join(format!("work-{name}-{}", flags.len()));
    std::fs::create_dir_all(&work).unwrap();
    let out = work.join("rescued.db");
    let report_path = work.join("report.json");
    let o = Command::new(bin)
        .arg("repair")
        .arg(cases_dir.join(case["dir"].as_str().unwrap()))
        .arg("--out")
        .arg(&out)
        .args(flags)
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let code = o.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "{name}: exit {code:?}: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let complete = report["complete"].as_bool().unwrap();
    assert_eq!(
        code == Some(0),
        complete,
        "{name}: exit code and report disagree"
    );
    assert_eq!(
        text.starts_with("recovered everything"),
        complete,
        "{name}: first line: {text}"
    );
    assert!(text.starts_with("recovered everything") || text.starts_with("INCOMPLETE"));

    let served = serve(&out, &work);
    let mut right = 0usize;
    let mut unaccounted = Vec::new();
    for (k, t) in truth {
        let want = t["value"].as_str().unwrap();
        if served.get(k).map(String::as_str) == Some(want) {
            right += 1;
        } else if !accounted(&report, k, t["revision"].as_i64()) {
            unaccounted.push(format!("{k}: served {:?}, told {want:?}", served.get(k)));
        }
    }
    for k in served.keys().filter(|k| !truth.contains_key(*k)) {
        if !accounted(&report, k, None) {
            unaccounted.push(format!("{k}: served but deleted (or never written)"));
        }
    }
    let share = right as f64 / truth.len() as f64;
    table.push(format!(
        "{name:<20} {:<26} exit {} keys at acknowledged value {right}/{} ({:.1} %)",
        flags.join(" "),
        code.unwrap_or(-1),
        truth.len(),
        100.0 * share
    ));
    assert!(
        unaccounted.is_empty(),
        "{name}: losses the report does not account for ({}): {:?}\n{text}",
        unaccounted.len(),
        &unaccounted[..unaccounted.len().min(5)]
    );
    if complete {
        assert_eq!(
            right,
            truth.len(),
            "{name}: complete but not everything served"
        );
    }
    // With the WAL whole from index 1, the db cases are rebuilt whole.
    let whole_log = with_wal && name.starts_with("db-");
    if must_be_complete.contains(&name) || whole_log {
        assert!(complete, "{name}: everything survives on disk, yet: {text}");
    }
    if must_be_complete.contains(&name) || must_recover_all.contains(&name) || whole_log {
        assert_eq!(right, truth.len(), "{name}: not everything came back");
    }
}
