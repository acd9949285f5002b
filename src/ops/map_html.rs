//! `bolt map --html`: the page map as one self-contained HTML file (no
//! network, no external script): the SVG picture inline, zoom (wheel,
//! buttons) and hover (page id, state, bucket, first and last key), and the
//! list of damaged places, each a link that zooms the map onto it.

use crate::bolt::BoltFile;
use crate::ops::map::{page_keys, PageMap, State, STATES};
use crate::ops::map_svg::{esc, grid, svg};
use serde_json::json;

/// Pages whose keys are embedded for hover: all node pages up to this many
/// pages, beyond it only the damaged and cut-off ones (the file stays small).
const KEYS_ALL_PAGES: u64 = 65_536;
const KEYS_MAX: usize = 20_000;

/// `</script>` can never appear inside the embedded JSON.
fn script_safe(v: &serde_json::Value) -> String {
    v.to_string().replace("</", "<\\/")
}

pub fn html(file: &BoltFile<'_>, m: &PageMap) -> String {
    let g = grid(m);
    let cells: String = m.cells().iter().map(|s| s.letter()).collect();
    let states: Vec<_> = STATES
        .iter()
        .map(|s| json!([s.name(), s.meaning(), s.colour()]))
        .collect();
    // Bucket of each page, run-length encoded: [first page, pages, bucket].
    let mut bucket_runs: Vec<[u64; 3]> = Vec::new();
    if let Some(pb) = &m.page_bucket {
        for (i, b) in pb.iter().enumerate() {
            let b = u64::from(*b);
            match bucket_runs.last_mut() {
                Some(r) if r[2] == b && r[0] + r[1] == i as u64 => r[1] += 1,
                _ => bucket_runs.push([i as u64, 1, b]),
            }
        }
    }
    let mut keys = serde_json::Map::new();
    for (i, s) in m.states.iter().enumerate() {
        if keys.len() >= KEYS_MAX {
            break;
        }
        let wanted = match s {
            State::Branch | State::Leaf | State::Orphaned => m.total() <= KEYS_ALL_PAGES,
            State::CutOff | State::Damaged | State::Free | State::Unreachable => {
                m.total() <= KEYS_ALL_PAGES || *s == State::CutOff
            }
            _ => false,
        };
        if !wanted {
            continue;
        }
        if let Some(k) = page_keys(file, m, i as u64) {
            keys.insert(i.to_string(), json!([k.first, k.last, k.count]));
        }
    }
    let places: Vec<_> = m
        .places
        .iter()
        .map(|p| {
            json!({"page": p.page, "pages": p.pages, "state": p.state.name(),
                   "bucket": p.bucket, "what": p.what, "cut_off": p.cut_off})
        })
        .collect();
    let data = json!({
        "file": m.file, "per": g.per, "cols": g.cols, "cell": g.cell, "gx": g.x, "gy": g.y,
        "total": m.total(), "cells": cells, "states": states,
        "buckets": m.bucket_names, "bucket_runs": bucket_runs, "keys": keys,
        "places": places,
    });
    let summary = m.summary();
    let mut list = String::new();
    for (i, p) in m.places.iter().enumerate() {
        let cut = if p.cut_off > 0 {
            format!(" — {} intact page(s) cut off beneath it", p.cut_off)
        } else {
            String::new()
        };
        let pages = if p.pages > 1 {
            format!("pages {}..{}", p.page, p.page + p.pages - 1)
        } else {
            format!("page {}", p.page)
        };
        let bucket = if p.bucket.is_empty() {
            String::new()
        } else {
            format!(", bucket {}", esc(&p.bucket))
        };
        list.push_str(&format!(
            "<li class=\"{}\"><a href=\"#place-{i}\" data-place=\"{i}\">{pages}</a> ({}{bucket}): {}{}</li>\n",
            p.state.name(),
            p.state.name(),
            esc(&p.what),
            esc(&cut)
        ));
    }
    let verdict = match m.headline() {
        None => "<p class=\"ok\">No damage found.</p>".to_string(),
        Some(h) => {
            let lines: String = summary
                .iter()
                .map(|l| format!("<li>{}</li>", esc(l)))
                .collect();
            format!("<p class=\"bad\">{}</p><ul>{lines}</ul>", esc(&h))
        }
    };
    let places_html = if m.places.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Damaged places ({})</h2><ol id=\"places\">\n{list}</ol>",
            m.places.len()
        )
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>page map: {title}</title>
<style>
body {{ font-family: sans-serif; margin: 0; padding: 0 1em; background: #fafafa; }}
#bar {{ position: sticky; top: 0; background: #fafafa; padding: .4em 0; z-index: 2; }}
#view {{ overflow: auto; border: 1px solid #ccc; height: 70vh; background: #fff; }}
#tip {{ position: fixed; pointer-events: none; background: #222; color: #fff; padding: .3em .5em;
  font: 12px monospace; border-radius: 3px; display: none; z-index: 3; white-space: pre; }}
