// Runs the inline script of a `bolt map --html` page under node with a
// minimal stand-in for the browser's DOM, then hovers one cell and follows
// one damaged-place link, printing what a user would see as JSON:
//   node testdata/map_dom.js PAGE.html CELL_X CELL_Y
// (CELL_X, CELL_Y: a point in the SVG's own coordinates; the stand-in maps
// screen to SVG coordinates one to one). Used by tests/page_map.rs.
const fs = require('fs');
const [html, x, y] = [fs.readFileSync(process.argv[2], 'utf8'), +process.argv[3], +process.argv[4]];
const data = html.match(/<script id="map-data" type="application\/json">([\s\S]*?)<\/script>/)[1];
const code = html.match(/<script>\n([\s\S]*?)<\/script>/)[1];
const svgTag = html.match(/<svg [^>]*>/)[0];
const attr = n => +svgTag.match(new RegExp(' ' + n + '="([0-9.]+)"'))[1];
function el(extra) {
  const e = { style: {}, textContent: '', attrs: {}, handlers: {}, children: [], scrollLeft: 0, scrollTop: 0,
    setAttribute(k, v) { this.attrs[k] = String(v); }, getAttribute(k) { return this.attrs[k]; },
    addEventListener(k, f) { this.handlers[k] = f; }, appendChild(c) { this.children.push(c); },
    scrollIntoView() {}, getBoundingClientRect() { return { left: 0, top: 0, width: 800, height: 600 }; } };
  return Object.assign(e, extra || {});
}
const svg = el({
  createSVGPoint() { return { x: 0, y: 0, matrixTransform() { return { x: this.x, y: this.y }; } }; },
  getScreenCTM() { return { inverse() { return {}; } }; },
});
svg.attrs.width = String(attr('width')); svg.attrs.height = String(attr('height'));
const view = el({ clientWidth: 800, clientHeight: 600, querySelector() { return svg; } });
const ids = { 'map-data': el({ textContent: data }), view, tip: el(), zoom: el(), zin: el(), zout: el(), fit: el() };
const links = [...html.matchAll(/data-place="(\d+)"/g)].map(m => el({ dataset: { place: m[1] } }));
const made = [];
global.document = {
  getElementById(id) { return ids[id] || made.find(m => m.id === id) || null; },
  querySelectorAll() { return links; },
  createElementNS() { const m = el(); made.push(m); return m; },
};
new Function(code)();
svg.handlers.mousemove({ clientX: x, clientY: y });
const hover = ids.tip.textContent;
let marker = null;
if (links.length) {
  links[0].handlers.click({ preventDefault() {} });
  const m = made.find(m => m.id === 'marker');
  marker = m ? m.attrs : null;
}
console.log(JSON.stringify({ hover, zoom: ids.zoom.textContent, width: svg.attrs.width, marker }));
