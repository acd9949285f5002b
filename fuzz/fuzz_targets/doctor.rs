#![no_main]
//! Fuzz target: see `etcd_rescue::exercise::doctor`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(etcd_rescue::exercise::doctor(data));
});
