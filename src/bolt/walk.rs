//! The full structural check of a bbolt file: every invariant bbolt's
//! `tx.Check` verifies, and the ones it misses or crashes on.
//!
//! Work is split so each page is read once: a sequential depth-first walk of
//! branch pages (explicit stack, visited bitmap) claims every reachable page
//! and queues leaves in batches; leaves are checked in parallel (rayon), and
//! an [`ItemVisitor`] sees every key/value for the layer above (etcd).

use super::file::{bucket_root, BoltFile, BucketRoot};
use super::freelist::FreelistIds;
use super::meta::Meta;
use super::page::{NodePage, PageKind};
use super::pageset::PageSet;
use super::{BUCKET_LEAF_FLAG, MAX_KEY_SIZE};
use crate::findings::{show_bytes, Finding, Findings};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// Leaves queued before a parallel batch is run (bounds memory).
const LEAF_BATCH: usize = 8192;

/// What a page turned out to be, for page tables and the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageRole {
    /// Not reached, not free, not classified (only before the sweep).
    Unknown,
    Meta,
    Freelist,
    Branch,
    Leaf,
    /// A continuation page of a reachable page.
    Overflow,
    /// On the persisted freelist, or (without one) simply unreachable.
    Free,
    /// Neither reachable nor on a persisted freelist.
    Unreachable,
    /// Reachable but damaged.
    Damaged,
    /// In the file but at or past the high-water mark.
    BeyondHwm,
}

impl PageRole {
    pub fn name(self) -> &'static str {
        match self {
            PageRole::Unknown => "unknown",
            PageRole::Meta => "meta",
            PageRole::Freelist => "freelist",
            PageRole::Branch => "branch",
            PageRole::Leaf => "leaf",
            PageRole::Overflow => "overflow",
            PageRole::Free => "free",
            PageRole::Unreachable => "unreachable",
            PageRole::Damaged => "damaged",
            PageRole::BeyondHwm => "beyond-hwm",
        }
    }
}

/// Where a visited item lives.
pub struct ItemContext<'x> {
    /// Bucket path from the top level (etcd uses top-level buckets only).
    pub bucket: &'x [Vec<u8>],
    pub page: u64,
    /// File offset of the item's key.
    pub offset: u64,
    pub file: &'x str,
}

/// The layer above sees every plain key/value through this.
pub trait ItemVisitor: Sync {
    type Acc: Default + Send;
    fn visit(
        &self,
        acc: &mut Self::Acc,
        ctx: &ItemContext<'_>,
        key: &[u8],
        value: &[u8],
        out: &mut Vec<Finding>,
    );
    fn merge(&self, into: &mut Self::Acc, from: Self::Acc);
    /// How to name a key of `bucket` in messages (etcd names revisions).
    fn key_label(&self, _bucket: &[Vec<u8>], key: &[u8]) -> String {
        show_bytes(key)
    }
}

/// A visitor that does nothing (structure only).
pub struct NoVisitor;

impl ItemVisitor for NoVisitor {
    type Acc = ();
    fn visit(&self, _: &mut (), _: &ItemContext<'_>, _: &[u8], _: &[u8], _: &mut Vec<Finding>) {}
    fn merge(&self, _: &mut (), _: ()) {}
}

/// Per-bucket figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BucketStats {
    /// Names from the top level down.
    #[serde(skip)]
    pub path: Vec<Vec<u8>>,
    pub name: String,
    pub inline: bool,
    pub root: u64,
    pub sequence: u64,
    pub keys: u64,
    pub sub_buckets: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
    pub branch_pages: u64,
    pub leaf_pages: u64,
    pub overflow_pages: u64,
    pub depth: u32,
    pub errors: u64,
}

impl BucketStats {
    fn merge(&mut self, o: &BucketDelta) {
        self.keys += o.keys;
        self.sub_buckets += o.sub_buckets;
        self.key_bytes += o.key_bytes;
        self.value_bytes += o.value_bytes;
        self.errors += o.errors;
    }
}

#[derive(Debug, Clone, Default)]
struct BucketDelta {
    keys: u64,
    sub_buckets: u64,
    key_bytes: u64,
    value_bytes: u64,
    errors: u64,
}

/// Page counts by role.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageCounts {
    pub meta: u64,
    pub freelist: u64,
    pub branch: u64,
    pub leaf: u64,
    pub overflow: u64,
    pub free: u64,
    pub unreachable: u64,
    pub damaged: u64,
    pub beyond_hwm: u64,
}

/// A page the tree points to but that cannot be read as a node (zeroed,
/// mistyped, past the end of the file or the high-water mark, overflowing
/// the file): the keys its parent's separators gave it are lost with its
/// whole subtree.
#[derive(Debug, Clone)]
pub struct LostSubtree {
    /// Index into the walk's buckets.
    pub bucket: usize,
    /// The page that cannot be read.
    pub page: u64,
    pub parent: Option<u64>,
    /// The key range it held (None: unbounded on that side).
    pub lower: Option<Vec<u8>>,
    pub upper: Option<Vec<u8>>,
}

