//! In-order iteration over one bucket that keeps going on a damaged file.
//!
//! The traversal is iterative (an explicit stack), each page is entered at
//! most once (a visited bitmap breaks cycles and shared subtrees), and a bad
//! subtree is reported as a [`CursorDamage`] item and skipped.

use super::file::{BoltFile, BucketRoot};
use super::page::{NodePage, PageKind};
use super::pageset::PageSet;
use serde::Serialize;

/// One key/value of a bucket (a sub-bucket when `is_bucket`).
#[derive(Debug, Clone, Copy)]
pub struct CursorItem<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    /// The page holding the item (the bucket's page for inline buckets).
    pub page: u64,
}

impl CursorItem<'_> {
    pub fn is_bucket(&self) -> bool {
        self.flags & super::BUCKET_LEAF_FLAG != 0
    }
}

/// A subtree or element the cursor had to skip.
#[derive(Debug, Clone, Serialize)]
pub struct CursorDamage {
    /// The page that could not be read (or holds the bad element).
    pub page: u64,
    /// The branch page that pointed at it, if any.
    pub parent: Option<u64>,
    /// The first key the parent says the skipped subtree starts with.
    pub lower_bound: Option<Vec<u8>>,
    /// The key the next sibling starts with: the skipped keys lie below it.
    pub upper_bound: Option<Vec<u8>>,
    pub reason: String,
}

struct Frame<'a> {
    node: NodePage<'a>,
    page: u64,
    next: u16,
    upper: Option<&'a [u8]>,
}

/// Iterator over a bucket's items in key order.
pub struct BucketCursor<'f, 'a> {
    file: &'f BoltFile<'a>,
    hwm: u64,
    stack: Vec<Frame<'a>>,
    visited: PageSet,
    pending: Option<CursorDamage>,
    seek: Option<Vec<u8>>,
}

impl<'f, 'a> BucketCursor<'f, 'a> {
    /// A cursor over the bucket at `root`, reading pages below `hwm`.
    pub fn new(file: &'f BoltFile<'a>, root: BucketRoot<'a>, hwm: u64) -> Self {
        let mut c = BucketCursor {
            file,
            hwm,
            stack: Vec::new(),
            visited: PageSet::new(file.addressable_pages(hwm)),
            pending: None,
            seek: None,
        };
        match root {
            BucketRoot::Page(id) => c.enter(id, None, None, None),
            BucketRoot::Inline(bytes) => match NodePage::new(bytes, file.endian()) {
                Some(node) if node.header.kind() == PageKind::Leaf => {
                    if let Err(e) = node.check_array() {
                        c.pending = Some(damage(0, None, None, None, e.describe()));
                    } else {
                        c.stack.push(Frame {
                            node,
                            page: 0,
                            next: 0,
                            upper: None,
                        });
                    }
                }
                _ => {
                    c.pending = Some(damage(
                        0,
                        None,
                        None,
                        None,
                        "inline bucket does not hold a leaf page".into(),
                    ))
                }
            },
        }
        c
    }

    /// Position the cursor so that the first item returned has key ≥ `start`
    /// (best effort on damaged trees; callers still filter).
    pub fn seek(mut self, start: &[u8]) -> Self {
        self.seek = Some(start.to_vec());
        if let Some(top) = self.stack.last_mut() {
            top.next = seek_index(&top.node, start);
        }
        self
    }

    fn enter(
        &mut self,
        id: u64,
        parent: Option<u64>,
        lower: Option<&[u8]>,
        upper: Option<&'a [u8]>,
    ) {
        let node = match open_node(self.file, &mut self.visited, id, self.hwm) {
            Ok(n) => n,
            Err(reason) => {
                self.pending = Some(damage(id, parent, lower, upper, reason));
                return;
            }
        };
        let next = match &self.seek {
            Some(s) => seek_index(&node, s),
            None => 0,
        };
        self.stack.push(Frame {
            node,
            page: id,
            next,
            upper,
        });
    }
}

/// Index of the first element to visit when seeking to `start`.
fn seek_index(node: &NodePage<'_>, start: &[u8]) -> u16 {
    match node.header.kind() {
        PageKind::Branch => {
            // Last element whose key ≤ start.
            let mut idx = 0;
            for i in 0..node.count() {
                match node.branch(i) {
                    Ok(b) if b.key <= start => idx = i,
                    Ok(_) => break,
                    Err(_) => break,
                }
            }
            idx
        }
        _ => 0,
    }
}

/// Enter page `id` once: it must be inside the file and below the
/// high-water mark, say its own id, be a branch or leaf, and hold its
/// element array. The reason why not, otherwise.
fn open_node<'a>(
    file: &BoltFile<'a>,
    visited: &mut PageSet,
    id: u64,
    hwm: u64,
) -> Result<NodePage<'a>, String> {
    if !visited.insert(id) {
        return Err(if id < visited.limit() {
            "page already visited (a cycle or a shared subtree)".into()
        } else {
            format!("page {id} is outside the file or the high-water mark")
        });
    }
    let node = file.node(id, hwm).map_err(|f| f.describe())?;
    if node.header.id != id {
        return Err(format!(
            "page header says id {}, expected {id}",
            node.header.id
        ));
    }
    if !matches!(node.header.kind(), PageKind::Branch | PageKind::Leaf) {
        return Err(format!(
            "expected a branch or leaf page, found {}",
            node.header.kind().name()
        ));
    }
    node.check_array().map_err(|e| e.describe())?;
    Ok(node)
}

