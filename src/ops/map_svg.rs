//! `bolt map --svg`: the page map as one SVG picture. One cell per page (or
//! per group of pages for very large files, each showing its worst state),
//! row by row from page 0; damage (damaged, cut-off and missing pages) is
//! ringed by halos and marked in a band beside the rows, both scaled to the
//! picture so that one damaged page in a million stays visible in the whole
//! picture; the legend counts every state and summarises the damage.

use crate::ops::map::{PageMap, State, STATES};
use std::fmt::Write as _;

/// Halos drawn at most; the band marks every damaged row whatever the count.
const MAX_HALOS: usize = 400;

/// Where the cells are.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub cols: u64,
    pub rows: u64,
    /// Cell side in px.
    pub cell: u64,
    /// Top-left corner of the grid in the picture.
    pub x: u64,
    pub y: u64,
    pub per: u64,
}

pub fn grid(m: &PageMap) -> Grid {
    let per = m.per_cell();
    let cells = m.total().div_ceil(per).max(1);
    let (cols, cell) = if cells <= 4096 {
        (64, 14)
    } else if cells <= 65536 {
        (256, 4)
    } else {
        (512, 2)
    };
    Grid {
        cols,
        rows: cells.div_ceil(cols),
        cell,
        x: 10,
        y: 74,
        per,
    }
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Runs of equal cells within a row: (row, first col, end col, state).
fn runs(cells: &[State], cols: u64) -> Vec<(u64, u64, u64, State)> {
    let mut v = Vec::new();
    for (row, chunk) in cells.chunks(cols as usize).enumerate() {
        let mut c = 0;
        while c < chunk.len() {
            let s = chunk[c];
            let mut e = c + 1;
            while e < chunk.len() && chunk[e] == s {
                e += 1;
            }
            v.push((row as u64, c as u64, e as u64, s));
            c = e;
        }
    }
    v
}

fn range_text(first: u64, last: u64) -> String {
    if first == last {
        format!("page {first}")
    } else {
        format!("pages {first}-{last}")
    }
}

/// The SVG picture of `m`. `with_titles` adds a tooltip per run (the HTML
/// page has its own hover instead).
pub fn svg(m: &PageMap, with_titles: bool) -> String {
    let cells = m.cells();
    let g = grid(m);
    let grid_w = g.cols * g.cell;
    let grid_h = g.rows * g.cell;
    let scale = grid_w.max(grid_h);
    // Halo padding and stroke, and band width, grow with the picture.
    let pad = (scale / 40).max(g.cell * 2).max(6);
    let stroke = (scale / 150).max(2);
    let band_w = (scale / 45).max(8);
    let band_x = g.x + grid_w + pad + 4;
    let summary = m.summary();
    let legend_h = 22 * STATES.len() as u64 + 22 * summary.len().max(1) as u64 + 40;
    let width = (band_x + band_w + 10).max(760);
    let height = g.y + grid_h + pad + 20 + legend_h;
    let mut s = String::with_capacity(cells.len() * 16 + 8192);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#fafafa"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#,
        esc(&m.file)
    );
    let grouping = if g.per > 1 {
        format!(
            "one cell = {} pages, showing the worst state among them",
            g.per
        )
    } else {
        "one cell per page, row by row from page 0".into()
    };
    let _ = writeln!(
        s,
        r#"<text x="10" y="40">page size {}, high-water mark {} pages, file {} bytes ({} pages in the file); {}</text>"#,
        m.page_size,
        m.high_water_mark,
        m.file_size,
        m.states.len(),
        esc(&grouping)
    );
    let verdict = m
        .headline()
        .unwrap_or_else(|| "no damage found".to_string());
    let _ = writeln!(
        s,
        r##"<text x="10" y="60" fill="{}" font-weight="bold">{}</text>"##,
        if summary.is_empty() {
            "#2e7d32"
        } else {
            "#9b0000"
        },
        esc(&verdict)
    );
    let _ = writeln!(
        s,
        r#"<g id="cells" transform="translate({},{})" shape-rendering="crispEdges">"#,
        g.x, g.y
    );
    let all = runs(&cells, g.cols);
    let total = m.total();
    for &(row, c, e, st) in &all {
        let first = (row * g.cols + c) * g.per;
        let last = ((row * g.cols + e) * g.per).min(total).saturating_sub(1);
        let stroke_attr = if st == State::BeyondHwm {
            r##" stroke="#bbbbbb" stroke-width="0.5""##
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"{stroke_attr}>"#,
            c * g.cell,
            row * g.cell,
            (e - c) * g.cell,
            g.cell,
            st.colour()
        );
        if with_titles {
            let _ = write!(
                s,
                "<title>{}: {}</title>",
                range_text(first, last),
                st.name()
            );
        }
        s.push_str("</rect>\n");
    }
    // Thin grid lines between single-page cells keep small maps readable.
    if g.cell >= 8 {
        for row in 0..=g.rows {
            let _ = writeln!(
                s,
                r##"<line x1="0" y1="{y}" x2="{grid_w}" y2="{y}" stroke="#fafafa" stroke-width="1"/>"##,
                y = row * g.cell
            );
        }
        for col in 0..=g.cols {
            let _ = writeln!(
                s,
                r##"<line x1="{x}" y1="0" x2="{x}" y2="{grid_h}" stroke="#fafafa" stroke-width="1"/>"##,
                x = col * g.cell
            );
        }
    }
    s.push_str("</g>\n");
    // Halos: damaged and cut-off runs each ringed; the missing tail ringed
    // as one block.
    let _ = writeln!(
        s,
        r#"<g id="halos" transform="translate({},{})" fill="none" stroke-width="{stroke}">"#,
        g.x, g.y
    );
    // Cut-off runs are ringed only while few, and runs only while short: a
    // large area shows by its colour, and the band marks its rows.
    let cut_runs = all.iter().filter(|r| r.3 == State::CutOff).count();
    let ringed = |st: State| st == State::Damaged || (st == State::CutOff && cut_runs <= 40);
    // A run of an eighth of a row or more is visible by itself.
    let short = |r: &(u64, u64, u64, State)| (r.2 - r.1) * 8 < g.cols;
    for &(row, c, e, st) in all
        .iter()
        .filter(|r| ringed(r.3) && short(r))
        .take(MAX_HALOS)
    {
        let (x, y) = (
            (c * g.cell) as i64 - pad as i64,
            (row * g.cell) as i64 - pad as i64,
        );
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{y}" width="{}" height="{}" rx="{pad}" stroke="{}" stroke-opacity="0.85"/>"#,
            (e - c) * g.cell + 2 * pad,
            g.cell + 2 * pad,
            if st == State::Damaged {
                State::Damaged.colour()
            } else {
                State::CutOff.colour()
            }
        );
    }
    if m.missing > 0 {
        let first_cell = m.states.len() as u64 / g.per;
        let (r0, c0) = (first_cell / g.cols, first_cell % g.cols);
        let _ = writeln!(
            s,
            r#"<path d="M{} {} H{} V{} H{} V{} H{} Z" stroke="{}" stroke-dasharray="{} {}"/>"#,
            (c0 * g.cell) as i64 - stroke as i64,
            (r0 * g.cell) as i64 - stroke as i64,
            grid_w + stroke,
            grid_h + stroke,
            -(stroke as i64),
            ((r0 + 1) * g.cell) as i64 - stroke as i64,
            (c0 * g.cell) as i64 - stroke as i64,
            State::Damaged.colour(),
            stroke * 3,
            stroke * 2
        );
    }
    s.push_str("</g>\n");
    // The band: one mark per row holding damage, in the worst damage's colour.
    let _ = writeln!(
        s,
        r##"<g id="band" shape-rendering="crispEdges"><rect x="{band_x}" y="{}" width="{band_w}" height="{grid_h}" fill="#eeeeee"/>"##,
        g.y
    );
    for (row, chunk) in cells.chunks(g.cols as usize).enumerate() {
        let worst = chunk
            .iter()
            .filter(|s| s.is_damage())
            .max_by_key(|s| s.rank());
        if let Some(w) = worst {
            let _ = writeln!(
                s,
                r#"<rect x="{band_x}" y="{}" width="{band_w}" height="{}" fill="{}"/>"#,
                g.y + row as u64 * g.cell,
                g.cell,
                w.colour()
            );
        }
    }
    s.push_str("</g>\n");
    let ly = g.y + grid_h + pad + 24;
    let _ = writeln!(s, r#"<g id="legend">"#);
    for (i, st) in STATES.iter().enumerate() {
        let n = m.count(*st);
        let y = ly + i as u64 * 22;
        let _ = writeln!(
            s,
            r##"<rect x="10" y="{y}" width="16" height="16" fill="{}" stroke="#888888" stroke-width="0.5"/><text x="34" y="{}">{}: {} ({n} pages)</text>"##,
            st.colour(),
            y + 13,
            st.name(),
            esc(st.meaning())
        );
    }
    let sy = ly + STATES.len() as u64 * 22 + 10;
    if summary.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="10" y="{}" fill="#2e7d32">damage: none found</text>"##,
            sy + 13
        );
    }
    for (i, line) in summary.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="10" y="{}" fill="#9b0000">damage: {}</text>"##,
            sy + 13 + i as u64 * 22,
            esc(line)
        );
    }
    s.push_str("</g>\n</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(states: Vec<State>, missing: u64) -> PageMap {
        crate::ops::map::test_map("a<b>.db", states, missing)
    }

    #[test]
    fn svg_has_cells_halos_band_and_summary() {
        let m = map(
            vec![State::Meta, State::Meta, State::Leaf, State::Damaged],
            2,
        );
        let s = svg(&m, true);
        assert!(s.starts_with("<svg"));
        assert!(s.contains("a&lt;b&gt;.db"));
        assert!(s.contains("<title>pages 0-1: meta</title>"));
        assert!(s.contains("<title>page 3: damaged</title>"));
        assert!(s.contains("<title>pages 4-5: missing</title>"));
        assert!(s.contains("damaged: reachable but damaged"));
        assert!(s.contains("DAMAGE: pages 1 damaged (16.7 %), 2 missing"));
        assert!(s.contains("2 page(s) missing"));
        assert!(s.contains(r##"stroke="#e3000f" stroke-opacity"##));
        assert!(s.contains(r#"<g id="band""#));
    }

    #[test]
    fn a_clean_map_says_so() {
        let s = svg(&map(vec![State::Meta, State::Meta, State::Leaf], 0), false);
        assert!(s.contains("no damage found"));
        assert!(!s.contains("<title>"));
    }
}
