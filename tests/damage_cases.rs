//! The recorded damage cases of `testdata/damage.py`, made from the real
//! etcd 3.4 fixture in the test run: `check` must report each damage where
//! the record says, predict boot as recorded, and (when etcd is installed,
//! always under CI) agree with what etcd 3.4 really does on each copy.

mod common;
use common::etcd::{etcd_starts, have_etcd};
use common::*;
use serde_json::Value;
use std::process::Command;

fn check_json(dir: &std::path::Path) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(["check", dir.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: no JSON ({e}): {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

fn make_cases() -> (tempfile::TempDir, Vec<Value>) {
    let tmp = tempfile::tempdir().unwrap();
    let ok = Command::new("python3")
        .arg(testdata().join("damage.py"))
        .arg(data_dir())
        .arg(tmp.path())
        .status()
        .expect("python3 runs testdata/damage.py");
    assert!(ok.success(), "damage.py failed");
    let record: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("damage.json")).unwrap()).unwrap();
    let cases = record.as_array().unwrap().clone();
    assert!(cases.len() >= 10, "damage.py made {} cases", cases.len());
    (tmp, cases)
}

#[test]
fn each_recorded_damage_is_found_and_boot_predicted() {
    let (tmp, cases) = make_cases();
    let mut wrong = Vec::new();
    for c in &cases {
        let name = c["case"].as_str().unwrap();
        let dir = tmp.path().join(c["dir"].as_str().unwrap());
        let (code, v) = check_json(&dir);
        let found: Vec<&str> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .filter_map(|f| f["code"].as_str())
            .collect();
        for want in c["expect"]["codes"].as_array().unwrap() {
            if !found.contains(&want.as_str().unwrap()) {
                wrong.push(format!("{name}: no {want} finding (found {found:?})"));
            }
        }
        let errors = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "error");
        if code != i32::from(errors) {
            wrong.push(format!("{name}: exit code {code} with errors={errors}"));
        }
        if found.is_empty() {
            wrong.push(format!("{name}: a damaged copy checked clean"));
        }
        // A finding about one record names its offset, and the offset the
        // script damaged lies inside the record it names.
        if let Some(rec) = c["expect"]["record_offset"].as_u64() {
            let at: Vec<u64> = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f["offset"].as_u64())
                .collect();
            if !at.contains(&rec) {
                wrong.push(format!(
                    "{name}: no finding at offset {rec} (offsets {at:?})"
                ));
            }
        }
        let says = v["boot"]["starts"].as_bool();
        if let Some(expected) = c["expect"]["starts"].as_bool() {
            if says != Some(expected) {
                wrong.push(format!(
                    "{name}: boot predicted {says:?}, recorded {expected}: {}",
                    v["boot"]["summary"]
                ));
            }
        }
        println!(
            "damage {name}: codes {found:?}; boot {says:?}: {}",
            v["boot"]["summary"]
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn boot_predictions_on_recorded_damage_match_etcd() {
    if !have_etcd() {
        return;
    }
    let (tmp, cases) = make_cases();
    let mut wrong = Vec::new();
    for c in &cases {
        let name = c["case"].as_str().unwrap();
        let dir = tmp.path().join(c["dir"].as_str().unwrap());
        let (_, v) = check_json(&dir);
        let says = v["boot"]["starts"].as_bool().unwrap_or(false);
        let real = etcd_starts(&dir);
        println!("etcd oracle {name}: predicted {says}, etcd 3.4 served {real}");
        if says != real {
            wrong.push(format!(
                "{name}: predicted {says}, etcd served {real}: {}",
                v["boot"]["summary"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
