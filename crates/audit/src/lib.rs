#![forbid(unsafe_code)]
//! moat-audit: isolation probes run inside containers, and their scoring.
