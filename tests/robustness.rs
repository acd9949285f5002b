//! Random damage, deterministic: thousands of mutated copies of the real
//! fixture db (byte flips, zeroed runs, truncation, pages copied over other
//! pages, page ids rewritten to make cycles) through every reader. The fuzz
//! targets in fuzz/ run the same entry points for as long as one likes; this
//! keeps a bounded dose of it in every test run. Nothing may panic or hang.

mod common;
use common::*;
use etcd_rescue::exercise;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// xorshift64*: a small deterministic generator for test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(orig: &[u8], rng: &mut Rng, ps: usize) -> Vec<u8> {
    let mut b = orig.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pages = b.len() / ps;
        match rng.below(6) {
            0 => {
                for _ in 0..1 + rng.below(16) {
                    let i = rng.below(b.len());
                    b[i] ^= (rng.next() as u8) | 1;
                }
            }
            1 => {
                let start = rng.below(b.len());
                let len = rng.below(2 * ps).min(b.len() - start);
                b[start..start + len].fill(0);
            }
            2 => {
                let keep = rng.below(b.len());
                b.truncate(keep);
                if b.is_empty() {
                    b.push(0);
                }
            }
            3 if pages > 2 => {
                let (from, to) = (rng.below(pages), rng.below(pages));
                let page = b[from * ps..(from + 1) * ps].to_vec();
                b[to * ps..(to + 1) * ps].copy_from_slice(&page);
            }
            4 if pages > 2 => {
                // Point a random 8-byte aligned word at a random page id.
                let p = rng.below(pages);
                let off = p * ps + 16 + 8 * rng.below((ps - 16) / 8);
                let target = rng.below(pages + 4) as u64;
                put_u64(&mut b, off, target);
            }
            _ => {
                // Flip a page header field.
                let p = rng.below(pages.max(1));
                let off = (p * ps + rng.below(16)).min(b.len() - 1);
                b[off] = rng.next() as u8;
            }
        }
        if b.len() < 64 {
            break;
        }
    }
    b
}

#[test]
fn random_damage_never_panics_or_hangs() {
    let orig = db_bytes();
    let ps = key_tree(&orig).page_size;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..600 {
                std::thread::sleep(Duration::from_millis(500));
                if done.load(Ordering::Relaxed) {
                    return;
                }
            }
            eprintln!("robustness: a reader did not finish within 5 minutes: hang");
            std::process::abort();
        })
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases = 20_000;
    let mut total = 0usize;
    for _ in 0..cases {
        let b = mutate(&orig, &mut rng, ps);
        total = total.wrapping_add(exercise::db(&b));
        let p = rng.below(b.len() / ps + 1);
        let page = &b[(p * ps).min(b.len())..((p + 1) * ps).min(b.len())];
        total = total.wrapping_add(exercise::page(page));
        total = total.wrapping_add(exercise::records(page));
        total = total.wrapping_add(exercise::wal(page));
        if rng.below(10) == 0 {
            total = total.wrapping_add(exercise::repair(&b));
        }
    }
    done.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    println!("robustness: {cases} mutated dbs read without a panic ({total})");
}

#[test]
fn arbitrary_small_inputs() {
    let mut rng = Rng(42);
    for len in 0..300 {
        let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise::db(&b);
        exercise::page(&b);
        exercise::records(&b);
        exercise::wal(&b);
        exercise::repair(&b);
    }
    // Pathological shapes: all 0xff, a magic with absurd page size and pgid.
    exercise::db(&[0xff; 8192]);
    let mut m = vec![0u8; 8192];
    m[16..20].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    m[20..24].copy_from_slice(&2u32.to_le_bytes());
    m[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    m[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
    exercise::db(&m);
}
