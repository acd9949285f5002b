//! Writing a fresh, compact bbolt file (format version 2) from sorted bucket
//! contents: leaves packed densely in key order, branch levels built from
//! the first key of each child, values larger than a page on overflow
//! pages, small buckets without sub-buckets inlined as bbolt inlines them
//! (a fake leaf page inside the bucket value, at most a quarter page), the
//! root bucket's leaf, then two valid metas. The freelist is either an
//! empty persisted page or absent (etcd's NoFreelistSync form). Pages are
//! written children before parents, as bbolt spills them.
#![forbid(unsafe_code)]

use super::meta::fnv1a64;
use super::MAGIC;

/// One bucket's contents: key/value pairs and nested buckets, each sorted
/// by key (they share one key space, as in bbolt).
#[derive(Debug, Clone, Default)]
pub struct BucketData {
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
    pub buckets: Vec<(Vec<u8>, BucketData)>,
    pub sequence: u64,
}

/// How to write.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub page_size: usize,
    /// Write an (empty) freelist page; else mark the freelist absent as
    /// etcd's NoFreelistSync does.
    pub persist_freelist: bool,
    /// The transaction id of the newer meta.
    pub txid: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            page_size: 4096,
            persist_freelist: false,
            txid: 2,
        }
    }
}

/// Why the contents cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("page size {0} is not a power of two between 1024 and 65536")]
    PageSize(usize),
    #[error("keys are not strictly increasing in a bucket (at {0:?})")]
    Order(String),
    #[error("an empty key, or a key longer than 32768 bytes")]
    KeySize,
}

const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const FREELIST: u16 = 0x10;
const BUCKET_FLAG: u32 = 0x01;

/// An element of a node before it is laid out.
struct Elem<'a> {
    flags: u32,
    key: &'a [u8],
    value: std::borrow::Cow<'a, [u8]>,
}

struct Out {
    ps: usize,
    buf: Vec<u8>,
}

impl Out {
    fn next_id(&self) -> u64 {
        (self.buf.len() / self.ps) as u64
    }

    /// Append a node page (and its overflow) built from `body` (everything
    /// after the page header); returns its id.
    fn page(&mut self, flags: u16, count: usize, body: &[u8]) -> u64 {
        let id = self.next_id();
        let size = 16 + body.len();
        let n = size.div_ceil(self.ps).max(1);
        let start = self.buf.len();
        self.buf.resize(start + n * self.ps, 0);
        let p = &mut self.buf[start..];
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..10].copy_from_slice(&flags.to_le_bytes());
        p[10..12].copy_from_slice(&(count as u16).to_le_bytes());
        p[12..16].copy_from_slice(&((n - 1) as u32).to_le_bytes());
        p[16..size].copy_from_slice(body);
        id
    }
}

/// The bytes after a leaf page's header for `elems`.
fn leaf_body(elems: &[Elem<'_>]) -> Vec<u8> {
    let n = elems.len();
    let mut arr = Vec::with_capacity(16 * n);
    let mut data = Vec::new();
    for (i, e) in elems.iter().enumerate() {
        let pos = 16 * (n - i) + data.len();
        arr.extend_from_slice(&e.flags.to_le_bytes());
        arr.extend_from_slice(&(pos as u32).to_le_bytes());
        arr.extend_from_slice(&(e.key.len() as u32).to_le_bytes());
        arr.extend_from_slice(&(e.value.len() as u32).to_le_bytes());
        data.extend_from_slice(e.key);
        data.extend_from_slice(&e.value);
    }
    arr.extend_from_slice(&data);
    arr
}

fn branch_body(children: &[(Vec<u8>, u64)]) -> Vec<u8> {
    let n = children.len();
    let mut arr = Vec::with_capacity(16 * n);
    let mut data = Vec::new();
    for (i, (k, id)) in children.iter().enumerate() {
        let pos = 16 * (n - i) + data.len();
        arr.extend_from_slice(&(pos as u32).to_le_bytes());
        arr.extend_from_slice(&(k.len() as u32).to_le_bytes());
        arr.extend_from_slice(&id.to_le_bytes());
        data.extend_from_slice(k);
    }
    arr.extend_from_slice(&data);
    arr
}

/// The elements of a bucket's key/value pairs.
fn pair_elems(pairs: &[(Vec<u8>, Vec<u8>)]) -> impl Iterator<Item = Elem<'_>> {
    pairs.iter().map(|(k, v)| Elem {
        flags: 0,
        key: k,
        value: std::borrow::Cow::Borrowed(v.as_slice()),
    })
}

