//! The keyspace as etcd's mvcc store sees it: the key index rebuilt from the
//! `key` bucket the way etcd rebuilds it at boot (generations, tombstones,
//! compaction), reads at any revision, and etcd's hashes.
//!
//! * [`index`], the key index: every stored revision of every key.
//! * [`range`], etcd's Range: key ranges, revisions, limits, sorting.
//! * [`hash`], `snapshot status`'s hash, `hashkv`, and the backend hash.
//! * [`coherence`], cross-record consistency of key histories and leases.
#![forbid(unsafe_code)]

pub mod coherence;
pub mod hash;
pub mod index;
pub mod range;
pub mod stream;

pub use index::{KeyHistory, KeyIndex, RevEntry};
