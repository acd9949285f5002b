//! [`BoltFile`]: a bbolt file's bytes with its layout and metas, and page
//! access by id that never reads outside the file.

use super::endian::Endian;
use super::meta::{choose_current, discover_layout, Layout, Meta};
use super::page::{NodePage, PageHeader};
use super::{BUCKET_HEADER_SIZE, MAGIC, PAGE_HEADER_SIZE};
use serde::Serialize;

/// Why a bbolt file could not be opened at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("file is {len} bytes, too short to hold a bbolt meta page")]
    TooShort { len: usize },
}

/// Why a page could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PageFault {
    /// The id is not below the high-water mark.
    NotBelowHwm { id: u64, hwm: u64 },
    /// The page starts beyond the end of the file.
    BeyondEof { id: u64, file_pages: u64 },
    /// The page's overflow pages run past the high-water mark.
    OverflowBeyondHwm { id: u64, overflow: u32, hwm: u64 },
    /// The page's overflow pages run past the end of the file.
    OverflowBeyondEof {
        id: u64,
        overflow: u32,
        file_pages: u64,
    },
}

impl PageFault {
    pub fn describe(&self) -> String {
        match *self {
            PageFault::NotBelowHwm { id, hwm } => {
                format!("page {id} is not below the high-water mark {hwm}")
            }
            PageFault::BeyondEof { id, file_pages } => format!(
                "page {id} lies beyond the end of the file ({file_pages} whole pages present)"
            ),
            PageFault::OverflowBeyondHwm { id, overflow, hwm } => format!(
                "page {id} claims {overflow} overflow pages, running past the high-water mark {hwm}"
            ),
            PageFault::OverflowBeyondEof {
                id,
                overflow,
                file_pages,
            } => format!(
                "page {id} claims {overflow} overflow pages, running past the end of the file ({file_pages} whole pages present)"
            ),
        }
    }

    pub fn page(&self) -> u64 {
        match *self {
            PageFault::NotBelowHwm { id, .. }
            | PageFault::BeyondEof { id, .. }
            | PageFault::OverflowBeyondHwm { id, .. }
            | PageFault::OverflowBeyondEof { id, .. } => id,
        }
    }
}

/// A bbolt file: its bytes, layout and both metas.
pub struct BoltFile<'a> {
    pub data: &'a [u8],
    pub layout: Layout,
    pub metas: [Option<Meta>; 2],
    /// The meta slot bbolt would use, if either validates.
    pub current: Option<u8>,
}

impl<'a> BoltFile<'a> {
    /// Read the layout and metas. Fails only when not even a meta fits.
    pub fn new(data: &'a [u8]) -> Result<BoltFile<'a>, OpenError> {
        if data.len() < PAGE_HEADER_SIZE + super::meta::META_SIZE {
            return Err(OpenError::TooShort { len: data.len() });
        }
        let layout = discover_layout(data);
        let ps = u64::from(layout.page_size);
        let metas = [
            Meta::decode(data, 0, 0, layout.endian),
            Meta::decode(data, ps, 1, layout.endian),
        ];
        let current = choose_current(&metas);
        Ok(BoltFile {
            data,
            layout,
            metas,
            current,
        })
    }

    pub fn endian(&self) -> Endian {
        self.layout.endian
    }

    pub fn page_size(&self) -> usize {
        self.layout.page_size as usize
    }

    /// The meta bbolt would use.
    pub fn meta(&self) -> Option<&Meta> {
        self.current.and_then(|i| self.metas[i as usize].as_ref())
    }

    /// The meta to read the tree from: the current one, or failing that the
    /// one with the right magic whose root and high-water mark look sane.
    pub fn best_meta(&self) -> Option<&Meta> {
        self.meta().or_else(|| {
            let file_pages = self.file_pages();
            let mut cands: Vec<&Meta> = self
                .metas
                .iter()
                .flatten()
                .filter(|m| m.magic == MAGIC && m.root >= 2 && m.root < m.pgid.min(file_pages))
                .collect();
            cands.sort_by_key(|m| std::cmp::Reverse(m.txid));
            cands.first().copied()
        })
    }

    /// Number of whole pages in the file.
    pub fn file_pages(&self) -> u64 {
        (self.data.len() / self.page_size()) as u64
    }

    /// Pages that can be addressed: below both the high-water mark and the
    /// end of the file. Used to size visited sets without trusting the HWM.
    pub fn addressable_pages(&self, hwm: u64) -> u64 {
        hwm.min(self.file_pages())
    }

    /// The header of page `id`, if the page is inside the file.
    pub fn header(&self, id: u64) -> Option<PageHeader> {
        let off = usize::try_from(id).ok()?.checked_mul(self.page_size())?;
        PageHeader::decode(self.data.get(off..)?, self.endian())
    }

    /// The raw bytes of page `id` (one page, no overflow), if inside the file.
    pub fn raw_page(&self, id: u64) -> Option<&'a [u8]> {
        let ps = self.page_size();
        let off = usize::try_from(id).ok()?.checked_mul(ps)?;
        self.data.get(off..off.checked_add(ps)?)
    }

