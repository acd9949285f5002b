//! Progress bars for the long runs (`check`, `repair`, `repair --salvage`,
//! `k8s stats` of large files): a total (bytes, pages or keys), the share
//! done and an ETA, drawn on stderr only when it is a terminal (the CLI
//! says so with [`enable`]) and only for inputs of at least [`MIN_BYTES`]
//! (smaller ones finish before a bar would help). Nothing is drawn
//! otherwise, so piped stderr carries only findings and notes.
//!
//! One bar at a time: [`start`] makes it the current one, [`tick`] moves
//! the current one on (from any thread), dropping the [`Bar`] clears it.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

static ON: AtomicBool = AtomicBool::new(false);
static CURRENT: RwLock<Option<indicatif::ProgressBar>> = RwLock::new(None);

/// Inputs smaller than this get no bar.
pub const MIN_BYTES: u64 = 16 << 20;

/// What a bar counts.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Bytes,
    Pages,
    Keys,
}

/// Draw bars from now on (stderr is a terminal).
pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// The current bar while it lives; cleared from the terminal when dropped.
#[derive(Debug)]
pub struct Bar(bool);

/// Start a bar `what` over `total` units of a run on an input of
/// `input_bytes`; a no-op unless enabled and the input is large.
pub fn start(what: &str, total: u64, unit: Unit, input_bytes: u64) -> Bar {
    if !ON.load(Ordering::Relaxed) || input_bytes < MIN_BYTES || total == 0 {
        return Bar(false);
    }
    let counts = match unit {
        Unit::Bytes => "{bytes}/{total_bytes}",
        Unit::Pages => "{human_pos}/{human_len} pages",
        Unit::Keys => "{human_pos}/{human_len} keys",
    };
    let template = format!("{{msg}} [{{bar:30}}] {counts} ({{percent}}%) ETA {{eta}}");
    let style = indicatif::ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    let b = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    )
    .with_style(style)
    .with_message(what.to_string());
    b.tick();
    if let Ok(mut c) = CURRENT.write() {
        if let Some(old) = c.replace(b) {
            old.finish_and_clear();
        }
    }
    Bar(true)
}

/// Move the current bar on by `n`.
pub fn tick(n: u64) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    if let Ok(c) = CURRENT.read() {
        if let Some(b) = c.as_ref() {
            b.inc(n);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if !self.0 {
            return;
        }
        if let Ok(mut c) = CURRENT.write() {
            if let Some(b) = c.take() {
                b.finish_and_clear();
            }
        }
    }
}
