//! bbolt writes native-endian integers: a db from a big-endian machine
//! (s390x, ppc64) has every integer byte-swapped. The fixtures are converted
//! here page by page and must read exactly as the originals do.

mod common;
use common::*;
use etcd_rescue::bolt::{BoltFile, Endian};

fn swap(b: &mut [u8], off: usize, len: usize) {
    b[off..off + len].reverse();
}

/// Convert the node page image at `b[start..]` (a page or an inline page).
fn swap_node(b: &mut [u8], start: usize, len: usize) {
    let flags = u16::from_le_bytes([b[start + 8], b[start + 9]]);
    let count = u16::from_le_bytes([b[start + 10], b[start + 11]]) as usize;
    let mut inline = Vec::new();
    if flags == 0x02 {
        for i in 0..count {
            let e = start + 16 + 16 * i;
            let f = u32::from_le_bytes(b[e..e + 4].try_into().unwrap());
            let pos = u32::from_le_bytes(b[e + 4..e + 8].try_into().unwrap()) as usize;
            let ks = u32::from_le_bytes(b[e + 8..e + 12].try_into().unwrap()) as usize;
            let vs = u32::from_le_bytes(b[e + 12..e + 16].try_into().unwrap()) as usize;
            if f & 1 == 1 {
                let v = e + pos + ks;
                let root = u64::from_le_bytes(b[v..v + 8].try_into().unwrap());
                swap(b, v, 8);
                swap(b, v + 8, 8);
                if root == 0 {
                    inline.push((v + 16, vs - 16));
                }
            }
            for k in 0..4 {
                swap(b, e + 4 * k, 4);
            }
        }
    } else if flags == 0x01 {
        for i in 0..count {
            let e = start + 16 + 16 * i;
            swap(b, e, 4);
            swap(b, e + 4, 4);
            swap(b, e + 8, 8);
        }
    } else if flags == 0x10 {
        for i in 0..count.min((len - 16) / 8) {
            swap(b, start + 16 + 8 * i, 8);
        }
    }
    swap(b, start, 8);
    swap(b, start + 8, 2);
    swap(b, start + 10, 2);
    swap(b, start + 12, 4);
    for (s, l) in inline {
        swap_node(b, s, l);
    }
}

fn to_big_endian(orig: &[u8]) -> Vec<u8> {
    let f = BoltFile::new(orig).unwrap();
    let ps = f.page_size();
    let roles = {
        let db = etcd_rescue::ops::open::OpenDb {
            path: "x".into(),
            file: etcd_rescue::mmap::InputFile::from_bytes("x", orig.to_vec()),
            is_snapshot: false,
        };
        etcd_rescue::ops::check::check_db(&db).unwrap().roles
    };
    let mut b = orig.to_vec();
    for (id, role) in roles.iter().enumerate() {
        use etcd_rescue::bolt::walk::PageRole::*;
        let s = id * ps;
        match role {
            Meta => {
                swap(&mut b, s, 8);
                swap(&mut b, s + 8, 2);
                let m = s + 16;
                for (off, len) in [
                    (0, 4),
                    (4, 4),
                    (8, 4),
                    (12, 4),
                    (16, 8),
                    (24, 8),
                    (32, 8),
                    (40, 8),
                    (48, 8),
                ] {
                    swap(&mut b, m + off, len);
                }
                let sum = etcd_rescue::bolt::meta::fnv1a64(&b[m..m + 56]);
                b[m + 56..m + 64].copy_from_slice(&sum.to_be_bytes());
            }
            Branch | Leaf | Freelist => swap_node(&mut b, s, ps),
            _ => {}
        }
    }
    b
}

fn compare(orig: Vec<u8>) {
    let be = to_big_endian(&orig);
    let f = BoltFile::new(&be).unwrap();
    assert_eq!(f.endian(), Endian::Big);
    assert!(f.meta().is_some(), "big-endian metas validate");
    let keys = |x: &[u8]| {
        etcd_rescue::etcd::keyspace::count_keys(&BoltFile::new(x).unwrap())
            .map(|k| (k.keys, k.live_keys))
    };
    assert_eq!(keys(&orig), keys(&be));
    let a = check_bytes(orig);
    let b = check_bytes(be);
    let strip = |v: Vec<etcd_rescue::findings::Finding>| -> Vec<(&'static str, String)> {
        v.into_iter().map(|f| (f.code, f.message)).collect()
    };
    assert_eq!(strip(a), strip(b));
}

#[test]
fn etcd_fixture_reads_the_same_big_endian() {
    compare(db_bytes());
}

#[test]
fn freelist_fixture_reads_the_same_big_endian() {
    compare(std::fs::read(testdata().join("bolt/freelist.db")).unwrap());
}