/// No bucket: the page was not reached as a tree node.
pub const NO_BUCKET: u16 = u16::MAX;

/// The result of a walk.
pub struct WalkReport<A> {
    pub findings: Findings,
    /// The meta the tree was read from (None: no usable meta).
    pub meta_slot: Option<u8>,
    pub hwm: u64,
    pub roles: Vec<PageRole>,
    pub counts: PageCounts,
    pub buckets: Vec<BucketStats>,
    pub acc: A,
    /// Ids on the persisted freelist (if any).
    pub freelist_len: Option<u64>,
    /// Every subtree the walk could not enter.
    pub lost: Vec<LostSubtree>,
    /// With `walk_tracking_buckets`: the bucket index of each reachable
    /// node page (and its overflow), `NO_BUCKET` for the others.
    pub page_bucket: Option<Vec<u16>>,
}

struct LeafTask<'a> {
    id: u64,
    bucket: usize,
    lower: Option<&'a [u8]>,
    upper: Option<&'a [u8]>,
}

struct Discovered<'a> {
    parent: usize,
    name: &'a [u8],
    root: u64,
    sequence: u64,
    inline_stats: Option<BucketDelta>,
}

struct LeafResult<'a, A> {
    findings: Vec<Finding>,
    deltas: Vec<(usize, BucketDelta)>,
    found: Vec<Discovered<'a>>,
    acc: A,
}

struct Walker<'f, 'a, V: ItemVisitor> {
    file: &'f BoltFile<'a>,
    name: &'f str,
    visitor: &'f V,
    hwm: u64,
    reachable: PageSet,
    /// (page id, the id its header carries, its overflow) of every reached
    /// page whose header names another page: bbolt 1.3.6 counts pages by
    /// the id they carry (see [`Walker::self_id_conflicts`]).
    self_ids: Vec<(u64, u64, u32)>,
    freed: Option<PageSet>,
    roles: Vec<PageRole>,
    findings: Findings,
    buckets: Vec<BucketStats>,
    /// Parent of each claimed branch page, to tell cycles from shared pages.
    branch_parent: HashMap<u64, Option<u64>>,
    leaves: Vec<LeafTask<'a>>,
    acc: V::Acc,
    lost: Vec<LostSubtree>,
    page_bucket: Option<Vec<u16>>,
}

/// Offset of `sub` within `data` when `sub` points into it.
pub fn offset_in(data: &[u8], sub: &[u8]) -> Option<u64> {
    let base = data.as_ptr() as usize;
    let p = sub.as_ptr() as usize;
    (p >= base && p <= base + data.len()).then(|| (p - base) as u64)
}

/// Check the whole file. `name` labels findings.
pub fn walk<V: ItemVisitor>(file: &BoltFile<'_>, name: &str, visitor: &V) -> WalkReport<V::Acc> {
    walk_with(file, name, visitor, false)
}

/// `walk`, also recording which bucket each reachable page belongs to (two
/// bytes a page, for the page map).
pub fn walk_tracking_buckets<V: ItemVisitor>(
    file: &BoltFile<'_>,
    name: &str,
    visitor: &V,
) -> WalkReport<V::Acc> {
    walk_with(file, name, visitor, true)
}

