//! The size of what `repair` writes, judged against bbolt's own compaction
//! (`bbolt compact` of bbolt's CLI 1.4, which refills every page to 100%):
//! the real etcd fixture with revisions of every size added (many values
//! just over a page, where a leaf with one element wastes most of its
//! second page), repaired by the streamed copy and by `--salvage`, and the
//! same records as bbolt compact lays them out repaired again (a healthy
//! input written by bbolt itself). Each repaired db is no larger than
//! bbolt compact's file of the same records, nor than its input. The
//! snapshot's SHA-256 trailer (32 bytes) is not part of the db and is left
//! out of the comparison.

mod common;
use common::bolt_edit::{bucket, dump, write_to};
use common::oracle::oracle;
use common::*;
use etcd_rescue::bolt::BoltFile;
use etcd_rescue::etcd::kv::KeyValue;
use etcd_rescue::etcd::revision::RevisionKey;
use std::path::Path;

/// Value sizes around one, two and three 4 KiB pages and between them.
const SIZES: [usize; 14] = [
    60, 700, 1500, 2100, 3000, 3900, 4050, 4100, 4600, 5500, 6100, 8150, 8300, 12_500,
];

/// The fixture with `n` more revisions of keys `/size/0..40`, their sizes
/// drawn from SIZES in a fixed pseudo-random order.
fn mixed_db(path: &Path, n: i64) {
    let mut b = dump(&db_bytes());
    let kb = bucket(&mut b, b"key");
    let top = kb
        .iter()
        .filter_map(|(k, _)| RevisionKey::parse(k).ok())
        .map(|r| r.main)
        .max()
        .unwrap();
    let mut x: u64 = 7;
    let mut versions = [0i64; 40];
    let mut created = [0i64; 40];
    for i in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let main = top + 1 + i;
        let k = (x >> 33) as usize % 40;
        let size = SIZES[(x >> 45) as usize % SIZES.len()];
        versions[k] += 1;
        if created[k] == 0 {
            created[k] = main;
        }
        let key = format!("/size/{k:02}");
        let value = vec![b'a' + (i % 26) as u8; size];
        let kv = KeyValue {
            key: key.as_bytes(),
            create_revision: created[k],
            mod_revision: main,
            version: versions[k],
            value: &value,
            ..KeyValue::default()
        };
        let rk = RevisionKey {
            main,
            sub: 0,
            tombstone: false,
        };
        kb.push((rk.encode(), kv.encode()));
    }
    write_to(path, &b);
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Repair `input` (with `extra` flags) and return the db's size without
/// the snapshot trailer.
fn repaired(input: &Path, out: &Path, extra: &[&str]) -> u64 {
    let mut args = vec![
        "repair",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ];
    args.extend_from_slice(extra);
    let (code, text) = run_code(&args);
    assert_eq!(code, 0, "{args:?}: {text}");
    assert!(text.starts_with("recovered everything"), "{args:?}: {text}");
    len(out) - 32
}

#[test]
fn repaired_dbs_are_no_larger_than_bbolt_compact_nor_their_input() {
    let Some(bbolt) = oracle("bbolt", "bbolt") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let ours = d.path().join("mixed.db");
    mixed_db(&ours, 3000);
    let compact = d.path().join("compact.db");
    let o = std::process::Command::new(&bbolt)
        .arg("compact")
        .arg("-o")
        .arg(&compact)
        .arg(&ours)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Not the file's length (bbolt grows its file ahead of use): the pages
    // below its high-water mark, what the records take in bbolt's layout.
    let limit = {
        let bytes = std::fs::read(&compact).unwrap();
        let f = BoltFile::new(&bytes).unwrap();
        f.best_meta().unwrap().pgid * f.page_size() as u64
    };
    assert!(limit <= len(&compact));
    let fixture = db_path();
    let mut seen = Vec::new();
    for input in [&ours, &compact, &fixture] {
        for extra in [&[][..], &["--salvage"][..]] {
            let out = d.path().join("out.db");
            let size = repaired(input, &out, extra);
            seen.push((input.file_name().unwrap().to_owned(), extra, size));
            let (code, text) = run_code(&["check", out.to_str().unwrap()]);
            assert_eq!(code, 0, "the repaired db checks clean: {text}");
            // bbolt's own check too: the writer puts several large values
            // on one multi-page leaf, as bbolt's split does. Without the
            // snapshot's hash trailer, which is not bbolt's.
            let bare = d.path().join("bare.db");
            let bytes = std::fs::read(&out).unwrap();
            std::fs::write(&bare, &bytes[..bytes.len() - 32]).unwrap();
            let o = std::process::Command::new(&bbolt)
                .arg("check")
                .arg(&bare)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "bbolt check of repair {extra:?} of {}: {}{}",
                input.display(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                size <= len(input),
                "repair {extra:?} of {} wrote {size} bytes, more than its input's {}",
                input.display(),
                len(input)
            );
            if input != &fixture {
                assert!(
                    size <= limit,
                    "repair {extra:?} of {} wrote {size} bytes, more than bbolt compact's {limit}",
                    input.display()
                );
            }
        }
    }
    // The same records give the same file, whichever way they were read.
    assert!(
        seen[..4].iter().all(|s| s.2 == seen[0].2),
        "sizes differ: {seen:?}"
    );
    eprintln!(
        "bbolt compact: {} bytes, {limit} below its high-water mark; repaired: {seen:?}",
        len(&compact)
    );
}
