//! Decoding and rendering speed of Kubernetes values, one core, in process:
//! `cargo bench --bench k8s_decode`. For the stored test objects of common
//! kinds in ../shared/k8s-testdata/HEAD, times decode + YAML rendering of
//! each value, and as the reference in the same run, `serde_json` parsing
//! and re-serialising the same object's JSON; prints objects per second and
//! the ratio.

use etcd_rescue::k8s::render::kubectl_yaml;
use etcd_rescue::k8s::schema;
use etcd_rescue::ops::k8s::{decode_stored, served, ShowOptions};
use std::path::PathBuf;
use std::time::Instant;

const KINDS: &[&str] = &[
    "core.v1.ConfigMap",
    "core.v1.Secret",
    "core.v1.ServiceAccount",
    "core.v1.Event",
    "core.v1.Endpoints",
    "coordination.k8s.io.v1.Lease",
    "core.v1.Namespace",
    "core.v1.Service",
    "apps.v1.Deployment",
    "core.v1.Pod",
];

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-testdata/HEAD");
    if !dir.is_dir() {
        eprintln!("../shared/k8s-testdata/HEAD not found: nothing to measure");
        return;
    }
    let show = ShowOptions {
        secrets: true,
        ..ShowOptions::default()
    };
    let schema = schema::builtin();
    println!(
        "{:<32} {:>8} {:>14} {:>16} {:>8}",
        "kind", "bytes", "decode+yaml/s", "json parse+print/s", "ratio"
    );
    for kind in KINDS {
        let pb = std::fs::read(dir.join(format!("{kind}.pb"))).unwrap();
        let json = std::fs::read(dir.join(format!("{kind}.json"))).unwrap();
        let n = (2_000_000 / pb.len().max(1)).clamp(200, 50_000);
        let t = Instant::now();
        let mut sink = 0usize;
        for _ in 0..n {
            let (_, obj, _, _) = decode_stored(schema, &show, b"/registry/x/y/z", &pb);
            if let Some(o) = obj {
                sink += kubectl_yaml(&served(o, 7, &show)).len();
            }
        }
        let ours = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..n {
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            sink += serde_json::to_string_pretty(&v).unwrap().len();
        }
        let reference = n as f64 / t.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        println!(
            "{kind:<32} {:>8} {ours:>14.0} {reference:>16.0} {:>8.2}",
            pb.len(),
            ours / reference
        );
    }
}
