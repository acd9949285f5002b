//! A log of several real segments and snap files, written by etcd 3.4 in
//! the test run (64 MB segments cannot be committed): the CRC chain across
//! segments, the snap etcd loads, and a cut in the last segment.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Write ~70 MB through etcd so the WAL cuts to a second segment, with a
/// small snapshot count so several .snap files exist; stop cleanly.
fn generate(dir: &Path) -> bool {
    if Command::new("etcd").arg("--version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "etcd 3.4 is needed");
        eprintln!("SKIPPED: etcd not installed");
        return false;
    }
    let (c, p) = (port(), port());
    let ep = format!("http://127.0.0.1:{c}");
    let peer = format!("http://127.0.0.1:{p}");
    let mut child = Command::new("etcd")
        .args(["--name", "s", "--data-dir"])
        .arg(dir)
        .args(["--listen-client-urls", &ep, "--advertise-client-urls", &ep])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args([
            "--initial-cluster",
            &format!("s={peer}"),
            "--snapshot-count",
            "20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ctl = |args: &[&str], input: Option<&[u8]>| {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(&ep)
            .args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut ch = cmd.spawn().unwrap();
        if let Some(i) = input {
            use std::io::Write;
            ch.stdin.take().unwrap().write_all(i).unwrap();
        }
        ch.wait().unwrap().success()
    };
    let start = Instant::now();
    while !ctl(&["endpoint", "health"], None) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "etcd did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let value: Vec<u8> = (0..1_000_000u32)
        .map(|i| b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)
        .collect();
    for i in 0..70 {
        assert!(ctl(&["put", &format!("/big/{}", i % 10)], Some(&value)));
    }
    // SIGTERM for a clean stop.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    true
}

#[test]
fn several_segments_and_snaps_from_real_etcd() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    if !generate(&d) {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_etcd-rescue");
    let o = Command::new(bin)
        .args(["check", d.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    assert!(
        v["summary"]["wal"]["segments"].as_u64().unwrap() >= 2,
        "{:#}",
        v["summary"]["wal"]
    );
    assert_eq!(v["boot"]["starts"], true);
    let snaps = std::fs::read_dir(d.join("member/snap"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "snap")
        })
        .count();
    assert!(snaps >= 2, "several .snap files: {snaps}");
    // The newest snap is the one etcd loads.
    let loads = v["boot"]["loads_snap"].as_str().unwrap().to_string();
    let mut names: Vec<String> = std::fs::read_dir(d.join("member/snap"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".snap"))
        .collect();
    names.sort();
    assert_eq!(Some(&loads), names.last());
    // The chain continues across segments: a fresh reader of the second
    // segment alone adopts its CRC record and reads it whole.
    let mut segs: Vec<_> = std::fs::read_dir(d.join("member/wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    segs.sort();
    let second = std::fs::read(&segs[1]).unwrap();
    let mut crc = 0;
    let r = etcd_rescue::wal::segment::read_segment(&second, &mut crc, true, &mut |_, _| {});
    assert!(r.problem.is_none(), "{:?}", r.problem);
    // A flipped byte in the first (not last) segment is corruption, never a
    // torn tail, and stops etcd.
    let first = segs[0].clone();
    let mut b = std::fs::read(&first).unwrap();
    let spans = record_spans(&b);
    let &(off, len) = spans
        .iter()
        .rev()
        .find(|(o, l)| *l > 4096 && no_zero_sector_piece(&b, *o, *l))
        .unwrap();
    b[(off + len / 2) as usize] ^= 1;
    std::fs::write(&first, &b).unwrap();
    let o = Command::new(bin)
        .args(["check", d.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(v["boot"]["starts"], false);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "wal.record.crc-mismatch")
        .expect("crc mismatch");
    assert_eq!(f["offset"], off);
    assert_eq!(f["file"], first.display().to_string());
}