fn walk_with<V: ItemVisitor>(
    file: &BoltFile<'_>,
    name: &str,
    visitor: &V,
    track_buckets: bool,
) -> WalkReport<V::Acc> {
    let ps = file.page_size();
    let file_pages = file.file_pages();
    let mut findings = Findings::default();
    let meta = file.best_meta().cloned();
    let hwm = meta.as_ref().map_or(0, |m| m.pgid);
    let _bar = crate::progress::start(
        "walking the tree",
        hwm.min(file_pages),
        crate::progress::Unit::Pages,
        file.data.len() as u64,
    );
    let mut roles = vec![PageRole::Unknown; file_pages as usize];
    let limit = file.addressable_pages(hwm);
    for (i, r) in roles.iter_mut().enumerate() {
        if i as u64 >= hwm {
            *r = PageRole::BeyondHwm;
        }
    }
    let Some(meta) = meta else {
        findings.push(Finding::error(
            "bolt.meta.none-usable",
            name,
            "no meta page is usable: the tree cannot be read (try `repair --salvage`)".into(),
        ));
        let counts = count_roles(&roles);
        return WalkReport {
            findings,
            meta_slot: None,
            hwm,
            roles,
            counts,
            buckets: Vec::new(),
            acc: V::Acc::default(),
            freelist_len: None,
            lost: Vec::new(),
            page_bucket: None,
        };
    };
    let mut w = Walker {
        file,
        name,
        visitor,
        hwm,
        reachable: PageSet::new(limit),
        self_ids: Vec::new(),
        freed: None,
        roles,
        findings,
        buckets: Vec::new(),
        branch_parent: HashMap::new(),
        leaves: Vec::new(),
        acc: V::Acc::default(),
        lost: Vec::new(),
        page_bucket: track_buckets.then(|| vec![NO_BUCKET; file_pages as usize]),
    };
    for id in 0..2u64.min(limit) {
        w.reachable.insert(id);
        w.set_role(id, PageRole::Meta);
    }
    if (hwm as usize).saturating_mul(ps) > file.data.len() {
        w.findings.push(
            Finding::error(
                "bolt.file.short",
                name,
                format!(
                    "file is {} bytes but the high-water mark {hwm} × page size {ps} needs {} bytes: the end of the file is missing (as after a full disk or an interrupted copy)",
                    file.data.len(),
                    (hwm as u128) * ps as u128
                ),
            )
            .at_offset(file.data.len() as u64),
        );
    }
    let freelist_len = w.load_freelist(&meta);
    w.buckets.push(BucketStats {
        path: Vec::new(),
        name: "(root)".into(),
        root: meta.root,
        sequence: meta.root_sequence,
        ..Default::default()
    });
    let mut queue: Vec<(usize, u64)> = vec![(0, meta.root)];
    while !queue.is_empty() {
        for (b, root) in std::mem::take(&mut queue) {
            w.walk_tree(b, root, &mut queue);
        }
        w.flush_leaves(&mut queue);
    }
    w.self_id_conflicts();
    w.sweep();
    let Walker {
        mut findings,
        mut roles,
        buckets,
        acc,
        lost,
        page_bucket,
        ..
    } = w;
    for f in findings.items() {
        if f.severity == crate::findings::Severity::Error {
            if let Some(p) = f.page {
                if let Some(r) = roles.get_mut(p as usize) {
                    if matches!(
                        r,
                        PageRole::Branch | PageRole::Leaf | PageRole::Overflow | PageRole::Freelist
                    ) {
                        *r = PageRole::Damaged;
                    }
                }
            }
        }
    }
    let counts = count_roles(&roles);
    if !meta.has_freelist() && counts.free > 0 {
        findings.push(Finding::info(
            "bolt.freelist.not-persisted",
            name,
            format!(
                "no freelist is persisted (etcd's NoFreelistSync mode): {} unreachable pages below the high-water mark count as free",
                counts.free
            ),
        ));
    }
    WalkReport {
        findings,
        meta_slot: Some(meta.slot),
        hwm,
        roles,
        counts,
        buckets,
        acc,
        freelist_len,
        lost,
        page_bucket,
    }
}

fn count_roles(roles: &[PageRole]) -> PageCounts {
    let mut c = PageCounts::default();
    for r in roles {
        match r {
            PageRole::Meta => c.meta += 1,
            PageRole::Freelist => c.freelist += 1,
            PageRole::Branch => c.branch += 1,
            PageRole::Leaf => c.leaf += 1,
            PageRole::Overflow => c.overflow += 1,
            PageRole::Free => c.free += 1,
            PageRole::Unreachable => c.unreachable += 1,
            PageRole::Damaged => c.damaged += 1,
            PageRole::BeyondHwm => c.beyond_hwm += 1,
            PageRole::Unknown => {}
        }
    }
    c
}