/// Greatest element count per page (bbolt's writer panics at 0xFFFF).
const MAX_COUNT: usize = 0xFFFE;

/// Write the leaves and branches of a node list; returns the root page id.
fn write_tree(out: &mut Out, elems: Vec<Elem<'_>>) -> u64 {
    let ps = out.ps;
    let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut cur: Vec<Elem<'_>> = Vec::new();
    let mut size = 16;
    let flush = |out: &mut Out, cur: &mut Vec<Elem<'_>>, level: &mut Vec<(Vec<u8>, u64)>| {
        if cur.is_empty() {
            return;
        }
        let body = leaf_body(cur);
        let id = out.page(LEAF, cur.len(), &body);
        level.push((cur[0].key.to_vec(), id));
        cur.clear();
    };
    if elems.is_empty() {
        return out.page(LEAF, 0, &[]);
    }
    for e in elems {
        let esize = 16 + e.key.len() + e.value.len();
        if !cur.is_empty() && (size + esize > ps || cur.len() >= MAX_COUNT) {
            flush(out, &mut cur, &mut level);
            size = 16;
        }
        size += esize;
        cur.push(e);
    }
    flush(out, &mut cur, &mut level);
    // Branch levels until one page holds them all.
    while level.len() > 1 {
        let mut next = Vec::new();
        let mut group: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut size = 16;
        for (k, id) in level {
            let esize = 16 + k.len();
            if !group.is_empty() && (size + esize > ps || group.len() >= MAX_COUNT) {
                let body = branch_body(&group);
                let pid = out.page(BRANCH, group.len(), &body);
                next.push((group[0].0.clone(), pid));
                group.clear();
                size = 16;
            }
            size += esize;
            group.push((k, id));
        }
        let body = branch_body(&group);
        let pid = out.page(BRANCH, group.len(), &body);
        next.push((group[0].0.clone(), pid));
        level = next;
    }
    level.first().map_or(0, |(_, id)| *id)
}

fn check_keys(b: &BucketData) -> Result<(), WriteError> {
    let mut keys: Vec<&[u8]> = b
        .pairs
        .iter()
        .map(|(k, _)| k.as_slice())
        .chain(b.buckets.iter().map(|(k, _)| k.as_slice()))
        .collect();
    if keys.iter().any(|k| k.is_empty() || k.len() > 32768) {
        return Err(WriteError::KeySize);
    }
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() != n {
        return Err(WriteError::Order("duplicate key".into()));
    }
    Ok(())
}

/// The value stored for bucket `b` in its parent: a header, and the inline
/// page when bbolt would inline it.
fn bucket_value(out: &mut Out, b: &BucketData) -> Result<Vec<u8>, WriteError> {
    check_keys(b)?;
    let inline_size = 16
        + 16
        + b.pairs
            .iter()
            .map(|(k, v)| 16 + k.len() + v.len())
            .sum::<usize>();
    let mut v = Vec::with_capacity(16);
    if b.buckets.is_empty() && inline_size <= out.ps / 4 {
        let elems: Vec<Elem<'_>> = pair_elems(&b.pairs).collect();
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&b.sequence.to_le_bytes());
        // The fake page: id 0, leaf, count, no overflow.
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&LEAF.to_le_bytes());
        v.extend_from_slice(&(elems.len() as u16).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&leaf_body(&elems));
        return Ok(v);
    }
    let root = write_bucket(out, b)?;
    v.extend_from_slice(&root.to_le_bytes());
    v.extend_from_slice(&b.sequence.to_le_bytes());
    Ok(v)
}

/// Write a bucket's pages (sub-buckets first); returns its root page id.
fn write_bucket(out: &mut Out, b: &BucketData) -> Result<u64, WriteError> {
    check_keys(b)?;
    let mut sub: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for (name, child) in &b.buckets {
        sub.push((name, bucket_value(out, child)?));
    }
    let mut elems: Vec<Elem<'_>> = pair_elems(&b.pairs)
        .chain(sub.into_iter().map(|(k, v)| Elem {
            flags: BUCKET_FLAG,
            key: k,
            value: std::borrow::Cow::Owned(v),
        }))
        .collect();
    elems.sort_by(|a, b| a.key.cmp(b.key));
    Ok(write_tree(out, elems))
}

