//! Agreement with bbolt's own check: the reference checker in bench/refcheck
//! (Debian's bbolt 1.3.6 `tx.Check`, built here with Go) judges the clean
//! fixtures and damaged copies. Wherever bbolt reports errors without
//! crashing, `check` must report errors too; on clean files both say OK.

mod common;
use common::refcheck::*;
use common::*;

#[test]
fn agrees_with_bbolt_check() {
    let Some(bin) = refcheck() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<(String, Vec<u8>)> = vec![
        ("etcd34".into(), db_bytes()),
        (
            "freelist".into(),
            std::fs::read(testdata().join("bolt/freelist.db")).unwrap(),
        ),
    ];
    for (_, b) in &inputs {
        // Clean files: both say OK.
        let p = dir.path().join("clean.db");
        std::fs::write(&p, b).unwrap();
        assert_eq!(judge(&bin, &p), Verdict::Ok);
        assert!(error_codes(b.clone()).is_empty());
    }
    // Damaged copies: every page zeroed, its flags and count bytes flipped,
    // and the first element's child or position word changed.
    let mut cases = Vec::new();
    for (name, orig) in inputs.drain(..) {
        let ps = 4096;
        for p in 2..orig.len() / ps {
            let s = p * ps;
            for (what, off, byte) in [
                ("zero", usize::MAX, 0u8),
                ("flags", 8, 0xff),
                ("count", 10, 0x40),
                ("elem", 24, 0x55),
            ] {
                let mut d = orig.clone();
                if off == usize::MAX {
                    d[s..s + ps].fill(0);
                } else {
                    d[s + off] ^= byte;
                }
                cases.push((format!("{name} page {p} {what}"), d));
            }
        }
    }
    let total = cases.len();
    let (mut both, mut only_ours, mut crashed, mut hung, mut missed) = (0, 0, 0, 0, Vec::new());
    for (what, bytes) in cases {
        let p = dir.path().join("case.db");
        std::fs::write(&p, &bytes).unwrap();
        let theirs = judge(&bin, &p);
        let ours = !error_codes(bytes).is_empty();
        match (theirs, ours) {
            (Verdict::Errors, true) => both += 1,
            (Verdict::Errors, false) => missed.push(what),
            (Verdict::Ok, true) => only_ours += 1,
            (Verdict::Crashed, _) => crashed += 1,
            (Verdict::Hung, _) => hung += 1,
            (Verdict::Ok, false) => {}
        }
    }
    println!(
        "bbolt agreement: {total} damaged copies: {both} both report, {only_ours} only etcd-rescue reports, bbolt 1.3.6 crashed on {crashed} and hung on {hung}, bbolt-only: {}",
        missed.len()
    );
    assert!(
        missed.is_empty(),
        "bbolt found errors etcd-rescue missed: {missed:#?}"
    );
}
