//! The WAL of the real fixture, clean and damaged in the ways the field
//! reports describe: each found at the right file and offset and classed as
//! etcd 3.4 classes it (torn tail it repairs, or corruption it refuses).

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_member() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, d) = copy_fixture();
    let seg = wal_segment(&d);
    (tmp, d, seg)
}

fn verify(d: &Path) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(["wal", "verify", d.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        serde_json::from_slice(&o.stdout).unwrap(),
    )
}

/// Offsets of the records of a segment (from our own framing reader).
fn record_offsets(seg: &Path) -> Vec<(u64, u64)> {
    record_spans(&std::fs::read(seg).unwrap())
}

#[test]
fn clean_log_reads_to_the_hard_state() {
    let (code, v) = verify(&data_dir());
    assert_eq!(code, 0, "{v:#}");
    let facts: Value =
        serde_json::from_slice(&std::fs::read(testdata().join("truth/facts.json")).unwrap())
            .unwrap();
    assert_eq!(v["log"]["hard_state"]["term"], facts["raft_term"]);
    assert_eq!(
        v["log"]["metadata"]["node_id"]
            .as_u64()
            .map(|i| format!("{i:x}")),
        Some(facts["member_id"].as_str().unwrap().to_string())
    );
    let seg = &v["log"]["segments"][0]["read"];
    assert!(seg["last_index"].as_u64().unwrap() >= facts["raft_index"].as_u64().unwrap());
}

#[test]
fn flipped_byte_mid_log_is_a_crc_mismatch_at_its_record() {
    let (_t, d, seg) = copy_member();
    let off = corrupt_mid_log_record(&seg);
    let (code, v) = verify(&d);
    assert_eq!(code, 1);
    let f = &v["findings"][0];
    assert!(
        f["code"] == "wal.record.crc-mismatch" || f["code"] == "wal.record.unreadable",
        "{f:#}"
    );
    assert_eq!(f["offset"], off);
}

#[test]
fn zeroed_tail_is_a_torn_write_etcd_repairs() {
    let (_t, d, seg) = copy_member();
    let recs = record_offsets(&seg);
    // The last record long enough for a sector boundary inside its body.
    let &(off, _) = recs
        .iter()
        .rev()
        .find(|(_, l)| *l > 1100)
        .expect("a long record");
    let mut b = std::fs::read(&seg).unwrap();
    // Zero whole sectors from inside its body to the end, as a lost write does.
    let start = (off as usize + 8 + 512) / 512 * 512;
    for x in &mut b[start..] {
        *x = 0;
    }
    std::fs::write(&seg, &b).unwrap();
    let (code, v) = verify(&d);
    assert_eq!(code, 0, "a torn tail is repairable: {v:#}");
    let f = &v["findings"][0];
    assert_eq!(f["code"], "wal.record.torn-tail", "{v:#}");
    assert_eq!(f["offset"], off);
}

#[test]
fn cut_mid_record_is_a_torn_tail() {
    let (_t, d, seg) = copy_member();
    let recs = record_offsets(&seg);
    let (off, len) = recs[recs.len() - 2];
    let b = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &b[..(off + len / 2) as usize]).unwrap();
    let (code, v) = verify(&d);
    assert_eq!(code, 0);
    let f = &v["findings"][0];
    assert_eq!(f["code"], "wal.record.torn-tail");
    assert_eq!(f["offset"], off);
    assert_eq!(f["severity"], "warning");
}

#[test]
fn every_truncation_and_flip_is_classified_without_panic() {
    let b = std::fs::read(wal_segment(&data_dir())).unwrap();
    // Truncate at every 8-byte boundary of the first 64 KiB, flip every 97th byte.
    for cut in (0..b.len().min(65536)).step_by(8) {
        let mut crc = 0;
        let r = etcd_rescue::wal::segment::read_segment(&b[..cut], &mut crc, true, &mut |_, _| {});
        if let Some(p) = r.problem {
            assert!(
                p.repairable(),
                "a cut at {cut} must be a torn tail, got {p:?}"
            );
        }
    }
    for at in (0..b.len()).step_by(97) {
        let mut d = b.clone();
        d[at] ^= 0x20;
        let mut crc = 0;
        let r = etcd_rescue::wal::segment::read_segment(&d, &mut crc, false, &mut |_, _| {});
        // Not the last segment: no flip may pass as repairable.
        assert!(
            r.problem.as_ref().is_none_or(|p| !p.repairable()),
            "flip at {at}: {:?}",
            r.problem
        );
    }
}

