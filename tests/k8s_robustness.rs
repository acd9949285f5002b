//! Damaged Kubernetes values never crash the decoder: every stored test
//! object of ../shared, cut at many lengths and with bytes flipped, goes
//! through recognition, decoding, decryption attempts and both printers;
//! and a damaged value still shows what survives rather than nothing.

use etcd_rescue::exercise;
use etcd_rescue::k8s::schema;
use etcd_rescue::ops::k8s::{decode_stored, ShowOptions};
use std::path::PathBuf;

fn values() -> Vec<(String, Vec<u8>)> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-testdata/HEAD");
    if !d.is_dir() {
        assert!(
            std::env::var("CI").is_err(),
            "../shared/k8s-testdata is missing"
        );
        eprintln!("SKIPPED: ../shared/k8s-testdata not found");
        return vec![];
    }
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pb"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn damaged_values_never_crash_and_keep_what_survives() {
    let vals = values();
    if vals.is_empty() {
        return;
    }
    let show = ShowOptions::default();
    let (mut runs, mut partial, mut cut) = (0u64, 0u64, 0u64);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (_, v) in &vals {
        // Cut at 24 lengths across the value.
        for k in 1..=24 {
            let b = &v[..v.len() * k / 25];
            runs += 1;
            std::hint::black_box(exercise::k8s(b));
            if b.len() > 64 {
                cut += 1;
                let (_, obj, _, _) = decode_stored(schema::builtin(), &show, b"", b);
                // A cut envelope still shows the fields before the cut.
                if obj.is_some() {
                    partial += 1;
                }
            }
        }
        // Flip 40 random bytes, one at a time, and 10 random runs of 8.
        for i in 0..50 {
            let mut b = v.clone();
            let at = (rnd() as usize) % b.len();
            let len = if i < 40 { 1 } else { 8.min(b.len() - at) };
            for x in &mut b[at..at + len] {
                *x ^= (rnd() as u8) | 1;
            }
            runs += 1;
            std::hint::black_box(exercise::k8s(&b));
        }
    }
    // Hostile shapes: deep nesting in CBOR and protobuf, huge lengths.
    let mut deep_cbor = vec![0xd9, 0xd9, 0xf7];
    deep_cbor.extend(std::iter::repeat_n(0x81u8, 100_000));
    exercise::k8s(&deep_cbor);
    let mut deep_pb = b"k8s\0".to_vec();
    for _ in 0..10_000 {
        deep_pb.extend_from_slice(&[0x12, 0x80, 0x80, 0x80, 0x80, 0x01]);
    }
    exercise::k8s(&deep_pb);
    exercise::k8s(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    exercise::k8s(b"k8s:enc:kms:v2:p:\x0a\xff\xff\xff\xff\x0f");
    println!(
        "k8s robustness: {runs} damaged values of {} kinds, no crash; {partial}/{cut} cut values still show an object",
        vals.len()
    );
    assert!(
        partial * 10 >= cut * 9,
        "only {partial}/{cut} cut values kept an object"
    );
}