    /// The bytes of logical page `id` including its overflow pages, checked
    /// against the high-water mark `hwm` and the end of the file.
    pub fn page_bytes(&self, id: u64, hwm: u64) -> Result<(PageHeader, &'a [u8]), PageFault> {
        let file_pages = self.file_pages();
        if id >= hwm {
            return Err(PageFault::NotBelowHwm { id, hwm });
        }
        if id >= file_pages {
            return Err(PageFault::BeyondEof { id, file_pages });
        }
        let ps = self.page_size();
        let off = id as usize * ps;
        let header = PageHeader::decode(&self.data[off..], self.endian())
            .ok_or(PageFault::BeyondEof { id, file_pages })?;
        let last = id.saturating_add(u64::from(header.overflow));
        if last >= hwm {
            return Err(PageFault::OverflowBeyondHwm {
                id,
                overflow: header.overflow,
                hwm,
            });
        }
        if last >= file_pages {
            return Err(PageFault::OverflowBeyondEof {
                id,
                overflow: header.overflow,
                file_pages,
            });
        }
        let end = (last as usize + 1) * ps;
        Ok((header, &self.data[off..end]))
    }

    /// Page `id` as a branch/leaf view (the caller checks the kind).
    pub fn node(&self, id: u64, hwm: u64) -> Result<NodePage<'a>, PageFault> {
        let (header, bytes) = self.page_bytes(id, hwm)?;
        Ok(NodePage {
            header,
            bytes,
            endian: self.endian(),
        })
    }

    /// Offset of page `id` in the file.
    pub fn offset_of(&self, id: u64) -> u64 {
        id.saturating_mul(self.page_size() as u64)
    }
}

/// Where a bucket's tree lives.
#[derive(Debug, Clone, Copy)]
pub enum BucketRoot<'a> {
    /// A root page id.
    Page(u64),
    /// An inline bucket: the page image stored in the value after the header.
    Inline(&'a [u8]),
}

/// Why a bucket value is not a usable bucket header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum BucketHeaderError {
    /// Shorter than the 16-byte bucket header.
    TooShort { len: usize },
    /// Inline (root 0) but no room for an inline page header.
    InlineTooShort { len: usize },
}

impl BucketHeaderError {
    pub fn describe(&self) -> String {
        match *self {
            BucketHeaderError::TooShort { len } => {
                format!("bucket value is {len} bytes, shorter than the 16-byte bucket header")
            }
            BucketHeaderError::InlineTooShort { len } => format!(
                "inline bucket value is {len} bytes, too short for its page header (32 bytes at least)"
            ),
        }
    }
}

/// Decode a bucket value: the root and sequence, and where its tree is.
pub fn bucket_root(
    value: &[u8],
    endian: Endian,
) -> Result<(BucketRoot<'_>, u64), BucketHeaderError> {
    let len = value.len();
    let root = endian
        .u64(value, 0)
        .ok_or(BucketHeaderError::TooShort { len })?;
    let seq = endian
        .u64(value, 8)
        .ok_or(BucketHeaderError::TooShort { len })?;
    if root != 0 {
        return Ok((BucketRoot::Page(root), seq));
    }
    if len < BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE {
        return Err(BucketHeaderError::InlineTooShort { len });
    }
    Ok((BucketRoot::Inline(&value[BUCKET_HEADER_SIZE..]), seq))
}
