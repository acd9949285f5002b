//! The page scan behind `repair --salvage`: every page of the file,
//! reachable or not (free, orphaned, past the high-water mark), read as a
//! leaf when its header says it is one at its own position, and every
//! element identified by what it holds: `key`-bucket revisions that
//! validate (revision key agrees with the `KeyValue`, the protobuf decodes
//! completely and strictly), and the small buckets' records where their
//! shape names the bucket. Root-bucket leaves (elements flagged as buckets)
//! are kept with their inline buckets, which hold the small buckets in
//! etcd's files. Nothing is invented: an element that does not validate is
//! counted and dropped.
#![forbid(unsafe_code)]

use crate::bolt::file::{bucket_root, BucketRoot};
use crate::bolt::page::{NodePage, PageKind};
use crate::bolt::BoltFile;
use crate::etcd::kv::KeyValue;
use crate::etcd::records;
use crate::etcd::revision::RevisionKey;
use rayon::prelude::*;
use serde::Serialize;

/// The etcd buckets a record can be identified as belonging to.
pub use crate::etcd::BUCKETS;

/// One identified record found on a page.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    pub bucket: &'static str,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub page: u64,
}

/// A leaf of the root bucket: bucket names and where each bucket's tree is.
#[derive(Debug, Clone)]
pub struct RootLeaf<'a> {
    pub page: u64,
    pub buckets: Vec<(&'a [u8], BucketRoot<'a>)>,
    /// The consistent index in the `meta` bucket it points to, when that
    /// can be read: ranks copies of the root leaf, newest first.
    pub consistent_index: Option<u64>,
}

/// Counts of the scan, for the report.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ScanStats {
    pub pages_scanned: u64,
    pub bytes_scanned: u64,
    pub leaf_pages: u64,
    pub root_leaves: u64,
    pub records_identified: u64,
    /// Elements of leaf pages that matched no bucket's shape or failed
    /// validation.
    pub records_rejected: u64,
    /// Wall time of the scan, and its rate over the file.
    pub seconds: f64,
    pub gb_per_second: f64,
}

/// What the scan found.
#[derive(Debug, Default)]
pub struct Scan<'a> {
    pub found: Vec<Found<'a>>,
    pub roots: Vec<RootLeaf<'a>>,
    pub stats: ScanStats,
}

impl<'a> Scan<'a> {
    /// Keep one identified record.
    fn keep(&mut self, bucket: &'static str, key: &'a [u8], value: &'a [u8], page: u64) {
        self.stats.records_identified += 1;
        self.found.push(Found {
            bucket,
            key,
            value,
            page,
        });
    }
}

/// Which bucket a record belongs to, judged by its shape alone.
pub fn identify(key: &[u8], value: &[u8]) -> Option<&'static str> {
    if let Ok(rev) = RevisionKey::parse(key) {
        return valid_revision(&rev, value).then_some("key");
    }
    if records::meta_record(key, value).is_ok() {
        return Some("meta");
    }
    match key {
        b"authEnabled" | b"authRevision" => {
            return records::auth_record(key, value).is_ok().then_some("auth")
        }
        b"clusterVersion" | b"downgrade" => {
            return records::cluster_record(key, value)
                .is_ok()
                .then_some("cluster")
        }
        _ => {}
    }
    if key.len() == 16 && key.iter().all(u8::is_ascii_hexdigit) {
        if value == b"removed" {
            return Some("members_removed");
        }
        if records::member_record(key, value).is_ok() {
            return Some("members");
        }
        return None;
    }
    if key.len() == 8 && records::lease_record(key, value).is_ok() {
        return Some("lease");
    }
    if value.is_empty() && records::alarm_record(key).is_ok() {
        return Some("alarm");
    }
    if records::user_record(key, value).is_ok() {
        return Some("authUsers");
    }
    if records::role_record(key, value).is_ok() {
        return Some("authRoles");
    }
    None
}

/// A `key`-bucket record as etcd writes it: a put whose `KeyValue` carries
/// the revision of its key, or a tombstone holding only the key.
pub fn valid_revision(rev: &RevisionKey, value: &[u8]) -> bool {
    let Ok(kv) = KeyValue::decode(value) else {
        return false;
    };
    if kv.key.is_empty() {
        return false;
    }
    if rev.tombstone {
        return kv.mod_revision == 0 || kv.mod_revision == rev.main;
    }
    kv.mod_revision == rev.main
        && kv.create_revision > 0
        && kv.create_revision <= kv.mod_revision
        && kv.version >= 1
}

/// Scan every whole page of `file`.
pub fn scan<'a>(file: &BoltFile<'a>) -> Scan<'a> {
    let started = std::time::Instant::now();
    let pages = file.file_pages();
    const CHUNK: u64 = 4096;
    let chunks: Vec<u64> = (0..pages.div_ceil(CHUNK)).collect();
    let _bar = crate::progress::start(
        "scanning every page",
        pages,
        crate::progress::Unit::Pages,
        pages * file.page_size() as u64,
    );
    let parts: Vec<Scan<'a>> = chunks
        .par_iter()
        .map(|&c| {
            let mut s = Scan::default();
            for id in c * CHUNK..((c + 1) * CHUNK).min(pages) {
                scan_page(file, id, &mut s);
            }
            crate::progress::tick(CHUNK.min(pages - c * CHUNK));
            s
        })
        .collect();
    let mut out = Scan::default();
    for p in parts {
        out.found.extend(p.found);
        out.roots.extend(p.roots);
        out.stats.leaf_pages += p.stats.leaf_pages;
        out.stats.root_leaves += p.stats.root_leaves;
        out.stats.records_identified += p.stats.records_identified;
        out.stats.records_rejected += p.stats.records_rejected;
    }
    out.stats.pages_scanned = pages;
    out.stats.bytes_scanned = pages * file.page_size() as u64;
    for r in &mut out.roots {
        r.consistent_index = root_consistent_index(file, r);
    }
    out.roots
        .sort_by_key(|r| (std::cmp::Reverse(r.consistent_index), r.page));
    out.stats.seconds = started.elapsed().as_secs_f64();
    out.stats.gb_per_second = out.stats.bytes_scanned as f64 / 1e9 / out.stats.seconds.max(1e-9);
    out
}

