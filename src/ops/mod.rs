//! Operations: what the commands do, over the readers and the etcd model.
//! Each returns a report (a data structure) that renders to text or JSON.
#![forbid(unsafe_code)]

pub mod bolt_views;
pub mod boot;
pub mod check;
pub mod cluster;
pub mod consistency;
pub mod damage;
pub mod diff;
pub mod disk_full;
pub mod endpoint;
pub mod header;
pub mod identity;
pub mod inspect;
pub mod k8s;
pub mod k8s_apply;
pub mod k8s_consistency;
pub mod k8s_extract;
pub mod k8s_print;
pub mod keyspace;
pub mod lineage;
pub mod map;
pub mod map_html;
pub mod map_svg;
pub mod open;
pub mod render;
pub mod repair;
pub mod status;
pub mod wal;
pub mod wal_repair;
pub mod write;

/// Exit codes, as the README documents them.
pub mod exit {
    /// No error finding.
    pub const OK: i32 = 0;
    /// At least one error finding (or a repair that recovered less than all).
    pub const FINDINGS: i32 = 1;
    /// The input cannot be read at all, or the command line is wrong.
    pub const UNUSABLE: i32 = 2;
}