/// Frame one WAL record (type, data) continuing the CRC chain.
fn frame(out: &mut Vec<u8>, crc: &mut u32, rtype: u64, data: &[u8]) {
    fn varint(o: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            o.push(v as u8 | 0x80);
            v >>= 7;
        }
        o.push(v as u8);
    }
    if rtype != 4 {
        *crc = crc32c::crc32c_append(*crc, data);
    }
    let mut rec = Vec::new();
    rec.push(0x08);
    varint(&mut rec, rtype);
    rec.push(0x10);
    varint(&mut rec, u64::from(*crc));
    if !data.is_empty() {
        rec.push(0x1a);
        varint(&mut rec, data.len() as u64);
        rec.extend_from_slice(data);
    }
    let pad = (8 - rec.len() % 8) % 8;
    let mut lf = rec.len() as u64;
    if pad > 0 {
        lf |= (0x80 | pad as u64) << 56;
    }
    out.extend_from_slice(&lf.to_le_bytes());
    out.extend_from_slice(&rec);
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn entry(term: u64, index: u64) -> Vec<u8> {
    vec![0x08, 0x00, 0x10, term as u8, 0x18, index as u8]
}

#[test]
fn dump_resolves_overwritten_entries_as_read_all_does() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("member/wal");
    std::fs::create_dir_all(&wal).unwrap();
    let (mut b, mut crc) = (Vec::new(), 0u32);
    frame(&mut b, &mut crc, 4, &[]);
    frame(&mut b, &mut crc, 1, &[0x08, 0x01, 0x10, 0x02]);
    for i in 1..=3 {
        frame(&mut b, &mut crc, 2, &entry(1, i));
    }
    // A new leader at term 2 overwrites index 2 (and so drops 3).
    frame(&mut b, &mut crc, 2, &entry(2, 2));
    frame(&mut b, &mut crc, 3, &[0x08, 0x02, 0x10, 0x01, 0x18, 0x02]);
    std::fs::write(wal.join("0000000000000000-0000000000000000.wal"), &b).unwrap();
    let (log, rows) =
        etcd_rescue::ops::wal::dump(&tmp.path().join("member"), &Default::default()).unwrap();
    assert!(
        log.segments[0].read.problem.is_none(),
        "the synthetic log is valid"
    );
    let got: Vec<(u64, u64, bool, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.term.unwrap(),
                r.index.unwrap(),
                r.superseded,
                r.committed.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, false, true),
            (1, 2, true, false),
            (1, 3, true, false),
            (2, 2, false, true)
        ]
    );
}

#[test]
fn raw_dump_walks_past_the_damage() {
    let (_t, d, seg) = copy_member();
    let recs = record_offsets(&seg);
    let off = corrupt_mid_log_record(&seg);
    let filter = etcd_rescue::ops::wal::DumpFilter {
        raw: true,
        ..Default::default()
    };
    let (_, rows) = etcd_rescue::ops::wal::dump(&d.join("member"), &filter).unwrap();
    let bad = rows
        .iter()
        .position(|r| r.record == "damaged")
        .expect("the damaged record is shown");
    assert_eq!(rows[bad].offset, off);
    // Every record after the damaged one is still listed, with its offset.
    let after: Vec<u64> = rows[bad + 1..].iter().map(|r| r.offset).collect();
    let want: Vec<u64> = recs.iter().map(|r| r.0).filter(|o| *o > off).collect();
    assert_eq!(after, want);
}
