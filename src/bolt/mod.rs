//! The bbolt file format: zero-copy, fallible views over the bytes of a bbolt
//! file (etcd's `member/snap/db` or a snapshot image).
//!
//! Nothing here trusts the file: every offset, length, count and page id is
//! checked against the bytes actually present, traversals are iterative and
//! keep a visited set, and damage is returned as data, never as a panic.
//!
//! * [`endian`], explicit byte order for every integer read.
//! * [`meta`], the two meta pages, their checksums and which one is current.
//! * [`page`], page headers and branch/leaf element views.
//! * [`freelist`], the persisted freelist page (and its count escape).
//! * [`file`], [`BoltFile`], page access by id with bounds checks.
//! * [`cursor`], in-order iteration over a bucket that survives damage.
//! * [`walk`], the full structural check (everything `tx.Check` verifies, and more).
#![forbid(unsafe_code)]

pub mod cursor;
pub mod endian;
pub mod file;
pub mod freelist;
pub mod meta;
pub mod page;
pub mod pageset;
pub mod walk;
pub mod writer;

pub use cursor::{BucketCursor, CursorDamage, CursorItem};
pub use endian::Endian;
pub use file::{BoltFile, OpenError, PageFault};
pub use meta::{Meta, MetaProblem};
pub use page::{NodePage, PageHeader, PageKind};

/// Size of the page header that starts every non-continuation page.
pub const PAGE_HEADER_SIZE: usize = 16;
/// Size of one branch or leaf element.
pub const ELEMENT_SIZE: usize = 16;
/// Size of a bucket header (root page id, sequence) stored as a bucket's value.
pub const BUCKET_HEADER_SIZE: usize = 16;
/// The meta `freelist` value meaning "no freelist persisted" (etcd's mode).
pub const NO_FREELIST: u64 = u64::MAX;
/// bbolt's magic number.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version bbolt has written.
pub const VERSION: u32 = 2;
/// Leaf element flag marking a bucket entry.
pub const BUCKET_LEAF_FLAG: u32 = 0x01;
/// bbolt's maximum key size.
pub const MAX_KEY_SIZE: usize = 32768;
