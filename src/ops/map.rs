//! `bolt map`: a picture of the whole file, one cell per page (or per group
//! of pages for very large files), coloured by what the check found the page
//! to be. The picture an operator looks at first to see where a file is hurt.

use crate::bolt::walk::PageRole;
use std::fmt::Write as _;

/// More cells than this and pages are grouped, the worst state shown.
pub const MAX_CELLS: usize = 1 << 18;

const ORDER: [PageRole; 10] = [
    PageRole::Meta,
    PageRole::Branch,
    PageRole::Leaf,
    PageRole::Overflow,
    PageRole::Freelist,
    PageRole::Free,
    PageRole::Unreachable,
    PageRole::Damaged,
    PageRole::BeyondHwm,
    PageRole::Unknown,
];

fn colour(r: PageRole) -> &'static str {
    match r {
        PageRole::Meta => "#8e44ad",
        PageRole::Branch => "#2c6fbb",
        PageRole::Leaf => "#2e9e4f",
        PageRole::Overflow => "#a8dcb0",
        PageRole::Freelist => "#f1c40f",
        PageRole::Free => "#d9d9d9",
        PageRole::Unreachable => "#f39c12",
        PageRole::Damaged => "#e3000f",
        PageRole::BeyondHwm => "#ffffff",
        PageRole::Unknown => "#555555",
    }
}

fn meaning(r: PageRole) -> &'static str {
    match r {
        PageRole::Meta => "meta page",
        PageRole::Branch => "branch page (reachable)",
        PageRole::Leaf => "leaf page (reachable)",
        PageRole::Overflow => "overflow continuation of a reachable page",
        PageRole::Freelist => "freelist page",
        PageRole::Free => "free (on the freelist, or unreachable without one)",
        PageRole::Unreachable => "unreachable and not on the freelist",
        PageRole::Damaged => "reachable but damaged",
        PageRole::BeyondHwm => "past the high-water mark",
        PageRole::Unknown => "not classified",
    }
}

/// Which state a grouped cell shows: the most alarming one.
fn rank(r: PageRole) -> u8 {
    match r {
        PageRole::Damaged => 9,
        PageRole::Unreachable => 8,
        PageRole::Meta => 7,
        PageRole::Freelist => 6,
        PageRole::Branch => 5,
        PageRole::Leaf => 4,
        PageRole::Overflow => 3,
        PageRole::Free => 2,
        PageRole::BeyondHwm => 1,
        PageRole::Unknown => 0,
    }
}

/// Cells of `per` pages each, showing the worst role of their pages.
pub fn cells(roles: &[PageRole], per: usize) -> Vec<PageRole> {
    roles
        .chunks(per.max(1))
        .map(|c| {
            c.iter()
                .copied()
                .max_by_key(|r| rank(*r))
                .unwrap_or(PageRole::Unknown)
        })
        .collect()
}

/// What the picture is of.
pub struct MapTitle<'a> {
    pub file: &'a str,
    pub page_size: u32,
    pub high_water_mark: u64,
    pub file_size: u64,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Render the map as SVG.