impl<'a, V: ItemVisitor> Walker<'_, 'a, V> {
    fn ps(&self) -> usize {
        self.file.page_size()
    }

    fn set_role(&mut self, id: u64, role: PageRole) {
        if let Some(r) = self.roles.get_mut(id as usize) {
            *r = role;
        }
    }

    fn err(&mut self, bucket: Option<usize>, code: &'static str, page: u64, msg: String) {
        let f = Finding::error(code, self.name, msg).at_page(page, self.ps());
        self.findings.push(f);
        if let Some(b) = bucket.and_then(|b| self.buckets.get_mut(b)) {
            b.errors += 1;
        }
    }

    /// Record that the subtree at `page` cannot be entered.
    fn note_lost(
        &mut self,
        bucket: usize,
        page: u64,
        parent: Option<u64>,
        bounds: (Option<&[u8]>, Option<&[u8]>),
    ) {
        self.lost.push(LostSubtree {
            bucket,
            page,
            parent,
            lower: bounds.0.map(<[u8]>::to_vec),
            upper: bounds.1.map(<[u8]>::to_vec),
        });
    }

    fn bucket_label(&self, b: usize) -> String {
        self.buckets
            .get(b)
            .map_or_else(String::new, |s| s.name.clone())
    }

    /// Read the persisted freelist, if any, and check its ids.
    fn load_freelist(&mut self, meta: &Meta) -> Option<u64> {
        if !meta.has_freelist() {
            return None;
        }
        let id = meta.freelist;
        let (header, bytes) = match self.file.page_bytes(id, self.hwm) {
            Ok(p) => p,
            Err(f) => {
                self.err(
                    None,
                    "bolt.freelist.unreadable",
                    id,
                    format!("freelist page: {}", f.describe()),
                );
                return None;
            }
        };
        if header.kind() != PageKind::Freelist {
            self.err(
                None,
                "bolt.freelist.wrong-type",
                id,
                format!(
                    "meta names page {id} as the freelist, but it is a {} page: bbolt panics loading it, so etcd will not start and `etcdctl snapshot status` and `etcdctl snapshot restore` panic on this file; `etcd-rescue repair` writes a copy with a valid freelist",
                    header.kind().name()
                ),
            );
            return None;
        }
        if header.id != id {
            self.err(
                None,
                "bolt.page.id-mismatch",
                id,
                format!("page {id} identifies itself as page {}", header.id),
            );
        }
        for p in id..=id + u64::from(header.overflow) {
            self.reachable.insert(p);
            self.set_role(p, PageRole::Freelist);
        }
        let ids = match FreelistIds::parse(&header, bytes, self.file.endian()) {
            Ok(ids) => ids,
            Err(e) => {
                self.err(None, "bolt.freelist.count", id, e.describe());
                return None;
            }
        };
        let mut freed = PageSet::new(self.reachable.limit());
        let mut prev = None;
        let mut unsorted = false;
        for fid in ids.iter() {
            if prev.is_some_and(|p| fid < p) {
                unsorted = true;
            }
            prev = Some(fid);
            if fid < 2 || fid >= self.hwm {
                self.err(
                    None,
                    "bolt.freelist.id-out-of-range",
                    id,
                    format!(
                        "freelist lists page {fid}, outside the valid range [2, {})",
                        self.hwm
                    ),
                );
                continue;
            }
            if (id..=id + u64::from(header.overflow)).contains(&fid) {
                self.err(
                    None,
                    "bolt.freelist.lists-itself",
                    id,
                    format!("freelist lists page {fid}, which is part of the freelist itself"),
                );
                continue;
            }
            if fid < freed.limit() && !freed.insert(fid) {
                self.err(
                    None,
                    "bolt.freelist.double-free",
                    fid,
                    format!("page {fid}: already freed"),
                );
            }
        }
        if unsorted {
            self.findings.push(
                Finding::warning(
                    "bolt.freelist.unsorted",
                    self.name,
                    "freelist ids are not in ascending order".into(),
                )
                .at_page(id, self.ps()),
            );
        }
        let n = ids.len() as u64;
        self.freed = Some(freed);
        Some(n)
    }

    /// Where a claimed page came from, for messages (built only on error).
    fn origin(
        &self,
        bucket: usize,
        parent: Option<u64>,
        bounds: (Option<&[u8]>, Option<&[u8]>),
    ) -> String {
        let path = self.buckets.get(bucket).map_or(&[][..], |b| &b.path[..]);
        let label = |k: Option<&[u8]>| k.map(|k| self.visitor.key_label(path, k));
        let lost = match (label(bounds.0), label(bounds.1)) {
            (Some(l), Some(u)) => {
                format!("; its keys, from {l} up to (not including) {u}, cannot be read")
            }
            (Some(l), None) => {
                format!("; its keys, from {l} to the end of the bucket, cannot be read")
            }
            (None, Some(u)) => format!("; its keys, below {u}, cannot be read"),
            (None, None) => "; the whole bucket cannot be read".to_string(),
        };
        match parent {
            Some(p) => format!(
                " (referenced from page {p}, bucket {}{lost})",
                self.bucket_label(bucket)
            ),
            None => format!(" (root of bucket {}{lost})", self.bucket_label(bucket)),
        }
    }

    /// Claim page `id` as reachable and return it if it is a usable node.
    fn claim(
        &mut self,
        bucket: usize,
        id: u64,
        parent: Option<u64>,
        bounds: (Option<&[u8]>, Option<&[u8]>),
    ) -> Option<NodePage<'a>> {
        let file_pages = self.file.file_pages();
        if id >= self.hwm {
            self.note_lost(bucket, id, parent, bounds);
            let from = self.origin(bucket, parent, bounds);
            self.err(
                Some(bucket),
                "bolt.page.out-of-bounds",
                parent.unwrap_or(id),
                format!(
                    "page {id}: out of bounds: high-water mark is {}{from}",
                    self.hwm
                ),
            );
            return None;
        }
        if id >= file_pages {
            self.note_lost(bucket, id, parent, bounds);
            let from = self.origin(bucket, parent, bounds);
            self.err(
                Some(bucket),
                "bolt.page.beyond-eof",
                parent.unwrap_or(id),
                format!(
                    "page {id} lies past the end of the file ({file_pages} pages present){from}"
                ),
            );
            return None;
        }
        if id < 2 {
            self.note_lost(bucket, id, parent, bounds);
            let from = self.origin(bucket, parent, bounds);
            self.err(
                Some(bucket),
                "bolt.page.invalid-type",
                parent.unwrap_or(id),
                format!("page {id} is a meta page but is referenced as a tree node{from}"),
            );
            return None;
        }
        if !self.reachable.insert(id) {
            let cycle = parent.is_some_and(|p| self.is_ancestor(id, p));
            let (code, what) = if cycle {
                (
                    "bolt.page.cycle",
                    "is its own ancestor: the tree has a cycle",
                )
            } else {
                ("bolt.page.multiple-references", "multiple references")
            };
            let from = self.origin(bucket, parent, bounds);
            self.err(
                Some(bucket),
                code,
                parent.unwrap_or(id),
                format!("page {id}: {what}{from}"),
            );
            return None;
        }
        let header = self.file.header(id)?;
        if header.is_zero() {
            self.set_role(id, PageRole::Damaged);
            self.note_lost(bucket, id, parent, bounds);
            let from = self.origin(bucket, parent, bounds);
            self.err(
                Some(bucket),
                "bolt.page.zeroed",
                id,
                format!("page {id} is zeroed (an unwritten or lost page){from}"),
            );
            return None;
        }
        if header.id != id {
            let from = self.origin(bucket, parent, bounds);
            self.err(
                Some(bucket),
                "bolt.page.id-mismatch",
                id,
                format!("page {id} identifies itself as page {}{from}", header.id),
            );
            self.self_ids.push((id, header.id, header.overflow));
        }
        let kind = header.kind();
        if !matches!(kind, PageKind::Branch | PageKind::Leaf) {
            self.set_role(id, PageRole::Damaged);
            self.note_lost(bucket, id, parent, bounds);
            let from = self.origin(bucket, parent, bounds);
            // bbolt 1.3.6 tests the branch and leaf bits; 1.3.7+ wants
            // exactly one type flag.
            use super::page::{FLAG_BRANCH, FLAG_LEAF};
            let (code, read_as) = match header.flags & (FLAG_BRANCH | FLAG_LEAF) {
                0 => ("bolt.page.invalid-type", ""),
                FLAG_LEAF => (
                    "bolt.page.type-extra-flags",
                    "; read by its leaf bit it is a leaf",
                ),
                _ => (
                    "bolt.page.type-extra-flags",
                    "; read by its branch bit it is a branch",
                ),
            };
            self.err(
                Some(bucket),
                code,
                id,
                format!(
                    "page {id}: invalid type: expected branch or leaf, found {}{read_as}{from}",
                    kind.name()
                ),
            );
            return None;
        }
        let node = match self.file.node(id, self.hwm) {
            Ok(n) => n,
            Err(f) => {
                self.set_role(id, PageRole::Damaged);
                self.note_lost(bucket, id, parent, bounds);
                let from = self.origin(bucket, parent, bounds);
                self.err(
                    Some(bucket),
                    "bolt.page.overflow-out-of-bounds",
                    id,
                    format!("{}{from}", f.describe()),
                );
                return None;
            }
        };
        self.set_role(
            id,
            if kind == PageKind::Branch {
                PageRole::Branch
            } else {
                PageRole::Leaf
            },
        );
        if self.freed.as_ref().is_some_and(|f| f.contains(id)) {
            let from = self.origin(bucket, parent, bounds);
            self.err(
                Some(bucket),
                "bolt.page.reachable-freed",
                id,
                format!("page {id}: reachable freed{from}"),
            );
        }
        let ov = u64::from(header.overflow);
        if let Some(pb) = self.page_bucket.as_mut() {
            let b = u16::try_from(bucket).unwrap_or(NO_BUCKET - 1);
            let end = (id + ov + 1).min(pb.len() as u64);
            for p in id.min(end)..end {
                if let Some(x) = pb.get_mut(p as usize) {
                    *x = b;
                }
            }
        }
        for p in id + 1..=id + ov {
            if !self.reachable.insert(p) {
                self.err(
                    Some(bucket),
                    "bolt.page.multiple-references",
                    id,
                    format!("page {p} (overflow of page {id}) is also used elsewhere"),
                );
            } else {
                self.set_role(p, PageRole::Overflow);
            }
            if self.freed.as_ref().is_some_and(|f| f.contains(p)) {
                self.err(
                    Some(bucket),
                    "bolt.page.reachable-freed",
                    id,
                    format!("page {p} (overflow of page {id}) is reachable but on the freelist"),
                );
            }
        }
        if let Some(b) = self.buckets.get_mut(bucket) {
            b.overflow_pages += ov;
            match kind {
                PageKind::Branch => b.branch_pages += 1,
                _ => b.leaf_pages += 1,
            }
        }
        Some(node)
    }

    /// bbolt 1.3.6's open-time walk accounts pages by the id in their
    /// header: one past the high-water mark is "out of bounds", and one
    /// that (with its overflow) lands on another reached page is a
    /// "multiple references"; both panic. Said here as facts of the file.
    fn self_id_conflicts(&mut self) {
        let hwm = self.hwm;
        for (id, sid, ov) in std::mem::take(&mut self.self_ids) {
            if sid > hwm {
                self.err(
                    None,
                    "bolt.page.self-id-out-of-bounds",
                    id,
                    format!("page {id} carries the id {sid}, past the high-water mark {hwm}: a walk that counts pages by their own id calls it out of bounds"),
                );
                continue;
            }
            let own = id..=id.saturating_add(u64::from(ov));
            let hit = (sid..=sid.saturating_add(u64::from(ov)))
                .take(1 << 20)
                .find(|&x| {
                    x >= 2
                        && !own.contains(&x)
                        && x < self.reachable.limit()
                        && self.reachable.contains(x)
                });
            if let Some(x) = hit {
                self.err(
                    None,
                    "bolt.page.self-id-conflict",
                    id,
                    format!("page {id} carries the id {sid}, so a walk that counts pages by their own id meets page {x} twice (multiple references)"),
                );
            }
        }
    }

    fn is_ancestor(&self, target: u64, mut p: u64) -> bool {
        let mut steps = 0;
        loop {
            if p == target {
                return true;
            }
            steps += 1;
            match self.branch_parent.get(&p) {
                Some(Some(next)) if steps < 10_000 => p = *next,
                _ => return false,
            }
        }
    }

    /// Depth-first walk of one bucket's branch pages; leaves are queued.
    fn walk_tree(&mut self, bucket: usize, root: u64, queue: &mut Vec<(usize, u64)>) {
        struct Visit<'a> {
            id: u64,
            parent: Option<u64>,
            lower: Option<&'a [u8]>,
            upper: Option<&'a [u8]>,
            depth: u32,
        }
        let mut stack = vec![Visit {
            id: root,
            parent: None,
            lower: None,
            upper: None,
            depth: 1,
        }];
        while let Some(v) = stack.pop() {
            crate::progress::tick(1);
            let Some(node) = self.claim(bucket, v.id, v.parent, (v.lower, v.upper)) else {
                continue;
            };
            if let Some(b) = self.buckets.get_mut(bucket) {
                b.depth = b.depth.max(v.depth);
            }
            if node.header.kind() == PageKind::Leaf {
                self.leaves.push(LeafTask {
                    id: v.id,
                    bucket,
                    lower: v.lower,
                    upper: v.upper,
                });
                if self.leaves.len() >= LEAF_BATCH {
                    self.flush_leaves(queue);
                }
                continue;
            }
            self.branch_parent.insert(v.id, v.parent);
            if node.count() == 0 {
                self.err(
                    Some(bucket),
                    "bolt.branch.empty",
                    v.id,
                    format!("branch page {} has no elements", v.id),
                );
                continue;
            }
            let element_err = |w: &mut Self, e: super::page::ElementError| {
                let msg = format!("branch page {}: {}", v.id, e.describe());
                w.err(Some(bucket), "bolt.element.outside-page", v.id, msg);
            };
            if let Err(e) = node.check_array() {
                element_err(self, e);
                continue;
            }
            let mut children: Vec<(&'a [u8], u64)> = Vec::with_capacity(node.count() as usize);
            for i in 0..node.count() {
                let item = match node.branch(i) {
                    Ok(b) => b,
                    Err(e) => {
                        element_err(self, e);
                        continue;
                    }
                };
                if let Some(msg) = order_problem(
                    children.last().map(|c| c.0),
                    v.lower,
                    v.upper,
                    item.key,
                    children.is_empty(),
                ) {
                    self.err(
                        Some(bucket),
                        "bolt.key.order",
                        v.id,
                        format!("branch page {} element {i}: {msg}", v.id),
                    );
                }
                children.push((item.key, item.child));
            }
            for (i, &(key, child)) in children.iter().enumerate().rev() {
                let upper = children.get(i + 1).map(|c| c.0).or(v.upper);
                stack.push(Visit {
                    id: child,
                    parent: Some(v.id),
                    lower: Some(key),
                    upper,
                    depth: v.depth + 1,
                });
            }
        }
    }

    /// Check queued leaves in parallel and fold the results in.
    fn flush_leaves(&mut self, queue: &mut Vec<(usize, u64)>) {
        if self.leaves.is_empty() {
            return;
        }
        let tasks = std::mem::take(&mut self.leaves);
        let file = self.file;
        let buckets = &self.buckets;
        let (name, visitor, hwm) = (self.name, self.visitor, self.hwm);
        let results: Vec<LeafResult<'a, V::Acc>> = tasks
            .par_chunks(64)
            .map(|chunk| {
                let mut r = LeafResult {
                    findings: Vec::new(),
                    deltas: Vec::new(),
                    found: Vec::new(),
                    acc: V::Acc::default(),
                };
                for t in chunk {
                    check_leaf(file, name, visitor, hwm, buckets, t, &mut r);
                }
                r
            })
            .collect();
        let mut found = Vec::new();
        for r in results {
            for f in r.findings {
                self.findings.push(f);
            }
            for (b, d) in r.deltas {
                if let Some(s) = self.buckets.get_mut(b) {
                    s.merge(&d);
                }
            }
            found.extend(r.found);
            self.visitor.merge(&mut self.acc, r.acc);
        }
        for d in found {
            let mut path = self.buckets[d.parent].path.clone();
            path.push(d.name.to_vec());
            let name = path
                .iter()
                .map(|p| show_name(p))
                .collect::<Vec<_>>()
                .join("/");
            let idx = self.buckets.len();
            let mut stats = BucketStats {
                path,
                name,
                inline: d.inline_stats.is_some(),
                root: d.root,
                sequence: d.sequence,
                ..Default::default()
            };
            match d.inline_stats {
                Some(delta) => stats.merge(&delta),
                None => queue.push((idx, d.root)),
            }
            self.buckets.push(stats);
        }
    }

    /// Classify pages nothing reached.
    fn sweep(&mut self) {
        let limit = self.reachable.limit();
        let mut run: Option<(u64, u64)> = None;
        let mut runs = Vec::new();
        for id in 2..limit {
            if self.reachable.contains(id) {
                continue;
            }
            let on_freelist = self.freed.as_ref().map(|f| f.contains(id));
            match on_freelist {
                Some(false) => {
                    self.set_role(id, PageRole::Unreachable);
                    run = match run {
                        Some((s, e)) if e + 1 == id => Some((s, id)),
                        Some(r) => {
                            runs.push(r);
                            Some((id, id))
                        }
                        None => Some((id, id)),
                    };
                }
                _ => self.set_role(id, PageRole::Free),
            }
        }
        runs.extend(run);
        for (s, e) in runs {
            let what = if s == e {
                format!("page {s}: unreachable unfreed")
            } else {
                format!("pages {s}-{e}: unreachable unfreed ({} pages)", e - s + 1)
            };
            self.err(None, "bolt.page.unreachable-unfreed", s, what);
        }
    }
}

