//! `wal repair` on every WAL damage class of `testdata/damage_matrix.py`,
//! for the fixture of each line, with and without `--allow-data-loss`:
//! what it writes passes `wal verify` by that line's rules and that line's
//! real etcd serves on it; what it cannot repair it refuses (exit 2) with
//! the reason, pointing to `repair`, and leaves nothing under the output
//! name (no temp dir either).

mod common;
use common::oracle::{boot, oracle, LINES};
use std::process::Command;
use std::time::Duration;

const WAL_CLASSES: &str = "wal-torn-tail,wal-zero-range,wal-cut,wal-flip,wal-segment-missing,\
wal-segment-renamed,wal-drop-entry,wal-drop-tail-entries,wal-append-garbage,wal-torn-behind-ci";

#[test]
fn wal_repair_writes_only_logs_etcd_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_etcd-rescue");
    let (mut written, mut refused, mut bad) = (0, 0, Vec::new());
    for line in LINES {
        let (Some(etcd), Some(etcdctl)) = (oracle(line, "etcd"), oracle(line, "etcdctl")) else {
            continue;
        };
        let fixture = common::testdata().join(format!("etcd{}", line.replace('.', "")));
        let m = tmp.path().join(line);
        let g = Command::new("python3")
            .arg(common::testdata().join("damage_matrix.py"))
            .arg("--src")
            .arg(&fixture)
            .args(["--line", line, "--seed", "5", "--count", "10"])
            .args(["--classes", WAL_CLASSES])
            .arg(&m)
            .output()
            .unwrap();
        assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
        let cases: serde_json::Value =
            serde_json::from_slice(&std::fs::read(m.join(format!("matrix-{line}.json"))).unwrap())
                .unwrap();
        for c in cases.as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            for loss in [false, true] {
                let out = tmp.path().join(format!("{id}-{loss}"));
                let mut cmd = Command::new(bin);
                cmd.args(["wal", "repair"])
                    .arg(m.join(id))
                    .arg("--out")
                    .arg(&out);
                if loss {
                    cmd.arg("--allow-data-loss");
                }
                let o = cmd.output().unwrap();
                let said = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                let leftovers = std::fs::read_dir(tmp.path())
                    .unwrap()
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                    .count();
                assert_eq!(leftovers, 0, "{id}: a temp dir was left behind");
                match o.status.code() {
                    Some(2) => {
                        refused += 1;
                        if out.exists() {
                            bad.push(format!("{id} loss={loss}: refused but wrote {said}"));
                        }
                        if said.contains("nothing was written") && !said.contains("repair ") {
                            bad.push(format!("{id} loss={loss}: refusal names no way on: {said}"));
                        }
                    }
                    Some(0 | 1) => {
                        written += 1;
                        let v = Command::new(bin)
                            .args(["wal", "verify"])
                            .arg(&out)
                            .args(["--etcd-version", line])
                            .output()
                            .unwrap();
                        if !v.status.success() {
                            bad.push(format!(
                                "{id} loss={loss}: wal verify refuses the output: {}",
                                String::from_utf8_lossy(&v.stdout)
                            ));
                            continue;
                        }
                        let b = boot(&etcd, &etcdctl, &out, Duration::from_secs(20));
                        if !b.served {
                            bad.push(format!(
                                "{id} loss={loss}: etcd {line} does not serve the output: {:?}",
                                b.fatal
                            ));
                        }
                    }
                    other => bad.push(format!("{id} loss={loss}: exit {other:?}: {said}")),
                }
            }
        }
    }
    println!("wal repair: {written} outputs written (every one verified and served by its line's etcd), {refused} refused");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