/// A leaf page at `id`: its header names it a leaf at its own position.
fn leaf_at<'a>(file: &BoltFile<'a>, id: u64) -> Option<NodePage<'a>> {
    let header = file.header(id)?;
    if header.id != id || header.kind() != PageKind::Leaf || header.count == 0 {
        return None;
    }
    let ps = file.page_size();
    let start = usize::try_from(id).ok()?.checked_mul(ps)?;
    let want = (u64::from(header.overflow) + 1).checked_mul(ps as u64)?;
    let end = start
        .saturating_add(usize::try_from(want).ok()?)
        .min(file.data.len());
    let node = NodePage::new(file.data.get(start..end)?, file.endian())?;
    node.check_array().ok()?;
    Some(node)
}

fn scan_page<'a>(file: &BoltFile<'a>, id: u64, s: &mut Scan<'a>) {
    let Some(node) = leaf_at(file, id) else {
        return;
    };
    s.stats.leaf_pages += 1;
    let mut root = RootLeaf {
        page: id,
        buckets: Vec::new(),
        consistent_index: None,
    };
    for i in 0..node.count() {
        let Ok(item) = node.leaf(i) else {
            s.stats.records_rejected += 1;
            continue;
        };
        if item.is_bucket() {
            let Some(name) = BUCKETS.iter().find(|b| b.as_bytes() == item.key) else {
                s.stats.records_rejected += 1;
                continue;
            };
            let Ok((r, _)) = bucket_root(item.value, file.endian()) else {
                s.stats.records_rejected += 1;
                continue;
            };
            if let BucketRoot::Inline(page) = r {
                inline_records(file, name, page, id, s);
            }
            root.buckets.push((item.key, r));
            continue;
        }
        match identify(item.key, item.value) {
            Some(bucket) => s.keep(bucket, item.key, item.value, id),
            None => s.stats.records_rejected += 1,
        }
    }
    if !root.buckets.is_empty() {
        s.stats.root_leaves += 1;
        s.roots.push(root);
    }
}

/// The records of an inline bucket named `bucket` (known from its parent),
/// each still validated by its shape.
fn inline_records<'a>(
    file: &BoltFile<'a>,
    bucket: &'static str,
    page: &'a [u8],
    id: u64,
    s: &mut Scan<'a>,
) {
    let Some(node) = NodePage::new(page, file.endian()) else {
        return;
    };
    if node.check_array().is_err() {
        return;
    }
    for i in 0..node.count() {
        match node.leaf(i) {
            Ok(item) if !item.is_bucket() && identify(item.key, item.value) == Some(bucket) => {
                s.keep(bucket, item.key, item.value, id)
            }
            _ => s.stats.records_rejected += 1,
        }
    }
}

/// The consistent index held by the `meta` bucket a root leaf points to.
fn root_consistent_index(file: &BoltFile<'_>, r: &RootLeaf<'_>) -> Option<u64> {
    let (_, meta) = r.buckets.iter().find(|(n, _)| *n == b"meta")?;
    let node = match *meta {
        BucketRoot::Inline(p) => NodePage::new(p, file.endian())?,
        BucketRoot::Page(id) => leaf_at(file, id)?,
    };
    node.check_array().ok()?;
    (0..node.count()).find_map(|i| {
        let item = node.leaf(i).ok()?;
        match records::meta_record(item.key, item.value) {
            Ok(records::MetaRecord::ConsistentIndex(ci)) => Some(ci),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_records_by_shape() {
        let rev = RevisionKey {
            main: 7,
            sub: 0,
            tombstone: false,
        };
        let kv = KeyValue {
            key: b"/a",
            create_revision: 5,
            mod_revision: 7,
            version: 2,
            value: b"v",
            lease: 0,
            present: 0,
        };
        assert_eq!(identify(&rev.encode(), &kv.encode()), Some("key"));
        // The revision key disagrees with the value: rejected.
        let wrong = RevisionKey { main: 8, ..rev };
        assert_eq!(identify(&wrong.encode(), &kv.encode()), None);
        // A value cut short no longer decodes: rejected.
        let enc = kv.encode();
        assert_eq!(identify(&rev.encode(), &enc[..enc.len() - 1]), None);
        let tomb = RevisionKey {
            main: 9,
            sub: 0,
            tombstone: true,
        };
        let only_key = KeyValue {
            key: b"/a",
            ..KeyValue::default()
        };
        assert_eq!(identify(&tomb.encode(), &only_key.encode()), Some("key"));
        assert_eq!(
            identify(b"consistent_index", &42u64.to_be_bytes()),
            Some("meta")
        );
        assert_eq!(
            identify(b"8e9e05c52164694d", b"removed"),
            Some("members_removed")
        );
        assert_eq!(identify(b"random", b"junk"), None);
    }
}