/// Why `key` is out of order, if it is.
fn order_problem(
    prev: Option<&[u8]>,
    lower: Option<&[u8]>,
    upper: Option<&[u8]>,
    key: &[u8],
    first: bool,
) -> Option<String> {
    if key.is_empty() {
        return Some("empty key".into());
    }
    if key.len() > MAX_KEY_SIZE {
        return Some(format!(
            "key is {} bytes, above bbolt's maximum {MAX_KEY_SIZE}",
            key.len()
        ));
    }
    if let Some(p) = prev {
        if key == p {
            return Some(format!("duplicate key {}", show_bytes(key)));
        }
        if key < p {
            return Some(format!(
                "key {} sorts before the previous key {}",
                show_bytes(key),
                show_bytes(p)
            ));
        }
    }
    if first {
        if let Some(l) = lower {
            if key < l {
                return Some(format!(
                    "first key {} sorts before the parent's separator {}",
                    show_bytes(key),
                    show_bytes(l)
                ));
            }
        }
    }
    if let Some(u) = upper {
        if key >= u {
            return Some(format!(
                "key {} is not below the next separator {} of the parent",
                show_bytes(key),
                show_bytes(u)
            ));
        }
    }
    None
}

/// A bucket name for display.
pub fn show_name(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => show_bytes(b),
    }
}

