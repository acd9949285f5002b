//! Damage to a persisted freelist (a bbolt 1.3.6 file written with default
//! options; etcd itself writes none): bbolt's `already freed`, `reachable
//! freed` and `unreachable unfreed`, and what bbolt does not check.

mod common;
use common::*;
use etcd_rescue::bolt::freelist::FreelistIds;
use etcd_rescue::bolt::BoltFile;

fn fixture() -> Vec<u8> {
    std::fs::read(testdata().join("bolt/freelist.db")).expect("testdata/bolt/freelist.db")
}

/// (freelist page offset, ids, a reachable leaf id).
fn layout(b: &[u8]) -> (usize, Vec<u64>, u64) {
    let f = BoltFile::new(b).unwrap();
    let m = f.meta().unwrap();
    let (h, bytes) = f.page_bytes(m.freelist, m.pgid).unwrap();
    let ids: Vec<u64> = FreelistIds::parse(&h, bytes, f.endian())
        .unwrap()
        .iter()
        .collect();
    (m.freelist as usize * f.page_size(), ids, m.root)
}

#[test]
fn clean_plain_bbolt_file() {
    let codes = error_codes(fixture());
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn double_free() {
    let mut b = fixture();
    let (off, ids, _) = layout(&b);
    assert!(ids.len() >= 2, "fixture has freed pages");
    put_u64(&mut b, off + 16 + 8, ids[0]);
    assert!(error_codes(b).contains(&"bolt.freelist.double-free"));
}

#[test]
fn freed_page_out_of_range() {
    let mut b = fixture();
    let (off, _, _) = layout(&b);
    put_u64(&mut b, off + 16, 1);
    let codes = error_codes(b);
    assert!(
        codes.contains(&"bolt.freelist.id-out-of-range"),
        "{codes:?}"
    );
}

#[test]
fn reachable_page_on_the_freelist() {
    let mut b = fixture();
    let (off, _, root) = layout(&b);
    put_u64(&mut b, off + 16, root);
    assert!(error_codes(b).contains(&"bolt.page.reachable-freed"));
}

#[test]
fn page_dropped_from_the_freelist_is_unreachable_unfreed() {
    let mut b = fixture();
    let (off, ids, _) = layout(&b);
    // Shorten the list by one: its last id is now neither free nor reachable.
    put_u16(&mut b, off + 10, (ids.len() - 1) as u16);
    let f = check_bytes(b);
    let u = f
        .iter()
        .find(|f| f.code == "bolt.page.unreachable-unfreed")
        .expect("unreachable unfreed");
    assert_eq!(u.page, Some(*ids.last().unwrap()));
}

#[test]
fn absurd_escaped_count_is_an_error_not_an_allocation() {
    let mut b = fixture();
    let (off, _, _) = layout(&b);
    put_u16(&mut b, off + 10, 0xffff);
    put_u64(&mut b, off + 16, u64::MAX / 2);
    assert!(error_codes(b).contains(&"bolt.freelist.count"));
}

#[test]
fn meta_names_a_leaf_as_freelist() {
    let mut b = fixture();
    let f = BoltFile::new(&b).unwrap();
    let cur = f.current.unwrap() as usize;
    let ps = f.page_size();
    let root = f.meta().unwrap().root;
    // Rewrite meta.freelist and fix its checksum so bbolt would accept it.
    let m = cur * ps + 16;
    put_u64(&mut b, m + 32, root);
    let sum = etcd_rescue::bolt::meta::fnv1a64(&b[m..m + 56]);
    put_u64(&mut b, m + 56, sum);
    assert!(error_codes(b).contains(&"bolt.freelist.wrong-type"));
}
