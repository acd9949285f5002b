//! Writing a fresh, compact bbolt file (format version 2), streaming: pairs
//! arrive in key order and leave as pages at once, so memory is bounded by
//! the tree's fan-out (one leaf and one branch node per level), not by the
//! size of the db. Leaves are packed densely, branch levels are built from
//! the first key of each child, values larger than a page go on overflow
//! pages, small buckets without sub-buckets are inlined as bbolt inlines
//! them (a fake leaf page inside the bucket value, page header and elements
//! at most a quarter page), the root bucket's tree comes last, then both
//! metas are written into the two pages reserved at the start. The freelist
//! is either an empty persisted page or absent (etcd's NoFreelistSync
//! form). Pages are written children before parents, as bbolt spills them.
#![forbid(unsafe_code)]

use super::meta::fnv1a64;
use super::MAGIC;
use std::io::{Seek, SeekFrom, Write};

/// One bucket's contents for the in-memory form ([`write_db`]): key/value
/// pairs and nested buckets, each sorted by key (they share one key space,
/// as in bbolt).
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
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("page size {0} is not a power of two between 1024 and 65536")]
    PageSize(usize),
    #[error("keys are not strictly increasing in a bucket (at {0:?})")]
    Order(String),
    #[error("an empty key, or a key longer than 32768 bytes")]
    KeySize,
    #[error("a value longer than 2^31 bytes")]
    ValueSize,
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
    #[error("the contents laid out as {actual:?}, not as planned ({planned:?})")]
    Plan { planned: Layout, actual: Layout },
}

const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const FREELIST: u16 = 0x10;
const BUCKET_FLAG: u32 = 0x01;
/// Greatest element count per page (bbolt's writer panics at 0xFFFF).
const MAX_COUNT: usize = 0xFFFE;
const MAX_KEY: usize = 32768;
const MAX_VALUE: usize = (1 << 31) - 2;

/// The page sequence being written: ids handed out in order.
struct Pages<W> {
    ps: usize,
    out: W,
    next_id: u64,
    scratch: Vec<u8>,
    /// Only count pages (the layout pass): no bytes are built.
    counting: bool,
}