fn check_leaf<'a, V: ItemVisitor>(
    file: &BoltFile<'a>,
    name: &str,
    visitor: &V,
    hwm: u64,
    buckets: &[BucketStats],
    t: &LeafTask<'a>,
    r: &mut LeafResult<'a, V::Acc>,
) {
    let ps = file.page_size();
    let Ok(node) = file.node(t.id, hwm) else {
        return;
    };
    let path = buckets.get(t.bucket).map_or(&[][..], |b| &b.path[..]);
    let mut delta = BucketDelta::default();
    let err = |r: &mut LeafResult<'a, V::Acc>, delta: &mut BucketDelta, code, msg: String| {
        r.findings
            .push(Finding::error(code, name, msg).at_page(t.id, ps));
        delta.errors += 1;
    };
    if let Err(e) = node.check_array() {
        err(
            r,
            &mut delta,
            "bolt.element.outside-page",
            format!("leaf page {}: {}", t.id, e.describe()),
        );
        r.deltas.push((t.bucket, delta));
        return;
    }
    if node.count() == 0 && t.lower.is_some() {
        r.findings.push(
            Finding::warning(
                "bolt.leaf.empty",
                name,
                format!(
                    "leaf page {} has no elements but is not a bucket root",
                    t.id
                ),
            )
            .at_page(t.id, ps),
        );
    }
    let mut prev: Option<&[u8]> = None;
    for i in 0..node.count() {
        let item = match node.leaf(i) {
            Ok(it) => it,
            Err(e) => {
                err(
                    r,
                    &mut delta,
                    "bolt.element.outside-page",
                    format!("leaf page {}: {}", t.id, e.describe()),
                );
                continue;
            }
        };
        if let Some(msg) = order_problem(prev, t.lower, t.upper, item.key, prev.is_none()) {
            err(
                r,
                &mut delta,
                "bolt.key.order",
                format!("leaf page {} element {i}: {msg}", t.id),
            );
        }
        prev = Some(item.key);
        if item.flags & !BUCKET_LEAF_FLAG != 0 {
            r.findings.push(
                Finding::warning(
                    "bolt.element.flags",
                    name,
                    format!(
                        "leaf page {} element {i} has unknown flags {:#x}",
                        t.id, item.flags
                    ),
                )
                .at_page(t.id, ps),
            );
        }
        let offset = offset_in(file.data, item.key).unwrap_or(0);
        if item.is_bucket() {
            delta.sub_buckets += 1;
            match bucket_root(item.value, file.endian()) {
                Err(e) => err(
                    r,
                    &mut delta,
                    "bolt.bucket.header",
                    format!(
                        "leaf page {} element {i} (bucket {}): {}",
                        t.id,
                        show_name(item.key),
                        e.describe()
                    ),
                ),
                Ok((BucketRoot::Page(root), sequence)) => r.found.push(Discovered {
                    parent: t.bucket,
                    name: item.key,
                    root,
                    sequence,
                    inline_stats: None,
                }),
                Ok((BucketRoot::Inline(bytes), sequence)) => {
                    let mut sub_path = path.to_vec();
                    sub_path.push(item.key.to_vec());
                    let stats = check_inline(file, name, visitor, t.id, &sub_path, bytes, r);
                    r.found.push(Discovered {
                        parent: t.bucket,
                        name: item.key,
                        root: 0,
                        sequence,
                        inline_stats: Some(stats),
                    });
                }
            }
            continue;
        }
        if path.is_empty() {
            err(
                r,
                &mut delta,
                "bolt.bucket.root-non-bucket",
                format!(
                    "leaf page {} element {i}: the root bucket holds a plain key {} (only buckets belong there)",
                    t.id,
                    show_bytes(item.key)
                ),
            );
            continue;
        }
        delta.keys += 1;
        delta.key_bytes += item.key.len() as u64;
        delta.value_bytes += item.value.len() as u64;
        let ctx = ItemContext {
            bucket: path,
            page: t.id,
            offset,
            file: name,
        };
        visitor.visit(&mut r.acc, &ctx, item.key, item.value, &mut r.findings);
    }
    r.deltas.push((t.bucket, delta));
}

