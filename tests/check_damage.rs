//! Targeted damage on a real etcd 3.4 db: each kind of damage the field
//! reports describe gets its own precise finding.

mod common;
use common::*;
use etcd_rescue::bolt::BoltFile;
use etcd_rescue::etcd::KeyValue;
use etcd_rescue::proto;

#[test]
fn clean_fixture_has_no_error_or_warning() {
    let findings = check_bytes(db_bytes());
    let bad: Vec<_> = findings
        .iter()
        .filter(|f| f.severity != etcd_rescue::findings::Severity::Info)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn zeroed_leaf_page() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let leaf = t.children[1] as usize;
    b[leaf * t.page_size..(leaf + 1) * t.page_size].fill(0);
    let f = check_bytes(b);
    let z = f
        .iter()
        .find(|f| f.code == "bolt.page.zeroed")
        .expect("zeroed page found");
    assert_eq!(z.page, Some(leaf as u64));
    assert_eq!(z.offset, Some((leaf * t.page_size) as u64));
}

#[test]
fn branch_cycle_is_reported_not_followed() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    assert!(t.root_is_branch, "fixture key bucket needs a branch root");
    let off = t.root as usize * t.page_size + 16 + 8;
    put_u64(&mut b, off, t.root);
    assert!(error_codes(b).contains(&"bolt.page.cycle"));
}

#[test]
fn shared_child_is_multiple_references() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let off = t.root as usize * t.page_size + 16 + 16 + 8;
    put_u64(&mut b, off, t.children[0]);
    assert!(error_codes(b).contains(&"bolt.page.multiple-references"));
}

#[test]
fn child_past_high_water_mark() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let off = t.root as usize * t.page_size + 16 + 8;
    put_u64(&mut b, off, t.hwm + 1000);
    assert!(error_codes(b).contains(&"bolt.page.out-of-bounds"));
}

#[test]
fn file_cut_short_as_after_full_disk() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    b.truncate(b.len() / 2 / t.page_size * t.page_size);
    let f = check_bytes(b);
    assert!(f.iter().any(|f| f.code == "bolt.file.short"));
}

#[test]
fn current_meta_checksum_falls_back_and_both_bad_is_fatal() {
    let mut b = db_bytes();
    let f = BoltFile::new(&b).unwrap();
    let cur = f.current.unwrap() as usize;
    let ps = f.page_size();
    b[cur * ps + 16 + 48] ^= 1; // txid byte: checksum no longer matches
    let codes = error_codes(b.clone());
    assert!(codes.contains(&"bolt.meta.other-invalid"), "{codes:?}");
    let other = 1 - cur;
    b[other * ps + 16 + 48] ^= 1;
    let codes = error_codes(b);
    assert!(codes.contains(&"bolt.meta.no-valid"), "{codes:?}");
}

#[test]
fn page_id_mismatch() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let leaf = t.children[0] as usize;
    put_u64(&mut b, leaf * t.page_size, 7777);
    assert!(error_codes(b).contains(&"bolt.page.id-mismatch"));
}

#[test]
fn element_outside_page() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let leaf = t.children[0] as usize;
    put_u32(&mut b, leaf * t.page_size + 16 + 4, 0x00ff_ffff);
    assert!(error_codes(b).contains(&"bolt.element.outside-page"));
}

#[test]
fn empty_branch_page() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    put_u16(&mut b, t.root as usize * t.page_size + 10, 0);
    assert!(error_codes(b).contains(&"bolt.branch.empty"));
}

#[test]
fn keys_out_of_order_across_pages() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    // Swap the first two children: every key of the first now sorts after
    // the separator of the second.
    let e0 = t.root as usize * t.page_size + 16;
    put_u64(&mut b, e0 + 8, t.children[1]);
    put_u64(&mut b, e0 + 16 + 8, t.children[0]);
    assert!(error_codes(b).contains(&"bolt.key.order"));
}

#[test]
fn mod_revision_disagrees_with_revision_key() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let f = BoltFile::new(&b).unwrap();
    let leaf = f.node(t.children[0], t.hwm).unwrap();
    let item = leaf.leaf(0).unwrap();
    let kv = KeyValue::decode(item.value).unwrap();
    assert!(kv.mod_revision > 0);
    // Find field 3 (mod_revision) and change its first varint byte.
    let at = proto::fields(item.value)
        .map(Result::unwrap)
        .find(|(n, _, _)| *n == 3)
        .unwrap()
        .2;
    let value_off = etcd_rescue::bolt::walk::offset_in(f.data, item.value).unwrap() as usize;
    b[value_off + at + 1] ^= 0x01;
    assert!(error_codes(b).contains(&"etcd.key.inconsistent"));
}

#[test]
fn garbage_value_is_not_a_keyvalue() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let f = BoltFile::new(&b).unwrap();
    let leaf = f.node(t.children[0], t.hwm).unwrap();
    let item = leaf.leaf(0).unwrap();
    let value_off = etcd_rescue::bolt::walk::offset_in(f.data, item.value).unwrap() as usize;
    b[value_off] = 0xff; // a tag with wire type 7
    assert!(error_codes(b).contains(&"etcd.key.value-decode"));
}

#[test]
fn revision_key_separator() {
    let mut b = db_bytes();
    let t = key_tree(&b);
    let f = BoltFile::new(&b).unwrap();
    let leaf = f.node(t.children[0], t.hwm).unwrap();
    let item = leaf.leaf(0).unwrap();
    let key_off = etcd_rescue::bolt::walk::offset_in(f.data, item.key).unwrap() as usize;
    b[key_off + 8] = b'-';
    assert!(error_codes(b).contains(&"etcd.key.revision-key"));
}

#[test]
fn root_bucket_entry_without_bucket_flag() {
    let mut b = db_bytes();
    let f = BoltFile::new(&b).unwrap();
    let meta = f.meta().unwrap();
    let root = meta.root as usize;
    let ps = f.page_size();
    let node = f.node(meta.root, meta.pgid).unwrap();
    assert_eq!(node.header.kind(), etcd_rescue::bolt::PageKind::Leaf);
    put_u32(&mut b, root * ps + 16, 0);
    assert!(error_codes(b).contains(&"bolt.bucket.root-non-bucket"));
}

#[test]
fn inline_bucket_damage() {
    let mut b = db_bytes();
    let f = BoltFile::new(&b).unwrap();
    let meta = f.meta().unwrap();
    let node = f.node(meta.root, meta.pgid).unwrap();
    // The `meta` bucket is inline in etcd dbs: break its page's flags.
    let item = (0..node.count())
        .map(|i| node.leaf(i).unwrap())
        .find(|l| l.key == b"meta")
        .unwrap();
    assert_eq!(&item.value[..8], &[0u8; 8], "meta bucket is inline");
    let off = etcd_rescue::bolt::walk::offset_in(f.data, item.value).unwrap() as usize;
    b[off + 16 + 8] = 0x01; // inline page flags: branch
    assert!(error_codes(b).contains(&"bolt.bucket.inline"));
}
