//! Boot predictions judged by real etcd 3.4: each damaged copy of the
//! fixture member is checked, then etcd is started on it (loopback, its own
//! ports) and we see whether it serves or exits.

mod common;
use common::etcd::*;
use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn predictions_match_etcd() {
    if !have_etcd() {
        return;
    }
    type Damage = fn(&Path);
    let cases: Vec<(&str, Damage)> = vec![
        ("clean", |_| {}),
        ("db deleted", |d| {
            std::fs::remove_file(d.join("member/snap/db")).unwrap()
        }),
        ("snap file corrupted", |d| {
            for e in std::fs::read_dir(d.join("member/snap")).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "snap") {
                    let mut b = std::fs::read(&p).unwrap();
                    let n = b.len() / 2;
                    b[n] ^= 0xff;
                    std::fs::write(&p, b).unwrap();
                }
            }
        }),
        ("WAL cut mid record", |d| {
            let seg = wal_segment(d);
            let b = std::fs::read(&seg).unwrap();
            let recs = record_spans(&b);
            let (off, len) = recs[recs.len() - 2];
            std::fs::write(&seg, &b[..(off + len / 2) as usize]).unwrap();
        }),
        ("WAL byte flipped mid log", |d| {
            corrupt_mid_log_record(&wal_segment(d));
        }),
    ];
    let mut wrong = Vec::new();
    for (name, damage) in cases {
        let (_tmp, d) = copy_fixture();
        damage(&d);
        let boot = predicted(&d);
        let says = boot["starts"].as_bool().unwrap_or(false);
        let real = etcd_starts(&d);
        println!(
            "boot oracle: {name}: predicted starts={says} ({}), etcd 3.4 started={real}",
            boot["summary"]
        );
        if says != real {
            wrong.push(name);
        }
    }
    assert!(
        wrong.is_empty(),
        "predictions etcd disagreed with: {wrong:?}"
    );
}

#[test]
fn etcd_starts_on_repaired_logs() {
    if !have_etcd() {
        return;
    }
    for (name, allow) in [("torn tail", false), ("mid-log corruption", true)] {
        let (tmp, d) = copy_fixture();
        let seg = wal_segment(&d);
        let mut b = std::fs::read(&seg).unwrap();
        let recs = record_spans(&b);
        if allow {
            let (off, len) = recs[recs.len() / 2];
            for x in &mut b[(off + 8) as usize..(off + len) as usize] {
                *x ^= 0x5a;
            }
            std::fs::write(&seg, &b).unwrap();
        } else {
            let (off, len) = recs[recs.len() - 2];
            std::fs::write(&seg, &b[..(off + len / 2) as usize]).unwrap();
        }
        let out = tmp.path().join("repaired");
        let mut args = vec![
            "wal".to_string(),
            "repair".into(),
            d.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        if allow {
            args.push("--allow-data-loss".into());
        }
        let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
            .args(&args)
            .output()
            .unwrap();
        let before = std::fs::read(&seg).unwrap();
        if allow {
            // Cutting mid-log leaves the db ahead of the log: etcd would
            // start but skip every new entry up to the db's index and never
            // serve, so nothing is written and `repair` is pointed to.
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(!out.exists(), "{name}: refused but wrote {}", out.display());
            assert!(err.contains("beyond the end of the log"), "{err}");
            assert!(err.contains("etcd-rescue repair"), "{err}");
            assert_eq!(
                std::fs::read(&seg).unwrap(),
                before,
                "the input was modified"
            );
            println!("wal repair: {name}: refused: {err}");
            continue;
        }
        assert!(
            o.status.code().unwrap() <= 1,
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The prediction on the repaired copy must agree with etcd: a torn
        // tail repairs cleanly; cutting mid-log leaves the db ahead of the
        // log: etcd starts, but skips applying every new entry up to the
        // db's index, so writes (here the authentication the health check
        // needs) time out: a hazard, said as such (and by the repair).
        let p = predicted(&out);
        let says = p["starts"].as_bool().unwrap();
        let hazards = p["hazards"].as_array().map_or(0, |h| h.len());
        let real = etcd_starts(&out);
        assert!(says, "{name}: etcd starts on it");
        assert_eq!(hazards > 0, allow, "{name}: hazards {hazards}");
        assert_eq!(real, !allow, "{name}: etcd served={real}");
        if allow {
            assert!(String::from_utf8_lossy(&o.stdout).contains("beyond the repaired log's end"));
        }
        assert_eq!(
            std::fs::read(&seg).unwrap(),
            before,
            "the input was modified"
        );
        println!(
            "wal repair: {name}: etcd 3.4 served on the repaired copy: {}; {}",
            !allow,
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
        );
    }
}
