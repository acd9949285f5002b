//! The SVG page map (filled in below).