impl<W: Write> Pages<W> {
    /// Append one node page (and its overflow); `fill` writes everything
    /// after the 16-byte header into the buffer it is given.
    fn page(
        &mut self,
        flags: u16,
        count: usize,
        size: usize,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> std::io::Result<u64> {
        let id = self.next_id;
        if self.counting {
            self.next_id += size.div_ceil(self.ps).max(1) as u64;
            return Ok(id);
        }
        let buf = &mut self.scratch;
        buf.clear();
        buf.extend_from_slice(&id.to_le_bytes());
        buf.extend_from_slice(&flags.to_le_bytes());
        buf.extend_from_slice(&(count as u16).to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        fill(buf);
        let n = buf.len().div_ceil(self.ps).max(1);
        buf.resize(n * self.ps, 0);
        buf[12..16].copy_from_slice(&((n - 1) as u32).to_le_bytes());
        self.out.write_all(buf)?;
        self.next_id += n as u64;
        Ok(id)
    }
}

/// Element headers and bytes of one node being filled.
#[derive(Default)]
struct Node {
    /// (flags or child page id, key length, value length) per element.
    elems: Vec<(u64, u32, u32)>,
    data: Vec<u8>,
    size: usize,
}

impl Node {
    fn new() -> Node {
        Node {
            size: 16,
            ..Node::default()
        }
    }

    fn first_key(&self) -> &[u8] {
        let klen = self.elems.first().map_or(0, |e| e.1 as usize);
        self.data.get(..klen).unwrap_or_default()
    }

    fn fits(&self, esize: usize, ps: usize) -> bool {
        self.elems.is_empty() || (self.size + esize <= ps && self.elems.len() < MAX_COUNT)
    }

    /// Whether a leaf takes the next element rather than being written
    /// first. Within one page as for branches; besides, a leaf already
    /// longer than a page takes what fits in the rest of its last page, and
    /// a leaf of one element takes a second when one leaf of both needs
    /// fewer pages than two would (two values just over a page share three
    /// pages, as bbolt's split, which puts at least two elements in a node,
    /// lays them out). Pages of small values are unchanged; a mix with
    /// values just over a page takes fewer pages than `bbolt compact` gives
    /// it (tests/repair_size.rs).
    fn leaf_fits(&self, esize: usize, ps: usize) -> bool {
        if self.fits(esize, ps) {
            return true;
        }
        if self.elems.len() >= MAX_COUNT {
            return false;
        }
        let pages = |n: usize| n.div_ceil(ps).max(1);
        let joined = pages(self.size + esize);
        joined <= pages(self.size)
            || (self.elems.len() == 1 && joined < pages(self.size) + pages(16 + esize))
    }

    fn push(&mut self, tag: u64, key: &[u8], value: &[u8]) {
        self.elems.push((tag, key.len() as u32, value.len() as u32));
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
        self.size += 16 + key.len() + value.len();
    }

    /// Account for an element without keeping its bytes (the layout pass):
    /// only the first key is kept, for the parent.
    fn count(&mut self, tag: u64, key: &[u8], value_len: usize) {
        if self.elems.is_empty() {
            self.data.extend_from_slice(key);
        }
        self.elems.push((tag, key.len() as u32, 0));
        self.size += 16 + key.len() + value_len;
    }

    fn clear(&mut self) {
        self.elems.clear();
        self.data.clear();
        self.size = 16;
    }

    /// The leaf layout: 16-byte element headers (flags, pos, ksize, vsize),
    /// then keys and values.
    fn leaf_body(&self, buf: &mut Vec<u8>) {
        let n = self.elems.len();
        let mut data_off = 0usize;
        for (i, &(flags, k, v)) in self.elems.iter().enumerate() {
            let pos = 16 * (n - i) + data_off;
            buf.extend_from_slice(&(flags as u32).to_le_bytes());
            buf.extend_from_slice(&(pos as u32).to_le_bytes());
            buf.extend_from_slice(&k.to_le_bytes());
            buf.extend_from_slice(&v.to_le_bytes());
            data_off += k as usize + v as usize;
        }
        buf.extend_from_slice(&self.data);
    }

    /// The branch layout: 16-byte element headers (pos, ksize, pgid), then
    /// keys.
    fn branch_body(&self, buf: &mut Vec<u8>) {
        let n = self.elems.len();
        let mut data_off = 0usize;
        for (i, &(child, k, _)) in self.elems.iter().enumerate() {
            let pos = 16 * (n - i) + data_off;
            buf.extend_from_slice(&(pos as u32).to_le_bytes());
            buf.extend_from_slice(&k.to_le_bytes());
            buf.extend_from_slice(&child.to_le_bytes());
            data_off += k as usize;
        }
        buf.extend_from_slice(&self.data);
    }
}

/// One tree (a bucket's) built bottom-up as elements arrive in order.
struct TreeBuilder {
    leaf: Node,
    /// Branch nodes being filled, lowest level first, and whether each
    /// level has already written a page (so it is not the root).
    levels: Vec<(Node, bool)>,
    leaves_written: bool,
}

impl TreeBuilder {
    fn new() -> TreeBuilder {
        TreeBuilder {
            leaf: Node::new(),
            levels: Vec::new(),
            leaves_written: false,
        }
    }

    fn push<W: Write>(
        &mut self,
        pages: &mut Pages<W>,
        flags: u32,
        key: &[u8],
        value: &[u8],
    ) -> std::io::Result<()> {
        if !self.leaf.leaf_fits(16 + key.len() + value.len(), pages.ps) {
            self.flush_leaf(pages)?;
        }
        if pages.counting {
            self.leaf.count(u64::from(flags), key, value.len());
        } else {
            self.leaf.push(u64::from(flags), key, value);
        }
        Ok(())
    }

    fn flush_leaf<W: Write>(&mut self, pages: &mut Pages<W>) -> std::io::Result<()> {
        let leaf = &self.leaf;
        let id = pages.page(LEAF, leaf.elems.len(), leaf.size, |b| leaf.leaf_body(b))?;
        self.leaves_written = true;
        let key = self.leaf.first_key().to_vec();
        self.leaf.clear();
        self.add_child(pages, 0, &key, id)
    }

    fn add_child<W: Write>(
        &mut self,
        pages: &mut Pages<W>,
        level: usize,
        key: &[u8],
        id: u64,
    ) -> std::io::Result<()> {
        let mut level = level;
        let mut key = key.to_vec();
        let mut id = id;
        loop {
            if self.levels.len() <= level {
                self.levels.push((Node::new(), false));
            }
            let Some((node, written)) = self.levels.get_mut(level) else {
                return Ok(());
            };
            if node.fits(16 + key.len(), pages.ps) {
                node.push(id, &key, &[]);
                return Ok(());
            }
            let node_ref = &*node;
            let pid = pages.page(BRANCH, node_ref.elems.len(), node_ref.size, |b| {
                node_ref.branch_body(b)
            })?;
            let first = node.first_key().to_vec();
            node.clear();
            node.push(id, &key, &[]);
            *written = true;
            key = first;
            id = pid;
            level += 1;
        }
    }

    /// Write what is pending; returns the root page id.
    fn finish<W: Write>(mut self, pages: &mut Pages<W>) -> std::io::Result<u64> {
        if self.leaf.elems.is_empty() && !self.leaves_written {
            return pages.page(LEAF, 0, 16, |_| {});
        }
        if !self.leaf.elems.is_empty() {
            self.flush_leaf(pages)?;
        }
        let mut level = 0;
        loop {
            let top = level + 1 >= self.levels.len();
            let Some((node, written)) = self.levels.get_mut(level) else {
                return Ok(0);
            };
            if top && !*written && node.elems.len() == 1 {
                return Ok(node.elems.first().map_or(0, |e| e.0));
            }
            let node_ref = &*node;
            let pid = pages.page(BRANCH, node_ref.elems.len(), node_ref.size, |b| {
                node_ref.branch_body(b)
            })?;
            if top && !*written {
                return Ok(pid);
            }
            let first = node.first_key().to_vec();
            node.clear();
            self.add_child(pages, level + 1, &first, pid)?;
            level += 1;
        }
    }
}

/// Where a written file's root is and how many pages it has: what its
/// metas hold. A first pass into [`Discard`] gives it, so a second pass can
/// write the metas first and stream the whole file in order (for a running
/// checksum of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub root: u64,
    pub pgid: u64,
}

/// A writer that keeps nothing, for the layout pass.
#[derive(Debug, Default)]
pub struct Discard {
    pos: u64,
    len: u64,
}

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Discard {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            SeekFrom::Start(p) => {
                self.pos = p;
                return Ok(p);
            }
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => (self.len, d),
        };
        self.pos = base
            .0
            .checked_add_signed(base.1)
            .ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

impl DbWriter<Discard> {
    /// The layout pass: the same decisions as a real write, no bytes built
    /// (only sizes and first keys); [`DbWriter::finish`] gives the layout.
    pub fn layout_pass(opts: WriteOptions) -> Result<DbWriter<Discard>, WriteError> {
        let mut w = DbWriter::start(Discard::default(), opts, None)?;
        w.pages.counting = true;
        Ok(w)
    }
}

/// A bbolt file being written: pages stream to `out`; the top-level
/// buckets are opened one after another in name order.
pub struct DbWriter<W: Write + Seek> {
    pages: Pages<W>,
    /// Each top-level bucket's name and the value its parent stores.
    top: Vec<(Vec<u8>, Vec<u8>)>,
    freelist: u64,
    txid: u64,
    /// The layout the metas were written for, when written first.
    planned: Option<Layout>,
}

impl<W: Write + Seek> DbWriter<W> {
    /// Start a file at the current position of `out` (normally 0): two
    /// pages are reserved for the metas, written by [`DbWriter::finish`].
    pub fn new(out: W, opts: WriteOptions) -> Result<DbWriter<W>, WriteError> {
        DbWriter::start(out, opts, None)
    }