.bad {{ color: #c00000; font-weight: bold; }} .ok {{ color: #2e7d32; font-weight: bold; }}
li.damaged a, li.missing a {{ color: #c00000; }} li.cut-off a {{ color: #c2185b; }}
#marker {{ animation: pulse 1s infinite alternate; }}
@keyframes pulse {{ from {{ stroke-opacity: 1; }} to {{ stroke-opacity: .2; }} }}
</style></head><body>
<h1>{title}</h1>
{verdict}
<div id="bar"><button id="zin">zoom in</button> <button id="zout">zoom out</button>
<button id="fit">whole file</button> <span id="zoom">100 %</span> — wheel to zoom, hover a cell for its page</div>
<div id="view"><div id="zoomed">{svg}</div></div>
<div id="tip"></div>
{places_html}
<script id="map-data" type="application/json">{data}</script>
<script>
(function () {{
  const D = JSON.parse(document.getElementById('map-data').textContent);
  const view = document.getElementById('view'), svg = view.querySelector('svg'), tip = document.getElementById('tip');
  const W = +svg.getAttribute('width'), H = +svg.getAttribute('height');
  let scale = Math.min(1, (view.clientWidth - 4) / W);
  function apply() {{
    svg.setAttribute('width', W * scale); svg.setAttribute('height', H * scale);
    document.getElementById('zoom').textContent = Math.round(scale * 100) + ' %';
  }}
  function zoomAt(f, cx, cy) {{
    const r = view.getBoundingClientRect();
    const px = (view.scrollLeft + cx - r.left) / scale, py = (view.scrollTop + cy - r.top) / scale;
    scale = Math.max(0.05, Math.min(64, scale * f)); apply();
    view.scrollLeft = px * scale - (cx - r.left); view.scrollTop = py * scale - (cy - r.top);
  }}
  const mid = () => {{ const r = view.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }};
  document.getElementById('zin').onclick = () => zoomAt(2, ...mid());
  document.getElementById('zout').onclick = () => zoomAt(0.5, ...mid());
  document.getElementById('fit').onclick = () => {{ scale = Math.min(1, (view.clientWidth - 4) / W); apply(); }};
  view.addEventListener('wheel', e => {{ e.preventDefault(); zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX, e.clientY); }}, {{ passive: false }});
  function bucketOf(p) {{
    let lo = 0, hi = D.bucket_runs.length - 1;
    while (lo <= hi) {{
      const m = (lo + hi) >> 1, r = D.bucket_runs[m];
      if (p < r[0]) hi = m - 1; else if (p >= r[0] + r[1]) lo = m + 1;
      else return r[2] < D.buckets.length ? D.buckets[r[2]] : null;
    }}
    return null;
  }}
  function cellAt(e) {{
    const pt = svg.createSVGPoint(); pt.x = e.clientX; pt.y = e.clientY;
    const q = pt.matrixTransform(svg.getScreenCTM().inverse());
    const col = Math.floor((q.x - D.gx) / D.cell), row = Math.floor((q.y - D.gy) / D.cell);
    if (col < 0 || col >= D.cols || row < 0) return -1;
    const i = row * D.cols + col;
    return i < D.cells.length ? i : -1;
  }}
  svg.addEventListener('mousemove', e => {{
    const i = cellAt(e);
    if (i < 0) {{ tip.style.display = 'none'; return; }}
    const st = D.states[D.cells.charCodeAt(i) - 97] || ['?', ''];
    const first = i * D.per, last = Math.min(D.total, first + D.per) - 1;
    let t = (first === last ? 'page ' + first : 'pages ' + first + '-' + last + ' (worst shown)') + '\n' + st[0] + ': ' + st[1];
    if (D.per === 1) {{
      const b = bucketOf(first); if (b !== null) t += '\nbucket: ' + (b === '' ? '(root)' : b);
      const k = D.keys[first];
      if (k) t += '\nkeys: ' + k[2] + ', ' + k[0] + ' .. ' + k[1];
    }}
    tip.textContent = t; tip.style.display = 'block';
    tip.style.left = (e.clientX + 14) + 'px'; tip.style.top = (e.clientY + 14) + 'px';
  }});
  svg.addEventListener('mouseleave', () => {{ tip.style.display = 'none'; }});
  function show(p) {{
    const c = Math.floor(p / D.per), col = c % D.cols, row = Math.floor(c / D.cols);
    let m = document.getElementById('marker');
    if (!m) {{
      m = document.createElementNS('http://www.w3.org/2000/svg', 'rect'); m.id = 'marker';
      m.setAttribute('fill', 'none'); m.setAttribute('stroke', '#000'); svg.appendChild(m);
    }}
    const pad = D.cell * 2;
    m.setAttribute('x', D.gx + col * D.cell - pad); m.setAttribute('y', D.gy + row * D.cell - pad);
    m.setAttribute('width', D.cell + 2 * pad); m.setAttribute('height', D.cell + 2 * pad);
    m.setAttribute('stroke-width', Math.max(1, D.cell / 3));
    scale = Math.max(scale, 28 / D.cell); apply();
    view.scrollLeft = (D.gx + col * D.cell) * scale - view.clientWidth / 2;
    view.scrollTop = (D.gy + row * D.cell) * scale - view.clientHeight / 2;
    view.scrollIntoView({{ block: 'nearest' }});
  }}
  document.querySelectorAll('a[data-place]').forEach(a => a.addEventListener('click', e => {{
    e.preventDefault(); const p = D.places[+a.dataset.place]; if (p) show(p.page);
  }}));
  apply();
}})();
</script>
</body></html>
"#,
        title = esc(&m.file),
        svg = svg(m, false),
        data = script_safe(&data),
    )
}