pub fn svg(roles: &[PageRole], t: &MapTitle<'_>) -> String {
    let per = roles.len().div_ceil(MAX_CELLS).max(1);
    let cells = cells(roles, per);
    let cols = if cells.len() <= 4096 {
        64
    } else if cells.len() <= 65536 {
        256
    } else {
        512
    };
    let cell = if cols == 64 {
        14
    } else if cols == 256 {
        4
    } else {
        2
    };
    let rows = cells.len().div_ceil(cols).max(1);
    let grid_w = cols * cell;
    let top = 56;
    let legend_h = 22 * ORDER.len() + 20;
    let width = grid_w.max(560) + 20;
    let height = top + rows * cell + 20 + legend_h;
    let mut s = String::with_capacity(cells.len() * 24 + 4096);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#fafafa"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#,
        esc(t.file)
    );
    let grouping = if per > 1 {
        format!("; one cell = {per} pages, showing the worst state among them")
    } else {
        "; one cell per page, row by row from page 0".into()
    };
    let _ = writeln!(
        s,
        r#"<text x="10" y="40">page size {}, high-water mark {} pages, file {} bytes ({} pages){}</text>"#,
        t.page_size,
        t.high_water_mark,
        t.file_size,
        roles.len(),
        esc(&grouping)
    );
    let _ = writeln!(
        s,
        r#"<g transform="translate(10,{top})" shape-rendering="crispEdges">"#
    );
    // One rect per run of equal cells within a row.
    for row in 0..rows {
        let mut c = row * cols;
        let end = ((row + 1) * cols).min(cells.len());
        while c < end {
            let r = cells[c];
            let mut e = c + 1;
            while e < end && cells[e] == r {
                e += 1;
            }
            let (first, last) = (c * per, (e * per).min(roles.len()) - 1);
            let what = if first == last {
                format!("page {first}: {}", r.name())
            } else {
                format!("pages {first}-{last}: {}", r.name())
            };
            let stroke = if r == PageRole::BeyondHwm {
                r##" stroke="#bbbbbb" stroke-width="0.5""##
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"{stroke}><title>{what}</title></rect>"##,
                (c - row * cols) * cell,
                row * cell,
                (e - c) * cell,
                cell,
                colour(r)
            );
            c = e;
        }
    }
    // Thin grid lines between single-page cells keep small maps readable.
    if cell >= 8 {
        for row in 0..=rows {
            let _ = writeln!(
                s,
                r##"<line x1="0" y1="{y}" x2="{grid_w}" y2="{y}" stroke="#fafafa" stroke-width="1"/>"##,
                y = row * cell
            );
        }
        for col in 0..=cols {
            let _ = writeln!(
                s,
                r##"<line x1="{x}" y1="0" x2="{x}" y2="{}" stroke="#fafafa" stroke-width="1"/>"##,
                rows * cell,
                x = col * cell
            );
        }
    }
    let _ = writeln!(s, "</g>");
    let ly = top + rows * cell + 24;
    for (i, r) in ORDER.iter().enumerate() {
        let n = roles.iter().filter(|x| *x == r).count();
        if n == 0 && *r == PageRole::Unknown {
            continue;
        }
        let y = ly + i * 22;
        let _ = writeln!(
            s,
            r##"<rect x="10" y="{y}" width="16" height="16" fill="{}" stroke="#888888" stroke-width="0.5"/><text x="34" y="{}">{}: {} ({n} pages)</text>"##,
            colour(*r),
            y + 13,
            r.name(),
            meaning(*r)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_keeps_the_worst_state() {
        let roles = [
            PageRole::Leaf,
            PageRole::Damaged,
            PageRole::Free,
            PageRole::Leaf,
            PageRole::Overflow,
        ];
        assert_eq!(
            cells(&roles, 2),
            vec![PageRole::Damaged, PageRole::Leaf, PageRole::Overflow]
        );
        assert_eq!(cells(&roles, 1).len(), 5);
    }

    #[test]
    fn svg_has_cells_legend_and_escapes() {
        let roles = vec![
            PageRole::Meta,
            PageRole::Meta,
            PageRole::Leaf,
            PageRole::Damaged,
        ];
        let t = MapTitle {
            file: "a<b>.db",
            page_size: 4096,
            high_water_mark: 4,
            file_size: 16384,
        };
        let s = svg(&roles, &t);
        assert!(s.starts_with("<svg"));
        assert!(s.contains("a&lt;b&gt;.db"));
        assert!(s.contains("<title>pages 0-1: meta</title>"));
        assert!(s.contains("<title>page 3: damaged</title>"));
        assert!(s.contains("damaged: reachable but damaged (1 pages)"));
    }
}