    /// Start a file whose layout is known (from a pass into [`Discard`]
    /// with the same contents): the metas are written at once, and the
    /// file is written strictly in order. [`DbWriter::finish`] fails if the
    /// contents turn out to lay out differently.
    pub fn planned(out: W, opts: WriteOptions, layout: Layout) -> Result<DbWriter<W>, WriteError> {
        DbWriter::start(out, opts, Some(layout))
    }

    fn start(
        mut out: W,
        opts: WriteOptions,
        planned: Option<Layout>,
    ) -> Result<DbWriter<W>, WriteError> {
        let ps = opts.page_size;
        if !ps.is_power_of_two() || !(1024..=65536).contains(&ps) {
            return Err(WriteError::PageSize(ps));
        }
        let txid = opts.txid.max(1);
        let freelist = if opts.persist_freelist { 2 } else { u64::MAX };
        match planned {
            Some(l) => out.write_all(&metas(ps, l, freelist, txid))?,
            None => out.write_all(&vec![0u8; 2 * ps])?,
        }
        let mut pages = Pages {
            ps,
            out,
            next_id: 2,
            scratch: Vec::with_capacity(2 * ps),
            counting: false,
        };
        if opts.persist_freelist {
            pages.page(FREELIST, 0, 16, |_| {})?;
        }
        Ok(DbWriter {
            pages,
            top: Vec::new(),
            freelist,
            txid,
            planned,
        })
    }

