//! The etcd model over a bbolt db: bucket names, revision keys, stored key
//! values, meta keys, leases, members, alarms and auth records.
//!
//! * [`revision`], the 17/18-byte revision keys of the `key` bucket.
//! * [`kv`], the stored `mvccpb.KeyValue`.
//! * [`records`], the small records of the other buckets.
//! * [`validate`], an item visitor that checks every record during a walk.
#![forbid(unsafe_code)]

pub mod detect;
pub mod keyspace;
pub mod kv;
pub mod lines;
pub mod records;
pub mod revision;
pub mod validate;

pub use kv::KeyValue;
pub use revision::RevisionKey;

/// etcd's top-level buckets (the same names in 3.4, 3.5 and 3.6).
pub const BUCKETS: &[&str] = &[
    "alarm",
    "auth",
    "authRoles",
    "authUsers",
    "cluster",
    "key",
    "lease",
    "members",
    "members_removed",
    "meta",
];
