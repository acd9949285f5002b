//! etcd-rescue: read, check and rescue stopped etcd members offline.
//!
//! Layers, data flowing one way:
//! * format readers: [`bolt`] (and later `wal`, `snap`), bytes to typed records;
//! * etcd model: [`etcd`], revision keys, key values, meta and cluster buckets;
//! * operations: [`ops`], `check`, `inspect`, the low-level bolt views;
//! * the CLI in `main.rs` stays thin over these.
#![deny(unsafe_code)]

pub mod bolt;
pub mod doctor;
pub mod etcd;
pub mod exercise;
pub mod findings;
pub mod input;
pub mod k8s;
pub mod mmap;
pub mod mvcc;
pub mod ops;
pub mod progress;
pub mod proto;
pub mod snap;
pub mod wal;