    fn check_top_name(&self, name: &[u8]) -> Result<(), WriteError> {
        if name.is_empty() || name.len() > MAX_KEY {
            return Err(WriteError::KeySize);
        }
        if self
            .top
            .last()
            .is_some_and(|(last, _)| last.as_slice() >= name)
        {
            return Err(WriteError::Order(
                String::from_utf8_lossy(name).into_owned(),
            ));
        }
        Ok(())
    }

    /// Open the next top-level bucket (names strictly increasing).
    pub fn bucket(&mut self, name: &[u8]) -> Result<BucketWriter<'_, W>, WriteError> {
        self.check_top_name(name)?;
        Ok(BucketWriter {
            db: self,
            name: name.to_vec(),
            small: Node::new(),
            tree: None,
            last: Vec::new(),
            count: 0,
        })
    }

    /// Add a top-level bucket given whole, with nested buckets.
    pub fn bucket_data(&mut self, name: &[u8], data: &BucketData) -> Result<(), WriteError> {
        self.check_top_name(name)?;
        let value = nested_value(&mut self.pages, data)?;
        self.top.push((name.to_vec(), value));
        Ok(())
    }

    /// Write the root bucket and both metas (unless written first);
    /// returns the output, positioned at the end of the file, and the layout.
    pub fn finish(mut self) -> Result<(W, Layout), WriteError> {
        let mut root = TreeBuilder::new();
        for (name, value) in &self.top {
            root.push(&mut self.pages, BUCKET_FLAG, name, value)?;
        }
        let layout = Layout {
            root: root.finish(&mut self.pages)?,
            pgid: self.pages.next_id,
        };
        let ps = self.pages.ps;
        let out = &mut self.pages.out;
        match self.planned {
            Some(p) if p == layout => {}
            Some(p) => {
                return Err(WriteError::Plan {
                    planned: p,
                    actual: layout,
                })
            }
            None if self.pages.counting => {}
            None => {
                out.seek(SeekFrom::Current(-((layout.pgid as usize * ps) as i64)))?;
                out.write_all(&metas(ps, layout, self.freelist, self.txid))?;
                out.seek(SeekFrom::Current(((layout.pgid as usize - 2) * ps) as i64))?;
            }
        }
        out.flush()?;
        Ok((self.pages.out, layout))
    }
}

/// Both meta pages: the older (txid - 1) in slot 0, the current in slot 1.
fn metas(ps: usize, l: Layout, freelist: u64, txid: u64) -> Vec<u8> {
    let mut v = meta_page(ps, 0, l.root, freelist, l.pgid, txid.saturating_sub(1));
    v.extend_from_slice(&meta_page(ps, 1, l.root, freelist, l.pgid, txid));
    v
}

/// One top-level bucket being written: pairs in strictly increasing key
/// order. Until the pairs outgrow a quarter page they are held back, so a
/// small bucket can be inlined.
pub struct BucketWriter<'d, W: Write + Seek> {
    db: &'d mut DbWriter<W>,
    name: Vec<u8>,
    small: Node,
    tree: Option<TreeBuilder>,
    last: Vec<u8>,
    count: u64,
}

impl<W: Write + Seek> BucketWriter<'_, W> {
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), WriteError> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(WriteError::KeySize);
        }
        if value.len() > MAX_VALUE {
            return Err(WriteError::ValueSize);
        }
        if self.count > 0 && key <= self.last.as_slice() {
            return Err(WriteError::Order(String::from_utf8_lossy(key).into_owned()));
        }
        self.last.clear();
        self.last.extend_from_slice(key);
        self.count += 1;
        let pages = &mut self.db.pages;
        if let Some(tree) = self.tree.as_mut() {
            tree.push(pages, 0, key, value)?;
            return Ok(());
        }
        self.small.push(0, key, value);
        if self.small.size > pages.ps / 4 {
            let mut tree = TreeBuilder::new();
            replay_node(&self.small, |k, v| tree.push(pages, 0, k, v))?;
            self.small = Node::default();
            self.tree = Some(tree);
        }
        Ok(())
    }

    /// Pairs written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn finish(self) -> Result<(), WriteError> {
        let value = match self.tree {
            Some(tree) => {
                let root = tree.finish(&mut self.db.pages)?;
                bucket_header(root, 0)
            }
            None => inline_value(&self.small, 0),
        };
        self.db.top.push((self.name, value));
        Ok(())
    }
}