fn damage(
    page: u64,
    parent: Option<u64>,
    lower: Option<&[u8]>,
    upper: Option<&[u8]>,
    reason: String,
) -> CursorDamage {
    CursorDamage {
        page,
        parent,
        lower_bound: lower.map(<[u8]>::to_vec),
        upper_bound: upper.map(<[u8]>::to_vec),
        reason,
    }
}

impl<'a> Iterator for BucketCursor<'_, 'a> {
    type Item = Result<CursorItem<'a>, CursorDamage>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(d) = self.pending.take() {
                return Some(Err(d));
            }
            let top = self.stack.last_mut()?;
            if top.next >= top.node.count() {
                self.stack.pop();
                continue;
            }
            let i = top.next;
            top.next += 1;
            let (node, page) = (top.node, top.page);
            match node.header.kind() {
                PageKind::Branch => {
                    let item = match node.branch(i) {
                        Ok(b) => b,
                        Err(e) => {
                            return Some(Err(damage(page, None, None, None, e.describe())));
                        }
                    };
                    // The next sibling's key bounds this subtree.
                    let upper = if i + 1 < node.count() {
                        node.branch(i + 1).ok().map(|b| b.key)
                    } else {
                        top.upper
                    };
                    self.enter(item.child, Some(page), Some(item.key), upper);
                }
                _ => {
                    if let Some(s) = &self.seek {
                        match node.leaf(i) {
                            Ok(l) if l.key < s.as_slice() => continue,
                            _ => self.seek = None,
                        }
                    }
                    return Some(match node.leaf(i) {
                        Ok(l) => Ok(CursorItem {
                            key: l.key,
                            value: l.value,
                            flags: l.flags,
                            page,
                        }),
                        Err(e) => Err(damage(page, None, None, None, e.describe())),
                    });
                }
            }
        }
    }
}

/// Top-level bucket names with their roots (or why a header is unusable).
pub type NamedRoots<'a> = Vec<(&'a [u8], Result<BucketRoot<'a>, String>)>;

/// The top-level buckets of a file read through `meta`: each name with its
/// root (or why its header is unusable), plus damage met on the way.
pub fn top_level_buckets<'a>(
    file: &BoltFile<'a>,
    meta: &super::Meta,
) -> (NamedRoots<'a>, Vec<CursorDamage>) {
    let mut out = Vec::new();
    let mut damages = Vec::new();
    for item in BucketCursor::new(file, BucketRoot::Page(meta.root), meta.pgid) {
        match item {
            Ok(it) if it.is_bucket() => {
                let r = super::file::bucket_root(it.value, file.endian())
                    .map(|(r, _)| r)
                    .map_err(|e| e.describe());
                out.push((it.key, r));
            }
            Ok(_) => {}
            Err(d) => damages.push(d),
        }
    }
    (out, damages)
}

/// Find one top-level bucket by name.
pub fn find_bucket<'a>(
    file: &BoltFile<'a>,
    meta: &super::Meta,
    name: &[u8],
) -> Option<BucketRoot<'a>> {
    top_level_buckets(file, meta)
        .0
        .into_iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, r)| r.ok())
}

/// The leaf pages of a bucket's tree, in key order, found by walking only
/// its branch pages (each page entered once), with the subtrees that could
/// not be read. Lets a caller read the leaves in parallel.
pub fn leaf_pages<'a>(
    file: &BoltFile<'a>,
    root: u64,
    hwm: u64,
) -> (Vec<NodePage<'a>>, Vec<CursorDamage>) {
    let mut visited = PageSet::new(file.addressable_pages(hwm));
    let mut leaves = Vec::new();
    let mut lost = Vec::new();
    // (page, parent, lower bound, upper bound)
    type Visit<'k> = (u64, Option<u64>, Option<&'k [u8]>, Option<&'k [u8]>);
    let mut stack: Vec<Visit<'a>> = vec![(root, None, None, None)];
    while let Some((id, parent, lower, upper)) = stack.pop() {
        let node = match open_node(file, &mut visited, id, hwm) {
            Ok(n) => n,
            Err(reason) => {
                lost.push(damage(id, parent, lower, upper, reason));
                continue;
            }
        };
        match node.header.kind() {
            PageKind::Leaf => leaves.push(node),
            PageKind::Branch => {
                let items: Vec<_> = (0..node.count())
                    .filter_map(|i| node.branch(i).ok())
                    .collect();
                for (i, b) in items.iter().enumerate().rev() {
                    let up = items.get(i + 1).map(|n| n.key).or(upper);
                    stack.push((b.child, Some(id), Some(b.key), up));
                }
            }
            // open_node admits only branch and leaf pages.
            _ => {}
        }
    }
    (leaves, lost)
}
