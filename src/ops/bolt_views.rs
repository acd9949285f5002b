//! Low-level views in the spirit of the `bbolt` CLI (filled in below).