/// Feed the elements of `node` back, in order.
fn replay_node(
    node: &Node,
    mut f: impl FnMut(&[u8], &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut off = 0usize;
    for &(_, k, v) in &node.elems {
        let (k, v) = (k as usize, v as usize);
        let key = node.data.get(off..off + k).unwrap_or_default();
        let value = node.data.get(off + k..off + k + v).unwrap_or_default();
        f(key, value)?;
        off += k + v;
    }
    Ok(())
}

fn bucket_header(root: u64, sequence: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&root.to_le_bytes());
    v.extend_from_slice(&sequence.to_le_bytes());
    v
}

/// A bucket value with its leaf inlined: header with root 0, then a fake
/// page (id 0, leaf, count, no overflow) and the leaf's elements.
fn inline_value(node: &Node, sequence: u64) -> Vec<u8> {
    let mut v = bucket_header(0, sequence);
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(&LEAF.to_le_bytes());
    v.extend_from_slice(&(node.elems.len() as u16).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    node.leaf_body(&mut v);
    v
}

/// The value a parent stores for `b`, writing its pages (sub-buckets
/// first, as bbolt spills them).
fn nested_value<W: Write>(pages: &mut Pages<W>, b: &BucketData) -> Result<Vec<u8>, WriteError> {
    let mut keys: Vec<&[u8]> = b.pairs.iter().map(|(k, _)| k.as_slice()).collect();
    keys.extend(b.buckets.iter().map(|(k, _)| k.as_slice()));
    if keys.iter().any(|k| k.is_empty() || k.len() > MAX_KEY) {
        return Err(WriteError::KeySize);
    }
    if b.pairs.iter().any(|(_, v)| v.len() > MAX_VALUE) {
        return Err(WriteError::ValueSize);
    }
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(WriteError::Order(
            String::from_utf8_lossy(w[0]).into_owned(),
        ));
    }
    let mut small = Node::new();
    for (k, v) in &b.pairs {
        small.push(0, k, v);
    }
    if b.buckets.is_empty() && small.size <= pages.ps / 4 {
        return Ok(inline_value(&small, b.sequence));
    }
    type Element<'e> = (u32, &'e [u8], std::borrow::Cow<'e, [u8]>);
    let mut elems: Vec<Element<'_>> = b
        .pairs
        .iter()
        .map(|(k, v)| (0, k.as_slice(), std::borrow::Cow::Borrowed(v.as_slice())))
        .collect();
    for (name, child) in &b.buckets {
        let v = nested_value(pages, child)?;
        elems.push((BUCKET_FLAG, name, std::borrow::Cow::Owned(v)));
    }
    elems.sort_by(|a, b| a.1.cmp(b.1));
    let mut tree = TreeBuilder::new();
    for (flags, k, v) in &elems {
        tree.push(pages, *flags, k, v)?;
    }
    Ok(bucket_header(tree.finish(pages)?, b.sequence))
}

fn meta_page(ps: usize, id: u64, root: u64, freelist: u64, pgid: u64, txid: u64) -> Vec<u8> {
    let mut p = vec![0u8; ps];
    p[0..8].copy_from_slice(&id.to_le_bytes());
    p[8..10].copy_from_slice(&META.to_le_bytes());
    let m = &mut p[16..];
    m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    m[4..8].copy_from_slice(&2u32.to_le_bytes());
    m[8..12].copy_from_slice(&(ps as u32).to_le_bytes());
    m[12..16].copy_from_slice(&0u32.to_le_bytes());
    m[16..24].copy_from_slice(&root.to_le_bytes());
    // The root bucket's sequence: always 0.
    m[24..32].copy_from_slice(&0u64.to_le_bytes());
    m[32..40].copy_from_slice(&freelist.to_le_bytes());
    m[40..48].copy_from_slice(&pgid.to_le_bytes());
    m[48..56].copy_from_slice(&txid.to_le_bytes());
    let sum = fnv1a64(&m[0..56]);
    m[56..64].copy_from_slice(&sum.to_le_bytes());
    p
}

/// Write a whole file in memory whose root bucket holds `top` (top-level
/// buckets, sorted by name, nested buckets allowed).
pub fn write_db(top: &[(Vec<u8>, BucketData)], opts: WriteOptions) -> Result<Vec<u8>, WriteError> {
    let mut db = DbWriter::new(std::io::Cursor::new(Vec::new()), opts)?;
    for (name, data) in top {
        db.bucket_data(name, data)?;
    }
    let (out, _) = db.finish()?;
    Ok(out.into_inner())
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