fn meta_page(
    ps: usize,
    id: u64,
    root: u64,
    seq: u64,
    freelist: u64,
    pgid: u64,
    txid: u64,
) -> Vec<u8> {
    let mut p = vec![0u8; ps];
    p[0..8].copy_from_slice(&id.to_le_bytes());
    p[8..10].copy_from_slice(&META.to_le_bytes());
    let m = &mut p[16..];
    m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    m[4..8].copy_from_slice(&2u32.to_le_bytes());
    m[8..12].copy_from_slice(&(ps as u32).to_le_bytes());
    m[12..16].copy_from_slice(&0u32.to_le_bytes());
    m[16..24].copy_from_slice(&root.to_le_bytes());
    m[24..32].copy_from_slice(&seq.to_le_bytes());
    m[32..40].copy_from_slice(&freelist.to_le_bytes());
    m[40..48].copy_from_slice(&pgid.to_le_bytes());
    m[48..56].copy_from_slice(&txid.to_le_bytes());
    let sum = fnv1a64(&m[0..56]);
    m[56..64].copy_from_slice(&sum.to_le_bytes());
    p
}

/// Write a whole file whose root bucket holds `top` (top-level buckets).
pub fn write_db(top: &[(Vec<u8>, BucketData)], opts: WriteOptions) -> Result<Vec<u8>, WriteError> {
    let ps = opts.page_size;
    if !ps.is_power_of_two() || !(1024..=65536).contains(&ps) {
        return Err(WriteError::PageSize(ps));
    }
    let mut out = Out {
        ps,
        buf: vec![0u8; 2 * ps],
    };
    let freelist = if opts.persist_freelist {
        out.page(FREELIST, 0, &[])
    } else {
        u64::MAX
    };
    let root = BucketData {
        pairs: vec![],
        buckets: top.to_vec(),
        sequence: 0,
    };
    let root_id = write_bucket(&mut out, &root)?;
    let pgid = out.next_id();
    let txid = opts.txid.max(1);
    let m0 = meta_page(ps, 0, root_id, 0, freelist, pgid, txid - 1);
    let m1 = meta_page(ps, 1, root_id, 0, freelist, pgid, txid);
    out.buf[..ps].copy_from_slice(&m0);
    out.buf[ps..2 * ps].copy_from_slice(&m1);
    Ok(out.buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bolt::cursor::{find_bucket, BucketCursor};
    use crate::bolt::BoltFile;

    fn sample() -> Vec<(Vec<u8>, BucketData)> {
        let big: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
            .map(|i| {
                (
                    format!("k{i:06}").into_bytes(),
                    vec![(i % 251) as u8; (i as usize % 50) * 7],
                )
            })
            .collect();
        let mut with_large = big.clone();
        with_large.push((b"z-large".to_vec(), vec![7u8; 20_000]));
        vec![
            (
                b"a-small".to_vec(),
                BucketData {
                    pairs: vec![(b"x".to_vec(), b"1".to_vec())],
                    ..Default::default()
                },
            ),
            (b"b-empty".to_vec(), BucketData::default()),
            (
                b"data".to_vec(),
                BucketData {
                    pairs: with_large,
                    ..Default::default()
                },
            ),
            (
                b"nested".to_vec(),
                BucketData {
                    pairs: vec![(b"p".to_vec(), b"q".to_vec())],
                    buckets: vec![(
                        b"child".to_vec(),
                        BucketData {
                            pairs: big,
                            sequence: 9,
                            ..Default::default()
                        },
                    )],
                    sequence: 3,
                },
            ),
        ]
    }

    #[test]
    fn written_files_check_clean_and_read_back() {
        for persist in [false, true] {
            let bytes = write_db(
                &sample(),
                WriteOptions {
                    persist_freelist: persist,
                    ..Default::default()
                },
            )
            .unwrap();
            let db = crate::ops::open::OpenDb {
                path: "w.db".into(),
                file: crate::mmap::InputFile::from_bytes("w.db", bytes.clone()),
                is_snapshot: false,
            };
            let c = crate::ops::check::check_db(&db).unwrap();
            let errors: Vec<_> = c
                .findings
                .items()
                .iter()
                .filter(|f| {
                    f.severity != crate::findings::Severity::Info && f.code.starts_with("bolt.")
                })
                .map(|f| f.message.clone())
                .collect();
            assert!(errors.is_empty(), "persist={persist}: {errors:?}");
            let f = BoltFile::new(&bytes).unwrap();
            let meta = f.best_meta().unwrap();
            let key = find_bucket(&f, meta, b"data").unwrap();
            let n = BucketCursor::new(&f, key, meta.pgid)
                .filter(|i| i.is_ok())
                .count();
            assert_eq!(n, 3001);
        }
        assert!(write_db(
            &[(Vec::new(), BucketData::default())],
            WriteOptions::default()
        )
        .is_err());
    }
}