/// Check an inline bucket's page image and visit its items.
fn check_inline<'a, V: ItemVisitor>(
    file: &BoltFile<'a>,
    name: &str,
    visitor: &V,
    page: u64,
    path: &[Vec<u8>],
    bytes: &'a [u8],
    r: &mut LeafResult<'a, V::Acc>,
) -> BucketDelta {
    let ps = file.page_size();
    let mut d = BucketDelta::default();
    let label = path
        .iter()
        .map(|p| show_name(p))
        .collect::<Vec<_>>()
        .join("/");
    let mut err = |r: &mut LeafResult<'a, V::Acc>, msg: String| {
        r.findings.push(
            Finding::error(
                "bolt.bucket.inline",
                name,
                format!("inline bucket {label} in page {page}: {msg}"),
            )
            .at_page(page, ps),
        );
        d.errors += 1;
    };
    let Some(node) = NodePage::new(bytes, file.endian()) else {
        err(r, "too short for a page header".into());
        return d;
    };
    if node.header.kind() != PageKind::Leaf {
        err(
            r,
            format!(
                "holds a {} page, expected a leaf",
                node.header.kind().name()
            ),
        );
        return d;
    }
    if node.header.overflow != 0 {
        err(
            r,
            format!("inline page claims {} overflow pages", node.header.overflow),
        );
    }
    if let Err(e) = node.check_array() {
        err(r, e.describe());
        return d;
    }
    let mut prev: Option<&[u8]> = None;
    for i in 0..node.count() {
        let item = match node.leaf(i) {
            Ok(it) => it,
            Err(e) => {
                err(r, e.describe());
                continue;
            }
        };
        if let Some(msg) = order_problem(prev, None, None, item.key, prev.is_none()) {
            err(r, format!("element {i}: {msg}"));
        }
        prev = Some(item.key);
        if item.is_bucket() {
            err(
                r,
                format!("element {i} is a sub-bucket; inline buckets cannot hold buckets"),
            );
            continue;
        }
        d.keys += 1;
        d.key_bytes += item.key.len() as u64;
        d.value_bytes += item.value.len() as u64;
        let ctx = ItemContext {
            bucket: path,
            page,
            offset: offset_in(file.data, item.key).unwrap_or(0),
            file: name,
        };
        visitor.visit(&mut r.acc, &ctx, item.key, item.value, &mut r.findings);
    }
    d
}
